/* st.c - a strict, single-pass scanner for the one JSON schema a safetensors header has, and the
 * reference's offset validation. The scanner accepts exactly the JSON the reference's serde_json
 * accepts for this schema (RFC 8259 syntax, integer literals for sizes, 128 levels of nesting). */
#include "st.h"
#include "strmap.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct { const char *variant, *code; } st_status_names[ST_STATUS_COUNT] = {
    [ST_OK] = {"Ok", "st.ok"},
    [ST_HEADER_TOO_SMALL] = {"HeaderTooSmall", "st.header_too_small"},
    [ST_HEADER_TOO_LARGE] = {"HeaderTooLarge", "st.header_too_large"},
    [ST_INVALID_HEADER_LENGTH] = {"InvalidHeaderLength", "st.invalid_header_length"},
    [ST_INVALID_UTF8] = {"InvalidHeader", "st.invalid_utf8"},
    [ST_INVALID_JSON] = {"InvalidHeaderDeserialization", "st.invalid_json"},
    [ST_INVALID_SCHEMA] = {"InvalidHeaderDeserialization", "st.invalid_schema"},
    [ST_UNKNOWN_DTYPE] = {"InvalidHeaderDeserialization", "st.unknown_dtype"},
    [ST_INVALID_OFFSET] = {"InvalidOffset", "st.invalid_offset"},
    [ST_OVERFLOW] = {"ValidationOverflow", "st.overflow"},
    [ST_MISALIGNED] = {"MisalignedSlice", "st.misaligned"},
    [ST_INVALID_INFO] = {"TensorInvalidInfo", "st.invalid_info"},
    [ST_INCOMPLETE_BUFFER] = {"MetadataIncompleteBuffer", "st.incomplete_buffer"},
    [ST_NOMEM] = {"OutOfMemory", "st.out_of_memory"},
};

const char *st_status_variant(st_status s)
{
    return (unsigned)s < ST_STATUS_COUNT ? st_status_names[s].variant : "?";
}

const char *st_status_code(st_status s)
{
    return (unsigned)s < ST_STATUS_COUNT ? st_status_names[s].code : "st.unknown";
}

uint64_t st_tensor_numel(const st_tensor *t)
{
    uint64_t n = 1;
    for (uint32_t i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

const char *st_shape_str(const uint64_t *shape, uint32_t ndim, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = 0;
    n += (size_t)snprintf(buf + n, size - n, "[");
    for (uint32_t i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%llu", i ? ", " : "",
                              (unsigned long long)shape[i]);
    if (n < size)
        snprintf(buf + n, size - n, "]");
    return buf;
}

void st_header_free(st_header *h)
{
    if (!h)
        return;
    free(h->tensors);
    free(h->meta_keys);
    free(h->meta_vals);
    free(h->arena);
    free(h->dims);
    memset(h, 0, sizeof *h);
}

/* ------------------------------------------------------------------------------------------ */
/* UTF-8, as Rust's str::from_utf8: no overlong forms, no surrogates, nothing above U+10FFFF. */

static size_t utf8_invalid_at(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* fast path over ASCII, 8 bytes at a time */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull)
                break;
            i += 8;
        }
        if (i >= n)
            break;
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
            need = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0;
            if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90;
            if (c == 0xF4)
                hi = 0x8F;
        } else
            return i;
        if (i + need >= n)
            return i;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
        i += need + 1;
    }
    return (size_t)-1;
}

/* ------------------------------------------------------------------------------------------ */
/* The scanner. */

typedef struct {
    const uint8_t *b;   /* header start */
    size_t n, i;        /* header length, cursor */
    int depth;
    st_status status;
    char msg[1024];
    char key[256];
    uint64_t off;       /* file offset of the error */
    char *arena;        /* decoded strings */
    size_t arena_n;
    st_tensor *t;
    size_t nt, capt;
    uint64_t *dims;
    size_t nd, capd;
    size_t *dim_at;     /* (nt) index into dims of each tensor's shape */
    const char **mk, **mv;
    size_t nm, capm;
    int meta_seen;
    const char *fname;
    ck_findings *f;
} scan;

static int fail(scan *s, st_status st, const char *key, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail(scan *s, st_status st, const char *key, size_t at, const char *fmt, ...)
{
    if (s->status != ST_OK)
        return -1;
    s->status = st;
    snprintf(s->key, sizeof s->key, "%s", key ? key : "");
    s->off = 8 + (uint64_t)at;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->msg, sizeof s->msg, fmt, ap);
    va_end(ap);
    return -1;
}

static inline int is_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline void skip_ws(scan *s)
{
    while (s->i < s->n && is_ws(s->b[s->i]))
        s->i++;
}

static const char *describe(scan *s)
{
    static _Thread_local char buf[32];
    if (s->i >= s->n)
        return "the end of the header";
    uint8_t c = s->b[s->i];
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, sizeof buf, "'%c'", c);
    else
        snprintf(buf, sizeof buf, "byte 0x%02x", c);
    return buf;
}

static int expect(scan *s, char c, const char *what)
{
    skip_ws(s);
    if (s->i < s->n && s->b[s->i] == (uint8_t)c) {
        s->i++;
        return 0;
    }
    return fail(s, ST_INVALID_JSON, NULL, s->i, "header is not valid JSON: expected %s, found %s",
                what, describe(s));
}

static int hex4(const uint8_t *p, unsigned *out)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        uint8_t c = p[k];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *d, unsigned cp)
{
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xC0 | (cp >> 6));
        d[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | (cp >> 12));
        d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (char)(0xF0 | (cp >> 18));
    d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Parses a string at the cursor (after whitespace). When keep, decodes it into the arena and
 * returns its start (NUL-terminated); otherwise only validates it and returns a non-NULL dummy.
 * A decoded string never outgrows its quoted source, so the arena (n + 1 bytes) cannot overflow. */
static const char *parse_string(scan *s, int keep, size_t *len_out)
{
    skip_ws(s);
    if (s->i >= s->n || s->b[s->i] != '"') {
        fail(s, ST_INVALID_JSON, NULL, s->i, "header is not valid JSON: expected a string, found %s",
             describe(s));
        return NULL;
    }
    s->i++;
    char *dst = s->arena + s->arena_n;
    size_t dn = 0;
    for (;;) {
        size_t start = s->i;
        while (s->i < s->n) {
            uint8_t c = s->b[s->i];
            if (c == '"' || c == '\\' || c < 0x20)
                break;
            s->i++;
        }
        if (keep && s->i > start) {
            memcpy(dst + dn, s->b + start, s->i - start);
            dn += s->i - start;
        }
        if (s->i >= s->n) {
            fail(s, ST_INVALID_JSON, NULL, s->i, "header is not valid JSON: string not terminated");
            return NULL;
        }
        uint8_t c = s->b[s->i];
        if (c == '"') {
            s->i++;
            break;
        }
        if (c < 0x20) {
            fail(s, ST_INVALID_JSON, NULL, s->i,
                 "header is not valid JSON: control character 0x%02x inside a string", c);
            return NULL;
        }
        /* escape */
        if (s->i + 1 >= s->n) {
            fail(s, ST_INVALID_JSON, NULL, s->i, "header is not valid JSON: string not terminated");
            return NULL;
        }
        uint8_t e = s->b[s->i + 1];
        char out;
        switch (e) {
        case '"': out = '"'; break;
        case '\\': out = '\\'; break;
        case '/': out = '/'; break;
        case 'b': out = '\b'; break;
        case 'f': out = '\f'; break;
        case 'n': out = '\n'; break;
        case 'r': out = '\r'; break;
        case 't': out = '\t'; break;
        case 'u': out = 0; break;
        default:
            fail(s, ST_INVALID_JSON, NULL, s->i, "header is not valid JSON: invalid escape '\\%c'",
                 e >= 0x20 && e < 0x7f ? e : '?');
            return NULL;
        }
        if (e != 'u') {
            if (keep)
                dst[dn++] = out;
            s->i += 2;
            continue;
        }
        unsigned cp;
        if (s->i + 6 > s->n || hex4(s->b + s->i + 2, &cp) != 0) {
            fail(s, ST_INVALID_JSON, NULL, s->i, "header is not valid JSON: invalid \\u escape");
            return NULL;
        }
        size_t at = s->i;
        s->i += 6;
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail(s, ST_INVALID_JSON, NULL, at,
                 "header is not valid JSON: lone trailing surrogate \\u%04X in a string", cp);
            return NULL;
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned lo;
            if (s->i + 6 > s->n || s->b[s->i] != '\\' || s->b[s->i + 1] != 'u' ||
                hex4(s->b + s->i + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF) {
                fail(s, ST_INVALID_JSON, NULL, at,
                     "header is not valid JSON: lone leading surrogate \\u%04X in a string", cp);
                return NULL;
            }
            s->i += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (keep)
            dn += put_utf8(dst + dn, cp);
    }
    if (len_out)
        *len_out = dn;
    if (!keep)
        return "";
    dst[dn] = 0;
    s->arena_n += dn + 1;
    return dst;
}

/* Validates a JSON number at the cursor; returns its kind: 0 integer >= 0 (value in *v, or
 * *big set when it does not fit 64 bits), 1 negative integer, 2 fraction or exponent, -1 error. */
static int parse_number(scan *s, uint64_t *v, int *big)
{
    size_t i = s->i;
    int neg = 0, kind;
    uint64_t x = 0;
    *big = 0;
    if (i < s->n && s->b[i] == '-') {
        neg = 1;
        i++;
    }
    if (i >= s->n || s->b[i] < '0' || s->b[i] > '9')
        return fail(s, ST_INVALID_JSON, NULL, i, "header is not valid JSON: invalid number");
    if (s->b[i] == '0') {
        i++;
        if (i < s->n && s->b[i] >= '0' && s->b[i] <= '9')
            return fail(s, ST_INVALID_JSON, NULL, i,
                        "header is not valid JSON: number with a leading zero");
    } else {
        while (i < s->n && s->b[i] >= '0' && s->b[i] <= '9') {
            unsigned d = s->b[i] - '0';
            if (x > (UINT64_MAX - d) / 10)
                *big = 1;
            else
                x = x * 10 + d;
            i++;
        }
    }
    kind = neg ? 1 : 0; /* "-0" too: serde_json reads it as the float -0.0 */
    if (i < s->n && s->b[i] == '.') {
        i++;
        if (i >= s->n || s->b[i] < '0' || s->b[i] > '9')
            return fail(s, ST_INVALID_JSON, NULL, i, "header is not valid JSON: invalid number");
        while (i < s->n && s->b[i] >= '0' && s->b[i] <= '9')
            i++;
        kind = 2;
    }
    if (i < s->n && (s->b[i] == 'e' || s->b[i] == 'E')) {
        i++;
        if (i < s->n && (s->b[i] == '+' || s->b[i] == '-'))
            i++;
        if (i >= s->n || s->b[i] < '0' || s->b[i] > '9')
            return fail(s, ST_INVALID_JSON, NULL, i, "header is not valid JSON: invalid number");
        while (i < s->n && s->b[i] >= '0' && s->b[i] <= '9')
            i++;
        kind = 2;
    }
    s->i = i;
    *v = x;
    return kind;
}

static const char *value_kind(scan *s)
{
    if (s->i >= s->n)
        return "nothing";
    switch (s->b[s->i]) {
    case '{': return "an object";
    case '[': return "an array";
    case '"': return "a string";
    case 't': case 'f': return "a boolean";
    case 'n': return "null";
    default: return "a number";
    }
}

static int parse_literal(scan *s, const char *lit)
{
    size_t l = strlen(lit);
    if (s->i + l <= s->n && memcmp(s->b + s->i, lit, l) == 0) {
        s->i += l;
        return 0;
    }
    return fail(s, ST_INVALID_JSON, NULL, s->i, "header is not valid JSON: unexpected %s",
                describe(s));
}

/* Validates and skips any JSON value. */
static int skip_value(scan *s)
{
    skip_ws(s);
    if (s->i >= s->n)
        return fail(s, ST_INVALID_JSON, NULL, s->i, "header is not valid JSON: expected a value, "
                    "found the end of the header");
    uint8_t c = s->b[s->i];
    if (c == '"')
        return parse_string(s, 0, NULL) ? 0 : -1;
    if (c == 't')
        return parse_literal(s, "true");
    if (c == 'f')
        return parse_literal(s, "false");
    if (c == 'n')
        return parse_literal(s, "null");
    if (c == '-' || (c >= '0' && c <= '9')) {
        uint64_t v;
        int big;
        return parse_number(s, &v, &big) < 0 ? -1 : 0;
    }
    if (c != '[' && c != '{')
        return fail(s, ST_INVALID_JSON, NULL, s->i, "header is not valid JSON: expected a value, "
                    "found %s", describe(s));
    if (++s->depth > ST_MAX_DEPTH)
        return fail(s, ST_INVALID_JSON, NULL, s->i,
                    "header is not valid JSON: nested deeper than %d levels", ST_MAX_DEPTH);
    s->i++;
    char close = c == '[' ? ']' : '}';
    skip_ws(s);
    if (s->i < s->n && s->b[s->i] == (uint8_t)close) {
        s->i++;
        s->depth--;
        return 0;
    }
    for (;;) {
        if (c == '{') {
            if (!parse_string(s, 0, NULL) || expect(s, ':', "':'"))
                return -1;
        }
        if (skip_value(s))
            return -1;
        skip_ws(s);
        if (s->i < s->n && s->b[s->i] == ',') {
            s->i++;
            continue;
        }
        if (s->i < s->n && s->b[s->i] == (uint8_t)close) {
            s->i++;
            s->depth--;
            return 0;
        }
        return fail(s, ST_INVALID_JSON, NULL, s->i, "header is not valid JSON: expected ',' or "
                    "'%c', found %s", close, describe(s));
    }
}

/* Parses a size: a non-negative integer literal that fits 64 bits, as serde's usize. */
static int parse_size(scan *s, const char *key, const char *what, uint64_t *out)
{
    skip_ws(s);
    size_t at = s->i;
    uint8_t c = at < s->n ? s->b[at] : 0;
    if (c != '-' && !(c >= '0' && c <= '9')) {
        if (c == '"' || c == '[' || c == '{' || c == 't' || c == 'f' || c == 'n') {
            const char *k = value_kind(s);
            if (skip_value(s))
                return -1;
            return fail(s, ST_INVALID_SCHEMA, key, at, "%s is %s but must be a non-negative "
                        "integer", what, k);
        }
        return fail(s, ST_INVALID_JSON, NULL, at, "header is not valid JSON: expected a value, "
                    "found %s", describe(s));
    }
    int big, kind = parse_number(s, out, &big);
    if (kind < 0)
        return -1;
    size_t len = s->i - at;
    if (kind == 1)
        return fail(s, ST_INVALID_SCHEMA, key, at, "%s is %.*s but must be a non-negative "
                    "integer", what, (int)(len > 40 ? 40 : len), (const char *)s->b + at);
    if (kind == 2)
        return fail(s, ST_INVALID_SCHEMA, key, at, "%s is %.*s but must be an integer (no "
                    "fraction or exponent)", what, (int)(len > 40 ? 40 : len),
                    (const char *)s->b + at);
    if (big)
        return fail(s, ST_INVALID_SCHEMA, key, at, "%s is %.*s, which does not fit 64 bits",
                    what, (int)(len > 40 ? 40 : len), (const char *)s->b + at);
    return 0;
}

static int push_dim(scan *s, uint64_t d)
{
    if (s->nd == s->capd) {
        size_t cap = s->capd ? s->capd * 2 : 256;
        uint64_t *p = realloc(s->dims, cap * sizeof *p);
        if (!p)
            return fail(s, ST_NOMEM, NULL, s->i, "out of memory");
        s->dims = p;
        s->capd = cap;
    }
    s->dims[s->nd++] = d;
    return 0;
}

static int parse_shape(scan *s, const char *key, uint32_t *ndim)
{
    skip_ws(s);
    size_t at = s->i;
    if (s->i >= s->n || s->b[s->i] != '[') {
        const char *k = value_kind(s);
        if (skip_value(s))
            return -1;
        return fail(s, ST_INVALID_SCHEMA, key, at, "shape is %s but must be an array of "
                    "non-negative integers", k);
    }
    s->i++;
    *ndim = 0;
    skip_ws(s);
    if (s->i < s->n && s->b[s->i] == ']') {
        s->i++;
        return 0;
    }
    for (;;) {
        char what[48];
        uint64_t d;
        snprintf(what, sizeof what, "shape[%u]", *ndim);
        if (parse_size(s, key, what, &d) || push_dim(s, d))
            return -1;
        (*ndim)++;
        skip_ws(s);
        if (s->i < s->n && s->b[s->i] == ',') {
            s->i++;
            continue;
        }
        return expect(s, ']', "',' or ']' in shape");
    }
}

static int parse_offsets(scan *s, const char *key, uint64_t *b, uint64_t *e)
{
    skip_ws(s);
    size_t at = s->i;
    if (s->i >= s->n || s->b[s->i] != '[') {
        const char *k = value_kind(s);
        if (skip_value(s))
            return -1;
        return fail(s, ST_INVALID_SCHEMA, key, at, "data_offsets is %s but must be an array "
                    "[BEGIN, END]", k);
    }
    s->i++;
    uint64_t v[2];
    for (int k = 0; k < 2; k++) {
        skip_ws(s);
        if (s->i < s->n && s->b[s->i] == ']')
            return fail(s, ST_INVALID_SCHEMA, key, at, "data_offsets has %d element%s but must "
                        "have 2: [BEGIN, END]", k, k == 1 ? "" : "s");
        if (parse_size(s, key, k ? "data_offsets[1]" : "data_offsets[0]", &v[k]))
            return -1;
        skip_ws(s);
        if (k == 0 && s->i < s->n && s->b[s->i] == ']')
            return fail(s, ST_INVALID_SCHEMA, key, at, "data_offsets has 1 element but must "
                        "have 2: [BEGIN, END]");
        if (k == 0 && expect(s, ',', "',' in data_offsets"))
            return -1;
    }
    skip_ws(s);
    if (s->i < s->n && s->b[s->i] == ',')
        return fail(s, ST_INVALID_SCHEMA, key, at, "data_offsets has more than 2 elements but "
                    "must be [BEGIN, END]");
    if (expect(s, ']', "']' after data_offsets"))
        return -1;
    *b = v[0];
    *e = v[1];
    return 0;
}

static int parse_dtype(scan *s, const char *key, ck_dtype *dt)
{
    skip_ws(s);
    size_t at = s->i;
    if (s->i >= s->n || s->b[s->i] != '"') {
        const char *k = value_kind(s);
        if (skip_value(s))
            return -1;
        return fail(s, ST_INVALID_SCHEMA, key, at, "dtype is %s but must be a string", k);
    }
    size_t mark = s->arena_n, len;
    const char *str = parse_string(s, 1, &len);
    if (!str)
        return -1;
    int r = dtype_parse(str, len, dt);
    if (r != 0) {
        char shown[40];
        snprintf(shown, sizeof shown, "%s", str);
        fail(s, ST_UNKNOWN_DTYPE, key, at, "dtype \"%s\" is not a safetensors dtype (BOOL, F4, "
             "F6_E2M3, F6_E3M2, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ, I16, "
             "U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64)", shown);
    }
    s->arena_n = mark;
    return r;
}

enum { F_DTYPE = 1, F_SHAPE = 2, F_OFFSETS = 4 };

static int add_tensor(scan *s, const char *name, ck_dtype dt, size_t dim0, uint32_t ndim,
                      uint64_t b, uint64_t e)
{
    if (s->nt == s->capt) {
        size_t cap = s->capt ? s->capt * 2 : 64;
        st_tensor *t = realloc(s->t, cap * sizeof *t);
        size_t *d = realloc(s->dim_at, cap * sizeof *d);
        if (t)
            s->t = t;
        if (d)
            s->dim_at = d;
        if (!t || !d)
            return fail(s, ST_NOMEM, NULL, s->i, "out of memory");
        s->capt = cap;
    }
    st_tensor *t = &s->t[s->nt];
    memset(t, 0, sizeof *t);
    t->name = name;
    t->dtype = dt;
    t->ndim = ndim;
    t->begin = b;
    t->end = e;
    s->dim_at[s->nt] = dim0;
    s->nt++;
    return 0;
}

/* A tensor entry: {"dtype": .., "shape": [..], "data_offsets": [b, e]} in any order, unknown
 * fields skipped (the reference ignores them; the spec's schema forbids them: a warning), or the
 * sequence form [dtype, shape, data_offsets] that the reference's deserializer also accepts. */
static int parse_tensor(scan *s, const char *name)
{
    skip_ws(s);
    size_t at = s->i;
    ck_dtype dt = DT_F32;
    uint32_t ndim = 0;
    uint64_t b = 0, e = 0;
    size_t dim0 = s->nd;
    if (s->i < s->n && s->b[s->i] == '[') {
        if (++s->depth > ST_MAX_DEPTH)
            return fail(s, ST_INVALID_JSON, NULL, s->i, "header is not valid JSON: nested too deep");
        s->i++;
        skip_ws(s);
        if (s->i < s->n && s->b[s->i] == ']')
            return fail(s, ST_INVALID_SCHEMA, name, at, "tensor entry is an empty array but must "
                        "be an object with dtype, shape and data_offsets");
        if (parse_dtype(s, name, &dt) || expect(s, ',', "',' after dtype") ||
            parse_shape(s, name, &ndim) || expect(s, ',', "',' after shape") ||
            parse_offsets(s, name, &b, &e))
            return -1;
        skip_ws(s);
        if (s->i < s->n && s->b[s->i] == ',')
            return fail(s, ST_INVALID_SCHEMA, name, at, "tensor entry array has more than 3 "
                        "elements");
        if (expect(s, ']', "']'"))
            return -1;
        s->depth--;
        findings_add(s->f, "st.array_entry", SEV_WARNING, s->fname, name, 8 + (uint64_t)at,
                     "tensor entry is written as an array [dtype, shape, data_offsets]; the "
                     "reference reader accepts it but the format's schema requires an object");
        return add_tensor(s, name, dt, dim0, ndim, b, e);
    }
    if (s->i >= s->n || s->b[s->i] != '{') {
        const char *k = value_kind(s);
        if (skip_value(s))
            return -1;
        return fail(s, ST_INVALID_SCHEMA, name, at, "tensor entry is %s but must be an object "
                    "with dtype, shape and data_offsets", k);
    }
    if (++s->depth > ST_MAX_DEPTH)
        return fail(s, ST_INVALID_JSON, NULL, s->i, "header is not valid JSON: nested too deep");
    s->i++;
    int seen = 0;
    skip_ws(s);
    if (s->i < s->n && s->b[s->i] == '}')
        s->i++;
    else
        for (;;) {
            size_t mark = s->arena_n, flen, fat;
            skip_ws(s);
            fat = s->i;
            const char *field = parse_string(s, 1, &flen);
            if (!field || expect(s, ':', "':'"))
                return -1;
            int which = 0;
            if (flen == 5 && memcmp(field, "dtype", 5) == 0)
                which = F_DTYPE;
            else if (flen == 5 && memcmp(field, "shape", 5) == 0)
                which = F_SHAPE;
            else if (flen == 12 && memcmp(field, "data_offsets", 12) == 0)
                which = F_OFFSETS;
            if (which && (seen & which))
                return fail(s, ST_INVALID_SCHEMA, name, fat, "duplicate field `%s` in the tensor "
                            "entry", field);
            if (!which) {
                char shown[64];
                snprintf(shown, sizeof shown, "%s", field);
                findings_add(s->f, "st.unknown_field", SEV_WARNING, s->fname, name, 8 + (uint64_t)fat,
                             "tensor entry has unknown field \"%s\"; the reference reader ignores "
                             "it but the format's schema allows only dtype, shape, data_offsets",
                             shown);
            }
            s->arena_n = mark;
            seen |= which;
            int r = which == F_DTYPE ? parse_dtype(s, name, &dt)
                  : which == F_SHAPE ? parse_shape(s, name, &ndim)
                  : which == F_OFFSETS ? parse_offsets(s, name, &b, &e)
                  : skip_value(s);
            if (r)
                return -1;
            skip_ws(s);
            if (s->i < s->n && s->b[s->i] == ',') {
                s->i++;
                continue;
            }
            if (expect(s, '}', "',' or '}' in the tensor entry"))
                return -1;
            break;
        }
    s->depth--;
    if (!(seen & F_DTYPE))
        return fail(s, ST_INVALID_SCHEMA, name, at, "missing field `dtype` in the tensor entry");
    if (!(seen & F_SHAPE))
        return fail(s, ST_INVALID_SCHEMA, name, at, "missing field `shape` in the tensor entry");
    if (!(seen & F_OFFSETS))
        return fail(s, ST_INVALID_SCHEMA, name, at, "missing field `data_offsets` in the tensor "
                    "entry");
    return add_tensor(s, name, dt, dim0, ndim, b, e);
}

static int push_meta(scan *s, const char *k, const char *v)
{
    for (size_t j = 0; j < s->nm; j++)
        if (strcmp(s->mk[j], k) == 0) { /* a map: the later value wins */
            s->mv[j] = v;
            return 0;
        }
    if (s->nm == s->capm) {
        size_t cap = s->capm ? s->capm * 2 : 8;
        const char **a = realloc(s->mk, cap * sizeof *a);
        if (a)
            s->mk = a;
        const char **b = realloc(s->mv, cap * sizeof *b);
        if (b)
            s->mv = b;
        if (!a || !b)
            return fail(s, ST_NOMEM, NULL, s->i, "out of memory");
        s->capm = cap;
    }
    s->mk[s->nm] = k;
    s->mv[s->nm] = v;
    s->nm++;
    return 0;
}

static int parse_metadata(scan *s, size_t at)
{
    if (s->meta_seen)
        return fail(s, ST_INVALID_SCHEMA, "__metadata__", at, "duplicate field `__metadata__`");
    s->meta_seen = 1;
    skip_ws(s);
    if (s->i + 4 <= s->n && memcmp(s->b + s->i, "null", 4) == 0) {
        s->i += 4;
        return 0;
    }
    if (s->i >= s->n || s->b[s->i] != '{') {
        const char *k = value_kind(s);
        size_t vat = s->i;
        if (skip_value(s))
            return -1;
        return fail(s, ST_INVALID_SCHEMA, "__metadata__", vat, "__metadata__ is %s but must be "
                    "an object of string values", k);
    }
    s->i++;
    skip_ws(s);
    if (s->i < s->n && s->b[s->i] == '}') {
        s->i++;
        return 0;
    }
    for (;;) {
        const char *k = parse_string(s, 1, NULL);
        if (!k || expect(s, ':', "':'"))
            return -1;
        skip_ws(s);
        size_t vat = s->i;
        if (s->i >= s->n || s->b[s->i] != '"') {
            const char *kind = value_kind(s);
            if (skip_value(s))
                return -1;
            char shown[64];
            snprintf(shown, sizeof shown, "%s", k);
            return fail(s, ST_INVALID_SCHEMA, "__metadata__", vat, "__metadata__ value of \"%s\" "
                        "is %s but must be a string", shown, kind);
        }
        const char *v = parse_string(s, 1, NULL);
        if (!v || push_meta(s, k, v))
            return -1;
        skip_ws(s);
        if (s->i < s->n && s->b[s->i] == ',') {
            s->i++;
            continue;
        }
        return expect(s, '}', "',' or '}' in __metadata__");
    }
}

static int parse_top(scan *s)
{
    skip_ws(s);
    if (s->i > 0)
        findings_add(s->f, "st.leading_whitespace", SEV_WARNING, s->fname, NULL, 8,
                     "header starts with %zu whitespace byte%s before '{'; the reference reader "
                     "accepts it but the format says the header MUST begin with '{'", s->i,
                     s->i == 1 ? "" : "s");
    if (s->i >= s->n || s->b[s->i] != '{') {
        if (s->i < s->n && (s->b[s->i] == '[' || s->b[s->i] == '"' || s->b[s->i] == '-' ||
                            (s->b[s->i] >= '0' && s->b[s->i] <= '9') || s->b[s->i] == 't' ||
                            s->b[s->i] == 'f' || s->b[s->i] == 'n')) {
            const char *k = value_kind(s);
            size_t at = s->i;
            if (skip_value(s))
                return -1;
            return fail(s, ST_INVALID_SCHEMA, NULL, at, "header is %s but must be a JSON object "
                        "of tensor entries", k);
        }
        return fail(s, ST_INVALID_JSON, NULL, s->i, "header is not valid JSON: expected '{', "
                    "found %s", describe(s));
    }
    s->depth = 1;
    s->i++;
    skip_ws(s);
    if (s->i < s->n && s->b[s->i] == '}')
        s->i++;
    else
        for (;;) {
            skip_ws(s);
            size_t at = s->i, klen;
            const char *k = parse_string(s, 1, &klen);
            if (!k || expect(s, ':', "':'"))
                return -1;
            if (klen == 12 && memcmp(k, "__metadata__", 12) == 0) {
                if (parse_metadata(s, at))
                    return -1;
            } else if (parse_tensor(s, k))
                return -1;
            skip_ws(s);
            if (s->i < s->n && s->b[s->i] == ',') {
                s->i++;
                continue;
            }
            if (expect(s, '}', "',' or '}' between tensor entries"))
                return -1;
            break;
        }
    size_t end = s->i;
    skip_ws(s);
    if (s->i < s->n)
        return fail(s, ST_INVALID_JSON, NULL, s->i, "header is not valid JSON: trailing "
                    "characters after the object, found %s", describe(s));
    if (end < s->n) {
        int spaces = 1;
        for (size_t j = end; j < s->n; j++)
            spaces &= s->b[j] == ' ';
        if (!spaces)
            findings_add(s->f, "st.header_padding", SEV_WARNING, s->fname, NULL, 8 + (uint64_t)end,
                         "header is padded with whitespace other than spaces (0x20); the "
                         "reference reader accepts it but the format allows only spaces");
    }
    return 0;
}

/* Later duplicates replace earlier ones, as in the reference's map; the replaced entries are
 * dropped here and each duplicate gets a warning. */
static int resolve_duplicates(scan *s)
{
    strmap m;
    strmap_init(&m);
    size_t dropped = 0;
    char *gone = NULL;
    for (size_t i = 0; i < s->nt; i++) {
        size_t old;
        int r = strmap_put(&m, s->t[i].name, i, &old);
        if (r < 0) {
            strmap_free(&m);
            free(gone);
            return fail(s, ST_NOMEM, NULL, 0, "out of memory");
        }
        if (r == 0) {
            if (!gone && !(gone = calloc(s->nt, 1))) {
                strmap_free(&m);
                return fail(s, ST_NOMEM, NULL, 0, "out of memory");
            }
            gone[old] = 1;
            dropped++;
            findings_add(s->f, "st.duplicate_key", SEV_WARNING, s->fname, s->t[i].name,
                         CK_NO_OFFSET, "tensor name appears more than once in the header; the "
                         "reference reader keeps only the last entry and the format disallows "
                         "duplicates");
        }
    }
    strmap_free(&m);
    if (dropped) {
        size_t w = 0;
        for (size_t i = 0; i < s->nt; i++)
            if (!gone[i]) {
                s->t[w] = s->t[i];
                s->dim_at[w] = s->dim_at[i];
                w++;
            }
        s->nt = w;
    }
    free(gone);
    return 0;
}

static int by_offsets(const void *a, const void *b)
{
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Metadata::validate: tensors sorted by (begin, end) must tile [0, data_len) exactly. */
static int validate_offsets(scan *s, uint64_t *data_len)
{
    st_tensor **ord = malloc((s->nt ? s->nt : 1) * sizeof *ord);
    if (!ord)
        return fail(s, ST_NOMEM, NULL, 0, "out of memory");
    for (size_t i = 0; i < s->nt; i++)
        ord[i] = &s->t[i];
    qsort(ord, s->nt, sizeof *ord, by_offsets);
    uint64_t start = 0;
    const char *prev = NULL;
    int r = 0;
    for (size_t i = 0; i < s->nt && !r; i++) {
        st_tensor *t = ord[i];
        char shp[256];
        st_shape_str(t->shape, t->ndim, shp, sizeof shp);
        if (t->end < t->begin) {
            r = fail(s, ST_INVALID_OFFSET, t->name, 0, "data_offsets [%llu, %llu] run backwards "
                     "(END before BEGIN)", (unsigned long long)t->begin,
                     (unsigned long long)t->end);
            break;
        }
        if (t->begin != start) {
            if (t->begin > start)
                r = fail(s, ST_INVALID_OFFSET, t->name, 0, "data_offsets [%llu, %llu] leave a gap: "
                         "the previous tensor%s%s%s ends at %llu, so %llu bytes are not covered by "
                         "any tensor", (unsigned long long)t->begin, (unsigned long long)t->end,
                         prev ? " '" : "", prev ? prev : "", prev ? "'" : "",
                         (unsigned long long)start, (unsigned long long)(t->begin - start));
            else
                r = fail(s, ST_INVALID_OFFSET, t->name, 0, "data_offsets [%llu, %llu] overlap the "
                         "previous tensor%s%s%s, which ends at %llu", (unsigned long long)t->begin,
                         (unsigned long long)t->end, prev ? " '" : "", prev ? prev : "",
                         prev ? "'" : "", (unsigned long long)start);
            break;
        }
        uint64_t nel = 1;
        int ovf = 0;
        for (uint32_t k = 0; k < t->ndim; k++) {
            if (t->shape[k] && nel > UINT64_MAX / t->shape[k])
                ovf = 1;
            nel *= t->shape[k];
        }
        unsigned bits = dtype_bits(t->dtype);
        if (!ovf && nel > UINT64_MAX / bits)
            ovf = 1;
        if (ovf) {
            r = fail(s, ST_OVERFLOW, t->name, 0, "shape %s x %s overflows 64 bits when computing "
                     "its byte size", shp, dtype_name(t->dtype));
            break;
        }
        uint64_t nbits = nel * bits;
        if (nbits % 8) {
            r = fail(s, ST_MISALIGNED, t->name, 0, "shape %s has %llu elements x %u bits = %llu "
                     "bits, which is not a whole number of bytes", shp, (unsigned long long)nel,
                     bits, (unsigned long long)nbits);
            break;
        }
        if (t->end - t->begin != nbits / 8) {
            r = fail(s, ST_INVALID_INFO, t->name, 0, "data_offsets [%llu, %llu] cover %llu bytes "
                     "but shape %s x %s needs %llu", (unsigned long long)t->begin,
                     (unsigned long long)t->end, (unsigned long long)(t->end - t->begin), shp,
                     dtype_name(t->dtype), (unsigned long long)(nbits / 8));
            break;
        }
        t->nbytes = nbits / 8;
        start = t->end;
        prev = t->name;
    }
    free(ord);
    *data_len = start;
    return r;
}

static void scan_free(scan *s)
{
    free(s->arena);
    free(s->t);
    free(s->dims);
    free(s->dim_at);
    free(s->mk);
    free(s->mv);
}

st_status st_header_parse(const uint8_t *buf, size_t len, uint64_t file_size, const char *fname,
                          st_header *out, ck_findings *f)
{
    memset(out, 0, sizeof *out);
    scan s;
    memset(&s, 0, sizeof s);
    s.fname = fname;
    s.f = f;
    if (file_size < 8 || len < 8) {
        fail(&s, ST_HEADER_TOO_SMALL, NULL, 0, "file is %llu bytes, shorter than the 8-byte "
             "header length field", (unsigned long long)file_size);
        s.off = 0;
        goto done;
    }
    uint64_t n = 0;
    for (int k = 7; k >= 0; k--)
        n = (n << 8) | buf[k];
    if (n > ST_MAX_HEADER) {
        fail(&s, ST_HEADER_TOO_LARGE, NULL, 0, "header length field is %llu, above the format's "
             "limit of %llu bytes", (unsigned long long)n, (unsigned long long)ST_MAX_HEADER);
        s.off = 0;
        goto done;
    }
    if (8 + n > file_size || 8 + n > len) {
        fail(&s, ST_INVALID_HEADER_LENGTH, NULL, 0, "header length field is %llu but only %llu "
             "bytes follow it in the file", (unsigned long long)n,
             (unsigned long long)(file_size - 8));
        s.off = 0;
        goto done;
    }
    s.b = buf + 8;
    s.n = (size_t)n;
    size_t bad = utf8_invalid_at(s.b, s.n);
    if (bad != (size_t)-1) {
        fail(&s, ST_INVALID_UTF8, NULL, bad, "header is not valid UTF-8: byte 0x%02x at header "
             "position %zu", s.b[bad], bad);
        goto done;
    }
    s.arena = malloc(s.n + 1);
    if (!s.arena) {
        fail(&s, ST_NOMEM, NULL, 0, "out of memory for a %llu-byte header", (unsigned long long)n);
        goto done;
    }
    if (parse_top(&s) || resolve_duplicates(&s))
        goto done;
    for (size_t i = 0; i < s.nt; i++)
        s.t[i].shape = s.dims ? s.dims + s.dim_at[i] : NULL;
    uint64_t data_len = 0;
    if (validate_offsets(&s, &data_len))
        goto done;
    if (data_len > UINT64_MAX - 8 - n || data_len + 8 + n != file_size) {
        uint64_t want = data_len > UINT64_MAX - 8 - n ? UINT64_MAX : data_len + 8 + n;
        if (want > file_size)
            fail(&s, ST_INCOMPLETE_BUFFER, NULL, 0, "file is truncated: it is %llu bytes but "
                 "its header describes 8 + %llu + %llu = %llu bytes; %llu bytes are missing",
                 (unsigned long long)file_size, (unsigned long long)n,
                 (unsigned long long)data_len, (unsigned long long)want,
                 (unsigned long long)(want - file_size));
        else
            fail(&s, ST_INCOMPLETE_BUFFER, NULL, 0, "file has %llu trailing bytes after the last "
                 "tensor: it is %llu bytes but its header describes 8 + %llu + %llu = %llu",
                 (unsigned long long)(file_size - want), (unsigned long long)file_size,
                 (unsigned long long)n, (unsigned long long)data_len, (unsigned long long)want);
        s.off = want < file_size ? want : file_size;
        goto done;
    }
    if (n % 8)
        findings_add(f, "st.unpadded_header", SEV_WARNING, fname, NULL, 0, "header length %llu "
                     "is not a multiple of 8, so tensor data is not 8-byte aligned; the reference "
                     "reader accepts it, its writer never produces it", (unsigned long long)n);
    out->header_len = n;
    out->data_start = 8 + n;
    out->data_len = data_len;
    out->file_size = file_size;
    out->tensors = s.t;
    out->n_tensors = s.nt;
    out->meta_keys = s.mk;
    out->meta_vals = s.mv;
    out->n_meta = s.nm;
    out->arena = s.arena;
    out->dims = s.dims;
    free(s.dim_at);
    return ST_OK;
done:
    findings_add(f, st_status_code(s.status), SEV_ERROR, fname, s.key, s.off,
                 "%s (safetensors: %s)", s.msg, st_status_variant(s.status));
    scan_free(&s);
    return s.status;
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

st_status st_header_read_fd(int fd, uint64_t file_size, const char *fname, st_header *out,
                            ck_findings *f, ck_err *err)
{
    uint8_t head[8];
    memset(out, 0, sizeof *out);
    size_t first = file_size < 8 ? (size_t)file_size : 8;
    if (first && pread_full(fd, head, first, 0) != 0) {
        ck_err_set(err, CK_EIO, fname, NULL, 0, "cannot read: %s", strerror(errno));
        return ST_NOMEM;
    }
    if (first < 8)
        return st_header_parse(head, first, file_size, fname, out, f);
    uint64_t n = 0;
    for (int k = 7; k >= 0; k--)
        n = (n << 8) | head[k];
    if (n > ST_MAX_HEADER || 8 + n > file_size)
        return st_header_parse(head, 8, file_size, fname, out, f);
    uint8_t *buf = malloc((size_t)(8 + n));
    if (!buf) {
        ck_err_set(err, CK_ENOMEM, fname, NULL, 0, "out of memory reading a %llu-byte header",
                   (unsigned long long)n);
        return ST_NOMEM;
    }
    memcpy(buf, head, 8);
    if (n && pread_full(fd, buf + 8, (size_t)n, 8) != 0) {
        ck_err_set(err, CK_EIO, fname, NULL, 8, "cannot read the %llu-byte header: %s",
                   (unsigned long long)n, strerror(errno));
        free(buf);
        return ST_NOMEM;
    }
    st_status r = st_header_parse(buf, (size_t)(8 + n), file_size, fname, out, f);
    free(buf);
    return r;
}
