"""CAST between int8, uint8, int16, int32, int64, float32 and bool.

Semantics of C++ static_cast, as TFLM (and LiteRT) compute it: integers wrap, float to integer
truncates toward zero, anything to bool is x != 0, quantization is ignored. Where static_cast is
undefined (float outside the target range or NaN), mcugen saturates (NaN gives 0). TFLM has no
uint8, int64 or bool outputs; those follow LiteRT.
"""
from __future__ import annotations

import numpy as np

from ..ir import np_dtype
from .base import KernelCall, require, tensors

OPCODES = ("CAST",)
TYPE_CODES = {"int8": 0, "uint8": 1, "int16": 2, "int32": 3, "int64": 4, "float32": 5, "bool": 6}


def _plan(op, graph):
    ins, outs = tensors(op, graph)
    require(len(ins) == 1 and ins[0] is not None and len(outs) == 1,
            f"expects 1 input and 1 output, got {len(ins)} and {len(outs)}")
    (x,), (y,) = ins, outs
    for t in (x, y):
        require(t.dtype in TYPE_CODES, f"tensor '{t.name}' has dtype {t.dtype}; supported: {', '.join(TYPE_CODES)}")
    require(x.size == y.size, f"input shape {list(x.shape)} and output shape {list(y.shape)} differ in size")
    return x, y


def lower(op, graph) -> KernelCall:
    x, y = _plan(op, graph)
    if x.dtype == y.dtype:
        return KernelCall(kernel=None, family=None, alias_input=op.inputs[0])
    params = dict(count=x.size, in_type=TYPE_CODES[x.dtype], out_type=TYPE_CODES[y.dtype])
    return KernelCall("mg_cast", "mg_cast", "mg_cast_params", params, [op.inputs[0], op.outputs[0]])


def cast_values(values: np.ndarray, dtype: str) -> np.ndarray:
    """The C kernel's conversion in numpy."""
    target = np.dtype(np_dtype(dtype))
    values = np.asarray(values)
    if target == np.bool_:
        return values != 0
    if values.dtype.kind == "f" and target.kind in "iu":
        info = np.iinfo(target)
        v = np.nan_to_num(values.astype(np.float64), nan=0.0)
        v = np.where(v < float(info.min), float(info.min), v)
        out = np.trunc(np.where(v >= float(info.max) + 1.0, float(info.max), v))
        return out.astype(np.int64 if target != np.uint64 else target).astype(target)
    if values.dtype == np.bool_:
        values = values.astype(np.int64)
    if target.kind == "f":
        return values.astype(target)
    return values.astype(np.int64).astype(target)  # wraps like the C conversion


def evaluate(op, graph) -> list[np.ndarray]:
    x, y = _plan(op, graph)
    return [cast_values(np.asarray(x.data), y.dtype).reshape(y.shape)]
