/* tree.c - the key hierarchy: nodes created in first-seen order (a parent always before its
 * children), paths in a block arena so that the path map can borrow them, child lists sorted
 * once, sums rolled up in reverse creation order. */
#include "tui/tree.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK (1u << 20)

typedef struct {
    char **blocks;
    size_t n_blocks, used; /* used: bytes of the last block */
} arena;

static char *arena_copy(arena *a, const char *s, size_t len)
{
    if (!a->n_blocks || a->used + len + 1 > ARENA_BLOCK) {
        size_t sz = len + 1 > ARENA_BLOCK ? len + 1 : ARENA_BLOCK;
        char **nb = realloc(a->blocks, (a->n_blocks + 1) * sizeof *nb);
        if (!nb)
            return NULL;
        a->blocks = nb;
        if (!(a->blocks[a->n_blocks] = malloc(sz)))
            return NULL;
        a->n_blocks++;
        a->used = 0;
    }
    char *p = a->blocks[a->n_blocks - 1] + a->used;
    memcpy(p, s, len);
    p[len] = 0;
    a->used += len + 1;
    return p;
}

/* The arena is kept as a NULL-terminated block list in t->arena (a char ** in disguise). */
static void arena_release(char **blocks, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
    free(blocks);
}

static int64_t parse_num(const char *s, size_t len)
{
    if (!len || len > 15 || (len > 1 && s[0] == '0'))
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static const ck_tree *sort_tree; /* qsort has no context argument in C11 */

static int by_name(const void *a, const void *b)
{
    const tree_node *x = &sort_tree->n[*(const int32_t *)a], *y = &sort_tree->n[*(const int32_t *)b];
    if (x->num >= 0 && y->num >= 0)
        return x->num < y->num ? -1 : x->num > y->num;
    if ((x->num >= 0) != (y->num >= 0))
        return x->num >= 0 ? -1 : 1;
    return strcmp(x->path + x->name_off, y->path + y->name_off);
}

static int by_bytes(const void *a, const void *b)
{
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    const tree_node *x = &sort_tree->n[i], *y = &sort_tree->n[j];
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    return by_name(a, b);
}

typedef struct {
    ck_tree *t;
    arena a;
    size_t cap;
} builder;

static int32_t add_node(builder *b, const char *name, size_t len, size_t name_off, int32_t parent)
{
    ck_tree *t = b->t;
    if (t->nn == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        tree_node *nn = realloc(t->n, cap * sizeof *nn);
        if (!nn)
            return -1;
        t->n = nn;
        b->cap = cap;
    }
    char *path = arena_copy(&b->a, name, len);
    if (!path)
        return -1;
    tree_node *x = &t->n[t->nn];
    memset(x, 0, sizeof *x);
    x->path = path;
    x->name_off = (uint32_t)name_off;
    x->parent = parent;
    x->tensor = -1;
    x->num = parse_num(name + name_off, len - name_off);
    x->sev = x->own_sev = TREE_NO_SEV;
    if (len && strmap_put(&t->by_path, path, t->nn, NULL) < 0)
        return -1;
    return (int32_t)t->nn++;
}

int tree_build(const ck_checkpoint *ck, ck_tree *t)
{
    memset(t, 0, sizeof *t);
    strmap_init(&t->by_path);
    builder b = {t, {NULL, 0, 0}, 0};
    if (strmap_reserve(&t->by_path, ck->n_tensors * 2 + 16) || add_node(&b, "", 0, 0, -1) < 0)
        goto fail;
    /* Names come sorted within a shard, so a name mostly shares its leading components with
     * the previous one: those nodes are reused without hashing the prefix again. */
    enum { MAXC = 64 };
    size_t prev_end[MAXC];
    int32_t prev_node[MAXC];
    int prev_n = 0;
    const char *prev = "";
    for (size_t i = 0; i < ck->n_tensors; i++) {
        const st_tensor *st = ckpt_tensor(ck, ck->tensors[i]);
        const char *name = st->name;
        size_t len = strlen(name), start = 0, lcp = 0;
        while (name[lcp] && name[lcp] == prev[lcp])
            lcp++;
        int32_t parent = 0;
        int c = 0;
        for (size_t e = 0; e <= len; e++) {
            if (e < len && name[e] != '.')
                continue;
            size_t v;
            int32_t node;
            if (c < prev_n && prev_end[c] == e && e < lcp)
                node = prev_node[c]; /* the same component as the previous name's */
            else if (strmap_get_n(&t->by_path, name, e, &v))
                node = (int32_t)v;
            else if ((node = add_node(&b, name, e, start, parent)) < 0)
                goto fail;
            if (c < MAXC) {
                prev_end[c] = e;
                prev_node[c] = node;
            }
            c++;
            parent = node;
            start = e + 1;
        }
        prev_n = c < MAXC ? c : MAXC;
        prev = name;
        tree_node *x = &t->n[parent];
        x->tensor = (int64_t)i;
        uint64_t el = 1;
        for (uint32_t d = 0; d < st->ndim; d++)
            el *= st->shape[d];
        x->count += 1;
        x->elems += el;
        x->bytes += st_tensor_nbytes(st);
    }
    /* child lists */
    t->kids = malloc((t->nn ? t->nn : 1) * sizeof *t->kids);
    if (!t->kids)
        goto fail;
    for (size_t i = 1; i < t->nn; i++)
        t->n[t->n[i].parent].n_kids++;
    int32_t pos = 0;
    for (size_t i = 0; i < t->nn; i++) {
        t->n[i].first = pos;
        pos += t->n[i].n_kids;
        t->n[i].n_kids = 0;
    }
    for (size_t i = 1; i < t->nn; i++) {
        tree_node *p = &t->n[t->n[i].parent];
        t->kids[p->first + p->n_kids++] = (int32_t)i;
    }
    sort_tree = t;
    for (size_t i = 0; i < t->nn; i++)
        if (t->n[i].n_kids > 1)
            qsort(t->kids + t->n[i].first, (size_t)t->n[i].n_kids, sizeof *t->kids, by_name);
    /* roll up: children were created after their parents */
    for (size_t i = t->nn; i-- > 1;) {
        tree_node *x = &t->n[i], *p = &t->n[x->parent];
        p->count += x->count;
        p->elems += x->elems;
        p->bytes += x->bytes;
    }
    char **blocks = realloc(b.a.blocks, (b.a.n_blocks + 1) * sizeof *blocks);
    if (!blocks)
        goto fail;
    blocks[b.a.n_blocks] = NULL;
    t->arena = (char *)blocks;
    return 0;
fail:
    arena_release(b.a.blocks, b.a.n_blocks);
    b.a.blocks = NULL;
    strmap_free(&t->by_path);
    free(t->n);
    free(t->kids);
    memset(t, 0, sizeof *t);
    return -1;
}

void tree_free(ck_tree *t)
{
    if (!t)
        return;
    if (t->arena) {
        char **blocks = (char **)(void *)t->arena;
        size_t n = 0;
        while (blocks[n])
            n++;
        arena_release(blocks, n);
    }
    strmap_free(&t->by_path);
    free(t->n);
    free(t->kids);
    free(t->fnode);
    memset(t, 0, sizeof *t);
}

int32_t tree_find(const ck_tree *t, const char *path)
{
    size_t v;
    if (!*path)
        return t->nn ? 0 : -1;
    return strmap_get(&t->by_path, path, &v) ? (int32_t)v : -1;
}

static int32_t find_n(const ck_tree *t, const char *s, size_t len)
{
    size_t v;
    return strmap_get_n(&t->by_path, s, len, &v) ? (int32_t)v : -1;
}

/* The node a finding key belongs to: the key itself, prefix + key, else its longest dotted
 * prefix that is a node (of either spelling); the root when nothing matches. */
static int32_t node_of_key(const ck_tree *t, const char *key, const char *prefix)
{
    if (!key || !*key)
        return 0;
    char buf[1024];
    const char *cand[2] = {key, NULL};
    size_t pl = prefix ? strlen(prefix) : 0;
    if (pl && strncmp(key, prefix, pl) != 0 && pl + strlen(key) < sizeof buf) {
        memcpy(buf, prefix, pl);
        memcpy(buf + pl, key, strlen(key) + 1);
        cand[1] = buf;
    }
    for (int c = 0; c < 2; c++)
        if (cand[c]) {
            int32_t n = find_n(t, cand[c], strlen(cand[c]));
            if (n >= 0)
                return n;
        }
    for (int c = 1; c >= 0; c--) { /* the prefixed spelling first: it is the checkpoint's */
        if (!cand[c])
            continue;
        for (size_t e = strlen(cand[c]); e > 0; e--)
            if (cand[c][e] == '.') {
                int32_t n = find_n(t, cand[c], e);
                if (n >= 0)
                    return n;
            }
    }
    return 0;
}

int tree_attach(ck_tree *t, const ck_findings *f, const char *prefix)
{
    free(t->fnode);
    t->fnode = malloc((f->n ? f->n : 1) * sizeof *t->fnode);
    if (!t->fnode) {
        t->f = NULL; /* no findings attached, rather than the last ones without their nodes */
        return -1;
    }
    t->f = f;
    for (size_t i = 0; i < t->nn; i++) {
        t->n[i].sev = t->n[i].own_sev = TREE_NO_SEV;
        t->n[i].n_own = 0;
    }
    for (size_t j = 0; j < f->n; j++) {
        int32_t n = node_of_key(t, f->v[j].key, prefix);
        t->fnode[j] = n;
        int8_t sev = (int8_t)f->v[j].sev;
        tree_node *x = &t->n[n];
        x->n_own++;
        if (sev > x->own_sev)
            x->own_sev = sev;
        for (int32_t a = n; a >= 0 && t->n[a].sev < sev; a = t->n[a].parent)
            t->n[a].sev = sev;
    }
    return 0;
}

const char *tree_breadcrumb(const ck_tree *t, int32_t i, char *buf, size_t size)
{
    if (!size)
        return buf;
    buf[0] = 0;
    if (i <= 0) {
        snprintf(buf, size, "/");
        return buf;
    }
    size_t o = 0;
    for (const char *p = t->n[i].path; *p && o + 4 < size; p++) {
        if (*p == '.') {
            memcpy(buf + o, " > ", 3);
            o += 3;
        } else
            buf[o++] = *p;
    }
    buf[o] = 0;
    return buf;
}

static int is_glob(const char *f)
{
    return strpbrk(f, "*?[") != NULL;
}

int tree_matches(const ck_tree *t, int32_t i, const char *filter)
{
    const tree_node *x = &t->n[i];
    if (x->tensor >= 0 && (is_glob(filter) ? fnmatch(filter, x->path, 0) == 0 : strstr(x->path, filter) != NULL))
        return 1;
    for (int32_t k = 0; k < x->n_kids; k++)
        if (tree_matches(t, t->kids[x->first + k], filter))
            return 1;
    return 0;
}

size_t tree_children(const ck_tree *t, int32_t dir, int by_size, int only_findings,
                     const char *filter, int32_t *out, size_t cap)
{
    const tree_node *d = &t->n[dir];
    size_t n = 0;
    for (int32_t k = 0; k < d->n_kids; k++) {
        int32_t c = t->kids[d->first + k];
        if (only_findings && t->n[c].sev == TREE_NO_SEV)
            continue;
        if (filter && *filter && !tree_matches(t, c, filter))
            continue;
        if (n < cap)
            out[n] = c;
        n++;
    }
    if (by_size && n > 1 && n <= cap) {
        sort_tree = t;
        qsort(out, n, sizeof *out, by_bytes);
    }
    return n;
}

/* Depth-first successor in name order, wrapping to the root after the last node. */
static int32_t dfs_next(const ck_tree *t, int32_t i)
{
    if (t->n[i].n_kids)
        return t->kids[t->n[i].first];
    while (i > 0) {
        int32_t p = t->n[i].parent;
        const tree_node *pn = &t->n[p];
        for (int32_t k = 0; k < pn->n_kids; k++)
            if (t->kids[pn->first + k] == i) {
                if (k + 1 < pn->n_kids)
                    return t->kids[pn->first + k + 1];
                break;
            }
        i = p;
    }
    return 0;
}

/* Depth-first predecessor: the last descendant of the previous sibling, or the parent. */
static int32_t dfs_prev(const ck_tree *t, int32_t i)
{
    int32_t j;
    if (i == 0)
        j = 0; /* from the root, wrap to the very last node */
    else {
        int32_t p = t->n[i].parent;
        const tree_node *pn = &t->n[p];
        int32_t k = 0;
        while (k < pn->n_kids && t->kids[pn->first + k] != i)
            k++;
        if (k == 0)
            return p;
        j = t->kids[pn->first + k - 1];
    }
    while (t->n[j].n_kids)
        j = t->kids[t->n[j].first + t->n[j].n_kids - 1];
    return j;
}

int32_t tree_next_finding(const ck_tree *t, int32_t from, int dir)
{
    if (!t->nn || t->n[0].sev == TREE_NO_SEV)
        return -1;
    int32_t i = from < 0 ? 0 : from;
    for (size_t steps = 0; steps <= t->nn; steps++) {
        i = dir > 0 ? dfs_next(t, i) : dfs_prev(t, i);
        if (t->n[i].n_own)
            return i;
    }
    return -1;
}
