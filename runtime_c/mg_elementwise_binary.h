/* Elementwise binary kernels with numpy broadcasting: SUB, MUL, MAXIMUM, MINIMUM. */
#ifndef MG_ELEMENTWISE_BINARY_H
#define MG_ELEMENTWISE_BINARY_H

#include "mg_common.h"

/* int8 SUB as TFLM: both inputs shifted left by left_shift, scaled to twice the larger input
 * scale, subtracted, requantized to the output. */
typedef struct {
    MG_BROADCAST_FIELDS;
    MG_RESCALE2_FIELDS;
    /* mg_sub_s8_table only: table[(uint8_t)x] is input x's scaled value, computed at generation time. */
    const int32_t *input1_table;
    const int32_t *input2_table;
} mg_sub_s8_params;

/* int8 and int16 MUL: output_offset + (x + input1_offset) * (y + input2_offset) * real multiplier. */
typedef struct {
    MG_BROADCAST_FIELDS;
    int32_t input1_offset; /* -zero_point */
    int32_t input2_offset;
    int32_t output_offset;
    int32_t output_multiplier;
    int32_t output_shift;
    int32_t act_min;
    int32_t act_max;
} mg_mul_s8_params;

/* float SUB and MUL with a fused activation. */
typedef struct {
    MG_BROADCAST_FIELDS;
    float act_min;
    float act_max;
} mg_arith_f32_params;

/* int32 SUB and MUL (unquantized): wrap around on overflow, clamp to the fused activation. */
typedef struct {
    MG_BROADCAST_FIELDS;
    int32_t act_min;
    int32_t act_max;
} mg_arith_s32_params;

/* MAXIMUM and MINIMUM of any type: raw values are compared, as TFLM does (the converter gives
 * inputs and output one quantization). */
typedef struct {
    MG_BROADCAST_FIELDS;
} mg_minmax_params;

void mg_sub_s8(const mg_sub_s8_params *p, const int8_t *MG_RESTRICT input1, const int8_t *MG_RESTRICT input2,
               int8_t *MG_RESTRICT output);
void mg_sub_s8_table(const mg_sub_s8_params *p, const int8_t *MG_RESTRICT input1,
                     const int8_t *MG_RESTRICT input2, int8_t *MG_RESTRICT output);
void mg_sub_f32(const mg_arith_f32_params *p, const float *MG_RESTRICT input1, const float *MG_RESTRICT input2,
                float *MG_RESTRICT output);

void mg_sub_s32(const mg_arith_s32_params *p, const int32_t *MG_RESTRICT input1, const int32_t *MG_RESTRICT input2,
                int32_t *MG_RESTRICT output);

void mg_mul_s8(const mg_mul_s8_params *p, const int8_t *MG_RESTRICT input1, const int8_t *MG_RESTRICT input2,
               int8_t *MG_RESTRICT output);
void mg_mul_s16(const mg_mul_s8_params *p, const int16_t *MG_RESTRICT input1, const int16_t *MG_RESTRICT input2,
                int16_t *MG_RESTRICT output);
void mg_mul_s32(const mg_arith_s32_params *p, const int32_t *MG_RESTRICT input1, const int32_t *MG_RESTRICT input2,
                int32_t *MG_RESTRICT output);
void mg_mul_f32(const mg_arith_f32_params *p, const float *MG_RESTRICT input1, const float *MG_RESTRICT input2,
                float *MG_RESTRICT output);

void mg_maximum_s8(const mg_minmax_params *p, const int8_t *MG_RESTRICT input1, const int8_t *MG_RESTRICT input2,
                   int8_t *MG_RESTRICT output);
void mg_minimum_s8(const mg_minmax_params *p, const int8_t *MG_RESTRICT input1, const int8_t *MG_RESTRICT input2,
                   int8_t *MG_RESTRICT output);
void mg_maximum_s16(const mg_minmax_params *p, const int16_t *MG_RESTRICT input1, const int16_t *MG_RESTRICT input2,
                    int16_t *MG_RESTRICT output);
void mg_minimum_s16(const mg_minmax_params *p, const int16_t *MG_RESTRICT input1, const int16_t *MG_RESTRICT input2,
                    int16_t *MG_RESTRICT output);
void mg_maximum_s32(const mg_minmax_params *p, const int32_t *MG_RESTRICT input1, const int32_t *MG_RESTRICT input2,
                    int32_t *MG_RESTRICT output);
void mg_minimum_s32(const mg_minmax_params *p, const int32_t *MG_RESTRICT input1, const int32_t *MG_RESTRICT input2,
                    int32_t *MG_RESTRICT output);
void mg_maximum_f32(const mg_minmax_params *p, const float *MG_RESTRICT input1, const float *MG_RESTRICT input2,
                    float *MG_RESTRICT output);
void mg_minimum_f32(const mg_minmax_params *p, const float *MG_RESTRICT input1, const float *MG_RESTRICT input2,
                    float *MG_RESTRICT output);

#endif
