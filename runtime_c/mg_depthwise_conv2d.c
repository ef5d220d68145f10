#include "mg_depthwise_conv2d.h"

/* x * multiplier * 2^shift with TFLM's two-step rounding (MultiplyByQuantizedMultiplier: rounding
 * doubling high multiply, then rounding divide by 2^-shift with ties away from zero) folded into
 * one 64-bit expression: floor((floor(a / 2^31) + c) / 2^r) = floor((a + c * 2^31) / 2^(31 + r)).
 * Identical to mg_multiply_by_quantized_multiplier for multiplier >= 0, which QuantizeMultiplier
 * gives for every positive scale, and about a third cheaper. */
MG_INLINE int32_t mg_dw_rescale(int32_t x, int32_t multiplier, int32_t shift) {
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int64_t a = (int64_t)(int32_t)((uint32_t)x << left) * multiplier + ((int64_t)1 << 30);
    const int64_t half = right > 0 ? ((int64_t)1 << (30 + right)) - (a < 0 ? ((int64_t)1 << 31) : 0) : 0;
    return (int32_t)((a + half) >> (31 + right));
}

/* acc[c] += x[c / multiplier] * w[c] for every output channel c. */
MG_INLINE void mg_dw_accumulate_s8(int32_t *MG_RESTRICT acc, const int8_t *MG_RESTRICT x,
                                   const int8_t *MG_RESTRICT w, int32_t in_c, int32_t multiplier) {
    int32_t c, m;
    if (multiplier == 1) {
        for (c = 0; c < in_c; ++c) {
            acc[c] += (int32_t)x[c] * (int32_t)w[c];
        }
        return;
    }
    for (c = 0; c < in_c; ++c, acc += multiplier, w += multiplier) {
        const int32_t xv = x[c];
        for (m = 0; m < multiplier; ++m) {
            acc[m] += xv * (int32_t)w[m];
        }
    }
}

void mg_depthwise_conv2d_s8(const mg_depthwise_conv2d_s8_params *p, const int8_t *MG_RESTRICT input,
                            const int8_t *MG_RESTRICT filter, const int32_t *MG_RESTRICT bias,
                            int8_t *MG_RESTRICT output, uint8_t *MG_RESTRICT scratch) {
    const int32_t in_c = p->in_c, out_c = p->out_c, mult = p->depth_multiplier;
    const int32_t pad_value = p->input_zero_point;
    const int32_t tap_stride_y = p->dilation_h * p->in_w * in_c;
    const int32_t tap_stride_x = p->dilation_w * in_c;
    const int32_t span_h = (p->filter_h - 1) * p->dilation_h;
    const int32_t span_w = (p->filter_w - 1) * p->dilation_w;
    int32_t *acc = (int32_t *)(void *)scratch;
    int32_t b, oy, ox, ky, kx, c;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *image = input + (size_t)b * p->in_h * p->in_w * in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            const int rows_inside = iy0 >= 0 && iy0 + span_h < p->in_h;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                int8_t *out = output + (((size_t)b * p->out_h + oy) * p->out_w + ox) * out_c;
                const int8_t *w = filter;
                for (c = 0; c < out_c; ++c) {
                    acc[c] = bias[c];
                }
                if (rows_inside && ix0 >= 0 && ix0 + span_w < p->in_w) {
                    /* Interior: the whole window is in the image. */
                    const int8_t *row = image + ((size_t)iy0 * p->in_w + ix0) * in_c;
                    for (ky = 0; ky < p->filter_h; ++ky, row += tap_stride_y) {
                        const int8_t *x = row;
                        for (kx = 0; kx < p->filter_w; ++kx, x += tap_stride_x, w += out_c) {
                            mg_dw_accumulate_s8(acc, x, w, in_c, mult);
                        }
                    }
                } else {
                    /* Border: taps outside the image read the input zero point. */
                    for (ky = 0; ky < p->filter_h; ++ky) {
                        const int32_t iy = iy0 + ky * p->dilation_h;
                        for (kx = 0; kx < p->filter_w; ++kx, w += out_c) {
                            const int32_t ix = ix0 + kx * p->dilation_w;
                            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                                for (c = 0; c < out_c; ++c) {
                                    acc[c] += pad_value * (int32_t)w[c];
                                }
                            } else {
                                mg_dw_accumulate_s8(acc, image + ((size_t)iy * p->in_w + ix) * in_c, w, in_c, mult);
                            }
                        }
                    }
                }
                for (c = 0; c < out_c; ++c) {
                    const int32_t v = mg_dw_rescale(acc[c], p->multiplier[c], p->shift[c]) + p->output_offset;
                    out[c] = (int8_t)mg_min_i32(mg_max_i32(v, p->act_min), p->act_max);
                }
            }
        }
    }
}

void mg_depthwise_conv2d_f32(const mg_depthwise_conv2d_f32_params *p, const float *MG_RESTRICT input,
                             const float *MG_RESTRICT filter, const float *MG_RESTRICT bias,
                             float *MG_RESTRICT output, uint8_t *MG_RESTRICT scratch) {
    const int32_t in_c = p->in_c, out_c = p->out_c, mult = p->depth_multiplier;
    float *acc = (float *)(void *)scratch;
    int32_t b, oy, ox, ky, kx, c, m;
    for (b = 0; b < p->batches; ++b) {
        const float *image = input + (size_t)b * p->in_h * p->in_w * in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                float *out = output + (((size_t)b * p->out_h + oy) * p->out_w + ox) * out_c;
                for (c = 0; c < out_c; ++c) {
                    acc[c] = 0.0f;
                }
                for (ky = 0; ky < p->filter_h; ++ky) {
                    const int32_t iy = iy0 + ky * p->dilation_h;
                    if (iy < 0 || iy >= p->in_h) {
                        continue;
                    }
                    for (kx = 0; kx < p->filter_w; ++kx) {
                        const int32_t ix = ix0 + kx * p->dilation_w;
                        const float *x;
                        const float *w = filter + ((size_t)ky * p->filter_w + kx) * out_c;
                        if (ix < 0 || ix >= p->in_w) {
                            continue;
                        }
                        x = image + ((size_t)iy * p->in_w + ix) * in_c;
                        if (mult == 1) {
                            for (c = 0; c < out_c; ++c) {
                                acc[c] += x[c] * w[c];
                            }
                        } else {
                            for (c = 0; c < in_c; ++c) {
                                for (m = 0; m < mult; ++m) {
                                    acc[c * mult + m] += x[c] * w[c * mult + m];
                                }
                            }
                        }
                    }
                }
                for (c = 0; c < out_c; ++c) {
                    out[c] = mg_clamp_f32(acc[c] + bias[c], p->act_min, p->act_max);
                }
            }
        }
    }
}
