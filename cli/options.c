/* options.c - the layout options every command shares (see options.h). */
#include "cli/options.h"
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

void layout_opts_init(layout_opts *o, const char *cmd)
{
    memset(o, 0, sizeof *o);
    o->cmd = cmd;
    o->layout.tp = o->layout.pp = 1;
}

/* A decimal integer in [lo, hi] that is the whole of s; 0, or -1. */
static int parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

int layout_opt_take(layout_opts *o, int c, const char *arg)
{
    switch (c) {
    case 'r': o->rules = arg; return 1;
    case 't':
    case 'p': {
        int max = c == 'p' ? PLAN_MAX_PP : 4096;
        if (parse_int(arg, 1, max, c == 't' ? &o->layout.tp : &o->layout.pp)) {
            fprintf(stderr, "ckptdoc %s: --%s must be an integer from 1 to %d, not '%s'\n", o->cmd,
                    c == 't' ? "tp" : "pp", max, arg);
            return -1;
        }
        return 1;
    }
    case 'e': o->layout.ep = 1; return 1;
    case 'P': o->partition = arg; return 1;
    case 'h': o->help = 1; return 1;
    default: return 0;
    }
}

int layout_opts_finish(layout_opts *o)
{
    if (!o->partition)
        return 0;
    int n = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", o->partition);
    memset(o->layout.partition, 0, sizeof o->layout.partition);
    o->layout.has_partition = 1;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (n == PLAN_MAX_PP || parse_int(t, 0, 1 << 20, &o->layout.partition[n])) {
            fprintf(stderr, "ckptdoc %s: --pp-partition: \"%s\" is not a list of layer counts "
                    "(vLLM: \"Invalid partition string: %s\")\n", o->cmd, o->partition, o->partition);
            return -1;
        }
        n++;
    }
    if (n != o->layout.pp) {
        fprintf(stderr, "ckptdoc %s: --pp-partition has %d stages but --pp is %d (vLLM: \"len(partitions)=%d "
                "does not match pp_size=%d.\")\n", o->cmd, n, o->layout.pp, n, o->layout.pp);
        return -1;
    }
    return 0;
}

size_t cli_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[64];
    if (la >= 63 || lb >= 63)
        return 64;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[lb];
}

void cli_misuse(const char *cmd, int argc, char **argv, const struct option *opts)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strncmp(argv[i], "--", 2) != 0 || !argv[i][2])
            continue;
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(argv[i] + 2, "="), argv[i] + 2);
        const char *near = NULL;
        size_t best = 3; /* at most two edits away */
        int known = 0;
        for (const struct option *o = opts; o && o->name; o++) {
            size_t d = cli_edit_distance(name, o->name);
            known |= d == 0;
            if (d < best)
                best = d, near = o->name;
        }
        if (!known && near)
            fprintf(stderr, "ckptdoc %s: did you mean --%s (not --%s)?\n", cmd, near, name);
    }
    fprintf(stderr, "Run 'ckptdoc %s --help' for its options.\n", cmd);
}
