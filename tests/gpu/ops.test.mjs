// Per-op checks of the WebGPU backend against ggml's CPU backend, on small shapes,
// with llama.cpp's own test-backend-ops (the same source tree as the engine).
//
// The ops and types are those of the benchmark models' graphs: matrix products of
// Q4_0, Q4_1, Q4_K, Q6_K, Q8_0, F16 and F32 weights, rope, softmax, the norms,
// attention (flash attention, head size 64 as SmolLM2), row gathers and scatters,
// copies and element-wise ops. test-backend-ops compares each result with the CPU
// backend's by normalized mean squared error against its per-op tolerance.
// A case the WebGPU backend does not support is skipped by test-backend-ops (ggml's
// scheduler runs it on the CPU); each group must still run a real number of cases.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import process from "node:process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { env } from "../node/helpers.mjs";

const RUNNER = path.join(path.dirname(fileURLToPath(import.meta.url)), "backend_ops.mjs");
const BACKEND_OPS = env("PLM_BACKEND_OPS");

const GROUPS = [
  { name: "matrix products: Q4_0 Q4_1 Q4_K Q6_K Q8_0 F16 F32 weights", ops: "MUL_MAT", min: 50,
    params: String.raw`type_a=(q4_0|q4_1|q4_K|q6_K|q8_0|f16|f32),type_b=f32,m=\d+,n=(1|9|16|64|129),k=\d+,` +
      String.raw`bs=\[1,1\],nr=\[1,1\],per=\[0,1,2,3\]` },
  { name: "norms", ops: "RMS_NORM,NORM", min: 50, params: String.raw`type=f32` },
  { name: "rope", ops: "ROPE", min: 10, params: String.raw`type=f32,ne_a=\[64,.*mode=(0|2),.*v=0,inplace=0` },
  { name: "softmax", ops: "SOFT_MAX", min: 10, params: String.raw`type=f32,.*mask=1,.*max_bias=0.000000` },
  { name: "attention", ops: "FLASH_ATTN_EXT", min: 8,
    params: String.raw`hsk=64,hsv=64,.*kv=512,nb=(1|32),.*type_K=f16,type_V=f16,permute=\[0,1,2,3\]` },
  { name: "rows, copies and element-wise ops", ops: "GET_ROWS,SET_ROWS,CPY,CONT,ADD,MUL,SCALE,SWIGLU,SILU",
    min: 100, params: String.raw`type(_src)?=f32` },
];

for (const g of GROUPS) {
  test(`WebGPU vs CPU: ${g.name}`, () => {
    const args = [RUNNER, BACKEND_OPS, "test", "-b", "WebGPU", "-o", g.ops, "-p", g.params];
    const t0 = Date.now();
    const r = spawnSync(process.execPath, args, { encoding: "utf8", maxBuffer: 64 << 20, env: process.env });
    // eslint-disable-next-line no-control-regex
    const out = r.stdout.replace(/\x1b\[[0-9;]*m/g, "");
    const failed = out.split("\n").filter((l) => /: FAIL/.test(l));
    assert.deepEqual(failed, [], `failing cases:\n${failed.join("\n")}`);
    const m = out.match(/(\d+)\/(\d+) tests passed/);
    assert.ok(m, `no summary from test-backend-ops (status ${r.status}):\n${out.slice(-2000)}\n${r.stderr.slice(-2000)}`);
    const [passed, total] = [Number(m[1]), Number(m[2])];
    assert.equal(passed, total);
    assert.ok(total >= g.min, `only ${total} cases ran on WebGPU (expected >= ${g.min}): the filter or the backend changed`);
    assert.match(out, /Backend WebGPU: WebGPU: OK/);
    assert.equal(r.status, 0, r.stderr.slice(-2000));
    const skipped = (out.match(/not supported/g) || []).length;
    console.log(`${g.name}: ${passed}/${total} cases equal the CPU backend's within tolerance ` +
      `(${skipped} not supported on WebGPU: the CPU runs them), ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });
}
