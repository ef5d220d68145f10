#include "mg_transpose_conv.h"

/* Input rows [*lo, *hi] whose window reaches output row `o`: 0 <= o + pad - i * stride < filter. */
MG_INLINE void mg_tconv_range(int32_t o, int32_t pad, int32_t stride, int32_t filter, int32_t in_size,
                              int32_t *lo, int32_t *hi) {
    const int32_t top = o + pad; /* >= 0 */
    const int32_t first = top - filter + 1;
    *lo = first <= 0 ? 0 : (first + stride - 1) / stride;
    *hi = mg_min_i32(top / stride, in_size - 1);
}

/* Both kernels gather: for each output pixel and channel they visit the taps that reach it in
 * ascending (in_y, in_x, in_c) order, the order in which TFLM's scatter loop adds them. */

void mg_transpose_conv_s8(const mg_transpose_conv_s8_params *p, const int8_t *MG_RESTRICT input,
                          const int8_t *MG_RESTRICT filter, const int32_t *MG_RESTRICT bias,
                          int8_t *MG_RESTRICT output) {
    const int32_t in_c = p->in_channels;
    const int32_t input_offset = p->input_offset;
    const size_t filter_row = (size_t)p->filter_width * in_c;
    const size_t filter_size = (size_t)p->filter_height * filter_row;
    int32_t b, oy, ox, oc, iy, ix, c, y_lo, y_hi, x_lo, x_hi;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *image = input + (size_t)b * p->in_height * p->in_width * in_c;
        for (oy = 0; oy < p->out_height; ++oy) {
            mg_tconv_range(oy, p->pad_height, p->stride_height, p->filter_height, p->in_height, &y_lo, &y_hi);
            for (ox = 0; ox < p->out_width; ++ox) {
                mg_tconv_range(ox, p->pad_width, p->stride_width, p->filter_width, p->in_width, &x_lo, &x_hi);
                for (oc = 0; oc < p->out_channels; ++oc) {
                    const int8_t *w_oc = filter + (size_t)oc * filter_size;
                    int32_t acc = 0;
                    int32_t v;
                    for (iy = y_lo; iy <= y_hi; ++iy) {
                        const int32_t fy = oy + p->pad_height - iy * p->stride_height;
                        for (ix = x_lo; ix <= x_hi; ++ix) {
                            const int32_t fx = ox + p->pad_width - ix * p->stride_width;
                            const int8_t *in = image + ((size_t)iy * p->in_width + ix) * in_c;
                            const int8_t *w = w_oc + (size_t)fy * filter_row + (size_t)fx * in_c;
                            for (c = 0; c < in_c; ++c) {
                                acc += (in[c] + input_offset) * w[c];
                            }
                        }
                    }
                    v = mg_multiply_by_quantized_multiplier(acc + bias[oc], p->multiplier[oc], p->shift[oc]);
                    output[oc] = (int8_t)mg_clamp_i32(v + p->output_offset, p->act_min, p->act_max);
                }
                output += p->out_channels;
            }
        }
    }
}

void mg_transpose_conv_f32(const mg_transpose_conv_f32_params *p, const float *MG_RESTRICT input,
                           const float *MG_RESTRICT filter, const float *MG_RESTRICT bias, float *MG_RESTRICT output) {
    const int32_t in_c = p->in_channels;
    const size_t filter_row = (size_t)p->filter_width * in_c;
    const size_t filter_size = (size_t)p->filter_height * filter_row;
    int32_t b, oy, ox, oc, iy, ix, c, y_lo, y_hi, x_lo, x_hi;
    for (b = 0; b < p->batches; ++b) {
        const float *image = input + (size_t)b * p->in_height * p->in_width * in_c;
        for (oy = 0; oy < p->out_height; ++oy) {
            mg_tconv_range(oy, p->pad_height, p->stride_height, p->filter_height, p->in_height, &y_lo, &y_hi);
            for (ox = 0; ox < p->out_width; ++ox) {
                mg_tconv_range(ox, p->pad_width, p->stride_width, p->filter_width, p->in_width, &x_lo, &x_hi);
                for (oc = 0; oc < p->out_channels; ++oc) {
                    const float *w_oc = filter + (size_t)oc * filter_size;
                    float acc = 0.0f;
                    for (iy = y_lo; iy <= y_hi; ++iy) {
                        const int32_t fy = oy + p->pad_height - iy * p->stride_height;
                        for (ix = x_lo; ix <= x_hi; ++ix) {
                            const int32_t fx = ox + p->pad_width - ix * p->stride_width;
                            const float *in = image + ((size_t)iy * p->in_width + ix) * in_c;
                            const float *w = w_oc + (size_t)fy * filter_row + (size_t)fx * in_c;
                            for (c = 0; c < in_c; ++c) {
                                acc += in[c] * w[c];
                            }
                        }
                    }
                    output[oc] = mg_clamp_f32(acc + bias[oc], p->act_min, p->act_max);
                }
                output += p->out_channels;
            }
        }
    }
}
