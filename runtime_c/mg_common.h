/* mcugen runtime: shared fixed-point helpers. C99, no allocation, no globals.
 * The integer arithmetic matches TensorFlow Lite Micro's reference kernels bit for bit. */
#ifndef MG_COMMON_H
#define MG_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define MG_ALIGN(n) __attribute__((aligned(n)))
#define MG_INLINE static inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define MG_ALIGN(n) __declspec(align(n))
#define MG_INLINE static __forceinline
#else
#define MG_ALIGN(n)
#define MG_INLINE static inline
#endif

#if defined(__GNUC__) || defined(__clang__)
#define MG_RESTRICT __restrict__
#else
#define MG_RESTRICT restrict
#endif

/* The geometry shared by the windowed kernels' params structs (conv, depthwise, hybrid). */
#define MG_WINDOW_FIELDS \
    int32_t batches; \
    int32_t in_h; \
    int32_t in_w; \
    int32_t in_c; \
    int32_t out_h; \
    int32_t out_w; \
    int32_t out_c; \
    int32_t filter_h; \
    int32_t filter_w; \
    int32_t stride_h; \
    int32_t stride_w; \
    int32_t dilation_h; \
    int32_t dilation_w; \
    int32_t pad_top; \
    int32_t pad_left;

MG_INLINE int32_t mg_min_i32(int32_t a, int32_t b) { return a < b ? a : b; }
MG_INLINE int32_t mg_max_i32(int32_t a, int32_t b) { return a > b ? a : b; }
MG_INLINE int32_t mg_clamp_i32(int32_t x, int32_t lo, int32_t hi) { return x < lo ? lo : (x > hi ? hi : x); }
MG_INLINE float mg_clamp_f32(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

/* (a * b * 2) >> 32 with rounding to nearest; saturates the single overflow case. */
MG_INLINE int32_t mg_sat_rounding_doubling_high_mul(int32_t a, int32_t b) {
    int64_t ab;
    int64_t nudge;
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* x / 2^exponent rounded to nearest, ties away from zero. */
MG_INLINE int32_t mg_rounding_divide_by_pot(int32_t x, int exponent) {
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * multiplier * 2^shift with TFLM's two-step rounding. */
MG_INLINE int32_t mg_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int shift) {
    const int left_shift = shift > 0 ? shift : 0;
    const int right_shift = shift > 0 ? 0 : -shift;
    const int32_t shifted = (int32_t)((uint32_t)x << left_shift);
    return mg_rounding_divide_by_pot(mg_sat_rounding_doubling_high_mul(shifted, multiplier), right_shift);
}

/* mg_multiply_by_quantized_multiplier for multiplier >= 0, which QuantizeMultiplier gives for every
 * positive real multiplier (and which rules out the saturating case). Identical results, faster:
 * SaturatingRoundingDoublingHighMul's nudge-and-truncate equals floor((a + 2^30) / 2^31) there, so it
 * needs neither a branch nor a signed division. The second step is TFLM's rounding divide by 2^-shift. */
MG_INLINE int32_t mg_requantize_nonneg(int32_t x, int32_t multiplier, int32_t shift) {
    const int32_t left = shift > 0 ? shift : 0;
    const int64_t a = (int64_t)(int32_t)((uint32_t)x << left) * multiplier;
    return mg_rounding_divide_by_pot((int32_t)((a + ((int64_t)1 << 30)) >> 31), shift > 0 ? 0 : -shift);
}

/* TFLM's MultiplyByQuantizedMultiplier for an int64 accumulator (int16 activations): the Q31
 * multiplier rounded to 16 bits (reduced_multiplier) and one rounding right shift by
 * total_shift = 15 - shift, both computed at generation time; the int32 result wraps as TFLM's cast
 * does. Unsigned arithmetic keeps out-of-contract accumulators defined. */
MG_INLINE int32_t mg_requantize_s64(int64_t x, int32_t reduced_multiplier, int32_t total_shift) {
    const uint64_t a = (uint64_t)x * (uint64_t)(int64_t)reduced_multiplier + ((uint64_t)1 << (total_shift - 1));
    return (int32_t)(uint32_t)(uint64_t)((int64_t)a >> total_shift);
}

/* Exact sum of x[k] * w[k] for int16 activations and int8 weights. Each product is at most 2^22
 * in magnitude, so int32 partial sums over 256 terms cannot overflow and the inner loop stays
 * 32-bit (it vectorizes); the partial sums add up in int64. */
#define MG_DOT_S16_CHUNK 256
MG_INLINE int64_t mg_dot_s16_s8(const int16_t *MG_RESTRICT x, const int8_t *MG_RESTRICT w, int32_t n) {
    int64_t total = 0;
    while (n > 0) {
        const int32_t m = n < MG_DOT_S16_CHUNK ? n : MG_DOT_S16_CHUNK;
        int32_t part = 0;
        int32_t k;
        for (k = 0; k < m; ++k) {
            part += (int32_t)x[k] * (int32_t)w[k];
        }
        total += part;
        x += m;
        w += m;
        n -= m;
    }
    return total;
}

#endif /* MG_COMMON_H */
