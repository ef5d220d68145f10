"""ADD: single-op models, mcugen against TFLM (int8 identical, float 1e-5), broadcasting included."""
from __future__ import annotations

import functools

import numpy as np
import pytest
from tflite_builder import ModelBuilder
import op_harness
from op_harness import run_mcugen

import mcugen
import mcugen.ops.add
from mcugen.errors import Unsupported
from mcugen.ops.add import broadcast_plan
from mcugen.reference import run_tflm_batch

TFLM_ARENA = 1 << 20  # single-op models: the default (10x the model size) is too small
ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
SHAPES = [
    ((1, 4, 4, 3), (1, 4, 4, 3)),
    ((1, 4, 4, 3), (1, 1, 1, 3)),   # per-channel bias-like
    ((1, 1, 1, 3), (1, 4, 4, 3)),   # the first input broadcasts
    ((1, 4, 1, 3), (1, 1, 5, 3)),   # both broadcast
    ((2, 3, 4, 5), (5,)),           # lower rank
    ((1, 4, 4, 3), (1,)),           # scalar
    ((1, 5, 6, 1), (1, 5, 6, 7)),   # innermost broadcast of the first input
    ((3, 1, 5), (1, 4, 1)),         # rank 3, alternating
    ((4, 1), (1, 6)),
    ((2, 1, 3, 1), (1, 4, 1, 5)),   # four alternating loops
    ((1, 1, 1, 1), (1, 1, 1, 1)),
]
# (input-1 scale, zero point), (input-2 scale, zero point), (output scale, zero point)
QUANTS = [
    ((0.05, 0), (0.05, 0), (0.1, 0)),
    ((0.02, -10), (0.1, 5), (0.07, -3)),
    ((0.3, 20), (0.01, -128), (0.2, 10)),
    ((0.007, 127), (0.009, -50), (0.011, -128)),
]


def _out_shape(s1, s2):
    return tuple(np.broadcast_shapes(s1, s2))


def _cases():
    cases = []
    for i, (s1, s2) in enumerate(SHAPES):
        activation = ACTIVATIONS[i % len(ACTIVATIONS)]
        cases.append(("int8", s1, s2, QUANTS[i % len(QUANTS)], activation, False))
        cases.append(("float32", s1, s2, None, ACTIVATIONS[(i + 1) % len(ACTIVATIONS)], False))
    # More scale and activation combinations on the common bias-like shape.
    for j, quants in enumerate(QUANTS):
        for activation in (ACTIVATIONS[j], ACTIVATIONS[(j + 2) % len(ACTIVATIONS)]):
            cases.append(("int8", (1, 3, 5, 8), (1, 1, 1, 8), quants, activation, j % 2 == 1))
    for activation in ACTIVATIONS:
        cases.append(("float32", (1, 3, 5, 8), (1, 3, 5, 8), None, activation, False))
    cases.append(("float32", (1, 3, 5, 8), (8,), None, "RELU", True))
    return cases


CASES = _cases()


def _case_id(case):
    dtype, s1, s2, quants, activation, const = case
    shapes = "+".join("x".join(map(str, s)) for s in (s1, s2))
    q = "" if quants is None else "-q" + str(QUANTS.index(quants))
    return f"{dtype}-{shapes}{q}-{activation}{'-const' if const else ''}"


def _random(dtype, shape, rng):
    if dtype == "int8":
        return rng.integers(-128, 128, shape, dtype=np.int8)
    return (3 * rng.standard_normal(shape)).astype(np.float32)


def build_add(dtype, s1, s2, quants, activation, const_second, rng):
    q1, q2, qo = [dict(scale=s, zero_point=z) for s, z in quants] if quants else ({}, {}, {})
    mb = ModelBuilder()
    a = mb.add_input("a", s1, dtype, **q1)
    b = mb.add_const("b", _random(dtype, s2, rng), dtype, **q2) if const_second else mb.add_input("b", s2, dtype, **q2)
    y = mb.add_tensor("y", _out_shape(s1, s2), dtype, **qo)
    mb.add_op("ADD", [a, b], [y], dict(fused_activation_function=activation))
    mb.mark_output(y)
    return mb.build()


# float32 within rtol 1e-5 and atol 1e-6; integers identical
assert_matches = functools.partial(op_harness.assert_matches, atol=1e-6)


@pytest.fixture(scope="module")
def references():
    rng = np.random.default_rng(99)
    jobs = []
    for case in CASES:
        dtype, s1, s2, quants, activation, const = case
        model = build_add(dtype, s1, s2, quants, activation, const, rng)
        shapes = [s1] if const else [s1, s2]
        jobs.append((model, [[_random(dtype, s, rng) for s in shapes] for _ in range(3)]))
    outputs = run_tflm_batch(jobs, arena_size=TFLM_ARENA)
    return {_case_id(c): (m, xs, out) for c, (m, xs), out in zip(CASES, jobs, outputs)}


@pytest.fixture(params=["computed", "table"])
def int8_path(request, monkeypatch):
    """Force the int8 kernel that computes the scaled inputs, or the one that looks them up."""
    monkeypatch.setattr(mcugen.ops.add, "TABLE_MIN_ELEMENTS", 0 if request.param == "table" else 1 << 62)
    return request.param


@pytest.mark.parametrize("case", [c for c in CASES if c[0] == "int8"], ids=_case_id)
def test_int8_add_matches_tflm(case, references, int8_path):
    model, input_sets, expected = references[_case_id(case)]
    assert_matches(run_mcugen(model, input_sets), expected)


@pytest.mark.parametrize("case", [c for c in CASES if c[0] == "float32"], ids=_case_id)
def test_float_add_matches_tflm(case, references):
    model, input_sets, expected = references[_case_id(case)]
    assert_matches(run_mcugen(model, input_sets), expected)


def test_int8_every_input_pair(int8_path):
    """(256, 1) + (1, 256) covers all 65536 int8 input pairs, for every scale combination."""
    values = np.arange(-128, 128, dtype=np.int8)
    jobs = []
    for quants in QUANTS + [((0.1, 0), (0.003, 9), (0.1, -7)), ((1.5, -1), (1.4, 2), (2.9, 0))]:
        rng = np.random.default_rng(0)
        model = build_add("int8", (256, 1), (1, 256), quants, "NONE", False, rng)
        jobs.append((model, [[values.reshape(256, 1), values.reshape(1, 256)]]))
    for (model, input_sets), expected in zip(jobs, run_tflm_batch(jobs, arena_size=TFLM_ARENA)):
        assert_matches(run_mcugen(model, input_sets), expected)


@pytest.mark.parametrize("s1,s2,out", [((1, 4, 4, 3), (1, 1, 1, 3), (1, 4, 4, 3)),
                                       ((1, 4, 1, 3), (1, 1, 5, 3), (1, 4, 5, 3)),
                                       ((3, 1, 5), (1, 4, 1), (3, 4, 5)),
                                       ((2, 1, 3, 1), (1, 4, 1, 5), (2, 4, 3, 5)),
                                       ((6,), (6,), (6,))])
def test_broadcast_plan_visits_numpy_broadcast_order(s1, s2, out):
    sizes, st1, st2 = broadcast_plan(s1, s2, out)
    a, b = np.arange(np.prod(s1)).reshape(s1), np.arange(np.prod(s2)).reshape(s2)
    want_a, want_b = np.broadcast_to(a, out).ravel(), np.broadcast_to(b, out).ravel()
    idx = np.indices(sizes).reshape(len(sizes), -1).T
    np.testing.assert_array_equal(a.ravel()[idx @ np.array(st1)], want_a)
    np.testing.assert_array_equal(b.ravel()[idx @ np.array(st2)], want_b)


def test_incompatible_shapes_are_refused():
    with pytest.raises(Unsupported, match="do not broadcast"):
        broadcast_plan((1, 4, 3), (1, 5, 3), (1, 4, 3))


def test_more_than_four_broadcast_loops_are_refused():
    with pytest.raises(Unsupported, match="needs 5 loops"):
        broadcast_plan((2, 1, 3, 1, 2), (1, 4, 1, 5, 1), (2, 4, 3, 5, 2))


# ---- int16: TFLM's general int16 path (15 bits of headroom, zero points allowed) -----------------
# (input-1 scale, zero point), (input-2 scale, zero point), (output scale, zero point)
QUANTS16 = [
    ((1 / 32768, 0), (1 / 32768, 0), (1 / 16384, 0)),          # the converter's symmetric int16
    ((0.0004, 0), (0.00013, 0), (0.0005, 0)),
    ((0.002, 1000), (0.0005, -3000), (0.0021, -20)),
    ((0.0001, -32768), (0.00011, 32767), (0.00015, 7)),        # extreme zero points
]


def _int16_cases():
    cases = []
    for i, (s1, s2) in enumerate(SHAPES):
        cases.append((s1, s2, QUANTS16[i % len(QUANTS16)], ACTIVATIONS[(i + 3) % len(ACTIVATIONS)]))
    for j, quants in enumerate(QUANTS16):
        cases.append(((1, 3, 5, 8), (1, 3, 5, 8), quants, ACTIVATIONS[j]))
    return cases


INT16_CASES = _int16_cases()


@pytest.fixture(scope="module")
def int16_references():
    """Every int16 case side by side in one model (one C build), with its TFLM outputs."""
    rng = np.random.default_rng(16)
    mb = ModelBuilder()
    shapes, zero_points = [], []
    for k, (s1, s2, quants, activation) in enumerate(INT16_CASES):
        q1, q2, qo = [dict(scale=s, zero_point=z) for s, z in quants]
        a = mb.add_input(f"a{k}", s1, "int16", **q1)
        b = mb.add_input(f"b{k}", s2, "int16", **q2)
        y = mb.add_tensor(f"y{k}", _out_shape(s1, s2), "int16", **qo)
        mb.add_op("ADD", [a, b], [y], dict(fused_activation_function=activation))
        mb.mark_output(y)
        shapes += [s1, s2]
        zero_points += [quants[0][1], quants[1][1]]
    model = mb.build()
    sets = [[rng.integers(-32768, 32768, s, dtype=np.int16) for s in shapes] for _ in range(3)]
    sets.append([rng.choice(np.array([-32768, -32767, -1, 0, 1, 32766, 32767], np.int16), s) for s in shapes])
    # Small real values, inside the clamping activations' ranges.
    sets.append([np.clip(z + rng.integers(-2000, 2001, s), -32768, 32767).astype(np.int16)
                 for s, z in zip(shapes, zero_points)])
    (expected,) = run_tflm_batch([(model, sets)], arena_size=TFLM_ARENA)
    return model, sets, expected


def test_int16_add_matches_tflm(int16_references):
    model, sets, expected = int16_references
    for k, (got, want) in enumerate(zip(zip(*run_mcugen(model, sets)), zip(*expected))):
        try:
            assert_matches([list(got)], [list(want)])
        except AssertionError as e:
            raise AssertionError(f"case {INT16_CASES[k]}: {e}") from None


def test_int16_add_outputs_are_not_degenerate(int16_references):
    _, _, expected = int16_references
    for k, case in enumerate(INT16_CASES):
        assert max(len(np.unique(outs[k])) for outs in expected) > min(16, expected[0][k].size // 3), case
