"""RESHAPE, SQUEEZE and EXPAND_DIMS: no code; the output shares the input's bytes (row-major order
is unchanged).

The optional second input (RESHAPE's new shape, EXPAND_DIMS's axis) and the options are not
needed: the output tensor's static shape already says everything.
"""
from __future__ import annotations

import numpy as np

from ..ir import np_dtype
from .base import KernelCall, require, tensors

OPCODES = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")


def _check(op, graph):
    ins, outs = tensors(op, graph)
    require(1 <= len(ins) <= 2 and ins[0] is not None and len(outs) == 1,
            f"expects 1 or 2 inputs and 1 output, got {len(ins)} and {len(outs)}")
    x, (y,) = ins[0], outs
    require(x.dtype == y.dtype, f"input dtype {x.dtype} and output dtype {y.dtype} differ")
    require(x.size == y.size,
            f"input shape {list(x.shape)} ({x.size} elements) and output shape {list(y.shape)} "
            f"({y.size} elements) differ in size")
    return x, y


def lower(op, graph) -> KernelCall:
    _check(op, graph)
    return KernelCall(kernel=None, family=None, alias_input=op.inputs[0])


def evaluate(op, graph) -> list[np.ndarray]:
    x, y = _check(op, graph)
    return [np.asarray(x.data).reshape(y.shape).astype(np_dtype(y.dtype))]
