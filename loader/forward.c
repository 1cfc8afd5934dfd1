/* forward.c - the dense decoder over rank-local weights (see forward.h). */
#include "loader/forward.h"

#include "base/thread.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/devmem.h"
#include "kernels/ops.h"

/* Rotary frequency pairs a head may have (its rotary dims / 2): the tables are on the stack. */
#define ROPE_MAX_PAIRS 512

/* The pass runs its operations either with the C reference on host memory or with CUDA on
 * managed memory (d->device): every buffer of the pass comes from fmalloc, and the first device
 * error is kept in *d->dev_err and returned when the pass ends. */
static void dev_fail(const dense_dims *d, const ck_err *e)
{
    if (d->dev_err && !d->dev_err->code)
        *d->dev_err = *e;
}

static void *fmalloc(const dense_dims *d, size_t n)
{
    if (!d->device)
        return malloc(n ? n : 1);
    void *p = NULL;
    ck_err e;
    ck_err_clear(&e);
    if (kdev_alloc(&p, n ? n : 1, &e) != CK_OK) {
        dev_fail(d, &e);
        return NULL;
    }
    return p;
}

static void *fcalloc(const dense_dims *d, size_t n, size_t size)
{
    return d->device ? fmalloc(d, n * size) : calloc(n ? n : 1, size); /* device memory starts zeroed */
}

static void ffree(const dense_dims *d, void *p)
{
    if (d->device)
        kdev_free(p);
    else
        free(p);
}

#define DEV_OP(d, call)                                \
    do {                                               \
        ck_err e_;                                     \
        ck_err_clear(&e_);                             \
        if ((call) != CK_OK)                           \
            dev_fail(d, &e_);                          \
    } while (0)

static void op_linear(const dense_dims *d, const float *x, size_t T, size_t K, const float *w, size_t N,
                      const float *bias, float *y, int acc)
{
    if (d->device)
        DEV_OP(d, fwd_linear_cuda(x, T, K, w, N, bias, y, acc, &e_));
    else if (!fwd_linear_blas(x, T, K, w, N, bias, y, acc))
        fwd_linear(x, T, K, w, N, bias, y, acc);
}

static void op_rmsnorm(const dense_dims *d, const float *x, size_t T, size_t n, const float *w, float eps, float *y)
{
    if (d->device)
        DEV_OP(d, fwd_rmsnorm_cuda(x, T, n, w, eps, y, &e_));
    else
        fwd_rmsnorm(x, T, n, w, eps, y);
}

static void op_rope_freqs(const dense_dims *d, float *x, size_t T, size_t heads, size_t hd, size_t rot,
                          const double *inv)
{
    if (d->device)
        DEV_OP(d, fwd_rope_freqs_cuda(x, T, heads, hd, rot, inv, &e_));
    else
        fwd_rope_freqs(x, T, heads, hd, rot, inv);
}

static double sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

static void op_gated_delta(const dense_dims *d, const float *q, const float *k, const float *v, const float *g,
                           const float *beta, size_t T, size_t nh, size_t dk, size_t dv, float *out)
{
    if (d->device)
        DEV_OP(d, fwd_gated_delta_cuda(q, k, v, g, beta, T, nh, dk, dv, out, &e_));
    else
        fwd_gated_delta(q, k, v, g, beta, T, nh, dk, dv, out);
}

static void op_attention(const dense_dims *d, const float *q, const float *k, const float *v, size_t T, size_t hq,
                         size_t hkv, size_t hd, const fwd_attn_opts *o, float *out)
{
    if (d->device)
        DEV_OP(d, fwd_attention_cuda(q, k, v, T, hq, hkv, hd, o, out, &e_));
    else
        fwd_attention(q, k, v, T, hq, hkv, hd, o, out);
}

static void op_act(const dense_dims *d, const float *x, size_t n, float *out)
{
    if (d->device)
        DEV_OP(d, fwd_act_each_cuda(x, n, (fwd_act)d->act, out, &e_));
    else
        fwd_act_each(x, n, (fwd_act)d->act, out);
}

static void op_act_mul(const dense_dims *d, const float *gu, size_t T, size_t n, float *out)
{
    if (d->device)
        DEV_OP(d, fwd_act_mul_cuda(gu, T, n, (fwd_act)d->act, out, &e_));
    else
        fwd_act_mul(gu, T, n, (fwd_act)d->act, out);
}

/* The model's RMSNorm: its weight plus the rules' norm_offset (Gemma's 1 + w), rows of n. */
static void op_norm(const dense_dims *d, const float *x, size_t T, size_t n, const float *w, float *y)
{
    if (d->layernorm) { /* Cohere's LayerNorm: RMSNorm of x less its mean (in double, as a reference) */
        float *c = fmalloc(d, T * n * sizeof *c);
        if (!c && !d->device)
            abort(); /* as fwd_attention's scratch */
        if (!c)
            return; /* fmalloc kept the device error for the pass */
        for (size_t t = 0; t < T; t++) {
            double m = 0;
            for (size_t i = 0; i < n; i++)
                m += x[t * n + i];
            m /= (double)n;
            for (size_t i = 0; i < n; i++)
                c[t * n + i] = (float)(x[t * n + i] - m);
        }
        dense_dims rd = *d;
        rd.layernorm = 0;
        op_norm(&rd, c, T, n, w, y);
        ffree(d, c);
        return;
    }
    if (d->norm_off == 0) {
        op_rmsnorm(d, x, T, n, w, (float)d->eps, y);
        return;
    }
    float *w1 = fmalloc(d, n * sizeof *w1); /* managed memory on the device: the host fills it */
    if (!w1 && !d->device)
        abort(); /* a norm's width on the host, as fwd_attention's scratch */
    if (!w1)
        return; /* fmalloc kept the device error for the pass */
    for (size_t i = 0; i < n; i++)
        w1[i] = (float)(w[i] + d->norm_off);
    op_rmsnorm(d, x, T, n, w1, (float)d->eps, y);
    ffree(d, w1);
}

static int64_t cfg_int(const ck_config *c, const char *name, int64_t dflt)
{
    int64_t v;
    return config_int(c, name, &v) == 1 ? v : dflt;
}

/* An entry of the rules' "forward" section, evaluated (dflt when the rules have none); errors
 * name the rules file, the entry and its line. */
static int fwd_eval(const plan *p, int which, const int64_t *layer, expr_val *v, ck_err *err)
{
    static const char *const names[] = {"layer"}; /* per-layer entries (sliding, rope) see it */
    plan_env env = {p, NULL, NULL, layer, layer ? names : NULL, layer ? 1 : 0, NULL, NULL};
    if (plan_eval(p, p->rules->forward[which], &env, p->rules->forward_line[which], v, err) != CK_OK) {
        snprintf(err->key, sizeof err->key, "forward.%s", rules_forward_name(which));
        return err->code;
    }
    return CK_OK;
}

static int fwd_fail(const plan *p, int which, int code, ck_err *err, const char *what, const char *value,
                    const char *known)
{
    char key[64];
    snprintf(key, sizeof key, "forward.%s", rules_forward_name(which));
    return ck_err_set(err, code, p->rules->path, key, CK_NO_OFFSET, "%s (rules %s, line %d, for this config.json): "
                      "%s%s%s", what, p->rules->name, p->rules->forward_line[which], value, known ? "; this version "
                      "computes " : "", known ? known : "");
}

static int fwd_int(const plan *p, int which, int64_t dflt, int64_t *out, ck_err *err)
{
    expr_val v;
    *out = dflt;
    if (!p->rules->forward[which])
        return CK_OK;
    int rc = fwd_eval(p, which, NULL, &v, err);
    if (rc == CK_OK && (v.is_str || v.is_list))
        return fwd_fail(p, which, CK_EFORMAT, err, "must be a number", ", not a string or list", NULL);
    if (rc == CK_OK && !v.is_null)
        *out = v.v;
    return rc;
}

static int fwd_str(const plan *p, int which, const char *dflt, char *buf, size_t size, ck_err *err)
{
    expr_val v;
    snprintf(buf, size, "%s", dflt);
    if (!p->rules->forward[which])
        return CK_OK;
    int rc = fwd_eval(p, which, NULL, &v, err);
    if (rc == CK_OK && !v.is_null && !v.is_str)
        return fwd_fail(p, which, CK_EFORMAT, err, "must be a string", ", not a number", NULL);
    if (rc != CK_OK || !v.is_str)
        return rc;
    /* never cut short; a module's name (put into the format strings of parameter names) only of
     * the characters of a name */
    int module = which == FWD_POST_ATTN_NORM || which == FWD_PRE_MLP_NORM || which == FWD_POST_MLP_NORM ||
                 which == FWD_MOE || which == FWD_GATE || which == FWD_ATTN_MODULE || which == FWD_MLP_IN ||
                 which == FWD_MLP_OUT || which == FWD_MLP_MODULE || which == FWD_EMBEDDING ||
                 which == FWD_CORR_BIAS || which == FWD_LAYER_SCALAR || which == FWD_SHARED_MODULE ||
                 which == FWD_ATTN_GATE || which == FWD_SINKS || which == FWD_INPUT_NORM || which == FWD_FINAL_NORM ||
                 which == FWD_SSM_MODULE || which == FWD_O_PROJ || which == FWD_Q_NORM || which == FWD_K_NORM;
    int ok = v.slen < size;
    for (size_t i = 0; i < v.slen && ok && module; i++)
        ok = isalnum((unsigned char)v.s[i]) || v.s[i] == '_' || v.s[i] == '.';
    if (!ok)
        return fwd_fail(p, which, CK_EFORMAT, err, module ? "must be a module's name (letters, digits, '_' and '.')"
                        : "is too long", "", NULL);
    snprintf(buf, size, "%.*s", (int)v.slen, v.s);
    return CK_OK;
}

/* A forward entry whose value this version does not compute. */
static int fwd_unknown(const plan *p, int which, const char *value, const char *known, ck_err *err)
{
    char what[96];
    snprintf(what, sizeof what, "%s \"%s\"", rules_forward_name(which), value);
    return fwd_fail(p, which, CK_EUSAGE, err, what, "not computed", known);
}

/* A number from config.json by the field the rules' entry names (soft caps, multipliers): dflt
 * when the entry, the field or its value is absent or null; it must be positive. */
static int fwd_field_or(const plan *p, int which, const char *dfield, double dflt, double *out, ck_err *err)
{
    char field[64];
    int rc = fwd_str(p, which, dfield, field, sizeof field, err);
    *out = dflt;
    if (rc != CK_OK || !field[0])
        return rc;
    const cfg_field *f = config_field(p->cfg, field);
    if (!f || f->kind == CFG_NULL)
        return CK_OK;
    if (f->kind != CFG_NUMBER || !(f->num > 0))
        return ck_err_set(err, CK_EUSAGE, p->cfg->path, field, CK_NO_OFFSET, "%s must be a positive number or "
                          "null (the forward pass's %s, rules %s)", field, rules_forward_name(which), p->rules->name);
    *out = f->num;
    return CK_OK;
}

static int fwd_field(const plan *p, int which, double dflt, double *out, ck_err *err)
{
    return fwd_field_or(p, which, "", dflt, out, err);
}

/* What decoders beyond Llama's change, from the rules' "forward" entries: norms (offset,
 * LayerNorm), the block (sandwich, parallel), activation, rotary style, embedding, attention,
 * residual and logit scales, soft caps and the sliding window. */
static int variant_dims(const plan *p, dense_dims *d, ck_err *err)
{
    char block[16], act[32], escale[16], norm[16], rstyle[16], qkn[16], mlp[16];
    int64_t noff, sdim;
    int rc;
    if ((rc = fwd_int(p, FWD_NORM_OFFSET, 0, &noff, err)) || (rc = fwd_str(p, FWD_BLOCK, "pre", block, sizeof block, err)) ||
        (rc = fwd_str(p, FWD_ACT, "silu", act, sizeof act, err)) ||
        (rc = fwd_str(p, FWD_EMBED_SCALE, "none", escale, sizeof escale, err)) ||
        (rc = fwd_int(p, FWD_ATTN_SCALE_DIM, 0, &sdim, err)) || (rc = fwd_field(p, FWD_ATTN_SOFTCAP, 0, &d->attn_softcap, err)) ||
        (rc = fwd_field(p, FWD_FINAL_SOFTCAP, 0, &d->final_softcap, err)) || (rc = fwd_int(p, FWD_WINDOW, 0, &d->window, err)))
        return rc;
    double emul, ascale, lmul, ldiv;
    if ((rc = fwd_field(p, FWD_EMBED_MULT, 1, &emul, err)) || (rc = fwd_field(p, FWD_RESIDUAL_MULT, 1, &d->residual_mult, err)) ||
        (rc = fwd_field(p, FWD_ATTN_SCALE, 0, &ascale, err)) || (rc = fwd_field(p, FWD_LOGIT_SCALE, 1, &lmul, err)) ||
        (rc = fwd_field(p, FWD_LOGIT_DIVISOR, 1, &ldiv, err)))
        return rc;
    d->logit_mult = lmul / ldiv;
    if ((rc = fwd_str(p, FWD_NORM, "rms", norm, sizeof norm, err)) ||
        (rc = fwd_str(p, FWD_ROPE_STYLE, "neox", rstyle, sizeof rstyle, err)) ||
        (rc = fwd_str(p, FWD_QK_NORM, "head", qkn, sizeof qkn, err)) || (rc = fwd_str(p, FWD_MLP, "gated", mlp, sizeof mlp, err)) ||
        (rc = fwd_str(p, FWD_MLP_IN, "gate_up_proj", d->mlp_in, sizeof d->mlp_in, err)) ||
        (rc = fwd_str(p, FWD_MLP_OUT, "down_proj", d->mlp_out, sizeof d->mlp_out, err)) ||
        (rc = fwd_str(p, FWD_MLP_MODULE, "mlp", d->mlp_mod, sizeof d->mlp_mod, err)) ||
        (rc = fwd_int(p, FWD_CHUNK, 0, &d->chunk, err)))
        return rc;
    double mi;
    if ((rc = fwd_field(p, FWD_MLP_INTER, (double)d->inter, &mi, err)))
        return rc;
    d->mlp_inter = (int64_t)mi;
    d->norm_off = (double)noff;
    d->sandwich = strcmp(block, "sandwich") == 0;
    d->parallel = strcmp(block, "parallel") == 0;
    char pa[48], pm[48], po[48], pin[48]; /* the norms around the attention and the MLP */
    if ((rc = fwd_str(p, FWD_INPUT_NORM, "input_layernorm", pin, sizeof pin, err)) ||
        (rc = fwd_str(p, FWD_FINAL_NORM, "norm.weight", d->final_norm, sizeof d->final_norm, err)) ||
        (rc = fwd_str(p, FWD_POST_ATTN_NORM, "post_attention_layernorm", pa, sizeof pa, err)) ||
        (rc = fwd_str(p, FWD_PRE_MLP_NORM, d->sandwich ? "pre_feedforward_layernorm" : "post_attention_layernorm",
                      pm, sizeof pm, err)) ||
        (rc = fwd_str(p, FWD_POST_MLP_NORM, "post_feedforward_layernorm", po, sizeof po, err)))
        return rc;
    snprintf(d->n_input, sizeof d->n_input, "layers.%%lld.%s.weight", pin);
    snprintf(d->n_post_attn, sizeof d->n_post_attn, "layers.%%lld.%s.weight", pa);
    snprintf(d->n_pre_mlp, sizeof d->n_pre_mlp, "layers.%%lld.%s.weight", pm);
    snprintf(d->n_post_mlp, sizeof d->n_post_mlp, "layers.%%lld.%s.weight", po);
    d->post = strcmp(block, "post") == 0;
    if (!d->sandwich && !d->parallel && !d->post && strcmp(block, "pre") != 0)
        return fwd_unknown(p, FWD_BLOCK, block, "pre, sandwich, parallel, post", err);
    d->qk_tp = strcmp(qkn, "whole_tp") == 0;
    d->qk_whole = d->qk_tp || strcmp(qkn, "whole") == 0;
    d->qk_l2 = strcmp(qkn, "l2_after_rope") == 0;
    if (!d->qk_whole && !d->qk_l2 && strcmp(qkn, "head") != 0)
        return fwd_unknown(p, FWD_QK_NORM, qkn, "head, whole, whole_tp, l2_after_rope", err);
    d->plain_mlp = strcmp(mlp, "plain") == 0;
    if (!d->plain_mlp && strcmp(mlp, "gated") != 0)
        return fwd_unknown(p, FWD_MLP, mlp, "gated, plain", err);
    d->layernorm = strcmp(norm, "layernorm") == 0;
    if (!d->layernorm && strcmp(norm, "rms") != 0)
        return fwd_unknown(p, FWD_NORM, norm, "rms, layernorm", err);
    d->interleaved = strcmp(rstyle, "interleaved") == 0;
    if (!d->interleaved && strcmp(rstyle, "neox") != 0)
        return fwd_unknown(p, FWD_ROPE_STYLE, rstyle, "neox, interleaved", err);
    if (d->layernorm) { /* LayerNorm's epsilon where config.json gives no rms_norm_eps (or null: Cohere 2
                         * MoE writes it so where it norms by LayerNorm) */
        const cfg_field *le = config_field(p->cfg, "layer_norm_eps"), *re = config_field(p->cfg, "rms_norm_eps");
        if ((!re || re->kind == CFG_NULL) && le && le->kind == CFG_NUMBER)
            d->eps = le->num;
    }
    if ((rc = fwd_field(p, FWD_NORM_EPS, d->eps, &d->eps, err))) /* StarCoder2's norm_epsilon */
        return rc;
    double depth, wbase; /* MiniCPM: blocks times scale_depth / sqrt(layers), logits over hidden / dim_model_base */
    if ((rc = fwd_field(p, FWD_RESIDUAL_DEPTH, 0, &depth, err)) || (rc = fwd_field(p, FWD_LOGIT_WIDTH, 0, &wbase, err)))
        return rc;
    int64_t nl = cfg_int(p->cfg, "num_hidden_layers", 0);
    if (depth > 0 && nl > 0)
        d->residual_mult *= depth / sqrt((double)nl);
    if (wbase > 0)
        d->logit_mult *= wbase / (double)d->hidden;
    if (strcmp(act, "silu") == 0)
        d->act = FWD_SILU;
    else if (strcmp(act, "gelu_pytorch_tanh") == 0 || strcmp(act, "gelu_new") == 0) /* one formula */
        d->act = FWD_GELU_TANH;
    else if (strcmp(act, "swigluoai") == 0)
        d->act = FWD_SWIGLUOAI;
    else if (strcmp(act, "relu2") == 0)
        d->act = FWD_RELU2;
    else if (strcmp(act, "gelu") == 0)
        d->act = FWD_GELU;
    else
        return fwd_unknown(p, FWD_ACT, act, "silu, gelu_pytorch_tanh, gelu_new, gelu, swigluoai, relu2", err);
    if (d->plain_mlp && d->act == FWD_SWIGLUOAI)
        return fwd_fail(p, FWD_ACT, CK_EUSAGE, err, "swigluoai (a gated activation) with a plain MLP", "",
                        "silu, gelu_pytorch_tanh, gelu or relu2 for a plain MLP");
    d->embed_scale = 1;
    if (strcmp(escale, "sqrt_hidden") == 0)
        d->embed_scale = (double)sqrtf((float)d->hidden); /* transformers' fp32 buffer */
    else if (strcmp(escale, "none") != 0)
        return fwd_unknown(p, FWD_EMBED_SCALE, escale, "none, sqrt_hidden", err);
    if (d->mlp_inter < 1 && !p->rules->forward[FWD_MLP_INTER]) /* no MLP width: the rules may give one (MoE) */
        return ck_err_set(err, CK_EUSAGE, p->cfg->path, "intermediate_size", CK_NO_OFFSET, "config.json lacks the "
                          "dense MLP's width: add intermediate_size as the model's release has it, or, where every "
                          "layer is MoE, name the field in the rules' forward.mlp_inter (lint still applies)");
    if (sdim < 0 || d->window < 0 || d->chunk < 0 || d->mlp_inter < 1)
        return fwd_fail(p, sdim < 0 ? FWD_ATTN_SCALE_DIM : d->window < 0 ? FWD_WINDOW : d->chunk < 0 ? FWD_CHUNK
                        : FWD_MLP_INTER, CK_EUSAGE, err, d->mlp_inter < 1 ? "must be positive" : "must not be negative",
                        "", NULL);
    int64_t tf;
    if ((rc = fwd_int(p, FWD_TEMP_FLOOR, 0, &tf, err)))
        return rc;
    d->temp_floor = tf > 0 ? (double)tf : 0;
    d->attn_scale = ascale > 0 ? ascale : sdim ? 1.0 / sqrt((double)sdim) : 0;
    d->embed_scale *= emul;
    return CK_OK;
}

/* A per-layer entry for decoder layer l, `layer` bound, into *v (a number or null); *has 0 when
 * the rules have none. */
static int fwd_layer_eval(const plan *p, int which, int64_t l, expr_val *v, int *has, ck_err *err)
{
    *has = p->rules->forward[which] != NULL;
    if (!*has)
        return CK_OK;
    int rc = fwd_eval(p, which, &l, v, err);
    if (rc == CK_OK && (v->is_str || v->is_list))
        return fwd_fail(p, which, CK_EFORMAT, err, "must be a number", ", not a string or list", NULL);
    return rc;
}

/* A per-layer flag (sliding, rope): dflt when the rules have none, false when null. */
static int fwd_layer_flag(const plan *p, int which, int64_t l, int dflt, int *out, ck_err *err)
{
    expr_val v;
    int has, rc = fwd_layer_eval(p, which, l, &v, &has, err);
    *out = rc != CK_OK || !has ? dflt : !v.is_null && v.v != 0;
    return rc;
}

/* Layer l's one mixer (forward.layer_kind): 1 Mamba2, 2 attention, 3 MLP, 4 the routed experts (and
 * any shared ones) in place of the MLP, 5 LFM2's short convolution; anything else refused with the
 * kinds this version computes. */
static int layer_kind(const plan *p, int64_t l, int *kind, ck_err *err)
{
    expr_val kv;
    int rc = fwd_eval(p, FWD_LAYER_KIND, &l, &kv, err);
    if (rc != CK_OK)
        return rc;
    if (!kv.is_str)
        return fwd_fail(p, FWD_LAYER_KIND, CK_EFORMAT, err, "must be a string", ", not a number or list", NULL);
    char k[24], what[96];
    snprintf(k, sizeof k, "%.*s", (int)(kv.slen < 23 ? kv.slen : 23), kv.s);
    *kind = strcmp(k, "mamba2") == 0 ? 1 : strcmp(k, "attention") == 0 ? 2 : strcmp(k, "mlp") == 0 ? 3
          : strcmp(k, "moe") == 0 ? 4 : strcmp(k, "short_conv") == 0 ? 5 : 0;
    if (*kind)
        return CK_OK;
    snprintf(what, sizeof what, "layer %lld's kind \"%s\"", (long long)l, k);
    return fwd_fail(p, FWD_LAYER_KIND, CK_EUSAGE, err, what, "not computed", "mamba2, attention, mlp, moe and short_conv");
}

/* A Mamba2 mixer's sizes as check computes them over this layout's TP. */
static int ssm_sizes_ok(const plan *p, const dense_dims *d, int64_t l, ck_err *err)
{
    int tp = p->layout.tp;
    int64_t NH = d->ssm_heads, P = d->ssm_hd, G = d->ssm_groups, N = d->ssm_state, K = d->ssm_conv;
    if (NH >= 1 && P >= 1 && G >= 1 && N >= 1 && K >= 1 && NH % G == 0 && NH % tp == 0 && (G % tp == 0 || G == 1))
        return CK_OK;
    return ck_err_set(err, CK_EUSAGE, p->rules->path, "forward.ssm_heads", CK_NO_OFFSET, "layer %lld: a Mamba2 mixer "
                      "of %lld heads of %lld in %lld groups, a state of %lld and a kernel of %lld over TP %d (rules "
                      "%s's forward ssm_* for this config.json): check computes heads and groups that TP divides (or "
                      "one group), every size positive", (long long)l, (long long)NH, (long long)P, (long long)G,
                      (long long)N, (long long)K, tp, p->rules->name);
}

int dense_dims_of(const plan *p, dense_dims *d, ck_err *err)
{
    const ck_config *c = p->cfg;
    memset(d, 0, sizeof *d);
    d->hidden = cfg_int(c, "hidden_size", 0);
    d->heads = cfg_int(c, "num_attention_heads", 0);
    d->kv_heads = cfg_int(c, "num_key_value_heads", d->heads);
    d->head_dim = cfg_int(c, "head_dim", d->heads ? d->hidden / d->heads : 0);
    d->inter = cfg_int(c, "intermediate_size", 0);
    d->vocab = cfg_int(c, "vocab_size", 0);
    d->layers = p->num_layers;
    /* tied where the plan holds no lm_head of its own: the rules decide (their defaults where
     * config.json is silent, a model that never ties, vLLM untying for a stored lm_head) */
    d->tied = p->layout.pp > 0 && !strmap_get(&p->stages[p->layout.pp - 1].by_name, "lm_head.weight", NULL);
    const cfg_field *e = config_field(c, "rms_norm_eps");
    d->eps = e && e->kind == CFG_NUMBER ? e->num : 1e-6;
    d->theta = c->rope_theta;
    /* a model of one mixer per layer without attention (Mamba2): no heads to read; a layer that
     * attends is refused below */
    int attn_free = !d->heads && p->rules->forward[FWD_LAYER_KIND] != NULL;
    if (attn_free)
        d->heads = d->kv_heads = 1, d->head_dim = 2;
    int mlp_free = !d->inter && p->rules->forward[FWD_LAYER_KIND] != NULL; /* nor MLP widths (a layer with an
                                                                            * MLP is refused below) */
    if (mlp_free)
        d->inter = 1;
    if (!d->hidden || !d->heads || !d->kv_heads || !d->head_dim || !d->vocab)
        return ck_err_set(err, CK_EUSAGE, c->path, NULL, CK_NO_OFFSET, "config.json lacks the dimensions of a "
                          "decoder (hidden_size, num_attention_heads, vocab_size)");
    /* what the model computes, as its rules describe it (their "forward" section) */
    const rules_file *r = p->rules;
    char attn[16], router[48], shared[16];
    int64_t renorm;
    int rc;
    if ((rc = fwd_str(p, FWD_ATTENTION, "gqa", attn, sizeof attn, err)) ||
        (rc = fwd_int(p, FWD_EXPERTS, 0, &d->experts, err)) || (rc = fwd_int(p, FWD_TOPK, 1, &d->topk, err)) ||
        (rc = fwd_str(p, FWD_ROUTER, "softmax", router, sizeof router, err)) ||
        (rc = fwd_int(p, FWD_RENORM, 0, &renorm, err)) || (rc = fwd_int(p, FWD_GROUPS, 1, &d->n_group, err)) ||
        (rc = fwd_int(p, FWD_TOPK_GROUPS, 1, &d->topk_group, err)) ||
        (rc = fwd_str(p, FWD_MOE, "mlp", d->moe, sizeof d->moe, err)) ||
        (rc = fwd_str(p, FWD_GATE, "gate", d->gate, sizeof d->gate, err)) ||
        (rc = fwd_str(p, FWD_ATTN_MODULE, "self_attn", d->attn_mod, sizeof d->attn_mod, err)) ||
        (rc = fwd_str(p, FWD_O_PROJ, "o_proj", d->o_proj, sizeof d->o_proj, err)) ||
        (rc = fwd_str(p, FWD_Q_NORM, "q_norm", d->q_norm, sizeof d->q_norm, err)) ||
        (rc = fwd_str(p, FWD_K_NORM, "k_norm", d->k_norm, sizeof d->k_norm, err)) ||
        (rc = fwd_str(p, FWD_EMBEDDING, "embed_tokens.weight", d->embedding, sizeof d->embedding, err)) ||
        (rc = fwd_str(p, FWD_SHARED, "none", shared, sizeof shared, err)))
        return rc;
    if ((rc = variant_dims(p, d, err)) != CK_OK)
        return rc;
    /* Gemma 4: per-layer head dims, value norms, layers that read others' keys and values, experts
     * beside the MLP, per-layer inputs, a scalar per layer */
    int64_t vn, beside;
    if ((rc = fwd_int(p, FWD_V_NORM, 0, &vn, err)) || (rc = fwd_int(p, FWD_EXPERTS_BESIDE, 0, &beside, err)) ||
        (rc = fwd_int(p, FWD_PER_LAYER_INPUT, 0, &d->ple, err)) ||
        (rc = fwd_str(p, FWD_LAYER_SCALAR, "", d->layer_scalar, sizeof d->layer_scalar, err)))
        return rc;
    d->v_norm = vn != 0;
    d->experts_beside = beside != 0;
    d->kv_share = r->forward[FWD_KV_SOURCE] != NULL;
    d->per_layer_dims = r->forward[FWD_HEAD_DIM] || r->forward[FWD_KV_HEADS] || r->forward[FWD_V_HEAD_DIM];
    if (d->ple < 0)
        return fwd_fail(p, FWD_PER_LAYER_INPUT, CK_EUSAGE, err, "must not be negative", "", NULL);
    d->renorm = renorm != 0;
    d->mla = strcmp(attn, "mla") == 0;
    d->deltanet = d->attn_gate = strcmp(attn, "gated_deltanet") == 0;
    char dlay[16];
    if ((rc = fwd_str(p, FWD_DELTANET_LAYOUT, "interleaved", dlay, sizeof dlay, err)))
        return rc;
    d->lin_flat = strcmp(dlay, "flat") == 0;
    if (!d->lin_flat && strcmp(dlay, "interleaved") != 0)
        return fwd_unknown(p, FWD_DELTANET_LAYOUT, dlay, "interleaved, flat", err);
    if (d->deltanet) { /* the linear attention of Qwen3-Next and Qwen3.5: its heads from config.json */
        d->lin_kh = cfg_int(c, "linear_num_key_heads", 0);
        d->lin_vh = cfg_int(c, "linear_num_value_heads", 0);
        d->lin_kd = cfg_int(c, "linear_key_head_dim", 0);
        d->lin_vd = cfg_int(c, "linear_value_head_dim", 0);
        d->lin_conv = cfg_int(c, "linear_conv_kernel_dim", 0);
        if (d->lin_kh < 1 || d->lin_vh < 1 || d->lin_kd < 1 || d->lin_vd < 1 || d->lin_conv < 1 ||
            d->lin_vh % d->lin_kh)
            return ck_err_set(err, CK_EUSAGE, c->path, "linear_num_value_heads", CK_NO_OFFSET, "the gated "
                              "DeltaNet's heads (linear_num_key_heads %lld, linear_num_value_heads %lld, widths "
                              "%lld and %lld, conv kernel %lld) are missing or the value heads are not whole "
                              "groups of key heads", (long long)d->lin_kh, (long long)d->lin_vh, (long long)d->lin_kd,
                              (long long)d->lin_vd, (long long)d->lin_conv);
        const cfg_field *og = config_field(c, "output_gate_type"), *ls = config_field(c, "layer_scale");
        if (og && og->kind == CFG_STRING && strcmp(og->str, "silu") != 0 && strcmp(og->str, "swish") != 0)
            return ck_err_set(err, CK_EUSAGE, c->path, "output_gate_type", CK_NO_OFFSET, "the gated DeltaNet's output "
                              "gate \"%s\" is not computed by check in this version (silu and swish are); lint "
                              "still applies", og->str);
        if (ls && ls->kind == CFG_BOOL && ls->num != 0)
            return ck_err_set(err, CK_EUSAGE, c->path, "layer_scale", CK_NO_OFFSET, "layer_scale (each block's "
                              "output times 1 + a learned scale, which transformers has no reference for) is not "
                              "computed by check in this version; lint still applies");
        if (d->lin_kh % p->layout.tp)
            return ck_err_set(err, CK_EUSAGE, c->path, "linear_num_key_heads", CK_NO_OFFSET, "the gated DeltaNet's "
                              "%lld key heads do not divide over TP %d: vLLM loads the layout (each rank part of a "
                              "key-head %s), but its forward pass reshapes a rank's share into %lld // %d = %lld %s "
                              "and cannot compute it; check a --tp that divides %lld (lint still applies)",
                              (long long)d->lin_kh, p->layout.tp, d->lin_flat ? "row block" : "group",
                              (long long)d->lin_kh, p->layout.tp, (long long)(d->lin_kh / p->layout.tp),
                              d->lin_flat ? "whole key heads" : "groups (fix_query_key_value_ordering)",
                              (long long)d->lin_kh);
    }
    d->shared_ungated = strcmp(shared, "ungated") == 0;
    d->shared_plain = strcmp(shared, "plain") == 0;
    d->shared_mlp = strcmp(shared, "mlp") == 0;
    if (!d->mla && !d->deltanet && strcmp(attn, "gqa") != 0)
        return fwd_unknown(p, FWD_ATTENTION, attn, "gqa, mla, gated_deltanet", err);
    if (d->mla && (d->window || d->attn_softcap > 0 || d->attn_scale > 0))
        return fwd_fail(p, FWD_ATTENTION, CK_EUSAGE, err, "latent attention with a sliding window, soft cap or "
                        "scale", "", "these for grouped-query attention only");
    if ((d->sandwich || d->parallel || d->post || d->plain_mlp) && d->mla)
        return fwd_fail(p, d->plain_mlp ? FWD_MLP : FWD_BLOCK, CK_EUSAGE, err,
                        "sandwich or post norms, a parallel block or a plain MLP with latent attention", "",
                        "them for grouped-query attention only");
    /* a parallel block's experts read the one norm the attention reads (Cohere 2 MoE) */
    if (d->plain_mlp && d->experts && !d->experts_beside && !r->forward[FWD_LAYER_KIND])
        return fwd_fail(p, FWD_MLP, CK_EUSAGE, err, "a plain MLP with experts", "", "it for dense decoders only");
    if ((rc = fwd_str(p, FWD_ATTN_GATE, "", d->gate_mod, sizeof d->gate_mod, err)) ||
        (rc = fwd_str(p, FWD_SINKS, "sinks", d->sinks, sizeof d->sinks, err)) ||
        (rc = fwd_field(p, FWD_V_SCALE, 1.0, &d->v_scale, err)) ||
        (rc = fwd_field(p, FWD_SLIDING_THETA, 0.0, &d->slide_theta, err)))
        return rc;
    d->kinds = r->forward[FWD_LAYER_KIND] != NULL;
    if (d->kinds && ((rc = fwd_str(p, FWD_SSM_MODULE, d->attn_mod, d->ssm_mod, sizeof d->ssm_mod, err)) ||
                     (rc = fwd_int(p, FWD_SSM_HEADS, 0, &d->ssm_heads, err)) ||
                     (rc = fwd_int(p, FWD_SSM_HEAD_DIM, 0, &d->ssm_hd, err)) ||
                     (rc = fwd_int(p, FWD_SSM_GROUPS, 1, &d->ssm_groups, err)) ||
                     (rc = fwd_int(p, FWD_SSM_STATE, 0, &d->ssm_state, err)) ||
                     (rc = fwd_int(p, FWD_SSM_CONV, 4, &d->ssm_conv, err))))
        return rc;
    for (int64_t l = 0; d->kinds && l < p->num_layers; l++) { /* refused before anything is loaded */
        int kind;
        if ((rc = layer_kind(p, l, &kind, err)) || (kind == 1 && (rc = ssm_sizes_ok(p, d, l, err))))
            return rc;
        if (kind == 2 && attn_free)
            return ck_err_set(err, CK_EUSAGE, c->path, "num_attention_heads", CK_NO_OFFSET, "layer %lld attends "
                              "(rules %s's forward.layer_kind), but config.json gives no num_attention_heads: add "
                              "it as the model's release has it, or check the config's layer kinds",
                              (long long)l, r->name);
        if (kind == 3 && mlp_free && !r->forward[FWD_MLP_INTER])
            return ck_err_set(err, CK_EUSAGE, c->path, "intermediate_size", CK_NO_OFFSET, "layer %lld is an MLP "
                              "(rules %s's forward.layer_kind), but config.json gives no intermediate_size: add it "
                              "as the model's release has it, or check the config's layer kinds", (long long)l,
                              r->name);
    }
    if (d->kinds && (d->mla || d->deltanet || d->sandwich || d->parallel || d->post || d->kv_share || d->ple))
        return fwd_fail(p, FWD_LAYER_KIND, CK_EUSAGE, err, "a mixer per layer with latent attention, a gated "
                        "DeltaNet, a block other than pre, shared keys and values or per-layer inputs", "",
                        "one mixer after each layer's input norm for grouped-query attention, MLPs and Mamba2");
    d->v_dims = r->forward[FWD_V_HEAD_DIM] != NULL;
    if (d->v_dims && (d->mla || d->deltanet || d->attn_gate || d->kv_share))
        return fwd_fail(p, FWD_V_HEAD_DIM, CK_EUSAGE, err, "value heads of their own width with latent attention, "
                        "a gated DeltaNet or shared keys and values", "", "them for grouped-query attention only");
    if (d->gate_mod[0] && (d->mla || d->deltanet))
        return fwd_fail(p, FWD_ATTN_GATE, CK_EUSAGE, err, "an attention gate module with latent attention or a "
                        "gated DeltaNet", "", "it for grouped-query attention only");
    if ((d->kv_share || d->ple || d->per_layer_dims) && (d->mla || d->deltanet || d->qk_whole))
        return fwd_fail(p, d->kv_share ? FWD_KV_SOURCE : d->ple ? FWD_PER_LAYER_INPUT : FWD_HEAD_DIM, CK_EUSAGE, err,
                        "shared keys and values, per-layer inputs or head dims with latent attention, a gated "
                        "DeltaNet or whole-projection q/k norms", "", "them for grouped-query attention with "
                        "per-head q/k norms");
    if (d->qk_whole && d->mla)
        return fwd_fail(p, FWD_QK_NORM, CK_EUSAGE, err, "whole-projection q/k norms with latent attention", "",
                        "them for grouped-query attention only");
    if (!d->shared_ungated && !d->shared_plain && !d->shared_mlp && strcmp(shared, "gated") != 0 &&
        strcmp(shared, "none") != 0)
        return fwd_unknown(p, FWD_SHARED, shared, "gated, ungated, plain, mlp, none", err);
    if ((rc = fwd_str(p, FWD_SHARED_MODULE, d->shared_ungated ? "shared_experts" : "shared_expert", d->shared_mod,
                      sizeof d->shared_mod, err)))
        return rc;
    d->prop = strcmp(c->rope_type, "proportional") == 0;
    if (d->prop && (d->head_dim % 2 || d->head_dim > 2 * ROPE_MAX_PAIRS))
        return ck_err_set(err, CK_EUSAGE, c->path, "head_dim", CK_NO_OFFSET, "proportional rotary turns every pair "
                          "of a head: head_dim %lld must be even and at most %d", (long long)d->head_dim,
                          2 * ROPE_MAX_PAIRS);
    if (strcmp(c->rope_type, "default") != 0 && strcmp(c->rope_type, "llama3") != 0 &&
        strcmp(c->rope_type, "linear") != 0 && strcmp(c->rope_type, "yarn") != 0 && strcmp(c->rope_type, "dynamic") != 0 &&
        strcmp(c->rope_type, "longrope") != 0 && !d->prop)
        return ck_err_set(err, CK_EUSAGE, c->path, "rope_type", CK_NO_OFFSET, "rope_type \"%s\" is not "
                          "computed by this version (default, linear, dynamic, yarn, llama3, longrope and "
                          "proportional rotary)", c->rope_type);
    if (c->has_rope_local && strcmp(c->rope_type_local, "default") != 0 && strcmp(c->rope_type_local, "linear") != 0)
        return ck_err_set(err, CK_EUSAGE, c->path, "rope_parameters.sliding_attention.rope_type", CK_NO_OFFSET,
                          "rope_type \"%s\" of the sliding layers is not computed by this version (default and "
                          "linear)", c->rope_type_local);
    int64_t avg;
    if ((rc = fwd_field_or(p, FWD_ROUTED_SCALE, "routed_scaling_factor", 1.0, &d->rscale, err)) ||
        (rc = fwd_int(p, FWD_LATENT, 0, &d->latent, err)) ||
        (rc = fwd_int(p, FWD_MOE_AVERAGE, 0, &avg, err)))
        return rc;
    d->moe_average = avg != 0;
    if (d->latent < 0 || d->latent > 1 << 20)
        return fwd_fail(p, FWD_LATENT, CK_EUSAGE, err, "must be a width from 0 to 1048576", "", NULL);
    if (d->latent > 0 && (strcmp(router, "sigmoid_input") == 0 || d->experts_beside))
        return fwd_fail(p, FWD_LATENT, CK_EUSAGE, err, "latent experts with a router that scales their input or "
                        "experts beside the MLP", "", "them for routers that weigh the outputs");
    d->index_topk = cfg_int(c, "index_topk", 0);
    char refuse[512];
    if ((rc = fwd_str(p, FWD_REFUSE, "", refuse, sizeof refuse, err)))
        return rc;
    if (refuse[0])
        return ck_err_set(err, CK_EUSAGE, p->cfg->path, NULL, CK_NO_OFFSET, "this version does not compute "
                          "this model: %s (rules %s, forward.refuse); 'ckptdoc lint' still checks how each rank "
                          "loads it", refuse, r->name);
    char srope[16], dbias[64];
    snprintf(dbias, sizeof dbias, "%s.e_score_correction_bias", d->gate);
    if ((rc = fwd_str(p, FWD_CORR_BIAS, dbias, d->corr_bias, sizeof d->corr_bias, err)) ||
        (rc = fwd_str(p, FWD_SLIDING_ROPE, "", srope, sizeof srope, err)))
        return rc;
    d->slide_plain = strcmp(srope, "default") == 0;
    if (!d->slide_plain && srope[0])
        return fwd_unknown(p, FWD_SLIDING_ROPE, srope, "default", err);
    int64_t rdim = 0; /* the rules' rotary dims where the config has no partial_rotary_factor */
    if ((rc = fwd_int(p, FWD_ROTARY_DIM, d->head_dim, &rdim, err)))
        return rc;
    d->rot = c->rope_partial > 0 && c->rope_partial < 1 ? (int64_t)((double)d->head_dim * c->rope_partial)
           : c->rope_partial > 0 ? d->head_dim : rdim;
    if (d->rot % 2 || d->rot < 2)
        return ck_err_set(err, CK_EUSAGE, c->path, "partial_rotary_factor", CK_NO_OFFSET, "%lld rotary dims of a "
                          "%lld-wide head: not an even number of at least 2; check head_dim and "
                          "partial_rotary_factor", (long long)d->rot, (long long)d->head_dim);
    if (d->rot > 2 * ROPE_MAX_PAIRS)
        return ck_err_set(err, CK_EUSAGE, c->path, "head_dim", CK_NO_OFFSET, "%lld rotary dims: this version "
                          "computes at most %d (is head_dim %lld right?)", (long long)d->rot, 2 * ROPE_MAX_PAIRS,
                          (long long)d->head_dim);
    d->max_len = p->layout.max_model_len;
    if (strcmp(c->rope_type, "longrope") == 0) { /* a factor per rotary pair (latent attention: of its
                                                    * rope part), both lists */
        int64_t rd = d->mla ? cfg_int(c, "qk_rope_head_dim", 0) : d->rot;
        const char *bad = c->n_rope_short != rd / 2 ? "short_factor" : c->n_rope_long != rd / 2 ? "long_factor" : NULL;
        for (int i = 0; !bad && i < c->n_rope_short; i++)
            bad = c->rope_short[i] > 0 ? NULL : "short_factor";
        for (int i = 0; !bad && i < c->n_rope_long; i++)
            bad = c->rope_long[i] > 0 ? NULL : "long_factor";
        if (bad)
            return ck_err_set(err, CK_EUSAGE, c->path, bad, CK_NO_OFFSET, "longrope needs %lld positive numbers in %s, "
                              "one per rotary pair (%lld rotary dims), not %d", (long long)(rd / 2), bad,
                              (long long)rd, bad[0] == 's' ? c->n_rope_short : c->n_rope_long);
        if (!(c->rope_orig_max > 0))
            return ck_err_set(err, CK_EUSAGE, c->path, "original_max_position_embeddings", CK_NO_OFFSET, "longrope "
                              "needs original_max_position_embeddings (in rope_parameters or at the top)");
    }
    if (d->mla) {
        d->q_lora = cfg_int(c, "q_lora_rank", 0);
        d->kv_lora = cfg_int(c, "kv_lora_rank", 0);
        d->qk_nope = cfg_int(c, "qk_nope_head_dim", 0);
        d->qk_rope = cfg_int(c, "qk_rope_head_dim", 0);
        d->v_head = cfg_int(c, "v_head_dim", 0);
        if (!d->kv_lora || !d->qk_nope || !d->qk_rope || !d->v_head)
            return ck_err_set(err, CK_EUSAGE, c->path, "kv_lora_rank", CK_NO_OFFSET, "the latent attention's "
                              "dimensions (kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim) are "
                              "missing or 0: config.json must give all four");
        if (d->qk_rope % 2 || d->qk_rope > 2 * ROPE_MAX_PAIRS)
            return ck_err_set(err, CK_EUSAGE, c->path, "qk_rope_head_dim", CK_NO_OFFSET, "qk_rope_head_dim %lld: "
                              "this version computes an even number up to %d", (long long)d->qk_rope,
                              2 * ROPE_MAX_PAIRS);
    }
    if (!d->experts) {
        if (!r->forward[FWD_EXPERTS] && config_experts(c))
            return ck_err_set(err, CK_EUSAGE, r->path, "forward.experts", CK_NO_OFFSET, "config.json describes "
                              "experts, but rules \"%s\" do not say how the forward pass routes them: add a "
                              "\"forward\" section (experts, topk, router; docs/rules.md)", r->name);
        return CK_OK;
    }
    d->noaux = strcmp(router, "grouped_sigmoid") == 0;
    d->gemma_router = strcmp(router, "gemma4") == 0;
    if (d->gemma_router != d->experts_beside)
        return fwd_fail(p, FWD_ROUTER, CK_EUSAGE, err, "router \"gemma4\" goes with experts_beside, and only with it",
                        "", NULL);
    d->softmax_bias = strcmp(router, "softmax_bias") == 0;
    d->router_input = strcmp(router, "sigmoid_input") == 0;
    d->grouped_softmax = strcmp(router, "group_limited_greedy") == 0;
    if (d->grouped_softmax && (d->n_group < 1 || d->experts % d->n_group || d->topk_group < 1 ||
                               d->topk_group > d->n_group || d->topk_group * (d->experts / d->n_group) < d->topk))
        return ck_err_set(err, CK_EUSAGE, p->cfg->path, "n_group", CK_NO_OFFSET, "%lld experts in %lld groups, %lld "
                          "chosen, top %lld: not a group-limited routing; check n_group and topk_group in config.json",
                          (long long)d->experts, (long long)d->n_group, (long long)d->topk_group, (long long)d->topk);
    if (!d->noaux && !d->grouped_softmax && !d->router_input && !d->softmax_bias && !d->gemma_router &&
        strcmp(router, "softmax") != 0)
        return fwd_unknown(p, FWD_ROUTER, router, "softmax, softmax_bias, group_limited_greedy, grouped_sigmoid, "
                           "sigmoid_input, gemma4", err);
    if (d->experts < 1 || d->experts > 65536 || d->topk < 1 || d->topk > d->experts)
        return ck_err_set(err, CK_EUSAGE, c->path, "num_experts_per_tok", CK_NO_OFFSET, "%lld experts, top %lld: "
                          "not a routing (rules %s, forward.experts and forward.topk): check the expert count and "
                          "num_experts_per_tok in config.json", (long long)d->experts, (long long)d->topk, r->name);
    if (d->noaux && (d->n_group < 1 || d->experts % d->n_group || d->topk_group < 1 || d->topk_group > d->n_group ||
                     d->experts / d->n_group < 2 || d->topk_group * (d->experts / d->n_group) < d->topk))
        return ck_err_set(err, CK_EUSAGE, c->path, "n_group", CK_NO_OFFSET, "%lld experts in %lld groups, %lld "
                          "chosen, top %lld: not a group-limited routing; check n_group and topk_group in "
                          "config.json (groups must split the experts evenly and hold the top k)",
                          (long long)d->experts, (long long)d->n_group, (long long)d->topk_group, (long long)d->topk);
    return CK_OK;
}

/* A per-layer number (head_dim, kv_heads, kv_source): dflt when the rules have none or it is null. */
static int fwd_layer_int(const plan *p, int which, int64_t l, int64_t dflt, int64_t *out, ck_err *err)
{
    expr_val v;
    int has, rc = fwd_layer_eval(p, which, l, &v, &has, err);
    *out = rc == CK_OK && has && !v.is_null ? v.v : dflt;
    return rc;
}

/* What a pass hands from layer to layer beside the stream: the keys and values each rank made for
 * each layer, post norm and rotary, when later layers read them (Gemma 4's KV sharing), and the
 * per-layer inputs [T, layers, ple]. */
struct fwd_pass {
    int64_t layers;
    int tp;
    float **k, **v; /* [layer * tp + rank], NULL until made */
    size_t *n;      /* the values of each */
    uint8_t *keep;  /* [layer]: some later layer reads its keys and values */
    float *ple;
};

/* The dot before the MoE module's name in a parameter's, none where the rules put the experts
 * and the router under the layer itself (Gemma 4: "moe": ""). */
#define MOE_DOT(d) ((d)->moe[0] ? "." : "")

/* Whether this process computes TP rank r: all of them, or with one process per rank its own. */
static int rank_here(const dense_dims *d, int r)
{
    return !d->comm || d->comm->tp_rank == r;
}

/* A rank this process holds, for the parameters every rank holds whole (norms, routers). */
#define RH(d, R) ((R)[(d)->comm ? (d)->comm->tp_rank : 0])

/* Row-parallel partial sums: rank r's part of n values is made in parts[r * n ..], zeroed here,
 * and parts_add adds them to sink in rank order, after gathering them in the stage's group when
 * each rank is a process of its own, so both ways add the same floats in the same order. */
static float *parts_new(const dense_dims *d, int tp, size_t n)
{
    return fcalloc(d, (size_t)tp * n, sizeof(float));
}

static int parts_add(const dense_dims *d, float *parts, int tp, size_t n, float *sink, ck_err *err)
{
    if (d->comm && comm_allgather(d->comm, parts, n, err) != CK_OK)
        return err->code;
    for (int r = 0; r < tp; r++)
        for (size_t i = 0; i < n; i++)
            sink[i] += parts[(size_t)r * n + i];
    return CK_OK;
}

/* The rank's parameter (fmt with the layer), checked to hold exactly `want` values: a slice of
 * another size would make the products read past it. NULL when there is none (an error when
 * need) or on a wrong size. */
static const load_param *Wp(const rank_load *r, const plan *p, const char *fmt, int64_t layer, int need,
                            uint64_t want, ck_err *err)
{
    char name[256];
    snprintf(name, sizeof name, fmt, (long long)layer);
    const load_param *lp = rank_param(r, p, name);
    if (!lp && need)
        ck_err_set(err, CK_EUSAGE, p->rules->path, name, CK_NO_OFFSET, "rank %d of stage %d has no parameter "
                   "'%s', which the forward pass these rules' \"forward\" section describes reads: the rules "
                   "build another model than they compute (add the parameter, or the entry that drops it; "
                   "docs/rules.md)", r->tp_rank, r->stage, name);
    if (lp && lp->n != want) {
        ck_err_set(err, CK_EFORMAT, p->rules->path, name, CK_NO_OFFSET, "TP rank %d of stage %d holds %llu values "
                   "of '%s', but the model's computation on %d ranks needs %llu: the load cuts a slice of the "
                   "wrong size", r->tp_rank, r->stage, (unsigned long long)lp->n, name, p->layout.tp,
                   (unsigned long long)want);
        return NULL;
    }
    return lp;
}

/* Wp's parameter as floats (a compact one converted, until the next layer). */
static const float *W(const rank_load *r, const plan *p, const char *fmt, int64_t layer, int need, uint64_t want,
                      ck_err *err)
{
    const load_param *lp = Wp(r, p, fmt, layer, need, want, err);
    return lp ? load_param_floats(r, lp, err) : NULL;
}

/* x[T, K] times rows [row0, row0 + N) of parameter lp, rows of K values (+ bias), into y[T, N]
 * (added to it when acc), as op_linear: a matrix's rows, or one routed expert's. A compact parameter on the host goes in blocks of rows, each converted to floats
 * while it fits the cache and multiplied into its columns of y (the same sums as one product),
 * so that its floats never exist whole and the product reads 16 bits a weight from memory. */
enum { LINEAR_BLOCK_BYTES = 1 << 18 }; /* 256 KB of floats: a block stays in a core's L2 while OpenBLAS packs it */

typedef struct {
    const float *x;
    size_t T, K;
    const load_param *lp;
    size_t row0, N; /* the parameter's rows [row0, row0 + N), of K values */
    const float *bias;
    float *y;
    int acc;
    size_t rows; /* a block's */
    int oom;
} linear_lp_job;

/* Part k of n of op_linear_lp: its share of the rows (whole blocks of 16), block by block. */
static void linear_lp_part(void *ctx, int k, int n)
{
    linear_lp_job *j = ctx;
    size_t r0, r1;
    fwd_share16(j->N, k, n, &r0, &r1);
    if (r1 <= r0)
        return;
    size_t rows = j->rows < r1 - r0 ? j->rows : r1 - r0;
    float *w = malloc(rows * j->K * sizeof *w);
    if (!w) {
        __atomic_store_n(&j->oom, 1, __ATOMIC_RELAXED);
        return;
    }
    for (size_t n0 = r0; n0 < r1; n0 += rows) {
        size_t m = r1 - n0 < rows ? r1 - n0 : rows;
        load_param_rows(j->lp, j->K, j->row0 + n0, m, w);
        fwd_linear_blas_ld(j->x, j->T, j->K, w, m, j->bias ? j->bias + n0 : NULL, j->y + n0, j->N, j->acc);
    }
    free(w);
}

static int op_linear_lp(const dense_dims *d, const rank_load *r, const float *x, size_t T, size_t K,
                        const load_param *lp, size_t row0, size_t N, const float *bias, float *y, int acc,
                        ck_err *err)
{
    if (!K || lp->n % K || row0 + N > lp->n / K)
        return ck_err_set(err, CK_EFORMAT, NULL, lp->pp->name, CK_NO_OFFSET, "parameter '%s' holds %llu values, "
                          "which are not rows %zu .. %zu of %zu values each, as the forward pass multiplies by it: "
                          "the rules file's shape for it is not the one its \"forward\" section computes with "
                          "(docs/rules.md; 'ckptdoc lint' shows the planned shape)", lp->pp->name,
                          (unsigned long long)lp->n, row0, row0 + N, K);
    if (d->device || !lp->half || !fwd_blas_ready(NULL, 0)) {
        const float *w = load_param_floats(r, lp, err);
        if (!w)
            return err->code;
        op_linear(d, x, T, K, w + row0 * K, N, bias, y, acc);
        return CK_OK;
    }
    size_t rows = LINEAR_BLOCK_BYTES / (K * sizeof(float));
    rows = rows < 16 ? 16 : rows / 16 * 16;
    linear_lp_job j = {x, T, K, lp, row0, N, bias, y, acc, rows, 0};
    int n = N * K < ((size_t)1 << 16) ? 1 : fwd_blas_threads(); /* a small product: one thread */
    if ((size_t)n > (N + 15) / 16)
        n = (int)((N + 15) / 16);
    ck_pool_run(n, linear_lp_part, &j);
    return j.oom ? ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory") : CK_OK;
}
/* DeepSeek-V3's choice of experts for one token: scores sigmoid(logit); the choice ranks
 * score + bias within the topk_group groups whose two best choices sum highest; the weights are
 * the scores of the chosen (renormalized later when norm_topk_prob). */
static int noaux_select(const dense_dims *d, const float *logit, const float *bias, size_t E, size_t *sel,
                        double *wt, double *ksum)
{
    size_t G = (size_t)d->n_group, per = E / G, K = (size_t)d->topk;
    double *sc = fmalloc(d, E * sizeof *sc), *ch = fmalloc(d, E * sizeof *ch), *gs = fmalloc(d, G * sizeof *gs);
    int *keep = fcalloc(d, G, sizeof *keep);
    if (!sc || !ch || !gs || !keep) {
        ffree(d, sc), ffree(d, ch), ffree(d, gs), ffree(d, keep);
        return -1;
    }
    for (size_t e = 0; e < E; e++) {
        sc[e] = sigmoid(logit[e]);
        ch[e] = sc[e] + (bias ? bias[e] : 0);
    }
    for (size_t g = 0; g < G; g++) {
        double a = -INFINITY, b = -INFINITY;
        for (size_t e = g * per; e < (g + 1) * per; e++)
            if (ch[e] > a) {
                b = a;
                a = ch[e];
            } else if (ch[e] > b)
                b = ch[e];
        gs[g] = a + b;
    }
    for (int64_t k = 0; k < d->topk_group; k++) {
        size_t best = G;
        for (size_t g = 0; g < G; g++)
            if (!keep[g] && (best == G || gs[g] > gs[best]))
                best = g;
        keep[best] = 1;
    }
    *ksum = 0;
    for (size_t k = 0; k < K; k++) {
        size_t best = E;
        for (size_t e = 0; e < E; e++) {
            int taken = !keep[e / per];
            for (size_t j = 0; j < k && !taken; j++)
                taken = sel[j] == e;
            if (!taken && (best == E || ch[e] > ch[best]))
                best = e;
        }
        sel[k] = best;
        wt[k] = sc[best];
        *ksum += wt[k];
    }
    if (d->renorm)
        *ksum += 1e-20;
    ffree(d, sc), ffree(d, ch), ffree(d, gs), ffree(d, keep);
    return 0;
}

/* Mixtral's sparse MLP: the replicated router's softmax, the top-k experts renormalized, each
 * rank adding what its experts (or its slice of every expert) contribute. */
/* group_limited_greedy: whether expert e's group is among the topk_group groups whose best
 * logit is highest (the lower group first on ties); softmax keeps the order of the logits. */
static int group_kept(const dense_dims *d, const float *logit, size_t E, size_t e)
{
    size_t G = (size_t)d->n_group, per = E / G, g0 = e / per, better = 0;
    float m0 = -INFINITY;
    for (size_t i = g0 * per; i < (g0 + 1) * per; i++)
        m0 = logit[i] > m0 ? logit[i] : m0;
    for (size_t g = 0; g < G; g++) {
        if (g == g0)
            continue;
        float m = -INFINITY;
        for (size_t i = g * per; i < (g + 1) * per; i++)
            m = logit[i] > m ? logit[i] : m;
        better += m > m0 || (m == m0 && g < g0);
    }
    return better < (size_t)d->topk_group;
}

/* One rank's routed experts of layer l: w13 [E, 2 x Il, H] and w2 [E, H, Il] (non-gated experts
 * of the plain MLP form: w13 [E, Il, H]; a latent MoE: the latent width for H), and their biases
 * where the model has them (gpt-oss; w2's zero but on TP rank 0), each checked against the
 * others so that the products stay inside them. */
typedef struct {
    const load_param *w13, *w2, *b13, *b2;
    size_t Il;
    const float *b13d, *b2d; /* the biases' values as floats (one a rules file declares without
                              * "experts" may be held compact); the weights go by op_linear_lp */
} rank_experts;

static int experts_of(const plan *p, const dense_dims *d, const rank_load *R, int64_t l, rank_experts *ex,
                      ck_err *err)
{
    static const char *const what[4] = {"w13_weight", "w2_weight", "w13_bias", "w2_bias"};
    const load_param *lp[4];
    char name[4][160];
    size_t H = d->latent > 0 ? (size_t)d->latent : (size_t)d->hidden, g = d->plain_mlp ? 1 : 2;
    for (int i = 0; i < 4; i++) {
        snprintf(name[i], sizeof name[i], "layers.%lld%s%s.experts.routed_experts.%s", (long long)l, MOE_DOT(d), d->moe,
                 what[i]);
        lp[i] = rank_param(R, p, name[i]);
    }
    if (!lp[0] || !lp[1])
        return ck_err_set(err, CK_EUSAGE, p->rules->path, name[0], CK_NO_OFFSET, "TP rank %d of stage %d has no "
                          "routed experts of layer %lld ('%s' and '%s'), which the rules' \"forward\" section "
                          "routes to: add the parameters, or set forward.experts (docs/rules.md)", R->tp_rank,
                          R->stage, (long long)l, name[0], name[1]);
    *ex = (rank_experts){lp[0], lp[1], lp[2], lp[3], (size_t)lp[1]->pp->local[2], NULL, NULL};
    if (lp[0]->pp->local[1] != g * ex->Il || lp[0]->pp->local[2] != H || lp[1]->pp->local[1] != H)
        return ck_err_set(err, CK_EFORMAT, p->rules->path, name[0], CK_NO_OFFSET, "TP rank %d: experts of [%llu x "
                          "%llu] and [%llu x %llu] do not make an MLP of hidden %zu: the rules' shapes for w13 and "
                          "w2 disagree", R->tp_rank, (unsigned long long)lp[0]->pp->local[1],
                          (unsigned long long)lp[0]->pp->local[2], (unsigned long long)lp[1]->pp->local[1],
                          (unsigned long long)lp[1]->pp->local[2], H);
    for (int i = 2; i < 4; i++) { /* a bias per expert slot: g x Il values for w13, H for w2 */
        uint64_t want = lp[i - 2]->n / (i == 2 ? H : ex->Il);
        if (lp[i] && lp[i]->n != want)
            return ck_err_set(err, CK_EFORMAT, p->rules->path, name[i], CK_NO_OFFSET, "TP rank %d holds %llu "
                              "values of '%s' where its experts' '%s' needs %llu (a bias per output of each "
                              "expert it holds): the rules' shape for the bias is not the weight's", R->tp_rank,
                              (unsigned long long)lp[i]->n, name[i], what[i - 2], (unsigned long long)want);
    }
    if ((lp[2] && !(ex->b13d = load_param_floats(R, lp[2], err))) ||
        (lp[3] && !(ex->b2d = load_param_floats(R, lp[3], err))))
        return err->code;
    return CK_OK;
}

/* The routed experts of layer l over h[T, H], their outputs added into x; the router reads rin (h
 * where NULL; Gemma 4's reads the stream the experts' own norm has not touched). */
static int moe_block(const plan *p, const dense_dims *d, rank_load *const *R, int64_t l, const float *rin,
                     const float *h, size_t T, float *x, ck_err *err)
{
    int tp = p->layout.tp;
    size_t H = (size_t)d->hidden, E = (size_t)d->experts, K = (size_t)d->topk;
    /* the experts' width (a latent MoE's, behind fc1/fc2_latent_proj) and their gate and up rows */
    size_t Hx = d->latent > 0 ? (size_t)d->latent : H, g = d->plain_mlp ? 1 : 2;
    char gname[128], bname[160], lname[128]; /* the router, its correction bias and its own bias, in the
                                              * module the rules name */
    snprintf(gname, sizeof gname, "layers.%%lld%s%s.%s.weight", MOE_DOT(d), d->moe, d->gate);
    snprintf(bname, sizeof bname, "layers.%%lld%s%s.%s", MOE_DOT(d), d->moe, d->corr_bias);
    snprintf(lname, sizeof lname, "layers.%%lld%s%s.%s.bias", MOE_DOT(d), d->moe, d->gate);
    const float *gate = W(RH(d, R), p, gname, l, 1, E * H, err), *bias = NULL;
    if (!gate)
        return err->code;
    /* the correction bias where the rules name one (DeepSeek's under the gate, MiniMax-M2's beside
     * it); without one (MiniMax-M2 without use_routing_bias) the scores alone choose */
    if ((d->noaux || d->softmax_bias) && d->corr_bias[0] && !(bias = W(RH(d, R), p, bname, l, 1, E, err)))
        return err->code;
    const float *lbias = W(RH(d, R), p, lname, l, 0, E, err); /* gpt-oss's router bias */
    if (!lbias && err->code)
        return err->code;
    const float *rsc = NULL, *pes = NULL; /* Gemma 4: the router input's scale, each expert's output scale */
    if (d->gemma_router) {
        char sn[128], pn[128];
        snprintf(sn, sizeof sn, "layers.%%lld%s%s.router.scale", MOE_DOT(d), d->moe);
        snprintf(pn, sizeof pn, "layers.%%lld%s%s.router.per_expert_scale", MOE_DOT(d), d->moe);
        if (!(rsc = W(RH(d, R), p, sn, l, 1, H, err)) || !(pes = W(RH(d, R), p, pn, l, 1, E, err)))
            return err->code;
    }
    if (!rin)
        rin = h;
    const float *l1 = NULL, *l1b = NULL, *l2 = NULL, *l2b = NULL; /* Nemotron-H's latent projections */
    if (d->latent > 0) {
        char n1[128], n1b[128], n2[128], n2b[128];
        snprintf(n1, sizeof n1, "layers.%%lld%s%s.fc1_latent_proj.weight", MOE_DOT(d), d->moe);
        snprintf(n1b, sizeof n1b, "layers.%%lld%s%s.fc1_latent_proj.bias", MOE_DOT(d), d->moe);
        snprintf(n2, sizeof n2, "layers.%%lld%s%s.fc2_latent_proj.weight", MOE_DOT(d), d->moe);
        snprintf(n2b, sizeof n2b, "layers.%%lld%s%s.fc2_latent_proj.bias", MOE_DOT(d), d->moe);
        if (!(l1 = W(RH(d, R), p, n1, l, 1, Hx * H, err)) || !(l2 = W(RH(d, R), p, n2, l, 1, H * Hx, err)) ||
            (!(l1b = W(RH(d, R), p, n1b, l, 0, Hx, err)) && err->code) ||
            (!(l2b = W(RH(d, R), p, n2b, l, 0, H, err)) && err->code))
            return err->code;
    }
    rank_experts *X = calloc((size_t)tp, sizeof *X); /* each rank's, looked up once */
    if (!X)
        return ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    for (int r = 0; r < tp; r++)
        if (rank_here(d, r) && experts_of(p, d, R[r], l, &X[r], err) != CK_OK) {
            free(X);
            return err->code;
        }
    float *logit = fmalloc(d, E * sizeof *logit), *gu = NULL, *act = NULL, *y = fmalloc(d, Hx * sizeof *y);
    float *parts = parts_new(d, tp, T * Hx); /* each rank's experts' outputs, added in rank order */
    /* a latent MoE: the experts read fc1_latent_proj(h) and their sum passes fc2_latent_proj */
    float *zin = l1 ? fmalloc(d, T * Hx * sizeof *zin) : NULL, *zsum = l1 ? fcalloc(d, T * Hx, sizeof *zsum) : NULL;
    if (l1 && zin && zsum)
        op_linear(d, h, T, H, l1, Hx, l1b, zin, 0);
    /* an expert's scaled input (Llama 4), the router's (Gemma 4) */
    float *xin = d->router_input || d->gemma_router ? fmalloc(d, H * sizeof *xin) : NULL;
    size_t *sel = fmalloc(d, K * sizeof *sel);
    double *wt = fmalloc(d, K * sizeof *wt);
    int rc = CK_OK;
    for (size_t t = 0; t < T && rc == CK_OK; t++) {
        if (!logit || !y || !sel || !wt || !parts || ((d->router_input || d->gemma_router) && !xin) ||
            (l1 && (!zin || !zsum))) {
            rc = ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
            break;
        }
        if (d->gemma_router) { /* RMS-normed without a weight, times hidden_size^-1/2 and router.scale */
            double ms = 0;
            for (size_t i = 0; i < H; i++)
                ms += (double)rin[t * H + i] * rin[t * H + i];
            float inv = (float)(1.0 / sqrt(ms / (double)H + d->eps)), root = (float)(1.0 / sqrt((double)H));
            for (size_t i = 0; i < H; i++)
                xin[i] = rin[t * H + i] * inv * rsc[i] * root;
            op_linear(d, xin, 1, H, gate, E, lbias, logit, 0);
        } else
            op_linear(d, rin + t * H, 1, H, gate, E, lbias, logit, 0);
        double mx = logit[0], sum = 0, ksum = 0;
        for (size_t e = 1; e < E; e++)
            mx = logit[e] > mx ? logit[e] : mx;
        for (size_t e = 0; e < E; e++)
            sum += exp(logit[e] - mx);
        if (d->noaux) { /* V3: sigmoid scores; bias and groups decide the choice, not the weights */
            if (noaux_select(d, logit, bias, E, sel, wt, &ksum) != 0) {
                rc = ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
                break;
            }
        } else
        for (size_t k = 0; k < K; k++) { /* top-k by probability, the lower index first on ties; with
                                          * group_limited_greedy (DeepSeek-V2) among the topk_group
                                          * groups whose best expert scores highest */
            size_t best = E;
            for (size_t e = 0; e < E; e++) {
                int taken = 0;
                for (size_t j = 0; j < k; j++)
                    taken |= sel[j] == e;
                if (!taken && d->grouped_softmax && !group_kept(d, logit, E, e))
                    taken = 1;
                /* ERNIE 4.5: the probability plus the correction bias chooses */
                if (!taken && (best == E || (bias ? exp(logit[e] - mx) / sum + bias[e] >
                                                    exp(logit[best] - mx) / sum + bias[best]
                                                  : logit[e] > logit[best])))
                    best = e;
            }
            sel[k] = best;
            /* Llama 4: the sigmoid of the chosen logit scales the expert's input */
            wt[k] = d->router_input ? sigmoid(logit[best]) : exp(logit[best] - mx) / sum;
            ksum += wt[k];
        }
        for (int r = 0; r < tp && rc == CK_OK; r++) {
            if (!rank_here(d, r))
                continue;
            const rank_experts *ex = &X[r];
            size_t Il = ex->Il;
            if (!gu) {
                gu = fmalloc(d, g * Il * sizeof *gu);
                act = fmalloc(d, Il * sizeof *act);
                if (!gu || !act) {
                    rc = ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
                    break;
                }
            }
            for (size_t k = 0; k < K; k++) {
                int64_t le = (int64_t)sel[k] - ex->w13->expert0;
                if (le < 0 || le >= ex->w13->n_experts)
                    continue; /* another rank's expert */
                const float *in = zin ? zin + t * Hx : h + t * H;
                if (d->router_input) { /* the weight on the input, the output added as it is */
                    for (size_t i = 0; i < H; i++)
                        xin[i] = (float)(wt[k] * in[i]);
                    in = xin;
                }
                /* the expert's rows of the [experts x rows, cols] parameters (converted alone when compact) */
                if ((rc = op_linear_lp(d, R[r], in, 1, Hx, ex->w13, (size_t)le * g * Il, g * Il,
                                       ex->b13d ? ex->b13d + (size_t)le * g * Il : NULL, gu, 0, err)) != CK_OK)
                    break;
                if (g == 1) /* a non-gated expert of the plain MLP form (Nemotron-H's relu2) */
                    op_act(d, gu, Il, act);
                else
                    op_act_mul(d, gu, 1, Il, act);
                if ((rc = op_linear_lp(d, R[r], act, 1, Il, ex->w2, (size_t)le * Hx, Hx,
                                       ex->b2d ? ex->b2d + (size_t)le * Hx : NULL, y, 0, err)) != CK_OK)
                    break;
                double wk = d->router_input ? 1.0 : (d->renorm ? wt[k] / ksum : wt[k]) * d->rscale;
                if (pes) /* Gemma 4: each expert's output times its per_expert_scale */
                    wk *= pes[sel[k]];
                float *pr = parts + ((size_t)r * T + t) * Hx;
                for (size_t i = 0; i < Hx; i++)
                    pr[i] += (float)wk * y[i];
            }
        }
    }
    if (rc == CK_OK && !l1)
        rc = parts_add(d, parts, tp, T * H, x, err);
    else if (rc == CK_OK && (rc = parts_add(d, parts, tp, T * Hx, zsum, err)) == CK_OK)
        op_linear(d, zsum, T, Hx, l2, H, l2b, x, 1); /* back to the hidden size, added into x */
    ffree(d, zin);
    ffree(d, zsum);
    ffree(d, parts);
    ffree(d, logit);
    ffree(d, xin);
    ffree(d, gu);
    ffree(d, act);
    ffree(d, y);
    ffree(d, sel);
    ffree(d, wt);
    free(X);
    return rc;
}

/* Qwen2-MoE's shared expert: a column/row-parallel SwiGLU MLP scaled per token by
 * sigmoid(h . shared_expert_gate) (DeepSeek's shared_experts and Llama 4's shared_expert: as
 * they are), in the MoE's module; nothing when the layer has none. */
static int shared_expert(const plan *p, const dense_dims *d, rank_load *const *R, int64_t l, const float *h,
                         size_t T, float *x, ck_err *err)
{
    char ngu[160], nd[160], ng[160];
    const char *mod = d->shared_mod; /* DeepSeek's, GLM's shared_experts: ungated */
    int ungated = d->shared_ungated || d->shared_plain;
    /* the model's MLP form (mlp_in, mlp_out): gated gate_up_proj and down_proj, or Nemotron-H's plain
     * up_proj and down_proj */
    size_t gf = d->plain_mlp ? 1 : 2; /* rows of the input linear per output */
    snprintf(ngu, sizeof ngu, "layers.%lld%s%s.%s.%s.weight", (long long)l, MOE_DOT(d), d->moe, mod, d->mlp_in);
    snprintf(nd, sizeof nd, "layers.%lld%s%s.%s.%s.weight", (long long)l, MOE_DOT(d), d->moe, mod, d->mlp_out);
    snprintf(ng, sizeof ng, "layers.%lld%s%s.shared_expert_gate.weight", (long long)l, MOE_DOT(d), d->moe);
    const load_param *g = rank_param(RH(d, R), p, ng);
    size_t H = (size_t)d->hidden;
    int tp = p->layout.tp;
    if (!rank_param(RH(d, R), p, ngu))
        return CK_OK;
    if (!ungated && (!g || g->n != H))
        return ck_err_set(err, CK_EFORMAT, p->rules->path, ng, CK_NO_OFFSET, "a shared expert without its [1, %zu] "
                          "gate", H);
    float *gs = fmalloc(d, T * sizeof *gs), *parts = parts_new(d, tp, T * H);
    if (!gs || !parts) {
        ffree(d, gs);
        ffree(d, parts);
        return ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    }
    if (ungated)
        for (size_t t = 0; t < T; t++)
            gs[t] = 1.0f;
    else {
        const float *gw = load_param_floats(RH(d, R), g, err);
        if (!gw) {
            ffree(d, gs);
            ffree(d, parts);
            return err->code;
        }
        op_linear(d, h, T, H, gw, 1, NULL, gs, 0);
        for (size_t t = 0; t < T; t++)
            gs[t] = 1.0f / (1.0f + expf(-gs[t]));
    }
    int rc = CK_OK;
    for (int r = 0; r < tp && rc == CK_OK; r++) {
        if (!rank_here(d, r))
            continue;
        const load_param *gu = rank_param(R[r], p, ngu), *dn = rank_param(R[r], p, nd);
        if (!gu || !dn || dn->pp->ndim != 2 || dn->pp->local[0] != H || gu->n != gf * dn->pp->local[1] * H) {
            rc = ck_err_set(err, CK_EFORMAT, p->rules->path, ngu, CK_NO_OFFSET, "rank %d: the shared expert's "
                            "%s and %s do not make an MLP of hidden %zu", r, d->mlp_in, d->mlp_out, H);
            break;
        }
        size_t Is = (size_t)dn->pp->local[1];
        float *a = fmalloc(d, T * gf * Is * sizeof *a), *act = fmalloc(d, T * Is * sizeof *act), *y = fmalloc(d, T * H * sizeof *y);
        const float *wgu = load_param_floats(R[r], gu, err), *wdn = wgu ? load_param_floats(R[r], dn, err) : NULL;
        if (!wgu || !wdn)
            rc = err->code;
        else if (!a || !act || !y)
            rc = ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
        else {
            op_linear(d, h, T, H, wgu, gf * Is, NULL, a, 0);
            if (gf == 1)
                op_act(d, a, T * Is, act);
            else
                op_act_mul(d, a, T, Is, act);
            op_linear(d, act, T, Is, wdn, H, NULL, y, 0);
            float *pr = parts + (size_t)r * T * H;
            for (size_t t = 0; t < T; t++)
                for (size_t i = 0; i < H; i++)
                    pr[t * H + i] += gs[t] * y[t * H + i];
        }
        ffree(d, a);
        ffree(d, act);
        ffree(d, y);
    }
    if (rc == CK_OK)
        rc = parts_add(d, parts, tp, T * H, x, err);
    ffree(d, parts);
    ffree(d, gs);
    return rc;
}

/* Rotary embedding on interleaved pairs (2i, 2i+1), as DeepSeek's latent attention applies it,
 * with per-pair inverse frequencies and cos/sin scaled by af (yarn's attention factor). */
/* Rotary on the host over dims [off, off + dim) of each head (rows of stride): pairs (2i, 2i+1)
 * when interleaved (GPT-J, Cohere, DeepSeek's latent attention), else (i, i + dim/2) (MiniCPM3's). */
static void rope_host(float *x, size_t T, size_t heads, size_t stride, size_t off, size_t dim, const double *inv,
                      double af, int interleaved)
{
    size_t step = interleaved ? 2 : 1, other = interleaved ? 1 : dim / 2;
    for (size_t t = 0; t < T; t++)
        for (size_t h = 0; h < heads; h++) {
            float *v = x + (t * heads + h) * stride + off;
            for (size_t i = 0; i < dim / 2; i++) {
                double f = inv[i] * (double)t;
                float c = (float)(cos(f) * af), sn = (float)(sin(f) * af), a = v[step * i], b = v[step * i + other];
                v[step * i] = a * c - b * sn;
                v[step * i + other] = a * sn + b * c;
            }
        }
}

static double yarn_mscale(double scale, double m)
{
    return scale <= 1 ? 1.0 : 0.1 * m * log(scale) + 1.0;
}

/* Inverse frequencies of a rotary dim (default, or yarn as DeepSeek configures it), the factor
 * on cos/sin, and the factor on the softmax scale; max_len is the deployment's max_model_len (0:
 * vLLM's default), which picks longrope's factors. */
static void rope_freqs(const ck_config *c, size_t dim, int64_t max_len, double *inv, double *af, double *smul)
{
    double base = c->rope_theta;
    *af = 1.0;
    *smul = 1.0;
    for (size_t i = 0; i < dim / 2; i++)
        inv[i] = 1.0 / pow(base, 2.0 * (double)i / (double)dim);
    if (strcmp(c->rope_type, "longrope") == 0) {
        /* Phi-3's (vLLM's Phi3LongRoPEScaledRotaryEmbedding): the long factors for every position
         * when max_model_len exceeds original_max_position_embeddings (vLLM's default max_model_len
         * is that original length: the short ones), cos and sin times sqrt(1 + ln(s) / ln(orig)),
         * s = max_position_embeddings / orig, unless short_mscale or long_mscale says */
        int64_t mpe = 0;
        config_int(c, "max_position_embeddings", &mpe);
        double orig = c->rope_orig_max, s = orig > 0 ? (double)mpe / orig : 1;
        int lng = max_len > 0 && (double)max_len > orig;
        const double *fac = lng ? c->rope_long : c->rope_short;
        size_t nf = (size_t)(lng ? c->n_rope_long : c->n_rope_short);
        double ms = lng ? c->rope_long_mscale : c->rope_short_mscale;
        for (size_t i = 0; i < dim / 2 && i < nf; i++) /* lengths checked by dense_dims_of */
            inv[i] /= fac[i];
        *af = ms > 0 ? ms : s <= 1 ? 1.0 : sqrt(1 + log(s) / log(orig));
        return;
    }
    if (strcmp(c->rope_type, "llama3") == 0) { /* Llama 3.1: long wavelengths slowed by factor, a smooth band */
        double factor = c->rope_factor > 0 ? c->rope_factor : 8, lf = c->rope_low_freq_factor > 0 ? c->rope_low_freq_factor : 1;
        double hf = c->rope_high_freq_factor > 0 ? c->rope_high_freq_factor : 4, old = c->rope_orig_max > 0 ? c->rope_orig_max : 8192;
        for (size_t i = 0; i < dim / 2; i++) {
            double wl = 2 * M_PI / inv[i];
            if (wl > old / lf)
                inv[i] /= factor;
            else if (wl >= old / hf) {
                double sm = (old / wl - lf) / (hf - lf);
                inv[i] = (1 - sm) * inv[i] / factor + sm * inv[i];
            }
        }
        return;
    }
    if (strcmp(c->rope_type, "dynamic") == 0) {
        /* vLLM's DynamicNTKScalingRotaryEmbedding: one base for every length, scaled by
         * (factor * max_position / max_trained_positions - (factor - 1))^(dim / (dim - 2)), which is
         * 1 unless rope_parameters gives max_trained_positions */
        int64_t mpe = 0;
        config_int(c, "max_position_embeddings", &mpe);
        double f = c->rope_factor > 0 ? c->rope_factor : 1, trained = c->rope_max_trained > 0 ? c->rope_max_trained
                                                                                             : (double)mpe;
        double b = trained > 0 && dim > 2 ? base * pow(f * (double)mpe / trained - (f - 1), (double)dim / (double)(dim - 2))
                                          : base;
        for (size_t i = 0; i < dim / 2; i++)
            inv[i] = 1.0 / pow(b, 2.0 * (double)i / (double)dim);
        return;
    }
    if (strcmp(c->rope_type, "linear") == 0) { /* positions divided by factor */
        for (size_t i = 0; c->rope_factor > 0 && i < dim / 2; i++)
            inv[i] /= c->rope_factor;
        return;
    }
    if (strcmp(c->rope_type, "yarn") != 0)
        return;
    int64_t maxpos = 0;
    config_int(c, "max_position_embeddings", &maxpos);
    double orig = c->rope_orig_max > 0 ? c->rope_orig_max : (double)maxpos;
    double factor = c->rope_factor > 0 ? c->rope_factor : orig > 0 ? (double)maxpos / orig : 1.0;
    if (c->rope_attention_factor > 0)
        *af = c->rope_attention_factor;
    else if (c->rope_mscale > 0 && c->rope_mscale_all_dim > 0)
        *af = yarn_mscale(factor, c->rope_mscale) / yarn_mscale(factor, c->rope_mscale_all_dim);
    else
        *af = yarn_mscale(factor, 1.0);
    if (c->rope_mscale_all_dim > 0) {
        double m = yarn_mscale(factor, c->rope_mscale_all_dim);
        *smul = m * m;
    }
    double fast = c->rope_beta_fast > 0 ? c->rope_beta_fast : 32, slow = c->rope_beta_slow > 0 ? c->rope_beta_slow : 1;
    double lo = (double)dim * log(orig / (fast * 2 * M_PI)) / (2 * log(base));
    double hi = (double)dim * log(orig / (slow * 2 * M_PI)) / (2 * log(base));
    if (c->rope_truncate) {
        lo = floor(lo);
        hi = ceil(hi);
    }
    lo = lo < 0 ? 0 : lo;
    hi = hi > (double)dim - 1 ? (double)dim - 1 : hi;
    if (lo == hi)
        hi += 0.001;
    for (size_t i = 0; i < dim / 2; i++) {
        double ramp = ((double)i - lo) / (hi - lo);
        ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
        double extra = 1.0 - ramp; /* the share kept unscaled */
        inv[i] = inv[i] / factor * (1.0 - extra) + inv[i] * extra;
    }
}

/* DeepSeek's multi-head latent attention for one rank's heads, its o_proj partial added to x. */
static int mla_rank(const plan *p, const dense_dims *d, const rank_load *R, int64_t l, const float *h, size_t T,
                    float *x, ck_err *err)
{
    int tp = p->layout.tp;
    size_t H = (size_t)d->hidden, hq = (size_t)(d->heads / tp), nope = (size_t)d->qk_nope;
    size_t rope = (size_t)d->qk_rope, qk = nope + rope, vh = (size_t)d->v_head, kvl = (size_t)d->kv_lora;
    size_t kva = kvl + rope, ql = (size_t)d->q_lora;
    float *q = fmalloc(d, T * hq * qk * sizeof *q), *a = fmalloc(d, T * (ql + kva) * sizeof *a);
    float *c = fmalloc(d, T * kvl * sizeof *c), *kv = fmalloc(d, T * hq * (nope + vh) * sizeof *kv);
    float *o = fmalloc(d, T * hq * vh * sizeof *o), *qa = ql ? fmalloc(d, T * ql * sizeof *qa) : NULL;
    double *pr = fmalloc(d, T * sizeof *pr);
    int rc = CK_OK;
    const float *wq = NULL, *wqa = NULL, *wqn = NULL, *wkva, *wkvn, *wkvb, *wo;
    char qan[96];
    snprintf(qan, sizeof qan, "layers.%lld.self_attn.q_a_proj.weight", (long long)l);
    int sep = ql && rank_param(R, p, qan) != NULL; /* q_a_proj apart from kv_a_proj_with_mqa */
    if (!q || !a || !c || !kv || !o || !pr || (ql && !qa)) {
        rc = ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
        goto done;
    }
    if (ql && sep) { /* MiniCPM3: q_a_proj and kv_a_proj_with_mqa kept apart */
        wqa = W(R, p, "layers.%lld.self_attn.q_a_proj.weight", l, 1, ql * H, err);
        wkva = W(R, p, "layers.%lld.self_attn.kv_a_proj_with_mqa.weight", l, 1, kva * H, err);
        wqn = W(R, p, "layers.%lld.self_attn.q_a_layernorm.weight", l, 1, ql, err);
        wq = W(R, p, "layers.%lld.self_attn.q_b_proj.weight", l, 1, hq * qk * ql, err);
    } else if (ql) {
        wkva = W(R, p, "layers.%lld.self_attn.fused_qkv_a_proj.weight", l, 1, (ql + kva) * H, err);
        wqn = W(R, p, "layers.%lld.self_attn.q_a_layernorm.weight", l, 1, ql, err);
        wq = W(R, p, "layers.%lld.self_attn.q_b_proj.weight", l, 1, hq * qk * ql, err);
        wqa = wkva;
    } else {
        wq = W(R, p, "layers.%lld.self_attn.q_proj.weight", l, 1, hq * qk * H, err);
        wkva = W(R, p, "layers.%lld.self_attn.kv_a_proj_with_mqa.weight", l, 1, kva * H, err);
    }
    wkvn = W(R, p, "layers.%lld.self_attn.kv_a_layernorm.weight", l, 1, kvl, err);
    wkvb = W(R, p, "layers.%lld.self_attn.kv_b_proj.weight", l, 1, hq * (nope + vh) * kvl, err);
    wo = W(R, p, "layers.%lld.self_attn.o_proj.weight", l, 1, H * hq * vh, err);
    if (!wq || !wkva || !wkvn || !wkvb || !wo || (ql && (!wqa || !wqn))) {
        rc = err->code;
        goto done;
    }
    if (d->index_topk > 0 && (int64_t)T > d->index_topk) {
        rc = ck_err_set(err, CK_EUSAGE, p->cfg->path, "index_topk", CK_NO_OFFSET, "%zu tokens is more than index_topk "
                        "%lld: the sparse attention's selection is not computed by this version (use at most %lld "
                        "tokens; up to there it keeps every token)", T, (long long)d->index_topk,
                        (long long)d->index_topk);
        goto done;
    }
    /* the latent: [q_a |] c_kv | k_pe, replicated on every rank */
    if (sep) { /* two products, laid out as the fused one's */
        float *kvp = fmalloc(d, T * kva * sizeof *kvp);
        if (!kvp) {
            rc = ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
            goto done;
        }
        op_linear(d, h, T, H, wqa, ql, NULL, qa, 0);
        op_linear(d, h, T, H, wkva, kva, NULL, kvp, 0);
        for (size_t t = 0; t < T; t++) {
            memcpy(a + t * (ql + kva), qa + t * ql, ql * sizeof *a);
            memcpy(a + t * (ql + kva) + ql, kvp + t * kva, kva * sizeof *a);
        }
        ffree(d, kvp);
    } else
        op_linear(d, h, T, H, wkva, ql + kva, NULL, a, 0);
    if (ql) {
        for (size_t t = 0; t < T; t++)
            memcpy(qa + t * ql, a + t * (ql + kva), ql * sizeof *qa);
        op_norm(d, qa, T, ql, wqn, qa);
        op_linear(d, qa, T, ql, wq, hq * qk, NULL, q, 0);
    } else
        op_linear(d, h, T, H, wq, hq * qk, NULL, q, 0);
    for (size_t t = 0; t < T; t++)
        memcpy(c + t * kvl, a + t * (ql + kva) + ql, kvl * sizeof *c);
    op_norm(d, c, T, kvl, wkvn, c);
    double inv[ROPE_MAX_PAIRS], af, smul; /* qk_rope <= 2 * ROPE_MAX_PAIRS (dense_dims_of) */
    rope_freqs(p->cfg, rope, d->max_len, inv, &af, &smul);
    rope_host(q, T, hq, qk, nope, rope, inv, af, d->interleaved);
    rope_host(a, T, 1, ql + kva, ql + kvl, rope, inv, af, d->interleaved); /* k_pe, one head shared by all */
    op_linear(d, c, T, kvl, wkvb, hq * (nope + vh), NULL, kv, 0);
    double scale = smul / sqrt((double)qk);
    for (size_t hh = 0; hh < hq; hh++)
        for (size_t t = 0; t < T; t++) {
            const float *qv = q + (t * hq + hh) * qk;
            double mx = -INFINITY, sum = 0;
            for (size_t s2 = 0; s2 <= t; s2++) {
                const float *kn = kv + (s2 * hq + hh) * (nope + vh), *kp = a + s2 * (ql + kva) + ql + kvl;
                double dd = 0;
                for (size_t i = 0; i < nope; i++)
                    dd += (double)qv[i] * kn[i];
                for (size_t i = 0; i < rope; i++)
                    dd += (double)qv[nope + i] * kp[i];
                pr[s2] = dd * scale;
                mx = pr[s2] > mx ? pr[s2] : mx;
            }
            for (size_t s2 = 0; s2 <= t; s2++)
                sum += (pr[s2] = exp(pr[s2] - mx));
            for (size_t i = 0; i < vh; i++) {
                double acc = 0;
                for (size_t s2 = 0; s2 <= t; s2++)
                    acc += pr[s2] * kv[(s2 * hq + hh) * (nope + vh) + nope + i];
                o[(t * hq + hh) * vh + i] = (float)(acc / sum);
            }
        }
    op_linear(d, o, T, hq * vh, wo, H, NULL, x, 1);
done:
    ffree(d, q);
    ffree(d, a);
    ffree(d, c);
    ffree(d, kv);
    ffree(d, o);
    ffree(d, qa);
    ffree(d, pr);
    return rc;
}

/* y = the norm whose weight fmt names (a printf format taking the layer) applied to x, rows of the
 * hidden size, its bias added where the model stores one (StarCoder2's LayerNorms). */
static int norm_named(const plan *p, const dense_dims *d, const rank_load *R0, const char *fmt, int64_t l,
                      const float *x, size_t T, float *y, ck_err *err)
{
    size_t H = (size_t)d->hidden, n = strlen(fmt);
    char bfmt[160];
    const float *w = W(R0, p, fmt, l, 1, H, err), *b = NULL;
    if (!w)
        return err->code;
    if (n > 6 && strcmp(fmt + n - 6, "weight") == 0) {
        snprintf(bfmt, sizeof bfmt, "%.*sbias", (int)(n - 6), fmt);
        if (!(b = W(R0, p, bfmt, l, 0, H, err)) && err->code)
            return err->code;
    }
    op_norm(d, x, T, H, w, y);
    for (size_t t = 0; b && t < T; t++) /* on the host: the device ops wait before they return */
        for (size_t i = 0; i < H; i++)
            y[t * H + i] += b[i];
    return CK_OK;
}

/* x += r * blk, blk normed first by the layer's norm named by fmt where each block's output is
 * normed (Gemma's sandwich, OLMo 2's post norms), r the residual multiplier (Granite); h is scratch. */
static int add_block(const plan *p, const dense_dims *d, const rank_load *R0, const char *fmt, int64_t l,
                     const float *blk, float *h, size_t T, float *x, ck_err *err)
{
    size_t H = (size_t)d->hidden;
    int rc;
    if (d->sandwich || d->post) {
        if ((rc = norm_named(p, d, R0, fmt, l, blk, T, h, err)) != CK_OK)
            return rc;
        blk = h;
    }
    for (size_t i = 0; i < T * H; i++)
        x[i] += (float)(d->residual_mult * blk[i]);
    return CK_OK;
}

/* OLMo 2's q_norm and k_norm over the whole projections: every rank's q (and k) of a token are one
 * vector of heads * head_dim, normed as vLLM's TP-aware RMSNorm gathers them, each rank scaling its
 * slice by its part of the whole weight. a holds each rank's [T, qkv] projection (q, then k, then v). */
static int qk_norm_whole(const plan *p, const dense_dims *d, rank_load *const *R, int64_t l, float *a,
                         size_t T, size_t hq, size_t hkv, const char *qfmt, const char *kfmt, ck_err *err)
{
    int tp = p->layout.tp;
    size_t hd = (size_t)d->head_dim, qkv = (hq + 2 * hkv) * hd;
    if (!d->qk_tp && d->kv_heads % tp != 0) { /* replicated key/value heads do not tile the whole k */
        char name[96];
        snprintf(name, sizeof name, kfmt, (long long)l);
        return ck_err_set(err, CK_EUSAGE, p->rules->path, name, CK_NO_OFFSET, "vLLM loads this layout, but its "
                          "first forward pass raises ValueError: Cannot gather norm of width %lld: a TP-sharded "
                          "input of width %zu does not tile it evenly across %d ranks (replicated or uneven "
                          "sharding). check cannot compute it either: use a --tp that divides "
                          "num_key_value_heads (%lld)", (long long)(d->kv_heads * d->head_dim), hkv * hd, tp,
                          (long long)d->kv_heads);
    }
    for (int part = 0; part < 2; part++) { /* q, then k */
        size_t w = part ? hkv * hd : hq * hd, off = part ? hq * hd : 0, whole = w * (size_t)tp;
        for (size_t t = 0; t < T; t++) {
            double ss = 0;
            for (int r = 0; r < tp; r++)
                for (size_t i = 0; i < w; i++)
                    ss += (double)a[((size_t)r * T + t) * qkv + off + i] * a[((size_t)r * T + t) * qkv + off + i];
            /* the mean over ranks of each one's mean square (replicated heads counted each time) */
            float inv = (float)(1.0 / sqrt(ss / (double)whole + d->eps));
            for (int r = 0; r < tp; r++) {
                const float *nw = W(R[r], p, part ? kfmt : qfmt, l, 1, d->qk_tp ? w : whole, err);
                if (!nw)
                    return err->code;
                if (!d->qk_tp) /* whole on every rank: this rank's part of it */
                    nw += (size_t)r * w;
                float *y = a + ((size_t)r * T + t) * qkv + off;
                for (size_t i = 0; i < w; i++)
                    y[i] = y[i] * inv * (float)(nw[i] + d->norm_off);
            }
        }
    }
    return CK_OK;
}

/* The MLP of one layer on every rank, its row-parallel partial sums into sink: gated (act(gate) *
 * up over mlp_in) or plain (act(mlp_in)); each linear's bias where the model stores one, the
 * row-parallel one once (vLLM adds it on rank 0). */
/* Layer l's dense MLP width on one rank: its own parameter's (Gemma 4's KV-shared layers are twice
 * as wide with use_double_wide_mlp), else the config's. */
static size_t mlp_rows(const plan *p, const dense_dims *d, rank_load *const *R, int64_t l)
{
    char name[128];
    snprintf(name, sizeof name, "layers.%lld.%s.%s.weight", (long long)l, d->mlp_mod, d->mlp_in);
    const load_param *lp = rank_param(RH(d, R), p, name);
    size_t H = (size_t)d->hidden, per = d->plain_mlp ? H : 2 * H;
    return lp && lp->n % per == 0 ? (size_t)(lp->n / per) : (size_t)(d->mlp_inter / p->layout.tp);
}

static int dense_mlp(const plan *p, const dense_dims *d, rank_load *const *R, int64_t l, const float *h, size_t T,
                     float *gu, float *act, float *sink, ck_err *err)
{
    size_t H = (size_t)d->hidden, Il = mlp_rows(p, d, R, l), win = d->plain_mlp ? Il : 2 * Il;
    char fi[96], fib[96], fo[96], fob[96];
    snprintf(fi, sizeof fi, "layers.%%lld.%s.%s.weight", d->mlp_mod, d->mlp_in);
    snprintf(fib, sizeof fib, "layers.%%lld.%s.%s.bias", d->mlp_mod, d->mlp_in);
    snprintf(fo, sizeof fo, "layers.%%lld.%s.%s.weight", d->mlp_mod, d->mlp_out);
    snprintf(fob, sizeof fob, "layers.%%lld.%s.%s.bias", d->mlp_mod, d->mlp_out);
    int tp = p->layout.tp;
    float *parts = parts_new(d, tp, T * H);
    if (!parts)
        return ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    int rc = CK_OK;
    for (int r = 0; r < tp && rc == CK_OK; r++) {
        if (!rank_here(d, r))
            continue;
        const load_param *wi = Wp(R[r], p, fi, l, 1, win * H, err), *wo = Wp(R[r], p, fo, l, 1, H * Il, err);
        const float *bi = W(R[r], p, fib, l, 0, win, err), *bo = r == 0 ? W(R[r], p, fob, l, 0, H, err) : NULL;
        if (!wi || !wo || err->code || (rc = op_linear_lp(d, R[r], h, T, H, wi, 0, win, bi, gu, 0, err)) != CK_OK) {
            rc = err->code;
            break;
        }
        if (d->plain_mlp)
            op_act(d, gu, T * Il, act);
        else
            op_act_mul(d, gu, T, Il, act);
        if ((rc = op_linear_lp(d, R[r], act, T, Il, wo, 0, H, bo, parts + (size_t)r * T * H, 0, err)) != CK_OK)
            break;
    }
    if (rc == CK_OK)
        rc = parts_add(d, parts, tp, T * H, sink, err);
    ffree(d, parts);
    return rc;
}

/* The gated DeltaNet on one TP rank (its key-head groups, their value heads): in_proj_qkvz and
 * in_proj_ba give per group q, k, v, z and b, a (Qwen3-Next), or q, k, v, z and b, a each whole
 * (lin_flat: Qwen3.5, whose conv channels are then the first columns); q, k and v pass the causal depthwise conv1d
 * and SiLU; beta = sigmoid(b), g = -exp(A_log) softplus(a + dt_bias); the gated delta rule over the
 * tokens (each value head reading its group's key head); each head's output RMS-normed, times the
 * norm's weight and silu(z); out_proj's partial sums added into sink. */
static int deltanet_rank(const plan *p, const dense_dims *d, const rank_load *R, int64_t l, const float *h,
                         size_t T, float *sink, ck_err *err)
{
    int tp = p->layout.tp;
    size_t H = (size_t)d->hidden, nk = (size_t)(d->lin_kh / tp), nv = (size_t)(d->lin_vh / tp);
    size_t hk = (size_t)d->lin_kd, hv = (size_t)d->lin_vd, rv = nv / nk, K = (size_t)d->lin_conv;
    size_t grp = 2 * hk + 2 * rv * hv, nqkvz = nk * grp, nba = 2 * nv, conv = 2 * nk * hk + nv * hv;
    const float *wqkvz = W(R, p, "layers.%lld.linear_attn.in_proj_qkvz.weight", l, 1, nqkvz * H, err);
    const float *wba = W(R, p, "layers.%lld.linear_attn.in_proj_ba.weight", l, 1, nba * H, err);
    const float *wc = W(R, p, "layers.%lld.linear_attn.conv1d.weight", l, 1, conv * K, err);
    const float *alog = W(R, p, "layers.%lld.linear_attn.A_log", l, 1, nv, err);
    const float *dtb = W(R, p, "layers.%lld.linear_attn.dt_bias", l, 1, nv, err);
    const float *wn = W(R, p, "layers.%lld.linear_attn.norm.weight", l, 1, hv, err);
    const float *wo = W(R, p, "layers.%lld.linear_attn.out_proj.weight", l, 1, H * nv * hv, err);
    if (!wqkvz || !wba || !wc || !alog || !dtb || !wn || !wo)
        return err->code;
    float *qkvz = fmalloc(d, T * nqkvz * sizeof *qkvz), *ba = fmalloc(d, T * nba * sizeof *ba);
    float *mix = fmalloc(d, T * conv * sizeof *mix), *cv = fmalloc(d, T * conv * sizeof *cv);
    float *qe = fmalloc(d, T * nv * hk * sizeof *qe), *ke = fmalloc(d, T * nv * hk * sizeof *ke);
    float *ve = fmalloc(d, T * nv * hv * sizeof *ve);
    float *g = fmalloc(d, T * nv * sizeof *g), *beta = fmalloc(d, T * nv * sizeof *beta);
    float *o = fmalloc(d, T * nv * hv * sizeof *o);
    int rc = CK_OK;
    if (!qkvz || !ba || !mix || !cv || !qe || !ke || !ve || !g || !beta || !o) {
        rc = ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
        goto done;
    }
    op_linear(d, h, T, H, wqkvz, nqkvz, NULL, qkvz, 0);
    op_linear(d, h, T, H, wba, nba, NULL, ba, 0);
    for (size_t t = 0; d->lin_flat && t < T; t++) /* [q | k | v] as projected */
        memcpy(mix + t * conv, qkvz + t * nqkvz, conv * sizeof *mix);
    for (size_t t = 0; !d->lin_flat && t < T; t++) /* [q | k | v] of every group, in group order (the conv's channels) */
        for (size_t gi = 0; gi < nk; gi++) {
            const float *src = qkvz + t * nqkvz + gi * grp;
            memcpy(mix + t * conv + gi * hk, src, hk * sizeof *mix);
            memcpy(mix + t * conv + nk * hk + gi * hk, src + hk, hk * sizeof *mix);
            memcpy(mix + t * conv + 2 * nk * hk + gi * rv * hv, src + 2 * hk, rv * hv * sizeof *mix);
        }
    for (size_t t = 0; t < T; t++) /* causal depthwise convolution, then SiLU */
        for (size_t c = 0; c < conv; c++) {
            double a = 0;
            for (size_t j = 0; j < K; j++)
                if (t + j + 1 >= K)
                    a += (double)wc[c * K + j] * mix[(t + j + 1 - K) * conv + c];
            cv[t * conv + c] = (float)(a * sigmoid(a));
        }
    for (size_t t = 0; t < T; t++)
        for (size_t hh = 0; hh < nv; hh++) { /* value head hh reads key head hh / rv */
            size_t kh = hh / rv;
            memcpy(qe + (t * nv + hh) * hk, cv + t * conv + kh * hk, hk * sizeof *qe);
            memcpy(ke + (t * nv + hh) * hk, cv + t * conv + nk * hk + kh * hk, hk * sizeof *ke);
            memcpy(ve + (t * nv + hh) * hv, cv + t * conv + 2 * nk * hk + hh * hv, hv * sizeof *ve);
            const float *bg = ba + t * nba + (d->lin_flat ? 0 : (hh / rv) * 2 * rv);
            size_t bi = d->lin_flat ? hh : hh % rv, ai = d->lin_flat ? nv + hh : rv + hh % rv;
            double bv = bg[bi], av = bg[ai] + (double)dtb[hh];
            beta[t * nv + hh] = (float)sigmoid(bv);
            double sp = av > 20 ? av : log1p(exp(av)); /* softplus, torch's threshold */
            g[t * nv + hh] = (float)(-exp((double)alog[hh]) * sp);
        }
    op_gated_delta(d, qe, ke, ve, g, beta, T, nv, hk, hv, o);
    op_rmsnorm(d, o, T * nv, hv, wn, (float)d->eps, o); /* each head, the plain weight (not 1 + w) */
    for (size_t t = 0; t < T; t++)
        for (size_t hh = 0; hh < nv; hh++) { /* times silu(z) */
            float *oh = o + (t * nv + hh) * hv;
            const float *z = qkvz + t * nqkvz + (d->lin_flat ? conv + hh * hv : (hh / rv) * grp + 2 * hk + rv * hv + (hh % rv) * hv);
            for (size_t i = 0; i < hv; i++)
                oh[i] = (float)(oh[i] * z[i] * sigmoid(z[i]));
        }
    op_linear(d, o, T, nv * hv, wo, H, NULL, sink, 1);
done:
    ffree(d, qkvz);
    ffree(d, ba);
    ffree(d, mix);
    ffree(d, cv);
    ffree(d, qe);
    ffree(d, ke);
    ffree(d, ve);
    ffree(d, g);
    ffree(d, beta);
    ffree(d, o);
    return rc;
}

/* The format strings ("layers.%lld.MODULE.LEAF") of n parameters under a layer's module m. */
static void module_params(const char *m, size_t n, const char *const *leaf, char (*out)[128])
{
    for (size_t i = 0; i < n; i++)
        snprintf(out[i], sizeof out[i], "layers.%%lld.%s.%s", m, leaf[i]);
}

/* A Mamba2 mixer (Nemotron-H's M layers) over h, the layer's normed input, each TP rank's out_proj
 * partial sums into parts + r * T * H. A rank holds its heads' share of in_proj, [z | x | B | C | dt]
 * (its groups of B and C where TP divides them, the one group whole where there is one), and of
 * the causal depthwise conv1d over [x | B | C] (bias added, then SiLU); dt = softplus(dt + dt_bias),
 * A = -exp(A_log) (the stored values: vLLM's loader takes the exponent as it loads, ckptdoc here),
 * each head's state s[P][N] from zero: s = exp(dt A) s + dt x B^T, y = s C + D x. y times silu(z),
 * RMS-normed over groups of I / n_groups channels across every rank (vLLM's all-reduce where one
 * group spans them), times the norm's weight, then out_proj. */
static int mamba2_layer(const plan *p, const dense_dims *d, rank_load *const *R, int64_t l, const float *h,
                        size_t T, float *parts, ck_err *err)
{
    int tp = p->layout.tp;
    int64_t NH = d->ssm_heads, P = d->ssm_hd, G = d->ssm_groups, N = d->ssm_state, K = d->ssm_conv;
    int rc0 = ssm_sizes_ok(p, d, l, err);
    if (rc0 != CK_OK)
        return rc0;
    if (d->comm)
        return ck_err_set(err, CK_EUSAGE, p->rules->path, "forward.layer_kind", CK_NO_OFFSET, "a Mamba2 mixer's "
                          "gated norm spans every rank's channels: check it in one process (no mpirun)");
    size_t H = (size_t)d->hidden, nh = (size_t)(NH / tp), hd = (size_t)P, n = (size_t)N, k = (size_t)K;
    size_t Ir = nh * hd, I = (size_t)NH * hd, gr = G % tp == 0 ? (size_t)(G / tp) : 1, hpg = (size_t)(NH / G);
    size_t conv = Ir + 2 * gr * n, rows = 2 * Ir + 2 * gr * n + nh, gs = I / (size_t)G;
    static const char *const leaf[] = {"in_proj.weight", "in_proj.bias", "conv1d.weight", "conv1d.bias", "A", "D",
                                       "dt_bias", "norm.weight", "out_proj.weight", "out_proj.bias"};
    char nm[10][128];
    module_params(d->ssm_mod, 10, leaf, nm);
    const char *fin = nm[0], *fib = nm[1], *fcw = nm[2], *fcb = nm[3], *fa = nm[4], *fd = nm[5], *fdt = nm[6];
    const char *fnw = nm[7], *fo = nm[8], *fob = nm[9];
    float *proj = fmalloc(d, T * rows * sizeof *proj), *cv = fmalloc(d, T * conv * sizeof *cv);
    float *v = fmalloc(d, T * I * sizeof *v), *vr = fmalloc(d, T * Ir * sizeof *vr);
    double *st = malloc(hd * n * sizeof *st);
    int rc = proj && cv && v && vr && st ? CK_OK : ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET,
                                                              "out of memory");
    for (int r = 0; rc == CK_OK && r < tp; r++) { /* each rank's heads: y times silu(z), into v */
        const load_param *win = Wp(R[r], p, fin, l, 1, rows * H, err);
        const float *bin = W(R[r], p, fib, l, 0, rows, err), *wc = W(R[r], p, fcw, l, 1, conv * k, err);
        const float *bc = W(R[r], p, fcb, l, 0, conv, err), *alog = W(R[r], p, fa, l, 1, nh, err);
        const float *dd = W(R[r], p, fd, l, 1, nh, err), *dtb = W(R[r], p, fdt, l, 1, nh, err);
        if (!win || !wc || !alog || !dd || !dtb || err->code ||
            (rc = op_linear_lp(d, R[r], h, T, H, win, 0, rows, bin, proj, 0, err)) != CK_OK) {
            rc = err->code;
            break;
        }
        for (size_t t = 0; t < T; t++) /* causal depthwise convolution over [x | B | C], then SiLU */
            for (size_t c = 0; c < conv; c++) {
                double a = bc ? bc[c] : 0;
                for (size_t j = 0; j < k; j++)
                    if (t + j + 1 >= k)
                        a += (double)wc[c * k + j] * proj[(t + j + 1 - k) * rows + Ir + c];
                cv[t * conv + c] = (float)(a * sigmoid(a));
            }
        for (size_t hh = 0; hh < nh; hh++) {
            size_t lg = G % tp == 0 ? (r * nh + hh) / hpg - (size_t)r * gr : 0; /* the head's group on this rank */
            double A = -exp((double)alog[hh]);
            memset(st, 0, hd * n * sizeof *st);
            for (size_t t = 0; t < T; t++) {
                double raw = (double)proj[t * rows + 2 * Ir + 2 * gr * n + hh] + dtb[hh];
                double dt = raw > 20 ? raw : log1p(exp(raw)), da = exp(dt * A); /* softplus, torch's threshold */
                const float *xh = cv + t * conv + hh * hd, *B = cv + t * conv + Ir + lg * n;
                const float *C = cv + t * conv + Ir + gr * n + lg * n, *z = proj + t * rows + hh * hd;
                for (size_t q = 0; q < hd; q++) {
                    double y = 0;
                    for (size_t j = 0; j < n; j++) {
                        st[q * n + j] = da * st[q * n + j] + dt * B[j] * xh[q];
                        y += C[j] * st[q * n + j];
                    }
                    y += (double)dd[hh] * xh[q];
                    v[t * I + (size_t)r * Ir + hh * hd + q] = (float)(y * z[q] * sigmoid(z[q]));
                }
            }
        }
    }
    for (size_t t = 0; rc == CK_OK && t < T; t++) /* RMS over each group of I / n_groups channels */
        for (size_t g0 = 0; g0 < I; g0 += gs) {
            double ss = 0;
            for (size_t i = 0; i < gs; i++)
                ss += (double)v[t * I + g0 + i] * v[t * I + g0 + i];
            double sc = 1.0 / sqrt(ss / (double)gs + d->eps);
            for (size_t i = 0; i < gs; i++)
                v[t * I + g0 + i] = (float)(v[t * I + g0 + i] * sc);
        }
    for (int r = 0; rc == CK_OK && r < tp; r++) { /* the norm's weight, then out_proj's partial sums */
        const float *wn = W(R[r], p, fnw, l, 1, Ir, err);
        const load_param *wo = Wp(R[r], p, fo, l, 1, H * Ir, err);
        const float *bo = r == 0 ? W(R[r], p, fob, l, 0, H, err) : NULL;
        if (!wn || !wo || err->code) {
            rc = err->code;
            break;
        }
        for (size_t t = 0; t < T; t++)
            for (size_t i = 0; i < Ir; i++)
                vr[t * Ir + i] = v[t * I + (size_t)r * Ir + i] * wn[i];
        rc = op_linear_lp(d, R[r], vr, T, Ir, wo, 0, H, bo, parts + (size_t)r * T * H, 0, err);
    }
    free(st);
    ffree(d, proj);
    ffree(d, cv);
    ffree(d, v);
    ffree(d, vr);
    return rc;
}

/* LFM2's short convolution over h, the layer's normed input, each TP rank's out_proj partial sums
 * into parts + r * T * H. A rank holds its channels' share of in_proj's three parts [B | C | x]
 * (conv_dim each, so each a third of its rows), of the depthwise conv weight [c, 1, taps] and of
 * out_proj's input: y = C * conv(B * x), the convolution causal over the tokens (tap taps - 1 the
 * current token), its bias added where there is one. */
static int short_conv_layer(const plan *p, const dense_dims *d, rank_load *const *R, int64_t l, const float *h,
                            size_t T, float *parts, ck_err *err)
{
    int tp = p->layout.tp;
    size_t H = (size_t)d->hidden, k = (size_t)d->ssm_conv;
    static const char *const leaf[] = {"in_proj.weight", "in_proj.bias", "conv.weight", "conv.bias",
                                       "out_proj.weight", "out_proj.bias"};
    char nm[6][128];
    module_params(d->ssm_mod, 6, leaf, nm);
    const char *fin = nm[0], *fib = nm[1], *fcw = nm[2], *fcb = nm[3], *fo = nm[4], *fob = nm[5];
    int rc = CK_OK;
    for (int r = 0; rc == CK_OK && r < tp; r++) {
        char name[160];
        snprintf(name, sizeof name, fin, (long long)l);
        const load_param *win = rank_param(R[r], p, name);
        if (!win || win->n % (3 * H) || k == 0) {
            rc = ck_err_set(err, CK_EUSAGE, p->rules->path, "forward.layer_kind", CK_NO_OFFSET, "layer %lld: TP "
                            "rank %d has no %s of three parts over the hidden size %zu, which a short_conv "
                            "layer reads (with forward.ssm_conv taps, %zu)", (long long)l, r, name, H, k);
            break;
        }
        size_t c = win->n / (3 * H); /* this rank's channels */
        float *proj = fmalloc(d, T * 3 * c * sizeof *proj), *y = fmalloc(d, T * c * sizeof *y);
        const float *bin = W(R[r], p, fib, l, 0, 3 * c, err), *wc = W(R[r], p, fcw, l, 1, c * k, err);
        const float *bc = W(R[r], p, fcb, l, 0, c, err);
        const load_param *wo = Wp(R[r], p, fo, l, 1, H * c, err);
        const float *bo = r == 0 ? W(R[r], p, fob, l, 0, H, err) : NULL;
        if (!proj || !y)
            rc = ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
        else if (!wc || !wo || err->code)
            rc = err->code;
        else if ((rc = op_linear_lp(d, R[r], h, T, H, win, 0, 3 * c, bin, proj, 0, err)) == CK_OK) {
            for (size_t t = 0; t < T; t++) /* B * x, the convolution's input, in place of B */
                for (size_t i = 0; i < c; i++)
                    proj[t * 3 * c + i] *= proj[t * 3 * c + 2 * c + i];
            for (size_t t = 0; t < T; t++)
                for (size_t i = 0; i < c; i++) {
                    double a = bc ? bc[i] : 0;
                    for (size_t j = 0; j < k; j++)
                        if (t + j + 1 >= k)
                            a += (double)wc[i * k + j] * proj[(t + j + 1 - k) * 3 * c + i];
                    y[t * c + i] = (float)(a * proj[t * 3 * c + c + i]); /* times C */
                }
            rc = op_linear_lp(d, R[r], y, T, c, wo, 0, H, bo, parts + (size_t)r * T * H, 0, err);
        }
        ffree(d, proj);
        ffree(d, y);
    }
    return rc;
}

/* Gemma 4's feed-forward block, routed experts beside the dense MLP: the MLP of h (the stream
 * normed by pre_feedforward_layernorm) normed by post_feedforward_layernorm_1, plus the experts of
 * the stream normed by pre_feedforward_layernorm_2 (routed by the stream itself) normed by
 * post_feedforward_layernorm_2; their sum normed by post_feedforward_layernorm and added to x.
 * blk (the block's sums) and h are scratch of [T, H]. */
static int beside_block(const plan *p, const dense_dims *d, rank_load *const *R, int64_t l, float *h, float *x,
                        size_t T, float *gu, float *act, float *blk, ck_err *err)
{
    size_t H = (size_t)d->hidden;
    if (!blk)
        return ck_err_set(err, CK_EUSAGE, p->rules->path, "forward.experts_beside", CK_NO_OFFSET, "experts beside "
                          "the MLP are computed in a sandwich block only (forward.block)");
    float *h2 = fmalloc(d, T * H * sizeof *h2), *b2 = fcalloc(d, T * H, sizeof *b2);
    int rc = h2 && b2 ? CK_OK : ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    if (rc == CK_OK && (rc = dense_mlp(p, d, R, l, h, T, gu, act, blk, err)) == CK_OK &&
        (rc = norm_named(p, d, RH(d, R), "layers.%lld.post_feedforward_layernorm_1.weight", l, blk, T, h, err)) == CK_OK &&
        (rc = norm_named(p, d, RH(d, R), "layers.%lld.pre_feedforward_layernorm_2.weight", l, x, T, h2, err)) == CK_OK &&
        (rc = moe_block(p, d, R, l, x, h2, T, b2, err)) == CK_OK &&
        (rc = norm_named(p, d, RH(d, R), "layers.%lld.post_feedforward_layernorm_2.weight", l, b2, T, blk, err)) == CK_OK) {
        for (size_t i = 0; i < T * H; i++)
            blk[i] += h[i];
        rc = add_block(p, d, RH(d, R), d->n_post_mlp, l, blk, h, T, x, err);
    }
    ffree(d, h2);
    ffree(d, b2);
    return rc;
}

/* Gemma 4's per-layer input, after the layer's blocks: x += post_per_layer_input_norm of
 * per_layer_projection(act(per_layer_input_gate(x)) times the layer's slice of the per-layer
 * inputs) (both linears replicated). */
static int per_layer_input(const plan *p, const dense_dims *d, rank_load *const *R, int64_t l, float *x, size_t T,
                           ck_err *err)
{
    size_t H = (size_t)d->hidden, P = (size_t)d->ple, L = d->pass ? (size_t)d->pass->layers : 0;
    if (!d->pass || !d->pass->ple)
        return ck_err_set(err, CK_EUSAGE, p->rules->path, "forward.per_layer_input", CK_NO_OFFSET, "layer %lld "
                          "needs the per-layer inputs, which a whole pass makes from the tokens: check it in one "
                          "process (no mpirun), not layer by layer", (long long)l);
    const float *wg = W(RH(d, R), p, "layers.%lld.per_layer_input_gate.weight", l, 1, P * H, err);
    const float *wp = wg ? W(RH(d, R), p, "layers.%lld.per_layer_projection.weight", l, 1, H * P, err) : NULL;
    if (!wg || !wp)
        return err->code;
    float *g = fmalloc(d, T * P * sizeof *g), *ga = fmalloc(d, T * P * sizeof *ga);
    float *c = fmalloc(d, T * H * sizeof *c), *cn = fmalloc(d, T * H * sizeof *cn);
    int rc = g && ga && c && cn ? CK_OK : ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    if (rc == CK_OK) {
        op_linear(d, x, T, H, wg, P, NULL, g, 0);
        op_act(d, g, T * P, ga);
        for (size_t t = 0; t < T; t++)
            for (size_t j = 0; j < P; j++)
                ga[t * P + j] *= d->pass->ple[(t * L + (size_t)l) * P + j];
        op_linear(d, ga, T, P, wp, H, NULL, c, 0);
        if ((rc = norm_named(p, d, RH(d, R), "layers.%lld.post_per_layer_input_norm.weight", l, c, T, cn, err)) ==
            CK_OK)
            for (size_t i = 0; i < T * H; i++)
                x[i] += cn[i];
    }
    ffree(d, g);
    ffree(d, ga);
    ffree(d, c);
    ffree(d, cn);
    return rc;
}

static int layer_pass(const plan *p, const dense_dims *d, rank_load *const *R, int64_t l, float *x, int T,
                      float *after_attn, ck_err *err)
{
    int tp = p->layout.tp;
    int64_t hd_l = d->head_dim, kv_l = d->kv_heads, src = -1; /* Gemma 4: the layer's own, and whose K/V it reads */
    int64_t vd_l = -1; /* MiMo-V2-Flash: value heads of their own width (-1: the layer's head_dim) */
    if (d->per_layer_dims || d->kv_share) {
        int prc;
        if ((prc = fwd_layer_int(p, FWD_HEAD_DIM, l, d->head_dim, &hd_l, err)) ||
            (prc = fwd_layer_int(p, FWD_KV_HEADS, l, d->kv_heads, &kv_l, err)) ||
            (prc = fwd_layer_int(p, FWD_KV_SOURCE, l, -1, &src, err)) ||
            (d->v_dims && (prc = fwd_layer_int(p, FWD_V_HEAD_DIM, l, hd_l, &vd_l, err))))
            return prc;
        if (d->v_dims && (vd_l < 1 || vd_l > 2 * ROPE_MAX_PAIRS))
            return ck_err_set(err, CK_EUSAGE, p->cfg->path, "v_head_dim", CK_NO_OFFSET, "layer %lld: value heads "
                              "%lld wide (rules %s's forward v_head_dim for this config.json): check computes 1 to "
                              "%d", (long long)l, (long long)vd_l, p->rules->name, 2 * ROPE_MAX_PAIRS);
        if (hd_l < 2 || hd_l % 2 || hd_l > 2 * ROPE_MAX_PAIRS || kv_l < 1 || src >= l)
            return ck_err_set(err, CK_EUSAGE, p->cfg->path, "head_dim", CK_NO_OFFSET, "layer %lld: head_dim %lld, "
                              "%lld key-value heads, keys and values from layer %lld (what rules %s's forward "
                              "head_dim, kv_heads and kv_source make of this config.json): check computes an even "
                              "head_dim up to %d, at least one key-value head and keys from an earlier layer; check "
                              "the config's head dims (head_dim, global_head_dim, per_layer_config) and "
                              "num_kv_shared_layers", (long long)l, (long long)hd_l, (long long)kv_l, (long long)src,
                              p->rules->name, 2 * ROPE_MAX_PAIRS);
        if (src >= 0 && (!d->pass || !d->pass->k))
            return ck_err_set(err, CK_EUSAGE, p->rules->path, "forward.kv_source", CK_NO_OFFSET, "layer %lld reads "
                              "the keys and values of layer %lld, which a whole pass hands on: check it in one "
                              "process (no mpirun), not layer by layer", (long long)l, (long long)src);
    }
    int kind_mamba = 0, kind_attn = 0, kind_mlp = 0, kind_conv = 0; /* Nemotron-H: the layer's one mixer */
    int then_mlp = 0; /* GraniteMoeHybrid: the MLP block after the mixer */
    if (d->kinds) {
        int kind, krc = layer_kind(p, l, &kind, err);
        if (krc == CK_OK)
            krc = fwd_layer_flag(p, FWD_LAYER_MLP, l, 0, &then_mlp, err);
        if (krc != CK_OK)
            return krc;
        kind_mamba = kind == 1;
        kind_attn = kind == 2;
        kind_conv = kind == 5;
        kind_mlp = kind == 3 || kind == 4; /* the MLP block: dense, or the experts where the layer has them */
    }
    size_t H = (size_t)d->hidden, hd = (size_t)hd_l, Tz = (size_t)T, vd = vd_l > 0 ? (size_t)vd_l : hd;
    size_t D = vd > hd ? vd : hd; /* the width the attention runs at: q, k and v zero-padded to it */
    size_t hq = (size_t)(d->heads / tp), hkv = (size_t)(kv_l >= tp ? kv_l / tp : 1);
    size_t Il = (size_t)((d->inter > d->mlp_inter ? d->inter : d->mlp_inter) / tp), Ilw = mlp_rows(p, d, R, l);
    Il = Ilw > Il ? Ilw : Il;
    /* Qwen3-Next: a gate beside each query head; a layer reading another's keys and values: q alone */
    size_t qkv = src >= 0 ? hq * hd : (hq * (d->attn_gate ? 2 : 1) + hkv) * hd + hkv * vd;
    float *h = fmalloc(d, Tz * H * sizeof *h), *a = fmalloc(d, (size_t)tp * Tz * qkv * sizeof *a);
    float *q = fmalloc(d, Tz * hq * hd * sizeof *q);
    float *k = fmalloc(d, Tz * hkv * hd * sizeof *k), *v = fmalloc(d, Tz * hkv * vd * sizeof *v);
    float *o = fmalloc(d, Tz * hq * vd * sizeof *o), *gu = fmalloc(d, Tz * 2 * Il * sizeof *gu);
    int gated = d->attn_gate || d->gate_mod[0]; /* the attention's output times sigmoid(gate) */
    float *gate = gated ? fmalloc(d, Tz * hq * vd * sizeof *gate) : NULL;
    float *pad = D != hd || D != vd ? fmalloc(d, Tz * (hq + 2 * hkv + hq) * D * sizeof *pad) : NULL; /* q, k, v, o at D */
    for (int r = 0; r < tp; r++) /* the floats of the last layer's compact matrices are free again */
        rank_scratch_reset(R[r]);
    float *one = d->qk_l2 || d->v_norm ? fmalloc(d, D * sizeof *one) : NULL; /* weightless norms (Llama 4's
                                                                              * q/k, Gemma 4's v) */
    float *act = fmalloc(d, Tz * Il * sizeof *act);
    /* sandwich or post norms: each block's output, summed over the ranks, normed before it is added */
    int own = d->sandwich || d->post || d->residual_mult != 1 || d->moe_average; /* a block's output kept apart
                                                                                * before it is added */
    float *blk = own ? fmalloc(d, Tz * H * sizeof *blk) : NULL;
    float *sink = own ? blk : x; /* where the row-parallel partial sums go */
    float *parts = parts_new(d, tp, Tz * H); /* the attention's, each rank's apart */
    int rc = CK_OK;
    fwd_attn_opts ao = {d->attn_scale, d->attn_softcap, 0, 0, NULL};
    char aq[96], ab[96], ao_w[96], ao_b[96], aqn[96], akn[96], asn[96]; /* the attention's parameters */
    snprintf(aq, sizeof aq, "layers.%%lld.%s.%s.weight", d->attn_mod, src >= 0 ? "q_proj" : "qkv_proj");
    snprintf(ab, sizeof ab, "layers.%%lld.%s.%s.bias", d->attn_mod, src >= 0 ? "q_proj" : "qkv_proj");
    snprintf(ao_w, sizeof ao_w, "layers.%%lld.%s.%s.weight", d->attn_mod, d->o_proj);
    snprintf(ao_b, sizeof ao_b, "layers.%%lld.%s.%s.bias", d->attn_mod, d->o_proj);
    snprintf(aqn, sizeof aqn, "layers.%%lld.%s.%s.weight", d->attn_mod, d->q_norm);
    snprintf(akn, sizeof akn, "layers.%%lld.%s.%s.weight", d->attn_mod, d->k_norm);
    snprintf(asn, sizeof asn, "layers.%%lld.%s.%s", d->attn_mod, d->sinks);
    char agw[128]; /* AFMoE: the attention's own gate, column-parallel by heads */
    snprintf(agw, sizeof agw, "layers.%%lld.%s.%s.weight", d->attn_mod, d->gate_mod);
    if (!h || !a || !q || !k || !v || !o || !gu || !act || !parts || (own && !blk) || (gated && !gate) ||
        ((D != hd || D != vd) && !pad) ||
        ((d->qk_l2 || d->v_norm) && !one)) {
        rc = ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
        goto done;
    }
    for (size_t i = 0; one && i < D; i++)
        one[i] = 1.0f;
    if (kind_mamba || kind_conv) { /* x += the Mamba2 mixer (or LFM2's short convolution) of the normed
                                    * stream, its ranks' partial sums added (times the residual multiplier) */
        if (blk)
            memset(blk, 0, Tz * H * sizeof *blk);
        if ((rc = norm_named(p, d, RH(d, R), d->n_input, l, x, Tz, h, err)) == CK_OK &&
            (rc = kind_conv ? short_conv_layer(p, d, R, l, h, Tz, parts, err)
                            : mamba2_layer(p, d, R, l, h, Tz, parts, err)) == CK_OK &&
            (rc = parts_add(d, parts, tp, Tz * H, sink, err)) == CK_OK && blk)
            rc = add_block(p, d, RH(d, R), d->n_post_attn, l, blk, h, Tz, x, err);
        if (rc == CK_OK && after_attn) /* the mixer stands where the attention block does */
            memcpy(after_attn, x, Tz * H * sizeof *x);
        if (rc != CK_OK || !then_mlp)
            goto done;
        goto mlp_block;
    }
    double inv[ROPE_MAX_PAIRS], af, smul; /* d->rot <= 2 * ROPE_MAX_PAIRS (dense_dims_of) */
    size_t rot = d->prop ? hd : (size_t)d->rot; /* Gemma 4: every pair of the layer's head (some still) */
    if (!d->mla && (rot > hd || rot > 2 * ROPE_MAX_PAIRS || rot % 2)) {
        rc = ck_err_set(err, CK_EUSAGE, p->cfg->path, "head_dim", CK_NO_OFFSET, "layer %lld: %zu rotary dims of a "
                        "%zu-wide head: this version rotates an even number of them, up to the head's width and %d",
                        (long long)l, rot, hd, 2 * ROPE_MAX_PAIRS);
        goto done;
    }
    int rotates, slides, chunks; /* the rules' per-layer "rope", "sliding" and "chunked" */
    if ((rc = fwd_layer_flag(p, FWD_ROPE_LAYERS, l, 1, &rotates, err)) != CK_OK ||
        (rc = fwd_layer_flag(p, FWD_SLIDING, l, 1, &slides, err)) != CK_OK ||
        (rc = fwd_layer_flag(p, FWD_CHUNKED, l, 1, &chunks, err)) != CK_OK)
        goto done;
    ao.window = slides ? (size_t)d->window : 0;
    ao.chunk = chunks ? (size_t)d->chunk : 0;
    if (!rotates && d->temp_floor > 0 && (double)Tz >= d->temp_floor) {
        rc = ck_err_set(err, CK_EUSAGE, p->cfg->path, "attn_temperature_tuning", CK_NO_OFFSET, "%zu tokens reach "
                        "position floor_scale - 1 = %.0f, from which Llama 4's attention temperature tuning scales q "
                        "on the layers without rotary: not computed by this version; check fewer tokens", Tz,
                        d->temp_floor - 1);
        goto done;
    }
    if (ao.window && (p->cfg->has_rope_local || d->slide_plain || d->slide_theta > 0)) { /* Gemma 3: the sliding
                                                        * layers' own rotary; OLMo 3: plain rotary; MiMo-V2-Flash:
                                                        * plain rotary at swa_rope_theta */
        ck_config lc = *p->cfg;
        if (d->slide_theta > 0) {
            lc.rope_theta = d->slide_theta;
            lc.rope_factor = 1;
        } else if (p->cfg->has_rope_local) {
            lc.rope_theta = lc.rope_theta_local;
            lc.rope_factor = lc.rope_factor_local;
        }
        snprintf(lc.rope_type, sizeof lc.rope_type, "%s", p->cfg->has_rope_local && d->slide_theta <= 0 ?
                 lc.rope_type_local : "default");
        rope_freqs(&lc, rot, d->max_len, inv, &af, &smul);
    } else if (d->prop) { /* Gemma 4's full attention: the first partial_rotary_factor of the pairs turn by
                           * theta^(-2i / head_dim) (over factor), the others not */
        double part = p->cfg->rope_partial > 0 ? p->cfg->rope_partial : 1.0;
        size_t turn = (size_t)floor(part * (double)hd / 2.0);
        double fac = p->cfg->rope_factor > 0 ? p->cfg->rope_factor : 1.0;
        for (size_t i = 0; i < hd / 2; i++)
            inv[i] = i < turn ? 1.0 / pow(d->theta, (double)(2 * i) / (double)hd) / fac : 0.0;
        af = smul = 1;
    } else
        rope_freqs(p->cfg, rot, d->max_len, inv, &af, &smul); /* yarn and longrope scale cos/sin by af */
    if (kind_mlp) { /* no attention: the stream after it is the one entering the layer */
        if (after_attn)
            memcpy(after_attn, x, Tz * H * sizeof *x);
        goto mlp_block;
    }
    /* attention: every rank its heads, o_proj partial sums added; OLMo 2 reads x as it is */
    if (d->post)
        memcpy(h, x, Tz * H * sizeof *h);
    else if ((rc = norm_named(p, d, RH(d, R), d->n_input, l, x, Tz, h, err)) != CK_OK)
        goto done;
    if (blk)
        memset(blk, 0, Tz * H * sizeof *blk);
    for (int r = 0; d->mla && r < tp; r++)
        if (rank_here(d, r) && (rc = mla_rank(p, d, R[r], l, h, Tz, parts + (size_t)r * Tz * H, err)) != CK_OK)
            goto done;
    char lin[96]; /* Qwen3-Next: a layer with a gated DeltaNet in place of attention */
    snprintf(lin, sizeof lin, "layers.%lld.linear_attn.in_proj_qkvz.weight", (long long)l);
    int linear = d->deltanet && rank_param(RH(d, R), p, lin);
    for (int r = 0; linear && r < tp; r++)
        if (rank_here(d, r) && (rc = deltanet_rank(p, d, R[r], l, h, Tz, parts + (size_t)r * Tz * H, err)) != CK_OK)
            goto done;
    if (!d->mla && d->qk_whole && d->comm) {
        rc = ck_err_set(err, CK_EUSAGE, p->rules->path, "forward.qk_norm", CK_NO_OFFSET, "q_norm and k_norm over "
                        "the whole projections (OLMo 2) need every rank's q and k: check it in one process (no "
                        "mpirun)");
        goto done;
    }
    for (int r = 0; !d->mla && !linear && r < tp; r++) {
        if (!rank_here(d, r))
            continue;
        const load_param *wqkv = Wp(R[r], p, aq, l, 1, qkv * H, err);
        const float *bqkv = W(R[r], p, ab, l, 0, qkv, err);
        if (!wqkv || err->code ||
            (rc = op_linear_lp(d, R[r], h, Tz, H, wqkv, 0, qkv, bqkv, a + (size_t)r * Tz * qkv, 0, err)) != CK_OK) {
            rc = err->code; /* the products all made before any is normed */
            goto done;
        }
    }
    if (!d->mla && d->qk_whole && (rc = qk_norm_whole(p, d, R, l, a, Tz, hq, hkv, aqn, akn, err)) != CK_OK)
        goto done;
    for (int r = 0; !d->mla && !linear && r < tp; r++) {
        if (!rank_here(d, r))
            continue;
        const load_param *wo = Wp(R[r], p, ao_w, l, 1, H * hq * vd, err);
        /* a row-parallel o_proj's bias is whole on every rank and added once (vLLM: by rank 0) */
        const float *bo = r == 0 ? W(R[r], p, ao_b, l, 0, H, err) : NULL;
        ao.sinks = W(R[r], p, asn, l, 0, hq, err); /* gpt-oss: this rank's heads' sink logits */
        if (!wo || err->code) {
            rc = err->code;
            goto done;
        }
        const float *ar = a + (size_t)r * Tz * qkv; /* this rank's q/k/v projection */
        size_t qw = d->attn_gate ? 2 * hq * hd : hq * hd; /* the query part: [q, gate] per head when gated */
        for (size_t t = 0; t < Tz; t++) {
            if (d->attn_gate)
                for (size_t j = 0; j < hq; j++) {
                    memcpy(q + (t * hq + j) * hd, ar + t * qkv + j * 2 * hd, hd * sizeof *q);
                    memcpy(gate + (t * hq + j) * hd, ar + t * qkv + j * 2 * hd + hd, hd * sizeof *gate);
                }
            else
                memcpy(q + t * hq * hd, ar + t * qkv, hq * hd * sizeof *q);
            if (src >= 0)
                continue; /* keys and values of an earlier layer (below) */
            memcpy(k + t * hkv * hd, ar + t * qkv + qw, hkv * hd * sizeof *k);
            memcpy(v + t * hkv * vd, ar + t * qkv + qw + hkv * hd, hkv * vd * sizeof *v);
        }
        /* Qwen3: RMSNorm over each head of q and k before the rotation, one weight for all heads */
        char qname[96];
        snprintf(qname, sizeof qname, aqn, (long long)l);
        const load_param *qp = rank_param(R[r], p, qname);
        if (!d->qk_whole && qp && hq > 1 && qp->n == hq * hd) {
            rc = ck_err_set(err, CK_EUSAGE, p->rules->path, qname, CK_NO_OFFSET, "q_norm and k_norm hold a "
                            "weight per head (Cohere's use_qk_norm): this version computes one weight shared "
                            "by every head; check cannot compute this model (lint still applies)");
            goto done;
        }
        const float *qn = d->qk_whole ? NULL : W(R[r], p, aqn, l, 0, hd, err);
        const float *kn = d->qk_whole || src >= 0 ? NULL : W(R[r], p, akn, l, 0, hd, err);
        if ((!qn || !kn) && err->code) {
            rc = err->code;
            goto done;
        }
        size_t own_k = src >= 0 ? 0 : hkv; /* the k heads this layer makes (none where it reads another's) */
        if (qn && (kn || src >= 0)) {
            op_norm(d, q, Tz * hq, hd, qn, q);
            if (kn)
                op_norm(d, k, Tz * hkv, hd, kn, k);
        }
        if (rotates && d->interleaved) { /* GPT-J / Cohere pairs, on the host (managed memory on a device) */
            rope_host(q, Tz, hq, hd, 0, rot, inv, af, 1);
            if (own_k)
                rope_host(k, Tz, hkv, hd, 0, rot, inv, af, 1);
        } else if (rotates) {
            op_rope_freqs(d, q, Tz, hq, hd, rot, inv);
            if (own_k)
                op_rope_freqs(d, k, Tz, hkv, hd, rot, inv);
            if (af != 1) /* yarn: cos and sin times its attention factor, the rotated dims scaled */
                for (size_t t = 0; t < Tz; t++) {
                    for (size_t j = 0; j < hq; j++)
                        for (size_t i = 0; i < rot; i++)
                            q[(t * hq + j) * hd + i] = (float)(q[(t * hq + j) * hd + i] * af);
                    for (size_t j = 0; j < own_k; j++)
                        for (size_t i = 0; i < rot; i++)
                            k[(t * hkv + j) * hd + i] = (float)(k[(t * hkv + j) * hd + i] * af);
                }
        }
        if (rotates && d->qk_l2) { /* Llama 4: each head of q and k RMS-normed, no weight, after the rotary */
            op_rmsnorm(d, q, Tz * hq, hd, one, (float)d->eps, q);
            if (own_k)
                op_rmsnorm(d, k, Tz * hkv, hd, one, (float)d->eps, k);
        }
        if (d->v_norm && own_k) /* Gemma 4: each value head RMS-normed, no weight */
            op_rmsnorm(d, v, Tz * hkv, vd, one, (float)d->eps, v);
        for (size_t i = 0; d->v_scale != 1 && own_k && i < Tz * hkv * vd; i++) /* MiMo-V2-Flash's value scale */
            v[i] = (float)(v[i] * d->v_scale);
        struct fwd_pass *fp = d->pass;
        size_t kvn = Tz * hkv * hd, slot = (size_t)(src >= 0 ? src : l) * (size_t)tp + (size_t)r;
        if (src >= 0) { /* Gemma 4's KV sharing: the earlier layer's keys and values, as it used them */
            if (!fp->k[slot]) {
                rc = ck_err_set(err, CK_EUSAGE, p->rules->path, "forward.kv_source", CK_NO_OFFSET, "layer %lld "
                                "reads layer %lld's keys and values, which this process did not compute (another "
                                "process's pipeline stage): check it in one process (no mpirun)", (long long)l,
                                (long long)src);
                goto done;
            }
            if (fp->n[slot] != kvn) {
                rc = ck_err_set(err, CK_EFORMAT, p->rules->path, "forward.kv_source", CK_NO_OFFSET, "layer %lld "
                                "reads layer %lld's keys and values, whose heads (%zu values on TP rank %d) are "
                                "not this layer's (%zu): the rules' head_dim and kv_heads disagree", (long long)l,
                                (long long)src, fp->n[slot], r, kvn);
                goto done;
            }
            memcpy(k, fp->k[slot], kvn * sizeof *k);
            memcpy(v, fp->v[slot], kvn * sizeof *v);
        } else if (fp && fp->k && (size_t)l < (size_t)fp->layers && fp->keep[l]) { /* kept for the layers that
                                                                                     * read them */
            ffree(d, fp->k[slot]);
            ffree(d, fp->v[slot]);
            fp->k[slot] = fmalloc(d, kvn * sizeof *k);
            fp->v[slot] = fmalloc(d, kvn * sizeof *v);
            if (!fp->k[slot] || !fp->v[slot]) {
                rc = ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
                goto done;
            }
            memcpy(fp->k[slot], k, kvn * sizeof *k);
            memcpy(fp->v[slot], v, kvn * sizeof *v);
            fp->n[slot] = kvn;
        }
        if (pad) { /* values of another width than queries and keys: each head zero-padded to D, the
                    * scores still over the queries' width, the output cut back to the values' */
            float *pq = pad, *pk = pq + Tz * hq * D, *pv = pk + Tz * hkv * D, *pout = pv + Tz * hkv * D;
            memset(pad, 0, Tz * (2 * hq + 2 * hkv) * D * sizeof *pad);
            for (size_t j = 0; j < Tz * hq; j++)
                memcpy(pq + j * D, q + j * hd, hd * sizeof *q);
            for (size_t j = 0; j < Tz * hkv; j++) {
                memcpy(pk + j * D, k + j * hd, hd * sizeof *k);
                memcpy(pv + j * D, v + j * vd, vd * sizeof *v);
            }
            fwd_attn_opts pao = ao;
            if (pao.scale == 0)
                pao.scale = 1.0 / sqrt((double)hd);
            op_attention(d, pq, pk, pv, Tz, hq, hkv, D, &pao, pout);
            for (size_t j = 0; j < Tz * hq; j++)
                memcpy(o + j * vd, pout + j * D, vd * sizeof *o);
        } else
            op_attention(d, q, k, v, Tz, hq, hkv, hd, &ao, o);
        if (d->gate_mod[0]) { /* AFMoE: this rank's heads of gate_proj(h) */
            const load_param *wg = Wp(R[r], p, agw, l, 1, hq * vd * H, err);
            if (!wg || err->code) {
                rc = err->code;
                goto done;
            }
            if ((rc = op_linear_lp(d, R[r], h, Tz, H, wg, 0, hq * vd, NULL, gate, 0, err)) != CK_OK)
                goto done;
        }
        for (size_t i = 0; gated && i < Tz * hq * vd; i++) /* Qwen3-Next, AFMoE: times sigmoid(gate) */
            o[i] = (float)(o[i] * sigmoid(gate[i]));
        if ((rc = op_linear_lp(d, R[r], o, Tz, hq * vd, wo, 0, H, bo, parts + (size_t)r * Tz * H, 0, err)) != CK_OK)
            goto done;
    }
    if ((rc = parts_add(d, parts, tp, Tz * H, sink, err)) != CK_OK)
        goto done;
    if (blk && (rc = add_block(p, d, RH(d, R), d->n_post_attn, l, blk, h, Tz, x, err)))
        goto done;
    if (after_attn)
        memcpy(after_attn, x, Tz * H * sizeof *x);
    if (kind_attn && !then_mlp)
        goto done; /* the layer's one mixer */
mlp_block:
    /* MLP: gate_up column-parallel, down_proj row-parallel partial sums added (or the experts); a
     * parallel block's MLP reads what the attention read (h, the layer's one norm of x), OLMo 2's x */
    if (d->post)
        memcpy(h, x, Tz * H * sizeof *h);
    else if (!d->parallel &&
             (rc = norm_named(p, d, RH(d, R), kind_mlp ? d->n_input : d->n_pre_mlp, l, x, Tz, h, err)))
        goto done;
    if (blk)
        memset(blk, 0, Tz * H * sizeof *blk);
    char n13[160];
    snprintf(n13, sizeof n13, "layers.%lld%s%s.experts.routed_experts.w13_weight", (long long)l, MOE_DOT(d), d->moe);
    int sparse = d->experts && rank_param(RH(d, R), p, n13);
    if (sparse && d->experts_beside)
        rc = beside_block(p, d, R, l, h, x, Tz, gu, act, blk, err);
    else if (sparse) {
        if ((rc = moe_block(p, d, R, l, NULL, h, Tz, sink, err)) == CK_OK)
            rc = d->shared_mlp ? dense_mlp(p, d, R, l, h, Tz, gu, act, sink, err) /* the layer's own MLP beside */
                               : shared_expert(p, d, R, l, h, Tz, sink, err);
        for (size_t i = 0; rc == CK_OK && d->moe_average && i < Tz * H; i++) /* Cohere 2 MoE: routed and shared */
            blk[i] *= 0.5f;                                                 /* averaged */
        if (rc == CK_OK && blk)
            rc = add_block(p, d, RH(d, R), d->n_post_mlp, l, blk, h, Tz, x, err);
    } else if ((rc = dense_mlp(p, d, R, l, h, Tz, gu, act, sink, err)) == CK_OK && blk)
        rc = add_block(p, d, RH(d, R), d->n_post_mlp, l, blk, h, Tz, x, err);
    if (rc == CK_OK && d->ple > 0)
        rc = per_layer_input(p, d, R, l, x, Tz, err);
    if (rc == CK_OK && d->layer_scalar[0]) { /* Gemma 4: the layer's output times its scalar (1 where not stored) */
        char sn[64];
        snprintf(sn, sizeof sn, "layers.%%lld.%s", d->layer_scalar);
        const load_param *sp = Wp(RH(d, R), p, sn, l, 0, 1, err);
        /* not stored (nothing filled it): the buffer's 1, as vLLM keeps it */
        const float *s = sp && sp->filled ? load_param_floats(RH(d, R), sp, err) : NULL;
        if (!s && err->code)
            rc = err->code;
        for (size_t i = 0; s && i < Tz * H; i++)
            x[i] *= s[0];
    }
done:
    ffree(d, one);
    ffree(d, parts);
    ffree(d, gate);
    ffree(d, pad);
    ffree(d, blk);
    ffree(d, h);
    ffree(d, a);
    ffree(d, q);
    ffree(d, k);
    ffree(d, v);
    ffree(d, o);
    ffree(d, gu);
    ffree(d, act);
    return rc;
}

/* Gemma 4's per-layer inputs, from the tokens and the scaled embeddings x[T, H] on the first
 * stage's ranks: (norm(per_layer_model_projection(x) / sqrt(hidden)) + embed_tokens_per_layer[token]
 * * sqrt(ple)) / sqrt(2), [T, layers, ple], into d->pass->ple. The embedding is vocabulary-parallel
 * (each rank its rows), the projection column-parallel (each rank its outputs, gathered). */
static int per_layer_inputs(const plan *p, const dense_dims *d, rank_load *const *R, const int *tokens,
                            const float *x, size_t T, ck_err *err)
{
    int tp = p->layout.tp;
    size_t H = (size_t)d->hidden, P = (size_t)d->ple, L = (size_t)d->pass->layers, LP = L * P, LPl = LP / (size_t)tp;
    float *tok = fcalloc(d, T * LP, sizeof *tok), *proj = fmalloc(d, T * LP * sizeof *proj);
    float *one = fmalloc(d, T * LPl * sizeof *one), *row = fmalloc(d, LP * sizeof *row);
    float *out = fmalloc(d, T * LP * sizeof *out);
    int rc = tok && proj && one && row && out ? CK_OK : ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET,
                                                                    "out of memory");
    for (int r = 0; rc == CK_OK && r < tp; r++) {
        const load_param *el = rank_param(R[r], p, "embed_tokens_per_layer.weight");
        const load_param *w = Wp(R[r], p, "per_layer_model_projection.weight", 0, 1, LPl * H, err);
        if (!el || !w || el->n % LP) {
            rc = err->code ? err->code : ck_err_set(err, CK_EUSAGE, p->rules->path, "embed_tokens_per_layer.weight",
                                                    CK_NO_OFFSET, "TP rank %d has no per-layer embeddings of %zu "
                                                    "values a token, which forward.per_layer_input reads", r, LP);
            break;
        }
        size_t Vl = (size_t)(el->n / LP);
        for (size_t t = 0; t < T; t++) {
            size_t id = (size_t)tokens[t];
            if (id < (size_t)r * Vl || id >= (size_t)(r + 1) * Vl)
                continue;
            if (!d->device)
                load_param_rows(el, LP, id - (size_t)r * Vl, 1, row);
            for (size_t i = 0; i < LP; i++)
                tok[t * LP + i] += d->device ? el->data[(id - (size_t)r * Vl) * LP + i] : row[i];
        }
        if ((rc = op_linear_lp(d, R[r], x, T, H, w, 0, LPl, NULL, one, 0, err)) != CK_OK)
            break;
        for (size_t t = 0; t < T; t++)
            memcpy(proj + t * LP + (size_t)r * LPl, one + t * LPl, LPl * sizeof *proj);
    }
    const float *wn = rc == CK_OK ? W(RH(d, R), p, "per_layer_projection_norm.weight", 0, 1, P, err) : NULL;
    if (rc == CK_OK && !wn)
        rc = err->code;
    if (rc == CK_OK) {
        float ps = (float)(1.0 / sqrt((double)H)), es = sqrtf((float)P), half = (float)(1.0 / sqrt(2.0));
        for (size_t i = 0; i < T * LP; i++)
            proj[i] *= ps;
        op_norm(d, proj, T * L, P, wn, out);
        for (size_t i = 0; i < T * LP; i++)
            d->pass->ple[i] = (out[i] + tok[i] * es) * half;
    }
    ffree(d, tok);
    ffree(d, proj);
    ffree(d, one);
    ffree(d, row);
    ffree(d, out);
    return rc;
}

static int dense_pass(const plan *p, const dense_dims *d, rank_load *const *ranks, const int *tokens, int T,
                      float *logits, float *trace, ck_err *err)
{
    int tp = p->layout.tp;
    size_t H = (size_t)d->hidden, Tz = (size_t)T;
    size_t Vp = (size_t)((d->vocab + 63) / 64 * 64), Vl = Vp / (size_t)tp;
    float *x = fcalloc(d, Tz * H, sizeof *x), *h = fmalloc(d, Tz * H * sizeof *h);
    float *full = fmalloc(d, Tz * Vp * sizeof *full);
    float *parts = parts_new(d, tp, Tz * (H > Vl ? H : Vl)); /* the embedding's and the lm_head's */
    const fwd_comm *c = d->comm;
    int rc = CK_OK, first = !c || c->stage == 0, last = !c || c->stage == p->layout.pp - 1;
    rank_load *const *R;
    if (!x || !h || !full || !parts) {
        rc = ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
        goto done;
    }
    /* vocabulary-parallel embedding: each rank the rows it holds (the first stage's) */
    for (int r = 0; first && r < tp; r++) {
        if (!rank_here(d, r))
            continue;
        const load_param *el = Wp(ranks[r], p, d->embedding, 0, 1, Vl * H, err); /* stage 0: world rank r */
        if (!el) {
            rc = err->code;
            goto done;
        }
        float *pr = parts + (size_t)r * Tz * H;
        for (size_t t = 0; t < Tz; t++) {
            size_t id = (size_t)tokens[t];
            if (id >= (size_t)r * Vl && id < (size_t)(r + 1) * Vl && !d->device)
                load_param_rows(el, H, id - (size_t)r * Vl, 1, h); /* the token's row, as floats */
            if (id >= (size_t)r * Vl && id < (size_t)(r + 1) * Vl)
                for (size_t i = 0; i < H; i++)
                    pr[t * H + i] += d->device ? el->data[(id - (size_t)r * Vl) * H + i] : h[i];
        }
    }
    if (first && (rc = parts_add(d, parts, tp, Tz * H, x, err)) != CK_OK)
        goto done;
    if (d->embed_scale != 1) /* Gemma: the embeddings times sqrt(hidden_size) */
        for (size_t i = 0; i < Tz * H; i++)
            x[i] = (float)(x[i] * d->embed_scale);
    if (d->ple > 0 && (c || !d->pass)) {
        rc = ck_err_set(err, CK_EUSAGE, p->rules->path, "forward.per_layer_input", CK_NO_OFFSET, "the per-layer "
                        "inputs are made on the first stage and read by every layer: check this model in one "
                        "process (no mpirun)");
        goto done;
    }
    if (d->ple > 0 && (rc = per_layer_inputs(p, d, ranks, tokens, x, Tz, err)) != CK_OK)
        goto done;
    for (int st = 0; st < p->layout.pp; st++) {
        const plan_stage *sr = &p->stages[st];
        for (int64_t l = sr->layer_start; (!c || c->stage == st) && l < sr->layer_end; l++) {
            float *ta = trace ? trace + (size_t)(2 * l) * Tz * H : NULL, *tm = ta ? ta + Tz * H : NULL;
            if (trace)
                memcpy(h, x, Tz * H * sizeof *x); /* the stream entering the layer */
            if ((rc = layer_pass(p, d, ranks + (size_t)st * (size_t)tp, l, x, T, ta, err)) != CK_OK)
                goto done;
            if (trace) /* what each block added: attention's and the MLP's own outputs */
                for (size_t i = 0; i < Tz * H; i++) {
                    tm[i] = x[i] - ta[i];
                    ta[i] -= h[i];
                }
        }
        /* one process per rank: the stage's first rank passes the stream (and what its layers
         * added) on to every process; its TP ranks all hold the same */
        if (c && p->layout.pp > 1 &&
            ((rc = comm_bcast(c, x, Tz * H * sizeof *x, st * tp, 1, err)) != CK_OK ||
             (trace && sr->layer_end > sr->layer_start &&
              (rc = comm_bcast(c, trace + (size_t)(2 * sr->layer_start) * Tz * H, (size_t)(2 * (sr->layer_end -
                               sr->layer_start)) * Tz * H * sizeof *trace, st * tp, 1, err)) != CK_OK)))
            goto done;
    }
    /* the last stage: final norm, vocabulary-parallel lm_head gathered */
    R = ranks + (size_t)(p->layout.pp - 1) * (size_t)tp;
    if (last && (rc = norm_named(p, d, RH(d, R), d->final_norm, 0, x, Tz, h, err)) != CK_OK)
        goto done;
    for (int r = 0; last && r < tp; r++) {
        if (!rank_here(d, r))
            continue;
        const load_param *hl = Wp(R[r], p, d->tied ? d->embedding : "lm_head.weight", 0, 1, Vl * H, err);
        if (!hl) {
            rc = err->code;
            goto done;
        }
        if ((rc = op_linear_lp(d, R[r], h, Tz, H, hl, 0, Vl, NULL, parts + (size_t)r * Tz * Vl, 0, err)) != CK_OK)
            goto done; /* this rank's vocabulary columns */
    }
    if (last && c && (rc = comm_allgather(c, parts, Tz * Vl, err)) != CK_OK)
        goto done;
    for (int r = 0; last && r < tp; r++)
        for (size_t t = 0; t < Tz; t++)
            memcpy(full + t * Vp + (size_t)r * Vl, parts + ((size_t)r * Tz + t) * Vl, Vl * sizeof *full);
    if (c && p->layout.pp > 1 &&
        (rc = comm_bcast(c, full, Tz * Vp * sizeof *full, (p->layout.pp - 1) * tp, 1, err)) != CK_OK)
        goto done;
    for (size_t t = 0; t < Tz; t++)
        memcpy(logits + t * (size_t)d->vocab, full + t * Vp, (size_t)d->vocab * sizeof *full);
    if (d->final_softcap > 0) /* Gemma 2: cap * tanh(logit / cap) */
        for (size_t i = 0; i < Tz * (size_t)d->vocab; i++)
            logits[i] = (float)(d->final_softcap * tanh(logits[i] / d->final_softcap));
    if (d->logit_mult != 1) /* Cohere's logit_scale, Granite's 1 / logits_scaling */
        for (size_t i = 0; i < Tz * (size_t)d->vocab; i++)
            logits[i] = (float)(logits[i] * d->logit_mult);
done:
    ffree(d, parts);
    ffree(d, x);
    ffree(d, h);
    ffree(d, full);
    return rc;
}

/* A pass on the host or the device: *dd is d with its error record; pass_end returns the pass's
 * status, a device error first. */
static void pass_begin(const dense_dims *d, dense_dims *dd, ck_err *dev_err)
{
    *dd = *d;
    ck_err_clear(dev_err);
    dd->dev_err = dev_err;
}

static int pass_end(const dense_dims *dd, int rc, ck_err *err)
{
    if (dd->device && dd->dev_err->code) {
        *err = *dd->dev_err;
        rc = dd->dev_err->code;
    }
    return rc;
}

int forward_dense(const plan *p, const dense_dims *d, rank_load *const *ranks, const int *tokens, int T,
                  float *logits, float *trace, ck_err *err)
{
    dense_dims dd;
    ck_err dev_err;
    pass_begin(d, &dd, &dev_err);
    /* what layers hand on (Gemma 4): the keys and values of every layer, the per-layer inputs */
    struct fwd_pass fp = {d->layers, p->layout.tp, NULL, NULL, NULL, NULL, NULL};
    size_t slots = (size_t)d->layers * (size_t)p->layout.tp;
    int rc = CK_OK;
    if (d->kv_share || d->ple > 0) {
        dd.pass = &fp;
        if (d->kv_share && (!(fp.k = calloc(slots, sizeof *fp.k)) || !(fp.v = calloc(slots, sizeof *fp.v)) ||
                            !(fp.n = calloc(slots, sizeof *fp.n)) ||
                            !(fp.keep = calloc((size_t)d->layers + 1, 1))))
            rc = ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
        for (int64_t l = 0; rc == CK_OK && fp.keep && l < d->layers; l++) { /* the layers some later one reads */
            int64_t src = -1;
            rc = fwd_layer_int(p, FWD_KV_SOURCE, l, -1, &src, err);
            if (rc == CK_OK && src >= 0 && src < l)
                fp.keep[src] = 1;
        }
        if (rc == CK_OK && d->ple > 0 &&
            !(fp.ple = fmalloc(&dd, (size_t)T * (size_t)d->layers * (size_t)d->ple * sizeof *fp.ple)))
            rc = ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    }
    if (rc == CK_OK)
        rc = dense_pass(p, &dd, ranks, tokens, T, logits, trace, err);
    for (size_t i = 0; fp.k && fp.v && i < slots; i++) {
        ffree(&dd, fp.k[i]);
        ffree(&dd, fp.v[i]);
    }
    free(fp.k);
    free(fp.v);
    free(fp.n);
    free(fp.keep);
    ffree(&dd, fp.ple);
    return pass_end(&dd, rc, err);
}

int forward_layer(const plan *p, const dense_dims *d, rank_load *const *R, int64_t l, float *x, int T,
                  float *after_attn, ck_err *err)
{
    dense_dims dd;
    ck_err dev_err;
    pass_begin(d, &dd, &dev_err);
    size_t n = (size_t)T * (size_t)dd.hidden;
    float *xs = dd.device ? fmalloc(&dd, n * sizeof *xs) : x; /* the stream in device memory */
    int rc = xs ? CK_OK : ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of device memory");
    if (rc == CK_OK && xs != x)
        memcpy(xs, x, n * sizeof *xs);
    if (rc == CK_OK)
        rc = layer_pass(p, &dd, R, l, xs, T, after_attn, err);
    if (rc == CK_OK && xs != x && !dev_err.code)
        memcpy(x, xs, n * sizeof *xs);
    if (xs && xs != x)
        ffree(&dd, xs);
    return pass_end(&dd, rc, err);
}
