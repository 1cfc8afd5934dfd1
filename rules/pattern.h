/* pattern.h - key patterns of rules files: literal text with captures.
 *   "model.layers.{layer:int}.mlp.experts.{expert:int}.down_proj.{suffix}"
 * {name:int} matches a decimal integer without leading zeros (0, 7, 61); {name} matches one or
 * more characters other than '.'; {name:any} matches one or more of any character. A pattern
 * is also a template: pattern_format writes it with captured or computed values. */
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
 * empty or repeated name, an unknown kind, two captures with no text between them, too many. */
int pattern_compile(const char *text, pattern *p, char *why, size_t why_size, int *col);
void pattern_free(pattern *p);
/* Matches all of key; on 1 fills vals[0..n_caps). */
int pattern_match(const pattern *p, const char *key, size_t key_len, pattern_value *vals);
/* Writes the pattern with vals[i] in place of capture i (integers in decimal; a value with s
 * NULL is written as the integer v whatever the capture's kind). Returns the
 * length written, or -1 when buf is too small. */
int pattern_format(const pattern *p, const pattern_value *vals, char *buf, size_t size);
/* The index of capture name, or -1. */
int pattern_cap_index(const pattern *p, const char *name, size_t len);

#endif
