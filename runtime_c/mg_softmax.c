#include "mg_softmax.h"

#include <float.h>
#include <math.h>

/* Sums of exps are Q12.19, as TFLM's kAccumulationIntegerBits. */
#define MG_SOFTMAX_ACCUM_BITS 12

/* gemmlowp's fixed-point + and - are plain int32 arithmetic; wrap instead of overflowing (UB). */
MG_INLINE int32_t mg_wrapping_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
MG_INLINE int32_t mg_wrapping_sub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }

MG_INLINE int mg_clz32(uint32_t x) {
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

/* gemmlowp SaturatingRoundingMultiplyByPOT with a positive exponent: a saturating left shift. */
MG_INLINE int32_t mg_saturating_shift_left(int32_t x, int exponent) {
    const int32_t threshold = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

/* gemmlowp RoundingHalfSum: (a + b) / 2 rounded half away from zero. */
MG_INLINE int32_t mg_rounding_half_sum(int32_t a, int32_t b) {
    const int64_t sum = (int64_t)a + (int64_t)b;
    return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1: Newton-Raphson division in Q2.29, Q0.31 in and out. */
static int32_t mg_one_over_one_plus_x_for_x_in_0_1(int32_t a) {
    const int32_t constant_48_over_17 = 1515870810;
    const int32_t constant_neg_32_over_17 = -1010580540;
    const int32_t one_q2 = (int32_t)1 << 29;
    const int32_t half_denominator = mg_rounding_half_sum(a, INT32_MAX);
    int32_t x = mg_wrapping_add(constant_48_over_17, mg_sat_rounding_doubling_high_mul(half_denominator, constant_neg_32_over_17));
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = mg_sat_rounding_doubling_high_mul(half_denominator, x);
        const int32_t one_minus_half_denominator_times_x = mg_wrapping_sub(one_q2, half_denominator_times_x);
        x = mg_wrapping_add(x, mg_saturating_shift_left(mg_sat_rounding_doubling_high_mul(x, one_minus_half_denominator_times_x), 2));
    }
    return mg_saturating_shift_left(x, 1);
}

/* One row, as TFLM's reference Softmax<int8_t, OutputT>. The reciprocal of the sum is a Q0.31
 * `scale` with `exponent` extra right shift; output = exp * scale >> exponent, offset by the
 * output type's minimum. */
typedef struct {
    int32_t scale;
    int exponent;
} mg_softmax_norm;

MG_INLINE int32_t mg_softmax_row_max(const int8_t *MG_RESTRICT x, int32_t depth) {
    int8_t max = INT8_MIN;
    int32_t c;
    for (c = 0; c < depth; ++c) {
        max = x[c] > max ? x[c] : max;
    }
    return max;
}

static mg_softmax_norm mg_softmax_normalizer(const int32_t *MG_RESTRICT table, const int8_t *MG_RESTRICT x,
                                             int32_t depth, int32_t max, int output_bits) {
    mg_softmax_norm n;
    int32_t sum = 0;
    int32_t c;
    int headroom_plus_one;
    /* Rescale each Q0.31 exp to Q12.19 and add, as TFLM. */
    for (c = 0; c < depth; ++c) {
        sum = mg_wrapping_add(sum, mg_rounding_divide_by_pot(table[max - x[c]], MG_SOFTMAX_ACCUM_BITS));
    }
    /* TFLM's GetReciprocal. The row maximum contributes exp(0) = 1, so sum > 0. */
    headroom_plus_one = mg_clz32((uint32_t)sum);
    if (headroom_plus_one > 31) {
        headroom_plus_one = 31;
    }
    n.scale = mg_one_over_one_plus_x_for_x_in_0_1(
        (int32_t)(((uint32_t)sum << headroom_plus_one) - ((uint32_t)1 << 31)));
    n.exponent = MG_SOFTMAX_ACCUM_BITS - headroom_plus_one + 31 - output_bits;
    /* TFLM aborts outside [0, 31]; keep the shift defined. */
    n.exponent = n.exponent < 0 ? 0 : (n.exponent > 31 ? 31 : n.exponent);
    return n;
}

MG_INLINE int32_t mg_softmax_scaled(int32_t exp_q0, mg_softmax_norm n) {
    return mg_rounding_divide_by_pot(mg_sat_rounding_doubling_high_mul(n.scale, exp_q0), n.exponent);
}

void mg_softmax_s8(const mg_softmax_s8_params *p, const int8_t *MG_RESTRICT input, int8_t *MG_RESTRICT output) {
    const int32_t depth = p->depth;
    const int32_t *table = p->exp_table;
    int32_t r, c;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *x = input + (size_t)r * depth;
        int8_t *y = output + (size_t)r * depth;
        const int32_t max = mg_softmax_row_max(x, depth);
        const mg_softmax_norm n = mg_softmax_normalizer(table, x, depth, max, 8);
        for (c = 0; c < depth; ++c) {
            y[c] = (int8_t)mg_clamp_i32(mg_softmax_scaled(table[max - x[c]], n) + INT8_MIN, INT8_MIN, INT8_MAX);
        }
    }
}

void mg_softmax_s8_s16(const mg_softmax_s8_params *p, const int8_t *MG_RESTRICT input,
                       int16_t *MG_RESTRICT output) {
    const int32_t depth = p->depth;
    const int32_t *table = p->exp_table;
    int32_t r, c;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *x = input + (size_t)r * depth;
        int16_t *y = output + (size_t)r * depth;
        const int32_t max = mg_softmax_row_max(x, depth);
        const mg_softmax_norm n = mg_softmax_normalizer(table, x, depth, max, 16);
        for (c = 0; c < depth; ++c) {
            y[c] = (int16_t)mg_clamp_i32(mg_softmax_scaled(table[max - x[c]], n) + INT16_MIN, INT16_MIN, INT16_MAX);
        }
    }
}

/* TFLM's int16 table lookup: the top 9 bits of x pick a segment, the low 7 interpolate linearly. */
MG_INLINE int32_t mg_softmax_lut_s16(const int16_t *MG_RESTRICT lut, int32_t x) {
    const int32_t index = 256 + (x >> 7);
    const int32_t offset = x & 0x7f;
    const int32_t base = lut[index];
    const int32_t slope = (int16_t)(lut[index + 1] - base);
    return (int16_t)(base + ((slope * offset + 64) >> 7));
}

void mg_softmax_s16(const mg_softmax_s16_params *p, const int16_t *MG_RESTRICT input, int16_t *MG_RESTRICT output) {
    const int32_t depth = p->depth;
    int32_t r, c;
    for (r = 0; r < p->rows; ++r) {
        const int16_t *x = input + (size_t)r * depth;
        int16_t *y = output + (size_t)r * depth;
        int32_t max = INT16_MIN;
        int32_t sum = 0; /* Q16.15 */
        int headroom_plus_one, right_shift;
        int32_t shifted_sum, reciprocal;
        for (c = 0; c < depth; ++c) {
            max = x[c] > max ? x[c] : max;
        }
        /* The exps go to the output first, as in TFLM, and are rescaled in place below. */
        for (c = 0; c < depth; ++c) {
            const int32_t scaled = mg_requantize_nonneg(x[c] - max, p->input_multiplier, p->input_shift);
            /* Recentred from [-65535, 0] onto the int16 range; wraps like TFLM if the rescaling overflowed. */
            const int32_t centred = mg_wrapping_add(scaled, 32767);
            y[c] = (int16_t)mg_softmax_lut_s16(p->exp_lut, mg_clamp_i32(centred, INT16_MIN, INT16_MAX));
            sum = mg_wrapping_add(sum, y[c]);
        }
        /* 1 / sum: normalise sum to [1, 2) in Q1.14 (rounded), recentre 1 + [0, 1) onto the int16
         * range and look 1 / (1 + x) up. The row maximum's exp (about 1.0) keeps sum positive;
         * a sum that wrapped (rows of more than 65535 values) is kept defined, not meaningful. */
        headroom_plus_one = mg_clz32((uint32_t)sum);
        headroom_plus_one = headroom_plus_one < 1 ? 1 : headroom_plus_one;
        shifted_sum = (int32_t)((((int64_t)sum << (headroom_plus_one - 1)) + (1 << 13)) >> 14);
        reciprocal = mg_softmax_lut_s16(p->reciprocal_lut,
                                        mg_clamp_i32(shifted_sum - ((1 << 15) + (1 << 16)), INT16_MIN, INT16_MAX));
        right_shift = 31 - headroom_plus_one;
        right_shift = right_shift < 1 ? 1 : right_shift;
        for (c = 0; c < depth; ++c) {
            const int32_t v = (int32_t)(((int64_t)y[c] * reciprocal + ((int64_t)1 << (right_shift - 1))) >> right_shift);
            y[c] = (int16_t)mg_clamp_i32(v, 0, INT16_MAX);
        }
    }
}

void mg_softmax_f32(const mg_softmax_f32_params *p, const float *MG_RESTRICT input, float *MG_RESTRICT output) {
    const int32_t depth = p->depth;
    const float beta = p->beta;
    int32_t r, c;
    for (r = 0; r < p->rows; ++r) {
        const float *x = input + (size_t)r * depth;
        float *y = output + (size_t)r * depth;
        float max = -FLT_MAX;
        float sum = 0.0f;
        for (c = 0; c < depth; ++c) {
            max = x[c] > max ? x[c] : max;
        }
        for (c = 0; c < depth; ++c) {
            y[c] = expf((x[c] - max) * beta);
            sum += y[c];
        }
        for (c = 0; c < depth; ++c) {
            y[c] = y[c] / sum;
        }
    }
}
