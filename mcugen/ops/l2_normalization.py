"""L2_NORMALIZATION over the last axis, int8 and float32.

float32 follows TFLM: x / max(sqrt(sum x^2), 1e-6), the sum in float in memory order.

int8 follows TFLM's reference_integer_ops::L2Normalization bit for bit. The sum of squares of
(x - zero_point) is known only at run time, so the C kernel computes TFLM's
GetInvSqrtQuantizedMultiplierExp (a fixed-point Newton-Raphson 1/sqrt in gemmlowp arithmetic)
once per row, then MultiplyByQuantizedMultiplier(x - zero_point, multiplier, shift + 7) clamped
to int8. The output is in 1/128 units with zero point 0: TFLM writes those values whatever the
output tensor says, so mcugen requires that quantization (LiteRT requires it too) rather than
produce numbers the output's parameters would misread.
"""
from __future__ import annotations

import numpy as np

from .base import KernelCall, require, require_dtypes, tensors

OPCODES = ("L2_NORMALIZATION",)

MAX_INT8_DEPTH = (2 ** 31 - 1) // (255 * 255)  # the int32 sum of squares cannot overflow


def lower(op, graph) -> KernelCall:
    ins, outs = tensors(op, graph)
    require(len(ins) == 1 and ins[0] is not None and len(outs) == 1,
            f"expects 1 input and 1 output, got {len(ins)} and {len(outs)}")
    (x,), (y,) = ins, outs
    activation = op.options.get("fused_activation_function", "NONE")
    require(activation == "NONE", f"fused activation {activation} is not supported (TFLM supports none)")
    require(x.dtype == y.dtype, f"input dtype {x.dtype} and output dtype {y.dtype} differ")
    require_dtypes([x], ("int8", "float32"))
    require(len(x.shape) >= 1 and x.shape[-1] >= 1, f"input shape {list(x.shape)} has no last axis")
    require(x.size == y.size, f"input shape {list(x.shape)} and output shape {list(y.shape)} differ")
    depth = int(x.shape[-1])
    dims = dict(rows=x.size // depth, depth=depth)
    args = [op.inputs[0], op.outputs[0]]
    if x.dtype == "float32":
        return KernelCall("mg_l2_normalization_f32", "mg_l2_normalization", "mg_l2_normalization_f32_params",
                          dict(dims, epsilon=1e-6), args, macs=2 * x.size)
    require(x.quant is not None and y.quant is not None, "int8 L2_NORMALIZATION needs quantized input and output")
    require(np.float32(y.scale) == np.float32(1 / 128) and y.zero_point == 0,
            f"int8 output must have scale 1/128 and zero point 0 (TFLM's fixed output), "
            f"got scale {y.scale} and zero point {y.zero_point}")
    require(depth <= MAX_INT8_DEPTH, f"depth {depth} is too large for int8 (at most {MAX_INT8_DEPTH})")
    return KernelCall("mg_l2_normalization_s8", "mg_l2_normalization", "mg_l2_normalization_s8_params",
                      dict(dims, input_zero_point=x.zero_point), args, macs=2 * x.size)
