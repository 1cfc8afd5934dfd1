/* check_oracle.c - lint and the check loader against what the real vLLM did, case by case: every
 * outcome file in fixtures/oracle/outcomes (recorded by `make oracle`, format in docs/oracle.md)
 * is one test per case. For each rank of the case's layout it asserts:
 *   - the verdict: vLLM refused the layout / raised while building the model / raised in
 *     load_weights / loaded, and lint says the same for that rank's stage, with vLLM's exception
 *     type and text exactly (a refusal or a construction error as an error finding, a load error
 *     as the stage's error);
 *   - for a rank that loads, the same parameter names (vLLM's, less the rules' strip_prefix) and
 *     the same local shapes as the plan;
 *   - for an unquantized case, that the check loader's tensors of that rank hold the same values:
 *     both compared as float32 (vLLM loads with dtype float32; ckptdoc converts to fp32), through
 *     the 64-bit content hash fixtures/oracle/run.py records.
 * A check the outcome file marks out of scope (`out-of-scope CHECK REASON`) is not asserted; the
 * reason is printed. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/options.h"
#include "cli/session.h"
#include "loader/forward.h"
#include "loader/load.h"
#include "loader/shard.h"
#include "loader/simulate.h"
#include "tests/suiteutil.h"

#define OUTCOMES "fixtures/oracle/outcomes"

typedef struct {
    char *name;
    int ndim;
    uint64_t shape[8]; /* as vLLM records it (a vision tower's 5-D convolution too) */
    char dtype[24];
    char hash[24];
} o_param;

typedef struct {
    int rank, stage, tp_rank;
    int loads;
    char where[16];       /* "init" or "load" when it raised */
    char *error;          /* "Type: text", NULL when it loads */
    o_param *params;
    size_t n, cap;
} o_rank;

typedef struct {
    char id[256], dir[512], dtype[24], file[1024];
    int line;
    plan_layout layout;
    char *refused;        /* "Type: text" of a refusal before any rank, or NULL */
    char *scope[3];       /* out-of-scope reasons of the verdict, params and values checks */
    o_rank *ranks;
    int n_ranks;
} o_case;

static o_case *cases;
static int n_cases;

static const char *const scope_names[3] = {"verdict", "params", "values"};

static char *unescape(const char *s)
{
    char *o = malloc(strlen(s) + 1), *w = o;
    for (; *s; s++) {
        if (*s == '\\' && s[1]) {
            s++;
            *w++ = *s == 'n' ? '\n' : *s;
        } else
            *w++ = *s;
    }
    *w = 0;
    return o;
}

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = 0;
}

static int parse_shape(const char *s, o_param *p)
{
    p->ndim = 0;
    if (strcmp(s, "-") == 0)
        return 0;
    while (*s) {
        if (p->ndim == 8)
            return -1;
        char *end;
        p->shape[p->ndim++] = strtoull(s, &end, 10);
        if (*end == 'x')
            end++;
        else if (*end)
            return -1;
        s = end;
    }
    return 0;
}

/* Reads one outcome file; aborts the run on a malformed line (the file is generated). */
static void load_outcomes(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: cannot read\n", path);
        exit(2);
    }
    char line[8192];
    int ln = 0;
    o_case *c = NULL;
    o_rank *r = NULL;
    while (fgets(line, sizeof line, f)) {
        ln++;
        chomp(line);
        char *s = line;
        while (*s == ' ')
            s++;
        int bad = 0;
        if (!*s || *s == '#' || strncmp(s, "oracle ", 7) == 0)
            continue;
        if (strncmp(s, "case ", 5) == 0) {
            cases = realloc(cases, (size_t)(n_cases + 1) * sizeof *cases);
            c = &cases[n_cases++];
            memset(c, 0, sizeof *c);
            snprintf(c->id, sizeof c->id, "%s", s + 5);
            snprintf(c->file, sizeof c->file, "%s", path);
            c->line = ln;
            r = NULL;
        } else if (!c) {
            bad = 1;
        } else if (strncmp(s, "dir ", 4) == 0) {
            snprintf(c->dir, sizeof c->dir, "%s", s + 4);
        } else if (strncmp(s, "dtype ", 6) == 0) {
            snprintf(c->dtype, sizeof c->dtype, "%s", s + 6);
        } else if (strncmp(s, "why ", 4) == 0) {
            /* for people */
        } else if (strncmp(s, "layout ", 7) == 0) {
            char part[512];
            bad = sscanf(s, "layout tp=%d pp=%d ep=%d partition=%511s", &c->layout.tp, &c->layout.pp,
                         &c->layout.ep, part) != 4;
            if (!bad && strcmp(part, "-") != 0) {
                char *q = part;
                c->layout.has_partition = 1;
                for (int k = 0; *q && k < PLAN_MAX_PP; k++) {
                    c->layout.partition[k] = (int)strtol(q, &q, 10);
                    if (*q == ',')
                        q++;
                }
            }
        } else if (strncmp(s, "refused ", 8) == 0) {
            c->refused = unescape(s + 8);
        } else if (strncmp(s, "out-of-scope ", 13) == 0) {
            char *what = s + 13, *sp = strchr(what, ' ');
            bad = 1;
            for (int k = 0; sp && k < 3; k++)
                if ((size_t)(sp - what) == strlen(scope_names[k]) && strncmp(what, scope_names[k], sp - what) == 0) {
                    c->scope[k] = unescape(sp + 1);
                    bad = 0;
                }
        } else if (strncmp(s, "rank ", 5) == 0) {
            c->ranks = realloc(c->ranks, (size_t)(c->n_ranks + 1) * sizeof *c->ranks);
            r = &c->ranks[c->n_ranks++];
            memset(r, 0, sizeof *r);
            int at = 0;
            bad = sscanf(s, "rank %d stage=%d tp=%d %n", &r->rank, &r->stage, &r->tp_rank, &at) != 3;
            if (!bad && strncmp(s + at, "loads ", 6) == 0)
                r->loads = 1;
            else if (!bad && sscanf(s + at, "raises-at %15s", r->where) == 1)
                r->error = unescape(s + at + 10 + strlen(r->where) + 1);
            else
                bad = 1;
        } else if (strncmp(s, "param ", 6) == 0 && r && r->loads) {
            if (r->n == r->cap) {
                r->cap = r->cap ? 2 * r->cap : 32;
                r->params = realloc(r->params, r->cap * sizeof *r->params);
            }
            o_param *p = &r->params[r->n];
            char name[1024], shape[128];
            bad = sscanf(s, "param %1023s %127s %23s %23s", name, shape, p->dtype, p->hash) != 4 ||
                  parse_shape(shape, p) != 0;
            if (!bad) {
                p->name = strdup(name);
                r->n++;
            }
        } else if (strcmp(s, "end") == 0) {
            c = NULL;
            r = NULL;
        } else {
            bad = 1;
        }
        if (bad) {
            fprintf(stderr, "%s:%d: not an outcome line: %s\n", path, ln, line);
            exit(2);
        }
    }
    fclose(f);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_all(void)
{
    DIR *d = opendir(OUTCOMES);
    if (!d) {
        fprintf(stderr, "%s: cannot list\n", OUTCOMES);
        exit(2);
    }
    char *names[512];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".txt") == 0 && n < 512)
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", OUTCOMES, names[i]);
        load_outcomes(path);
        free(names[i]);
    }
}

/* The content hash of fixtures/oracle/run.py over float32 values. */
static void content_hash(const float *v, uint64_t n, char out[24])
{
    const uint64_t P = 0x100000001B3ULL;
    uint64_t h = 0, pw = 1;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t w;
        memcpy(&w, &v[i], sizeof w);
        pw *= P;
        h += ((uint64_t)w + 1) * pw;
    }
    h += n;
    snprintf(out, 24, "%016llx", (unsigned long long)h);
}

/* Collects disagreements of one case as lines of text. */
typedef struct {
    char buf[3000];      /* (Check passes a failure message of a few KiB at most) */
    size_t len;
    int n;
} report;

static void say(report *rp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(report *rp, const char *fmt, ...)
{
    rp->n++;
    if (rp->len >= sizeof rp->buf - 2)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(rp->buf + rp->len, sizeof rp->buf - rp->len, fmt, ap);
    va_end(ap);
    if (k > 0)
        rp->len += (size_t)k < sizeof rp->buf - rp->len ? (size_t)k : sizeof rp->buf - rp->len - 1;
    if (rp->len < sizeof rp->buf - 1)
        rp->buf[rp->len++] = '\n';
    rp->buf[rp->len] = 0;
}

/* An error finding of the plan whose message holds text, or NULL; any error finding when text is
 * NULL. */
static const ck_finding *error_finding(const ck_findings *f, const char *text)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i].sev == SEV_ERROR && (!text || strstr(f->v[i].msg, text)))
            return &f->v[i];
    return NULL;
}

static const char *plan_name(const session *s, const char *vllm_name)
{
    const char *w = s->p.wrapper; /* a vision-language model's text decoder: language_model. */
    size_t wl = w ? strlen(w) : 0;
    if (wl && strncmp(vllm_name, w, wl) == 0)
        vllm_name += wl;
    const char *sp = s->r.strip_prefix;
    size_t n = sp ? strlen(sp) : 0;
    return n && strncmp(vllm_name, sp, n) == 0 ? vllm_name + n : vllm_name;
}

/* A parameter of vLLM's whose name, read as a checkpoint key, the rules skip with a reason (a
 * vision-language model's vision tower, loaded beside the text decoder the rules model): not
 * compared. */
static int skipped_by_rules(const session *s, const char *vllm_name)
{
    sim_mapping m;
    ck_err err;
    ck_err_clear(&err);
    return simulate_map_key(&s->p, vllm_name, &m, &err) == CK_OK && m.skip >= 0;
}

/* vLLM gives every attention layer of a quantized model KV-cache quantization scales (k_scale,
 * v_scale, q_scale, prob_scale and their zero points) that keep their defaults when the checkpoint
 * has none (its strict check exempts them): they are not weights a checkpoint must carry, and the
 * plan, which lists what the checkpoint fills, leaves them out. */
static int kv_cache_scale(const char *name)
{
    static const char *const tail[] = {".attn.k_scale", ".attn.v_scale", ".attn.q_scale", ".attn.prob_scale",
                                       ".attn.k_zero_point", ".attn.v_zero_point", ".attn.q_zero_point"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof tail / sizeof *tail; i++) {
        size_t l = strlen(tail[i]);
        if (n > l && strcmp(name + n - l, tail[i]) == 0)
            return 1;
    }
    return 0;
}

/* A Mamba2 mixer's A (NAME.mixer.A, NAME.mamba.A), which vLLM's loader fills with -exp(A_log) of the
 * stored tensor while the check loader keeps A_log as stored (check takes the exponent as it computes). */
static int mamba_a(const char *name)
{
    size_t n = strlen(name);
    return (n > 8 && strcmp(name + n - 8, ".mixer.A") == 0) || (n > 8 && strcmp(name + n - 8, ".mamba.A") == 0);
}

static void compare_params(const o_case *c, const o_rank *r, session *s, report *rp, int values)
{
    const plan *p = &s->p;
    const plan_stage *st = &p->stages[r->stage];
    char *seen = calloc(st->n ? st->n : 1, 1);
    for (size_t i = 0; i < r->n; i++) {
        const o_param *op = &r->params[i];
        const char *nm = plan_name(s, op->name);
        uint64_t k;
        if (kv_cache_scale(op->name) || (s->p.wrapper[0] && skipped_by_rules(s, op->name)))
            continue;
        if (!strmap_get(&st->by_name, nm, &k)) {
            say(rp, "rank %d: vLLM has parameter %s %s, the plan does not", r->rank, op->name, op->dtype);
            continue;
        }
        seen[k] = 1;
        const plan_param *pp = &st->params[k];
        uint64_t local[PLAN_MAX_DIMS];
        memcpy(local, pp->local, sizeof local);
        if (pp->experts > 0 && p->layout.ep) {
            int64_t first, count;
            shard_expert_range(p, pp->experts, r->tp_rank, &first, &count);
            local[0] = (uint64_t)count;
        }
        int same = pp->ndim == op->ndim;
        for (int d = 0; same && d < op->ndim; d++)
            same = local[d] == op->shape[d];
        if (!same) {
            char a[96] = "", b[96] = "";
            for (int d = 0; d < op->ndim; d++)
                snprintf(a + strlen(a), sizeof a - strlen(a), "%s%llu", d ? "x" : "", (unsigned long long)op->shape[d]);
            for (int d = 0; d < pp->ndim; d++)
                snprintf(b + strlen(b), sizeof b - strlen(b), "%s%llu", d ? "x" : "", (unsigned long long)local[d]);
            say(rp, "rank %d: %s is %s in vLLM, %s in the plan", r->rank, op->name, a, b);
        }
    }
    for (size_t k = 0; k < st->n; k++) /* a buffer is not among vLLM's named parameters */
        if (!seen[k] && !p->rules->params[st->params[k].tmpl].buffer)
            say(rp, "rank %d: the plan has %s, vLLM does not", r->rank, st->params[k].name);
    free(seen);
    if (!values || rp->n)
        return;
    rank_load rl;
    uint64_t bytes = 0;
    ck_err err;
    ck_err_clear(&err);
    load_opts o = {0};
    o.layer = -1;
    if (load_stage(&s->ck, p, r->stage, r->tp_rank, 1, &rl, &bytes, &o, &err) != CK_OK) {
        say(rp, "rank %d: the check loader fails: %s", r->rank, err.msg);
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        const o_param *op = &r->params[i];
        if (kv_cache_scale(op->name) || (s->p.wrapper[0] && skipped_by_rules(s, op->name)))
            continue;
        const load_param *lp = rank_param(&rl, p, plan_name(s, op->name));
        if (!lp) {
            say(rp, "rank %d: the check loader did not load %s", r->rank, op->name);
            continue;
        }
        char h[24];
        content_hash(lp->data, lp->n, h);
        if (strcmp(h, op->hash) != 0 && mamba_a(op->name)) { /* vLLM's composed loader stores -exp(A_log) */
            float *e = malloc(lp->n * sizeof *e);
            for (uint64_t j = 0; e && j < lp->n; j++)
                e[j] = -expf(lp->data[j]);
            if (e)
                content_hash(e, lp->n, h);
            free(e);
        }
        if (strcmp(h, op->hash) != 0)
            say(rp, "rank %d: %s holds other values than vLLM's (hash %s, vLLM %s)", r->rank, op->name, h,
                op->hash);
    }
    rank_load_free(&rl);
    (void)c;
}

START_TEST(oracle_case)
{
    const o_case *c = &cases[_i];
    report *rp = calloc(1, sizeof *rp);
    layout_opts o;
    layout_opts_init(&o, "oracle");
    o.layout = c->layout;
    session s;
    ck_err err;
    ck_err_clear(&err);
    int rc = session_open(&s, c->dir, &o, 1, &err);
    int planned = s.stage >= SESSION_PLANNED;
    ck_assert_msg(s.stage >= SESSION_RULES, "%s: %s: %s", c->id, c->dir, err.msg);
    sim_result res = {0};
    ck_findings sf; /* the simulation's findings */
    findings_init(&sf);
    if (planned)
        ck_assert_int_eq(simulate_run(&s.ck, &s.p, &res, &sf, &err), CK_OK);
    int quantized = s.ck.cfg.has_quant;
    if (c->refused) {
        const ck_finding *rf = planned ? error_finding(&s.f, c->refused) : NULL;
        if (rf && plan_finding_kind(rf) != PLAN_REFUSED)
            rf = NULL;
        if (!rf)
            say(rp, "vLLM refuses the layout (%s); lint: %s", c->refused,
                !planned ? err.msg : error_finding(&s.f, NULL) ? error_finding(&s.f, NULL)->msg : "no error");
    } else if (!planned) {
        say(rp, "lint could not plan the layout (code %d: %s); vLLM did not refuse it", rc, err.msg);
    }
    /* a construction error of the whole model (a size TP does not divide): the one with vLLM's
     * text when there are several */
    const ck_finding *unbuilt = NULL;
    for (size_t i = 0; planned && i < s.f.n; i++)
        if (s.f.v[i].sev == SEV_ERROR && strcmp(s.f.v[i].code, "lint.tp_indivisible") == 0)
            for (int k = 0; k < c->n_ranks; k++)
                if (!unbuilt || (c->ranks[k].error && strstr(s.f.v[i].msg, c->ranks[k].error)))
                    unbuilt = &s.f.v[i];
    int all_load = !c->refused;
    for (int i = 0; planned && !c->refused && i < c->n_ranks; i++) {
        const o_rank *r = &c->ranks[i];
        const sim_stage *ss = &res.stages[r->stage];
        const char *build = s.p.stages[r->stage].build_error[0] ? s.p.stages[r->stage].build_error
                            : unbuilt ? unbuilt->msg : NULL;
        /* expert parallelism can spare one TP rank the stage's first error (it holds the expert) */
        const char *ep = ss->ep_rank1 == r->tp_rank + 1 ? (ss->ep_error[0] ? ss->ep_error : "loads") : NULL;
        const char *lint = build ? build : ep ? ep : ss->error[0] ? ss->error : "loads";
        all_load &= r->loads;
        if (!r->loads && strcmp(r->where, "init") == 0) {
            if (!build || !strstr(build, r->error))
                say(rp, "rank %d: vLLM cannot build the model (%s); lint: %s", r->rank, r->error, lint);
        } else if (!r->loads) {
            /* lint keeps an exception's first sizeof ss->error - 1 characters: vLLM's lists of
             * every parameter of a large model run longer */
            const char *le = ep ? ep : ss->error;
            size_t kept = strlen(le);
            int same = strcmp(le, r->error) == 0 ||
                       (kept == sizeof ss->error - 1 && strncmp(le, r->error, kept) == 0);
            if (build || !same)
                say(rp, "rank %d: vLLM builds the model and raises in the load (%s); lint: %s", r->rank,
                    r->error, lint);
        } else if (build || strcmp(lint, "loads") != 0) {
            say(rp, "rank %d: vLLM loads; lint: %s", r->rank, lint);
        } else if (!c->scope[1]) {
            compare_params(c, r, &s, rp, !quantized && !c->scope[2]);
        }
    }
    /* where every rank loads, lint must not call anything an error */
    const ck_finding *any = planned ? error_finding(&s.f, NULL) : NULL;
    if (!any && planned)
        any = error_finding(&sf, NULL);
    if (all_load && any)
        say(rp, "vLLM loads on every rank; lint reports: %s %s", any->code, any->msg);
    int verdict_out = c->scope[0] != NULL;
    sim_result_free(&res);
    findings_free(&sf);
    session_free(&s);
    if (rp->n && !verdict_out)
        ck_abort_msg("%s (%s:%d), %d disagreement(s) with vLLM:\n%s", c->id, c->file, c->line, rp->n, rp->buf);
    free(rp);
}
END_TEST

/* The recorded outcomes themselves: enough cases, every family, negatives, one version. */
START_TEST(oracle_coverage)
{
    int negative = 0;
    for (int i = 0; i < n_cases; i++) {
        int bad = cases[i].refused != NULL;
        for (int k = 0; k < cases[i].n_ranks; k++)
            bad |= !cases[i].ranks[k].loads;
        negative += bad;
    }
    ck_assert_msg(n_cases >= 150, "%d cases recorded", n_cases);
    ck_assert_msg(negative >= 40, "%d negative cases recorded", negative);
}
END_TEST

/* transformers' from_pretrained (fixtures/oracle/transformers.txt): for each recorded checkpoint,
 * lint with the *-hf rules named must warn of exactly the unexpected keys transformers reported
 * (lint.unused), report exactly its missing keys (lint.missing), and its mismatched ones (lint.shape). */
static int in_list(char **v, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return 1;
    return 0;
}

START_TEST(oracle_transformers)
{
    FILE *f = fopen("fixtures/oracle/transformers.txt", "r");
    ck_assert_ptr_nonnull(f);
    char line[4096], dir[1024] = "", rules[128] = "";
    char *want[3][256]; /* unexpected, missing, mismatched */
    int nw[3] = {0, 0, 0}, cases_seen = 0;
    static const char *const what[3] = {"unexpected", "missing", "mismatched"};
    static const char *const code[3] = {"lint.unused", "lint.missing", "lint.shape"};
    report *rp = calloc(1, sizeof *rp);
    while (fgets(line, sizeof line, f)) {
        chomp(line);
        if (strncmp(line, "case ", 5) == 0) {
            ck_assert_int_eq(sscanf(line, "case %1023s rules=%127s", dir, rules), 2);
            continue;
        }
        int k;
        for (k = 0; k < 3; k++) {
            size_t n = strlen(what[k]);
            if (strncmp(line, "  ", 2) == 0 && strncmp(line + 2, what[k], n) == 0 && line[2 + n] == ' ') {
                char name[1024];
                ck_assert_int_eq(sscanf(line + 3 + n, "%1023s", name), 1);
                ck_assert_int_lt(nw[k], 256);
                want[k][nw[k]++] = strdup(name);
                break;
            }
        }
        ck_assert_msg(k < 3 || strncmp(line, "  error ", 8) != 0, "%s: transformers raised; the suite expects "
                      "loading info: %s", dir, line);
        if (strcmp(line, "end") != 0)
            continue;
        cases_seen++;
        layout_opts o;
        layout_opts_init(&o, "oracle");
        o.rules = rules;
        session s;
        ck_err err;
        ck_err_clear(&err);
        ck_assert_msg(session_open(&s, dir, &o, 1, &err) == CK_OK, "%s: %s", dir, err.msg);
        sim_result res;
        ck_findings sf;
        findings_init(&sf);
        ck_assert_int_eq(simulate_run(&s.ck, &s.p, &res, &sf, &err), CK_OK);
        /* the names lint gives: a key (unexpected) or a parameter (missing) */
        for (k = 0; k < 3; k++) {
            char *got[256];
            int ng = 0;
            for (size_t i = 0; i < sf.n && ng < 256; i++)
                if (strcmp(sf.v[i].code, code[k]) == 0)
                    got[ng++] = sf.v[i].key;
            for (int i = 0; i < nw[k]; i++)
                if (!in_list(got, ng, want[k][i]))
                    say(rp, "%s (%s): transformers reports %s '%s'; lint does not (%s)", dir, rules, what[k],
                        want[k][i], code[k]);
            for (int i = 0; i < ng; i++)
                if (!in_list(want[k], nw[k], got[i]))
                    say(rp, "%s (%s): lint reports %s '%s'; transformers does not", dir, rules, code[k], got[i]);
            for (int i = 0; i < nw[k]; i++)
                free(want[k][i]);
            nw[k] = 0;
        }
        sim_result_free(&res);
        findings_free(&sf);
        session_free(&s);
    }
    fclose(f);
    ck_assert_int_gt(cases_seen, 0);
    if (rp->n)
        ck_abort_msg("%d disagreement(s) with transformers:\n%s", rp->n, rp->buf);
    free(rp);
}
END_TEST

/* vLLM's logits (fixtures/oracle/logits.txt, through the whole engine): check's forward pass of
 * every recorded layout, in float32, gives the same log-probabilities over the vocabulary at every
 * position, within LOGIT_TOL (absolute, on log-probabilities of a few units) where vLLM ran in
 * float32; where it ran in bfloat16 (AWQ and GPTQ run only in 16 bits) within LOGIT_TOL_BF16,
 * bfloat16's rounding of every activation (a zero point off by one gives 6), and with the same
 * most likely token wherever vLLM's leads the next by more than that. */
#define LOGIT_TOL 1e-4
#define LOGIT_TOL_BF16 0.5

START_TEST(oracle_logits)
{
    FILE *f = fopen("fixtures/oracle/logits.txt", "r");
    ck_assert_ptr_nonnull(f);
    size_t cap = 1 << 20;
    char *line = malloc(cap);
    char dir[1024] = "", dtype[16] = "float32";
    int tp = 1, pp = 1, T = 0, tokens[64], cases_seen = 0;
    float *want = NULL;
    int64_t V = 0;
    report *rp = calloc(1, sizeof *rp);
    double worst_all = 0;
    while (fgets(line, (int)cap, f)) {
        chomp(line);
        if (strncmp(line, "case ", 5) == 0) {
            snprintf(dtype, sizeof dtype, "float32");
            ck_assert_int_ge(sscanf(line, "case %1023s tp=%d pp=%d dtype=%15s", dir, &tp, &pp, dtype), 3);
            T = 0;
            free(want);
            want = NULL;
        } else if (strncmp(line, "  tokens ", 9) == 0) {
            for (char *q = line + 9; *q && T < 64; q++) {
                tokens[T++] = (int)strtol(q, &q, 10);
                if (*q != ',')
                    break;
            }
        } else if (strncmp(line, "  logprobs ", 11) == 0) {
            char *q = line + 11;
            int pos = (int)strtol(q, &q, 10);
            int64_t n = 0;
            float row[4096];
            while (*q && n < 4096) {
                char *e;
                double v = strtod(q, &e);
                if (e == q)
                    break;
                row[n++] = (float)v;
                q = e;
            }
            if (!want) {
                V = n;
                want = calloc((size_t)(T * V), sizeof *want);
            }
            ck_assert_int_eq(n, V);
            ck_assert(pos >= 0 && pos < T);
            memcpy(want + (size_t)pos * (size_t)V, row, (size_t)V * sizeof *row);
        } else if (strcmp(line, "end") == 0) {
            cases_seen++;
            layout_opts o;
            layout_opts_init(&o, "oracle");
            o.layout.tp = tp;
            o.layout.pp = pp;
            o.layout.max_model_len = 64; /* run.py's LLM(max_model_len=64): longrope's long factors */
            session s;
            ck_err err;
            ck_err_clear(&err);
            ck_assert_msg(session_open(&s, dir, &o, 1, &err) == CK_OK, "%s: %s", dir, err.msg);
            /* as check runs it: quantized weights dequantized as read into the unquantized model */
            ck_config plain = s.ck.cfg;
            plain.has_quant = 0;
            const cfg_quant *deq = s.ck.cfg.has_quant ? &s.ck.cfg.quant : NULL;
            plan pl;
            ck_findings pf;
            findings_init(&pf);
            ck_assert_msg(plan_build(&s.r, deq ? &plain : &s.ck.cfg, &s.p.layout, &pl, &pf, &err) == CK_OK, "%s",
                          err.msg);
            dense_dims d;
            ck_assert_msg(dense_dims_of(&pl, &d, &err) == CK_OK, "%s", err.msg);
            ck_assert_int_eq(d.vocab, V);
            rank_load *rl = calloc((size_t)(tp * pp), sizeof *rl);
            rank_load **ptr = calloc((size_t)(tp * pp), sizeof *ptr);
            load_opts lo = {0};
            lo.layer = -1;
            lo.deq = deq;
            for (int st = 0; st < pp; st++) {
                uint64_t bytes = 0;
                ck_assert_msg(load_stage(&s.ck, &pl, st, 0, tp, rl + st * tp, &bytes, &lo, &err) == CK_OK,
                              "%s", err.msg);
            }
            for (int k = 0; k < tp * pp; k++)
                ptr[k] = &rl[k];
            float *lg = malloc((size_t)(T * V) * sizeof *lg);
            ck_assert_msg(forward_dense(&pl, &d, ptr, tokens, T, lg, NULL, &err) == CK_OK, "%s", err.msg);
            double worst = 0, tol = strcmp(dtype, "float32") == 0 ? LOGIT_TOL : LOGIT_TOL_BF16;
            int top_differs = 0;
            for (int t = 0; t < T; t++) {
                const float *x = lg + (size_t)t * (size_t)V, *y = want + (size_t)t * (size_t)V;
                double mx = x[0], sum = 0;
                int64_t ax = 0, ay = 0;
                for (int64_t v = 1; v < V; v++) {
                    mx = x[v] > mx ? x[v] : mx;
                    ax = x[v] > x[ax] ? v : ax;
                    ay = y[v] > y[ay] ? v : ay;
                }
                double second = -1e30; /* vLLM's lead: a near tie may go either way in bfloat16 */
                for (int64_t v = 0; v < V; v++)
                    if (v != ay && y[v] > second)
                        second = y[v];
                top_differs += ax != ay && y[ay] - second > tol;
                for (int64_t v = 0; v < V; v++)
                    sum += exp((double)x[v] - mx);
                double lse = mx + log(sum);
                for (int64_t v = 0; v < V; v++) {
                    double dlt = fabs((double)x[v] - lse - want[(size_t)t * (size_t)V + (size_t)v]);
                    worst = dlt > worst ? dlt : worst;
                }
            }
            if (worst > tol || top_differs)
                say(rp, "%s TP %d x PP %d (vLLM in %s): log-probabilities differ from vLLM's by up to %.3g "
                    "(tolerance %.2g), another most likely token at %d of %d positions", dir, tp, pp, dtype, worst, tol,
                    top_differs, T);
            printf("oracle: %s TP %d x PP %d (vLLM in %s): largest log-probability difference %.3g\n", dir, tp, pp,
                   dtype, worst);
            worst_all = worst > worst_all && strcmp(dtype, "float32") == 0 ? worst : worst_all;
            free(lg);
            for (int k = 0; k < tp * pp; k++)
                rank_load_free(&rl[k]);
            free(rl);
            free(ptr);
            plan_free(&pl);
            findings_free(&pf);
            session_free(&s);
        }
    }
    fclose(f);
    free(line);
    free(want);
    printf("oracle: check's log-probabilities against vLLM's, %d layouts: largest difference in float32 %.3g\n",
           cases_seen, worst_all);
    ck_assert_int_gt(cases_seen, 0);
    if (rp->n)
        ck_abort_msg("%s", rp->buf);
    free(rp);
}
END_TEST

/* The checks kept out of scope, each reason once with how many cases it covers; every one has a
 * reason. */
START_TEST(oracle_scope)
{
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < n_cases; i++) {
            const char *why = cases[i].scope[k];
            int seen = 0, n = 0;
            for (int j = 0; j < n_cases && why; j++) {
                if (cases[j].scope[k] && strcmp(cases[j].scope[k], why) == 0) {
                    seen |= j < i;
                    n++;
                }
            }
            if (!why || seen)
                continue;
            ck_assert_msg(strlen(why) > 20, "%s: a reason must say why", cases[i].id);
            printf("oracle: %s not asserted for %d case(s): %s\n", scope_names[k], n, why);
        }
}
END_TEST

int main(void)
{
    load_all();
    Suite *s = suite_create("oracle");
    TCase *tc = tcase_create("vllm");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, oracle_case, 0, n_cases);
    tcase_add_test(tc, oracle_coverage);
    tcase_add_test(tc, oracle_scope);
    tcase_add_test(tc, oracle_transformers);
    tcase_add_test(tc, oracle_logits);
    suite_add_tcase(s, tc);
    return tu_suite_run(s);
}
