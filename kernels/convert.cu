/* convert.cu - CUDA versions of kern_convert_ref and kern_stats_ref (see convert.h). The scalar
 * decoding is the same code as the reference (dtype_conv.h). */
#include "kernels/convert.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernels/cuda_check.h"
#include "kernels/dtype_conv.h"

#define THREADS 256
#define MAX_BLOCKS 1024

__device__ __forceinline__ float load_dev(ck_dtype dt, const uint8_t *p, size_t i)
{
    switch (dt) {
    case DT_F32: return reinterpret_cast<const float *>(p)[i];
    case DT_F64: return (float)reinterpret_cast<const double *>(p)[i];
    case DT_F16: return ck_f16_to_f32(reinterpret_cast<const uint16_t *>(p)[i]);
    case DT_BF16: return ck_bf16_to_f32(reinterpret_cast<const uint16_t *>(p)[i]);
    case DT_F8_E4M3: return ck_e4m3_to_f32(p[i]);
    default: return ck_e5m2_to_f32(p[i]);
    }
}

__global__ void convert_kernel(ck_dtype dt, const uint8_t *src, size_t n, float *dst)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = load_dev(dt, src, i);
}

struct partial {
    unsigned long long nan, inf, zeros;
    float mn, mx;
    double sum, sumsq;
};

__global__ void stats_kernel(ck_dtype dt, const uint8_t *src, size_t n, partial *out)
{
    __shared__ partial sh[THREADS];
    partial p = {0, 0, 0, INFINITY, -INFINITY, 0.0, 0.0};
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float v = load_dev(dt, src, i);
        if (isnan(v)) {
            p.nan++;
            continue;
        }
        if (isinf(v)) {
            p.inf++;
            continue;
        }
        p.zeros += v == 0.0f;
        p.mn = fminf(p.mn, v);
        p.mx = fmaxf(p.mx, v);
        p.sum += v;
        p.sumsq += (double)v * v;
    }
    sh[threadIdx.x] = p;
    __syncthreads();
    for (int s = THREADS / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            partial &a = sh[threadIdx.x];
            const partial &b = sh[threadIdx.x + s];
            a.nan += b.nan;
            a.inf += b.inf;
            a.zeros += b.zeros;
            a.mn = fminf(a.mn, b.mn);
            a.mx = fmaxf(a.mx, b.mx);
            a.sum += b.sum;
            a.sumsq += b.sumsq;
        }
        __syncthreads();
    }
    if (threadIdx.x == 0)
        out[blockIdx.x] = sh[0];
}

static unsigned blocks_for(size_t n)
{
    size_t b = (n + THREADS - 1) / THREADS;
    return b == 0 ? 1 : b > MAX_BLOCKS ? MAX_BLOCKS : (unsigned)b;
}

extern "C" int kern_cuda_available(char *why, size_t size)
{
    int n = 0;
    cudaError_t rc = cudaGetDeviceCount(&n);
    if (rc != cudaSuccess || n == 0) {
        if (why)
            snprintf(why, size, "no CUDA device (%s)",
                     rc != cudaSuccess ? cudaGetErrorString(rc) : "device count is 0");
        return 0;
    }
    return 1;
}

static int not_convertible(ck_dtype dt, ck_err *err)
{
    return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "dtype %s has no conversion to float32 (this "
                      "version converts F32, F64, F16, BF16, F8_E4M3 and F8_E5M2)", dtype_name(dt));
}

extern "C" int kern_convert_cuda_async(ck_dtype dt, const void *d_src, size_t n, float *d_dst, void *stream,
                                       ck_err *err)
{
    if (!kern_convert_supported(dt))
        return not_convertible(dt, err);
    if (n == 0)
        return CK_OK;
    convert_kernel<<<blocks_for(n), THREADS, 0, (cudaStream_t)stream>>>(dt, (const uint8_t *)d_src, n, d_dst);
    CK_CUDA_LAUNCH(err, "convert_kernel");
    return CK_OK;
}

/* One thread per destination element, grid-stride. */
__global__ void transpose_last2_kernel(const float *src, size_t blocks, size_t a, size_t b, float *dst)
{
    size_t n = blocks * a * b;
    for (size_t o = blockIdx.x * (size_t)blockDim.x + threadIdx.x; o < n; o += (size_t)gridDim.x * blockDim.x) {
        size_t k = o / (a * b), r = o % (a * b), j = r / a, i = r % a;
        dst[o] = src[(k * a + i) * b + j];
    }
}

extern "C" int kern_transpose_last2_cuda_async(const float *d_src, size_t blocks, size_t a, size_t b, float *d_dst,
                                               void *stream, ck_err *err)
{
    size_t n = blocks * a * b;
    if (n == 0)
        return CK_OK;
    transpose_last2_kernel<<<blocks_for(n), THREADS, 0, (cudaStream_t)stream>>>(d_src, blocks, a, b, d_dst);
    CK_CUDA_LAUNCH(err, "transpose_last2_kernel");
    return CK_OK;
}

extern "C" int kern_convert_cuda(ck_dtype dt, const void *d_src, size_t n, float *d_dst, ck_err *err)
{
    int rc = kern_convert_cuda_async(dt, d_src, n, d_dst, NULL, err); /* the default stream */
    if (rc == CK_OK && n)
        CK_CUDA(err, cudaDeviceSynchronize());
    return rc;
}

extern "C" int kern_stats_cuda(ck_dtype dt, const void *d_src, size_t n, kern_stats *acc, ck_err *err)
{
    if (!kern_convert_supported(dt))
        return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "dtype %s has no statistics",
                          dtype_name(dt));
    unsigned nb = blocks_for(n);
    partial *d_part = NULL;
    partial host[MAX_BLOCKS];
    kern_stats s;
    kern_stats_init(&s);
    if (n) {
        CK_CUDA(err, cudaMalloc((void **)&d_part, nb * sizeof(partial)));
        stats_kernel<<<nb, THREADS>>>(dt, (const uint8_t *)d_src, n, d_part);
        cudaError_t rc = cudaGetLastError();
        if (rc == cudaSuccess)
            rc = cudaMemcpy(host, d_part, nb * sizeof(partial), cudaMemcpyDeviceToHost);
        cudaFree(d_part);
        if (rc != cudaSuccess)
            return ck_err_set(err, CK_ECUDA, __FILE__, "stats_kernel", CK_NO_OFFSET, "%s",
                              cudaGetErrorString(rc));
        for (unsigned b = 0; b < nb; b++) {
            s.nan += host[b].nan;
            s.inf += host[b].inf;
            s.zeros += host[b].zeros;
            if (host[b].mn < s.min)
                s.min = host[b].mn;
            if (host[b].mx > s.max)
                s.max = host[b].mx;
            s.sum += host[b].sum;
            s.sumsq += host[b].sumsq;
        }
    }
    s.count = n;
    s.finite = n - s.nan - s.inf;
    kern_stats_merge(acc, &s);
    return CK_OK;
}

static size_t elem_bytes(ck_dtype dt)
{
    return dtype_bits(dt) / 8;
}

extern "C" int kern_convert_cuda_host(ck_dtype dt, const void *src, size_t n, float *dst, ck_err *err)
{
    if (!kern_convert_supported(dt))
        return not_convertible(dt, err);
    if (n == 0)
        return CK_OK;
    void *d_src = NULL;
    float *d_dst = NULL;
    int rc = CK_OK;
    cudaError_t e = cudaMalloc(&d_src, n * elem_bytes(dt));
    if (e == cudaSuccess)
        e = cudaMalloc((void **)&d_dst, n * sizeof(float));
    if (e == cudaSuccess)
        e = cudaMemcpy(d_src, src, n * elem_bytes(dt), cudaMemcpyHostToDevice);
    if (e != cudaSuccess)
        rc = ck_err_set(err, CK_ECUDA, __FILE__, "cudaMalloc/cudaMemcpy", CK_NO_OFFSET, "%s",
                        cudaGetErrorString(e));
    if (rc == CK_OK)
        rc = kern_convert_cuda(dt, d_src, n, d_dst, err);
    if (rc == CK_OK && (e = cudaMemcpy(dst, d_dst, n * sizeof(float), cudaMemcpyDeviceToHost)) != cudaSuccess)
        rc = ck_err_set(err, CK_ECUDA, __FILE__, "cudaMemcpy", CK_NO_OFFSET, "%s",
                        cudaGetErrorString(e));
    cudaFree(d_src);
    cudaFree(d_dst);
    return rc;
}

extern "C" int kern_stats_cuda_host(ck_dtype dt, const void *src, size_t n, kern_stats *acc, ck_err *err)
{
    if (!kern_convert_supported(dt))
        return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "dtype %s has no statistics",
                          dtype_name(dt));
    void *d_src = NULL;
    int rc = CK_OK;
    if (n) {
        cudaError_t e = cudaMalloc(&d_src, n * elem_bytes(dt));
        if (e == cudaSuccess)
            e = cudaMemcpy(d_src, src, n * elem_bytes(dt), cudaMemcpyHostToDevice);
        if (e != cudaSuccess)
            rc = ck_err_set(err, CK_ECUDA, __FILE__, "cudaMalloc/cudaMemcpy", CK_NO_OFFSET, "%s",
                            cudaGetErrorString(e));
    }
    if (rc == CK_OK)
        rc = kern_stats_cuda(dt, d_src, n, acc, err);
    cudaFree(d_src);
    return rc;
}
