/* tui_state.c - key handling as plain state changes. */
#include "tui/tui_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tui_state_init(tui_state *s, const ck_tree *t)
{
    memset(s, 0, sizeof *s);
    s->t = t;
    s->page = 10;
    s->stats_node = -1;
    size_t cap = 1;
    for (size_t i = 0; i < t->nn; i++)
        if ((size_t)t->n[i].n_kids > cap)
            cap = (size_t)t->n[i].n_kids;
    s->rows = malloc(cap * sizeof *s->rows);
    if (!s->rows) {
        memset(s, 0, sizeof *s);
        return -1;
    }
    s->cap = cap;
    s->dir = 0;
    tui_refresh(s);
    return 0;
}

void tui_state_free(tui_state *s)
{
    if (!s)
        return;
    free(s->rows);
    memset(s, 0, sizeof *s);
}

static void clamp(tui_state *s)
{
    int n = (int)s->nrows;
    if (s->page < 1)
        s->page = 1;
    if (s->sel >= n)
        s->sel = n - 1;
    if (s->sel < 0)
        s->sel = 0;
    if (s->top > s->sel)
        s->top = s->sel;
    if (s->sel >= s->top + s->page)
        s->top = s->sel - s->page + 1;
    if (s->top < 0)
        s->top = 0;
}

void tui_refresh(tui_state *s)
{
    s->nrows = tree_children(s->t, s->dir, s->by_size, s->only_findings, s->filter, s->rows, s->cap);
    clamp(s);
}

int32_t tui_selected(const tui_state *s)
{
    return s->nrows ? s->rows[s->sel] : -1;
}

static void select_node(tui_state *s, int32_t n)
{
    for (size_t i = 0; i < s->nrows; i++)
        if (s->rows[i] == n) {
            s->sel = (int)i;
            break;
        }
    clamp(s);
}

void tui_goto(tui_state *s, int32_t n)
{
    if (n <= 0 || (size_t)n >= s->t->nn)
        return;
    if (s->filter[0] && !tree_matches(s->t, n, s->filter))
        s->filter[0] = 0;
    if (s->only_findings && s->t->n[n].sev == TREE_NO_SEV)
        s->only_findings = 0;
    s->dir = s->t->n[n].parent;
    tui_refresh(s);
    select_node(s, n);
}

static void go_up(tui_state *s)
{
    if (s->dir == 0)
        return;
    int32_t old = s->dir;
    s->dir = s->t->n[old].parent;
    tui_refresh(s);
    select_node(s, old);
}

static void open_selected(tui_state *s)
{
    int32_t n = tui_selected(s);
    if (n < 0)
        return;
    if (s->t->n[n].n_kids) {
        s->dir = n;
        s->sel = s->top = 0;
        tui_refresh(s);
    } else if (s->t->n[n].tensor >= 0) {
        s->mode = TUI_STATS;
        s->stats_node = n;
    }
}

static void jump_finding(tui_state *s, int dir)
{
    int32_t from = tui_selected(s);
    int32_t n = tree_next_finding(s->t, from < 0 ? s->dir : from, dir);
    if (n < 0) {
        snprintf(s->msg, sizeof s->msg, "no findings");
        return;
    }
    if (n == 0) { /* a finding about the whole checkpoint */
        s->dir = 0;
        tui_refresh(s);
        snprintf(s->msg, sizeof s->msg, "finding on the checkpoint as a whole (see the panel)");
        return;
    }
    tui_goto(s, n);
    s->msg[0] = 0;
}

static void apply_search(tui_state *s)
{
    snprintf(s->filter, sizeof s->filter, "%s", s->input);
    s->mode = TUI_BROWSE;
    if (!s->filter[0]) {
        s->msg[0] = 0;
        tui_refresh(s);
        return;
    }
    size_t hits = 0;
    int32_t first = -1;
    for (size_t i = 1; i < s->t->nn; i++)
        if (s->t->n[i].tensor >= 0 && tree_matches(s->t, (int32_t)i, s->filter)) {
            if (first < 0)
                first = (int32_t)i;
            hits++;
        }
    if (!hits) {
        snprintf(s->msg, sizeof s->msg, "no key matches '%s'", s->filter);
        s->filter[0] = 0;
        tui_refresh(s);
        return;
    }
    snprintf(s->msg, sizeof s->msg, "%zu keys match '%s' (/ then Enter on an empty line clears)", hits,
             s->filter);
    tui_goto(s, first);
}

void tui_key(tui_state *s, int key)
{
    switch (s->mode) {
    case TUI_HELP:
        s->mode = TUI_BROWSE;
        return;
    case TUI_STATS:
        if (key == 'q' || key == TK_ESC || key == TK_LEFT || key == TK_BACKSPACE || key == 'h' ||
            key == TK_ENTER || key == 's')
            s->mode = TUI_BROWSE;
        return;
    case TUI_SEARCH: {
        size_t len = strlen(s->input);
        if (key == TK_ESC)
            s->mode = TUI_BROWSE;
        else if (key == TK_ENTER)
            apply_search(s);
        else if (key == TK_BACKSPACE || key == 127 || key == 8) {
            if (len)
                s->input[len - 1] = 0;
        } else if (key >= 32 && key < 127 && len + 1 < sizeof s->input) {
            s->input[len] = (char)key;
            s->input[len + 1] = 0;
        }
        return;
    }
    case TUI_BROWSE:
        break;
    }
    s->msg[0] = 0;
    switch (key) {
    case TK_UP: case 'k': s->sel--; break;
    case TK_DOWN: case 'j': s->sel++; break;
    case TK_PGUP: s->sel -= s->page; break;
    case TK_PGDN: case ' ': s->sel += s->page; break;
    case TK_HOME: case 'g': s->sel = 0; break;
    case TK_END: case 'G': s->sel = (int)s->nrows - 1; break;
    case TK_ENTER: case TK_RIGHT: case 'l': open_selected(s); break;
    case TK_LEFT: case TK_BACKSPACE: case 'h': case 127: case 8: go_up(s); break;
    case 's': {
        int32_t n = tui_selected(s);
        if (n >= 0 && s->t->n[n].tensor >= 0) {
            s->mode = TUI_STATS;
            s->stats_node = n;
        } else
            snprintf(s->msg, sizeof s->msg, "s: statistics are for a tensor; select one");
        break;
    }
    case 'f':
        s->only_findings = !s->only_findings;
        if (s->only_findings && s->t->n[0].sev == TREE_NO_SEV)
            snprintf(s->msg, sizeof s->msg, "no findings: showing nothing (f again to show all)");
        tui_refresh(s);
        break;
    case 'n': jump_finding(s, 1); break;
    case 'N': jump_finding(s, -1); break;
    case 'o':
        s->by_size = !s->by_size;
        tui_refresh(s);
        break;
    case '/':
        s->mode = TUI_SEARCH;
        s->input[0] = 0;
        break;
    case '?': s->mode = TUI_HELP; break;
    case 'q': s->quit = 1; break;
    default: break;
    }
    clamp(s);
}
