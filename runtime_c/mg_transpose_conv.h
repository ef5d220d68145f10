/* TRANSPOSE_CONV kernels: NHWC input, filter [out_c, kh, kw, in_c], per-channel bias. */
#ifndef MG_TRANSPOSE_CONV_H
#define MG_TRANSPOSE_CONV_H

#include "mg_common.h"

/* Input pixel (iy, ix) reaches output (iy * stride - pad + fy, ix * stride - pad + fx). */
#define MG_TRANSPOSE_CONV_DIMS \
    int32_t batches;           \
    int32_t in_height;         \
    int32_t in_width;          \
    int32_t in_channels;       \
    int32_t out_height;        \
    int32_t out_width;         \
    int32_t out_channels;      \
    int32_t filter_height;     \
    int32_t filter_width;      \
    int32_t stride_height;     \
    int32_t stride_width;      \
    int32_t pad_height;        \
    int32_t pad_width

typedef struct {
    MG_TRANSPOSE_CONV_DIMS;
    int32_t input_offset; /* -input zero point */
    int32_t output_offset;
    int32_t act_min;
    int32_t act_max;
    const int32_t *multiplier; /* per output channel */
    const int32_t *shift;
} mg_transpose_conv_s8_params;

typedef struct {
    MG_TRANSPOSE_CONV_DIMS;
    float act_min;
    float act_max;
} mg_transpose_conv_f32_params;

void mg_transpose_conv_s8(const mg_transpose_conv_s8_params *p, const int8_t *MG_RESTRICT input,
                          const int8_t *MG_RESTRICT filter, const int32_t *MG_RESTRICT bias,
                          int8_t *MG_RESTRICT output);
void mg_transpose_conv_f32(const mg_transpose_conv_f32_params *p, const float *MG_RESTRICT input,
                           const float *MG_RESTRICT filter, const float *MG_RESTRICT bias, float *MG_RESTRICT output);

#endif
