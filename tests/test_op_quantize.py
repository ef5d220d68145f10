"""QUANTIZE: float32 -> int8/int16 and int8/int16 requantization against TFLM (identical).

Cases are packed a dozen to a model (independent inputs, ops and outputs) to save C builds.
"""
from __future__ import annotations

import numpy as np
import pytest
from tflite_builder import ModelBuilder

import mcugen
import mcugen.ops.quantize
from mcugen.reference import run_tflm_batch

TFLM_ARENA = 1 << 20  # small models: the default (10x the model size) is too small
PACK = 12  # independent cases per model: one C build and one TFLM load serve them all
SHAPE = (4, 5, 13)  # 260 values: over the table threshold unless a test lowers it
# (input dtype, input (scale, zero point) or None, output dtype, output (scale, zero point))
CASES = [
    ("float32", None, "int8", (0.05, -3)),
    ("float32", None, "int8", (0.5, 0)),          # x / 0.5 is exact: ties round away from zero
    ("float32", None, "int8", (1 / 256, -128)),
    ("float32", None, "int8", (0.0123, 100)),
    ("float32", None, "int16", (0.001, 0)),
    ("float32", None, "int16", (0.5, 7)),
    ("float32", None, "int16", (3.1e-5, -12)),
    ("int8", (0.05, -3), "int8", (0.05, -3)),      # same quantization: multiplier 2^30, shift 1
    ("int8", (0.05, -3), "int8", (0.05, 10)),      # zero point change only
    ("int8", (0.02, 5), "int8", (0.1, -7)),        # downscale
    ("int8", (0.1, -128), "int8", (0.013, 3)),     # upscale, saturating
    ("int8", (0.3, 127), "int8", (0.0007, 0)),     # large positive shift
    ("int8", (0.05, 1), "int16", (0.0004, 0)),
    ("int8", (0.05, -20), "int16", (0.07, 11)),
    ("int16", (0.0004, 0), "int8", (0.05, -2)),
    ("int16", (0.001, 3), "int8", (0.0009, 100)),
    ("int16", (0.0004, 0), "int16", (0.0013, 0)),
    ("int16", (0.02, -5), "int16", (0.0003, 6)),
]


def _case_id(case):
    din, qin, dout, qout = case
    qi = "" if qin is None else f"{qin[0]}_{qin[1]}"
    return f"{din}{qi}-to-{dout}{qout[0]}_{qout[1]}"


def add_quantize(mb, tag, case, rng=None, shape=SHAPE):
    din, qin, dout, qout = case
    x = mb.add_input("x" + tag, shape, din, **(dict(scale=qin[0], zero_point=qin[1]) if qin else {}))
    y = mb.add_tensor("y" + tag, shape, dout, scale=qout[0], zero_point=qout[1])
    mb.add_op("QUANTIZE", [x], [y])
    mb.mark_output(y)


def build_quantize(din, qin, dout, qout, shape=SHAPE):
    mb = ModelBuilder()
    add_quantize(mb, "", (din, qin, dout, qout), shape=shape)
    return mb.build()


def _inputs(case, rng, shape=SHAPE):
    din, qout = case[0], case[3]
    n = int(np.prod(shape))
    if din == "float32":
        scale = qout[0]
        sets = [(rng.uniform(-300 * scale, 300 * scale, n)).astype(np.float32),
                (scale * (np.arange(n) - n // 2) / 2).astype(np.float32),  # near and at the .5 ties
                (scale * rng.standard_normal(n) * 40).astype(np.float32)]
        return [[v.reshape(shape)] for v in sets]
    info = np.iinfo(np.dtype(din))
    every = np.resize(np.arange(-128, 128), n) if din == "int8" else rng.integers(info.min, info.max, n, endpoint=True)
    return [[every.astype(din).reshape(shape)]] + [
        [rng.integers(info.min, info.max, n, endpoint=True).astype(din).reshape(shape)] for _ in range(2)]


def assert_identical(ours, theirs):
    for got_set, want_set in zip(ours, theirs, strict=True):
        for got, want in zip(got_set, want_set, strict=True):
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got, want)


def run_mcugen(model, input_sets):
    it = mcugen.Interpreter(model_content=model)
    it.allocate_tensors()
    ins, outs = it.get_input_details(), it.get_output_details()
    results = []
    for xs in input_sets:
        for d, x in zip(ins, xs):
            it.set_tensor(d["index"], x)
        it.invoke()
        results.append([it.get_tensor(d["index"]).copy() for d in outs])
    return results


def run_packed(cases, case_id, add_case, make_inputs, rng, pack=PACK):
    """Packs `pack` cases at a time into one model (each case its own inputs, op and outputs),
    runs TFLM and mcugen on it, and returns {case id: dict(ours, theirs, inputs, model, op)}:
    per input set, that case's outputs from each, its own inputs, the packed model and the
    case's operator index there. `ours` is the exception when mcugen refused the pack."""
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
    if isinstance(result["ours"], Exception):
        raise result["ours"]
    compare(result["ours"], result["theirs"])


@pytest.fixture(scope="module", params=["computed", "table"])
def results(request):
    """Every case, with int8 requantization forced to compute, or to look up a table."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mcugen.ops.quantize, "TABLE_MIN_ELEMENTS", 0 if request.param == "table" else 1 << 62)
        return run_packed(CASES, _case_id, add_quantize, _inputs, np.random.default_rng(77))


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_quantize_matches_tflm(case, results):
    check_case(results[_case_id(case)], assert_identical)


def test_evaluate_matches_tflm(results):
    """Constant folding gives TFLM's values."""
    for case in CASES:
        r = results[_case_id(case)]
        graph, _ = mcugen.compiler.load(r["model"])
        op = graph.operators[r["op"]]
        for xs, want in zip(r["inputs"], r["theirs"]):
            graph.tensor(op.inputs[0]).data = xs[0]
            [got] = mcugen.ops.quantize.evaluate(op, graph)
            np.testing.assert_array_equal(got, want[0], err_msg=_case_id(case))


def test_out_of_range_floats_saturate():
    """|x / scale| beyond int32 and NaN are undefined behaviour in TFLM's float -> int32 cast.

    mcugen saturates (+big -> max, -big and NaN -> min). TFLM on x86-64 gets INT32_MIN from the
    cast, so it maps +big to the minimum too; within int32 range both clamp identically."""
    shape = (8,)
    x = np.array([3e9, -3e9, np.inf, -np.inf, np.nan, 1e6, -1e6, 0.0], np.float32).reshape(shape)
    model = build_quantize("float32", None, "int8", (0.5, 3), shape)
    [[got]] = run_mcugen(model, [[x]])
    np.testing.assert_array_equal(got, [127, -128, 127, -128, -128, 127, -128, 3])
    [[want]] = run_tflm_batch([(model, [[x]])], arena_size=TFLM_ARENA)[0]
    in_range = np.abs(x / 0.5) < 2.0 ** 31
    np.testing.assert_array_equal(got[in_range], want[in_range])
