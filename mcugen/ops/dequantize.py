"""DEQUANTIZE: int8/int16 -> float32, per-tensor.

TFLM computes float(double(scale) * (q - zero_point)). The exact product of a float32 scale and an
integer below 2^24 fits a double, so that is the correctly rounded float32 product, and the C
kernel's float32 multiply scale * (float)(q - zero_point) gives the same bits without doubles.
"""
from __future__ import annotations

import numpy as np

from .base import KernelCall, require, require_dtypes, suffix, tensors

OPCODES = ("DEQUANTIZE",)


def _check(op, graph):
    ins, outs = tensors(op, graph)
    require(len(ins) == 1 and ins[0] is not None and len(outs) == 1,
            f"expects 1 input and 1 output, got {len(ins)} and {len(outs)}")
    (x,), (y,) = ins, outs
    require_dtypes([x], ("int8", "int16"), "input")
    require_dtypes([y], ("float32",), "output")
    require(x.size == y.size, f"input shape {list(x.shape)} and output shape {list(y.shape)} differ")
    require(x.quant is not None, f"input '{x.name}' has no quantization parameters")
    # TFLM's DEQUANTIZE reads params.scale/zero_point only: per-channel tensors would use the first.
    require(not x.quant.per_channel, f"per-channel input '{x.name}' is not supported (TFLM supports none)")
    return x, y


def lower(op, graph) -> KernelCall:
    x, y = _check(op, graph)
    return KernelCall(f"mg_dequantize_{suffix(x.dtype)}_f32", "mg_dequantize", "mg_dequantize_params",
                      dict(size=x.size, scale=float(np.float32(x.scale)), zero_point=x.zero_point),
                      [op.inputs[0], op.outputs[0]], macs=x.size)


def evaluate(op, graph) -> list[np.ndarray]:
    """Constant folding, bit for bit what TFLM and the kernel compute."""
    x, y = _check(op, graph)
    q = np.asarray(x.data).astype(np.float64) - x.zero_point
    return [(np.float64(np.float32(x.scale)) * q).astype(np.float32).reshape(y.shape)]
