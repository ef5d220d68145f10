#include "mg_gather.h"

#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define MG_GATHER_MEMCPY __builtin_memcpy
#define MG_GATHER_MEMSET __builtin_memset
#else
#define MG_GATHER_MEMCPY memcpy
#define MG_GATHER_MEMSET memset
#endif

static int64_t mg_gather_index(const mg_gather_params *p, const uint8_t *indices, int32_t i) {
    if (p->index_bytes == 8) {
        int64_t v;
        MG_GATHER_MEMCPY(&v, indices + (size_t)i * 8, 8);
        return v;
    } else {
        int32_t v;
        MG_GATHER_MEMCPY(&v, indices + (size_t)i * 4, 4);
        return v;
    }
}

void mg_gather(const mg_gather_params *p, const void *MG_RESTRICT input, const void *MG_RESTRICT indices,
               void *MG_RESTRICT output) {
    const uint8_t *in = (const uint8_t *)input;
    const uint8_t *idx = (const uint8_t *)indices;
    uint8_t *out = (uint8_t *)output;
    const size_t slice = (size_t)p->inner_bytes;
    int32_t b, o, c;
    for (b = 0; b < p->batch; ++b) {
        for (o = 0; o < p->outer; ++o) {
            const uint8_t *base = in + (size_t)(b * p->outer + o) * (size_t)p->axis_size * slice;
            for (c = 0; c < p->coords; ++c) {
                const int64_t k = mg_gather_index(p, idx, b * p->coords + c);
                if (k >= 0 && k < p->axis_size) {
                    MG_GATHER_MEMCPY(out, base + (size_t)k * slice, slice);
                } else {
                    MG_GATHER_MEMSET(out, 0, slice);
                }
                out += slice;
            }
        }
    }
}
