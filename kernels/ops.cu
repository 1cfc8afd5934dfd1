/* ops.cu - the forward operations of ops.h on the device: products with cuBLAS (SGEMM,
 * fp32 without TF32), the rest as kernels that follow the C reference step by step (double
 * accumulation where it accumulates in double). Pointers are device or managed memory; each
 * call checks every CUDA/cuBLAS status and the last error after each launch, and waits for the
 * device before returning, so the caller may read the result from the host. */
#include "kernels/ops.h"

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>

#include <cublas_v2.h>

#include "kernels/cuda_check.h"
#include "kernels/ops_elem.h"

#define THREADS 256
#define STR_(x) #x
#define STR(x) STR_(x)

/* cuBLAS is opened on first use, not linked: loading it costs tens of milliseconds, which every
 * header-only command (inspect, lint) would pay at start-up otherwise. */
static struct {
    int ready;
    cublasHandle_t h;
    decltype(&cublasCreate_v2) create;
    decltype(&cublasSetMathMode) math;
    decltype(&cublasSgemm_v2) sgemm;
    decltype(&cublasGetStatusString) status;
} B;

#define CK_BLAS(err, call)                                                                        \
    do {                                                                                          \
        cublasStatus_t ck_blas_rc_ = (call);                                                      \
        if (ck_blas_rc_ != CUBLAS_STATUS_SUCCESS)                                                 \
            return ck_err_set((err), CK_ECUDA, __FILE__, #call, CK_NO_OFFSET, "line %d: %s",      \
                              __LINE__, B.status(ck_blas_rc_));                                   \
    } while (0)

static int blas(cublasHandle_t *h, ck_err *err)
{
    if (!B.ready) {
        static const char *const names[] = {"libcublas.so." STR(CUBLAS_VER_MAJOR),
#ifdef CK_CUDA_LIBDIR
                                            CK_CUDA_LIBDIR "/libcublas.so." STR(CUBLAS_VER_MAJOR),
#endif
                                            "libcublas.so"};
        void *lib = NULL;
        for (unsigned i = 0; i < sizeof names / sizeof *names && !lib; i++)
            lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (!lib)
            return ck_err_set(err, CK_ECUDA, __FILE__, "dlopen(libcublas)", CK_NO_OFFSET, "cannot load cuBLAS "
                              "(%s): install the CUDA toolkit's libcublas, or point CUDA_HOME at it when building",
                              dlerror());
        B.create = (decltype(B.create))dlsym(lib, "cublasCreate_v2");
        B.math = (decltype(B.math))dlsym(lib, "cublasSetMathMode");
        B.sgemm = (decltype(B.sgemm))dlsym(lib, "cublasSgemm_v2");
        B.status = (decltype(B.status))dlsym(lib, "cublasGetStatusString");
        if (!B.create || !B.math || !B.sgemm || !B.status)
            return ck_err_set(err, CK_ECUDA, __FILE__, "dlsym(libcublas)", CK_NO_OFFSET, "the cuBLAS found "
                              "lacks a symbol (%s): it is older than the CUDA runtime ckptdoc was built with",
                              dlerror());
        CK_BLAS(err, B.create(&B.h));
        CK_BLAS(err, B.math(B.h, CUBLAS_PEDANTIC_MATH)); /* no TF32: fp32 as the reference */
        B.ready = 1;
    }
    *h = B.h;
    return CK_OK;
}

static unsigned blocks_for(size_t n)
{
    size_t b = (n + THREADS - 1) / THREADS;
    return b == 0 ? 1 : b > 65535 ? 65535 : (unsigned)b;
}

__global__ void add_bias_kernel(float *y, size_t T, size_t N, const float *bias)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < T * N; i += (size_t)gridDim.x * blockDim.x)
        y[i] += bias[i % N];
}

extern "C" int fwd_linear_cuda(const float *x, size_t T, size_t K, const float *w, size_t N, const float *bias,
                               float *y, int acc, ck_err *err)
{
    if (!T || !N)
        return CK_OK;
    cublasHandle_t h = NULL;
    if (blas(&h, err))
        return err->code;
    /* row-major y[T,N] = x[T,K] w[N,K]^T is column-major y^T[N,T] = (w as [K,N])^T (x as [K,T]) */
    const float one = 1.0f, beta = acc ? 1.0f : 0.0f;
    CK_BLAS(err, B.sgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)N, (int)T, (int)K, &one, w, (int)K, x, (int)K, &beta,
                             y, (int)N));
    if (bias) {
        add_bias_kernel<<<blocks_for(T * N), THREADS>>>(y, T, N, bias);
        CK_CUDA_LAUNCH(err, "add_bias_kernel");
    }
    CK_CUDA(err, cudaDeviceSynchronize());
    return CK_OK;
}

__global__ void rmsnorm_kernel(const float *x, size_t n, const float *w, float eps, float *y)
{
    __shared__ double part[THREADS];
    const float *row = x + blockIdx.x * n;
    double ss = 0;
    for (size_t i = threadIdx.x; i < n; i += blockDim.x)
        ss += (double)row[i] * row[i];
    part[threadIdx.x] = ss;
    __syncthreads();
    for (int s = THREADS / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s)
            part[threadIdx.x] += part[threadIdx.x + s];
        __syncthreads();
    }
    float r = (float)(1.0 / sqrt(part[0] / (double)n + eps));
    for (size_t i = threadIdx.x; i < n; i += blockDim.x)
        y[blockIdx.x * n + i] = row[i] * r * w[i];
}

extern "C" int fwd_rmsnorm_cuda(const float *x, size_t T, size_t n, const float *w, float eps, float *y, ck_err *err)
{
    if (!T)
        return CK_OK;
    rmsnorm_kernel<<<(unsigned)T, THREADS>>>(x, n, w, eps, y);
    CK_CUDA_LAUNCH(err, "rmsnorm_kernel");
    CK_CUDA(err, cudaDeviceSynchronize());
    return CK_OK;
}

__global__ void rope_kernel(float *x, size_t T, size_t heads, size_t hd, size_t half, const double *inv)
{
    for (size_t j = blockIdx.x * (size_t)blockDim.x + threadIdx.x; j < T * heads * half;
         j += (size_t)gridDim.x * blockDim.x) {
        size_t i = j % half, th = j / half, t = th / heads;
        float *v = x + th * hd;
        double f = inv[i] * (double)t;
        float c = (float)cos(f), s = (float)sin(f);
        float a = v[i], b = v[i + half];
        v[i] = a * c - b * s;
        v[i + half] = b * c + a * s;
    }
}

extern "C" int fwd_rope_freqs_cuda(float *x, size_t T, size_t heads, size_t hd, size_t rot, const double *inv,
                                   ck_err *err)
{
    size_t half = rot / 2;
    if (!T || !heads || !half)
        return CK_OK;
    double *d_inv = NULL;
    CK_CUDA(err, cudaMalloc((void **)&d_inv, half * sizeof *d_inv));
    cudaError_t e = cudaMemcpy(d_inv, inv, half * sizeof *d_inv, cudaMemcpyHostToDevice);
    if (e == cudaSuccess) {
        rope_kernel<<<blocks_for(T * heads * half), THREADS>>>(x, T, heads, hd, half, d_inv);
        e = cudaGetLastError();
    }
    if (e == cudaSuccess)
        e = cudaDeviceSynchronize();
    cudaFree(d_inv);
    if (e != cudaSuccess)
        return ck_err_set(err, CK_ECUDA, __FILE__, "rope_kernel", CK_NO_OFFSET, "%s", cudaGetErrorString(e));
    return CK_OK;
}

/* One block per (token t, query head h): the scores of keys lo..t in shared memory (double). */
__global__ void attention_kernel(const float *q, const float *k, const float *v, size_t T, size_t hq, size_t hkv,
                                 size_t hd, fwd_attn_opts o, float *out)
{
    extern __shared__ double p[];
    __shared__ double sum;
    size_t t = blockIdx.x / hq, h = blockIdx.x % hq, kh = h / (hq / hkv), lo = ck_window_start(t, o.window, o.chunk);
    double scale = o.scale > 0 ? o.scale : 1.0 / sqrt((double)hd);
    const float *qv = q + (t * hq + h) * hd;
    for (size_t s = lo + threadIdx.x; s <= t; s += blockDim.x) {
        const float *kv = k + (s * hkv + kh) * hd;
        double d = 0;
        for (size_t i = 0; i < hd; i++)
            d += (double)qv[i] * kv[i];
        p[s] = ck_score(d, scale, o.softcap);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        double m = o.sinks ? (double)o.sinks[h] : -INFINITY, sm = 0;
        for (size_t s = lo; s <= t; s++)
            m = p[s] > m ? p[s] : m;
        for (size_t s = lo; s <= t; s++)
            sm += (p[s] = exp(p[s] - m));
        if (o.sinks) /* the sink's share of the softmax goes nowhere */
            sm += exp((double)o.sinks[h] - m);
        sum = sm;
    }
    __syncthreads();
    float *ov = out + (t * hq + h) * hd;
    for (size_t i = threadIdx.x; i < hd; i += blockDim.x) {
        double a = 0;
        for (size_t s = lo; s <= t; s++)
            a += p[s] * v[(s * hkv + kh) * hd + i];
        ov[i] = (float)(a / sum);
    }
}

extern "C" int fwd_attention_cuda(const float *q, const float *k, const float *v, size_t T, size_t hq, size_t hkv,
                                  size_t hd, const fwd_attn_opts *o, float *out, ck_err *err)
{
    if (!T || !hq)
        return CK_OK;
    if (!hkv || hq % hkv)
        return ck_err_set(err, CK_EUSAGE, NULL, "fwd_attention_cuda", CK_NO_OFFSET, "%zu query heads over %zu "
                          "key/value heads", hq, hkv);
    size_t shm = T * sizeof(double);
    if (shm > 48 * 1024)
        return ck_err_set(err, CK_EUSAGE, NULL, "fwd_attention_cuda", CK_NO_OFFSET, "%zu tokens: at most %d",
                          T, 48 * 1024 / (int)sizeof(double));
    fwd_attn_opts oo = {0, 0, 0, 0, NULL};
    if (o)
        oo = *o;
    attention_kernel<<<(unsigned)(T * hq), 128, shm>>>(q, k, v, T, hq, hkv, hd, oo, out);
    CK_CUDA_LAUNCH(err, "attention_kernel");
    CK_CUDA(err, cudaDeviceSynchronize());
    return CK_OK;
}

__global__ void act_mul_kernel(const float *gu, size_t T, size_t n, fwd_act act, float *out)
{
    for (size_t j = blockIdx.x * (size_t)blockDim.x + threadIdx.x; j < T * n; j += (size_t)gridDim.x * blockDim.x) {
        size_t t = j / n, i = j % n;
        out[j] = ck_gated(act, gu + t * 2 * n, n, i);
    }
}

__global__ void act_kernel(const float *x, size_t n, fwd_act act, float *out)
{
    for (size_t j = blockIdx.x * (size_t)blockDim.x + threadIdx.x; j < n; j += (size_t)gridDim.x * blockDim.x)
        out[j] = ck_act(act, x[j]);
}

extern "C" int fwd_act_each_cuda(const float *x, size_t n, fwd_act act, float *out, ck_err *err)
{
    if (!n)
        return CK_OK;
    act_kernel<<<blocks_for(n), THREADS>>>(x, n, act, out);
    CK_CUDA_LAUNCH(err, "act_kernel");
    CK_CUDA(err, cudaDeviceSynchronize());
    return CK_OK;
}

/* The gated delta rule: block h a head, thread j column j of its state (columns never mix), the
 * state in global scratch s [nh][dv][dk]; q and k normalized per token into qk [T][nh][2][dk]. */
__global__ void delta_norm_kernel(const float *q, const float *k, size_t T, size_t nh, size_t dk, float *qk)
{
    for (size_t j = blockIdx.x * (size_t)blockDim.x + threadIdx.x; j < T * nh; j += (size_t)gridDim.x * blockDim.x) {
        ck_delta_norm(q + j * dk, dk, 1.0 / sqrt((double)dk), qk + j * 2 * dk);
        ck_delta_norm(k + j * dk, dk, 1.0, qk + j * 2 * dk + dk);
    }
}

__global__ void delta_kernel(const float *qk, const float *v, const float *g, const float *beta, size_t T, size_t nh,
                             size_t dk, size_t dv, float *s, float *out)
{
    size_t h = blockIdx.x;
    for (size_t j = threadIdx.x; j < dv; j += blockDim.x) {
        float *col = s + (h * dv + j) * dk;
        for (size_t i = 0; i < dk; i++)
            col[i] = 0;
        for (size_t t = 0; t < T; t++) {
            const float *qn = qk + (t * nh + h) * 2 * dk;
            out[(t * nh + h) * dv + j] = ck_delta_column(col, qn + dk, qn, dk, expf(g[t * nh + h]), beta[t * nh + h],
                                                         v[(t * nh + h) * dv + j]);
        }
    }
}

extern "C" int fwd_gated_delta_cuda(const float *q, const float *k, const float *v, const float *g, const float *beta,
                                    size_t T, size_t nh, size_t dk, size_t dv, float *out, ck_err *err)
{
    if (!T || !nh || !dk || !dv)
        return CK_OK;
    float *qk = NULL, *s = NULL;
    CK_CUDA(err, cudaMalloc((void **)&qk, T * nh * 2 * dk * sizeof *qk));
    cudaError_t ce = cudaMalloc((void **)&s, nh * dv * dk * sizeof *s);
    if (ce != cudaSuccess) {
        cudaFree(qk);
        return ck_err_set(err, CK_ECUDA, __FILE__, "cudaMalloc", CK_NO_OFFSET, "line %d: %s", __LINE__,
                          cudaGetErrorString(ce));
    }
    delta_norm_kernel<<<blocks_for(T * nh), THREADS>>>(q, k, T, nh, dk, qk);
    ce = cudaGetLastError();
    if (ce == cudaSuccess) {
        delta_kernel<<<(unsigned)nh, THREADS>>>(qk, v, g, beta, T, nh, dk, dv, s, out);
        ce = cudaGetLastError();
    }
    if (ce == cudaSuccess)
        ce = cudaDeviceSynchronize();
    cudaFree(qk);
    cudaFree(s);
    if (ce != cudaSuccess)
        return ck_err_set(err, CK_ECUDA, __FILE__, "delta_kernel", CK_NO_OFFSET, "line %d: %s", __LINE__,
                          cudaGetErrorString(ce));
    return CK_OK;
}

extern "C" int fwd_act_mul_cuda(const float *gu, size_t T, size_t n, fwd_act act, float *out, ck_err *err)
{
    if (!T || !n)
        return CK_OK;
    act_mul_kernel<<<blocks_for(T * n), THREADS>>>(gu, T, n, act, out);
    CK_CUDA_LAUNCH(err, "act_mul_kernel");
    CK_CUDA(err, cudaDeviceSynchronize());
    return CK_OK;
}
