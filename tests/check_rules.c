/* check_rules.c - the rules language: expressions over config fields and key patterns. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/expr.h"
#include "rules/pattern.h"
#include "rules/rules.h"
#include "tests/suiteutil.h"

/* A config: DeepSeek-V3's numbers, q_lora_rank present, one field null. */
static int lookup(void *ctx, const char *name, size_t len, expr_val *out)
{
    (void)ctx;
    static const struct { const char *n; int is_null; int64_t v; } cfg[] = {
        {"num_hidden_layers", 0, 61}, {"num_nextn_predict_layers", 0, 1},
        {"hidden_size", 0, 7168},      {"q_lora_rank", 0, 1536},
        {"kv_lora_rank", 0, 512},      {"qk_rope_head_dim", 0, 64},
        {"vocab_size", 0, 129280},     {"first_k_dense_replace", 0, 3},
        {"vision_config.num_heads", 0, 16},
        {"sliding_window", 1, 0},      {"layer", 0, 61},
    };
    /* the lists: mlp_only_layers of integers, layer_types of strings */
    static const int64_t only[] = {0, 5, 7};
    static const char *const types[] = {"sliding_attention", "full_attention"};
    int ints = len == 15 && strncmp(name, "mlp_only_layers", 15) == 0;
    if (ints || (len == 11 && strncmp(name, "layer_types", 11) == 0)) {
        memset(out, 0, sizeof *out);
        out->is_list = 1;
        out->list = ints ? only : NULL;
        out->strs = ints ? NULL : types;
        out->nlist = ints ? 3 : 2;
        return 1;
    }
    if (len == 11 && strncmp(name, "topk_method", 11) == 0) {
        memset(out, 0, sizeof *out);
        out->is_str = 1;
        out->s = "noaux_tc";
        out->slen = 8;
        return 1;
    }
    for (unsigned i = 0; i < sizeof cfg / sizeof *cfg; i++)
        if (strlen(cfg[i].n) == len && strncmp(cfg[i].n, name, len) == 0) {
            out->is_null = cfg[i].is_null;
            out->v = cfg[i].v;
            return 1;
        }
    return 0;
}

static expr_val run(const char *text)
{
    expr_err err;
    expr *e = expr_compile(text, &err);
    ck_assert_msg(e != NULL, "'%s' does not compile: col %d: %s", text, err.col, err.msg);
    expr_val v;
    ck_assert_msg(expr_eval(e, lookup, NULL, &v, &err) == 0, "'%s': col %d: %s", text, err.col, err.msg);
    expr_free(e);
    return v;
}

START_TEST(test_expr_values)
{
    static const struct { const char *text; int64_t want; } t[] = {
        {"1 + 2 * 3", 7},
        {"(1 + 2) * 3", 9},
        {"q_lora_rank + kv_lora_rank + qk_rope_head_dim", 2112},
        {"ceil_div(hidden_size, 128)", 56},
        {"ceil_div(kv_lora_rank + qk_rope_head_dim, 128)", 5},
        {"round_up(vocab_size, 64) / 8", 16160},
        {"min(3, 4) + max(3, 4)", 7},
        {"layer >= num_hidden_layers && layer < num_hidden_layers + (num_nextn_predict_layers ?? 0)", 1},
        {"layer < first_k_dense_replace", 0},
        {"q_lora_rank != null", 1},
        {"sliding_window == null", 1},
        {"absent_field ?? 7", 7},
        {"sliding_window ?? 4096", 4096},
        {"defined(q_lora_rank) && !defined(sliding_window) && !defined(nope)", 1},
        /* present: given in config.json, null included (a typed config class refuses the null) */
        {"present(sliding_window) && present(q_lora_rank) && !present(nope)", 1},
        {"q_lora_rank == null ? 1 : 2", 2},
        {"vision_config.num_heads % 8 + defined(vision_config.num_heads) + defined(vision_config.depth)", 1},
        {"-5 % 3", -2},
        {"10 - 2 - 3", 5},
        {"true || 1 / 0", 1},
        {"false && 1 / 0", 0},
        {"topk_method == \"noaux_tc\"", 1},
        {"topk_method != \"greedy\" && topk_method != 1", 1},
        {"contains(mlp_only_layers, 5)", 1},
        {"contains(mlp_only_layers, layer - 56)", 1},
        {"contains(mlp_only_layers, 6)", 0},
        {"contains(absent_list, 6) || contains(sliding_window, 1)", 0},
        {"contains(layer_types, \"full_attention\") + contains(layer_types, \"sliding\")", 1},
        {"contains(layer_types, topk_method)", 0},
        {"len(mlp_only_layers)", 3},
        {"len(absent_list) ?? 9", 9},
        {"len(sliding_window) ?? 9", 9},
        {"index(mlp_only_layers, 5, 0) * 10 + index(mlp_only_layers, 5, 2)", 9},
        {"rindex(mlp_only_layers, 7, 3) * 10 + rindex(mlp_only_layers, 7, 2) + 10 * rindex(mlp_only_layers, 0, 99)", 19},
        {"index(layer_types, \"full_attention\", 0) + rindex(layer_types, \"sliding_attention\", 2)", 1},
        {"index(layer_types, \"full_attention\", -4) + index(layer_types, \"full_attention\", 2)", 0},
        {"rindex(absent_list, 1, 3) ?? 6", 6},
        {"rindex(mlp_only_layers, 0, -9223372036854775807 - 1) + index(mlp_only_layers, 0, 9223372036854775807)", -2},
    };
    for (unsigned i = 0; i < sizeof t / sizeof *t; i++) {
        expr_val v = run(t[i].text);
        ck_assert_msg(!v.is_null && v.v == t[i].want, "'%s' = %lld, want %lld", t[i].text,
                      (long long)v.v, (long long)t[i].want);
    }
    ck_assert(run("null").is_null);
    ck_assert(run("sliding_window").is_null);
}
END_TEST

START_TEST(test_expr_errors)
{
    static const struct { const char *text; int compiles, col; const char *prefix; } t[] = {
        {"1 +", 0, 4, "unexpected end of expression"},
        {"(1 + 2", 0, 7, "expected ')'"},
        {"foo(1, 2)", 0, 1, "unknown function 'foo'"},
        {"1 2", 0, 3, "unexpected '2' after the expression"},
        {"12abc", 0, 3, "unexpected 'a' after a number"},
        {"vision_config. + 1", 0, 14, "unexpected '.' after the expression"},
        {"a ? b", 0, 6, "expected ':'"},
        {"hidden_size / 0", 1, 13, "division by zero"},
        {"nope + 1", 1, 1, "'nope' is not in config.json"},
        {"sliding_window + 1", 1, 1, "'sliding_window' is null (use ?? to give a default)"},
        {"9223372036854775807 + 1", 1, 21, "integer overflow"},
        {"ceil_div(hidden_size, 0)", 1, 1, "ceil_div() needs a positive divisor, got 0"},
        {"topk_method + 1", 1, 1, "a string where a number is needed"},
        {"\"abc", 0, 1, "string not terminated"},
        {"mlp_only_layers + 1", 1, 1, "a list where a number is needed"},
        {"contains(hidden_size, 1)", 1, 1, "'hidden_size' is not a list"},
        {"contains(layer_types, 1)", 1, 1, "contains() looks for a number in 'layer_types', a list of strings"},
        {"contains(mlp_only_layers, \"a\")", 1, 1, "contains() looks for a string in 'mlp_only_layers', a list of integers"},
        {"contains(1, 2)", 0, 10, "contains() takes a name first"},
        {"len(hidden_size)", 1, 1, "len() of 'hidden_size', which is not a list"},
        {"len(1)", 0, 5, "len() takes a name first"},
        {"len(mlp_only_layers, 1)", 0, 20, "expected ')' closing len("},
        {"index(layer_types, 1, 0)", 1, 1, "index() looks for a number in 'layer_types', a list of strings"},
        {"rindex(hidden_size, 1, 0)", 1, 1, "'hidden_size' is not a list"},
        {"rindex(mlp_only_layers, 1)", 0, 26, "expected ',' in rindex()"},
    };
    for (unsigned i = 0; i < sizeof t / sizeof *t; i++) {
        expr_err err;
        expr *e = expr_compile(t[i].text, &err);
        if (t[i].compiles) {
            ck_assert_msg(e != NULL, "'%s': %s", t[i].text, err.msg);
            expr_val v;
            ck_assert_int_eq(expr_eval(e, lookup, NULL, &v, &err), -1);
            expr_free(e);
        } else
            ck_assert_msg(e == NULL, "'%s' compiled", t[i].text);
        ck_assert_msg(strncmp(err.msg, t[i].prefix, strlen(t[i].prefix)) == 0, "'%s': '%s'",
                      t[i].text, err.msg);
        ck_assert_msg(err.col == t[i].col, "'%s': column %d, want %d", t[i].text, err.col, t[i].col);
    }
    /* deep nesting is refused, not a stack overflow */
    char deep[4096];
    memset(deep, '(', 2000);
    strcpy(deep + 2000, "1");
    expr_err err;
    ck_assert_ptr_null(expr_compile(deep, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "nested too deeply"));
    /* and so is a long chain of operators, which the parser builds in a loop: its tree is as deep
     * (evaluating 2,000 of them overflowed the stack under ASan), while 200 compute */
    for (int n = 200; n <= 2000; n += 1800) {
        size_t w = 0;
        for (int i = 0; i < n; i++)
            w += (size_t)snprintf(deep + w, sizeof deep - w, "%s1", i ? "+" : "");
        expr *e = expr_compile(deep, &err);
        if (n == 200) {
            expr_val v;
            ck_assert_ptr_nonnull(e);
            ck_assert_int_eq(expr_eval(e, lookup, NULL, &v, &err), 0);
            ck_assert_int_eq(v.v, 200);
            expr_free(e);
        } else {
            ck_assert_ptr_null(e);
            ck_assert_ptr_nonnull(strstr(err.msg, "nested too deeply (more than 256 operations deep)"));
        }
    }
}
END_TEST

static void collect_name(void *ctx, const char *name, size_t len)
{
    char *buf = ctx;
    strncat(buf, name, len);
    strcat(buf, ";");
}

START_TEST(test_expr_names)
{
    expr_err err;
    expr *e = expr_compile("a + b * a ?? defined(c)", &err);
    ck_assert_ptr_nonnull(e);
    char buf[64] = "";
    expr_names(e, collect_name, buf);
    ck_assert_str_eq(buf, "a;b;c;");
    ck_assert_str_eq(expr_text(e), "a + b * a ?? defined(c)");
    expr_free(e);
}
END_TEST

START_TEST(test_pattern_match)
{
    pattern p;
    char why[128];
    int col;
    ck_assert_int_eq(pattern_compile("model.layers.{layer:int}.mlp.experts.{expert:int}.{proj}.{suffix}",
                                     &p, why, sizeof why, &col), 0);
    ck_assert_int_eq(p.n_caps, 4);
    pattern_value v[PATTERN_MAX_CAPS];
    const char *k = "model.layers.61.mlp.experts.255.down_proj.weight_scale_inv";
    ck_assert(pattern_match(&p, k, strlen(k), v));
    ck_assert_int_eq(v[0].v, 61);
    ck_assert_int_eq(v[1].v, 255);
    ck_assert_int_eq((int)v[2].len, 9);
    ck_assert(strncmp(v[2].s, "down_proj", 9) == 0);
    ck_assert(strncmp(v[3].s, "weight_scale_inv", v[3].len) == 0 && v[3].len == 16);
    static const char *no[] = {
        "model.layers.01.mlp.experts.3.up_proj.weight",     /* leading zero */
        "model.layers.x.mlp.experts.3.up_proj.weight",      /* not an integer */
        "model.layers.3.mlp.experts.3.up_proj",             /* missing part */
        "model.layers.3.mlp.experts.3.up_proj.weight.extra", /* {suffix} takes no dot */
        "layers.3.mlp.experts.3.up_proj.weight",            /* prefix */
    };
    for (unsigned i = 0; i < sizeof no / sizeof *no; i++)
        ck_assert_msg(!pattern_match(&p, no[i], strlen(no[i]), v), "%s matched", no[i]);
    ck_assert_int_eq(pattern_cap_index(&p, "expert", 6), 1);
    ck_assert_int_eq(pattern_cap_index(&p, "nope", 4), -1);
    pattern_free(&p);
    /* backtracking: a name capture followed by text that also occurs inside it */
    ck_assert_int_eq(pattern_compile("x.{a}_proj.{rest:any}", &p, why, sizeof why, &col), 0);
    const char *k2 = "x.gate_up_proj.weight.extra";
    ck_assert(pattern_match(&p, k2, strlen(k2), v));
    ck_assert(v[0].len == 7 && strncmp(v[0].s, "gate_up", 7) == 0);
    ck_assert(v[1].len == 12);
    pattern_free(&p);
    /* seven :any captures and a key they can split in very many ways: the search remembers what
     * failed instead of trying every split (exponential: this did not end), and still finds a
     * match where there is one */
    ck_assert_int_eq(pattern_compile("{a:any}.{b:any}.{c:any}.{d:any}.{e:any}.{f:any}.{g:any}.x{h:any}", &p, why,
                                     sizeof why, &col), 0);
    char longkey[1024];
    size_t n = 0;
    for (int i = 0; i < 300; i++) {
        longkey[n++] = 'a';
        longkey[n++] = '.';
    }
    memcpy(longkey + n, "yz", 3);
    ck_assert(!pattern_match(&p, longkey, n + 2, v));
    memcpy(longkey + n, "xyz", 4);
    ck_assert(pattern_match(&p, longkey, n + 3, v));
    ck_assert(v[7].len == 2 && strncmp(v[7].s, "yz", 2) == 0);
    ck_assert(v[0].len == 1 + 2 * 293); /* the first capture the longest, as before */
    pattern_free(&p);
}
END_TEST

START_TEST(test_pattern_errors)
{
    static const struct { const char *text; int col; const char *prefix; } t[] = {
        {"a.{layer", 3, "'{' without a matching '}'"},
        {"a.layer}", 8, "'}' without a matching '{'"},
        {"a.{}", 3, "empty capture name"},
        {"a.{x}{y}", 6, "two captures with no text between them"},
        {"a.{x}.{x}", 7, "capture {x} appears twice"},
        {"a.{x:float}", 3, "unknown capture kind \"float\""},
        {"a.{1x}", 3, "capture name \"1x\" is not an identifier"},
        {"a.{x.{y}}", 3, "'{' without a matching '}'"},
    };
    for (unsigned i = 0; i < sizeof t / sizeof *t; i++) {
        pattern p;
        char why[128];
        int col;
        ck_assert_int_eq(pattern_compile(t[i].text, &p, why, sizeof why, &col), -1);
        ck_assert_msg(strncmp(why, t[i].prefix, strlen(t[i].prefix)) == 0, "'%s': '%s'", t[i].text, why);
        ck_assert_msg(col == t[i].col, "'%s': column %d, want %d", t[i].text, col, t[i].col);
    }
}
END_TEST


START_TEST(test_builtin_rules_load)
{
    ck_assert_uint_ge(rules_builtin_count(), 1);
    for (size_t i = 0; i < rules_builtin_count(); i++) {
        rules_file r;
        ck_err err;
        ck_err_clear(&err);
        int rc = rules_load_builtin(rules_builtin_name(i), &r, &err);
        ck_assert_msg(rc == CK_OK, "%s: line %d col %d %s: %s", rules_builtin_name(i), err.line,
                      err.col, err.key, err.msg);
        ck_assert_str_eq(r.name, rules_builtin_name(i));
        ck_assert(r.n_params > 0 || !r.builds_model); /* a converter fills no parameters */
        rules_free(&r);
    }
    rules_file r;
    ck_err err;
    ck_err_clear(&err);
    ck_assert_int_eq(rules_load_builtin("deepseek_v3", &r, &err), CK_OK);
    ck_assert_str_eq(r.strip_prefix, "model.");
    ck_assert_int_eq(r.pp_guard, 1);
    ck_assert_int_eq(r.n_skips, 4); /* inv_freq, the indexer scale, MTP layers, Kimi's patchmergerv2 projector */
    ck_assert_int_eq(r.n_quants, 8); /* none, fp8 (per block and per tensor), ModelOpt FP8, compressed-tensors,
                                      * its int- and float-quantized (per tensor too) */
    ck_assert_str_eq(r.quants[2].method, "fp8::tensor");
    ck_assert_str_eq(r.quants[3].method, "modelopt::tensor");
    ck_assert(r.quants[3].shared && r.quants[3].suffixes == r.quants[2].suffixes); /* named as fp8::tensor */
    ck_assert_str_eq(r.quants[5].method, "compressed-tensors:int-quantized");
    ck_assert_int_gt(r.params[0].line, 1);
    /* the fused-expert names vLLM used before 0.32, for explain */
    ck_assert_int_eq(r.n_old_names, 2);
    ck_assert_str_eq(r.old_from[0], ".experts.w13_");
    ck_assert_str_eq(r.old_to[0], ".experts.routed_experts.w13_");
    /* vLLM's strict check: a norm is covered, a linear, the vocabulary, a bias beside a linear and
     * the router's gate (a linear module written as a plain shape) are not */
    ck_assert_ptr_nonnull(r.strict_error);
    ck_assert_ptr_nonnull(strstr(r.strict_error, "{params}"));
    int seen = 0;
    for (int i = 0; i < r.n_params; i++) {
        const char *nm = r.params[i].name.text;
        if (strncmp(nm, "vision_tower.", 13) == 0 || strncmp(nm, "mm_projector.", 13) == 0)
            continue; /* Kimi-K2.5's tower and projector: the oracle holds them */
        int want = strstr(nm, "layernorm.weight") || strcmp(nm, "norm.weight") == 0 ||
                   strstr(nm, "indexer.k_norm.");
        ck_assert_msg(r.params[i].strict == want, "%s: strict %d", nm, r.params[i].strict);
        seen += want;
    }
    ck_assert_int_ge(seen, 4);
    rules_free(&r);
    ck_err_clear(&err);
    ck_assert_int_eq(rules_load_builtin("qwen2", &r, &err), CK_OK);
    for (int i = 0; i < r.n_params; i++)
        if (strcmp(r.params[i].name.text, "layers.{layer}.self_attn.qkv_proj.bias") == 0)
            ck_assert_int_eq(r.params[i].strict, 0); /* in qkv_proj's module */
    rules_free(&r);
    ck_err_clear(&err);
    ck_assert_int_eq(rules_load_builtin("no_such_family", &r, &err), CK_EUSAGE);
    ck_assert_ptr_nonnull(strstr(err.msg, "deepseek_v3"));
    /* the line of each entry, found from the previous one: entries sharing a line, one written
     * over two lines, a string holding ']' and '},', an array over two lines before one */
    static const char text[] =
        "{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
        " \"skips\": [\n"
        "  {\"key\": \"a\", \"reason\": \"r ], },\"},\n"
        "  {\"key\": \"b\", \"reason\": \"r\"}, {\"key\": \"c\", \"reason\": \"r\"},\n"
        "  {\n"
        "   \"key\": \"d\", \"reason\": \"r\"},\n"
        "  {\"key\": \"e\", \"reason\": \"r\"}],\n"
        " \"params\": [{\"name\": \"w\", \"shape\": [\"1\",\n \"2\"]}, {\"name\": \"v\",\n"
        "  \"shape\": [\"4\"]}]\n"
        "}\n";
    ck_err_clear(&err);
    ck_assert_msg(rules_parse(text, strlen(text), "lines.json", &r, &err) == CK_OK, "%s", err.msg);
    static const int skip_lines[] = {3, 4, 4, 5, 7};
    ck_assert_int_eq(r.n_skips, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_msg(r.skips[i].line == skip_lines[i], "skip %d on line %d, want %d", i, r.skips[i].line,
                      skip_lines[i]);
    ck_assert_int_eq(r.params[0].line, 8);
    ck_assert_int_eq(r.params[1].line, 9);
    rules_free(&r);
}
END_TEST

/* A bad rules file: the error names the file, line:column and the JSON path. */
START_TEST(test_rules_errors)
{
    static const struct { const char *text; const char *path; int line, col; const char *prefix; } t[] = {
        {"{\n  \"ckptdoc_rules\": 1,\n  \"name\": 3\n}", "$.name", 3, 11, "\"name\" must be a string"},
        {"{\"ckptdoc_rules\": 2}", "$.ckptdoc_rules", 1, 19, "\"ckptdoc_rules\": 1 must say"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"lodaer\": {}}", "$.lodaer", 1, 45, "unknown field \"lodaer\""},
        {"{\"ckptdoc_rules\": 1,\n \"name\": \"x\",\n \"loader\": {\"name\": \"l\"},\n \"ranges\": {\"layer\": \"0 .. L\"},\n"
         " \"params\": [\n  {\"name\": \"a.{layer}.w\", \"shape\": [\"hidden_size +\"]}\n ]\n}",
         "$.params[0].shape[0]", 6, 51, "bad expression \"hidden_size +\": column 14: unexpected end"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"params\": [{\"name\": \"a.{layer.w\", \"shape\": [1]}]}", "$.params[0].name", 2, 25, "bad pattern \"a.{layer.w\""},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"params\": [{\"name\": \"a.{expert}.w\", \"shape\": [1]}]}", "$.params[0].name", 2, 22, "capture {expert} is not a range"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"params\": [{\"name\": \"a.w\", \"shape\": [1], \"shard\": \"diagonal\"}]}", "$.params[0].shard", 2, 52, "unknown sharding kind"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"keys\": [{\"key\": \"a.{x:int}\", \"param\": \"b.{y}\"}]}", "$.keys[0].param", 2, 41, "{y} is not captured by \"key\""},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"params\": [{\"name\": \"a.w\"}]}", "$.params[0]", 2, 13, "a parameter needs exactly one of \"shape\" and \"linear\""},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"forward\": {\"routre\": \"1\"}}", "$.forward.routre", 2, 24, "unknown field \"routre\""},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"forward\": {\"topk\": \"2 +\"}}", "$.forward.topk", 2, 26, "bad expression \"2 +\""},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\",\n \"loader\": {\"name\": \"l\", \"old_names\": {\".w2_\": 2}}}",
         "$.loader.old_names", 2, 39, "\".w2_\" must map a non-empty name part"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\",\n \"loader\": {\"name\": \"l\", \"strict\": {\"error\": \"E\"}}}",
         "$.loader.strict.error", 2, 46, "the text must name the parameters with {params}"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"params\": [{\"name\": \"a.w\", \"shape\": [1], \"strict\": 1}]}", "$.params[0].strict", 2, 53, "must be true or false"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"params\": [{\"name\": \"a.w\", \"shape\": [64], \"tp_granule\": \"32\"}]}", "$.params[0].tp_granule", 2, 58,
         "\"tp_granule\" rounds a TP share: only with \"shard\" column, row or expert"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"keys\": [{\"key\": \"a\", \"param\": \"b\", \"view\": true, \"transposed\": true}]}", "$.keys[0].view", 2, 46,
         "a key is viewed or transposed, not both"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"keys\": [{\"key\": \"a\", \"param\": \"b\", \"pp_through\": true}]}", "$.keys[0].pp_through", 2, 52,
         "a path the loader leaves where another stage owns the layer has no guard: \"pp_through\" needs"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"keys\": [{\"key\": \"a\", \"param\": \"b\", \"part\": \"q\", \"parts\": [\"q\", \"k\"]}]}", "$.keys[0].parts", 2, 60,
         "give \"part\" (one) or \"parts\" (several), not both"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"keys\": [{\"key\": \"a\", \"param\": \"b\", \"parts\": [\"q\"]}]}", "$.keys[0].parts", 2, 47,
         "\"parts\" lists at least two parts (one: write \"part\")"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"keys\": [{\"key\": \"a\", \"param\": \"b\", \"part\": [\"q\", \"k\"]}]}", "$.keys[0].part", 2, 46,
         "\"part\" must be a string"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\",\n"
         " \"loader\": {\"name\": \"l\", \"outer\": {\"class\": \"A\", \"also_strip\": [\"m.\"]}}}",
         "$.loader.outer.also_strip", 2, 64, "the prefixes are mapped to the loader's strip_prefix"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\",\n"
         " \"loader\": {\"name\": \"l\", \"strip_prefix\": \"model.\", \"outer\": {\"class\": \"A\", \"also_strip\": [\"\"]}}}",
         "$.loader.outer.also_strip", 2, 90, "a prefix is a non-empty string"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"params\": [{\"name\": \"f.w\", \"shape\": [6], \"shard\": \"column\", \"parts\": [{\"id\": \"a\", \"size\": 2},"
         " {\"id\": \"b\", \"size\": 2}, {\"id\": \"c\", \"size\": 2}]}],\n"
         " \"keys\": [{\"key\": \"g.w\", \"param\": \"f.w\", \"parts\": [\"b\", \"c\"]}]}", "$.keys[0].parts", 3, 51,
         "vLLM loads a tensor of several parts into the parameter's first parts"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"params\": [{\"name\": \"f.w\", \"shape\": [6], \"shard\": \"column\", \"parts\": [{\"id\": \"a\", \"size\": 2},"
         " {\"id\": \"b\", \"size\": 2}, {\"id\": \"c\", \"size\": 2}]}],\n"
         " \"keys\": [{\"key\": \"g.w\", \"param\": \"f.w\", \"parts\": [\"a\", \"c\"]}]}", "$.keys[0].parts", 3, 51,
         "the parameter rule of \"f.w\" (line 2) lists no such run of consecutive parts"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"quant\": {\"mxfp4\": {\"experts_only\": 1, \"weight\": {}}}}", "$.quant.mxfp4.experts_only", 2, 38,
         "\"experts_only\" is true or false"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\",\n \"loader\": {\"name\": \"l\", \"wrapper\": {\"when\": \"1\"}}}",
         "$.loader.wrapper", 2, 37, "missing field \"prefix\""},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"quant\": {\"mxfp4\": {\"experts_only\": true}}}", "$.quant.mxfp4", 2, 21,
         "names no suffix"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"params\": [{\"name\": \"a.w\", \"shape\": [64], \"shard\": \"column\", \"tp_granule\": \"32\",\n"
         "   \"parts\": [{\"id\": \"a\", \"size\": \"32\"}, {\"id\": \"b\", \"size\": \"32\"}]}]}",
         "$.params[0].tp_granule", 2, 77, "\"tp_granule\" and \"parts\" do not go together"},
        {"{\"ckptdoc_rules\": 1,\n \"name\": \"x\",,}", "$", 2, 15, "not valid JSON"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"params\": [{\"name\": \"a.w\", \"shape\": [-2.6e123]}]}", "$.params[0].shape[0]", 2, 39,
         "a number here is an integer of at most 18 digits (-2.6e+123 is not)"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"params\": [{\"name\": \"a.w\", \"shape\": [1.5]}]}", "$.params[0].shape[0]", 2, 39,
         "a number here is an integer of at most 18 digits (1.5 is not)"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"quant\": {\"a\": \"b\"}}", "$.quant.a", 2, 17, "names variant \"b\", which is not one written before it"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"quant\": {\"a\": {\"s\": {\"shape\": [\"1\"], \"per_part\": true}}}}", "$.quant.a.s.per_part", 2, 52,
         "\"per_part\" is true or false, and takes the place of \"shape\""},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"stage_requires\": [{\"param\": \"a.w\", \"model\": true, \"error\": \"E\"}]}", "$.stage_requires[0]", 2, 21,
         "\"model\" is true or false, and only with \"assert\""},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\",\n \"loader\": {\"name\": \"l\", \"also_strip\": [\"lm.\"]}}",
         "$.loader.also_strip", 2, 40, "other prefixes to strip come with a \"wrapper\""},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\",\n \"loader\": {\"name\": \"l\", \"wrapper\": {\"prefix\": \"lm.\", "
         "\"modules\": [\"vision_tower\"]}}}", "$.loader.wrapper", 2, 37, "\"modules\" come with the wrapper's \"class\""},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"params\": [{\"name\": \"a.w\", \"shape\": [\"1\", \"2\", \"3\", \"4\", \"5\", \"6\"]}]}", "$.params[0].shape", 2, 38,
         "a shape has at most 5 dims, not 6"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\",\n \"loader\": {\"name\": \"l\", \"wrapper\": {\"prefix\": \"lm.\", "
         "\"strip_modules_only\": 1}}}", "$.loader.wrapper.strip_modules_only", 2, 77, "must be true or false"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\",\n \"loader\": {\"name\": \"l\", \"wrapper\": {\"prefix\": \"lm.\", "
         "\"class\": \"W\", \"modules\": [\"vision_tower.x\"]}}}", "$.loader.wrapper.modules", 2, 80,
         "a module is a name without dots"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\",\n \"loader\": {\"name\": \"l\", \"outer\": {\"modules\": []}}}",
         "$.loader.outer", 2, 35, "missing field \"class\""},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\",\n \"loader\": {\"name\": \"l\", \"outer\": {\"class\": \"A ?\"}}}",
         "$.loader.outer.class", 2, 49, "bad expression \"A ?\""},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\",\n \"loader\": {\"name\": \"l\", \"outer\": {\"class\": \"A\", "
         "\"maps\": {\"modules\": [\"layers.0\"]}}}}", "$.loader.outer.maps.modules", 2, 70,
         "a module is a name without dots"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\",\n \"loader\": {\"name\": \"l\", \"outer\": {\"class\": \"A\", "
         "\"maps\": [\"layers\"]}}}", "$.loader.outer.maps", 2, 58, "must be an object"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"skips\": [{\"key\": \"a\", \"reason\": \"r\", \"inner\": 1}]}", "$.skips[0].inner", 2, 49, "must be true or false"},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"asserts\": [{\"assert\": \"1\", \"error\": \"E\", \"note\": \"N\"}]}", "$.asserts[0]", 2, 14,
         "an assertion has one of \"error\", \"warning\", \"note\" and \"refused\""},
        {"{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n"
         " \"asserts\": [{\"assert\": \"1\"}]}", "$.asserts[0]", 2, 14,
         "an assertion has one of \"error\", \"warning\", \"note\" and \"refused\""},
    };
    for (unsigned i = 0; i < sizeof t / sizeof *t; i++) {
        rules_file r;
        ck_err err;
        ck_err_clear(&err);
        ck_assert_int_eq(rules_parse(t[i].text, strlen(t[i].text), "bad.json", &r, &err), CK_EFORMAT);
        ck_assert_str_eq(err.path, "bad.json");
        ck_assert_msg(strcmp(err.key, t[i].path) == 0, "case %u: path '%s', want '%s'", i, err.key, t[i].path);
        ck_assert_msg(strncmp(err.msg, t[i].prefix, strlen(t[i].prefix)) == 0, "case %u: '%s'", i, err.msg);
        ck_assert_msg(err.line == t[i].line && err.col == t[i].col, "case %u: at %d:%d, want %d:%d (%s)",
                      i, err.line, err.col, t[i].line, t[i].col, err.msg);
    }
    /* an array over the limit (rules index their entries with 16 bits) */
    size_t cap = (RULES_MAX_ENTRIES + 2) * 40 + 256, n = 0;
    char *big = malloc(cap);
    ck_assert_ptr_nonnull(big);
    n += (size_t)snprintf(big + n, cap - n, "{\"ckptdoc_rules\": 1, \"name\": \"x\", \"loader\": {\"name\": \"l\"},\n \"skips\": [");
    for (int i = 0; i <= RULES_MAX_ENTRIES; i++)
        n += (size_t)snprintf(big + n, cap - n, "%s{\"key\": \"k%d\", \"reason\": \"r\"}", i ? "," : "", i);
    n += (size_t)snprintf(big + n, cap - n, "]}");
    rules_file r;
    ck_err err;
    ck_err_clear(&err);
    ck_assert_int_eq(rules_parse(big, n, "big.json", &r, &err), CK_EFORMAT);
    ck_assert_str_eq(err.key, "$.skips");
    ck_assert_msg(strstr(err.msg, "has 4097 entries, more than 4096"), "%s", err.msg);
    free(big);
}
END_TEST

static Suite *rules_suite(void)
{
    Suite *s = suite_create("rules");
    TCase *core = tcase_create("core");
    tcase_add_test(core, test_expr_values);
    tcase_add_test(core, test_expr_names);
    tcase_add_test(core, test_pattern_match);
    tcase_add_test(core, test_builtin_rules_load);
    suite_add_tcase(s, core);
    TCase *errors = tcase_create("errors");
    tcase_add_test(errors, test_expr_errors);
    tcase_add_test(errors, test_pattern_errors);
    tcase_add_test(errors, test_rules_errors);
    suite_add_tcase(s, errors);
    return s;
}

int main(void)
{
    return tu_suite_run(rules_suite());
}
