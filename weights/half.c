/* half.c - IEEE-754 binary16 <-> binary32, exact, round to nearest even.
 *
 * half -> float is exact for every input (NaN payloads are kept, shifted
 * into the top of the float mantissa). float -> half rounds to nearest,
 * ties to even, in the normal and the subnormal range; values >= 65520 in
 * magnitude become infinity; NaN stays NaN (quiet, top payload bits kept). */
#include "weights/y5w.h"

#include <string.h>

float y5_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu;
    uint32_t m = h & 0x3ffu;
    uint32_t x;
    if (e == 0) {
        if (m == 0) {
            x = sign;
        } else {
            /* subnormal: m * 2^-24; normalise so that bit 10 is set */
            uint32_t be = 113; /* biased float exponent of 2^-14 */
            while (!(m & 0x400u)) {
                m <<= 1;
                be--;
            }
            x = sign | (be << 23) | ((m & 0x3ffu) << 13);
        }
    } else if (e == 31) {
        x = sign | 0x7f800000u | (m << 13);
    } else {
        x = sign | ((e + 112u) << 23) | (m << 13);
    }
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

uint16_t y5_float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) {
        if (ax == 0x7f800000u) return (uint16_t)(sign | 0x7c00u);
        return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu)); /* quiet NaN */
    }
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520: inf */
    if (ax >= 0x38800000u) {
        /* normal half: rebias the exponent (127 -> 15), round 23 -> 10 bits */
        uint32_t r = ax - 0x38000000u;
        r += 0xfffu + ((r >> 13) & 1u);
        return (uint16_t)(sign | (r >> 13));
    }
    if (ax < 0x33000000u) return (uint16_t)sign; /* <= 2^-25: rounds to zero */
    /* subnormal half: value in units of 2^-24, round to nearest even */
    uint32_t be = ax >> 23;                     /* 102 .. 112 */
    uint32_t m = (ax & 0x7fffffu) | 0x800000u;  /* 24-bit significand */
    uint32_t shift = 126u - be;                 /* 14 .. 24 */
    uint32_t q = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1u);
    uint32_t halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (q & 1u))) q++;
    return (uint16_t)(sign | q);
}
