"""MEAN / SUM against TFLM (int8/int16 identical, float 1e-5); cases packed a dozen to a model."""
from __future__ import annotations

import numpy as np
import pytest
from op_harness import NAME, TFLM_ARENA, assert_matches, check_case, check_strict_c, run_mcugen, run_packed
from tflite_builder import ModelBuilder

import mcugen
from mcugen import codegen, compiler
from mcugen.errors import Unsupported
from mcugen.ops.reduce import expected_output_shape, mean_multiplier, reduce_plan, resolve_axes
from mcugen.reference import run_tflm_batch

# (shape, axes): global pools, alternating groups, negative and duplicate axes, size-1 dims, rank 1-5
GEOMETRIES = [
    ((1, 7, 9, 5), [1, 2]),         # TFLM's float special case (4-D, axes 1 and 2) with keep_dims
    ((2, 5, 3, 4), [2, 1]),         # the same axes given in the other order
    ((2, 3, 4, 5), [3]),            # innermost axis
    ((2, 3, 4, 5), [0]),            # outermost axis
    ((2, 3, 4, 5), [-1, 0]),        # negative axis, two separate reduced groups
    ((2, 3, 4, 5), [1, 3]),         # alternating kept/reduced
    ((2, 3, 4, 5), [0, 1, 2, 3]),   # everything
    ((3, 4, 2), [1, 1, -2]),        # duplicates
    ((2, 1, 3, 1, 4), [1, 3]),      # reducing size-1 dimensions only
    ((2, 3, 2, 3, 2), [0, 2, 4]),   # rank 5, three reduced groups
    ((11,), [0]),                   # rank 1
    ((3, 1, 4), [1]),               # one value per output: only the requantization
    # (An empty axes tensor is valid for TFLM, but mcugen's front end does not see an empty
    # buffer as a constant and refuses the model before lowering.)
    ((1, 40, 40, 3), [1, 2]),       # 1600 values per output: MEAN's multiplier absorbs a large 1/n
    ((1, 3, 7, 6), [2]),            # 7 values: 1/n not a power of two
]
# (input scale, zero point), (output scale, zero point) per op
MEAN_QUANTS = [
    ((0.05, -3), (0.05, -3)),       # equal quantization (an older TFLM special-cased it)
    ((0.02, 10), (0.015, -5)),
    ((0.1, -128), (0.3, 7)),
    ((0.004, 127), (0.002, 0)),     # output scale below the input's: positive shift
]
SUM_QUANTS = [
    ((0.05, -3), (0.8, 2)),
    ((0.02, 10), (0.02, 10)),       # equal quantization: sums saturate
    ((0.1, -128), (1.7, -20)),
    ((0.3, 5), (0.2, -1)),
]

S16_MEAN_QUANTS = [
    ((0.0005, 0), (0.0005, 0)),
    ((0.0003, 0), (0.0002, 0)),     # output scale below the input's: positive shift
    ((0.001, 0), (0.004, 0)),
]
S16_SUM_QUANTS = [
    ((0.0005, 0), (0.01, 0)),
    ((0.0003, 0), (0.0003, 0)),     # equal quantization: sums saturate
    ((0.001, 0), (0.05, 0)),
]


def _cases():
    cases = []
    for g, (shape, axes) in enumerate(GEOMETRIES):
        keep = g % 2 == 0
        for opcode, quants in (("MEAN", MEAN_QUANTS), ("SUM", SUM_QUANTS)):
            cases.append((opcode, "int8", shape, axes, keep, quants[g % len(quants)]))
            cases.append((opcode, "float32", shape, axes, not keep, None))
    # Every quantization on the commonest geometry, both keep_dims.
    for opcode, quants in (("MEAN", MEAN_QUANTS), ("SUM", SUM_QUANTS)):
        for q in quants:
            for keep in (True, False):
                cases.append((opcode, "int8", (2, 6, 5, 3), [1, 2], keep, q))
    # int16 (16x8 quantization: zero points 0): a handful of geometries, MEAN and SUM.
    for opcode, quants in (("MEAN", S16_MEAN_QUANTS), ("SUM", S16_SUM_QUANTS)):
        for k, g in enumerate((0, 2, 4, 6, 9, 12, 13)):
            shape, axes = GEOMETRIES[g]
            cases.append((opcode, "int16", shape, axes, k % 2 == 0, quants[k % len(quants)]))
    return cases


CASES = _cases()


def _case_id(case):
    opcode, dtype, shape, axes, keep, q = case
    qs = "" if q is None else "-q" + "_".join(f"{s}_{z}" for s, z in q)
    return f"{opcode.lower()}-{dtype}-{'x'.join(map(str, shape))}-ax{'_'.join(map(str, axes))}-{'keep' if keep else 'drop'}{qs}"


def add_reduce(mb, tag, case, rng=None):
    opcode, dtype, shape, axes, keep, q = case
    (si, zi), (so, zo) = q if q else ((None, None), (None, None))
    qi = dict(scale=si, zero_point=zi) if q else {}
    qo = dict(scale=so, zero_point=zo) if q else {}
    out_shape = expected_output_shape(shape, resolve_axes(axes, len(shape)), keep)
    x = mb.add_input("x" + tag, shape, dtype, **qi)
    a = mb.add_const("axes" + tag, np.array(axes, dtype=np.int32).reshape(len(axes)), "int32")
    y = mb.add_tensor("y" + tag, out_shape, dtype, **qo)
    mb.add_op(opcode, [x, a], [y], {"keep_dims": keep})
    mb.mark_output(y)


def build_reduce(*case):
    mb = ModelBuilder()
    add_reduce(mb, "", case)
    return mb.build()


def _inputs(case, rng):
    dtype, shape = case[1], case[2]
    if dtype == "int16":  # random, and saturating sums both ways
        return [[rng.integers(-32768, 32768, shape, dtype=np.int16)], [rng.integers(-3000, 3000, shape, dtype=np.int16)],
                [np.full(shape, 32767, np.int16)], [np.full(shape, -32768, np.int16)]]
    if dtype == "int8":  # random, and saturating sums both ways
        return [[rng.integers(-128, 128, shape, dtype=np.int8)], [rng.integers(-128, 128, shape, dtype=np.int8)],
                [np.full(shape, 127, np.int8)], [np.full(shape, -128, np.int8)]]
    return [[(3 * rng.standard_normal(shape)).astype(np.float32)], [rng.standard_normal(shape).astype(np.float32)],
            [(1e4 * rng.standard_normal(shape)).astype(np.float32)], [rng.random(shape).astype(np.float32)]]


@pytest.fixture(scope="module")
def results():
    return run_packed(CASES, _case_id, add_reduce, _inputs, np.random.default_rng(31))


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_reduce_matches_tflm(case, results):
    check_case(results[_case_id(case)], assert_matches)


def test_float_mean_is_exact():
    """The C kernel sums in TFLM's order and divides as TFLM does, so float MEAN agrees bit for bit."""
    rng = np.random.default_rng(5)
    model = build_reduce("MEAN", "float32", (2, 9, 7, 4), [1, 2], True, None)
    xs = [[(100 * rng.standard_normal((2, 9, 7, 4))).astype(np.float32)]]
    [[want]] = run_tflm_batch([(model, xs)], arena_size=TFLM_ARENA)[0]
    [[got]] = run_mcugen(model, xs)
    np.testing.assert_array_equal(got, want)


def test_reduce_plan_merges_and_orders_loops():
    kept, kept_st, red, red_st = reduce_plan((2, 3, 4, 5), [1, 2])
    assert kept == [1, 1, 2, 5] and kept_st == [0, 0, 60, 1]
    assert red == [1, 1, 1, 12] and red_st == [0, 0, 0, 5]
    # Every input element is visited exactly once, outputs in order.
    shape, axes = (2, 1, 3, 4, 2, 3), [0, 3, 5]
    kept, kept_st, red, red_st = reduce_plan(shape, axes)
    x = np.arange(int(np.prod(shape))).reshape(shape)
    want = x.sum(axis=tuple(axes)).ravel()
    ko = np.indices(kept).reshape(len(kept), -1).T @ np.array(kept_st)
    ri = np.indices(red).reshape(len(red), -1).T @ np.array(red_st)
    np.testing.assert_array_equal(x.ravel()[ko[:, None] + ri[None, :]].sum(axis=1), want)


def test_mean_multiplier_follows_tflm_clamps():
    assert mean_multiplier(1 << 30, 1, 1) == (1 << 30, 1)
    assert mean_multiplier(1 << 30, 1, 8) == (1 << 30, -2)
    mult, shift = mean_multiplier(1518500250, -31, 1000)  # 31 + shift = 0 caps the extra shift
    assert (mult, shift) == (1518500250 // 1000, -31)


def test_too_many_groups_is_refused():
    with pytest.raises(Unsupported, match="5 separate .* dimension groups"):
        reduce_plan((2, 2, 2, 2, 2, 2, 2, 2, 2, 2), [1, 3, 5, 7, 9])


def test_runtime_axes_are_refused():
    mb = ModelBuilder()
    x = mb.add_input("x", (2, 3), "float32")
    a = mb.add_input("axes", (1,), "int32")
    y = mb.add_tensor("y", (2,), "float32")
    mb.add_op("MEAN", [x, a], [y], {"keep_dims": False})
    mb.mark_output(y)
    with pytest.raises(ValueError, match="must be constant"):
        mcugen.Interpreter(model_content=mb.build())


@pytest.mark.parametrize("opcode", ["MEAN", "SUM"])
def test_int16_reduce_c_is_strict_and_sanitizer_clean(opcode, tmp_path):
    """The int16 kernel builds with the strict flags and runs clean under ASan/UBSan, printing what
    mcugen.Interpreter returns."""
    case = (opcode, "int16", (2, 3, 4, 5), [1, 3], False, S16_MEAN_QUANTS[1])
    model = build_reduce(*case)
    graph, digest = compiler.load(model)
    files = codegen.render(compiler.compile_graph(graph, digest), NAME, "reduce")
    xs = _inputs(case, np.random.default_rng(8))[0]
    check_strict_c(tmp_path, graph, files, xs, lambda: 2 * run_mcugen(model, [xs]))
