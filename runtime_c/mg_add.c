#include "mg_add.h"

/* Input 1's or 2's value scaled to the common input scale: (x + offset) << left_shift times the
 * input multiplier, either computed or looked up in the generation-time table. `use_table` is a
 * compile-time constant in every caller, so each public kernel gets its own specialised loop. */
MG_INLINE int32_t mg_add_scale_input1(const mg_add_s8_params *p, int8_t x, int use_table) {
    if (use_table) {
        return p->input1_table[x + 128];
    }
    return mg_requantize_nonneg((int32_t)((uint32_t)(x + p->input1_offset) << p->left_shift),
                                p->input1_multiplier, p->input1_shift);
}

MG_INLINE int32_t mg_add_scale_input2(const mg_add_s8_params *p, int8_t x, int use_table) {
    if (use_table) {
        return p->input2_table[x + 128];
    }
    return mg_requantize_nonneg((int32_t)((uint32_t)(x + p->input2_offset) << p->left_shift),
                                p->input2_multiplier, p->input2_shift);
}

MG_INLINE int8_t mg_add_finish(const mg_add_s8_params *p, int32_t raw_sum) {
    const int32_t out = mg_requantize_nonneg(raw_sum, p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)mg_clamp_i32(out, p->act_min, p->act_max);
}

/* The int8 loop nest. The innermost loop steps each input by 0 or 1 element; one loop serves
 * every broadcast pattern, which keeps the code small (the per-element work is the output
 * requantization either way). */
MG_INLINE void mg_add_s8_loops(const mg_add_s8_params *p, const int8_t *MG_RESTRICT input1,
                               const int8_t *MG_RESTRICT input2, int8_t *MG_RESTRICT output, int use_table) {
    const int32_t a_step = p->in1_stride3, b_step = p->in2_stride3;
    int32_t i0, i1, i2, i;
    for (i0 = 0; i0 < p->size0; ++i0) {
        for (i1 = 0; i1 < p->size1; ++i1) {
            for (i2 = 0; i2 < p->size2; ++i2) {
                const int8_t *a = input1 + (size_t)i0 * p->in1_stride0 + (size_t)i1 * p->in1_stride1 + (size_t)i2 * p->in1_stride2;
                const int8_t *b = input2 + (size_t)i0 * p->in2_stride0 + (size_t)i1 * p->in2_stride1 + (size_t)i2 * p->in2_stride2;
                for (i = 0; i < p->size3; ++i) {
                    *output++ = mg_add_finish(p, mg_add_scale_input1(p, *a, use_table) + mg_add_scale_input2(p, *b, use_table));
                    a += a_step;
                    b += b_step;
                }
            }
        }
    }
}

void mg_add_s8(const mg_add_s8_params *p, const int8_t *MG_RESTRICT input1, const int8_t *MG_RESTRICT input2,
               int8_t *MG_RESTRICT output) {
    mg_add_s8_loops(p, input1, input2, output, 0);
}

void mg_add_s8_table(const mg_add_s8_params *p, const int8_t *MG_RESTRICT input1,
                     const int8_t *MG_RESTRICT input2, int8_t *MG_RESTRICT output) {
    mg_add_s8_loops(p, input1, input2, output, 1);
}

/* One int16 element: both inputs scaled to the common scale, summed and requantized, as TFLM. */
MG_INLINE int16_t mg_add_s16_one(const mg_add_s16_params *p, int16_t a, int16_t b) {
    const int32_t sa = mg_requantize_nonneg((int32_t)((uint32_t)(a + p->input1_offset) << p->left_shift),
                                            p->input1_multiplier, p->input1_shift);
    const int32_t sb = mg_requantize_nonneg((int32_t)((uint32_t)(b + p->input2_offset) << p->left_shift),
                                            p->input2_multiplier, p->input2_shift);
    const int32_t out = mg_requantize_nonneg(sa + sb, p->output_multiplier, p->output_shift) + p->output_offset;
    return (int16_t)mg_clamp_i32(out, p->act_min, p->act_max);
}

void mg_add_s16(const mg_add_s16_params *p, const int16_t *MG_RESTRICT input1, const int16_t *MG_RESTRICT input2,
                int16_t *MG_RESTRICT output) {
    const int32_t a_step = p->in1_stride3, b_step = p->in2_stride3;
    int32_t i0, i1, i2, i;
    for (i0 = 0; i0 < p->size0; ++i0) {
        for (i1 = 0; i1 < p->size1; ++i1) {
            for (i2 = 0; i2 < p->size2; ++i2) {
                const int16_t *a = input1 + (size_t)i0 * p->in1_stride0 + (size_t)i1 * p->in1_stride1 + (size_t)i2 * p->in1_stride2;
                const int16_t *b = input2 + (size_t)i0 * p->in2_stride0 + (size_t)i1 * p->in2_stride1 + (size_t)i2 * p->in2_stride2;
                for (i = 0; i < p->size3; ++i) {
                    *output++ = mg_add_s16_one(p, *a, *b);
                    a += a_step;
                    b += b_step;
                }
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
