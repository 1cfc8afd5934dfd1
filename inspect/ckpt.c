/* ckpt.c - open a checkpoint folder: find its files, read every shard header (in parallel),
 * say what the files that are not safetensors are, and cross-check the index against the
 * headers. */
#include "inspect/ckpt.h"
#include "base/fileio.h"
#include "base/jscan.h"
#include "base/thread.h"
#include "inspect/hfcache.h"
#include "inspect/hub.h"
#include "base/text.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define INDEX_NAME "model.safetensors.index.json"
#define INDEX_MAX_BYTES (1ull << 30)

static char *path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    size_t n = a;
    if (a && dir[a - 1] != '/')
        p[n++] = '/';
    memcpy(p + n, name, b + 1);
    return p;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int ckpt_require_data(const ck_checkpoint *ck, const char *what, ck_err *err)
{
    if (!ck->headers_only)
        return CK_OK;
    return ck_err_set(err, CK_EUSAGE, ck->root, NULL, CK_NO_OFFSET, "holds headers only, fetched from the Hub "
                      "(enough for lint, inspect and explain): %s needs the tensor data; download the checkpoint "
                      "(hf download ORG/NAME --local-dir DIR) and give that folder", what);
}

/* Why shard name is not one ckptdoc opens, or NULL: outside the folder, or a character no
 * file name holds as the index means it (a NUL it carried as \u0000, kept as that text). */
static const char *unsafe_why(const char *name)
{
    if (strstr(name, "\\u0000"))
        return "holds a NUL character (\\u0000), which no file name can: Python's open() raises "
               "ValueError: embedded null byte, and a C reader would open the name cut short there";
    if (!ckpt_name_is_safe(name))
        return "points outside the model folder (absolute path or '..')";
    return NULL;
}

int ckpt_name_is_safe(const char *name)
{
    if (!name[0] || name[0] == '/' || strstr(name, "\\u0000"))
        return 0;
    const char *p = name;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == 2 && p[0] == '.' && p[1] == '.')
            return 0;
        if (!e)
            break;
        p = e + 1;
    }
    return 1;
}

static ck_shard *shard_add(ck_checkpoint *ck, size_t *cap, const char *name, const char *path)
{
    if (ck->n_shards == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        ck_shard *s = realloc(ck->shards, c * sizeof *s);
        if (!s)
            return NULL;
        ck->shards = s;
        *cap = c;
    }
    ck_shard *s = &ck->shards[ck->n_shards];
    memset(s, 0, sizeof *s);
    s->name = strdup(name);
    s->path = strdup(path);
    if (!s->name || !s->path) {
        free(s->name);
        free(s->path);
        return NULL;
    }
    ck->n_shards++;
    return s;
}

/* ------------------------------------------------------------------------------------------ */
/* Reading one shard. */

typedef struct {
    ck_checkpoint *ck;
    ck_shard *base;       /* ck->shards when started: it must not move until finished */
    size_t begin, end;    /* the shards this job reads */
    ck_findings *per;     /* (end - begin) findings of each shard, merged in order afterwards */
    ck_err *errs;         /* (end - begin) I/O errors */
    atomic_size_t next;
    pthread_t tid[16];
    int started;
} shard_job;

static void shard_read(ck_shard *s, ck_findings *f, ck_err *err, st_scratch *scratch)
{
    s->status = ST_NOMEM;
    const char *why;
    int fd = ck_open_ro(s->path, &why);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        ck_err_set(err, CK_EIO, s->path, NULL, CK_NO_OFFSET, "cannot open: %s", fd < 0 ? why : strerror(e));
        s->exists = fd >= 0 || e == EINVAL; /* there, but a FIFO or a device: unreadable, said */
        if (fd >= 0)
            close(fd);
        return;
    }
    s->exists = 1;
    s->size = (uint64_t)st.st_size;
    ck_findings tmp;
    findings_init(&tmp);
    s->status = st_header_read_fd(fd, s->size, s->name, &s->h, &tmp, err, scratch);
    if (s->status != ST_OK && !err->code && s->status <= ST_INVALID_JSON) {
        /* the header check failed early: say what the file is instead, when we can tell */
        uint8_t head[SNIFF_BYTES];
        size_t want = s->size < SNIFF_BYTES ? (size_t)s->size : SNIFF_BYTES, got = 0;
        ssize_t r = pread(fd, head, want, 0); /* a regular file: all of it, or an error */
        if (r > 0 && (size_t)r <= want)
            got = (size_t)r;
        s->kind = sniff_bytes(head, got, s->size, &s->lfs);
        if (s->status == ST_INVALID_JSON && (s->kind == SNIFF_TEXT || s->kind == SNIFF_JSON))
            s->kind = SNIFF_UNKNOWN; /* a safetensors file whose JSON is broken, not a text file */
    }
    close(fd);
    const ck_finding *st_err = s->status != ST_OK ? findings_find(&tmp, st_status_code(s->status)) : NULL;
    const char *variant = st_status_variant(s->status);
    switch (s->kind) {
    case SNIFF_UNKNOWN:
        break;
    case SNIFF_LFS_POINTER: {
        uint64_t missing = s->lfs.size > s->size ? s->lfs.size - s->size : 0;
        findings_add(f, "file.lfs_pointer", SEV_ERROR, s->name, NULL, 0,
                     "is a git-lfs pointer (%llu bytes), not tensors: the real file is %llu bytes "
                     "(oid sha256:%s), %llu bytes are missing. Fetch it with `git lfs install && "
                     "git lfs pull` (or `huggingface-cli download`) in the model folder. "
                     "safetensors reports this as %s",
                     (unsigned long long)s->size, (unsigned long long)s->lfs.size, s->lfs.oid,
                     (unsigned long long)missing, variant);
        break;
    }
    case SNIFF_EMPTY:
        findings_add(f, "file.empty", SEV_ERROR, s->name, NULL, 0, "is empty (0 bytes): the "
                     "download or copy did not finish; fetch the file again (safetensors: %s)",
                     variant);
        break;
    case SNIFF_HTML:
    case SNIFF_JSON:
    case SNIFF_TEXT:
        findings_add(f, sniff_code(s->kind), SEV_ERROR, s->name, NULL, 0,
                     "is %s of %llu bytes, not tensors: most likely an error page or message saved "
                     "by a failed download (an expired link, a gated model without a token, a "
                     "proxy); download the file again (safetensors: %s)", sniff_what(s->kind),
                     (unsigned long long)s->size, variant);
        break;
    case SNIFF_TORCH_ZIP:
    case SNIFF_TORCH_PICKLE:
        findings_add(f, sniff_code(s->kind), SEV_ERROR, s->name, NULL, 0,
                     "is %s (a pytorch_model.bin renamed?), not safetensors; convert it with "
                     "safetensors.torch.save_file or load it as .bin (safetensors: %s)",
                     sniff_what(s->kind), variant);
        break;
    case SNIFF_GGUF:
        findings_add(f, "file.gguf", SEV_ERROR, s->name, NULL, 0, "is a GGUF file (llama.cpp), "
                     "not safetensors; use the original safetensors checkpoint (safetensors: %s)",
                     variant);
        break;
    }
    /* keep the reader's own findings, except its error when the sniffed kind explains it */
    for (size_t i = 0; i < tmp.n; i++) {
        ck_finding *x = &tmp.v[i];
        if (s->kind != SNIFF_UNKNOWN && x == st_err)
            continue;
        findings_add(f, x->code, x->sev, x->file, x->key, x->offset, "%s", x->msg);
    }
    findings_free(&tmp);
}

static void *shard_worker(void *arg)
{
    shard_job *j = arg;
    st_scratch scratch = {NULL, 0};
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->end)
            break;
        ck_shard *s = &j->base[i];
        if (!s->path[0])
            continue; /* unsafe name: never opened */
        shard_read(s, &j->per[i - j->begin], &j->errs[i - j->begin], &scratch);
    }
    free(scratch.buf);
    return NULL;
}

/* Starts reading shards [begin, end) on threads - 1 new threads; the caller may do other work
 * (it must not move ck->shards meanwhile) and then calls shards_finish, which lends the calling
 * thread to the work, joins, and adds the findings in shard order. */
static int shards_start(ck_checkpoint *ck, size_t begin, size_t end, int threads, shard_job *j)
{
    memset(j, 0, sizeof *j);
    j->ck = ck;
    j->base = ck->shards;
    j->begin = begin;
    j->end = end;
    atomic_init(&j->next, begin);
    size_t n = end - begin;
    j->per = calloc(n ? n : 1, sizeof *j->per);
    j->errs = calloc(n ? n : 1, sizeof *j->errs);
    if (!j->per || !j->errs) {
        free(j->per);
        free(j->errs);
        return -1;
    }
    threads = ck_thread_count(threads, 16, n);
    for (int t = 1; t < threads; t++)
        if (ck_thread_start(&j->tid[j->started], shard_worker, j) == 0)
            j->started++;
    return 0;
}

static void shards_finish(ck_checkpoint *ck, shard_job *j)
{
    shard_worker(j);
    for (int t = 0; t < j->started; t++)
        pthread_join(j->tid[t], NULL);
    for (size_t i = j->begin; i < j->end; i++) {
        ck_shard *s = &ck->shards[i];
        size_t k = i - j->begin;
        if (j->errs[k].code && s->exists)
            findings_add(&ck->findings, "file.unreadable", SEV_ERROR, s->name, NULL,
                         j->errs[k].offset, "%s", j->errs[k].msg);
        findings_append(&ck->findings, &j->per[k], SEV_NOTE);
        findings_free(&j->per[k]);
    }
    free(j->per);
    free(j->errs);
}

/* ------------------------------------------------------------------------------------------ */
/* The index. */

static int entry_add(ck_checkpoint *ck, size_t *cap, const char *key, size_t key_len,
                     uint32_t shard)
{
    if (ck->n_index == *cap) {
        size_t c = *cap ? *cap * 2 : 1024;
        ck_index_entry *v = realloc(ck->index, c * sizeof *v);
        if (!v)
            return -1;
        ck->index = v;
        *cap = c;
    }
    ck->index[ck->n_index].key = key;
    ck->index[ck->n_index].key_len = (uint32_t)key_len;
    ck->index[ck->n_index].shard = shard;
    ck->index[ck->n_index].superseded = 0;
    ck->n_index++;
    return 0;
}

/* key_len bytes of key as a C string in buf, for a message. */
static const char *key_str(char *buf, size_t size, const char *key, size_t key_len)
{
    snprintf(buf, size, "%.*s", (int)key_len, key);
    return buf;
}

/* Shards the index names that the folder listing did not have (missing files, subfolders,
 * unsafe names). While the listed shards are being read, ck->shards must not move, so these
 * wait here and are appended afterwards; index entries name them as PENDING | id. */
#define PENDING 0x80000000u

typedef struct {
    strmap *shard_ix;     /* listed shard name -> position in ck->shards */
    strmap pend_ix;       /* pending name -> id */
    char **pend;          /* (npend) owned names */
    size_t *pend_keys;    /* (npend) index entries naming each */
    size_t npend, cappend;
    int unusable;         /* the index cannot be read as a whole (no file, not JSON): no loader
                           * can follow it, so every listed file counts as named */
} index_ctx;

/* The shard named sname: its position in ck->shards, PENDING | id, or -1 (no memory). */
static long index_shard(ck_checkpoint *ck, index_ctx *x, const char *sname, const char *key,
                        size_t key_len)
{
    size_t si;
    if (strmap_get(x->shard_ix, sname, &si)) {
        ck->shards[si].referenced = 1;
        ck->shards[si].index_keys++;
        return (long)si;
    }
    if (strmap_get(&x->pend_ix, sname, &si)) {
        x->pend_keys[si]++;
        return (long)(PENDING | si);
    }
    if (x->npend == x->cappend) {
        size_t c = x->cappend ? x->cappend * 2 : 8;
        char **p = realloc(x->pend, c * sizeof *p);
        if (p)
            x->pend = p;
        size_t *k = realloc(x->pend_keys, c * sizeof *k);
        if (k)
            x->pend_keys = k;
        if (!p || !k)
            return -1;
        x->cappend = c;
    }
    char *name = strdup(sname);
    if (!name || strmap_put(&x->pend_ix, name, x->npend, NULL) < 0) {
        free(name);
        return -1;
    }
    x->pend[x->npend] = name;
    x->pend_keys[x->npend] = 1;
    char shown[256];
    key_str(shown, sizeof shown, key, key_len);
    const char *why = unsafe_why(sname);
    if (why)
        findings_add(&ck->findings, "index.unsafe_shard_name", SEV_ERROR, ck->index_name, shown,
                     CK_NO_OFFSET, "shard name \"%s\" %s; it was not opened. A shard must be a file inside "
                     "the folder", sname, why);
    return (long)(PENDING | x->npend++);
}

/* Appends the pending shards to ck->shards and renumbers the entries that name them. Returns
 * the position of the first appended shard, or -1 (no memory). */
static long index_pending_append(ck_checkpoint *ck, index_ctx *x, size_t *cap)
{
    size_t first = ck->n_shards;
    for (size_t k = 0; k < x->npend; k++) {
        int safe = ckpt_name_is_safe(x->pend[k]);
        char *p = safe ? path_join(ck->root, x->pend[k]) : strdup("");
        ck_shard *sh = p ? shard_add(ck, cap, x->pend[k], p) : NULL;
        free(p);
        if (!sh)
            return -1;
        sh->referenced = 1;
        sh->index_keys = x->pend_keys[k];
        if (!safe)
            sh->status = ST_NOMEM; /* never opened */
    }
    for (size_t i = 0; i < ck->n_index; i++)
        if (ck->index[i].shard & PENDING)
            ck->index[i].shard = (uint32_t)(first + (ck->index[i].shard & ~PENDING));
    return (long)first;
}

static void index_ctx_free(index_ctx *x)
{
    for (size_t k = 0; k < x->npend; k++)
        free(x->pend[k]);
    free(x->pend);
    free(x->pend_keys);
    strmap_free(&x->pend_ix);
}

/* The index is a fixed schema, {"metadata": {"total_size": N, ...}, "weight_map": {key: shard}},
 * read with the same strict scanner as the shard headers (it can hold ~100k entries). */
static int index_scan(ck_checkpoint *ck, jscan *j, index_ctx *x)
{
    size_t ecap = 0;
    int seen_map = 0, top = 0, r;
    jscan_ws(j);
    if (jscan_expect(j, '{', "'{'"))
        return 0;
    while ((r = jscan_next(j, '}', &top, "in the index")) > 0) {
        size_t mark = j->arena_n, klen;
        const char *k = jscan_string(j, 1, &klen);
        if (!k || jscan_expect(j, ':', "':'"))
            return 0;
        j->arena_n = mark;
        jscan_ws(j);
        int is_meta = klen == 8 && memcmp(k, "metadata", 8) == 0;
        int is_map = klen == 10 && memcmp(k, "weight_map", 10) == 0;
        int is_obj = j->i < j->n && j->b[j->i] == '{';
        if (is_map && !is_obj)
            return jscan_fail(j, 2, NULL, j->i, "\"weight_map\" is %s but must be an object "
                              "mapping tensor names to shard files", jscan_kind(j)), 0;
        if (!is_obj || (!is_meta && !is_map)) {
            if (jscan_skip(j))
                return 0;
            continue;
        }
        j->i++;
        int st = 0;
        if (is_meta) {
            while ((r = jscan_next(j, '}', &st, "in metadata")) > 0) {
                size_t m2 = j->arena_n, l2;
                const char *mk = jscan_string(j, 1, &l2);
                if (!mk || jscan_expect(j, ':', "':'"))
                    return 0;
                j->arena_n = m2;
                jscan_ws(j);
                uint64_t v;
                int big;
                if (l2 == 10 && memcmp(mk, "total_size", 10) == 0 && j->i < j->n &&
                    (j->b[j->i] == '-' || (j->b[j->i] >= '0' && j->b[j->i] <= '9'))) {
                    int kind = jscan_number(j, &v, &big);
                    if (kind < 0)
                        return 0;
                    ck->has_total_size = kind == 0 && !big;
                    ck->total_size = v;
                } else if (jscan_skip(j))
                    return 0;
            }
            if (r < 0)
                return 0;
            continue;
        }
        seen_map = 1;
        const char *prev = NULL;
        size_t prev_len = 0;
        int prev_plain = 0; /* prev is its own JSON text: no '"', '\\' or control character */
        long prev_si = -1;
        char nulname[1024]; /* a shard name with \u0000 in it, as text (never a prev) */
        while ((r = jscan_next(j, '}', &st, "in weight_map")) > 0) {
            size_t key_len;
            const char *key = jscan_string_ref(j, &key_len);
            if (!key || jscan_expect(j, ':', "':'"))
                return 0;
            char shown[256]; /* the key as a C string, built only for a finding */
            jscan_ws(j);
            if (j->i >= j->n || j->b[j->i] != '"') {
                findings_add(&ck->findings, "index.invalid", SEV_ERROR, ck->index_name,
                             key_str(shown, sizeof shown, key, key_len), j->i, "weight_map value "
                             "is %s, not a string naming a shard file", jscan_kind(j));
                if (jscan_skip(j))
                    return 0;
                continue;
            }
            /* most entries name the shard the previous one named: compared in place */
            size_t at = j->i + 1, m3 = j->arena_n, sl = 0;
            const char *sname = NULL;
            int same = prev_plain && prev_len < j->n - at && j->b[at + prev_len] == '"' &&
                       memcmp(j->b + at, prev, prev_len) == 0;
            if (same)
                j->i = at + prev_len + 1;
            else if (!(sname = jscan_string(j, 1, &sl)))
                return 0;
            else if (strlen(sname) != sl) { /* a \u0000 inside: the name as the index wrote it */
                size_t w = 0;
                for (size_t q = 0; q < sl && w + 7 < sizeof nulname; q++)
                    w += sname[q] ? (size_t)snprintf(nulname + w, sizeof nulname - w, "%c", sname[q])
                                  : (size_t)snprintf(nulname + w, sizeof nulname - w, "\\u0000");
                sname = nulname;
                sl = w;
            }
            else
                same = prev && strcmp(prev, sname) == 0;
            long si = same ? prev_si : index_shard(ck, x, sname, key, key_len);
            if (si < 0 || entry_add(ck, &ecap, key, key_len, (uint32_t)si) != 0)
                return -1;
            if (!same) {
                prev = sname == nulname ? NULL : sname;
                prev_len = prev ? sl : 0;
                prev_plain = prev && jscan_plain_end((const uint8_t *)sname, 0, sl) == sl;
                prev_si = si;
                continue;
            }
            j->arena_n = m3; /* the name is known: drop any copy */
            if (si & PENDING)
                x->pend_keys[si & ~PENDING]++;
            else
                ck->shards[si].index_keys++;
        }
        if (r < 0)
            return 0;
    }
    if (r < 0)
        return 0;
    jscan_ws(j);
    if (j->i < j->n)
        return jscan_fail(j, 1, NULL, j->i, "trailing characters after the JSON object"), 0;
    if (!seen_map)
        jscan_fail(j, 2, NULL, 0, "the index has no \"weight_map\" object mapping tensor names "
                   "to shard files");
    return 0;
}

static int index_load(ck_checkpoint *ck, const char *path, index_ctx *x)
{
    const char *iname = ck->index_name;
    const char *why = NULL;
    int fd = ck_open_ro(path, &why);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        findings_add(&ck->findings, "index.invalid", SEV_ERROR, iname, NULL, CK_NO_OFFSET,
                     "cannot read the index: %s", fd < 0 ? why : strerror(errno));
        if (fd >= 0)
            close(fd);
        x->unusable = 1;
        return 0;
    }
    if ((uint64_t)st.st_size > INDEX_MAX_BYTES) {
        findings_add(&ck->findings, "index.invalid", SEV_ERROR, iname, NULL, CK_NO_OFFSET,
                     "the index is %llu bytes, larger than 1 GiB", (unsigned long long)st.st_size);
        close(fd);
        x->unusable = 1;
        return 0;
    }
    size_t len = (size_t)st.st_size, got = len;
    char *text = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0) : NULL;
    close(fd);
    if (len && text == MAP_FAILED) {
        findings_add(&ck->findings, "index.invalid", SEV_ERROR, iname, NULL, CK_NO_OFFSET,
                     "cannot map the index: %s", strerror(errno));
        x->unusable = 1;
        return 0;
    }
    ck->index_map = text;
    ck->index_map_len = len;
    ck->index_arena = malloc(len + 1); /* only strings with escapes are written here */
    if (!ck->index_arena)
        return -1;
    jscan j;
    jscan_init(&j, text, got, ck->index_arena, 1, "index");
    int rc = 0;
    size_t bad = jscan_utf8_invalid_at(j.b, j.n);
    if (bad != SIZE_MAX)
        jscan_fail(&j, 1, NULL, bad, "not valid UTF-8 (byte 0x%02x)", j.b[bad]);
    else
        rc = index_scan(ck, &j, x);
    if (j.status) {
        x->unusable = 1;
        int line, col;
        text_line_col(text, j.off < got ? j.off : got, &line, &col);
        const char *m = strncmp(j.msg, "header is not valid JSON: ", 26) == 0 ? j.msg + 26 : j.msg;
        findings_add(&ck->findings, "index.invalid", SEV_ERROR, iname, j.key, j.off,
                     "%s at line %d, column %d: %s; loaders cannot read this index",
                     j.status == 1 ? "not valid JSON" : "unexpected structure", line, col, m);
    }
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Folder listing: every *.safetensors file, sorted by name. */
static int list_safetensors(const char *dir, char ***names, size_t *n)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    size_t cap = 0;
    *names = NULL;
    *n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || !ends_with(de->d_name, ".safetensors"))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **p = realloc(*names, cap * sizeof *p);
            if (!p)
                break;
            *names = p;
        }
        if (!((*names)[*n] = strdup(de->d_name)))
            break;
        (*n)++;
    }
    closedir(d);
    if (*n)
        qsort(*names, *n, sizeof **names, by_name);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Cross-checks once every header is read. */

/* Sorts v[0 .. n) by their top 32 bits (name hashes), keeping the order of equal ones: three
 * passes of 11 bits through tmp. 0, or -1 out of memory. */
static int sort_by_hash(uint64_t *v, size_t n)
{
    uint64_t *tmp = malloc((n ? n : 1) * sizeof *tmp);
    uint32_t *count = malloc(2048 * sizeof *count);
    if (!tmp || !count) {
        free(tmp);
        free(count);
        return -1;
    }
    uint64_t *src = v, *dst = tmp;
    for (int shift = 32; shift < 64; shift += 11) {
        memset(count, 0, 2048 * sizeof *count);
        for (size_t i = 0; i < n; i++)
            count[(src[i] >> shift) & 2047]++;
        uint32_t sum = 0;
        for (int b = 0; b < 2048; b++) {
            uint32_t c = count[b];
            count[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i] >> shift) & 2047]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != v) /* three passes: the result is in tmp */
        memcpy(v, src, n * sizeof *v);
    free(tmp);
    free(count);
    return 0;
}

static int by_position(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Tensors stored twice, while ck->tensors still lists every tensor (a position is an index into
 * it): for each copy but the one kept, its position << 32 | the position of the copy kept (the
 * first in a file the index names, else the first), in *dup (n_dup of them, in order of
 * position). ck->names is sorted by hash, so names are compared only where
 * hashes are equal. 0, or -1 out of memory. */
static int find_copies(const ck_checkpoint *ck, uint64_t **dup, size_t *n_dup)
{
    size_t cap = 0, n = ck->n_tensors;
    *dup = NULL;
    *n_dup = 0;
    for (size_t a = 0, b; a < n; a = b) {
        for (b = a + 1; b < n && ck->names[b] >> 32 == ck->names[a] >> 32; b++)
            ;
        if (b - a < 2)
            continue;
        for (size_t j = a; j < b; j++) {
            const st_tensor *x = ckpt_tensor(ck, ck->tensors[(uint32_t)ck->names[j]]);
            /* the copy kept of this name: the first in a file the index names (no loader reads
             * the others: a stale shard left beside a re-sharded checkpoint), else the first;
             * equal hashes are in position order */
            size_t keep = SIZE_MAX, first = SIZE_MAX;
            for (size_t k = a; k < b && keep == SIZE_MAX; k++) {
                ck_tensor_ref rk = ck->tensors[(uint32_t)ck->names[k]];
                const st_tensor *y = ckpt_tensor(ck, rk);
                if (y->name_len != x->name_len || strcmp(y->name, x->name) != 0)
                    continue;
                if (first == SIZE_MAX)
                    first = k;
                if (ck->shards[rk.shard].referenced)
                    keep = k;
            }
            if (keep == SIZE_MAX)
                keep = first;
            if (keep == j)
                continue;
            if (*n_dup == cap) {
                cap = cap ? cap * 2 : 16;
                uint64_t *d = realloc(*dup, cap * sizeof *d);
                if (!d) {
                    free(*dup);
                    *dup = NULL;
                    return -1;
                }
                *dup = d;
            }
            (*dup)[(*n_dup)++] = (ck->names[j] & UINT32_MAX) << 32 | (ck->names[keep] & UINT32_MAX);
        }
    }
    if (*n_dup)
        qsort(*dup, *n_dup, sizeof **dup, by_position);
    return 0;
}

/* Leaves the copies out of ck->tensors (in place), its totals and ck->names, each reported
 * against the file of the copy kept, in file order, where both files are read (a copy in a
 * file the index does not name is read by no loader: index.stray_shard says so). 0, or -1 out
 * of memory. */
static int drop_copies(ck_checkpoint *ck, const uint64_t *dup, size_t n_dup)
{
    size_t n = ck->n_tensors, d = 0, w = 0;
    uint32_t *kept = malloc((n ? n : 1) * sizeof *kept); /* position -> index in ck->tensors */
    if (!kept)
        return -1;
    for (size_t p = 0; p < n; p++) {
        ck_tensor_ref r = ck->tensors[p];
        const st_tensor *x = ckpt_tensor(ck, r);
        if (d < n_dup && dup[d] >> 32 == p) {
            const ck_shard *s = &ck->shards[r.shard];
            uint32_t kp = (uint32_t)dup[d++]; /* the kept copy: not moved yet if it comes later */
            const ck_shard *f = &ck->shards[(kp > p ? ck->tensors[kp] : ck->tensors[kept[kp]]).shard];
            kept[p] = CK_NO_TENSOR;
            if (s->referenced && f->referenced)
                findings_add(&ck->findings, "ckpt.duplicate_tensor", SEV_ERROR, s->name, x->name,
                             CK_NO_OFFSET, "tensor is stored in two files, %s and %s; loaders "
                             "silently keep whichever they read last. Remove one copy", f->name, s->name);
            ck->params -= st_tensor_numel(x);
            ck->bytes -= st_tensor_nbytes(x);
            ck->dtype_bytes[x->dtype] -= st_tensor_nbytes(x);
            ck->dtype_count[x->dtype]--;
            continue;
        }
        kept[p] = (uint32_t)w;
        ck->tensors[w++] = r;
    }
    ck->n_tensors = w;
    w = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t g = kept[(uint32_t)ck->names[i]];
        if (g != CK_NO_TENSOR)
            ck->names[w++] = (ck->names[i] >> 32) << 32 | g;
    }
    free(kept);
    return 0;
}

/* ck->tensors, its totals and the name index: every tensor of every readable shard, in shard
 * order, but a name met before (stored in two files), which is reported and left out. */
static int collect_tensors(ck_checkpoint *ck)
{
    size_t total = 0;
    for (size_t i = 0; i < ck->n_shards; i++)
        if (ck->shards[i].status == ST_OK)
            total += ck->shards[i].h.n_tensors;
    if (total > UINT32_MAX) /* positions fit 32 bits */
        return -1;
    ck->tensors = malloc((total ? total : 1) * sizeof *ck->tensors);
    ck->names = malloc((total ? total : 1) * sizeof *ck->names);
    if (!ck->tensors || !ck->names)
        return -1;
    /* every tensor and the totals the reader made of each shard; drop_copies takes the copies out */
    for (size_t i = 0; i < ck->n_shards; i++) {
        const st_header *h = &ck->shards[i].h;
        if (ck->shards[i].status != ST_OK)
            continue;
        for (size_t t = 0; t < h->n_tensors; t++, ck->n_tensors++) {
            ck->names[ck->n_tensors] = (uint64_t)h->tensors[t].hash << 32 | ck->n_tensors;
            ck->tensors[ck->n_tensors].shard = (uint32_t)i;
            ck->tensors[ck->n_tensors].tensor = (uint32_t)t;
        }
        ck->params += h->params;
        for (int d = 0; d < DT_COUNT; d++) {
            ck->bytes += h->dtype_bytes[d];
            ck->dtype_bytes[d] += h->dtype_bytes[d];
            ck->dtype_count[d] += h->dtype_count[d];
        }
    }
    uint64_t *dup = NULL;
    size_t n_dup = 0;
    int rc = sort_by_hash(ck->names, total) != 0 || find_copies(ck, &dup, &n_dup) != 0 ? -1 : 0;
    if (!rc && n_dup)
        rc = drop_copies(ck, dup, n_dup);
    free(dup);
    return rc;
}

/* The tensor named by the len bytes at name (no NUL needed): its position in ck->tensors. */
static int find_n(const ck_checkpoint *ck, const char *name, size_t len, size_t *i)
{
    uint64_t h = strmap_hash_n(name, len);
    size_t lo = 0, hi = ck->n_tensors; /* the first entry of hash h or above */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ck->names[mid] >> 32 < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < ck->n_tensors && ck->names[lo] >> 32 == h; lo++) {
        size_t g = (uint32_t)ck->names[lo];
        const st_tensor *t = ckpt_tensor(ck, ck->tensors[g]);
        if (t->name_len == len && memcmp(t->name, name, len) == 0) {
            if (i)
                *i = g;
            return 1;
        }
    }
    return 0;
}

/* The tensor of each index entry, found without a name lookup where it can be, on another
 * thread while the map is built. Writers list a shard's tensors in the index in the order of
 * its header (both in key order, or both in the order written): each entry is compared with
 * the next tensor of its shard; e->tensor is its position in ck->tensors if no tensor is left
 * out as a copy (check_index uses it only then), or LOOK_UP. Returns the number of tensors of
 * readable shards, copies included, or SIZE_MAX when it could not run (no memory). */
#define LOOK_UP (CK_NO_TENSOR - 1)

static size_t index_in_order(ck_checkpoint *ck)
{
    size_t *next = calloc(ck->n_shards ? ck->n_shards : 1, sizeof *next);
    size_t *base = malloc((ck->n_shards ? ck->n_shards : 1) * sizeof *base);
    if (!next || !base) {
        free(next);
        free(base);
        return SIZE_MAX; /* every entry is looked up */
    }
    size_t valid = 0;
    for (size_t i = 0; i < ck->n_shards; i++) {
        base[i] = valid;
        valid += ck->shards[i].status == ST_OK ? ck->shards[i].h.n_tensors : 0;
    }
    for (size_t i = 0; i < ck->n_index; i++) {
        ck_index_entry *e = &ck->index[i];
        const ck_shard *s = &ck->shards[e->shard];
        size_t at = next[e->shard];
        e->tensor = LOOK_UP;
        if (s->status == ST_OK && at < s->h.n_tensors && s->h.tensors[at].name_len == e->key_len &&
            memcmp(s->h.tensors[at].name, e->key, e->key_len) == 0) {
            e->tensor = (uint32_t)(base[e->shard] + at);
            next[e->shard] = at + 1;
        }
    }
    free(next);
    free(base);
    return valid;
}

static void check_index(ck_checkpoint *ck, size_t valid)
{
    const char *iname = ck->index_name;
    for (size_t i = 0; i < ck->n_shards; i++) {
        ck_shard *s = &ck->shards[i];
        if (!s->referenced) {
            if (strncmp(s->name, "consolidated", 12) == 0) /* Mistral's own layout beside HF's */
                findings_add(&ck->findings, "index.mistral_consolidated", SEV_NOTE, s->name, NULL, CK_NO_OFFSET,
                             "Mistral's own layout beside the files %s names: vLLM 0.32's default "
                             "(--load-format auto) reads consolidated*.safetensors instead, under Mistral's "
                             "names, which MistralForCausalLM maps (and params.json, when there is one, "
                             "instead of config.json); transformers reads the files the index names, and so "
                             "does vLLM with --load-format safetensors: those are what ckptdoc checks", iname);
            else
                findings_add(&ck->findings, "index.stray_shard", SEV_WARNING, s->name, NULL, CK_NO_OFFSET,
                             "file is not named by %s, so no loader reads it (vLLM keeps the *.safetensors "
                             "files the index names, transformers opens those) and ckptdoc leaves its "
                             "tensors out: if they belong to the model, the index is stale; otherwise "
                             "delete the file", iname);
            continue;
        }
        if (s->path[0] && !s->exists)
            findings_add(&ck->findings, "index.missing_shard", SEV_ERROR, s->name, NULL,
                         CK_NO_OFFSET, "shard named by %s for %zu tensor%s does not exist in the "
                         "folder; download it", iname, s->index_keys, s->index_keys == 1 ? "" : "s");
    }
    /* entry of the index that names each tensor, +1 (0: not named); a key named twice */
    uint32_t *named = strmap_zalloc(ck->n_tensors * sizeof *named); /* index entries fit 32 bits */
    if (!named) {
        ck->findings.oom = 1;
        return;
    }
    int in_order = valid == ck->n_tensors; /* index_in_order ran and no copy was left out */
    for (size_t i = 0; i < ck->n_index; i++) {
        ck_index_entry *e = &ck->index[i];
        size_t g = in_order ? e->tensor : LOOK_UP;
        e->tensor = CK_NO_TENSOR;
        if (g == LOOK_UP && !find_n(ck, e->key, e->key_len, &g))
            continue;
        e->tensor = (uint32_t)g;
        if (named[g]) {
            ck->index[named[g] - 1].superseded = 1;
            findings_add(&ck->findings, "index.duplicate_key", SEV_ERROR, iname,
                         ckpt_tensor(ck, ck->tensors[g])->name,
                         CK_NO_OFFSET, "weight_map lists this tensor more than once (the last "
                         "entry, \"%s\", is the one a JSON reader keeps)", ck->shards[e->shard].name);
        }
        named[g] = (uint32_t)(i + 1);
    }
    int all_ok = 1;
    for (size_t i = 0; i < ck->n_index; i++) {
        const ck_index_entry *e = &ck->index[i];
        ck_shard *s = &ck->shards[e->shard];
        if (!s->exists || s->status != ST_OK) { /* missing, unsafe or unreadable: said already */
            all_ok = 0;
            continue;
        }
        if (e->superseded)
            continue;
        if (e->tensor != CK_NO_TENSOR) {
            ck_tensor_ref r = ck->tensors[e->tensor];
            if (r.shard == e->shard)
                continue;
            const char *name = ckpt_tensor(ck, r)->name;
            int here = 0; /* a tensor stored twice, kept from another shard: reported already */
            for (size_t t = 0; t < s->h.n_tensors && !here; t++)
                here = strcmp(s->h.tensors[t].name, name) == 0;
            if (!here)
                findings_add(&ck->findings, "index.key_not_in_shard", SEV_ERROR, iname, name,
                             CK_NO_OFFSET, "index maps the tensor to %s, but it is in %s; loaders "
                             "that follow the index fail to find it. Fix the index entry",
                             s->name, ck->shards[r.shard].name);
        } else {
            char key[1024];
            snprintf(key, sizeof key, "%.*s", (int)e->key_len, e->key);
            findings_add(&ck->findings, "index.key_not_in_shard", SEV_ERROR, iname, key,
                         CK_NO_OFFSET, "index maps the tensor to %s, but no shard has it; the "
                         "checkpoint is incomplete or the index is stale", s->name);
        }
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < ck->n_tensors; i++) {
        const ck_shard *s = &ck->shards[ck->tensors[i].shard];
        const st_tensor *t = ckpt_tensor(ck, ck->tensors[i]);
        if (!s->referenced)
            continue;
        sum += st_tensor_nbytes(t);
        if (!named[i])
            findings_add(&ck->findings, "index.unlisted_tensor", SEV_WARNING, s->name, t->name,
                         CK_NO_OFFSET, "tensor is in the shard but not in %s: loaders that "
                         "follow the index never load it", iname);
    }
    free(named);
    if (!ck->has_total_size)
        findings_add(&ck->findings, "index.no_total_size", SEV_NOTE, iname, NULL, CK_NO_OFFSET,
                     "index metadata has no total_size (DeepSeek's tools write \"metadata\": {}); "
                     "loaders do not need it");
    else if (all_ok && sum != ck->total_size)
        findings_add(&ck->findings, "index.total_size_mismatch", SEV_WARNING, iname, NULL,
                     CK_NO_OFFSET, "metadata.total_size is %llu but the shards' tensors add up to "
                     "%llu bytes (%+lld); the index was written for other files or by a tool that "
                     "counts differently", (unsigned long long)ck->total_size,
                     (unsigned long long)sum, (long long)(sum - ck->total_size));
}

/* ------------------------------------------------------------------------------------------ */

int ckpt_find_index(const ck_checkpoint *ck, const char *name, size_t *i)
{
    return find_n(ck, name, strlen(name), i);
}

int ckpt_find(const ck_checkpoint *ck, const char *name, ck_tensor_ref *ref)
{
    size_t i;
    if (!ckpt_find_index(ck, name, &i))
        return 0;
    if (ref)
        *ref = ck->tensors[i];
    return 1;
}

const char *ckpt_family(const ck_checkpoint *ck, char *buf, size_t size)
{
    if (!ck->cfg.present)
        snprintf(buf, size, "unknown (no config.json)");
    else
        snprintf(buf, size, "%s (%s)", ck->cfg.architectures[0] ? ck->cfg.architectures : "?",
                 ck->cfg.model_type[0] ? ck->cfg.model_type : "no model_type");
    return buf;
}

void ckpt_free(ck_checkpoint *ck)
{
    if (!ck)
        return;
    for (size_t i = 0; i < ck->n_shards; i++) {
        free(ck->shards[i].name);
        free(ck->shards[i].path);
        st_header_free(&ck->shards[i].h);
    }
    free(ck->shards);
    free(ck->index);
    free(ck->index_arena);
    if (ck->index_map)
        munmap(ck->index_map, ck->index_map_len);
    free(ck->index_name);
    free(ck->tensors);
    free(ck->root);
    free(ck->names);
    config_free(&ck->cfg);
    findings_free(&ck->findings);
    memset(ck, 0, sizeof *ck);
}

/* The second thread of the cross-checks: the index in header order. */
typedef struct {
    ck_checkpoint *ck;
    size_t valid;         /* out of index_in_order; SIZE_MAX: it did not run */
} helper_job;

static void *helper_run(void *arg)
{
    helper_job *h = arg;
    h->valid = index_in_order(h->ck);
    return NULL;
}

/* The caller's work beside the reader: started once config.json is read, joined before
 * ckpt_open_with returns. */
typedef struct {
    const ckpt_side *side;
    const ck_checkpoint *ck;
    pthread_t tid;
    int state;            /* 0 not started, 1 on its thread, 2 done */
    int headers;          /* side->headers was called */
} side_job;

static void *side_run(void *arg)
{
    side_job *j = arg;
    j->side->fn(j->side->ctx, j->ck);
    return NULL;
}

static void side_start(side_job *j)
{
    if (!j->side || j->state)
        return;
    if (ck_thread_start(&j->tid, side_run, j) == 0) {
        j->state = 1;
        return;
    }
    side_run(j); /* no second thread: here and now */
    j->state = 2;
}

static void side_join(side_job *j)
{
    side_start(j); /* reached before config.json was read: it runs all the same */
    if (j->state == 1)
        pthread_join(j->tid, NULL);
    j->state = 2;
}

/* PyTorch pickle weights in a folder (pytorch_model*.bin, *.pt, *.pth): how many, the first name
 * in first. */
static int pickle_weights(const char *dir, char *first, size_t n)
{
    DIR *d = opendir(dir);
    int count = 0;
    first[0] = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        int pt = (l > 4 && strcmp(e->d_name + l - 4, ".bin") == 0 && strncmp(e->d_name, "pytorch_model", 13) == 0) ||
                 (l > 3 && strcmp(e->d_name + l - 3, ".pt") == 0) || (l > 4 && strcmp(e->d_name + l - 4, ".pth") == 0);
        if (pt && (!count++ || strcmp(e->d_name, first) < 0))
            snprintf(first, n, "%s", e->d_name);
    }
    closedir(d);
    return count;
}

int ckpt_open(const char *path, int threads, ck_checkpoint *ck, ck_err *err)
{
    return ckpt_open_with(path, threads, NULL, ck, err);
}

int ckpt_open_with(const char *path, int threads, const ckpt_side *side, ck_checkpoint *ck,
                   ck_err *err)
{
    memset(ck, 0, sizeof *ck);
    findings_init(&ck->findings);
    struct stat st;
    char snap[4096];
    char url_ep[1024], url_repo[600];
    const char *endpoint = NULL;
    if (hub_url(path, url_ep, sizeof url_ep, url_repo, sizeof url_repo)) { /* a folder's URL on a Hub */
        endpoint = url_ep;
        path = url_repo;
    }
    if (endpoint || (stat(path, &st) != 0 && errno == ENOENT && hf_repo_id_like(path))) {
        /* a repo id: the snapshot the local Hugging Face cache holds, else its headers from the Hub */
        if (!endpoint && hf_cache_find(path, snap, sizeof snap))
            ck_notice(0, "ckptdoc: %s: reading the Hugging Face cache's snapshot %s", path, snap);
        else { /* the headers over HTTP (or fetched before: the only way with HF_HUB_OFFLINE) */
            hub_stats hs;
            int rc = hub_fetch(path, endpoint, snap, sizeof snap, &hs, err);
            if (rc != CK_OK)
                return rc;
            if (hs.cached)
                ck_notice(0, "ckptdoc: %s: the headers fetched before, from %s%s", path, snap,
                          hs.cached == 2 ? " (the Hub did not answer: not checked for a newer revision)" : "");
            else
                ck_notice(0, "ckptdoc: %s: %d shard header%s and the config read from the Hub (%.2f MB) into %s",
                          path, hs.files, hs.files == 1 ? "" : "s", hs.bytes / 1e6, snap);
        }
        path = snap;
    }
    if (stat(path, &st) != 0)
        return ck_err_set(err, CK_EIO, path, NULL, CK_NO_OFFSET, "cannot open: %s", strerror(errno));
    ck->root = strdup(path);
    if (!ck->root)
        return ck_err_set(err, CK_ENOMEM, path, NULL, CK_NO_OFFSET, "out of memory");
    if (S_ISDIR(st.st_mode)) {
        char mk[4200];
        snprintf(mk, sizeof mk, "%s/%s", path, HUB_MARKER);
        ck->headers_only = access(mk, F_OK) == 0;
    }
    size_t cap = 0;
    strmap shard_ix;
    strmap_init(&shard_ix);
    side_job sj = {side, ck, 0, 0, 0};
    int rc = CK_OK;
    if (S_ISREG(st.st_mode)) {
        ck->single_file = 1;
        side_start(&sj); /* no config.json: ck->cfg stays absent */
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        ck_shard *s = shard_add(ck, &cap, base, path);
        if (!s)
            goto oom;
        s->referenced = 1;
    } else if (S_ISDIR(st.st_mode)) {
        char *cfgp = path_join(path, "config.json");
        if (!cfgp)
            goto oom;
        config_load(cfgp, &ck->cfg, &ck->findings);
        if (!ck->cfg.present && !findings_find(&ck->findings, "config.invalid"))
            findings_add(&ck->findings, "config.missing", SEV_WARNING, "config.json", NULL,
                         CK_NO_OFFSET, "the folder has no config.json: the model family and "
                         "dimensions are unknown, and no loader can build the model");
        free(cfgp);
        side_start(&sj);
        char *ip = path_join(path, INDEX_NAME);
        if (!ip)
            goto oom;
        ck->has_index = access(ip, F_OK) == 0;
        char **names = NULL;
        size_t n = 0;
        if (list_safetensors(path, &names, &n) != 0) {
            free(ip);
            rc = ck_err_set(err, CK_EIO, path, NULL, CK_NO_OFFSET, "cannot list the folder: %s",
                            strerror(errno));
            goto fail;
        }
        int ok = 1;
        for (size_t i = 0; i < n; i++) {
            char *p = ok ? path_join(path, names[i]) : NULL;
            ck_shard *s = p ? shard_add(ck, &cap, names[i], p) : NULL;
            free(p);
            if (!s || strmap_put(&shard_ix, s->name, ck->n_shards - 1, NULL) < 0)
                ok = 0;
            else
                s->referenced = !ck->has_index;
            free(names[i]);
        }
        free(names);
        if (!ok) {
            free(ip);
            goto oom;
        }
        if (!ck->n_shards && !ck->has_index) {
            free(ip);
            char pt[256];
            int npt = pickle_weights(path, pt, sizeof pt);
            if (npt)
                rc = ck_err_set(err, CK_EFORMAT, path, NULL, CK_NO_OFFSET, "holds PyTorch pickle weights (%s%s), "
                                "not safetensors, which ckptdoc reads: "
                                "convert them once with transformers: python3 -c \"import transformers as t; "
                                "t.AutoModelForCausalLM.from_pretrained('%s').save_pretrained('%s-safetensors')\"",
                                pt, npt > 1 ? " and more" : "", path, path);
            else
                rc = ck_err_set(err, CK_EFORMAT, path, NULL, CK_NO_OFFSET, "no *.safetensors files and "
                                "no %s in this folder; is it a model folder?", INDEX_NAME);
            goto fail;
        }
        /* the listed shards are read on other threads while this one reads the index */
        shard_job job;
        if (shards_start(ck, 0, ck->n_shards, threads, &job) != 0) {
            free(ip);
            goto oom;
        }
        index_ctx x;
        memset(&x, 0, sizeof x);
        x.shard_ix = &shard_ix;
        int irc = 0;
        if (ck->has_index) {
            ck->index_name = strdup(INDEX_NAME);
            irc = ck->index_name ? index_load(ck, ip, &x) : -1;
        }
        free(ip);
        shards_finish(ck, &job);
        for (size_t i = 0; x.unusable && i < ck->n_shards; i++)
            ck->shards[i].referenced = 1;
        long first = irc == 0 ? index_pending_append(ck, &x, &cap) : -1;
        index_ctx_free(&x);
        if (first < 0)
            goto oom;
        if ((size_t)first < ck->n_shards) { /* named by the index only: mostly missing */
            if (shards_start(ck, (size_t)first, ck->n_shards, 1, &job) != 0)
                goto oom;
            shards_finish(ck, &job);
        }
    } else {
        rc = ck_err_set(err, CK_EIO, path, NULL, CK_NO_OFFSET, "not a file or folder");
        goto fail;
    }
    if (ck->single_file) {
        shard_job job;
        if (shards_start(ck, 0, ck->n_shards, 1, &job) != 0)
            goto oom;
        shards_finish(ck, &job);
    }
    strmap_free(&shard_ix);
    side_join(&sj);
    if (side && side->headers) {
        side->headers(side->ctx, ck);
        sj.headers = 1;
    }
    pthread_t helper;
    helper_job hj = {ck, SIZE_MAX};
    int started = ck->has_index && ck_thread_start(&helper, helper_run, &hj) == 0;
    if (!started && ck->has_index) /* no second thread: its work first, on this one */
        helper_run(&hj);
    int crc = collect_tensors(ck);
    if (started)
        pthread_join(helper, NULL);
    if (crc != 0)
        goto oom;
    if (ck->has_index)
        check_index(ck, hj.valid);
    if (ck->findings.oom)
        goto oom;
    return CK_OK;
oom:
    rc = ck_err_set(err, CK_ENOMEM, path, NULL, CK_NO_OFFSET, "out of memory");
fail:
    side_join(&sj);
    if (sj.headers && side->stop)
        side->stop(side->ctx);
    strmap_free(&shard_ix);
    ckpt_free(ck);
    return rc;
}
