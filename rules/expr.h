/* expr.h - the expression language of rules files: integer arithmetic over config.json fields,
 * derived variables and pattern captures.
 *
 *   expr := a ? b : c | a || b | a && b | a == b (!= < <= > >=) | a ?? b | a + b (-) | a * b (/ %)
 *         | -a | !a | INT | "string" | null | true | false | NAME | NAME(args) | (expr)
 *   functions: ceil_div(a, b), min(a, b), max(a, b), round_up(a, b) (a rounded up to a multiple
 *   of b), defined(NAME) (1 when NAME is present and not null), contains(NAME, x) (1 when the
 *   config list NAME holds x; 0 when NAME is absent, null or empty), at(NAME, i) (element i of
 *   the config list NAME, an integer or a string; null when NAME is absent or i past its end),
 *   len(NAME) (the number of elements of the config list NAME; null when NAME is absent or null).
 *
 * Values are 64-bit integers, strings (compared with == and != only) or null; booleans are 0 and 1.
 * `a ?? b` is b when a is null or absent. Any other use of null, an absent name, a division by
 * zero or an overflow is an error with the column where it happened.
 *
 * Errors are reported in an expr_err (column and message), not a ck_err: rules.c wraps them. The
 * caller of expr_compile calls expr_free. */
#ifndef CK_EXPR_H
#define CK_EXPR_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int is_null;
    int is_str;         /* a string (config values such as topk_method); only == and != apply */
    int64_t v;
    const char *s;      /* is_str: slen bytes, borrowed from the lookup or the expression */
    size_t slen;
    int is_list;        /* a list from config.json; only contains(), at() and len() read it */
    const int64_t *list;/* integers, or NULL when the list holds strings (strs) */
    const char *const *strs;
    int nlist;
} expr_val;

/* Looks a name up: returns 1 and sets *out when known (null included), 0 when absent. */
typedef int (*expr_lookup)(void *ctx, const char *name, size_t len, expr_val *out);

typedef struct expr expr; /* opaque, immutable once compiled */

typedef struct {
    int col;            /* 1-based column in the expression text, 0 when not about one place */
    char msg[256];
} expr_err;

/* Compiles text (copied: it need not outlive e); NULL with *err filled on a syntax error or when
 * out of memory ("out of memory", col 0 or where it ran out). */
expr *expr_compile(const char *text, expr_err *err);
/* Frees e; accepts NULL. */
void expr_free(expr *e);
/* Evaluates e; 0 and *out, or -1 with *err filled. A string or list in *out is borrowed: from e's
 * text (valid until expr_free) or from what lookup returned. */
int expr_eval(const expr *e, expr_lookup lookup, void *ctx, expr_val *out, expr_err *err);
/* Whether a value counts as true (in !, &&, || and ?:, and in a rule's "when"): not null, and a
 * string or a non-zero number. */
int expr_truthy(const expr_val *v);
/* The text e was compiled from (e's copy, valid until expr_free). */
const char *expr_text(const expr *e);
/* Calls fn for every distinct name e reads (functions excluded); name points into e's text and is
 * not NUL-terminated at len. */
void expr_names(const expr *e, void (*fn)(void *ctx, const char *name, size_t len), void *ctx);

#endif
