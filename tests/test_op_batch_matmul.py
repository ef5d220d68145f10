"""BATCH_MATMUL against TFLM (int8 identical, float 1e-5); cases packed a dozen to a model."""
from __future__ import annotations

import numpy as np
import pytest
from op_harness import assert_matches, check_case, run_mcugen, run_packed
from tflite_builder import ModelBuilder

from mcugen.errors import Unsupported
from mcugen.ops.batch_matmul import output_shape

# (lhs shape, rhs shape) as stored, adj_x, adj_y, which operand is constant (None, "lhs", "rhs")
GEOMETRIES = [
    ((3, 4), (4, 5), False, False, None),
    ((2, 3, 4), (2, 4, 5), False, False, None),
    ((2, 3, 4), (4, 5), False, False, None),            # rhs broadcast over the batch
    ((3, 4), (2, 4, 5), False, False, None),            # lhs broadcast
    ((2, 3, 4), (1, 4, 5), False, False, None),         # rhs batch 1: TFLM flattens the batch into columns
    ((2, 1, 3, 4), (1, 3, 4, 5), False, False, None),   # both broadcast
    ((2, 1, 2, 3, 4), (1, 3, 1, 4, 2), False, False, None),  # rank 5, alternating broadcasts
    ((2, 4, 3), (2, 4, 5), True, False, None),          # adj_x
    ((2, 3, 4), (2, 5, 4), False, True, None),          # adj_y
    ((2, 4, 3), (2, 5, 4), True, True, None),           # both
    ((1, 6), (6, 1), False, False, None),               # vector products
    ((5, 1), (1, 7), False, False, None),               # depth 1
    ((2, 3, 300), (300, 4), False, False, None),        # long reduction
    ((2, 3, 16), (16, 8), False, False, "rhs"),         # constant weights: stored transposed
    ((2, 3, 16), (8, 16), False, True, "rhs"),          # constant weights already [cols, depth]
    ((16, 3), (2, 16, 5), True, False, "lhs"),          # constant lhs with adj_x: stored transposed
    ((3, 16), (2, 5, 16), False, True, "lhs"),
]
# (lhs scale, zp), (rhs scale, zp), (output scale, zp)
QUANTS = [
    ((0.05, 0), (0.02, 0), (0.1, 0)),
    ((0.03, -7), (0.04, 12), (0.2, -3)),
    ((0.1, -128), (0.01, 127), (0.05, 100)),
    ((0.007, 5), (0.3, -2), (0.9, -128)),
]


def _cases():
    cases = []
    for g, geom in enumerate(GEOMETRIES):
        cases.append(("int8", geom, QUANTS[g % len(QUANTS)]))
        cases.append(("float32", geom, None))
    for q in QUANTS:
        cases.append(("int8", ((2, 5, 7), (7, 3), False, False, None), q))
    return cases


CASES = _cases()


def _case_id(case):
    dtype, (ls, rs, ax, ay, const), q = case
    qs = "" if q is None else f"-q{QUANTS.index(q)}"
    return (f"{dtype}-{'x'.join(map(str, ls))}@{'x'.join(map(str, rs))}"
            f"{'-ax' if ax else ''}{'-ay' if ay else ''}{'-const_' + const if const else ''}{qs}")


def _random(dtype, shape, rng):
    if dtype == "int8":
        return rng.integers(-128, 128, shape, dtype=np.int8)
    return rng.standard_normal(shape).astype(np.float32)


def add_batch_matmul(mb, tag, case, rng):
    dtype, (ls, rs, adj_x, adj_y, const), q = case
    ql, qr, qo = [dict(scale=s, zero_point=z) for s, z in q] if q else ({}, {}, {})
    if const == "lhs":
        lhs = mb.add_const("lhs" + tag, _random(dtype, ls, rng), dtype, **ql)
    else:
        lhs = mb.add_input("lhs" + tag, ls, dtype, **ql)
    if const == "rhs":
        rhs = mb.add_const("rhs" + tag, _random(dtype, rs, rng), dtype, **qr)
    else:
        rhs = mb.add_input("rhs" + tag, rs, dtype, **qr)
    y = mb.add_tensor("y" + tag, output_shape(ls, rs, adj_x, adj_y), dtype, **qo)
    mb.add_op("BATCH_MATMUL", [lhs, rhs], [y], {"adj_x": adj_x, "adj_y": adj_y})
    mb.mark_output(y)


def build_batch_matmul(dtype, geom, q, rng):
    mb = ModelBuilder()
    add_batch_matmul(mb, "", (dtype, geom, q), rng)
    return mb.build()


def _inputs(case, rng):
    dtype, (ls, rs, _, _, const), _ = case
    shapes = [s for s, which in ((ls, "lhs"), (rs, "rhs")) if which != const]
    sets = [[_random(dtype, s, rng) for s in shapes] for _ in range(2)]
    if dtype == "int8":  # the largest products
        sets.append([np.where(rng.random(s) < 0.5, -128, 127).astype(np.int8) for s in shapes])
    else:
        sets.append([(1e3 * rng.standard_normal(s)).astype(np.float32) for s in shapes])
    return sets


@pytest.fixture(scope="module")
def results():
    return run_packed(CASES, _case_id, add_batch_matmul, _inputs, np.random.default_rng(2718))


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_batch_matmul_matches_tflm(case, results):
    check_case(results[_case_id(case)], assert_matches)


def test_float_matches_numpy_matmul():
    """Independent of TFLM: the broadcasting and adj semantics are numpy's."""
    rng = np.random.default_rng(1)
    geom = ((2, 1, 4, 3), (1, 3, 5, 4), True, True, None)
    a, b = rng.standard_normal(geom[0]).astype(np.float32), rng.standard_normal(geom[1]).astype(np.float32)
    [[got]] = run_mcugen(build_batch_matmul("float32", geom, None, rng), [[a, b]])
    want = np.matmul(np.swapaxes(a, -1, -2), np.swapaxes(b, -1, -2))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_mismatched_shapes_are_refused():
    with pytest.raises(Unsupported, match="inner dimensions"):
        output_shape((2, 3, 4), (2, 5, 6), False, False)
    with pytest.raises(Unsupported, match="do not broadcast"):
        output_shape((2, 3, 4), (3, 4, 6), False, False)
