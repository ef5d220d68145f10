#include "mg_fully_connected.h"

void mg_fully_connected_s8(const mg_fully_connected_s8_params *p, const int8_t *MG_RESTRICT input,
                           const int8_t *MG_RESTRICT weights, const int32_t *MG_RESTRICT bias,
                           int8_t *MG_RESTRICT output) {
    const int32_t k_count = p->in_features;
    int32_t b, n, k;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + (size_t)b * k_count;
        for (n = 0; n < p->out_features; ++n) {
            const int8_t *w = weights + (size_t)n * k_count;
            int32_t acc = 0;
            for (k = 0; k < k_count; ++k) {
                acc += (int32_t)x[k] * (int32_t)w[k];
            }
            acc = (int32_t)((uint32_t)acc + (uint32_t)bias[n]);
            acc = mg_multiply_by_quantized_multiplier(acc, p->multiplier[n], p->shift[n]) + p->output_offset;
            output[(size_t)b * p->out_features + n] = (int8_t)mg_clamp_i32(acc, p->act_min, p->act_max);
        }
    }
}

void mg_fully_connected_f32(const mg_fully_connected_f32_params *p, const float *MG_RESTRICT input,
                            const float *MG_RESTRICT weights, const float *MG_RESTRICT bias,
                            float *MG_RESTRICT output) {
    const int32_t k_count = p->in_features;
    int32_t b, n, k;
    for (b = 0; b < p->batches; ++b) {
        const float *x = input + (size_t)b * k_count;
        for (n = 0; n < p->out_features; ++n) {
            const float *w = weights + (size_t)n * k_count;
            float acc = 0.0f;
            for (k = 0; k < k_count; ++k) {
                acc += x[k] * w[k];
            }
            output[(size_t)b * p->out_features + n] = mg_clamp_f32(acc + bias[n], p->act_min, p->act_max);
        }
    }
}
