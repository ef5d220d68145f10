"""QUANTIZE: float32 -> int8/int16, and requantization int8/int16 -> int8/int16.

float32 input follows TFLM's AffineQuantize: q = round(x / scale) + zero_point, with the division
in float32 and round() half away from zero, clamped to the output type. Where TFLM's float -> int32
conversion is undefined (|x / scale| >= 2^31, NaN) the C kernel saturates instead: +big -> max,
-big and NaN -> min (TFLM on x86 gives min for +big as well; see the tests).

Integer input follows TFLM's Requantize: MultiplyByQuantizedMultiplier(q - input_zero_point) with
QuantizeMultiplier(input_scale / output_scale), plus the output zero point, clamped. For int8
input that depends on the input value alone, so for tensors of at least TABLE_MIN_ELEMENTS values
the 256 results are computed here and the C kernel only looks them up.
"""
from __future__ import annotations

import numpy as np

from .. import quant
from .base import ConstArray, KernelCall, require, require_dtypes, suffix, tensors

OPCODES = ("QUANTIZE",)

TABLE_MIN_ELEMENTS = 256  # below this the table's flash costs more than the time it saves
_RANGES = {"int8": (quant.INT8_MIN, quant.INT8_MAX), "int16": (quant.INT16_MIN, quant.INT16_MAX)}


def requantize_values(values: np.ndarray, in_zp: int, out_zp: int, multiplier: int, shift: int,
                      out_dtype: str) -> np.ndarray:
    """TFLM's Requantize on Python ints (the table's contents)."""
    lo, hi = _RANGES[out_dtype]
    out = [min(max(quant.multiply_by_quantized_multiplier(int(v) - in_zp, multiplier, shift) + out_zp, lo), hi)
           for v in values.reshape(-1)]
    return np.array(out, dtype=np.int64).reshape(values.shape)


def quantize_float(values: np.ndarray, scale: float, zero_point: int, out_dtype: str) -> np.ndarray:
    """TFLM's AffineQuantize in numpy (float32 division, round half away from zero), saturating."""
    lo, hi = _RANGES[out_dtype]
    v = (np.asarray(values, np.float32) / np.float32(scale)).astype(np.float64)
    r = np.sign(v) * np.floor(np.abs(v) + 0.5)  # roundf, exact in float64
    r = np.nan_to_num(r, nan=-np.inf)
    return np.clip(np.clip(r, -(2.0 ** 31), 2.0 ** 31 - 1) + zero_point, lo, hi).astype(np.int64)


def _check(op, graph):
    ins, outs = tensors(op, graph)
    require(len(ins) == 1 and ins[0] is not None and len(outs) == 1,
            f"expects 1 input and 1 output, got {len(ins)} and {len(outs)}")
    (x,), (y,) = ins, outs
    require_dtypes([x], ("float32", "int8", "int16"), "input")
    require_dtypes([y], ("int8", "int16"), "output")
    require(x.size == y.size, f"input shape {list(x.shape)} and output shape {list(y.shape)} differ")
    require(y.quant is not None and not y.quant.per_channel,
            f"output '{y.name}' needs per-tensor quantization (TFLM supports no other)")
    require(y.scale > 0, f"output scale must be positive, got {y.scale}")
    if x.dtype != "float32":
        require(x.quant is not None and x.scale > 0, f"input '{x.name}' needs quantization with a positive scale")
    return x, y


def _multiplier(x, y) -> tuple[int, int]:
    # TFLM: QuantizeMultiplier(double(input scale) / double(output scale)).
    return quant.quantize_multiplier(float(np.float64(x.scale) / np.float64(y.scale)))


def lower(op, graph) -> KernelCall:
    x, y = _check(op, graph)
    args = [op.inputs[0], op.outputs[0]]
    lo, hi = _RANGES[y.dtype]
    sx, sy = suffix(x.dtype), suffix(y.dtype)
    if x.dtype == "float32":
        return KernelCall(f"mg_quantize_f32_{sy}", "mg_quantize", "mg_quantize_f32_params",
                          dict(size=x.size, scale=float(np.float32(y.scale)), zero_point=y.zero_point,
                               qmin=lo, qmax=hi), args, macs=x.size)
    multiplier, shift = _multiplier(x, y)
    if x.dtype == "int8" and x.size >= TABLE_MIN_ELEMENTS:
        table = requantize_values(np.arange(-128, 128), x.zero_point, y.zero_point, multiplier, shift, y.dtype)
        ctype, np_type = ("int8_t", np.int8) if y.dtype == "int8" else ("int16_t", np.int16)
        return KernelCall(f"mg_requantize_s8_{sy}_table", "mg_quantize", f"mg_requantize_{sy}_table_params",
                          dict(size=x.size, table=ConstArray(ctype, table.astype(np_type))), args, macs=x.size)
    return KernelCall(f"mg_requantize_{sx}_{sy}", "mg_quantize", "mg_requantize_params",
                      dict(size=x.size, input_offset=-x.zero_point, multiplier=multiplier, shift=shift,
                           output_offset=y.zero_point, qmin=lo, qmax=hi), args, macs=x.size)


def evaluate(op, graph) -> list[np.ndarray]:
    """Constant folding: the same values the kernels compute."""
    x, y = _check(op, graph)
    data = np.asarray(x.data)
    if x.dtype == "float32":
        out = quantize_float(data, y.scale, y.zero_point, y.dtype)
    else:
        multiplier, shift = _multiplier(x, y)
        out = requantize_values(data.astype(np.int64), x.zero_point, y.zero_point, multiplier, shift, y.dtype)
    return [out.astype(np.int8 if y.dtype == "int8" else np.int16).reshape(y.shape)]
