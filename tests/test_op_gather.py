"""GATHER: mcugen against TFLM (int8 and float32 with int32 indices) and LiteRT (int64 indices, other
dtypes), constant and computed indices, axis and batch_dims.
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import random_input
from op_harness import TFLM_ARENA, assert_identical, run_mcugen
from tflite_builder import ModelBuilder

from mcugen import compiler
from mcugen.errors import Unsupported
from mcugen.ops import gather
from mcugen.reference import run_litert, run_tflm_batch


def _q(dtype):
    return dict(scale=0.1, zero_point=-9) if dtype in ("int8", "uint8") else {}


CASES = [  # input shape, indices shape, axis, batch_dims
    ((6,), (3,), 0, 0),
    ((5, 4), (2,), 0, 0),
    ((5, 4), (3, 2), 1, 0),
    ((2, 5, 3), (4,), 1, 0),
    ((2, 5, 3), (2, 2), -1, 0),
    ((3, 4, 2), (3, 2), 1, 1),  # batch_dims
    ((2, 3, 4, 2), (2, 3, 2), 2, 2),
    ((4, 3), (), 0, 0),  # a scalar index drops the axis
]


def build(dtype, index_dtype, computed, seed):
    """One GATHER per case; indices constant or model inputs. Returns (model, input makers)."""
    rng = np.random.default_rng(seed)
    mb = ModelBuilder()
    makers = []
    for i, (shape, ishape, axis, bd) in enumerate(CASES):
        ax = axis % len(shape)
        x = mb.add_input(f"g{i}_x", shape, dtype, **_q(dtype))
        makers.append(lambda r, s=shape: random_input(s, np.dtype(x_np(dtype)), r))
        indices = rng.integers(0, shape[ax], ishape).astype(index_dtype)
        if computed and ishape:
            idx = mb.add_input(f"g{i}_idx", ishape, index_dtype)
            makers.append(lambda r, s=ishape, n=shape[ax]: r.integers(0, n, s).astype(index_dtype))
        else:
            idx = mb.add_const(f"g{i}_idx", np.asarray(indices))
        out_shape = tuple(shape[:ax]) + tuple(ishape[bd:]) + tuple(shape[ax + 1:])
        y = mb.add_tensor(f"g{i}_y", out_shape, dtype, **_q(dtype))
        mb.add_op("GATHER", [x, idx], [y], dict(axis=axis, batch_dims=bd))
        mb.mark_output(y)
    return mb.build(), makers


def x_np(dtype):
    return {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32, "float32": np.float32,
            "bool": np.bool_}[dtype]


def run_case(dtype, index_dtype, computed, reference, seed=1):
    model, makers = build(dtype, index_dtype, computed, seed)
    rng = np.random.default_rng(seed + 100)
    sets = [[make(rng) for make in makers] for _ in range(3)]
    expected = run_tflm_batch([(model, sets)], arena_size=TFLM_ARENA)[0] if reference == "tflm" else run_litert(model, sets)
    assert_identical(run_mcugen(model, sets), expected)


@pytest.mark.parametrize("dtype", ["int8", "float32"])
@pytest.mark.parametrize("computed", [False, True], ids=["const-indices", "input-indices"])
def test_gather_matches_tflm(dtype, computed):
    run_case(dtype, "int32", computed, "tflm")


@pytest.mark.parametrize("dtype,index_dtype", [("float32", "int64"), ("int16", "int32"), ("int32", "int64"),
                                               ("uint8", "int32"), ("bool", "int32")])
def test_gather_matches_litert(dtype, index_dtype):
    """TFLM gathers only int8 and float32, with int32 indices."""
    run_case(dtype, index_dtype, True, "litert", seed=2)


def test_out_of_range_computed_index_gives_zeros():
    """TFLM does not check computed indices (it reads outside the input); mcugen writes zeros."""
    mb = ModelBuilder()
    x = mb.add_input("x", (3, 2), "float32")
    idx = mb.add_input("idx", (4,), "int32")
    y = mb.add_tensor("y", (4, 2), "float32")
    mb.add_op("GATHER", [x, idx], [y], dict(axis=0))
    mb.mark_output(y)
    data = np.arange(6, dtype=np.float32).reshape(3, 2) + 1
    (out,), = run_mcugen(mb.build(), [[data, np.array([2, -1, 3, 0], np.int32)]])
    np.testing.assert_array_equal(out, [[5, 6], [0, 0], [0, 0], [1, 2]])


def test_out_of_range_constant_index_is_refused():
    mb = ModelBuilder()
    x = mb.add_input("x", (3, 2), "float32")
    idx = mb.add_const("idx", np.array([1, 3], np.int32))
    y = mb.add_tensor("y", (2, 2), "float32")
    mb.add_op("GATHER", [x, idx], [y], dict(axis=0))
    mb.mark_output(y)
    graph, _ = compiler.load(mb.build())
    with pytest.raises(Unsupported, match="outside"):
        gather.lower(graph.operators[0], graph)
