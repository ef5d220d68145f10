#include "mg_pooling.h"

/* Channels are accumulated in blocks of this many int32 sums on the stack. */
#define MG_POOL_CHANNEL_BLOCK 64

/* One output pixel's window, clipped to the input. */
typedef struct {
    int32_t y_start, y_end; /* input rows [y_start, y_end) */
    int32_t x_start, x_end; /* input columns [x_start, x_end) */
} mg_pool_window;

MG_INLINE mg_pool_window mg_pool_clip(int32_t out_y, int32_t out_x, int32_t stride_h, int32_t stride_w,
                                      int32_t pad_h, int32_t pad_w, int32_t filter_h, int32_t filter_w,
                                      int32_t in_h, int32_t in_w) {
    mg_pool_window w;
    const int32_t y0 = out_y * stride_h - pad_h;
    const int32_t x0 = out_x * stride_w - pad_w;
    w.y_start = mg_max_i32(y0, 0);
    w.y_end = mg_min_i32(y0 + filter_h, in_h);
    w.x_start = mg_max_i32(x0, 0);
    w.x_end = mg_min_i32(x0 + filter_w, in_w);
    return w;
}

#define MG_POOL_CLIP(p, oy, ox)                                                                     \
    mg_pool_clip((oy), (ox), (p)->stride_height, (p)->stride_width, (p)->pad_height, (p)->pad_width, \
                 (p)->filter_height, (p)->filter_width, (p)->in_height, (p)->in_width)

/* Average and max pooling on int8 or int16 data (TFLM runs its int8 kernels on int16 too): a window
 * of int16 values still sums within int32. Defined once by a macro for both widths. */
#define MG_DEFINE_INTEGER_POOLS(SUFFIX, T)                                                               \
    void mg_avg_pool_##SUFFIX(const mg_pool_##SUFFIX##_params *p, const T *MG_RESTRICT input,             \
                              T *MG_RESTRICT output) {                                                    \
        const int32_t channels = p->channels;                                                             \
        int32_t b, oy, ox, y, x, c, c0;                                                                   \
        for (b = 0; b < p->batches; ++b) {                                                                \
            const T *image = input + (size_t)b * p->in_height * p->in_width * channels;                   \
            for (oy = 0; oy < p->out_height; ++oy) {                                                      \
                for (ox = 0; ox < p->out_width; ++ox) {                                                   \
                    const mg_pool_window w = MG_POOL_CLIP(p, oy, ox);                                     \
                    const int32_t count = (w.y_end - w.y_start) * (w.x_end - w.x_start);                  \
                    const int32_t half = count / 2;                                                       \
                    for (c0 = 0; c0 < channels; c0 += MG_POOL_CHANNEL_BLOCK) {                            \
                        const int32_t n = mg_min_i32(MG_POOL_CHANNEL_BLOCK, channels - c0);               \
                        int32_t acc[MG_POOL_CHANNEL_BLOCK];                                               \
                        for (c = 0; c < n; ++c) {                                                         \
                            acc[c] = 0;                                                                   \
                        }                                                                                 \
                        for (y = w.y_start; y < w.y_end; ++y) {                                           \
                            for (x = w.x_start; x < w.x_end; ++x) {                                       \
                                const T *src = image + ((size_t)y * p->in_width + x) * channels + c0;     \
                                for (c = 0; c < n; ++c) {                                                 \
                                    acc[c] += src[c];                                                     \
                                }                                                                         \
                            }                                                                             \
                        }                                                                                 \
                        /* Round half away from zero with C's truncating division, as TFLM. */           \
                        for (c = 0; c < n; ++c) {                                                         \
                            const int32_t avg = acc[c] > 0 ? (acc[c] + half) / count                      \
                                                           : (acc[c] - half) / count;                     \
                            output[c0 + c] = (T)mg_clamp_i32(avg, p->act_min, p->act_max);                \
                        }                                                                                 \
                    }                                                                                     \
                    output += channels;                                                                   \
                }                                                                                         \
            }                                                                                             \
        }                                                                                                 \
    }                                                                                                     \
                                                                                                          \
    void mg_max_pool_##SUFFIX(const mg_pool_##SUFFIX##_params *p, const T *MG_RESTRICT input,             \
                              T *MG_RESTRICT output) {                                                    \
        const int32_t channels = p->channels;                                                             \
        const T act_min = (T)p->act_min;                                                                  \
        const T act_max = (T)p->act_max;                                                                  \
        int32_t b, oy, ox, y, x, c;                                                                       \
        for (b = 0; b < p->batches; ++b) {                                                                \
            const T *image = input + (size_t)b * p->in_height * p->in_width * channels;                   \
            for (oy = 0; oy < p->out_height; ++oy) {                                                      \
                for (ox = 0; ox < p->out_width; ++ox) {                                                   \
                    const mg_pool_window w = MG_POOL_CLIP(p, oy, ox);                                     \
                    /* Starting from act_min folds the lower clamp into the max. */                       \
                    for (c = 0; c < channels; ++c) {                                                      \
                        output[c] = act_min;                                                              \
                    }                                                                                     \
                    for (y = w.y_start; y < w.y_end; ++y) {                                               \
                        for (x = w.x_start; x < w.x_end; ++x) {                                           \
                            const T *src = image + ((size_t)y * p->in_width + x) * channels;              \
                            for (c = 0; c < channels; ++c) {                                              \
                                output[c] = src[c] > output[c] ? src[c] : output[c];                      \
                            }                                                                             \
                        }                                                                                 \
                    }                                                                                     \
                    for (c = 0; c < channels; ++c) {                                                      \
                        output[c] = output[c] < act_max ? output[c] : act_max;                            \
                    }                                                                                     \
                    output += channels;                                                                   \
                }                                                                                         \
            }                                                                                             \
        }                                                                                                 \
    }

MG_DEFINE_INTEGER_POOLS(s8, int8_t)
MG_DEFINE_INTEGER_POOLS(s16, int16_t)

void mg_avg_pool_f32(const mg_pool_f32_params *p, const float *MG_RESTRICT input, float *MG_RESTRICT output) {
    const int32_t channels = p->channels;
    int32_t b, oy, ox, y, x, c;
    for (b = 0; b < p->batches; ++b) {
        const float *image = input + (size_t)b * p->in_height * p->in_width * channels;
        for (oy = 0; oy < p->out_height; ++oy) {
            for (ox = 0; ox < p->out_width; ++ox) {
                const mg_pool_window w = MG_POOL_CLIP(p, oy, ox);
                const float count = (float)((w.y_end - w.y_start) * (w.x_end - w.x_start));
                /* Sums taps in TFLM's order (rows, then columns) so results match bit for bit. */
                for (c = 0; c < channels; ++c) {
                    output[c] = 0.0f;
                }
                for (y = w.y_start; y < w.y_end; ++y) {
                    for (x = w.x_start; x < w.x_end; ++x) {
                        const float *src = image + ((size_t)y * p->in_width + x) * channels;
                        for (c = 0; c < channels; ++c) {
                            output[c] += src[c];
                        }
                    }
                }
                for (c = 0; c < channels; ++c) {
                    output[c] = mg_clamp_f32(output[c] / count, p->act_min, p->act_max);
                }
                output += channels;
            }
        }
    }
}

void mg_max_pool_f32(const mg_pool_f32_params *p, const float *MG_RESTRICT input, float *MG_RESTRICT output) {
    const int32_t channels = p->channels;
    int32_t b, oy, ox, y, x, c;
    for (b = 0; b < p->batches; ++b) {
        const float *image = input + (size_t)b * p->in_height * p->in_width * channels;
        for (oy = 0; oy < p->out_height; ++oy) {
            for (ox = 0; ox < p->out_width; ++ox) {
                const mg_pool_window w = MG_POOL_CLIP(p, oy, ox);
                for (c = 0; c < channels; ++c) {
                    output[c] = p->act_min;
                }
                for (y = w.y_start; y < w.y_end; ++y) {
                    for (x = w.x_start; x < w.x_end; ++x) {
                        const float *src = image + ((size_t)y * p->in_width + x) * channels;
                        for (c = 0; c < channels; ++c) {
                            output[c] = src[c] > output[c] ? src[c] : output[c];
                        }
                    }
                }
                for (c = 0; c < channels; ++c) {
                    output[c] = output[c] < p->act_max ? output[c] : p->act_max;
                }
                output += channels;
            }
        }
    }
}
