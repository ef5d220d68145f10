#include "mg_strided_copy.h"

#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
/* Under -ffreestanding GCC would call the library for every fixed-size element copy. */
#define MG_SC_MEMCPY __builtin_memcpy
#define MG_SC_MEMSET __builtin_memset
#else
#define MG_SC_MEMCPY memcpy
#define MG_SC_MEMSET memset
#endif

/* One innermost run of n elements. Strides are in bytes; offsets stay inside the tensors. */
static void mg_sc_run(const mg_strided_copy_params *p, int32_t mode, uint8_t *dst, const uint8_t *src, int32_t n,
                      int32_t ss, int32_t ds) {
    const int32_t esz = p->elem_size;
    int32_t i;
    if (mode > 0) {
        const uint8_t *lut = p->luts + 256 * (mode - 1);
        for (i = 0; i < n; ++i) {
            dst[i * ds] = lut[src[i * ss]];
        }
        return;
    }
    if (mode < 0) {
        for (i = 0; i < n; ++i) {
            float v;
            MG_SC_MEMCPY(&v, src + i * ss, sizeof v);
            v = mg_clamp_f32(v, p->act_min, p->act_max);
            MG_SC_MEMCPY(dst + i * ds, &v, sizeof v);
        }
        return;
    }
    if (ss == esz && ds == esz) {
        MG_SC_MEMCPY(dst, src, (size_t)n * (size_t)esz);
        return;
    }
    /* Fixed-size copies compile to single loads and stores. */
    switch (esz) {
    case 1:
        if (ss == 0 && ds == 1) {
            MG_SC_MEMSET(dst, src[0], (size_t)n);
        } else {
            for (i = 0; i < n; ++i) {
                dst[i * ds] = src[i * ss];
            }
        }
        break;
    case 2:
        for (i = 0; i < n; ++i) {
            MG_SC_MEMCPY(dst + i * ds, src + i * ss, 2);
        }
        break;
    case 4:
        for (i = 0; i < n; ++i) {
            MG_SC_MEMCPY(dst + i * ds, src + i * ss, 4);
        }
        break;
    default:
        for (i = 0; i < n; ++i) {
            MG_SC_MEMCPY(dst + i * ds, src + i * ss, 8);
        }
        break;
    }
}

void mg_strided_copy_run(const mg_strided_copy_params *p, const void *const *tensors) {
    const int32_t dims = p->dims;
    const int32_t inner = dims - 1;
    const int32_t part_len = 5 + 3 * dims;
    int32_t k;
    for (k = 0; k < p->num_parts; ++k) {
        const int32_t *d = p->parts + k * part_len;
        const uint8_t *src = (const uint8_t *)tensors[d[0]];
        /* Outputs travel in the same const array as inputs; they are writable arena memory. */
        uint8_t *dst = (uint8_t *)tensors[d[1]];
        const int32_t mode = d[4];
        const int32_t *loop = d + 5; /* (count, source stride, destination stride) per loop */
        int32_t index[MG_STRIDED_COPY_MAX_DIMS] = {0};
        /* Offsets rather than pointers, so no pointer ever leaves its tensor between runs. */
        int32_t so = d[2];
        int32_t dof = d[3];
        for (;;) {
            int32_t a;
            mg_sc_run(p, mode, dst + dof, src + so, loop[3 * inner], loop[3 * inner + 1], loop[3 * inner + 2]);
            /* Odometer over the outer loops. */
            for (a = inner - 1; a >= 0; --a) {
                so += loop[3 * a + 1];
                dof += loop[3 * a + 2];
                if (++index[a] < loop[3 * a]) {
                    break;
                }
                so -= loop[3 * a + 1] * loop[3 * a];
                dof -= loop[3 * a + 2] * loop[3 * a];
                index[a] = 0;
            }
            if (a < 0) {
                break;
            }
        }
    }
}
