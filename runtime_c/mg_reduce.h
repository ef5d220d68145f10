/* MEAN and SUM kernels over any set of axes. */
#ifndef MG_REDUCE_H
#define MG_REDUCE_H

#include "mg_common.h"

#define MG_REDUCE_LOOPS 4

/* The reduction as two loop nests planned at generation time, outermost loop first: outer_* walk
 * the outputs in order, inner_* walk one output's inputs in memory order. Sizes and input element
 * strides; unused loops have size 1. */
#define MG_REDUCE_PLAN                        \
    int32_t outer_size[MG_REDUCE_LOOPS];      \
    int32_t outer_stride[MG_REDUCE_LOOPS];    \
    int32_t inner_size[MG_REDUCE_LOOPS];      \
    int32_t inner_stride[MG_REDUCE_LOOPS]

typedef struct {
    MG_REDUCE_PLAN;
    int32_t bias;       /* -count * input zero point */
    int32_t multiplier; /* input/output scale, and 1/count for MEAN, as TFLM */
    int32_t shift;
    int32_t output_offset;
} mg_reduce_s8_params;

/* int16 uses the same integer parameters (TFLM's QuantizedMeanOrSum on int16). */
typedef mg_reduce_s8_params mg_reduce_s16_params;

typedef struct {
    MG_REDUCE_PLAN;
    float count; /* number of values per output (MEAN divides by it) */
} mg_reduce_f32_params;

/* int8 MEAN and SUM differ only in their multiplier and shift. */
void mg_reduce_s8(const mg_reduce_s8_params *p, const int8_t *MG_RESTRICT input, int8_t *MG_RESTRICT output);
void mg_reduce_s16(const mg_reduce_s16_params *p, const int16_t *MG_RESTRICT input, int16_t *MG_RESTRICT output);
void mg_reduce_sum_f32(const mg_reduce_f32_params *p, const float *MG_RESTRICT input, float *MG_RESTRICT output);
void mg_reduce_mean_f32(const mg_reduce_f32_params *p, const float *MG_RESTRICT input, float *MG_RESTRICT output);

#endif
