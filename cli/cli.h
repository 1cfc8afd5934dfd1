/* cli.h - subcommands of the ckptdoc command line; each returns the process exit status. */
#ifndef CK_CLI_H
#define CK_CLI_H

enum { EXIT_CLEAN = 0, EXIT_FINDINGS = 1, EXIT_USAGE = 2 };

int cmd_inspect(int argc, char **argv);
int cmd_lint(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_rules(int argc, char **argv);
int cmd_tui(int argc, char **argv);
int cmd_check(int argc, char **argv);

#endif
