/* options.c - the layout options every command shares (see options.h). */
#include "cli/options.h"

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
