/* keymap.c - each checkpoint key mapped once: the name the loader sees (prefix stripped), the
 * skip rule or key rule that takes it, the parameter it fills and the stages that have that
 * parameter, on as many threads as there are cores; key shapes and parameter names are cached
 * so that 92k keys cost a few hundred full matches. Also one key alone (simulate_map_key). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jscan.h"
#include "base/thread.h"
#include "loader/sim_internal.h"

/* Adds a parameter to map thread t's table: its pid, or PID_NONE out of room. */
static uint32_t param_add(sim *s, int t, const sim_param *pr)
{
    if (s->n_prm[t] == PID_MAX_LOCAL)
        return PID_NONE;
    if (s->n_prm[t] == s->cap_prm[t]) {
        size_t c = s->cap_prm[t] ? s->cap_prm[t] * 2 : 256;
        sim_param *v = realloc(s->prm[t], c * sizeof *v);
        if (!v)
            return PID_NONE;
        s->prm[t] = v;
        s->cap_prm[t] = c;
    }
    s->prm[t][s->n_prm[t]] = *pr;
    return (uint32_t)t << PID_SHIFT | (uint32_t)s->n_prm[t]++;
}


/* A rule's `when` usually reads one integer capture ({layer}) and config values: its value is
 * remembered per value of that capture, so 90k keys cost ~60 evaluations. */
typedef struct {
    int cap;              /* the one integer capture the expression reads, -1: not memoizable */
    int8_t *memo;         /* (MEMO_N) -1 unknown, 0, 1 */
} when_memo;

#define MEMO_N 65536
#define NO_SIZE INT64_MIN /* a part size that cannot be evaluated */
#define CONSTANT (-2) /* when_memo.cap of an expression that reads no capture */

typedef struct {
    const pattern *pt;
    int cap;
    int other;
} names_ctx;

static void note_name(void *ctx, const char *name, size_t len)
{
    names_ctx *c = ctx;
    int i = pattern_cap_index(c->pt, name, len);
    if (i < 0)
        return;
    if (c->pt->caps[i].kind != CAP_INT || (c->cap >= 0 && c->cap != i))
        c->other = 1;
    c->cap = i;
}

static void memo_init(when_memo *m, const pattern *pt, const expr *when)
{
    m->cap = -1;
    m->memo = NULL;
    if (!when)
        return;
    names_ctx c = {pt, -1, 0};
    expr_names(when, note_name, &c);
    if (c.other)
        return;
    if (c.cap < 0) { /* config values only: one value for every key */
        if ((m->memo = malloc(1))) {
            m->memo[0] = -1;
            m->cap = CONSTANT;
        }
        return;
    }
    m->memo = malloc(MEMO_N);
    if (m->memo) {
        memset(m->memo, -1, MEMO_N);
        m->cap = c.cap;
    }
}

/* 1/0 for the rule's `when` on these captures, -1 on an evaluation error. */
static int when_true(sim *s, when_memo *m, const pattern *pt, const expr *when, int line,
                     const pattern_value *v, ck_err *err)
{
    if (!when)
        return 1;
    int64_t key = m->cap >= 0 ? v[m->cap].v : m->cap == CONSTANT ? 0 : -1;
    if (m->memo && key >= 0 && key < MEMO_N && m->memo[key] >= 0)
        return m->memo[key];
    plan_env env = {s->p, pt, v, NULL, NULL, 0, NULL, NULL};
    expr_val w;
    if (plan_eval(s->p, when, &env, line, &w, err))
        return -1;
    int t = expr_truthy(&w);
    if (m->memo && key >= 0 && key < MEMO_N)
        m->memo[key] = (int8_t)t;
    return t;
}

/* Strings made while mapping, one pool per thread: 64 KB blocks, freed with the sim. */
typedef struct {
    char **v;             /* the blocks */
    size_t n, cap;
    char *blk;
    size_t used, size;
    strmap *names;        /* optional: parameter names made so far -> their pid (interned) */
    size_t hit;           /* out of map_one: that pid when the name was made before, else SIZE_MAX */
    const char *param;    /* out of map_one otherwise: the parameter name (NULL: skipped) */
    struct param_memo *memo; /* optional: (shape, rule, numbers) -> the pid of the name */
    int pending;          /* out of map_one: memo_key holds a key the memo does not have yet */
    struct memo_key {
        uint32_t shape;
        int16_t rule;
        uint8_t n;
        int64_t v[3];
    } memo_key;
} strpool;

static char *pool_dup(strpool *sp, const char *str, size_t len)
{
    if (sp->used + len + 1 > sp->size) {
        size_t size = len + 1 > 65536 ? len + 1 : 65536;
        if (sp->n == sp->cap) {
            size_t c = sp->cap ? sp->cap * 2 : 64;
            char **v = realloc(sp->v, c * sizeof *v);
            if (!v)
                return NULL;
            sp->v = v;
            sp->cap = c;
        }
        if (!(sp->blk = malloc(size)))
            return NULL;
        sp->v[sp->n++] = sp->blk;
        sp->used = 0;
        sp->size = size;
    }
    char *d = sp->blk + sp->used;
    memcpy(d, str, len);
    d[len] = 0;
    sp->used += len + 1;
    return d;
}

/* The numbers of a key: its all-digit components that an integer capture can take (no leading
 * zero, at most 18 digits), where they start, their length and value (see key_shape). */
#define KEY_NUMS 16

typedef struct {
    int n;
    uint16_t at[KEY_NUMS];
    uint8_t len[KEY_NUMS];
    int64_t v[KEY_NUMS];
} key_nums;

/* How a pattern that matched the first key of a shape captures on every key of that shape:
 * capture i takes number src[i] of the key, or (src[i] < 0) the same text as on the first key,
 * cval[i]. ok 0: a capture holds a number and more, so each key is matched in full. */
typedef struct {
    int16_t j;            /* the skip or key rule */
    int8_t kind;          /* 0 skip, 1 key rule */
    int8_t ok;
    int8_t src[PATTERN_MAX_CAPS];
    pattern_value cval[PATTERN_MAX_CAPS];
    int8_t memo_ok;       /* key rule: its parameter name is made of numbers memo_src only */
    int8_t memo_n;
    int8_t memo_src[3];
} cap_plan;

#define SHAPE_PLANS 4

typedef struct {
    uint64_t cand[2];     /* the skips and key rules whose patterns match the shape */
    uint32_t id;
    int n_plan;           /* plans of the first SHAPE_PLANS candidates; others are matched */
    cap_plan plan[SHAPE_PLANS];
} shape_ent;

/* The key's shape entry and numbers, for map_one; NULL when the key has no shape. */
typedef struct {
    const shape_ent *se;
    const key_nums *kn;
} key_shape_ctx;

/* Matches pattern pt (skip or key rule j) against the key: from the shape's plan when it has
 * one, else in full. */
static int match_key(const key_shape_ctx *sc, int kind, int j, const pattern *pt, const char *seen,
                     size_t sl, pattern_value *v, const cap_plan **plan_out)
{
    *plan_out = NULL;
    for (int i = 0; sc && i < sc->se->n_plan; i++) {
        const cap_plan *pl = &sc->se->plan[i];
        if (pl->j != j || pl->kind != kind)
            continue;
        if (!pl->ok)
            break;
        for (int c = 0; c < pt->n_caps; c++) {
            if (pl->src[c] < 0) {
                v[c] = pl->cval[c];
                continue;
            }
            int o = pl->src[c];
            v[c].s = seen + sc->kn->at[o];
            v[c].len = sc->kn->len[o];
            v[c].v = sc->kn->v[o];
        }
        *plan_out = pl;
        return 1;
    }
    return pattern_match(pt, seen, sl, v);
}

/* Parameter names already made, by (shape, key rule, the numbers the name is made of): most
 * keys are one of 256 experts that all fill the same fused parameter. */
typedef struct param_memo {
    struct memo_ent {
        struct memo_key k;
        uint32_t pid;
        uint8_t used;
    } *e;
    size_t n, cap;
    struct memo_ent recent[8]; /* the last entry found for each shape (by its id mod 8): the
                                * keys of one layer repeat a few shapes in turn */
} param_memo;

static uint64_t memo_hash(const struct memo_key *k)
{
    uint64_t h = (uint64_t)k->shape * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uint16_t)k->rule << 32 ^ k->n;
    for (int i = 0; i < k->n; i++)
        h = (h ^ (uint64_t)k->v[i]) * 0xFF51AFD7ED558CCDull;
    return h ^ h >> 29;
}

static int memo_same(const struct memo_key *a, const struct memo_key *b)
{
    if (a->shape != b->shape || a->rule != b->rule || a->n != b->n)
        return 0;
    for (int i = 0; i < a->n; i++)
        if (a->v[i] != b->v[i])
            return 0;
    return 1;
}

static struct memo_ent *memo_slot(param_memo *m, const struct memo_key *k)
{
    size_t j = memo_hash(k) & (m->cap - 1);
    while (m->e[j].used && !memo_same(&m->e[j].k, k))
        j = (j + 1) & (m->cap - 1);
    return &m->e[j];
}

static int memo_get(param_memo *m, const struct memo_key *k, size_t *pid)
{
    struct memo_ent *r = &m->recent[k->shape & 7];
    if (r->used && memo_same(&r->k, k)) {
        *pid = r->pid;
        return 1;
    }
    if (!m->cap)
        return 0;
    struct memo_ent *e = memo_slot(m, k);
    if (e->used) {
        *pid = e->pid;
        *r = *e;
    }
    return e->used;
}

static int memo_put(param_memo *m, const struct memo_key *k, size_t pid)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        struct memo_ent *e = malloc(cap * sizeof *e), *old = m->e;
        if (!e)
            return -1;
        memset(e, 0, cap * sizeof *e);
        size_t ocap = m->cap;
        m->e = e;
        m->cap = cap;
        for (size_t i = 0; i < ocap; i++)
            if (old[i].used)
                *memo_slot(m, &old[i].k) = old[i];
        free(old);
    }
    struct memo_ent *e = memo_slot(m, k);
    if (!e->used) {
        e->k = *k;
        e->used = 1;
        m->n++;
    }
    e->pid = (uint32_t)pid;
    return 0;
}

/* The memo key of a key rule's parameter name on this key, when the shape's plan has a recipe
 * for it (memo_recipe); 0 otherwise. */
static int memo_key_of(int j, const key_shape_ctx *sc, const cap_plan *pl, struct memo_key *mk)
{
    if (!pl || !pl->memo_ok)
        return 0;
    memset(mk, 0, sizeof *mk);
    mk->shape = sc->se->id;
    mk->rule = (int16_t)j;
    mk->n = (uint8_t)pl->memo_n;
    for (int i = 0; i < pl->memo_n; i++)
        mk->v[i] = sc->kn->v[pl->memo_src[i]];
    return 1;
}

/* Which numbers of the shape key rule kr's parameter name is made of, for memo_key_of: the name
 * uses at most three captures that are numbers (others are the same text on every key). */
static void memo_recipe(cap_plan *pl, const rules_key *kr)
{
    pl->memo_ok = pl->ok;
    pl->memo_n = 0;
    for (int c = 0; c < kr->param.n_caps && pl->memo_ok; c++) {
        int kc = pattern_cap_index(&kr->key, kr->param.caps[c].name, strlen(kr->param.caps[c].name));
        if (kc < 0 || (pl->src[kc] >= 0 && pl->memo_n == 3))
            pl->memo_ok = 0;
        else if (pl->src[kc] >= 0)
            pl->memo_src[pl->memo_n++] = pl->src[kc];
    }
}

/* The name the loader sees: the key without the rules' strip_prefix (or one of also_strip,
 * tried first where the model sits under its wrapper: the wrapper's WeightsMapper maps them; or
 * one of outer.also_strip where it does not: the model above's maps them). */
static void key_seen(const sim *s, sim_key *k)
{
    const rules_file *r = s->p->rules;
    k->outside = 0;
    int in_wrapper = s->p->wrapper && s->p->wrapper[0];
    char *const *pre = in_wrapper ? r->also_strip : r->outer_strip;
    for (int i = 0; i < (in_wrapper ? r->n_also_strip : r->n_outer_strip); i++) {
        size_t al = strlen(pre[i]);
        if (key_len(s, k) >= al && memcmp(key_name(s, k), pre[i], al) == 0) {
            k->seen_off = (uint16_t)al;
            return;
        }
    }
    const char *strip = r->strip_prefix;
    size_t spl = strlen(strip), kl = key_len(s, k);
    k->seen_off = spl && spl <= UINT16_MAX && kl >= spl && memcmp(key_name(s, k), strip, spl) == 0
                  ? (uint16_t)spl : 0;
    /* under a wrapper that maps strip_prefix only before its own modules, the rest stays whole */
    if (k->seen_off && s->p->wrapper && s->p->wrapper[0] && r->wrapper_strip_modules_only &&
        !under_module(key_name(s, k) + spl, kl - spl, r->wrapper_modules, r->n_wrapper_modules))
        k->seen_off = 0;
    /* a key without strip_prefix is looked up from the model above it (loader.outer, or the
     * wrapper), which has its own modules beside the stripped one and no other */
    const plan *p = s->p;
    const char *nm = key_name(s, k);
    int wrapped = p->wrapper_class[0] != 0; /* set only where the model sits under the wrapper */
    size_t wl = wrapped ? strlen(p->wrapper) : 0; /* the wrapper's module that holds the model */
    k->outside = !k->seen_off && spl && !r->outer_top && (p->outer_class[0] || wrapped) &&
                 !(wrapped && kl > wl && memcmp(nm, p->wrapper, wl) == 0) &&
                 !under_module(nm, kl, r->outer_modules, r->n_outer_modules) &&
                 /* the model above maps these itself; a wrapper's mapper does not */
                 !(!wrapped && p->outer_maps && under_module(nm, kl, r->outer_maps, r->n_outer_maps)) &&
                 !(wrapped && (under_module(nm, kl, r->wrapper_modules, r->n_wrapper_modules) ||
                               under_module(nm, kl, r->wrapper_keeps, r->n_wrapper_keeps)));
}

/* The rule after j (-1: the first) that can match: the next bit of the shape's candidates
 * (patterns of at most 64 rules, shape_safe), or simply j + 1 without a shape. */
static inline int next_rule(const uint64_t *cand, int j, int n)
{
    if (!cand)
        return j + 1;
    uint64_t m = j + 1 < 64 ? *cand & (~0ull << (j + 1)) : 0;
    return m ? __builtin_ctzll(m) : n;
}

/* The per-key, stage-independent part. Maps one key (k->seen_off set by key_seen): skip, rule,
 * parameter name (in sp). 0, or -1 on an error in err (err->code 0: out of memory). */
static int map_one(sim *s, sim_key *k, when_memo *sm, when_memo *km, const key_shape_ctx *sc,
                   strpool *sp, ck_err *err)
{
    const plan *p = s->p;
    const rules_file *r = p->rules;
    const char *seen = key_seen_name(s, k);
    size_t sl = key_len(s, k) - k->seen_off;
    k->skip = k->rule = -1;
    k->expert = -1;
    k->pid = PID_NONE;
    sp->hit = SIZE_MAX;
    sp->param = NULL;
    sp->pending = 0;
    const uint64_t *cand = sc ? sc->se->cand : NULL;
    const cap_plan *pl;
    pattern_value v[PATTERN_MAX_CAPS];
    for (int j = next_rule(cand, -1, r->n_skips); j < r->n_skips && k->skip < 0;
         j = next_rule(cand, j, r->n_skips)) {
        const rules_skip *sk = &r->skips[j];
        if ((k->outside && sk->inner) || !match_key(sc, 0, j, &sk->key, seen, sl, v, &pl))
            continue;
        int t = when_true(s, &sm[j], &sk->key, sk->when, sk->line, v, err);
        if (t < 0)
            return -1;
        if (t)
            k->skip = (int16_t)j;
    }
    if (k->skip >= 0)
        return 0;
    if (k->outside) { /* the model above never hands it to the rules' loader */
        sp->param = seen;
        return 0;
    }
    const uint64_t *kcand = cand ? cand + 1 : NULL;
    for (int j = next_rule(kcand, -1, r->n_keys); j < r->n_keys && k->rule < 0;
         j = next_rule(kcand, j, r->n_keys)) {
        const rules_key *kr = &r->keys[j];
        if (!match_key(sc, 1, j, &kr->key, seen, sl, v, &pl))
            continue;
        int t = when_true(s, &km[j], &kr->key, kr->when, kr->line, v, err);
        if (t < 0)
            return -1;
        if (!t)
            continue;
        struct memo_key mk;
        size_t ix;
        if (sp->memo && memo_key_of(j, sc, pl, &mk)) {
            if (memo_get(sp->memo, &mk, &ix)) {
                k->rule = (int16_t)j;
                sp->hit = ix;
                k->expert = kr->expert_cap >= 0 ? v[kr->expert_cap].v : -1;
                return 0;
            }
            sp->memo_key = mk;
            sp->pending = 1;
        }
        /* the param template names key captures: bind them by name */
        pattern_value pv[PATTERN_MAX_CAPS];
        for (int c = 0; c < kr->param.n_caps; c++)
            pv[c] = v[pattern_cap_index(&kr->key, kr->param.caps[c].name,
                                        strlen(kr->param.caps[c].name))];
        char name[768];
        int nl = pattern_format(&kr->param, pv, name, sizeof name);
        if (nl < 0) {
            sp->pending = 0;
            continue;
        }
        k->rule = (int16_t)j;
        if (sp->names && strmap_get_n(sp->names, name, (size_t)nl, &ix))
            sp->hit = ix; /* thousands of experts' keys make one parameter name: the caller has it */
        else if (!(sp->param = pool_dup(sp, name, (size_t)nl)))
            return -1;
        k->expert = kr->expert_cap >= 0 ? v[kr->expert_cap].v : -1;
    }
    if (k->rule < 0)
        sp->param = seen; /* the generic path: params_dict[name] */
    return 0;
}

/* The layer a parameter name belongs to, from the {layer} templates' literal prefixes. */
static int param_layer(const plan *p, const char *name)
{
    const rules_file *r = p->rules;
    for (int t = 0; t < r->n_params; t++) {
        const pattern *pt = &r->params[t].name;
        int li = pattern_cap_index(pt, "layer", 5);
        if (li < 0)
            continue;
        size_t pl = strlen(pt->lit[li]);
        if (strncmp(name, pt->lit[li], pl) != 0 || name[pl] < '0' || name[pl] > '9')
            continue;
        long v = 0;
        const char *q = name + pl;
        while (*q >= '0' && *q <= '9' && v < 100000000)
            v = v * 10 + (*q++ - '0');
        if (*q == '.' || *q == 0)
            return (int)v;
    }
    return -1;
}

/* Sorting and mapping, shard by shard, on as many threads as there are cores (up to 16): each
 * thread its own memos of `when` values, its own string pool and error. */
typedef struct {
    sim *s;
    atomic_size_t next;   /* the next shard to take */
    int shapes;           /* the patterns allow the cache of key shapes (shape_safe) */
} map_job;

/* Which patterns a key can match depends only on its shape, the key with every all-digit
 * dot-separated component that is an integer capture's value (no leading zero, at most 18
 * digits) written as '#' ("layers.#.mlp.experts.#.down_proj.weight"), provided no literal of a
 * pattern has a digit that could fall in such a component: each digit run in a literal must
 * follow a character of the same component (as in "w1", "fp8"). Digits inside other components
 * are kept, so w1 and w3 stay apart. Only `when` conditions then differ between keys of one
 * shape, and they are still evaluated per key. */
static int literal_safe(const pattern *pt)
{
    for (int i = 0; i <= pt->n_caps; i++)
        for (size_t q = 0; q < pt->lit_len[i]; q++) {
            char ch = pt->lit[i][q], prev = q ? pt->lit[i][q - 1] : 0;
            if (ch == '#' || (ch >= '0' && ch <= '9' && (q == 0 || prev == '.')))
                return 0;
        }
    return 1;
}

static int shape_safe(const rules_file *r)
{
    if (r->n_skips > 64 || r->n_keys > 64)
        return 0;
    for (int j = 0; j < r->n_skips; j++)
        if (!literal_safe(&r->skips[j].key))
            return 0;
    for (int j = 0; j < r->n_keys; j++)
        if (!literal_safe(&r->keys[j].key))
            return 0;
    return 1;
}

/* A map thread's last key shape: the key, its shape, its numbers, and where each component
 * starts in the key and in the shape, so that the next key (sorted: it shares most of its
 * prefix) is shaped from the first component that differs. */
#define SHAPE_MAX 768
#define SHAPE_COMPS 64

typedef struct {
    int valid;
    const char *key;
    size_t len;
    char buf[SHAPE_MAX];
    uint32_t hash;        /* strmap_hash of buf */
    key_nums kn;
    int ncomp;
    uint16_t comp_key[SHAPE_COMPS], comp_buf[SHAPE_COMPS];
    uint8_t comp_num[SHAPE_COMPS];
} shape_state;


/* Where the dot-separated component of key that starts at i ends (a '.' or len), 8 bytes at a
 * time while they lie in the key; *digits: it is all digits. SIZE_MAX when it holds a '#'. */
static size_t component_end(const char *key, size_t i, size_t len, int *digits)
{
    *digits = 1;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, key + i, 8);
        unsigned k = jscan_byte_at(w, '.');
        if (jscan_byte_at(w, '#') < k)
            return SIZE_MAX;
        *digits &= jscan_leading_digits(w) >= k;
        if (k < 8)
            return i + k;
    }
    for (; i < len && key[i] != '.'; i++) {
        if (key[i] == '#')
            return SIZE_MAX;
        *digits &= key[i] >= '0' && key[i] <= '9';
    }
    return i;
}

/* The shape of key (len bytes) into st->buf and its numbers into st->kn; 0 when it has none
 * (too long, a '#' of its own, more than KEY_NUMS numbers). Returns the shape's length + 1
 * otherwise. One pass from where the key first differs from the last one: each component is
 * copied as it is read and replaced by '#' when it turns out to be a number. */
static size_t key_shape(shape_state *st, const char *key, size_t len)
{
    int ci = 0;
    if (st->valid && len <= UINT16_MAX) {
        size_t l = jscan_common_prefix(st->key, key, st->len < len ? st->len : len);
        while (ci + 1 < st->ncomp && st->comp_key[ci + 1] <= l)
            ci++;
    }
    size_t i = ci ? st->comp_key[ci] : 0;
    size_t n = ci ? st->comp_buf[ci] : 0, c0 = i, b0 = n; /* where the component starts */
    key_nums *kn = &st->kn;
    char *buf = st->buf;
    kn->n = ci ? st->comp_num[ci] : 0;
    st->ncomp = ci + 1;
    st->comp_key[ci] = (uint16_t)i;
    st->comp_buf[ci] = (uint16_t)n;
    st->comp_num[ci] = (uint8_t)kn->n;
    st->valid = 0;
    for (;;) {
        int digits;
        if ((i = component_end(key, c0, len, &digits)) == SIZE_MAX)
            return 0;
        size_t clen = i - c0;
        if (n + clen + 2 > SHAPE_MAX) /* the component, a '.' or the NUL after it */
            return 0;
        memcpy(buf + n, key + c0, clen);
        n += clen;
        char ch = i < len ? key[i] : 0;
        if (digits && clen > 0 && clen <= 18 && (clen == 1 || key[c0] != '0')) {
            if (kn->n == KEY_NUMS || c0 > UINT16_MAX)
                return 0;
            int64_t v = 0;
            for (size_t q = c0; q < i; q++)
                v = v * 10 + (key[q] - '0');
            kn->at[kn->n] = (uint16_t)c0;
            kn->len[kn->n] = (uint8_t)clen;
            kn->v[kn->n++] = v;
            n = b0;
            buf[n++] = '#';
        }
        if (!ch)
            break;
        buf[n++] = '.';
        c0 = ++i;
        b0 = n;
        if (st->ncomp < SHAPE_COMPS && c0 <= UINT16_MAX) {
            st->comp_key[st->ncomp] = (uint16_t)c0;
            st->comp_buf[st->ncomp] = (uint16_t)n;
            st->comp_num[st->ncomp++] = (uint8_t)kn->n;
        }
    }
    buf[n] = 0;
    st->hash = strmap_hash_n(buf, n);
    st->valid = len <= UINT16_MAX;
    st->key = key;
    st->len = len;
    return n + 1;
}

typedef struct {
    const pattern *pt;
    unsigned mask;
} used_ctx;

static void note_used(void *ctx, const char *name, size_t len)
{
    used_ctx *u = ctx;
    int i = pattern_cap_index(u->pt, name, len);
    if (i >= 0)
        u->mask |= 1u << i;
}

/* The captures of pattern pt whose values a rule reads: in its `when`, its parameter name
 * (param, or NULL) and as the expert id. The others only have to match. */
static unsigned caps_used(const pattern *pt, const expr *when, const pattern *param, int expert_cap)
{
    used_ctx u = {pt, 0};
    if (when)
        expr_names(when, note_used, &u);
    for (int c = 0; param && c < param->n_caps; c++)
        note_used(&u, param->caps[c].name, strlen(param->caps[c].name));
    if (expert_cap >= 0)
        u.mask |= 1u << expert_cap;
    return u.mask;
}

/* The plan of a pattern that matched the first key of a shape (seen, numbers kn, captures v).
 * Under shape_safe the pattern matches every key of the shape or none (its literals hold no
 * number), and a capture starts and ends at the edge of a component or inside text that has no
 * number: one that is exactly a number takes that number on every key of the shape, one that
 * covers no number is the same text on all of them. One that holds a number and more differs
 * from key to key in other ways: the plan is ok only when the rule does not read it (used). */
static void plan_of(cap_plan *pl, int kind, int j, const pattern *pt, unsigned used,
                    const char *seen, const key_nums *kn, const pattern_value *v)
{
    pl->j = (int16_t)j;
    pl->kind = (int8_t)kind;
    pl->ok = 1;
    for (int c = 0; c < pt->n_caps; c++) {
        size_t at = (size_t)(v[c].s - seen), end = at + v[c].len;
        pl->src[c] = -1;
        pl->cval[c] = v[c];
        for (int o = 0; o < kn->n; o++) {
            size_t na = kn->at[o], ne = na + kn->len[o];
            if (na == at && ne == end)
                pl->src[c] = (int8_t)o;
            else if (na < end && at < ne && (used >> c & 1))
                pl->ok = 0; /* a number and more, and the rule reads it */
        }
    }
}

typedef struct {
    map_job *j;
    strpool pool;
    ck_err err;
    int failed;
    pthread_t tid;
    shape_state sh;
    strmap shapes;        /* key shape -> index into ents */
    shape_ent *ents;
    size_t n_ents, cap_ents;
    param_memo memo;
    strmap names;         /* parameter name -> its pid */
    int index;            /* the thread's table of parameters: s->prm[index] */
} map_worker;

/* The shape entry of k (its candidate patterns and their plans), made on the first key of that
 * shape, and k's numbers in kn; NULL: try every pattern in full. */
static const shape_ent *shape_of(map_worker *w, const sim *s, const sim_key *k)
{
    const rules_file *r = s->p->rules;
    size_t ci, sl1;
    const char *seen = key_seen_name(s, k);
    size_t sl = key_len(s, k) - k->seen_off;
    const key_nums *kn = &w->sh.kn;
    if (!w->j->shapes || !(sl1 = key_shape(&w->sh, seen, sl)))
        return NULL;
    const char *shape = w->sh.buf;
    if (strmap_get_h(&w->shapes, shape, w->sh.hash, &ci))
        return &w->ents[ci];
    if (w->n_ents == w->cap_ents) {
        size_t c = w->cap_ents ? w->cap_ents * 2 : 64;
        shape_ent *v = realloc(w->ents, c * sizeof *v);
        if (!v)
            return NULL;
        w->ents = v;
        w->cap_ents = c;
    }
    const char *kept = pool_dup(&w->pool, shape, sl1 - 1);
    if (!kept || strmap_put_h(&w->shapes, kept, w->sh.hash, w->n_ents, NULL) < 0)
        return NULL;
    shape_ent *se = &w->ents[w->n_ents];
    memset(se, 0, sizeof *se);
    se->id = (uint32_t)w->n_ents++;
    pattern_value v[PATTERN_MAX_CAPS];
    for (int kind = 0; kind < 2; kind++)
        for (int j = 0; j < (kind ? r->n_keys : r->n_skips); j++) {
            const pattern *pt = kind ? &r->keys[j].key : &r->skips[j].key;
            if (!pattern_match(pt, seen, sl, v))
                continue;
            se->cand[kind] |= 1ull << j;
            if (se->n_plan == SHAPE_PLANS)
                continue;
            cap_plan *pl = &se->plan[se->n_plan++];
            plan_of(pl, kind, j, pt,
                    kind ? caps_used(pt, r->keys[j].when, &r->keys[j].param, r->keys[j].expert_cap)
                         : caps_used(pt, r->skips[j].when, NULL, -1), seen, kn, v);
            if (kind)
                memo_recipe(pl, &r->keys[j]);
        }
    return se;
}

/* The stages whose model has the parameter, the first of them and its index there. */
static void param_stages(const sim *s, sim_param *pr)
{
    pr->own_st = -1;
    pr->stages = 0;
    if (!pr->param)
        return;
    uint32_t h = strmap_hash(pr->param);
    for (int si = 0; si < s->p->layout.pp; si++) {
        size_t pi;
        if (!strmap_get_h(&s->p->stages[si].by_name, pr->param, h, &pi))
            continue;
        pr->stages |= 1ull << si;
        if (pr->own_st < 0) {
            pr->own_st = (int8_t)si;
            pr->own_pi = (uint32_t)pi;
        }
    }
}

/* A quantization suffix's shape for a part of `out` rows and `in` columns, remembered: every
 * FP8 weight's scale asks the same few questions. */
typedef struct suffix_memo {
    int valid, suffix, ok, nd;
    int64_t out, in;
    uint64_t dims[PLAN_MAX_DIMS];
} suffix_memo;

#define SUFFIX_MEMO 64

/* The shape the key's tensor must have: 1 with want[0 .. *nd), the owning stage and the
 * parameter's template; 0 when nothing is expected of it. Reads only (threads share it); memo
 * (SUFFIX_MEMO entries, or NULL) is the calling thread's. */
int sim_expected_shape(const sim *s, const sim_key *k, uint64_t *want, int *nd, int *st_out,
                          const rules_param **t_out, suffix_memo *memo)
{
    const plan *p = s->p;
    const rules_file *r = p->rules;
    const sim_param *kp = key_param(s, k);
    int st = kp->own_st;
    if (st < 0)
        return 0;
    const plan_param *pp = &p->stages[st].params[kp->own_pi];
    const rules_param *t = &r->params[pp->tmpl];
    *nd = 0;
    int d0 = k->expert >= 0 && pp->experts ? 1 : 0;
    for (int d = d0; d < pp->ndim; d++)
        want[(*nd)++] = pp->full[d];
    const char *kpart = key_part(r, k);
    int part = key_part_index(s, k, pp->tmpl);
    int64_t size = part >= 0 ? 0 : NO_SIZE;
    int copies = k->rule >= 0 && r->keys[k->rule].copies; /* each part the whole tensor: its rows once */
    for (int q = part; q >= 0 && q < part + (copies ? 1 : key_span(r, k)) && size != NO_SIZE; q++) { /* its parts' rows */
        int64_t one = s->psize[s->pbase[pp->tmpl] + (size_t)q];
        int64_t heads;
        ck_err e2;
        e2.code = 0; /* (plan_part_dims writes the rest only on an error, which leaves NO_SIZE) */
        if (one == NO_SIZE && pp->layer >= 0 && plan_part_dims(p, pp, q, &one, &heads, &e2) != CK_OK)
            one = NO_SIZE; /* a size that depends on the layer (Gemma 4's heads), where it evaluates */
        size = one == NO_SIZE ? NO_SIZE : size + one;
    }
    if (part >= 0 && !t->linear) {
        if (size != NO_SIZE)
            want[0] = (uint64_t)size;
    } else if (kpart && t->n_parts && t->linear) {
        /* a part fills rows of the fused parameter: its own [size, in] (or suffix shape) */
        if (part < 0 || size == NO_SIZE)
            return 0;
        const rules_suffix *sf = pp->suffix >= 0 ? &pp->quant->suffixes[pp->suffix] : NULL;
        if (sf && sf->shape) {
            uint64_t slot = ((uint64_t)size * 31u + (uint64_t)pp->in * 17u + (uint64_t)pp->suffix) % SUFFIX_MEMO;
            suffix_memo *m = memo ? &memo[slot] : NULL, fresh;
            if (!m || !m->valid || m->suffix != pp->suffix || m->out != size || m->in != pp->in) {
                fresh = (suffix_memo){1, pp->suffix, 1, sf->ndim < PLAN_MAX_DIMS ? sf->ndim : PLAN_MAX_DIMS,
                                      size, pp->in, {0}};
                const char *names[3] = {"out", "in", "parts"}; /* one part: this key's */
                int64_t v[3] = {size, pp->in, 1};
                plan_env e3 = {p, NULL, NULL, v, names, 3, pp->scheme, NULL};
                ck_err e2;
                ck_err_clear(&e2);
                for (int d = 0; d < fresh.nd && fresh.ok; d++) {
                    expr_val x;
                    if (plan_eval(p, sf->shape[d], &e3, t->line, &x, &e2) || x.is_null || x.is_str)
                        fresh.ok = 0;
                    else
                        fresh.dims[d] = (uint64_t)x.v;
                }
                if (!m)
                    m = &fresh;
                *m = fresh;
            }
            if (!m->ok)
                return 0;
            memcpy(want, m->dims, (size_t)m->nd * sizeof *want);
            *nd = m->nd;
        } else
            want[0] = (uint64_t)size;
    }
    if (k->rule >= 0 && r->keys[k->rule].transposed && *nd >= 2) { /* stored input-major */
        uint64_t w = want[*nd - 1];
        want[*nd - 1] = want[*nd - 2];
        want[*nd - 2] = w;
    }
    *st_out = st;
    *t_out = t;
    return 1;
}

static int shape_is(const sim *s, const sim_key *k, const uint64_t *want, int nd)
{
    const st_tensor *ten = key_tensor(s->ck, k);
    if (k->rule >= 0 && s->p->rules->keys[k->rule].view && (int)ten->ndim > nd && nd >= 1) {
        /* viewed: the trailing dims make the parameter's last one */
        uint64_t last = 1;
        for (unsigned d = (unsigned)nd - 1; d < ten->ndim; d++)
            last *= ten->shape[d];
        int same = last == want[nd - 1];
        for (int d = 0; same && d < nd - 1; d++)
            same = ten->shape[d] == want[d];
        return same;
    }
    int same = (int)ten->ndim == nd;
    for (int d = 0; same && d < nd; d++)
        same = ten->shape[d] == want[d];
    return same;
}

/* What expected_shape says of keys that fill the same part of the same parameter (the 256
 * experts of a layer, say), remembered: the stage, the parameter's index there, the key rule
 * and whether the key names an expert decide it. */
typedef struct {
    int used, st, rule, expert, ok, nd;
    size_t pi;
    uint64_t want[PLAN_MAX_DIMS];
} want_memo;

#define WANT_MEMO 256

/* 1 when k's tensor has the shape its parameter expects of it, or nothing is expected. */
static int shape_expected(const sim *s, const sim_key *k, suffix_memo *smemo, want_memo *wm)
{
    const sim_param *kp = key_param(s, k);
    if (kp->own_st < 0)
        return 1;
    int ex = k->expert >= 0;
    size_t slot = ((size_t)kp->own_pi * 31u + (size_t)kp->own_st * 7u + (size_t)(k->rule + 1) * 3u + (size_t)ex) % WANT_MEMO;
    want_memo *m = &wm[slot];
    if (!m->used || m->st != kp->own_st || m->pi != kp->own_pi || m->rule != k->rule || m->expert != ex) {
        int st;
        const rules_param *t;
        m->used = 1;
        m->st = kp->own_st;
        m->pi = kp->own_pi;
        m->rule = k->rule;
        m->expert = ex;
        m->ok = sim_expected_shape(s, k, m->want, &m->nd, &st, &t, smemo);
    }
    if (!m->ok || shape_is(s, k, m->want, m->nd))
        return 1;
    /* the parameters of a linear layer (vLLM's BasevLLMParameter) take a scalar where they hold
     * one element, and a fused expert's one value per expert takes [1]: AutoFP8's per-tensor
     * weight_scale and input_scale have shape [], compressed-tensors' [1] */
    const plan_param *pp = &s->p->stages[kp->own_st].params[kp->own_pi];
    const st_tensor *ten = key_tensor(s->ck, k);
    int one = ten->ndim == 0 || (ten->ndim == 1 && ten->shape[0] == 1);
    return pp->suffix >= 0 && one && (m->nd == 0 || (m->nd == 1 && m->want[0] == 1));
}

/* The parameter of the key map_one just mapped (its name in w->pool.param, or w->pool.hit when
 * made before): k->pid, made and remembered (for the next keys of the same name, by name and
 * by memo key) when new. 0, or -1 out of memory. */
static int key_pid(map_worker *w, sim *s, sim_key *k)
{
    strpool *sp = &w->pool;
    if (sp->hit != SIZE_MAX) { /* a name made before: its layer and stages too */
        k->pid = (uint32_t)sp->hit;
        return sp->pending && memo_put(&w->memo, &sp->memo_key, sp->hit) != 0 ? -1 : 0;
    }
    if (!sp->param)
        return 0; /* skipped */
    sim_param pr = {sp->param, 0, param_layer(s->p, sp->param), 0, -1};
    param_stages(s, &pr);
    if ((k->pid = param_add(s, w->index, &pr)) == PID_NONE)
        return -1;
    if (k->rule >= 0 && (strmap_put(&w->names, sp->param, k->pid, NULL) < 0 ||
                         (sp->pending && memo_put(&w->memo, &sp->memo_key, k->pid) != 0)))
        return -1;
    return 0;
}

static void *map_worker_run(void *arg)
{
    map_worker *w = arg;
    sim *s = w->j->s;
    const rules_file *r = s->p->rules;
    when_memo *sm = calloc((size_t)r->n_skips + 1, sizeof *sm);
    when_memo *km = calloc((size_t)r->n_keys + 1, sizeof *km);
    name_pos *np = NULL;
    sim_key *tmp = NULL;
    size_t *runs = NULL;
    size_t cap = 0;
    suffix_memo *smemo = calloc(SUFFIX_MEMO, sizeof *smemo);
    want_memo *wmemo = calloc(WANT_MEMO, sizeof *wmemo);
    if (!sm || !km || !smemo || !wmemo) {
        w->failed = 1;
        goto out;
    }
    for (int j = 0; j < r->n_skips; j++)
        memo_init(&sm[j], &r->skips[j].key, r->skips[j].when);
    for (int j = 0; j < r->n_keys; j++)
        memo_init(&km[j], &r->keys[j].key, r->keys[j].when);
    for (;;) {
        size_t g = atomic_fetch_add(&w->j->next, 1);
        if (g >= s->n_seg)
            break;
        size_t a = s->seg[g], b = s->seg[g + 1];
        if (s->seg_first[g] != SIZE_MAX)
            for (size_t i = 0; i < s->seg_count[g]; i++) {
                sim_key *k = &s->keys[a + i];
                memset(k, 0, sizeof *k);
                if (s->direct) {
                    k->shard = (uint32_t)s->seg_first[g];
                    k->tensor = (uint32_t)i;
                } else {
                    k->shard = (uint32_t)s->ck->tensors[s->seg_first[g] + i].shard;
                    k->tensor = (uint32_t)s->ck->tensors[s->seg_first[g] + i].tensor;
                }
                k->has_tensor = 1;
                if (i + 8 < s->seg_count[g]) { /* the headers were read on another core */
                    const st_tensor *ahead = s->direct ? &s->ck->shards[s->seg_first[g]].h.tensors[i + 8]
                                                       : ckpt_tensor(s->ck, s->ck->tensors[s->seg_first[g] + i + 8]);
                    __builtin_prefetch(ahead);
                }
            }
        /* the loader reads a shard's keys sorted by name; headers often list them so already */
        int sorted = 1;
        for (size_t i = a + 1; i < b && sorted; i++)
            sorted = strcmp(key_name(s, &s->keys[i - 1]), key_name(s, &s->keys[i])) <= 0;
        if (!sorted) {
            if (b - a > cap) {
                free(np);
                free(tmp);
                free(runs);
                cap = b - a;
                np = malloc(2 * cap * sizeof *np);
                tmp = malloc(cap * sizeof *tmp);
                runs = malloc((cap + 1) * sizeof *runs);
                if (!np || !tmp || !runs) {
                    w->failed = 1;
                    goto out;
                }
            }
            for (size_t i = a; i < b; i++) {
                const sim_key *k = &s->keys[i];
                np[i - a].name = key_name(s, k);
                np[i - a].len = (uint32_t)key_len(s, k);
                np[i - a].pos = (uint32_t)(i - a);
            }
            sim_sort_names(np, np + (b - a), runs, b - a);
            for (size_t i = a; i < b; i++)
                tmp[i - a] = s->keys[a + np[i - a].pos];
            memcpy(s->keys + a, tmp, (b - a) * sizeof *tmp);
        }
        for (size_t i = a; i < b; i++) {
            sim_key *k = &s->keys[i];
            key_seen(s, k);
            key_shape_ctx sc = {shape_of(w, s, k), &w->sh.kn};
            if (map_one(s, k, sm, km, sc.se ? &sc : NULL, &w->pool, &w->err) || key_pid(w, s, k)) {
                w->failed = 1;
                goto out;
            }
            if (k->has_tensor && k->skip < 0 && !k->outside) /* an outside key is copied nowhere */
                k->bad_shape = !shape_expected(s, k, smemo, wmemo);
        }
    }
out:
    for (int j = 0; sm && j < r->n_skips; j++)
        free(sm[j].memo);
    for (int j = 0; km && j < r->n_keys; j++)
        free(km[j].memo);
    free(sm);
    free(km);
    free(np);
    free(tmp);
    free(runs);
    free(smemo);
    free(wmemo);
    strmap_free(&w->shapes);
    free(w->ents);
    free(w->memo.e);
    strmap_free(&w->names);
    return NULL;
}

/* Every part's size, once: it depends on the template and the part alone. */
static int part_sizes(sim *s)
{
    const plan *p = s->p;
    const rules_file *r = p->rules;
    size_t np = 0;
    for (int t = 0; t < r->n_params; t++)
        np += (size_t)r->params[t].n_parts;
    s->psize = malloc((np ? np : 1) * sizeof *s->psize);
    size_t npt = (size_t)r->n_keys * (size_t)r->n_params;
    if (!(s->part_of = malloc((npt ? npt : 1) * sizeof *s->part_of)))
        return -1;
    for (int j = 0; j < r->n_keys; j++)
        for (int t = 0; t < r->n_params; t++) {
            s->part_of[(size_t)j * (size_t)r->n_params + (size_t)t] = rules_key_part_index(&r->params[t], &r->keys[j]);
        }
    s->pbase = malloc(((size_t)r->n_params + 1) * sizeof *s->pbase);
    if (!s->psize || !s->pbase)
        return -1;
    for (int t = 0, b = 0; t <= r->n_params; t++) {
        s->pbase[t] = (size_t)b;
        for (int j = 0; t < r->n_params && j < r->params[t].n_parts; j++) {
            plan_env env = {p, NULL, NULL, NULL, NULL, 0, NULL, NULL};
            expr_val ps;
            ck_err e2;
            ck_err_clear(&e2);
            s->psize[b + j] = plan_eval(p, r->params[t].parts[j].size, &env, r->params[t].line, &ps, &e2) == CK_OK &&
                              !ps.is_str && !ps.is_null ? ps.v : NO_SIZE;
        }
        b += t < r->n_params ? r->params[t].n_parts : 0;
    }
    return 0;
}

static int shape_cache_on = 1;

void simulate_shape_cache(int on)
{
    shape_cache_on = on;
}

/* The map threads of a sim: started by map_start (threads 1 ..), finished by map_finish (thread
 * 0 is the caller's). */
struct map_run {
    map_job j;
    map_worker w[SIM_THREADS];
    size_t nt, started;
};

static int map_start(sim *s, map_run *m)
{
    memset(m, 0, sizeof *m);
    m->started = 1;
    if (part_sizes(s) != 0)
        return -1;
    m->j.s = s;
    m->j.shapes = shape_cache_on && shape_safe(s->p->rules);
    atomic_init(&m->j.next, 0);
    m->nt = (size_t)ck_thread_count(0, SIM_THREADS, s->n_seg);
    for (size_t t = 0; t < m->nt; t++) {
        m->w[t].j = &m->j;
        m->w[t].index = (int)t;
        ck_err_clear(&m->w[t].err);
        strmap_init(&m->w[t].shapes);
        strmap_init(&m->w[t].names);
        m->w[t].pool.names = &m->w[t].names;
        m->w[t].pool.memo = &m->w[t].memo;
    }
    for (size_t t = 1; t < m->nt; t++)
        if (ck_thread_start(&m->w[m->started].tid, map_worker_run, &m->w[m->started]) == 0)
            m->started++;
    return 0;
}

/* Maps what the started threads have not taken on this thread, then joins them. */
static int map_finish(sim *s, map_run *m)
{
    map_worker_run(&m->w[0]);
    for (size_t t = 1; t < m->started; t++)
        pthread_join(m->w[t].tid, NULL);
    int rc = 0;
    for (size_t t = 0; t < m->started; t++) {
        for (size_t b = 0; b < m->w[t].pool.n; b++)
            if (!sim_own(s, m->w[t].pool.v[b]))
                rc = -1;
        free(m->w[t].pool.v);
        if (m->w[t].failed && !rc) {
            rc = -1;
            if (m->w[t].err.code)
                *s->err = m->w[t].err;
        }
    }
    return rc;
}

map_run *sim_map_start(sim *s)
{
    map_run *m = malloc(sizeof *m);
    if (m && map_start(s, m) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

int sim_map_finish(sim *s, map_run *m)
{
    int rc = map_finish(s, m);
    free(m);
    return rc;
}

void sim_map_abandon(sim *s, map_run *m)
{
    atomic_store(&m->j.next, s->n_seg); /* the threads stop after their current shard */
    for (size_t t = 1; t < m->started; t++)
        pthread_join(m->w[t].tid, NULL);
    for (size_t t = 0; t < m->started; t++) {
        for (size_t b = 0; b < m->w[t].pool.n; b++)
            free(m->w[t].pool.v[b]);
        free(m->w[t].pool.v);
    }
    free(m);
}

int sim_map_keys(sim *s)
{
    map_run *m = sim_map_start(s);
    return m ? sim_map_finish(s, m) : -1;
}


/* ------------------------------------------------------------------------------------------ */
/* One key, one parameter: for `rules explain` and `explain`. */

void sim_mapping_fill(const sim *s, const sim_key *k, const char *param, sim_mapping *m)
{
    const plan *p = s->p;
    const rules_file *r = p->rules;
    memset(m, 0, sizeof *m);
    m->skip = k->skip;
    m->rule = k->rule;
    m->expert = k->expert;
    m->guard = key_guard(r, k);
    m->part = key_part(r, k);
    snprintf(m->seen, sizeof m->seen, "%s", key_seen_name(s, k));
    m->outer = k->seen_off == 0;
    m->outside = k->outside;
    if (param) {
        snprintf(m->param, sizeof m->param, "%s", param);
        m->layer = param_layer(p, param);
    } else
        m->layer = -1;
    for (int st = 0; st < p->layout.pp; st++) {
        size_t pi;
        if (k->outside)
            continue; /* no stage's model is handed it */
        if (param && strmap_get(&p->stages[st].by_name, param, &pi))
            m->stages |= 1ull << st;
        else if (param && m->guard && sim_pp_missing(p, &p->stages[st], param, m->layer))
            m->pp_skipped |= 1ull << st;
    }
    if (param && m->stages != (p->layout.pp >= 64 ? ~0ull : (1ull << p->layout.pp) - 1)) {
        sim_param kp = {param, m->stages, m->layer, 0, -1}; /* some stage lacks it: say why */
        sim_explain_missing(p, k, &kp, key_seen_name(s, k), m->why, sizeof m->why);
    }
}

int simulate_map_key(const plan *p, const char *key, sim_mapping *m, ck_err *err)
{
    memset(m, 0, sizeof *m);
    sim s;
    sim_init(&s, NULL, p, err);
    const rules_file *r = p->rules;
    when_memo *sm = calloc((size_t)r->n_skips + 1, sizeof *sm);
    when_memo *km = calloc((size_t)r->n_keys + 1, sizeof *km);
    sim_key k;
    memset(&k, 0, sizeof k);
    s.iblock = key; /* the one key, as if known from the index alone */
    key_seen(&s, &k);
    strpool pool;
    memset(&pool, 0, sizeof pool);
    int rc = sm && km ? map_one(&s, &k, sm, km, NULL, &pool, err) : -1;
    if (rc == 0)
        sim_mapping_fill(&s, &k, pool.param, m);
    else if (!err->code)
        ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    free(sm);
    free(km);
    for (size_t b = 0; b < pool.n; b++)
        free(pool.v[b]);
    free(pool.v);
    sim_free_strings(&s);
    return rc == 0 ? CK_OK : err->code;
}
