/* tstats.h - the values of one tensor, read on demand: statistics, a histogram and a preview,
 * through the kernels' dtype conversion. Only that tensor's bytes are read (pread, read-only),
 * in chunks, so memory stays bounded whatever its size. Block-FP8 weights are shown dequantized
 * with their weight_scale_inv when the checkpoint has one beside them; the other quantized weights
 * check dequantizes (packed codes, per-tensor or per-channel FP8, int8, MXFP4 blocks) are shown
 * dequantized as it loads them, whole, up to 16 MiB of stored codes. A tensor_summary holds no
 * pointers (nothing to free); the files are opened and closed within the call. */
#ifndef CK_TSTATS_H
#define CK_TSTATS_H

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

#endif
