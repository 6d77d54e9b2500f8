// Shared set-up of the node tests: where things are, and how to start a variant.
//
// Paths come from recipes/build.py (`nodetest` passes them as PLM_* variables),
// and the tests run in node 24 inside the pinned toolchain root.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

import { createEngine } from "../../pyodide_llm/js/binding.mjs";

export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the node tests through 'make test-node'`);
  return v;
}

/** The engine variants: the package's list (pyodide_llm/_variants.py), handed over by the recipe. */
export const VARIANTS = env("PLM_VARIANTS").split(",");

/** Threads a variant uses in the tests: never more engine threads than cores. */
export function threadsFor(variant) {
  return variant.endsWith("-st") ? 1 : Math.max(1, Math.min(2, os.availableParallelism()));
}

/**
 * Instantiate a variant and mount the host file system at /host, so that the
 * engine opens host files by path ("/host" + absolute path).
 */
export async function startVariant(variant, { threads = threadsFor(variant), gpu } = {}) {
  const dir = path.join(env("PLM_WASM_DIR"), variant);
  const file = path.join(dir, "plm-engine.mjs");
  if (!existsSync(file)) throw new Error(`${file} is missing: run 'make wasm'`);
  const { default: factory } = await import(pathToFileURL(file).href);
  // gpu: a GPU object (Dawn's node binding) for the WebGPU variant, which has no navigator.gpu here.
  const engine = await createEngine(factory, { poolSize: variant.endsWith("-st") ? 0 : threads, plmGpu: gpu });
  const FS = engine.module.FS;
  FS.mkdir("/host");
  FS.mount(FS.filesystems.NODEFS, { root: "/" }, "/host");
  engine.hostPath = (p) => "/host" + path.resolve(p);
  engine.threads = threads;
  return engine;
}

/** Run an action script through the native build of the same engine. */
export function runNative(lines) {
  const script = lines.map(([name, req]) => `${name} ${JSON.stringify(req)}`).join("\n") + "\n";
  const r = spawnSync(env("PLM_NATIVE"), [], { input: script, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`plm-native failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const replies = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  if (replies.length !== lines.length) throw new Error(`plm-native answered ${replies.length} of ${lines.length}`);
  return replies;
}

/** Same prompt everywhere: the model's own chat template applied to one user turn. */
export const CHAT = [{ role: "user", content: "What is the capital of France? Answer in two sentences." }];
export const N_GREEDY = 32;
