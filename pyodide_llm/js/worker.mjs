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

// What the page's Content-Security-Policy refused in this worker (it reports it here,
// not to the page): an import or fetch that failed is explained by it.
const violations = [];
if (typeof self !== "undefined" && self.addEventListener) {
  self.addEventListener("securitypolicyviolation", (e) => violations.push(e));
}

function cspBlocked() {
  const e = violations[0];
  if (!e) return null;
  const scheme = String(e.blockedURI || "").split(":")[0];
  return `${e.effectiveDirective || e.violatedDirective} does not allow ${scheme ? scheme + ": URLs" : "it"}`;
}

async function hello(id, p) {
  if (p.version !== PROTOCOL_VERSION) {
    return fail(id, "protocol_mismatch", `this engine worker speaks protocol ${PROTOCOL_VERSION}, the client ` +
      `${p.version}: the package's files are from different versions; reinstall pyodide_llm and reload the page`);
  }
  if (engine) return fail(id, "bad_request", "hello was already sent to this worker");
  let createEngine;
  let factory;
  let wasmBinary;
  try {
    ({ createEngine } = await import(p.binding_url));
    modules.store = await import(p.store_url);
    modules.download = await import(p.download_url);
    ({ default: factory } = await import(p.engine_url));
    wasmBinary = await (await fetch(p.wasm_url)).arrayBuffer();
  } catch (e) {
    await yieldToEventLoop(); // the violation is reported in a task of its own, after the failure
    const blocked = cspBlocked();
    if (!blocked) throw e;
    return fail(id, "blocked_by_csp", `the page's Content-Security-Policy blocks the engine's files (${blocked}): ` +
      "serve the package's files from the site and load pyodide_llm/js/assets.mjs in the page " +
      "(`python -m pyodide_llm bundle` does both; README, 'Strict pages'), or allow what it names");
  }
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
    abort_flag: shared ? engine.abortFlag : null, crash_flag: shared ? engine.crashFlag : null });
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

/** A trap's cause: llama.cpp's abort message when it aborted, else the error's own. */
function why(err) {
  const said = engine && engine.crashMessage();
  return said ? `llama.cpp aborted: ${said}` : String(err && err.message);
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
    }, modules.store.readEntry, p.cache === "revalidate", p.timeout ?? modules.download.DEFAULT_TIMEOUT_S,
    modules.store.withEntryLock);
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
    // tokens: a chat's prompt, tokenized by chat_format with message text kept as text.
    const prompt = Array.isArray(p.tokens) ? { tokens: p.tokens } : { prompt: p.prompt };
    await engine.action("generate_start", { ...prompt, sampling: p.sampling || {}, seq: p.seq ?? 0,
      ...(p.syntax ? { syntax: p.syntax } : {}) });
    if (p.save_prefix) { // the prompt's keys/values, for the client's prompt cache (before any token)
      const r = await engine.action("seq_save", { seq: p.seq ?? 0 });
      const state = engine.heapU8.slice(r.ptr, r.ptr + r.size);
      engine.freeBytes({ ptr: r.ptr });
      event(id, "state", { state: state.buffer, tokens: r.tokens }, [state.buffer]);
    }
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

/** A shared prefix shorter than this is cheaper to evaluate again than to keep cached. */
const MIN_SHARED_PREFIX = 16;

/**
 * Tokens of a finished row worth keeping in the cache: the longest prefix it shares with
 * a row about to start (a common system prompt), if that is long enough to pay; else none.
 * Why not keep everything: a finished row's cells stay inside the cache's span, and every
 * later step's attention walks the whole span (16 finished rows of ~60 tokens made each
 * later row ~15-30 % slower on SmolLM2), while the next rows reuse only the shared prefix.
 */
function keepForNext(row, upcoming) {
  let keep = 0;
  for (const r of upcoming) {
    let k = 0;
    while (k < row.tokens.length && k < r.tokens.length && row.tokens[k] === r.tokens[k]) k += 1;
    keep = Math.max(keep, k);
  }
  return keep >= MIN_SHARED_PREFIX ? keep : 0;
}

/** Finish a batched row: free its sequence's sampler, trim its cache, send its text's bytes. */
async function endRow(id, row, reason, keep) {
  await engine.action("batch_end", { seq: row.seq, keep });
  const bytes = new Uint8Array(row.size);
  let at = 0;
  for (const c of row.chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  event(id, "row", { index: row.index, bytes, finish_reason: reason, n_prompt: row.n_prompt,
    n_cached: row.n_cached, n_generated: row.n }, [bytes.buffer]);
}

/**
 * One generated token of a batched row (batch_start's or batch_step's reply). Returns the
 * reason the row ends, or null while it goes on. Stop strings end a row here so that it
 * stops decoding; the client cuts the text at them (as it does for a single generation).
 */
function rowToken(row, s, p) {
  if (s.eog) return "stop";
  const chunk = new Uint8Array(s.bytes);
  row.chunks.push(chunk);
  row.size += chunk.length;
  row.n += 1;
  if (p.stops && p.stops.length) {
    row.text += row.decoder.decode(chunk, { stream: true });
    if (p.stops.some((x) => row.text.includes(x))) return "stop";
  }
  if (row.n >= p.max_tokens) return "length";
  if (s.context_full) return "context_full";
  return null;
}

/**
 * Generate many prompts together: up to `concurrency` rows decode in one llama_decode
 * (a sequence id each), a "row" event as each finishes. A row is admitted while the rows
 * running and it can all reach max_tokens in the context; the first row that has to wait
 * for room says so in a "notice".
 */
async function generateBatch(id, p) {
  if (generating !== null) return fail(id, "busy", "a generation is already running in this engine");
  const items = p.items;
  // An item is a prompt string, or a chat's tokens as chat_format gave them.
  const usable = (x) => (typeof x === "string" && x) || (Array.isArray(x) && x.length && x.every(Number.isInteger));
  if (!Array.isArray(items) || !items.length || !items.every(usable)) {
    return fail(id, "bad_request", "items must be a non-empty list of non-empty prompt strings or token lists");
  }
  if (!Number.isInteger(p.max_tokens) || p.max_tokens < 1) {
    return fail(id, "bad_request", `max_tokens must be an integer >= 1, got ${p.max_tokens}`);
  }
  const concurrency = p.concurrency ?? 8;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 16) {
    return fail(id, "bad_request", `concurrency must be an integer from 1 to 16, got ${concurrency}`);
  }
  generating = id;
  const started = performance.now();
  const active = new Map(); // seq -> row
  const stats = { rows: 0, n_prompt: 0, n_cached: 0, n_generated: 0 };
  let peak = 0;
  let limited = false;
  try {
    const nCtx = (await engine.action("info")).info.n_ctx;
    const rows = [];
    for (let i = 0; i < items.length; i++) { // every row is read first: one that can never fit fails the call now
      const { tokens } = Array.isArray(items[i]) ? { tokens: items[i] }
        : await engine.action("tokenize", { text: items[i], add_special: true, parse_special: true });
      if (tokens.length >= nCtx) {
        return fail(id, "context_overflow", `row ${i} has ${tokens.length} tokens but the context holds ${nCtx}; ` +
          "shorten it or load the model with a larger n_ctx");
      }
      rows.push({ index: i, tokens, need: Math.min(nCtx, tokens.length + p.max_tokens) });
    }
    let next = 0; // the first row not started yet
    const finish = async (row, reason) => {
      active.delete(row.seq);
      await endRow(id, row, reason, keepForNext(row, rows.slice(next, next + concurrency)));
      stats.rows += 1;
      stats.n_generated += row.n;
    };
    while (next < rows.length || active.size) {
      if (cancelled.has(id)) throw Object.assign(new Error("batched generation cancelled"), { code: "aborted" });
      let used = 0;
      for (const r of active.values()) used += r.need;
      while (next < rows.length && active.size < concurrency) {
        const r = rows[next];
        if (active.size && used + r.need > nCtx) {
          if (!limited) {
            limited = true;
            event(id, "notice", { message: `the context of ${nCtx} tokens holds only ${active.size} of these rows ` +
              `at once (prompt + max_tokens each), not concurrency=${concurrency}; load with a larger n_ctx ` +
              "or lower max_tokens to run more together" });
          }
          break;
        }
        next += 1;
        const s = await engine.action("batch_start", { tokens: r.tokens, sampling: p.sampling || {} });
        const row = { ...r, seq: s.seq, chunks: [], size: 0, n: 0, text: "", decoder: new TextDecoder(),
          n_prompt: s.n_prompt, n_cached: s.n_cached, need: r.need };
        stats.n_prompt += s.n_prompt;
        stats.n_cached += s.n_cached;
        active.set(s.seq, row);
        used += r.need;
        const end = rowToken(row, s, p);
        if (end) await finish(row, end);
        await yieldToEventLoop(); // a cancel is seen between prefills too
        if (cancelled.has(id)) break;
      }
      peak = Math.max(peak, active.size);
      if (!active.size || cancelled.has(id)) continue;
      const { rows: steps } = await engine.action("batch_step", { seqs: [...active.keys()] });
      for (const s of steps) {
        const row = active.get(s.seq);
        const end = rowToken(row, s, p);
        if (end) await finish(row, end);
      }
      await yieldToEventLoop();
    }
    reply(id, { ok: true, stats: { ...stats, elapsed_ms: performance.now() - started }, peak, limited });
  } catch (err) {
    if (err && err.code === "aborted") {
      return reply(id, { ok: false, code: "aborted", message: err.message,
        stats: { ...stats, elapsed_ms: performance.now() - started } });
    }
    throw err;
  } finally {
    if (active.size) await engine.action("batch_end", { all: true });
    generating = null;
    cancelled.delete(id);
    engine.setAbort(false);
  }
}

/** A sequence's llama.cpp state, copied out of linear memory (it can be megabytes: never JSON). */
async function seqSave(id, p) {
  if (generating !== null) return fail(id, "busy", "a generation is running in this engine");
  const r = await engine.action("seq_save", { seq: p.seq });
  const state = engine.heapU8.slice(r.ptr, r.ptr + r.size);
  engine.freeBytes({ ptr: r.ptr });
  reply(id, { ok: true, state: state.buffer, tokens: r.tokens });
}

async function seqRestore(id, p) {
  if (generating !== null) return fail(id, "busy", "a generation is running in this engine");
  const bytes = new Uint8Array(p.state);
  if (!bytes.length) return fail(id, "bad_state", "the saved state is empty");
  const at = engine.alloc(bytes.length);
  try {
    engine.heapU8.set(bytes, at);
    const r = await engine.action("seq_restore", { seq: p.seq, ptr: at, size: bytes.length, tokens: p.tokens });
    reply(id, { ok: true, n_tokens: r.n_tokens });
  } catch (err) {
    if (err && err.code === "bad_request") return fail(id, "bad_state", err.message);
    throw err;
  } finally {
    engine.freeBytes({ ptr: at });
  }
}

const handlers = {
  hello,
  load,
  generate,
  generate_batch: generateBatch,
  seq_save: seqSave,
  seq_restore: seqRestore,
  seq_drop: async (id, p) => {
    if (generating !== null) return fail(id, "busy", "a generation is running in this engine");
    return reply(id, await engine.action("seq_drop", { seq: p.seq }));
  },
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
      fail(id, "engine_crashed", `the engine crashed: ${why(err)}`);
    }
    port.postMessage({ id: 0, event: "crashed", data: { message: why(err) } });
    port.close();
  }
}

/** Answer the protocol on `target` (a worker's global scope, or a MessagePort). */
export function serve(target) {
  port = target;
  target.onmessage = onMessage;
}

if (typeof WorkerGlobalScope !== "undefined" && self instanceof WorkerGlobalScope) serve(self);
