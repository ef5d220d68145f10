/* QUANTIZE kernels: float32 -> int8/int16 and int8/int16 -> int8/int16 requantization. */
#ifndef MG_QUANTIZE_H
#define MG_QUANTIZE_H

#include "mg_common.h"

typedef struct {
    int32_t size;
    float scale; /* output scale: q = round(x / scale) + zero_point */
    int32_t zero_point;
    int32_t qmin;
    int32_t qmax;
} mg_quantize_f32_params;

typedef struct {
    int32_t size;
    int32_t input_offset; /* -input zero point */
    int32_t multiplier;   /* input scale / output scale */
    int32_t shift;
    int32_t output_offset;
    int32_t qmin;
    int32_t qmax;
} mg_requantize_params;

/* int8 input with the 256 results precomputed: output = table[input + 128]. */
typedef struct {
    int32_t size;
    const int8_t *table;
} mg_requantize_s8_table_params;

typedef struct {
    int32_t size;
    const int16_t *table;
} mg_requantize_s16_table_params;

void mg_quantize_f32_s8(const mg_quantize_f32_params *p, const float *MG_RESTRICT input, int8_t *MG_RESTRICT output);
void mg_quantize_f32_s16(const mg_quantize_f32_params *p, const float *MG_RESTRICT input, int16_t *MG_RESTRICT output);
void mg_requantize_s8_s8(const mg_requantize_params *p, const int8_t *MG_RESTRICT input, int8_t *MG_RESTRICT output);
void mg_requantize_s8_s16(const mg_requantize_params *p, const int8_t *MG_RESTRICT input, int16_t *MG_RESTRICT output);
void mg_requantize_s16_s8(const mg_requantize_params *p, const int16_t *MG_RESTRICT input, int8_t *MG_RESTRICT output);
void mg_requantize_s16_s16(const mg_requantize_params *p, const int16_t *MG_RESTRICT input,
                           int16_t *MG_RESTRICT output);
void mg_requantize_s8_s8_table(const mg_requantize_s8_table_params *p, const int8_t *MG_RESTRICT input,
                               int8_t *MG_RESTRICT output);
void mg_requantize_s8_s16_table(const mg_requantize_s16_table_params *p, const int8_t *MG_RESTRICT input,
                                int16_t *MG_RESTRICT output);

#endif
