/* tstats.h - the values of one tensor, read on demand: statistics, a histogram and a preview,
 * through the kernels' dtype conversion. Only that tensor's bytes are read (pread, read-only),
 * in chunks, so memory stays bounded whatever its size. Block-FP8 weights are shown dequantized
 * with their weight_scale_inv when the checkpoint has one beside them; the other quantized weights
 * check dequantizes (packed codes, per-tensor or per-channel FP8, int8, MXFP4 blocks) are shown
 * dequantized as it loads them, whole, up to 16 MiB of stored codes. A tensor_summary holds no
 * pointers (nothing to free); the files are opened and closed within the call. */
#ifndef CK_TSTATS_H
#define CK_TSTATS_H

#include <pthread.h>
#include <stdatomic.h>

#include "kernels/convert.h"
#include "inspect/ckpt.h"

#define TSTATS_BINS 32
#define TSTATS_PREVIEW 8

typedef struct {
    kern_stats st;             /* over the (dequantized) values */
    double lo, hi;             /* histogram range: the finite min and max */
    uint64_t hist[TSTATS_BINS];
    float preview[TSTATS_PREVIEW]; /* the first values, row-major */
    int n_preview;
    int dequantized;           /* 1: multiplied by scale_name's blocks (block_n > 0), or dequantized
                                * as check loads it (scale_name: the quantization's summary) */
    char scale_name[512];
    int block_n, block_k;      /* the scale blocks used; 0 for the other formats */
} tensor_summary;

/* Summarizes ck->tensors[i]. block_n/block_k: the FP8 scale block (0: 128). Returns CK_OK, or
 * CK_EUSAGE for a dtype the conversion does not know (integers, packed), CK_EIO when the bytes
 * cannot be read, with err naming the file, key and offset. Also CK_EUSAGE when i is out of
 * range and CK_ENOMEM when its buffers cannot be allocated. On error *out is partly filled. */
int tensor_summarize(const ck_checkpoint *ck, size_t i, int block_n, int block_k, tensor_summary *out,
                     ck_err *err);

/* How far a summary has come (bytes converted, two passes: total is twice the tensor's bytes;
 * a dequantized weight reports nothing until it is done), and a request to stop: the summary then
 * ends with CK_EUSAGE "cancelled" after the chunk it is on. */
typedef struct {
    atomic_uint_least64_t done;
    uint64_t total;
    atomic_int cancel;
} tstats_progress;
/* tensor_summarize with progress and cancellation (pg may be NULL). */
int tensor_summarize_with(const ck_checkpoint *ck, size_t i, int block_n, int block_k, tensor_summary *out,
                          tstats_progress *pg, ck_err *err);

/* A summary computed on a thread of its own while the screen stays live: tstats_start, then poll
 * finished and pg.done, set pg.cancel to stop, and tstats_finish (joins; the summary's return
 * code, out and err filled). ck must outlive the job. */
typedef struct {
    const ck_checkpoint *ck;
    size_t i;
    int block_n, block_k;
    tensor_summary out;
    ck_err err;
    int rc;
    tstats_progress pg;
    atomic_int finished;
    pthread_t tid;
    int started;
} tstats_job;
int tstats_start(tstats_job *j, const ck_checkpoint *ck, size_t i, int block_n, int block_k);
int tstats_finish(tstats_job *j);

#endif
