/* rules.h - rules files: how one loader maps a model family's checkpoint keys onto the
 * parameters it builds. A rules file is JSON (docs/rules.md); this module reads it with cJSON,
 * compiles its expressions and patterns, and reports a bad file with its name, line:column and
 * JSON path. Built-in rules (the JSON files in rules/builtin/) are compiled into the binary.
 *
 * Nothing here knows a model family: families are data.
 *
 * A loaded rules_file owns every string, pattern and expression in it: whoever calls rules_parse,
 * rules_load_file or rules_load_builtin calls rules_free. On error the loaders leave it zeroed. */
#ifndef CK_RULES_H
#define CK_RULES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/ckerr.h"
#include "rules/expr.h"
#include "rules/pattern.h"

#define RULES_VERSION 1
#define RULES_MAX_ENTRIES 4096 /* params, keys, skips, checks, asserts: each at most this many */

typedef enum {
    SHARD_REPLICATED = 0, /* every TP rank holds all of it */
    SHARD_COLUMN,         /* output dim (0) split over TP */
    SHARD_ROW,            /* input dim (1) split over TP */
    SHARD_VOCAB,          /* rows padded to a multiple of 64, then split over TP */
    SHARD_EXPERT,         /* dim 0 is experts: whole experts per rank under EP, else replicated;
                           * the per-expert dims are split as `expert_shard` says */
    SHARD_COUNT
} shard_kind;

/* How TP cuts inside each expert of a SHARD_EXPERT parameter without EP (its "expert_shard"). */
typedef enum {
    EXPERT_SHARD_NONE = 0, /* every rank holds each expert whole */
    EXPERT_SHARD_COLUMN,   /* rows (outputs) split, as w1/w3 of w13 */
    EXPERT_SHARD_ROW,      /* columns (inputs) split, as w2 */
    EXPERT_SHARD_FIRST     /* whole on TP rank 0, zeros on the others (gpt-oss's w2 bias) */
} expert_shard_kind;

typedef enum { STAGE_LAYER = 0, STAGE_FIRST, STAGE_LAST, STAGE_ALL, STAGE_EDGES } stage_kind;
/* STAGE_EDGES: the first and the last stage (a tied embedding lives on both). */

/* The most dims a shape in a rules file has (a vision tower's 5-D convolution: [out, in, t, h, w]);
 * an expert dim may go before them. */
#define RULES_MAX_DIMS 5

typedef struct {
    char *id;            /* "q", "w1", 0-based index as text, ... */
    expr *size;          /* rows of the fused parameter this part fills (before TP) */
    expr *heads;         /* attention heads in the part, or NULL: with fewer heads than TP ranks
                          * each rank holds one head, replicated (GQA key/value heads) */
} rules_part;

/* A parameter template: expands to one parameter per value of its range variables (and, for a
 * linear, per suffix). Names are as the loader's params_dict spells them. */
typedef struct {
    pattern name;        /* "layers.{layer}.self_attn.o_proj" (captures name range variables) */
    expr *when;          /* NULL: always */
    expr **shape;        /* (ndim) full, unsharded shape; for a linear: [out, in] */
    int ndim;
    int linear;          /* a linear layer: the name's {suffix} takes each suffix of the
                          * quantization variant (weight, weight_scale_inv, ...) */
    expr *experts;       /* a fused expert parameter: this many experts lead the shape */
    shard_kind shard;
    expert_shard_kind expert_shard; /* SHARD_EXPERT without EP: how TP cuts inside each expert */
    stage_kind stage;
    rules_part *parts;   /* (n_parts) fused parts in order, with their sizes */
    int n_parts;
    expr *tp_granule;    /* NULL, or the unit (of the split dim, unpacked) a rank's TP share is
                          * rounded up to: each rank takes ceil_div(size / unit, tp) units, the
                          * last ranks less (or nothing), the parameter padded with zeros (vLLM's
                          * MXFP4 experts of gpt-oss, cut in whole groups of 32) */
    int strict;          /* the loader's strict check (loader.strict) raises when no key fills it;
                          * default: not for a linear, an expert or a vocabulary parameter, whose
                          * modules vLLM exempts (their quant_method prepares them after loading) */
    int buffer;          /* a module's persistent buffer, not a parameter (Gemma 4's layer_scalar):
                          * loaded where the checkpoint has it, its default kept where not (no
                          * finding), and not among vLLM's named parameters (the oracle's list) */
    int line;            /* where it was written, for messages */
} rules_param;

/* A key rule: checkpoint keys matching `key` (as the loader sees them) go to `param`. */
typedef struct {
    pattern key;
    pattern param;       /* template over key's captures */
    expr *when;          /* NULL: always */
    char *part;          /* fused part id (the first of parts), or NULL */
    char **parts;        /* (n_parts) "parts": consecutive fused parts one tensor fills, laid one
                          * after the other (vLLM's tuple shard id: Qwen3.5's in_proj_qkv fills q,
                          * k and v of in_proj_qkvz); "part" alone: that one; NULL: none */
    int n_parts;
    int copies;          /* with parts: the tensor fills each of them whole, not one after the
                          * other (a WeightsMapper's list of shard ids: Gemma 4's k_proj loaded as
                          * both k and v of qkv_proj where attention_k_eq_v) */
    int expert_cap;      /* capture index of the expert id, or -1 */
    int pp_guard;        /* 1/0: this loader path does / does not skip parameters of layers
                          * other stages own; -1: as the loader's pp_guard */
    int pp_through;      /* where another stage owns the layer, the loader leaves this path and looks
                          * the key up under its own name: its error names the key (GraniteMoeHybrid's
                          * per-expert keys) */
    int dim;             /* -1, or the tensor dim a converter splits over TP (asserting it divides) */
    int transposed;      /* the tensor stores the parameter's last two dims swapped (gpt-oss's
                          * BF16 experts, input-major): the loader transposes it */
    expr *rotary_pairs;  /* NULL, or the head size over which the loader reorders the tensor's rows
                          * from interleaved rotary pairs (2i, 2i + 1) to halves (i, i + size / 2)
                          * as it loads (vLLM's Llama 4 permute_qk_weight_for_rotary) */
    int view;            /* the tensor has more dims than the parameter: the loader views its
                          * trailing dims as the parameter's last one (gpt-oss's MXFP4 blocks,
                          * [E, rows, groups, 16] bytes, as [E, rows, groups x 16]) */
    char *hazard;        /* a naming hazard this rule reproduces (a substring rename that mangles
                          * an already-fused name), said when its key fails; NULL otherwise */
    int line;
} rules_key;

/* An assertion the loader makes on the configuration and layout before reading keys, or (a
 * warning or a note) a configuration the model computes otherwise than config.json reads, or (a
 * refusal) a config.json vLLM cannot load at all (transformers' typed config classes). */
typedef struct {
    expr *cond;          /* must hold; tp_size and pp_size are names it may use */
    char *error;         /* the text: the loader's error, or the warning's, note's or refusal's */
    int severity;        /* RULES_REFUSED: "refused" (before any rank starts); otherwise a
                          * ck_severity: "error" (the loader stops), "warning" or "note" (it loads) */
    int line;
} rules_assert;
#define RULES_REFUSED 3  /* rules_assert.severity of a refusal, above every ck_severity */

/* What building one pipeline stage's model needs: a parameter of the template named `param` on
 * that stage (vLLM's MoE models look for one MoE layer among the stage's layers and raise
 * `error` when there is none). */
typedef struct {
    char *param;         /* a params[] name, as written ("layers.{layer}.mlp.gate.weight"), or NULL
                          * for an assertion */
    expr *cond;          /* an assertion the model's construction makes on the config and the
                          * layout (tp_size, pp_size, and the stage's pp_rank and start_layer):
                          * a stage that makes it fails to build where it is false there */
    int model;           /* the assertion is the model's own (made on every stage), not a decoder
                          * layer's (made only on stages that build a layer) */
    expr *when;          /* NULL: always */
    char *error;         /* the exception text, "RuntimeError: No Glm4MoE layer found in model.layers." */
    int line;
} rules_stage_req;

typedef struct {
    pattern key;
    expr *when;
    char *reason;
    int inner;           /* "inner": true: the stripped model's loader skips it, so a key without
                          * strip_prefix, which the model above looks up, is not skipped */
    int line;
} rules_skip;

typedef struct {
    char *suffix;        /* "weight", "weight_scale_inv", "weight_packed" */
    expr **shape;        /* (ndim) over `out` and `in`; NULL shape: as the linear */
    int ndim;
    char *dtype;         /* expected dtype, or NULL for any */
    expr *when;          /* NULL: always; else the suffix exists only where it holds on the
                          * config (quant_symmetric, ...) */
    int per_part;        /* "per_part": one value per fused part (FP8 per-tensor scales): shape
                          * [parts] on a linear, [E, parts] on fused experts, [E] on unfused ones */
} rules_suffix;

typedef struct {
    char *method;        /* quantization_config.quant_method, or "none" */
    rules_suffix *suffixes;
    int n_suffixes;
    int shared;          /* the suffixes are another variant's (this one was written as its
                          * name: "modelopt::tensor": "fp8::tensor"), freed with that one */
    int experts_only;    /* the method quantizes the MoE experts alone: every other linear is
                          * built unquantized, a plain weight (vLLM's Mxfp4Config) */
} rules_quant;

/* A check the model runs after loading (vLLM's process_weights_after_loading): a module must
 * have a parameter with one of these suffixes, else the loader raises `error`. */
typedef struct {
    pattern module;      /* "layers.{layer}.self_attn.kv_b_proj" */
    expr *when;
    char **has_one_of;   /* (n_has) suffixes, e.g. weight, qweight, weight_packed */
    int n_has;
    char *error;         /* with {in}, {out} (per rank), {tp}, {layer} */
    int line;
} rules_check;

typedef struct {
    char *name;
    expr *value;
} rules_let;

/* How check's forward pass computes the model: each an expression over config.json and the
 * lets, NULL when the rules do not say (a dense decoder with grouped-query attention). */
typedef enum {
    FWD_ATTENTION,       /* "gqa" (default) or "mla" (multi-head latent attention, yarn allowed) */
    FWD_EXPERTS,         /* routed experts per MoE layer (0: dense) */
    FWD_TOPK,            /* experts each token takes */
    FWD_ROUTER,          /* "softmax" (top-k of the softmax) or "grouped_sigmoid" (DeepSeek-V3:
                          * sigmoid scores, e_score_correction_bias for the choice, groups) or
                          * "sigmoid_input" (Llama 4: top-k of the logits, each expert's input
                          * times the sigmoid of its logit, its output added as it is) */
    FWD_RENORM,          /* the chosen weights renormalized to sum 1 */
    FWD_GROUPS,          /* grouped_sigmoid: expert groups, and how many of them are chosen */
    FWD_TOPK_GROUPS,
    FWD_MOE,             /* the module holding gate and experts: "mlp" or "block_sparse_moe" */
    FWD_SHARED,          /* shared experts: "gated" (MOE.shared_expert + shared_expert_gate),
                          * "ungated" (MOE.shared_experts), "plain" (MOE.shared_expert without a
                          * gate: Llama 4), "none" (default) */
    FWD_NORM_OFFSET,     /* added to every RMSNorm weight before it scales (Gemma's 1 + w; 0) */
    FWD_BLOCK,           /* "pre" (default: x += attn(norm(x)), x += mlp(norm(x))), "sandwich"
                          * (Gemma 2/3: each block's output normed again before it is added) or
                          * "parallel" (Cohere: x += attn(norm(x)) + mlp(norm(x)), one norm) or
                          * "post" (OLMo 2: x += norm(attn(x)), x += norm(mlp(x))) */
    FWD_ACT,             /* the gated MLP's activation as config.json names it: "silu" (default)
                          * "gelu_pytorch_tanh" or "gelu" (exact); "swigluoai" (gpt-oss: gate and up
                          * interleaved, clamped at 7, (up + 1) * gate * sigmoid(1.702 gate));
                          * "relu2" */
    FWD_EMBED_SCALE,     /* "none" (default) or "sqrt_hidden": embeddings times sqrt(hidden_size) */
    FWD_ATTN_SCALE_DIM,  /* attention scores times this^-1/2 (default head_dim; Gemma:
                          * query_pre_attn_scalar) */
    FWD_ATTN_SOFTCAP,    /* the config field holding the attention scores' soft cap ("" none) */
    FWD_FINAL_SOFTCAP,   /* the config field holding the logits' soft cap ("" none) */
    FWD_WINDOW,          /* sliding window in tokens (0: none) */
    FWD_SLIDING,         /* whether decoder layer `layer` uses the window (default: all) */
    FWD_EMBED_MULT,      /* the config field multiplying the embeddings (Granite's
                          * embedding_multiplier; "" none) */
    FWD_RESIDUAL_MULT,   /* the config field multiplying each block's output before it is added
                          * (Granite's residual_multiplier) */
    FWD_ATTN_SCALE,      /* the config field holding the attention scores' scale itself
                          * (Granite's attention_multiplier; overrides attn_scale_dim) */
    FWD_LOGIT_SCALE,     /* the config field multiplying the logits (Cohere's logit_scale) */
    FWD_LOGIT_DIVISOR,   /* the config field dividing the logits (Granite's logits_scaling) */
    FWD_NORM,            /* "rms" (default) or "layernorm" (mean subtracted first, weight, no bias:
                          * Cohere's) */
    FWD_ROPE_STYLE,      /* "neox" (default: pairs (i, i + d/2)) or "interleaved" (pairs (2i, 2i+1)) */
    FWD_ROPE_LAYERS,     /* whether decoder layer `layer` rotates q and k at all (default: all;
                          * Cohere 2's global layers do not) */
    FWD_GATE,            /* the router's module under "moe": "gate" (default) or gpt-oss's
                          * "router"; its bias is added to the logits where the model has one */
    FWD_ATTN_MODULE,     /* the attention's module: "self_attn" (default) or gpt-oss's "attn" */
    FWD_EMBEDDING,       /* the embedding parameter: "embed_tokens.weight" (default) or gpt-oss's
                          * "embedding.weight" */
    FWD_QK_NORM,         /* q_norm and k_norm: "head" (default: each head normed, one weight for
                          * all, Qwen3) or "whole" (the whole q and k projections, their weights
                          * whole on every rank: OLMo 2) or "l2_after_rope" (each head of q and
                          * k RMS-normed without a weight after the rotary, on the layers that
                          * rotate: Llama 4's use_qk_norm) or "whole_tp" (the whole projections
                          * as "whole", each rank holding its slice of the weights, k's cut by
                          * key-value head where TP replicates them: MiniMax-M2) */
    FWD_MLP,             /* "gated" (default: act(gate) * up over the fused gate_up_proj) or
                          * "plain" (act(up), StarCoder2's c_fc -> c_proj, biases where stored) */
    FWD_MLP_IN,          /* the MLP's input and output modules: "gate_up_proj" and "down_proj"
                          * (default), StarCoder2's "c_fc" and "c_proj" */
    FWD_MLP_OUT,
    FWD_NORM_EPS,        /* the config field holding the norms' epsilon where it is neither
                          * rms_norm_eps nor layer_norm_eps (StarCoder2's norm_epsilon) */
    FWD_RESIDUAL_DEPTH,  /* the config field that, over sqrt(num_hidden_layers), multiplies each
                          * block's output before it is added (MiniCPM's scale_depth) */
    FWD_LOGIT_WIDTH,     /* the config field the hidden size is divided by to give the divisor of
                          * the final hidden state (MiniCPM's dim_model_base: hidden / it) */
    FWD_MLP_MODULE,      /* the dense MLP's module: "mlp" (default), Llama 4's "feed_forward" */
    FWD_MLP_INTER,       /* the config field holding the dense MLP's intermediate size where it is
                          * not intermediate_size (Llama 4's intermediate_size_mlp; the experts
                          * keep intermediate_size) */
    FWD_CHUNK,           /* chunked attention: a token sees the earlier tokens of its own chunk of
                          * this many (Llama 4's attention_chunk_size; 0: none) */
    FWD_CHUNKED,         /* whether decoder layer `layer` attends in chunks (default: all) */
    FWD_TEMP_FLOOR,      /* the position from which attention temperature tuning changes the
                          * scores on the layers without rotary (Llama 4's floor_scale; 0: none):
                          * check refuses that many tokens */
    FWD_ROTARY_DIM,      /* the rotary dims of a head where the config gives no
                          * partial_rotary_factor (MiniMax-M2's rotary_dim; default head_dim) */
    FWD_CORR_BIAS,       /* grouped_sigmoid: the correction bias the choice adds, its name under the
                          * moe module (default "GATE.e_score_correction_bias"; MiniMax-M2's
                          * "e_score_correction_bias" where use_routing_bias; "": none) */
    FWD_POST_ATTN_NORM,  /* the norms' modules: after the attention (sandwich and post blocks:
                          * "post_attention_layernorm"), before the MLP (pre and sandwich blocks:
                          * "post_attention_layernorm", "pre_feedforward_layernorm"), after the MLP
                          * ("post_feedforward_layernorm"); GLM-4's post_self_attn_layernorm,
                          * post_attention_layernorm, post_mlp_layernorm */
    FWD_PRE_MLP_NORM,
    FWD_POST_MLP_NORM,
    FWD_SLIDING_ROPE,    /* "default": where config.json gives the sliding layers no rotary of their
                          * own, they rotate by plain rotary at rope_theta, the global layers by the
                          * config's scaling (OLMo 3's legacy top-level rope_scaling, which
                          * transformers applies to full_attention only); "" (default): as the
                          * global layers */
    FWD_DELTANET_LAYOUT, /* gated_deltanet: how a rank's in_proj_qkvz and in_proj_ba lay out their
                          * parts: "interleaved" (default: q, k, v, z and b, a of each key-head
                          * group together, Qwen3-Next) or "flat" ([q | k | v | z], [b | a]: Qwen3.5) */
    FWD_REFUSE,          /* a config this version does not compute: a non-empty string is why, and
                          * check refuses with it rather than compute something else ("": computes) */
    FWD_HEAD_DIM,        /* per layer: its heads' width where layers differ (Gemma 4's full-attention
                          * layers; default head_dim) */
    FWD_KV_HEADS,        /* per layer: its key-value heads (default num_key_value_heads) */
    FWD_V_NORM,          /* each value head RMS-normed without a weight before the attention (Gemma 4) */
    FWD_KV_SOURCE,       /* per layer: the earlier layer whose keys and values it reads, or -1 (its own:
                          * the default); such a layer holds q_proj alone (Gemma 4's KV sharing) */
    FWD_EXPERTS_BESIDE,  /* the routed experts run beside the dense MLP, not in place of it (Gemma 4:
                          * post_feedforward_layernorm_1 of the MLP's output plus
                          * post_feedforward_layernorm_2 of the experts', whose input is
                          * pre_feedforward_layernorm_2 of the stream, then the block's own norm) */
    FWD_PER_LAYER_INPUT, /* the width of the per-layer inputs (Gemma 4's hidden_size_per_layer_input;
                          * 0: none) */
    FWD_LAYER_SCALAR,    /* the parameter under each layer the layer's output is multiplied by
                          * ("layer_scalar"; "": none) */
    FWD_ROUTED_SCALE,    /* the config field scaling the routed experts' weights
                          * ("routed_scaling_factor", the default; Hunyuan's router_scaling_factor) */
    FWD_SHARED_MODULE,   /* the shared experts' module under "moe" (default: "shared_experts" where
                          * "shared" is "ungated", else "shared_expert"; Hunyuan's "shared_mlp") */
    FWD_ATTN_GATE,       /* the module under the attention whose sigmoid gates the attention's output
                          * before o_proj, column-parallel by heads (AFMoE's "gate_proj"; "": none) */
    FWD_V_HEAD_DIM,      /* per layer: its value heads' width where it is not the queries' and keys'
                          * (MiMo-V2-Flash's v_head_dim; default the layer's head_dim) */
    FWD_V_SCALE,         /* the config field multiplying the values before the attention
                          * (MiMo-V2-Flash's attention_value_scale; "": none) */
    FWD_SINKS,           /* the attention's sink logits, a parameter under the attention module
                          * ("sinks", gpt-oss's; MiMo-V2-Flash's "attention_sink_bias") */
    FWD_SLIDING_THETA,   /* the config field holding the sliding layers' rotary base (MiMo-V2-Flash's
                          * swa_rope_theta; "": the sliding layers' own rotary, else the model's) */
    FWD_LAYER_KIND,      /* per layer: the one mixer it runs after its input norm (Nemotron-H:
                          * "mamba2", "attention", "mlp" or "moe"); absent: attention then the MLP */
    FWD_INPUT_NORM,      /* the module of a layer's input norm ("input_layernorm"; Nemotron-H's "norm") */
    FWD_FINAL_NORM,      /* the final norm's parameter ("norm.weight"; Nemotron-H's "norm_f.weight") */
    FWD_SSM_HEADS,       /* a Mamba2 mixer's heads, their width, its groups (of B and C), its state */
    FWD_SSM_HEAD_DIM,    /* size and its causal convolution's kernel (Nemotron-H's mamba_num_heads, */
    FWD_SSM_GROUPS,      /* mamba_head_dim, n_groups, ssm_state_size, conv_kernel) */
    FWD_SSM_STATE,
    FWD_SSM_CONV,
    FWD_LAYER_MLP,       /* per layer: whether the MLP block follows the mixer layer_kind names, after
                          * post_attention_layernorm, as in a decoder layer (GraniteMoeHybrid; false:
                          * the mixer is the whole layer, Nemotron-H) */
    FWD_SSM_MODULE,      /* the Mamba2 mixer's module under a layer (default attn_module; GraniteMoeHybrid's
                          * "mamba") */
    FWD_LATENT,          /* the routed experts' width where fc1_latent_proj and fc2_latent_proj (under
                          * "moe") take the stream down to it and back (Nemotron-H's moe_latent_size);
                          * absent, null or 0: the hidden size, no projections */
    FWD_O_PROJ,          /* the attention's output projection under attn_module (default "o_proj"; LFM2's
                          * "out_proj") */
    FWD_Q_NORM,          /* the attention's q and k norms under attn_module (default "q_norm" and */
    FWD_K_NORM,          /* "k_norm"; LFM2's "q_layernorm" and "k_layernorm") */
    FWD_MOE_AVERAGE,     /* whether a sparse layer's output, the routed experts' plus the shared ones', is
                          * halved (Cohere 2 MoE's shared_expert_combination_strategy "average") */
    FWD_COUNT
} rules_fwd;

/* The field name of a forward entry ("router"). */
const char *rules_forward_name(int which);

typedef struct {
    char *name;          /* range variable ("layer") */
    expr *lo, *hi;       /* [lo, hi) */
} rules_range;

typedef struct {
    char *path;          /* the file, or "builtin:NAME" */
    char *name;          /* "deepseek_v3" */
    char *description;
    char *loader;        /* the loader simulated, for messages ("vLLM DeepseekV2Model.load_weights") */
    char *loader_version;/* loader.version: the release whose behaviour the file models ("vLLM
                          * 0.32.0"), NULL when the file does not say */
    char *strip_prefix;  /* removed from checkpoint keys before matching ("model."), or "" */
    char **old_from;     /* loader.old_names: parts of parameter names earlier releases of the
                          * loader used (".experts.w13_") and what this one uses in their place
                          * (".experts.routed_experts.w13_"), so explain understands an old
                          * traceback's name; (n_old_names) */
    char **old_to;
    int n_old_names;
    char *error_format;  /* how a missing parameter is raised: "KeyError: '{param}'"; {module} is
                          * the second-to-last part of the name the loader sees; vLLM's
                          * AutoWeightsLoader walks modules instead: {missing} is the first prefix
                          * of the name that is no module or parameter of the stage's model,
                          * {owner} the module above it, {owner_params} that module's parameters
                          * as a Python set, {owner_class} and {model_class} from classes */
    pattern *class_pat;  /* loader.classes: module paths (names as the loader sees them, "" the
                          * model itself) and the expression of their class name, for the
                          * {owner_class} and {model_class} of error_format; (n_classes) */
    expr **class_expr;
    int n_classes;
    char *outer_class;   /* loader.outer: the class of the model above strip_prefix (vLLM's
                          * *ForCausalLM), which names the error for a key without the prefix;
                          * NULL when the rules do not say or give it by an expression */
    expr *outer_class_expr; /* loader.outer.class as an expression of the configuration (one
                          * rules file for several architectures), or NULL */
    char **outer_modules;/* its modules beside the stripped one ("lm_head"), whose parameters keep
                          * their names there; (n_outer_modules) */
    int n_outer_modules;
    char **outer_maps;   /* loader.outer.maps: modules of the stripped model that the outer model's
                          * loader also takes without the prefix, where outer_maps_when holds
                          * (MistralForCausalLM's consolidated names: layers, norm); (n_outer_maps) */
    int n_outer_maps;
    expr *outer_maps_when;
    char *outer_error;   /* loader.outer.error: how the outer model raises for a key it has no
                          * module for, where error_format is the stripped model's own loader's
                          * (DeepSeek's KeyError); NULL: error_format */
    int outer_top;       /* loader.outer.top: the loader walks every key from the outer model
                          * (vLLM's Transformers backend: AutoWeightsLoader over
                          * TransformersForCausalLM), so its errors name keys and parameters with
                          * strip_prefix and the model as the outer class */
    char **also_strip;   /* loader.also_strip: other prefixes a checkpoint may put before the names
                          * the loader sees, tried before strip_prefix under the wrapper ("model.language_model.",
                          * transformers 4.52-4.57's vision-language checkpoints); (n_also_strip) */
    int n_also_strip;
    char **outer_strip;  /* loader.outer.also_strip: prefixes the model above's own WeightsMapper
                          * maps to strip_prefix where no wrapper holds the model
                          * (Qwen3_5ForCausalLM's "model.language_model."); (n_outer_strip) */
    int n_outer_strip;
    char *wrapper_prefix;/* loader.wrapper: where the configuration says so (wrapper_when, NULL:
                          * always), the model sits under this module of a wrapper ("language_model."
                          * of a vision-language model): vLLM's full names of its parameters start
                          * with it; NULL when the rules do not say */
    expr *wrapper_when;
    expr *wrapper_class; /* loader.wrapper.class: an expression of the wrapper's class (vLLM's
                          * Gemma3ForConditionalGeneration), which names the error for a key of
                          * its own modules; NULL when the rules do not say */
    char **wrapper_modules;/* loader.wrapper.modules: the wrapper's modules beside the model
                          * ("vision_tower"): their parameters, written in params under these
                          * names, are named so by vLLM, without the wrapper's prefix or
                          * strip_prefix; (n_wrapper_modules) */
    int n_wrapper_modules;
    char **wrapper_keeps;/* loader.wrapper.keeps: the model's modules that the wrapper's
                          * WeightsMapper sends on under their own names ("lm_head":
                          * lm_head. -> language_model.lm_head.); (n_wrapper_keeps) */
    int n_wrapper_keeps;
    char *wrapper_error; /* loader.wrapper.error: the text of a key the wrapper itself looks up
                          * (its AutoWeightsLoader's), as loader.error; NULL: loader.error */
    int wrapper_strip_modules_only; /* loader.wrapper.strip_modules_only: under the wrapper,
                          * strip_prefix comes off only before one of its modules (its
                          * WeightsMapper maps model.visual. but not model.): a key model.* of the
                          * decoder is then looked up from the wrapper, which has no module model */
    int pp_guard;        /* the loader skips parameters of layers other stages own */
    int supports_pp;     /* loader.supports_pp: 0 for a model class without vLLM's SupportsPP, whose
                          * layouts with PP > 1 vLLM refuses before any rank starts */
    int drops_bias;      /* loader.drops_bias: a stored bias of a linear built without one is skipped
                          * (AutoWeightsLoader's and most load_weights' .bias check); 0: looked up,
                          * the loader's error (GraniteMoeHybridModel.load_weights) */
    expr *config_experts; /* loader.config_experts: the experts vLLM's layout check counts on the
                          * config object (its class's defaults where config.json has none);
                          * NULL: those config.json names (num_experts, n_routed_experts, ...) */
    expr *strict_when;   /* loader.strict: after the last key, the loader raises strict_error when
                          * a parameter whose template is strict was filled by no key (vLLM's
                          * track_weights_loading, on unquantized models); NULL when is always */
    char *strict_error;  /* the text, {params} the full names as a Python set; NULL: no check */
    int strict_line;
    int drops_unknown;   /* 1: a key under strip_prefix the loader has no parameter for is skipped
                          * without a word (MiMo-V2's load_weights), keys outside it still raise */
    int raises;          /* 0: the loader warns about unused keys and leaves missing parameters
                          * newly initialized instead of raising (transformers) */
    int builds_model;    /* 0: a converter that renames and shards keys without building a model
                          * (DeepSeek's convert.py): a key no rule takes is the error, and there
                          * are no parameters to fill */
    char **model_types;  /* (n_model_types) config.json model_type values this file is for */
    int n_model_types;
    char **architectures;
    int n_architectures;
    pattern notice;      /* loader.notice: a line the loader logs that is not a failure
                          * ("{param:any} not in state_dict, loading {file:any}") */
    int has_notice;
    char *notice_reason; /* why that line is harmless, for explain */
    int auto_choose;     /* match.auto: chosen from config.json (1), or only when named (0: other
                          * loaders' naming for a family another file already covers) */
    char *family;        /* match.family: what the keys look like, for the wrong-family finding */
    pattern *family_keys;/* match.keys: patterns (on unstripped keys) that all occur in a
                          * checkpoint of this family; the most specific full match names it */
    int n_family_keys;
    rules_let *lets;
    int n_lets;
    expr *forward[FWD_COUNT]; /* "forward": see rules_fwd */
    int forward_line[FWD_COUNT];
    rules_range *ranges;
    int n_ranges;
    rules_param *params;
    int n_params;
    rules_key *keys;
    int n_keys;
    rules_skip *skips;
    int n_skips;
    rules_quant *quants;
    int n_quants;
    rules_check *checks;
    int n_checks;
    rules_assert *asserts;
    int n_asserts;
    rules_stage_req *stage_reqs; /* "stage_requires" */
    int n_stage_reqs;
} rules_file;

/* Parses a rules file from text (len bytes); path names it in errors. Returns CK_OK, or
 * CK_EFORMAT with err->path, err->line, err->col and err->key (the JSON path, "$.params[3].shape")
 * filled (line and col when the place can be found). Running out of memory while reading an entry
 * is reported the same way (CK_EFORMAT, "out of memory"); CK_ENOMEM comes only from a failure that
 * recorded nothing else (the copy of path). text is not kept. On error *r is zeroed; err must not
 * be NULL. */
int rules_parse(const char *text, size_t len, const char *path, rules_file *r, ck_err *err);
/* Reads and parses a file: as rules_parse, plus CK_EIO when it cannot be opened and CK_ENOMEM for
 * the read buffer. A file over 16 MiB is CK_EFORMAT; a read that fails part way is not told apart
 * from the end of the file (the bytes read are parsed). */
int rules_load_file(const char *path, rules_file *r, ck_err *err);
/* A built-in rules file by name ("deepseek_v3"); CK_EUSAGE when there is none. */
int rules_load_builtin(const char *name, rules_file *r, ck_err *err);
/* Frees everything r holds and leaves it zeroed; accepts NULL and a zeroed rules_file. */
void rules_free(rules_file *r);

/* The built-in rules: names and their JSON text (static, never freed; NULL for i out of range;
 * len must not be NULL). */
size_t rules_builtin_count(void);
const char *rules_builtin_name(size_t i);
const char *rules_builtin_text(size_t i, size_t *len);

/* "replicated", "column", ... (static); "?" out of range, as rules_forward_name. */
const char *shard_kind_name(shard_kind k);
/* The index of fused part `id` of t, or -1 (id NULL, or no such part). */
int rules_part_index(const rules_param *t, const char *id);
/* The index of the first fused part of t that key rule k fills, or -1: k names no part, or a
 * part t does not list, or parts that are not consecutive in t. */
int rules_key_part_index(const rules_param *t, const rules_key *k);
/* The fused parts key rule k fills, in words ("part q", "parts q, k and v"), in buf; "" when
 * none. */
const char *rules_key_parts_text(const rules_key *k, char *buf, size_t size);

/* Whether name (len bytes) is one of the modules mods[0 .. n) (loader.wrapper.modules and the
 * like) or a name under one. */
static inline int under_module(const char *name, size_t len, char *const *mods, int n)
{
    for (int i = 0; i < n; i++) {
        size_t l = strlen(mods[i]);
        if (len >= l && memcmp(name, mods[i], l) == 0 && (len == l || name[l] == '.'))
            return 1;
    }
    return 0;
}
/* How many consecutive fused parts, from its first, a tensor key rule k maps fills: 1 for one
 * part (or none), more for its "parts". */
static inline int rules_key_span(const rules_key *k)
{
    return k->n_parts > 1 ? k->n_parts : 1;
}

#endif
