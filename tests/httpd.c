/* httpd.c - see httpd.h. */
#include "tests/httpd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        c += w;
        n -= (size_t)w;
    }
}

static void answer(int fd, int status, const char *reason, const char *extra, const char *body, size_t len)
{
    char head[1024];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
                     status, reason, len, extra ? extra : "");
    send_all(fd, head, (size_t)n);
    send_all(fd, body, len);
}

/* The folder serving repo (ORG/NAME), or NULL. */
static const char *repo_folder(const httpd *h, const char *repo)
{
    for (int i = 0; h->repos[i] && h->repos[i + 1]; i += 2)
        if (strcmp(h->repos[i], repo) == 0)
            return h->repos[i + 1];
    return NULL;
}

static void serve(httpd *h, int fd)
{
    char req[8192] = "";
    size_t n = 0;
    while (n < sizeof req - 1 && !strstr(req, "\r\n\r\n")) {
        ssize_t r = recv(fd, req + n, sizeof req - 1 - n, 0);
        if (r <= 0)
            return;
        n += (size_t)r;
        req[n] = 0;
    }
    for (int waited = 0; waited < h->delay_ms && !h->stop; waited += 50) { /* slow, but not past a stop */
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    char method[16], path[2048];
    if (sscanf(req, "%15s %2047s", method, path) != 2 || strcmp(method, "GET") != 0) {
        answer(fd, 405, "Method Not Allowed", NULL, "", 0);
        return;
    }
    /* /ORG/NAME/resolve/REV/FILE, or /cdn/ORG/NAME/REV/FILE after a redirect */
    char org[256], name[256], rev[256], file[1024];
    int cdn = strncmp(path, "/cdn/", 5) == 0;
    if ((cdn && sscanf(path, "/cdn/%255[^/]/%255[^/]/%255[^/]/%1023s", org, name, rev, file) != 4) ||
        (!cdn && sscanf(path, "/%255[^/]/%255[^/]/resolve/%255[^/]/%1023s", org, name, rev, file) != 4)) {
        answer(fd, 404, "Not Found", NULL, "Repository not found", 20);
        return;
    }
    char repo[600];
    snprintf(repo, sizeof repo, "%s/%s", org, name);
    const char *dir = repo_folder(h, repo);
    if (strcmp(org, "gated") == 0 && !strstr(req, "Authorization: Bearer good-token\r\n")) {
        answer(fd, 401, "Unauthorized", NULL, "Access to this repo is restricted", 33);
        return;
    }
    if (!dir || strstr(file, "..")) {
        answer(fd, 404, "Not Found", NULL, "Repository not found", 20);
        return;
    }
    if (h->redirect && !cdn) {
        char loc[2200];
        snprintf(loc, sizeof loc, "Location: /cdn/%s/%s/%s/%s\r\n", org, name, rev, file);
        answer(fd, 302, "Found", loc, "", 0);
        return;
    }
    char fpath[2400];
    snprintf(fpath, sizeof fpath, "%s/%s", dir, file);
    FILE *fp = fopen(fpath, "rb");
    struct stat st;
    if (!fp || fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fp)
            fclose(fp);
        answer(fd, 404, "Not Found", NULL, "Entry not found", 15);
        return;
    }
    size_t size = (size_t)st.st_size;
    unsigned long long a = 0, b = size ? size - 1 : 0;
    const char *rg = strcasestr(req, "\r\nRange: bytes=");
    int ranged = !h->no_ranges && rg && sscanf(rg + 15, "%llu-%llu", &a, &b) == 2 && a < size;
    if (!ranged)
        a = 0, b = size ? size - 1 : 0;
    if (b >= size)
        b = size ? size - 1 : 0;
    size_t len = size ? (size_t)(b - a + 1) : 0; /* only the bytes answered are read (sparse files) */
    char *data = malloc(len ? len : 1);
    if (!data || (len && pread(fileno(fp), data, len, (off_t)a) != (ssize_t)len)) {
        fclose(fp);
        free(data);
        answer(fd, 500, "Internal Server Error", NULL, "", 0);
        return;
    }
    fclose(fp);
    char extra[512] = "";
    if (h->commit)
        snprintf(extra, sizeof extra, "X-Repo-Commit: %s\r\n", h->commit);
    if (ranged) {
        size_t l = strlen(extra);
        snprintf(extra + l, sizeof extra - l, "Content-Range: bytes %llu-%llu/%llu\r\n", a, b,
                 (unsigned long long)size + (h->lie_size ? 4096u : 0u));
        answer(fd, 206, "Partial Content", extra, data, len);
    } else
        answer(fd, 200, "OK", extra, data, len);
    free(data);
}

static void *loop(void *arg)
{
    httpd *h = arg;
    while (!h->stop) {
        struct pollfd p = {h->fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(h->fd, NULL, NULL);
        if (c < 0)
            continue;
        h->requests++; /* before the answer: a client done with it may read the count at once */
        serve(h, c);
        close(c);
    }
    return NULL;
}

int httpd_start(httpd *h)
{
    h->stop = 0;
    h->requests = 0;
    h->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (h->fd < 0)
        return -1;
    int one = 1;
    setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (bind(h->fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(h->fd, 256) != 0 ||
        getsockname(h->fd, (struct sockaddr *)&sa, &sl) != 0 || pthread_create(&h->th, NULL, loop, h) != 0) {
        close(h->fd);
        return -1;
    }
    h->port = ntohs(sa.sin_port);
    return 0;
}

void httpd_stop(httpd *h)
{
    h->stop = 1;
    pthread_join(h->th, NULL);
    close(h->fd);
}
