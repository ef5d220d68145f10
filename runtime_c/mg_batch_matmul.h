/* BATCH_MATMUL kernels: out[b][i][j] = sum_k lhs[b][i][k] * rhs[b][k][j]. */
#ifndef MG_BATCH_MATMUL_H
#define MG_BATCH_MATMUL_H

#include "mg_common.h"

#define MG_BATCH_MATMUL_LOOPS 4

/* Broadcast batches as up to four loops (outermost first) with per-operand element strides, 0
 * where an operand is broadcast; outputs are contiguous rows x cols matrices. adj_x/adj_y (and
 * constants stored transposed) are expressed by the element strides inside one matrix. */
#define MG_BATCH_MATMUL_SHAPE                                  \
    int32_t batch_size[MG_BATCH_MATMUL_LOOPS];                 \
    int32_t lhs_batch_stride[MG_BATCH_MATMUL_LOOPS];           \
    int32_t rhs_batch_stride[MG_BATCH_MATMUL_LOOPS];           \
    int32_t rows;                                              \
    int32_t cols;                                              \
    int32_t depth;                                             \
    int32_t lhs_row_stride;                                    \
    int32_t lhs_depth_stride;                                  \
    int32_t rhs_depth_stride;                                  \
    int32_t rhs_col_stride

typedef struct {
    MG_BATCH_MATMUL_SHAPE;
    int32_t lhs_offset; /* -zero_point */
    int32_t rhs_offset;
    int32_t output_offset;
    int32_t multiplier;
    int32_t shift;
} mg_batch_matmul_s8_params;

typedef struct {
    MG_BATCH_MATMUL_SHAPE;
} mg_batch_matmul_f32_params;

void mg_batch_matmul_s8(const mg_batch_matmul_s8_params *p, const int8_t *MG_RESTRICT lhs,
                        const int8_t *MG_RESTRICT rhs, int8_t *MG_RESTRICT output);
void mg_batch_matmul_f32(const mg_batch_matmul_f32_params *p, const float *MG_RESTRICT lhs,
                         const float *MG_RESTRICT rhs, float *MG_RESTRICT output);

#endif
