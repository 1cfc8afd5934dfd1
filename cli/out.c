/* out.c - terminal output helpers. */
#include "out.h"

#include <stdlib.h>
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
    s->color = !no_color_flag && isatty(fileno(fp)) && color_allowed();
    s->progress = isatty(STDERR_FILENO) && getenv("TERM") && strcmp(getenv("TERM"), "dumb") != 0;
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

void out_progress(uint64_t done, uint64_t total, void *ctx)
{
    const out_style *s = ctx;
    if (!s || !s->progress)
        return;
    char a[32], b[32], bar[41];
    int pct = total ? (int)(done * 100 / total) : 100;
    int fill = pct * 40 / 100;
    for (int i = 0; i < 40; i++)
        bar[i] = i < fill ? '#' : ' ';
    bar[40] = 0;
    fprintf(stderr, "\rverify [%s] %3d%% %s / %s ", bar, pct, out_bytes(done, a, sizeof a),
            out_bytes(total, b, sizeof b));
    if (done >= total)
        fprintf(stderr, "\r%*s\r", 80, "");
    fflush(stderr);
}
