// The F16 parts of flash attention's one-query-row path (every decoded token) for
// WebAssembly, called by ggml's ggml_compute_forward_flash_attn_ext_f16_one_chunk
// (recipes/patches/ggml-wasm-attention.patch).
//
// Why: x86 converts F16 in hardware (F16C), WebAssembly in software, about ten
// operations per four values. ggml's path converts Q to F16 and then, per cache row,
// converts K, converts V, and loads, converts, multiply-adds and stores back an F16
// running sum; with SmolLM2 at 200 cached tokens that was a fifth of decode time,
// most of it at 500. Here Q stays F32, each K and V value is converted once, and the
// running sum is F32: fewer conversions, and no F16 rounding of the sum at every row.
//
// Both kernels use plain multiply then add (never a fused or relaxed multiply-add),
// so every engine gives the same bits; tests/node/kernels.test.mjs checks them against
// scalar loops over ggml's own F16 conversion (plm-kernel-test).

#if defined(__wasm_simd128__)

#define GGML_COMMON_DECL_C
#include "ggml-common.h"
#include "ggml-cpu-impl.h"
#include "simd-mappings.h"

#include <stdint.h>
#include <wasm_simd128.h>

float plm_dot_f16_f32(int64_t n, const ggml_fp16_t * x, const float * y);
void  plm_mad_f32_f16(int64_t n, float * y, const ggml_fp16_t * x, float v);

// sum(f32(x[i]) * y[i]); four independent sums keep the multiply-adds from waiting on each other.
float plm_dot_f16_f32(int64_t n, const ggml_fp16_t * x, const float * y) {
    v128_t a0 = wasm_f32x4_splat(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(__wasm_f16x4_load(x + i), wasm_v128_load(y + i)));
        a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(__wasm_f16x4_load(x + i + 4), wasm_v128_load(y + i + 4)));
        a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(__wasm_f16x4_load(x + i + 8), wasm_v128_load(y + i + 8)));
        a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(__wasm_f16x4_load(x + i + 12), wasm_v128_load(y + i + 12)));
    }
    for (; i + 4 <= n; i += 4) {
        a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(__wasm_f16x4_load(x + i), wasm_v128_load(y + i)));
    }
    const v128_t a = wasm_f32x4_add(wasm_f32x4_add(a0, a1), wasm_f32x4_add(a2, a3));
    float sum = (wasm_f32x4_extract_lane(a, 0) + wasm_f32x4_extract_lane(a, 1)) +
                (wasm_f32x4_extract_lane(a, 2) + wasm_f32x4_extract_lane(a, 3));
    for (; i < n; i++) {
        sum += GGML_CPU_FP16_TO_FP32(x[i]) * y[i];
    }
    return sum;
}

// y[i] += f32(x[i]) * v
void plm_mad_f32_f16(int64_t n, float * y, const ggml_fp16_t * x, float v) {
    const v128_t vv = wasm_f32x4_splat(v);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        wasm_v128_store(y + i, wasm_f32x4_add(wasm_v128_load(y + i), wasm_f32x4_mul(__wasm_f16x4_load(x + i), vv)));
        wasm_v128_store(y + i + 4,
                        wasm_f32x4_add(wasm_v128_load(y + i + 4), wasm_f32x4_mul(__wasm_f16x4_load(x + i + 4), vv)));
    }
    for (; i + 4 <= n; i += 4) {
        wasm_v128_store(y + i, wasm_f32x4_add(wasm_v128_load(y + i), wasm_f32x4_mul(__wasm_f16x4_load(x + i), vv)));
    }
    for (; i < n; i++) {
        y[i] += GGML_CPU_FP16_TO_FP32(x[i]) * v;
    }
}

#endif
