"""ADD with numpy-style broadcasting and a fused activation.

int8 follows TFLM bit for bit: both inputs are shifted left by 20 bits, scaled to twice the larger
input scale with multipliers from QuantizeMultiplierSmallerThanOneExp, summed, and requantized to
the output scale, every multiply with TFLM's two-step rounding. Each input's scaled value depends
on that int8 value alone, so for larger tensors (>= TABLE_MIN_ELEMENTS outputs) both are
precomputed here into 256-entry int32 tables (2 KiB of flash) and the C kernel does only the
output requantization per element. int16 is TFLM's general int16 path: the same arithmetic with
15 bits of headroom instead of 20 (and zero points allowed), computed per element.

Broadcasting is planned here: dimensions of size 1 in the output are dropped and neighbouring
dimensions that broadcast the same way are merged, leaving at most 4 loops for the C kernel with
per-input element strides (0 where an input is broadcast). The innermost loop runs over
contiguous elements, or holds one input fixed.
"""
from __future__ import annotations

import numpy as np

from .. import quant
from .base import ConstArray, KernelCall, require, require_dtypes, suffix, tensors
from ..quant import multiply_by_quantized_multiplier

OPCODES = ("ADD",)

LEFT_SHIFT_INT8 = 20  # TFLM's headroom for int8 inputs before rescaling
LEFT_SHIFT_INT16 = 15  # and for int16 inputs
MAX_LOOPS = 4
TABLE_MIN_ELEMENTS = 256  # below this the tables' flash costs more than the time they save


def broadcast_plan(shape1, shape2, out_shape) -> tuple[list[int], list[int], list[int]]:
    """(loop sizes, input-1 strides, input-2 strides), outermost first, padded to MAX_LOOPS.

    Raises Unsupported when the shapes do not broadcast to out_shape.
    """
    rank = max(len(shape1), len(shape2), len(out_shape))
    pad = lambda s: (1,) * (rank - len(s)) + tuple(int(d) for d in s)  # noqa: E731
    s1, s2, out = pad(shape1), pad(shape2), pad(out_shape)
    for d in range(rank):
        ok = all(s[d] in (1, out[d]) for s in (s1, s2)) and max(s1[d], s2[d]) == out[d]
        require(ok, f"input shapes {list(shape1)} and {list(shape2)} do not broadcast to the output shape {list(out_shape)}")

    groups: list[list] = []  # [size, input-1 is full, input-2 is full]
    for d in range(rank):
        if out[d] == 1:
            continue
        kind = (s1[d] == out[d], s2[d] == out[d])
        if groups and tuple(groups[-1][1:]) == kind:
            groups[-1][0] *= out[d]
        else:
            groups.append([out[d], *kind])
    if not groups:
        groups = [[1, True, True]]
    require(len(groups) <= MAX_LOOPS,
            f"broadcasting {list(shape1)} with {list(shape2)} needs {len(groups)} loops; at most {MAX_LOOPS} are supported")

    sizes = [g[0] for g in groups]
    strides = []
    for k in (1, 2):
        st, step = [], 1
        for size, *full in reversed(groups):
            st.append(step if full[k - 1] else 0)
            step *= size if full[k - 1] else 1
        strides.append(list(reversed(st)))
    lead = MAX_LOOPS - len(sizes)
    return [1] * lead + sizes, [0] * lead + strides[0], [0] * lead + strides[1]


def lower(op, graph) -> KernelCall:
    ins, outs = tensors(op, graph)
    require(len(ins) == 2 and None not in ins and len(outs) == 1,
            f"expects 2 inputs and 1 output, got {len(ins)} and {len(outs)}")
    (a, b), (y,) = ins, outs
    activation = op.options.get("fused_activation_function", "NONE")
    require(activation in quant.SUPPORTED_ACTIVATIONS, f"fused activation {activation} is not supported")
    require(a.dtype == b.dtype == y.dtype, f"input dtypes {a.dtype}, {b.dtype} and output dtype {y.dtype} must be equal")
    require_dtypes([a, b, y], ("int8", "int16", "float32"))
    sizes, strides1, strides2 = broadcast_plan(a.shape, b.shape, y.shape)
    loops = dict(zip(("size0", "size1", "size2", "size3"), sizes))
    loops.update(zip(("in1_stride0", "in1_stride1", "in1_stride2", "in1_stride3"), strides1))
    loops.update(zip(("in2_stride0", "in2_stride1", "in2_stride2", "in2_stride3"), strides2))
    args = [op.inputs[0], op.inputs[1], op.outputs[0]]
    sfx = suffix(y.dtype)

    if y.dtype == "float32":
        lo, hi = quant.activation_range_float(activation)
        return KernelCall("mg_add_f32", "mg_add", "mg_add_f32_params", dict(loops, act_min=lo, act_max=hi),
                          args, macs=y.size)

    require(all(t.quant is not None for t in (a, b, y)), f"{y.dtype} ADD needs quantized inputs and output")
    left_shift, qmin, qmax = ((LEFT_SHIFT_INT16, quant.INT16_MIN, quant.INT16_MAX) if y.dtype == "int16"
                              else (LEFT_SHIFT_INT8, quant.INT8_MIN, quant.INT8_MAX))
    # TFLM computes in double from the float32 scales.
    scale1, scale2, scale_out = float(a.scale), float(b.scale), float(y.scale)
    require(min(scale1, scale2, scale_out) > 0, f"scales must be positive, got {scale1}, {scale2} and {scale_out}")
    twice_max_input_scale = 2.0 * max(scale1, scale2)
    real_out = twice_max_input_scale / ((1 << left_shift) * scale_out)
    require(0.0 < real_out < 1.0,
            f"output scale {scale_out} is too small for input scales {scale1}, {scale2} (TFLM rejects it)")
    in1_mult, in1_shift = _smaller_than_one(scale1 / twice_max_input_scale)
    in2_mult, in2_shift = _smaller_than_one(scale2 / twice_max_input_scale)
    out_mult, out_shift = _smaller_than_one(real_out)
    lo, hi = quant.activation_range_quantized(activation, scale_out, y.zero_point, qmin, qmax)
    params = dict(loops, left_shift=left_shift,
                  input1_offset=-a.zero_point, input1_multiplier=in1_mult, input1_shift=in1_shift,
                  input2_offset=-b.zero_point, input2_multiplier=in2_mult, input2_shift=in2_shift,
                  output_offset=y.zero_point, output_multiplier=out_mult, output_shift=out_shift,
                  act_min=lo, act_max=hi)
    if y.dtype == "int16":
        return KernelCall("mg_add_s16", "mg_add", "mg_add_s16_params", params, args, macs=y.size)
    kernel = "mg_add_s8"
    if y.size >= TABLE_MIN_ELEMENTS:
        kernel = "mg_add_s8_table"
        params["input1_table"] = scaled_input_table(-a.zero_point, in1_mult, in1_shift)
        params["input2_table"] = scaled_input_table(-b.zero_point, in2_mult, in2_shift)
    return KernelCall(kernel, "mg_add", f"mg_add_{sfx}_params", params, args, macs=y.size)


def scaled_input_table(offset: int, multiplier: int, shift: int) -> ConstArray:
    """table[x + 128] = the C kernel's (and TFLM's) scaled value of int8 input x."""
    values = [multiply_by_quantized_multiplier((x + offset) << LEFT_SHIFT_INT8, multiplier, shift)
              for x in range(-128, 128)]
    return ConstArray("int32_t", np.array(values, np.int32))


def _smaller_than_one(real: float) -> tuple[int, int]:
    """TFLM's QuantizeMultiplierSmallerThanOneExp, which fails (rather than asserts) on bad input."""
    mult, shift = quant.quantize_multiplier(real)
    require(shift <= 0, f"multiplier {real} rounds to 1.0; TFLM rejects it")
    return mult, shift
