/* fuzz_quant.c - libFuzzer target for what a quantization_config makes of a plan: the input is
 * the JSON value of config.json's "quantization_config", put into fixtures/moe/tiny-qwen3_5-moe-fp8's
 * config (a vision-language wrapper, fused parts, experts) beside its real shard; the folder is
 * opened, planned with the built-in qwen3_5 rules at a layout the input's length picks, and the
 * load simulated. Any value (ignore lists of names and "re:" patterns, methods, groups, block
 * sizes) must give a plan or a reason, and findings, never a crash, a hang or unbounded memory.
 * Replayed without libFuzzer by tests/fuzz_replay.c in make check (from the repository root). */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "tests/fuzz_plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SRC "fixtures/moe/tiny-qwen3_5-moe-fp8"

static char dir[256];
static char *rest;   /* the source config less its quantization_config, printed without its '{' */
static rules_file rules;

static int setup(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/ckptdoc-fuzz-quant-XXXXXX", t && t[0] ? t : "/tmp");
    char cwd[PATH_MAX], shard[PATH_MAX + 64], link[512];
    if (!mkdtemp(dir) || !getcwd(cwd, sizeof cwd))
        return -1;
    snprintf(shard, sizeof shard, "%s/" SRC "/model.safetensors", cwd);
    snprintf(link, sizeof link, "%s/model.safetensors", dir);
    if (symlink(shard, link) != 0)
        return -1;
    FILE *fp = fopen(SRC "/config.json", "rb");
    if (!fp)
        return -1;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = 0;
    cJSON *cfg = cJSON_Parse(buf);
    if (!cfg)
        return -1;
    cJSON_DeleteItemFromObjectCaseSensitive(cfg, "quantization_config");
    rest = cJSON_PrintUnformatted(cfg);
    cJSON_Delete(cfg);
    ck_err err;
    ck_err_clear(&err);
    return rest && rest[0] == '{' && rules_load_builtin("qwen3_5", &rules, &err) == CK_OK ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!rest && setup() != 0)
        abort(); /* run from the repository root */
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return 0;
    /* {"quantization_config": INPUT, the rest of the source config} */
    int ok = fputs("{\"quantization_config\":", fp) >= 0 && fwrite(data, 1, size, fp) == size &&
             fputs(",", fp) >= 0 && fputs(rest + 1, fp) >= 0;
    if (fclose(fp) != 0 || !ok)
        return 0;
    ck_checkpoint ck;
    ck_err err;
    ck_err_clear(&err);
    if (ckpt_open(dir, 1, &ck, &err) != CK_OK)
        return 0;
    static const int tps[] = {1, 2, 4};
    plan_layout lay = {tps[size % 3], 1 + (int)(size / 3 % 2), (int)(size / 6 % 2), {0}, 0, 0, NULL, 0};
    fuzz_plan_and_simulate(&rules, &ck, &lay);
    ckpt_free(&ck);
    return 0;
}
