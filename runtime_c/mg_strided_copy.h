/* Strided copies: the one kernel behind CONCATENATION, PACK, UNPACK, SPLIT, SPLIT_V, PAD, PADV2,
 * TRANSPOSE, SLICE, STRIDED_SLICE and SHAPE. These ops only move bytes, so the kernel works on the
 * element size and serves every dtype. All planning (loop merging, offsets, strides) happens at
 * generation time; see mcugen/ops/strided_copy.py. */
#ifndef MG_STRIDED_COPY_H
#define MG_STRIDED_COPY_H

#include "mg_common.h"

#define MG_STRIDED_COPY_MAX_DIMS 8

typedef struct {
    int32_t elem_size; /* bytes per element: 1, 2, 4 or 8 */
    int32_t dims;      /* loops per part, outermost first, at most MG_STRIDED_COPY_MAX_DIMS */
    int32_t num_parts;
    /* Per part, 5 + 3 * dims values: source tensor, destination tensor (positions in the argument
     * list), source offset, destination offset (bytes), mode; then per loop: count, source stride,
     * destination stride (bytes; a source stride of 0 repeats one element, which is how fills work).
     * Mode 0 copies; mode k > 0 maps 8-bit elements through luts[256 * (k - 1) + byte]; mode -1
     * copies float32 clamped to [act_min, act_max]. */
    const int32_t *parts;
    const uint8_t *luts;
    float act_min;
    float act_max;
} mg_strided_copy_params;

/* tensors[i] is argument i of the op: inputs first, then outputs. */
void mg_strided_copy_run(const mg_strided_copy_params *p, const void *const *tensors);

/* mg_strided_copy(&params, t0, t1, ...): any number of tensor pointers (a C99 compound literal). */
#define mg_strided_copy(p, ...) mg_strided_copy_run((p), (const void *const[]){__VA_ARGS__})

#endif
