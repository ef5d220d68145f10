"""MEAN and SUM over any set of axes (keep_dims or not), int8, int16 and float32.

The reduction is planned here: axes are resolved (negative, duplicates), size-1 dimensions are
dropped and neighbouring dimensions of the same kind (kept or reduced) are merged, leaving at most
MAX_LOOPS kept loops and MAX_LOOPS reduced loops with input element strides. The C kernel walks the
outputs in order and, for each, sums its inputs in row-major order of the reduced indices. That is
the order in which TFLM's scatter loop (reference_ops::Reduce over the input in memory order)
adds them, so float sums are the same, and no scratch accumulators are needed.

int8 follows TFLM's QuantizedMeanOrSum (TFLM routes every int8 MEAN and SUM there; its older
special case for equal input/output quantization was removed in 2023): the multiplier is
QuantizeMultiplier(input_scale / output_scale); for MEAN it absorbs 1/n as
shift = min(floor(log2 n), 32, 31 + shift), multiplier = (multiplier << shift) / n (truncating),
shift -= shift. Each output is MultiplyByQuantizedMultiplier(sum - n * input_zero_point) + output
zero point, clamped. The -n * input_zero_point term is a constant folded into `bias` here.
int16 goes through the same QuantizedMeanOrSum in TFLM (int32 sums, the same 32-bit multiplier),
clamped to the int16 range.

float32 follows TFLM too: SUM adds in memory order from 0; MEAN divides that sum by (float)n
(its 4-D axes-{1,2} special case sums in the same order and divides by the same count).
"""
from __future__ import annotations

import numpy as np

from .. import quant
from .base import KernelCall, require, require_dtypes, tensors, wrap_int32

OPCODES = ("MEAN", "SUM")

MAX_LOOPS = 4
MAX_REDUCED = 1 << 23  # int8 sums of up to 2^23 values cannot overflow int32 (with the zero-point term)
MAX_REDUCED_S16 = 1 << 15  # the same bound for int16 sums (2^15 * 2^15 each for sum and zero-point term)


def resolve_axes(axes, rank: int) -> list[int]:
    """TFLM's ResolveAxis: negative axes count from the end, duplicates are dropped."""
    out = []
    for a in axes:
        a = int(a)
        require(-rank <= a < rank, f"axis {a} is out of range for a rank-{rank} input")
        a = a + rank if a < 0 else a
        if a not in out:
            out.append(a)
    return out


def reduce_plan(shape, axes) -> tuple[list[int], list[int], list[int], list[int]]:
    """(kept sizes, kept strides, reduced sizes, reduced strides), outermost first, each padded to
    MAX_LOOPS with size 1 / stride 0. Strides are input element strides."""
    shape = [int(d) for d in shape]
    reduced = set(axes)
    strides = [1] * len(shape)
    for d in range(len(shape) - 2, -1, -1):
        strides[d] = strides[d + 1] * shape[d + 1]
    groups: dict[bool, list[list[int]]] = {False: [], True: []}  # kind -> [[size, stride], ...]
    last_kind = None
    for d, size in enumerate(shape):
        if size == 1:
            continue  # contributes nothing and does not break contiguity
        kind = d in reduced
        if kind == last_kind:
            g = groups[kind][-1]
            g[0] *= size
            g[1] = strides[d]
        else:
            groups[kind].append([size, strides[d]])
        last_kind = kind
    for kind, what in ((False, "kept"), (True, "reduced")):
        require(len(groups[kind]) <= MAX_LOOPS,
                f"the axes {sorted(reduced)} of shape {shape} give {len(groups[kind])} separate {what} "
                f"dimension groups; at most {MAX_LOOPS} are supported")

    def padded(kind, field):
        vals = [g[field] for g in groups[kind]]
        pad = [1 if field == 0 else 0] * (MAX_LOOPS - len(vals))
        return pad + vals

    return padded(False, 0), padded(False, 1), padded(True, 0), padded(True, 1)


def expected_output_shape(shape, axes, keep_dims: bool) -> tuple[int, ...]:
    if keep_dims:
        return tuple(1 if d in axes else int(s) for d, s in enumerate(shape))
    return tuple(int(s) for d, s in enumerate(shape) if d not in axes)


def mean_multiplier(multiplier: int, shift: int, count: int) -> tuple[int, int]:
    """TFLM's QuantizedMeanOrSum rescaling that folds 1/count into (multiplier, shift)."""
    extra = count.bit_length() - 1  # 63 - CountLeadingZeros(count)
    extra = min(extra, 32, 31 + shift)
    return (multiplier << extra) // count, shift - extra


def _c_list(values) -> str:
    return "{" + ", ".join(str(int(v)) for v in values) + "}"


def lower(op, graph) -> KernelCall:
    ins, outs = tensors(op, graph)
    require(len(ins) == 2 and None not in ins and len(outs) == 1,
            f"expects 2 inputs (data, axes) and 1 output, got {len(ins)} and {len(outs)}")
    (x, axis_t), (y,) = ins, outs
    # An empty axes tensor has no buffer data, so it does not look constant; it needs none.
    require(axis_t.is_constant or axis_t.size == 0, f"axes tensor '{axis_t.name}' must be constant")
    require_dtypes([axis_t], ("int32",), "axes tensor")
    require(x.dtype == y.dtype, f"input dtype {x.dtype} and output dtype {y.dtype} differ")
    require_dtypes([x], ("int8", "int16", "float32"))
    require(x.size > 0, f"input '{x.name}' is empty")
    rank = len(x.shape)
    axes = resolve_axes(axis_t.data.reshape(-1), rank) if rank and axis_t.size else []
    keep_dims = bool(op.options.get("keep_dims", False))
    want = expected_output_shape(x.shape, axes, keep_dims)
    # The element count is what matters; some converters write keep_dims shapes without the flag.
    require(y.size == int(np.prod(want, dtype=np.int64)),
            f"output shape {list(y.shape)} does not match the reduced shape {list(want)}")
    kept_sizes, kept_strides, red_sizes, red_strides = reduce_plan(x.shape, axes)
    count = int(np.prod(red_sizes))
    params = dict(outer_size=_c_list(kept_sizes), outer_stride=_c_list(kept_strides),
                  inner_size=_c_list(red_sizes), inner_stride=_c_list(red_strides))
    args = [op.inputs[0], op.outputs[0]]

    if x.dtype == "float32":
        if op.opcode == "SUM":
            return KernelCall("mg_reduce_sum_f32", "mg_reduce", "mg_reduce_f32_params",
                              dict(params, count=float(count)), args, macs=x.size)
        return KernelCall("mg_reduce_mean_f32", "mg_reduce", "mg_reduce_f32_params",
                          dict(params, count=float(count)), args, macs=x.size)

    require(x.quant is not None and y.quant is not None, f"{x.dtype} MEAN/SUM needs quantized input and output")
    require(x.scale > 0 and y.scale > 0, f"scales must be positive, got {x.scale} and {y.scale}")
    limit = MAX_REDUCED if x.dtype == "int8" else MAX_REDUCED_S16
    require(count <= limit, f"reducing {count} {x.dtype} values at once is not supported (at most {limit})")
    # TFLM: QuantizeMultiplier(double(input scale) / double(output scale)).
    multiplier, shift = quant.quantize_multiplier(float(np.float64(x.scale) / np.float64(y.scale)))
    if op.opcode == "MEAN":
        multiplier, shift = mean_multiplier(multiplier, shift, count)
    bias = int(wrap_int32(np.int64(-x.zero_point) * count))
    params.update(bias=bias, multiplier=multiplier, shift=shift, output_offset=y.zero_point)
    sfx = "s8" if x.dtype == "int8" else "s16"
    return KernelCall(f"mg_reduce_{sfx}", "mg_reduce", f"mg_reduce_{sfx}_params", params, args, macs=x.size)
