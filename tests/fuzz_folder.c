/* fuzz_folder.c - libFuzzer target for the config.json and index readers: the input is split at
 * the first NUL byte into config.json and model.safetensors.index.json, written into a scratch
 * folder beside a valid shard, and opened as a checkpoint. Any bytes must give findings, never
 * a crash. Replayed without libFuzzer by tests/fuzz_replay.c in make check. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inspect/ckpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[256];

static int write_file(const char *name, const void *buf, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    size_t w = fwrite(buf, 1, len, fp);
    fclose(fp);
    return w == len ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/ckptdoc-fuzz-folder-XXXXXX", t && t[0] ? t : "/tmp");
        if (!mkdtemp(dir))
            abort();
        /* one real shard with two tensors the index may or may not name */
        static const char hdr[] = "{\"a.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                                  "\"b.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
        uint8_t shard[8 + sizeof hdr - 1 + 8] = {0};
        uint64_t n = sizeof hdr - 1;
        memcpy(shard, &n, 8);
        memcpy(shard + 8, hdr, n);
        if (write_file("model-00001-of-00001.safetensors", shard, sizeof shard) != 0)
            abort();
    }
    const uint8_t *nul = memchr(data, 0, size);
    size_t cfg_len = nul ? (size_t)(nul - data) : size;
    if (write_file("config.json", data, cfg_len) != 0)
        return 0;
    if (nul) {
        if (write_file("model.safetensors.index.json", nul + 1, size - cfg_len - 1) != 0)
            return 0;
    } else {
        char p[512];
        snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
        unlink(p);
    }
    ck_checkpoint ck;
    ck_err err;
    ck_err_clear(&err);
    if (ckpt_open(dir, 1, &ck, &err) == CK_OK)
        ckpt_free(&ck);
    return 0;
}
