/* ops_elem.h - the per-element steps of ops.h's operations, shared by the C reference (ops_ref.c)
 * and the CUDA kernels (ops.cu; CK_HD as in dtype_conv.h), so both compute the same thing. */
#ifndef CK_OPS_ELEM_H
#define CK_OPS_ELEM_H

#include <math.h>

#include "kernels/dtype_conv.h"
#include "kernels/ops.h"

/* The gated MLP's activation of the gate value g (fwd_act). */
CK_HD float ck_act(fwd_act act, float g)
{
    if (act == FWD_GELU_TANH)
        return 0.5f * g * (1.0f + tanhf(0.7978845608028654f * (g + 0.044715f * g * g * g)));
    if (act == FWD_GELU)
        return 0.5f * g * (1.0f + erff(g * 0.7071067811865476f));
    if (act == FWD_RELU2)
        return g > 0.0f ? g * g : 0.0f;
    return g / (1.0f + expf(-g));
}

/* Output i of the gated activation over one row gu[2n] (gate then up, or pairs for
 * FWD_SWIGLUOAI, whose constants are gpt-oss's: alpha 1.702, limit 7). */
CK_HD float ck_gated(fwd_act act, const float *gu, size_t n, size_t i)
{
    if (act == FWD_SWIGLUOAI) {
        float g = gu[2 * i], u = gu[2 * i + 1];
        g = g < 7.0f ? g : 7.0f;
        u = u < -7.0f ? -7.0f : u > 7.0f ? 7.0f : u;
        return (u + 1.0f) * (g / (1.0f + expf(-1.702f * g)));
    }
    return ck_act(act, gu[i]) * gu[n + i];
}

/* An attention score: q.k times the scale, then soft-capped when cap > 0. */
CK_HD double ck_score(double dot, double scale, double cap)
{
    return cap > 0 ? cap * tanh(dot * scale / cap) : dot * scale;
}

/* The first key token t sees under a sliding window of win tokens (0: none) and in chunks of
 * chunk tokens (0: none). */
CK_HD size_t ck_window_start(size_t t, size_t win, size_t chunk)
{
    size_t lo = win && t + 1 > win ? t + 1 - win : 0, c0 = chunk ? t / chunk * chunk : 0;
    return c0 > lo ? c0 : lo;
}

/* One head's q or k of a token for the gated delta rule: x / sqrt(|x|^2 + 1e-6) * scale. */
CK_HD void ck_delta_norm(const float *x, size_t n, double scale, float *out)
{
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    double r = scale / sqrt(ss + 1e-6);
    for (size_t i = 0; i < n; i++)
        out[i] = (float)(x[i] * r);
}

/* Column j of a gated delta rule state (s, dk values) through one token: decayed, corrected
 * toward value v by beta along key k, then read by query q (the column's output). */
CK_HD float ck_delta_column(float *s, const float *k, const float *q, size_t dk, float decay, float beta, float v)
{
    double kv = 0;
    for (size_t i = 0; i < dk; i++) {
        s[i] *= decay;
        kv += (double)k[i] * s[i];
    }
    float delta = (float)((v - kv) * beta);
    double o = 0;
    for (size_t i = 0; i < dk; i++) {
        s[i] += k[i] * delta;
        o += (double)q[i] * s[i];
    }
    return (float)o;
}

#endif
