"""The generated C is strict C99 and sanitizer-clean.

For every shared model (skipped only while mcugen reports it unsupported) and a few built models:
- each generated .c compiles with `-std=c99 -Wall -Wextra -Werror -pedantic` under gcc and clang;
- a C main written here (fill inputs, invoke twice, print outputs) builds with ASan and UBSan
  (`-fno-sanitize-recover=all`, so any report fails the run), runs clean, and prints exactly what
  mcugen.Interpreter (the same C, built by the host target at -O3) returns for the same input.
The two builds differ in compiler flags only, so their outputs must be bit-identical; agreement with
TFLM is the business of the op and model tests.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import MODELS_DIR, random_input, shared_model_names
from tflite_builder import ModelBuilder

import mcugen
from mcugen import codegen, compiler
from mcugen.errors import UnsupportedError
from mcugen.ir import c_type, np_dtype

STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]
SANITIZE = ["-std=c99", "-O1", "-g", "-fno-omit-frame-pointer", "-ffp-contract=off",
            "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
SAN_ENV = {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:halt_on_error=1",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
COMPILERS = ["gcc", "clang"]
NAME = "net"
TIMEOUT = 300

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


# ---- the C main ----------------------------------------------------------------------------------


def _c_literal(values: np.ndarray) -> str:
    flat = values.reshape(-1)
    if flat.dtype.kind == "f":
        items = [float(v).hex() + "f" for v in flat.tolist()]  # hex floats are exact
    else:
        items = ["(-2147483647 - 1)" if v == -2**31 else str(v) for v in flat.tolist()]
    return ",\n".join("    " + ", ".join(items[i:i + 16]) for i in range(0, len(items), 16))


def _main_c(inputs: list[np.ndarray], graph) -> str:
    lines = ["#include <stdio.h>", "#include <string.h>", "", f'#include "{NAME}.h"', ""]
    for k, (t, x) in enumerate(zip(graph.inputs, inputs)):
        lines += [f"static const {c_type(graph.tensor(t).dtype)} input{k}[{x.size}] = {{", _c_literal(x), "};"]
    lines += ["", "int main(void) {", "    int round;", "    for (round = 0; round < 2; round++) {"]
    for k in range(len(inputs)):
        lines.append(f"        memcpy({NAME}_input({k}), input{k}, sizeof input{k});")
    lines += [f"        if ({NAME}_invoke() != 0) {{", '            fprintf(stderr, "invoke failed\\n");',
              "            return 1;", "        }"]
    for k, t in enumerate(graph.outputs):
        tensor = graph.tensor(t)
        ctype = c_type(tensor.dtype)
        fmt, cast = (" %a", "(double)") if tensor.dtype == "float32" else (" %ld", "(long)")
        lines += ["        {",
                  f"            const {ctype} *out = (const {ctype} *){NAME}_output({k});",
                  "            size_t i;",
                  f'            printf("output{k}");',
                  f"            for (i = 0; i < {tensor.size}; i++) printf(\"{fmt}\", {cast}out[i]);",
                  '            printf("\\n");',
                  "        }"]
    lines += ["    }", "    return 0;", "}", ""]
    return "\n".join(lines)


def _parse_outputs(stdout: str, graph) -> list[list[np.ndarray]]:
    """Per round, per output: the printed values as arrays of the output's dtype and shape."""
    rows = stdout.strip().splitlines()
    n = len(graph.outputs)
    assert len(rows) == 2 * n, stdout[-2000:]
    rounds = []
    for r in range(2):
        outs = []
        for k, t in enumerate(graph.outputs):
            tensor = graph.tensor(t)
            label, *values = rows[r * n + k].split()
            assert label == f"output{k}"
            dtype = np.dtype(np_dtype(tensor.dtype))
            parsed = [float.fromhex(v) for v in values] if dtype.kind == "f" else [int(v) for v in values]
            outs.append(np.array(parsed, dtype=dtype).reshape(tensor.shape))
        rounds.append(outs)
    return rounds


def _interpreter_outputs(content: bytes, inputs: list[np.ndarray]) -> list[np.ndarray]:
    it = mcugen.Interpreter(model_content=content)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


def _start(cmd, cwd, env=None):
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc, what: str) -> str:
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"{what}: timed out")
    assert proc.returncode == 0, f"{what} failed ({proc.returncode}):\n{' '.join(proc.args)}\n{err[-6000:]}"
    return out


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
    files = codegen.render(program, NAME, case)
    src = tmp_path / "src"
    src.mkdir()
    for fname, text in files.items():
        (src / fname).write_text(text)
    seed = zlib.crc32(case.encode())
    rng = np.random.default_rng(seed)
    inputs = [random_input(graph.tensor(t).shape, np_dtype(graph.tensor(t).dtype), rng)
              for t in graph.inputs]
    (src / "main.c").write_text(_main_c(inputs, graph))
    sources = sorted(f for f in os.listdir(src) if f.endswith(".c"))

    procs = []
    for cc in COMPILERS:  # strict builds of every .c (main.c too: the header must be strict-clean to use)
        objdir = tmp_path / f"obj_{cc}"
        objdir.mkdir()
        procs.append((_start([cc, *STRICT, "-I", str(src), "-c", *[str(src / f) for f in sources]], objdir),
                      f"{cc} strict"))
    sanitizer_cc = COMPILERS[seed % 2]  # both compilers' sanitizers get used across the cases
    exe = tmp_path / "prog"
    procs.append((_start([sanitizer_cc, *SANITIZE, "-I", str(src), "-o", str(exe),
                          *[str(src / f) for f in sources], "-lm"], tmp_path), f"{sanitizer_cc} sanitized build"))
    expected = _interpreter_outputs(content, inputs)
    for proc, what in procs:
        _finish(proc, what)

    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=TIMEOUT,
                         env=dict(os.environ, **SAN_ENV))
    assert run.returncode == 0, f"sanitized run failed ({run.returncode}):\n{run.stderr[-6000:]}"
    assert "runtime error" not in run.stderr and "Sanitizer" not in run.stderr, run.stderr[-6000:]
    rounds = _parse_outputs(run.stdout, graph)
    for outs in rounds:  # the second invoke must give what the first gave
        assert len(outs) == len(expected)
        for k, (got, want) in enumerate(zip(outs, expected)):
            assert got.dtype == want.dtype and got.shape == want.shape, k
            np.testing.assert_array_equal(got, want, err_msg=f"output {k}")


def test_every_shared_model_is_covered():
    """The list above is all of ../shared/tflite-models, so new models and ops are picked up."""
    if not MODELS_DIR.is_dir():
        pytest.skip(f"shared models folder {MODELS_DIR} is absent")
    on_disk = {p.stem for p in Path(MODELS_DIR).glob("*.tflite")}
    assert {c[len("shared/"):] for c in CASES if c.startswith("shared/")} == on_disk
