/* st.c - a strict, single-pass scanner for the one JSON schema a safetensors header has, and the
 * reference's offset validation. The scanner accepts exactly the JSON the reference's serde_json
 * accepts for this schema (RFC 8259 syntax, integer literals for sizes, 128 levels of nesting). */
#include "inspect/st.h"
#include "base/fileio.h"
#include "base/jscan.h"
#include "base/strmap.h"

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

typedef struct {
    jscan j;            /* the cursor, the error and the string arena */
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
    size_t name_len;    /* decoded length of the tensor name being read */
    struct {            /* the dtypes met so far (a shard has two or three): the name's bytes as a
                         * word, zero past its end (a dtype name has no NUL, so this is the length) */
        uint64_t w;
        ck_dtype dt;
    } seen_dt[4];
    int n_seen_dt;
    uint64_t params, dtype_bytes[DT_COUNT], dtype_count[DT_COUNT]; /* validate_offsets adds them up */
} scan;

/* Parses a size: a non-negative integer literal that fits 64 bits, as serde's usize. */
static int parse_size(scan *s, const char *key, const char *field, unsigned idx, uint64_t *out)
{
    jscan_ws(&s->j);
    size_t at = s->j.i;
    uint8_t c = at < s->j.n ? s->j.b[at] : 0;
    int big = 0, kind = -2;
    if (c >= '0' && c <= '9') { /* the common case: no message to build */
        kind = jscan_number(&s->j, out, &big);
        if (kind == 0 && !big)
            return 0;
        if (kind < 0)
            return -1;
    }
    char what[64];
    snprintf(what, sizeof what, "%s[%u]", field, idx);
    if (c != '-' && !(c >= '0' && c <= '9')) {
        if (c == '"' || c == '[' || c == '{' || c == 't' || c == 'f' || c == 'n') {
            const char *k = jscan_kind(&s->j);
            if (jscan_skip(&s->j))
                return -1;
            return jscan_fail(&s->j, ST_INVALID_SCHEMA, key, at, "%s is %s but must be a non-negative "
                        "integer", what, k);
        }
        return jscan_fail(&s->j, ST_INVALID_JSON, NULL, at, "header is not valid JSON: expected a value, "
                    "found %s", jscan_describe(&s->j));
    }
    if (kind == -2 && (kind = jscan_number(&s->j, out, &big)) < 0)
        return -1;
    size_t len = s->j.i - at;
    if (kind == 1)
        return jscan_fail(&s->j, ST_INVALID_SCHEMA, key, at, "%s is %.*s but must be a non-negative "
                    "integer", what, (int)(len > 40 ? 40 : len), (const char *)s->j.b + at);
    if (kind == 2)
        return jscan_fail(&s->j, ST_INVALID_SCHEMA, key, at, "%s is %.*s but must be an integer (no "
                    "fraction or exponent)", what, (int)(len > 40 ? 40 : len),
                    (const char *)s->j.b + at);
    if (big)
        return jscan_fail(&s->j, ST_INVALID_SCHEMA, key, at, "%s is %.*s, which does not fit 64 bits",
                    what, (int)(len > 40 ? 40 : len), (const char *)s->j.b + at);
    return 0;
}

static int push_dim(scan *s, uint64_t d)
{
    if (s->nd == s->capd) {
        size_t cap = s->capd ? s->capd * 2 : 256;
        uint64_t *p = realloc(s->dims, cap * sizeof *p);
        if (!p)
            return jscan_fail(&s->j, ST_NOMEM, NULL, s->j.i, "out of memory");
        s->dims = p;
        s->capd = cap;
    }
    s->dims[s->nd++] = d;
    return 0;
}

static int parse_shape(scan *s, const char *key, uint32_t *ndim)
{
    jscan_ws(&s->j);
    size_t at = s->j.i;
    if (s->j.i >= s->j.n || s->j.b[s->j.i] != '[') {
        const char *k = jscan_kind(&s->j);
        if (jscan_skip(&s->j))
            return -1;
        return jscan_fail(&s->j, ST_INVALID_SCHEMA, key, at, "shape is %s but must be an array of "
                    "non-negative integers", k);
    }
    s->j.i++;
    *ndim = 0;
    int state = 0, r;
    while ((r = jscan_next(&s->j, ']', &state, "in shape")) > 0) {
        uint64_t d;
        if (parse_size(s, key, "shape", *ndim, &d) || push_dim(s, d))
            return -1;
        (*ndim)++;
    }
    return r;
}

static int parse_offsets(scan *s, const char *key, uint64_t *b, uint64_t *e)
{
    jscan_ws(&s->j);
    size_t at = s->j.i;
    if (s->j.i >= s->j.n || s->j.b[s->j.i] != '[') {
        const char *k = jscan_kind(&s->j);
        if (jscan_skip(&s->j))
            return -1;
        return jscan_fail(&s->j, ST_INVALID_SCHEMA, key, at, "data_offsets is %s but must be an array "
                    "[BEGIN, END]", k);
    }
    s->j.i++;
    uint64_t v[2];
    for (int k = 0; k < 2; k++) {
        jscan_ws(&s->j);
        if (s->j.i < s->j.n && s->j.b[s->j.i] == ']')
            return jscan_fail(&s->j, ST_INVALID_SCHEMA, key, at, "data_offsets has %d element%s but must "
                        "have 2: [BEGIN, END]", k, k == 1 ? "" : "s");
        if (parse_size(s, key, "data_offsets", (unsigned)k, &v[k]))
            return -1;
        jscan_ws(&s->j);
        if (k == 0 && s->j.i < s->j.n && s->j.b[s->j.i] == ']')
            return jscan_fail(&s->j, ST_INVALID_SCHEMA, key, at, "data_offsets has 1 element but must "
                        "have 2: [BEGIN, END]");
        if (k == 0 && jscan_expect(&s->j, ',', "',' in data_offsets"))
            return -1;
    }
    jscan_ws(&s->j);
    if (s->j.i < s->j.n && s->j.b[s->j.i] == ',')
        return jscan_fail(&s->j, ST_INVALID_SCHEMA, key, at, "data_offsets has more than 2 elements but "
                    "must be [BEGIN, END]");
    if (jscan_expect(&s->j, ']', "']' after data_offsets"))
        return -1;
    *b = v[0];
    *e = v[1];
    return 0;
}

static int parse_dtype(scan *s, const char *key, ck_dtype *dt)
{
    jscan_ws(&s->j);
    size_t at = s->j.i;
    if (s->j.i >= s->j.n || s->j.b[s->j.i] != '"') {
        const char *k = jscan_kind(&s->j);
        if (jscan_skip(&s->j))
            return -1;
        return jscan_fail(&s->j, ST_INVALID_SCHEMA, key, at, "dtype is %s but must be a string", k);
    }
    size_t mark = s->j.arena_n, len;
    const char *str = jscan_string(&s->j, 1, &len);
    if (!str)
        return -1;
    int r = dtype_parse(str, len, dt);
    if (r != 0) {
        char shown[40];
        snprintf(shown, sizeof shown, "%s", str);
        jscan_fail(&s->j, ST_UNKNOWN_DTYPE, key, at, "dtype \"%s\" is not a safetensors dtype (BOOL, F4, "
             "F6_E2M3, F6_E3M2, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ, I16, "
             "U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64)", shown);
    }
    s->j.arena_n = mark;
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
            return jscan_fail(&s->j, ST_NOMEM, NULL, s->j.i, "out of memory");
        s->capt = cap;
    }
    st_tensor *t = &s->t[s->nt];
    memset(t, 0, sizeof *t);
    t->name = name;
    t->name_len = (uint32_t)strnlen(name, s->name_len); /* a "\u0000" ends it early */
    t->dtype = dt;
    t->ndim = ndim;
    t->begin = b;
    t->end = e;
    s->dim_at[s->nt] = dim0;
    s->nt++;
    return 0;
}

/* The entry as writers lay it out, {"dtype":"BF16","shape":[7168,2048],"data_offsets":[B,E]}
 * without whitespace, read by direct comparison: 1 when read, 0 when the entry is anything else
 * (the general reader below then takes it from the same place, with its messages), -1 on no
 * memory. A number is taken only as plain digits without a leading zero, at most 19 of them. */
static inline __attribute__((always_inline)) int fast_lit(scan *s, const char *lit, size_t n)
{
    /* n is a constant at every call: compared in place, no call to memcmp */
    if (s->j.i + n > s->j.n || jscan_common_prefix(s->j.b + s->j.i, lit, n) != n)
        return 0;
    s->j.i += n;
    return 1;
}

/* The value of the first n (1 .. 8) digits of w: they are moved to the top of the word, below
 * them zeros, and the eight digits are combined in pairs, fours and eights. */
static inline uint64_t swar_value(uint64_t w, unsigned n)
{
    uint64_t t = (w - 0x3030303030303030ull) << (8 * (8 - n));
    t = (t * 10 + (t >> 8)) & 0x00FF00FF00FF00FFull;
    t = (t * 100 + (t >> 16)) & 0x0000FFFF0000FFFFull;
    return (t * 10000 + (t >> 32)) & 0xFFFFFFFFull;
}

static const uint64_t pow10_8[9] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

static inline __attribute__((always_inline)) int fast_num(scan *s, uint64_t *v)
{
    size_t i = s->j.i, n = 0;
    uint64_t x = 0;
    if (s->j.n - i >= 32) { /* three words and the byte after the number lie in the header */
        const uint8_t *p = s->j.b + i;
        uint64_t w;
        unsigned k;
        do { /* at most 24 digits are looked at: more than 19 is refused below */
            memcpy(&w, p + n, 8);
            k = jscan_leading_digits(w);
            if (k)
                x = x * pow10_8[k] + swar_value(w, k);
            n += k;
        } while (k == 8 && n < 24);
    } else
        while (i + n < s->j.n && s->j.b[i + n] >= '0' && s->j.b[i + n] <= '9' && n < 20)
            x = x * 10 + (uint64_t)(s->j.b[i + n++] - '0');
    if (n == 0 || n > 19 || (n > 1 && s->j.b[i] == '0') || i + n >= s->j.n ||
        (s->j.b[i + n] != ',' && s->j.b[i + n] != ']'))
        return 0;
    s->j.i = i + n;
    *v = x;
    return 1;
}

/* The dtype named by the len bytes at header position at, as dtype_parse says, remembered by
 * their bytes: 1, or 0 when it is no dtype (or too long to remember; the general reader says). */
static inline __attribute__((always_inline)) int seen_dtype(scan *s, size_t at, size_t len, ck_dtype *dt)
{
    if (len == 0 || len > 8 || s->j.n - at < 16)
        return 0;
    uint64_t w;
    memcpy(&w, s->j.b + at, 8);
    w &= ~0ull >> (64 - 8 * len);
    for (int k = 0; k < s->n_seen_dt; k++)
        if (s->seen_dt[k].w == w) {
            *dt = s->seen_dt[k].dt;
            return 1;
        }
    if (dtype_parse((const char *)s->j.b + at, len, dt) != 0)
        return 0;
    int k = s->n_seen_dt < 4 ? s->n_seen_dt++ : 3;
    s->seen_dt[k].w = w;
    s->seen_dt[k].dt = *dt;
    return 1;
}

static int parse_tensor_fast(scan *s, const char *name)
{
    size_t at = s->j.i, dim0 = s->nd;
    if (!fast_lit(s, "{\"dtype\":\"", 10))
        return 0;
    size_t d0 = s->j.i;
    while (s->j.i < s->j.n && s->j.i - d0 < 16 && ((s->j.b[s->j.i] >= 'A' && s->j.b[s->j.i] <= 'Z') ||
                                                 (s->j.b[s->j.i] >= '0' && s->j.b[s->j.i] <= '9') ||
                                                 s->j.b[s->j.i] == '_'))
        s->j.i++;
    ck_dtype dt;
    uint32_t ndim = 0;
    uint64_t b, e;
    if (!seen_dtype(s, d0, s->j.i - d0, &dt) || !fast_lit(s, "\",\"shape\":[", 11))
        goto other;
    if (s->j.i < s->j.n && s->j.b[s->j.i] == ']')
        s->j.i++;
    else
        for (;;) {
            uint64_t d;
            if (!fast_num(s, &d))
                goto other;
            if (push_dim(s, d))
                return -1;
            ndim++;
            if (s->j.b[s->j.i++] == ']')
                break;
        }
    if (!fast_lit(s, ",\"data_offsets\":[", 17) || !fast_num(s, &b) || !fast_lit(s, ",", 1) || !fast_num(s, &e) ||
        !fast_lit(s, "]}", 2))
        goto other;
    return add_tensor(s, name, dt, dim0, ndim, b, e) ? -1 : 1;
other:
    s->j.i = at;
    s->nd = dim0;
    return 0;
}

/* A tensor entry: {"dtype": .., "shape": [..], "data_offsets": [b, e]} in any order, unknown
 * fields skipped (the reference ignores them; the spec's schema forbids them: a warning), or the
 * sequence form [dtype, shape, data_offsets] that the reference's deserializer also accepts. */
static int parse_tensor(scan *s, const char *name)
{
    jscan_ws(&s->j);
    int fr = parse_tensor_fast(s, name);
    if (fr)
        return fr < 0 ? -1 : 0;
    size_t at = s->j.i;
    ck_dtype dt = DT_F32;
    uint32_t ndim = 0;
    uint64_t b = 0, e = 0;
    size_t dim0 = s->nd;
    if (s->j.i < s->j.n && s->j.b[s->j.i] == '[') {
        if (++s->j.depth > JSCAN_MAX_DEPTH)
            return jscan_fail(&s->j, ST_INVALID_JSON, NULL, s->j.i, "header is not valid JSON: nested too deep");
        s->j.i++;
        jscan_ws(&s->j);
        if (s->j.i < s->j.n && s->j.b[s->j.i] == ']')
            return jscan_fail(&s->j, ST_INVALID_SCHEMA, name, at, "tensor entry is an empty array but must "
                        "be an object with dtype, shape and data_offsets");
        if (parse_dtype(s, name, &dt) || jscan_expect(&s->j, ',', "',' after dtype") ||
            parse_shape(s, name, &ndim) || jscan_expect(&s->j, ',', "',' after shape") ||
            parse_offsets(s, name, &b, &e))
            return -1;
        jscan_ws(&s->j);
        if (s->j.i < s->j.n && s->j.b[s->j.i] == ',')
            return jscan_fail(&s->j, ST_INVALID_SCHEMA, name, at, "tensor entry array has more than 3 "
                        "elements");
        if (jscan_expect(&s->j, ']', "']'"))
            return -1;
        s->j.depth--;
        findings_add(s->f, "st.array_entry", SEV_WARNING, s->fname, name, 8 + (uint64_t)at,
                     "tensor entry is written as an array [dtype, shape, data_offsets]; the "
                     "reference reader accepts it but the format's schema requires an object");
        return add_tensor(s, name, dt, dim0, ndim, b, e);
    }
    if (s->j.i >= s->j.n || s->j.b[s->j.i] != '{') {
        const char *k = jscan_kind(&s->j);
        if (jscan_skip(&s->j))
            return -1;
        return jscan_fail(&s->j, ST_INVALID_SCHEMA, name, at, "tensor entry is %s but must be an object "
                    "with dtype, shape and data_offsets", k);
    }
    if (++s->j.depth > JSCAN_MAX_DEPTH)
        return jscan_fail(&s->j, ST_INVALID_JSON, NULL, s->j.i, "header is not valid JSON: nested too deep");
    s->j.i++;
    int seen = 0, state = 0, more;
    while ((more = jscan_next(&s->j, '}', &state, "in the tensor entry")) > 0) {
        size_t mark = s->j.arena_n, flen, fat = s->j.i;
        const char *field = jscan_string(&s->j, 1, &flen);
        if (!field || jscan_expect(&s->j, ':', "':'"))
            return -1;
        int which = 0;
        if (flen == 5 && memcmp(field, "dtype", 5) == 0)
            which = F_DTYPE;
        else if (flen == 5 && memcmp(field, "shape", 5) == 0)
            which = F_SHAPE;
        else if (flen == 12 && memcmp(field, "data_offsets", 12) == 0)
            which = F_OFFSETS;
        if (which && (seen & which))
            return jscan_fail(&s->j, ST_INVALID_SCHEMA, name, fat, "duplicate field `%s` in the "
                              "tensor entry", field);
        if (!which) {
            char shown[64];
            snprintf(shown, sizeof shown, "%s", field);
            findings_add(s->f, "st.unknown_field", SEV_WARNING, s->fname, name, 8 + (uint64_t)fat,
                         "tensor entry has unknown field \"%s\"; the reference reader ignores "
                         "it but the format's schema allows only dtype, shape, data_offsets",
                         shown);
        }
        s->j.arena_n = mark;
        seen |= which;
        int r = which == F_DTYPE ? parse_dtype(s, name, &dt)
              : which == F_SHAPE ? parse_shape(s, name, &ndim)
              : which == F_OFFSETS ? parse_offsets(s, name, &b, &e)
              : jscan_skip(&s->j);
        if (r)
            return -1;
    }
    if (more < 0)
        return -1;
    s->j.depth--;
    if (!(seen & F_DTYPE))
        return jscan_fail(&s->j, ST_INVALID_SCHEMA, name, at, "missing field `dtype` in the tensor entry");
    if (!(seen & F_SHAPE))
        return jscan_fail(&s->j, ST_INVALID_SCHEMA, name, at, "missing field `shape` in the tensor entry");
    if (!(seen & F_OFFSETS))
        return jscan_fail(&s->j, ST_INVALID_SCHEMA, name, at, "missing field `data_offsets` in the tensor "
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
            return jscan_fail(&s->j, ST_NOMEM, NULL, s->j.i, "out of memory");
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
        return jscan_fail(&s->j, ST_INVALID_SCHEMA, "__metadata__", at, "duplicate field `__metadata__`");
    s->meta_seen = 1;
    jscan_ws(&s->j);
    if (s->j.i + 4 <= s->j.n && memcmp(s->j.b + s->j.i, "null", 4) == 0) {
        s->j.i += 4;
        return 0;
    }
    if (s->j.i >= s->j.n || s->j.b[s->j.i] != '{') {
        const char *k = jscan_kind(&s->j);
        size_t vat = s->j.i;
        if (jscan_skip(&s->j))
            return -1;
        return jscan_fail(&s->j, ST_INVALID_SCHEMA, "__metadata__", vat, "__metadata__ is %s but must be "
                    "an object of string values", k);
    }
    s->j.i++;
    int state = 0, r;
    while ((r = jscan_next(&s->j, '}', &state, "in __metadata__")) > 0) {
        const char *k = jscan_string(&s->j, 1, NULL);
        if (!k || jscan_expect(&s->j, ':', "':'"))
            return -1;
        jscan_ws(&s->j);
        size_t vat = s->j.i;
        if (s->j.i >= s->j.n || s->j.b[s->j.i] != '"') {
            const char *kind = jscan_kind(&s->j);
            if (jscan_skip(&s->j))
                return -1;
            char shown[64];
            snprintf(shown, sizeof shown, "%s", k);
            return jscan_fail(&s->j, ST_INVALID_SCHEMA, "__metadata__", vat, "__metadata__ value "
                              "of \"%s\" is %s but must be a string", shown, kind);
        }
        const char *v = jscan_string(&s->j, 1, NULL);
        if (!v || push_meta(s, k, v))
            return -1;
    }
    return r;
}

static int parse_top(scan *s)
{
    jscan_ws(&s->j);
    if (s->j.i > 0)
        findings_add(s->f, "st.leading_whitespace", SEV_WARNING, s->fname, NULL, 8,
                     "header starts with %zu whitespace byte%s before '{'; the reference reader "
                     "accepts it but the format says the header MUST begin with '{'", s->j.i,
                     s->j.i == 1 ? "" : "s");
    if (s->j.i >= s->j.n || s->j.b[s->j.i] != '{') {
        if (s->j.i < s->j.n && (s->j.b[s->j.i] == '[' || s->j.b[s->j.i] == '"' || s->j.b[s->j.i] == '-' ||
                            (s->j.b[s->j.i] >= '0' && s->j.b[s->j.i] <= '9') || s->j.b[s->j.i] == 't' ||
                            s->j.b[s->j.i] == 'f' || s->j.b[s->j.i] == 'n')) {
            const char *k = jscan_kind(&s->j);
            size_t at = s->j.i;
            if (jscan_skip(&s->j))
                return -1;
            return jscan_fail(&s->j, ST_INVALID_SCHEMA, NULL, at, "header is %s but must be a JSON object "
                        "of tensor entries", k);
        }
        return jscan_fail(&s->j, ST_INVALID_JSON, NULL, s->j.i, "header is not valid JSON: expected '{', "
                    "found %s", jscan_describe(&s->j));
    }
    s->j.depth = 1;
    s->j.i++;
    int state = 0, r;
    while ((r = jscan_next(&s->j, '}', &state, "between tensor entries")) > 0) {
        size_t at = s->j.i, klen;
        const char *k = jscan_string(&s->j, 1, &klen);
        if (!k || jscan_expect(&s->j, ':', "':'"))
            return -1;
        s->name_len = klen;
        if (klen == 12 && memcmp(k, "__metadata__", 12) == 0) {
            if (parse_metadata(s, at))
                return -1;
        } else if (parse_tensor(s, k))
            return -1;
    }
    if (r < 0)
        return -1;
    size_t end = s->j.i;
    jscan_ws(&s->j);
    if (s->j.i < s->j.n)
        return jscan_fail(&s->j, ST_INVALID_JSON, NULL, s->j.i, "header is not valid JSON: trailing "
                    "characters after the object, found %s", jscan_describe(&s->j));
    if (end < s->j.n) {
        int spaces = 1;
        for (size_t j = end; j < s->j.n; j++)
            spaces &= s->j.b[j] == ' ';
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
    if (strmap_reserve(&m, s->nt) != 0)
        return jscan_fail(&s->j, ST_NOMEM, NULL, 0, "out of memory");
    size_t dropped = 0;
    char *gone = NULL;
    for (size_t i = 0; i < s->nt; i++) {
        size_t old;
        s->t[i].hash = strmap_hash_n(s->t[i].name, s->t[i].name_len);
        int r = strmap_put_h(&m, s->t[i].name, s->t[i].hash, i, &old);
        if (r < 0) {
            strmap_free(&m);
            free(gone);
            return jscan_fail(&s->j, ST_NOMEM, NULL, 0, "out of memory");
        }
        if (r == 0) {
            if (!gone && !(gone = calloc(s->nt, 1))) {
                strmap_free(&m);
                return jscan_fail(&s->j, ST_NOMEM, NULL, 0, "out of memory");
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
        return jscan_fail(&s->j, ST_NOMEM, NULL, 0, "out of memory");
    for (size_t i = 0; i < s->nt; i++)
        ord[i] = &s->t[i];
    int sorted = 1; /* writers lay tensors out in header order: skip the sort then */
    for (size_t i = 1; i < s->nt && sorted; i++)
        sorted = by_offsets(&ord[i - 1], &ord[i]) < 0;
    if (!sorted)
        qsort(ord, s->nt, sizeof *ord, by_offsets);
    uint64_t start = 0;
    const char *prev = NULL;
    int r = 0;
    for (size_t i = 0; i < s->nt && !r; i++) {
        st_tensor *t = ord[i];
        char shp[256]; /* only built for a message */
        if (t->end < t->begin) {
            r = jscan_fail(&s->j, ST_INVALID_OFFSET, t->name, 0, "data_offsets [%llu, %llu] run backwards "
                     "(END before BEGIN)", (unsigned long long)t->begin,
                     (unsigned long long)t->end);
            break;
        }
        if (t->begin != start) {
            if (t->begin > start)
                r = jscan_fail(&s->j, ST_INVALID_OFFSET, t->name, 0, "data_offsets [%llu, %llu] leave a gap: "
                         "the previous tensor%s%s%s ends at %llu, so %llu bytes are not covered by "
                         "any tensor", (unsigned long long)t->begin, (unsigned long long)t->end,
                         prev ? " '" : "", prev ? prev : "", prev ? "'" : "",
                         (unsigned long long)start, (unsigned long long)(t->begin - start));
            else
                r = jscan_fail(&s->j, ST_INVALID_OFFSET, t->name, 0, "data_offsets [%llu, %llu] overlap the "
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
            r = jscan_fail(&s->j, ST_OVERFLOW, t->name, 0, "shape %s x %s overflows 64 bits when computing "
                     "its byte size", st_shape_str(t->shape, t->ndim, shp, sizeof shp), dtype_name(t->dtype));
            break;
        }
        uint64_t nbits = nel * bits;
        if (nbits % 8) {
            r = jscan_fail(&s->j, ST_MISALIGNED, t->name, 0, "shape %s has %llu elements x %u bits = %llu "
                     "bits, which is not a whole number of bytes", st_shape_str(t->shape, t->ndim, shp, sizeof shp), (unsigned long long)nel,
                     bits, (unsigned long long)nbits);
            break;
        }
        if (t->end - t->begin != nbits / 8) {
            r = jscan_fail(&s->j, ST_INVALID_INFO, t->name, 0, "data_offsets [%llu, %llu] cover %llu bytes "
                     "but shape %s x %s needs %llu", (unsigned long long)t->begin,
                     (unsigned long long)t->end, (unsigned long long)(t->end - t->begin), st_shape_str(t->shape, t->ndim, shp, sizeof shp),
                     dtype_name(t->dtype), (unsigned long long)(nbits / 8));
            break;
        }
        start = t->end;
        prev = t->name;
        s->params += nel;
        s->dtype_bytes[t->dtype] += t->end - t->begin;
        s->dtype_count[t->dtype]++;
    }
    free(ord);
    *data_len = start;
    return r;
}

static void scan_free(scan *s)
{
    free(s->j.arena);
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
    s.j.syntax = ST_INVALID_JSON;
    s.j.base = 8;
    s.j.doc = "header";
    if (file_size < 8 || len < 8) {
        jscan_fail(&s.j, ST_HEADER_TOO_SMALL, NULL, 0, "file is %llu bytes, shorter than the 8-byte "
             "header length field", (unsigned long long)file_size);
        s.j.off = 0;
        goto done;
    }
    uint64_t n = 0;
    for (int k = 7; k >= 0; k--)
        n = (n << 8) | buf[k];
    if (n > ST_MAX_HEADER) {
        jscan_fail(&s.j, ST_HEADER_TOO_LARGE, NULL, 0, "header length field is %llu, above the format's "
             "limit of %llu bytes", (unsigned long long)n, (unsigned long long)ST_MAX_HEADER);
        s.j.off = 0;
        goto done;
    }
    if (8 + n > file_size || 8 + n > len) {
        jscan_fail(&s.j, ST_INVALID_HEADER_LENGTH, NULL, 0, "header length field is %llu but only %llu "
             "bytes follow it in the file", (unsigned long long)n,
             (unsigned long long)(file_size - 8));
        s.j.off = 0;
        goto done;
    }
    s.j.b = buf + 8;
    s.j.n = (size_t)n;
    size_t bad = jscan_utf8_invalid_at(s.j.b, s.j.n);
    if (bad != (size_t)-1) {
        jscan_fail(&s.j, ST_INVALID_UTF8, NULL, bad, "header is not valid UTF-8: byte 0x%02x at header "
             "position %zu", s.j.b[bad], bad);
        goto done;
    }
    s.j.arena = malloc(s.j.n + 1);
    /* Sized from the header length as writers lay entries out (~130 bytes a tensor, two or
     * three dimensions; less is grown by doubling): small enough to come from the thread's heap,
     * not from a mapping of its own that costs a system call to make and one to free. */
    s.capt = s.j.n / 96 + 16;
    s.capd = s.j.n / 32 + 16;
    s.t = malloc(s.capt * sizeof *s.t);
    s.dim_at = malloc(s.capt * sizeof *s.dim_at);
    s.dims = malloc(s.capd * sizeof *s.dims);
    if (!s.t || !s.dim_at || !s.dims) {
        free(s.j.arena);
        s.j.arena = NULL;
    }
    if (!s.j.arena) {
        jscan_fail(&s.j, ST_NOMEM, NULL, 0, "out of memory for a %llu-byte header", (unsigned long long)n);
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
            jscan_fail(&s.j, ST_INCOMPLETE_BUFFER, NULL, 0, "file is truncated: it is %llu bytes but "
                 "its header describes 8 + %llu + %llu = %llu bytes; %llu bytes are missing",
                 (unsigned long long)file_size, (unsigned long long)n,
                 (unsigned long long)data_len, (unsigned long long)want,
                 (unsigned long long)(want - file_size));
        else
            jscan_fail(&s.j, ST_INCOMPLETE_BUFFER, NULL, 0, "file has %llu trailing bytes after the last "
                 "tensor: it is %llu bytes but its header describes 8 + %llu + %llu = %llu",
                 (unsigned long long)(file_size - want), (unsigned long long)file_size,
                 (unsigned long long)n, (unsigned long long)data_len, (unsigned long long)want);
        s.j.off = want < file_size ? want : file_size;
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
    out->arena = s.j.arena;
    out->dims = s.dims;
    out->params = s.params;
    memcpy(out->dtype_bytes, s.dtype_bytes, sizeof out->dtype_bytes);
    memcpy(out->dtype_count, s.dtype_count, sizeof out->dtype_count);
    free(s.dim_at);
    return ST_OK;
done:
    findings_add(f, st_status_code(s.j.status), SEV_ERROR, fname, s.j.key, s.j.off,
                 "%s (safetensors: %s)", s.j.msg, st_status_variant(s.j.status));
    scan_free(&s);
    return s.j.status;
}

st_status st_header_read_fd(int fd, uint64_t file_size, const char *fname, st_header *out,
                            ck_findings *f, ck_err *err, st_scratch *scratch)
{
    uint8_t head[8];
    memset(out, 0, sizeof *out);
    size_t first = file_size < 8 ? (size_t)file_size : 8;
    if (first && ck_pread_full(fd, head, first, 0) != 0) {
        ck_err_set(err, CK_EIO, fname, NULL, 0, "cannot read: %s", errno ? strerror(errno) : "the file ended early");
        return ST_NOMEM;
    }
    if (first < 8)
        return st_header_parse(head, first, file_size, fname, out, f);
    uint64_t n = 0;
    for (int k = 7; k >= 0; k--)
        n = (n << 8) | head[k];
    if (n > ST_MAX_HEADER || 8 + n > file_size)
        return st_header_parse(head, 8, file_size, fname, out, f);
    /* Read into the caller's reusable buffer: one copy from the page cache, and no mapping to
     * set up and tear down per file (mmap/munmap serialize threads on the address space). */
    size_t len = (size_t)(8 + n);
    st_scratch own = {NULL, 0};
    if (!scratch)
        scratch = &own;
    if (scratch->cap < len) {
        size_t c = scratch->cap ? scratch->cap : 1u << 20;
        while (c < len)
            c *= 2;
        uint8_t *nb = realloc(scratch->buf, c);
        if (!nb) {
            ck_err_set(err, CK_ENOMEM, fname, NULL, 0, "out of memory reading a %llu-byte header",
                       (unsigned long long)n);
            return ST_NOMEM;
        }
        scratch->buf = nb;
        scratch->cap = c;
    }
    uint8_t *buf = scratch->buf;
    memcpy(buf, head, 8);
    if (n && ck_pread_full(fd, buf + 8, (size_t)n, 8) != 0) {
        ck_err_set(err, CK_EIO, fname, NULL, 8, "cannot read the %llu-byte header: %s",
                   (unsigned long long)n, errno ? strerror(errno) : "the file ended early");
        free(own.buf);
        return ST_NOMEM;
    }
    st_status r = st_header_parse(buf, len, file_size, fname, out, f);
    free(own.buf);
    return r;
}
