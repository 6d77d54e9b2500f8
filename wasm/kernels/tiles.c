// The 2 x 2 tile (two weight rows x two activation columns) for Q8_0, whose
// one-row kernel stays ggml's own SIMD128 one: the tied output head of SmolLM2
// and Qwen2.5 (a fifth to a quarter of their weights) and Q8_0 models. (Q5_0,
// most of a Qwen2.5-0.5B Q4_K_M, has relaxed kernels in relaxed_dot.c.)

// Why: a llama_decode of several sequences (LLM.map) or of a prompt multiplies
// each weight row by several columns. ggml calls the kernel with nrc == 2 when a
// type's traits say .nrows = 2 (recipes/patches/ggml-wasm-kernels.patch does so
// in relaxed-SIMD builds); the tile then unpacks and widens each weight block
// once for both columns and each activation block once for both rows.
//
// Every output is summed exactly as ggml's one-row kernel sums it: the same
// int16 pairs in the same i32 lanes, the same float chain, the same lane order at
// the end. A row's result therefore never depends on its neighbours, and a
// sequence decoded in a batch gives the tokens it gives alone
// (tests/node/kernels.test.mjs compares the tile with four one-row calls).

#if defined(__wasm_relaxed_simd__)

#define GGML_COMMON_DECL_C
#include "ggml-common.h"
#include "ggml-cpu-impl.h"
#include "quants.h"
#include "simd-mappings.h"

#include <assert.h>
#include <wasm_simd128.h>

// ggml's kernels, renamed by the patch: the one-row path stays theirs.
void ggml_vec_dot_q8_0_q8_0_simd128(int n, float * GGML_RESTRICT s, size_t bs, const void * GGML_RESTRICT vx,
                                    size_t bx, const void * GGML_RESTRICT vy, size_t by, int nrc);

// 32 int8 values widened to four int16x8 vectors, in ggml's order.
typedef struct {
    v128_t v[4];
} wide32;

static inline wide32 widen(v128_t lo, v128_t hi) {
    wide32 w = {{wasm_i16x8_extend_low_i8x16(lo), wasm_i16x8_extend_high_i8x16(lo),
                 wasm_i16x8_extend_low_i8x16(hi), wasm_i16x8_extend_high_i8x16(hi)}};
    return w;
}

// ggml's block sum: (d0 + d1) + (d2 + d3), each d an i32x4 dot of int16 pairs.
static inline v128_t block_dot(const wide32 * x, const wide32 * y) {
    return wasm_i32x4_add(wasm_i32x4_add(wasm_i32x4_dot_i16x8(x->v[0], y->v[0]), wasm_i32x4_dot_i16x8(x->v[1], y->v[1])),
                          wasm_i32x4_add(wasm_i32x4_dot_i16x8(x->v[2], y->v[2]), wasm_i32x4_dot_i16x8(x->v[3], y->v[3])));
}

static inline v128_t fma_block(v128_t acc, v128_t dot, float scale) {
    return wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(dot), wasm_f32x4_splat(scale)));
}

static inline float hsum_f32(v128_t v) {  // ggml's order: ((l0 + l1) + l2) + l3
    return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) + wasm_f32x4_extract_lane(v, 2) +
           wasm_f32x4_extract_lane(v, 3);
}

static inline wide32 load_q8(const int8_t * qs) {
    return widen(wasm_v128_load(qs), wasm_v128_load(qs + 16));
}

// The tile over nb blocks: s[0] = x0.y0, s[1] = x1.y0, s[bs] = x0.y1, s[bs + 1] = x1.y1.
#define TILE_BODY(block_x, load_x)                                                                          \
    const block_x * GGML_RESTRICT x0 = vx;                                                                  \
    const block_x * GGML_RESTRICT x1 = (const block_x *) ((const uint8_t *) vx + bx);                       \
    const block_q8_0 * GGML_RESTRICT y0 = vy;                                                               \
    const block_q8_0 * GGML_RESTRICT y1 = (const block_q8_0 *) ((const uint8_t *) vy + by);                 \
    v128_t a00 = wasm_f32x4_splat(0.0f), a10 = a00, a01 = a00, a11 = a00;                                   \
    for (int ib = 0; ib < nb; ++ib) {                                                                       \
        const wide32 w0 = load_x(x0, ib), w1 = load_x(x1, ib);                                              \
        const wide32 z0 = load_q8(y0[ib].qs), z1 = load_q8(y1[ib].qs);                                      \
        const float dx0 = GGML_CPU_FP16_TO_FP32(x0[ib].d), dx1 = GGML_CPU_FP16_TO_FP32(x1[ib].d);           \
        const float dy0 = GGML_CPU_FP16_TO_FP32(y0[ib].d), dy1 = GGML_CPU_FP16_TO_FP32(y1[ib].d);           \
        a00 = fma_block(a00, block_dot(&w0, &z0), dx0 * dy0);                                               \
        a10 = fma_block(a10, block_dot(&w1, &z0), dx1 * dy0);                                               \
        a01 = fma_block(a01, block_dot(&w0, &z1), dx0 * dy1);                                               \
        a11 = fma_block(a11, block_dot(&w1, &z1), dx1 * dy1);                                               \
    }                                                                                                       \
    s[0] = hsum_f32(a00);                                                                                   \
    s[1] = hsum_f32(a10);                                                                                   \
    s[bs] = hsum_f32(a01);                                                                                  \
    s[bs + 1] = hsum_f32(a11)

#define LOAD_Q8_0(x, ib) load_q8((x)[ib].qs)

__attribute__((noinline)) static void q8_0_tile(int nb, float * GGML_RESTRICT s, size_t bs, const void * GGML_RESTRICT vx,
                                                size_t bx, const void * GGML_RESTRICT vy, size_t by) {
    TILE_BODY(block_q8_0, LOAD_Q8_0);
}

void ggml_vec_dot_q8_0_q8_0(int n, float * GGML_RESTRICT s, size_t bs, const void * GGML_RESTRICT vx, size_t bx,
                            const void * GGML_RESTRICT vy, size_t by, int nrc) {
    assert(n % QK8_0 == 0 && (nrc == 1 || nrc == 2));
    if (nrc == 2) {
        q8_0_tile(n / QK8_0, s, bs, vx, bx, vy, by);
    } else {
        ggml_vec_dot_q8_0_q8_0_simd128(n, s, bs, vx, bx, vy, by, 1);
    }
}

#endif  // __wasm_relaxed_simd__
