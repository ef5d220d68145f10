"""CAST: mcugen against TFLM (int8, int16, int32, float32, bool in; int8, int16, int32, float32 out)
and LiteRT (uint8, int64, bool outputs), every pair of dtypes, values that wrap and truncate.
"""
from __future__ import annotations

import numpy as np
from op_harness import TFLM_ARENA, assert_identical, run_mcugen
from tflite_builder import ModelBuilder

from mcugen.reference import run_litert, run_tflm_batch

NP = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
      "float32": np.float32, "bool": np.bool_}
TFLM_IN = ("int8", "int16", "int32", "float32", "bool")
TFLM_OUT = ("int8", "int16", "int32", "float32")
ALL = tuple(NP)


def values(src, dst, rng, n=64):
    """Values of `src` that every reference converts to `dst` without undefined behaviour."""
    if src == "bool":
        return rng.integers(0, 2, n).astype(np.bool_)
    if src == "float32":
        if dst == "bool":
            v = rng.standard_normal(n) * 50
            v[:4] = [0.0, -0.0, 0.25, -1e-30]
            return v.astype(np.float32)
        info = np.iinfo(NP[dst]) if dst != "float32" else np.iinfo(np.int32)
        lo, hi = max(float(info.min), -1e6), min(float(info.max), 1e6)
        v = rng.uniform(lo, hi, n)
        v[:6] = [-0.99, 0.99, -1.5, 2.5, lo + 0.5, hi - 0.5]  # truncation toward zero
        return v.astype(np.float32)
    info = np.iinfo(NP[src])
    v = rng.integers(info.min, info.max, n, endpoint=True, dtype=np.int64)
    v[:3] = [info.min, info.max, 0]  # the extremes wrap when narrowed
    return v.astype(NP[src])


def pairs_model(pairs):
    mb = ModelBuilder()
    for i, (src, dst) in enumerate(pairs):
        x = mb.add_input(f"x{i}_{src}", (4, 16), src)
        y = mb.add_tensor(f"y{i}_{dst}", (4, 16), dst)
        mb.add_op("CAST", [x], [y], dict(in_data_type=src, out_data_type=dst))
        mb.mark_output(y)
    return mb.build()


def run_pairs(pairs, reference):
    model = pairs_model(pairs)
    rng = np.random.default_rng(len(pairs))
    sets = [[values(src, dst, rng).reshape(4, 16) for src, dst in pairs] for _ in range(2)]
    expected = run_tflm_batch([(model, sets)], arena_size=TFLM_ARENA)[0] if reference == "tflm" else run_litert(model, sets)
    assert_identical(run_mcugen(model, sets), expected)


def test_cast_matches_tflm():
    run_pairs([(s, d) for s in TFLM_IN for d in TFLM_OUT if s != d], "tflm")


def test_cast_matches_litert():
    """Pairs TFLM cannot run: uint8 and int64 anywhere, bool outputs."""
    pairs = [(s, d) for s in ALL for d in ALL if s != d and not (s in TFLM_IN and d in TFLM_OUT)]
    run_pairs(pairs, "litert")


def test_same_dtype_runs_no_code():
    from mcugen import compiler
    graph, _ = compiler.load(pairs_model([("int8", "int8")]))
    assert compiler.compile_graph(graph).steps[0].call.kernel is None


def test_out_of_range_floats_saturate():
    """Undefined behaviour in C++ (so no reference to compare with); mcugen saturates, NaN gives 0."""
    model = pairs_model([("float32", "int8"), ("float32", "int32"), ("float32", "uint8")])
    x = np.array([1e10, -1e10, np.nan, 200.7, -200.7, 127.9, -128.9, 0.5] * 8, np.float32).reshape(4, 16)
    (a, b, c), = run_mcugen(model, [[x, x, x]])
    np.testing.assert_array_equal(a.ravel()[:8], [127, -128, 0, 127, -128, 127, -128, 0])
    np.testing.assert_array_equal(b.ravel()[:8], [2**31 - 1, -2**31, 0, 200, -200, 127, -128, 0])
    np.testing.assert_array_equal(c.ravel()[:8], [255, 0, 0, 200, 0, 127, 0, 0])
