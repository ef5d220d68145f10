"""TRANSPOSE with a constant permutation, up to 6-D, any dtype: one strided copy.

The output is written in order while the input is read through permuted strides; dimensions that
stay neighbours under the permutation are merged, so e.g. NHWC -> NCHW is a 2-D transpose of
(H*W, C). A permutation that only moves dimensions of size 1 leaves the bytes as they are: then
the output shares the input's bytes and no code runs.
"""
from __future__ import annotations

import numpy as np

from ..ir import np_dtype
from .base import KernelCall, require, tensors
from .strided_copy import Part, contiguous_strides, elem_size, is_plain_copy, lower_parts

OPCODES = ("TRANSPOSE",)
MAX_RANK = 6


def _plan(op, graph):
    ins, outs = tensors(op, graph)
    require(len(ins) == 2 and None not in ins and len(outs) == 1,
            f"expects 2 inputs and 1 output, got {len(ins)} and {len(outs)}")
    (x, perm_t), (y,) = ins, outs
    require(x.dtype == y.dtype, f"input dtype {x.dtype} and output dtype {y.dtype} differ")
    require(perm_t.is_constant, f"the permutation '{perm_t.name}' must be constant")
    rank = len(x.shape)
    require(rank <= MAX_RANK, f"rank {rank} is above the supported {MAX_RANK}")
    perm = [int(v) for v in np.asarray(perm_t.data).reshape(-1)]
    perm = [p + rank if p < 0 else p for p in perm]  # LiteRT accepts negative entries
    require(sorted(perm) == list(range(rank)), f"{perm} is not a permutation of {rank} dimensions")
    require(tuple(y.shape) == tuple(x.shape[p] for p in perm),
            f"input {list(x.shape)} permuted by {perm} does not give the output shape {list(y.shape)}")
    return x, y, perm


def lower(op, graph) -> KernelCall:
    x, y, perm = _plan(op, graph)
    in_strides = contiguous_strides(x.shape)
    part = Part(0, 1, list(y.shape), [in_strides[p] for p in perm], contiguous_strides(y.shape))
    if is_plain_copy([part], x.size):
        return KernelCall(kernel=None, family=None, alias_input=op.inputs[0])
    return lower_parts([part], elem_size(x.dtype), [op.inputs[0], op.outputs[0]])


def evaluate(op, graph) -> list[np.ndarray]:
    x, y, perm = _plan(op, graph)
    return [np.ascontiguousarray(np.transpose(np.asarray(x.data).reshape(x.shape), perm)).astype(np_dtype(y.dtype))]
