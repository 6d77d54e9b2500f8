// The F16 attention kernels of the wasm builds (wasm/kernels/attention.c), declared once:
// for attention.c itself, for its check (attention_test.c) and for ggml's flash-attention
// op, which calls them (recipes/patches/ggml-wasm-attention.patch includes this header
// through the include path wasm/CMakeLists.txt gives ggml-cpu).
//
// Q and the running V sum are F16 values held in F32 lanes; each function gives the bits
// ggml's F16 function of the same job gives.
#pragma once

#include <stdint.h>

#include "ggml.h"  // ggml_fp16_t

#ifdef __cplusplus
extern "C" {
#endif

// y[i] = x[i] rounded to the nearest F16 value (ties to even), as F32.
void  plm_round_f16(int64_t n, float * y, const float * x);
// ggml_vec_dot_f16(x, y) for y already rounded to F16, in ggml's summation order.
float plm_dot_f16_f32(int64_t n, const ggml_fp16_t * x, const float * y);
// y += x * v, each sum rounded to F16 as ggml_vec_mad_f16 stores it.
void  plm_mad_f16_f32(int64_t n, float * y, const ggml_fp16_t * x, float v);
// y *= v, each product rounded to F16 as ggml_vec_scale_f16 stores it.
void  plm_scale_f16_f32(int64_t n, float * y, float v);

#ifdef __cplusplus
}
#endif
