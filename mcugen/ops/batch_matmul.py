"""BATCH_MATMUL: out[..., i, j] = sum_k lhs[..., i, k] * rhs[..., k, j], adj_x/adj_y, broadcast batches.

int8 follows TFLM: acc = sum (lhs - lhs_zp) * (rhs - rhs_zp) in int32, then
MultiplyByQuantizedMultiplier with QuantizeMultiplier(double(float(lhs_scale * rhs_scale)) /
double(output_scale)) (TFLM's GetQuantizedConvolutionMultipler without bias multiplies the two
scales in float32 first), plus the output zero point, clamped to int8 (no fused activation).
float32 sums k in order from 0, as TFLM's reference BatchMatMul.

TFLM transposes operands into persistent buffers (rhs unless adj_y, lhs if adj_x); here adj_x and
adj_y only change the element strides the C kernel walks, so nothing is copied at run time. A
constant operand whose reduction axis would be strided is transposed here instead, so the inner
loop reads both operands contiguously. Batch dimensions broadcast as ADD's do: size-1 dimensions
dropped, neighbours merged, at most 4 loops.
"""
from __future__ import annotations

import numpy as np

from .. import quant
from .add import broadcast_plan
from .base import ConstArray, KernelCall, require, require_dtypes, suffix, tensors

OPCODES = ("BATCH_MATMUL",)

MAX_INT8_DEPTH = (2 ** 31 - 1) // (255 * 255)  # the int32 accumulator cannot overflow


def output_shape(lhs_shape, rhs_shape, adj_x: bool, adj_y: bool) -> tuple[int, ...]:
    """TFLM's output shape (raises Unsupported when the shapes do not fit)."""
    require(len(lhs_shape) >= 2 and len(rhs_shape) >= 2,
            f"operands must be at least 2-D, got {list(lhs_shape)} and {list(rhs_shape)}")
    rows, depth = (lhs_shape[-1], lhs_shape[-2]) if adj_x else (lhs_shape[-2], lhs_shape[-1])
    rdepth, cols = (rhs_shape[-1], rhs_shape[-2]) if adj_y else (rhs_shape[-2], rhs_shape[-1])
    require(depth == rdepth, f"inner dimensions differ: {list(lhs_shape)} x {list(rhs_shape)} "
                             f"(adj_x={adj_x}, adj_y={adj_y})")
    lb, rb = list(lhs_shape[:-2]), list(rhs_shape[:-2])
    rank = max(len(lb), len(rb))
    lb, rb = [1] * (rank - len(lb)) + lb, [1] * (rank - len(rb)) + rb
    for a, b in zip(lb, rb):
        require(a == b or 1 in (a, b), f"batch dimensions of {list(lhs_shape)} and {list(rhs_shape)} do not broadcast")
    return tuple(max(a, b) for a, b in zip(lb, rb)) + (int(rows), int(cols))


def _transposed_const(t, swap: bool) -> np.ndarray:
    data = np.asarray(t.data).reshape(t.shape)
    return np.ascontiguousarray(np.swapaxes(data, -1, -2)) if swap else data


def lower(op, graph) -> KernelCall:
    ins, outs = tensors(op, graph)
    require(len(ins) == 2 and None not in ins and len(outs) == 1,
            f"expects 2 inputs and 1 output, got {len(ins)} and {len(outs)}")
    (lhs, rhs), (y,) = ins, outs
    adj_x = bool(op.options.get("adj_x", False))
    adj_y = bool(op.options.get("adj_y", False))
    require(lhs.dtype == rhs.dtype == y.dtype,
            f"operand dtypes {lhs.dtype}, {rhs.dtype} and output dtype {y.dtype} must be equal "
            "(TFLM has no hybrid BATCH_MATMUL)")
    require_dtypes([lhs], ("int8", "float32"))
    out = output_shape(lhs.shape, rhs.shape, adj_x, adj_y)
    require(y.size == int(np.prod(out, dtype=np.int64)), f"output shape {list(y.shape)} does not match {list(out)}")
    rows, cols = out[-2], out[-1]
    depth = lhs.shape[-2] if adj_x else lhs.shape[-1]
    require(rows * cols * depth > 0, "empty matrices are not supported")

    # Element strides of one matrix: lhs[i, k] and rhs[k, j].
    lhs_row, lhs_depth = (1, rows) if adj_x else (depth, 1)
    rhs_depth, rhs_col = (1, depth) if adj_y else (cols, 1)
    args = [op.inputs[0], op.inputs[1], op.outputs[0]]
    ctype = "float" if lhs.dtype == "float32" else "int8_t"
    if lhs.is_constant and adj_x:  # store lhs as [.., rows, depth]
        args[0] = ConstArray(ctype, _transposed_const(lhs, True))
        lhs_row, lhs_depth = depth, 1
    if rhs.is_constant and not adj_y:  # store rhs as [.., cols, depth]
        args[1] = ConstArray(ctype, _transposed_const(rhs, True))
        rhs_depth, rhs_col = 1, depth

    sizes, lstr, rstr = broadcast_plan(lhs.shape[:-2], rhs.shape[:-2], out[:-2])
    params = dict(batch_size="{" + ", ".join(map(str, sizes)) + "}",
                  lhs_batch_stride="{" + ", ".join(str(s * rows * depth) for s in lstr) + "}",
                  rhs_batch_stride="{" + ", ".join(str(s * depth * cols) for s in rstr) + "}",
                  rows=rows, cols=cols, depth=depth, lhs_row_stride=lhs_row, lhs_depth_stride=lhs_depth,
                  rhs_depth_stride=rhs_depth, rhs_col_stride=rhs_col)
    macs = int(np.prod(out, dtype=np.int64)) * depth
    sfx = suffix(lhs.dtype)
    if lhs.dtype == "float32":
        return KernelCall("mg_batch_matmul_f32", "mg_batch_matmul", "mg_batch_matmul_f32_params", params, args,
                          macs=macs)

    require(all(t.quant is not None for t in (lhs, rhs, y)), "int8 BATCH_MATMUL needs quantized operands and output")
    require(not lhs.quant.per_channel and not rhs.quant.per_channel,
            "per-channel operands are not supported (TFLM uses per-tensor parameters)")
    require(min(lhs.scale, rhs.scale, y.scale) > 0, "scales must be positive")
    require(depth <= MAX_INT8_DEPTH, f"inner dimension {depth} is too large for int8 (at most {MAX_INT8_DEPTH})")
    product = np.float32(lhs.scale) * np.float32(rhs.scale)  # float32, as TFLM
    multiplier, shift = quant.quantize_multiplier(float(np.float64(product) / np.float64(y.scale)))
    params.update(lhs_offset=-lhs.zero_point, rhs_offset=-rhs.zero_point, output_offset=y.zero_point,
                  multiplier=multiplier, shift=shift)
    return KernelCall(f"mg_batch_matmul_{sfx}", "mg_batch_matmul", f"mg_batch_matmul_{sfx}_params", params, args,
                      macs=macs)
