"""RESHAPE, SQUEEZE, EXPAND_DIMS: generate no code, the output shares its input's bytes; checked against TFLM."""
from __future__ import annotations

import numpy as np
import pytest
from op_harness import TFLM_ARENA, run_mcugen
from tflite_builder import ModelBuilder

import mcugen
from mcugen import compiler
from mcugen.reference import run_tflm_batch


def _quant(dtype, scale=0.05, zero_point=-2):
    return dict(scale=scale, zero_point=zero_point) if dtype == "int8" else {}


def reshape_alone(dtype, in_shape, out_shape, shape_input):
    """x -> RESHAPE -> y, with or without the (ignored) shape tensor input."""
    mb = ModelBuilder()
    x = mb.add_input("x", in_shape, dtype, **_quant(dtype))
    y = mb.add_tensor("y", out_shape, dtype, **_quant(dtype))
    inputs = [x]
    if shape_input:
        inputs.append(mb.add_const("shape", np.array(out_shape, np.int32), "int32"))
    mb.add_op("RESHAPE", inputs, [y], dict(new_shape=list(out_shape)))
    mb.mark_output(y)
    return mb.build()


def reshape_between_ops(dtype):
    """ADD -> RESHAPE -> SOFTMAX: the reshaped bytes must flow through unchanged."""
    mb = ModelBuilder()
    a = mb.add_input("a", (1, 2, 3, 4), dtype, **_quant(dtype))
    b = mb.add_input("b", (1, 2, 3, 4), dtype, **_quant(dtype, 0.04, 3))
    s = mb.add_tensor("sum", (1, 2, 3, 4), dtype, **_quant(dtype, 0.08, 1))
    r = mb.add_tensor("flat", (2, 12), dtype, **_quant(dtype, 0.08, 1))
    shape = mb.add_const("shape", np.array([2, 12], np.int32), "int32")
    y = mb.add_tensor("y", (2, 12), dtype, **(dict(scale=1 / 256, zero_point=-128) if dtype == "int8" else {}))
    mb.add_op("ADD", [a, b], [s], dict(fused_activation_function="NONE"))
    mb.add_op("RESHAPE", [s, shape], [r], dict(new_shape=[2, 12]))
    mb.add_op("SOFTMAX", [r], [y], dict(beta=1.0))
    mb.mark_output(y)
    return mb.build()


def squeeze_alone(dtype, in_shape, dims):
    mb = ModelBuilder()
    x = mb.add_input("x", in_shape, dtype, **_quant(dtype))
    keep = [d for i, d in enumerate(in_shape) if not (d == 1 and (not dims or i in [k % len(in_shape) for k in dims]))]
    y = mb.add_tensor("y", keep, dtype, **_quant(dtype))
    mb.add_op("SQUEEZE", [x], [y], dict(squeeze_dims=list(dims)) if dims else None)
    mb.mark_output(y)
    return mb.build()


def expand_dims_alone(dtype, in_shape, axis):
    mb = ModelBuilder()
    x = mb.add_input("x", in_shape, dtype, **_quant(dtype))
    a = mb.add_const("axis", np.array([axis], np.int32))
    out = list(in_shape)
    out.insert(axis % (len(in_shape) + 1), 1)
    y = mb.add_tensor("y", out, dtype, **_quant(dtype))
    mb.add_op("EXPAND_DIMS", [x, a], [y])
    mb.mark_output(y)
    return mb.build()


CASES = [
    ("int8-squeeze-all", lambda: squeeze_alone("int8", (1, 3, 1, 4), ())),
    ("float32-squeeze-some", lambda: squeeze_alone("float32", (1, 3, 1, 4, 1), (0, -1))),
    ("int8-expand-dims-front", lambda: expand_dims_alone("int8", (3, 4), 0)),
    ("float32-expand-dims-negative", lambda: expand_dims_alone("float32", (2, 3, 4), -1)),
    ("int8-4d-to-2d", lambda: reshape_alone("int8", (1, 4, 4, 3), (1, 48), True)),
    ("int8-no-shape-input", lambda: reshape_alone("int8", (2, 6), (3, 4), False)),
    ("float32-2d-to-4d", lambda: reshape_alone("float32", (1, 24), (1, 2, 3, 4), True)),
    ("int8-between-ops", lambda: reshape_between_ops("int8")),
    ("float32-between-ops", lambda: reshape_between_ops("float32")),
]


def _random(detail, rng):
    shape, dtype = tuple(detail["shape"]), detail["dtype"]
    if dtype == np.int8:
        return rng.integers(-128, 128, shape, dtype=np.int8)
    return rng.standard_normal(shape).astype(np.float32)


@pytest.fixture(scope="module")
def references():
    rng = np.random.default_rng(5)
    jobs = []
    for _, make in CASES:
        model = make()
        details = mcugen.Interpreter(model_content=model).get_input_details()
        jobs.append((model, [[_random(d, rng) for d in details] for _ in range(2)]))
    outputs = run_tflm_batch(jobs, arena_size=TFLM_ARENA)
    return {name: (m, xs, out) for (name, _), (m, xs), out in zip(CASES, jobs, outputs)}


@pytest.mark.parametrize("name", [name for name, _ in CASES])
def test_reshape_matches_tflm(name, references):
    model, input_sets, expected = references[name]
    for got_set, want_set in zip(run_mcugen(model, input_sets), expected, strict=True):
        for got, want in zip(got_set, want_set, strict=True):
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
            if got.dtype == np.int8:
                np.testing.assert_array_equal(got, want)


def test_reshape_generates_no_code_and_shares_bytes():
    graph, _ = compiler.load(reshape_between_ops("int8"))
    program = compiler.compile_graph(graph)
    step = next(s for s in program.steps if s.opcode == "RESHAPE")
    op = step.op
    assert step.call.kernel is None and step.call.alias_input == op.inputs[0]
    assert program.offsets[op.outputs[0]] == program.offsets[op.inputs[0]]


def test_element_count_mismatch_is_refused():
    with pytest.raises(ValueError, match="differ in size"):
        mcugen.Interpreter(model_content=reshape_alone("int8", (1, 4, 4, 3), (1, 47), True))
