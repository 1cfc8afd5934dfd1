/* devmem.cu - managed parameter memory, the pinned stager and device-to-device cuts (see
 * devmem.h). The load stream is a blocking stream: the conversion and dequantization kernels,
 * launched on the legacy default stream, stay ordered with the copies queued here. */
#include "kernels/devmem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>

#include "base/fileio.h"
#include "kernels/cuda_check.h"

static std::atomic<unsigned long long> g_in_use(0);
static cudaStream_t g_stream;
static int g_stream_ready;

static int load_stream(cudaStream_t *s, ck_err *err)
{
    if (!g_stream_ready) {
        CK_CUDA(err, cudaStreamCreate(&g_stream));
        g_stream_ready = 1;
    }
    *s = g_stream;
    return CK_OK;
}

/* The size is kept in front of the block, so that kdev_free can count it back. */
#define HDR 256

extern "C" int kdev_alloc(void **p, size_t bytes, ck_err *err)
{
    *p = NULL;
    char *base = NULL;
    int dev = 0;
    CK_CUDA(err, cudaGetDevice(&dev));
    CK_CUDA(err, cudaMallocManaged((void **)&base, bytes + HDR, cudaMemAttachGlobal));
    *(size_t *)base = bytes;
#if CUDART_VERSION >= 13000
    cudaMemLocation loc;
    loc.type = cudaMemLocationTypeDevice;
    loc.id = dev;
    cudaError_t e = cudaMemPrefetchAsync(base, bytes + HDR, loc, 0, 0);
#else
    cudaError_t e = cudaMemPrefetchAsync(base, bytes + HDR, dev, 0);
#endif
    if (e != cudaSuccess) { /* placing it ahead is an optimization (not every system can) */
        (void)cudaGetLastError();
        e = cudaSuccess;
    }
    e = cudaMemsetAsync(base + HDR, 0, bytes, 0);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(0);
    if (e != cudaSuccess) {
        cudaFree(base);
        return ck_err_set(err, CK_ECUDA, __FILE__, "cudaMemsetAsync", CK_NO_OFFSET, "%s",
                          cudaGetErrorString(e));
    }
    g_in_use += bytes;
    *p = base + HDR;
    return CK_OK;
}

extern "C" void kdev_free(void *p)
{
    if (!p)
        return;
    char *base = (char *)p - HDR;
    g_in_use -= *(size_t *)base;
    cudaFree(base);
}

extern "C" uint64_t kdev_bytes_in_use(void)
{
    return g_in_use.load();
}

extern "C" int kdev_copy2d(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
                           ck_err *err)
{
    cudaStream_t s = 0;
    if (load_stream(&s, err))
        return err->code;
    if (!width || !height)
        return CK_OK;
    if (height == 1) { /* one run of bytes: the pitches do not matter (and may be given as 0) */
        CK_CUDA(err, cudaMemcpyAsync(dst, src, width, cudaMemcpyDeviceToDevice, s));
        return CK_OK;
    }
    CK_CUDA(err, cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, height, cudaMemcpyDeviceToDevice, s));
    return CK_OK;
}

extern "C" int kdev_upload(void *d_dst, const void *src, size_t n, ck_err *err)
{
    cudaStream_t s = 0;
    if (load_stream(&s, err))
        return err->code;
    CK_CUDA(err, cudaStreamSynchronize(s));
    CK_CUDA(err, cudaMemcpy(d_dst, src, n, cudaMemcpyHostToDevice));
    return CK_OK;
}

extern "C" int kdev_stream(void **stream, ck_err *err)
{
    cudaStream_t s = 0;
    if (load_stream(&s, err))
        return err->code;
    *stream = (void *)s;
    return CK_OK;
}

extern "C" int kdev_sync(ck_err *err)
{
    cudaStream_t s = 0;
    if (load_stream(&s, err))
        return err->code;
    CK_CUDA(err, cudaStreamSynchronize(s));
    CK_CUDA(err, cudaDeviceSynchronize());
    return CK_OK;
}

struct kdev_stager {
    size_t chunk;
    void *pinned[2];
    cudaEvent_t done[2];    /* the copy out of pinned[k] finished */
    int next;               /* the buffer the next chunk goes into */
    void *scratch[4];       /* device */
    size_t scratch_size[4];
};

extern "C" void kdev_stager_free(kdev_stager *s)
{
    if (!s)
        return;
    if (g_stream_ready)
        cudaStreamSynchronize(g_stream);
    for (int k = 0; k < 2; k++) {
        if (s->pinned[k])
            cudaFreeHost(s->pinned[k]);
        if (s->done[k])
            cudaEventDestroy(s->done[k]);
    }
    for (int k = 0; k < 4; k++)
        if (s->scratch[k])
            cudaFree(s->scratch[k]);
    free(s);
}

extern "C" int kdev_stager_new(size_t chunk, kdev_stager **out, ck_err *err)
{
    *out = NULL;
    cudaStream_t st = 0;
    if (load_stream(&st, err))
        return err->code;
    kdev_stager *s = (kdev_stager *)calloc(1, sizeof *s);
    if (!s)
        return ck_err_set(err, CK_ENOMEM, NULL, NULL, CK_NO_OFFSET, "out of memory");
    s->chunk = chunk ? chunk : (size_t)64 << 20;
    cudaError_t e = cudaSuccess;
    for (int k = 0; k < 2 && e == cudaSuccess; k++) {
        e = cudaHostAlloc(&s->pinned[k], s->chunk, cudaHostAllocDefault);
        if (e == cudaSuccess)
            e = cudaEventCreateWithFlags(&s->done[k], cudaEventDisableTiming);
        if (e == cudaSuccess)
            e = cudaEventRecord(s->done[k], st);
    }
    if (e != cudaSuccess) {
        kdev_stager_free(s);
        return ck_err_set(err, CK_ECUDA, __FILE__, "cudaHostAlloc/cudaEventCreate", CK_NO_OFFSET, "%s",
                          cudaGetErrorString(e));
    }
    *out = s;
    return CK_OK;
}

extern "C" uint64_t kdev_stager_bytes(const kdev_stager *s)
{
    return s ? 2 * (uint64_t)s->chunk + s->scratch_size[0] + s->scratch_size[1] + s->scratch_size[2] +
                   s->scratch_size[3] : 0;
}

extern "C" int kdev_read_fd(kdev_stager *s, int fd, uint64_t off, size_t n, void *d_dst, const char *path,
                            ck_err *err)
{
    cudaStream_t st = 0;
    if (load_stream(&st, err))
        return err->code;
    for (size_t done = 0; done < n;) {
        size_t len = n - done < s->chunk ? n - done : s->chunk;
        int k = s->next;
        s->next ^= 1;
        /* the copy that last used this buffer must have finished; the other one keeps going */
        CK_CUDA(err, cudaEventSynchronize(s->done[k]));
        char *buf = (char *)s->pinned[k];
        if (ck_pread_par(fd, buf, len, off + done, 0) != 0) /* one thread per core, 4 MiB slices */
            return ck_err_set(err, CK_EIO, path, NULL, off + done, "cannot read %zu bytes: %s", len,
                              errno ? strerror(errno) : "the file ends early");
        CK_CUDA(err, cudaMemcpyAsync((char *)d_dst + done, buf, len, cudaMemcpyHostToDevice, st));
        CK_CUDA(err, cudaEventRecord(s->done[k], st));
        done += len;
    }
    return CK_OK;
}

extern "C" int kdev_scratch(kdev_stager *s, int slot, size_t n, void **d_out, ck_err *err)
{
    slot &= 3;
    if (s->scratch_size[slot] < n) {
        CK_CUDA(err, cudaStreamSynchronize(g_stream));
        CK_CUDA(err, cudaDeviceSynchronize());
        if (s->scratch[slot])
            cudaFree(s->scratch[slot]);
        s->scratch[slot] = NULL;
        s->scratch_size[slot] = 0;
        size_t want = n < ((size_t)1 << 20) ? (size_t)1 << 20 : n;
        CK_CUDA(err, cudaMalloc(&s->scratch[slot], want));
        s->scratch_size[slot] = want;
    }
    *d_out = s->scratch[slot];
    return CK_OK;
}
