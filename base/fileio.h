/* fileio.h - reading exactly what was asked from a read-only file descriptor. The fd and buf stay
 * the caller's; failure is reported as 0 / -1 with errno, not a ck_err (callers wrap it). */
#ifndef CK_FILEIO_H
#define CK_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Reads len bytes at off with pread, retrying on EINTR and short reads. 0, or -1 (errno set;
 * end of file before len bytes leaves errno 0; buf may be partly written). */
int ck_pread_full(int fd, void *buf, size_t len, uint64_t off);
/* The same with up to `threads` threads (0: one per core, at most 16), each reading one
 * contiguous slice of at least 4 MiB: a copy out of the page cache runs at several GB/s per
 * core, so one thread cannot keep up with a host-to-device copy. Same result and errors (errno
 * of the first slice that failed); slices whose thread cannot start are read on this thread.
 * On -1 buf may be partly written. */
int ck_pread_par(int fd, void *buf, size_t len, uint64_t off, int threads);
/* Opens path read-only if it is a regular file, without blocking on a FIFO or a device: the fd,
 * or -1 with *why saying why (strerror, or "not a regular file (a FIFO, a device or a
 * directory)", errno EINVAL). ck_fopen_ro is the same as a FILE (binary). */
int ck_open_ro(const char *path, const char **why);
#include <stdio.h>
FILE *ck_fopen_ro(const char *path, const char **why);
/* A whole small file (config.json, a .ckptdoc.json) of at most max bytes, NUL-terminated, *len
 * its size; NULL with *why saying why (strerror, too large, short read, out of memory). The
 * caller frees it. */
char *ck_read_small(const char *path, size_t max, size_t *len, const char **why);
/* Bytes this process has read through read/pread so far (/proc/self/io rchar), 0 where the
 * kernel does not say. */
uint64_t ck_rchar(void);
/* The process's peak resident memory in bytes (VmHWM of /proc/self/status; 0 where it cannot be
 * read). Not getrusage's ru_maxrss, which keeps the peak of the process image before exec: a
 * child started by a large process (Python with a model loaded) would report its parent's. */
uint64_t ck_peak_rss(void);

#ifdef __cplusplus
}
#endif

#endif
