/* fileio.h - reading exactly what was asked from a read-only file descriptor. */
#ifndef CK_FILEIO_H
#define CK_FILEIO_H

#include <stddef.h>
#include <stdint.h>

/* Reads len bytes at off with pread, retrying on EINTR and short reads. 0, or -1 (errno set;
 * end of file before len bytes leaves errno 0). */
int ck_pread_full(int fd, void *buf, size_t len, uint64_t off);

#endif
