/* jscan.c - a strict JSON scanner over a byte buffer, for the fixed schemas of checkpoint files
 * (safetensors headers, model.safetensors.index.json). It accepts exactly RFC 8259 JSON as the
 * safetensors reference's serde_json does: no leading zeros, no lone surrogates, no control
 * characters in strings, nesting limited to JSCAN_MAX_DEPTH. */
#include "base/jscan.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

int jscan_fail(jscan *s, int status, const char *key, size_t at, const char *fmt, ...)
{
    if (s->status != 0)
        return -1;
    s->status = status;
    snprintf(s->key, sizeof s->key, "%s", key ? key : "");
    s->off = s->base + (uint64_t)at;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->msg, sizeof s->msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* UTF-8, as Rust's str::from_utf8: no overlong forms, no surrogates, nothing above U+10FFFF. */

size_t jscan_utf8_invalid_at(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* fast path over ASCII: 64 bytes at a time, then 8 */
#ifdef __SSE2__
        while (i + 64 <= n) {
            const __m128i *v = (const __m128i *)(s + i);
            __m128i any = _mm_or_si128(_mm_or_si128(_mm_loadu_si128(v), _mm_loadu_si128(v + 1)),
                                       _mm_or_si128(_mm_loadu_si128(v + 2), _mm_loadu_si128(v + 3)));
            if (_mm_movemask_epi8(any))
                break;
            i += 64;
        }
#endif
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


const char *jscan_describe(jscan *s)
{
    static _Thread_local char buf[32];
    if (s->i >= s->n)
    {
        snprintf(buf, sizeof buf, "the end of the %s", s->doc ? s->doc : "text");
        return buf;
    }
    uint8_t c = s->b[s->i];
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, sizeof buf, "'%c'", c);
    else
        snprintf(buf, sizeof buf, "byte 0x%02x", c);
    return buf;
}

int jscan_expect(jscan *s, char c, const char *what)
{
    jscan_ws(s);
    if (s->i < s->n && s->b[s->i] == (uint8_t)c) {
        s->i++;
        return 0;
    }
    return jscan_fail(s, s->syntax, NULL, s->i, "header is not valid JSON: expected %s, found %s",
                what, jscan_describe(s));
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

size_t jscan_plain_end(const uint8_t *b, size_t i, size_t n)
{
#ifdef __SSE2__
    /* 16 bytes at a time: stop at the first '"', '\\' or control character */
    while (i + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(b + i));
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                                _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                                   _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v));
        int mask = _mm_movemask_epi8(hit);
        if (mask)
            return i + (size_t)__builtin_ctz((unsigned)mask);
        i += 16;
    }
#endif
    while (i < n && b[i] != '"' && b[i] != '\\' && b[i] >= 0x20)
        i++;
    return i;
}

/* Parses a string at the cursor (after whitespace). When keep, decodes it into the arena and
 * returns its start (NUL-terminated); otherwise only validates it and returns a non-NULL dummy.
 * A decoded string never outgrows its quoted source, so the arena (n + 1 bytes) cannot overflow. */
const char *jscan_string(jscan *s, int keep, size_t *len_out)
{
    jscan_ws(s);
    if (s->i >= s->n || s->b[s->i] != '"') {
        jscan_fail(s, s->syntax, NULL, s->i, "header is not valid JSON: expected a string, found %s",
             jscan_describe(s));
        return NULL;
    }
    s->i++;
    char *dst = keep ? s->arena + s->arena_n : NULL; /* no arena needed to validate */
    size_t dn = 0;
    for (;;) {
        size_t start = s->i;
        s->i = jscan_plain_end(s->b, s->i, s->n);
        if (keep && s->i > start) {
            memcpy(dst + dn, s->b + start, s->i - start);
            dn += s->i - start;
        }
        if (s->i >= s->n) {
            jscan_fail(s, s->syntax, NULL, s->i, "header is not valid JSON: string not terminated");
            return NULL;
        }
        uint8_t c = s->b[s->i];
        if (c == '"') {
            s->i++;
            break;
        }
        if (c < 0x20) {
            jscan_fail(s, s->syntax, NULL, s->i,
                 "header is not valid JSON: control character 0x%02x inside a string", c);
            return NULL;
        }
        /* escape */
        if (s->i + 1 >= s->n) {
            jscan_fail(s, s->syntax, NULL, s->i, "header is not valid JSON: string not terminated");
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
            jscan_fail(s, s->syntax, NULL, s->i, "header is not valid JSON: invalid escape '\\%c'",
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
            jscan_fail(s, s->syntax, NULL, s->i, "header is not valid JSON: invalid \\u escape");
            return NULL;
        }
        size_t at = s->i;
        s->i += 6;
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            jscan_fail(s, s->syntax, NULL, at,
                 "header is not valid JSON: lone trailing surrogate \\u%04X in a string", cp);
            return NULL;
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned lo;
            if (s->i + 6 > s->n || s->b[s->i] != '\\' || s->b[s->i + 1] != 'u' ||
                hex4(s->b + s->i + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF) {
                jscan_fail(s, s->syntax, NULL, at,
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

/* The end of the run of decimal digits that starts at i (i itself when there is none). */
static size_t digits_end(const jscan *s, size_t i)
{
    while (i < s->n && s->b[i] >= '0' && s->b[i] <= '9')
        i++;
    return i;
}

/* Validates a JSON number at the cursor; returns its kind: 0 integer >= 0 (value in *v, or
 * *big set when it does not fit 64 bits), 1 negative integer, 2 fraction or exponent, -1 error. */
int jscan_number(jscan *s, uint64_t *v, int *big)
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
        return jscan_fail(s, s->syntax, NULL, i, "header is not valid JSON: invalid number");
    if (s->b[i] == '0') {
        i++;
        if (i < s->n && s->b[i] >= '0' && s->b[i] <= '9')
            return jscan_fail(s, s->syntax, NULL, i,
                        "header is not valid JSON: number with a leading zero");
    } else {
        while (i < s->n && s->b[i] >= '0' && s->b[i] <= '9') {
            unsigned d = s->b[i] - '0';
            if (x > 1844674407370955161ull || (x == 1844674407370955161ull && d > 5))
                *big = 1;
            else
                x = x * 10 + d;
            i++;
        }
    }
    kind = neg ? 1 : 0; /* "-0" too: serde_json reads it as the float -0.0 */
    if (i < s->n && s->b[i] == '.') {
        size_t at = ++i;
        if ((i = digits_end(s, i)) == at)
            return jscan_fail(s, s->syntax, NULL, i, "header is not valid JSON: invalid number");
        kind = 2;
    }
    if (i < s->n && (s->b[i] == 'e' || s->b[i] == 'E')) {
        i++;
        if (i < s->n && (s->b[i] == '+' || s->b[i] == '-'))
            i++;
        size_t at = i;
        if ((i = digits_end(s, i)) == at)
            return jscan_fail(s, s->syntax, NULL, i, "header is not valid JSON: invalid number");
        kind = 2;
    }
    s->i = i;
    *v = x;
    return kind;
}

const char *jscan_kind(jscan *s)
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

int jscan_literal(jscan *s, const char *lit)
{
    size_t l = strlen(lit);
    if (s->i + l <= s->n && memcmp(s->b + s->i, lit, l) == 0) {
        s->i += l;
        return 0;
    }
    return jscan_fail(s, s->syntax, NULL, s->i, "header is not valid JSON: unexpected %s",
                jscan_describe(s));
}

/* Validates and skips any JSON value. */
int jscan_skip(jscan *s)
{
    jscan_ws(s);
    if (s->i >= s->n)
        return jscan_fail(s, s->syntax, NULL, s->i, "header is not valid JSON: expected a value, "
                    "found the end of the header");
    uint8_t c = s->b[s->i];
    if (c == '"')
        return jscan_string(s, 0, NULL) ? 0 : -1;
    if (c == 't')
        return jscan_literal(s, "true");
    if (c == 'f')
        return jscan_literal(s, "false");
    if (c == 'n')
        return jscan_literal(s, "null");
    if (c == '-' || (c >= '0' && c <= '9')) {
        uint64_t v;
        int big;
        return jscan_number(s, &v, &big) < 0 ? -1 : 0;
    }
    if (c != '[' && c != '{')
        return jscan_fail(s, s->syntax, NULL, s->i, "header is not valid JSON: expected a value, "
                    "found %s", jscan_describe(s));
    if (++s->depth > JSCAN_MAX_DEPTH)
        return jscan_fail(s, s->syntax, NULL, s->i,
                    "header is not valid JSON: nested deeper than %d levels", JSCAN_MAX_DEPTH);
    s->i++;
    char close = c == '[' ? ']' : '}';
    int state = 0, r;
    while ((r = jscan_next(s, close, &state, c == '[' ? "in an array" : "in an object")) > 0) {
        if (c == '{' && (!jscan_string(s, 0, NULL) || jscan_expect(s, ':', "':'")))
            return -1;
        if (jscan_skip(s))
            return -1;
    }
    if (r < 0)
        return -1;
    s->depth--;
    return 0;
}

const char *jscan_string_ref(jscan *s, size_t *len_out)
{
    jscan_ws(s);
    size_t at = s->i;
    if (at < s->n && s->b[at] == '"') {
        size_t k = jscan_plain_end(s->b, at + 1, s->n);
        if (k < s->n && s->b[k] == '"') { /* no escape: the source bytes are the string */
            s->i = k + 1;
            *len_out = k - at - 1;
            return (const char *)s->b + at + 1;
        }
    }
    return jscan_string(s, 1, len_out);
}

int jscan_next(jscan *s, char close, int *state, const char *what)
{
    jscan_ws(s);
    int at_close = s->i < s->n && s->b[s->i] == (uint8_t)close;
    if (*state == 0) {
        *state = 1;
        if (!at_close)
            return 1;
    } else if (!at_close) {
        if (s->i < s->n && s->b[s->i] == ',') {
            s->i++;
            jscan_ws(s);
            return 1;
        }
        return jscan_fail(s, s->syntax, NULL, s->i, "header is not valid JSON: expected ',' or "
                          "'%c' %s, found %s", close, what, jscan_describe(s));
    }
    s->i++;
    return 0;
}

int jscan_member(jscan *s, const char *key)
{
    size_t kl = strlen(key);
    jscan_ws(s);
    if (s->i >= s->n || s->b[s->i] != '{')
        return 0;
    s->i++;
    int state = 0, r;
    while ((r = jscan_next(s, '}', &state, "in an object")) == 1) {
        size_t at = s->i; /* the key as written, its quotes included */
        if (!jscan_string(s, 0, NULL) || jscan_expect(s, ':', "':' after a key") != 0)
            return -1;
        if (s->i - at >= kl + 2 && s->b[at + kl + 1] == '"' && memcmp(s->b + at + 1, key, kl) == 0) {
            jscan_ws(s);
            return 1;
        }
        if (jscan_skip(s) != 0)
            return -1;
    }
    return r;
}
