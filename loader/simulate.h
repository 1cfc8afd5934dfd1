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
    char error[2048];     /* the first exception this stage's ranks raise, "" when none */
    char error_key[512];  /* the checkpoint key that raises it */
    char error_file[256];
    /* expert parallelism over a path that gives up on an expert the rank does not hold (a key rule's
     * pp_through): the TP rank holding the expert of the first key that fails so (ep_rank1 - 1; 0:
     * none) is the one rank error does not name; it raises ep_error, "" when it loads */
    int ep_rank1;
    char ep_error[2048];
    char ep_error_key[512];
    size_t loaded, skipped_rules, skipped_pp, skipped_expert, unexpected, missing;
} sim_stage;

typedef struct {
    sim_stage *stages;    /* (plan->layout.pp) */
    int n_stages;
    size_t keys;          /* checkpoint keys iterated (per rank) */
    int from_index;       /* shapes unknown: keys from model.safetensors.index.json only */
} sim_result;

/* The map of every checkpoint key under a plan: the name the loader sees, the skip rule or key
 * rule that takes it, the parameter and fused part it fills, its expert. Built once (on as many
 * threads as there are cores), read-only afterwards, and shared: the replay of every stage
 * (simulate_run_map), the real load (load_opts.km), the TUI's panel and explain ask it instead
 * of mapping keys again. It borrows ck and p, which must outlive it. keymap_build returns CK_OK
 * with *out set, or an error code with err filled (CK_ENOMEM) and *out NULL; keymap_free(NULL)
 * does nothing. */
typedef struct keymap keymap;
int keymap_build(const ck_checkpoint *ck, const plan *p, keymap **out, ck_err *err);
void keymap_free(keymap *km);
const plan *keymap_plan(const keymap *km);
/* What the loader does with checkpoint tensor i (an index into ck->tensors). */
typedef struct {
    int skip;             /* the skip rule that takes it, -1 */
    int rule;             /* the key rule that maps it, -1: the generic path */
    const char *param;    /* the parameter it fills, NULL when skipped or when the model above
                           * strip_prefix has no module for it (valid while km lives) */
    const char *part;     /* the fused part, or NULL (the rules') */
    int64_t expert;       /* its routed expert, -1 */
} keymap_entry;
/* 1 with *e filled; 0 when tensor i has no key in the map. Any thread. */
int keymap_get(const keymap *km, size_t i, keymap_entry *e);
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
/* Frees res->stages and leaves res zeroed; accepts NULL and a zeroed result. */
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
    int outer;            /* the key has no strip_prefix: the model above looks it up */
    int outside;          /* ... and has no module for it (no stage's model is handed it) */
} sim_mapping;

/* The map's entry for a key mapped alone (simulate_map_key): param NULL where keymap_get gives
 * none (skipped, or looked up by the model above, which has no module for it). */
void keymap_entry_of(const sim_mapping *m, keymap_entry *e);

/* The name the loader walks the model by for the key m maps: the one it sees, or, for a key
 * rule that reproduces a naming hazard, the mangled name the mapper made of it (its parameter). */
const char *sim_walk_name(const rules_file *r, const sim_mapping *m);

/* The loader's exception on stage `stage`'s ranks for a key that m maps and that stage lacks,
 * in vLLM's words (the stage's error in lint), in buf. */
void sim_error_line(const plan *p, int stage, const sim_mapping *m, char *buf, size_t size);

/* One key alone, as if known from the index (the key need not be in any checkpoint: `rules
 * explain`): CK_OK, or CK_ENOMEM / CK_EFORMAT with err filled. */
int simulate_map_key(const plan *p, const char *key, sim_mapping *m, ck_err *err);
/* The same for checkpoint tensor i, from the map: 1, or 0 when it has no key there. */
int keymap_explain(const keymap *km, size_t i, sim_mapping *m);
/* Keys to list: fn(ctx, key, file, mapping) for every checkpoint key that maps to param. */
typedef struct sim_listing {
    const char *param;
    void (*fn)(void *ctx, const char *key, const char *file, const sim_mapping *m);
    void *ctx;
} sim_listing;
/* Calls fn for every checkpoint key that maps to param, in the loader's order. CK_OK. */
int simulate_keys_for_param(const keymap *km, const char *param,
                            void (*fn)(void *ctx, const char *key, const char *file,
                                       const sim_mapping *m),
                            void *ctx);
/* The replay over a map built before (simulate_run_listing builds one and frees it). */
int simulate_run_map(const keymap *km, const sim_listing *l, sim_result *res, ck_findings *f, ck_err *err);

/* "ranks 8-15 (PP stage 1)" for a stage, "ranks 0-15 (all)" etc. */
const char *sim_ranks_str(const plan *p, uint64_t stage_mask, char *buf, size_t size);

#endif
