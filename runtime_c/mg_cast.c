#include "mg_cast.h"

#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define MG_CAST_MEMCPY __builtin_memcpy
#else
#define MG_CAST_MEMCPY memcpy
#endif

static int64_t mg_cast_load_int(const uint8_t *in, int32_t type, int32_t i) {
    switch (type) {
    case MG_CAST_S8: return ((const int8_t *)in)[i];
    case MG_CAST_U8: return in[i];
    case MG_CAST_BOOL: return in[i] != 0;
    case MG_CAST_S16: {
        int16_t v;
        MG_CAST_MEMCPY(&v, in + (size_t)i * 2, 2);
        return v;
    }
    case MG_CAST_S32: {
        int32_t v;
        MG_CAST_MEMCPY(&v, in + (size_t)i * 4, 4);
        return v;
    }
    default: {
        int64_t v;
        MG_CAST_MEMCPY(&v, in + (size_t)i * 8, 8);
        return v;
    }
    }
}

/* Integer to integer conversions wrap (two's complement), as static_cast does. */
static void mg_cast_store_int(uint8_t *out, int32_t type, int32_t i, int64_t v) {
    switch (type) {
    case MG_CAST_S8: ((int8_t *)out)[i] = (int8_t)v; break;
    case MG_CAST_U8: out[i] = (uint8_t)v; break;
    case MG_CAST_BOOL: out[i] = v != 0; break;
    case MG_CAST_S16: {
        const int16_t w = (int16_t)v;
        MG_CAST_MEMCPY(out + (size_t)i * 2, &w, 2);
        break;
    }
    case MG_CAST_S32: {
        const int32_t w = (int32_t)v;
        MG_CAST_MEMCPY(out + (size_t)i * 4, &w, 4);
        break;
    }
    case MG_CAST_S64: MG_CAST_MEMCPY(out + (size_t)i * 8, &v, 8); break;
    default: {
        const float w = (float)v;
        MG_CAST_MEMCPY(out + (size_t)i * 4, &w, 4);
        break;
    }
    }
}

/* Float to integer truncates toward zero; outside the target range it saturates instead of being
 * undefined behaviour. */
static int64_t mg_cast_float_to_int(float v, float lo, float hi_exclusive, int64_t lo_int, int64_t hi_int) {
    if (v != v) {
        return 0;
    }
    if (v < lo) {
        return lo_int;
    }
    if (v >= hi_exclusive) {
        return hi_int;
    }
    return (int64_t)v;
}

static void mg_cast_store_float(uint8_t *out, int32_t type, int32_t i, float v) {
    switch (type) {
    case MG_CAST_F32: MG_CAST_MEMCPY(out + (size_t)i * 4, &v, 4); break;
    case MG_CAST_BOOL: out[i] = v != 0.0f; break;
    case MG_CAST_S8: ((int8_t *)out)[i] = (int8_t)mg_cast_float_to_int(v, -128.0f, 128.0f, -128, 127); break;
    case MG_CAST_U8: out[i] = (uint8_t)mg_cast_float_to_int(v, 0.0f, 256.0f, 0, 255); break;
    case MG_CAST_S16: mg_cast_store_int(out, type, i, mg_cast_float_to_int(v, -32768.0f, 32768.0f, -32768, 32767)); break;
    case MG_CAST_S32:
        mg_cast_store_int(out, type, i, mg_cast_float_to_int(v, -2147483648.0f, 2147483648.0f, INT32_MIN, INT32_MAX));
        break;
    default:
        mg_cast_store_int(out, type, i,
                          mg_cast_float_to_int(v, -9223372036854775808.0f, 9223372036854775808.0f, INT64_MIN, INT64_MAX));
        break;
    }
}

void mg_cast(const mg_cast_params *p, const void *MG_RESTRICT input, void *MG_RESTRICT output) {
    const uint8_t *in = (const uint8_t *)input;
    uint8_t *out = (uint8_t *)output;
    int32_t i;
    if (p->in_type == MG_CAST_F32) {
        for (i = 0; i < p->count; ++i) {
            float v;
            MG_CAST_MEMCPY(&v, in + (size_t)i * 4, 4);
            mg_cast_store_float(out, p->out_type, i, v);
        }
    } else {
        for (i = 0; i < p->count; ++i) {
            mg_cast_store_int(out, p->out_type, i, mg_cast_load_int(in, p->in_type, i));
        }
    }
}
