"""Graph -> Graph clean-ups run before lowering: constant folding and no-op removal.

Every pass may only remove work, never change a result:
- fold_constants: an op whose inputs are all constants is evaluated here by its op module's
  `evaluate(op, graph) -> list[np.ndarray]`; the outputs become constant tensors and the op goes.
  A module may define `foldable(op, graph) -> bool` to decide instead (SHAPE: always, it reads
  only the static shape). Ops without `evaluate` are left alone, and so is an op whose evaluation
  fails or does not fit its output tensors (lowering then reports what is wrong with it).
- drop_identity_reshapes: a chain of RESHAPE/SQUEEZE/EXPAND_DIMS whose end has the shape, dtype and
  quantization of an earlier tensor of the chain: its consumers read that tensor instead.
- drop_noop_quantizes: a QUANTIZE that gives back its input for every possible input value, or a
  pair QUANTIZE a->b, QUANTIZE b->c whose round trip gives back a for every value of a: consumers
  read a instead. This is checked by running TFLM's requantization over the whole input range,
  so a lossy round trip (a coarser b) is never removed.
- drop_dead_ops: ops none of whose outputs is read any more (and that touch no variable tensor).

The graph keeps its input and output tensors: a graph output is never rewired away. Tensor
indices do not change (tensors that lose every reader simply stay unused); operators keep their
`index` in the model's stored order, so messages still name the op of the file (the compiler
pairs steps with graph.operators by position). The removed ops are listed in a note of the graph.
The input graph is not modified.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from . import ops, quant
from .errors import Unsupported
from .ir import DTYPES, Graph, Operator, np_dtype

RESHAPE_LIKE = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
_INT_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "int32": (-(1 << 31), (1 << 31) - 1)}
_EXHAUSTIVE = ("int8", "uint8", "int16")  # input dtypes whose every value can be tried


def run(graph: Graph) -> Graph:
    g = _copy(graph)
    changed = True
    while changed:  # each pass can expose work for another (folding can leave identity chains)
        changed = False
        for p in (fold_constants, drop_identity_reshapes, drop_noop_quantizes, drop_dead_ops):
            changed |= p(g)
    remaining = {op.index for op in g.operators}
    gone = [f"op {op.index} {op.opcode}" for op in graph.operators if op.index not in remaining]
    if gone:
        listed = ", ".join(gone[:8]) + (f" and {len(gone) - 8} more" if len(gone) > 8 else "")
        g.notes.append(f"{len(gone)} op(s) need no code: computed at generation time or found to do nothing ({listed})")
    return g


def _copy(graph: Graph) -> Graph:
    tensors = [dataclasses.replace(t) for t in graph.tensors]
    operators = [dataclasses.replace(op, inputs=list(op.inputs), outputs=list(op.outputs), options=dict(op.options))
                 for op in graph.operators]
    return Graph(tensors, operators, list(graph.inputs), list(graph.outputs), graph.name, list(graph.notes))


# ---- constant folding ------------------------------------------------------------------------


def fold_constants(g: Graph) -> bool:
    kept, changed = [], False
    for op in g.operators:
        values = _evaluate(op, g)
        if values is None:
            kept.append(op)
            continue
        for t, v in zip(op.outputs, values):
            g.tensors[t] = dataclasses.replace(g.tensor(t), data=v)
        changed = True
    g.operators[:] = kept
    return changed


def _evaluate(op: Operator, g: Graph) -> list[np.ndarray] | None:
    """The op's outputs computed here, or None when it cannot or should not be folded."""
    try:
        module = ops.op_module(op.opcode)
    except ImportError:  # an op whose module is not written yet
        return None
    evaluate = getattr(module, "evaluate", None)
    if evaluate is None or not op.outputs:
        return None
    inputs = [g.tensor(t) for t in op.inputs if t >= 0]
    outputs = [g.tensor(t) for t in op.outputs]
    if any(t.is_variable or t.is_constant for t in outputs) or any(t.is_variable for t in inputs):
        return None
    if any(t.dtype not in DTYPES for t in inputs + outputs):
        return None
    foldable = getattr(module, "foldable", None)
    if foldable is not None:
        if not foldable(op, g):
            return None
    elif not inputs or not all(t.is_constant for t in inputs):
        return None
    try:
        values = evaluate(op, g)
    except (Unsupported, ArithmeticError, AttributeError, IndexError, KeyError, TypeError, ValueError):
        return None
    if len(values) != len(outputs):
        return None
    result = []
    for t, v in zip(outputs, values):
        v = np.asarray(v)
        if v.dtype != np.dtype(np_dtype(t.dtype)) or v.size != t.size:
            return None
        result.append(np.ascontiguousarray(v).reshape(t.shape).copy())
    return result


# ---- rewiring helpers ------------------------------------------------------------------------


def _consumers(g: Graph, t: int) -> list[Operator]:
    return [op for op in g.operators if t in op.inputs]


def _rewire(g: Graph, old: int, new: int) -> bool:
    """Every op reading `old` reads `new` instead (never for graph outputs)."""
    if old in g.outputs or old == new:
        return False
    changed = False
    for op in g.operators:
        if old in op.inputs:
            op.inputs = [new if t == old else t for t in op.inputs]
            changed = True
    return changed


def _same_quant(a, b) -> bool:
    if a.quant is None or b.quant is None:
        return a.quant is None and b.quant is None
    qa, qb = a.quant, b.quant
    return (qa.scale.shape == qb.scale.shape and bool(np.all(qa.scale == qb.scale))
            and qa.zero_point.shape == qb.zero_point.shape and bool(np.all(qa.zero_point == qb.zero_point))
            and (qa.scale.size == 1 or qa.axis == qb.axis))


# ---- identity reshape chains -----------------------------------------------------------------


def drop_identity_reshapes(g: Graph) -> bool:
    producer = {t: op for op in g.operators for t in op.outputs}
    changed = False
    for op in list(g.operators):
        if op.opcode not in RESHAPE_LIKE or not op.inputs or op.inputs[0] < 0 or len(op.outputs) != 1:
            continue
        out = g.tensor(op.outputs[0])
        if out.index in g.outputs or not _consumers(g, out.index):
            continue
        # Walk back through the chain; the earliest tensor that looks like `out` replaces it.
        best, t, seen = None, op.inputs[0], set()
        while t >= 0 and t not in seen:
            seen.add(t)
            cand = g.tensor(t)
            if cand.shape == out.shape and cand.dtype == out.dtype and _same_quant(cand, out) and not cand.is_variable:
                best = t
            prev = producer.get(t)
            if prev is None or prev.opcode not in RESHAPE_LIKE or not prev.inputs:
                break
            if g.tensor(prev.inputs[0]).dtype != cand.dtype:
                break
            t = prev.inputs[0]
        if best is not None:
            changed |= _rewire(g, out.index, best)
    return changed


# ---- QUANTIZE no-ops -------------------------------------------------------------------------


def _requantize(values: np.ndarray, src, dst) -> np.ndarray | None:
    """TFLM's QUANTIZE between integer tensors (reference_ops::Requantize), or None if not that case."""
    if src.dtype not in _INT_RANGES or dst.dtype not in ("int8", "uint8", "int16", "int32"):
        return None
    for t in (src, dst):
        if t.quant is None or t.quant.scale.size != 1 or not float(t.scale) > 0:
            return None
    multiplier, shift = quant.quantize_multiplier(float(src.scale) / float(dst.scale))  # TFLM: in double
    lo, hi = _INT_RANGES[dst.dtype]
    zi, zo = src.zero_point, dst.zero_point
    out = [min(max(quant.multiply_by_quantized_multiplier(quant.wrap32(int(v) - zi), multiplier, shift) + zo, lo), hi)
           for v in values.tolist()]
    return np.array(out, np.int64)


def _round_trip_is_identity(a, steps) -> bool:
    """True when QUANTIZE through the tensors `steps` gives back every value of `a` unchanged."""
    if a.dtype not in _EXHAUSTIVE or steps[-1].dtype != a.dtype or not _same_quant(a, steps[-1]):
        return False
    lo, hi = _INT_RANGES[a.dtype]
    domain = np.arange(lo, hi + 1, dtype=np.int64)
    values, src = domain, a
    for dst in steps:
        values = _requantize(values, src, dst)
        if values is None:
            return False
        src = dst
    return bool(np.array_equal(values, domain))


def drop_noop_quantizes(g: Graph) -> bool:
    changed = False
    for op in list(g.operators):
        if op.opcode != "QUANTIZE" or len(op.inputs) != 1 or op.inputs[0] < 0 or len(op.outputs) != 1:
            continue
        a, b = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
        if b.index in g.outputs or a.is_variable or not _consumers(g, b.index):
            continue
        if _round_trip_is_identity(a, [b]):
            changed |= _rewire(g, b.index, a.index)
            continue
        for nxt in _consumers(g, b.index):
            if nxt.opcode != "QUANTIZE" or len(nxt.outputs) != 1 or nxt.inputs[:1] != [b.index]:
                continue
            c = g.tensor(nxt.outputs[0])
            if c.index not in g.outputs and _consumers(g, c.index) and _round_trip_is_identity(a, [b, c]):
                changed |= _rewire(g, c.index, a.index)
    return changed


# ---- dead ops --------------------------------------------------------------------------------


def drop_dead_ops(g: Graph) -> bool:
    """Remove ops whose outputs nobody reads, last first so whole dead chains go in one call."""
    read = set(g.outputs)
    kept = []
    for op in reversed(g.operators):
        touches_state = any(t >= 0 and g.tensor(t).is_variable for t in op.inputs + op.outputs)
        if touches_state or not op.outputs or any(t in read for t in op.outputs):
            kept.append(op)
            read.update(t for t in op.inputs if t >= 0)
    kept.reverse()
    changed = len(kept) != len(g.operators)
    g.operators[:] = kept
    return changed
