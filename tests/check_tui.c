/* check_tui.c - the TUI's tree, key handling and statistics as plain functions, and the whole
 * program under tmux (keys sent, the pane captured and read back). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inspect/ckpt.h"
#include "tui/tree.h"
#include "tui/tstats.h"
#include "tui/tui_state.h"
#include "loader/plan.h"
#include "loader/simulate.h"
#include "rules/rules.h"
#include "tests/suiteutil.h"
#include "tests/testutil.h"

#define R1 "fixtures/lint/r1-tiny"
#define OLD_MTP "fixtures/rules/deepseek_v3-old-mtp-prefix.json"

typedef struct {
    ck_checkpoint ck;
    ck_tree t;
    ck_findings f;
    rules_file r;
    plan p;
} fx;

/* r1-tiny with the lint findings of the rules whose MTP skip misses (TP 8 x PP 2). */
static void open_fx(fx *x, const char *dir, const char *rules)
{
    ck_err err;
    ck_err_clear(&err);
    ck_assert_int_eq(ckpt_open(dir, 2, &x->ck, &err), CK_OK);
    findings_init(&x->f);
    ck_assert_int_eq(tree_build(&x->ck, &x->t), 0);
    if (rules) {
        ck_assert_int_eq(rules_load_file(rules, &x->r, &err), CK_OK);
        plan_layout lay = {8, 2, 0, {0}, 0, 0, NULL, 0};
        ck_assert_int_eq(plan_build(&x->r, &x->ck.cfg, &lay, &x->p, &x->f, &err), CK_OK);
        sim_result res;
        ck_assert_int_eq(simulate_run(&x->ck, &x->p, &res, &x->f, &err), CK_OK);
        sim_result_free(&res);
        ck_assert_int_eq(tree_attach(&x->t, &x->f, x->r.strip_prefix), 0);
    }
}

static void close_fx(fx *x, int rules)
{
    tree_free(&x->t);
    if (rules) {
        plan_free(&x->p);
        rules_free(&x->r);
    }
    findings_free(&x->f);
    ckpt_free(&x->ck);
}

static const char *kid_name(const ck_tree *t, int32_t n, int k)
{
    return tree_name(t, t->kids[t->n[n].first + k]);
}

START_TEST(test_tree_shape)
{
    fx x;
    open_fx(&x, R1, NULL);
    const ck_tree *t = &x.t;
    ck_assert_uint_eq(t->n[0].count, x.ck.n_tensors);
    ck_assert_uint_eq(t->n[0].bytes, x.ck.bytes);
    ck_assert_int_eq(t->n[0].n_kids, 2);
    ck_assert_str_eq(kid_name(t, 0, 0), "lm_head");
    ck_assert_str_eq(kid_name(t, 0, 1), "model");
    int32_t layers = tree_find(t, "model.layers");
    ck_assert_int_ge(layers, 0);
    ck_assert_int_eq(t->n[layers].n_kids, 62);
    for (int k = 0; k < 62; k++) { /* numeric order: 0, 1, 2, ..., 10, not 0, 1, 10 */
        char want[16];
        snprintf(want, sizeof want, "%d", k);
        ck_assert_str_eq(kid_name(t, layers, k), want);
    }
    int32_t l61 = tree_find(t, "model.layers.61");
    char crumb[256];
    ck_assert_str_eq(tree_breadcrumb(t, l61, crumb, sizeof crumb), "model > layers > 61");
    /* roll-up: a layer is the sum of its tensors */
    uint64_t sum = 0, cnt = 0;
    for (size_t i = 0; i < x.ck.n_tensors; i++) {
        const st_tensor *s = ckpt_tensor(&x.ck, x.ck.tensors[i]);
        if (strncmp(s->name, "model.layers.61.", 16) == 0) {
            sum += st_tensor_nbytes(s);
            cnt++;
        }
    }
    ck_assert_uint_eq(t->n[l61].bytes, sum);
    ck_assert_uint_eq(t->n[l61].count, cnt);
    int32_t w = tree_find(t, "model.layers.61.mlp.experts.3.down_proj.weight");
    ck_assert_int_ge(w, 0);
    ck_assert_int_ge(t->n[w].tensor, 0);
    ck_assert_str_eq(ckpt_tensor(&x.ck, x.ck.tensors[t->n[w].tensor])->name, t->n[w].path);
    /* by size: the MoE layers come before the dense layers 0-2 */
    int32_t rows[64];
    size_t n = tree_children(t, layers, 1, 0, NULL, rows, 64);
    ck_assert_uint_eq(n, 62);
    ck_assert_uint_ge(t->n[rows[0]].bytes, t->n[rows[61]].bytes);
    ck_assert(t->n[rows[61]].num <= 2);
    /* search: substring and glob */
    n = tree_children(t, layers, 0, 0, "eh_proj", rows, 64);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(tree_name(t, rows[0]), "61");
    n = tree_children(t, layers, 0, 0, "model.layers.1?.mlp.gate.weight", rows, 64);
    ck_assert_uint_eq(n, 10);
    ck_assert_str_eq(tree_name(t, rows[0]), "10");
    n = tree_children(t, layers, 0, 0, "no-such-key", rows, 64);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(tree_next_finding(t, 0, 1), -1); /* nothing attached */
    close_fx(&x, 0);
}
END_TEST

START_TEST(test_tree_findings)
{
    fx x;
    open_fx(&x, R1, OLD_MTP);
    const ck_tree *t = &x.t;
    ck_assert_uint_gt(findings_count(&x.f, SEV_ERROR), 0);
    int32_t l61 = tree_find(t, "model.layers.61"), l5 = tree_find(t, "model.layers.5");
    ck_assert_int_eq(t->n[l61].sev, SEV_ERROR);
    ck_assert_int_eq(t->n[tree_find(t, "model")].sev, SEV_ERROR);
    ck_assert_int_eq(t->n[0].sev, SEV_ERROR);
    ck_assert_int_eq(t->n[l5].sev, TREE_NO_SEV);
    ck_assert_int_eq(t->n[tree_find(t, "lm_head")].sev, TREE_NO_SEV);
    /* every finding sits on a node whose path is a prefix of its key, or the key is a
     * loader-side name under 'model.' */
    for (size_t j = 0; j < x.f.n; j++) {
        const char *path = t->n[t->fnode[j]].path;
        const char *key = x.f.v[j].key;
        ck_assert_msg(strncmp(key, path, strlen(path)) == 0 ||
                      (strncmp(path, "model.", 6) == 0 && strncmp(key, path + 6, strlen(path + 6)) == 0),
                      "finding on '%s' placed at '%s'", key, path);
    }
    /* the findings filter under layers shows layer 61 only */
    int32_t layers = tree_find(t, "model.layers"), rows[64];
    size_t n = tree_children(t, layers, 0, 1, NULL, rows, 64);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(tree_name(t, rows[0]), "61");
    /* n walks the findings forward and wraps; N walks back */
    int32_t a = tree_next_finding(t, 0, 1);
    ck_assert_int_gt(a, 0);
    ck_assert_ptr_nonnull(strstr(t->n[a].path, "model.layers.61."));
    ck_assert_int_gt(t->n[a].n_own, 0);
    int32_t b = tree_next_finding(t, a, 1);
    ck_assert_int_ne(a, b);
    ck_assert_int_eq(tree_next_finding(t, b, -1), a);
    close_fx(&x, 1);
}
END_TEST

START_TEST(test_state_keys)
{
    fx x;
    open_fx(&x, R1, OLD_MTP);
    tui_state s;
    ck_assert_int_eq(tui_state_init(&s, &x.t), 0);
    s.page = 5;
    ck_assert_int_eq(s.dir, 0);
    ck_assert_uint_eq(s.nrows, 2);
    tui_key(&s, TK_DOWN);
    ck_assert_str_eq(tree_name(&x.t, tui_selected(&s)), "model");
    tui_key(&s, TK_DOWN); /* stays on the last row */
    ck_assert_int_eq(s.sel, 1);
    tui_key(&s, TK_ENTER);
    ck_assert_str_eq(x.t.n[s.dir].path, "model");
    tui_key(&s, 'j');
    ck_assert_str_eq(tree_name(&x.t, tui_selected(&s)), "layers");
    tui_key(&s, 'l');
    ck_assert_str_eq(x.t.n[s.dir].path, "model.layers");
    tui_key(&s, TK_END);
    ck_assert_str_eq(tree_name(&x.t, tui_selected(&s)), "61");
    ck_assert_int_eq(s.top, 62 - 5); /* scrolled so the selection shows */
    tui_key(&s, TK_PGUP);
    ck_assert_str_eq(tree_name(&x.t, tui_selected(&s)), "56");
    tui_key(&s, TK_HOME);
    ck_assert_int_eq(s.top, 0);
    tui_key(&s, TK_LEFT); /* back up, with the folder we came from selected */
    ck_assert_str_eq(x.t.n[s.dir].path, "model");
    ck_assert_str_eq(tree_name(&x.t, tui_selected(&s)), "layers");
    tui_key(&s, 's'); /* not a tensor */
    ck_assert_int_eq(s.mode, TUI_BROWSE);
    ck_assert_ptr_nonnull(strstr(s.msg, "statistics are for a tensor"));
    tui_key(&s, 'n');
    ck_assert_ptr_nonnull(strstr(x.t.n[tui_selected(&s)].path, "model.layers.61."));
    ck_assert_int_gt(x.t.n[tui_selected(&s)].n_own, 0);
    /* search: type, erase, apply */
    tui_key(&s, '/');
    ck_assert_int_eq(s.mode, TUI_SEARCH);
    const char *q = "experts.3.down_projX";
    for (const char *c = q; *c; c++)
        tui_key(&s, *c);
    tui_key(&s, TK_BACKSPACE);
    ck_assert_str_eq(s.input, "experts.3.down_proj");
    tui_key(&s, TK_ENTER);
    ck_assert_int_eq(s.mode, TUI_BROWSE);
    ck_assert_str_eq(s.filter, "experts.3.down_proj");
    ck_assert_str_eq(x.t.n[tui_selected(&s)].path, "model.layers.3.mlp.experts.3.down_proj.weight");
    ck_assert_ptr_nonnull(strstr(s.msg, "keys match"));
    tui_key(&s, 's');
    ck_assert_int_eq(s.mode, TUI_STATS);
    ck_assert_int_eq(s.stats_node, tui_selected(&s));
    tui_key(&s, 'x'); /* ignored in statistics */
    ck_assert_int_eq(s.mode, TUI_STATS);
    tui_key(&s, TK_ESC);
    ck_assert_int_eq(s.mode, TUI_BROWSE);
    tui_key(&s, '/');
    tui_key(&s, TK_ENTER); /* empty: clears */
    ck_assert_str_eq(s.filter, "");
    tui_key(&s, '/');
    for (const char *c = "nothing-like-this"; *c; c++)
        tui_key(&s, *c);
    tui_key(&s, TK_ENTER);
    ck_assert_ptr_nonnull(strstr(s.msg, "no key matches"));
    tui_key(&s, 'f');
    ck_assert_int_eq(s.only_findings, 1);
    tui_key(&s, 'o');
    ck_assert_int_eq(s.by_size, 1);
    tui_key(&s, '?');
    ck_assert_int_eq(s.mode, TUI_HELP);
    tui_key(&s, 'q'); /* closes the help, does not quit */
    ck_assert_int_eq(s.quit, 0);
    tui_key(&s, 'q');
    ck_assert_int_eq(s.quit, 1);
    tui_state_free(&s);
    tui_state_free(&s); /* a freed state, and NULL, are freed again safely */
    tui_state_free(NULL);
    close_fx(&x, 1);
}
END_TEST

/* Opens dir and finds tensor key in it (*i its index). */
static void open_tensor(const char *dir, const char *key, ck_checkpoint *ck, size_t *i)
{
    ck_err err;
    ck_err_clear(&err);
    ck_assert_msg(ckpt_open(dir, 1, ck, &err) == CK_OK, "%s: %s", dir, err.msg);
    ck_assert_msg(ckpt_find_index(ck, key, i), "%s: no %s", dir, key);
}

/* Statistics through the kernels' conversion equal torch's own (fixtures/real/st-dtypes.stats). */
START_TEST(test_stats_match_torch)
{
    ck_checkpoint ck;
    ck_err err;
    ck_err_clear(&err);
    ck_assert_int_eq(ckpt_open("fixtures/real/st-dtypes.safetensors", 1, &ck, &err), CK_OK);
    FILE *fp = fopen("fixtures/real/st-dtypes.stats", "r");
    ck_assert_ptr_nonnull(fp);
    char name[64];
    unsigned long long cnt, fin, nan, inf, zeros;
    double mn, mx, sum;
    int checked = 0;
    char line[512];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, fp));
    while (fgets(line, sizeof line, fp)) {
        if (sscanf(line, "%63s %llu %llu %llu %llu %llu %lf %lf %lf", name, &cnt, &fin, &nan, &inf, &zeros,
                   &mn, &mx, &sum) != 9 || !cnt)
            continue;
        size_t i;
        ck_assert(ckpt_find_index(&ck, name, &i));
        tensor_summary ts;
        if (tensor_summarize(&ck, i, 0, 0, &ts, &err) != CK_OK) {
            ck_assert_int_eq(err.code, CK_EUSAGE); /* an integer dtype */
            ck_err_clear(&err);
            continue;
        }
        ck_assert_uint_eq(ts.st.count, cnt);
        ck_assert_uint_eq(ts.st.nan, nan);
        ck_assert_uint_eq(ts.st.inf, inf);
        ck_assert_uint_eq(ts.st.zeros, zeros);
        ck_assert_msg(ts.st.min == mn && ts.st.max == mx, "%s: %g %g vs %g %g", name, ts.st.min, ts.st.max, mn, mx);
        ck_assert_msg(fabs(ts.st.sum - sum) <= 1e-6 * (fabs(sum) + 1), "%s: sum %g vs %g", name, ts.st.sum, sum);
        uint64_t h = 0;
        for (int b = 0; b < TSTATS_BINS; b++)
            h += ts.hist[b];
        ck_assert_uint_eq(h, fin);
        ck_assert_int_eq(ts.n_preview, cnt < TSTATS_PREVIEW ? (int)cnt : TSTATS_PREVIEW);
        checked++;
    }
    fclose(fp);
    ck_assert_int_ge(checked, 4);
    ckpt_free(&ck);
}
END_TEST

/* The other quantized weights are shown as check loads them: each format's packed codes (and
 * gpt-oss's MXFP4 blocks) dequantized whole, the same values as the format's own library's
 * dequantization (the fixtures' .dequantized.safetensors); a scale beside them stays raw. */
START_TEST(test_stats_packed_dequant)
{
    static const struct { const char *dir, *key; } pk[] = {
        {"fixtures/quant/tiny-llama-mxfp4", "model.layers.0.self_attn.q_proj.weight_packed"},
        {"fixtures/quant/tiny-llama-nvfp4", "model.layers.0.self_attn.q_proj.weight_packed"},
        {"fixtures/quant/tiny-llama-w4a16-asym", "model.layers.0.self_attn.q_proj.weight_packed"}};
    for (unsigned k = 0; k < sizeof pk / sizeof *pk; k++) {
        ck_checkpoint ck, ref;
        ck_err err;
        ck_err_clear(&err);
        char rpath[256];
        snprintf(rpath, sizeof rpath, "%s.dequantized.safetensors", pk[k].dir);
        ck_assert_int_eq(ckpt_open(pk[k].dir, 1, &ck, &err), CK_OK);
        ck_assert_int_eq(ckpt_open(rpath, 1, &ref, &err), CK_OK);
        size_t i, j;
        ck_assert(ckpt_find_index(&ck, pk[k].key, &i));
        ck_assert(ckpt_find_index(&ref, "model.layers.0.self_attn.q_proj.weight", &j));
        tensor_summary ts, tr;
        ck_assert_msg(tensor_summarize(&ck, i, 0, 0, &ts, &err) == CK_OK, "%s: %s", pk[k].dir, err.msg);
        ck_assert_int_eq(tensor_summarize(&ref, j, 0, 0, &tr, &err), CK_OK);
        ck_assert_int_eq(ts.dequantized, 1);
        ck_assert_int_eq(ts.block_n, 0);
        ck_assert_ptr_nonnull(strstr(ts.scale_name, "compressed-tensors"));
        ck_assert_uint_eq(ts.st.count, tr.st.count);
        /* the same values to float rounding (NVFP4 divides by its global scale where the library
         * multiplies by its inverse) */
        ck_assert_msg(fabs(ts.st.sum - tr.st.sum) < 1e-4 * (tr.st.sumsq + 1) && fabs(ts.st.min - tr.st.min) < 1e-6 &&
                      fabs(ts.st.max - tr.st.max) < 1e-6, "%s: sum %g min %g max %g, the library's %g %g %g",
                      pk[k].dir, ts.st.sum, ts.st.min, ts.st.max, tr.st.sum, tr.st.min, tr.st.max);
        uint64_t in_bins = 0; /* (4-bit codes sit on bin edges: the bins themselves shift with an ulp) */
        for (int b = 0; b < TSTATS_BINS; b++)
            in_bins += ts.hist[b];
        ck_assert_uint_eq(in_bins, ts.st.count);
        ck_assert(ckpt_find_index(&ck, "model.layers.0.self_attn.q_proj.weight_scale", &i));
        if (ckpt_tensor(&ck, ck.tensors[i])->dtype != DT_U8) { /* MXFP4's E8M0 bytes have no float dtype */
            ck_assert_int_eq(tensor_summarize(&ck, i, 0, 0, &ts, &err), CK_OK);
            ck_assert_int_eq(ts.dequantized, 0);
        }
        ckpt_free(&ck);
        ckpt_free(&ref);
    }
    /* gpt-oss's experts: blocks [E, rows, groups, 16] become [E, rows, groups x 32] values */
    ck_checkpoint ck;
    ck_err err;
    ck_err_clear(&err);
    size_t i;
    open_tensor("fixtures/moe/tiny-gpt-oss-mxfp4", "model.layers.0.mlp.experts.down_proj_blocks", &ck, &i);
    tensor_summary ts;
    ck_assert_msg(tensor_summarize(&ck, i, 0, 0, &ts, &err) == CK_OK, "%s", err.msg);
    ck_assert_int_eq(ts.dequantized, 1);
    ck_assert_uint_eq(ts.st.count, 8 * 64 * 96);
    ck_assert(ts.st.min < 0 && ts.st.max > 0);
    ckpt_free(&ck);
}
END_TEST

/* Statistics on a thread of their own, as the browser runs them: the same summary, progress that
 * ends at both passes' bytes, and a request to stop that ends the summary after its chunk. */
START_TEST(test_stats_background)
{
    ck_checkpoint ck;
    ck_err err;
    ck_err_clear(&err);
    size_t i;
    open_tensor("fixtures/real/tiny-qwen2", "model.embed_tokens.weight", &ck, &i);
    tensor_summary want;
    ck_assert_int_eq(tensor_summarize(&ck, i, 0, 0, &want, &err), CK_OK);
    static tstats_job j;
    ck_assert_int_eq(tstats_start(&j, &ck, i, 0, 0), 0);
    ck_assert_int_eq(tstats_finish(&j), CK_OK);
    ck_assert_int_eq(atomic_load(&j.finished), 1);
    ck_assert_uint_eq(atomic_load(&j.pg.done), j.pg.total);
    ck_assert_uint_eq(j.pg.total, 2 * st_tensor_nbytes(ckpt_tensor(&ck, ck.tensors[i])));
    ck_assert_double_eq(j.out.st.sum, want.st.sum);
    ck_assert_uint_eq(j.out.hist[3], want.hist[3]);
    tstats_progress pg;
    atomic_init(&pg.done, 0);
    atomic_init(&pg.cancel, 1);
    pg.total = 0;
    tensor_summary ts;
    ck_assert_int_eq(tensor_summarize_with(&ck, i, 0, 0, &ts, &pg, &err), CK_EUSAGE);
    ck_assert_str_eq(err.msg, "cancelled");
    ck_assert_uint_gt(atomic_load(&pg.done), 0); /* one chunk, then it stopped */
    ck_assert_uint_lt(atomic_load(&pg.done), j.pg.total);
    ckpt_free(&ck);
}
END_TEST

/* Block-FP8 is shown dequantized: weight x weight_scale_inv per (2 x 3) block, edges included. */
START_TEST(test_stats_fp8_dequant)
{
    char *tmp = tu_tmpdir();
    ck_assert_ptr_nonnull(tmp);
    enum { R = 5, C = 7, SR = 3, SC = 3 };
    uint8_t w[R * C];
    float scale[SR * SC];
    uint32_t st = 7;
    for (int i = 0; i < R * C; i++) {
        uint8_t b;
        do
            b = (uint8_t)tu_rand(&st);
        while ((b & 0x7f) == 0x7f); /* not NaN */
        w[i] = b;
    }
    for (int i = 0; i < SR * SC; i++)
        scale[i] = 0.5f + (float)i;
    char hdr[512];
    int hl = snprintf(hdr, sizeof hdr, "{\"l.weight\":{\"dtype\":\"F8_E4M3\",\"shape\":[%d,%d],\"data_offsets\":"
                      "[0,%d]},\"l.weight_scale_inv\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":"
                      "[%d,%d]}}", R, C, R * C, SR, SC, R * C, R * C + (int)sizeof scale);
    char path[600];
    snprintf(path, sizeof path, "%s/m.safetensors", tmp);
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    uint64_t n = (uint64_t)hl;
    fwrite(&n, 8, 1, fp);
    fwrite(hdr, 1, (size_t)hl, fp);
    fwrite(w, 1, sizeof w, fp);
    fwrite(scale, 1, sizeof scale, fp);
    fclose(fp);
    ck_checkpoint ck;
    ck_err err;
    ck_err_clear(&err);
    ck_assert_int_eq(ckpt_open(path, 1, &ck, &err), CK_OK);
    size_t i;
    ck_assert(ckpt_find_index(&ck, "l.weight", &i));
    tensor_summary ts;
    ck_assert_int_eq(tensor_summarize(&ck, i, 2, 3, &ts, &err), CK_OK);
    ck_assert_int_eq(ts.dequantized, 1);
    ck_assert_str_eq(ts.scale_name, "l.weight_scale_inv");
    float raw[R * C];
    ck_assert_int_eq(kern_convert_ref(DT_F8_E4M3, w, R * C, raw), 0);
    double sum = 0, mn = INFINITY;
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            float v = raw[r * C + c] * scale[(r / 2) * SC + c / 3];
            sum += v;
            mn = v < mn ? v : mn;
            if (r == 0 && c < TSTATS_PREVIEW)
                ck_assert_float_eq(ts.preview[c], v);
        }
    ck_assert_double_eq_tol(ts.st.sum, sum, 1e-9 * (fabs(sum) + 1));
    ck_assert_double_eq(ts.st.min, mn);
    /* without the scale: raw values */
    ck_assert(ckpt_find_index(&ck, "l.weight_scale_inv", &i));
    ck_assert_int_eq(tensor_summarize(&ck, i, 0, 0, &ts, &err), CK_OK);
    ck_assert_int_eq(ts.dequantized, 0);
    ck_assert_double_eq(ts.st.max, 8.5);
    ckpt_free(&ck);
    tu_rmtree(tmp);
    free(tmp);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */

static char sock[64];

static int tmux(const char *args, char **out) /* args: at most 2048 bytes */
{
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "tmux -L %s %s", sock, args);
    return tu_run(cmd, 1, out);
}

/* Captures the pane until `want` shows (up to ~5 s); returns the last capture. */
static char *wait_for(const char *want)
{
    char *out = NULL;
    for (int i = 0; i < 100; i++) {
        free(out);
        out = NULL;
        tmux("capture-pane -p -t ck", &out);
        if (out && strstr(out, want))
            return out;
        usleep(50000);
    }
    return out;
}

static void keys(const char *k)
{
    char a[512], *out = NULL;
    snprintf(a, sizeof a, "send-keys -t ck %s", k);
    ck_assert_int_eq(tmux(a, &out), 0);
    free(out);
}

/* A new tmux server (its own socket) running ckptdoc with args in a w x h pane. */
static void start(const char *args, int w, int h)
{
    static int runs;
    char a[2048], *out = NULL;
    if (sock[0]) {
        tmux("kill-server", &out);
        free(out);
        out = NULL;
    }
    snprintf(sock, sizeof sock, "ckptdoc-test-%d-%d", (int)getpid(), runs++);
    snprintf(a, sizeof a, "new-session -d -s ck -x %d -y %d \"env %s %s %s; sleep 60\"", w, h,
             getenv("NO_COLOR") ? "NO_COLOR=1" : "", tu_bin(), args);
    int rc = tmux(a, &out);
    ck_assert_msg(rc == 0, "tmux %s: %s", a, out ? out : "");
    free(out);
}

/* ckptdoc tui with args in a w x h pane, the tensor `key` searched: the screen that shows its
 * mapping (the caller frees it). */
static char *tui_search(const char *args, int w, int h, const char *key)
{
    start(args, w, h);
    free(wait_for("model/"));
    keys("/");
    keys(key);
    keys("Enter");
    return wait_for("keys match");
}

START_TEST(test_e2e_tmux)
{
    char *out = NULL;
    if (tu_run("command -v tmux", 1, &out) != 0) {
        free(out);
        printf("test_e2e_tmux: skipped: tmux is not installed (make deps installs it)\n");
        return;
    }
    free(out);
    /* the MTP seed in 80x24: the finding marked in place, n jumps to it */
    start("tui --tp 8 --pp 2 --rules " OLD_MTP " " R1, 80, 24);
    char *s = wait_for("model/");
    ck_assert_msg(s && strstr(s, "E model/"), "%s", s ? s : "(no capture)");
    ck_assert_ptr_nonnull(strstr(s, "rules deepseek_v3-old-mtp"));
    ck_assert_ptr_nonnull(strstr(s, "? help"));
    free(s);
    keys("n");
    s = wait_for("model > layers > 61");
    ck_assert_msg(s && strstr(s, "model > layers > 61"), "%s", s ? s : "");
    ck_assert_msg(strstr(s, "error") != NULL, "%s", s);
    free(s);
    keys("Left");
    s = wait_for("E 61/");
    ck_assert_msg(strstr(s, "findings below (most severe: error)") != NULL, "%s", s);
    free(s);
    keys("Home");
    s = wait_for("  0/");
    free(s);
    keys("End");
    s = wait_for("E 61/");
    free(s);
    keys("?");
    s = wait_for("ckptdoc tui - keys");
    ck_assert_ptr_nonnull(strstr(s, "search keys"));
    free(s);
    keys("q");
    s = wait_for("Enter open");
    free(s);
    /* resizing redraws at the new size */
    char *o2 = NULL;
    tmux("resize-window -t ck -x 120 -y 40", &o2);
    free(o2);
    s = wait_for("model > layers > 61");
    ck_assert_ptr_nonnull(s);
    free(s);
    keys("q");
    /* a real Qwen2 (transformers-written): search a tensor, its statistics and histogram */
    s = tui_search("tui fixtures/real/tiny-qwen2", 100, 30, "layers.1.mlp.down_proj.weight");
    ck_assert_msg(s && strstr(s, "model > layers > 1 > mlp > down_proj"), "%s", s ? s : "");
    ck_assert_ptr_nonnull(strstr(s, "loads as layers.1.mlp.down_proj.weight"));
    ck_assert_msg(strstr(s, "slices: TP0 cols 0-127") != NULL, "%s", s);
    free(s);
    keys("s");
    s = wait_for("histogram");
    ck_assert_msg(s && strstr(s, "statistics of model.layers.1.mlp.down_proj.weight"), "%s", s ? s : "");
    ck_assert_ptr_nonnull(strstr(s, "mean"));
    ck_assert_ptr_nonnull(strstr(s, "0 NaN, 0 Inf"));
    free(s);
    keys("Escape");
    free(wait_for("Enter open"));
    keys("q");
    /* one tensor that fills three parts (Qwen3.5's in_proj_qkv): named, and the first part's cut */
    s = tui_search("tui fixtures/real/tiny-qwen3_5 --tp 2", 160, 30, "layers.0.linear_attn.in_proj_qkv.weight");
    ck_assert_msg(s && strstr(s, "loads as layers.0.linear_attn.in_proj_qkvz.weight, parts q, k and v"), "%s",
                  s ? s : "");
    ck_assert_msg(strstr(s, "slices (part q): TP0 rows 0-15 TP1 rows 16-31") != NULL, "%s", s);
    free(s);
    keys("q");
    /* Ctrl-C: the terminal given back and exit 130, as every command exits on SIGINT */
    start("tui fixtures/real/tiny-qwen2; echo tui-exit=\\$?", 100, 30);
    free(wait_for("model/"));
    keys("C-c");
    s = wait_for("tui-exit=");
    ck_assert_msg(s && strstr(s, "tui-exit=130"), "%s", s ? s : "(no capture)");
    free(s);
    tmux("kill-server", &out);
    free(out);
    /* no terminal: a clear message and exit 2 */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s tui " R1 " < /dev/null", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 1, &out), 2);
    ck_assert_ptr_nonnull(strstr(out, "needs a terminal"));
    free(out);
}
END_TEST

static Suite *tui_suite(void)
{
    Suite *s = suite_create("tui");
    TCase *core = tcase_create("core");
    tcase_set_timeout(core, 60);
    tcase_add_test(core, test_tree_shape);
    tcase_add_test(core, test_tree_findings);
    tcase_add_test(core, test_state_keys);
    tcase_add_test(core, test_stats_match_torch);
    tcase_add_test(core, test_stats_fp8_dequant);
    tcase_add_test(core, test_stats_packed_dequant);
    tcase_add_test(core, test_stats_background);
    suite_add_tcase(s, core);
    TCase *e2e = tcase_create("e2e");
    tcase_set_timeout(e2e, 120);
    tcase_add_test(e2e, test_e2e_tmux);
    suite_add_tcase(s, e2e);
    return s;
}

int main(void)
{
    return tu_suite_run(tui_suite());
}
