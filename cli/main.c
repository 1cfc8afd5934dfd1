/* main.c - ckptdoc: dispatches the subcommand. The only place, with cmd_*.c, that prints
 * reports or picks an exit status. */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#ifndef CKPTDOC_VERSION
#define CKPTDOC_VERSION "0.1.0"
#endif

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
            "                     forward pass equals the unsharded one (dense Llama/Qwen2, CPU)\n"
            "Run 'ckptdoc COMMAND --help' for a command's options.\n"
            "Exit status: 0 clean, 1 findings of error severity, 2 usage or unreadable input.\n",
            CKPTDOC_VERSION);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    /* Keep freed memory in the process: inspect allocates and frees per-shard buffers 163 times
     * over, and returning them to the kernel only to fault them in again costs more than the
     * parse itself on a DeepSeek-size checkpoint. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    /* Grow a heap 16 MB at a time (address space only: a page costs nothing until written), not
     * by what each allocation needs: the reader threads grew theirs in some 300 system calls
     * (brk, mprotect) that each hold up the other threads' page faults. */
    mallopt(M_TOP_PAD, 16 << 20);
    const char *cmd = argv[1];
    if (strcmp(cmd, "inspect") == 0)
        return cmd_inspect(argc - 1, argv + 1);
    if (strcmp(cmd, "lint") == 0)
        return cmd_lint(argc - 1, argv + 1);
    if (strcmp(cmd, "explain") == 0)
        return cmd_explain(argc - 1, argv + 1);
    if (strcmp(cmd, "rules") == 0)
        return cmd_rules(argc - 1, argv + 1);
    if (strcmp(cmd, "check") == 0)
        return cmd_check(argc - 1, argv + 1);
    if (strcmp(cmd, "tui") == 0)
        return cmd_tui(argc - 1, argv + 1);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return EXIT_CLEAN;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("ckptdoc %s\n", CKPTDOC_VERSION);
        return EXIT_CLEAN;
    }
    fprintf(stderr, "ckptdoc: unknown command '%s'\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
