"""PAD and PADV2: mcugen against TFLM (LiteRT for dtypes TFLM lacks), ranks 1 to 5, every padding side.

Several independent ops share one model so a sweep costs few C builds.
"""
from __future__ import annotations

import numpy as np
import pytest
from op_harness import TFLM_ARENA, assert_identical, random_inputs, run_mcugen
from tflite_builder import ModelBuilder

from mcugen import compiler
from mcugen.errors import Unsupported
from mcugen.ops import pad
from mcugen.reference import run_litert, run_tflm_batch

PADDINGS = [  # input shape, paddings
    ((5,), [[2, 3]]),
    ((3, 4), [[1, 0], [0, 2]]),
    ((1, 4, 4, 3), [[0, 0], [1, 1], [1, 1], [0, 0]]),  # image style
    ((1, 3, 5, 2), [[0, 0], [2, 0], [0, 3], [1, 1]]),
    ((2, 3, 2), [[1, 1], [0, 0], [0, 0]]),
    ((2, 2, 3, 2, 2), [[0, 1], [1, 0], [0, 0], [2, 1], [0, 1]]),
    ((3, 3), [[0, 0], [0, 0]]),  # nothing to pad: no code
    ((1, 1, 1, 1), [[1, 1], [1, 1], [1, 1], [1, 1]]),
]


def _q(dtype, zero_point=-7):
    return dict(scale=0.05, zero_point=zero_point if dtype in ("int8", "uint8") else 0) if dtype in (
        "int8", "uint8", "int16") else {}


def add_pad(mb, dtype, shape, paddings, name, opcode="PAD", value=None, value_input=False, pad_dtype="int32"):
    q = _q(dtype, -7 if dtype == "int8" else 9)
    x = mb.add_input(f"{name}_x", shape, dtype, **q)
    p = mb.add_const(f"{name}_p", np.array(paddings, dtype=pad_dtype))
    out_shape = tuple(d + a + b for d, (a, b) in zip(shape, paddings))
    y = mb.add_tensor(f"{name}_y", out_shape, dtype, **q)
    ins = [x, p]
    if opcode == "PADV2":
        if value_input:
            ins.append(mb.add_input(f"{name}_v", (1,), dtype, **q))
        else:
            ins.append(mb.add_const(f"{name}_v", np.array([value]).astype(dtype_np(dtype)), dtype, **q))
    mb.add_op(opcode, ins, [y])
    mb.mark_output(y)


def dtype_np(dtype):
    return {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
            "float32": np.float32, "bool": np.bool_}[dtype]


def sweep_model(dtype, opcode, value=None, value_input=False, pad_dtype="int32"):
    mb = ModelBuilder()
    for i, (shape, paddings) in enumerate(PADDINGS):
        add_pad(mb, dtype, shape, paddings, f"p{i}", opcode, value, value_input, pad_dtype)
    return mb.build()


TFLM_CASES = [("int8", "PAD", None), ("float32", "PAD", None), ("int16", "PAD", None), ("int32", "PAD", None),
              ("int8", "PADV2", 100), ("float32", "PADV2", -2.5), ("int16", "PADV2", -300), ("int32", "PADV2", 7)]


@pytest.mark.parametrize("dtype,opcode,value", TFLM_CASES)
def test_pad_matches_tflm(dtype, opcode, value):
    model = sweep_model(dtype, opcode, value)
    sets = random_inputs(model, np.random.default_rng(1))
    assert_identical(run_mcugen(model, sets), run_tflm_batch([(model, sets)], arena_size=TFLM_ARENA)[0])


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_padv2_value_computed_at_run_time_matches_tflm(dtype):
    model = sweep_model(dtype, "PADV2", value_input=True)
    sets = random_inputs(model, np.random.default_rng(2))
    assert_identical(run_mcugen(model, sets), run_tflm_batch([(model, sets)], arena_size=TFLM_ARENA)[0])


@pytest.mark.parametrize("dtype,opcode,value", [("uint8", "PAD", None), ("int64", "PAD", None), ("bool", "PAD", None),
                                                ("uint8", "PADV2", 3), ("int64", "PADV2", -(1 << 40))])
def test_other_dtypes_match_litert(dtype, opcode, value):
    """TFLM pads only int8, int16, int32 and float32 (and reads int64 paddings as int32)."""
    model = sweep_model(dtype, opcode, value, pad_dtype="int64")
    sets = random_inputs(model, np.random.default_rng(3))
    assert_identical(run_mcugen(model, sets), run_litert(model, sets))


def test_fills_and_copy_cover_the_output_once():
    shape, paddings = (2, 3, 4), np.array([[1, 2], [0, 1], [3, 0]])
    out_shape = tuple(d + a + b for d, (a, b) in zip(shape, paddings))
    written = np.zeros(out_shape, np.int32).ravel()
    for part in pad.fill_parts(shape, out_shape, paddings, 1, 2):
        idx = np.indices(part.sizes).reshape(len(part.sizes), -1).T
        np.add.at(written, part.dst_offset + idx @ np.array(part.dst_strides), 1)
    interior = np.zeros(out_shape, bool)
    interior[1:3, 0:3, 3:7] = True
    np.testing.assert_array_equal(written.reshape(out_shape), (~interior).astype(np.int32))


def test_zero_padding_runs_no_code():
    graph, _ = compiler.load(sweep_model("int8", "PAD"))
    program = compiler.compile_graph(graph)
    assert [s.call.kernel for s in program.steps].count(None) == 1


def test_negative_padding_is_refused():
    mb = ModelBuilder()
    x = mb.add_input("x", (4, 4), "float32")
    p = mb.add_const("p", np.array([[0, 0], [-1, 0]], np.int32))
    y = mb.add_tensor("y", (4, 3), "float32")
    mb.add_op("PAD", [x, p], [y])
    mb.mark_output(y)
    graph, _ = compiler.load(mb.build())
    with pytest.raises(Unsupported, match="negative paddings"):
        pad.lower(graph.operators[0], graph)


def test_pad_value_with_another_quantization_is_refused():
    """TFLM and LiteRT both refuse it; requantizing the value would be a guess."""
    mb = ModelBuilder()
    x = mb.add_input("x", (3,), "int8", scale=0.1, zero_point=0)
    p = mb.add_const("p", np.array([[1, 1]], np.int32))
    v = mb.add_const("v", np.array([10], np.int8), "int8", scale=0.2, zero_point=4)
    y = mb.add_tensor("y", (5,), "int8", scale=0.1, zero_point=0)
    mb.add_op("PADV2", [x, p, v], [y])
    mb.mark_output(y)
    graph, _ = compiler.load(mb.build())
    with pytest.raises(Unsupported, match="quantized differently"):
        pad.lower(graph.operators[0], graph)
