#include "mg_svdf.h"

#include <math.h>

/* Shift the whole state one element left, as TFLM does; each filter's newest slot is then rewritten. */
#define MG_SVDF_SHIFT_STATE(state, total)          \
    do {                                           \
        int32_t i_;                                \
        for (i_ = 0; i_ + 1 < (total); ++i_) {     \
            (state)[i_] = (state)[i_ + 1];         \
        }                                          \
    } while (0)

/* The integer kernel for a state type T (int16_t or int8_t). Accumulations wrap like the reference's
 * int32 accumulators (unsigned arithmetic here, so no undefined behaviour). */
#define MG_SVDF_S8_KERNEL(NAME, T, T_MIN, T_MAX)                                                               \
    void NAME(const mg_svdf_s8_params *p, const int8_t *MG_RESTRICT input,                                    \
              const int8_t *MG_RESTRICT weights_feature, const int32_t *MG_RESTRICT feature_fold,             \
              const T *MG_RESTRICT weights_time, const int32_t *MG_RESTRICT time_fold,                        \
              const int32_t *MG_RESTRICT bias, T *MG_RESTRICT state, int8_t *MG_RESTRICT output) {            \
        const int32_t n_in = p->input_size;                                                                   \
        const int32_t memory = p->memory_size;                                                                \
        const size_t batch_state = (size_t)p->filters * (size_t)memory;                                      \
        int32_t b, f, u, r, k;                                                                                \
        MG_SVDF_SHIFT_STATE(state, p->batches * p->filters * memory);                                         \
        for (b = 0; b < p->batches; ++b) {                                                                    \
            const int8_t *x = input + (size_t)b * n_in;                                                       \
            T *s = state + (size_t)b * batch_state;                                                           \
            for (f = 0; f < p->filters; ++f) {                                                                \
                const int8_t *w = weights_feature + (size_t)f * n_in;                                         \
                uint32_t acc = (uint32_t)feature_fold[f];                                                     \
                int32_t v;                                                                                    \
                for (k = 0; k < n_in; ++k) {                                                                  \
                    acc += (uint32_t)((int32_t)w[k] * (int32_t)x[k]);                                         \
                }                                                                                             \
                v = mg_multiply_by_quantized_multiplier((int32_t)acc, p->feature_multiplier, p->feature_shift); \
                /* Saturate, then add the zero point without saturating: the reference's cast wraps. */    \
                v = mg_clamp_i32(v, T_MIN, T_MAX) + p->state_offset;                                          \
                v = (int32_t)((uint32_t)(v - (T_MIN)) & (uint32_t)((T_MAX) - (T_MIN))) + (T_MIN);             \
                s[(size_t)f * memory + (size_t)(memory - 1)] = (T)v;                                          \
            }                                                                                                 \
            for (u = 0; u < p->units; ++u) {                                                                  \
                uint32_t acc = (uint32_t)bias[u];                                                             \
                int32_t v;                                                                                    \
                for (r = 0; r < p->rank; ++r) {                                                               \
                    const size_t row = ((size_t)u * p->rank + (size_t)r) * memory;                          \
                    acc += (uint32_t)time_fold[(size_t)u * p->rank + (size_t)r];                              \
                    for (k = 0; k < memory; ++k) {                                                            \
                        acc += (uint32_t)((int32_t)weights_time[row + k] * (int32_t)s[row + k]);              \
                    }                                                                                         \
                }                                                                                             \
                v = mg_multiply_by_quantized_multiplier((int32_t)acc, p->output_multiplier, p->output_shift); \
                output[(size_t)b * p->units + u] = (int8_t)mg_clamp_i32(v + p->output_offset, -128, 127);     \
            }                                                                                                 \
        }                                                                                                     \
    }

MG_SVDF_S8_KERNEL(mg_svdf_s8_s16, int16_t, -32768, 32767)
MG_SVDF_S8_KERNEL(mg_svdf_s8_s8, int8_t, -128, 127)

static float mg_svdf_activation_f32(int32_t activation, float x) {
    switch (activation) {
    case 1: return x > 0.0f ? x : 0.0f;
    case 2: return mg_clamp_f32(x, -1.0f, 1.0f);
    case 3: return mg_clamp_f32(x, 0.0f, 6.0f);
    case 4: return tanhf(x);
    case 5: return signbit(x) ? 1.0f : 0.0f;
    default: return x;
    }
}

void mg_svdf_f32(const mg_svdf_f32_params *p, const float *MG_RESTRICT input,
                 const float *MG_RESTRICT weights_feature, const float *MG_RESTRICT weights_time,
                 const float *MG_RESTRICT bias, float *MG_RESTRICT state, float *MG_RESTRICT output) {
    const int32_t n_in = p->input_size;
    const int32_t memory = p->memory_size;
    const size_t batch_state = (size_t)p->filters * (size_t)memory;
    int32_t b, f, u, r, k;
    MG_SVDF_SHIFT_STATE(state, p->batches * p->filters * memory);
    for (b = 0; b < p->batches; ++b) {
        const float *x = input + (size_t)b * n_in;
        float *s = state + (size_t)b * batch_state;
        for (f = 0; f < p->filters; ++f) {
            const float *w = weights_feature + (size_t)f * n_in;
            float acc = 0.0f;
            for (k = 0; k < n_in; ++k) {
                acc += w[k] * x[k];
            }
            s[(size_t)f * memory + (size_t)(memory - 1)] = acc;
        }
        /* Same summation order as the reference: bias, then each rank's time dot product in turn. */
        for (u = 0; u < p->units; ++u) {
            float acc = bias[u];
            for (r = 0; r < p->rank; ++r) {
                const size_t row = ((size_t)u * p->rank + (size_t)r) * memory;
                float dot = 0.0f;
                for (k = 0; k < memory; ++k) {
                    dot += weights_time[row + k] * s[row + k];
                }
                acc += dot;
            }
            output[(size_t)b * p->units + u] = mg_svdf_activation_f32(p->activation, acc);
        }
    }
}
