// The WebGPU variant on the software GPU next to the CPU variant, in one node process
// (`make bench`, through bench/gpu.py): one JSON line per engine on stdout.
//
//   node26 bench/gpu_node.mjs --model M.gguf --threads 2 --tokens 32 [--n-ctx 1024]
//
// Run by the rig's node 26 (JSPI without flags) inside the toolchain root with the
// environment of `make test-gpu` (recipes/build.py gputest): PLM_DAWN (Dawn's node
// binding), PLM_DAWN_OPTIONS, VK_DRIVER_FILES (lavapipe only), PLM_MESA_VERSION.
// lavapipe is a CPU rasterizer: these timings show that the GPU path runs and what
// it costs on this machine, never how fast a GPU is.
//
// Each engine: instantiate, load the model the way the browser worker does (its bytes
// in linear memory, shown as a file, mmap), one short warm-up generation, then the
// measured one: bench/pages/common.mjs's prompt, then --tokens greedy tokens with EOS
// ignored. The CPU variant runs first, then the WebGPU one with every layer offloaded.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

import { createEngine } from "../pyodide_llm/js/binding.mjs";
import { detectPage, detectWebGPU } from "../pyodide_llm/js/client.mjs";
import { PROMPT } from "./pages/common.mjs";

const WASM_DIR = new URL("../pyodide_llm/_wasm/", import.meta.url);
const ENGINES = [
  { engine: "cpu-node", variant: "wasm64-mt", n_gpu_layers: 0 },
  { engine: "webgpu-sw", variant: "wasm64-webgpu", n_gpu_layers: -1 },
];
const WARMUP_TOKENS = 4;
const CHUNK = 16 << 20; // bytes read from the model file at a time

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this through bench/gpu.py (make bench)`);
  return v;
}

/** Dawn's GPU object on lavapipe (as tests/gpu/helpers.mjs makes it). */
async function softwareGpu() {
  const { create } = await import(pathToFileURL(env("PLM_DAWN")).href);
  return create(JSON.parse(env("PLM_DAWN_OPTIONS")));
}

/** Instantiate a variant; engine log lines are kept (the last ones are shown if it fails). */
async function start(variant, threads, gpu, logTail) {
  const url = new URL(`${variant}/plm-engine.mjs`, WASM_DIR);
  const { default: factory } = await import(url.href);
  const printErr = (line) => {
    logTail.push(line);
    if (logTail.length > 40) logTail.shift();
  };
  return createEngine(factory, { poolSize: threads, plmGpu: gpu ?? undefined, printErr });
}

/** Read the model into the engine's memory and load it from there, as the browser worker does; returns
 * the info record and the region (free it after unloading). */
async function load(engine, model, { threads, nCtx, nGpuLayers }) {
  const fd = openSync(model, "r");
  let region;
  try {
    const size = fstatSync(fd).size;
    region = engine.allocRegion(size);
    const chunk = Buffer.alloc(Math.min(CHUNK, size));
    for (let at = 0; at < size;) {
      const n = readSync(fd, chunk, 0, Math.min(chunk.length, size - at), at);
      if (n <= 0) throw new Error(`${model}: short read at byte ${at} of ${size}`);
      engine.heapU8.set(chunk.subarray(0, n), region.ptr + at);
      at += n;
    }
  } finally {
    closeSync(fd);
  }
  engine.module.FS.mkdir("/models");
  engine.exposeAsFile("/models/model.gguf", region);
  const r = await engine.action("load", {
    path: "/models/model.gguf", n_ctx: nCtx, n_threads: threads, n_batch: 512, mmap: true, n_gpu_layers: nGpuLayers,
  });
  return { info: r.info, region };
}

/** One greedy generation; the engine's own timings. */
async function generate(engine, prompt, n) {
  await engine.action("generate_start", { prompt, sampling: { temperature: 0, ignore_eos: true } });
  for (let i = 0; i < n; i++) await engine.action("step");
  await engine.action("generate_end");
  return (await engine.action("timings")).timings;
}

async function run(spec, args, gpu) {
  const logTail = [];
  try {
    const t0 = performance.now();
    const engine = await start(spec.variant, args.threads, spec.n_gpu_layers ? gpu : null, logTail);
    const t1 = performance.now();
    const { info, region } = await load(engine, args.model, { threads: args.threads, nCtx: args.nCtx,
      nGpuLayers: spec.n_gpu_layers });
    const t2 = performance.now();
    if (spec.n_gpu_layers && info.backend !== "webgpu") {
      throw new Error(`${spec.variant} loaded on the ${info.backend}, not the GPU: ${JSON.stringify(info)}`);
    }
    await generate(engine, "Run 0. " + PROMPT.slice(0, PROMPT.indexOf(".") + 1), WARMUP_TOKENS);
    const t = await generate(engine, "Run 1. " + PROMPT, args.tokens);
    // Unloading frees the engine's thread pool: no idle CPU engine competes with the next one.
    await engine.action("unload");
    engine.freeBytes(region);
    const prefilled = t.n_prompt - t.n_cached;
    return {
      engine: spec.engine, variant: spec.variant, backend: info.backend, n_gpu_layers: info.n_gpu_layers,
      n_layer: info.n_layer, gpu_device: info.gpu_device, gpu_model_bytes: info.gpu_model_bytes,
      threads: args.threads, start_ms: t1 - t0, load_ms: t2 - t1, n_prompt: prefilled, n_generated: t.n_generated,
      prefill_tok_s: (prefilled * 1000) / t.prefill_ms, decode_tok_s: (t.n_generated * 1000) / t.decode_ms,
      adapter: null,
    };
  } catch (e) {
    console.error(`${spec.variant} failed; its last log lines:\n${logTail.join("\n")}`);
    throw e;
  }
}

async function main() {
  const { values } = parseArgs({ options: {
    model: { type: "string" }, threads: { type: "string", default: "2" }, tokens: { type: "string", default: "32" },
    "n-ctx": { type: "string", default: "1024" },
  } });
  if (!values.model) throw new Error("--model PATH is required");
  const args = { model: values.model, threads: Number(values.threads), tokens: Number(values.tokens),
    nCtx: Number(values["n-ctx"]) };
  const gpu = await softwareGpu();
  // The adapter as detection describes it; the engine asks for the same default adapter.
  const detected = await detectWebGPU(detectPage(), { gpu });
  if (!detected.adapter) throw new Error(`no software adapter: ${detected.reason}`);
  const rig = { node: process.version, mesa: process.env.PLM_MESA_VERSION || "" };
  for (const spec of ENGINES) {
    const r = await run(spec, args, gpu);
    if (spec.n_gpu_layers) r.adapter = { ...detected.adapter, shader_f16: detected.shader_f16 };
    console.log(JSON.stringify({ ...r, rig }));
  }
}

try {
  await main();
  process.exit(0); // the engines' pthread workers would keep node alive
} catch (e) {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
}
