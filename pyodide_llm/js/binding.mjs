// Binding of the engine ABI (wasm/plm_abi.h) for JavaScript.
//
// The one place where JS values become wasm pointers and back. In memory64
// builds our own exports (plm_*) take and return pointers as BigInt, while
// emscripten wraps libc's malloc/free to use Number; wasm32 builds use Number
// everywhere. Each group is probed once, and everything above this file only
// sees plain objects and Numbers.
//
// Used by the engine worker (browser) and by the node tests of the build.

/** An {"ok": false} reply of the engine, with its stable error code. */
export class EngineError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "EngineError";
    this.code = code;
  }
}

/**
 * The message of a crash record (Engine.crashFlag: {buffer, index, message, size}),
 * or null while the flag is clear. Copies the bytes first: TextDecoder does not read
 * shared memory. (client.mjs, a module of the page, reads the same record its way.)
 */
export function readCrash(flag) {
  if (!Atomics.load(new Int32Array(flag.buffer), flag.index)) return null;
  const bytes = new Uint8Array(flag.buffer, flag.message, flag.size).slice();
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

export class Engine {
  /**
   * @param {object} module  an instantiated emscripten module of one variant
   */
  constructor(module) {
    this.module = module;
    const probe = module._malloc(8);
    this.bigMalloc = typeof probe === "bigint";
    module._free(probe);
    const flagPtr = module._plm_abort_flag();
    this.bigAbi = typeof flagPtr === "bigint";
    const flag = this.ptrToNumber(flagPtr);
    this.abortIndex = flag >>> 2;
    if (flag % 4 !== 0) throw new Error("abort flag is not 4-byte aligned");
    this.crashAt = this.ptrToNumber(module._plm_crash_record()); // int32 flag, then the message
    this.encoder = new TextEncoder();
    this.decoder = new TextDecoder();
    this.tail = Promise.resolve(); // the last asynchronous action (WebGPU builds)
  }

  /** Whether actions return Promises: the build has the WebGPU backend (JSPI). */
  get isAsync() {
    return typeof this.module._plm_action_async === "function";
  }

  ptrToNumber(p) {
    return typeof p === "bigint" ? Number(p) : p;
  }

  /** A pointer as malloc/free take it. */
  mallocPtr(n) {
    return this.bigMalloc ? BigInt(n) : n;
  }

  /** A pointer as the plm_* exports take it. */
  abiPtr(n) {
    return this.bigAbi ? BigInt(n) : n;
  }

  /** Heap views are re-read on every use: memory growth replaces the buffer. */
  get heapU8() {
    return this.module.HEAPU8;
  }

  /** Copy a JS string into a fresh NUL-terminated buffer; the caller frees it. */
  allocString(s) {
    const bytes = this.encoder.encode(s);
    const at = this.ptrToNumber(this.module._malloc(this.mallocPtr(bytes.length + 1)));
    if (!at) throw new EngineError("out_of_memory", "cannot allocate a request buffer in the engine");
    const heap = this.heapU8;
    heap.set(bytes, at);
    heap[at + bytes.length] = 0;
    return at;
  }

  /**
   * Run one action; returns the reply object (with ok: true) or throws EngineError.
   *
   * In a WebGPU build (JSPI) the reply is a Promise: the action may suspend while
   * the GPU works. Callers that serve both kinds of build `await` it.
   */
  action(name, request = {}) {
    const check = (reply) => {
      if (!reply.ok) throw new EngineError(reply.code, reply.message);
      return reply;
    };
    const reply = this.actionRaw(name, request);
    return reply instanceof Promise ? reply.then(check) : check(reply);
  }

  /**
   * An action that never reaches the GPU (hashing, tokenizing), run synchronously in
   * every build. In a WebGPU build it may run while a GPU action is suspended: it
   * uses the stack below the suspended frames and returns before they resume.
   */
  actionSync(name, request = {}) {
    const reply = this.call(this.module._plm_action, name, request);
    if (!reply.ok) throw new EngineError(reply.code, reply.message);
    return reply;
  }

  /**
   * Run one action and return its reply object as is, ok or not (a Promise of it in
   * a WebGPU build). Asynchronous actions run one at a time: a second one waits for
   * the first, so no two suspended actions interleave on the engine's stack.
   */
  actionRaw(name, request = {}) {
    const run = this.module._plm_action_async;
    if (!run) return this.call(this.module._plm_action, name, request);
    const next = this.tail.then(() => this.call(run, name, request));
    this.tail = next.catch(() => {});
    return next;
  }

  /** Settles when no asynchronous action is running (e.g. before freeing the model). */
  idle() {
    return this.tail;
  }

  /** Call an action export with NUL-terminated copies of its arguments; parse its reply. */
  call(fn, name, request) {
    const m = this.module;
    const namePtr = this.allocString(name);
    const reqPtr = this.allocString(typeof request === "string" ? request : JSON.stringify(request));
    const free = () => {
      m._free(this.mallocPtr(namePtr));
      m._free(this.mallocPtr(reqPtr));
    };
    let out;
    try {
      out = fn(this.abiPtr(namePtr), this.abiPtr(reqPtr));
    } catch (e) {
      free();
      throw e;
    }
    if (out instanceof Promise) {
      return out.then((ptr) => this.parseReply(ptr)).finally(free);
    }
    free();
    return this.parseReply(out);
  }

  parseReply(out) {
    const at = this.ptrToNumber(out);
    if (!at) throw new EngineError("out_of_memory", "the engine could not allocate its reply");
    try {
      return JSON.parse(this.readCString(at));
    } finally {
      this.module._plm_result_free(out);
    }
  }

  readCString(at) {
    const heap = this.heapU8;
    let end = at;
    while (heap[end] !== 0) end++;
    // slice(): TextDecoder refuses views of a SharedArrayBuffer.
    return this.decoder.decode(heap.slice(at, end));
  }

  /** Set or clear the abort flag; atomic, so another thread may call it mid-action. */
  setAbort(on) {
    const heap32 = this.module.HEAP32;
    if (typeof SharedArrayBuffer !== "undefined" && heap32.buffer instanceof SharedArrayBuffer) {
      Atomics.store(heap32, this.abortIndex, on ? 1 : 0);
    } else {
      heap32[this.abortIndex] = on ? 1 : 0;
    }
  }

  /** Abort flag location, for a client that shares this module's memory. */
  get abortFlag() {
    return { buffer: this.module.HEAP32.buffer, index: this.abortIndex };
  }

  /** Where llama.cpp's abort is recorded (plm_crash_record), for a client that shares this memory. */
  get crashFlag() {
    return { buffer: this.module.HEAP32.buffer, index: this.crashAt >>> 2, message: this.crashAt + 4, size: 1020 };
  }

  /** What llama.cpp said when it aborted (a GGML_ASSERT), or null if it has not. */
  crashMessage() {
    return readCrash(this.crashFlag);
  }

  /**
   * A running digest (the engine's hash_* actions) over spans of linear memory:
   * {update(ptr, size), end() -> hex}. kind "sha256", or "checksum": the fast
   * integrity check of cached files (wasm/checksum.h).
   */
  beginHash(kind = "sha256") {
    const { hash } = this.actionSync("hash_begin", { kind });
    return {
      update: (ptr, size) => this.actionSync("hash_update", { hash, ptr, size }),
      end: () => this.actionSync("hash_end", { hash }).digest,
    };
  }

  /**
   * Copy bytes into the engine's linear memory; returns {ptr, size} for
   * load({ptr, size}). The caller frees with freeBytes once the model is loaded.
   */
  copyIn(bytes) {
    const at = this.alloc(bytes.length);
    this.heapU8.set(bytes, at);
    return { ptr: at, size: bytes.length };
  }

  freeBytes(region) {
    this.module._free(this.mallocPtr(region.base ?? region.ptr));
  }

  /** Allocate `n` bytes of linear memory; returns the address as a Number. */
  alloc(n) {
    const at = this.ptrToNumber(this.module._malloc(this.mallocPtr(n)));
    if (!at) throw new EngineError("out_of_memory", `cannot allocate ${n} bytes in the engine's memory`);
    return at;
  }

  /**
   * A region of `n` bytes aligned to the wasm page (64 KiB): mapped weights must
   * meet ggml's tensor alignment, and llama.cpp aligns unmapping to the page
   * size. Returns {ptr, size, base}; free with freeBytes.
   */
  allocRegion(n) {
    const align = 65536;
    const base = this.alloc(n + align);
    return { ptr: Math.ceil(base / align) * align, size: n, base };
  }

  /**
   * Show the bytes of `region` (in linear memory) as the file `path`, without a copy.
   *
   * Why: MEMFS's mmap returns a pointer into a file's contents when they share the
   * heap's buffer, so a model loaded with `mmap: true` uses its weights where they
   * are: the download is the only copy. The contents are a getter over the current
   * memory buffer: when the memory grows, the buffer changes (single-thread builds
   * even detach the old one), and a view taken earlier would be stale.
   */
  exposeAsFile(path, region) {
    const FS = this.module.FS;
    const memory = this.module.wasmMemory;
    FS.writeFile(path, new Uint8Array(0));
    const node = FS.lookupPath(path).node;
    Object.defineProperty(node, "contents", {
      configurable: true,
      get: () => new Uint8Array(memory.buffer, region.ptr, region.size),
      // Should MEMFS ever replace the contents (a write), the file becomes an ordinary one.
      set: (v) => {
        Object.defineProperty(node, "contents", { value: v, writable: true, configurable: true });
      },
    });
    node.usedBytes = region.size;
  }
}

/**
 * Instantiate a variant's ES module factory.
 *
 * @param {Function} factory   the default export of plm-engine.mjs
 * @param {object}   [options] {poolSize, wasmBinary, wasmModule, locateFile, print, printErr,
 *                             plmGpu: a GPU object for WebGPU builds outside a browser (tests)}
 */
export async function createEngine(factory, options = {}) {
  const moduleArg = {
    plmPoolSize: options.poolSize ?? 0,
    print: options.print ?? (() => {}),
    printErr: options.printErr ?? ((line) => console.error(line)),
  };
  for (const key of ["wasmBinary", "wasmModule", "locateFile", "mainScriptUrlOrBlob", "plmGpu", "plmGpuLimits"]) {
    if (options[key] !== undefined) moduleArg[key] = options[key];
  }
  const module = await factory(moduleArg);
  return new Engine(module);
}
