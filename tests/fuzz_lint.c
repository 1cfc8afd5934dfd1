/* fuzz_lint.c - libFuzzer target for lint's path past the rules reader: any bytes as a rules
 * file (lint --rules FILE) are parsed and, when they parse, planned against a real checkpoint
 * (fixtures/real/tiny-qwen2, read once) at a layout the input's length picks, and the load
 * simulated. Any rules must give a plan or a rules error, and a simulation with findings, never
 * a crash, a hang or unbounded memory. Replayed without libFuzzer by tests/fuzz_replay.c in
 * make check (from the repository root). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inspect/ckpt.h"
#include "loader/plan.h"
#include "loader/simulate.h"
#include "rules/rules.h"
#include "tests/fuzz_plan.h"
#include "tests/fuzz_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ck_checkpoint ck;
static int opened;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ck_err err;
    ck_err_clear(&err);
    if (!opened) {
        if (ckpt_open("fixtures/real/tiny-qwen2", 1, &ck, &err) != CK_OK)
            abort(); /* run from the repository root */
        opened = 1;
    }
    char *text = fuzz_text(data, size);
    if (!text)
        return 0;
    rules_file r;
    if (rules_parse(text, size, "fuzz.json", &r, &err) != CK_OK) {
        if (!err.msg[0])
            abort(); /* every rejection says why */
        free(text);
        return 0;
    }
    static const int tps[] = {1, 2, 4, 8};
    plan_layout lay = {tps[size % 4], 1 + (int)(size / 4 % 3), (int)(size / 12 % 2), {0}, 0, 0, NULL, 0};
    fuzz_plan_and_simulate(&r, &ck, &lay);
    rules_free(&r);
    free(text);
    return 0;
}
