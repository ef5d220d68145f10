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

MG_INLINE int8_t mg_conv2d_requantize(const mg_conv2d_s8_params *p, int32_t acc, int32_t channel) {
    acc = mg_requantize_nonneg(acc, p->multiplier[channel], p->shift[channel]) + p->output_offset;
    /* max then min compiles to conditional moves; clamping is frequent under RELU. */
    return (int8_t)mg_min_i32(mg_max_i32(acc, p->act_min), p->act_max);
}

/* A pixel's receptive field as `rows` runs of `row_len` bytes, `row_stride` bytes apart: one run for
 * an im2col patch or a 1x1 convolution, filter_h runs read straight from the input for a window
 * inside the image. Filter rows are the same runs back to back. */
typedef struct {
    int32_t rows;
    int32_t row_len;
    int32_t row_stride;
} mg_conv2d_window;

/* out0/out1[c] = requantize(bias[c] + dot(window a0/a1, filter row c)) for every output channel.
 * Two pixels times two channels per pass: each loaded byte is used twice, and the four
 * independent sums vectorize. */
static void mg_conv2d_gemm_2(const mg_conv2d_s8_params *p, const int8_t *MG_RESTRICT a0,
                             const int8_t *MG_RESTRICT a1, mg_conv2d_window win,
                             const int8_t *MG_RESTRICT filter, const int32_t *MG_RESTRICT bias,
                             int8_t *MG_RESTRICT out0, int8_t *MG_RESTRICT out1) {
    const int32_t out_c = p->out_c;
    const int32_t depth = win.rows * win.row_len;
    int32_t c = 0;
    int32_t r, k;
    for (; c + 2 <= out_c; c += 2) {
        const int8_t *w0 = filter + (size_t)c * depth;
        const int8_t *w1 = w0 + depth;
        int32_t s00 = 0, s01 = 0, s10 = 0, s11 = 0;
        for (r = 0; r < win.rows; ++r) {
            const int8_t *x0r = a0 + (size_t)r * win.row_stride;
            const int8_t *x1r = a1 + (size_t)r * win.row_stride;
            const int8_t *w0r = w0 + (size_t)r * win.row_len;
            const int8_t *w1r = w1 + (size_t)r * win.row_len;
            for (k = 0; k < win.row_len; ++k) {
                const int32_t x0 = x0r[k], x1 = x1r[k], y0 = w0r[k], y1 = w1r[k];
                s00 += x0 * y0;
                s01 += x0 * y1;
                s10 += x1 * y0;
                s11 += x1 * y1;
            }
        }
        out0[c] = mg_conv2d_requantize(p, (int32_t)((uint32_t)s00 + (uint32_t)bias[c]), c);
        out0[c + 1] = mg_conv2d_requantize(p, (int32_t)((uint32_t)s01 + (uint32_t)bias[c + 1]), c + 1);
        out1[c] = mg_conv2d_requantize(p, (int32_t)((uint32_t)s10 + (uint32_t)bias[c]), c);
        out1[c + 1] = mg_conv2d_requantize(p, (int32_t)((uint32_t)s11 + (uint32_t)bias[c + 1]), c + 1);
    }
    if (c < out_c) {
        const int8_t *w0 = filter + (size_t)c * depth;
        int32_t s0 = 0, s1 = 0;
        for (r = 0; r < win.rows; ++r) {
            const int8_t *x0r = a0 + (size_t)r * win.row_stride;
            const int8_t *x1r = a1 + (size_t)r * win.row_stride;
            const int8_t *w0r = w0 + (size_t)r * win.row_len;
            for (k = 0; k < win.row_len; ++k) {
                s0 += (int32_t)x0r[k] * (int32_t)w0r[k];
                s1 += (int32_t)x1r[k] * (int32_t)w0r[k];
            }
        }
        out0[c] = mg_conv2d_requantize(p, (int32_t)((uint32_t)s0 + (uint32_t)bias[c]), c);
        out1[c] = mg_conv2d_requantize(p, (int32_t)((uint32_t)s1 + (uint32_t)bias[c]), c);
    }
}

static void mg_conv2d_gemm_1(const mg_conv2d_s8_params *p, const int8_t *MG_RESTRICT a0,
                             mg_conv2d_window win, const int8_t *MG_RESTRICT filter,
                             const int32_t *MG_RESTRICT bias, int8_t *MG_RESTRICT out0) {
    const int32_t out_c = p->out_c;
    const int32_t depth = win.rows * win.row_len;
    int32_t c = 0;
    int32_t r, k;
    for (; c + 2 <= out_c; c += 2) {
        const int8_t *w0 = filter + (size_t)c * depth;
        const int8_t *w1 = w0 + depth;
        int32_t s0 = 0, s1 = 0;
        for (r = 0; r < win.rows; ++r) {
            const int8_t *x0r = a0 + (size_t)r * win.row_stride;
            const int8_t *w0r = w0 + (size_t)r * win.row_len;
            const int8_t *w1r = w1 + (size_t)r * win.row_len;
            for (k = 0; k < win.row_len; ++k) {
                const int32_t x0 = x0r[k];
                s0 += x0 * (int32_t)w0r[k];
                s1 += x0 * (int32_t)w1r[k];
            }
        }
        out0[c] = mg_conv2d_requantize(p, (int32_t)((uint32_t)s0 + (uint32_t)bias[c]), c);
        out0[c + 1] = mg_conv2d_requantize(p, (int32_t)((uint32_t)s1 + (uint32_t)bias[c + 1]), c + 1);
    }
    if (c < out_c) {
        const int8_t *w0 = filter + (size_t)c * depth;
        int32_t s0 = 0;
        for (r = 0; r < win.rows; ++r) {
            const int8_t *x0r = a0 + (size_t)r * win.row_stride;
            const int8_t *w0r = w0 + (size_t)r * win.row_len;
            for (k = 0; k < win.row_len; ++k) {
                s0 += (int32_t)x0r[k] * (int32_t)w0r[k];
            }
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

/* One output pixel straight from the input, tap by tap: for border pixels among the last ones of
 * mg_conv2d_s8, which have no room for patches. Taps outside the image add
 * input_zero_point * filter, as in the patches. */
static void mg_conv2d_pixel(const mg_conv2d_s8_params *p, const int8_t *MG_RESTRICT image, int32_t oy,
                            int32_t ox, const int8_t *MG_RESTRICT filter, const int32_t *MG_RESTRICT bias,
                            int8_t *MG_RESTRICT out) {
    const int32_t in_c = p->in_c;
    const int32_t depth = p->filter_h * p->filter_w * in_c;
    const int32_t iy0 = oy * p->stride_h - p->pad_top;
    const int32_t ix0 = ox * p->stride_w - p->pad_left;
    const int32_t pad = p->input_zero_point;
    int32_t c, ky, kx, k;
    for (c = 0; c < p->out_c; ++c) {
        const int8_t *w = filter + (size_t)c * depth;
        int32_t acc = 0;
        for (ky = 0; ky < p->filter_h; ++ky) {
            const int32_t iy = iy0 + ky * p->dilation_h;
            for (kx = 0; kx < p->filter_w; ++kx, w += in_c) {
                const int32_t ix = ix0 + kx * p->dilation_w;
                if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                    for (k = 0; k < in_c; ++k) {
                        acc += pad * (int32_t)w[k];
                    }
                } else {
                    const int8_t *x = image + ((size_t)iy * p->in_w + ix) * in_c;
                    for (k = 0; k < in_c; ++k) {
                        acc += (int32_t)x[k] * (int32_t)w[k];
                    }
                }
            }
        }
        out[c] = mg_conv2d_requantize(p, (int32_t)((uint32_t)acc + (uint32_t)bias[c]), c);
    }
}

/* Input address of the first tap of output pixel i when its window lies inside the image, else NULL. */
static const int8_t *mg_conv2d_inside(const mg_conv2d_s8_params *p, const int8_t *image, int32_t i) {
    const int32_t iy0 = i / p->out_w * p->stride_h - p->pad_top;
    const int32_t ix0 = i % p->out_w * p->stride_w - p->pad_left;
    if (iy0 < 0 || ix0 < 0 || iy0 + (p->filter_h - 1) * p->dilation_h >= p->in_h ||
        ix0 + (p->filter_w - 1) * p->dilation_w >= p->in_w) {
        return NULL;
    }
    return image + ((size_t)iy0 * p->in_w + ix0) * p->in_c;
}

void mg_conv2d_s8(const mg_conv2d_s8_params *p, const int8_t *MG_RESTRICT input,
                  const int8_t *MG_RESTRICT filter, const int32_t *MG_RESTRICT bias,
                  int8_t *MG_RESTRICT output) {
    const int32_t depth = p->filter_h * p->filter_w * p->in_c;
    const int32_t pixels = p->out_h * p->out_w;
    const int32_t out_c = p->out_c;
    /* The two im2col patches live in the not yet written end of this image's output, so the
     * kernel needs no scratch memory. The last pixels, whose outputs overlap the patches, read
     * their windows straight from the input (rows of filter_w * in_c bytes) or, at the border,
     * tap by tap. */
    const int32_t patch_offset = pixels * out_c - 2 * depth;
    const mg_conv2d_window patch = {1, depth, 0};
    const mg_conv2d_window rows = {p->filter_h, p->filter_w * p->in_c, p->dilation_h * p->in_w * p->in_c};
    const int rows_contiguous = p->dilation_w == 1;
    int32_t b, i;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *image = input + (size_t)b * p->in_h * p->in_w * p->in_c;
        int8_t *out = output + (size_t)b * pixels * out_c;
        i = 0;
        if (patch_offset > 0) {
            int8_t *patch0 = out + patch_offset;
            int8_t *patch1 = patch0 + depth;
            for (; (i + 2) * out_c <= patch_offset; i += 2) {
                mg_conv2d_im2col(p, image, i / p->out_w, i % p->out_w, patch0);
                mg_conv2d_im2col(p, image, (i + 1) / p->out_w, (i + 1) % p->out_w, patch1);
                mg_conv2d_gemm_2(p, patch0, patch1, patch, filter, bias, out + (size_t)i * out_c,
                                 out + (size_t)(i + 1) * out_c);
            }
        }
        for (; i < pixels; ++i) {
            const int8_t *a0 = rows_contiguous ? mg_conv2d_inside(p, image, i) : NULL;
            const int8_t *a1 = a0 != NULL && i + 1 < pixels ? mg_conv2d_inside(p, image, i + 1) : NULL;
            if (a1 != NULL) {
                mg_conv2d_gemm_2(p, a0, a1, rows, filter, bias, out + (size_t)i * out_c,
                                 out + (size_t)(i + 1) * out_c);
                ++i;
            } else if (a0 != NULL) {
                mg_conv2d_gemm_1(p, a0, rows, filter, bias, out + (size_t)i * out_c);
            } else {
                mg_conv2d_pixel(p, image, i / p->out_w, i % p->out_w, filter, bias, out + (size_t)i * out_c);
            }
        }
    }
}

void mg_conv2d_1x1_s8(const mg_conv2d_s8_params *p, const int8_t *MG_RESTRICT input,
                      const int8_t *MG_RESTRICT filter, const int32_t *MG_RESTRICT bias,
                      int8_t *MG_RESTRICT output) {
    const int32_t in_c = p->in_c;
    const int32_t pixels = p->out_h * p->out_w;
    const mg_conv2d_window pixel = {1, in_c, 0};
    int32_t b, i;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *image = input + (size_t)b * p->in_h * p->in_w * in_c;
        int8_t *out = output + (size_t)b * pixels * p->out_c;
        for (i = 0; i + 2 <= pixels; i += 2) {
            const int32_t oy0 = i / p->out_w, ox0 = i % p->out_w;
            const int32_t oy1 = (i + 1) / p->out_w, ox1 = (i + 1) % p->out_w;
            const int8_t *a0 = image + ((size_t)oy0 * p->stride_h * p->in_w + (size_t)ox0 * p->stride_w) * in_c;
            const int8_t *a1 = image + ((size_t)oy1 * p->stride_h * p->in_w + (size_t)ox1 * p->stride_w) * in_c;
            mg_conv2d_gemm_2(p, a0, a1, pixel, filter, bias, out + (size_t)i * p->out_c,
                             out + (size_t)(i + 1) * p->out_c);
        }
        if (i < pixels) {
            const int32_t oy0 = i / p->out_w, ox0 = i % p->out_w;
            const int8_t *a0 = image + ((size_t)oy0 * p->stride_h * p->in_w + (size_t)ox0 * p->stride_w) * in_c;
            mg_conv2d_gemm_1(p, a0, pixel, filter, bias, out + (size_t)i * p->out_c);
        }
    }
}

/* Sum over the taps of output pixel (oy, ox) inside the image for output channel filter w: one dot
 * product per filter row over its inside taps, which are contiguous without width dilation. */
MG_INLINE int64_t mg_conv2d_dot_s16(const mg_conv2d_s16_params *p, const int16_t *MG_RESTRICT image,
                                    int32_t iy0, int32_t ix0, int32_t kx0, int32_t kx1,
                                    const int8_t *MG_RESTRICT w) {
    const int32_t in_c = p->in_c;
    const int32_t row_len = p->filter_w * in_c;
    int64_t acc = 0;
    int32_t ky, kx;
    for (ky = 0; ky < p->filter_h; ++ky, w += row_len) {
        const int32_t iy = iy0 + ky * p->dilation_h;
        const int16_t *row;
        if (iy < 0 || iy >= p->in_h) {
            continue;
        }
        row = image + (size_t)iy * p->in_w * in_c;
        if (p->dilation_w == 1) {
            if (kx1 > kx0) {
                acc += mg_dot_s16_s8(row + (size_t)(ix0 + kx0) * in_c, w + (size_t)kx0 * in_c, (kx1 - kx0) * in_c);
            }
            continue;
        }
        for (kx = 0; kx < p->filter_w; ++kx) {
            const int32_t ix = ix0 + kx * p->dilation_w;
            if (ix >= 0 && ix < p->in_w) {
                acc += mg_dot_s16_s8(row + (size_t)ix * in_c, w + (size_t)kx * in_c, in_c);
            }
        }
    }
    return acc;
}

/* Both 16x8 kernels in one body (the per-channel branch is cheap next to the dot product, and one
 * copy keeps code small). */
static void mg_conv2d_s16_run(const mg_conv2d_s16_params *p, const int16_t *MG_RESTRICT input,
                                 const int8_t *MG_RESTRICT filter, const int64_t *MG_RESTRICT bias64,
                                 const int32_t *MG_RESTRICT bias32, int16_t *MG_RESTRICT output, int acc32) {
    const int32_t depth = p->filter_h * p->filter_w * p->in_c;
    int32_t b, oy, ox, c;
    for (b = 0; b < p->batches; ++b) {
        const int16_t *image = input + (size_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                /* Filter columns [kx0, kx1) fall inside the image (used without width dilation). */
                const int32_t kx0 = ix0 < 0 ? mg_min_i32(-ix0, p->filter_w) : 0;
                const int32_t kx1 = mg_max_i32(mg_min_i32(p->filter_w, p->in_w - ix0), kx0);
                int16_t *out = output + (((size_t)b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                for (c = 0; c < p->out_c; ++c) {
                    const int64_t sum = mg_conv2d_dot_s16(p, image, iy0, ix0, kx0, kx1, filter + (size_t)c * depth);
                    int32_t v;
                    if (acc32) {
                        /* The exact sum modulo 2^32 is TFLM's wrapping int32 sum. */
                        const int32_t acc = (int32_t)((uint32_t)(uint64_t)sum + (uint32_t)bias32[c]);
                        v = mg_requantize_nonneg(acc, p->multiplier[c], p->shift[c]);
                    } else {
                        v = mg_requantize_s64((int64_t)((uint64_t)sum + (uint64_t)bias64[c]), p->multiplier[c],
                                              p->shift[c]);
                    }
                    out[c] = (int16_t)mg_min_i32(mg_max_i32(v, p->act_min), p->act_max);
                }
            }
        }
    }
}

void mg_conv2d_s16(const mg_conv2d_s16_params *p, const int16_t *MG_RESTRICT input,
                   const int8_t *MG_RESTRICT filter, const int64_t *MG_RESTRICT bias,
                   int16_t *MG_RESTRICT output) {
    mg_conv2d_s16_run(p, input, filter, bias, NULL, output, 0);
}

void mg_conv2d_s16_acc32(const mg_conv2d_s16_params *p, const int16_t *MG_RESTRICT input,
                         const int8_t *MG_RESTRICT filter, const int32_t *MG_RESTRICT bias,
                         int16_t *MG_RESTRICT output) {
    mg_conv2d_s16_run(p, input, filter, NULL, bias, output, 1);
}

void mg_conv2d_f32(const mg_conv2d_f32_params *p, const float *MG_RESTRICT input,
                   const float *MG_RESTRICT filter_t, const float *MG_RESTRICT bias,
                   float *MG_RESTRICT output) {
    const int32_t in_c = p->in_c, out_c = p->out_c;
    float acc[MG_CONV2D_BLOCK];
    int32_t b, oy, ox, ky, kx, ic, c, c0, n;
    for (b = 0; b < p->batches; ++b) {
        const float *image = input + (size_t)b * p->in_h * p->in_w * in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                float *out = output + (((size_t)b * p->out_h + oy) * p->out_w + ox) * out_c;
                for (c0 = 0; c0 < out_c; c0 += n) {
                    n = out_c - c0 < MG_CONV2D_BLOCK ? out_c - c0 : MG_CONV2D_BLOCK;
                    for (c = 0; c < n; ++c) {
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
                            w = filter_t + ((size_t)ky * p->filter_w + kx) * in_c * out_c + c0;
                            for (ic = 0; ic < in_c; ++ic, w += out_c) {
                                const float xv = x[ic];
                                for (c = 0; c < n; ++c) {
                                    acc[c] += xv * w[c];
                                }
                            }
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
