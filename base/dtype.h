/* dtype.h - the 22 element types of the safetensors format and their sizes in bits.
 * Names are exactly the strings the format uses; the order is the reference's declaration order.
 * Lookups only: names are static strings and nothing is allocated or reported as an error. */
#ifndef CK_DTYPE_H
#define CK_DTYPE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    DT_BOOL, DT_F4, DT_F6_E2M3, DT_F6_E3M2, DT_U8, DT_I8, DT_F8_E5M2, DT_F8_E4M3, DT_F8_E8M0,
    DT_F8_E4M3FNUZ, DT_F8_E5M2FNUZ, DT_I16, DT_U16, DT_F16, DT_BF16, DT_I32, DT_U32, DT_F32,
    DT_C64, DT_F64, DT_I64, DT_U64,
    DT_COUNT
} ck_dtype;

/* The format's name of t ("BF16"); "?" for a value out of range. */
const char *dtype_name(ck_dtype t);
/* Bits per element (4, 6, 8, 16, 32 or 64); 0 for a value out of range. */
unsigned dtype_bits(ck_dtype t);
/* Looks up a name of len bytes (not NUL-terminated); returns 0 and sets *out, or -1 if unknown
 * (*out untouched). */
int dtype_parse(const char *name, size_t len, ck_dtype *out);
/* Whether values of t are floating point numbers that --verify takes statistics of. */
int dtype_is_float(ck_dtype t);

#ifdef __cplusplus
}
#endif

#endif
