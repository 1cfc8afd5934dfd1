/* testutil.c - helpers shared by the Check suites. */
#include "tests/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

uint8_t *tu_read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    rewind(fp);
    uint8_t *b = malloc(n > 0 ? (size_t)n + 1 : 1);
    if (b && n > 0 && fread(b, 1, (size_t)n, fp) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(fp);
    *len = n > 0 ? (size_t)n : 0;
    if (b)
        b[*len] = 0;
    return b;
}

int tu_run(const char *cmd, int merge, char **out)
{
    char full[8192];
    snprintf(full, sizeof full, "%s%s", cmd, merge ? " 2>&1" : " 2>/dev/null");
    FILE *p = popen(full, "r");
    if (!p)
        return -1;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += r;
        if (cap - n < 4096) {
            char *b2 = realloc(buf, cap * 2);
            if (!b2)
                break;
            buf = b2;
            cap *= 2;
        }
    }
    if (buf)
        buf[n] = 0;
    int st = pclose(p);
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

const char *tu_bin(void)
{
    const char *b = getenv("CKPTDOC_BIN");
    return b && b[0] ? b : "build/ckptdoc";
}

char *tu_tmpdir(void)
{
    const char *t = getenv("TMPDIR");
    char *p = malloc(4096);
    snprintf(p, 4096, "%s/ckptdoc-test-XXXXXX", t && t[0] ? t : "/tmp");
    if (!mkdtemp(p)) {
        free(p);
        return NULL;
    }
    return p;
}

void tu_rmtree(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", dir);
}

uint32_t tu_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

void tu_random_floats(float *v, size_t n, uint32_t seed, float scale)
{
    uint32_t s = seed ? seed : 1;
    for (size_t i = 0; i < n; i++)
        v[i] = ((float)(tu_rand(&s) & 0xFFFFFF) / 8388608.0f - 1.0f) * scale;
    if (n && v[0] == 0.0f)
        v[0] = scale / 2;
}
