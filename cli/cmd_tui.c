/* cmd_tui.c - `ckptdoc tui DIR [--rules R] [--tp N] [--pp N] [--ep]`: reads the headers, lints
 * the layout when config.json and rules allow, and browses the key tree with the findings on it. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inspect/ckpt.h"
#include "tui/tree.h"
#include "tui/tui.h"
#include "loader/load.h"
#include "loader/plan.h"
#include "loader/shard.h"
#include "loader/simulate.h"
#include "cli/cli.h"
#include "cli/options.h"
#include "cli/session.h"

typedef struct {
    const plan *p;
    const rules_file *r;
    const ck_checkpoint *ck;
    const keymap *km;     /* the map of the keys, built once with the plan */
} map_ctx;

/* What the loader does with one key, in a few lines for the panel. */
static int mapping(void *vctx, const char *key, char lines[][256], int max)
{
    map_ctx *c = vctx;
    sim_mapping m;
    ck_err err;
    ck_err_clear(&err);
    size_t ti;
    if (max < 3)
        return 0;
    if (!(c->km && ckpt_find_index(c->ck, key, &ti) && keymap_explain(c->km, ti, &m)) &&
        simulate_map_key(c->p, key, &m, &err) != CK_OK)
        return 0;
    char ranks[200];
    int n = 0;
    if (m.skip >= 0) {
        snprintf(lines[n++], 256, "%.60s skips it (%.60s line %d): %.100s", c->r->loader, c->r->path,
                 c->r->skips[m.skip].line, c->r->skips[m.skip].reason);
        return n;
    }
    if (m.outside) {
        snprintf(lines[n++], 256, "lacks the model's prefix: the model above looks it up and has no "
                 "module for it, so every rank raises");
        return n;
    }
    char how[120];
    if (m.rule >= 0)
        snprintf(how, sizeof how, "key rule at %.80s line %d", c->r->path, c->r->keys[m.rule].line);
    else
        snprintf(how, sizeof how, "same name");
    const rules_key *kr = m.rule >= 0 ? &c->r->keys[m.rule] : NULL;
    char pw[64];
    snprintf(lines[n++], 256, "loads as %.100s%s%.48s%s (%.90s)", m.param, m.part ? ", " : "",
             m.part ? rules_key_parts_text(kr, pw, sizeof pw) : "", m.expert >= 0 ? ", an expert" : "", how);
    /* the parameter as the first stage that has it plans it */
    size_t pi = 0;
    const plan_param *pp = NULL;
    for (int st = 0; st < c->p->layout.pp && !pp; st++)
        if ((m.stages >> st) & 1 && strmap_get(&c->p->stages[st].by_name, m.param, &pi))
            pp = &c->p->stages[st].params[pi];
    if (m.stages) {
        char full[96] = "", local[96] = "";
        if (pp)
            for (int d = 0, of = 0, ol = 0; d < pp->ndim; d++) {
                of += snprintf(full + of, sizeof full - (size_t)of, "%s%llu", d ? ", " : "",
                               (unsigned long long)pp->full[d]);
                ol += snprintf(local + ol, sizeof local - (size_t)ol, "%s%llu", d ? ", " : "",
                               (unsigned long long)pp->local[d]);
            }
        snprintf(lines[n++], 256, "on %.60s: [%.60s] -> [%.60s] per rank, %.44s",
                 sim_ranks_str(c->p, m.stages, ranks, sizeof ranks), full, local,
                 pp ? shard_words(&c->r->params[pp->tmpl], c->p->layout.ep) : "");
    }
    /* the slice each rank of the stage takes of this very tensor */
    if (pp && n < max) {
        /* a key that fills several parts: each is cut alike; the first's rows are shown */
        int o = snprintf(lines[n], 256, "slices%s%.16s%s:", m.part && kr->n_parts > 1 ? " (part " : "",
                         m.part && kr->n_parts > 1 ? m.part : "", m.part && kr->n_parts > 1 ? ")" : "");
        for (int r = 0; r < c->p->layout.tp && o < 200; r++) {
            shard_slice cut;
            ck_err e2;
            ck_err_clear(&e2);
            if (shard_slice_of(c->p, pp, m.part, m.expert, r, &cut, &e2) != CK_OK)
                break;
            if (r == 4 && c->p->layout.tp > 5) {
                o += snprintf(lines[n] + o, 256 - (size_t)o, " ...");
                r = c->p->layout.tp - 2;
                continue;
            }
            if (cut.dim == -2)
                o += snprintf(lines[n] + o, 256 - (size_t)o, " TP%d -", r);
            else if (cut.dim == SLICE_ZEROS)
                o += snprintf(lines[n] + o, 256 - (size_t)o, " TP%d zeros", r);
            else if (cut.dim < 0)
                o += snprintf(lines[n] + o, 256 - (size_t)o, " TP%d all", r);
            else
                o += snprintf(lines[n] + o, 256 - (size_t)o, " TP%d %s %lld-%lld", r, cut.dim ? "cols" : "rows",
                              (long long)cut.start, (long long)(cut.start + cut.len - 1));
        }
        n++;
    }
    if (m.pp_skipped && n < max && m.layer >= 0)
        snprintf(lines[n++], 256, "skipped on %s: another stage owns layer %d",
                 sim_ranks_str(c->p, m.pp_skipped, ranks, sizeof ranks), m.layer);
    else if (m.pp_skipped && n < max)
        snprintf(lines[n++], 256, "skipped on %s: another stage holds it (a PPMissingLayer here)",
                 sim_ranks_str(c->p, m.pp_skipped, ranks, sizeof ranks));
    uint64_t all = c->p->layout.pp >= 64 ? ~0ull : (1ull << c->p->layout.pp) - 1;
    if ((all & ~m.stages & ~m.pp_skipped) && n < max)
        snprintf(lines[n++], 256, "%.60s: %.180s", sim_ranks_str(c->p, all & ~m.stages & ~m.pp_skipped, ranks,
                 sizeof ranks), m.why);
    return n;
}

int cmd_tui(int argc, char **argv)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    static const struct option opts[] = {LAYOUT_OPTIONS, {"first-screen", no_argument, 0, 'F'}, {0, 0, 0, 0}};
    static const char usage[] = "usage: ckptdoc tui DIR [--rules NAME|FILE] [--tp N] [--pp N] [--ep] "
                                "[--pp-partition A,B,..]\n";
    layout_opts lo;
    layout_opts_init(&lo, "tui");
    int first_only = 0, c, taken;
    if (cli_config_args("tui", opts, &argc, &argv) != 0)
        return EXIT_USAGE;
    optind = 0; /* glibc: a full restart, also of a half-read "-abc" from an earlier parse */
    while ((c = getopt_long(argc, argv, LAYOUT_SHORT, opts, NULL)) != -1) {
        if ((taken = layout_opt_take(&lo, c, optarg)) < 0)
            return EXIT_USAGE;
        if (taken)
            continue;
        if (c != 'F')
            return EXIT_USAGE;
        first_only = 1;
    }
    if (lo.help) {
        printf("%sBrowses the checkpoint's keys as a tree with the lint findings of the layout marked\n"
               "on them; s shows a tensor's statistics, ? every key.\n", usage);
        return EXIT_CLEAN;
    }
    if (optind != argc - 1 || layout_opts_finish(&lo)) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    const char *dir = argv[optind];
    const plan_layout lay = lo.layout;
    session s;
    ck_err err;
    char buf[1600];
    ck_err_clear(&err);
    session_open(&s, dir, &lo, 1, &err);
    if (s.stage < SESSION_OPENED) {
        fprintf(stderr, "ckptdoc tui: %s\n", ck_err_str(&err, buf, sizeof buf));
        session_free(&s);
        return EXIT_USAGE;
    }
    /* the reader's findings, then the plan's, then the replay's */
    ck_findings f;
    findings_init(&f);
    findings_append(&f, &s.ck.findings, SEV_NOTE);
    findings_append(&f, &s.f, SEV_NOTE);
    int have_rules = s.stage >= SESSION_RULES, have_plan = s.stage >= SESSION_PLANNED;
    char summary[512] = "";
    keymap *km = NULL;
    if (have_plan) {
        sim_result res;
        if (keymap_build(&s.ck, &s.p, &km, &err) == CK_OK && simulate_run_map(km, NULL, &res, &f, &err) == CK_OK)
            sim_result_free(&res);
        snprintf(summary, sizeof summary, " rules %s, TP %d x PP %d%s: %zu errors, %zu warnings",
                 s.r.name, lay.tp, lay.pp, lay.ep ? " EP" : "", findings_count(&f, SEV_ERROR),
                 findings_count(&f, SEV_WARNING));
    } else if (have_rules)
        snprintf(summary, sizeof summary, " rules %.60s do not apply: %.300s", s.r.name, err.msg);
    else if (lo.rules || s.ck.cfg.present)
        snprintf(summary, sizeof summary, " (no rules: %.300s)", err.msg[0] ? err.msg : "none match");
    else
        snprintf(summary, sizeof summary, " (no config.json: tensors only)");
    ck_tree t;
    int rc = EXIT_USAGE;
    if (tree_build(&s.ck, &t) != 0 || tree_attach(&t, &f, have_rules ? s.r.strip_prefix : "") != 0) {
        fprintf(stderr, "ckptdoc tui: out of memory\n");
    } else {
        map_ctx mc = {have_plan ? &s.p : NULL, have_rules ? &s.r : NULL, &s.ck, km};
        tui_ctx tc = {&s.ck, &t, summary, have_plan ? mapping : NULL, &mc, have_rules ? s.r.strip_prefix : "",
                      s.ck.cfg.has_quant ? s.ck.cfg.quant.block[0] : 0, s.ck.cfg.has_quant ? s.ck.cfg.quant.block[1] : 0,
                      (double)t0.tv_sec + t0.tv_nsec * 1e-9, first_only};
        int tr = tui_run(&tc);
        rc = tr == 130 ? 130 : tr ? EXIT_USAGE : EXIT_CLEAN; /* 130: Ctrl-C, as a shell reports SIGINT */
        tree_free(&t);
    }
    keymap_free(km);
    findings_free(&f);
    session_free(&s);
    return rc;
}
