/* sniff.h - says what a file is when it is not safetensors: a git-lfs pointer (with its oid and
 * size), an HTML or JSON error page saved by a failed download, a PyTorch zip or pickle, a GGUF
 * file, an empty file. Works from the first bytes only (at most SNIFF_BYTES). Pure functions on
 * the caller's bytes: nothing is allocated, names are static strings, and nothing is an error. */
#ifndef CK_SNIFF_H
#define CK_SNIFF_H

#include <stddef.h>
#include <stdint.h>

#define SNIFF_BYTES 1024

typedef enum {
    SNIFF_UNKNOWN = 0,  /* nothing recognised: treat as safetensors */
    SNIFF_EMPTY,
    SNIFF_LFS_POINTER,
    SNIFF_HTML,
    SNIFF_JSON,
    SNIFF_TEXT,         /* some other short text, e.g. "Entry not found" */
    SNIFF_TORCH_ZIP,
    SNIFF_TORCH_PICKLE,
    SNIFF_GGUF,
} sniff_kind;

typedef struct {
    char oid[65];       /* sha256 hex, lower case */
    uint64_t size;      /* size of the real object in bytes */
} lfs_pointer;

/* Classifies a file from its first len bytes (len <= file_size). For SNIFF_LFS_POINTER fills
 * *ptr when ptr is non-NULL; otherwise *ptr is untouched. */
sniff_kind sniff_bytes(const uint8_t *b, size_t len, uint64_t file_size, lfs_pointer *ptr);
/* Parses a git-lfs pointer file (spec v1): "version https://git-lfs.github.com/spec/v1",
 * "oid sha256:<64 hex>", "size <n>". Returns 0 on success (*out filled when out is non-NULL),
 * -1 if b is not such a pointer or len > SNIFF_BYTES (*out untouched). */
int lfs_pointer_parse(const uint8_t *b, size_t len, lfs_pointer *out);
/* The finding code for a kind ("file.lfs_pointer"), and a short description ("a git-lfs pointer");
 * static strings. */
const char *sniff_code(sniff_kind k);
const char *sniff_what(sniff_kind k);

#endif
