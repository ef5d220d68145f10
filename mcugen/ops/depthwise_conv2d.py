"""DEPTHWISE_CONV_2D: NHWC input, filter [1, kh, kw, in_c * depth_multiplier], optional bias.

Output channel c = in_channel * depth_multiplier + m reads input channel c // depth_multiplier.
int8 follows TFLM's DepthwiseConvPerChannel with the same bias folding as CONV_2D (see conv2d.py):
taps in the padding read the input zero point, so one folded bias serves every output pixel.
int16 activations with int8 filters follow TFLM's int16 DepthwiseConvPerChannel, which always reads
an int64 bias and accumulates in int64 (see conv2d.py for its requantization and zero points).
"""
from __future__ import annotations

import numpy as np

from .. import quant
from .base import KernelCall, float_array, int32_array, require, tensors, wrap_int32
from .conv2d import activation, check_float, float_bias, int16_params, quantized_params, window_params

OPCODES = ("DEPTHWISE_CONV_2D",)


def lower(op, graph) -> KernelCall:
    from . import hybrid  # float32 input with int8 weights: LiteRT's hybrid kernels
    if hybrid.is_hybrid(op, graph):
        return hybrid.lower_depthwise_conv2d(op, graph)
    ins, (y,) = tensors(op, graph)
    require(len(ins) in (2, 3), f"expected 2 or 3 inputs, got {len(ins)}")
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) == 3 else None
    opts = op.options
    act = activation(opts)
    require(w.is_constant, f"filter '{w.name}' must be constant")
    require(b is None or b.is_constant, f"bias '{b.name if b else ''}' must be constant")
    require(len(w.shape) == 4 and w.shape[0] == 1,
            f"filter '{w.name}' must be [1, h, w, channels], got {list(w.shape)}")
    _, filter_h, filter_w, out_c = w.shape
    dims = window_params(opts, x, y, filter_h, filter_w)
    in_c = dims["in_c"]
    require(in_c > 0 and out_c % in_c == 0,
            f"filter '{w.name}' has {out_c} channels, not a multiple of the input's {in_c}")
    multiplier = out_c // in_c
    option = int(opts.get("depth_multiplier", multiplier) or multiplier)
    require(option == multiplier,
            f"depth_multiplier {option} does not match the shapes ({in_c} input channels, {out_c} filter channels)")
    require(dims["out_c"] == out_c, f"output '{y.name}' has {dims['out_c']} channels, the filter has {out_c}")
    dims["depth_multiplier"] = multiplier
    macs = dims["batches"] * dims["out_h"] * dims["out_w"] * out_c * filter_h * filter_w

    if x.dtype == "float32":
        check_float(x, w, b, y)
        lo, hi = quant.activation_range_float(act)
        return KernelCall(
            "mg_depthwise_conv2d_f32", "mg_depthwise_conv2d", "mg_depthwise_conv2d_f32_params",
            dict(dims, act_min=lo, act_max=hi),
            [op.inputs[0], op.inputs[1], float_array(float_bias(b, out_c)), op.outputs[0]], macs=macs)

    if x.dtype == "int16":
        # TFLM reads an int32 bias through an int64 pointer here, so it only takes int64.
        params, bias_arg, _ = int16_params(x, w, b, y, out_c, act, opts, int32_bias=False)
        return KernelCall(
            "mg_depthwise_conv2d_s16", "mg_depthwise_conv2d", "mg_depthwise_conv2d_s16_params",
            dict(dims, **params), [op.inputs[0], op.inputs[1], bias_arg, op.outputs[0]], macs=macs)

    qparams, bias = quantized_params(x, w, b, y, out_c, act)
    folded = bias - x.zero_point * w.data.astype(np.int64).reshape(-1, out_c).sum(axis=0)
    return KernelCall(
        "mg_depthwise_conv2d_s8", "mg_depthwise_conv2d", "mg_depthwise_conv2d_s8_params", dict(dims, **qparams),
        [op.inputs[0], op.inputs[1], int32_array(wrap_int32(folded)), op.outputs[0]], macs=macs)
