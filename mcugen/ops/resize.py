"""RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR over NHWC tensors (align_corners, half_pixel_centers).

Every source coordinate and weight depends on the output row or column alone, so both are
computed here, once per output row and per output column, with TFLM's arithmetic:

- nearest: TFLM's GetNearestNeighbor in float32 (scale = in/out, or (in-1)/(out-1) with
  align_corners; round with align_corners, floor otherwise; +0.5 with half_pixel_centers). The C
  kernel copies depth elements per output pixel from precomputed byte offsets, so it serves every
  dtype. Values are copied as TFLM copies them: no requantization.
- bilinear int8: TFLM's ResizeBilinearInteger, in 1/1024 steps: scale_10 = round(1024 * in / out),
  source = y * scale_10 (+ scale_10 / 2 - 512 with half_pixel_centers), y0 = source / 1024 and
  y1 = (source + 1023) / 1024 in C's truncating division, clipped to the image. The C kernel sums
  v * (1024 - dy) * (1024 - dx) ... and rounds as TFLM (+-2^19, then a truncating divide by 2^20).
- bilinear float32: TFLM's ResizeBilinear, with the float32 source positions and the weights
  1 - (y - y0) and (y - y0) computed here exactly as TFLM rounds them; the C kernel evaluates the
  four products in TFLM's order.
"""
from __future__ import annotations

import math

import numpy as np

from .base import KernelCall, int32_array, require, require_dtypes, suffix, tensors, float_array

OPCODES = ("RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR")

_F32 = np.float32


def _cdiv(a: int, b: int) -> int:
    """C's truncating integer division (b > 0)."""
    q = abs(a) // b
    return q if a >= 0 else -q


def _round_half_away(x) -> int:
    return int(math.copysign(math.floor(abs(float(x)) + 0.5), float(x)))


def nearest_indices(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> list[int]:
    """TFLM's GetNearestNeighbor for every output index, in float32."""
    if align_corners and out_size > 1:
        scale = _F32(in_size - 1) / _F32(out_size - 1)
    else:
        scale = _F32(in_size) / _F32(out_size)
    offset = _F32(0.5) if half_pixel_centers else _F32(0.0)
    out = []
    for i in range(out_size):
        v = (_F32(i) + offset) * scale
        idx = _round_half_away(v) if align_corners else math.floor(float(v))
        idx = min(idx, in_size - 1)
        if half_pixel_centers:
            idx = max(0, idx)
        out.append(idx)
    return out


def bilinear_int_coords(in_size: int, out_size: int, align_corners: bool,
                        half_pixel_centers: bool) -> tuple[list[int], list[int], list[int]]:
    """TFLM's ResizeBilinearInteger per output index: (lower index, upper index, source * 1024)."""
    if align_corners and out_size > 1:
        scale_10 = _cdiv(1024 * (in_size - 1) + (out_size - 1) // 2, out_size - 1)
    else:
        scale_10 = _cdiv(1024 * in_size + out_size // 2, out_size)
    lows, highs, sources = [], [], []
    for i in range(out_size):
        source = i * scale_10 + (_cdiv(scale_10, 2) - 512 if half_pixel_centers else 0)
        lows.append(max(_cdiv(source, 1024), 0))
        highs.append(min(_cdiv(source + 1023, 1024), in_size - 1))
        sources.append(source)
    return lows, highs, sources


def bilinear_float_coords(in_size: int, out_size: int, align_corners: bool,
                          half_pixel_centers: bool) -> tuple[list[int], list[int], np.ndarray, np.ndarray]:
    """TFLM's float ResizeBilinear per output index: (lower, upper, 1 - (s - lower), s - lower) in float32."""
    scale = _F32(in_size) / _F32(out_size)
    if align_corners and out_size > 1:
        scale = _F32(in_size - 1) / _F32(out_size - 1)
    lows, highs, w0, w1 = [], [], [], []
    for i in range(out_size):
        s = (_F32(i) + _F32(0.5)) * scale - _F32(0.5) if half_pixel_centers else _F32(i) * scale
        lo = max(int(math.floor(float(s))), 0)
        hi = min(int(math.ceil(float(s))), in_size - 1)
        frac = _F32(s - _F32(lo))
        lows.append(lo)
        highs.append(hi)
        w0.append(_F32(_F32(1.0) - frac))
        w1.append(frac)
    return lows, highs, np.array(w0, np.float32), np.array(w1, np.float32)


def _check(op, graph):
    ins, outs = tensors(op, graph)
    require(len(ins) == 2 and None not in ins and len(outs) == 1,
            f"expects 2 inputs (images, size) and 1 output, got {len(ins)} and {len(outs)}")
    (x, size_t), (y,) = ins, outs
    require(len(x.shape) == 4 and len(y.shape) == 4,
            f"input and output must be 4-D (NHWC), got {list(x.shape)} and {list(y.shape)}")
    require(size_t.is_constant, f"size tensor '{size_t.name}' must be constant (TFLM requires it)")
    require_dtypes([size_t], ("int32",), "size tensor")
    require(size_t.size == 2, f"size tensor '{size_t.name}' must hold 2 values, got {size_t.size}")
    out_h, out_w = (int(v) for v in size_t.data.reshape(-1))
    batches, in_h, in_w, depth = x.shape
    want = (batches, out_h, out_w, depth)
    require(tuple(y.shape) == want, f"output shape {list(y.shape)} does not match the size tensor: {list(want)}")
    require(min(in_h, in_w, out_h, out_w) >= 1, "image sizes must be positive")
    require(x.dtype == y.dtype, f"input dtype {x.dtype} and output dtype {y.dtype} differ")
    return x, y, (batches, in_h, in_w, depth, out_h, out_w)


def lower(op, graph) -> KernelCall:
    x, y, (batches, in_h, in_w, depth, out_h, out_w) = _check(op, graph)
    align = bool(op.options.get("align_corners", False))
    half = bool(op.options.get("half_pixel_centers", False))
    args = [op.inputs[0], op.outputs[0]]
    dims = dict(batches=batches, out_height=out_h, out_width=out_w)

    if op.opcode == "RESIZE_NEAREST_NEIGHBOR":
        require_dtypes([x], ("int8", "int16", "float32"))
        item = np.dtype(np.float32 if x.dtype == "float32" else (np.int8 if x.dtype == "int8" else np.int16)).itemsize
        rows = nearest_indices(in_h, out_h, align, half)
        cols = nearest_indices(in_w, out_w, align, half)
        return KernelCall("mg_resize_nearest_bytes", "mg_resize", "mg_resize_nearest_params",
                          dict(dims, pixel_bytes=depth * item, in_batch_bytes=in_h * in_w * depth * item,
                               row_offsets=int32_array([r * in_w * depth * item for r in rows]),
                               col_offsets=int32_array([c * depth * item for c in cols])),
                          args, macs=y.size)

    require(not (align and half), "half_pixel_centers and align_corners cannot both be set (TFLM refuses it)")
    require_dtypes([x], ("int8", "float32"))
    params = dict(dims, depth=depth, in_height=in_h, in_width=in_w)
    if x.dtype == "int8":
        (y0, y1, ys), (x0, x1, xs) = (bilinear_int_coords(in_h, out_h, align, half),
                                      bilinear_int_coords(in_w, out_w, align, half))
        # TFLM reads row/column source // 1024 unclipped at the top; never past the image here.
        require(max(y0) <= in_h - 1 and max(x0) <= in_w - 1,
                f"resizing {in_h}x{in_w} to {out_h}x{out_w} makes TFLM read outside the input")
        wy1 = [s - 1024 * lo for s, lo in zip(ys, y0)]
        wx1 = [s - 1024 * lo for s, lo in zip(xs, x0)]
        wy0 = [1024 - w for w in wy1]
        wx0 = [1024 - w for w in wx1]
        # The C kernel sums in int32: 128 * (|wy0| + |wy1|) * (|wx0| + |wx1|) must fit.
        bound = 128 * max(abs(a) + abs(b) for a, b in zip(wy0, wy1)) * max(abs(a) + abs(b) for a, b in zip(wx0, wx1))
        require(bound + (1 << 19) < (1 << 31), f"resizing {in_h}x{in_w} to {out_h}x{out_w} overflows int32 weights")
        params.update(
            row_lo=int32_array([r * in_w * depth for r in y0]), row_hi=int32_array([r * in_w * depth for r in y1]),
            col_lo=int32_array([c * depth for c in x0]), col_hi=int32_array([c * depth for c in x1]),
            row_w_lo=int32_array(wy0), row_w_hi=int32_array(wy1), col_w_lo=int32_array(wx0), col_w_hi=int32_array(wx1))
    else:
        (y0, y1, wy0, wy1), (x0, x1, wx0, wx1) = (bilinear_float_coords(in_h, out_h, align, half),
                                                  bilinear_float_coords(in_w, out_w, align, half))
        params.update(
            row_lo=int32_array([r * in_w * depth for r in y0]), row_hi=int32_array([r * in_w * depth for r in y1]),
            col_lo=int32_array([c * depth for c in x0]), col_hi=int32_array([c * depth for c in x1]),
            row_w_lo=float_array(wy0), row_w_hi=float_array(wy1), col_w_lo=float_array(wx0), col_w_hi=float_array(wx1))
    sfx = suffix(x.dtype)
    return KernelCall(f"mg_resize_bilinear_{sfx}", "mg_resize", f"mg_resize_bilinear_{sfx}_params", params, args,
                      macs=4 * y.size)


def evaluate(op, graph) -> list[np.ndarray]:
    """Constant folding: the kernels' arithmetic in numpy, from the same tables."""
    x, y, (batches, in_h, in_w, depth, out_h, out_w) = _check(op, graph)
    call = lower(op, graph)
    p = call.params
    data = np.asarray(x.data).reshape(batches, in_h * in_w * depth)
    if op.opcode == "RESIZE_NEAREST_NEIGHBOR":
        item = data.dtype.itemsize
        rows = p["row_offsets"].values // (in_w * depth * item)
        cols = p["col_offsets"].values // (depth * item)
        return [data.reshape(x.shape)[:, rows][:, :, cols].copy()]
    out = np.empty(y.shape, data.dtype)
    w = {k: p[k].values for k in ("row_w_lo", "row_w_hi", "col_w_lo", "col_w_hi")}
    for oy in range(out_h):
        for ox in range(out_w):
            taps = [(p["row_lo"].values[oy], p["col_lo"].values[ox], w["row_w_lo"][oy], w["col_w_lo"][ox]),
                    (p["row_hi"].values[oy], p["col_lo"].values[ox], w["row_w_hi"][oy], w["col_w_lo"][ox]),
                    (p["row_lo"].values[oy], p["col_hi"].values[ox], w["row_w_lo"][oy], w["col_w_hi"][ox]),
                    (p["row_hi"].values[oy], p["col_hi"].values[ox], w["row_w_hi"][oy], w["col_w_hi"][ox])]
            if x.dtype == "int8":
                acc = sum(data[:, r + c:r + c + depth].astype(np.int64) * int(wr) * int(wc) for r, c, wr, wc in taps)
                rounded = np.where(acc > 0, acc + (1 << 19), acc - (1 << 19))
                out[:, oy, ox] = (np.sign(rounded) * (np.abs(rounded) >> 20)).astype(np.int8)
            else:
                acc = None
                for r, c, wr, wc in taps:  # ((v * wy) * wx), summed left to right, in float32
                    term = (data[:, r + c:r + c + depth] * np.float32(wr)).astype(np.float32) * np.float32(wc)
                    acc = term if acc is None else (acc + term).astype(np.float32)
                out[:, oy, ox] = acc
    return [out]
