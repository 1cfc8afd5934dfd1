/* suiteutil.h - helpers of the Check suites that assert (linked into the suites only, not the
 * fuzz replayers). Tests run from the repository root. */
#ifndef CK_SUITEUTIL_H
#define CK_SUITEUTIL_H

#include <check.h>

#include "inspect/ckpt.h"
#include "loader/plan.h"
#include "rules/rules.h"

/* Runs every test of suite s (taking it) and returns the process exit status: EXIT_SUCCESS
 * when none failed. */
int tu_suite_run(Suite *s);

/* Runs ckptdoc with the arguments fmt makes (stdout and stderr together), asserts its exit status
 * is want and, unless needle is NULL, that the output holds needle. Returns the output (free it). */
char *tu_cli(int want, const char *needle, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A checkpoint, its rules (a built-in name, or a file when the name holds a '/') and their plan
 * for TP x PP, as lint makes them; planned is 0 when plan_build failed (its error in err). */
typedef struct {
    ck_checkpoint ck;
    rules_file r;
    plan p;
    ck_findings f;        /* plan_build's findings, then the simulation's */
    ck_err err;
    int planned;
} tu_planned;
/* Links every file of folder src (relative to the repository root) into folder dst, but the file
 * named `except` (NULL: none): a copy of a fixture to edit one file of. Asserts. */
void tu_link_folder(const char *src, const char *dst, const char *except);
/* Writes text to path (replacing it). Asserts. */
void tu_write_file(const char *path, const char *text);
/* A scratch folder (tu_tmpdir: free it and tu_rmtree it) holding fixture src linked file by file
 * but config.json, which is src's with its first `from` replaced by `to`. Asserts. */
char *tu_fixture_config_edit(const char *src, const char *from, const char *to);

/* Opens dir, loads the rules and plans TP x PP, asserting each step but the plan. */
void tu_planned_open(tu_planned *x, const char *dir, int threads, const char *rules, int tp, int pp);
void tu_planned_close(tu_planned *x);

#endif
