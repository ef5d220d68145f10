/* DEPTHWISE_CONV_2D kernels (NHWC input and output, filter [1][filter_h][filter_w][out_c]).
 * Output channel c reads input channel c / depth_multiplier. */
#ifndef MG_DEPTHWISE_CONV2D_H
#define MG_DEPTHWISE_CONV2D_H

#include "mg_common.h"

typedef struct {
    MG_WINDOW_FIELDS
    int32_t depth_multiplier; /* out_c = in_c * depth_multiplier */
    int32_t input_zero_point; /* value of padded input taps (they then contribute nothing, see bias) */
    int32_t output_offset;
    int32_t act_min;
    int32_t act_max;
    const int32_t *multiplier; /* per output channel */
    const int32_t *shift;      /* per output channel */
} mg_depthwise_conv2d_s8_params;

/* int16 activations, int8 filter (zero points 0, as TFLM's 16x8 kernel assumes). */
typedef struct {
    MG_WINDOW_FIELDS
    int32_t depth_multiplier; /* out_c = in_c * depth_multiplier */
    int32_t act_min;
    int32_t act_max;
    const int32_t *multiplier; /* per output channel: reduced 16-bit multiplier (mg_requantize_s64) */
    const int32_t *shift;      /* per output channel: total right shift */
} mg_depthwise_conv2d_s16_params;

typedef struct {
    MG_WINDOW_FIELDS
    int32_t depth_multiplier; /* out_c = in_c * depth_multiplier */
    float act_min;
    float act_max;
} mg_depthwise_conv2d_f32_params;

/* Output channels accumulated at a time on the stack. */
#define MG_DEPTHWISE_CONV2D_BLOCK 64

/* bias[c] holds bias[c] - input_zero_point * sum over taps of filter[c]; taps outside the image
 * read input_zero_point, so every output pixel uses the same folded bias. */
void mg_depthwise_conv2d_s8(const mg_depthwise_conv2d_s8_params *p, const int8_t *MG_RESTRICT input,
                            const int8_t *MG_RESTRICT filter, const int32_t *MG_RESTRICT bias,
                            int8_t *MG_RESTRICT output);

/* 16x8 as TFLM (which always takes an int64 bias here): taps outside the image are skipped, the exact
 * int64 sum plus bias is requantized by mg_requantize_s64. */
void mg_depthwise_conv2d_s16(const mg_depthwise_conv2d_s16_params *p, const int16_t *MG_RESTRICT input,
                             const int8_t *MG_RESTRICT filter, const int64_t *MG_RESTRICT bias,
                             int16_t *MG_RESTRICT output);

/* Each output sums its taps in TFLite's order (filter_y, filter_x), then adds the bias. */
void mg_depthwise_conv2d_f32(const mg_depthwise_conv2d_f32_params *p, const float *MG_RESTRICT input,
                             const float *MG_RESTRICT filter, const float *MG_RESTRICT bias,
                             float *MG_RESTRICT output);

#endif
