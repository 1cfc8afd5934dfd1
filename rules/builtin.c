/* builtin.c - the table of built-in rules files (their text is embedded by builtin.S). */
#include <string.h>

#include "rules/rules.h"

typedef struct {
    const char *name;
    const char *text;
} builtin_rule;

extern const builtin_rule ck_rules_builtin[]; /* ends with {NULL, NULL} */

size_t rules_builtin_count(void)
{
    size_t n = 0;
    while (ck_rules_builtin[n].name)
        n++;
    return n;
}

const char *rules_builtin_name(size_t i)
{
    return i < rules_builtin_count() ? ck_rules_builtin[i].name : NULL;
}

const char *rules_builtin_text(size_t i, size_t *len)
{
    if (i >= rules_builtin_count())
        return NULL;
    *len = strlen(ck_rules_builtin[i].text);
    return ck_rules_builtin[i].text;
}
