// Log-probabilities: the step's logprobs (log-softmax of the model's logits) and the
// score action, against native llama.cpp from the same source.
import assert from "node:assert/strict";
import { test } from "node:test";

import { env, runNative, startVariant, threadsFor, VARIANTS } from "./helpers.mjs";

const MODEL = env("PLM_MODEL");
const TEXT = "The capital of France is Paris. It is known for the Eiffel Tower.";
// wasm's SIMD kernels and native's accumulate in other orders (generate.test.mjs: logits
// within 1.0). Measured here (SmolLM2, 15 tokens, 2026-12-06): per-token logprobs within
// 0.13 (wasm64-mt) and 0.17 (wasm32), totals within 0.13 of native's -31.47; the bound is
// about three times that.
const SCORE_TOL = 0.5;

const native = (() => {
  const [load, tok] = runNative([["load", { path: MODEL, n_ctx: 256, n_threads: 2 }],
    ["tokenize", { text: TEXT }]]);
  assert.ok(load.ok, load.message);
  const [, score] = runNative([["load", { path: MODEL, n_ctx: 256, n_threads: 2 }],
    ["score", { tokens: tok.tokens }]]);
  assert.ok(score.ok, score.message);
  return { tokens: tok.tokens, score };
})();

for (const variant of VARIANTS) {
  test(`${variant}: greedy tokens are the argmax of their logprobs; scores equal native llama.cpp's`, async () => {
    const engine = await startVariant(variant);
    await engine.action("load", { path: engine.hostPath(MODEL), n_ctx: 256, n_threads: threadsFor(variant) });
    await engine.action("generate_start", { prompt: "The capital of France is", sampling: { temperature: 0 } });
    for (let i = 0; i < 8; i++) {
      const s = await engine.action("step", { logprobs: 5 });
      if (s.eog) break;
      assert.equal(s.top_logprobs.length, 5);
      assert.equal(s.token, s.top_logprobs[0][0], "greedy picks the most probable token");
      assert.ok(Math.abs(s.logprob - s.top_logprobs[0][1]) < 1e-6 && s.logprob <= 0, JSON.stringify(s));
      const mass = s.top_logprobs.reduce((a, [, lp]) => a + Math.exp(lp), 0);
      assert.ok(mass <= 1 + 1e-5, `probabilities sum to ${mass}`);
    }
    await engine.action("generate_end");
    const r = await engine.action("score", { tokens: native.tokens });
    assert.equal(r.logprobs.length, native.tokens.length - 1);
    const dev = Math.max(...r.logprobs.map((lp, i) => Math.abs(lp - native.score.logprobs[i])));
    assert.ok(dev < SCORE_TOL, `max |logprob - native| ${dev}`);
    assert.ok(Math.abs(r.total - r.logprobs.reduce((a, b) => a + b, 0)) < 1e-3);
    console.log(`${variant}: score of ${r.logprobs.length} tokens, total ${r.total.toFixed(3)} ` +
      `(native ${native.score.total.toFixed(3)}), max per-token deviation ${dev.toFixed(4)}`);
    await assert.rejects(async () => engine.action("step", { logprobs: 99 }), (e) => e.code === "bad_request");
    await assert.rejects(async () => engine.action("score", { tokens: [1] }), (e) => e.code === "bad_request");
  });
}
