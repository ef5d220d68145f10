#include "mg_batch_matmul.h"

/* Runs BODY once per output matrix with `l` and `r` at that batch's operands. */
#define MG_BATCH_MATMUL_BATCHES(T, BODY)                                                     \
    do {                                                                                     \
        int32_t b0, b1, b2, b3;                                                              \
        for (b0 = 0; b0 < p->batch_size[0]; ++b0) {                                          \
            for (b1 = 0; b1 < p->batch_size[1]; ++b1) {                                      \
                for (b2 = 0; b2 < p->batch_size[2]; ++b2) {                                  \
                    for (b3 = 0; b3 < p->batch_size[3]; ++b3) {                              \
                        const T *l = lhs + (size_t)b0 * p->lhs_batch_stride[0] +             \
                                     (size_t)b1 * p->lhs_batch_stride[1] +                   \
                                     (size_t)b2 * p->lhs_batch_stride[2] +                   \
                                     (size_t)b3 * p->lhs_batch_stride[3];                    \
                        const T *r = rhs + (size_t)b0 * p->rhs_batch_stride[0] +             \
                                     (size_t)b1 * p->rhs_batch_stride[1] +                   \
                                     (size_t)b2 * p->rhs_batch_stride[2] +                   \
                                     (size_t)b3 * p->rhs_batch_stride[3];                    \
                        BODY;                                                                \
                        output += (size_t)p->rows * p->cols;                                 \
                    }                                                                        \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    } while (0)

static void mg_matmul_s8_one(const mg_batch_matmul_s8_params *p, const int8_t *MG_RESTRICT l,
                             const int8_t *MG_RESTRICT r, int8_t *MG_RESTRICT out) {
    const int32_t lds = p->lhs_depth_stride;
    const int32_t rds = p->rhs_depth_stride;
    int32_t i, j, k;
    for (i = 0; i < p->rows; ++i) {
        const int8_t *lrow = l + (size_t)i * p->lhs_row_stride;
        for (j = 0; j < p->cols; ++j) {
            const int8_t *rcol = r + (size_t)j * p->rhs_col_stride;
            int32_t acc = 0;
            int32_t v;
            for (k = 0; k < p->depth; ++k) {
                acc += (lrow[(size_t)k * lds] + p->lhs_offset) * (rcol[(size_t)k * rds] + p->rhs_offset);
            }
            v = mg_multiply_by_quantized_multiplier(acc, p->multiplier, p->shift) + p->output_offset;
            out[(size_t)i * p->cols + j] = (int8_t)mg_clamp_i32(v, INT8_MIN, INT8_MAX);
        }
    }
}

static void mg_matmul_f32_one(const mg_batch_matmul_f32_params *p, const float *MG_RESTRICT l,
                              const float *MG_RESTRICT r, float *MG_RESTRICT out) {
    const int32_t lds = p->lhs_depth_stride;
    const int32_t rds = p->rhs_depth_stride;
    int32_t i, j, k;
    for (i = 0; i < p->rows; ++i) {
        const float *lrow = l + (size_t)i * p->lhs_row_stride;
        for (j = 0; j < p->cols; ++j) {
            const float *rcol = r + (size_t)j * p->rhs_col_stride;
            float acc = 0.0f;
            for (k = 0; k < p->depth; ++k) { /* TFLM's order: k ascending from 0 */
                acc += lrow[(size_t)k * lds] * rcol[(size_t)k * rds];
            }
            out[(size_t)i * p->cols + j] = acc;
        }
    }
}

void mg_batch_matmul_s8(const mg_batch_matmul_s8_params *p, const int8_t *MG_RESTRICT lhs,
                        const int8_t *MG_RESTRICT rhs, int8_t *MG_RESTRICT output) {
    MG_BATCH_MATMUL_BATCHES(int8_t, mg_matmul_s8_one(p, l, r, output));
}

void mg_batch_matmul_f32(const mg_batch_matmul_f32_params *p, const float *MG_RESTRICT lhs,
                         const float *MG_RESTRICT rhs, float *MG_RESTRICT output) {
    MG_BATCH_MATMUL_BATCHES(float, mg_matmul_f32_one(p, l, r, output));
}
