"""SPLIT and SPLIT_V along any axis, any dtype: one strided copy per output.

The axis must be constant (as in TFLM); the sizes come from the output shapes, so SPLIT_V's
size_splits (with its optional -1) only has to agree with them.
"""
from __future__ import annotations

import numpy as np

from ..ir import np_dtype
from .base import KernelCall, require, tensors
from .concatenation import normalize_axis
from .strided_copy import axis_split, cut_parts, elem_size, lower_parts

OPCODES = ("SPLIT", "SPLIT_V")


def _plan(op, graph):
    ins, outs = tensors(op, graph)
    if op.opcode == "SPLIT":
        require(len(ins) == 2 and None not in ins, f"expects 2 inputs (axis, input), got {len(ins)}")
        axis_t, x = ins
        sizes_t = None
    else:
        require(len(ins) == 3 and None not in ins, f"expects 3 inputs (input, size_splits, axis), got {len(ins)}")
        x, sizes_t, axis_t = ins
    require(len(outs) >= 1, "expects at least 1 output")
    require(axis_t.is_constant and axis_t.size == 1, f"the axis '{axis_t.name}' must be one constant value")
    rank = len(x.shape)
    axis = normalize_axis(int(np.asarray(axis_t.data).reshape(-1)[0]), rank)
    for y in outs:
        require(y.dtype == x.dtype, f"output '{y.name}' has dtype {y.dtype}, the input {x.dtype}")
        require(len(y.shape) == rank and all(y.shape[d] == x.shape[d] for d in range(rank) if d != axis),
                f"output '{y.name}' of shape {list(y.shape)} does not fit the input shape {list(x.shape)} on axis {axis}")
    sizes = [int(y.shape[axis]) for y in outs]
    require(sum(sizes) == x.shape[axis], f"the outputs' sizes {sizes} along axis {axis} do not add up to {x.shape[axis]}")
    if op.opcode == "SPLIT":
        num = int(op.options.get("num_splits", len(outs)) or len(outs))
        require(num == len(outs) and len(set(sizes)) == 1, f"SPLIT into {num} needs {num} equal outputs, got sizes {sizes}")
    elif sizes_t.is_constant:
        given = [int(v) for v in np.asarray(sizes_t.data).reshape(-1)]
        require(len(given) == len(outs) and all(g in (s, -1) for g, s in zip(given, sizes)),
                f"size_splits {given} disagree with the output sizes {sizes}")
    return x, outs, axis, sizes


def lower(op, graph) -> KernelCall:
    x, outs, axis, sizes = _plan(op, graph)
    if len(outs) == 1:
        return KernelCall(kernel=None, family=None, alias_input=op.inputs[1 if op.opcode == "SPLIT" else 0])
    outer, total, inner = axis_split(x.shape, axis)
    parts = cut_parts([(1 + k, s) for k, s in enumerate(sizes)], outer, inner, total, 0)
    x_index = op.inputs[1] if op.opcode == "SPLIT" else op.inputs[0]
    return lower_parts(parts, elem_size(x.dtype), [x_index, *op.outputs])


def evaluate(op, graph) -> list[np.ndarray]:
    x, outs, axis, sizes = _plan(op, graph)
    pieces = np.split(np.asarray(x.data).reshape(x.shape), np.cumsum(sizes)[:-1], axis=axis)
    return [np.ascontiguousarray(p).astype(np_dtype(y.dtype)) for p, y in zip(pieces, outs)]
