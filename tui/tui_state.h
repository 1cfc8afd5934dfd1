/* tui_state.h - what the TUI shows and how keys change it, without a terminal: the folder
 * being browsed, the selection and scroll, sort order, the findings filter, the search, and the
 * mode (browsing, help, search input, statistics). The renderer (tui.c) maps terminal keys to
 * TK_* and draws the state; tests drive tui_key directly. The state borrows its tree (which must
 * outlive it and not change) and owns only its rows: tui_state_init, then tui_state_free. */
#ifndef CK_TUI_STATE_H
#define CK_TUI_STATE_H

#include "tui/tree.h"

enum {
    TK_UP = 0x1000, TK_DOWN, TK_LEFT, TK_RIGHT, TK_PGUP, TK_PGDN, TK_HOME, TK_END, TK_BACKSPACE,
    TK_ENTER = '\n', TK_ESC = 27
};

typedef enum { TUI_BROWSE, TUI_HELP, TUI_SEARCH, TUI_STATS } tui_mode;

typedef struct {
    const ck_tree *t;
    int32_t dir;            /* the node whose children are listed */
    int sel, top;           /* selected row, first row shown */
    int page;               /* rows the list shows (set by the renderer; >= 1) */
    int by_size;            /* sort by bytes instead of by name */
    int only_findings;      /* f: only nodes with findings */
    char filter[128];       /* the search in effect, "" for none */
    char input[128];        /* the search being typed */
    tui_mode mode;
    int quit;
    int32_t *rows;          /* (nrows) the children listed */
    size_t nrows, cap;      /* cap: room in rows, the most children any node has */
    int32_t stats_node;     /* the tensor node TUI_STATS is about */
    char msg[256];          /* a one-line message for the status bar, "" for none */
} tui_state;

/* The root's listing, selection at the top. 0, or -1 when out of memory (s left zeroed). */
int tui_state_init(tui_state *s, const ck_tree *t);
/* Frees the rows and leaves s zeroed; accepts a zeroed state and NULL. */
void tui_state_free(tui_state *s);
/* Recomputes the rows of s->dir after a change of sort, filter or folder; keeps sel in range. */
void tui_refresh(tui_state *s);
/* The selected node, or -1 when the folder shows nothing. */
int32_t tui_selected(const tui_state *s);
/* Shows node n selected in its parent's listing (clearing a filter that would hide it). */
void tui_goto(tui_state *s, int32_t n);
/* Applies one key: a TK_* code or a character. */
void tui_key(tui_state *s, int key);

#endif
