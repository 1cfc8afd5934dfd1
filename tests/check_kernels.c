/* check_kernels.c - dtype conversion and statistics: the C reference against independent
 * decodings (every bit pattern of every 8- and 16-bit format), then CUDA against the C
 * reference on random inputs of awkward sizes. The CUDA cases are skipped, visibly, when no
 * device (or no CUDA build) is there. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/convert.h"
#include "kernels/dequant.h"
#include "kernels/devmem.h"
#include "kernels/ops.h"
#include "tests/testutil.h"

static const size_t sizes[] = {0, 1, 31, 33, 4097, 1u << 20};
static const ck_dtype dtypes[] = {DT_F32, DT_F64, DT_F16, DT_BF16, DT_F8_E4M3, DT_F8_E5M2};
#define N_SIZES (sizeof sizes / sizeof *sizes)
#define N_DTYPES (sizeof dtypes / sizeof *dtypes)

static int same_float(float a, float b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return memcmp(&a, &b, 4) == 0;
}

/* E4M3 "fn" decoded from its definition with ldexp, independently of dtype_conv.h. */
static float e4m3_spec(uint8_t b)
{
    int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
    if (e == 15 && m == 7)
        return NAN;
    float v = e == 0 ? ldexpf((float)m / 8.0f, -6) : ldexpf(1.0f + (float)m / 8.0f, e - 7);
    return s ? -v : v;
}

START_TEST(test_known_values)
{
    struct { ck_dtype dt; uint32_t bits; float want; } v[] = {
        {DT_F8_E4M3, 0x38, 1.0f},      {DT_F8_E4M3, 0x7E, 448.0f},   {DT_F8_E4M3, 0xFE, -448.0f},
        {DT_F8_E4M3, 0x01, 0.001953125f}, {DT_F8_E4M3, 0x00, 0.0f},  {DT_F8_E5M2, 0x3C, 1.0f},
        {DT_F8_E5M2, 0x7B, 57344.0f},  {DT_F8_E5M2, 0x7C, INFINITY}, {DT_F8_E5M2, 0xFC, -INFINITY},
        {DT_F16, 0x3C00, 1.0f},        {DT_F16, 0x7BFF, 65504.0f},   {DT_F16, 0x0001, 5.9604644775390625e-8f},
        {DT_F16, 0xFC00, -INFINITY},   {DT_F16, 0xC000, -2.0f},      {DT_BF16, 0x3F80, 1.0f},
        {DT_BF16, 0xC2F7, -123.5f},    {DT_BF16, 0x7F80, INFINITY},
    };
    for (unsigned i = 0; i < sizeof v / sizeof *v; i++) {
        uint8_t buf[4];
        memcpy(buf, &v[i].bits, 4);
        float out = -1;
        ck_assert_int_eq(kern_convert_ref(v[i].dt, buf, 1, &out), 0);
        ck_assert_msg(same_float(out, v[i].want), "%s 0x%x: got %g want %g", dtype_name(v[i].dt),
                      v[i].bits, out, v[i].want);
    }
    uint8_t nan8[2] = {0x7F, 0xFF};
    float o[2];
    kern_convert_ref(DT_F8_E4M3, nan8, 2, o);
    ck_assert(isnan(o[0]) && isnan(o[1]));
    ck_assert_int_eq(kern_convert_ref(DT_I32, nan8, 1, o), -1);
}
END_TEST

START_TEST(test_exhaustive_patterns)
{
    /* F16 against the compiler's own _Float16 conversion; E5M2 is the high byte of an F16;
     * BF16 is the high half of an F32; E4M3 against its definition */
    for (uint32_t u = 0; u < 65536; u++) {
        uint16_t h = (uint16_t)u;
        float got;
        kern_convert_ref(DT_F16, &h, 1, &got);
        _Float16 hf;
        memcpy(&hf, &h, 2);
        ck_assert_msg(same_float(got, (float)hf), "F16 0x%04x: %g vs %g", u, got, (float)hf);
        kern_convert_ref(DT_BF16, &h, 1, &got);
        uint32_t w = u << 16;
        float want;
        memcpy(&want, &w, 4);
        ck_assert_msg(same_float(got, want), "BF16 0x%04x", u);
    }
    /* BF16 in one call, as a load converts a tensor (8 at a time, then the rest one by one), from
     * an odd address: every pattern's bits exactly the high half of its float */
    uint8_t *all = malloc(2 * 65536 + 1);
    uint32_t *bits = malloc(4 * 65536);
    ck_assert(all && bits);
    for (uint32_t u = 0; u < 65536; u++)
        memcpy(all + 1 + 2 * u, &(uint16_t){(uint16_t)u}, 2);
    for (size_t n = 65536; n >= 65536 - 7; n--) {
        memset(bits, 0xa5, 4 * 65536);
        kern_convert_ref(DT_BF16, all + 1, n, (float *)bits);
        for (uint32_t u = 0; u < n; u++)
            ck_assert_msg(bits[u] == u << 16, "BF16 0x%04x of %zu: 0x%08x", u, n, bits[u]);
        ck_assert_uint_eq(bits[n < 65536 ? n : 0], n < 65536 ? 0xa5a5a5a5u : 0);
    }
    free(all);
    free(bits);
    for (uint32_t u = 0; u < 256; u++) {
        uint8_t b = (uint8_t)u;
        float got;
        kern_convert_ref(DT_F8_E5M2, &b, 1, &got);
        uint16_t h = (uint16_t)(u << 8);
        _Float16 hf;
        memcpy(&hf, &h, 2);
        ck_assert_msg(same_float(got, (float)hf), "E5M2 0x%02x", u);
        kern_convert_ref(DT_F8_E4M3, &b, 1, &got);
        ck_assert_msg(same_float(got, e4m3_spec(b)), "E4M3 0x%02x: %g vs %g", u, got, e4m3_spec(b));
    }
}
END_TEST

/* Random source bytes of dtype dt (NaN/Inf patterns included for the narrow formats). */
static void *random_source(ck_dtype dt, size_t n, uint32_t seed)
{
    size_t eb = dtype_bits(dt) / 8;
    uint8_t *b = malloc(n * eb + 1);
    uint32_t s = seed;
    if (dt == DT_F32 || dt == DT_F64) {
        for (size_t i = 0; i < n; i++) {
            float f = ((float)(tu_rand(&s) & 0xFFFFFF) / 8388608.0f - 1.0f) * 3.0f;
            if (i % 97 == 5)
                f = 0.0f;
            if (i % 1009 == 7)
                f = NAN;
            if (dt == DT_F32)
                memcpy(b + 4 * i, &f, 4);
            else {
                double d = f;
                memcpy(b + 8 * i, &d, 8);
            }
        }
    } else
        for (size_t i = 0; i < n * eb; i++)
            b[i] = (uint8_t)tu_rand(&s);
    return b;
}

START_TEST(test_stats_ref_against_naive)
{
    for (unsigned d = 0; d < N_DTYPES; d++) {
        size_t n = 10007;
        void *src = random_source(dtypes[d], n, 99 + d);
        float *v = malloc(n * sizeof *v);
        kern_convert_ref(dtypes[d], src, n, v);
        kern_stats s;
        kern_stats_init(&s);
        /* in two pieces, to exercise merging */
        size_t eb = dtype_bits(dtypes[d]) / 8;
        kern_stats_ref(dtypes[d], src, 5000, &s);
        kern_stats_ref(dtypes[d], (uint8_t *)src + 5000 * eb, n - 5000, &s);
        uint64_t nan = 0, inf = 0, zeros = 0;
        double sum = 0, sumsq = 0, mn = INFINITY, mx = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            if (isnan(v[i])) { nan++; continue; }
            if (isinf(v[i])) { inf++; continue; }
            zeros += v[i] == 0;
            sum += v[i];
            sumsq += (double)v[i] * v[i];
            mn = fmin(mn, v[i]);
            mx = fmax(mx, v[i]);
        }
        ck_assert_uint_eq(s.count, n);
        ck_assert_uint_eq(s.nan, nan);
        ck_assert_uint_eq(s.inf, inf);
        ck_assert_uint_eq(s.zeros, zeros);
        ck_assert(s.min == mn && s.max == mx);
        ck_assert_msg(fabs(s.sum - sum) <= 1e-9 * fabs(sum) + 1e-6, "%s sum", dtype_name(dtypes[d]));
        ck_assert_msg(fabs(s.sumsq - sumsq) <= 1e-9 * sumsq + 1e-6, "%s sum of squares", dtype_name(dtypes[d]));
        ck_assert_uint_gt(s.finite, 0);
        free(v);
        free(src);
    }
}
END_TEST

/* CUDA against the C reference: conversion must be bit-identical (same decoding code, and
 * NaN must agree); statistics counts, min and max exactly; sums within 1e-9 relative, since the
 * device adds in another order (double accumulation, so 1e-9 is far above its rounding). */
START_TEST(test_cuda_vs_ref)
{
    char why[256];
    if (!kern_cuda_available(why, sizeof why))
        return; /* main() printed the skip once */
    unsigned d = (unsigned)_i / N_SIZES, z = (unsigned)_i % N_SIZES;
    ck_dtype dt = dtypes[d];
    size_t n = sizes[z];
    void *src = random_source(dt, n ? n : 1, 1234 + _i);
    const size_t guard = 16;
    float *ref = malloc((n + guard) * sizeof *ref), *got = malloc((n + guard) * sizeof *got);
    for (size_t i = 0; i < guard; i++)
        got[n + i] = 1234.5f;
    kern_convert_ref(dt, src, n, ref);
    ck_err err;
    ck_err_clear(&err);
    ck_assert_msg(kern_convert_cuda_host(dt, src, n, got, &err) == CK_OK, "%s", err.msg);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(same_float(got[i], ref[i]), "%s n=%zu at %zu: cuda %g ref %g", dtype_name(dt), n,
                      i, got[i], ref[i]);
    for (size_t i = 0; i < guard; i++)
        ck_assert(got[n + i] == 1234.5f);
    kern_stats a, b;
    kern_stats_init(&a);
    kern_stats_init(&b);
    kern_stats_ref(dt, src, n, &a);
    ck_assert_msg(kern_stats_cuda_host(dt, src, n, &b, &err) == CK_OK, "%s", err.msg);
    ck_assert_uint_eq(a.count, b.count);
    ck_assert_uint_eq(a.nan, b.nan);
    ck_assert_uint_eq(a.inf, b.inf);
    ck_assert_uint_eq(a.zeros, b.zeros);
    ck_assert_uint_eq(a.finite, b.finite);
    if (a.finite) {
        ck_assert(a.min == b.min && a.max == b.max);
        ck_assert_msg(fabs(a.sum - b.sum) <= 1e-9 * fabs(a.sumsq) + 1e-9, "%s n=%zu sum %.17g vs %.17g",
                      dtype_name(dt), n, a.sum, b.sum);
        ck_assert(fabs(a.sumsq - b.sumsq) <= 1e-9 * fabs(a.sumsq));
    }
    free(src);
    free(ref);
    free(got);
}
END_TEST

START_TEST(test_cuda_errors)
{
    char why[256];
    ck_err err;
    ck_err_clear(&err);
    float out;
    uint8_t b[4] = {0};
    if (!kern_cuda_available(why, sizeof why)) {
        /* without CUDA every entry point says why, and nothing crashes */
        ck_assert_int_eq(kern_convert_cuda_host(DT_F32, b, 1, &out, &err), CK_ECUDA);
        ck_assert_msg(strstr(err.msg, "CUDA") || strstr(err.msg, "cuda") || strstr(err.msg, "device"),
                      "%s", err.msg);
        fprintf(stderr, "SKIP CUDA device part of test_cuda_errors: %s\n", why);
        return;
    }
    ck_assert_int_eq(kern_convert_cuda_host(DT_I32, b, 1, &out, &err), CK_EUSAGE);
    ck_assert_ptr_nonnull(strstr(err.msg, "I32"));
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Dequantization: the reference against values packed and scaled independently here. */

typedef struct {
    size_t rows, cols;
    int bits, group, asym;
} packed_case;

static const packed_case packed_cases[] = {
    {3, 1, 4, 0, 0},    {3, 13, 4, 0, 0},  {5, 64, 4, 32, 0},  {4, 100, 4, 32, 1}, {2, 70, 8, 0, 0},
    {3, 129, 8, 128, 0}, {4, 33, 8, 7, 1},  {3, 45, 3, 9, 0},   {2, 50, 5, 16, 1},  {3, 31, 7, 0, 0},
    {2, 40, 2, 8, 0},   {64, 256, 4, 128, 0}};
#define N_PACKED (sizeof packed_cases / sizeof *packed_cases)

typedef struct {
    int32_t *packed, *zp, *q;
    float *scale, *want;
    size_t groups, words;
} packed_data;

/* Random signed values in range, packed bit by bit into a dense little-endian stream with the
 * 2^(bits-1) offset; random non-zero scales (and zero points when asym). */
static void make_packed(const packed_case *pc, uint32_t seed, packed_data *d)
{
    size_t rows = pc->rows, cols = pc->cols;
    d->groups = pc->group ? (cols + (size_t)pc->group - 1) / (size_t)pc->group : 1;
    d->words = (cols * (size_t)pc->bits + 31) / 32;
    d->packed = calloc(rows * d->words + 1, 4);
    d->q = malloc(rows * cols * 4);
    d->scale = malloc(rows * d->groups * 4);
    d->zp = pc->asym ? malloc(rows * d->groups * 4) : NULL;
    d->want = malloc(rows * cols * 4);
    uint32_t st = seed;
    int lo = -(1 << (pc->bits - 1)), span = 1 << pc->bits;
    for (size_t i = 0; i < rows * d->groups; i++) {
        d->scale[i] = (float)((tu_rand(&st) % 1000) + 1) / 4096.0f * ((tu_rand(&st) & 1) ? 1 : -1);
        if (d->zp)
            d->zp[i] = (int32_t)(tu_rand(&st) % (uint32_t)span) + lo;
    }
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            int32_t q = (int32_t)(tu_rand(&st) % (uint32_t)span) + lo;
            d->q[r * cols + c] = q;
            uint32_t u = (uint32_t)(q - lo);
            for (int b = 0; b < pc->bits; b++)
                if ((u >> b) & 1) {
                    size_t bit = c * (size_t)pc->bits + (size_t)b;
                    ((uint32_t *)d->packed)[r * d->words + bit / 32] |= 1u << (bit % 32);
                }
            size_t g = pc->group ? c / (size_t)pc->group : 0;
            int32_t z = d->zp ? d->zp[r * d->groups + g] : 0;
            d->want[r * cols + c] = (float)(q - z) * d->scale[r * d->groups + g];
        }
}

static void free_packed(packed_data *d)
{
    free(d->packed);
    free(d->zp);
    free(d->q);
    free(d->scale);
    free(d->want);
}

START_TEST(test_dequant_packed_ref)
{
    for (unsigned k = 0; k < N_PACKED; k++) {
        const packed_case *pc = &packed_cases[k];
        packed_data d;
        make_packed(pc, 99 + k, &d);
        ck_assert_uint_eq(kern_packed_words(pc->cols, pc->bits), d.words);
        float *got = malloc(pc->rows * pc->cols * 4);
        ck_assert_int_eq(kern_dequant_packed_ref(d.packed, pc->rows, pc->cols, pc->bits, d.scale, pc->group,
                                                 d.zp, got), 0);
        int nonzero = 0;
        for (size_t i = 0; i < pc->rows * pc->cols; i++) {
            ck_assert_msg(same_float(got[i], d.want[i]), "case %u (%d bits, group %d) at %zu: %g want %g", k,
                          pc->bits, pc->group, i, got[i], d.want[i]);
            nonzero |= got[i] != 0;
        }
        ck_assert(nonzero);
        free(got);
        free_packed(&d);
    }
    float out;
    int32_t p = 0;
    ck_assert_int_eq(kern_dequant_packed_ref(&p, 1, 1, 9, &out, 0, NULL, &out), -1);
    ck_assert_int_eq(kern_dequant_packed_ref(&p, 1, 1, 4, &out, -1, NULL, &out), -1);
}
END_TEST

/* int8 weights with per-row or per-group scales and optional zero points, against the formula
 * written out here; the same inputs on the device give the same values (CUDA case below). */
typedef struct {
    size_t rows, cols;
    int group, zp;
} int8_case;

static const int8_case int8_cases[] = {{1, 1, 0, 0}, {7, 33, 0, 0}, {16, 96, 32, 0}, {9, 50, 16, 1}, {64, 128, 0, 1}};
#define N_INT8 (sizeof int8_cases / sizeof *int8_cases)

static void make_int8(const int8_case *c, uint32_t seed, int8_t **q, float **scale, int32_t **zp, float **want)
{
    size_t groups = c->group ? (c->cols + (size_t)c->group - 1) / (size_t)c->group : 1;
    *q = malloc(c->rows * c->cols);
    *scale = malloc(c->rows * groups * 4);
    *zp = c->zp ? malloc(c->rows * groups * 4) : NULL;
    *want = malloc(c->rows * c->cols * 4);
    for (size_t i = 0; i < c->rows * groups; i++) {
        (*scale)[i] = (float)(tu_rand(&seed) % 1000 + 1) * 1e-4f;
        if (*zp)
            (*zp)[i] = (int32_t)(tu_rand(&seed) % 21) - 10;
    }
    for (size_t r = 0; r < c->rows; r++)
        for (size_t col = 0; col < c->cols; col++) {
            int8_t v = (int8_t)(tu_rand(&seed) & 0xFF);
            if (r == 0 && col == 0)
                v = -128; /* the extremes */
            if (r == 0 && col == 1)
                v = 127;
            (*q)[r * c->cols + col] = v;
            size_t g = r * groups + (c->group ? col / (size_t)c->group : 0);
            (*want)[r * c->cols + col] = (float)((int32_t)v - (*zp ? (*zp)[g] : 0)) * (*scale)[g];
        }
}

START_TEST(test_dequant_int8_ref)
{
    for (unsigned k = 0; k < N_INT8; k++) {
        const int8_case *c = &int8_cases[k];
        int8_t *q;
        float *scale, *want;
        int32_t *zp;
        make_int8(c, 700 + k, &q, &scale, &zp, &want);
        float *got = malloc(c->rows * c->cols * 4);
        ck_assert_int_eq(kern_dequant_int8_ref(q, c->rows, c->cols, scale, c->group, zp, got), 0);
        int nonzero = 0;
        for (size_t i = 0; i < c->rows * c->cols; i++) {
            ck_assert_msg(same_float(got[i], want[i]), "case %u at %zu: %g want %g", k, i, got[i], want[i]);
            nonzero |= got[i] != 0;
        }
        ck_assert(nonzero);
        free(q), free(scale), free(zp), free(want), free(got);
    }
    float out;
    int8_t q0 = 1;
    ck_assert_int_eq(kern_dequant_int8_ref(&q0, 1, 1, &out, -1, NULL, &out), -1);
}
END_TEST

START_TEST(test_dequant_int8_cuda_vs_ref)
{
    char why[256];
    if (!kern_cuda_available(why, sizeof why))
        return; /* main() printed the skip once */
    ck_err err;
    ck_err_clear(&err);
    for (unsigned k = 0; k < N_INT8; k++) {
        const int8_case *c = &int8_cases[k];
        int8_t *q;
        float *scale, *want;
        int32_t *zp;
        make_int8(c, 800 + k, &q, &scale, &zp, &want);
        float *ref = malloc(c->rows * c->cols * 4), *got = malloc(c->rows * c->cols * 4);
        kern_dequant_int8_ref(q, c->rows, c->cols, scale, c->group, zp, ref);
        ck_assert_msg(kern_dequant_int8_cuda_host(q, c->rows, c->cols, scale, c->group, zp, got, &err) == CK_OK,
                      "%s", err.msg);
        for (size_t i = 0; i < c->rows * c->cols; i++)
            ck_assert_msg(same_float(got[i], ref[i]), "case %u at %zu: cuda %g ref %g", k, i, got[i], ref[i]);
        free(q), free(scale), free(zp), free(want), free(ref), free(got);
    }
}
END_TEST

/* AWQ's GEMM layout, packed here from random values the way AutoAWQ packs them (column
 * [0, 2, 4, 6, 1, 3, 5, 7][p] of each eight in nibble p), against the formula w[o][i] =
 * (q[i][o] - z[i/group][o]) * s[i/group][o]. */
static const struct { size_t in, out; int group; } awq_cases[] = {{64, 8, 32}, {128, 48, 64}, {96, 16, 0},
                                                                  {256, 64, 128}};
#define N_AWQ (sizeof awq_cases / sizeof *awq_cases)

static void make_awq(unsigned k, int32_t **qw, int32_t **qz, float **scale, float **want)
{
    static const int order[8] = {0, 2, 4, 6, 1, 3, 5, 7};
    size_t in = awq_cases[k].in, out = awq_cases[k].out;
    size_t groups = awq_cases[k].group > 0 ? in / (size_t)awq_cases[k].group : 1;
    uint8_t *q = malloc(in * out), *z = malloc(groups * out);
    *qw = calloc(in * out / 8, 4);
    *qz = calloc(groups * out / 8, 4);
    *scale = malloc(groups * out * 4);
    *want = malloc(in * out * 4);
    uint32_t st = 91 + k;
    for (size_t i = 0; i < in * out; i++)
        q[i] = (uint8_t)(tu_rand(&st) % 16);
    for (size_t i = 0; i < groups * out; i++) {
        z[i] = (uint8_t)(tu_rand(&st) % 16);
        (*scale)[i] = (float)(tu_rand(&st) % 4096 + 1) / 65536.0f;
    }
    for (size_t r = 0; r < in; r++)
        for (size_t w = 0; w < out / 8; w++) {
            uint32_t word = 0;
            for (int p = 0; p < 8; p++)
                word |= (uint32_t)q[r * out + w * 8 + (size_t)order[p]] << (4 * p);
            memcpy(&(*qw)[r * (out / 8) + w], &word, 4);
        }
    for (size_t g = 0; g < groups; g++)
        for (size_t w = 0; w < out / 8; w++) {
            uint32_t word = 0;
            for (int p = 0; p < 8; p++)
                word |= (uint32_t)z[g * out + w * 8 + (size_t)order[p]] << (4 * p);
            memcpy(&(*qz)[g * (out / 8) + w], &word, 4);
        }
    for (size_t o = 0; o < out; o++)
        for (size_t i = 0; i < in; i++) {
            size_t g = awq_cases[k].group > 0 ? i / (size_t)awq_cases[k].group : 0;
            (*want)[o * in + i] = (float)((int)q[i * out + o] - (int)z[g * out + o]) * (*scale)[g * out + o];
        }
    free(q);
    free(z);
}

START_TEST(test_dequant_awq_ref)
{
    for (unsigned k = 0; k < N_AWQ; k++) {
        int32_t *qw, *qz;
        float *scale, *want;
        make_awq(k, &qw, &qz, &scale, &want);
        size_t n = awq_cases[k].in * awq_cases[k].out;
        float *got = malloc(n * 4);
        ck_assert_int_eq(kern_dequant_awq_ref(qw, qz, scale, awq_cases[k].in, awq_cases[k].out, awq_cases[k].group,
                                              got), 0);
        for (size_t i = 0; i < n; i++)
            ck_assert_msg(got[i] == want[i], "case %u at %zu: %g, want %g", k, i, got[i], want[i]);
        free(qw), free(qz), free(scale), free(want), free(got);
    }
    float one;
    ck_assert_int_eq(kern_dequant_awq_ref(NULL, NULL, NULL, 8, 12, 0, &one), -1); /* out not a multiple of 8 */
}
END_TEST

START_TEST(test_dequant_awq_cuda_vs_ref)
{
    char why[256];
    if (!kern_cuda_available(why, sizeof why))
        return; /* main() printed the skip once */
    ck_err err;
    ck_err_clear(&err);
    for (unsigned k = 0; k < N_AWQ; k++) {
        int32_t *qw, *qz;
        float *scale, *want;
        make_awq(k, &qw, &qz, &scale, &want);
        size_t n = awq_cases[k].in * awq_cases[k].out;
        float *ref = malloc(n * 4), *got = malloc(n * 4);
        kern_dequant_awq_ref(qw, qz, scale, awq_cases[k].in, awq_cases[k].out, awq_cases[k].group, ref);
        ck_assert_msg(kern_dequant_awq_cuda_host(qw, qz, scale, awq_cases[k].in, awq_cases[k].out, awq_cases[k].group,
                                                 got, &err) == CK_OK, "%s", err.msg);
        double num = 0, den = 0;
        for (size_t i = 0; i < n; i++) {
            num += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
            den += (double)ref[i] * ref[i];
        }
        ck_assert_msg(den > 0 && sqrt(num / den) <= 1e-6, "case %u: relative error %g", k, sqrt(num / den));
        free(qw), free(qz), free(scale), free(want), free(ref), free(got);
    }
}
END_TEST

/* GPTQ's layout, packed here from random values (32/bits consecutive input rows per word, low
 * bits first), against w[o][i] = (q[i][o] - 2^(bits-1)) * s[g][o] with g from g_idx (a shuffled
 * assignment, as desc_act makes) or i / group. */
static const struct { size_t in, out; int bits, group, shuffled; } gptq_cases[] = {
    {64, 8, 4, 32, 0}, {128, 24, 4, 64, 1}, {64, 16, 8, 0, 0}, {256, 40, 8, 128, 1}};
#define N_GPTQ (sizeof gptq_cases / sizeof *gptq_cases)

static void make_gptq(unsigned k, int32_t **qw, float **scale, int32_t **g_idx, float **want)
{
    size_t in = gptq_cases[k].in, out = gptq_cases[k].out;
    int bits = gptq_cases[k].bits, group = gptq_cases[k].group;
    size_t pf = 32 / (size_t)bits, groups = group > 0 ? in / (size_t)group : 1;
    uint32_t *q = malloc(in * out * 4), st = 131 + k;
    *qw = calloc(in / pf * out, 4);
    *scale = malloc(groups * out * 4);
    *g_idx = malloc(in * 4);
    *want = malloc(in * out * 4);
    for (size_t i = 0; i < in * out; i++)
        q[i] = tu_rand(&st) % (1u << bits);
    for (size_t i = 0; i < groups * out; i++)
        (*scale)[i] = (float)(tu_rand(&st) % 4096 + 1) / 65536.0f;
    for (size_t i = 0; i < in; i++)
        (*g_idx)[i] = gptq_cases[k].shuffled ? (int32_t)(tu_rand(&st) % groups) : group > 0 ? (int32_t)(i / (size_t)group) : 0;
    for (size_t i = 0; i < in; i++)
        for (size_t o = 0; o < out; o++) {
            uint32_t word;
            memcpy(&word, &(*qw)[(i / pf) * out + o], 4);
            word |= q[i * out + o] << ((i % pf) * (size_t)bits);
            memcpy(&(*qw)[(i / pf) * out + o], &word, 4);
            (*want)[o * in + i] = (float)((int32_t)q[i * out + o] - (1 << (bits - 1))) *
                                  (*scale)[(size_t)(*g_idx)[i] * out + o];
        }
    free(q);
}

START_TEST(test_dequant_gptq_ref)
{
    for (unsigned k = 0; k < N_GPTQ; k++) {
        int32_t *qw, *g_idx;
        float *scale, *want;
        make_gptq(k, &qw, &scale, &g_idx, &want);
        size_t n = gptq_cases[k].in * gptq_cases[k].out;
        float *got = malloc(n * 4);
        ck_assert_int_eq(kern_dequant_gptq_ref(qw, scale, g_idx, gptq_cases[k].in, gptq_cases[k].out, gptq_cases[k].bits,
                                               gptq_cases[k].group, got), 0);
        for (size_t i = 0; i < n; i++)
            ck_assert_msg(got[i] == want[i], "case %u at %zu: %g, want %g", k, i, got[i], want[i]);
        if (!gptq_cases[k].shuffled) { /* without g_idx: each input's group is its index / group */
            ck_assert_int_eq(kern_dequant_gptq_ref(qw, scale, NULL, gptq_cases[k].in, gptq_cases[k].out,
                                                   gptq_cases[k].bits, gptq_cases[k].group, got), 0);
            for (size_t i = 0; i < n; i++)
                ck_assert_msg(got[i] == want[i], "case %u without g_idx at %zu", k, i);
        }
        free(qw), free(scale), free(g_idx), free(want), free(got);
    }
    float one;
    ck_assert_int_eq(kern_dequant_gptq_ref(NULL, NULL, NULL, 12, 8, 4, 0, &one), -1); /* 12 rows: not whole words */
    ck_assert_int_eq(kern_dequant_gptq_ref(NULL, NULL, NULL, 16, 8, 3, 0, &one), -1);
}
END_TEST

START_TEST(test_dequant_gptq_cuda_vs_ref)
{
    char why[256];
    if (!kern_cuda_available(why, sizeof why))
        return; /* main() printed the skip once */
    ck_err err;
    ck_err_clear(&err);
    for (unsigned k = 0; k < N_GPTQ; k++) {
        int32_t *qw, *g_idx;
        float *scale, *want;
        make_gptq(k, &qw, &scale, &g_idx, &want);
        size_t n = gptq_cases[k].in * gptq_cases[k].out;
        size_t groups = gptq_cases[k].group > 0 ? gptq_cases[k].in / (size_t)gptq_cases[k].group : 1;
        float *ref = malloc(n * 4), *got = malloc(n * 4);
        kern_dequant_gptq_ref(qw, scale, g_idx, gptq_cases[k].in, gptq_cases[k].out, gptq_cases[k].bits,
                              gptq_cases[k].group, ref);
        ck_assert_msg(kern_dequant_gptq_cuda_host(qw, scale, g_idx, gptq_cases[k].in, gptq_cases[k].out,
                                                  gptq_cases[k].bits, gptq_cases[k].group, groups, got, &err) == CK_OK,
                      "%s", err.msg);
        double num = 0, den = 0;
        for (size_t i = 0; i < n; i++) {
            num += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
            den += (double)ref[i] * ref[i];
        }
        ck_assert_msg(den > 0 && sqrt(num / den) <= 1e-6, "case %u: relative error %g", k, sqrt(num / den));
        free(qw), free(scale), free(g_idx), free(want), free(ref), free(got);
    }
}
END_TEST

static const struct { size_t rows, cols; int bn, bk; } fp8_cases[] = {
    {1, 1, 128, 128}, {5, 7, 2, 3}, {130, 300, 128, 128}, {256, 128, 128, 128}, {33, 65, 16, 8}};
#define N_FP8 (sizeof fp8_cases / sizeof *fp8_cases)

static void make_fp8(unsigned k, uint8_t **w, float **scale, float **want)
{
    size_t rows = fp8_cases[k].rows, cols = fp8_cases[k].cols;
    int bn = fp8_cases[k].bn, bk = fp8_cases[k].bk;
    size_t sr = (rows + (size_t)bn - 1) / (size_t)bn, sc = (cols + (size_t)bk - 1) / (size_t)bk;
    *w = malloc(rows * cols);
    *scale = malloc(sr * sc * 4);
    *want = malloc(rows * cols * 4);
    uint32_t st = 7 + k;
    for (size_t i = 0; i < sr * sc; i++)
        (*scale)[i] = (float)(tu_rand(&st) % 4096 + 1) / 65536.0f;
    for (size_t i = 0; i < rows * cols; i++) {
        (*w)[i] = (uint8_t)tu_rand(&st);
        size_t r = i / cols, c = i % cols;
        (*want)[i] = e4m3_spec((*w)[i]) * (*scale)[(r / (size_t)bn) * sc + c / (size_t)bk];
    }
}

START_TEST(test_dequant_fp8_ref)
{
    for (unsigned k = 0; k < N_FP8; k++) {
        uint8_t *w;
        float *scale, *want;
        make_fp8(k, &w, &scale, &want);
        size_t n = fp8_cases[k].rows * fp8_cases[k].cols;
        float *got = malloc(n * 4);
        ck_assert_int_eq(kern_dequant_fp8_block_ref(w, fp8_cases[k].rows, fp8_cases[k].cols, scale,
                                                    fp8_cases[k].bn, fp8_cases[k].bk, got), 0);
        for (size_t i = 0; i < n; i++)
            ck_assert_msg(same_float(got[i], want[i]), "case %u at %zu: %g want %g", k, i, got[i], want[i]);
        free(got);
        free(w);
        free(scale);
        free(want);
    }
}
END_TEST

/* NVFP4: random packed bytes and group scales (FP8 values, as stored) against the format read
 * independently: the E2M1 table, low nibble first, over the global divisor; CUDA (with a device)
 * bit-identical to the reference; impossible arguments refused. */
static const float e2m1_table[16] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6, -0.0f, -0.5f, -1, -1.5f, -2, -3, -4, -6};

START_TEST(test_dequant_nvfp4)
{
    static const struct { size_t rows, cols; int group; float global; } cases[] = {
        {4, 32, 16, 1.0f}, {7, 48, 16, 2688.0f / 3.1f}, {1, 64, 32, 17.5f}, {3, 16, 16, 1e-3f}};
    char why[256];
    int cuda = kern_cuda_available(why, sizeof why);
    for (unsigned k = 0; k < sizeof cases / sizeof *cases; k++) {
        size_t rows = cases[k].rows, cols = cases[k].cols, groups = cols / (size_t)cases[k].group;
        uint8_t *packed = malloc(rows * cols / 2);
        float *scale = malloc(rows * groups * 4), *want = malloc(rows * cols * 4), *got = malloc(rows * cols * 4);
        uint32_t st = 91 + k;
        for (size_t i = 0; i < rows * groups; i++)
            scale[i] = e4m3_spec((uint8_t)(tu_rand(&st) % 0x77 + 1)); /* positive finite E4M3 values */
        for (size_t i = 0; i < rows * cols / 2; i++)
            packed[i] = (uint8_t)tu_rand(&st);
        int nonzero = 0;
        for (size_t r = 0; r < rows; r++)
            for (size_t c = 0; c < cols; c++) {
                uint8_t b = packed[r * cols / 2 + c / 2];
                float v = e2m1_table[c & 1 ? b >> 4 : b & 15];
                want[r * cols + c] = v * scale[r * groups + c / (size_t)cases[k].group] / cases[k].global;
                nonzero |= v != 0;
            }
        ck_assert(nonzero);
        ck_assert_int_eq(kern_dequant_nvfp4_ref(packed, rows, cols, scale, cases[k].group, cases[k].global, got), 0);
        for (size_t i = 0; i < rows * cols; i++)
            ck_assert_msg(same_float(got[i], want[i]), "case %u at %zu: %g want %g", k, i, got[i], want[i]);
        if (cuda) {
            ck_err err;
            ck_err_clear(&err);
            memset(got, 0, rows * cols * 4);
            ck_assert_msg(kern_dequant_nvfp4_cuda_host(packed, rows, cols, scale, cases[k].group, cases[k].global,
                                                       got, &err) == CK_OK, "%s", err.msg);
            for (size_t i = 0; i < rows * cols; i++)
                ck_assert_msg(same_float(got[i], want[i]), "cuda case %u at %zu: %g want %g", k, i, got[i], want[i]);
        }
        free(packed);
        free(scale);
        free(want);
        free(got);
    }
    float s = 1, o[16];
    uint8_t b[8] = {0};
    ck_assert_int_eq(kern_dequant_nvfp4_ref(b, 1, 16, &s, 0, 1.0f, o), -1);  /* no group */
    ck_assert_int_eq(kern_dequant_nvfp4_ref(b, 1, 15, &s, 15, 1.0f, o), -1); /* odd columns */
    ck_assert_int_eq(kern_dequant_nvfp4_ref(b, 1, 16, &s, 16, 0.0f, o), -1); /* no global scale */
    ck_assert_int_eq(kern_dequant_nvfp4_ref(b, 1, 24, &s, 16, 1.0f, o), -1); /* a partial group */
}
END_TEST

/* CUDA against the reference on the same random inputs: bit-identical (same element code). */
START_TEST(test_dequant_cuda_vs_ref)
{
    char why[256];
    if (!kern_cuda_available(why, sizeof why))
        return; /* main() printed the skip once */
    ck_err err;
    ck_err_clear(&err);
    for (unsigned k = 0; k < N_PACKED; k++) {
        const packed_case *pc = &packed_cases[k];
        packed_data d;
        make_packed(pc, 500 + k, &d);
        size_t n = pc->rows * pc->cols;
        float *ref = malloc(n * 4), *got = malloc(n * 4);
        kern_dequant_packed_ref(d.packed, pc->rows, pc->cols, pc->bits, d.scale, pc->group, d.zp, ref);
        ck_assert_msg(kern_dequant_packed_cuda_host(d.packed, pc->rows, pc->cols, pc->bits, d.scale, pc->group,
                                                    d.zp, got, &err) == CK_OK, "%s", err.msg);
        for (size_t i = 0; i < n; i++)
            ck_assert_msg(same_float(got[i], ref[i]), "packed case %u at %zu: cuda %g ref %g", k, i, got[i], ref[i]);
        free(ref);
        free(got);
        free_packed(&d);
    }
    for (unsigned k = 0; k < N_FP8; k++) {
        uint8_t *w;
        float *scale, *want;
        make_fp8(k, &w, &scale, &want);
        size_t n = fp8_cases[k].rows * fp8_cases[k].cols;
        float *got = malloc(n * 4);
        ck_assert_msg(kern_dequant_fp8_block_cuda_host(w, fp8_cases[k].rows, fp8_cases[k].cols, scale,
                                                       fp8_cases[k].bn, fp8_cases[k].bk, got, &err) == CK_OK,
                      "%s", err.msg);
        for (size_t i = 0; i < n; i++)
            ck_assert_msg(same_float(got[i], want[i]), "fp8 case %u at %zu: cuda %g want %g", k, i, got[i], want[i]);
        free(got);
        free(w);
        free(scale);
        free(want);
    }
}
END_TEST

/* Random values in [-1, 1) from a fixed seed (never all zero). */
static void fill_random(float *v, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        v[i] = (float)((double)(seed >> 8) / (double)(1u << 24) * 2.0 - 1.0);
    }
}

static double rel_err(const float *got, const float *want, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - want[i];
        num += d * d;
        den += (double)want[i] * want[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* A device (managed) copy of n floats. */
static float *dev_copy(const float *h, size_t n)
{
    float *d;
    ck_err err;
    ck_err_clear(&err);
    ck_assert_msg(kdev_alloc((void **)&d, n * sizeof *d, &err) == CK_OK, "%s", err.msg);
    memcpy(d, h, n * sizeof *d); /* managed memory: the host writes it directly */
    return d;
}

/* Every forward operation on the device against the C reference, on random inputs, by relative
 * error (cuBLAS sums in another order: 1e-5; the element-wise kernels run the reference's code). */
START_TEST(test_forward_cuda_vs_ref)
{
    char why[256];
    if (!kern_cuda_available(why, sizeof why))
        return; /* main() printed the skip once */
    ck_err err;
    ck_err_clear(&err);
    const size_t T = 7, K = 96, N = 80, heads = 6, kvh = 2, hd = 32;
    float *x = malloc(T * K * 4), *w = malloc(N * K * 4), *b = malloc(N * 4), *y = malloc(T * N * 4);
    fill_random(x, T * K, 1);
    fill_random(w, N * K, 2);
    fill_random(b, N, 3);
    fill_random(y, T * N, 4);
    float *dx = dev_copy(x, T * K), *dw = dev_copy(w, N * K), *db = dev_copy(b, N), *dy = dev_copy(y, T * N);
    for (int acc = 0; acc <= 1; acc++) {
        fwd_linear(x, T, K, w, N, b, y, acc);
        ck_assert_msg(fwd_linear_cuda(dx, T, K, dw, N, db, dy, acc, &err) == CK_OK, "%s", err.msg);
        double e = rel_err(dy, y, T * N);
        ck_assert_msg(e < 1e-5, "linear (acc %d): relative error %g", acc, e);
    }
    /* RMSNorm, in place as the forward pass uses it */
    fwd_rmsnorm(x, T, K, w, 1e-6f, y);
    ck_assert_msg(fwd_rmsnorm_cuda(dx, T, K, dw, 1e-6f, dx, &err) == CK_OK, "%s", err.msg);
    ck_assert_msg(rel_err(dx, y, T * K) < 1e-6, "rmsnorm: %g", rel_err(dx, y, T * K));
    /* partial rotary with given frequencies */
    double inv[16];
    for (int i = 0; i < 16; i++)
        inv[i] = pow(10000.0, -2.0 * i / 32.0) * (i % 3 ? 1.0 : 0.25);
    float *q = malloc(T * heads * hd * 4), *k = malloc(T * kvh * hd * 4), *v = malloc(T * kvh * hd * 4);
    float *o = malloc(T * heads * hd * 4);
    fill_random(q, T * heads * hd, 5);
    fill_random(k, T * kvh * hd, 6);
    fill_random(v, T * kvh * hd, 7);
    float *dq = dev_copy(q, T * heads * hd), *dk = dev_copy(k, T * kvh * hd), *dv = dev_copy(v, T * kvh * hd);
    float *dout;
    ck_assert_msg(kdev_alloc((void **)&dout, T * heads * hd * 4, &err) == CK_OK, "%s", err.msg);
    fwd_rope_freqs(q, T, heads, hd, 24, inv);
    ck_assert_msg(fwd_rope_freqs_cuda(dq, T, heads, hd, 24, inv, &err) == CK_OK, "%s", err.msg);
    ck_assert_msg(rel_err(dq, q, T * heads * hd) < 1e-6, "rope: %g", rel_err(dq, q, T * heads * hd));
    /* causal attention, three query heads per key/value head; then with Gemma's scale, soft cap
     * (small enough to bend the scores), a sliding window shorter than T and chunks (Llama 4's) */
    static const fwd_attn_opts opts[] = {{0, 0, 0, 0, NULL}, {1.0 / 12, 0.3, 3, 0, NULL}, {0, 0, 1, 0, NULL},
                                         {0, 0, 0, 4, NULL}, {0, 0, 3, 5, NULL}}; /* and chunks (Llama 4) */
    for (unsigned i = 0; i < sizeof opts / sizeof *opts; i++) {
        fwd_attention(q, k, v, T, heads, kvh, hd, i ? &opts[i] : NULL, o);
        ck_assert_msg(fwd_attention_cuda(dq, dk, dv, T, heads, kvh, hd, i ? &opts[i] : NULL, dout, &err) == CK_OK,
                      "%s", err.msg);
        ck_assert_msg(rel_err(dout, o, T * heads * hd) < 1e-6, "attention %u: %g", i, rel_err(dout, o, T * heads * hd));
    }
    /* gpt-oss's sinks, a logit per query head (managed memory: the C reference reads it too),
     * with a window */
    float sk[64];
    fill_random(sk, heads, 8);
    float *dsk = dev_copy(sk, heads);
    fwd_attn_opts so = {0, 0, 3, 0, dsk};
    fwd_attention(q, k, v, T, heads, kvh, hd, &so, o);
    ck_assert_msg(fwd_attention_cuda(dq, dk, dv, T, heads, kvh, hd, &so, dout, &err) == CK_OK, "%s", err.msg);
    ck_assert_msg(rel_err(dout, o, T * heads * hd) < 1e-6, "attention with sinks: %g", rel_err(dout, o, T * heads * hd));
    kdev_free(dsk);
    /* the gated delta rule (Qwen3-Next), 3 heads of keys 24 and values 20 over T tokens */
    {
        size_t nh = 3, kw = 24, dvv = 20;
        float *gq = malloc(T * nh * kw * 4), *gk = malloc(T * nh * kw * 4), *gv = malloc(T * nh * dvv * 4);
        float *gg = malloc(T * nh * 4), *gb = malloc(T * nh * 4), *go = malloc(T * nh * dvv * 4);
        fill_random(gq, T * nh * kw, 11);
        fill_random(gk, T * nh * kw, 12);
        fill_random(gv, T * nh * dvv, 13);
        fill_random(gg, T * nh, 14);
        fill_random(gb, T * nh, 15);
        for (size_t i = 0; i < T * nh; i++) { /* decays below 0, betas in (0, 1), as the model makes them */
            gg[i] = -fabsf(gg[i]);
            gb[i] = 1.0f / (1.0f + expf(-gb[i]));
        }
        float *d_q = dev_copy(gq, T * nh * kw), *d_k = dev_copy(gk, T * nh * kw), *d_v = dev_copy(gv, T * nh * dvv);
        float *d_g = dev_copy(gg, T * nh), *d_b = dev_copy(gb, T * nh), *d_o;
        ck_assert_msg(kdev_alloc((void **)&d_o, T * nh * dvv * 4, &err) == CK_OK, "%s", err.msg);
        fwd_gated_delta(gq, gk, gv, gg, gb, T, nh, kw, dvv, go);
        ck_assert_msg(fwd_gated_delta_cuda(d_q, d_k, d_v, d_g, d_b, T, nh, kw, dvv, d_o, &err) == CK_OK, "%s", err.msg);
        ck_assert_msg(rel_err(d_o, go, T * nh * dvv) < 1e-5, "gated delta: %g", rel_err(d_o, go, T * nh * dvv));
        kdev_free(d_q), kdev_free(d_k), kdev_free(d_v), kdev_free(d_g), kdev_free(d_b), kdev_free(d_o);
        free(gq), free(gk), free(gv), free(gg), free(gb), free(go);
    }
    /* SwiGLU, GeGLU (tanh and exact), gpt-oss's clamped SwiGLU and relu2 over [T, 2 * 40] */
    for (int act = FWD_SILU; act <= FWD_GELU; act++) {
        fwd_act_mul(dy, T, 40, (fwd_act)act, o);
        ck_assert_msg(fwd_act_mul_cuda(dy, T, 40, (fwd_act)act, dout, &err) == CK_OK, "%s", err.msg);
        ck_assert_msg(rel_err(dout, o, T * 40) < 1e-6, "act_mul %d: %g", act, rel_err(dout, o, T * 40));
    }
    /* the plain MLP's SiLU, GELUs and relu2 over every element of [T, 80] */
    for (int act = FWD_SILU; act <= FWD_GELU; act++) {
        if (act == FWD_SWIGLUOAI)
            continue; /* a gated form only */
        fwd_act_each(dy, T * 80, (fwd_act)act, o);
        ck_assert_msg(fwd_act_each_cuda(dy, T * 80, (fwd_act)act, dout, &err) == CK_OK, "%s", err.msg);
        ck_assert_msg(rel_err(dout, o, T * 80) < 1e-6, "act %d: %g", act, rel_err(dout, o, T * 80));
    }
    /* a stored input-major expert tensor [3, 40, 56] turned into [3, 56, 40], on the load stream */
    float *ts = malloc(3 * 40 * 56 * 4), *tr = malloc(3 * 40 * 56 * 4), *dtr;
    fill_random(ts, 3 * 40 * 56, 9);
    float *dts = dev_copy(ts, 3 * 40 * 56);
    ck_assert_msg(kdev_alloc((void **)&dtr, 3 * 40 * 56 * 4, &err) == CK_OK, "%s", err.msg);
    kern_transpose_last2_ref(ts, 3, 40, 56, tr);
    void *stream;
    ck_assert_msg(kdev_stream(&stream, &err) == CK_OK, "%s", err.msg);
    ck_assert_msg(kern_transpose_last2_cuda_async(dts, 3, 40, 56, dtr, stream, &err) == CK_OK, "%s", err.msg);
    ck_assert_msg(kdev_sync(&err) == CK_OK, "%s", err.msg);
    ck_assert_msg(rel_err(dtr, tr, 3 * 40 * 56) == 0, "transpose: %g", rel_err(dtr, tr, 3 * 40 * 56));
    kdev_free(dtr);
    kdev_free(dts);
    free(tr), free(ts);
    /* an impossible head grouping is refused, not launched */
    ck_assert_int_eq(fwd_attention_cuda(dq, dk, dv, T, 5, 2, hd, NULL, dout, &err), CK_EUSAGE);
    float *dev[] = {dx, dw, db, dy, dq, dk, dv, dout};
    for (unsigned i = 0; i < sizeof dev / sizeof *dev; i++)
        kdev_free(dev[i]);
    ck_assert_int_eq(kdev_bytes_in_use(), 0);
    free(x), free(w), free(b), free(y), free(q), free(k), free(v), free(o);
}
END_TEST

/* Without a device (or without nvcc), the device load says why instead of doing anything. */
START_TEST(test_device_stubs_say_why)
{
    char why[256];
    if (kern_cuda_available(why, sizeof why))
        return; /* a device: the real entry points are tested above */
    ck_err err;
    ck_err_clear(&err);
    kdev_stager *s = NULL;
    ck_assert_int_eq(kdev_stager_new(0, &s, &err), CK_ECUDA);
    ck_assert_ptr_null(s);
    ck_assert_msg(strlen(err.msg) > 0, "an error without a reason");
}
END_TEST

/* A product large enough to be split over threads gives, value for value, what one thread
 * computes (the same double sums in the same order), with bias and accumulation. */
START_TEST(test_linear_threads)
{
    const size_t T = 5, K = 301, N = 2003;
    float *x = malloc(T * K * 4), *w = malloc(N * K * 4), *b = malloc(N * 4), *y = malloc(T * N * 4);
    fill_random(x, T * K, 11);
    fill_random(w, N * K, 12);
    fill_random(b, N, 13);
    fill_random(y, T * N, 14);
    float *want = malloc(T * N * 4);
    for (size_t t = 0; t < T; t++)
        for (size_t n = 0; n < N; n++) {
            double s = b[n];
            for (size_t k = 0; k < K; k++)
                s += (double)x[t * K + k] * w[n * K + k];
            want[t * N + n] = y[t * N + n] + (float)s;
        }
    fwd_linear(x, T, K, w, N, b, y, 1);
    for (size_t i = 0; i < T * N; i++)
        ck_assert_msg(y[i] == want[i], "value %zu: %g, one thread gives %g", i, y[i], want[i]);
    free(x), free(w), free(b), free(y), free(want);
}
END_TEST

/* OpenBLAS's product against the C reference on random inputs, with and without bias and
 * accumulation, shapes that are not multiples of its blocks, and one token; a build with
 * OpenBLAS's header must find the library. */
START_TEST(test_linear_blas_vs_ref)
{
    char why[320] = "";
    int ready = fwd_blas_ready(why, sizeof why);
#ifdef HAVE_OPENBLAS
    ck_assert_msg(ready, "built with OpenBLAS, but the products use the C reference: %s", why);
#else
    ck_assert_msg(!ready && strstr(why, "libopenblas-dev"), "%s", why);
    return;
#endif
    static const size_t shapes[][3] = {{7, 301, 203}, {1, 64, 1000}, {33, 17, 5}};
    for (unsigned s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        size_t T = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        float *x = malloc(T * K * 4), *w = malloc(N * K * 4), *b = malloc(N * 4), *y0 = malloc(T * N * 4);
        float *y1 = malloc(T * N * 4);
        fill_random(x, T * K, 21 + s);
        fill_random(w, N * K, 22 + s);
        fill_random(b, N, 23 + s);
        for (int c = 0; c < 4; c++) {
            int acc = c & 1;
            const float *bias = c & 2 ? b : NULL;
            fill_random(y0, T * N, 24 + s);
            memcpy(y1, y0, T * N * 4);
            fwd_linear(x, T, K, w, N, bias, y0, acc);
            ck_assert(fwd_linear_blas(x, T, K, w, N, bias, y1, acc));
            double e = rel_err(y1, y0, T * N);
            ck_assert_msg(e < 1e-5, "shape %u, acc %d, bias %d: relative error %g", s, acc, bias != NULL, e);
        }
        free(x), free(w), free(b), free(y0), free(y1);
    }
}
END_TEST

/* The forward operations on cases with known answers. */
START_TEST(test_forward_ops)
{
    /* linear with bias, and accumulation */
    float x[2 * 3] = {1, 2, 3, -1, 0, 2}, w[2 * 3] = {1, 0, -1, 2, 1, 0}, b[2] = {0.5f, -1}, y[4];
    fwd_linear(x, 2, 3, w, 2, b, y, 0);
    ck_assert(y[0] == -1.5f && y[1] == 3.0f && y[2] == -2.5f && y[3] == -3.0f);
    fwd_linear(x, 2, 3, w, 2, NULL, y, 1);
    ck_assert(y[0] == -3.5f && y[1] == 7.0f);
    /* RMSNorm: [3, 4] has rms sqrt(12.5) */
    float v[2] = {3, 4}, g[2] = {1, 2}, o[2];
    fwd_rmsnorm(v, 1, 2, g, 0.0f, o);
    ck_assert_float_eq_tol(o[0], 3 / sqrtf(12.5f), 1e-6f);
    ck_assert_float_eq_tol(o[1], 8 / sqrtf(12.5f), 1e-6f);
    /* RoPE: position 0 is the identity; position 1 turns pair (0, 2) by 1 rad, (1, 3) by theta^-0.5 */
    float r[2 * 4] = {1, 2, 3, 4, 1, 0, 0, 1};
    fwd_rope(r, 2, 1, 4, 100.0);
    ck_assert(r[0] == 1 && r[1] == 2 && r[2] == 3 && r[3] == 4);
    ck_assert_float_eq_tol(r[4], cosf(1), 1e-6f);
    ck_assert_float_eq_tol(r[6], sinf(1), 1e-6f);
    ck_assert_float_eq_tol(r[5], -sinf(0.1f), 1e-6f);
    ck_assert_float_eq_tol(r[7], cosf(0.1f), 1e-6f);
    /* attention: the first token sees only itself; two query heads share one key/value head */
    float q[2 * 2 * 2] = {1, 0, 0, 1, 1, 0, 0, 1}, k[2 * 1 * 2] = {1, 0, 0, 1}, vv[2 * 2] = {2, 4, 6, 8}, a[8];
    fwd_attention(q, k, vv, 2, 2, 1, 2, NULL, a);
    ck_assert(a[0] == 2 && a[1] == 4 && a[2] == 2 && a[3] == 4);
    /* token 1, head 0: scores q.k / sqrt(2) = (1, 0) / sqrt(2) over keys 0 and 1 */
    double e0 = exp(1 / sqrt(2.0)), e1 = 1, w0 = e0 / (e0 + e1);
    ck_assert_float_eq_tol(a[4], (float)(w0 * 2 + (1 - w0) * 6), 1e-5f);
    ck_assert_float_eq_tol(a[6], (float)((1 - w0) * 2 + w0 * 6), 1e-5f); /* head 1 prefers key 1 */
    /* scale 2 and a soft cap of 1: score tanh(1 * 2 / 1) = tanh(2) for key 0, 0 for key 1 */
    fwd_attn_opts ao = {2.0, 1.0, 0, 0, NULL};
    fwd_attention(q, k, vv, 2, 2, 1, 2, &ao, a);
    double c0 = exp(tanh(2.0)), c1 = 1, u0 = c0 / (c0 + c1);
    ck_assert_float_eq_tol(a[4], (float)(u0 * 2 + (1 - u0) * 6), 1e-5f);
    /* a window of one token: each token sees only itself */
    ao = (fwd_attn_opts){.window = 1};
    fwd_attention(q, k, vv, 2, 2, 1, 2, &ao, a);
    ck_assert(a[4] == 6 && a[5] == 8 && a[6] == 6 && a[7] == 8);
    /* chunks of one token: the same; chunks of two: token 1 sees token 0 again */
    ao = (fwd_attn_opts){.chunk = 1};
    fwd_attention(q, k, vv, 2, 2, 1, 2, &ao, a);
    ck_assert(a[4] == 6 && a[5] == 8 && a[6] == 6 && a[7] == 8);
    ao = (fwd_attn_opts){.chunk = 2};
    fwd_attention(q, k, vv, 2, 2, 1, 2, &ao, a);
    ck_assert_float_eq_tol(a[4], (float)(w0 * 2 + (1 - w0) * 6), 1e-5f);
    /* SwiGLU and GeGLU (tanh form: gelu(2) = 0.5 * 2 * (1 + tanh(0.79788456 * (2 + 0.044715 * 8)))) */
    float gu[4] = {0, 2, 3, 5}, s[2];
    fwd_act_mul(gu, 1, 2, FWD_SILU, s);
    ck_assert(s[0] == 0);
    ck_assert_float_eq_tol(s[1], 2 / (1 + expf(-2)) * 5, 1e-6f);
    fwd_act_mul(gu, 1, 2, FWD_GELU_TANH, s);
    ck_assert(s[0] == 0);
    ck_assert_float_eq_tol(s[1], (float)(0.5 * 2 * (1 + tanh(0.7978845608 * (2 + 0.044715 * 8))) * 5), 1e-5f);
    ck_assert_float_eq_tol(s[1], 1.9545977f * 5, 1e-4f); /* torch.nn.functional.gelu(2, approximate="tanh") */
    /* ungated: each element on its own (StarCoder2's c_fc output), in place */
    float pg[3] = {2, -1, 0};
    fwd_act_each(pg, 3, FWD_GELU_TANH, pg);
    ck_assert_float_eq_tol(pg[0], 1.9545977f, 1e-5f);
    ck_assert_float_eq_tol(pg[1], -0.15880801f, 1e-5f); /* torch gelu(-1, approximate="tanh") */
    ck_assert(pg[2] == 0);
    float eg[3] = {2, -1, 0}; /* exact: torch.nn.functional.gelu(x) */
    fwd_act_each(eg, 3, FWD_GELU, eg);
    ck_assert_float_eq_tol(eg[0], 1.9544997f, 1e-5f);
    ck_assert_float_eq_tol(eg[1], -0.15865525f, 1e-5f);
    ck_assert(eg[2] == 0);
    fwd_act_mul(gu, 1, 2, FWD_GELU, s); /* Gemma's GeGLU with hidden_activation "gelu" */
    ck_assert_float_eq_tol(s[1], 1.9544997f * 5, 1e-4f);
    float rl[3] = {3, -2, 0.5f}; /* Nemotron-H's relu2: relu(x)^2 */
    fwd_act_each(rl, 3, FWD_RELU2, rl);
    ck_assert(rl[0] == 9 && rl[1] == 0 && rl[2] == 0.25f);
    /* the last two dims swapped, block by block: [2, 2, 3] */
    float tin[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, tout[12];
    kern_transpose_last2_ref(tin, 2, 2, 3, tout);
    static const float twant[12] = {0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11};
    for (int i = 0; i < 12; i++)
        ck_assert_float_eq(tout[i], twant[i]);
    /* gpt-oss's: pairs (gate, up); the gate capped at 7, up clamped to [-7, 7], (up + 1) times
     * gate * sigmoid(1.702 gate) */
    float oai[4] = {8, 10, 1, -0.5f};
    fwd_act_mul(oai, 1, 2, FWD_SWIGLUOAI, s);
    ck_assert_float_eq_tol(s[0], (float)(8 * 7 / (1 + exp(-1.702 * 7))), 1e-5f);
    ck_assert_float_eq_tol(s[1], (float)(0.5 / (1 + exp(-1.702))), 1e-6f);
    /* the gated delta rule, worked by hand: token 0 writes v = 2 along k = (1, 0) and q = (1, 0) / sqrt(2)
     * reads it; token 1 halves the state (g = ln 0.5), writes (3 - 0) * beta 0.5 along (0, 1), and
     * q = (0, 1) / sqrt(2) reads 1.5 / sqrt(2) */
    float dq[4] = {1, 0, 0, 1}, dk[4] = {1, 0, 0, 1}, dv2[2] = {2, 3}, dg[2] = {0, logf(0.5f)}, db[2] = {1, 0.5f}, dout[2];
    fwd_gated_delta(dq, dk, dv2, dg, db, 2, 1, 2, 1, dout);
    ck_assert_float_eq_tol(dout[0], 2 / sqrtf(2), 1e-5f);
    ck_assert_float_eq_tol(dout[1], 1.5f / sqrtf(2), 1e-5f);
    /* token 1 with token 0's key: the state decays to 1 along it, which k reads back (kv = 1), so it
     * corrects by (3 - 1) * 0.5 = 1 to 2, and q = (1, 0) / sqrt(2) reads 2 / sqrt(2) */
    float dk2[4] = {1, 0, 1, 0}, dq2[4] = {1, 0, 1, 0};
    fwd_gated_delta(dq2, dk2, dv2, dg, db, 2, 1, 2, 1, dout);
    ck_assert_float_eq_tol(dout[1], 2 / sqrtf(2), 1e-5f);
    /* a sink of logit 0.5 takes its share of token 0's softmax and gives nothing back */
    float sinks[2] = {0.5f, 0.5f};
    ao = (fwd_attn_opts){.sinks = sinks};
    fwd_attention(q, k, vv, 2, 2, 1, 2, &ao, a);
    double z0 = exp(1 / sqrt(2.0)), zs = exp(0.5);
    ck_assert_float_eq_tol(a[0], (float)(2 * z0 / (z0 + zs)), 1e-5f);
    ck_assert_float_eq_tol(a[3], (float)(4 / (1 + zs)), 1e-5f); /* head 1: score 0 against key 0 */
}
END_TEST

static Suite *kernels_suite(void)
{
    Suite *s = suite_create("kernels");
    TCase *core = tcase_create("core");
    tcase_add_test(core, test_known_values);
    tcase_add_test(core, test_exhaustive_patterns);
    tcase_add_test(core, test_stats_ref_against_naive);
    tcase_add_test(core, test_dequant_packed_ref);
    tcase_add_test(core, test_dequant_fp8_ref);
    tcase_add_test(core, test_dequant_nvfp4);
    tcase_add_test(core, test_dequant_int8_ref);
    tcase_add_test(core, test_dequant_awq_ref);
    tcase_add_test(core, test_dequant_gptq_ref);
    tcase_add_test(core, test_forward_ops);
    tcase_add_test(core, test_device_stubs_say_why);
    tcase_add_test(core, test_linear_threads);
    tcase_add_test(core, test_linear_blas_vs_ref);
    suite_add_tcase(s, core);
    TCase *cuda = tcase_create("cuda");
    tcase_add_loop_test(cuda, test_cuda_vs_ref, 0, N_DTYPES * N_SIZES);
    tcase_add_test(cuda, test_cuda_errors);
    tcase_add_test(cuda, test_dequant_cuda_vs_ref);
    tcase_add_test(cuda, test_forward_cuda_vs_ref);
    tcase_add_test(cuda, test_dequant_int8_cuda_vs_ref);
    tcase_add_test(cuda, test_dequant_awq_cuda_vs_ref);
    tcase_add_test(cuda, test_dequant_gptq_cuda_vs_ref);
    tcase_set_timeout(cuda, 120);
    suite_add_tcase(s, cuda);
    return s;
}

int main(void)
{
    char why[256];
    if (!kern_cuda_available(why, sizeof why))
        fprintf(stderr, "SKIP check_kernels: %zu CUDA cases (CUDA vs C reference) skipped: %s\n",
                N_DTYPES * N_SIZES + 6, why);
    SRunner *sr = srunner_create(kernels_suite());
    /* a CUDA context does not survive fork(): run in this process */
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
