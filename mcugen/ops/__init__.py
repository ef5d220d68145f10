"""Op registry: builtin operator name -> (module in this package, dtypes, limits).

Adding an op is one module here, one kernel family in runtime_c/, its tests, and one line below.
`mcugen ops` and the README's op table are generated from this table.
"""
from __future__ import annotations

import importlib
from typing import NamedTuple


class OpInfo(NamedTuple):
    module: str
    dtypes: str  # activation dtypes
    limits: str = ""


REGISTRY = {
    "ADD": OpInfo("add", "int8, float32", "broadcasting up to 4-D"),
    "AVERAGE_POOL_2D": OpInfo("pooling", "int8, float32", "SAME/VALID, fused activation"),
    "CONV_2D": OpInfo("conv2d", "int8, float32", "strides, SAME/VALID, dilation, per-channel or per-tensor weights"),
    "DEPTHWISE_CONV_2D": OpInfo("depthwise_conv2d", "int8, float32", "depth multiplier, dilation"),
    "FULLY_CONNECTED": OpInfo("fully_connected", "int8, float32", "per-tensor or per-channel weights, batches"),
    "MAX_POOL_2D": OpInfo("pooling", "int8, float32", "SAME/VALID, fused activation"),
    "RESHAPE": OpInfo("reshape", "any", "no code: the output shares the input's bytes"),
    "SOFTMAX": OpInfo("softmax", "int8 -> int8/int16, float32", "last axis, any beta"),
}


def op_module(opcode: str):
    """The module that lowers `opcode`, or None when mcugen does not support it."""
    info = REGISTRY.get(opcode)
    return importlib.import_module(f"{__name__}.{info.module}") if info else None


def markdown_table() -> str:
    """The supported-ops table of the README."""
    lines = ["| op | dtypes | limits |", "|---|---|---|"]
    lines += [f"| {name} | {info.dtypes} | {info.limits} |" for name, info in sorted(REGISTRY.items())]
    return "\n".join(lines)
