"""TRANSPOSE_CONV: inputs (output_shape, filter [out_c, kh, kw, in_c], input NHWC, optional bias).

TFLM scatters: every input pixel adds input * filter to the output pixels its window covers,
out_y = in_y * stride - pad + filter_y, skipping those outside the output, into an int32 (int8) or
float accumulator that starts at zero; then bias, requantization (int8, per channel, two-step
rounding, filter zero point ignored: it must be 0) and the fused activation. The padding is
TFLM's: that of a forward convolution over the *output* size (ComputePaddingHeightWidth with the
output as its input), and 0 where TFLM's size computation fails.

The C kernel gathers instead: for each output pixel it visits the input pixels that reach it in
ascending (in_y, in_x, in_c) order, which is the order TFLM's scatter adds them, so float sums
match too, and it needs no accumulator buffer (TFLM takes output_size * 4 bytes of scratch).
"""
from __future__ import annotations

import numpy as np

from .. import quant
from .base import KernelCall, float_array, int32_array, require, require_dtypes, suffix, tensors, wrap_int32

OPCODES = ("TRANSPOSE_CONV",)

MAX_INT8_TAPS = (2 ** 31 - 1) // (255 * 128)  # taps per output whose int32 sum cannot overflow


def _cdiv(a: int, b: int) -> int:
    q = abs(a) // b
    return q if a >= 0 else -q


def tflm_padding(padding: str, out_h: int, out_w: int, filter_h: int, filter_w: int,
                 stride_h: int, stride_w: int) -> tuple[int, int]:
    """(pad_top, pad_left) as TFLM's TRANSPOSE_CONV computes them."""
    def conv_out(size, f, s):
        value = _cdiv(size + s - 1, s) if padding == "SAME" else _cdiv(size + s - f, s)
        return value if value >= 0 else None

    cw, ch = conv_out(out_w, filter_w, stride_w), conv_out(out_h, filter_h, stride_h)
    if cw is None or ch is None:
        return 0, 0  # TFLM's checked computation fails and leaves both paddings at 0

    def pad(conv, f, s, size):
        return max((conv - 1) * s + f - size, 0) // 2

    return pad(ch, filter_h, stride_h, out_h), pad(cw, filter_w, stride_w, out_w)


def lower(op, graph) -> KernelCall:
    ins, outs = tensors(op, graph)
    require(len(ins) in (3, 4) and None not in ins[:3] and len(outs) == 1,
            f"expects 3 or 4 inputs (output shape, filter, input, bias) and 1 output, got {len(ins)} and {len(outs)}")
    shape_t, w, x = ins[:3]
    b = ins[3] if len(ins) == 4 else None
    (y,) = outs
    opts = op.options
    activation = opts.get("fused_activation_function", "NONE")
    require(activation in quant.SUPPORTED_ACTIVATIONS, f"fused activation {activation} is not supported")
    padding = opts.get("padding", "SAME")
    require(padding in ("SAME", "VALID"), f"padding {padding} is not supported")
    stride_h, stride_w = int(opts.get("stride_h", 1)), int(opts.get("stride_w", 1))
    require(min(stride_h, stride_w) >= 1, f"strides must be >= 1, got {stride_h}x{stride_w}")
    require(w.is_constant, f"filter '{w.name}' must be constant")
    require(b is None or b.is_constant, f"bias '{b.name if b else ''}' must be constant")
    require(len(w.shape) == 4 and len(x.shape) == 4 and len(y.shape) == 4,
            f"filter, input and output must be 4-D, got {list(w.shape)}, {list(x.shape)} and {list(y.shape)}")
    if shape_t.is_constant:
        require([int(v) for v in shape_t.data.reshape(-1)] == list(y.shape),
                f"output shape tensor {shape_t.data.reshape(-1).tolist()} differs from the output's shape "
                f"{list(y.shape)}")
    out_c, filter_h, filter_w, filter_in_c = (int(d) for d in w.shape)
    batches, in_h, in_w, in_c = (int(d) for d in x.shape)
    out_n, out_h, out_w, y_c = (int(d) for d in y.shape)
    require(filter_in_c == in_c, f"filter depth {filter_in_c} differs from the input depth {in_c}")
    require(out_n == batches and y_c == out_c,
            f"output shape {list(y.shape)} does not match batch {batches} and {out_c} filter outputs")
    require(min(out_h, out_w, in_h, in_w) >= 1, "empty images are not supported")
    pad_h, pad_w = tflm_padding(padding, out_h, out_w, filter_h, filter_w, stride_h, stride_w)
    dims = dict(batches=batches, in_height=in_h, in_width=in_w, in_channels=in_c, out_height=out_h,
                out_width=out_w, out_channels=out_c, filter_height=filter_h, filter_width=filter_w,
                stride_height=stride_h, stride_width=stride_w, pad_height=pad_h, pad_width=pad_w)
    macs = x.size * filter_h * filter_w * out_c
    args = [op.inputs[2], op.inputs[1]]

    if x.dtype == "float32":
        require_dtypes([w, y, b], ("float32",))
        lo, hi = quant.activation_range_float(activation)
        bias = np.zeros(out_c, np.float32) if b is None else b.data.reshape(-1).astype(np.float32)
        require(bias.size == out_c, f"bias has {bias.size} values, expected {out_c}")
        return KernelCall("mg_transpose_conv_f32", "mg_transpose_conv", "mg_transpose_conv_f32_params",
                          dict(dims, act_min=lo, act_max=hi), args + [float_array(bias), op.outputs[0]], macs=macs)

    require_dtypes([x, w, y], ("int8",))
    require_dtypes([b], ("int32",), "bias")
    require(all(t.quant is not None for t in (x, w, y)), "int8 input, filter and output need quantization parameters")
    wq = w.quant
    require(wq.scale.size in (1, out_c), f"filter '{w.name}' has {wq.scale.size} scales; expected 1 or {out_c}")
    require(not wq.per_channel or wq.axis == 0,
            f"filter '{w.name}' must be quantized along its output channels (axis 0)")
    require(np.all(wq.zero_point == 0), f"filter '{w.name}' must be symmetric (zero point 0; TFLM ignores it)")
    scales = np.broadcast_to(wq.scale.astype(np.float64), (out_c,))
    require(x.scale > 0 and y.scale > 0 and np.all(scales > 0), "input, filter and output scales must be positive")
    taps = -(-filter_h // stride_h) * -(-filter_w // stride_w) * in_c
    require(taps <= MAX_INT8_TAPS, f"{taps} products per output are too many for an int32 accumulator")
    # TFLM's PopulateConvolutionQuantizationParams: double(input) * double(filter) / double(output).
    mults, shifts = zip(*(quant.quantize_multiplier(float(np.float64(x.scale) * s / np.float64(y.scale)))
                          for s in scales))
    bias = np.zeros(out_c, np.int64) if b is None else b.data.reshape(-1).astype(np.int64)
    require(bias.size == out_c, f"bias has {bias.size} values, expected {out_c}")
    lo, hi = quant.activation_range_quantized(activation, y.scale, y.zero_point)
    params = dict(dims, input_offset=-x.zero_point, output_offset=y.zero_point, act_min=lo, act_max=hi,
                  multiplier=int32_array(mults), shift=int32_array(shifts))
    return KernelCall(f"mg_transpose_conv_{suffix(x.dtype)}", "mg_transpose_conv", "mg_transpose_conv_s8_params",
                      params, args + [int32_array(wrap_int32(bias)), op.outputs[0]], macs=macs)
