/* load.c - one rank's parameters on the host, slice by slice (see load.h). */
#include "loader/load.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/thread.h"
#include "kernels/convert.h"
#include "kernels/dequant.h"
#include "kernels/devmem.h"
#include "loader/shard.h"
#include "loader/simulate.h"

/* Where a load puts what it reads: host memory (stager NULL), or device memory through the
 * stager's pinned buffers, each intermediate in one of its four device scratch slots (0: a raw
 * weight, 1: its floats, 2 and 3: a scale's raw bytes and floats, or zero points). */
typedef struct {
    kdev_stager *stager;
    void *host[4];         /* on the host: the same four slots, reused from key to key (fresh
                            * memory for every tensor would be zeroed by the kernel each time) */
    size_t host_size[4];
} mem_ctx;

#define ON_DEV(m) ((m) && (m)->stager)

static int mem_buf(mem_ctx *m, int slot, size_t bytes, void **out, ck_err *err)
{
    if (ON_DEV(m))
        return kdev_scratch(m->stager, slot, bytes ? bytes : 1, out, err);
    if (!m) {
        if (!(*out = malloc(bytes ? bytes : 1)))
            return ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory (%zu bytes)", bytes);
        return CK_OK;
    }
    slot &= 3;
    if (m->host_size[slot] < bytes || !m->host[slot]) {
        free(m->host[slot]);
        m->host_size[slot] = 0;
        if (!(m->host[slot] = malloc(bytes ? bytes : 1)))
            return ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory (%zu bytes)", bytes);
        m->host_size[slot] = bytes;
    }
    *out = m->host[slot];
    return CK_OK;
}

/* Where the kernels read a host buffer from: itself on the host; on the device, a copy in scratch
 * slot `slot`. */
static int to_kernel(const mem_ctx *m, int slot, void *host, size_t bytes, void **out, ck_err *err)
{
    *out = host;
    if (!ON_DEV(m))
        return CK_OK;
    int rc = kdev_scratch(m->stager, slot, bytes ? bytes : 1, out, err);
    return rc == CK_OK ? kdev_upload(*out, host, bytes, err) : rc;
}

static void mem_release(const mem_ctx *m, void *p)
{
    if (!m)
        free(p); /* slots stay with the context until the load ends */
}

static void mem_ctx_free(mem_ctx *m)
{
    for (int k = 0; k < 4; k++)
        free(m->host[k]);
}

/* height rows of width bytes between buffers of the context (host memcpy or a device cut). */
static int mem_copy2d(const mem_ctx *m, void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                      size_t height, ck_err *err)
{
    if (ON_DEV(m))
        return kdev_copy2d(dst, dpitch, src, spitch, width, height, err);
    for (size_t r = 0; r < height; r++)
        memcpy((char *)dst + r * dpitch, (const char *)src + r * spitch, width);
    return CK_OK;
}

/* Converts n values of dtype dt at src into floats at dst, in up to 4 threads when there are
 * millions of them (a copy out of one read buffer into fresh memory, bound by one core each). */
typedef struct {
    ck_dtype dt;
    const uint8_t *src;
    size_t n;
    float *dst;
} conv_job;

static void *conv_run(void *arg)
{
    const conv_job *j = arg;
    kern_convert_ref(j->dt, j->src, j->n, j->dst);
    return NULL;
}

static void convert_par(ck_dtype dt, const void *src, size_t n, float *dst)
{
    enum { PIECE = 1 << 20, MAXT = 4 };
    int nt = n < 2 * (size_t)PIECE ? 1 : ck_thread_count(0, MAXT, n / PIECE);
    conv_job jobs[MAXT];
    pthread_t th[MAXT];
    int started[MAXT] = {0};
    size_t es = dtype_bits(dt) / 8, per = (n + (size_t)nt - 1) / (size_t)nt;
    for (int k = 0; k < nt; k++) {
        size_t a = (size_t)k * per, b = a + per < n ? a + per : n;
        jobs[k] = (conv_job){dt, (const uint8_t *)src + a * es, b > a ? b - a : 0, dst + a};
        if (k > 0)
            started[k] = ck_thread_start(&th[k], conv_run, &jobs[k]) == 0;
    }
    conv_run(&jobs[0]);
    for (int k = 1; k < nt; k++)
        if (started[k])
            pthread_join(th[k], NULL);
        else
            conv_run(&jobs[k]);
}

/* height rows of width values of dtype sdt, spitch values apart at src, into values of dtype ddt
 * dpitch values apart at dst: floats converted as they are copied on the host (on the device,
 * floats already, a cut); a compact parameter's 16-bit values copied as they are. */
static int put_rows(const mem_ctx *m, void *dst, ck_dtype ddt, size_t dpitch, const void *src, ck_dtype sdt,
                    size_t spitch, size_t width, size_t height, ck_err *err)
{
    if (ddt != DT_F32) { /* compact: every tensor of the parameter is stored in its dtype */
        if (sdt != ddt || ON_DEV(m))
            return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "a %s tensor into a parameter held "
                              "as %s: the load chose to hold it in its stored dtype although not every tensor "
                              "filling it has that dtype (a bug in ckptdoc; check --layers loads it as floats)",
                              dtype_name(sdt), dtype_name(ddt));
        size_t es = dtype_bits(ddt) / 8;
        if (height == 1 || (dpitch == width && spitch == width))
            memcpy(dst, src, width * height * es);
        else
            for (size_t r = 0; r < height; r++)
                memcpy((uint8_t *)dst + r * dpitch * es, (const uint8_t *)src + r * spitch * es, width * es);
        return CK_OK;
    }
    const size_t F = sizeof(float);
    if (ON_DEV(m) || sdt == DT_F32) {
        if (ON_DEV(m) && sdt != DT_F32)
            return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "a device load places floats only");
        return mem_copy2d(m, dst, dpitch * F, src, spitch * F, width * F, height, err);
    }
    size_t es = dtype_bits(sdt) / 8;
    if (height == 1 || (dpitch == width && spitch == width)) {
        convert_par(sdt, src, width * height, dst);
        return CK_OK;
    }
    for (size_t r = 0; r < height; r++)
        kern_convert_ref(sdt, (const uint8_t *)src + r * spitch * es, width, (float *)dst + r * dpitch);
    return CK_OK;
}

/* The raw bytes of one tensor (read-only pread; on the device through the stager, into slot;
 * m NULL: a malloc'ed buffer the caller frees). */
static int read_raw_to(const ck_checkpoint *ck, ck_tensor_ref ref, mem_ctx *m, int slot, void **out,
                       uint64_t *bytes, ck_err *err)
{
    const ck_shard *sh = &ck->shards[ref.shard];
    const st_tensor *t = ckpt_tensor(ck, ref);
    uint64_t nb = st_tensor_nbytes(t);
    int rc = mem_buf(m, slot, nb, out, err);
    if (rc != CK_OK) {
        *out = NULL;
        return rc;
    }
    const char *why;
    int fd = ck_open_ro(sh->path, &why);
    uint64_t off = sh->h.data_start + t->begin;
    if (fd >= 0 && ON_DEV(m)) {
        if ((rc = kdev_read_fd(m->stager, fd, off, nb, *out, sh->path, err)) == CK_OK)
            *bytes += nb;
        else if (!err->key[0])
            snprintf(err->key, sizeof err->key, "%s", t->name);
    } else if (fd < 0)
        rc = ck_err_set(err, CK_EIO, sh->path, t->name, off, "cannot open: %s", why);
    else if (ck_pread_par(fd, *out, nb, off, 0) != 0)
        rc = ck_err_set(err, CK_EIO, sh->path, t->name, off, "cannot read %llu bytes: %s",
                        (unsigned long long)nb, errno ? strerror(errno) : "the file ends early");
    else
        *bytes += nb;
    if (fd >= 0)
        close(fd);
    if (rc != CK_OK) {
        mem_release(m, *out);
        *out = NULL;
    }
    return rc;
}

static uint64_t elements(const st_tensor *t)
{
    uint64_t el = 1;
    for (uint32_t d = 0; d < t->ndim; d++)
        el *= t->shape[d];
    return el;
}

/* One tensor as floats: its raw bytes in slot raw_slot, the floats in slot out_slot. */
static int read_floats_to(const ck_checkpoint *ck, ck_tensor_ref ref, mem_ctx *m, int raw_slot, int out_slot,
                          float **out, uint64_t *n, uint64_t *bytes, ck_err *err)
{
    const ck_shard *sh = &ck->shards[ref.shard];
    const st_tensor *t = ckpt_tensor(ck, ref);
    *n = elements(t);
    *out = NULL;
    if (!kern_convert_supported(t->dtype))
        return ck_err_set(err, CK_EUSAGE, sh->path, t->name, CK_NO_OFFSET, "dtype %s is not loaded as "
                          "float by this version", dtype_name(t->dtype));
    void *raw, *fl = NULL;
    int rc = read_raw_to(ck, ref, m, raw_slot, &raw, bytes, err);
    if (rc != CK_OK)
        return rc;
    if ((rc = mem_buf(m, out_slot, (size_t)*n * sizeof **out, &fl, err)) != CK_OK)
        snprintf(err->key, sizeof err->key, "%s", t->name);
    else if (ON_DEV(m)) {
        /* queued behind the copies on the load stream: the host goes on reading the next tensor */
        void *stream;
        if ((rc = kdev_stream(&stream, err)) == CK_OK)
            rc = kern_convert_cuda_async(t->dtype, raw, (size_t)*n, fl, stream, err);
    } else
        kern_convert_ref(t->dtype, raw, (size_t)*n, fl);
    mem_release(m, raw);
    *out = fl;
    return rc;
}

static int read_floats(const ck_checkpoint *ck, ck_tensor_ref ref, float **out, uint64_t *n, uint64_t *bytes,
                       ck_err *err)
{
    return read_floats_to(ck, ref, NULL, 0, 0, out, n, bytes, err);
}

/* An E8M0 scale tensor (uint8 biased exponents, MXFP4's) as floats 2^(e - 127), in the context's
 * slot 3 as read_floats_to leaves its floats (on the device when the load runs there). */
static int read_e8m0_to(const ck_checkpoint *ck, ck_tensor_ref ref, mem_ctx *m, float **out, uint64_t *n,
                        uint64_t *bytes, ck_err *err)
{
    const st_tensor *t = ckpt_tensor(ck, ref);
    void *raw = NULL;
    float *f = NULL;
    *out = NULL;
    *n = elements(t);
    if (t->dtype != DT_U8)
        return ck_err_set(err, CK_EFORMAT, ck->shards[ref.shard].path, t->name, CK_NO_OFFSET, "MXFP4 scales of "
                          "%s: E8M0 exponents are stored as U8; the checkpoint was not written in "
                          "compressed-tensors' mxfp4-pack-quantized format: re-export it", dtype_name(t->dtype));
    int rc = read_raw_to(ck, ref, NULL, 0, &raw, bytes, err);
    size_t nb = (size_t)*n * sizeof *f;
    if (rc == CK_OK && ON_DEV(m) && !(f = malloc(nb ? nb : 1)))
        rc = ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    else if (rc == CK_OK && !ON_DEV(m))
        rc = mem_buf(m, 3, nb, (void **)&f, err);
    for (uint64_t k = 0; rc == CK_OK && k < *n; k++)
        f[k] = ldexpf(1.0f, (int)((const uint8_t *)raw)[k] - 127);
    free(raw);
    if (rc == CK_OK && ON_DEV(m)) {
        rc = to_kernel(m, 3, f, nb, (void **)out, err);
        free(f);
    } else if (rc == CK_OK)
        *out = f;
    return rc;
}

static int ends_with(const char *s, size_t len, const char *suf)
{
    size_t n = strlen(suf);
    return len >= n && memcmp(s + len - n, suf, n) == 0;
}

/* The tensor base + suffix of the checkpoint, or -1. */
static int find_sibling(const ck_checkpoint *ck, const char *base, size_t blen, const char *suffix,
                        ck_tensor_ref *ref)
{
    char name[600];
    if (blen + strlen(suffix) + 1 > sizeof name)
        return 0;
    memcpy(name, base, blen);
    strcpy(name + blen, suffix);
    return ckpt_find(ck, name, ref);
}

/* The zero points beside a quantized weight (its name's first blen bytes + "_zero_point"), when
 * it has them: count int32 values in *zp (the caller frees it) and, where the dequantization
 * reads them, *d_zp (the same on the host; device scratch slot 2 on the GPU). None: both NULL. */
static int read_zero_points(const ck_checkpoint *ck, const char *wname, size_t blen, uint64_t rows, uint64_t groups,
                            int bits, mem_ctx *m, int32_t **zp, int32_t **d_zp, uint64_t *bytes, ck_err *err)
{
    ck_tensor_ref zref;
    float *zf;
    uint64_t n, count = rows * groups;
    *zp = *d_zp = NULL;
    if (!find_sibling(ck, wname, blen, "_zero_point", &zref))
        return CK_OK;
    const st_tensor *zt = ckpt_tensor(ck, zref);
    if (bits > 0 && bits < 32 && zt->dtype == DT_I32 && zt->ndim == 2 && zt->shape[1] == groups &&
        zt->shape[0] == kern_packed_words(rows, bits) && zt->shape[0] != rows) {
        /* compressed-tensors packs asymmetric zero points along the rows (packed_dim 0): 32 / bits
         * of them per int32, low bits first, each stored with the 2^(bits-1) offset */
        void *raw;
        int rc = read_raw_to(ck, zref, NULL, 0, &raw, bytes, err);
        if (rc != CK_OK)
            return rc;
        if (!(*zp = malloc((size_t)count * sizeof **zp))) {
            free(raw);
            return ck_err_set(err, CK_ENOMEM, NULL, zt->name, CK_NO_OFFSET, "out of memory");
        }
        const int32_t *w = raw;
        uint32_t pf = 32u / (uint32_t)bits, mask = (1u << bits) - 1u;
        int32_t offset = 1 << (bits - 1);
        for (uint64_t r = 0; r < rows; r++)
            for (uint64_t g = 0; g < groups; g++) {
                uint32_t word = (uint32_t)w[(r / pf) * groups + g];
                (*zp)[r * groups + g] = (int32_t)((word >> ((r % pf) * (uint32_t)bits)) & mask) - offset;
            }
        free(raw);
        return to_kernel(m, 2, *zp, (size_t)count * sizeof **zp, (void **)d_zp, err);
    }
    int rc = read_floats(ck, zref, &zf, &n, bytes, err);
    if (rc != CK_OK)
        return rc;
    if (n != count)
        rc = ck_err_set(err, CK_EFORMAT, ck->shards[zref.shard].path, ckpt_tensor(ck, zref)->name, CK_NO_OFFSET,
                        "%llu zero points where the weight's scales make %llu (one per row and group): this tensor "
                        "does not belong to its weight; re-export the checkpoint", (unsigned long long)n,
                        (unsigned long long)count);
    else if (!(*zp = malloc((size_t)n * sizeof **zp)))
        rc = ck_err_set(err, CK_ENOMEM, NULL, ckpt_tensor(ck, zref)->name, CK_NO_OFFSET, "out of memory");
    for (uint64_t k = 0; *zp && k < n; k++)
        (*zp)[k] = (int32_t)zf[k];
    free(zf);
    *d_zp = *zp;
    return rc == CK_OK ? to_kernel(m, 2, *zp, (size_t)n * sizeof **zp, (void **)d_zp, err) : rc;
}

/* The words of an AWQ or GPTQ qweight (scratch slot 0) and its scales as floats (slots 2 and 3),
 * [*groups][outc] with *groups = in / group (1 when group is 0), each count checked. */
static int read_qweight_scales(const ck_checkpoint *ck, size_t i, ck_tensor_ref sref, uint64_t in, uint64_t outc,
                               int group, mem_ctx *m, void **raw, float **scale, uint64_t *groups, uint64_t *bytes,
                               ck_err *err)
{
    const st_tensor *ten = ckpt_tensor(ck, ck->tensors[i]);
    const char *path = ck->shards[ck->tensors[i].shard].path;
    uint64_t n;
    *groups = group ? in / (uint64_t)group : 1;
    if (!*groups || (group && in % (uint64_t)group))
        return ck_err_set(err, CK_EFORMAT, path, ten->name, CK_NO_OFFSET, "%llu input channels are not whole "
                          "groups of %d (quantization_config's group_size)", (unsigned long long)in, group);
    int rc = read_raw_to(ck, ck->tensors[i], m, 0, raw, bytes, err);
    if (rc == CK_OK && (rc = read_floats_to(ck, sref, m, 2, 3, scale, &n, bytes, err)) == CK_OK &&
        n != *groups * outc)
        rc = ck_err_set(err, CK_EFORMAT, path, ckpt_tensor(ck, sref)->name, CK_NO_OFFSET, "%llu scales for %llu "
                        "groups x %llu columns: the scales do not belong to this qweight; re-export the checkpoint",
                        (unsigned long long)n, (unsigned long long)*groups, (unsigned long long)outc);
    return rc;
}

/* gpt-oss's MXFP4 experts (quant_method "mxfp4"): X_blocks, uint8 [..., rows, groups, 16] (two
 * E2M1 codes a byte, the even element in the low nibble) beside X_scales, uint8 E8M0 exponents
 * [..., rows, groups], as float [..., rows, groups x 32] into *out (shape and *nd set): the same
 * codes and group scales as compressed-tensors' MXFP4, so the same kernel with no global scale. */
static int read_mx_blocks(const ck_checkpoint *ck, size_t i, mem_ctx *m, float **out, uint64_t *shape, unsigned *nd,
                          uint64_t *bytes, ck_err *err)
{
    const st_tensor *ten = ckpt_tensor(ck, ck->tensors[i]);
    const char *path = ck->shards[ck->tensors[i].shard].path;
    size_t blen = strlen(ten->name) - strlen("_blocks");
    ck_tensor_ref sref;
    if (!find_sibling(ck, ten->name, blen, "_scales", &sref))
        return ck_err_set(err, CK_EFORMAT, path, ten->name, CK_NO_OFFSET, "these MXFP4 blocks need '%.*s_scales' "
                          "beside them, which no shard holds (nor the index names): download the shard that holds "
                          "it", (int)blen, ten->name);
    if (ten->dtype != DT_U8 || ten->ndim < 3 || ten->ndim > PLAN_MAX_DIMS || ten->shape[ten->ndim - 1] != 16)
        return ck_err_set(err, CK_EFORMAT, path, ten->name, CK_NO_OFFSET, "MXFP4 blocks of %s with %u dims: not "
                          "uint8 [..., rows, groups, 16] (32 E2M1 codes per group, two a byte) as gpt-oss stores "
                          "them; 'ckptdoc lint' names the shape config.json makes", dtype_name(ten->dtype), ten->ndim);
    uint64_t rows = 1, groups = ten->shape[ten->ndim - 2], cols = groups * 32, n = 0;
    for (unsigned d = 0; d + 2 < ten->ndim; d++)
        rows *= ten->shape[d];
    void *raw = NULL;
    float *scale = NULL;
    int rc = read_raw_to(ck, ck->tensors[i], m, 0, &raw, bytes, err);
    if (rc == CK_OK && (rc = read_e8m0_to(ck, sref, m, &scale, &n, bytes, err)) == CK_OK && n != rows * groups)
        rc = ck_err_set(err, CK_EFORMAT, path, ckpt_tensor(ck, sref)->name, CK_NO_OFFSET, "%llu scales for %llu rows "
                        "x %llu groups of 32: the scales do not belong to these blocks; re-export the checkpoint",
                        (unsigned long long)n, (unsigned long long)rows, (unsigned long long)groups);
    if (rc == CK_OK)
        rc = mem_buf(m, 1, (size_t)(rows * cols) * sizeof **out, (void **)out, err);
    if (rc == CK_OK && ON_DEV(m))
        rc = kern_dequant_nvfp4_cuda(raw, rows, cols, scale, 32, 1.0f, *out, err);
    else if (rc == CK_OK)
        kern_dequant_nvfp4_ref(raw, rows, cols, scale, 32, 1.0f, *out);
    mem_release(m, raw);
    mem_release(m, scale);
    if (rc != CK_OK) {
        mem_release(m, *out);
        *out = NULL;
        return rc;
    }
    *nd = ten->ndim - 1;
    for (unsigned d = 0; d + 2 < ten->ndim; d++)
        shape[d] = ten->shape[d];
    shape[*nd - 1] = cols;
    return rc;
}

/* A quantized weight as float: compressed-tensors weight_packed (+ weight_scale, optional
 * weight_zero_point and weight_shape), a block-FP8 weight (+ weight_scale_inv) or gpt-oss's MXFP4
 * blocks (+ scales), dequantized with the kernels' reference. *shape gets [out, in] (*nd 2; more
 * dims for fused experts' blocks). 0 with *out NULL when `ten` is not one. */
static int read_dequant(const ck_checkpoint *ck, size_t i, const cfg_quant *q, mem_ctx *m, float **out,
                        uint64_t shape[PLAN_MAX_DIMS], unsigned *nd, uint64_t *bytes, ck_err *err)
{
    const st_tensor *ten = ckpt_tensor(ck, ck->tensors[i]);
    const char *path = ck->shards[ck->tensors[i].shard].path;
    size_t len = strlen(ten->name);
    ck_tensor_ref sref, wref;
    *out = NULL;
    *nd = 2;
    if (strcmp(q->method, "mxfp4") == 0)
        return ends_with(ten->name, len, "_blocks") ? read_mx_blocks(ck, i, m, out, shape, nd, bytes, err) : CK_OK;
    const char *dot = strrchr(ten->name, '.');
    if (ck->cfg.n_groups && dot && (size_t)(dot - ten->name) < 512) { /* its module's config group */
        char mod[512];
        snprintf(mod, sizeof mod, "%.*s", (int)(dot - ten->name), ten->name);
        if (!(q = config_scheme(&ck->cfg, mod, NULL)))
            return CK_OK; /* a module no group targets: stored unquantized */
    }
    void *raw = NULL;
    float *scale = NULL;
    uint64_t n;
    int rc = CK_OK;
    int mx = strcmp(q->fmt, "mxfp4-pack-quantized") == 0;
    if (ends_with(ten->name, len, ".weight_packed") && ten->dtype == DT_U8 &&
        (mx || strcmp(q->fmt, "nvfp4-pack-quantized") == 0)) {
        /* NVFP4: two E2M1 codes a byte, FP8 group scales, one global divisor; MXFP4: the same
         * codes, E8M0 group scales (2^(e - 127)), no global scale */
        size_t blen = len - strlen("_packed");
        ck_tensor_ref gref;
        int group = q->group_size > 0 ? q->group_size : mx ? 32 : 16;
        const char *fmt = mx ? "MXFP4" : "NVFP4", *lacks = NULL;
        if (!find_sibling(ck, ten->name, blen, "_scale", &sref))
            lacks = "_scale";
        else if (!mx && !find_sibling(ck, ten->name, blen, "_global_scale", &gref))
            lacks = "_global_scale";
        if (lacks)
            return ck_err_set(err, CK_EFORMAT, path, ten->name, CK_NO_OFFSET, "this %s weight needs '%.*s%s' beside "
                              "it, which no shard holds (nor the index names): download the shard that holds it, or "
                              "export the checkpoint again", fmt, (int)blen, ten->name, lacks);
        uint64_t rows = ten->ndim == 2 ? ten->shape[0] : 0, cols = ten->ndim == 2 ? ten->shape[1] * 2 : 0;
        if (ten->ndim != 2 || cols % (uint64_t)group)
            return ck_err_set(err, CK_EFORMAT, path, ten->name, CK_NO_OFFSET, "%s weight_packed with %u dims "
                              "and %llu columns: not [rows, columns / 2] bytes of whole groups of %d (group_size "
                              "of quantization_config): 'ckptdoc lint' names the shape config.json makes", fmt,
                              ten->ndim, (unsigned long long)cols, group);
        float *glob = NULL, one = 1;
        uint64_t ng = 1;
        if (mx)
            glob = &one;
        else if ((rc = read_floats(ck, gref, &glob, &ng, bytes, err)) == CK_OK && (ng != 1 || !(glob[0] > 0)))
            rc = ck_err_set(err, CK_EFORMAT, path, ckpt_tensor(ck, gref)->name, CK_NO_OFFSET, "%llu values%s: the "
                            "global scale is one positive number", (unsigned long long)ng,
                            ng == 1 ? ", not positive" : "");
        if (rc == CK_OK && (rc = read_raw_to(ck, ck->tensors[i], m, 0, &raw, bytes, err)) == CK_OK &&
            (rc = mx ? read_e8m0_to(ck, sref, m, &scale, &n, bytes, err) : read_floats_to(ck, sref, m, 2, 3, &scale, &n,
                                                                                         bytes, err)) == CK_OK &&
            n != rows * (cols / (uint64_t)group))
            rc = ck_err_set(err, CK_EFORMAT, path, ckpt_tensor(ck, sref)->name, CK_NO_OFFSET, "%llu scales for "
                            "%llu rows x %llu groups of %d: the scale does not belong to this weight; re-export "
                            "the checkpoint", (unsigned long long)n, (unsigned long long)rows,
                            (unsigned long long)(cols / (uint64_t)group), group);
        if (rc == CK_OK)
            rc = mem_buf(m, 1, (size_t)(rows * cols) * sizeof **out, (void **)out, err);
        if (rc == CK_OK && ON_DEV(m))
            rc = kern_dequant_nvfp4_cuda(raw, rows, cols, scale, group, glob[0], *out, err);
        else if (rc == CK_OK)
            kern_dequant_nvfp4_ref(raw, rows, cols, scale, group, glob[0], *out);
        if (!mx)
            free(glob);
        shape[0] = rows;
        shape[1] = cols;
    } else if (ends_with(ten->name, len, ".weight_packed")) {
        size_t blen = len - strlen("_packed");
        if (!find_sibling(ck, ten->name, blen, "_scale", &sref))
            return ck_err_set(err, CK_EFORMAT, path, ten->name, CK_NO_OFFSET, "no weight_scale beside it: the "
                              "index or a shard lacks it; download the shard that holds it or re-export");
        int bits = q->bits > 0 ? q->bits : 4, group = q->group_size > 0 ? q->group_size : 0;
        if (ten->dtype != DT_I32 || ten->ndim != 2 || bits > 8)
            return ck_err_set(err, CK_EFORMAT, path, ten->name, CK_NO_OFFSET, "weight_packed of %s with %u dims "
                              "(%d bits): not pack-quantized int32", dtype_name(ten->dtype), ten->ndim, bits);
        uint64_t rows = ten->shape[0], cols = ten->shape[1] * 32 / (uint64_t)bits;
        if (find_sibling(ck, ten->name, blen, "_shape", &wref)) {
            const st_tensor *ws = ckpt_tensor(ck, wref);
            int64_t dims[2];
            void *wr;
            if (ws->dtype == DT_I64 && elements(ws) == 2 && (rc = read_raw_to(ck, wref, NULL, 0, &wr, bytes, err)) == CK_OK) {
                memcpy(dims, wr, sizeof dims);
                free(wr);
                if (dims[0] == (int64_t)rows && dims[1] > 0 && (uint64_t)dims[1] <= cols)
                    cols = (uint64_t)dims[1];
            }
        }
        if (rc == CK_OK && kern_packed_words(cols, bits) != ten->shape[1])
            rc = ck_err_set(err, CK_EFORMAT, path, ten->name, CK_NO_OFFSET, "%llu columns of %d bits need %zu "
                            "int32 words per row, the tensor has %llu", (unsigned long long)cols, bits,
                            kern_packed_words(cols, bits), (unsigned long long)ten->shape[1]);
        uint64_t groups = group ? (cols + (uint64_t)group - 1) / (uint64_t)group : 1;
        int32_t *zp = NULL;
        if (rc == CK_OK && (rc = read_raw_to(ck, ck->tensors[i], m, 0, &raw, bytes, err)) == CK_OK &&
            (rc = read_floats_to(ck, sref, m, 2, 3, &scale, &n, bytes, err)) == CK_OK && n != rows * groups)
            rc = ck_err_set(err, CK_EFORMAT, path, ckpt_tensor(ck, sref)->name, CK_NO_OFFSET, "%llu scales for "
                            "%llu rows x %llu groups of %d: the scale does not belong to this weight (or "
                            "quantization_config's group_size is wrong); re-export the checkpoint",
                            (unsigned long long)n, (unsigned long long)rows, (unsigned long long)groups, group);
        int32_t *d_zp = NULL;
        if (rc == CK_OK)
            rc = read_zero_points(ck, ten->name, blen, rows, groups, bits, m, &zp, &d_zp, bytes, err);
        if (rc == CK_OK)
            rc = mem_buf(m, 1, (size_t)(rows * cols) * sizeof **out, (void **)out, err);
        if (rc == CK_OK && ON_DEV(m))
            rc = kern_dequant_packed_cuda(raw, rows, cols, bits, scale, group, d_zp, *out, err);
        else if (rc == CK_OK)
            kern_dequant_packed_ref(raw, rows, cols, bits, scale, group, zp, *out);
        free(zp);
        shape[0] = rows;
        shape[1] = cols;
    } else if (ten->dtype == DT_I8 && ten->ndim == 2 && ends_with(ten->name, len, ".weight") &&
               find_sibling(ck, ten->name, len, "_scale", &sref)) {
        /* compressed-tensors int-quantized: q itself, one scale per row, per group or per tensor */
        uint64_t rows = ten->shape[0], cols = ten->shape[1];
        int group = q->group_size > 0 ? q->group_size : 0;
        uint64_t groups = group ? (cols + (uint64_t)group - 1) / (uint64_t)group : 1;
        float *hs = NULL;
        int32_t *zp = NULL;
        if ((rc = read_raw_to(ck, ck->tensors[i], m, 0, &raw, bytes, err)) == CK_OK &&
            (rc = read_floats(ck, sref, &hs, &n, bytes, err)) == CK_OK && n != rows * groups && n != 1)
            rc = ck_err_set(err, CK_EFORMAT, path, ckpt_tensor(ck, sref)->name, CK_NO_OFFSET, "%llu scales for "
                            "%llu rows x %llu groups (or 1 for the tensor): the scale does not belong to this "
                            "weight (or quantization_config's group_size is wrong); re-export the checkpoint",
                            (unsigned long long)n, (unsigned long long)rows, (unsigned long long)groups);
        if (rc == CK_OK && n == 1 && rows * groups > 1) { /* per tensor: the same scale on every row */
            float *all = malloc((size_t)(rows * groups) * sizeof *all);
            if (!all)
                rc = ck_err_set(err, CK_ENOMEM, path, ten->name, CK_NO_OFFSET, "out of memory");
            for (uint64_t k = 0; all && k < rows * groups; k++)
                all[k] = hs[0];
            free(hs);
            hs = all;
        }
        float *d_s = hs;
        int32_t *d_zp = NULL;
        size_t ns = (size_t)(rows * groups);
        if (rc == CK_OK)
            rc = read_zero_points(ck, ten->name, len, rows, groups, 0, m, &zp, &d_zp, bytes, err);
        if (rc == CK_OK)
            rc = to_kernel(m, 3, hs, ns * sizeof *hs, (void **)&d_s, err);
        if (rc == CK_OK)
            rc = mem_buf(m, 1, (size_t)(rows * cols) * sizeof **out, (void **)out, err);
        if (rc == CK_OK && ON_DEV(m))
            rc = kern_dequant_int8_cuda(raw, rows, cols, d_s, group, d_zp, *out, err);
        else if (rc == CK_OK)
            kern_dequant_int8_ref(raw, rows, cols, hs, group, zp, *out);
        free(hs);
        free(zp);
        shape[0] = rows;
        shape[1] = cols;
    } else if (ends_with(ten->name, len, ".qweight") && strcmp(q->method, "awq") == 0) {
        /* AWQ GEMM: qweight [in][out/8], qzeros [in/group][out/8], scales [in/group][out] */
        size_t blen = len - strlen("qweight");
        ck_tensor_ref zref;
        int group = q->group_size > 0 ? q->group_size : 0;
        if (!find_sibling(ck, ten->name, blen, "scales", &sref) || !find_sibling(ck, ten->name, blen, "qzeros", &zref))
            return ck_err_set(err, CK_EFORMAT, path, ten->name, CK_NO_OFFSET, "an AWQ qweight needs its scales and "
                              "qzeros beside it: the index or a shard lacks them; download the shard that holds "
                              "them or re-export");
        if (ten->dtype != DT_I32 || ten->ndim != 2 || (q->bits && q->bits != 4))
            return ck_err_set(err, CK_EFORMAT, path, ten->name, CK_NO_OFFSET, "AWQ qweight of %s with %u dims (%d "
                              "bits): not AWQ's int32 GEMM layout of 4-bit values", dtype_name(ten->dtype), ten->ndim,
                              q->bits);
        uint64_t in = ten->shape[0], outc = ten->shape[1] * 8, groups;
        const st_tensor *zt = ckpt_tensor(ck, zref);
        void *zraw = NULL;
        int32_t *d_z = NULL;
        rc = read_qweight_scales(ck, i, sref, in, outc, group, m, &raw, &scale, &groups, bytes, err);
        if (rc == CK_OK && (zt->dtype != DT_I32 || zt->ndim != 2 || zt->shape[0] != groups || zt->shape[1] != ten->shape[1]))
            rc = ck_err_set(err, CK_EFORMAT, ck->shards[zref.shard].path, zt->name, CK_NO_OFFSET, "AWQ qzeros "
                            "must be int32 [%llu, %llu] beside qweight [%llu, %llu]; re-export the "
                            "checkpoint", (unsigned long long)groups,
                            (unsigned long long)ten->shape[1], (unsigned long long)in,
                            (unsigned long long)ten->shape[1]);
        if (rc == CK_OK)
            rc = read_raw_to(ck, zref, NULL, 0, &zraw, bytes, err);
        if (rc == CK_OK)
            rc = to_kernel(m, 2, zraw, (size_t)(groups * ten->shape[1]) * 4, (void **)&d_z, err);
        if (rc == CK_OK)
            rc = mem_buf(m, 1, (size_t)(in * outc) * sizeof **out, (void **)out, err);
        if (rc == CK_OK && ON_DEV(m))
            rc = kern_dequant_awq_cuda(raw, d_z, scale, in, outc, group, *out, err);
        else if (rc == CK_OK)
            kern_dequant_awq_ref(raw, zraw, scale, in, outc, group, *out);
        free(zraw);
        shape[0] = outc;
        shape[1] = in;
    } else if (ends_with(ten->name, len, ".qweight") && strcmp(q->method, "gptq") == 0) {
        /* GPTQ (symmetric, checkpoint_format "gptq"): qweight [in/pf][out], scales [groups][out];
         * vLLM reads neither qzeros (the zero point is 2^(bits-1)) nor g_idx (without desc_act) */
        size_t blen = len - strlen("qweight");
        int bits = q->bits > 0 ? q->bits : 4, group = q->group_size > 0 ? q->group_size : 0;
        if (!find_sibling(ck, ten->name, blen, "scales", &sref))
            return ck_err_set(err, CK_EFORMAT, path, ten->name, CK_NO_OFFSET, "a GPTQ qweight needs its scales "
                              "beside it: the index or a shard lacks them; download the shard that holds them or "
                              "re-export");
        if (ten->dtype != DT_I32 || ten->ndim != 2 || (bits != 4 && bits != 8) || q->symmetric == 0 ||
            q->desc_act == 1)
            return ck_err_set(err, CK_EUSAGE, path, ten->name, CK_NO_OFFSET, "GPTQ qweight of %s with %u dims, %d "
                              "bits%s%s: this version dequantizes symmetric 4- and 8-bit GPTQ without desc_act",
                              dtype_name(ten->dtype), ten->ndim, bits, q->symmetric == 0 ? ", asymmetric" : "",
                              q->desc_act == 1 ? ", desc_act" : "");
        uint64_t in = ten->shape[0] * (32 / (uint64_t)bits), outc = ten->shape[1], groups;
        rc = read_qweight_scales(ck, i, sref, in, outc, group, m, &raw, &scale, &groups, bytes, err);
        if (rc == CK_OK)
            rc = mem_buf(m, 1, (size_t)(in * outc) * sizeof **out, (void **)out, err);
        if (rc == CK_OK && ON_DEV(m))
            rc = kern_dequant_gptq_cuda(raw, scale, NULL, in, outc, bits, group, *out, err);
        else if (rc == CK_OK)
            kern_dequant_gptq_ref(raw, scale, NULL, in, outc, bits, group, *out);
        shape[0] = outc;
        shape[1] = in;
    } else if (ten->dtype == DT_F8_E4M3 && ten->ndim == 2 && ends_with(ten->name, len, ".weight") &&
               (find_sibling(ck, ten->name, len, "_scale_inv", &sref) ||
                find_sibling(ck, ten->name, len, "_scale", &sref))) {
        /* block-FP8 (weight_scale_inv per block), or compressed-tensors float-quantized
         * (weight_scale per output channel, or one for the tensor): a channel is a block of one row
         * and every column, the tensor one block of all */
        uint64_t rows = ten->shape[0], cols = ten->shape[1];
        int scale_inv = ends_with(ckpt_tensor(ck, sref)->name, strlen(ckpt_tensor(ck, sref)->name), "_scale_inv");
        uint64_t ns = elements(ckpt_tensor(ck, sref));
        int bn = q->block[0] > 0 ? q->block[0] : 128, bk = q->block[1] > 0 ? q->block[1] : 128;
        if (!scale_inv && ns == rows && q->group_size <= 0)
            bn = 1, bk = (int)cols;
        else if (!scale_inv && ns == 1)
            bn = (int)rows, bk = (int)cols;
        if ((rc = read_raw_to(ck, ck->tensors[i], m, 0, &raw, bytes, err)) == CK_OK &&
            (rc = read_floats_to(ck, sref, m, 2, 3, &scale, &n, bytes, err)) == CK_OK &&
            n != ((rows + (uint64_t)bn - 1) / (uint64_t)bn) * ((cols + (uint64_t)bk - 1) / (uint64_t)bk))
            rc = ck_err_set(err, CK_EFORMAT, path, ckpt_tensor(ck, sref)->name, CK_NO_OFFSET, "%llu scales for a "
                            "[%llu x %llu] weight in %dx%d blocks: the scale does not belong to this weight (or "
                            "quantization_config's weight_block_size is wrong); re-export the checkpoint",
                            (unsigned long long)n, (unsigned long long)rows, (unsigned long long)cols, bn, bk);
        if (rc == CK_OK)
            rc = mem_buf(m, 1, (size_t)(rows * cols) * sizeof **out, (void **)out, err);
        if (rc == CK_OK && ON_DEV(m))
            rc = kern_dequant_fp8_block_cuda(raw, rows, cols, scale, bn, bk, *out, err);
        else if (rc == CK_OK)
            kern_dequant_fp8_block_ref(raw, rows, cols, scale, bn, bk, *out);
        shape[0] = rows;
        shape[1] = cols;
    }
    mem_release(m, raw);
    mem_release(m, scale);
    if (rc != CK_OK) {
        mem_release(m, *out);
        *out = NULL;
    }
    return rc;
}

/* Tensors consumed with the weight they quantize. */
static int is_quant_companion(const char *name)
{
    static const char *const suf[] = {".weight_scale", ".weight_zero_point", ".weight_shape", ".weight_scale_inv",
                                      ".input_scale", ".weight_g_idx", ".qzeros", ".scales", ".g_idx",
                                      ".weight_global_scale", ".input_global_scale"};
    size_t len = strlen(name);
    for (unsigned k = 0; k < sizeof suf / sizeof *suf; k++)
        if (ends_with(name, len, suf[k]))
            return 1;
    return 0;
}

/* gpt-oss's MXFP4 X_scales, read with the X_blocks beside it. */
static int mx_scales_of_blocks(const ck_checkpoint *ck, const char *name, size_t len)
{
    ck_tensor_ref ref;
    return ends_with(name, len, "_scales") && find_sibling(ck, name, len - strlen("_scales"), "_blocks", &ref);
}

/* The checkpoint tensor being placed, for errors: its file and key. */
typedef struct {
    const char *file;      /* the shard's path */
    const char *key;       /* the checkpoint's name (a packed weight's, when it is read dequantized) */
    const st_tensor *ten;  /* the shape it is cut by (the dequantized weight's) */
} src_tensor;

/* A tensor whose shape does not fit its parameter's local block: names the file, the key, the
 * parameter and what to do. Returns CK_EFORMAT. */
static int misfit(const src_tensor *t, const plan_param *pp, const char *what, uint64_t lrows, uint64_t lcols,
                  ck_err *err)
{
    return ck_err_set(err, CK_EFORMAT, t->file, t->key, CK_NO_OFFSET, "%s does not fit the local [%llu x %llu] "
                      "of parameter '%s': the tensor's shape is not what config.json makes; 'ckptdoc lint DIR' "
                      "lists every key whose shape differs", what, (unsigned long long)lrows,
                      (unsigned long long)lcols, pp->name);
}

/* What cut c of one checkpoint tensor (rows x cols as stored) copies into a local block of
 * lrows x lcols values (the parameter, or its expert's slot), as shard.h describes the cut:
 * height rows of width values, from src_off of the tensor (or of the cut alone, cut_only: what
 * read_own_cut read, its rows or its band of columns) src_pitch apart, to dst_off dst_pitch apart,
 * all counted in values; filled: the values of the block it fills. A tensor is cut only when its
 * extent along the cut is the one config.json makes (c->full): a smaller config must not
 * silently take a prefix. */
typedef struct {
    uint64_t src_off, src_pitch, dst_off, dst_pitch, width, height, filled;
} cut_copy;

static int cut_plan(const src_tensor *t, const plan_param *pp, const shard_slice *c, int cut_only, uint64_t rows,
                    uint64_t cols, uint64_t lrows, uint64_t lcols, cut_copy *k, ck_err *err)
{
    char what[160];
    memset(k, 0, sizeof *k);
    if (c->dim == -1 && c->part < 0) {
        snprintf(what, sizeof what, "the whole [%llu x %llu] tensor", (unsigned long long)rows,
                 (unsigned long long)cols);
        if (rows * cols != lrows * lcols)
            return misfit(t, pp, what, lrows, lcols, err);
        *k = (cut_copy){0, 0, 0, 0, lrows * lcols, 1, lrows * lcols};
        return CK_OK;
    }
    if (c->dim == 1) {
        snprintf(what, sizeof what, "the [%llu x %llu] tensor, cut into columns [%lld, %lld) where config.json "
                 "makes %lld columns,", (unsigned long long)rows, (unsigned long long)cols, (long long)c->start,
                 (long long)(c->start + c->len), (long long)c->full);
        /* a share rounded up to whole units (tp_granule) may be short of the block: padding, zero */
        if (rows != lrows || cols != (uint64_t)c->full || (uint64_t)c->len > lcols ||
            (!c->padded && (uint64_t)c->len != lcols) || (uint64_t)(c->start + c->len) > cols)
            return misfit(t, pp, what, lrows, lcols, err);
        *k = (cut_copy){cut_only ? 0 : (uint64_t)c->start, cut_only ? (uint64_t)c->len : cols, 0, lcols,
                        (uint64_t)c->len, rows, rows * lcols};
        return CK_OK;
    }
    /* rows: a cut of them, or a whole fused part at its offset */
    uint64_t r0 = (uint64_t)c->start, n = (uint64_t)c->len;
    snprintf(what, sizeof what, "the [%llu x %llu] tensor, cut into rows [%llu, %llu) placed from row %lld where "
             "config.json makes %lld rows,", (unsigned long long)rows, (unsigned long long)cols,
             (unsigned long long)r0, (unsigned long long)(r0 + n), (long long)c->dst, (long long)c->full);
    if (rows != (uint64_t)c->full || cols != lcols || (c->part >= 0 && (r0 + n > rows || (uint64_t)c->dst + n > lrows)) ||
        (c->part < 0 && (uint64_t)c->dst + n > lrows))
        return misfit(t, pp, what, lrows, lcols, err);
    /* vocabulary padding rows (beyond the tensor's) stay zero, as do the rows a share rounded up
     * to whole units (tp_granule) lacks */
    uint64_t nr = r0 >= rows ? 0 : rows - r0 < n ? rows - r0 : n;
    *k = (cut_copy){cut_only ? 0 : r0 * cols, 0, (uint64_t)c->dst * lcols, 0, nr * cols, nr ? 1 : 0,
                    (c->part < 0 ? lrows : n) * lcols};
    return CK_OK;
}

/* Copies cut c of one checkpoint tensor (src, of dtype sdt, rows x cols as stored) into the local
 * block at dst (values of dtype ddt), as cut_plan says; adds the values it fills to *filled. */
static int place_cut(const src_tensor *t, const plan_param *pp, const shard_slice *c, const void *src,
                     ck_dtype sdt, int cut_only, uint64_t rows, uint64_t cols, void *dst, ck_dtype ddt,
                     uint64_t lrows, uint64_t lcols, uint64_t *filled, const mem_ctx *m, ck_err *err)
{
    cut_copy k;
    int rc = cut_plan(t, pp, c, cut_only, rows, cols, lrows, lcols, &k, err);
    if (rc != CK_OK)
        return rc;
    *filled += k.filled;
    return put_rows(m, (uint8_t *)dst + (size_t)k.dst_off * (dtype_bits(ddt) / 8), ddt, (size_t)k.dst_pitch,
                    (const uint8_t *)src + (size_t)k.src_off * (dtype_bits(sdt) / 8), sdt, (size_t)k.src_pitch,
                    (size_t)k.width, (size_t)k.height, err);
}

/* blocks x [a, b] of floats at *v transposed into slot `to` (on the device: queued behind the
 * conversion on the load stream); *v then points at them. */
static int transpose_blocks(mem_ctx *m, float **v, uint64_t blocks, uint64_t a, uint64_t b, int to, ck_err *err)
{
    float *dst = NULL;
    void *stream;
    int rc = mem_buf(m, to, (size_t)(blocks * a * b) * sizeof *dst, (void **)&dst, err);
    if (rc != CK_OK)
        return rc;
    if (!ON_DEV(m))
        kern_transpose_last2_ref(*v, (size_t)blocks, (size_t)a, (size_t)b, dst);
    else if ((rc = kdev_stream(&stream, err)) != CK_OK ||
             (rc = kern_transpose_last2_cuda_async(*v, (size_t)blocks, (size_t)a, (size_t)b, dst, stream, err)) != CK_OK)
        return rc;
    mem_release(m, *v);
    *v = dst;
    return CK_OK;
}

/* Tensor t's floats at *v (in the context's slot 1) with their last two dims swapped, into slot 2
 * (on the device when the load runs there); *v then points at them. */
static int transpose_last2(mem_ctx *m, float **v, const st_tensor *t, ck_err *err)
{
    uint64_t blocks = 1;
    for (uint32_t d = 0; d + 2 < t->ndim; d++)
        blocks *= t->shape[d];
    return transpose_blocks(m, v, blocks, t->shape[t->ndim - 2], t->shape[t->ndim - 1], 2, err);
}

/* The rows of a [rows, cols] tensor, in heads of hd, from interleaved rotary pairs (2i, 2i + 1)
 * to halves (i, i + hd / 2): each head's even rows, then its odd ones, copied into slot 3 (free
 * once the scales of a dequantization are consumed; on the device, on the load stream); *v then
 * points at them. */
static int rotary_pairs_to_halves(mem_ctx *m, float **v, uint64_t rows, uint64_t cols, uint64_t hd, ck_err *err)
{
    float *dst = NULL;
    size_t row = (size_t)cols * sizeof *dst;
    int rc = mem_buf(m, 3, (size_t)rows * row, (void **)&dst, err);
    for (uint64_t h = 0; rc == CK_OK && h < rows / hd; h++)
        for (uint64_t odd = 0; rc == CK_OK && odd < 2; odd++)
            rc = mem_copy2d(m, dst + (h * hd + odd * (hd / 2)) * cols, row, *v + (h * hd + odd) * cols, 2 * row, row,
                            (size_t)(hd / 2), err);
    if (rc != CK_OK)
        return rc;
    mem_release(m, *v);
    *v = dst;
    return CK_OK;
}

/* How many fused parts the tensor e maps fills from e->part on: 1 for one (or none), more for a
 * key rule's "parts" (one tensor that holds several, split as it loads). */
static int key_parts(const plan *p, const keymap_entry *e)
{
    return e->rule >= 0 ? rules_key_span(&p->rules->keys[e->rule]) : 1;
}

/* Places TP rank `rank`'s cut of checkpoint tensor t (filling `part` of lp's parameter, and the
 * span - 1 parts after it, of routed expert e or -1) into lp; a routed expert this rank does not
 * hold is skipped. copies: the tensor fills each of those parts whole. cut_only: src is that cut
 * alone, as read_own_cut read it. */
static int place(const plan *p, load_param *lp, const char *part, int span, int copies, int64_t e, const void *src,
                 ck_dtype sdt, int cut_only, const src_tensor *t, int rank, const mem_ctx *m, ck_err *err)
{
    const size_t es = dtype_bits(sdt) / 8;
    const plan_param *pp = lp->pp;
    const rules_param *rt = &p->rules->params[pp->tmpl];
    const st_tensor *ten = t->ten;
    uint64_t rows = ten->ndim ? ten->shape[0] : 1, cols = 1;
    for (uint32_t d = 1; d < ten->ndim; d++)
        cols *= ten->shape[d];
    shard_slice c;
    if (pp->experts && e < 0) {
        /* every expert stacked on dim 0 (GraniteMoE's input_linear, vLLM's fused [E, ...] expert
         * tensors): each expert's [rows, cols] in turn */
        if (ten->ndim < 2 || ten->shape[0] != (uint64_t)pp->experts)
            return ck_err_set(err, CK_EFORMAT, t->file, t->key, CK_NO_OFFSET, "fills routed-expert parameter "
                              "'%s' without an expert index, so it must hold all %lld experts on its first dim; "
                              "its shape does not: 'ckptdoc lint DIR' says what config.json expects",
                              pp->name, (long long)pp->experts);
        st_tensor sub = *ten;
        sub.shape = ten->shape + 1;
        sub.ndim = ten->ndim - 1;
        src_tensor one = *t;
        one.ten = &sub;
        uint64_t per = 1;
        for (uint32_t d = 0; d < sub.ndim; d++)
            per *= sub.shape[d];
        for (int64_t x = 0; x < pp->experts; x++) {
            int rc = place(p, lp, part, span, copies, x, (const uint8_t *)src + (size_t)((uint64_t)x * per) * es, sdt, 0, &one,
                           rank, m, err);
            if (rc != CK_OK)
                return rc;
        }
        return CK_OK;
    }
    /* the block the cut lands in: the parameter (floats, or its compact values), or its expert's slot */
    ck_dtype ddt = lp->half ? lp->half_dt : DT_F32;
    uint8_t *dst = lp->half ? lp->half : (void *)lp->data;
    uint64_t lrows = pp->ndim ? pp->local[0] : 1, lcols = pp->ndim > 1 ? lp->n / pp->local[0] : 1;
    if (pp->experts && e >= lp->expert0 && e < lp->expert0 + lp->n_experts) {
        dst += (size_t)((uint64_t)(e - lp->expert0) * (lp->n / pp->local[0])) * (dtype_bits(ddt) / 8);
        lrows = pp->local[1];
        lcols = pp->ndim > 2 ? pp->local[2] : 1;
    }
    int k0 = part ? rules_part_index(rt, part) : 0, k1 = !part ? rt->n_parts : k0 + span;
    if ((!part && rt->n_parts) || (span > 1 && k0 >= 0 && k1 <= rt->n_parts)) {
        /* a checkpoint that ships the fused tensor (qkv_proj, gate_up_proj, an expert's w13), or
         * several parts of it in one (Qwen3.5's in_proj_qkv): vLLM's weight loader splits it into
         * its parts by their sizes and loads each as that part */
        /* a key rule's "copies": each part is the whole tensor (Gemma 4's k_proj as k and v) */
        uint64_t off = 0;
        for (int k = k0; k < k1; k++) {
            int rc = shard_slice_of(p, pp, rt->parts[k].id, e, rank, &c, err);
            if (rc != CK_OK || c.dim == -2)
                return rc; /* -2: an expert another rank holds */
            if (copies ? (uint64_t)c.full != rows : off + (uint64_t)c.full > rows)
                return misfit(t, pp, copies ? "the tensor, whose rows are not those of each part it fills,"
                                            : "the fused tensor, whose rows are not its parts' added up,",
                              lrows, lcols, err);
            if ((rc = place_cut(t, pp, &c, (const uint8_t *)src + (size_t)(off * cols) * es, sdt, 0,
                                (uint64_t)c.full, cols, dst, ddt, lrows, lcols, &lp->filled, m, err)) != CK_OK)
                return rc;
            off += copies ? 0 : (uint64_t)c.full;
        }
        if (!copies && off != rows)
            return misfit(t, pp, "the fused tensor, whose rows are not its parts' added up,", lrows, lcols, err);
        return CK_OK;
    }
    int rc = shard_slice_of(p, pp, part, e, rank, &c, err);
    if (rc != CK_OK || c.dim == -2)
        return rc; /* -2: an expert another rank holds */
    if (c.dim == SLICE_ZEROS) { /* zeros on this rank: its block stays as allocated */
        lp->filled += lrows * lcols;
        return CK_OK;
    }
    return place_cut(t, pp, &c, src, sdt, cut_only, rows, cols, dst, ddt, lrows, lcols, &lp->filled, m, err);
}

/* What cut k copies of tensor ref (k->height rows of k->width values, from k->src_off of the
 * tensor, k->src_pitch apart, all as stored) read from its file into dst, rows dst_pitch values
 * apart: one read when the rows are contiguous, else one per row. Adds the bytes to *bytes. On
 * the host: a one-rank load's cut alone, into a buffer or straight into a compact parameter. */
static int read_cut_to(const ck_checkpoint *ck, ck_tensor_ref ref, const cut_copy *k, void *dst, uint64_t dst_pitch,
                       uint64_t *bytes, ck_err *err)
{
    const ck_shard *sh = &ck->shards[ref.shard];
    const st_tensor *t = ckpt_tensor(ck, ref);
    size_t es = dtype_bits(t->dtype) / 8, want = (size_t)(k->width * k->height) * es;
    const char *why;
    uint64_t base = sh->h.data_start + t->begin, off = base + k->src_off * es;
    int fd = ck_open_ro(sh->path, &why);
    if (fd < 0)
        return ck_err_set(err, CK_EIO, sh->path, t->name, off, "cannot open: %s", why);
    int whole = k->height <= 1 || (k->src_pitch == k->width && dst_pitch == k->width), bad = 0;
    if (whole)
        bad = want && ck_pread_par(fd, dst, want, off, 0) != 0;
    for (uint64_t r = 0; !whole && r < k->height && !bad; r++) {
        off = base + (k->src_off + r * k->src_pitch) * es;
        want = (size_t)k->width * es;
        bad = ck_pread_full(fd, (uint8_t *)dst + (size_t)(r * dst_pitch) * es, want, off) != 0;
    }
    int saved = errno;
    close(fd);
    if (bad)
        return ck_err_set(err, CK_EIO, sh->path, t->name, off, "cannot read %zu bytes: %s", want,
                          saved ? strerror(saved) : "the file ends early");
    *bytes += k->width * k->height * es;
    return CK_OK;
}

/* Rows [r0, r0 + nr) x columns [c0, c0 + nc) of tensor ref seen as [rows, cols], compact, into
 * slot 0 at *out, in the stored dtype. */
static int read_cut_raw(const ck_checkpoint *ck, ck_tensor_ref ref, uint64_t cols, uint64_t r0, uint64_t nr,
                        uint64_t c0, uint64_t nc, mem_ctx *m, void **out, uint64_t *bytes, ck_err *err)
{
    cut_copy k = {r0 * cols + c0, cols, 0, nc, nc, nr, 0};
    int rc = mem_buf(m, 0, (size_t)(nr * nc) * (dtype_bits(ckpt_tensor(ck, ref)->dtype) / 8), out, err);
    return rc == CK_OK ? read_cut_to(ck, ref, &k, *out, nc, bytes, err) : rc;
}

/* When one rank is loaded (a process of its own), checkpoint tensor i, mapped by e into lp, is
 * read as that rank's cut alone where the cut is a band of rows or of columns of a tensor stored
 * as it is used: *cut 1 and the cut's stored bytes at *out. *cut 2: the rank takes nothing of it (an
 * expert another rank holds, or zeros), so nothing is read. *cut 0: read it whole (a whole or
 * fused tensor, one reordered on the way, a shape place() must name as wrong). */
static int read_own_cut(const ck_checkpoint *ck, size_t i, const plan *p, const load_param *lp, const keymap_entry *e,
                        int rank, mem_ctx *m, void **out, int *cut, uint64_t *bytes, ck_err *err)
{
    const plan_param *pp = lp->pp;
    const rules_param *rt = &p->rules->params[pp->tmpl];
    const st_tensor *t = ckpt_tensor(ck, ck->tensors[i]);
    *cut = 0;
    if ((e->rule >= 0 && (p->rules->keys[e->rule].transposed || p->rules->keys[e->rule].rotary_pairs)) ||
        (pp->experts && e->expert < 0) || (!e->part && rt->n_parts) || key_parts(p, e) > 1 || t->ndim < 1 ||
        dtype_bits(t->dtype) % 8 || !dtype_bits(t->dtype) || !kern_convert_supported(t->dtype))
        return CK_OK;
    shard_slice c;
    ck_err ignored;
    if (shard_slice_of(p, pp, e->part, e->expert, rank, &c, &ignored) != CK_OK)
        return CK_OK; /* place() says what is wrong */
    if (c.dim == -2 || c.dim == SLICE_ZEROS) {
        *cut = 2;
        return CK_OK;
    }
    uint64_t rows = t->shape[0], cols = 1;
    for (uint32_t d = 1; d < t->ndim; d++)
        cols *= t->shape[d];
    if (c.dim == 0 && rows == (uint64_t)c.full) {
        uint64_t r0 = (uint64_t)c.start, n = (uint64_t)c.len, nr = r0 >= rows ? 0 : rows - r0 < n ? rows - r0 : n;
        *cut = 1;
        return read_cut_raw(ck, ck->tensors[i], cols, nr ? r0 : 0, nr, 0, cols, m, out, bytes, err);
    }
    if (c.dim == 1 && cols == (uint64_t)c.full && (uint64_t)(c.start + c.len) <= cols) {
        *cut = 1;
        return read_cut_raw(ck, ck->tensors[i], cols, 0, rows, (uint64_t)c.start, (uint64_t)c.len, m, out, bytes, err);
    }
    return CK_OK;
}

/* A host parameter of n floats, zeroed: a large one in pages of its own (mmap, already zero, in
 * huge pages where the kernel gives them), so that nothing clears it before the load writes it
 * and it costs few page faults; a small one from the heap. */
enum { PARAM_MAP_MIN = 1 << 20 };

static void *param_alloc(size_t bytes)
{
    bytes = bytes ? bytes : 1;
    if (bytes < PARAM_MAP_MIN)
        return calloc(1, bytes);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

static void param_free(void *data, size_t bytes)
{
    bytes = bytes ? bytes : 1;
    if (data && bytes >= PARAM_MAP_MIN)
        munmap(data, bytes);
    else
        free(data);
}

/* The floats made of compact parameters for a forward: blocks kept from one layer to the next
 * (the next layer's matrices have the same sizes, so they take the same blocks again). */
typedef struct rank_scratch {
    struct {
        float *p;
        size_t cap; /* floats */
        int used;
    } *b;
    size_t n, cap;
} rank_scratch;

static void scratch_free(rank_scratch *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        param_free(s->b[i].p, s->b[i].cap * sizeof(float));
    free(s->b);
    free(s);
}

/* A free block of at least n floats (the smallest that fits), or a new one; NULL: out of memory. */
static float *scratch_take(rank_scratch *s, size_t n)
{
    size_t best = s->n;
    for (size_t i = 0; i < s->n; i++)
        if (!s->b[i].used && s->b[i].cap >= n && (best == s->n || s->b[i].cap < s->b[best].cap))
            best = i;
    if (best == s->n) {
        if (s->n == s->cap) {
            size_t cap = s->cap ? 2 * s->cap : 16;
            void *nb = realloc(s->b, cap * sizeof *s->b);
            if (!nb)
                return NULL;
            s->b = nb;
            s->cap = cap;
        }
        float *p = param_alloc((n ? n : 1) * sizeof(float));
        if (!p)
            return NULL;
        s->b[s->n].p = p;
        s->b[s->n].cap = n ? n : 1;
        s->b[s->n].used = 0;
        s->n++;
    }
    s->b[best].used = 1;
    return s->b[best].p;
}

const float *load_param_floats(const rank_load *r, const load_param *lp, ck_err *err)
{
    if (lp->data || !lp->half)
        return lp->data;
    float *f = r->scratch ? scratch_take(r->scratch, (size_t)lp->n) : NULL;
    if (!f) {
        ck_err_set(err, CK_ENOMEM, NULL, lp->pp->name, CK_NO_OFFSET, "out of memory converting parameter '%s' "
                   "(%llu values) to floats for the forward pass", lp->pp->name, (unsigned long long)lp->n);
        return NULL;
    }
    convert_par(lp->half_dt, lp->half, (size_t)lp->n, f);
    return f;
}

void load_param_rows(const load_param *lp, uint64_t cols, uint64_t row0, uint64_t nrows, float *out)
{
    if (lp->half)
        kern_convert_ref(lp->half_dt, (const uint8_t *)lp->half + (size_t)(row0 * cols) * 2, (size_t)(nrows * cols), out);
    else if (lp->data)
        memcpy(out, lp->data + row0 * cols, (size_t)(nrows * cols) * sizeof *out);
}

void rank_scratch_reset(const rank_load *r)
{
    for (size_t i = 0; r && r->scratch && i < r->scratch->n; i++)
        r->scratch->b[i].used = 0;
}

uint64_t rank_held_bytes(const rank_load *r)
{
    uint64_t b = 0;
    for (size_t i = 0; r && i < r->n; i++)
        b += r->params[i].half ? r->params[i].n * 2 : r->params[i].data ? r->params[i].n * sizeof(float) : 0;
    return b;
}

/* Which parameters of the stage a compact load holds in 16 bits: out[i] the dtype of parameter i,
 * or 0 (floats). A matrix (2 dims), or routed experts' matrices (3 dims), all of whose tensors are
 * stored BF16, or all F16, and put in place as they are stored. */
static int compact_params(const ck_checkpoint *ck, const plan *p, const plan_stage *st, const keymap *km,
                          int64_t layer, int *out, ck_err *err)
{
    for (size_t i = 0; i < ck->n_tensors; i++) {
        const st_tensor *t = ckpt_tensor(ck, ck->tensors[i]);
        keymap_entry e;
        sim_mapping mp;
        size_t pi;
        if (!keymap_get(km, i, &e)) {
            if (simulate_map_key(p, t->name, &mp, err) != CK_OK)
                return err->code;
            keymap_entry_of(&mp, &e);
        }
        if (e.skip >= 0 || !e.param || !strmap_get(&st->by_name, e.param, &pi) ||
            (layer >= 0 && st->params[pi].layer != layer))
            continue;
        int reorder = e.rule >= 0 && (p->rules->keys[e.rule].transposed || p->rules->keys[e.rule].rotary_pairs);
        int dt = (t->dtype == DT_BF16 || t->dtype == DT_F16) && !reorder ? (int)t->dtype : -1;
        out[pi] = out[pi] == 0 ? dt : out[pi] == dt ? dt : -1; /* -1: mixed, floats */
    }
    for (size_t i = 0; i < st->n; i++) {
        const plan_param *pp = &st->params[i];
        uint64_t n = 1;
        for (int d = 0; d < pp->ndim; d++)
            n *= pp->local[d];
        if (out[i] <= 0 || !((pp->ndim == 2 && !pp->experts) || (pp->ndim == 3 && pp->experts)) || !n)
            out[i] = 0;
    }
    return CK_OK;
}

/* One rank loaded alone on the host: a compact parameter's cut of tensor i (stored in its dtype)
 * read from the file straight into its place, no buffer between. *done 1 when it was; 0 when the
 * cut is not rows or columns of one tensor as stored (a fused tensor, experts, a shape place()
 * must name as wrong), which the usual path then takes. */
static int read_direct(const ck_checkpoint *ck, size_t i, const plan *p, load_param *lp, const keymap_entry *e,
                       int rank, int *done, uint64_t *bytes, ck_err *err)
{
    const plan_param *pp = lp->pp;
    const st_tensor *t = ckpt_tensor(ck, ck->tensors[i]);
    const ck_shard *sh = &ck->shards[ck->tensors[i].shard];
    *done = 0;
    if (!lp->half || t->dtype != lp->half_dt || pp->experts || (!e->part && p->rules->params[pp->tmpl].n_parts) ||
        key_parts(p, e) > 1 ||
        t->ndim < 1 || pp->ndim != 2 || !pp->local[0])
        return CK_OK;
    shard_slice c;
    cut_copy k;
    ck_err ignored;
    uint64_t rows = t->shape[0], cols = 1;
    for (uint32_t d = 1; d < t->ndim; d++)
        cols *= t->shape[d];
    src_tensor from = {sh->path, t->name, t};
    if (shard_slice_of(p, pp, e->part, e->expert, rank, &c, &ignored) != CK_OK || c.dim < -1 ||
        cut_plan(&from, pp, &c, 0, rows, cols, pp->local[0], lp->n / pp->local[0], &k, &ignored) != CK_OK)
        return CK_OK;
    int rc = read_cut_to(ck, ck->tensors[i], &k, (uint8_t *)lp->half + k.dst_off * 2, k.dst_pitch, bytes, err);
    if (rc != CK_OK)
        return rc;
    lp->filled += k.filled;
    *done = 1;
    return CK_OK;
}

/* The kernel clears every fresh page a load writes, which costs as much as the copy out of the
 * page cache: a helper thread has the kernel fault in the compact parameters' pages
 * (MADV_POPULATE_WRITE, which leaves their contents alone) while the load reads into them, so
 * both run at once. Nothing happens where the kernel does not know the advice. */
typedef struct {
    const rank_load *r;
    pthread_t tid;
    int started;
} prefault_job;

static void *prefault_run(void *arg)
{
    const prefault_job *j = arg;
#ifdef MADV_POPULATE_WRITE
    long page = sysconf(_SC_PAGESIZE);
    for (size_t i = 0; page > 0 && i < j->r->n; i++) {
        const load_param *lp = &j->r->params[i];
        size_t bytes = (size_t)lp->n * 2;
        if (!lp->half || bytes < PARAM_MAP_MIN) /* its own pages (param_alloc) */
            continue;
        if (madvise(lp->half, bytes, MADV_POPULATE_WRITE) != 0)
            break; /* an older kernel: the load faults them in itself */
    }
#else
    (void)j;
#endif
    return NULL;
}

/* Allocates rank `tp_rank`'s buffers of the stage. */
static int alloc_rank(const plan *p, int stage, int tp_rank, int64_t layer, int device, const int *compact,
                      rank_load *out, ck_err *err)
{
    memset(out, 0, sizeof *out);
    out->device = device;
    const plan_stage *st = &p->stages[stage];
    out->stage = stage;
    out->tp_rank = tp_rank;
    out->params = calloc(st->n ? st->n : 1, sizeof *out->params);
    if (!out->params)
        return ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    out->n = st->n;
    for (size_t i = 0; i < st->n; i++) {
        const plan_param *pp = &st->params[i];
        load_param *lp = &out->params[i];
        lp->pp = pp;
        if (pp->suffix >= 0 && strcmp(pp->quant->suffixes[pp->suffix].suffix, "weight") != 0)
            return ck_err_set(err, CK_EUSAGE, p->rules->path, pp->name, CK_NO_OFFSET, "quantized parameters "
                              "(%s) are not loaded by this version", pp->quant->suffixes[pp->suffix].suffix);
        if (layer >= 0 && pp->layer != layer)
            continue; /* not loaded: data NULL, nothing expected */
        uint64_t n = 1;
        for (int d = 0; d < pp->ndim; d++)
            n *= pp->local[d];
        lp->n = n;
        lp->expect = p->rules->params[pp->tmpl].buffer ? 0 : n; /* a buffer keeps its default where not stored */
        if (pp->experts) {
            shard_expert_range(p, pp->experts, tp_rank, &lp->expert0, &lp->n_experts);
            lp->expect = n / pp->local[0] * (uint64_t)lp->n_experts;
        }
        if (device) {
            if (kdev_alloc((void **)&lp->data, (size_t)(n ? n : 1) * sizeof *lp->data, err) != CK_OK) {
                snprintf(err->key, sizeof err->key, "%s", pp->name);
                return err->code;
            }
        } else if (compact && compact[i] > 0 && n <= SIZE_MAX / 2) { /* its stored 16-bit values */
            lp->half_dt = (ck_dtype)compact[i];
            if (!(lp->half = param_alloc((size_t)n * 2)))
                return ck_err_set(err, CK_ENOMEM, p->cfg->path, pp->name, CK_NO_OFFSET, "out of memory for "
                                  "parameter '%s' of rank %d: %llu 16-bit values", pp->name, tp_rank,
                                  (unsigned long long)n);
        } else if (n > SIZE_MAX / sizeof *lp->data || !(lp->data = param_alloc((size_t)(n ? n : 1) * sizeof *lp->data)))
            return ck_err_set(err, CK_ENOMEM, p->cfg->path, pp->name, CK_NO_OFFSET, "out of memory for parameter "
                              "'%s' of rank %d: %llu fp32 values, a shape config.json makes ('ckptdoc lint' "
                              "says whether the checkpoint's tensors agree)", pp->name, tp_rank,
                              (unsigned long long)n);
    }
    return CK_OK;
}

int load_stage(const ck_checkpoint *ck, const plan *p, int stage, int rank0, int n_ranks, rank_load *out,
               uint64_t *bytes_read, const load_opts *o, ck_err *err)
{
    const cfg_quant *deq = o ? o->deq : NULL;
    int64_t layer = o ? o->layer : -1;
    mem_ctx mc = {o ? o->stager : NULL, {NULL}, {0}}, *m = &mc;
    if (stage < 0 || stage >= p->layout.pp || rank0 < 0 || n_ranks < 1 || rank0 + n_ranks > p->layout.tp)
        return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "no ranks %d..%d of stage %d", rank0,
                          rank0 + n_ranks - 1, stage);
    if (ckpt_require_data(ck, "loading the weights", err) != CK_OK)
        return err->code;
    const plan_stage *st = &p->stages[stage];
    /* the map of the keys: the caller's when it was built for this plan, else one for this load */
    memset(out, 0, (size_t)n_ranks * sizeof *out);
    const keymap *km = o && o->km && keymap_plan(o->km) == p ? o->km : NULL;
    keymap *own = NULL;
    int rc = km ? CK_OK : keymap_build(ck, p, &own, err);
    if (rc != CK_OK)
        return rc;
    if (!km)
        km = own;
    int *compact = NULL; /* which parameters are held in their stored 16 bits */
    if (o && o->compact && !deq && !ON_DEV(m) && st->n) {
        if (!(compact = calloc(st->n, sizeof *compact)))
            rc = ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
        else
            rc = compact_params(ck, p, st, km, layer, compact, err);
    }
    for (int k = 0; k < n_ranks && rc == CK_OK; k++) {
        rc = alloc_rank(p, stage, rank0 + k, layer, ON_DEV(m), compact, &out[k], err);
        if (rc == CK_OK && compact && !(out[k].scratch = calloc(1, sizeof *out[k].scratch)))
            rc = ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    }
    prefault_job pf = {out, 0, 0};
    if (rc == CK_OK && compact && n_ranks == 1) /* one rank alone: its reads go straight into place */
        pf.started = ck_thread_start(&pf.tid, prefault_run, &pf) == 0;
    free(compact);
    /* every key once: read, converted, then cut for each rank */
    uint64_t seen = 0;
    for (size_t i = 0; i < ck->n_tensors && rc == CK_OK; i++) {
        const st_tensor *ten = ckpt_tensor(ck, ck->tensors[i]);
        if (o && o->progress) {
            seen += st_tensor_nbytes(ten);
            o->progress(seen, ck->bytes, o->progress_ctx);
        }
        st_tensor as_float = *ten; /* a dequantized weight goes in under its unquantized name */
        char fname[600];
        uint64_t fshape[PLAN_MAX_DIMS];
        unsigned fnd = 2;
        float *src = NULL;
        size_t len = strlen(ten->name);
        const char *mapname = ten->name;
        if (deq) {
            if (is_quant_companion(ten->name) || mx_scales_of_blocks(ck, ten->name, len))
                continue;
            if (ends_with(ten->name, len, ".weight_packed")) {
                snprintf(fname, sizeof fname, "%.*s.weight", (int)(len - strlen(".weight_packed")), ten->name);
                mapname = fname;
            } else if (ends_with(ten->name, len, ".qweight")) {
                snprintf(fname, sizeof fname, "%.*s.weight", (int)(len - strlen(".qweight")), ten->name);
                mapname = fname;
            }
        }
        /* where it goes first: keys of other stages or layers are not read, let alone dequantized;
         * a packed weight read as its dequantized weight is mapped under that name */
        keymap_entry e;
        sim_mapping mp;
        size_t pi;
        if (mapname != ten->name || !keymap_get(km, i, &e)) {
            if ((rc = simulate_map_key(p, mapname, &mp, err)) != CK_OK)
                break;
            keymap_entry_of(&mp, &e);
        }
        if (e.skip >= 0 || !e.param || !strmap_get(&st->by_name, e.param, &pi) ||
            (layer >= 0 && st->params[pi].layer != layer))
            continue;
        if (deq) {
            if ((rc = read_dequant(ck, i, deq, m, &src, fshape, &fnd, bytes_read, err)) != CK_OK)
                break;
            if (src) {
                as_float.name = mapname;
                as_float.shape = fshape;
                as_float.ndim = fnd;
                ten = &as_float;
            }
        }
        uint64_t n, tshape[PLAN_MAX_DIMS];
        int cut = 0; /* 1: raw is this process's rank's cut alone; 2: it takes nothing of the tensor */
        void *raw = NULL; /* on the host, the stored bytes, converted as they are placed */
        int reorder = e.rule >= 0 && (p->rules->keys[e.rule].transposed || p->rules->keys[e.rule].rotary_pairs);
        int direct = 0; /* read straight into a compact parameter */
        if (!src && n_ranks == 1 && !ON_DEV(m) && !reorder &&
            (rc = read_direct(ck, i, p, &out[0].params[pi], &e, rank0, &direct, bytes_read, err)) != CK_OK)
            break;
        if (direct)
            continue;
        if (!src && n_ranks == 1 && !ON_DEV(m))
            rc = read_own_cut(ck, i, p, &out[0].params[pi], &e, rank0, m, &raw, &cut, bytes_read, err);
        if (rc == CK_OK && !src && !cut && !ON_DEV(m) && !reorder && kern_convert_supported(ten->dtype) &&
            dtype_bits(ten->dtype) % 8 == 0)
            rc = read_raw_to(ck, ck->tensors[i], m, 0, &raw, bytes_read, err);
        if (rc == CK_OK && !src && !raw && !cut)
            rc = read_floats_to(ck, ck->tensors[i], m, 0, 1, &src, &n, bytes_read, err);
        if (rc == CK_OK && src && e.rule >= 0 && p->rules->keys[e.rule].transposed && ten->ndim >= 2 &&
            ten->ndim <= PLAN_MAX_DIMS) { /* stored input-major: the last two dims swapped back */
            memcpy(tshape, ten->shape, ten->ndim * sizeof *tshape);
            tshape[ten->ndim - 1] = ten->shape[ten->ndim - 2];
            tshape[ten->ndim - 2] = ten->shape[ten->ndim - 1];
            if ((rc = transpose_last2(m, &src, ten, err)) == CK_OK) {
                if (ten != &as_float)
                    as_float = *ten;
                as_float.shape = tshape;
                ten = &as_float;
            }
        }
        const expr *pairs = rc == CK_OK && src && e.rule >= 0 ? p->rules->keys[e.rule].rotary_pairs : NULL;
        if (pairs) { /* Llama 4's q and k rows: interleaved rotary pairs reordered to halves */
            plan_env env = {p, NULL, NULL, NULL, NULL, 0, NULL, NULL};
            expr_val hv;
            if ((rc = plan_eval(p, pairs, &env, p->rules->keys[e.rule].line, &hv, err)) == CK_OK &&
                (hv.is_null || hv.is_str || hv.v < 2 || hv.v % 2 || ten->ndim != 2 || ten->shape[0] % (uint64_t)hv.v))
                rc = ck_err_set(err, CK_EFORMAT, ck->shards[ck->tensors[i].shard].path, ten->name, CK_NO_OFFSET,
                                "the loader reorders its rows head by head (rotary_pairs %lld, rules line %d), but "
                                "it has %u dims and %llu rows, not [rows, cols] in whole heads of an even size: "
                                "'ckptdoc lint' names the shape config.json makes for it", (long long)hv.v,
                                p->rules->keys[e.rule].line, ten->ndim,
                                (unsigned long long)(ten->ndim ? ten->shape[0] : 0));
            else if (rc == CK_OK)
                rc = rotary_pairs_to_halves(m, &src, ten->shape[0], ten->shape[1], (uint64_t)hv.v, err);
        }
        src_tensor from = {ck->shards[ck->tensors[i].shard].path, ckpt_tensor(ck, ck->tensors[i])->name, ten};
        for (int k = 0; k < n_ranks && rc == CK_OK; k++)
            rc = place(p, &out[k].params[pi], e.part, key_parts(p, &e), e.rule >= 0 && p->rules->keys[e.rule].copies, e.expert, src ? (const void *)src : raw,
                       src ? DT_F32 : ten->dtype, cut == 1, &from, rank0 + k, m, err);
        mem_release(m, src);
        if (rc != CK_OK && !err->key[0])
            snprintf(err->key, sizeof err->key, "%s", from.key);
    }
    if (pf.started)
        pthread_join(pf.tid, NULL);
    if (rc == CK_OK && ON_DEV(m))
        rc = kdev_sync(err); /* the cuts were queued on the load stream */
    mem_ctx_free(m);
    keymap_free(own);
    if (rc != CK_OK)
        for (int k = 0; k < n_ranks; k++)
            rank_load_free(&out[k]);
    return rc;
}

int load_dequant_tensor(const ck_checkpoint *ck, size_t i, float **out, uint64_t shape[PLAN_MAX_DIMS], unsigned *nd,
                        ck_err *err)
{
    *out = NULL;
    *nd = 0;
    if (!ck->cfg.has_quant || i >= ck->n_tensors)
        return CK_OK;
    if (ckpt_require_data(ck, "dequantizing a weight", err) != CK_OK)
        return err->code;
    uint64_t bytes = 0;
    return read_dequant(ck, i, &ck->cfg.quant, NULL, out, shape, nd, &bytes, err);
}

int load_rank(const ck_checkpoint *ck, const plan *p, int stage, int tp_rank, rank_load *out, ck_err *err)
{
    memset(out, 0, sizeof *out);
    uint64_t bytes = 0;
    int rc = load_stage(ck, p, stage, tp_rank, 1, out, &bytes, NULL, err);
    return rc == CK_OK ? (out->bytes_read = bytes, CK_OK) : rc;
}

uint64_t load_bytes(const plan *p, int stage, int tp_rank, int64_t layer)
{
    const plan_stage *st = &p->stages[stage];
    uint64_t b = 0;
    for (size_t i = 0; i < st->n; i++) {
        const plan_param *pp = &st->params[i];
        if (layer >= 0 && pp->layer != layer)
            continue;
        uint64_t n = 1;
        for (int d = 0; d < pp->ndim; d++)
            n *= pp->local[d];
        b += n * sizeof(float);
    }
    (void)tp_rank; /* every TP rank of a stage holds the same shapes */
    return b;
}

void rank_load_free(rank_load *r)
{
    if (!r || !r->params)
        return;
    for (size_t i = 0; i < r->n; i++)
        if (r->device)
            kdev_free(r->params[i].data);
        else {
            param_free(r->params[i].data, (size_t)r->params[i].n * sizeof(float));
            param_free(r->params[i].half, (size_t)r->params[i].n * 2);
        }
    scratch_free(r->scratch);
    free(r->params);
    memset(r, 0, sizeof *r);
}

const load_param *rank_param(const rank_load *r, const plan *p, const char *name)
{
    size_t i;
    if (!strmap_get(&p->stages[r->stage].by_name, name, &i) || i >= r->n)
        return NULL;
    return &r->params[i];
}

int load_dequantizes(const cfg_quant *q)
{
    static const char *const methods[] = {"compressed-tensors", "fp8", "awq", "gptq", "mxfp4"};
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++)
        if (strcmp(q->method, methods[i]) == 0)
            return 1;
    return strcmp(q->method, "modelopt") == 0 && strcmp(q->fmt, "FP8") == 0;
}
