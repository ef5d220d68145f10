/* ADD kernels with broadcasting and a fused activation. */
#ifndef MG_ADD_H
#define MG_ADD_H

#include "mg_common.h"

typedef struct {
    MG_BROADCAST_FIELDS;
    MG_RESCALE2_FIELDS;
    /* mg_add_s8_table only: table[x + 128] is input x's scaled value, computed at generation time. */
    const int32_t *input1_table;
    const int32_t *input2_table;
} mg_add_s8_params;

/* int16: as int8 with left_shift 15 (TFLM's general int16 path); no tables. */
typedef struct {
    MG_BROADCAST_FIELDS;
    MG_RESCALE2_FIELDS;
} mg_add_s16_params;

typedef struct {
    MG_BROADCAST_FIELDS;
    float act_min;
    float act_max;
} mg_add_f32_params;

/* Both give TFLM's results; the _table variant looks the scaled inputs up instead of computing them. */
void mg_add_s8(const mg_add_s8_params *p, const int8_t *MG_RESTRICT input1, const int8_t *MG_RESTRICT input2,
               int8_t *MG_RESTRICT output);
void mg_add_s8_table(const mg_add_s8_params *p, const int8_t *MG_RESTRICT input1,
                     const int8_t *MG_RESTRICT input2, int8_t *MG_RESTRICT output);
void mg_add_s16(const mg_add_s16_params *p, const int16_t *MG_RESTRICT input1, const int16_t *MG_RESTRICT input2,
                int16_t *MG_RESTRICT output);
void mg_add_f32(const mg_add_f32_params *p, const float *MG_RESTRICT input1, const float *MG_RESTRICT input2,
                float *MG_RESTRICT output);

#endif
