/* tui.h - the ncurses browser over a checkpoint's key tree (`ckptdoc tui`). What a tensor maps
 * to under a loader is supplied by the caller (the loader layer sits above this one). tui_run
 * borrows everything c points to for the call and frees what it allocates before returning. */
#ifndef CK_TUI_H
#define CK_TUI_H

#include "inspect/ckpt.h"
#include "tui/tree.h"

typedef struct {
    const ck_checkpoint *ck;
    const ck_tree *t;
    const char *summary;       /* one line for the title: family, rules, layout */
    /* Writes up to max lines (each at most 255 bytes + NUL, in lines[i]) saying what the
     * loader does with checkpoint key `key`; returns how many. NULL: nothing to say. */
    int (*mapping)(void *ctx, const char *key, char lines[][256], int max);
    void *mapping_ctx;
    const char *strip_prefix;  /* how the loader names parameters, for findings about them */
    int block_n, block_k;      /* FP8 scale blocks (0: 128) */
    double start;              /* CLOCK_MONOTONIC seconds when the command started */
    int first_screen_only;     /* draw once, print the time to it on stderr, exit (make bench) */
} tui_ctx;

/* Runs the browser on the terminal until q. Returns 0, 130 after Ctrl-C (the terminal restored),
 * or 2 when no terminal can be used or memory runs out (the message is on stderr). */
int tui_run(const tui_ctx *c);

#endif
