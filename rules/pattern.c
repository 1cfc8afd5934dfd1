/* pattern.c - compile a key pattern into literal pieces and captures; match with backtracking
 * over the (few) places where a capture may end. */
#include "rules/pattern.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pattern_free(pattern *p)
{
    if (!p)
        return;
    free(p->text);
    for (int i = 0; i <= p->n_caps && i <= PATTERN_MAX_CAPS; i++)
        free(p->lit[i]);
    memset(p, 0, sizeof *p);
}

int pattern_compile(const char *text, pattern *p, char *why, size_t why_size, int *col)
{
    memset(p, 0, sizeof *p);
    *col = 0;
    p->text = strdup(text);
    if (!p->text) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    const char *s = text, *lit = text;
    while (*s) {
        if (*s == '}') {
            *col = (int)(s - text) + 1;
            snprintf(why, why_size, "'}' without a matching '{'");
            goto fail;
        }
        if (*s != '{') {
            s++;
            continue;
        }
        const char *close = strchr(s, '}');
        const char *open2 = strchr(s + 1, '{');
        *col = (int)(s - text) + 1;
        if (!close || (open2 && open2 < close)) {
            snprintf(why, why_size, "'{' without a matching '}'");
            goto fail;
        }
        if (p->n_caps == PATTERN_MAX_CAPS) {
            snprintf(why, why_size, "more than %d captures", PATTERN_MAX_CAPS);
            goto fail;
        }
        if (s == lit && p->n_caps > 0) {
            snprintf(why, why_size, "two captures with no text between them cannot be told apart");
            goto fail;
        }
        const char *colon = memchr(s, ':', (size_t)(close - s));
        size_t nlen = (size_t)((colon ? colon : close) - (s + 1));
        if (nlen == 0 || nlen >= sizeof p->caps[0].name) {
            snprintf(why, why_size, nlen ? "capture name too long" : "empty capture name");
            goto fail;
        }
        pattern_cap *c = &p->caps[p->n_caps];
        memcpy(c->name, s + 1, nlen);
        c->name[nlen] = 0;
        for (size_t k = 0; k < nlen; k++) {
            char ch = c->name[k];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
                  (k && ch >= '0' && ch <= '9'))) {
                snprintf(why, why_size, "capture name \"%s\" is not an identifier", c->name);
                goto fail;
            }
        }
        if (pattern_cap_index(p, c->name, nlen) >= 0) {
            snprintf(why, why_size, "capture {%s} appears twice", c->name);
            goto fail;
        }
        c->kind = CAP_NAME;
        if (colon) {
            size_t klen = (size_t)(close - colon - 1);
            if (klen == 3 && strncmp(colon + 1, "int", 3) == 0)
                c->kind = CAP_INT;
            else if (klen == 3 && strncmp(colon + 1, "any", 3) == 0)
                c->kind = CAP_ANY;
            else if (!(klen == 4 && strncmp(colon + 1, "name", 4) == 0)) {
                snprintf(why, why_size, "unknown capture kind \"%.*s\" (int, name or any)",
                         (int)klen, colon + 1);
                goto fail;
            }
        }
        p->lit[p->n_caps] = strndup(lit, (size_t)(s - lit));
        if (!p->lit[p->n_caps])
            goto oom;
        p->n_caps++;
        s = lit = close + 1;
    }
    p->lit[p->n_caps] = strdup(lit);
    if (!p->lit[p->n_caps])
        goto oom;
    for (int k = 0; k <= p->n_caps; k++)
        p->lit_len[k] = strlen(p->lit[k]);
    return 0;
oom:
    snprintf(why, why_size, "out of memory");
fail:
    pattern_free(p);
    return -1;
}

int pattern_cap_index(const pattern *p, const char *name, size_t len)
{
    for (int i = 0; i < p->n_caps; i++)
        if (strlen(p->caps[i].name) == len && strncmp(p->caps[i].name, name, len) == 0)
            return i;
    return -1;
}

static int cap_holds(const pattern_cap *c, char ch)
{
    return c->kind == CAP_INT ? ch >= '0' && ch <= '9' : c->kind == CAP_ANY || ch != '.';
}

/* Binds capture k to key[pos, e); 0 when an integer capture cannot take it (a leading zero:
 * "01" is not layer 1; more than 18 digits). */
static int cap_bind(const pattern_cap *c, const char *key, size_t pos, size_t e, pattern_value *val)
{
    if (c->kind == CAP_INT) {
        if ((key[pos] == '0' && e - pos > 1) || e - pos > 18)
            return 0;
        int64_t v = 0;
        for (size_t q = pos; q < e; q++)
            v = v * 10 + (key[q] - '0');
        val->v = v;
    }
    val->s = key + pos;
    val->len = e - pos;
    return 1;
}

/* A match's search state: after MATCH_STEPS calls without memo, the search restarts with one
 * that remembers every (capture, position) that failed, so a key the captures can split many ways
 * ("a.a.a.a..." against several :any captures) costs at most captures x length^2 steps, not
 * exponentially many; a key longer than MATCH_MEMO_MAX that needs the memo does not match (no
 * checkpoint names a tensor with thousands of characters). */
#define MATCH_STEPS 4096
#define MATCH_MEMO_MAX 4096
typedef struct {
    uint8_t *failed;     /* (n_caps + 1) x (n + 1), NULL on the first try */
    size_t stride;
    size_t steps;
} match_ctx;

/* Matches captures k.. and the literal after each against key[pos..); -1 when the first try runs
 * out of steps. */
static int match_from(const pattern *p, int k, const char *key, size_t n, size_t pos,
                      pattern_value *vals, match_ctx *m)
{
    if (!m->failed && ++m->steps > MATCH_STEPS)
        return -1;
    if (m->failed && m->failed[(size_t)k * m->stride + pos])
        return 0;
    const char *lit = p->lit[k];
    size_t ll = p->lit_len[k];
    if (k == p->n_caps)
        return n - pos == ll && memcmp(key + pos, lit, ll) == 0;
    /* lit[k] precedes capture k */
    if (n - pos < ll || memcmp(key + pos, lit, ll) != 0)
        return 0;
    size_t at = pos;
    pos += ll;
    const pattern_cap *c = &p->caps[k];
    if (k == p->n_caps - 1) {
        /* the last capture runs up to the trailing literal: one place to try, no search */
        size_t tl = p->lit_len[k + 1];
        if (n - pos <= tl || memcmp(key + n - tl, p->lit[k + 1], tl) != 0)
            return 0;
        size_t e = n - tl;
        for (size_t q = pos; q < e; q++)
            if (!cap_holds(c, key[q]))
                return 0;
        return cap_bind(c, key, pos, e, &vals[k]);
    }
    size_t end = pos;
    while (end < n && cap_holds(c, key[end]))
        end++;
    /* try the longest capture first, then shorter ones; when the next literal starts with a
     * character the capture cannot hold, only the longest can be followed by it */
    char next = p->lit[k + 1][0];
    size_t shortest = next && !cap_holds(c, next) ? end : pos + 1;
    for (size_t e = end; e > pos && e >= shortest; e--) {
        if (!cap_bind(c, key, pos, e, &vals[k]))
            continue;
        int r = match_from(p, k + 1, key, n, e, vals, m);
        if (r != 0)
            return r;
    }
    if (m->failed)
        m->failed[(size_t)k * m->stride + at] = 1;
    return 0;
}

int pattern_match(const pattern *p, const char *key, size_t key_len, pattern_value *vals)
{
    /* the trailing literal first: most patterns a key does not match end differently */
    size_t tl = p->lit_len[p->n_caps];
    if (tl > key_len || (tl && memcmp(key + key_len - tl, p->lit[p->n_caps], tl) != 0))
        return 0;
    match_ctx m = {NULL, 0, 0};
    int r = match_from(p, 0, key, key_len, 0, vals, &m);
    if (r >= 0)
        return r;
    if (key_len > MATCH_MEMO_MAX)
        return 0;
    m.stride = key_len + 1;
    m.failed = calloc((size_t)(p->n_caps + 1) * m.stride, 1);
    if (!m.failed)
        return 0; /* out of memory: no match (the key is then reported, never mis-mapped) */
    r = match_from(p, 0, key, key_len, 0, vals, &m);
    free(m.failed);
    return r > 0;
}

int pattern_format(const pattern *p, const pattern_value *vals, char *buf, size_t size)
{
    size_t n = 0;
    for (int k = 0; k <= p->n_caps; k++) {
        size_t l = p->lit_len[k];
        if (n + l >= size)
            return -1;
        memcpy(buf + n, p->lit[k], l);
        n += l;
        if (k == p->n_caps)
            break;
        if (p->caps[k].kind == CAP_INT || !vals[k].s) { /* an integer, or a range variable */
            char digits[24];
            int64_t v = vals[k].v;
            uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
            int d = 0;
            do
                digits[d++] = (char)('0' + u % 10);
            while ((u /= 10) != 0);
            if (v < 0)
                digits[d++] = '-';
            if (n + (size_t)d >= size)
                return -1;
            while (d)
                buf[n++] = digits[--d];
        } else {
            if (n + vals[k].len >= size)
                return -1;
            memcpy(buf + n, vals[k].s, vals[k].len);
            n += vals[k].len;
        }
    }
    buf[n] = 0;
    return (int)n;
}
