// download.mjs against a local server that misbehaves on purpose: model files
// arrive whole in 64 KiB-aligned regions of (fake) linear memory, a broken
// connection resumes with Range/If-Range where the server allows it, every
// failure has its protocol.json code, and no failure leaves a region or a
// digest behind. No cache here (store null): cache.test.mjs covers the store.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";

import { ModelFetcher, readBlob } from "../../pyodide_llm/js/download.mjs";
import { readEntry } from "../../pyodide_llm/js/store.mjs";
import { CLEAN, FakeMemory, sha256Of } from "./fixtures/fake_memory.mjs";
import { failure } from "./helpers.mjs";
import { notFound, sendFile, withServer } from "./server.mjs";

const MiB = 1 << 20;
const FILE = randomBytes(3 * MiB + 12345);

/** A fetcher without cache over a fresh fake memory; what it reported is kept on it. */
function fetcher(timeoutS = undefined) {
  const memory = new FakeMemory();
  const progress = [];
  const notices = [];
  const f = new ModelFetcher(memory, null, (...a) => progress.push(a), (m) => notices.push(m), readEntry, false,
    timeoutS);
  return Object.assign(f, { memory, progressSeen: progress, noticesSeen: notices });
}

/** fetchAll's failure with a 1 s timeout, and how long it took to come. */
async function timedFailure(server, path) {
  const f = fetcher(1);
  const t0 = performance.now();
  const e = await failure(f.fetchAll([{ url: server.url(path) }]));
  assert.deepEqual(f.memory.audit(), CLEAN);
  return [e, (performance.now() - t0) / 1000];
}

test("a file served normally arrives whole in an aligned region, with progress to the end", async () => {
  await withServer((req, res) => sendFile(req, res, FILE), async (server) => {
    const f = fetcher();
    const [region] = await f.fetchAll([{ url: server.url("/m.gguf"), sha256: sha256Of(FILE) }]);
    assert.equal(region.size, FILE.length);
    assert.equal(region.ptr % 65536, 0);
    assert.ok(f.memory.bytesOf(region).equals(FILE));
    assert.deepEqual(f.sources, ["network"]);
    assert.deepEqual(f.progressSeen.at(-1), [FILE.length, FILE.length, "download"]);
    assert.deepEqual(server.requests, [{ method: "GET", path: "/m.gguf", range: null, ifRange: null }]);
    f.memory.freeBytes(region);
    assert.deepEqual(f.memory.audit(), CLEAN);
  });
});

test("a connection cut once resumes with Range and If-Range, and the bytes equal the file", async () => {
  // Over 8 MiB: the digest runs in spans (download.mjs HASH_SPAN), across the resumption.
  const big = randomBytes(12 * MiB + 7);
  const cut = 5 * MiB + 123;
  await withServer((req, res, n) => sendFile(req, res, big, { etag: '"big-1"', cutAfter: n === 0 ? cut : null }),
    async (server) => {
      const f = fetcher();
      const [region] = await f.fetchAll([{ url: server.url("/big.gguf"), sha256: sha256Of(big) }]);
      assert.deepEqual(server.requests.map((r) => [r.range, r.ifRange]),
        [[null, null], [`bytes=${cut}-`, '"big-1"']]);
      assert.ok(f.memory.bytesOf(region).equals(big));
      f.memory.freeBytes(region);
      assert.deepEqual(f.memory.audit(), CLEAN);
    });
});

test("a connection cut on every request fails with network_error after 3 resumptions; nothing leaks", async () => {
  await withServer((req, res) => sendFile(req, res, FILE, { cutAfter: MiB / 2 }), async (server) => {
    const f = fetcher();
    const e = await failure(f.fetchAll([{ url: server.url("/m.gguf"), sha256: sha256Of(FILE) }]));
    assert.equal(e.code, "network_error");
    assert.match(e.message, /after 2097152 of 3158073 bytes .* and 3 resumption\(s\)/);
    assert.deepEqual(server.requests.map((r) => r.range), [null, "bytes=524288-", "bytes=1048576-",
      "bytes=1572864-"]);
    assert.deepEqual(f.memory.audit(), CLEAN);
  });
});

test("a connection cut by a server without Range support fails saying it could not be resumed", async () => {
  await withServer((req, res) => sendFile(req, res, FILE, { ranges: false, cutAfter: MiB }), async (server) => {
    const f = fetcher();
    const e = await failure(f.fetchAll([{ url: server.url("/m.gguf") }]));
    assert.equal(e.code, "network_error");
    assert.match(e.message, /does not support Range requests, so it could not be resumed/);
    assert.equal(server.requests.length, 1);
    assert.deepEqual(f.memory.audit(), CLEAN);
  });
});

test("a file that changed on the server during the download is not stitched together", async () => {
  const newer = randomBytes(FILE.length);
  await withServer((req, res, n) => (n === 0
    ? sendFile(req, res, FILE, { etag: '"old"', cutAfter: MiB })
    : sendFile(req, res, newer, { etag: '"new"' })), async (server) => {
    const f = fetcher();
    const e = await failure(f.fetchAll([{ url: server.url("/m.gguf") }]));
    assert.equal(e.code, "network_error");
    assert.deepEqual(server.requests.map((r) => r.ifRange), [null, '"old"']);
    assert.match(e.message, /failed after 1048576 of/);
    assert.deepEqual(f.memory.audit(), CLEAN);
  });
});

test("a missing file fails with http_error naming the status", async () => {
  await withServer(notFound, async (server) => {
    const f = fetcher();
    const e = await failure(f.fetchAll([{ url: server.url("/typo.gguf") }]));
    assert.equal(e.code, "http_error");
    assert.match(e.message, /HTTP 404 .*typo\.gguf/);
    assert.deepEqual(f.memory.audit(), CLEAN);
  });
});

test("a body longer than its Content-Length: node's fetch stops at the announced length", async () => {
  // The guard against a too-long file (RegionSink) is not reached through HTTP/1.1 framing:
  // the bytes past Content-Length are not part of the response. The next tests reach it.
  const announced = FILE.length - 1000;
  await withServer((req, res) => sendFile(req, res, FILE, { announce: announced }), async (server) => {
    const f = fetcher();
    const [region] = await f.fetchAll([{ url: server.url("/m.gguf") }]);
    assert.ok(f.memory.bytesOf(region).equals(FILE.subarray(0, announced)));
    f.memory.freeBytes(region);
    assert.deepEqual(f.memory.audit(), CLEAN);
  });
});

test("a resumed answer longer than the rest of the file fails with load_failed; nothing leaks", async () => {
  await withServer((req, res, n) => sendFile(req, res, FILE, { cutAfter: n === 0 ? MiB : null, wholeOn206: true }),
    async (server) => {
      const f = fetcher();
      const e = await failure(f.fetchAll([{ url: server.url("/m.gguf") }]));
      assert.equal(e.code, "load_failed");
      assert.match(e.message, new RegExp(`longer than the ${FILE.length} bytes it announced`));
      assert.deepEqual(f.memory.audit(), CLEAN);
    });
});

test("a file whose SHA-256 is not the requested one fails with checksum_mismatch; nothing leaks", async () => {
  await withServer((req, res) => sendFile(req, res, FILE), async (server) => {
    const f = fetcher();
    const wanted = sha256Of(Buffer.from("another file"));
    const e = await failure(f.fetchAll([{ url: server.url("/m.gguf"), sha256: wanted }]));
    assert.equal(e.code, "checksum_mismatch");
    assert.ok(e.message.includes(sha256Of(FILE)) && e.message.includes(wanted), e.message);
    assert.deepEqual(f.memory.audit(), CLEAN);
  });
});

test("a body of unknown size (chunked) grows its region past the first 16 MiB", async () => {
  const big = randomBytes(17 * MiB + 5);
  await withServer((req, res) => sendFile(req, res, big, { length: false }), async (server) => {
    const f = fetcher();
    const [region] = await f.fetchAll([{ url: server.url("/m.gguf"), sha256: sha256Of(big) }]);
    assert.equal(region.size, big.length);
    assert.equal(region.ptr % 65536, 0);
    assert.ok(f.memory.bytesOf(region).equals(big));
    f.memory.freeBytes(region);
    assert.deepEqual(f.memory.audit(), CLEAN);
  });
});

test("a gzip-encoded body is taken at its decoded size", async () => {
  const text = Buffer.from("GGUF".padEnd(MiB, "compressible "));
  await withServer((req, res) => sendFile(req, res, text, { gzip: true }), async (server) => {
    const f = fetcher();
    const [region] = await f.fetchAll([{ url: server.url("/m.gguf"), sha256: sha256Of(text) }]);
    assert.ok(f.memory.bytesOf(region).equals(text));
    f.memory.freeBytes(region);
    assert.deepEqual(f.memory.audit(), CLEAN);
  });
});

test("the parts of a split model arrive in order; one missing part frees all the others", async () => {
  const parts = [0, 1, 2, 3].map(() => randomBytes(MiB + 17));
  const route = (missing) => (req, res) => {
    const i = Number(/part-(\d)/.exec(req.url)[1]);
    return i === missing ? notFound(req, res) : sendFile(req, res, parts[i]);
  };
  await withServer(route(-1), async (server) => {
    const f = fetcher();
    const regions = await f.fetchAll(parts.map((p, i) => ({ url: server.url(`/part-${i}.gguf`), sha256: sha256Of(p) })));
    regions.forEach((r, i) => assert.ok(f.memory.bytesOf(r).equals(parts[i]), `part ${i}`));
    assert.deepEqual(f.sources, ["network", "network", "network", "network"]);
    regions.forEach((r) => f.memory.freeBytes(r));
    assert.deepEqual(f.memory.audit(), CLEAN);
  });
  await withServer(route(3), async (server) => {
    const f = fetcher();
    const e = await failure(f.fetchAll(parts.map((_, i) => ({ url: server.url(`/part-${i}.gguf`) }))));
    assert.equal(e.code, "http_error");
    assert.deepEqual(f.memory.audit(), CLEAN);
  });
});

test("readBlob: a Blob arrives whole in an aligned region, with progress to the end", async () => {
  const memory = new FakeMemory();
  const progress = [];
  const [region] = await readBlob(memory, new Blob([FILE]), (...a) => progress.push(a));
  assert.equal(region.ptr % 65536, 0);
  assert.ok(memory.bytesOf(region).equals(FILE));
  assert.deepEqual(progress.at(-1), [FILE.length, FILE.length, "read"]);
  memory.freeBytes(region);
  assert.deepEqual(memory.audit(), CLEAN);
});

/** A File-like object whose stream yields `chunks`, then fails with `error` if given. */
function fileLike(size, chunks, error = null) {
  return {
    size,
    name: "model.gguf",
    stream: () => new ReadableStream({
      pull(controller) {
        if (chunks.length) controller.enqueue(chunks.shift());
        else if (error) controller.error(error);
        else controller.close();
      },
    }),
  };
}

test("readBlob: a File whose reading fails is load_failed naming it; nothing leaks", async () => {
  const memory = new FakeMemory();
  const file = fileLike(FILE.length, [FILE.subarray(0, MiB)], new Error("the file was moved"));
  const e = await failure(readBlob(memory, file, () => {}));
  assert.equal(e.code, "load_failed");
  assert.match(e.message, /reading model\.gguf failed: the file was moved/);
  assert.deepEqual(memory.audit(), CLEAN);
});

test("readBlob: a File that yields more bytes than its size is load_failed; nothing leaks", async () => {
  const memory = new FakeMemory();
  const e = await failure(readBlob(memory, fileLike(1000, [FILE.subarray(0, 600), FILE.subarray(0, 600)]), () => {}));
  assert.equal(e.code, "load_failed");
  assert.match(e.message, /longer than the 1000 bytes it announced/);
  assert.deepEqual(memory.audit(), CLEAN);
});

// Slow and hostile servers (issue 16): each is a typed error within the timeout, nothing left behind.

test("a server that accepts and never answers fails with timed_out after the timeout", async () => {
  await withServer(() => {}, async (server) => {
    const [e, took] = await timedFailure(server, "/m.gguf");
    assert.equal(e.code, "timed_out");
    assert.match(e.message, /sent no response within 1 s; LLM\.load\(timeout=\)/);
    assert.ok(took >= 0.9 && took < 5, `${took} s`);
  });
});

test("a server that sends headers and then stalls fails with timed_out", async () => {
  await withServer((req, res) => {
    res.writeHead(200, { "Content-Length": FILE.length });
    res.write(FILE.subarray(0, 1000)); // and nothing more
  }, async (server) => {
    const [e, took] = await timedFailure(server, "/m.gguf");
    assert.equal(e.code, "timed_out");
    assert.match(e.message, /stalled: fewer than 64 KiB arrived in 1 s \(after 1000 of 3158073 bytes\)/);
    assert.ok(took < 5, `${took} s`);
  });
});

test("a server that trickles fails with timed_out; one that keeps pace does not", async () => {
  const trickle = (bytesPerTick) => (req, res) => {
    res.writeHead(200, { "Content-Length": FILE.length });
    let at = 0;
    const tick = setInterval(() => {
      if (res.destroyed || at >= FILE.length) return clearInterval(tick);
      res.write(FILE.subarray(at, at + bytesPerTick));
      at += bytesPerTick;
    }, 10);
    res.on("close", () => clearInterval(tick));
  };
  await withServer(trickle(10), async (server) => { // 1 KB/s
    const [e, took] = await timedFailure(server, "/m.gguf");
    assert.equal(e.code, "timed_out");
    assert.match(e.message, /stalled/);
    assert.ok(took < 5, `${took} s`);
  });
  const small = FILE.subarray(0, 300 << 10);
  await withServer((req, res) => { // 300 KiB at ~1 MB/s: slow, but over 64 KiB a second
    res.writeHead(200, { "Content-Length": small.length });
    let at = 0;
    const tick = setInterval(() => {
      if (res.destroyed) return clearInterval(tick);
      if (at >= small.length) { clearInterval(tick); return res.end(); }
      res.write(small.subarray(at, at + 10000));
      at += 10000;
    }, 10);
  }, async (server) => {
    const f = fetcher(1);
    const [region] = await f.fetchAll([{ url: server.url("/s.gguf") }]);
    assert.ok(f.memory.bytesOf(region).equals(small));
    f.memory.freeBytes(region);
    assert.deepEqual(f.memory.audit(), CLEAN);
  });
});

test("a redirect loop fails with network_error naming it", async () => {
  await withServer((req, res) => {
    res.writeHead(302, { Location: req.url });
    res.end();
  }, async (server) => {
    const [e, took] = await timedFailure(server, "/loop.gguf");
    assert.equal(e.code, "network_error");
    assert.match(e.message, /redirect/i);
    assert.ok(took < 5, `${took} s`);
    assert.ok(server.requests.length >= 10, `${server.requests.length} requests`);
  });
});
