// Relaxed-SIMD dot products for the 4-bit types people ship (Q4_0, Q4_1; the
// K-quants are in relaxed_k.c), replacing ggml's SIMD128 versions in builds compiled with
// -mrelaxed-simd (recipes/patches/ggml-wasm-kernels.patch renames those to
// *_simd128 so they stay available for comparison).
//
// Why: ggml's wasm kernels widen every int8 lane to int16 before multiplying
// (eight extends and four i32x4.dot per 32 weights). The relaxed
// i8x16 x i7x16 dot products do the multiply-add of 16 byte pairs in one
// instruction (pmaddubsw/pmaddwd on x86, sdot on ARM). Their result is only
// defined for every engine when the second operand is in 0..127, so each
// kernel arranges for the weights side to be unsigned and small: 4-bit nibbles
// (0..15) or 6-bit values (0..63, the -32 offset applied afterwards through
// Q8_K's block sums). Q8_0 stays with ggml's kernel: moving the sign onto the
// activations (|x| * sign(x)y) costs more lanes than the widening it saves
// (measured 4.9 vs 3.2 ns per 32 weights in node 24 on Zen 4).
// tests/node/kernels.test.mjs checks every kernel against ggml's scalar path.

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

// Sum of the 16 products a[i] * b[i] (b in 0..127), as four i32 partial sums added to acc.
#define DOT_ADD(a, b, acc) wasm_i32x4_relaxed_dot_i8x16_i7x16_add((a), (b), (acc))

// One block of a 4-bit 2 x 2 tile (two weight rows x two activation columns, ggml's nrc == 2:
// s[0] = x0.y0, s[1] = x1.y0, s[bs] = x0.y1, s[bs + 1] = x1.y1): both rows' nibbles, unpacked
// once for both columns, and both columns' bytes, loaded once for both rows.
typedef struct {
    v128_t l[2], h[2];  // per weight row: low nibbles (weights 0..15), high nibbles (16..31)
    v128_t lo[2], hi[2];  // per activation column: bytes 0..15 and 16..31
} nibble_tile;

static inline nibble_tile load_nibble_tile(const uint8_t * q0, const uint8_t * q1, const int8_t * y0,
                                           const int8_t * y1) {
    const v128_t m4 = wasm_i8x16_splat(0x0F), a = wasm_v128_load(q0), b = wasm_v128_load(q1);
    nibble_tile t = {{wasm_v128_and(a, m4), wasm_v128_and(b, m4)}, {wasm_u8x16_shr(a, 4), wasm_u8x16_shr(b, 4)},
                     {wasm_v128_load(y0), wasm_v128_load(y1)}, {wasm_v128_load(y0 + 16), wasm_v128_load(y1 + 16)}};
    return t;
}

// The integer dot of weight row r and column c in one block, as the one-row kernels sum it.
static inline v128_t tile_dot(const nibble_tile * t, int r, int c) {
    return DOT_ADD(t->hi[c], t->h[r], DOT_ADD(t->lo[c], t->l[r], wasm_i32x4_splat(0)));
}

static inline v128_t scaled_add(v128_t acc, v128_t dot, float sc) {
    return wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(dot), wasm_f32x4_splat(sc)));
}

// The Q4_0 tile: the offset term (8 * sum y) is computed once per column for both rows. Every
// output is summed exactly as the one-row kernel sums it (the same two chains, even blocks on
// the first, the same order), so a row's result never depends on its neighbours.
__attribute__((noinline)) static void q4_0_q8_0_tile(int nb, float * GGML_RESTRICT s, size_t bs,
                                                     const block_q4_0 * GGML_RESTRICT x0,
                                                     const block_q4_0 * GGML_RESTRICT x1,
                                                     const block_q8_0 * GGML_RESTRICT y0,
                                                     const block_q8_0 * GGML_RESTRICT y1) {
    const v128_t eight = wasm_i8x16_splat(8), zero = wasm_i32x4_splat(0);
    v128_t acc[2][2][2];  // [row][column][chain]
    for (int k = 0; k < 8; k++) acc[k >> 2][(k >> 1) & 1][k & 1] = wasm_f32x4_splat(0.0f);
    for (int ib = 0; ib < nb; ib++) {
        const nibble_tile t = load_nibble_tile(x0[ib].qs, x1[ib].qs, y0[ib].qs, y1[ib].qs);
        const float dx[2] = {GGML_CPU_FP16_TO_FP32(x0[ib].d), GGML_CPU_FP16_TO_FP32(x1[ib].d)};
        const float dy[2] = {GGML_CPU_FP16_TO_FP32(y0[ib].d), GGML_CPU_FP16_TO_FP32(y1[ib].d)};
        for (int c = 0; c < 2; c++) {
            const v128_t o = DOT_ADD(t.hi[c], eight, DOT_ADD(t.lo[c], eight, zero));
            for (int r = 0; r < 2; r++) {
                acc[r][c][ib & 1] = scaled_add(acc[r][c][ib & 1], wasm_i32x4_sub(tile_dot(&t, r, c), o), dx[r] * dy[c]);
            }
        }
    }
    for (int c = 0; c < 2; c++) {
        for (int r = 0; r < 2; r++) s[c * bs + r] = hsum_f32(wasm_f32x4_add(acc[r][c][0], acc[r][c][1]));
    }
}

void ggml_vec_dot_q4_0_q8_0(int n, float * GGML_RESTRICT s, size_t bs, const void * GGML_RESTRICT vx, size_t bx,
                            const void * GGML_RESTRICT vy, size_t by, int nrc) {
    assert(n % QK8_0 == 0 && (nrc == 1 || nrc == 2));
    const int nb = n / QK8_0;
    if (nrc == 2) {
        q4_0_q8_0_tile(nb, s, bs, vx, (const block_q4_0 *) ((const uint8_t *) vx + bx), vy,
                       (const block_q8_0 *) ((const uint8_t *) vy + by));
        return;
    }
    const block_q4_0 * GGML_RESTRICT x = vx;
    const block_q8_0 * GGML_RESTRICT y = vy;
    const v128_t m4 = wasm_i8x16_splat(0x0F), eight = wasm_i8x16_splat(8), zero = wasm_i32x4_splat(0);
    v128_t acc0 = wasm_f32x4_splat(0.0f), acc1 = acc0;  // two chains hide the add latency
#define BLOCK_Q4_0(ib, acc)                                                                                  \
    do {                                                                                                     \
        const v128_t q  = wasm_v128_load(x[ib].qs);                                                          \
        const v128_t y0 = wasm_v128_load(y[ib].qs), y1 = wasm_v128_load(y[ib].qs + 16);                      \
        /* sum y*(q-8) = sum y*q - sum y*8: both dot products keep the unsigned operand small */             \
        const v128_t d = DOT_ADD(y1, wasm_u8x16_shr(q, 4), DOT_ADD(y0, wasm_v128_and(q, m4), zero));        \
        const v128_t o = DOT_ADD(y1, eight, DOT_ADD(y0, eight, zero));                                       \
        const float sc = GGML_CPU_FP16_TO_FP32(x[ib].d) * GGML_CPU_FP16_TO_FP32(y[ib].d);                    \
        acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(wasm_i32x4_sub(d, o)),             \
                                                 wasm_f32x4_splat(sc)));                                     \
    } while (0)
    int ib = 0;
    for (; ib + 1 < nb; ib += 2) {
        BLOCK_Q4_0(ib, acc0);
        BLOCK_Q4_0(ib + 1, acc1);
    }
    if (ib < nb) {
        BLOCK_Q4_0(ib, acc0);
    }
#undef BLOCK_Q4_0
    *s = hsum_f32(wasm_f32x4_add(acc0, acc1));
}

// The Q4_1 tile: the minimum term (m * s) is summed per output as the one-row kernel sums it,
// and so is everything else, so a row's result never depends on its neighbours.
__attribute__((noinline)) static void q4_1_q8_1_tile(int nb, float * GGML_RESTRICT s, size_t bs,
                                                     const block_q4_1 * GGML_RESTRICT x0,
                                                     const block_q4_1 * GGML_RESTRICT x1,
                                                     const block_q8_1 * GGML_RESTRICT y0,
                                                     const block_q8_1 * GGML_RESTRICT y1) {
    v128_t acc[2][2][2];  // [row][column][chain]
    for (int k = 0; k < 8; k++) acc[k >> 2][(k >> 1) & 1][k & 1] = wasm_f32x4_splat(0.0f);
    float m[2][2] = {{0.0f, 0.0f}, {0.0f, 0.0f}};
    for (int ib = 0; ib < nb; ib++) {
        const nibble_tile t = load_nibble_tile(x0[ib].qs, x1[ib].qs, y0[ib].qs, y1[ib].qs);
        const float dx[2] = {GGML_CPU_FP16_TO_FP32(x0[ib].d), GGML_CPU_FP16_TO_FP32(x1[ib].d)};
        const float dy[2] = {GGML_CPU_FP16_TO_FP32(y0[ib].d), GGML_CPU_FP16_TO_FP32(y1[ib].d)};
        const float mx[2] = {GGML_CPU_FP16_TO_FP32(x0[ib].m), GGML_CPU_FP16_TO_FP32(x1[ib].m)};
        const float sy[2] = {GGML_CPU_FP16_TO_FP32(y0[ib].s), GGML_CPU_FP16_TO_FP32(y1[ib].s)};
        for (int c = 0; c < 2; c++) {
            for (int r = 0; r < 2; r++) {
                acc[r][c][ib & 1] = scaled_add(acc[r][c][ib & 1], tile_dot(&t, r, c), dx[r] * dy[c]);
                m[r][c] += mx[r] * sy[c];
            }
        }
    }
    for (int c = 0; c < 2; c++) {
        for (int r = 0; r < 2; r++) s[c * bs + r] = hsum_f32(wasm_f32x4_add(acc[r][c][0], acc[r][c][1])) + m[r][c];
    }
}

void ggml_vec_dot_q4_1_q8_1(int n, float * GGML_RESTRICT s, size_t bs, const void * GGML_RESTRICT vx, size_t bx,
                            const void * GGML_RESTRICT vy, size_t by, int nrc) {
    assert(n % QK8_1 == 0 && (nrc == 1 || nrc == 2));
    const int nb = n / QK8_1;
    if (nrc == 2) {
        q4_1_q8_1_tile(nb, s, bs, vx, (const block_q4_1 *) ((const uint8_t *) vx + bx), vy,
                       (const block_q8_1 *) ((const uint8_t *) vy + by));
        return;
    }
    const block_q4_1 * GGML_RESTRICT x = vx;
    const block_q8_1 * GGML_RESTRICT y = vy;
    const v128_t m4 = wasm_i8x16_splat(0x0F), zero = wasm_i32x4_splat(0);
    v128_t acc0 = wasm_f32x4_splat(0.0f), acc1 = acc0;
    float summs = 0.0f;
#define BLOCK_Q4_1(ib, acc)                                                                                  \
    do {                                                                                                     \
        const v128_t q  = wasm_v128_load(x[ib].qs);                                                          \
        const v128_t y0 = wasm_v128_load(y[ib].qs), y1 = wasm_v128_load(y[ib].qs + 16);                      \
        const v128_t d  = DOT_ADD(y1, wasm_u8x16_shr(q, 4), DOT_ADD(y0, wasm_v128_and(q, m4), zero));       \
        const float sc  = GGML_CPU_FP16_TO_FP32(x[ib].d) * GGML_CPU_FP16_TO_FP32(y[ib].d);                   \
        summs += GGML_CPU_FP16_TO_FP32(x[ib].m) * GGML_CPU_FP16_TO_FP32(y[ib].s);                            \
        acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(d), wasm_f32x4_splat(sc)));        \
    } while (0)
    int ib = 0;
    for (; ib + 1 < nb; ib += 2) {
        BLOCK_Q4_1(ib, acc0);
        BLOCK_Q4_1(ib + 1, acc1);
    }
    if (ib < nb) {
        BLOCK_Q4_1(ib, acc0);
    }
#undef BLOCK_Q4_1
    *s = hsum_f32(wasm_f32x4_add(acc0, acc1)) + summs;
}

#endif  // __wasm_relaxed_simd__
