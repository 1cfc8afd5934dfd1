/* dtype.c - the safetensors dtype table. */
#include "dtype.h"

#include <string.h>

static const struct { const char *name; unsigned bits; } dtype_table[DT_COUNT] = {
    [DT_BOOL] = {"BOOL", 8},         [DT_F4] = {"F4", 4},
    [DT_F6_E2M3] = {"F6_E2M3", 6},   [DT_F6_E3M2] = {"F6_E3M2", 6},
    [DT_U8] = {"U8", 8},             [DT_I8] = {"I8", 8},
    [DT_F8_E5M2] = {"F8_E5M2", 8},   [DT_F8_E4M3] = {"F8_E4M3", 8},
    [DT_F8_E8M0] = {"F8_E8M0", 8},   [DT_F8_E4M3FNUZ] = {"F8_E4M3FNUZ", 8},
    [DT_F8_E5M2FNUZ] = {"F8_E5M2FNUZ", 8},
    [DT_I16] = {"I16", 16},          [DT_U16] = {"U16", 16},
    [DT_F16] = {"F16", 16},          [DT_BF16] = {"BF16", 16},
    [DT_I32] = {"I32", 32},          [DT_U32] = {"U32", 32},
    [DT_F32] = {"F32", 32},          [DT_C64] = {"C64", 64},
    [DT_F64] = {"F64", 64},          [DT_I64] = {"I64", 64},
    [DT_U64] = {"U64", 64},
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
    static unsigned char lens[DT_COUNT];
    if (!lens[0]) /* benign race: every thread writes the same values */
        for (int i = 0; i < DT_COUNT; i++)
            lens[i] = (unsigned char)strlen(dtype_table[i].name);
    for (int i = 0; i < DT_COUNT; i++) {
        if (lens[i] == len && dtype_table[i].name[0] == name[0] &&
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
