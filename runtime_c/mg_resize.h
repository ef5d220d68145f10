/* RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR kernels over NHWC tensors. Source positions and
 * weights per output row and column are computed at generation time. */
#ifndef MG_RESIZE_H
#define MG_RESIZE_H

#include "mg_common.h"

typedef struct {
    int32_t batches;
    int32_t out_height;
    int32_t out_width;
    int32_t pixel_bytes;    /* depth * element size */
    int32_t in_batch_bytes; /* one input image */
    const int32_t *row_offsets; /* [out_height] byte offset of the source row */
    const int32_t *col_offsets; /* [out_width] byte offset of the source pixel within its row */
} mg_resize_nearest_params;

/* Element offsets of the lower and upper source rows (row_*: y * in_width * depth) and columns
 * (col_*: x * depth), and their weights. */
#define MG_RESIZE_BILINEAR_COMMON \
    int32_t batches;              \
    int32_t in_height;            \
    int32_t in_width;             \
    int32_t depth;                \
    int32_t out_height;           \
    int32_t out_width;            \
    const int32_t *row_lo;        \
    const int32_t *row_hi;        \
    const int32_t *col_lo;        \
    const int32_t *col_hi

typedef struct {
    MG_RESIZE_BILINEAR_COMMON;
    const int32_t *row_w_lo; /* 1/1024 units, as TFLM's integer kernel */
    const int32_t *row_w_hi;
    const int32_t *col_w_lo;
    const int32_t *col_w_hi;
} mg_resize_bilinear_s8_params;

typedef struct {
    MG_RESIZE_BILINEAR_COMMON;
    const float *row_w_lo;
    const float *row_w_hi;
    const float *col_w_lo;
    const float *col_w_hi;
} mg_resize_bilinear_f32_params;

/* Copies pixels: serves every element type. */
void mg_resize_nearest_bytes(const mg_resize_nearest_params *p, const void *MG_RESTRICT input,
                             void *MG_RESTRICT output);
void mg_resize_bilinear_s8(const mg_resize_bilinear_s8_params *p, const int8_t *MG_RESTRICT input,
                           int8_t *MG_RESTRICT output);
void mg_resize_bilinear_f32(const mg_resize_bilinear_f32_params *p, const float *MG_RESTRICT input,
                            float *MG_RESTRICT output);

#endif
