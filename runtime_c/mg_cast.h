/* CAST between int8, uint8, int16, int32, int64, float32 and bool: one kernel, types as codes. */
#ifndef MG_CAST_H
#define MG_CAST_H

#include "mg_common.h"

enum { MG_CAST_S8 = 0, MG_CAST_U8 = 1, MG_CAST_S16 = 2, MG_CAST_S32 = 3, MG_CAST_S64 = 4, MG_CAST_F32 = 5, MG_CAST_BOOL = 6 };

typedef struct {
    int32_t count;
    int32_t in_type;  /* MG_CAST_* */
    int32_t out_type; /* MG_CAST_* */
} mg_cast_params;

/* As C++ static_cast (TFLM): integers wrap, floats truncate toward zero, bool is x != 0. Where
 * static_cast is undefined (a float outside the target range, NaN), the result saturates (NaN: 0). */
void mg_cast(const mg_cast_params *p, const void *MG_RESTRICT input, void *MG_RESTRICT output);

#endif
