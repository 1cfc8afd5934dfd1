/* cmd_check.c - `ckptdoc check DIR [--tp N] [--pp N] [--rules R] [--device cpu|cuda]
 * [--tokens 1,2,..]`: loads every rank of the layout for real (read-only, from the data) and of
 * the unsharded layout, runs the same tokens through both, and compares: the sharded load must
 * give the unsharded logits, or the report names the layer and sub-block where they part. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../inspect/ckpt.h"
#include "../kernels/convert.h"
#include "../loader/forward.h"
#include "../loader/plan.h"
#include "cli.h"
#include "setup.h"

#define TOL 1e-4 /* fp32 weights and accumulation: relative error of the logits */

typedef struct {
    plan p;
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
    if (L->planned)
        plan_free(&L->p);
    memset(L, 0, sizeof *L);
}

static int run_layout(const ck_checkpoint *ck, const rules_file *r, const plan_layout *lay, const int *tokens,
                      int T, float *logits, float *trace, uint64_t *bytes, ck_findings *f, ck_err *err)
{
    layout_run L;
    memset(&L, 0, sizeof L);
    /* quantized weights are dequantized as they are read: the model is planned unquantized */
    ck_config plain = ck->cfg;
    plain.has_quant = 0;
    const cfg_quant *deq = ck->cfg.has_quant ? &ck->cfg.quant : NULL;
    if (deq && strcmp(deq->method, "compressed-tensors") != 0 && strcmp(deq->method, "fp8") != 0)
        return ck_err_set(err, CK_EUSAGE, ck->cfg.path, "quantization_config", CK_NO_OFFSET, "quant_method "
                          "\"%s\" is not dequantized by this version (compressed-tensors, fp8)", deq->method);
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
    L.n = lay->tp * lay->pp;
    L.ranks = calloc((size_t)L.n, sizeof *L.ranks);
    L.ptrs = calloc((size_t)L.n, sizeof *L.ptrs);
    if (!L.ranks || !L.ptrs) {
        run_free(&L);
        return ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    }
    for (int s = 0; s < lay->pp; s++) {
        if ((rc = load_stage(ck, &L.p, s, 0, lay->tp, &L.ranks[s * lay->tp], bytes, deq, err)) != CK_OK) {
            run_free(&L);
            return rc;
        }
        for (int k = 0; k < lay->tp; k++) {
            rank_load *rl = &L.ranks[s * lay->tp + k];
            L.ptrs[s * lay->tp + k] = rl;
            for (size_t i = 0; i < rl->n; i++)
                if (rl->params[i].filled < rl->params[i].expect) {
                    ck_err_set(err, CK_EFORMAT, ck->root, rl->params[i].pp->name, CK_NO_OFFSET, "rank %d of "
                               "stage %d: only %llu of %llu values of this parameter came from the checkpoint",
                               k, s, (unsigned long long)rl->params[i].filled,
                               (unsigned long long)rl->params[i].expect);
                    run_free(&L);
                    return CK_EFORMAT;
                }
        }
    }
    rc = forward_dense(&L.p, &d, L.ptrs, tokens, T, logits, trace, err);
    run_free(&L);
    return rc;
}

/* max |a - b| / max |b| over n values. */
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

/* This checkpoint (unsharded, dequantized as read) against another of the same model: the relative
 * error of the residual stream after every attention and MLP, and of the logits. */
static int compare_against(const char *dir, const ck_checkpoint *mine, const int *tokens, int T, const float *l1,
                           const float *t1, int64_t layers, int64_t hidden, int64_t vocab)
{
    ck_checkpoint other;
    ck_err err;
    char buf[1600];
    ck_err_clear(&err);
    if (ckpt_open(dir, 0, &other, &err) != CK_OK) {
        fprintf(stderr, "ckptdoc check: --against: %s\n", ck_err_str(&err, buf, sizeof buf));
        return -1;
    }
    int64_t ol = 0, oh = 0, ov = 0;
    config_int(&other.cfg, "num_hidden_layers", &ol);
    config_int(&other.cfg, "hidden_size", &oh);
    config_int(&other.cfg, "vocab_size", &ov);
    rules_file r;
    int rc = -1;
    size_t nl = (size_t)T * (size_t)vocab, nt = 2 * (size_t)layers * (size_t)T * (size_t)hidden;
    float *lo = malloc(nl * sizeof *lo), *to = malloc((nt ? nt : 1) * sizeof *to);
    plan_layout one = {1, 1, 0, {0}};
    uint64_t b = 0;
    ck_findings f;
    findings_init(&f);
    if (ol != layers || oh != hidden || ov != vocab || strcmp(other.cfg.model_type, mine->cfg.model_type) != 0)
        fprintf(stderr, "ckptdoc check: --against %s: %s with %lld layers, hidden %lld, vocab %lld; this checkpoint "
                "is %s with %lld, %lld, %lld: not the same model\n", dir, other.cfg.model_type, (long long)ol,
                (long long)oh, (long long)ov, mine->cfg.model_type, (long long)layers, (long long)hidden,
                (long long)vocab);
    else if (!other.cfg.present || choose_rules(dir, NULL, &other.cfg, &r, &err) != CK_OK)
        fprintf(stderr, "ckptdoc check: --against %s: %s\n", dir, other.cfg.present ? err.msg : "no config.json");
    else {
        if (!lo || !to || run_layout(&other, &r, &one, tokens, T, lo, to, &b, &f, &err) != CK_OK)
            fprintf(stderr, "ckptdoc check: --against %s: %s\n", dir, lo && to ? ck_err_str(&err, buf, sizeof buf)
                                                                              : "out of memory");
        else {
            printf("against %s (%s, %s): relative error of this checkpoint's residual stream\n", dir,
                   other.cfg.has_quant ? other.cfg.quant.summary : "unquantized",
                   mine->cfg.has_quant ? "this one dequantized as read" : "this one unquantized");
            for (int64_t l = 0; l < layers; l++) {
                size_t n = (size_t)T * (size_t)hidden, a = (size_t)(2 * l) * n;
                printf("  layer %-4lld attention %.3g   MLP %.3g\n", (long long)l, rel_err(t1 + a, to + a, n),
                       rel_err(t1 + a + n, to + a + n, n));
            }
            int agree = 0;
            for (int t = 0; t < T; t++)
                agree += argmax(l1 + (size_t)t * (size_t)vocab, (size_t)vocab) ==
                         argmax(lo + (size_t)t * (size_t)vocab, (size_t)vocab);
            printf("  logits     relative error %.3g, top-1 tokens agree %d/%d\n", rel_err(l1, lo, nl), agree, T);
            rc = 0;
        }
        rules_free(&r);
    }
    free(lo);
    free(to);
    findings_free(&f);
    ckpt_free(&other);
    return rc;
}

int cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {
        {"rules", required_argument, 0, 'r'}, {"tp", required_argument, 0, 't'},
        {"tensor-parallel-size", required_argument, 0, 't'}, {"pp", required_argument, 0, 'p'},
        {"pipeline-parallel-size", required_argument, 0, 'p'}, {"device", required_argument, 0, 'd'},
        {"tokens", required_argument, 0, 'k'}, {"ep", no_argument, 0, 'e'}, {"against", required_argument, 0, 'a'},
        {"enable-expert-parallel", no_argument, 0, 'e'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *rules = NULL, *device = NULL, *against = NULL;
    plan_layout lay = {1, 1, 0, {0}};
    int tokens[64] = {1, 7, 42, 100, 3, 250, 17, 9}, T = 8, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "r:t:p:d:k:a:eh", opts, NULL)) != -1) {
        char *end;
        long v;
        switch (c) {
        case 'r': rules = optarg; break;
        case 't':
        case 'p':
            v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > (c == 'p' ? PLAN_MAX_PP : 4096)) {
                fprintf(stderr, "ckptdoc check: --%s must be a positive integer, not '%s'\n",
                        c == 't' ? "tp" : "pp", optarg);
                return EXIT_USAGE;
            }
            *(c == 't' ? &lay.tp : &lay.pp) = (int)v;
            break;
        case 'd':
            device = optarg;
            if (strcmp(device, "cpu") && strcmp(device, "cuda")) {
                fprintf(stderr, "ckptdoc check: --device must be cpu or cuda, not '%s'\n", device);
                return EXIT_USAGE;
            }
            break;
        case 'k':
            T = 0;
            for (char *s = optarg; *s && T < 64;) {
                v = strtol(s, &end, 10);
                if (end == s || v < 0) {
                    fprintf(stderr, "ckptdoc check: --tokens takes token ids separated by commas, not '%s'\n",
                            optarg);
                    return EXIT_USAGE;
                }
                tokens[T++] = (int)v;
                s = *end == ',' ? end + 1 : end;
            }
            break;
        case 'e': lay.ep = 1; break;
        case 'a': against = optarg; break;
        case 'h':
            printf("usage: ckptdoc check DIR [--tp N] [--pp N] [--ep] [--rules NAME|FILE] [--device cpu|cuda] "
                   "[--tokens 1,2,...] [--against DIR]\nLoads every rank of the layout from the data and the unsharded model, "
                   "runs the tokens through both and compares the logits. --against DIR: the same tokens through "
                   "another checkpoint of the same model (say the BF16 original of a quantized one), layer by "
                   "layer.\n");
            return EXIT_CLEAN;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "usage: ckptdoc check DIR [--tp N] [--pp N] [--rules NAME|FILE] [--device cpu|cuda]\n");
        return EXIT_USAGE;
    }
    const char *dir = argv[optind];
    char why[256], buf[1600];
    if (!device || strcmp(device, "cuda") == 0) {
        if (!kern_cuda_available(why, sizeof why))
            printf("no GPU (%s): running on the CPU\n", why);
        else
            printf("the forward pass runs on the CPU in this version (the device path is not built yet)\n");
    }
    ck_checkpoint ck;
    ck_err err;
    ck_err_clear(&err);
    if (ckpt_open(dir, 0, &ck, &err) != CK_OK) {
        fprintf(stderr, "ckptdoc check: %s\n", ck_err_str(&err, buf, sizeof buf));
        return EXIT_USAGE;
    }
    if (findings_count(&ck.findings, SEV_ERROR)) {
        /* the data cannot be read as it is (a git-lfs pointer, a broken header): nothing to load */
        for (size_t i = 0, k = 0; i < ck.findings.n && k < 3; i++)
            if (ck.findings.v[i].sev == SEV_ERROR) {
                fprintf(stderr, "ckptdoc check: %s: %s: %s\n", ck.findings.v[i].code, ck.findings.v[i].file,
                        ck.findings.v[i].msg);
                k++;
            }
        fprintf(stderr, "ckptdoc check: %zu errors reading %s; nothing is loaded ('ckptdoc inspect' lists them)\n",
                findings_count(&ck.findings, SEV_ERROR), dir);
        ckpt_free(&ck);
        return EXIT_USAGE;
    }
    rules_file r;
    if (!ck.cfg.present || choose_rules(dir, rules, &ck.cfg, &r, &err) != CK_OK) {
        fprintf(stderr, "ckptdoc check: %s\n", ck.cfg.present ? ck_err_str(&err, buf, sizeof buf)
                                                            : "no readable config.json");
        ckpt_free(&ck);
        return EXIT_USAGE;
    }
    int64_t vocab = 0, hidden = 0, layers = 0;
    config_int(&ck.cfg, "vocab_size", &vocab);
    config_int(&ck.cfg, "hidden_size", &hidden);
    config_int(&ck.cfg, "num_hidden_layers", &layers);
    for (int i = 0; i < T; i++)
        if (vocab <= 0 || tokens[i] >= vocab) {
            fprintf(stderr, "ckptdoc check: token %d is not below vocab_size %lld\n", tokens[i], (long long)vocab);
            rules_free(&r);
            ckpt_free(&ck);
            return EXIT_USAGE;
        }
    size_t nl = (size_t)T * (size_t)vocab, nt = 2 * (size_t)(layers > 0 ? layers : 0) * (size_t)T * (size_t)hidden;
    float *l1 = malloc(nl * sizeof *l1), *ln = malloc(nl * sizeof *ln);
    float *t1 = malloc((nt ? nt : 1) * sizeof *t1), *tn = malloc((nt ? nt : 1) * sizeof *tn);
    plan_layout one = {1, 1, 0, {0}};
    uint64_t b1 = 0, bn = 0;
    ck_findings f;
    findings_init(&f);
    int status = EXIT_USAGE;
    if (!l1 || !ln || !t1 || !tn)
        fprintf(stderr, "ckptdoc check: out of memory\n");
    else if (run_layout(&ck, &r, &one, tokens, T, l1, t1, &b1, &f, &err) != CK_OK)
        fprintf(stderr, "ckptdoc check: %s\n", ck_err_str(&err, buf, sizeof buf));
    else if (run_layout(&ck, &r, &lay, tokens, T, ln, tn, &bn, &f, &err) != CK_OK) {
        /* the unsharded model ran: a slice that does not fit is this layout's failure */
        if (err.code == CK_EFORMAT) {
            printf("%s: rules %s, TP %d x PP %d against TP 1 x PP 1\n  verdict    FAIL: %s\n", dir, r.name,
                   lay.tp, lay.pp, ck_err_str(&err, buf, sizeof buf));
            status = EXIT_FINDINGS;
        } else
            fprintf(stderr, "ckptdoc check: %s\n", ck_err_str(&err, buf, sizeof buf));
    } else {
        double e = rel_err(ln, l1, nl);
        int agree = 0;
        for (int t = 0; t < T; t++)
            agree += argmax(ln + (size_t)t * (size_t)vocab, (size_t)vocab) ==
                     argmax(l1 + (size_t)t * (size_t)vocab, (size_t)vocab);
        printf("%s: rules %s, TP %d x PP %d%s against TP 1 x PP 1, %d tokens, fp32 on the CPU\n", dir, r.name,
               lay.tp, lay.pp, lay.ep ? " with expert parallelism" : "", T);
        printf("  loaded     %.2f MB read once for the %d ranks of the layout (each tensor once per stage), "
               "%.2f MB for the unsharded model\n", bn / 1e6, lay.tp * lay.pp, b1 / 1e6);
        printf("  logits     relative error %.3g (tolerance %.0e), top-1 tokens agree %d/%d\n", e, TOL, agree, T);
        int ok = e <= TOL && agree == T;
        if (!ok) {
            /* where the two first part: the residual stream after each attention and MLP */
            for (int64_t l = 0; l < layers * 2; l++) {
                size_t off = (size_t)l * (size_t)T * (size_t)hidden;
                double le = rel_err(tn + off, t1 + off, (size_t)T * (size_t)hidden);
                if (le > TOL) {
                    printf("  diverges   at layer %lld, %s: relative error %.3g of the residual stream "
                           "(parameters layers.%lld.%s)\n", (long long)(l / 2),
                           l % 2 ? "the MLP" : "attention", le, (long long)(l / 2),
                           l % 2 ? "mlp.gate_up_proj / mlp.down_proj" : "self_attn.qkv_proj / self_attn.o_proj");
                    break;
                }
            }
        }
        printf("  verdict    %s\n", ok ? "PASS: the sharded load computes what the unsharded one does"
                                       : "FAIL: the sharded load computes something else");
        status = ok ? EXIT_CLEAN : EXIT_FINDINGS;
        if (against && compare_against(against, &ck, tokens, T, l1, t1, layers, hidden, vocab) != 0)
            status = EXIT_USAGE;
    }
    free(l1);
    free(ln);
    free(t1);
    free(tn);
    findings_free(&f);
    rules_free(&r);
    ckpt_free(&ck);
    return status;
}
