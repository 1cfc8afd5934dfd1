/* devmem.h - device memory for the load and the forward pass on a CUDA device.
 *
 * Parameters and activations live in CUDA managed memory prefetched to the device: kernels and
 * cuBLAS read them there, and the few host-side steps of the forward pass (routing decisions on
 * a handful of tokens) read them after the device finished, without separate copies.
 *
 * Reads from a checkpoint go through a stager: two pinned host buffers of `chunk` bytes used in
 * turn, so that the pread of chunk k+1 proceeds while chunk k is copied host-to-device on the
 * load stream. Everything the load does on the device (copies, conversion, dequantization, the
 * rank cuts) is ordered on that one stream; kdev_sync waits for it.
 *
 * Every function returns CK_OK or CK_ECUDA with err naming the failed call (CK_EIO for a read,
 * CK_ENOMEM when kdev_stager_new cannot allocate), and is linked from devmem_stub.c (CUDA not
 * built) where nvcc is absent. Memory from kdev_alloc is freed with kdev_free, a stager with
 * kdev_stager_free (both accept NULL); the load stream is created once and kept for the process. */
#ifndef CK_DEVMEM_H
#define CK_DEVMEM_H

#include <stddef.h>
#include <stdint.h>

#include "base/ckerr.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Zeroed managed memory of `bytes`, resident on the device; counted in kdev_bytes_in_use. *p is
 * NULL on failure. */
int kdev_alloc(void **p, size_t bytes, ck_err *err);
/* Frees memory from kdev_alloc (and only that); NULL is ignored. */
void kdev_free(void *p);
/* Bytes allocated by kdev_alloc and not yet freed. */
uint64_t kdev_bytes_in_use(void);

/* height rows of width bytes, from src (row pitch spitch) to dst (dpitch), device to device,
 * queued on the load stream (kdev_sync waits for it); with height 1 the pitches are not used. */
int kdev_copy2d(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
                ck_err *err);
/* n bytes host -> device (synchronous; small tensors: scales, zero points). */
int kdev_upload(void *d_dst, const void *src, size_t n, ck_err *err);
/* The load stream (a cudaStream_t), for work queued behind the stager's copies. */
int kdev_stream(void **stream, ck_err *err);
/* Waits for everything queued on the load stream. */
int kdev_sync(ck_err *err);

typedef struct kdev_stager kdev_stager;
/* Two pinned buffers of chunk bytes (chunk 0: 64 MiB), and a device scratch area. *out is NULL
 * on failure (what was allocated is freed). */
int kdev_stager_new(size_t chunk, kdev_stager **out, ck_err *err);
/* Waits for the load stream, then frees the buffers and the scratch areas; accepts NULL. */
void kdev_stager_free(kdev_stager *s);
/* Bytes of pinned host memory and device scratch the stager holds (the load's constant). */
uint64_t kdev_stager_bytes(const kdev_stager *s);
/* n bytes at offset off of the open file fd (named path in errors) into the device memory
 * d_dst, through the pinned buffers (pread overlapped with the copy of the previous chunk).
 * Returns once the last copy is queued: d_dst is complete after kdev_sync. On failure, copies of
 * earlier chunks may still be in flight. */
int kdev_read_fd(kdev_stager *s, int fd, uint64_t off, size_t n, void *d_dst, const char *path, ck_err *err);
/* The stager's device scratch area of at least n bytes, slot 0 to 3 (grown as needed; a grow
 * waits for the stream). Valid until the next call for the same slot; owned by the stager (freed
 * by kdev_stager_free). slot is taken modulo 4. On failure *d_out is not to be used (the slot
 * may be left empty). */
int kdev_scratch(kdev_stager *s, int slot, size_t n, void **d_out, ck_err *err);

#ifdef __cplusplus
}
#endif

#endif
