// Checks the dot-product kernels a variant really uses against ggml's scalar
// (generic) path, and times them against ggml's SIMD128 versions where the
// relaxed-SIMD kernels replaced those. Run by tests/node/kernels.test.mjs.
// Also flash attention over an F16 cache (attention_test.c: wasm/kernels/attention.c
// against ggml's own F16 functions).
//
// Prints one JSON object per line: {"type", "n", "case", "got", "want", "scale"}
// for every check, then {"type", "ns_per_block", "simd128_ns_per_block"} timings.
// Exit status 0 even on mismatch: the test decides, with the numbers in hand.

#define GGML_COMMON_DECL_C
#include "ggml-common.h"
#include "ggml-cpu.h"
#include "ggml-quants.h"
#include "quants.h"
#include "ggml-impl.h"
#include "simd-mappings.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void (*dot_fn)(int, float *, size_t, const void *, size_t, const void *, size_t, int);
typedef void (*quant_fn)(const float *, void *, int64_t);

#if defined(__wasm_relaxed_simd__)
#define SIMD128(name) name##_simd128
#define DECL128(name) void name##_simd128(int, float *, size_t, const void *, size_t, const void *, size_t, int);
DECL128(ggml_vec_dot_q4_0_q8_0)
DECL128(ggml_vec_dot_q4_1_q8_1)
DECL128(ggml_vec_dot_q5_0_q8_0)
DECL128(ggml_vec_dot_q8_0_q8_0)
DECL128(ggml_vec_dot_q4_K_q8_K)
DECL128(ggml_vec_dot_q6_K_q8_K)
#else
#define SIMD128(name) NULL
#endif

typedef struct {
    const char * name;
    int          block;        // weights per block
    size_t       wbytes;       // bytes per weight block
    size_t       abytes;       // bytes per activation block
    quant_fn     quant_w, quant_a;
    dot_fn       dot, generic, simd128;
    int          tile;         // relaxed-SIMD builds take nrc == 2 (a 2 x 2 tile)
} kernel;

static void q8_1_ref(const float * x, void * y, int64_t k) { quantize_row_q8_1_ref(x, (block_q8_1 *) y, k); }
static void q8_0_ref(const float * x, void * y, int64_t k) { quantize_row_q8_0_ref(x, (block_q8_0 *) y, k); }
static void q8_K_ref(const float * x, void * y, int64_t k) { quantize_row_q8_K_ref(x, (block_q8_K *) y, k); }
static void q4_0_ref(const float * x, void * y, int64_t k) { quantize_row_q4_0_ref(x, (block_q4_0 *) y, k); }
static void q5_0_ref(const float * x, void * y, int64_t k) { quantize_row_q5_0_ref(x, (block_q5_0 *) y, k); }
static void q4_1_ref(const float * x, void * y, int64_t k) { quantize_row_q4_1_ref(x, (block_q4_1 *) y, k); }
static void q4_K_ref(const float * x, void * y, int64_t k) { quantize_row_q4_K_ref(x, (block_q4_K *) y, k); }
static void q6_K_ref(const float * x, void * y, int64_t k) { quantize_row_q6_K_ref(x, (block_q6_K *) y, k); }

static const kernel KERNELS[] = {
    {"q4_0", QK4_0, sizeof(block_q4_0), sizeof(block_q8_0), q4_0_ref, q8_0_ref, ggml_vec_dot_q4_0_q8_0,
     ggml_vec_dot_q4_0_q8_0_generic, SIMD128(ggml_vec_dot_q4_0_q8_0), 1},
    {"q4_1", QK4_1, sizeof(block_q4_1), sizeof(block_q8_1), q4_1_ref, q8_1_ref, ggml_vec_dot_q4_1_q8_1,
     ggml_vec_dot_q4_1_q8_1_generic, SIMD128(ggml_vec_dot_q4_1_q8_1), 1},
    {"q5_0", QK5_0, sizeof(block_q5_0), sizeof(block_q8_0), q5_0_ref, q8_0_ref, ggml_vec_dot_q5_0_q8_0,
     ggml_vec_dot_q5_0_q8_0_generic, SIMD128(ggml_vec_dot_q5_0_q8_0), 1},
    {"q8_0", QK8_0, sizeof(block_q8_0), sizeof(block_q8_0), q8_0_ref, q8_0_ref, ggml_vec_dot_q8_0_q8_0,
     ggml_vec_dot_q8_0_q8_0_generic, SIMD128(ggml_vec_dot_q8_0_q8_0), 1},
    {"q4_K", QK_K, sizeof(block_q4_K), sizeof(block_q8_K), q4_K_ref, q8_K_ref, ggml_vec_dot_q4_K_q8_K,
     ggml_vec_dot_q4_K_q8_K_generic, SIMD128(ggml_vec_dot_q4_K_q8_K), 1},
    {"q6_K", QK_K, sizeof(block_q6_K), sizeof(block_q8_K), q6_K_ref, q8_K_ref, ggml_vec_dot_q6_K_q8_K,
     ggml_vec_dot_q6_K_q8_K_generic, SIMD128(ggml_vec_dot_q6_K_q8_K), 1},
};

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float uniform(void) {  // xorshift64*: reproducible on every engine
    rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
    return (float) ((rng * 2685821657736338717ull) >> 40) / (float) (1 << 24) * 2.0f - 1.0f;
}

// Fill n floats for a named case: the extremes hit the lanes' value limits.
static void fill(float * v, int n, const char * c) {
    for (int i = 0; i < n; i++) {
        if (!strcmp(c, "random")) v[i] = uniform();
        else if (!strcmp(c, "outliers")) v[i] = (i % 37 == 0) ? 40.0f * uniform() : uniform();
        else if (!strcmp(c, "max")) v[i] = 1.0f;                       // every quant at its top
        else if (!strcmp(c, "min")) v[i] = -1.0f;                      // every quant at its bottom
        else if (!strcmp(c, "alternating")) v[i] = (i & 1) ? 1.0f : -1.0f;
        else v[i] = 0.0f;
    }
}

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static double time_dot(dot_fn f, int n, const void * w, const void * a, int blocks) {
    float s = 0, sink = 0;
    int reps = 1;
    for (;;) {  // grow until one measurement takes 20 ms
        double t0 = now_ns();
        for (int r = 0; r < reps; r++) { f(n, &s, 0, w, 0, a, 0, 1); sink += s; }
        double dt = now_ns() - t0;
        if (dt > 2e7) return dt / reps / blocks + (sink == 12345.678f);
        reps *= 2;
    }
}

// What decoding a token does: one activation row against every row of a matrix bigger
// than the caches (32,768 rows of 1,024 weights), per weight block, best of five sweeps.
enum { MATRIX_N = 1024, MATRIX_ROWS = 32768 };
static double time_matrix(dot_fn f, const kernel * K, const uint8_t * m, const void * a) {
    const size_t row = (size_t) (MATRIX_N / K->block) * K->wbytes;
    double best = 1e30;
    float s = 0, sink = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_ns();
        for (int r = 0; r < MATRIX_ROWS; r++) { f(MATRIX_N, &s, 0, m + r * row, 0, a, 0, 1); sink += s; }
        double dt = now_ns() - t0;
        if (dt < best) best = dt;
    }
    return best / MATRIX_ROWS / (MATRIX_N / K->block) + (sink == 12345.678f);
}

// The variant's activation quantizer against the reference one, byte for byte.
static void check_quantizer(const char * name, void (*fn)(const float *, void *, int64_t), quant_fn ref,
                            size_t block_bytes) {
    const int n = 4096, nb = n / 32;
    float * x = malloc(sizeof(float) * n);
    uint8_t * a = malloc(block_bytes * nb), * b = malloc(block_bytes * nb);
    fill(x, n, "outliers");
    fn(x, a, n);
    ref(x, b, n);
    int mismatch = 0;
    for (size_t i = 0; i < block_bytes * nb; i++) mismatch += a[i] != b[i];
    printf("{\"quantizer\":\"%s\",\"bytes\":%d,\"mismatch\":%d}\n", name, (int) (block_bytes * nb), mismatch);
    free(x); free(a); free(b);
}

#if defined(__wasm_relaxed_simd__)
// The 2 x 2 tile of a kernel (nrc == 2) against four one-row calls: equal bit for bit, and
// the time of one tile against four calls (per weight block of each output). An odd
// count of blocks, so the kernels' two-chain loops run their tails too.
static void check_tile(const kernel * K) {
    const int n = 4096 + K->block, nb = n / K->block;
    float * xf = malloc(sizeof(float) * n);
    uint8_t * w = malloc(2 * K->wbytes * nb), * a = malloc(2 * K->abytes * nb);
    const size_t bx = K->wbytes * nb, by = K->abytes * nb;
    for (int r = 0; r < 2; r++) {
        fill(xf, n, "outliers"); K->quant_w(xf, w + r * bx, n);
        fill(xf, n, "random"); K->quant_a(xf, a + r * by, n);
    }
    float tile[32] = {0}, one[4];
    K->dot(n, tile, 16, w, bx, a, by, 2);
    int equal = 1;
    for (int c = 0; c < 2; c++) {
        for (int r = 0; r < 2; r++) {
            K->dot(n, &one[2 * c + r], 0, w + r * bx, 0, a + c * by, 0, 1);
            equal &= memcmp(&one[2 * c + r], &tile[16 * c + r], sizeof(float)) == 0;
        }
    }
    double best_tile = 1e30, best_four = 1e30;
    float sink = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_ns();
        for (int i = 0; i < 200; i++) { K->dot(n, tile, 16, w, bx, a, by, 2); sink += tile[1]; }
        double t1 = now_ns();
        for (int i = 0; i < 200; i++) {
            for (int c = 0; c < 2; c++)
                for (int r = 0; r < 2; r++) { K->dot(n, one, 0, w + r * bx, 0, a + c * by, 0, 1); sink += one[0]; }
        }
        double t2 = now_ns();
        if (t1 - t0 < best_tile) best_tile = t1 - t0;
        if (t2 - t1 < best_four) best_four = t2 - t1;
    }
    printf("{\"tile\":\"%s\",\"equal\":%s,\"tile_ns_per_block\":%.2f,\"four_ns_per_block\":%.2f}\n", K->name,
           equal ? "true" : "false", best_tile / 200 / (4.0 * nb), best_four / 200 / (4.0 * nb) + (sink == 1.5f));
    free(xf); free(w); free(a);
}
#endif

// ggml's wasm F16 vector load/store (four lanes, patched to SIMD) against its scalar
// conversions: every half, and floats around every rounding edge (ties, subnormals,
// overflow to infinity, NaN).
static void check_f16_vectors(void) {
    int load_bad = 0, store_bad = 0, stores = 0;
    for (uint32_t h = 0; h < 65536; h += 4) {
        ggml_fp16_t in[4] = {(ggml_fp16_t) h, (ggml_fp16_t) (h + 1), (ggml_fp16_t) (h + 2), (ggml_fp16_t) (h + 3)};
        float got[4];
        wasm_v128_store(got, GGML_F16x4_LOAD(in));
        for (int k = 0; k < 4; k++) {
            const float want = ggml_compute_fp16_to_fp32(in[k]);
            load_bad += memcmp(&got[k], &want, sizeof want) != 0;
        }
    }
    for (uint32_t i = 0; i < (1u << 20); i++) {
        // Walk the whole float range coarsely, plus every half's neighbourhood (its value,
        // the midpoint to the next half, and one ulp either side of that midpoint).
        float v[4];
        if (i < (1u << 18)) {
            const uint32_t bits = i * 16381u;  // steps through exponents and mantissas
            memcpy(&v[0], &bits, 4);
            const uint32_t b1 = bits ^ 0x80000000u, b2 = bits + 1, b3 = bits - 1;
            memcpy(&v[1], &b1, 4); memcpy(&v[2], &b2, 4); memcpy(&v[3], &b3, 4);
        } else {
            const ggml_fp16_t h = (ggml_fp16_t) (i & 0xFFFF);
            const float a = ggml_compute_fp16_to_fp32(h), b = ggml_compute_fp16_to_fp32((ggml_fp16_t) (h + 1));
            const float mid = a + (b - a) * 0.5f;
            v[0] = a; v[1] = mid; v[2] = nextafterf(mid, INFINITY); v[3] = nextafterf(mid, -INFINITY);
        }
        ggml_fp16_t got[4];
        GGML_F16x4_STORE(got, wasm_v128_load(v));
        for (int k = 0; k < 4; k++, stores++) store_bad += got[k] != ggml_compute_fp32_to_fp16(v[k]);
    }
    printf("{\"f16_vectors\":true,\"loads\":65536,\"load_mismatch\":%d,\"stores\":%d,\"store_mismatch\":%d}\n",
           load_bad, stores, store_bad);
}

void plm_check_attention(float (*uniform)(void));  // attention_test.c

int main(void) {
    ggml_cpu_init();  // fills the fp16 lookup table the kernels use
    check_f16_vectors();
    plm_check_attention(uniform);
    check_quantizer("q8_0", quantize_row_q8_0, q8_0_ref, sizeof(block_q8_0));
    check_quantizer("q8_1", quantize_row_q8_1, q8_1_ref, sizeof(block_q8_1));
    static const char * CASES[] = {"random", "outliers", "max", "min", "alternating", "zero"};
    static const int SIZES[] = {1, 2, 3, 8, 17};  // in units of 256 weights: odd counts leave a tail
    for (size_t k = 0; k < sizeof KERNELS / sizeof KERNELS[0]; k++) {
        const kernel * K = &KERNELS[k];
        for (size_t si = 0; si < sizeof SIZES / sizeof SIZES[0]; si++) {
            const int n = SIZES[si] * 256 - (K->block < 256 && si == 0 ? 256 - K->block : 0);
            const int nb = n / K->block;
            float * xf = malloc(sizeof(float) * n), * yf = malloc(sizeof(float) * n);
            void * w = malloc(K->wbytes * nb), * a = malloc(K->abytes * nb);
            for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
                for (size_t c2 = 0; c2 < 2; c2++) {  // activations: random, then the same case
                    fill(xf, n, CASES[c]);
                    fill(yf, n, c2 ? CASES[c] : "random");
                    K->quant_w(xf, w, n);
                    K->quant_a(yf, a, n);
                    float got = 0, want = 0;
                    K->dot(n, &got, 0, w, 0, a, 0, 1);
                    K->generic(n, &want, 0, w, 0, a, 0, 1);
                    double scale = 0;  // size of the terms, for a relative tolerance
                    for (int i = 0; i < n; i++) scale += fabs((double) xf[i] * yf[i]);
                    printf("{\"type\":\"%s\",\"n\":%d,\"case\":\"%s/%s\",\"got\":%.9g,\"want\":%.9g,\"scale\":%.9g}\n",
                           K->name, n, CASES[c], c2 ? CASES[c] : "random", got, want, scale);
                }
            }
            free(xf); free(yf); free(w); free(a);
        }
        // Timing on a row of 4096 weights (a typical hidden size), for the record only.
        const int n = 4096, nb = n / K->block;
        float * xf = malloc(sizeof(float) * n);
        void * w = malloc(K->wbytes * nb), * a = malloc(K->abytes * nb);
        fill(xf, n, "random"); K->quant_w(xf, w, n); K->quant_a(xf, a, n);
        const double t = time_dot(K->dot, n, w, a, nb);
        const double t128 = K->simd128 ? time_dot(K->simd128, n, w, a, nb) : 0;
        const double tgen = time_dot(K->generic, n, w, a, nb);
        // And a whole matrix streamed from memory, as a decoded token does.
        const size_t row = (size_t) (MATRIX_N / K->block) * K->wbytes;
        uint8_t * m = malloc(row * MATRIX_ROWS);
        K->quant_w(xf, m, MATRIX_N);
        for (int r = 1; r < MATRIX_ROWS; r++) memcpy(m + r * row, m, row);
        const double tm = time_matrix(K->dot, K, m, a);
        const double tm128 = K->simd128 ? time_matrix(K->simd128, K, m, a) : 0;
        printf("{\"type\":\"%s\",\"block\":%d,\"ns_per_block\":%.2f,\"simd128_ns_per_block\":%.2f,"
               "\"generic_ns_per_block\":%.2f,\"matrix_ns_per_block\":%.2f,\"simd128_matrix_ns_per_block\":%.2f}\n",
               K->name, K->block, t, t128, tgen, tm, tm128);
        free(xf); free(w); free(m); free(a);
    }
#if defined(__wasm_relaxed_simd__)
    for (size_t k = 0; k < sizeof KERNELS / sizeof KERNELS[0]; k++) {
        if (KERNELS[k].tile) check_tile(&KERNELS[k]);
    }
#endif
    return 0;
}
