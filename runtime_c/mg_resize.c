#include "mg_resize.h"

#include <string.h>

/* Under -ffreestanding GCC does not expand a plain memcpy inline. */
#if defined(__GNUC__) || defined(__clang__)
#define MG_RESIZE_COPY __builtin_memcpy
#else
#define MG_RESIZE_COPY memcpy
#endif

void mg_resize_nearest_bytes(const mg_resize_nearest_params *p, const void *MG_RESTRICT input,
                             void *MG_RESTRICT output) {
    const uint8_t *image = (const uint8_t *)input;
    uint8_t *out = (uint8_t *)output;
    const size_t pixel = (size_t)p->pixel_bytes;
    int32_t b, y, x;
    for (b = 0; b < p->batches; ++b) {
        for (y = 0; y < p->out_height; ++y) {
            const uint8_t *row = image + p->row_offsets[y];
            for (x = 0; x < p->out_width; ++x) {
                MG_RESIZE_COPY(out, row + p->col_offsets[x], pixel);
                out += pixel;
            }
        }
        image += p->in_batch_bytes;
    }
}

void mg_resize_bilinear_s8(const mg_resize_bilinear_s8_params *p, const int8_t *MG_RESTRICT input,
                           int8_t *MG_RESTRICT output) {
    const size_t batch_size = (size_t)p->in_height * p->in_width * p->depth;
    int32_t b, y, x, c;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *image = input + b * batch_size;
        for (y = 0; y < p->out_height; ++y) {
            const int8_t *lo = image + p->row_lo[y];
            const int8_t *hi = image + p->row_hi[y];
            const int32_t wy_lo = p->row_w_lo[y];
            const int32_t wy_hi = p->row_w_hi[y];
            for (x = 0; x < p->out_width; ++x) {
                const int8_t *ll = lo + p->col_lo[x];
                const int8_t *hl = hi + p->col_lo[x];
                const int8_t *lh = lo + p->col_hi[x];
                const int8_t *hh = hi + p->col_hi[x];
                /* Products of the 1/1024 weights: 2^20 is one. */
                const int32_t w_ll = wy_lo * p->col_w_lo[x];
                const int32_t w_hl = wy_hi * p->col_w_lo[x];
                const int32_t w_lh = wy_lo * p->col_w_hi[x];
                const int32_t w_hh = wy_hi * p->col_w_hi[x];
                for (c = 0; c < p->depth; ++c) {
                    const int32_t acc = ll[c] * w_ll + hl[c] * w_hl + lh[c] * w_lh + hh[c] * w_hh;
                    /* TFLM: +-2^19 by sign, then C's truncating division by 2^20. */
                    const int32_t rounded = acc > 0 ? acc + (1 << 19) : acc - (1 << 19);
                    output[c] = (int8_t)(rounded / (1 << 20));
                }
                output += p->depth;
            }
        }
    }
}

void mg_resize_bilinear_f32(const mg_resize_bilinear_f32_params *p, const float *MG_RESTRICT input,
                            float *MG_RESTRICT output) {
    const size_t batch_size = (size_t)p->in_height * p->in_width * p->depth;
    int32_t b, y, x, c;
    for (b = 0; b < p->batches; ++b) {
        const float *image = input + b * batch_size;
        for (y = 0; y < p->out_height; ++y) {
            const float *lo = image + p->row_lo[y];
            const float *hi = image + p->row_hi[y];
            const float wy_lo = p->row_w_lo[y];
            const float wy_hi = p->row_w_hi[y];
            for (x = 0; x < p->out_width; ++x) {
                const float *ll = lo + p->col_lo[x];
                const float *hl = hi + p->col_lo[x];
                const float *lh = lo + p->col_hi[x];
                const float *hh = hi + p->col_hi[x];
                const float wx_lo = p->col_w_lo[x];
                const float wx_hi = p->col_w_hi[x];
                for (c = 0; c < p->depth; ++c) {
                    /* TFLM's association: (v * wy) * wx, summed left to right. */
                    output[c] = ll[c] * wy_lo * wx_lo + hl[c] * wy_hi * wx_lo + lh[c] * wy_lo * wx_hi +
                                hh[c] * wy_hi * wx_hi;
                }
                output += p->depth;
            }
        }
    }
}
