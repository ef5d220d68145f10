"""PACK and UNPACK along any axis, any dtype: one strided copy per packed piece.

PACK is a concatenation of the inputs along a new axis of size 1; UNPACK is the matching split.
"""
from __future__ import annotations

import numpy as np

from ..ir import np_dtype
from .base import KernelCall, require, tensors
from .concatenation import normalize_axis
from .strided_copy import cut_parts, elem_size, join_parts, lower_parts

OPCODES = ("PACK", "UNPACK")


def _plan(op, graph):
    ins, outs = tensors(op, graph)
    require(None not in ins, "inputs cannot be omitted")
    if op.opcode == "PACK":
        require(len(ins) >= 1 and len(outs) == 1, f"expects at least 1 input and 1 output, got {len(ins)} and {len(outs)}")
        pieces, whole = ins, outs[0]
        count = int(op.options.get("values_count", len(ins)) or len(ins))
        require(count == len(ins), f"values_count {count} but {len(ins)} inputs")
    else:
        require(len(ins) == 1 and len(outs) >= 1, f"expects 1 input and at least 1 output, got {len(ins)} and {len(outs)}")
        pieces, whole = outs, ins[0]
        count = int(op.options.get("num", len(outs)) or len(outs))
        require(count == len(outs), f"num {count} but {len(outs)} outputs")
    rank = len(whole.shape)
    require(rank >= 1, "the packed tensor needs at least one dimension")
    axis = normalize_axis(int(op.options.get("axis", 0)), rank)
    piece_shape = tuple(whole.shape[:axis]) + tuple(whole.shape[axis + 1:])
    require(whole.shape[axis] == len(pieces), f"axis {axis} of '{whole.name}' has size {whole.shape[axis]}, "
                                              f"but there are {len(pieces)} pieces")
    for t in pieces:
        require(t.dtype == whole.dtype, f"'{t.name}' has dtype {t.dtype}, '{whole.name}' {whole.dtype}")
        require(tuple(t.shape) == piece_shape, f"'{t.name}' has shape {list(t.shape)}; {list(piece_shape)} expected")
    return pieces, whole, axis


def lower(op, graph) -> KernelCall:
    pieces, whole, axis = _plan(op, graph)
    if len(pieces) == 1:
        return KernelCall(kernel=None, family=None, alias_input=op.inputs[0])
    outer = int(np.prod(whole.shape[:axis], dtype=np.int64))
    inner = int(np.prod(whole.shape[axis + 1:], dtype=np.int64))
    n = len(pieces)
    if op.opcode == "PACK":
        parts = join_parts([(i, 1) for i in range(n)], outer, inner, n, n)
        return lower_parts(parts, elem_size(whole.dtype), [*op.inputs, op.outputs[0]])
    parts = cut_parts([(1 + i, 1) for i in range(n)], outer, inner, n, 0)
    return lower_parts(parts, elem_size(whole.dtype), [op.inputs[0], *op.outputs])


def evaluate(op, graph) -> list[np.ndarray]:
    pieces, whole, axis = _plan(op, graph)
    if op.opcode == "PACK":
        arrays = [np.asarray(t.data).reshape(t.shape) for t in pieces]
        return [np.stack(arrays, axis=axis).astype(np_dtype(whole.dtype))]
    data = np.asarray(whole.data).reshape(whole.shape)
    return [np.ascontiguousarray(np.take(data, i, axis=axis)).astype(np_dtype(t.dtype)) for i, t in enumerate(pieces)]
