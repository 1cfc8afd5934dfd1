/* forward.h - a forward pass over loaded ranks, as the ranks would run it: tensor-parallel
 * partial results combined as vLLM combines them (the vocabulary-parallel embedding and the
 * row-parallel o_proj/down_proj summed, the vocabulary-parallel lm_head gathered), pipeline
 * stages chained. Llama/Qwen2-style decoders (vLLM's parameter names: qkv_proj with optional
 * bias, optional q_norm/k_norm, gate_up_proj, down_proj, RMSNorm, rotary embedding) and the
 * experts of Mixtral and Qwen2/Qwen3-MoE (softmax router, top-k, renormalized when the model
 * says so, Qwen2-MoE's shared expert with its sigmoid gate; experts split over TP or placed whole
 * under EP; a layer without experts runs the dense MLP), and DeepSeek-V2-style multi-head latent
 * attention with its MoE (softmax scores, greedy top-k, routed_scaling_factor, shared experts,
 * dense layers first), Gemma 2's sandwich norms, (1 + w) RMSNorm, GeGLU, scaled embeddings,
 * soft-capped scores and logits and sliding windows, gpt-oss's attention sinks, router and expert
 * biases and clamped SwiGLU, fp32, with the C reference on the CPU or with CUDA (dense_dims.device).
 * Which of these a model uses is read from its rules' "forward" section (docs/rules.md), never
 * from its model_type. */
#ifndef CK_FORWARD_PASS_H
#define CK_FORWARD_PASS_H

#include "loader/comm.h"
#include "loader/load.h"

typedef struct {
    int64_t hidden, heads, kv_heads, head_dim, inter, vocab, layers;
    double eps, theta;
    int tied;
    int64_t experts, topk;   /* routed experts, 0 for a dense model */
    int renorm;              /* the top-k weights renormalized (Mixtral; norm_topk_prob) */
    char moe[32];            /* the sparse block's module: "block_sparse_moe" (Mixtral) or "mlp" (Qwen-MoE) */
    char gate[32];           /* the router's module under moe: "gate", or gpt-oss's "router" (its
                              * bias, where the model has one, added to the logits) */
    char attn_mod[32];       /* the attention's module: "self_attn", or gpt-oss's "attn" */
    char o_proj[32];         /* its output projection ("o_proj"; LFM2's "out_proj") */
    char q_norm[32], k_norm[32]; /* its q and k norms ("q_norm", "k_norm"; LFM2's "q_layernorm", ...) */
    int moe_average;         /* a sparse layer's routed plus shared output halved (Cohere 2 MoE) */
    char embedding[64];      /* the embedding parameter: "embed_tokens.weight", gpt-oss's
                              * "embedding.weight" */
    double rscale;           /* routed_scaling_factor (DeepSeek), 1 elsewhere */
    /* DeepSeek-V2/V3 multi-head latent attention (mla = 1): q_lora 0 means a plain q_proj */
    int mla;
    int64_t q_lora, kv_lora, qk_nope, qk_rope, v_head;
    int64_t index_topk;      /* GLM-5 / V3.2 sparse attention: up to this many tokens it keeps all */
    int noaux;               /* DeepSeek-V3 routing: sigmoid scores, e_score_correction_bias for the
                              * choice only, the best topk_group of n_group groups (top-2 sums) */
    int64_t n_group, topk_group;
    int softmax_bias;        /* ERNIE 4.5 routing: softmax scores, e_score_correction_bias added for
                              * the choice only, the softmax of the chosen as their weights */
    int grouped_softmax;     /* DeepSeek-V2's group_limited_greedy: softmax scores, the top-k among
                              * the topk_group groups whose best expert scores highest */
    int shared_ungated;      /* shared experts under MOE.shared_experts, added as they are (DeepSeek, GLM) */
    int shared_plain;        /* one shared expert under MOE.shared_expert without a gate (Llama 4) */
    int shared_mlp;          /* the layer's dense MLP (mlp_module) beside the experts, added as it is
                              * (GraniteMoeHybrid's shared_mlp) */
    char shared_mod[48];     /* the shared experts' module under MOE (shared_experts, shared_expert,
                              * Hunyuan's shared_mlp) */
    int router_input;        /* top-k of the logits, each expert's input times the sigmoid of its
                              * logit (Llama 4) */
    int qk_l2;               /* q and k heads RMS-normed without a weight after the rotary, on the
                              * layers that rotate (Llama 4) */
    int64_t chunk;           /* chunked attention's chunk on the layers the rules' "chunked" names, 0: none */
    char mlp_mod[32];        /* the dense MLP's module: "mlp", Llama 4's "feed_forward" */
    int64_t mlp_inter;       /* the dense MLP's intermediate size (Llama 4's intermediate_size_mlp;
                              * intermediate_size elsewhere) */
    int deltanet;            /* Qwen3-Next (attention "gated_deltanet"): layers holding linear_attn run
                              * the gated DeltaNet; the others a gated attention (attn_gate) */
    char gate_mod[48];       /* the attention's own gate module (AFMoE's gate_proj): its sigmoid times the
                              * attention's output, as attn_gate's; "" none */
    int attn_gate;           /* q_proj carries a gate beside each query head: the attention's output
                              * times its sigmoid before o_proj (Qwen3-Next) */
    int64_t lin_kh, lin_vh, lin_kd, lin_vd, lin_conv; /* the DeltaNet's key and value heads, their
                              * widths, and its causal convolution's kernel */
    int lin_flat;            /* a rank's in_proj_qkvz is [q | k | v | z] and in_proj_ba [b | a]
                              * (Qwen3.5), not interleaved by key-head group (Qwen3-Next) */
    double temp_floor;       /* the rules' attn_temperature_floor: the position from which Llama 4's
                              * temperature tuning changes the scores of its layers without rotary
                              * (floor_scale); 0: none */
    int64_t rot;             /* rotary dims of a head (partial_rotary_factor, else the rules'
                              * rotary_dim), head_dim otherwise */
    int64_t max_len;         /* the deployment's max_model_len (plan_layout), 0: vLLM's default */
    /* what Gemma-style decoders change (rules "forward": norm_offset, block, act, embed_scale,
     * attn_scale_dim, attn_softcap, final_softcap, window, sliding) */
    double norm_off;         /* added to every RMSNorm weight (Gemma: 1) */
    int sandwich;            /* each block's output normed (post_attention_layernorm,
                              * post_feedforward_layernorm) before it is added; the MLP's input
                              * normed by pre_feedforward_layernorm */
    int act;                 /* fwd_act of the gated MLP */
    double embed_scale;      /* embeddings times this (1, or sqrt(hidden_size)) */
    double attn_scale;       /* attention scores times this (0: 1/sqrt(head_dim)) */
    double attn_softcap, final_softcap; /* 0: none */
    int64_t window;          /* sliding window of the layers the rules' "sliding" names, 0: none */
    double residual_mult;    /* each block's output times this before it is added (Granite; 1) */
    int parallel;            /* attention and MLP both read norm(x) and add to x (Cohere) */
    int post;                /* no norm before the blocks, each block's output normed
                              * (post_attention_layernorm, post_feedforward_layernorm) before it
                              * is added (OLMo 2) */
    int qk_whole;            /* q_norm and k_norm over the whole q and k projections, summed over
                              * the ranks (OLMo 2), not over each head */
    int slide_plain;         /* sliding layers without their own rotary rotate by plain rotary */
    char corr_bias[64];      /* grouped_sigmoid: the correction bias added to the scores it chooses by,
                              * its name under moe ("gate.e_score_correction_bias"; "": none) */
    int qk_tp;               /* ... with each rank's slice of the weights (MiniMax-M2: "whole_tp") */
    int plain_mlp;           /* act(mlp_in(x)) then mlp_out, no gate (StarCoder2) */
    char mlp_in[32], mlp_out[32]; /* the MLP's modules: gate_up_proj and down_proj, or c_fc and c_proj */
    char n_post_attn[96], n_pre_mlp[96], n_post_mlp[96]; /* the block's norms, "layers.%lld.NAME.weight" */
    char n_input[96];        /* a layer's input norm, "layers.%lld.NAME.weight" */
    char final_norm[64];     /* the final norm's parameter ("norm.weight") */
    int kinds;               /* each layer runs the one mixer forward.layer_kind names (Nemotron-H) */
    char ssm_mod[32];        /* the Mamba2 mixer's module ("mixer"; GraniteMoeHybrid's "mamba") */
    int64_t latent;          /* the routed experts' width behind fc1/fc2_latent_proj (Nemotron-H's
                              * latent MoE); 0: the hidden size */
    int64_t ssm_heads, ssm_hd, ssm_groups, ssm_state, ssm_conv; /* a Mamba2 mixer's sizes */
    int layernorm;           /* norms subtract the mean first (Cohere's LayerNorm, no bias) */
    int interleaved;         /* rotary pairs (2i, 2i+1), as GPT-J and Cohere rotate */
    double logit_mult;       /* the logits times this after any soft cap (Cohere's logit_scale,
                              * 1 / Granite's logits_scaling; 1) */
    int device;              /* run the operations with CUDA (cuBLAS products) on device-resident
                              * (managed) memory: the ranks must have been loaded onto the device */
    ck_err *dev_err;         /* set by forward_dense/forward_layer for the pass: its first device
                              * error, returned when the pass ends (the caller leaves it NULL) */
    const fwd_comm *comm;    /* one process per rank: this process holds ranks[comm->rank] only,
                              * TP partial sums and the lm_head's columns are gathered in its
                              * stage's group, the stream passed from stage to stage; NULL: this
                              * process holds every rank */
    int prop;                /* proportional rotary on the layers without a window (Gemma 4's full
                              * attention): every pair of the head (i, i + head_dim / 2), the first
                              * partial_rotary_factor of them turning by theta^(-2i / head_dim), the
                              * others not at all */
    int per_layer_dims;      /* head_dim and key-value heads per layer (the rules' head_dim, kv_heads) */
    int v_norm;              /* each value head RMS-normed, no weight */
    int kv_share;            /* some layers read an earlier layer's keys and values (kv_source) */
    int experts_beside;      /* routed experts beside the dense MLP (Gemma 4), router "gemma4": its input
                              * the stream RMS-normed without a weight, times router.scale and
                              * hidden_size^-1/2; softmax top-k renormalized, each times its
                              * per_expert_scale */
    int gemma_router;        /* router "gemma4" (see experts_beside) */
    int64_t ple;             /* per-layer input width (Gemma 4's per-layer embeddings), 0: none */
    char layer_scalar[32];   /* each layer's output times layers.N.<this>, "" none */
    char sinks[48];          /* the attention's sink logits, layers.N.ATTN.<this> (gpt-oss's sinks) */
    double v_scale;          /* the values times this before the attention (MiMo-V2-Flash; 1) */
    double slide_theta;      /* the sliding layers' rotary base from its own config field (0: none) */
    int v_dims;              /* the rules give value heads a width of their own (forward.v_head_dim) */
    struct fwd_pass *pass;   /* set for one pass: what layers hand on to later ones (keys and values
                              * a later layer reads, the per-layer inputs) */
} dense_dims;

/* Reads the dimensions from the plan's config and what the model computes from its rules'
 * "forward" section; CK_EUSAGE (or CK_EFORMAT for a malformed entry) naming the config field or
 * the rules entry and its line. */
int dense_dims_of(const plan *p, dense_dims *d, ck_err *err);
/* Runs tokens[0..T) through ranks[stage * tp + rank] (every rank of every stage loaded; with
 * d->comm, only this process's, and every process gets the logits and the trace). Row-parallel
 * partial sums are each made apart and added in rank order, so both give the same floats.
 * logits: [T, vocab]. trace (optional): [2 * layers][T * hidden], what each layer's attention
 * and its MLP added to the residual stream (their outputs). */
int forward_dense(const plan *p, const dense_dims *d, rank_load *const *ranks, const int *tokens, int T,
                  float *logits, float *trace, ck_err *err);

/* One decoder layer on the residual stream x[T, hidden] in place, with the ranks R[0 .. tp) of
 * the stage that owns it; after_attn (optional) gets the stream after the attention block. */
int forward_layer(const plan *p, const dense_dims *d, rank_load *const *R, int64_t l, float *x, int T,
                  float *after_attn, ck_err *err);

#endif
