"""CONV_2D: NHWC input, filter [out_c, kh, kw, in_c], optional bias, fused activation.

int8 follows TFLM's ConvPerChannel: acc = sum over taps inside the image of
filter * (input - input_zero_point) + bias, requantized per output channel with two-step rounding.
Here the input zero point term is folded into the bias over *all* taps, and the C kernel reads
the input zero point for taps in the padding, so those taps add filter * 0 as TFLM's skipped taps
do and every output pixel uses one bias. float32 follows reference_ops::Conv, summing each output
in the same order.

int16 activations with int8 filters (16x8) follow TFLM's int16 ConvPerChannel, which ignores zero
points (so mcugen requires them to be 0, as the converter writes them) and skips taps in the
padding. Its accumulator type is the bias type: an int64 bias (or none, unless the option
quantized_bias_type asks for int32) gives an exact int64 sum requantized by TFLM's int64
MultiplyByQuantizedMultiplier (the Q31 multiplier reduced to 16 bits, one rounding shift); an int32
bias gives a wrapping int32 sum with the usual two-step requantization.
"""
from __future__ import annotations

import numpy as np

from .. import quant
from ..ir import Tensor
from .base import (ConstArray, KernelCall, float_array, int32_array, padding_amount, require, require_dtypes,
                   tensors, wrap_int32)

OPCODES = ("CONV_2D",)

TENSOR_TYPE_INT32 = 2  # schema TensorType.INT32, a value of the quantized_bias_type option


def out_size(padding: str, in_size: int, filter_size: int, stride: int, dilation: int) -> int:
    """TFLite's ComputeOutSize."""
    effective = (filter_size - 1) * dilation + 1
    if padding == "SAME":
        return (in_size + stride - 1) // stride
    return (in_size + stride - effective) // stride


def window_params(opts: dict, x: Tensor, y: Tensor, filter_h: int, filter_w: int) -> dict:
    """Validate strides, dilation, padding and the output shape; the C params they give."""
    padding = opts.get("padding", "SAME")
    require(padding in ("SAME", "VALID"), f"padding {padding} is not supported")
    stride_h, stride_w = int(opts.get("stride_h", 1)), int(opts.get("stride_w", 1))
    dil_h, dil_w = int(opts.get("dilation_h_factor", 1)), int(opts.get("dilation_w_factor", 1))
    require(min(stride_h, stride_w) >= 1, f"strides must be >= 1, got {stride_h}x{stride_w}")
    require(min(dil_h, dil_w) >= 1, f"dilation factors must be >= 1, got {dil_h}x{dil_w}")
    require(len(x.shape) == 4, f"input '{x.name}' must be 4-D (NHWC), got shape {list(x.shape)}")
    require(len(y.shape) == 4, f"output '{y.name}' must be 4-D (NHWC), got shape {list(y.shape)}")
    batches, in_h, in_w, in_c = x.shape
    out_h = out_size(padding, in_h, filter_h, stride_h, dil_h)
    out_w = out_size(padding, in_w, filter_w, stride_w, dil_w)
    require(out_h >= 1 and out_w >= 1,
            f"a {filter_h}x{filter_w} filter (dilation {dil_h}x{dil_w}) does not fit the {in_h}x{in_w} input with VALID padding")
    require(tuple(y.shape[:3]) == (batches, out_h, out_w),
            f"output '{y.name}' has shape {list(y.shape)}, expected [{batches}, {out_h}, {out_w}, ...] "
            f"for {padding} padding with stride {stride_h}x{stride_w}")
    return dict(
        batches=batches, in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=y.shape[3],
        filter_h=filter_h, filter_w=filter_w, stride_h=stride_h, stride_w=stride_w,
        dilation_h=dil_h, dilation_w=dil_w,
        pad_top=padding_amount(padding, in_h, filter_h, stride_h, dil_h, out_h),
        pad_left=padding_amount(padding, in_w, filter_w, stride_w, dil_w, out_w))


def activation(opts: dict) -> str:
    act = opts.get("fused_activation_function", "NONE")
    require(act in quant.SUPPORTED_ACTIVATIONS, f"fused activation {act} is not supported")
    return act


def check_float(x: Tensor, w: Tensor, b: Tensor | None, y: Tensor) -> None:
    require(w.dtype == "float32",
            f"float input with {w.dtype} filter '{w.name}' (a hybrid model) is not supported")
    require_dtypes([y, b], ("float32",))


def quantized_params(x: Tensor, w: Tensor, b: Tensor | None, y: Tensor, channels: int,
                     act: str, check_dtypes: bool = True) -> tuple[dict, np.ndarray]:
    """int8 requantization params (TFLM PopulateConvolutionQuantizationParams) and the raw bias as int64."""
    if check_dtypes:
        require_dtypes([x, w, y], ("int8",))
        require_dtypes([b], ("int32",), "bias")
    require(x.quant is not None and y.quant is not None and w.quant is not None,
            "int8 input, filter and output need quantization parameters")
    wq = w.quant
    require(wq.scale.size in (1, channels),
            f"filter '{w.name}' has {wq.scale.size} scales; expected 1 or one per output channel ({channels})")
    require(not wq.per_channel or w.shape[wq.axis] == channels,
            f"filter '{w.name}' is quantized along dimension {wq.axis}, not the output channels")
    require(np.all(wq.zero_point == 0), f"filter '{w.name}' must be symmetric (zero point 0)")
    scales = np.broadcast_to(wq.scale.astype(np.float64), (channels,))
    # The C requantization relies on non-negative multipliers, i.e. positive scales.
    require(x.scale > 0 and y.scale > 0 and np.all(scales > 0),
            "input, filter and output scales must be positive")
    in_scale, out_scale = np.float64(x.scale), np.float64(y.scale)
    mults, shifts = zip(*(quant.quantize_multiplier(float(in_scale * s / out_scale)) for s in scales))
    if b is not None:
        # Only the values matter: tflm_person_detect has 1-D biases with quantized_dimension=3.
        require(b.size == channels, f"bias '{b.name}' has {b.size} values, expected {channels}")
        bias = b.data.reshape(-1).astype(np.int64)
    else:
        bias = np.zeros(channels, np.int64)
    lo, hi = quant.activation_range_quantized(act, y.scale, y.zero_point)
    params = dict(input_zero_point=x.zero_point, output_offset=y.zero_point, act_min=lo, act_max=hi,
                  multiplier=int32_array(mults), shift=int32_array(shifts))
    return params, bias


def int32_accumulator(b: Tensor | None, opts: dict) -> bool:
    """TFLM's 16x8 CONV_2D and FULLY_CONNECTED accumulate in the bias type; without a bias the
    option quantized_bias_type decides (int64 unless it says int32)."""
    if b is not None:
        return b.dtype == "int32"
    kind = opts.get("quantized_bias_type", 0)
    return kind == TENSOR_TYPE_INT32 or (isinstance(kind, str) and kind.upper() == "INT32")


def int64_requantization(mults, shifts) -> tuple[list[int], list[int]]:
    """(reduced multiplier, total right shift) per channel for mg_requantize_s64, derived from the
    Q31 multiplier and its shift as TFLM's int64 MultiplyByQuantizedMultiplier does."""
    reduced, total = [], []
    for m, s in zip(map(int, mults), map(int, shifts)):
        require(s <= 14, f"requantization multiplier 2^{s} is too large for int16 activations")
        reduced.append((m + (1 << 15)) >> 16 if m < 0x7FFF0000 else 0x7FFF)
        total.append(15 - s)
    return reduced, total


def int16_params(x: Tensor, w: Tensor, b: Tensor | None, y: Tensor, channels: int, act: str,
                 opts: dict, int32_bias: bool = True) -> tuple[dict, ConstArray, bool]:
    """16x8 requantization params, the bias argument and whether the int32-accumulator kernel applies."""
    require_dtypes([y], ("int16",))
    require_dtypes([w], ("int8",), "int16 input needs an int8 filter; filter")
    require_dtypes([b], ("int64", "int32") if int32_bias else ("int64",), "bias")
    require(x.quant is not None and y.quant is not None and w.quant is not None,
            "int16 input, int8 filter and int16 output need quantization parameters")
    require(x.zero_point == 0 and y.zero_point == 0,
            f"int16 input and output must have zero point 0 (TFLM's 16x8 kernels ignore it), "
            f"got {x.zero_point} and {y.zero_point}")
    params, bias = quantized_params(x, w, b, y, channels, act, check_dtypes=False)
    del params["input_zero_point"], params["output_offset"]
    lo, hi = quant.activation_range_quantized(act, y.scale, 0, quant.INT16_MIN, quant.INT16_MAX)
    params.update(act_min=lo, act_max=hi)
    if int32_bias and int32_accumulator(b, opts):
        return params, int32_array(wrap_int32(bias)), True
    reduced, total = int64_requantization(params["multiplier"].values, params["shift"].values)
    params.update(multiplier=int32_array(reduced), shift=int32_array(total))
    return params, ConstArray("int64_t", bias), False


def float_bias(b: Tensor | None, channels: int) -> np.ndarray:
    if b is None:
        return np.zeros(channels, np.float32)
    require(b.size == channels, f"bias '{b.name}' has {b.size} values, expected {channels}")
    return b.data.reshape(-1).astype(np.float32)


def lower(op, graph) -> KernelCall:
    from . import hybrid  # float32 input with int8 weights: LiteRT's hybrid kernels
    if hybrid.is_hybrid(op, graph):
        return hybrid.lower_conv2d(op, graph)
    ins, (y,) = tensors(op, graph)
    require(len(ins) in (2, 3), f"expected 2 or 3 inputs, got {len(ins)}")
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) == 3 else None
    opts = op.options
    act = activation(opts)
    require(w.is_constant, f"filter '{w.name}' must be constant")
    require(b is None or b.is_constant, f"bias '{b.name if b else ''}' must be constant")
    require(len(w.shape) == 4, f"filter '{w.name}' must be 4-D [out_c, h, w, in_c], got {list(w.shape)}")
    out_c, filter_h, filter_w, filter_in_c = w.shape
    dims = window_params(opts, x, y, filter_h, filter_w)
    require(filter_in_c == dims["in_c"],
            f"grouped convolution (filter depth {filter_in_c}, input depth {dims['in_c']}) is not supported")
    require(dims["out_c"] == out_c, f"output '{y.name}' has {dims['out_c']} channels, the filter has {out_c}")
    depth = filter_h * filter_w * filter_in_c
    macs = dims["batches"] * dims["out_h"] * dims["out_w"] * out_c * depth

    if x.dtype == "float32":
        check_float(x, w, b, y)
        lo, hi = quant.activation_range_float(act)
        # [out_c, kh, kw, in_c] -> [kh, kw, in_c, out_c]: the C loop runs over output channels.
        filter_t = np.ascontiguousarray(w.data.astype(np.float32).transpose(1, 2, 3, 0))
        return KernelCall(
            "mg_conv2d_f32", "mg_conv2d", "mg_conv2d_f32_params", dict(dims, act_min=lo, act_max=hi),
            [op.inputs[0], float_array(filter_t), float_array(float_bias(b, out_c)), op.outputs[0]], macs=macs)

    if x.dtype == "int16":
        params, bias_arg, acc32 = int16_params(x, w, b, y, out_c, act, opts)
        return KernelCall("mg_conv2d_s16_acc32" if acc32 else "mg_conv2d_s16", "mg_conv2d", "mg_conv2d_s16_params",
                          dict(dims, **params), [op.inputs[0], op.inputs[1], bias_arg, op.outputs[0]], macs=macs)

    qparams, bias = quantized_params(x, w, b, y, out_c, act)
    folded = bias - x.zero_point * w.data.astype(np.int64).reshape(out_c, -1).sum(axis=1)
    args = [op.inputs[0], op.inputs[1], int32_array(wrap_int32(folded)), op.outputs[0]]
    params = dict(dims, **qparams)
    if filter_h == 1 and filter_w == 1 and dims["pad_top"] == 0 and dims["pad_left"] == 0:
        return KernelCall("mg_conv2d_1x1_s8", "mg_conv2d", "mg_conv2d_s8_params", params, args, macs=macs)
    return KernelCall("mg_conv2d_s8", "mg_conv2d", "mg_conv2d_s8_params", params, args, macs=macs)
