#include "mg_depthwise_conv2d.h"

/* Adds the taps of one output pixel for output channels [c0, c0 + n) to acc. With multiplier 1 they
 * read input channels [c0, c0 + n); otherwise the block lies inside input channel in_channel, whose
 * value every output channel of the block multiplies. Taps outside the image read the input zero
 * point, which the folded bias cancels. */
MG_INLINE void mg_dw_taps_s8(const mg_depthwise_conv2d_s8_params *p, const int8_t *MG_RESTRICT image,
                             int32_t iy0, int32_t ix0, int interior, int32_t in_channel, int32_t c0,
                             int32_t n, const int8_t *MG_RESTRICT filter, int32_t *MG_RESTRICT acc) {
    const int32_t in_c = p->in_c, out_c = p->out_c;
    const int32_t pad_value = p->input_zero_point;
    const int one_to_one = p->depth_multiplier == 1;
    const int8_t *w = filter + c0;
    int32_t ky, kx, c;
    for (ky = 0; ky < p->filter_h; ++ky) {
        const int32_t iy = iy0 + ky * p->dilation_h;
        for (kx = 0; kx < p->filter_w; ++kx, w += out_c) {
            const int32_t ix = ix0 + kx * p->dilation_w;
            const int8_t *x;
            if (!interior && (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w)) {
                for (c = 0; c < n; ++c) {
                    acc[c] += pad_value * (int32_t)w[c];
                }
                continue;
            }
            x = image + ((size_t)iy * p->in_w + ix) * in_c;
            if (one_to_one) {
                x += c0;
                for (c = 0; c < n; ++c) {
                    acc[c] += (int32_t)x[c] * (int32_t)w[c];
                }
            } else {
                const int32_t xv = x[in_channel];
                for (c = 0; c < n; ++c) {
                    acc[c] += xv * (int32_t)w[c];
                }
            }
        }
    }
}

/* The common case: multiplier 1 and the window inside the image, so input and filter taps advance
 * in step with no bounds checks. */
MG_INLINE void mg_dw_interior_s8(const mg_depthwise_conv2d_s8_params *p, const int8_t *MG_RESTRICT window,
                                 const int8_t *MG_RESTRICT w, int32_t n, int32_t *MG_RESTRICT acc) {
    const int32_t row_step = p->dilation_h * p->in_w * p->in_c;
    const int32_t tap_step = p->dilation_w * p->in_c;
    int32_t ky, kx, c;
    for (ky = 0; ky < p->filter_h; ++ky, window += row_step) {
        const int8_t *x = window;
        for (kx = 0; kx < p->filter_w; ++kx, x += tap_step, w += p->out_c) {
            for (c = 0; c < n; ++c) {
                acc[c] += (int32_t)x[c] * (int32_t)w[c];
            }
        }
    }
}

void mg_depthwise_conv2d_s8(const mg_depthwise_conv2d_s8_params *p, const int8_t *MG_RESTRICT input,
                            const int8_t *MG_RESTRICT filter, const int32_t *MG_RESTRICT bias,
                            int8_t *MG_RESTRICT output) {
    const int32_t out_c = p->out_c, mult = p->depth_multiplier;
    const int32_t span_h = (p->filter_h - 1) * p->dilation_h;
    const int32_t span_w = (p->filter_w - 1) * p->dilation_w;
    /* Blocks never straddle input channels when the multiplier is above 1. */
    const int32_t block = mult == 1 || mult >= MG_DEPTHWISE_CONV2D_BLOCK ? MG_DEPTHWISE_CONV2D_BLOCK
                                                                          : MG_DEPTHWISE_CONV2D_BLOCK / mult * mult;
    int32_t acc[MG_DEPTHWISE_CONV2D_BLOCK];
    int32_t b, oy, ox, c, c0, n;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *image = input + (size_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            const int rows_inside = iy0 >= 0 && iy0 + span_h < p->in_h;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                const int interior = rows_inside && ix0 >= 0 && ix0 + span_w < p->in_w;
                int8_t *out = output + (((size_t)b * p->out_h + oy) * p->out_w + ox) * out_c;
                for (c0 = 0; c0 < out_c; c0 += n) {
                    n = out_c - c0 < block ? out_c - c0 : block;
                    for (c = 0; c < n; ++c) {
                        acc[c] = bias[c0 + c];
                    }
                    if (mult == 1 && interior) {
                        mg_dw_interior_s8(p, image + ((size_t)iy0 * p->in_w + ix0) * p->in_c + c0, filter + c0, n,
                                          acc);
                    } else if (mult == 1 || mult >= MG_DEPTHWISE_CONV2D_BLOCK) {
                        if (mult > 1 && n > mult - c0 % mult) {
                            n = mult - c0 % mult; /* stay inside one input channel */
                        }
                        mg_dw_taps_s8(p, image, iy0, ix0, interior, c0 / mult, c0, n, filter, acc);
                    } else {
                        /* Several whole input channels per block, one at a time. */
                        int32_t m0;
                        for (m0 = 0; m0 < n; m0 += mult) {
                            mg_dw_taps_s8(p, image, iy0, ix0, interior, (c0 + m0) / mult, c0 + m0, mult, filter,
                                          acc + m0);
                        }
                    }
                    for (c = 0; c < n; ++c) {
                        const int32_t v = mg_requantize_nonneg(acc[c], p->multiplier[c0 + c], p->shift[c0 + c]) +
                                          p->output_offset;
                        out[c0 + c] = (int8_t)mg_min_i32(mg_max_i32(v, p->act_min), p->act_max);
                    }
                }
            }
        }
    }
}

void mg_depthwise_conv2d_s16(const mg_depthwise_conv2d_s16_params *p, const int16_t *MG_RESTRICT input,
                             const int8_t *MG_RESTRICT filter, const int64_t *MG_RESTRICT bias,
                             int16_t *MG_RESTRICT output) {
    const int32_t in_c = p->in_c, out_c = p->out_c, mult = p->depth_multiplier;
    int64_t acc[MG_DEPTHWISE_CONV2D_BLOCK];
    int32_t b, oy, ox, ky, kx, c, c0, n;
    for (b = 0; b < p->batches; ++b) {
        const int16_t *image = input + (size_t)b * p->in_h * p->in_w * in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                int16_t *out = output + (((size_t)b * p->out_h + oy) * p->out_w + ox) * out_c;
                for (c0 = 0; c0 < out_c; c0 += n) {
                    n = out_c - c0 < MG_DEPTHWISE_CONV2D_BLOCK ? out_c - c0 : MG_DEPTHWISE_CONV2D_BLOCK;
                    for (c = 0; c < n; ++c) {
                        acc[c] = 0;
                    }
                    for (ky = 0; ky < p->filter_h; ++ky) {
                        const int32_t iy = iy0 + ky * p->dilation_h;
                        if (iy < 0 || iy >= p->in_h) {
                            continue;
                        }
                        for (kx = 0; kx < p->filter_w; ++kx) {
                            const int32_t ix = ix0 + kx * p->dilation_w;
                            const int8_t *w = filter + ((size_t)ky * p->filter_w + kx) * out_c + c0;
                            const int16_t *x;
                            if (ix < 0 || ix >= p->in_w) {
                                continue;
                            }
                            x = image + ((size_t)iy * p->in_w + ix) * in_c;
                            if (mult == 1) {
                                x += c0;
                                for (c = 0; c < n; ++c) {
                                    acc[c] += (int32_t)x[c] * (int32_t)w[c];
                                }
                            } else {
                                /* Output channel c0 + c reads input channel (c0 + c) / mult. */
                                int32_t ic = c0 / mult, m = c0 % mult;
                                for (c = 0; c < n; ++c) {
                                    acc[c] += (int32_t)x[ic] * (int32_t)w[c];
                                    if (++m == mult) {
                                        m = 0;
                                        ++ic;
                                    }
                                }
                            }
                        }
                    }
                    for (c = 0; c < n; ++c) {
                        const int64_t sum = (int64_t)((uint64_t)acc[c] + (uint64_t)bias[c0 + c]);
                        const int32_t v = mg_requantize_s64(sum, p->multiplier[c0 + c], p->shift[c0 + c]);
                        out[c0 + c] = (int16_t)mg_min_i32(mg_max_i32(v, p->act_min), p->act_max);
                    }
                }
            }
        }
    }
}

/* Float version of mg_dw_taps_s8: taps outside the image are skipped, as in TFLite. */
MG_INLINE void mg_dw_taps_f32(const mg_depthwise_conv2d_f32_params *p, const float *MG_RESTRICT image,
                              int32_t iy0, int32_t ix0, int32_t in_channel, int32_t c0, int32_t n,
                              const float *MG_RESTRICT filter, float *MG_RESTRICT acc) {
    const int32_t in_c = p->in_c, out_c = p->out_c;
    const int one_to_one = p->depth_multiplier == 1;
    int32_t ky, kx, c;
    for (ky = 0; ky < p->filter_h; ++ky) {
        const int32_t iy = iy0 + ky * p->dilation_h;
        if (iy < 0 || iy >= p->in_h) {
            continue;
        }
        for (kx = 0; kx < p->filter_w; ++kx) {
            const int32_t ix = ix0 + kx * p->dilation_w;
            const float *w = filter + ((size_t)ky * p->filter_w + kx) * out_c + c0;
            const float *x;
            if (ix < 0 || ix >= p->in_w) {
                continue;
            }
            x = image + ((size_t)iy * p->in_w + ix) * in_c;
            if (one_to_one) {
                x += c0;
                for (c = 0; c < n; ++c) {
                    acc[c] += x[c] * w[c];
                }
            } else {
                const float xv = x[in_channel];
                for (c = 0; c < n; ++c) {
                    acc[c] += xv * w[c];
                }
            }
        }
    }
}

void mg_depthwise_conv2d_f32(const mg_depthwise_conv2d_f32_params *p, const float *MG_RESTRICT input,
                             const float *MG_RESTRICT filter, const float *MG_RESTRICT bias,
                             float *MG_RESTRICT output) {
    const int32_t out_c = p->out_c, mult = p->depth_multiplier;
    const int32_t block = mult == 1 || mult >= MG_DEPTHWISE_CONV2D_BLOCK ? MG_DEPTHWISE_CONV2D_BLOCK
                                                                          : MG_DEPTHWISE_CONV2D_BLOCK / mult * mult;
    float acc[MG_DEPTHWISE_CONV2D_BLOCK];
    int32_t b, oy, ox, c, c0, n;
    for (b = 0; b < p->batches; ++b) {
        const float *image = input + (size_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                float *out = output + (((size_t)b * p->out_h + oy) * p->out_w + ox) * out_c;
                for (c0 = 0; c0 < out_c; c0 += n) {
                    n = out_c - c0 < block ? out_c - c0 : block;
                    for (c = 0; c < n; ++c) {
                        acc[c] = 0.0f;
                    }
                    if (mult == 1 || mult >= MG_DEPTHWISE_CONV2D_BLOCK) {
                        if (mult > 1 && n > mult - c0 % mult) {
                            n = mult - c0 % mult;
                        }
                        mg_dw_taps_f32(p, image, iy0, ix0, c0 / mult, c0, n, filter, acc);
                    } else {
                        int32_t m0;
                        for (m0 = 0; m0 < n; m0 += mult) {
                            mg_dw_taps_f32(p, image, iy0, ix0, (c0 + m0) / mult, c0 + m0, mult, filter, acc + m0);
                        }
                    }
                    for (c = 0; c < n; ++c) {
                        out[c0 + c] = mg_clamp_f32(acc[c] + bias[c0 + c], p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}
