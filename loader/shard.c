/* shard.c - which slice of a tensor each tensor-parallel rank takes (see shard.h). */
#include "loader/shard.h"

#include <string.h>

int64_t shard_part_rows(int64_t size, int64_t heads, int ways)
{
    if (ways <= 1)
        return size;
    return heads > 0 && heads < ways ? size / heads : size / ways;
}

int64_t shard_part_start(int64_t size, int64_t heads, int ways, int rank)
{
    int64_t len = shard_part_rows(size, heads, ways);
    if (ways <= 1)
        return 0;
    /* fewer heads than ranks: ways / heads ranks share each head */
    return heads > 0 && heads < ways ? (rank / (ways / heads)) * len : rank * len;
}

int64_t shard_padded_vocab(int64_t vocab)
{
    return (vocab + 63) / 64 * 64;
}

void shard_expert_range(const plan *p, int64_t experts, int rank, int64_t *start, int64_t *count)
{
    int n = p->layout.tp;
    if (!p->layout.ep || n <= 1) {
        *start = 0;
        *count = experts;
        return;
    }
    int64_t base = experts / n, rem = experts % n;
    *count = base + (rank < rem);
    *start = rank * base + (rank < rem ? rank : rem);
}

int shard_expert_rank(const plan *p, int64_t experts, int64_t e)
{
    if (!p->layout.ep || p->layout.tp <= 1)
        return -1;
    for (int r = 0; r < p->layout.tp; r++) {
        int64_t s, c;
        shard_expert_range(p, experts, r, &s, &c);
        if (e >= s && e < s + c)
            return r;
    }
    return -1;
}

const char *shard_words(const rules_param *t, int ep)
{
    switch (t->shard) {
    case SHARD_COLUMN: return "rows split over TP";
    case SHARD_ROW: return "columns split over TP";
    case SHARD_VOCAB: return "vocabulary rows split over TP (padded to 64)";
    case SHARD_EXPERT: return ep ? "whole experts split over the ranks (EP)"
                              : t->expert_shard == EXPERT_SHARD_FIRST ? "every expert whole on TP rank 0, zeros on the others"
                              : "every expert sliced over TP";
    default: return "replicated on every rank";
    }
}

/* Part s->part of rule t as one of `ways` ranks takes it: rows [start, start + len) of the part
 * (full rows in all), written from row dst of the local parameter (the parts before it, each cut
 * the same way). Part sizes depend on config.json and the parameter's layer (Gemma 4's head dims
 * differ by layer). */
static int part_cut(const plan *p, const plan_param *pp, int ways, int rank, shard_slice *s, ck_err *err)
{
    s->dst = 0;
    for (int k = 0; k <= s->part; k++) {
        int64_t size, heads;
        if (plan_part_dims(p, pp, k, &size, &heads, err) != CK_OK)
            return CK_EFORMAT;
        int64_t rows = shard_part_rows(size, heads, ways);
        if (k == s->part) {
            s->start = shard_part_start(size, heads, ways, rank);
            s->len = rows;
            s->full = size;
            return CK_OK;
        }
        s->dst += rows;
    }
    return CK_OK;
}

int shard_slice_of(const plan *p, const plan_param *pp, const char *part, int64_t expert, int rank,
                   shard_slice *s, ck_err *err)
{
    const rules_param *t = &p->rules->params[pp->tmpl];
    int tp = p->layout.tp, ep = p->layout.ep && tp > 1;
    memset(s, 0, sizeof *s);
    s->dim = -1;
    s->part = -1;
    if (t->n_parts) {
        s->part = rules_part_index(t, part);
        if (s->part < 0)
            return ck_err_set(err, CK_EFORMAT, p->rules->path, pp->name, CK_NO_OFFSET, "the key rule names "
                              "part '%s', which this parameter's rule does not list: fix the part id in the "
                              "rules file", part ? part : "(none)");
    }
    if (pp->experts) {
        int64_t e0, n;
        shard_expert_range(p, pp->experts, rank, &e0, &n);
        if (expert >= 0 && (expert < e0 || expert >= e0 + n)) {
            s->dim = -2;
            return CK_OK;
        }
        if (ep) /* whole experts: a fused part whole, at its offset */
            return t->n_parts ? part_cut(p, pp, 1, 0, s, err) : CK_OK;
        if (t->expert_shard == EXPERT_SHARD_FIRST && rank != 0) { /* "first": zeros but on TP rank 0 */
            s->dim = SLICE_ZEROS;
            return CK_OK;
        }
    }
    int col = t->shard == SHARD_COLUMN || t->shard == SHARD_VOCAB || (t->shard == SHARD_EXPERT && t->expert_shard == EXPERT_SHARD_COLUMN);
    int row = t->shard == SHARD_ROW || (t->shard == SHARD_EXPERT && t->expert_shard == EXPERT_SHARD_ROW);
    int d0 = pp->experts ? 1 : 0;
    if (t->n_parts) {
        if (row)
            return ck_err_set(err, CK_EFORMAT, p->rules->path, pp->name, CK_NO_OFFSET, "fused parts of a "
                              "parameter whose columns are split over TP: a fused parameter is cut by rows; give "
                              "its rule \"shard\": \"column\" (or \"replicated\") in the rules file");
        s->dim = 0;
        return part_cut(p, pp, col ? tp : 1, col ? rank : 0, s, err);
    }
    if (col && pp->ndim > d0) {
        s->dim = 0;
        s->len = (int64_t)pp->local[d0];
        s->start = rank * s->len;
        s->full = (int64_t)pp->full[d0];
    } else if (row && pp->ndim > d0 + 1) {
        s->dim = 1;
        s->len = (int64_t)pp->local[d0 + 1];
        s->start = rank * s->len;
        s->full = (int64_t)pp->full[d0 + 1];
    }
    if (t->tp_granule && s->dim >= 0) {
        /* shares rounded up to whole units: the last ranks take what is left, or nothing (zeros) */
        s->padded = 1;
        if (s->start >= s->full)
            s->dim = SLICE_ZEROS;
        else if (s->start + s->len > s->full)
            s->len = s->full - s->start;
    }
    return CK_OK;
}
