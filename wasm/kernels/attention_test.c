// Checks flash attention over an F16 KV cache in the wasm builds (wasm/kernels/attention.c
// and the one-query-row path of recipes/patches/ggml-wasm-attention.patch) against ggml's
// own F16 functions, bit for bit: the kernels exist to give ggml's results faster, so any
// difference at all is a defect. Part of plm-kernel-test; tests/node/kernels.test.mjs
// reads the lines it prints:
//   {"attn_round", "values", "mismatch"}           F16 rounding in F32 lanes
//   {"attn_kernel", "n", "checks", "mismatch"}     dot, multiply-add and scale vs ggml's
//   {"attn_op", "d", "n_q", "n_kv", "mismatch", "max_err_double", "max_abs"}
//                                                  the whole op vs ggml's F16 path, and
//                                                  (for the record) vs attention in double

#define GGML_COMMON_DECL_C
#include "ggml-common.h"
#include "ggml-cpu.h"
#include "ggml-impl.h"
#include "simd-mappings.h"
#include "vec.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"

void  plm_check_attention(float (*uniform)(void));

static float (*rnd)(void);

static int differs(float a, float b) {  // the same value (a zero's sign aside, NaN never)
    return !(a == b);
}

// Rounding to F16 in F32 lanes against ggml's scalar conversion there and back: a coarse
// walk over every float exponent and mantissa, then every half's neighbourhood (the half,
// the midpoint to the next one, an ulp either side of it), NaNs skipped.
static void check_round(void) {
    enum { BATCH = 4096 };
    static float in[BATCH], out[BATCH];
    long values = 0, bad = 0;
    for (uint32_t base = 0; base < (1u << 20); base += BATCH / 4) {
        for (int k = 0; k < BATCH / 4; k++) {
            const uint32_t i = base + (uint32_t) k;
            float * v = in + 4 * k;
            if (i < (1u << 18)) {
                const uint32_t bits = i * 16381u, b1 = bits ^ 0x80000000u, b2 = bits + 1, b3 = bits - 1;
                memcpy(&v[0], &bits, 4); memcpy(&v[1], &b1, 4); memcpy(&v[2], &b2, 4); memcpy(&v[3], &b3, 4);
            } else {
                const ggml_fp16_t h = (ggml_fp16_t) (i & 0xFFFF);
                const float a = ggml_compute_fp16_to_fp32(h), b = ggml_compute_fp16_to_fp32((ggml_fp16_t) (h + 1));
                const float mid = a + (b - a) * 0.5f;
                v[0] = a; v[1] = mid; v[2] = nextafterf(mid, INFINITY); v[3] = nextafterf(mid, -INFINITY);
            }
        }
        plm_round_f16(BATCH - 1, out, in);  // an odd count: the scalar tail too
        for (int k = 0; k < BATCH - 1; k++) {
            if (isnan(in[k])) continue;
            values++;
            bad += differs(out[k], ggml_compute_fp16_to_fp32(ggml_compute_fp32_to_fp16(in[k])));
        }
    }
    printf("{\"attn_round\":true,\"values\":%ld,\"mismatch\":%ld}\n", values, bad);
}

// A weight like softmax's: mostly near 1, sometimes tiny enough to reach F16 subnormals.
static float weight(void) {
    const float u = (rnd() + 1.0f) * 0.5f;
    return expf(-u * u * 24.0f);
}

// The dot product, multiply-add and scale against ggml_vec_dot_f16, ggml_vec_mad_f16 and
// ggml_vec_scale_f16, bit for bit; the sum is carried through 200 rows as attention does.
static void check_kernels(void) {
    static const int SIZES[] = {1, 3, 4, 15, 16, 17, 64, 70, 128, 256};
    for (size_t si = 0; si < sizeof SIZES / sizeof SIZES[0]; si++) {
        const int n = SIZES[si];
        ggml_fp16_t k[256], q16[256], acc16[256];
        float q[256], qr[256], acc[256];
        int dot_bad = 0, mad_bad = 0, scale_bad = 0, rows = 200;
        memset(acc16, 0, sizeof acc16);
        memset(acc, 0, sizeof acc);
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < n; i++) {
                k[i] = ggml_compute_fp32_to_fp16(rnd() * 4.0f);
                q[i] = rnd() * 3.0f;
                q16[i] = ggml_compute_fp32_to_fp16(q[i]);
            }
            plm_round_f16(n, qr, q);
            float want;
            ggml_vec_dot_f16(n, &want, 0, k, 0, q16, 0, 1);
            dot_bad += differs(plm_dot_f16_f32(n, k, qr), want);
            if (r % 17 == 5) {  // a new maximum: the sum is scaled down
                const float ms = weight();
                ggml_vec_scale_f16(n, acc16, ms);
                plm_scale_f16_f32(n, acc, ms);
                for (int i = 0; i < n; i++) scale_bad += differs(acc[i], ggml_compute_fp16_to_fp32(acc16[i]));
            }
            const float vs = weight();
            ggml_vec_mad_f16(n, acc16, k, vs);
            plm_mad_f16_f32(n, acc, k, vs);
            for (int i = 0; i < n; i++) mad_bad += differs(acc[i], ggml_compute_fp16_to_fp32(acc16[i]));
        }
        printf("{\"attn_kernel\":\"dot\",\"n\":%d,\"checks\":%d,\"mismatch\":%d}\n", n, rows, dot_bad);
        printf("{\"attn_kernel\":\"mad\",\"n\":%d,\"checks\":%d,\"mismatch\":%d}\n", n, rows * n, mad_bad);
        printf("{\"attn_kernel\":\"scale\",\"n\":%d,\"checks\":%d,\"mismatch\":%d}\n", n, (rows / 17 + 1) * n,
               scale_bad);
    }
}

// ggml's one-query-row F16 path (its control flow, its vector functions) for one head and row.
static void reference_row(int d, int n_kv, float scale, const float * qr, const ggml_fp16_t * kd,
                          const ggml_fp16_t * vd, float * out) {
    ggml_fp16_t * q16 = malloc(sizeof(ggml_fp16_t) * d), * acc = calloc(d, sizeof(ggml_fp16_t));
    for (int c = 0; c < d; c++) q16[c] = ggml_compute_fp32_to_fp16(qr[c]);
    float M = -INFINITY, S = 0.0f;
    for (int j = 0; j < n_kv; j++) {
        float s;
        ggml_vec_dot_f16(d, &s, 0, (ggml_fp16_t *) kd + (size_t) j * d, 0, q16, 0, 1);
        s = s * scale;
        s += 0.0f;  // no mask
        const float Mold = M;
        float ms = 1.0f, vs = 1.0f;
        if (s > M) {
            M = s;
            ms = expf(Mold - M);
            ggml_vec_scale_f16(d, acc, ms);
        } else {
            vs = expf(s - M);
        }
        ggml_vec_mad_f16(d, acc, vd + (size_t) j * d, vs);
        S = S * ms + vs;
    }
    const float S_inv = S == 0.0f ? 0.0f : 1.0f / S;
    for (int c = 0; c < d; c++) out[c] = ggml_compute_fp16_to_fp32(acc[c]) * S_inv;
    free(q16);
    free(acc);
}

// ggml_flash_attn_ext with F16 K and V (the KV cache's type), one thread, against
// reference_row for every head and query row, and against softmax(q k * scale) v in double.
static void check_op(int d, int n_q, int n_kv) {
    const int n_head = 4, n_head_kv = 2;
    struct ggml_init_params ip = {64u << 20, NULL, false};
    struct ggml_context * ctx = ggml_init(ip);
    struct ggml_tensor * q = ggml_new_tensor_4d(ctx, GGML_TYPE_F32, d, n_q, n_head, 1);
    struct ggml_tensor * k = ggml_new_tensor_4d(ctx, GGML_TYPE_F16, d, n_kv, n_head_kv, 1);
    struct ggml_tensor * v = ggml_new_tensor_4d(ctx, GGML_TYPE_F16, d, n_kv, n_head_kv, 1);
    float * qd = (float *) q->data;
    ggml_fp16_t * kd = (ggml_fp16_t *) k->data, * vd = (ggml_fp16_t *) v->data;
    for (int i = 0; i < d * n_q * n_head; i++) qd[i] = rnd() * 2.0f;
    for (int i = 0; i < d * n_kv * n_head_kv; i++) {
        kd[i] = ggml_compute_fp32_to_fp16(rnd() * 2.0f);
        vd[i] = ggml_compute_fp32_to_fp16(rnd());
    }
    const float scale = 1.0f / sqrtf((float) d);
    struct ggml_tensor * out = ggml_flash_attn_ext(ctx, q, k, v, NULL, scale, 0.0f, 0.0f);
    struct ggml_cgraph * gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, out);
    ggml_graph_compute_with_ctx(ctx, gf, 1);
    long bad = 0;
    double max_err = 0, max_abs = 0;
    double * p = malloc(sizeof(double) * n_kv);
    float * want = malloc(sizeof(float) * d);
    for (int h = 0; h < n_head; h++) {
        const int hk = h / (n_head / n_head_kv);
        const ggml_fp16_t * kh = kd + (size_t) hk * n_kv * d, * vh = vd + (size_t) hk * n_kv * d;
        for (int r = 0; r < n_q; r++) {
            const float * qr = qd + (size_t) (h * n_q + r) * d;
            const float * o = (const float *) out->data + (size_t) (r * n_head + h) * d;  // [d, n_head, n_q]
            reference_row(d, n_kv, scale, qr, kh, vh, want);
            double m = -INFINITY, sum = 0;
            for (int j = 0; j < n_kv; j++) {
                double s = 0;
                for (int c = 0; c < d; c++) s += (double) qr[c] * ggml_compute_fp16_to_fp32(kh[j * d + c]);
                p[j] = s * scale;
                m = p[j] > m ? p[j] : m;
            }
            for (int j = 0; j < n_kv; j++) { p[j] = exp(p[j] - m); sum += p[j]; }
            for (int c = 0; c < d; c++) {
                bad += differs(o[c], want[c]);
                double exact = 0;
                for (int j = 0; j < n_kv; j++) exact += p[j] * ggml_compute_fp16_to_fp32(vh[j * d + c]);
                exact /= sum;
                max_err = fmax(max_err, fabs(o[c] - exact));
                max_abs = fmax(max_abs, fabs(exact));
            }
        }
    }
    printf("{\"attn_op\":true,\"d\":%d,\"n_q\":%d,\"n_kv\":%d,\"mismatch\":%ld,\"max_err_double\":%.9g,"
           "\"max_abs\":%.9g}\n", d, n_q, n_kv, bad, max_err, max_abs);
    free(p);
    free(want);
    ggml_free(ctx);
}

void plm_check_attention(float (*uniform)(void)) {
    rnd = uniform;
    check_round();
    check_kernels();
    check_op(64, 1, 7);
    check_op(64, 1, 300);
    check_op(64, 1, 700);  // 512 cached rows or more: ggml's split path (one chunk with one thread)
    check_op(64, 3, 300);  // a short prompt: rows below ggml's tile size take the same path
    check_op(128, 1, 300); // the 3B shape's head size
    check_op(70, 1, 50);   // a head size that leaves every kernel a scalar tail
}
