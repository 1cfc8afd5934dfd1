/* hub.c - see hub.h. */
#include "inspect/hub.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int hub_offline(void)
{
    const char *v = getenv("HF_HUB_OFFLINE");
    return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0);
}

int hub_url(const char *url, char *endpoint, size_t en, char *repo_id, size_t rn)
{
    const char *p = strncmp(url, "https://", 8) == 0 ? url + 8 : strncmp(url, "http://", 7) == 0 ? url + 7 : NULL;
    const char *slash = p ? strchr(p, '/') : NULL;
    char org[256], name[256], kind[16], rev[256] = "";
    int got = slash ? sscanf(slash, "/%255[^/]/%255[^/]/%15[^/]/%255[^/]", org, name, kind, rev) : 0;
    if (got < 2 || (got >= 3 && strcmp(kind, "tree") != 0 && strcmp(kind, "resolve") != 0) || got == 3)
        return 0;
    snprintf(endpoint, en, "%.*s", (int)(slash - url), url);
    snprintf(repo_id, rn, "%s/%s%s%s", org, name, rev[0] ? "@" : "", rev);
    return 1;
}

#ifndef HAVE_CURL

int hub_fetch(const char *repo_id, const char *endpoint, char *out, size_t n, hub_stats *st, ck_err *err)
{
    (void)endpoint, (void)out, (void)n, (void)st;
    return ck_err_set(err, CK_EUSAGE, repo_id, NULL, CK_NO_OFFSET, "this ckptdoc was built without libcurl "
                      "(apt-get install libcurl4-openssl-dev, then make) and cannot read from the Hub; download "
                      "what lint needs: hf download %s --include config.json model.safetensors.index.json",
                      repo_id);
}

#else

#define CURL_DISABLE_TYPECHECK /* its checking macros would wrap the calls the table below takes */
#include <curl/curl.h>
#include <dlfcn.h>

#include "base/fileio.h"
#include "base/jscan.h"
#include "base/strmap.h"
#include "inspect/ckpt.h"

/* libcurl, opened the first time the Hub is read: linked in, it and the TLS, Kerberos and LDAP
 * libraries it pulls would be loaded (and relocated) at every start of every command, about
 * 4 ms, most of a lint's time on a local folder. */
#undef curl_easy_setopt /* curl.h's own type-checking macros for these three */
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define CURL_FUNCS(X)                                                                                         \
    X(global_init) X(easy_init) X(easy_duphandle) X(easy_setopt) X(easy_getinfo) X(easy_perform)              \
    X(easy_cleanup) X(easy_strerror) X(multi_init) X(multi_setopt) X(multi_add_handle) X(multi_remove_handle) \
    X(multi_perform) X(multi_poll) X(multi_info_read) X(multi_cleanup) X(slist_append) X(slist_free_all)
#define CURL_FIELD(n) __typeof__(&curl_##n) n;
static struct {
    CURL_FUNCS(CURL_FIELD)
} C;
#define curl_global_init C.global_init
#define curl_easy_init C.easy_init
#define curl_easy_duphandle C.easy_duphandle
#define curl_easy_setopt C.easy_setopt
#define curl_easy_getinfo C.easy_getinfo
#define curl_easy_perform C.easy_perform
#define curl_easy_cleanup C.easy_cleanup
#define curl_easy_strerror C.easy_strerror
#define curl_multi_init C.multi_init
#define curl_multi_setopt C.multi_setopt
#define curl_multi_add_handle C.multi_add_handle
#define curl_multi_remove_handle C.multi_remove_handle
#define curl_multi_perform C.multi_perform
#define curl_multi_poll C.multi_poll
#define curl_multi_info_read C.multi_info_read
#define curl_multi_cleanup C.multi_cleanup
#define curl_slist_append C.slist_append
#define curl_slist_free_all C.slist_free_all

/* Opens libcurl, takes every function above and starts it (once); CK_EIO naming what is
 * missing. */
static int curl_open(const char *repo_id, ck_err *err)
{
    static int opened;
    if (opened)
        return CK_OK;
    void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return ck_err_set(err, CK_EIO, repo_id, NULL, CK_NO_OFFSET, "reading from the Hub needs libcurl, which "
                          "cannot be opened (%s): apt-get install libcurl4, or download what lint needs: hf download "
                          "%s --include config.json model.safetensors.index.json", dlerror(), repo_id);
#define CURL_TAKE(n)                                                                                  \
    if (!(*(void **)&C.n = dlsym(lib, "curl_" #n)))                                                 \
        return ck_err_set(err, CK_EIO, repo_id, NULL, CK_NO_OFFSET, "libcurl.so.4 lacks curl_" #n " (a " \
                          "libcurl older than 7.66): update libcurl4");
    CURL_FUNCS(CURL_TAKE)
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        return ck_err_set(err, CK_EIO, repo_id, NULL, CK_NO_OFFSET, "libcurl could not start (curl_global_init)");
    opened = 1;
    return CK_OK;
}

#define SPECULATIVE (64u * 1024u) /* one range that holds the length and most headers (a 671B
                                   * DeepSeek-V3 shard's is about 75 KB: a second range then) */
#define MAX_HEADER (100u * 1024u * 1024u)

typedef struct {
    char *buf;
    size_t len, cap, limit; /* limit: stop receiving past it (a server that ignores Range) */
    uint64_t total;         /* the file's size: Content-Range's total, else Content-Length */
    int have_total;
    char version[160];      /* X-Repo-Commit (the Hub's), else ETag: what the revision is now */
} xfer;

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
    xfer *x = ud;
    size_t n = sz * nm, take = x->len + n > x->limit ? x->limit - x->len : n;
    if (x->len + take + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 65536;
        while (cap < x->len + take + 1)
            cap *= 2;
        char *b = realloc(x->buf, cap);
        if (!b)
            return 0;
        x->buf = b;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, p, take);
    x->len += take;
    x->buf[x->len] = 0;
    return take == n ? n : 0; /* enough: the transfer stops here */
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
    xfer *x = ud;
    size_t n = sz * nm;
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line - 1 ? n : sizeof line - 1), p);
    unsigned long long a, b, t;
    if (strncmp(line, "HTTP/", 5) == 0) /* a new response (after a redirect): forget the last one's */
        x->have_total = 0;
    else if (strncasecmp(line, "content-range:", 14) == 0 && sscanf(line + 14, " bytes %llu-%llu/%llu", &a, &b, &t) == 3) {
        x->total = t;
        x->have_total = 2;
    } else if (strncasecmp(line, "content-length:", 15) == 0 && x->have_total < 2 && sscanf(line + 15, " %llu", &t) == 1) {
        x->total = t;
        x->have_total = 1;
    } else if (strncasecmp(line, "x-repo-commit:", 14) == 0 ||
               (strncasecmp(line, "etag:", 5) == 0 && strncmp(x->version, "commit ", 7) != 0)) {
        int commit = line[0] == 'x' || line[0] == 'X';
        const char *v = line + (commit ? 14 : 5);
        v += strspn(v, " \t");
        snprintf(x->version, sizeof x->version, "%s %.*s", commit ? "commit" : "etag", (int)strcspn(v, "\r\n"), v);
    }
    return n;
}

typedef struct {
    CURL *c;
    struct curl_slist *hdr;
    char base[2048];        /* {endpoint}/{repo}/resolve/{rev}/ */
    const char *repo;
    long timeout;
    uint64_t received;
    int finished;            /* batch requests done, for the progress notices */
    const char *phase;       /* what the batch fetches, for that line */
    char token_from[2100];   /* where the token sent came from (HF_TOKEN or a file), "" for none */
} hub_conn;

/* What to do about a transfer that failed with rc, for a message. */
static const char *transfer_advice(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return "a slow server: set CKPTDOC_HTTP_TIMEOUT to more seconds";
    case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_RESOLVE_PROXY: case CURLE_COULDNT_CONNECT:
        return "no connection: check the network and HF_ENDPOINT, or download the files (hf download ORG/NAME "
               "--include config.json '*.json') and pass the folder";
    case CURLE_SSL_CONNECT_ERROR: case CURLE_PEER_FAILED_VERIFICATION: case CURLE_SSL_CACERT_BADFILE:
        return "the TLS handshake failed: check the system's CA certificates, or HF_ENDPOINT";
    default:
        return "check the network and HF_ENDPOINT, or download the files and pass the folder";
    }
}

/* GET file (bytes [from, to] when to > 0) into x; *status the HTTP status. CK_OK, or CK_EIO
 * when no answer came (after retries). */
static int get(hub_conn *h, const char *file, uint64_t from, uint64_t to, size_t limit, xfer *x, long *status,
               ck_err *err)
{
    char url[4096], range[64];
    snprintf(url, sizeof url, "%s%s", h->base, file);
    for (int attempt = 0;; attempt++) {
        x->len = 0;
        x->have_total = 0;
        x->limit = limit;
        curl_easy_setopt(h->c, CURLOPT_URL, url);
        if (to) {
            snprintf(range, sizeof range, "%llu-%llu", (unsigned long long)from, (unsigned long long)to);
            curl_easy_setopt(h->c, CURLOPT_RANGE, range);
        } else
            curl_easy_setopt(h->c, CURLOPT_RANGE, NULL);
        curl_easy_setopt(h->c, CURLOPT_WRITEDATA, x);
        curl_easy_setopt(h->c, CURLOPT_HEADERDATA, x);
        CURLcode rc = curl_easy_perform(h->c);
        *status = 0;
        curl_easy_getinfo(h->c, CURLINFO_RESPONSE_CODE, status);
        h->received += x->len;
        /* a range read stops once it has what it needs; a whole file may not be larger than limit */
        int full = rc == CURLE_WRITE_ERROR && x->len == limit;
        if (full && !to)
            return ck_err_set(err, CK_EIO, h->repo, file, CK_NO_OFFSET, "%s is larger than %zu bytes, the most "
                              "this reads of such a file: download it (hf download) and pass the folder", url, limit);
        if ((rc == CURLE_OK || full) && *status < 500)
            return CK_OK;
        if (rc == CURLE_WRITE_ERROR) /* not the limit: the buffer could not grow */
            return ck_err_set(err, CK_ENOMEM, h->repo, file, CK_NO_OFFSET, "out of memory reading %s", url);
        if (attempt == 2)
            return rc == CURLE_OK
                   ? ck_err_set(err, CK_EIO, h->repo, file, CK_NO_OFFSET, "%s: the server answered %ld, 3 times "
                                "(a server error): try again later, or download the files and pass the folder", url,
                                *status)
                   : ck_err_set(err, CK_EIO, h->repo, file, CK_NO_OFFSET, "%s: %s, 3 times (timeout %ld s): %s", url,
                                curl_easy_strerror(rc), h->timeout, transfer_advice(rc));
        struct timespec ts = {0, 500000000L * (attempt + 1)};
        nanosleep(&ts, NULL);
    }
}

/* The message for a status that is not a success. */
static int http_error(const hub_conn *h, const char *file, long status, ck_err *err)
{
    if ((status == 401 || status == 403) && h->token_from[0])
        return ck_err_set(err, CK_EIO, h->repo, file, CK_NO_OFFSET, "the Hub answered %ld to the token from %s: a "
                          "gated or private repo that token has no access to. Request access on its page, or set "
                          "HF_TOKEN to a token that has it", status, h->token_from);
    if (status == 401 || status == 403)
        return ck_err_set(err, CK_EIO, h->repo, file, CK_NO_OFFSET, "the Hub answered %ld and no token was sent "
                          "(neither HF_TOKEN nor a token file): a gated or private repo. Request access on its "
                          "page, then set HF_TOKEN to a token that has it (or log in: hf auth login)", status);
    if (status == 404)
        return ck_err_set(err, CK_EIO, h->repo, file, CK_NO_OFFSET, "not found (404) at %s%s: the repo, the "
                          "revision or the file does not exist; check the repo id and revision (ORG/NAME@REV) "
                          "on the Hub, and HF_ENDPOINT if it is set", h->base, file);
    return ck_err_set(err, CK_EIO, h->repo, file, CK_NO_OFFSET, "the Hub answered %ld for %s%s", status, h->base,
                      file);
}

static int write_file(const char *dir, const char *name, const void *data, size_t len, uint64_t size, ck_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    for (char *s = strchr(path + strlen(dir) + 1, '/'); s; s = strchr(s + 1, '/')) { /* subfolders */
        *s = 0;
        mkdir(path, 0755);
        *s = '/';
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int ok = fd >= 0 && write(fd, data, len) == (ssize_t)len && ftruncate(fd, (off_t)size) == 0;
    if (fd >= 0)
        ok &= close(fd) == 0;
    return ok ? CK_OK : ck_err_set(err, CK_EIO, path, NULL, CK_NO_OFFSET, "cannot write: %s", strerror(errno));
}

static void mkdirs(char *path)
{
    for (char *s = strchr(path + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = 0;
        mkdir(path, 0755);
        *s = '/';
    }
    mkdir(path, 0755);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/* A folder this file made (a partial fetch, a replaced one) and what is in it. */
static void rmtree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* One range request of a batch. */
typedef struct {
    const char *file;
    uint64_t from, to;
    size_t limit;
    xfer x;
    long status;
    int done;           /* answered (any status) */
} range_req;

#define PARALLEL 16 /* transfers at once: HTTP/2 streams, or connections */

/* The requests of a batch at once (libcurl's multi interface, PARALLEL at a time, connections
 * reused, HTTP/2 multiplexed where the server speaks it); one that got no answer is tried again
 * alone with get()'s retries. CK_OK, or get()'s error for a request that never got an answer. */
static int get_batch(hub_conn *h, range_req *r, int n, ck_err *err)
{
    CURLM *m = curl_multi_init();
    if (!m)
        return ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)PARALLEL);
    curl_multi_setopt(m, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    CURL **easy = calloc((size_t)n + 1, sizeof *easy);
    char (*url)[4096] = calloc((size_t)n + 1, sizeof *url), (*range)[64] = calloc((size_t)n + 1, sizeof *range);
    int next = 0, running = 0;
    while (easy && url && range && (next < n || running)) {
        while (next < n && running < PARALLEL) { /* keep PARALLEL in flight */
            range_req *q = &r[next];
            q->x.limit = q->limit;
            CURL *c = easy[next] = curl_easy_duphandle(h->c);
            if (c) {
                snprintf(url[next], sizeof url[next], "%s%s", h->base, q->file);
                snprintf(range[next], sizeof range[next], "%llu-%llu", (unsigned long long)q->from,
                         (unsigned long long)q->to);
                curl_easy_setopt(c, CURLOPT_URL, url[next]);
                curl_easy_setopt(c, CURLOPT_RANGE, range[next]);
                curl_easy_setopt(c, CURLOPT_WRITEDATA, &q->x);
                curl_easy_setopt(c, CURLOPT_HEADERDATA, &q->x);
                curl_easy_setopt(c, CURLOPT_PRIVATE, q);
                if (curl_multi_add_handle(m, c) == CURLM_OK)
                    running++;
            }
            next++;
        }
        int still = 0;
        curl_multi_perform(m, &still);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            range_req *q = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&q);
            CURLcode rc = msg->data.result;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &q->status);
            q->done = (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && q->x.len == q->limit)) && q->status < 500;
            h->received += q->x.len;
            ck_notice(1, "ckptdoc: %s: %s %d/%d, %.2f MB", h->repo, h->phase, ++h->finished, n,
                      h->received / 1e6); /* how far the headers are */
            curl_multi_remove_handle(m, msg->easy_handle);
            running--;
        }
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    for (int i = 0; easy && i < n; i++)
        if (easy[i])
            curl_easy_cleanup(easy[i]);
    free(easy);
    free(url);
    free(range);
    curl_multi_cleanup(m);
    int rc = CK_OK;
    for (int i = 0; rc == CK_OK && i < n; i++) /* what the batch did not get: alone, with retries */
        if (!r[i].done && (rc = get(h, r[i].file, r[i].from, r[i].to, r[i].limit, &r[i].x, &r[i].status, err)) == CK_OK)
            r[i].done = 1;
    return rc;
}

/* The little-endian header length at the start of a shard's first bytes, or UINT64_MAX. */
static uint64_t header_len(const xfer *x)
{
    uint64_t hl = 0;
    if (x->len < 8)
        return UINT64_MAX;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | (unsigned char)x->buf[i];
    return hl;
}

/* Every shard's header: one speculative range each, then the rest of the headers longer than it,
 * both batches in parallel; each shard a sparse file of its size holding its header. */
static int fetch_shards(hub_conn *h, const char *dir, char **files, int n, FILE *mk, hub_stats *st, ck_err *err)
{
    range_req *first = calloc((size_t)n + 1, sizeof *first), *rest = calloc((size_t)n + 1, sizeof *rest);
    int rc = first && rest ? CK_OK : ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    for (int i = 0; rc == CK_OK && i < n; i++)
        first[i] = (range_req){files[i], 0, SPECULATIVE - 1, SPECULATIVE, {0}, 0, 0};
    h->phase = "shard headers";
    h->finished = 0;
    if (rc == CK_OK)
        rc = get_batch(h, first, n, err);
    int nrest = 0;
    for (int i = 0; rc == CK_OK && i < n; i++) {
        if (first[i].status != 200 && first[i].status != 206) {
            rc = http_error(h, files[i], first[i].status, err);
            break;
        }
        uint64_t hl = header_len(&first[i].x), total = first[i].x.have_total ? first[i].x.total : first[i].x.len;
        if (hl <= MAX_HEADER && 8 + hl > first[i].x.len && 8 + hl <= total) /* the rest of a long header */
            rest[nrest++] = (range_req){files[i], first[i].x.len, 8 + hl - 1, (size_t)(8 + hl - first[i].x.len),
                                        {0}, 0, 0};
    }
    h->phase = "the rest of long headers";
    h->finished = 0;
    if (rc == CK_OK && nrest)
        rc = get_batch(h, rest, nrest, err);
    for (int i = 0, k = 0; rc == CK_OK && i < n; i++) {
        xfer *x = &first[i].x;
        uint64_t hl = header_len(x), total = x->have_total ? x->total : x->len;
        if (k < nrest && rest[k].file == files[i]) {
            range_req *q = &rest[k++];
            if (q->status != 206) {
                rc = q->status == 200 ? ck_err_set(err, CK_EIO, h->repo, files[i], CK_NO_OFFSET, "the server "
                                                   "ignores range requests past the first bytes; download the file")
                                      : http_error(h, files[i], q->status, err);
                break;
            }
            x->limit = (size_t)(8 + hl);
            if (on_body(q->x.buf, 1, q->x.len, x) != q->x.len) {
                rc = ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
                break;
            }
        }
        if (hl <= MAX_HEADER && 8 + hl < x->len)
            x->len = (size_t)(8 + hl); /* tensor bytes the range brought along: not kept */
        rc = write_file(dir, files[i], x->buf, x->len, total > x->len ? total : x->len, err);
        if (rc == CK_OK && mk)
            fprintf(mk, "%s\n", files[i]);
        st->files += rc == CK_OK;
    }
    for (int i = 0; first && i < n; i++)
        free(first[i].x.buf);
    for (int i = 0; rest && i < nrest; i++)
        free(rest[i].x.buf);
    free(first);
    free(rest);
    return rc;
}

/* $a as it is, else $b/b_sub, else ~/home_sub. */
static void env_path(char *out, size_t n, const char *a, const char *b, const char *b_sub, const char *home_sub)
{
    const char *va = getenv(a), *vb = getenv(b), *home = getenv("HOME");
    if (va && *va)
        snprintf(out, n, "%s", va);
    else if (vb && *vb)
        snprintf(out, n, "%s/%s", vb, b_sub);
    else
        snprintf(out, n, "%s/%s", home ? home : "/tmp", home_sub);
}

/* The files the weight_map of index text buf names, each once in the order of first mention
 * (into *out, the caller frees it; the names are decoded into arena, which holds len + 1 bytes and
 * must outlive them). A name that would leave the folder, or holds a \u0000, and a value that is
 * not a string are left out (ckpt_open reports them). Returns the count (0 when the text is JSON
 * but no object with a weight_map object); -1 when it is not JSON (then it is no index to read);
 * -2 out of memory. ~92,000 entries over ~160 files in a full-scale index: most name the file the
 * one before named, the others are looked up. */
static int index_files(const char *buf, size_t len, char *arena, char ***out)
{
    jscan j;
    *out = NULL;
    jscan_init(&j, buf, len, NULL, 1, "index");
    if (jscan_skip(&j) != 0) /* not JSON at all */
        return -1;
    jscan_init(&j, buf, len, arena, 1, "index");
    if (jscan_member(&j, "weight_map") != 1 || j.i >= j.n || j.b[j.i] != '{')
        return 0; /* no weight_map, or one that is not an object: it names no file */
    j.i++;
    strmap named;
    strmap_init(&named);
    char **files = NULL;
    size_t cap = 0, n = 0;
    const char *prev = NULL;
    int rc = 0, state = 0;
    while (jscan_next(&j, '}', &state, "in weight_map") == 1) {
        size_t nl, dummy;
        if (!jscan_string(&j, 0, NULL) || jscan_expect(&j, ':', "':'") != 0)
            break;
        jscan_ws(&j);
        size_t mark = j.arena_n;
        const char *name = j.i < j.n && j.b[j.i] == '"' ? jscan_string(&j, 1, &nl) : NULL;
        if (!name && jscan_skip(&j) != 0) /* not a string: skipped */
            break;
        /* a \u0000 inside, or a name outside the folder: left out (ckpt_open reports it) */
        int seen = !name || strlen(name) != nl || (prev && strcmp(prev, name) == 0) ||
                   strmap_get(&named, name, &dummy) || !ckpt_name_is_safe(name);
        if (seen)
            j.arena_n = mark; /* known: drop the copy */
        else {
            if (n + 1 >= cap) {
                size_t nc = cap ? 2 * cap : 256;
                char **g = realloc(files, nc * sizeof *g);
                if (!g) {
                    rc = -2;
                    break;
                }
                files = g;
                cap = nc;
            }
            if (strmap_put(&named, name, n, NULL) < 0) {
                rc = -2;
                break;
            }
            files[n++] = (char *)name;
            prev = name;
        }
    }
    strmap_free(&named);
    if (rc < 0) {
        free(files);
        return rc;
    }
    *out = files;
    return (int)n;
}

int hub_fetch(const char *repo_id, const char *endpoint_arg, char *out, size_t n, hub_stats *st, ck_err *err)
{
    memset(st, 0, sizeof *st);
    char repo[512], rev[256] = "main";
    snprintf(repo, sizeof repo, "%s", repo_id);
    char *at = strchr(repo, '@');
    if (at) {
        snprintf(rev, sizeof rev, "%s", at + 1);
        *at = 0;
    }
    char root[2048], dir[4096], tmp[4200], flat[512], frev[256];
    env_path(root, sizeof root, "CKPTDOC_CACHE", "XDG_CACHE_HOME", "ckptdoc", ".cache/ckptdoc");
    size_t k = 0; /* ORG/NAME as ORG--NAME */
    for (const char *s = repo; *s && k + 3 < sizeof flat; s++) {
        if (*s == '/')
            flat[k++] = '-';
        flat[k++] = *s == '/' ? '-' : *s;
    }
    flat[k] = 0;
    snprintf(frev, sizeof frev, "%s", rev);
    for (char *s = frev; *s; s++)
        if (*s == '/')
            *s = '_';
    snprintf(dir, sizeof dir, "%s/hub/%s/%s", root, flat, frev);
    char marker[4200];
    snprintf(marker, sizeof marker, "%s/%s", dir, HUB_MARKER);
    const char *refresh = getenv("CKPTDOC_REFRESH");
    struct stat sb;
    int cached = stat(marker, &sb) == 0 && !(refresh && strcmp(refresh, "1") == 0);
    int pinned = strlen(rev) == 40 && strspn(rev, "0123456789abcdef") == 40; /* a commit never moves */
    if (cached && (hub_offline() || pinned)) {
        snprintf(out, n, "%s", dir);
        st->cached = 1;
        return CK_OK;
    }
    if (hub_offline())
        return ck_err_set(err, CK_EIO, repo_id, NULL, CK_NO_OFFSET, "no such folder, no Hugging Face cache "
                          "($HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub) holds a snapshot of this repo "
                          "id nor ckptdoc's cache its headers (%s), and HF_HUB_OFFLINE forbids the network: "
                          "download it (hf download %s), or what lint reads from it alone: hf download %s --include "
                          "config.json model.safetensors.index.json (lint then works from the index)", dir, repo_id,
                          repo_id);
    if (curl_open(repo_id, err) != CK_OK)
        return err->code;
    hub_conn h = {curl_easy_init(), NULL, "", repo_id, 60, 0, 0, "", ""};
    if (!h.c)
        return ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    const char *ep = endpoint_arg ? endpoint_arg : getenv("HF_ENDPOINT"), *to = getenv("CKPTDOC_HTTP_TIMEOUT");
    char endpoint[1024];
    snprintf(endpoint, sizeof endpoint, "%s", ep && *ep ? ep : "https://huggingface.co");
    while (strlen(endpoint) > 1 && endpoint[strlen(endpoint) - 1] == '/')
        endpoint[strlen(endpoint) - 1] = 0;
    snprintf(h.base, sizeof h.base, "%s/%s/resolve/%s/", endpoint, repo, rev);
    if (to && atol(to) > 0)
        h.timeout = atol(to);
    /* the token: $HF_TOKEN, else the token file hf auth login writes ($HF_TOKEN_PATH, $HF_HOME/token,
     * $XDG_CACHE_HOME/huggingface/token, ~/.cache/huggingface/token, as huggingface_hub looks) */
    char token[512] = "", tpath[2048];
    const char *tk = getenv("HF_TOKEN"), *xdg = getenv("XDG_CACHE_HOME");
    if (tk && *tk) {
        snprintf(token, sizeof token, "%s", tk);
        snprintf(h.token_from, sizeof h.token_from, "HF_TOKEN");
    } else {
        if (xdg && *xdg && !getenv("HF_TOKEN_PATH") && !getenv("HF_HOME"))
            snprintf(tpath, sizeof tpath, "%s/huggingface/token", xdg);
        else
            env_path(tpath, sizeof tpath, "HF_TOKEN_PATH", "HF_HOME", "token", ".cache/huggingface/token");
        size_t tlen;
        const char *why;
        char *text = ck_read_small(tpath, sizeof token - 1, &tlen, &why);
        if (text) {
            snprintf(token, sizeof token, "%.*s", (int)strcspn(text, "\r\n"), text);
            if (token[0])
                snprintf(h.token_from, sizeof h.token_from, "%s", tpath);
            free(text);
        }
    }
    if (token[0]) {
        char auth[600];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h.hdr = curl_slist_append(NULL, auth);
        curl_easy_setopt(h.c, CURLOPT_HTTPHEADER, h.hdr);
    }
    curl_easy_setopt(h.c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h.c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(h.c, CURLOPT_USERAGENT, "ckptdoc/0.1.0");
    curl_easy_setopt(h.c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h.c, CURLOPT_TIMEOUT, h.timeout);
    curl_easy_setopt(h.c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h.c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h.c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h.c, CURLOPT_ACCEPT_ENCODING, ""); /* the index compresses tenfold */
    xfer x = {0};
    long status = 0;
    int rc;
    if (cached) { /* the revision may have moved since: one byte of config.json says what it is now */
        char was[200] = "", line[256];
        FILE *fp = fopen(marker, "r");
        while (fp && fgets(line, sizeof line, fp))
            if (strncmp(line, "# version ", 10) == 0)
                snprintf(was, sizeof was, "%.*s", (int)strcspn(line + 10, "\n"), line + 10);
        if (fp)
            fclose(fp);
        ck_err quiet;
        ck_err_clear(&quiet);
        rc = get(&h, "config.json", 0, 1, 2, &x, &status, &quiet);
        if (rc != CK_OK || (status != 200 && status != 206) || !x.version[0] || strcmp(x.version, was) == 0) {
            free(x.buf);
            curl_slist_free_all(h.hdr);
            curl_easy_cleanup(h.c);
            snprintf(out, n, "%s", dir);
            st->cached = 1 + (rc != CK_OK); /* 2: not revalidated (no answer) */
            return CK_OK;
        }
        x.version[0] = 0; /* moved: fetched again */
    }
    snprintf(tmp, sizeof tmp, "%s.partial-%ld", dir, (long)getpid());
    rmtree(tmp);
    mkdirs(tmp);
    rc = get(&h, "config.json", 0, 0, 8u << 20, &x, &status, err);
    char version[160];
    snprintf(version, sizeof version, "%s", x.version);
    if (rc == CK_OK && status != 200)
        rc = http_error(&h, "config.json", status, err);
    if (rc == CK_OK)
        rc = write_file(tmp, "config.json", x.buf, x.len, x.len, err);
    int index = 0; /* an index was fetched and read (-1: it is not JSON, so no index to follow) */
    char **files = NULL, *arena = NULL;
    int nfiles = 0;
    if (rc == CK_OK)
        rc = get(&h, "model.safetensors.index.json", 0, 0, 64u << 20, &x, &status, err);
    if (rc == CK_OK && status == 200) {
        /* the shards: the index's files once each */
        arena = malloc(x.len + 1);
        nfiles = arena ? index_files(x.buf, x.len, arena, &files) : -2;
        if (nfiles == -2)
            rc = ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
        index = nfiles < 0 ? -1 : 1;
        nfiles = nfiles < 0 ? 0 : nfiles;
        if (rc == CK_OK)
            rc = write_file(tmp, "model.safetensors.index.json", x.buf, x.len, x.len, err);
    } else if (rc == CK_OK && status != 404)
        rc = http_error(&h, "model.safetensors.index.json", status, err);
    if (rc == CK_OK && index != 1) { /* no index (or not one ckpt_open will read): one file */
        static char single[] = "model.safetensors";
        files = calloc(2, sizeof *files);
        if (files)
            files[nfiles++] = single;
    }
    FILE *mk = NULL;
    if (rc == CK_OK) {
        char mp[4300];
        snprintf(mp, sizeof mp, "%s/%s", tmp, HUB_MARKER);
        mk = fopen(mp, "w");
        if (mk)
            fprintf(mk, "# ckptdoc: headers only, fetched from %s\n# version %s\n", h.base, version);
    }
    if (rc == CK_OK)
        rc = fetch_shards(&h, tmp, files, nfiles, mk, st, err);
    if (mk && fclose(mk) != 0 && rc == CK_OK)
        rc = ck_err_set(err, CK_EIO, tmp, HUB_MARKER, CK_NO_OFFSET, "cannot write: %s", strerror(errno));
    free(files);
    free(arena);
    free(x.buf);
    st->bytes = h.received;
    curl_slist_free_all(h.hdr);
    curl_easy_cleanup(h.c);
    if (rc != CK_OK) {
        rmtree(tmp);
        return rc;
    }
    if (stat(dir, &sb) == 0) { /* a refresh: the old folder goes */
        char old[4300];
        snprintf(old, sizeof old, "%s.old-%ld", dir, (long)getpid());
        if (rename(dir, old) == 0)
            rmtree(old);
    }
    if (rename(tmp, dir) != 0) {
        rmtree(tmp);
        return ck_err_set(err, CK_EIO, dir, NULL, CK_NO_OFFSET, "cannot place the fetched headers: %s",
                          strerror(errno));
    }
    snprintf(out, n, "%s", dir);
    return CK_OK;
}

#endif
