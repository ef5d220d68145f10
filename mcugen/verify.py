"""`mcugen verify`: the generated C against the reference interpreter on random inputs.

Integer outputs must be identical; float outputs within FLOAT_RTOL of the largest reference value
(summation order may differ from the reference by a few ulps, so the tolerance is relative to the
output's scale, not to each element).
"""
from __future__ import annotations

import sys

import numpy as np

from .compiler import load
from .errors import MCUGenError
from .ops.hybrid import is_hybrid_graph

FLOAT_RTOL = 1e-5
# Hybrid models (float activations, int8 weights): mcugen reproduces LiteRT's hybrid arithmetic and
# measured identical, but each hybrid op re-quantizes its float input to int8 at run time, so a
# last-bit difference upstream (float summation order) can flip one rounding and move outputs by
# one quantization step. The README's "Hybrid models" section gives the measurements.
HYBRID_RTOL = 1e-2


def random_inputs(details: list[dict], n: int, seed: int) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    sets = []
    for _ in range(n):
        xs = []
        for d in details:
            dt = np.dtype(d["dtype"])
            if dt.kind in "iu":
                info = np.iinfo(dt)
                xs.append(rng.integers(info.min, info.max, size=d["shape"], endpoint=True).astype(dt))
            elif dt.kind == "b":
                xs.append(rng.integers(0, 2, size=d["shape"]).astype(dt))
            else:
                xs.append(rng.standard_normal(d["shape"]).astype(dt))
        sets.append(xs)
    return sets


def compare(ours: np.ndarray, ref: np.ndarray, rtol: float = FLOAT_RTOL) -> tuple[int, float, bool]:
    """(mismatched elements, max abs diff, passes); float outputs within rtol of the largest reference value."""
    ref = np.asarray(ref).reshape(ours.shape)
    diff = np.abs(ours.astype(np.float64) - ref.astype(np.float64))
    max_diff = float(diff.max()) if diff.size else 0.0
    if ours.dtype.kind == "f":
        tol = rtol * max(float(np.abs(ref).max()) if ref.size else 0.0, 1e-30)
        bad = int(np.count_nonzero(diff > tol))
    else:
        bad = int(np.count_nonzero(diff))
    return bad, max_diff, bad == 0


def run_mcugen(interpreter, input_sets):
    outs = []
    in_details, out_details = interpreter.get_input_details(), interpreter.get_output_details()
    for xs in input_sets:
        interpreter.reset_all_variables()  # input sets are independent, as in the reference run
        for d, x in zip(in_details, xs):
            interpreter.set_tensor(d["index"], x)
        interpreter.invoke()
        outs.append([interpreter.get_tensor(d["index"]) for d in out_details])
    return outs


def reference_outputs(model_bytes: bytes, input_sets) -> tuple[str, list]:
    """TFLM first; LiteRT's reference kernels where TFLM refuses the model."""
    from .reference import ReferenceError, run_litert, run_tflm

    try:
        return "TFLM", run_tflm(model_bytes, input_sets)
    except ReferenceError as tflm_error:
        print(f"TFLM cannot run this model ({str(tflm_error).strip().splitlines()[-1] if str(tflm_error).strip() else 'error'}); "
              "comparing with LiteRT's reference kernels", file=sys.stderr)
        try:
            return "LiteRT", run_litert(model_bytes, input_sets, reference_kernels=True)
        except ReferenceError as e:
            raise MCUGenError(f"no reference interpreter can run this model: TFLM: {tflm_error}; LiteRT: {e}") from None


def verify(model_path: str, n_inputs: int = 10, seed: int = 0) -> int:
    from .interpreter import Interpreter

    if n_inputs < 1:
        raise MCUGenError("--inputs must be at least 1")
    graph, _ = load(model_path)  # raises the front end's clear errors first
    rtol = HYBRID_RTOL if is_hybrid_graph(graph) else FLOAT_RTOL
    with open(model_path, "rb") as f:
        model_bytes = f.read()
    it = Interpreter(model_path=model_path)
    it.allocate_tensors()
    input_sets = random_inputs(it.get_input_details(), n_inputs, seed)
    print(f"running mcugen on {n_inputs} random input(s) (seed {seed})...", file=sys.stderr)
    ours = run_mcugen(it, input_sets)
    engine, theirs = reference_outputs(model_bytes, input_sets)
    ok = True
    print(f"{graph.name}: mcugen vs {engine}, {n_inputs} input(s)")
    for k, d in enumerate(it.get_output_details()):
        bad = total = 0
        worst = 0.0
        for o, r in zip(ours, theirs):
            b, m, _ = compare(o[k], r[k], rtol)
            bad += b
            total += o[k].size
            worst = max(worst, m)
        passed = bad == 0
        ok &= passed
        rule = "identical" if np.dtype(d["dtype"]).kind != "f" else f"within {rtol:g} relative"
        rule += ", hybrid model" if rtol == HYBRID_RTOL and np.dtype(d["dtype"]).kind == "f" else ""
        print(f"  output {k} '{d['name']}' {np.dtype(d['dtype']).name}: {bad}/{total} mismatched, "
              f"max abs diff {worst:g} -> {'PASS' if passed else 'FAIL'} ({rule})")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1
