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

/* int16 activations, int8 weights. TFLM accumulates in int64 when the bias is int64 (or absent) and
 * in int32 when it is int32; the two requantize differently (see the kernels). */
typedef struct {
    int32_t batches;
    int32_t in_features;
    int32_t out_features;
    int32_t output_offset;
    int32_t act_min;
    int32_t act_max;
    /* per output feature; mg_fully_connected_s16: reduced 16-bit multiplier and total right shift
     * (mg_requantize_s64); mg_fully_connected_s16_acc32: Q31 multiplier and shift. */
    const int32_t *multiplier;
    const int32_t *shift;
} mg_fully_connected_s16_params;

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

/* int64 accumulator; bias holds bias[n] - input_zero_point * sum_k weights[n][k]. */
void mg_fully_connected_s16(const mg_fully_connected_s16_params *p, const int16_t *MG_RESTRICT input,
                            const int8_t *MG_RESTRICT weights, const int64_t *MG_RESTRICT bias,
                            int16_t *MG_RESTRICT output);

/* int32 accumulator that wraps as TFLM's does, two-step requantization; bias folded as above. */
void mg_fully_connected_s16_acc32(const mg_fully_connected_s16_params *p, const int16_t *MG_RESTRICT input,
                                  const int8_t *MG_RESTRICT weights, const int32_t *MG_RESTRICT bias,
                                  int16_t *MG_RESTRICT output);

void mg_fully_connected_f32(const mg_fully_connected_f32_params *p, const float *MG_RESTRICT input,
                            const float *MG_RESTRICT weights, const float *MG_RESTRICT bias,
                            float *MG_RESTRICT output);

#endif
