/* verify.h - `inspect --verify`: the only inspect path that reads tensor data. Reads every file
 * once, sequentially and read-only; takes the sha256 of each file and the statistics of every
 * float tensor (through the kernels' conversion), and flags NaN/Inf, all-zero tensors and FP8
 * scales that are zero, negative or not finite. Checks the hashes against a manifest: a
 * `sha256sum` output file, or a folder of git-lfs pointer files named like the shards.
 * The caller frees a verify_result with verify_result_free; files that cannot be read are findings
 * (verify.read_error), not errors. */
#ifndef CK_VERIFY_H
#define CK_VERIFY_H

#include <stdint.h>

#include "kernels/convert.h"
#include "inspect/ckpt.h"

typedef struct {
    int threads;            /* <= 0: online CPUs */
    int use_cuda;           /* statistics on the GPU (falls back to the CPU with a note) */
    const char *manifest;   /* sha256sum file or folder of git-lfs pointers, or NULL */
    /* progress: called from one thread about every 100 ms with bytes done and total */
    void (*progress)(uint64_t done, uint64_t total, void *ctx);
    void *progress_ctx;
} verify_opts;

typedef struct {
    char (*sha256)[65];     /* (ck->n_shards) hex digest, "" when the file could not be read */
    kern_stats *stats;      /* (ck->n_tensors) statistics, count == 0 when not a float tensor */
    uint64_t bytes_read;
    double seconds;
} verify_result;

/* Reads the data of ck and adds data.* and verify.* findings to ck->findings. Returns CK_OK, or
 * an error code with err filled when the manifest cannot be read (CK_EIO, CK_EFORMAT), OpenSSL's
 * libcrypto cannot be loaded (CK_EIO) or memory runs out (CK_ENOMEM). err must not be NULL.
 * On error *r is zeroed (nothing to free); on CK_OK *r owns its arrays. */
int verify_run(ck_checkpoint *ck, const verify_opts *o, verify_result *r, ck_err *err);
/* Frees r's arrays and leaves it zeroed; accepts NULL and a zeroed result. */
void verify_result_free(verify_result *r);

#endif
