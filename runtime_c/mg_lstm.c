#include "mg_lstm.h"

#include <math.h>

#define MG_LSTM_GATES 4

MG_INLINE int32_t mg_lstm_sat16(int32_t x) { return mg_clamp_i32(x, -32768, 32767); }

/* TFLite's int16 sigmoid of a Q3.12 value into Q0.15. The input is scaled by 3 so that the table's
 * 1/24 steps (9 fraction bits) span [-10.7, 10.7]; negative inputs use sigmoid(-x) = 1 - sigmoid(x). */
static int32_t mg_lstm_sigmoid_s16(int32_t x, const uint16_t *MG_RESTRICT table) {
    const int32_t v = x * 3;
    const uint32_t a = (uint32_t)(v < 0 ? -v : v);
    const uint32_t uh = a >> 9;
    uint32_t r;
    if (uh >= 255u) {
        r = (uint32_t)0x7FFF << 10;
    } else {
        const uint32_t ua = table[uh];
        const uint32_t ub = table[uh + 1u];
        r = (ua << 9) + (a & 0x1FFu) * (ub - ua);
    }
    r = v >= 0 ? r + (1u << 9) : (1u << 25) - r + (1u << 9) - 1u;
    return (int32_t)(r >> 10);
}

/* TFLite's int16 tanh into Q0.15 through the same table, tanh(x) = 2 sigmoid(2x) - 1 (8 fraction bits
 * of the index instead of 9 gives the factor 2). multiplier and shift bring the input to that format. */
static int32_t mg_lstm_tanh_s16(int32_t x, int32_t multiplier, int32_t shift, const uint16_t *MG_RESTRICT table) {
    const int32_t round = shift > 0 ? (int32_t)1 << (shift - 1) : 0;
    const int32_t v = (x * multiplier + round) >> shift;
    const uint32_t a = (uint32_t)(v < 0 ? -v : v);
    const uint32_t uh = a >> 8;
    int32_t r;
    if (uh >= 255u) {
        r = (int32_t)0xFFFF << 8;
    } else {
        const uint32_t ua = table[uh];
        const uint32_t ub = table[uh + 1u];
        r = (int32_t)((ua << 8) + (a & 0xFFu) * (ub - ua));
    }
    r = v >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
    return r >> 8;
}

/* sum(a * w) + bias with int32 wrap-around, as the reference's int32 accumulator. */
MG_INLINE int32_t mg_lstm_dot_s8(const int8_t *MG_RESTRICT a, const int8_t *MG_RESTRICT w, int32_t n, int32_t bias) {
    int32_t acc = 0;
    int32_t k;
    for (k = 0; k < n; ++k) {
        acc += (int32_t)a[k] * (int32_t)w[k];
    }
    return (int32_t)((uint32_t)acc + (uint32_t)bias);
}

void mg_lstm_s8(const mg_lstm_s8_params *p, const int8_t *MG_RESTRICT input,
                const int8_t *MG_RESTRICT input_weights, const int32_t *MG_RESTRICT input_bias,
                const int8_t *MG_RESTRICT recurrent_weights, const int32_t *MG_RESTRICT recurrent_bias,
                int8_t *MG_RESTRICT hidden_state, int16_t *MG_RESTRICT cell_state, int8_t *MG_RESTRICT output) {
    const int32_t n_in = p->input_size;
    const int32_t n_state = p->state_size;
    const uint16_t *table = p->sigmoid_table;
    int32_t b, t, n, g;
    /* Batches are independent, so batch-major and time-major inputs only differ in strides. */
    for (b = 0; b < p->batches; ++b) {
        int8_t *h = hidden_state + (size_t)b * n_state;
        int16_t *c = cell_state + (size_t)b * n_state;
        for (t = 0; t < p->time_steps; ++t) {
            const int8_t *x = input + (size_t)b * p->input_batch_stride + (size_t)t * p->input_time_stride;
            int8_t *y = output + (size_t)b * p->output_batch_stride + (size_t)t * p->output_time_stride;
            /* The new hidden state goes to the output row first: every unit still needs the old h. */
            for (n = 0; n < n_state; ++n) {
                int32_t gate[MG_LSTM_GATES];
                int32_t forget_cell, input_cell, cell, hidden;
                for (g = 0; g < MG_LSTM_GATES; ++g) {
                    const size_t row = (size_t)n * MG_LSTM_GATES + (size_t)g;
                    /* Each half is requantized to int16 and saturated on its own, as TFLM's two FCs. */
                    const int32_t from_input = mg_lstm_sat16(mg_multiply_by_quantized_multiplier(
                        mg_lstm_dot_s8(x, input_weights + row * n_in, n_in, input_bias[row]),
                        p->gate_multiplier[g], p->gate_shift[g]));
                    const int32_t from_hidden = mg_lstm_sat16(mg_multiply_by_quantized_multiplier(
                        mg_lstm_dot_s8(h, recurrent_weights + row * n_state, n_state, recurrent_bias[row]),
                        p->gate_multiplier[MG_LSTM_GATES + g], p->gate_shift[MG_LSTM_GATES + g]));
                    gate[g] = mg_lstm_sat16(from_input + from_hidden);
                }
                gate[0] = mg_lstm_sigmoid_s16(gate[0], table);
                gate[1] = mg_lstm_sigmoid_s16(gate[1], table);
                gate[2] = mg_lstm_tanh_s16(gate[2], 3, 0, table); /* Q3.12 needs no rescaling */
                gate[3] = mg_lstm_sigmoid_s16(gate[3], table);

                forget_cell = mg_lstm_sat16(mg_multiply_by_quantized_multiplier(
                    gate[1] * (int32_t)c[n], p->forget_multiplier, p->forget_shift));
                input_cell = mg_lstm_sat16(mg_multiply_by_quantized_multiplier(
                    gate[0] * gate[2], p->input_multiplier, p->input_shift));
                cell = mg_lstm_sat16(forget_cell + input_cell);
                if (p->use_cell_clip) {
                    cell = mg_clamp_i32(cell, -p->cell_clip, p->cell_clip);
                }
                c[n] = (int16_t)cell;

                hidden = mg_lstm_tanh_s16(cell, p->cell_tanh_multiplier, p->cell_tanh_shift, table);
                hidden = mg_multiply_by_quantized_multiplier(hidden * gate[3], p->hidden_multiplier, p->hidden_shift);
                y[n] = (int8_t)mg_clamp_i32(hidden + p->hidden_offset, -128, 127);
            }
            for (n = 0; n < n_state; ++n) {
                h[n] = y[n];
            }
        }
    }
}

/* TFLite's reference float sigmoid, with its cut-offs. */
static float mg_lstm_sigmoid_f32(float x) {
    if (x > 16.619047164916992188f) {
        return 1.0f;
    }
    if (x < -9.0f) {
        return expf(x);
    }
    return 1.0f / (1.0f + expf(-x));
}

MG_INLINE float mg_lstm_dot_f32(const float *MG_RESTRICT a, const float *MG_RESTRICT w, int32_t n) {
    float acc = 0.0f;
    int32_t k;
    for (k = 0; k < n; ++k) {
        acc += a[k] * w[k];
    }
    return acc;
}

void mg_lstm_f32(const mg_lstm_f32_params *p, const float *MG_RESTRICT input,
                 const float *MG_RESTRICT input_weights, const float *MG_RESTRICT bias,
                 const float *MG_RESTRICT recurrent_weights,
                 float *MG_RESTRICT hidden_state, float *MG_RESTRICT cell_state, float *MG_RESTRICT output) {
    const int32_t n_in = p->input_size;
    const int32_t n_state = p->state_size;
    const float clip = p->cell_clip;
    int32_t b, t, n, g;
    for (b = 0; b < p->batches; ++b) {
        float *h = hidden_state + (size_t)b * n_state;
        float *c = cell_state + (size_t)b * n_state;
        for (t = 0; t < p->time_steps; ++t) {
            const float *x = input + (size_t)b * p->input_batch_stride + (size_t)t * p->input_time_stride;
            float *y = output + (size_t)b * p->output_batch_stride + (size_t)t * p->output_time_stride;
            for (n = 0; n < n_state; ++n) {
                float gate[MG_LSTM_GATES];
                float cell;
                for (g = 0; g < MG_LSTM_GATES; ++g) {
                    const size_t row = (size_t)n * MG_LSTM_GATES + (size_t)g;
                    const float from_input = mg_lstm_dot_f32(x, input_weights + row * n_in, n_in) + bias[row];
                    const float from_hidden = mg_lstm_dot_f32(h, recurrent_weights + row * n_state, n_state) + 0.0f;
                    gate[g] = from_input + from_hidden;
                }
                gate[0] = mg_lstm_sigmoid_f32(gate[0]);
                gate[1] = mg_lstm_sigmoid_f32(gate[1]);
                gate[2] = tanhf(gate[2]);
                gate[3] = mg_lstm_sigmoid_f32(gate[3]);
                cell = gate[1] * c[n] + gate[0] * gate[2];
                if (clip > 0.0f) {
                    cell = mg_clamp_f32(cell, -clip, clip);
                }
                c[n] = cell;
                y[n] = tanhf(cell) * gate[3];
            }
            for (n = 0; n < n_state; ++n) {
                h[n] = y[n];
            }
        }
    }
}
