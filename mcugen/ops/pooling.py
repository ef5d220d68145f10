"""AVERAGE_POOL_2D and MAX_POOL_2D over NHWC tensors, with a fused activation.

Follows TFLM's reference kernels: windows are clipped to the input, so padding taps are never read
and an average divides by the number of valid taps only. int8 and int16 averages round half away
from zero ((sum +- count/2) / count in C's truncating division; TFLM's int16 kernels are its int8
ones on int16 data). Integer pools keep the input's quantization, as TFLM requires, so no
requantization happens.
"""
from __future__ import annotations

import numpy as np

from .. import quant
from .base import KernelCall, padding_amount, require, require_dtypes, suffix, tensors

OPCODES = ("AVERAGE_POOL_2D", "MAX_POOL_2D")


def output_size(padding: str, in_size: int, filter_size: int, stride: int) -> int:
    """TFLite's windowed output size (ComputeOutSize)."""
    if padding == "SAME":
        return (in_size + stride - 1) // stride
    return (in_size + stride - filter_size) // stride if in_size + stride >= filter_size else 0


def _min_window_taps(in_size: int, out_size: int, filter_size: int, stride: int, pad: int) -> int:
    """The fewest valid taps any window has along one axis (0 means TFLM would fail at run time)."""
    counts = []
    for o in range(out_size):
        origin = o * stride - pad
        counts.append(min(filter_size, in_size - origin) - max(0, -origin))
    return min(counts) if counts else 0


def lower(op, graph) -> KernelCall:
    ins, outs = tensors(op, graph)
    require(len(ins) == 1 and ins[0] is not None and len(outs) == 1,
            f"expects 1 input and 1 output, got {len(ins)} and {len(outs)}")
    (x,), (y,) = ins, outs
    opts = op.options
    activation = opts.get("fused_activation_function", "NONE")
    require(activation in quant.SUPPORTED_ACTIVATIONS, f"fused activation {activation} is not supported")
    padding = opts.get("padding", "VALID")
    require(padding in ("SAME", "VALID"), f"padding {padding} is not supported")
    stride_h, stride_w = int(opts.get("stride_h", 1)), int(opts.get("stride_w", 1))
    filter_h, filter_w = int(opts.get("filter_height", 1)), int(opts.get("filter_width", 1))
    require(min(stride_h, stride_w, filter_h, filter_w) >= 1,
            f"strides ({stride_h}, {stride_w}) and filter size ({filter_h}, {filter_w}) must be positive")
    require(len(x.shape) == 4 and len(y.shape) == 4,
            f"input and output must be 4-D (NHWC), got {list(x.shape)} and {list(y.shape)}")
    require(x.dtype == y.dtype, f"input dtype {x.dtype} and output dtype {y.dtype} differ")
    require_dtypes([x, y], ("int8", "int16", "float32"))
    batches, in_h, in_w, channels = x.shape
    out_h = output_size(padding, in_h, filter_h, stride_h)
    out_w = output_size(padding, in_w, filter_w, stride_w)
    require(out_h > 0 and out_w > 0, f"the {filter_h}x{filter_w} filter is larger than the {in_h}x{in_w} input with VALID padding")
    expected = (batches, out_h, out_w, channels)
    require(tuple(y.shape) == expected, f"output shape {list(y.shape)} does not match the computed {list(expected)}")
    pad_h = padding_amount(padding, in_h, filter_h, stride_h, 1, out_h)
    pad_w = padding_amount(padding, in_w, filter_w, stride_w, 1, out_w)
    require(_min_window_taps(in_h, out_h, filter_h, stride_h, pad_h) > 0
            and _min_window_taps(in_w, out_w, filter_w, stride_w, pad_w) > 0,
            "a pooling window lies entirely in the padding")

    is_avg = op.opcode == "AVERAGE_POOL_2D"
    kind = "avg" if is_avg else "max"
    dims = dict(batches=batches, in_height=in_h, in_width=in_w, channels=channels, out_height=out_h,
                out_width=out_w, filter_height=filter_h, filter_width=filter_w, stride_height=stride_h,
                stride_width=stride_w, pad_height=pad_h, pad_width=pad_w)
    ops_count = y.size * filter_h * filter_w
    if x.dtype == "float32":
        lo, hi = quant.activation_range_float(activation)
        params = dict(dims, act_min=lo, act_max=hi)
    else:
        require(x.quant is not None and y.quant is not None and y.scale > 0,
                f"{x.dtype} pooling needs quantized input and output with a positive scale")
        require(abs(x.scale - y.scale) <= 1e-6 and x.zero_point == y.zero_point,
                f"input quantization (scale {x.scale}, zero point {x.zero_point}) and output quantization "
                f"(scale {y.scale}, zero point {y.zero_point}) must be equal for an {x.dtype} pool")
        info = np.iinfo(x.dtype)
        # int32 window sums: taps * 2^15 must fit (only matters for int16 averages).
        require(filter_h * filter_w <= 1 << 16, f"a {filter_h}x{filter_w} window is too large for int32 sums")
        lo, hi = quant.activation_range_quantized(activation, y.scale, y.zero_point, int(info.min), int(info.max))
        params = dict(dims, act_min=lo, act_max=hi)
    sfx = suffix(x.dtype)
    return KernelCall(f"mg_{kind}_pool_{sfx}", "mg_pooling", f"mg_pool_{sfx}_params", params,
                      [op.inputs[0], op.outputs[0]], macs=ops_count)
