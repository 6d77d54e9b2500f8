// The engine client: starts the engine worker from Blob URLs and matches
// replies to requests (the protocol: ../protocol.json, handed to start() by the
// caller; worker.mjs implements it). Runs wherever Pyodide runs: the page's main
// thread, or a worker (JupyterLite's kernel).
//
// Every request gets an id and a promise that always resolves with a reply
// object ({ok: true, ...} or {ok: false, code, message}); a request the protocol
// table does not allow is answered here with bad_request and never sent; if the
// worker dies, every pending promise resolves with code "engine_crashed".

/** The reply of every request whose engine is gone (closed, terminated or dead). */
export function crashed(message) {
  return { ok: false, code: "engine_crashed", message };
}

const badRequest = (message) => ({ ok: false, code: "bad_request", message });

// What the page's Content-Security-Policy refused here (starting a worker is the page's
// act, reported to the page; what a worker imports is reported in the worker).
const violations = [];
if (typeof globalThis.addEventListener === "function") {
  globalThis.addEventListener("securitypolicyviolation", (e) => violations.push(e));
}

/** How often a client with pending requests looks at its engine's crash record. */
const CRASH_POLL_MS = 250;

/**
 * The message in an engine's crash record ({buffer, index, message, size}: the
 * worker's hello, laid out by binding.mjs's crashFlag), or null while it is clear.
 * The bytes are copied first: TextDecoder does not read shared memory.
 */
function readCrash(flag) {
  if (!Atomics.load(new Int32Array(flag.buffer), flag.index)) return null;
  const bytes = new Uint8Array(flag.buffer, flag.message, flag.size).slice();
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** Why `payload` is not a valid `type` request of `protocol`, or null. */
function invalidRequest(protocol, type, payload) {
  const spec = protocol.requests[type];
  if (!spec) return `unknown request ${type}`;
  const unknown = Object.keys(payload).filter((k) => !spec.payload.includes(k));
  const missing = spec.required.filter((k) => !(k in payload));
  if (unknown.length || missing.length) {
    return `${type}: unknown fields [${unknown}], missing fields [${missing}]`;
  }
  for (const part of (type === "load" && payload.parts) || []) {
    // URLs are resolved once, by the caller (Python: the page's or the notebook's folder);
    // a relative URL here would be resolved against the worker's blob: URL.
    if (!URL.canParse(part.url)) return `model URLs must be absolute, got ${JSON.stringify(part.url)}`;
  }
  return null;
}

/** A module worker of the browser (the default way start() makes its worker). */
function browserWorker(url, name) {
  return new Worker(url, { type: "module", name });
}

/** The page's WebAssembly and threading features (synchronous: nothing to wait for). */
export function detectPage() {
  const has = (bytes) => {
    try {
      return WebAssembly.validate(new Uint8Array(bytes));
    } catch {
      return false;
    }
  };
  // Minimal modules: memory64 (a 64-bit memory), SIMD128 (v128.const), relaxed SIMD.
  const memory64 = has([0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 1, 4, 1]);
  const simd = has([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11]);
  const relaxed = has([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 15, 1, 13, 0, 65, 1,
    253, 15, 65, 2, 253, 15, 253, 128, 2, 11]);
  const isolated = typeof crossOriginIsolated !== "undefined" && crossOriginIsolated === true;
  return {
    memory64,
    simd,
    relaxed_simd: relaxed,
    threads: isolated && typeof SharedArrayBuffer !== "undefined",
    cross_origin_isolated: isolated,
    jspi: typeof WebAssembly.Suspending === "function",
    hardware_concurrency: (typeof navigator !== "undefined" && navigator.hardwareConcurrency) || 1,
  };
}

/**
 * How long detection waits for requestAdapter(). Some drivers and headless set-ups
 * never settle it; capabilities() and LLM.load must answer anyway (a real adapter
 * answers in well under a second).
 */
export const ADAPTER_TIMEOUT_MS = 3000;
const TIMED_OUT = Symbol("timed out");

/** `promise`, or TIMED_OUT after `ms`; the timer is cleared either way. */
function within(promise, ms) {
  let timer;
  const late = new Promise((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** The adapter (or null) and, if there is none, why, in words. */
async function requestAdapter(gpu, timeoutMs) {
  try {
    // No options: the engine's ggml-webgpu asks for the default adapter too, so
    // detection sees the adapter the engine will get.
    const adapter = await within(Promise.resolve().then(() => gpu.requestAdapter()), timeoutMs);
    if (adapter === TIMED_OUT) {
      return { adapter: null, why: `no adapter: requestAdapter() did not answer within ${timeoutMs} ms` };
    }
    if (!adapter) {
      return { adapter: null, why: "no adapter: requestAdapter() returned null (Chromium needs " +
        "--enable-unsafe-webgpu or a supported GPU)" };
    }
    return { adapter, why: "" };
  } catch (e) {
    return { adapter: null, why: `no adapter: requestAdapter() failed (${(e && e.message) || e})` };
  }
}

/** What the capabilities report of an adapter: who made it, whether it is software, its f16 and limits. */
function describeAdapter(adapter) {
  const info = adapter.info || {};
  const limit = (name) => (typeof adapter.limits?.[name] === "number" ? adapter.limits[name] : null);
  return {
    adapter: {
      vendor: info.vendor || "", architecture: info.architecture || "", description: info.description || "",
      // GPUAdapterInfo.isFallbackAdapter is the current place; older browsers had it on the adapter.
      is_fallback: !!(info.isFallbackAdapter ?? adapter.isFallbackAdapter),
    },
    shader_f16: !!adapter.features?.has("shader-f16"),
    max_buffer_size: limit("maxBufferSize"),
    max_storage_buffer_binding_size: limit("maxStorageBufferBindingSize"),
  };
}

/**
 * Whether the WebGPU engine can run here, and if not why: capabilities()["webgpu"].
 *
 * Usable when navigator.gpu exists, an adapter is returned, it has shader-f16
 * (llama.cpp's WebGPU kernels are f16), JSPI exists (the engine's GPU waits
 * suspend through it), the page runs threaded memory64 builds with relaxed SIMD
 * (the WebGPU engine is one), and the package ships that engine (`shipped`, which
 * only the Python side knows). `reason` names every missing piece, "" when none.
 * A fallback (software) adapter is usable; LLM.load(gpu="auto") declines it.
 *
 * @param {object} page  detectPage()'s result
 * @param {object} [options] {gpu: navigator.gpu or a stand-in (tests), shipped, timeoutMs}
 */
export async function detectWebGPU(page, { gpu = globalThis.navigator?.gpu, shipped = true,
  timeoutMs = ADAPTER_TIMEOUT_MS } = {}) {
  const found = { adapter: null, shader_f16: false, max_buffer_size: null, max_storage_buffer_binding_size: null };
  const missing = [];
  if (!gpu) {
    missing.push("navigator.gpu is missing (no WebGPU in this browser, or the page is not a secure context)");
  } else {
    const { adapter, why } = await requestAdapter(gpu, timeoutMs);
    if (adapter) Object.assign(found, describeAdapter(adapter));
    else missing.push(why);
    if (adapter && !found.shader_f16) {
      missing.push("the adapter lacks shader-f16, which llama.cpp's WebGPU kernels need");
    }
  }
  if (!page.jspi) missing.push("no JSPI (WebAssembly.Suspending) in this browser");
  if (!page.cross_origin_isolated || !page.threads) {
    missing.push("the page is not cross-origin isolated (the WebGPU engine is threaded)");
  }
  if (!page.memory64) missing.push("no WebAssembly memory64 in this browser (the WebGPU engine is a memory64 build)");
  if (!page.relaxed_simd) missing.push("no WebAssembly relaxed SIMD in this browser (the WebGPU engine uses it)");
  if (!shipped) missing.push("this pyodide_llm package does not ship the WebGPU engine");
  return { available: missing.length === 0, reason: missing.join("; "), ...found };
}

/** capabilities()["webgpu"] when the GPU was not to be touched (LLM.load(gpu=False)). */
function notProbed() {
  return { available: false, reason: "not probed (gpu=False)", adapter: null, shader_f16: false,
    max_buffer_size: null, max_storage_buffer_binding_size: null };
}

/**
 * Feature detection for capabilities() and the choice of variant and backend.
 *
 * Asynchronous because WebGPU's adapter is (detectPage() is the synchronous rest).
 * `probeGpu: false` leaves navigator.gpu alone (no adapter is requested).
 *
 * @param {object} [options] {probeGpu, gpuShipped, gpu, timeoutMs}: see detectWebGPU
 */
export async function detect({ probeGpu = true, gpuShipped = true, gpu = globalThis.navigator?.gpu,
  timeoutMs = ADAPTER_TIMEOUT_MS } = {}) {
  const page = detectPage();
  const webgpu = probeGpu ? await detectWebGPU(page, { gpu, shipped: gpuShipped, timeoutMs }) : notProbed();
  return { ...page, webgpu };
}

// Idle engines, kept for the next load instead of ended.
//
// Why: a browser gives back little of a terminated worker's memory (measured in
// Chromium: ~13 MiB of renderer RSS per load/close cycle of a new worker, and
// wllama's workers alike), and every new worker compiles the 5 MB module again. A
// closed model's worker, its model freed, waits here; the next load of the same
// variant takes it over (no new worker, no compile, its linear memory reused).
// At most one per variant, only while its memory is small (linear memory never
// shrinks: a worker that held a big model is ended to give that memory back), and
// for IDLE_MS at most.
const idle = new Map(); // key (variant + engine URL) -> {worker, poolSize, hello, nextId, timer}
const IDLE_MS = 60_000;
export const IDLE_MAX_MEMORY = 1 << 30;

let ended = 0;
let started = 0;

/** terminate() an engine worker, counted (endedEngines). */
function end(worker) {
  ended += 1;
  worker.terminate();
}

/**
 * How many engine workers this page has ended (for tests and diagnostics).
 *
 * Why: Chromium 156 sometimes never ends a worker that has pthread workers of its
 * own after terminate() (about 1 close(keep_engine=False) in 10 here, whatever the
 * way: terminate(), the worker's own close(), its pthreads ended first); a test
 * tells that browser bug from a worker this client forgot to end by this count.
 */
export function endedEngines() {
  return ended;
}

function parkedKey(files, variant) {
  return `${variant} ${files.engine}`;
}

function takeIdle(key, nThreads) {
  const entry = idle.get(key);
  if (!entry) return null;
  idle.delete(key);
  clearTimeout(entry.timer);
  if (entry.poolSize >= nThreads) return entry;
  end(entry.worker); // its thread pool is too small for this load
  return null;
}

/** How many engine workers this page has started (a live one is started and not ended). */
export function startedEngines() {
  return started;
}

/** End every idle engine worker now (their memory goes back to the browser). */
export function endIdleEngines() {
  for (const [key, entry] of idle) {
    clearTimeout(entry.timer);
    end(entry.worker);
    idle.delete(key);
  }
}

/** How many engine workers wait idle (for tests and diagnostics). */
export function idleEngines() {
  return idle.size;
}

export class EngineClient {
  constructor(worker, protocol, nextId = 1) {
    this.worker = worker;
    this.protocol = protocol;
    this.nextId = nextId;
    this.pending = new Map(); // id -> {resolve, onEvent}
    this.dead = null;
    this.abortFlag = null;
    this.parking = null; // {key, poolSize, hello}: where this worker goes when its model is closed
    worker.onmessage = (e) => this._onMessage(e.data);
    worker.onerror = (e) => this._die(`the engine worker failed: ${e.message || "error"}`);
  }

  /**
   * Start the worker for a variant. `files` maps names to (Blob) URLs:
   * worker (worker.mjs), binding (binding.mjs), store (store.mjs), download (download.mjs),
   * engine (plm-engine.mjs), wasm (plm-engine.wasm). `spawn(url, name)` makes the worker
   * (a module Worker; tests pass one end of a MessageChannel).
   */
  static async start(files, protocol, variant, nThreads, spawn = browserWorker) {
    const key = parkedKey(files, variant);
    const reused = takeIdle(key, nThreads);
    if (reused) {
      const client = new EngineClient(reused.worker, protocol, reused.nextId);
      client._ready(key, reused.poolSize, reused.hello);
      return { ok: true, client, build: reused.hello.build, reused: true };
    }
    const worker = spawn(files.worker, `pyodide_llm ${variant}`);
    started += 1;
    const client = new EngineClient(worker, protocol);
    const r = await client.request("hello", {
      version: protocol.version, variant, n_threads: nThreads,
      binding_url: files.binding, engine_url: files.engine, wasm_url: files.wasm, store_url: files.store,
      download_url: files.download,
    }).promise;
    if (!r.ok) {
      client.terminate();
      const refused = r.code === "engine_crashed" && violations.find((e) => /^(worker|script|child)-src/.test(
        e.effectiveDirective || e.violatedDirective || ""));
      if (refused) {
        return { ok: false, code: "blocked_by_csp", message: "the page's Content-Security-Policy does not let it " +
          `start the engine's worker (${refused.effectiveDirective || refused.violatedDirective} does not allow ` +
          `${String(refused.blockedURI).split(":")[0]}: URLs): add blob: to worker-src, or serve the package's ` +
          "files from the site and load pyodide_llm/js/assets.mjs in the page (README, 'Strict pages')" };
      }
      return r;
    }
    client._ready(key, nThreads, r);
    return { ok: true, client, build: r.build, reused: false };
  }

  _ready(key, poolSize, hello) {
    this.parking = { key, poolSize, hello };
    this.abortFlag = hello.abort_flag && new Int32Array(hello.abort_flag.buffer);
    this.abortIndex = hello.abort_flag && hello.abort_flag.index;
    this.crashFlag = hello.crash_flag || null;
  }

  /**
   * While requests are pending, look at the engine's crash record every CRASH_POLL_MS
   * (shared memory, threaded variants): llama.cpp aborting in a compute thread leaves
   * the worker waiting at ggml's barrier forever, so no reply and no error would come.
   */
  _watch() {
    if (!this.crashFlag || this.crashTimer || this.dead) return;
    this.crashTimer = setInterval(() => {
      const said = readCrash(this.crashFlag);
      if (said !== null) this._die(`the engine crashed: llama.cpp aborted: ${said}`);
      else if (!this.pending.size) this._unwatch();
    }, CRASH_POLL_MS);
  }

  _unwatch() {
    clearInterval(this.crashTimer);
    this.crashTimer = null;
  }

  /** Send a request; returns {id, promise}. onEvent(name, data) gets its events. */
  request(type, payload = {}, onEvent = null) {
    const id = this.nextId++;
    const invalid = invalidRequest(this.protocol, type, payload);
    if (invalid) return { id, promise: Promise.resolve(badRequest(invalid)) };
    if (this.dead) return { id, promise: Promise.resolve(crashed(this.dead)) };
    let resolve;
    const promise = new Promise((r) => (resolve = r));
    this.pending.set(id, { resolve, onEvent, type, keep: type === "close" && payload.keep_engine !== false });
    const transfer = payload.bytes instanceof Uint8Array ? [payload.bytes.buffer] : [];
    if (type === "cancel" && this.abortFlag) {
      // Shared memory: stops even a prefill that keeps the worker busy.
      Atomics.store(this.abortFlag, this.abortIndex, 1);
    }
    this.worker.postMessage({ id, type, payload }, transfer);
    this._watch();
    return { id, promise };
  }

  _onMessage(msg) {
    const p = this.pending.get(msg.id);
    if (msg.event === "crashed") return this._die(`the engine crashed: ${msg.data.message}`);
    if (!p) return;
    if (msg.event) {
      if (p.onEvent) p.onEvent(msg.event, msg.data);
      return;
    }
    this.pending.delete(msg.id);
    p.resolve(msg);
    if (p.type === "close") this._release(msg, p.keep); // the model is freed: park or end the worker
  }

  /** After "close": keep the worker for the next load of its variant (if `keep`), or end it. */
  _release(reply, keep) {
    const parking = this.parking;
    keep = keep && reply.ok && parking && !idle.has(parking.key) && this.pending.size === 0 &&
      Number(reply.memory_bytes) <= IDLE_MAX_MEMORY;
    if (!keep) return this.terminate();
    const worker = this.worker;
    this._die("the engine was closed", false);
    worker.onmessage = null;
    const entry = { worker, poolSize: parking.poolSize, hello: parking.hello, nextId: this.nextId };
    entry.timer = setTimeout(() => {
      if (idle.get(parking.key) === entry) idle.delete(parking.key);
      end(worker);
    }, IDLE_MS);
    worker.onerror = () => {
      if (idle.get(parking.key) === entry) idle.delete(parking.key);
      clearTimeout(entry.timer);
    };
    idle.set(parking.key, entry);
  }

  _die(message, endWorker = true) {
    if (this.dead) return;
    this.dead = message;
    this._unwatch();
    for (const [, p] of this.pending) p.resolve(crashed(message));
    this.pending.clear();
    if (endWorker) end(this.worker);
  }

  /** End the worker now; pending requests fail with engine_crashed. */
  terminate() {
    this._die("the engine was closed");
  }
}
