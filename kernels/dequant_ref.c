/* dequant_ref.c - the C reference of dequant.h, element by element (dequant_elem.h). */
#include "kernels/dequant.h"

#include "kernels/dequant_elem.h"

size_t kern_packed_words(size_t cols, int bits)
{
    return (cols * (size_t)bits + 31) / 32;
}

int kern_dequant_fp8_block_ref(const uint8_t *w, size_t rows, size_t cols, const float *scale, int bn,
                               int bk, float *out)
{
    if (bn <= 0 || bk <= 0)
        return -1;
    size_t sc = (cols + (size_t)bk - 1) / (size_t)bk;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            out[r * cols + c] = ck_fp8_block_dequant(w, cols, sc, r, c, bn, bk, scale);
    return 0;
}

int kern_dequant_packed_ref(const int32_t *packed, size_t rows, size_t cols, int bits, const float *scale,
                            int group, const int32_t *zp, float *out)
{
    if (bits < 1 || bits > 8 || group < 0)
        return -1;
    size_t words = kern_packed_words(cols, bits);
    size_t groups = group > 0 ? (cols + (size_t)group - 1) / (size_t)group : 1;
    const uint32_t *p = (const uint32_t *)(const void *)packed;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            out[r * cols + c] = ck_packed_dequant(p, words, groups, r, c, bits, scale, group, zp);
    return 0;
}

int kern_dequant_int8_ref(const int8_t *q, size_t rows, size_t cols, const float *scale, int group,
                          const int32_t *zp, float *out)
{
    if (group < 0)
        return -1;
    size_t groups = group > 0 ? (cols + (size_t)group - 1) / (size_t)group : 1;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            out[r * cols + c] = ck_int8_dequant(q, cols, groups, r, c, scale, group, zp);
    return 0;
}

int kern_dequant_awq_ref(const int32_t *qweight, const int32_t *qzeros, const float *scale, size_t in,
                         size_t out, int group, float *w)
{
    if (group < 0 || out % 8)
        return -1;
    const uint32_t *qw = (const uint32_t *)(const void *)qweight, *qz = (const uint32_t *)(const void *)qzeros;
    for (size_t o = 0; o < out; o++)
        for (size_t i = 0; i < in; i++)
            w[o * in + i] = ck_awq_dequant(qw, qz, scale, out, o, i, group);
    return 0;
}

int kern_dequant_gptq_ref(const int32_t *qweight, const float *scale, const int32_t *g_idx, size_t in, size_t out,
                          int bits, int group, float *w)
{
    if ((bits != 4 && bits != 8) || group < 0 || in % (32 / (size_t)bits))
        return -1;
    const uint32_t *qw = (const uint32_t *)(const void *)qweight;
    for (size_t o = 0; o < out; o++)
        for (size_t i = 0; i < in; i++)
            w[o * in + i] = ck_gptq_dequant(qw, scale, g_idx, out, o, i, bits, group);
    return 0;
}

int kern_dequant_nvfp4_ref(const uint8_t *packed, size_t rows, size_t cols, const float *scale, int group,
                           float global, float *out)
{
    if (group <= 0 || cols % 2 || cols % (size_t)group || !(global > 0))
        return -1;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            out[r * cols + c] = ck_nvfp4_dequant(packed, cols, r, c, scale, group, global);
    return 0;
}
