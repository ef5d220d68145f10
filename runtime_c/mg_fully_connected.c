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
            acc = mg_requantize_nonneg(acc, p->multiplier[n], p->shift[n]) + p->output_offset;
            output[(size_t)b * p->out_features + n] = (int8_t)mg_clamp_i32(acc, p->act_min, p->act_max);
        }
    }
}

void mg_fully_connected_s16(const mg_fully_connected_s16_params *p, const int16_t *MG_RESTRICT input,
                            const int8_t *MG_RESTRICT weights, const int64_t *MG_RESTRICT bias,
                            int16_t *MG_RESTRICT output) {
    const int32_t k_count = p->in_features;
    int32_t b, n;
    for (b = 0; b < p->batches; ++b) {
        const int16_t *x = input + (size_t)b * k_count;
        int16_t *y = output + (size_t)b * p->out_features;
        for (n = 0; n < p->out_features; ++n) {
            const int64_t acc = (int64_t)((uint64_t)mg_dot_s16_s8(x, weights + (size_t)n * k_count, k_count) +
                                          (uint64_t)bias[n]);
            const int32_t v = mg_requantize_s64(acc, p->multiplier[n], p->shift[n]) + p->output_offset;
            y[n] = (int16_t)mg_clamp_i32(v, p->act_min, p->act_max);
        }
    }
}

void mg_fully_connected_s16_acc32(const mg_fully_connected_s16_params *p, const int16_t *MG_RESTRICT input,
                                  const int8_t *MG_RESTRICT weights, const int32_t *MG_RESTRICT bias,
                                  int16_t *MG_RESTRICT output) {
    const int32_t k_count = p->in_features;
    int32_t b, n;
    for (b = 0; b < p->batches; ++b) {
        const int16_t *x = input + (size_t)b * k_count;
        int16_t *y = output + (size_t)b * p->out_features;
        for (n = 0; n < p->out_features; ++n) {
            /* The exact sum taken modulo 2^32 is TFLM's wrapping int32 sum. */
            const uint32_t dot = (uint32_t)(uint64_t)mg_dot_s16_s8(x, weights + (size_t)n * k_count, k_count);
            const int32_t acc = (int32_t)(dot + (uint32_t)bias[n]);
            const int32_t v = mg_requantize_nonneg(acc, p->multiplier[n], p->shift[n]) + p->output_offset;
            y[n] = (int16_t)mg_clamp_i32(v, p->act_min, p->act_max);
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
