/* shard.h - which slice of a checkpoint tensor each tensor-parallel rank takes, and why: the
 * one answer the plan (local shapes), the load (the copy), the TUI and explain all ask. It
 * follows vLLM's weight loaders:
 *   column: rows split over TP; a fused part's rows split on their own and laid one after the
 *           other (QKVParallelLinear, MergedColumnParallelLinear); with fewer key/value heads
 *           than ranks each rank takes one whole head, rank r head r / (tp / heads);
 *   row:    columns split over TP;
 *   vocab:  rows of the vocabulary padded to a multiple of 64, split over TP (padding zero);
 *   replicated: whole (a fused part at its offset);
 *   expert: under EP (expert parallelism with TP > 1) whole experts, E / tp per rank and the
 *           first E % tp ranks one more (vLLM's linear placement, determine_expert_map); else
 *           every expert on every rank, cut inside the expert as the rules' expert_shard says
 *           (1: rows, as w1/w3 of w13; 2: columns, as w2; 3: whole on TP rank 0, zeros on the
 *           others, as gpt-oss's w2 bias).
 * A rule's tp_granule rounds each rank's share up to whole units: ranks take ceil_div(units, tp)
 * units in order, the last ones less or none (their parameters padded with zeros).
 * Nothing here allocates or prints; every function may be called from several threads. */
#ifndef CK_SHARD_H
#define CK_SHARD_H

#include <stdint.h>

#include "base/ckerr.h"
#include "loader/plan.h"

#define SLICE_ZEROS (-3)

/* One rank's cut of one checkpoint tensor, in the tensor's own rows and columns (a routed
 * expert's tensor is one expert's, without the experts dim). */
typedef struct {
    int dim;        /* SLICE_ZEROS (-3): the rank holds zeros in its place (an expert parameter whose rule says
                     * expert_shard "first", on TP ranks other than 0: vLLM zeroes gpt-oss's
                     * down_proj bias there so that the all-reduce adds it once);
                     * -2: this rank does not hold the tensor's expert; -1: the whole tensor
                     * (a fused part's: its rows [0, len)); 0: rows [start, start + len);
                     * 1: columns [start, start + len) */
    int64_t start, len;
    int64_t full;   /* the tensor's extent along dim (rows for a whole fused part) that config.json
                     * makes: a fused part's rows, the parameter's full size; 0 for a whole tensor */
    int64_t dst;    /* the row of the local parameter (of its expert) where the cut begins: a
                     * fused part's offset, 0 otherwise */
    int part;       /* index of the fused part in the parameter's rule, -1 when none */
    int padded;     /* the rule rounds shares to whole units (tp_granule): the cut may be shorter
                     * than the rank's block, the rest zero */
} shard_slice;

/* What TP rank `rank` takes of a checkpoint tensor that fills `part` (NULL: none) of parameter
 * pp, holding routed expert `expert` (-1: not an expert's tensor). Rows of a vocabulary cut may
 * run past the tensor's rows (the padding, zero). Returns CK_OK; CK_EFORMAT with err naming the
 * rules file and the parameter when the part is not one the parameter's rule lists, when a
 * part's size cannot be evaluated, or for parts of a row-parallel parameter. */
int shard_slice_of(const plan *p, const plan_param *pp, const char *part, int64_t expert, int rank,
                   shard_slice *s, ck_err *err);

/* Rows of a fused part of `size` rows (`heads` heads of it, 0: not counted in heads) that each of
 * `ways` ranks takes: size / ways, or one whole head when there are fewer heads than ranks. */
int64_t shard_part_rows(int64_t size, int64_t heads, int ways);
/* The first of those rows that rank `rank` takes. */
int64_t shard_part_start(int64_t size, int64_t heads, int ways, int rank);
/* Rows of the vocabulary once padded for the vocabulary-parallel embedding (a multiple of 64). */
int64_t shard_padded_vocab(int64_t vocab);

/* The routed experts TP rank `rank` of a stage holds: [*start, *start + *count); all of them
 * without EP. */
void shard_expert_range(const plan *p, int64_t experts, int rank, int64_t *start, int64_t *count);
/* The TP rank that holds expert e under EP; -1 without EP (every rank holds it). */
int shard_expert_rank(const plan *p, int64_t experts, int64_t e);

/* How a parameter of rule t is cut, in a few words ("rows split over TP"); ep: the layout asks
 * for expert parallelism. A static string. */
const char *shard_words(const rules_param *t, int ep);

#endif
