"""Op registry: builtin operator name -> module in this package that lowers it.

Adding an op is one module here, one kernel family in runtime_c/, its tests, and one line below.
"""
from __future__ import annotations

import importlib

REGISTRY = {
    "FULLY_CONNECTED": "fully_connected",
    "CONV_2D": "conv2d",
    "DEPTHWISE_CONV_2D": "depthwise_conv2d",
    "AVERAGE_POOL_2D": "pooling",
    "MAX_POOL_2D": "pooling",
    "RESHAPE": "reshape",
    "SOFTMAX": "softmax",
    "ADD": "add",
}


def op_module(opcode: str):
    """The module that lowers `opcode`, or None when mcugen does not support it."""
    name = REGISTRY.get(opcode)
    return importlib.import_module(f"{__name__}.{name}") if name else None


def lower(op, graph):
    return op_module(op.opcode).lower(op, graph)
