/* fileio.c - reading exactly what was asked from a read-only file descriptor. */
#include "base/fileio.h"
#include "base/thread.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

int ck_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = 0;
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

typedef struct {
    int fd;
    char *buf;
    size_t len;
    uint64_t off;
    int rc, err;
    pthread_t tid;
} slice_job;

static void *slice_read(void *arg)
{
    slice_job *j = arg;
    j->rc = ck_pread_full(j->fd, j->buf, j->len, j->off);
    j->err = errno;
    return NULL;
}

#define SLICE_MIN ((size_t)4 << 20)

int ck_pread_par(int fd, void *buf, size_t len, uint64_t off, int threads)
{
    threads = ck_thread_count(threads, 16, SIZE_MAX);
    size_t n = len / SLICE_MIN;
    if (n > (size_t)threads)
        n = (size_t)threads;
    if (n < 2)
        return ck_pread_full(fd, buf, len, off);
    slice_job j[16];
    size_t per = (len + n - 1) / n;
    for (size_t k = 0; k < n; k++) {
        size_t a = k * per, b = a + per < len ? a + per : len;
        j[k] = (slice_job){fd, (char *)buf + a, b - a, off + a, 0, 0, 0};
    }
    /* slice 0 is read by this thread, after starting the others */
    size_t started = 1;
    while (started < n && ck_thread_start(&j[started].tid, slice_read, &j[started]) == 0)
        started++;
    slice_read(&j[0]);
    for (size_t k = 1; k < started; k++)
        pthread_join(j[k].tid, NULL);
    for (size_t k = started; k < n; k++) /* threads that could not start: read them here */
        slice_read(&j[k]);
    for (size_t k = 0; k < n; k++)
        if (j[k].rc) {
            errno = j[k].err;
            return -1;
        }
    return 0;
}

int ck_open_ro(const char *path, const char **why)
{
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0) {
        *why = strerror(errno);
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        *why = "not a regular file (a FIFO, a device or a directory)";
        close(fd);
        errno = EINVAL;
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

FILE *ck_fopen_ro(const char *path, const char **why)
{
    int fd = ck_open_ro(path, why);
    FILE *fp = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (fd >= 0 && !fp) {
        *why = strerror(errno);
        close(fd);
    }
    return fp;
}

char *ck_read_small(const char *path, size_t max, size_t *len, const char **why)
{
    FILE *fp = ck_fopen_ro(path, why);
    if (!fp)
        return NULL;
    if (fseek(fp, 0, SEEK_END) != 0) {
        *why = strerror(errno);
        fclose(fp);
        return NULL;
    }
    long sz = ftell(fp);
    if (sz < 0 || (unsigned long)sz > max) {
        *why = sz < 0 ? strerror(errno) : "file too large";
        fclose(fp);
        return NULL;
    }
    rewind(fp);
    char *buf = malloc((size_t)sz + 1);
    if (!buf || fread(buf, 1, (size_t)sz, fp) != (size_t)sz) {
        *why = buf ? "short read" : "out of memory";
        free(buf);
        fclose(fp);
        return NULL;
    }
    fclose(fp);
    buf[sz] = 0;
    *len = (size_t)sz;
    return buf;
}

/* The number after `key` on its line of a /proc file, 0 when there is none. */
static uint64_t proc_number(const char *path, const char *key)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 0;
    char line[256];
    unsigned long long v = 0;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, fp))
        if (strncmp(line, key, kl) == 0 && sscanf(line + kl, "%llu", &v) == 1)
            break;
    fclose(fp);
    return v;
}

uint64_t ck_rchar(void)
{
    return proc_number("/proc/self/io", "rchar:");
}

uint64_t ck_peak_rss(void)
{
    return proc_number("/proc/self/status", "VmHWM:") * 1024; /* in kB */
}
