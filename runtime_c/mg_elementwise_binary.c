#include "mg_elementwise_binary.h"

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

MG_BROADCAST_DEFINE_STEPPED_RUN(mg_sub_s8_run, mg_sub_s8_params, int8_t, int8_t, mg_sub_s8_one(p, x, y))
MG_BROADCAST_DEFINE_STEPPED_RUN(mg_sub_s8_table_run, mg_sub_s8_params, int8_t, int8_t,
                 mg_sub_s8_finish(p, p->input1_table[(uint8_t)x] - p->input2_table[(uint8_t)y]))
MG_BROADCAST_DEFINE_RUN(mg_sub_f32_run, mg_arith_f32_params, float, float, mg_clamp_f32(x - y, p->act_min, p->act_max))

MG_BROADCAST_DEFINE_KERNEL(mg_sub_s8, mg_sub_s8_params, int8_t, mg_sub_s8_run)

MG_BROADCAST_DEFINE_KERNEL(mg_sub_s8_table, mg_sub_s8_params, int8_t, mg_sub_s8_table_run)

/* int32 difference and product with two's-complement wrap-around (no signed overflow in C). */
MG_INLINE int32_t mg_wrap_sub_s32(int32_t x, int32_t y) { return (int32_t)((uint32_t)x - (uint32_t)y); }
MG_INLINE int32_t mg_wrap_mul_s32(int32_t x, int32_t y) { return (int32_t)((uint32_t)x * (uint32_t)y); }

MG_BROADCAST_DEFINE_RUN(mg_sub_s32_run, mg_arith_s32_params, int32_t, int32_t,
                 mg_clamp_i32(mg_wrap_sub_s32(x, y), p->act_min, p->act_max))

MG_BROADCAST_DEFINE_KERNEL(mg_sub_s32, mg_arith_s32_params, int32_t, mg_sub_s32_run)

MG_BROADCAST_DEFINE_KERNEL(mg_sub_f32, mg_arith_f32_params, float, mg_sub_f32_run)

/* ---- MUL ---- */

MG_INLINE int32_t mg_mul_one(const mg_mul_s8_params *p, int32_t x, int32_t y) {
    const int32_t product = (x + p->input1_offset) * (y + p->input2_offset);
    const int32_t out = mg_multiply_by_quantized_multiplier(product, p->output_multiplier, p->output_shift) + p->output_offset;
    return mg_clamp_i32(out, p->act_min, p->act_max);
}

MG_BROADCAST_DEFINE_STEPPED_RUN(mg_mul_s8_run, mg_mul_s8_params, int8_t, int8_t, (int8_t)mg_mul_one(p, x, y))
MG_BROADCAST_DEFINE_STEPPED_RUN(mg_mul_s16_run, mg_mul_s8_params, int16_t, int16_t, (int16_t)mg_mul_one(p, x, y))
MG_BROADCAST_DEFINE_RUN(mg_mul_f32_run, mg_arith_f32_params, float, float, mg_clamp_f32(x * y, p->act_min, p->act_max))

MG_BROADCAST_DEFINE_KERNEL(mg_mul_s8, mg_mul_s8_params, int8_t, mg_mul_s8_run)

MG_BROADCAST_DEFINE_KERNEL(mg_mul_s16, mg_mul_s8_params, int16_t, mg_mul_s16_run)

MG_BROADCAST_DEFINE_RUN(mg_mul_s32_run, mg_arith_s32_params, int32_t, int32_t,
                 mg_clamp_i32(mg_wrap_mul_s32(x, y), p->act_min, p->act_max))

MG_BROADCAST_DEFINE_KERNEL(mg_mul_s32, mg_arith_s32_params, int32_t, mg_mul_s32_run)

MG_BROADCAST_DEFINE_KERNEL(mg_mul_f32, mg_arith_f32_params, float, mg_mul_f32_run)

/* ---- MAXIMUM / MINIMUM: TFLM's `x > y ? x : y` and `x < y ? x : y` (this order decides NaNs) ---- */

MG_BROADCAST_DEFINE_RUN(mg_maximum_s8_run, mg_minmax_params, int8_t, int8_t, x > y ? x : y)
MG_BROADCAST_DEFINE_RUN(mg_minimum_s8_run, mg_minmax_params, int8_t, int8_t, x < y ? x : y)
MG_BROADCAST_DEFINE_RUN(mg_maximum_s16_run, mg_minmax_params, int16_t, int16_t, x > y ? x : y)
MG_BROADCAST_DEFINE_RUN(mg_minimum_s16_run, mg_minmax_params, int16_t, int16_t, x < y ? x : y)
MG_BROADCAST_DEFINE_RUN(mg_maximum_s32_run, mg_minmax_params, int32_t, int32_t, x > y ? x : y)
MG_BROADCAST_DEFINE_RUN(mg_minimum_s32_run, mg_minmax_params, int32_t, int32_t, x < y ? x : y)
MG_BROADCAST_DEFINE_RUN(mg_maximum_f32_run, mg_minmax_params, float, float, x > y ? x : y)
MG_BROADCAST_DEFINE_RUN(mg_minimum_f32_run, mg_minmax_params, float, float, x < y ? x : y)

MG_BROADCAST_DEFINE_KERNEL(mg_maximum_s8, mg_minmax_params, int8_t, mg_maximum_s8_run)

MG_BROADCAST_DEFINE_KERNEL(mg_minimum_s8, mg_minmax_params, int8_t, mg_minimum_s8_run)

MG_BROADCAST_DEFINE_KERNEL(mg_maximum_s16, mg_minmax_params, int16_t, mg_maximum_s16_run)

MG_BROADCAST_DEFINE_KERNEL(mg_minimum_s16, mg_minmax_params, int16_t, mg_minimum_s16_run)

MG_BROADCAST_DEFINE_KERNEL(mg_maximum_s32, mg_minmax_params, int32_t, mg_maximum_s32_run)

MG_BROADCAST_DEFINE_KERNEL(mg_minimum_s32, mg_minmax_params, int32_t, mg_minimum_s32_run)

MG_BROADCAST_DEFINE_KERNEL(mg_maximum_f32, mg_minmax_params, float, mg_maximum_f32_run)

MG_BROADCAST_DEFINE_KERNEL(mg_minimum_f32, mg_minmax_params, float, mg_minimum_f32_run)
