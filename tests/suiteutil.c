/* suiteutil.c - helpers of the Check suites that assert (see suiteutil.h). */
#include "tests/suiteutil.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"

int tu_suite_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

char *tu_cli(int want, const char *needle, const char *fmt, ...)
{
    char args[4096], cmd[4400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s", tu_bin(), args);
    char *out = NULL;
    int rc = tu_run(cmd, 1, &out);
    ck_assert_msg(rc == want, "%s: exit %d, want %d:\n%s", cmd, rc, want, out ? out : "");
    ck_assert_msg(!needle || (out && strstr(out, needle)), "%s: no '%s' in:\n%s", cmd, needle,
                  out ? out : "");
    return out;
}

void tu_planned_open(tu_planned *x, const char *dir, int threads, const char *rules, int tp, int pp)
{
    ck_err_clear(&x->err);
    ck_assert_msg(ckpt_open(dir, threads, &x->ck, &x->err) == CK_OK, "%s: %s", dir, x->err.msg);
    int rc = strchr(rules, '/') ? rules_load_file(rules, &x->r, &x->err)
                                : rules_load_builtin(rules, &x->r, &x->err);
    ck_assert_msg(rc == CK_OK, "%s: %s", rules, x->err.msg);
    plan_layout lay = {tp, pp, 0, {0}};
    findings_init(&x->f);
    x->planned = plan_build(&x->r, &x->ck.cfg, &lay, &x->p, &x->f, &x->err) == CK_OK;
}

void tu_planned_close(tu_planned *x)
{
    if (x->planned)
        plan_free(&x->p);
    findings_free(&x->f);
    rules_free(&x->r);
    ckpt_free(&x->ck);
}
