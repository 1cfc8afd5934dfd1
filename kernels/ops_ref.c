/* ops_ref.c - fp32 forward operations with double accumulation where sums are long. */
#include "kernels/ops.h"
#include "kernels/ops_elem.h"
#include "base/thread.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const float *x, *w, *bias;
    float *y;
    size_t T, K, N, n0, n1;
    int acc;
    pthread_t tid;
} linear_job;

/* Output columns [n0, n1) of every token. */
static void *linear_cols(void *arg)
{
    const linear_job *j = arg;
    for (size_t t = 0; t < j->T; t++)
        for (size_t n = j->n0; n < j->n1; n++) {
            const float *a = j->x + t * j->K, *b = j->w + n * j->K;
            double s = j->bias ? j->bias[n] : 0.0;
            for (size_t k = 0; k < j->K; k++)
                s += (double)a[k] * b[k];
            float *o = &j->y[t * j->N + n];
            *o = j->acc ? *o + (float)s : (float)s;
        }
    return NULL;
}

#define LINEAR_PAR_MIN ((size_t)1 << 21) /* multiply-adds below which one thread does it all */

/* Large products are split by output columns over one thread per core (at most 16): each
 * value is computed exactly as by one thread, so the result does not depend on the split. */
void fwd_linear(const float *x, size_t T, size_t K, const float *w, size_t N, const float *bias, float *y, int acc)
{
    /* only a large product is worth asking for the cores (a system call) */
    size_t nt = T * N * K >= LINEAR_PAR_MIN ? (size_t)ck_thread_count(0, 16, N / 8) : 1;
    linear_job j[16];
    size_t per = (N + nt - 1) / nt, started = 1;
    for (size_t k = 0; k < nt; k++) {
        size_t a = k * per < N ? k * per : N, b = a + per < N ? a + per : N;
        j[k] = (linear_job){x, w, bias, y, T, K, N, a, b, acc, 0};
    }
    while (started < nt && ck_thread_start(&j[started].tid, linear_cols, &j[started]) == 0)
        started++;
    linear_cols(&j[0]);
    for (size_t k = 1; k < started; k++)
        pthread_join(j[k].tid, NULL);
    for (size_t k = started; k < nt; k++) /* threads that did not start */
        linear_cols(&j[k]);
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
                   const fwd_attn_opts *o, float *out)
{
    size_t group = hq / hkv;
    double scale = o && o->scale > 0 ? o->scale : 1.0 / sqrt((double)hd), cap = o ? o->softcap : 0;
    size_t win = o ? o->window : 0;
    double *p = malloc((T ? T : 1) * sizeof *p);
    if (!p)
        abort();
    for (size_t h = 0; h < hq; h++) {
        size_t kh = h / group;
        for (size_t t = 0; t < T; t++) {
            const float *qv = q + (t * hq + h) * hd;
            size_t lo = ck_window_start(t, win, o ? o->chunk : 0);
            double mx = o && o->sinks ? o->sinks[h] : -INFINITY, sum = 0;
            for (size_t s = lo; s <= t; s++) {
                const float *kv = k + (s * hkv + kh) * hd;
                double d = 0;
                for (size_t i = 0; i < hd; i++)
                    d += (double)qv[i] * kv[i];
                p[s] = ck_score(d, scale, cap);
                mx = p[s] > mx ? p[s] : mx;
            }
            for (size_t s = lo; s <= t; s++)
                sum += (p[s] = exp(p[s] - mx));
            if (o && o->sinks) /* the sink's share of the softmax goes nowhere */
                sum += exp(o->sinks[h] - mx);
            float *ov = out + (t * hq + h) * hd;
            for (size_t i = 0; i < hd; i++) {
                double a = 0;
                for (size_t s = lo; s <= t; s++)
                    a += p[s] * v[(s * hkv + kh) * hd + i];
                ov[i] = (float)(a / sum);
            }
        }
    }
    free(p);
}

void fwd_gated_delta(const float *q, const float *k, const float *v, const float *g, const float *beta, size_t T,
                     size_t nh, size_t dk, size_t dv, float *out)
{
    float *S = malloc((dk * dv > 0 ? dk * dv : 1) * sizeof *S), *qn = malloc((dk ? dk : 1) * sizeof *qn);
    float *kn = malloc((dk ? dk : 1) * sizeof *kn);
    if (!S || !qn || !kn)
        abort(); /* as fwd_attention's scratch */
    for (size_t h = 0; h < nh; h++) {
        memset(S, 0, dk * dv * sizeof *S);
        for (size_t t = 0; t < T; t++) {
            ck_delta_norm(q + (t * nh + h) * dk, dk, 1.0 / sqrt((double)dk), qn);
            ck_delta_norm(k + (t * nh + h) * dk, dk, 1.0, kn);
            float decay = expf(g[t * nh + h]), b = beta[t * nh + h];
            const float *vt = v + (t * nh + h) * dv;
            for (size_t j = 0; j < dv; j++) /* each column of S on its own */
                out[(t * nh + h) * dv + j] = ck_delta_column(S + j * dk, kn, qn, dk, decay, b, vt[j]);
        }
    }
    free(S);
    free(qn);
    free(kn);
}

void fwd_act_each(const float *x, size_t n, fwd_act act, float *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = ck_act(act, x[i]);
}

void fwd_act_mul(const float *gu, size_t T, size_t n, fwd_act act, float *out)
{
    for (size_t t = 0; t < T; t++)
        for (size_t i = 0; i < n; i++) {
            out[t * n + i] = ck_gated(act, gu + t * 2 * n, n, i);
        }
}
