"""FULLY_CONNECTED: output[b, n] = sum_k input[b, k] * weights[n, k] + bias[n], then fused activation.

int8 follows TFLM: acc = sum((x + in_offset) * w) + bias, requantized per output channel with
two-step rounding. The input offset term is folded into the bias here, so the C inner loop is a
plain int8 dot product.

int16 activations with int8 weights (16x8) follow TFLM too. Its accumulator type is the bias type:
an int64 bias (or none, unless the option quantized_bias_type asks for int32) gives an int64 sum
requantized with TFLM's int64 MultiplyByQuantizedMultiplier (a 16-bit multiplier and one rounding
shift); an int32 bias gives a wrapping int32 sum and the usual two-step requantization. TFLM keeps
the input and output zero points here (its 16x8 convolutions do not), so they are handled as for int8.

Multipliers are input scale * weight scale / output scale in double. (TFLM's source computes the
per-tensor product in float32, but the tflite-micro package measurably uses the double product:
scales chosen so the two differ give TFLM's outputs only with the double one.)
"""
from __future__ import annotations

import numpy as np

from .. import quant
from .base import ConstArray, KernelCall, wrap_int32, int32_array, float_array, require, require_dtypes, tensors
from .conv2d import int32_accumulator, int64_requantization

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

    if x.dtype == "int16":
        require_dtypes([y], ("int16",))
        require_dtypes([w], ("int8",), "int16 input needs int8 weights; weights")
        require_dtypes([b], ("int32", "int64"), "bias")
    else:
        require_dtypes([x, w, y], ("int8",))
        require_dtypes([b], ("int32",), "bias")
    require(all(t.quant is not None for t in (x, w, y)), "quantized tensors need quantization parameters")
    require(not w.quant.per_channel or w.quant.scale.size == out_features, "per-channel weights need one scale per output")
    require(np.all(w.quant.zero_point == 0), "weights must be symmetric (zero point 0)")
    # The C requantization relies on non-negative multipliers, i.e. positive scales.
    require(x.scale > 0 and y.scale > 0 and np.all(w.quant.scale > 0), "input, weight and output scales must be positive")
    mults, shifts = zip(*(quant.quantize_multiplier(r) for r in _real_multipliers(x, w, y, out_features)))
    bias = b.data.astype(np.int64) if b is not None else np.zeros(out_features, np.int64)
    folded = bias - x.zero_point * w.data.astype(np.int64).sum(axis=1)
    qmin, qmax = (quant.INT16_MIN, quant.INT16_MAX) if x.dtype == "int16" else (quant.INT8_MIN, quant.INT8_MAX)
    lo, hi = quant.activation_range_quantized(activation, y.scale, y.zero_point, qmin, qmax)
    params = dict(dims, output_offset=y.zero_point, act_min=lo, act_max=hi)
    if x.dtype == "int8":
        return KernelCall(
            "mg_fully_connected_s8", "mg_fully_connected", "mg_fully_connected_s8_params",
            dict(params, multiplier=int32_array(mults), shift=int32_array(shifts)),
            [op.inputs[0], op.inputs[1], int32_array(wrap_int32(folded)), op.outputs[0]], macs=macs)

    if int32_accumulator(b, opts):
        return KernelCall(
            "mg_fully_connected_s16_acc32", "mg_fully_connected", "mg_fully_connected_s16_params",
            dict(params, multiplier=int32_array(mults), shift=int32_array(shifts)),
            [op.inputs[0], op.inputs[1], int32_array(wrap_int32(folded)), op.outputs[0]], macs=macs)
    reduced, total_shifts = int64_requantization(mults, shifts)
    return KernelCall(
        "mg_fully_connected_s16", "mg_fully_connected", "mg_fully_connected_s16_params",
        dict(params, multiplier=int32_array(reduced), shift=int32_array(total_shifts)),
        [op.inputs[0], op.inputs[1], ConstArray("int64_t", folded), op.outputs[0]], macs=macs)


def _real_multipliers(x, w, y, out_features: int) -> list[float]:
    """input scale * weight scale / output scale per output feature, rounded as TFLM does."""
    scales = np.broadcast_to(w.quant.scale.astype(np.float64), (out_features,))
    return [float(np.float64(x.scale) * s / np.float64(y.scale)) for s in scales]
