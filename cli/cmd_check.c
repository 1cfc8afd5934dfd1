/* cmd_check.c - `ckptdoc check DIR [--tp N] [--pp N] [--rules R] [--device cpu|cuda]
 * [--tokens 1,2,..]`: loads every rank of the layout for real (read-only, from the data) and of
 * the unsharded layout, runs the same tokens through both, and compares: the sharded load must
 * give the unsharded logits, or the report names the layer and sub-block where they part. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inspect/ckpt.h"
#include "base/fileio.h"
#include "kernels/convert.h"
#include "kernels/devmem.h"
#include "kernels/ops.h"
#include "loader/comm.h"
#include "loader/forward.h"
#include "loader/plan.h"
#include "loader/simulate.h"
#include "cli/cli.h"
#include "cli/out.h"
#include "cli/options.h"
#include "cli/session.h"

#define TOL 1e-4 /* fp32 weights and accumulation: relative error of the logits */
#define RTOL_ROUNDING 4.0 /* the reference's tolerance at least this times the sharded and unsharded
                         * forwards' difference (their float32 rounding) */

typedef struct {
    plan p;
    keymap *km;       /* the map of the keys under p, shared by every stage's load */
    rank_load *ranks; /* pp * tp */
    rank_load **ptrs;
    int n, planned;
} layout_run;

static void run_free(layout_run *L)
{
    for (int i = 0; i < L->n; i++)
        rank_load_free(&L->ranks[i]);
    free(L->ranks);
    free(L->ptrs);
    keymap_free(L->km);
    if (L->planned)
        plan_free(&L->p);
    memset(L, 0, sizeof *L);
}

/* The sharded layout on the CUDA device: the stager it loads through, and what the load took. */
typedef struct {
    kdev_stager *stager;
    double load_s;        /* reading, copying, converting and cutting every rank's parameters */
    uint64_t dev_bytes;   /* device memory the parameters took, counted by the allocator */
    uint64_t plan_bytes;  /* what the plan says every rank's parameters take (fp32) */
    uint64_t held_bytes;  /* what they take on the host as held (BF16/F16 matrices in 16 bits) */
} dev_run;

/* --format json: the report being built (NULL in text mode, where say() prints). */
static cJSON *report;

/* A line of the text report (nothing with --format json, whose report() carries the same). */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    if (report)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
}

/* The report's verdict: pass, and the sentence the text report gives. */
/* --format github|sarif: each failed verdict as a finding (check.load_fails, check.mismatch,
 * check.reference, check.against), written at the end */
static ck_findings verdicts;

static void report_verdict(int pass, const char *code, const char *message)
{
    if (!report)
        return;
    if (!pass)
        findings_add(&verdicts, code, SEV_ERROR, NULL, NULL, CK_NO_OFFSET, "%s", message);
    cJSON *v = cJSON_CreateObject();
    cJSON_AddBoolToObject(v, "pass", pass);
    cJSON_AddStringToObject(v, "message", message);
    cJSON_ReplaceItemInObject(report, "verdict", v) || (cJSON_AddItemToObject(report, "verdict", v), 1);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Host bytes of every rank of a layout (fp32), layer < 0: whole model. */
static uint64_t layout_bytes(const plan *p, int64_t layer)
{
    uint64_t b = 0;
    for (int s = 0; s < p->layout.pp; s++)
        b += load_bytes(p, s, 0, layer) * (uint64_t)p->layout.tp;
    return b;
}

/* One process per rank (started by mpirun or srun): this process's place, NULL otherwise; and
 * what each rank's load took, gathered on every process: MPI_FIGS values per world rank. */
static fwd_comm mpi_c, *mpi;
enum { FIG_BYTES, FIG_PLAN, FIG_RCHAR, FIG_LOAD_US, FIG_RSS_KB, MPI_FIGS };
static uint64_t *mpi_figs;

/* A rank that failed stops every process of the layout, naming itself. */
static void mpi_fail(const fwd_comm *c, const char *what, const ck_err *err)
{
    char buf[1600];
    fprintf(stderr, "ckptdoc check: rank %d (stage %d, TP rank %d) %s: %s; stopping every rank\n", c->rank, c->stage,
            c->tp_rank, what, ck_err_str(err, buf, sizeof buf));
    comm_abort(c, err->code == CK_EFORMAT ? EXIT_FINDINGS : EXIT_USAGE);
}

/* This process's load figures (bytes its load read, read(2) bytes and seconds since rchar0 and
 * t0, the bytes its parameters take as held) gathered from every process into mpi_figs. */
static void mpi_gather_figures(const fwd_comm *c, const rank_load *mine, uint64_t bytes, uint64_t rchar0, double t0)
{
    uint64_t fig[MPI_FIGS] = {0};
    fig[FIG_BYTES] = bytes;
    fig[FIG_RCHAR] = ck_rchar() - rchar0;
    fig[FIG_LOAD_US] = (uint64_t)((now_s() - t0) * 1e6);
    fig[FIG_PLAN] = rank_held_bytes(mine);
    fig[FIG_RSS_KB] = ck_peak_rss() / 1024;
    ck_err err;
    ck_err_clear(&err);
    free(mpi_figs);
    mpi_figs = calloc((size_t)c->size * MPI_FIGS, sizeof *mpi_figs);
    if (!mpi_figs)
        ck_err_set(&err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    if (!mpi_figs || comm_allgather_u64(c, fig, MPI_FIGS, mpi_figs, 1, &err) != CK_OK)
        mpi_fail(c, "cannot gather the load's figures", &err);
}

/* CK_OK when every parameter of TP rank k of stage s came whole from the checkpoint. */
static int rank_filled(const ck_checkpoint *ck, const rank_load *rl, int k, int s, const plan_layout *lay, ck_err *err)
{
    for (size_t i = 0; i < rl->n; i++)
        if (rl->params[i].filled < rl->params[i].expect)
            return ck_err_set(err, CK_EFORMAT, ck->root, rl->params[i].pp->name, CK_NO_OFFSET, "rank %d of stage %d: "
                              "only %llu of %llu values of this parameter came from the checkpoint; 'ckptdoc lint "
                              "--tp %d --pp %d' names the keys that are missing", k, s,
                              (unsigned long long)rl->params[i].filled, (unsigned long long)rl->params[i].expect,
                              lay->tp, lay->pp);
    return CK_OK;
}

/* Loads every rank of the layout (on the device when dv has a stager; dv gets the load's time),
 * or under mpirun this process's rank only, and, when logits is not NULL, runs the tokens
 * through it (*fwd_s, when not NULL, gets the forward pass's seconds). */
static int run_layout(const ck_checkpoint *ck, const rules_file *r, const plan_layout *lay, const int *tokens,
                      int T, float *logits, float *trace, uint64_t *bytes, uint64_t max_mem, dev_run *dv,
                      double *fwd_s, ck_findings *f, ck_err *err)
{
    layout_run L;
    memset(&L, 0, sizeof L);
    /* quantized weights are dequantized as they are read: the model is planned unquantized */
    ck_config plain = ck->cfg;
    plain.has_quant = 0;
    const cfg_quant *deq = ck->cfg.has_quant ? &ck->cfg.quant : NULL;
    if (deq && !load_dequantizes(deq))
        return ck_err_set(err, CK_EUSAGE, ck->cfg.path, "quantization_config", CK_NO_OFFSET, "quant_method "
                          "\"%s\"%s%s is not dequantized by this version (compressed-tensors, fp8, awq, gptq, "
                          "mxfp4, modelopt FP8)", deq->method, deq->fmt[0] ? " " : "", deq->fmt);
    out_style bar;
    char label[64];
    out_style_detect(&bar, stdout, 1);
    bar.label = label;
    /* on the host, BF16/F16 matrices stay in their stored dtype (the forward converts each layer's) */
    load_opts lo = {deq, -1, dv ? dv->stager : NULL, out_progress, &bar, NULL, !(dv && dv->stager)};
    int on_dev = dv && dv->stager;
    int rc = plan_build(r, deq ? &plain : &ck->cfg, lay, &L.p, f, err);
    if (rc != CK_OK)
        return rc;
    L.planned = 1;
    if (findings_count(f, SEV_ERROR)) {
        run_free(&L);
        return ck_err_set(err, CK_EUSAGE, ck->root, NULL, CK_NO_OFFSET, "the model cannot be built at TP %d x "
                          "PP %d: %s (ckptdoc lint says more)", lay->tp, lay->pp, f->v[0].msg);
    }
    dense_dims d;
    if ((rc = dense_dims_of(&L.p, &d, err)) != CK_OK) {
        run_free(&L);
        return rc;
    }
    d.device = on_dev;
    /* one process per rank: this process loads its own rank, the others are left empty */
    const fwd_comm *c = mpi && lay->tp == mpi->tp && lay->pp == mpi->pp ? mpi : NULL;
    uint64_t need = c ? load_bytes(&L.p, c->stage, c->tp_rank, -1) : layout_bytes(&L.p, -1);
    if (max_mem && need > max_mem) {
        run_free(&L);
        return ck_err_set(err, CK_EUSAGE, ck->root, NULL, CK_NO_OFFSET, "TP %d x PP %d needs %.1f MB on the %s "
                          "(fp32, %s), over --max-memory %.1f MB: check it layer by layer with --layers", lay->tp,
                          lay->pp, need / 1e6, on_dev ? "device" : "host", c ? "this process's rank" : "every rank",
                          max_mem / 1e6);
    }
    if ((rc = keymap_build(ck, &L.p, &L.km, err)) != CK_OK) {
        run_free(&L);
        return rc;
    }
    lo.km = L.km;
    L.n = lay->tp * lay->pp;
    L.ranks = calloc((size_t)L.n, sizeof *L.ranks);
    L.ptrs = calloc((size_t)L.n, sizeof *L.ptrs);
    if (!L.ranks || !L.ptrs) {
        run_free(&L);
        return ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    }
    double t0 = now_s();
    uint64_t dev0 = kdev_bytes_in_use();
    d.comm = c;
    uint64_t bytes0 = *bytes, rchar0 = ck_rchar();
    int k0 = c ? c->tp_rank : 0, nk = c ? 1 : lay->tp;
    for (int s = c ? c->stage : 0; s < (c ? c->stage + 1 : lay->pp); s++) {
        snprintf(label, sizeof label, "load TP %d x PP %d, stage %d%s", lay->tp, lay->pp, s, on_dev ? " (GPU)" : "");
        rc = load_stage(ck, &L.p, s, k0, nk, &L.ranks[s * lay->tp + k0], bytes, &lo, err);
        for (int k = k0; rc == CK_OK && k < k0 + nk; k++) {
            L.ptrs[s * lay->tp + k] = &L.ranks[s * lay->tp + k];
            rc = rank_filled(ck, L.ptrs[s * lay->tp + k], k, s, lay, err);
        }
        if (rc != CK_OK) {
            if (c)
                mpi_fail(c, "cannot load its parameters", err);
            run_free(&L);
            return rc;
        }
    }
    if (c)
        mpi_gather_figures(c, &L.ranks[c->stage * lay->tp + c->tp_rank], *bytes - bytes0, rchar0, t0);
    if (dv) {
        dv->load_s = now_s() - t0;
        dv->dev_bytes = kdev_bytes_in_use() - dev0;
        dv->plan_bytes = need;
        dv->held_bytes = 0;
        for (int k = 0; k < L.n; k++)
            dv->held_bytes += rank_held_bytes(&L.ranks[k]);
    }
    double t1 = now_s();
    rc = logits ? forward_dense(&L.p, &d, L.ptrs, tokens, T, logits, trace, err) : CK_OK;
    if (fwd_s)
        *fwd_s = now_s() - t1;
    if (c && rc != CK_OK)
        mpi_fail(c, "failed in the forward pass", err);
    run_free(&L);
    return rc;
}

/* An error of check on stderr; one of the GPU path also says how to go on without it. */
static void say_error(const char *what, const ck_err *err)
{
    char buf[1600];
    fprintf(stderr, "ckptdoc check: %s%s\n", what, ck_err_str(err, buf, sizeof buf));
    if (err->code == CK_ECUDA)
        fprintf(stderr, "ckptdoc check: that was the GPU path; --device cpu checks the same on the CPU\n");
}

/* --load-only: every rank of the layout loaded (onto the GPU when dv has a stager), nothing run;
 * the figures a benchmark wants. */
static int load_figures(const ck_checkpoint *ck, const rules_file *r, const plan_layout *lay, uint64_t max_mem,
                        dev_run *dv, const char *dir)
{
    ck_findings f;
    ck_err err;
    uint64_t bytes = 0;
    findings_init(&f);
    ck_err_clear(&err);
    int rc = run_layout(ck, r, lay, NULL, 0, NULL, NULL, &bytes, max_mem, dv, NULL, &f, &err);
    findings_free(&f);
    if (rc != CK_OK) {
        say_error("", &err);
        return rc == CK_EFORMAT ? EXIT_FINDINGS : EXIT_USAGE;
    }
    say("%s: TP %d x PP %d%s loaded %s: %.1f MB read in %.3f s, %.2f GB/s\n", dir, lay->tp, lay->pp,
           lay->ep ? " (EP)" : "", dv->stager ? "onto the GPU through pinned staging" : "on the host",
           bytes / 1e6, dv->load_s, dv->load_s > 0 ? bytes / dv->load_s / 1e9 : 0.0);
    if (dv->stager)
        say("  device memory  %.1f MB of parameters (the plan's fp32 bytes: %.1f MB) + %.1f MB staging "
               "(pinned host buffers and device scratch)\n", dv->dev_bytes / 1e6, dv->plan_bytes / 1e6,
               kdev_stager_bytes(dv->stager) / 1e6);
    else if (dv->held_bytes < dv->plan_bytes)
        say("  host memory    %.1f MB of parameters, BF16/F16 matrices held as stored (%.1f MB in fp32); "
            "peak %.1f MB\n", dv->held_bytes / 1e6, dv->plan_bytes / 1e6, ck_peak_rss() / 1e6);
    else
        say("  host memory    %.1f MB of parameters (fp32); peak %.1f MB\n", dv->plan_bytes / 1e6,
            ck_peak_rss() / 1e6);
    return EXIT_CLEAN;
}

/* Parses "512M", "2G", "1500000": bytes, or 0 when it is not a size. */
static uint64_t parse_size(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v > 0) || !isfinite(v)) /* nan and inf are no sizes */
        return 0;
    switch (*end) {
    case 'K': case 'k': v *= 1e3; end++; break;
    case 'M': case 'm': v *= 1e6; end++; break;
    case 'G': case 'g': v *= 1e9; end++; break;
    case 'T': case 't': v *= 1e12; end++; break;
    default: break;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    return *end || v >= 1.8e19 ? 0 : (uint64_t)v;
}


/* max |a - b| / max |b| over n values. */
/* The median of n values v[off], v[off + stride], ...; tmp holds n doubles. */
static double median(const double *v, size_t n, size_t stride, size_t off, double *tmp)
{
    if (!n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        for (tmp[j] = v[off + i * stride]; j > 0 && tmp[j - 1] > tmp[j]; j--) {
            double t = tmp[j];
            tmp[j] = tmp[j - 1];
            tmp[j - 1] = t;
        }
    }
    return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

static double rel_err(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double dd = fabs((double)a[i] - b[i]), m = fabs((double)b[i]);
        num = dd > num || isnan(dd) ? dd : num;
        den = m > den ? m : den;
    }
    return den > 0 ? num / den : num;
}

static int argmax(const float *v, size_t n)
{
    size_t b = 0;
    for (size_t i = 1; i < n; i++)
        if (v[i] > v[b])
            b = i;
    return (int)b;
}

/* The module of a layer's attention ("self_attn") or MLP in the loader's names, the MLP's as the
 * rules' forward section says ("mlp", Mixtral's "block_sparse_moe"): asked only by a report of a
 * divergence, which then builds the plan it needs. */
/* The unsharded layout of ck, for a deployment's max_model_len (0: vLLM's default). */
static plan_layout unsharded(const ck_checkpoint *ck, int64_t max_len)
{
    plan_layout one = {1, 1, 0, {0}, 0, plan_unties_embeddings(ck), NULL, max_len};
    return one;
}

/* What the unsharded model's parameters take as fp32 (0 when it cannot be planned: the run then
 * says why). */
static uint64_t unsharded_bytes(const ck_checkpoint *ck, const rules_file *r, const plan_layout *one)
{
    ck_config plain = ck->cfg;
    plain.has_quant = 0;
    plan p;
    ck_findings f;
    ck_err err;
    findings_init(&f);
    ck_err_clear(&err);
    uint64_t b = plan_build(r, ck->cfg.has_quant ? &plain : &ck->cfg, one, &p, &f, &err) == CK_OK ? layout_bytes(&p, -1) : 0;
    if (err.code == CK_OK)
        plan_free(&p);
    findings_free(&f);
    return b;
}

static const char *block_module(const ck_checkpoint *ck, const rules_file *r, int mlp, char *buf, size_t size)
{
    if (!mlp)
        return "self_attn";
    ck_config plain = ck->cfg;
    plain.has_quant = 0;
    plan_layout one = unsharded(ck, 0);
    plan p;
    ck_findings f;
    ck_err err;
    dense_dims d;
    findings_init(&f);
    ck_err_clear(&err);
    snprintf(buf, size, "mlp");
    if (plan_build(r, &plain, &one, &p, &f, &err) == CK_OK) {
        if (dense_dims_of(&p, &d, &err) == CK_OK)
            snprintf(buf, size, "%s", d.moe);
        plan_free(&p);
    }
    findings_free(&f);
    return buf;
}

/* Whether parameter name (the loader's) belongs to layer l's attention block (its input norm and
 * self_attn) or, mlp set, to its MLP block (its post-attention norm and the rest of the layer). A
 * layer of one mixer (Nemotron-H's norm and mixer: Mamba2 or attention in the attention block's
 * place, an MLP in the MLP block's) belongs to whichever block the trace names. */
static int in_block(const char *name, int64_t l, int mlp)
{
    char pre[48];
    int n = snprintf(pre, sizeof pre, "layers.%lld.", (long long)l);
    if (strncmp(name, pre, (size_t)n) != 0)
        return 0;
    const char *rest = name + n;
    if (strncmp(rest, "norm.", 5) == 0 || strncmp(rest, "mixer.", 6) == 0)
        return 1;
    int attn = strncmp(rest, "input_layernorm.", 16) == 0 || strncmp(rest, "self_attn.", 10) == 0;
    return mlp ? !attn : attn;
}

/* The parameter of block (layer l, attention or MLP) whose values differ most between two
 * unquantized checkpoints of one model, each loaded unsharded: its name into buf and its relative
 * error, or -1 when the layer cannot be loaded or no parameter of the block is in both. */
static double block_culprit(const ck_checkpoint *a, const rules_file *ra, const ck_checkpoint *b,
                            const rules_file *rb, int64_t l, int mlp, int64_t max_len, char *buf, size_t size)
{
    plan pa, pb;
    rank_load la, lb;
    ck_findings f;
    ck_err err;
    uint64_t bytes = 0;
    double worst = -1;
    findings_init(&f);
    ck_err_clear(&err);
    plan_layout oa = unsharded(a, max_len), ob = unsharded(b, max_len);
    load_opts o = {0};
    o.layer = l;
    int ok_a = plan_build(ra, &a->cfg, &oa, &pa, &f, &err) == CK_OK;
    int ok_b = ok_a && plan_build(rb, &b->cfg, &ob, &pb, &f, &err) == CK_OK;
    int ld_a = ok_b && load_stage(a, &pa, 0, 0, 1, &la, &bytes, &o, &err) == CK_OK;
    int ld_b = ld_a && load_stage(b, &pb, 0, 0, 1, &lb, &bytes, &o, &err) == CK_OK;
    for (size_t i = 0; ld_b && i < la.n; i++) {
        const load_param *x = &la.params[i];
        if (!in_block(x->pp->name, l, mlp))
            continue;
        const load_param *y = rank_param(&lb, &pb, x->pp->name);
        if (!y || y->n != x->n)
            continue;
        double e = rel_err(y->data, x->data, (size_t)x->n);
        if (e > worst) {
            worst = e;
            snprintf(buf, size, "%s", x->pp->name);
        }
    }
    if (ld_b)
        rank_load_free(&lb);
    if (ld_a)
        rank_load_free(&la);
    if (ok_b)
        plan_free(&pb);
    if (ok_a)
        plan_free(&pa);
    findings_free(&f);
    return worst;
}

/* This checkpoint (unsharded, dequantized as read) against another of the same model: the relative
 * error of the residual stream after every attention and MLP, and of the logits. */
static int compare_against(const char *dir, const ck_checkpoint *mine, const rules_file *mine_r, const int *tokens,
                           int T, const float *l1, const float *t1, int64_t layers, int64_t hidden, int64_t vocab,
                           int64_t max_len)
{
    session so; /* the other checkpoint and the rules its config.json matches */
    layout_opts lo1;
    layout_opts_init(&lo1, "check");
    ck_err err;
    char buf[1600];
    ck_err_clear(&err);
    session_open(&so, dir, &lo1, 0, &err);
    if (so.stage < SESSION_OPENED) {
        fprintf(stderr, "ckptdoc check: --against: %s\n", ck_err_str(&err, buf, sizeof buf));
        session_free(&so);
        return -1;
    }
    const ck_checkpoint *other = &so.ck;
    int64_t ol = 0, oh = 0, ov = 0;
    config_int(&other->cfg, "num_hidden_layers", &ol);
    config_int(&other->cfg, "hidden_size", &oh);
    config_int(&other->cfg, "vocab_size", &ov);
    int rc = -1;
    size_t nl = (size_t)T * (size_t)vocab, nt = 2 * (size_t)layers * (size_t)T * (size_t)hidden;
    float *lo = malloc(nl * sizeof *lo), *to = malloc((nt ? nt : 1) * sizeof *to);
    plan_layout one = unsharded(other, max_len);
    uint64_t b = 0;
    ck_findings f;
    findings_init(&f);
    if (!other->cfg.present)
        fprintf(stderr, "ckptdoc check: --against %s: %s\n", dir, ck_err_str(&err, buf, sizeof buf));
    else if (ol != layers || oh != hidden || ov != vocab || strcmp(other->cfg.model_type, mine->cfg.model_type) != 0)
        fprintf(stderr, "ckptdoc check: --against %s: %s with %lld layers, hidden %lld, vocab %lld; this checkpoint "
                "is %s with %lld, %lld, %lld: not the same model\n", dir, other->cfg.model_type, (long long)ol,
                (long long)oh, (long long)ov, mine->cfg.model_type, (long long)layers, (long long)hidden,
                (long long)vocab);
    else if (so.stage < SESSION_RULES)
        fprintf(stderr, "ckptdoc check: --against %s: %s\n", dir, ck_err_str(&err, buf, sizeof buf));
    else {
        if (!lo || !to || run_layout(other, &so.r, &one, tokens, T, lo, to, &b, 0, NULL, NULL, &f, &err) != CK_OK)
            fprintf(stderr, "ckptdoc check: --against %s: %s\n", dir, lo && to ? ck_err_str(&err, buf, sizeof buf)
                                                                              : "out of memory");
        else {
            say("against %s (%s, %s): relative error of each block's output\n", dir,
                   other->cfg.has_quant ? other->cfg.quant.summary : "unquantized",
                   mine->cfg.has_quant ? "this one dequantized as read" : "this one unquantized");
            size_t nb = 2 * (size_t)layers, n = (size_t)T * (size_t)hidden;
            double *e = malloc((nb ? nb : 1) * sizeof *e), *sorted = malloc((nb ? nb : 1) * sizeof *sorted);
            for (size_t b2 = 0; e && sorted && b2 < nb; b2++)
                e[b2] = rel_err(t1 + b2 * n, to + b2 * n, n);
            for (int64_t l = 0; e && l < layers; l++)
                say("  layer %-4lld attention %.3g   MLP %.3g\n", (long long)l, e[2 * l], e[2 * l + 1]);
            cJSON *aj = report ? cJSON_AddObjectToObject(report, "against") : NULL, *blocks = NULL;
            if (aj) {
                cJSON_AddStringToObject(aj, "dir", dir);
                cJSON_AddStringToObject(aj, "quantization", other->cfg.has_quant ? other->cfg.quant.summary
                                                                                : "unquantized");
                blocks = cJSON_AddArrayToObject(aj, "blocks");
            }
            for (int64_t l = 0; blocks && e && l < layers; l++) {
                cJSON *bj = cJSON_CreateObject();
                cJSON_AddNumberToObject(bj, "layer", (double)l);
                cJSON_AddNumberToObject(bj, "attention", e[2 * l]);
                cJSON_AddNumberToObject(bj, "mlp", e[2 * l + 1]);
                cJSON_AddItemToArray(blocks, bj);
            }
            /* quantization spreads its error over every block; a load that went wrong makes one
             * block stand out: the first above 3x the median (and above the fp32 tolerance). With
             * config groups (attention and MLP quantized differently) each kind has its own median */
            int per_kind = mine->cfg.n_groups > 1 || other->cfg.n_groups > 1;
            double med_of[2] = {0, 0}, med = 0;
            if (e && sorted && nb) {
                med = median(e, nb, 1, 0, sorted);
                med_of[0] = per_kind ? median(e, nb / 2, 2, 0, sorted) : med;
                med_of[1] = per_kind ? median(e, nb / 2, 2, 1, sorted) : med;
            }
            /* neither quantized: the two must compute the same, so the first block above the
             * tolerance is where they part (a wrong tensor there raises every later block) */
            int exact = !other->cfg.has_quant && !mine->cfg.has_quant;
            int64_t bad = -1;
            for (size_t b2 = 0; e && b2 < nb && bad < 0; b2++)
                if (e[b2] > TOL && (exact || e[b2] > 3 * med_of[b2 % 2]))
                    bad = (int64_t)b2;
            int agree = 0;
            for (int t = 0; t < T; t++)
                agree += argmax(l1 + (size_t)t * (size_t)vocab, (size_t)vocab) ==
                         argmax(lo + (size_t)t * (size_t)vocab, (size_t)vocab);
            say("  logits     relative error %.3g, top-1 tokens agree %d/%d\n", rel_err(l1, lo, nl), agree, T);
            if (aj) {
                cJSON_AddNumberToObject(aj, "logits_relative_error", rel_err(l1, lo, nl));
                cJSON_AddNumberToObject(aj, "top1_agree", agree);
                cJSON_AddBoolToObject(aj, "pass", bad < 0);
                if (bad >= 0) {
                    cJSON *sj = cJSON_AddObjectToObject(aj, "stands_out");
                    cJSON_AddNumberToObject(sj, "layer", (double)(bad / 2));
                    cJSON_AddStringToObject(sj, "block", bad % 2 ? "mlp" : "attention");
                    cJSON_AddNumberToObject(sj, "relative_error", e[bad]);
                }
            }
            char against_med[96];
            double bmed = bad >= 0 ? med_of[bad % 2] : med;
            if (bmed > 0)
                snprintf(against_med, sizeof against_med, "%.1fx the median %.3g of %s",
                         bad >= 0 ? e[bad] / bmed : 0.0, bmed, !per_kind ? "all blocks"
                         : bad % 2 ? "the MLP blocks" : "the attention blocks");
            else
                snprintf(against_med, sizeof against_med, "while most blocks match exactly");
            char mod[32], culprit[512];
            double ce = bad >= 0 && exact ? block_culprit(mine, mine_r, other, &so.r, bad / 2, (int)(bad % 2),
                                                          max_len, culprit, sizeof culprit) : -1;
            if (ce > TOL)
                say("  verdict    FAIL: layer %lld, %s is the first block above the tolerance %.0e (relative "
                       "error %.3g; neither checkpoint is quantized, so every block must match): its parameter "
                       "%s differs from %s's by %.3g; compare it with the original's ('ckptdoc tui' "
                       "statistics) and re-export it\n",
                       (long long)(bad / 2), bad % 2 ? "the MLP" : "attention", TOL, e[bad], culprit, dir, ce);
            else if (bad >= 0 && exact)
                say("  verdict    FAIL: layer %lld, %s is the first block above the tolerance %.0e (relative "
                       "error %.3g; neither checkpoint is quantized, so every block must match): its parameters "
                       "(layers.%lld.%s) do not compute what %s's do\n",
                       (long long)(bad / 2), bad % 2 ? "the MLP" : "attention", TOL, e[bad], (long long)(bad / 2),
                       block_module(mine, mine_r, (int)(bad % 2), mod, sizeof mod), dir);
            else if (bad >= 0)
                say("  verdict    FAIL: layer %lld, %s stands out (relative error %.3g, %s): its parameters "
                       "(layers.%lld.%s) do not hold what %s's do; compare those tensors with the original's "
                       "('ckptdoc tui' statistics) and re-export them\n",
                       (long long)(bad / 2), bad % 2 ? "the MLP" : "attention", e[bad], against_med,
                       (long long)(bad / 2), block_module(mine, mine_r, (int)(bad % 2), mod, sizeof mod), dir);
            else if (exact)
                say("  verdict    PASS: every block matches within the tolerance %.0e\n", TOL);
            else if (per_kind)
                say("  verdict    PASS: the error is spread evenly over the attention blocks (median %.3g) and "
                       "the MLP blocks (median %.3g), as quantization spreads it (config groups quantize them "
                       "apart)\n", med_of[0], med_of[1]);
            else
                say("  verdict    PASS: the error is spread evenly over the blocks (median %.3g), as quantization "
                       "spreads it\n", med);
            rc = bad >= 0 ? 1 : 0;
            if (rc) {
                char vm[512];
                snprintf(vm, sizeof vm, "layer %lld, %s stands out against %s (relative error %.3g, %s)",
                         (long long)(bad / 2), bad % 2 ? "the MLP" : "attention", dir, e[bad], against_med);
                report_verdict(0, "check.against", vm);
            }
            free(e);
            free(sorted);
        }
    }
    free(lo);
    free(to);
    findings_free(&f);
    session_free(&so);
    return rc;
}

/* Layer by layer: each requested decoder layer alone, loaded sharded (the stage that owns it, all
 * its TP ranks) and unsharded, run on the same random hidden states; memory holds one layer. */
static int check_layers(const ck_checkpoint *ck, const rules_file *r, const plan_layout *lay, const int64_t *layers,
                        int n_layers, int T, uint64_t max_mem, dev_run *dv, const char *dir)
{
    ck_config plain = ck->cfg;
    plain.has_quant = 0;
    const cfg_quant *deq = ck->cfg.has_quant ? &ck->cfg.quant : NULL;
    const ck_config *cfg = deq ? &plain : &ck->cfg;
    plan ps, p1;
    plan_layout one = unsharded(ck, lay->max_model_len);
    ck_findings f;
    ck_err err;
    char buf[1600];
    dense_dims d;
    findings_init(&f);
    ck_err_clear(&err);
    int status = EXIT_USAGE, have_s = 0, have_1 = 0;
    keymap *kms = NULL, *km1 = NULL; /* the maps of the keys under each plan, for every layer's load */
    if (plan_build(r, cfg, lay, &ps, &f, &err) != CK_OK || !(have_s = 1) ||
        plan_build(r, cfg, &one, &p1, &f, &err) != CK_OK || !(have_1 = 1) || dense_dims_of(&p1, &d, &err) != CK_OK ||
        keymap_build(ck, &ps, &kms, &err) != CK_OK || keymap_build(ck, &p1, &km1, &err) != CK_OK) {
        say_error("", &err);
        goto out;
    }
    if (findings_count(&f, SEV_ERROR)) {
        fprintf(stderr, "ckptdoc check: the model cannot be built at TP %d x PP %d: %s\n", lay->tp, lay->pp,
                f.v[0].msg);
        goto out;
    }
    say("%s: rules %s, layer by layer, TP %d x PP %d%s against TP 1, %d random hidden states each\n", dir,
           r->name, lay->tp, lay->pp, lay->ep ? " with expert parallelism" : "", T);
    size_t H = (size_t)d.hidden, n = (size_t)T * H;
    int failed = 0;
    status = EXIT_CLEAN;
    for (int i = 0; i < n_layers && status == EXIT_CLEAN; i++) {
        int64_t l = layers[i];
        int st = -1;
        for (int s2 = 0; s2 < lay->pp; s2++)
            if (l >= ps.stages[s2].layer_start && l < ps.stages[s2].layer_end)
                st = s2;
        if (st < 0) {
            fprintf(stderr, "ckptdoc check: layer %lld is not a decoder layer of this model (num_hidden_layers "
                    "%d)\n", (long long)l, p1.num_layers);
            status = EXIT_USAGE;
            break;
        }
        uint64_t need = load_bytes(&ps, st, 0, l) * (uint64_t)lay->tp + load_bytes(&p1, 0, 0, l);
        if (max_mem && need > max_mem) {
            fprintf(stderr, "ckptdoc check: layer %lld needs %.1f MB on the host (fp32, sharded and unsharded), "
                    "over --max-memory %.1f MB\n", (long long)l, need / 1e6, max_mem / 1e6);
            status = EXIT_USAGE;
            break;
        }
        rank_load *rs = calloc((size_t)lay->tp, sizeof *rs), r1;
        rank_load **ptr = calloc((size_t)lay->tp, sizeof *ptr);
        rank_load *p1r = &r1;
        float *x1 = malloc(n * sizeof *x1), *xn = malloc(n * sizeof *xn);
        float *a1 = malloc(n * sizeof *a1), *an = malloc(n * sizeof *an);
        uint64_t bytes = 0;
        load_opts lo = {deq, l, NULL, NULL, NULL, km1, 0}, lod = {deq, l, dv ? dv->stager : NULL, NULL, NULL, kms, 0};
        dense_dims dd = d;
        dd.device = dv != NULL;
        memset(&r1, 0, sizeof r1);
        int rc = !rs || !ptr || !x1 || !xn || !a1 || !an ? ck_err_set(&err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET,
                                                                       "out of memory")
                 : load_stage(ck, &ps, st, 0, lay->tp, rs, &bytes, &lod, &err);
        if (rc == CK_OK)
            rc = load_stage(ck, &p1, 0, 0, 1, &r1, &bytes, &lo, &err);
        if (rc == CK_OK) {
            uint32_t seed = 12345u + (uint32_t)l;
            for (size_t k = 0; k < n; k++) {
                seed = seed * 1664525u + 1013904223u;
                x1[k] = xn[k] = (float)((double)(seed >> 8) / (double)(1u << 24) * 2.0 - 1.0);
            }
            for (int k = 0; k < lay->tp; k++)
                ptr[k] = &rs[k];
            rc = forward_layer(&p1, &d, &p1r, l, x1, T, a1, &err);
            if (rc == CK_OK)
                rc = forward_layer(&ps, &dd, ptr, l, xn, T, an, &err);
        }
        if (rc == CK_OK) {
            double ea = rel_err(an, a1, n), eo = rel_err(xn, x1, n);
            int ok = ea <= TOL && eo <= TOL;
            failed |= !ok;
            say("  layer %-4lld stage %d: %.2f MB read, %.2f MB held; attention %.3g, output %.3g  %s\n",
                   (long long)l, st, bytes / 1e6, need / 1e6, ea, eo,
                   ok ? "PASS" : ea > TOL ? "FAIL in attention" : "FAIL in the MLP");
        } else if (err.code == CK_EFORMAT) {
            say("  layer %-4lld FAIL: %s\n", (long long)l, ck_err_str(&err, buf, sizeof buf));
            failed = 1;
        } else {
            char what[48];
            snprintf(what, sizeof what, "layer %lld: ", (long long)l);
            say_error(what, &err);
            status = EXIT_USAGE;
        }
        for (int k = 0; rs && k < lay->tp; k++)
            rank_load_free(&rs[k]);
        rank_load_free(&r1);
        free(rs);
        free(ptr);
        free(x1);
        free(xn);
        free(a1);
        free(an);
        ck_err_clear(&err);
    }
    if (status == EXIT_CLEAN) {
        say("  verdict    %s\n", failed ? "FAIL: a sharded layer computes something else"
                                           : "PASS: every layer checked computes what the unsharded one does");
        status = failed ? EXIT_FINDINGS : EXIT_CLEAN;
    }
out:
    keymap_free(kms);
    keymap_free(km1);
    if (have_s)
        plan_free(&ps);
    if (have_1)
        plan_free(&p1);
    findings_free(&f);
    return status;
}

/* reference.logits (fixtures/make_reference_logits.py): "CKLOGIT1", u32 version 1, u32 T, u32 V,
 * i32 tokens[T], f32 logits[T][V], little-endian. Returns 1 and fills *tok and *lg (caller frees), 0
 * when the file is absent, -1 (message printed) when it is not one. */
static int read_reference(const char *path, int required, int *T, int64_t *V, int **tok, float **lg)
{
    const char *why;
    FILE *fp = ck_fopen_ro(path, &why);
    if (!fp && (required || errno != ENOENT)) {
        fprintf(stderr, "ckptdoc check: %s: cannot read the reference logits: %s%s\n", path, why,
                required ? " (--reference names a file written by fixtures/make_reference_logits.py)" : "");
        return -1;
    }
    if (!fp)
        return 0;
    struct stat st;
    char magic[8];
    uint32_t h[3];
    int rc = -1;
    *tok = NULL;
    *lg = NULL;
    if (fread(magic, 1, 8, fp) != 8 || memcmp(magic, "CKLOGIT1", 8) || fread(h, 4, 3, fp) != 3 || h[0] != 1 ||
        !h[1] || h[1] > 64 || !h[2] || h[2] > (1u << 24))
        fprintf(stderr, "ckptdoc check: %s: not a reference logits file (magic CKLOGIT1, version 1); write one "
                "with fixtures/make_reference_logits.py\n", path);
    else if (fstat(fileno(fp), &st) != 0 || (uint64_t)st.st_size < 20 + 4ull * h[1] * (1 + (uint64_t)h[2]))
        fprintf(stderr, "ckptdoc check: %s: the file ends early (%u tokens x %u logits announced, %lld bytes): it "
                "was cut short; write it again with fixtures/make_reference_logits.py\n", path, h[1], h[2],
                (long long)st.st_size);
    else if (!(*tok = malloc(h[1] * sizeof **tok)) || !(*lg = malloc((size_t)h[1] * h[2] * sizeof **lg)) ||
             fread(*tok, 4, h[1], fp) != h[1] || fread(*lg, 4, (size_t)h[1] * h[2], fp) != (size_t)h[1] * h[2])
        fprintf(stderr, "ckptdoc check: %s: the file ends early (%u tokens x %u logits announced): it was cut "
                "short; write it again with fixtures/make_reference_logits.py\n", path, h[1], h[2]);
    else {
        *T = (int)h[1];
        *V = h[2];
        rc = 1;
    }
    fclose(fp);
    if (rc < 0) {
        free(*tok);
        free(*lg);
        *tok = NULL;
        *lg = NULL;
    }
    return rc;
}

/* What check was asked: the layout, the device, the tokens and the comparisons. */
typedef struct {
    layout_opts lo;
    const char *dir, *device, *against, *reference;
    int64_t only[256];    /* --layers */
    int n_only;
    uint64_t max_mem;     /* --max-memory, 0: no limit */
    int tokens[64], T, tokens_given, load_only;
    int json;             /* --format json (1), github (2) or sarif (3): a report instead of text */
} check_args;

/* 0; 1 after --help (usage printed); -1 on a usage error (message printed). */
static int check_args_parse(int argc, char **argv, check_args *a)
{
    static const struct option opts[] = {
        LAYOUT_OPTIONS, {"device", required_argument, 0, 'd'}, {"tokens", required_argument, 0, 'k'},
        {"against", required_argument, 0, 'a'}, {"layers", required_argument, 0, 'L'},
        {"max-memory", required_argument, 0, 'M'}, {"reference", required_argument, 0, 'R'},
        {"load-only", no_argument, 0, 'O'}, {"format", required_argument, 0, 'F'},
        {"max-model-len", required_argument, 0, 'N'}, {0, 0, 0, 0}};
    static const int default_tokens[8] = {1, 7, 42, 100, 3, 250, 17, 9};
    memset(a, 0, sizeof *a);
    layout_opts_init(&a->lo, "check");
    memcpy(a->tokens, default_tokens, sizeof default_tokens);
    a->T = 8;
    int c, taken;
    if (cli_config_args("check", opts, &argc, &argv) != 0)
        return -1;
    optind = 0; /* glibc: a full restart, also of a half-read "-abc" from an earlier parse */
    while ((c = getopt_long(argc, argv, LAYOUT_SHORT "d:k:a:L:M:R:", opts, NULL)) != -1) {
        char *end;
        long v;
        if ((taken = layout_opt_take(&a->lo, c, optarg)) < 0)
            return -1;
        if (taken)
            continue;
        switch (c) {
        case 'd':
        {
            static const char *const devs[] = {"cpu", "cuda"};
            if (strcmp(optarg, "gpu") == 0) /* what people call it */
                optarg = "cuda";
            a->device = optarg;
            if (cli_choice("check", "device", optarg, devs, 2) < 0)
                return -1;
            break;
        }
        case 'k':
            a->T = 0;
            a->tokens_given = 1;
            for (char *s = optarg;;) {
                errno = 0;
                v = strtol(s, &end, 10);
                if (end == s || v < 0 || v > INT32_MAX || errno || (*end && *end != ',')) {
                    fprintf(stderr, "ckptdoc check: --tokens takes token ids (0 to %d) separated by commas, "
                            "not '%s'\n", INT32_MAX, optarg);
                    return -1;
                }
                if (a->T == 64) {
                    fprintf(stderr, "ckptdoc check: --tokens takes at most 64 ids, not more\n");
                    return -1;
                }
                a->tokens[a->T++] = (int)v;
                if (!*end)
                    break;
                s = end + 1;
            }
            break;
        case 'a': a->against = optarg; break;
        case 'R': a->reference = optarg; break;
        case 'O': a->load_only = 1; break;
        case 'F':
        {
            int k = cli_choice("check", "format", optarg, out_formats, OUT_FORMATS);
            if (k < 0)
                return -1;
            a->json = k;
            break;
        }
        case 'L':
            if (!*optarg) {
                fprintf(stderr, "ckptdoc check: --layers takes layer indices separated by commas, not an empty "
                        "list\n");
                return -1;
            }
            for (char *q = optarg; *q;) {
                char *end2;
                long lv = strtol(q, &end2, 10);
                if (end2 == q || lv < 0 || a->n_only == 256 || (*end2 && *end2 != ',')) {
                    fprintf(stderr, "ckptdoc check: --layers takes layer indices separated by commas, not '%s'\n",
                            optarg);
                    return -1;
                }
                a->only[a->n_only++] = lv;
                q = *end2 ? end2 + 1 : end2;
            }
            break;
        case 'N': /* vLLM's: the longest context the deployment serves (longrope picks its factors by it) */
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (end == optarg || *end || errno || v < 1) {
                fprintf(stderr, "ckptdoc check: --max-model-len takes a number of tokens (vLLM's --max-model-len), "
                        "not '%s'\n", optarg);
                return -1;
            }
            a->lo.layout.max_model_len = v;
            break;
        case 'M':
            if (!(a->max_mem = parse_size(optarg))) {
                fprintf(stderr, "ckptdoc check: --max-memory takes a size (512M, 2G), not '%s'\n", optarg);
                return -1;
            }
            break;
        default:
            return -1;
        }
    }
    if (a->lo.help) {
        say("usage: ckptdoc check DIR [--tp N] [--pp N] [--ep] [--pp-partition A,B,..] [--rules NAME|FILE] "
               "[--device cpu|cuda] [--tokens 1,2,...] [--against DIR]\n"
               "       [--layers 0,3,61] [--max-memory SIZE] [--reference FILE] [--load-only] [--format text|json|github|sarif]\n"
               "       [--max-model-len N]\n"
               "Loads every rank of "
               "the layout from the data and the unsharded model, runs the tokens through both and compares the "
               "logits. --against DIR: the same tokens through another checkpoint of the same model (say the BF16 "
               "original of a quantized one), layer by layer. --format json: the report in schema ckptdoc.check/1 "
               "(docs/check-json.md); github or sarif: a failed verdict as a workflow annotation or SARIF. "
               "--max-model-len N: vLLM's, the context the deployment serves (its default: the model's; for "
               "longrope, original_max_position_embeddings), which picks longrope's short or long factors. "
               "One process per rank: 'mpirun -np TPxPP ckptdoc check DIR --tp N --pp N' (Open MPI: Debian's "
               "openmpi-bin; rank 0 reports, on the CPU), or under Slurm 'srun --mpi=pmix -K -n TPxPP ckptdoc "
               "check ...'.\n");
        return 1;
    }
    if (optind != argc - 1 || layout_opts_finish(&a->lo)) {
        fprintf(stderr, "usage: ckptdoc check DIR [--tp N] [--pp N] [--rules NAME|FILE] [--device cpu|cuda]\n");
        return -1;
    }
    a->dir = argv[optind];
    if (a->json && (a->load_only || a->n_only)) {
        fprintf(stderr, "ckptdoc check: --format json, github and sarif report the whole check; leave out --load-only "
                "and --layers\n");
        return -1;
    }
    return 0;
}

/* The whole check: the layout and the unsharded model loaded, the tokens through both, the
 * logits compared with each other, with reference.logits and with --against; the report printed.
 * Returns the exit status. */
/* What lint predicts vLLM does with the layout before any weight is read: the first refusal of
 * the configuration, construction error or exception of a stage's load, into buf (1), or 0 when
 * every rank loads. */
static int predicted_failure(const session *s, const plan_layout *lay, char *buf, size_t size)
{
    plan p;
    ck_findings f;
    ck_err err;
    sim_result res = {0};
    int bad = 0;
    findings_init(&f);
    ck_err_clear(&err);
    if (plan_build(&s->r, &s->ck.cfg, lay, &p, &f, &err) != CK_OK) {
        findings_free(&f);
        return 0; /* the load reports it, with its own words */
    }
    for (size_t i = 0; i < f.n && !bad; i++)
        if (plan_finding_kind(&f.v[i])) {
            snprintf(buf, size, "%s", f.v[i].msg);
            bad = 1;
        }
    ck_findings sf;
    findings_init(&sf);
    if (!bad && simulate_run(&s->ck, &p, &res, &sf, &err) == CK_OK)
        for (int st = 0; st < res.n_stages && !bad; st++)
            if (res.stages[st].error[0]) {
                char ranks[128];
                snprintf(buf, size, "%s raise %.2047s (checkpoint key '%.300s' in %.200s)",
                         sim_ranks_str(&p, 1ull << st, ranks, sizeof ranks), res.stages[st].error,
                         res.stages[st].error_key, res.stages[st].error_file);
                bad = 1;
            }
    sim_result_free(&res);
    findings_free(&sf);
    findings_free(&f);
    plan_free(&p);
    return bad;
}

/* vLLM's check of a user's --max-model-len against the length config.json allows: the smallest
 * max_position_embeddings, times the rotary factor where the rotary type does not scale it
 * itself (not longrope, llama3 or yarn; Gemma 3 never); model_max_length may allow more. 1 and
 * the message on stderr when vLLM would refuse it (as it prints the length: a float after the
 * factor). */
static int max_len_refused(const ck_config *c, int64_t n)
{
    int64_t mpe = 0, mml = 0;
    if (n <= 0 || !config_int(c, "max_position_embeddings", &mpe) || mpe <= 0)
        return 0;
    int has_mml = config_int(c, "model_max_length", &mml);
    static const char *const own[] = {"su", "longrope", "llama3", "yarn", "deepseek_yarn", "deepseek_llama_scaling"};
    int scales = c->rope_factor > 0 && !strstr(c->model_type, "gemma3");
    for (unsigned i = 0; scales && i < sizeof own / sizeof *own; i++)
        scales = strcmp(c->rope_type, own[i]) != 0;
    double derived = (double)mpe * (scales ? c->rope_factor : 1.0);
    if ((double)n <= derived || (has_mml && n <= mml))
        return 0;
    char ml[32];
    if (has_mml)
        snprintf(ml, sizeof ml, "%lld", (long long)mml);
    else
        snprintf(ml, sizeof ml, "None");
    fprintf(stderr, "ckptdoc check: --max-model-len %lld: vLLM refuses it: ValueError: User-specified max_model_len "
            "(%lld) is greater than the derived max_model_len (max_position_embeddings=%.1f or model_max_length=%s "
            "in model's config.json). To allow overriding this maximum, set the env var "
            "VLLM_ALLOW_LONG_MAX_MODEL_LEN=1. Pass --max-model-len %lld or less (config.json: %s)\n", (long long)n,
            (long long)n, derived, ml, (long long)(has_mml && mml > derived ? mml : (int64_t)derived), c->path);
    return 1;
}

static int check_full(const session *s, check_args *a, dev_run *dvr, dev_run *dv)
{
    const char *dir = a->dir;
    plan_layout lay = a->lo.layout;
    lay.untie_embeddings = plan_unties_embeddings(&s->ck);
    lay.unconverted = s->unconverted;
    char buf[1600];
    ck_err err;
    ck_err_clear(&err);
    /* transformers' own logits for fixed tokens, when the checkpoint carries them */
    char refpath[1200];
    /* beside the shards: a repo id or URL resolves to a snapshot folder, not to DIR as typed */
    snprintf(refpath, sizeof refpath, "%s/reference.logits", s->ck.root ? s->ck.root : dir);
    int ref_T = 0;
    int64_t ref_V = 0;
    int *ref_tok = NULL;
    float *ref_lg = NULL;
    int have_ref = read_reference(a->reference ? a->reference : refpath, a->reference != NULL, &ref_T, &ref_V,
                                  &ref_tok, &ref_lg);
    if (have_ref < 0)
        return EXIT_USAGE;
    if (have_ref && !a->tokens_given) {
        a->T = ref_T;
        memcpy(a->tokens, ref_tok, (size_t)a->T * sizeof *a->tokens);
        a->tokens_given = 1;
    }
    int64_t vocab = 0, hidden = 0, layers = 0;
    config_int(&s->ck.cfg, "vocab_size", &vocab);
    config_int(&s->ck.cfg, "hidden_size", &hidden);
    config_int(&s->ck.cfg, "num_hidden_layers", &layers);
    for (int i = 0; i < a->T; i++) {
        if (!a->tokens_given && vocab > 0)
            a->tokens[i] = (int)(a->tokens[i] % vocab); /* the default ids fit any vocabulary (64-bit: a
                                                         * vocabulary of 2^32 is no division by zero) */
        if (vocab <= 0 || a->tokens[i] >= vocab) {
            fprintf(stderr, "ckptdoc check: token %d is not below vocab_size %lld of %s: pass --tokens with smaller ids\n",
                    a->tokens[i], (long long)vocab, s->ck.cfg.path);
            free(ref_tok);
            free(ref_lg);
            return EXIT_USAGE;
        }
    }
    size_t nl = (size_t)a->T * (size_t)vocab, nt = 2 * (size_t)(layers > 0 ? layers : 0) * (size_t)a->T * (size_t)hidden;
    /* more than the machine holds is refused before asking: config.json's sizes are untrusted */
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    double need = 2.0 * ((double)nl + (double)nt) * sizeof(float);
    int fits = !(pages > 0 && psz > 0 && need > (double)pages * (double)psz);
    float *l1 = fits ? malloc(nl * sizeof *l1) : NULL, *ln = fits ? malloc(nl * sizeof *ln) : NULL;
    float *t1 = fits ? malloc((nt ? nt : 1) * sizeof *t1) : NULL, *tn = fits ? malloc((nt ? nt : 1) * sizeof *tn) : NULL;
    plan_layout one = unsharded(&s->ck, a->lo.layout.max_model_len);
    uint64_t b1 = 0, bn = 0;
    double fwd1 = 0, fwdn = 0; /* the forward passes' seconds */
    ck_findings f;
    findings_init(&f);
    int status = EXIT_USAGE;
    /* one process per rank: rank 0 runs the unsharded model where it fits (--max-memory, else the
     * machine's memory); where it does not, the layout is compared with transformers' logits for
     * the same tokens alone, or the check stops saying how to give them */
    int ref_same = have_ref && ref_V == vocab && ref_T == a->T &&
                   memcmp(ref_tok, a->tokens, (size_t)a->T * sizeof *a->tokens) == 0;
    int no_one = 0;
    uint64_t need1 = 0, room = 0;
    if (mpi && !mpi->rank && l1) {
        need1 = unsharded_bytes(&s->ck, &s->r, &one);
        room = a->max_mem ? a->max_mem : pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 0;
        if (room && need1 > room) {
            if (!ref_same) {
                ck_err_set(&err, CK_EUSAGE, dir, NULL, CK_NO_OFFSET, "the unsharded model needs %.1f MB (fp32), "
                           "over the %.1f MB %s; give transformers' logits for these tokens to compare the layout "
                           "with instead (--reference FILE, or reference.logits beside the shards; "
                           "fixtures/make_reference_logits.py writes them), or check it layer by layer in one "
                           "process (--layers)", need1 / 1e6, room / 1e6,
                           a->max_mem ? "of --max-memory" : "this machine holds");
                mpi_fail(mpi, "cannot run the unsharded model it compares with", &err);
            }
            no_one = 1;
            memcpy(l1, ref_lg, nl * sizeof *l1);
        }
    }
    if (!l1 || !ln || !t1 || !tn) {
        ck_err_set(&err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory for the logits and the layers' outputs: "
                   "%d tokens x vocab_size %lld, and hidden_size %lld x %lld layers, from %s (is config.json right? "
                   "'ckptdoc lint %s' compares it with the tensors)", a->T, (long long)vocab, (long long)hidden,
                   (long long)layers, s->ck.cfg.path ? s->ck.cfg.path : "config.json", dir);
        if (mpi)
            mpi_fail(mpi, "cannot hold the logits", &err);
        say_error("", &err);
    } else if (!(mpi && mpi->rank) && !no_one &&
             run_layout(&s->ck, &s->r, &one, a->tokens, a->T, l1, t1, &b1, a->max_mem, NULL, &fwd1, &f, &err) != CK_OK) {
        if (mpi) /* the other ranks wait for it (untimed): stop them all */
            mpi_fail(mpi, "cannot run the unsharded model it compares with", &err);
        say_error("", &err);
    }
    else if (run_layout(&s->ck, &s->r, &lay, a->tokens, a->T, ln, tn, &bn, a->max_mem, dv, &fwdn, &f, &err) != CK_OK) {
        /* the unsharded model ran: a slice that does not fit is this layout's failure */
        if (err.code == CK_EFORMAT) {
            say("%s: rules %s, TP %d x PP %d against TP 1 x PP 1\n  verdict    FAIL: %s\n", dir, s->r.name,
                   lay.tp, lay.pp, ck_err_str(&err, buf, sizeof buf));
            report_verdict(0, "check.load_fails", buf);
            status = EXIT_FINDINGS;
        } else
            say_error("", &err);
    } else {
        if (mpi && mpi->rank) { /* rank 0 compares and reports; the others' status is its */
            memcpy(l1, ln, nl * sizeof *l1);
            memcpy(t1, tn, (nt ? nt : 1) * sizeof *t1);
        }
        if (mpi && mpi_figs) { /* what every process read */
            bn = 0;
            for (int r = 0; r < mpi->size; r++)
                bn += mpi_figs[(size_t)r * MPI_FIGS + FIG_BYTES];
        }
        double e = rel_err(ln, l1, nl);
        int agree = 0;
        for (int t = 0; t < a->T; t++)
            agree += argmax(ln + (size_t)t * (size_t)vocab, (size_t)vocab) ==
                     argmax(l1 + (size_t)t * (size_t)vocab, (size_t)vocab);
        say("%s: rules %s, TP %d x PP %d%s against %s, %d tokens, fp32 %s\n", dir, s->r.name, lay.tp, lay.pp,
            lay.ep ? " with expert parallelism" : "", no_one ? "transformers' logits" : "TP 1 x PP 1", a->T,
            dv ? "on the GPU (cuBLAS) against the C reference on the CPU" : "on the CPU");
        if (report) {
            cJSON_AddStringToObject(report, "device", dv ? "cuda" : "cpu");
            cJSON *br = cJSON_AddObjectToObject(report, "bytes_read");
            cJSON_AddNumberToObject(br, "layout", (double)bn);
            cJSON_AddNumberToObject(br, "unsharded", (double)b1);
            cJSON *fw = cJSON_AddObjectToObject(report, "forward");
            cJSON_AddNumberToObject(cJSON_AddObjectToObject(fw, "layout"), "seconds", fwdn);
            cJSON_AddNumberToObject(cJSON_AddObjectToObject(fw, "unsharded"), "seconds", fwd1);
            cJSON_AddStringToObject(fw, "cpu_products", fwd_blas_ready(NULL, 0) ? "openblas" : "reference");
            if (fwd_blas_core())
                cJSON_AddStringToObject(fw, "openblas_core", fwd_blas_core());
            cJSON_AddNumberToObject(report, "peak_rss_bytes", (double)ck_peak_rss());
            if (no_one) {
                cJSON *uj = cJSON_AddObjectToObject(report, "unsharded");
                cJSON_AddBoolToObject(uj, "run", 0);
                cJSON_AddNumberToObject(uj, "needs_bytes", (double)need1);
                cJSON_AddNumberToObject(uj, "room_bytes", (double)room);
            }
        }
        if (dv)
            say("  device     %.2f MB read and loaded onto the GPU in %.3f s; parameters take %.2f MB of device "
                   "memory (the plan's fp32 bytes: %.2f MB) + %.2f MB of staging\n", bn / 1e6, dvr->load_s,
                   dvr->dev_bytes / 1e6, dvr->plan_bytes / 1e6, kdev_stager_bytes(dvr->stager) / 1e6);
        if (mpi && mpi_figs) { /* one process per rank: each read its own slices */
            say("  loaded     %.2f MB read by %d processes, one per rank (each reads its own rank's slices); ",
                bn / 1e6, mpi->size);
            if (no_one)
                say("the unsharded model not run: it needs %.1f MB (fp32), over the %.1f MB rank 0 has, so the "
                    "layout is compared with %s\n", need1 / 1e6, room / 1e6, a->reference ? a->reference : refpath);
            else
                say("%.2f MB for the unsharded model (rank 0)\n", b1 / 1e6);
            cJSON *pj = report ? cJSON_AddArrayToObject(report, "processes") : NULL;
            for (int r = 0; r < mpi->size; r++) {
                const uint64_t *g = mpi_figs + (size_t)r * MPI_FIGS;
                say("  rank %-4d  stage %d, TP rank %d: %.2f MB read (read(2): %.2f MB), %.2f MB of parameters, "
                    "loaded in %.3f s, peak memory %.1f MB\n", r, r / lay.tp, r % lay.tp,
                    g[FIG_BYTES] / 1e6, g[FIG_RCHAR] / 1e6, g[FIG_PLAN] / 1e6, g[FIG_LOAD_US] / 1e6,
                    g[FIG_RSS_KB] / 1e3);
                cJSON *o = pj ? cJSON_CreateObject() : NULL;
                if (!o)
                    continue;
                cJSON_AddNumberToObject(o, "rank", r);
                cJSON_AddNumberToObject(o, "stage", r / lay.tp);
                cJSON_AddNumberToObject(o, "tp_rank", r % lay.tp);
                cJSON_AddNumberToObject(o, "bytes_read", (double)g[FIG_BYTES]);
                cJSON_AddNumberToObject(o, "read_syscall_bytes", (double)g[FIG_RCHAR]);
                cJSON_AddNumberToObject(o, "parameter_bytes", (double)g[FIG_PLAN]);
                cJSON_AddNumberToObject(cJSON_AddObjectToObject(o, "load"), "seconds", g[FIG_LOAD_US] / 1e6);
                cJSON_AddNumberToObject(o, "peak_rss_bytes", (double)g[FIG_RSS_KB] * 1024.0);
                cJSON_AddItemToArray(pj, o);
            }
        } else
            say("  loaded     %.2f MB read once for the %d ranks of the layout (each tensor once per stage), "
                "%.2f MB for the unsharded model\n", bn / 1e6, lay.tp * lay.pp, b1 / 1e6);
        if (strcmp(s->ck.cfg.rope_type, "longrope") == 0) { /* which factors: a deployment setting */
            int lng = lay.max_model_len > 0 && (double)lay.max_model_len > s->ck.cfg.rope_orig_max;
            say("  rotary     longrope, the %s factors: %s original_max_position_embeddings %.0f, as vLLM takes them "
                "for every position (transformers: by the sequence's own length)\n", lng ? "long" : "short",
                lng ? "--max-model-len over" : lay.max_model_len ? "--max-model-len within" : "vLLM's default "
                "max_model_len,", s->ck.cfg.rope_orig_max);
        }
        say("  logits     relative error %.3g (tolerance %.0e)%s, top-1 tokens agree %d/%d\n", e, TOL,
            no_one ? " against transformers'" : "", agree, a->T);
        int ok = e <= TOL && agree == a->T;
        if (report) {
            cJSON *lj = cJSON_AddObjectToObject(report, "logits");
            cJSON_AddNumberToObject(lj, "relative_error", e);
            cJSON_AddNumberToObject(lj, "tolerance", TOL);
            cJSON_AddNumberToObject(lj, "top1_agree", agree);
            cJSON_AddNumberToObject(lj, "tokens", a->T);
        }
        if (report && no_one)
            cJSON_AddStringToObject(cJSON_GetObjectItem(report, "logits"), "against", "reference");
        if (!ok && no_one)
            say("  diverges   not located: the unsharded model, whose layers would say where, was not run\n");
        if (!ok && !no_one) {
            /* where the two first part: the residual stream after each attention and MLP */
            for (int64_t l = 0; l < layers * 2; l++) {
                size_t off = (size_t)l * (size_t)a->T * (size_t)hidden;
                double le = rel_err(tn + off, t1 + off, (size_t)a->T * (size_t)hidden);
                if (le > TOL) {
                    char mod[32];
                    say("  diverges   at layer %lld, %s: relative error %.3g of its output "
                           "(parameters layers.%lld.%s)\n", (long long)(l / 2), l % 2 ? "the MLP" : "attention",
                           le, (long long)(l / 2), block_module(&s->ck, &s->r, (int)(l % 2), mod, sizeof mod));
                    if (report) {
                        cJSON *dj = cJSON_AddObjectToObject(report, "diverges");
                        cJSON_AddNumberToObject(dj, "layer", (double)(l / 2));
                        cJSON_AddStringToObject(dj, "block", l % 2 ? "mlp" : "attention");
                        cJSON_AddNumberToObject(dj, "relative_error", le);
                        char pm[64];
                        snprintf(pm, sizeof pm, "layers.%lld.%s", (long long)(l / 2), mod);
                        cJSON_AddStringToObject(dj, "parameters", pm);
                    }
                    break;
                }
            }
        }
        const char *vmsg = no_one ? (ok ? "the sharded load computes transformers' logits"
                                        : "the sharded load does not compute transformers' logits")
                                  : ok ? "the sharded load computes what the unsharded one does"
                                       : "the sharded load computes something else";
        say("  verdict    %s: %s\n", ok ? "PASS" : "FAIL", vmsg);
        report_verdict(ok, no_one ? "check.reference" : "check.mismatch", vmsg);
        status = ok ? EXIT_CLEAN : EXIT_FINDINGS;
        if (have_ref && !no_one) {
            int same = ref_V == vocab && ref_T == a->T && memcmp(ref_tok, a->tokens, (size_t)a->T * sizeof *a->tokens) == 0;
            cJSON *rj = report ? cJSON_AddObjectToObject(report, "reference") : NULL;
            if (rj) {
                cJSON_AddStringToObject(rj, "file", a->reference ? a->reference : refpath);
                cJSON_AddBoolToObject(rj, "compared", same);
            }
            if (!same)
                say("  reference  %s is for other tokens or another vocabulary: not compared\n",
                       a->reference ? a->reference : refpath);
            else {
                double e1 = rel_err(l1, ref_lg, nl), en = rel_err(ln, ref_lg, nl);
                int agree1 = 0;
                for (int t = 0; t < a->T; t++)
                    agree1 += argmax(l1 + (size_t)t * (size_t)vocab, (size_t)vocab) ==
                              argmax(ref_lg + (size_t)t * (size_t)vocab, (size_t)vocab);
                /* transformers' float32 forward rounds as check's does, each differently: the two
                 * forwards here (the same weights, summed in another order) measure this model's
                 * float32 rounding, which an ill-conditioned model (a tiny Gemma 4's, 7e-5 with
                 * AVX-512 kernels) takes past TOL; a reference within 4x that agrees as closely */
                double rtol = ok && RTOL_ROUNDING * e > TOL ? RTOL_ROUNDING * e : TOL;
                int rok = e1 <= rtol && en <= rtol && agree1 == a->T;
                if (rj) {
                    cJSON_AddNumberToObject(rj, "relative_error_unsharded", e1);
                    cJSON_AddNumberToObject(rj, "relative_error_sharded", en);
                    cJSON_AddNumberToObject(rj, "tolerance", rtol);
                    cJSON_AddNumberToObject(rj, "top1_agree", agree1);
                    cJSON_AddBoolToObject(rj, "pass", rok);
                }
                if (!rok)
                    report_verdict(0, "check.reference", "these weights, loaded this way, do not compute the reference logits");
                char tnote[160] = "";
                if (rtol > TOL)
                    snprintf(tnote, sizeof tnote, " (tolerance %.2g: %gx the float32 rounding the two forwards "
                             "above show)", rtol, RTOL_ROUNDING);
                say("  reference  transformers' logits (%s): relative error %.3g unsharded, %.3g sharded%s, "
                       "top-1 tokens agree %d/%d: %s\n", a->reference ? a->reference : "reference.logits", e1, en,
                       tnote, agree1, a->T,
                       rok ? "PASS" : "FAIL: these weights, loaded this way, do not compute the reference logits");
                if (!rok)
                    status = EXIT_FINDINGS;
            }
        }
        if (a->against && no_one)
            say("  against    not compared: it needs the unsharded model's layers, which were not run\n");
        else if (a->against) {
            int ca = compare_against(a->against, &s->ck, &s->r, a->tokens, a->T, l1, t1, layers, hidden, vocab,
                                     a->lo.layout.max_model_len);
            status = ca < 0 ? EXIT_USAGE : ca > 0 ? EXIT_FINDINGS : status;
        }
    }
    free(l1);
    free(ln);
    free(t1);
    free(tn);
    free(ref_tok);
    free(ref_lg);
    findings_free(&f);
    return status;
}

/* The end of a check: with --format json the report on stdout (its exit status and tokens added),
 * unless the check could not run (usage or unreadable input: the reason is on stderr). */
static int check_done(const check_args *a, int status)
{
    if (!report)
        return status;
    if (status != EXIT_USAGE && a->json >= 2) { /* the failed verdicts as annotations or SARIF */
        ck_checkpoint where;
        memset(&where, 0, sizeof where);
        where.root = (char *)a->dir; /* findings about the checkpoint are located at its config.json */
        if (a->json == 2)
            out_findings_github(&verdicts, &where);
        else
            out_findings_sarif(&verdicts, &where, "check");
    } else if (status != EXIT_USAGE) {
        cJSON *tj = cJSON_AddArrayToObject(report, "tokens");
        for (int i = 0; i < a->T; i++)
            cJSON_AddItemToArray(tj, cJSON_CreateNumber(a->tokens[i]));
        cJSON_AddNumberToObject(report, "exit", status);
        char *text = cJSON_PrintUnformatted(report);
        if (text)
            puts(text);
        else {
            fprintf(stderr, "ckptdoc check: out of memory printing JSON\n");
            status = EXIT_USAGE;
        }
        free(text);
    }
    cJSON_Delete(report);
    report = NULL;
    findings_free(&verdicts);
    return status;
}

/* Started by mpirun or srun: one process per rank of the layout (world rank = stage * tp +
 * tp_rank), mpi set. Rank 0 reports; the others print nothing on stdout. 0 to go on (launched
 * and ready, or not launched), else the exit status (every process returns it, the first says why). */
static int mpi_start(check_args *a)
{
    if (comm_launched() <= 1)
        return 0;
    const char *also = a->against ? "--against" : a->n_only ? "--layers" : a->load_only ? "--load-only" : NULL;
    int first = comm_launcher_rank() == 0; /* one process says why they all stop */
    if (also) {
        if (first)
            fprintf(stderr, "ckptdoc check: %s runs in one process: leave out %s, or %s\n", also, comm_launcher(),
                    also);
        return EXIT_USAGE;
    }
    if (a->device && strcmp(a->device, "cuda") == 0) {
        if (first)
            fprintf(stderr, "ckptdoc check: one process per rank runs on the CPU in this version (NCCL between GPUs is "
                "not built yet): --device cpu, or one process with --device cuda\n");
        return EXIT_USAGE;
    }
    ck_err err;
    ck_err_clear(&err);
    if (comm_init(&mpi_c, a->lo.layout.tp, a->lo.layout.pp, &err) != CK_OK) {
        char buf[1600];
        if (!mpi_c.world) /* before MPI_Init: this node's installation, which may differ by node */
            fprintf(stderr, "ckptdoc check: rank %d: %s\n", mpi_c.rank, ck_err_str(&err, buf, sizeof buf));
        else if (mpi_c.rank == 0)
            fprintf(stderr, "ckptdoc check: %s\n", ck_err_str(&err, buf, sizeof buf));
        if (mpi_c.world)
            comm_end(&mpi_c);
        return EXIT_USAGE;
    }
    mpi = &mpi_c;
    a->device = "cpu";
    if (mpi->rank != 0) { /* rank 0 reports */
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            fflush(stdout);
            dup2(fd, STDOUT_FILENO);
            close(fd);
        }
    }
    return 0;
}

static int check_run(check_args *a);

int cmd_check(int argc, char **argv)
{
    check_args a;
    int parsed = check_args_parse(argc, argv, &a);
    if (parsed != 0)
        return parsed > 0 ? EXIT_CLEAN : EXIT_USAGE;
    fwd_blas_choose_core(); /* the environment changed before MPI's and the loads' threads run */
    int st = mpi_start(&a);
    if (st != 0)
        return st;
    st = check_run(&a);
    if (mpi) { /* every process exits with rank 0's verdict */
        ck_err err;
        ck_err_clear(&err);
        int32_t v = st;
        if (comm_bcast(mpi, &v, sizeof v, 0, 0, &err) == CK_OK)
            st = v;
        comm_end(mpi);
        mpi = NULL;
        free(mpi_figs);
        mpi_figs = NULL;
    }
    return st;
}

static int check_run(check_args *ap)
{
    check_args a = *ap;
    plan_layout lay = a.lo.layout;
    const char *dir = a.dir;
    char why[256], buf[1600];
    if (a.json && !(report = cJSON_CreateObject())) {
        fprintf(stderr, "ckptdoc check: out of memory\n");
        return EXIT_USAGE;
    }
    if (report) {
        cJSON_AddStringToObject(report, "schema", "ckptdoc.check/1");
        cJSON_AddStringToObject(report, "path", dir);
        cJSON *lj = cJSON_AddObjectToObject(report, "layout");
        cJSON_AddNumberToObject(lj, "tp", lay.tp);
        cJSON_AddNumberToObject(lj, "pp", lay.pp);
        cJSON_AddBoolToObject(lj, "ep", lay.ep);
    }
    /* the layout under test runs on the GPU when there is one; the unsharded model it is compared
     * with always runs on the CPU (the C a.reference) */
    dev_run dvr = {NULL, 0, 0, 0, 0}, *dv = NULL;
    int want_dev = 0;
    if (!a.device || strcmp(a.device, "cuda") == 0) {
        if (!kern_cuda_available(why, sizeof why)) {
            if (a.device) { /* asked for by name: the CPU would not be what was asked */
                fprintf(stderr, "ckptdoc check: --device cuda: no GPU to run on (%s); leave --device out to "
                        "run on the CPU when there is none, or --device cpu\n", why);
                return check_done(&a, EXIT_USAGE);
            }
            fprintf(a.json ? stderr : stdout, "no GPU (%s): running on the CPU\n", why);
        } else
            want_dev = 1;
    }
    session s;
    ck_err err;
    ck_err_clear(&err);
    int opened = session_open(&s, dir, &a.lo, 0, &err);
    if (s.stage >= SESSION_OPENED) {
        lay.untie_embeddings = plan_unties_embeddings(&s.ck);
        /* the session (opened unplanned) derives no list: this command keeps its own */
        if (!s.unconverted)
            s.unconverted = plan_unconverted(&s.ck);
        lay.unconverted = s.unconverted;
    }
    if (s.stage < SESSION_OPENED) {
        say_error("", &err);
        session_free(&s);
        return check_done(&a, EXIT_USAGE);
    }
    if (ckpt_require_data(&s.ck, "check", &err) != CK_OK) {
        say_error("", &err);
        session_free(&s);
        return check_done(&a, EXIT_USAGE);
    }
    if (findings_count(&s.ck.findings, SEV_ERROR)) {
        /* the data cannot be read as it is (a git-lfs pointer, a broken header): nothing to load */
        for (size_t i = 0, k = 0; i < s.ck.findings.n && k < 3; i++)
            if (s.ck.findings.v[i].sev == SEV_ERROR) {
                fprintf(stderr, "ckptdoc check: %s: %s: %s\n", s.ck.findings.v[i].code, s.ck.findings.v[i].file,
                        s.ck.findings.v[i].msg);
                k++;
            }
        fprintf(stderr, "ckptdoc check: %zu errors reading %s; nothing is loaded ('ckptdoc inspect' lists them)\n",
                findings_count(&s.ck.findings, SEV_ERROR), dir);
        session_free(&s);
        return check_done(&a, EXIT_USAGE);
    }
    if (opened != CK_OK) {
        fprintf(stderr, "ckptdoc check: %s\n", ck_err_str(&err, buf, sizeof buf));
        session_free(&s);
        return check_done(&a, EXIT_USAGE);
    }
    if (max_len_refused(&s.ck.cfg, lay.max_model_len)) {
        session_free(&s);
        return check_done(&a, EXIT_USAGE);
    }
    /* a layout the real loader refuses or fails on is not loaded as if it worked */
    char failure[4096];
    if (predicted_failure(&s, &lay, failure, sizeof failure)) {
        say("%s: rules %s (%s), TP %d x PP %d%s\n  verdict    FAIL: the load fails before any logit: %s; "
               "'ckptdoc lint %s' lists every finding\n", dir, s.r.name,
               s.r.loader_version ? s.r.loader_version : s.r.loader, lay.tp, lay.pp,
               lay.ep ? " with expert parallelism" : "", failure, dir);
        char msg[4200];
        snprintf(msg, sizeof msg, "the load fails before any logit: %s", failure);
        report_verdict(0, "check.load_fails", msg);
        session_free(&s);
        return check_done(&a, EXIT_FINDINGS);
    }
    if (want_dev) {
        ck_err de;
        ck_err_clear(&de);
        if (kdev_stager_new(0, &dvr.stager, &de) != CK_OK)
            fprintf(a.json ? stderr : stdout, "no GPU (%s): running on the CPU\n", ck_err_str(&de, buf, sizeof buf));
        else
            dv = &dvr;
    }
    if (a.load_only) {
        int st = load_figures(&s.ck, &s.r, &lay, a.max_mem, &dvr, dir);
        kdev_stager_free(dvr.stager);
        session_free(&s);
        return st;
    }
    if (a.n_only) {
        int st = check_layers(&s.ck, &s.r, &lay, a.only, a.n_only, a.T, a.max_mem, dv, dir);
        kdev_stager_free(dvr.stager);
        session_free(&s);
        return st;
    }
    if (report) {
        cJSON_AddStringToObject(report, "rules", s.r.name);
        cJSON_AddStringToObject(report, "loader", s.r.loader_version ? s.r.loader_version : s.r.loader);
    }
    int status = check_full(&s, &a, &dvr, dv);
    kdev_stager_free(dvr.stager);
    session_free(&s);
    return check_done(&a, status);
}
