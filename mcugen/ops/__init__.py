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
    "ADD": OpInfo("add", "int8, int16, float32", "broadcasting up to 4-D"),
    "AVERAGE_POOL_2D": OpInfo("pooling", "int8, int16, float32", "SAME/VALID, fused activation"),
    "CONV_2D": OpInfo("conv2d", "int8, int16x8, float32, hybrid float32 with int8 weights", "strides, SAME/VALID, dilation, per-channel or per-tensor weights; int16x8 with int64 or int32 bias"),
    "DEPTHWISE_CONV_2D": OpInfo("depthwise_conv2d", "int8, int16x8, float32, hybrid float32 with int8 weights", "depth multiplier, dilation; int16x8 with int64 bias"),
    "FULLY_CONNECTED": OpInfo("fully_connected", "int8, int16x8, float32, hybrid float32 with int8 weights", "per-tensor or per-channel weights, batches; int16x8 with int64 or int32 bias"),
    "MAX_POOL_2D": OpInfo("pooling", "int8, int16, float32", "SAME/VALID, fused activation"),
    "RESHAPE": OpInfo("reshape", "any", "no code: the output shares the input's bytes"),
    "SOFTMAX": OpInfo("softmax", "int8 -> int8/int16, int16 -> int16, float32", "last axis, any beta"),
    "SUB": OpInfo("elementwise_binary", "int8, int32, float32", "broadcasting up to 4-D"),
    "MUL": OpInfo("elementwise_binary", "int8, int16, int32, float32", "broadcasting up to 4-D"),
    "MAXIMUM": OpInfo("elementwise_binary", "int8, int16, int32, float32", "broadcasting up to 4-D"),
    "MINIMUM": OpInfo("elementwise_binary", "int8, int16, int32, float32", "broadcasting up to 4-D"),
    "LOGISTIC": OpInfo("activations", "int8, int16, float32", ""),
    "TANH": OpInfo("activations", "int8, int16, float32", ""),
    "RELU": OpInfo("activations", "int8, float32", ""),
    "RELU6": OpInfo("activations", "int8, float32", "int8 requantizes as LiteRT does (TFLM only clamps)"),
    "LEAKY_RELU": OpInfo("activations", "int8, float32", ""),
    "PRELU": OpInfo("activations", "int8, float32", "alpha broadcast"),
    "HARD_SWISH": OpInfo("activations", "int8, float32", ""),
    "ELU": OpInfo("activations", "int8, float32", ""),
    "CONCATENATION": OpInfo("concatenation", "any", "any axis; int8 inputs may differ in quantization; fused activation"),
    "PAD": OpInfo("pad", "any", "constant paddings, any rank"),
    "PADV2": OpInfo("pad", "any", "constant paddings, any rank, pad value constant or computed"),
    "SQUEEZE": OpInfo("reshape", "any", "no code: the output shares the input's bytes"),
    "EXPAND_DIMS": OpInfo("reshape", "any", "no code: the output shares the input's bytes"),
    "TRANSPOSE": OpInfo("transpose", "any", "up to 6-D"),
    "STRIDED_SLICE": OpInfo("slicing", "any", "all masks (ellipsis, new axis, shrink), negative strides, offset"),
    "SLICE": OpInfo("slicing", "any", ""),
    "SPLIT": OpInfo("split", "any", "any axis"),
    "SPLIT_V": OpInfo("split", "any", "any axis"),
    "PACK": OpInfo("pack", "any", "any axis"),
    "UNPACK": OpInfo("pack", "any", "any axis"),
    "GATHER": OpInfo("gather", "any", "constant or runtime int32/int64 indices, batch_dims"),
    "SHAPE": OpInfo("shape", "any", "folded at compile time"),
    "CAST": OpInfo("cast", "int8, int16, int32, int64, uint8, float32, bool", ""),
    "ARG_MAX": OpInfo("arg_min_max", "int8, uint8, int32, float32", "int32/int64 output"),
    "ARG_MIN": OpInfo("arg_min_max", "int8, uint8, int32, float32", "int32/int64 output"),
    "MEAN": OpInfo("reduce", "int8, int16, float32", "any axes, keep_dims"),
    "SUM": OpInfo("reduce", "int8, int16, float32", "any axes, keep_dims"),
    "QUANTIZE": OpInfo("quantize", "float32 -> int8/int16, int8/int16 -> int8/int16", "per-tensor"),
    "DEQUANTIZE": OpInfo("dequantize", "int8, int16 -> float32", ""),
    "RESIZE_NEAREST_NEIGHBOR": OpInfo("resize", "int8, int16, float32", "align_corners, half_pixel_centers"),
    "RESIZE_BILINEAR": OpInfo("resize", "int8, float32", "align_corners, half_pixel_centers"),
    "L2_NORMALIZATION": OpInfo("l2_normalization", "int8, float32", "last axis"),
    "BATCH_MATMUL": OpInfo("batch_matmul", "int8, float32", "adj_x/adj_y, broadcast batch"),
    "TRANSPOSE_CONV": OpInfo("transpose_conv", "int8, float32", "SAME/VALID, strides, optional bias, per-channel weights"),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": OpInfo("lstm", "int8 (int16 cell), float32", "standard LSTM (no peephole/projection/layer norm/CIFG); state persists across invokes"),
    "SVDF": OpInfo("svdf", "int8, float32", "int16 or int8 state (int8 needs a bias); state persists across invokes"),
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
