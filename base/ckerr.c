/* ckerr.c - the error record. */
#include "base/ckerr.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void ck_err_clear(ck_err *e)
{
    memset(e, 0, sizeof *e);
    e->offset = CK_NO_OFFSET;
}

int ck_err_set(ck_err *e, int code, const char *path, const char *key, uint64_t offset,
               const char *fmt, ...)
{
    if (!e || e->code)
        return code;
    e->code = code;
    snprintf(e->path, sizeof e->path, "%s", path ? path : "");
    snprintf(e->key, sizeof e->key, "%s", key ? key : "");
    e->offset = offset;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

const char *ck_err_str(const ck_err *e, char *buf, unsigned size)
{
    int n = 0;
    buf[0] = 0;
    if (e->path[0])
        n += snprintf(buf + n, size - n, "%s: ", e->path);
    if (e->line > 0 && (unsigned)n < size)
        n += snprintf(buf + n, size - n, "line %d, column %d: ", e->line, e->col);
    if (e->key[0] && (unsigned)n < size)
        n += snprintf(buf + n, size - n, "'%s': ", e->key);
    if (e->offset != CK_NO_OFFSET && (unsigned)n < size)
        n += snprintf(buf + n, size - n, "at byte %llu: ", (unsigned long long)e->offset);
    if ((unsigned)n < size)
        snprintf(buf + n, size - n, "%s", e->msg);
    return buf;
}

static ck_notice_fn notice_fn;
static void *notice_ctx;

void ck_notice_hook(ck_notice_fn fn, void *ctx)
{
    notice_fn = fn;
    notice_ctx = ctx;
}

void ck_notice(int transient, const char *fmt, ...)
{
    if (!notice_fn)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    notice_fn(line, transient, notice_ctx);
}
