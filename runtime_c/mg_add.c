#include "mg_add.h"

/* One input's contribution: (x + offset) << left_shift, scaled to the common input scale. */
MG_INLINE int32_t mg_add_scale_input(int32_t x, int32_t offset, int32_t left_shift, int32_t multiplier, int32_t shift) {
    return mg_multiply_by_quantized_multiplier((int32_t)((uint32_t)(x + offset) << left_shift), multiplier, shift);
}

MG_INLINE int8_t mg_add_finish(const mg_add_s8_params *p, int32_t raw_sum) {
    const int32_t out = mg_multiply_by_quantized_multiplier(raw_sum, p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)mg_clamp_i32(out, p->act_min, p->act_max);
}

/* The innermost loop: both inputs contiguous, or one of them held fixed. */
static void mg_add_s8_run(const mg_add_s8_params *p, const int8_t *MG_RESTRICT a, int32_t a_step,
                          const int8_t *MG_RESTRICT b, int32_t b_step, int8_t *MG_RESTRICT out, int32_t n) {
    const int32_t ls = p->left_shift;
    int32_t i;
    if (a_step && b_step) {
        for (i = 0; i < n; ++i) {
            const int32_t sa = mg_add_scale_input(a[i], p->input1_offset, ls, p->input1_multiplier, p->input1_shift);
            const int32_t sb = mg_add_scale_input(b[i], p->input2_offset, ls, p->input2_multiplier, p->input2_shift);
            out[i] = mg_add_finish(p, sa + sb);
        }
    } else if (b_step) {
        const int32_t sa = mg_add_scale_input(a[0], p->input1_offset, ls, p->input1_multiplier, p->input1_shift);
        for (i = 0; i < n; ++i) {
            const int32_t sb = mg_add_scale_input(b[i], p->input2_offset, ls, p->input2_multiplier, p->input2_shift);
            out[i] = mg_add_finish(p, sa + sb);
        }
    } else if (a_step) {
        const int32_t sb = mg_add_scale_input(b[0], p->input2_offset, ls, p->input2_multiplier, p->input2_shift);
        for (i = 0; i < n; ++i) {
            const int32_t sa = mg_add_scale_input(a[i], p->input1_offset, ls, p->input1_multiplier, p->input1_shift);
            out[i] = mg_add_finish(p, sa + sb);
        }
    } else {
        const int32_t sa = mg_add_scale_input(a[0], p->input1_offset, ls, p->input1_multiplier, p->input1_shift);
        const int32_t sb = mg_add_scale_input(b[0], p->input2_offset, ls, p->input2_multiplier, p->input2_shift);
        const int8_t value = mg_add_finish(p, sa + sb);
        for (i = 0; i < n; ++i) {
            out[i] = value;
        }
    }
}

void mg_add_s8(const mg_add_s8_params *p, const int8_t *MG_RESTRICT input1, const int8_t *MG_RESTRICT input2,
               int8_t *MG_RESTRICT output) {
    int32_t i0, i1, i2;
    for (i0 = 0; i0 < p->size0; ++i0) {
        for (i1 = 0; i1 < p->size1; ++i1) {
            for (i2 = 0; i2 < p->size2; ++i2) {
                const int8_t *a = input1 + (size_t)i0 * p->in1_stride0 + (size_t)i1 * p->in1_stride1 + (size_t)i2 * p->in1_stride2;
                const int8_t *b = input2 + (size_t)i0 * p->in2_stride0 + (size_t)i1 * p->in2_stride1 + (size_t)i2 * p->in2_stride2;
                mg_add_s8_run(p, a, p->in1_stride3, b, p->in2_stride3, output, p->size3);
                output += p->size3;
            }
        }
    }
}

static void mg_add_f32_run(const mg_add_f32_params *p, const float *MG_RESTRICT a, int32_t a_step,
                           const float *MG_RESTRICT b, int32_t b_step, float *MG_RESTRICT out, int32_t n) {
    const float lo = p->act_min, hi = p->act_max;
    int32_t i;
    if (a_step && b_step) {
        for (i = 0; i < n; ++i) {
            out[i] = mg_clamp_f32(a[i] + b[i], lo, hi);
        }
    } else if (b_step) {
        const float a0 = a[0];
        for (i = 0; i < n; ++i) {
            out[i] = mg_clamp_f32(a0 + b[i], lo, hi);
        }
    } else if (a_step) {
        const float b0 = b[0];
        for (i = 0; i < n; ++i) {
            out[i] = mg_clamp_f32(a[i] + b0, lo, hi);
        }
    } else {
        const float value = mg_clamp_f32(a[0] + b[0], lo, hi);
        for (i = 0; i < n; ++i) {
            out[i] = value;
        }
    }
}

void mg_add_f32(const mg_add_f32_params *p, const float *MG_RESTRICT input1, const float *MG_RESTRICT input2,
                float *MG_RESTRICT output) {
    int32_t i0, i1, i2;
    for (i0 = 0; i0 < p->size0; ++i0) {
        for (i1 = 0; i1 < p->size1; ++i1) {
            for (i2 = 0; i2 < p->size2; ++i2) {
                const float *a = input1 + (size_t)i0 * p->in1_stride0 + (size_t)i1 * p->in1_stride1 + (size_t)i2 * p->in1_stride2;
                const float *b = input2 + (size_t)i0 * p->in2_stride0 + (size_t)i1 * p->in2_stride1 + (size_t)i2 * p->in2_stride2;
                mg_add_f32_run(p, a, p->in1_stride3, b, p->in2_stride3, output, p->size3);
                output += p->size3;
            }
        }
    }
}
