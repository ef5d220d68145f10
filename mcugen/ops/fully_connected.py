"""FULLY_CONNECTED: output[b, n] = sum_k input[b, k] * weights[n, k] + bias[n], then fused activation.

int8 follows TFLM: acc = sum((x + in_offset) * w) + bias, requantized per output channel with
two-step rounding. The input offset term is folded into the bias here, so the C inner loop is a
plain int8 dot product.
"""
from __future__ import annotations

import numpy as np

from .. import quant
from .base import KernelCall, wrap_int32, int32_array, float_array, require, require_dtypes, tensors

OPCODES = ("FULLY_CONNECTED",)


def lower(op, graph) -> KernelCall:
    from . import hybrid  # float32 input with int8 weights: LiteRT's hybrid kernels
    if hybrid.is_hybrid(op, graph):
        return hybrid.lower_fully_connected(op, graph)
    (x, w, b, *_), (y,) = tensors(op, graph)
    opts = op.options
    activation = opts.get("fused_activation_function", "NONE")
    require(activation in quant.SUPPORTED_ACTIVATIONS, f"fused activation {activation} is not supported")
    require(opts.get("weights_format", "DEFAULT") == "DEFAULT", "shuffled weights format is not supported")
    require(w.is_constant, "weights must be constant")
    require(b is None or b.is_constant, "bias must be constant")
    require(b is None or b.size == w.shape[0], f"bias has {b.size if b is not None else 0} values for {w.shape[0]} outputs")
    require(len(w.shape) == 2, f"weights must be 2-D, got shape {list(w.shape)}")
    out_features, in_features = w.shape
    require(x.size % in_features == 0, f"input size {x.size} is not a multiple of {in_features} features")
    batches = x.size // in_features
    require(y.size == batches * out_features, f"output shape {list(y.shape)} does not match {batches}x{out_features}")
    macs = batches * in_features * out_features
    dims = dict(batches=batches, in_features=in_features, out_features=out_features)

    if x.dtype == "float32":
        require_dtypes([w, b, y], ("float32",))
        lo, hi = quant.activation_range_float(activation)
        bias = b.data if b is not None else np.zeros(out_features, np.float32)
        return KernelCall(
            "mg_fully_connected_f32", "mg_fully_connected", "mg_fully_connected_f32_params",
            dict(dims, act_min=lo, act_max=hi),
            [op.inputs[0], op.inputs[1], float_array(bias), op.outputs[0]], macs=macs)

    require_dtypes([x, w, y], ("int8",))
    require(all(t.quant is not None for t in (x, w, y)), "int8 tensors need quantization parameters")
    require_dtypes([b], ("int32",), "bias")
    require(not w.quant.per_channel or w.quant.scale.size == out_features, "per-channel weights need one scale per output")
    require(np.all(w.quant.zero_point == 0), "weights must be symmetric (zero point 0)")
    w_scales = np.broadcast_to(w.quant.scale.astype(np.float64), (out_features,))
    mults, shifts = zip(*(quant.quantize_multiplier(float(np.float64(x.scale) * s / np.float64(y.scale))) for s in w_scales))
    bias = b.data.astype(np.int64) if b is not None else np.zeros(out_features, np.int64)
    folded = bias - x.zero_point * w.data.astype(np.int64).sum(axis=1)
    lo, hi = quant.activation_range_quantized(activation, y.scale, y.zero_point)
    return KernelCall(
        "mg_fully_connected_s8", "mg_fully_connected", "mg_fully_connected_s8_params",
        dict(dims, output_offset=y.zero_point, act_min=lo, act_max=hi,
             multiplier=int32_array(mults), shift=int32_array(shifts)),
        [op.inputs[0], op.inputs[1], int32_array(wrap_int32(folded)), op.outputs[0]], macs=macs)
