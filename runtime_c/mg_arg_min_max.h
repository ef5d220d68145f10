/* ARG_MAX and ARG_MIN along one axis; int32 or int64 output. Ties give the first index, as TFLM. */
#ifndef MG_ARG_MIN_MAX_H
#define MG_ARG_MIN_MAX_H

#include "mg_common.h"

typedef struct {
    int32_t outer;     /* product of the dimensions before the axis */
    int32_t axis_size; /* >= 1 */
    int32_t inner;     /* product of the dimensions after the axis */
    int32_t is_max;    /* 1: ARG_MAX, 0: ARG_MIN */
    int32_t out_bytes; /* 4: int32 output, 8: int64 output */
} mg_arg_min_max_params;

void mg_arg_min_max_s8(const mg_arg_min_max_params *p, const int8_t *MG_RESTRICT input, void *MG_RESTRICT output);
void mg_arg_min_max_u8(const mg_arg_min_max_params *p, const uint8_t *MG_RESTRICT input, void *MG_RESTRICT output);
void mg_arg_min_max_s32(const mg_arg_min_max_params *p, const int32_t *MG_RESTRICT input, void *MG_RESTRICT output);
/* NaN never wins and, first, stays (plain > and < comparisons, as TFLM). */
void mg_arg_min_max_f32(const mg_arg_min_max_params *p, const float *MG_RESTRICT input, void *MG_RESTRICT output);

#endif
