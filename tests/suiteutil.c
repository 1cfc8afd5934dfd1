/* suiteutil.c - helpers of the Check suites that assert (see suiteutil.h). */
#include "tests/suiteutil.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <unistd.h>

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
    plan_layout lay = {tp, pp, 0, {0}, 0, 0, NULL, 0};
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

void tu_link_folder(const char *src, const char *dst, const char *except)
{
    char cwd[1024];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    DIR *d = opendir(src);
    ck_assert_msg(d != NULL, "%s: cannot list", src);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.' || (except && strcmp(e->d_name, except) == 0))
            continue;
        char from[2048], to[2048];
        snprintf(from, sizeof from, "%s/%s/%s", cwd, src, e->d_name);
        snprintf(to, sizeof to, "%s/%s", dst, e->d_name);
        ck_assert_msg(symlink(from, to) == 0, "cannot link %s", to);
    }
    closedir(d);
}

char *tu_fixture_config_edit(const char *src, const char *from, const char *to)
{
    char *tmp = tu_tmpdir(), path[1200];
    ck_assert_ptr_nonnull(tmp);
    tu_link_folder(src, tmp, "config.json");
    snprintf(path, sizeof path, "%s/config.json", src);
    size_t n;
    char *cfg = (char *)tu_read_file(path, &n);
    ck_assert_msg(cfg != NULL, "cannot read %s", path);
    char *at = strstr(cfg, from);
    ck_assert_msg(at != NULL, "%s holds no \"%s\"", path, from);
    size_t fl = strlen(from), tl = strlen(to);
    char *out = malloc(n - fl + tl + 1);
    ck_assert_ptr_nonnull(out);
    memcpy(out, cfg, (size_t)(at - cfg));
    memcpy(out + (at - cfg), to, tl);
    strcpy(out + (at - cfg) + tl, at + fl);
    snprintf(path, sizeof path, "%s/config.json", tmp);
    tu_write_file(path, out);
    free(out);
    free(cfg);
    return tmp;
}

void tu_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}
