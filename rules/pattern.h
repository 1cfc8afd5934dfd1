/* pattern.h - key patterns of rules files: literal text with captures.
 *   "model.layers.{layer:int}.mlp.experts.{expert:int}.down_proj.{suffix}"
 * {name:int} matches a decimal integer without leading zeros (0, 7, 61); {name} matches one or
 * more characters other than '.'; {name:any} matches one or more of any character. A pattern
 * is also a template: pattern_format writes it with captured or computed values.
 * A compiled pattern owns its text and literal pieces: the caller of pattern_compile calls
 * pattern_free. Failures are 0 / -1 (or a count), with a message where one is asked for. */
#ifndef CK_PATTERN_H
#define CK_PATTERN_H

#include <stddef.h>
#include <stdint.h>

#define PATTERN_MAX_CAPS 8

typedef enum { CAP_INT, CAP_NAME, CAP_ANY } cap_kind;

typedef struct {
    char name[32];
    cap_kind kind;
} pattern_cap;

typedef struct {
    char *text;                     /* the pattern as written (owned) */
    char *lit[PATTERN_MAX_CAPS + 1];/* literal pieces around the captures (owned), n_caps + 1 */
    size_t lit_len[PATTERN_MAX_CAPS + 1];
    pattern_cap caps[PATTERN_MAX_CAPS];
    int n_caps;
} pattern;

typedef struct {
    const char *s;      /* into the matched key */
    size_t len;
    int64_t v;          /* CAP_INT */
} pattern_value;

/* Compiles text. Returns 0, or -1 with why (and *col, 1-based) filled: an unbalanced brace, an
 * empty or repeated name, an unknown kind, two captures with no text between them, too many, or
 * out of memory (*col 0). why and col must not be NULL. On -1 *p is freed and zeroed. */
int pattern_compile(const char *text, pattern *p, char *why, size_t why_size, int *col);
/* Frees p's strings and leaves it zeroed; accepts NULL and a zeroed pattern. */
void pattern_free(pattern *p);
/* Matches all of key: 1 or 0. On 1 fills vals[0..n_caps), whose s point into key (borrowed); on 0
 * vals may be partly written. */
int pattern_match(const pattern *p, const char *key, size_t key_len, pattern_value *vals);
/* Writes the pattern with vals[i] in place of capture i (integers in decimal; a value with s
 * NULL is written as the integer v whatever the capture's kind). Returns the
 * length written (buf NUL-terminated), or -1 when buf is too small (buf then partly written). */
int pattern_format(const pattern *p, const pattern_value *vals, char *buf, size_t size);
/* The index of capture name, or -1. */
int pattern_cap_index(const pattern *p, const char *name, size_t len);

#endif
