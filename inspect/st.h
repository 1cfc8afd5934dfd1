/* st.h - the safetensors header reader.
 *
 * Validates a file exactly as the reference reader (huggingface/safetensors, read_metadata and
 * Metadata::validate) does, in the same order, so that a file it accepts is accepted and one it
 * rejects is rejected; the verdict is an st_status named after the reference's error variant.
 * Where the reference is more lenient than its written spec (whitespace around the JSON object,
 * an unpadded header, duplicate names, unknown fields in a tensor entry) the file is accepted and
 * a warning finding is added. Only the first 8 + N bytes are ever read; tensor data never is.
 *
 * Memory: allocations are bounded by a small multiple of the header length N (names are decoded
 * into one arena of N bytes; each dimension costs at least 2 header bytes).
 *
 * Ownership and failure: a parsed st_header owns its tensors, names and shapes (copies, never
 * pointers into the input buffer) until st_header_free. The verdict is an st_status plus findings;
 * a ck_err is filled only for st_header_read_fd's own read and buffer failures. */
#ifndef CK_ST_H
#define CK_ST_H

#include <stddef.h>
#include <stdint.h>

#include "base/ckerr.h"
#include "base/dtype.h"
#include "base/finding.h"

#define ST_MAX_HEADER 100000000ull /* the reference's limit on N */

typedef enum {
    ST_OK = 0,
    ST_HEADER_TOO_SMALL,      /* HeaderTooSmall */
    ST_HEADER_TOO_LARGE,      /* HeaderTooLarge */
    ST_INVALID_HEADER_LENGTH, /* InvalidHeaderLength */
    ST_INVALID_UTF8,          /* InvalidHeader(Utf8Error) */
    ST_INVALID_JSON,          /* InvalidHeaderDeserialization: syntax */
    ST_INVALID_SCHEMA,        /* InvalidHeaderDeserialization: types, fields */
    ST_UNKNOWN_DTYPE,         /* InvalidHeaderDeserialization: dtype string */
    ST_INVALID_OFFSET,        /* InvalidOffset */
    ST_OVERFLOW,              /* ValidationOverflow */
    ST_MISALIGNED,            /* MisalignedSlice */
    ST_INVALID_INFO,          /* TensorInvalidInfo */
    ST_INCOMPLETE_BUFFER,     /* MetadataIncompleteBuffer */
    ST_NOMEM,                 /* not the reference's: an allocation failed */
    ST_STATUS_COUNT
} st_status;

typedef struct {
    const char *name;   /* into the header's arena, NUL-terminated (may contain no NUL) */
    const uint64_t *shape; /* (ndim) */
    uint64_t begin, end;   /* data_offsets, relative to the start of the data (8 + N); end - begin
                            * is checked against shape x dtype (st_tensor_nbytes) */
    uint32_t ndim;
    uint32_t hash;         /* strmap_hash(name) */
    ck_dtype dtype;
    uint32_t name_len;     /* strlen(name) */
} st_tensor;

typedef struct {
    uint64_t header_len;   /* N */
    uint64_t data_start;   /* 8 + N */
    uint64_t data_len;     /* end of the last tensor */
    uint64_t file_size;
    st_tensor *tensors;    /* (n_tensors) in header order, duplicates already resolved */
    size_t n_tensors;
    const char **meta_keys, **meta_vals; /* (n_meta) __metadata__, in header order */
    size_t n_meta;
    char *arena;           /* owns names and metadata strings */
    uint64_t *dims;        /* owns all shapes */
    uint64_t params;       /* the tensors' elements, added up */
    uint64_t dtype_bytes[DT_COUNT], dtype_count[DT_COUNT]; /* bytes and tensors of each dtype */
} st_header;

/* The reference's variant name ("HeaderTooLarge") and our finding code ("st.header_too_large");
 * static strings, "?" and "st.unknown" for a value out of range. */
const char *st_status_variant(st_status s);
const char *st_status_code(st_status s);

/* Parses a file image. buf holds the first len bytes of a file of file_size bytes; len must be
 * at least min(file_size, 8 + N) for the verdict to be complete (the fuzz target passes a whole
 * file). fname names the file in findings. On ST_OK *out holds the tensors; on any other status
 * *out is zeroed and one error finding says why. Warnings are added to f in both cases. Out of
 * memory is ST_NOMEM with an "st.out_of_memory" error finding (no ck_err here). */
st_status st_header_parse(const uint8_t *buf, size_t len, uint64_t file_size, const char *fname,
                          st_header *out, ck_findings *f);

/* A buffer reused from one header read to the next (one per thread); {NULL, 0} to start, free
 * buf when done (free(scratch.buf)). A parsed header does not point into it. */
typedef struct {
    uint8_t *buf;
    size_t cap;
} st_scratch;

/* Reads and parses the header of an open, read-only file descriptor with pread: 8 bytes, then N
 * (into scratch, grown as needed; NULL: a buffer of its own, freed before returning).
 * Returns the status as above; an I/O failure (CK_EIO), or scratch that cannot grow (CK_ENOMEM),
 * fills err and returns ST_NOMEM with err->code set and no finding added. ST_NOMEM with err->code
 * still 0 is the parser's own allocation failure (a finding, as above). *out is zeroed unless ST_OK. */
st_status st_header_read_fd(int fd, uint64_t file_size, const char *fname, st_header *out,
                            ck_findings *f, ck_err *err, st_scratch *scratch);

/* Frees what a parse put in h and leaves it zeroed; accepts NULL and a zeroed header. */
void st_header_free(st_header *h);
/* Elements of a tensor (product of its shape; 1 for a scalar). Overflow was ruled out by parse. */
uint64_t st_tensor_numel(const st_tensor *t);
/* The tensor's bytes: end - begin, which the reader checked against its shape and dtype. */
static inline uint64_t st_tensor_nbytes(const st_tensor *t)
{
    return t->end - t->begin;
}
/* Writes "[2, 3]" into buf (size >= 1; NUL-terminated, truncated to fit). Returns buf. */
const char *st_shape_str(const uint64_t *shape, uint32_t ndim, char *buf, size_t size);

#endif
