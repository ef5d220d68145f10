/* DEQUANTIZE kernels: int8/int16 -> float32. */
#ifndef MG_DEQUANTIZE_H
#define MG_DEQUANTIZE_H

#include "mg_common.h"

typedef struct {
    int32_t size;
    float scale;
    int32_t zero_point;
} mg_dequantize_params;

/* output = scale * (input - zero_point): one float multiply, which rounds exactly as TFLM's
 * double product converted to float. */
void mg_dequantize_s8_f32(const mg_dequantize_params *p, const int8_t *MG_RESTRICT input, float *MG_RESTRICT output);
void mg_dequantize_s16_f32(const mg_dequantize_params *p, const int16_t *MG_RESTRICT input, float *MG_RESTRICT output);

#endif
