#include "mg_quantize.h"

#include <math.h>

/* TFLM: round(x / scale) (float division, halves away from zero) + zero point, clamped. Values whose
 * rounded quotient is out of int32 range (and NaN) are undefined in TFLM; they saturate here. */
MG_INLINE int32_t mg_quantize_one(const mg_quantize_f32_params *p, float x) {
    const float r = roundf(x / p->scale);
    int32_t q;
    if (!(r >= -65536.0f)) { /* also NaN */
        q = -65536;
    } else if (r > 65536.0f) {
        q = 65536;
    } else {
        q = (int32_t)r;
    }
    return mg_clamp_i32(q + p->zero_point, p->qmin, p->qmax);
}

void mg_quantize_f32_s8(const mg_quantize_f32_params *p, const float *MG_RESTRICT input, int8_t *MG_RESTRICT output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (int8_t)mg_quantize_one(p, input[i]);
    }
}

void mg_quantize_f32_s16(const mg_quantize_f32_params *p, const float *MG_RESTRICT input, int16_t *MG_RESTRICT output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (int16_t)mg_quantize_one(p, input[i]);
    }
}

MG_INLINE int32_t mg_requantize_one(const mg_requantize_params *p, int32_t x) {
    const int32_t out = mg_multiply_by_quantized_multiplier(x + p->input_offset, p->multiplier, p->shift);
    return mg_clamp_i32(out + p->output_offset, p->qmin, p->qmax);
}

#define MG_REQUANTIZE_LOOP(OUT_T)                                 \
    do {                                                          \
        int32_t i;                                                \
        for (i = 0; i < p->size; ++i) {                           \
            output[i] = (OUT_T)mg_requantize_one(p, input[i]);    \
        }                                                         \
    } while (0)

void mg_requantize_s8_s8(const mg_requantize_params *p, const int8_t *MG_RESTRICT input, int8_t *MG_RESTRICT output) {
    MG_REQUANTIZE_LOOP(int8_t);
}

void mg_requantize_s8_s16(const mg_requantize_params *p, const int8_t *MG_RESTRICT input, int16_t *MG_RESTRICT output) {
    MG_REQUANTIZE_LOOP(int16_t);
}

void mg_requantize_s16_s8(const mg_requantize_params *p, const int16_t *MG_RESTRICT input, int8_t *MG_RESTRICT output) {
    MG_REQUANTIZE_LOOP(int8_t);
}

void mg_requantize_s16_s16(const mg_requantize_params *p, const int16_t *MG_RESTRICT input,
                           int16_t *MG_RESTRICT output) {
    MG_REQUANTIZE_LOOP(int16_t);
}

void mg_requantize_s8_s8_table(const mg_requantize_s8_table_params *p, const int8_t *MG_RESTRICT input,
                               int8_t *MG_RESTRICT output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = p->table[input[i] + 128];
    }
}

void mg_requantize_s8_s16_table(const mg_requantize_s16_table_params *p, const int8_t *MG_RESTRICT input,
                                int16_t *MG_RESTRICT output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = p->table[input[i] + 128];
    }
}
