"""DEQUANTIZE: int8/int16 -> float32 against TFLM: bit-identical. Cases are packed into one model."""
from __future__ import annotations

import numpy as np
import pytest
from op_harness import check_case, evaluated, run_packed
from tflite_builder import ModelBuilder

import mcugen
import mcugen.ops.dequantize

# (input dtype, scale, zero point, shape)
CASES = [
    ("int8", 0.05, -3, (4, 64)),
    ("int8", 1 / 256, -128, (256,)),
    ("int8", 0.0123457, 127, (2, 3, 5, 7)),
    ("int8", 3.7e-7, 0, (16, 16)),
    ("int8", 1234.5678, 11, (5,)),
    ("int16", 1 / 32768, 0, (3, 1000)),
    ("int16", 0.000123, 0, (64, 64)),
    ("int16", 0.7071068, -321, (17,)),
]


def _case_id(case):
    dtype, scale, zp, shape = case
    return f"{dtype}-{scale}_{zp}-{'x'.join(map(str, shape))}"


def add_dequantize(mb, tag, case, rng=None):
    dtype, scale, zp, shape = case
    x = mb.add_input("x" + tag, shape, dtype, scale=scale, zero_point=zp)
    y = mb.add_tensor("y" + tag, shape, "float32")
    mb.add_op("DEQUANTIZE", [x], [y])
    mb.mark_output(y)


def _inputs(case, rng):
    dtype, shape = case[0], case[3]
    info = np.iinfo(np.dtype(dtype))
    n = int(np.prod(shape))
    every = np.resize(np.arange(info.min, info.max + 1, max(1, (info.max - info.min + 1) // n)), n)
    return [[every.astype(dtype).reshape(shape)],
            [rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)]]


def assert_bits_identical(ours, theirs):
    for got_set, want_set in zip(ours, theirs, strict=True):
        for got, want in zip(got_set, want_set, strict=True):
            assert got.dtype == want.dtype == np.float32 and got.shape == want.shape
            np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


@pytest.fixture(scope="module")
def results():
    return run_packed(CASES, _case_id, add_dequantize, _inputs, np.random.default_rng(8))


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_dequantize_is_bit_identical_to_tflm(case, results):
    check_case(results[_case_id(case)], assert_bits_identical)


def test_evaluate_is_bit_identical_to_tflm(results):
    for cid, [got], want in evaluated(results, mcugen.ops.dequantize.evaluate):
        np.testing.assert_array_equal(got.view(np.uint32), want[0].view(np.uint32), err_msg=cid)


def test_per_channel_input_is_refused():
    mb = ModelBuilder()
    x = mb.add_input("x", (2, 3), "int8", scale=np.array([0.1, 0.2, 0.3]), zero_point=0, axis=1)
    y = mb.add_tensor("y", (2, 3), "float32")
    mb.add_op("DEQUANTIZE", [x], [y])
    mb.mark_output(y)
    with pytest.raises(ValueError, match="per-channel"):
        mcugen.Interpreter(model_content=mb.build())
