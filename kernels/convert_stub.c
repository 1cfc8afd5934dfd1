/* convert_stub.c - linked instead of convert.cu where nvcc is not available: every CUDA entry
 * point reports "CUDA not built" and the caller falls back to the C reference. */
#include <stdio.h>

#include "convert.h"

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
