/* fuzz_rules.c - libFuzzer target for the rules reader (and through it the expression and
 * pattern compilers): any bytes as a rules file must give a rules_file or an error with a
 * position, never a crash. Replayed without libFuzzer by tests/fuzz_replay.c in make check. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules.h"
#include "tests/fuzz_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    if (!text)
        return 0;
    rules_file r;
    ck_err err;
    ck_err_clear(&err);
    int rc = rules_parse(text, size, "fuzz.json", &r, &err);
    if (rc == CK_OK)
        rules_free(&r);
    else if (!err.msg[0])
        abort(); /* every rejection says why */
    /* the expression compiler on its own, on the same bytes */
    expr_err ee;
    expr *e = expr_compile(text, &ee);
    if (e) {
        expr_val v;
        expr_eval(e, NULL, NULL, &v, &ee);
        expr_free(e);
    }
    pattern p;
    char why[128];
    int col;
    if (pattern_compile(text, &p, why, sizeof why, &col) == 0) {
        pattern_value vals[PATTERN_MAX_CAPS];
        pattern_match(&p, text, size, vals);
        pattern_free(&p);
    }
    free(text);
    return 0;
}
