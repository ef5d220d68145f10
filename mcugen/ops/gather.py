"""GATHER along any axis with batch_dims, any dtype, int32 or int64 indices (constant or computed).

Constant indices are checked here; an index computed at run time outside the axis gives zeros
(TFLM does not check and would read outside the input).
"""
from __future__ import annotations

import numpy as np

from ..ir import np_dtype
from .base import KernelCall, require, tensors
from .concatenation import normalize_axis
from .strided_copy import elem_size

OPCODES = ("GATHER",)


def _plan(op, graph):
    ins, outs = tensors(op, graph)
    require(len(ins) == 2 and None not in ins and len(outs) == 1,
            f"expects 2 inputs and 1 output, got {len(ins)} and {len(outs)}")
    (x, idx), (y,) = ins, outs
    require(x.dtype == y.dtype, f"input dtype {x.dtype} and output dtype {y.dtype} differ")
    require(idx.dtype in ("int32", "int64"), f"indices '{idx.name}' have dtype {idx.dtype}; int32 or int64 expected")
    rank, irank = len(x.shape), len(idx.shape)
    require(rank >= 1, "the input needs at least one dimension")
    axis = normalize_axis(int(op.options.get("axis", 0)), rank)
    batch_dims = int(op.options.get("batch_dims", 0))
    if batch_dims < 0:
        batch_dims += irank
    require(0 <= batch_dims <= min(axis, irank), f"batch_dims {batch_dims} is out of range")
    require(tuple(x.shape[:batch_dims]) == tuple(idx.shape[:batch_dims]),
            f"the first {batch_dims} dimensions of the input {list(x.shape)} and the indices {list(idx.shape)} differ")
    expect = tuple(x.shape[:axis]) + tuple(idx.shape[batch_dims:]) + tuple(x.shape[axis + 1:])
    require(expect == tuple(y.shape), f"gathering gives shape {list(expect)}, but the output shape is {list(y.shape)}")
    if idx.is_constant:
        values = np.asarray(idx.data).reshape(-1)
        bad = values[(values < 0) | (values >= x.shape[axis])]
        require(bad.size == 0, f"index {int(bad[0]) if bad.size else 0} is outside [0, {x.shape[axis]})")
    return x, idx, y, axis, batch_dims


def lower(op, graph) -> KernelCall:
    x, idx, y, axis, batch_dims = _plan(op, graph)
    prod = lambda s: int(np.prod(s, dtype=np.int64))  # noqa: E731
    params = dict(batch=prod(x.shape[:batch_dims]), outer=prod(x.shape[batch_dims:axis]), axis_size=int(x.shape[axis]),
                  coords=prod(idx.shape[batch_dims:]), inner_bytes=prod(x.shape[axis + 1:]) * elem_size(x.dtype),
                  index_bytes=elem_size(idx.dtype))
    return KernelCall("mg_gather", "mg_gather", "mg_gather_params", params, [op.inputs[0], op.inputs[1], op.outputs[0]])


def evaluate(op, graph) -> list[np.ndarray]:
    x, idx, y, axis, batch_dims = _plan(op, graph)
    data = np.asarray(x.data).reshape(x.shape)
    indices = np.asarray(idx.data).reshape(idx.shape).astype(np.int64)
    b = int(np.prod(x.shape[:batch_dims], dtype=np.int64))
    xs = data.reshape((b,) + tuple(x.shape[batch_dims:]))
    ids = indices.reshape((b, -1))
    pieces = [np.take(xs[i], ids[i], axis=axis - batch_dims) for i in range(b)]
    return [np.stack(pieces).reshape(y.shape).astype(np_dtype(y.dtype))]
