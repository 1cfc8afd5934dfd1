/* rules.c - reading rules files. cJSON parses the text; every field is checked and copied into
 * rules_file; an error names the JSON path, and the scanner of base/jscan.c walks the text
 * along that path to find its line and column. */
#include "rules/rules.h"
#include "base/fileio.h"
#include "base/text.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jscan.h"

#define RULES_MAX_BYTES (16u << 20)

static const char *shard_names[SHARD_COUNT] = {"replicated", "column", "row", "vocab", "expert"};

const char *shard_kind_name(shard_kind k)
{
    return (unsigned)k < SHARD_COUNT ? shard_names[k] : "?";
}

/* ------------------------------------------------------------------------------------------ */
/* Locating a JSON path ("$.params[3].shape[1]") in the text. */

/* Moves j to the value at path; returns 0, or -1 when the path is not there. */
static int locate(jscan *j, const char *path)
{
    const char *p = path;
    if (*p == '$')
        p++;
    jscan_ws(j);
    while (*p) {
        if (*p == '.') {
            const char *e = p + 1;
            while (*e && *e != '.' && *e != '[')
                e++;
            size_t want = (size_t)(e - p - 1);
            if (j->i >= j->n || j->b[j->i] != '{')
                return -1;
            j->i++;
            int st = 0, r, found = 0;
            while (!found && (r = jscan_next(j, '}', &st, "")) > 0) {
                size_t mark = j->arena_n, l;
                const char *k = jscan_string(j, 1, &l);
                if (!k || jscan_expect(j, ':', "':'"))
                    return -1;
                j->arena_n = mark;
                jscan_ws(j);
                if (l == want && memcmp(k, p + 1, l) == 0)
                    found = 1;
                else if (jscan_skip(j))
                    return -1;
            }
            if (!found)
                return -1;
            p = e;
        } else if (*p == '[') {
            long idx = strtol(p + 1, (char **)&p, 10);
            if (*p != ']')
                return -1;
            p++;
            if (j->i >= j->n || j->b[j->i] != '[')
                return -1;
            j->i++;
            int st = 0, r;
            for (long k = 0;; k++) {
                if ((r = jscan_next(j, ']', &st, "")) <= 0)
                    return -1;
                if (k == idx)
                    break;
                if (jscan_skip(j))
                    return -1;
            }
        } else
            return -1;
        jscan_ws(j);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */

typedef struct {
    const char *text;
    size_t len;
    const char *file;
    ck_err *err;
    rules_file *r;
    /* line_of's last array element ($.keys[4]: prefix "$.keys", index 4, where, its line), so
     * that the next one is found from there, not from the start of the text */
    char lo_prefix[64];
    long lo_idx;
    size_t lo_pos;
    int lo_line;
    char *arena;          /* the scanner's, for every line_of */
} rctx;

/* Fails at JSON path `path` (string offset `col_in` adds a column inside a string value). */
static int rfail(rctx *c, const char *path, int col_in, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int rfail(rctx *c, const char *path, int col_in, const char *fmt, ...)
{
    if (c->err->code)
        return -1;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ck_err_set(c->err, CK_EFORMAT, c->file, path, CK_NO_OFFSET, "%s", msg);
    jscan j;
    jscan_init(&j, c->text, c->len, malloc(c->len + 1), 1, NULL);
    if (j.arena && locate(&j, path) == 0) {
        size_t off = j.i;
        if (col_in > 0 && off < c->len && c->text[off] == '"')
            off += (size_t)col_in; /* past the quote, to the column inside the string */
        text_line_col(c->text, off, &c->err->line, &c->err->col);
    }
    free(j.arena);
    return -1;
}

static const char *path_of(char *buf, size_t size, const char *parent, const char *key, int idx)
{
    int n = key ? snprintf(buf, size, "%s.%s", parent, key) : snprintf(buf, size, "%s[%d]", parent, idx);
    if (n < 0 || (size_t)n >= size)
        buf[size - 1] = 0; /* a path that long is cut; it still names the place */
    return buf;
}

static int check_fields(rctx *c, const cJSON *obj, const char *path, const char *const *known)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, obj)
    {
        int ok = 0;
        for (const char *const *k = known; *k && !ok; k++)
            ok = strcmp(*k, f->string) == 0;
        if (!ok) {
            char list[256] = "", p[512];
            for (const char *const *k = known; *k; k++) {
                size_t l = strlen(list);
                snprintf(list + l, sizeof list - l, "%s%s", l ? ", " : "", *k);
            }
            return rfail(c, path_of(p, sizeof p, path, f->string, 0), 0,
                         "unknown field \"%s\" (known: %s)", f->string, list);
        }
    }
    return 0;
}

static int get_string(rctx *c, const cJSON *obj, const char *path, const char *key, int required,
                      char **out)
{
    char p[512];
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!x) {
        if (required)
            return rfail(c, path, 0, "missing field \"%s\"", key);
        return 0;
    }
    if (!cJSON_IsString(x))
        return rfail(c, path_of(p, sizeof p, path, key, 0), 0, "\"%s\" must be a string", key);
    *out = strdup(x->valuestring);
    return *out ? 0 : rfail(c, path, 0, "out of memory");
}

static int get_expr(rctx *c, const cJSON *x, const char *path, expr **out)
{
    if (cJSON_IsNumber(x)) {
        char num[32];
        double v = x->valuedouble; /* the integers an expression holds (int64), and no fraction */
        if (!(v > -9.2e18 && v < 9.2e18) || v != (double)(long long)v)
            return rfail(c, path, 0, "a number here is an integer of at most 18 digits (%g is not)", v);
        snprintf(num, sizeof num, "%lld", (long long)v);
        expr_err e;
        *out = expr_compile(num, &e);
        return *out ? 0 : rfail(c, path, 0, "%s", e.msg);
    }
    if (!cJSON_IsString(x))
        return rfail(c, path, 0, "must be an expression in a string (or an integer)");
    expr_err e;
    *out = expr_compile(x->valuestring, &e);
    if (!*out)
        return rfail(c, path, e.col, "bad expression \"%s\": column %d: %s", x->valuestring,
                     e.col, e.msg);
    return 0;
}

/* Whether s is a name: a letter or '_', then letters, digits and '_'. */
static int is_identifier(const char *s)
{
    if (!(isalpha((unsigned char)*s) || *s == '_'))
        return 0;
    while (*++s)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return 0;
    return 1;
}

static int get_opt_expr(rctx *c, const cJSON *obj, const char *path, const char *key, expr **out)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(obj, key);
    char p[512];
    *out = NULL;
    return x ? get_expr(c, x, path_of(p, sizeof p, path, key, 0), out) : 0;
}

/* An optional true/false field: *out its value, or dflt where it is absent. */
static int get_bool(rctx *c, const cJSON *obj, const char *path, const char *key, int dflt, int *out)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(obj, key);
    char p[512];
    if (x && !cJSON_IsBool(x))
        return rfail(c, path_of(p, sizeof p, path, key, 0), 0, "must be true or false");
    *out = x ? cJSON_IsTrue(x) : dflt;
    return 0;
}

static int get_pattern(rctx *c, const cJSON *obj, const char *path, const char *key, pattern *out)
{
    char p[512], why[256];
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!x)
        return rfail(c, path, 0, "missing field \"%s\"", key);
    path_of(p, sizeof p, path, key, 0);
    if (!cJSON_IsString(x))
        return rfail(c, p, 0, "\"%s\" must be a pattern in a string", key);
    int col;
    if (pattern_compile(x->valuestring, out, why, sizeof why, &col) != 0)
        return rfail(c, p, col, "bad pattern \"%s\": column %d: %s", x->valuestring, col, why);
    return 0;
}

static int get_expr_array(rctx *c, const cJSON *x, const char *path, expr ***out, int *n)
{
    char p[512];
    if (!cJSON_IsArray(x))
        return rfail(c, path, 0, "must be an array of expressions");
    int k = cJSON_GetArraySize(x);
    *out = calloc(k ? (size_t)k : 1, sizeof **out);
    if (!*out)
        return rfail(c, path, 0, "out of memory");
    *n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, x)
    {
        if (get_expr(c, e, path_of(p, sizeof p, path, NULL, *n), &(*out)[*n]))
            return -1;
        (*n)++;
    }
    return 0;
}

static int get_string_array(rctx *c, const cJSON *x, const char *path, char ***out, int *n)
{
    char p[512];
    if (cJSON_IsString(x)) {
        *out = calloc(1, sizeof **out);
        if (!*out || !((*out)[0] = strdup(x->valuestring)))
            return rfail(c, path, 0, "out of memory");
        *n = 1;
        return 0;
    }
    if (!cJSON_IsArray(x))
        return rfail(c, path, 0, "must be a string or an array of strings");
    int k = cJSON_GetArraySize(x);
    *out = calloc(k ? (size_t)k : 1, sizeof **out);
    if (!*out)
        return rfail(c, path, 0, "out of memory");
    *n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, x)
    {
        if (!cJSON_IsString(e))
            return rfail(c, path_of(p, sizeof p, path, NULL, *n), 0, "must be a string");
        if (!((*out)[(*n)++] = strdup(e->valuestring)))
            return rfail(c, path, 0, "out of memory");
    }
    return 0;
}

/* get_string_array of module names: each non-empty and without dots. */
static int get_modules(rctx *c, const cJSON *x, const char *path, char ***out, int *n)
{
    if (get_string_array(c, x, path, out, n))
        return -1;
    for (int i = 0; i < *n; i++)
        if (!(*out)[i][0] || strchr((*out)[i], '.'))
            return rfail(c, path, 0, "a module is a name without dots");
    return 0;
}

/* get_string_array of name prefixes a key may start with: each non-empty and short enough to be
 * an offset into a key name. */
static int get_prefixes(rctx *c, const cJSON *x, const char *path, char ***out, int *n)
{
    if (get_string_array(c, x, path, out, n))
        return -1;
    for (int i = 0; i < *n; i++)
        if (!(*out)[i][0] || strlen((*out)[i]) > UINT16_MAX)
            return rfail(c, path, 0, "a prefix is a non-empty string");
    return 0;
}

/* A scanner over the rules text from its start. */
static void text_scan(const rctx *c, jscan *j)
{
    jscan_init(j, c->text, c->len, c->arena, 1, NULL);
}

static int line_of(rctx *c, const char *path)
{
    if (!c->arena && !(c->arena = malloc(c->len + 1)))
        return 0;
    jscan j;
    text_scan(c, &j);
    const char *br = strrchr(path, '[');
    char *end = NULL;
    long idx = br ? strtol(br + 1, &end, 10) : -1;
    size_t plen = br ? (size_t)(br - path) : 0;
    if (!br || !end || end[0] != ']' || end[1] || idx < 0 || plen >= sizeof c->lo_prefix)
        idx = -1;
    int line = 0, col;
    if (idx > 0 && c->lo_idx == idx - 1 && strncmp(c->lo_prefix, path, plen) == 0 &&
        c->lo_prefix[plen] == 0) {
        /* the element after the last one found */
        int st = 1;
        j.i = c->lo_pos;
        if (jscan_skip(&j) == 0 && jscan_next(&j, ']', &st, "") > 0) {
            line = c->lo_line;
            for (size_t q = c->lo_pos; q < j.i; q++)
                line += c->text[q] == '\n';
        }
    }
    if (!line) {
        text_scan(c, &j);
        if (locate(&j, path) != 0)
            return 0;
        text_line_col(c->text, j.i, &line, &col);
    }
    c->lo_idx = idx;
    if (idx >= 0) {
        memcpy(c->lo_prefix, path, plen);
        c->lo_prefix[plen] = 0;
        c->lo_pos = j.i;
        c->lo_line = line;
    }
    return line;
}

static int range_known(const rules_file *r, const char *name)
{
    for (int i = 0; i < r->n_ranges; i++)
        if (strcmp(r->ranges[i].name, name) == 0)
            return 1;
    return 0;
}

static int parse_param(rctx *c, const cJSON *o, const char *path, rules_param *pr)
{
    static const char *const known[] = {"name", "when", "shape", "linear", "experts", "shard",
                                        "expert_shard", "stage", "parts", "strict", "tp_granule", "buffer", NULL};
    char p[512];
    if (!cJSON_IsObject(o))
        return rfail(c, path, 0, "a parameter must be an object");
    if (check_fields(c, o, path, known) || get_pattern(c, o, path, "name", &pr->name) ||
        get_opt_expr(c, o, path, "when", &pr->when))
        return -1;
    pr->line = line_of(c, path);
    const cJSON *lin0 = cJSON_GetObjectItemCaseSensitive(o, "linear");
    for (int k = 0; k < pr->name.n_caps; k++)
        if (!(lin0 && strcmp(pr->name.caps[k].name, "suffix") == 0) &&
            !range_known(c->r, pr->name.caps[k].name))
            return rfail(c, path_of(p, sizeof p, path, "name", 0), 0, "capture {%s} is not a range "
                         "(declare it under \"ranges\")", pr->name.caps[k].name);
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(o, "shape");
    const cJSON *lin = cJSON_GetObjectItemCaseSensitive(o, "linear");
    if (!!shape == !!lin)
        return rfail(c, path, 0, "a parameter needs exactly one of \"shape\" and \"linear\" "
                     "([out, in])");
    if (get_expr_array(c, shape ? shape : lin, path_of(p, sizeof p, path, shape ? "shape" : "linear", 0),
                       &pr->shape, &pr->ndim))
        return -1;
    pr->linear = lin != NULL;
    if (pr->ndim > RULES_MAX_DIMS)
        return rfail(c, p, 0, "a shape has at most %d dims, not %d", RULES_MAX_DIMS, pr->ndim);
    if (pr->linear && pr->ndim != 2)
        return rfail(c, p, 0, "\"linear\" is [out, in]: 2 expressions, not %d", pr->ndim);
    if (pr->linear && pattern_cap_index(&pr->name, "suffix", 6) < 0)
        return rfail(c, path_of(p, sizeof p, path, "name", 0), 0, "a linear's name needs a "
                     "{suffix} capture where weight, weight_scale_inv, ... go");
    if (get_opt_expr(c, o, path, "experts", &pr->experts))
        return -1;
    char *s = NULL;
    if (get_string(c, o, path, "shard", 0, &s))
        return -1;
    pr->shard = SHARD_REPLICATED;
    if (s) {
        int found = -1;
        for (int k = 0; k < SHARD_COUNT; k++)
            if (strcmp(s, shard_names[k]) == 0)
                found = k;
        free(s);
        if (found < 0)
            return rfail(c, path_of(p, sizeof p, path, "shard", 0), 0, "unknown sharding kind "
                         "(replicated, column, row, vocab, expert)");
        pr->shard = (shard_kind)found;
    }
    s = NULL;
    if (get_string(c, o, path, "expert_shard", 0, &s))
        return -1;
    if (s) {
        static const char *const kinds[] = {"column", "row", "first"};
        int k = 0;
        while (k < 3 && strcmp(s, kinds[k]) != 0)
            k++;
        free(s);
        pr->expert_shard = k < 3 ? (expert_shard_kind)(EXPERT_SHARD_COLUMN + k) : EXPERT_SHARD_NONE;
        if (k == 3 || pr->shard != SHARD_EXPERT)
            return rfail(c, path_of(p, sizeof p, path, "expert_shard", 0), 0, "\"expert_shard\" "
                         "is column, row or first, and only with \"shard\": \"expert\"");
    }
    if (get_opt_expr(c, o, path, "tp_granule", &pr->tp_granule))
        return -1;
    if (pr->tp_granule && cJSON_GetObjectItemCaseSensitive(o, "parts"))
        return rfail(c, path_of(p, sizeof p, path, "tp_granule", 0), 0, "\"tp_granule\" and \"parts\" do not go "
                     "together: a fused parameter's parts are cut on their own");
    if (pr->tp_granule && pr->shard != SHARD_EXPERT && pr->shard != SHARD_COLUMN &&
        pr->shard != SHARD_ROW)
        return rfail(c, path_of(p, sizeof p, path, "tp_granule", 0), 0, "\"tp_granule\" rounds a TP "
                     "share: only with \"shard\" column, row or expert");
    if (get_bool(c, o, path, "strict", -1, &pr->strict) || /* -1: resolved by strict_defaults */
        get_bool(c, o, path, "buffer", 0, &pr->buffer))
        return -1;
    if (pr->buffer && (pr->linear || pr->strict == 1))
        return rfail(c, path_of(p, sizeof p, path, "buffer", 0), 0, "a buffer is a plain \"shape\" that no strict "
                     "check counts");
    if (pr->buffer)
        pr->strict = 0;
    s = NULL;
    if (get_string(c, o, path, "stage", 0, &s))
        return -1;
    pr->stage = pattern_cap_index(&pr->name, "layer", 5) >= 0 ? STAGE_LAYER : STAGE_ALL;
    if (s) {
        int st = strcmp(s, "layer") == 0 ? STAGE_LAYER : strcmp(s, "first") == 0 ? STAGE_FIRST
               : strcmp(s, "last") == 0 ? STAGE_LAST : strcmp(s, "all") == 0 ? STAGE_ALL
               : strcmp(s, "edges") == 0 ? STAGE_EDGES : -1;
        free(s);
        if (st < 0)
            return rfail(c, path_of(p, sizeof p, path, "stage", 0), 0, "unknown stage (layer, "
                         "first, last, edges, all)");
        if (st == STAGE_LAYER && pattern_cap_index(&pr->name, "layer", 5) < 0)
            return rfail(c, path_of(p, sizeof p, path, "stage", 0), 0, "stage \"layer\" needs a "
                         "{layer} capture in the name");
        pr->stage = (stage_kind)st;
    }
    const cJSON *parts = cJSON_GetObjectItemCaseSensitive(o, "parts");
    if (parts) {
        char pp[512];
        path_of(pp, sizeof pp, path, "parts", 0);
        if (!cJSON_IsArray(parts) || cJSON_GetArraySize(parts) < 1)
            return rfail(c, pp, 0, "\"parts\" must list at least two parts, or one that gives its \"heads\"");
        pr->parts = calloc((size_t)cJSON_GetArraySize(parts), sizeof *pr->parts);
        if (!pr->parts)
            return rfail(c, pp, 0, "out of memory");
        const cJSON *e;
        cJSON_ArrayForEach(e, parts)
        {
            char ep[512];
            path_of(ep, sizeof ep, pp, NULL, pr->n_parts);
            rules_part *part = &pr->parts[pr->n_parts++];
            static const char *const pk[] = {"id", "size", "heads", NULL};
            if (!cJSON_IsObject(e))
                return rfail(c, ep, 0, "a part is {\"id\": ..., \"size\": ...}");
            if (check_fields(c, e, ep, pk) || get_string(c, e, ep, "id", 1, &part->id))
                return -1;
            const cJSON *sz = cJSON_GetObjectItemCaseSensitive(e, "size");
            if (!sz)
                return rfail(c, ep, 0, "missing field \"size\"");
            if (get_expr(c, sz, path_of(p, sizeof p, ep, "size", 0), &part->size) ||
                get_opt_expr(c, e, ep, "heads", &part->heads))
                return -1;
        }
        /* one part alone is a split by heads (MiniMax-M2's k_norm, replicated with its heads) */
        if (pr->n_parts == 1 && !pr->parts[0].heads)
            return rfail(c, pp, 0, "\"parts\" must list at least two parts, or one that gives its \"heads\"");
    }
    return 0;
}

static int parse_key(rctx *c, const cJSON *o, const char *path, rules_key *k)
{
    static const char *const known[] = {"key", "param", "when", "part", "parts", "expert", "pp_guard", "dim",
                                        "hazard", "transposed", "view", "rotary_pairs", "copies", "pp_through",
                                        NULL};
    char p[512];
    if (!cJSON_IsObject(o))
        return rfail(c, path, 0, "a key rule must be an object");
    if (check_fields(c, o, path, known) || get_pattern(c, o, path, "key", &k->key) ||
        get_pattern(c, o, path, "param", &k->param) || get_opt_expr(c, o, path, "when", &k->when) ||
        get_string(c, o, path, "hazard", 0, &k->hazard))
        return -1;
    k->line = line_of(c, path);
    const cJSON *parts = cJSON_GetObjectItemCaseSensitive(o, "parts"), *part = cJSON_GetObjectItemCaseSensitive(o, "part");
    if (parts && part)
        return rfail(c, path_of(p, sizeof p, path, "parts", 0), 0, "give \"part\" (one) or \"parts\" (several), "
                     "not both");
    if (part && !cJSON_IsString(part))
        return rfail(c, path_of(p, sizeof p, path, "part", 0), 0, "\"part\" must be a string");
    if ((parts || part) && get_string_array(c, parts ? parts : part, path_of(p, sizeof p, path, parts ? "parts" : "part", 0),
                                            &k->parts, &k->n_parts))
        return -1;
    if (parts && k->n_parts < 2)
        return rfail(c, path_of(p, sizeof p, path, "parts", 0), 0, "\"parts\" lists at least two parts "
                     "(one: write \"part\")");
    k->part = k->n_parts ? k->parts[0] : NULL;
    for (int i = 0; i < k->param.n_caps; i++)
        if (pattern_cap_index(&k->key, k->param.caps[i].name, strlen(k->param.caps[i].name)) < 0)
            return rfail(c, path_of(p, sizeof p, path, "param", 0), 0, "{%s} is not captured by "
                         "\"key\"", k->param.caps[i].name);
    k->expert_cap = -1;
    if (get_bool(c, o, path, "pp_guard", -1, &k->pp_guard) || get_bool(c, o, path, "transposed", 0, &k->transposed) ||
        get_bool(c, o, path, "view", 0, &k->view) || get_bool(c, o, path, "copies", 0, &k->copies) ||
        get_bool(c, o, path, "pp_through", 0, &k->pp_through))
        return -1;
    if (k->pp_through && (k->pp_guard == 1 || (k->pp_guard < 0 && c->r->pp_guard)))
        return rfail(c, path_of(p, sizeof p, path, "pp_through", 0), 0, "a path the loader leaves where another "
                     "stage owns the layer has no guard: \"pp_through\" needs \"pp_guard\": false (here or "
                     "the loader's)");
    if (k->copies && k->n_parts < 2)
        return rfail(c, path_of(p, sizeof p, path, "copies", 0), 0, "\"copies\" needs \"parts\": the parts the "
                     "tensor fills, each whole");
    if (get_opt_expr(c, o, path, "rotary_pairs", &k->rotary_pairs))
        return -1;
    if (k->view && k->transposed)
        return rfail(c, path_of(p, sizeof p, path, "view", 0), 0, "a key is viewed or transposed, not both");
    const cJSON *dm = cJSON_GetObjectItemCaseSensitive(o, "dim");
    k->dim = -1;
    if (dm && !cJSON_IsNull(dm)) {
        if (!cJSON_IsNumber(dm) || dm->valuedouble < 0 || dm->valuedouble > 7)
            return rfail(c, path_of(p, sizeof p, path, "dim", 0), 0, "\"dim\" is the tensor "
                         "dimension split over TP: 0..7, or null");
        k->dim = (int)dm->valuedouble;
    }
    char *ex = NULL;
    if (get_string(c, o, path, "expert", 0, &ex))
        return -1;
    if (ex) {
        k->expert_cap = pattern_cap_index(&k->key, ex, strlen(ex));
        int ok = k->expert_cap >= 0 && k->key.caps[k->expert_cap].kind == CAP_INT;
        free(ex);
        if (!ok)
            return rfail(c, path_of(p, sizeof p, path, "expert", 0), 0, "\"expert\" must name an "
                         "integer capture of \"key\"");
    }
    return 0;
}

static int parse_skip(rctx *c, const cJSON *o, const char *path, rules_skip *s)
{
    static const char *const known[] = {"key", "when", "reason", "inner", NULL};
    if (!cJSON_IsObject(o))
        return rfail(c, path, 0, "a skip must be an object");
    if (check_fields(c, o, path, known) || get_pattern(c, o, path, "key", &s->key) ||
        get_opt_expr(c, o, path, "when", &s->when) || get_string(c, o, path, "reason", 1, &s->reason))
        return -1;
    if (get_bool(c, o, path, "inner", 0, &s->inner))
        return -1;
    s->line = line_of(c, path);
    return 0;
}

static int parse_assert(rctx *c, const cJSON *o, const char *path, rules_assert *a)
{
    static const char *const known[] = {"assert", "error", "warning", "note", "refused", NULL};
    if (!cJSON_IsObject(o))
        return rfail(c, path, 0, "an assertion is {\"assert\": EXPR, \"error\": TEXT} (or \"warning\", "
                     "\"note\" or \"refused\" in place of \"error\")");
    if (check_fields(c, o, path, known) || get_opt_expr(c, o, path, "assert", &a->cond))
        return -1;
    static const char *const sevs[] = {"note", "warning", "error", "refused"};
    int given = 0;
    for (int i = 0; i < 4; i++)
        if (cJSON_GetObjectItemCaseSensitive(o, sevs[i])) {
            a->severity = i;
            given++;
        }
    if (given != 1)
        return rfail(c, path, 0, "an assertion has one of \"error\", \"warning\", \"note\" and \"refused\"");
    if (get_string(c, o, path, sevs[a->severity], 1, &a->error))
        return -1;
    if (!a->cond)
        return rfail(c, path, 0, "missing field \"assert\"");
    a->line = line_of(c, path);
    return 0;
}

static int parse_stage_req(rctx *c, const cJSON *o, const char *path, rules_stage_req *q)
{
    static const char *const known[] = {"param", "assert", "model", "when", "error", NULL};
    if (!cJSON_IsObject(o))
        return rfail(c, path, 0, "a stage requirement is {\"param\": NAME, \"error\": TEXT} or "
                     "{\"assert\": EXPR, \"error\": TEXT}");
    if (check_fields(c, o, path, known) || get_string(c, o, path, "param", 0, &q->param) ||
        get_opt_expr(c, o, path, "assert", &q->cond) || get_opt_expr(c, o, path, "when", &q->when) ||
        get_string(c, o, path, "error", 1, &q->error))
        return -1;
    q->line = line_of(c, path);
    if (!q->param == !q->cond)
        return rfail(c, path, 0, "a stage requirement names a \"param\" or makes an \"assert\", one of "
                     "the two");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "model");
    if (m && (!cJSON_IsBool(m) || !q->cond))
        return rfail(c, path, 0, "\"model\" is true or false, and only with \"assert\"");
    q->model = m && cJSON_IsTrue(m);
    if (q->cond)
        return 0;
    for (int i = 0; i < c->r->n_params; i++)
        if (strcmp(c->r->params[i].name.text, q->param) == 0)
            return 0;
    return rfail(c, path, 0, "\"param\": \"%s\" is not the name of an entry of \"params\"", q->param);
}

static int parse_check(rctx *c, const cJSON *o, const char *path, rules_check *k)
{
    static const char *const known[] = {"module", "when", "has_one_of", "error", NULL};
    char p[512];
    if (!cJSON_IsObject(o))
        return rfail(c, path, 0, "a check must be an object");
    if (check_fields(c, o, path, known) || get_pattern(c, o, path, "module", &k->module) ||
        get_opt_expr(c, o, path, "when", &k->when) || get_string(c, o, path, "error", 1, &k->error))
        return -1;
    k->line = line_of(c, path);
    for (int i = 0; i < k->module.n_caps; i++)
        if (!range_known(c->r, k->module.caps[i].name))
            return rfail(c, path_of(p, sizeof p, path, "module", 0), 0, "capture {%s} is not a range",
                         k->module.caps[i].name);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "has_one_of");
    if (!h)
        return rfail(c, path, 0, "missing field \"has_one_of\"");
    return get_string_array(c, h, path_of(p, sizeof p, path, "has_one_of", 0), &k->has_one_of, &k->n_has);
}

static int parse_quant(rctx *c, const cJSON *o, const char *path)
{
    rules_file *r = c->r;
    char p[512];
    if (!cJSON_IsObject(o))
        return rfail(c, path, 0, "\"quant\" maps quant_method (or \"none\") to its suffixes");
    r->quants = calloc((size_t)cJSON_GetArraySize(o) + 1, sizeof *r->quants);
    if (!r->quants)
        return rfail(c, path, 0, "out of memory");
    const cJSON *m;
    cJSON_ArrayForEach(m, o)
    {
        char mp[512];
        path_of(mp, sizeof mp, path, m->string, 0);
        rules_quant *q = &r->quants[r->n_quants++];
        if (!(q->method = strdup(m->string)))
            return rfail(c, mp, 0, "out of memory");
        if (cJSON_IsString(m)) { /* the same suffixes as a variant written before it */
            for (int k = 0; k + 1 < r->n_quants; k++)
                if (strcmp(r->quants[k].method, m->valuestring) == 0) {
                    q->suffixes = r->quants[k].suffixes;
                    q->n_suffixes = r->quants[k].n_suffixes;
                    q->experts_only = r->quants[k].experts_only;
                    q->shared = 1;
                }
            if (!q->shared)
                return rfail(c, mp, 0, "names variant \"%s\", which is not one written before it",
                             m->valuestring);
            continue;
        }
        if (!cJSON_IsObject(m) || !m->child)
            return rfail(c, mp, 0, "must map each suffix (\"weight\", \"weight_scale_inv\") to "
                         "{\"shape\": [...], \"dtype\": ...}, or name a variant written before it");
        q->suffixes = calloc((size_t)cJSON_GetArraySize(m), sizeof *q->suffixes);
        if (!q->suffixes)
            return rfail(c, mp, 0, "out of memory");
        const cJSON *sfx;
        cJSON_ArrayForEach(sfx, m)
        {
            char sp[512];
            path_of(sp, sizeof sp, mp, sfx->string, 0);
            if (strcmp(sfx->string, "experts_only") == 0) { /* a flag of the variant, not a suffix */
                if (!cJSON_IsBool(sfx))
                    return rfail(c, sp, 0, "\"experts_only\" is true or false");
                q->experts_only = cJSON_IsTrue(sfx);
                continue;
            }
            rules_suffix *s = &q->suffixes[q->n_suffixes++];
            static const char *const sk[] = {"shape", "dtype", "when", "per_part", NULL};
            if (!(s->suffix = strdup(sfx->string)))
                return rfail(c, sp, 0, "out of memory");
            if (!cJSON_IsObject(sfx) || check_fields(c, sfx, sp, sk) ||
                get_string(c, sfx, sp, "dtype", 0, &s->dtype) || get_opt_expr(c, sfx, sp, "when", &s->when))
                return c->err->code ? -1 : rfail(c, sp, 0, "must be an object");
            const cJSON *sh = cJSON_GetObjectItemCaseSensitive(sfx, "shape");
            const cJSON *pp = cJSON_GetObjectItemCaseSensitive(sfx, "per_part");
            if (pp && (!cJSON_IsBool(pp) || sh))
                return rfail(c, path_of(p, sizeof p, sp, "per_part", 0), 0, "\"per_part\" is true or false, "
                             "and takes the place of \"shape\"");
            if (pp && cJSON_IsTrue(pp)) { /* the shape [parts] */
                expr_err ee;
                s->per_part = 1;
                if (!(s->shape = calloc(1, sizeof *s->shape)) || !(s->shape[0] = expr_compile("parts", &ee)))
                    return rfail(c, sp, 0, "out of memory");
                s->ndim = 1;
            }
            if (sh && get_expr_array(c, sh, path_of(p, sizeof p, sp, "shape", 0), &s->shape, &s->ndim))
                return -1;
            if (s->ndim > RULES_MAX_DIMS)
                return rfail(c, p, 0, "a shape has at most %d dims, not %d", RULES_MAX_DIMS, s->ndim);
        }
        if (!q->n_suffixes)
            return rfail(c, mp, 0, "names no suffix (\"weight\", ...): every linear of the variant needs one");
    }
    return 0;
}

/* "loader": the loader simulated (name, strip_prefix, error format, notice, pp_guard, builds_model, raises). 0, or -1 with c->err filled. */
static int parse_loader(rctx *c, const cJSON *root)
{
    rules_file *r = c->r;
    const cJSON *ld = cJSON_GetObjectItemCaseSensitive(root, "loader");
    if (!cJSON_IsObject(ld))
        return rfail(c, ld ? "$.loader" : "$", 0, "\"loader\" must be an object describing the "
                     "loader simulated (name, strip_prefix, error, pp_guard)");
    static const char *const lk[] = {"name", "strip_prefix", "error", "pp_guard", "builds_model",
                                     "raises", "notice", "notice_reason", "classes", "version", "old_names",
                                     "strict", "outer", "also_strip", "wrapper", "drops_unknown",
                                     "config_experts", "drops_bias", "supports_pp", NULL};
    if (check_fields(c, ld, "$.loader", lk) || get_string(c, ld, "$.loader", "name", 1, &r->loader) ||
        get_string(c, ld, "$.loader", "strip_prefix", 0, &r->strip_prefix) ||
        get_string(c, ld, "$.loader", "error", 0, &r->error_format) ||
        get_string(c, ld, "$.loader", "notice_reason", 0, &r->notice_reason) ||
        get_string(c, ld, "$.loader", "version", 0, &r->loader_version))
        return -1;
    if (cJSON_GetObjectItemCaseSensitive(ld, "notice")) {
        if (get_pattern(c, ld, "$.loader", "notice", &r->notice))
            return -1;
        r->has_notice = 1; /* compiled: rules_free frees it, whatever follows */
        if (pattern_cap_index(&r->notice, "param", 5) < 0 || !r->notice_reason)
            return rfail(c, "$.loader.notice", 0, "a notice needs a {param} capture and a notice_reason");
    }
    const cJSON *cl = cJSON_GetObjectItemCaseSensitive(ld, "classes");
    if (cl) {
        if (!cJSON_IsObject(cl))
            return rfail(c, "$.loader.classes", 0, "must be an object of module path patterns and "
                         "class name expressions");
        int n = cJSON_GetArraySize(cl);
        if (n > RULES_MAX_ENTRIES)
            return rfail(c, "$.loader.classes", 0, "has more than %d entries", RULES_MAX_ENTRIES);
        r->class_pat = calloc((size_t)n + 1, sizeof *r->class_pat);
        r->class_expr = calloc((size_t)n + 1, sizeof *r->class_expr);
        if (!r->class_pat || !r->class_expr)
            return rfail(c, "$.loader.classes", 0, "out of memory");
        const cJSON *e;
        char p[512], why[256];
        cJSON_ArrayForEach(e, cl)
        {
            path_of(p, sizeof p, "$.loader.classes", e->string, 0);
            int col = 0;
            if (pattern_compile(e->string, &r->class_pat[r->n_classes], why, sizeof why, &col) != 0)
                return rfail(c, p, col, "bad pattern \"%s\": column %d: %s", e->string, col, why);
            if (get_expr(c, e, p, &r->class_expr[r->n_classes])) {
                pattern_free(&r->class_pat[r->n_classes]);
                return -1;
            }
            r->n_classes++;
        }
    }
    const cJSON *on = cJSON_GetObjectItemCaseSensitive(ld, "old_names");
    if (on) {
        int n = cJSON_IsObject(on) ? cJSON_GetArraySize(on) : -1;
        if (n < 0 || n > RULES_MAX_ENTRIES)
            return rfail(c, "$.loader.old_names", 0, "must be an object of at most %d name parts an earlier "
                         "loader used and the parts this one uses instead", RULES_MAX_ENTRIES);
        r->old_from = calloc((size_t)n + 1, sizeof *r->old_from);
        r->old_to = calloc((size_t)n + 1, sizeof *r->old_to);
        if (!r->old_from || !r->old_to)
            return rfail(c, "$.loader.old_names", 0, "out of memory");
        const cJSON *e;
        cJSON_ArrayForEach(e, on) /* the names hold dots: the object is the place named */
        {
            if (!e->string[0] || !cJSON_IsString(e) || !e->valuestring[0])
                return rfail(c, "$.loader.old_names", 0, "\"%.100s\" must map a non-empty name part to a "
                             "non-empty string", e->string);
            int k = r->n_old_names++;
            r->old_from[k] = strdup(e->string);
            r->old_to[k] = strdup(e->valuestring);
            if (!r->old_from[k] || !r->old_to[k])
                return rfail(c, "$.loader.old_names", 0, "out of memory");
        }
    }
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(ld, "strict");
    if (sc) {
        static const char *const sk[] = {"when", "error", NULL};
        if (!cJSON_IsObject(sc))
            return rfail(c, "$.loader.strict", 0, "must be an object: {\"when\": EXPR, \"error\": TEXT "
                         "with {params}}");
        if (check_fields(c, sc, "$.loader.strict", sk) ||
            get_string(c, sc, "$.loader.strict", "error", 1, &r->strict_error) ||
            get_opt_expr(c, sc, "$.loader.strict", "when", &r->strict_when))
            return -1;
        r->strict_line = line_of(c, "$.loader.strict");
        if (!strstr(r->strict_error, "{params}"))
            return rfail(c, "$.loader.strict.error", 0, "the text must name the parameters with {params}");
    }
    const cJSON *ou = cJSON_GetObjectItemCaseSensitive(ld, "outer");
    if (ou) {
        static const char *const ok[] = {"class", "modules", "top", "maps", "error", "also_strip", NULL};
        static const char *const mk[] = {"when", "modules", NULL};
        const cJSON *om = cJSON_IsObject(ou) ? cJSON_GetObjectItemCaseSensitive(ou, "modules") : NULL;
        const cJSON *oc = cJSON_IsObject(ou) ? cJSON_GetObjectItemCaseSensitive(ou, "class") : NULL;
        const cJSON *mp = cJSON_IsObject(ou) ? cJSON_GetObjectItemCaseSensitive(ou, "maps") : NULL;
        if (!cJSON_IsObject(ou))
            return rfail(c, "$.loader.outer", 0, "must be an object: {\"class\": NAME, \"modules\": [NAME, ...]}");
        if (check_fields(c, ou, "$.loader.outer", ok) ||
            (om && get_string_array(c, om, "$.loader.outer.modules", &r->outer_modules, &r->n_outer_modules)) ||
            get_string(c, ou, "$.loader.outer", "error", 0, &r->outer_error))
            return -1;
        /* a class name as it is, or an expression that gives one */
        if (cJSON_IsString(oc) && is_identifier(oc->valuestring)) {
            if (get_string(c, ou, "$.loader.outer", "class", 1, &r->outer_class))
                return -1;
        } else if (!oc)
            return rfail(c, "$.loader.outer", 0, "missing field \"class\"");
        else if (get_opt_expr(c, ou, "$.loader.outer", "class", &r->outer_class_expr))
            return -1;
        if (mp) {
            const cJSON *mm = cJSON_IsObject(mp) ? cJSON_GetObjectItemCaseSensitive(mp, "modules") : NULL;
            if (!mm)
                return rfail(c, "$.loader.outer.maps", 0, "must be an object: {\"when\": EXPR, \"modules\": [NAME, ...]}");
            if (check_fields(c, mp, "$.loader.outer.maps", mk) ||
                get_modules(c, mm, "$.loader.outer.maps.modules", &r->outer_maps, &r->n_outer_maps) ||
                get_opt_expr(c, mp, "$.loader.outer.maps", "when", &r->outer_maps_when))
                return -1;
        }
        if (get_bool(c, ou, "$.loader.outer", "top", 0, &r->outer_top))
            return -1;
        const cJSON *os = cJSON_GetObjectItemCaseSensitive(ou, "also_strip");
        if (os && get_prefixes(c, os, "$.loader.outer.also_strip", &r->outer_strip, &r->n_outer_strip))
            return -1;
        if (r->n_outer_strip && (!r->strip_prefix || !r->strip_prefix[0])) /* (defaulted to "" below) */
            return rfail(c, "$.loader.outer.also_strip", 0, "the prefixes are mapped to the loader's strip_prefix, "
                         "which this rules file does not give: add \"strip_prefix\" to \"loader\"");
    }
    const cJSON *as = cJSON_GetObjectItemCaseSensitive(ld, "also_strip");
    if (as && get_prefixes(c, as, "$.loader.also_strip", &r->also_strip, &r->n_also_strip))
        return -1;
    const cJSON *wr = cJSON_GetObjectItemCaseSensitive(ld, "wrapper");
    if (wr) {
        static const char *const wk[] = {"when", "prefix", "class", "modules", "keeps", "strip_modules_only", "error",
                                         NULL};
        if (!cJSON_IsObject(wr))
            return rfail(c, "$.loader.wrapper", 0, "must be an object: {\"when\": EXPR, \"prefix\": NAME}");
        const cJSON *wm = cJSON_GetObjectItemCaseSensitive(wr, "modules");
        const cJSON *wkp = cJSON_GetObjectItemCaseSensitive(wr, "keeps");
        if (check_fields(c, wr, "$.loader.wrapper", wk) ||
            get_string(c, wr, "$.loader.wrapper", "prefix", 1, &r->wrapper_prefix) ||
            get_opt_expr(c, wr, "$.loader.wrapper", "when", &r->wrapper_when) ||
            get_opt_expr(c, wr, "$.loader.wrapper", "class", &r->wrapper_class) ||
            (wm && get_modules(c, wm, "$.loader.wrapper.modules", &r->wrapper_modules, &r->n_wrapper_modules)) ||
            (wkp && get_string_array(c, wkp, "$.loader.wrapper.keeps", &r->wrapper_keeps, &r->n_wrapper_keeps)))
            return -1;
        if (get_string(c, wr, "$.loader.wrapper", "error", 0, &r->wrapper_error))
            return -1;
        if (get_bool(c, wr, "$.loader.wrapper", "strip_modules_only", 0, &r->wrapper_strip_modules_only))
            return -1;
        if (r->n_wrapper_modules && !r->wrapper_class)
            return rfail(c, "$.loader.wrapper", 0, "\"modules\" come with the wrapper's \"class\", which names "
                         "the errors of their keys");
    }
    if (r->n_also_strip && !wr) /* the prefixes are what the wrapper's WeightsMapper maps */
        return rfail(c, "$.loader.also_strip", 0, "other prefixes to strip come with a \"wrapper\": they "
                     "apply where the model sits under it");
    if (!r->strip_prefix && !(r->strip_prefix = strdup("")))
        return rfail(c, "$.loader", 0, "out of memory");
    if (!r->error_format && !(r->error_format = strdup("KeyError: '{param}'")))
        return rfail(c, "$.loader", 0, "out of memory");
    return get_bool(c, ld, "$.loader", "pp_guard", 1, &r->pp_guard) ||
           get_bool(c, ld, "$.loader", "builds_model", 1, &r->builds_model) ||
           get_bool(c, ld, "$.loader", "raises", 1, &r->raises) ||
           get_bool(c, ld, "$.loader", "drops_unknown", 0, &r->drops_unknown) ||
           get_bool(c, ld, "$.loader", "drops_bias", 1, &r->drops_bias) ||
           get_bool(c, ld, "$.loader", "supports_pp", 1, &r->supports_pp) ||
           get_opt_expr(c, ld, "$.loader", "config_experts", &r->config_experts) ? -1 : 0;
}

/* "match": which checkpoints the rules are for (model types, architectures, key patterns, family). 0, or -1 with c->err filled. */
static int parse_match(rctx *c, const cJSON *root)
{
    rules_file *r = c->r;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "match");
    if (m) {
        static const char *const mk[] = {"model_type", "architectures", "auto", "family", "keys", NULL};
        if (!cJSON_IsObject(m) || check_fields(c, m, "$.match", mk))
            return c->err->code ? -1 : rfail(c, "$.match", 0, "must be an object");
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(m, "model_type");
        const cJSON *ar = cJSON_GetObjectItemCaseSensitive(m, "architectures");
        if ((mt && get_string_array(c, mt, "$.match.model_type", &r->model_types, &r->n_model_types)) ||
            (ar && get_string_array(c, ar, "$.match.architectures", &r->architectures, &r->n_architectures)))
            return -1;
        if (get_bool(c, m, "$.match", "auto", 1, &r->auto_choose))
            return -1;
        const cJSON *fa = cJSON_GetObjectItemCaseSensitive(m, "family");
        if (fa && !cJSON_IsString(fa))
            return rfail(c, "$.match.family", 0, "must be a string");
        if (fa && !(r->family = strdup(fa->valuestring)))
            return rfail(c, "$.match.family", 0, "out of memory");
        const cJSON *ks = cJSON_GetObjectItemCaseSensitive(m, "keys");
        if (ks) {
            if (!cJSON_IsArray(ks))
                return rfail(c, "$.match.keys", 0, "must be an array of key patterns");
            r->family_keys = calloc((size_t)cJSON_GetArraySize(ks) + 1, sizeof *r->family_keys);
            if (!r->family_keys)
                return rfail(c, "$.match.keys", 0, "out of memory");
            const cJSON *e;
            int i = 0;
            cJSON_ArrayForEach(e, ks)
            {
                char pp[64], why[256];
                int col;
                snprintf(pp, sizeof pp, "$.match.keys[%d]", i++);
                if (!cJSON_IsString(e))
                    return rfail(c, pp, 0, "must be a pattern in a string");
                if (pattern_compile(e->valuestring, &r->family_keys[r->n_family_keys], why, sizeof why, &col))
                    return rfail(c, pp, col, "bad pattern \"%s\": column %d: %s", e->valuestring, col, why);
                r->n_family_keys++;
            }
        }
    }
    return 0;
}

/* "let": names for expressions over config.json, in order. 0, or -1 with c->err filled. */
static int parse_lets(rctx *c, const cJSON *root)
{
    rules_file *r = c->r;
    char p[512];
    const cJSON *lets = cJSON_GetObjectItemCaseSensitive(root, "let");
    if (lets) {
        if (!cJSON_IsObject(lets))
            return rfail(c, "$.let", 0, "must map names to expressions");
        r->lets = calloc((size_t)cJSON_GetArraySize(lets) + 1, sizeof *r->lets);
        if (!r->lets)
            return rfail(c, "$.let", 0, "out of memory");
        const cJSON *e;
        cJSON_ArrayForEach(e, lets)
        {
            rules_let *l = &r->lets[r->n_lets++];
            if (!(l->name = strdup(e->string)) ||
                get_expr(c, e, path_of(p, sizeof p, "$.let", e->string, 0), &l->value))
                return c->err->code ? -1 : rfail(c, "$.let", 0, "out of memory");
        }
    }
    return 0;
}

/* "forward": what the forward pass needs, as expressions. 0, or -1 with c->err filled. */
static int parse_forward(rctx *c, const cJSON *root)
{
    rules_file *r = c->r;
    char p[512];
    const cJSON *fw = cJSON_GetObjectItemCaseSensitive(root, "forward");
    if (fw) {
        const char *fk[FWD_COUNT + 1] = {NULL};
        for (int i = 0; i < FWD_COUNT; i++)
            fk[i] = rules_forward_name(i);
        if (!cJSON_IsObject(fw))
            return rfail(c, "$.forward", 0, "must map what the forward pass needs (attention, experts, "
                         "router, ...) to expressions");
        if (check_fields(c, fw, "$.forward", fk))
            return -1;
        for (int i = 0; i < FWD_COUNT; i++) {
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(fw, fk[i]);
            if (!e)
                continue;
            path_of(p, sizeof p, "$.forward", fk[i], 0);
            if (get_expr(c, e, p, &r->forward[i]))
                return c->err->code ? -1 : rfail(c, "$.forward", 0, "out of memory");
            r->forward_line[i] = line_of(c, p);
        }
    }
    return 0;
}

/* "ranges": the values a capture takes, "lo .. hi". 0, or -1 with c->err filled. */
static int parse_ranges(rctx *c, const cJSON *root)
{
    rules_file *r = c->r;
    char p[512];
    const cJSON *ranges = cJSON_GetObjectItemCaseSensitive(root, "ranges");
    if (ranges) {
        if (!cJSON_IsObject(ranges))
            return rfail(c, "$.ranges", 0, "must map capture names to \"lo .. hi\"");
        r->ranges = calloc((size_t)cJSON_GetArraySize(ranges) + 1, sizeof *r->ranges);
        if (!r->ranges)
            return rfail(c, "$.ranges", 0, "out of memory");
        const cJSON *e;
        cJSON_ArrayForEach(e, ranges)
        {
            path_of(p, sizeof p, "$.ranges", e->string, 0);
            rules_range *rg = &r->ranges[r->n_ranges++];
            if (!(rg->name = strdup(e->string)))
                return rfail(c, p, 0, "out of memory");
            const char *dots = cJSON_IsString(e) ? strstr(e->valuestring, "..") : NULL;
            if (!dots)
                return rfail(c, p, 0, "a range is a string \"lo .. hi\" (hi excluded)");
            char *lo = strndup(e->valuestring, (size_t)(dots - e->valuestring));
            expr_err ee;
            if (!lo)
                return rfail(c, p, 0, "out of memory");
            rg->lo = expr_compile(lo, &ee);
            free(lo);
            if (!rg->lo)
                return rfail(c, p, ee.col, "bad range start: column %d: %s", ee.col, ee.msg);
            rg->hi = expr_compile(dots + 2, &ee);
            if (!rg->hi)
                return rfail(c, p, (int)(dots + 2 - e->valuestring) + ee.col, "bad range end: %s",
                             ee.msg);
        }
    }
    return 0;
}

/* Whether vLLM's strict check covers a parameter the file does not say about: not when it sits in a
 * module with a quant_method (a linear, the experts, the vocabulary embedding or head), which
 * vLLM exempts because that method prepares the module after loading; a bias beside a linear's
 * {suffix} parameters is in the same module. */
static void strict_defaults(rules_file *r)
{
    for (int i = 0; i < r->n_params; i++) {
        rules_param *a = &r->params[i];
        if (a->strict >= 0)
            continue;
        a->strict = !a->linear && !a->experts && a->shard != SHARD_VOCAB && a->shard != SHARD_EXPERT;
        const char *dot = strrchr(a->name.text, '.');
        size_t mlen = dot ? (size_t)(dot - a->name.text) : 0;
        for (int j = 0; a->strict && mlen && j < r->n_params; j++) {
            const rules_param *b = &r->params[j];
            const char *bd = strrchr(b->name.text, '.');
            if (b->linear && bd && (size_t)(bd - b->name.text) == mlen &&
                strncmp(a->name.text, b->name.text, mlen) == 0)
                a->strict = 0;
        }
    }
}

/* A key rule's parts against the parameter rules written with the same name as its param (that
 * list parts): each listed there and, for several, consecutive from the first (vLLM's tuple shard ids load the
 * parts of a slice numbered from 0, whatever ids the tuple names). */
static int check_key_parts(rctx *c, const rules_file *r)
{
    char base[32], p[64];
    for (int i = 0; i < r->n_keys; i++) {
        const rules_key *k = &r->keys[i];
        for (int t = 0; k->n_parts && t < r->n_params; t++) {
            const rules_param *pr = &r->params[t];
            if (strcmp(pr->name.text, k->param.text) != 0 || (!pr->n_parts && k->n_parts == 1))
                continue; /* (one part of an unfused expert parameter: the FusedMoE shard id, w2) */
            int first = rules_key_part_index(pr, k);
            snprintf(base, sizeof base, "$.keys[%d]", i);
            if (first < 0)
                return rfail(c, path_of(p, sizeof p, base, k->n_parts > 1 ? "parts" : "part", 0), 0, "the parameter "
                             "rule of \"%s\" (line %d) lists %s", pr->name.text, pr->line, k->n_parts > 1 ?
                             "no such run of consecutive parts" : "no such part");
            if (k->n_parts > 1 && first != 0 && !k->copies) /* (a list of shard ids names them) */
                return rfail(c, path_of(p, sizeof p, base, "parts", 0), 0, "vLLM loads a tensor of several parts "
                             "into the parameter's first parts, whatever their ids: list them from \"%s\"",
                             pr->parts[0].id);
        }
    }
    return 0;
}

static int parse_top(rctx *c, const cJSON *root)
{
    rules_file *r = c->r;
    static const char *const known[] = {"ckptdoc_rules", "name", "description", "loader", "match",
                                        "let", "ranges", "params", "keys", "skips", "quant",
                                        "checks", "asserts", "stage_requires", "forward", NULL};
    char p[512];
    if (!cJSON_IsObject(root))
        return rfail(c, "$", 0, "a rules file is a JSON object");
    if (check_fields(c, root, "$", known))
        return -1;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "ckptdoc_rules");
    if (!cJSON_IsNumber(v) || v->valuedouble != RULES_VERSION)
        return rfail(c, v ? "$.ckptdoc_rules" : "$", 0, "\"ckptdoc_rules\": %d must say which "
                     "version of the rules language this file is written in", RULES_VERSION);
    if (get_string(c, root, "$", "name", 1, &r->name) ||
        get_string(c, root, "$", "description", 0, &r->description))
        return -1;
    if (parse_loader(c, root) || parse_match(c, root) || parse_lets(c, root) || parse_forward(c, root) ||
        parse_ranges(c, root))
        return -1;
#define ARRAY(field, count, type, fn, what)                                                       \
    do {                                                                                          \
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, what);                            \
        if (!a)                                                                                   \
            break;                                                                                \
        if (!cJSON_IsArray(a))                                                                    \
            return rfail(c, "$." what, 0, "\"" what "\" must be an array");                      \
        if (cJSON_GetArraySize(a) > RULES_MAX_ENTRIES)                                            \
            return rfail(c, "$." what, 0, "\"" what "\" has %d entries, more than %d (the "       \
                         "most a rules file may have): merge entries into patterns",              \
                         cJSON_GetArraySize(a), RULES_MAX_ENTRIES);                               \
        r->field = calloc((size_t)cJSON_GetArraySize(a) + 1, sizeof(type));                      \
        if (!r->field)                                                                            \
            return rfail(c, "$." what, 0, "out of memory");                                       \
        const cJSON *e;                                                                           \
        cJSON_ArrayForEach(e, a)                                                                  \
        {                                                                                         \
            if (fn(c, e, path_of(p, sizeof p, "$." what, NULL, r->count), &r->field[r->count]))   \
                return -1;                                                                        \
            r->count++;                                                                           \
        }                                                                                         \
    } while (0)
    ARRAY(params, n_params, rules_param, parse_param, "params");
    strict_defaults(r);
    ARRAY(keys, n_keys, rules_key, parse_key, "keys");
    if (check_key_parts(c, r))
        return -1;
    ARRAY(skips, n_skips, rules_skip, parse_skip, "skips");
    ARRAY(checks, n_checks, rules_check, parse_check, "checks");
    ARRAY(asserts, n_asserts, rules_assert, parse_assert, "asserts");
    ARRAY(stage_reqs, n_stage_reqs, rules_stage_req, parse_stage_req, "stage_requires");
#undef ARRAY
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(root, "quant");
    if (q && parse_quant(c, q, "$.quant"))
        return -1;
    return 0;
}

int rules_parse(const char *text, size_t len, const char *path, rules_file *r, ck_err *err)
{
    memset(r, 0, sizeof *r);
    rctx c = {text, len, path, err, r, "", -1, 0, 0, NULL};
    if (len > RULES_MAX_BYTES)
        return ck_err_set(err, CK_EFORMAT, path, NULL, CK_NO_OFFSET, "rules file larger than 16 MiB");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= text && at <= text + len ? (size_t)(at - text) : 0;
        ck_err_set(err, CK_EFORMAT, path, "$", off, "not valid JSON");
        text_line_col(text, off, &err->line, &err->col);
        return CK_EFORMAT;
    }
    /* trailing text after the object */
    while (end && (size_t)(end - text) < len && (*end == ' ' || *end == '\n' || *end == '\t' || *end == '\r'))
        end++;
    if (end && (size_t)(end - text) < len && *end) {
        size_t off = (size_t)(end - text);
        ck_err_set(err, CK_EFORMAT, path, "$", off, "not valid JSON: text after the object");
        text_line_col(text, off, &err->line, &err->col);
        cJSON_Delete(root);
        return CK_EFORMAT;
    }
    if (!(r->path = strdup(path)) || parse_top(&c, root) != 0) {
        if (!err->code)
            ck_err_set(err, CK_ENOMEM, path, NULL, CK_NO_OFFSET, "out of memory");
        cJSON_Delete(root);
        free(c.arena);
        rules_free(r);
        return err->code;
    }
    cJSON_Delete(root);
    free(c.arena);
    return CK_OK;
}

int rules_load_file(const char *path, rules_file *r, ck_err *err)
{
    memset(r, 0, sizeof *r);
    const char *why;
    FILE *fp = ck_fopen_ro(path, &why);
    if (!fp)
        return ck_err_set(err, CK_EIO, path, NULL, CK_NO_OFFSET, "cannot open the rules file: %s", why);
    char *buf = malloc(RULES_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, RULES_MAX_BYTES + 1, fp) : 0;
    fclose(fp);
    if (!buf)
        return ck_err_set(err, CK_ENOMEM, path, NULL, CK_NO_OFFSET, "out of memory");
    buf[n <= RULES_MAX_BYTES ? n : RULES_MAX_BYTES] = 0;
    int rc = rules_parse(buf, n, path, r, err);
    free(buf);
    return rc;
}

int rules_load_builtin(const char *name, rules_file *r, ck_err *err)
{
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < rules_builtin_count(); i++)
        if (strcmp(rules_builtin_name(i), name) == 0) {
            size_t len;
            const char *text = rules_builtin_text(i, &len);
            char path[128];
            snprintf(path, sizeof path, "builtin:%s", name);
            return rules_parse(text, len, path, r, err);
        }
    char list[512] = "";
    const char *names[64];
    size_t n = 0;
    for (size_t i = 0; i < rules_builtin_count(); i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", l ? ", " : "", rules_builtin_name(i));
        if (n < 64)
            names[n++] = rules_builtin_name(i);
    }
    const char *near = text_nearest(name, names, n, 2);
    return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "no built-in rules named \"%s\"%s%s%s "
                      "(built in: %s)", name, near ? "; did you mean \"" : "", near ? near : "", near ? "\"?" : "",
                      list);
}

static void free_exprs(expr **e, int n)
{
    for (int i = 0; i < n; i++)
        expr_free(e[i]);
    free(e);
}

/* Frees n strings of get_string_array and the array (NULL: nothing). */
static void free_strings(char **v, int n)
{
    for (int i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void rules_free(rules_file *r)
{
    if (!r)
        return;
    free(r->path);
    free(r->name);
    free(r->description);
    free(r->loader);
    free(r->loader_version);
    free(r->strip_prefix);
    free_strings(r->also_strip, r->n_also_strip);
    free(r->wrapper_prefix);
    expr_free(r->wrapper_when);
    expr_free(r->wrapper_class);
    free(r->wrapper_error);
    free_strings(r->wrapper_modules, r->n_wrapper_modules);
    free_strings(r->wrapper_keeps, r->n_wrapper_keeps);
    for (int i = 0; i < r->n_old_names; i++) {
        free(r->old_from[i]);
        free(r->old_to[i]);
    }
    free(r->old_from);
    free(r->old_to);
    free(r->error_format);
    free(r->strict_error);
    free(r->outer_class);
    expr_free(r->outer_class_expr);
    free_strings(r->outer_modules, r->n_outer_modules);
    free_strings(r->outer_maps, r->n_outer_maps);
    free_strings(r->outer_strip, r->n_outer_strip);
    expr_free(r->outer_maps_when);
    free(r->outer_error);
    expr_free(r->strict_when);
    expr_free(r->config_experts);
    free_strings(r->model_types, r->n_model_types);
    free_strings(r->architectures, r->n_architectures);
    for (int i = 0; i < r->n_family_keys; i++)
        pattern_free(&r->family_keys[i]);
    if (r->has_notice)
        pattern_free(&r->notice);
    free(r->notice_reason);
    free(r->family_keys);
    free(r->family);
    for (int i = 0; i < FWD_COUNT; i++)
        expr_free(r->forward[i]);
    if (r->lets)
        for (int i = 0; i <= r->n_lets; i++) {
            free(r->lets[i].name);
            expr_free(r->lets[i].value);
        }
    free(r->lets);
    if (r->ranges)
        for (int i = 0; i <= r->n_ranges; i++) {
            free(r->ranges[i].name);
            expr_free(r->ranges[i].lo);
            expr_free(r->ranges[i].hi);
        }
    free(r->ranges);
    if (r->params)
        for (int i = 0; i <= r->n_params; i++) {
            rules_param *p = &r->params[i];
            pattern_free(&p->name);
            expr_free(p->when);
            expr_free(p->experts);
            expr_free(p->tp_granule);
            free_exprs(p->shape, p->ndim);
            for (int k = 0; k < p->n_parts; k++) {
                free(p->parts[k].id);
                expr_free(p->parts[k].size);
                expr_free(p->parts[k].heads);
            }
            free(p->parts);
        }
    free(r->params);
    if (r->keys)
        for (int i = 0; i <= r->n_keys; i++) {
            pattern_free(&r->keys[i].key);
            pattern_free(&r->keys[i].param);
            expr_free(r->keys[i].when);
            expr_free(r->keys[i].rotary_pairs);
            for (int j = 0; j < r->keys[i].n_parts; j++)
                free(r->keys[i].parts[j]);
            free(r->keys[i].parts);
            free(r->keys[i].hazard);
        }
    free(r->keys);
    if (r->skips)
        for (int i = 0; i <= r->n_skips; i++) {
            pattern_free(&r->skips[i].key);
            expr_free(r->skips[i].when);
            free(r->skips[i].reason);
        }
    free(r->skips);
    if (r->checks)
        for (int i = 0; i <= r->n_checks; i++) {
            pattern_free(&r->checks[i].module);
            expr_free(r->checks[i].when);
            for (int k = 0; k < r->checks[i].n_has; k++)
                free(r->checks[i].has_one_of[k]);
            free(r->checks[i].has_one_of);
            free(r->checks[i].error);
        }
    free(r->checks);
    if (r->asserts)
        for (int i = 0; i <= r->n_asserts; i++) {
            expr_free(r->asserts[i].cond);
            free(r->asserts[i].error);
        }
    free(r->asserts);
    if (r->stage_reqs)
        for (int i = 0; i <= r->n_stage_reqs; i++) {
            free(r->stage_reqs[i].param);
            expr_free(r->stage_reqs[i].cond);
            expr_free(r->stage_reqs[i].when);
            free(r->stage_reqs[i].error);
        }
    free(r->stage_reqs);
    for (int i = 0; i < r->n_classes; i++) {
        pattern_free(&r->class_pat[i]);
        expr_free(r->class_expr[i]);
    }
    free(r->class_pat);
    free(r->class_expr);
    if (r->quants)
        for (int i = 0; i <= r->n_quants; i++) {
            for (int k = 0; !r->quants[i].shared && k < r->quants[i].n_suffixes; k++) {
                free(r->quants[i].suffixes[k].suffix);
                free(r->quants[i].suffixes[k].dtype);
                expr_free(r->quants[i].suffixes[k].when);
                free_exprs(r->quants[i].suffixes[k].shape, r->quants[i].suffixes[k].ndim);
            }
            if (!r->quants[i].shared)
                free(r->quants[i].suffixes);
            free(r->quants[i].method);
        }
    free(r->quants);
    memset(r, 0, sizeof *r);
}

int rules_part_index(const rules_param *t, const char *id)
{
    for (int k = 0; id && k < t->n_parts; k++)
        if (strcmp(t->parts[k].id, id) == 0)
            return k;
    return -1;
}

int rules_key_part_index(const rules_param *t, const rules_key *k)
{
    int first = rules_part_index(t, k->part);
    for (int i = 1; first >= 0 && i < k->n_parts; i++)
        if (rules_part_index(t, k->parts[i]) != first + i)
            return -1;
    return first;
}

const char *rules_key_parts_text(const rules_key *k, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = 0;
    if (k->n_parts) {
        int w = snprintf(buf, size, "part%s ", k->n_parts > 1 ? "s" : "");
        n = w > 0 ? (size_t)w : 0;
    }
    for (int i = 0; i < k->n_parts && n < size; i++) {
        int w = snprintf(buf + n, size - n, "%s%s", i == 0 ? "" : i + 1 == k->n_parts ? " and " : ", ", k->parts[i]);
        n += w > 0 ? (size_t)w : 0;
    }
    if (k->copies && n < size)
        snprintf(buf + n, size - n, " (each the whole tensor)");
    return buf;
}

const char *rules_forward_name(int which)
{
    static const char *const names[FWD_COUNT] = {"attention", "experts", "topk", "router", "renorm", "groups",
                                                 "topk_groups", "moe", "shared", "norm_offset", "block", "act",
                                                 "embed_scale", "attn_scale_dim", "attn_softcap", "final_softcap",
                                                 "window", "sliding", "embed_multiplier", "residual_multiplier",
                                                 "attn_scale", "logit_scale", "logit_divisor", "norm", "rope_style",
                                                 "rope", "gate", "attn_module", "embedding", "qk_norm", "mlp", "mlp_in",
                                                 "mlp_out", "norm_eps", "residual_depth_scale", "logit_width_base",
                                                 "mlp_module", "mlp_inter", "chunk", "chunked", "attn_temperature_floor",
                                                 "rotary_dim", "correction_bias", "post_attn_norm", "pre_mlp_norm",
                                                 "post_mlp_norm", "sliding_rope", "deltanet_layout", "refuse",
                                                 "head_dim", "kv_heads", "v_norm", "kv_source", "experts_beside",
                                                 "per_layer_input", "layer_scalar", "routed_scale",
                                                 "shared_module", "attn_gate", "v_head_dim", "v_scale", "sinks",
                                                 "sliding_theta", "layer_kind", "input_norm", "final_norm",
                                                 "ssm_heads", "ssm_head_dim", "ssm_groups", "ssm_state",
                                                 "ssm_conv", "layer_mlp", "ssm_module", "latent", "o_proj",
                                                 "q_norm", "k_norm", "moe_average"};
    return which >= 0 && which < FWD_COUNT ? names[which] : "?";
}
