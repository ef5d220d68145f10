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

/* ---- Broadcasting binary kernels (ADD, SUB, MUL, MAXIMUM, MINIMUM) ----------------------------
 * Broadcasting as four nested loops, size0 outermost; in*_stride* are element strides per loop
 * (0 where that input is broadcast). The innermost strides are 0 or 1. */
#define MG_BROADCAST_FIELDS                                                          \
    int32_t size0, size1, size2, size3;                                              \
    int32_t in1_stride0, in1_stride1, in1_stride2, in1_stride3;                      \
    int32_t in2_stride0, in2_stride1, in2_stride2, in2_stride3

/* ADD and SUB of int8/int16 as TFLM: each input shifted left by left_shift and scaled to a common
 * scale (multiplier, shift <= 0), combined, requantized to the output, clamped to the activation. */
#define MG_RESCALE2_FIELDS                                                           \
    int32_t left_shift;                                                              \
    int32_t input1_offset; /* -zero_point */                                         \
    int32_t input1_multiplier;                                                       \
    int32_t input1_shift;                                                            \
    int32_t input2_offset;                                                           \
    int32_t input2_multiplier;                                                       \
    int32_t input2_shift;                                                            \
    int32_t output_offset;                                                           \
    int32_t output_multiplier;                                                       \
    int32_t output_shift;                                                            \
    int32_t act_min;                                                                 \
    int32_t act_max

/* One innermost run of size3 outputs. The strides there are 0 or 1, so there are four cases;
 * spelling them out lets compilers vectorize the contiguous ones, and a run where both inputs
 * are broadcast computes its value once. EXPR computes one output from x (input 1) and y. */
#define MG_BROADCAST_DEFINE_RUN(NAME, PTYPE, TIN, TOUT, EXPR)                                           \
    static void NAME(const PTYPE *p, const TIN *MG_RESTRICT a, const TIN *MG_RESTRICT b,         \
                     TOUT *MG_RESTRICT out) {                                                    \
        const int32_t n = p->size3;                                                              \
        int32_t i;                                                                               \
        if (p->in1_stride3 && p->in2_stride3) {                                                  \
            for (i = 0; i < n; ++i) {                                                            \
                const TIN x = a[i], y = b[i];                                                    \
                out[i] = (EXPR);                                                                 \
            }                                                                                    \
        } else if (p->in2_stride3) {                                                             \
            const TIN x = a[0];                                                                  \
            for (i = 0; i < n; ++i) {                                                            \
                const TIN y = b[i];                                                              \
                out[i] = (EXPR);                                                                 \
            }                                                                                    \
        } else if (p->in1_stride3) {                                                             \
            const TIN y = b[0];                                                                  \
            for (i = 0; i < n; ++i) {                                                            \
                const TIN x = a[i];                                                              \
                out[i] = (EXPR);                                                                 \
            }                                                                                    \
        } else {                                                                                 \
            const TIN x = a[0], y = b[0];                                                        \
            const TOUT value = (EXPR);                                                           \
            for (i = 0; i < n; ++i) {                                                            \
                out[i] = value;                                                                  \
            }                                                                                    \
        }                                                                                        \
    }

/* The same with one loop that steps each input by its stride (0 or 1): for the integer kernels,
 * whose per-element requantization dominates, four copies would only cost flash. */
#define MG_BROADCAST_DEFINE_STEPPED_RUN(NAME, PTYPE, TIN, TOUT, EXPR)                                   \
    static void NAME(const PTYPE *p, const TIN *MG_RESTRICT a, const TIN *MG_RESTRICT b,         \
                     TOUT *MG_RESTRICT out) {                                                    \
        const int32_t n = p->size3, a_step = p->in1_stride3, b_step = p->in2_stride3;            \
        int32_t i;                                                                               \
        for (i = 0; i < n; ++i) {                                                                \
            const TIN x = *a, y = *b;                                                            \
            out[i] = (EXPR);                                                                     \
            a += a_step;                                                                         \
            b += b_step;                                                                         \
        }                                                                                        \
    }

/* The three outer broadcast loops around RUN. */
#define MG_BROADCAST_OFFSET(p, k, i0, i1, i2)                                                          \
    ((size_t)(i0) * (size_t)(p)->in##k##_stride0 + (size_t)(i1) * (size_t)(p)->in##k##_stride1 + \
     (size_t)(i2) * (size_t)(p)->in##k##_stride2)

#define MG_BROADCAST_LOOP_NEST(p, TIN, input1, input2, output, RUN)                                    \
    do {                                                                                       \
        int32_t i0, i1, i2;                                                                    \
        for (i0 = 0; i0 < (p)->size0; ++i0) {                                                  \
            for (i1 = 0; i1 < (p)->size1; ++i1) {                                              \
                for (i2 = 0; i2 < (p)->size2; ++i2) {                                          \
                    const TIN *a_ = (input1) + MG_BROADCAST_OFFSET(p, 1, i0, i1, i2);                 \
                    const TIN *b_ = (input2) + MG_BROADCAST_OFFSET(p, 2, i0, i1, i2);                 \
                    RUN((p), a_, b_, (output));                                                \
                    (output) += (p)->size3;                                                    \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    } while (0)

/* The public kernel: void NAME(params, input1, input2, output), the loop nest around RUN. */
#define MG_BROADCAST_DEFINE_KERNEL(NAME, PTYPE, T, RUN)                                              \
    void NAME(const PTYPE *p, const T *MG_RESTRICT input1, const T *MG_RESTRICT input2,            \
              T *MG_RESTRICT output) {                                                             \
        MG_BROADCAST_LOOP_NEST(p, T, input1, input2, output, RUN);                                 \
    }

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
