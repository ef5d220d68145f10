"""What an op module produces: one KernelCall per operator.

An op module (mcugen/ops/<op>.py) defines:
    OPCODES = ("CONV_2D",)                   # builtin operator names it handles
    def lower(op, graph) -> KernelCall       # validate and precompute; raise Unsupported(reason)

Codegen turns a KernelCall into C:
    static const <params_type> op<i>_params = { .field = value, ... };
    <kernel>(&op<i>_params, <args...>);
Arguments are tensor indices (activations live in the arena, constants in flash),
ConstArray values the op computed itself (folded biases, multipliers), or SCRATCH.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import Unsupported
from ..ir import Graph, Operator, Tensor


@dataclass
class ConstArray:
    """A constant the op computed at generation time; emitted as a static const array in flash."""

    ctype: str  # "int32_t", "int8_t", "float", ...
    values: np.ndarray


SCRATCH = "scratch"  # argument placeholder: this step's scratch buffer in the arena


@dataclass
class KernelCall:
    kernel: str | None  # C function, e.g. "mg_conv2d_s8"; None for ops that generate no code (aliases)
    family: str | None  # runtime_c file stem, e.g. "mg_conv2d" -> mg_conv2d.h / mg_conv2d.c
    params_type: str | None = None  # C struct typedef, e.g. "mg_conv2d_params"
    params: dict = field(default_factory=dict)  # field -> int | float | str (C expression) | ConstArray
    args: list = field(default_factory=list)  # int tensor index | ConstArray | SCRATCH
    macs: int = 0
    scratch_bytes: int = 0
    alias_input: int | None = None  # output shares this input tensor's bytes (RESHAPE)


def tensors(op: Operator, graph: Graph) -> tuple[list[Tensor | None], list[Tensor]]:
    ins = [graph.tensor(i) if i >= 0 else None for i in op.inputs]
    outs = [graph.tensor(i) for i in op.outputs]
    return ins, outs


def require(cond: bool, reason: str) -> None:
    if not cond:
        raise Unsupported(reason)


def require_dtypes(ts: list[Tensor | None], allowed: tuple[str, ...], what: str = "tensor") -> None:
    for t in ts:
        if t is not None and t.dtype not in allowed:
            raise Unsupported(f"{what} '{t.name}' has dtype {t.dtype}; supported: {', '.join(allowed)}")


def suffix(dtype: str) -> str:
    """Kernel name suffix for an activation dtype: int8 -> s8, float32 -> f32."""
    return {"int8": "s8", "int16": "s16", "float32": "f32", "int32": "s32", "uint8": "u8"}[dtype]


def padding_amount(padding: str, in_size: int, filter_size: int, stride: int, dilation: int, out_size: int) -> int:
    """Leading padding (top or left) as TFLite computes it: SAME pads evenly with the extra on the end."""
    if padding == "VALID":
        return 0
    effective = (filter_size - 1) * dilation + 1
    total = max((out_size - 1) * stride + effective - in_size, 0)
    return total // 2


def int32_array(values) -> ConstArray:
    return ConstArray("int32_t", np.asarray(values, dtype=np.int32))


def float_array(values) -> ConstArray:
    return ConstArray("float", np.asarray(values, dtype=np.float32))


def wrap_int32(values: np.ndarray) -> np.ndarray:
    """int64 -> int32 with two's-complement wrap-around, as the int32 accumulators in C behave."""
    v = np.asarray(values, dtype=np.int64)
    return ((v + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)
