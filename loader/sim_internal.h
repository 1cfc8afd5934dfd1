/* sim_internal.h - what the files of the load replay share: the per-key records, the sim
 * that holds them, and the functions one file gives the others. The replay is split by
 * responsibility: simulate.c (the public entry points, the findings folded per stage),
 * keyorder.c (the keys in the loader's order), keymap.c (each key mapped once to its skip rule,
 * key rule and parameter, on threads, with the caches that make it fast; and one key alone for
 * explain), stages.c (each pipeline stage's replay over the mapped keys, the loader's exceptions,
 * the shapes and the post-load checks). Only those files include this header. */
#ifndef CK_SIM_INTERNAL_H
#define CK_SIM_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "loader/simulate.h"

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
    uint8_t outside : 1;  /* without strip_prefix, under none of the modules of the model above
                           * it (loader.outer, or the wrapper): that model has no such module */
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

/* How many consecutive fused parts, from key_part on, the key's tensor fills (1 for one part). */
static inline int key_span(const rules_file *r, const sim_key *k)
{
    return k->rule >= 0 ? rules_key_span(&r->keys[k->rule]) : 1;
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

static inline const sim_param *key_param(const sim *s, const sim_key *k)
{
    static const sim_param no_param = {NULL, 0, -1, 0, -1};
    return k->pid == PID_NONE ? &no_param : &s->prm[k->pid >> PID_SHIFT][k->pid & PID_MAX_LOCAL];
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
static inline int key_part_index(const sim *s, const sim_key *k, int tmpl)
{
    return k->rule >= 0 ? s->part_of[(size_t)k->rule * (size_t)s->p->rules->n_params + (size_t)tmpl] : -1;
}


/* A sort record of keyorder.c's name sort, which the map threads also use. */
typedef struct {
    uint64_t pfx;         /* 8 bytes of name after the prefix all names share, big-endian */
    const char *name;
    uint32_t len;         /* strlen(name) */
    uint32_t pos;         /* where the key is now, from the start of its shard's keys */
} name_pos;

/* simulate.c: a zeroed sim for ck (NULL: one key alone) under p, errors into err; strings the
 * sim frees (NULL and s->oom set when str is NULL or out of room); findings of one stage, folded
 * with the same finding of other stages; the sim's memory. */
void sim_init(sim *s, const ck_checkpoint *ck, const plan *p, ck_err *err);
char *sim_own(sim *s, char *str);
void sim_finding_put(sim *s, const char *code, ck_severity sev, int stage, const char *file,
                     const char *key, const char *msg);
void sim_finding_add(sim *s, const char *code, ck_severity sev, int stage, const char *file,
                     const char *key, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
int sim_list_keys(const sim *s, const sim_listing *l);
void sim_free_replay(sim *s);
void sim_free_strings(sim *s);

/* keyorder.c: the keys in the loader's order into s->keys and s->seg (0, or -1 out of memory);
 * the name sort (v[0 .. n), tmp of n, runs of n + 1). */
int sim_collect_keys(sim *s);
void sim_sort_names(name_pos *v, name_pos *tmp, size_t *runs, size_t n);

/* keymap.c: every key mapped (0, or -1 with s->err set or out of memory); the same begun on
 * threads (sim_map_start, NULL when it cannot begin), finished on this thread and joined
 * (sim_map_finish), or stopped unused (sim_map_abandon); each frees m. */
typedef struct map_run map_run;
int sim_map_keys(sim *s);
map_run *sim_map_start(sim *s);
int sim_map_finish(sim *s, map_run *m);
void sim_map_abandon(sim *s, map_run *m);
/* What the loader does with mapped key k (param: its parameter, NULL when skipped), for reports. */
void sim_mapping_fill(const sim *s, const sim_key *k, const char *param, sim_mapping *m);
struct suffix_memo;
int sim_expected_shape(const sim *s, const sim_key *k, uint64_t *want, int *nd, int *st_out,
                       const rules_param **t_out, struct suffix_memo *memo);

/* stages.c */
int sim_pp_missing(const plan *p, const plan_stage *st, const char *name, int layer);
void sim_explain_missing(const plan *p, const sim_key *k, const sim_param *kp, const char *seen,
                         char *buf, size_t size);
void sim_run_stages(sim *s, sim_result *res);
void sim_run_checks(sim *s);
void sim_check_shapes(sim *s);
/* lint.dtype for a float tensor stored where the quantization variant keeps FP8 or integer codes. */
void sim_check_dtypes(sim *s);

#endif
