/* setup.c - what lint, explain and rules explain share: choosing the rules for a checkpoint,
 * and naming the family its keys look like. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "setup.h"

/* The family a checkpoint's key names suggest, from a few telltale module names. */
const char *keys_look_like(const ck_checkpoint *ck)
{
    int qkv = 0, qkv_bias = 0, mla = 0, moe_mixtral = 0, experts = 0;
    for (size_t i = 0; i < ck->n_tensors; i++) {
        const char *n = ckpt_tensor(ck, ck->tensors[i])->name;
        qkv |= strstr(n, ".self_attn.k_proj.") != NULL;
        qkv_bias |= strstr(n, ".self_attn.k_proj.bias") != NULL;
        mla |= strstr(n, ".kv_a_proj_with_mqa.") != NULL;
        moe_mixtral |= strstr(n, ".block_sparse_moe.") != NULL;
        experts |= strstr(n, ".mlp.experts.") != NULL;
    }
    if (mla)
        return "DeepSeek MLA attention (kv_a_proj_with_mqa)";
    if (moe_mixtral)
        return "Mixtral (block_sparse_moe experts)";
    if (qkv && experts)
        return "a Qwen-MoE-style model (q/k/v projections, mlp.experts)";
    if (qkv_bias)
        return "Qwen2 (q/k/v projections with bias, as in the R1-Distill-Qwen models)";
    if (qkv)
        return "Llama (q/k/v projections without bias, as in R1-Distill-Llama)";
    return "no family ckptdoc knows";
}

int rules_match(const rules_file *r, const ck_config *c)
{
    for (int i = 0; i < r->n_model_types; i++)
        if (strcmp(r->model_types[i], c->model_type) == 0)
            return 1;
    for (int i = 0; i < r->n_architectures; i++)
        if (strstr(c->architectures, r->architectures[i]))
            return 1;
    return 0;
}

/* The rules: --rules as a file or a built-in name, else the built-in that matches config.json. */
int choose_rules(const char *path, const char *rules, const ck_config *cfg, rules_file *r, ck_err *err)
{
    struct stat st;
    if (rules && stat(rules, &st) == 0)
        return rules_load_file(rules, r, err);
    if (rules)
        return rules_load_builtin(rules, r, err);
    for (size_t i = 0; i < rules_builtin_count(); i++) {
        if (rules_load_builtin(rules_builtin_name(i), r, err) != CK_OK)
            return err->code;
        if (rules_match(r, cfg))
            return CK_OK;
        rules_free(r);
    }
    return ck_err_set(err, CK_EUSAGE, path, NULL, CK_NO_OFFSET, "no built-in rules for "
                      "model_type \"%s\" (%s); name some with --rules (see 'ckptdoc rules list')",
                      cfg->model_type, cfg->architectures[0] ? cfg->architectures : "no architectures");
}

