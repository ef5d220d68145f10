"""RESHAPE: no code; the output shares the input's bytes (row-major order is unchanged).

The optional second input (the new shape as a tensor) and the new_shape option are not needed:
the output tensor's static shape already says everything.
"""
from __future__ import annotations

from .base import KernelCall, require, tensors

OPCODES = ("RESHAPE",)


def lower(op, graph) -> KernelCall:
    ins, outs = tensors(op, graph)
    require(1 <= len(ins) <= 2 and ins[0] is not None and len(outs) == 1,
            f"expects 1 or 2 inputs and 1 output, got {len(ins)} and {len(outs)}")
    x, (y,) = ins[0], outs
    require(x.dtype == y.dtype, f"input dtype {x.dtype} and output dtype {y.dtype} differ")
    require(x.size == y.size,
            f"input shape {list(x.shape)} ({x.size} elements) and output shape {list(y.shape)} "
            f"({y.size} elements) differ in size")
    return KernelCall(kernel=None, family=None, alias_input=op.inputs[0])
