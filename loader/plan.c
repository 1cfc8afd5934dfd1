/* plan.c - expand a rules file's parameter templates for each pipeline stage of a layout. */
#include "loader/plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fnmatch.h>

#include "loader/shard.h"

int plan_pp_indices(int layers, const plan_layout *lay, int stage, int *start, int *end, ck_err *err)
{
    int pp = lay->pp, sizes[PLAN_MAX_PP];
    int explicit_ = lay->has_partition;
    for (int k = 0; k < pp; k++)
        explicit_ |= lay->partition[k] != 0;
    if (explicit_) {
        int sum = 0;
        for (int k = 0; k < pp; k++) {
            if (lay->partition[k] < 0) /* vLLM accepts a stage of no layers */
                return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "--pp-partition: stage "
                                  "%d has %d layers", k, lay->partition[k]);
            sizes[k] = lay->partition[k];
            sum += sizes[k];
        }
        if (sum != layers)
            return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "--pp-partition adds up to "
                              "%d layers but num_hidden_layers is %d (vLLM: \"sum(partitions)=%d "
                              "does not match num_hidden_layers=%d.\")", sum, layers, sum, layers);
    } else {
        /* more stages than layers: vLLM builds stages that own no layer */
        int base = layers / pp, rem = layers % pp;
        for (int k = 0; k < pp; k++)
            sizes[k] = base;
        for (int k = 0; k < rem; k++)
            sizes[pp - 2 - k]++; /* the 2nd-to-last, 3rd-to-last, ... stage */
    }
    int s = 0;
    for (int k = 0; k < stage; k++)
        s += sizes[k];
    *start = s;
    *end = s + sizes[stage];
    return CK_OK;
}

/* ------------------------------------------------------------------------------------------ */

/* vLLM's checkpoint_has_lm_head: some key of the checkpoint ends in "lm_head.weight". */
static int has_lm_head(const ck_checkpoint *ck)
{
    static const char suffix[] = "lm_head.weight";
    const size_t n = sizeof suffix - 1;
    for (size_t s = 0; s < ck->n_shards; s++)
        for (size_t t = 0; t < ck->shards[s].h.n_tensors; t++) {
            const st_tensor *e = &ck->shards[s].h.tensors[t];
            if (e->name_len >= n && memcmp(e->name + e->name_len - n, suffix, n) == 0)
                return 1;
        }
    for (size_t i = 0; i < ck->n_index; i++)
        if (ck->index[i].key_len >= n && memcmp(ck->index[i].key + ck->index[i].key_len - n, suffix, n) == 0)
            return 1;
    return 0;
}

char *plan_unconverted(const ck_checkpoint *ck)
{
    const ck_config *c = &ck->cfg;
    if (!c->has_quant || c->not_convert || (strcmp(c->quant.method, "awq") != 0 && strcmp(c->quant.method, "gptq") != 0))
        return NULL;
    /* each module once, in the order the headers first name it: its name (the key less its last
     * dotted part) in one buffer, and whether some tensor of it is not float, some a matrix */
    size_t n = 0, len = 0, nm = 0;
    for (size_t s = 0; s < ck->n_shards; s++)
        for (size_t t = 0; t < ck->shards[s].h.n_tensors; t++, n++)
            len += ck->shards[s].h.tensors[t].name_len + 1;
    char *mods = malloc(len + 1), *w = mods, *out = NULL;
    size_t *first = malloc((n ? n : 1) * sizeof *first); /* module i: its name's offset in mods */
    unsigned char *kind = calloc(n ? n : 1, 1);           /* 1: not all float, 2: has a matrix */
    strmap m;
    strmap_init(&m);
    if (!mods || !first || !kind || strmap_reserve(&m, n) != 0)
        goto done;
    for (size_t s = 0; s < ck->n_shards; s++)
        for (size_t t = 0; t < ck->shards[s].h.n_tensors; t++) {
            const st_tensor *e = &ck->shards[s].h.tensors[t];
            const char *dot = strrchr(e->name, '.');
            if (!dot)
                continue;
            size_t l = (size_t)(dot - e->name), i;
            if (!strmap_get_n(&m, e->name, l, &i)) {
                memcpy(w, e->name, l);
                w[l] = 0;
                i = nm++;
                first[i] = (size_t)(w - mods);
                if (strmap_put_h(&m, w, strmap_hash_n(w, l), i, NULL) < 0)
                    goto done;
                w += l + 1;
            }
            kind[i] |= (e->dtype == DT_F16 || e->dtype == DT_BF16 || e->dtype == DT_F32 ? 0 : 1) | (e->ndim >= 2 ? 2 : 0);
        }
    /* only a module with a matrix can be a linear layer: norms and biases are left out */
    if (!(out = malloc(len + 1)))
        goto done;
    char *o = out;
    for (size_t i = 0; i < nm; i++)
        if (kind[i] == 2) {
            size_t l = strlen(mods + first[i]);
            memcpy(o, mods + first[i], l);
            o += l;
            *o++ = '\n';
        }
    *o = 0;
    if (!*out) {
        free(out);
        out = NULL;
    }
done:
    strmap_free(&m);
    free(mods);
    free(first);
    free(kind);
    return out;
}

/* Whether module `mod` (the loader's name, vLLM's prefix with strip_prefix put back) is one a line
 * of `lines` names: as vLLM's is_layer_skipped matches AWQ/GPTQ lists (each line a substring of
 * it), or (LISTED_WILDCARD) as ModelOpt's is_layer_excluded: a substring or a shell wildcard.
 * (fp8 and compressed-tensors lists: listed_as_stored.) */
#define LISTED_WILDCARD 2

static int listed(const char *lines, const char *mod, int mode)
{
    size_t ml = strlen(mod);
    for (const char *q = lines; q && *q;) {
        const char *e = strchr(q, '\n');
        size_t l = e ? (size_t)(e - q) : strlen(q);
        if (mode == LISTED_WILDCARD) {
            /* ModelOpt: a substring of the name, or a shell wildcard over it; "path*" is read as
             * "path" and "path.*" (vLLM's apply_vllm_mapper) */
            char line[512];
            snprintf(line, sizeof line, "%.*s", (int)(l < sizeof line - 1 ? l : sizeof line - 1), q);
            size_t ll = strlen(line);
            if (ll >= 2 && line[ll - 1] == '*' && line[ll - 2] != '.')
                line[--ll] = 0; /* "path": its substring test covers "path.*" too */
            if ((ll && memmem(mod, ml, line, ll)) || fnmatch(line, mod, 0) == 0)
                return 1;
        } else if (l && l <= ml && memmem(mod, ml, q, l)) {
            return 1;
        }
        q = e ? e + 1 : q + l;
    }
    return 0;
}

int plan_unconverts_any(const plan *p, const char *lines)
{
    char mod[512];
    size_t sp = strlen(p->rules->strip_prefix);
    for (int st = 0; lines && st < p->layout.pp; st++)
        for (size_t i = 0; i < p->stages[st].n; i++) {
            const plan_param *pp = &p->stages[st].params[i];
            const char *dot = strrchr(pp->name, '.');
            if (pp->suffix < 0 || !dot || sp + (size_t)(dot - pp->name) + 1 > sizeof mod)
                continue;
            memcpy(mod, p->rules->strip_prefix, sp);
            memcpy(mod + sp, pp->name, (size_t)(dot - pp->name));
            mod[sp + (size_t)(dot - pp->name)] = 0;
            if (listed(lines, mod, 0))
                return 1;
        }
    return 0;
}

int plan_finding_stage(const ck_finding *x)
{
    return strcmp(x->code, "lint.stage_unbuilt") == 0 || strcmp(x->code, "lint.quant_parts_mixed") == 0;
}

int plan_finding_kind(const ck_finding *x)
{
    if (x->sev != SEV_ERROR)
        return 0;
    if (strcmp(x->code, "lint.layout_refused") == 0 || strcmp(x->code, "lint.config_refused") == 0)
        return PLAN_REFUSED;
    if (strcmp(x->code, "lint.tp_indivisible") == 0 || plan_finding_stage(x))
        return PLAN_UNBUILT;
    return 0;
}

int plan_unties_embeddings(const ck_checkpoint *ck)
{
    int64_t tie = 0;
    return config_int(&ck->cfg, "tie_word_embeddings", &tie) == 1 && tie && has_lm_head(ck);
}


static int name_is(const char *a, const char *name, size_t len)
{
    return strlen(a) == len && strncmp(a, name, len) == 0;
}

int plan_lookup(void *envp, const char *name, size_t len, expr_val *out)
{
    plan_env *env = envp;
    const plan *p = env->p;
    memset(out, 0, sizeof *out);
    if (env->caps)
        for (int i = 0; i < env->caps->n_caps; i++)
            if (name_is(env->caps->caps[i].name, name, len)) {
                if (env->uses)
                    *env->uses |= PLAN_USES_CAPS;
                if (env->caps->caps[i].kind == CAP_INT || !env->vals[i].s)
                    out->v = env->vals[i].v; /* an integer capture, or a range variable */
                else {
                    out->is_str = 1;
                    out->s = env->vals[i].s;
                    out->slen = env->vals[i].len;
                }
                return 1;
            }
    for (int i = 0; i < env->n_extra; i++)
        if (name_is(env->extra_n[i], name, len)) {
            if (env->uses)
                *env->uses |= PLAN_USES_EXTRA;
            out->v = env->extra_v[i];
            return 1;
        }
    for (int i = 0; p->lets && i < p->n_lets; i++)
        if (name_is(p->rules->lets[i].name, name, len)) {
            *out = p->lets[i];
            return 1;
        }
    const ck_config *c = p->cfg;
    if (p->layout.untie_embeddings && name_is("tie_word_embeddings", name, len))
        return 1; /* false: vLLM loads the checkpoint's lm_head untied */
    if (name_is("tp_size", name, len) || name_is("pp_size", name, len)) {
        out->v = name[0] == 't' ? p->layout.tp : p->layout.pp;
        return 1;
    }
    if (len > 6 && strncmp(name, "quant_", 6) == 0) {
        /* the module's scheme where the expression is about one (a config group), else the config's */
        const cfg_quant *sq = env->scheme ? env->scheme : c->has_quant ? &c->quant : NULL;
        const char *q = name + 6;
        size_t ql = len - 6;
        if (name_is("method", q, ql)) {
            out->is_str = 1;
            out->s = sq ? sq->method : "none";
            out->slen = strlen(out->s);
            return 1;
        }
        if (name_is("bits", q, ql)) {
            out->v = sq ? sq->bits : 16;
            return 1;
        }
        if (name_is("input_bits", q, ql)) {
            out->v = sq ? sq->input_bits : 16;
            return 1;
        }
        if (name_is("static_input", q, ql)) {
            out->v = sq && sq->static_input == 1;
            return 1;
        }
        if (name_is("desc_act", q, ql)) {
            out->v = sq && sq->desc_act == 1;
            return 1;
        }
        if (name_is("symmetric", q, ql)) {
            out->v = !sq || sq->symmetric != 0; /* unknown: symmetric */
            return 1;
        }
        if (name_is("group_size", q, ql)) {
            out->v = sq ? sq->group_size : 0;
            return 1;
        }
        if (name_is("block_n", q, ql) || name_is("block_k", q, ql)) {
            out->v = sq ? sq->block[q[6] == 'n' ? 0 : 1] : 0;
            return 1;
        }
    }
    for (int i = 0; i < c->n_fields; i++) {
        const cfg_field *fl = &c->fields[i];
        if (!name_is(fl->name, name, len))
            continue;
        switch (fl->kind) {
        case CFG_NULL: out->is_null = 1; break;
        case CFG_BOOL:
        case CFG_NUMBER: out->v = (int64_t)fl->num; break;
        case CFG_STRING:
            out->is_str = 1;
            out->s = fl->str;
            out->slen = strlen(fl->str);
            break;
        case CFG_LIST:
            out->is_list = 1;
            out->list = fl->list;
            out->strs = (const char *const *)fl->strs;
            out->nlist = fl->n_list;
            break;
        }
        return 1;
    }
    return 0;
}

int plan_part_dims(const plan *p, const plan_param *pp, int q, int64_t *rows, int64_t *heads, ck_err *err)
{
    const rules_param *t = &p->rules->params[pp->tmpl];
    static const char *const names[] = {"layer"};
    const int64_t vals[] = {pp->layer};
    plan_env env = {p, NULL, NULL, vals, names, pp->layer >= 0, NULL, NULL};
    expr_val sz, hv;
    *heads = 0;
    if (plan_eval(p, t->parts[q].size, &env, t->line, &sz, err) ||
        (t->parts[q].heads && plan_eval(p, t->parts[q].heads, &env, t->line, &hv, err)))
        return CK_EFORMAT;
    if (sz.is_str || sz.is_null || sz.is_list)
        return ck_err_set(err, CK_EFORMAT, p->rules->path, pp->name, CK_NO_OFFSET, "part '%s' of '%s' (rules line "
                          "%d) has no size here: give it a number", t->parts[q].id, pp->name, t->line);
    *rows = sz.v;
    if (t->parts[q].heads)
        *heads = hv.v;
    return CK_OK;
}

int plan_eval(const plan *p, const expr *e, plan_env *env, int line, expr_val *out, ck_err *err)
{
    expr_err ee;
    if (expr_eval(e, plan_lookup, env, out, &ee) == 0)
        return CK_OK;
    ck_err_set(err, CK_EFORMAT, p->rules->path, NULL, CK_NO_OFFSET, "\"%s\": column %d: %s",
               expr_text(e), ee.col, ee.msg);
    err->line = line;
    return CK_EFORMAT;
}

/* ------------------------------------------------------------------------------------------ */

typedef struct {
    plan *p;
    plan_stage *st;
    const rules_param *t;
    int tmpl;
    pattern_value vals[PATTERN_MAX_CAPS];
    ck_findings *f;
    ck_err *err;
    int reported;       /* construction findings already given for this template */
    uint64_t visits;    /* values its captures' ranges were bound to, all levels (PLAN_MAX_BINDINGS) */
    struct {            /* values of its expressions that no capture decided (x_eval) */
        const expr *e;
        const cfg_quant *scheme;
        int uses;       /* PLAN_USES_EXTRA: the extra names' values below are part of the key */
        int64_t extra[3];
        expr_val v;
    } memo[24];
    int n_memo;
} expander;

/* e evaluated on env (plan_eval), remembered while the template is expanded when no capture
 * decided it: the lets, config.json and the layout stay as they are for the whole expansion, so
 * such a value changes only with the module's scheme and the extra names' values (out, in),
 * which are part of the key. Shapes that are the same on every layer are evaluated once. */
static int x_eval(expander *x, const expr *e, plan_env *env, int line, expr_val *out)
{
    for (int i = 0; i < x->n_memo; i++) {
        if (x->memo[i].e != e || x->memo[i].scheme != env->scheme)
            continue;
        int same = 1;
        for (int k = 0; same && (x->memo[i].uses & PLAN_USES_EXTRA) && k < env->n_extra && k < 3; k++)
            same = x->memo[i].extra[k] == env->extra_v[k];
        if (same) {
            *out = x->memo[i].v;
            return CK_OK;
        }
    }
    int uses = 0;
    env->uses = &uses;
    int rc = plan_eval(x->p, e, env, line, out, x->err);
    env->uses = NULL;
    if (rc == CK_OK && !(uses & PLAN_USES_CAPS) && env->n_extra <= 3 &&
        x->n_memo < (int)(sizeof x->memo / sizeof *x->memo)) {
        x->memo[x->n_memo].e = e;
        x->memo[x->n_memo].scheme = env->scheme;
        x->memo[x->n_memo].uses = uses;
        for (int k = 0; k < 3; k++)
            x->memo[x->n_memo].extra[k] = k < env->n_extra ? env->extra_v[k] : 0;
        x->memo[x->n_memo++].v = *out;
    }
    return rc;
}

/* x_eval of an integer (eval_int's checks). */
static int x_eval_int(expander *x, const expr *e, plan_env *env, int line, int64_t *v)
{
    expr_val r;
    if (x_eval(x, e, env, line, &r))
        return CK_EFORMAT;
    if (r.is_null || r.is_str) {
        ck_err_set(x->err, CK_EFORMAT, x->p->rules->path, NULL, CK_NO_OFFSET, "\"%s\" is %s where a "
                   "number is needed", expr_text(e), r.is_null ? "null" : "a string");
        x->err->line = line;
        return CK_EFORMAT;
    }
    *v = r.v;
    return CK_OK;
}

/* The most bindings one parameter template may have on a stage: a DeepSeek-V3 template has 61
 * (one per layer; experts are one fused parameter); nested ranges of 1000 x 1000 x 1000 would
 * take a billion parameters and tens of GB before anything is said. */
#define PLAN_MAX_BINDINGS 200000

static int stage_add(plan_stage *st, size_t *cap, const plan_param *pp)
{
    if (st->n == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        plan_param *v = realloc(st->params, c * sizeof *v);
        if (!v)
            return -1;
        st->params = v;
        *cap = c;
    }
    st->params[st->n] = *pp;
    if (strmap_put(&st->by_name, st->params[st->n].name, st->n, NULL) < 0)
        return -1;
    st->n++;
    return 0;
}

/* A size the layout's TP does not divide: the model cannot be built (lint.tp_indivisible). */
static void construct_finding(expander *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void construct_finding(expander *x, const char *fmt, ...)
{
    if (x->reported)
        return;
    x->reported = 1;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char where[64];
    snprintf(where, sizeof where, "%s:%d", x->p->rules->path, x->t->line);
    findings_add(x->f, "lint.tp_indivisible", SEV_ERROR, where, x->t->name.text, UINT64_MAX, "%s",
                 msg);
}

/* "1, 2, 4": the tensor-parallel sizes up to 64 that divide `size` into shards of whole multiples
 * of `unit` (1: any divisor) and, when heads > 0, divide the attention heads too (vLLM refuses
 * the others first), for a message's advice. */
static const char *tp_sizes(int64_t size, int64_t unit, int64_t heads, char *buf, size_t n)
{
    size_t w = 0;
    buf[0] = 0;
    for (int64_t t = 1; t <= 64 && size > 0 && unit > 0; t++)
        if (size % t == 0 && (size / t) % unit == 0 && (heads <= 0 || heads % t == 0) && w < n)
            w += (size_t)snprintf(buf + w, n - w, "%s%lld", w ? ", " : "", (long long)t);
    if (!w)
        snprintf(buf, n, "none (quantize again with a smaller group_size)");
    return buf;
}

/* config.json's num_attention_heads, 0 when it has none. */
static int64_t plan_heads(const plan *p)
{
    plan_env env = {p, NULL, NULL, NULL, NULL, 0, NULL, NULL};
    expr_val v;
    return plan_lookup(&env, "num_attention_heads", 19, &v) && !v.is_null && !v.is_str ? v.v : 0;
}

/* Local (one TP rank) size of `size` split `ways`; a finding when it does not divide. */
static int64_t split(expander *x, int64_t size, int ways, const char *what)
{
    if (ways <= 1)
        return size;
    if (size % ways)
        construct_finding(x, "%s %lld is not divisible by tensor-parallel size %d: the model "
                          "cannot be built (vLLM: AssertionError: %lld is not divisible by %d)",
                          what, (long long)size, ways, (long long)size, ways);
    return size / ways;
}

/* split(), or a TP rank's share of `size` (the split dim) where the rule rounds shares to whole
 * units of `granule` (> 1): ceil_div(size / granule, ways) units, the last ranks less (see shard.c); the
 * whole units, as vLLM's MXFP4 loader counts them (intermediate_size // 32). */
static int64_t split_units(expander *x, int64_t size, int ways, int64_t granule, const char *what)
{
    if (granule <= 1)
        return split(x, size, ways, what);
    return ways <= 1 ? size : (size / granule + ways - 1) / ways * granule;
}

/* The module a linear template names with the current captures: vLLM's prefix (strip_prefix put
 * back, less ".weight"), "" when it cannot be formed. */
static void module_name(expander *x, char *mod, size_t size)
{
    const rules_param *t = x->t;
    int si = pattern_cap_index(&t->name, "suffix", 6);
    if (si >= 0) {
        x->vals[si].s = "weight";
        x->vals[si].len = 6;
    }
    size_t sp = strlen(x->p->rules->strip_prefix);
    snprintf(mod, size, "%s", x->p->rules->strip_prefix);
    if (sp < size && pattern_format(&t->name, x->vals, mod + sp, size - sp) > 7)
        mod[strlen(mod) - 7] = 0;
    else
        mod[0] = 0;
}

#define MAX_PART_MODULES 8

/* The modules of the key rules that fill a part of x's fused template, formatted with the same
 * captures, as vLLM's packed_modules_mapping names them (strip_prefix and the key's module:
 * "model.layers.0.self_attn.q_proj", "...k_proj", "...v_proj" for qkv_proj), into names and
 * parts (NULL after the last); how many. */
static int part_modules(expander *x, char names[][512], const char **parts)
{
    const rules_param *t = x->t;
    const rules_file *r = x->p->rules;
    int n = 0;
    size_t sp = strlen(r->strip_prefix);
    for (int i = 0; t->n_parts && i < r->n_keys && n < MAX_PART_MODULES; i++) {
        const rules_key *k = &r->keys[i];
        if (!k->part || strcmp(k->param.text, t->name.text) != 0)
            continue;
        pattern_value v[PATTERN_MAX_CAPS];
        memset(v, 0, sizeof v);
        for (int c = 0; c < k->key.n_caps; c++) { /* the key's captures by name from the template's */
            const char *cn = k->key.caps[c].name;
            int tc = pattern_cap_index(&t->name, cn, strlen(cn));
            if (tc >= 0)
                v[c] = x->vals[tc];
            else if (strcmp(cn, "suffix") == 0)
                v[c] = (pattern_value){"weight", 6, 0};
        }
        snprintf(names[n], sizeof names[n], "%s", r->strip_prefix);
        if (pattern_format(&k->key, v, names[n] + sp, sizeof names[n] - sp) > 7) {
            names[n][strlen(names[n]) - 7] = 0; /* less ".weight" */
            parts[n] = names[n];
            n++;
        }
    }
    parts[n] = NULL;
    return n;
}

/* The scheme of the linear module x's template names with its captures (mod, vLLM's prefix):
 * config_scheme, with a fused module's components (vLLM's packed_modules_mapping) taken from the
 * rules themselves (part_modules). */
static const cfg_quant *module_scheme(expander *x, const char *mod)
{
    char names[MAX_PART_MODULES][512];
    const char *parts[MAX_PART_MODULES + 1];
    int n = part_modules(x, names, parts);
    return config_scheme(x->p->cfg, mod, n ? parts : NULL);
}

/* vLLM's own name of module mod (strip_prefix and the loader's name): under the wrapper, its
 * module before it ("language_model.model.layers.0.mlp"), or the wrapper's own modules' names
 * without strip_prefix ("visual.blocks.0.attn.qkv"). */
static const char *vllm_module(const plan *p, const char *mod, char *buf, size_t size)
{
    const rules_file *r = p->rules;
    const char *path = mod + strlen(r->strip_prefix);
    int wrapped = p->wrapper && p->wrapper[0];
    if (wrapped && under_module(path, strlen(path), r->wrapper_modules, r->n_wrapper_modules))
        snprintf(buf, size, "%s", path);
    else
        snprintf(buf, size, "%s%s", wrapped ? p->wrapper : "", mod);
    return buf;
}

/* Whether a line of lines (an fp8 or compressed-tensors list of float modules) names module `mod`
 * (strip_prefix and the loader's name). vLLM maps the list with the model's WeightsMapper before
 * it compares, as it maps the checkpoint's keys, so a name counts as the checkpoint would store
 * the module: under the wrapper, one of also_strip in place of strip_prefix (the wrapper's own
 * modules keep strip_prefix, or all do without strip_modules_only); elsewhere strip_prefix or one
 * of outer.also_strip; or vLLM's own name, which the mapper leaves as it is. A "re:" line
 * (compressed-tensors' only: re) is left alone by the mapper and matched from the start of vLLM's
 * own name. */
static int listed_as_stored(const plan *p, const char *lines, const char *mod, int re)
{
    const rules_file *r = p->rules;
    size_t sp = strlen(r->strip_prefix);
    const char *path = mod + sp;
    int wrapped = p->wrapper && p->wrapper[0];
    char *const *pre = wrapped ? r->also_strip : r->outer_strip;
    int npre = wrapped ? r->n_also_strip : r->n_outer_strip;
    int as_is = !wrapped || !r->wrapper_strip_modules_only ||
                under_module(path, strlen(path), r->wrapper_modules, r->n_wrapper_modules);
    char vname[1024];
    vllm_module(p, mod, vname, sizeof vname);
    for (const char *q = lines; q && *q;) {
        const char *e = strchr(q, '\n');
        size_t l = e ? (size_t)(e - q) : strlen(q);
        if (re && l > 3 && strncmp(q, "re:", 3) == 0) {
            if (config_target_matches(q, l, vname))
                return 1;
        } else {
            /* as stored, or already in vLLM's own names (which its mapper leaves as they are) */
            if ((as_is && strlen(mod) == l && strncmp(mod, q, l) == 0) || (strlen(vname) == l && strncmp(vname, q, l) == 0))
                return 1;
            for (int i = 0; i < npre; i++) {
                size_t al = strlen(pre[i]);
                if (l == al + strlen(path) && strncmp(q, pre[i], al) == 0 && strncmp(q + al, path, l - al) == 0)
                    return 1;
            }
        }
        q = e ? e + 1 : q + l;
    }
    return 0;
}

static void stage_where(const plan *p, int s, char *buf, size_t n);

/* Whether the fp8 or compressed-tensors list of float modules leaves x's module `mod` float (vLLM's
 * is_layer_skipped, should_ignore_layer): the fused module named itself, or every part of it;
 * some parts but not all: vLLM refuses to build the layer (a finding). re: whether "re:" lines
 * are patterns. */
static int list_ignores(expander *x, const char *mod, const char *lines, int re)
{
    if (listed_as_stored(x->p, lines, mod, re))
        return 1;
    char names[MAX_PART_MODULES][512];
    const char *parts[MAX_PART_MODULES + 1];
    int n = part_modules(x, names, parts), hit = 0;
    if (!re && !n && strstr(mod, "experts")) {
        /* fp8's exact match, for a module of an "experts" name that fuses nothing (a shared
         * expert's down_proj): ignored where it is part of a listed name that holds "experts" */
        const char *path = mod + strlen(x->p->rules->strip_prefix);
        for (const char *q = lines; q && *q;) {
            const char *e = strchr(q, '\n');
            size_t l = e ? (size_t)(e - q) : strlen(q);
            if (memmem(q, l, "experts", 7) && memmem(q, l, path, strlen(path)))
                return 1;
            q = e ? e + 1 : q + l;
        }
    }
    for (int i = 0; i < n; i++)
        hit += listed_as_stored(x->p, lines, parts[i], re);
    if (hit && hit < n) {
        char in[256], out[256], vname[600];
        size_t wi = 0, wo = 0;
        in[0] = out[0] = 0;
        for (int i = 0; i < n; i++) {
            const char *leaf = strrchr(parts[i], '.') ? strrchr(parts[i], '.') + 1 : parts[i];
            if (listed_as_stored(x->p, lines, parts[i], re))
                wi += wi < sizeof in ? (size_t)snprintf(in + wi, sizeof in - wi, "%s%s", wi ? ", " : "", leaf) : 0;
            else
                wo += wo < sizeof out ? (size_t)snprintf(out + wo, sizeof out - wo, "%s%s", wo ? ", " : "", leaf) : 0;
        }
        /* the stages that build this layer cannot be built (lint.quant_parts_mixed), the first
         * such module on each says why */
        plan_stage *st = x->st;
        if (!st->build_error[0]) {
            char where[64], at[96];
            vllm_module(x->p, mod, vname, sizeof vname);
            if (re)
                snprintf(st->build_error, sizeof st->build_error, "ValueError: Found different quantization "
                         "schemes for the shards of %.120s. vLLM requires all to use the same scheme.", vname);
            else
                snprintf(st->build_error, sizeof st->build_error, "ValueError: Detected some but not all shards "
                         "of %.120s are quantized. All shards of fused layers to have the same precision.", vname);
            snprintf(where, sizeof where, "%s:%d", x->p->rules->path, x->t->line);
            stage_where(x->p, st->stage, at, sizeof at);
            findings_add(x->f, "lint.quant_parts_mixed", SEV_ERROR, where, x->t->name.text, UINT64_MAX,
                         "%s: the model cannot be built: %s (%s names %s and not %s, which vLLM fuses into one "
                         "module: name all of them, or none, and store them alike)", at, st->build_error,
                         x->p->cfg->not_convert_key, in, out);
        }
    }
    return hit > 0; /* all parts named; or some, where vLLM stops before the load (planned float,
                     * as the list meant, so that the load says nothing more of them) */
}

/* The filtered variant of scheme q (one of p->schemes; NULL: unquantized, the config's). */
static const rules_quant *scheme_rules(const plan *p, const cfg_quant *q)
{
    for (int i = 0; i < p->n_schemes; i++)
        if (p->schemes[i].q == q)
            return &p->schemes[i].v;
    return p->quant;
}

static int emit(expander *x, size_t *cap, int layer)
{
    plan *p = x->p;
    const rules_param *t = x->t;
    /* a linear's scheme: its config group's where the config has groups, else the config's */
    const cfg_quant *sq = p->cfg->has_quant ? &p->cfg->quant : NULL;
    char mod[512] = ""; /* a linear's module as the checkpoint names it (config groups, lists, messages) */
    if (t->linear)
        module_name(x, mod, sizeof mod);
    if (t->linear && p->cfg->n_groups)
        sq = t->experts ? config_scheme_experts(p->cfg) : module_scheme(x, mod);
    const rules_quant *q = scheme_rules(p, sq);
    int nsuf = t->linear ? q->n_suffixes : 1;
    /* a module the config or the checkpoint leaves unquantized (a plain weight): no config group
     * targets it, or the method quantizes the experts alone, or the config's list names it
     * (modules_to_not_convert and the like), or vLLM derives so from the stored dtypes */
    int plain = t->linear && p->cfg->has_quant && (!sq || (q->experts_only && !t->experts));
    /* compressed-tensors checks its ignore list before any target: fused parts it names apart
     * stop the build even where no config group targets the module */
    if (plain && !sq && !t->experts && mod[0] && p->cfg->not_convert && strcmp(p->cfg->quant.method, "compressed-tensors") == 0)
        (void)list_ignores(x, mod, p->cfg->not_convert, 1);
    if (t->linear && !t->experts && !plain && (p->cfg->not_convert || p->layout.unconverted)) {
        if (mod[0]) {
            /* compressed-tensors and fp8 match names exactly (compressed-tensors "re:" patterns
             * too), fused modules part by part; AWQ and GPTQ by substring, ModelOpt by substring
             * or wildcard */
            const char *qm = p->cfg->has_quant ? p->cfg->quant.method : "";
            int ct = strcmp(qm, "compressed-tensors") == 0;
            plain = (ct || strcmp(qm, "fp8") == 0 ? list_ignores(x, mod, p->cfg->not_convert, ct)
                     : listed(p->cfg->not_convert, mod, strcmp(qm, "modelopt") == 0 ? LISTED_WILDCARD : 0)) ||
                    listed(p->layout.unconverted, mod, 0);
        }
    }
    int tp = p->layout.tp, ep = p->layout.ep;
    plan_env env = {p, &t->name, x->vals, NULL, NULL, 0, sq, NULL};
    int64_t full[PLAN_MAX_DIMS] = {0}, out = 0, in = 0, experts = 0;
    if (t->experts && x_eval_int(x, t->experts, &env, t->line, &experts))
        return -1;
    for (int d = 0; d < t->ndim; d++)
        if (x_eval_int(x, t->shape[d], &env, t->line, &full[d]))
            return -1;
    if (t->linear) {
        out = full[0];
        in = full[1];
    }
    /* the TP split of a linear's [out, in] */
    int64_t lout = out, lin = in;
    int block_n = sq ? sq->block[0] : 0;
    int block_k = sq ? sq->block[1] : 0;
    int fp8_block = !plain && sq && strcmp(sq->method, "fp8") == 0 && block_n > 0; /* a float module: no blocks */
    int64_t granule = 1; /* shares rounded to whole units of it (tp_granule) */
    if (t->tp_granule && x_eval_int(x, t->tp_granule, &env, t->line, &granule))
        return -1;
    if (!t->linear && t->shard == SHARD_COLUMN && t->n_parts) /* a fused bias, say */
        out = full[0];
    if (t->linear || (t->shard == SHARD_COLUMN && t->n_parts)) {
        int col = t->shard == SHARD_COLUMN || (t->shard == SHARD_EXPERT && t->expert_shard == EXPERT_SHARD_COLUMN && !ep);
        int row = t->shard == SHARD_ROW || (t->shard == SHARD_EXPERT && t->expert_shard == EXPERT_SHARD_ROW && !ep);
        if (col && t->n_parts) {
            lout = 0;
            for (int k = 0; k < t->n_parts; k++) {
                int64_t ps, heads = 0, lp;
                if (x_eval_int(x, t->parts[k].size, &env, t->line, &ps) ||
                    (t->parts[k].heads && x_eval_int(x, t->parts[k].heads, &env, t->line, &heads)))
                    return -1;
                /* vLLM's QKVParallelLinear: fewer kv heads than ranks, one head per rank */
                if (heads > 0 && heads < tp && tp % heads)
                    construct_finding(x, "%lld key/value heads cannot be replicated over %d "
                                      "tensor-parallel ranks (vLLM: assert tp_size %% "
                                      "total_num_kv_heads == 0)", (long long)heads, tp);
                else if (heads >= tp && heads % tp)
                    construct_finding(x, "%lld heads are not divisible by tensor-parallel size "
                                      "%d (vLLM: AssertionError: %lld is not divisible by %d)",
                                      (long long)heads, tp, (long long)heads, tp);
                lp = heads > 0 ? shard_part_rows(ps, heads, tp) : split(x, ps, tp, "output size");
                /* a fused linear of several parts, one of which splits a block, skips vLLM's block
                 * check altogether (_maybe_allow_fp8_block_shape_mismatch); fused experts do not,
                 * at any TP (validate_fp8_block_shape_moe) */
                if (fp8_block && lp % block_n && (t->experts || (tp > 1 && t->n_parts == 1)))
                    construct_finding(x, t->experts ? "The output_size of gate's and up's weight = %lld "
                                      "is not divisible by weight quantization block_n = %d."
                                      : "Weight output_partition_size = %lld is not divisible by "
                                      "weight quantization block_n = %d.", (long long)lp, block_n);
                lout += lp;
            }
        } else if (col) {
            lout = split_units(x, out, tp, granule, "output size");
            if (fp8_block && tp > 1 && lout % block_n)
                construct_finding(x, "Weight output_partition_size = %lld is not divisible by "
                                  "weight quantization block_n = %d.", (long long)lout, block_n);
        }
        if (row) {
            lin = split_units(x, in, tp, granule, "input size");
            if (fp8_block && tp > 1 && lin % block_k)
                construct_finding(x, t->experts ? "The input_size of down's weight = %lld is not "
                                  "divisible by weight quantization block_k = %d."
                                  : "Weight input_size_per_partition = %lld is not divisible by "
                                  "weight quantization block_k = %d.", (long long)lin, block_k);
        }
        /* expert parallelism: each rank holds its experts whole, and vLLM checks their whole
         * intermediate size against block_n (and block_k where TP > 1) */
        if (fp8_block && t->experts && ep) {
            int64_t isz = in;
            if (t->expert_shard == EXPERT_SHARD_COLUMN && t->n_parts &&
                x_eval_int(x, t->parts[0].size, &env, t->line, &isz))
                return -1;
            if (t->expert_shard == EXPERT_SHARD_COLUMN && isz % block_n)
                construct_finding(x, "The output_size of gate's and up's weight = %lld is not divisible by "
                                  "weight quantization block_n = %d.", (long long)isz, block_n);
            else if (t->expert_shard == EXPERT_SHARD_ROW && tp > 1 && isz % block_k)
                construct_finding(x, "The input_size of down's weight = %lld is not divisible by weight "
                                  "quantization block_k = %d.", (long long)isz, block_k);
        }
        /* AWQ: vLLM's CUDA kernels need whole groups per shard and whole int32 words of output
         * (AutoAWQLinearMethod.create_weights, where Marlin does not take the layer); its CPU path
         * floors the groups and loads the layer without scales */
        const cfg_quant *aq = plain ? NULL : sq;
        if (t->linear && !t->experts && aq && strcmp(aq->method, "awq") == 0) {
            int pf = 32 / (aq->bits > 0 ? aq->bits : 4);
            char sizes[256];
            if (aq->group_size > 0 && lin % aq->group_size)
                construct_finding(x, "ValueError: The input size is not aligned with the quantized weight shape. "
                                  "This can be caused by too large tensor parallel size. (vLLM's AWQ on CUDA: %lld "
                                  "inputs per rank are not whole groups of %d; its CPU path loads the layer with no "
                                  "scales at all; --tp sizes that keep whole groups here: %s)", (long long)lin,
                                  aq->group_size, tp_sizes(in, aq->group_size, plan_heads(p), sizes, sizeof sizes));
            else if (lout % pf)
                construct_finding(x, "ValueError: The output size is not aligned with the quantized weight shape. "
                                  "This can be caused by too large tensor parallel size. (vLLM's AWQ on CUDA: %lld "
                                  "outputs per rank are not whole int32 words of %d)", (long long)lout, pf);
        }
        /* compressed-tensors WNA16 (pack-quantized, group strategy): every shard holds whole
         * quant groups (vLLM's verify_group_size_divides_partition) */
        const cfg_quant *cq = plain ? NULL : sq;
        if (t->linear && !t->experts && cq && strcmp(cq->method, "compressed-tensors") == 0 &&
            strcmp(cq->fmt, "pack-quantized") == 0 && cq->group_size > 0 && lin % cq->group_size) {
            char sizes[256];
            construct_finding(x, "ValueError: Weight input_size_per_partition=%lld for layer '%s' is "
                              "not divisible by group_size=%d. This happens when tensor_parallel_size "
                              "splits the layer input into shards that are not a whole number of quant "
                              "groups. Consider reducing tensor_parallel_size. (--tp sizes that keep whole "
                              "groups here: %s)", (long long)lin, mod, cq->group_size,
                              tp_sizes(in, cq->group_size, plan_heads(p), sizes, sizeof sizes));
        }
    }
    int64_t lexperts = experts, first;
    shard_expert_range(p, experts, 0, &first, &lexperts); /* the most any rank holds: rank 0's */
    if (plain)
        nsuf = 1;
    for (int s = 0; s < nsuf; s++) {
        plan_param pp;
        memset(&pp, 0, sizeof pp);
        pp.tmpl = x->tmpl;
        pp.suffix = t->linear ? s : -1;
        pp.quant = q;
        pp.scheme = sq;
        pp.layer = layer;
        pp.out = out;
        pp.in = in;
        pp.experts = experts;
        int si = pattern_cap_index(&t->name, "suffix", 6);
        if (si >= 0) {
            x->vals[si].s = plain ? "weight" : q->suffixes[s].suffix;
            x->vals[si].len = strlen(x->vals[si].s);
        }
        if (plain)
            pp.suffix = -1;
        char name[512];
        if (pattern_format(&t->name, x->vals, name, sizeof name) < 0 || !(pp.name = strdup(name))) {
            ck_err_set(x->err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "parameter name too long or out of memory");
            return -1;
        }
        int d0 = 0;
        if (experts) {
            pp.full[0] = (uint64_t)experts;
            pp.local[0] = (uint64_t)lexperts;
            d0 = 1;
        }
        if (t->linear && !plain && q->suffixes[s].shape) {
            for (int pass = 0; pass < 2; pass++) {
                const char *names[3] = {"out", "in", "parts"}; /* parts: the fused parts, 1 if none */
                int64_t v[3] = {pass ? lout : out, pass ? lin : in, t->n_parts ? t->n_parts : 1};
                plan_env e2 = {p, &t->name, x->vals, v, names, 3, sq, NULL};
                int nd = 0;
                for (int d = 0; d < q->suffixes[s].ndim && d0 + nd < PLAN_MAX_DIMS; d++) {
                    int64_t dim;
                    /* per-tensor scales of unfused experts (w2) are one value per expert: vLLM's
                     * FusedMoE keeps [experts], not [experts, 1] */
                    if (experts && !t->n_parts && q->suffixes[s].per_part)
                        continue;
                    if (x_eval_int(x, q->suffixes[s].shape[d], &e2, t->line, &dim)) {
                        free(pp.name);
                        return -1;
                    }
                    (pass ? pp.local : pp.full)[d0 + nd++] = (uint64_t)dim;
                }
                pp.ndim = d0 + nd;
            }
        } else if (t->linear) {
            pp.full[d0] = (uint64_t)out;
            pp.full[d0 + 1] = (uint64_t)in;
            pp.local[d0] = (uint64_t)lout;
            pp.local[d0 + 1] = (uint64_t)lin;
            pp.ndim = d0 + 2;
        } else {
            for (int d = 0; d < t->ndim && d0 + d < PLAN_MAX_DIMS; d++)
                pp.full[d0 + d] = pp.local[d0 + d] = (uint64_t)full[d];
            pp.ndim = d0 + t->ndim;
            if (t->shard == SHARD_COLUMN && t->n_parts && t->ndim >= 1)
                pp.local[d0] = (uint64_t)lout;
            else if (t->shard == SHARD_VOCAB && t->ndim >= 1)
                pp.local[d0] = (uint64_t)split(x, shard_padded_vocab(full[0]), tp, "padded vocabulary");
            else if (t->shard == SHARD_COLUMN && t->ndim >= 1)
                pp.local[d0] = (uint64_t)split(x, full[0], tp, "size");
            else if (t->shard == SHARD_ROW && t->ndim >= 2)
                pp.local[d0 + 1] = (uint64_t)split(x, full[1], tp, "size");
            else if (t->shard == SHARD_EXPERT && !ep && t->expert_shard == EXPERT_SHARD_COLUMN && t->ndim >= 1)
                pp.local[d0] = (uint64_t)split_units(x, full[0], tp, granule, "size"); /* an expert's bias */
            else if (t->shard == SHARD_EXPERT && !ep && t->expert_shard == EXPERT_SHARD_ROW && t->ndim >= 2)
                pp.local[d0 + 1] = (uint64_t)split(x, full[1], tp, "size");
        }
        if (stage_add(x->st, cap, &pp) != 0) {
            free(pp.name);
            ck_err_set(x->err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* Binds capture k (and the rest after it) to every value of its range, then emits. */
static int expand(expander *x, size_t *cap, int k)
{
    const rules_param *t = x->t;
    plan *p = x->p;
    plan_env env = {p, &t->name, x->vals, NULL, NULL, 0, NULL, NULL};
    if (k == t->name.n_caps) {
        if (t->when) {
            expr_val w;
            if (x_eval(x, t->when, &env, t->line, &w))
                return -1;
            if (!expr_truthy(&w))
                return 0;
        }
        int li = pattern_cap_index(&t->name, "layer", 5);
        int layer = li >= 0 ? (int)x->vals[li].v : -1;
        const plan_stage *st = x->st;
        int here = t->stage == STAGE_ALL || (t->stage == STAGE_FIRST && st->first) ||
                   (t->stage == STAGE_EDGES && (st->first || st->last)) ||
                   (t->stage == STAGE_LAST && st->last) ||
                   (t->stage == STAGE_LAYER && layer >= st->layer_start && layer < st->layer_end);
        return here ? emit(x, cap, layer) : 0;
    }
    if (strcmp(t->name.caps[k].name, "suffix") == 0)
        return expand(x, cap, k + 1); /* bound per suffix in emit */
    const rules_range *rg = NULL;
    for (int i = 0; i < p->rules->n_ranges; i++)
        if (strcmp(p->rules->ranges[i].name, t->name.caps[k].name) == 0)
            rg = &p->rules->ranges[i];
    int64_t lo, hi;
    if (!rg || x_eval_int(x, rg->lo, &env, t->line, &lo) || x_eval_int(x, rg->hi, &env, t->line, &hi))
        return rg ? -1 : ck_err_set(x->err, CK_EFORMAT, p->rules->path, NULL, CK_NO_OFFSET,
                                    "no range for {%s}", t->name.caps[k].name);
    if (hi - lo > 1000000)
        return ck_err_set(x->err, CK_EFORMAT, p->rules->path, NULL, CK_NO_OFFSET, "range of {%s} "
                          "has %lld values", t->name.caps[k].name, (long long)(hi - lo));
    for (int64_t v = lo; v < hi; v++) {
        if (++x->visits > PLAN_MAX_BINDINGS) /* every binding tried counts, not only the last capture's */
            return ck_err_set(x->err, CK_EFORMAT, p->rules->path, t->name.text, CK_NO_OFFSET, "params line %d: "
                              "the ranges of this template's captures bind it more than %d times on one stage: "
                              "no model has that many parameters of one kind (nested ranges multiply): narrow the "
                              "\"ranges\" its captures use", t->line, PLAN_MAX_BINDINGS);
        x->vals[k].v = v;
        if (expand(x, cap, k + 1))
            return -1;
    }
    return 0;
}

int64_t plan_experts(const plan *p)
{
    for (int st = 0; st < p->layout.pp; st++)
        for (size_t i = 0; i < p->stages[st].n; i++)
            if (p->stages[st].params[i].experts)
                return p->stages[st].params[i].experts;
    return 0;
}

/* "ranks 0-3 (PP stage 1), layers 4-7": where a stage's finding is. */
static void stage_where(const plan *p, int s, char *buf, size_t n)
{
    const plan_stage *st = &p->stages[s];
    int w = p->layout.tp > 1 ? snprintf(buf, n, "ranks %d-%d (PP stage %d), ", s * p->layout.tp,
                                        (s + 1) * p->layout.tp - 1, s)
                             : snprintf(buf, n, "rank %d (PP stage %d), ", s, s);
    if (st->layer_end > st->layer_start)
        snprintf(buf + w, n - (size_t)w, "layers %d-%d", st->layer_start, st->layer_end - 1);
    else
        snprintf(buf + w, n - (size_t)w, "no layers");
}

/* Whether q's assertion holds on pipeline stage s, whose layers are [start, end), of the layout
 * tp x pp: 1, 0, or -1 with err filled. Besides the config, lets and tp_size/pp_size, the
 * assertion may name the stage: pp_rank, start_layer and end_layer (then PLAN_USES_EXTRA is ORed
 * into *uses, when uses is not NULL). */
static int assert_holds(plan *p, const rules_stage_req *q, int tp, int pp, int s, int start, int end, int *uses,
                        ck_err *err)
{
    static const char *const names[] = {"pp_rank", "start_layer", "end_layer"};
    const int64_t vals[] = {s, start, end};
    plan_layout keep = p->layout;
    p->layout.tp = tp;
    p->layout.pp = pp;
    plan_env env = {p, NULL, NULL, vals, names, 3, NULL, uses};
    expr_val v;
    int rc = plan_eval(p, q->cond, &env, q->line, &v, err);
    p->layout = keep;
    return rc ? -1 : !v.is_null && !v.is_str && v.v != 0;
}

/* Whether q's assertion holds on every stage of tp x pp that makes it (each stage for a model's
 * assertion, the stages that build a layer for a layer's), the stages split as the layout's own
 * --pp-partition when own is set, else by vLLM's default split: 1, 0, or -1 with err. */
static int assert_holds_all(plan *p, const rules_stage_req *q, int tp, int pp, int own, int *uses, ck_err *err)
{
    plan_layout lay = p->layout;
    if (!own) {
        lay.has_partition = 0;
        memset(lay.partition, 0, sizeof lay.partition);
    }
    lay.pp = pp;
    for (int s = 0; s < pp; s++) {
        int a, b;
        if (plan_pp_indices(p->num_layers, &lay, s, &a, &b, err) != CK_OK)
            return -1;
        if (a == b && !q->model)
            continue;
        int h = assert_holds(p, q, tp, pp, s, a, b, uses, err);
        if (h <= 0)
            return h;
    }
    return 1;
}

/* An assertion's error text with each {EXPR} (a config field, a let, tp_size, or an expression of
 * them and of stage s's pp_rank, start_layer and end_layer) replaced by its value (the sizes
 * Python's message prints, a string as it is); braces that hold no such expression stay. */
static void fill_names(const plan *p, const char *text, int s, char *buf, size_t size)
{
    static const char *const names[] = {"pp_rank", "start_layer", "end_layer"};
    const int64_t vals[] = {s, p->stages[s].layer_start, p->stages[s].layer_end};
    plan_env env = {p, NULL, NULL, vals, names, 3, NULL, NULL};
    size_t n = 0;
    for (const char *c = text; *c && n + 1 < size; c++) {
        const char *e = *c == '{' ? strchr(c, '}') : NULL;
        char one[2048];
        expr_err xe;
        expr *x = e && e > c + 1 && (size_t)(e - c) < sizeof one
                  ? (snprintf(one, sizeof one, "%.*s", (int)(e - c - 1), c + 1), expr_compile(one, &xe)) : NULL;
        expr_val v;
        ck_err ignored;
        int ok = x && plan_eval(p, x, &env, 0, &v, &ignored) == 0 && !v.is_null && !v.is_list;
        if (ok) {
            n += v.is_str ? (size_t)snprintf(buf + n, size - n, "%.*s", (int)v.slen, v.s)
                          : (size_t)snprintf(buf + n, size - n, "%lld", (long long)v.v);
            if (n >= size)
                n = size - 1;
            c = e;
        } else
            buf[n++] = *c;
        expr_free(x); /* (after the copy: a string may be the expression's own) */
    }
    buf[n] = 0;
}

/* An assertion the construction makes on the config and the layout (a decoder layer's, made on
 * the stages that build a layer, or with "model" the model's own, made on every stage): each
 * stage where it is false cannot be built, and gets a finding that says which --tp at this --pp,
 * and which --pp at this --tp, would hold. */
static int stage_assert(plan *p, const rules_stage_req *q, ck_findings *f, ck_err *err)
{
    int stage_dep = 0; /* whether the assertion names the stage: the split then matters */
    int holds = assert_holds_all(p, q, p->layout.tp, p->layout.pp, 1, &stage_dep, err);
    if (holds != 0)
        return holds < 0 ? -1 : 0;
    char tps[160] = "", pps[200] = "", where[64], at[96];
    size_t wt = 0, wp = 0;
    int nt = 0, np = 0; /* how many hold: "--pp 1 holds it", "--pp 1, 2 hold it" */
    for (int t = 1; t <= 64; t *= 2) {
        int h = assert_holds_all(p, q, t, p->layout.pp, 1, NULL, err);
        if (h < 0)
            return -1;
        if (h && ++nt)
            wt += (size_t)snprintf(tps + wt, sizeof tps - wt, "%s%d", wt ? ", " : "--tp ", t);
    }
    snprintf(tps + wt, sizeof tps - wt, "%s at --pp %d", !wt ? "no --tp up to 64 holds it" : nt == 1 ? " holds it" : " hold it",
             p->layout.pp);
    for (int pp = 1; pp <= 16 && pp <= PLAN_MAX_PP && wp < sizeof pps - 8; pp++) {
        int h = assert_holds_all(p, q, p->layout.tp, pp, 0, NULL, err);
        if (h < 0)
            return -1;
        if (h && ++np)
            wp += (size_t)snprintf(pps + wp, sizeof pps - wp, "%s%d", wp ? ", " : "--pp ", pp);
    }
    snprintf(pps + wp, sizeof pps - wp, "%s at --tp %d%s", wp ? np == 1 ? " holds it" : " hold it" : "no --pp up to 16 does",
             p->layout.tp, p->layout.has_partition && stage_dep ? " with vLLM's default split" : "");
    /* an assertion on the split (Gemma 4's KV-shared layers with the layers they read): at two
     * stages, the partitions that hold it, the most even first */
    if (stage_dep && p->layout.pp == 2 && p->num_layers >= 2) {
        plan_layout keep = p->layout;
        char parts[96] = "";
        size_t wq = 0;
        int nq = 0, L = p->num_layers;
        for (int k = 0; k < 2 * L && nq < 3; k++) {
            int a = L / 2 + (k % 2 ? -(k + 1) / 2 : k / 2); /* L/2, L/2 - 1, L/2 + 1, ... */
            if (a < 1 || a >= L)
                continue;
            p->layout.has_partition = 1;
            p->layout.partition[0] = a;
            p->layout.partition[1] = p->num_layers - a;
            int h = assert_holds_all(p, q, keep.tp, 2, 1, NULL, err);
            p->layout = keep;
            if (h < 0)
                return -1;
            if (h && wq < sizeof parts - 24)
                wq += (size_t)snprintf(parts + wq, sizeof parts - wq, "%s%d,%d", nq++ ? " or " : "", a, L - a);
        }
        size_t l = strlen(pps);
        if (nq)
            snprintf(pps + l, sizeof pps - l, "; at --pp 2, --pp-partition %s%s", parts,
                     nq == 1 ? " holds it" : " (the most even first) hold it");
    }
    snprintf(where, sizeof where, "%s:%d", p->rules->path, q->line);
    for (int s = 0; s < p->layout.pp; s++) {
        plan_stage *st = &p->stages[s];
        if ((st->layer_end == st->layer_start && !q->model) || st->build_error[0])
            continue; /* no layer is built there, so a layer's assertion is not made */
        int h = assert_holds(p, q, p->layout.tp, p->layout.pp, s, st->layer_start, st->layer_end, NULL, err);
        if (h < 0)
            return -1;
        if (h)
            continue;
        fill_names(p, q->error, s, st->build_error, sizeof st->build_error);
        stage_where(p, s, at, sizeof at);
        char cond[200]; /* the condition, or where it is written when it runs long */
        if (strlen(expr_text(q->cond)) < sizeof cond)
            snprintf(cond, sizeof cond, "%s", expr_text(q->cond));
        else
            snprintf(cond, sizeof cond, "the condition of %s", where);
        if (!wt && !wp) /* no layout helps: a setting of config.json */
            findings_add(f, "lint.stage_unbuilt", SEV_ERROR, where, "", UINT64_MAX, "%s: the model cannot be "
                         "built: %s (its construction asserts %s, false whatever the layout (--tp up to 64, --pp "
                         "up to 16): config.json must change)", at, st->build_error, cond);
        else
            findings_add(f, "lint.stage_unbuilt", SEV_ERROR, where, "", UINT64_MAX, "%s: the model cannot be built: "
                         "%s (its construction asserts %s, false at --tp %d --pp %d; %s; %s)", at, st->build_error,
                         cond, p->layout.tp, p->layout.pp, tps, pps);
    }
    return 0;
}

/* A stage without a parameter of the template q names cannot be built (or, for an assertion,
 * stage_assert): its error, and a finding. */
static int stage_require(plan *p, const rules_stage_req *q, ck_findings *f, ck_err *err)
{
    const rules_file *r = p->rules;
    if (q->when) {
        plan_env env = {p, NULL, NULL, NULL, NULL, 0, NULL, NULL};
        expr_val v;
        if (plan_eval(p, q->when, &env, q->line, &v, err))
            return -1;
        if (!v.v)
            return 0;
    }
    if (q->cond)
        return stage_assert(p, q, f, err);
    int t = 0;
    while (t < r->n_params && strcmp(r->params[t].name.text, q->param) != 0)
        t++;
    for (int s = 0; s < p->layout.pp; s++) {
        plan_stage *st = &p->stages[s];
        int has = 0;
        for (size_t i = 0; i < st->n && !has; i++)
            has = st->params[i].tmpl == t;
        if (has || st->build_error[0])
            continue;
        snprintf(st->build_error, sizeof st->build_error, "%s", q->error);
        char where[64], at[96];
        snprintf(where, sizeof where, "%s:%d", r->path, q->line);
        stage_where(p, s, at, sizeof at);
        findings_add(f, "lint.stage_unbuilt", SEV_ERROR, where, q->param, UINT64_MAX,
                     "%s: the model cannot be built: %s (this stage has no %s: choose a --pp-partition that "
                     "gives every stage one)", at, q->error, q->param);
    }
    return 0;
}

/* The rules' variant for scheme q (NULL: unquantized) into *out, less the suffixes whose "when"
 * does not hold on it. The variant is chosen by "method:format:strategy" first (compressed-tensors
 * FP8 per tensor keeps one scale per fused part, per channel one per row), then "method::strategy"
 * for any format (fp8 per tensor), "method:format" (compressed-tensors stores int-quantized and
 * pack-quantized weights under different suffixes), and the method alone. group: the config
 * group it is (for the error), -1 the config's own. */
static int scheme_variant(plan *p, const cfg_quant *q, int group, plan_scheme *out, ck_err *err)
{
    const rules_file *r = p->rules;
    static const rules_quant no_quant = {"none", NULL, 0, 0, 0};
    const char *method = q ? q->method : "none";
    const rules_quant *v = NULL;
    char cand[4][120];
    snprintf(cand[0], sizeof cand[0], "%s:%s:%s", method, q ? q->fmt : "", q ? q->strategy : "");
    snprintf(cand[1], sizeof cand[1], "%s::%s", method, q ? q->strategy : "");
    snprintf(cand[2], sizeof cand[2], "%s:%s", method, q ? q->fmt : "");
    snprintf(cand[3], sizeof cand[3], "%s", method);
    for (int c = 0; c < 4 && !v; c++)
        for (int i = 0; i < r->n_quants && !v; i++)
            if (strcmp(r->quants[i].method, cand[c]) == 0)
                v = &r->quants[i];
    if (!v && !r->builds_model)
        v = &no_quant; /* a converter keeps whatever suffixes the checkpoint has */
    if (!v && group >= 0)
        return ck_err_set(err, CK_EUSAGE, r->path, NULL, CK_NO_OFFSET, "the rules have no variant for config "
                          "group %d's scheme \"%s\" (their \"quant\" section lists the methods they know)",
                          group, cand[2]);
    if (!v)
        return ck_err_set(err, CK_EUSAGE, r->path, NULL, CK_NO_OFFSET, "the rules have no variant "
                          "for quant_method \"%s\" (their \"quant\" section lists the methods they "
                          "know)", method);
    out->q = q;
    out->v = *v;
    out->v.suffixes = calloc((size_t)v->n_suffixes + 1, sizeof *v->suffixes);
    if (!out->v.suffixes)
        return ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    out->v.n_suffixes = 0;
    /* suffixes that exist only on some configs (a zero point when the weights are asymmetric) */
    for (int i = 0; i < v->n_suffixes; i++) {
        if (v->suffixes[i].when) {
            plan_env env = {p, NULL, NULL, NULL, NULL, 0, q, NULL};
            expr_val x;
            if (plan_eval(p, v->suffixes[i].when, &env, 0, &x, err)) {
                free(out->v.suffixes);
                out->v.suffixes = NULL;
                return CK_EFORMAT;
            }
            if (x.is_null || !x.v)
                continue;
        }
        out->v.suffixes[out->v.n_suffixes++] = v->suffixes[i];
    }
    return CK_OK;
}

/* Whether the optional condition e (NULL: always) holds on this config: 1 or 0; -1 with err set. */
static int plan_holds(const plan *p, const expr *e, plan_env *env, ck_err *err)
{
    expr_val v = {0};
    if (!e)
        return 1;
    if (plan_eval(p, e, env, 0, &v, err))
        return -1;
    return expr_truthy(&v);
}

/* The class name expression e (the rules' field) gives on this config, into out: CK_OK, or
 * CK_EFORMAT with err set. */
static int plan_class_name(const plan *p, const expr *e, plan_env *env, const char *field, char *out, size_t size,
                           ck_err *err)
{
    expr_val v = {0};
    if (plan_eval(p, e, env, 0, &v, err))
        return CK_EFORMAT;
    if (!v.is_str)
        return ck_err_set(err, CK_EFORMAT, p->rules->path, field, CK_NO_OFFSET, "the expression gives no class "
                          "name on this config.json: every branch of it must end in a quoted name "
                          "(\"Qwen2ForCausalLM\")");
    snprintf(out, size, "%.*s", (int)v.slen, v.s);
    return CK_OK;
}

int plan_build(const rules_file *r, const ck_config *cfg, const plan_layout *lay, plan *p,
               ck_findings *f, ck_err *err)
{
    memset(p, 0, sizeof *p);
    p->rules = r;
    p->cfg = cfg;
    p->layout = *lay;
    if (lay->tp < 1 || lay->pp < 1 || lay->pp > PLAN_MAX_PP)
        return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "--tp must be >= 1 and --pp "
                          "1..%d", PLAN_MAX_PP);
    p->schemes = calloc((size_t)cfg->n_groups + 1, sizeof *p->schemes);
    if (!p->schemes)
        return ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    for (int g = -1; g < cfg->n_groups; g++) { /* the config's scheme, then each group's */
        int rc = scheme_variant(p, g < 0 ? (cfg->has_quant ? &cfg->quant : NULL) : &cfg->groups[g].q, g,
                                &p->schemes[p->n_schemes], err);
        if (rc) {
            plan_free(p);
            return rc;
        }
        p->n_schemes++;
    }
    p->quant = &p->schemes[0].v;
    p->lets = calloc((size_t)r->n_lets + 1, sizeof *p->lets);
    p->stages = calloc((size_t)lay->pp, sizeof *p->stages);
    if (!p->lets || !p->stages) {
        plan_free(p);
        return ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    }
    /* lets in order: each sees the ones before it (later ones are not yet known) */
    for (int i = 0; i < r->n_lets; i++) {
        plan_env env = {p, NULL, NULL, NULL, NULL, 0, NULL, NULL};
        if (plan_eval(p, r->lets[i].value, &env, 0, &p->lets[i], err)) {
            snprintf(err->key, sizeof err->key, "let %s", r->lets[i].name);
            plan_free(p);
            return CK_EFORMAT;
        }
        p->n_lets = i + 1;
    }
    int64_t layers = 0;
    plan_env env = {p, NULL, NULL, NULL, NULL, 0, NULL, NULL};
    expr_val lv;
    if (!plan_lookup(&env, "num_hidden_layers", 17, &lv) || lv.is_null || lv.is_str || lv.v < 1) {
        plan_free(p);
        return ck_err_set(err, CK_EFORMAT, cfg->path ? cfg->path : "config.json", "num_hidden_layers",
                          CK_NO_OFFSET, "config.json needs num_hidden_layers (a positive integer) to "
                          "place layers on pipeline stages");
    }
    layers = lv.v;
    p->num_layers = (int)layers;
    /* a model under a wrapper (a vision-language model's text decoder): vLLM's names start with it */
    p->wrapper = "";
    int under = r->wrapper_prefix ? plan_holds(p, r->wrapper_when, &env, err) : 0;
    if (under > 0)
        p->wrapper = r->wrapper_prefix;
    /* the wrapper's class, and the model above strip_prefix, which looks up a key without it */
    int maps = under >= 0 && r->n_outer_maps ? plan_holds(p, r->outer_maps_when, &env, err) : 0;
    if (under < 0 || maps < 0 ||
        (p->wrapper[0] && r->wrapper_class &&
         plan_class_name(p, r->wrapper_class, &env, "$.loader.wrapper.class", p->wrapper_class,
                         sizeof p->wrapper_class, err)) ||
        (r->outer_class_expr && plan_class_name(p, r->outer_class_expr, &env, "$.loader.outer.class", p->outer_class,
                                                sizeof p->outer_class, err))) {
        plan_free(p);
        return CK_EFORMAT;
    }
    if (r->outer_class)
        snprintf(p->outer_class, sizeof p->outer_class, "%s", r->outer_class);
    p->outer_maps = maps;
    /* transformers' config classes validate layer_types when vLLM loads config.json */
    if (cfg->n_layer_types >= 0 && cfg->n_layer_types != layers)
        findings_add(f, "lint.config_refused", SEV_ERROR, cfg->path ? cfg->path : "config.json",
                     "layer_types", UINT64_MAX, "vLLM cannot load config.json (transformers' "
                     "validate_layer_type): ValueError: `num_hidden_layers` (%lld) must be equal to "
                     "the number of `layer_types` (%d); give layer_types one entry per layer",
                     (long long)layers, cfg->n_layer_types);
    /* the rules' refusals: a config.json transformers' typed config classes will not take */
    for (int i = 0; i < r->n_asserts; i++) {
        const rules_assert *a = &r->asserts[i];
        if (a->severity != RULES_REFUSED)
            continue;
        int holds = plan_holds(p, a->cond, &env, err);
        if (holds < 0) {
            plan_free(p);
            return err->code;
        }
        if (!holds)
            findings_add(f, "lint.config_refused", SEV_ERROR, cfg->path ? cfg->path : "config.json", "", UINT64_MAX,
                         "vLLM cannot load config.json: %s (rules %s, line %d: edit config.json until %s holds)",
                         a->error, r->name, a->line, expr_text(a->cond));
    }
    /* vLLM 0.32's AutoGPTQConfig: activation order and asymmetric weights are refused */
    const cfg_quant *gq = cfg->has_quant && strcmp(cfg->quant.method, "gptq") == 0 ? &cfg->quant : NULL;
    if (gq && gq->desc_act == 1 && gq->group_size != -1)
        findings_add(f, "lint.config_refused", SEV_ERROR, cfg->path ? cfg->path : "config.json",
                     "quantization_config.desc_act", UINT64_MAX, "vLLM refuses this quantization_config: "
                     "ValueError: GPTQ group activation ordering (desc_act=True) is no longer supported. Use "
                     "a checkpoint with static activation ordering or desc_act=False.");
    else if (gq && gq->symmetric != -1 && !((gq->bits == 4 || gq->bits == 8) && gq->symmetric == 1))
        findings_add(f, "lint.config_refused", SEV_ERROR, cfg->path ? cfg->path : "config.json",
                     "quantization_config", UINT64_MAX, "vLLM refuses this quantization_config: ValueError: "
                     "Unsupported quantization config: bits=%d, sym=%s (it runs symmetric 4- and 8-bit GPTQ)",
                     gq->bits, gq->symmetric ? "True" : "False");
    /* vLLM's ModelConfig.verify_with_parallel_config: refused before any rank starts */
    if (lay->pp > 1 && !r->supports_pp)
        findings_add(f, "lint.layout_refused", SEV_ERROR, cfg->path ? cfg->path : "config.json", "", UINT64_MAX,
                     "vLLM refuses this layout before any rank starts: NotImplementedError: Pipeline parallelism "
                     "is not supported for this model. Supported models implement the `SupportsPP` interface. "
                     "(%s: use --pp 1)", cfg->architectures && cfg->architectures[0] ? cfg->architectures : r->name);
    char sizes[256];
    if (lay->tp > 1 && plan_lookup(&env, "num_attention_heads", 19, &lv) && !lv.is_null && !lv.is_str &&
        lv.v > 0 && lv.v % lay->tp)
        findings_add(f, "lint.layout_refused", SEV_ERROR, cfg->path ? cfg->path : "config.json",
                     "num_attention_heads", UINT64_MAX, "vLLM refuses this layout before any rank "
                     "starts: ValueError: Total number of attention heads (%lld) must be divisible "
                     "by tensor parallel size (%d). (--tp %s would be accepted)", (long long)lv.v, lay->tp,
                     tp_sizes(lv.v, 1, 0, sizes, sizeof sizes));
    /* construction findings once per template, from the first stage that builds it */
    unsigned char *reported = calloc((size_t)r->n_params + 1, 1);
    if (!reported) {
        plan_free(p);
        return ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    }
    for (int s = 0; s < lay->pp; s++) {
        plan_stage *st = &p->stages[s];
        strmap_init(&st->by_name);
        st->stage = s;
        st->first = s == 0;
        st->last = s == lay->pp - 1;
        if (plan_pp_indices((int)layers, lay, s, &st->layer_start, &st->layer_end, err) != CK_OK) {
            free(reported);
            plan_free(p);
            return err->code;
        }
        size_t cap = 0;
        for (int t = 0; t < r->n_params; t++) {
            expander x;
            memset(&x, 0, sizeof x);
            x.p = p;
            x.st = st;
            x.t = &r->params[t];
            x.tmpl = t;
            x.f = f;
            x.err = err;
            x.reported = reported[t]; /* a stage's own construction findings: on each stage */
            if (expand(&x, &cap, 0) != 0) {
                free(reported);
                plan_free(p);
                return err->code ? err->code : CK_EFORMAT;
            }
            reported[t] = (unsigned char)x.reported;
        }
    }
    free(reported);
    p->strict = r->strict_error != NULL;
    if (r->strict_when) {
        plan_env senv = {p, NULL, NULL, NULL, NULL, 0, NULL, NULL};
        expr_val v;
        if (plan_eval(p, r->strict_when, &senv, r->strict_line, &v, err)) {
            plan_free(p);
            return err->code ? err->code : CK_EFORMAT;
        }
        p->strict = !v.is_null && v.v != 0;
    }
    for (int q = 0; q < r->n_stage_reqs; q++)
        if (stage_require(p, &r->stage_reqs[q], f, err)) {
            plan_free(p);
            return err->code ? err->code : CK_EFORMAT;
        }
    /* vLLM counts the config object's experts (num_experts, n_routed_experts, num_local_experts,
     * its class's default where config.json has none), whatever layers use them: a hybrid whose
     * config names experts but whose pattern has none (Nemotron-H's dense releases,
     * n_routed_experts defaulting to 8) still takes --ep */
    int64_t cx = config_experts(cfg); /* or the rules' count, which knows the config class's defaults */
    if (lay->ep && r->builds_model && r->config_experts && plan_experts(p) == 0) {
        plan_env xenv = {p, NULL, NULL, NULL, NULL, 0, NULL, NULL};
        expr_val xv;
        if (plan_eval(p, r->config_experts, &xenv, 0, &xv, err)) {
            snprintf(err->key, sizeof err->key, "loader.config_experts");
            plan_free(p);
            return err->code ? err->code : CK_EFORMAT;
        }
        cx = xv.is_null || xv.is_str || xv.is_list ? 0 : xv.v;
    }
    if (lay->ep && r->builds_model && plan_experts(p) == 0 && cx == 0)
        findings_add(f, "lint.layout_refused", SEV_ERROR, cfg->path ? cfg->path : "config.json", "",
                     UINT64_MAX, "vLLM refuses this layout before any rank starts: ValueError: "
                     "Number of experts in the model must be greater than 0 when expert "
                     "parallelism is enabled.");
    return CK_OK;
}

void plan_free(plan *p)
{
    if (!p)
        return;
    if (p->stages)
        for (int s = 0; s < p->layout.pp; s++) {
            for (size_t i = 0; i < p->stages[s].n; i++)
                free(p->stages[s].params[i].name);
            free(p->stages[s].params);
            strmap_free(&p->stages[s].by_name);
        }
    free(p->stages);
    free(p->lets);
    for (int i = 0; i < p->n_schemes; i++)
        free(p->schemes[i].v.suffixes);
    free(p->schemes);
    memset(p, 0, sizeof *p);
}
