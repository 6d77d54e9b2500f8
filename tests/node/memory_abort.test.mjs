// memory64 beyond 4 GiB, and cancellation from another thread mid-prefill.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Worker } from "node:worker_threads";

import { env, startVariant, VARIANTS } from "./helpers.mjs";

const GiB = 1024 ** 3;

test("wasm64-mt allocates and touches more than 4 GiB", async () => {
  const engine = await startVariant("wasm64-mt");
  const want = 4.5 * GiB;
  const r = engine.action("probe_memory", { bytes: want, chunk: 512 * 1024 ** 2 });
  assert.equal(r.pointer_bits, 64);
  assert.equal(r.touched, want, `only ${r.touched} of ${want} bytes could be allocated`);
  assert.ok(r.highest_address > 4 * GiB, `highest address ${r.highest_address} is below 4 GiB`);
});

test("wasm32-st runs out of address space cleanly at 4 GiB", async () => {
  const engine = await startVariant("wasm32-st");
  const r = engine.action("probe_memory", { bytes: 4.5 * GiB, chunk: 512 * 1024 ** 2 });
  assert.ok(r.touched < 4 * GiB && r.touched >= 2 * GiB, `touched ${r.touched}`);
  assert.equal(engine.action("build_info").pointer_bits, 32, "module alive after malloc failed");
});

// The flag lives in the module's SharedArrayBuffer: a second thread stores to it
// while the main thread is inside a long prefill, and llama.cpp's abort callback
// must see it between graph nodes.
const SETTER = `
  const { workerData } = require("node:worker_threads");
  const flag = new Int32Array(workerData.buffer);
  const done = new Int32Array(workerData.done);
  // Let the prefill get going (a flag set before it starts stops it at once), then set
  // it again and again until told to stop: the prefill must see it between graph nodes.
  Atomics.wait(done, 0, 0, 300);
  while (Atomics.load(done, 0) === 0) {
    Atomics.store(flag, workerData.index, 1);
    Atomics.wait(done, 0, 0, 1);
  }
`;

for (const variant of VARIANTS.filter((v) => v.endsWith("-mt"))) {  // the threaded ones
  test(`${variant}: abort flag set from another thread stops a prefill; the model still works`, async () => {
    const engine = await startVariant(variant);
    engine.action("load", { path: engine.hostPath(env("PLM_MODEL")), n_ctx: 2048, n_threads: engine.threads });
    const prompt = "The quick brown fox jumps over the lazy dog. ".repeat(150);
    const { buffer, index } = engine.abortFlag;
    assert.ok(buffer instanceof SharedArrayBuffer);
    const done = new SharedArrayBuffer(4);
    const worker = new Worker(SETTER, { eval: true, workerData: { buffer, index, done } });
    await new Promise((resolve) => worker.once("online", resolve));
    const t0 = performance.now();
    const r = engine.actionRaw("generate_start", { prompt, sampling: { temperature: 0 } });
    const ms = performance.now() - t0;
    Atomics.store(new Int32Array(done), 0, 1);
    await worker.terminate();
    assert.equal(r.ok, false, "prefill should have been cancelled");
    assert.equal(r.code, "aborted", r.message);
    // Full prefill of ~1500 tokens takes seconds; cancelled it ends early.
    console.log(`${variant}: prefill cancelled after ${ms.toFixed(0)} ms`);
    engine.setAbort(false);
    engine.action("generate_start", { prompt: "Paris is the capital of", sampling: { temperature: 0 } });
    assert.ok(engine.action("step", {}).token >= 0);
  });
}
