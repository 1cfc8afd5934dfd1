/* fuzz_explain.c - libFuzzer target for explain's reader of pasted text: any bytes as the error
 * line of `ckptdoc explain DIR TEXT` (the first byte picks a real checkpoint, a layout and the
 * rules; the rest is the text), and as a finding code `ckptdoc explain CODE`. Every input must
 * end in exit status 0, 1 or 2, never a crash, a hang or unbounded memory; what explain prints
 * goes to /dev/null. Replayed without libFuzzer by tests/fuzz_replay.c in make check (from the
 * repository root). */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "tests/fuzz_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char *const dirs[] = {"fixtures/real/tiny-qwen2", "fixtures/lint/r1-tiny", "fixtures/moe/tiny-mixtral",
                                       "fixtures/moe/tiny-llama4"};
    static const char *const tps[] = {"1", "2", "4", "8"};
    char *text = fuzz_text(data + 1, size - 1);
    if (!text)
        return 0;
    char cmd[] = "explain", tpo[] = "--tp", rulo[] = "--rules", xt[] = "xtuner";
    char *argv[8] = {cmd, (char *)dirs[data[0] % 4], text, tpo, (char *)tps[data[0] / 4 % 4], NULL, NULL, NULL};
    int argc = 5;
    if (data[0] / 16 % 4 == 3 && data[0] % 4 == 1) { /* XTuner's rules over the DeepSeek-shaped one */
        argv[argc++] = rulo;
        argv[argc++] = xt;
    }
    int rc = fuzz_quietly(cmd_explain, argc, argv, 0);
    if (rc < 0 || rc > 2)
        abort();
    char *code[3] = {cmd, text, NULL}; /* the text as a finding code */
    rc = fuzz_quietly(cmd_explain, 2, code, 0);
    if (rc < 0 || rc > 2)
        abort();
    free(text);
    return 0;
}
