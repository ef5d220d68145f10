"""SPLIT and SPLIT_V: mcugen against TFLM (int8, int16, int32, float32) and LiteRT (other dtypes).

Several independent ops share one model so a sweep costs few C builds.
"""
from __future__ import annotations

import numpy as np
import pytest
from op_harness import TFLM_ARENA, assert_identical, random_inputs, run_mcugen
from tflite_builder import ModelBuilder

from mcugen import compiler
from mcugen.errors import Unsupported
from mcugen.ops import split
from mcugen.reference import run_litert, run_tflm_batch


def _q(dtype):
    return dict(scale=0.1, zero_point=-2) if dtype in ("int8", "uint8") else (
        dict(scale=0.1, zero_point=0) if dtype == "int16" else {})


def add_split(mb, dtype, shape, axis, sizes, name, opcode="SPLIT", size_splits=None):
    x = mb.add_input(f"{name}_x", shape, dtype, **_q(dtype))
    a = mb.add_const(f"{name}_axis", np.array([axis], np.int32))
    ax = axis % len(shape)
    ys = []
    for k, n in enumerate(sizes):
        out_shape = list(shape)
        out_shape[ax] = n
        ys.append(mb.add_tensor(f"{name}_y{k}", out_shape, dtype, **_q(dtype)))
    if opcode == "SPLIT":
        mb.add_op("SPLIT", [a, x], ys, dict(num_splits=len(sizes)))
    else:
        s = mb.add_const(f"{name}_sizes", np.array(size_splits or sizes, np.int32))
        mb.add_op("SPLIT_V", [x, s, a], ys, dict(num_splits=len(sizes)))
    for y in ys:
        mb.mark_output(y)


CASES = [  # shape, axis, SPLIT sizes, SPLIT_V sizes (with -1 where the size is inferred)
    ((6,), 0, [2, 2, 2], [1, -1, 2]),
    ((4, 6), 1, [3, 3], [4, 1, 1]),
    ((4, 6), -2, [1, 1, 1, 1], [3, -1]),
    ((1, 4, 4, 8), 3, [2, 2, 2, 2], [1, 5, 2]),
    ((2, 6, 3, 2), 1, [2, 2, 2], [2, 4]),
    ((2, 3, 2, 2, 4), 4, [2, 2], [1, 3]),
    ((3, 5), 0, [3], [3]),  # one output: no code
]


def sweep_model(dtype, opcode):
    mb = ModelBuilder()
    for i, (shape, axis, sizes, v_sizes) in enumerate(CASES):
        if opcode == "SPLIT":
            add_split(mb, dtype, shape, axis, sizes, f"s{i}")
        else:
            concrete = [n if n != -1 else shape[axis % len(shape)] - sum(m for m in v_sizes if m != -1) for n in v_sizes]
            add_split(mb, dtype, shape, axis, concrete, f"s{i}", "SPLIT_V", v_sizes)
    return mb.build()


@pytest.mark.parametrize("opcode", ["SPLIT", "SPLIT_V"])
@pytest.mark.parametrize("dtype", ["int8", "float32", "int16", "int32"])
def test_split_matches_tflm(opcode, dtype):
    model = sweep_model(dtype, opcode)
    sets = random_inputs(model, np.random.default_rng(1))
    assert_identical(run_mcugen(model, sets), run_tflm_batch([(model, sets)], arena_size=TFLM_ARENA)[0])


@pytest.mark.parametrize("opcode,dtype", [("SPLIT", "uint8"), ("SPLIT_V", "int64"), ("SPLIT_V", "uint8")])
def test_split_matches_litert(opcode, dtype):
    model = sweep_model(dtype, opcode)
    sets = random_inputs(model, np.random.default_rng(2))
    assert_identical(run_mcugen(model, sets), run_litert(model, sets))


def test_one_output_aliases_and_plan_reads_each_piece_once():
    graph, _ = compiler.load(sweep_model("int8", "SPLIT"))
    calls = [split.lower(op, graph) for op in graph.operators]
    assert calls[-1].kernel is None
    call = calls[3]  # (1, 4, 4, 8) into four on the last axis: 16 runs of 2 bytes each
    assert call.params["dims"] == 2 and call.params["num_parts"] == 4
    assert call.args[0] == graph.operators[3].inputs[1] and call.args[1:] == graph.operators[3].outputs


def test_uneven_split_is_refused():
    mb = ModelBuilder()
    add_split(mb, "float32", (5,), 0, [2, 3], "bad")
    graph, _ = compiler.load(mb.build())
    with pytest.raises(Unsupported, match="equal outputs"):
        split.lower(graph.operators[0], graph)
