/* main.c - ckptdoc: the process's settings (memory, streams, notices), then the command line
 * (cli_run). */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "base/ckerr.h"
#include "cli/out.h"

int main(int argc, char **argv)
{
    /* Keep freed memory in the process: inspect allocates and frees per-shard buffers 163 times
     * over, and returning them to the kernel only to fault them in again costs more than the
     * parse itself on a DeepSeek-size checkpoint. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    /* Grow a heap 16 MB at a time (address space only: a page costs nothing until written), not
     * by what each allocation needs: the reader threads grew theirs in some 300 system calls
     * (brk, mprotect) that each hold up the other threads' page faults. */
    mallopt(M_TOP_PAD, 16 << 20);
    static out_style notices; /* what the library has to say, on stderr */
    out_style_detect(&notices, stderr, 1);
    ck_notice_hook(out_notice, &notices);
    if (argc < 2 || strcmp(argv[1], "tui") != 0) /* the TUI owns the terminal; everything else is text */
        out_guard_streams();
    return cli_run(argc, argv);
}
