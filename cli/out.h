/* out.h - terminal output helpers for the command line: colors (only on a terminal, never with
 * NO_COLOR or TERM=dumb), human sizes, a progress bar on stderr. */
#ifndef CK_OUT_H
#define CK_OUT_H

#include <stdint.h>
#include <stdio.h>

#include "base/finding.h"
#include "inspect/ckpt.h"

typedef struct {
    int color;     /* emit ANSI colors */
    int progress;  /* draw a progress bar on stderr */
    const char *label; /* the progress bar's word, "verify" when NULL */
    int last_pct;  /* the percentage drawn last, -1 before the first draw */
    double t0, last_t; /* when the bar began and was drawn last (monotonic seconds) */
} out_style;

/* Decides colors for stream fp and the progress bar for stderr from isatty, NO_COLOR and TERM. */
void out_style_detect(out_style *s, FILE *fp, int no_color_flag);
const char *out_sev_color(const out_style *s, ck_severity sev);
const char *out_bold(const out_style *s);
const char *out_dim(const out_style *s);
const char *out_reset(const out_style *s);
/* "1.5 GB", "812 KB", "17 B" (decimal units, like the Hub) */
const char *out_bytes(uint64_t n, char *buf, size_t size);
/* "671.0 B", "1.50 M" */
const char *out_count(uint64_t n, char *buf, size_t size);
/* Progress callback: ctx is an out_style*. Draws "verify [#####     ]  45% 12.3 GB / 27 GB
 * 1.2 GB/s 12 s left" on stderr (the style's label in place of "verify"), as wide as the
 * terminal, at most ten times a second, and erases the line when done reaches total. */
void out_progress(uint64_t done, uint64_t total, void *ctx);
/* The report formats the commands take with --format, in OUT_FMT_* order. */
enum { OUT_FMT_TEXT, OUT_FMT_JSON, OUT_FMT_GITHUB, OUT_FMT_SARIF, OUT_FORMATS };
extern const char *const out_formats[OUT_FORMATS];
/* The library's notices (ck_notice_hook; ctx an out_style for stderr): a line on stderr; a
 * transient one only where a progress bar would be drawn, replaced by the next. */
void out_notice(const char *line, int transient, void *ctx);
/* Puts stdout and stderr behind a filter that writes every control character a checkpoint's or
 * config's text may carry (names, model_type, paths) visibly escaped as \u001b, \u0007, \u009b (valid in JSON
 * strings too) instead of sending it to the terminal; \n and \t pass, and so do the few sequences ckptdoc
 * itself writes (its colors, and \r with erase-line on stderr for progress). Not for the TUI,
 * which owns the terminal. 0, or -1 when a stream could not be wrapped (output then goes
 * unfiltered). */
int out_guard_streams(void);

/* Prints findings: errors, then warnings, then notes; at most 5 of each code, then a count. */
void out_findings(const ck_findings *f, const out_style *s);
/* A finding code's entry in the catalogue (docs/findings.md, embedded by catalogue.S): its text
 * after the heading, *len bytes (up to the next entry); NULL when the catalogue lacks the code. */
const char *out_catalogue_entry(const char *code, size_t *len);
/* Whether every entry of a comma-separated list (--select, --ignore) is a code or a category of
 * the catalogue: 0, or -1 after naming the first that is not (and the nearest code) on stderr. */
int out_codes_valid(const char *cmd, const char *opt, const char *list);
/* The catalogue's code nearest to code (at most three edits), or NULL; *len its length. */
const char *out_catalogue_nearest(const char *code, size_t *len);
struct cJSON;
/* Adds "counts" and "findings" (code, severity, file, key, offset, message) to a JSON object. */
void out_findings_json(struct cJSON *root, const ck_findings *f);
/* --format github: one workflow annotation per finding (`::error file=F,title=CODE::KEY: MESSAGE`),
 * the file as a path from where the command runs. */
void out_findings_github(const ck_findings *f, const ck_checkpoint *ck);
/* --format sarif: SARIF 2.1.0 on stdout, a rule per code (described from the catalogue), a result
 * per finding located in its file; cmd names the command in errors. */
void out_findings_sarif(const ck_findings *f, const ck_checkpoint *ck, const char *cmd);

#endif
