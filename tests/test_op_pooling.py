"""AVERAGE_POOL_2D / MAX_POOL_2D: single-op models, mcugen against TFLM (int8/int16 identical, float 1e-5)."""
from __future__ import annotations

import numpy as np
import pytest
from op_harness import NAME, TFLM_ARENA, assert_matches, check_strict_c, run_mcugen
from tflite_builder import ModelBuilder

import mcugen
from mcugen import codegen, compiler
from mcugen.ops.pooling import output_size
from mcugen.reference import run_tflm_batch

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
# (batch, in_h, in_w, channels, filter_h, filter_w, stride_h, stride_w, padding)
GEOMETRIES = [
    (1, 7, 9, 5, 3, 3, 2, 2, "SAME"),     # odd sizes, filter > stride: clipped windows at both ends
    (1, 7, 9, 5, 3, 3, 2, 2, "VALID"),
    (1, 5, 5, 3, 2, 2, 2, 2, "SAME"),     # pads only at the end
    (1, 6, 7, 8, 3, 2, 1, 1, "SAME"),
    (2, 9, 7, 4, 4, 4, 3, 3, "SAME"),     # batch 2, even filter, stride 3
    (1, 11, 13, 3, 5, 5, 2, 2, "SAME"),   # wide SAME padding on odd sizes
    (1, 5, 5, 70, 5, 5, 1, 1, "VALID"),   # global pool, more channels than one C accumulation block
    (1, 8, 8, 1, 2, 2, 2, 2, "VALID"),
    (1, 10, 6, 130, 3, 3, 1, 2, "SAME"),  # stride differs per axis, 3 channel blocks
    (1, 4, 4, 2, 1, 1, 1, 1, "VALID"),    # 1x1 identity window
]


def _cases():
    cases = []
    for g, geom in enumerate(GEOMETRIES):
        for opcode in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            for dtype in ("int8", "float32"):
                # Each (op, dtype) sees every activation across the geometries.
                activation = ACTIVATIONS[(g + (opcode == "MAX_POOL_2D")) % len(ACTIVATIONS)]
                cases.append((opcode, dtype, geom, activation))
    # int16 (16x8 quantization: symmetric, zero point 0), a geometry subset covering every activation.
    for g in (0, 1, 4, 6, 8):
        for opcode in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            activation = ACTIVATIONS[(g + (opcode == "MAX_POOL_2D")) % len(ACTIVATIONS)]
            cases.append((opcode, "int16", GEOMETRIES[g], activation))
    return cases


CASES = _cases()


def _case_id(case):
    opcode, dtype, (n, h, w, c, fh, fw, sh, sw, pad), act = case
    return f"{opcode[:3].lower()}-{dtype}-{n}x{h}x{w}x{c}-f{fh}x{fw}-s{sh}x{sw}-{pad}-{act}"


def build_pool(opcode, dtype, geom, activation, out_scale=None):
    n, h, w, c, fh, fw, sh, sw, padding = geom
    out_shape = (n, output_size(padding, h, fh, sh), output_size(padding, w, fw, sw), c)
    q = {"int8": dict(scale=0.05, zero_point=-3), "int16": dict(scale=0.0004, zero_point=0)}.get(dtype, {})
    mb = ModelBuilder()
    x = mb.add_input("x", (n, h, w, c), dtype, **q)
    if out_scale is not None:
        q = dict(scale=out_scale, zero_point=q["zero_point"])
    y = mb.add_tensor("y", out_shape, dtype, **q)
    mb.add_op(opcode, [x], [y], dict(padding=padding, stride_w=sw, stride_h=sh, filter_width=fw,
                                     filter_height=fh, fused_activation_function=activation))
    mb.mark_output(y)
    return mb.build()


def _inputs(dtype, shape, rng, count=3):
    if dtype in ("int8", "int16"):
        info = np.iinfo(dtype)
        return [[rng.integers(info.min, info.max + 1, shape, dtype=dtype)] for _ in range(count)]
    return [[(3 * rng.standard_normal(shape)).astype(np.float32)] for _ in range(count)]


@pytest.fixture(scope="module")
def references():
    """Every case's model, inputs and TFLM outputs, from one TFLM worker."""
    rng = np.random.default_rng(2024)
    jobs = []
    for case in CASES:
        opcode, dtype, geom, activation = case
        jobs.append((build_pool(opcode, dtype, geom, activation), _inputs(dtype, geom[:4], rng)))
    outputs = run_tflm_batch(jobs, arena_size=TFLM_ARENA)
    return {_case_id(c): (m, xs, out) for c, (m, xs), out in zip(CASES, jobs, outputs)}


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_pool_matches_tflm(case, references):
    model, input_sets, expected = references[_case_id(case)]
    assert_matches(run_mcugen(model, input_sets), expected, atol=1e-6)


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_integer_pool_requires_equal_quantization(dtype):
    model = build_pool("AVERAGE_POOL_2D", dtype, GEOMETRIES[0], "NONE", out_scale=0.1)
    with pytest.raises(ValueError, match="quantization"):
        mcugen.Interpreter(model_content=model)


@pytest.mark.parametrize("opcode", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
def test_int16_pool_c_is_strict_and_sanitizer_clean(opcode, tmp_path):
    """The int16 kernels build with the strict flags and run clean under ASan/UBSan (clipped windows,
    3 channel blocks), printing what mcugen.Interpreter returns."""
    model = build_pool(opcode, "int16", GEOMETRIES[8], "RELU_N1_TO_1")
    graph, digest = compiler.load(model)
    files = codegen.render(compiler.compile_graph(graph, digest), NAME, "pooling")
    xs = _inputs("int16", GEOMETRIES[8][:4], np.random.default_rng(7), count=1)[0]
    check_strict_c(tmp_path, graph, files, xs, lambda: 2 * run_mcugen(model, [xs]))
