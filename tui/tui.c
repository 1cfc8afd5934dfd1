/* tui.c - drawing tui_state with ncurses: a title, the path, the listing, a panel about the
 * selected node, a status line; overlays for help and statistics. Keys go to tui_key. */
#include "tui/tui.h"

#include <curses.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tui/tstats.h"
#include "tui/tui_state.h"

enum { C_ERR = 1, C_WARN, C_NOTE, C_TITLE, C_DIM };

static volatile sig_atomic_t interrupted; /* Ctrl-C while the browser runs */

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static int use_color;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* n in thousands steps with units u[0..4] ("B", "KB", ... or "", "K", ...), sep between. */
static const char *human(uint64_t n, const char *const u[5], const char *sep, char *buf, size_t size)
{
    double v = (double)n;
    int k = 0;
    while (v >= 1000 && k < 4) {
        v /= 1000;
        k++;
    }
    snprintf(buf, size, k ? "%.1f%s%s" : "%.0f%s%s", v, sep, u[k]);
    return buf;
}

static const char *hsize(uint64_t b, char *buf, size_t size)
{
    static const char *const u[5] = {"B", "KB", "MB", "GB", "TB"};
    return human(b, u, " ", buf, size);
}

static const char *hcount(uint64_t n, char *buf, size_t size)
{
    static const char *const u[5] = {"", "K", "M", "G", "T"};
    return human(n, u, "", buf, size);
}

static void attr_sev(int sev, int on)
{
    int a = sev == SEV_ERROR ? C_ERR : sev == SEV_WARNING ? C_WARN : C_NOTE;
    if (use_color)
        on ? attron(COLOR_PAIR(a) | A_BOLD) : attroff(COLOR_PAIR(a) | A_BOLD);
    else
        on ? attron(A_BOLD) : attroff(A_BOLD);
}

static const char *sev_mark(int sev)
{
    return sev == SEV_ERROR ? "E" : sev == SEV_WARNING ? "W" : sev == SEV_NOTE ? "i" : " ";
}

/* Prints at most w columns of s at (y, x). */
static void put(int y, int x, int w, const char *s)
{
    if (w > 0)
        mvaddnstr(y, x, s, w);
}

static void draw_title(const tui_ctx *c, const tui_state *s)
{
    char a[32], b[32], line[1400];
    const tree_node *root = &c->t->n[0];
    move(0, 0);
    clrtoeol();
    if (use_color)
        attron(COLOR_PAIR(C_TITLE));
    attron(A_BOLD);
    snprintf(line, sizeof line, " %s  %s tensors, %s %s", c->ck->root,
             hcount(root->count, a, sizeof a), hsize(root->bytes, b, sizeof b), c->summary ? c->summary : "");
    put(0, 0, COLS, line);
    for (int x = (int)strlen(line); x < COLS; x++)
        mvaddch(0, x, ' ');
    attroff(A_BOLD);
    if (use_color)
        attroff(COLOR_PAIR(C_TITLE));
    char crumb[1024];
    tree_breadcrumb(c->t, s->dir, crumb, sizeof crumb);
    move(1, 0);
    clrtoeol();
    snprintf(line, sizeof line, " %s%s%s%s%s", crumb, s->by_size ? "   [by size]" : "",
             s->only_findings ? "   [findings only]" : "", s->filter[0] ? "   [search: " : "",
             s->filter[0] ? s->filter : "");
    put(1, 0, COLS, line);
    if (s->filter[0])
        addstr("]");
}

static void draw_row(const tui_ctx *c, int y, int32_t n, int selected)
{
    const tree_node *x = &c->t->n[n];
    char a[32], b[32], e[32], line[512];
    int wcols = 30, wname = COLS - 3 - wcols;
    if (wname < 12) {
        wname = COLS - 3;
        wcols = 0;
    }
    move(y, 0);
    clrtoeol();
    if (x->sev != TREE_NO_SEV) {
        attr_sev(x->sev, 1);
        put(y, 1, 1, x->own_sev != TREE_NO_SEV ? sev_mark(x->own_sev) : sev_mark(x->sev));
        attr_sev(x->sev, 0);
    }
    if (selected)
        attron(A_REVERSE);
    snprintf(line, sizeof line, "%s%s", tree_name(c->t, n), x->n_kids ? "/" : "");
    char row[600];
    if (wcols)
        snprintf(row, sizeof row, "%-*.*s %8s %10s %10s", wname, wname, line,
                 x->n_kids ? hcount(x->count, a, sizeof a) : "", hsize(x->bytes, b, sizeof b),
                 hcount(x->elems, e, sizeof e));
    else
        snprintf(row, sizeof row, "%-*.*s", wname, wname, line);
    put(y, 3, COLS - 3, row);
    if (selected)
        attroff(A_REVERSE);
}

/* Prints text from column x on, wrapped over at most `lines` rows (the last one cut). */
static void wrap(int *y, int ymax, int x, const char *text, int lines)
{
    int w = COLS - x - 1;
    size_t len = strlen(text);
    for (int k = 0; k < lines && *y < ymax && w > 0; k++) {
        if (k)
            move(*y, 0), clrtoeol();
        put(*y, x, w, text);
        (*y)++;
        if (len <= (size_t)w)
            break;
        text += w;
        len -= (size_t)w;
    }
}

static int panel_line(int *y, int ymax, const char *text)
{
    if (*y >= ymax)
        return 0;
    move(*y, 0);
    clrtoeol();
    wrap(y, ymax, 1, text, 2);
    return 1;
}

static void draw_findings_of(const tui_ctx *c, int32_t n, int *y, int ymax, int maxf)
{
    int shown = 0, more = 0;
    const ck_tree *t = c->t;
    if (!t->f)
        return;
    for (size_t j = 0; j < t->f->n && *y < ymax; j++) {
        if (t->fnode[j] != n)
            continue;
        if (shown == maxf) {
            more++;
            continue;
        }
        shown++;
        const ck_finding *f = &t->f->v[j];
        char line[1024];
        snprintf(line, sizeof line, "%-7s %s: %s", severity_name(f->sev), f->code, f->msg);
        move(*y, 0);
        clrtoeol();
        attr_sev(f->sev, 1);
        put(*y, 1, 7, severity_name(f->sev));
        attr_sev(f->sev, 0);
        wrap(y, ymax, 9, line + 8, 3);
    }
    if (more && *y < ymax) {
        char m[64];
        snprintf(m, sizeof m, "... %d more finding%s here", more, more == 1 ? "" : "s");
        panel_line(y, ymax, m);
    }
}

static void draw_panel(const tui_ctx *c, const tui_state *s, int y0, int ymax)
{
    char line[1200], a[32], b[32];
    move(y0, 0);
    clrtoeol();
    for (int x = 0; x < COLS; x++)
        mvaddch(y0, x, '-');
    int y = y0 + 1;
    for (int k = y; k < ymax; k++) {
        move(k, 0);
        clrtoeol();
    }
    int32_t n = tui_selected(s);
    if (n < 0) {
        panel_line(&y, ymax, s->filter[0] || s->only_findings ? "nothing here matches the filter"
                                                              : "empty");
        return;
    }
    const tree_node *x = &c->t->n[n];
    panel_line(&y, ymax, x->path);
    if (x->tensor >= 0) {
        ck_tensor_ref ref = c->ck->tensors[x->tensor];
        const st_tensor *t = ckpt_tensor(c->ck, ref);
        const ck_shard *sh = &c->ck->shards[ref.shard];
        int o = snprintf(line, sizeof line, "%s [", dtype_name(t->dtype));
        for (uint32_t d = 0; d < t->ndim && o < 200; d++)
            o += snprintf(line + o, sizeof line - (size_t)o, "%s%llu", d ? ", " : "",
                          (unsigned long long)t->shape[d]);
        snprintf(line + o, sizeof line - (size_t)o, "]  %s, %llu elements", hsize(st_tensor_nbytes(t), a, sizeof a),
                 (unsigned long long)x->elems);
        panel_line(&y, ymax, line);
        draw_findings_of(c, n, &y, ymax, 2); /* what is wrong first, then where it is */
        snprintf(line, sizeof line, "%s  bytes %llu..%llu of the file (data offsets [%llu, %llu))", sh->name,
                 (unsigned long long)(sh->h.data_start + t->begin), (unsigned long long)(sh->h.data_start + t->end),
                 (unsigned long long)t->begin, (unsigned long long)t->end);
        panel_line(&y, ymax, line);
        if (c->mapping) {
            char lines[6][256];
            int k = c->mapping(c->mapping_ctx, x->path, lines, 6);
            for (int i = 0; i < k; i++)
                panel_line(&y, ymax, lines[i]);
        }
    } else {
        snprintf(line, sizeof line, "%llu tensors, %s parameters, %s", (unsigned long long)x->count,
                 hcount(x->elems, a, sizeof a), hsize(x->bytes, b, sizeof b));
        panel_line(&y, ymax, line);
        if (x->sev != TREE_NO_SEV && x->n_own == 0) {
            snprintf(line, sizeof line, "findings below (most severe: %s): n jumps to the next",
                     severity_name(x->sev));
            panel_line(&y, ymax, line);
        }
        draw_findings_of(c, n, &y, ymax, 4);
    }
    if (s->dir == 0)
        draw_findings_of(c, 0, &y, ymax, 3);
}

static void draw_status(const tui_state *s)
{
    int y = LINES - 1;
    move(y, 0);
    clrtoeol();
    if (use_color)
        attron(COLOR_PAIR(C_TITLE));
    char line[512];
    if (s->mode == TUI_SEARCH)
        snprintf(line, sizeof line, " search (substring or glob): /%s", s->input);
    else if (s->msg[0])
        snprintf(line, sizeof line, " %s", s->msg);
    else
        snprintf(line, sizeof line, " Enter open  Left up  s stats  / search  f findings  n/N next  o sort  ? help  q quit");
    put(y, 0, COLS, line);
    for (int x = (int)strlen(line); x < COLS; x++)
        mvaddch(y, x, ' ');
    if (use_color)
        attroff(COLOR_PAIR(C_TITLE));
}

static void draw_help(void)
{
    static const char *lines[] = {
        "ckptdoc tui - keys",
        "",
        "  Up/Down, j/k       move             PgUp/PgDn, Space   page",
        "  Home/End, g/G      first/last       Enter, Right, l    open a folder; statistics of a tensor",
        "  Left, Backspace, h up one level     s                  statistics of the selected tensor",
        "  /                  search keys: substring, or a glob with * ? [ ]  (Enter on empty clears)",
        "  f                  only nodes with findings              n / N   next / previous finding",
        "  o                  sort by name / by size                ?       this help",
        "  q                  quit (closes statistics and help first)",
        "",
        "Marks: E error, W warning, i note; a folder carries the most severe mark below it.",
        "Colors are off with NO_COLOR or a terminal without colors.",
        "",
        "Any key returns."};
    erase();
    for (unsigned i = 0; i < sizeof lines / sizeof *lines && (int)i < LINES; i++)
        put((int)i + 1, 1, COLS - 2, lines[i]);
}

static void draw_stats(const tui_ctx *c, const tui_state *s)
{
    erase();
    const tree_node *x = &c->t->n[s->stats_node];
    ck_tensor_ref ref = c->ck->tensors[x->tensor];
    const st_tensor *t = ckpt_tensor(c->ck, ref);
    char line[1200], a[32];
    snprintf(line, sizeof line, "statistics of %s (%s, %s): reading...", x->path, dtype_name(t->dtype),
             hsize(st_tensor_nbytes(t), a, sizeof a));
    attron(A_BOLD);
    put(0, 1, COLS - 2, line);
    attroff(A_BOLD);
    refresh();
    /* read on a thread of its own: the screen says how far it is, Esc or q stops it */
    static tstats_job job;
    tstats_start(&job, c->ck, (size_t)x->tensor, c->block_n, c->block_k);
    timeout(100);
    double t0 = now();
    while (!atomic_load(&job.finished)) {
        int ch = getch();
        if (ch == 27 || ch == 'q' || interrupted)
            atomic_store(&job.pg.cancel, 1);
        uint64_t done = atomic_load(&job.pg.done), total = job.pg.total ? job.pg.total : 1;
        double el = now() - t0, rate = el > 0 ? (double)done / el : 0;
        char b1[32], b2[32];
        snprintf(line, sizeof line, "%s of %s read (%.0f%%)%s%.0f s left   Esc or q stops", hsize(done / 2, b1, sizeof b1),
                 hsize(total / 2, b2, sizeof b2), 100.0 * (double)done / (double)total,
                 rate > 0 ? ", about " : "", rate > 0 ? (double)(total - (done < total ? done : total)) / rate : 0);
        put(2, 1, COLS - 2, line);
        clrtoeol();
        refresh();
    }
    timeout(-1);
    tstats_finish(&job);
    tensor_summary ts = job.out;
    ck_err err = job.err;
    int y = 2;
    if (job.rc != CK_OK) {
        char eb[1200];
        put(0, 1, COLS - 2, x->path);
        clrtoeol();
        put(y, 1, COLS - 2, ck_err_str(&err, eb, sizeof eb));
        put(LINES - 1, 1, COLS - 2, "any key returns");
        return;
    }
    move(0, 0);
    clrtoeol();
    attron(A_BOLD);
    snprintf(line, sizeof line, "statistics of %s (%s, %s)", x->path, dtype_name(t->dtype),
             hsize(st_tensor_nbytes(t), a, sizeof a));
    put(0, 1, COLS - 2, line);
    attroff(A_BOLD);
    if (ts.dequantized) {
        if (ts.block_n > 0)
            snprintf(line, sizeof line, "dequantized: x %s (%dx%d blocks)", ts.scale_name, ts.block_n, ts.block_k);
        else
            snprintf(line, sizeof line, "dequantized as check loads it: %s", ts.scale_name);
        put(y++, 1, COLS - 2, line);
    }
    snprintf(line, sizeof line, "min %.6g   max %.6g   mean %.6g   std %.6g", ts.st.finite ? ts.st.min : NAN,
             ts.st.finite ? ts.st.max : NAN, kern_stats_mean(&ts.st), kern_stats_std(&ts.st));
    put(y++, 1, COLS - 2, line);
    snprintf(line, sizeof line, "%llu values: %llu NaN, %llu Inf, %llu zeros", (unsigned long long)ts.st.count,
             (unsigned long long)ts.st.nan, (unsigned long long)ts.st.inf, (unsigned long long)ts.st.zeros);
    if ((ts.st.nan || ts.st.inf) && use_color)
        attron(COLOR_PAIR(C_ERR));
    put(y++, 1, COLS - 2, line);
    if (use_color)
        attroff(COLOR_PAIR(C_ERR));
    int o = snprintf(line, sizeof line, "first values:");
    for (int i = 0; i < ts.n_preview && o < 600; i++)
        o += snprintf(line + o, sizeof line - (size_t)o, " %.4g", ts.preview[i]);
    put(y++, 1, COLS - 2, line);
    y++;
    /* the histogram: bins merged to fit the rows left */
    int rows = LINES - 2 - y, merge = 1;
    while (rows > 0 && TSTATS_BINS / merge > rows)
        merge *= 2;
    if (rows <= 0 || !ts.st.finite) {
        put(LINES - 1, 1, COLS - 2, "any key returns");
        return;
    }
    uint64_t top = 1;
    for (int b = 0; b < TSTATS_BINS; b += merge) {
        uint64_t v = 0;
        for (int k = 0; k < merge; k++)
            v += ts.hist[b + k];
        if (v > top)
            top = v;
    }
    if (ts.hi == ts.lo) {
        snprintf(line, sizeof line, "every finite value is %.6g", ts.lo);
        put(y++, 1, COLS - 2, line);
        put(LINES - 1, 1, COLS - 2, "any key returns");
        return;
    }
    put(y++, 1, COLS - 2, "histogram (finite values)");
    double w = (ts.hi - ts.lo) / TSTATS_BINS;
    int barw = COLS - 40;
    for (int b = 0; b < TSTATS_BINS && y < LINES - 1; b += merge) {
        uint64_t v = 0;
        for (int k = 0; k < merge; k++)
            v += ts.hist[b + k];
        int len = barw > 0 ? (int)((double)v / (double)top * barw + 0.5) : 0;
        snprintf(line, sizeof line, "[%10.4g, %10.4g) %10llu ", ts.lo + b * w, ts.lo + (b + merge) * w,
                 (unsigned long long)v);
        put(y, 1, COLS - 2, line);
        for (int k = 0; k < len && 38 + k < COLS - 1; k++)
            mvaddch(y, 38 + k, '#');
        y++;
    }
    put(LINES - 1, 1, COLS - 2, "any key returns");
}

static void draw(const tui_ctx *c, tui_state *s)
{
    if (s->mode == TUI_HELP) {
        draw_help();
        return;
    }
    if (s->mode == TUI_STATS) {
        draw_stats(c, s);
        return;
    }
    int panel = LINES >= 20 ? (LINES - 3) / 3 : LINES >= 12 ? 4 : 0;
    if (panel > 12)
        panel = 12;
    int list_y = 2, list_h = LINES - 3 - panel;
    if (list_h < 1)
        list_h = 1;
    s->page = list_h;
    tui_refresh(s);
    draw_title(c, s);
    for (int i = 0; i < list_h; i++) {
        size_t r = (size_t)(s->top + i);
        if (r < s->nrows)
            draw_row(c, list_y + i, s->rows[r], (int)r == s->sel);
        else {
            move(list_y + i, 0);
            clrtoeol();
        }
    }
    if (panel)
        draw_panel(c, s, list_y + list_h, LINES - 1);
    draw_status(s);
}

static int map_key(int ch)
{
    switch (ch) {
    case KEY_UP: return TK_UP;
    case KEY_DOWN: return TK_DOWN;
    case KEY_LEFT: return TK_LEFT;
    case KEY_RIGHT: return TK_RIGHT;
    case KEY_PPAGE: return TK_PGUP;
    case KEY_NPAGE: return TK_PGDN;
    case KEY_HOME: return TK_HOME;
    case KEY_END: return TK_END;
    case KEY_BACKSPACE: return TK_BACKSPACE;
    case KEY_ENTER: case '\r': return TK_ENTER;
    default: return ch;
    }
}

int tui_run(const tui_ctx *c)
{
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "ckptdoc tui: needs a terminal (stdin and stdout); use 'ckptdoc inspect' or "
                "'ckptdoc lint' for text\n");
        return 2;
    }
    const char *term = getenv("TERM");
    if (!term || !*term || strcmp(term, "dumb") == 0) {
        /* ncurses can still address a dumb terminal poorly; refuse clearly instead */
        fprintf(stderr, "ckptdoc tui: TERM is %s; it needs a terminal that can move the cursor "
                "(e.g. TERM=xterm)\n", term && *term ? term : "unset");
        return 2;
    }
    SCREEN *scr = newterm(NULL, stdout, stdin);
    if (!scr) {
        fprintf(stderr, "ckptdoc tui: cannot start the terminal '%s'\n", term);
        return 2;
    }
    set_term(scr);
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    curs_set(0);
    set_escdelay(25);
    use_color = has_colors() && !getenv("NO_COLOR");
    if (use_color) {
        start_color();
        use_default_colors();
        init_pair(C_ERR, COLOR_RED, -1);
        init_pair(C_WARN, COLOR_YELLOW, -1);
        init_pair(C_NOTE, COLOR_CYAN, -1);
        init_pair(C_TITLE, COLOR_BLACK, COLOR_CYAN);
        init_pair(C_DIM, COLOR_BLUE, -1);
    }
    /* Ctrl-C: leave the screen as it was and exit 130 like every other command, instead of dying
     * with the terminal still in curses mode (no SA_RESTART: getch returns and the loop sees it) */
    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_sa);
    interrupted = 0;
    tui_state s;
    int rc = 0;
    if (tui_state_init(&s, c->t) != 0) {
        sigaction(SIGINT, &old_sa, NULL);
        endwin();
        delscreen(scr);
        fprintf(stderr, "ckptdoc tui: out of memory\n");
        return 2;
    }
    int first = 1;
    while (!s.quit && !interrupted) {
        erase();
        draw(c, &s);
        refresh();
        if (first && c->first_screen_only) {
            double ms = (now() - c->start) * 1e3;
            endwin();
            fprintf(stderr, "first screen after %.1f ms\n", ms);
            break;
        }
        first = 0;
        int ch = getch();
        if (ch == KEY_RESIZE || ch == ERR)
            continue;
        tui_key(&s, map_key(ch));
    }
    if (!c->first_screen_only)
        endwin();
    delscreen(scr);
    tui_state_free(&s);
    sigaction(SIGINT, &old_sa, NULL);
    return interrupted ? 130 : rc;
}
