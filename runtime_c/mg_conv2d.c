#include "mg_conv2d.h"

#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
/* Under -ffreestanding GCC would call the library for every small copy. */
#define MG_CONV_MEMCPY __builtin_memcpy
#define MG_CONV_MEMSET __builtin_memset
#else
#define MG_CONV_MEMCPY memcpy
#define MG_CONV_MEMSET memset
#endif

/* x * multiplier * 2^shift with TFLM's two-step rounding (MultiplyByQuantizedMultiplier: rounding
 * doubling high multiply, then rounding divide by 2^-shift with ties away from zero) folded into
 * one 64-bit expression: floor((floor(a / 2^31) + c) / 2^r) = floor((a + c * 2^31) / 2^(31 + r)).
 * Identical to mg_multiply_by_quantized_multiplier for multiplier >= 0, which QuantizeMultiplier
 * gives for every positive scale, and about a third cheaper. */
MG_INLINE int32_t mg_conv2d_rescale(int32_t x, int32_t multiplier, int32_t shift) {
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int64_t a = (int64_t)(int32_t)((uint32_t)x << left) * multiplier + ((int64_t)1 << 30);
    const int64_t half = right > 0 ? ((int64_t)1 << (30 + right)) - (a < 0 ? ((int64_t)1 << 31) : 0) : 0;
    return (int32_t)((a + half) >> (31 + right));
}

MG_INLINE int8_t mg_conv2d_requantize(const mg_conv2d_s8_params *p, int32_t acc, int32_t channel) {
    acc = mg_conv2d_rescale(acc, p->multiplier[channel], p->shift[channel]) + p->output_offset;
    /* max then min compiles to conditional moves; clamping is frequent under RELU. */
    return (int8_t)mg_min_i32(mg_max_i32(acc, p->act_min), p->act_max);
}

/* out0/out1[c] = requantize(bias[c] + dot(a0/a1, filter row c)) for every output channel.
 * Two patches times two channels per pass: each loaded byte is used twice, and the four
 * independent sums vectorize. */
static void mg_conv2d_gemm_2(const mg_conv2d_s8_params *p, const int8_t *MG_RESTRICT a0,
                             const int8_t *MG_RESTRICT a1, int32_t depth, const int8_t *MG_RESTRICT filter,
                             const int32_t *MG_RESTRICT bias, int8_t *MG_RESTRICT out0,
                             int8_t *MG_RESTRICT out1) {
    const int32_t out_c = p->out_c;
    int32_t c = 0;
    int32_t k;
    for (; c + 2 <= out_c; c += 2) {
        const int8_t *w0 = filter + (size_t)c * depth;
        const int8_t *w1 = w0 + depth;
        int32_t s00 = 0, s01 = 0, s10 = 0, s11 = 0;
        for (k = 0; k < depth; ++k) {
            const int32_t x0 = a0[k], x1 = a1[k], y0 = w0[k], y1 = w1[k];
            s00 += x0 * y0;
            s01 += x0 * y1;
            s10 += x1 * y0;
            s11 += x1 * y1;
        }
        out0[c] = mg_conv2d_requantize(p, (int32_t)((uint32_t)s00 + (uint32_t)bias[c]), c);
        out0[c + 1] = mg_conv2d_requantize(p, (int32_t)((uint32_t)s01 + (uint32_t)bias[c + 1]), c + 1);
        out1[c] = mg_conv2d_requantize(p, (int32_t)((uint32_t)s10 + (uint32_t)bias[c]), c);
        out1[c + 1] = mg_conv2d_requantize(p, (int32_t)((uint32_t)s11 + (uint32_t)bias[c + 1]), c + 1);
    }
    if (c < out_c) {
        const int8_t *w0 = filter + (size_t)c * depth;
        int32_t s0 = 0, s1 = 0;
        for (k = 0; k < depth; ++k) {
            s0 += (int32_t)a0[k] * (int32_t)w0[k];
            s1 += (int32_t)a1[k] * (int32_t)w0[k];
        }
        out0[c] = mg_conv2d_requantize(p, (int32_t)((uint32_t)s0 + (uint32_t)bias[c]), c);
        out1[c] = mg_conv2d_requantize(p, (int32_t)((uint32_t)s1 + (uint32_t)bias[c]), c);
    }
}

static void mg_conv2d_gemm_1(const mg_conv2d_s8_params *p, const int8_t *MG_RESTRICT a0, int32_t depth,
                             const int8_t *MG_RESTRICT filter, const int32_t *MG_RESTRICT bias,
                             int8_t *MG_RESTRICT out0) {
    const int32_t out_c = p->out_c;
    int32_t c = 0;
    int32_t k;
    for (; c + 2 <= out_c; c += 2) {
        const int8_t *w0 = filter + (size_t)c * depth;
        const int8_t *w1 = w0 + depth;
        int32_t s0 = 0, s1 = 0;
        for (k = 0; k < depth; ++k) {
            const int32_t x0 = a0[k];
            s0 += x0 * (int32_t)w0[k];
            s1 += x0 * (int32_t)w1[k];
        }
        out0[c] = mg_conv2d_requantize(p, (int32_t)((uint32_t)s0 + (uint32_t)bias[c]), c);
        out0[c + 1] = mg_conv2d_requantize(p, (int32_t)((uint32_t)s1 + (uint32_t)bias[c + 1]), c + 1);
    }
    if (c < out_c) {
        const int8_t *w0 = filter + (size_t)c * depth;
        int32_t s0 = 0;
        for (k = 0; k < depth; ++k) {
            s0 += (int32_t)a0[k] * (int32_t)w0[k];
        }
        out0[c] = mg_conv2d_requantize(p, (int32_t)((uint32_t)s0 + (uint32_t)bias[c]), c);
    }
}

/* Copies the receptive field of output pixel (oy, ox) into patch in filter order (ky, kx, channel);
 * taps outside the image read input_zero_point. */
static void mg_conv2d_im2col(const mg_conv2d_s8_params *p, const int8_t *MG_RESTRICT image, int32_t oy,
                             int32_t ox, int8_t *MG_RESTRICT patch) {
    const int32_t in_c = p->in_c;
    const int32_t row_bytes = p->filter_w * in_c;
    const int32_t iy0 = oy * p->stride_h - p->pad_top;
    const int32_t ix0 = ox * p->stride_w - p->pad_left;
    const int32_t ix_last = ix0 + (p->filter_w - 1) * p->dilation_w;
    const int row_inside = ix0 >= 0 && ix_last < p->in_w;
    const int8_t pad = (int8_t)p->input_zero_point;
    int32_t ky, kx;
    for (ky = 0; ky < p->filter_h; ++ky, patch += row_bytes) {
        const int32_t iy = iy0 + ky * p->dilation_h;
        const int8_t *row;
        if (iy < 0 || iy >= p->in_h) {
            MG_CONV_MEMSET(patch, pad, (size_t)row_bytes);
            continue;
        }
        row = image + (size_t)iy * p->in_w * in_c;
        if (row_inside && p->dilation_w == 1) {
            MG_CONV_MEMCPY(patch, row + (size_t)ix0 * in_c, (size_t)row_bytes);
            continue;
        }
        for (kx = 0; kx < p->filter_w; ++kx) {
            const int32_t ix = ix0 + kx * p->dilation_w;
            int8_t *dst = patch + (size_t)kx * in_c;
            if (ix < 0 || ix >= p->in_w) {
                MG_CONV_MEMSET(dst, pad, (size_t)in_c);
            } else {
                MG_CONV_MEMCPY(dst, row + (size_t)ix * in_c, (size_t)in_c);
            }
        }
    }
}

void mg_conv2d_s8(const mg_conv2d_s8_params *p, const int8_t *MG_RESTRICT input,
                  const int8_t *MG_RESTRICT filter, const int32_t *MG_RESTRICT bias,
                  int8_t *MG_RESTRICT output, uint8_t *MG_RESTRICT scratch) {
    const int32_t depth = p->filter_h * p->filter_w * p->in_c;
    const int32_t pixels = p->out_h * p->out_w;
    int8_t *patch0 = (int8_t *)scratch;
    int8_t *patch1 = patch0 + depth;
    int32_t b, i;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *image = input + (size_t)b * p->in_h * p->in_w * p->in_c;
        int8_t *out = output + (size_t)b * pixels * p->out_c;
        for (i = 0; i + 2 <= pixels; i += 2) {
            mg_conv2d_im2col(p, image, i / p->out_w, i % p->out_w, patch0);
            mg_conv2d_im2col(p, image, (i + 1) / p->out_w, (i + 1) % p->out_w, patch1);
            mg_conv2d_gemm_2(p, patch0, patch1, depth, filter, bias, out + (size_t)i * p->out_c,
                             out + (size_t)(i + 1) * p->out_c);
        }
        if (i < pixels) {
            mg_conv2d_im2col(p, image, i / p->out_w, i % p->out_w, patch0);
            mg_conv2d_gemm_1(p, patch0, depth, filter, bias, out + (size_t)i * p->out_c);
        }
    }
}

void mg_conv2d_1x1_s8(const mg_conv2d_s8_params *p, const int8_t *MG_RESTRICT input,
                      const int8_t *MG_RESTRICT filter, const int32_t *MG_RESTRICT bias,
                      int8_t *MG_RESTRICT output) {
    const int32_t in_c = p->in_c;
    const int32_t pixels = p->out_h * p->out_w;
    int32_t b, i;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *image = input + (size_t)b * p->in_h * p->in_w * in_c;
        int8_t *out = output + (size_t)b * pixels * p->out_c;
        for (i = 0; i + 2 <= pixels; i += 2) {
            const int32_t oy0 = i / p->out_w, ox0 = i % p->out_w;
            const int32_t oy1 = (i + 1) / p->out_w, ox1 = (i + 1) % p->out_w;
            const int8_t *a0 = image + ((size_t)oy0 * p->stride_h * p->in_w + (size_t)ox0 * p->stride_w) * in_c;
            const int8_t *a1 = image + ((size_t)oy1 * p->stride_h * p->in_w + (size_t)ox1 * p->stride_w) * in_c;
            mg_conv2d_gemm_2(p, a0, a1, in_c, filter, bias, out + (size_t)i * p->out_c,
                             out + (size_t)(i + 1) * p->out_c);
        }
        if (i < pixels) {
            const int32_t oy0 = i / p->out_w, ox0 = i % p->out_w;
            const int8_t *a0 = image + ((size_t)oy0 * p->stride_h * p->in_w + (size_t)ox0 * p->stride_w) * in_c;
            mg_conv2d_gemm_1(p, a0, in_c, filter, bias, out + (size_t)i * p->out_c);
        }
    }
}

void mg_conv2d_f32(const mg_conv2d_f32_params *p, const float *MG_RESTRICT input,
                   const float *MG_RESTRICT filter_t, const float *MG_RESTRICT bias,
                   float *MG_RESTRICT output, uint8_t *MG_RESTRICT scratch) {
    const int32_t in_c = p->in_c, out_c = p->out_c;
    float *acc = (float *)(void *)scratch;
    int32_t b, oy, ox, ky, kx, ic, c;
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
                        const float *w;
                        if (ix < 0 || ix >= p->in_w) {
                            continue;
                        }
                        x = image + ((size_t)iy * p->in_w + ix) * in_c;
                        w = filter_t + ((size_t)ky * p->filter_w + kx) * in_c * out_c;
                        for (ic = 0; ic < in_c; ++ic, w += out_c) {
                            const float xv = x[ic];
                            for (c = 0; c < out_c; ++c) {
                                acc[c] += xv * w[c];
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
