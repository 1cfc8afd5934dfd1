/* finding.c - the findings list. */
#include "base/finding.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void findings_init(ck_findings *f)
{
    memset(f, 0, sizeof *f);
}

void findings_free(ck_findings *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].file);
        free(f->v[i].key);
        free(f->v[i].msg);
    }
    free(f->v);
    memset(f, 0, sizeof *f);
}

void findings_add(ck_findings *f, const char *code, ck_severity sev, const char *file,
                  const char *key, uint64_t offset, const char *fmt, ...)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        ck_finding *v = realloc(f->v, cap * sizeof *v);
        if (!v) {
            f->oom = 1;
            return;
        }
        f->v = v;
        f->cap = cap;
    }
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ck_finding *x = &f->v[f->n];
    x->code = code;
    x->sev = sev;
    x->file = strdup(file ? file : "");
    x->key = strdup(key ? key : "");
    x->msg = strdup(buf);
    x->offset = offset;
    if (!x->file || !x->key || !x->msg) {
        free(x->file);
        free(x->key);
        free(x->msg);
        f->oom = 1;
        return;
    }
    f->n++;
}

void findings_append(ck_findings *dst, const ck_findings *src, ck_severity min)
{
    dst->oom |= src->oom; /* what src dropped is missing from dst too */
    for (size_t i = 0; i < src->n; i++) {
        const ck_finding *x = &src->v[i];
        if (x->sev >= min)
            findings_add(dst, x->code, x->sev, x->file, x->key, x->offset, "%s", x->msg);
    }
}

size_t findings_count(const ck_findings *f, ck_severity sev)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++)
        n += f->v[i].sev == sev;
    return n;
}

const ck_finding *findings_find(const ck_findings *f, const char *code)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i].code, code) == 0)
            return &f->v[i];
    return NULL;
}

const char *severity_name(ck_severity s)
{
    return s == SEV_ERROR ? "error" : s == SEV_WARNING ? "warning" : "note";
}

int finding_code_matches(const char *code, const char *patterns)
{
    size_t cl = strlen(code);
    for (const char *p = patterns; p && *p;) {
        size_t n = strcspn(p, ",");
        size_t m = n && p[n - 1] == '.' ? n - 1 : n; /* "st." as "st" */
        if (m && ((m == cl && strncmp(code, p, m) == 0) || (m < cl && strncmp(code, p, m) == 0 && code[m] == '.')))
            return 1;
        p += n + (p[n] == ',');
    }
    return 0;
}

void findings_keep(ck_findings *f, int (*keep)(const ck_finding *x, void *ctx), void *ctx)
{
    size_t w = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (keep(&f->v[i], ctx)) {
            f->v[w++] = f->v[i];
            continue;
        }
        free(f->v[i].file);
        free(f->v[i].key);
        free(f->v[i].msg);
    }
    f->n = w;
}
