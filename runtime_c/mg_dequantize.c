#include "mg_dequantize.h"

void mg_dequantize_s8_f32(const mg_dequantize_params *p, const int8_t *MG_RESTRICT input, float *MG_RESTRICT output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = p->scale * (float)((int32_t)input[i] - p->zero_point);
    }
}

void mg_dequantize_s16_f32(const mg_dequantize_params *p, const int16_t *MG_RESTRICT input, float *MG_RESTRICT output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = p->scale * (float)((int32_t)input[i] - p->zero_point);
    }
}
