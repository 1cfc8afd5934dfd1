/* simulate.h - replays a loader over the checkpoint's keys for every pipeline stage of a plan,
 * from headers (or the index alone), and predicts what the real load does: which keys load
 * where, which are skipped and why, which parameters stay empty, and the exception the loader
 * raises first on each rank, with its exact text.
 *
 * Order: every rank iterates the whole checkpoint, files in natural order, keys sorted within a
 * file (safetensors' safe_open().keys()). Tensor-parallel ranks of one stage behave alike, so
 * findings name rank ranges ("ranks 8-15, PP stage 1"); identical findings of several stages
 * are folded into one. */
#ifndef CK_SIMULATE_H
#define CK_SIMULATE_H

#include "inspect/ckpt.h"
#include "loader/plan.h"

typedef struct {
    int stage;
    char error[600];      /* the first exception this stage's ranks raise, "" when none */
    char error_key[512];  /* the checkpoint key that raises it */
    char error_file[256];
    size_t loaded, skipped_rules, skipped_pp, skipped_expert, unexpected, missing;
} sim_stage;

typedef struct {
    sim_stage *stages;    /* (plan->layout.pp) */
    int n_stages;
    size_t keys;          /* checkpoint keys iterated (per rank) */
    int from_index;       /* shapes unknown: keys from model.safetensors.index.json only */
} sim_result;

/* Simulates the load of ck under p; adds lint.* findings to f. Returns CK_OK or CK_ENOMEM. */
int simulate_run(const ck_checkpoint *ck, const plan *p, sim_result *res, ck_findings *f,
                 ck_err *err);
struct sim_listing;
/* The same, listing on the way the keys that map to one parameter (simulate_keys_for_param's
 * listing, without mapping every key a second time); l may be NULL. */
int simulate_run_listing(const ck_checkpoint *ck, const plan *p, const struct sim_listing *l,
                         sim_result *res, ck_findings *f, ck_err *err);
/* The map of every key, begun early: simulate_start(ck, p) once every header is read (its
 * caller keeps ck->shards and their headers, ck->index and p as they are until the map is
 * finished or abandoned), on threads while the reader cross-checks the headers; NULL when it
 * cannot begin. simulate_run_early then does what simulate_run_listing does, from that map (or
 * afresh when the reader dropped a copy of a tensor after all), and frees e. simulate_abandon
 * stops and frees an early map that will not be used. */
typedef struct sim_early sim_early;
sim_early *simulate_start(const ck_checkpoint *ck, const plan *p);
int simulate_run_early(sim_early *e, const struct sim_listing *l, sim_result *res, ck_findings *f,
                       ck_err *err);
void simulate_abandon(sim_early *e);
void sim_result_free(sim_result *res);
/* Keys are mapped through a cache of key shapes (the patterns each shape matches, how they
 * capture, the parameter names made); off (0), every key is matched in full. The result is the
 * same: the switch is for tests that check it. */
void simulate_shape_cache(int on);
/* What the loader does with one key. */
typedef struct {
    char seen[512];       /* the name the loader sees */
    int skip;             /* the skip rule that takes it, -1 */
    int rule;             /* the key rule that maps it, -1: the generic path */
    char param[768];      /* the parameter it goes to ("" when skipped) */
    const char *part;     /* fused part, or NULL (borrowed from the rules) */
    int64_t expert;       /* -1 */
    int guard;            /* the path skips parameters of layers other stages own */
    int layer;            /* layer of param, -1 */
    uint64_t stages;      /* stages that have param */
    uint64_t pp_skipped;  /* stages that skip it (another stage owns it) */
    char why[768];        /* why a stage lacks it, when one does */
} sim_mapping;

int simulate_map_key(const plan *p, const char *key, sim_mapping *m, ck_err *err);
/* Keys to list: fn(ctx, key, file, mapping) for every checkpoint key that maps to param. */
typedef struct sim_listing {
    const char *param;
    void (*fn)(void *ctx, const char *key, const char *file, const sim_mapping *m);
    void *ctx;
} sim_listing;
/* Calls fn for every checkpoint key that maps to param, in the loader's order. */
int simulate_keys_for_param(const ck_checkpoint *ck, const plan *p, const char *param,
                            void (*fn)(void *ctx, const char *key, const char *file,
                                       const sim_mapping *m),
                            void *ctx, ck_err *err);

/* "ranks 8-15 (PP stage 1)" for a stage, "ranks 0-15 (all)" etc. */
const char *sim_ranks_str(const plan *p, uint64_t stage_mask, char *buf, size_t size);

#endif
