// download.mjs with a model store, and store.mjs as far as node reaches it.
//
// Node has Blob but neither the Origin Private File System nor the Cache API, so
// store.mjs's OpfsStore and CacheApiStore run in the browser tier only; here
// MemoryStore keeps their interface and their rules (below), the fetcher is the
// real one, and store.mjs's own readEntry reads the entries (its Blob path: the
// OPFS synchronous-handle path needs a browser worker).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";

import { ModelFetcher } from "../../pyodide_llm/js/download.mjs";
import { lockedRemove, openStore, readEntry, withEntryLock } from "../../pyodide_llm/js/store.mjs";
import { checksumOf, CLEAN, FakeMemory, sha256Of } from "./fixtures/fake_memory.mjs";
import { failure } from "./helpers.mjs";
import { sendFile, startServer, withServer } from "./server.mjs";

const FILE = randomBytes((2 << 20) + 999);

/**
 * The store interface download.mjs calls, kept in memory, with store.mjs's rules:
 * an entry is bytes plus metadata, the metadata written only by commit(); begin()
 * invalidates the old entry first; lookup() answers {meta, blob}, {meta, damaged}
 * or null; a writer copies each chunk at once (the fetcher reuses its buffer);
 * abort() drops the bytes. `open` counts writers neither committed nor aborted.
 */
class MemoryStore {
  constructor({ quota = Infinity, locked = false, commitError = null, writeError = null } = {}) {
    this.bytes = new Map(); // url -> Uint8Array
    this.meta = new Map(); // url -> metadata
    this.quota = quota;
    this.locked = locked; // begin() answers null, as OPFS does while another tab writes the file
    this.commitError = commitError; // commit() throws it, as the Cache API does when the quota runs out late
    this.writeError = writeError; // write() throws it: a storage failure that is not the quota
    this.open = 0;
  }

  async lookup(url) {
    const meta = this.meta.get(url);
    if (!meta) return null;
    const bytes = this.bytes.get(url);
    if (!bytes) return { meta, damaged: "its data file is missing" };
    const blob = new Blob([bytes]);
    if (blob.size !== meta.size) return { meta, damaged: `it holds ${blob.size} of ${meta.size} bytes` };
    return { meta, blob };
  }

  async begin(url, size) {
    this.meta.delete(url);
    if (size > this.quota) {
      throw Object.assign(new Error(`caching needs ${size} bytes, ${this.quota} are free`), { code: "quota_exceeded" });
    }
    if (this.locked) return null;
    const chunks = [];
    this.bytes.set(url, new Uint8Array(0));
    this.open++;
    return {
      write: async (chunk) => {
        if (this.writeError) throw this.writeError;
        chunks.push(chunk.slice());
      },
      commit: async (meta) => {
        if (this.commitError) throw this.commitError;
        this.open--;
        const bytes = Buffer.concat(chunks);
        this.bytes.set(url, bytes);
        this.meta.set(url, { url, size: bytes.length, ...meta, stored_at: Date.now() });
      },
      abort: async () => {
        this.open--;
        this.bytes.delete(url);
      },
    };
  }

  async remove(url) {
    this.meta.delete(url);
    this.bytes.delete(url);
  }
}

function fetcher(store, { revalidate = false, locks = false } = {}) {
  const memory = new FakeMemory();
  const notices = [];
  const progress = [];
  const f = new ModelFetcher(memory, store, (loaded, total, stage) => progress.push({ loaded, total, stage }),
    (m) => notices.push(m), readEntry, revalidate, undefined, locks ? withEntryLock : undefined);
  return Object.assign(f, { memory, noticesSeen: notices, progressSeen: progress });
}

/** Fetch one part through a fresh fetcher; returns the fetcher (its memory freed) and the bytes. */
async function fetchOne(store, part, options) {
  const f = fetcher(store, options);
  const [region] = await f.fetchAll([part]);
  const bytes = f.memory.bytesOf(region);
  f.memory.freeBytes(region);
  assert.deepEqual(f.memory.audit(), CLEAN);
  return { f, bytes };
}

const serveFile = (etag = '"v1"') => (req, res) => sendFile(req, res, FILE, { etag });

test("a download is committed with its metadata; the next load reads the cache, not the network", async () => {
  await withServer(serveFile(), async (server) => {
    const store = new MemoryStore();
    const url = server.url("/m.gguf");
    const first = await fetchOne(store, { url });
    assert.deepEqual(first.f.sources, ["network"]);
    const { stored_at: storedAt, ...meta } = store.meta.get(url);
    assert.deepEqual(meta, { url, size: FILE.length, etag: '"v1"', sha256: null, checksum: checksumOf(FILE) });
    assert.equal(typeof storedAt, "number");

    const again = await fetchOne(store, { url });
    assert.deepEqual(again.f.sources, ["cache"]);
    assert.ok(again.bytes.equals(FILE));
    assert.equal(server.requests.length, 1, "the cached load asked the server nothing");
    assert.deepEqual(again.f.noticesSeen, []);
    assert.equal(store.open, 0);
  });
});

test("a damaged entry (its checksum differs) is removed and downloaded again, with a notice", async () => {
  await withServer(serveFile(), async (server) => {
    const store = new MemoryStore();
    const url = server.url("/m.gguf");
    await fetchOne(store, { url });
    store.bytes.get(url)[12345] ^= 0xff; // bit rot: same size, other bytes

    const { f, bytes } = await fetchOne(store, { url });
    assert.deepEqual(f.sources, ["network"]);
    assert.ok(bytes.equals(FILE));
    assert.deepEqual(f.noticesSeen, [`the cached copy of ${url} was damaged on disk (its checksum changed); ` +
      "downloading it again"]);
    assert.equal(server.requests.length, 2);
    assert.equal(store.meta.get(url).checksum, checksumOf(FILE));
    assert.ok(Buffer.from(store.bytes.get(url)).equals(FILE), "the entry was written again");
  });
});

test("an entry the store finds truncated is removed and downloaded again, with a notice", async () => {
  await withServer(serveFile(), async (server) => {
    const store = new MemoryStore();
    const url = server.url("/m.gguf");
    await fetchOne(store, { url });
    store.bytes.set(url, store.bytes.get(url).subarray(0, 1000));

    const { f, bytes } = await fetchOne(store, { url });
    assert.deepEqual(f.sources, ["network"]);
    assert.ok(bytes.equals(FILE));
    assert.deepEqual(f.noticesSeen, [`the cached copy of ${url} is unusable (it holds 1000 of ${FILE.length} ` +
      "bytes); downloading it again"]);
  });
});

test("an interrupted download leaves no entry, not even the damaged one it replaced", async () => {
  let cut = false;
  await withServer((req, res) => sendFile(req, res, FILE, { ranges: false, cutAfter: cut ? 4096 : null }),
    async (server) => {
      const store = new MemoryStore();
      const url = server.url("/m.gguf");
      cut = true;
      for (const round of ["no entry before", "a damaged entry before"]) {
        const f = fetcher(store);
        const e = await failure(f.fetchAll([{ url }]));
        assert.equal(e.code, "network_error", round);
        assert.deepEqual(f.memory.audit(), CLEAN, round);
        assert.equal(await store.lookup(url), null, round);
        assert.equal(store.bytes.has(url), false, round);
        assert.equal(store.open, 0, round);
        cut = false;
        await fetchOne(store, { url });
        store.bytes.get(url)[0] ^= 0xff;
        cut = true;
      }
    });
});

test("a download that fails its SHA-256 check leaves no entry", async () => {
  await withServer(serveFile(), async (server) => {
    const store = new MemoryStore();
    const url = server.url("/m.gguf");
    const f = fetcher(store);
    const e = await failure(f.fetchAll([{ url, sha256: sha256Of(Buffer.from("other")) }]));
    assert.equal(e.code, "checksum_mismatch");
    assert.deepEqual(f.memory.audit(), CLEAN);
    assert.equal(await store.lookup(url), null);
    assert.equal(store.open, 0);
  });
});

test("a requested sha256 is checked against a cached copy stored without one, offline", async () => {
  await withServer(serveFile(), async (server) => {
    const store = new MemoryStore();
    const url = server.url("/m.gguf");
    await fetchOne(store, { url });
    const { f, bytes } = await fetchOne(store, { url, sha256: sha256Of(FILE) });
    assert.deepEqual(f.sources, ["cache"]);
    assert.ok(bytes.equals(FILE));
    assert.equal(server.requests.length, 1);

    const other = sha256Of(Buffer.from("a newer upload"));
    const g = fetcher(store);
    const e = await failure(g.fetchAll([{ url, sha256: other }]));
    assert.equal(e.code, "checksum_mismatch", "the cached copy was refused, and the server's too");
    assert.deepEqual(g.noticesSeen, [`the cached copy of ${url} is not the file with the requested sha256; ` +
      "downloading it again"]);
    assert.deepEqual(g.memory.audit(), CLEAN);
  });
});

test("revalidate: a changed ETag replaces the cached copy; an unreachable server keeps it", async () => {
  let etag = '"v1"';
  const server = await startServer((req, res) => sendFile(req, res, FILE, { etag }));
  const store = new MemoryStore();
  const url = server.url("/m.gguf");
  try {
    await fetchOne(store, { url });
    const same = await fetchOne(store, { url }, { revalidate: true });
    assert.deepEqual(same.f.sources, ["cache"]);
    etag = '"v2"';
    const changed = await fetchOne(store, { url }, { revalidate: true });
    assert.deepEqual(changed.f.sources, ["network"]);
    assert.deepEqual(changed.f.noticesSeen, [`the cached copy of ${url} is unusable (the server's ETag changed); ` +
      "downloading it again"]);
    assert.deepEqual(server.requests.map((r) => r.method), ["GET", "HEAD", "HEAD", "GET"]);
    assert.equal(store.meta.get(url).etag, '"v2"');
  } finally {
    await server.close();
  }
  const offline = await fetchOne(store, { url }, { revalidate: true });
  assert.deepEqual(offline.f.sources, ["cache"]);
  assert.deepEqual(offline.f.noticesSeen, [`could not reach ${url} to revalidate it; using the cached copy`]);
});

test("a store another writer holds (begin answers null): the download goes on, uncached", async () => {
  await withServer(serveFile(), async (server) => {
    const store = new MemoryStore({ locked: true });
    const url = server.url("/m.gguf");
    const { f, bytes } = await fetchOne(store, { url });
    assert.deepEqual(f.sources, ["network"]);
    assert.ok(bytes.equals(FILE));
    assert.equal(await store.lookup(url), null);
  });
});

test("a store without room fails the load with quota_exceeded; nothing leaks", async () => {
  await withServer(serveFile(), async (server) => {
    const store = new MemoryStore({ quota: 1000 });
    const f = fetcher(store);
    const e = await failure(f.fetchAll([{ url: server.url("/m.gguf") }]));
    assert.equal(e.code, "quota_exceeded");
    assert.deepEqual(f.memory.audit(), CLEAN);
  });
});

test("a commit that fails fails the load with its code, aborts the entry once, and frees the region", async () => {
  await withServer(serveFile(), async (server) => {
    const late = Object.assign(new Error("the quota ran out while caching"), { code: "quota_exceeded" });
    const store = new MemoryStore({ commitError: late });
    const url = server.url("/m.gguf");
    const f = fetcher(store);
    const e = await failure(f.fetchAll([{ url }]));
    assert.equal(e, late);
    assert.deepEqual(f.memory.audit(), CLEAN);
    assert.equal(store.open, 0, "aborted exactly once");
    assert.equal(await store.lookup(url), null);
  });
});

test("store.mjs readEntry: an entry's Blob, read in chunks, is its bytes", async () => {
  const read = async (entry) => {
    const chunks = [];
    for await (const chunk of readEntry(entry)) chunks.push(Buffer.from(chunk)); // valid until the next chunk
    return Buffer.concat(chunks);
  };
  assert.ok((await read({ blob: new Blob([FILE]) })).equals(FILE));
  assert.equal((await read({ blob: new Blob([]) })).length, 0);
  // A handle without synchronous access (not an OPFS file in a worker): the Blob is read instead.
  assert.ok((await read({ blob: new Blob([FILE]), handle: {} })).equals(FILE));
});

test("store.mjs openStore in node (no OPFS, no Cache API): auto is no store, a named kind is refused", async () => {
  assert.equal(await openStore("auto"), null);
  for (const kind of ["opfs", "cache-api"]) {
    await assert.rejects(openStore(kind), { code: "unsupported_environment" });
  }
});

test("a re-download after a damaged entry reports its progress as it goes", async () => {
  await withServer(serveFile(), async (server) => {
    const store = new MemoryStore();
    const url = server.url("/m.gguf");
    await fetchOne(store, { url });
    store.bytes.get(url)[FILE.length - 10] ^= 0xff; // damaged near the end: read whole, then found bad
    const { f } = await fetchOne(store, { url });
    const downloading = f.progressSeen.filter((p) => p.stage === "download");
    // Before the fix, nothing was reported until the download passed what the cache read had reached.
    assert.ok(downloading.length >= 2, JSON.stringify(f.progressSeen));
    assert.ok(downloading[0].loaded < FILE.length, "progress arrives before the end");
  });
});

test("a storage failure other than the quota loads the model uncached, with a notice", async () => {
  await withServer(serveFile(), async (server) => {
    const store = new MemoryStore({ writeError: new Error("the disk is gone") });
    const url = server.url("/m.gguf");
    const { f, bytes } = await fetchOne(store, { url });
    assert.ok(bytes.equals(FILE));
    assert.deepEqual(f.sources, ["network"]);
    assert.equal(server.requests.length, 1, "not taken for a broken connection: no resumption");
    assert.deepEqual(f.noticesSeen, [`caching ${url} failed (the disk is gone); the model loads without being cached`]);
    assert.equal(store.meta.has(url), false);
    assert.equal(store.open, 0, "the entry was aborted");
  });
});


// Web Locks (node has navigator.locks, as browsers do): pages of one origin, here two
// fetchers, share one lock per URL.
test("two loads of one URL at once: one download, the second waits and reads the cached copy", async () => {
  const slow = (req, res) => setTimeout(() => sendFile(req, res, FILE), 300);
  await withServer(slow, async (server) => {
    const store = new MemoryStore();
    const url = server.url("/same.gguf");
    const [a, b] = [fetcher(store, { locks: true }), fetcher(store, { locks: true })];
    const [[ra], [rb]] = await Promise.all([a.fetchAll([{ url }]), b.fetchAll([{ url }])]);
    assert.ok(a.memory.bytesOf(ra).equals(FILE) && b.memory.bytesOf(rb).equals(FILE));
    assert.deepEqual([a.sources, b.sources], [["network"], ["cache"]]);
    assert.equal(server.requests.length, 1, "one download");
    assert.match(b.noticesSeen.join(" "), /another page of this site is downloading or reading/);
    a.memory.freeBytes(ra);
    b.memory.freeBytes(rb);
    assert.deepEqual([a.memory.audit(), b.memory.audit()], [CLEAN, CLEAN]);
  });
});

test("a delete waits for the load that holds the entry; one held too long is cache_busy", async () => {
  const slow = (req, res) => setTimeout(() => sendFile(req, res, FILE), 300);
  await withServer(slow, async (server) => {
    const store = new MemoryStore();
    const url = server.url("/held.gguf");
    const f = fetcher(store, { locks: true });
    const loading = f.fetchAll([{ url }]);
    await new Promise((r) => setTimeout(r, 50)); // the load holds the lock now
    await lockedRemove(store, url, 5000); // waits for it, then deletes what it stored
    const [region] = await loading;
    assert.ok(f.memory.bytesOf(region).equals(FILE), "the load was not cut by the delete");
    f.memory.freeBytes(region);
    assert.equal(await store.lookup(url), null, "deleted after the load");

    let release;
    const held = navigator.locks.request(`pyodide_llm-model:${url}`, () => new Promise((r) => (release = r)));
    await new Promise((r) => setTimeout(r, 20));
    await assert.rejects(lockedRemove(store, url, 200), (e) => e.code === "cache_busy" && /not deleted/.test(e.message));
    release();
    await held;
  });
});
