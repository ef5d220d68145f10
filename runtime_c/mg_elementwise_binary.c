#include "mg_elementwise_binary.h"

/* One innermost run of size3 outputs. The strides there are 0 or 1, so there are four cases;
 * spelling them out lets compilers vectorize the contiguous ones, and a run where both inputs
 * are broadcast computes its value once. EXPR computes one output from x (input 1) and y. */
#define MG_EB_DEFINE_RUN(NAME, PTYPE, TIN, TOUT, EXPR)                                           \
    static void NAME(const PTYPE *p, const TIN *MG_RESTRICT a, const TIN *MG_RESTRICT b,         \
                     TOUT *MG_RESTRICT out) {                                                    \
        const int32_t n = p->size3;                                                              \
        int32_t i;                                                                               \
        if (p->in1_stride3 && p->in2_stride3) {                                                  \
            for (i = 0; i < n; ++i) {                                                            \
                const TIN x = a[i], y = b[i];                                                    \
                out[i] = (EXPR);                                                                 \
            }                                                                                    \
        } else if (p->in2_stride3) {                                                             \
            const TIN x = a[0];                                                                  \
            for (i = 0; i < n; ++i) {                                                            \
                const TIN y = b[i];                                                              \
                out[i] = (EXPR);                                                                 \
            }                                                                                    \
        } else if (p->in1_stride3) {                                                             \
            const TIN y = b[0];                                                                  \
            for (i = 0; i < n; ++i) {                                                            \
                const TIN x = a[i];                                                              \
                out[i] = (EXPR);                                                                 \
            }                                                                                    \
        } else {                                                                                 \
            const TIN x = a[0], y = b[0];                                                        \
            const TOUT value = (EXPR);                                                           \
            for (i = 0; i < n; ++i) {                                                            \
                out[i] = value;                                                                  \
            }                                                                                    \
        }                                                                                        \
    }

/* The same with one loop that steps each input by its stride (0 or 1): for the integer kernels,
 * whose per-element requantization dominates, four copies would only cost flash. */
#define MG_EB_DEFINE_STEPPED_RUN(NAME, PTYPE, TIN, TOUT, EXPR)                                   \
    static void NAME(const PTYPE *p, const TIN *MG_RESTRICT a, const TIN *MG_RESTRICT b,         \
                     TOUT *MG_RESTRICT out) {                                                    \
        const int32_t n = p->size3, a_step = p->in1_stride3, b_step = p->in2_stride3;            \
        int32_t i;                                                                               \
        for (i = 0; i < n; ++i) {                                                                \
            const TIN x = *a, y = *b;                                                            \
            out[i] = (EXPR);                                                                     \
            a += a_step;                                                                         \
            b += b_step;                                                                         \
        }                                                                                        \
    }

/* The three outer broadcast loops around RUN. */
#define MG_EB_OFFSET(p, k, i0, i1, i2)                                                          \
    ((size_t)(i0) * (size_t)(p)->in##k##_stride0 + (size_t)(i1) * (size_t)(p)->in##k##_stride1 + \
     (size_t)(i2) * (size_t)(p)->in##k##_stride2)

#define MG_EB_LOOP_NEST(p, TIN, input1, input2, output, RUN)                                    \
    do {                                                                                       \
        int32_t i0, i1, i2;                                                                    \
        for (i0 = 0; i0 < (p)->size0; ++i0) {                                                  \
            for (i1 = 0; i1 < (p)->size1; ++i1) {                                              \
                for (i2 = 0; i2 < (p)->size2; ++i2) {                                          \
                    const TIN *a_ = (input1) + MG_EB_OFFSET(p, 1, i0, i1, i2);                 \
                    const TIN *b_ = (input2) + MG_EB_OFFSET(p, 2, i0, i1, i2);                 \
                    RUN((p), a_, b_, (output));                                                \
                    (output) += (p)->size3;                                                    \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    } while (0)

/* ---- SUB ---- */

MG_INLINE int32_t mg_sub_scale(int32_t x, int32_t offset, int32_t left_shift, int32_t multiplier, int32_t shift) {
    return mg_multiply_by_quantized_multiplier((int32_t)((uint32_t)(x + offset) << left_shift), multiplier, shift);
}

MG_INLINE int8_t mg_sub_s8_finish(const mg_sub_s8_params *p, int32_t raw_difference) {
    const int32_t out =
        mg_multiply_by_quantized_multiplier(raw_difference, p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)mg_clamp_i32(out, p->act_min, p->act_max);
}

MG_INLINE int8_t mg_sub_s8_one(const mg_sub_s8_params *p, int8_t x, int8_t y) {
    return mg_sub_s8_finish(p, mg_sub_scale(x, p->input1_offset, p->left_shift, p->input1_multiplier, p->input1_shift) -
                                   mg_sub_scale(y, p->input2_offset, p->left_shift, p->input2_multiplier, p->input2_shift));
}

MG_EB_DEFINE_STEPPED_RUN(mg_sub_s8_run, mg_sub_s8_params, int8_t, int8_t, mg_sub_s8_one(p, x, y))
MG_EB_DEFINE_STEPPED_RUN(mg_sub_s8_table_run, mg_sub_s8_params, int8_t, int8_t,
                 mg_sub_s8_finish(p, p->input1_table[(uint8_t)x] - p->input2_table[(uint8_t)y]))
MG_EB_DEFINE_RUN(mg_sub_f32_run, mg_arith_f32_params, float, float, mg_clamp_f32(x - y, p->act_min, p->act_max))

void mg_sub_s8(const mg_sub_s8_params *p, const int8_t *MG_RESTRICT input1, const int8_t *MG_RESTRICT input2,
               int8_t *MG_RESTRICT output) {
    MG_EB_LOOP_NEST(p, int8_t, input1, input2, output, mg_sub_s8_run);
}

void mg_sub_s8_table(const mg_sub_s8_params *p, const int8_t *MG_RESTRICT input1,
                     const int8_t *MG_RESTRICT input2, int8_t *MG_RESTRICT output) {
    MG_EB_LOOP_NEST(p, int8_t, input1, input2, output, mg_sub_s8_table_run);
}

/* int32 difference and product with two's-complement wrap-around (no signed overflow in C). */
MG_INLINE int32_t mg_wrap_sub_s32(int32_t x, int32_t y) { return (int32_t)((uint32_t)x - (uint32_t)y); }
MG_INLINE int32_t mg_wrap_mul_s32(int32_t x, int32_t y) { return (int32_t)((uint32_t)x * (uint32_t)y); }

MG_EB_DEFINE_RUN(mg_sub_s32_run, mg_arith_s32_params, int32_t, int32_t,
                 mg_clamp_i32(mg_wrap_sub_s32(x, y), p->act_min, p->act_max))

void mg_sub_s32(const mg_arith_s32_params *p, const int32_t *MG_RESTRICT input1, const int32_t *MG_RESTRICT input2,
                int32_t *MG_RESTRICT output) {
    MG_EB_LOOP_NEST(p, int32_t, input1, input2, output, mg_sub_s32_run);
}

void mg_sub_f32(const mg_arith_f32_params *p, const float *MG_RESTRICT input1, const float *MG_RESTRICT input2,
                float *MG_RESTRICT output) {
    MG_EB_LOOP_NEST(p, float, input1, input2, output, mg_sub_f32_run);
}

/* ---- MUL ---- */

MG_INLINE int32_t mg_mul_one(const mg_mul_s8_params *p, int32_t x, int32_t y) {
    const int32_t product = (x + p->input1_offset) * (y + p->input2_offset);
    const int32_t out = mg_multiply_by_quantized_multiplier(product, p->output_multiplier, p->output_shift) + p->output_offset;
    return mg_clamp_i32(out, p->act_min, p->act_max);
}

MG_EB_DEFINE_STEPPED_RUN(mg_mul_s8_run, mg_mul_s8_params, int8_t, int8_t, (int8_t)mg_mul_one(p, x, y))
MG_EB_DEFINE_STEPPED_RUN(mg_mul_s16_run, mg_mul_s8_params, int16_t, int16_t, (int16_t)mg_mul_one(p, x, y))
MG_EB_DEFINE_RUN(mg_mul_f32_run, mg_arith_f32_params, float, float, mg_clamp_f32(x * y, p->act_min, p->act_max))

void mg_mul_s8(const mg_mul_s8_params *p, const int8_t *MG_RESTRICT input1, const int8_t *MG_RESTRICT input2,
               int8_t *MG_RESTRICT output) {
    MG_EB_LOOP_NEST(p, int8_t, input1, input2, output, mg_mul_s8_run);
}

void mg_mul_s16(const mg_mul_s8_params *p, const int16_t *MG_RESTRICT input1, const int16_t *MG_RESTRICT input2,
                int16_t *MG_RESTRICT output) {
    MG_EB_LOOP_NEST(p, int16_t, input1, input2, output, mg_mul_s16_run);
}

MG_EB_DEFINE_RUN(mg_mul_s32_run, mg_arith_s32_params, int32_t, int32_t,
                 mg_clamp_i32(mg_wrap_mul_s32(x, y), p->act_min, p->act_max))

void mg_mul_s32(const mg_arith_s32_params *p, const int32_t *MG_RESTRICT input1, const int32_t *MG_RESTRICT input2,
                int32_t *MG_RESTRICT output) {
    MG_EB_LOOP_NEST(p, int32_t, input1, input2, output, mg_mul_s32_run);
}

void mg_mul_f32(const mg_arith_f32_params *p, const float *MG_RESTRICT input1, const float *MG_RESTRICT input2,
                float *MG_RESTRICT output) {
    MG_EB_LOOP_NEST(p, float, input1, input2, output, mg_mul_f32_run);
}

/* ---- MAXIMUM / MINIMUM: TFLM's `x > y ? x : y` and `x < y ? x : y` (this order decides NaNs) ---- */

MG_EB_DEFINE_RUN(mg_maximum_s8_run, mg_minmax_params, int8_t, int8_t, x > y ? x : y)
MG_EB_DEFINE_RUN(mg_minimum_s8_run, mg_minmax_params, int8_t, int8_t, x < y ? x : y)
MG_EB_DEFINE_RUN(mg_maximum_s16_run, mg_minmax_params, int16_t, int16_t, x > y ? x : y)
MG_EB_DEFINE_RUN(mg_minimum_s16_run, mg_minmax_params, int16_t, int16_t, x < y ? x : y)
MG_EB_DEFINE_RUN(mg_maximum_s32_run, mg_minmax_params, int32_t, int32_t, x > y ? x : y)
MG_EB_DEFINE_RUN(mg_minimum_s32_run, mg_minmax_params, int32_t, int32_t, x < y ? x : y)
MG_EB_DEFINE_RUN(mg_maximum_f32_run, mg_minmax_params, float, float, x > y ? x : y)
MG_EB_DEFINE_RUN(mg_minimum_f32_run, mg_minmax_params, float, float, x < y ? x : y)

void mg_maximum_s8(const mg_minmax_params *p, const int8_t *MG_RESTRICT input1, const int8_t *MG_RESTRICT input2,
                   int8_t *MG_RESTRICT output) {
    MG_EB_LOOP_NEST(p, int8_t, input1, input2, output, mg_maximum_s8_run);
}

void mg_minimum_s8(const mg_minmax_params *p, const int8_t *MG_RESTRICT input1, const int8_t *MG_RESTRICT input2,
                   int8_t *MG_RESTRICT output) {
    MG_EB_LOOP_NEST(p, int8_t, input1, input2, output, mg_minimum_s8_run);
}

void mg_maximum_s16(const mg_minmax_params *p, const int16_t *MG_RESTRICT input1, const int16_t *MG_RESTRICT input2,
                    int16_t *MG_RESTRICT output) {
    MG_EB_LOOP_NEST(p, int16_t, input1, input2, output, mg_maximum_s16_run);
}

void mg_minimum_s16(const mg_minmax_params *p, const int16_t *MG_RESTRICT input1, const int16_t *MG_RESTRICT input2,
                    int16_t *MG_RESTRICT output) {
    MG_EB_LOOP_NEST(p, int16_t, input1, input2, output, mg_minimum_s16_run);
}

void mg_maximum_s32(const mg_minmax_params *p, const int32_t *MG_RESTRICT input1, const int32_t *MG_RESTRICT input2,
                    int32_t *MG_RESTRICT output) {
    MG_EB_LOOP_NEST(p, int32_t, input1, input2, output, mg_maximum_s32_run);
}

void mg_minimum_s32(const mg_minmax_params *p, const int32_t *MG_RESTRICT input1, const int32_t *MG_RESTRICT input2,
                    int32_t *MG_RESTRICT output) {
    MG_EB_LOOP_NEST(p, int32_t, input1, input2, output, mg_minimum_s32_run);
}

void mg_maximum_f32(const mg_minmax_params *p, const float *MG_RESTRICT input1, const float *MG_RESTRICT input2,
                    float *MG_RESTRICT output) {
    MG_EB_LOOP_NEST(p, float, input1, input2, output, mg_maximum_f32_run);
}

void mg_minimum_f32(const mg_minmax_params *p, const float *MG_RESTRICT input1, const float *MG_RESTRICT input2,
                    float *MG_RESTRICT output) {
    MG_EB_LOOP_NEST(p, float, input1, input2, output, mg_minimum_f32_run);
}
