"""CONV_2D and DEPTHWISE_CONV_2D with int16 activations and int8 filters (16x8): mcugen against TFLM,
identical outputs.

Each sweep is one model whose ops run side by side (one input and one output each), so a sweep
costs one C build. TFLM accumulates 16x8 convolutions in the bias type (int64, or int32 for
CONV_2D with an int32 bias or with quantized_bias_type int32 and no bias), which changes the
requantization; every bias kind meets several geometries.
"""
from __future__ import annotations

import numpy as np
import pytest
from op_harness import NAME, check_strict_c
from test_op_conv2d import ACTIVATIONS, SPREAD, TFLM_ARENA, assert_layers_match, run_mcugen
from test_op_conv2d import GEOMETRIES as CONV_GEOMETRIES
from test_op_conv2d import output_shape as conv_output_shape
from test_op_depthwise_conv2d import GEOMETRIES as DW_GEOMETRIES
from test_op_depthwise_conv2d import output_shape as dw_output_shape
from tflite_builder import ModelBuilder

import mcugen
from mcugen import codegen, compiler
from mcugen.reference import run_tflm_batch

IN_SCALE = 1 / 4096
IN_STD = 18918  # of uniform int16 inputs
OUT_LEVELS = 8000  # int16 steps per SPREAD of real output
CONV_BIASES = ("int64", "int32", "none", "none-int32")  # none-int32: no bias, quantized_bias_type int32
DW_BIASES = ("int64", "none")


def add_conv(mb, rng, opcode, geom, act, per_channel, bias_kind, name, out_scale_factor=1.0, bias_range=None,
             weights=None):
    """One 16x8 CONV_2D or DEPTHWISE_CONV_2D with its own input and output; returns the input shape."""
    if opcode == "CONV_2D":
        n, h, w, ic, oc, fh, fw, sh, sw, dh, dw, padding = geom
        w_shape, axis, depth, out_shape = (oc, fh, fw, ic), 0, fh * fw * ic, conv_output_shape(geom)
        opts = {}
    else:
        n, h, w, ic, mult, fh, fw, sh, sw, dh, dw, padding = geom
        oc = ic * mult
        w_shape, axis, depth, out_shape = (1, fh, fw, oc), 3, fh * fw, dw_output_shape(geom)
        opts = {"depth_multiplier": mult}
    opts.update(padding=padding, stride_w=sw, stride_h=sh, dilation_w_factor=dw, dilation_h_factor=dh,
                fused_activation_function=act)
    acc_std = IN_STD * 73 * np.sqrt(depth)
    w_scale = (rng.uniform(0.5, 1.0, oc if per_channel else 1) * SPREAD[act] / (IN_SCALE * acc_std)).astype(np.float32)
    x = mb.add_input(f"{name}_x", (n, h, w, ic), "int16", scale=IN_SCALE, zero_point=0)
    filt = weights if weights is not None else rng.integers(-127, 128, w_shape)
    inputs = [x, mb.add_const(f"{name}_w", filt, "int8", scale=w_scale, zero_point=0, axis=axis)]
    if bias_kind in ("int64", "int32"):
        lo, hi = bias_range or (-2 * int(acc_std), 2 * int(acc_std))
        bias_scale = (np.float32(IN_SCALE) * np.broadcast_to(w_scale, (oc,))).astype(np.float32)
        inputs.append(mb.add_const(f"{name}_b", rng.integers(lo, hi, oc), bias_kind, scale=bias_scale, zero_point=0))
    if bias_kind == "none-int32":
        opts["quantized_bias_type"] = "int32"
    y = mb.add_tensor(f"{name}_y", out_shape, "int16", scale=SPREAD[act] / OUT_LEVELS * out_scale_factor, zero_point=0)
    mb.add_op(opcode, inputs, [y], opts)
    mb.mark_output(y)
    return (n, h, w, ic)


def sweep(opcode, geometries, biases, rng):
    """(model, input shapes, case names): every geometry, with activations, per-channel or
    per-tensor filters and bias kinds rotating over them."""
    mb = ModelBuilder()
    shapes, names = [], []
    for g, geom in enumerate(geometries):
        act = ACTIVATIONS[g % len(ACTIVATIONS)]
        bias = biases[(g + g // len(ACTIVATIONS)) % len(biases)]
        name = f"{opcode}-g{g}-{act}-{bias}-{'pt' if g % 3 == 2 else 'pc'}"
        shapes.append(add_conv(mb, rng, opcode, geom, act, g % 3 != 2, bias, f"op{g}"))
        names.append(name)
    return mb.build(), shapes, names


def corners(rng):
    """Quantization corners of both ops in one model."""
    mb = ModelBuilder()
    cases = [
        # int64 biases far beyond int32, with a small multiplier: outputs come mostly from the bias.
        ("conv-bias-beyond-int32", "CONV_2D", CONV_GEOMETRIES[8], "NONE", "int64",
         dict(out_scale_factor=2.0 ** 13, bias_range=(-2 ** 37, 2 ** 37))),
        ("dw-bias-beyond-int32", "DEPTHWISE_CONV_2D", DW_GEOMETRIES[2], "NONE", "int64",
         dict(out_scale_factor=2.0 ** 13, bias_range=(-2 ** 37, 2 ** 37))),
        # Multipliers of about 1.5 (a left shift): small inputs and biases keep outputs unsaturated.
        ("conv-scale-above-one-int64", "CONV_2D", CONV_GEOMETRIES[2], "NONE", "int64", dict(out_scale_factor=4e-4, bias_range=(-3000, 3000))),
        ("conv-scale-above-one-int32", "CONV_2D", CONV_GEOMETRIES[2], "RELU", "int32", dict(out_scale_factor=4e-4, bias_range=(-3000, 3000))),
        ("dw-scale-above-one", "DEPTHWISE_CONV_2D", DW_GEOMETRIES[3], "NONE", "int64", dict(out_scale_factor=7e-4, bias_range=(-3000, 3000))),
        # 700-deep sums of same-sign products overflow int32: TFLM's int32 accumulator wraps, its
        # int64 one does not.
        ("conv-int32-accumulator-wraps", "CONV_2D", (1, 2, 3, 700, 4, 1, 1, 1, 1, 1, 1, "VALID"), "NONE", "int32",
         dict(weights=np.full((4, 1, 1, 700), 127), out_scale_factor=40.0)),
        ("conv-int64-accumulator-exact", "CONV_2D", (1, 2, 3, 700, 4, 1, 1, 1, 1, 1, 1, "VALID"), "NONE", "int64",
         dict(weights=np.full((4, 1, 1, 700), 127), out_scale_factor=40.0)),
    ]
    shapes = []
    for i, (name, opcode, geom, act, bias, kwargs) in enumerate(cases):
        shapes.append(add_conv(mb, rng, opcode, geom, act, True, bias, f"c{i}", **kwargs))
    return mb.build(), shapes, [c[0] for c in cases]


def input_sets(shapes, rng):
    """Full-range random inputs, small ones, and extremes of one sign (for the wrap-around cases)."""
    sets = [[rng.integers(-32768, 32768, s, dtype=np.int16) for s in shapes],
            [rng.integers(-20, 21, s, dtype=np.int16) for s in shapes]]
    extremes = [np.where(rng.random(s) < 0.9, 32767, rng.integers(-32768, 32768, s)).astype(np.int16) for s in shapes]
    return sets + [extremes]


@pytest.fixture(scope="module")
def references():
    rng = np.random.default_rng(16)
    models = {"conv": sweep("CONV_2D", CONV_GEOMETRIES, CONV_BIASES, rng),
              "depthwise": sweep("DEPTHWISE_CONV_2D", DW_GEOMETRIES, DW_BIASES, rng),
              "corners": corners(rng)}
    jobs = [(model, input_sets(shapes, rng)) for model, shapes, _ in models.values()]
    outputs = run_tflm_batch(jobs, arena_size=TFLM_ARENA)
    return {k: (m[0], xs, out, m[2]) for k, m, (_, xs), out in zip(models, models.values(), jobs, outputs)}


@pytest.mark.parametrize("key", ["conv", "depthwise", "corners"])
def test_16x8_matches_tflm(key, references):
    model, sets, expected, names = references[key]
    assert_layers_match(run_mcugen(model, sets), expected, names)


def test_16x8_sweeps_are_not_degenerate(references):
    """Outputs must spread over many int16 values for the comparison to mean much."""
    for key, (_, _, expected, names) in references.items():
        for k, name in enumerate(names):
            size = expected[0][k].size
            limit = 8 if key == "corners" else min(64, size // 3)
            assert max(len(np.unique(outs[k])) for outs in expected) > limit, name


def test_int32_accumulator_really_wraps(references):
    """The wrap-around corner is only a test if TFLM's int32 and int64 accumulators disagree there."""
    _, _, expected, names = references["corners"]
    wraps, exact = names.index("conv-int32-accumulator-wraps"), names.index("conv-int64-accumulator-exact")
    extremes = expected[2]
    assert not np.array_equal(extremes[wraps], extremes[exact])


def _single(opcode, x_zp=0, bias="int64", filter_dtype="int8"):
    mb = ModelBuilder()
    geom = (1, 5, 5, 3, 3, 3, 3, 1, 1, 1, 1, "SAME") if opcode == "CONV_2D" else (1, 5, 5, 3, 1, 3, 3, 1, 1, 1, 1, "SAME")
    add_conv(mb, np.random.default_rng(0), opcode, geom, "NONE", True, bias, "op")
    model = mb.build()
    if x_zp or filter_dtype != "int8":
        mb.tensors[0].zero_point[:] = x_zp
        mb.tensors[1].dtype = filter_dtype
        if filter_dtype == "int16":
            mb.tensors[1].data = np.frombuffer(mb.tensors[1].data, np.int8).astype("<i2").tobytes()
        model = mb.build()
    return model


@pytest.mark.parametrize("opcode", ["CONV_2D", "DEPTHWISE_CONV_2D"])
def test_16x8_needs_zero_points_of_0(opcode):
    with pytest.raises(ValueError, match="zero point 0"):
        mcugen.Interpreter(model_content=_single(opcode, x_zp=5))


def test_16x8_depthwise_takes_only_int64_bias():
    """TFLM reads a 16x8 depthwise bias as int64 whatever its type, so an int32 bias is refused."""
    with pytest.raises(ValueError, match="int64"):
        mcugen.Interpreter(model_content=_single("DEPTHWISE_CONV_2D", bias="int32"))


def test_int16_filter_is_refused():
    with pytest.raises(ValueError, match="int8 filter"):
        mcugen.Interpreter(model_content=_single("CONV_2D", filter_dtype="int16"))


def _pipeline_16x8() -> bytes:
    """Every 16x8 kernel in a row: CONV_2D (int64 bias, then int32 bias), DEPTHWISE_CONV_2D, ADD,
    RESHAPE, FULLY_CONNECTED (int64 bias, then int32 bias), SOFTMAX."""
    rng = np.random.default_rng(5)
    mb = ModelBuilder()

    def act(name, shape, scale):
        return mb.add_tensor(name, shape, "int16", scale=scale, zero_point=0)

    def weights(name, shape, axis, in_scale, bias_dtype, gain=1.0):
        channels = shape[axis]
        w_scale = (rng.uniform(0.5, 1.0, channels) * gain / 127).astype(np.float32)
        w = mb.add_const(name, rng.integers(-127, 128, shape), "int8", scale=w_scale, zero_point=0, axis=axis)
        b = mb.add_const(name + "_b", rng.integers(-20000, 20000, channels), bias_dtype,
                         scale=(np.float32(in_scale) * w_scale).astype(np.float32), zero_point=0)
        return w, b

    window = {"stride_w": 1, "stride_h": 1, "dilation_w_factor": 1, "dilation_h_factor": 1}
    x = mb.add_input("x", (1, 6, 6, 3), "int16", scale=1 / 8192, zero_point=0)
    w1, b1 = weights("conv1", (4, 3, 3, 3), 0, 1 / 8192, "int64")
    c1 = act("c1", (1, 6, 6, 4), 1 / 4096)
    mb.add_op("CONV_2D", [x, w1, b1], [c1], dict(window, padding="SAME", fused_activation_function="RELU"))
    w2, b2 = weights("conv2", (4, 1, 1, 4), 0, 1 / 4096, "int32")
    c2 = act("c2", (1, 6, 6, 4), 1 / 4096)
    mb.add_op("CONV_2D", [c1, w2, b2], [c2], dict(window, padding="VALID", fused_activation_function="NONE"))
    w3, b3 = weights("dw", (1, 3, 3, 8), 3, 1 / 4096, "int64")
    d = act("d", (1, 6, 6, 8), 1 / 2048)
    mb.add_op("DEPTHWISE_CONV_2D", [c2, w3, b3], [d], dict(window, padding="SAME", depth_multiplier=2,
                                                           fused_activation_function="RELU6"))
    x2 = mb.add_input("x2", (1, 1, 1, 8), "int16", scale=1 / 4096, zero_point=0)
    s = act("s", (1, 6, 6, 8), 1 / 1024)
    mb.add_op("ADD", [d, x2], [s], {"fused_activation_function": "NONE"})
    flat = act("flat", (1, 288), 1 / 1024)
    mb.add_op("RESHAPE", [s, mb.add_const("shape", np.array([1, 288], np.int32))], [flat], {"new_shape": [1, 288]})
    w4, b4 = weights("fc1", (16, 288), 0, 1 / 1024, "int64")
    f1 = act("f1", (1, 16), 1 / 256)
    mb.add_op("FULLY_CONNECTED", [flat, w4, b4], [f1], {"fused_activation_function": "RELU"})
    w5, b5 = weights("fc2", (10, 16), 0, 1 / 256, "int32", gain=0.01)
    f2 = act("f2", (1, 10), 1 / 512)
    mb.add_op("FULLY_CONNECTED", [f1, w5, b5], [f2], {"fused_activation_function": "NONE"})
    p = act("p", (1, 10), 1 / 32768)
    mb.add_op("SOFTMAX", [f2], [p], {"beta": 1.0})
    mb.mark_output(p)
    mb.mark_output(d)
    return mb.build()


def test_16x8_pipeline_matches_tflm_and_is_strict_and_sanitizer_clean(tmp_path):
    """The generated C of the pipeline compiles under gcc and clang strict flags, runs clean under
    ASan and UBSan, and gives TFLM's outputs (op_harness.check_strict_c, for the 16x8 kernels)."""
    content = _pipeline_16x8()
    graph, digest = compiler.load(content)
    files = codegen.render(compiler.compile_graph(graph, digest), NAME, "int16_pipeline")
    rng = np.random.default_rng(8)
    inputs = [rng.integers(-12000, 12000, graph.tensor(t).shape, dtype=np.int16) for t in graph.inputs]
    (expected,) = run_tflm_batch([(content, [inputs])], arena_size=TFLM_ARENA)
    check_strict_c(tmp_path, graph, files, inputs, lambda: expected * 2)  # two invokes, same outputs
    assert len(np.unique(expected[0][0])) > 3 and len(np.unique(expected[0][1])) > 50
