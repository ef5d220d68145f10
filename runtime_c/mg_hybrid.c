#include "mg_hybrid.h"

#include <string.h>

/* The float steps below round one operation at a time, as LiteRT's do; a fused multiply-add would
 * round once where LiteRT rounds twice. GCC contracts only in GNU modes (-std=gnu*) or with
 * -ffp-contract=fast; the host build passes -ffp-contract=off. clang honours the standard pragma. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* std::round (ties away from zero) of a float clamped to [-512, 512] first, so the int conversion
 * is always defined (NaN goes to -512, as x86 turns it into INT_MIN). Exact: v - trunc(v) needs no
 * rounding below 2^23, and no libm call is needed. Callers clamp the result to int8 afterwards, so
 * the pre-clamp changes nothing else. */
static int32_t mg_hybrid_round(float v) {
    int32_t i;
    float frac;
    if (!(v >= -512.0f)) {
        v = -512.0f;
    } else if (v > 512.0f) {
        v = 512.0f;
    }
    i = (int32_t)v;
    frac = v - (float)i;
    if (frac >= 0.5f) {
        i += 1;
    } else if (frac <= -0.5f) {
        i -= 1;
    }
    return i;
}

void mg_hybrid_quantize_symmetric(const float *MG_RESTRICT x, int32_t n, int8_t *MG_RESTRICT q,
                                  float *scale) {
    float lo = x[0], hi = x[0], range, inv;
    int32_t i;
    for (i = 1; i < n; ++i) {
        if (x[i] < lo) {
            lo = x[i];
        }
        if (x[i] > hi) {
            hi = x[i];
        }
    }
    lo = lo < 0.0f ? -lo : lo;
    hi = hi < 0.0f ? -hi : hi;
    range = hi > lo ? hi : lo;
    if (range == 0.0f) {
        memset(q, 0, (size_t)n);
        *scale = 1.0f;
        return;
    }
    *scale = range / 127.0f;
    inv = 127.0f / range; /* LiteRT multiplies by this reciprocal, not divides by the scale */
    for (i = 0; i < n; ++i) {
        q[i] = (int8_t)mg_clamp_i32(mg_hybrid_round(x[i] * inv), -127, 127);
    }
}

/* LiteRT's AsymmetricQuantizeFloats as its NEON build (also used on x86) computes it: the range
 * always includes 0, (max - min) is a float subtraction, the zero point is chosen in double. */
void mg_hybrid_quantize_asymmetric(const float *MG_RESTRICT x, int32_t n, int8_t *MG_RESTRICT q,
                                   float *scale, int32_t *zero_point) {
    float lo = 0.0f, hi = 0.0f, inv;
    double s, zp_from_min, zp_from_max, err_min, err_max, zp_real, t;
    int32_t i, zp;
    for (i = 0; i < n; ++i) {
        if (x[i] < lo) {
            lo = x[i];
        }
        if (x[i] > hi) {
            hi = x[i];
        }
    }
    if (lo == hi) {
        memset(q, 0, (size_t)n);
        *scale = 1.0f;
        *zero_point = 0;
        return;
    }
    {
        const float width = hi - lo;
        s = (double)width / 255.0;
    }
    zp_from_min = -128.0 - (double)lo / s;
    zp_from_max = 127.0 - (double)hi / s;
    err_min = 128.0 + ((double)lo / s < 0.0 ? -(double)lo / s : (double)lo / s);
    err_max = 127.0 + ((double)hi / s < 0.0 ? -(double)hi / s : (double)hi / s);
    zp_real = err_min < err_max ? zp_from_min : zp_from_max;
    if (!(zp_real > -128.0)) {
        zp = -128;
    } else if (zp_real >= 127.0) {
        zp = 127;
    } else {
        zp = (int32_t)zp_real; /* round half away from zero, |zp_real| < 128 */
        t = zp_real - (double)zp;
        if (t >= 0.5) {
            zp += 1;
        } else if (t <= -0.5) {
            zp -= 1;
        }
    }
    *scale = (float)s;
    *zero_point = zp;
    inv = *scale == 0.0f ? 0.0f : (float)(1.0 / (double)*scale);
    for (i = 0; i < n; ++i) {
        /* Rounded first, then offset: the order of LiteRT's vectorized loop. */
        q[i] = (int8_t)mg_clamp_i32(zp + mg_hybrid_round(x[i] * inv), -128, 127);
    }
}

/* int32 accumulator -> float output: scale, bias, activation clamp, one rounding per step. */
MG_INLINE float mg_hybrid_output(int32_t acc, float filter_scale, float input_scale, int32_t order,
                                 float bias, float act_min, float act_max) {
    float v = (float)acc;
    if (order == MG_HYBRID_SCALE_SEQUENTIAL) {
        v = v * filter_scale;
        v = v * input_scale;
    } else {
        const float s = filter_scale * input_scale;
        v = v * s;
    }
    v = v + bias;
    return mg_clamp_f32(v, act_min, act_max);
}

static void mg_hybrid_quantize(const float *MG_RESTRICT x, int32_t n, int32_t asymmetric,
                               int8_t *MG_RESTRICT q, float *scale, int32_t *zero_point) {
    if (asymmetric) {
        mg_hybrid_quantize_asymmetric(x, n, q, scale, zero_point);
    } else {
        mg_hybrid_quantize_symmetric(x, n, q, scale);
        *zero_point = 0;
    }
}

void mg_hybrid_conv2d_f32(const mg_hybrid_conv2d_params *p, const float *MG_RESTRICT input,
                          const int8_t *MG_RESTRICT filter, const float *MG_RESTRICT bias,
                          float *MG_RESTRICT output, uint8_t *MG_RESTRICT scratch) {
    const int32_t in_size = p->in_h * p->in_w * p->in_c;
    const int32_t depth = p->filter_h * p->filter_w * p->in_c;
    int8_t *MG_RESTRICT q = (int8_t *)scratch;
    int32_t b, oy, ox, oc, ky, kx, c;
    for (b = 0; b < p->batches; ++b) {
        float in_scale;
        int32_t zp;
        float *y = output + (size_t)b * p->out_h * p->out_w * p->out_c;
        /* One scale (and zero point) per batch over the whole image, as LiteRT. */
        mg_hybrid_quantize(input + (size_t)b * in_size, in_size, p->asymmetric, q, &in_scale, &zp);
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                for (oc = 0; oc < p->out_c; ++oc) {
                    const int8_t *w = filter + (size_t)oc * depth;
                    int32_t acc = 0;
                    for (ky = 0; ky < p->filter_h; ++ky) {
                        const int32_t iy = iy0 + ky * p->dilation_h;
                        if (iy < 0 || iy >= p->in_h) {
                            continue; /* padding adds nothing: a real 0 in either quantization */
                        }
                        for (kx = 0; kx < p->filter_w; ++kx) {
                            const int32_t ix = ix0 + kx * p->dilation_w;
                            const int8_t *xp;
                            const int8_t *wp;
                            if (ix < 0 || ix >= p->in_w) {
                                continue;
                            }
                            xp = q + ((size_t)iy * p->in_w + ix) * p->in_c;
                            wp = w + ((size_t)ky * p->filter_w + kx) * p->in_c;
                            for (c = 0; c < p->in_c; ++c) {
                                acc += (int32_t)wp[c] * ((int32_t)xp[c] - zp);
                            }
                        }
                    }
                    *y++ = mg_hybrid_output(acc, p->filter_scale[oc], in_scale, p->scale_order, bias[oc],
                                            p->act_min, p->act_max);
                }
            }
        }
    }
}

void mg_hybrid_depthwise_conv2d_f32(const mg_hybrid_depthwise_conv2d_params *p,
                                    const float *MG_RESTRICT input, const int8_t *MG_RESTRICT filter,
                                    const float *MG_RESTRICT bias, float *MG_RESTRICT output,
                                    uint8_t *MG_RESTRICT scratch) {
    const int32_t in_size = p->in_h * p->in_w * p->in_c;
    int8_t *MG_RESTRICT q = (int8_t *)scratch;
    int32_t b, oy, ox, ic, m, ky, kx;
    for (b = 0; b < p->batches; ++b) {
        float in_scale;
        int32_t zp;
        float *y = output + (size_t)b * p->out_h * p->out_w * p->out_c;
        mg_hybrid_quantize_asymmetric(input + (size_t)b * in_size, in_size, q, &in_scale, &zp);
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                for (ic = 0; ic < p->in_c; ++ic) {
                    for (m = 0; m < p->depth_multiplier; ++m) {
                        const int32_t oc = ic * p->depth_multiplier + m;
                        int32_t acc = 0;
                        for (ky = 0; ky < p->filter_h; ++ky) {
                            const int32_t iy = iy0 + ky * p->dilation_h;
                            if (iy < 0 || iy >= p->in_h) {
                                continue;
                            }
                            for (kx = 0; kx < p->filter_w; ++kx) {
                                const int32_t ix = ix0 + kx * p->dilation_w;
                                if (ix < 0 || ix >= p->in_w) {
                                    continue;
                                }
                                acc += (int32_t)filter[((size_t)ky * p->filter_w + kx) * p->out_c + oc] *
                                       ((int32_t)q[((size_t)iy * p->in_w + ix) * p->in_c + ic] - zp);
                            }
                        }
                        *y++ = mg_hybrid_output(acc, p->filter_scale[oc], in_scale, MG_HYBRID_SCALE_COMBINED,
                                                bias[oc], p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}

void mg_hybrid_fully_connected_f32(const mg_hybrid_fully_connected_params *p,
                                   const float *MG_RESTRICT input, const int8_t *MG_RESTRICT weights,
                                   const float *MG_RESTRICT bias, float *MG_RESTRICT output,
                                   uint8_t *MG_RESTRICT scratch) {
    const int32_t k_count = p->in_features;
    int8_t *MG_RESTRICT q = (int8_t *)scratch;
    int32_t b, n, k;
    for (b = 0; b < p->batches; ++b) {
        float in_scale;
        int32_t zp;
        float *y = output + (size_t)b * p->out_features;
        mg_hybrid_quantize(input + (size_t)b * k_count, k_count, p->asymmetric, q, &in_scale, &zp);
        for (n = 0; n < p->out_features; ++n) {
            const int8_t *w = weights + (size_t)n * k_count;
            int32_t acc = 0;
            for (k = 0; k < k_count; ++k) {
                acc += (int32_t)w[k] * ((int32_t)q[k] - zp);
            }
            y[n] = mg_hybrid_output(acc, p->filter_scale[n], in_scale, MG_HYBRID_SCALE_COMBINED, bias[n],
                                    p->act_min, p->act_max);
        }
    }
}
