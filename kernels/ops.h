/* ops.h - the operations of a decoder forward pass, in fp32. Row-major; T tokens.
 * fwd_* is the C reference; fwd_*_cuda does the same on device (or managed) memory, the
 * products with cuBLAS (ops.cu), returning CK_OK or CK_ECUDA / CK_EUSAGE with err naming
 * the failed call; without nvcc they report "CUDA not built" (devmem_stub.c).
 * Buffers are the caller's; nothing is left to free. The C versions cannot fail (fwd_attention
 * aborts when its T-double scratch cannot be allocated). The CUDA versions wait for the device
 * before returning, and return CK_OK at once for an empty shape; cuBLAS is loaded and its handle
 * made on first use, then kept for the process. */
#ifndef CK_KERN_OPS_H
#define CK_KERN_OPS_H

#include <stddef.h>

#include "base/ckerr.h"

#ifdef __cplusplus
extern "C" {
#endif


/* y[T, N] = x[T, K] @ w[N, K]^T (+ bias[N] when not NULL); accumulate into y when acc. */
void fwd_linear(const float *x, size_t T, size_t K, const float *w, size_t N, const float *bias, float *y, int acc);
/* The same product with OpenBLAS's sgemm (float sums), opened on first use: returns 1 when it
 * ran, 0 when OpenBLAS is not there (built without it, or not found), and the caller runs
 * fwd_linear. fwd_blas_ready: 1 when the CPU products use OpenBLAS, else 0 with why (when not
 * NULL) saying what to install. */
int fwd_linear_blas(const float *x, size_t T, size_t K, const float *w, size_t N, const float *bias, float *y,
                    int acc);
/* The same into the first N columns of rows ldy apart (y a block of a wider output), on the
 * calling thread alone (fwd_linear_blas splits its columns over fwd_blas_threads() threads). */
int fwd_blas_threads(void);
/* The columns [*c0, *c1) that part k of n takes of N when a product is split over threads: whole
 * blocks of 16 (the kernels' width), the last one short. */
void fwd_share16(size_t N, int k, int n, size_t *c0, size_t *c1);
int fwd_linear_blas_ld(const float *x, size_t T, size_t K, const float *w, size_t N, const float *bias, float *y,
                       size_t ldy, int acc);
int fwd_blas_ready(char *why, size_t size);
/* The kernels OpenBLAS runs ("SkylakeX", "Haswell", ...), NULL without it. When the user has not
 * set OPENBLAS_CORETYPE, the first product sets it from the CPU's features (AVX-512: SkylakeX,
 * AVX2 and FMA: Haswell), since an OpenBLAS older than the CPU falls back to SSE3 kernels. */
const char *fwd_blas_core(void);
/* Sets OPENBLAS_CORETYPE as fwd_blas_core says, when the user has not: the first product does it,
 * and a command calls it first, before it starts threads that read the environment. */
void fwd_blas_choose_core(void);
/* y[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w, rows of n. y may be x. */
void fwd_rmsnorm(const float *x, size_t T, size_t n, const float *w, float eps, float *y);
/* Rotary embedding in the "rotate half" layout (Llama, Qwen2): for each of `heads` heads of
 * `hd` at position t, pairs (i, i + hd/2) rotate by t * theta^(-2i/hd). In place on x[T, heads*hd]. */
void fwd_rope(float *x, size_t T, size_t heads, size_t hd, double theta);
/* The same on the first `rot` dims of each head only (partial rotary, GLM), with the rot/2
 * inverse frequencies given (scaled rotary: llama3, yarn). */
void fwd_rope_freqs(float *x, size_t T, size_t heads, size_t hd, size_t rot, const double *inv);
/* What an attention may change from the plain causal softmax(q.k / sqrt(hd)); zeros: nothing. */
typedef struct {
    double scale;       /* scores q.k times this; 0: 1/sqrt(hd) (Gemma: query_pre_attn_scalar^-1/2) */
    double softcap;     /* scores become softcap * tanh(score / softcap) after the scale (Gemma 2);
                         * 0: none */
    size_t window;      /* sliding window: a token sees itself and the window - 1 tokens before it
                         * (vLLM's and transformers' sliding_window); 0: every earlier token */
    size_t chunk;       /* chunked attention: a token sees the earlier tokens of its own chunk of
                         * this many (Llama 4's attention_chunk_size); 0: none */
    const float *sinks; /* [hq] a logit per query head that joins the softmax's denominator and
                         * attends to nothing (gpt-oss's attention sinks); NULL: none. On the
                         * device for the CUDA version */
} fwd_attn_opts;
/* Causal attention with grouped key/value heads: q[T, hq*hd], k and v [T, hkv*hd], query head j
 * reads key/value head j / (hq / hkv); the scores as o says (NULL: all defaults). out[T, hq*hd].
 * hq must be a multiple of hkv (not checked here; the CUDA version returns CK_EUSAGE, and also past
 * 6144 tokens). */
void fwd_attention(const float *q, const float *k, const float *v, size_t T, size_t hq, size_t hkv, size_t hd,
                   const fwd_attn_opts *o, float *out);
/* The gated delta rule (Qwen3-Next's linear attention), each of nh heads on its own over T tokens:
 * q and k [T, nh*dk] (one key head per value head: expanded by the caller), each token's head
 * L2-normalized here (x / sqrt(|x|^2 + 1e-6)) and q then scaled by dk^-1/2; v [T, nh*dv]; g and
 * beta [T, nh]. A state S [dk, dv] per head starts at zero and for each token t:
 * S *= exp(g_t); delta = (v_t - k_t S) * beta_t; S += k_t^T delta; out_t = q_t S. out [T, nh*dv]. */
void fwd_gated_delta(const float *q, const float *k, const float *v, const float *g, const float *beta, size_t T,
                     size_t nh, size_t dk, size_t dv, float *out);
/* The gated MLP's activation: act(gate) * up. */
typedef enum {
    FWD_SILU,           /* silu(g) = g / (1 + e^-g) (SwiGLU: Llama, Qwen, DeepSeek) */
    FWD_GELU_TANH,      /* 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3))) (GeGLU: Gemma's
                         * gelu_pytorch_tanh) */
    FWD_SWIGLUOAI,      /* gpt-oss: gate and up interleaved (gu[2i], gu[2i + 1]), the gate capped
                         * at 7 and up clamped to [-7, 7], then (up + 1) * g * sigmoid(1.702 g) */
    FWD_RELU2,          /* relu(g)^2 (Nemotron-H's plain MLPs: relu2) */
    FWD_GELU            /* 0.5 g (1 + erf(g / sqrt(2))), exact (GeGLU: Gemma's hidden_activation
                         * "gelu") */
} fwd_act;
/* out[T, n] = act(gu[:, :n]) * gu[:, n:] for gu[T, 2n] (FWD_SWIGLUOAI: the pairs interleaved). */
void fwd_act_mul(const float *gu, size_t T, size_t n, fwd_act act, float *out);
/* The plain (ungated) MLP's activation, element by element: out[i] = act(x[i]) for n elements
 * (StarCoder2's gelu_pytorch_tanh after c_fc); FWD_SWIGLUOAI, a gated form, is not one. out may
 * be x. */
void fwd_act_each(const float *x, size_t n, fwd_act act, float *out);

int fwd_linear_cuda(const float *x, size_t T, size_t K, const float *w, size_t N, const float *bias, float *y,
                    int acc, ck_err *err);
int fwd_rmsnorm_cuda(const float *x, size_t T, size_t n, const float *w, float eps, float *y, ck_err *err);
int fwd_rope_freqs_cuda(float *x, size_t T, size_t heads, size_t hd, size_t rot, const double *inv, ck_err *err);
int fwd_attention_cuda(const float *q, const float *k, const float *v, size_t T, size_t hq, size_t hkv, size_t hd,
                       const fwd_attn_opts *o, float *out, ck_err *err);
int fwd_act_mul_cuda(const float *gu, size_t T, size_t n, fwd_act act, float *out, ck_err *err);
int fwd_act_each_cuda(const float *x, size_t n, fwd_act act, float *out, ck_err *err);
int fwd_gated_delta_cuda(const float *q, const float *k, const float *v, const float *g, const float *beta, size_t T,
                         size_t nh, size_t dk, size_t dv, float *out, ck_err *err);

#ifdef __cplusplus
}
#endif

#endif
