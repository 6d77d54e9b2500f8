// Flash attention's one-query-row path (every decoded token) over the F16 KV cache, for
// WebAssembly: called by ggml_compute_forward_flash_attn_ext_f16_one_chunk
// (recipes/patches/ggml-wasm-attention.patch).
//
// Why: x86 converts F16 in hardware (F16C), WebAssembly in software (about a dozen
// operations per four values, each way). ggml's path keeps Q and the running V sum
// in F16, so every cache row costs a conversion of Q, of K, of V, and a load-convert
// and convert-store of the sum; with SmolLM2 at 200 cached tokens that was a fifth of
// decode time, two fifths at 500.
//
// Here Q and the sum live in F32 lanes but hold F16 values: plm_round_f16 rounds them
// exactly as an F16 store and load would (ties to even, F16 subnormals, overflow to
// infinity) at the same points as ggml. The results are therefore ggml's bits, not
// merely close to them: an F32 sum (tried first) moved greedy near-ties that native
// llama.cpp, which rounds the sum to F16 too, does not. The dot product keeps ggml's
// summation order (four accumulators of four lanes, the same reduction, the tail in
// double) for the same reason. Every step is a plain multiply then add, never a fused or
// relaxed one, so every engine gives the same bits; plm-kernel-test checks each kernel
// and the whole op against ggml's own functions bit for bit.

#if defined(__wasm_simd128__)

#define GGML_COMMON_DECL_C
#include "ggml-common.h"
#include "ggml-cpu-impl.h"
#include "simd-mappings.h"

#include <stdint.h>
#include <wasm_simd128.h>

#include "attention.h"

// Each lane rounded to the nearest F16 value, returned as F32: what
// __wasm_f16x4_load(__wasm_f16x4_store(y)) gives, for every non-NaN input (a zero
// may lose its sign).
static inline v128_t round_f16x4(v128_t y) {
    const v128_t a = wasm_f32x4_abs(y);
    // F16 normals: drop 13 of the 23 mantissa bits, ties to even; a carry moves the exponent.
    const v128_t odd = wasm_v128_and(wasm_u32x4_shr(y, 13), wasm_i32x4_splat(1));
    const v128_t normal = wasm_v128_and(wasm_i32x4_add(wasm_i32x4_add(y, wasm_i32x4_splat(0x0FFF)), odd),
                                        wasm_i32x4_splat((int32_t) 0xFFFFE000u));
    // F16 subnormals (below 2^-14): multiples of 2^-24; in [0.5, 1) a float's step is 2^-24.
    const v128_t sub = wasm_f32x4_sub(wasm_f32x4_add(y, wasm_f32x4_splat(0.75f)), wasm_f32x4_splat(0.75f));
    const v128_t r = wasm_v128_bitselect(sub, normal, wasm_f32x4_lt(a, wasm_f32x4_splat(0x1.0p-14f)));
    // From halfway past the largest F16 (65504) up: infinity of the same sign.
    const v128_t inf = wasm_v128_or(wasm_v128_and(y, wasm_i32x4_splat((int32_t) 0x80000000u)),
                                    wasm_f32x4_splat(__builtin_inff()));
    return wasm_v128_bitselect(inf, r, wasm_f32x4_ge(a, wasm_f32x4_splat(65520.0f)));
}

static inline float round_f16(float y) {
    return GGML_CPU_FP16_TO_FP32(GGML_CPU_FP32_TO_FP16(y));
}

// y[i] = x[i] rounded to F16 (Q, once per query row: ggml converts it to F16 for the dot).
void plm_round_f16(int64_t n, float * y, const float * x) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        wasm_v128_store(y + i, round_f16x4(wasm_v128_load(x + i)));
    }
    for (; i < n; i++) {
        y[i] = round_f16(x[i]);
    }
}

// ggml_vec_dot_f16(x, y) with y given as F16 values in F32 lanes: the products of two F16
// values are exact in F32, so only the order of the additions matters, and it is ggml's.
float plm_dot_f16_f32(int64_t n, const ggml_fp16_t * x, const float * y) {
    v128_t a0 = wasm_f32x4_splat(0.0f), a1 = a0, a2 = a0, a3 = a0;
    const int64_t np = n & ~(int64_t) 15;
    for (int64_t i = 0; i < np; i += 16) {
        a0 = wasm_f32x4_add(wasm_f32x4_mul(__wasm_f16x4_load(x + i), wasm_v128_load(y + i)), a0);
        a1 = wasm_f32x4_add(wasm_f32x4_mul(__wasm_f16x4_load(x + i + 4), wasm_v128_load(y + i + 4)), a1);
        a2 = wasm_f32x4_add(wasm_f32x4_mul(__wasm_f16x4_load(x + i + 8), wasm_v128_load(y + i + 8)), a2);
        a3 = wasm_f32x4_add(wasm_f32x4_mul(__wasm_f16x4_load(x + i + 12), wasm_v128_load(y + i + 12)), a3);
    }
    const v128_t a = wasm_f32x4_add(wasm_f32x4_add(a0, a2), wasm_f32x4_add(a1, a3));
    double sum = (double) (((wasm_f32x4_extract_lane(a, 0) + wasm_f32x4_extract_lane(a, 1)) +
                            wasm_f32x4_extract_lane(a, 2)) + wasm_f32x4_extract_lane(a, 3));
    for (int64_t i = np; i < n; i++) {
        sum += (double) (GGML_CPU_FP16_TO_FP32(x[i]) * y[i]);
    }
    return (float) sum;
}

// ggml_vec_mad_f16 on a sum kept in F32 lanes: y[i] = f16(y[i] + f32(x[i]) * v).
void plm_mad_f16_f32(int64_t n, float * y, const ggml_fp16_t * x, float v) {
    const v128_t vv = wasm_f32x4_splat(v);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const v128_t p = wasm_f32x4_mul(__wasm_f16x4_load(x + i), vv);
        wasm_v128_store(y + i, round_f16x4(wasm_f32x4_add(p, wasm_v128_load(y + i))));
    }
    for (; i < n; i++) {
        y[i] = round_f16(y[i] + GGML_CPU_FP16_TO_FP32(x[i]) * v);
    }
}

// ggml_vec_scale_f16 on a sum kept in F32 lanes: y[i] = f16(y[i] * v) (a new maximum).
void plm_scale_f16_f32(int64_t n, float * y, float v) {
    const v128_t vv = wasm_f32x4_splat(v);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        wasm_v128_store(y + i, round_f16x4(wasm_f32x4_mul(wasm_v128_load(y + i), vv)));
    }
    for (; i < n; i++) {
        y[i] = round_f16(y[i] * v);
    }
}

#endif
