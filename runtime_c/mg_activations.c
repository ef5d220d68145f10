#include "mg_activations.h"

#include <math.h>

void mg_lut_s8(const mg_lut_s8_params *p, const int8_t *MG_RESTRICT input, int8_t *MG_RESTRICT output) {
    const int8_t *table = p->table;
    const int32_t n = p->size;
    int32_t i;
    for (i = 0; i < n; ++i) {
        output[i] = table[(uint8_t)input[i]];
    }
}

/* The input on TFLM's table scale (x * 3/4 on the power-of-two scales; see the params). The
 * right shift of a negative value is arithmetic on every compiler mcugen targets, as in TFLM. */
MG_INLINE int32_t mg_sigmoid_s16_input(const mg_sigmoid_s16_params *p, int16_t x) {
    return ((int32_t)x * p->input_multiplier + p->input_round) >> p->input_left_shift;
}

void mg_logistic_s16(const mg_sigmoid_s16_params *p, const int16_t *MG_RESTRICT input, int16_t *MG_RESTRICT output) {
    const uint16_t *table = p->sigmoid_table;
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t x = mg_sigmoid_s16_input(p, input[i]);
        const uint32_t ax = x < 0 ? (uint32_t)(-x) : (uint32_t)x;
        const uint32_t index = ax >> 9; /* table step: 2^9 input units */
        uint32_t r;
        if (index >= 255) {
            r = (uint32_t)0x7FFF << 10;
        } else {
            const uint32_t lo = table[index], hi = table[index + 1];
            r = (lo << 9) + (ax & 0x1FF) * (hi - lo);
        }
        /* sigmoid(-x) = 1 - sigmoid(x); both rounded back to Q0.15. */
        r = x >= 0 ? r + (1u << 9) : ((uint32_t)1 << 25) - r + (1u << 9) - 1u;
        output[i] = (int16_t)(r >> 10);
    }
}

void mg_tanh_s16(const mg_sigmoid_s16_params *p, const int16_t *MG_RESTRICT input, int16_t *MG_RESTRICT output) {
    const uint16_t *table = p->sigmoid_table;
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t x = mg_sigmoid_s16_input(p, input[i]);
        const uint32_t ax = x < 0 ? (uint32_t)(-x) : (uint32_t)x;
        const uint32_t index = ax >> 8; /* tanh(x) = 2 sigmoid(2x) - 1: half the table step */
        int32_t r;
        if (index >= 255) {
            r = 0xFFFF << 8;
        } else {
            const uint32_t lo = table[index], hi = table[index + 1];
            r = (int32_t)((lo << 8) + (ax & 0xFF) * (hi - lo));
        }
        r = x >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
        output[i] = (int16_t)(r >> 8);
    }
}

void mg_logistic_f32(const mg_unary_f32_params *p, const float *MG_RESTRICT input, float *MG_RESTRICT output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const float x = input[i];
        /* TFLM's cut-offs: 1 above 16.619..., exp(x) below -9. */
        output[i] = x > 16.619047164916992188f ? 1.0f : x < -9.0f ? expf(x) : 1.0f / (1.0f + expf(-x));
    }
}

void mg_tanh_f32(const mg_unary_f32_params *p, const float *MG_RESTRICT input, float *MG_RESTRICT output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = tanhf(input[i]);
    }
}

void mg_relu_f32(const mg_relu_f32_params *p, const float *MG_RESTRICT input, float *MG_RESTRICT output) {
    const float lo = p->lo, hi = p->hi;
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = mg_clamp_f32(input[i], lo, hi);
    }
}

void mg_leaky_relu_f32(const mg_leaky_relu_f32_params *p, const float *MG_RESTRICT input, float *MG_RESTRICT output) {
    const float alpha = p->alpha;
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const float x = input[i];
        output[i] = x > 0.0f ? x : x * alpha; /* alpha may be > 1 or < 0: not a max() */
    }
}

void mg_hard_swish_f32(const mg_unary_f32_params *p, const float *MG_RESTRICT input, float *MG_RESTRICT output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const float x = input[i];
        float r = x + 3.0f;
        r = 0.0f < r ? r : 0.0f;
        r = r < 6.0f ? r : 6.0f;
        output[i] = x * r / 6.0f;
    }
}

void mg_elu_f32(const mg_unary_f32_params *p, const float *MG_RESTRICT input, float *MG_RESTRICT output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const float x = input[i];
        output[i] = x < 0.0f ? expm1f(x) : x;
    }
}

/* Element offset of an operand at outer loop indices (i0, i1, i2). */
MG_INLINE size_t mg_prelu_offset(int32_t i0, int32_t i1, int32_t i2, int32_t s0, int32_t s1, int32_t s2) {
    return (size_t)i0 * (size_t)s0 + (size_t)i1 * (size_t)s1 + (size_t)i2 * (size_t)s2;
}

MG_INLINE int8_t mg_prelu_s8_one(const mg_prelu_s8_params *p, int8_t x, int8_t a) {
    const int32_t v = p->input_offset + x;
    int32_t out;
    if (v >= 0) {
        out = mg_multiply_by_quantized_multiplier(v, p->output_multiplier_1, p->output_shift_1);
    } else {
        out = mg_multiply_by_quantized_multiplier(v * (p->alpha_offset + a), p->output_multiplier_2, p->output_shift_2);
    }
    return (int8_t)mg_clamp_i32(out + p->output_offset, -128, 127);
}

void mg_prelu_s8(const mg_prelu_s8_params *p, const int8_t *MG_RESTRICT input, const int8_t *MG_RESTRICT alpha,
                 int8_t *MG_RESTRICT output) {
    int32_t i0, i1, i2, i;
    for (i0 = 0; i0 < p->size0; ++i0) {
        for (i1 = 0; i1 < p->size1; ++i1) {
            for (i2 = 0; i2 < p->size2; ++i2) {
                const int8_t *x = input + mg_prelu_offset(i0, i1, i2, p->in_stride0, p->in_stride1, p->in_stride2);
                const int8_t *a = alpha + mg_prelu_offset(i0, i1, i2, p->alpha_stride0, p->alpha_stride1, p->alpha_stride2);
                for (i = 0; i < p->size3; ++i) {
                    *output++ = mg_prelu_s8_one(p, *x, *a);
                    x += p->in_stride3;
                    a += p->alpha_stride3;
                }
            }
        }
    }
}

void mg_prelu_f32(const mg_prelu_f32_params *p, const float *MG_RESTRICT input, const float *MG_RESTRICT alpha,
                  float *MG_RESTRICT output) {
    int32_t i0, i1, i2, i;
    for (i0 = 0; i0 < p->size0; ++i0) {
        for (i1 = 0; i1 < p->size1; ++i1) {
            for (i2 = 0; i2 < p->size2; ++i2) {
                const float *x = input + mg_prelu_offset(i0, i1, i2, p->in_stride0, p->in_stride1, p->in_stride2);
                const float *a = alpha + mg_prelu_offset(i0, i1, i2, p->alpha_stride0, p->alpha_stride1, p->alpha_stride2);
                for (i = 0; i < p->size3; ++i) {
                    const float v = x[(size_t)i * (size_t)p->in_stride3];
                    output[i] = v >= 0.0f ? v : v * a[(size_t)i * (size_t)p->alpha_stride3];
                }
                output += p->size3;
            }
        }
    }
}
