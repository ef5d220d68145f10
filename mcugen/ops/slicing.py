"""SLICE and STRIDED_SLICE with constant begin/size/end/strides, any rank and dtype: one strided copy.

STRIDED_SLICE follows LiteRT's index rules (strided_slice.cc and strided_slice_logic.h): begin and
end masks, shrink_axis_mask, negative indices, clamping, negative strides, and also
ellipsis_mask, new_axis_mask and the `offset` option. TFLM agrees on everything but the last
three, which it refuses (it zeroes ellipsis and new-axis masks and ignores `offset`, then fails its
output shape check), so those follow LiteRT. One deliberate difference from both: a shrunk axis
with a negative stride reads its element (TensorFlow's meaning); their loops read nothing there
and leave the output unwritten.

A slice that keeps every element in order (e.g. only drops dimensions of size 1) shares its
input's bytes and runs no code.
"""
from __future__ import annotations

import numpy as np

from ..ir import np_dtype
from .base import KernelCall, require, tensors
from .strided_copy import Box, elem_size, is_plain_copy, lower_parts

OPCODES = ("SLICE", "STRIDED_SLICE")


def _const_vector(t, what: str) -> list[int]:
    require(t is not None and t.is_constant, f"{what} must be a constant tensor")
    require(t.dtype in ("int32", "int64"), f"{what} '{t.name}' has dtype {t.dtype}; int32 or int64 expected")
    return [int(v) for v in np.asarray(t.data).reshape(-1)]


def _bit(mask: int, i: int) -> bool:
    return bool((mask >> i) & 1)


def strided_slice_box(shape, begin, end, strides, begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0,
                      shrink_axis_mask=0, offset=False) -> tuple[Box, tuple[int, ...]]:
    """(the box of input elements read, in output order; the output shape) by LiteRT's rules."""
    rank = len(shape)
    n = len(begin)
    require(len(end) == n and len(strides) == n, "begin, end and strides must have the same length")
    # Expand the sparse spec (ellipsis, new axes) into one entry per dimension of the input with
    # the new axes inserted, as LiteRT's BuildStridedSliceParams does.
    num_add_axis = sum(1 for i in range(n) if not _bit(ellipsis_mask, i) and _bit(new_axis_mask, i))
    dims = rank + num_add_axis
    eff_ellipsis = eff_new_axis = 0
    ellipsis_start, expanded = dims, 0
    i = 0
    while i < dims:
        if _bit(ellipsis_mask, i):
            ellipsis_start = i
            stop = max(i + 1, min(i + 1 + num_add_axis + rank - n, dims))
            expanded = stop - ellipsis_start - 1
            while i < stop:
                eff_ellipsis |= 1 << i
                i += 1
            continue
        if _bit(new_axis_mask, i - expanded):
            eff_new_axis |= 1 << i
        i += 1

    starts, stops, steps, eff_shape, shrink = [], [], [], [], []
    added_ellipsis = added_axes = 0
    for i in range(dims):
        if _bit(eff_ellipsis, i):
            added_ellipsis = max(0, i - ellipsis_start)
            entry = (0, 0, 1, True, True, False, shape[i - added_axes])
        elif _bit(eff_new_axis, i):
            entry = (0, 1, 1, False, False, False, 1)
            added_axes += 1
        elif i >= n + expanded:
            entry = (0, 0, 1, True, True, False, shape[i - added_axes])
        else:
            j = i - added_ellipsis
            entry = (begin[j], end[j], strides[j], _bit(begin_mask, j), _bit(end_mask, j), _bit(shrink_axis_mask, j),
                     shape[i - added_axes])
        b, e, s, bm, em, sh, size = entry
        require(s != 0, "a stride of 0 is not allowed")
        start = _start(b, s, bm, size)
        stop = _stop(e, s, em, sh, size, start, offset)
        starts.append(start)
        stops.append(stop)
        # A shrunk axis reads element `start`. (With a negative stride LiteRT's and TFLM's loops
        # read nothing and leave the output unwritten; mcugen reads the element, as TensorFlow.)
        steps.append(1 if sh else s)
        eff_shape.append(int(size))
        shrink.append(sh)

    counts = [len(range(a, b, s)) for a, b, s in zip(starts, stops, steps)]
    for i, sh in enumerate(shrink):
        require(not sh or counts[i] == 1, f"the shrunk axis {i} starts at {starts[i]}, outside its size {eff_shape[i]}")
    out_shape = tuple(c for c, sh in zip(counts, shrink) if not sh)
    # Walk the effective input (new axes are size-1 dimensions of it), in output order.
    return Box(starts, steps, counts, tuple(eff_shape)), out_shape


def _clamp(v: int, lo: int, hi: int) -> int:
    return hi if v > hi else (lo if v < lo else v)


def _start(begin: int, stride: int, masked: bool, size: int) -> int:
    start = begin + size if begin < 0 else begin
    start = _clamp(start, 0, size) if stride > 0 else _clamp(start, -1, size - 1)
    if masked:
        start = 0 if stride > 0 else size - 1
    return start


def _stop(end: int, stride: int, masked: bool, shrink: bool, size: int, start: int, offset: bool) -> int:
    if shrink:
        return start if start >= size else start + 1
    if offset:
        end += start
    stop = end + size if end < 0 else end
    stop = _clamp(stop, 0, size) if stride > 0 else _clamp(stop, -1, size - 1)
    if masked:
        stop = size if stride > 0 else -1
    return stop


def _plan(op, graph) -> Box:
    ins, outs = tensors(op, graph)
    x = ins[0] if ins else None
    require(x is not None and len(outs) == 1, f"expects an input and 1 output, got {len(ins)} and {len(outs)}")
    y = outs[0]
    require(x.dtype == y.dtype, f"input dtype {x.dtype} and output dtype {y.dtype} differ")
    shape = [int(d) for d in x.shape]
    if op.opcode == "SLICE":
        require(len(ins) == 3, f"expects 3 inputs, got {len(ins)}")
        begin, size = _const_vector(ins[1], "begin"), _const_vector(ins[2], "size")
        require(len(begin) == len(size) == len(shape), f"begin and size need {len(shape)} entries")
        counts = []
        for b, s, d in zip(begin, size, shape):
            s = d - b if s == -1 else s
            require(0 <= b and s >= 0 and b + s <= d, f"slice begin {begin} size {size} is outside the input shape {shape}")
            counts.append(s)
        box, out_shape = Box(begin, [1] * len(shape), counts, tuple(shape)), tuple(counts)
    else:
        require(len(ins) == 4, f"expects 4 inputs, got {len(ins)}")
        o = op.options
        box, out_shape = strided_slice_box(
            shape, _const_vector(ins[1], "begin"), _const_vector(ins[2], "end"), _const_vector(ins[3], "strides"),
            int(o.get("begin_mask", 0)), int(o.get("end_mask", 0)), int(o.get("ellipsis_mask", 0)),
            int(o.get("new_axis_mask", 0)), int(o.get("shrink_axis_mask", 0)), bool(o.get("offset", False)))
    require(tuple(out_shape) == tuple(y.shape),
            f"the slice gives shape {list(out_shape)}, but the output shape is {list(y.shape)}")
    return box


def lower(op, graph) -> KernelCall:
    box = _plan(op, graph)
    x = graph.tensor(op.inputs[0])
    part = box.part(0, 1)
    if is_plain_copy([part], x.size):
        return KernelCall(kernel=None, family=None, alias_input=op.inputs[0])
    return lower_parts([part], elem_size(x.dtype), [op.inputs[0], op.outputs[0]])


def evaluate(op, graph) -> list[np.ndarray]:
    box = _plan(op, graph)
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    data = np.asarray(x.data).reshape(box.shape)
    index = np.ix_(*[np.arange(a, a + c * s, s, dtype=np.int64) for a, s, c in zip(box.start, box.steps, box.counts)])
    return [data[index].reshape(y.shape).astype(np_dtype(y.dtype))]
