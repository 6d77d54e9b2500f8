// Getting model files into the engine's linear memory: from the cache, the
// network (resuming broken downloads), or a browser File/Blob.
//
// Every file is streamed chunk by chunk into its own 64 KiB-aligned region of
// linear memory and hashed there by the engine (SHA-256, its hash_* actions),
// so no JS ArrayBuffer ever holds a whole file. The parts of a split model are
// fetched in parallel (at most PARALLEL at once). A downloaded file is written to
// the store as it arrives; its metadata (size, ETag, SHA-256) is written only
// once the whole file has arrived and been verified, so an interrupted download
// is never taken for a cached model.
// No imports: loaded from a Blob URL; the worker hands over the engine and store.

const PARALLEL = 3;
const RETRIES = 3; // resumptions of one download after a broken connection
const HASH_SPAN = 8 << 20; // hash in spans this big: one engine call per span

function sourceError(code, message) {
  return Object.assign(new Error(message), { code });
}

/** Copies a stream into a region of linear memory, hashing it as it goes if asked to. */
class RegionSink {
  constructor(engine, size, hashing) {
    this.engine = engine;
    this.region = engine.allocRegion(size || 1 << 24);
    this.known = !!size;
    this.loaded = 0;
    this.hashed = 0;
    this.hash = hashing ? engine.beginHash() : null;
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
    if (this.hash && this.loaded - this.hashed >= HASH_SPAN) this._hashUpTo(this.loaded);
  }

  _hashUpTo(end) {
    this.hash.update(this.region.ptr + this.hashed, end - this.hashed);
    this.hashed = end;
  }

  /** The filled region {ptr, size, base} and the hex SHA-256 of its bytes (null if not hashing). */
  finish() {
    let sha256 = null;
    if (this.hash) {
      this._hashUpTo(this.loaded);
      sha256 = this.hash.end();
      this.hash = null;
    }
    this.open = false;
    return { region: { ...this.region, size: this.loaded }, sha256 };
  }

  /** Give the region back (before finish, on failure). */
  free() {
    if (!this.open) return;
    if (this.hash) this.hash.end();
    this.hash = null;
    this.open = false;
    this.engine.freeBytes(this.region);
  }
}

/**
 * Fetch model files into linear memory.
 *
 * @param {object} engine   the Engine binding (engine.mjs)
 * @param {object|null} store  the model store (store.mjs), or null for no caching
 * @param {Function} progress  (loaded, total, stage) for all files together
 * @param {Function} notice    (message) for what the user should know, e.g. a damaged cache entry
 */
export class ModelFetcher {
  constructor(engine, store, progress, notice) {
    this.engine = engine;
    this.store = store;
    this.progress = progress;
    this.notice = notice;
    this.sizes = new Map(); // part -> bytes expected
    this.done = new Map(); // part -> bytes arrived
    this.lastReport = 0;
    this.sources = [];
    this.abort = new AbortController();
  }

  _report(stage, force = false) {
    let total = 0;
    let loaded = 0;
    for (const v of this.sizes.values()) total += v;
    for (const v of this.done.values()) loaded += v;
    if (force || loaded - this.lastReport >= Math.max(total / 100, 1 << 20)) {
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
    if (this.store) {
      const cached = await this.store.lookup(part.url);
      if (cached && cached.blob && (!part.sha256 || part.sha256 === cached.meta.sha256)) {
        const region = await this._readCached(i, part, cached);
        if (region) return region;
      } else if (cached) {
        await this.store.remove(part.url); // truncated, unreadable, or not the requested sha256
        this.notice(`the cached copy of ${part.url} is unusable (${cached.damaged || "not the requested sha256"}); ` +
          "downloading it again");
      }
    }
    return this._download(i, part);
  }

  /** A cached file into memory, verified against its stored SHA-256; null if it fails the check. */
  async _readCached(i, part, cached) {
    const sink = new RegionSink(this.engine, cached.meta.size, true);
    this.sizes.set(i, cached.meta.size);
    try {
      const reader = cached.blob.stream().getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        sink.push(value);
        this.done.set(i, sink.loaded);
        this._report("cache");
      }
    } catch (e) {
      sink.free();
      if (e.code) throw e;
      await this.store.remove(part.url);
      this.done.set(i, 0);
      return null;
    }
    const { region, sha256 } = sink.finish();
    if (region.size !== cached.meta.size || sha256 !== cached.meta.sha256) {
      this.engine.freeBytes(region);
      await this.store.remove(part.url);
      this.done.set(i, 0);
      this.notice(`the cached copy of ${part.url} was damaged on disk (its SHA-256 changed); downloading it again`);
      return null;
    }
    this.sources[i] = "cache";
    return region;
  }

  async _open(url, from, etag) {
    const headers = from ? { Range: `bytes=${from}-`, ...(etag ? { "If-Range": etag } : {}) } : {};
    let resp;
    try {
      resp = await fetch(url, { headers, signal: this.abort.signal });
    } catch (e) {
      throw sourceError("network_error", `network error fetching ${url}: ${e.message}`);
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
      sink = new RegionSink(this.engine, size, !!(this.store || part.sha256));
      if (this.store) writer = await this.store.begin(part.url, size); // throws quota_exceeded
    } catch (e) {
      if (sink) sink.free();
      resp.body?.cancel().catch(() => {}); // stop the download it would have been
      throw e;
    }
    try {
      let body = resp.body;
      for (let attempt = 0; ; attempt++) {
        try {
          const reader = body.getReader();
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            if (writer) await writer.write(value);
            sink.push(value);
            this.done.set(i, sink.loaded);
            this._report("download");
          }
          if (!size || sink.loaded >= size) break;
          throw new Error(`the connection closed after ${sink.loaded} of ${size} bytes`);
        } catch (e) {
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
      const { region, sha256 } = sink.finish();
      if (part.sha256 && sha256 !== part.sha256) {
        this.engine.freeBytes(region);
        throw sourceError("checksum_mismatch", `${part.url} has SHA-256 ${sha256}, not the expected ` +
          `${part.sha256}: the file on the server is not the one asked for (or was damaged on the way)`);
      }
      if (writer) {
        const w = writer;
        writer = null;
        try {
          await w.commit({ etag, sha256 });
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
    }
  }
}

/** A File or Blob into linear memory (no network, no cache): [{ptr, size, base}]. */
export async function readBlob(engine, blob, progress) {
  const sink = new RegionSink(engine, blob.size, false);
  try {
    const reader = blob.stream().getReader();
    let last = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
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
