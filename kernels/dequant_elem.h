/* dequant_elem.h - the per-element steps of dequant.h, shared by the C reference and the CUDA
 * kernels (CK_HD as in dtype_conv.h), so both compute the same thing. Pure and unchecked: the
 * callers (dequant_ref.c, dequant.cu) validate bits (1..8), group and the shapes; zp may be NULL. */
#ifndef CK_DEQUANT_ELEM_H
#define CK_DEQUANT_ELEM_H

#include "kernels/dtype_conv.h"

/* Element c of a packed row: the signed integer after removing the 2^(bits-1) offset. */
CK_HD int32_t ck_packed_get(const uint32_t *row, size_t c, int bits)
{
    size_t bit = c * (size_t)bits, wi = bit / 32;
    unsigned sh = (unsigned)(bit % 32);
    uint32_t v = row[wi] >> sh;
    if (sh + (unsigned)bits > 32)
        v |= row[wi + 1] << (32 - sh);
    return (int32_t)(v & ((1u << bits) - 1)) - (1 << (bits - 1));
}

/* out[r][c] of a pack-quantized weight. */
CK_HD float ck_packed_dequant(const uint32_t *packed, size_t words, size_t groups, size_t r, size_t c,
                              int bits, const float *scale, int group, const int32_t *zp)
{
    int32_t q = ck_packed_get(packed + r * words, c, bits);
    size_t g = group > 0 ? c / (size_t)group : 0;
    int32_t z = zp ? zp[r * groups + g] : 0;
    return (float)(q - z) * scale[r * groups + g];
}

/* out[r][c] of an int8 weight (compressed-tensors int-quantized): (q - zp) * scale per row or group. */
CK_HD float ck_int8_dequant(const int8_t *q, size_t cols, size_t groups, size_t r, size_t c, const float *scale,
                            int group, const int32_t *zp)
{
    size_t g = group > 0 ? c / (size_t)group : 0;
    int32_t z = zp ? zp[r * groups + g] : 0;
    return (float)((int32_t)q[r * cols + c] - z) * scale[r * groups + g];
}

/* out[r][c] of a block-FP8 weight. */
CK_HD float ck_fp8_block_dequant(const uint8_t *w, size_t cols, size_t sc, size_t r, size_t c, int bn,
                                 int bk, const float *scale)
{
    return ck_e4m3_to_f32(w[r * cols + c]) * scale[(r / (size_t)bn) * sc + c / (size_t)bk];
}

/* AWQ's GEMM packing (4 bits): eight output columns per int32, column j of the eight in nibble
 * [0, 4, 1, 5, 2, 6, 3, 7][j] (AutoAWQ's interleaved order); rows are input channels. The value of
 * row i, column o of a [rows][cols / 8] tensor. */
CK_HD int32_t ck_awq_get(const uint32_t *q, size_t cols, size_t i, size_t o)
{
    size_t j = o % 8;
    uint32_t w = q[i * (cols / 8) + o / 8];
    return (int32_t)((w >> (4 * ((j & 1) * 4 + (j >> 1)))) & 0xFu);
}

/* w[o][i] of an AWQ linear (qweight [in][out/8], qzeros [in/group][out/8], scale [in/group][out]):
 * (q - zero) * scale; group 0 is one group over the whole input. */
CK_HD float ck_awq_dequant(const uint32_t *qw, const uint32_t *qz, const float *scale, size_t out, size_t o,
                           size_t i, int group)
{
    size_t g = group > 0 ? i / (size_t)group : 0;
    return (float)(ck_awq_get(qw, out, i, o) - ck_awq_get(qz, out, g, o)) * scale[g * out + o];
}

/* GPTQ (checkpoint_format "gptq", symmetric): qweight [in / pf][out] packs pf = 32 / bits
 * consecutive input rows per word, low bits first; the zero point is 2^(bits-1) (vLLM's uint4b8 /
 * uint8b128: the stored qzeros are not read). w[o][i] = (q[i][o] - 2^(bits-1)) * scale[g][o], g
 * the input's group (g_idx when given, else i / group; group 0: one group). */
CK_HD float ck_gptq_dequant(const uint32_t *qw, const float *scale, const int32_t *g_idx, size_t out, size_t o,
                            size_t i, int bits, int group)
{
    size_t pf = 32 / (size_t)bits;
    uint32_t w = qw[(i / pf) * out + o];
    int32_t q = (int32_t)((w >> ((i % pf) * (size_t)bits)) & ((1u << bits) - 1u)) - (1 << (bits - 1));
    size_t g = g_idx ? (size_t)g_idx[i] : group > 0 ? i / (size_t)group : 0;
    return (float)q * scale[g * out + o];
}

/* out[r][c] of an NVFP4 weight (dequant.h): the E2M1 code times its group's scale over the global
 * divisor. */
CK_HD float ck_nvfp4_dequant(const uint8_t *packed, size_t cols, size_t r, size_t c, const float *scale, int group,
                             float global)
{
    uint8_t b = packed[r * (cols / 2) + c / 2];
    unsigned code = c % 2 ? (unsigned)(b >> 4) : (unsigned)(b & 0xFu);
    unsigned m = code & 7u; /* magnitude index: 0, 0.5, 1, 1.5, 2, 3, 4, 6 */
    float v = m < 4 ? 0.5f * (float)m : m == 4 ? 2.0f : m == 5 ? 3.0f : m == 6 ? 4.0f : 6.0f;
    size_t groups = cols / (size_t)group;
    return (code & 8u ? -v : v) * scale[r * groups + c / (size_t)group] / global;
}

#endif
