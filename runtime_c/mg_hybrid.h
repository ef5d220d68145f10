/* Hybrid kernels: float32 activations, int8 weights (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED).
 *
 * They follow LiteRT's hybrid kernels (TFLM has none): each batch of the float input is quantized
 * to int8 on the fly into the scratch buffer (one scale, and a zero point when asymmetric), the
 * dot products run on int8 values in int32, and each result is rescaled to float by the input scale
 * times the weight scale of its output channel, then the float bias and the activation clamp are
 * applied. The weights stay int8 (in flash). */
#ifndef MG_HYBRID_H
#define MG_HYBRID_H

#include "mg_common.h"

/* How an int32 accumulator becomes float: LiteRT's kernels differ in the order of the two
 * multiplications, and float products are not associative. */
#define MG_HYBRID_SCALE_COMBINED 0   /* acc * (filter_scale * input_scale) */
#define MG_HYBRID_SCALE_SEQUENTIAL 1 /* (acc * filter_scale) * input_scale */

typedef struct {
    MG_WINDOW_FIELDS
    int32_t asymmetric;  /* 1: asymmetric input quantization (with a zero point), 0: symmetric */
    int32_t scale_order; /* MG_HYBRID_SCALE_* */
    float act_min;
    float act_max;
    const float *filter_scale; /* per output channel (a per-tensor scale repeated) */
} mg_hybrid_conv2d_params;

typedef struct {
    MG_WINDOW_FIELDS
    int32_t depth_multiplier;
    float act_min;
    float act_max;
    const float *filter_scale; /* per output channel */
} mg_hybrid_depthwise_conv2d_params;

typedef struct {
    int32_t batches;
    int32_t in_features;
    int32_t out_features;
    int32_t asymmetric; /* the op's asymmetric_quantize_inputs option */
    float act_min;
    float act_max;
    const float *filter_scale; /* per output feature */
} mg_hybrid_fully_connected_params;

/* Symmetric quantization of n >= 1 floats: scale = max|x| / 127, q = round(x / scale) in
 * [-127, 127] (ties away from zero). All-zero input gives q = 0 and scale 1. */
void mg_hybrid_quantize_symmetric(const float *MG_RESTRICT x, int32_t n, int8_t *MG_RESTRICT q,
                                  float *scale);

/* Asymmetric quantization of n >= 1 floats over [min(x, 0), max(x, 0)] to [-128, 127]:
 * q = zero_point + round(x / scale). Constant-zero input gives q = 0, scale 1, zero point 0. */
void mg_hybrid_quantize_asymmetric(const float *MG_RESTRICT x, int32_t n, int8_t *MG_RESTRICT q,
                                   float *scale, int32_t *zero_point);

/* filter: [out_c, filter_h, filter_w, in_c] int8. scratch: in_h * in_w * in_c bytes. */
void mg_hybrid_conv2d_f32(const mg_hybrid_conv2d_params *p, const float *MG_RESTRICT input,
                          const int8_t *MG_RESTRICT filter, const float *MG_RESTRICT bias,
                          float *MG_RESTRICT output, uint8_t *MG_RESTRICT scratch);

/* filter: [1, filter_h, filter_w, out_c] int8. Always asymmetric, combined scales (as LiteRT).
 * scratch: in_h * in_w * in_c bytes. */
void mg_hybrid_depthwise_conv2d_f32(const mg_hybrid_depthwise_conv2d_params *p,
                                    const float *MG_RESTRICT input, const int8_t *MG_RESTRICT filter,
                                    const float *MG_RESTRICT bias, float *MG_RESTRICT output,
                                    uint8_t *MG_RESTRICT scratch);

/* weights: [out_features, in_features] int8. Combined scales. scratch: in_features bytes. */
void mg_hybrid_fully_connected_f32(const mg_hybrid_fully_connected_params *p,
                                   const float *MG_RESTRICT input, const int8_t *MG_RESTRICT weights,
                                   const float *MG_RESTRICT bias, float *MG_RESTRICT output,
                                   uint8_t *MG_RESTRICT scratch);

#endif /* MG_HYBRID_H */
