/* keyorder.c - the checkpoint's keys in the order the loader iterates them: files in natural
 * order, keys sorted by name within a file (safetensors' safe_open().keys()), or the index's
 * names when the shards are not readable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jscan.h"
#include "loader/sim_internal.h"

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
void sim_sort_names(name_pos *v, name_pos *tmp, size_t *runs, size_t n)
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
 * keys are sorted by name when they are mapped (sim_map_keys). s->direct: from the headers before the
 * reader's cross-checks, every readable shard's tensors taken (no copy dropped). A file the index
 * does not name is read by no loader (vLLM keeps the *.safetensors the index names, transformers
 * opens those): its keys are not taken. */
int sim_collect_keys(sim *s)
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
#define TAKEN(i) (ck->shards[(i)].referenced)
    if (s->direct) {
        for (size_t i = 0; i < ck->n_shards; i++)
            if (ck->shards[i].status == ST_OK && TAKEN(i))
                start[rank[i] + 1] += ck->shards[i].h.n_tensors;
    } else
        for (size_t i = 0; i < ck->n_tensors; i++)
            if (TAKEN(ck->tensors[i].shard))
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
     * thread that maps them (sim_map_keys); otherwise here */
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
        if (ck->shards[i].status == ST_OK && TAKEN(i)) {
            s->seg_first[rank[i]] = i;
            s->seg_count[rank[i]] = ck->shards[i].h.n_tensors;
        }
    size_t prev = SIZE_MAX; /* the last tensor taken */
    for (size_t i = 0; i < ck->n_tensors && !s->direct; i++) {
        if (!TAKEN(ck->tensors[i].shard))
            continue;
        size_t g = rank[ck->tensors[i].shard];
        if (prev != SIZE_MAX && (ck->tensors[i].shard < ck->tensors[prev].shard || i != prev + 1))
            grouped = 0; /* a segment is a run of ck->tensors */
        prev = i;
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
        if (!TAKEN(ck->tensors[i].shard))
            continue;
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
    char *block = bytes ? sim_own(s, malloc(bytes)) : NULL;
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
#undef TAKEN
    s->seg = start;
    s->n_seg = ns;
    free(order);
    free(rank);
    return rc;
}
