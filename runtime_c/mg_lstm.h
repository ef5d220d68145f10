/* UNIDIRECTIONAL_SEQUENCE_LSTM kernels (TFLM semantics). The hidden and cell states are variable
 * tensors in the arena: they persist across invokes and are cleared by the model's reset. */
#ifndef MG_LSTM_H
#define MG_LSTM_H

#include "mg_common.h"

/* Gate order everywhere: input, forget, cell, output. Weights are packed [unit][gate][k]. */
typedef struct {
    int32_t batches;
    int32_t time_steps;
    int32_t input_size;
    int32_t state_size;
    int32_t input_batch_stride;  /* elements between batches / time steps of the input and output */
    int32_t input_time_stride;
    int32_t output_batch_stride;
    int32_t output_time_stride;
    const int32_t *gate_multiplier; /* [8]: input parts of the 4 gates, then recurrent parts */
    const int32_t *gate_shift;      /* [8] */
    int32_t forget_multiplier;   /* forget gate x cell -> cell */
    int32_t forget_shift;
    int32_t input_multiplier;    /* input gate x cell gate -> cell */
    int32_t input_shift;
    int32_t hidden_multiplier;   /* output gate x tanh(cell) -> hidden */
    int32_t hidden_shift;
    int32_t hidden_offset;       /* hidden state zero point */
    int32_t use_cell_clip;
    int32_t cell_clip;           /* quantized: the cell state is clamped to [-cell_clip, cell_clip] */
    int32_t cell_tanh_multiplier; /* rescales the cell state into tanh's input format */
    int32_t cell_tanh_shift;
    const uint16_t *sigmoid_table; /* [256] */
} mg_lstm_s8_params;

typedef struct {
    int32_t batches;
    int32_t time_steps;
    int32_t input_size;
    int32_t state_size;
    int32_t input_batch_stride;
    int32_t input_time_stride;
    int32_t output_batch_stride;
    int32_t output_time_stride;
    float cell_clip; /* 0: no clipping */
} mg_lstm_f32_params;

/* input_bias: [unit][gate] bias - input_zero_point * row sums; recurrent_bias: -hidden_zero_point * row sums. */
void mg_lstm_s8(const mg_lstm_s8_params *p, const int8_t *MG_RESTRICT input,
                const int8_t *MG_RESTRICT input_weights, const int32_t *MG_RESTRICT input_bias,
                const int8_t *MG_RESTRICT recurrent_weights, const int32_t *MG_RESTRICT recurrent_bias,
                int8_t *MG_RESTRICT hidden_state, int16_t *MG_RESTRICT cell_state, int8_t *MG_RESTRICT output);

/* bias: [unit][gate]. */
void mg_lstm_f32(const mg_lstm_f32_params *p, const float *MG_RESTRICT input,
                 const float *MG_RESTRICT input_weights, const float *MG_RESTRICT bias,
                 const float *MG_RESTRICT recurrent_weights,
                 float *MG_RESTRICT hidden_state, float *MG_RESTRICT cell_state, float *MG_RESTRICT output);

#endif
