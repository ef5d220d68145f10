"""UNIDIRECTIONAL_SEQUENCE_LSTM: the standard (Keras) LSTM over a sequence, state kept across invokes.

Per time step, for each unit n, with x the step's input row and h, c the hidden and cell state:
    i, f, o = sigmoid(W_* x + R_* h + b_*),  g = tanh(W_g x + R_g h + b_g)
    c = clip(f * c + i * g),                 h = o * tanh(c),   output[t] = h

This follows TFLM's kernel, which differs from LiteRT's in ways that matter for bit-exactness:
- int8 (int8 activations, int8 weights, int16 cell state, int32 biases): every gate pre-activation is
  an int16 with the fixed scale 2^-12 and every gate output an int16 with scale 2^-15, whatever the
  op's `intermediates` say (TFLM never reads them). Each of the two fully connected parts of a gate
  is requantized and saturated to int16 on its own, then the two are added with saturation.
- The tanh of the cell state needs the cell scale as a power of two; TFLM rounds log2(scale).
- The hidden state is computed with the hidden state tensor's quantization and copied bytewise to
  the output (TFLM ignores the output's own quantization).
- TFLM supports no peephole, projection, layer norm or CIFG (coupled input gate) variants, and
  only TANH as the activation (the schema has no SIGMOID value). Neither does mcugen. The kernel is
  the same for batch-major and time-major layouts (only strides differ).

Sigmoid and tanh on int16 use TFLite's interpolated 256-entry sigmoid table (quant.sigmoid_table_q16).
The four gates' weights are packed unit by unit ([unit][gate][k]) so one unit's whole update runs
from adjacent rows and needs no scratch buffer: the new hidden state is built in the output row.
"""
from __future__ import annotations

import numpy as np

from .. import quant
from .base import ConstArray, KernelCall, float_array, int32_array, require, require_dtypes, tensors, wrap_int32

OPCODES = ("UNIDIRECTIONAL_SEQUENCE_LSTM",)

# Input positions in the op (TFLite schema order).
INPUT = 0
INPUT_WEIGHTS = (1, 2, 3, 4)  # input, forget, cell, output gates
RECURRENT_WEIGHTS = (5, 6, 7, 8)
PEEPHOLE = (9, 10, 11)
BIASES = (12, 13, 14, 15)
PROJECTION = (16, 17)
HIDDEN_STATE, CELL_STATE = 18, 19
LAYER_NORM = (20, 21, 22, 23)

GATE_PREACT_SCALE = 2.0 ** -12  # TFLM: int16 Q3.12 input of the gate nonlinearities
GATE_OUTPUT_SCALE = 2.0 ** -15  # TFLM: int16 Q0.15 output of the gate nonlinearities


def _checked_log2(scale: float) -> int:
    """TFLM CheckedLog2: log(x) * (1 / log(2)) in float32, rounded half away from zero; TFLM ignores
    whether x was a power of two at all."""
    log2 = np.float32(np.log(np.float32(scale))) * (np.float32(1.0) / np.float32(np.log(np.float32(2.0))))
    return quant.round_half_away(float(np.float32(log2)))


def _tanh_rescale(scale_power: int) -> tuple[int, int]:
    """(multiplier, right shift) that TFLM's int16 tanh applies to an input with scale 2^scale_power."""
    left = 15 + scale_power - 3
    if left >= 0:
        return 3 << left, 0  # TFLM's power-of-two case folds the shift into the multiplier
    return 3, -left


def _fc_multiplier(in_scale: float, w_scale: float) -> tuple[int, int]:
    """TFLM GetQuantizedConvolutionMultipler into the int16 gate pre-activation: float32 product, then double."""
    product = float(np.float32(np.float32(in_scale) * np.float32(w_scale)))
    return quant.quantize_multiplier(product / float(np.float32(GATE_PREACT_SCALE)))


def _mul_multiplier(scale1: float, scale2: float, out_scale: float) -> tuple[int, int]:
    """TFLM CreateInterGateMulParams: double product of the float scales over the output scale."""
    real = float(np.float32(scale1)) * float(np.float32(scale2)) / float(np.float32(out_scale))
    return quant.quantize_multiplier(real)


def _packed(ws: list, dtype) -> np.ndarray:
    """[gate][unit][k] weights -> [unit][gate][k], contiguous."""
    return np.ascontiguousarray(np.stack([w.data for w in ws], axis=1).astype(dtype))


def lower(op, graph) -> KernelCall:
    ins, outs = tensors(op, graph)
    require(len(ins) in (20, 24), f"expected 24 inputs (or 20, without layer norm), got {len(ins)}")
    require(len(outs) == 1, f"expected 1 output, got {len(outs)}")
    ins = ins + [None] * (24 - len(ins))
    x, y = ins[INPUT], outs[0]
    h, c = ins[HIDDEN_STATE], ins[CELL_STATE]
    require(x is not None, "the input is missing")
    require(ins[INPUT_WEIGHTS[0]] is not None and ins[RECURRENT_WEIGHTS[0]] is not None,
            "CIFG (no input gate) is not supported")
    require(all(ins[i] is None for i in PEEPHOLE), "peephole connections are not supported")
    require(all(ins[i] is None for i in PROJECTION), "projection is not supported")
    require(all(ins[i] is None for i in LAYER_NORM), "layer normalization is not supported")
    require(all(ins[i] is not None for i in INPUT_WEIGHTS + RECURRENT_WEIGHTS), "all gate weights are needed")
    require(all(ins[i] is not None for i in BIASES), "all gate biases are needed")
    for i in INPUT_WEIGHTS + RECURRENT_WEIGHTS + BIASES:
        require(ins[i].is_constant, f"'{ins[i].name}' must be constant")
    for s, what in ((h, "hidden"), (c, "cell")):
        require(s is not None and s.is_variable and not s.is_constant, f"the {what} state must be a variable tensor")

    opts = op.options
    activation = opts.get("fused_activation_function", "TANH")
    require(activation == "TANH", f"cell activation {activation} is not supported (TFLM runs TANH only)")
    time_major = bool(opts.get("time_major", False))
    cell_clip = float(opts.get("cell_clip", 0.0))  # TFLM clips only when it is > 0

    require(len(x.shape) == 3, f"input must be 3-D, got shape {list(x.shape)}")
    time_steps, batches, in_size = x.shape if time_major else (x.shape[1], x.shape[0], x.shape[2])
    w_in = [ins[i] for i in INPUT_WEIGHTS]
    w_rec = [ins[i] for i in RECURRENT_WEIGHTS]
    biases = [ins[i] for i in BIASES]
    require(len(w_in[0].shape) == 2, f"input weights must be 2-D, got shape {list(w_in[0].shape)}")
    units = w_in[0].shape[0]
    for w in w_in:
        require(w.shape == (units, in_size), f"'{w.name}' has shape {list(w.shape)}, expected {[units, in_size]}")
    for w in w_rec:
        require(w.shape == (units, units), f"'{w.name}' has shape {list(w.shape)}, expected {[units, units]}")
    for b in biases:
        require(b.shape == (units,), f"bias '{b.name}' has shape {list(b.shape)}, expected {[units]}")
    require(h.size == batches * units and c.size == batches * units,
            f"state tensors need {batches}x{units} values, have {h.size} and {c.size}")
    expected = (x.shape[0], x.shape[1], units)
    require(y.shape == expected, f"output shape {list(y.shape)} does not match {list(expected)}")

    if time_major:
        strides = dict(input_batch_stride=in_size, input_time_stride=batches * in_size,
                       output_batch_stride=units, output_time_stride=batches * units)
    else:
        strides = dict(input_batch_stride=time_steps * in_size, input_time_stride=in_size,
                       output_batch_stride=time_steps * units, output_time_stride=units)
    dims = dict(batches=batches, time_steps=time_steps, input_size=in_size, state_size=units, **strides)
    macs = batches * time_steps * 4 * units * (in_size + units)
    state_args = [op.inputs[HIDDEN_STATE], op.inputs[CELL_STATE], op.outputs[0]]

    if x.dtype == "float32":
        require_dtypes([y, h, c] + w_in + w_rec + biases, ("float32",))
        bias = np.stack([b.data for b in biases], axis=1).astype(np.float32)  # [unit][gate]
        return KernelCall(
            "mg_lstm_f32", "mg_lstm", "mg_lstm_f32_params", dict(dims, cell_clip=max(cell_clip, 0.0)),
            [op.inputs[INPUT], ConstArray("float", _packed(w_in, np.float32)), float_array(bias.reshape(-1)),
             ConstArray("float", _packed(w_rec, np.float32))] + state_args, macs=macs)

    require_dtypes([x, y, h], ("int8",), "activation")
    require_dtypes([c], ("int16",), "cell state")
    require_dtypes(w_in + w_rec, ("int8",), "weights")
    require_dtypes(biases, ("int32",), "bias")
    require(all(t.quant is not None for t in [x, h, c] + w_in + w_rec),
            "int8 LSTM tensors need quantization parameters")
    for w in w_in + w_rec:
        require(not w.quant.per_channel, f"weights '{w.name}' are per-channel; TFLM's LSTM needs per-tensor weights")
        require(w.zero_point == 0, f"weights '{w.name}' must be symmetric (zero point 0)")
    require(c.zero_point == 0, "the cell state must be symmetric (zero point 0)")
    require(c.scale > 0 and h.scale > 0 and x.scale > 0, "zero quantization scale")

    fc = [_fc_multiplier(x.scale, w.scale) for w in w_in] + [_fc_multiplier(h.scale, w.scale) for w in w_rec]
    forget_m, forget_s = _mul_multiplier(GATE_OUTPUT_SCALE, c.scale, c.scale)
    input_m, input_s = _mul_multiplier(GATE_OUTPUT_SCALE, GATE_OUTPUT_SCALE, c.scale)
    hidden_m, hidden_s = _mul_multiplier(GATE_OUTPUT_SCALE, GATE_OUTPUT_SCALE, h.scale)
    cell_power = _checked_log2(c.scale)
    tanh_m, tanh_s = _tanh_rescale(cell_power)
    require(tanh_m * 32768 < 2**31 and tanh_s < 32, f"cell state scale {c.scale} is out of range for TFLM's int16 tanh")
    clip = 0
    if cell_clip > 0:
        # TFLM: static_cast<int16_t> of the clamped double quotient, which truncates toward zero.
        clip = int(min(max(float(np.float32(cell_clip)) / float(np.float32(c.scale)), -32768.0), 32767.0))

    # TFLM: acc = sum w * (x - zero_point) + bias; the zero point terms are folded into the biases.
    bias_in = np.stack([b.data.astype(np.int64) - x.zero_point * w.data.astype(np.int64).sum(axis=1)
                        for b, w in zip(biases, w_in)], axis=1)
    bias_rec = np.stack([-h.zero_point * w.data.astype(np.int64).sum(axis=1) for w in w_rec], axis=1)
    params = dict(dims,
                  gate_multiplier=int32_array([m for m, _ in fc]), gate_shift=int32_array([s for _, s in fc]),
                  forget_multiplier=forget_m, forget_shift=forget_s, input_multiplier=input_m, input_shift=input_s,
                  hidden_multiplier=hidden_m, hidden_shift=hidden_s, hidden_offset=h.zero_point,
                  use_cell_clip=int(cell_clip > 0), cell_clip=clip, cell_tanh_multiplier=tanh_m, cell_tanh_shift=tanh_s,
                  sigmoid_table=ConstArray("uint16_t", quant.sigmoid_table_q16()))
    return KernelCall(
        "mg_lstm_s8", "mg_lstm", "mg_lstm_s8_params", params,
        [op.inputs[INPUT], ConstArray("int8_t", _packed(w_in, np.int8)), int32_array(wrap_int32(bias_in.reshape(-1))),
         ConstArray("int8_t", _packed(w_rec, np.int8)), int32_array(wrap_int32(bias_rec.reshape(-1)))] + state_args,
        macs=macs)

