/* stages.c - each pipeline stage's replay over the mapped keys: which keys load, which are
 * skipped and why, the exception the loader raises first, what stays empty; the shapes of the
 * keys against their parameters and the rules' post-load checks. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/thread.h"
#include "loader/shard.h"
#include "loader/sim_internal.h"

/* Whether stage st's model has a placeholder (vLLM: PPMissingLayer) where name would live: a
 * layer another stage owns, or a first/last-stage module it does not hold. */
int sim_pp_missing(const plan *p, const plan_stage *st, const char *name, int layer)
{
    if (layer >= 0)
        return layer < p->num_layers && (layer < st->layer_start || layer >= st->layer_end);
    const rules_file *r = p->rules;
    for (int t = 0; t < r->n_params; t++) {
        const rules_param *rp = &r->params[t];
        if (!((rp->stage == STAGE_FIRST && !st->first) || (rp->stage == STAGE_LAST && !st->last) ||
              (rp->stage == STAGE_EDGES && !st->first && !st->last)))
            continue;
        /* the module: the template's text up to its last '.' */
        const char *txt = rp->name.text, *dot = strrchr(txt, '.');
        if (dot && strchr(txt, '{') == NULL && strncmp(name, txt, (size_t)(dot - txt + 1)) == 0)
            return 1;
    }
    return 0;
}

static int stage_owning(const plan *p, const char *name)
{
    for (int s = 0; s < p->layout.pp; s++)
        if (strmap_get(&p->stages[s].by_name, name, NULL))
            return s;
    return -1;
}

/* A skip rule written for layer `layer` (its `when` holds with {layer} bound to it) whose key
 * pattern missed this key: the rules meant to skip the layer but the loader sees another name. */
static const rules_skip *skip_meant_for(const plan *p, int layer)
{
    const rules_file *r = p->rules;
    for (int j = 0; j < r->n_skips; j++) {
        const rules_skip *sk = &r->skips[j];
        int li = pattern_cap_index(&sk->key, "layer", 5);
        if (li < 0 || !sk->when)
            continue;
        pattern_value v[PATTERN_MAX_CAPS];
        memset(v, 0, sizeof v);
        for (int c = 0; c < sk->key.n_caps; c++)
            v[c].s = ""; /* other captures: empty names */
        v[li].s = NULL;
        v[li].v = layer;
        plan_env env = {p, &sk->key, v, NULL, NULL, 0, NULL, NULL};
        expr_val w;
        ck_err e;
        ck_err_clear(&e);
        if (plan_eval(p, sk->when, &env, sk->line, &w, &e) == CK_OK && expr_truthy(&w))
            return sk;
    }
    return NULL;
}

static void put(char *buf, size_t size, size_t *n, const char *s, size_t len);
static int is_module(const plan_stage *st, const char *path, size_t len);

/* Appends the names (each without `cut` at its end), joined by ", " (and one before the first
 * where buf holds some already). */
static void put_list(char *buf, size_t size, size_t *n, char *const *names, int k, const char *cut)
{
    for (int i = 0; i < k; i++) {
        size_t l = strlen(names[i]), c = strlen(cut);
        put(buf, size, n, ", ", *n ? 2 : 0);
        put(buf, size, n, names[i], l >= c && strcmp(names[i] + l - c, cut) == 0 ? l - c : l);
    }
}

/* Why a key the model above strip_prefix looks up (sim_key.outside) fails, in a sentence. */
static void outside_why(const plan *p, const char *seen, char *buf, size_t size)
{
    const rules_file *r = p->rules;
    const char *d = strchr(seen, '.');
    int first = d ? (int)(d - seen) : (int)strlen(seen), inner = 0;
    for (int i = 0; i < p->layout.pp && !inner; i++)
        inner = is_module(&p->stages[i], seen, (size_t)first);
    char mods[256] = "", pres[256] = "";
    size_t n = 0, m = 0;
    if (p->wrapper_class[0]) { /* under the wrapper, which names its own errors */
        char *w = (char *)p->wrapper;
        put_list(mods, sizeof mods, &n, &w, 1, ".");
        put_list(mods, sizeof mods, &n, r->wrapper_modules, r->n_wrapper_modules, "");
        put_list(pres, sizeof pres, &m, r->also_strip, r->n_also_strip, "");
        if (!r->wrapper_strip_modules_only)
            put_list(pres, sizeof pres, &m, (char **)&r->strip_prefix, 1, "");
        snprintf(buf, size, "the key starts with none of the prefixes %s hands to its text model (%s), "
                 "so it looks the key up among its own modules (%s) and finds no '%.*s' there%s",
                 p->wrapper_class, pres, mods, first, seen, inner ? "; the text model was saved without "
                 "the prefix its names need (put one back before every such key)" : ", nor has the text model one");
        return;
    }
    char *sp = r->strip_prefix;
    put_list(mods, sizeof mods, &n, &sp, 1, ".");
    put_list(mods, sizeof mods, &n, r->outer_modules, r->n_outer_modules, "");
    snprintf(buf, size, "the key does not start with '%s', so %s looks it up among its own modules (%s) "
             "and finds no '%.*s' there%s%s%s", r->strip_prefix, p->outer_class, mods, first, seen,
             inner ? "; the checkpoint was saved from the inner model without the '" : ", nor has the model "
             "under it one", inner ? r->strip_prefix : "", inner ? "' its names need (put it back before every "
             "such key)" : "");
}

/* Why k's parameter is not one of the stage's, in a sentence (seen: the name the loader sees). */
void sim_explain_missing(const plan *p, const sim_key *k, const sim_param *kp, const char *seen,
                            char *buf, size_t size)
{
    const rules_file *r = p->rules;
    if (k->outside) {
        outside_why(p, seen, buf, size);
        return;
    }
    int other = stage_owning(p, kp->param);
    if (k->rule >= 0 && r->keys[k->rule].hazard) {
        snprintf(buf, size, "%s (the key rule at %s line %d)", r->keys[k->rule].hazard, r->path,
                 r->keys[k->rule].line);
        return;
    }
    if (kp->layer >= p->num_layers) {
        const rules_skip *sk = skip_meant_for(p, kp->layer);
        if (sk)
            snprintf(buf, size, "layer %d is %s; the skip rule for it (%s line %d) does not match "
                     "the name the loader sees, '%s' (its key is '%s')", kp->layer, sk->reason,
                     r->path, sk->line, seen, sk->key.text);
        else
            snprintf(buf, size, "layer %d is at or beyond num_hidden_layers=%d: the checkpoint has "
                     "more layers than config.json builds (a trimmed config?)", kp->layer,
                     p->num_layers);
        return;
    }
    if (other >= 0 && k->rule >= 0 && r->keys[k->rule].pp_through) {
        snprintf(buf, size, "the parameter belongs to PP stage %d (layers %d..%d); this loader path gives "
                 "the key up where the stage lacks its layer and looks it up under its own name, '%s', "
                 "which no stage has (its key rule sets \"pp_through\")", other, p->stages[other].layer_start,
                 p->stages[other].layer_end - 1, seen);
        return;
    }
    if (other >= 0) {
        snprintf(buf, size, "the parameter belongs to PP stage %d (layers %d..%d); this loader "
                 "path has no pipeline-stage guard (%s), so the stage that lacks it looks it up "
                 "anyway", other, p->stages[other].layer_start, p->stages[other].layer_end - 1,
                 k->rule >= 0 ? "its key rule sets \"pp_guard\": false" : "the loader's pp_guard is false");
        return;
    }
    /* a quantization suffix the model was not built with? */
    for (int qi = 0; qi < r->n_quants; qi++) {
        const rules_quant *q = &r->quants[qi];
        int same = strcmp(q->method, p->quant->method) == 0; /* p->quant may be its filtered copy */
        for (int j = 0; j < q->n_suffixes; j++) {
            size_t l = strlen(q->suffixes[j].suffix), pl = strlen(kp->param);
            if (pl > l && strcmp(kp->param + pl - l, q->suffixes[j].suffix) == 0 &&
                (kp->param[pl - l - 1] == '.' || kp->param[pl - l - 1] == '_')) {
                if (same && q->suffixes[j].when) { /* the config turned it off */
                    snprintf(buf, size, "%s quantization has '%s' only where %s holds, and this "
                             "config.json's quantization_config says it does not: the checkpoint was "
                             "quantized with other settings than its config states (fix the config's "
                             "activation scheme, input activations or symmetry, or re-export)", q->method, q->suffixes[j].suffix,
                             expr_text(q->suffixes[j].when));
                    return;
                }
                if (same)
                    continue;
                int own_variant = 0;
                for (int m = 0; m < p->quant->n_suffixes; m++)
                    own_variant |= strcmp(p->quant->suffixes[m].suffix, q->suffixes[j].suffix) == 0;
                if (own_variant)
                    continue;
                snprintf(buf, size, "'%s' belongs to %s quantization, but config.json builds the "
                         "model %s: was quantization_config removed or changed?", q->suffixes[j].suffix,
                         q->method, strcmp(p->quant->method, "none") == 0 ? "unquantized"
                         : p->quant->method);
                return;
            }
        }
    }
    snprintf(buf, size, "no parameter of this name in the model these rules build (%s): the "
             "checkpoint's naming does not match them", r->name);
}

/* Whether `path` (len bytes) names a module of the stage's model: some parameter lies under it. */
static int is_module(const plan_stage *st, const char *path, size_t len)
{
    if (!len)
        return 1;
    for (size_t i = 0; i < st->n; i++)
        if (strncmp(st->params[i].name, path, len) == 0 && st->params[i].name[len] == '.')
            return 1;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends s to buf[*n..size), truncating. */
static void put(char *buf, size_t size, size_t *n, const char *s, size_t len)
{
    if (*n + 1 >= size)
        return;
    if (len > size - *n - 1)
        len = size - *n - 1;
    memcpy(buf + *n, s, len);
    *n += len;
    buf[*n] = 0;
}

/* Appends the k names (prefix before each) as Python prints a set of strings, sorted: the form
 * vLLM's messages take ({owner_params}, the strict check's {params}). Sorts names in place. */
static void put_pyset(char *buf, size_t size, size_t *n, const char **names, size_t k, const char *prefix)
{
    size_t pl = strlen(prefix);
    qsort(names, k, sizeof *names, cmp_names);
    put(buf, size, n, "{", 1);
    for (size_t i = 0; i < k; i++) {
        put(buf, size, n, i ? ", '" : "'", i ? 3 : 1);
        put(buf, size, n, prefix, pl);
        put(buf, size, n, names[i], strlen(names[i]));
        put(buf, size, n, "'", 1);
    }
    put(buf, size, n, "}", 1);
}

/* The class name loader.classes gives module path `path` ("?" when none matches). */
static void class_of(const plan *p, const char *path, char *out, size_t size)
{
    const rules_file *r = p->rules;
    snprintf(out, size, "?");
    for (int i = 0; i < r->n_classes; i++) {
        pattern_value vals[PATTERN_MAX_CAPS];
        if (!pattern_match(&r->class_pat[i], path, strlen(path), vals))
            continue;
        plan_env env = {p, &r->class_pat[i], vals, NULL, NULL, 0, NULL, NULL};
        expr_val v;
        ck_err err;
        ck_err_clear(&err);
        if (plan_eval(p, r->class_expr[i], &env, 0, &v, &err) == 0 && v.is_str)
            snprintf(out, size, "%.*s", (int)v.slen, v.s);
        return;
    }
}

/* The loader's exception for a key that seen names: its error format with {param}, {module}, and
 * AutoWeightsLoader's {missing}, {owner}, {owner_class}, {owner_params}, {model_class} filled
 * from the stage's model. */
/* Whether a parameter sits in one of the outer model's own modules (loader.outer.modules). */
static int outer_param(const rules_file *r, const char *name)
{
    return under_module(name, strlen(name), r->outer_modules, r->n_outer_modules);
}

/* Whether name is in one of mods[0 .. n) (a module, or a name under it), where the model sits
 * under a wrapper. */
static int in_wrapper_list(const plan *p, char *const *mods, int n, const char *name)
{
    return p->wrapper && p->wrapper[0] && under_module(name, strlen(name), mods, n);
}

/* A name in one of the wrapper's own modules (loader.wrapper.modules): vLLM names it as it is. */
static int wrapper_param(const plan *p, const char *name)
{
    return in_wrapper_list(p, p->rules->wrapper_modules, p->rules->n_wrapper_modules, name);
}

/* A name in one of the model's modules that the wrapper sends on under its own name
 * (loader.wrapper.keeps: lm_head). */
static int wrapper_kept(const plan *p, const char *name)
{
    return in_wrapper_list(p, p->rules->wrapper_keeps, p->rules->n_wrapper_keeps, name);
}

/* vLLM's full name of the stage parameter nm, as the model above strip_prefix lists it
 * (strip_prefix put back, except in its outer modules and those the wrapper keeps), or, from
 * the wrapper, as the wrapper lists it (the same under its prefix; its own modules' as they are).
 * A copy to free, or NULL when the name is nm itself (or there is no memory for it). */
static char *vllm_name(const plan *p, const char *nm, int from_wrapper)
{
    const rules_file *r = p->rules;
    if (wrapper_param(p, nm))
        return NULL;
    const char *pre1 = from_wrapper && p->wrapper ? p->wrapper : "";
    const char *pre2 = outer_param(r, nm) || wrapper_kept(p, nm) ? "" : r->strip_prefix;
    size_t l1 = strlen(pre1), l2 = strlen(pre2);
    char *full = l1 || l2 ? malloc(l1 + l2 + strlen(nm) + 1) : NULL;
    if (full) {
        memcpy(full, pre1, l1);
        memcpy(full + l1, pre2, l2);
        strcpy(full + l1 + l2, nm);
    }
    return full;
}

static void error_line(const plan *p, const plan_stage *st, const char *param, const char *seen, int outer,
                       int outside, char *buf, size_t size)
{
    const rules_file *r = p->rules;
    /* a key of the wrapper's own modules is looked up from the wrapper, by its own names */
    const char *pclass = p->wrapper_class[0] ? p->wrapper_class : NULL;
    const char *wclass = pclass && wrapper_param(p, seen) ? pclass : NULL;
    /* a key none of the wrapper's prefixes took, outside the model's own outer modules, is
     * looked up from the wrapper too (its WeightsMapper maps only those): every parameter is
     * listed by its full name */
    int wtop = !wclass && outside && pclass;
    if (wtop)
        wclass = pclass;
    if (wclass)
        outer = 0;
    /* a key without strip_prefix is looked up from the model above it (loader.outer); with
     * loader.outer.top every key is, and the names keep the prefix */
    int top = r->outer_top && p->outer_class[0] && r->strip_prefix[0] && !outer && !wclass;
    outer = outer && p->outer_class[0] && r->strip_prefix[0];
    /* the wrapper's loader words its own errors (loader.wrapper.error), the model above its
     * (loader.outer.error), the model's loader its */
    const char *fmt = wclass && r->wrapper_error ? r->wrapper_error
                    : outside && !wclass && r->outer_error ? r->outer_error : r->error_format;
    size_t pl = strlen(r->strip_prefix);
    size_t n = 0;
    const char *dot = strrchr(seen, '.'), *prev = NULL;
    for (const char *q = seen; dot && q < dot; q++)
        if (*q == '.')
            prev = q;
    const char *mod = prev ? prev + 1 : seen;
    size_t mlen = dot ? (size_t)(dot - mod) : strlen(mod);
    /* AutoWeightsLoader descends one dotted part at a time while it finds a child module */
    size_t miss = 0, owner = 0;
    if (outside) { /* the model above (or the wrapper) has no child of the first part's name */
        const char *d1 = strchr(seen, '.');
        miss = d1 ? (size_t)(d1 - seen) : strlen(seen);
    } else if (strstr(fmt, "{missing}") || strstr(fmt, "{owner")) {
        for (const char *q = seen;; q++)
            if (*q == '.' || !*q) {
                size_t len = (size_t)(q - seen);
                if (!is_module(st, seen, len) || !*q) {
                    miss = len;
                    break;
                }
                owner = len;
            }
    }
    buf[0] = 0;
    for (const char *q = fmt; *q && n + 1 < size; q++) {
        char cls[128];
        if (strncmp(q, "{param}", 7) == 0) {
            put(buf, size, &n, param ? param : seen, strlen(param ? param : seen));
            q += 6;
        } else if (strncmp(q, "{module}", 8) == 0) {
            put(buf, size, &n, mod, mlen);
            q += 7;
        } else if (strncmp(q, "{missing}", 9) == 0) {
            if (top)
                put(buf, size, &n, r->strip_prefix, pl);
            put(buf, size, &n, seen, miss);
            q += 8;
        } else if (strncmp(q, "{owner}", 7) == 0) {
            if (top) /* the stripped model itself: its name without the dot */
                put(buf, size, &n, r->strip_prefix, owner ? pl : pl - 1);
            put(buf, size, &n, seen, owner);
            q += 6;
        } else if (strncmp(q, "{owner_class}", 13) == 0 || strncmp(q, "{model_class}", 13) == 0) {
            char path[512];
            snprintf(path, sizeof path, "%.*s", q[1] == 'o' ? (int)owner : 0, seen);
            if (wclass && (q[1] == 'm' || !path[0]))
                snprintf(cls, sizeof cls, "%s", wclass);
            else if ((outer && !path[0]) || (top && q[1] == 'm'))
                snprintf(cls, sizeof cls, "%s", p->outer_class);
            else
                class_of(p, path, cls, sizeof cls);
            put(buf, size, &n, cls, strlen(cls));
            q += 12;
        } else if (strncmp(q, "{owner_params}", 14) == 0) {
            /* Python's repr of the set, in sorted order */
            const char **names = malloc((st->n ? st->n : 1) * sizeof *names);
            char **full = (outer && !owner) || top || wtop ? calloc(st->n ? st->n : 1, sizeof *full) : NULL;
            size_t k = 0;
            for (size_t i = 0; names && i < st->n; i++) {
                const char *nm = st->params[i].name;
                if (owner && !(strncmp(nm, seen, owner) == 0 && nm[owner] == '.'))
                    continue;
                /* the stripped model's own: not the model above's modules beside it (lm_head) */
                if (!owner && !full && under_module(nm, strlen(nm), r->outer_modules, r->n_outer_modules))
                    continue;
                if (full && (full[k] = vllm_name(p, nm, wtop)) != NULL)
                    nm = full[k];
                names[k++] = nm;
            }
            if (names)
                put_pyset(buf, size, &n, names, k, "");
            else
                put(buf, size, &n, "{}", 2);
            for (size_t i = 0; full && i < k; i++)
                free(full[i]);
            free(full);
            free(names);
            q += 13;
        } else
            put(buf, size, &n, q, 1);
    }
}

/* The stages run on several threads: each keeps its findings in a list of its own (file, key
 * and message; offsets unused), added (sim_finding_put) stage after stage once all have run, so that
 * the order and the merged rank masks are those of one thread. */
/* Records that the stage's ranks raise line at key kname of file: the stage's first exception
 * unless one came before, and the first of the TP rank expert parallelism spared that one
 * (ep_rank1) unless it raised already. 1 when line is the stage's first. */
static int stage_raises(sim_stage *out, const char *line, const char *kname, const char *file)
{
    if (out->ep_rank1 && !out->ep_error[0]) {
        snprintf(out->ep_error, sizeof out->ep_error, "%s", line);
        snprintf(out->ep_error_key, sizeof out->ep_error_key, "%s", kname);
    }
    if (out->error[0])
        return 0;
    snprintf(out->error, sizeof out->error, "%s", line);
    snprintf(out->error_key, sizeof out->error_key, "%s", kname);
    snprintf(out->error_file, sizeof out->error_file, "%s", file);
    return 1;
}

/* A key a converter (a loader that builds no model) renames: loaded, unless its rule splits a dim
 * that the TP ranks cannot. */
static void converter_key(const sim *s, const sim_key *k, sim_stage *out, ck_findings *o)
{
    const plan *p = s->p;
    const rules_file *r = p->rules;
    /* a converter: the rule renames the key; a split dim must divide */
    const rules_key *kr = &r->keys[k->rule];
    if (kr->dim >= 0 && k->has_tensor) {
        const st_tensor *t = key_tensor(s->ck, k);
        if ((uint32_t)kr->dim < t->ndim && t->shape[kr->dim] % (uint64_t)p->layout.tp) {
            const char *kname = key_name(s, k);
            char line[256];
            snprintf(line, sizeof line, "AssertionError: Dimension %d must be divisible by %d",
                     kr->dim, p->layout.tp);
            stage_raises(out, line, kname, s->ck->shards[k->shard].name);
            findings_add(o, out->error[0] && strcmp(out->error_key, kname) ? "lint.unexpected"
                         : "lint.keyerror", SEV_ERROR, s->ck->shards[k->shard].name, kname,
                         CK_NO_OFFSET, "%s: dim %d is %llu, which %d ranks cannot split",
                         line, kr->dim, (unsigned long long)t->shape[kr->dim], p->layout.tp);
            return;
        }
    }
    out->loaded++;
}

static const char *walk_name(const rules_file *r, int rule, const char *param, const char *seen)
{
    return rule >= 0 && r->keys[rule].hazard && param && param[0] ? param : seen;
}

const char *sim_walk_name(const rules_file *r, const sim_mapping *m)
{
    return walk_name(r, m->rule, m->param, m->seen);
}

void sim_error_line(const plan *p, int stage, const sim_mapping *m, char *buf, size_t size)
{
    error_line(p, &p->stages[stage], m->param, sim_walk_name(p->rules, m), m->outer, m->outside, buf, size);
}

/* A key whose parameter stage si does not have: dropped (a bias the model lacks: returns 1),
 * skipped (another stage owns its layer and the path has the guard), or the loader's exception. */
static int key_not_here(const sim *s, int si, const sim_key *k, const sim_param *kp, sim_stage *out,
                         ck_findings *o)
{
    const plan *p = s->p;
    const rules_file *r = p->rules;
    const plan_stage *st = &p->stages[si];
    size_t pl = r->builds_model && r->drops_bias && !kp->stages && !k->outside ? strlen(kp->param) : 0;
    if (pl > 5 && strcmp(kp->param + pl - 5, ".bias") == 0) { /* the loaders drop a bias the model lacks */
        /* counted where the model has the linear (not a layer beyond its own): a parameter of
         * the module under any suffix a scheme of this plan gives it, or an unconverted "weight" */
        char wname[512];
        for (int sc = -1; sc < p->n_schemes; sc++)
            for (int j = 0; j < (sc < 0 ? 1 : p->schemes[sc].v.n_suffixes); j++) {
                snprintf(wname, sizeof wname, "%.*s.%s", (int)(pl - 5), kp->param,
                         sc < 0 ? "weight" : p->schemes[sc].v.suffixes[j].suffix);
                for (int i = 0; i < p->layout.pp; i++)
                    if (strmap_get(&p->stages[i].by_name, wname, NULL))
                        return 1;
            }
        return 0;
    }
    if (!k->outside && key_guard(r, k) && sim_pp_missing(p, st, kp->param, kp->layer)) {
        out->skipped_pp++;
        return 0;
    }
    const char *kname = key_name(s, k); /* only now: a loaded key is never named */
    char why[768], line[2048];
    if (r->builds_model)
        sim_explain_missing(p, k, kp, kname + k->seen_off, why, sizeof why);
    else
        snprintf(why, sizeof why, "no rule of %s takes this name", r->name);
    /* a path the loader leaves where another stage owns the layer: the key is looked up as it is */
    int through = k->rule >= 0 && r->keys[k->rule].pp_through && stage_owning(p, kp->param) >= 0;
    error_line(p, st, through ? NULL : kp->param, walk_name(r, k->rule, kp->param, kname + k->seen_off),
               k->seen_off == 0, k->outside, line, sizeof line);
    const char *file = s->ck->shards[k->shard].name;
    if (r->drops_unknown && r->raises && !k->outside) {
        findings_add(o, "lint.dropped", SEV_WARNING, file, kname, CK_NO_OFFSET, "%s skips it without a word "
                     "(it has no parameter of this name and goes on to the next key): these values are never "
                     "loaded: %s", r->loader, why);
        out->unexpected++;
        return 0;
    }
    if (!r->raises) {
        findings_add(o, "lint.unused", SEV_WARNING, file, kname, CK_NO_OFFSET, "%s warns "
                     "that it was not used (\"Some weights of the model checkpoint at %s were "
                     "not used when initializing %s\") and drops it: %s", r->loader,
                     s->ck->root, s->p->cfg->architectures, why);
        out->unexpected++;
        return 0;
    }
    if (stage_raises(out, line, kname, file)) {
        /* vLLM's list of parameters may fill the finding: cut it so that the reason still fits
         * (the stage's error keeps it whole) */
        int room = 1800 - (int)strlen(why), ll = (int)strlen(line);
        if (room < 200)
            room = 200;
        findings_add(o, "lint.keyerror", SEV_ERROR, file, kname, CK_NO_OFFSET, "the load "
                     "fails here first: %.*s%s: %s", ll > room ? room : ll, line, ll > room ? " ..." : "", why);
    } else if (!r->builds_model)
        findings_add(o, "lint.unexpected", SEV_ERROR, file, kname, CK_NO_OFFSET, "is not in "
                     "the converter's table either (%s)", line);
    else if (k->outside)
        findings_add(o, "lint.unexpected", SEV_ERROR, file, kname, CK_NO_OFFSET, "lacks the "
                     "prefix too, and the model above has no module for it either (%s)", line);
    else
        findings_add(o, "lint.unexpected", SEV_ERROR, file, kname, CK_NO_OFFSET, "maps to "
                     "'%s', which these ranks do not have (%s): %s", kp->param, line, why);
    out->unexpected++;
    return 0;
}

/* The loader's strict check after the last key (loader.strict): its text with {params} the full
 * names (the wrapper's module and strip_prefix put back) of the strict parameters no key filled, as Python prints the set
 * (sorted); "" when there are none or the check does not run. */
static void strict_line(const plan *p, const plan_stage *st, uint8_t *const *bits, char *buf, size_t size)
{
    const rules_file *r = p->rules;
    buf[0] = 0;
    if (!p->strict || !r->raises || !r->builds_model)
        return;
    const char **names = malloc((st->n ? st->n : 1) * sizeof *names);
    char **full = calloc(st->n ? st->n : 1, sizeof *full);
    size_t k = 0, n = 0;
    for (size_t i = 0; names && full && i < st->n; i++) {
        const char *nm = st->params[i].name;
        if (bits[i] || !r->params[st->params[i].tmpl].strict)
            continue;
        if ((full[k] = vllm_name(p, nm, 1)) != NULL) /* out of memory: the bare name */
            nm = full[k];
        names[k++] = nm;
    }
    for (const char *q = r->strict_error; k && *q && n + 1 < size; q++) {
        if (strncmp(q, "{params}", 8) != 0) {
            put(buf, size, &n, q, 1);
            continue;
        }
        put_pyset(buf, size, &n, names, k, "");
        q += 7;
    }
    for (size_t i = 0; full && i < k; i++)
        free(full[i]);
    free(full);
    free(names);
}

/* What stayed empty on a stage: parameters no key filled, and parts or experts of them. */
static void report_empty(const sim *s, const plan_stage *st, uint8_t *const *bits, const size_t *nbits,
                         sim_stage *out, ck_findings *o)
{
    const rules_file *r = s->p->rules;
    char strict[sizeof out->error];
    int strict_said = 0;
    strict_line(s->p, st, bits, strict, sizeof strict);
    if (strict[0]) /* after the last key: no key, no file */
        stage_raises(out, strict, "", "");
    for (size_t pi = 0; pi < st->n; pi++) {
        const plan_param *pp = &st->params[pi];
        const rules_param *t = &r->params[pp->tmpl];
        if (!bits[pi] && t->buffer)
            continue; /* a buffer keeps its default */
        if (!bits[pi]) {
            out->missing++;
            if (strict[0] && t->strict) /* the whole text once, on the first: it names them all */
                findings_add(o, "lint.missing", SEV_ERROR, "", pp->name, CK_NO_OFFSET, "no checkpoint "
                             "key fills this parameter (rules line %d): after the last key the load "
                             "fails: %s", t->line, strict_said++ ? "the same check, which names it too" : strict);
            else if (r->raises)
                findings_add(o, "lint.missing", SEV_ERROR, "", pp->name, CK_NO_OFFSET, "no checkpoint "
                             "key fills this parameter (rules line %d): it stays uninitialized", t->line);
            else
                findings_add(o, "lint.missing", SEV_ERROR, "", pp->name, CK_NO_OFFSET, "no checkpoint "
                             "key fills this parameter (rules line %d): %s leaves it newly initialized, "
                             "at random (\"Some weights of %s were not initialized from the model "
                             "checkpoint\")", t->line, r->loader, s->p->cfg->architectures);
            continue;
        }
        int np = t->n_parts ? t->n_parts : 1;
        size_t holes = 0, first = SIZE_MAX;
        for (size_t b = 0; b < nbits[pi]; b++)
            if (!bits[pi][b]) {
                holes++;
                if (first == SIZE_MAX)
                    first = b;
            }
        if (!holes)
            continue;
        out->missing++;
        char where[128] = "";
        if (pp->experts)
            snprintf(where, sizeof where, "expert %zu ", first / (size_t)np);
        findings_add(o, "lint.incomplete", SEV_ERROR, "", pp->name, CK_NO_OFFSET, "%zu of %zu parts "
                     "are filled by no key; the first missing is %spart %s: that slice stays "
                     "uninitialized", holes, nbits[pi], where,
                     t->n_parts ? t->parts[first % (size_t)np].id : "0");
    }
}

/* Under expert parallelism, a key of one expert through a path that gives it up where the rank
 * does not hold that expert (the key rule's pp_through: GraniteMoeHybrid's expert mapping, whose
 * weight loader reports no success there) falls to the generic lookup of the key's own name: a
 * KeyError on every TP rank of the stage but the expert's. The first such key is the stage's error
 * for those ranks; the holder goes on and fails at the next key that spares it no more (ep_error).
 * The key still fills its expert on the holder. */
static void ep_gives_up(const sim *s, int si, const sim_key *k, const plan_param *pp, sim_stage *out,
                        ck_findings *o)
{
    const plan *p = s->p;
    int holder = shard_expert_rank(p, pp->experts, k->expert);
    /* no EP, an expert beyond the model's (reported as such), every rank failed already, or the key
     * is the spared rank's own */
    if (holder < 0 || k->expert >= pp->experts || (out->error[0] && (!out->ep_rank1 || out->ep_error[0])) ||
        out->ep_rank1 - 1 == holder)
        return;
    const char *kname = key_name(s, k), *file = s->ck->shards[k->shard].name;
    char line[2048];
    error_line(p, &p->stages[si], NULL, kname + k->seen_off, k->seen_off == 0, k->outside, line, sizeof line);
    int64_t first, count;
    shard_expert_range(p, pp->experts, holder, &first, &count);
    if (stage_raises(out, line, kname, file)) { /* every rank but the holder fails here first */
        out->ep_rank1 = holder + 1;
        findings_add(o, "lint.keyerror", SEV_ERROR, file, kname, CK_NO_OFFSET, "the load fails here first on "
                     "every TP rank of the stage but %d, which holds expert %lld (experts %lld-%lld): %s: under "
                     "expert parallelism the loader's expert mapping gives up on an expert the rank does not "
                     "hold, and its generic path looks the key up under its own name, which no rank has",
                     holder, (long long)k->expert, (long long)first, (long long)(first + count - 1), line);
    } else { /* the rank spared before fails here (stage_raises kept it) */
        int64_t f0, c0;
        shard_expert_range(p, pp->experts, out->ep_rank1 - 1, &f0, &c0);
        findings_add(o, "lint.keyerror", SEV_ERROR, file, kname, CK_NO_OFFSET, "TP rank %d of the stage, which "
                     "holds experts %lld-%lld, fails here first: %s (expert %lld is TP rank %d's)",
                     out->ep_rank1 - 1, (long long)f0, (long long)(f0 + c0 - 1), line, (long long)k->expert, holder);
    }
    out->unexpected++;
}

static void run_stage(const sim *s, int si, sim_stage *out, ck_findings *o)
{
    const plan *p = s->p;
    const rules_file *r = p->rules;
    const plan_stage *st = &p->stages[si];
    out->stage = si;
    uint8_t **bits = calloc(st->n ? st->n : 1, sizeof *bits);
    size_t *nbits = calloc(st->n ? st->n : 1, sizeof *nbits);
    size_t *skip_count = calloc((size_t)r->n_skips + 1, sizeof *skip_count);
    const char **skip_example = calloc((size_t)r->n_skips + 1, sizeof *skip_example);
    size_t dropped = 0; /* stored biases of linears the model builds without one */
    const char *dropped_example = NULL;
    if (!bits || !nbits || !skip_count || !skip_example) {
        o->oom = 1;
        goto out;
    }
    for (size_t i = 0; i < s->n; i++) {
        const sim_key *k = &s->keys[i];
        const sim_param *kp = key_param(s, k);
        if (k->skip >= 0) {
            if (!skip_count[k->skip]++)
                skip_example[k->skip] = key_name(s, k);
            out->skipped_rules++;
            continue;
        }
        size_t pi;
        if (!r->builds_model && k->rule >= 0) {
            converter_key(s, k, out, o);
            continue;
        }
        int found = r->builds_model && !k->outside && (kp->stages >> si & 1);
        if (found)
            pi = si == kp->own_st ? kp->own_pi : (strmap_get(&st->by_name, kp->param, &pi), pi);
        if (!found) {
            if (key_not_here(s, si, k, kp, out, o) && !dropped++)
                dropped_example = key_name(s, k);
            continue;
        }
        /* loaded: record the part and expert it fills */
        const plan_param *pp = &st->params[pi];
        if (pp->experts && k->expert >= 0 && k->rule >= 0 && r->keys[k->rule].pp_through)
            ep_gives_up(s, si, k, pp, out, o);
        const rules_param *t = &r->params[pp->tmpl];
        const char *kpart = key_part(r, k);
        int np = t->n_parts ? t->n_parts : 1, part = key_part_index(s, k, pp->tmpl);
        if (part < 0)
            part = 0;
        /* a key without an expert index that fills an expert parameter holds them all, stacked on
         * its first dim (vLLM's fused expert tensors: GraniteMoE's input_linear) */
        int all_e = pp->experts && k->expert < 0;
        int64_t ne = pp->experts ? pp->experts : 1, e = k->expert >= 0 ? k->expert : 0;
        if (e >= ne) {
            findings_add(o, "lint.unexpected", SEV_ERROR, s->ck->shards[k->shard].name, key_name(s, k),
                         CK_NO_OFFSET, "expert %lld is beyond the model's %lld experts ('%s')",
                         (long long)e, (long long)ne, kp->param);
            continue;
        }
        if (!bits[pi]) {
            nbits[pi] = (size_t)(np * ne);
            bits[pi] = calloc(nbits[pi], 1);
            if (!bits[pi]) {
                o->oom = 1;
                goto out;
            }
        }
        /* a key of the fused parameter's own name (a checkpoint that ships qkv_proj) fills every
         * part: vLLM's weight loader splits it by the parts' sizes */
        int whole = !kpart && t->n_parts && (!pp->experts || all_e), dup = 0;
        for (int64_t x = all_e ? 0 : e; x < (all_e ? ne : e + 1); x++)
            for (int q = whole ? 0 : part; q < (whole ? np : part + key_span(r, k)) && q < np; q++) {
                size_t b = (size_t)(x * np + q);
                dup |= bits[pi][b];
                bits[pi][b] = 1;
            }
        char pw[128];
        if (dup)
            findings_add(o, "lint.duplicate", SEV_WARNING, s->ck->shards[k->shard].name, key_name(s, k),
                         CK_NO_OFFSET, "fills '%s'%s%s a second time: two checkpoint names for one slot, "
                         "the later wins", kp->param, kpart ? " " : "",
                         kpart ? rules_key_parts_text(&r->keys[k->rule], pw, sizeof pw) : "");
        out->loaded++;
    }
    report_empty(s, st, bits, nbits, out, o);
    for (int j = 0; j < r->n_skips; j++)
        if (skip_count[j])
            findings_add(o, "lint.skipped", SEV_NOTE, "", skip_example[j], CK_NO_OFFSET, "%zu key%s "
                         "skipped (like this one): %s", skip_count[j], skip_count[j] == 1 ? "" : "s",
                         r->skips[j].reason);
    if (dropped) { /* the weights hold what the model will not compute: unless they are zero (as
                    * AutoGPTQ saves them), another model */
        /* config.json may ask for the biases itself where the model class builds none whatever it
         * says (vLLM's Gemma): then no edit of config.json helps */
        const char *asked = strstr(dropped_example, "attn.") || strstr(dropped_example, "attention.")
                                ? "attention_bias" : strstr(dropped_example, ".mlp.") ? "mlp_bias" : NULL;
        const cfg_field *f = asked ? config_field(p->cfg, asked) : NULL;
        if (!f || f->kind != CFG_BOOL || f->num == 0)
            asked = NULL;
        const char *one = dropped == 1 ? "it" : "them", *s1 = dropped == 1 ? "" : "s";
        char why[512];
        if (asked)
            snprintf(why, sizeof why, "%zu stored bias tensor%s (like this one): config.json sets %s true, but %s "
                     "builds these linears without a bias whatever it says and drops %s", dropped, s1, asked,
                     r->loader, one);
        else
            snprintf(why, sizeof why, "%zu stored bias tensor%s (like this one) belong%s to linears that config.json "
                     "builds without a bias, and %s drops %s", dropped, s1, dropped == 1 ? "s" : "", r->loader, one);
        findings_add(o, "lint.dropped_bias", p->cfg->has_quant ? SEV_NOTE : SEV_WARNING, "", dropped_example,
                     CK_NO_OFFSET, "%s without a word: the model computes as if %s zero. Harmless only if %s zero; "
                     "%s", why, dropped == 1 ? "it were" : "they were all", dropped == 1 ? "it is" : "they are all",
                     asked ? "otherwise vLLM cannot serve this checkpoint as it was trained"
                           : "otherwise config.json is wrong (attention_bias, mlp_bias or use_bias false) and every "
                             "output differs from the trained model's");
    }
out:
    if (bits)
        for (size_t pi = 0; pi < st->n; pi++)
            free(bits[pi]);
    free(bits);
    free(nbits);
    free(skip_count);
    free(skip_example);
}

/* The stages, each on its own thread up to the number of CPUs (every stage walks all keys);
 * their findings are then added in stage order. */
typedef struct {
    const sim *s;
    sim_result *res;
    ck_findings *out;
    atomic_int next;
} stages_job;

static void *stages_worker(void *arg)
{
    stages_job *j = arg;
    for (;;) {
        int si = atomic_fetch_add(&j->next, 1);
        if (si >= j->res->n_stages)
            break;
        run_stage(j->s, si, &j->res->stages[si], &j->out[si]);
    }
    return NULL;
}

void sim_run_stages(sim *s, sim_result *res)
{
    int n = res->n_stages;
    stages_job j = {s, res, calloc((size_t)n, sizeof *j.out), 0};
    if (!j.out) {
        s->oom = 1;
        return;
    }
    atomic_init(&j.next, 0);
    int nt = ck_thread_count(0, SIM_THREADS, (size_t)n);
    pthread_t tid[SIM_THREADS];
    int started = 0;
    for (int t = 1; t < nt; t++)
        if (ck_thread_start(&tid[started], stages_worker, &j) == 0)
            started++;
    stages_worker(&j);
    for (int t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    for (int si = 0; si < n; si++) {
        const ck_findings *o = &j.out[si];
        s->oom |= o->oom;
        for (size_t i = 0; i < o->n && !s->oom; i++)
            sim_finding_put(s, o->v[i].code, o->v[i].sev, si, o->v[i].file, o->v[i].key, o->v[i].msg);
        findings_free(&j.out[si]);
    }
    free(j.out);
}

/* The rules' post-load checks: on each stage, the first owned layer whose module has none of
 * the parameters the check looks for raises the check's error. */
void sim_run_checks(sim *s)
{
    const plan *p = s->p;
    const rules_file *r = p->rules;
    for (int ci = 0; ci < r->n_checks; ci++) {
        const rules_check *c = &r->checks[ci];
        int li = pattern_cap_index(&c->module, "layer", 5);
        for (int si = 0; si < p->layout.pp; si++) {
            const plan_stage *st = &p->stages[si];
            int lo = li >= 0 ? st->layer_start : 0, hi = li >= 0 ? st->layer_end : 1;
            for (int layer = lo; layer < hi; layer++) {
                pattern_value v[PATTERN_MAX_CAPS];
                memset(v, 0, sizeof v);
                if (li >= 0)
                    v[li].v = layer;
                plan_env env = {p, &c->module, v, NULL, NULL, 0, NULL, NULL};
                if (c->when) {
                    expr_val w;
                    ck_err e2;
                    ck_err_clear(&e2);
                    if (plan_eval(p, c->when, &env, c->line, &w, &e2) || !expr_truthy(&w))
                        continue;
                }
                char mod[512], name[640];
                if (pattern_format(&c->module, v, mod, sizeof mod) < 0)
                    continue;
                const plan_param *any = NULL;
                size_t ml = strlen(mod);
                for (size_t i = 0; i < st->n && !any; i++)
                    if (strncmp(st->params[i].name, mod, ml) == 0 && st->params[i].name[ml] == '.')
                        any = &st->params[i];
                if (!any)
                    continue; /* the module is not there at all (another variant, another stage) */
                int found = 0;
                for (int h = 0; h < c->n_has && !found; h++) {
                    snprintf(name, sizeof name, "%s.%s", mod, c->has_one_of[h]);
                    found = strmap_get(&st->by_name, name, NULL);
                }
                if (found)
                    continue;
                /* the error text with the module's sizes */
                char msg[1024];
                size_t n = 0;
                for (const char *q = c->error; *q && n + 32 < sizeof msg; q++) {
                    long long val;
                    int isval = 1;
                    shard_kind sk = r->params[any->tmpl].shard;
                    int tp = p->layout.tp;
                    if (strncmp(q, "{in}", 4) == 0)
                        val = (long long)(sk == SHARD_ROW ? any->in / tp : any->in), q += 3;
                    else if (strncmp(q, "{out}", 5) == 0)
                        val = (long long)(sk == SHARD_COLUMN ? any->out / tp : any->out), q += 4;
                    else if (strncmp(q, "{tp}", 4) == 0)
                        val = p->layout.tp, q += 3;
                    else if (strncmp(q, "{layer}", 7) == 0)
                        val = layer, q += 6;
                    else
                        isval = 0;
                    if (isval)
                        n += (size_t)snprintf(msg + n, sizeof msg - n, "%lld", val);
                    else
                        msg[n++] = *q;
                }
                msg[n] = 0;
                char have[256] = "";
                for (size_t i = 0, hn = 0; i < st->n && hn < sizeof have; i++)
                    if (strncmp(st->params[i].name, mod, ml) == 0 && st->params[i].name[ml] == '.')
                        hn += (size_t)snprintf(have + hn, sizeof have - hn, "%s%s", hn ? ", " : "",
                                               st->params[i].name + ml + 1);
                char wants[256] = "";
                for (int h = 0, wn = 0; h < c->n_has && wn < (int)sizeof wants; h++)
                    wn += snprintf(wants + wn, sizeof wants - (size_t)wn, "%s%s", h ? ", " : "",
                                   c->has_one_of[h]);
                sim_finding_add(s, "lint.postload", SEV_ERROR, si, r->path, mod, "after loading, the model "
                          "fails on layer %d: %s (the module holds %s; this loader path knows only "
                          "%s; rules line %d)", layer, msg, have, wants, c->line);
                break; /* the first failing layer stops this stage */
            }
        }
    }
}

const char *sim_ranks_str(const plan *p, uint64_t mask, char *buf, size_t size)
{
    int tp = p->layout.tp, pp = p->layout.pp;
    uint64_t all = pp >= 64 ? ~0ull : (1ull << pp) - 1;
    if ((mask & all) == all) {
        snprintf(buf, size, pp * tp == 1 ? "rank 0" : "all ranks (0-%d)", pp * tp - 1);
        return buf;
    }
    size_t n = 0;
    buf[0] = 0;
    for (int s = 0; s < pp && n < size; s++) {
        if (!(mask & (1ull << s)))
            continue;
        int e = s;
        while (e + 1 < pp && (mask & (1ull << (e + 1))))
            e++;
        int lo = s * tp, hi = (e + 1) * tp - 1;
        char rk[64], sg[64];
        if (lo == hi)
            snprintf(rk, sizeof rk, "rank %d", lo);
        else
            snprintf(rk, sizeof rk, "ranks %d-%d", lo, hi);
        if (s == e)
            snprintf(sg, sizeof sg, "PP stage %d", s);
        else
            snprintf(sg, sizeof sg, "PP stages %d-%d", s, e);
        n += (size_t)snprintf(buf + n, size - n, "%s%s (%s)", n ? ", " : "", rk, sg);
        s = e;
    }
    return buf;
}

/* The checkpoint shape of a key against what the parameter expects from it. */
void sim_check_shapes(sim *s)
{
    for (size_t i = 0; i < s->n; i++) {
        const sim_key *k = &s->keys[i];
        uint64_t want[PLAN_MAX_DIMS];
        int nd, st;
        const rules_param *t;
        if (!k->bad_shape || !sim_expected_shape(s, k, want, &nd, &st, &t, NULL))
            continue;
        const st_tensor *ten = key_tensor(s->ck, k);
        char a[128], b[128];
        st_shape_str(ten->shape, ten->ndim, a, sizeof a);
        st_shape_str(want, (uint32_t)nd, b, sizeof b);
        /* the expected shape with the last two dims swapped: stored the other way round */
        int swapped = nd >= 2 && (int)ten->ndim == nd && ten->shape[nd - 1] == want[nd - 2] &&
                      ten->shape[nd - 2] == want[nd - 1] && want[nd - 1] != want[nd - 2];
        for (int d = 0; swapped && d < nd - 2; d++)
            swapped = ten->shape[d] == want[d];
        int tr = k->rule >= 0 && s->p->rules->keys[k->rule].transposed;
        char pw[128];
        sim_finding_add(s, "lint.shape", SEV_ERROR, st, s->ck->shards[k->shard].name, key_name(s, k),
                  "shape %s does not match %s expected for '%s'%s%s (from config.json and rules "
                  "line %d)%s", a, b, key_param(s, k)->param,
                  key_part(s->p->rules, k) ? " " : "",
                  k->rule >= 0 ? rules_key_parts_text(&s->p->rules->keys[k->rule], pw, sizeof pw) : "",
                  t->line, !swapped ? "" : tr ? ": its last two dims are swapped: the loader reads this key "
                  "input-major ([in, out], transposing it as it loads) and the tensor is stored output-major "
                  "(as transformers 5's save_pretrained writes some models' fused experts): transpose its "
                  "last two dims" : ": its last two dims are swapped: the loader reads this key "
                  "output-major and the tensor is stored input-major: transpose its last two dims");
    }
}

/* Where a line of the ignore list names key's module under another prefix than the key's (the
 * text-only model's "model.layers.0.x" over a checkpoint that stores "model.language_model.layers.0.x"):
 * a sentence that says so into buf, else "". seen: the key less the prefix the loader strips. */
static void listed_elsewhere(const rules_file *r, const char *lines, const char *key, const char *seen,
                             const char *list, char *buf, size_t size)
{
    const char *dot = strrchr(seen, '.');
    size_t pl = dot ? (size_t)(dot - seen) : 0;
    size_t ml = (size_t)(seen - key) + pl; /* the key's module: the key less its ".weight" */
    buf[0] = 0;
    if (!pl)
        return;
    for (const char *q = lines; q && *q;) {
        const char *e = strchr(q, '\n');
        size_t l = e ? (size_t)(e - q) : strlen(q);
        /* the line's prefix one that the rules know for this model (strip_prefix, also_strip or
         * outer.also_strip), not the key's own: another module of the same path (mtp.*) is not it */
        size_t lp = l > pl ? l - pl : 0;
        int known = lp && lp == strlen(r->strip_prefix) && memcmp(q, r->strip_prefix, lp) == 0;
        for (int i = 0; !known && i < r->n_also_strip; i++)
            known = lp == strlen(r->also_strip[i]) && memcmp(q, r->also_strip[i], lp) == 0;
        for (int i = 0; !known && i < r->n_outer_strip; i++)
            known = lp == strlen(r->outer_strip[i]) && memcmp(q, r->outer_strip[i], lp) == 0;
        if (known && memcmp(q + lp, seen, pl) == 0 && !(l == ml && memcmp(q, key, ml) == 0)) {
            snprintf(buf, size, " (%s names it '%.*s', which vLLM does not map to this module: name it '%.*s', "
                     "as the checkpoint does)", list, (int)(l < 160 ? l : 160), q, (int)(ml < 160 ? ml : 160), key);
            return;
        }
        q = e ? e + 1 : q + l;
    }
}

/* A wide float stored where the quantization variant keeps codes (an FP8 or integer "weight"
 * beside its scale): vLLM copies the values into its parameter of the code dtype with no scale
 * to go with them, and loads without a word. */
void sim_check_dtypes(sim *s)
{
    const plan *p = s->p;
    for (size_t i = 0; i < s->n; i++) {
        const sim_key *k = &s->keys[i];
        const sim_param *kp = key_param(s, k);
        if (!k->has_tensor || kp->own_st < 0 || k->bad_shape || k->outside)
            continue; /* an index entry without its shard's header, a key skipped, or one whose
                       * shape is wrong too (lint.shape says so; the copy fails on it) */
        const plan_param *pp = &p->stages[kp->own_st].params[kp->own_pi];
        const rules_suffix *sf = pp->suffix >= 0 ? &pp->quant->suffixes[pp->suffix] : NULL;
        ck_dtype want;
        if (!sf || !sf->dtype || dtype_parse(sf->dtype, strlen(sf->dtype), &want) != 0 || dtype_bits(want) > 8 ||
            (strcmp(sf->suffix, "weight") != 0 && strcmp(sf->suffix, "weight_packed") != 0))
            continue; /* the weight's codes only: a 32-bit packed word stored in another width is a shape
                       * error, and vLLM casts a float scale into an FP8 one as a number */
        const st_tensor *ten = key_tensor(s->ck, k);
        ck_dtype got = ten->dtype;
        if (got != DT_F16 && got != DT_BF16 && got != DT_F32 && got != DT_F64)
            continue;
        const char *list = p->cfg->not_convert_key ? p->cfg->not_convert_key : "modules_to_not_convert";
        char near[640] = "";
        listed_elsewhere(p->rules, p->cfg->not_convert, key_name(s, k), key_seen_name(s, k), list, near, sizeof near);
        sim_finding_add(s, "lint.dtype", SEV_ERROR, kp->own_st, s->ck->shards[k->shard].name, key_name(s, k),
                        "%s values where %s quantization stores %s codes beside a scale: vLLM copies them "
                        "into its %s parameter as they are and loads without an error, so '%s' computes "
                        "garbage; quantize this module too, or name it in quantization_config's %s so "
                        "that vLLM builds it unquantized%s", dtype_name(got), pp->quant->method,
                        dtype_name(want), dtype_name(want), key_param(s, k)->param, list, near);
    }
}

