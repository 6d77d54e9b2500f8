// Greedy generation in every variant against the native build of the same
// engine and llama.cpp source, on the same prompt.
//
// Float accumulation order differs between the wasm SIMD128 and native AVX
// kernels, so a near-tie between the two best logits may legitimately flip.
// The rule: ids must be identical up to the first step where they differ, and
// that step must be a near-tie in native's own logits (gap < TIE_GAP); anything
// else is a real divergence and fails.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { CHAT, env, N_GREEDY, runNative, startVariant, threadsFor, VARIANTS } from "./helpers.mjs";

const TIE_GAP = 0.1;
const MODEL = env("PLM_MODEL");

function nativeReference() {
  const [load, fmt] = runNative([
    ["load", { path: MODEL, n_ctx: 512, n_threads: 2 }],
    ["chat_format", { messages: CHAT }],
  ]);
  assert.ok(load.ok, load.message);
  const steps = runNative([
    ["load", { path: MODEL, n_ctx: 512, n_threads: 2 }],
    ["generate_start", { prompt: fmt.prompt, sampling: { temperature: 0, ignore_eos: true } }],
    ...Array.from({ length: N_GREEDY }, () => ["step", { n_top: 2 }]),
  ]).slice(2);
  return { prompt: fmt.prompt, steps };
}

const native = nativeReference();

test("native reference generated every step", () => {
  assert.equal(native.steps.length, N_GREEDY);
  for (const s of native.steps) assert.ok(s.ok, s.message);
  assert.ok(native.prompt.includes("<|im_start|>user"), "ChatML template from the GGUF metadata");
});

for (const variant of VARIANTS) {
  test(`${variant}: ${N_GREEDY} greedy tokens identical to native llama.cpp`, async () => {
    const engine = await startVariant(variant);
    const load = engine.action("load", { path: engine.hostPath(MODEL), n_ctx: 512, n_threads: threadsFor(variant) });
    assert.equal(load.info.architecture, "llama");
    const fmt = engine.action("chat_format", { messages: CHAT });
    assert.equal(fmt.prompt, native.prompt, "chat template renders identically");
    engine.action("generate_start", { prompt: fmt.prompt, sampling: { temperature: 0, ignore_eos: true } });
    const ids = [];
    let diverged = -1;
    for (let i = 0; i < N_GREEDY; i++) {
      const s = engine.action("step", { n_top: 2 });
      ids.push(s.token);
      assert.equal(s.eog, false, "ignore_eos keeps end-of-generation tokens out");
      if (diverged < 0 && s.token !== native.steps[i].token) diverged = i;
    }
    const nativeIds = native.steps.map((s) => s.token);
    if (diverged < 0) {
      assert.deepEqual(ids, nativeIds.slice(0, ids.length));
      assert.equal(ids.length, N_GREEDY);
    } else {
      const [[, a], [, b]] = native.steps[diverged].top;
      assert.ok(a - b < TIE_GAP,
        `step ${diverged}: wasm ${ids[diverged]} vs native ${nativeIds[diverged]} with a native logit gap of ` +
        `${(a - b).toFixed(3)} (not a near-tie)\nwasm   ${ids}\nnative ${nativeIds}`);
      assert.deepEqual(ids.slice(0, diverged), nativeIds.slice(0, diverged));
      console.log(`${variant}: near-tie flip at step ${diverged} (native gap ${(a - b).toFixed(4)})`);
    }
    const text = engine.action("detokenize", { tokens: ids }).text;
    assert.match(text, /Paris/);
    const t = engine.action("timings").timings;
    assert.equal(t.n_generated, ids.length);
    assert.ok(t.prefill_ms > 0 && t.decode_ms > 0);
    console.log(`${variant} (${threadsFor(variant)} threads): ${JSON.stringify(text)} ` +
      `prefill ${((t.n_prompt * 1000) / t.prefill_ms).toFixed(1)} tok/s, ` +
      `decode ${((t.n_generated * 1000) / t.decode_ms).toFixed(1)} tok/s`);
  });
}

test("wasm32-st: model bytes handed over in linear memory load like a file", async () => {
  const engine = await startVariant("wasm32-st");
  const region = engine.copyIn(readFileSync(MODEL));
  try {
    engine.action("load", { ptr: region.ptr, size: region.size, n_ctx: 256 });
  } finally {
    engine.freeBytes(region);  // the engine copied the tensors; the buffer is ours to free
  }
  const info = engine.action("info").info;
  assert.equal(info.file_size, region.size);
  assert.ok(info.n_params > 100e6 && info.n_params < 200e6, `n_params ${info.n_params}`);
  engine.action("generate_start", { prompt: native.prompt, sampling: { temperature: 0 } });
  const first = engine.action("step", {});
  assert.equal(first.token, native.steps[0].token);
});
