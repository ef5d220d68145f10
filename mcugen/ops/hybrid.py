"""Hybrid CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED: float32 activations with int8 weights.

TFLM refuses these models; this follows LiteRT's hybrid kernels (the oracle for them):
- each batch of the float input is quantized to int8 at run time, over the whole batch row/image:
  symmetric (scale = max|x| / 127, zero point 0) or asymmetric (range [min(x,0), max(x,0)] onto
  [-128, 127] with a zero point), see runtime_c/mg_hybrid.c;
- int8 x int8 dot products accumulate (q - zero_point) * w in int32; padding taps add nothing;
- the int32 sum becomes float through input_scale * weight_scale[channel], then the float bias is
  added and the fused activation clamps.
Which quantization and which order of the two scale multiplications LiteRT uses depends on the op:
  FULLY_CONNECTED     asymmetric iff the option asymmetric_quantize_inputs; acc * (w_scale * in_scale)
  CONV_2D             per-tensor weights (or per-channel scales that are all equal): symmetric,
                      acc * (w_scale * in_scale); per-channel: asymmetric, (acc * w_scale) * in_scale
  DEPTHWISE_CONV_2D   always asymmetric, acc * (w_scale * in_scale)
With these, mcugen's results equal LiteRT's bit for bit in the tests (tests/test_hybrid.py). One
known difference: LiteRT's x86 build (NEON code through a NEON-to-SSE layer) rounds a product
x / scale of exactly +-0.49999997 to +-1 (it adds 0.5 and truncates); mcugen rounds it to 0 like
std::round and LiteRT's portable and ARMv8 code. And its x86 int8 dot product gets weight -128
times a negative input wrong; converters write hybrid weights in [-127, 127], mcugen is exact.

The weights are passed as the model's own int8 tensor, so they stay int8 in flash. The quantized
input lives in the step's scratch buffer (one batch: the input's per-batch size in bytes).

The op modules conv2d.py, depthwise_conv2d.py and fully_connected.py dispatch here from lower().
"""
from __future__ import annotations

import numpy as np

from .. import quant
from ..ir import Graph, Operator, Tensor
from .base import SCRATCH, KernelCall, float_array, require, require_dtypes, tensors
from .conv2d import activation, window_params

SCALE_COMBINED, SCALE_SEQUENTIAL = 0, 1  # MG_HYBRID_SCALE_* in mg_hybrid.h

# |q - zero_point| <= 255 and |w| <= 128: more terms than this could overflow the int32 sum.
MAX_DEPTH = (2**31 - 1) // (255 * 128)


def is_hybrid(op: Operator, graph: Graph) -> bool:
    """A float32 input with int8 weights (input 1)."""
    if len(op.inputs) < 2 or op.inputs[0] < 0 or op.inputs[1] < 0:
        return False
    return graph.tensor(op.inputs[0]).dtype == "float32" and graph.tensor(op.inputs[1]).dtype == "int8"


def is_hybrid_graph(graph: Graph) -> bool:
    return any(is_hybrid(op, graph) for op in graph.operators
               if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"))


def _weight_scales(w: Tensor, channels: int, axis: int) -> np.ndarray:
    """The weights' scales as one float32 per output channel (a per-tensor scale repeated)."""
    require(w.is_constant, f"weights '{w.name}' must be constant")
    require(w.quant is not None and w.quant.scale.size > 0,
            f"int8 weights '{w.name}' of a float op (hybrid) need a quantization scale")
    wq = w.quant
    require(wq.scale.size in (1, channels),
            f"weights '{w.name}' have {wq.scale.size} scales; expected 1 or one per output channel ({channels})")
    require(wq.scale.size == 1 or wq.axis == axis,
            f"weights '{w.name}' are quantized along dimension {wq.axis}, not the output channels ({axis})")
    require(np.all(wq.zero_point == 0), f"weights '{w.name}' must be symmetric (zero point 0)")
    scales = wq.scale.astype(np.float32)
    require(bool(np.all(np.isfinite(scales))), f"weights '{w.name}' have a non-finite scale")
    return np.ascontiguousarray(np.broadcast_to(scales, (channels,)), dtype=np.float32)


def _bias_arg(op: Operator, b: Tensor | None, channels: int):
    """The float bias: the model's own tensor when there is one, else zeros."""
    if b is None:
        return float_array(np.zeros(channels, np.float32))
    require(b.is_constant, f"bias '{b.name}' must be constant")
    require_dtypes([b], ("float32",), "bias")
    require(b.size == channels, f"bias '{b.name}' has {b.size} values, expected {channels}")
    return op.inputs[2]


def _conv_inputs(op: Operator, graph: Graph):
    ins, outs = tensors(op, graph)
    require(len(ins) in (2, 3) and len(outs) == 1,
            f"expected 2 or 3 inputs and 1 output, got {len(ins)} and {len(outs)}")
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) == 3 else None
    (y,) = outs
    require_dtypes([y], ("float32",), "output")
    require(len(w.shape) == 4, f"filter '{w.name}' must be 4-D, got {list(w.shape)}")
    return x, w, b, y


def lower_conv2d(op: Operator, graph: Graph) -> KernelCall:
    x, w, b, y = _conv_inputs(op, graph)
    act = activation(op.options)
    out_c, filter_h, filter_w, filter_in_c = w.shape
    dims = window_params(op.options, x, y, filter_h, filter_w)
    require(filter_in_c == dims["in_c"],
            f"grouped convolution (filter depth {filter_in_c}, input depth {dims['in_c']}) is not supported")
    require(dims["out_c"] == out_c, f"output '{y.name}' has {dims['out_c']} channels, the filter has {out_c}")
    depth = filter_h * filter_w * filter_in_c
    require(depth <= MAX_DEPTH, f"filter depth {depth} is too large for int32 accumulation (max {MAX_DEPTH})")
    scales = _weight_scales(w, out_c, 0)
    # LiteRT takes its per-channel path only when the scales differ; equal scales run per-tensor.
    per_channel = w.quant.scale.size > 1 and bool(np.any(w.quant.scale != w.quant.scale[0]))
    lo, hi = quant.activation_range_float(act)
    params = dict(dims, asymmetric=int(per_channel),
                  scale_order=SCALE_SEQUENTIAL if per_channel else SCALE_COMBINED,
                  act_min=lo, act_max=hi, filter_scale=float_array(scales))
    return KernelCall(
        "mg_hybrid_conv2d_f32", "mg_hybrid", "mg_hybrid_conv2d_params", params,
        [op.inputs[0], op.inputs[1], _bias_arg(op, b, out_c), op.outputs[0], SCRATCH],
        macs=dims["batches"] * dims["out_h"] * dims["out_w"] * out_c * depth,
        scratch_bytes=dims["in_h"] * dims["in_w"] * dims["in_c"])


def lower_depthwise_conv2d(op: Operator, graph: Graph) -> KernelCall:
    x, w, b, y = _conv_inputs(op, graph)
    act = activation(op.options)
    require(w.shape[0] == 1, f"filter '{w.name}' must be [1, h, w, channels], got {list(w.shape)}")
    _, filter_h, filter_w, out_c = w.shape
    dims = window_params(op.options, x, y, filter_h, filter_w)
    in_c = dims["in_c"]
    require(in_c > 0 and out_c % in_c == 0,
            f"filter '{w.name}' has {out_c} channels, not a multiple of the input's {in_c}")
    multiplier = out_c // in_c
    option = int(op.options.get("depth_multiplier", multiplier) or multiplier)
    require(option == multiplier,
            f"depth_multiplier {option} does not match the shapes ({in_c} input channels, {out_c} filter channels)")
    require(dims["out_c"] == out_c, f"output '{y.name}' has {dims['out_c']} channels, the filter has {out_c}")
    require(filter_h * filter_w <= MAX_DEPTH, "filter is too large for int32 accumulation")
    # LiteRT itself only takes one scale per channel (axis 3); a single scale is repeated here.
    scales = _weight_scales(w, out_c, 3)
    lo, hi = quant.activation_range_float(act)
    params = dict(dims, depth_multiplier=multiplier, act_min=lo, act_max=hi, filter_scale=float_array(scales))
    return KernelCall(
        "mg_hybrid_depthwise_conv2d_f32", "mg_hybrid", "mg_hybrid_depthwise_conv2d_params", params,
        [op.inputs[0], op.inputs[1], _bias_arg(op, b, out_c), op.outputs[0], SCRATCH],
        macs=dims["batches"] * dims["out_h"] * dims["out_w"] * out_c * filter_h * filter_w,
        scratch_bytes=dims["in_h"] * dims["in_w"] * in_c)


def lower_fully_connected(op: Operator, graph: Graph) -> KernelCall:
    ins, outs = tensors(op, graph)
    require(len(ins) in (2, 3) and len(outs) == 1,
            f"expected 2 or 3 inputs and 1 output, got {len(ins)} and {len(outs)}")
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) == 3 else None
    (y,) = outs
    opts = op.options
    act = opts.get("fused_activation_function", "NONE")
    require(act in quant.SUPPORTED_ACTIVATIONS, f"fused activation {act} is not supported")
    require(opts.get("weights_format", "DEFAULT") == "DEFAULT", "shuffled weights format is not supported")
    require_dtypes([y], ("float32",), "output")
    require(len(w.shape) == 2, f"weights must be 2-D, got shape {list(w.shape)}")
    out_features, in_features = w.shape
    require(in_features > 0 and x.size % in_features == 0,
            f"input size {x.size} is not a multiple of {in_features} features")
    require(in_features <= MAX_DEPTH, f"{in_features} input features are too many for int32 accumulation")
    batches = x.size // in_features
    require(y.size == batches * out_features, f"output shape {list(y.shape)} does not match {batches}x{out_features}")
    scales = _weight_scales(w, out_features, 0)
    lo, hi = quant.activation_range_float(act)
    params = dict(batches=batches, in_features=in_features, out_features=out_features,
                  asymmetric=int(bool(opts.get("asymmetric_quantize_inputs", False))),
                  act_min=lo, act_max=hi, filter_scale=float_array(scales))
    return KernelCall(
        "mg_hybrid_fully_connected_f32", "mg_hybrid", "mg_hybrid_fully_connected_params", params,
        [op.inputs[0], op.inputs[1], _bias_arg(op, b, out_features), op.outputs[0], SCRATCH],
        macs=batches * in_features * out_features, scratch_bytes=in_features)
