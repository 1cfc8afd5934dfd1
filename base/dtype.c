/* dtype.c - the safetensors dtype table. */
#include "base/dtype.h"

#include <string.h>

/* len is the name's length, fixed at compile time: the table is read by every shard-reading thread */
#define D(n, b) {n, sizeof n - 1, b}
static const struct { const char *name; unsigned char len; unsigned bits; } dtype_table[DT_COUNT] = {
    [DT_BOOL] = D("BOOL", 8),         [DT_F4] = D("F4", 4),
    [DT_F6_E2M3] = D("F6_E2M3", 6),   [DT_F6_E3M2] = D("F6_E3M2", 6),
    [DT_U8] = D("U8", 8),             [DT_I8] = D("I8", 8),
    [DT_F8_E5M2] = D("F8_E5M2", 8),   [DT_F8_E4M3] = D("F8_E4M3", 8),
    [DT_F8_E8M0] = D("F8_E8M0", 8),   [DT_F8_E4M3FNUZ] = D("F8_E4M3FNUZ", 8),
    [DT_F8_E5M2FNUZ] = D("F8_E5M2FNUZ", 8),
    [DT_I16] = D("I16", 16),          [DT_U16] = D("U16", 16),
    [DT_F16] = D("F16", 16),          [DT_BF16] = D("BF16", 16),
    [DT_I32] = D("I32", 32),          [DT_U32] = D("U32", 32),
    [DT_F32] = D("F32", 32),          [DT_C64] = D("C64", 64),
    [DT_F64] = D("F64", 64),          [DT_I64] = D("I64", 64),
    [DT_U64] = D("U64", 64),
};

const char *dtype_name(ck_dtype t)
{
    return (unsigned)t < DT_COUNT ? dtype_table[t].name : "?";
}

unsigned dtype_bits(ck_dtype t)
{
    return (unsigned)t < DT_COUNT ? dtype_table[t].bits : 0;
}

int dtype_parse(const char *name, size_t len, ck_dtype *out)
{
    for (int i = 0; i < DT_COUNT; i++) {
        if (dtype_table[i].len == len && dtype_table[i].name[0] == name[0] &&
            memcmp(dtype_table[i].name, name, len) == 0) {
            *out = (ck_dtype)i;
            return 0;
        }
    }
    return -1;
}

int dtype_is_float(ck_dtype t)
{
    switch (t) {
    case DT_F8_E5M2: case DT_F8_E4M3: case DT_F16: case DT_BF16: case DT_F32: case DT_F64:
        return 1;
    default:
        return 0;
    }
}
