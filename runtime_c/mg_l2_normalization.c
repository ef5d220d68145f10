#include "mg_l2_normalization.h"

#include <math.h>

/* gemmlowp SaturatingRoundingMultiplyByPOT for a positive exponent: a saturating left shift. */
MG_INLINE int32_t mg_l2_saturating_shift_left(int32_t x, int exponent) {
    const int32_t threshold = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

MG_INLINE int mg_l2_clz32(uint32_t x) {
#if defined(__GNUC__) || defined(__clang__)
    return x ? __builtin_clz(x) : 32;
#else
    int n = 0;
    if (x == 0) {
        return 32;
    }
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
#endif
}

/* TFLM's GetInvSqrtQuantizedMultiplierExp(input, kReverseShift = -1): 1/sqrt(input) as a Q0.31
 * multiplier and a left shift, by Newton-Raphson in gemmlowp Q3.28 fixed point. */
static void mg_inv_sqrt_multiplier(int32_t input, int32_t *multiplier, int32_t *shift) {
    const int32_t one_q3 = (int32_t)1 << 28;
    const int32_t three_halves_q3 = ((int32_t)1 << 28) + ((int32_t)1 << 27);
    const int32_t half_sqrt2_q0 = 1518500250; /* sqrt(2) / 2 */
    int32_t right_shift = 11;
    int32_t half_input, x;
    int pairs, i;
    if (input <= 1) {
        /* TFLM treats 0 (all inputs at the zero point) like 1. */
        *multiplier = INT32_MAX;
        *shift = 0;
        return;
    }
    while (input >= ((int32_t)1 << 29)) {
        input /= 4;
        ++right_shift;
    }
    pairs = (mg_l2_clz32((uint32_t)input) - 1) / 2 - 1;
    right_shift -= pairs;
    input = (int32_t)((uint32_t)input << (2 * pairs));
    half_input = mg_rounding_divide_by_pot(input >> 1, 1); /* Q3.28 input, halved */
    x = one_q3;
    for (i = 0; i < 5; ++i) {
        /* x3 = x^3 (Q9 -> Q3); x = 3/2 x - input/2 x3 (Q6 -> Q3). Q3 * Q3 is Q6. */
        const int32_t x3 = mg_l2_saturating_shift_left(
            mg_sat_rounding_doubling_high_mul(mg_sat_rounding_doubling_high_mul(x, x), x), 6);
        const int32_t a = mg_sat_rounding_doubling_high_mul(three_halves_q3, x);
        const int32_t b = mg_sat_rounding_doubling_high_mul(half_input, x3);
        x = mg_l2_saturating_shift_left((int32_t)((uint32_t)a - (uint32_t)b), 3);
    }
    x = mg_sat_rounding_doubling_high_mul(x, half_sqrt2_q0);
    if (right_shift < 0) {
        x = (int32_t)((uint32_t)x << -right_shift);
        right_shift = 0;
    }
    *multiplier = x;
    *shift = -right_shift;
}

void mg_l2_normalization_s8(const mg_l2_normalization_s8_params *p, const int8_t *MG_RESTRICT input,
                            int8_t *MG_RESTRICT output) {
    const int32_t depth = p->depth;
    const int32_t zp = p->input_zero_point;
    int32_t r, c;
    for (r = 0; r < p->rows; ++r) {
        int32_t acc = 0;
        int32_t multiplier, shift;
        for (c = 0; c < depth; ++c) {
            const int32_t d = input[c] - zp;
            acc += d * d;
        }
        mg_inv_sqrt_multiplier(acc, &multiplier, &shift);
        for (c = 0; c < depth; ++c) {
            /* + 7: the output is in 1/128 units. */
            const int32_t out = mg_multiply_by_quantized_multiplier(input[c] - zp, multiplier, (int)shift + 7);
            output[c] = (int8_t)mg_clamp_i32(out, INT8_MIN, INT8_MAX);
        }
        input += depth;
        output += depth;
    }
}

void mg_l2_normalization_f32(const mg_l2_normalization_f32_params *p, const float *MG_RESTRICT input,
                             float *MG_RESTRICT output) {
    const int32_t depth = p->depth;
    int32_t r, c;
    for (r = 0; r < p->rows; ++r) {
        float sum = 0.0f;
        float norm;
        for (c = 0; c < depth; ++c) {
            sum += input[c] * input[c];
        }
        norm = sqrtf(sum);
        norm = norm > p->epsilon ? norm : p->epsilon;
        for (c = 0; c < depth; ++c) {
            output[c] = input[c] / norm;
        }
        input += depth;
        output += depth;
    }
}
