/* jscan.h - a strict JSON scanner over a byte buffer, for the fixed schemas of checkpoint files
 * (safetensors headers, the shard index). The caller drives it: skip whitespace, expect a
 * character, read a string (decoded into a caller-provided arena that must hold at least n + 1
 * bytes), read a number, skip any value. The first error is recorded with its position.
 * The scanner allocates nothing: b and arena are the caller's, and must outlive every string it
 * returns. Failure is -1 (or NULL) with status, msg, key and off filled (first error wins); the
 * owner turns that into its own error or finding, not a ck_err. */
#ifndef CK_JSCAN_H
#define CK_JSCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define JSCAN_MAX_DEPTH 128 /* nesting limit of the reference's JSON parser (serde_json) */

typedef struct {
    const uint8_t *b;   /* the JSON text */
    size_t n, i;        /* its length, the cursor */
    int depth;
    int syntax;         /* status recorded for syntax errors (set by the owner, non-zero) */
    const char *doc;    /* what the text is, for messages ("header"); NULL: "text" */
    int status;         /* 0, or the status of the first error */
    char msg[1024];
    char key[256];
    uint64_t base;      /* added to positions to give file offsets */
    uint64_t off;       /* file offset of the first error */
    char *arena;        /* decoded strings */
    size_t arena_n;
} jscan;

/* A scanner over the n bytes at b, its strings decoded into arena (n + 1 bytes; NULL when no
 * string is kept: jscan_string with keep 0 and jscan_skip need none), syntax errors recorded with
 * status syntax, the text named doc in messages. */
static inline void jscan_init(jscan *s, const void *b, size_t n, char *arena, int syntax, const char *doc)
{
    memset(s, 0, sizeof *s);
    s->b = (const uint8_t *)b;
    s->n = n;
    s->arena = arena;
    s->syntax = syntax;
    s->doc = doc;
}
/* Records an error (the first wins) at position at; returns -1. */
int jscan_fail(jscan *s, int status, const char *key, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Position of the first byte that is not valid UTF-8 (as Rust's str::from_utf8), or SIZE_MAX. */
size_t jscan_utf8_invalid_at(const uint8_t *s, size_t n);
static inline void jscan_ws(jscan *s)
{
    while (s->i < s->n && (s->b[s->i] == ' ' || s->b[s->i] == '\n' || s->b[s->i] == '\r' ||
                           s->b[s->i] == '\t'))
        s->i++;
}
/* "'x'", "byte 0x01" or "the end of the header" for the byte at the cursor. The text is in a
 * thread-local buffer, overwritten by the next call on the same thread. */
const char *jscan_describe(jscan *s);
/* "an object", "a string", ... for the value starting at the cursor (static strings). */
const char *jscan_kind(jscan *s);
/* Skips whitespace and consumes c: 0, or -1 with a syntax error naming what was expected. */
int jscan_expect(jscan *s, char c, const char *what);
/* A string at the cursor; keep: decoded into the arena, NUL-terminated, and returned; else
 * validated only (returns ""). NULL on error. len_out (may be NULL) gets the decoded length. */
const char *jscan_string(jscan *s, int keep, size_t *len_out);
/* A number at the cursor: 0 non-negative integer (*v, or *big when over 64 bits), 1 negative
 * integer (including -0), 2 fraction or exponent, -1 error. v and big must not be NULL. */
int jscan_number(jscan *s, uint64_t *v, int *big);
/* A string at the cursor without copying when it has no escapes: returns a pointer into the
 * text (not NUL-terminated) or, with escapes, into the arena; *len_out is its length (len_out
 * must not be NULL). NULL on error. */
const char *jscan_string_ref(jscan *s, size_t *len_out);
/* The first position at or after i (below n) of a '"', '\\' or control character: where a
 * string's plain run of bytes ends. n when there is none. */
size_t jscan_plain_end(const uint8_t *b, size_t i, size_t n);
/* The length of the common prefix of a[0 .. n) and b[0 .. n), compared 8 bytes at a time. */
static inline __attribute__((always_inline)) size_t jscan_common_prefix(const void *a, const void *b,
                                                                       size_t n)
{
    const unsigned char *x = a, *y = b;
    size_t q = 0;
    for (; q + 8 <= n; q += 8) {
        uint64_t u, v;
        memcpy(&u, x + q, 8);
        memcpy(&v, y + q, 8);
        if (u != v)
            return q + (size_t)__builtin_ctzll(u ^ v) / 8; /* little-endian: the first byte */
    }
    while (q < n && x[q] == y[q])
        q++;
    return q;
}
/* How many of the 8 bytes of w (read little-endian: the first byte lowest) are digits before
 * the first that is not (0 .. 8). A byte below '0' borrows from the bytes after it and one
 * above '9' carries into them: neither changes the bytes before it. */
static inline unsigned jscan_leading_digits(uint64_t w)
{
    uint64_t t = w - 0x3030303030303030ull;
    uint64_t m = (t | (t + 0x7676767676767676ull)) & 0x8080808080808080ull;
    return m ? (unsigned)__builtin_ctzll(m) / 8 : 8;
}
/* The position (0 .. 8) of the first byte of w equal to c, 8 when there is none. */
static inline unsigned jscan_byte_at(uint64_t w, unsigned char c)
{
    uint64_t x = w ^ (0x0101010101010101ull * c);
    uint64_t m = (x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull;
    return m ? (unsigned)__builtin_ctzll(m) / 8 : 8;
}
/* Consumes lit ("true", "null") at the cursor: 0, or -1 with a syntax error. */
int jscan_literal(jscan *s, const char *lit);
/* Steps through an array or object whose opening bracket was consumed; *state starts at 0.
 * Returns 1 when an element follows (the cursor is at it, for an object at its key), 0 once the
 * closing bracket is consumed, -1 on a syntax error (what says where, e.g. "in shape"). */
int jscan_next(jscan *s, char close, int *state, const char *what);
/* Validates and skips one value of any type: 0, or -1 on error. */
int jscan_skip(jscan *s);
/* In the object at the cursor, the value of its member key (compared as written, without
 * escapes), the members before it skipped: 1 with the cursor at that value; 0 when the value at
 * the cursor is not an object or has no such member; -1 on a syntax error before it. */
int jscan_member(jscan *s, const char *key);

#endif
