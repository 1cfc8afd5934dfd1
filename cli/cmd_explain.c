/* cmd_explain.c - `ckptdoc explain DIR "KeyError: '...'"`: from an error line pasted from a
 * log (or a bare parameter name) back to the checkpoint keys, the ranks, and the cause; and
 * `ckptdoc rules list | show NAME | explain KEY DIR`: which rule maps a key where. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "inspect/ckpt.h"
#include "loader/plan.h"
#include "loader/shard.h"
#include "loader/simulate.h"
#include "rules/rules.h"
#include "cli/cli.h"
#include "cli/out.h"
#include "cli/options.h"
#include "cli/session.h"

typedef struct {
    layout_opts o;
    int argc;
    char **args;
} common_args;

/* The layout options; the rest are positional. 0, or -1 on a usage error (message printed). */
static int parse_common(int argc, char **argv, common_args *a, const char *cmd)
{
    static const struct option opts[] = {LAYOUT_OPTIONS, {0, 0, 0, 0}};
    layout_opts_init(&a->o, cmd);
    if (cli_config_args(cmd, opts, &argc, &argv) != 0)
        return -1;
    optind = 0; /* glibc: a full restart, also of a half-read "-abc" from an earlier parse */
    int c;
    while ((c = getopt_long(argc, argv, LAYOUT_SHORT, opts, NULL)) != -1)
        if (layout_opt_take(&a->o, c, optarg) <= 0)
            return -1;
    a->argc = argc - optind;
    a->args = argv + optind;
    return layout_opts_finish(&a->o);
}

/* The session of a command of this file, its failure printed. 0, or -1. */
static int open_session(const char *cmd, const char *dir, const common_args *a, session *s)
{
    ck_err err;
    ck_err_clear(&err);
    if (session_open(s, dir, &a->o, 1, &err) == CK_OK)
        return 0;
    char buf[1600];
    fprintf(stderr, "ckptdoc %s: %s\n", cmd, ck_err_str(&err, buf, sizeof buf));
    session_free(s);
    return -1;
}

/* Prints what the loader does with one key; 1 when some rank raises on it. */
static int print_mapping(const plan *p, const rules_file *r, const sim_mapping *m)
{
    char ranks[256];
    if (m->skip >= 0) {
        printf("  skipped by the rule at %s line %d: %s\n", r->path, r->skips[m->skip].line,
               r->skips[m->skip].reason);
        return 0;
    }
    if (m->outside)
        printf("  '%s' lacks the model's prefix: the model above looks it up among its own modules\n", m->seen);
    else if (m->rule >= 0) {
        char pw[256];
        printf("  maps to '%s'%s%s by the key rule at %s line %d\n", m->param, m->part ? ", " : "",
               rules_key_parts_text(&r->keys[m->rule], pw, sizeof pw), r->path, r->keys[m->rule].line);
    } else
        printf("  no key rule takes '%s': the generic path looks up a parameter of that name\n", m->seen);
    if (m->expert >= 0) {
        size_t pi;
        int64_t ne = 0;
        for (int st = 0; st < p->layout.pp && !ne; st++)
            if (strmap_get(&p->stages[st].by_name, m->param, &pi))
                ne = p->stages[st].params[pi].experts;
        int er = ne ? shard_expert_rank(p, ne, m->expert) : -1;
        if (er >= 0) {
            int64_t s0, c;
            shard_expert_range(p, ne, er, &s0, &c);
            printf("  expert %lld of %lld: under expert parallelism only TP rank %d of its stage holds "
                   "it (experts %lld-%lld, local index %lld); the other ranks skip the key\n",
                   (long long)m->expert, (long long)ne, er, (long long)s0, (long long)(s0 + c - 1),
                   (long long)(m->expert - s0));
        } else if (ne)
            printf("  expert %lld of %lld: every TP rank holds it, each a 1/%d slice\n",
                   (long long)m->expert, (long long)ne, p->layout.tp);
        else
            printf("  expert %lld\n", (long long)m->expert);
    }
    uint64_t all = p->layout.pp >= 64 ? ~0ull : (1ull << p->layout.pp) - 1;
    if (m->stages)
        printf("  loaded on %s\n", sim_ranks_str(p, m->stages, ranks, sizeof ranks));
    if (m->pp_skipped && m->layer >= 0)
        printf("  skipped on %s: another stage owns layer %d\n",
               sim_ranks_str(p, m->pp_skipped, ranks, sizeof ranks), m->layer);
    else if (m->pp_skipped) /* a module outside the layers that only some stages build */
        printf("  skipped on %s: another stage holds it (a PPMissingLayer here, whose keys the loader passes by)\n",
               sim_ranks_str(p, m->pp_skipped, ranks, sizeof ranks));
    uint64_t fails = all & ~m->stages & ~m->pp_skipped;
    if (fails) { /* in the words of the first stage that fails */
        char line[2048];
        sim_error_line(p, __builtin_ctzll(fails), m, line, sizeof line);
        printf("  %s raise %s: %s\n", sim_ranks_str(p, fails, ranks, sizeof ranks), line, m->why);
    }
    return fails != 0;
}

/* ------------------------------------------------------------------------------------------ */

typedef struct {
    const plan *p;
    const rules_file *r;
    int n;
} explain_ctx;

static void show_key(void *ctx, const char *key, const char *file, const sim_mapping *m)
{
    explain_ctx *c = ctx;
    if (c->n++ < 8) {
        printf("\ncheckpoint key '%s' (%s)\n", key, file);
        print_mapping(c->p, c->r, m);
    }
}

/* The exception a pasted line names ("KeyError", "ValueError", "AssertionError", ...), into kind
 * ("" when it names none), and the name it is about into out: the first quoted dotted name after
 * it (a KeyError's key; the module path of vLLM's "There is no module or parameter named '...'"),
 * else the first quoted text, else the word after "Key " (AssertionError: Key w1w3 not found in
 * mapping), else the whole argument. */
static void param_from_error(const char *text, char *kind, size_t ksize, char *out, size_t size)
{
    kind[0] = 0;
    const char *k = NULL;
    for (const char *q = strstr(text, "Error"); q; q = strstr(q + 1, "Error")) {
        const char *b = q;
        while (b > text && ((b[-1] >= 'A' && b[-1] <= 'Z') || (b[-1] >= 'a' && b[-1] <= 'z')))
            b--;
        if (b < q) {
            snprintf(kind, ksize, "%.*s", (int)(q + 5 - b), b);
            k = q + 5;
            break;
        }
    }
    const char *from = k ? k : text, *first = NULL, *first_e = NULL;
    for (const char *q = from; (q = strpbrk(q, "'\"")) != NULL;) {
        const char *e = strchr(q + 1, *q);
        if (!e)
            break;
        if (!first) {
            first = q + 1;
            first_e = e;
        }
        if (memchr(q + 1, '.', (size_t)(e - q - 1))) {
            snprintf(out, size, "%.*s", (int)(e - q - 1), q + 1);
            return;
        }
        q = e + 1;
    }
    if (first) {
        snprintf(out, size, "%.*s", (int)(first_e - first), first);
        return;
    }
    const char *key = strstr(from, "Key ");
    if (key) {
        key += 4;
        size_t n = strcspn(key, " \t\n");
        snprintf(out, size, "%.*s", (int)n, key);
        return;
    }
    snprintf(out, size, "%s", text);
}

/* Checkpoint keys the rules would read into a parameter: every key rule whose parameter template
 * gives `param`, written back as the key it takes (with the prefix the loader strips, and every
 * routed expert of the parameter's when the key names one), and the parameter's own name (the
 * generic path). fn(ctx, key, rule or -1, expert or -1) for each. */
typedef void (*key_fn)(void *ctx, const char *key, int rule, int64_t expert);

static void expected_keys(const plan *p, const char *param, int64_t experts, key_fn fn, void *ctx)
{
    const rules_file *r = p->rules;
    char key[1024];
    int any = 0;
    for (int i = 0; i < r->n_keys; i++) {
        const rules_key *kr = &r->keys[i];
        pattern_value pv[PATTERN_MAX_CAPS], kv[PATTERN_MAX_CAPS];
        if (kr->hazard || !pattern_match(&kr->param, param, strlen(param), pv))
            continue;
        int ok = 1, ei = -1;
        for (int c = 0; c < kr->key.n_caps && ok; c++) {
            int j = pattern_cap_index(&kr->param, kr->key.caps[c].name, strlen(kr->key.caps[c].name));
            if (j >= 0 && kr->key.caps[c].kind == CAP_INT) {
                char num[24];
                snprintf(num, sizeof num, "%.*s", (int)(pv[j].s ? pv[j].len : 0), pv[j].s ? pv[j].s : "");
                char *end;
                kv[c].v = pv[j].s ? strtoll(num, &end, 10) : pv[j].v;
                kv[c].s = NULL;
                kv[c].len = 0;
                ok = !pv[j].s || (*num && !*end);
            } else if (j >= 0)
                kv[c] = pv[j];
            else if (c == kr->expert_cap)
                ei = c;
            else
                ok = 0; /* a capture the parameter's name does not give */
        }
        if (!ok || (ei >= 0 && experts <= 0))
            continue;
        for (int64_t e = 0; e < (ei >= 0 ? experts : 1); e++) {
            if (ei >= 0) {
                kv[ei].s = NULL;
                kv[ei].len = 0;
                kv[ei].v = e;
            }
            size_t sp = strlen(r->strip_prefix);
            snprintf(key, sizeof key, "%s", r->strip_prefix);
            if (pattern_format(&kr->key, kv, key + sp, sizeof key - sp) < 0)
                continue;
            fn(ctx, key, i, ei >= 0 ? e : -1);
            any = 1;
        }
    }
    if (!any) {
        snprintf(key, sizeof key, "%s%s", r->strip_prefix, param);
        fn(ctx, key, -1, -1);
    }
}

typedef struct {
    const session *s;
    const keymap *km;
    const char *param;
    int exists;           /* some rank has the parameter: a missing key leaves part of it empty */
    int present, missing, skipped;
} expect_ctx;

/* One expected key: present (and what the loader does with it) or missing (and what it fills). */
static void show_expected(void *ctx, const char *key, int rule, int64_t expert)
{
    expect_ctx *x = ctx;
    size_t i;
    if (ckpt_find_index(&x->s->ck, key, &i)) {
        sim_mapping m;
        x->present++;
        if (keymap_explain(x->km, i, &m) && m.skip >= 0) {
            if (x->skipped++ < 8) {
                printf("\ncheckpoint key '%s'\n", key);
                print_mapping(&x->s->p, &x->s->r, &m);
            }
        }
        return;
    }
    if (!x->exists || x->missing++ >= 8)
        return;
    const rules_key *kr = rule >= 0 ? &x->s->r.keys[rule] : NULL;
    printf("\ncheckpoint key '%s' is missing: it fills ", key);
    char pw[256];
    if (kr && kr->part)
        printf("%s of ", rules_key_parts_text(kr, pw, sizeof pw));
    if (expert >= 0)
        printf("expert %lld of ", (long long)expert);
    printf("'%s'%s\n", x->param, rule >= 0 ? "" : " (its own name)");
}

/* When line is the loader's notice (matched anywhere in it, after any log prefix), the
 * parameter it names: 1 and param filled, else 0. */
static int notice_param(const rules_file *r, const char *line, char *param, size_t size)
{
    if (!r->has_notice)
        return 0;
    pattern_value v[PATTERN_MAX_CAPS];
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
    if (!pattern_match(&r->notice, line, len, v))
        return 0;
    const pattern_value *p = &v[pattern_cap_index(&r->notice, "param", 5)];
    const char *b = p->s, *e = p->s + p->len;
    for (const char *q = b; q < e; q++) /* the last word: a log prefix may precede the name */
        if (*q == ' ' || *q == '\t')
            b = q + 1;
    if (b == e)
        return 0;
    snprintf(param, size, "%.*s", (int)(e - b), b);
    return 1;
}

/* Whether s reads as a finding code (lint.keyerror): lowercase words joined by one dot. */
static int code_like(const char *s)
{
    const char *dot = strchr(s, '.');
    if (!dot || dot == s || !dot[1] || strchr(dot + 1, '.') || strchr(s, '/'))
        return 0;
    for (const char *q = s; *q; q++)
        if (!(*q == '.' || *q == '_' || (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9')))
            return 0;
    return 1;
}

/* `ckptdoc explain CODE`: the catalogue's entry (docs/findings.md), or the code nearest it. */
static int explain_code(const char *code)
{
    size_t len;
    const char *text = out_catalogue_entry(code, &len);
    if (text) {
        printf("%s\n%.*s", code, (int)len, text);
        return EXIT_CLEAN;
    }
    fprintf(stderr, "ckptdoc explain: no finding code '%s'", code);
    const char *near = out_catalogue_nearest(code, &len);
    if (near)
        fprintf(stderr, "; did you mean '%.*s'?", (int)len, near);
    fprintf(stderr, " (docs/findings.md lists them all)\n");
    return EXIT_USAGE;
}

int cmd_explain(int argc, char **argv)
{
    common_args a;
    int bad = parse_common(argc, argv, &a, "explain") != 0;
    if (!bad && !a.o.help && a.argc == 1 && code_like(a.args[0]) && access(a.args[0], F_OK) != 0)
        return explain_code(a.args[0]);
    if (bad || a.o.help || a.argc != 2) {
        fprintf(a.o.help && !bad ? stdout : stderr, "usage: ckptdoc explain DIR \"KeyError: 'PARAM'\"|PARAM "
                "[--rules R] [--tp N] [--pp N] [--ep] [--pp-partition A,B,..]\n       ckptdoc explain CODE\n"
                "Says which checkpoint keys map to the parameter, on which ranks it exists, and why the loader "
                "could not find it; with a finding code (lint.keyerror), what it means and how to fix it.\n");
        return a.o.help && !bad ? EXIT_CLEAN : EXIT_USAGE;
    }
    /* a loader's harmless log line (XTuner's "... not in state_dict, loading ...") picks the
     * rules of the loader that prints it when none are named */
    char rules_name[64] = "";
    if (!a.o.rules)
        for (size_t i = 0; i < rules_builtin_count() && !rules_name[0]; i++) {
            rules_file r;
            ck_err e;
            char tmp[768];
            if (rules_load_builtin(rules_builtin_name(i), &r, &e) != CK_OK)
                continue;
            if (notice_param(&r, a.args[1], tmp, sizeof tmp))
                snprintf(rules_name, sizeof rules_name, "%s", r.name);
            rules_free(&r);
        }
    if (rules_name[0])
        a.o.rules = rules_name;
    session s;
    if (open_session("explain", a.args[0], &a, &s) != 0)
        return EXIT_USAGE;
    char param[768], ranks[256], kind[64] = "";
    int notice = notice_param(&s.r, a.args[1], param, sizeof param);
    if (!notice)
        param_from_error(a.args[1], kind, sizeof kind, param, sizeof param);
    /* an error of the configuration or of building the model (no key involved): the finding of
     * the plan that predicts it */
    const char *core = kind[0] ? strstr(a.args[1], kind) : NULL;
    if (core && !strstr(core, "KeyError") && !strstr(core, "There is no module or parameter named")) {
        char want[1024];
        snprintf(want, sizeof want, "%s", core);
        size_t wl = strlen(want);
        while (wl && (want[wl - 1] == '\n' || want[wl - 1] == ' ' || want[wl - 1] == '\r'))
            want[--wl] = 0;
        for (size_t i = 0; i < s.f.n; i++)
            if (s.f.v[i].sev == SEV_ERROR && strstr(s.f.v[i].msg, want)) {
                printf("%s (rules %s, TP %d x PP %d): raised while vLLM builds the model, before any key is "
                       "read\n  %s %s: %s\n", kind, s.r.name, a.o.layout.tp, a.o.layout.pp, s.f.v[i].code,
                       s.f.v[i].key, s.f.v[i].msg);
                session_free(&s);
                return EXIT_FINDINGS;
            }
    }
    /* a name with the prefix the loader strips is the same parameter */
    size_t sp = strlen(s.r.strip_prefix);
    if (sp && strncmp(param, s.r.strip_prefix, sp) == 0)
        memmove(param, param + sp, strlen(param + sp) + 1);
    uint64_t has = 0;
    for (int st = 0; st < s.p.layout.pp; st++)
        if (strmap_get(&s.p.stages[st].by_name, param, NULL))
            has |= 1ull << st;
    /* a name an earlier release of the loader used (the rules' loader.old_names) */
    char renamed[768] = "";
    for (int o = 0; !has && !renamed[0] && o < s.r.n_old_names; o++) {
        const char *ex = strstr(param, s.r.old_from[o]);
        if (!ex)
            continue;
        snprintf(renamed, sizeof renamed, "%.*s%.200s%.300s", (int)(ex - param < 260 ? ex - param : 260), param,
                 s.r.old_to[o], ex + strlen(s.r.old_from[o]));
        int known = 0;
        for (int st = 0; st < s.p.layout.pp; st++)
            if (strmap_get(&s.p.stages[st].by_name, renamed, NULL))
                has |= 1ull << st;
        for (int i = 0; i < s.r.n_keys && !known; i++) {
            pattern_value pv[PATTERN_MAX_CAPS];
            known = pattern_match(&s.r.keys[i].param, renamed, strlen(renamed), pv);
        }
        if (!has && !known)
            renamed[0] = 0;
    }
    /* vLLM's AutoWeightsLoader names a module path it cannot find: the keys under it */
    int module_path = strcmp(kind, "ValueError") == 0 && strstr(a.args[1], "There is no module or parameter named");
    if (module_path) {
        printf("module path '%s' (rules %s, TP %d x PP %d): %s's AutoWeightsLoader found no module or "
               "parameter of this name in the model it builds\n", param, s.r.name, a.o.layout.tp, a.o.layout.pp,
               s.r.loader);
        size_t n = strlen(param), shown = 0;
        keymap *km = NULL;
        ck_err kerr;
        ck_err_clear(&kerr);
        if (keymap_build(&s.ck, &s.p, &km, &kerr) != CK_OK) {
            fprintf(stderr, "ckptdoc explain: %s\n", kerr.msg);
            session_free(&s);
            return EXIT_USAGE;
        }
        for (size_t i = 0; i < s.ck.n_tensors; i++) {
            const st_tensor *t = ckpt_tensor(&s.ck, s.ck.tensors[i]);
            sim_mapping m;
            if (!keymap_explain(km, i, &m))
                continue;
            const char *nm = sim_walk_name(&s.r, &m);
            if (strncmp(nm, param, n) != 0 || nm[n] != '.' || shown++ >= 8)
                continue;
            const char *hazard = m.rule >= 0 ? s.r.keys[m.rule].hazard : NULL;
            if (hazard && nm != m.seen)
                printf("  checkpoint key '%s' (%s) is under it: %s (the key rule at %s line %d)\n", t->name,
                       s.ck.shards[s.ck.tensors[i].shard].name, hazard, s.r.path, s.r.keys[m.rule].line);
            else
                printf("  checkpoint key '%s' (%s) is under it: no rule of %s maps it to a parameter; rename "
                       "it to the name the model has, or convert the checkpoint again\n", t->name,
                       s.ck.shards[s.ck.tensors[i].shard].name, s.r.name);
        }
        if (!shown)
            printf("  no checkpoint key is under it\n");
        keymap_free(km);
        session_free(&s);
        return EXIT_FINDINGS;
    }
    if (renamed[0]) {
        printf("parameter '%s' (rules %s, TP %d x PP %d): %s names it '%s'\n", param, s.r.name, a.o.layout.tp,
               a.o.layout.pp, s.r.loader_version ? s.r.loader_version : "this loader", renamed);
        snprintf(param, sizeof param, "%s", renamed);
    } else
        printf("parameter '%s' (rules %s, TP %d x PP %d)\n", param, s.r.name, a.o.layout.tp, a.o.layout.pp);
    if (has)
        printf("  exists on %s\n", sim_ranks_str(&s.p, has, ranks, sizeof ranks));
    else
        printf("  exists on no rank: the model these rules build from config.json has no such "
               "parameter\n");
    explain_ctx c = {&s.p, &s.r, 0};
    ck_err err;
    ck_err_clear(&err);
    /* for a notice the whole load is simulated too (is the parameter harmless?): one pass lists
     * the keys and finds what else goes wrong */
    sim_listing listing = {param, show_key, &c};
    ck_findings f;
    findings_init(&f);
    sim_result res;
    keymap *km = NULL;
    int ran = keymap_build(&s.ck, &s.p, &km, &err);
    if (ran == CK_OK)
        ran = notice ? simulate_run_map(km, &listing, &res, &f, &err)
                     : simulate_keys_for_param(km, param, show_key, &c);
    /* the keys the rules would read into it: skipped ones say why the parameter is not built or
     * not filled from them, missing ones which part or expert stays empty */
    expect_ctx xc = {&s, km, param, has != 0, 0, 0, 0};
    if (ran == CK_OK && !notice) {
        int64_t experts = 0;
        for (int st = 0; st < s.p.layout.pp && !experts; st++) {
            uint64_t k;
            if (strmap_get(&s.p.stages[st].by_name, param, &k))
                experts = s.p.stages[st].params[k].experts;
        }
        if (!experts) {
            int64_t e = 0;
            experts = config_int(&s.ck.cfg, "n_routed_experts", &e) == 1 ? e : config_experts(&s.ck.cfg);
        }
        expected_keys(&s.p, param, experts, show_expected, &xc);
        if (xc.skipped > 8)
            printf("\n... and %d more such keys are skipped\n", xc.skipped - 8);
        if (xc.missing > 8)
            printf("\n... and %d more such keys are missing\n", xc.missing - 8);
        if (xc.skipped && !has)
            printf("\n%s skip these keys, so the model they build has no '%s'; the loader that raised %s for "
                   "it read them anyway: an older or different loader than the one these rules model (%s)\n",
                   s.r.name, param, kind[0] ? kind : "an error", s.r.loader_version ? s.r.loader_version : s.r.loader);
    }
    keymap_free(km);
    if (ran != CK_OK) {
        findings_free(&f);
        char buf[1600];
        fprintf(stderr, "ckptdoc explain: %s\n", ck_err_str(&err, buf, sizeof buf));
        session_free(&s);
        return EXIT_USAGE;
    }
    if (c.n > 8)
        printf("\n... and %d more checkpoint keys map to it\n", c.n - 8);
    if (!c.n && !xc.skipped)
        printf("  no checkpoint key maps to it%s\n", has ? ": it stays uninitialized" : "");
    bad = (c.n && has != ((s.p.layout.pp >= 64) ? ~0ull : (1ull << s.p.layout.pp) - 1)) || xc.missing;
    if (notice) {
        /* harmless only when the load itself finds nothing wrong with this parameter */
        int broken = !has || !c.n;
        for (size_t i = 0; i < f.n; i++)
            if (f.v[i].sev == SEV_ERROR && strstr(f.v[i].msg, param)) {
                printf("\n  but: %s\n", f.v[i].msg);
                broken = 1;
                break;
            }
        sim_result_free(&res);
        printf("\n%s: %s's notice, %s\n  %s\n", broken ? "error" : "info", s.r.loader,
               broken ? "and this parameter will not load" : "not an error", s.r.notice_reason);
        bad = broken;
    }
    findings_free(&f);
    session_free(&s);
    return bad || !c.n ? EXIT_FINDINGS : EXIT_CLEAN;
}

/* ------------------------------------------------------------------------------------------ */

int cmd_rules(int argc, char **argv)
{
    static const char usage[] = "usage: ckptdoc rules list | show NAME | explain KEY DIR [--rules R] [--tp N] "
                                "[--pp N] [--ep] [--pp-partition A,B,..]\n";
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return EXIT_CLEAN;
    }
    if (argc > 2 && strcmp(argv[1], "list") == 0) {
        fprintf(stderr, "ckptdoc rules list: takes no arguments, not '%s'\n%s", argv[2], usage);
        return EXIT_USAGE;
    }
    if (argc == 2 && strcmp(argv[1], "list") == 0) {
        for (size_t i = 0; i < rules_builtin_count(); i++) {
            rules_file r;
            ck_err err;
            ck_err_clear(&err);
            if (rules_load_builtin(rules_builtin_name(i), &r, &err) != CK_OK)
                continue;
            printf("%-16s model_type", r.name);
            for (int k = 0; k < r.n_model_types; k++)
                printf("%s%s", k ? ", " : " ", r.model_types[k]);
            printf("%s\n%-16s %s, as of %s\n", r.auto_choose ? "" : " (with --rules only)", "", r.loader,
                   r.loader_version ? r.loader_version : "an unnamed version");
            rules_free(&r);
        }
        return EXIT_CLEAN;
    }
    if (argc == 3 && strcmp(argv[1], "show") == 0) {
        for (size_t i = 0; i < rules_builtin_count(); i++)
            if (strcmp(rules_builtin_name(i), argv[2]) == 0) {
                size_t len = 0;
                const char *text = rules_builtin_text(i, &len);
                fwrite(text, 1, len, stdout);
                return EXIT_CLEAN;
            }
        fprintf(stderr, "ckptdoc rules show: no built-in rules named \"%s\" (ckptdoc rules list)\n", argv[2]);
        return EXIT_USAGE;
    }
    if (argc >= 2 && strcmp(argv[1], "explain") == 0) {
        common_args a;
        int bad = parse_common(argc - 1, argv + 1, &a, "rules explain") != 0;
        if (bad || a.o.help || a.argc != 2) {
            fprintf(a.o.help && !bad ? stdout : stderr, "usage: ckptdoc rules explain KEY DIR [--rules R] "
                    "[--tp N] [--pp N] [--ep] [--pp-partition A,B,..]\nSays which rule maps checkpoint key "
                    "KEY, to which parameter and part, and on which ranks (DIR gives config.json).\n");
            return a.o.help && !bad ? EXIT_CLEAN : EXIT_USAGE;
        }
        session s;
        if (open_session("rules explain", a.args[1], &a, &s) != 0)
            return EXIT_USAGE;
        sim_mapping m;
        ck_err err;
        ck_err_clear(&err);
        int rc = simulate_map_key(&s.p, a.args[0], &m, &err), raises = 0;
        if (rc == CK_OK) {
            printf("checkpoint key '%s' (rules %s, TP %d x PP %d)\n", a.args[0], s.r.name,
                   a.o.layout.tp, a.o.layout.pp);
            if (strcmp(m.seen, a.args[0]) != 0)
                printf("  the loader sees '%s'\n", m.seen);
            raises = print_mapping(&s.p, &s.r, &m);
        } else {
            char buf[1600];
            fprintf(stderr, "ckptdoc rules explain: %s\n", ck_err_str(&err, buf, sizeof buf));
        }
        session_free(&s);
        /* a key some rank raises on is a finding of error severity: 1, as lint would exit */
        return rc != CK_OK ? EXIT_USAGE : raises ? EXIT_FINDINGS : EXIT_CLEAN;
    }
    fputs(usage, stderr);
    return EXIT_USAGE;
}
