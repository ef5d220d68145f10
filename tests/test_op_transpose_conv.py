"""TRANSPOSE_CONV against TFLM (int8 identical, float 1e-5); cases packed a dozen to a model."""
from __future__ import annotations

import numpy as np
import pytest
from op_harness import assert_matches, check_case, run_mcugen, run_packed
from tflite_builder import ModelBuilder

import mcugen
from mcugen.ops.transpose_conv import tflm_padding

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
# (batch, in_h, in_w, in_c, out_h, out_w, out_c, filter_h, filter_w, stride_h, stride_w, padding)
GEOMETRIES = [
    (1, 4, 4, 3, 8, 8, 5, 3, 3, 2, 2, "SAME"),     # the usual 2x upsampling
    (1, 4, 4, 3, 9, 9, 2, 3, 3, 2, 2, "VALID"),    # (in - 1) * stride + filter
    (1, 5, 6, 4, 5, 6, 3, 3, 3, 1, 1, "SAME"),     # stride 1
    (1, 3, 4, 2, 6, 12, 4, 2, 4, 2, 3, "SAME"),    # different strides and filter sizes per axis
    (2, 3, 3, 2, 6, 6, 3, 1, 1, 2, 2, "SAME"),     # 1x1 filter with stride: outputs no input reaches
    (1, 4, 4, 3, 7, 7, 2, 5, 5, 2, 2, "SAME"),     # odd output size: total padding is odd
    (1, 2, 2, 8, 8, 8, 4, 4, 4, 4, 4, "VALID"),    # filter == stride: no overlap
    (1, 3, 5, 1, 9, 13, 1, 5, 3, 3, 3, "VALID"),   # filter > stride on one axis
    (1, 6, 6, 16, 12, 12, 8, 3, 3, 2, 2, "SAME"),  # deeper
    (1, 4, 4, 2, 4, 4, 2, 7, 7, 1, 1, "SAME"),     # filter larger than the image
]
# (input scale, zp), filter scales (per channel when a list), (output scale, zp)
QUANTS = [
    ((0.05, -3), "per-channel", (0.1, 5)),
    ((0.02, 10), 0.01, (0.05, -7)),
    ((0.1, -128), "per-channel", (0.4, 20)),
]
# (bias) "yes", "none" (3 inputs) or "omitted" (4 inputs, bias index -1)
BIAS = ("yes", "none", "omitted")


def _cases():
    cases = []
    for g, geom in enumerate(GEOMETRIES):
        act = ACTIVATIONS[g % len(ACTIVATIONS)]
        cases.append(("int8", geom, QUANTS[g % len(QUANTS)], act, BIAS[g % len(BIAS)]))
        cases.append(("float32", geom, None, ACTIVATIONS[(g + 1) % len(ACTIVATIONS)], BIAS[(g + 1) % len(BIAS)]))
    return cases


CASES = _cases()


def _case_id(case):
    dtype, (n, ih, iw, ic, oh, ow, oc, fh, fw, sh, sw, pad), q, act, bias = case
    qs = "" if q is None else f"-q{QUANTS.index(q)}"
    return f"{dtype}-{n}x{ih}x{iw}x{ic}-to-{oh}x{ow}x{oc}-f{fh}x{fw}-s{sh}x{sw}-{pad}-{act}-bias_{bias}{qs}"


def add_transpose_conv(mb, tag, case, rng):
    dtype, geom, q, act, bias = case
    n, ih, iw, ic, oh, ow, oc, fh, fw, sh, sw, padding = geom
    shape = mb.add_const("output_shape" + tag, np.array([n, oh, ow, oc], np.int32))
    if dtype == "int8":
        (si, zi), fs, (so, zo) = q
        fscales = rng.uniform(0.002, 0.02, oc).astype(np.float32) if fs == "per-channel" else np.float32(fs)
        w = mb.add_const("w" + tag, rng.integers(-127, 128, (oc, fh, fw, ic)), "int8", scale=fscales, zero_point=0, axis=0)
        x = mb.add_input("x" + tag, (n, ih, iw, ic), "int8", scale=si, zero_point=zi)
        b = mb.add_const("b" + tag, rng.integers(-3000, 3000, oc), "int32",
                         scale=si * np.broadcast_to(fscales, (oc,)), zero_point=0)
        y = mb.add_tensor("y" + tag, (n, oh, ow, oc), "int8", scale=so, zero_point=zo)
    else:
        w = mb.add_const("w" + tag, (0.3 * rng.standard_normal((oc, fh, fw, ic))).astype(np.float32))
        x = mb.add_input("x" + tag, (n, ih, iw, ic), "float32")
        b = mb.add_const("b" + tag, rng.standard_normal(oc).astype(np.float32))
        y = mb.add_tensor("y" + tag, (n, oh, ow, oc), "float32")
    inputs = [shape, w, x] + {"yes": [b], "none": [], "omitted": [-1]}[bias]
    mb.add_op("TRANSPOSE_CONV", inputs, [y], {"padding": padding, "stride_h": sh, "stride_w": sw,
                                               "fused_activation_function": act})
    mb.mark_output(y)


def build_transpose_conv(dtype, geom, q, act, bias, rng):
    mb = ModelBuilder()
    add_transpose_conv(mb, "", (dtype, geom, q, act, bias), rng)
    return mb.build()


def _random(dtype, shape, rng):
    if dtype == "int8":
        return rng.integers(-128, 128, shape, dtype=np.int8)
    return rng.standard_normal(shape).astype(np.float32)


def _inputs(case, rng):
    dtype, shape = case[0], case[1][:4]
    return [[_random(dtype, shape, rng)] for _ in range(3)]


@pytest.fixture(scope="module")
def results():
    return run_packed(CASES, _case_id, add_transpose_conv, _inputs, np.random.default_rng(606))


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_transpose_conv_matches_tflm(case, results):
    check_case(results[_case_id(case)], assert_matches)


def test_float_matches_a_numpy_scatter():
    """Independent of TFLM: the definition, input pixel (y, x) adding to output (y*s - pad + fy, ...)."""
    rng = np.random.default_rng(3)
    geom = (1, 3, 4, 2, 7, 8, 3, 3, 2, 2, 2, "SAME")
    model = build_transpose_conv("float32", geom, None, "NONE", "none", rng)
    graph, _ = mcugen.compiler.load(model)
    w = graph.tensor(graph.operators[0].inputs[1]).data
    x = rng.standard_normal(geom[:4]).astype(np.float32)
    [[got]] = run_mcugen(model, [[x]])
    pad_h, pad_w = tflm_padding("SAME", 7, 8, 3, 2, 2, 2)
    full = np.zeros((1, 7 + 10, 8 + 10, 3))
    for yy in range(3):
        for xx in range(4):
            full[0, 5 + yy * 2 - pad_h:5 + yy * 2 - pad_h + 3, 5 + xx * 2 - pad_w:5 + xx * 2 - pad_w + 2] += \
                np.einsum("hwoc,c->hwo", w.transpose(1, 2, 0, 3), x[0, yy, xx])
    np.testing.assert_allclose(got, full[:, 5:12, 5:13], rtol=1e-5, atol=1e-5)


def test_padding_follows_tflm():
    assert tflm_padding("SAME", 8, 8, 3, 3, 2, 2) == (0, 0)   # conv over 8 gives 4: total 1 -> 0 before
    assert tflm_padding("SAME", 7, 7, 5, 5, 2, 2) == (2, 2)   # conv over 7 gives 4: total 4
    assert tflm_padding("SAME", 8, 6, 5, 5, 2, 3) == (1, 1)   # totals 3 and 4
    assert tflm_padding("VALID", 9, 9, 3, 3, 2, 2) == (0, 0)
    assert tflm_padding("VALID", 2, 2, 7, 7, 1, 1) == (0, 0)  # TFLM's size check fails: padding stays 0
