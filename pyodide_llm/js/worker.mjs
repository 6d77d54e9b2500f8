// The engine worker: one llama.cpp wasm instance, one model, driven by messages.
//
// Protocol (every message and field: ../protocol.json):
//   client -> worker  {id, type, payload}
//   worker -> client  {id, ok: true, ...reply}  |  {id, ok: false, code, message}
//                     {id, event, data}        (events of request id: token, progress, notice)
//                     {id: 0, event: "crashed", data: {message}}   (the engine is unusable)
// The first request is "hello" {version, variant, n_threads, binding_url, engine_url,
// wasm_url, store_url, download_url}: the worker refuses a client whose protocol
// version is not its own (PROTOCOL_VERSION, checked against protocol.json when the
// wheel is built) and instantiates the variant.
// Generation runs one decode step per action and yields to the event loop
// between steps, so "cancel" requests are seen within one token; during a
// prefill the client stores the abort flag directly (shared memory).
// This file has no static imports: it is started from a Blob URL. In a worker it
// serves its own global scope; tests call serve() with one end of a MessageChannel.

export const PROTOCOL_VERSION = 2;

let engine = null;
let engineModule = null;
const modules = {}; // store.mjs and download.mjs, imported from the Blob URLs "hello" names
const cancelled = new Set();
let generating = null; // id of the running generation
let port = null; // where replies go: the worker's global scope, or a MessagePort in tests

function reply(id, body) {
  port.postMessage({ id, ...body });
}

function fail(id, code, message) {
  port.postMessage({ id, ok: false, code, message });
}

function event(id, name, data, transfer) {
  port.postMessage({ id, event: name, data }, transfer || []);
}

// A macrotask boundary that is not clamped like setTimeout: pending messages
// (cancel, close) are delivered before it resolves.
function yieldToEventLoop() {
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      ch.port1.close();
      resolve();
    };
    ch.port2.postMessage(0);
  });
}

async function hello(id, p) {
  if (p.version !== PROTOCOL_VERSION) {
    return fail(id, "protocol_mismatch", `this engine worker speaks protocol ${PROTOCOL_VERSION}, the client ` +
      `${p.version}: the package's files are from different versions; reinstall pyodide_llm and reload the page`);
  }
  if (engine) return fail(id, "bad_request", "hello was already sent to this worker");
  const { createEngine } = await import(p.binding_url);
  modules.store = await import(p.store_url);
  modules.download = await import(p.download_url);
  const { default: factory } = await import(p.engine_url);
  const wasmBinary = await (await fetch(p.wasm_url)).arrayBuffer();
  engine = await createEngine(factory, {
    wasmBinary,
    mainScriptUrlOrBlob: p.engine_url, // pthread workers start from the same Blob URL
    locateFile: (f) => (f.endsWith(".wasm") ? p.wasm_url : f), // import.meta.url is a blob: URL
    // ggml runs n_threads - 1 pthreads beside the calling thread: exactly that many
    // workers. A spare that never runs is not harmless: Chromium 156 sometimes never
    // ends an engine worker whose idle pthread worker ended first (terminate() on
    // close(keep_engine=False), a JupyterLite kernel restart).
    poolSize: p.variant.endsWith("-st") ? 0 : Math.max(0, p.n_threads - 1),
    printErr: (line) => console.debug("[engine]", line),
  });
  engineModule = engine.module;
  engineModule.FS.mkdir("/models");
  const build = await engine.action("build_info");
  delete build.ok; // the record is build_info's fields, not the reply
  // The abort flag is only worth handing over in shared memory (threaded variants): a
  // single-thread module's memory is a plain ArrayBuffer, which postMessage would copy
  // whole, and a store into that copy would reach no one.
  const shared = typeof SharedArrayBuffer !== "undefined" && engine.abortFlag.buffer instanceof SharedArrayBuffer;
  reply(id, { ok: true, version: PROTOCOL_VERSION, variant: p.variant, build,
    abort_flag: shared ? engine.abortFlag : null });
}

let modelRegions = []; // the model files' bytes in linear memory: the mapped weights live here

async function releaseModel() {
  if (modelRegions.length) {
    await engine.idle(); // a WebGPU build may have an action suspended on the GPU
    await engine.action("unload");
    for (const r of modelRegions) engine.freeBytes(r);
    modelRegions = [];
  }
}

/** URLs the worker fetched since `since` (resource timing), to show what came from the network. */
function fetchedSince(since, urls) {
  return performance.getEntriesByType("resource")
    .filter((e) => e.startTime >= since && urls.has(e.name))
    .map((e) => ({ url: e.name, bytes: e.encodedBodySize }));
}

async function load(id, p) {
  await releaseModel();
  const started = performance.now();
  const progress = (loaded, total, stage) => event(id, "progress", { loaded, total, stage });
  const notices = [];
  let regions;
  let sources;
  if (p.bytes) {
    const bytes = new Uint8Array(p.bytes);
    const region = engine.allocRegion(bytes.length);
    engine.heapU8.set(bytes, region.ptr);
    regions = [region];
    sources = ["bytes"];
  } else if (p.blob) { // a File or Blob, e.g. from <input type=file>: read in chunks, never whole
    regions = await modules.download.readBlob(engine, p.blob, progress);
    sources = ["blob"];
  } else {
    const kind = p.cache === true || p.cache === "revalidate" ? "auto" : p.cache;
    const store = p.cache ? await modules.store.openStore(kind) : null;
    const fetcher = new modules.download.ModelFetcher(engine, store, progress, (message) => {
      notices.push(message);
      event(id, "notice", { message });
    }, modules.store.readEntry, p.cache === "revalidate");
    regions = await fetcher.fetchAll(p.parts);
    sources = fetcher.sources;
  }
  const FS = engineModule.FS;
  const paths = regions.map((_, i) => `/models/part-${i + 1}.gguf`);
  regions.forEach((r, i) => engine.exposeAsFile(paths[i], r));
  const size = regions.reduce((n, r) => n + r.size, 0);
  progress(0, size, "load");
  try {
    const r = await engine.action("load", {
      ...(paths.length > 1 ? { paths } : { path: paths[0] }),
      n_ctx: p.n_ctx, n_threads: p.n_threads, n_batch: p.n_batch, persistent_threads: p.persistent_threads,
      mmap: true, n_gpu_layers: p.n_gpu_layers ?? 0, offload_kqv: p.offload_kqv ?? true,
      ...(p.chat_template ? { chat_template: p.chat_template } : {}),
    });
    modelRegions = regions;
    progress(size, size, "load");
    const urls = new Set((p.parts || []).map((x) => x.url));
    reply(id, { ok: true, info: r.info, load_ms: r.load_ms, sources, notices,
      fetched: fetchedSince(started, urls), total_ms: performance.now() - started });
  } catch (e) {
    for (const r of regions) engine.freeBytes(r);
    throw e;
  } finally {
    for (const path of paths) FS.unlink(path); // the names only: the bytes stay where the weights were mapped
  }
}

async function generate(id, p) {
  if (generating !== null) return fail(id, "busy", "a generation is already running in this engine");
  if (!Number.isInteger(p.max_tokens) || p.max_tokens < 1) {
    return fail(id, "bad_request", `max_tokens must be an integer >= 1, got ${p.max_tokens}`);
  }
  generating = id;
  try {
    // The abort flag is not cleared here: a cancel sent right after this request has
    // already set it (the client stores it at once), and must stop the prefill too.
    await engine.action("generate_start", { prompt: p.prompt, sampling: p.sampling || {},
      ...(p.syntax ? { syntax: p.syntax } : {}) });
    let finish = "length";
    for (let n = 0; n < p.max_tokens; n++) {
      if (cancelled.has(id)) {
        await engine.action("generate_end");
        return reply(id, { ok: false, code: "aborted", message: "generation cancelled",
          stats: (await engine.action("timings")).timings });
      }
      // logprobs: -1 none, k >= 0 the token's logprob and its k best alternatives.
      const s = await engine.action("step", p.logprobs >= 0 ? { logprobs: p.logprobs } : {});
      if (s.eog) {
        finish = "stop";
        break;
      }
      const bytes = new Uint8Array(s.bytes);
      const data = { token: s.token, bytes };
      if (s.logprob !== undefined) Object.assign(data, { logprob: s.logprob, top_logprobs: s.top_logprobs });
      if (s.delta !== undefined) data.delta = s.delta; // a chat syntax was given: what the message gained
      event(id, "token", data, [bytes.buffer]);
      if (s.context_full) {
        finish = "context_full";
        break;
      }
      await yieldToEventLoop();
    }
    await engine.action("generate_end");
    const { timings } = await engine.action("timings");
    reply(id, { ok: true, stats: timings, finish_reason: finish });
  } catch (err) {
    // Cancelled through the shared abort flag in the middle of a decode step.
    if (err && err.code === "aborted") {
      return reply(id, { ok: false, code: "aborted", message: err.message,
        stats: (await engine.action("timings")).timings });
    }
    throw err;
  } finally {
    generating = null;
    cancelled.delete(id);
    engine.setAbort(false); // this generation's cancel, if any, is spent
  }
}

const handlers = {
  hello,
  load,
  generate,
  tokenize: async (id, p) => reply(id, await engine.action("tokenize", p)),
  score: async (id, p) => {
    if (generating !== null) return fail(id, "busy", "a generation is running in this engine");
    return reply(id, await engine.action("score", p));
  },
  detokenize: async (id, p) => reply(id, await engine.action("detokenize", p)),
  chat_format: async (id, p) => reply(id, await engine.action("chat_format", p)),
  chat_parse: async (id, p) => reply(id, await engine.action("chat_parse", p)),
  embed: async (id, p) => {
    if (generating !== null) return fail(id, "busy", "a generation is running in this engine");
    return reply(id, await engine.action("embed", p));
  },
  info: async (id) => reply(id, await engine.action("info")),
  cancel: (id, p) => {
    cancelled.add(p.target);
    // The client already stored the flag; a cancel of a generation that has ended (it
    // crossed the reply) must not stop the next one.
    if (generating === p.target) engine.setAbort(true);
    else engine.setAbort(false);
    reply(id, { ok: true });
  },
  close: async (id) => {
    // The model is freed here; the client then parks this worker for the next load of
    // its variant, or ends it, by the size of the linear memory it keeps (memory_bytes).
    // The worker never close()s itself: a self-close racing the client's terminate()
    // while pthread workers hang below it is a teardown path not worth the risk.
    try {
      if (engine) await releaseModel();
      cancelled.clear();
    } finally {
      reply(id, { ok: true, memory_bytes: engineModule ? engineModule.wasmMemory.buffer.byteLength : 0 });
    }
  },
};

async function onMessage(e) {
  const { id, type, payload } = e.data;
  const handler = handlers[type];
  if (!handler) return fail(id, "bad_request", `unknown request type ${type}`);
  if (type !== "hello" && !engine) return fail(id, "no_model", "the engine is not started; send hello first");
  try {
    await handler(id, payload || {});
  } catch (err) {
    if (err && err.code && typeof err.code === "string") return fail(id, err.code, err.message);
    // A wasm trap (RuntimeError) leaves the module unusable: say so, and stop. In a
    // WebGPU build the usual cause is a lost GPU device (ggml-webgpu aborts on it).
    const lost = engineModule && engineModule.plmGpuLost;
    if (lost) {
      fail(id, "gpu_device_lost", `the GPU device was lost (${lost.reason}: ${lost.message || "no message"}); ` +
        "the model is gone with it: load it again, with gpu=False to stay on the CPU");
    } else {
      fail(id, "engine_crashed", `the engine crashed: ${err && err.message}`);
    }
    port.postMessage({ id: 0, event: "crashed", data: { message: String(err && err.message) } });
    port.close();
  }
}

/** Answer the protocol on `target` (a worker's global scope, or a MessagePort). */
export function serve(target) {
  port = target;
  target.onmessage = onMessage;
}

if (typeof WorkerGlobalScope !== "undefined" && self instanceof WorkerGlobalScope) serve(self);
