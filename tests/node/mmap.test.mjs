// Models loaded the way the worker loads them: the file's bytes already sit in
// linear memory (allocRegion + exposeAsFile) and llama.cpp maps them in place.
//
// Checks, per variant: the weights are not copied (while loading, malloc's bytes in
// use grow by at least a model's size less than with mmap off; both include the
// KV cache and compute buffers), the
// greedy tokens are the same either way, and unload + free + load again works
// (emscripten's munmap of such a mapping must not disturb anything).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { env, startVariant, VARIANTS } from "./helpers.mjs";

const MODEL = readFileSync(env("PLM_MODEL"));
const PROMPT = "The three primary colours are";

function heapInUse(engine) {
  return engine.action("heap_stats").in_use;
}

function loadInPlace(engine, mmap) {
  const region = engine.allocRegion(MODEL.length);
  engine.heapU8.set(MODEL, region.ptr);
  engine.exposeAsFile("/model.gguf", region);
  const before = heapInUse(engine);
  try {
    engine.action("load", { path: "/model.gguf", n_ctx: 256, n_threads: engine.threads, mmap });
  } finally {
    engine.module.FS.unlink("/model.gguf");
  }
  return { region, grew: heapInUse(engine) - before };
}

function greedy(engine, n = 8) {
  engine.action("generate_start", { prompt: PROMPT, sampling: { temperature: 0, ignore_eos: true } });
  const ids = [];
  for (let i = 0; i < n; i++) ids.push(engine.action("step", {}).token);
  engine.action("generate_end");
  return ids;
}

for (const variant of VARIANTS) {
  test(`${variant}: a model in linear memory is mapped in place, not copied`, async () => {
    const mapped = await startVariant(variant);
    const m = loadInPlace(mapped, true);
    const copied = await startVariant(variant);
    const c = loadInPlace(copied, false);
    console.log(`# ${variant}: heap in use grew ${(m.grew / 2 ** 20).toFixed(0)} MiB mapped, ` +
                `${(c.grew / 2 ** 20).toFixed(0)} MiB copied (model ${(MODEL.length / 2 ** 20).toFixed(0)} MiB)`);
    assert.ok(c.grew - m.grew >= MODEL.length * 0.9,
              `mapped load grew ${m.grew} bytes, copying load ${c.grew}: the mapped weights were copied`);
    const ids = greedy(mapped);
    assert.deepEqual(ids, greedy(copied));

    // Unload, release the bytes, and load again: the mapping's teardown is clean.
    mapped.action("unload");
    mapped.freeBytes(m.region);
    const again = loadInPlace(mapped, true);
    assert.deepEqual(greedy(mapped), ids);
    mapped.action("unload");
    mapped.freeBytes(again.region);
    copied.action("unload");
    copied.freeBytes(c.region);
  });
}
