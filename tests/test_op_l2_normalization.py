"""L2_NORMALIZATION against TFLM (int8 identical, float 1e-5); cases packed a dozen to a model."""
from __future__ import annotations

import numpy as np
import pytest
from op_harness import TFLM_ARENA, assert_matches, check_case, run_mcugen, run_packed
from tflite_builder import ModelBuilder

import mcugen
from mcugen.reference import run_tflm_batch

SHAPES = [(1, 8), (3, 5), (2, 3, 4, 16), (1, 1, 1, 1), (4, 300), (2, 1000), (6, 2)]
ZERO_POINTS = [0, -3, 17, -128, 127]


def _cases():
    cases = []
    for i, shape in enumerate(SHAPES):
        cases.append(("int8", shape, ZERO_POINTS[i % len(ZERO_POINTS)]))
        cases.append(("float32", shape, None))
    for zp in ZERO_POINTS:
        cases.append(("int8", (5, 24), zp))
    return cases


CASES = _cases()


def _case_id(case):
    dtype, shape, zp = case
    return f"{dtype}-{'x'.join(map(str, shape))}" + ("" if zp is None else f"-zp{zp}")


def add_l2(mb, tag, case, rng=None, out_scale=1 / 128, out_zp=0):
    dtype, shape, zp = case
    qi = dict(scale=0.05, zero_point=zp) if dtype == "int8" else {}
    qo = dict(scale=out_scale, zero_point=out_zp) if dtype == "int8" else {}
    x = mb.add_input("x" + tag, shape, dtype, **qi)
    y = mb.add_tensor("y" + tag, shape, dtype, **qo)
    mb.add_op("L2_NORMALIZATION", [x], [y], {"fused_activation_function": "NONE"})
    mb.mark_output(y)


def build_l2(dtype, shape, zp, out_scale=1 / 128, out_zp=0):
    mb = ModelBuilder()
    add_l2(mb, "", (dtype, shape, zp), out_scale=out_scale, out_zp=out_zp)
    return mb.build()


def _inputs(case, rng):
    dtype, shape, zp = case
    if dtype == "float32":
        zero = np.zeros(shape, np.float32)
        zero.reshape(-1, shape[-1])[0, 0] = 1e-8  # norm below the 1e-6 floor
        sets = [3 * rng.standard_normal(shape), 1e-4 * rng.standard_normal(shape), zero,
                1e15 * rng.standard_normal(shape), np.ones(shape)]
        return [[v.astype(np.float32)] for v in sets]
    one = np.full(shape, zp, np.int8)
    one.reshape(-1, shape[-1])[:, 0] = zp + (1 if zp < 127 else -1)  # sum of squares exactly 1
    sets = [rng.integers(-128, 128, shape, dtype=np.int8),
            np.clip(zp + rng.integers(-3, 4, shape), -128, 127).astype(np.int8),  # tiny sums of squares
            np.full(shape, zp, np.int8),                                         # zero: TFLM treats it as 1
            one,
            np.where(rng.random(shape) < 0.5, -128, 127).astype(np.int8)]
    return [[v] for v in sets]


@pytest.fixture(scope="module")
def results():
    return run_packed(CASES, _case_id, add_l2, _inputs, np.random.default_rng(4))


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_l2_normalization_matches_tflm(case, results):
    check_case(results[_case_id(case)], assert_matches)


def test_every_sum_of_squares_up_to_a_limit():
    """Depth-2 rows (d, e) - zp reach every small sum of squares the 1/sqrt iteration sees."""
    d = np.arange(-128, 128)
    rows = np.stack(np.meshgrid(d, d), axis=-1).reshape(-1, 2).astype(np.int8)
    model = build_l2("int8", rows.shape, 0)
    [want] = run_tflm_batch([(model, [[rows]])], arena_size=TFLM_ARENA)
    assert_matches(run_mcugen(model, [[rows]]), want)


def test_int8_output_quantization_is_required():
    with pytest.raises(ValueError, match="1/128"):
        mcugen.Interpreter(model_content=build_l2("int8", (2, 8), 0, out_scale=0.01))
