/* Activation kernels: LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU, PRELU, HARD_SWISH, ELU.
 * int8 unary activations are one table lookup per element: the generator computes TFLM's output
 * for each of the 256 input values. */
#ifndef MG_ACTIVATIONS_H
#define MG_ACTIVATIONS_H

#include "mg_common.h"

typedef struct {
    int32_t size;
    const int8_t *table; /* table[(uint8_t)x] is the output for input x; 256 entries */
} mg_lut_s8_params;

typedef struct {
    int32_t size;
} mg_unary_f32_params;

typedef struct {
    int32_t size;
    float lo; /* RELU: [0, FLT_MAX], RELU6: [0, 6] */
    float hi;
} mg_relu_f32_params;

typedef struct {
    int32_t size;
    float alpha;
} mg_leaky_relu_f32_params;

/* int16 LOGISTIC and TANH as TFLM computes them: the input is rescaled to TFLM's table scale by
 * (x * input_multiplier + input_round) >> input_left_shift, then the sigmoid table (256 entries,
 * sigmoid(i / 24) in Q0.16) is interpolated linearly. Zero points are 0, output scale 2^-15. */
typedef struct {
    int32_t size;
    int32_t input_multiplier;
    int32_t input_left_shift;
    int32_t input_round;
    const uint16_t *sigmoid_table;
} mg_sigmoid_s16_params;

/* PRELU broadcasts alpha against the input: four nested loops, size0 outermost, with element
 * strides per loop (0 where that operand is broadcast). */
#define MG_PRELU_LOOPS                                                                  \
    int32_t size0, size1, size2, size3;                                                 \
    int32_t in_stride0, in_stride1, in_stride2, in_stride3;                             \
    int32_t alpha_stride0, alpha_stride1, alpha_stride2, alpha_stride3

typedef struct {
    MG_PRELU_LOOPS;
    int32_t input_offset; /* -zero_point */
    int32_t alpha_offset; /* -zero_point */
    int32_t output_offset;
    int32_t output_multiplier_1; /* x >= 0: input scale / output scale */
    int32_t output_shift_1;
    int32_t output_multiplier_2; /* x < 0: input scale * alpha scale / output scale */
    int32_t output_shift_2;
} mg_prelu_s8_params;

typedef struct {
    MG_PRELU_LOOPS;
} mg_prelu_f32_params;

void mg_lut_s8(const mg_lut_s8_params *p, const int8_t *MG_RESTRICT input, int8_t *MG_RESTRICT output);

void mg_logistic_s16(const mg_sigmoid_s16_params *p, const int16_t *MG_RESTRICT input, int16_t *MG_RESTRICT output);
void mg_tanh_s16(const mg_sigmoid_s16_params *p, const int16_t *MG_RESTRICT input, int16_t *MG_RESTRICT output);

void mg_logistic_f32(const mg_unary_f32_params *p, const float *MG_RESTRICT input, float *MG_RESTRICT output);
void mg_tanh_f32(const mg_unary_f32_params *p, const float *MG_RESTRICT input, float *MG_RESTRICT output);
void mg_relu_f32(const mg_relu_f32_params *p, const float *MG_RESTRICT input, float *MG_RESTRICT output);
void mg_leaky_relu_f32(const mg_leaky_relu_f32_params *p, const float *MG_RESTRICT input, float *MG_RESTRICT output);
void mg_hard_swish_f32(const mg_unary_f32_params *p, const float *MG_RESTRICT input, float *MG_RESTRICT output);
void mg_elu_f32(const mg_unary_f32_params *p, const float *MG_RESTRICT input, float *MG_RESTRICT output);

void mg_prelu_s8(const mg_prelu_s8_params *p, const int8_t *MG_RESTRICT input, const int8_t *MG_RESTRICT alpha,
                 int8_t *MG_RESTRICT output);
void mg_prelu_f32(const mg_prelu_f32_params *p, const float *MG_RESTRICT input, const float *MG_RESTRICT alpha,
                  float *MG_RESTRICT output);

#endif
