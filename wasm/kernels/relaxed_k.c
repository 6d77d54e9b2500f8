// Relaxed-SIMD dot products of the K-quants people ship (Q4_K, Q6_K against
// Q8_K activations), one row and 2 x 2 tiles, replacing ggml's SIMD128 versions
// in -mrelaxed-simd builds (the patch renames those *_simd128).
//
// Why: the same as relaxed_dot.c (one i8 x i7 multiply-add instead of widening
// every lane); the weights are arranged to be unsigned and small (4-bit values,
// or 6-bit ones with the -32 offset applied through Q8_K's block sums). The tile
// (ggml's nrc == 2: two weight rows x two activation columns) unpacks a weight
// block once for both columns. Both paths run the same per-output steps below in
// the same order, so a tile's outputs equal the one-row kernel's bit for bit and
// a row decoded in a batch gives the tokens it gives alone.

#if defined(__wasm_relaxed_simd__)

#define GGML_COMMON_DECL_C
#include "ggml-common.h"
#include "ggml-cpu-impl.h"
#include "quants.h"
#include "simd-mappings.h"

#include <assert.h>
#include <string.h>
#include <wasm_simd128.h>

static inline float hsum_f32(v128_t v) {
    return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) + wasm_f32x4_extract_lane(v, 2) +
           wasm_f32x4_extract_lane(v, 3);
}

// 16 products of a (int8) and b (0..127) summed in pairs into eight int16 lanes.
#define DOT16(a, b) wasm_i16x8_relaxed_dot_i8x16_i7x16((a), (b))

// ---- Q4_K ----------------------------------------------------------------

// The eight 6-bit scales (bytes 0-7) and mins (bytes 8-15) of a block, in the layout
// of ggml's get_scale_min_k4.
static inline void q4_K_scales(const block_q4_K * x, uint32_t u[4]) {
    memcpy(u, x->scales, 12);
    u[3] = ((u[2] >> 4) & 0x0f0f0f0f) | (((u[1] >> 6) & 0x03030303) << 4);
    const uint32_t t = u[1] & 0x3f3f3f3f;
    u[1] = (u[2] & 0x0f0f0f0f) | (((u[0] >> 6) & 0x03030303) << 4);
    u[2] = t;
    u[0] &= 0x3f3f3f3f;
}

static inline int32_t q4_K_mins(const uint32_t u[4], const block_q8_K * y) {
    const uint8_t * mn = (const uint8_t *) &u[2];
    int32_t mins = 0;
    for (int k = 0; k < 8; ++k) {
        mins += mn[k] * (y->bsums[2 * k] + y->bsums[2 * k + 1]);
    }
    return mins;
}

// The nibbles of one 64-weight step: low ones are weights 0..31, high ones 32..63.
typedef struct {
    v128_t la, lb, ha, hb;
} q4_K_step_w;

static inline q4_K_step_w q4_K_nibbles(const uint8_t * q4) {
    const v128_t m4 = wasm_i8x16_splat(0x0F);
    const v128_t qa = wasm_v128_load(q4), qb = wasm_v128_load(q4 + 16);
    q4_K_step_w w = {wasm_v128_and(qa, m4), wasm_v128_and(qb, m4), wasm_u8x16_shr(qa, 4), wasm_u8x16_shr(qb, 4)};
    return w;
}

// acc plus one step's scaled products: at most 2*2*15*127 per int16 lane before the scale.
static inline v128_t q4_K_step(v128_t acc, const q4_K_step_w * w, const int8_t * q8, int s_lo, int s_hi) {
    const v128_t lo = wasm_i16x8_add(DOT16(wasm_v128_load(q8), w->la), DOT16(wasm_v128_load(q8 + 16), w->lb));
    const v128_t hi = wasm_i16x8_add(DOT16(wasm_v128_load(q8 + 32), w->ha), DOT16(wasm_v128_load(q8 + 48), w->hb));
    acc = wasm_i32x4_add(acc, wasm_i32x4_dot_i16x8(lo, wasm_i16x8_splat(s_lo)));
    return wasm_i32x4_add(acc, wasm_i32x4_dot_i16x8(hi, wasm_i16x8_splat(s_hi)));
}

static inline v128_t scale_add(v128_t accf, v128_t acc, float d) {
    return wasm_f32x4_add(accf, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(acc), wasm_f32x4_splat(d)));
}

__attribute__((noinline)) static void q4_K_tile(int nb, float * GGML_RESTRICT s, size_t bs,
                                                const block_q4_K * GGML_RESTRICT x0, const block_q4_K * GGML_RESTRICT x1,
                                                const block_q8_K * GGML_RESTRICT y0, const block_q8_K * GGML_RESTRICT y1) {
    v128_t f00 = wasm_f32x4_splat(0.0f), f10 = f00, f01 = f00, f11 = f00;
    float m00 = 0.0f, m10 = 0.0f, m01 = 0.0f, m11 = 0.0f;
    for (int i = 0; i < nb; ++i) {
        uint32_t u0[4], u1[4];
        q4_K_scales(&x0[i], u0);
        q4_K_scales(&x1[i], u1);
        const uint8_t * sc0 = (const uint8_t *) &u0[0];
        const uint8_t * sc1 = (const uint8_t *) &u1[0];
        const float dm0 = GGML_CPU_FP16_TO_FP32(x0[i].dmin), dm1 = GGML_CPU_FP16_TO_FP32(x1[i].dmin);
        m00 += dm0 * y0[i].d * (float) q4_K_mins(u0, &y0[i]);
        m10 += dm1 * y0[i].d * (float) q4_K_mins(u1, &y0[i]);
        m01 += dm0 * y1[i].d * (float) q4_K_mins(u0, &y1[i]);
        m11 += dm1 * y1[i].d * (float) q4_K_mins(u1, &y1[i]);
        v128_t a00 = wasm_i32x4_splat(0), a10 = a00, a01 = a00, a11 = a00;
        for (int j = 0; j < QK_K / 64; ++j) {
            const q4_K_step_w w0 = q4_K_nibbles(x0[i].qs + 32 * j), w1 = q4_K_nibbles(x1[i].qs + 32 * j);
            const int8_t * q0 = y0[i].qs + 64 * j;
            const int8_t * q1 = y1[i].qs + 64 * j;
            a00 = q4_K_step(a00, &w0, q0, sc0[2 * j], sc0[2 * j + 1]);
            a10 = q4_K_step(a10, &w1, q0, sc1[2 * j], sc1[2 * j + 1]);
            a01 = q4_K_step(a01, &w0, q1, sc0[2 * j], sc0[2 * j + 1]);
            a11 = q4_K_step(a11, &w1, q1, sc1[2 * j], sc1[2 * j + 1]);
        }
        const float d0 = GGML_CPU_FP16_TO_FP32(x0[i].d), d1 = GGML_CPU_FP16_TO_FP32(x1[i].d);
        f00 = scale_add(f00, a00, d0 * y0[i].d);
        f10 = scale_add(f10, a10, d1 * y0[i].d);
        f01 = scale_add(f01, a01, d0 * y1[i].d);
        f11 = scale_add(f11, a11, d1 * y1[i].d);
    }
    s[0] = hsum_f32(f00) - m00;
    s[1] = hsum_f32(f10) - m10;
    s[bs] = hsum_f32(f01) - m01;
    s[bs + 1] = hsum_f32(f11) - m11;
}

void ggml_vec_dot_q4_K_q8_K(int n, float * GGML_RESTRICT s, size_t bs, const void * GGML_RESTRICT vx, size_t bx,
                            const void * GGML_RESTRICT vy, size_t by, int nrc) {
    assert(n % QK_K == 0 && (nrc == 1 || nrc == 2));
    const int nb = n / QK_K;
    const block_q4_K * GGML_RESTRICT x = vx;
    const block_q8_K * GGML_RESTRICT y = vy;
    if (nrc == 2) {
        q4_K_tile(nb, s, bs, x, (const block_q4_K *) ((const uint8_t *) vx + bx), y,
                  (const block_q8_K *) ((const uint8_t *) vy + by));
        return;
    }
    v128_t accf = wasm_f32x4_splat(0.0f);
    float sum_mins = 0.0f;
    for (int i = 0; i < nb; ++i) {
        uint32_t u[4];
        q4_K_scales(&x[i], u);
        const uint8_t * sc = (const uint8_t *) &u[0];
        sum_mins += GGML_CPU_FP16_TO_FP32(x[i].dmin) * y[i].d * (float) q4_K_mins(u, &y[i]);
        v128_t acc = wasm_i32x4_splat(0);
        for (int j = 0; j < QK_K / 64; ++j) {
            const q4_K_step_w w = q4_K_nibbles(x[i].qs + 32 * j);
            acc = q4_K_step(acc, &w, y[i].qs + 64 * j, sc[2 * j], sc[2 * j + 1]);
        }
        accf = scale_add(accf, acc, GGML_CPU_FP16_TO_FP32(x[i].d) * y[i].d);
    }
    *s = hsum_f32(accf) - sum_mins;
}

// ---- Q6_K ----------------------------------------------------------------

// The unsigned 6-bit weights (0..63) of one 128-weight step: low 4 bits from ql, bits 4-5
// from a 2-bit field of qh, moved into place with 16-bit shifts (the 0x30 mask drops what
// crossed a byte).
typedef struct {
    v128_t w[8];
} q6_K_step_w;

static inline q6_K_step_w q6_K_weights(const uint8_t * ql, const uint8_t * qh) {
    const v128_t m4 = wasm_i8x16_splat(0x0F), m2 = wasm_i8x16_splat(0x30);
    const v128_t l0 = wasm_v128_load(ql), l1 = wasm_v128_load(ql + 16);
    const v128_t l2 = wasm_v128_load(ql + 32), l3 = wasm_v128_load(ql + 48);
    const v128_t h0 = wasm_v128_load(qh), h1 = wasm_v128_load(qh + 16);
    q6_K_step_w s = {{
        wasm_v128_or(wasm_v128_and(l0, m4), wasm_v128_and(wasm_i16x8_shl(h0, 4), m2)),
        wasm_v128_or(wasm_v128_and(l1, m4), wasm_v128_and(wasm_i16x8_shl(h1, 4), m2)),
        wasm_v128_or(wasm_v128_and(l2, m4), wasm_v128_and(wasm_i16x8_shl(h0, 2), m2)),
        wasm_v128_or(wasm_v128_and(l3, m4), wasm_v128_and(wasm_i16x8_shl(h1, 2), m2)),
        wasm_v128_or(wasm_u8x16_shr(l0, 4), wasm_v128_and(h0, m2)),
        wasm_v128_or(wasm_u8x16_shr(l1, 4), wasm_v128_and(h1, m2)),
        wasm_v128_or(wasm_u8x16_shr(l2, 4), wasm_v128_and(wasm_u16x8_shr(h0, 2), m2)),
        wasm_v128_or(wasm_u8x16_shr(l3, 4), wasm_v128_and(wasm_u16x8_shr(h1, 2), m2)),
    }};
    return s;
}

// acc plus one step: 16 weights per scale, at most 2*63*127 per int16 lane.
static inline v128_t q6_K_step(v128_t acc, const q6_K_step_w * w, const int8_t * q8, const int8_t * sc) {
    for (int g = 0; g < 8; ++g) {
        acc = wasm_i32x4_add(acc, wasm_i32x4_dot_i16x8(DOT16(wasm_v128_load(q8 + 16 * g), w->w[g]),
                                                       wasm_i16x8_splat(sc[g])));
    }
    return acc;
}

// The -32 offset: sum over groups of scale * 32 * (sum of that group's activations).
static inline v128_t q6_K_unbias(v128_t acc, const block_q6_K * x, const block_q8_K * y) {
    const v128_t s16 = wasm_v128_load(x->scales);
    const v128_t bias = wasm_i32x4_add(
        wasm_i32x4_dot_i16x8(wasm_v128_load(y->bsums), wasm_i16x8_extend_low_i8x16(s16)),
        wasm_i32x4_dot_i16x8(wasm_v128_load(y->bsums + 8), wasm_i16x8_extend_high_i8x16(s16)));
    return wasm_i32x4_sub(acc, wasm_i32x4_shl(bias, 5));
}

__attribute__((noinline)) static void q6_K_tile(int nb, float * GGML_RESTRICT s, size_t bs,
                                                const block_q6_K * GGML_RESTRICT x0, const block_q6_K * GGML_RESTRICT x1,
                                                const block_q8_K * GGML_RESTRICT y0, const block_q8_K * GGML_RESTRICT y1) {
    v128_t f00 = wasm_f32x4_splat(0.0f), f10 = f00, f01 = f00, f11 = f00;
    for (int i = 0; i < nb; ++i) {
        v128_t a00 = wasm_i32x4_splat(0), a10 = a00, a01 = a00, a11 = a00;
        for (int j = 0; j < QK_K / 128; ++j) {
            const q6_K_step_w w0 = q6_K_weights(x0[i].ql + 64 * j, x0[i].qh + 32 * j);
            const q6_K_step_w w1 = q6_K_weights(x1[i].ql + 64 * j, x1[i].qh + 32 * j);
            const int8_t * q0 = y0[i].qs + 128 * j;
            const int8_t * q1 = y1[i].qs + 128 * j;
            a00 = q6_K_step(a00, &w0, q0, x0[i].scales + 8 * j);
            a10 = q6_K_step(a10, &w1, q0, x1[i].scales + 8 * j);
            a01 = q6_K_step(a01, &w0, q1, x0[i].scales + 8 * j);
            a11 = q6_K_step(a11, &w1, q1, x1[i].scales + 8 * j);
        }
        const float d0 = GGML_CPU_FP16_TO_FP32(x0[i].d), d1 = GGML_CPU_FP16_TO_FP32(x1[i].d);
        f00 = scale_add(f00, q6_K_unbias(a00, &x0[i], &y0[i]), d0 * y0[i].d);
        f10 = scale_add(f10, q6_K_unbias(a10, &x1[i], &y0[i]), d1 * y0[i].d);
        f01 = scale_add(f01, q6_K_unbias(a01, &x0[i], &y1[i]), d0 * y1[i].d);
        f11 = scale_add(f11, q6_K_unbias(a11, &x1[i], &y1[i]), d1 * y1[i].d);
    }
    s[0] = hsum_f32(f00);
    s[1] = hsum_f32(f10);
    s[bs] = hsum_f32(f01);
    s[bs + 1] = hsum_f32(f11);
}

void ggml_vec_dot_q6_K_q8_K(int n, float * GGML_RESTRICT s, size_t bs, const void * GGML_RESTRICT vx, size_t bx,
                            const void * GGML_RESTRICT vy, size_t by, int nrc) {
    assert(n % QK_K == 0 && (nrc == 1 || nrc == 2));
    const int nb = n / QK_K;
    const block_q6_K * GGML_RESTRICT x = vx;
    const block_q8_K * GGML_RESTRICT y = vy;
    if (nrc == 2) {
        q6_K_tile(nb, s, bs, x, (const block_q6_K *) ((const uint8_t *) vx + bx), y,
                  (const block_q8_K *) ((const uint8_t *) vy + by));
        return;
    }
    v128_t accf = wasm_f32x4_splat(0.0f);
    for (int i = 0; i < nb; ++i) {
        v128_t acc = wasm_i32x4_splat(0);
        for (int j = 0; j < QK_K / 128; ++j) {
            const q6_K_step_w w = q6_K_weights(x[i].ql + 64 * j, x[i].qh + 32 * j);
            acc = q6_K_step(acc, &w, y[i].qs + 128 * j, x[i].scales + 8 * j);
        }
        accf = scale_add(accf, q6_K_unbias(acc, &x[i], &y[i]), GGML_CPU_FP16_TO_FP32(x[i].d) * y[i].d);
    }
    *s = hsum_f32(accf);
}

#endif  // __wasm_relaxed_simd__
