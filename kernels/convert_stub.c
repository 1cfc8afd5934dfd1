/* convert_stub.c - linked instead of convert.cu where nvcc is not available: every CUDA entry
 * point reports "CUDA not built" and the caller falls back to the C reference. */
#include <stdio.h>

#include "kernels/convert.h"
#include "kernels/dequant.h"

int kern_cuda_available(char *why, size_t size)
{
    if (why)
        snprintf(why, size, "CUDA not built (no nvcc at build time)");
    return 0;
}

#define STUB(call)                                                                                \
    return ck_err_set(err, CK_ECUDA, NULL, call, CK_NO_OFFSET, "CUDA not built (no nvcc at build " \
                      "time)")

int kern_convert_cuda(ck_dtype dt, const void *d_src, size_t n, float *d_dst, ck_err *err)
{
    (void)dt, (void)d_src, (void)n, (void)d_dst;
    STUB("kern_convert_cuda");
}

int kern_convert_cuda_async(ck_dtype dt, const void *d_src, size_t n, float *d_dst, void *stream, ck_err *err)
{
    (void)dt, (void)d_src, (void)n, (void)d_dst, (void)stream;
    STUB("kern_convert_cuda_async");
}

int kern_transpose_last2_cuda_async(const float *d_src, size_t blocks, size_t a, size_t b, float *d_dst, void *stream,
                                    ck_err *err)
{
    (void)d_src, (void)blocks, (void)a, (void)b, (void)d_dst, (void)stream;
    STUB("kern_transpose_last2_cuda_async");
}

int kern_stats_cuda(ck_dtype dt, const void *d_src, size_t n, kern_stats *acc, ck_err *err)
{
    (void)dt, (void)d_src, (void)n, (void)acc;
    STUB("kern_stats_cuda");
}

int kern_convert_cuda_host(ck_dtype dt, const void *src, size_t n, float *dst, ck_err *err)
{
    (void)dt, (void)src, (void)n, (void)dst;
    STUB("kern_convert_cuda_host");
}

int kern_stats_cuda_host(ck_dtype dt, const void *src, size_t n, kern_stats *acc, ck_err *err)
{
    (void)dt, (void)src, (void)n, (void)acc;
    STUB("kern_stats_cuda_host");
}

int kern_dequant_fp8_block_cuda(const uint8_t *d_w, size_t rows, size_t cols, const float *d_scale, int bn,
                                int bk, float *d_out, ck_err *err)
{
    (void)d_w, (void)rows, (void)cols, (void)d_scale, (void)bn, (void)bk, (void)d_out;
    STUB("kern_dequant_fp8_block_cuda");
}

int kern_dequant_packed_cuda(const int32_t *d_packed, size_t rows, size_t cols, int bits,
                             const float *d_scale, int group, const int32_t *d_zp, float *d_out, ck_err *err)
{
    (void)d_packed, (void)rows, (void)cols, (void)bits, (void)d_scale, (void)group, (void)d_zp, (void)d_out;
    STUB("kern_dequant_packed_cuda");
}

int kern_dequant_fp8_block_cuda_host(const uint8_t *w, size_t rows, size_t cols, const float *scale, int bn,
                                     int bk, float *out, ck_err *err)
{
    (void)w, (void)rows, (void)cols, (void)scale, (void)bn, (void)bk, (void)out;
    STUB("kern_dequant_fp8_block_cuda_host");
}

int kern_dequant_packed_cuda_host(const int32_t *packed, size_t rows, size_t cols, int bits, const float *scale,
                                  int group, const int32_t *zp, float *out, ck_err *err)
{
    (void)packed, (void)rows, (void)cols, (void)bits, (void)scale, (void)group, (void)zp, (void)out;
    STUB("kern_dequant_packed_cuda_host");
}

int kern_dequant_int8_cuda(const int8_t *d_q, size_t rows, size_t cols, const float *d_scale, int group,
                           const int32_t *d_zp, float *d_out, ck_err *err)
{
    (void)d_q, (void)rows, (void)cols, (void)d_scale, (void)group, (void)d_zp, (void)d_out;
    STUB("kern_dequant_int8_cuda");
}

int kern_dequant_int8_cuda_host(const int8_t *q, size_t rows, size_t cols, const float *scale, int group,
                                const int32_t *zp, float *out, ck_err *err)
{
    (void)q, (void)rows, (void)cols, (void)scale, (void)group, (void)zp, (void)out;
    STUB("kern_dequant_int8_cuda_host");
}

int kern_dequant_awq_cuda(const int32_t *d_qweight, const int32_t *d_qzeros, const float *d_scale, size_t in,
                          size_t out, int group, float *d_w, ck_err *err)
{
    (void)d_qweight, (void)d_qzeros, (void)d_scale, (void)in, (void)out, (void)group, (void)d_w;
    STUB("kern_dequant_awq_cuda");
}

int kern_dequant_awq_cuda_host(const int32_t *qweight, const int32_t *qzeros, const float *scale, size_t in,
                               size_t out, int group, float *w, ck_err *err)
{
    (void)qweight, (void)qzeros, (void)scale, (void)in, (void)out, (void)group, (void)w;
    STUB("kern_dequant_awq_cuda_host");
}

int kern_dequant_gptq_cuda(const int32_t *d_qweight, const float *d_scale, const int32_t *d_g_idx, size_t in,
                           size_t out, int bits, int group, float *d_w, ck_err *err)
{
    (void)d_qweight, (void)d_scale, (void)d_g_idx, (void)in, (void)out, (void)bits, (void)group, (void)d_w;
    STUB("kern_dequant_gptq_cuda");
}

int kern_dequant_gptq_cuda_host(const int32_t *qweight, const float *scale, const int32_t *g_idx, size_t in,
                                size_t out, int bits, int group, size_t groups, float *w, ck_err *err)
{
    (void)qweight, (void)scale, (void)g_idx, (void)in, (void)out, (void)bits, (void)group, (void)groups, (void)w;
    STUB("kern_dequant_gptq_cuda_host");
}

int kern_dequant_nvfp4_cuda(const uint8_t *d_packed, size_t rows, size_t cols, const float *d_scale, int group,
                            float global, float *d_out, ck_err *err)
{
    (void)d_packed, (void)rows, (void)cols, (void)d_scale, (void)group, (void)global, (void)d_out;
    STUB("kern_dequant_nvfp4_cuda");
}

int kern_dequant_nvfp4_cuda_host(const uint8_t *packed, size_t rows, size_t cols, const float *scale, int group,
                                 float global, float *out, ck_err *err)
{
    (void)packed, (void)rows, (void)cols, (void)scale, (void)group, (void)global, (void)out;
    STUB("kern_dequant_nvfp4_cuda_host");
}
