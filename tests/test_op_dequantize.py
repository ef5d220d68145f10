"""DEQUANTIZE: int8/int16 -> float32 against TFLM: bit-identical. Cases are packed into one model."""
from __future__ import annotations

import numpy as np
import pytest
from tflite_builder import ModelBuilder

import mcugen
import mcugen.ops.dequantize
from mcugen.reference import run_tflm_batch

TFLM_ARENA = 1 << 20  # small models: the default (10x the model size) is too small
PACK = 12  # independent cases per model: one C build and one TFLM load serve them all
# (input dtype, scale, zero point, shape)
CASES = [
    ("int8", 0.05, -3, (4, 64)),
    ("int8", 1 / 256, -128, (256,)),
    ("int8", 0.0123457, 127, (2, 3, 5, 7)),
    ("int8", 3.7e-7, 0, (16, 16)),
    ("int8", 1234.5678, 11, (5,)),
    ("int16", 1 / 32768, 0, (3, 1000)),
    ("int16", 0.000123, 0, (64, 64)),
    ("int16", 0.7071068, -321, (17,)),
]


def _case_id(case):
    dtype, scale, zp, shape = case
    return f"{dtype}-{scale}_{zp}-{'x'.join(map(str, shape))}"


def add_dequantize(mb, tag, case, rng=None):
    dtype, scale, zp, shape = case
    x = mb.add_input("x" + tag, shape, dtype, scale=scale, zero_point=zp)
    y = mb.add_tensor("y" + tag, shape, "float32")
    mb.add_op("DEQUANTIZE", [x], [y])
    mb.mark_output(y)


def _inputs(case, rng):
    dtype, shape = case[0], case[3]
    info = np.iinfo(np.dtype(dtype))
    n = int(np.prod(shape))
    every = np.resize(np.arange(info.min, info.max + 1, max(1, (info.max - info.min + 1) // n)), n)
    return [[every.astype(dtype).reshape(shape)],
            [rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)]]


def assert_bits_identical(ours, theirs):
    for got_set, want_set in zip(ours, theirs, strict=True):
        for got, want in zip(got_set, want_set, strict=True):
            assert got.dtype == want.dtype == np.float32 and got.shape == want.shape
            np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


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


@pytest.fixture(scope="module")
def results():
    return run_packed(CASES, _case_id, add_dequantize, _inputs, np.random.default_rng(8))


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_dequantize_is_bit_identical_to_tflm(case, results):
    check_case(results[_case_id(case)], assert_bits_identical)


def test_evaluate_is_bit_identical_to_tflm(results):
    for case in CASES:
        r = results[_case_id(case)]
        graph, _ = mcugen.compiler.load(r["model"])
        op = graph.operators[r["op"]]
        for xs, want in zip(r["inputs"], r["theirs"]):
            graph.tensor(op.inputs[0]).data = xs[0]
            [got] = mcugen.ops.dequantize.evaluate(op, graph)
            np.testing.assert_array_equal(got.view(np.uint32), want[0].view(np.uint32), err_msg=_case_id(case))


def test_per_channel_input_is_refused():
    mb = ModelBuilder()
    x = mb.add_input("x", (2, 3), "int8", scale=np.array([0.1, 0.2, 0.3]), zero_point=0, axis=1)
    y = mb.add_tensor("y", (2, 3), "float32")
    mb.add_op("DEQUANTIZE", [x], [y])
    mb.mark_output(y)
    with pytest.raises(ValueError, match="per-channel"):
        mcugen.Interpreter(model_content=mb.build())
