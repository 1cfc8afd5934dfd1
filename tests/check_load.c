/* check_load.c - the real load and check: every rank's slices cut from the checkpoint equal the
 * tensors' own bytes at TP 1/2/4 and PP 1/2, the check command end to end on every fixture family,
 * the load onto a CUDA device against the host's, and the load's progress. */
#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/thread.h"
#include "inspect/ckpt.h"
#include "kernels/convert.h"
#include "kernels/devmem.h"
#include "loader/forward.h"
#include "loader/load.h"
#include "loader/plan.h"
#include "loader/shard.h"
#include "loader/simulate.h"
#include "rules/rules.h"
#include "tests/suiteutil.h"
#include "tests/testutil.h"

/* The checkpoint tensor `name` as floats (read here independently of the loader). */
static float *ck_floats(const ck_checkpoint *ck, const char *name, uint64_t *rows, uint64_t *cols)
{
    ck_tensor_ref ref;
    ck_assert_msg(ckpt_find(ck, name, &ref), "no %s", name);
    const st_tensor *t = ckpt_tensor(ck, ref);
    size_t len;
    uint8_t *file = tu_read_file(ck->shards[ref.shard].path, &len);
    ck_assert_ptr_nonnull(file);
    *rows = t->ndim ? t->shape[0] : 1;
    *cols = t->ndim > 1 ? t->shape[1] : 1;
    float *v = malloc(*rows * *cols * sizeof *v);
    ck_assert_int_eq(kern_convert_ref(t->dtype, file + ck->shards[ref.shard].h.data_start + t->begin,
                                      *rows * *cols, v), 0);
    free(file);
    return v;
}

/* Appends rows [r0, r0 + n) of `name`, or (cols_split) columns [r0, r0 + n) of every row. */
static size_t take(const ck_checkpoint *ck, const char *name, uint64_t r0, uint64_t n, int cols_split,
                   float *out, size_t at)
{
    uint64_t rows, cols;
    float *v = ck_floats(ck, name, &rows, &cols);
    if (cols_split)
        for (uint64_t r = 0; r < rows; r++)
            for (uint64_t c = 0; c < n; c++)
                out[at++] = v[r * cols + r0 + c];
    else
        for (uint64_t r = r0; r < r0 + n; r++)
            for (uint64_t c = 0; c < cols; c++)
                out[at++] = r < rows ? v[r * cols + c] : 0.0f;
    free(v);
    return at;
}

/* The process's rchar (bytes read, /proc/self/io) before this read of it; *self: what this read
 * itself adds to it. */
static uint64_t rchar_before(uint64_t *self)
{
    char text[4096];
    int fd = open("/proc/self/io", O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    ck_assert_int_gt(n, 0);
    text[n] = 0;
    const char *r = strstr(text, "rchar: ");
    ck_assert_ptr_nonnull(r);
    *self = (uint64_t)n;
    return strtoull(r + 7, NULL, 10);
}

/* load_rank of one rank of an F32 checkpoint, as a process of its own loads its rank: it reads
 * the stored bytes of that rank's parameters and nothing more (no other rank's slice, no expert
 * another rank holds), by the kernel's count. */
static void load_own_rank(ck_checkpoint *ck, const plan *p, int st, int rank, rank_load *rl)
{
    ck_err err;
    ck_err_clear(&err);
    ck_thread_count(0, 64, 64); /* the process reads the number of cores (/sys) once, before this */
    uint64_t self, before = rchar_before(&self), self2;
    ck_assert_msg(load_rank(ck, p, st, rank, rl, &err) == CK_OK, "%s: %s", err.key, err.msg);
    uint64_t read = rchar_before(&self2) - before - self, own = 0;
    for (size_t i = 0; i < rl->n; i++)
        own += rl->params[i].n * sizeof(float);
    ck_assert_msg(read == own, "stage %d rank %d read %llu bytes, its parameters are %llu", st, rank,
                  (unsigned long long)read, (unsigned long long)own);
    ck_assert_uint_eq(rl->bytes_read, own);
}

/* Each rank's slice of a transformers-written Qwen2 (4 query heads, 2 key/value heads of 16,
 * ffn 128, vocab 256) is what vLLM's loaders give that rank: checked tensor by tensor against
 * slices cut here from the checkpoint, at TP 1, 2 and 4 (where each key/value head is
 * replicated on two ranks) and PP 1 and 2; each rank loaded alone reads its slices alone. */
START_TEST(test_load_slices)
{
    ck_checkpoint ck;
    ck_err err;
    ck_err_clear(&err);
    ck_assert_int_eq(ckpt_open("fixtures/real/tiny-qwen2", 1, &ck, &err), CK_OK);
    rules_file r;
    ck_assert_int_eq(rules_load_builtin("qwen2", &r, &err), CK_OK);
    static const int tps[] = {1, 2, 4};
    float *want = malloc(1 << 20);
    for (unsigned ti = 0; ti < 3; ti++)
        for (int pp = 1; pp <= 2; pp++) {
            int t = tps[ti];
            plan_layout lay = {t, pp, 0, {0}, 0, 0, NULL, 0};
            plan p;
            ck_findings f;
            findings_init(&f);
            ck_assert_int_eq(plan_build(&r, &ck.cfg, &lay, &p, &f, &err), CK_OK);
            size_t checked = 0;
            for (int st = 0; st < pp; st++)
                for (int rank = 0; rank < t; rank++) {
                    rank_load rl;
                    load_own_rank(&ck, &p, st, rank, &rl);
                    for (size_t i = 0; i < rl.n; i++) {
                        const load_param *lp = &rl.params[i];
                        const char *name = lp->pp->name;
                        char a[256], b[256], c[256];
                        int layer = lp->pp->layer;
                        size_t n = 0;
                        int kvr = t <= 2 ? rank * 32 / t : (rank / 2) * 16, kvn = t <= 2 ? 32 / t : 16;
                        if (strstr(name, "qkv_proj")) {
                            const char *sfx = strstr(name, ".bias") ? "bias" : "weight";
                            snprintf(a, sizeof a, "model.layers.%d.self_attn.q_proj.%s", layer, sfx);
                            snprintf(b, sizeof b, "model.layers.%d.self_attn.k_proj.%s", layer, sfx);
                            snprintf(c, sizeof c, "model.layers.%d.self_attn.v_proj.%s", layer, sfx);
                            n = take(&ck, a, (uint64_t)rank * 64 / t, 64 / t, 0, want, 0);
                            n = take(&ck, b, kvr, kvn, 0, want, n);
                            n = take(&ck, c, kvr, kvn, 0, want, n);
                        } else if (strstr(name, "gate_up_proj")) {
                            snprintf(a, sizeof a, "model.layers.%d.mlp.gate_proj.weight", layer);
                            snprintf(b, sizeof b, "model.layers.%d.mlp.up_proj.weight", layer);
                            n = take(&ck, a, (uint64_t)rank * 128 / t, 128 / t, 0, want, 0);
                            n = take(&ck, b, (uint64_t)rank * 128 / t, 128 / t, 0, want, n);
                        } else if (strstr(name, "o_proj")) {
                            snprintf(a, sizeof a, "model.layers.%d.self_attn.o_proj.weight", layer);
                            n = take(&ck, a, (uint64_t)rank * 64 / t, 64 / t, 1, want, 0);
                        } else if (strstr(name, "down_proj")) {
                            snprintf(a, sizeof a, "model.layers.%d.mlp.down_proj.weight", layer);
                            n = take(&ck, a, (uint64_t)rank * 128 / t, 128 / t, 1, want, 0);
                        } else if (strcmp(name, "embed_tokens.weight") == 0 || strcmp(name, "lm_head.weight") == 0) {
                            snprintf(a, sizeof a, "%s%s", name[0] == 'e' ? "model." : "", name);
                            n = take(&ck, a, (uint64_t)rank * 256 / t, 256 / t, 0, want, 0);
                        } else {
                            snprintf(a, sizeof a, "model.%s", name);
                            uint64_t rows, cols;
                            free(ck_floats(&ck, a, &rows, &cols));
                            n = take(&ck, a, 0, rows, 0, want, 0);
                        }
                        ck_assert_msg(n == lp->n, "TP%d PP%d rank %d %s: %zu elements, want %zu", t, pp, rank,
                                      name, (size_t)lp->n, n);
                        ck_assert_msg(memcmp(lp->data, want, n * sizeof *want) == 0, "TP%d PP%d rank %d: %s "
                                      "differs from the slice", t, pp, rank, name);
                        ck_assert_uint_eq(lp->filled, lp->n);
                        checked++;
                    }
                    rank_load_free(&rl);
                }
            ck_assert_uint_eq(checked, (size_t)t * (2 * 7 + 3)); /* every parameter on every rank */
            plan_free(&p);
            findings_free(&f);
        }
    rules_free(&r);
    ckpt_free(&ck);
    /* routed experts: under TP every expert on every rank with w1/w3 rows and w2 columns split;
     * under EP whole experts, 0-1 on rank 0 and 2-3 on rank 1 */
    ck_assert_int_eq(ckpt_open("fixtures/moe/tiny-mixtral", 1, &ck, &err), CK_OK);
    ck_assert_int_eq(rules_load_builtin("mixtral", &r, &err), CK_OK);
    for (int ep = 0; ep <= 1; ep++) {
        plan_layout lay = {2, 1, ep, {0}, 0, 0, NULL, 0};
        plan p;
        ck_findings f;
        findings_init(&f);
        ck_assert_int_eq(plan_build(&r, &ck.cfg, &lay, &p, &f, &err), CK_OK);
        for (int rank = 0; rank < 2; rank++) {
            rank_load rl;
            load_own_rank(&ck, &p, 0, rank, &rl);
            const load_param *w13 = rank_param(&rl, &p, "layers.1.block_sparse_moe.experts.routed_experts.w13_weight");
            const load_param *w2 = rank_param(&rl, &p, "layers.1.block_sparse_moe.experts.routed_experts.w2_weight");
            ck_assert_ptr_nonnull(w13);
            ck_assert_ptr_nonnull(w2);
            ck_assert_int_eq(w13->expert0, ep ? 2 * rank : 0);
            ck_assert_int_eq(w13->n_experts, ep ? 2 : 4);
            ck_assert_uint_eq(w13->filled, w13->expect);
            ck_assert_uint_eq(w2->filled, w2->expect);
            for (int64_t e = 0; e < w13->n_experts; e++) {
                char a[128], b[128], c[128];
                int64_t g = w13->expert0 + e;
                snprintf(a, sizeof a, "model.layers.1.block_sparse_moe.experts.%lld.w1.weight", (long long)g);
                snprintf(b, sizeof b, "model.layers.1.block_sparse_moe.experts.%lld.w3.weight", (long long)g);
                snprintf(c, sizeof c, "model.layers.1.block_sparse_moe.experts.%lld.w2.weight", (long long)g);
                size_t n = take(&ck, a, ep ? 0 : (uint64_t)rank * 16, ep ? 32 : 16, 0, want, 0);
                n = take(&ck, b, ep ? 0 : (uint64_t)rank * 16, ep ? 32 : 16, 0, want, n);
                ck_assert_uint_eq(n * (size_t)w13->pp->local[0], w13->n);
                ck_assert_msg(memcmp(w13->data + (size_t)e * n, want, n * sizeof *want) == 0,
                              "EP %d rank %d expert %lld: w13 differs", ep, rank, (long long)g);
                n = take(&ck, c, ep ? 0 : (uint64_t)rank * 16, ep ? 32 : 16, 1, want, 0);
                ck_assert_msg(memcmp(w2->data + (size_t)e * n, want, n * sizeof *want) == 0,
                              "EP %d rank %d expert %lld: w2 differs", ep, rank, (long long)g);
            }
            rank_load_free(&rl);
        }
        plan_free(&p);
        findings_free(&f);
    }
    free(want);
    rules_free(&r);
    ckpt_free(&ck);
}
END_TEST

/* What each rank takes of a tensor, as shard.c tells the load and the TUI: GQA heads replicated
 * in pairs at TP 4, each part at its row of the fused parameter, a row-parallel cut by columns. */
START_TEST(test_shard_slices)
{
    ck_checkpoint ck;
    ck_err err;
    ck_err_clear(&err);
    ck_assert_int_eq(ckpt_open("fixtures/real/tiny-qwen2", 1, &ck, &err), CK_OK);
    rules_file r;
    ck_assert_int_eq(rules_load_builtin("qwen2", &r, &err), CK_OK);
    /* what each rank takes, as the TUI shows it: GQA heads replicated in pairs at TP 4 */
    {
        plan_layout lay = {4, 1, 0, {0}, 0, 0, NULL, 0};
        plan p;
        ck_findings f;
        findings_init(&f);
        ck_assert_int_eq(plan_build(&r, &ck.cfg, &lay, &p, &f, &err), CK_OK);
        size_t pi;
        ck_assert(strmap_get(&p.stages[0].by_name, "layers.0.self_attn.qkv_proj.weight", &pi));
        static const int64_t kstart[4] = {0, 0, 16, 16}, qstart[4] = {0, 16, 32, 48};
        shard_slice c;
        for (int rank = 0; rank < 4; rank++) {
            /* q: 16 of 64 rows each at row 0 of the local qkv; k: one whole head of 16 rows,
             * shared by two ranks, after the rank's q rows */
            ck_assert_int_eq(shard_slice_of(&p, &p.stages[0].params[pi], "k", -1, rank, &c, &err), CK_OK);
            ck_assert(c.dim == 0 && c.start == kstart[rank] && c.len == 16 && c.dst == 16 && c.part == 1);
            ck_assert_int_eq(shard_slice_of(&p, &p.stages[0].params[pi], "q", -1, rank, &c, &err), CK_OK);
            ck_assert(c.dim == 0 && c.start == qstart[rank] && c.len == 16 && c.dst == 0 && c.part == 0);
        }
        /* a part the rule does not list is an error that names the rules file and the parameter */
        ck_assert_int_eq(shard_slice_of(&p, &p.stages[0].params[pi], "x", -1, 0, &c, &err), CK_EFORMAT);
        ck_assert_str_eq(err.key, "layers.0.self_attn.qkv_proj.weight");
        ck_assert_ptr_nonnull(strstr(err.msg, "part 'x'"));
        ck_err_clear(&err);
        ck_assert(strmap_get(&p.stages[0].by_name, "layers.0.self_attn.o_proj.weight", &pi));
        ck_assert_int_eq(shard_slice_of(&p, &p.stages[0].params[pi], NULL, -1, 3, &c, &err), CK_OK);
        ck_assert(c.dim == 1 && c.start == 48 && c.len == 16 && c.part == -1);
        ck_assert(strmap_get(&p.stages[0].by_name, "norm.weight", &pi));
        ck_assert_int_eq(shard_slice_of(&p, &p.stages[0].params[pi], NULL, -1, 3, &c, &err), CK_OK);
        ck_assert_int_eq(c.dim, -1);
        plan_free(&p);
        findings_free(&f);
    }
    rules_free(&r);
    ckpt_free(&ck);
}
END_TEST

/* A quantized fixture of fixtures/quant checked at TP tp x PP 2 against the float32 original: the
 * sharded load equals the unsharded one, the error is spread over the blocks as quantization
 * spreads it; returns the logits' relative error. */
static double against_float(const char *dir, const char *layout, const char *orig)
{
    char *out = tu_cli(0, NULL, "check %s %s --against %s", dir, layout, orig);
    ck_assert_ptr_nonnull(strstr(out, "verdict    PASS: the sharded load computes what the unsharded one does"));
    char head[512];
    snprintf(head, sizeof head, "against %s", orig);
    const char *lg = strstr(strstr(out, head), "logits     relative error ");
    ck_assert_ptr_nonnull(lg);
    double e = atof(lg + strlen("logits     relative error "));
    ck_assert_msg(strstr(out, "PASS: the error is spread evenly over the blocks") != NULL, "%s", out);
    free(out);
    return e;
}

static double against_f32(const char *fixture, int tp)
{
    char dir[256], layout[64];
    snprintf(dir, sizeof dir, "fixtures/quant/%s", fixture);
    snprintf(layout, sizeof layout, "--tp %d --pp 2", tp);
    return against_float(dir, layout, "fixtures/quant/tiny-llama-f32");
}

/* check: the sharded load must compute what the unsharded one does (dense fixtures written by
 * transformers), and a wrong slice is caught and placed. */
START_TEST(test_check_cli)
{
    char *out = NULL;
    static const int tps[] = {1, 2, 4};
    for (unsigned i = 0; i < 3; i++)
        for (int pp = 1; pp <= 2; pp++) {
            out = tu_cli(0, NULL, "check fixtures/real/tiny-qwen2 --tp %d --pp %d", tps[i], pp);
            ck_assert_ptr_nonnull(strstr(out, "top-1 tokens agree 8/8"));
            ck_assert_ptr_nonnull(strstr(out, "verdict    PASS"));
            /* each tensor read once per stage, however many ranks cut it */
            ck_assert_msg(strstr(out, "0.43 MB read once") != NULL, "%s", out);
            free(out);
        }
    out = tu_cli(0, NULL, "check fixtures/real/tiny-llama-bf16 --tp 4 --pp 2 --tokens 5,6,7,200");
    ck_assert_ptr_nonnull(strstr(out, "4 tokens"));
    ck_assert_ptr_nonnull(strstr(out, "top-1 tokens agree 4/4"));
    free(out);
    /* Mixtral's experts: sliced over TP, or whole experts per rank under EP */
    static const char *moe[] = {"--tp 2", "--tp 4 --pp 2", "--tp 2 --ep", "--tp 4 --enable-expert-parallel"};
    static const char *moe_dirs[] = {"moe/tiny-mixtral", "moe/tiny-qwen2-moe", "moe/tiny-qwen3-moe",
                                     "real/tiny-deepseek-v2", "oracle/variants/deepseek-v3-noaux-tc",
                                     "real/tiny-glm4-moe", "moe/tiny-granitemoe"};
    for (unsigned k = 0; k < 7; k++) /* GraniteMoE: every layer's experts in one fused tensor */ /* Qwen2-MoE: shared expert, a dense layer; Qwen3: q/k norms;
                                      * DeepSeek-V2: latent attention, shared experts */
        for (unsigned i = 0; i < 4; i++) {
            /* GLM-4.5's first layer is dense: a stage of it alone has no MoE layer, and vLLM
             * cannot build it */
            if (strstr(moe_dirs[k], "glm4-moe") && strstr(moe[i], "--pp")) {
                free(tu_cli(1, "RuntimeError: No Glm4MoE layer found in model.layers.", "check fixtures/%s %s",
                            moe_dirs[k], moe[i]));
                continue;
            }
            out = tu_cli(0, NULL, "check fixtures/%s %s", moe_dirs[k], moe[i]);
            ck_assert_ptr_nonnull(strstr(out, "top-1 tokens agree 8/8"));
            free(out);
        }
    /* W4A16 / W8A16 (compressed-tensors pack-quantized): dequantized as read, sharded as planned;
     * against the float32 original the error is that of the quantization, 16x smaller at 8 bits */
    double qerr[2];
    for (int b = 0; b < 2; b++) {
        for (unsigned i = 0; i < 3; i++) {
            /* group 32 over o_proj's 64 inputs: TP 4 leaves shards of 16, which vLLM refuses */
            if (tps[i] == 4) {
                free(tu_cli(1, "ValueError: Weight input_size_per_partition=16 for layer "
                            "'model.layers.0.self_attn.o_proj' is not divisible by group_size=32.",
                            "check fixtures/quant/tiny-llama-w%da16 --tp 4 --pp 2", b ? 8 : 4));
                continue;
            }
            out = tu_cli(0, NULL, "check fixtures/quant/tiny-llama-w%da16 --tp %d --pp 2",
                     b ? 8 : 4, tps[i]);
            ck_assert_ptr_nonnull(strstr(out, "top-1 tokens agree 8/8"));
            free(out);
        }
        out = tu_cli(0, NULL, "check fixtures/quant/tiny-llama-w%da16 --against fixtures/quant/tiny-llama-f32",
                  b ? 8 : 4);
        ck_assert_ptr_nonnull(strstr(out, "layer 1    attention"));
        const char *lg = strstr(strstr(out, "against fixtures/quant/tiny-llama-f32"), "logits     relative error ");
        ck_assert_ptr_nonnull(lg);
        qerr[b] = atof(lg + strlen("logits     relative error "));
        free(out);
    }
    ck_assert_msg(qerr[0] > 1e-3 && qerr[0] < 0.3, "W4A16 against float32: %g", qerr[0]);
    ck_assert_msg(qerr[1] > 0 && qerr[1] < qerr[0] / 8, "W8A16 %g, W4A16 %g", qerr[1], qerr[0]);
    /* block-FP8 (16x16 blocks, encoded by the fixture script on its own): the same checks */
    for (unsigned i = 0; i < 3; i++) {
        out = tu_cli(0, NULL, "check fixtures/quant/tiny-llama-fp8 --tp %d --against "
                 "fixtures/quant/tiny-llama-f32", tps[i]);
        ck_assert_ptr_nonnull(strstr(out, "verdict    PASS"));
        const char *lg = strstr(strstr(out, "against fixtures/quant/tiny-llama-f32"), "logits     relative error ");
        ck_assert_ptr_nonnull(lg);
        double e = atof(lg + strlen("logits     relative error "));
        ck_assert_msg(e > 1e-4 && e < 0.06, "FP8 against float32: %g", e);
        ck_assert_ptr_nonnull(strstr(out, "PASS: the error is spread evenly over the blocks"));
        free(out);
    }
    /* int-quantized int8 weights with per-channel scales (W8A8's storage): lint clean, sharded
     * loads equal the unsharded one, and against float32 about as close as W8A16 */
    out = tu_cli(0, NULL, "lint --tp 2 --pp 2 fixtures/quant/tiny-llama-int8");
    ck_assert_ptr_nonnull(strstr(out, "quantization compressed-tensors:int-quantized"));
    ck_assert_ptr_nonnull(strstr(out, "0 errors, 0 warnings"));
    free(out);
    for (unsigned i = 0; i < 3; i++) {
        double e = against_f32("tiny-llama-int8", tps[i]);
        ck_assert_msg(e > 1e-4 && e < 4 * qerr[1], "int8 against float32: %g (W8A16: %g)", e, qerr[1]);
        /* with static activations: an input_scale [1] per module, which check does not apply */
        ck_assert_msg(fabs(against_f32("tiny-llama-int8-static", tps[i]) - e) < 1e-9, "int8 static differs");
    }
    /* compressed-tensors float-quantized FP8 with a scale per output channel (FP8-dynamic): lint
     * clean (it was a false alarm before), sharded loads equal the unsharded one, and against
     * float32 the error of 8-bit floats */
    /* a scale per channel, one per tensor (per fused part), and vLLM's own fp8 format per tensor
     * (scalar weight_scale; with static activations an input_scale too, which check does not
     * apply: it computes with float32 activations) */
    static const char *const f8[] = {"tiny-llama-fp8-channel", "tiny-llama-fp8-tensor", "tiny-llama-fp8-dynamic",
                                     "tiny-llama-fp8-static", "tiny-llama-modelopt-fp8"};
    for (unsigned k = 0; k < sizeof f8 / sizeof *f8; k++) {
        const char *fx = f8[k];
        out = tu_cli(0, NULL, "lint --tp 2 --pp 2 fixtures/quant/%s", fx);
        ck_assert_ptr_nonnull(strstr(out, "0 errors, 0 warnings"));
        free(out);
        for (unsigned i = 0; i < 3; i++) {
            double e = against_f32(fx, tps[i]);
            ck_assert_msg(e > 1e-4 && e < 0.06, "%s against float32: %g", fx, e);
        }
    }
    /* FP8 per tensor in vLLM's format with experts (one scalar scale per expert's w1, w2, w3):
     * tensor- and expert-parallel loads against the float32 original */
    static const char *const moe_lay[] = {"--tp 2 --pp 2", "--tp 2 --ep", "--tp 1"};
    for (unsigned i = 0; i < 3; i++) {
        double e = against_float("fixtures/moe/tiny-mixtral-fp8", moe_lay[i], "fixtures/moe/tiny-mixtral");
        ck_assert_msg(e > 1e-4 && e < 0.06, "tiny-mixtral-fp8 %s against float32: %g", moe_lay[i], e);
    }
    out = tu_cli(2, NULL, "check fixtures/quant/tiny-llama-w8a16 --against fixtures/real/tiny-qwen2");
    ck_assert_ptr_nonnull(strstr(out, "not the same model"));
    free(out);
}
END_TEST

/* check against transformers' logits and against another checkpoint: a sharded load that
 * computes something else is caught and placed, what this version does not compute is refused. */
START_TEST(test_check_cli_reference)
{
    char cmd[1024], *out = NULL;
    /* the forward pass is transformers' own: each fixture carries the logits transformers computed
     * for it (fixtures/make_reference_logits.py), sharded and unsharded agree with them */
    static const char *refd[] = {"real/tiny-deepseek-v2", "oracle/variants/deepseek-v3-noaux-tc", "real/tiny-llama3-rope",
                                 "real/tiny-glm4-moe", "oracle/variants/glm5-noaux-tc", "real/tiny-qwen2", "real/tiny-llama-bf16",
                                 "real/tiny-llama-f16", "quant/tiny-llama-f32", "moe/tiny-mixtral", "moe/tiny-qwen2-moe",
                                 "moe/tiny-qwen3-moe", "real/tiny-qwen3",
                                 "real/tiny-gemma2", "real/tiny-mistral", "real/tiny-gemma3", "real/tiny-phi3",
                                 "real/tiny-granite", "moe/tiny-granitemoe", "real/tiny-cohere", "real/tiny-cohere2",
                                 "real/tiny-deepseek-v2-grouped", "real/tiny-qwen2-yarn", "moe/tiny-gpt-oss",
                                 "real/tiny-olmo2", "real/tiny-starcoder2", "real/tiny-phi3-longrope",
                                 "real/tiny-minicpm3", "moe/tiny-gpt-oss-mxfp4", "real/tiny-qwen2_5-vl",
                                 "oracle/variants/qwen2_5-vl-language-model-names", "real/tiny-qwen3-vl",
                                 "moe/tiny-llama4", "oracle/variants/llama4-per-expert-keys", "moe/tiny-qwen3-next",
                                 "moe/tiny-qwen3-vl-moe", "moe/tiny-kimi-k25", "moe/tiny-qwen3-moe-bf16",
                                 "oracle/variants/kimi-k25-legacy-layer-names", "real/tiny-gemma3-mm",
                                 "oracle/variants/gemma3-mm-language-model-names", "real/tiny-mistral3",
                                 "oracle/variants/mistral3-language-model-names", "real/tiny-qwen2-vl",
                                 "moe/tiny-minimax-m2", "oracle/variants/minimax-m2-mtp-module", "real/tiny-glm4",
                                 "oracle/variants/glm4-split-mlp", "real/tiny-olmo3",
                                 "real/tiny-exaone4", "real/tiny-olmo3-yarn", "real/tiny-qwen3_5",
                                 "oracle/variants/qwen3_5-text-only",
                                 "moe/tiny-qwen3_5-moe", "oracle/variants/qwen3_5-moe-per-expert",
                                 "moe/tiny-qwen3_5-moe-fp8", "oracle/variants/qwen3_5-fp8-text-only",
                                 "moe/tiny-qwen3-next-fp8", "moe/tiny-qwen3_5-moe-fp8-dynamic",
                                 "oracle/variants/qwen3_5-ct-exact-ignore", "oracle/variants/ernie4_5-moe-untied",
                                 "real/tiny-ernie4_5", "real/tiny-smollm3", "real/tiny-seed-oss", "moe/tiny-exaone-moe",
                                 "oracle/variants/exaone-moe-mtp", "moe/tiny-olmoe", "oracle/variants/exaone-moe-fused-experts",
                                 "oracle/variants/olmoe-fused-experts", "real/tiny-glm4-moe-lite",
                                 "moe/tiny-hy-v3", "oracle/variants/hy-v3-mtp", "moe/tiny-afmoe",
                                 "oracle/variants/afmoe-fused-experts", "moe/tiny-mimo-v2-flash",
                                 "oracle/variants/mimo-v2-flash-mtp", "real/tiny-nemotron-h",
                                 "oracle/variants/nemotron-h-hub-config", "moe/tiny-nemotron-h-moe",
                                 "moe/tiny-nemotron-h-latent", "real/tiny-nemotron", "real/tiny-gemma", "real/tiny-lfm2", "moe/tiny-lfm2-moe", "moe/tiny-cohere2-moe",
                                 "moe/tiny-granitemoeshared", "real/tiny-stablelm",
                                 "oracle/variants/cohere2-moe-first-k-dense",
                                 "oracle/variants/lfm2-hub-config",
                                 "moe/tiny-gemma4-moe", "oracle/variants/gemma4-moe-global-head-dim",
                                 "oracle/variants/gemma4-moe-per-expert", "moe/tiny-gemma4-moe-fp8-dynamic",
                                 "real/tiny-glm4v-moe", "real/tiny-glm4v"};
    for (unsigned i = 0; i < sizeof refd / sizeof *refd; i++) {
        out = tu_cli(0, NULL, "check fixtures/%s --tp 2%s", refd[i], strcmp(refd[i], "real/tiny-glm4-moe") == 0 ? "" : " --pp 2");
        ck_assert_msg(strstr(out, "reference  transformers' logits (reference.logits)") != NULL &&
                      strstr(out, "top-1 tokens agree 8/8: PASS") != NULL, "%s: %s", refd[i], out);
        free(out);
    }
    /* Gemma 4 E2B's shape: its KV-shared layers need the layers they read on their own stage, which a
     * partition gives; the releases' config form and the K/V keys they ship for those layers too.
     * GraniteMoeHybrid: each layer's Mamba2 mixer or attention, then the experts beside the shared MLP
     * (or the shared MLP alone), under TP and EP (at PP 2 vLLM's loader looks up another stage's
     * norms and router: the oracle's KeyError, below). Mamba2: no attention and no MLP at all, every
     * TP size its heads allow */
    static const char *const g4[][2] = {{"real/tiny-gemma4", "--tp 2"}, {"real/tiny-gemma4", "--tp 2 --pp 2 --pp-partition 1,5"},
                                        {"oracle/variants/gemma4-global-head-dim", "--tp 4"},
                                        {"oracle/variants/gemma4-shared-kv-keys", "--tp 2"},
                                        {"real/tiny-gemma4-w4a16", "--tp 2"}, {"real/tiny-gemma4-mm", "--tp 4"},
                                        {"moe/tiny-granitemoehybrid", "--tp 2"}, {"moe/tiny-granitemoehybrid", "--tp 4 --ep"},
                                        {"real/tiny-granitemoehybrid-dense", "--tp 4"},
                                        {"real/tiny-mamba2", "--tp 4"}, {"real/tiny-mamba2", "--tp 8"},
                                        {"moe/tiny-lfm2-moe", "--tp 4 --ep"}, {"moe/tiny-cohere2-moe", "--tp 4 --ep"},
                                        {"moe/tiny-granitemoeshared", "--tp 4 --ep"}};
    for (unsigned i = 0; i < sizeof g4 / sizeof *g4; i++) {
        out = tu_cli(0, NULL, "check fixtures/%s %s", g4[i][0], g4[i][1]);
        ck_assert_msg(strstr(out, "reference  transformers' logits (reference.logits)") != NULL &&
                      strstr(out, "top-1 tokens agree 8/8: PASS") != NULL, "%s %s: %s", g4[i][0], g4[i][1], out);
        free(out);
    }
    /* no layer_scalar stored: the buffer keeps its 1 (no value is missing), as in vLLM */
    out = tu_cli(0, "verdict    PASS: the sharded load computes what the unsharded one does",
                 "check fixtures/oracle/variants/gemma4-no-layer-scalar --tp 2");
    free(out);
    /* transformers 5 writes DeepSeek-V3 and GLM-5 configs without topk_method: vLLM 0.32 then builds
     * no score correction bias and fails on the checkpoint's (as the oracle recorded); check says
     * so instead of computing logits no deployment would */
    static const char *noaux[] = {"real/tiny-deepseek-v3", "real/tiny-glm5"};
    for (unsigned i = 0; i < 2; i++) {
        out = tu_cli(1, "verdict    FAIL: the load fails before any logit: all ranks (0-1) raise KeyError: "
                     "'layers.1.mlp.gate.e_score_correction_bias'", "check fixtures/%s --tp 2", noaux[i]);
        free(out);
    }
    /* gpt-oss's MXFP4 experts dequantized as read (transformers' dequantization gave the
     * reference), under EP too; blocks whose scales are gone are named with what to do */
    free(tu_cli(0, "top-1 tokens agree 8/8: PASS", "check fixtures/moe/tiny-gpt-oss-mxfp4 --tp 2 --ep"));
    free(tu_cli(0, "top-1 tokens agree 8/8: PASS", "check fixtures/moe/tiny-kimi-k25 --tp 2 --ep"));
    /* ERNIE 4.5's MoE (the correction bias chooses, the softmax weighs; rotary on interleaved
     * pairs) under EP; tied, as released, it cannot be built over pipeline stages in vLLM 0.32,
     * and check says so before any logit */
    free(tu_cli(0, "top-1 tokens agree 8/8: PASS", "check fixtures/moe/tiny-ernie4_5-moe --tp 2 --ep"));
    free(tu_cli(0, "top-1 tokens agree 8/8: PASS", "check fixtures/oracle/variants/ernie4_5-moe-bias-flat --tp 2"));
    /* tie_word_embeddings left out: ERNIE's configuration ties by default, and check follows the
     * plan (no lm_head of its own) rather than a default of its own */
    {
        char *tmp = tu_fixture_config_edit("fixtures/moe/tiny-ernie4_5-moe", "\"tie_word_embeddings\": true,", "");
        free(tu_cli(0, "top-1 tokens agree 8/8: PASS", "check %s --tp 2", tmp));
        tu_rmtree(tmp);
        free(tmp);
    }
    /* K-EXAONE under EP; its routers' bias stored under the gate is dropped by vLLM's loader, and
     * check stops at the strict check vLLM makes */
    free(tu_cli(0, "top-1 tokens agree 8/8: PASS", "check fixtures/moe/tiny-exaone-moe --tp 2 --ep"));
    /* a setting the forward does not compute (vLLM's clamped MLPs): check refuses, naming it, and
     * lint still lints */
    {
        char *tmp = tu_fixture_config_edit("fixtures/moe/tiny-exaone-moe", "{", "{\"swiglu_limits\": [0, 0, 7.0, 7.0],");
        free(tu_cli(2, "this version does not compute this model: swiglu_limits (vLLM clamps the MLPs' "
                    "activations; check does not) (rules exaone_moe, forward.refuse)", "check %s", tmp));
        free(tu_cli(0, "0 errors, 0 warnings", "lint %s", tmp));
        tu_rmtree(tmp);
        free(tmp);
    }
    free(tu_cli(1, "ValueError: Following weights were not initialized from checkpoint: "
                "{'model.layers.1.mlp.e_score_correction_bias'", "check fixtures/oracle/variants/exaone-moe-gate-bias"));
    free(tu_cli(1, "verdict    FAIL: the load fails before any logit: ranks 0-1 (PP stage 0), layers 0-1: the model "
                "cannot be built: AttributeError: 'PPMissingLayer' object has no attribute 'tie_weights'",
                "check fixtures/moe/tiny-ernie4_5-moe --tp 2 --pp 2"));
    /* Qwen3.5's block-FP8 release layout (transformers' FP8 dequantization gave the reference) under
     * EP; against the float original the error of 8-bit floats, compounded over four layers */
    free(tu_cli(0, "top-1 tokens agree 8/8: PASS", "check fixtures/moe/tiny-qwen3_5-moe-fp8 --tp 2 --ep"));
    out = tu_cli(0, "verdict    PASS: the error is spread evenly over the blocks",
                 "check fixtures/moe/tiny-qwen3_5-moe-fp8 --against fixtures/moe/tiny-qwen3_5-moe");
    const char *l0 = strstr(out, "layer 0    attention ");
    ck_assert_ptr_nonnull(l0);
    double a0 = atof(l0 + strlen("layer 0    attention "));
    ck_assert_msg(a0 > 1e-3 && a0 < 0.1, "Qwen3.5 FP8 layer 0 attention against float32: %g", a0);
    free(out);
    /* MiniMax-M2's q/k norms over the whole projections, each rank its slice of the weights: at TP 4
     * its 2 key/value heads are replicated and k_norm cut by head, the variance the ranks' mean */
    free(tu_cli(0, "top-1 tokens agree 8/8: PASS", "check fixtures/moe/tiny-minimax-m2 --tp 4"));
    free(tu_cli(0, "top-1 tokens agree 8/8: PASS", "check fixtures/moe/tiny-minimax-m2 --tp 4 --ep"));
    /* Qwen3-Next's gated DeltaNet layers under EP too; its 2 key heads over TP 4: vLLM loads, its
     * forward cannot run, and check says why */
    free(tu_cli(0, "top-1 tokens agree 8/8: PASS", "check fixtures/moe/tiny-qwen3-next --tp 2 --ep"));
    free(tu_cli(2, "the gated DeltaNet's 2 key heads do not divide over TP 4: vLLM loads the layout",
                "check fixtures/moe/tiny-qwen3-next --tp 4"));
    /* Llama 4: experts placed whole under EP; its q/k rows reordered to halves as vLLM loads them;
     * past floor_scale tokens its temperature tuning would scale q, which check refuses to skip */
    char *l4 = tu_tmpdir();
    snprintf(cmd, sizeof cmd, "cp fixtures/moe/tiny-llama4/* %s/ && sed -i 's/\"floor_scale\": 8192/\"floor_scale\": 4/' "
             "%s/config.json", l4, l4);
    ck_assert_int_eq(system(cmd), 0);
    free(tu_cli(2, "8 tokens reach position floor_scale - 1 = 3, from which Llama 4's attention temperature tuning "
                "scales q", "check %s", l4));
    tu_rmtree(l4);
    free(l4);
    free(tu_cli(0, "top-1 tokens agree 8/8: PASS", "check fixtures/moe/tiny-llama4 --tp 4 --ep"));
    free(tu_cli(2, "'model.layers.1.mlp.experts.down_proj_blocks': these MXFP4 blocks need "
                "'model.layers.1.mlp.experts.down_proj_scales' beside them, which no shard holds",
                "check fixtures/oracle/variants/gpt-oss-mxfp4-no-scales"));
    /* OLMo 2's whole-projection k_norm cannot gather key/value heads that TP 4 replicates: vLLM
     * loads the layout and fails on its first forward; check says so instead of computing */
    free(tu_cli(2, "vLLM loads this layout, but its first forward pass raises ValueError: Cannot gather norm of "
                "width 32: a TP-sharded input of width 16 does not tile it evenly across 4 ranks",
                "check fixtures/real/tiny-olmo2 --tp 4"));
    /* longrope: vLLM takes the long factors for every position once --max-model-len passes
     * original_max_position_embeddings; transformers' reference (8 tokens) has the short ones, so
     * check says which it computes and the reference no longer holds */
    out = tu_cli(1, "rotary     longrope, the long factors", "check fixtures/real/tiny-phi3-longrope --max-model-len 128");
    ck_assert_msg(strstr(out, "relative error 0.261 unsharded") != NULL, "%s", out);
    free(out);
    free(tu_cli(0, "rotary     longrope, the short factors", "check fixtures/real/tiny-phi3-longrope --max-model-len 32"));
    free(tu_cli(2, "--max-model-len takes a number of tokens", "check fixtures/real/tiny-phi3-longrope --max-model-len 0"));
    /* past the length config.json allows vLLM refuses it (its text; dynamic rotary's factor 2
     * doubles the allowance, longrope's does not) */
    free(tu_cli(2, "vLLM refuses it: ValueError: User-specified max_model_len (256) is greater than the derived "
                "max_model_len (max_position_embeddings=128.0 or model_max_length=None in model's config.json)",
                "check fixtures/real/tiny-phi3-longrope --max-model-len 256"));
    free(tu_cli(2, "(max_position_embeddings=256.0 or model_max_length=None",
                "check fixtures/oracle/models/tiny-llama-hd64-dynamic --max-model-len 300"));
    /* latent attention counts its factors over the rope part of a head (qk_rope_head_dim), not
     * over head_dim: MiniCPM3-4B's config.json has no head_dim (hidden / heads is 64, the rope
     * part 32) */
    char *m3 = tu_tmpdir();
    snprintf(cmd, sizeof cmd, "cp fixtures/real/tiny-minicpm3/* %s/ && sed -i '/\"head_dim\"/d' %s/config.json", m3, m3);
    ck_assert_int_eq(system(cmd), 0);
    free(tu_cli(0, "top-1 tokens agree 8/8: PASS", "check %s --tp 2", m3));
    tu_rmtree(m3);
    free(m3);
    /* another model's logits for the same tokens */
    out = tu_cli(1, NULL, "check fixtures/real/tiny-qwen2 --reference fixtures/moe/tiny-mixtral/reference.logits");
    ck_assert_ptr_nonnull(strstr(out, "top-1 tokens agree 0/8: FAIL"));
    free(out);
    /* other tokens: not compared, and said so */
    free(tu_cli(0, "is for other tokens or another vocabulary: not compared",
             "check fixtures/real/tiny-qwen2 --tokens 1,2,3 --reference "
             "fixtures/real/tiny-qwen2/reference.logits"));
    free(tu_cli(2, "not a reference logits file",
             "check fixtures/real/tiny-qwen2 --reference fixtures/real/tiny-qwen2/config.json"));
    /* a negative carries its original's reference: the weights do not compute it */
    free(tu_cli(1, "FAIL: these weights, loaded this way, do not compute the reference logits",
             "check fixtures/negative/mixtral-gate-up-swapped --tp 2"));
    /* checkpoints that load without an error and compute something else: against the original,
     * check fails and names the block where it starts */
    static const struct { const char *dir, *orig, *place; } neg[] = {
        /* float weights against their original: only the broken block differs at all */
        {"mixtral-gate-up-swapped", "moe/tiny-mixtral", "layer 1, the MLP is the first block above the tolerance "
                                                        "1e-04 (relative error 0.48; neither checkpoint is quantized, "
                                                        "so every block must match): its parameter "
                                                        "layers.1.block_sparse_moe.experts.routed_experts.w13_weight"},
        {"mixtral-expert-rows-shifted", "moe/tiny-mixtral", "layer 0, the MLP is the first block above the tolerance "
                                                            "1e-04 (relative error 0.761; neither checkpoint is "
                                                            "quantized, so every block must match): its parameter "
                                                            "layers.0.block_sparse_moe.experts.routed_experts.w2_weight"},
        {"fp8-scale-off-by-one", "quant/tiny-llama-f32", "layer 1, the MLP stands out"},
        {"fp8-o-proj-transposed", "quant/tiny-llama-f32", "layer 0, attention stands out"}};
    for (unsigned i = 0; i < sizeof neg / sizeof *neg; i++) {
        out = tu_cli(1, NULL, "check fixtures/negative/%s --tp 2 --against fixtures/%s", neg[i].dir,
                 neg[i].orig);
        ck_assert_ptr_nonnull(strstr(out, "verdict    PASS: the sharded load")); /* it loads consistently */
        ck_assert_msg(strstr(out, neg[i].place) != NULL, "%s: %s", neg[i].dir, out);
        free(out);
    }
    /* right sizes, wrong values: o_proj cut by rows; the divergence is placed */
    out = tu_cli(1, NULL, "check fixtures/real/tiny-qwen2 --tp 4 --rules "
             "fixtures/rules/qwen2-o-proj-column.json");
    ck_assert_msg(strstr(out, "diverges   at layer 0, attention") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "(parameters layers.0.self_attn)") != NULL, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "verdict    FAIL"));
    free(out);
    /* at TP 2 every key/value head is whole on its rank: the same wrong rules pass there */
    out = tu_cli(0, NULL, "check fixtures/real/tiny-qwen2 --tp 2 --rules "
             "fixtures/rules/qwen2-no-kv-replication.json");
    free(out);
    out = tu_cli(1, NULL, "check fixtures/real/tiny-qwen2 --tp 4 --rules "
             "fixtures/rules/qwen2-no-kv-replication.json");
    ck_assert_msg(strstr(out, "holds 2048 values of 'layers.0.self_attn.qkv_proj.weight', but the model's "
                              "computation on 4 ranks needs 3072") != NULL, "%s", out);
    free(out);
    /* a budget the whole model does not fit: refused with the way out; layer by layer fits */
    out = tu_cli(2, NULL, "check fixtures/real/tiny-qwen2 --tp 4 --pp 2 --max-memory 400K");
    ck_assert_ptr_nonnull(strstr(out, "over --max-memory 0.4 MB: check it layer by layer with --layers"));
    free(out);
    out = tu_cli(0, NULL, "check fixtures/real/tiny-qwen2 --tp 4 --pp 2 --max-memory 400K --layers 0,1");
    ck_assert_ptr_nonnull(strstr(out, "layer 1    stage 1:"));
    ck_assert_ptr_nonnull(strstr(out, "PASS: every layer checked"));
    free(out);
    out = tu_cli(2, NULL, "check fixtures/real/tiny-qwen2 --tp 4 --layers 1 --max-memory 100K");
    ck_assert_ptr_nonnull(strstr(out, "layer 1 needs 0.3 MB on the host"));
    free(out);
    free(tu_cli(1, "FAIL in attention", "check fixtures/real/tiny-qwen2 --tp 4 --layers 1 --rules "
             "fixtures/rules/qwen2-o-proj-column.json"));
    free(tu_cli(0, NULL, "check fixtures/moe/tiny-mixtral --tp 2 --ep --layers 0,1"));
    free(tu_cli(0, NULL, "check fixtures/quant/tiny-llama-fp8 --tp 4 --layers 1"));
    free(tu_cli(2, "layer 2 is not a decoder layer of this model", "check fixtures/real/tiny-qwen2 --layers 2"));
    /* what this version does not compute: a clear usage error */
    char *tmp = tu_tmpdir();
    ck_assert_ptr_nonnull(tmp);
    snprintf(cmd, sizeof cmd, "cp fixtures/real/tiny-llama3-rope/* %s/ && sed -i 's/\"llama3\"/\"su\"/' "
             "%s/config.json && %s check %s", tmp, tmp, tu_bin(), tmp);
    ck_assert_int_eq(tu_run(cmd, 1, &out), 2);
    ck_assert_ptr_nonnull(strstr(out, "rope_type \"su\" is not computed by this version (default, linear, "
                                      "dynamic, yarn, llama3, longrope and proportional rotary)"));
    free(out);
    /* longrope without its factors: the field is named with the count it needs */
    snprintf(cmd, sizeof cmd, "sed -i 's/\"su\"/\"longrope\"/' %s/config.json && %s check %s", tmp, tu_bin(), tmp);
    ck_assert_int_eq(tu_run(cmd, 1, &out), 2);
    ck_assert_msg(strstr(out, "'short_factor': longrope needs 8 positive numbers in short_factor, one per rotary "
                              "pair (16 rotary dims), not 0") != NULL, "%s", out);
    free(out);
    /* rotary dims the config makes odd: the fields to look at are named */
    snprintf(cmd, sizeof cmd, "sed -i 's/\"longrope\"/\"llama3\"/; s/^{/{\"partial_rotary_factor\": 0.1, /' "
             "%s/config.json", tmp);
    ck_assert_int_eq(system(cmd), 0);
    free(tu_cli(2, "1 rotary dims of a 16-wide head: not an even number of at least 2; check head_dim and "
             "partial_rotary_factor", "check %s", tmp));
    /* how the forward pass routes experts is the rules' "forward" section: a router it does not
     * compute, or rules that say nothing of an MoE config's experts, are named with the fix */
    for (int drop = 0; drop <= 1; drop++) {
        size_t len;
        char *text = (char *)tu_read_file("rules/builtin/mixtral.json", &len);
        ck_assert_ptr_nonnull(text);
        cJSON *j = cJSON_ParseWithLength(text, len), *fw = cJSON_GetObjectItem(j, "forward");
        ck_assert_ptr_nonnull(fw);
        if (drop)
            cJSON_DeleteItemFromObject(j, "forward");
        else
            cJSON_ReplaceItemInObject(fw, "router", cJSON_CreateString("\"sparsemixer\""));
        char *edited = cJSON_Print(j), path[600];
        snprintf(path, sizeof path, "%s/r%d.json", tmp, drop);
        tu_write_file(path, edited);
        out = tu_cli(2, NULL, "check fixtures/moe/tiny-mixtral --rules %s", path);
        if (drop)
            ck_assert_msg(strstr(out, "config.json describes experts, but rules \"mixtral\" do not say how the "
                                      "forward pass routes them: add a \"forward\" section") != NULL, "%s", out);
        else
            ck_assert_msg(strstr(out, "'forward.router': router \"sparsemixer\" (rules mixtral, line ") != NULL &&
                          strstr(out, "not computed; this version computes softmax, softmax_bias, group_limited_greedy, grouped_sigmoid") != NULL,
                          "%s", out);
        free(out);
        free(edited);
        cJSON_Delete(j);
        free(text);
    }
    /* Gemma's entries: an activation or block this version does not compute is named with what
     * it does; each entry changes the logits (dropping one fails transformers' reference) */
    static const struct { const char *entry, *value, *want; } gm[] = {
        {"act", "\"quick_gelu\"", "'forward.act': act \"quick_gelu\" (rules gemma2, line "},
        {"block", "\"prenorm\"", "not computed; this version computes pre, sandwich, parallel, post"},
        {"sliding", "0", "top-1 tokens agree"},
        {"final_softcap", "\"\"", "relative error 1.01 unsharded"}};
    for (unsigned g = 0; g < sizeof gm / sizeof *gm; g++) {
        size_t len;
        char *text = (char *)tu_read_file("rules/builtin/gemma2.json", &len), path[600];
        ck_assert_ptr_nonnull(text);
        cJSON *j = cJSON_ParseWithLength(text, len), *fw = cJSON_GetObjectItem(j, "forward");
        cJSON_ReplaceItemInObject(fw, gm[g].entry, cJSON_CreateString(gm[g].value));
        char *edited = cJSON_Print(j);
        snprintf(path, sizeof path, "%s/g%u.json", tmp, g);
        tu_write_file(path, edited);
        out = tu_cli(g < 2 ? 2 : 1, NULL, "check fixtures/real/tiny-gemma2 --rules %s", path);
        ck_assert_msg(strstr(out, gm[g].want) != NULL, "%s: %s", gm[g].entry, out);
        if (g >= 2)
            ck_assert_ptr_nonnull(strstr(out, "reference.logits): relative error"));
        free(out);
        free(edited);
        cJSON_Delete(j);
        free(text);
    }
    /* Hunyuan 3's and AFMoE's entries: the scale's config field, the shared experts' module, the
     * attention's own gate, muP's embedding scale and the sandwich norms around the experts each
     * change the logits (dropping one fails transformers' reference); a module name that is not one,
     * or an attention gate beside latent attention, is refused */
    static const struct { const char *rules, *dir, *entry, *value, *want; int rc; } hy[] = {
        {"hy_v3", "moe/tiny-hy-v3", "routed_scale", NULL, "relative error 0.598 unsharded", 1},
        {"hy_v3", "moe/tiny-hy-v3", "shared_module", NULL, "relative error 0.524 unsharded", 1},
        {"hy_v3", "moe/tiny-hy-v3", "shared_module", "\"shared mlp\"", "'forward.shared_module': must be a module's name", 2},
        {"afmoe", "moe/tiny-afmoe", "attn_gate", NULL, "relative error 0.74 unsharded", 1},
        {"afmoe", "moe/tiny-afmoe", "embed_scale", NULL, "relative error 1.07 unsharded", 1},
        {"afmoe", "moe/tiny-afmoe", "block", "\"pre\"", "reference.logits): relative error", 1},
        {"deepseek_v3", "oracle/variants/deepseek-v3-noaux-tc", "attn_gate", "\"gate_proj\"",
         "an attention gate module with latent attention or a gated DeltaNet", 2},
        {"mimo_v2", "moe/tiny-mimo-v2-flash", "v_scale", NULL, "relative error 0.305 unsharded", 1},
        {"mimo_v2", "moe/tiny-mimo-v2-flash", "sinks", NULL, "relative error 0.272 unsharded", 1},
        {"mimo_v2", "moe/tiny-mimo-v2-flash", "sliding", NULL, "relative error 0.89 unsharded", 1},
        {"deepseek_v3", "oracle/variants/deepseek-v3-noaux-tc", "v_head_dim", "16",
         "value heads of their own width with latent attention", 2},
        {"nemotron_h", "real/tiny-nemotron-h", "act", NULL, "relative error 0.697 unsharded", 1},
        {"nemotron_h", "real/tiny-nemotron-h", "norm_eps", NULL, "relative error 0.484 unsharded", 1},
        {"nemotron_h", "real/tiny-nemotron-h", "layer_kind", "\"mamba1\"", "not computed; this version computes mamba2, attention, mlp, moe and short_conv", 2},
        {"nemotron_h", "moe/tiny-nemotron-h-moe", "renorm", NULL, "relative error 0.571 unsharded", 1},
        {"nemotron_h", "moe/tiny-nemotron-h-latent", "shared", NULL, "relative error 0.971 unsharded", 1},
        {"nemotron_h", "moe/tiny-nemotron-h-latent", "groups", NULL, "relative error 0.248 unsharded", 1},
        {"nemotron", "real/tiny-nemotron", "norm_offset", NULL, "relative error 1.05 unsharded", 1},
        {"gemma", "real/tiny-gemma", "norm_offset", NULL, "relative error 0.768 unsharded", 1},
        {"gemma", "real/tiny-gemma", "embed_scale", NULL, "relative error 1.02 unsharded", 1},
        {"lfm2", "real/tiny-lfm2", "layer_mlp", NULL, "relative error 1.4 unsharded", 1},
        {"lfm2", "real/tiny-lfm2", "q_norm", NULL, "relative error 0.195 unsharded", 1},
        {"lfm2", "real/tiny-lfm2", "o_proj", NULL,
         "has no parameter 'layers.2.self_attn.o_proj.weight', which the forward pass", 2},
        {"lfm2", "real/tiny-lfm2", "ssm_conv", NULL, "holds 192 values of 'layers.0.short_conv.conv.weight', but the "
         "model's computation on 1 ranks needs 256", 2},
        {"lfm2", "real/tiny-lfm2", "layer_kind", "\"conv\"", "layer 0's kind \"conv\"", 2},
        {"lfm2_moe", "moe/tiny-lfm2-moe", "correction_bias", "\"\"", "relative error 0.554 unsharded", 1},
        {"lfm2_moe", "moe/tiny-lfm2-moe", "renorm", NULL, "relative error 0.37 unsharded", 1},
        {"cohere2_moe", "moe/tiny-cohere2-moe", "moe_average", NULL, "relative error 0.304 unsharded", 1},
        {"cohere2_moe", "moe/tiny-cohere2-moe", "rope", NULL, "relative error 0.0393 unsharded", 1},
        {"granitemoeshared", "moe/tiny-granitemoeshared", "shared", NULL, "relative error 0.047 unsharded", 1},
        {"stablelm", "real/tiny-stablelm", "norm", NULL, "relative error 0.106 unsharded", 1},
        {"nemotron_h", "moe/tiny-nemotron-h-latent", "latent", NULL, "experts of [48 x 32] and [32 x 48] do not make an MLP of hidden 64", 2},
        {"nemotron_h", "real/tiny-nemotron-h", "ssm_groups", "3", "a Mamba2 mixer of 4 heads of 16 in 3 groups", 2},
        {"granitemoehybrid", "moe/tiny-granitemoehybrid", "layer_mlp", NULL, "relative error 0.105 unsharded", 1},
        {"granitemoehybrid", "moe/tiny-granitemoehybrid", "shared", NULL, "relative error 0.0981 unsharded", 1},
        {"granitemoehybrid", "moe/tiny-granitemoehybrid", "rope", NULL, "relative error 0.00648 unsharded", 1},
        {"granitemoehybrid", "real/tiny-granitemoehybrid-dense", "residual_multiplier", NULL,
         "relative error 0.377 unsharded", 1},
        {"granitemoehybrid", "real/tiny-granitemoehybrid-dense", "ssm_module", NULL,
         "has no parameter 'layers.0.self_attn.in_proj.weight', which the forward pass", 2}};
    for (unsigned g = 0; g < sizeof hy / sizeof *hy; g++) {
        size_t len;
        char rpath[200], *text, path[600];
        snprintf(rpath, sizeof rpath, "rules/builtin/%s.json", hy[g].rules);
        text = (char *)tu_read_file(rpath, &len);
        ck_assert_ptr_nonnull(text);
        cJSON *j = cJSON_ParseWithLength(text, len), *fw = cJSON_GetObjectItem(j, "forward");
        if (hy[g].value && cJSON_GetObjectItem(fw, hy[g].entry))
            cJSON_ReplaceItemInObject(fw, hy[g].entry, cJSON_CreateString(hy[g].value));
        else if (hy[g].value)
            cJSON_AddStringToObject(fw, hy[g].entry, hy[g].value);
        else
            cJSON_DeleteItemFromObject(fw, hy[g].entry);
        char *edited = cJSON_Print(j);
        snprintf(path, sizeof path, "%s/h%u.json", tmp, g);
        tu_write_file(path, edited);
        out = tu_cli(hy[g].rc, NULL, "check fixtures/%s --rules %s", hy[g].dir, path);
        ck_assert_msg(strstr(out, hy[g].want) != NULL && (hy[g].rc != 1 || strstr(out, "FAIL: these weights")),
                      "%s %s: %s", hy[g].rules, hy[g].entry, out);
        free(out);
        free(edited);
        cJSON_Delete(j);
        free(text);
    }
    /* a setting vLLM defaults from its config class, which check cannot read from config.json, is
     * refused rather than computed otherwise */
    {
        char sub[700], cfgp[760];
        snprintf(sub, sizeof sub, "%s/mimo", tmp);
        ck_assert_int_eq(mkdir(sub, 0755), 0);
        tu_link_folder("fixtures/moe/tiny-mimo-v2-flash", sub, "config.json");
        size_t len;
        char *text = (char *)tu_read_file("fixtures/moe/tiny-mimo-v2-flash/config.json", &len);
        ck_assert_ptr_nonnull(text);
        cJSON *j = cJSON_ParseWithLength(text, len);
        cJSON_DeleteItemFromObject(j, "attention_value_scale");
        char *edited = cJSON_Print(j);
        snprintf(cfgp, sizeof cfgp, "%s/config.json", sub);
        tu_write_file(cfgp, edited);
        out = tu_cli(2, NULL, "check %s", sub);
        ck_assert_msg(strstr(out, "config.json gives no attention_value_scale (vLLM takes MiMoV2FlashConfig's 0.707)"),
                      "%s", out);
        free(out);
        free(edited);
        cJSON_Delete(j);
        free(text);
    }
    /* Gemma's GeLU is hidden_activation's (vLLM ignores hidden_act): the exact one where it says
     * "gelu", against transformers' logits for that config (reference-gelu.logits); the tanh one
     * where only hidden_act says "gelu", and lint notes it */
    {
        static const struct {
            const char *to, *logits;
            int rc;
            const char *want;
        } ge[] = {
            {"\"hidden_act\": \"gelu\"", "reference.logits", 0, "top-1 tokens agree 8/8: PASS"},
            {"\"hidden_act\": \"gelu\", \"hidden_activation\": \"gelu\"", "reference-gelu.logits", 0,
             "top-1 tokens agree 8/8: PASS"},
            {"\"hidden_act\": \"gelu\", \"hidden_activation\": \"gelu\"", "reference.logits", 1,
             "relative error 0.000282 unsharded"}};
        for (unsigned g = 0; g < sizeof ge / sizeof *ge; g++) {
            char *dir = tu_fixture_config_edit("fixtures/real/tiny-gemma", "\"hidden_act\": \"gelu_pytorch_tanh\",\n"
                                               "  \"hidden_activation\": \"gelu_pytorch_tanh\"", ge[g].to);
            char ref[1200], from[1200], cwd[1024];
            ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
            snprintf(ref, sizeof ref, "%s/reference.logits", dir);
            snprintf(from, sizeof from, "%s/fixtures/real/tiny-gemma/%s", cwd, ge[g].logits);
            ck_assert_int_eq(unlink(ref), 0);
            ck_assert_int_eq(symlink(from, ref), 0);
            out = tu_cli(ge[g].rc, NULL, "check %s --tp 2", dir);
            ck_assert_msg(strstr(out, ge[g].want) != NULL, "%s: %s", ge[g].to, out);
            free(out);
            out = tu_cli(0, NULL, "lint %s", dir);
            ck_assert_msg((strstr(out, "note    lint.config") != NULL) == (g == 0) &&
                          (g != 0 || strstr(out, "vLLM computes Gemma's GeGLU with the tanh GeLU (gelu_pytorch_tanh)")),
                          "%s: %s", ge[g].to, out);
            free(out);
            tu_rmtree(dir);
            free(dir);
        }
    }
    /* lint's words for what vLLM does, each from the oracle's records:
     * - a bias config.json asks for and vLLM's Gemma never builds: dropped, and no config edit helps
     *   (where config.json leaves the linear without one, fix the flag: golden lint-dropped-bias);
     * - LFM2 as transformers' Lfm2Config saves it: vLLM reads conv_dim where a stage's first layer is
     *   a convolution, block_dim in every layer's feed_forward;
     * - LFM2-MoE: a stage of its dense layer alone cannot be built; an expert_bias the config turns
     *   off is dropped by the loader's _bias rule, and lint says the experts are chosen without it;
     * - Mamba2 lacks SupportsPP; GraniteMoeHybrid's loader fails at PP 2;
     * - Nemotron-H: its layers' kinds from either config form; lint holds the Mamba2 groups to TP;
     * - StableLM with use_parallel_residual: vLLM loads it and computes the block in sequence;
     * - LFM2 with a null block_ffn_dim_multiplier: transformers' typed Lfm2Config refuses it */
    static const struct {
        int rc;
        const char *args, *want, *also;
    } lw[] = {
        {0, "fixtures/oracle/variants/gemma-attention-bias --tp 2",
         "warning lint.dropped_bias 'model.layers.0.self_attn.q_proj.bias': all ranks (0-1): 1 stored bias tensor "
         "(like this one): config.json sets attention_bias true, but vLLM GemmaForCausalLM (AutoWeightsLoader) builds "
         "these linears without a bias whatever it says and drops it without a word", NULL},
        {1, "fixtures/oracle/variants/lfm2-no-conv-dim --pp 2",
         "rank 0 (PP stage 0), layers 0-1: the model cannot be built: AttributeError: 'Lfm2Config' object has no "
         "attribute 'conv_dim'",
         "(PP stage 1), layers 2-3: the model cannot be built: AttributeError: 'Lfm2Config' object has no attribute "
         "'block_dim'"},
        {1, "fixtures/moe/tiny-lfm2-moe --pp 2 --pp-partition 1,3",
         "rank 0 (PP stage 0), layers 0-0: the model cannot be built: RuntimeError: No Lfm2MoeSparseMoeBlock layer "
         "found in the model.layers.", NULL},
        {0, "fixtures/oracle/variants/lfm2-moe-expert-bias-off",
         "note    lint.skipped 'model.layers.1.feed_forward.expert_bias': rank 0: 3 keys skipped (like this one): "
         "use_expert_bias is false", NULL},
        {1, "fixtures/real/tiny-mamba2 --pp 2",
         "NotImplementedError: Pipeline parallelism is not supported for this model.", NULL},
        {1, "fixtures/moe/tiny-granitemoehybrid --pp 2",
         "'model.layers.2.block_sparse_moe.router.layer.weight': rank 0 (PP stage 0): the load fails here first: "
         "KeyError: 'layers.2.block_sparse_moe.gate.weight'", NULL},
        {1, "fixtures/oracle/variants/nemotron-h-hub-config --tp 4",
         "AssertionError: If tensor parallel world size does not divide num_groups, then num_groups must equal 1.",
         NULL},
        {0, "fixtures/real/tiny-nemotron-h --tp 2 --pp 2 --ep", "0 errors", NULL},
        {1, "fixtures/oracle/variants/lfm2-ff-multiplier-null --tp 2",
         "error   lint.config_refused fixtures/oracle/variants/lfm2-ff-multiplier-null/config.json: vLLM cannot load "
         "config.json: TypeError: Field 'block_ffn_dim_multiplier' with value None doesn't match any type", NULL},
        {0, "fixtures/oracle/variants/stablelm-parallel-residual",
         "warning lint.config fixtures/oracle/variants/stablelm-parallel-residual/config.json: use_parallel_residual is "
         "true, but vLLM's StablelmDecoderLayer has no parallel residual", NULL}};
    for (unsigned i = 0; i < sizeof lw / sizeof *lw; i++) {
        out = tu_cli(lw[i].rc, NULL, "lint %s", lw[i].args);
        ck_assert_msg(strstr(out, lw[i].want) && (!lw[i].also || strstr(out, lw[i].also)), "lint %s: %s", lw[i].args,
                      out);
        free(out);
    }

    /* a loader that skips what it has no parameter for: the renamed tensor is a warning, the strict
     * check's error names what stayed empty */
    out = tu_cli(1, NULL, "lint fixtures/oracle/variants/mimo-v2-flash-sinks-renamed");
    ck_assert_msg(strstr(out, "lint.dropped model.safetensors: 'model.layers.1.self_attn.sinks'") &&
                  strstr(out, "skips it without a word") &&
                  strstr(out, "Following weights were not initialized from checkpoint: "
                              "{'model.layers.1.self_attn.attention_sink_bias', "
                              "'model.layers.2.self_attn.attention_sink_bias'}"), "%s", out);
    free(out);
    tu_rmtree(tmp);
    free(tmp);
    out = tu_cli(2, NULL, "check fixtures/real/tiny-qwen2 --tokens 5,300");
    ck_assert_ptr_nonnull(strstr(out, "token 300 is not below vocab_size 256"));
    free(out);
}
END_TEST

/* A config.json that makes a smaller model than the checkpoint holds (intermediate_size 96 for
 * 128-row MLP tensors) is refused at the load, naming the shard, the key, the parameter and what
 * to do, instead of loading a prefix of every tensor and passing. */
START_TEST(test_check_shape_misfit)
{
    char *tmp = tu_tmpdir(), path[1200], *out;
    ck_assert_ptr_nonnull(tmp);
    tu_link_folder("fixtures/real/tiny-qwen2", tmp, "config.json");
    size_t len;
    char *text = (char *)tu_read_file("fixtures/real/tiny-qwen2/config.json", &len);
    ck_assert_ptr_nonnull(text);
    cJSON *j = cJSON_Parse(text);
    ck_assert_ptr_nonnull(j);
    cJSON_ReplaceItemInObject(j, "intermediate_size", cJSON_CreateNumber(96));
    char *edited = cJSON_Print(j);
    snprintf(path, sizeof path, "%s/config.json", tmp);
    tu_write_file(path, edited);
    for (int tp = 1; tp <= 2; tp++) {
        out = tu_cli(2, NULL, "check %s --device cpu --tp %d", tmp, tp);
        ck_assert_msg(strstr(out, "model-00001-of-00003.safetensors: 'model.layers.0.mlp.gate_proj.weight': the "
                                  "[128 x 64] tensor") && strstr(out, "config.json makes 96 rows") &&
                      strstr(out, "parameter 'layers.0.mlp.gate_up_proj.weight'") &&
                      strstr(out, "'ckptdoc lint DIR' lists every key whose shape differs"), "%s", out);
        free(out);
    }
    free(edited);
    cJSON_Delete(j);
    free(text);
    tu_rmtree(tmp);
    free(tmp);
}
END_TEST

/* A folder of shards without config.json: lint, explain and check say so, name the folder and
 * what to do, with exit status 2. */
START_TEST(test_no_config)
{
    char *tmp = tu_tmpdir();
    ck_assert_ptr_nonnull(tmp);
    tu_link_folder("fixtures/real/tiny-llama-bf16", tmp, "config.json");
    static const char *cmds[] = {"lint %s", "explain %s lm_head.weight", "check %s --device cpu"};
    for (unsigned i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        char args[1400];
        snprintf(args, sizeof args, cmds[i], tmp);
        char *out = tu_cli(2, NULL, "%s", args);
        ck_assert_msg(strstr(out, tmp) && strstr(out, "no config.json in the folder") &&
                      strstr(out, "download the model's config.json beside the shards"), "%s: %s", args, out);
        free(out);
    }
    tu_rmtree(tmp);
    free(tmp);
}
END_TEST

/* The load onto the device gives the host load's parameters bit for bit (the same conversion
 * and dequantization code, the same cuts as copies), and the forward pass on the device the
 * C reference's logits: the transformers-written Qwen2 at TP 2 x PP 2, and block-FP8 and W8A16
 * Llamas dequantized as read. Without a device this says why and checks nothing more. */
START_TEST(test_device_load)
{
    char why[256];
    if (!kern_cuda_available(why, sizeof why)) {
        /* without a device: check falls back to the CPU unless the device was asked for by name */
        free(tu_cli(2, "--device cuda: no GPU to run on", "check fixtures/real/tiny-qwen2 --device cuda"));
        free(tu_cli(0, "no GPU (", "check fixtures/real/tiny-qwen2"));
        fprintf(stderr, "SKIP test_device_load: %s\n", why);
        return;
    }
    static const char *const dirs[] = {"fixtures/real/tiny-qwen2", "fixtures/quant/tiny-llama-fp8",
                                       "fixtures/quant/tiny-llama-w8a16", "fixtures/quant/tiny-llama-int8"};
    ck_err err;
    ck_err_clear(&err);
    kdev_stager *sg;
    ck_assert_msg(kdev_stager_new(1 << 16, &sg, &err) == CK_OK, "%s", err.msg); /* small chunks: many turns */
    for (unsigned di = 0; di < sizeof dirs / sizeof *dirs; di++) {
        ck_checkpoint ck;
        ck_assert_int_eq(ckpt_open(dirs[di], 1, &ck, &err), CK_OK);
        rules_file r;
        ck_assert_int_eq(rules_load_builtin(di ? "llama" : "qwen2", &r, &err), CK_OK);
        ck_config plain = ck.cfg;
        plain.has_quant = 0;
        const cfg_quant *deq = ck.cfg.has_quant ? &ck.cfg.quant : NULL;
        plan_layout lay = {2, 2, 0, {0}, 0, 0, NULL, 0};
        plan p;
        ck_findings f;
        findings_init(&f);
        ck_assert_int_eq(plan_build(&r, deq ? &plain : &ck.cfg, &lay, &p, &f, &err), CK_OK);
        rank_load host[4], dev[4];
        rank_load *hp[4], *dp[4];
        load_opts ho = {deq, -1, NULL, NULL, NULL, NULL, 0}, dO = {deq, -1, sg, NULL, NULL, NULL, 0};
        for (int st = 0; st < 2; st++) {
            uint64_t bh = 0, bd = 0;
            ck_assert_msg(load_stage(&ck, &p, st, 0, 2, host + 2 * st, &bh, &ho, &err) == CK_OK, "%s", err.msg);
            ck_assert_msg(load_stage(&ck, &p, st, 0, 2, dev + 2 * st, &bd, &dO, &err) == CK_OK, "%s: %s",
                          err.key, err.msg);
            ck_assert_int_eq(bh, bd);
        }
        /* device memory: exactly the plan's fp32 parameter bytes of the four ranks */
        uint64_t plan_bytes = 0;
        for (int st = 0; st < 2; st++)
            for (int k = 0; k < 2; k++)
                plan_bytes += load_bytes(&p, st, k, -1);
        ck_assert_uint_eq(kdev_bytes_in_use(), plan_bytes);
        for (int k = 0; k < 4; k++) {
            hp[k] = &host[k];
            dp[k] = &dev[k];
            ck_assert(dev[k].device && !host[k].device);
            for (size_t i = 0; i < host[k].n; i++) {
                ck_assert_int_eq(host[k].params[i].filled, dev[k].params[i].filled);
                ck_assert_msg(memcmp(host[k].params[i].data, dev[k].params[i].data,
                                     host[k].params[i].n * sizeof(float)) == 0,
                              "%s: rank %d parameter %s differs on the device", dirs[di], k,
                              host[k].params[i].pp->name);
            }
        }
        dense_dims d;
        ck_assert_int_eq(dense_dims_of(&p, &d, &err), CK_OK);
        int tok[5] = {1, 7, 42, 3, 9};
        size_t nv = 5 * (size_t)d.vocab;
        float *lh = malloc(nv * 4), *ld = malloc(nv * 4);
        ck_assert_int_eq(forward_dense(&p, &d, hp, tok, 5, lh, NULL, &err), CK_OK);
        d.device = 1;
        ck_assert_msg(forward_dense(&p, &d, dp, tok, 5, ld, NULL, &err) == CK_OK, "%s", err.msg);
        double num = 0, den = 0;
        for (size_t i = 0; i < nv; i++) {
            num += ((double)ld[i] - lh[i]) * ((double)ld[i] - lh[i]);
            den += (double)lh[i] * lh[i];
        }
        ck_assert_msg(den > 0 && sqrt(num / den) < 1e-5, "%s: device logits off by %g", dirs[di], sqrt(num / den));
        free(lh);
        free(ld);
        for (int k = 0; k < 4; k++) {
            rank_load_free(&host[k]);
            rank_load_free(&dev[k]);
        }
        plan_free(&p);
        findings_free(&f);
        rules_free(&r);
        ckpt_free(&ck);
    }
    ck_assert_int_eq(kdev_bytes_in_use(), 0);
    kdev_stager_free(sg);
}
END_TEST

/* A compact load (load_opts.compact: BF16/F16 matrices held as stored) holds the same values as
 * the fp32 load, in half the bytes for those matrices, and the forward pass over it gives the
 * same logits bit for bit: a Llama, Llama 3's rotary, an F16 Llama with tied embeddings and
 * gpt-oss, and a BF16 Qwen3-MoE whose routed experts are compact too (each converted alone when a
 * token picks it), with and without EP, at TP 2 x PP 2, every rank of a stage at once and each
 * rank alone. */
START_TEST(test_compact_load)
{
    static const struct {
        const char *dir, *rules;
        ck_dtype dt;
        int ep;
    } cases[] = {{"fixtures/real/tiny-llama-bf16", "llama", DT_BF16, 0},
                 {"fixtures/real/tiny-llama3-rope", "llama", DT_BF16, 0},
                 {"fixtures/real/tiny-llama-f16", "llama", DT_F16, 0},
                 {"fixtures/moe/tiny-gpt-oss", "gpt_oss", DT_BF16, 0},
                 {"fixtures/moe/tiny-gpt-oss", "gpt_oss", DT_BF16, 1},
                 {"fixtures/moe/tiny-qwen3-moe-bf16", "qwen2_moe", DT_BF16, 0},
                 {"fixtures/moe/tiny-qwen3-moe-bf16", "qwen2_moe", DT_BF16, 1}};
    ck_err err;
    ck_err_clear(&err);
    for (unsigned ci = 0; ci < sizeof cases / sizeof *cases; ci++)
        for (int alone = 0; alone <= 1; alone++) {
            ck_checkpoint ck;
            ck_assert_int_eq(ckpt_open(cases[ci].dir, 1, &ck, &err), CK_OK);
            rules_file r;
            ck_assert_int_eq(rules_load_builtin(cases[ci].rules, &r, &err), CK_OK);
            plan_layout lay = {2, 2, cases[ci].ep, {0}, 0, 0, NULL, 0};
            plan p;
            ck_findings f;
            findings_init(&f);
            ck_assert_int_eq(plan_build(&r, &ck.cfg, &lay, &p, &f, &err), CK_OK);
            rank_load full[4], half[4];
            rank_load *fp[4], *hp[4];
            load_opts fo = {NULL, -1, NULL, NULL, NULL, NULL, 0}, ho = {NULL, -1, NULL, NULL, NULL, NULL, 1};
            for (int st = 0; st < 2; st++)
                for (int k0 = 0; k0 < 2; k0 += alone ? 1 : 2) {
                    uint64_t bf = 0, bh = 0;
                    int nk = alone ? 1 : 2;
                    ck_assert_msg(load_stage(&ck, &p, st, k0, nk, full + 2 * st + k0, &bf, &fo, &err) == CK_OK,
                                  "%s", err.msg);
                    ck_assert_msg(load_stage(&ck, &p, st, k0, nk, half + 2 * st + k0, &bh, &ho, &err) == CK_OK,
                                  "%s: %s", err.key, err.msg);
                    ck_assert_uint_eq(bf, bh);
                }
            size_t compact = 0, experts = 0;
            for (int k = 0; k < 4; k++) {
                fp[k] = &full[k];
                hp[k] = &half[k];
                uint64_t held = 0;
                for (size_t i = 0; i < half[k].n; i++) {
                    const load_param *a = &full[k].params[i], *b = &half[k].params[i];
                    ck_assert_uint_eq(a->filled, b->filled);
                    held += b->half ? b->n * 2 : b->n * 4;
                    if (!b->half)
                        continue;
                    compact++;
                    experts += b->pp->experts != 0;
                    ck_assert(!b->data && b->half_dt == cases[ci].dt &&
                              ((b->pp->ndim == 2 && !b->pp->experts) || (b->pp->ndim == 3 && b->pp->experts)));
                    const float *v = load_param_floats(&half[k], b, &err);
                    ck_assert_ptr_nonnull(v);
                    ck_assert_msg(memcmp(v, a->data, a->n * sizeof *v) == 0, "%s rank %d: %s differs when compact",
                                  cases[ci].dir, k, b->pp->name);
                    float row[4096];
                    uint64_t cols = b->n / b->pp->local[0], last = b->pp->local[0] - 1;
                    ck_assert(cols <= 4096);
                    load_param_rows(b, cols, last, 1, row);
                    ck_assert(memcmp(row, a->data + last * cols, cols * sizeof *row) == 0);
                }
                ck_assert_uint_eq(rank_held_bytes(&half[k]), held);
                ck_assert_uint_lt(rank_held_bytes(&half[k]), rank_held_bytes(&full[k]));
                rank_scratch_reset(&half[k]);
            }
            ck_assert_msg(compact >= 4 * 4, "%s: only %zu compact parameters", cases[ci].dir, compact);
            /* per-expert tensors are held compact; gpt-oss stores its experts input-major (reordered: floats) */
            ck_assert(strstr(cases[ci].dir, "qwen3-moe") ? experts > 0 : experts == 0);
            dense_dims d;
            ck_assert_int_eq(dense_dims_of(&p, &d, &err), CK_OK);
            int tok[5] = {1, 7, 42, 3, 9};
            size_t nv = 5 * (size_t)d.vocab;
            float *lf = malloc(nv * 4), *lh = malloc(nv * 4);
            ck_assert_int_eq(forward_dense(&p, &d, fp, tok, 5, lf, NULL, &err), CK_OK);
            ck_assert_msg(forward_dense(&p, &d, hp, tok, 5, lh, NULL, &err) == CK_OK, "%s", err.msg);
            ck_assert_msg(memcmp(lf, lh, nv * 4) == 0, "%s: the compact load's logits differ", cases[ci].dir);
            free(lf);
            free(lh);
            for (int k = 0; k < 4; k++) {
                rank_load_free(&full[k]);
                rank_load_free(&half[k]);
            }
            plan_free(&p);
            findings_free(&f);
            rules_free(&r);
            ckpt_free(&ck);
        }
}
END_TEST

typedef struct {
    uint64_t last, total;
    size_t calls;
    int backwards;
} progress_log;

static void note_progress(uint64_t done, uint64_t total, void *ctx)
{
    progress_log *g = ctx;
    if (done < g->last || (g->calls && total != g->total))
        g->backwards = 1;
    g->last = done;
    g->total = total;
    g->calls++;
}

/* The load's progress: one call per checkpoint tensor, never backwards, ending at all the
 * checkpoint's tensor bytes, for each stage. */
START_TEST(test_load_progress)
{
    tu_planned x;
    tu_planned_open(&x, "fixtures/real/tiny-qwen2", 1, "qwen2", 2, 2);
    ck_assert(x.planned);
    const ck_checkpoint *ck = &x.ck;
    for (int st = 0; st < 2; st++) {
        progress_log g = {0, 0, 0, 0};
        load_opts o = {NULL, -1, NULL, note_progress, &g, NULL, 0};
        rank_load rl[2];
        uint64_t bytes = 0;
        ck_assert_int_eq(load_stage(ck, &x.p, st, 0, 2, rl, &bytes, &o, &x.err), CK_OK);
        ck_assert_uint_eq(g.calls, ck->n_tensors);
        ck_assert(!g.backwards);
        ck_assert_uint_eq(g.last, ck->bytes);
        ck_assert_uint_eq(g.total, ck->bytes);
        ck_assert_uint_gt(bytes, 0);
        ck_assert_uint_lt(bytes, ck->bytes); /* each stage reads only its own layers' tensors */
        rank_load_free(&rl[0]);
        rank_load_free(&rl[1]);
    }
    tu_planned_close(&x);
}
END_TEST

/* The check loader's dequantization of dir's linear weights equals the compressed-tensors
 * library's own decompression in the file deq, q/k/v and gate/up fused in their parameters; and
 * the layout lints clean, as vLLM loads it. */
static void equals_library(const char *dir, const char *deq)
{
    free(tu_cli(0, "0 errors, 0 warnings", "lint %s --tp 2 --pp 2", dir));
    ck_checkpoint ck, ref;
    ck_err err;
    ck_err_clear(&err);
    ck_assert_int_eq(ckpt_open(dir, 1, &ck, &err), CK_OK);
    ck_assert_int_eq(ckpt_open(deq, 1, &ref, &err), CK_OK);
    rules_file r;
    ck_assert_int_eq(rules_load_builtin("llama", &r, &err), CK_OK);
    ck_config plain = ck.cfg;
    plain.has_quant = 0;
    plan_layout lay = {1, 1, 0, {0}, 0, 0, NULL, 0};
    plan p;
    ck_findings f;
    findings_init(&f);
    ck_assert_int_eq(plan_build(&r, &plain, &lay, &p, &f, &err), CK_OK);
    rank_load rl;
    uint64_t bytes = 0;
    load_opts o = {&ck.cfg.quant, -1, NULL, NULL, NULL, NULL, 0};
    ck_assert_msg(load_stage(&ck, &p, 0, 0, 1, &rl, &bytes, &o, &err) == CK_OK, "%s", err.msg);
    static const struct {
        const char *param, *parts[3];
    } lin[] = {{"layers.0.self_attn.qkv_proj.weight", {"q_proj", "k_proj", "v_proj"}},
               {"layers.1.self_attn.o_proj.weight", {"o_proj"}},
               {"layers.0.mlp.gate_up_proj.weight", {"gate_proj", "up_proj"}},
               {"layers.1.mlp.down_proj.weight", {"down_proj"}}};
    for (unsigned i = 0; i < sizeof lin / sizeof *lin; i++) {
        const load_param *lp = rank_param(&rl, &p, lin[i].param);
        ck_assert_ptr_nonnull(lp);
        ck_assert_uint_eq(lp->filled, lp->n);
        uint64_t at = 0;
        double worst = 0;
        for (int k = 0; k < 3 && lin[i].parts[k]; k++) {
            char name[256];
            snprintf(name, sizeof name, "model.layers.%c.%s.%s.weight", lin[i].param[7],
                     strstr(lin[i].param, "self_attn") ? "self_attn" : "mlp", lin[i].parts[k]);
            uint64_t rows, cols;
            float *want = ck_floats(&ref, name, &rows, &cols);
            for (uint64_t e = 0; e < rows * cols; e++) {
                double d = fabs((double)lp->data[at + e] - want[e]) / (fabs(want[e]) + 1e-6);
                worst = d > worst ? d : worst;
            }
            at += rows * cols;
            free(want);
        }
        ck_assert_uint_eq(at, lp->n);
        ck_assert_msg(worst < 1e-6, "%s: %s: the dequantized weight differs from compressed-tensors' by %g",
                      dir, lin[i].param, worst);
    }
    rank_load_free(&rl);
    plan_free(&p);
    findings_free(&f);
    rules_free(&r);
    ckpt_free(&ref);
    ckpt_free(&ck);
}

/* compressed-tensors asymmetric W4A16 (zero points packed along the rows, as the library packs
 * them; fixtures/oracle/make_asym.py wrote both files). */
START_TEST(test_asymmetric_w4a16)
{
    ck_config cfg;
    ck_findings f;
    findings_init(&f);
    ck_assert_int_eq(config_load("fixtures/quant/tiny-llama-w4a16-asym/config.json", &cfg, &f), 0);
    ck_assert(cfg.present && cfg.has_quant);
    ck_assert_int_eq(cfg.quant.symmetric, 0); /* the fixture really is asymmetric */
    config_free(&cfg);
    findings_free(&f);
    equals_library("fixtures/quant/tiny-llama-w4a16-asym", "fixtures/quant/tiny-llama-w4a16-asym.dequantized.safetensors");
}
END_TEST

/* several config groups, each module dequantized by its own group's scheme (attention W8A16 and
 * MLP W4A16; attention FP8 and MLP W4A16, one MLP module in no group and left float32), as
 * fixtures/oracle/make_mixed.py wrote them with the library's compressors. */
START_TEST(test_config_groups)
{
    equals_library("fixtures/quant/tiny-llama-mixed", "fixtures/quant/tiny-llama-mixed.dequantized.safetensors");
    equals_library("fixtures/quant/tiny-llama-mixed-fp8", "fixtures/quant/tiny-llama-mixed-fp8.dequantized.safetensors");
}
END_TEST

/* NVFP4 (FP4 codes, FP8 group scales of 16, a global divisor shared by fused parts), W4A4 and
 * W4A16 (fixtures/oracle/make_nvfp4.py wrote them with the library's compressor). */
START_TEST(test_nvfp4)
{
    equals_library("fixtures/quant/tiny-llama-nvfp4", "fixtures/quant/tiny-llama-nvfp4.dequantized.safetensors");
    equals_library("fixtures/quant/tiny-llama-nvfp4a16", "fixtures/quant/tiny-llama-nvfp4.dequantized.safetensors");
    /* MXFP4: the same codes with E8M0 power-of-two scales per 32 inputs, no global scale */
    equals_library("fixtures/quant/tiny-llama-mxfp4", "fixtures/quant/tiny-llama-mxfp4.dequantized.safetensors");
}
END_TEST

/* --against with neither checkpoint quantized: the first block above the tolerance fails, named by
 * the parameter that differs (a norm entry negated is the norm, not the MLP after it; a transposed
 * o_proj is attention's); a copy equal to the original passes. The copies are made here from an
 * fp32 fixture, one tensor changed in place. */
START_TEST(test_against_exact)
{
    static const struct {
        const char *src, *key;
        int transpose; /* else: negate element 3 */
        const char *needle, *name;
    } cases[] = {
        {"fixtures/quant/tiny-llama-f32", "model.layers.0.post_attention_layernorm.weight", 0,
         "verdict    FAIL: layer 0, the MLP is the first block above the tolerance 1e-04",
         "its parameter layers.0.post_attention_layernorm.weight differs"},
        {"fixtures/quant/tiny-llama-f32", "model.layers.1.self_attn.o_proj.weight", 1,
         "verdict    FAIL: layer 1, attention is the first block above the tolerance 1e-04",
         "its parameter layers.1.self_attn.o_proj.weight differs"},
        /* a layer of one mixer: Nemotron-H's Mamba2 stands in attention's place, its MLP layers in the MLP's */
        {"fixtures/real/tiny-nemotron-h", "backbone.layers.0.mixer.D", 0,
         "verdict    FAIL: layer 0, attention is the first block above the tolerance 1e-04",
         "its parameter layers.0.mixer.D differs"},
        {"fixtures/real/tiny-nemotron-h", "backbone.layers.2.mixer.up_proj.weight", 0,
         "verdict    FAIL: layer 2, the MLP is the first block above the tolerance 1e-04",
         "its parameter layers.2.mixer.up_proj.weight differs"},
    };
    free(tu_cli(0, "PASS: every block matches within the tolerance 1e-04", "check %s --against %s",
                cases[0].src, cases[0].src));
    for (unsigned c = 0; c < sizeof cases / sizeof *cases; c++) {
        ck_checkpoint ck;
        ck_err err;
        ck_err_clear(&err);
        ck_assert_int_eq(ckpt_open(cases[c].src, 1, &ck, &err), CK_OK);
        ck_tensor_ref ref;
        ck_assert(ckpt_find(&ck, cases[c].key, &ref));
        const st_tensor *t = ckpt_tensor(&ck, ref);
        ck_assert_int_eq(t->dtype, DT_F32);
        size_t len;
        uint8_t *file = tu_read_file(ck.shards[ref.shard].path, &len);
        ck_assert_ptr_nonnull(file);
        float *v = (float *)(void *)(file + ck.shards[ref.shard].h.data_start + t->begin);
        if (cases[c].transpose) {
            uint64_t r = t->shape[0];
            ck_assert_uint_eq(t->shape[1], r);
            for (uint64_t i = 0; i < r; i++)
                for (uint64_t j = i + 1; j < r; j++) {
                    float x = v[i * r + j];
                    v[i * r + j] = v[j * r + i];
                    v[j * r + i] = x;
                }
        } else
            v[3] = -v[3];
        char *tmp = tu_tmpdir();
        ck_assert_ptr_nonnull(tmp);
        tu_link_folder(cases[c].src, tmp, ck.shards[ref.shard].name);
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", tmp, ck.shards[ref.shard].name);
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(file, 1, len, f), len);
        ck_assert_int_eq(fclose(f), 0);
        free(file);
        char *out = tu_cli(1, cases[c].needle, "check %s --against %s", cases[c].src, tmp);
        ck_assert_msg(strstr(out, cases[c].name) != NULL, "%s", out);
        free(out);
        tu_rmtree(tmp);
        free(tmp);
        ckpt_free(&ck);
    }
}
END_TEST

static Suite *load_suite(void)
{
    Suite *s = suite_create("load");
    TCase *core = tcase_create("core");
    tcase_add_test(core, test_against_exact);
    tcase_add_test(core, test_asymmetric_w4a16);
    tcase_add_test(core, test_nvfp4);
    tcase_add_test(core, test_config_groups);
    tcase_add_test(core, test_load_slices);
    tcase_add_test(core, test_shard_slices);
    tcase_add_test(core, test_check_cli);
    tcase_add_test(core, test_check_cli_reference);
    tcase_add_test(core, test_check_shape_misfit);
    tcase_add_test(core, test_no_config);
    tcase_add_test(core, test_device_load);
    tcase_add_test(core, test_load_progress);
    tcase_add_test(core, test_compact_load);
    tcase_set_timeout(core, 120);
    suite_add_tcase(s, core);
    return s;
}

int main(void)
{
    return tu_suite_run(load_suite());
}
