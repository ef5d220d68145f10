"""CONCATENATION along any axis, any dtype: one strided copy per input (mcugen/ops/strided_copy.py).

TFLM copies bytes and refuses two things this module accepts:
- int8 inputs whose scale or zero point differ from the output's (LiteRT refuses them too). mcugen
  rescales them with LiteRT's uint8 formula (reference_ops::ConcatenationWithScaling: float32,
  round half away from zero) applied to x + 128, so int8 gives exactly what LiteRT gives on the
  same model in uint8. uint8 inputs are rescaled as LiteRT does.
- a fused activation (LiteRT's reference kernel refuses it, its default kernel ignores it):
  mcugen applies it, as a clamp.
For 8-bit types the rescaling and the clamp are evaluated here for all 256 byte values and the C
kernel looks them up. int16 inputs are copied as they are, as TFLM does (it only requires zero
points of 0).
"""
from __future__ import annotations

import numpy as np

from .. import quant
from ..ir import np_dtype
from .base import KernelCall, require, tensors
from .strided_copy import MODE_CLAMP_F32, MODE_COPY, axis_split, elem_size, join_parts, lower_parts

OPCODES = ("CONCATENATION",)
_RANGES = {"int8": (-128, 127), "uint8": (0, 255)}
_IDENTITY = np.arange(256, dtype=np.uint8)


def normalize_axis(axis: int, rank: int, what: str = "axis") -> int:
    require(-rank <= axis < rank, f"{what} {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def _same_quant(a, b) -> bool:
    if a.quant is None or b.quant is None:
        return a.quant is None and b.quant is None
    return (a.quant.scale.size == 1 and b.quant.scale.size == 1 and np.float32(a.scale) == np.float32(b.scale)
            and a.zero_point == b.zero_point)


def rescale_table(dtype: str, x_scale: float, x_zero_point: int, y_scale: float, y_zero_point: int,
                  lo: int, hi: int) -> np.ndarray:
    """table[byte]: the output byte for an input byte, LiteRT's uint8 rescaling (int8: on x + 128), clamped."""
    shift = 128 if dtype == "int8" else 0
    x = _IDENTITY.view(np.int8).astype(np.int64) if dtype == "int8" else _IDENTITY.astype(np.int64)
    inverse = np.float32(1.0) / np.float32(y_scale)
    scale = np.float32(x_scale) * inverse
    bias = np.float32(-(x_zero_point + shift)) * scale
    v = ((x + shift).astype(np.float32) * scale + bias).astype(np.float64)  # float32 steps, no fused multiply-add
    rounded = (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int64)  # std::round: half away from zero
    out = np.clip(rounded + y_zero_point + shift, 0, 255) - shift
    return _as_bytes(np.clip(out, lo, hi), dtype)


def _clamp_table(dtype: str, lo: int, hi: int) -> np.ndarray:
    x = _IDENTITY.view(np.int8).astype(np.int64) if dtype == "int8" else _IDENTITY.astype(np.int64)
    return _as_bytes(np.clip(x, lo, hi), dtype)


def _as_bytes(values: np.ndarray, dtype: str) -> np.ndarray:
    return values.astype(np_dtype(dtype)).view(np.uint8)


def _plan(op, graph):
    ins, outs = tensors(op, graph)
    require(len(ins) >= 1 and None not in ins and len(outs) == 1,
            f"expects at least 1 input and 1 output, got {len(ins)} and {len(outs)}")
    y = outs[0]
    rank = len(y.shape)
    require(rank >= 1, "the output must have at least one dimension")
    axis = normalize_axis(int(op.options.get("axis", 0)), rank)
    for t in ins:
        require(t.dtype == y.dtype, f"input '{t.name}' has dtype {t.dtype}, the output {y.dtype}")
        require(len(t.shape) == rank and all(t.shape[d] == y.shape[d] for d in range(rank) if d != axis),
                f"input '{t.name}' of shape {list(t.shape)} does not fit the output shape {list(y.shape)} on axis {axis}")
    require(sum(t.shape[axis] for t in ins) == y.shape[axis],
            f"the inputs' sizes along axis {axis} do not add up to the output's {y.shape[axis]}")
    activation = op.options.get("fused_activation_function", "NONE")
    require(activation in quant.SUPPORTED_ACTIVATIONS, f"fused activation {activation} is not supported")
    require(activation == "NONE" or y.dtype in ("int8", "uint8", "float32"),
            f"a fused activation needs int8, uint8 or float32, not {y.dtype}")

    modes, luts = [], []
    act_range = None
    if y.dtype in _RANGES and (activation != "NONE" or not all(_same_quant(t, y) for t in ins)):
        for t in (*ins, y):
            require(t.quant is not None and t.quant.scale.size == 1 and t.scale > 0,
                    f"{y.dtype} tensor '{t.name}' needs a per-tensor quantization to be rescaled")
        lo, hi = quant.activation_range_quantized(activation, y.scale, y.zero_point, *_RANGES[y.dtype])
        for t in ins:
            if _same_quant(t, y):
                table = _clamp_table(y.dtype, lo, hi)
            else:
                table = rescale_table(y.dtype, t.scale, t.zero_point, y.scale, y.zero_point, lo, hi)
            if np.array_equal(table, _IDENTITY):
                modes.append(MODE_COPY)
            else:
                luts.append(table)
                modes.append(len(luts))
    elif y.dtype == "float32" and activation != "NONE":
        act_range = quant.activation_range_float(activation)
        modes = [MODE_CLAMP_F32] * len(ins)
    else:
        modes = [MODE_COPY] * len(ins)
    return ins, y, axis, modes, luts, act_range


def lower(op, graph) -> KernelCall:
    ins, y, axis, modes, luts, act_range = _plan(op, graph)
    outer, total, inner = axis_split(y.shape, axis)
    parts = join_parts([(i, t.shape[axis]) for i, t in enumerate(ins)], outer, inner, total, len(ins))
    for part, mode in zip(parts, modes):
        part.mode = mode
    if len(ins) == 1 and modes[0] == MODE_COPY:
        return KernelCall(kernel=None, family=None, alias_input=op.inputs[0])
    return lower_parts(parts, elem_size(y.dtype), [*op.inputs, op.outputs[0]], luts=luts, act_range=act_range)


def evaluate(op, graph) -> list[np.ndarray]:
    ins, y, axis, modes, luts, act_range = _plan(op, graph)
    pieces = []
    for t, mode in zip(ins, modes):
        x = np.asarray(t.data).reshape(t.shape)
        if mode > 0:
            x = luts[mode - 1][x.view(np.uint8)].view(x.dtype)
        elif mode == MODE_CLAMP_F32:
            x = np.clip(x, np.float32(act_range[0]), np.float32(act_range[1])).astype(np.float32)
        pieces.append(x)
    return [np.concatenate(pieces, axis=axis).astype(np_dtype(y.dtype))]
