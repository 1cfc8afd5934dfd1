/* forward_ref.c - fp32 forward operations with double accumulation where sums are long. */
#include "forward.h"

#include <math.h>
#include <stdlib.h>

void fwd_linear(const float *x, size_t T, size_t K, const float *w, size_t N, const float *bias, float *y, int acc)
{
    for (size_t t = 0; t < T; t++)
        for (size_t n = 0; n < N; n++) {
            const float *a = x + t * K, *b = w + n * K;
            double s = bias ? bias[n] : 0.0;
            for (size_t k = 0; k < K; k++)
                s += (double)a[k] * b[k];
            y[t * N + n] = acc ? y[t * N + n] + (float)s : (float)s;
        }
}

void fwd_rmsnorm(const float *x, size_t T, size_t n, const float *w, float eps, float *y)
{
    for (size_t t = 0; t < T; t++) {
        double ss = 0;
        for (size_t i = 0; i < n; i++)
            ss += (double)x[t * n + i] * x[t * n + i];
        float r = (float)(1.0 / sqrt(ss / (double)n + eps));
        for (size_t i = 0; i < n; i++)
            y[t * n + i] = x[t * n + i] * r * w[i];
    }
}

void fwd_rope(float *x, size_t T, size_t heads, size_t hd, double theta)
{
    size_t half = hd / 2;
    for (size_t t = 0; t < T; t++)
        for (size_t h = 0; h < heads; h++) {
            float *v = x + (t * heads + h) * hd;
            for (size_t i = 0; i < half; i++) {
                double f = pow(theta, -2.0 * (double)i / (double)hd) * (double)t;
                float c = (float)cos(f), s = (float)sin(f);
                float a = v[i], b = v[i + half];
                v[i] = a * c - b * s;
                v[i + half] = b * c + a * s;
            }
        }
}

void fwd_rope_freqs(float *x, size_t T, size_t heads, size_t hd, size_t rot, const double *inv)
{
    size_t half = rot / 2;
    for (size_t t = 0; t < T; t++)
        for (size_t h = 0; h < heads; h++) {
            float *v = x + (t * heads + h) * hd;
            for (size_t i = 0; i < half; i++) {
                double f = inv[i] * (double)t;
                float c = (float)cos(f), s = (float)sin(f);
                float a = v[i], b = v[i + half];
                v[i] = a * c - b * s;
                v[i + half] = b * c + a * s;
            }
        }
}

void fwd_attention(const float *q, const float *k, const float *v, size_t T, size_t hq, size_t hkv, size_t hd,
                   float *out)
{
    size_t group = hq / hkv;
    double scale = 1.0 / sqrt((double)hd);
    double *p = malloc((T ? T : 1) * sizeof *p);
    if (!p)
        abort();
    for (size_t h = 0; h < hq; h++) {
        size_t kh = h / group;
        for (size_t t = 0; t < T; t++) {
            const float *qv = q + (t * hq + h) * hd;
            double mx = -INFINITY, sum = 0;
            for (size_t s = 0; s <= t; s++) {
                const float *kv = k + (s * hkv + kh) * hd;
                double d = 0;
                for (size_t i = 0; i < hd; i++)
                    d += (double)qv[i] * kv[i];
                p[s] = d * scale;
                mx = p[s] > mx ? p[s] : mx;
            }
            for (size_t s = 0; s <= t; s++)
                sum += (p[s] = exp(p[s] - mx));
            float *o = out + (t * hq + h) * hd;
            for (size_t i = 0; i < hd; i++) {
                double a = 0;
                for (size_t s = 0; s <= t; s++)
                    a += p[s] * v[(s * hkv + kh) * hd + i];
                o[i] = (float)(a / sum);
            }
        }
    }
    free(p);
}

void fwd_silu_mul(const float *gu, size_t T, size_t n, float *out)
{
    for (size_t t = 0; t < T; t++)
        for (size_t i = 0; i < n; i++) {
            float g = gu[t * 2 * n + i], u = gu[t * 2 * n + n + i];
            out[t * n + i] = g / (1.0f + expf(-g)) * u;
        }
}
