/* setup.c - what lint, explain and rules explain share: choosing the rules for a checkpoint,
 * and naming the family its keys look like. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/setup.h"

/* The family a checkpoint's key names suggest: the built-in rules whose match.keys patterns all
 * occur among the keys, the one with the most patterns when several do. */
const char *keys_look_like(const ck_checkpoint *ck, char *buf, size_t size)
{
    snprintf(buf, size, "no family ckptdoc knows");
    int best = 0;
    for (size_t b = 0; b < rules_builtin_count(); b++) {
        rules_file r;
        ck_err err;
        if (rules_load_builtin(rules_builtin_name(b), &r, &err) != CK_OK)
            continue;
        int n = r.n_family_keys, left = n;
        if (n > best && r.family) {
            char seen[64] = {0};
            pattern_value v[PATTERN_MAX_CAPS];
            for (size_t i = 0; i < ck->n_tensors && left > 0; i++) {
                const char *name = ckpt_tensor(ck, ck->tensors[i])->name;
                size_t len = strlen(name);
                for (int k = 0; k < n && k < 64; k++)
                    if (!seen[k] && pattern_match(&r.family_keys[k], name, len, v)) {
                        seen[k] = 1;
                        left--;
                    }
            }
            if (left == 0) {
                best = n;
                snprintf(buf, size, "%s", r.family);
            }
        }
        rules_free(&r);
    }
    return buf;
}

int parse_tp_pp(int opt, const char *arg, plan_layout *lay, const char *cmd)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (end == arg || *end || v < 1 || v > (opt == 'p' ? PLAN_MAX_PP : 4096)) {
        fprintf(stderr, "ckptdoc %s: --%s must be an integer from 1 to %d, not '%s'\n", cmd,
                opt == 't' ? "tp" : "pp", opt == 'p' ? PLAN_MAX_PP : 4096, arg);
        return -1;
    }
    *(opt == 't' ? &lay->tp : &lay->pp) = (int)v;
    return 0;
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
        if (r->auto_choose && rules_match(r, cfg))
            return CK_OK;
        rules_free(r);
    }
    return ck_err_set(err, CK_EUSAGE, path, NULL, CK_NO_OFFSET, "no built-in rules for "
                      "model_type \"%s\" (%s); name some with --rules (see 'ckptdoc rules list')",
                      cfg->model_type, cfg->architectures[0] ? cfg->architectures : "no architectures");
}

