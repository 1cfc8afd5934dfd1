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

/* Statistics are taken of the values as converted to float (F64 too), like the CUDA side, in
 * four lanes (element i in lane i % 4) that break the dependency chain of the double sums and
 * are folded in lane order at the end. The values are converted a block at a time and go
 * through SSE2 in the same four lanes, in the same order, so every sum, extreme and count is
 * the scalar loop's bit for bit (the scalar loop takes the last n % 4, and all without SSE2). */
typedef struct {
    float mn[4], mx[4];
    double sum[4], sq[4];
    uint64_t zero[4], nan, inf;
} stats_lanes;

#define STATS_BLOCK 1024 /* a multiple of 4: every block starts in lane 0 */

static void stats_scalar(stats_lanes *L, const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned l = (unsigned)(i & 3);
        float x = v[i];
        if (!isfinite(x)) {
            if (isnan(x))
                L->nan++;
            else
                L->inf++;
            continue;
        }
        L->zero[l] += x == 0.0f;
        L->mn[l] = x < L->mn[l] ? x : L->mn[l];
        L->mx[l] = x > L->mx[l] ? x : L->mx[l];
        L->sum[l] += x;
        L->sq[l] += (double)x * x;
    }
}

static void stats_block(stats_lanes *L, const float *v, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    /* a NaN or Inf lane is left out as the scalar loop leaves it out: +0.0 added to the sums
     * (which never hold -0.0), +Inf to the minimum, -Inf to the maximum, counted apart */
    const __m128i expo = _mm_set1_epi32(0x7f800000), mant = _mm_set1_epi32(0x007fffff);
    const __m128 pinf = _mm_set1_ps(INFINITY), ninf = _mm_set1_ps(-INFINITY), zero = _mm_setzero_ps();
    __m128 mn = _mm_loadu_ps(L->mn), mx = _mm_loadu_ps(L->mx);
    __m128d s01 = _mm_loadu_pd(L->sum), s23 = _mm_loadu_pd(L->sum + 2);
    __m128d q01 = _mm_loadu_pd(L->sq), q23 = _mm_loadu_pd(L->sq + 2);
    __m128i z = _mm_setzero_si128(), nan = _mm_setzero_si128(), inf = _mm_setzero_si128();
    for (; i + 4 <= n; i += 4) {
        __m128i u = _mm_loadu_si128((const __m128i *)(v + i));
        __m128i special = _mm_cmpeq_epi32(_mm_and_si128(u, expo), expo);
        __m128i no_mant = _mm_cmpeq_epi32(_mm_and_si128(u, mant), _mm_setzero_si128());
        nan = _mm_sub_epi32(nan, _mm_andnot_si128(no_mant, special)); /* -1 per NaN */
        inf = _mm_sub_epi32(inf, _mm_and_si128(no_mant, special));
        __m128 sp = _mm_castsi128_ps(special), x = _mm_castsi128_ps(u);
        __m128 xf = _mm_andnot_ps(sp, x); /* +0.0 where not finite */
        /* the second operand when equal: keeps the earlier, as x < mn ? x : mn does */
        mn = _mm_min_ps(_mm_or_ps(xf, _mm_and_ps(sp, pinf)), mn);
        mx = _mm_max_ps(_mm_or_ps(xf, _mm_and_ps(sp, ninf)), mx);
        z = _mm_sub_epi32(z, _mm_castps_si128(_mm_cmpeq_ps(x, zero))); /* NaN and Inf are never 0 */
        __m128d lo = _mm_cvtps_pd(xf), hi = _mm_cvtps_pd(_mm_movehl_ps(xf, xf));
        s01 = _mm_add_pd(s01, lo);
        s23 = _mm_add_pd(s23, hi);
        q01 = _mm_add_pd(q01, _mm_mul_pd(lo, lo));
        q23 = _mm_add_pd(q23, _mm_mul_pd(hi, hi));
    }
    _mm_storeu_ps(L->mn, mn);
    _mm_storeu_ps(L->mx, mx);
    _mm_storeu_pd(L->sum, s01);
    _mm_storeu_pd(L->sum + 2, s23);
    _mm_storeu_pd(L->sq, q01);
    _mm_storeu_pd(L->sq + 2, q23);
    uint32_t c[3][4];
    _mm_storeu_si128((__m128i *)c[0], z);
    _mm_storeu_si128((__m128i *)c[1], nan);
    _mm_storeu_si128((__m128i *)c[2], inf);
    for (int l = 0; l < 4; l++) {
        L->zero[l] += c[0][l];
        L->nan += c[1][l];
        L->inf += c[2][l];
    }
#endif
    stats_scalar(L, v + i, n - i); /* the last n % 4, from lane 0 as i is a multiple of 4 */
}

int kern_stats_ref(ck_dtype dt, const void *src, size_t n, kern_stats *acc)
{
    if (!kern_convert_supported(dt))
        return -1;
    const uint8_t *p = src;
    size_t eb = dtype_bits(dt) / 8; /* every supported dtype is whole bytes */
    stats_lanes L;
    memset(&L, 0, sizeof L);
    for (int l = 0; l < 4; l++) {
        L.mn[l] = INFINITY;
        L.mx[l] = -INFINITY;
    }
    float buf[STATS_BLOCK];
    for (size_t off = 0; off < n; off += STATS_BLOCK) {
        size_t m = n - off < STATS_BLOCK ? n - off : STATS_BLOCK;
        kern_convert_ref(dt, p + off * eb, m, buf);
        stats_block(&L, buf, m);
    }
    kern_stats s;
    kern_stats_init(&s);
    float mn = INFINITY, mx = -INFINITY;
    double sum = 0, sumsq = 0;
    for (int l = 0; l < 4; l++) {
        mn = L.mn[l] < mn ? L.mn[l] : mn;
        mx = L.mx[l] > mx ? L.mx[l] : mx;
        sum += L.sum[l];
        sumsq += L.sq[l];
        s.zeros += L.zero[l];
    }
    s.nan = L.nan;
    s.inf = L.inf;
    s.count = n;
    s.finite = n - s.nan - s.inf;
    s.min = mn;
    s.max = mx;
    s.sum = sum;
    s.sumsq = sumsq;
    kern_stats_merge(acc, &s);
    return 0;
}
