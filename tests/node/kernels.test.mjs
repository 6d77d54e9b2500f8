// The dot-product kernels each variant really uses agree with ggml's scalar path.
//
// plm-kernel-test (wasm/kernels/kernel_test.c, built with every variant) quantizes
// random and extreme rows with ggml's reference quantizers and prints the kernel's
// and the scalar path's result. In the relaxed-SIMD variants the kernels are ours
// (wasm/kernels/relaxed_dot.c); elsewhere they are ggml's SIMD128 ones.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

import { env, VARIANTS } from "./helpers.mjs";

const TYPES = ["q4_0", "q4_1", "q5_0", "q8_0", "q4_K", "q6_K"];
// Types whose kernel takes a 2 x 2 tile in relaxed-SIMD builds (ggml's .nrows = 2 there).
const TILED = ["q4_0", "q4_1", "q5_0", "q8_0", "q4_K", "q6_K"];
// The variants compiled with -mrelaxed-simd (pyodide_llm/_variants.py, handed over by the recipe).
const RELAXED_VARIANTS = env("PLM_RELAXED_VARIANTS").split(",");

function kernelTest(variant) {
  const entry = env("PLM_KERNEL_TESTS").split(",").find((e) => e.startsWith(variant + "="));
  assert.ok(entry, `no kernel test for ${variant} in PLM_KERNEL_TESTS`);
  const r = spawnSync(process.execPath, [entry.slice(variant.length + 1)], { encoding: "utf8", timeout: 300_000 });
  assert.equal(r.status, 0, `kernel test of ${variant} failed: ${r.stderr}`);
  return r.stdout.trim().split("\n").map((l) => JSON.parse(l));
}

for (const variant of VARIANTS) {
  test(`${variant}: quantized dot products match ggml's scalar path`, () => {
    const rows = kernelTest(variant);
    const checks = rows.filter((r) => "got" in r);
    for (const t of TYPES) {
      assert.ok(checks.filter((r) => r.type === t).length >= 50, `too few checks of ${t}`);
    }
    for (const r of checks) {
      // Both sides sum the same integers exactly; only the float accumulation order
      // differs, so the error is a few ulps of the terms' total size.
      const tol = 1e-5 * Math.max(r.scale, 1e-3);
      assert.ok(Math.abs(r.got - r.want) <= tol,
                `${variant} ${r.type} n=${r.n} ${r.case}: kernel ${r.got} vs scalar ${r.want} (scale ${r.scale})`);
    }
    // Activations are quantized like ggml's reference (round to nearest; ggml's wasm
    // quantizers truncated until recipes/patches/ggml-wasm-kernels.patch).
    const quantizers = rows.filter((r) => "quantizer" in r);
    assert.deepEqual(quantizers.map((r) => r.quantizer), ["q8_0", "q8_1"]);
    for (const r of quantizers) assert.equal(r.mismatch, 0, `${variant} ${r.quantizer}: ${r.mismatch} of ${r.bytes} bytes differ`);
    // ggml's F16 vector load/store (flash attention over the F16 KV cache) runs in SIMD
    // (the patch) and gives exactly its scalar conversions' bits.
    const f16 = rows.find((r) => r.f16_vectors);
    assert.ok(f16 && f16.loads === 65536 && f16.stores > 1_000_000, `${variant}: F16 conversions not checked`);
    assert.equal(f16.load_mismatch, 0, `${variant}: ${f16.load_mismatch} halves load differently`);
    assert.equal(f16.store_mismatch, 0, `${variant}: ${f16.store_mismatch} of ${f16.stores} floats store differently`);
    // Flash attention over the F16 KV cache (wasm/kernels/attention.c, every wasm build):
    // Q and the running V sum live in F32 lanes but are rounded where ggml rounds them, so
    // the kernels and the whole op must give ggml's F16 path's bits exactly (one query row:
    // what decoding a token runs; 700 cached rows: the split path; three rows: a short
    // prompt; head sizes 64, 128 and 70, which leaves scalar tails).
    const round = rows.find((r) => r.attn_round);
    assert.ok(round && round.values > 1_000_000, `${variant}: F16 rounding in F32 lanes not checked`);
    assert.equal(round.mismatch, 0, `${variant}: ${round.mismatch} of ${round.values} floats round unlike ggml's F16`);
    const attnKernels = rows.filter((r) => "attn_kernel" in r);
    assert.equal(attnKernels.length, 30, `${variant}: attention kernels not checked`);
    for (const r of attnKernels) {
      assert.ok(r.checks > 0, `${variant} attention ${r.attn_kernel} n=${r.n}: nothing checked`);
      assert.equal(r.mismatch, 0, `${variant} attention ${r.attn_kernel} n=${r.n}: ${r.mismatch} of ${r.checks} differ from ggml's`);
    }
    const attnOps = rows.filter((r) => r.attn_op);
    assert.deepEqual(attnOps.map((r) => `${r.d}:${r.n_q}x${r.n_kv}`),
                     ["64:1x7", "64:1x300", "64:1x700", "64:3x300", "128:1x300", "70:1x50"]);
    for (const r of attnOps) {
      assert.equal(r.mismatch, 0, `${variant} flash attention d=${r.d} ${r.n_q}x${r.n_kv}: ${r.mismatch} outputs differ from ggml's F16 path`);
      // And it is attention: with V values in [-1, 1], the F16 rounding of the running sum
      // (ggml's own, bit for bit) leaves the outputs within a few thousandths of attention
      // computed in double (measured: 5.6e-4 to 1.9e-3).
      assert.ok(r.max_err_double <= 5e-3,
                `${variant} flash attention d=${r.d} ${r.n_q}x${r.n_kv}: off by ${r.max_err_double} (outputs to ${r.max_abs})`);
      console.log(`# ${variant} flash attention d=${r.d} ${r.n_q}x${r.n_kv}: ggml's bits; ` +
                  `${r.max_err_double.toExponential(2)} from double on outputs up to ${r.max_abs.toFixed(3)}`);
    }
    // Relaxed-SIMD builds: the 2 x 2 tile (two weight rows, two activation columns) gives
    // exactly the one-row kernel's results, so a row decoded in a batch equals it decoded alone.
    const tiles = rows.filter((x) => "tile" in x);
    assert.deepEqual(tiles.map((r) => r.tile), RELAXED_VARIANTS.includes(variant) ? TILED : [],
                     `${variant}: tiles checked`);
    for (const r of tiles) {
      assert.equal(r.equal, true, `${variant} ${r.tile}: the 2x2 tile differs from four one-row dots`);
      console.log(`# ${variant} ${r.tile} 2x2 tile: ${r.tile_ns_per_block} ns per block and output, ` +
                  `four one-row calls ${r.four_ns_per_block} ns`);
    }
    for (const r of rows.filter((x) => "ns_per_block" in x)) {
      const vs = r.simd128_ns_per_block ? `, SIMD128 ${r.simd128_ns_per_block} ns` : "";
      const mvs = r.simd128_matrix_ns_per_block ? ` (SIMD128 ${r.simd128_matrix_ns_per_block} ns)` : "";
      console.log(`# ${variant} ${r.type}: ${r.ns_per_block} ns per ${r.block} weights${vs}, ` +
                  `scalar ${r.generic_ns_per_block} ns; over a 32,768-row matrix ${r.matrix_ns_per_block} ns${mvs}`);
    }
  });
}
