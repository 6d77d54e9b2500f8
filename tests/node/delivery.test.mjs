// What the worker's model delivery relies on in the engine, per variant:
// the SHA-256 of bytes in linear memory (hash_* actions) agrees with node's
// crypto over any split into spans, and a split GGUF loads from its parts
// (load {paths}) with the same greedy tokens as the whole file; parts out of
// order or missing are typed errors and leave the engine usable.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { env, startVariant, VARIANTS } from "./helpers.mjs";

const MODEL = readFileSync(env("PLM_MODEL"));
const PARTS = env("PLM_MODEL_SPLIT").split(",").map((p) => readFileSync(p));
const PROMPT = "1, 2, 3, 4, 5,";

function hashInSpans(engine, bytes) {
  const region = engine.copyIn(bytes);
  const h = engine.beginHash();
  let at = 0;
  while (at < bytes.length) {
    const n = Math.min(bytes.length - at, 1 + Math.floor(Math.random() * 200000));
    h.update(region.ptr + at, n);
    at += n;
  }
  const hex = h.end();
  engine.freeBytes(region);
  return hex;
}

function expose(engine, files) {
  return files.map((bytes, i) => {
    const region = engine.allocRegion(bytes.length);
    engine.heapU8.set(bytes, region.ptr);
    engine.exposeAsFile(`/part-${i + 1}.gguf`, region);
    return region;
  });
}

function greedy(engine) {
  engine.action("generate_start", { prompt: PROMPT, sampling: { temperature: 0 } });
  const ids = [];
  for (let i = 0; i < 8; i++) ids.push(engine.action("step", {}).token);
  engine.action("generate_end");
  return ids;
}

for (const variant of VARIANTS) {
  test(`${variant}: SHA-256 over spans of linear memory matches node's`, async () => {
    const engine = await startVariant(variant);
    for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 3 << 20]) {
      const bytes = randomBytes(n);
      assert.equal(hashInSpans(engine, bytes), createHash("sha256").update(bytes).digest("hex"), `${n} bytes`);
    }
    assert.equal(hashInSpans(engine, PARTS[1]), createHash("sha256").update(PARTS[1]).digest("hex"));
    assert.throws(() => engine.action("hash_update", { hash: 12345, ptr: 0, size: 0 }), { code: "bad_request" });
  });

  test(`${variant}: a split model loads from its parts like the whole file`, async () => {
    const engine = await startVariant(variant);
    const whole = expose(engine, [MODEL]);
    engine.action("load", { path: "/part-1.gguf", n_ctx: 256, n_threads: engine.threads, mmap: true });
    const expected = greedy(engine);
    engine.action("unload");
    whole.forEach((r) => engine.freeBytes(r));
    engine.module.FS.unlink("/part-1.gguf");

    const regions = expose(engine, PARTS);
    const paths = PARTS.map((_, i) => `/part-${i + 1}.gguf`);
    const bad = [[paths[1], paths[0], paths[2]], [paths[0], paths[2]], [paths[0], paths[1], "/nowhere.gguf"]];
    const codes = bad.map((p) => {
      try {
        engine.action("load", { paths: p, n_ctx: 256, n_threads: engine.threads, mmap: true });
        return "loaded";
      } catch (e) {
        return e.code;
      }
    });
    assert.deepEqual(codes, ["split_mismatch", "split_mismatch", "file_not_found"]);
    const r = engine.action("load", { paths, n_ctx: 256, n_threads: engine.threads, mmap: true });
    assert.equal(r.info.file_size, PARTS.reduce((n, p) => n + p.length, 0));
    assert.deepEqual(greedy(engine), expected);
    engine.action("unload");
    regions.forEach((x) => engine.freeBytes(x));
  });
}

test("the cache checksum is the same over any chunking and changes with any one word", async () => {
  const engine = await startVariant("wasm32-st");
  const digest = (bytes, spans) => {
    const region = engine.copyIn(bytes);
    const h = engine.beginHash("checksum");
    let at = 0;
    while (at < bytes.length) {
      const n = Math.min(bytes.length - at, spans());
      h.update(region.ptr + at, n);
      at += n;
    }
    const hex = h.end();
    engine.freeBytes(region);
    return hex;
  };
  const bytes = randomBytes(1 << 20);
  const whole = digest(bytes, () => 1 << 30);
  assert.match(whole, /^[0-9a-f]{32}$/);
  assert.equal(digest(bytes, () => 1 + Math.floor(Math.random() * 5000)), whole);
  // Every one-bit change is seen, and different changes give different checksums:
  // top bits of words in particular (plain FNV-1a would map all of a lane's to one).
  const seen = new Set([whole]);
  const flips = new Set();
  for (let i = 0; flips.size < 200; i++) {
    const at = i < 64 ? i * 4 * 16 * 9 + 3 : Math.floor(Math.random() * bytes.length); // 64 top bits of lane 0
    const bit = i < 64 ? 7 : i % 8;
    if (flips.has(at * 8 + bit)) continue;
    flips.add(at * 8 + bit);
    const changed = Buffer.from(bytes);
    changed[at] ^= 1 << bit;
    seen.add(digest(changed, () => 1 << 30));
  }
  assert.equal(seen.size, 201, "two different one-bit changes gave the same checksum, or one none");
  // Length matters even where the extra bytes are zeros (the last block is zero-padded).
  const padded = Buffer.concat([bytes, Buffer.alloc(7)]);
  assert.notEqual(digest(padded, () => 1 << 30), whole);
  assert.throws(() => engine.action("hash_begin", { kind: "md5" }), { code: "bad_request" });
});
