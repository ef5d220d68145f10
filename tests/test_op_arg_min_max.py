"""ARG_MAX and ARG_MIN: mcugen against TFLM (int8 and float32 in, int32 out) and LiteRT (int64 out,
uint8 and int32 in; LiteRT has no int16 ARG_MIN/ARG_MAX); every axis, ties, a NaN."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import random_input
from op_harness import TFLM_ARENA, assert_identical, run_mcugen
from tflite_builder import ModelBuilder

import mcugen
from mcugen import compiler
from mcugen.errors import Unsupported
from mcugen.ops import arg_min_max
from mcugen.reference import run_litert, run_tflm_batch

SHAPES = [(7,), (3, 5), (2, 3, 4), (1, 4, 4, 6), (2, 1, 3, 2, 3)]


def sweep_model(opcode, dtype, out_type):
    mb = ModelBuilder()
    q = dict(scale=0.1, zero_point=2) if dtype in ("int8", "uint8") else {}
    for i, shape in enumerate(SHAPES):
        for axis in range(-len(shape), len(shape)) if len(shape) < 4 else range(len(shape)):
            x = mb.add_input(f"x{i}_{axis}", shape, dtype, **q)
            a = mb.add_const(f"axis{i}_{axis}", np.array([axis], np.int32))
            out_shape = tuple(d for k, d in enumerate(shape) if k != axis % len(shape))
            y = mb.add_tensor(f"y{i}_{axis}", out_shape, out_type)
            mb.add_op(opcode, [x, a], [y], dict(output_type=out_type))
            mb.mark_output(y)
    return mb.build()


def inputs(model, dtype, rng, ties):
    details = mcugen.Interpreter(model_content=model).get_input_details()
    sets = []
    for _ in range(3):
        xs = []
        for d in details:
            x = random_input(tuple(d["shape"]), d["dtype"], rng)
            if ties:  # few distinct values: many ties, the first index must win
                x = (x % 3).astype(x.dtype) if dtype != "float32" else np.round(x).astype(np.float32)
            xs.append(x)
        sets.append(xs)
    return sets


@pytest.mark.parametrize("opcode", ["ARG_MAX", "ARG_MIN"])
@pytest.mark.parametrize("dtype", ["int8", "float32"])
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
def test_arg_min_max_matches_tflm(opcode, dtype, ties):
    model = sweep_model(opcode, dtype, "int32")
    sets = inputs(model, dtype, np.random.default_rng(1), ties)
    assert_identical(run_mcugen(model, sets), run_tflm_batch([(model, sets)], arena_size=TFLM_ARENA)[0])


@pytest.mark.parametrize("opcode,dtype", [("ARG_MAX", "uint8"), ("ARG_MIN", "int8"), ("ARG_MAX", "int32"),
                                          ("ARG_MIN", "float32")])
def test_int64_output_and_other_dtypes_match_litert(opcode, dtype):
    model = sweep_model(opcode, dtype, "int64")
    sets = inputs(model, dtype, np.random.default_rng(2), True)
    assert_identical(run_mcugen(model, sets), run_litert(model, sets))


@pytest.mark.parametrize("opcode", ["ARG_MAX", "ARG_MIN"])
def test_nan_matches_tflm(opcode):
    mb = ModelBuilder()
    x = mb.add_input("x", (4, 5), "float32")
    a = mb.add_const("axis", np.array([1], np.int32))
    y = mb.add_tensor("y", (4,), "int32")
    mb.add_op(opcode, [x, a], [y], dict(output_type="int32"))
    mb.mark_output(y)
    model = mb.build()
    data = np.array([[np.nan, 1, 5, 2, 0], [1, np.nan, 9, -9, 3], [1, 2, 3, 4, np.nan], [np.nan] * 5], np.float32)
    assert_identical(run_mcugen(model, [[data]]), run_tflm_batch([(model, [[data]])], arena_size=TFLM_ARENA)[0])


def test_computed_axis_is_refused():
    mb = ModelBuilder()
    x = mb.add_input("x", (4, 5), "float32")
    a = mb.add_input("axis", (1,), "int32")
    y = mb.add_tensor("y", (4,), "int32")
    mb.add_op("ARG_MAX", [x, a], [y], dict(output_type="int32"))
    mb.mark_output(y)
    graph, _ = compiler.load(mb.build())
    with pytest.raises(Unsupported, match="constant"):
        arg_min_max.lower(graph.operators[0], graph)
