"""DEPTHWISE_CONV_2D: single-op models, mcugen against TFLM (int8 identical, float32 within 1e-5)."""
from __future__ import annotations

import numpy as np
import pytest
from test_op_conv2d import (ACTIVATIONS, SPREAD, TFLM_ARENA, assert_layers_match, assert_matches, make_inputs,
                            real_layers, run_mcugen, sweep_references)
from tflite_builder import ModelBuilder

import mcugen
from mcugen.ops.conv2d import out_size
from mcugen.reference import run_tflm_batch

# (batch, in_h, in_w, in_c, depth_multiplier, filter_h, filter_w, stride_h, stride_w,
#  dilation_h, dilation_w, padding)
GEOMETRIES = [
    (1, 7, 9, 4, 1, 3, 3, 2, 2, 1, 1, "SAME"),     # odd sizes, stride 2: padding on both sides
    (1, 7, 9, 4, 1, 3, 3, 2, 2, 1, 1, "VALID"),
    (1, 8, 8, 8, 1, 3, 3, 1, 1, 1, 1, "SAME"),     # even sizes
    (1, 8, 6, 3, 2, 5, 3, 1, 2, 1, 1, "SAME"),     # multiplier 2, 5x3 filter, stride differs per axis
    (1, 8, 8, 5, 1, 3, 3, 2, 2, 1, 1, "SAME"),     # even sizes, stride 2: padding only at the end
    (1, 9, 9, 6, 1, 3, 3, 1, 1, 2, 2, "SAME"),     # dilation 2
    (1, 10, 7, 2, 2, 3, 3, 1, 1, 2, 1, "VALID"),   # dilation on one axis, multiplier 2
    (1, 9, 8, 3, 1, 5, 3, 2, 1, 2, 2, "SAME"),     # dilation with stride and a 5x3 filter
    (2, 6, 6, 16, 1, 3, 3, 1, 1, 1, 1, "SAME"),    # batch 2
    (1, 13, 11, 1, 8, 3, 3, 2, 2, 1, 1, "SAME"),   # one input channel, multiplier 8 (person_detect)
    (1, 5, 5, 37, 1, 3, 3, 1, 1, 1, 1, "SAME"),    # channel count not a multiple of a vector
    (1, 4, 4, 3, 3, 5, 5, 1, 1, 1, 1, "SAME"),     # window wider than the image, multiplier 3
    (1, 6, 5, 20, 1, 1, 1, 1, 1, 1, 1, "VALID"),   # 1x1 filter
    (1, 3, 3, 130, 1, 3, 3, 2, 2, 1, 1, "SAME"),   # many channels, few pixels
    (1, 4, 5, 40, 3, 3, 3, 2, 1, 1, 1, "SAME"),    # multiplier 3 over several accumulator blocks
    (1, 5, 4, 2, 70, 3, 3, 1, 1, 1, 1, "SAME"),    # multiplier above the accumulator block size
]


def output_shape(geom):
    n, h, w, ic, mult, fh, fw, sh, sw, dh, dw, padding = geom
    return (n, out_size(padding, h, fh, sh, dh), out_size(padding, w, fw, sw, dw), ic * mult)


def _cases():
    """(dtype, geometry, activation, per_channel, with_bias): every dtype meets every geometry;
    activations, per-channel/per-tensor filters and bias presence rotate over them."""
    cases = []
    for g, geom in enumerate(GEOMETRIES):
        for dtype in ("int8", "float32"):
            act = ACTIVATIONS[(g + (dtype == "float32")) % len(ACTIVATIONS)]
            per_channel = dtype == "int8" and g % 3 != 2
            with_bias = g % 4 != 3
            cases.append((dtype, geom, act, per_channel, with_bias))
    return cases


CASES = _cases()


def _case_id(case):
    dtype, (n, h, w, ic, mult, fh, fw, sh, sw, dh, dw, pad), act, per_channel, with_bias = case
    quant = ("pc" if per_channel else "pt") if dtype == "int8" else ""
    return (f"{dtype}-{n}x{h}x{w}x{ic}-m{mult}-f{fh}x{fw}-s{sh}x{sw}-d{dh}x{dw}-{pad}-{act}"
            f"{'-' + quant if quant else ''}{'' if with_bias else '-nobias'}")


def build_depthwise(dtype, geom, act, per_channel=True, with_bias=True, rng=None, in_q=(0.05, -3),
                    out_zero_point=None, out_scale_factor=1.0, multiplier_option=None,
                    bias_as_minus_one=False):
    """A single DEPTHWISE_CONV_2D model."""
    rng = rng or np.random.default_rng(0)
    n, h, w, ic, mult, fh, fw, sh, sw, dh, dw, padding = geom
    oc = ic * mult
    opts = dict(padding=padding, stride_w=sw, stride_h=sh, dilation_w_factor=dw, dilation_h_factor=dh,
                depth_multiplier=mult if multiplier_option is None else multiplier_option,
                fused_activation_function=act)
    mb = ModelBuilder()
    taps = fh * fw
    if dtype == "float32":
        x = mb.add_input("x", (n, h, w, ic), "float32")
        wt = mb.add_const("w", (rng.standard_normal((1, fh, fw, oc)) / np.sqrt(taps)).astype(np.float32), "float32")
        inputs = [x, wt]
        if with_bias:
            inputs.append(mb.add_const("b", rng.standard_normal(oc).astype(np.float32), "float32"))
        y = mb.add_tensor("y", output_shape(geom), "float32")
    else:
        in_scale, in_zp = in_q
        x = mb.add_input("x", (n, h, w, ic), "int8", scale=in_scale, zero_point=in_zp)
        acc_std = 74 * 73 * np.sqrt(taps)
        w_scale = (rng.uniform(0.5, 1.0, oc if per_channel else 1) * SPREAD[act] / (in_scale * acc_std)).astype(np.float32)
        wt = mb.add_const("w", rng.integers(-127, 128, (1, fh, fw, oc), dtype=np.int8), "int8",
                          scale=w_scale, zero_point=0, axis=3)
        inputs = [x, wt]
        bias_scale = (np.float32(in_scale) * np.broadcast_to(w_scale, (oc,))).astype(np.float32)
        if with_bias:
            bias = rng.integers(-2 * int(acc_std), 2 * int(acc_std), oc).astype(np.int32)
            inputs.append(mb.add_const("b", bias, "int32", scale=bias_scale, zero_point=0))
        out_scale = SPREAD[act] / 32 * out_scale_factor
        out_zp = int(rng.integers(-20, 20)) if out_zero_point is None else out_zero_point
        y = mb.add_tensor("y", output_shape(geom), "int8", scale=out_scale, zero_point=out_zp)
    if bias_as_minus_one:
        inputs.append(-1)  # an omitted optional input, as some converters write it
    mb.add_op("DEPTHWISE_CONV_2D", inputs, [y], opts)
    mb.mark_output(y)
    return mb.build()


REAL_LAYERS = real_layers("DEPTHWISE_CONV_2D")

CORNERS = [
    ("input-zp-minus128", GEOMETRIES[0], dict(act="NONE", in_q=(0.02, -128))),
    ("input-zp-127", GEOMETRIES[5], dict(act="RELU", in_q=(0.02, 127))),
    ("scale-above-one", GEOMETRIES[2], dict(act="NONE", out_scale_factor=1e-3)),
    ("output-zp-127-relu6", GEOMETRIES[3], dict(act="RELU6", out_zero_point=127)),
    ("output-zp-minus128-relu1", GEOMETRIES[9], dict(act="RELU_N1_TO_1", out_zero_point=-128)),
    ("per-tensor-multiplier-nobias", GEOMETRIES[11], dict(act="RELU", per_channel=False, with_bias=False)),
]


@pytest.fixture(scope="module")
def references():
    return sweep_references(build_depthwise, CASES, _case_id, CORNERS, REAL_LAYERS, seed=7)


def test_bias_input_minus_one_matches_tflm_without_it():
    """An omitted bias written as input -1. TFLM's DEPTHWISE_CONV_2D crashes on that (its Prepare
    releases the null bias tensor), so the oracle is TFLM on the same model with two inputs."""
    geom = GEOMETRIES[0]
    ours = build_depthwise("int8", geom, "RELU", with_bias=False, bias_as_minus_one=True,
                           rng=np.random.default_rng(99))
    twin = build_depthwise("int8", geom, "RELU", with_bias=False, rng=np.random.default_rng(99))
    input_sets = make_inputs("int8", geom[:4], np.random.default_rng(5))
    (expected,) = run_tflm_batch([(twin, input_sets)], arena_size=TFLM_ARENA)
    assert_matches(run_mcugen(ours, input_sets), expected)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_depthwise_matches_tflm(case, references):
    model, input_sets, expected = references[_case_id(case)]
    assert_matches(run_mcugen(model, input_sets), expected)


@pytest.mark.parametrize("name", [c[0] for c in CORNERS])
def test_depthwise_quantization_corners_match_tflm(name, references):
    model, input_sets, expected = references[name]
    assert_matches(run_mcugen(model, input_sets), expected)


@pytest.mark.parametrize("name", [layers[0] for layers in REAL_LAYERS])
def test_real_model_depthwise_layers_match_tflm(name, references):
    """Each DEPTHWISE_CONV_2D of the benchmark models on its own input, with its real weights and
    quantization."""
    model, input_sets, expected = references[name]
    keys = next(layers[3] for layers in REAL_LAYERS if layers[0] == name)
    assert_layers_match(run_mcugen(model, input_sets), expected, keys)


def test_int8_outputs_are_not_degenerate(references):
    """The sweep is only meaningful if outputs spread over many int8 values."""
    for key, (_, _, expected) in references.items():
        if key.startswith("int8"):
            out = expected[0][0]
            assert len(np.unique(out)) > min(8, out.size // 2), key


def test_inconsistent_depth_multiplier_is_rejected():
    model = build_depthwise("int8", GEOMETRIES[3], "NONE", multiplier_option=1)
    with pytest.raises(ValueError, match="depth_multiplier 1 does not match"):
        mcugen.Interpreter(model_content=model)
