/* ckpt.h - a checkpoint folder (or one file) read and cross-checked from headers alone:
 * config.json, model.safetensors.index.json, and every safetensors shard. Nothing here reads
 * tensor data; memory stays proportional to the headers. Files are opened read-only.
 * Whoever calls ckpt_open / ckpt_open_with calls ckpt_free: the checkpoint owns every string, array,
 * header, its config and its findings, and every pointer into it is valid until then. */
#ifndef CK_CKPT_H
#define CK_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "base/ckerr.h"
#include "inspect/config.h"
#include "base/finding.h"
#include "inspect/sniff.h"
#include "inspect/st.h"
#include "base/strmap.h"

typedef struct {
    char *name;         /* as named in the index or the folder, e.g. "model-00001-of-00163.safetensors" */
    char *path;         /* path to open */
    int exists;         /* the file is there and is a regular file */
    uint64_t size;
    sniff_kind kind;    /* SNIFF_UNKNOWN when it was read as safetensors */
    lfs_pointer lfs;    /* kind == SNIFF_LFS_POINTER */
    st_status status;   /* ST_OK when the header was valid */
    st_header h;        /* valid when status == ST_OK */
    size_t index_keys;  /* keys the index maps to this shard */
    int referenced;     /* named by the index (or no index: always 1) */
} ck_shard;

typedef struct {
    const char *key;    /* key_len bytes, NOT NUL-terminated: into the mapped index (or its
                         * arena when the key had escapes); valid until ckpt_free */
    uint32_t key_len;
    uint32_t shard;     /* index into ck_checkpoint.shards */
    uint32_t tensor;    /* index into ck_checkpoint.tensors, CK_NO_TENSOR when no shard has it */
    uint8_t superseded; /* a later entry names the same key (JSON readers keep the last) */
} ck_index_entry;       /* 24 bytes: one per key of the index, ~92k for DeepSeek-V3 */

#define CK_NO_TENSOR UINT32_MAX

typedef struct {        /* 8 bytes: one per tensor (positions fit 32 bits, as in ck->names) */
    uint32_t shard;     /* index into shards */
    uint32_t tensor;    /* index into shards[shard].h.tensors */
} ck_tensor_ref;

typedef struct {
    char *root;               /* the folder, or the file given */
    int single_file;          /* inspect FILE */
    int headers_only;         /* a folder of headers fetched from the Hub (hub.h): its shards hold
                               * no tensor data, so nothing may read it */
    ck_config cfg;
    int has_index;
    char *index_name;
    int has_total_size;
    uint64_t total_size;      /* index metadata.total_size */
    ck_index_entry *index;    /* (n_index) weight_map in file order */
    size_t n_index;
    char *index_arena;        /* decoded strings that had escapes */
    void *index_map;          /* the index file, mapped read-only */
    size_t index_map_len;
    ck_shard *shards;         /* (n_shards) the folder's *.safetensors in name order, then the
                               * files the index names that the folder lacks */
    size_t n_shards;
    ck_tensor_ref *tensors;   /* (n_tensors) all valid tensors, shard by shard, header order */
    size_t n_tensors;
    uint64_t *names;          /* (n_tensors) each tensor's name hash << 32 | its index into
                               * tensors, sorted: ckpt_find's binary search */
    uint64_t bytes, params;
    uint64_t dtype_bytes[DT_COUNT], dtype_count[DT_COUNT];
    ck_findings findings;
} ck_checkpoint;

/* Whether a shard name from an index stays inside the folder: not empty, no absolute path, no
 * ".." part. */
int ckpt_name_is_safe(const char *name);
/* CK_OK when ck holds tensor data; CK_EUSAGE for a folder of headers fetched from the Hub, err
 * saying that `what` (check, --verify, statistics) needs the data and how to download it. Every
 * reader of tensor data asks first. */
int ckpt_require_data(const ck_checkpoint *ck, const char *what, ck_err *err);
/* Opens a folder or a single .safetensors file. Returns CK_OK, or an error code with err filled
 * when the input is unusable as a whole (path missing, a folder with no safetensors and no index),
 * or CK_ENOMEM when memory runs out (ck->findings.oom set included).
 * Problems with individual files are findings in ck->findings, not errors. threads <= 0 picks the
 * number of online CPUs. On error *ck is freed and zeroed. */
int ckpt_open(const char *path, int threads, ck_checkpoint *ck, ck_err *err);
/* Work of the caller's to run while the checkpoint is read: fn(ctx, ck) is called once, on a
 * thread of its own started as soon as config.json is read (ck->cfg is then final), and may read
 * ck->cfg and ck->root only. It has returned when ckpt_open_with returns, failed or not, except
 * when the path itself cannot be opened, or copied for lack of memory (then it is not called). */
typedef struct {
    void (*fn)(void *ctx, const ck_checkpoint *ck);
    void *ctx;
    /* Optional: called on the calling thread once every header is read and fn has returned,
     * before the cross-checks (which only add ck->tensors, ck->names, the index entries'
     * tensors and findings). It may start work that reads ck->cfg, ck->shards with their
     * headers and the index entries' shards and names while ckpt_open_with goes on; when
     * ckpt_open_with then fails, stop(ctx) is called before ck is freed, and must end it. */
    void (*headers)(void *ctx, const ck_checkpoint *ck);
    void (*stop)(void *ctx);
} ckpt_side;
int ckpt_open_with(const char *path, int threads, const ckpt_side *side, ck_checkpoint *ck,
                   ck_err *err);
/* Frees everything the checkpoint holds (unmapping the index) and leaves ck zeroed; accepts NULL
 * and a zeroed checkpoint. */
void ckpt_free(ck_checkpoint *ck);
/* The tensor named name: 1 and *ref (when ref is non-NULL) when present, else 0. */
int ckpt_find(const ck_checkpoint *ck, const char *name, ck_tensor_ref *ref);
/* The same as its position in ck->tensors (*i set when i is non-NULL). */
int ckpt_find_index(const ck_checkpoint *ck, const char *name, size_t *i);
/* The header entry of r (not bounds-checked); borrowed, valid until ckpt_free. */
static inline const st_tensor *ckpt_tensor(const ck_checkpoint *ck, ck_tensor_ref r)
{
    return &ck->shards[r.shard].h.tensors[r.tensor];
}
/* A one-line description of the model family from config.json, e.g.
 * "DeepseekV3ForCausalLM (deepseek_v3)"; "unknown (no config.json)" without one. Written into buf
 * (NUL-terminated, truncated to fit); returns buf. */
const char *ckpt_family(const ck_checkpoint *ck, char *buf, size_t size);

#endif
