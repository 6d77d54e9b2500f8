// The model cache: downloaded GGUF files kept in the browser's storage.
//
// Origin Private File System where the browser has it, the Cache API otherwise.
// Each model file is two entries named by a hash of its URL: the bytes
// (<key>.gguf) and, written only after the bytes are complete and verified, the
// metadata (<key>.json: url, size, etag, checksum, sha256 if known, stored_at). An entry without
// metadata is an interrupted download and is never read.
//
// Used by the engine worker (lookup, write) and by the page or kernel thread
// (pyodide_llm.cache: list, delete; inspect reads headers from cached files).
// No imports: loaded from a Blob URL.

const DIR = "pyodide_llm-models";

/** An error with one of protocol.json's codes. */
function storeError(code, message) {
  return Object.assign(new Error(message), { code });
}

const MiB = (n) => `${(n / 2 ** 20).toFixed(1)} MiB`;

/** How long a delete waits for the pages that are reading or writing the entry. */
export const DELETE_WAIT_MS = 10_000;

/**
 * Run `fn` holding the entry's Web Lock, exclusive, across every page and worker of
 * the origin. Why: two tabs loading one URL would download it twice and write one
 * file at once; a delete in one tab would cut a read in another. With the lock the
 * second tab waits and then reads what the first stored, and a delete waits for the
 * read. A lock dies with its page or worker, so a closed tab frees it. `busy` runs
 * if the lock is held elsewhere, before waiting; `signal` ends the wait (an
 * AbortError). Without Web Locks (node) `fn` runs at once.
 */
export async function withEntryLock(url, fn, { busy = null, signal = undefined } = {}) {
  const locks = globalThis.navigator?.locks;
  if (!locks) return fn();
  const name = `pyodide_llm-model:${url}`;
  let ran = false;
  const result = await locks.request(name, { ifAvailable: true }, async (lock) => {
    if (!lock) return undefined;
    ran = true;
    return fn();
  });
  if (ran) return result;
  if (busy) busy();
  return locks.request(name, { signal }, fn);
}

/** Storage key of a URL: 32 hex digits of its SHA-256. */
async function keyOf(url) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(url));
  return Array.from(new Uint8Array(digest).slice(0, 16), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Room left for new entries; throws quota_exceeded if `size` bytes do not fit. */
async function ensureRoom(size, reserved) {
  if (!navigator.storage?.estimate) return;
  const { quota = Infinity, usage = 0 } = await navigator.storage.estimate();
  const free = quota - usage - reserved;
  if (size > free) {
    throw storeError("quota_exceeded",
      `caching this model needs ${MiB(size)} of browser storage but only ${MiB(Math.max(free, 0))} of ` +
      `${MiB(quota)} is free for this site; delete cached models (pyodide_llm.cache.delete / clear) or ` +
      `load with cache=False`);
  }
}

function isQuotaError(e) {
  return e && (e.name === "QuotaExceededError" || /quota/i.test(String(e.message)));
}

/** store.remove(url) under the entry's lock; cache_busy if the lock stays taken for `waitMs`. */
export async function lockedRemove(store, url, waitMs = DELETE_WAIT_MS) {
  try {
    await withEntryLock(url, () => store.remove(url), { signal: AbortSignal.timeout(waitMs) });
  } catch (e) {
    if (e.name !== "TimeoutError" && e.name !== "AbortError") throw e;
    throw storeError("cache_busy", `${url} is being downloaded or read by a page of this site (another tab, ` +
      `or a load in this one); it was not deleted: try again once that load has finished`);
  }
}

class OpfsStore {
  kind = "opfs";

  constructor(dir) {
    this.dir = dir;
    this.reserved = 0; // bytes of downloads in flight that will be written
  }

  async _file(name) {
    try {
      return await (await this.dir.getFileHandle(name)).getFile();
    } catch (e) {
      if (e.name === "NotFoundError") return null;
      throw e;
    }
  }

  async _remove(name) {
    try {
      await this.dir.removeEntry(name);
    } catch (e) {
      if (e.name !== "NotFoundError") throw e;
    }
  }

  /** {meta, blob} of a complete entry, {meta, damaged} of a truncated one, or null. */
  async lookup(url) {
    const key = await keyOf(url);
    const metaFile = await this._file(`${key}.json`);
    if (!metaFile) return null;
    let meta;
    try {
      meta = JSON.parse(await metaFile.text());
    } catch {
      return { meta: { url }, damaged: "its metadata is unreadable" };
    }
    if (meta.url !== url) return null; // a (vanishingly unlikely) key collision
    let handle;
    try {
      handle = await this.dir.getFileHandle(`${key}.gguf`);
    } catch {
      return { meta, damaged: "its data file is missing" };
    }
    const blob = await handle.getFile();
    if (blob.size !== meta.size) return { meta, damaged: `it holds ${blob.size} of ${meta.size} bytes` };
    return { meta, blob, handle };
  }

  /** Start writing `url`'s bytes; returns a writer, or null if another tab is writing it. */
  async begin(url, size) {
    const key = await keyOf(url);
    await this._remove(`${key}.json`); // the old entry is invalid from here on
    if (size) await ensureRoom(size, this.reserved);
    const handle = await this.dir.getFileHandle(`${key}.gguf`, { create: true });
    let sink;
    try {
      sink = await handle.createSyncAccessHandle(); // workers: synchronous and fast
      sink.truncate(0);
    } catch (e) {
      if (e.name === "NoModificationAllowedError") return null; // locked by another writer
      if (typeof handle.createSyncAccessHandle === "function") throw e;
      sink = null;
    }
    const stream = sink ? null : await handle.createWritable();
    const reservation = size || 0;
    this.reserved += reservation;
    let at = 0;
    const done = () => {
      this.reserved -= reservation;
    };
    return {
      write: async (chunk) => {
        try {
          if (sink) at += sink.write(chunk, { at });
          else {
            await stream.write(chunk);
            at += chunk.length;
          }
        } catch (e) {
          if (isQuotaError(e)) {
            throw storeError("quota_exceeded", `the browser's storage quota ran out after ${MiB(at)} while ` +
              `caching ${url} (${MiB(size || at)} needed); free space with pyodide_llm.cache.delete, or load ` +
              `with cache=False`);
          }
          throw e;
        }
      },
      commit: async (meta) => {
        if (sink) {
          sink.flush();
          sink.close();
        } else await stream.close();
        done();
        const record = { url, size: at, ...meta, stored_at: Date.now() };
        const mh = await this.dir.getFileHandle(`${key}.json`, { create: true });
        const w = await mh.createWritable();
        await w.write(JSON.stringify(record));
        await w.close();
      },
      abort: async () => {
        done();
        try {
          if (sink) sink.close();
          else await stream.abort();
        } catch {}
        await this._remove(`${key}.gguf`);
      },
    };
  }

  async remove(url) {
    const key = await keyOf(url);
    await this._remove(`${key}.json`);
    await this._remove(`${key}.gguf`);
  }

  /** remove(), once no page is reading or writing the entry; cache_busy after DELETE_WAIT_MS. */
  async removeWhenFree(url) {
    return lockedRemove(this, url);
  }

  /** Every entry's metadata; interrupted downloads appear with complete: false. */
  async list() {
    const names = new Map();
    for await (const [name] of this.dir.entries()) names.set(name, true);
    const out = [];
    for (const name of names.keys()) {
      const key = name.slice(0, -5);
      if (name.endsWith(".json")) {
        const file = await this._file(name);
        const data = await this._file(`${key}.gguf`);
        try {
          out.push({ ...JSON.parse(await file.text()), stored_bytes: data ? data.size : 0, complete: true });
        } catch {
          out.push({ key, stored_bytes: data ? data.size : 0, complete: false });
        }
      } else if (name.endsWith(".gguf") && !names.has(`${key}.json`)) {
        const data = await this._file(name);
        out.push({ key, stored_bytes: data ? data.size : 0, complete: false });
      }
    }
    return out;
  }

  /** Remove every entry, complete or not. */
  async clear() {
    const names = [];
    for await (const [name] of this.dir.entries()) names.push(name);
    for (const name of names) await this._remove(name);
  }
}

class CacheApiStore {
  kind = "cache-api";

  constructor(cache) {
    this.cache = cache;
    this.reserved = 0;
  }

  _req(name) {
    // The origin, not the href: a worker started from a Blob URL has a blob: href.
    return new Request(`${globalThis.location.origin}/__pyodide_llm_cache__/${name}`);
  }

  async lookup(url) {
    const key = await keyOf(url);
    const metaResp = await this.cache.match(this._req(`${key}.json`));
    if (!metaResp) return null;
    let meta;
    try {
      meta = await metaResp.json();
    } catch {
      return { meta: { url }, damaged: "its metadata is unreadable" };
    }
    if (meta.url !== url) return null;
    const data = await this.cache.match(this._req(`${key}.gguf`));
    if (!data) return { meta, damaged: "its data is missing" };
    const blob = await data.blob();
    if (blob.size !== meta.size) return { meta, damaged: `it holds ${blob.size} of ${meta.size} bytes` };
    return { meta, blob };
  }

  async begin(url, size) {
    const key = await keyOf(url);
    await this.cache.delete(this._req(`${key}.json`));
    if (size) await ensureRoom(size, this.reserved);
    const pipe = new TransformStream();
    const writer = pipe.writable.getWriter();
    const headers = { "content-type": "application/octet-stream" };
    const stored = this.cache.put(this._req(`${key}.gguf`), new Response(pipe.readable, { headers }));
    stored.catch(() => {}); // observed in commit/abort
    const reservation = size || 0;
    this.reserved += reservation;
    let at = 0;
    const done = () => {
      this.reserved -= reservation;
    };
    const translate = (e) => (isQuotaError(e)
      ? storeError("quota_exceeded", `the browser's storage quota ran out while caching ${url} ` +
          `(${MiB(size || at)} needed); free space with pyodide_llm.cache.delete, or load with cache=False`)
      : e);
    return {
      write: async (chunk) => {
        await writer.ready;
        writer.write(chunk.slice()).catch(() => {});
        at += chunk.length;
      },
      commit: async (meta) => {
        done();
        await writer.close();
        try {
          await stored;
        } catch (e) {
          throw translate(e);
        }
        const record = { url, size: at, ...meta, stored_at: Date.now() };
        await this.cache.put(this._req(`${key}.json`), new Response(JSON.stringify(record)));
      },
      abort: async () => {
        done();
        try {
          await writer.abort();
        } catch {}
        await this.cache.delete(this._req(`${key}.gguf`));
      },
    };
  }

  async remove(url) {
    const key = await keyOf(url);
    await this.cache.delete(this._req(`${key}.json`));
    await this.cache.delete(this._req(`${key}.gguf`));
  }

  async removeWhenFree(url) {
    return lockedRemove(this, url);
  }

  async list() {
    const out = [];
    const keys = (await this.cache.keys()).map((r) => r.url.slice(r.url.lastIndexOf("/") + 1));
    for (const name of keys) {
      const key = name.slice(0, -5);
      if (name.endsWith(".json")) {
        const data = await this.cache.match(this._req(`${key}.gguf`));
        const stored = data ? (await data.blob()).size : 0;
        try {
          const meta = await (await this.cache.match(this._req(name))).json();
          out.push({ ...meta, stored_bytes: stored, complete: true });
        } catch {
          out.push({ key, stored_bytes: stored, complete: false });
        }
      } else if (name.endsWith(".gguf") && !keys.includes(`${key}.json`)) {
        const data = await this.cache.match(this._req(name));
        out.push({ key, stored_bytes: data ? (await data.blob()).size : 0, complete: false });
      }
    }
    return out;
  }

  async clear() {
    for (const req of await this.cache.keys()) await this.cache.delete(req);
  }
}

const READ_CHUNK = 8 << 20;

/**
 * The bytes of a looked-up entry, in chunks. In a worker, OPFS files are read
 * through a read-only synchronous handle (several times faster than a Blob
 * stream); elsewhere, and where that is refused, through blob.stream().
 * A chunk is only valid until the next one is asked for: copy it at once.
 */
export async function* readEntry(entry) {
  let sync = null;
  if (entry.handle && typeof entry.handle.createSyncAccessHandle === "function") {
    try {
      sync = await entry.handle.createSyncAccessHandle({ mode: "read-only" });
    } catch {
      sync = null; // no read-only mode, or a writer holds the file
    }
  }
  if (!sync) {
    const reader = entry.blob.stream().getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  }
  try {
    const buffer = new Uint8Array(READ_CHUNK);
    const size = sync.getSize();
    for (let at = 0; at < size;) {
      const n = sync.read(buffer, { at });
      if (n <= 0) throw new Error(`the cached file ended after ${at} of ${size} bytes`);
      at += n;
      yield buffer.subarray(0, n);
    }
  } finally {
    sync.close();
  }
}

/**
 * The model store of this origin: kind "auto" (OPFS, else the Cache API),
 * "opfs" or "cache-api". Returns null when "auto" finds no storage at all;
 * throws unsupported_environment when the named kind is missing.
 */
export async function openStore(kind = "auto") {
  if (kind === "auto" || kind === "opfs") {
    try {
      const root = await navigator.storage.getDirectory();
      return new OpfsStore(await root.getDirectoryHandle(DIR, { create: true }));
    } catch (e) {
      if (kind === "opfs") {
        throw storeError("unsupported_environment", `this browser context has no Origin Private File System ` +
          `(${e.message}); use cache="cache-api" or cache=False`);
      }
    }
  }
  if (typeof caches !== "undefined") {
    try {
      return new CacheApiStore(await caches.open(DIR));
    } catch (e) {
      if (kind === "cache-api") {
        throw storeError("unsupported_environment", `the Cache API is not available here (${e.message})`);
      }
    }
  } else if (kind === "cache-api") {
    throw storeError("unsupported_environment", "the Cache API is not available here (needs a secure context)");
  }
  return null;
}
