// Shared set-up of the WebGPU tests: the software GPU, and greedy runs to compare.
//
// They run in node 26 (JSPI without flags) inside the toolchain root with the
// environment of `make test-gpu` (recipes/build.py gputest): the node tier's
// PLM_* paths plus the rig's PLM_DAWN (Dawn's node binding) and VK_DRIVER_FILES
// (Mesa's lavapipe only).
import assert from "node:assert/strict";

import { env, startVariant, threadsFor } from "../node/helpers.mjs";

export const GPU_VARIANT = "wasm64-webgpu";
export const CPU_VARIANT = "wasm64-mt"; // the same build without the WebGPU backend
export const MODEL = env("PLM_MODEL");

let gpuObject = null;

/** Dawn's GPU object, made once: every engine of the test file shares the adapter. */
export async function softwareGpu() {
  if (!gpuObject) {
    const { create } = await import(env("PLM_DAWN"));
    gpuObject = create(JSON.parse(env("PLM_DAWN_OPTIONS")));
  }
  return gpuObject;
}

/** The WebGPU variant on the software GPU (or the CPU variant: gpu is then not given). */
export async function startEngine(variant = GPU_VARIANT) {
  return startVariant(variant, variant === GPU_VARIANT ? { gpu: await softwareGpu() } : {});
}

/** Load the test model; n_gpu_layers as the load request takes it (-1: all). */
export async function loadModel(engine, { n_gpu_layers = -1, n_ctx = 512, n_batch = 512, offload_kqv = true } = {}) {
  const r = await engine.action("load", {
    path: engine.hostPath(MODEL), n_ctx, n_batch, n_threads: threadsFor(CPU_VARIANT), n_gpu_layers, offload_kqv,
  });
  return r.info;
}

/** Greedy steps with the two best logits each: [{token, top: [[id, logit], [id, logit]]}]. */
export async function greedy(engine, prompt, n) {
  await engine.action("generate_start", { prompt, sampling: { temperature: 0, ignore_eos: true } });
  const steps = [];
  for (let i = 0; i < n; i++) {
    const s = await engine.action("step", { n_top: 2 });
    steps.push({ token: s.token, top: s.top });
  }
  await engine.action("generate_end");
  return steps;
}

/**
 * Compare greedy runs by the project's near-tie rule (tests/node/generate.test.mjs):
 * ids identical up to the first difference, at least minSame of them; while in
 * step, the chosen token's logit within logitTol; a difference must be the same
 * two best tokens swapped, with the reference's gap below tieGap.
 * Returns {same, maxDev, gap}: identical ids, the largest logit deviation in step, and
 * the reference's gap between its two best tokens where the runs part (null if they do not).
 */
export function compareGreedy(got, ref, { minSame, logitTol, tieGap }) {
  let same = got.findIndex((s, i) => s.token !== ref[i].token);
  if (same < 0) same = got.length;
  let maxDev = 0;
  for (let i = 0; i < same; i++) {
    const dev = Math.abs(got[i].top[0][1] - ref[i].top[0][1]);
    maxDev = Math.max(maxDev, dev);
    assert.ok(dev < logitTol, `step ${i}: logit ${got[i].top[0][1]} vs ${ref[i].top[0][1]} (tolerance ${logitTol})`);
  }
  if (same < got.length) {
    const g = got[same].top, r = ref[same].top;
    const detail = `step ${same}: top ${JSON.stringify(g)} vs reference ${JSON.stringify(r)}\n` +
      `got ${got.map((s) => s.token)}\nref ${ref.map((s) => s.token)}`;
    assert.ok(same >= minSame, `diverged too early: ${detail}`);
    assert.ok(g[0][0] === r[1][0] && g[1][0] === r[0][0], `not a swap of the same two tokens: ${detail}`);
    assert.ok(r[0][1] - r[1][1] < tieGap, `the reference's gap is not a near-tie: ${detail}`);
  }
  const gap = same < got.length ? ref[same].top[0][1] - ref[same].top[1][1] : null;
  return { same, maxDev, gap };
}
