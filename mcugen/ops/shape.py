"""SHAPE: shapes are static, so the output is a constant.

mcugen/passes.py always folds it (it needs the input's shape, not its values), so no code runs.
lower() is the fallback when a graph is lowered without the passes: it copies the constant.
"""
from __future__ import annotations

import numpy as np

from ..ir import np_dtype
from .base import ConstArray, KernelCall, require, tensors
from .strided_copy import Part, elem_size, lower_parts

OPCODES = ("SHAPE",)


def foldable(op, graph) -> bool:
    """Folded even when the input is not constant: only its static shape is read."""
    return True


def evaluate(op, graph) -> list[np.ndarray]:
    ins, outs = tensors(op, graph)
    require(len(ins) == 1 and ins[0] is not None and len(outs) == 1,
            f"expects 1 input and 1 output, got {len(ins)} and {len(outs)}")
    x, y = ins[0], outs[0]
    require(y.dtype in ("int32", "int64"), f"output dtype {y.dtype}; int32 or int64 expected")
    require(tuple(y.shape) == (len(x.shape),), f"output shape {list(y.shape)} cannot hold a rank-{len(x.shape)} shape")
    return [np.array(x.shape, dtype=np_dtype(y.dtype)).reshape(y.shape)]


def lower(op, graph) -> KernelCall:
    (value,) = evaluate(op, graph)
    y = graph.tensor(op.outputs[0])
    ctype = "int32_t" if y.dtype == "int32" else "int64_t"
    part = Part(0, 1, [value.size], [1], [1])
    return lower_parts([part], elem_size(y.dtype), [ConstArray(ctype, value), op.outputs[0]])
