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

/* int8 and int16 step each input by its innermost stride (0 or 1) in one loop: the per-element
 * requantization dominates, so the four spelled-out cases would only cost flash. */
MG_BROADCAST_DEFINE_STEPPED_RUN(mg_add_s8_run, mg_add_s8_params, int8_t, int8_t,
                                mg_add_finish(p, mg_add_scale_input1(p, x, 0) + mg_add_scale_input2(p, y, 0)))
MG_BROADCAST_DEFINE_STEPPED_RUN(mg_add_s8_table_run, mg_add_s8_params, int8_t, int8_t,
                                mg_add_finish(p, mg_add_scale_input1(p, x, 1) + mg_add_scale_input2(p, y, 1)))
MG_BROADCAST_DEFINE_KERNEL(mg_add_s8, mg_add_s8_params, int8_t, mg_add_s8_run)
MG_BROADCAST_DEFINE_KERNEL(mg_add_s8_table, mg_add_s8_params, int8_t, mg_add_s8_table_run)

/* One int16 element: both inputs scaled to the common scale, summed and requantized, as TFLM. */
MG_INLINE int16_t mg_add_s16_one(const mg_add_s16_params *p, int16_t a, int16_t b) {
    const int32_t sa = mg_requantize_nonneg((int32_t)((uint32_t)(a + p->input1_offset) << p->left_shift),
                                            p->input1_multiplier, p->input1_shift);
    const int32_t sb = mg_requantize_nonneg((int32_t)((uint32_t)(b + p->input2_offset) << p->left_shift),
                                            p->input2_multiplier, p->input2_shift);
    const int32_t out = mg_requantize_nonneg(sa + sb, p->output_multiplier, p->output_shift) + p->output_offset;
    return (int16_t)mg_clamp_i32(out, p->act_min, p->act_max);
}

MG_BROADCAST_DEFINE_STEPPED_RUN(mg_add_s16_run, mg_add_s16_params, int16_t, int16_t, mg_add_s16_one(p, x, y))
MG_BROADCAST_DEFINE_KERNEL(mg_add_s16, mg_add_s16_params, int16_t, mg_add_s16_run)

MG_BROADCAST_DEFINE_RUN(mg_add_f32_run, mg_add_f32_params, float, float, mg_clamp_f32(x + y, p->act_min, p->act_max))
MG_BROADCAST_DEFINE_KERNEL(mg_add_f32, mg_add_f32_params, float, mg_add_f32_run)
