"""QUANTIZE: float32 -> int8/int16 and int8/int16 requantization against TFLM (identical).

Cases are packed a dozen to a model (independent inputs, ops and outputs) to save C builds.
"""
from __future__ import annotations

import numpy as np
import pytest
from op_harness import TFLM_ARENA, assert_identical, check_case, evaluated, run_mcugen, run_packed
from tflite_builder import ModelBuilder

import mcugen
import mcugen.ops.quantize
from mcugen.reference import run_tflm_batch

SHAPE = (4, 5, 13)  # 260 values: over the table threshold unless a test lowers it
# (input dtype, input (scale, zero point) or None, output dtype, output (scale, zero point))
CASES = [
    ("float32", None, "int8", (0.05, -3)),
    ("float32", None, "int8", (0.5, 0)),          # x / 0.5 is exact: ties round away from zero
    ("float32", None, "int8", (1 / 256, -128)),
    ("float32", None, "int8", (0.0123, 100)),
    ("float32", None, "int16", (0.001, 0)),
    ("float32", None, "int16", (0.5, 7)),
    ("float32", None, "int16", (3.1e-5, -12)),
    ("int8", (0.05, -3), "int8", (0.05, -3)),      # same quantization: multiplier 2^30, shift 1
    ("int8", (0.05, -3), "int8", (0.05, 10)),      # zero point change only
    ("int8", (0.02, 5), "int8", (0.1, -7)),        # downscale
    ("int8", (0.1, -128), "int8", (0.013, 3)),     # upscale, saturating
    ("int8", (0.3, 127), "int8", (0.0007, 0)),     # large positive shift
    ("int8", (0.05, 1), "int16", (0.0004, 0)),
    ("int8", (0.05, -20), "int16", (0.07, 11)),
    ("int16", (0.0004, 0), "int8", (0.05, -2)),
    ("int16", (0.001, 3), "int8", (0.0009, 100)),
    ("int16", (0.0004, 0), "int16", (0.0013, 0)),
    ("int16", (0.02, -5), "int16", (0.0003, 6)),
]


def _case_id(case):
    din, qin, dout, qout = case
    qi = "" if qin is None else f"{qin[0]}_{qin[1]}"
    return f"{din}{qi}-to-{dout}{qout[0]}_{qout[1]}"


def add_quantize(mb, tag, case, rng=None, shape=SHAPE):
    din, qin, dout, qout = case
    x = mb.add_input("x" + tag, shape, din, **(dict(scale=qin[0], zero_point=qin[1]) if qin else {}))
    y = mb.add_tensor("y" + tag, shape, dout, scale=qout[0], zero_point=qout[1])
    mb.add_op("QUANTIZE", [x], [y])
    mb.mark_output(y)


def build_quantize(din, qin, dout, qout, shape=SHAPE):
    mb = ModelBuilder()
    add_quantize(mb, "", (din, qin, dout, qout), shape=shape)
    return mb.build()


def _inputs(case, rng, shape=SHAPE):
    din, qout = case[0], case[3]
    n = int(np.prod(shape))
    if din == "float32":
        scale = qout[0]
        sets = [(rng.uniform(-300 * scale, 300 * scale, n)).astype(np.float32),
                (scale * (np.arange(n) - n // 2) / 2).astype(np.float32),  # near and at the .5 ties
                (scale * rng.standard_normal(n) * 40).astype(np.float32)]
        return [[v.reshape(shape)] for v in sets]
    info = np.iinfo(np.dtype(din))
    every = np.resize(np.arange(-128, 128), n) if din == "int8" else rng.integers(info.min, info.max, n, endpoint=True)
    return [[every.astype(din).reshape(shape)]] + [
        [rng.integers(info.min, info.max, n, endpoint=True).astype(din).reshape(shape)] for _ in range(2)]


@pytest.fixture(scope="module", params=["computed", "table"])
def results(request):
    """Every case, with int8 requantization forced to compute, or to look up a table."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mcugen.ops.quantize, "TABLE_MIN_ELEMENTS", 0 if request.param == "table" else 1 << 62)
        return run_packed(CASES, _case_id, add_quantize, _inputs, np.random.default_rng(77))


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_quantize_matches_tflm(case, results):
    check_case(results[_case_id(case)], assert_identical)


def test_evaluate_matches_tflm(results):
    """Constant folding gives TFLM's values."""
    for cid, [got], want in evaluated(results, mcugen.ops.quantize.evaluate):
        np.testing.assert_array_equal(got, want[0], err_msg=cid)


def test_out_of_range_floats_saturate():
    """|x / scale| beyond int32 and NaN are undefined behaviour in TFLM's float -> int32 cast.

    mcugen saturates (+big -> max, -big and NaN -> min). TFLM on x86-64 gets INT32_MIN from the
    cast, so it maps +big to the minimum too; within int32 range both clamp identically."""
    shape = (8,)
    x = np.array([3e9, -3e9, np.inf, -np.inf, np.nan, 1e6, -1e6, 0.0], np.float32).reshape(shape)
    model = build_quantize("float32", None, "int8", (0.5, 3), shape)
    [[got]] = run_mcugen(model, [[x]])
    np.testing.assert_array_equal(got, [127, -128, 127, -128, -128, 127, -128, 3])
    [[want]] = run_tflm_batch([(model, [[x]])], arena_size=TFLM_ARENA)[0]
    in_range = np.abs(x / 0.5) < 2.0 ** 31
    np.testing.assert_array_equal(got[in_range], want[in_range])
