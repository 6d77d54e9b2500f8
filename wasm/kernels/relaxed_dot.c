// Relaxed-SIMD dot products for the 4- and 5-bit types people ship (Q4_0,
// Q4_1, Q5_0; the K-quants are in relaxed_k.c), replacing ggml's SIMD128
// versions in builds compiled with -mrelaxed-simd
// (recipes/patches/ggml-wasm-kernels.patch renames those to *_simd128 so they
// stay available for comparison).
//
// Why: ggml's wasm kernels widen every int8 lane to int16 before multiplying
// (eight extends and four i32x4.dot per 32 weights). The relaxed
// i8x16 x i7x16 dot products do the multiply-add of 16 byte pairs in one
// instruction (pmaddubsw/pmaddwd on x86, sdot on ARM). Their result is only
// defined for every engine when the second operand is in 0..127, so each
// kernel arranges for the weights side to be unsigned and small: 4-bit nibbles
// (0..15), 5-bit values (0..31) or 6-bit ones (0..63), any offset taken off
// afterwards in the integers. Q8_0 stays with ggml's kernel: moving the sign
// onto the activations (|x| * sign(x)y) costs more lanes than the widening it
// saves (measured 4.9 vs 3.2 ns per 32 weights in node 24 on Zen 4).
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

// The 16 products a[i] * b[i] (b in 0..127) summed in pairs into eight int16 lanes.
//
// Each kernel adds two of these in int16 (at most 2 * 2 * 31 * 127 = 15,748 per lane)
// and widens once with a pairwise add: lane k of the result is then the sum of bytes
// 4k..4k+3, exactly what i32x4.relaxed_dot_i8x16_i7x16_add would give, for about a third
// of the instructions where a CPU lacks a 4-byte dot product (V8 on x86 without
// AVX-VNNI builds that one from pmaddubsw, a pmaddwd by ones and an add).
#define DOT16(a, b) wasm_i16x8_relaxed_dot_i8x16_i7x16((a), (b))
#define WIDEN(p) wasm_i32x4_extadd_pairwise_i16x8((p))

// ---- Q4_0 and Q5_0: unsigned weights minus a fixed offset ---------------------
//
// A Q4_0 weight is a nibble minus 8, a Q5_0 one a nibble plus 16 times a bit of qh minus 16.
// The kernels keep the unsigned part (0..15 or 0..31) as the relaxed operand and take the
// offset off in the integers: sum y*(u-k) = sum y*u - sum y*k, both exact, so each block
// contributes the integer ggml's scalar path computes.

// One block's weights as unsigned bytes (weights 0..15 in l, 16..31 in h) and its scale.
typedef struct {
    v128_t l, h;
    float  d;
} ublock;

static inline ublock q4_0_ublock(const void * p) {
    const block_q4_0 * x = p;
    const v128_t q = wasm_v128_load(x->qs);
    ublock b = {wasm_v128_and(q, wasm_i8x16_splat(0x0F)), wasm_u8x16_shr(q, 4), GGML_CPU_FP16_TO_FP32(x->d)};
    return b;
}

// FIFTH[b]: byte j is 0x10 where bit j of b is set (eight weights' fifth bits at once).
#define FIFTH1(b) ((uint64_t) ((b) & 1) << 4 | (uint64_t) ((b) >> 1 & 1) << 12 | (uint64_t) ((b) >> 2 & 1) << 20 | \
                   (uint64_t) ((b) >> 3 & 1) << 28 | (uint64_t) ((b) >> 4 & 1) << 36 | (uint64_t) ((b) >> 5 & 1) << 44 | \
                   (uint64_t) ((b) >> 6 & 1) << 52 | (uint64_t) ((b) >> 7 & 1) << 60)
#define FIFTH4(b) FIFTH1(b), FIFTH1((b) + 1), FIFTH1((b) + 2), FIFTH1((b) + 3)
#define FIFTH16(b) FIFTH4(b), FIFTH4((b) + 4), FIFTH4((b) + 8), FIFTH4((b) + 12)
#define FIFTH64(b) FIFTH16(b), FIFTH16((b) + 16), FIFTH16((b) + 32), FIFTH16((b) + 48)
static const uint64_t FIFTH[256] = {FIFTH64(0), FIFTH64(64), FIFTH64(128), FIFTH64(192)};

// The fifth bits come from a 2 KiB table, a byte of qh at a time: four scalar loads
// measured faster than spreading the bits with byte shuffles and compares.
static inline ublock q5_0_ublock(const void * p) {
    const block_q5_0 * x = p;
    const v128_t q = wasm_v128_load(x->qs);
    const v128_t lo = wasm_i64x2_make((int64_t) FIFTH[x->qh[0]], (int64_t) FIFTH[x->qh[1]]);
    const v128_t hi = wasm_i64x2_make((int64_t) FIFTH[x->qh[2]], (int64_t) FIFTH[x->qh[3]]);
    ublock b = {wasm_v128_or(wasm_v128_and(q, wasm_i8x16_splat(0x0F)), lo), wasm_v128_or(wasm_u8x16_shr(q, 4), hi),
                GGML_CPU_FP16_TO_FP32(x->d)};
    return b;
}

typedef ublock (*ublock_fn)(const void *);

// The products of one weight block and one activation block (y0: bytes 0..15, y1: 16..31),
// in pairs: at most 2 * 2 * 31 * 127 per int16 lane.
static inline v128_t udot(const ublock * w, v128_t y0, v128_t y1) {
    return wasm_i16x8_add(DOT16(y0, w->l), DOT16(y1, w->h));
}

// k times the block's activations, in the same pairs (k the offset in every byte of off).
static inline v128_t uoffset(v128_t off, v128_t y0, v128_t y1) {
    return wasm_i16x8_add(DOT16(y0, off), DOT16(y1, off));
}

// The block's integer dot, sum y * (u - k), in four i32 lanes. Each int16 lane of the
// difference is four products of at most 127 * 16 (activations are within +-127).
static inline v128_t ublock_dot(v128_t prod, v128_t offset) {
    return WIDEN(wasm_i16x8_sub(prod, offset));
}

static inline v128_t scaled_add(v128_t acc, v128_t dot, float sc) {
    return wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(dot), wasm_f32x4_splat(sc)));
}

// One block of one row added to a float chain.
static inline __attribute__((always_inline)) v128_t offset_step(v128_t acc, const uint8_t * GGML_RESTRICT x,
                                                                ublock_fn load, v128_t off,
                                                                const block_q8_0 * GGML_RESTRICT y) {
    const ublock w = load(x);
    const v128_t y0 = wasm_v128_load(y->qs), y1 = wasm_v128_load(y->qs + 16);
    const v128_t d = ublock_dot(udot(&w, y0, y1), uoffset(off, y0, y1));
    return scaled_add(acc, d, w.d * GGML_CPU_FP16_TO_FP32(y->d));
}

// One row: two float chains (even blocks on the first) hide the add latency.
static inline __attribute__((always_inline)) float offset_row(int nb, const uint8_t * GGML_RESTRICT x, size_t xb,
                                                              ublock_fn load, int8_t k,
                                                              const block_q8_0 * GGML_RESTRICT y) {
    const v128_t off = wasm_i8x16_splat(k);
    v128_t acc0 = wasm_f32x4_splat(0.0f), acc1 = acc0;
    int ib = 0;
    for (; ib + 1 < nb; ib += 2) {
        acc0 = offset_step(acc0, x + ib * xb, load, off, &y[ib]);
        acc1 = offset_step(acc1, x + (ib + 1) * xb, load, off, &y[ib + 1]);
    }
    if (ib < nb) {
        acc0 = offset_step(acc0, x + ib * xb, load, off, &y[ib]);
    }
    return hsum_f32(wasm_f32x4_add(acc0, acc1));
}

// The 2 x 2 tile (ggml's nrc == 2: s[0] = x0.y0, s[1] = x1.y0, s[bs] = x0.y1, s[bs + 1] =
// x1.y1): each weight block is unpacked once for both columns, each column's bytes and offset
// term are computed once for both rows, and every output is summed exactly as offset_row sums
// it, so a row's result never depends on its neighbours.
typedef struct {
    v128_t a[2][2];  // [row][column]
} chain2x2;

// One block of the tile added to a chain.
static inline __attribute__((always_inline)) void offset_tile_step(chain2x2 * ch, const uint8_t * GGML_RESTRICT x0,
                                                                   const uint8_t * GGML_RESTRICT x1, ublock_fn load,
                                                                   v128_t off, const block_q8_0 * GGML_RESTRICT y0,
                                                                   const block_q8_0 * GGML_RESTRICT y1) {
    const ublock w[2] = {load(x0), load(x1)};
    const block_q8_0 * y[2] = {y0, y1};
    for (int c = 0; c < 2; c++) {
        const v128_t lo = wasm_v128_load(y[c]->qs), hi = wasm_v128_load(y[c]->qs + 16);
        const v128_t o = uoffset(off, lo, hi);
        const float dy = GGML_CPU_FP16_TO_FP32(y[c]->d);
        for (int r = 0; r < 2; r++) {
            ch->a[r][c] = scaled_add(ch->a[r][c], ublock_dot(udot(&w[r], lo, hi), o), w[r].d * dy);
        }
    }
}

static inline __attribute__((always_inline)) void offset_tile(int nb, float * GGML_RESTRICT s, size_t bs,
                                                              const uint8_t * GGML_RESTRICT x0,
                                                              const uint8_t * GGML_RESTRICT x1, size_t xb,
                                                              ublock_fn load, int8_t k,
                                                              const block_q8_0 * GGML_RESTRICT y0,
                                                              const block_q8_0 * GGML_RESTRICT y1) {
    const v128_t off = wasm_i8x16_splat(k), z = wasm_f32x4_splat(0.0f);
    chain2x2 even = {{{z, z}, {z, z}}}, odd = even;
    int ib = 0;
    for (; ib + 1 < nb; ib += 2) {
        offset_tile_step(&even, x0 + ib * xb, x1 + ib * xb, load, off, &y0[ib], &y1[ib]);
        offset_tile_step(&odd, x0 + (ib + 1) * xb, x1 + (ib + 1) * xb, load, off, &y0[ib + 1], &y1[ib + 1]);
    }
    if (ib < nb) {
        offset_tile_step(&even, x0 + ib * xb, x1 + ib * xb, load, off, &y0[ib], &y1[ib]);
    }
    for (int c = 0; c < 2; c++) {
        for (int r = 0; r < 2; r++) s[c * bs + r] = hsum_f32(wasm_f32x4_add(even.a[r][c], odd.a[r][c]));
    }
}

__attribute__((noinline)) static void q4_0_tile(int nb, float * GGML_RESTRICT s, size_t bs, const void * vx, size_t bx,
                                                const void * vy, size_t by) {
    offset_tile(nb, s, bs, vx, (const uint8_t *) vx + bx, sizeof(block_q4_0), q4_0_ublock, 8, vy,
                (const block_q8_0 *) ((const uint8_t *) vy + by));
}

__attribute__((noinline)) static void q5_0_tile(int nb, float * GGML_RESTRICT s, size_t bs, const void * vx, size_t bx,
                                                const void * vy, size_t by) {
    offset_tile(nb, s, bs, vx, (const uint8_t *) vx + bx, sizeof(block_q5_0), q5_0_ublock, 16, vy,
                (const block_q8_0 *) ((const uint8_t *) vy + by));
}

void ggml_vec_dot_q4_0_q8_0(int n, float * GGML_RESTRICT s, size_t bs, const void * GGML_RESTRICT vx, size_t bx,
                            const void * GGML_RESTRICT vy, size_t by, int nrc) {
    assert(n % QK4_0 == 0 && (nrc == 1 || nrc == 2));
    if (nrc == 2) {
        q4_0_tile(n / QK4_0, s, bs, vx, bx, vy, by);
    } else {
        *s = offset_row(n / QK4_0, vx, sizeof(block_q4_0), q4_0_ublock, 8, vy);
    }
}

void ggml_vec_dot_q5_0_q8_0(int n, float * GGML_RESTRICT s, size_t bs, const void * GGML_RESTRICT vx, size_t bx,
                            const void * GGML_RESTRICT vy, size_t by, int nrc) {
    assert(n % QK5_0 == 0 && (nrc == 1 || nrc == 2));
    if (nrc == 2) {
        q5_0_tile(n / QK5_0, s, bs, vx, bx, vy, by);
    } else {
        *s = offset_row(n / QK5_0, vx, sizeof(block_q5_0), q5_0_ublock, 16, vy);
    }
}

// ---- Q4_1 -------------------------------------------------------------------------

// One block of the Q4_1 2 x 2 tile (two weight rows x two activation columns, ggml's nrc == 2:
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
    return WIDEN(wasm_i16x8_add(DOT16(t->lo[c], t->l[r]), DOT16(t->hi[c], t->h[r])));
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
    const v128_t m4 = wasm_i8x16_splat(0x0F);
    v128_t acc0 = wasm_f32x4_splat(0.0f), acc1 = acc0;
    float summs = 0.0f;
#define BLOCK_Q4_1(ib, acc)                                                                                  \
    do {                                                                                                     \
        const v128_t q  = wasm_v128_load(x[ib].qs);                                                          \
        const v128_t y0 = wasm_v128_load(y[ib].qs), y1 = wasm_v128_load(y[ib].qs + 16);                      \
        const v128_t d  = WIDEN(wasm_i16x8_add(DOT16(y0, wasm_v128_and(q, m4)), DOT16(y1, wasm_u8x16_shr(q, 4)))); \
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
