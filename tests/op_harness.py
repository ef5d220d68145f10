"""Shared by the op tests: running mcugen, packing many cases into one model, comparing outputs with
a reference's, and building the generated C under strict flags and sanitizers.

Outputs are lists per input set of lists per model output, as mcugen.verify.run_mcugen and
mcugen.reference.run_tflm_batch give them.
"""
from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
from conftest import random_input
from tflite_builder import ModelBuilder

import mcugen
from mcugen import verify
from mcugen.ir import c_type, np_dtype
from mcugen.reference import run_tflm_batch

TFLM_ARENA = 1 << 20  # small models: the default (10x the model size) is too small
PACK = 12  # independent cases per model: one C build and one TFLM load serve them all


# ---- running mcugen ------------------------------------------------------------------------------

def run_mcugen(model: bytes, input_sets) -> list[list[np.ndarray]]:
    """mcugen's outputs for each input set, the model compiled once (stateless models only:
    variables are reset before each set)."""
    it = mcugen.Interpreter(model_content=model)
    it.allocate_tensors()
    return verify.run_mcugen(it, input_sets)


def random_inputs(model: bytes, rng, sets: int = 2) -> list[list[np.ndarray]]:
    """`sets` input sets for the model: conftest.random_input for each of its inputs."""
    details = mcugen.Interpreter(model_content=model).get_input_details()
    return [[random_input(tuple(d["shape"]), d["dtype"], rng) for d in details] for _ in range(sets)]


# ---- comparing -----------------------------------------------------------------------------------

def assert_matches(ours, theirs, atol: float | None = None) -> None:
    """Same dtypes and shapes; integer outputs identical, float32 outputs within rtol 1e-5 and
    `atol` (by default 1e-5 of the output's largest reference magnitude, and at least 1e-5)."""
    for got_set, want_set in zip(ours, theirs, strict=True):
        for k, (got, want) in enumerate(zip(got_set, want_set, strict=True)):
            assert got.dtype == want.dtype and got.shape == want.shape, (k, got.shape, want.shape)
            if got.dtype == np.float32:
                tol = 1e-5 * max(1.0, float(np.abs(want).max())) if atol is None else atol
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=tol, err_msg=f"output {k}")
            else:
                np.testing.assert_array_equal(got, want, err_msg=f"output {k}")


def assert_identical(ours, theirs) -> None:
    """Same dtypes and shapes, every output identical (float outputs too)."""
    for got_set, want_set in zip(ours, theirs, strict=True):
        for k, (got, want) in enumerate(zip(got_set, want_set, strict=True)):
            assert got.dtype == want.dtype and got.shape == want.shape, (k, got.shape, want.shape)
            np.testing.assert_array_equal(got, want, err_msg=f"output {k}")


# ---- many cases in one model ---------------------------------------------------------------------

def run_packed(cases, case_id, add_case, make_inputs, rng, pack=PACK):
    """Packs `pack` cases at a time into one model (each case its own inputs, op and outputs),
    runs TFLM and mcugen on it, and returns {case id: dict(ours, theirs, inputs, model, op)}:
    per input set, that case's outputs from each, its own inputs, the packed model and the
    case's operator index there. `ours` is the exception when mcugen refused the pack.

    add_case(mb, tag, case, rng) adds the case's op to the ModelBuilder (tensor names ending in
    tag); make_inputs(case, rng) gives its input sets (every case the same number of sets)."""
    jobs, layout = [], []
    for start in range(0, len(cases), pack):
        group = cases[start:start + pack]
        mb = ModelBuilder()
        inputs, counts = [], []
        for k, case in enumerate(group):
            n_outputs = len(mb.outputs)
            add_case(mb, f"_{k}", case, rng)
            inputs.append(make_inputs(case, rng))
            counts.append(len(mb.outputs) - n_outputs)
        sets = [[x for xs in inputs for x in xs[s]] for s in range(len(inputs[0]))]
        jobs.append((mb.build(), sets))
        layout.append((group, inputs, counts))
    results = {}
    for (model, sets), theirs, (group, inputs, counts) in zip(jobs, run_tflm_batch(jobs, arena_size=TFLM_ARENA), layout):
        try:
            ours = run_mcugen(model, sets)
        except Exception as e:  # noqa: BLE001 - reported by each case's test
            ours = e
        ends = np.cumsum(counts)
        for k, case in enumerate(group):
            part = slice(ends[k] - counts[k], ends[k])
            results[case_id(case)] = dict(
                ours=ours if isinstance(ours, Exception) else [o[part] for o in ours],
                theirs=[t[part] for t in theirs], inputs=inputs[k], model=model, op=k)
    return results


def check_case(result, compare):
    """One run_packed result: raises mcugen's refusal, else compare(ours, theirs)."""
    if isinstance(result["ours"], Exception):
        raise result["ours"]
    compare(result["ours"], result["theirs"])


def evaluated(results, evaluate):
    """For each run_packed case of a single-input op, per input set: (case id, what
    evaluate(op, graph) returns with that set's input as the op's input data, TFLM's outputs)."""
    for cid, r in results.items():
        graph, _ = mcugen.compiler.load(r["model"])
        op = graph.operators[r["op"]]
        for xs, want in zip(r["inputs"], r["theirs"]):
            graph.tensor(op.inputs[0]).data = xs[0]
            yield cid, evaluate(op, graph), want


# ---- the generated C under strict flags and sanitizers ---------------------------------------------

STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]
SANITIZE = ["-std=c99", "-O1", "-g", "-fno-omit-frame-pointer", "-ffp-contract=off",
            "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
SAN_ENV = {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:halt_on_error=1",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
COMPILERS = ["gcc", "clang"]
NAME = "net"  # the generated C's model name: main_c calls net_invoke() etc.
TIMEOUT = 300


def _c_literal(values: np.ndarray) -> str:
    flat = values.reshape(-1)
    if flat.dtype.kind == "f":
        items = [float(v).hex() + "f" for v in flat.tolist()]  # hex floats are exact
    else:
        items = ["(-2147483647 - 1)" if v == -2**31 else str(v) for v in flat.tolist()]
    return ",\n".join("    " + ", ".join(items[i:i + 16]) for i in range(0, len(items), 16))


def main_c(inputs: list[np.ndarray], graph) -> str:
    """A C main that fills the inputs, invokes twice and prints every output after each invoke."""
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


def parse_outputs(stdout: str, graph) -> list[list[np.ndarray]]:
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


def check_strict_c(tmp_path, graph, files: dict[str, str], inputs: list[np.ndarray], expected,
                   sanitizer_cc: str = "clang", timeout: float = TIMEOUT) -> list[list[np.ndarray]]:
    """The generated C `files` (rendered as NAME) with main_c(inputs): every .c compiles with the
    strict flags under gcc and clang, the sanitized build (under `sanitizer_cc`) runs clean within
    `timeout` seconds, and prints, per invoke and output, exactly what expected() returns (called
    while the compilers run; one list of outputs per invoke). Returns the printed outputs."""
    src = tmp_path / "src"
    src.mkdir()
    for fname, text in files.items():
        (src / fname).write_text(text)
    (src / "main.c").write_text(main_c(inputs, graph))
    sources = sorted(str(src / f) for f in os.listdir(src) if f.endswith(".c"))
    procs = []
    for cc in COMPILERS:  # strict builds of every .c (main.c too: the header must be strict-clean to use)
        objdir = tmp_path / f"obj_{cc}"
        objdir.mkdir()
        procs.append((_start([cc, *STRICT, "-I", str(src), "-c", *sources], objdir), f"{cc} strict"))
    exe = tmp_path / "prog"
    procs.append((_start([sanitizer_cc, *SANITIZE, "-I", str(src), "-o", str(exe), *sources, "-lm"], tmp_path),
                  f"{sanitizer_cc} sanitized build"))
    want_rounds = expected()
    for proc, what in procs:
        _finish(proc, what)
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=timeout,
                         env=dict(os.environ, **SAN_ENV))
    assert run.returncode == 0, f"sanitized run failed ({run.returncode}):\n{run.stderr[-6000:]}"
    assert "runtime error" not in run.stderr and "Sanitizer" not in run.stderr, run.stderr[-6000:]
    rounds = parse_outputs(run.stdout, graph)
    assert_identical(rounds, want_rounds)
    return rounds
