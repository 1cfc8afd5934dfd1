/* expr.c - a recursive-descent compiler to a tree in one array, and a tree evaluator. */
#include "rules/expr.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    N_INT, N_STR, N_NULL, N_NAME, N_NEG, N_NOT, N_BIN, N_AND, N_OR, N_COAL, N_COND, N_CALL
} node_kind;

typedef enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE } bin_op;
typedef enum { F_CEIL_DIV, F_MIN, F_MAX, F_ROUND_UP, F_DEFINED, F_CONTAINS, F_AT, F_LEN, F_RINDEX, F_INDEX,
               F_PRESENT } func_id;
/* the functions whose first argument is a name, not a value */
#define NAMED_ONLY(id) ((id) == F_DEFINED || (id) == F_LEN || (id) == F_PRESENT) /* f(NAME) */
#define NAMED_CALL(x) \
    ((x)->kind == N_CALL && (NAMED_ONLY((x)->v) || (x)->v == F_CONTAINS || (x)->v == F_AT || (x)->v == F_RINDEX || (x)->v == F_INDEX))

typedef struct {
    node_kind kind;
    int col;
    int a, b, c;        /* children (node indices), -1 when unused */
    int depth;          /* the subtree's height: evaluation recurses as deep */
    int64_t v;          /* N_INT value, N_BIN op, N_CALL func */
    size_t name, len;   /* N_NAME / defined(): offset and length in text */
} node;

struct expr {
    char *text;
    node *n;
    int nn, cap, root;
};

typedef struct {
    expr *e;
    const char *s;
    size_t i;
    expr_err *err;
    int failed;
    int depth;
} parser;

#define MAX_DEPTH 64
/* the tree's height: chains of binary operators (1 + 1 + ... + 1) are built in loops, not by
 * recursion, so MAX_DEPTH alone would let them grow as deep as the text is long, and evaluating
 * them overflow the stack */
#define MAX_HEIGHT 256

static int perr(parser *p, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int perr(parser *p, size_t at, const char *fmt, ...)
{
    if (!p->failed) {
        p->failed = 1;
        p->err->col = (int)at + 1;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err->msg, sizeof p->err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int add_node(parser *p, node_kind k, size_t at)
{
    expr *e = p->e;
    if (e->nn == e->cap) {
        int cap = e->cap ? e->cap * 2 : 16;
        node *n = realloc(e->n, (size_t)cap * sizeof *n);
        if (!n)
            return perr(p, at, "out of memory");
        e->n = n;
        e->cap = cap;
    }
    node *x = &e->n[e->nn];
    memset(x, 0, sizeof *x);
    x->kind = k;
    x->col = (int)at + 1;
    x->a = x->b = x->c = -1;
    x->depth = 1;
    return e->nn++;
}

/* Node r's height from its children's; an error past MAX_HEIGHT. r, or -1. */
static int deepen(parser *p, int r, size_t at)
{
    if (r < 0)
        return r;
    node *x = &p->e->n[r];
    int kids[3] = {x->a, x->b, x->c}, h = 0;
    for (int i = 0; i < 3; i++)
        if (kids[i] >= 0 && p->e->n[kids[i]].depth > h)
            h = p->e->n[kids[i]].depth;
    x->depth = h + 1;
    return x->depth > MAX_HEIGHT ? perr(p, at, "expression nested too deeply (more than %d operations deep)",
                                        MAX_HEIGHT) : r;
}

static void ws(parser *p)
{
    while (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n')
        p->i++;
}

static int is_id0(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_id(char c)
{
    return is_id0(c) || (c >= '0' && c <= '9');
}

/* Past a name at p->i: letters, digits and underscores, and dots before a letter (a nested
 * config field, vision_config.num_heads). */
static void skip_name(parser *p)
{
    while (is_id(p->s[p->i]) || (p->s[p->i] == '.' && is_id0(p->s[p->i + 1])))
        p->i++;
}

static int accept(parser *p, const char *tok)
{
    ws(p);
    size_t l = strlen(tok);
    if (strncmp(p->s + p->i, tok, l) != 0)
        return 0;
    /* do not take '<' out of '<=', or '?' out of '??' */
    if (l == 1 && (tok[0] == '<' || tok[0] == '>' || tok[0] == '=' || tok[0] == '!') &&
        p->s[p->i + 1] == '=')
        return 0;
    if (l == 1 && tok[0] == '?' && p->s[p->i + 1] == '?')
        return 0;
    p->i += l;
    return 1;
}

static int parse_expr(parser *p);

static int parse_primary(parser *p)
{
    ws(p);
    size_t at = p->i;
    char c = p->s[at];
    if (c >= '0' && c <= '9') {
        int64_t v = 0;
        while (p->s[p->i] >= '0' && p->s[p->i] <= '9') {
            int d = p->s[p->i] - '0';
            if (v > (INT64_MAX - d) / 10)
                return perr(p, at, "integer too large");
            v = v * 10 + d;
            p->i++;
        }
        if (is_id(p->s[p->i]))
            return perr(p, p->i, "unexpected '%c' after a number", p->s[p->i]);
        int k = add_node(p, N_INT, at);
        if (k >= 0)
            p->e->n[k].v = v;
        return k;
    }
    if (c == '"') {
        size_t b = ++p->i;
        while (p->s[p->i] && p->s[p->i] != '"')
            p->i++;
        if (!p->s[p->i])
            return perr(p, at, "string not terminated");
        int k = add_node(p, N_STR, at);
        if (k >= 0) {
            p->e->n[k].name = b;
            p->e->n[k].len = p->i - b;
        }
        p->i++;
        return k;
    }
    if (c == '(') {
        p->i++;
        int k = parse_expr(p);
        if (k < 0)
            return -1;
        if (!accept(p, ")"))
            return perr(p, p->i, "expected ')'");
        return k;
    }
    if (!c)
        return perr(p, at, "unexpected end of expression");
    if (!is_id0(c))
        return perr(p, at, "unexpected '%c'", c);
    size_t b = p->i;
    skip_name(p);
    size_t len = p->i - b;
    if (len == 4 && strncmp(p->s + b, "null", 4) == 0)
        return add_node(p, N_NULL, at);
    if ((len == 4 && strncmp(p->s + b, "true", 4) == 0) ||
        (len == 5 && strncmp(p->s + b, "false", 5) == 0)) {
        int k = add_node(p, N_INT, at);
        if (k >= 0)
            p->e->n[k].v = len == 4;
        return k;
    }
    ws(p);
    if (p->s[p->i] != '(') {
        int k = add_node(p, N_NAME, at);
        if (k >= 0) {
            p->e->n[k].name = b;
            p->e->n[k].len = len;
        }
        return k;
    }
    static const struct { const char *name; func_id id; int args; } funcs[] = {
        {"ceil_div", F_CEIL_DIV, 2}, {"min", F_MIN, 2}, {"max", F_MAX, 2},
        {"round_up", F_ROUND_UP, 2}, {"defined", F_DEFINED, 1}, {"contains", F_CONTAINS, 2},
        {"at", F_AT, 2}, {"len", F_LEN, 1}, {"rindex", F_RINDEX, 3}, {"index", F_INDEX, 3},
        {"present", F_PRESENT, 1}};
    int fi = -1;
    for (unsigned k = 0; k < sizeof funcs / sizeof *funcs; k++)
        if (strlen(funcs[k].name) == len && strncmp(funcs[k].name, p->s + b, len) == 0)
            fi = (int)k;
    if (fi < 0)
        return perr(p, at, "unknown function '%.*s' (known: ceil_div, min, max, round_up, defined, present, contains, at, "
                    "len, index, rindex)",
                    (int)len, p->s + b);
    p->i++;
    int k = add_node(p, N_CALL, at);
    if (k < 0)
        return -1;
    p->e->n[k].v = funcs[fi].id;
    if (NAMED_ONLY(funcs[fi].id) || funcs[fi].id == F_CONTAINS || funcs[fi].id == F_AT || funcs[fi].id == F_RINDEX ||
        funcs[fi].id == F_INDEX) {
        ws(p);
        size_t nb = p->i;
        skip_name(p);
        if (p->i == nb || !is_id0(p->s[nb]))
            return perr(p, nb, "%s() takes a name first", funcs[fi].name);
        p->e->n[k].name = nb;
        p->e->n[k].len = p->i - nb;
        if (!NAMED_ONLY(funcs[fi].id)) {
            ws(p);
            if (!accept(p, ","))
                return perr(p, p->i, "expected ',' in %s()", funcs[fi].name);
            int a = parse_expr(p);
            if (a < 0)
                return -1;
            p->e->n[k].a = a;
            if (funcs[fi].id == F_RINDEX || funcs[fi].id == F_INDEX) { /* (NAME, value, before or from) */
                if (!accept(p, ","))
                    return perr(p, p->i, "expected ',' in %s()", funcs[fi].name);
                int bb = parse_expr(p);
                if (bb < 0)
                    return -1;
                p->e->n[k].b = bb;
            }
        }
    } else {
        int a = parse_expr(p);
        if (a < 0)
            return -1;
        if (!accept(p, ","))
            return perr(p, p->i, "expected ',' in %s()", funcs[fi].name);
        int bb = parse_expr(p);
        if (bb < 0)
            return -1;
        p->e->n[k].a = a;
        p->e->n[k].b = bb;
    }
    if (!accept(p, ")"))
        return perr(p, p->i, "expected ')' closing %s(", funcs[fi].name);
    return deepen(p, k, at);
}

static int parse_unary(parser *p)
{
    ws(p);
    size_t at = p->i;
    if (++p->depth > MAX_DEPTH)
        return perr(p, at, "expression nested too deeply");
    int r;
    if (accept(p, "-") || accept(p, "!")) {
        node_kind k = p->s[at] == '-' ? N_NEG : N_NOT;
        int a = parse_unary(p);
        if (a < 0)
            return -1;
        r = add_node(p, k, at);
        if (r >= 0)
            p->e->n[r].a = a;
        r = deepen(p, r, at);
    } else
        r = parse_primary(p);
    p->depth--;
    return r;
}

static int bin(parser *p, node_kind k, int op, int a, int b, size_t at)
{
    if (a < 0 || b < 0)
        return -1;
    int r = add_node(p, k, at);
    if (r >= 0) {
        p->e->n[r].a = a;
        p->e->n[r].b = b;
        p->e->n[r].v = op;
    }
    return deepen(p, r, at);
}

static int parse_mul(parser *p)
{
    int a = parse_unary(p);
    for (;;) {
        ws(p);
        size_t at = p->i;
        int op = accept(p, "*") ? OP_MUL : accept(p, "/") ? OP_DIV : accept(p, "%") ? OP_MOD : -1;
        if (op < 0 || a < 0)
            return a;
        a = bin(p, N_BIN, op, a, parse_unary(p), at);
    }
}

static int parse_add(parser *p)
{
    int a = parse_mul(p);
    for (;;) {
        ws(p);
        size_t at = p->i;
        int op = accept(p, "+") ? OP_ADD : accept(p, "-") ? OP_SUB : -1;
        if (op < 0 || a < 0)
            return a;
        a = bin(p, N_BIN, op, a, parse_mul(p), at);
    }
}

static int parse_coal(parser *p)
{
    int a = parse_add(p);
    for (;;) {
        ws(p);
        size_t at = p->i;
        if (a < 0 || !accept(p, "??"))
            return a;
        a = bin(p, N_COAL, 0, a, parse_add(p), at);
    }
}

static int parse_cmp(parser *p)
{
    int a = parse_coal(p);
    ws(p);
    size_t at = p->i;
    int op = accept(p, "==") ? OP_EQ : accept(p, "!=") ? OP_NE : accept(p, "<=") ? OP_LE
           : accept(p, ">=") ? OP_GE : accept(p, "<") ? OP_LT : accept(p, ">") ? OP_GT : -1;
    if (op < 0 || a < 0)
        return a;
    return bin(p, N_BIN, op, a, parse_coal(p), at);
}

static int parse_and(parser *p)
{
    int a = parse_cmp(p);
    for (;;) {
        ws(p);
        size_t at = p->i;
        if (a < 0 || !accept(p, "&&"))
            return a;
        a = bin(p, N_AND, 0, a, parse_cmp(p), at);
    }
}

static int parse_or(parser *p)
{
    int a = parse_and(p);
    for (;;) {
        ws(p);
        size_t at = p->i;
        if (a < 0 || !accept(p, "||"))
            return a;
        a = bin(p, N_OR, 0, a, parse_and(p), at);
    }
}

static int parse_expr(parser *p)
{
    if (++p->depth > MAX_DEPTH)
        return perr(p, p->i, "expression nested too deeply");
    int a = parse_or(p);
    ws(p);
    size_t at = p->i;
    if (a >= 0 && accept(p, "?")) {
        int b = parse_expr(p);
        if (b < 0)
            return -1;
        if (!accept(p, ":"))
            return perr(p, p->i, "expected ':' in a ? b : c");
        int c = parse_expr(p);
        if (c < 0)
            return -1;
        int r = add_node(p, N_COND, at);
        if (r >= 0) {
            p->e->n[r].a = a;
            p->e->n[r].b = b;
            p->e->n[r].c = c;
        }
        a = deepen(p, r, at);
    }
    p->depth--;
    return a;
}

expr *expr_compile(const char *text, expr_err *err)
{
    memset(err, 0, sizeof *err);
    expr *e = calloc(1, sizeof *e);
    if (!e || !(e->text = strdup(text))) {
        free(e);
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return NULL;
    }
    parser p = {e, e->text, 0, err, 0, 0};
    e->root = parse_expr(&p);
    ws(&p);
    if (e->root >= 0 && p.s[p.i])
        perr(&p, p.i, "unexpected '%c' after the expression", p.s[p.i]);
    if (p.failed || e->root < 0) {
        expr_free(e);
        return NULL;
    }
    return e;
}

void expr_free(expr *e)
{
    if (!e)
        return;
    free(e->text);
    free(e->n);
    free(e);
}

const char *expr_text(const expr *e)
{
    return e->text;
}

void expr_names(const expr *e, void (*fn)(void *ctx, const char *name, size_t len), void *ctx)
{
    for (int i = 0; i < e->nn; i++) {
        const node *x = &e->n[i];
        if (x->kind != N_NAME && !NAMED_CALL(x))
            continue;
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) {
            const node *y = &e->n[j];
            seen = (y->kind == N_NAME || NAMED_CALL(y)) &&
                   y->len == x->len && strncmp(e->text + y->name, e->text + x->name, x->len) == 0;
        }
        if (!seen)
            fn(ctx, e->text + x->name, x->len);
    }
}

/* ------------------------------------------------------------------------------------------ */

typedef struct {
    const expr *e;
    expr_lookup lookup;
    void *ctx;
    expr_err *err;
} evaluator;

static int eerr(evaluator *ev, const node *x, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int eerr(evaluator *ev, const node *x, const char *fmt, ...)
{
    ev->err->col = x->col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ev->err->msg, sizeof ev->err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int expr_truthy(const expr_val *v)
{
    return !v->is_null && (v->is_str || v->v != 0);
}

static int eval(evaluator *ev, int k, expr_val *out);

static int eval_int(evaluator *ev, int k, int64_t *v)
{
    expr_val x;
    if (eval(ev, k, &x))
        return -1;
    if (x.is_str)
        return eerr(ev, &ev->e->n[k], "a string where a number is needed");
    if (x.is_list)
        return eerr(ev, &ev->e->n[k], "a list where a number is needed (use contains())");
    if (x.is_null) {
        const node *n = &ev->e->n[k];
        if (n->kind == N_NAME)
            return eerr(ev, n, "'%.*s' is null (use ?? to give a default)", (int)n->len,
                        ev->e->text + n->name);
        return eerr(ev, n, "value is null where a number is needed");
    }
    *v = x.v;
    return 0;
}

/* A binary operator: comparison of any values, arithmetic with overflow checks. */
static int eval_bin(evaluator *ev, const node *x, expr_val *out)
{
    int64_t a, b;
    if (x->v == OP_EQ || x->v == OP_NE) {
        expr_val l, r;
        if (eval(ev, x->a, &l) || eval(ev, x->b, &r))
            return -1;
        int eq = l.is_null || r.is_null ? l.is_null == r.is_null
               : l.is_str || r.is_str ? l.is_str && r.is_str && l.slen == r.slen &&
                                            memcmp(l.s, r.s, l.slen) == 0
               : l.v == r.v;
        out->v = x->v == OP_EQ ? eq : !eq;
        return 0;
    }
    if (eval_int(ev, x->a, &a) || eval_int(ev, x->b, &b))
        return -1;
    switch ((bin_op)x->v) {
    case OP_ADD:
        if (__builtin_add_overflow(a, b, &out->v))
            return eerr(ev, x, "integer overflow");
        return 0;
    case OP_SUB:
        if (__builtin_sub_overflow(a, b, &out->v))
            return eerr(ev, x, "integer overflow");
        return 0;
    case OP_MUL:
        if (__builtin_mul_overflow(a, b, &out->v))
            return eerr(ev, x, "integer overflow");
        return 0;
    case OP_DIV:
    case OP_MOD:
        if (b == 0)
            return eerr(ev, x, "division by zero");
        if (a == INT64_MIN && b == -1)
            return eerr(ev, x, "integer overflow");
        out->v = x->v == OP_DIV ? a / b : a % b;
        return 0;
    case OP_LT: out->v = a < b; return 0;
    case OP_LE: out->v = a <= b; return 0;
    case OP_GT: out->v = a > b; return 0;
    case OP_GE: out->v = a >= b; return 0;
    default: return eerr(ev, x, "bad operator");
    }
}

/* A function call: defined(), contains(), at(), len(), min, max, ceil_div, round_up. */
static int eval_call(evaluator *ev, const node *x, expr_val *out)
{
    int64_t a, b;
    if (x->v == F_AT) { /* element i of a config list, null when absent or past its end */
        expr_val v;
        memset(&v, 0, sizeof v);
        int found = ev->lookup && ev->lookup(ev->ctx, ev->e->text + x->name, x->len, &v);
        if (eval_int(ev, x->a, &a))
            return -1;
        if (found && !v.is_null && !v.is_list)
            return eerr(ev, x, "'%.*s' is not a list", (int)x->len, ev->e->text + x->name);
        if (!found || v.is_null || a < 0 || a >= v.nlist) {
            out->is_null = 1;
            return 0;
        }
        if (v.strs) {
            out->is_str = 1;
            out->s = v.strs[a];
            out->slen = strlen(v.strs[a]);
        } else
            out->v = v.list[a];
        return 0;
    }
    if (x->v == F_LEN) { /* the length of a config list, null when absent */
        expr_val v;
        memset(&v, 0, sizeof v);
        int found = ev->lookup && ev->lookup(ev->ctx, ev->e->text + x->name, x->len, &v);
        if (!found || v.is_null) {
            out->is_null = 1;
            return 0;
        }
        if (!v.is_list)
            return eerr(ev, x, "len() of '%.*s', which is not a list", (int)x->len, ev->e->text + x->name);
        out->v = v.nlist;
        return 0;
    }
    if (x->v == F_DEFINED || x->v == F_PRESENT) { /* present: given, null included */
        expr_val v;
        int found = ev->lookup && ev->lookup(ev->ctx, ev->e->text + x->name, x->len, &v);
        out->v = found && (x->v == F_PRESENT || !v.is_null);
        return 0;
    }
    if (x->v == F_RINDEX || x->v == F_INDEX) {
        /* rindex: the last index below `before` holding the value; index: the first from `from` on;
         * -1 when none */
        expr_val v, w;
        memset(&v, 0, sizeof v);
        memset(&w, 0, sizeof w);
        int found = ev->lookup && ev->lookup(ev->ctx, ev->e->text + x->name, x->len, &v);
        if (eval(ev, x->a, &w) || eval_int(ev, x->b, &b))
            return -1;
        if (!found || v.is_null) {
            out->is_null = 1;
            return 0;
        }
        if (!v.is_list)
            return eerr(ev, x, "'%.*s' is not a list", (int)x->len, ev->e->text + x->name);
        out->v = -1;
        if (!v.nlist || (x->v == F_RINDEX && b <= 0))
            return 0; /* nothing to find (an empty list has no element type) */
        if (w.is_null || w.is_list || !w.is_str != !v.strs)
            return eerr(ev, x, "%s() looks for %s in '%.*s', a list of %s", x->v == F_INDEX ? "index" : "rindex",
                        w.is_str ? "a string" : "a number", (int)x->len, ev->e->text + x->name,
                        v.strs ? "strings" : "integers");
        out->v = -1;
        int64_t i = x->v == F_INDEX ? (b < 0 ? 0 : b) : (b < v.nlist ? b : v.nlist) - 1, step = x->v == F_INDEX ? 1 : -1;
        for (; i >= 0 && i < v.nlist && out->v < 0; i += step)
            if (v.strs ? strlen(v.strs[i]) == w.slen && memcmp(v.strs[i], w.s, w.slen) == 0 : v.list[i] == w.v)
                out->v = i;
        return 0;
    }
    if (x->v == F_CONTAINS) {
        expr_val v;
        memset(&v, 0, sizeof v);
        int found = ev->lookup && ev->lookup(ev->ctx, ev->e->text + x->name, x->len, &v);
        expr_val w; /* an integer, or a string for a list of strings (layer_types) */
        memset(&w, 0, sizeof w);
        if (eval(ev, x->a, &w))
            return -1;
        if (!found || v.is_null)
            return 0;
        if (!v.is_list)
            return eerr(ev, x, "'%.*s' is not a list", (int)x->len, ev->e->text + x->name);
        if (w.is_null || w.is_list || !w.is_str != !v.strs)
            return eerr(ev, x, "contains() looks for %s in '%.*s', a list of %s", w.is_str ? "a string" : "a number",
                        (int)x->len, ev->e->text + x->name, v.strs ? "strings" : "integers");
        for (int i = 0; i < v.nlist && !out->v; i++)
            out->v = v.strs ? strlen(v.strs[i]) == w.slen && memcmp(v.strs[i], w.s, w.slen) == 0 : v.list[i] == w.v;
        return 0;
    }
    if (eval_int(ev, x->a, &a) || eval_int(ev, x->b, &b))
        return -1;
    switch ((func_id)x->v) {
    case F_MIN: out->v = a < b ? a : b; return 0;
    case F_MAX: out->v = a > b ? a : b; return 0;
    case F_CEIL_DIV:
    case F_ROUND_UP: {
        if (b <= 0)
            return eerr(ev, x, "%s() needs a positive divisor, got %lld",
                        x->v == F_CEIL_DIV ? "ceil_div" : "round_up", (long long)b);
        if (a < 0)
            return eerr(ev, x, "%s() of a negative number", x->v == F_CEIL_DIV ? "ceil_div" : "round_up");
        int64_t q = a / b + (a % b != 0);
        if (x->v == F_ROUND_UP && __builtin_mul_overflow(q, b, &q))
            return eerr(ev, x, "integer overflow");
        out->v = q;
        return 0;
    }
    default:
        return eerr(ev, x, "bad function");
    }
}

static int eval(evaluator *ev, int k, expr_val *out)
{
    const node *x = &ev->e->n[k];
    memset(out, 0, sizeof *out);
    int64_t a;
    switch (x->kind) {
    case N_INT:
        out->v = x->v;
        return 0;
    case N_STR:
        out->is_str = 1;
        out->s = ev->e->text + x->name;
        out->slen = x->len;
        return 0;
    case N_NULL:
        out->is_null = 1;
        return 0;
    case N_NAME:
        if (!ev->lookup || !ev->lookup(ev->ctx, ev->e->text + x->name, x->len, out))
            return eerr(ev, x, "'%.*s' is not in config.json and not defined by the rules", (int)x->len,
                        ev->e->text + x->name);
        return 0;
    case N_NEG:
        if (eval_int(ev, x->a, &a))
            return -1;
        if (a == INT64_MIN)
            return eerr(ev, x, "integer overflow");
        out->v = -a;
        return 0;
    case N_NOT: {
        expr_val v;
        if (eval(ev, x->a, &v))
            return -1;
        out->v = !expr_truthy(&v);
        out->is_str = 0;
        return 0;
    }
    case N_AND:
    case N_OR: {
        expr_val v;
        if (eval(ev, x->a, &v))
            return -1;
        int t = expr_truthy(&v);
        if (x->kind == N_AND ? !t : t) {
            out->v = t;
            return 0;
        }
        if (eval(ev, x->b, &v))
            return -1;
        out->v = expr_truthy(&v);
        return 0;
    }
    case N_COAL: {
        const node *l = &ev->e->n[x->a];
        if (l->kind == N_NAME) { /* an absent name is null here, not an error */
            if (!ev->lookup || !ev->lookup(ev->ctx, ev->e->text + l->name, l->len, out))
                out->is_null = 1;
        } else if (eval(ev, x->a, out))
            return -1;
        if (!out->is_null)
            return 0;
        return eval(ev, x->b, out);
    }
    case N_COND: {
        expr_val v;
        if (eval(ev, x->a, &v))
            return -1;
        return eval(ev, expr_truthy(&v) ? x->b : x->c, out);
    }
    case N_BIN:
        return eval_bin(ev, x, out);
    case N_CALL:
        return eval_call(ev, x, out);
    }
    return eerr(ev, x, "bad expression node");
}

int expr_eval(const expr *e, expr_lookup lookup, void *ctx, expr_val *out, expr_err *err)
{
    memset(err, 0, sizeof *err);
    evaluator ev = {e, lookup, ctx, err};
    return eval(&ev, e->root, out);
}
