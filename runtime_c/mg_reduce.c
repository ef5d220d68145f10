#include "mg_reduce.h"

/* Sum of one output's inputs, in memory order. */
MG_INLINE int32_t mg_reduce_sum_s8_one(const mg_reduce_s8_params *p, const int8_t *MG_RESTRICT base) {
    int32_t acc = 0;
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < p->inner_size[0]; ++i0) {
        const int8_t *b0 = base + (size_t)i0 * p->inner_stride[0];
        for (i1 = 0; i1 < p->inner_size[1]; ++i1) {
            const int8_t *b1 = b0 + (size_t)i1 * p->inner_stride[1];
            for (i2 = 0; i2 < p->inner_size[2]; ++i2) {
                const int8_t *b2 = b1 + (size_t)i2 * p->inner_stride[2];
                const int32_t n = p->inner_size[3];
                const int32_t stride = p->inner_stride[3];
                for (i3 = 0; i3 < n; ++i3) {
                    acc += b2[(size_t)i3 * stride];
                }
            }
        }
    }
    return acc;
}

MG_INLINE int32_t mg_reduce_sum_s16_one(const mg_reduce_s16_params *p, const int16_t *MG_RESTRICT base) {
    int32_t acc = 0;
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < p->inner_size[0]; ++i0) {
        const int16_t *b0 = base + (size_t)i0 * p->inner_stride[0];
        for (i1 = 0; i1 < p->inner_size[1]; ++i1) {
            const int16_t *b1 = b0 + (size_t)i1 * p->inner_stride[1];
            for (i2 = 0; i2 < p->inner_size[2]; ++i2) {
                const int16_t *b2 = b1 + (size_t)i2 * p->inner_stride[2];
                const int32_t n = p->inner_size[3];
                const int32_t stride = p->inner_stride[3];
                for (i3 = 0; i3 < n; ++i3) {
                    acc += b2[(size_t)i3 * stride];
                }
            }
        }
    }
    return acc;
}

MG_INLINE float mg_reduce_sum_f32_one(const mg_reduce_f32_params *p, const float *MG_RESTRICT base) {
    float acc = 0.0f;
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < p->inner_size[0]; ++i0) {
        const float *b0 = base + (size_t)i0 * p->inner_stride[0];
        for (i1 = 0; i1 < p->inner_size[1]; ++i1) {
            const float *b1 = b0 + (size_t)i1 * p->inner_stride[1];
            for (i2 = 0; i2 < p->inner_size[2]; ++i2) {
                const float *b2 = b1 + (size_t)i2 * p->inner_stride[2];
                const int32_t n = p->inner_size[3];
                const int32_t stride = p->inner_stride[3];
                for (i3 = 0; i3 < n; ++i3) {
                    acc += b2[(size_t)i3 * stride];
                }
            }
        }
    }
    return acc;
}

/* Walks the outputs in order; BODY computes output[0] from the inputs at `base`. */
#define MG_REDUCE_OUTER(T, BODY)                                                          \
    do {                                                                                  \
        int32_t o0, o1, o2, o3;                                                           \
        for (o0 = 0; o0 < p->outer_size[0]; ++o0) {                                       \
            const T *a0 = input + (size_t)o0 * p->outer_stride[0];                        \
            for (o1 = 0; o1 < p->outer_size[1]; ++o1) {                                   \
                const T *a1 = a0 + (size_t)o1 * p->outer_stride[1];                       \
                for (o2 = 0; o2 < p->outer_size[2]; ++o2) {                               \
                    const T *a2 = a1 + (size_t)o2 * p->outer_stride[2];                   \
                    for (o3 = 0; o3 < p->outer_size[3]; ++o3) {                           \
                        const T *base = a2 + (size_t)o3 * p->outer_stride[3];             \
                        BODY;                                                             \
                        ++output;                                                         \
                    }                                                                     \
                }                                                                         \
            }                                                                             \
        }                                                                                 \
    } while (0)

void mg_reduce_s8(const mg_reduce_s8_params *p, const int8_t *MG_RESTRICT input, int8_t *MG_RESTRICT output) {
    MG_REDUCE_OUTER(int8_t, {
        const int32_t acc = mg_reduce_sum_s8_one(p, base) + p->bias;
        const int32_t out = mg_multiply_by_quantized_multiplier(acc, p->multiplier, p->shift) + p->output_offset;
        output[0] = (int8_t)mg_clamp_i32(out, INT8_MIN, INT8_MAX);
    });
}

void mg_reduce_s16(const mg_reduce_s16_params *p, const int16_t *MG_RESTRICT input, int16_t *MG_RESTRICT output) {
    MG_REDUCE_OUTER(int16_t, {
        const int32_t acc = mg_reduce_sum_s16_one(p, base) + p->bias;
        const int32_t out = mg_multiply_by_quantized_multiplier(acc, p->multiplier, p->shift) + p->output_offset;
        output[0] = (int16_t)mg_clamp_i32(out, INT16_MIN, INT16_MAX);
    });
}

void mg_reduce_sum_f32(const mg_reduce_f32_params *p, const float *MG_RESTRICT input, float *MG_RESTRICT output) {
    MG_REDUCE_OUTER(float, output[0] = mg_reduce_sum_f32_one(p, base));
}

void mg_reduce_mean_f32(const mg_reduce_f32_params *p, const float *MG_RESTRICT input, float *MG_RESTRICT output) {
    /* TFLM divides the sum by the count (not a multiply by its reciprocal). */
    MG_REDUCE_OUTER(float, output[0] = mg_reduce_sum_f32_one(p, base) / p->count);
}
