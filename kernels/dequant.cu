/* dequant.cu - CUDA versions of the dequantizations in dequant.h: one thread per output
 * element (grid-stride), the element steps shared with the reference (dequant_elem.h). */
#include "kernels/dequant.h"

#include "kernels/cuda_check.h"
#include "kernels/dequant_elem.h"

#define THREADS 256
#define MAX_BLOCKS 4096

static unsigned blocks_for(size_t n)
{
    size_t b = (n + THREADS - 1) / THREADS;
    return (unsigned)(b < 1 ? 1 : b > MAX_BLOCKS ? MAX_BLOCKS : b);
}

__global__ void fp8_block_kernel(const uint8_t *w, size_t rows, size_t cols, size_t sc, const float *scale,
                                 int bn, int bk, float *out)
{
    size_t n = rows * cols;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = ck_fp8_block_dequant(w, cols, sc, i / cols, i % cols, bn, bk, scale);
}

__global__ void packed_kernel(const uint32_t *packed, size_t rows, size_t cols, size_t words, size_t groups,
                              int bits, const float *scale, int group, const int32_t *zp, float *out)
{
    size_t n = rows * cols;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = ck_packed_dequant(packed, words, groups, i / cols, i % cols, bits, scale, group, zp);
}

__global__ void int8_kernel(const int8_t *q, size_t rows, size_t cols, size_t groups, const float *scale, int group,
                            const int32_t *zp, float *out)
{
    size_t n = rows * cols;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = ck_int8_dequant(q, cols, groups, i / cols, i % cols, scale, group, zp);
}

__global__ void nvfp4_kernel(const uint8_t *packed, size_t rows, size_t cols, const float *scale, int group,
                             float global, float *out)
{
    size_t n = rows * cols;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = ck_nvfp4_dequant(packed, cols, i / cols, i % cols, scale, group, global);
}

static int nvfp4_args(size_t cols, int group, float global, ck_err *err)
{
    if (group <= 0 || cols % 2 || cols % (size_t)group || !(global > 0))
        return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "NVFP4 of %zu columns, group %d, global "
                          "scale %g: columns must be even and whole groups, the global scale positive", cols, group,
                          (double)global);
    return CK_OK;
}

extern "C" int kern_dequant_nvfp4_cuda(const uint8_t *d_packed, size_t rows, size_t cols, const float *d_scale,
                                       int group, float global, float *d_out, ck_err *err)
{
    int rc = nvfp4_args(cols, group, global, err);
    if (rc || !rows || !cols)
        return rc;
    nvfp4_kernel<<<blocks_for(rows * cols), THREADS>>>(d_packed, rows, cols, d_scale, group, global, d_out);
    CK_CUDA_LAUNCH(err, "nvfp4_kernel");
    CK_CUDA(err, cudaDeviceSynchronize());
    return CK_OK;
}

extern "C" int kern_dequant_int8_cuda(const int8_t *d_q, size_t rows, size_t cols, const float *d_scale, int group,
                                      const int32_t *d_zp, float *d_out, ck_err *err)
{
    if (group < 0)
        return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "int8 dequantization with group %d: a "
                          "group is 0 (one scale per row) or a positive number of columns", group);
    if (!rows || !cols)
        return CK_OK;
    size_t groups = group > 0 ? (cols + (size_t)group - 1) / (size_t)group : 1;
    int8_kernel<<<blocks_for(rows * cols), THREADS>>>(d_q, rows, cols, groups, d_scale, group, d_zp, d_out);
    CK_CUDA_LAUNCH(err, "int8_kernel");
    CK_CUDA(err, cudaDeviceSynchronize());
    return CK_OK;
}

extern "C" int kern_dequant_fp8_block_cuda(const uint8_t *d_w, size_t rows, size_t cols, const float *d_scale,
                                           int bn, int bk, float *d_out, ck_err *err)
{
    if (bn <= 0 || bk <= 0)
        return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "FP8 block %dx%d", bn, bk);
    if (!rows || !cols)
        return CK_OK;
    size_t sc = (cols + (size_t)bk - 1) / (size_t)bk;
    fp8_block_kernel<<<blocks_for(rows * cols), THREADS>>>(d_w, rows, cols, sc, d_scale, bn, bk, d_out);
    CK_CUDA_LAUNCH(err, "fp8_block_kernel");
    CK_CUDA(err, cudaDeviceSynchronize());
    return CK_OK;
}

extern "C" int kern_dequant_packed_cuda(const int32_t *d_packed, size_t rows, size_t cols, int bits,
                                        const float *d_scale, int group, const int32_t *d_zp, float *d_out,
                                        ck_err *err)
{
    if (bits < 1 || bits > 8 || group < 0)
        return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "%d bits, group %d", bits, group);
    if (!rows || !cols)
        return CK_OK;
    size_t words = kern_packed_words(cols, bits);
    size_t groups = group > 0 ? (cols + (size_t)group - 1) / (size_t)group : 1;
    packed_kernel<<<blocks_for(rows * cols), THREADS>>>((const uint32_t *)d_packed, rows, cols, words, groups,
                                                        bits, d_scale, group, d_zp, d_out);
    CK_CUDA_LAUNCH(err, "packed_kernel");
    CK_CUDA(err, cudaDeviceSynchronize());
    return CK_OK;
}

__global__ void awq_kernel(const uint32_t *qw, const uint32_t *qz, const float *scale, size_t in, size_t out,
                           int group, float *w)
{
    size_t n = in * out;
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < n; k += (size_t)gridDim.x * blockDim.x)
        w[k] = ck_awq_dequant(qw, qz, scale, out, k / in, k % in, group);
}

extern "C" int kern_dequant_awq_cuda(const int32_t *d_qweight, const int32_t *d_qzeros, const float *d_scale,
                                     size_t in, size_t out, int group, float *d_w, ck_err *err)
{
    if (group < 0 || out % 8)
        return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "AWQ with %zu output columns (a multiple of "
                          "8), group %d", out, group);
    if (!in || !out)
        return CK_OK;
    awq_kernel<<<blocks_for(in * out), THREADS>>>((const uint32_t *)d_qweight, (const uint32_t *)d_qzeros, d_scale,
                                                  in, out, group, d_w);
    CK_CUDA_LAUNCH(err, "awq_kernel");
    CK_CUDA(err, cudaDeviceSynchronize());
    return CK_OK;
}

__global__ void gptq_kernel(const uint32_t *qw, const float *scale, const int32_t *g_idx, size_t in, size_t out,
                            int bits, int group, float *w)
{
    size_t n = in * out;
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < n; k += (size_t)gridDim.x * blockDim.x)
        w[k] = ck_gptq_dequant(qw, scale, g_idx, out, k / in, k % in, bits, group);
}

extern "C" int kern_dequant_gptq_cuda(const int32_t *d_qweight, const float *d_scale, const int32_t *d_g_idx,
                                      size_t in, size_t out, int bits, int group, float *d_w, ck_err *err)
{
    if ((bits != 4 && bits != 8) || group < 0 || in % (32 / (size_t)bits))
        return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "GPTQ of %d bits, group %d, %zu inputs (a "
                          "multiple of %d)", bits, group, in, bits > 0 ? 32 / bits : 0);
    if (!in || !out)
        return CK_OK;
    gptq_kernel<<<blocks_for(in * out), THREADS>>>((const uint32_t *)d_qweight, d_scale, d_g_idx, in, out, bits,
                                                   group, d_w);
    CK_CUDA_LAUNCH(err, "gptq_kernel");
    CK_CUDA(err, cudaDeviceSynchronize());
    return CK_OK;
}

/* Device buffers of a host call, freed together. */
struct dev_bufs {
    void *p[4];
    ~dev_bufs()
    {
        for (void *x : p)
            cudaFree(x);
    }
};

static int to_dev(void **d, const void *h, size_t bytes, ck_err *err)
{
    CK_CUDA(err, cudaMalloc(d, bytes ? bytes : 1));
    if (h && bytes)
        CK_CUDA(err, cudaMemcpy(*d, h, bytes, cudaMemcpyHostToDevice));
    return CK_OK;
}

/* The host conveniences: the weight (wbytes), ns scales and optional zero points copied to the
 * device, run(weight, scale, zp, out) there, n floats copied back into out. */
template <class Run>
static int on_device(const void *w, size_t wbytes, const float *scale, size_t ns, const int32_t *zp, size_t n,
                     float *out, Run run, ck_err *err)
{
    dev_bufs b = {{NULL, NULL, NULL, NULL}};
    int rc;
    if ((rc = to_dev(&b.p[0], w, wbytes, err)) || (rc = to_dev(&b.p[1], scale, ns * sizeof(float), err)) ||
        (zp && (rc = to_dev(&b.p[3], zp, ns * sizeof(int32_t), err))) ||
        (rc = to_dev(&b.p[2], NULL, n * sizeof(float), err)))
        return rc;
    if ((rc = run(b.p[0], (const float *)b.p[1], (const int32_t *)b.p[3], (float *)b.p[2])))
        return rc;
    if (n)
        CK_CUDA(err, cudaMemcpy(out, b.p[2], n * sizeof(float), cudaMemcpyDeviceToHost));
    return CK_OK;
}

extern "C" int kern_dequant_fp8_block_cuda_host(const uint8_t *w, size_t rows, size_t cols, const float *scale,
                                                int bn, int bk, float *out, ck_err *err)
{
    if (bn <= 0 || bk <= 0)
        return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "FP8 block %dx%d", bn, bk);
    size_t n = rows * cols, ns = ((rows + bn - 1) / bn) * ((cols + bk - 1) / bk);
    return on_device(w, n, scale, ns, NULL, n, out, [&](const void *dw, const float *ds, const int32_t *, float *dout) {
        return kern_dequant_fp8_block_cuda((const uint8_t *)dw, rows, cols, ds, bn, bk, dout, err);
    }, err);
}

extern "C" int kern_dequant_packed_cuda_host(const int32_t *packed, size_t rows, size_t cols, int bits,
                                             const float *scale, int group, const int32_t *zp, float *out,
                                             ck_err *err)
{
    if (bits < 1 || bits > 8 || group < 0)
        return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "%d bits, group %d", bits, group);
    size_t n = rows * cols, ns = rows * (group > 0 ? (cols + (size_t)group - 1) / (size_t)group : 1);
    return on_device(packed, rows * kern_packed_words(cols, bits) * 4, scale, ns, zp, n, out,
                     [&](const void *dw, const float *ds, const int32_t *dz, float *dout) {
                         return kern_dequant_packed_cuda((const int32_t *)dw, rows, cols, bits, ds, group, dz, dout,
                                                         err);
                     }, err);
}

extern "C" int kern_dequant_int8_cuda_host(const int8_t *q, size_t rows, size_t cols, const float *scale, int group,
                                           const int32_t *zp, float *out, ck_err *err)
{
    if (group < 0)
        return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "int8 dequantization with group %d: a "
                          "group is 0 (one scale per row) or a positive number of columns", group);
    size_t n = rows * cols, ns = rows * (group > 0 ? (cols + (size_t)group - 1) / (size_t)group : 1);
    return on_device(q, n, scale, ns, zp, n, out, [&](const void *dw, const float *ds, const int32_t *dz, float *dout) {
        return kern_dequant_int8_cuda((const int8_t *)dw, rows, cols, ds, group, dz, dout, err);
    }, err);
}

extern "C" int kern_dequant_awq_cuda_host(const int32_t *qweight, const int32_t *qzeros, const float *scale,
                                          size_t in, size_t out, int group, float *w, ck_err *err)
{
    if (group < 0 || out % 8)
        return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "AWQ with %zu output columns (a multiple of "
                          "8), group %d", out, group);
    size_t groups = group > 0 ? (in + (size_t)group - 1) / (size_t)group : 1, n = in * out;
    dev_bufs b = {{NULL, NULL, NULL, NULL}};
    int rc;
    if ((rc = to_dev(&b.p[0], qweight, in * (out / 8) * 4, err)) ||
        (rc = to_dev(&b.p[1], qzeros, groups * (out / 8) * 4, err)) ||
        (rc = to_dev(&b.p[2], scale, groups * out * sizeof(float), err)) ||
        (rc = to_dev(&b.p[3], NULL, n * sizeof(float), err)))
        return rc;
    if ((rc = kern_dequant_awq_cuda((const int32_t *)b.p[0], (const int32_t *)b.p[1], (const float *)b.p[2], in,
                                    out, group, (float *)b.p[3], err)))
        return rc;
    if (n)
        CK_CUDA(err, cudaMemcpy(w, b.p[3], n * sizeof(float), cudaMemcpyDeviceToHost));
    return CK_OK;
}

extern "C" int kern_dequant_gptq_cuda_host(const int32_t *qweight, const float *scale, const int32_t *g_idx,
                                           size_t in, size_t out, int bits, int group, size_t groups, float *w,
                                           ck_err *err)
{
    if ((bits != 4 && bits != 8) || group < 0 || in % (32 / (size_t)bits))
        return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "GPTQ of %d bits, group %d, %zu inputs (a "
                          "multiple of %d)", bits, group, in, bits > 0 ? 32 / bits : 0);
    size_t n = in * out;
    dev_bufs b = {{NULL, NULL, NULL, NULL}};
    int rc;
    if ((rc = to_dev(&b.p[0], qweight, in / (32 / (size_t)bits) * out * 4, err)) ||
        (rc = to_dev(&b.p[1], scale, groups * out * sizeof(float), err)) ||
        (g_idx && (rc = to_dev(&b.p[2], g_idx, in * sizeof(int32_t), err))) ||
        (rc = to_dev(&b.p[3], NULL, n * sizeof(float), err)))
        return rc;
    if ((rc = kern_dequant_gptq_cuda((const int32_t *)b.p[0], (const float *)b.p[1], (const int32_t *)b.p[2], in,
                                     out, bits, group, (float *)b.p[3], err)))
        return rc;
    if (n)
        CK_CUDA(err, cudaMemcpy(w, b.p[3], n * sizeof(float), cudaMemcpyDeviceToHost));
    return CK_OK;
}

extern "C" int kern_dequant_nvfp4_cuda_host(const uint8_t *packed, size_t rows, size_t cols, const float *scale,
                                            int group, float global, float *out, ck_err *err)
{
    int rc = nvfp4_args(cols, group, global, err);
    if (rc)
        return rc;
    size_t n = rows * cols;
    return on_device(packed, n / 2, scale, rows * (cols / (size_t)group), NULL, n, out,
                     [&](const void *dw, const float *ds, const int32_t *, float *dout) {
                         return kern_dequant_nvfp4_cuda((const uint8_t *)dw, rows, cols, ds, group, global, dout, err);
                     }, err);
}
