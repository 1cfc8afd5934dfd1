/* finding.h - findings about a checkpoint: data in a report, not errors of the program.
 * Every finding has a stable code ("st.header_too_large"), a severity, the file and key it is
 * about (either may be empty), a byte offset when one applies, and a message a user can act on.
 * A ck_findings owns copies of every string it holds; the adders never fail: an allocation that
 * fails drops the finding and sets oom, which the owner checks (ckpt_open turns it into CK_ENOMEM). */
#ifndef CK_FINDING_H
#define CK_FINDING_H

#include <stddef.h>
#include <stdint.h>

typedef enum { SEV_NOTE = 0, SEV_WARNING = 1, SEV_ERROR = 2 } ck_severity;

typedef struct {
    const char *code;   /* static string, e.g. "index.missing_shard" */
    ck_severity sev;
    char *file;         /* owned; "" when the finding is about the whole checkpoint */
    char *key;          /* owned; "" when not about one tensor */
    uint64_t offset;    /* byte offset in file, or UINT64_MAX */
    char *msg;          /* owned */
} ck_finding;

typedef struct {
    ck_finding *v;
    size_t n, cap;
    int oom;            /* set when an append could not allocate; the list stays usable */
} ck_findings;

/* An empty list (the same as a zeroed one). */
void findings_init(ck_findings *f);
/* Frees every finding and leaves f zeroed; accepts NULL and a zeroed list. */
void findings_free(ck_findings *f);
/* Appends a finding; file and key may be NULL. On allocation failure sets f->oom and drops it. */
void findings_add(ck_findings *f, const char *code, ck_severity sev, const char *file,
                  const char *key, uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
/* Appends a copy of every finding of src whose severity is min or higher (SEV_NOTE: all), in
 * src's order; on allocation failure as findings_add. src's oom carries over to dst. */
void findings_append(ck_findings *dst, const ck_findings *src, ck_severity min);
/* Number of findings of severity sev. */
size_t findings_count(const ck_findings *f, ck_severity sev);
/* The first finding with this code, or NULL. Borrowed: valid until the next add to f (the array
 * may move) or findings_free. */
const ck_finding *findings_find(const ck_findings *f, const char *code);
/* "error", "warning" or "note" (static strings). */
const char *severity_name(ck_severity s);
/* Whether code matches one of the comma-separated patterns: a code ("lint.missing"), or a
 * category ("lint", "st.") that matches every code in it. */
int finding_code_matches(const char *code, const char *patterns);
/* Drops the findings for which keep(finding, ctx) is 0, in place, keeping the order. */
void findings_keep(ck_findings *f, int (*keep)(const ck_finding *x, void *ctx), void *ctx);

#endif
