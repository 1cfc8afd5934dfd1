/* verify.c - read the data: sha256 of every file, statistics of every float tensor. Files are
 * spread over threads; each file is read front to back in one pass, so the hash and the
 * statistics share every read. */
#include "inspect/verify.h"
#include "base/fileio.h"
#include "base/thread.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (8u << 20) /* bytes per read; a multiple of every element size */

/* OpenSSL's libcrypto for SHA-256, loaded when data is first verified: every other command
 * starts without it (mapping and relocating it took ~0.5 ms of every start). */
#define CK_STR_(x) #x
#define CK_STR(x) CK_STR_(x)

static struct {
    int ready;
    __typeof__(&EVP_MD_CTX_new) ctx_new;
    __typeof__(&EVP_MD_CTX_free) ctx_free;
    __typeof__(&EVP_sha256) sha256;
    __typeof__(&EVP_DigestInit_ex) init;
    __typeof__(&EVP_DigestUpdate) update;
    __typeof__(&EVP_DigestFinal_ex) final;
} C;

static int crypto_load(ck_err *err)
{
    if (C.ready)
        return CK_OK;
    static const char *const names[] = {"libcrypto.so." CK_STR(OPENSSL_VERSION_MAJOR), "libcrypto.so"};
    void *lib = NULL;
    for (unsigned i = 0; i < sizeof names / sizeof *names && !lib; i++)
        lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return ck_err_set(err, CK_EIO, "libcrypto", NULL, CK_NO_OFFSET, "cannot load OpenSSL's "
                          "libcrypto for SHA-256 (%s): install libssl3 (Debian) or openssl-libs", dlerror());
    *(void **)&C.ctx_new = dlsym(lib, "EVP_MD_CTX_new");
    *(void **)&C.ctx_free = dlsym(lib, "EVP_MD_CTX_free");
    *(void **)&C.sha256 = dlsym(lib, "EVP_sha256");
    *(void **)&C.init = dlsym(lib, "EVP_DigestInit_ex");
    *(void **)&C.update = dlsym(lib, "EVP_DigestUpdate");
    *(void **)&C.final = dlsym(lib, "EVP_DigestFinal_ex");
    if (!C.ctx_new || !C.ctx_free || !C.sha256 || !C.init || !C.update || !C.final)
        return ck_err_set(err, CK_EIO, "libcrypto", NULL, CK_NO_OFFSET, "the libcrypto found lacks "
                          "the EVP digest functions (%s): install OpenSSL 1.1 or 3 (libssl3 on Debian)",
                          dlerror());
    C.ready = 1;
    return CK_OK;
}

typedef struct {
    ck_checkpoint *ck;
    const verify_opts *o;
    verify_result *r;
    size_t **gidx;          /* per shard: tensor index in the header -> index in ck->tensors */
    atomic_size_t next;
    atomic_uint_fast64_t done;
    atomic_int finished;
    int cuda;
    char cuda_err[256];
    pthread_mutex_t lock;
} vctx;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void hex_digest(const unsigned char *d, char out[65])
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[64] = 0;
}

typedef struct {
    uint64_t begin;
    size_t t;
} span;

static int by_begin(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Hashes (and, for a valid shard, takes statistics of) one file. Returns 0 or -1 on I/O error. */
static int verify_file(vctx *c, size_t si, uint8_t *buf, EVP_MD_CTX *md)
{
    ck_shard *s = &c->ck->shards[si];
    const char *why;
    int fd = ck_open_ro(s->path, &why);
    if (fd < 0)
        return -1;
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    C.init(md, C.sha256(), NULL);
    uint64_t pos = 0, end = s->size;
    int rc = 0;
    span *order = NULL;
    if (s->status == ST_OK && s->h.n_tensors) {
        order = malloc(s->h.n_tensors * sizeof *order);
        if (!order) {
            close(fd);
            return -1;
        }
        for (size_t t = 0; t < s->h.n_tensors; t++) {
            order[t].begin = s->h.tensors[t].begin;
            order[t].t = t;
        }
        qsort(order, s->h.n_tensors, sizeof *order, by_begin);
    }
    size_t k = 0;
    while (pos < end && rc == 0) {
        size_t len = end - pos < CHUNK ? (size_t)(end - pos) : CHUNK;
        const st_tensor *cur = NULL;
        kern_stats *st = NULL;
        if (order && pos >= s->h.data_start) {
            /* stay inside one tensor so that a chunk never splits an element */
            while (k < s->h.n_tensors && s->h.data_start + s->h.tensors[order[k].t].end <= pos)
                k++;
            if (k < s->h.n_tensors) {
                cur = &s->h.tensors[order[k].t];
                uint64_t tend = s->h.data_start + cur->end;
                if (tend - pos < len)
                    len = (size_t)(tend - pos);
                size_t g = c->gidx[si][order[k].t];
                if (g != SIZE_MAX && kern_convert_supported(cur->dtype))
                    st = &c->r->stats[g];
            }
        } else if (order && end > s->h.data_start && s->h.data_start - pos < len) {
            len = (size_t)(s->h.data_start - pos); /* the header alone */
        }
        if (ck_pread_full(fd, buf, len, pos) != 0) {
            rc = -1;
            break;
        }
        C.update(md, buf, len);
        if (st) {
            size_t n = len / (dtype_bits(cur->dtype) / 8);
            ck_err e;
            ck_err_clear(&e);
            if (!c->cuda || kern_stats_cuda_host(cur->dtype, buf, n, st, &e) != CK_OK) {
                if (c->cuda) {
                    pthread_mutex_lock(&c->lock);
                    if (c->cuda) {
                        c->cuda = 0;
                        ck_err_str(&e, c->cuda_err, sizeof c->cuda_err);
                    }
                    pthread_mutex_unlock(&c->lock);
                }
                kern_stats_ref(cur->dtype, buf, n, st);
            }
        }
        pos += len;
        atomic_fetch_add(&c->done, len);
    }
    free(order);
    close(fd);
    if (rc == 0) {
        unsigned char d[32];
        unsigned dl = 0;
        C.final(md, d, &dl);
        hex_digest(d, c->r->sha256[si]);
    }
    return rc;
}

static void *verify_worker(void *arg)
{
    vctx *c = arg;
    uint8_t *buf = malloc(CHUNK);
    EVP_MD_CTX *md = C.ctx_new();
    for (;;) {
        size_t i = atomic_fetch_add(&c->next, 1);
        if (i >= c->ck->n_shards)
            break;
        if (!buf || !md || !c->ck->shards[i].exists)
            continue;
        verify_file(c, i, buf, md);
    }
    C.ctx_free(md);
    free(buf);
    atomic_fetch_add(&c->finished, 1);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Manifests. */

typedef struct {
    char name[512];
    char sha[65];
    uint64_t size;      /* from a pointer; UINT64_MAX when unknown */
} mentry;

static int manifest_add(mentry **v, size_t *n, size_t *cap, const char *name, const char *sha,
                        uint64_t size)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        mentry *p = realloc(*v, c * sizeof *p);
        if (!p)
            return -1;
        *v = p;
        *cap = c;
    }
    mentry *e = &(*v)[(*n)++];
    snprintf(e->name, sizeof e->name, "%s", name);
    for (int i = 0; i < 64; i++)
        e->sha[i] = (char)(sha[i] >= 'A' && sha[i] <= 'F' ? sha[i] + 32 : sha[i]);
    e->sha[64] = 0;
    e->size = size;
    return 0;
}

static int is_hex64(const char *s)
{
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
              (s[i] >= 'A' && s[i] <= 'F')))
            return 0;
    return 1;
}

static int manifest_load(const char *path, mentry **v, size_t *n, ck_err *err)
{
    size_t cap = 0;
    *v = NULL;
    *n = 0;
    struct stat st;
    if (stat(path, &st) != 0)
        return ck_err_set(err, CK_EIO, path, NULL, CK_NO_OFFSET, "cannot open the manifest: %s",
                          strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d)
            return ck_err_set(err, CK_EIO, path, NULL, CK_NO_OFFSET, "cannot list: %s",
                              strerror(errno));
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.')
                continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", path, de->d_name);
            const char *why;
            FILE *fp = ck_fopen_ro(p, &why); /* a FIFO among the files is no pointer */
            if (!fp)
                continue;
            uint8_t b[SNIFF_BYTES];
            size_t got = fread(b, 1, sizeof b, fp);
            int more = fgetc(fp) != EOF;
            fclose(fp);
            lfs_pointer lp;
            if (!more && lfs_pointer_parse(b, got, &lp) == 0 &&
                manifest_add(v, n, &cap, de->d_name, lp.oid, lp.size) != 0) {
                closedir(d);
                return ck_err_set(err, CK_ENOMEM, path, NULL, CK_NO_OFFSET, "out of memory");
            }
        }
        closedir(d);
        if (!*n)
            return ck_err_set(err, CK_EFORMAT, path, NULL, CK_NO_OFFSET, "the folder holds no "
                              "git-lfs pointer files to check against");
        return CK_OK;
    }
    const char *why;
    FILE *fp = ck_fopen_ro(path, &why);
    if (!fp)
        return ck_err_set(err, CK_EIO, path, NULL, CK_NO_OFFSET, "cannot open the manifest: %s", why);
    char line[4096];
    int ln = 0;
    while (fgets(line, sizeof line, fp)) {
        ln++;
        size_t l = strlen(line);
        while (l && (line[l - 1] == '\n' || line[l - 1] == '\r'))
            line[--l] = 0;
        if (!l || line[0] == '#')
            continue;
        if (l < 67 || !is_hex64(line) || line[64] != ' ' || (line[65] != ' ' && line[65] != '*')) {
            fclose(fp);
            err->line = ln;
            err->col = 1;
            return ck_err_set(err, CK_EFORMAT, path, NULL, CK_NO_OFFSET, "not a sha256sum line "
                              "(\"<64 hex digits>  <file name>\")");
        }
        const char *name = line + 66;
        if (strncmp(name, "./", 2) == 0)
            name += 2;
        if (manifest_add(v, n, &cap, name, line, UINT64_MAX) != 0) {
            fclose(fp);
            return ck_err_set(err, CK_ENOMEM, path, NULL, CK_NO_OFFSET, "out of memory");
        }
    }
    fclose(fp);
    return CK_OK;
}

/* sha256 of a small file that is not a shard (config.json named in a manifest, say). */
static int hash_file(const char *path, char out[65])
{
    const char *why;
    int fd = ck_open_ro(path, &why);
    if (fd < 0)
        return -1;
    EVP_MD_CTX *md = C.ctx_new();
    uint8_t *buf = malloc(1 << 16);
    int rc = md && buf ? 0 : -1;
    if (!rc)
        C.init(md, C.sha256(), NULL);
    ssize_t r;
    while (!rc && (r = read(fd, buf, 1 << 16)) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = -1;
            break;
        }
        C.update(md, buf, (size_t)r);
    }
    if (!rc) {
        unsigned char d[32];
        unsigned dl;
        C.final(md, d, &dl);
        hex_digest(d, out);
    }
    C.ctx_free(md);
    free(buf);
    close(fd);
    return rc;
}

static void check_manifest(ck_checkpoint *ck, verify_result *r, const mentry *m, size_t nm,
                           const char *mpath)
{
    for (size_t i = 0; i < ck->n_shards; i++) {
        const ck_shard *s = &ck->shards[i];
        if (!s->exists)
            continue;
        const mentry *e = NULL;
        for (size_t k = 0; k < nm && !e; k++)
            if (strcmp(m[k].name, s->name) == 0)
                e = &m[k];
        if (!e) {
            findings_add(&ck->findings, "verify.not_in_manifest", SEV_NOTE, s->name, NULL,
                         CK_NO_OFFSET, "file is not listed in %s; its sha256 is %s", mpath,
                         r->sha256[i]);
            continue;
        }
        if (!r->sha256[i][0])
            continue; /* unreadable: reported already */
        if (e->size != UINT64_MAX && e->size != s->size)
            findings_add(&ck->findings, "verify.size_mismatch", SEV_ERROR, s->name, NULL,
                         CK_NO_OFFSET, "file is %llu bytes but its git-lfs pointer says %llu; "
                         "the download is incomplete or a different version. Download it again",
                         (unsigned long long)s->size, (unsigned long long)e->size);
        else if (strcmp(e->sha, r->sha256[i]) != 0)
            findings_add(&ck->findings, "verify.sha256_mismatch", SEV_ERROR, s->name, NULL,
                         CK_NO_OFFSET, "sha256 is %s but %s says %s: the file is corrupt or a "
                         "different version. Download it again", r->sha256[i], mpath, e->sha);
    }
    for (size_t k = 0; k < nm; k++) {
        int shard = 0;
        for (size_t i = 0; i < ck->n_shards && !shard; i++)
            shard = ck->shards[i].exists && strcmp(m[k].name, ck->shards[i].name) == 0;
        if (shard || ck->single_file)
            continue;
        char path[4096], sha[65];
        snprintf(path, sizeof path, "%s/%s", ck->root, m[k].name);
        if (strstr(m[k].name, "..") || hash_file(path, sha) != 0)
            findings_add(&ck->findings, "verify.missing_file", SEV_ERROR, m[k].name, NULL,
                         CK_NO_OFFSET, "%s lists this file but it is not in the folder", mpath);
        else if (strcmp(sha, m[k].sha) != 0)
            findings_add(&ck->findings, "verify.sha256_mismatch", SEV_ERROR, m[k].name, NULL,
                         CK_NO_OFFSET, "sha256 is %s but %s says %s", sha, mpath, m[k].sha);
    }
}

/* ------------------------------------------------------------------------------------------ */

static int is_scale_name(const char *name)
{
    size_t l = strlen(name);
    static const char *suffix[] = {".weight_scale_inv", ".weight_scale", ".input_scale", ".scales",
                                   ".weight_global_scale", ".input_global_scale"};
    for (unsigned i = 0; i < sizeof suffix / sizeof *suffix; i++) {
        size_t s = strlen(suffix[i]);
        if (l >= s && strcmp(name + l - s, suffix[i]) == 0)
            return 1;
    }
    return 0;
}

static void data_findings(ck_checkpoint *ck, const verify_result *r)
{
    for (size_t i = 0; i < ck->n_tensors; i++) {
        const kern_stats *s = &r->stats[i];
        if (!s->count)
            continue;
        const st_tensor *t = ckpt_tensor(ck, ck->tensors[i]);
        const char *file = ck->shards[ck->tensors[i].shard].name;
        if (s->nan)
            findings_add(&ck->findings, "data.nan", SEV_ERROR, file, t->name, CK_NO_OFFSET,
                         "%llu of %llu values are NaN", (unsigned long long)s->nan,
                         (unsigned long long)s->count);
        if (s->inf)
            findings_add(&ck->findings, "data.inf", SEV_ERROR, file, t->name, CK_NO_OFFSET,
                         "%llu of %llu values are infinite", (unsigned long long)s->inf,
                         (unsigned long long)s->count);
        int scale = is_scale_name(t->name);
        if (scale && (s->nan || s->inf || (s->finite && s->min <= 0)))
            findings_add(&ck->findings, "data.bad_scale", SEV_ERROR, file, t->name, CK_NO_OFFSET,
                         "quantization scale has %llu zero, %s non-finite value%s (min %g): "
                         "dequantized weights will be zero, sign-flipped or NaN",
                         (unsigned long long)s->zeros, s->nan || s->inf ? "some" : "no",
                         s->nan + s->inf == 1 ? "" : "s", s->finite ? s->min : NAN);
        else if (s->zeros == s->count)
            findings_add(&ck->findings, "data.all_zero", SEV_WARNING, file, t->name, CK_NO_OFFSET,
                         "all %llu values are zero: an uninitialized or wiped tensor?",
                         (unsigned long long)s->count);
    }
}

int verify_run(ck_checkpoint *ck, const verify_opts *o, verify_result *r, ck_err *err)
{
    memset(r, 0, sizeof *r);
    if (ckpt_require_data(ck, "--verify", err) != CK_OK)
        return err->code;
    if (crypto_load(err) != CK_OK)
        return err->code;
    double t0 = now_s();
    mentry *m = NULL;
    size_t nm = 0;
    if (o->manifest && manifest_load(o->manifest, &m, &nm, err) != CK_OK) {
        free(m);
        return err->code;
    }
    r->sha256 = calloc(ck->n_shards ? ck->n_shards : 1, sizeof *r->sha256);
    r->stats = calloc(ck->n_tensors ? ck->n_tensors : 1, sizeof *r->stats);
    vctx c;
    memset(&c, 0, sizeof c);
    c.gidx = calloc(ck->n_shards ? ck->n_shards : 1, sizeof *c.gidx);
    if (!r->sha256 || !r->stats || !c.gidx)
        goto oom;
    for (size_t i = 0; i < ck->n_shards; i++) {
        const ck_shard *s = &ck->shards[i];
        if (s->status != ST_OK)
            continue;
        c.gidx[i] = malloc((s->h.n_tensors ? s->h.n_tensors : 1) * sizeof **c.gidx);
        if (!c.gidx[i])
            goto oom;
        for (size_t t = 0; t < s->h.n_tensors; t++)
            c.gidx[i][t] = SIZE_MAX;
    }
    for (size_t g = 0; g < ck->n_tensors; g++) {
        c.gidx[ck->tensors[g].shard][ck->tensors[g].tensor] = g;
        kern_stats_init(&r->stats[g]);
    }
    c.ck = ck;
    c.o = o;
    c.r = r;
    c.cuda = o->use_cuda && kern_cuda_available(c.cuda_err, sizeof c.cuda_err);
    if (o->use_cuda && !c.cuda)
        findings_add(&ck->findings, "verify.cpu_fallback", SEV_NOTE, NULL, NULL, CK_NO_OFFSET,
                     "statistics computed on the CPU: %s", c.cuda_err);
    pthread_mutex_init(&c.lock, NULL);
    atomic_init(&c.next, 0);
    atomic_init(&c.done, 0);
    atomic_init(&c.finished, 0);
    uint64_t total = 0;
    for (size_t i = 0; i < ck->n_shards; i++)
        total += ck->shards[i].exists ? ck->shards[i].size : 0;
    int threads = ck_thread_count(o->threads, 64, SIZE_MAX);
    pthread_t tid[64];
    int started = 0;
    for (int t = 0; t < threads; t++)
        if (ck_thread_start(&tid[started], verify_worker, &c) == 0)
            started++;
    if (!started)
        verify_worker(&c);
    while (o->progress && atomic_load(&c.finished) < started) {
        o->progress(atomic_load(&c.done), total, o->progress_ctx);
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    for (int t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    if (o->progress)
        o->progress(atomic_load(&c.done), total, o->progress_ctx);
    pthread_mutex_destroy(&c.lock);
    if (o->use_cuda && c.cuda_err[0] && !findings_find(&ck->findings, "verify.cpu_fallback"))
        findings_add(&ck->findings, "verify.cpu_fallback", SEV_WARNING, NULL, NULL, CK_NO_OFFSET,
                     "a CUDA call failed, the rest ran on the CPU: %s", c.cuda_err);
    r->bytes_read = atomic_load(&c.done);
    for (size_t i = 0; i < ck->n_shards; i++)
        if (ck->shards[i].exists && !r->sha256[i][0])
            findings_add(&ck->findings, "verify.read_error", SEV_ERROR, ck->shards[i].name, NULL,
                         CK_NO_OFFSET, "could not read the whole file");
    data_findings(ck, r);
    if (o->manifest)
        check_manifest(ck, r, m, nm, o->manifest);
    for (size_t i = 0; i < ck->n_shards; i++)
        free(c.gidx[i]);
    free(c.gidx);
    free(m);
    r->seconds = now_s() - t0;
    return CK_OK;
oom:
    if (c.gidx)
        for (size_t i = 0; i < ck->n_shards; i++)
            free(c.gidx[i]);
    free(c.gidx);
    free(m);
    verify_result_free(r);
    return ck_err_set(err, CK_ENOMEM, ck->root, NULL, CK_NO_OFFSET, "out of memory");
}

void verify_result_free(verify_result *r)
{
    if (!r)
        return;
    free(r->sha256);
    free(r->stats);
    memset(r, 0, sizeof *r);
}
