/* fuzz_cli.c - libFuzzer target for the command line: any bytes as the arguments of `ckptdoc`
 * (cli_run), the way a user or a CI script could type them, over real fixtures.
 *
 * The input is lines (at most 24): the first byte's low three bits pick the command (inspect,
 * lint, explain, rules, check; 5-7: the first line is the command itself), bit 3 makes the last
 * line the content of a .ckptdoc.json in the current directory. A line "@N" (N one of
 * 0-9a-b) is the fixture of that number; any other line with a '/' makes the input uninteresting,
 * so that no argument names a file outside the scratch folder (an --output FILE truncates what it
 * names). The fixtures are copies in a scratch folder, restored whenever a run changed them, and
 * each run starts in an empty folder of its own, so every input behaves the same each time.
 *
 * Every input must end in exit status 0, 1 or 2, never a crash, a hang or unbounded memory; what
 * the command prints goes to /dev/null (FUZZ_CLI_SHOW=1 in the environment shows it, and the
 * arguments and exit status). The TUI needs a terminal and is left out. Replayed without
 * libFuzzer by tests/fuzz_replay.c in make check (from the repository root). */
#include <fcntl.h>
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "tests/fuzz_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fixtures[] = {
    "fixtures/real/tiny-qwen2",              "fixtures/lint/r1-tiny",
    "fixtures/moe/tiny-mixtral",             "fixtures/quant/tiny-llama-w4a16-asym",
    "fixtures/folders/lfs-pointers",         "fixtures/folders/verify-data",
    "fixtures/folders/verify-data.sha256",   "fixtures/real/tiny-qwen2/reference.logits",
    "fixtures/real/st-dtypes.safetensors",   "fixtures/rules/qwen2-o-proj-column.json",
    "fixtures/folders/index-problems",       "fixtures/folders/bad-config",
};
enum { N_FIXTURES = sizeof fixtures / sizeof *fixtures, MAX_ARGS = 24 };

static char scratch[64];                 /* /tmp/ckptdoc-fuzz-cli.XXXXXX */
static char copies[N_FIXTURES][4096];    /* the scratch copy of each fixture */
static char rundir[128];                 /* the current directory of a run */
static unsigned long long baseline;      /* fingerprint of the copies as made */
static unsigned long long fingerprint;

static void must(int ok, const char *what)
{
    if (!ok) {
        perror(what);
        abort();
    }
}

static int mix(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)type;
    (void)ftw;
    unsigned long long h = 1469598103934665603ull;
    for (const char *p = path; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h ^= (unsigned long long)st->st_size * 0x9e3779b97f4a7c15ull;
    h ^= (unsigned long long)st->st_mtim.tv_sec * 1000000007ull + (unsigned long long)st->st_mtim.tv_nsec;
    h ^= (unsigned long long)st->st_mode << 7;
    fingerprint += h;
    return 0;
}

static unsigned long long fingerprint_copies(void)
{
    fingerprint = 0;
    char dir[160];
    snprintf(dir, sizeof dir, "%s/fx", scratch);
    must(nftw(dir, mix, 16, FTW_PHYS) == 0, "fuzz_cli: nftw");
    return fingerprint;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    if (ftw->level == 0)
        return 0; /* the folder itself stays */
    return remove(path) == 0 ? 0 : -1;
}

static void empty_folder(const char *dir) { must(nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0, dir); }

/* The scratch copies of the fixtures, made anew. */
static void copy_fixtures(void)
{
    char fx[160], cmd[8192];
    snprintf(fx, sizeof fx, "%s/fx", scratch);
    empty_folder(fx);
    for (int i = 0; i < N_FIXTURES; i++) {
        snprintf(copies[i], sizeof copies[i], "%s/%d-%s", fx, i, strrchr(fixtures[i], '/') + 1);
        snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", fixtures[i], copies[i]);
        must(system(cmd) == 0, fixtures[i]);
    }
    baseline = fingerprint_copies();
}

static void cleanup(void)
{
    if (!*scratch)
        return;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_cli: could not remove %s\n", scratch);
}

static void setup(void)
{
    strcpy(scratch, "/tmp/ckptdoc-fuzz-cli.XXXXXX");
    must(mkdtemp(scratch) != NULL, "fuzz_cli: mkdtemp");
    atexit(cleanup);
    char dir[160];
    snprintf(dir, sizeof dir, "%s/fx", scratch);
    must(mkdir(dir, 0755) == 0, dir);
    snprintf(rundir, sizeof rundir, "%s/run", scratch);
    must(mkdir(rundir, 0755) == 0, rundir);
    snprintf(dir, sizeof dir, "%s/home", scratch);
    must(mkdir(dir, 0755) == 0, dir);
    /* no network, no real Hugging Face cache, no configuration from the user */
    setenv("HF_HUB_OFFLINE", "1", 1);
    setenv("HOME", dir, 1);
    setenv("HF_HOME", dir, 1);
    setenv("XDG_CACHE_HOME", dir, 1);
    unsetenv("CKPTDOC_CONFIG");
    unsetenv("HF_ENDPOINT");
    copy_fixtures();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (size < 1)
        return 0;
    if (!ready) {
        setup();
        ready = 1;
    }
    static const char *const cmds[] = {"inspect", "lint", "explain", "rules", "check"};
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    char *argv[MAX_ARGS + 3], prog[] = "ckptdoc";
    int argc = 0, pick = data[0] & 7, config = data[0] >> 3 & 1;
    argv[argc++] = prog;
    if (pick < 5)
        argv[argc++] = (char *)cmds[pick];
    int lines = 0;
    for (char *line = text, *next; line && lines < MAX_ARGS; line = next, lines++) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        if (line[0] == '@' && line[1] && !line[2] && strchr("0123456789ab", line[1]))
            argv[argc++] = copies[line[1] <= '9' ? line[1] - '0' : line[1] - 'a' + 10];
        else if (strchr(line, '/')) {
            free(text);
            return 0;
        } else
            argv[argc++] = line;
    }
    argv[argc] = NULL;
    if (argc < 2 || strcmp(argv[1], "tui") == 0) {
        free(text);
        return 0;
    }
    int back = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    must(back >= 0 && chdir(rundir) == 0, "fuzz_cli: chdir");
    if (config && argc > 2) { /* the last line is .ckptdoc.json, not an argument */
        FILE *fp = fopen(".ckptdoc.json", "w");
        must(fp != NULL, "fuzz_cli: .ckptdoc.json");
        fputs(argv[--argc], fp);
        fclose(fp);
        argv[argc] = NULL;
    }
    static int show = -1;
    if (show < 0)
        show = getenv("FUZZ_CLI_SHOW") != NULL;
    if (show)
        for (int i = 0; i < argc; i++)
            fprintf(stderr, "%s'%s'%s", i ? " " : "fuzz_cli: ", argv[i], i == argc - 1 ? "\n" : "");
    int rc = fuzz_quietly(cli_run, argc, argv, show);
    empty_folder(rundir);
    must(fchdir(back) == 0, "fuzz_cli: fchdir");
    close(back);
    if (show)
        fprintf(stderr, "fuzz_cli: exit status %d\n", rc);
    if (fingerprint_copies() != baseline) /* an --output truncated a fixture's copy */
        copy_fixtures();
    free(text);
    if (rc < 0 || rc > 2) {
        fprintf(stderr, "fuzz_cli: exit status %d\n", rc);
        abort();
    }
    return 0;
}
