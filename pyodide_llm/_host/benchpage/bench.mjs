// The page of `python -m pyodide_llm bench-page` (pyodide_llm/_host/benchpage.py): the
// CPU engine, then the WebGPU engine with every layer offloaded, on one model, here.
//
// It drives the engine worker through the package's JS client (js/client.mjs:
// EngineClient.start, then the requests of protocol.json), as the Python API and
// bench/pages/js.html do, with the files bench-page copied next to it. bench.json,
// written by bench-page, names the two variants and what each needs, and the model
// shipped with the page, if any. The model is downloaded once (or read from the
// chosen file) and both engines load the same Blob, so their load times compare.
//
// Query parameters fill the form (model, n_ctx, prompt_tokens, max_tokens, threads);
// run=1 starts at once (a link to a configured run; the browser test).
// <body data-state> is loading | ready | running | done | failed.
import { detect, EngineClient } from "./pyodide_llm/js/client.mjs";

const PKG = new URL("./pyodide_llm/", import.meta.url);
const GREEDY = { temperature: 0, ignore_eos: true };
const WARMUP_TOKENS = 4;
const CLOSE_MS = 5000; // how long a close may take before the worker is ended anyway
// The prompt: this text repeated, cut to the asked number of tokens by the model's own tokenizer.
const TEXT =
  "The history of the old harbour town is long. Fishermen built the first houses near the water, " +
  "traders followed with salt and grain, and a small market grew around the church. In the winter " +
  "storms the boats stayed in the bay while the families mended nets and told stories about the sea. " +
  "Later a railway reached the town, bringing visitors from the capital who came for the beaches, " +
  "the fresh fish and the light of the long summer evenings.";

const COLUMNS = [
  ["engine", "engine"], ["variant", "variant"], ["status", "status"], ["start_ms", "start ms"],
  ["load_ms", "load ms"], ["prefill_tok_s", "prefill tok/s"], ["decode_tok_s", "decode tok/s"],
  ["n_prompt", "prompt tokens"], ["n_generated", "generated"], ["backend", "backend"],
  ["n_gpu_layers", "layers on GPU"], ["gpu_model_bytes", "weights on GPU MiB"], ["adapter", "adapter"],
];

/** The URLs EngineClient.start hands the worker: the shim and one variant's engine. */
export function engineFiles(variant) {
  const at = (p) => new URL(p, PKG).href;
  return {
    worker: at("js/worker.mjs"), binding: at("js/binding.mjs"), store: at("js/store.mjs"),
    download: at("js/download.mjs"), engine: at(`_wasm/${variant}/plm-engine.mjs`),
    wasm: at(`_wasm/${variant}/plm-engine.wasm`),
  };
}

/** Why `engine` (a bench.json record, or null when not shipped) cannot run here, or "". */
export function unusable(engine, caps, gpu) {
  if (!engine) return "this pyodide_llm package does not ship the engine";
  if (gpu && !caps.webgpu.available) return caps.webgpu.reason;
  const missing = engine.requires.filter((f) => !caps[f]);
  if (missing.includes("threads")) {
    return "the page is not cross-origin isolated (no threads): serve it with `python -m pyodide_llm serve DIR`, " +
      "or send COOP/COEP (the _headers, vercel.json and .htaccess files next to it)";
  }
  return missing.length ? `this browser lacks WebAssembly ${missing.join(" and ")}` : "";
}

/** A reply, or an Error carrying the reply's code. */
async function ask(client, type, payload, onEvent = null) {
  const r = await client.request(type, payload, onEvent).promise;
  if (!r.ok) throw Object.assign(new Error(`${type}: ${r.message}`), { code: r.code });
  return r;
}

/** About `n` tokens of this model's tokenizer: TEXT repeated, cut, turned back into text. */
async function promptOf(client, n) {
  const text = Array.from({ length: Math.ceil(n / 40) + 1 }, () => TEXT).join(" ");
  const { tokens } = await ask(client, "tokenize", { text, add_special: false });
  return (await ask(client, "detokenize", { tokens: tokens.slice(0, n) })).text;
}

/** Ask the worker to free the model, and end it (after CLOSE_MS at the latest). */
async function closeClient(client) {
  let timer;
  const late = new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_MS)));
  await Promise.race([client.request("close", { keep_engine: false }).promise, late]);
  clearTimeout(timer);
  client.terminate();
}

/** One engine: start, load the model, warm up, measure, close. Returns its record. */
async function runEngine(variant, nGpuLayers, s, blob, protocol, onStatus) {
  const t0 = performance.now();
  const started = await EngineClient.start(engineFiles(variant), protocol, variant, s.threads);
  if (!started.ok) throw Object.assign(new Error(`start: ${started.message}`), { code: started.code });
  const client = started.client;
  try {
    const t1 = performance.now();
    onStatus("loading the model");
    const loaded = await ask(client, "load", { blob, n_ctx: s.n_ctx, n_threads: s.threads, n_batch: 512,
      n_gpu_layers: nGpuLayers }, (name, d) => {
      if (name === "progress" && d.total) onStatus(`loading the model (${d.stage} ${Math.round((100 * d.loaded) / d.total)}%)`);
    });
    const t2 = performance.now();
    const prompt = await promptOf(client, s.prompt_tokens);
    onStatus("warming up");
    await ask(client, "generate", { prompt: "Warm-up. " + prompt.slice(0, 200), max_tokens: WARMUP_TOKENS,
      sampling: GREEDY });
    onStatus(`prefill of ${s.prompt_tokens} tokens, then ${s.max_tokens} tokens`);
    const { stats } = await ask(client, "generate", { prompt, max_tokens: s.max_tokens, sampling: GREEDY });
    const i = loaded.info;
    const prefilled = stats.n_prompt - stats.n_cached;
    return {
      status: "done", start_ms: t1 - t0, load_ms: t2 - t1, engine_load_ms: loaded.load_ms,
      prefill_tok_s: (prefilled * 1000) / stats.prefill_ms, decode_tok_s: (stats.n_generated * 1000) / stats.decode_ms,
      n_prompt: prefilled, n_generated: stats.n_generated, prefill_ms: stats.prefill_ms, decode_ms: stats.decode_ms,
      backend: i.backend, n_gpu_layers: i.n_gpu_layers, n_layer: i.n_layer, gpu_device: i.gpu_device,
      gpu_model_bytes: i.gpu_model_bytes, gpu_kv_bytes: i.gpu_kv_bytes,
      model: { name: i.name, architecture: i.architecture, quantization: i.quantization, n_params: i.n_params,
        file_size: i.file_size },
    };
  } finally {
    await closeClient(client);
  }
}

/** What a WebGPU run really did, in words, when it is not "every layer on the GPU". */
function offloadNote(r) {
  if (r.backend !== "webgpu") return "ran on the CPU: llama.cpp offloaded no layer";
  if (r.n_gpu_layers < r.n_layer + 1) return `partial offload: ${r.n_gpu_layers} of ${r.n_layer + 1} layers`;
  return "";
}

function adapterName(webgpu) {
  const a = webgpu.adapter;
  if (!a) return "";
  const name = a.description || [a.vendor, a.architecture].filter(Boolean).join(" ") || "unnamed adapter";
  return name + (a.is_fallback ? " (software fallback adapter)" : "");
}

function cell(key, value) {
  if (value === null || value === undefined || value === "") return "";
  if (key.endsWith("_tok_s")) return value.toFixed(2);
  if (key.endsWith("_ms")) return value.toFixed(0);
  if (key === "gpu_model_bytes") return (value / 2 ** 20).toFixed(1);
  return String(value);
}

/** The page's elements: the form, the capabilities, the results table, and the JSON to copy. */
class View {
  constructor(doc) {
    this.doc = doc;
    this.$ = (id) => doc.getElementById(id);
  }

  table(rows) {
    const head = this.$("results-head");
    head.replaceChildren(...COLUMNS.map(([, title]) => Object.assign(this.doc.createElement("th"), { textContent: title })));
    this.$("results-body").replaceChildren(...rows.map((key) => {
      const tr = Object.assign(this.doc.createElement("tr"), { id: `row-${key}` });
      for (const [col] of COLUMNS) {
        const td = Object.assign(this.doc.createElement("td"), { id: `${key}-${col}` });
        if (/(_ms|_tok_s|^n_|_bytes)/.test(col)) td.className = "num";
        tr.append(td);
      }
      return tr;
    }));
  }

  row(key, r) {
    for (const [col] of COLUMNS) {
      const text = col === "status" && r.reason ? `${r.status}: ${r.reason}` : cell(col, r[col]);
      this.$(`${key}-${col}`).textContent = text;
    }
    this.$(`${key}-status`).className = r.status === "done" ? "good" : r.status === "running" ? "" : "bad";
  }

  status(text) {
    this.$("status").textContent = text;
  }

  state(name) {
    this.doc.body.dataset.state = name;
  }

  showRecord(record) {
    this.$("results-json").value = JSON.stringify(record, null, 2);
    this.$("copy").disabled = false;
  }

  /** The form's settings, checked; the model as {url} or {file}. */
  settings() {
    const num = (id) => Number(this.$(id).value);
    const file = this.$("model-file").files[0] || null;
    const url = this.$("model-url").value.trim();
    const s = { n_ctx: num("n-ctx"), prompt_tokens: num("prompt-tokens"), max_tokens: num("max-tokens"),
      threads: num("threads"), url: file ? null : url, file };
    if (!file && !url) throw new Error("choose a model: a URL or a local .gguf file");
    for (const k of ["n_ctx", "prompt_tokens", "max_tokens", "threads"]) {
      if (!Number.isInteger(s[k]) || s[k] < 1) throw new Error(`${k} must be a whole number >= 1`);
    }
    if (s.prompt_tokens + s.max_tokens + 8 > s.n_ctx) {
      throw new Error(`prompt tokens + tokens to generate (${s.prompt_tokens + s.max_tokens}) must stay below ` +
        `n_ctx (${s.n_ctx}) with a few tokens to spare`);
    }
    return s;
  }

  /** Fill the form from the query string, bench.json's model and the machine. */
  fill(query, config, caps) {
    this.$("model-url").value = query.get("model") ?? config.model ?? "";
    this.$("threads").value = Math.min(caps.hardware_concurrency, config.max_auto_threads);
    for (const [param, id] of [["n_ctx", "n-ctx"], ["prompt_tokens", "prompt-tokens"], ["max_tokens", "max-tokens"],
      ["threads", "threads"]]) {
      if (query.has(param)) this.$(id).value = query.get(param);
    }
  }

  capabilities(caps) {
    this.$("capabilities").textContent = JSON.stringify(caps, null, 2);
    const w = caps.webgpu;
    const summary = this.$("webgpu-summary");
    summary.textContent = w.available
      ? `WebGPU is usable: ${adapterName(w)}, shader-f16 ${w.shader_f16}, maxBufferSize ${w.max_buffer_size}, ` +
        `maxStorageBufferBindingSize ${w.max_storage_buffer_binding_size}.`
      : `WebGPU is not usable here, so only the CPU runs: ${w.reason}.`;
    summary.className = w.available ? "good" : "bad";
  }
}

/** The model as one Blob: the chosen file, or the URL downloaded once. */
async function modelBlob(s, view) {
  if (s.file) return { blob: s.file, source: { file: s.file.name, bytes: s.file.size }, download_ms: null };
  const url = new URL(s.url, location.href).href;
  view.status(`downloading ${url}`);
  const t0 = performance.now();
  const r = await fetch(url);
  if (!r.ok) throw new Error(`downloading ${url}: HTTP ${r.status}`);
  const blob = await r.blob();
  return { blob, source: { url, bytes: blob.size }, download_ms: performance.now() - t0 };
}

async function runAll(view, config, caps, protocol) {
  const s = view.settings();
  const model = await modelBlob(s, view);
  const record = {
    tool: "pyodide_llm bench-page", version: config.version, date: new Date().toISOString(),
    user_agent: navigator.userAgent, model: model.source, download_ms: model.download_ms,
    settings: { n_ctx: s.n_ctx, prompt_tokens: s.prompt_tokens, max_tokens: s.max_tokens, threads: s.threads,
      n_batch: 512, warmup_tokens: WARMUP_TOKENS },
    capabilities: caps, runs: [],
  };
  const plan = [
    { key: "cpu", engine: "CPU", spec: config.cpu, nGpuLayers: 0, gpu: false },
    { key: "gpu", engine: "WebGPU", spec: config.gpu, nGpuLayers: -1, gpu: true },
  ];
  for (const p of plan) {
    const base = { engine: p.engine, variant: p.spec ? p.spec.variant : "", n_gpu_layers_requested: p.nGpuLayers,
      adapter: p.gpu ? adapterName(caps.webgpu) : "" };
    const why = unusable(p.spec, caps, p.gpu);
    let r;
    if (why) {
      r = { ...base, status: "skipped", reason: why };
    } else {
      view.row(p.key, { ...base, status: "running" });
      try {
        r = { ...base, ...(await runEngine(p.spec.variant, p.nGpuLayers, s, model.blob, protocol,
          (text) => view.status(`${p.engine}: ${text}`))) };
        if (p.gpu && offloadNote(r)) r.reason = offloadNote(r);
      } catch (e) {
        r = { ...base, status: "failed", reason: `${e.code ? e.code + ": " : ""}${e.message}` };
      }
    }
    record.runs.push(r);
    view.row(p.key, r);
    view.showRecord(record);
  }
  return record;
}

/** Copy `text`; the textarea is the fallback where the clipboard API is missing or refused. */
async function copy(view, text) {
  try {
    await navigator.clipboard.writeText(text);
    return "copied";
  } catch {
    const area = view.$("results-json");
    area.focus();
    area.select();
    let ok = false;
    try {
      ok = view.doc.execCommand("copy");
    } catch {
      ok = false;
    }
    return ok ? "copied" : "the clipboard is not available: the text below is selected, copy it by hand";
  }
}

/** Start the page: read bench.json, detect, fill the form, wire the buttons; run=1 runs at once. */
export async function main(doc) {
  const view = new View(doc);
  try {
    await setUp(view);
  } catch (e) {
    view.status(`the page could not start: ${e.message}`);
    view.state("failed");
  }
}

async function setUp(view) {
  const [config, protocol] = await Promise.all([
    fetch(new URL("./bench.json", import.meta.url)).then((r) => r.json()),
    fetch(new URL("protocol.json", PKG)).then((r) => r.json()),
  ]);
  view.$("version").textContent = config.version;
  view.$("about-cpu").textContent = config.cpu.variant;
  view.$("about-gpu").textContent = config.gpu ? config.gpu.variant : "not shipped";
  view.table(["cpu", "gpu"]);
  const caps = await detect({ gpuShipped: config.gpu !== null });
  view.capabilities(caps);
  const query = new URLSearchParams(location.search);
  view.fill(query, config, caps);
  const button = view.$("run");
  const start = async () => {
    button.disabled = true;
    view.state("running");
    try {
      await runAll(view, config, caps, protocol);
      view.status("done; copy the results below to share them");
      view.state("done");
    } catch (e) {
      view.status(`failed: ${e.message}`);
      view.state("failed");
    } finally {
      button.disabled = false;
    }
  };
  view.$("settings").addEventListener("submit", (e) => {
    e.preventDefault();
    start();
  });
  view.$("copy").addEventListener("click", async () => {
    view.$("copy-status").textContent = await copy(view, view.$("results-json").value);
  });
  button.disabled = false;
  view.status("ready: choose a model and press Run");
  view.state("ready");
  if (query.get("run") === "1") await start();
}
