/* blas_cpu.c - the CPU forward's matrix products with OpenBLAS, opened when the first product
 * runs: every other command starts without it. Each product's columns are split over this
 * program's pool of threads (ck_pool_run), each part a one-thread sgemm. */
#include "kernels/ops.h"

#include "base/thread.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_OPENBLAS
#include <cblas.h>

static struct {
    __typeof__(&cblas_sgemm) sgemm;
    char *(*corename)(void);
    int threads; /* the products' threads (ours: OpenBLAS runs one in each) */
    char why[256];
} O;

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void openblas_load(void)
{
    static const char *const names[] = {"libopenblas.so.0", "libopenblas.so"};
    void *lib = NULL;
    fwd_blas_choose_core();
    for (unsigned i = 0; i < sizeof names / sizeof *names && !lib; i++)
        lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(O.why, sizeof O.why, "cannot load OpenBLAS (%s): install libopenblas0 (Debian)", dlerror());
        return;
    }
    *(void **)&O.sgemm = dlsym(lib, "cblas_sgemm");
    *(void **)&O.corename = dlsym(lib, "openblas_get_corename");
    /* the products are split over this program's threads, each a one-thread sgemm: OpenBLAS's
     * own threads wait between calls by spinning and yielding, which the forward's thousands of
     * small products turn into most of the time (and any other load on the machine into stalls) */
    void (*set_threads)(int) = (void (*)(int))dlsym(lib, "openblas_set_num_threads");
    const char *v = getenv("OPENBLAS_NUM_THREADS");
    char *end;
    long want = v && *v ? strtol(v, &end, 10) : 0;
    O.threads = ck_thread_count(v && *v && !*end && want > 0 ? (int)want : 0, CK_POOL_MAX, CK_POOL_MAX);
    if (set_threads)
        set_threads(1);
    else
        O.threads = 1; /* OpenBLAS threads its products itself */
    if (!O.sgemm)
        snprintf(O.why, sizeof O.why, "the OpenBLAS found lacks cblas_sgemm (%s)", dlerror());
}
#endif

void fwd_share16(size_t N, int k, int n, size_t *c0, size_t *c1)
{
    size_t blocks = (N + 15) / 16, b0 = blocks * (size_t)k / (size_t)n, b1 = blocks * (size_t)(k + 1) / (size_t)n;
    *c0 = b0 * 16 < N ? b0 * 16 : N;
    *c1 = b1 * 16 < N ? b1 * 16 : N;
}

/* OpenBLAS picks its kernels by the CPU's model number, and a model newer than the library
 * (Debian 12's 0.3.21 on an Emerald Rapids Xeon, model 207) gets the SSE3 kernels of 2004's
 * Prescott: two to three times slower products. Unless the user chose (OPENBLAS_CORETYPE), name
 * the kernels the CPU's features allow: AVX-512 (F, BW, DQ, VL) SkylakeX's, AVX2 with FMA
 * Haswell's. */
void fwd_blas_choose_core(void)
{
#if defined(HAVE_OPENBLAS) && defined(__x86_64__) && defined(__GNUC__)
    const char *set = getenv("OPENBLAS_CORETYPE");
    if (set && *set)
        return;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        setenv("OPENBLAS_CORETYPE", "Haswell", 1);
#endif
}

#ifdef HAVE_OPENBLAS
typedef struct {
    const float *x;
    size_t T, K;
    const float *w;
    size_t N;
    const float *bias;
    float *y;
    size_t ldy;
    int acc;
} linear_job;

/* Part k of n of a product: its share of the columns. */
static void linear_part(void *ctx, int k, int n)
{
    const linear_job *j = ctx;
    size_t c0, c1;
    fwd_share16(j->N, k, n, &c0, &c1);
    if (c1 > c0)
        fwd_linear_blas_ld(j->x, j->T, j->K, j->w + c0 * j->K, c1 - c0, j->bias ? j->bias + c0 : NULL, j->y + c0,
                           j->ldy, j->acc);
}
#endif

int fwd_blas_ready(char *why, size_t size)
{
#ifdef HAVE_OPENBLAS
    pthread_once(&once, openblas_load);
    if (O.sgemm)
        return 1;
    if (why)
        snprintf(why, size, "%s", O.why);
#else
    if (why)
        snprintf(why, size, "built without OpenBLAS: make deps installs libopenblas-dev, then build again");
#endif
    return 0;
}

const char *fwd_blas_core(void)
{
#ifdef HAVE_OPENBLAS
    pthread_once(&once, openblas_load);
    if (O.sgemm && O.corename)
        return O.corename();
#endif
    return NULL;
}

int fwd_linear_blas(const float *x, size_t T, size_t K, const float *w, size_t N, const float *bias, float *y, int acc)
{
#ifdef HAVE_OPENBLAS
    pthread_once(&once, openblas_load);
    if (!O.sgemm)
        return 0;
    /* columns split over the threads, in whole blocks of 16 (the kernels' width) */
    linear_job j = {x, T, K, w, N, bias, y, N, acc};
    size_t flops = T * K * N;
    int n = O.threads;
    if ((size_t)n > N / 16)
        n = (int)(N / 16);
    if (n > 1 && flops >= ((size_t)1 << 20))
        ck_pool_run(n, linear_part, &j);
    else
        linear_part(&j, 0, 1);
    return 1;
#else
    (void)x, (void)T, (void)K, (void)w, (void)N, (void)bias, (void)y, (void)acc;
    return 0;
#endif
}

int fwd_blas_threads(void)
{
#ifdef HAVE_OPENBLAS
    pthread_once(&once, openblas_load);
    return O.sgemm ? O.threads : 1;
#else
    return 1;
#endif
}

int fwd_linear_blas_ld(const float *x, size_t T, size_t K, const float *w, size_t N, const float *bias, float *y,
                       size_t ldy, int acc)
{
#ifdef HAVE_OPENBLAS
    pthread_once(&once, openblas_load);
    if (!O.sgemm)
        return 0;
    if (!T || !N)
        return 1;
    if (bias && !acc) { /* y starts as the bias, then the product is added */
        for (size_t t = 0; t < T; t++)
            memcpy(y + t * ldy, bias, N * sizeof *y);
        acc = 1;
        bias = NULL;
    }
    if (!K) {
        if (!acc)
            for (size_t t = 0; t < T; t++)
                memset(y + t * ldy, 0, N * sizeof *y);
    } else
        O.sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)N, (int)K, 1.0f, x, (int)K, w, (int)K,
                acc ? 1.0f : 0.0f, y, (int)ldy);
    if (bias)
        for (size_t t = 0; t < T; t++)
            for (size_t n = 0; n < N; n++)
                y[t * ldy + n] += bias[n];
    return 1;
#else
    (void)x, (void)T, (void)K, (void)w, (void)N, (void)bias, (void)y, (void)ldy, (void)acc;
    return 0;
#endif
}
