"""The generated C is strict C99 and sanitizer-clean.

For every shared model (skipped only while mcugen reports it unsupported) and a few built models:
- each generated .c compiles with `-std=c99 -Wall -Wextra -Werror -pedantic` under gcc and clang;
- a C main (op_harness.main_c: fill inputs, invoke twice, print outputs) builds with ASan and UBSan
  (`-fno-sanitize-recover=all`, so any report fails the run), runs clean, and prints exactly what
  mcugen.Interpreter (the same C, built by the host target at -O3) returns for the same input.
The two builds differ in compiler flags only, so their outputs must be bit-identical; agreement with
TFLM is the business of the op and model tests.
"""
from __future__ import annotations

import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import MODELS_DIR, random_input, shared_model_names
from op_harness import COMPILERS, NAME, check_strict_c, run_mcugen
from tflite_builder import ModelBuilder

from mcugen import codegen, compiler
from mcugen.errors import UnsupportedError
from mcugen.ir import np_dtype

# ---- built models: every op of the first release, int8 and float -----------------------------


def _pipeline_model(dtype: str, seed: int) -> bytes:
    """ADD -> CONV_2D -> DEPTHWISE_CONV_2D -> AVERAGE_POOL_2D -> MAX_POOL_2D -> RESHAPE ->
    FULLY_CONNECTED -> SOFTMAX, two inputs and two outputs."""
    rng = np.random.default_rng(seed)
    q = dtype == "int8"

    def act(name, shape, scale, zp):
        return mb.add_tensor(name, shape, dtype, **(dict(scale=scale, zero_point=zp) if q else {}))

    def weights(name, shape, scales, axis, in_scale):
        channels = shape[axis]
        if q:
            w = mb.add_const(name, rng.integers(-127, 128, shape), "int8", scale=scales, zero_point=0, axis=axis)
            b = mb.add_const(name + "_b", rng.integers(-800, 800, channels), "int32",
                             scale=in_scale * np.broadcast_to(np.float32(scales), channels), zero_point=0)
        else:
            w = mb.add_const(name, (rng.standard_normal(shape) * 0.3).astype(np.float32))
            b = mb.add_const(name + "_b", rng.standard_normal(channels).astype(np.float32))
        return w, b

    mb = ModelBuilder()
    x1 = mb.add_input("x1", (1, 9, 9, 3), dtype, **(dict(scale=0.05, zero_point=-3) if q else {}))
    x2 = mb.add_input("x2", (1, 9, 9, 3), dtype, **(dict(scale=0.04, zero_point=2) if q else {}))
    s = act("sum", (1, 9, 9, 3), 0.08, 1)
    mb.add_op("ADD", [x1, x2], [s], {"fused_activation_function": "NONE"})
    cw, cb = weights("conv", (6, 3, 3, 3), rng.uniform(0.005, 0.02, 6).astype(np.float32), 0, 0.08)
    c = act("conv_out", (1, 9, 9, 6), 0.1, -5)
    mb.add_op("CONV_2D", [s, cw, cb], [c], {"padding": "SAME", "stride_w": 1, "stride_h": 1, "dilation_w_factor": 1,
                                            "dilation_h_factor": 1, "fused_activation_function": "RELU"})
    dw, db = weights("dw", (1, 3, 3, 6), rng.uniform(0.01, 0.03, 6).astype(np.float32), 3, 0.1)
    d = act("dw_out", (1, 5, 5, 6), 0.1, -10)
    mb.add_op("DEPTHWISE_CONV_2D", [c, dw, db], [d], {"padding": "SAME", "stride_w": 2, "stride_h": 2,
                                                      "depth_multiplier": 1, "dilation_w_factor": 1,
                                                      "dilation_h_factor": 1, "fused_activation_function": "RELU6"})
    a = act("avg", (1, 4, 4, 6), 0.1, -10)
    mb.add_op("AVERAGE_POOL_2D", [d], [a], {"padding": "VALID", "stride_w": 1, "stride_h": 1,
                                            "filter_width": 2, "filter_height": 2})
    m = act("max", (1, 2, 2, 6), 0.1, -10)
    mb.add_op("MAX_POOL_2D", [a], [m], {"padding": "VALID", "stride_w": 2, "stride_h": 2,
                                        "filter_width": 2, "filter_height": 2})
    shape = mb.add_const("shape", np.array([1, 24], dtype=np.int32))
    r = act("flat", (1, 24), 0.1, -10)
    mb.add_op("RESHAPE", [m, shape], [r], {"new_shape": [1, 24]})
    fw, fb = weights("fc", (5, 24), np.float32(0.02), 0, 0.1)
    f = act("logits", (1, 5), 0.15, 1)
    mb.add_op("FULLY_CONNECTED", [r, fw, fb], [f], {"fused_activation_function": "NONE"})
    p = act("probs", (1, 5), 1 / 256, -128)
    mb.add_op("SOFTMAX", [f], [p], {"beta": 1.0})
    mb.mark_output(p)
    mb.mark_output(d)
    return mb.build()


def _batched_fc_model() -> bytes:
    """int8 FC over a batch of 3 with per-channel weights and no bias."""
    rng = np.random.default_rng(11)
    mb = ModelBuilder()
    x = mb.add_input("x", (3, 16), "int8", scale=0.03, zero_point=7)
    w = mb.add_const("w", rng.integers(-127, 128, (10, 16)), "int8",
                     scale=rng.uniform(0.002, 0.02, 10).astype(np.float32), zero_point=0, axis=0)
    y = mb.add_tensor("y", (3, 10), "int8", scale=0.2, zero_point=-7)
    mb.add_op("FULLY_CONNECTED", [x, w, -1], [y], {"fused_activation_function": "RELU_N1_TO_1"})
    mb.mark_output(y)
    return mb.build()


BUILT = {
    "built_ops_int8": lambda: _pipeline_model("int8", 1),
    "built_ops_float": lambda: _pipeline_model("float32", 2),
    "built_batched_fc": _batched_fc_model,
}
CASES = [f"shared/{n}" for n in shared_model_names()] + sorted(BUILT)


def _model_bytes(case: str) -> bytes:
    if case.startswith("shared/"):
        return (MODELS_DIR / f"{case[len('shared/'):]}.tflite").read_bytes()
    return BUILT[case]()


# ---- the test: op_harness.check_strict_c writes the C main, builds and runs it --------------


@pytest.fixture(scope="module", autouse=True)
def compilers():
    missing = [cc for cc in COMPILERS if shutil.which(cc) is None]
    assert not missing, f"C compilers missing: {missing} (.ci/run installs them)"


@pytest.mark.parametrize("case", CASES)
def test_generated_c_is_strict_and_sanitizer_clean(case, tmp_path):
    content = _model_bytes(case)
    graph, digest = compiler.load(content)
    try:
        program = compiler.compile_graph(graph, digest)
    except UnsupportedError as e:
        pytest.skip(f"not supported yet: {e}")
    seed = zlib.crc32(case.encode())
    rng = np.random.default_rng(seed)
    inputs = [random_input(graph.tensor(t).shape, np_dtype(graph.tensor(t).dtype), rng)
              for t in graph.inputs]
    # Both invokes must print what the first gave; both compilers' sanitizers get used across the cases.
    check_strict_c(tmp_path, graph, codegen.render(program, NAME, case), inputs,
                   lambda: 2 * run_mcugen(content, [inputs]), sanitizer_cc=COMPILERS[seed % 2])


def test_every_shared_model_is_covered():
    """The list above is all of ../shared/tflite-models, so new models and ops are picked up."""
    if not MODELS_DIR.is_dir():
        pytest.skip(f"shared models folder {MODELS_DIR} is absent")
    on_disk = {p.stem for p in Path(MODELS_DIR).glob("*.tflite")}
    assert {c[len("shared/"):] for c in CASES if c.startswith("shared/")} == on_disk
