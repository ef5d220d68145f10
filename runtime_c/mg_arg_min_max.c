#include "mg_arg_min_max.h"

#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define MG_ARG_MEMCPY __builtin_memcpy
#else
#define MG_ARG_MEMCPY memcpy
#endif

static void mg_arg_store(const mg_arg_min_max_params *p, void *output, int32_t i, int32_t value) {
    if (p->out_bytes == 8) {
        const int64_t v = value;
        MG_ARG_MEMCPY((uint8_t *)output + (size_t)i * 8, &v, 8);
    } else {
        MG_ARG_MEMCPY((uint8_t *)output + (size_t)i * 4, &value, 4);
    }
}

/* One body per input type; the comparison direction is chosen outside the innermost loop. */
#define MG_ARG_MIN_MAX_BODY(T)                                                              \
    int32_t o, j, k;                                                                        \
    for (o = 0; o < p->outer; ++o) {                                                        \
        const T *base = input + (size_t)o * (size_t)p->axis_size * (size_t)p->inner;        \
        for (j = 0; j < p->inner; ++j) {                                                    \
            T best = base[j];                                                               \
            int32_t best_index = 0;                                                         \
            if (p->is_max) {                                                                \
                for (k = 1; k < p->axis_size; ++k) {                                        \
                    const T v = base[(size_t)k * (size_t)p->inner + (size_t)j];             \
                    if (v > best) {                                                         \
                        best = v;                                                           \
                        best_index = k;                                                     \
                    }                                                                       \
                }                                                                           \
            } else {                                                                        \
                for (k = 1; k < p->axis_size; ++k) {                                        \
                    const T v = base[(size_t)k * (size_t)p->inner + (size_t)j];             \
                    if (v < best) {                                                         \
                        best = v;                                                           \
                        best_index = k;                                                     \
                    }                                                                       \
                }                                                                           \
            }                                                                               \
            mg_arg_store(p, output, o * p->inner + j, best_index);                          \
        }                                                                                   \
    }

void mg_arg_min_max_s8(const mg_arg_min_max_params *p, const int8_t *MG_RESTRICT input, void *MG_RESTRICT output) {
    MG_ARG_MIN_MAX_BODY(int8_t)
}

void mg_arg_min_max_u8(const mg_arg_min_max_params *p, const uint8_t *MG_RESTRICT input, void *MG_RESTRICT output) {
    MG_ARG_MIN_MAX_BODY(uint8_t)
}

void mg_arg_min_max_s32(const mg_arg_min_max_params *p, const int32_t *MG_RESTRICT input, void *MG_RESTRICT output) {
    MG_ARG_MIN_MAX_BODY(int32_t)
}

void mg_arg_min_max_f32(const mg_arg_min_max_params *p, const float *MG_RESTRICT input, void *MG_RESTRICT output) {
    MG_ARG_MIN_MAX_BODY(float)
}
