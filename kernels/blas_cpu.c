/* blas_cpu.c - the CPU forward's matrix products with OpenBLAS, opened when the first product
 * runs: every other command starts without it (OpenBLAS starts its thread pool when loaded). */
#include "kernels/ops.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#ifdef HAVE_OPENBLAS
#include <cblas.h>

static struct {
    __typeof__(&cblas_sgemm) sgemm;
    char why[256];
} O;

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void openblas_load(void)
{
    static const char *const names[] = {"libopenblas.so.0", "libopenblas.so"};
    void *lib = NULL;
    for (unsigned i = 0; i < sizeof names / sizeof *names && !lib; i++)
        lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(O.why, sizeof O.why, "cannot load OpenBLAS (%s): install libopenblas0 (Debian)", dlerror());
        return;
    }
    *(void **)&O.sgemm = dlsym(lib, "cblas_sgemm");
    if (!O.sgemm)
        snprintf(O.why, sizeof O.why, "the OpenBLAS found lacks cblas_sgemm (%s)", dlerror());
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

int fwd_linear_blas(const float *x, size_t T, size_t K, const float *w, size_t N, const float *bias, float *y, int acc)
{
#ifdef HAVE_OPENBLAS
    pthread_once(&once, openblas_load);
    if (!O.sgemm)
        return 0;
    if (!T || !N)
        return 1;
    if (bias && !acc) { /* y starts as the bias, then the product is added */
        for (size_t t = 0; t < T; t++)
            memcpy(y + t * N, bias, N * sizeof *y);
        acc = 1;
        bias = NULL;
    }
    if (!K) {
        if (!acc)
            memset(y, 0, T * N * sizeof *y);
    } else
        O.sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)N, (int)K, 1.0f, x, (int)K, w, (int)K,
                acc ? 1.0f : 0.0f, y, (int)N);
    if (bias)
        for (size_t t = 0; t < T; t++)
            for (size_t n = 0; n < N; n++)
                y[t * N + n] += bias[n];
    return 1;
#else
    (void)x, (void)T, (void)K, (void)w, (void)N, (void)bias, (void)y, (void)acc;
    return 0;
#endif
}
