/* ckerr.h - the one error record that library code fills instead of printing or exiting.
 * The first error wins: once code is non-zero, later ck_err_set calls leave the record alone.
 * Convention: a function that can fail returns CK_OK or a CK_* code and fills the ck_err it is
 * given (pass one cleared with ck_err_clear, or zeroed); helpers that return 0 / -1 instead say
 * so in their header. Findings about a checkpoint are data (finding.h), never errors. */
#ifndef CK_CKERR_H
#define CK_CKERR_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    CK_OK = 0,
    CK_EIO = 1,      /* a file could not be opened or read */
    CK_EFORMAT = 2,  /* input is not what it must be (bad JSON, bad header, ...) */
    CK_ENOMEM = 3,   /* an allocation failed */
    CK_EUSAGE = 4,   /* the caller asked for something impossible */
    CK_ECUDA = 5,    /* a CUDA call failed, or CUDA is not built / no device */
};

#define CK_NO_OFFSET UINT64_MAX

typedef struct ck_err {
    int code;
    char path[512];
    char key[256];
    uint64_t offset;  /* byte offset in path, or CK_NO_OFFSET */
    int line, col;    /* 1-based position in a text file, 0 when unknown */
    char msg[512];
} ck_err;

/* Clears e to "no error". */
void ck_err_clear(ck_err *e);
/* Records an error unless one is already recorded; path and key may be NULL, and so may e (then
 * nothing is recorded). Returns code either way. line and col are left alone: a caller that knows
 * them sets them afterwards. */
int ck_err_set(ck_err *e, int code, const char *path, const char *key, uint64_t offset,
               const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* What library code has to tell the user that is neither an error nor a finding (where a
 * checkpoint was read from; how far a download is): library code never prints, it calls
 * ck_notice, and the program that wants the lines sets the hook (the command line prints them on
 * stderr). transient: a progress line that the next one replaces (the hook may drop it). Without
 * a hook the lines go nowhere. */
typedef void (*ck_notice_fn)(const char *line, int transient, void *ctx);
void ck_notice_hook(ck_notice_fn fn, void *ctx);
void ck_notice(int transient, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Formats e as "path: key 'k': at offset N: msg" into buf (size >= 1; always NUL-terminated,
 * truncated to fit). Returns buf. */
const char *ck_err_str(const ck_err *e, char *buf, unsigned size);

#ifdef __cplusplus
}
#endif

#endif
