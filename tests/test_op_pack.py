"""PACK and UNPACK: mcugen against TFLM (int8, int16, int32, float32; int64 for PACK) and LiteRT.

Several independent ops share one model so a sweep costs few C builds.
"""
from __future__ import annotations

import numpy as np
import pytest
from op_harness import TFLM_ARENA, assert_identical, random_inputs, run_mcugen
from tflite_builder import ModelBuilder

from mcugen import compiler
from mcugen.errors import Unsupported
from mcugen.ops import pack
from mcugen.reference import run_litert, run_tflm_batch


def _q(dtype):
    return dict(scale=0.1, zero_point=5) if dtype in ("int8", "uint8") else (
        dict(scale=0.1, zero_point=0) if dtype == "int16" else {})


def packed_shape(shape, axis, n):
    rank = len(shape) + 1
    ax = axis % rank
    return tuple(shape[:ax]) + (n,) + tuple(shape[ax:])


def add_pack(mb, dtype, shape, axis, n, name):
    xs = [mb.add_input(f"{name}_x{i}", shape, dtype, **_q(dtype)) for i in range(n)]
    y = mb.add_tensor(f"{name}_y", packed_shape(shape, axis, n), dtype, **_q(dtype))
    mb.add_op("PACK", xs, [y], dict(values_count=n, axis=axis))
    mb.mark_output(y)


def add_unpack(mb, dtype, shape, axis, n, name):
    x = mb.add_input(f"{name}_x", packed_shape(shape, axis, n), dtype, **_q(dtype))
    ys = [mb.add_tensor(f"{name}_y{i}", shape, dtype, **_q(dtype)) for i in range(n)]
    mb.add_op("UNPACK", [x], ys, dict(num=n, axis=axis))
    for y in ys:
        mb.mark_output(y)


CASES = [  # piece shape, axis, count; scalar pieces only as UNPACK outputs (the references take no 0-d inputs)
    ((5,), 0, 2),
    ((5,), 1, 3),
    ((5,), -1, 4),
    ((2, 3), 1, 2),
    ((2, 3, 4), 0, 3),
    ((2, 3, 4), 2, 2),
    ((2, 3, 4), -1, 5),
    ((1, 2, 2, 3), 2, 3),
    ((4, 3), 0, 1),  # one piece: no code
]


def sweep_model(dtype, opcode):
    mb = ModelBuilder()
    add = add_pack if opcode == "PACK" else add_unpack
    cases = CASES if opcode == "PACK" else [((), 0, 3)] + CASES
    for i, (shape, axis, n) in enumerate(cases):
        add(mb, dtype, shape, axis, n, f"p{i}")
    return mb.build()


@pytest.mark.parametrize("opcode,dtype", [(o, d) for o in ("PACK", "UNPACK") for d in ("int8", "float32", "int16", "int32")]
                         + [("PACK", "int64")])
def test_pack_matches_tflm(opcode, dtype):
    model = sweep_model(dtype, opcode)
    sets = random_inputs(model, np.random.default_rng(1))
    assert_identical(run_mcugen(model, sets), run_tflm_batch([(model, sets)], arena_size=TFLM_ARENA)[0])


@pytest.mark.parametrize("opcode,dtype", [("PACK", "uint8"), ("UNPACK", "uint8"), ("UNPACK", "bool")])
def test_pack_matches_litert(opcode, dtype):
    model = sweep_model(dtype, opcode)
    sets = random_inputs(model, np.random.default_rng(2))
    assert_identical(run_mcugen(model, sets), run_litert(model, sets))


def test_one_piece_aliases():
    for opcode in ("PACK", "UNPACK"):
        graph, _ = compiler.load(sweep_model("int8", opcode))
        assert pack.lower(graph.operators[-1], graph).kernel is None
        assert pack.lower(graph.operators[1], graph).kernel == "mg_strided_copy"


def test_wrong_piece_shape_is_refused():
    mb = ModelBuilder()
    a = mb.add_input("a", (2, 3), "float32")
    b = mb.add_input("b", (3, 2), "float32")
    y = mb.add_tensor("y", (2, 2, 3), "float32")
    mb.add_op("PACK", [a, b], [y], dict(values_count=2, axis=0))
    mb.mark_output(y)
    graph, _ = compiler.load(mb.build())
    with pytest.raises(Unsupported, match="has shape"):
        pack.lower(graph.operators[0], graph)
