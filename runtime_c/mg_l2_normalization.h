/* L2_NORMALIZATION kernels over the last axis. */
#ifndef MG_L2_NORMALIZATION_H
#define MG_L2_NORMALIZATION_H

#include "mg_common.h"

typedef struct {
    int32_t rows;
    int32_t depth;
    int32_t input_zero_point;
} mg_l2_normalization_s8_params;

typedef struct {
    int32_t rows;
    int32_t depth;
    float epsilon; /* lower bound of the norm, as TFLM's 1e-6 */
} mg_l2_normalization_f32_params;

/* int8 output is in 1/128 units with zero point 0, as TFLM. */
void mg_l2_normalization_s8(const mg_l2_normalization_s8_params *p, const int8_t *MG_RESTRICT input,
                            int8_t *MG_RESTRICT output);
void mg_l2_normalization_f32(const mg_l2_normalization_f32_params *p, const float *MG_RESTRICT input,
                             float *MG_RESTRICT output);

#endif
