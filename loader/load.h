/* load.h - executing the load plan for one rank on the host: every checkpoint key the loader
 * maps to a parameter of this rank's stage is read (pread, read-only), converted to float, cut to
 * the rank's slice as shard.h says vLLM's weight loaders cut it, and placed at its fused part's
 * offset. Parameters are held in fp32, on the host or (load_opts.stager) in device memory;
 * quantized weights are dequantized as read (load_opts.deq), other quantized suffixes are
 * refused with CK_EUSAGE naming the parameter. */
#ifndef CK_LOAD_H
#define CK_LOAD_H

#include "inspect/ckpt.h"
#include "loader/plan.h"
#include "loader/simulate.h"

typedef struct {
    const plan_param *pp;  /* borrowed from the plan */
    float *data;           /* pp->local shape, row-major; NULL when held compact (half) */
    void *half;            /* load_opts.compact: the same values in the 16-bit dtype half_dt that
                            * every tensor filling it is stored in (BF16 or F16), data NULL;
                            * load_param_floats gives them as floats */
    ck_dtype half_dt;
    uint64_t n;            /* elements */
    uint64_t filled;       /* elements written by some key */
    uint64_t expect;       /* elements some key must write (under EP a rank may hold fewer
                            * experts than the buffer has room for) */
    int64_t expert0, n_experts; /* routed experts: the global index of local expert 0, and how many */
} load_param;

typedef struct {
    int stage, tp_rank;
    int device;            /* the parameters are in device (managed) memory: kdev_alloc */
    load_param *params;    /* (n) in the plan stage's order */
    size_t n;
    uint64_t bytes_read;
    struct rank_scratch *scratch; /* the floats load_param_floats made of compact parameters */
} rank_load;

/* Loads TP ranks rank0 .. rank0 + n_ranks - 1 of stage `stage` into out[0 .. n_ranks), reading
 * every key the stage needs once and cutting it for each rank; adds the bytes read. With deq
 * (the checkpoint's quantization, p planned unquantized), quantized weights are dequantized
 * first (compressed-tensors pack-quantized, block-FP8) and loaded as the float weights a
 * reference that dequantized the same way would hold; their scales are consumed with them. */
typedef struct {
    const cfg_quant *deq;  /* dequantize as read (see above), or NULL */
    int64_t layer;         /* >= 0: only that decoder layer's parameters (layer-by-layer checks) */
    struct kdev_stager *stager; /* non-NULL: load onto the CUDA device through this stager's pinned
                            * buffers; conversion, dequantization and the cuts run there */
    /* optional: called after each checkpoint tensor with the bytes of the tensors gone through
     * so far and of all of them (the stage reads those it needs) */
    void (*progress)(uint64_t done, uint64_t total, void *ctx);
    void *progress_ctx;
    const keymap *km;      /* the map of the keys built for this plan (keymap_build), shared by
                            * every stage and rank the caller loads; NULL: one is built per call */
    int compact;           /* on the host, without deq: a matrix (2 dims), or routed experts' matrices
                            * (3 dims), whose tensors are all stored BF16 (or all F16), none
                            * reordered on the way, is held in that dtype (load_param.half): half
                            * the memory of floats, and its bytes copied, not converted */
} load_opts;

/* Returns CK_OK; on failure an error code with err naming the file and key, and out[0 .. n_ranks)
 * freed and zeroed (untouched when those ranks are not in the layout: CK_EUSAGE). The caller
 * frees each out[k] with rank_load_free. */
int load_stage(const ck_checkpoint *ck, const plan *p, int stage, int rank0, int n_ranks, rank_load *out,
               uint64_t *bytes_read, const load_opts *o, ck_err *err);
/* Loads stage `stage`, TP rank `tp_rank` of p from ck. Returns CK_OK, CK_EUSAGE for what this
 * version does not load, CK_EIO / CK_ENOMEM with err naming the file, key and offset. */
int load_rank(const ck_checkpoint *ck, const plan *p, int stage, int tp_rank, rank_load *out, ck_err *err);
/* Checkpoint tensor i dequantized on the host as a load with the checkpoint's quantization would
 * (compressed-tensors pack- and int-quantized, FP8 with its scales, AWQ, GPTQ, NVFP4, MXFP4 and
 * gpt-oss's MXFP4 blocks), its scales read from beside it: *out malloc'ed floats of *nd dims in
 * shape (the caller frees it), or NULL when the tensor is not a quantized weight (a scale, a
 * float tensor, an unquantized checkpoint). CK_OK, or an error naming the file and key. */
int load_dequant_tensor(const ck_checkpoint *ck, size_t i, float **out, uint64_t shape[PLAN_MAX_DIMS], unsigned *nd,
                        ck_err *err);
/* Whether load_stage (with deq) dequantizes this quantization as it reads: compressed-tensors,
 * fp8, awq, gptq, mxfp4 and ModelOpt's FP8. */
int load_dequantizes(const cfg_quant *q);
/* The parameter's values as floats: lp->data, or for a compact one a conversion held in r's
 * scratch until rank_scratch_reset(r) (the forward resets it layer by layer); NULL with err set
 * when memory runs out. */
const float *load_param_floats(const rank_load *r, const load_param *lp, ck_err *err);
/* Rows [row0, row0 + nrows) of a parameter seen as rows of `cols` values into out, as floats. */
void load_param_rows(const load_param *lp, uint64_t cols, uint64_t row0, uint64_t nrows, float *out);
/* The floats load_param_floats handed out for r become free for the next ones. */
void rank_scratch_reset(const rank_load *r);
/* Host bytes r's parameters take as held (compact ones at 2 bytes a value), scratch excluded. */
uint64_t rank_held_bytes(const rank_load *r);
/* Frees the rank's parameters (host or device) and leaves r zeroed; accepts NULL and a zeroed one. */
void rank_load_free(rank_load *r);
/* Host bytes (fp32) the stage's parameters of one TP rank take; layer >= 0: only that layer's. */
uint64_t load_bytes(const plan *p, int stage, int tp_rank, int64_t layer);
/* The loaded parameter named `name` (as the loader spells it), or NULL. */
const load_param *rank_param(const rank_load *r, const plan *p, const char *name);

#endif
