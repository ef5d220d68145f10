/* FULLY_CONNECTED kernels. */
#ifndef MG_FULLY_CONNECTED_H
#define MG_FULLY_CONNECTED_H

#include "mg_common.h"

typedef struct {
    int32_t batches;
    int32_t in_features;
    int32_t out_features;
    int32_t output_offset;
    int32_t act_min;
    int32_t act_max;
    const int32_t *multiplier; /* per output feature */
    const int32_t *shift;      /* per output feature */
} mg_fully_connected_s8_params;

typedef struct {
    int32_t batches;
    int32_t in_features;
    int32_t out_features;
    float act_min;
    float act_max;
} mg_fully_connected_f32_params;

/* bias already holds bias[n] - input_zero_point * sum_k weights[n][k]. */
void mg_fully_connected_s8(const mg_fully_connected_s8_params *p, const int8_t *MG_RESTRICT input,
                           const int8_t *MG_RESTRICT weights, const int32_t *MG_RESTRICT bias,
                           int8_t *MG_RESTRICT output);

void mg_fully_connected_f32(const mg_fully_connected_f32_params *p, const float *MG_RESTRICT input,
                            const float *MG_RESTRICT weights, const float *MG_RESTRICT bias,
                            float *MG_RESTRICT output);

#endif
