/* tstats.c - two passes over the tensor's bytes in chunks of whole rows: statistics (and the
 * preview) first, then the histogram over [min, max]. */
#include "tui/tstats.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fileio.h"
#include "loader/load.h"

#define CHUNK_BYTES (8u << 20)

typedef struct {
    int fd;
    const ck_shard *sh;
    const st_tensor *t;
    float *scale;        /* [sr x sc] or NULL */
    uint64_t sr, sc, rows, cols;
    int bn, bk;
    uint8_t *raw;
    float *vals;
    size_t chunk_rows;
} reader;

/* Converts rows [r0, r0 + nr) into rd->vals, dequantized. */
static int read_rows(reader *rd, uint64_t r0, size_t nr, ck_err *err)
{
    size_t esz = dtype_bits(rd->t->dtype) / 8;
    size_t n = nr * rd->cols;
    uint64_t off = rd->sh->h.data_start + rd->t->begin + r0 * rd->cols * esz;
    if (ck_pread_full(rd->fd, rd->raw, n * esz, off) != 0)
        return ck_err_set(err, CK_EIO, rd->sh->path, rd->t->name, off, "cannot read %zu bytes: %s",
                          n * esz, errno ? strerror(errno) : "the file ends early");
    if (kern_convert_ref(rd->t->dtype, rd->raw, n, rd->vals) != 0)
        return ck_err_set(err, CK_EUSAGE, rd->sh->path, rd->t->name, CK_NO_OFFSET, "dtype %s has no "
                          "float conversion", dtype_name(rd->t->dtype));
    if (rd->scale)
        for (size_t r = 0; r < nr; r++) {
            const float *srow = rd->scale + ((r0 + r) / (uint64_t)rd->bn) * rd->sc;
            float *v = rd->vals + r * rd->cols;
            for (uint64_t c = 0; c < rd->cols; c++)
                v[c] *= srow[c / (uint64_t)rd->bk];
        }
    return CK_OK;
}

/* The weight_scale_inv beside an FP8 weight, read whole (it is small). */
static int load_scale(const ck_checkpoint *ck, reader *rd, tensor_summary *out, ck_err *err)
{
    const char *name = rd->t->name;
    size_t len = strlen(name);
    if (rd->t->dtype != DT_F8_E4M3 || rd->t->ndim != 2 || len < 7 || strcmp(name + len - 7, ".weight"))
        return CK_OK;
    snprintf(out->scale_name, sizeof out->scale_name, "%.*s.weight_scale_inv", (int)(len - 7), name);
    ck_tensor_ref ref;
    if (!ckpt_find(ck, out->scale_name, &ref)) {
        out->scale_name[0] = 0;
        return CK_OK;
    }
    const st_tensor *s = ckpt_tensor(ck, ref);
    const ck_shard *sh = &ck->shards[ref.shard];
    if (s->ndim != 2 || s->shape[0] * s->shape[1] == 0 || s->shape[0] * (uint64_t)rd->bn < rd->rows ||
        s->shape[1] * (uint64_t)rd->bk < rd->cols || !kern_convert_supported(s->dtype)) {
        out->scale_name[0] = 0; /* not a block scale of this weight: show the raw values */
        return CK_OK;
    }
    rd->sr = s->shape[0];
    rd->sc = s->shape[1];
    size_t n = (size_t)(rd->sr * rd->sc);
    uint64_t nb = st_tensor_nbytes(s);
    uint8_t *raw = malloc(nb ? nb : 1);
    rd->scale = malloc(n * sizeof *rd->scale);
    const char *why = "";
    int fd = ck_open_ro(sh->path, &why);
    int rc = CK_OK;
    if (!raw || !rd->scale)
        rc = ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    else if (fd < 0 || ck_pread_full(fd, raw, nb, sh->h.data_start + s->begin) != 0)
        rc = ck_err_set(err, CK_EIO, sh->path, s->name, sh->h.data_start + s->begin, "cannot read: %s",
                        fd < 0 ? why : errno ? strerror(errno) : "the file ends early");
    else
        kern_convert_ref(s->dtype, raw, n, rd->scale);
    if (fd >= 0)
        close(fd);
    free(raw);
    if (rc == CK_OK)
        out->dequantized = 1;
    return rc;
}

/* The first pass over values: statistics and the preview. */
static void add_stats(const float *v, size_t n, tensor_summary *out)
{
    kern_stats_ref(DT_F32, v, n, &out->st);
    for (size_t k = 0; k < n && out->n_preview < TSTATS_PREVIEW; k++)
        out->preview[out->n_preview++] = v[k];
}

/* The histogram's range from the first pass: 1 when there are finite values to bin. */
static int hist_range(tensor_summary *out)
{
    if (!out->st.finite)
        return 0;
    out->lo = out->st.min;
    out->hi = out->st.max;
    return 1;
}

/* The second pass: the finite values binned over [lo, hi]. */
static void add_hist(const float *v, size_t n, tensor_summary *out)
{
    double w = (out->hi - out->lo) / TSTATS_BINS;
    for (size_t k = 0; k < n; k++) {
        if (!isfinite(v[k]))
            continue;
        int b = w > 0 ? (int)((v[k] - out->lo) / w) : 0;
        out->hist[b < 0 ? 0 : b >= TSTATS_BINS ? TSTATS_BINS - 1 : b]++;
    }
}

static void summarize_values(const float *v, size_t n, tensor_summary *out)
{
    add_stats(v, n, out);
    if (hist_range(out))
        add_hist(v, n, out);
}

/* A quantized weight of a format the load dequantizes (packed codes, FP8, int8, MXFP4 blocks)
 * whose stored bytes are at most DEQUANT_MAX: dequantized whole, as check loads it. 1 when done
 * (or failed: rc set), 0 when the tensor is not one. */
#define DEQUANT_MAX (16u << 20)
static int summarize_dequantized(const ck_checkpoint *ck, size_t i, tensor_summary *out, int *rc, ck_err *err)
{
    const st_tensor *t = ckpt_tensor(ck, ck->tensors[i]);
    if (!ck->cfg.has_quant || st_tensor_nbytes(t) > DEQUANT_MAX ||
        (t->dtype == DT_F8_E4M3 && ck->cfg.quant.block[0] > 0)) /* block-FP8: by rows, below */
        return 0;
    float *v = NULL;
    uint64_t shape[PLAN_MAX_DIMS];
    unsigned nd = 0;
    if ((*rc = load_dequant_tensor(ck, i, &v, shape, &nd, err)) != CK_OK)
        return 1;
    if (!v)
        return 0;
    uint64_t n = 1;
    for (unsigned d = 0; d < nd; d++)
        n *= shape[d];
    summarize_values(v, (size_t)n, out);
    free(v);
    out->dequantized = 1;
    snprintf(out->scale_name, sizeof out->scale_name, "%s", ck->cfg.quant.summary);
    return 1;
}

/* What a pass over a chunk of rows reports: bytes done (two passes: statistics, then the
 * histogram), and whether the caller asked to stop. */
static int chunk_done(tstats_progress *pg, uint64_t bytes, ck_err *err)
{
    if (!pg)
        return CK_OK;
    atomic_fetch_add(&pg->done, bytes);
    if (atomic_load(&pg->cancel))
        return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "cancelled");
    return CK_OK;
}

int tensor_summarize(const ck_checkpoint *ck, size_t i, int block_n, int block_k, tensor_summary *out,
                     ck_err *err)
{
    return tensor_summarize_with(ck, i, block_n, block_k, out, NULL, err);
}

int tensor_summarize_with(const ck_checkpoint *ck, size_t i, int block_n, int block_k, tensor_summary *out,
                          tstats_progress *pg, ck_err *err)
{
    memset(out, 0, sizeof *out);
    kern_stats_init(&out->st);
    if (i >= ck->n_tensors)
        return ck_err_set(err, CK_EUSAGE, ck->root, NULL, CK_NO_OFFSET, "no tensor %zu", i);
    if (ckpt_require_data(ck, "statistics", err) != CK_OK)
        return err->code;
    reader rd;
    memset(&rd, 0, sizeof rd);
    rd.fd = -1;
    rd.sh = &ck->shards[ck->tensors[i].shard];
    rd.t = ckpt_tensor(ck, ck->tensors[i]);
    int drc = CK_OK;
    if (summarize_dequantized(ck, i, out, &drc, err))
        return drc;
    if (!kern_convert_supported(rd.t->dtype))
        return ck_err_set(err, CK_EUSAGE, rd.sh->path, rd.t->name, CK_NO_OFFSET, "dtype %s has no "
                          "float conversion: statistics are for floating-point tensors",
                          dtype_name(rd.t->dtype));
    uint64_t el = 1;
    for (uint32_t d = 0; d < rd.t->ndim; d++)
        el *= rd.t->shape[d];
    rd.cols = rd.t->ndim ? rd.t->shape[rd.t->ndim - 1] : 1;
    rd.rows = rd.cols ? el / rd.cols : 0;
    rd.bn = out->block_n = block_n > 0 ? block_n : 128;
    rd.bk = out->block_k = block_k > 0 ? block_k : 128;
    if (!el)
        return CK_OK;
    size_t esz = dtype_bits(rd.t->dtype) / 8;
    rd.chunk_rows = CHUNK_BYTES / (rd.cols * esz);
    if (!rd.chunk_rows)
        rd.chunk_rows = 1;
    if (rd.chunk_rows > rd.rows)
        rd.chunk_rows = (size_t)rd.rows;
    int rc = load_scale(ck, &rd, out, err);
    if (rc != CK_OK) {
        free(rd.scale);
        return rc;
    }
    rd.raw = malloc(rd.chunk_rows * rd.cols * esz);
    rd.vals = malloc(rd.chunk_rows * rd.cols * sizeof *rd.vals);
    const char *why = "";
    rd.fd = ck_open_ro(rd.sh->path, &why);
    if (!rd.raw || !rd.vals)
        rc = ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    else if (rd.fd < 0)
        rc = ck_err_set(err, CK_EIO, rd.sh->path, NULL, CK_NO_OFFSET, "cannot open: %s", why);
    for (uint64_t r = 0; rc == CK_OK && r < rd.rows; r += rd.chunk_rows) {
        size_t nr = (size_t)(rd.rows - r < rd.chunk_rows ? rd.rows - r : rd.chunk_rows);
        if ((rc = read_rows(&rd, r, nr, err)) != CK_OK)
            break;
        size_t n = nr * rd.cols;
        if ((rc = chunk_done(pg, n * esz, err)) != CK_OK)
            break;
        add_stats(rd.vals, n, out);
    }
    if (rc == CK_OK && hist_range(out))
        for (uint64_t r = 0; rc == CK_OK && r < rd.rows; r += rd.chunk_rows) {
            size_t nr = (size_t)(rd.rows - r < rd.chunk_rows ? rd.rows - r : rd.chunk_rows);
            if ((rc = read_rows(&rd, r, nr, err)) != CK_OK || (rc = chunk_done(pg, nr * rd.cols * esz, err)) != CK_OK)
                break;
            add_hist(rd.vals, nr * rd.cols, out);
        }
    if (rd.fd >= 0)
        close(rd.fd);
    free(rd.raw);
    free(rd.vals);
    free(rd.scale);
    return rc;
}

static void *job_run(void *arg)
{
    tstats_job *j = arg;
    j->rc = tensor_summarize_with(j->ck, j->i, j->block_n, j->block_k, &j->out, &j->pg, &j->err);
    atomic_store(&j->finished, 1);
    return NULL;
}

int tstats_start(tstats_job *j, const ck_checkpoint *ck, size_t i, int block_n, int block_k)
{
    memset(j, 0, sizeof *j);
    j->ck = ck;
    j->i = i;
    j->block_n = block_n;
    j->block_k = block_k;
    ck_err_clear(&j->err);
    atomic_init(&j->pg.done, 0);
    atomic_init(&j->pg.cancel, 0);
    atomic_init(&j->finished, 0);
    j->pg.total = i < ck->n_tensors ? 2 * st_tensor_nbytes(ckpt_tensor(ck, ck->tensors[i])) : 0;
    if (pthread_create(&j->tid, NULL, job_run, j) != 0) { /* no thread: here and now */
        job_run(j);
        return 0;
    }
    j->started = 1;
    return 0;
}

int tstats_finish(tstats_job *j)
{
    if (j->started)
        pthread_join(j->tid, NULL);
    j->started = 0;
    return j->rc;
}
