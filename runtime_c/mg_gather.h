/* GATHER on any dtype (the kernel moves elem_bytes at a time), with int32 or int64 indices. */
#ifndef MG_GATHER_H
#define MG_GATHER_H

#include "mg_common.h"

typedef struct {
    int32_t batch;       /* leading dimensions shared by the input and the indices (batch_dims) */
    int32_t outer;       /* input dimensions between the batch ones and the axis */
    int32_t axis_size;   /* input size along the gather axis */
    int32_t coords;      /* indices per batch */
    int32_t inner_bytes; /* bytes of one gathered slice: the dimensions after the axis, times the element size */
    int32_t index_bytes; /* 4 (int32 indices) or 8 (int64 indices) */
} mg_gather_params;

/* An index outside [0, axis_size) gives a slice of zero bytes (TFLM does not check; reading outside
 * the input is not an option). */
void mg_gather(const mg_gather_params *p, const void *MG_RESTRICT input, const void *MG_RESTRICT indices,
               void *MG_RESTRICT output);

#endif
