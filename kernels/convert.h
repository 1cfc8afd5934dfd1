/* convert.h - dtype conversion to F32 and per-tensor statistics.
 *
 * kern_*_ref is the specification (plain C); kern_*_cuda has the same meaning on device memory.
 * Supported source dtypes: F32, F64, F16, BF16, F8_E4M3, F8_E5M2 (kern_convert_supported).
 *
 * Statistics: min, max, sum and sum of squares over the finite values; NaN, +-Inf and zero
 * counts (zero includes -0). Sums are accumulated in double. Two kern_stats merge exactly for
 * counts, min and max; sums merge in a different order, so CUDA and C agree within rounding.
 *
 * Nothing here allocates what the caller frees: the CUDA calls free their device temporaries before
 * returning. The _ref functions return 0 / -1; the CUDA ones a CK_* code with err filled, and
 * CK_ECUDA "CUDA not built" from convert_stub.c when nvcc was absent. */
#ifndef CK_CONVERT_H
#define CK_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "base/ckerr.h"
#include "base/dtype.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint64_t count;   /* elements seen */
    uint64_t finite;  /* of which finite */
    uint64_t nan, inf, zeros;
    double min, max;  /* over finite values; meaningless when finite == 0 */
    double sum, sumsq;
} kern_stats;

/* 1 when dt converts to float (the list above), else 0. */
int kern_convert_supported(ck_dtype dt);
/* Empty statistics: counts and sums 0, min +inf, max -inf. */
void kern_stats_init(kern_stats *s);
/* Folds b into a. */
void kern_stats_merge(kern_stats *a, const kern_stats *b);
/* Mean and (population) standard deviation of the finite values; 0 when there are none. */
double kern_stats_mean(const kern_stats *s);
double kern_stats_std(const kern_stats *s);

/* Converts n elements of src (dtype dt, little-endian) to float. Returns 0, or -1 when dt is
 * not supported (dst untouched). */
int kern_convert_ref(ck_dtype dt, const void *src, size_t n, float *dst);
/* Accumulates the statistics of n elements of src into *acc. Returns 0 or -1 (unsupported; *acc
 * untouched). */
int kern_stats_ref(ck_dtype dt, const void *src, size_t n, kern_stats *acc);

/* Whether a CUDA device can be used: 1 or 0; on 0, why (when non-NULL) says why ("CUDA not built",
 * "no CUDA device"). */
int kern_cuda_available(char *why, size_t size);
/* Device-memory versions: d_src and d_dst are device pointers. Return CK_OK or CK_ECUDA/CK_EUSAGE
 * with err naming the failed call (CK_EUSAGE: dtype not supported). Synchronous. *acc changes only
 * on CK_OK. */
int kern_convert_cuda(ck_dtype dt, const void *d_src, size_t n, float *d_dst, ck_err *err);
int kern_stats_cuda(ck_dtype dt, const void *d_src, size_t n, kern_stats *acc, ck_err *err);
/* kern_convert_cuda queued on a CUDA stream (a cudaStream_t given as void *) without waiting:
 * launch errors are returned, execution errors show at the stream's next synchronization. */
int kern_convert_cuda_async(ck_dtype dt, const void *d_src, size_t n, float *d_dst, void *stream, ck_err *err);
/* The last two dims of blocks x [a, b] floats swapped, into dst ([blocks, b, a]): a tensor
 * stored input-major (gpt-oss's experts) turned into the parameter's [out, in]. src and dst must
 * not overlap. The C reference and the CUDA version queued on a stream as kern_convert_cuda_async. */
void kern_transpose_last2_ref(const float *src, size_t blocks, size_t a, size_t b, float *dst);
int kern_transpose_last2_cuda_async(const float *d_src, size_t blocks, size_t a, size_t b, float *d_dst, void *stream,
                                    ck_err *err);
/* Host-memory convenience for both: copies src to the device, runs, copies back. */
int kern_convert_cuda_host(ck_dtype dt, const void *src, size_t n, float *dst, ck_err *err);
int kern_stats_cuda_host(ck_dtype dt, const void *src, size_t n, kern_stats *acc, ck_err *err);

#ifdef __cplusplus
}
#endif

#endif
