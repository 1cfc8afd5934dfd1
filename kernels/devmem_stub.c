/* devmem_stub.c - linked instead of devmem.cu and ops.cu where nvcc is not available: every
 * device entry point reports "CUDA not built" and callers stay on the C reference. */
#include "kernels/devmem.h"
#include "kernels/ops.h"

#define STUB(call)                                                                                \
    return ck_err_set(err, CK_ECUDA, NULL, call, CK_NO_OFFSET, "CUDA not built (no nvcc at build " \
                      "time)")

int kdev_alloc(void **p, size_t bytes, ck_err *err)
{
    (void)bytes;
    *p = NULL;
    STUB("kdev_alloc");
}

void kdev_free(void *p)
{
    (void)p;
}

uint64_t kdev_bytes_in_use(void)
{
    return 0;
}

int kdev_copy2d(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height, ck_err *err)
{
    (void)dst, (void)dpitch, (void)src, (void)spitch, (void)width, (void)height;
    STUB("kdev_copy2d");
}

int kdev_upload(void *d_dst, const void *src, size_t n, ck_err *err)
{
    (void)d_dst, (void)src, (void)n;
    STUB("kdev_upload");
}

int kdev_stream(void **stream, ck_err *err)
{
    *stream = NULL;
    STUB("kdev_stream");
}

int kdev_sync(ck_err *err)
{
    STUB("kdev_sync");
}

int kdev_stager_new(size_t chunk, kdev_stager **out, ck_err *err)
{
    (void)chunk;
    *out = NULL;
    STUB("kdev_stager_new");
}

void kdev_stager_free(kdev_stager *s)
{
    (void)s;
}

uint64_t kdev_stager_bytes(const kdev_stager *s)
{
    (void)s;
    return 0;
}

int kdev_read_fd(kdev_stager *s, int fd, uint64_t off, size_t n, void *d_dst, const char *path, ck_err *err)
{
    (void)s, (void)fd, (void)off, (void)n, (void)d_dst, (void)path;
    STUB("kdev_read_fd");
}

int kdev_scratch(kdev_stager *s, int slot, size_t n, void **d_out, ck_err *err)
{
    (void)s, (void)slot, (void)n;
    *d_out = NULL;
    STUB("kdev_scratch");
}

int fwd_linear_cuda(const float *x, size_t T, size_t K, const float *w, size_t N, const float *bias, float *y,
                    int acc, ck_err *err)
{
    (void)x, (void)T, (void)K, (void)w, (void)N, (void)bias, (void)y, (void)acc;
    STUB("fwd_linear_cuda");
}

int fwd_rmsnorm_cuda(const float *x, size_t T, size_t n, const float *w, float eps, float *y, ck_err *err)
{
    (void)x, (void)T, (void)n, (void)w, (void)eps, (void)y;
    STUB("fwd_rmsnorm_cuda");
}

int fwd_rope_freqs_cuda(float *x, size_t T, size_t heads, size_t hd, size_t rot, const double *inv, ck_err *err)
{
    (void)x, (void)T, (void)heads, (void)hd, (void)rot, (void)inv;
    STUB("fwd_rope_freqs_cuda");
}

int fwd_attention_cuda(const float *q, const float *k, const float *v, size_t T, size_t hq, size_t hkv, size_t hd,
                       const fwd_attn_opts *o, float *out, ck_err *err)
{
    (void)q, (void)k, (void)v, (void)T, (void)hq, (void)hkv, (void)hd, (void)o, (void)out;
    STUB("fwd_attention_cuda");
}

int fwd_gated_delta_cuda(const float *q, const float *k, const float *v, const float *g, const float *beta, size_t T,
                         size_t nh, size_t dk, size_t dv, float *out, ck_err *err)
{
    (void)q, (void)k, (void)v, (void)g, (void)beta, (void)T, (void)nh, (void)dk, (void)dv, (void)out;
    STUB("fwd_gated_delta_cuda");
}

int fwd_act_each_cuda(const float *x, size_t n, fwd_act act, float *out, ck_err *err)
{
    (void)x, (void)n, (void)act, (void)out;
    STUB("fwd_act_each_cuda");
}

int fwd_act_mul_cuda(const float *gu, size_t T, size_t n, fwd_act act, float *out, ck_err *err)
{
    (void)gu, (void)T, (void)n, (void)act, (void)out;
    STUB("fwd_act_mul_cuda");
}
