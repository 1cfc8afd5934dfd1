/* plan.h - the load plan: from (checkpoint config, rules, layout) the parameters each pipeline
 * stage builds, with full and per-rank shapes. Tensor-parallel ranks of one stage build the
 * same parameter names with the same shapes, so a plan is kept per stage; what differs per TP
 * rank (the slice, the local experts under EP) is computed from the layout when needed.
 *
 * Pipeline split: vLLM's get_pp_indices (every stage num_hidden_layers / pp layers, the
 * remainder added to the second-to-last, third-to-last, ... stages) or an explicit partition. */
#ifndef CK_PLAN_H
#define CK_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "base/ckerr.h"
#include "inspect/ckpt.h"
#include "inspect/config.h"
#include "base/finding.h"
#include "base/strmap.h"
#include "rules/rules.h"

#define PLAN_MAX_DIMS (RULES_MAX_DIMS + 1) /* the rules' dims and an expert dim */
#define PLAN_MAX_PP 64

typedef struct {
    int tp, pp, ep;              /* ep: experts split over the TP ranks instead of sliced */
    int partition[PLAN_MAX_PP];  /* layers per stage (a stage may own none, as in vLLM); all 0 and
                                  * !has_partition: vLLM's default split */
    int has_partition;           /* partition was given, even all 0 */
    int untie_embeddings;        /* config.json ties the embeddings but the checkpoint ships an
                                  * lm_head.weight: vLLM (ModelConfig.maybe_untie_word_embeddings)
                                  * builds and loads lm_head untied; tie_word_embeddings reads false */
    const char *unconverted;     /* modules the checkpoint stores unquantized, one per line (vLLM's
                                  * AWQ/GPTQ maybe_update_config derives them when
                                  * modules_to_not_convert is empty: plan_unconverted), borrowed;
                                  * NULL: none */
    int64_t max_model_len;       /* vLLM's --max-model-len, 0: its default (for check's rotary:
                                  * longrope's factors); lint does not use it */
} plan_layout;

typedef struct {
    char *name;                  /* as the loader's params_dict spells it */
    int tmpl;                    /* index into rules->params */
    int suffix;                  /* index into the quant variant's suffixes, -1 if not linear */
    const rules_quant *quant;    /* that variant (the module's scheme's: plan->schemes[].v) */
    const cfg_quant *scheme;     /* the module's scheme (a config group's), NULL: unquantized */
    int layer;                   /* the {layer} capture, -1 when none */
    int ndim;
    uint64_t full[PLAN_MAX_DIMS];  /* unsharded shape */
    uint64_t local[PLAN_MAX_DIMS]; /* one TP rank's shape */
    int64_t out, in;             /* a linear's unsharded [out, in] (without the experts dim) */
    int64_t experts;             /* leading experts dim, 0 when none */
} plan_param;

typedef struct {
    int stage;
    int layer_start, layer_end;  /* [start, end) decoder layers this stage owns */
    int first, last;             /* holds the embedding / the norm and lm_head */
    plan_param *params;          /* (n) */
    size_t n;
    strmap by_name;              /* name -> index into params */
    char build_error[256];       /* why this stage's model cannot be built (the rules'
                                  * stage_requires), "" when it can */
} plan_stage;

/* A quantization scheme (the config's, or one config group's) and the rules' variant for it,
 * less the suffixes whose "when" does not hold on it (the suffixes borrowed from the rules). */
typedef struct {
    const cfg_quant *q;          /* borrowed from the config; NULL: unquantized */
    rules_quant v;
} plan_scheme;

typedef struct {
    const rules_file *rules;     /* borrowed, must outlive the plan */
    const ck_config *cfg;        /* borrowed */
    const rules_quant *quant;    /* the variant chosen by quantization_config, less the suffixes
                                  * whose "when" does not hold on this config: schemes[0].v */
    plan_scheme *schemes;        /* (n_schemes) the config's scheme, then each config group's */
    int n_schemes;
    plan_layout layout;
    int num_layers;              /* num_hidden_layers */
    const char *wrapper;         /* the module of a wrapper the model sits under, as vLLM names it
                                  * ("language_model." of a vision-language model), "" when none */
    char wrapper_class[128];     /* the wrapper's class (loader.wrapper.class on this config), ""
                                  * when none or the rules do not say */
    char outer_class[128];       /* the class of the model above strip_prefix (loader.outer.class
                                  * on this config), "" when the rules do not say */
    int outer_maps;              /* loader.outer.maps applies to this config */
    expr_val *lets;              /* (n_lets) the rules' lets evaluated so far, in order */
    int n_lets;
    plan_stage *stages;          /* (layout.pp) */
    int strict;                  /* the rules' loader.strict check runs on this config */
} plan;

/* Builds the plan. Returns CK_OK; CK_EUSAGE for an impossible layout (a partition that does
 * not add up); CK_EFORMAT when a rules expression cannot be evaluated on this config (err names
 * the rules file, its line and the expression). Construction-time problems of the model that a
 * loader would raise (a size not divisible by TP) are findings in f. The plan borrows r and cfg,
 * which must outlive it; on failure p is left freed and zeroed. */
int plan_build(const rules_file *r, const ck_config *cfg, const plan_layout *lay, plan *p,
               ck_findings *f, ck_err *err);
/* vLLM's ModelConfig.maybe_untie_word_embeddings: config.json ties the word embeddings and some
 * key of the checkpoint (its headers or index) ends in "lm_head.weight"; plan such a checkpoint
 * with layout.untie_embeddings set. Reads ck->cfg, the shards' headers and the index only. */
int plan_unties_embeddings(const ck_checkpoint *ck);
/* vLLM's AutoAWQConfig/AutoGPTQConfig.maybe_update_config: when config.json quantizes with AWQ or
 * GPTQ and lists no modules_to_not_convert, the modules whose every tensor the checkpoint stores as
 * float are left unquantized: the names of those holding a matrix (the ones that can be linear
 * layers; as stored, less the last dotted part), one per line
 * (the caller frees it), or NULL when none or not such a checkpoint. */
char *plan_unconverted(const ck_checkpoint *ck);
/* Whether such a list names a module p plans quantized (then p is to be made again with it). */
int plan_unconverts_any(const plan *p, const char *lines);
/* What a finding plan_build adds says of the whole layout, before any key is read:
 * PLAN_REFUSED (vLLM refuses the configuration or the layout before any rank starts:
 * lint.layout_refused, lint.config_refused), PLAN_UNBUILT (a rank cannot build the model:
 * lint.tp_indivisible, lint.stage_unbuilt, lint.quant_parts_mixed), or 0 (anything else, or not an
 * error). */
enum { PLAN_REFUSED = 1, PLAN_UNBUILT = 2 };
int plan_finding_kind(const ck_finding *x);
/* Whether such a finding says why some stages cannot be built (their build_error), not all. */
int plan_finding_stage(const ck_finding *x);
/* Frees what plan_build made and leaves p zeroed; accepts NULL and a zeroed plan. */
void plan_free(plan *p);
/* Experts of the model's routed-expert parameters (the first with an experts dim), 0: none. */
int64_t plan_experts(const plan *p);

/* Stage boundaries as vLLM computes them; 0, or -1 with err filled. */
int plan_pp_indices(int layers, const plan_layout *lay, int stage, int *start, int *end, ck_err *err);

/* Looks a name up for expressions: captures first (caps/vals of a matched pattern, may be NULL),
 * then the rules' lets, the quantization fields (quant_method, quant_bits, quant_group_size,
 * quant_block_n, quant_block_k), then config.json. */
typedef struct {
    const plan *p;
    const pattern *caps;
    const pattern_value *vals;
    const int64_t *extra_v;      /* extra integer names (out, in) */
    const char *const *extra_n;
    int n_extra;
    const cfg_quant *scheme;     /* the quant_* names: this module's scheme; NULL: the config's */
    int *uses;                   /* when set, plan_lookup ORs in PLAN_USES_CAPS when a capture
                                  * answered and PLAN_USES_EXTRA when an extra name did */
} plan_env;
enum { PLAN_USES_CAPS = 1, PLAN_USES_EXTRA = 2 };
int plan_lookup(void *env, const char *name, size_t len, expr_val *out);
/* Evaluates e in env; on error fills err naming the rules file line `line`. */
int plan_eval(const plan *p, const expr *e, plan_env *env, int line, expr_val *out, ck_err *err);
/* Fused part q of parameter pp: its rows and its heads (0 where the rules give none), evaluated
 * with pp's {layer} bound (Gemma 4's head dims differ by layer). CK_OK, or an error in err. */
int plan_part_dims(const plan *p, const plan_param *pp, int q, int64_t *rows, int64_t *heads, ck_err *err);

#endif
