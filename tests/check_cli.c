/* check_cli.c - the command line as a user meets it: every case of tests/golden/cases.txt runs
 * the ckptdoc binary under test from the repository root and its exit status, standard output
 * and standard error must equal tests/golden/out/NAME.txt byte for byte.
 *
 * The golden files are made by the binary itself, never by hand: `make golden` runs this suite
 * with CKPTDOC_GOLDEN_WRITE=1, which writes each case's file instead of comparing; the change
 * is then reviewed as a diff (`git diff tests/golden/out`). A case line is `NAME ARGS...`, the
 * arguments as a POSIX shell reads them; `#` starts a comment. Elapsed times and rates
 * (`in 0.01 s (1.23 GB/s)`, `"seconds":0.005`) are the only output masked. */
#include <check.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/suiteutil.h"
#include "tests/httpd.h"
#include "tests/testutil.h"

#define CASES "tests/golden/cases.txt"
#define GOLDEN_DIR "tests/golden/out"
#define MAX_CASES 512

typedef struct {
    char name[96];
    char args[1024];
} cli_case;

static cli_case cases[MAX_CASES];
static int n_cases;

/* Reads CASES; returns -1 (with a message) when it cannot. */
static int cases_load(void)
{
    FILE *f = fopen(CASES, "r");
    if (!f) {
        perror(CASES);
        return -1;
    }
    char line[1200];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strcspn(line, "\n");
        line[n] = 0;
        char *s = line;
        while (isspace((unsigned char)*s))
            s++;
        if (!*s || *s == '#')
            continue;
        size_t w = strcspn(s, " \t");
        if (n_cases == MAX_CASES || w >= sizeof cases[0].name || strlen(s + w) >= sizeof cases[0].args) {
            fprintf(stderr, "%s:%d: too many cases or a line too long\n", CASES, lineno);
            fclose(f);
            return -1;
        }
        memcpy(cases[n_cases].name, s, w);
        cases[n_cases].name[w] = 0;
        for (int i = 0; i < n_cases; i++)
            if (strcmp(cases[i].name, cases[n_cases].name) == 0) {
                fprintf(stderr, "%s:%d: case name '%s' used twice\n", CASES, lineno, cases[i].name);
                fclose(f);
                return -1;
            }
        s += w;
        while (isspace((unsigned char)*s))
            s++;
        snprintf(cases[n_cases].args, sizeof cases[0].args, "%s", s);
        n_cases++;
    }
    fclose(f);
    return 0;
}

/* Skips a number at s (digits and dots); returns where it ends (s when there is none). */
static char *skip_number(char *s)
{
    while (isdigit((unsigned char)*s) || *s == '.')
        s++;
    return s;
}

/* Skips a rate "1.23 GB/s" at s; NULL when there is none. */
static char *skip_rate(char *s)
{
    char *r = skip_number(s);
    if (r == s)
        return NULL;
    while (*r == ' ' || *r == 'K' || *r == 'M' || *r == 'G')
        r++;
    return strncmp(r, "B/s", 3) == 0 ? r + 3 : NULL;
}

/* Masks elapsed times with their rates, "in 0.01 s (1.23 GB/s)" and "in 0.001 s, 0.43 GB/s",
 * JSON's "seconds":0.0054 (the only output that depends on the machine's speed) and the peak
 * memory, "; peak 20.1 MB" and "peak_rss_bytes":20103168 (which depend on the C library and the
 * kernel), in place. */
static void mask_timings(char *s)
{
    static const char pk[] = "; peak ";
    for (char *p = s; (p = strstr(p, pk)) != NULL;) {
        p += sizeof pk - 1;
        char *q = skip_number(p);
        if (q > p && strncmp(q, " MB", 3) == 0) {
            memmove(p + 1, q, strlen(q) + 1);
            *p = 'M';
        }
    }
    static const char m[] = " in T s (R)";
    for (char *p = s; (p = strstr(p, " in ")) != NULL;) {
        char *q = skip_number(p + 4), *r = NULL;
        if (q > p + 4 && strncmp(q, " s (", 4) == 0 && (r = skip_rate(q + 4)) && *r == ')')
            r++;
        else if (q > p + 4 && strncmp(q, " s, ", 4) == 0)
            r = skip_rate(q + 4);
        else
            r = NULL;
        if (!r) {
            p += 4;
            continue;
        }
        memmove(p + sizeof m - 1, r, strlen(r) + 1);
        memcpy(p, m, sizeof m - 1);
        p += sizeof m - 1;
    }
    static const char *const js[] = {"\"seconds\":", "\"peak_rss_bytes\":"};
    for (int k = 0; k < 2; k++)
        for (char *p = s; (p = strstr(p, js[k])) != NULL;) {
            p += strlen(js[k]);
            char *q = p + strspn(p, "0123456789.eE+-");
            if (q > p) {
                memmove(p + 1, q, strlen(q) + 1);
                *p = k ? 'M' : 'T';
            }
        }
}

/* Runs case c; returns the text its golden file holds (caller frees). */
static char *case_run(const cli_case *c)
{
    char *dir = tu_tmpdir();
    ck_assert_ptr_nonnull(dir);
    char cmd[2048], errpath[600];
    snprintf(errpath, sizeof errpath, "%s/stderr", dir);
    /* OpenBLAS picks its kernels by the processor, which orders the sums: one choice, every
     * x86-64 with AVX2 has it, keeps check's printed errors the same on every machine */
    snprintf(cmd, sizeof cmd, "{ NO_COLOR=1 OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1 %s %s 2>%s; }",
             tu_bin(), c->args, errpath);
    char *out = NULL;
    int rc = tu_run(cmd, 0, &out);
    ck_assert_msg(rc >= 0 && out, "%s: could not run '%s'", c->name, cmd);
    size_t elen = 0;
    char *err = (char *)tu_read_file(errpath, &elen);
    tu_rmtree(dir);
    free(dir);
    mask_timings(out);
    if (err)
        mask_timings(err);
    size_t cap = strlen(c->args) + strlen(out) + (err ? strlen(err) : 0) + 128;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    snprintf(text, cap, "$ ckptdoc %s\nexit %d\n--- stdout\n%s--- stderr\n%s", c->args, rc, out,
             err ? err : "");
    free(out);
    free(err);
    return text;
}

START_TEST(test_golden)
{
    const cli_case *c = &cases[_i];
    char path[256];
    snprintf(path, sizeof path, "%s/%s.txt", GOLDEN_DIR, c->name);
    char *got = case_run(c);
    if (getenv("CKPTDOC_GOLDEN_WRITE")) {
        FILE *f = fopen(path, "w");
        ck_assert_msg(f != NULL, "cannot write %s", path);
        fputs(got, f);
        ck_assert_int_eq(fclose(f), 0);
        free(got);
        return;
    }
    size_t len = 0;
    char *want = (char *)tu_read_file(path, &len);
    ck_assert_msg(want != NULL, "%s: no golden file %s (make golden writes it)", c->name, path);
    if (strcmp(got, want) != 0) {
        /* the first differing line, to say where */
        const char *a = got, *b = want;
        int line = 1;
        while (*a && *a == *b) {
            if (*a == '\n')
                line++;
            a++;
            b++;
        }
        const char *la = a, *lb = b;
        while (la > got && la[-1] != '\n')
            la--;
        while (lb > want && lb[-1] != '\n')
            lb--;
        ck_abort_msg("%s: output differs from %s at line %d:\n  got:  %.*s\n  want: %.*s\n"
                     "(if the change is meant, run `make golden` and review `git diff %s`)",
                     c->name, path, line, (int)strcspn(la, "\n"), la, (int)strcspn(lb, "\n"), lb,
                     GOLDEN_DIR);
    }
    free(got);
    free(want);
}
END_TEST

/* Every golden file belongs to a case: a renamed or removed case leaves no stale file behind. */
START_TEST(test_no_stale_golden)
{
    char *list = NULL;
    ck_assert_int_eq(tu_run("ls " GOLDEN_DIR, 0, &list), 0);
    for (char *s = strtok(list, "\n"); s; s = strtok(NULL, "\n")) {
        size_t n = strlen(s);
        int found = 0;
        for (int i = 0; i < n_cases && !found; i++)
            found = n == strlen(cases[i].name) + 4 && strncmp(s, cases[i].name, n - 4) == 0 &&
                    strcmp(s + n - 4, ".txt") == 0;
        ck_assert_msg(found, "%s/%s belongs to no case of %s: remove it", GOLDEN_DIR, s, CASES);
    }
    free(list);
}
END_TEST

/* --format github writes workflow commands GitHub's runner reads: `::LEVEL` then, after one
 * space, properties name=value separated by commas (values with no raw ':' ',' '%' or newline),
 * then `::` and the message; a shard's file is the path under the folder given. */
START_TEST(test_github_annotations)
{
    static const char *const dirs[] = {"fixtures/oracle/variants/qwen2-renamed-key", "fixtures/lint/r1-tiny",
                                       "fixtures/oracle/variants/qwen2-layers-trimmed"};
    int files = 0;
    for (unsigned d = 0; d < sizeof dirs / sizeof *dirs; d++) {
        char *out = tu_cli(1, NULL, "lint %s --tp 2 --pp 2 --format github --rules %s", dirs[d],
                           d == 1 ? "fixtures/rules/deepseek_v3-old-mtp-prefix.json" : "qwen2");
        for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
            const char *lv[] = {"::error ", "::warning ", "::notice "};
            const char *p = NULL;
            for (int k = 0; k < 3 && !p; k++)
                if (strncmp(line, lv[k], strlen(lv[k])) == 0)
                    p = line + strlen(lv[k]);
            ck_assert_msg(p != NULL, "not a workflow command: %s", line);
            const char *end = strstr(p, "::");
            ck_assert_msg(end != NULL, "no '::' before the message: %s", line);
            /* the properties: name=value pairs, commas between them, nothing GitHub would split */
            for (const char *q = p; q < end;) {
                const char *eq = memchr(q, '=', (size_t)(end - q));
                ck_assert_msg(eq != NULL, "a property without '=': %s", line);
                const char *comma = memchr(eq, ',', (size_t)(end - eq));
                const char *stop = comma ? comma : end;
                ck_assert_msg(!memchr(eq + 1, ' ', (size_t)(stop - eq - 1)) || strncmp(q, "file=", 5) == 0,
                              "%s", line);
                if (strncmp(q, "file=", 5) == 0) {
                    files++;
                    ck_assert_msg(strncmp(q + 5, dirs[d], strlen(dirs[d])) == 0, "file= not under %s: %s",
                                  dirs[d], line);
                }
                q = comma ? comma + 1 : end;
            }
            ck_assert_msg(strstr(p, "title=") != NULL && strstr(p, "title=") < end, "no title: %s", line);
        }
        free(out);
    }
    ck_assert_int_gt(files, 0);
}
END_TEST

/* The masking itself: a timing is masked, other numbers are kept. */
START_TEST(test_mask_timings)
{
    char s[] = "  verify     read 760 B in 0.00 s (0.00 GB/s)\nkept in 3 s\n4 files in 2.5 s (12 MB/s)!\n"
               "0.4 MB read in 0.001 s, 0.43 GB/s\nkept in 2 s (3 tensors)\n{\"seconds\":5.4e-05,\"n\":2}";
    mask_timings(s);
    ck_assert_str_eq(s, "  verify     read 760 B in T s (R)\nkept in 3 s\n4 files in T s (R)!\n"
                        "0.4 MB read in T s (R)\nkept in 2 s (3 tensors)\n{\"seconds\":T,\"n\":2}");
}
END_TEST

/* Inputs that are not a model folder get what to do next: PyTorch pickles (how to convert), a repo
 * id (the local Hugging Face cache's snapshot, read in place; otherwise how to download). */
START_TEST(test_not_a_folder)
{
    char *tmp = tu_tmpdir(), path[512], cmd[4096];
    snprintf(path, sizeof path, "%s/pt", tmp);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/pt/config.json", tmp);
    tu_write_file(path, "{\"model_type\": \"llama\"}");
    snprintf(path, sizeof path, "%s/pt/pytorch_model-00001-of-00002.bin", tmp);
    tu_write_file(path, "PK");
    free(tu_cli(2, "holds PyTorch pickle weights (pytorch_model-00001-of-00002.bin), not safetensors, which "
                "ckptdoc reads: convert them once with transformers", "lint %s/pt", tmp));
    /* a cache as huggingface_hub lays it out: refs/main names the snapshot, files link to blobs */
    snprintf(path, sizeof path, "%s/hub/models--org--tiny/snapshots/0123abcd", tmp);
    snprintf(cmd, sizeof cmd, "mkdir -p %s %s/hub/models--org--tiny/blobs %s/hub/models--org--tiny/refs && "
             "printf 0123abcd > %s/hub/models--org--tiny/refs/main && for f in fixtures/real/tiny-qwen3/*; do "
             "cp $f %s/hub/models--org--tiny/blobs/$(basename $f).blob && ln -s ../../blobs/$(basename $f).blob "
             "%s/$(basename $f); done", path, tmp, tmp, tmp, tmp, path);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s/hub", tmp);
    setenv("HF_HUB_CACHE", cmd, 1);
    char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("HOME", tmp, 1);
    char *out = tu_cli(0, "reading the Hugging Face cache's snapshot", "lint org/tiny --tp 2");
    ck_assert_ptr_nonnull(strstr(out, "models--org--tiny/snapshots/0123abcd"));
    ck_assert_ptr_nonnull(strstr(out, "0 errors, 0 warnings"));
    free(out);
    free(tu_cli(0, "models--org--tiny/snapshots/0123abcd", "inspect org/tiny@0123abcd"));
    /* not in the cache, and the network forbidden (tests never reach the Hub: test_hub serves it) */
    setenv("HF_HUB_OFFLINE", "1", 1);
    free(tu_cli(2, "no such folder, no Hugging Face cache", "lint org/other"));
    free(tu_cli(2, "hf download org/other --include config.json model.safetensors.index.json", "lint org/other"));
    unsetenv("HF_HUB_OFFLINE");
    unsetenv("HF_HUB_CACHE");
    if (home)
        setenv("HOME", home, 1);
    free(home);
    tu_rmtree(tmp);
    free(tmp);
}
END_TEST

/* make install places the binary, the man page (every command and exit status in it), the
 * completions and the rules files; the installed binary works from any folder; uninstall removes
 * them. */
START_TEST(test_install)
{
    char *tmp = tu_tmpdir(), cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd, "make -s install DESTDIR=%s PREFIX=/usr", tmp); /* the plain build's binary */
    ck_assert_msg(tu_run(cmd, 1, &out) == 0, "%s", out);
    free(out);
    static const char *const files[] = {"bin/ckptdoc", "share/man/man1/ckptdoc.1",
                                        "share/bash-completion/completions/ckptdoc",
                                        "share/zsh/site-functions/_ckptdoc", "share/ckptdoc/rules/llama.json"};
    char path[1024];
    for (unsigned i = 0; i < sizeof files / sizeof *files; i++) {
        struct stat st;
        snprintf(path, sizeof path, "%s/usr/%s", tmp, files[i]);
        ck_assert_msg(stat(path, &st) == 0, "%s not installed", path);
    }
    snprintf(cmd, sizeof cmd, "cd / && %s/usr/bin/ckptdoc --version && %s/usr/bin/ckptdoc rules list", tmp, tmp);
    ck_assert_int_eq(tu_run(cmd, 1, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "ckptdoc 0.1.0"));
    ck_assert_ptr_nonnull(strstr(out, "qwen3"));
    free(out);
    size_t len;
    snprintf(path, sizeof path, "%s/usr/share/man/man1/ckptdoc.1", tmp);
    char *man = (char *)tu_read_file(path, &len);
    ck_assert_ptr_nonnull(man);
    static const char *const words[] = {".B ckptdoc inspect", ".B ckptdoc lint", ".B ckptdoc explain", ".B ckptdoc rules",
                                        ".B ckptdoc tui", ".B ckptdoc check", ".SH EXIT STATUS", ".B 130", "\\-tp"};
    for (unsigned i = 0; i < sizeof words / sizeof *words; i++)
        ck_assert_msg(strstr(man, words[i]) != NULL, "the man page lacks %s", words[i]);
    free(man);
    snprintf(cmd, sizeof cmd, "bash -c '. %s/usr/share/bash-completion/completions/ckptdoc && complete -p ckptdoc'",
             tmp);
    ck_assert_int_eq(tu_run(cmd, 1, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "-F _ckptdoc"));
    free(out);
    /* the CUDA runtime is linked in, not a library the binary needs: inspect and lint run where
     * it is absent (readelf comes with gcc's binutils) */
    snprintf(cmd, sizeof cmd, "readelf -d %s/usr/bin/ckptdoc", tmp);
    if (tu_run(cmd, 1, &out) == 0) {
        ck_assert_ptr_nonnull(strstr(out, "NEEDED"));
        ck_assert_msg(strstr(out, "libcudart") == NULL, "%s", out);
    }
    free(out);
    snprintf(cmd, sizeof cmd, "make -s uninstall DESTDIR=%s PREFIX=/usr && test ! -e %s/usr/bin/ckptdoc && "
             "test ! -e %s/usr/share/ckptdoc", tmp, tmp, tmp);
    ck_assert_msg(tu_run(cmd, 1, &out) == 0, "%s", out);
    free(out);
    tu_rmtree(tmp);
    free(tmp);
}
END_TEST

/* Every finding code the sources emit has its entry in docs/findings.md, and `explain CODE`
 * prints it (or names the nearest code). */
START_TEST(test_finding_catalogue)
{
    size_t dlen;
    char *doc = (char *)tu_read_file("docs/findings.md", &dlen), *list = NULL;
    ck_assert_ptr_nonnull(doc);
    ck_assert_int_eq(tu_run("ls base/*.c cli/*.c inspect/*.c loader/*.c rules/*.c tui/*.c", 0, &list), 0);
    static const char *const prefixes[] = {"st.", "file.", "index.", "config.", "ckpt.", "verify.", "data.", "lint.",
                                           "check."};
    int codes = 0;
    for (char *save = NULL, *f = strtok_r(list, "\n", &save); f; f = strtok_r(NULL, "\n", &save)) {
        size_t len;
        char *src = (char *)tu_read_file(f, &len);
        ck_assert_ptr_nonnull(src);
        for (char *q = strchr(src, '"'); q; q = strchr(q + 1, '"')) {
            for (unsigned k = 0; k < sizeof prefixes / sizeof *prefixes; k++) {
                size_t pl = strlen(prefixes[k]), n = pl;
                if (strncmp(q + 1, prefixes[k], pl) != 0)
                    continue;
                while (islower((unsigned char)q[1 + n]) || isdigit((unsigned char)q[1 + n]) || q[1 + n] == '_')
                    n++;
                if (q[1 + n] != '"' || n == pl || strncmp(q + 1 + pl, "json", 4) == 0)
                    continue;
                char head[96];
                snprintf(head, sizeof head, "\n## %.*s\n", (int)n, q + 1);
                ck_assert_msg(strstr(doc, head) != NULL, "%s emits %.*s, which docs/findings.md does not "
                              "describe", f, (int)n, q + 1);
                codes++;
            }
        }
        free(src);
    }
    ck_assert_int_gt(codes, 60);
    free(list);
    free(doc);
    char *out = tu_cli(0, "**error**: a key's shape differs", "explain lint.shape");
    ck_assert_ptr_nonnull(strstr(out, "Fix:"));
    free(out);
    free(tu_cli(2, "did you mean 'lint.shape'?", "explain lint.shap"));
    /* --output: the report in the file, nothing on standard output; an unwritable one is a usage error */
    char *tmp = tu_tmpdir(), path[600];
    snprintf(path, sizeof path, "%s/report.json", tmp);
    out = tu_cli(1, NULL, "lint fixtures/folders/lfs-pointers --tp 2 --format json --output %s", path);
    ck_assert_str_eq(out, "");
    free(out);
    size_t rl;
    char *rep = (char *)tu_read_file(path, &rl);
    ck_assert_ptr_nonnull(rep);
    ck_assert_ptr_nonnull(strstr(rep, "\"code\":\"file.lfs_pointer\""));
    free(rep);
    free(tu_cli(2, "--output /no/such/dir/r.json: cannot write", "lint fixtures/real/tiny-qwen2 --output "
                "/no/such/dir/r.json"));
    /* --index-only: config.json and the index alone lint clean, absent shards as notes */
    snprintf(path, sizeof path, "cp fixtures/lint/qwen3-tiny/config.json fixtures/lint/qwen3-tiny/"
             "model.safetensors.index.json %s/", tmp);
    ck_assert_int_eq(system(path), 0);
    free(tu_cli(1, "error   index.missing_shard", "lint %s --tp 2", tmp));
    out = tu_cli(0, "0 errors, 0 warnings, 3 notes", "lint %s --tp 2 --index-only", tmp);
    ck_assert_ptr_nonnull(strstr(out, "note    lint.index_only"));
    free(out);
    tu_rmtree(tmp);
    free(tmp);
}
END_TEST

/* The integrations run as their hosts run them: the GitHub Action's lint step (action.yml) as a
 * script with the inputs in its environment, and pre-commit's hook entry (.pre-commit-hooks.yaml)
 * with the hook's args and the changed files, ckptdoc on the PATH. */
START_TEST(test_integrations)
{
    size_t len;
    char *act = (char *)tu_read_file("action.yml", &len), cwd[512], bindir[700], cmd[8192], *out = NULL;
    ck_assert_ptr_nonnull(act);
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    snprintf(bindir, sizeof bindir, "%s/%s", cwd, tu_bin());
    *strrchr(bindir, '/') = 0;
    /* the lint step's script: the lines after its marker, as indented under `run: |` */
    const char *m = strstr(act, "# ckptdoc-action-lint\n");
    ck_assert_ptr_nonnull(m);
    char script[2048];
    size_t n = 0;
    for (const char *q = m - 8; *q && strncmp(q, "        ", 8) == 0 && n + 200 < sizeof script;) {
        const char *e = strchr(q, '\n');
        size_t l = e ? (size_t)(e - q) : strlen(q);
        n += (size_t)snprintf(script + n, sizeof script - n, "%.*s\n", (int)(l - 8), q + 8);
        q = e ? e + 1 : q + l;
    }
    ck_assert_ptr_nonnull(strstr(script, "lint \"$CKPTDOC_PATH\""));
    char *tmp = tu_tmpdir(), path[700];
    snprintf(path, sizeof path, "%s/lint.sh", tmp);
    tu_write_file(path, script);
    /* GITHUB_ACTION_PATH is the action's checkout: a folder whose build/ckptdoc is the binary here */
    snprintf(cmd, sizeof cmd, "mkdir -p %s/action && ln -s %s %s/action/build", tmp, bindir, tmp);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "GITHUB_ACTION_PATH=%s/action CKPTDOC_PATH=fixtures/folders/lfs-pointers CKPTDOC_TP=2 "
             "CKPTDOC_PP=1 CKPTDOC_ARGS= bash %s", tmp, path);
    ck_assert_int_eq(tu_run(cmd, 1, &out), 1);
    ck_assert_msg(strstr(out, "::error file=fixtures/folders/lfs-pointers/model-00001-of-00002.safetensors") != NULL,
                  "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "GITHUB_ACTION_PATH=%s/action CKPTDOC_PATH=fixtures/lint/qwen3-tiny CKPTDOC_TP=4 "
             "CKPTDOC_PP=2 CKPTDOC_ARGS=--strict bash %s", tmp, path);
    ck_assert_int_eq(tu_run(cmd, 1, &out), 0);
    free(out);
    free(act);
    /* pre-commit: `entry args... files...` through sh, ckptdoc on the PATH */
    char *hooks = (char *)tu_read_file(".pre-commit-hooks.yaml", &len);
    ck_assert_ptr_nonnull(hooks);
    const char *en = strstr(hooks, "\n  entry: ");
    ck_assert_ptr_nonnull(en);
    en += strlen("\n  entry: ");
    int el = (int)strcspn(en, "\n");
    snprintf(cmd, sizeof cmd, "PATH=%s:$PATH %.*s --tp 2 fixtures/lint/qwen3-tiny/config.json", bindir, el, en);
    ck_assert_msg(tu_run(cmd, 1, &out) == 0, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "TP 2 x PP 1"));
    free(out);
    snprintf(cmd, sizeof cmd, "PATH=%s:$PATH %.*s fixtures/lint/qwen3-tiny/config.json "
             "fixtures/folders/lfs-pointers/model.safetensors.index.json", bindir, el, en);
    ck_assert_int_eq(tu_run(cmd, 1, &out), 1);
    ck_assert_ptr_nonnull(strstr(out, "lint.missing"));
    free(out);
    free(hooks);
    tu_rmtree(tmp);
    free(tmp);
}
END_TEST

/* --format sarif: SARIF 2.1.0 as upload-sarif reads it, checked against the specification's
 * required properties: version, runs[].tool.driver.name, a rule per code, each result's ruleId
 * naming a rule, a level of none/note/warning/error, message.text and an artifact location under
 * the folder given; each rule described from the catalogue. */
static void sarif_valid(const char *args, const char *uri_prefix, int min_results)
{
    char cmd[1024], *out = NULL; /* standard output alone: check says on stderr that it runs on the CPU */
    snprintf(cmd, sizeof cmd, "%s %s", tu_bin(), args);
    ck_assert_int_eq(tu_run(cmd, 0, &out), 1);
    cJSON *j = cJSON_Parse(out);
    ck_assert_msg(j != NULL, "%s", out);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "version")->valuestring, "2.1.0");
    cJSON *runs = cJSON_GetObjectItem(j, "runs");
    ck_assert_int_eq(cJSON_GetArraySize(runs), 1);
    cJSON *run = cJSON_GetArrayItem(runs, 0), *driver = cJSON_GetObjectItem(cJSON_GetObjectItem(run, "tool"), "driver");
    ck_assert_str_eq(cJSON_GetObjectItem(driver, "name")->valuestring, "ckptdoc");
    cJSON *rules = cJSON_GetObjectItem(driver, "rules"), *results = cJSON_GetObjectItem(run, "results"), *r;
    ck_assert_int_ge(cJSON_GetArraySize(results), min_results);
    int errors = 0;
    cJSON_ArrayForEach(r, results)
    {
        const char *id = cJSON_GetObjectItem(r, "ruleId")->valuestring, *lv = cJSON_GetObjectItem(r, "level")->valuestring;
        int known = 0;
        cJSON *ru;
        cJSON_ArrayForEach(ru, rules) known |= strcmp(cJSON_GetObjectItem(ru, "id")->valuestring, id) == 0;
        ck_assert_msg(known, "result of %s without its rule", id);
        ck_assert(strcmp(lv, "error") == 0 || strcmp(lv, "warning") == 0 || strcmp(lv, "note") == 0 ||
                  strcmp(lv, "none") == 0);
        errors += strcmp(lv, "error") == 0;
        ck_assert(cJSON_IsString(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "message"), "text")));
        cJSON *loc = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "locations"), 0);
        cJSON *uri = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(loc, "physicalLocation"),
                                                             "artifactLocation"), "uri");
        ck_assert(cJSON_IsString(uri) && strncmp(uri->valuestring, uri_prefix, strlen(uri_prefix)) == 0);
    }
    ck_assert_int_gt(errors, 0);
    cJSON_ArrayForEach(r, rules)
    {
        const char *d = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "fullDescription"), "text")->valuestring;
        ck_assert_msg(strstr(d, "Fix") || strstr(d, "error:"), "%s: %s", cJSON_GetObjectItem(r, "id")->valuestring, d);
    }
    cJSON_Delete(j);
    free(out);
}

/* The SARIF output is what the SARIF 2.1.0 JSON schema validated (`make sarif`,
 * fixtures/sarif/validate.py, with the jsonschema library): each recorded command prints, byte for
 * byte, the file validated, and that file is the one the record's sha256 names. */
START_TEST(test_sarif_schema)
{
    size_t len = 0;
    char *rec = (char *)tu_read_file("fixtures/sarif/validated.txt", &len);
    ck_assert_ptr_nonnull(rec);
    ck_assert_ptr_nonnull(strstr(rec, "\nschema sarif-2.1.0-rtm.4.json sha256 "));
    int n = 0;
    char *save = NULL;
    for (char *line = strtok_r(rec, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[64], sha[65], verdict[16], path[128], cmd[1024], *sum = NULL, *out = NULL;
        int rc = -1, off = 0;
        if (strncmp(line, "case ", 5) != 0)
            continue;
        ck_assert_msg(sscanf(line, "case %63s exit %d sha256 %64s %15s %n", name, &rc, sha, verdict, &off) == 4 && off,
                      "bad record line: %s", line);
        ck_assert_msg(strcmp(verdict, "valid") == 0, "%s: the schema did not validate it", name);
        snprintf(path, sizeof path, "fixtures/sarif/%s.sarif", name);
        snprintf(cmd, sizeof cmd, "sha256sum %s", path);
        ck_assert_int_eq(tu_run(cmd, 0, &sum), 0);
        ck_assert_msg(strncmp(sum, sha, 64) == 0, "%s is not the file the schema validated: run make sarif", path);
        snprintf(cmd, sizeof cmd, "NO_COLOR=1 OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1 %s %s 2>/dev/null",
                 tu_bin(), line + off);
        ck_assert_int_eq(tu_run(cmd, 0, &out), rc);
        size_t vl = 0;
        char *valid = (char *)tu_read_file(path, &vl);
        ck_assert_ptr_nonnull(valid);
        ck_assert_msg(vl == strlen(out) && memcmp(valid, out, vl) == 0, "'ckptdoc %s' no longer prints the SARIF "
                      "the schema validated (%s): run make sarif", line + off, path);
        free(valid);
        free(out);
        free(sum);
        n++;
    }
    ck_assert_int_ge(n, 8);
    free(rec);
}
END_TEST

START_TEST(test_sarif)
{
    sarif_valid("lint fixtures/folders/lfs-pointers --tp 2 --format sarif", "fixtures/folders/lfs-pointers/", 3);
    /* inspect: the headers' findings, and with --verify the data's */
    sarif_valid("inspect fixtures/folders/lfs-pointers --format sarif", "fixtures/folders/lfs-pointers/", 2);
    sarif_valid("inspect fixtures/folders/verify-data --verify --format sarif", "fixtures/folders/verify-data/", 3);
    /* check: a failed verdict is a result, located at the checkpoint's config.json */
    sarif_valid("check fixtures/real/tiny-deepseek-v3 --tp 2 --format sarif", "fixtures/real/tiny-deepseek-v3/config.json",
                1);
    char *gh = NULL, cmd[1024];
    snprintf(cmd, sizeof cmd, "%s check fixtures/negative/fp8-o-proj-transposed --against fixtures/quant/tiny-llama-f32 "
             "--format github", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &gh), 1);
    ck_assert_msg(strncmp(gh, "::error title=check.against::layer 0, attention stands out against "
                          "fixtures/quant/tiny-llama-f32", 92) == 0, "%s", gh);
    free(gh);
    snprintf(cmd, sizeof cmd, "%s check fixtures/real/tiny-qwen2 --format github", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &gh), 0);
    ck_assert_str_eq(gh, ""); /* a pass: nothing to annotate */
    free(gh);
    /* and the same findings as workflow annotations */
    char *out = tu_cli(1, NULL, "inspect fixtures/folders/verify-data --verify --format github");
    ck_assert_ptr_nonnull(strstr(out, "::error file=fixtures/folders/verify-data/model.safetensors,title=data.nan::"
                                      "model.embed_tokens.weight: 1 of 8 values are NaN\n"));
    free(out);
}
END_TEST

/* Every field a --format json report writes is documented in its docs file (lint-json.md, ...). */
static void doc_has_keys(const cJSON *j, const char *doc, const char *docname)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, j)
    {
        if (c->string) {
            char q[96];
            snprintf(q, sizeof q, "\"%s\":", c->string);
            ck_assert_msg(strstr(doc, q) != NULL, "%s does not document \"%s\"", docname, c->string);
        }
        if (cJSON_IsObject(c) || cJSON_IsArray(c))
            doc_has_keys(c, doc, docname);
    }
}

START_TEST(test_lint_json_documented)
{
    size_t len;
    char *doc = (char *)tu_read_file("docs/lint-json.md", &len);
    ck_assert_ptr_nonnull(doc);
    char *out = tu_cli(1, NULL, "lint fixtures/lint/r1-tiny --tp 8 --pp 2 --rules "
                       "fixtures/rules/deepseek_v3-old-mtp-prefix.json --format json");
    cJSON *j = cJSON_Parse(out);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "schema")->valuestring, "ckptdoc.lint/1");
    doc_has_keys(j, doc, "docs/lint-json.md");
    cJSON_Delete(j);
    free(out);
    free(doc);
}
END_TEST

/* check --format json: one object on standard output (the no-GPU line goes to standard error),
 * every field documented in docs/check-json.md, the verdict's pass exactly when the exit status
 * is 0; a check that cannot run prints nothing there. */
/* One process per rank under mpirun: the same logits as one process holding every rank (the
 * relative errors, printed in full, equal), each process reading what its load counted, a
 * process count that is not TP x PP refused with the count to start, an unsharded model too
 * large for rank 0 replaced by the reference logits (or the check stopped), and a process that
 * never joins stopping the others after the time-out. Open MPI's own allocations
 * are not this program's leaks. */
START_TEST(test_mpi_ranks)
{
#ifndef HAVE_MPI
    printf("SKIP test_mpi_ranks: built without MPI\n");
    return;
#endif
    if (tu_run("command -v mpirun >/dev/null", 0, NULL) != 0) {
        printf("SKIP test_mpi_ranks: mpirun is not installed (openmpi-bin)\n");
        return;
    }
    static const struct {
        const char *dir;
        int tp, pp;
    } runs[] = {{"fixtures/real/tiny-qwen2", 2, 2}, {"fixtures/real/tiny-deepseek-v2", 2, 1},
                {"fixtures/moe/tiny-qwen2-moe", 2, 2}, {"fixtures/real/tiny-gemma2", 1, 3}};
    static const char mpi[] = "ASAN_OPTIONS=\"$ASAN_OPTIONS:detect_leaks=0\" mpirun --allow-run-as-root "
                              "--oversubscribe -np";
    for (unsigned i = 0; i < sizeof runs / sizeof *runs; i++) {
        char cmd[1024], *one = NULL, *many = NULL;
        snprintf(cmd, sizeof cmd, "%s check --format json --device cpu %s --tp %d --pp %d", tu_bin(),
                 runs[i].dir, runs[i].tp, runs[i].pp);
        ck_assert_int_eq(tu_run(cmd, 0, &one), 0);
        snprintf(cmd, sizeof cmd, "%s %d %s check --format json %s --tp %d --pp %d", mpi, runs[i].tp * runs[i].pp,
                 tu_bin(), runs[i].dir, runs[i].tp, runs[i].pp);
        ck_assert_msg(tu_run(cmd, 0, &many) == 0, "%s: %s", cmd, many);
        cJSON *a = cJSON_Parse(one), *b = cJSON_Parse(many);
        ck_assert_msg(a && b, "%s: %s", cmd, many);
        double ea = cJSON_GetObjectItem(cJSON_GetObjectItem(a, "logits"), "relative_error")->valuedouble;
        double eb = cJSON_GetObjectItem(cJSON_GetObjectItem(b, "logits"), "relative_error")->valuedouble;
        ck_assert_msg(ea == eb, "%s: relative error %.17g under mpirun, %.17g in one process", runs[i].dir, eb, ea);
        cJSON *ra = cJSON_GetObjectItem(a, "reference"), *rb = cJSON_GetObjectItem(b, "reference");
        if (ra)
            ck_assert(cJSON_GetObjectItem(ra, "relative_error_sharded")->valuedouble ==
                      cJSON_GetObjectItem(rb, "relative_error_sharded")->valuedouble);
        cJSON *procs = cJSON_GetObjectItem(b, "processes");
        ck_assert_int_eq(cJSON_GetArraySize(procs), runs[i].tp * runs[i].pp);
        double sum = 0;
        for (int r = 0; r < cJSON_GetArraySize(procs); r++) {
            cJSON *pr = cJSON_GetArrayItem(procs, r);
            double got = cJSON_GetObjectItem(pr, "bytes_read")->valuedouble;
            double sys = cJSON_GetObjectItem(pr, "read_syscall_bytes")->valuedouble;
            ck_assert_int_eq(cJSON_GetObjectItem(pr, "stage")->valueint, r / runs[i].tp);
            ck_assert_msg(got > 0 && sys >= got && sys <= got + 65536, "%s rank %d: read(2) %.0f bytes, the load "
                          "counted %.0f", runs[i].dir, r, sys, got);
            sum += got;
        }
        ck_assert(sum == cJSON_GetObjectItem(cJSON_GetObjectItem(b, "bytes_read"), "layout")->valuedouble);
        cJSON_Delete(a);
        cJSON_Delete(b);
        free(one);
        free(many);
    }
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s 3 %s check fixtures/real/tiny-qwen2 --tp 2 --pp 2", mpi, tu_bin());
    ck_assert_int_ne(tu_run(cmd, 1, &out), 0);
    ck_assert_msg(strstr(out, "TP 2 x PP 2 is 4 ranks, but 3 processes were started") != NULL, "%s", out);
    free(out);
    /* an unsharded model over rank 0's memory: the layout is compared with transformers' logits
     * alone, and without them the check stops saying how to give them */
    snprintf(cmd, sizeof cmd, "%s 4 %s check --format json fixtures/real/tiny-qwen2 --tp 2 --pp 2 --max-memory 300K",
             mpi, tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &out), 0);
    cJSON *j = cJSON_Parse(out);
    ck_assert_msg(j && cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "unsharded"), "run")) &&
                  strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "logits"), "against")->valuestring, "reference") == 0 &&
                  cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "verdict"), "pass")) &&
                  cJSON_GetObjectItem(cJSON_GetObjectItem(j, "logits"), "relative_error")->valuedouble < 1e-5, "%s", out);
    cJSON_Delete(j);
    free(out);
    char *noref = tu_tmpdir();
    snprintf(cmd, sizeof cmd, "cp fixtures/real/tiny-qwen2/*.json fixtures/real/tiny-qwen2/*.safetensors %s/ && "
             "%s 4 %s check %s --tp 2 --pp 2 --max-memory 300K", noref, mpi, tu_bin(), noref);
    ck_assert_int_ne(tu_run(cmd, 1, &out), 0);
    ck_assert_msg(strstr(out, "the unsharded model needs 0.4 MB (fp32), over the 0.3 MB of --max-memory; give "
                              "transformers' logits for these tokens") != NULL, "%s", out);
    free(out);
    tu_rmtree(noref);
    free(noref);
    /* a process that never joins (here: not ckptdoc at all) stops the others after the time-out
     * instead of holding them in MPI_Init for ever; the launcher then stops it too */
    snprintf(cmd, sizeof cmd, "CKPTDOC_MPI_TIMEOUT=2 %s 1 -x CKPTDOC_MPI_TIMEOUT %s check fixtures/real/tiny-qwen2 "
             "--tp 2 : -np 1 sleep 300", mpi, tu_bin());
    ck_assert_int_ne(tu_run(cmd, 1, &out), 0);
    ck_assert_msg(strstr(out, "ckptdoc check: rank 0 waited 2 s in MPI_Init for the other processes") != NULL, "%s",
                  out);
    free(out);
}
END_TEST

/* One process per rank started by Slurm's srun itself (asked for, where a Slurm partition is up:
 * .ci/run starts a one-machine one): the logits of one process holding every rank, each process reporting; a
 * wrong task count, a one-process flag and a task started without a process-management interface
 * Open MPI can use are each one line and exit 2; a task that never joins stops the step. */
START_TEST(test_srun_ranks)
{
#ifndef HAVE_MPI
    printf("SKIP test_srun_ranks: built without MPI\n");
    return;
#endif
    const char *want = getenv("CKPTDOC_TEST_SRUN"); /* never jobs on a cluster unasked */
    if (!want || strcmp(want, "1") != 0) {
        printf("SKIP test_srun_ranks: CKPTDOC_TEST_SRUN=1 runs it on the Slurm at hand (tests/slurm-local.sh "
               "starts a one-machine one)\n");
        return;
    }
    if (tu_run("command -v srun >/dev/null && timeout 10 sinfo -h -o %a | grep -q up", 0, NULL) != 0) {
        printf("SKIP test_srun_ranks: no Slurm partition is up here (srun, sinfo)\n");
        return;
    }
    static const char srun[] = "ASAN_OPTIONS=\"$ASAN_OPTIONS:detect_leaks=0\" timeout 300 srun --mpi=pmix -O -n";
    char cmd[1024], *one = NULL, *many = NULL;
    snprintf(cmd, sizeof cmd, "%s check --format json --device cpu fixtures/real/tiny-qwen2 --tp 2 --pp 2", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &one), 0);
    snprintf(cmd, sizeof cmd, "%s 4 %s check --format json fixtures/real/tiny-qwen2 --tp 2 --pp 2", srun, tu_bin());
    ck_assert_msg(tu_run(cmd, 0, &many) == 0, "%s: %s", cmd, many);
    cJSON *a = cJSON_Parse(one), *b = cJSON_Parse(many);
    ck_assert_msg(a && b, "%s: %s", cmd, many);
    double ea = cJSON_GetObjectItem(cJSON_GetObjectItem(a, "logits"), "relative_error")->valuedouble;
    double eb = cJSON_GetObjectItem(cJSON_GetObjectItem(b, "logits"), "relative_error")->valuedouble;
    ck_assert_msg(ea == eb, "relative error %.17g under srun, %.17g in one process", eb, ea);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(b, "processes")), 4);
    cJSON_Delete(a);
    cJSON_Delete(b);
    free(one);
    free(many);
    static const struct {
        const char *args, *says;
    } bad[] = {{"3 %s check fixtures/real/tiny-qwen2 --tp 2 --pp 2", "start one per rank (srun -n 4 ckptdoc check"},
               {"4 %s check fixtures/real/tiny-qwen2 --tp 2 --pp 2 --load-only",
                "--load-only runs in one process: leave out srun, or --load-only"}};
    for (unsigned i = 0; i < sizeof bad / sizeof *bad; i++) {
        char args[512], *out = NULL;
        snprintf(args, sizeof args, bad[i].args, tu_bin());
        snprintf(cmd, sizeof cmd, "%s %s", srun, args);
        ck_assert_int_ne(tu_run(cmd, 1, &out), 0);
        const char *at = strstr(out, bad[i].says);
        ck_assert_msg(at && !strstr(at + 1, bad[i].says), "said once? %s", out);
        ck_assert_msg(strstr(out, "Exited with exit code 2"), "%s", out);
        free(out);
    }
    /* without PMIx, Debian's Open MPI cannot join the tasks: one line naming the flag, exit 2;
     * an Open MPI built with Slurm's PMI library runs */
    char *out = NULL;
    snprintf(cmd, sizeof cmd, "{ ASAN_OPTIONS=\"$ASAN_OPTIONS:detect_leaks=0\" timeout 300 srun --mpi=none -O -n 2 %s "
             "check fixtures/real/tiny-deepseek-v2 --tp 2; echo \"status $?\"; }", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 1, &out), 0);
    if (!strstr(out, "status 0")) /* each task says it, as each node's installation may differ */
        ck_assert_msg(strstr(out, "rank 0: srun started this task without PMIx (SLURM_MPI_TYPE=") &&
                      strstr(out, "rank 1: srun started this task without PMIx") &&
                      strstr(out, "start with 'srun --mpi=pmix -K -n TPxPP ckptdoc check ...'") &&
                      strstr(out, "Exited with exit code 2") && !strstr(out, "MPI_Init"), "%s", out);
    free(out);
    /* a task that never joins: the others stop after the time-out, and -K ends the step */
    char *dir = tu_tmpdir(), conf[600];
    snprintf(conf, sizeof conf, "%s/tasks.conf", dir);
    FILE *f = fopen(conf, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "0 %s check fixtures/real/tiny-qwen2 --tp 2\n1 sleep 300\n", tu_bin());
    fclose(f);
    snprintf(cmd, sizeof cmd, "CKPTDOC_MPI_TIMEOUT=2 timeout 300 srun --mpi=pmix -K -O -n 2 --multi-prog %s", conf);
    ck_assert_int_ne(tu_run(cmd, 1, &out), 0);
    ck_assert_msg(strstr(out, "ckptdoc check: rank 0 waited 2 s in MPI_Init for the other processes") != NULL, "%s",
                  out);
    free(out);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_check_json)
{
    size_t len;
    char *doc = (char *)tu_read_file("docs/check-json.md", &len);
    ck_assert_ptr_nonnull(doc);
    static const struct {
        const char *args, *has;
        int exit;
    } runs[] = {
        {"fixtures/real/tiny-qwen2 --tp 2 --pp 2", "reference", 0},
        {"fixtures/negative/fp8-o-proj-transposed --against fixtures/quant/tiny-llama-f32", "against", 1},
        {"fixtures/real/tiny-deepseek-v3 --tp 2", "verdict", 1}};
    for (unsigned i = 0; i < sizeof runs / sizeof *runs; i++) {
        char cmd[1024], *out = NULL;
        snprintf(cmd, sizeof cmd, "%s check --format json %s", tu_bin(), runs[i].args);
        ck_assert_int_eq(tu_run(cmd, 0, &out), runs[i].exit);
        cJSON *j = cJSON_Parse(out);
        ck_assert_msg(j != NULL, "%s: %s", cmd, out);
        ck_assert_str_eq(cJSON_GetObjectItem(j, "schema")->valuestring, "ckptdoc.check/1");
        ck_assert_ptr_nonnull(cJSON_GetObjectItem(j, runs[i].has));
        cJSON *v = cJSON_GetObjectItem(j, "verdict");
        ck_assert_int_eq(cJSON_IsTrue(cJSON_GetObjectItem(v, "pass")), runs[i].exit == 0);
        ck_assert_int_eq(cJSON_GetObjectItem(j, "exit")->valueint, runs[i].exit);
        doc_has_keys(j, doc, "docs/check-json.md");
        if (i == 1) { /* the transposed o_proj is layer 0's attention */
            cJSON *so = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "against"), "stands_out");
            ck_assert_int_eq(cJSON_GetObjectItem(so, "layer")->valueint, 0);
            ck_assert_str_eq(cJSON_GetObjectItem(so, "block")->valuestring, "attention");
        }
        if (i == 2)
            ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItem(v, "message")->valuestring, "KeyError"));
        cJSON_Delete(j);
        free(out);
    }
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s check --format json fixtures/no-such-folder", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &out), 2);
    ck_assert_str_eq(out, "");
    free(out);
    free(tu_cli(2, "leave out --load-only", "check --format json --load-only fixtures/real/tiny-qwen2"));
    free(doc);
}
END_TEST

/* .ckptdoc.json: a folder's options apply, the command line's win over them, a repository's
 * (the nearest from the current directory up to .git) come first and the folder's override them;
 * a key that is no option, a command that does not exist and a broken file are usage errors
 * naming the file and the key; CKPTDOC_CONFIG=none reads none. */
START_TEST(test_config_file)
{
    char *tmp = tu_tmpdir(), cmd[8192], bin[4096], *out = NULL, path[700];
    ck_assert_ptr_nonnull(realpath(tu_bin(), bin));
    snprintf(cmd, sizeof cmd, "mkdir -p %s/repo/.git %s/repo/models && cp -r fixtures/lint/r1-tiny %s/repo/models/r1",
             tmp, tmp, tmp);
    ck_assert_int_eq(tu_run(cmd, 1, &out), 0);
    free(out);
    static const struct {
        const char *repo, *folder, *args, *env, *want;
        int exit;
    } runs[] = {
        {NULL, "{\"lint\": {\"tp\": 8, \"pp\": 2, \"ignore\": [\"lint.skipped\"]}}", "", "",
         "TP 8 x PP 2 = 16 ranks", 0},
        {NULL, "{\"lint\": {\"tp\": 8, \"pp\": 2}}", "--tp 2", "", "TP 2 x PP 2 = 4 ranks", 0},
        {"{\"lint\": {\"tp\": 4, \"ep\": true}, \"check\": {\"device\": \"cpu\"}}", NULL, "", "",
         "TP 4 x PP 1 with expert parallelism", 0},
        {"{\"lint\": {\"tp\": 4, \"pp\": 2}}", "{\"lint\": {\"tp\": 2}}", "", "", "TP 2 x PP 2", 0},
        {NULL, "{\"lint\": {\"tp\": 8}}", "", "CKPTDOC_CONFIG=none ", "TP 1 x PP 1", 0},
        {NULL, "{\"lint\": {\"tpp\": 8}}", "", "", "\"lint\".\"tpp\" is not an option of ckptdoc lint (did you "
         "mean \"tp\"?)", 2},
        {NULL, "{\"lnt\": {}}", "", "", "\"lnt\" is not a command (inspect, lint, explain, check, tui); did you mean "
         "\"lint\"?", 2},
        {NULL, "{\"lint\": {\"tp\": 8,}", "", "", ".ckptdoc.json: line 1, column 20: not valid JSON", 2},
        {NULL, "{\"lint\": {\"strict\": 1}}", "", "", "\"lint\".\"strict\" is a flag: write true or false", 2},
        {NULL, "{\"lint\": {\"format\": \"jsn\"}}", "", "", "not 'jsn' (did you mean json?) (set in r1/.ckptdoc.json)", 2},
        {NULL, NULL, "", "CKPTDOC_CONFIG=nope.json ", "nope.json: No such file or directory; it is CKPTDOC_CONFIG's: "
         "fix or unset it, or set CKPTDOC_CONFIG=none to read no config file", 2}};
    for (unsigned i = 0; i < sizeof runs / sizeof *runs; i++) {
        const char *files[2][2] = {{"repo", runs[i].repo}, {"repo/models/r1", runs[i].folder}};
        for (int k = 0; k < 2; k++) {
            snprintf(path, sizeof path, "%s/%s/.ckptdoc.json", tmp, files[k][0]);
            unlink(path);
            if (files[k][1]) {
                FILE *fp = fopen(path, "w");
                ck_assert_ptr_nonnull(fp);
                fputs(files[k][1], fp);
                fclose(fp);
            }
        }
        snprintf(cmd, sizeof cmd, "cd %s/repo/models && %s%s lint %s r1", tmp, runs[i].env, bin, runs[i].args);
        ck_assert_int_eq(tu_run(cmd, 1, &out), runs[i].exit);
        ck_assert_msg(strstr(out, runs[i].want) != NULL, "run %u: no '%s' in:\n%s", i, runs[i].want, out);
        free(out);
    }
    /* the model folder is the command's argument, not an option's value that is a folder too */
    snprintf(cmd, sizeof cmd, "mkdir %s/repo/other && echo '{\"inspect\": {\"format\": \"jsn\"}}' > "
             "%s/repo/other/.ckptdoc.json && cd %s/repo/models && %s inspect r1 --verify --manifest ../other", tmp, tmp,
             tmp, bin);
    ck_assert_int_eq(tu_run(cmd, 1, &out), 2);
    ck_assert_msg(strstr(out, "no git-lfs pointer files") && !strstr(out, "jsn"), "%s", out);
    free(out);
    tu_rmtree(tmp);
    free(tmp);
}
END_TEST

/* A mistyped value gets the nearest valid one: formats, devices, built-in rules names and finding
 * codes for --select/--ignore (which matched nothing, silently, before). Values that would be cut,
 * wrapped or ignored are usage errors (exit 2) naming the option. */
START_TEST(test_value_typos)
{
    static const struct { const char *args, *want; } runs[] = {
        {"lint --format jsno fixtures/real/tiny-qwen2", "--format must be text, json, github or sarif, not 'jsno' (did "
                                                        "you mean json?)"},
        {"inspect --format sarf fixtures/real/tiny-qwen2", "not 'sarf' (did you mean sarif?)"},
        {"check --format jsn fixtures/real/tiny-qwen2", "--format must be text, json, github or sarif, not 'jsn' (did you "
                                                          "mean json?)"},
        {"check --device cudaa fixtures/real/tiny-qwen2", "--device must be cpu or cuda, not 'cudaa' (did you mean cuda?)"},
        {"lint --rules deepseekv3 fixtures/real/tiny-qwen2", "no built-in rules named \"deepseekv3\"; did you mean "
                                                            "\"deepseek_v3\"?"},
        {"lint --select lint.keyeror fixtures/real/tiny-qwen2", "--select: 'lint.keyeror' is no finding code or category "
                                                               "(did you mean lint.keyerror?)"},
        {"lint --ignore st,lint.skiped fixtures/real/tiny-qwen2", "--ignore: 'lint.skiped' is no finding code"},
        /* values that would be cut, wrapped or ignored */
        {"check --tokens '' fixtures/real/tiny-qwen2", "--tokens takes token ids (0 to 2147483647) separated by commas"},
        {"check --tokens 1,2,4294967297 fixtures/real/tiny-qwen2", "not '1,2,4294967297'"},
        {"check --tokens 1,,2 fixtures/real/tiny-qwen2", "not '1,,2'"},
        {"check --tokens 1,2x fixtures/real/tiny-qwen2", "not '1,2x'"},
        {"check --tokens 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
         "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1 fixtures/real/tiny-qwen2", "--tokens takes at most 64 ids"},
        {"check --layers '' fixtures/real/tiny-qwen2", "--layers takes layer indices separated by commas, not an empty"},
        {"check --max-memory nan fixtures/real/tiny-qwen2", "--max-memory takes a size (512M, 2G), not 'nan'"},
        {"check --max-memory inf fixtures/real/tiny-qwen2", "not 'inf'"},
        {"rules list --bogus", "rules list: takes no arguments, not '--bogus'"}};
    for (unsigned i = 0; i < sizeof runs / sizeof *runs; i++)
        free(tu_cli(2, runs[i].want, "%s", runs[i].args));
    /* categories and codes that exist are taken */
    free(tu_cli(0, "0 errors", "lint --select lint,st. --ignore lint.skipped,data fixtures/real/tiny-qwen2"));
    free(tu_cli(0, "2 tokens", "check --tokens 3,4 fixtures/real/tiny-qwen2"));
    free(tu_cli(2, "--threads must be 1..64, not '4abc'", "inspect fixtures/real/tiny-qwen2 --threads 4abc"));
}
END_TEST

/* On a terminal (script(1) gives one) the progress line is drawn and then erased with \r and
 * erase-line, leaving no run of spaces behind; colors reach the terminal, nothing else does. */
START_TEST(test_progress_on_terminal)
{
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "command -v script >/dev/null && TERM=xterm script -qec '%s inspect "
             "fixtures/real/tiny-qwen2 --verify' /dev/null", tu_bin());
    if (tu_run(cmd, 1, &out) != 0 || !out || !strstr(out, "verify [")) { /* no script(1) here */
        free(out);
        return;
    }
    ck_assert_msg(strstr(out, "\r\033[K\033[1mfixtures/real/tiny-qwen2\033[0m") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "          \r") == NULL, "spaces left behind: %s", out);
    free(out);
}
END_TEST

/* The README stays a front page (under 12 KB) and keeps the two set-up commands a newcomer needs;
 * the documents it points to exist. */
START_TEST(test_readme)
{
    size_t len;
    char *r = (char *)tu_read_file("README.md", &len);
    ck_assert_ptr_nonnull(r);
    ck_assert_msg(len < 12 * 1024, "README.md is %zu bytes: details belong in docs/", len);
    ck_assert_ptr_nonnull(strstr(r, "    make demo "));
    ck_assert_ptr_nonnull(strstr(r, "    make check "));
    for (char *q = r; (q = strstr(q, "](")) != NULL; q += 2) { /* every relative link resolves */
        char path[256];
        size_t n = strcspn(q + 2, ")#");
        if (n == 0 || n >= sizeof path || strncmp(q + 2, "http", 4) == 0)
            continue;
        memcpy(path, q + 2, n);
        path[n] = 0;
        ck_assert_msg(access(path, F_OK) == 0, "README.md links %s, which does not exist", path);
    }
    free(r);
}
END_TEST

/* Terminal escape sequences a checkpoint carries (a tensor name that clears the screen, a
 * model_type that sets the window title, a C1 CSI) are printed escaped, never sent to the
 * terminal; on stderr too. */
START_TEST(test_escapes_not_sent)
{
    char *dir = tu_tmpdir(), path[1024], *out = NULL;
    static const char hdr[] = "{\"w\\u001b[2Jevil\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                              "\"c1\\u009b31m\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}";
    unsigned char buf[512] = {0};
    size_t hl = strlen(hdr);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(hl >> (8 * i));
    memcpy(buf + 8, hdr, hl);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, 8 + hl + 16, f), 8 + hl + 16);
    fclose(f);
    snprintf(path, sizeof path, "%s/config.json", dir);
    tu_write_file(path, "{\"model_type\": \"qwen2\\u001b]0;pwned\\u0007\", \"architectures\": [\"Qwen2ForCausalLM\"]}");
    static const struct { const char *fmt; int rc; } cmds[] = {{"inspect %s --list", 0}, {"lint %s --rules qwen2", 2},
                                                               {"lint %s", 2}, {"inspect %s --format github", 0}};
    for (unsigned i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, cmds[i].fmt, dir);
        out = tu_cli(cmds[i].rc, NULL, "%s", cmd);
        ck_assert_msg(strchr(out, '\033') == NULL && strchr(out, '\007') == NULL && strstr(out, "\xc2\x9b") == NULL,
                      "%s: a raw control character reached the terminal: %s", cmd, out);
        free(out);
    }
    free(tu_cli(0, "w\\u001b[2Jevil", "inspect %s --list", dir));
    free(tu_cli(0, "c1\\u009b31m", "inspect %s --list", dir));
    free(tu_cli(0, "qwen2\\u001b]0;pwned\\u0007", "inspect %s", dir));
    /* in JSON the escape is JSON's own, so the report stays valid */
    char *js = tu_cli(0, NULL, "inspect %s --list --format json", dir);
    cJSON *j = cJSON_Parse(js);
    ck_assert_msg(j != NULL, "not JSON: %s", js);
    cJSON_Delete(j);
    free(js);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* A FIFO given where a file is read (config.json, a shard, --rules, --manifest, --reference) is
 * refused at once as not a regular file: nothing waits for a writer. */
START_TEST(test_fifo_not_read)
{
    char *dir = tu_tmpdir(), path[1024], cmd[4096], *out = NULL;
    snprintf(path, sizeof path, "%s/fifo", dir);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    snprintf(cmd, sizeof cmd, "mkdir %s/m && cp fixtures/real/tiny-llama-bf16/*.safetensors %s/m/ && ln -s ../fifo "
             "%s/m/config.json", dir, dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    static const char *const why = "not a regular file (a FIFO, a device or a directory)";
    out = tu_cli(2, why, "lint %s/m", dir); /* config.json */
    free(out);
    snprintf(cmd, sizeof cmd, "rm %s/m/config.json && cp fixtures/real/tiny-llama-bf16/config.json %s/m/ && "
             "ln -s ../fifo %s/m/extra.safetensors", dir, dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    free(tu_cli(1, "error   file.unreadable extra.safetensors: cannot open: not a regular file", "inspect %s/m", dir));
    free(tu_cli(2, why, "lint %s/m --rules %s", dir, path));
    free(tu_cli(2, why, "inspect fixtures/real/tiny-llama-bf16 --verify --manifest %s", path));
    free(tu_cli(2, why, "check fixtures/real/tiny-llama-bf16 --reference %s", path));
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* Config arithmetic: a layer count of 7.5 is an error naming the field (not 7 layers), and a
 * vocabulary too large to hold says which field made it instead of a bare "out of memory". */
START_TEST(test_config_sizes)
{
    char *dir = tu_tmpdir(), cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir %s/a %s/b && cp fixtures/real/tiny-llama-bf16/model.safetensors %s/a/ && "
             "cp fixtures/real/tiny-llama-bf16/model.safetensors %s/b/ && "
             "sed 's/\"num_hidden_layers\": 2/\"num_hidden_layers\": 7.5/' fixtures/real/tiny-llama-bf16/config.json "
             "> %s/a/config.json && sed 's/\"vocab_size\": 256/\"vocab_size\": 4294967296/' "
             "fixtures/real/tiny-llama-bf16/config.json > %s/b/config.json", dir, dir, dir, dir, dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    free(tu_cli(1, "config.invalid", "lint %s/a", dir));
    free(tu_cli(1, "num_hidden_layers is 7.5, not an integer", "inspect %s/a", dir));
    free(tu_cli(2, "8 tokens x vocab_size 4294967296", "check %s/b", dir));
    /* a key given twice: Python keeps the last, and so does lint (layer 1 is then beyond the
     * model); a byte that is not UTF-8 and a \u0000 in a string are errors naming them */
    snprintf(cmd, sizeof cmd, "sed 's/\"num_hidden_layers\": 2,/\"num_hidden_layers\": 2, \"num_hidden_layers\": 1,/' "
             "fixtures/real/tiny-llama-bf16/config.json > %s/a/config.json", dir);
    ck_assert_int_eq(system(cmd), 0);
    char *out = tu_cli(1, "warning config.duplicate_key", "lint %s/a", dir);
    ck_assert_msg(strstr(out, "keeps the last, 1, so ckptdoc does too") && strstr(out, "layer 1 is at or beyond "
                  "num_hidden_layers=1"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "sed 's/LlamaForCausalLM/Llama\\xffForCausalLM/' fixtures/real/tiny-llama-bf16/config.json "
             "> %s/a/config.json", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(tu_cli(1, "config.json is not UTF-8 (byte 0xff at line", "inspect %s/a", dir));
    snprintf(cmd, sizeof cmd, "sed 's/\"llama\"/\"llama\\\\u0000x\"/' fixtures/real/tiny-llama-bf16/config.json "
             "> %s/a/config.json", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(tu_cli(1, "holds a \\u0000 (a NUL character) in a string", "inspect %s/a", dir));
    /* a shard name with \u0000 in the index: shown as written, never opened (cut at the NUL it
     * would name a real shard) */
    snprintf(cmd, sizeof cmd, "mkdir %s/c && cp fixtures/real/tiny-qwen2/*.safetensors fixtures/real/tiny-qwen2/config.json "
             "%s/c/ && sed '0,/safetensors\"/s//safetensors\\\\u0000..\\/x\"/' "
             "fixtures/real/tiny-qwen2/model.safetensors.index.json > %s/c/model.safetensors.index.json", dir, dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    free(tu_cli(1, "safetensors\\u0000../x\" holds a NUL character (\\u0000), which no file name can", "inspect %s/c",
                dir));
    /* rules whose nested ranges would bind one template a billion times: refused at once */
    snprintf(cmd, sizeof cmd, "sed 's/\"ranges\": {\"layer\": \"0 .. L\",/\"ranges\": {\"layer\": \"0 .. L\", \"a\": "
             "\"0 .. 1000\", \"b\": \"0 .. 1000\", \"c\": \"0 .. 1000\",/; s/\"params\": \\[/\"params\": [{\"name\": "
             "\"x.{a}.{b}.{c}.weight\", \"shape\": [\"4\"]},/' rules/builtin/qwen3.json > %s/nested.json", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(tu_cli(2, "the ranges of this template's captures bind it more than 200000 times on one stage",
                "lint fixtures/real/tiny-qwen3 --rules %s/nested.json", dir));
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* ckptdoc lint ORG/NAME against a local server with the Hub's URL layout (tests/httpd.c): the
 * report equals the downloaded folder's, for an index of shards, 18 shards and a single file,
 * with ranges honoured or ignored and through a redirect; what it fetched is cached and read
 * again offline; a gated repo needs the token, a missing one is a 404 naming it, a slow server
 * times out, a size the server misstates is a finding; check refuses headers alone. */
static char *hub_run(const httpd *h, const char *cache, const char *env, const char *args, int want)
{
    char cmd[4096], *out = NULL;
    snprintf(cmd, sizeof cmd, "HF_ENDPOINT=http://127.0.0.1:%d CKPTDOC_CACHE=%s HF_TOKEN= HF_HOME=%s %s %s %s", h->port,
             cache, cache, env, tu_bin(), args);
    int rc = tu_run(cmd, 1, &out);
    ck_assert_msg(rc == want, "%s: exit %d, want %d:\n%s", cmd, rc, want, out);
    return out;
}

/* One command against a server started for it (cache folder tmp/name), which is stopped after. */
static char *hub_once(httpd h, const char *tmp, const char *name, const char *env, const char *args, int want)
{
    char cache[700];
    ck_assert_int_eq(httpd_start(&h), 0);
    snprintf(cache, sizeof cache, "%s/%s", tmp, name);
    char *out = hub_run(&h, cache, env, args, want);
    httpd_stop(&h);
    return out;
}

/* The report after its first line (the folder it read), without the line that says where. */
static const char *report_body(const char *out)
{
    const char *p = strstr(out, "\n  family");
    return p ? p : out;
}

/* s with every "dir/" taken out, in place: a finding about config.json names the folder it was
 * read from (the fixture's, or the Hub cache's snapshot). */
static void drop_dir(char *s, const char *dir)
{
    char pre[800];
    snprintf(pre, sizeof pre, "%s/", dir);
    size_t n = strlen(pre);
    for (char *p = strstr(s, pre); p; p = strstr(p, pre))
        memmove(p, p + n, strlen(p + n) + 1);
}

START_TEST(test_hub)
{
    static const char *const repos[] = {"test/qwen2", "fixtures/real/tiny-qwen2", "test/r1", "fixtures/lint/r1-tiny",
                                        "test/single", "fixtures/quant/tiny-llama-f32",
                                        "gated/qwen2", "fixtures/real/tiny-qwen2", NULL};
    char *tmp = tu_tmpdir(), cache[700];
    static const struct { int no_ranges, redirect; } modes[] = {{0, 0}, {1, 0}, {0, 1}};
    for (unsigned m = 0; m < 3; m++) {
        httpd h = {.repos = repos, .no_ranges = modes[m].no_ranges, .redirect = modes[m].redirect};
        ck_assert_int_eq(httpd_start(&h), 0);
        snprintf(cache, sizeof cache, "%s/cache%u", tmp, m);
        for (int i = 0; i < 6; i += 2) {
            char args[512], *local = NULL;
            snprintf(args, sizeof args, "%s lint %s --tp 2", tu_bin(), repos[i + 1]);
            int want = tu_run(args, 0, &local); /* the folder's exit status, which the Hub's must equal */
            snprintf(args, sizeof args, "lint %s --tp 2", repos[i]);
            char *out = hub_run(&h, cache, "", args, want);
            ck_assert_msg(strstr(out, "read from the Hub") != NULL, "%s", out);
            ck_assert_msg(strstr(out, report_body(local)) != NULL, "mode %u, %s:\n%s\nthe folder's:\n%s", m, repos[i],
                          out, local);
            free(out);
            free(local);
        }
        httpd_stop(&h);
    }
    /* every fixture folder served: the same report as the folder's (and its exit status), and
     * through the folder's URL on the server */
    {
        char *list = NULL, cmd[1024];
        ck_assert_int_eq(tu_run("ls -d fixtures/real/*/ fixtures/moe/*/ fixtures/quant/*/ fixtures/lint/*/ "
                                "fixtures/oracle/models/*/", 0, &list), 0);
        const char *all[512];
        char names[256][128];
        int na = 0, k = 0;
        for (char *save = NULL, *d = strtok_r(list, "\n", &save); d && k < 255; d = strtok_r(NULL, "\n", &save)) {
            d[strlen(d) - 1] = 0; /* the slash */
            char cfg[600];
            snprintf(cfg, sizeof cfg, "%s/config.json", d);
            if (access(cfg, F_OK) != 0)
                continue;
            snprintf(names[k], sizeof names[k], "fx/%s", strrchr(d, '/') + 1);
            all[na++] = names[k++];
            all[na++] = d;
        }
        all[na] = NULL;
        ck_assert_int_gt(k, 40);
        httpd every = {.repos = all};
        ck_assert_int_eq(httpd_start(&every), 0);
        snprintf(cache, sizeof cache, "%s/cache-all", tmp);
        for (int i = 0; i < na; i += 2) {
            char args[700], *local = NULL;
            snprintf(cmd, sizeof cmd, "%s lint %s --tp 2", tu_bin(), all[i + 1]);
            int want = tu_run(cmd, 0, &local);
            if (i == 0) /* the folder's URL, once */
                snprintf(args, sizeof args, "lint http://127.0.0.1:%d/%s --tp 2", every.port, all[i]);
            else
                snprintf(args, sizeof args, "lint %s --tp 2", all[i]);
            char *out = hub_run(&every, cache, "", args, want);
            char snap[800]; /* the snapshot's folder: the report's first line */
            const char *nl = strchr(out, '\n');
            const char *l2 = nl ? nl + 1 : out, *e2 = strchr(l2, '\n');
            snprintf(snap, sizeof snap, "%.*s", e2 ? (int)(e2 - l2) : 0, l2);
            drop_dir(out, snap);
            drop_dir(local, all[i + 1]);
            ck_assert_msg(strstr(out, report_body(local)) != NULL, "%s:\n%s\nthe folder's:\n%s", all[i], out, local);
            free(out);
            free(local);
        }
        httpd_stop(&every);
        free(list);
    }
    /* the cache answers again with the network off */
    httpd h = {.repos = repos};
    ck_assert_int_eq(httpd_start(&h), 0);
    snprintf(cache, sizeof cache, "%s/cache0", tmp);
    char *out = hub_run(&h, cache, "HF_HUB_OFFLINE=1", "lint test/r1 --tp 8 --pp 2", 0);
    ck_assert_ptr_nonnull(strstr(out, "the headers fetched before"));
    free(out);
    ck_assert_int_eq(h.requests, 0);
    httpd_stop(&h);
    /* a revision that moves: the cache is kept while the server's X-Repo-Commit is the one it was
     * fetched at (one request), fetched again when it changes, kept when the server is gone */
    h.commit = "1111111111111111111111111111111111111111";
    ck_assert_int_eq(httpd_start(&h), 0);
    snprintf(cache, sizeof cache, "%s/cache-moving", tmp);
    free(hub_run(&h, cache, "", "lint test/qwen2", 0));
    int before = h.requests;
    out = hub_run(&h, cache, "", "lint test/qwen2", 0);
    ck_assert_ptr_nonnull(strstr(out, "the headers fetched before"));
    ck_assert_int_eq(h.requests, before + 1);
    free(out);
    h.commit = "2222222222222222222222222222222222222222";
    out = hub_run(&h, cache, "", "lint test/qwen2", 0);
    ck_assert_ptr_nonnull(strstr(out, "read from the Hub"));
    free(out);
    int port = h.port;
    httpd_stop(&h);
    h.port = port;
    out = hub_run(&h, cache, "", "lint test/qwen2", 0);
    ck_assert_ptr_nonnull(strstr(out, "not checked for a newer revision"));
    free(out);
    h.commit = NULL;
    ck_assert_int_eq(httpd_start(&h), 0);
    snprintf(cache, sizeof cache, "%s/cache0", tmp);
    /* headers alone cannot be checked */
    out = hub_run(&h, cache, "", "check test/qwen2", 2);
    ck_assert_ptr_nonnull(strstr(out, "headers only"));
    free(out);
    { /* nor compared against: the loader itself refuses the sparse shards */
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "%s check fixtures/real/tiny-qwen2 --against %s/hub/test--qwen2/*", tu_bin(), cache);
        ck_assert_int_eq(tu_run(cmd, 1, &out), 2);
        ck_assert_msg(strstr(out, "holds headers only, fetched from the Hub") != NULL, "%s", out);
        free(out);
    }
    /* gated: 401 without the token, read with it */
    snprintf(cache, sizeof cache, "%s/cache-gated", tmp);
    out = hub_run(&h, cache, "", "lint gated/qwen2", 2);
    ck_assert_ptr_nonnull(strstr(out, "the Hub answered 401 and no token was sent (neither HF_TOKEN nor a token "
                                      "file): a gated or private repo"));
    free(out);
    out = hub_run(&h, cache, "HF_TOKEN=stale-token", "lint gated/qwen2", 2); /* a token without access */
    ck_assert_ptr_nonnull(strstr(out, "answered 401 to the token from HF_TOKEN"));
    free(out);
    out = hub_run(&h, cache, "HF_TOKEN=good-token", "lint gated/qwen2", 0);
    ck_assert_ptr_nonnull(strstr(out, "0 errors"));
    free(out);
    /* a repo the server does not have */
    out = hub_run(&h, cache, "", "lint test/nothing-here", 2);
    ck_assert_ptr_nonnull(strstr(out, "not found (404)"));
    ck_assert_ptr_nonnull(strstr(out, "test/nothing-here/resolve/main/config.json"));
    free(out);
    httpd_stop(&h);
    /* what a broken repo serves is found as in a broken folder, never a crash: a 3-byte shard, a
     * shard whose header length runs past the file, an index naming a file outside the repo */
    {
        char bad[800], f[900];
        snprintf(bad, sizeof bad, "%s/badrepo", tmp);
        mkdir(bad, 0755);
        snprintf(f, sizeof f, "%s/config.json", bad);
        tu_write_file(f, "{\"architectures\": [\"Qwen2ForCausalLM\"], \"model_type\": \"qwen2\"}");
        snprintf(f, sizeof f, "%s/model.safetensors.index.json", bad);
        tu_write_file(f, "{\"weight_map\": {\"a\": \"tiny.safetensors\", \"b\": \"long.safetensors\", "
                         "\"c\": \"../../etc/passwd\"}}");
        snprintf(f, sizeof f, "%s/tiny.safetensors", bad);
        tu_write_file(f, "abc");
        snprintf(f, sizeof f, "%s/long.safetensors", bad);
        tu_write_file(f, "\xff\xff\x00\x00\x00\x00\x00\x00{\"a\":");
        const char *const broken[] = {"test/broken", bad, NULL};
        out = hub_once((httpd){.repos = broken}, tmp, "cache-broken", "", "inspect test/broken", 1);
        ck_assert_msg(strstr(out, "tiny.safetensors") && strstr(out, "long.safetensors"), "%s", out);
        ck_assert_ptr_null(strstr(out, "passwd: "));
        free(out);
    }
    /* the index's files listed once each whatever the index does: names repeated, out of order,
     * escaped (\u0031 is "1"), outside the repo, holding a \u0000, a number in place of a name, in
     * a weight_map after other keys: the Hub's report is the folder's */
    {
        char dup[700], f[900], cmd[4096], *local = NULL;
        snprintf(dup, sizeof dup, "%s/duprepo", tmp);
        snprintf(cmd, sizeof cmd, "mkdir -p %s && cp fixtures/folders/index-problems/config.json "
                 "fixtures/folders/index-problems/model-0000[12]-of-00003.safetensors %s/ && "
                 "cp fixtures/folders/index-problems/model-00002-of-00003.safetensors %s/model-00003-of-00003.safetensors",
                 dup, dup, dup);
        ck_assert_int_eq(system(cmd), 0);
        snprintf(f, sizeof f, "%s/model.safetensors.index.json", dup);
        tu_write_file(f, "{\"metadata\": {\"total_size\": 12345, \"x\": [1, {\"weight_map\": 2}]},\n"
                         " \"weight_map\": {\"model.embed_tokens.weight\": \"model-0000\\u0031-of-00003.safetensors\",\n"
                         "  \"model.norm.weight\": \"model-00001-of-00003.safetensors\",\n"
                         "  \"model.layers.0.mlp.down_proj.weight\": \"model-00003-of-00003.safetensors\",\n"
                         "  \"model.evil.weight\": \"../outside.safetensors\",\n"
                         "  \"model.nul.weight\": \"model-00001\\u0000-of-00003.safetensors\",\n"
                         "  \"model.num.weight\": 5,\n"
                         "  \"model.layers.0.ghost.weight\": \"model-00002-of-00003.safetensors\",\n"
                         "  \"lm_head.weight\": \"model-00001-of-00003.safetensors\",\n"
                         "  \"model.norm.weight\": \"model-00003-of-00003.safetensors\"}}\n");
        snprintf(cmd, sizeof cmd, "%s lint %s", tu_bin(), dup);
        int want = tu_run(cmd, 0, &local);
        const char *const dups[] = {"test/dup", dup, NULL};
        out = hub_once((httpd){.repos = dups}, tmp, "cache-dup", "", "lint test/dup", want);
        char snap[800];
        const char *nl = strchr(out, '\n');
        const char *l2 = nl ? nl + 1 : out, *e2 = strchr(l2, '\n');
        snprintf(snap, sizeof snap, "%.*s", e2 ? (int)(e2 - l2) : 0, l2);
        drop_dir(out, snap);
        drop_dir(local, dup);
        ck_assert_msg(strstr(out, report_body(local)) != NULL, "%s\nthe folder's:\n%s", out, local);
        ck_assert_ptr_nonnull(strstr(out, "index.unsafe_shard_name"));
        free(out);
        free(local);
    }
    /* a server slower than the time allowed */
    out = hub_once((httpd){.repos = repos, .delay_ms = 3000}, tmp, "cache-slow", "CKPTDOC_HTTP_TIMEOUT=1",
                   "lint test/qwen2", 2);
    ck_assert_msg(strstr(out, ", 3 times (timeout 1 s): a slow server: set CKPTDOC_HTTP_TIMEOUT to more seconds"),
                  "%s", out);
    free(out);
    /* a shard whose size the server overstates: its data ends before the file does */
    out = hub_once((httpd){.repos = repos, .lie_size = 1}, tmp, "cache-lie", "", "inspect test/single", 1);
    ck_assert_msg(strstr(out, "st.incomplete_buffer") && strstr(out, "file has 4096 trailing bytes"), "%s", out);
    free(out);
    tu_rmtree(tmp);
    free(tmp);
}
END_TEST

int main(void)
{
    if (cases_load() != 0)
        return EXIT_FAILURE;
    mkdir(GOLDEN_DIR, 0755);
    Suite *s = suite_create("cli");
    TCase *core = tcase_create("core");
    tcase_set_timeout(core, 120);
    tcase_add_loop_test(core, test_golden, 0, n_cases);
    tcase_add_test(core, test_mask_timings);
    tcase_add_test(core, test_github_annotations);
    tcase_add_test(core, test_not_a_folder);
    tcase_add_test(core, test_install);
    tcase_add_test(core, test_finding_catalogue);
    tcase_add_test(core, test_integrations);
    tcase_add_test(core, test_sarif);
    tcase_add_test(core, test_sarif_schema);
    tcase_add_test(core, test_lint_json_documented);
    tcase_add_test(core, test_check_json);
    tcase_add_test(core, test_mpi_ranks);
    tcase_add_test(core, test_srun_ranks);
    tcase_add_test(core, test_config_file);
    tcase_add_test(core, test_value_typos);
    tcase_add_test(core, test_fifo_not_read);
    tcase_add_test(core, test_escapes_not_sent);
    tcase_add_test(core, test_readme);
    tcase_add_test(core, test_progress_on_terminal);
    tcase_add_test(core, test_config_sizes);
    tcase_add_test(core, test_hub);
    suite_add_tcase(s, core);
    if (!getenv("CKPTDOC_GOLDEN_WRITE")) {
        TCase *limits = tcase_create("limits");
        tcase_add_test(limits, test_no_stale_golden);
        suite_add_tcase(s, limits);
    }
    return tu_suite_run(s);
}
