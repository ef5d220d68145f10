"""CONV_2D: single-op models, mcugen against TFLM (int8 identical, float32 within 1e-5)."""
from __future__ import annotations

import functools

import numpy as np
import pytest
from conftest import MODELS_DIR
from tflite_builder import ModelBuilder
import op_harness
from op_harness import run_mcugen

import mcugen
from mcugen.frontend.tflite import load_model
from mcugen.ops.conv2d import out_size
from mcugen.reference import run_tflm_batch

REAL_MODELS = ("tiny_vww_mobilenet_int8", "tiny_ic_resnet8_int8", "tiny_kws_dscnn_int8", "tflm_person_detect_int8")
WINDOW_OPTIONS = ("padding", "stride_w", "stride_h", "dilation_w_factor", "dilation_h_factor",
                  "depth_multiplier", "fused_activation_function")

TFLM_ARENA = 1 << 20  # single-op models: the default (10x the model size) is too small
ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
SPREAD = {"NONE": 1.0, "RELU": 1.0, "RELU6": 3.0, "RELU_N1_TO_1": 0.7}  # real output std per activation

# (batch, in_h, in_w, in_c, out_c, filter_h, filter_w, stride_h, stride_w, dilation_h, dilation_w, padding)
GEOMETRIES = [
    (1, 7, 9, 3, 4, 3, 3, 2, 2, 1, 1, "SAME"),     # odd sizes, stride 2: padding on both sides
    (1, 7, 9, 3, 4, 3, 3, 2, 2, 1, 1, "VALID"),
    (1, 8, 8, 5, 6, 3, 3, 1, 1, 1, 1, "SAME"),     # even sizes
    (1, 8, 6, 4, 3, 5, 3, 1, 2, 1, 1, "SAME"),     # 5x3 filter, stride differs per axis, odd out_c
    (1, 8, 8, 4, 4, 3, 3, 2, 2, 1, 1, "SAME"),     # even sizes, stride 2: padding only at the end
    (1, 9, 9, 3, 5, 3, 3, 1, 1, 2, 2, "SAME"),     # dilation 2
    (1, 10, 7, 2, 4, 3, 3, 1, 1, 2, 1, "VALID"),   # dilation on one axis only
    (1, 9, 8, 3, 4, 5, 3, 2, 1, 2, 2, "SAME"),     # dilation with stride and a 5x3 filter
    (2, 6, 6, 8, 16, 1, 1, 1, 1, 1, 1, "VALID"),   # 1x1 fast path (matrix multiply), batch 2
    (1, 7, 7, 16, 8, 1, 1, 2, 2, 1, 1, "SAME"),    # 1x1 with stride 2 on odd sizes
    (1, 3, 5, 20, 7, 1, 1, 1, 1, 1, 1, "SAME"),    # odd pixel count and odd out_c (tail paths)
    (1, 5, 5, 33, 17, 3, 3, 1, 1, 1, 1, "SAME"),   # depth not a multiple of a vector
    (1, 12, 5, 1, 16, 10, 4, 2, 2, 1, 1, "SAME"),  # tall filter on one input channel (KWS-like)
    (1, 4, 4, 3, 2, 5, 5, 1, 1, 1, 1, "SAME"),     # window wider than the image; output too small for patches
    (1, 1, 1, 64, 3, 1, 1, 1, 1, 1, 1, "VALID"),   # one pixel (person_detect's last conv)
    (1, 4, 4, 5, 70, 3, 3, 1, 1, 1, 1, "SAME"),    # output channels span two accumulator blocks
]


def output_shape(geom):
    n, h, w, _, oc, fh, fw, sh, sw, dh, dw, padding = geom
    return (n, out_size(padding, h, fh, sh, dh), out_size(padding, w, fw, sw, dw), oc)


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
    dtype, (n, h, w, ic, oc, fh, fw, sh, sw, dh, dw, pad), act, per_channel, with_bias = case
    quant = ("pc" if per_channel else "pt") if dtype == "int8" else ""
    return (f"{dtype}-{n}x{h}x{w}x{ic}-o{oc}-f{fh}x{fw}-s{sh}x{sw}-d{dh}x{dw}-{pad}-{act}"
            f"{'-' + quant if quant else ''}{'' if with_bias else '-nobias'}")


def build_conv(dtype, geom, act, per_channel=True, with_bias=True, rng=None, in_q=(0.05, -3),
               out_zero_point=None, out_scale_factor=1.0, filter_in_c=None, bias_as_minus_one=False):
    """A single CONV_2D model."""
    rng = rng or np.random.default_rng(0)
    n, h, w, ic, oc, fh, fw, sh, sw, dh, dw, padding = geom
    filter_in_c = filter_in_c or ic
    opts = dict(padding=padding, stride_w=sw, stride_h=sh, dilation_w_factor=dw, dilation_h_factor=dh,
                fused_activation_function=act)
    mb = ModelBuilder()
    depth = fh * fw * filter_in_c
    if dtype == "float32":
        x = mb.add_input("x", (n, h, w, ic), "float32")
        wt = mb.add_const("w", (rng.standard_normal((oc, fh, fw, filter_in_c)) / np.sqrt(depth)).astype(np.float32), "float32")
        inputs = [x, wt]
        if with_bias:
            inputs.append(mb.add_const("b", rng.standard_normal(oc).astype(np.float32), "float32"))
        y = mb.add_tensor("y", output_shape(geom), "float32")
    else:
        in_scale, in_zp = in_q
        x = mb.add_input("x", (n, h, w, ic), "int8", scale=in_scale, zero_point=in_zp)
        # Scales chosen so real outputs have about SPREAD[act] standard deviation and land on
        # many int8 levels, inside the clamping activations' ranges too.
        acc_std = 74 * 73 * np.sqrt(depth)
        w_scale = (rng.uniform(0.5, 1.0, oc if per_channel else 1) * SPREAD[act] / (in_scale * acc_std)).astype(np.float32)
        wt = mb.add_const("w", rng.integers(-127, 128, (oc, fh, fw, filter_in_c), dtype=np.int8), "int8",
                          scale=w_scale, zero_point=0, axis=0)
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
    mb.add_op("CONV_2D", inputs, [y], opts)
    mb.mark_output(y)
    return mb.build()


def make_inputs(dtype, shape, rng, count=2):
    if dtype == "int8":
        return [[rng.integers(-128, 128, shape, dtype=np.int8)] for _ in range(count)]
    return [[rng.standard_normal(shape).astype(np.float32)] for _ in range(count)]


# float32 within rtol 1e-5 and atol 1e-6; integers identical
assert_matches = functools.partial(op_harness.assert_matches, atol=1e-6)


def real_layers(opcode):
    """Every `opcode` op of each real model with the model's own weights, bias and quantization, as
    one model per real model whose ops run side by side (one input and one output each; one build
    per real model keeps the test fast): [(model name, model bytes, input shapes, op names)].
    Empty when the models are absent."""
    if not MODELS_DIR.is_dir():
        return []
    result = []
    for name in REAL_MODELS:
        graph = load_model((MODELS_DIR / f"{name}.tflite").read_bytes(), name)
        mb = ModelBuilder()
        shapes, keys = [], []
        for op in graph.operators:
            if op.opcode != opcode:
                continue
            indices = []
            for i, t in enumerate(op.inputs + op.outputs):
                if t < 0:
                    indices.append(-1)
                    continue
                tensor = graph.tensor(t)
                q = {}
                if tensor.quant is not None:
                    q = dict(scale=tensor.quant.scale, zero_point=tensor.quant.zero_point, axis=tensor.quant.axis)
                if tensor.is_constant:
                    indices.append(mb.add_const(tensor.name, tensor.data, tensor.dtype, **q))
                elif i == 0:
                    indices.append(mb.add_input(tensor.name, tensor.shape, tensor.dtype, **q))
                else:
                    indices.append(mb.add_tensor(tensor.name, tensor.shape, tensor.dtype, **q))
            opts = {k: v for k, v in op.options.items() if k in WINDOW_OPTIONS}
            mb.add_op(opcode, indices[:len(op.inputs)], indices[len(op.inputs):], opts)
            mb.mark_output(indices[-1])
            shapes.append(graph.tensor(op.inputs[0]).shape)
            keys.append(f"op {op.index}")
        if keys:
            result.append((name, mb.build(), shapes, keys))
    return result


def assert_layers_match(ours, theirs, keys):
    """assert_matches for a side-by-side model, naming the op whose output differs."""
    for got_set, want_set in zip(ours, theirs, strict=True):
        for key, got, want in zip(keys, got_set, want_set, strict=True):
            try:
                assert_matches([[got]], [[want]])
            except AssertionError as e:
                raise AssertionError(f"{key}: {e}") from None


REAL_LAYERS = real_layers("CONV_2D")

# Extra int8 cases for quantization corners: (name, geometry, build kwargs)
CORNERS = [
    # Extreme input zero points: padded taps must still contribute nothing.
    ("input-zp-minus128", GEOMETRIES[0], dict(act="NONE", in_q=(0.02, -128))),
    ("input-zp-127", GEOMETRIES[5], dict(act="RELU", in_q=(0.02, 127))),
    # Effective scale above 1 (a left shift in the requantization), saturating outputs.
    ("scale-above-one", GEOMETRIES[2], dict(act="NONE", out_scale_factor=1e-4)),
    # Output zero point at the ends of the range with clamping activations.
    ("output-zp-127-relu6", GEOMETRIES[3], dict(act="RELU6", out_zero_point=127)),
    ("output-zp-minus128-relu1", GEOMETRIES[8], dict(act="RELU_N1_TO_1", out_zero_point=-128)),
    ("per-tensor-1x1-nobias", GEOMETRIES[9], dict(act="RELU", per_channel=False, with_bias=False)),
    ("bias-input-minus-one", GEOMETRIES[0], dict(act="RELU", with_bias=False, bias_as_minus_one=True)),
]


def sweep_references(build, cases, case_id, corners, real, seed):
    """Every case's model, inputs and TFLM outputs, from one TFLM worker: the sweep's cases built with
    build(dtype, geometry, act, per_channel, with_bias, rng=...), the int8 corners, the real layers."""
    rng = np.random.default_rng(seed)
    jobs, keys = [], []
    for case in cases:
        dtype, geom, act, per_channel, with_bias = case
        jobs.append((build(dtype, geom, act, per_channel, with_bias, rng=rng), make_inputs(dtype, geom[:4], rng)))
        keys.append(case_id(case))
    for name, geom, kwargs in corners:
        jobs.append((build("int8", geom, rng=rng, **kwargs), make_inputs("int8", geom[:4], rng)))
        keys.append(name)
    for name, model, shapes, _ in real:
        jobs.append((model, [[rng.integers(-128, 128, shape, dtype=np.int8) for shape in shapes] for _ in range(2)]))
        keys.append(name)
    outputs = run_tflm_batch(jobs, arena_size=TFLM_ARENA)
    return {k: (m, xs, out) for k, (m, xs), out in zip(keys, jobs, outputs)}


@pytest.fixture(scope="module")
def references():
    return sweep_references(build_conv, CASES, _case_id, CORNERS, REAL_LAYERS, seed=2024)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_conv_matches_tflm(case, references):
    model, input_sets, expected = references[_case_id(case)]
    assert_matches(run_mcugen(model, input_sets), expected)


@pytest.mark.parametrize("name", [c[0] for c in CORNERS])
def test_conv_quantization_corners_match_tflm(name, references):
    model, input_sets, expected = references[name]
    assert_matches(run_mcugen(model, input_sets), expected)


@pytest.mark.parametrize("name", [layers[0] for layers in REAL_LAYERS])
def test_real_model_conv_layers_match_tflm(name, references):
    """Each CONV_2D of the benchmark models on its own input, with its real weights and quantization."""
    model, input_sets, expected = references[name]
    keys = next(layers[3] for layers in REAL_LAYERS if layers[0] == name)
    assert_layers_match(run_mcugen(model, input_sets), expected, keys)


def test_int8_outputs_are_not_degenerate(references):
    """The sweep is only meaningful if outputs spread over many int8 values."""
    for key, (_, _, expected) in references.items():
        if key.startswith("int8"):
            out = expected[0][0]
            assert len(np.unique(out)) > min(8, out.size // 2), key


def test_grouped_conv_is_unsupported():
    geom = (1, 5, 5, 4, 4, 3, 3, 1, 1, 1, 1, "SAME")
    model = build_conv("int8", geom, "NONE", filter_in_c=2)
    with pytest.raises(ValueError, match="grouped convolution"):
        mcugen.Interpreter(model_content=model)
