/* builtin.c - the table of built-in rules files (their text is embedded by builtin.S). */
#include <string.h>

#include "rules.h"

extern const char ck_rules_deepseek_v3[];
extern const char ck_rules_qwen2[];
extern const char ck_rules_llama[];
extern const char ck_rules_mixtral[];
extern const char ck_rules_deepseek_ref[];
extern const char ck_rules_deepseek_v3_hf[];

static const struct {
    const char *name;
    const char *text;
} builtins[] = {
    {"deepseek_v3", ck_rules_deepseek_v3},
    {"qwen2", ck_rules_qwen2},
    {"llama", ck_rules_llama},
    {"mixtral", ck_rules_mixtral},
    {"deepseek-ref", ck_rules_deepseek_ref},
    {"deepseek_v3-hf", ck_rules_deepseek_v3_hf},
};

size_t rules_builtin_count(void)
{
    return sizeof builtins / sizeof *builtins;
}

const char *rules_builtin_name(size_t i)
{
    return i < rules_builtin_count() ? builtins[i].name : NULL;
}

const char *rules_builtin_text(size_t i, size_t *len)
{
    if (i >= rules_builtin_count())
        return NULL;
    *len = strlen(builtins[i].text);
    return builtins[i].text;
}
