/* simulate.c - the load replay's entry points (see simulate.h): the keys laid out in the
 * loader's order (keyorder.c), each mapped once (keymap.c), every pipeline stage replayed over
 * them (stages.c), and the findings of the stages folded into one list. */
#include "loader/simulate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/sim_internal.h"

char *sim_own(sim *s, char *str)
{
    if (!str) {
        s->oom = 1;
        return NULL;
    }
    if (s->n_owned == s->cap_owned) {
        size_t c = s->cap_owned ? s->cap_owned * 2 : 1024;
        char **v = realloc(s->owned, c * sizeof *v);
        if (!v) {
            free(str);
            s->oom = 1;
            return NULL;
        }
        s->owned = v;
        s->cap_owned = c;
    }
    s->owned[s->n_owned++] = str;
    return str;
}

void sim_finding_put(sim *s, const char *code, ck_severity sev, int stage, const char *file,
                      const char *key, const char *msg)
{
    size_t kl = strlen(code) + strlen(key ? key : "") + strlen(msg) + 3;
    char *mk = malloc(kl);
    if (!mk) {
        s->oom = 1;
        return;
    }
    snprintf(mk, kl, "%s\1%s\1%s", code, key ? key : "", msg);
    size_t at;
    if (strmap_get(&s->fmap, mk, &at)) {
        s->fs[at].mask |= 1ull << stage;
        free(mk);
        return;
    }
    if (s->nf == s->capf) {
        size_t c = s->capf ? s->capf * 2 : 64;
        sfind *v = realloc(s->fs, c * sizeof *v);
        if (!v) {
            free(mk);
            s->oom = 1;
            return;
        }
        s->fs = v;
        s->capf = c;
    }
    if (!sim_own(s, mk))
        return;
    sfind *x = &s->fs[s->nf];
    x->code = code;
    x->sev = sev;
    x->file = sim_own(s, strdup(file ? file : ""));
    x->key = sim_own(s, strdup(key ? key : ""));
    x->msg = sim_own(s, strdup(msg));
    x->mask = 1ull << stage;
    if (!x->file || !x->key || !x->msg || strmap_put(&s->fmap, mk, s->nf, NULL) < 0) {
        s->oom = 1;
        return;
    }
    s->nf++;
}

void sim_finding_add(sim *s, const char *code, ck_severity sev, int stage, const char *file,
                      const char *key, const char *fmt, ...)
{
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sim_finding_put(s, code, sev, stage, file, key, msg);
}


/* Calls l->fn for every key s mapped to l->param, in the loader's order, with its full mapping. */
int sim_list_keys(const sim *s, const sim_listing *l)
{
    for (size_t i = 0; i < s->n; i++) {
        const sim_key *k = &s->keys[i];
        const char *param = key_param(s, k)->param;
        if (!param || strcmp(param, l->param) != 0)
            continue;
        sim_mapping m;
        sim_mapping_fill(s, k, param, &m);
        l->fn(l->ctx, key_name(s, k), s->ck->shards[k->shard].name, &m);
    }
    return CK_OK;
}

/* What a replay adds to a map: its findings and the strings they own. */
void sim_free_replay(sim *s)
{
    for (size_t i = 0; i < s->n_owned; i++)
        free(s->owned[i]);
    free(s->owned);
    s->owned = NULL;
    s->n_owned = s->cap_owned = 0;
    free(s->fs);
    s->fs = NULL;
    s->nf = s->capf = 0;
    strmap_free(&s->fmap);
}

void sim_free_strings(sim *s)
{
    for (int t = 0; t < SIM_THREADS; t++)
        free(s->prm[t]);
    free(s->keys);
    free(s->seg);
    free(s->seg_first);
    free(s->seg_count);
    free(s->psize);
    free(s->part_of);
    free(s->pbase);
    sim_free_replay(s);
}

/* After the map: the keys listed, the rules' assertions, the stages, the shapes, the post-load
 * checks, and the findings into f. */
static int sim_tail(sim *s, const sim_listing *l, sim_result *res, ck_findings *f, ck_err *err)
{
    const plan *p = s->p;
    int rc = CK_OK;
    if (l && (rc = sim_list_keys(s, l)) != CK_OK)
        return rc;
    for (int i = 0; i < p->rules->n_asserts; i++) {
        const rules_assert *a = &p->rules->asserts[i];
        if (a->severity == RULES_REFUSED)
            continue; /* the plan's (lint.config_refused) */
        plan_env env = {p, NULL, NULL, NULL, NULL, 0, NULL, NULL};
        expr_val v;
        if (plan_eval(p, a->cond, &env, a->line, &v, err))
            return err->code;
        if (expr_truthy(&v))
            continue;
        if (a->severity < SEV_ERROR) { /* the model loads, and computes otherwise than config.json reads */
            findings_add(f, "lint.config", (ck_severity)a->severity, s->ck->cfg.path ? s->ck->cfg.path : "config.json",
                         "", CK_NO_OFFSET, "%s (rules %s, line %d)", a->error, p->rules->name, a->line);
            continue;
        }
        for (int st = 0; st < p->layout.pp; st++) {
            snprintf(res->stages[st].error, sizeof res->stages[st].error, "%s", a->error);
            sim_finding_add(s, "lint.assert", SEV_ERROR, st, p->rules->path, "", "the loader stops "
                      "before reading any key: %s (%s does not hold; rules line %d)", a->error,
                      expr_text(a->cond), a->line);
        }
    }
    if (!s->oom)
        sim_run_stages(s, res);
    sim_check_shapes(s);
    sim_check_dtypes(s);
    sim_run_checks(s);
    if (s->oom)
        return ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < s->nf; i++) {
        char ranks[256];
        const sfind *x = &s->fs[i];
        findings_add(f, x->code, x->sev, x->file, x->key, UINT64_MAX, "%s: %s",
                     sim_ranks_str(p, x->mask, ranks, sizeof ranks), x->msg);
    }
    return CK_OK;
}

void sim_init(sim *s, const ck_checkpoint *ck, const plan *p, ck_err *err)
{
    memset(s, 0, sizeof *s);
    s->ck = ck;
    s->p = p;
    s->err = err;
    strmap_init(&s->fmap);
}

int simulate_run(const ck_checkpoint *ck, const plan *p, sim_result *res, ck_findings *f,
                 ck_err *err)
{
    return simulate_run_listing(ck, p, NULL, res, f, err);
}

/* ------------------------------------------------------------------------------------------ */
/* The map of every key, built once and shared. */

struct keymap {
    sim s;                /* the map: keys, parameters, part sizes; read-only once built */
    size_t *base;         /* (ck->n_shards) where each shard's tensors start in key_of */
    size_t *key_of;       /* a shard tensor's key, SIZE_MAX: it has none (a dropped copy) */
};

/* key_of from the keys: which key each tensor of each shard is. 0, or -1 out of memory. */
static int keymap_index(keymap *km)
{
    const ck_checkpoint *ck = km->s.ck;
    size_t n = 0;
    if (!(km->base = malloc((ck->n_shards ? ck->n_shards : 1) * sizeof *km->base)))
        return -1;
    for (size_t i = 0; i < ck->n_shards; i++) {
        km->base[i] = n;
        n += ck->shards[i].status == ST_OK ? ck->shards[i].h.n_tensors : 0;
    }
    if (!(km->key_of = malloc((n ? n : 1) * sizeof *km->key_of)))
        return -1;
    for (size_t i = 0; i < n; i++)
        km->key_of[i] = SIZE_MAX;
    for (size_t i = 0; i < km->s.n; i++) {
        const sim_key *k = &km->s.keys[i];
        if (k->has_tensor)
            km->key_of[km->base[k->shard] + k->tensor] = i;
    }
    return 0;
}

int keymap_build(const ck_checkpoint *ck, const plan *p, keymap **out, ck_err *err)
{
    *out = NULL;
    keymap *km = calloc(1, sizeof *km);
    if (!km)
        return ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    sim_init(&km->s, ck, p, err);
    int rc = CK_OK;
    if (sim_collect_keys(&km->s) != 0 || km->s.oom)
        rc = ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    else if (sim_map_keys(&km->s) != 0)
        rc = err->code ? err->code : CK_ENOMEM;
    else if (km->s.oom || keymap_index(km) != 0)
        rc = ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    if (rc != CK_OK) {
        keymap_free(km);
        return rc;
    }
    km->s.err = NULL; /* the caller's record was for the build; a replay brings its own */
    *out = km;
    return CK_OK;
}

void keymap_free(keymap *km)
{
    if (!km)
        return;
    sim_free_strings(&km->s);
    free(km->base);
    free(km->key_of);
    free(km);
}

/* The key of checkpoint tensor i, or NULL. */
static const sim_key *keymap_key(const keymap *km, size_t i)
{
    const ck_checkpoint *ck = km->s.ck;
    if (i >= ck->n_tensors)
        return NULL;
    ck_tensor_ref ref = ck->tensors[i];
    size_t k = km->key_of[km->base[ref.shard] + ref.tensor];
    return k == SIZE_MAX ? NULL : &km->s.keys[k];
}

int keymap_get(const keymap *km, size_t i, keymap_entry *e)
{
    const sim_key *k = keymap_key(km, i);
    if (!k)
        return 0;
    const sim_param *kp = key_param(&km->s, k);
    e->skip = k->skip;
    e->rule = k->rule;
    e->param = k->outside ? NULL : kp->param; /* the model above has no module for it */
    e->part = key_part(km->s.p->rules, k);
    e->expert = k->expert;
    return 1;
}

void keymap_entry_of(const sim_mapping *m, keymap_entry *e)
{
    *e = (keymap_entry){m->skip, m->rule, m->skip >= 0 || m->outside ? NULL : m->param, m->part, m->expert};
}

int keymap_explain(const keymap *km, size_t i, sim_mapping *m)
{
    const sim_key *k = keymap_key(km, i);
    if (!k)
        return 0;
    sim_mapping_fill(&km->s, k, key_param(&km->s, k)->param, m);
    return 1;
}

const plan *keymap_plan(const keymap *km)
{
    return km->s.p;
}

/* The replay of every stage over the mapped keys of s: res filled, the findings added to f;
 * res freed on failure. */
static int replay(sim *s, const sim_listing *l, sim_result *res, ck_findings *f, ck_err *err)
{
    res->stages = calloc((size_t)s->p->layout.pp, sizeof *res->stages);
    res->n_stages = s->p->layout.pp;
    int rc = res->stages ? CK_OK : ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    if (rc == CK_OK) {
        res->keys = s->n;
        res->from_index = s->ck->n_tensors == 0 && s->n > 0;
        rc = sim_tail(s, l, res, f, err);
    }
    if (rc != CK_OK)
        sim_result_free(res);
    return rc;
}

int simulate_run_map(const keymap *km, const sim_listing *l, sim_result *res, ck_findings *f, ck_err *err)
{
    memset(res, 0, sizeof *res);
    sim s = km->s; /* the map's records, shared; the replay's own findings and strings */
    s.err = err;
    s.owned = NULL;
    s.n_owned = s.cap_owned = 0;
    s.fs = NULL;
    s.nf = s.capf = 0;
    s.oom = 0;
    strmap_init(&s.fmap);
    int rc = replay(&s, l, res, f, err);
    sim_free_replay(&s);
    return rc;
}

int simulate_run_listing(const ck_checkpoint *ck, const plan *p, const sim_listing *l,
                         sim_result *res, ck_findings *f, ck_err *err)
{
    keymap *km;
    memset(res, 0, sizeof *res);
    int rc = keymap_build(ck, p, &km, err);
    if (rc != CK_OK)
        return rc;
    rc = simulate_run_map(km, l, res, f, err);
    keymap_free(km);
    return rc;
}

/* A map begun while the reader cross-checks the headers (simulate_start). */
struct sim_early {
    sim s;
    map_run *m;
    size_t tensors;       /* every readable shard's tensors, all of which the layout took */
    ck_err err;           /* the map threads' errors go here until simulate_run_early */
    int mapping;          /* sim_map_start ran: threads to finish or to stop */
};

sim_early *simulate_start(const ck_checkpoint *ck, const plan *p)
{
    sim_early *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    sim_init(&e->s, ck, p, &e->err);
    e->s.direct = 1;
    ck_err_clear(&e->err);
    for (size_t i = 0; i < ck->n_shards; i++)
        e->tensors += ck->shards[i].status == ST_OK ? ck->shards[i].h.n_tensors : 0;
    if (sim_collect_keys(&e->s) != 0 || !(e->m = sim_map_start(&e->s))) {
        simulate_abandon(e);
        return NULL;
    }
    e->mapping = 1;
    return e;
}

void simulate_abandon(sim_early *e)
{
    if (!e)
        return;
    if (e->mapping)
        sim_map_abandon(&e->s, e->m);
    sim_free_strings(&e->s);
    free(e);
}

int simulate_run_early(sim_early *e, const sim_listing *l, sim_result *res, ck_findings *f,
                       ck_err *err)
{
    const ck_checkpoint *ck = e->s.ck;
    const plan *p = e->s.p;
    if (ck->n_tensors != e->tensors) { /* the reader dropped a copy of a tensor: lay out again */
        simulate_abandon(e);
        return simulate_run_listing(ck, p, l, res, f, err);
    }
    memset(res, 0, sizeof *res);
    sim *s = &e->s;
    s->err = err;
    int rc = sim_map_finish(s, e->m) != 0 ? (err->code ? err->code : CK_ENOMEM) : CK_OK;
    e->mapping = 0;
    if (rc == CK_OK)
        rc = replay(s, l, res, f, err);
    else if (!err->code)
        ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    sim_free_strings(s);
    free(e);
    return rc;
}

int simulate_keys_for_param(const keymap *km, const char *param,
                            void (*fn)(void *ctx, const char *key, const char *file,
                                       const sim_mapping *m),
                            void *ctx)
{
    sim_listing l = {param, fn, ctx};
    return sim_list_keys(&km->s, &l);
}

void sim_result_free(sim_result *res)
{
    if (!res)
        return;
    free(res->stages);
    memset(res, 0, sizeof *res);
}
