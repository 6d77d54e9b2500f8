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

/** Why `payload` is not a valid `type` request of `protocol`, or null. */
export function invalidRequest(protocol, type, payload) {
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

/** Feature detection for capabilities() and variant choice. */
export function detect() {
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
    webgpu: typeof navigator !== "undefined" && !!navigator.gpu,
    hardware_concurrency: (typeof navigator !== "undefined" && navigator.hardwareConcurrency) || 1,
  };
}

export class EngineClient {
  constructor(worker, protocol) {
    this.worker = worker;
    this.protocol = protocol;
    this.nextId = 1;
    this.pending = new Map(); // id -> {resolve, onEvent}
    this.dead = null;
    this.abortFlag = null;
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
    const worker = spawn(files.worker, `pyodide_llm ${variant}`);
    const client = new EngineClient(worker, protocol);
    const r = await client.request("hello", {
      version: protocol.version, variant, n_threads: nThreads,
      binding_url: files.binding, engine_url: files.engine, wasm_url: files.wasm, store_url: files.store,
      download_url: files.download,
    }).promise;
    if (!r.ok) {
      client.terminate();
      return r;
    }
    client.abortFlag = r.abort_flag && new Int32Array(r.abort_flag.buffer);
    client.abortIndex = r.abort_flag && r.abort_flag.index;
    return { ok: true, client, build: r.build };
  }

  /** Send a request; returns {id, promise}. onEvent(name, data) gets its events. */
  request(type, payload = {}, onEvent = null) {
    const id = this.nextId++;
    const invalid = invalidRequest(this.protocol, type, payload);
    if (invalid) return { id, promise: Promise.resolve(badRequest(invalid)) };
    if (this.dead) return { id, promise: Promise.resolve(crashed(this.dead)) };
    let resolve;
    const promise = new Promise((r) => (resolve = r));
    this.pending.set(id, { resolve, onEvent, type });
    const transfer = payload.bytes instanceof Uint8Array ? [payload.bytes.buffer] : [];
    if (type === "cancel" && this.abortFlag) {
      // Shared memory: stops even a prefill that keeps the worker busy.
      Atomics.store(this.abortFlag, this.abortIndex, 1);
    }
    this.worker.postMessage({ id, type, payload }, transfer);
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
    if (p.type === "close") this.terminate(); // the model is freed: end the worker and its threads
  }

  _die(message) {
    if (this.dead) return;
    this.dead = message;
    for (const [, p] of this.pending) p.resolve(crashed(message));
    this.pending.clear();
    this.worker.terminate();
  }

  /** End the worker now; pending requests fail with engine_crashed. */
  terminate() {
    this._die("the engine was closed");
  }
}
