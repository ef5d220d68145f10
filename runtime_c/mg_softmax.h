/* SOFTMAX kernels over the last axis: `rows` independent rows of `depth` values. */
#ifndef MG_SOFTMAX_H
#define MG_SOFTMAX_H

#include "mg_common.h"

typedef struct {
    int32_t rows;
    int32_t depth;
    /* exp_table[max - x]: TFLM's Q0.31 exp of the rescaled input difference (0 where TFLM skips
     * the element), computed at generation time; 256 entries. */
    const int32_t *exp_table;
} mg_softmax_s8_params;

/* int16 -> int16 (TFLM's SoftmaxInt16). */
typedef struct {
    int32_t rows;
    int32_t depth;
    int32_t input_multiplier; /* x - max to the exp table's input: [-65535, 0] -> [-10, 0] */
    int32_t input_shift;
    const int16_t *exp_lut;        /* 513 entries: exp over [-10, 0], Q0.15 */
    const int16_t *reciprocal_lut; /* 513 entries: 1 / (1 + x) over [0, 1], Q0.15 */
} mg_softmax_s16_params;

typedef struct {
    int32_t rows;
    int32_t depth;
    float beta;
} mg_softmax_f32_params;

/* int8 output: scale 1/256, zero point -128. */
void mg_softmax_s8(const mg_softmax_s8_params *p, const int8_t *MG_RESTRICT input, int8_t *MG_RESTRICT output);
/* int16 output: scale 1/65536, zero point -32768. */
void mg_softmax_s8_s16(const mg_softmax_s8_params *p, const int8_t *MG_RESTRICT input,
                       int16_t *MG_RESTRICT output);
/* int16 input (zero point 0), int16 output (scale 1/32768, zero point 0). */
void mg_softmax_s16(const mg_softmax_s16_params *p, const int16_t *MG_RESTRICT input, int16_t *MG_RESTRICT output);
void mg_softmax_f32(const mg_softmax_f32_params *p, const float *MG_RESTRICT input, float *MG_RESTRICT output);

#endif
