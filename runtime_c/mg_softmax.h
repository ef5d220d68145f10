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
void mg_softmax_f32(const mg_softmax_f32_params *p, const float *MG_RESTRICT input, float *MG_RESTRICT output);

#endif
