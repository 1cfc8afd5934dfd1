/* check_loader.c - the load plan and its simulation: vLLM's pipeline split, and the lint seeds
 * as fixtures with the exact exception text; correct layouts lint clean at every TP/PP. */
#include <check.h>
#include <stdarg.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inspect/ckpt.h"
#include "loader/plan.h"
#include "loader/shard.h"
#include "loader/simulate.h"
#include "loader/load.h"
#include "kernels/convert.h"
#include "kernels/devmem.h"
#include "loader/forward.h"
#include "rules/rules.h"
#include "tests/suiteutil.h"
#include "tests/testutil.h"

START_TEST(test_pp_indices)
{
    /* vLLM's get_pp_indices on DeepSeek-V3's 61 layers (the examples of its docs) */
    static const struct { int pp; int sizes[8]; } t[] = {
        {2, {31, 30}}, {3, {20, 21, 20}}, {4, {15, 15, 16, 15}}, {8, {7, 7, 8, 8, 8, 8, 8, 7}},
    };
    for (unsigned i = 0; i < sizeof t / sizeof *t; i++) {
        plan_layout lay = {1, t[i].pp, 0, {0}, 0, 0, NULL, 0};
        int expect_start = 0;
        for (int s = 0; s < t[i].pp; s++) {
            int a, b;
            ck_err err;
            ck_err_clear(&err);
            ck_assert_int_eq(plan_pp_indices(61, &lay, s, &a, &b, &err), CK_OK);
            ck_assert_int_eq(a, expect_start);
            ck_assert_int_eq(b - a, t[i].sizes[s]);
            expect_start = b;
        }
        ck_assert_int_eq(expect_start, 61);
    }
    plan_layout lay = {1, 3, 0, {22, 20, 19}, 1, 0, NULL, 0}; /* #16450's VLLM_PP_LAYER_PARTITION */
    int a, b;
    ck_err err;
    ck_err_clear(&err);
    ck_assert_int_eq(plan_pp_indices(61, &lay, 1, &a, &b, &err), CK_OK);
    ck_assert(a == 22 && b == 42);
    plan_layout bad = {1, 2, 0, {30, 30}, 1, 0, NULL, 0};
    ck_assert_int_eq(plan_pp_indices(61, &bad, 0, &a, &b, &err), CK_EUSAGE);
    ck_assert_ptr_nonnull(strstr(err.msg, "sum(partitions)=60 does not match num_hidden_layers=61."));
}
END_TEST

/* Runs lint in-process: returns the number of error findings; *first_error of stage `stage`. */
static size_t lint(const char *dir, const char *rules, int tp, int pp, int stage, char *first,
                   size_t size, ck_findings *out)
{
    tu_planned x;
    tu_planned_open(&x, dir, 2, rules, tp, pp);
    ck_assert_msg(x.planned, "plan: line %d %s", x.err.line, x.err.msg);
    sim_result res;
    ck_assert_int_eq(simulate_run(&x.ck, &x.p, &res, &x.f, &x.err), CK_OK);
    if (first)
        snprintf(first, size, "%s", res.stages[stage].error);
    size_t n = findings_count(&x.f, SEV_ERROR);
    if (out) { /* handed over */
        *out = x.f;
        findings_init(&x.f);
    }
    sim_result_free(&res);
    tu_planned_close(&x);
    return n;
}

/* Every finding of a lint run, one line each, and the stage counters; through an early map
 * (simulate_start, then simulate_run_early) when lint_early is set. */
static int lint_early;

static char *lint_text(const char *dir, const char *rules, int tp, int pp)
{
    tu_planned x;
    tu_planned_open(&x, dir, 2, rules, tp, pp);
    const ck_findings *f = &x.f;
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    ck_assert_ptr_nonnull(out);
    out[0] = 0;
    if (x.planned) {
        sim_result res;
        if (lint_early) {
            sim_early *e = simulate_start(&x.ck, &x.p);
            ck_assert_ptr_nonnull(e);
            ck_assert_int_eq(simulate_run_early(e, NULL, &res, &x.f, &x.err), CK_OK);
        } else
            ck_assert_int_eq(simulate_run(&x.ck, &x.p, &res, &x.f, &x.err), CK_OK);
        for (int st = 0; st < res.n_stages; st++) {
            const sim_stage *g = &res.stages[st];
            n += (size_t)snprintf(out + n, cap - n, "stage %d: %s|%s|%zu %zu %zu %zu %zu %zu\n", st,
                                  g->error, g->error_key, g->loaded, g->skipped_rules, g->skipped_pp,
                                  g->skipped_expert, g->unexpected, g->missing);
        }
        sim_result_free(&res);
    }
    for (size_t i = 0; i < f->n; i++) {
        size_t need = strlen(f->v[i].code) + strlen(f->v[i].key) + strlen(f->v[i].msg) + 8;
        if (n + need >= cap) {
            cap = (cap + need) * 2;
            out = realloc(out, cap);
            ck_assert_ptr_nonnull(out);
        }
        n += (size_t)snprintf(out + n, cap - n, "%s %s %s\n", f->v[i].code, f->v[i].key, f->v[i].msg);
    }
    tu_planned_close(&x);
    return out;
}

typedef struct {
    const char *want_param;
    size_t listed;
} param_keys;

static void check_param_key(void *ctx, const char *key, const char *file, const sim_mapping *m)
{
    param_keys *c = ctx;
    (void)file;
    /* the cache mapped key to want_param; matched in full it maps there too */
    ck_assert_msg(strcmp(m->param, c->want_param) == 0, "%s: %s in full, %s with the cache", key,
                  m->param, c->want_param);
    c->listed++;
}

/* Key by key: the parameter each key of dir maps to with the cache is the one it maps to when
 * matched in full. simulate_keys_for_param lists the keys the cache maps to a parameter and
 * matches each in full: for every parameter, the keys listed map to it in full, and as many as
 * map to it in full. Returns the keys checked. */
static size_t same_params(const char *dir, const char *rules)
{
    tu_planned x;
    tu_planned_open(&x, dir, 1, rules, 1, 1);
    ck_assert_msg(x.planned, "%s with %s: %s", dir, rules, x.err.msg);
    strmap count;  /* parameter (in names) -> keys that map to it in full */
    strmap_init(&count);
    char **names = calloc(x.ck.n_index + 1, sizeof *names);
    size_t *full = calloc(x.ck.n_index + 1, sizeof *full), n_names = 0, n = 0;
    ck_assert(names && full);
    for (size_t i = 0; i < x.ck.n_index; i++) {
        char key[2048];
        ck_assert_uint_lt(x.ck.index[i].key_len, sizeof key);
        snprintf(key, sizeof key, "%.*s", (int)x.ck.index[i].key_len, x.ck.index[i].key);
        sim_mapping m;
        ck_assert_int_eq(simulate_map_key(&x.p, key, &m, &x.err), CK_OK);
        if (!m.param[0] || strlen(m.param) + 1 >= sizeof m.param)
            continue; /* none, or longer than a mapping shows: not to be looked up by it */
        size_t at;
        if (!strmap_get(&count, m.param, &at)) {
            at = n_names;
            names[n_names++] = strdup(m.param);
            ck_assert_int_eq(strmap_put(&count, names[at], at, NULL), 1);
        }
        full[at]++;
        n++;
    }
    keymap *km;
    ck_assert_int_eq(keymap_build(&x.ck, &x.p, &km, &x.err), CK_OK);
    /* the shared map says of every tensor what the one-key path says */
    for (size_t i = 0; i < x.ck.n_tensors; i++) {
        const char *key = ckpt_tensor(&x.ck, x.ck.tensors[i])->name;
        sim_mapping a, b;
        keymap_entry e;
        ck_assert_int_eq(simulate_map_key(&x.p, key, &a, &x.err), CK_OK);
        ck_assert_msg(keymap_explain(km, i, &b) && keymap_get(km, i, &e), "%s: %s has no entry", dir, key);
        ck_assert_msg(a.skip == b.skip && a.rule == b.rule && a.expert == b.expert && a.part == b.part &&
                      a.stages == b.stages && a.pp_skipped == b.pp_skipped && a.layer == b.layer &&
                      strcmp(a.param, b.param) == 0 && strcmp(a.seen, b.seen) == 0 && strcmp(a.why, b.why) == 0,
                      "%s with %s: %s maps to '%s' alone, to '%s' in the map", dir, rules, key, a.param, b.param);
        ck_assert(e.skip == a.skip && e.rule == a.rule && e.expert == a.expert && e.part == a.part);
        ck_assert(a.skip >= 0 ? e.param == NULL : e.param && strcmp(e.param, a.param) == 0);
    }
    for (size_t i = 0; i < n_names; i++) {
        param_keys c = {names[i], 0};
        ck_assert_int_eq(simulate_keys_for_param(km, names[i], check_param_key, &c), CK_OK);
        ck_assert_msg(c.listed == full[i], "%s with %s: %zu keys map to %s in full, %zu with the cache",
                      dir, rules, full[i], names[i], c.listed);
        free(names[i]);
    }
    keymap_free(km);
    free(names);
    free(full);
    strmap_free(&count);
    tu_planned_close(&x);
    return n;
}

/* The key-shape cache changes nothing: every fixture, every rules file that applies to it and
 * keys made to trip it (a layer number with a leading zero, 19 digits, numbers in the part a
 * skip's {rest:any} takes, an expert id of one digit and of three) lint the same with the cache
 * on and off. */
START_TEST(test_shape_cache_same)
{
    char *tmp = tu_tmpdir();
    ck_assert_ptr_nonnull(tmp);
    char cmd[8192], dots[801], longc[901];
    memset(dots, '.', 800);
    dots[800] = 0;
    memset(longc, 'x', 900);
    longc[900] = 0;
    /* an index-only copy of r1-tiny with odd keys added: a leading zero, numbers of 19, 8 and 16
     * digits, a '#', a run of 800 dots, a component of 900 bytes */
    snprintf(cmd, sizeof cmd, "cp fixtures/lint/r1-tiny/config.json %s/ && sed "
             "'s/\"weight_map\": {/\"weight_map\": {\"model.layers.12345678.mlp.experts.1234567812345678.w2\": "
             "\"model-00002-of-000018.safetensors\", \"model.layers.3.mlp.experts.#.w2\": "
             "\"model-00002-of-000018.safetensors\", \"model.layers.3%s.weight\": "
             "\"model-00002-of-000018.safetensors\", \"model.layers.3.%s.weight\": "
             "\"model-00002-of-000018.safetensors\", \"model.layers.01.mlp.experts.1.gate_proj.weight\": "
             "\"model-00002-of-000018.safetensors\", \"model.layers.1234567890123456789.mlp.gate.weight\": "
             "\"model-00002-of-000018.safetensors\", \"model.layers.61.mlp.experts.7.up_proj.weight_scale_inv\": "
             "\"model-00018-of-000018.safetensors\", \"model.layers.3.mlp.experts.100.down_proj.weight\": "
             "\"model-00005-of-000018.safetensors\", \"model.layers.3.mlp.experts.9.down_proj.weight\": "
             "\"model-00005-of-000018.safetensors\", \"model.layers.62.mlp.experts.10.w1w3.weight\": "
             "\"model-00005-of-000018.safetensors\",/' "
             "fixtures/lint/r1-tiny/model.safetensors.index.json > %s/model.safetensors.index.json",
             tmp, dots, longc, tmp);
    ck_assert_int_eq(system(cmd), 0);
    const char *dirs[] = {"fixtures/lint/r1-tiny", "fixtures/lint/glm5-tiny", "fixtures/lint/v2-lite-tiny",
                          "fixtures/lint/mixtral-tiny", "fixtures/lint/qwen2-moe-tiny",
                          "fixtures/lint/llama-fused-tiny", "fixtures/real/tiny-qwen2", tmp};
    size_t checked = 0;
    for (unsigned d = 0; d < sizeof dirs / sizeof *dirs; d++)
        for (size_t b = 0; b < rules_builtin_count(); b++) {
            const char *rules = rules_builtin_name(b);
            int lay[][2] = {{1, 1}, {2, 2}, {4, 3}};
            for (unsigned l = 0; l < 3; l++) {
                simulate_shape_cache(1);
                char *on = lint_text(dirs[d], rules, lay[l][0], lay[l][1]);
                simulate_shape_cache(0);
                char *off = lint_text(dirs[d], rules, lay[l][0], lay[l][1]);
                simulate_shape_cache(1);
                ck_assert_msg(strcmp(on, off) == 0, "%s with %s at TP%d PP%d:\n-- cache on:\n%.2000s\n"
                              "-- cache off:\n%.2000s", dirs[d], rules, lay[l][0], lay[l][1], on, off);
                checked += strlen(on) > 0;
                free(on);
                free(off);
            }
        }
    ck_assert_uint_gt(checked, 100);
    /* and key by key, where numbers sit inside what a capture takes: deepseek-ref's {pre:any}
     * (its MTP skip, literally 'layers.61.', rewritten as a condition so the cache applies) */
    size_t len;
    const char *text = NULL;
    for (size_t b = 0; b < rules_builtin_count(); b++)
        if (strcmp(rules_builtin_name(b), "deepseek-ref") == 0)
            text = rules_builtin_text(b, &len);
    ck_assert_ptr_nonnull(text);
    const char *at = strstr(text, "\"key\": \"layers.61.{rest:any}\"");
    ck_assert_ptr_nonnull(at);
    char path[1024];
    snprintf(path, sizeof path, "%s/ref.json", tmp);
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    size_t skip = strlen("\"key\": \"layers.61.{rest:any}\"");
    fprintf(fp, "%.*s\"key\": \"layers.{l:int}.{rest:any}\", \"when\": \"l == 61\"%.*s", (int)(at - text),
            text, (int)(len - (size_t)(at - text) - skip), at + skip);
    fclose(fp);
    ck_assert_uint_gt(same_params(tmp, path), 500);
    ck_assert_uint_gt(same_params(tmp, "deepseek_v3"), 500);
    ck_assert_uint_gt(same_params("fixtures/lint/mixtral-tiny", "mixtral"), 30);
    ck_assert_uint_gt(same_params("fixtures/lint/v2-lite-tiny", "xtuner"), 30);
    tu_rmtree(tmp);
    free(tmp);
}
END_TEST

/* No false alarms: the correct layouts lint clean at every TP and PP. */
/* A map begun early (as lint does while the reader cross-checks) gives what the plain run
 * gives: on every lint fixture, a folder with a tensor stored twice (the early layout is then
 * dropped and made again) and one known from its index alone; one abandoned unused. */
START_TEST(test_early_map_same)
{
    const char *dirs[] = {"fixtures/lint/r1-tiny", "fixtures/lint/glm5-tiny", "fixtures/lint/v2-lite-tiny",
                          "fixtures/lint/mixtral-tiny", "fixtures/lint/qwen2-moe-tiny",
                          "fixtures/real/tiny-qwen2", "fixtures/folders/index-problems",
                          "fixtures/folders/lfs-pointers"};
    const char *rules[] = {"deepseek_v3", "qwen2", "mixtral", "deepseek-ref"};
    size_t checked = 0;
    for (unsigned d = 0; d < sizeof dirs / sizeof *dirs; d++)
        for (unsigned b = 0; b < sizeof rules / sizeof *rules; b++) {
            int lay[][2] = {{1, 1}, {2, 2}, {8, 3}};
            for (unsigned l = 0; l < 3; l++) {
                lint_early = 0;
                char *plain = lint_text(dirs[d], rules[b], lay[l][0], lay[l][1]);
                lint_early = 1;
                char *early = lint_text(dirs[d], rules[b], lay[l][0], lay[l][1]);
                lint_early = 0;
                ck_assert_msg(strcmp(plain, early) == 0, "%s with %s at TP%d PP%d:\n-- plain:\n%.2000s\n"
                              "-- early:\n%.2000s", dirs[d], rules[b], lay[l][0], lay[l][1], plain, early);
                checked += strlen(plain) > 0;
                free(plain);
                free(early);
            }
        }
    ck_assert_uint_gt(checked, 40);
    tu_planned x;
    tu_planned_open(&x, "fixtures/lint/r1-tiny", 2, "deepseek_v3", 8, 2);
    ck_assert(x.planned);
    for (int k = 0; k < 4; k++)
        simulate_abandon(simulate_start(&x.ck, &x.p)); /* stopped while its threads map */
    simulate_abandon(NULL);
    tu_planned_close(&x);
}
END_TEST

START_TEST(test_clean_layouts)
{
    static const int tps[] = {1, 2, 4, 8}, pps[] = {1, 2, 3, 4, 8};
    ck_assert_uint_eq(lint("fixtures/lint/r1-tiny", "deepseek_v3-hf", 1, 1, 0, NULL, 0, NULL), 0);
    for (unsigned i = 0; i < 4; i++)
        for (unsigned j = 0; j < 5; j++) {
            char first[2048];
            ck_findings f;
            size_t n = lint("fixtures/lint/r1-tiny", "deepseek_v3", tps[i], pps[j], 0, first,
                            sizeof first, &f);
            ck_assert_msg(n == 0, "r1-tiny TP%d PP%d: %zu errors, first: %s", tps[i], pps[j], n,
                          f.n ? f.v[0].msg : "");
            ck_assert_str_eq(first, "");
            /* the MTP layer is skipped, with its reason */
            ck_assert_ptr_nonnull(findings_find(&f, "lint.skipped"));
            findings_free(&f);
            n = lint("fixtures/lint/glm5-tiny", "deepseek_v3", tps[i], pps[j], 0, NULL, 0, &f);
            ck_assert_msg(n == 0, "glm5-tiny TP%d PP%d: %zu errors, first: %s", tps[i], pps[j], n,
                          f.n ? f.v[0].msg : "");
            findings_free(&f);
            if (pps[j] > 4)
                continue; /* 4 layers: no more stages than layers */
            n = lint("fixtures/lint/v3-w8a16-tiny", "deepseek_v3", tps[i], pps[j], 0, NULL, 0, &f);
            ck_assert_msg(n == 0, "v3-w8a16-tiny TP%d PP%d: %zu errors, first: %s", tps[i], pps[j], n,
                          f.n ? f.v[0].msg : "");
            findings_free(&f);
        }
}
END_TEST

/* Seed: DeepSeek-R1's MTP layer 61 and a skip that tests 'model.layers.61.' on names the loader
 * sees without 'model.' (vLLM #16450). */
START_TEST(test_seed_mtp_keyerror)
{
    static const int pps[] = {2, 3};
    for (unsigned i = 0; i < 2; i++) {
        char first[2048];
        ck_findings f;
        size_t n = lint("fixtures/lint/r1-tiny", "fixtures/rules/deepseek_v3-old-mtp-prefix.json", 8,
                        pps[i], pps[i] - 1, first, sizeof first, &f);
        ck_assert_uint_gt(n, 0);
        ck_assert_str_eq(first, "KeyError: 'layers.61.mlp.experts.w2_weight'");
        const ck_finding *x = findings_find(&f, "lint.keyerror");
        ck_assert_ptr_nonnull(x);
        ck_assert_str_eq(x->key, "model.layers.61.mlp.experts.0.down_proj.weight");
        ck_assert_msg(strstr(x->msg, "layer 61 is a multi-token-prediction layer") != NULL, "%s", x->msg);
        ck_assert_msg(strncmp(x->msg, pps[i] == 2 ? "all ranks (0-15)" : "all ranks (0-23)", 16) == 0,
                      "%s", x->msg);
        findings_free(&f);
    }
}
END_TEST

/* Seed: GLM-5-style FP8 indexer at PP8 whose fused path lacks the stage guard (vLLM #42944). */
START_TEST(test_seed_indexer_pp_guard)
{
    char first[2048];
    ck_findings f;
    ck_assert_uint_eq(lint("fixtures/lint/glm5-tiny", "deepseek_v3", 1, 8, 3, first, sizeof first, NULL), 0);
    size_t n = lint("fixtures/lint/glm5-tiny", "fixtures/rules/deepseek_v3-indexer-no-pp-guard.json",
                    1, 8, 3, first, sizeof first, &f);
    ck_assert_uint_gt(n, 0);
    ck_assert_str_eq(first, "KeyError: 'layers.0.self_attn.indexer.wk_weights_proj.weight'");
    int on_others = 0;
    for (size_t i = 0; i < f.n; i++)
        if (strcmp(f.v[i].code, "lint.keyerror") == 0 &&
            strstr(f.v[i].msg, "ranks 1-7 (PP stages 1-7): the load fails here first: KeyError: "
                   "'layers.0.self_attn.indexer.wk_weights_proj.weight'"))
            on_others = 1;
    ck_assert_msg(on_others, "no KeyError folded over ranks 1-7");
    findings_free(&f);
}
END_TEST

/* The wrong family: DeepSeek rules on a Qwen2 checkpoint. */
START_TEST(test_wrong_family_cli)
{
    char cmd[512], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s lint --rules deepseek_v3 fixtures/real/tiny-qwen2", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &out), 1);
    ck_assert_ptr_nonnull(strstr(out, "lint.wrong_family"));
    ck_assert_ptr_nonnull(strstr(out, "config.json says \"qwen2\""));
    free(out);
    /* a real published config (its weights a git-lfs pointer): its family's rules, and the pointer */
    snprintf(cmd, sizeof cmd, "%s lint ../shared/realdata/granite-3.1-1b-a400m-instruct", tu_bin());
    if (tu_run(cmd, 1, &out) != -1 && strstr(out, "cannot open") == NULL) {
        ck_assert_ptr_nonnull(strstr(out, "rules      granitemoe (builtin:granitemoe)"));
        ck_assert_ptr_nonnull(strstr(out, "file.lfs_pointer model.safetensors"));
    }
    free(out);
    /* no rules for the family: a usage error that says how to name some */
    char *tmp = tu_tmpdir(), cfg[600];
    tu_link_folder("fixtures/real/tiny-qwen2", tmp, "config.json");
    snprintf(cfg, sizeof cfg, "%s/config.json", tmp);
    tu_write_file(cfg, "{\"model_type\": \"jamba\", \"architectures\": [\"JambaForCausalLM\"], "
                       "\"num_hidden_layers\": 2, \"hidden_size\": 64}");
    snprintf(cmd, sizeof cmd, "%s lint %s", tu_bin(), tmp);
    ck_assert_int_eq(tu_run(cmd, 1, &out), 2);
    ck_assert_msg(strstr(out, "no built-in rules for model_type \"jamba\"") != NULL, "%s", out);
    free(out);
    tu_rmtree(tmp);
    free(tmp);
    /* vLLM's spellings of the flags, JSON and GitHub output */
    snprintf(cmd, sizeof cmd, "%s lint --tensor-parallel-size 8 --pipeline-parallel-size 2 "
             "--format json fixtures/lint/r1-tiny", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &out), 0);
    cJSON *j = cJSON_Parse(out);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "schema")->valuestring, "ckptdoc.lint/1");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "stages")), 2);
    cJSON_Delete(j);
    free(out);
    snprintf(cmd, sizeof cmd, "%s lint --tp 8 --pp 2 --format github --rules "
             "fixtures/rules/deepseek_v3-old-mtp-prefix.json fixtures/lint/r1-tiny", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &out), 1);
    ck_assert_ptr_nonnull(strstr(out, "::error file=fixtures/lint/r1-tiny/model-00017-of-000018.safetensors,title=lint.keyerror::"));
    free(out);
    out = tu_cli(2, NULL, "lint --pp 2 --pp-partition 30,30 fixtures/lint/r1-tiny");
    ck_assert_ptr_nonnull(strstr(out, "sum(partitions)=60 does not match num_hidden_layers=61."));
    free(out);
}
END_TEST

/* TP that the model's sizes do not divide: the construction error before any load. */
START_TEST(test_tp_indivisible)
{
    ck_findings f;
    size_t n = lint("fixtures/lint/r1-tiny", "deepseek_v3", 16, 1, 0, NULL, 0, &f);
    ck_assert_uint_gt(n, 0);
    const ck_finding *x = findings_find(&f, "lint.tp_indivisible");
    ck_assert_ptr_nonnull(x);
    ck_assert_msg(strstr(x->msg, "is not divisible by weight quantization block_") != NULL, "%s", x->msg);
    findings_free(&f);
}
END_TEST


/* Shards not downloaded (git-lfs pointers): the keys come from the index, shapes are skipped. */
START_TEST(test_index_only)
{
    char *tmp = tu_tmpdir();
    ck_assert_ptr_nonnull(tmp);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cp fixtures/lint/r1-tiny/*.json %s/ && for f in fixtures/lint/r1-tiny/"
             "*.safetensors; do printf 'version https://git-lfs.github.com/spec/v1\\noid sha256:"
             "%%064d\\nsize 123\\n' 0 > %s/$(basename $f); done", tmp, tmp);
    ck_assert_int_eq(system(cmd), 0);
    char first[2048];
    ck_findings f;
    lint(tmp, "fixtures/rules/deepseek_v3-old-mtp-prefix.json", 8, 2, 0, first, sizeof first, &f);
    ck_assert_str_eq(first, "KeyError: 'layers.61.mlp.experts.w2_weight'");
    findings_free(&f);
    char *out = NULL;
    snprintf(cmd, sizeof cmd, "%s lint --tp 8 --pp 2 %s", tu_bin(), tmp);
    ck_assert_int_eq(tu_run(cmd, 0, &out), 1); /* the pointers themselves are errors */
    ck_assert_ptr_nonnull(strstr(out, "(from the index: shard headers unreadable, shape checks skipped)"));
    ck_assert_ptr_null(strstr(out, "lint.keyerror"));
    ck_assert_ptr_nonnull(strstr(out, "file.lfs_pointer"));
    free(out);
    tu_rmtree(tmp);
    free(tmp);
}
END_TEST


/* explain: from the pasted error line back to the keys, ranks and cause; rules explain. */
START_TEST(test_explain_cli)
{
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s explain --tp 8 --pp 2 --rules fixtures/rules/deepseek_v3-old-mtp-prefix.json "
             "fixtures/lint/r1-tiny \"KeyError: 'layers.61.mlp.experts.w2_weight'\"", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &out), 1);
    ck_assert_ptr_nonnull(strstr(out, "exists on no rank"));
    ck_assert_ptr_nonnull(strstr(out, "checkpoint key 'model.layers.61.mlp.experts.0.down_proj.weight'"));
    ck_assert_ptr_nonnull(strstr(out, "all ranks (0-15) raise KeyError: 'layers.61.mlp.experts.w2_weight': "
                                      "layer 61 is a multi-token-prediction layer"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s explain --pp 8 --rules fixtures/rules/deepseek_v3-indexer-no-pp-guard.json "
             "fixtures/lint/glm5-tiny \"KeyError: 'layers.0.self_attn.indexer.wk_weights_proj.weight'\"", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &out), 1);
    ck_assert_ptr_nonnull(strstr(out, "exists on rank 0 (PP stage 0)"));
    ck_assert_ptr_nonnull(strstr(out, "ranks 1-7 (PP stages 1-7) raise KeyError: "
                                      "'layers.0.self_attn.indexer.wk_weights_proj.weight': the parameter "
                                      "belongs to PP stage 0"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s rules explain model.layers.5.mlp.experts.2.up_proj.weight_scale_inv "
             "fixtures/lint/r1-tiny --tp 8 --pp 2", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "maps to 'layers.5.mlp.experts.routed_experts.w13_weight_scale_inv', part w3"));
    ck_assert_ptr_nonnull(strstr(out, "skipped on ranks 8-15 (PP stage 1): another stage owns layer 5"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s rules list", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "deepseek_v3"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s rules show deepseek_v3 | head -c 20", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &out), 0);
    ck_assert(strncmp(out, "{\n  \"ckptdoc_rules\"", 19) == 0);
    free(out);
}
END_TEST


/* Seed: a W8A16 compressed-tensors DeepSeek checkpoint against the MLA post-load step that knew
 * only weight and qweight (vLLM before PR #13725; DeepSeek-R1 #487). */
START_TEST(test_seed_weight_packed)
{
    ck_findings f;
    ck_assert_uint_eq(lint("fixtures/lint/v3-w8a16-tiny", "deepseek_v3", 2, 1, 0, NULL, 0, NULL), 0);
    size_t n = lint("fixtures/lint/v3-w8a16-tiny", "fixtures/rules/deepseek_v3-mla-weight-or-qweight.json",
                    2, 1, 0, NULL, 0, &f);
    ck_assert_uint_eq(n, 1);
    const ck_finding *x = findings_find(&f, "lint.postload");
    ck_assert_ptr_nonnull(x);
    ck_assert_str_eq(x->key, "layers.0.self_attn.kv_b_proj");
    ck_assert_msg(strstr(x->msg, "fails on layer 0: AttributeError: Layer 'ColumnParallelLinear("
                         "in_features=16, output_features=64, bias=False, tp_size=2, gather_output="
                         "False)' has neither weight nor qweight") != NULL, "%s", x->msg);
    ck_assert_ptr_nonnull(strstr(x->msg, "the module holds weight_packed"));
    findings_free(&f);
}
END_TEST


/* Checkpoints written by transformers (fixtures/real) lint clean with the qwen2 and llama rules,
 * GQA with fewer kv heads than ranks included (tiny-qwen2 has 2); 4 attention heads over TP 8 is
 * a layout vLLM refuses before any rank starts, and that is the only finding. */
START_TEST(test_real_transformers_clean)
{
    static const int tps[] = {1, 2, 4, 8};
    for (int pp = 1; pp <= 2; pp++) {
        ck_findings f;
        ck_assert_uint_eq(lint("fixtures/real/tiny-qwen2", "qwen2", 8, pp, 0, NULL, 0, &f), 1);
        ck_assert_str_eq(f.v[0].code, "lint.layout_refused");
        ck_assert_ptr_nonnull(strstr(f.v[0].msg, "ValueError: Total number of attention heads (4) must be "
                                     "divisible by tensor parallel size (8)."));
        findings_free(&f);
    }
    for (unsigned i = 0; i < 3; i++)
        for (int pp = 1; pp <= 2; pp++) {
            ck_findings f;
            size_t n = lint("fixtures/real/tiny-qwen2", "qwen2", tps[i], pp, 0, NULL, 0, &f);
            ck_assert_msg(n == 0, "tiny-qwen2 TP%d PP%d: %s", tps[i], pp, f.n ? f.v[0].msg : "");
            findings_free(&f);
            n = lint("fixtures/real/tiny-llama-bf16", "llama", tps[i], pp, 0, NULL, 0, &f);
            ck_assert_msg(n == 0, "tiny-llama TP%d PP%d: %s", tps[i], pp, f.n ? f.v[0].msg : "");
            findings_free(&f);
        }
    for (unsigned i = 0; i < 4; i++)
        for (int pp = 1; pp <= 2; pp++) {
            ck_findings fm;
            size_t n = lint("fixtures/lint/mixtral-tiny", "mixtral", tps[i], pp, 0, NULL, 0, &fm);
            ck_assert_msg(n == 0, "mixtral-tiny TP%d PP%d: %s", tps[i], pp, fm.n ? fm.v[0].msg : "");
            findings_free(&fm);
        }
    /* 4 query heads over 3 ranks: the model cannot be built */
    ck_findings f;
    ck_assert_uint_gt(lint("fixtures/real/tiny-qwen2", "qwen2", 3, 1, 0, NULL, 0, &f), 0);
    int heads = 0, vocab = 0;
    for (size_t i = 0; i < f.n; i++) {
        heads |= strstr(f.v[i].msg, "4 heads are not divisible by tensor-parallel size 3") != NULL;
        vocab |= strstr(f.v[i].msg, "padded vocabulary 256 is not divisible by tensor-parallel size 3") != NULL;
    }
    ck_assert(heads && vocab);
    findings_free(&f);
}
END_TEST


/* DeepSeek's convert.py: a Qwen2 distill stops at its table; R1's layout converts at MP 4 and
 * stops at MP 8 (4 experts). */
START_TEST(test_seed_deepseek_ref)
{
    char first[2048];
    ck_findings f;
    size_t n = lint("fixtures/real/tiny-qwen2", "deepseek-ref", 1, 1, 0, first, sizeof first, &f);
    ck_assert_uint_gt(n, 0);
    ck_assert_str_eq(first, "AssertionError: Key k_proj not found in mapping");
    const ck_finding *x = findings_find(&f, "lint.keyerror");
    ck_assert_ptr_nonnull(x);
    ck_assert_str_eq(x->key, "model.layers.0.self_attn.k_proj.bias");
    findings_free(&f);
    ck_assert_uint_eq(lint("fixtures/lint/r1-tiny", "deepseek-ref", 4, 1, 0, first, sizeof first, NULL), 0);
    ck_assert_str_eq(first, "");
    n = lint("fixtures/lint/r1-tiny", "deepseek-ref", 8, 1, 0, first, sizeof first, NULL);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(first, "AssertionError: Number of experts must be divisible by model parallelism");
    /* the CLI names the family the keys look like */
    char cmd[512], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s lint --rules deepseek-ref fixtures/real/tiny-qwen2", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &out), 1);
    ck_assert_ptr_nonnull(strstr(out, "the keys look like Qwen2"));
    ck_assert_ptr_nonnull(strstr(out, "raises AssertionError: Key k_proj not found in mapping"));
    free(out);
}
END_TEST


/* Shapes against config.json: a config whose moe_intermediate_size (48) no longer matches the
 * stored experts (64) gives a shape error for every expert weight and for the quantization
 * tensors beside it, with the expected shape derived the way the model derives it: FP8 block
 * scales (8x8 blocks: [6, 4] for [48, 32]) and W8A16 packed weights ([48, 8] int32 words); a
 * per-channel scale of down_proj ([32, 1]) is not affected. The stored model, linted at other
 * layouts, has none. */
START_TEST(test_shape_findings)
{
    static const struct {
        const char *dir, *key, *msg;
        size_t count;
    } cases[] = {
        {"fixtures/lint/r1-tiny", "model.layers.3.mlp.experts.1.gate_proj.weight_scale_inv",
         "shape [8, 4] does not match [6, 4] expected for 'layers.3.mlp.experts.routed_experts.w13_weight_scale_inv' part w1 "
         "(from config.json and rules line 74)", 1740},
        {"fixtures/lint/v3-w8a16-tiny", "model.layers.3.mlp.experts.1.gate_proj.weight_packed",
         "shape [64, 8] does not match [48, 8] expected for 'layers.3.mlp.experts.routed_experts.w13_weight_packed' part w1 "
         "(from config.json and rules line 74)", 75},
    };
    for (unsigned c = 0; c < 2; c++) {
        char *tmp = tu_tmpdir();
        ck_assert_ptr_nonnull(tmp);
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "cp %s/* %s/ && sed -i 's/\"moe_intermediate_size\": 64/"
                 "\"moe_intermediate_size\": 48/' %s/config.json", cases[c].dir, tmp, tmp);
        ck_assert_int_eq(system(cmd), 0);
        for (int tp = 1; tp <= 2; tp++) {
            ck_findings f;
            lint(tmp, "deepseek_v3", tp, 2, 0, NULL, 0, &f);
            size_t shapes = 0;
            const ck_finding *hit = NULL, *down_scale = NULL;
            for (size_t i = 0; i < f.n; i++) {
                if (strcmp(f.v[i].code, "lint.shape") != 0)
                    continue;
                shapes++;
                if (strcmp(f.v[i].key, cases[c].key) == 0)
                    hit = &f.v[i];
                if (strstr(f.v[i].key, "down_proj.weight_scale") && !strstr(f.v[i].key, "scale_inv"))
                    down_scale = &f.v[i];
            }
            ck_assert_uint_eq(shapes, cases[c].count);
            ck_assert_msg(hit && strstr(hit->msg, cases[c].msg), "%s: %s", cases[c].key, hit ? hit->msg : "none");
            ck_assert_ptr_null(down_scale);
            findings_free(&f);
        }
        ck_findings f;
        lint(cases[c].dir, "deepseek_v3", 2, 2, 0, NULL, 0, &f);
        ck_assert_ptr_null(findings_find(&f, "lint.shape"));
        findings_free(&f);
        tu_rmtree(tmp);
        free(tmp);
    }
}
END_TEST

/* Configs edited after the fact: quantization_config removed, num_hidden_layers trimmed. The
 * vLLM rules predict the KeyError and name the cause; transformers (deepseek_v3-hf) warns and
 * drops the extra keys instead. */
START_TEST(test_edited_configs)
{
    char *tmp = tu_tmpdir();
    ck_assert_ptr_nonnull(tmp);
    char cmd[4096], first[2048];
    snprintf(cmd, sizeof cmd, "cp fixtures/lint/r1-tiny/* %s/ && sed -i 's/\"quantization_config\"/"
             "\"quantization_config_removed\"/' %s/config.json", tmp, tmp);
    ck_assert_int_eq(system(cmd), 0);
    ck_findings f;
    ck_assert_uint_gt(lint(tmp, "deepseek_v3", 1, 1, 0, first, sizeof first, &f), 0);
    ck_assert_str_eq(first, "KeyError: 'layers.0.mlp.down_proj.weight_scale_inv'");
    const ck_finding *x = findings_find(&f, "lint.keyerror");
    ck_assert_ptr_nonnull(x);
    ck_assert_msg(strstr(x->msg, "'weight_scale_inv' belongs to fp8 quantization, but config.json builds "
                         "the model unquantized: was quantization_config removed") != NULL, "%s", x->msg);
    findings_free(&f);
    snprintf(cmd, sizeof cmd, "cp fixtures/lint/r1-tiny/config.json %s/ && sed -i "
             "'s/\"num_hidden_layers\": 61/\"num_hidden_layers\": 30/' %s/config.json", tmp, tmp);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_uint_gt(lint(tmp, "deepseek_v3", 1, 1, 0, first, sizeof first, &f), 0);
    ck_assert_str_eq(first, "KeyError: 'layers.31.input_layernorm.weight'");
    x = findings_find(&f, "lint.keyerror");
    ck_assert_ptr_nonnull(x);
    ck_assert_msg(strstr(x->msg, "layer 31 is at or beyond num_hidden_layers=30") != NULL, "%s", x->msg);
    findings_free(&f);
    ck_assert_uint_eq(lint(tmp, "deepseek_v3-hf", 1, 1, 0, first, sizeof first, &f), 0);
    ck_assert_str_eq(first, "");
    x = findings_find(&f, "lint.unused");
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(x->sev, SEV_WARNING);
    ck_assert_ptr_nonnull(strstr(x->msg, "were not used when initializing DeepseekV3ForCausalLM"));
    findings_free(&f);
    tu_rmtree(tmp);
    free(tmp);
}
END_TEST

/* gpt-oss as transformers writes it: the input-major experts transposed, lint clean where vLLM
 * builds it, and the two assertions its decoder layers make where it does not (the oracle's
 * tiny-gpt-oss): the intermediate size over the whole world (TP x PP), on the stages that build
 * layers only, and the kv heads divided by TP without a floor of one. */
START_TEST(test_gpt_oss)
{
    static const char *dir = "fixtures/moe/tiny-gpt-oss";
    static const int ok[][2] = {{1, 1}, {2, 1}, {1, 2}, {2, 2}};
    ck_findings f;
    for (unsigned i = 0; i < sizeof ok / sizeof *ok; i++) {
        ck_assert_uint_eq(lint(dir, "gpt_oss", ok[i][0], ok[i][1], 0, NULL, 0, &f), 0);
        findings_free(&f);
    }
    /* 128 intermediate over 3 stages: stages 0 and 1 hold a layer each and fail, stage 2 builds */
    ck_assert_uint_eq(lint(dir, "gpt_oss", 1, 3, 0, NULL, 0, &f), 2);
    for (size_t i = 0; i < f.n; i++) {
        ck_assert_str_eq(f.v[i].code, "lint.stage_unbuilt");
        ck_assert_ptr_nonnull(strstr(f.v[i].msg, "the model cannot be built: AssertionError:  (its construction "
                                                 "asserts intermediate_size % (tp_size * pp_size) == 0, false at "
                                                 "--tp 1 --pp 3; no --tp up to 64 holds it at --pp 3; --pp 1, 2, 4, "
                                                 "8, 16 hold it at --tp 1)"));
        ck_assert_ptr_null(strstr(f.v[i].msg, "PP stage 2"));
    }
    findings_free(&f);
    ck_assert_uint_eq(lint(dir, "gpt_oss", 4, 1, 0, NULL, 0, &f), 1);
    ck_assert_ptr_nonnull(strstr(f.v[0].msg, "ZeroDivisionError: integer modulo by zero"));
    findings_free(&f);
    /* the experts' shapes are checked as stored: [E, H, 2 x I] and [E, I, H] */
    tu_planned x;
    tu_planned_open(&x, dir, 2, "gpt_oss", 2, 1);
    ck_assert(x.planned);
    const plan_param *w13 = NULL, *b2 = NULL;
    size_t pi;
    if (strmap_get(&x.p.stages[0].by_name, "layers.0.mlp.experts.routed_experts.w13_weight", &pi))
        w13 = &x.p.stages[0].params[pi];
    if (strmap_get(&x.p.stages[0].by_name, "layers.0.mlp.experts.routed_experts.w2_bias", &pi))
        b2 = &x.p.stages[0].params[pi];
    ck_assert_ptr_nonnull(w13);
    ck_assert_ptr_nonnull(b2);
    ck_assert_uint_eq(w13->local[1], 128); /* 2 x 128 / TP 2, gate and up still interleaved */
    ck_assert_uint_eq(w13->local[2], 64);
    shard_slice c;
    ck_err e;
    ck_err_clear(&e);
    ck_assert_int_eq(shard_slice_of(&x.p, b2, NULL, 3, 1, &c, &e), CK_OK);
    ck_assert_int_eq(c.dim, -3); /* zeros on TP rank 1 */
    ck_assert_int_eq(shard_slice_of(&x.p, b2, NULL, 3, 0, &c, &e), CK_OK);
    ck_assert_int_eq(c.dim, -1);
    tu_planned_close(&x);
}
END_TEST

/* gpt-oss as OpenAI releases it: MXFP4 experts (uint8 blocks viewed as [E, rows, in / 2], E8M0
 * scales), every other linear unquantized, and each rank's share of the intermediate size rounded
 * up to whole groups of 32 (96 over TP 2: rank 0 two groups, rank 1 the one left, padded) as vLLM
 * 0.32 sizes and fills them (the oracle's tiny-gpt-oss-mxfp4). */
START_TEST(test_gpt_oss_mxfp4)
{
    static const char *dir = "fixtures/moe/tiny-gpt-oss-mxfp4";
    static const int ok[][2] = {{1, 1}, {2, 1}, {1, 2}, {2, 2}, {1, 3}};
    ck_findings f;
    for (unsigned i = 0; i < sizeof ok / sizeof *ok; i++) {
        ck_assert_msg(lint(dir, "gpt_oss", ok[i][0], ok[i][1], 0, NULL, 0, &f) == 0, "TP%d PP%d: %s", ok[i][0],
                      ok[i][1], f.n ? f.v[0].msg : "");
        findings_free(&f);
    }
    tu_planned x;
    tu_planned_open(&x, dir, 2, "gpt_oss", 2, 1);
    ck_assert(x.planned);
    static const struct { const char *name; uint64_t local[3]; int dim; int64_t start1, len1; } w[] = {
        {"layers.0.mlp.experts.routed_experts.w13_weight", {8, 128, 32}, 0, 128, 64},
        {"layers.0.mlp.experts.routed_experts.w13_weight_scale", {8, 128, 2}, 0, 128, 64},
        {"layers.0.mlp.experts.routed_experts.w13_bias", {8, 128, 0}, 0, 128, 64},
        {"layers.0.mlp.experts.routed_experts.w2_weight", {8, 64, 32}, 1, 32, 16},
        {"layers.0.mlp.experts.routed_experts.w2_weight_scale", {8, 64, 2}, 1, 2, 1},
        {"layers.0.attn.qkv_proj.weight", {64, 64, 0}, 0, 0, 0}};
    for (unsigned i = 0; i < sizeof w / sizeof *w; i++) {
        size_t pi;
        ck_assert_msg(strmap_get(&x.p.stages[0].by_name, w[i].name, &pi), "%s not planned", w[i].name);
        const plan_param *pp = &x.p.stages[0].params[pi];
        for (int d = 0; d < 3 && w[i].local[d]; d++)
            ck_assert_msg(pp->local[d] == w[i].local[d], "%s dim %d: %llu", w[i].name, d,
                          (unsigned long long)pp->local[d]);
        if (!pp->experts)
            continue;
        shard_slice c;
        ck_err e;
        ck_err_clear(&e);
        ck_assert_int_eq(shard_slice_of(&x.p, pp, NULL, -1, 1, &c, &e), CK_OK);
        ck_assert_msg(c.dim == w[i].dim && c.start == w[i].start1 && c.len == w[i].len1 && c.padded,
                      "%s rank 1: dim %d [%lld, +%lld)", w[i].name, c.dim, (long long)c.start, (long long)c.len);
        ck_assert_int_eq(shard_slice_of(&x.p, pp, NULL, -1, 0, &c, &e), CK_OK);
        ck_assert_int_eq(c.start, 0);
        ck_assert_int_eq(c.len, (int64_t)pp->local[1 + w[i].dim]);
    }
    tu_planned_close(&x);
    /* BF16 experts under a config that says mxfp4: their shapes are not the packed ones (said once
     * each, without a dtype finding too) and no scales fill theirs */
    ck_assert_uint_eq(lint("fixtures/oracle/variants/gpt-oss-bf16-mxfp4-config", "gpt_oss", 1, 1, 0, NULL, 0, &f), 8);
    size_t shapes = 0, missing = 0;
    for (size_t i = 0; i < f.n; i++) {
        shapes += strcmp(f.v[i].code, "lint.shape") == 0;
        missing += strcmp(f.v[i].code, "lint.missing") == 0 && strstr(f.v[i].key, "_weight_scale") != NULL;
    }
    ck_assert_uint_eq(shapes, 4);
    ck_assert_uint_eq(missing, 4);
    const ck_finding *sh = findings_find(&f, "lint.shape");
    ck_assert_ptr_nonnull(sh);
    ck_assert_ptr_nonnull(strstr(sh->msg, "shape [8, 128, 64] does not match [8, 64, 64] expected for "
                                          "'layers.0.mlp.experts.routed_experts.w2_weight'"));
    findings_free(&f);
}
END_TEST

/* A vision-language checkpoint in each of its namings lints clean at TP 1/2 x PP 1/2/3 with
 * nothing skipped (the wrapper's tower and projector are modelled), and at TP 4 its tower's 2
 * heads stop the model's construction, in vLLM's words. */
static void lint_vl_layouts(const char *const *dirs, unsigned n, const char *rules)
{
    static const int ok[][2] = {{1, 1}, {2, 1}, {1, 2}, {2, 2}, {1, 3}};
    for (unsigned d = 0; d < n; d++)
        for (unsigned i = 0; i < sizeof ok / sizeof *ok; i++) {
            ck_findings f;
            ck_assert_msg(lint(dirs[d], rules, ok[i][0], ok[i][1], 0, NULL, 0, &f) == 0, "%s TP%d PP%d: %s",
                          dirs[d], ok[i][0], ok[i][1], f.n ? f.v[0].msg : "");
            ck_assert_ptr_null(findings_find(&f, "lint.skipped"));
            findings_free(&f);
        }
    ck_findings f;
    ck_assert_uint_eq(lint(dirs[0], rules, 4, 1, 0, NULL, 0, &f), 1);
    ck_assert_str_eq(f.v[0].code, "lint.stage_unbuilt");
    ck_assert_ptr_nonnull(strstr(f.v[0].msg, "AssertionError: 2 is not divisible by 4 (its construction asserts "
                                             "vision_config.num_attention_heads % tp_size == 0"));
    findings_free(&f);
}

/* Mistral Small 3.1/3.2 as released (Mistral3ForConditionalGeneration): a MistralForCausalLM under
 * text_config with its lm_head stored as language_model.lm_head.weight (or lm_head.weight in
 * transformers 4.52-4.57's names), and the wrapper's Pixtral tower and projector checked on every
 * stage; the tower's heads divide by TP (vLLM's text, as the oracle recorded). */
START_TEST(test_mistral3)
{
    static const char *const dirs[] = {"fixtures/real/tiny-mistral3", "fixtures/oracle/variants/mistral3-language-model-names"};
    lint_vl_layouts(dirs, 2, "llama");
    free(tu_cli(0, "family     Mistral3ForConditionalGeneration (mistral3)", "lint %s --tp 2", dirs[0]));
    /* features from the tower's next-to-last layer: vLLM builds one layer fewer and drops its keys */
    free(tu_cli(0, "9 keys skipped (like this one): a vision tower layer above vision_feature_layer",
                "lint fixtures/oracle/variants/mistral3-feature-layer-2 --tp 2"));
}
END_TEST

/* Files the index does not name are read by no loader (vLLM keeps the *.safetensors the index
 * names, as the oracle recorded): a leftover file's keys and Mistral's own consolidated.safetensors
 * beside the HF shards are left out of the lint, which inspect says (a warning for the leftover, a
 * note saying what vLLM's default load format reads for Mistral's). */
START_TEST(test_unindexed_files)
{
    static const struct { const char *dir, *rules, *code; } fx[] = {
        {"fixtures/oracle/variants/qwen2-stray-shard", "qwen2", "warning index.stray_shard model-stray.safetensors"},
        /* an earlier save's files holding the same tensors, sorted first: the copies kept are the
         * named files', and no duplicate is reported */
        {"fixtures/oracle/variants/qwen2-stale-shards", "qwen2", "warning index.stray_shard model-00001-of-00002.safetensors"},
        {"fixtures/oracle/variants/mistral-consolidated-beside-index", "llama",
         "note    index.mistral_consolidated consolidated.safetensors: Mistral's own layout beside the files "
         "model.safetensors.index.json names: vLLM 0.32's default (--load-format auto) reads "
         "consolidated*.safetensors instead"}};
    for (unsigned d = 0; d < sizeof fx / sizeof *fx; d++) {
        for (int tp = 1; tp <= 2; tp++) {
            ck_findings f;
            ck_assert_msg(lint(fx[d].dir, fx[d].rules, tp, 1, 0, NULL, 0, &f) == 0, "%s TP%d: %s", fx[d].dir, tp,
                          f.n ? f.v[0].msg : "");
            ck_assert_ptr_null(findings_find(&f, "lint.unexpected"));
            findings_free(&f);
        }
        free(tu_cli(0, fx[d].code, "inspect %s", fx[d].dir));
    }
    free(tu_cli(0, "top-1 tokens agree 8/8: PASS", "check fixtures/oracle/variants/mistral-consolidated-beside-index --tp 2"));
    free(tu_cli(0, "top-1 tokens agree 8/8: PASS", "check fixtures/oracle/variants/qwen2-stale-shards --tp 2"));
    char *out = tu_cli(0, "index.stray_shard", "inspect fixtures/oracle/variants/qwen2-stale-shards");
    ck_assert_msg(!strstr(out, "ckpt.duplicate_tensor"), "%s", out);
    free(out);
    /* an index no loader can read names no file: every file is taken, and the one error is the index's */
    char *dir = tu_tmpdir(), cmd[1024];
    snprintf(cmd, sizeof cmd, "cp fixtures/real/tiny-qwen2/* %s/ && printf '{\"weight_map\": {' > "
             "%s/model.safetensors.index.json", dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    free(tu_cli(1, "findings   1 error, 0 warnings", "lint %s", dir));
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* Gemma 3's multimodal releases (Gemma3ForConditionalGeneration): the Gemma 3 decoder under
 * text_config, and the wrapper's own SigLIP tower and projector, checked by vLLM's names and
 * shapes on every stage whichever naming the checkpoint has; the tower's heads divide by TP; a
 * tower without its vision_model level and missing norms fail in vLLM's words, the wrapper's
 * modules named as vLLM names them beside the decoder's language_model.model.* (all as the oracle
 * recorded). */
START_TEST(test_gemma3_mm)
{
    static const char *const dirs[] = {"fixtures/real/tiny-gemma3-mm", "fixtures/oracle/variants/gemma3-mm-language-model-names"};
    lint_vl_layouts(dirs, 2, "gemma3");
    char first[4096];
    lint("fixtures/oracle/variants/gemma3-mm-tower-without-vision-model", "gemma3", 2, 1, 0, first, sizeof first, NULL);
    ck_assert_msg(strncmp(first, "ValueError: There is no module or parameter named 'vision_tower.embeddings' in "
                                 "Gemma3ForConditionalGeneration. The available parameters belonging to vision_tower "
                                 "(SiglipVisionModel) are: {'vision_tower.vision_model.embeddings.patch_embedding.bias', ",
                          strlen("ValueError: There is no module or parameter named 'vision_tower.embeddings' in "
                                 "Gemma3ForConditionalGeneration. The available parameters belonging to vision_tower "
                                 "(SiglipVisionModel) are: {'vision_tower.vision_model.embeddings.patch_embedding.bias', ")) == 0,
                  "%s", first);
    /* a key under none of the wrapper's modules is looked up from the wrapper, which lists every
     * parameter by its full name */
    lint("fixtures/oracle/variants/gemma3-mm-unknown-top-key", "gemma3", 1, 1, 0, first, sizeof first, NULL);
    static const char top[] = "ValueError: There is no module or parameter named 'image_newline' in "
                              "Gemma3ForConditionalGeneration. The available parameters belonging to  "
                              "(Gemma3ForConditionalGeneration) are: {'language_model.model.embed_tokens.weight', "
                              "'language_model.model.layers.0.input_layernorm.weight', ";
    ck_assert_msg(strncmp(first, top, strlen(top)) == 0, "%s", first);
    /* the decoder saved as model.*: Gemma 3's WeightsMapper maps model. only before its own
     * modules, so the wrapper looks model up and has none (Mistral 3's maps it and loads) */
    lint("fixtures/oracle/variants/gemma3-mm-bare-model-names", "gemma3", 1, 1, 0, first, sizeof first, NULL);
    static const char bare[] = "ValueError: There is no module or parameter named 'model' in Gemma3ForConditionalGeneration.";
    ck_assert_msg(strncmp(first, bare, strlen(bare)) == 0, "%s", first);
    free(tu_cli(0, "- loads", "lint fixtures/oracle/variants/mistral3-bare-model-names"));
    static const char *const dropped = "fixtures/oracle/variants/gemma3-mm-dropped-norms";
    lint(dropped, "gemma3", 1, 2, 0, first, sizeof first, NULL);
    ck_assert_str_eq(first, "ValueError: Following weights were not initialized from checkpoint: "
                            "{'language_model.model.layers.1.post_feedforward_layernorm.weight', "
                            "'multi_modal_projector.mm_soft_emb_norm.weight', "
                            "'vision_tower.vision_model.post_layernorm.weight'}");
    lint(dropped, "gemma3", 1, 2, 1, first, sizeof first, NULL);
    ck_assert_str_eq(first, "ValueError: Following weights were not initialized from checkpoint: "
                            "{'multi_modal_projector.mm_soft_emb_norm.weight', "
                            "'vision_tower.vision_model.post_layernorm.weight'}");
}
END_TEST

/* Qwen2.5-VL and Qwen3-VL: the Qwen2 (Qwen3) decoder under text_config and the vision tower checked
 * by vLLM's names and shapes (Qwen3-VL's with its deepstack mergers), whichever naming the
 * checkpoint has (transformers 5's model.* and visual.*, or 4.52-4.57's model.language_model.* and
 * model.visual.*); the vision tower's TP split asserts its heads divide by TP (vLLM's text, its
 * numbers filled in), and vLLM names the decoder language_model. */
START_TEST(test_qwen2_5_vl)
{
    static const struct { const char *dir, *rules, *skipped; } fx[] = {
        {"fixtures/real/tiny-qwen2_5-vl", "qwen2", NULL}, /* Qwen2.5-VL's tower is checked, not skipped */
        {"fixtures/oracle/variants/qwen2_5-vl-language-model-names", "qwen2", NULL},
        {"fixtures/real/tiny-qwen3-vl", "qwen3", NULL}, {"fixtures/real/tiny-qwen2-vl", "qwen2", NULL}};
    static const int ok[][2] = {{1, 1}, {2, 1}, {1, 2}, {2, 2}, {1, 3}};
    for (unsigned d = 0; d < sizeof fx / sizeof *fx; d++) {
        for (unsigned i = 0; i < sizeof ok / sizeof *ok; i++) {
            ck_findings f;
            ck_assert_msg(lint(fx[d].dir, fx[d].rules, ok[i][0], ok[i][1], 0, NULL, 0, &f) == 0, "%s TP%d PP%d: %s",
                          fx[d].dir, ok[i][0], ok[i][1], f.n ? f.v[0].msg : "");
            const ck_finding *sk = findings_find(&f, "lint.skipped");
            if (!fx[d].skipped)
                ck_assert_ptr_null(sk);
            else {
                ck_assert_ptr_nonnull(sk);
                ck_assert_ptr_nonnull(strstr(sk->msg, fx[d].skipped));
                ck_assert_ptr_nonnull(strstr(sk->key, d ? "model.visual." : "visual."));
            }
            findings_free(&f);
        }
        ck_findings f;
        ck_assert_uint_eq(lint(fx[d].dir, fx[d].rules, 4, 1, 0, NULL, 0, &f), 1);
        ck_assert_str_eq(f.v[0].code, "lint.stage_unbuilt");
        ck_assert_ptr_nonnull(strstr(f.v[0].msg, "the model cannot be built: AssertionError: 2 is not divisible by 4 "
                                                 "(its construction asserts vision_config.num_heads % tp_size == 0"));
        findings_free(&f);
    }
    /* Qwen3-VL-MoE: the Qwen3-MoE decoder, its experts fused input-major; a stage without a MoE
     * layer is vLLM's own text for the wrapper, and so is a text config without norm_topk_prob */
    static const char *vm = "fixtures/moe/tiny-qwen3-vl-moe";
    static const int vok[][2] = {{1, 1}, {2, 1}, {1, 2}, {2, 2}};
    for (unsigned i = 0; i < sizeof vok / sizeof *vok; i++) {
        ck_findings f;
        ck_assert_msg(lint(vm, "qwen2_moe", vok[i][0], vok[i][1], 0, NULL, 0, &f) == 0, "TP%d PP%d: %s", vok[i][0],
                      vok[i][1], f.n ? f.v[0].msg : "");
        findings_free(&f);
    }
    ck_findings vf;
    ck_assert_uint_eq(lint(vm, "qwen2_moe", 1, 3, 0, NULL, 0, &vf), 1);
    ck_assert_ptr_nonnull(strstr(vf.v[0].msg, "RuntimeError: No Qwen3Moe layer found in the language_model."));
    findings_free(&vf);
    /* Qwen3-VL's and Qwen3-VL-MoE's own assertion: a stage after the first starts at or after
     * layer len(deepstack_visual_indexes); the model makes it, so a stage without layers makes it
     * too, after the language model's construction and before the MoE layer search (the oracle's
     * partitions) */
    static const char *ds = "AssertionError: start_layer should be greater than or equal to "
                            "len(deepstack_visual_indexes)";
    char want[256];
    snprintf(want, sizeof want, "rank 1 (PP stage 1), layers 0-1: the model cannot be built: %s", ds);
    free(tu_cli(1, want, "lint --pp 2 --pp-partition 0,2 fixtures/real/tiny-qwen3-vl"));
    snprintf(want, sizeof want, "rank 1 (PP stage 1), no layers: the model cannot be built: %s", ds);
    free(tu_cli(1, want, "lint --pp 3 --pp-partition 0,0,2 %s", vm));
    free(tu_cli(1, "rank 0 (PP stage 0), no layers: the model cannot be built: RuntimeError: No Qwen3Moe layer",
                "lint --pp 3 --pp-partition 0,0,2 %s", vm));
    free(tu_cli(1, "--pp 1, 2, 3 hold it at --tp 1 with vLLM's default split",
                "lint --pp 2 --pp-partition 0,2 fixtures/real/tiny-qwen3-vl"));
    free(tu_cli(0, NULL, "lint --pp 2 --pp-partition 1,1 fixtures/real/tiny-qwen3-vl"));
    tu_planned x;
    tu_planned_open(&x, fx[0].dir, 1, "qwen2", 1, 1);
    ck_assert(x.planned);
    ck_assert_str_eq(x.p.wrapper, "language_model.");
    ck_assert_int_eq(x.p.num_layers, 2); /* text_config's, not the vision tower's depth */
    tu_planned_close(&x);
    tu_planned_open(&x, "fixtures/real/tiny-qwen2", 1, "qwen2", 1, 1);
    ck_assert(x.planned);
    ck_assert_str_eq(x.p.wrapper, "");
    tu_planned_close(&x);
}
END_TEST

/* Kimi-K2.5: the DeepSeek-V3 decoder under language_model (the Hub's language_model.model.* and
 * language_model.lm_head, or the legacy release's language_model.layers.*), the MoonViT tower and
 * its projector checked by vLLM's names and shapes (the tower split over TP where its heads
 * divide, whole on every rank where they do not, the projector whole); lint clean wherever its
 * heads allow, a dropped text key named as vLLM names it (the wrapper's module put back), as the
 * oracle recorded. */
START_TEST(test_kimi_k25)
{
    static const char *dirs[] = {"fixtures/moe/tiny-kimi-k25", "fixtures/oracle/variants/kimi-k25-legacy-layer-names"};
    static const int ok[][2] = {{1, 1}, {2, 1}, {4, 1}, {1, 2}, {2, 2}, {1, 3}};
    for (unsigned d = 0; d < 2; d++)
        for (unsigned i = 0; i < sizeof ok / sizeof *ok; i++) {
            ck_findings f;
            ck_assert_msg(lint(dirs[d], "deepseek_v3", ok[i][0], ok[i][1], 0, NULL, 0, &f) == 0, "%s TP%d PP%d: %s",
                          dirs[d], ok[i][0], ok[i][1], f.n ? f.v[0].msg : "");
            ck_assert_ptr_null(findings_find(&f, "lint.skipped"));
            findings_free(&f);
        }
    /* the tower's wqkv [3 x 32, 32] and projector's linear_1 [128, 128] on a rank: its 2 heads
     * split over TP 2, whole at TP 4 (vLLM runs the tower data-parallel there) */
    static const struct { int tp; uint64_t qkv_rows, proj_rows; } split[] = {{1, 96, 128}, {2, 48, 128}, {4, 96, 128}};
    for (unsigned i = 0; i < sizeof split / sizeof *split; i++) {
        tu_planned y;
        tu_planned_open(&y, dirs[0], 1, "deepseek_v3", split[i].tp, 1);
        ck_assert(y.planned);
        const plan_stage *st = &y.p.stages[0];
        uint64_t qkv = 0, proj = 0;
        for (size_t k = 0; k < st->n; k++) {
            if (strcmp(st->params[k].name, "vision_tower.encoder.blocks.0.wqkv.weight") == 0)
                qkv = st->params[k].local[0];
            if (strcmp(st->params[k].name, "mm_projector.linear_1.weight") == 0)
                proj = st->params[k].local[0];
        }
        ck_assert_uint_eq(qkv, split[i].qkv_rows);
        ck_assert_uint_eq(proj, split[i].proj_rows);
        tu_planned_close(&y);
    }
    free(tu_cli(1, "ValueError: Following weights were not initialized from checkpoint: "
                "{'language_model.model.layers.1.self_attn.kv_a_layernorm.weight'}",
                "lint --tp 2 fixtures/oracle/variants/kimi-k25-dropped-kv-a-norm"));
    tu_planned x;
    tu_planned_open(&x, dirs[0], 1, "deepseek_v3", 1, 1);
    ck_assert(x.planned);
    ck_assert_str_eq(x.p.wrapper, "language_model.");
    ck_assert_int_eq(x.p.num_layers, 2); /* text_config's, not the vision tower's */
    tu_planned_close(&x);
}
END_TEST

/* Llama 4's decoder: dense and MoE layers interleaved, the experts fused input-major (gate then
 * up halves) or one key per expert, lint clean at every layout its heads allow (EP: the oracle
 * and check's CLI suite); the q and k rows vLLM reorders for its rotary keep their shapes. */
START_TEST(test_llama4)
{
    static const char *dirs[] = {"fixtures/moe/tiny-llama4", "fixtures/oracle/variants/llama4-per-expert-keys"};
    static const int lay[][2] = {{1, 1}, {2, 1}, {4, 1}, {1, 2}, {2, 2}, {1, 3}};
    for (unsigned d = 0; d < 2; d++)
        for (unsigned i = 0; i < sizeof lay / sizeof *lay; i++) {
            ck_findings f;
            ck_assert_msg(lint(dirs[d], "llama4", lay[i][0], lay[i][1], 0, NULL, 0, &f) == 0, "%s TP%d PP%d: %s",
                          dirs[d], lay[i][0], lay[i][1], f.n ? f.v[0].msg : "");
            findings_free(&f);
        }
    tu_planned x;
    tu_planned_open(&x, dirs[0], 1, "llama4", 2, 1);
    ck_assert(x.planned);
    static const struct { const char *name; int present; uint64_t l0, l1; } w[] = {
        {"layers.0.feed_forward.gate_up_proj.weight", 1, 128, 64},  /* dense: 2 x 128 / TP 2 */
        {"layers.1.feed_forward.gate_up_proj.weight", 0, 0, 0},
        {"layers.1.feed_forward.router.weight", 1, 4, 64},
        {"layers.1.feed_forward.shared_expert.gate_up_proj.weight", 1, 32, 64},
        {"layers.1.feed_forward.experts.routed_experts.w13_weight", 1, 4, 32},
        {"layers.2.feed_forward.experts.routed_experts.w13_weight", 0, 0, 0}};
    for (unsigned i = 0; i < sizeof w / sizeof *w; i++) {
        size_t pi;
        int has = strmap_get(&x.p.stages[0].by_name, w[i].name, &pi);
        ck_assert_msg(has == w[i].present, "%s: planned %d", w[i].name, has);
        if (has)
            ck_assert_msg(x.p.stages[0].params[pi].local[0] == w[i].l0 && x.p.stages[0].params[pi].local[1] == w[i].l1,
                          "%s: %llu x %llu", w[i].name, (unsigned long long)x.p.stages[0].params[pi].local[0],
                          (unsigned long long)x.p.stages[0].params[pi].local[1]);
    }
    tu_planned_close(&x);
}
END_TEST

/* The other built-in families lint clean at every layout, their config-driven layer kinds
 * (mlp_only_layers, first_k_dense_replace, the GLM MTP layer) matter, and a checkpoint that
 * already ships fused names is the naming hazard of substring renames. */
START_TEST(test_more_families)
{
    static const struct { const char *dir, *rules; } fx[] = {
        {"fixtures/lint/v2-lite-tiny", "deepseek_v3"}, {"fixtures/lint/qwen3-moe-tiny", "qwen2_moe"},
        {"fixtures/lint/glm45-tiny", "glm4_moe"}, {"fixtures/lint/qwen3-tiny", "qwen3"},
        {"fixtures/lint/gemma2-tiny", "gemma2"}, {"fixtures/lint/gemma3-tiny", "gemma3"},
        {"fixtures/lint/v32-tiny", "deepseek_v3"}};
    static const int tps[] = {1, 2, 4, 8};
    for (unsigned k = 0; k < 7; k++)
        for (unsigned i = 0; i < 4; i++)
            for (int pp = 1; pp <= 3; pp++) {
                ck_findings f;
                size_t n = lint(fx[k].dir, fx[k].rules, tps[i], pp, 0, NULL, 0, &f);
                if (k == 5 && tps[i] == 8) { /* Gemma 3's 4 heads over 8 ranks: refused, with the fix */
                    ck_assert_uint_eq(n, 1);
                    ck_assert_str_eq(f.v[0].code, "lint.layout_refused");
                    ck_assert_ptr_nonnull(strstr(f.v[0].msg, "(--tp 1, 2, 4 would be accepted)"));
                    findings_free(&f);
                    continue;
                }
                if (k == 2 && pp == 3) { /* a stage of GLM's dense layer 0 alone: no MoE layer */
                    ck_assert_uint_eq(n, 1);
                    ck_assert_str_eq(f.v[0].code, "lint.stage_unbuilt");
                    ck_assert_ptr_nonnull(strstr(f.v[0].msg, "(PP stage 0), layers 0-0: the model cannot be "
                                                 "built: RuntimeError: No Glm4MoE layer found in model.layers."));
                    findings_free(&f);
                    continue;
                }
                ck_assert_msg(n == 0, "%s TP%d PP%d: %s", fx[k].dir, tps[i], pp, f.n ? f.v[0].msg : "");
                if (k == 2) { /* GLM's MTP layer 4 is skipped by the rule, with its reason */
                    const ck_finding *x = findings_find(&f, "lint.skipped");
                    ck_assert_ptr_nonnull(x);
                    ck_assert_ptr_nonnull(strstr(x->msg, "draft model (Glm4MoeMTP)"));
                    ck_assert_ptr_nonnull(strstr(x->key, "model.layers.4."));
                }
                findings_free(&f);
            }
    /* Qwen2-MoE's attention is sized by hidden_size / num_attention_heads (4 here), never by the
     * config's head_dim (8), which this checkpoint was written with: every q/k/v/o is the wrong
     * shape (vLLM narrows them without a word; docs/oracle.md lists the case) */
    ck_findings f;
    ck_assert_uint_gt(lint("fixtures/lint/qwen2-moe-tiny", "qwen2_moe", 1, 1, 0, NULL, 0, &f), 0);
    const ck_finding *x = findings_find(&f, "lint.shape");
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(strstr(x->msg, "shape [16] does not match [8] expected for "
                                 "'layers.0.self_attn.qkv_proj.bias' part k"));
    findings_free(&f);
    /* mlp_only_layers makes layer 1 dense over a checkpoint whose layer 1 is MoE: its expert keys
     * are no module of the model vLLM builds (the oracle's qwen3-moe-mlp-only-layers) */
    char cmd[4096], first[2048];
    ck_assert_uint_gt(lint("fixtures/oracle/variants/qwen3-moe-mlp-only-layers", "qwen2_moe", 1, 1, 0, first,
                           sizeof first, &f), 0);
    ck_assert_str_eq(first, "ValueError: There is no module or parameter named 'layers.1.mlp.experts' in "
                            "Qwen3MoeModel. The available parameters belonging to layers.1.mlp (Qwen3MoeMLP) are: "
                            "{'layers.1.mlp.down_proj.weight', 'layers.1.mlp.gate_up_proj.weight'}");
    findings_free(&f);
    /* a norm no key fills: vLLM's strict check after the last key names it with the model's
     * prefix (the oracle's qwen3-dropped-k-norm); on a stage without that layer it loads */
    ck_assert_uint_eq(lint("fixtures/oracle/variants/qwen3-dropped-k-norm", "qwen3", 2, 1, 0, first, sizeof first,
                           &f), 1);
    ck_assert_str_eq(first, "ValueError: Following weights were not initialized from checkpoint: "
                            "{'model.layers.1.self_attn.k_norm.weight'}");
    ck_assert_str_eq(f.v[0].code, "lint.missing");
    findings_free(&f);
    ck_assert_uint_eq(lint("fixtures/oracle/variants/qwen3-dropped-k-norm", "qwen3", 1, 2, 0, first, sizeof first,
                           &f), 1);
    ck_assert_ptr_nonnull(strstr(f.v[0].msg, "rank 1 (PP stage 1):"));
    findings_free(&f);
    /* a key outside the stripped model is looked up from Gemma2ForCausalLM, which has no lm_head
     * (the oracle's gemma2-with-lm-head) */
    ck_assert_uint_eq(lint("fixtures/oracle/variants/gemma2-with-lm-head", "gemma2", 1, 1, 0, first, sizeof first,
                           &f), 1);
    ck_assert_msg(strncmp(first, "ValueError: There is no module or parameter named 'lm_head' in Gemma2ForCausalLM. "
                          "The available parameters belonging to  (Gemma2ForCausalLM) are: {'model.embed_tokens.weight', "
                          "'model.layers.0.input_layernorm.weight', ", 200) == 0, "%s", first);
    findings_free(&f);
    static const int lay[][2] = {{1, 1}, {2, 1}, {4, 1}, {1, 2}, {2, 2}, {1, 3}};
    /* several config groups: each module's own scheme (W8A16 attention and W4A16 MLP; FP8 attention,
     * W4A16 MLP, one module in no group built unquantized); at TP 4 o_proj's 16 inputs per rank are
     * not whole groups of 32, vLLM's error exactly. GPTQ's dynamic rules likewise, and without them
     * the layer-1 scales are the wrong size */
    for (unsigned i = 0; i < sizeof lay / sizeof *lay; i++) {
        int tp4 = lay[i][0] == 4;
        ck_assert_uint_eq(lint("fixtures/quant/tiny-llama-mixed", "llama", lay[i][0], lay[i][1], 0, NULL, 0, &f),
                          tp4 ? 1 : 0);
        if (tp4)
            ck_assert_ptr_nonnull(strstr(findings_find(&f, "lint.tp_indivisible")->msg,
                                         "ValueError: Weight input_size_per_partition=16 for layer "
                                         "'model.layers.0.self_attn.o_proj' is not divisible by group_size=32."));
        findings_free(&f);
        ck_assert_uint_eq(lint("fixtures/quant/tiny-llama-mixed-fp8", "llama", lay[i][0], lay[i][1], 0, NULL, 0, NULL), 0);
        if (!tp4)
            ck_assert_uint_eq(lint("fixtures/oracle/models/tiny-llama-hd64-gptq-dynamic", "llama", lay[i][0], lay[i][1],
                                   0, NULL, 0, NULL), 0);
    }
    ck_assert_uint_ge(lint("fixtures/oracle/variants/gptq-dynamic-dropped", "llama", 1, 1, 0, NULL, 0, &f), 12);
    ck_assert_ptr_nonnull(strstr(findings_find(&f, "lint.shape")->msg, "does not match"));
    findings_free(&f);
    /* NVFP4 W4A4 carries an input_global_scale per module, W4A16 none: each is vLLM's error under
     * the other's config (a W4A16 config over W4A4 tensors, here) */
    ck_assert_uint_eq(lint("fixtures/oracle/variants/nvfp4-a16-config", "llama", 1, 1, 0, first, sizeof first, &f), 14);
    ck_assert_ptr_nonnull(strstr(first, "There is no module or parameter named 'layers.0.mlp.down_proj.input_global_scale'"));
    findings_free(&f);
    /* FP8 per tensor (quant_method fp8, no weight_block_size): scalar scales lint clean at every
     * layout; an input_scale the config's dynamic scheme does not build is vLLM's error, with the
     * reason; a float weight among FP8 ones is lint.dtype (vLLM loads it as codes, unscaled) */
    static const char *const clean[] = {"tiny-llama-fp8-static", "tiny-llama-fp8-dynamic", "tiny-llama-modelopt-fp8",
                                        "tiny-llama-nvfp4", "tiny-llama-int8-static", "tiny-llama-mxfp4",
                                        "tiny-llama-nvfp4a16"};
    char dir[256];
    for (unsigned i = 0; i < sizeof lay / sizeof *lay; i++) {
        for (unsigned k = 0; k < sizeof clean / sizeof *clean; k++) {
            snprintf(dir, sizeof dir, "fixtures/quant/%s", clean[k]);
            ck_assert_msg(lint(dir, "llama", lay[i][0], lay[i][1], 0, NULL, 0, NULL) == 0, "%s at TP %d x PP %d",
                          dir, lay[i][0], lay[i][1]);
        }
        ck_assert_uint_eq(lint("fixtures/moe/tiny-mixtral-fp8", "mixtral", lay[i][0], lay[i][1], 0, NULL, 0,
                               NULL), lay[i][1] == 3 ? 1 : 0); /* 2 layers on 3 stages: vLLM raises */
    }
    ck_assert_uint_gt(lint("fixtures/oracle/variants/fp8-dynamic-with-input-scale", "llama", 1, 1, 0, first,
                           sizeof first, &f), 0);
    ck_assert_str_eq(first, "ValueError: There is no module or parameter named 'layers.0.mlp.down_proj.input_scale' "
                            "in LlamaModel. The available parameters belonging to layers.0.mlp.down_proj "
                            "(RowParallelLinear) are: {'layers.0.mlp.down_proj.weight', "
                            "'layers.0.mlp.down_proj.weight_scale'}");
    ck_assert_ptr_nonnull(strstr(f.v[0].msg, "fp8::tensor quantization has 'input_scale' only where "
                                             "quant_static_input holds"));
    findings_free(&f);
    ck_assert_uint_eq(lint("fixtures/oracle/variants/fp8-unlisted-float", "llama", 1, 1, 0, first, sizeof first,
                           &f), 2);
    const ck_finding *dt = findings_find(&f, "lint.dtype");
    ck_assert_ptr_nonnull(dt);
    ck_assert_str_eq(dt->key, "model.layers.1.mlp.down_proj.weight");
    ck_assert_ptr_nonnull(strstr(dt->msg, "F32 values where fp8::tensor quantization stores F8_E4M3 codes"));
    ck_assert_ptr_nonnull(strstr(dt->msg, "ignored_layers"));
    ck_assert_ptr_nonnull(findings_find(&f, "lint.missing"));
    findings_free(&f);
    /* ModelOpt FP8: a float module excluded by a wildcard ("*.layers.1.mlp.down_proj") is built
     * unquantized and lints clean; not excluded, it is lint.dtype, pointing at "ignore" */
    ck_assert_uint_eq(lint("fixtures/oracle/variants/modelopt-excluded-wildcard", "llama", 2, 1, 0, NULL, 0, NULL), 0);
    ck_assert_uint_eq(lint("fixtures/oracle/variants/modelopt-unlisted-float", "llama", 1, 1, 0, NULL, 0, &f), 3);
    dt = findings_find(&f, "lint.dtype");
    ck_assert_ptr_nonnull(dt);
    ck_assert_ptr_nonnull(strstr(dt->msg, "F32 values where modelopt::tensor quantization stores F8_E4M3 codes"));
    ck_assert_ptr_nonnull(strstr(dt->msg, "quantization_config's ignore"));
    findings_free(&f);
    /* listed in ignored_layers (exact name) but stored in FP8: the scale has no parameter */
    ck_assert_uint_eq(lint("fixtures/oracle/variants/fp8-listed-but-quantized", "llama", 1, 1, 0, first,
                           sizeof first, &f), 1);
    ck_assert_str_eq(first, "ValueError: There is no module or parameter named 'layers.1.mlp.down_proj.weight_scale' "
                            "in LlamaModel. The available parameters belonging to layers.1.mlp.down_proj "
                            "(RowParallelLinear) are: {'layers.1.mlp.down_proj.weight'}");
    findings_free(&f);
    /* Qwen3.5's block-FP8 release: modules_to_not_convert names the float modules as the checkpoint
     * stores them (model.language_model.*, model.visual.*), which vLLM maps with the wrapper's
     * WeightsMapper; in_proj_b and in_proj_a, fused into in_proj_ba, both named: clean at TP 1 and 2
     * (whose 2 rows of b per rank would split a block of 4: vLLM lets a fused module's parts do so) */
    for (int tp = 1; tp <= 2; tp++)
        ck_assert_uint_eq(lint("fixtures/moe/tiny-qwen3_5-moe-fp8", "qwen3_5", tp, 1, 0, NULL, 0, NULL), 0);
    /* compressed-tensors FP8_DYNAMIC (llm-compressor's Qwen3.5 recipe): the ignore list's patterns
     * matched against vLLM's names, its exact names as the checkpoint stores them; a pattern that
     * leaves in_proj_a out of in_proj_ba is compressed-tensors' own ValueError */
    ck_assert_uint_eq(lint("fixtures/moe/tiny-qwen3_5-moe-fp8-dynamic", "qwen3_5", 2, 2, 0, NULL, 0, NULL), 0);
    ck_assert_uint_eq(lint("fixtures/oracle/variants/qwen3_5-ct-exact-ignore", "qwen3_5", 2, 1, 0, NULL, 0, NULL), 0);
    ck_assert_uint_eq(lint("fixtures/oracle/variants/qwen3_5-ct-half-ignored", "qwen3_5", 1, 1, 0, NULL, 0, &f), 1);
    const ck_finding *cm = findings_find(&f, "lint.quant_parts_mixed");
    ck_assert_ptr_nonnull(cm);
    ck_assert_ptr_nonnull(strstr(cm->msg, "ValueError: Found different quantization schemes for the shards of "
                                          "language_model.model.layers.0.linear_attn.in_proj_ba. vLLM requires all "
                                          "to use the same scheme. (ignore names in_proj_b and not in_proj_a"));
    findings_free(&f);
    /* ERNIE 4.5 MoE: clean at TP 2 and under EP; keys holding 'mtp' skipped as vLLM's mapper drops
     * them; tied, as released, no stage of a PP 2 layout can be built (vLLM 0.32 ties lm_head on
     * every stage), untied it loads */
    ck_assert_uint_eq(lint("fixtures/moe/tiny-ernie4_5-moe", "ernie4_5_moe", 2, 1, 0, NULL, 0, NULL), 0);
    ck_assert_uint_eq(lint("fixtures/oracle/variants/ernie4_5-moe-mtp-keys", "ernie4_5_moe", 2, 1, 0, NULL, 0, &f), 0);
    ck_assert_ptr_nonnull(findings_find(&f, "lint.skipped"));
    findings_free(&f);
    ck_assert_uint_eq(lint("fixtures/moe/tiny-ernie4_5-moe", "ernie4_5_moe", 1, 2, 0, NULL, 0, &f), 2);
    const ck_finding *su = findings_find(&f, "lint.stage_unbuilt");
    ck_assert_ptr_nonnull(su);
    ck_assert_ptr_nonnull(strstr(su->msg, "AttributeError: 'PPMissingLayer' object has no attribute 'tie_weights'"));
    findings_free(&f);
    ck_assert_uint_eq(lint("fixtures/oracle/variants/ernie4_5-moe-untied", "ernie4_5_moe", 1, 2, 0, NULL, 0, NULL), 0);
    /* a construction finding of a template the first stage does not build (the experts, where
     * stage 0 holds dense layer 0 alone) is given from the stage that does */
    {
        /* 30 rows do not split over 4 ranks */
        char *tmp = tu_fixture_config_edit("fixtures/oracle/variants/ernie4_5-moe-untied", "\"moe_intermediate_size\": 32",
                                           "\"moe_intermediate_size\": 30");
        char *out = tu_cli(1, NULL, "lint --tp 4 --pp 2 --pp-partition 1,3 %s", tmp);
        ck_assert_msg(strstr(out, "lint.tp_indivisible") && strstr(out, "mlp.experts.routed_experts.w13_"), "%s", out);
        free(out);
        tu_rmtree(tmp);
        free(tmp);
    }
    /* Qwen3-Next's: the fused in_proj_ba named whole, clean up to TP 4 */
    for (int tp = 1; tp <= 4; tp *= 2)
        ck_assert_uint_eq(lint("fixtures/moe/tiny-qwen3-next-fp8", "qwen3_next", tp, 1, 0, NULL, 0, NULL), 0);
    /* one of the two named: vLLM refuses to build the stage of that layer, and only that stage */
    ck_assert_uint_gt(lint("fixtures/oracle/variants/qwen3_5-fp8-half-listed", "qwen3_5", 1, 2, 0, NULL, 0, &f), 0);
    const ck_finding *mx = findings_find(&f, "lint.quant_parts_mixed");
    ck_assert_ptr_nonnull(mx);
    ck_assert_ptr_nonnull(strstr(mx->msg, "rank 0 (PP stage 0), layers 0-1: the model cannot be built: ValueError: "
                                          "Detected some but not all shards of language_model.model.layers.0."
                                          "linear_attn.in_proj_ba are quantized."));
    ck_assert_ptr_nonnull(strstr(mx->msg, "modules_to_not_convert names in_proj_b and not in_proj_a"));
    findings_free(&f);
    /* named as the text-only model names them: vLLM does not map those names, builds in_proj_ba in
     * FP8 and copies the floats in; lint.dtype says which name would do */
    ck_assert_uint_gt(lint("fixtures/oracle/variants/qwen3_5-fp8-causal-names", "qwen3_5", 1, 1, 0, NULL, 0, &f), 0);
    dt = findings_find(&f, "lint.dtype");
    ck_assert_ptr_nonnull(dt);
    ck_assert_ptr_nonnull(strstr(dt->msg, "(modules_to_not_convert names it 'model.layers.0.linear_attn.in_proj_a', "
                                          "which vLLM does not map to this module: name it "
                                          "'model.language_model.layers.0.linear_attn.in_proj_a', as the checkpoint "
                                          "does)"));
    findings_free(&f);
    /* fused names in the checkpoint: vLLM 0.32 renames '.up_proj' with its dot, so gate_up_proj is
     * left alone and the fused tensors load whole into their parameters */
    ck_assert_uint_eq(lint("fixtures/lint/llama-fused-tiny", "llama", 2, 1, 0, first, sizeof first, &f), 0);
    ck_assert_str_eq(first, "");
    findings_free(&f);
    /* GLM-4.7-Flash (glm4_moe_lite): DeepSeek's loader with GLM's MoE block, whose model wants one
     * MoE layer on every stage; its correction bias is built whatever topk_method says */
    for (int tp = 1; tp <= 4; tp *= 2)
        for (int pp = 1; pp <= 2; pp++)
            ck_assert_uint_eq(lint("fixtures/real/tiny-glm4-moe-lite", "deepseek_v3", tp, pp, 0, NULL, 0, NULL), 0);
    ck_assert_uint_eq(lint("fixtures/real/tiny-glm4-moe-lite", "deepseek_v3", 1, 3, 0, NULL, 0, &f), 1);
    const ck_finding *nm = findings_find(&f, "lint.stage_unbuilt");
    ck_assert_ptr_nonnull(nm);
    ck_assert_ptr_nonnull(strstr(nm->msg, "rank 0 (PP stage 0), layers 0-0: the model cannot be built: "
                                          "RuntimeError: No Glm4MoE layer found in model.layers."));
    findings_free(&f);
    char *lite = tu_fixture_config_edit("fixtures/real/tiny-glm4-moe-lite", "\"topk_method\": \"noaux_tc\"",
                                        "\"topk_method\": \"greedy\"");
    ck_assert_uint_eq(lint(lite, "deepseek_v3", 2, 1, 0, NULL, 0, NULL), 0);
    tu_rmtree(lite);
    free(lite);
    /* GLM-4.5V: the GLM-4.5 decoder as language_model beside a vision tower; a text_config without
     * use_qk_norm (transformers' class does not define it) cannot be built by vLLM */
    for (int tp = 1; tp <= 2; tp *= 2)
        ck_assert_uint_eq(lint("fixtures/real/tiny-glm4v-moe", "glm4_moe", tp, 2, 0, NULL, 0, NULL), 0);
    ck_assert_uint_gt(lint("fixtures/oracle/variants/glm4v-moe-no-qk-norm-field", "glm4_moe", 1, 1, 0, NULL, 0, &f), 0);
    const ck_finding *qkf = findings_find(&f, "lint.stage_unbuilt");
    ck_assert_ptr_nonnull(qkf);
    ck_assert_ptr_nonnull(strstr(qkf->msg, "AttributeError: 'Glm4vMoeTextConfig' object has no attribute 'use_qk_norm'"));
    findings_free(&f);
    ck_assert_uint_gt(lint("fixtures/real/tiny-glm4v-moe", "glm4_moe", 4, 1, 0, NULL, 0, &f), 0);
    ck_assert_ptr_nonnull(findings_find(&f, "lint.stage_unbuilt"));
    ck_assert_ptr_nonnull(strstr(findings_find(&f, "lint.stage_unbuilt")->msg, "AssertionError: 2 is not divisible by 4"));
    findings_free(&f);
    /* Gemma 4: head dims and key-value heads per layer (transformers 5's per_layer_config, or the
     * releases' global_head_dim), KV-shared layers, k_proj as both k and v, experts beside the MLP */
    static const char *const g4[] = {"fixtures/real/tiny-gemma4", "fixtures/moe/tiny-gemma4-moe",
                                     "fixtures/oracle/variants/gemma4-global-head-dim",
                                     "fixtures/oracle/variants/gemma4-moe-global-head-dim",
                                     "fixtures/oracle/variants/gemma4-shared-kv-keys",
                                     "fixtures/oracle/variants/gemma4-moe-per-expert"};
    for (unsigned i = 0; i < sizeof g4 / sizeof *g4; i++)
        for (int tp = 1; tp <= 4; tp *= 2)
            ck_assert_msg(lint(g4[i], "gemma4", tp, 1, 0, NULL, 0, NULL) == 0, "%s TP %d", g4[i], tp);
    ck_assert_uint_eq(lint("fixtures/moe/tiny-gemma4-moe", "gemma4", 2, 3, 0, NULL, 0, NULL), 0);
    /* a stage holding KV-shared layers without the layers they read cannot be built */
    ck_assert_uint_eq(lint("fixtures/real/tiny-gemma4", "gemma4", 2, 2, 1, first, sizeof first, &f), 1);
    const ck_finding *kvs = findings_find(&f, "lint.stage_unbuilt");
    ck_assert_ptr_nonnull(kvs);
    ck_assert_ptr_nonnull(strstr(kvs->msg, "ranks 2-3 (PP stage 1), layers 3-5: the model cannot be built: ValueError: "
                                           "Specified KV sharing target layer for model.layers.5.self_attn.attn is not "
                                           "valid: target layer model.layers.2.self_attn.attn is not a valid Attention "
                                           "layer in the model."));
    findings_free(&f);
    /* Gemma 4 E2B at full size, before the download (the index alone, text_config's architectures
     * null as transformers writes them): clean at TP 8, its KV-shared layers on the second stage
     * at PP 2 without the layers they read (layer 18 reads layer 13) */
    char *e2b = NULL;
    snprintf(cmd, sizeof cmd, "%s lint --index-only --tp 8 fixtures/folders/gemma4-e2b-index", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &e2b), 0);
    ck_assert_msg(strstr(e2b, "0 errors") && strstr(e2b, "rules      gemma4"), "%s", e2b);
    free(e2b);
    snprintf(cmd, sizeof cmd, "%s lint --index-only --tp 2 --pp 2 fixtures/folders/gemma4-e2b-index", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &e2b), 1);
    ck_assert_msg(strstr(e2b, "Specified KV sharing target layer for language_model.model.layers.18.self_attn.attn is "
                              "not valid: target layer language_model.model.layers.13.self_attn.attn") != NULL, "%s", e2b);
    /* with the two-stage partitions that keep them together, the most even first, which lint clean */
    ck_assert_msg(strstr(e2b, "at --pp 2, --pp-partition 13,22 or 12,23 or 11,24 (the most even first) hold it") != NULL,
                  "%s", e2b);
    free(e2b);
    snprintf(cmd, sizeof cmd, "%s lint --index-only --tp 2 --pp 2 --pp-partition 13,22 fixtures/folders/gemma4-e2b-index",
             tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &e2b), 0);
    free(e2b);
    /* a v_proj where attention_k_eq_v makes k_proj the values has no parameter */
    ck_assert_uint_eq(lint("fixtures/oracle/variants/gemma4-moe-v-proj", "gemma4", 1, 1, 0, first, sizeof first, NULL), 1);
    ck_assert_ptr_nonnull(strstr(first, "ValueError: There is no module or parameter named "
                                        "'layers.2.self_attn.v_proj' in Gemma4Model."));
    /* the family the keys look like comes from the rules' match.keys */
    static const struct { const char *rules, *dir, *looks; } wf[] = {
        {"qwen2", "fixtures/lint/glm45-tiny", "the keys look like GLM-4.5-style MoE"},
        {"deepseek_v3", "fixtures/lint/qwen3-moe-tiny", "the keys look like Qwen-MoE"},
        {"llama", "fixtures/lint/v2-lite-tiny", "the keys look like DeepSeek-V2/V3-style MLA"},
        {"glm4_moe", "fixtures/lint/mixtral-tiny", "the keys look like Mixtral"},
        {"deepseek_v3", "fixtures/real/tiny-llama-bf16", "the keys look like Llama"},
        {"qwen2", "fixtures/lint/qwen3-tiny", "the keys look like Qwen3"},
        {"llama", "fixtures/lint/gemma2-tiny", "the keys look like Gemma 2"},
        {"gemma2", "fixtures/lint/gemma3-tiny", "the keys look like Gemma 3 text"}};
    for (unsigned i = 0; i < sizeof wf / sizeof *wf; i++) {
        char *out = NULL;
        snprintf(cmd, sizeof cmd, "%s lint --rules %s %s", tu_bin(), wf[i].rules, wf[i].dir);
        ck_assert_int_eq(tu_run(cmd, 0, &out), 1);
        ck_assert_msg(strstr(out, wf[i].looks) != NULL, "%s: %s", cmd, out);
        free(out);
    }
}
END_TEST

/* transformers' own naming for Qwen2 and Llama: the checkpoints it wrote lint clean; fused names
 * are dropped with its warning and the parameters they should fill stay newly initialized. */
START_TEST(test_hf_rules)
{
    ck_findings f;
    ck_assert_uint_eq(lint("fixtures/real/tiny-qwen2", "qwen2-hf", 1, 1, 0, NULL, 0, &f), 0);
    ck_assert_uint_eq(f.n, 0);
    findings_free(&f);
    ck_assert_uint_eq(lint("fixtures/real/tiny-llama3-rope", "llama-hf", 1, 1, 0, NULL, 0, &f), 0);
    ck_assert_uint_eq(f.n, 0);
    findings_free(&f);
    ck_assert_uint_gt(lint("fixtures/lint/llama-fused-tiny", "llama-hf", 1, 1, 0, NULL, 0, &f), 0);
    const ck_finding *u = findings_find(&f, "lint.unused"), *m = findings_find(&f, "lint.missing");
    ck_assert_ptr_nonnull(u);
    ck_assert_int_eq(u->sev, SEV_WARNING);
    ck_assert_ptr_nonnull(strstr(u->msg, "were not used when initializing LlamaForCausalLM"));
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(strstr(m->msg, "newly initialized"));
    findings_free(&f);
    /* one process only */
    ck_assert_uint_gt(lint("fixtures/real/tiny-qwen2", "qwen2-hf", 2, 1, 0, NULL, 0, &f), 0);
    ck_assert_ptr_nonnull(findings_find(&f, "lint.assert"));
    findings_free(&f);
}
END_TEST

/* XTuner's "... w1w3 not in state_dict, loading ..." is a notice: explain says so, with the
 * keys merged into the parameter, and lint notes it once. */
START_TEST(test_xtuner_notice)
{
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s explain fixtures/lint/v2-lite-tiny '08/01 12:00:00 - mmengine - INFO - "
             "model.layers.2.mlp.experts.3.w1w3 not in state_dict, loading x/model-00002-of-000005.safetensors'",
             tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "parameter 'model.layers.2.mlp.experts.3.w1w3' (rules xtuner"));
    ck_assert_ptr_nonnull(strstr(out, "'model.layers.2.mlp.experts.3.gate_proj.weight'"));
    ck_assert_ptr_nonnull(strstr(out, "part w3"));
    ck_assert_ptr_nonnull(strstr(out, "info: XTuner load_state_dict_into_model's notice, not an error"));
    free(out);
    /* a layer that has no experts in this config: the parameter does not exist, not harmless */
    snprintf(cmd, sizeof cmd, "%s explain fixtures/lint/v2-lite-tiny "
             "'model.layers.0.mlp.experts.3.w1w3 not in state_dict, loading x'", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &out), 1);
    ck_assert_ptr_nonnull(strstr(out, "error: XTuner load_state_dict_into_model's notice, and this parameter will not load"));
    free(out);
    ck_findings f;
    ck_assert_uint_eq(lint("fixtures/lint/v2-lite-tiny", "xtuner", 1, 1, 0, NULL, 0, &f), 0);
    findings_free(&f);
    snprintf(cmd, sizeof cmd, "%s lint --rules xtuner fixtures/lint/v2-lite-tiny", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "lint.loader_notice"));
    ck_assert_ptr_nonnull(strstr(out, "for 24 merged parameters"));
    ck_assert_ptr_nonnull(strstr(out, "model.layers.1.mlp.experts.0.up_proj.weight (part w3)"));
    free(out);
}
END_TEST

/* Under EP, where each expert lives: vLLM's linear placement (8 experts over 3 ranks: 3, 3, 2). */
START_TEST(test_ep_placement)
{
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s lint --tp 3 --enable-expert-parallel fixtures/lint/qwen3-moe-tiny", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &out), 1); /* 8 heads over 3 ranks cannot be built */
    ck_assert_ptr_nonnull(strstr(out, "8 heads are not divisible by tensor-parallel size 3"));
    ck_assert_ptr_nonnull(strstr(out, "8 routed experts per MoE layer over 3 ranks: TP rank 0: 0-2, "
                                      "TP rank 1: 3-5, TP rank 2: 6-7"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s rules explain model.layers.2.mlp.experts.5.up_proj.weight "
             "fixtures/lint/qwen3-moe-tiny --tp 3 --ep", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "expert 5 of 8: under expert parallelism only TP rank 1 of its "
                                      "stage holds it (experts 3-5, local index 2)"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s rules explain model.layers.2.mlp.experts.5.up_proj.weight "
             "fixtures/lint/qwen3-moe-tiny --tp 2", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "expert 5 of 8: every TP rank holds it, each a 1/2 slice"));
    free(out);
}
END_TEST

/* The text report shows at most five findings of a code, in the order of the JSON report, then
 * one "... and N more CODE" line: checked against the JSON findings of a lint with thousands of
 * findings of several codes (the rules of another family). */
START_TEST(test_text_folds_codes)
{
    const char *args = "lint fixtures/lint/r1-tiny --rules qwen2 --tp 2 --pp 2";
    char *text = tu_cli(1, NULL, "%s", args), *json = tu_cli(1, NULL, "%s --format json", args);
    cJSON *j = cJSON_Parse(json);
    ck_assert_ptr_nonnull(j);
    cJSON *fs = cJSON_GetObjectItem(j, "findings"), *x;
    const char *codes[16];
    size_t count[16], n_codes = 0, shown = 0;
    cJSON_ArrayForEach(x, fs) {
        const char *code = cJSON_GetObjectItem(x, "code")->valuestring;
        size_t c = 0;
        while (c < n_codes && strcmp(codes[c], code) != 0)
            c++;
        ck_assert_uint_lt(c, 16);
        if (c == n_codes) {
            codes[n_codes] = code;
            count[n_codes++] = 0;
        }
        if (count[c]++ >= 5)
            continue;
        /* one of the first five of its code: its line, after the one shown before it */
        char line[1200];
        const char *key = cJSON_GetObjectItem(x, "key")->valuestring;
        snprintf(line, sizeof line, "%s%s%s: %s\n", key[0] ? "'" : "", key, key[0] ? "'" : "",
                 cJSON_GetObjectItem(x, "message")->valuestring);
        ck_assert_msg(strstr(text, line), "not shown: %s", line);
        shown++;
    }
    ck_assert_uint_ge(n_codes, 3);
    size_t lines = 0; /* the report's lines of findings */
    for (const char *q = text; q; q = strchr(q, '\n'), q = q ? q + 1 : NULL)
        lines += strncmp(q, "error   ", 8) == 0 || strncmp(q, "warning ", 8) == 0 ||
                 strncmp(q, "note    ", 8) == 0 || strncmp(q, "  ... and ", 10) == 0;
    size_t folded = 0;
    for (size_t c = 0; c < n_codes; c++) {
        char more[128];
        snprintf(more, sizeof more, "... and %zu more %s\n", count[c] - 5, codes[c]);
        ck_assert_msg((strstr(text, more) != NULL) == (count[c] > 5), "%s: %zu findings\n%s", codes[c],
                      count[c], text);
        folded += count[c] > 5;
    }
    ck_assert_uint_gt(folded, 1);
    ck_assert_uint_eq(lines, shown + folded);
    cJSON_Delete(j);
    free(json);
    free(text);
}
END_TEST

static Suite *loader_suite(void)
{
    Suite *s = suite_create("loader");
    TCase *core = tcase_create("core");
    tcase_add_test(core, test_pp_indices);
    tcase_add_test(core, test_clean_layouts);
    tcase_add_test(core, test_shape_cache_same);
    tcase_add_test(core, test_early_map_same);
    tcase_add_test(core, test_real_transformers_clean);
    tcase_set_timeout(core, 120);
    suite_add_tcase(s, core);
    TCase *seeds = tcase_create("errors");
    tcase_add_test(seeds, test_seed_mtp_keyerror);
    tcase_add_test(seeds, test_seed_indexer_pp_guard);
    tcase_add_test(seeds, test_wrong_family_cli);
    tcase_add_test(seeds, test_text_folds_codes);
    tcase_add_test(seeds, test_tp_indivisible);
    tcase_add_test(seeds, test_index_only);
    tcase_add_test(seeds, test_explain_cli);
    tcase_add_test(seeds, test_seed_weight_packed);
    tcase_add_test(seeds, test_seed_deepseek_ref);
    tcase_add_test(seeds, test_edited_configs);
    tcase_add_test(seeds, test_shape_findings);
    tcase_add_test(seeds, test_more_families);
    tcase_add_test(seeds, test_gpt_oss);
    tcase_add_test(seeds, test_gpt_oss_mxfp4);
    tcase_add_test(seeds, test_qwen2_5_vl);
    tcase_add_test(seeds, test_gemma3_mm);
    tcase_add_test(seeds, test_unindexed_files);
    tcase_add_test(seeds, test_mistral3);
    tcase_add_test(seeds, test_llama4);
    tcase_add_test(seeds, test_kimi_k25);
    tcase_add_test(seeds, test_xtuner_notice);
    tcase_add_test(seeds, test_hf_rules);
    tcase_add_test(seeds, test_ep_placement);
    tcase_set_timeout(seeds, 60);
    suite_add_tcase(s, seeds);
    return s;
}

int main(void)
{
    return tu_suite_run(loader_suite());
}
