/* cli.h - subcommands of the ckptdoc command line; each returns the process exit status. */
#ifndef CK_CLI_H
#define CK_CLI_H

enum { EXIT_CLEAN = 0, EXIT_FINDINGS = 1, EXIT_USAGE = 2 };

#ifndef CKPTDOC_VERSION
#define CKPTDOC_VERSION "0.1.0" /* --version, SARIF's driver version */
#endif

int cmd_inspect(int argc, char **argv);
int cmd_lint(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_rules(int argc, char **argv);
int cmd_tui(int argc, char **argv);
int cmd_check(int argc, char **argv);
/* The whole command line (argv[0] the program, argv[1] the command): the command's exit status. */
int cli_run(int argc, char **argv);

#include <stddef.h>
struct option;
/* After a usage error of command cmd (its message printed): for every --option not in opts (may
 * be NULL), the known one at most two edits away, then one line on where the help is. */
void cli_misuse(const char *cmd, int argc, char **argv, const struct option *opts);
/* Configuration files: the options of command cmd (opts, its getopt_long table) written in
 * .ckptdoc.json, {"lint": {"tp": 8, "ignore": ["lint.skipped"]}, "check": {...}}, a key per long
 * option (true for a flag, a list for a comma-separated value). Files: the nearest .ckptdoc.json
 * from the current directory up to the repository's root (a directory with .git), then the
 * model folder's own (the first argument that is a directory and no option's value); the
 * command line's options come last, so they win, then the folder's, then the repository's.
 * CKPTDOC_CONFIG=PATH reads that file alone, CKPTDOC_CONFIG=none none. Replaces *argv (program and command name first) with one
 * that holds the files' options before the given ones; 0, or -1 with the file and the key
 * named on stderr (a file that is not JSON, a key that is no option of cmd, a wrong value). */
int cli_config_args(const char *cmd, const struct option *opts, int *argc, char ***argv);
/* A decimal integer in [lo, hi] that is the whole of s ("4abc" is none) into *out: 0, or -1. */
int cli_int(const char *s, long lo, long hi, int *out);
/* The index of value among choices (n), or -1 after "ckptdoc CMD: --OPT must be a, b or c, not
 * 'x' (did you mean b?)" on stderr. */
int cli_choice(const char *cmd, const char *opt, const char *value, const char *const *choices, size_t n);
/* The config file (.ckptdoc.json, CKPTDOC_CONFIG) an option value came from, when value is one
 * cli_config_args put into argv; NULL when the command line gave it. For messages. */
const char *cli_value_origin(const char *value);


#endif
