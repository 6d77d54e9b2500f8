// Getting model files into the engine's linear memory: from the cache, the
// network (resuming broken downloads), or a browser File/Blob.
//
// Every file is streamed chunk by chunk into its own 64 KiB-aligned region of
// linear memory and digested there by the engine (its hash_* actions), so no JS
// ArrayBuffer ever holds a whole file: SHA-256 when the caller gave sha256=, and
// a fast checksum (wasm/checksum.h) of every file that goes into the cache, which
// every cached load verifies. The parts of a split model are fetched in parallel
// (at most PARALLEL at once). A downloaded file is written to the store as it
// arrives; its metadata (size, ETag, checksum, SHA-256 if computed) is written
// only once the whole file has arrived and been verified, so an interrupted
// download is never taken for a cached model.
// No imports: loaded from a Blob URL; the worker hands over the engine and store.

const PARALLEL = 3;
const RETRIES = 3; // resumptions of one download after a broken connection
const HASH_SPAN = 8 << 20; // hash in spans this big: one engine call per span

const CHUNK = 1 << 20; // bytes per read into the one reused buffer
// A download must make this much progress per `timeout` (LLM.load's, seconds), or it is given
// up as stalled: a server that trickles a byte a second fails in one window, not in days.
export const MIN_PROGRESS = 64 << 10;
export const DEFAULT_TIMEOUT_S = 60;

function sourceError(code, message) {
  return Object.assign(new Error(message), { code });
}

/** A fetch failure's words: node puts the reason (a redirect loop, a refused connection) in `cause`. */
function describe(e) {
  return e.cause?.message ? `${e.message}: ${e.cause.message}` : e.message;
}

/**
 * The bytes of a stream, as views on one reused 1 MiB buffer.
 *
 * Why: a default reader hands out a new ArrayBuffer per network chunk, so streaming
 * a model leaves its whole size behind as garbage for the worker's GC. A BYOB reader
 * fills the same buffer again and again (the stream transfers it back with each read).
 * Each view is only valid until the next step of the loop. Streams without BYOB
 * support fall back to the default reader.
 */
async function* chunks(stream) {
  let reader;
  try {
    reader = stream.getReader({ mode: "byob" });
  } catch {
    reader = null;
  }
  if (!reader) {
    const plain = stream.getReader();
    try {
      for (;;) {
        const { done, value } = await plain.read();
        if (done) return;
        yield value;
      }
    } finally {
      plain.releaseLock();
    }
  }
  let buffer = new ArrayBuffer(CHUNK);
  try {
    for (;;) {
      const { done, value } = await reader.read(new Uint8Array(buffer, 0, CHUNK));
      if (done) return;
      yield value;
      buffer = value.buffer;
    }
  } finally {
    reader.releaseLock();
  }
}

/**
 * Copies a stream into a region of linear memory, digesting it as it goes:
 * `kinds` lists the digests wanted ("sha256", "checksum": see engine.beginHash).
 */
class RegionSink {
  constructor(engine, size, kinds = []) {
    this.engine = engine;
    this.region = engine.allocRegion(size || 1 << 24);
    this.known = !!size;
    this.loaded = 0;
    this.hashed = 0;
    this.hashes = Object.fromEntries(kinds.map((k) => [k, engine.beginHash(k)]));
    this.open = true;
  }

  push(chunk) {
    const e = this.engine;
    if (this.loaded + chunk.length > this.region.size) {
      if (this.known) {
        throw sourceError("load_failed", `the file is longer than the ${this.region.size} bytes it announced`);
      }
      const bigger = e.allocRegion(Math.max(this.region.size * 2, this.loaded + chunk.length));
      e.heapU8.copyWithin(bigger.ptr, this.region.ptr, this.region.ptr + this.loaded);
      e.freeBytes(this.region);
      this.region = bigger;
    }
    e.heapU8.set(chunk, this.region.ptr + this.loaded);
    this.loaded += chunk.length;
    if (this.loaded - this.hashed >= HASH_SPAN) this._hashUpTo(this.loaded);
  }

  _hashUpTo(end) {
    for (const h of Object.values(this.hashes)) h.update(this.region.ptr + this.hashed, end - this.hashed);
    this.hashed = end;
  }

  _endHashes() {
    const out = Object.fromEntries(Object.entries(this.hashes).map(([k, h]) => [k, h.end()]));
    this.hashes = {};
    return out;
  }

  /** The filled region {ptr, size, base} and the digests asked for ({sha256?, checksum?}). */
  finish() {
    this._hashUpTo(this.loaded);
    const digests = this._endHashes();
    this.open = false;
    return { region: { ...this.region, size: this.loaded }, digests };
  }

  /** Give the region back (before finish, on failure). */
  free() {
    if (!this.open) return;
    this._endHashes();
    this.open = false;
    this.engine.freeBytes(this.region);
  }
}

/**
 * Fetch model files into linear memory.
 *
 * @param {object} engine   the Engine binding (binding.mjs)
 * @param {object|null} store  the model store (store.mjs), or null for no caching
 * @param {Function} progress  (loaded, total, stage) for all files together
 * @param {Function} notice    (message) for what the user should know, e.g. a damaged cache entry
 * @param {Function} readEntry store.mjs's readEntry (this module has no imports)
 * @param {boolean} revalidate  ask the server (HEAD) whether a cached file changed before using it
 * @param {number} timeoutS  seconds a response or a stalled download is waited for
 * @param {Function} withEntryLock store.mjs's withEntryLock (one page at a time per cached URL)
 */
export class ModelFetcher {
  constructor(engine, store, progress, notice, readEntry, revalidate = false, timeoutS = DEFAULT_TIMEOUT_S,
    withEntryLock = (url, fn) => fn()) {
    this.engine = engine;
    this.withEntryLock = withEntryLock;
    this.timeoutMs = timeoutS * 1000;
    this.timedOut = null; // the timed_out error, once a wait ran out (every part then stops)
    this.store = store;
    this.readEntry = readEntry;
    this.revalidate = revalidate;
    this.progress = progress;
    this.notice = notice;
    this.sizes = new Map(); // part -> bytes expected
    this.done = new Map(); // part -> bytes arrived
    this.lastReport = 0;
    this.sources = [];
    this.abort = new AbortController();
  }

  /** Give up the whole load: a wait ran out (every pending fetch and read rejects at once). */
  _expire(message) {
    this.timedOut ||= sourceError("timed_out", `${message}; LLM.load(timeout=) sets how long to wait ` +
      `(${this.timeoutMs / 1000} s now)`);
    this.abort.abort();
  }

  /** fetch(), bounded: a server that accepts and never answers fails after the timeout. */
  async _fetch(url, init) {
    const timer = setTimeout(() => this._expire(`${url} sent no response within ${this.timeoutMs / 1000} s`),
      this.timeoutMs);
    try {
      return await fetch(url, { ...init, signal: this.abort.signal });
    } finally {
      clearTimeout(timer);
    }
  }

  _report(stage, force = false) {
    let total = 0;
    let loaded = 0;
    for (const v of this.sizes.values()) total += v;
    for (const v of this.done.values()) loaded += v;
    // loaded < lastReport: a part started again (a damaged cache entry, now downloading).
    if (force || loaded < this.lastReport || loaded - this.lastReport >= Math.max(total / 100, 1 << 20)) {
      this.lastReport = loaded;
      this.progress(loaded, Math.max(total, loaded), stage);
    }
  }

  /**
   * Every part into its own region, in order: [{ptr, size, base}, ...].
   * parts: [{url, sha256?, size?}]; on failure every region is freed.
   */
  async fetchAll(parts) {
    parts.forEach((p, i) => this.sizes.set(i, p.size || 0));
    const results = new Array(parts.length);
    let next = 0;
    let failure = null;
    const run = async () => {
      while (next < parts.length && !failure) {
        const i = next++;
        try {
          results[i] = await this._fetchOne(i, parts[i]);
        } catch (e) {
          failure = failure || e;
          this.abort.abort();
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, parts.length) }, run));
    if (failure) {
      for (const r of results) if (r) this.engine.freeBytes(r);
      throw failure;
    }
    this._report(this.sources.includes("network") ? "download" : "cache", true);
    return results;
  }

  async _fetchOne(i, part) {
    if (!this.store) return this._download(i, part);
    // One page at a time per URL (store.mjs withEntryLock): a second tab waits, then reads
    // what the first stored; a delete waits for the read.
    return this.withEntryLock(part.url, () => this._fetchStored(i, part), {
      signal: this.abort.signal,
      busy: () => this.notice(`another page of this site is downloading or reading ${part.url}; ` +
        "waiting for it, then loading its copy from the cache"),
    });
  }

  async _fetchStored(i, part) {
    const cached = await this.store.lookup(part.url);
    const damaged = cached && (cached.damaged || (!cached.meta.checksum && "it has no checksum") ||
      (part.sha256 && cached.meta.sha256 && cached.meta.sha256 !== part.sha256 && "not the requested sha256") ||
      (this.revalidate && await this._changedOnServer(part.url, cached.meta)));
    if (cached && !damaged) {
      const region = await this._readCached(i, part, cached);
      if (region) return region;
    } else if (cached) {
      await this.store.remove(part.url);
      this.notice(`the cached copy of ${part.url} is unusable (${damaged}); downloading it again`);
    }
    return this._download(i, part);
  }

  /** Why the server's copy differs from the cached one (size or ETag), or null (same, or offline). */
  async _changedOnServer(url, meta) {
    let resp;
    try {
      resp = await this._fetch(url, { method: "HEAD" });
    } catch {
      if (this.timedOut) throw this.timedOut;
      this.notice(`could not reach ${url} to revalidate it; using the cached copy`);
      return null;
    }
    if (!resp.ok) return null;
    const size = Number(resp.headers.get("content-length")) || 0;
    const etag = resp.headers.get("etag");
    if (size && size !== meta.size) return `the server's file is now ${size} bytes, not ${meta.size}`;
    if (etag && meta.etag && etag !== meta.etag) return "the server's ETag changed";
    return null;
  }

  /**
   * A cached file into memory, verified against its stored checksum (and against
   * the requested sha256, hashed now if the entry was stored without one);
   * null if it fails the check (the entry is then removed).
   */
  async _readCached(i, part, cached) {
    const kinds = part.sha256 && !cached.meta.sha256 ? ["checksum", "sha256"] : ["checksum"];
    const sink = new RegionSink(this.engine, cached.meta.size, kinds);
    this.sizes.set(i, cached.meta.size);
    try {
      for await (const chunk of this.readEntry(cached)) {
        sink.push(chunk);
        this.done.set(i, sink.loaded);
        this._report("cache");
      }
    } catch (e) {
      sink.free();
      if (e.code) throw e;
      await this.store.remove(part.url);
      this.done.set(i, 0);
      this.notice(`reading the cached copy of ${part.url} failed (${e.message}); downloading it again`);
      return null;
    }
    const { region, digests } = sink.finish();
    const sha256 = digests.sha256 || cached.meta.sha256;
    let problem = null;
    if (region.size !== cached.meta.size || digests.checksum !== cached.meta.checksum) {
      problem = "was damaged on disk (its checksum changed)";
    } else if (part.sha256 && sha256 !== part.sha256) {
      problem = "is not the file with the requested sha256";
    }
    if (problem) {
      this.engine.freeBytes(region);
      await this.store.remove(part.url);
      this.done.set(i, 0);
      this.notice(`the cached copy of ${part.url} ${problem}; downloading it again`);
      return null;
    }
    this.sources[i] = "cache";
    return region;
  }

  async _open(url, from, etag) {
    const headers = from ? { Range: `bytes=${from}-`, ...(etag ? { "If-Range": etag } : {}) } : {};
    let resp;
    try {
      resp = await this._fetch(url, { headers });
    } catch (e) {
      throw this.timedOut || sourceError("network_error", `network error fetching ${url}: ${describe(e)}`);
    }
    if (from && resp.status !== 206) {
      try {
        await resp.body?.cancel();
      } catch {}
      return null; // the server cannot resume (no Range support, or the file changed)
    }
    if (!resp.ok) {
      throw sourceError("http_error", `HTTP ${resp.status} ${resp.statusText} for ${url}` +
        (resp.status === 404 ? " (check the URL; for a split model, that every part is there)" : ""));
    }
    return resp;
  }

  /**
   * Write a chunk to the cache entry; returns the writer, or null when the storage failed
   * for another reason than its quota: the model then loads uncached (with a notice)
   * rather than taking the storage's failure for a broken connection.
   */
  async _cacheWrite(writer, chunk, url) {
    try {
      await writer.write(chunk);
      return writer;
    } catch (e) {
      if (e.code) throw e; // quota_exceeded: the user decides (cache=False, or free space)
      await writer.abort();
      this.notice(`caching ${url} failed (${e.message}); the model loads without being cached`);
      return null;
    }
  }

  async _download(i, part) {
    const resp = await this._open(part.url, 0);
    const encoded = resp.headers.get("content-encoding");
    const size = encoded && encoded !== "identity" ? 0 : Number(resp.headers.get("content-length")) || 0;
    const etag = resp.headers.get("etag");
    const resumable = resp.headers.get("accept-ranges") === "bytes" && size > 0;
    this.sizes.set(i, size);
    let sink = null;
    let writer = null;
    try {
      const kinds = [...(this.store ? ["checksum"] : []), ...(part.sha256 ? ["sha256"] : [])];
      sink = new RegionSink(this.engine, size, kinds);
      if (this.store) writer = await this.store.begin(part.url, size); // throws quota_exceeded
    } catch (e) {
      if (sink) sink.free();
      resp.body?.cancel().catch(() => {}); // stop the download it would have been
      throw e;
    }
    // The stall watchdog: MIN_PROGRESS bytes per timeout, or the load is given up.
    let mark = 0;
    let timer = null;
    const arm = () => {
      clearTimeout(timer);
      mark = sink.loaded;
      timer = setTimeout(() => this._expire(`${part.url} stalled: fewer than ${MIN_PROGRESS >> 10} KiB arrived ` +
        `in ${this.timeoutMs / 1000} s (after ${sink.loaded} of ${size || "?"} bytes)`), this.timeoutMs);
    };
    try {
      let body = resp.body;
      arm();
      for (let attempt = 0; ; attempt++) {
        try {
          for await (const value of chunks(body)) {
            if (writer) writer = await this._cacheWrite(writer, value, part.url);
            sink.push(value);
            if (sink.loaded - mark >= MIN_PROGRESS) arm();
            this.done.set(i, sink.loaded);
            this._report("download");
          }
          if (!size || sink.loaded >= size) break;
          throw new Error(`the connection closed after ${sink.loaded} of ${size} bytes`);
        } catch (e) {
          if (this.timedOut) throw this.timedOut;
          if (e.code || this.abort.signal.aborted) throw e.code ? e : sourceError("network_error", e.message);
          const again = resumable && attempt < RETRIES
            ? await this._open(part.url, sink.loaded, etag).catch(() => null) : null;
          if (!again) {
            throw sourceError("network_error", `downloading ${part.url} failed after ${sink.loaded} of ` +
              `${size || "?"} bytes (${e.message})` + (resumable ? ` and ${attempt} resumption(s)` :
              "; the server does not support Range requests, so it could not be resumed") + "; try again");
          }
          body = again.body;
        }
      }
      const { region, digests } = sink.finish();
      const sha256 = digests.sha256 || null;
      if (part.sha256 && sha256 !== part.sha256) {
        this.engine.freeBytes(region);
        throw sourceError("checksum_mismatch", `${part.url} has SHA-256 ${sha256}, not the expected ` +
          `${part.sha256}: the file on the server is not the one asked for (or was damaged on the way)`);
      }
      if (writer) {
        const w = writer;
        writer = null;
        try {
          await w.commit({ etag, sha256, checksum: digests.checksum });
        } catch (e) {
          this.engine.freeBytes(region);
          await w.abort();
          throw e;
        }
      }
      this.sources[i] = "network";
      return region;
    } catch (e) {
      if (writer) await writer.abort();
      sink.free();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A File or Blob into linear memory (no network, no cache): [{ptr, size, base}]. */
export async function readBlob(engine, blob, progress) {
  const sink = new RegionSink(engine, blob.size);
  try {
    let last = 0;
    for await (const value of chunks(blob.stream())) {
      sink.push(value);
      if (sink.loaded - last >= blob.size / 100) {
        last = sink.loaded;
        progress(sink.loaded, blob.size, "read");
      }
    }
  } catch (e) {
    sink.free();
    throw e.code ? e : sourceError("load_failed", `reading ${blob.name || "the Blob"} failed: ${e.message}`);
  }
  progress(sink.loaded, blob.size, "read");
  return [sink.finish().region];
}
