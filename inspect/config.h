/* config.h - config.json of a Hugging Face model folder: the family, the dimensions later
 * stages need, and quantization_config summarized. Every top-level scalar and integer list is kept
 * by name,
 * so that rules can test any field without C code per model.
 * config_load fills a ck_config that owns all its strings and lists; the caller frees it with
 * config_free. A bad config.json is a finding (it is about the checkpoint), reported with -1. */
#ifndef CK_CONFIG_H
#define CK_CONFIG_H

#include <stdint.h>

#include "base/finding.h"

typedef enum { CFG_NULL, CFG_BOOL, CFG_NUMBER, CFG_STRING, CFG_LIST } cfg_kind;

typedef struct {
    char *name;         /* owned */
    cfg_kind kind;
    double num;         /* CFG_BOOL (0/1) and CFG_NUMBER */
    char *str;          /* owned, CFG_STRING */
    int64_t *list;      /* owned, CFG_LIST: an array of integers (e.g. mlp_only_layers) */
    char **strs;        /* owned, CFG_LIST of strings instead (layer_types): list is NULL */
    int n_list;
} cfg_field;

typedef struct {
    char method[32];     /* quant_method: "fp8", "compressed-tensors", "gptq", "awq", ... */
    char fmt[32];        /* fp8 "fmt" (e4m3) or compressed-tensors "format" (pack-quantized) */
    int block[2];        /* fp8 weight_block_size, 0 when absent */
    int bits;            /* weight bits (compressed-tensors group weights, gptq/awq bits) */
    char type[16];       /* "int" or "float" */
    int symmetric;       /* -1 unknown */
    char strategy[16];   /* tensor, channel, group, block (fp8: block with weight_block_size,
                          * else tensor) */
    int group_size;      /* 0 when absent; -1 means whole row (gptq -1) */
    int desc_act;        /* gptq actorder, -1 unknown */
    char activation[32]; /* activation scheme or input bits, "" unknown */
    int input_bits;      /* bits of quantized activations; 16 when they are not quantized */
    int static_input;    /* activations quantized with a stored input_scale (fp8 "static",
                          * compressed-tensors input_activations with dynamic false) */
    int n_ignore;        /* modules left unquantized ("ignore" / modules_to_not_convert) */
    char summary[256];   /* one line, e.g. "fp8 e4m3, 128x128 blocks, dynamic activations" */
} cfg_quant;

/* A scheme that applies to some modules only: a compressed-tensors config group (its "targets")
 * or a GPTQ "dynamic" rule ("+:REGEX" overrides bits, group_size, desc_act, sym; "-:REGEX" leaves
 * the module unquantized). */
typedef struct {
    cfg_quant q;         /* the scheme of the modules it targets */
    char *targets;       /* owned: one per line, "Linear" (any linear layer's class), a module
                          * name, or "re:" and a regular expression matched from the name's start */
    int skip;            /* GPTQ "-:": the modules it matches stay unquantized */
} cfg_qgroup;

typedef struct {
    int present;         /* config.json was found and parsed */
    int n_layer_types;   /* entries of the "layer_types" list, -1 when there is none */
    char *not_convert;   /* quantization_config's modules_to_not_convert (AWQ, GPTQ), ignore
                          * (compressed-tensors: names, or "re:" regular expressions) or
                          * ignored_layers (fp8, else its modules_to_not_convert), one per line,
                          * owned; NULL when absent or empty */
    const char *not_convert_key; /* the key of quantization_config it was read from, or the one
                          * the method reads first when none is given (static); NULL: no list */
    char *path;          /* owned */
    char *architectures; /* comma-joined, owned; "" when absent */
    char *model_type;    /* owned; "" when absent */
    char *torch_dtype;   /* owned; "" when absent */
    int has_quant;
    cfg_quant quant;     /* the whole config's scheme (compressed-tensors: its first group's) */
    cfg_qgroup *groups;  /* (n_groups) owned: compressed-tensors' config groups in file order, or
                          * GPTQ's dynamic rules; NULL when the scheme is the same everywhere */
    int n_groups;
    double rope_theta;   /* rope_theta at the top or in rope_parameters/rope_scaling; 10000 */
    char rope_type[32];  /* "default", "llama3", "yarn", ... */
    double rope_factor, rope_orig_max, rope_beta_fast, rope_beta_slow; /* yarn: 0 when absent */
    double rope_mscale, rope_mscale_all_dim, rope_attention_factor;    /* 0 when absent */
    double rope_low_freq_factor, rope_high_freq_factor;                /* llama3: 0 when absent */
    double rope_partial;  /* partial_rotary_factor (top level or in the rope object); 0 when absent */
    double rope_max_trained; /* dynamic: max_trained_positions; 0 when absent */
    double *rope_short, *rope_long; /* longrope: short_factor and long_factor, one per rotary pair;
                                     * owned, NULL when absent */
    int n_rope_short, n_rope_long;
    double rope_short_mscale, rope_long_mscale; /* longrope: 0 when absent */
    int rope_truncate;   /* yarn's "truncate" (default 1) */
    int has_rope_local;  /* sliding-window layers rotate by their own settings (Gemma 3's
                          * rope_local_base_freq, or rope_parameters.sliding_attention) */
    double rope_theta_local, rope_factor_local;
    char rope_type_local[32];
    cfg_field *fields;   /* (n_fields) top-level scalars in file order */
    int n_fields;
} ck_config;

/* Reads path. A missing file leaves cfg->present 0 and returns 0. Unreadable or invalid JSON
 * adds a "config.invalid" error finding naming the line and column, and returns -1; so do a
 * top level that is not an object and running out of memory. On -1 *cfg is zeroed. */
int config_load(const char *path, ck_config *cfg, ck_findings *f);
/* Frees what config_load allocated and leaves cfg zeroed; accepts NULL and a zeroed config. */
void config_free(ck_config *cfg);
/* The scheme of linear module `module` (vLLM's prefix, "model.layers.0.self_attn.qkv_proj") as
 * vLLM picks it: compressed-tensors' first target that is the name or a regular expression
 * matching it, else (a fused module, `parts` its components' names, NULL-terminated, or NULL)
 * the group of the first component when every component is named so, else a class-name target
 * ("Linear"), else none (NULL: unquantized); GPTQ's first dynamic rule matching it ("-:" gives
 * NULL), else the config's. The config's scheme when there are no groups; NULL without
 * quantization. Borrowed. */
const cfg_quant *config_scheme(const ck_config *cfg, const char *module, const char *const *parts);
/* The scheme of fused MoE experts: compressed-tensors' "Linear" group (vLLM's MoE methods read
 * that one), else the config's. */
const cfg_quant *config_scheme_experts(const ck_config *cfg);
/* Whether `name` is `target` or matches "re:REGEX" from its start (Python's syntax, the common
 * part: (?:...) groups, \d, \w, \s). */
int config_target_matches(const char *target, size_t len, const char *name);

/* Integer field by name: 1 and *v when present and a number (or a bool: 0/1), 0 when absent or
 * null, -1 when present with another type (*v untouched unless 1). The name is taken as given:
 * config_experts is the one that tries the aliases of the expert count. */
int config_int(const ck_config *cfg, const char *name, int64_t *v);
/* The field by name, or NULL. Borrowed: valid until config_free. */
const cfg_field *config_field(const ck_config *cfg, const char *name);
/* Number of routed experts under any of its names (n_routed_experts, num_experts,
 * num_local_experts); 0 for a dense model. */
int64_t config_experts(const ck_config *cfg);

#endif
