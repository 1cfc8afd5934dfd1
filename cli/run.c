/* run.c - the command line: the subcommand's name picks the command, vLLM's spellings of the
 * layout become ours, --version anywhere. The only place, with cmd_*.c, that prints reports or
 * picks an exit status. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "base/text.h"

static void usage(FILE *fp)
{
    fprintf(fp,
            "ckptdoc %s - a checkpoint doctor for large LLM safetensors checkpoints\n"
            "usage: ckptdoc COMMAND [ARGS]\n"
            "  inspect DIR|FILE   what is in a checkpoint; is every file sound (headers only,\n"
            "                     --verify to read the data)\n"
            "  lint DIR           would it load under this TP/PP layout: the exception each rank\n"
            "                     raises, keys skipped, parameters left empty (headers only)\n"
            "  explain DIR ERROR  from a pasted \"KeyError: '...'\" back to the keys, ranks and cause\n"
            "  rules list | show NAME | explain KEY DIR   the rules files and what maps a key\n"
            "  tui DIR            browse the keys as a tree with the findings on them; statistics\n"
            "                     of a tensor on demand\n"
            "  check DIR          load every rank of a TP/PP layout from the data and prove the\n"
            "                     forward pass equals the unsharded one (GPU, or the CPU)\n"
            "DIR may be a Hugging Face repo id (ORG/NAME[@REV]) whose snapshot is in the local\n"
            "Hugging Face cache. vLLM's spellings -tp N and -pp N are accepted.\n"
            "Run 'ckptdoc COMMAND --help' for a command's options; --version anywhere.\n"
            "Exit status: 0 clean, 1 findings of error severity, 2 usage or unreadable input.\n",
            CKPTDOC_VERSION);
}

/* vLLM's short spellings -tp and -pp (argparse aliases) become --tp and --pp, which every command
 * takes; getopt would read "-tp 2" as -t with the value "p". */
static void vllm_spellings(int argc, char **argv)
{
    static char tp[] = "--tp", pp[] = "--pp", eq[8][32];
    int neq = 0;
    for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "-tp") == 0)
            argv[i] = tp;
        else if (strcmp(argv[i], "-pp") == 0)
            argv[i] = pp;
        else if ((strncmp(argv[i], "-tp=", 4) == 0 || strncmp(argv[i], "-pp=", 4) == 0) && neq < 8 &&
                 strlen(argv[i]) < sizeof eq[0] - 1) {
            snprintf(eq[neq], sizeof eq[neq], "-%s", argv[i]);
            argv[i] = eq[neq++];
        }
    }
}

int cli_run(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    vllm_spellings(argc, argv);
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
            printf("ckptdoc %s\n", CKPTDOC_VERSION);
            return EXIT_CLEAN;
        }
    static const char *const cmds[] = {"inspect", "lint", "explain", "rules", "check", "tui"};
    static int (*const fns[])(int, char **) = {cmd_inspect, cmd_lint, cmd_explain, cmd_rules, cmd_check, cmd_tui};
    const char *cmd = argv[1];
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        if (strcmp(cmd, cmds[i]) == 0)
            return fns[i](argc - 1, argv + 1);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return EXIT_CLEAN;
    }
    const char *near = text_nearest(cmd, cmds, sizeof cmds / sizeof *cmds, 2);
    if (near)
        fprintf(stderr, "ckptdoc: unknown command '%s'; did you mean '%s'?\n", cmd, near);
    else
        fprintf(stderr, "ckptdoc: unknown command '%s' (commands: inspect, lint, explain, rules, check, tui)\n", cmd);
    fprintf(stderr, "Run 'ckptdoc --help' for what each does.\n");
    return EXIT_USAGE;
}
