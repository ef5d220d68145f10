"""Byte moving shared by the data-movement ops: every one of them is a list of strided copies.

A Part copies a box of elements from one tensor to another: `sizes` loops (outermost first), an
element stride per loop on each side, a start offset on each side. TRANSPOSE is one part with
permuted source strides, SLICE and STRIDED_SLICE one part with a start offset (and negative
strides), CONCATENATION and PACK one part per input, SPLIT and UNPACK one part per output, PAD one
copy part plus fill parts whose source is the pad value with every source stride 0.

Planning happens here: loops of size 1 are dropped and neighbouring loops that walk memory the
same way on both sides are merged, so most ops end up with one or two loops whose inner one is a
contiguous run (a memcpy in C). The C kernel (runtime_c/mg_strided_copy.c) only follows the plan,
on element sizes of 1, 2, 4 or 8 bytes, so one kernel serves every dtype.

The kernel takes any number of tensors: `mg_strided_copy(&params, t0, t1, ...)` is a C99 variadic
macro that puts the pointers in a compound-literal array; a part names its source and destination
by position in that list (the KernelCall's args, inputs first, then outputs).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import np_dtype
from .base import ConstArray, KernelCall, require

MAX_DIMS = 8  # loops per part after merging; the C kernel's odometer holds this many counters
FAMILY = "mg_strided_copy"
KERNEL = "mg_strided_copy"
PARAMS_TYPE = "mg_strided_copy_params"
MODE_COPY = 0
MODE_CLAMP_F32 = -1  # float32 copy clamped to [act_min, act_max]
# mode k >= 1: 8-bit elements mapped through lookup table k-1, indexed by the byte value


@dataclass
class Part:
    src: int  # position of the source pointer in the kernel's argument list
    dst: int  # position of the destination pointer
    sizes: list[int]
    src_strides: list[int]  # in elements; 0 repeats one source element (fills)
    dst_strides: list[int]
    src_offset: int = 0  # in elements
    dst_offset: int = 0
    mode: int = MODE_COPY

    @property
    def count(self) -> int:
        n = 1
        for s in self.sizes:
            n *= s
        return n


def contiguous_strides(shape) -> list[int]:
    strides, step = [], 1
    for d in reversed([int(s) for s in shape]):
        strides.append(step)
        step *= d
    return list(reversed(strides))


def simplify(part: Part) -> Part:
    """Drop loops of size 1 and merge neighbours that walk both sides the same way."""
    loops = [(s, a, b) for s, a, b in zip(part.sizes, part.src_strides, part.dst_strides) if s != 1]
    merged: list[tuple[int, int, int]] = []
    for size, ss, ds in loops:
        if merged:
            psize, pss, pds = merged[-1]
            if pss == ss * size and pds == ds * size:
                merged[-1] = (psize * size, ss, ds)
                continue
        merged.append((size, ss, ds))
    if not merged:
        merged = [(1, 1, 1)]
    return Part(part.src, part.dst, [m[0] for m in merged], [m[1] for m in merged], [m[2] for m in merged],
                part.src_offset, part.dst_offset, part.mode)


def is_plain_copy(parts: list[Part], nelements: int) -> bool:
    """True when the plan copies one whole tensor byte for byte (the output can share its input's bytes)."""
    if len(parts) != 1:
        return False
    p = simplify(parts[0])
    return (p.mode == MODE_COPY and p.src_offset == 0 and p.dst_offset == 0 and len(p.sizes) == 1
            and p.sizes[0] == nelements and (nelements == 1 or (p.src_strides[0] == 1 and p.dst_strides[0] == 1)))


def lower_parts(parts: list[Part], elem_size: int, args: list, macs: int = 0, luts: list[np.ndarray] | None = None,
                act_range: tuple[float, float] | None = None) -> KernelCall:
    """The KernelCall that runs `parts` (element units) over `args` (inputs first, then outputs).

    luts[k] (for parts of mode k + 1) maps each byte value 0..255 to an output byte.
    """
    require(elem_size in (1, 2, 4, 8), f"element size {elem_size} bytes is not supported")
    plan = [simplify(p) for p in parts if p.count > 0]
    dims = max([len(p.sizes) for p in plan] + [1])
    require(dims <= MAX_DIMS, f"the copy needs {dims} loops after merging; at most {MAX_DIMS} are supported")
    table: list[int] = []
    for p in plan:
        lead = dims - len(p.sizes)
        table += [p.src, p.dst, p.src_offset * elem_size, p.dst_offset * elem_size, p.mode]
        for size, ss, ds in zip([1] * lead + p.sizes, [0] * lead + p.src_strides, [0] * lead + p.dst_strides):
            table += [size, ss * elem_size, ds * elem_size]
    for v in table:
        require(-(1 << 31) <= v < (1 << 31), "the tensors are too large for 32-bit offsets")
    params = dict(elem_size=elem_size, dims=dims, num_parts=len(plan),
                  parts=ConstArray("int32_t", np.array(table or [0], np.int32)))
    if luts:
        params["luts"] = ConstArray("uint8_t", np.concatenate([np.asarray(t, np.uint8).reshape(256) for t in luts]))
    if act_range is not None:
        params["act_min"], params["act_max"] = float(act_range[0]), float(act_range[1])
    return KernelCall(KERNEL, FAMILY, PARAMS_TYPE, params, list(args), macs=macs)


def elem_size(dtype: str) -> int:
    return np.dtype(np_dtype(dtype)).itemsize


# ---- building blocks used by several ops ---------------------------------------------------------


def axis_split(shape, axis: int) -> tuple[int, int, int]:
    """(outer, axis size, inner) element counts of `shape` around `axis`."""
    shape = [int(d) for d in shape]
    outer = int(np.prod(shape[:axis], dtype=np.int64)) if axis > 0 else 1
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64)) if axis + 1 < len(shape) else 1
    return outer, shape[axis], inner


def join_parts(pieces: list[tuple[int, int]], outer: int, inner: int, total: int, into: int) -> list[Part]:
    """Concatenation: piece (arg position, axis size) i lands after the previous ones along the axis."""
    parts, offset = [], 0
    for src, size in pieces:
        parts.append(Part(src, into, [outer, size * inner], [size * inner, 1], [total * inner, 1],
                          dst_offset=offset * inner))
        offset += size
    return parts


def cut_parts(pieces: list[tuple[int, int]], outer: int, inner: int, total: int, source: int) -> list[Part]:
    """Split: piece (arg position, axis size) i is read after the previous ones along the axis."""
    parts, offset = [], 0
    for dst, size in pieces:
        parts.append(Part(source, dst, [outer, size * inner], [total * inner, 1], [size * inner, 1],
                          src_offset=offset * inner))
        offset += size
    return parts


@dataclass
class Box:
    """A strided view of a source tensor that is copied, in order, into a contiguous output."""

    start: list[int]  # per input axis
    steps: list[int]  # per input axis (negative walks backwards)
    counts: list[int]  # per input axis
    shape: tuple  # input shape

    def part(self, src: int, dst: int) -> Part:
        strides = contiguous_strides(self.shape)
        offset = sum(int(b) * s for b, s in zip(self.start, strides)) if all(c > 0 for c in self.counts) else 0
        return Part(src, dst, list(self.counts), [st * s for st, s in zip(self.steps, strides)],
                    contiguous_strides(self.counts), src_offset=offset)
