/* cmd_lint.c - `ckptdoc lint DIR`: would this checkpoint load under this layout? Builds the
 * plan of every pipeline stage from the rules, replays the loader over the checkpoint's keys
 * (headers, or the index alone) and reports, per rank, what it would raise. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inspect/ckpt.h"
#include "loader/plan.h"
#include "loader/shard.h"
#include "loader/simulate.h"
#include "rules/rules.h"
#include "cli/cli.h"
#include "cli/options.h"
#include "cli/out.h"
#include "cli/session.h"

#define SCHEMA "ckptdoc.lint/1"

typedef struct {
    const char *path;
    layout_opts lo;       /* --rules and the layout */
    int fmt, no_color, strict, quiet, index_only;
    const char *ignore, *select; /* --ignore, --select: codes or categories, comma-separated */
    const char *output;   /* --output FILE, or NULL: stdout */
} lint_args;

/* --select, --ignore and --quiet: which findings the report keeps (and the exit status counts,
 * but for --quiet, which only leaves out what is not an error). */
/* --index-only: shards not downloaded yet (absent, or git-lfs pointers) are what the user expects:
 * notes, and one note that says what was not checked. */
static void index_only(ck_findings *f, const ck_checkpoint *ck)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i].code, "index.missing_shard") == 0 || strcmp(f->v[i].code, "file.lfs_pointer") == 0) {
            f->v[i].sev = SEV_NOTE;
            n++;
        }
    findings_add(f, "lint.index_only", SEV_NOTE, ck->has_index ? "model.safetensors.index.json" : "", NULL,
                 UINT64_MAX, "--index-only: %zu shard%s not downloaded (absent or git-lfs pointers) taken as "
                 "expected; the keys come from the index, so shapes, dtypes and the quantization's tensor shapes "
                 "were not checked: lint again once the shards are there", n, n == 1 ? "" : "s");
}

static int keep_finding(const ck_finding *x, void *ctx)
{
    const lint_args *a = ctx;
    if (a->select && !finding_code_matches(x->code, a->select))
        return 0;
    if (a->ignore && finding_code_matches(x->code, a->ignore))
        return 0;
    return !a->quiet || x->sev == SEV_ERROR;
}



static void usage_lint(FILE *fp)
{
    fprintf(fp,
            "usage: ckptdoc lint DIR [--rules NAME|FILE] [--tp N] [--pp N] [--ep]\n"
            "                    [--pp-partition A,B,..] [--format text|json|github|sarif] [--strict]\n"
            "                    [--quiet] [--select CODES] [--ignore CODES] [--output FILE] [--index-only]\n"
            "Predicts, from headers alone (or the index alone), what the loader does with this\n"
            "checkpoint on every rank of a tensor/pipeline-parallel layout: which keys load where,\n"
            "which are skipped and why, which parameters stay empty, and the exception it raises.\n"
            "  --rules R          built-in rules name or a rules file (default: from config.json)\n"
            "  --tp N, --tensor-parallel-size N     --pp N, --pipeline-parallel-size N\n"
            "  --ep, --enable-expert-parallel       experts split over the TP ranks\n"
            "  --pp-partition A,B  layers per stage (vLLM's VLLM_PP_LAYER_PARTITION)\n"
            "  --strict           warnings count as errors for the exit status\n"            "  --quiet            errors only\n"
            "  --select C,..      only these codes or categories (lint.missing, st); --ignore C,.. not these\n"
            "  --output FILE      the report into FILE instead of standard output\n"
            "  --index-only       before the download: shards absent or git-lfs pointers are notes, the\n"
            "                     keys come from model.safetensors.index.json (shapes unchecked)\n"
            "Exit status: 0 no error findings, 1 error findings, 2 usage or unreadable input.\n");
}

static const struct option lint_opts[] = {
    LAYOUT_OPTIONS, {"format", required_argument, 0, 'f'}, {"strict", no_argument, 0, 's'},
    {"no-color", no_argument, 0, 'C'}, {"quiet", no_argument, 0, 'q'}, {"ignore", required_argument, 0, 'I'},
    {"select", required_argument, 0, 'S'}, {"output", required_argument, 0, 'o'},
    {"index-only", no_argument, 0, 'X'}, {0, 0, 0, 0}};

/* 0, 1 after --help (usage printed), -1 on a usage error (message printed). */
static int parse_args(int argc, char **argv, lint_args *a)
{
    memset(a, 0, sizeof *a);
    layout_opts *lo = &a->lo;
    layout_opts_init(lo, "lint");
    if (cli_config_args("lint", lint_opts, &argc, &argv) != 0)
        return -1;
    optind = 0; /* glibc: a full restart, also of a half-read "-abc" from an earlier parse */
    int c, taken;
    while ((c = getopt_long(argc, argv, LAYOUT_SHORT "f:sCqI:S:o:X", lint_opts, NULL)) != -1) {
        if ((taken = layout_opt_take(lo, c, optarg)) < 0)
            return -1;
        if (taken)
            continue;
        switch (c) {
        case 'f': {
            if ((a->fmt = cli_choice("lint", "format", optarg, out_formats, OUT_FORMATS)) < 0)
                return -1;
            break;
        }
        case 's': a->strict = 1; break;
        case 'C': a->no_color = 1; break;
        case 'q': a->quiet = 1; break;
        case 'I':
        case 'S':
            if (out_codes_valid("lint", c == 'I' ? "ignore" : "select", optarg) != 0)
                return -1;
            *(c == 'I' ? &a->ignore : &a->select) = optarg;
            break;
        case 'o': a->output = optarg; break;
        case 'X': a->index_only = 1; break;
        default:
            return -1;
        }
    }
    if (lo->help) {
        usage_lint(stdout);
        return 1;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "ckptdoc lint: expected one checkpoint folder\n");
        return -1;
    }
    a->path = argv[optind];
    if (layout_opts_finish(lo))
        return -1;
    return 0;
}

/* What a stage's ranks do, in one word: vLLM refuses the layout before any rank starts, the model
 * cannot be built (a size TP does not divide), the load raises, a parameter stays empty, or it
 * loads. */
static const char *stage_verdict(const ck_findings *f, const plan_stage *ps, const sim_stage *x)
{
    int refused = 0, unbuilt = 0;
    for (size_t i = 0; i < f->n; i++) {
        refused |= plan_finding_kind(&f->v[i]) == PLAN_REFUSED;
        /* a stage's own construction error is its build_error; a size TP does not divide stops all */
        unbuilt |= plan_finding_kind(&f->v[i]) == PLAN_UNBUILT && !plan_finding_stage(&f->v[i]);
    }
    return refused ? "refused" : unbuilt || ps->build_error[0] ? "not built" : x->error[0] ? "raises" : x->missing ? "incomplete" : "loads";
}

static void print_text(const lint_args *a, const ck_checkpoint *ck, const rules_file *r,
                       const plan *p, const sim_result *res, const ck_findings *f, const out_style *st)
{
    char fam[512], ranks[256];
    printf("%s%s%s\n", out_bold(st), ck->root, out_reset(st));
    printf("  %-10s %s\n", "family", ckpt_family(ck, fam, sizeof fam));
    printf("  %-10s %s (%s), loader %s%s%s\n", "rules", r->name, r->path, r->loader,
           r->loader_version ? ", as of " : "", r->loader_version ? r->loader_version : "");
    const plan_layout *lay = &a->lo.layout;
    printf("  %-10s TP %d x PP %d%s = %d rank%s, quantization %s", "layout", lay->tp, lay->pp,
           lay->ep ? " with expert parallelism" : "", lay->tp * lay->pp, lay->tp * lay->pp == 1 ? "" : "s",
           p->quant->method);
    /* several config groups: the variant of each; GPTQ's per-module rules: how many */
    if (ck->cfg.n_groups && strcmp(ck->cfg.quant.method, "gptq") == 0)
        printf(" (%d dynamic per-module rule%s)", ck->cfg.n_groups, ck->cfg.n_groups == 1 ? "" : "s");
    char seen[512] = "", one[128];
    for (int i = 1; ck->cfg.n_groups > 1 && strcmp(ck->cfg.quant.method, "gptq") != 0 && i < p->n_schemes; i++) {
        const cfg_quant *q = p->schemes[i].q;
        snprintf(one, sizeof one, "%s W%d%s", p->schemes[i].v.method, q->bits, q->activation);
        if (!strstr(seen, one)) /* each scheme once */
            snprintf(seen + strlen(seen), sizeof seen - strlen(seen), "%s%s", seen[0] ? ", " : "", one);
    }
    if (seen[0])
        printf(" (config groups: %s)", seen);
    printf("\n");
    int64_t n_exp = plan_experts(p);
    if (n_exp && lay->ep && lay->tp > 1) {
        /* where each expert lives: vLLM's linear placement over the TP ranks of a stage */
        printf("  %-10s %lld routed experts per MoE layer over %d ranks:", "experts", (long long)n_exp, lay->tp);
        for (int k = 0; k < lay->tp; k++) {
            int64_t s0, c;
            shard_expert_range(p, n_exp, k, &s0, &c);
            if (k < 4 || k == lay->tp - 1)
                printf("%s TP rank %d: %lld-%lld", k ? "," : "", k, (long long)s0, (long long)(s0 + c - 1));
            else if (k == 4)
                printf(", ...");
        }
        printf("\n");
    } else if (n_exp)
        printf("  %-10s %lld routed experts per MoE layer, all on every rank, each sliced over TP %d\n",
               "experts", (long long)n_exp, lay->tp);
    printf("  %-10s %zu keys per rank%s\n", "keys", res->keys,
           res->from_index ? " (from the index: shard headers unreadable, shape checks skipped)" : "");
    for (int s = 0; s < res->n_stages; s++) {
        const sim_stage *x = &res->stages[s];
        const plan_stage *ps = &p->stages[s];
        char ep_s[400];
        sim_ranks_str(p, 1ull << s, ranks, sizeof ranks);
        char lay_s[48];
        if (ps->layer_end > ps->layer_start)
            snprintf(lay_s, sizeof lay_s, "layers %d-%d", ps->layer_start, ps->layer_end - 1);
        else
            snprintf(lay_s, sizeof lay_s, "no layers");
        printf("  %-10s %s, %s: %zu loaded, %zu skipped by rules, %zu for other stages",
               s ? "" : "stages", ranks, lay_s, x->loaded, x->skipped_rules, x->skipped_pp);
        const char *v = stage_verdict(f, ps, x);
        if (strcmp(v, "refused") == 0)
            printf(" - %snot started: vLLM refuses the configuration%s", out_sev_color(st, SEV_ERROR), out_reset(st));
        else if (strcmp(v, "not built") == 0)
            printf(" - %sthe model cannot be built%s", out_sev_color(st, SEV_ERROR), out_reset(st));
        else if (x->error[0]) {
            /* a long exception (a strict check naming hundreds of parameters) is cut on the summary
             * line; the findings and --format json carry it whole; the TP rank expert parallelism
             * spared it, with its own */
            ep_s[0] = 0;
            if (x->ep_rank1)
                snprintf(ep_s, sizeof ep_s, " (TP rank %d: %.300s)", x->ep_rank1 - 1,
                         x->ep_error[0] ? x->ep_error : "loads");
            printf(" - %sraises %.*s%s%s%s", out_sev_color(st, SEV_ERROR), 600, x->error,
                   strlen(x->error) > 600 ? " ..." : "", ep_s, out_reset(st));
        }
        else if (!x->missing)
            printf(" - loads");
        printf("\n");
    }
    size_t ne = findings_count(f, SEV_ERROR), nw = findings_count(f, SEV_WARNING),
           nn = findings_count(f, SEV_NOTE);
    printf("  %-10s %zu error%s, %zu warning%s, %zu note%s\n", "findings", ne, ne == 1 ? "" : "s",
           nw, nw == 1 ? "" : "s", nn, nn == 1 ? "" : "s");
    if (f->n)
        printf("\n");
    out_findings(f, st);
}

static void print_json(const lint_args *a, const ck_checkpoint *ck, const rules_file *r,
                       const plan *p, const sim_result *res, const ck_findings *f)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "schema", SCHEMA);
    cJSON_AddStringToObject(root, "path", ck->root);
    cJSON *rj = cJSON_AddObjectToObject(root, "rules");
    cJSON_AddStringToObject(rj, "name", r->name);
    cJSON_AddStringToObject(rj, "path", r->path);
    cJSON_AddStringToObject(rj, "loader", r->loader);
    if (r->loader_version)
        cJSON_AddStringToObject(rj, "loader_version", r->loader_version);
    else
        cJSON_AddNullToObject(rj, "loader_version");
    cJSON *lj = cJSON_AddObjectToObject(root, "layout");
    cJSON_AddNumberToObject(lj, "tp", a->lo.layout.tp);
    cJSON_AddNumberToObject(lj, "pp", a->lo.layout.pp);
    cJSON_AddBoolToObject(lj, "ep", a->lo.layout.ep);
    cJSON_AddStringToObject(lj, "quantization", p->quant->method);
    cJSON_AddNumberToObject(root, "keys", (double)res->keys);
    cJSON_AddBoolToObject(root, "from_index", res->from_index);
    cJSON *sa = cJSON_AddArrayToObject(root, "stages");
    for (int s = 0; s < res->n_stages; s++) {
        const sim_stage *x = &res->stages[s];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "stage", s);
        int rk[2] = {s * a->lo.layout.tp, (s + 1) * a->lo.layout.tp - 1};
        cJSON_AddItemToObject(o, "ranks", cJSON_CreateIntArray(rk, 2));
        int ly[2] = {p->stages[s].layer_start, p->stages[s].layer_end};
        cJSON_AddItemToObject(o, "layers", cJSON_CreateIntArray(ly, 2));
        cJSON_AddNumberToObject(o, "params", (double)p->stages[s].n);
        cJSON_AddNumberToObject(o, "loaded", (double)x->loaded);
        cJSON_AddNumberToObject(o, "skipped_rules", (double)x->skipped_rules);
        cJSON_AddNumberToObject(o, "skipped_other_stages", (double)x->skipped_pp);
        cJSON_AddNumberToObject(o, "unexpected", (double)x->unexpected);
        cJSON_AddNumberToObject(o, "missing", (double)x->missing);
        cJSON_AddStringToObject(o, "verdict", stage_verdict(f, &p->stages[s], x));
        if (x->error[0]) {
            cJSON_AddStringToObject(o, "error", x->error);
            cJSON_AddStringToObject(o, "error_key", x->error_key);
            cJSON_AddStringToObject(o, "error_file", x->error_file);
            if (x->ep_rank1) { /* the TP rank the error spares (expert parallelism), and its own */
                cJSON_AddNumberToObject(o, "spared_tp_rank", x->ep_rank1 - 1);
                if (x->ep_error[0]) {
                    cJSON_AddStringToObject(o, "spared_error", x->ep_error);
                    cJSON_AddStringToObject(o, "spared_error_key", x->ep_error_key);
                } else
                    cJSON_AddNullToObject(o, "spared_error");
            }
        } else
            cJSON_AddNullToObject(o, "error");
        cJSON_AddItemToArray(sa, o);
    }
    out_findings_json(root, f);
    char *text = cJSON_PrintUnformatted(root);
    if (text)
        puts(text);
    free(text);
    cJSON_Delete(root);
}

typedef struct {
    char keys[3][200];
    int n;
    const rules_file *r;  /* the rules whose key rules name the parts */
} notice_keys;

static void collect_key(void *ctx, const char *key, const char *file, const sim_mapping *m)
{
    notice_keys *k = ctx;
    (void)file;
    char pw[64];
    if (k->n < 3)
        snprintf(k->keys[k->n], sizeof k->keys[0], "%s%s%s%s", key, m->part ? " (" : "",
                 m->part ? rules_key_parts_text(&k->r->keys[m->rule], pw, sizeof pw) : "", m->part ? ")" : "");
    k->n++;
}

/* The parameters the loader's notice is about (fused ones no key of that name fills): the first
 * of them, and how many there are in *n. NULL when none. */
static const char *notice_param(const ck_checkpoint *ck, const plan *p, size_t *n)
{
    const char *first = NULL;
    *n = 0;
    for (int st = 0; st < p->layout.pp; st++)
        for (size_t i = 0; i < p->stages[st].n; i++) {
            const plan_param *pp = &p->stages[st].params[i];
            if (p->rules->params[pp->tmpl].n_parts == 0 || ckpt_find(ck, pp->name, NULL))
                continue;
            (*n)++;
            if (!first)
                first = pp->name;
        }
    return first;
}

/* A loader that logs a harmless line for each parameter the checkpoint does not spell as such
 * (XTuner's merged w1w3): one note with the count and the mapping of the first (from the keys k
 * lists), so the log lines can be read for what they are. */
static void add_notice(const plan *p, const char *first, size_t n, const notice_keys *k, ck_findings *f)
{
    char line[600];
    pattern_value v[PATTERN_MAX_CAPS] = {{0}};
    int pi = pattern_cap_index(&p->rules->notice, "param", 5);
    for (int i = 0; i < p->rules->notice.n_caps; i++) {
        v[i].s = i == pi ? first : "<shard>";
        v[i].len = strlen(v[i].s);
    }
    if (pattern_format(&p->rules->notice, v, line, sizeof line) < 0)
        snprintf(line, sizeof line, "%s", first);
    findings_add(f, "lint.loader_notice", SEV_NOTE, "", first, UINT64_MAX,
                 "%s logs '%s' for %zu merged parameters: harmless, %s is built from %s%s%s%s%s. %s",
                 p->rules->loader, line, n, first, k->n ? k->keys[0] : "no key", k->n > 1 ? " + " : "",
                 k->n > 1 ? k->keys[1] : "", k->n > 2 ? " + " : "", k->n > 2 ? k->keys[2] : "",
                 p->rules->notice_reason);
}

/* The map of the keys, begun on other threads once the headers are read, while the reader
 * cross-checks them. */
static void headers_read(void *ctx, const ck_checkpoint *ck, const plan *p)
{
    *(sim_early **)ctx = simulate_start(ck, p);
}

static void stop_early(void *ctx)
{
    simulate_abandon(*(sim_early **)ctx);
    *(sim_early **)ctx = NULL;
}

int cmd_lint(int argc, char **argv)
{
    lint_args a;
    int parsed = parse_args(argc, argv, &a);
    if (parsed > 0)
        return EXIT_CLEAN; /* --help */
    if (parsed < 0) {
        cli_misuse("lint", argc, argv, lint_opts);
        return EXIT_USAGE;
    }
    if (a.output) { /* the report into the file: stdout's descriptor, whatever stream writes it */
        fflush(stdout);
        int fd = open(a.output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0) {
            fprintf(stderr, "ckptdoc lint: --output %s: cannot write: %s\n", a.output, strerror(errno));
            if (fd >= 0)
                close(fd);
            return EXIT_USAGE;
        }
        close(fd);
    }
    out_style st;
    out_style_detect(&st, stdout, a.no_color || a.fmt != OUT_FMT_TEXT || a.output);
    ck_err err;
    char buf[1600];
    ck_err_clear(&err);
    sim_early *early = NULL; /* the map of the keys, begun while the reader cross-checks */
    session_hooks hooks = {headers_read, stop_early, &early};
    session s;
    int rc = session_open_with(&s, a.path, &a.lo, 1, &hooks, &err);
    int status = EXIT_USAGE;
    ck_findings f;
    findings_init(&f);
    const ck_checkpoint *ck = &s.ck;
    const rules_file *rp = &s.r;
    const plan *pl = &s.p;
    if (s.stage < SESSION_RULES) {
        fprintf(stderr, "ckptdoc lint: %s\n", ck_err_str(&err, buf, sizeof buf));
        goto out;
    }
    /* the reader's own errors (a pointer shard, a broken header) matter to the load too */
    findings_append(&f, &ck->findings, SEV_ERROR);
    for (size_t i = 0; i < ck->findings.n; i++) { /* and config.json's warnings: every size follows from it */
        const ck_finding *x = &ck->findings.v[i];
        if (x->sev < SEV_ERROR && strncmp(x->code, "config.", 7) == 0)
            findings_add(&f, x->code, x->sev, x->file, x->key, x->offset, "%s", x->msg);
    }
    int wrong = !rules_match(rp, &ck->cfg);
    char family[256];
    if (wrong)
        findings_add(&f, "lint.wrong_family", SEV_ERROR, "config.json", NULL, UINT64_MAX,
                     "rules \"%s\" are for model_type %s, but config.json says \"%s\" (%s) and "
                     "the keys look like %s: this loader cannot load this checkpoint",
                     rp->name, rp->n_model_types ? rp->model_types[0] : "?", ck->cfg.model_type,
                     ck->cfg.architectures, keys_look_like(ck, family, sizeof family));
    /* plan_build's findings follow the reader's and the family's, as when it ran here */
    findings_append(&f, &s.f, SEV_NOTE);
    if (rc != CK_OK && wrong && rc == CK_EFORMAT) {
        /* the rules need fields this config does not have: part of the same verdict */
        char where[320];
        if (err.line)
            snprintf(where, sizeof where, "rules line %d", err.line);
        else
            snprintf(where, sizeof where, "%s", err.key[0] ? err.key : "rules");
        findings_add(&f, "lint.rules_not_applicable", SEV_ERROR, rp->path, NULL, UINT64_MAX,
                     "the model these rules build cannot be derived from this config.json (%s): %s",
                     where, err.msg);
        findings_keep(&f, keep_finding, &a);
        if (a.fmt == OUT_FMT_SARIF)
            out_findings_sarif(&f, ck, "lint");
        else if (a.fmt == OUT_FMT_GITHUB)
            out_findings_github(&f, ck);
        else
            out_findings(&f, &st);
        status = findings_count(&f, SEV_ERROR) ? EXIT_FINDINGS : EXIT_CLEAN;
        goto out;
    }
    if (rc != CK_OK) {
        fprintf(stderr, "ckptdoc lint: %s\n", ck_err_str(&err, buf, sizeof buf));
        goto out;
    }
    sim_result res;
    /* the keys of the loader's notice are listed by the same pass */
    size_t n_notice = 0;
    const char *notice = rp->has_notice ? notice_param(ck, pl, &n_notice) : NULL;
    notice_keys nk = {{{0}}, 0, pl->rules};
    sim_listing listing = {notice, collect_key, &nk};
    sim_early *e = early; /* begun while the reader cross-checked the headers */
    early = NULL;
    int src = e ? simulate_run_early(e, notice ? &listing : NULL, &res, &f, &err)
                : simulate_run_listing(ck, pl, notice ? &listing : NULL, &res, &f, &err);
    if (src != CK_OK) {
        fprintf(stderr, "ckptdoc lint: %s\n", ck_err_str(&err, buf, sizeof buf));
    } else {
        if (notice)
            add_notice(pl, notice, n_notice, &nk, &f);
        if (a.index_only)
            index_only(&f, ck);
        findings_keep(&f, keep_finding, &a);
        if (a.fmt == OUT_FMT_JSON)
            print_json(&a, ck, rp, pl, &res, &f);
        else if (a.fmt == OUT_FMT_SARIF)
            out_findings_sarif(&f, ck, "lint");
        else if (a.fmt == OUT_FMT_GITHUB)
            out_findings_github(&f, ck);
        else
            print_text(&a, ck, rp, pl, &res, &f, &st);
        status = findings_count(&f, SEV_ERROR) || (a.strict && findings_count(&f, SEV_WARNING))
               ? EXIT_FINDINGS : EXIT_CLEAN;
        sim_result_free(&res);
    }
out:
    findings_free(&f);
    stop_early(&early);
    session_free(&s);
    return status;
}
