/* AVERAGE_POOL_2D and MAX_POOL_2D kernels over NHWC tensors. */
#ifndef MG_POOLING_H
#define MG_POOLING_H

#include "mg_common.h"

/* Windows are clipped to the input: padding taps are never read, and an average divides by the
 * number of valid taps, as TFLM does. pad_* is the leading (top/left) padding. */
typedef struct {
    int32_t batches;
    int32_t in_height;
    int32_t in_width;
    int32_t channels;
    int32_t out_height;
    int32_t out_width;
    int32_t filter_height;
    int32_t filter_width;
    int32_t stride_height;
    int32_t stride_width;
    int32_t pad_height;
    int32_t pad_width;
    int32_t act_min;
    int32_t act_max;
} mg_pool_s8_params;

/* int16 pools use the same integer parameters (act_* in the int16 range). */
typedef mg_pool_s8_params mg_pool_s16_params;

typedef struct {
    int32_t batches;
    int32_t in_height;
    int32_t in_width;
    int32_t channels;
    int32_t out_height;
    int32_t out_width;
    int32_t filter_height;
    int32_t filter_width;
    int32_t stride_height;
    int32_t stride_width;
    int32_t pad_height;
    int32_t pad_width;
    float act_min;
    float act_max;
} mg_pool_f32_params;

/* int8 pools keep the input's quantization (TFLM requires equal input and output scales). */
void mg_avg_pool_s8(const mg_pool_s8_params *p, const int8_t *MG_RESTRICT input, int8_t *MG_RESTRICT output);
void mg_max_pool_s8(const mg_pool_s8_params *p, const int8_t *MG_RESTRICT input, int8_t *MG_RESTRICT output);
void mg_avg_pool_s16(const mg_pool_s16_params *p, const int16_t *MG_RESTRICT input, int16_t *MG_RESTRICT output);
void mg_max_pool_s16(const mg_pool_s16_params *p, const int16_t *MG_RESTRICT input, int16_t *MG_RESTRICT output);
void mg_avg_pool_f32(const mg_pool_f32_params *p, const float *MG_RESTRICT input, float *MG_RESTRICT output);
void mg_max_pool_f32(const mg_pool_f32_params *p, const float *MG_RESTRICT input, float *MG_RESTRICT output);

#endif
