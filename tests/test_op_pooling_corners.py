"""AVERAGE_POOL_2D / MAX_POOL_2D corner cases against TFLM (int8 identical, float 1e-5).

Cases are packed a dozen to a model (independent inputs, ops and outputs) to save C builds.

SAME padding on odd sizes, filters larger than the stride (overlapping windows), filters larger
than the input (windows clipped on both sides), 1xN and Nx1 filters, strides larger than the
filter (skipped pixels), and windows that clip to a single tap.
"""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from op_harness import assert_matches, check_case, run_mcugen, run_packed
from tflite_builder import ModelBuilder

from mcugen.ops.pooling import output_size

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
# (batch, in_h, in_w, channels, filter_h, filter_w, stride_h, stride_w, padding)
GEOMETRIES = [
    # SAME padding on odd sizes
    (1, 5, 7, 2, 2, 2, 2, 2, "SAME"),      # even filter: padding only after
    (1, 3, 3, 1, 2, 2, 2, 2, "SAME"),      # last window is one tap per axis
    (1, 9, 11, 3, 4, 4, 3, 3, "SAME"),
    (2, 7, 5, 2, 3, 3, 2, 2, "SAME"),
    (1, 1, 7, 2, 3, 3, 1, 2, "SAME"),      # a single row
    # filter larger than the stride
    (1, 8, 8, 2, 3, 3, 1, 1, "SAME"),
    (1, 7, 7, 2, 5, 5, 2, 2, "SAME"),
    (1, 10, 9, 3, 4, 3, 2, 1, "VALID"),
    # filter larger than the input
    (1, 3, 3, 2, 5, 5, 1, 1, "SAME"),      # every window clipped on both sides
    (1, 2, 2, 3, 4, 4, 2, 2, "SAME"),      # one output pixel
    (1, 3, 5, 2, 7, 2, 1, 1, "SAME"),      # taller than the input only
    (1, 1, 1, 4, 3, 3, 2, 2, "SAME"),      # 1x1 input
    (1, 4, 6, 2, 4, 6, 1, 1, "VALID"),     # filter exactly the input: a global pool
    (1, 4, 6, 2, 4, 6, 5, 7, "VALID"),     # ... with strides larger than the input
    # 1xN and Nx1 filters
    (1, 6, 9, 3, 1, 3, 1, 2, "SAME"),
    (1, 6, 9, 3, 1, 4, 1, 1, "VALID"),
    (1, 9, 6, 2, 5, 1, 2, 1, "SAME"),
    (1, 9, 6, 2, 3, 1, 3, 1, "VALID"),
    (1, 5, 8, 2, 1, 8, 1, 1, "VALID"),     # whole rows
    # stride larger than the filter: pixels no window reads
    (1, 9, 9, 2, 2, 2, 3, 3, "VALID"),
    (1, 10, 10, 2, 2, 2, 3, 3, "SAME"),
    (1, 7, 7, 2, 1, 1, 2, 3, "SAME"),
]


def _cases():
    cases = []
    for g, geom in enumerate(GEOMETRIES):
        for opcode in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            for dtype in ("int8", "float32"):
                act = ACTIVATIONS[(g + (opcode == "MAX_POOL_2D") + 2 * (dtype == "float32")) % len(ACTIVATIONS)]
                cases.append((opcode, dtype, geom, act))
    return cases


CASES = _cases()


def _case_id(case):
    opcode, dtype, (n, h, w, c, fh, fw, sh, sw, pad), act = case
    return f"{opcode[:3].lower()}-{dtype}-{n}x{h}x{w}x{c}-f{fh}x{fw}-s{sh}x{sw}-{pad}-{act}"


def add_pool(mb, tag, case, rng=None):
    opcode, dtype, geom, activation = case
    n, h, w, c, fh, fw, sh, sw, padding = geom
    out_shape = (n, output_size(padding, h, fh, sh), output_size(padding, w, fw, sw), c)
    q = dict(scale=0.05, zero_point=-3) if dtype == "int8" else {}
    x = mb.add_input("x" + tag, (n, h, w, c), dtype, **q)
    y = mb.add_tensor("y" + tag, out_shape, dtype, **q)
    mb.add_op(opcode, [x], [y], dict(padding=padding, stride_w=sw, stride_h=sh, filter_width=fw,
                                     filter_height=fh, fused_activation_function=activation))
    mb.mark_output(y)


def build_pool(*case):
    mb = ModelBuilder()
    add_pool(mb, "", case)
    return mb.build()


def _inputs(case, rng):
    dtype, shape = case[1], case[2][:4]
    if dtype == "int8":
        return [[rng.integers(-128, 128, shape, dtype=np.int8)],
                [rng.integers(-128, -120, shape, dtype=np.int8)],  # negative sums: rounding away from zero
                [np.where(rng.random(shape) < 0.5, -128, 127).astype(np.int8)]]
    return [[(3 * rng.standard_normal(shape)).astype(np.float32)],
            [(-1 - rng.random(shape)).astype(np.float32)],  # all negative: max never sees a padding 0
            [rng.standard_normal(shape).astype(np.float32)]]


@pytest.fixture(scope="module")
def results():
    return run_packed(CASES, _case_id, add_pool, _inputs, np.random.default_rng(4096))


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_pool_corner_matches_tflm(case, results):
    check_case(results[_case_id(case)], partial(assert_matches, atol=1e-6))


def test_float_average_divides_by_valid_taps():
    """Independent of TFLM: a SAME average over a filter larger than the input is the mean of the
    pixels inside the window, never counting padding."""
    x = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    [[got]] = run_mcugen(build_pool("AVERAGE_POOL_2D", "float32", (1, 3, 3, 1, 5, 5, 1, 1, "SAME"), "NONE"), [[x]])
    img = x[0, :, :, 0]
    want = [[img[max(0, r - 2):r + 3, max(0, c - 2):c + 3].mean() for c in range(3)] for r in range(3)]
    np.testing.assert_allclose(got[0, :, :, 0], want, rtol=1e-6)
