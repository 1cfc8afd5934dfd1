/* dtype_conv.h - scalar conversions of narrow float formats to float, shared verbatim by the C
 * reference and the CUDA kernels (CK_HD marks them __host__ __device__ under nvcc), so both
 * sides decode every bit pattern the same way.
 *   BF16     : the high 16 bits of an IEEE binary32.
 *   F16      : IEEE binary16 (bias 15), subnormals, inf, NaN.
 *   F8_E4M3  : OCP E4M3 "fn" (torch.float8_e4m3fn): bias 7, no infinities, S.1111.111 is NaN,
 *              largest finite 448.
 *   F8_E5M2  : OCP E5M2: bias 15, IEEE-like, exponent 31 is inf (mantissa 0) or NaN.
 * Pure functions of their argument: every bit pattern has a value, nothing can fail or allocate. */
#ifndef CK_DTYPE_CONV_H
#define CK_DTYPE_CONV_H

#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define CK_HD __host__ __device__ __forceinline__
#else
#define CK_HD static inline
#endif

CK_HD float ck_bits_to_f32(uint32_t u)
{
#ifdef __CUDA_ARCH__
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, 4);
    return f;
#endif
}

CK_HD float ck_bf16_to_f32(uint16_t h)
{
    return ck_bits_to_f32((uint32_t)h << 16);
}

CK_HD float ck_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1F, man = h & 0x3FF;
    if (exp == 0x1F)
        return ck_bits_to_f32(sign | 0x7F800000u | (man << 13));
    if (exp == 0) {
        if (man == 0)
            return ck_bits_to_f32(sign);
        /* subnormal: man * 2^-24, exact in binary32 */
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return ck_bits_to_f32(sign | ((exp + 112) << 23) | (man << 13));
}

CK_HD float ck_e4m3_to_f32(uint8_t b)
{
    uint32_t sign = (uint32_t)(b >> 7) << 31;
    uint32_t exp = (b >> 3) & 0xF, man = b & 0x7;
    if (exp == 0xF && man == 0x7)
        return ck_bits_to_f32(sign | 0x7FC00000u);
    if (exp == 0) {
        float v = (float)man * 0.001953125f; /* man/8 * 2^-6 */
        return sign ? -v : v;
    }
    return ck_bits_to_f32(sign | ((exp + 120) << 23) | (man << 20));
}

CK_HD float ck_e5m2_to_f32(uint8_t b)
{
    uint32_t sign = (uint32_t)(b >> 7) << 31;
    uint32_t exp = (b >> 2) & 0x1F, man = b & 0x3;
    if (exp == 0x1F)
        return ck_bits_to_f32(sign | 0x7F800000u | (man << 21));
    if (exp == 0) {
        float v = (float)man * 1.52587890625e-05f; /* man/4 * 2^-14 */
        return sign ? -v : v;
    }
    return ck_bits_to_f32(sign | ((exp + 112) << 23) | (man << 21));
}

#endif
