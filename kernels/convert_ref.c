/* convert_ref.c - the C reference for dtype conversion and statistics. */
#include "kernels/convert.h"

#include <math.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "kernels/dtype_conv.h"

int kern_convert_supported(ck_dtype dt)
{
    return dt == DT_F32 || dt == DT_F64 || dt == DT_F16 || dt == DT_BF16 || dt == DT_F8_E4M3 ||
           dt == DT_F8_E5M2;
}

void kern_stats_init(kern_stats *s)
{
    memset(s, 0, sizeof *s);
    s->min = INFINITY;
    s->max = -INFINITY;
}

void kern_stats_merge(kern_stats *a, const kern_stats *b)
{
    a->count += b->count;
    a->finite += b->finite;
    a->nan += b->nan;
    a->inf += b->inf;
    a->zeros += b->zeros;
    if (b->min < a->min)
        a->min = b->min;
    if (b->max > a->max)
        a->max = b->max;
    a->sum += b->sum;
    a->sumsq += b->sumsq;
}

double kern_stats_mean(const kern_stats *s)
{
    return s->finite ? s->sum / (double)s->finite : 0.0;
}

double kern_stats_std(const kern_stats *s)
{
    if (!s->finite)
        return 0.0;
    double m = kern_stats_mean(s), v = s->sumsq / (double)s->finite - m * m;
    return v > 0 ? sqrt(v) : 0.0;
}

static inline float load_one(ck_dtype dt, const uint8_t *p, size_t i)
{
    switch (dt) {
    case DT_F32: {
        float f;
        memcpy(&f, p + 4 * i, 4);
        return f;
    }
    case DT_F64: {
        double d;
        memcpy(&d, p + 8 * i, 8);
        return (float)d;
    }
    case DT_F16: {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        return ck_f16_to_f32(h);
    }
    case DT_BF16: {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        return ck_bf16_to_f32(h);
    }
    case DT_F8_E4M3:
        return ck_e4m3_to_f32(p[i]);
    default:
        return ck_e5m2_to_f32(p[i]);
    }
}

void kern_transpose_last2_ref(const float *src, size_t blocks, size_t a, size_t b, float *dst)
{
    for (size_t k = 0; k < blocks; k++)
        for (size_t i = 0; i < a; i++)
            for (size_t j = 0; j < b; j++)
                dst[(k * b + j) * a + i] = src[(k * a + i) * b + j];
}

int kern_convert_ref(ck_dtype dt, const void *src, size_t n, float *dst)
{
    if (!kern_convert_supported(dt))
        return -1;
    const uint8_t *p = src;
    switch (dt) { /* one loop per dtype: BF16's and F32's are a shift and a copy the compiler vectorizes */
    case DT_F32: memcpy(dst, src, n * sizeof *dst); break;
    case DT_BF16: {
        size_t i = 0;
#if defined(__SSE2__) /* a BF16 is the upper half of its float: 8 of them interleaved with zeros */
        const __m128i zero = _mm_setzero_si128();
        for (; i + 8 <= n; i += 8) {
            __m128i h = _mm_loadu_si128((const __m128i *)(p + 2 * i));
            _mm_storeu_si128((__m128i *)(dst + i), _mm_unpacklo_epi16(zero, h));
            _mm_storeu_si128((__m128i *)(dst + i + 4), _mm_unpackhi_epi16(zero, h));
        }
#endif
        for (; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            uint32_t u = (uint32_t)h << 16;
            memcpy(dst + i, &u, 4);
        }
        break;
    }
    case DT_F16: for (size_t i = 0; i < n; i++) dst[i] = load_one(DT_F16, p, i); break;
    case DT_F8_E4M3: for (size_t i = 0; i < n; i++) dst[i] = load_one(DT_F8_E4M3, p, i); break;
    case DT_F8_E5M2: for (size_t i = 0; i < n; i++) dst[i] = load_one(DT_F8_E5M2, p, i); break;
    default: for (size_t i = 0; i < n; i++) dst[i] = load_one(DT_F64, p, i); break;
    }
    return 0;
}

/* Statistics are taken of the values as converted to float (F64 too), like the CUDA side.
 * Four lanes of partial results break the dependency chain of the double sums; NaN and Inf are
 * rare, so their branch is predictable. */
#define STATS_LOOP(EXPR)                                                                          \
    {                                                                                             \
        float mn_[4] = {INFINITY, INFINITY, INFINITY, INFINITY};                                  \
        float mx_[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};                              \
        double sum_[4] = {0, 0, 0, 0}, sq_[4] = {0, 0, 0, 0};                                     \
        uint64_t zero_[4] = {0, 0, 0, 0};                                                         \
        for (size_t i = 0; i < n; i++) {                                                          \
            float v = (EXPR);                                                                     \
            unsigned l = (unsigned)(i & 3);                                                       \
            if (!isfinite(v)) {                                                                   \
                if (isnan(v))                                                                     \
                    s.nan++;                                                                      \
                else                                                                              \
                    s.inf++;                                                                      \
                continue;                                                                         \
            }                                                                                     \
            zero_[l] += v == 0.0f;                                                                \
            mn_[l] = v < mn_[l] ? v : mn_[l];                                                     \
            mx_[l] = v > mx_[l] ? v : mx_[l];                                                     \
            sum_[l] += v;                                                                         \
            sq_[l] += (double)v * v;                                                              \
        }                                                                                         \
        for (int l = 0; l < 4; l++) {                                                             \
            mn = mn_[l] < mn ? mn_[l] : mn;                                                       \
            mx = mx_[l] > mx ? mx_[l] : mx;                                                       \
            sum += sum_[l];                                                                       \
            sumsq += sq_[l];                                                                      \
            s.zeros += zero_[l];                                                                  \
        }                                                                                         \
    }

int kern_stats_ref(ck_dtype dt, const void *src, size_t n, kern_stats *acc)
{
    if (!kern_convert_supported(dt))
        return -1;
    const uint8_t *p = src;
    kern_stats s;
    kern_stats_init(&s);
    float mn = INFINITY, mx = -INFINITY;
    double sum = 0, sumsq = 0;
    switch (dt) { /* one loop per dtype so that each inner loop is branch-light */
    case DT_BF16: STATS_LOOP(load_one(DT_BF16, p, i)) break;
    case DT_F16: STATS_LOOP(load_one(DT_F16, p, i)) break;
    case DT_F8_E4M3: STATS_LOOP(load_one(DT_F8_E4M3, p, i)) break;
    case DT_F8_E5M2: STATS_LOOP(load_one(DT_F8_E5M2, p, i)) break;
    case DT_F32: STATS_LOOP(load_one(DT_F32, p, i)) break;
    default: STATS_LOOP(load_one(DT_F64, p, i)) break;
    }
    s.count = n;
    s.finite = n - s.nan - s.inf;
    s.min = mn;
    s.max = mx;
    s.sum = sum;
    s.sumsq = sumsq;
    kern_stats_merge(acc, &s);
    return 0;
}
