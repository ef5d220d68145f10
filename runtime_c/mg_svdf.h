/* SVDF kernels (TFLM semantics). The state is a variable tensor in the arena, [batch][filter][memory]:
 * it persists across invokes and is cleared by the model's reset. */
#ifndef MG_SVDF_H
#define MG_SVDF_H

#include "mg_common.h"

typedef struct {
    int32_t batches;
    int32_t input_size;
    int32_t filters;     /* units * rank */
    int32_t memory_size;
    int32_t units;
    int32_t rank;
    int32_t feature_multiplier; /* input x weights_feature -> state */
    int32_t feature_shift;
    int32_t output_multiplier;  /* state x weights_time -> output */
    int32_t output_shift;
    int32_t state_offset;       /* state zero point */
    int32_t output_offset;
} mg_svdf_s8_params;

typedef struct {
    int32_t batches;
    int32_t input_size;
    int32_t filters;
    int32_t memory_size;
    int32_t units;
    int32_t rank;
    int32_t activation; /* 0 none, 1 relu, 2 relu_n1_to_1, 3 relu6, 4 tanh, 5 sign bit */
} mg_svdf_f32_params;

/* feature_fold[f] = -input_zero_point * sum(weights_feature[f]);
 * time_fold[f] = -state_zero_point * sum(weights_time[f]). */
void mg_svdf_s8_s16(const mg_svdf_s8_params *p, const int8_t *MG_RESTRICT input,
                    const int8_t *MG_RESTRICT weights_feature, const int32_t *MG_RESTRICT feature_fold,
                    const int16_t *MG_RESTRICT weights_time, const int32_t *MG_RESTRICT time_fold,
                    const int32_t *MG_RESTRICT bias, int16_t *MG_RESTRICT state, int8_t *MG_RESTRICT output);

void mg_svdf_s8_s8(const mg_svdf_s8_params *p, const int8_t *MG_RESTRICT input,
                   const int8_t *MG_RESTRICT weights_feature, const int32_t *MG_RESTRICT feature_fold,
                   const int8_t *MG_RESTRICT weights_time, const int32_t *MG_RESTRICT time_fold,
                   const int32_t *MG_RESTRICT bias, int8_t *MG_RESTRICT state, int8_t *MG_RESTRICT output);

void mg_svdf_f32(const mg_svdf_f32_params *p, const float *MG_RESTRICT input,
                 const float *MG_RESTRICT weights_feature, const float *MG_RESTRICT weights_time,
                 const float *MG_RESTRICT bias, float *MG_RESTRICT state, float *MG_RESTRICT output);

#endif
