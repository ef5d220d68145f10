"""PAD and PADV2 with constant paddings, any rank, as strided copies (mcugen/ops/strided_copy.py).

The output is split into disjoint boxes: the input's box (one copy) and, per dimension, the
slabs before and after it (fills: the source is the pad value with every source stride 0), so
every output byte is written once.

Pad value, as TFLM: PADV2's constant, copied as it is; PAD's is the output zero point for int8
(and uint8), else 0. Like TFLM, the input is copied without requantization.
"""
from __future__ import annotations

import numpy as np

from ..ir import np_dtype
from .base import ConstArray, KernelCall, require, tensors
from .strided_copy import Part, contiguous_strides, elem_size, is_plain_copy, lower_parts

OPCODES = ("PAD", "PADV2")

_C_TYPES = {"int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t",
            "float32": "float", "bool": "uint8_t"}


def _plan(op, graph):
    ins, outs = tensors(op, graph)
    want = 3 if op.opcode == "PADV2" else 2
    require(len(ins) in (2, want) and ins[0] is not None and ins[1] is not None and len(outs) == 1,
            f"expects {want} inputs and 1 output, got {len(ins)} and {len(outs)}")
    x, paddings, y = ins[0], ins[1], outs[0]
    value_tensor = ins[2] if len(ins) == 3 else None
    require(x.dtype == y.dtype and x.dtype in _C_TYPES, f"input dtype {x.dtype} and output dtype {y.dtype} must be equal")
    require(paddings.is_constant, f"paddings '{paddings.name}' must be constant")
    rank = len(x.shape)
    pads = np.asarray(paddings.data).astype(np.int64).reshape(-1)
    require(pads.size == 2 * rank and len(y.shape) == rank,
            f"paddings of shape {list(paddings.shape)} do not fit input rank {rank} and output rank {len(y.shape)}")
    pads = pads.reshape(rank, 2)
    require(bool(np.all(pads >= 0)), f"negative paddings {pads.tolist()} are not supported")
    expect = tuple(int(d + a + b) for d, (a, b) in zip(x.shape, pads))
    require(expect == tuple(y.shape), f"input {list(x.shape)} padded by {pads.tolist()} is {list(expect)}, "
                                      f"but the output shape is {list(y.shape)}")
    if value_tensor is not None:
        require(value_tensor.dtype == x.dtype and value_tensor.size == 1,
                f"the pad value '{value_tensor.name}' must be one {x.dtype} value")
        vq, yq = value_tensor.quant, y.quant
        require(vq is None or yq is None or (np.float32(value_tensor.scale) == np.float32(y.scale)
                                             and value_tensor.zero_point == y.zero_point),
                f"the pad value '{value_tensor.name}' is quantized differently from the output (TFLM and LiteRT refuse it)")
    return x, y, pads, value_tensor


def _default_value(y) -> np.ndarray:
    if y.dtype in ("int8", "uint8") and y.quant is not None:
        return np.array([y.zero_point], np.int64).astype(np_dtype(y.dtype))
    return np.zeros(1, np_dtype(y.dtype))


def lower(op, graph) -> KernelCall:
    x, y, pads, value_tensor = _plan(op, graph)
    copy = Part(0, 2, list(x.shape), contiguous_strides(x.shape), contiguous_strides(y.shape),
                dst_offset=int(sum(int(p) * s for p, s in zip(pads[:, 0], contiguous_strides(y.shape)))))
    if not pads.any() and is_plain_copy([copy], x.size):
        return KernelCall(kernel=None, family=None, alias_input=op.inputs[0])
    parts = [copy] + fill_parts(x.shape, y.shape, pads, src=1, dst=2)
    # PADV2's value is a tensor (in flash, or in the arena if computed); PAD's is made here.
    value = op.inputs[2] if value_tensor is not None else ConstArray(_C_TYPES[y.dtype], _default_value(y))
    return lower_parts(parts, elem_size(y.dtype), [op.inputs[0], value, op.outputs[0]])


def fill_parts(in_shape, out_shape, pads, src: int, dst: int) -> list[Part]:
    """Disjoint boxes covering the output outside the input's box, filled from one element."""
    rank = len(in_shape)
    ostrides = contiguous_strides(out_shape)
    parts = []
    for k in range(rank):
        # Dimensions before k are inside the input's box, k is in a slab, the rest are full.
        sizes = [int(d) for d in in_shape[:k]] + [0] + [int(d) for d in out_shape[k + 1:]]
        base = sum(int(pads[j, 0]) * ostrides[j] for j in range(k))
        for start, size in ((0, int(pads[k, 0])), (int(pads[k, 0]) + int(in_shape[k]), int(pads[k, 1]))):
            if size == 0:
                continue
            sizes[k] = size
            parts.append(Part(src, dst, list(sizes), [0] * rank, list(ostrides), dst_offset=base + start * ostrides[k]))
    return parts


def evaluate(op, graph) -> list[np.ndarray]:
    x, y, pads, value_tensor = _plan(op, graph)
    value = value_tensor.data.reshape(-1)[0] if value_tensor is not None else _default_value(y)[0]
    out = np.pad(np.asarray(x.data).reshape(x.shape), [(int(a), int(b)) for a, b in pads], constant_values=value)
    return [out.astype(np_dtype(y.dtype))]
