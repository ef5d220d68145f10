/* CONV_2D kernels (NHWC input and output, filter [out_c][filter_h][filter_w][in_c]). */
#ifndef MG_CONV2D_H
#define MG_CONV2D_H

#include "mg_common.h"

typedef struct {
    MG_WINDOW_FIELDS
    int32_t input_zero_point; /* value of padded input taps (they then contribute nothing, see bias) */
    int32_t output_offset;
    int32_t act_min;
    int32_t act_max;
    const int32_t *multiplier; /* per output channel */
    const int32_t *shift;      /* per output channel */
} mg_conv2d_s8_params;

/* int16 activations, int8 filter (zero points 0, as TFLM's 16x8 kernels assume). */
typedef struct {
    MG_WINDOW_FIELDS
    int32_t act_min;
    int32_t act_max;
    /* per output channel; mg_conv2d_s16: reduced 16-bit multiplier and total right shift
     * (mg_requantize_s64); mg_conv2d_s16_acc32: Q31 multiplier and shift. */
    const int32_t *multiplier;
    const int32_t *shift;
} mg_conv2d_s16_params;

typedef struct {
    MG_WINDOW_FIELDS
    float act_min;
    float act_max;
} mg_conv2d_f32_params;

/* Output channels accumulated at a time on the stack by the float kernel. */
#define MG_CONV2D_BLOCK 64

/* Any filter size, stride, dilation and padding; no scratch memory (output must not overlap input).
 * bias[c] holds bias[c] - input_zero_point * sum(filter[c]); padded taps read input_zero_point,
 * so every output pixel uses the same folded bias. */
void mg_conv2d_s8(const mg_conv2d_s8_params *p, const int8_t *MG_RESTRICT input,
                  const int8_t *MG_RESTRICT filter, const int32_t *MG_RESTRICT bias,
                  int8_t *MG_RESTRICT output);

/* 1x1 filter without padding (any stride): a matrix multiply straight from the input, no scratch.
 * bias as for mg_conv2d_s8. */
void mg_conv2d_1x1_s8(const mg_conv2d_s8_params *p, const int8_t *MG_RESTRICT input,
                      const int8_t *MG_RESTRICT filter, const int32_t *MG_RESTRICT bias,
                      int8_t *MG_RESTRICT output);

/* 16x8 as TFLM with an int64 bias (or none): taps outside the image are skipped, the exact int64
 * sum plus bias is requantized by mg_requantize_s64. */
void mg_conv2d_s16(const mg_conv2d_s16_params *p, const int16_t *MG_RESTRICT input,
                   const int8_t *MG_RESTRICT filter, const int64_t *MG_RESTRICT bias,
                   int16_t *MG_RESTRICT output);

/* 16x8 as TFLM with an int32 bias: the sum wraps in int32 and requantizes in two steps. */
void mg_conv2d_s16_acc32(const mg_conv2d_s16_params *p, const int16_t *MG_RESTRICT input,
                         const int8_t *MG_RESTRICT filter, const int32_t *MG_RESTRICT bias,
                         int16_t *MG_RESTRICT output);

/* filter_t is the filter transposed to [filter_h][filter_w][in_c][out_c], so the innermost loop runs
 * over output channels while each output still sums its taps in TFLite's order (filter_y, filter_x,
 * in_channel), which keeps results identical to the reference. */
void mg_conv2d_f32(const mg_conv2d_f32_params *p, const float *MG_RESTRICT input,
                   const float *MG_RESTRICT filter_t, const float *MG_RESTRICT bias,
                   float *MG_RESTRICT output);

#endif
