/* simulate.c - the load replay. Per key, once: the name the loader sees (prefix stripped), the
 * skip rule or key rule that takes it and the parameter it maps to. Per stage: whether that
 * parameter exists there, is owned by another stage (skipped when the path has the stage
 * guard), or is missing (the loader's exception). Then what stayed empty, and the shapes. */
#include "loader/simulate.h"
#include "base/jscan.h"
#include "base/thread.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {          /* 32 bytes: one per key, ~92k of them for DeepSeek-V3 */
    int64_t expert;       /* -1 */
    uint32_t shard;
    uint32_t tensor;      /* has_tensor: index into the shard's tensors; else where its name
                           * starts in the sim's block of keys (key_name) */
    uint32_t pid;         /* its parameter (key_param); PID_NONE when skipped */
    int16_t skip;         /* index into rules->skips, -1 */
    int16_t rule;         /* index into rules->keys, -1: identity */
    uint16_t seen_off;    /* the name the loader sees starts here (strip_prefix) */
    uint8_t has_tensor : 1;
    uint8_t bad_shape : 1; /* the tensor's shape is not what its parameter expects */
} sim_key;
_Static_assert(sizeof(sim_key) == 32, "sim_key grew: it is allocated once per key");

/* What a parameter name the keys make is on each stage: one per name (the 256 experts' keys of
 * a layer share one), one per key of the generic path. */
typedef struct {
    const char *param;    /* the parameter (the pool's, or the key's own name); NULL: skipped */
    uint64_t stages;      /* the stages whose model has param */
    int32_t layer;        /* the layer of param, -1 */
    uint32_t own_pi;      /* own_st's index of param */
    int8_t own_st;        /* the first stage whose model has param, -1 */
} sim_param;

/* A key's pid: the map thread that made the parameter (high bits) and its place in that
 * thread's table. */
#define PID_SHIFT 27
#define PID_MAX_LOCAL ((1u << PID_SHIFT) - 1)
#define PID_NONE UINT32_MAX
#define SIM_THREADS 16

/* The key rule's fused part id (or NULL), and whether the path skips parameters of layers other
 * stages own: both follow from the key's rule. */

static inline const char *key_part(const rules_file *r, const sim_key *k)
{
    return k->rule >= 0 ? r->keys[k->rule].part : NULL;
}

static inline const st_tensor *key_tensor(const ck_checkpoint *ck, const sim_key *k)
{
    return &ck->shards[k->shard].h.tensors[k->tensor];
}

static inline int key_guard(const rules_file *r, const sim_key *k)
{
    return k->rule >= 0 && r->keys[k->rule].pp_guard >= 0 ? r->keys[k->rule].pp_guard : r->pp_guard;
}

typedef struct {
    const char *code;
    ck_severity sev;
    char *file, *key, *msg;
    uint64_t mask;        /* stages */
} sfind;

typedef struct {
    const ck_checkpoint *ck;
    const plan *p;
    ck_err *err;
    sim_key *keys;
    size_t n;
    const char *iblock;   /* the names of keys without a tensor, NUL-terminated one after another */
    size_t *seg;          /* (n_seg + 1) key ranges of one shard each, in the loader's order */
    size_t n_seg;
    size_t *seg_first;    /* (n_seg) the shard's first entry in ck->tensors (direct: the shard
                           * itself, whose tensors are all the segment's), SIZE_MAX: filled already */
    int direct;           /* the segments were laid out from the headers, before ck->tensors */
    size_t *seg_count;    /* (n_seg) its number of entries there */
    int64_t *psize;       /* the size of part j of parameter template t: psize[pbase[t] + j] */
    int *part_of;         /* (n_keys x n_params) the part of template t key rule j fills, -1 */
    size_t *pbase;
    char **owned;         /* strings to free */
    size_t n_owned, cap_owned;
    sfind *fs;
    size_t nf, capf;
    strmap fmap;          /* "code\1key\1msg" -> index into fs */
    int oom;
    sim_param *prm[SIM_THREADS]; /* the parameters map thread t made (written by it alone) */
    size_t n_prm[SIM_THREADS], cap_prm[SIM_THREADS];
} sim;

static const sim_param no_param = {NULL, 0, -1, 0, -1};

static inline const sim_param *key_param(const sim *s, const sim_key *k)
{
    return k->pid == PID_NONE ? &no_param : &s->prm[k->pid >> PID_SHIFT][k->pid & PID_MAX_LOCAL];
}

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

/* The checkpoint key, and the name the loader sees (the key past strip_prefix). */
static inline const char *key_name(const sim *s, const sim_key *k)
{
    return k->has_tensor ? key_tensor(s->ck, k)->name : s->iblock + k->tensor;
}

static inline const char *key_seen_name(const sim *s, const sim_key *k)
{
    return key_name(s, k) + k->seen_off;
}

/* strlen(key_name(s, k)), known for keys with a tensor */
static inline size_t key_len(const sim *s, const sim_key *k)
{
    return k->has_tensor ? key_tensor(s->ck, k)->name_len : strlen(s->iblock + k->tensor);
}

/* The part of template tmpl that k's key rule fills (rules_part_index, looked up once). */
static int key_part_index(const sim *s, const sim_key *k, int tmpl)
{
    return k->rule >= 0 ? s->part_of[(size_t)k->rule * (size_t)s->p->rules->n_params + (size_t)tmpl] : -1;
}

static char *own(sim *s, char *str)
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

static void sfind_add(sim *s, const char *code, ck_severity sev, int stage, const char *file,
                      const char *key, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void sfind_put(sim *s, const char *code, ck_severity sev, int stage, const char *file,
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
    if (!own(s, mk))
        return;
    sfind *x = &s->fs[s->nf];
    x->code = code;
    x->sev = sev;
    x->file = own(s, strdup(file ? file : ""));
    x->key = own(s, strdup(key ? key : ""));
    x->msg = own(s, strdup(msg));
    x->mask = 1ull << stage;
    if (!x->file || !x->key || !x->msg || strmap_put(&s->fmap, mk, s->nf, NULL) < 0) {
        s->oom = 1;
        return;
    }
    s->nf++;
}

static void sfind_add(sim *s, const char *code, ck_severity sev, int stage, const char *file,
                      const char *key, const char *fmt, ...)
{
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sfind_put(s, code, sev, stage, file, key, msg);
}

/* ------------------------------------------------------------------------------------------ */

/* Natural order of file names: digit runs compare as numbers. */
static int natural_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            while (*a == '0')
                a++;
            while (*b == '0')
                b++;
            const char *ea = a, *eb = b;
            while (*ea >= '0' && *ea <= '9')
                ea++;
            while (*eb >= '0' && *eb <= '9')
                eb++;
            if (ea - a != eb - b)
                return ea - a < eb - b ? -1 : 1;
            int c = strncmp(a, b, (size_t)(ea - a));
            if (c)
                return c;
            a = ea;
            b = eb;
            continue;
        }
        if (*a != *b)
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    return (unsigned char)*a - (unsigned char)*b;
}

static int shard_order(const void *x, const void *y, void *ctx)
{
    const ck_checkpoint *ck = ctx;
    size_t a = *(const size_t *)x, b = *(const size_t *)y;
    int c = natural_cmp(ck->shards[a].name, ck->shards[b].name);
    return c ? c : (a > b) - (a < b);
}

typedef struct {
    uint64_t pfx;         /* 8 bytes of name after the prefix all names share, big-endian */
    const char *name;
    uint32_t len;         /* strlen(name) */
    uint32_t pos;         /* where the key is now, from the start of its shard's keys */
} name_pos;

static int name_before(const name_pos *x, const name_pos *y, size_t lcp)
{
    if (x->pfx != y->pfx)
        return x->pfx < y->pfx;
    /* strcmp order from the lengths: names hold no NUL */
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->name + lcp, y->name + lcp, n - lcp);
    return c ? c < 0 : x->len < y->len;
}

/* Sorts v[0 .. n) by name in strcmp order (tmp holds n, runs n + 1): a merge sort of the runs
 * already in order (a header lists its keys in a few ascending runs, one per dtype, or in model
 * order: "experts.9" before "experts.10"). The names of a shard share a long prefix
 * ("model.layers.7.mlp.experts."): it is skipped, and the next 8 bytes compared as one integer
 * decide almost every comparison. */
static void sort_names(name_pos *v, name_pos *tmp, size_t *runs, size_t n)
{
    if (n < 2)
        return;
    size_t lcp = v[0].len;
    for (size_t i = 1; i < n && lcp; i++)
        lcp = jscan_common_prefix(v[0].name, v[i].name, lcp < v[i].len ? lcp : v[i].len);
    for (size_t i = 0; i < n; i++) {
        const unsigned char *c = (const unsigned char *)v[i].name + lcp;
        uint64_t p = 0;
        if (v[i].len - lcp >= 8) {
            memcpy(&p, c, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            p = __builtin_bswap64(p); /* the first byte most significant */
#endif
        } else
            for (int b = 0; b < 8; b++) {
                p = p << 8 | *c; /* past the end: zeros, as strcmp orders a prefix first */
                c += *c != 0;
            }
        v[i].pfx = p;
    }
    size_t nr = 0; /* runs[k] .. runs[k + 1]: in order */
    runs[nr++] = 0;
    for (size_t i = 1; i < n; i++)
        if (name_before(&v[i], &v[i - 1], lcp))
            runs[nr++] = i;
    runs[nr] = n;
    name_pos *src = v, *dst = tmp;
    while (nr > 1) {
        size_t out = 0;
        for (size_t k = 0; k < nr; k += 2) {
            size_t lo = runs[k], mid = runs[k + 1], hi = k + 2 <= nr ? runs[k + 2] : mid;
            size_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi)
                dst[o++] = name_before(&src[j], &src[i], lcp) ? src[j++] : src[i++];
            while (i < mid)
                dst[o++] = src[i++];
            while (j < hi)
                dst[o++] = src[j++];
            runs[out++] = lo;
        }
        runs[out] = n;
        nr = out;
        name_pos *t = src;
        src = dst;
        dst = t;
    }
    if (src != v)
        memcpy(v, src, n * sizeof *v);
}

/* The keys, grouped by shard in the loader's order (file names in natural order); each shard's
 * keys are sorted by name when they are mapped (map_keys). s->direct: from the headers before the
 * reader's cross-checks, every readable shard's tensors taken (no copy dropped). */
static int collect_keys(sim *s)
{
    const ck_checkpoint *ck = s->ck;
    size_t ns = ck->n_shards ? ck->n_shards : 1;
    size_t *order = malloc(ns * sizeof *order), *rank = malloc(ns * sizeof *rank);
    size_t *start = calloc(ns + 1, sizeof *start);
    size_t n_tensors = ck->n_tensors;
    for (size_t i = 0; i < ck->n_shards && s->direct; i++)
        n_tensors += ck->shards[i].status == ST_OK ? ck->shards[i].h.n_tensors : 0;
    s->keys = malloc((n_tensors + ck->n_index + 1) * sizeof *s->keys);
    if (!order || !rank || !start || !s->keys) {
        free(order);
        free(rank);
        free(start);
        return -1;
    }
    for (size_t i = 0; i < ck->n_shards; i++)
        order[i] = i;
    qsort_r(order, ck->n_shards, sizeof *order, shard_order, (void *)ck);
    for (size_t i = 0; i < ck->n_shards; i++)
        rank[order[i]] = i;
    /* shards whose headers cannot be read: their keys come from the index */
#define FROM_INDEX(e) (ck->shards[(e)->shard].status != ST_OK || !ck->shards[(e)->shard].exists)
    if (s->direct) {
        for (size_t i = 0; i < ck->n_shards; i++)
            if (ck->shards[i].status == ST_OK)
                start[rank[i] + 1] += ck->shards[i].h.n_tensors;
    } else
        for (size_t i = 0; i < ck->n_tensors; i++)
            start[rank[ck->tensors[i].shard] + 1]++;
    for (size_t i = 0; i < ck->n_index; i++)
        if (FROM_INDEX(&ck->index[i]))
            start[rank[ck->index[i].shard] + 1]++;
    for (size_t i = 0; i < ns; i++)
        start[i + 1] += start[i];
    s->n = start[ns];
    size_t *at = order; /* reused: the next free place of each shard */
    for (size_t i = 0; i < ns; i++)
        at[i] = start[i];
    int rc = 0;
    /* the reader lists tensors shard after shard: each shard's keys are then filled by the
     * thread that maps them (map_keys); otherwise here */
    s->seg_first = malloc(ns * sizeof *s->seg_first);
    s->seg_count = calloc(ns, sizeof *s->seg_count);
    if (!s->seg_first || !s->seg_count) {
        free(order);
        free(rank);
        free(start);
        return -1;
    }
    int grouped = 1;
    for (size_t i = 0; i < ns; i++)
        s->seg_first[i] = SIZE_MAX;
    for (size_t i = 0; i < ck->n_shards && s->direct; i++)
        if (ck->shards[i].status == ST_OK) {
            s->seg_first[rank[i]] = i;
            s->seg_count[rank[i]] = ck->shards[i].h.n_tensors;
        }
    for (size_t i = 0; i < ck->n_tensors && !s->direct; i++) {
        size_t g = rank[ck->tensors[i].shard];
        if (i && ck->tensors[i].shard < ck->tensors[i - 1].shard)
            grouped = 0;
        if (s->seg_first[g] == SIZE_MAX)
            s->seg_first[g] = i;
        s->seg_count[g]++;
    }
    for (size_t g = 0; g < ns; g++) {
        if (grouped)
            at[g] += s->seg_count[g];
        else
            s->seg_first[g] = SIZE_MAX;
    }
    for (size_t i = 0; i < ck->n_tensors && !grouped; i++) {
        sim_key *k = &s->keys[at[rank[ck->tensors[i].shard]]++];
        memset(k, 0, sizeof *k);
        k->shard = (uint32_t)ck->tensors[i].shard;
        k->tensor = (uint32_t)ck->tensors[i].tensor;
        k->has_tensor = 1;
    }
    /* keys known only from the index: NUL-terminated copies, all in one block */
    size_t bytes = 0, used = 0;
    for (size_t i = 0; i < ck->n_index; i++)
        if (FROM_INDEX(&ck->index[i]))
            bytes += ck->index[i].key_len + 1;
    char *block = bytes ? own(s, malloc(bytes)) : NULL;
    s->iblock = block;
    if (bytes && !block)
        rc = -1;
    for (size_t i = 0; i < ck->n_index && block; i++) {
        const ck_index_entry *e = &ck->index[i];
        if (!FROM_INDEX(e))
            continue;
        sim_key *k = &s->keys[at[rank[e->shard]]++];
        memset(k, 0, sizeof *k);
        k->shard = e->shard;
        k->tensor = (uint32_t)used;
        memcpy(block + used, e->key, e->key_len);
        block[used + e->key_len] = 0;
        used += e->key_len + 1;
    }
#undef FROM_INDEX
    s->seg = start;
    s->n_seg = ns;
    free(order);
    free(rank);
    return rc;
}

static int truthy(const expr_val *v)
{
    return !v->is_null && (v->is_str || v->v != 0);
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
    plan_env env = {s->p, pt, v, NULL, NULL, 0};
    expr_val w;
    if (plan_eval(s->p, when, &env, line, &w, err))
        return -1;
    int t = truthy(&w);
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

/* The name the loader sees: the key without the rules' strip_prefix. */
static void key_seen(const sim *s, sim_key *k)
{
    const char *strip = s->p->rules->strip_prefix;
    size_t spl = strlen(strip);
    k->seen_off = spl && spl <= UINT16_MAX && key_len(s, k) >= spl && memcmp(key_name(s, k), strip, spl) == 0
                  ? (uint16_t)spl : 0;
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
        if (!match_key(sc, 0, j, &sk->key, seen, sl, v, &pl))
            continue;
        int t = when_true(s, &sm[j], &sk->key, sk->when, sk->line, v, err);
        if (t < 0)
            return -1;
        if (t)
            k->skip = (int16_t)j;
    }
    if (k->skip >= 0)
        return 0;
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
typedef struct {
    int valid, suffix, ok, nd;
    int64_t out, in;
    uint64_t dims[PLAN_MAX_DIMS];
} suffix_memo;

#define SUFFIX_MEMO 64

/* The shape the key's tensor must have: 1 with want[0 .. *nd), the owning stage and the
 * parameter's template; 0 when nothing is expected of it. Reads only (threads share it); memo
 * (SUFFIX_MEMO entries, or NULL) is the calling thread's. */
static int expected_shape(const sim *s, const sim_key *k, uint64_t *want, int *nd, int *st_out,
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
    int64_t size = part >= 0 ? s->psize[s->pbase[pp->tmpl] + (size_t)part] : NO_SIZE;
    if (part >= 0 && !t->linear) {
        if (size != NO_SIZE)
            want[0] = (uint64_t)size;
    } else if (kpart && t->n_parts && t->linear) {
        /* a part fills rows of the fused parameter: its own [size, in] (or suffix shape) */
        if (part < 0 || size == NO_SIZE)
            return 0;
        const rules_suffix *sf = pp->suffix >= 0 ? &p->quant->suffixes[pp->suffix] : NULL;
        if (sf && sf->shape) {
            uint64_t slot = ((uint64_t)size * 31u + (uint64_t)pp->in * 17u + (uint64_t)pp->suffix) % SUFFIX_MEMO;
            suffix_memo *m = memo ? &memo[slot] : NULL, fresh;
            if (!m || !m->valid || m->suffix != pp->suffix || m->out != size || m->in != pp->in) {
                fresh = (suffix_memo){1, pp->suffix, 1, sf->ndim < PLAN_MAX_DIMS ? sf->ndim : PLAN_MAX_DIMS,
                                      size, pp->in, {0}};
                const char *names[2] = {"out", "in"};
                int64_t v[2] = {size, pp->in};
                plan_env e3 = {p, NULL, NULL, v, names, 2};
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
    *st_out = st;
    *t_out = t;
    return 1;
}

static int shape_is(const sim *s, const sim_key *k, const uint64_t *want, int nd)
{
    const st_tensor *ten = key_tensor(s->ck, k);
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
        m->ok = expected_shape(s, k, m->want, &m->nd, &st, &t, smemo);
    }
    return !m->ok || shape_is(s, k, m->want, m->nd);
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
            sort_names(np, np + (b - a), runs, b - a);
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
            if (k->has_tensor && k->skip < 0)
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
            s->part_of[(size_t)j * (size_t)r->n_params + (size_t)t] = rules_part_index(&r->params[t], r->keys[j].part);
        }
    s->pbase = malloc(((size_t)r->n_params + 1) * sizeof *s->pbase);
    if (!s->psize || !s->pbase)
        return -1;
    for (int t = 0, b = 0; t <= r->n_params; t++) {
        s->pbase[t] = (size_t)b;
        for (int j = 0; t < r->n_params && j < r->params[t].n_parts; j++) {
            plan_env env = {p, NULL, NULL, NULL, NULL, 0};
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
typedef struct {
    map_job j;
    map_worker w[SIM_THREADS];
    size_t nt, started;
} map_run;

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
            if (!own(s, m->w[t].pool.v[b]))
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

static int map_keys(sim *s)
{
    map_run *m = malloc(sizeof *m);
    if (!m)
        return -1;
    int rc = map_start(s, m) == 0 ? map_finish(s, m) : -1;
    free(m);
    return rc;
}

/* Whether stage st's model has a placeholder (vLLM: PPMissingLayer) where name would live: a
 * layer another stage owns, or a first/last-stage module it does not hold. */
static int pp_missing(const plan *p, const plan_stage *st, const char *name, int layer)
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
        plan_env env = {p, &sk->key, v, NULL, NULL, 0};
        expr_val w;
        ck_err e;
        ck_err_clear(&e);
        if (plan_eval(p, sk->when, &env, sk->line, &w, &e) == CK_OK && truthy(&w))
            return sk;
    }
    return NULL;
}

/* Why k's parameter is not one of the stage's, in a sentence (seen: the name the loader sees). */
static void explain_missing(const plan *p, const sim_key *k, const sim_param *kp, const char *seen,
                            char *buf, size_t size)
{
    const rules_file *r = p->rules;
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
        if (q == p->quant)
            continue;
        for (int j = 0; j < q->n_suffixes; j++) {
            size_t l = strlen(q->suffixes[j].suffix), pl = strlen(kp->param);
            if (pl > l && strcmp(kp->param + pl - l, q->suffixes[j].suffix) == 0 &&
                (kp->param[pl - l - 1] == '.' || kp->param[pl - l - 1] == '_')) {
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

/* The loader's exception for key k: its error format with {param} and {module} filled. */
static void error_line(const rules_file *r, const char *param, const char *seen, char *buf, size_t size)
{
    size_t n = 0;
    const char *dot = strrchr(seen, '.'), *prev = NULL;
    for (const char *q = seen; dot && q < dot; q++)
        if (*q == '.')
            prev = q;
    const char *mod = prev ? prev + 1 : seen;
    size_t mlen = dot ? (size_t)(dot - mod) : strlen(mod);
    for (const char *q = r->error_format; *q && n + 1 < size; q++) {
        int w = 0;
        if (strncmp(q, "{param}", 7) == 0) {
            w = snprintf(buf + n, size - n, "%s", param ? param : seen);
            q += 6;
        } else if (strncmp(q, "{module}", 8) == 0) {
            w = snprintf(buf + n, size - n, "%.*s", (int)mlen, mod);
            q += 7;
        } else
            buf[n++] = *q;
        if (w > 0)
            n += (size_t)w < size - n ? (size_t)w : size - n - 1;
    }
    buf[n] = 0;
}

/* The stages run on several threads: each keeps its findings in a list of its own (file, key
 * and message; offsets unused), added (sfind_put) stage after stage once all have run, so that
 * the order and the merged rank masks are those of one thread. */
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
            /* a converter: the rule renames the key; a split dim must divide */
            const rules_key *kr = &r->keys[k->rule];
            if (kr->dim >= 0 && k->has_tensor) {
                const st_tensor *t = key_tensor(s->ck, k);
                if ((uint32_t)kr->dim < t->ndim && t->shape[kr->dim] % (uint64_t)p->layout.tp) {
                    const char *kname = key_name(s, k);
                    char line[256];
                    snprintf(line, sizeof line, "AssertionError: Dimension %d must be divisible by %d",
                             kr->dim, p->layout.tp);
                    if (!out->error[0]) {
                        snprintf(out->error, sizeof out->error, "%s", line);
                        snprintf(out->error_key, sizeof out->error_key, "%s", kname);
                        snprintf(out->error_file, sizeof out->error_file, "%s", s->ck->shards[k->shard].name);
                    }
                    findings_add(o, out->error[0] && strcmp(out->error_key, kname) ? "lint.unexpected"
                                 : "lint.keyerror", SEV_ERROR, s->ck->shards[k->shard].name, kname,
                                 CK_NO_OFFSET, "%s: dim %d is %llu, which %d ranks cannot split",
                                 line, kr->dim, (unsigned long long)t->shape[kr->dim], p->layout.tp);
                    continue;
                }
            }
            out->loaded++;
            continue;
        }
        int found = r->builds_model && (kp->stages >> si & 1);
        if (found)
            pi = si == kp->own_st ? kp->own_pi : (strmap_get(&st->by_name, kp->param, &pi), pi);
        if (!found) {
            size_t pl = r->builds_model && !kp->stages ? strlen(kp->param) : 0;
            if (pl > 5 && strcmp(kp->param + pl - 5, ".bias") == 0)
                continue; /* the loaders drop a bias the model does not have */
            if (key_guard(r, k) && pp_missing(p, st, kp->param, kp->layer)) {
                out->skipped_pp++;
                continue;
            }
            const char *kname = key_name(s, k); /* only now: a loaded key is never named */
            char why[768], line[600];
            if (r->builds_model)
                explain_missing(p, k, kp, kname + k->seen_off, why, sizeof why);
            else
                snprintf(why, sizeof why, "no rule of %s takes this name", r->name);
            error_line(r, kp->param, kname + k->seen_off, line, sizeof line);
            const char *file = s->ck->shards[k->shard].name;
            if (!r->raises) {
                findings_add(o, "lint.unused", SEV_WARNING, file, kname, CK_NO_OFFSET, "%s warns "
                             "that it was not used (\"Some weights of the model checkpoint at %s were "
                             "not used when initializing %s\") and drops it: %s", r->loader,
                             s->ck->root, s->p->cfg->architectures, why);
                out->unexpected++;
                continue;
            }
            if (!out->error[0]) {
                snprintf(out->error, sizeof out->error, "%s", line);
                snprintf(out->error_key, sizeof out->error_key, "%s", kname);
                snprintf(out->error_file, sizeof out->error_file, "%s", file);
                findings_add(o, "lint.keyerror", SEV_ERROR, file, kname, CK_NO_OFFSET, "the load "
                             "fails here first: %s: %s", line, why);
            } else if (!r->builds_model)
                findings_add(o, "lint.unexpected", SEV_ERROR, file, kname, CK_NO_OFFSET, "is not in "
                             "the converter's table either (%s)", line);
            else
                findings_add(o, "lint.unexpected", SEV_ERROR, file, kname, CK_NO_OFFSET, "maps to "
                             "'%s', which these ranks do not have (%s): %s", kp->param, line, why);
            out->unexpected++;
            continue;
        }
        /* loaded: record the part and expert it fills */
        const plan_param *pp = &st->params[pi];
        const rules_param *t = &r->params[pp->tmpl];
        const char *kpart = key_part(r, k);
        int np = t->n_parts ? t->n_parts : 1, part = key_part_index(s, k, pp->tmpl);
        if (part < 0)
            part = 0;
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
        size_t b = (size_t)(e * np + part);
        if (bits[pi][b])
            findings_add(o, "lint.duplicate", SEV_WARNING, s->ck->shards[k->shard].name, key_name(s, k),
                         CK_NO_OFFSET, "fills '%s'%s%s a second time: two checkpoint names for one slot, "
                         "the later wins", kp->param, kpart ? " part " : "", kpart ? kpart : "");
        bits[pi][b] = 1;
        out->loaded++;
    }
    /* what stayed empty */
    for (size_t pi = 0; pi < st->n; pi++) {
        const plan_param *pp = &st->params[pi];
        const rules_param *t = &r->params[pp->tmpl];
        if (!bits[pi]) {
            out->missing++;
            if (r->raises)
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
    for (int j = 0; j < r->n_skips; j++)
        if (skip_count[j])
            findings_add(o, "lint.skipped", SEV_NOTE, "", skip_example[j], CK_NO_OFFSET, "%zu key%s "
                         "skipped (like this one): %s", skip_count[j], skip_count[j] == 1 ? "" : "s",
                         r->skips[j].reason);
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

static void run_stages(sim *s, sim_result *res)
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
            sfind_put(s, o->v[i].code, o->v[i].sev, si, o->v[i].file, o->v[i].key, o->v[i].msg);
        findings_free(&j.out[si]);
    }
    free(j.out);
}

/* The rules' post-load checks: on each stage, the first owned layer whose module has none of
 * the parameters the check looks for raises the check's error. */
static void run_checks(sim *s)
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
                plan_env env = {p, &c->module, v, NULL, NULL, 0};
                if (c->when) {
                    expr_val w;
                    ck_err e2;
                    ck_err_clear(&e2);
                    if (plan_eval(p, c->when, &env, c->line, &w, &e2) || !truthy(&w))
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
                sfind_add(s, "lint.postload", SEV_ERROR, si, r->path, mod, "after loading, the model "
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
static void check_shapes(sim *s)
{
    for (size_t i = 0; i < s->n; i++) {
        const sim_key *k = &s->keys[i];
        uint64_t want[PLAN_MAX_DIMS];
        int nd, st;
        const rules_param *t;
        if (!k->bad_shape || !expected_shape(s, k, want, &nd, &st, &t, NULL))
            continue;
        const st_tensor *ten = key_tensor(s->ck, k);
        char a[128], b[128];
        st_shape_str(ten->shape, ten->ndim, a, sizeof a);
        st_shape_str(want, (uint32_t)nd, b, sizeof b);
        sfind_add(s, "lint.shape", SEV_ERROR, st, s->ck->shards[k->shard].name, key_name(s, k),
                  "shape %s does not match %s expected for '%s'%s%s (from config.json and rules "
                  "line %d)", a, b, key_param(s, k)->param, key_part(s->p->rules, k) ? " part " : "",
                  key_part(s->p->rules, k) ? key_part(s->p->rules, k) : "",
                  t->line);
    }
}

/* Calls l->fn for every key s mapped to l->param, in the loader's order, with its full mapping. */
static int list_keys(sim *s, const sim_listing *l)
{
    for (size_t i = 0; i < s->n; i++) {
        const sim_key *k = &s->keys[i];
        const char *param = key_param(s, k)->param;
        if (!param || strcmp(param, l->param) != 0)
            continue;
        sim_mapping m;
        if (simulate_map_key(s->p, key_name(s, k), &m, s->err) != CK_OK)
            return s->err->code;
        l->fn(l->ctx, key_name(s, k), s->ck->shards[k->shard].name, &m);
    }
    return CK_OK;
}

static void sim_free_strings(sim *s)
{
    for (int t = 0; t < SIM_THREADS; t++)
        free(s->prm[t]);
    for (size_t i = 0; i < s->n_owned; i++)
        free(s->owned[i]);
    free(s->owned);
    free(s->keys);
    free(s->seg);
    free(s->seg_first);
    free(s->seg_count);
    free(s->psize);
    free(s->part_of);
    free(s->pbase);
    free(s->fs);
    strmap_free(&s->fmap);
}

/* After the map: the keys listed, the rules' assertions, the stages, the shapes, the post-load
 * checks, and the findings into f. */
static int sim_tail(sim *s, const sim_listing *l, sim_result *res, ck_findings *f, ck_err *err)
{
    const plan *p = s->p;
    int rc = CK_OK;
    if (l && (rc = list_keys(s, l)) != CK_OK)
        return rc;
    for (int i = 0; i < p->rules->n_asserts; i++) {
        const rules_assert *a = &p->rules->asserts[i];
        plan_env env = {p, NULL, NULL, NULL, NULL, 0};
        expr_val v;
        if (plan_eval(p, a->cond, &env, a->line, &v, err))
            return err->code;
        if (truthy(&v))
            continue;
        for (int st = 0; st < p->layout.pp; st++) {
            snprintf(res->stages[st].error, sizeof res->stages[st].error, "%s", a->error);
            sfind_add(s, "lint.assert", SEV_ERROR, st, p->rules->path, "", "the loader stops "
                      "before reading any key: %s (%s does not hold; rules line %d)", a->error,
                      expr_text(a->cond), a->line);
        }
    }
    if (!s->oom)
        run_stages(s, res);
    check_shapes(s);
    run_checks(s);
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

int simulate_run(const ck_checkpoint *ck, const plan *p, sim_result *res, ck_findings *f,
                 ck_err *err)
{
    return simulate_run_listing(ck, p, NULL, res, f, err);
}

int simulate_run_listing(const ck_checkpoint *ck, const plan *p, const sim_listing *l,
                         sim_result *res, ck_findings *f, ck_err *err)
{
    memset(res, 0, sizeof *res);
    sim s;
    memset(&s, 0, sizeof s);
    s.ck = ck;
    s.p = p;
    s.err = err;
    strmap_init(&s.fmap);
    res->stages = calloc((size_t)p->layout.pp, sizeof *res->stages);
    res->n_stages = p->layout.pp;
    int rc = CK_OK;
    if (!res->stages || collect_keys(&s) != 0) {
        rc = ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
        goto done;
    }
    res->keys = s.n;
    res->from_index = ck->n_tensors == 0 && s.n > 0;
    if (map_keys(&s) != 0) {
        rc = err->code ? err->code : CK_ENOMEM;
        goto done;
    }
    rc = sim_tail(&s, l, res, f, err);
done:
    sim_free_strings(&s);
    if (rc != CK_OK)
        sim_result_free(res);
    return rc;
}

/* A map begun while the reader cross-checks the headers (simulate_start). */
struct sim_early {
    sim s;
    map_run m;
    size_t tensors;       /* every readable shard's tensors, all of which the layout took */
    ck_err err;           /* the map threads' errors go here until simulate_run_early */
    int mapping;          /* map_start ran: threads to finish or to stop */
};

sim_early *simulate_start(const ck_checkpoint *ck, const plan *p)
{
    sim_early *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->s.ck = ck;
    e->s.p = p;
    e->s.err = &e->err;
    e->s.direct = 1;
    strmap_init(&e->s.fmap);
    ck_err_clear(&e->err);
    for (size_t i = 0; i < ck->n_shards; i++)
        e->tensors += ck->shards[i].status == ST_OK ? ck->shards[i].h.n_tensors : 0;
    if (collect_keys(&e->s) != 0 || map_start(&e->s, &e->m) != 0) {
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
    if (e->mapping) {
        atomic_store(&e->m.j.next, e->s.n_seg); /* the threads stop after their current shard */
        for (size_t t = 1; t < e->m.started; t++)
            pthread_join(e->m.w[t].tid, NULL);
        for (size_t t = 0; t < e->m.started; t++) {
            for (size_t b = 0; b < e->m.w[t].pool.n; b++)
                free(e->m.w[t].pool.v[b]);
            free(e->m.w[t].pool.v);
        }
    }
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
    int rc = map_finish(s, &e->m) != 0 ? (err->code ? err->code : CK_ENOMEM) : CK_OK;
    e->mapping = 0;
    res->stages = calloc((size_t)p->layout.pp, sizeof *res->stages);
    res->n_stages = p->layout.pp;
    if (rc == CK_OK && !res->stages)
        rc = ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    if (rc == CK_OK) {
        res->keys = s->n;
        res->from_index = ck->n_tensors == 0 && s->n > 0;
        rc = sim_tail(s, l, res, f, err);
    } else if (!err->code)
        ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    sim_free_strings(s);
    free(e);
    if (rc != CK_OK)
        sim_result_free(res);
    return rc;
}

void sim_result_free(sim_result *res)
{
    if (!res)
        return;
    free(res->stages);
    memset(res, 0, sizeof *res);
}

/* ------------------------------------------------------------------------------------------ */
/* One key, one parameter: for `rules explain` and `explain`. */

int simulate_map_key(const plan *p, const char *key, sim_mapping *m, ck_err *err)
{
    memset(m, 0, sizeof *m);
    sim s;
    memset(&s, 0, sizeof s);
    s.p = p;
    s.err = err;
    strmap_init(&s.fmap);
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
    if (rc == 0) {
        const char *param = pool.param;
        m->skip = k.skip;
        m->rule = k.rule;
        m->expert = k.expert;
        m->guard = key_guard(r, &k);
        m->part = key_part(r, &k);
        snprintf(m->seen, sizeof m->seen, "%s", key_seen_name(&s, &k));
        if (param) {
            snprintf(m->param, sizeof m->param, "%s", param);
            m->layer = param_layer(p, param);
        } else
            m->layer = -1;
        for (int st = 0; st < p->layout.pp; st++) {
            size_t pi;
            if (param && strmap_get(&p->stages[st].by_name, param, &pi))
                m->stages |= 1ull << st;
            else if (param && m->guard && pp_missing(p, &p->stages[st], param, m->layer))
                m->pp_skipped |= 1ull << st;
        }
        if (param && m->stages != (p->layout.pp >= 64 ? ~0ull : (1ull << p->layout.pp) - 1)) {
            sim_param kp = {param, m->stages, m->layer, 0, -1}; /* some stage lacks it: say why */
            explain_missing(p, &k, &kp, key_seen_name(&s, &k), m->why, sizeof m->why);
        }
    } else if (!err->code)
        ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    free(sm);
    free(km);
    for (size_t b = 0; b < pool.n; b++)
        free(pool.v[b]);
    free(pool.v);
    sim_free_strings(&s);
    return rc == 0 ? CK_OK : err->code;
}

int simulate_keys_for_param(const ck_checkpoint *ck, const plan *p, const char *param,
                            void (*fn)(void *ctx, const char *key, const char *file,
                                       const sim_mapping *m),
                            void *ctx, ck_err *err)
{
    sim s;
    memset(&s, 0, sizeof s);
    s.ck = ck;
    s.p = p;
    s.err = err;
    strmap_init(&s.fmap);
    sim_listing l = {param, fn, ctx};
    int rc = CK_OK;
    if (collect_keys(&s) != 0 || map_keys(&s) != 0)
        rc = err->code ? err->code : ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    else
        rc = list_keys(&s, &l);
    sim_free_strings(&s);
    return rc;
}
