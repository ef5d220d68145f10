"""ARG_MAX and ARG_MIN along a constant axis, int32 or int64 output.

As TFLM's reference: plain > (or <) comparisons from the first element, so ties give the first
index, and a NaN never wins (a leading NaN stays). TFLM only has int32 outputs and int8/float32
inputs; int64 outputs and uint8/int32 inputs follow LiteRT.
"""
from __future__ import annotations

import numpy as np

from ..ir import np_dtype
from .base import KernelCall, require, suffix, tensors
from .concatenation import normalize_axis

OPCODES = ("ARG_MAX", "ARG_MIN")
INPUT_DTYPES = ("int8", "uint8", "int32", "float32")  # LiteRT has no int16 ARG_MAX/ARG_MIN


def _plan(op, graph):
    ins, outs = tensors(op, graph)
    require(len(ins) == 2 and None not in ins and len(outs) == 1,
            f"expects 2 inputs and 1 output, got {len(ins)} and {len(outs)}")
    (x, axis_t), (y,) = ins, outs
    require(x.dtype in INPUT_DTYPES, f"input '{x.name}' has dtype {x.dtype}; supported: {', '.join(INPUT_DTYPES)}")
    require(y.dtype in ("int32", "int64"), f"output dtype {y.dtype}; int32 or int64 expected")
    require(axis_t.is_constant and axis_t.size == 1, f"the axis '{axis_t.name}' must be one constant value")
    rank = len(x.shape)
    require(rank >= 1, "the input needs at least one dimension")
    axis = normalize_axis(int(np.asarray(axis_t.data).reshape(-1)[0]), rank)
    require(x.shape[axis] >= 1, f"axis {axis} is empty")
    expect = tuple(x.shape[:axis]) + tuple(x.shape[axis + 1:])
    require(tuple(y.shape) == expect, f"the output shape {list(y.shape)} should be {list(expect)}")
    return x, y, axis


def lower(op, graph) -> KernelCall:
    x, y, axis = _plan(op, graph)
    params = dict(outer=int(np.prod(x.shape[:axis], dtype=np.int64)), axis_size=int(x.shape[axis]),
                  inner=int(np.prod(x.shape[axis + 1:], dtype=np.int64)), is_max=int(op.opcode == "ARG_MAX"),
                  out_bytes=4 if y.dtype == "int32" else 8)
    return KernelCall(f"mg_arg_min_max_{suffix(x.dtype)}", "mg_arg_min_max", "mg_arg_min_max_params", params,
                      [op.inputs[0], op.outputs[0]])


def evaluate(op, graph) -> list[np.ndarray]:
    x, y, axis = _plan(op, graph)
    data = np.moveaxis(np.asarray(x.data).reshape(x.shape), axis, -1)
    best = data[..., 0].copy()
    index = np.zeros(best.shape, np.int64)
    for k in range(1, data.shape[-1]):
        v = data[..., k]
        wins = v > best if op.opcode == "ARG_MAX" else v < best
        best = np.where(wins, v, best)
        index = np.where(wins, k, index)
    return [index.astype(np_dtype(y.dtype)).reshape(y.shape)]
