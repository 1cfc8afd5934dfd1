/* options.h - the options every command that takes a layout shares, in one table: --rules,
 * --tp/--tensor-parallel-size, --pp/--pipeline-parallel-size, --ep/--enable-expert-parallel and
 * --pp-partition (vLLM's VLLM_PP_LAYER_PARTITION), and --help. A command lists LAYOUT_OPTIONS
 * in its getopt_long table and LAYOUT_SHORT in its short options, hands every option to
 * layout_opt_take first, and calls layout_opts_finish once the options are read. Messages go to
 * stderr as "ckptdoc CMD: ..."; nothing here exits. */
#ifndef CK_CLI_OPTIONS_H
#define CK_CLI_OPTIONS_H

#include <getopt.h>
#include <stdio.h>

#include "loader/plan.h"

#define LAYOUT_OPTIONS                                                                             \
    {"rules", required_argument, 0, 'r'}, {"tp", required_argument, 0, 't'},                       \
        {"tensor-parallel-size", required_argument, 0, 't'}, {"pp", required_argument, 0, 'p'},    \
        {"pipeline-parallel-size", required_argument, 0, 'p'}, {"ep", no_argument, 0, 'e'},        \
        {"enable-expert-parallel", no_argument, 0, 'e'},                                           \
        {"pp-partition", required_argument, 0, 'P'}, {"help", no_argument, 0, 'h'}
#define LAYOUT_SHORT "r:t:p:eP:h"

typedef struct {
    const char *cmd;        /* the command, for messages */
    const char *rules;      /* --rules NAME|FILE; NULL: the built-in rules config.json matches */
    plan_layout layout;     /* --tp, --pp, --ep, --pp-partition (TP 1 x PP 1 by default) */
    const char *partition;  /* --pp-partition as given, checked by layout_opts_finish */
    int help;               /* --help was given */
} layout_opts;

void layout_opts_init(layout_opts *o, const char *cmd);
/* Takes option c of getopt_long with its argument: 1 when it is a layout option (or --help),
 * 0 when it is not, -1 when its value is wrong (the message printed). */
int layout_opt_take(layout_opts *o, int c, const char *arg);
/* Once the options are read: --pp-partition against --pp. 0, or -1 with the message printed. */
int layout_opts_finish(layout_opts *o);


#endif
