"""SVDF: a rank-decomposed fully connected layer over a window of the last `memory_size` inputs.

The state (variable tensor, [batch, filters * memory]) holds each filter's last memory_size
feature values. Per invoke, following TFLM:
    state <<= 1 (whole buffer shifted one element left)
    state[b, f, memory - 1] = weights_feature[f] . input[b]                      (feature matmul)
    output[b, u] = act(bias[u] + sum_{r < rank} weights_time[f] . state[b, f])    f = u * rank + r

int8 (TFLM): weights_feature int8; weights_time and state both int16, or both int8. The feature
value is requantized to the state's scale and saturated to the state type, then the state zero point
is added without saturating again (so an int8 state wraps). The output is requantized to int8 and
saturated; the fused activation is NOT applied on the integer path (TFLM ignores it). TFLM computes
both effective scales in float32 before widening them to double; so does this module.
"""
from __future__ import annotations

import numpy as np

from .. import quant
from .base import KernelCall, float_array, int32_array, require, require_dtypes, tensors, wrap_int32

OPCODES = ("SVDF",)

# Float fused activations, as codes for the kernel.
FLOAT_ACTIVATIONS = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3, "TANH": 4, "SIGN_BIT": 5}


def _effective_scale(a: float, b: float, c: float) -> float:
    """TFLM: static_cast<double>(a * b / c) with float operands: float32 arithmetic."""
    return float(np.float32(np.float32(np.float32(a) * np.float32(b)) / np.float32(c)))


def lower(op, graph) -> KernelCall:
    ins, outs = tensors(op, graph)
    require(len(ins) == 5, f"expected 5 inputs, got {len(ins)}")
    require(len(outs) == 1, f"expected 1 output, got {len(outs)}")
    x, wf, wt, bias, state = ins
    (y,) = outs
    require(x is not None and wf is not None and wt is not None, "input and weights are required")
    require(state is not None and state.is_variable and not state.is_constant, "the state must be a variable tensor")
    require(wf.is_constant and wt.is_constant, "weights must be constant")
    require(bias is None or bias.is_constant, "bias must be constant")
    rank = int(op.options.get("rank", 0))
    require(rank > 0, f"rank must be positive, got {rank}")

    require(len(x.shape) == 2, f"input must be 2-D, got shape {list(x.shape)}")
    batches, in_size = x.shape
    require(len(wf.shape) == 2 and wf.shape[1] == in_size,
            f"weights_feature shape {list(wf.shape)} does not match input size {in_size}")
    filters = wf.shape[0]
    require(filters % rank == 0, f"{filters} filters are not a multiple of rank {rank}")
    units = filters // rank
    require(len(wt.shape) == 2 and wt.shape[0] == filters,
            f"weights_time shape {list(wt.shape)} does not match {filters} filters")
    memory = wt.shape[1]
    require(memory > 0, "memory size must be positive")
    require(bias is None or bias.size == units, f"bias has {bias.size if bias is not None else 0} values for {units} units")
    require(state.shape == (batches, filters * memory),
            f"state shape {list(state.shape)}, expected {[batches, filters * memory]}")
    require(y.shape == (batches, units), f"output shape {list(y.shape)}, expected {[batches, units]}")

    dims = dict(batches=batches, input_size=in_size, filters=filters, memory_size=memory, units=units, rank=rank)
    macs = batches * filters * (in_size + memory)
    activation = op.options.get("fused_activation_function", "NONE")

    if x.dtype == "float32":
        require_dtypes([wf, wt, bias, state, y], ("float32",))
        require(activation in FLOAT_ACTIVATIONS, f"fused activation {activation} is not supported")
        b = bias.data if bias is not None else np.zeros(units, np.float32)
        return KernelCall(
            "mg_svdf_f32", "mg_svdf", "mg_svdf_f32_params", dict(dims, activation=FLOAT_ACTIVATIONS[activation]),
            [op.inputs[0], op.inputs[1], op.inputs[2], float_array(b), op.inputs[4], op.outputs[0]], macs=macs)

    require_dtypes([x, wf, y], ("int8",))
    require(wt.dtype in ("int16", "int8"), f"weights_time '{wt.name}' has dtype {wt.dtype}; supported: int16, int8")
    require(state.dtype == wt.dtype, f"the state dtype ({state.dtype}) must be the weights_time dtype ({wt.dtype})")
    # TFLM's int8 kernel reads the bias scale unconditionally: it cannot run without a bias.
    require(bias is not None, "int8 SVDF needs a bias")
    require_dtypes([bias], ("int32",), "bias")
    require(all(t.quant is not None for t in (x, wf, wt, state, y)), "int8 SVDF tensors need quantization parameters")
    require(not wf.quant.per_channel and not wt.quant.per_channel, "per-channel SVDF weights are not supported")
    lo, hi = (quant.INT16_MIN, quant.INT16_MAX) if state.dtype == "int16" else (quant.INT8_MIN, quant.INT8_MAX)
    require(lo <= state.zero_point <= hi, f"state zero point {state.zero_point} is outside the {state.dtype} range")

    m1, s1 = quant.quantize_multiplier(_effective_scale(x.scale, wf.scale, state.scale))
    m2, s2 = quant.quantize_multiplier(_effective_scale(state.scale, wt.scale, y.scale))
    # The zero point terms of both dot products are folded into per-filter constants (int32 wrap-around
    # is the reference's, so the fold is exact).
    feature_fold = -x.zero_point * wf.data.astype(np.int64).sum(axis=1)
    time_fold = -state.zero_point * wt.data.astype(np.int64).sum(axis=1)
    suffix = "s8_s16" if state.dtype == "int16" else "s8_s8"
    return KernelCall(
        f"mg_svdf_{suffix}", "mg_svdf", "mg_svdf_s8_params",
        dict(dims, feature_multiplier=m1, feature_shift=s1, output_multiplier=m2, output_shift=s2,
             state_offset=state.zero_point, output_offset=y.zero_point),
        [op.inputs[0], op.inputs[1], int32_array(wrap_int32(feature_fold)), op.inputs[2],
         int32_array(wrap_int32(time_fold)), op.inputs[3], op.inputs[4], op.outputs[0]], macs=macs)
