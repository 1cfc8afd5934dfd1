/* out.c - terminal output helpers. */
#include "cli/out.h"
#include "cli/cli.h"
#include "base/text.h"
#include "base/strmap.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

static int color_allowed(void)
{
    const char *nc = getenv("NO_COLOR");
    const char *term = getenv("TERM");
    if (nc && nc[0])
        return 0;
    if (!term || !term[0] || strcmp(term, "dumb") == 0)
        return 0;
    return 1;
}

void out_style_detect(out_style *s, FILE *fp, int no_color_flag)
{
    /* the guarded streams (out_guard_streams) have no descriptor of their own */
    int fd = fp == stdout ? STDOUT_FILENO : fp == stderr ? STDERR_FILENO : fileno(fp);
    s->color = !no_color_flag && fd >= 0 && isatty(fd) && color_allowed();
    s->progress = isatty(STDERR_FILENO) && getenv("TERM") && strcmp(getenv("TERM"), "dumb") != 0;
    s->label = NULL;
    s->last_pct = -1;
    s->t0 = s->last_t = 0;
}

const char *out_sev_color(const out_style *s, ck_severity sev)
{
    if (!s->color)
        return "";
    return sev == SEV_ERROR ? "\033[1;31m" : sev == SEV_WARNING ? "\033[1;33m" : "\033[36m";
}

const char *out_bold(const out_style *s) { return s->color ? "\033[1m" : ""; }
const char *out_dim(const out_style *s) { return s->color ? "\033[2m" : ""; }
const char *out_reset(const out_style *s) { return s->color ? "\033[0m" : ""; }

const char *out_bytes(uint64_t n, char *buf, size_t size)
{
    static const char *unit[] = {"B", "KB", "MB", "GB", "TB", "PB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1000 && u < 5) {
        v /= 1000;
        u++;
    }
    if (u == 0)
        snprintf(buf, size, "%llu B", (unsigned long long)n);
    else
        snprintf(buf, size, "%.*f %s", v < 10 ? 2 : v < 100 ? 1 : 0, v, unit[u]);
    return buf;
}

const char *out_count(uint64_t n, char *buf, size_t size)
{
    static const char *unit[] = {"", "K", "M", "B", "T"};
    double v = (double)n;
    int u = 0;
    while (v >= 1000 && u < 4) {
        v /= 1000;
        u++;
    }
    if (u == 0)
        snprintf(buf, size, "%llu", (unsigned long long)n);
    else
        snprintf(buf, size, "%.*f %s", v < 10 ? 2 : v < 100 ? 1 : 0, v, unit[u]);
    return buf;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void out_progress(uint64_t done, uint64_t total, void *ctx)
{
    out_style *s = ctx;
    if (!s || !s->progress)
        return;
    double now = mono_s();
    if ((s->last_pct < 0 && s->t0 == 0) || done == 0) /* a new operation: its own rate */
        s->t0 = now;
    if (done >= total) { /* the line goes away: erased, nothing left behind */
        if (s->last_pct >= 0)
            fprintf(stderr, "\r\033[K");
        s->last_pct = -1;
        s->t0 = 0;
        fflush(stderr);
        return;
    }
    int pct = total ? (int)(done * 100 / total) : 100;
    if (s->last_pct >= 0 && now - s->last_t < 0.1) /* at most ten redraws a second */
        return;
    s->last_pct = pct;
    s->last_t = now;
    struct winsize ws;
    int cols = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col ? ws.ws_col : 80;
    char a[32], b[32], rate[32] = "", eta[32] = "", bar[61];
    double el = now - s->t0;
    if (el > 0.5 && done) {
        snprintf(rate, sizeof rate, " %s/s", out_bytes((uint64_t)((double)done / el), a, sizeof a));
        double left = (double)(total - done) * el / (double)done;
        snprintf(eta, sizeof eta, left >= 60 ? " %.0f min left" : " %.0f s left", left >= 60 ? left / 60 : left);
    }
    char tail[160];
    int tl = snprintf(tail, sizeof tail, " %3d%% %s / %s%s%s", pct, out_bytes(done, a, sizeof a),
                      out_bytes(total, b, sizeof b), rate, eta);
    const char *label = s->label ? s->label : "verify";
    int w = cols - 1 - (int)strlen(label) - 3 - tl; /* "label [bar]tail" fits the terminal */
    w = w > 60 ? 60 : w;
    if (w < 10) /* a narrow terminal: the numbers alone */
        fprintf(stderr, "\r\033[K%.*s", cols > 1 ? cols - 1 : 1, tail + 1);
    else {
        int fill = pct * w / 100;
        for (int i = 0; i < w; i++)
            bar[i] = i < fill ? '#' : ' ';
        bar[w] = 0;
        fprintf(stderr, "\r\033[K%s [%s]%s", label, bar, tail);
    }
    fflush(stderr);
}

const char *const out_formats[OUT_FORMATS] = {"text", "json", "github", "sarif"};

#ifdef __GLIBC__ /* the guard is a fopencookie stream put in place of stdout and stderr */
/* The escape sequences ckptdoc writes itself, which the guard lets through. */
static const char *const own_seq[] = {"\033[0m", "\033[1m", "\033[2m", "\033[36m", "\033[1;31m", "\033[1;33m",
                                      "\033[K", "\r\033[K"};
#define OWN_SEQ_MAX 8

typedef struct {
    int fd, err;             /* the descriptor written; err: stderr (progress's \r allowed) */
    char held[OWN_SEQ_MAX];  /* the start of an escape sequence a write ended in */
    size_t n_held;
} guard;

static guard guard_gs[2];

static int put_fd(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The length of the one of ckptdoc's own sequences s[0..n) starts with; 0: none does; -1: s may
 * still become one (it ends first). */
static long own_seq_at(const char *s, size_t n)
{
    int maybe = 0;
    for (size_t k = 0; k < sizeof own_seq / sizeof *own_seq; k++) {
        size_t len = strlen(own_seq[k]);
        if (n >= len && memcmp(s, own_seq[k], len) == 0)
            return (long)len;
        if (n < len && memcmp(s, own_seq[k], n) == 0)
            maybe = 1;
    }
    return maybe ? -1 : 0;
}

/* One piece of at most 4096 bytes through the guard. */
static int guard_piece(guard *g, const char *buf, size_t take)
{
    char out[4096], tmp[OWN_SEQ_MAX + 4096];
    size_t o = 0, n = g->n_held + take;
    memcpy(tmp, g->held, g->n_held); /* what an earlier write held back comes first */
    memcpy(tmp + g->n_held, buf, take);
    g->n_held = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)tmp[i];
        if (o + 8 > sizeof out) {
            if (put_fd(g->fd, out, o) < 0)
                return -1;
            o = 0;
        }
        if (c == 033 || (c == '\r' && g->err)) { /* \r only as the progress line's \r + erase-line */
            long len = own_seq_at(tmp + i, n - i);
            if (len < 0 && n - i < OWN_SEQ_MAX) { /* it may finish in the next write */
                memcpy(g->held, tmp + i, n - i);
                g->n_held = n - i;
                break;
            }
            if (len > 0) {
                memcpy(out + o, tmp + i, (size_t)len);
                o += (size_t)len;
                i += (size_t)len;
                continue;
            }
        }
        if (c == 0xc2 && i + 1 == n && n - i < OWN_SEQ_MAX && take) { /* a C1 control's first byte */
            g->held[0] = (char)c;
            g->n_held = 1;
            break;
        }
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) { /* \u00XX: valid inside JSON strings too */
            o += (size_t)snprintf(out + o, sizeof out - o, "\\u%04x", c);
            i++;
        } else if (c == 0xc2 && i + 1 < n && (unsigned char)tmp[i + 1] >= 0x80 && (unsigned char)tmp[i + 1] <= 0x9f) {
            o += (size_t)snprintf(out + o, sizeof out - o, "\\u00%02x", (unsigned char)tmp[i + 1]);
            i += 2; /* a C1 control (U+0080-U+009F: 0x9b is a CSI) */
        } else
            out[o++] = tmp[i++];
    }
    return o ? put_fd(g->fd, out, o) : 0;
}

static ssize_t guard_write(void *cookie, const char *buf, size_t size)
{
    for (size_t done = 0; done < size;) {
        size_t take = size - done > 4096 ? 4096 : size - done;
        if (guard_piece(cookie, buf + done, take) < 0)
            return done ? (ssize_t)done : -1;
        done += take;
    }
    return (ssize_t)size;
}

/* At the stream's end, what a write held back goes out escaped (it finished no sequence). */
static int guard_close(void *cookie)
{
    guard *g = cookie;
    char out[8 * OWN_SEQ_MAX];
    size_t o = 0;
    for (size_t i = 0; i < g->n_held; i++)
        o += (size_t)snprintf(out + o, sizeof out - o, "\\u%04x", (unsigned char)g->held[i]);
    g->n_held = 0;
    return o ? put_fd(g->fd, out, o) : 0;
}

static FILE *guard_files[2];

/* At exit the streams are flushed but not closed: what a write held back goes out here. */
static void guard_atexit(void)
{
    for (int i = 0; i < 2; i++)
        if (guard_files[i])
            fflush(guard_files[i]);
    for (int i = 0; i < 2; i++)
        if (guard_files[i])
            guard_close(&guard_gs[i]);
}

static FILE *guarded(FILE *fp, int fd, int err)
{
    guard *g = &guard_gs[err];
    g->fd = fd;
    g->err = err;
    cookie_io_functions_t io = {NULL, guard_write, NULL, guard_close};
    FILE *f = fopencookie(g, "w", io);
    if (!f)
        return NULL;
    fflush(fp);
    setvbuf(f, NULL, err ? _IONBF : isatty(fd) ? _IOLBF : _IOFBF, 0);
    return f;
}

#endif

int out_guard_streams(void)
{
#ifdef __GLIBC__ /* fopencookie, and stdout as a variable */
    FILE *o = guarded(stdout, STDOUT_FILENO, 0), *e = guarded(stderr, STDERR_FILENO, 1);
    if (o)
        stdout = guard_files[0] = o;
    if (e)
        stderr = guard_files[1] = e;
    if (o || e)
        atexit(guard_atexit);
    return o && e ? 0 : -1;
#else
    return -1;
#endif
}

void out_notice(const char *line, int transient, void *ctx)
{
    static int shown; /* a transient line is on the terminal */
    const out_style *s = ctx;
    if (transient && !(s && s->progress))
        return;
    fprintf(stderr, transient ? "\r\033[K%s" : shown ? "\r\033[K%s\n" : "%s\n", line);
    shown = transient;
    fflush(stderr);
}

#define SHOW_PER_CODE 5

void out_findings(const ck_findings *f, const out_style *st)
{
    /* for each finding, how many of its code come before it (in any severity); the map ends with
     * each code's count: one pass, as lint can report tens of thousands of findings */
    strmap count;
    strmap_init(&count);
    size_t *before = malloc((f->n ? f->n : 1) * sizeof *before);
    int oom = !before;
    for (size_t i = 0; i < f->n && !oom; i++) {
        size_t c = 0;
        strmap_get(&count, f->v[i].code, &c);
        before[i] = c;
        oom = strmap_put(&count, f->v[i].code, c + 1, NULL) < 0;
    }
    if (oom) {
        fprintf(stderr, "ckptdoc: out of memory listing %zu findings; --format json lists them "
                "without grouping\n", f->n);
        free(before);
        strmap_free(&count);
        return;
    }
    /* errors first, then warnings, then notes; at most SHOW_PER_CODE of each code */
    for (int sev = SEV_ERROR; sev >= SEV_NOTE; sev--) {
        for (size_t i = 0; i < f->n; i++) {
            const ck_finding *x = &f->v[i];
            if ((int)x->sev != sev)
                continue;
            if (before[i] >= SHOW_PER_CODE) {
                size_t total = 0;
                if (before[i] == SHOW_PER_CODE && strmap_get(&count, x->code, &total))
                    printf("  %s... and %zu more %s%s\n", out_dim(st), total - SHOW_PER_CODE,
                           x->code, out_reset(st));
                continue;
            }
            printf("%s%-7s%s %s%s%s %s", out_sev_color(st, x->sev), severity_name(x->sev),
                   out_reset(st), out_dim(st), x->code, out_reset(st), x->file);
            if (x->key[0])
                printf("%s'%s'", x->file[0] ? ": " : "", x->key);
            if (x->offset != UINT64_MAX)
                printf(" @%llu", (unsigned long long)x->offset);
            printf("%s%s\n", x->file[0] || x->key[0] ? ": " : "", x->msg);
        }
    }
    free(before);
    strmap_free(&count);
}

void out_findings_json(cJSON *root, const ck_findings *f)
{
    cJSON *counts = cJSON_AddObjectToObject(root, "counts");
    cJSON_AddNumberToObject(counts, "error", (double)findings_count(f, SEV_ERROR));
    cJSON_AddNumberToObject(counts, "warning", (double)findings_count(f, SEV_WARNING));
    cJSON_AddNumberToObject(counts, "note", (double)findings_count(f, SEV_NOTE));
    cJSON *fa = cJSON_AddArrayToObject(root, "findings");
    for (size_t i = 0; i < f->n; i++) {
        const ck_finding *x = &f->v[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "code", x->code);
        cJSON_AddStringToObject(o, "severity", severity_name(x->sev));
        cJSON_AddStringToObject(o, "file", x->file);
        cJSON_AddStringToObject(o, "key", x->key);
        if (x->offset != UINT64_MAX)
            cJSON_AddNumberToObject(o, "offset", (double)x->offset);
        else
            cJSON_AddNullToObject(o, "offset");
        cJSON_AddStringToObject(o, "message", x->msg);
        cJSON_AddItemToArray(fa, o);
    }
}

extern const char ck_findings_doc[]; /* docs/findings.md, embedded by catalogue.S */

const char *out_catalogue_entry(const char *code, size_t *len)
{
    char head[96];
    snprintf(head, sizeof head, "\n## %s\n", code);
    const char *at = strstr(ck_findings_doc, head);
    if (!at)
        return NULL;
    const char *text = at + strlen(head), *end = strstr(text, "\n## ");
    *len = (size_t)((end ? end : text + strlen(text)) - text);
    return text;
}

const char *out_catalogue_nearest(const char *code, size_t *len)
{
    const char *near = NULL;
    size_t best = 4;
    for (const char *h = strstr(ck_findings_doc, "\n## "); h; h = strstr(h + 1, "\n## ")) {
        char name[96];
        size_t l = strcspn(h + 4, "\n");
        snprintf(name, sizeof name, "%.*s", (int)l, h + 4);
        size_t d = text_edit_distance(code, name);
        if (d < best)
            best = d, near = h + 4, *len = l;
    }
    return near;
}

/* Writes s escaped for a GitHub workflow command: %, CR and LF always; ':' and ',' too in a
 * property value (prop). */
static void gh_escape(const char *s, int prop)
{
    for (; *s; s++) {
        if (*s == '%')
            fputs("%25", stdout);
        else if (*s == '\r')
            fputs("%0D", stdout);
        else if (*s == '\n')
            fputs("%0A", stdout);
        else if (prop && *s == ':')
            fputs("%3A", stdout);
        else if (prop && *s == ',')
            fputs("%2C", stdout);
        else
            putchar(*s);
    }
}

/* The file a finding is about as a path from where lint runs: its name under the model folder (a
 * path it already carries, or the file given, as it is); 0 when it names no file of the checkpoint
 * (the whole checkpoint, or a built-in rules file). */
static int finding_path(const ck_finding *x, const ck_checkpoint *ck, char *path, size_t size)
{
    if (!x->file[0] || strncmp(x->file, "builtin:", 8) == 0)
        return 0;
    if (strchr(x->file, '/') || ck->single_file)
        snprintf(path, size, "%s", x->file);
    else
        snprintf(path, size, "%s/%s", ck->root, x->file);
    return 1;
}

/* GitHub workflow annotations, one line per finding: `::error file=F,title=CODE::KEY: MESSAGE`,
 * properties after a space and separated by commas, values escaped as GitHub reads them. file is
 * the path as given on the command line (relative to the workspace when the folder was): a shard
 * named by the finding is joined to the checkpoint's folder; a rules location names no file. */
void out_findings_github(const ck_findings *f, const ck_checkpoint *ck)
{
    for (size_t i = 0; i < f->n; i++) {
        const ck_finding *x = &f->v[i];
        const char *level = x->sev == SEV_ERROR ? "error" : x->sev == SEV_WARNING ? "warning" : "notice";
        printf("::%s ", level);
        char path[2048];
        if (finding_path(x, ck, path, sizeof path)) {
            fputs("file=", stdout);
            gh_escape(path, 1);
            putchar(',');
        }
        fputs("title=", stdout);
        gh_escape(x->code, 1);
        fputs("::", stdout);
        if (x->key[0]) {
            gh_escape(x->key, 0);
            fputs(": ", stdout);
        }
        gh_escape(x->msg, 0);
        putchar('\n');
    }
}

/* A finding code's catalogue entry as one paragraph of plain text (markdown emphasis and
 * backquotes dropped), or "" when the catalogue lacks it. */
static void code_help(const char *code, char *buf, size_t size)
{
    size_t len, n = 0;
    const char *q = out_catalogue_entry(code, &len);
    for (size_t i = 0; q && i < len && n + 1 < size; i++)
        if (q[i] != '*' && q[i] != '`')
            buf[n++] = q[i] == '\n' ? ' ' : q[i];
    while (n && buf[n - 1] == ' ')
        n--;
    buf[n] = 0;
}

/* --format sarif: SARIF 2.1.0, one run, a rule per code (described from docs/findings.md), a
 * result per finding located in its file (the path as github's annotations give it) with the key
 * as a logical location. */
void out_findings_sarif(const ck_findings *f, const ck_checkpoint *ck, const char *cmd)
{
    cJSON *root = cJSON_CreateObject(), *runs = cJSON_AddArrayToObject(root, "runs");
    cJSON_AddStringToObject(root, "$schema", "https://json.schemastore.org/sarif-2.1.0.json");
    cJSON_AddStringToObject(root, "version", "2.1.0");
    cJSON *run = cJSON_CreateObject(), *driver = cJSON_CreateObject(), *tool = cJSON_CreateObject();
    cJSON_AddItemToArray(runs, run);
    cJSON_AddItemToObject(run, "tool", tool);
    cJSON_AddItemToObject(tool, "driver", driver);
    cJSON_AddStringToObject(driver, "name", "ckptdoc");
    cJSON_AddStringToObject(driver, "version", CKPTDOC_VERSION);
    cJSON *rules = cJSON_AddArrayToObject(driver, "rules"), *results = cJSON_AddArrayToObject(run, "results");
    char help[2048];
    for (size_t i = 0; i < f->n; i++) {
        const ck_finding *x = &f->v[i];
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(f->v[j].code, x->code) == 0;
        if (!seen) {
            cJSON *r = cJSON_CreateObject(), *sd = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "id", x->code);
            code_help(x->code, help, sizeof help);
            cJSON_AddStringToObject(sd, "text", help[0] ? help : x->code);
            cJSON_AddItemToObject(r, "fullDescription", sd);
            cJSON_AddItemToArray(rules, r);
        }
        cJSON *res = cJSON_CreateObject(), *msg = cJSON_CreateObject();
        cJSON_AddStringToObject(res, "ruleId", x->code);
        cJSON_AddStringToObject(res, "level", x->sev == SEV_ERROR ? "error" : x->sev == SEV_WARNING ? "warning" : "note");
        char text[4096];
        snprintf(text, sizeof text, "%s%s%s", x->key[0] ? x->key : "", x->key[0] ? ": " : "", x->msg);
        cJSON_AddStringToObject(msg, "text", text);
        cJSON_AddItemToObject(res, "message", msg);
        cJSON *locs = cJSON_AddArrayToObject(res, "locations"), *loc = cJSON_CreateObject();
        cJSON_AddItemToArray(locs, loc);
        char path[2048];
        if (!finding_path(x, ck, path, sizeof path)) /* about the whole checkpoint: its config.json */
            snprintf(path, sizeof path, "%s%s", ck->root, ck->single_file ? "" : "/config.json");
        cJSON *phys = cJSON_CreateObject(), *art = cJSON_CreateObject();
        cJSON_AddStringToObject(art, "uri", path);
        cJSON_AddItemToObject(phys, "artifactLocation", art);
        cJSON_AddItemToObject(loc, "physicalLocation", phys);
        if (x->key[0]) {
            cJSON *ll = cJSON_AddArrayToObject(loc, "logicalLocations"), *l = cJSON_CreateObject();
            cJSON_AddStringToObject(l, "fullyQualifiedName", x->key);
            cJSON_AddItemToArray(ll, l);
        }
        cJSON_AddItemToArray(results, res);
    }
    char *out = cJSON_Print(root);
    if (out) {
        puts(out);
        free(out);
    } else
        fprintf(stderr, "ckptdoc %s: out of memory printing SARIF\n", cmd);
    cJSON_Delete(root);
}

int out_codes_valid(const char *cmd, const char *opt, const char *list)
{
    for (const char *p = list; p && *p;) {
        size_t n = strcspn(p, ",");
        char code[96];
        snprintf(code, sizeof code, "%.*s", (int)(n < sizeof code - 1 ? n : sizeof code - 1), p);
        size_t cl = strlen(code);
        if (cl && code[cl - 1] == '.')
            code[--cl] = 0; /* "st." as "st" */
        /* a code ("lint.missing") or a category ("lint"): some catalogue heading starts with it */
        char head[112];
        snprintf(head, sizeof head, "\n## %s", code);
        int known = 0;
        for (const char *h = strstr(ck_findings_doc, head); h && !known; h = strstr(h + 1, head))
            known = h[strlen(head)] == '\n' || h[strlen(head)] == '.';
        if (!cl || !known) {
            size_t len = 0;
            const char *near = cl ? out_catalogue_nearest(code, &len) : NULL;
            fprintf(stderr, "ckptdoc %s: --%s: '%s' is no finding code or category%s%.*s%s ('ckptdoc explain "
                    "CODE' describes one; docs/findings.md lists them)\n", cmd, opt, code,
                    near ? " (did you mean " : "", (int)len, near ? near : "", near ? "?)" : "");
            return -1;
        }
        p += n + (p[n] == ',');
    }
    return 0;
}
