/* dequant.h - dequantization of stored weights to float: block-FP8 (DeepSeek-V3/R1, GLM-5 FP8),
 * compressed-tensors pack-quantized integers (W4A16, W8A16) and NVFP4, AWQ and GPTQ.
 *
 * Block-FP8: w is [rows, cols] F8_E4M3; scale ("weight_scale_inv") is [ceil(rows/bn),
 * ceil(cols/bk)] float, and out[r][c] = fp8(w[r][c]) * scale[r / bn][c / bk] (blocks at the
 * right and bottom edges are partial).
 *
 * Pack-quantized: "weight_packed" is [rows, ceil(cols * bits / 32)] int32, a dense little-endian
 * bit stream per row: element c occupies bits [c * bits, (c + 1) * bits) of the row (words hold
 * bits 32w .. 32w + 31, so with bits 3, 5, 6 or 7 an element may straddle two words). Stored
 * values are offset by 2^(bits-1) (q = stored - 2^(bits-1), in [-2^(bits-1), 2^(bits-1) - 1]).
 * "weight_scale" is [rows, groups] float with groups = ceil(cols / group) (group > 0), or
 * [rows, 1] per channel (group 0); an optional zero point zp has the same shape (asymmetric
 * schemes). out[r][c] = (q - zp[r][g]) * scale[r][g], g = c / group.
 *
 * Int8 ("int-quantized", the naive W8 format): "weight" is [rows, cols] I8 holding q itself;
 * "weight_scale" and the optional zero point are [rows, groups] as above (per-tensor scales are
 * expanded to one per row by the caller). out[r][c] = (q - zp[r][g]) * scale[r][g].
 *
 * kern_*_ref is the specification; kern_*_cuda has the same meaning on device memory (CK_OK, or
 * CK_ECUDA with err naming the call; CK_EUSAGE for impossible arguments).
 *
 * The _ref functions return 0, or -1 for impossible arguments (bn or bk <= 0; bits outside 1..8;
 * group < 0) with out untouched. zp may be NULL (symmetric). The _cuda ones wait for the device
 * before returning; the _host ones free their device copies; nothing is left for the caller to
 * free. Without nvcc every _cuda call returns CK_ECUDA "CUDA not built" (convert_stub.c). */
#ifndef CK_DEQUANT_H
#define CK_DEQUANT_H

#include <stddef.h>
#include <stdint.h>

#include "base/ckerr.h"

#ifdef __cplusplus
extern "C" {
#endif

int kern_dequant_fp8_block_ref(const uint8_t *w, size_t rows, size_t cols, const float *scale, int bn,
                               int bk, float *out);
int kern_dequant_packed_ref(const int32_t *packed, size_t rows, size_t cols, int bits, const float *scale,
                            int group, const int32_t *zp, float *out);
int kern_dequant_int8_ref(const int8_t *q, size_t rows, size_t cols, const float *scale, int group,
                          const int32_t *zp, float *out);
/* AWQ (GEMM layout, 4 bits, zero points): qweight [in][out/8] and qzeros [in/group][out/8] int32
 * with eight output columns per word in AWQ's interleaved order, scale [in/group][out]; w gets the
 * weight as [out][in] (vLLM's orientation): w[o][i] = (q[i][o] - zero[i/group][o]) *
 * scale[i/group][o]. out must be a multiple of 8; group 0: one group over the input. */
int kern_dequant_awq_ref(const int32_t *qweight, const int32_t *qzeros, const float *scale, size_t in,
                         size_t out, int group, float *w);
int kern_dequant_awq_cuda(const int32_t *d_qweight, const int32_t *d_qzeros, const float *d_scale, size_t in,
                          size_t out, int group, float *d_w, ck_err *err);
int kern_dequant_awq_cuda_host(const int32_t *qweight, const int32_t *qzeros, const float *scale, size_t in,
                               size_t out, int group, float *w, ck_err *err);
/* GPTQ (checkpoint_format "gptq", symmetric, bits 4 or 8): qweight [in / (32/bits)][out] int32
 * with 32/bits consecutive input rows per word, scale [groups][out]; g_idx (may be NULL) the
 * group of each input; w gets [out][in]: w[o][i] = (q[i][o] - 2^(bits-1)) * scale[g][o]. in must
 * be a multiple of 32/bits; group 0: one group. */
int kern_dequant_gptq_ref(const int32_t *qweight, const float *scale, const int32_t *g_idx, size_t in, size_t out,
                          int bits, int group, float *w);
int kern_dequant_gptq_cuda(const int32_t *d_qweight, const float *d_scale, const int32_t *d_g_idx, size_t in,
                           size_t out, int bits, int group, float *d_w, ck_err *err);
int kern_dequant_gptq_cuda_host(const int32_t *qweight, const float *scale, const int32_t *g_idx, size_t in,
                                size_t out, int bits, int group, size_t groups, float *w, ck_err *err);
/* NVFP4 (compressed-tensors "nvfp4-pack-quantized"): packed [rows][cols / 2] bytes, two FP4 E2M1
 * codes each (element 2k in the low nibble, 2k+1 in the high one; bit 3 the sign, bits 0-2 index
 * 0, 0.5, 1, 1.5, 2, 3, 4, 6), scale [rows][cols / group] float (the stored FP8 E4M3 group scales,
 * converted), global the stored weight_global_scale, a divisor: out[r][c] = e2m1(code) *
 * scale[r][c / group] / global. cols must be even and a multiple of group (> 0), global > 0. */
int kern_dequant_nvfp4_ref(const uint8_t *packed, size_t rows, size_t cols, const float *scale, int group,
                           float global, float *out);
int kern_dequant_nvfp4_cuda(const uint8_t *d_packed, size_t rows, size_t cols, const float *d_scale, int group,
                            float global, float *d_out, ck_err *err);
int kern_dequant_nvfp4_cuda_host(const uint8_t *packed, size_t rows, size_t cols, const float *scale, int group,
                                 float global, float *out, ck_err *err);
/* The number of int32 words of one packed row. */
size_t kern_packed_words(size_t cols, int bits);

int kern_dequant_fp8_block_cuda(const uint8_t *d_w, size_t rows, size_t cols, const float *d_scale, int bn,
                                int bk, float *d_out, ck_err *err);
int kern_dequant_packed_cuda(const int32_t *d_packed, size_t rows, size_t cols, int bits,
                             const float *d_scale, int group, const int32_t *d_zp, float *d_out, ck_err *err);
int kern_dequant_int8_cuda(const int8_t *d_q, size_t rows, size_t cols, const float *d_scale, int group,
                           const int32_t *d_zp, float *d_out, ck_err *err);
/* Host-memory conveniences: copy in, run, copy out (tests, one-off tensors). */
int kern_dequant_fp8_block_cuda_host(const uint8_t *w, size_t rows, size_t cols, const float *scale, int bn,
                                     int bk, float *out, ck_err *err);
int kern_dequant_packed_cuda_host(const int32_t *packed, size_t rows, size_t cols, int bits, const float *scale,
                                  int group, const int32_t *zp, float *out, ck_err *err);
int kern_dequant_int8_cuda_host(const int8_t *q, size_t rows, size_t cols, const float *scale, int group,
                                const int32_t *zp, float *out, ck_err *err);

#ifdef __cplusplus
}
#endif

#endif
