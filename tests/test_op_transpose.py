"""TRANSPOSE: mcugen against TFLM (ranks 1 to 5; int8, int16, float32) and LiteRT (rank 6, other dtypes).

Several independent ops share one model so a sweep costs few C builds.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_harness import TFLM_ARENA, assert_identical, random_inputs, run_mcugen
from tflite_builder import ModelBuilder

from mcugen import compiler
from mcugen.errors import Unsupported
from mcugen.ops import transpose
from mcugen.ops.strided_copy import Part, simplify
from mcugen.reference import run_litert, run_tflm_batch


def add_transpose(mb, dtype, shape, perm, name):
    q = dict(scale=0.1, zero_point=-4) if dtype == "int8" else (dict(scale=0.1, zero_point=0) if dtype == "int16" else {})
    x = mb.add_input(f"{name}_x", shape, dtype, **q)
    p = mb.add_const(f"{name}_perm", np.array(perm, np.int32))
    y = mb.add_tensor(f"{name}_y", tuple(shape[i] for i in perm), dtype, **q)
    mb.add_op("TRANSPOSE", [x, p], [y])
    mb.mark_output(y)


SHAPES = {1: (7,), 2: (3, 5), 3: (2, 3, 4), 4: (2, 3, 1, 5), 5: (2, 1, 3, 2, 3), 6: (2, 3, 1, 2, 2, 3)}


def perms(rank, limit):
    """Every permutation for small ranks, an even sample of them for large ones."""
    all_perms = list(itertools.permutations(range(rank)))
    step = max(1, len(all_perms) // limit)
    return all_perms[::step]


def sweep_model(dtype, ranks, limit=24):
    mb = ModelBuilder()
    for rank in ranks:
        for i, perm in enumerate(perms(rank, limit)):
            add_transpose(mb, dtype, SHAPES[rank], perm, f"r{rank}_{i}")
    return mb.build()


@pytest.mark.parametrize("dtype", ["int8", "float32", "int16"])
def test_transpose_matches_tflm(dtype):
    model = sweep_model(dtype, (1, 2, 3, 4, 5))
    sets = random_inputs(model, np.random.default_rng(1))
    assert_identical(run_mcugen(model, sets), run_tflm_batch([(model, sets)], arena_size=TFLM_ARENA)[0])


@pytest.mark.parametrize("dtype,ranks", [("float32", (6,)), ("int32", (2, 4)), ("int64", (3,)), ("uint8", (4,)),
                                         ("bool", (3,))])
def test_transpose_matches_litert(dtype, ranks):
    """TFLM stops at rank 5 and transposes only int8, int16 and float32."""
    model = sweep_model(dtype, ranks, limit=12)
    sets = random_inputs(model, np.random.default_rng(2))
    assert_identical(run_mcugen(model, sets), run_litert(model, sets))


def test_negative_permutation_entries_match_litert():
    """LiteRT counts negative entries from the end; TFLM refuses them."""
    mb = ModelBuilder()
    x = mb.add_input("x", (2, 3, 4), "float32")
    p = mb.add_const("perm", np.array([-1, 0, -2], np.int32))
    y = mb.add_tensor("y", (4, 2, 3), "float32")
    mb.add_op("TRANSPOSE", [x, p], [y])
    mb.mark_output(y)
    model = mb.build()
    sets = random_inputs(model, np.random.default_rng(3))
    assert_identical(run_mcugen(model, sets), run_litert(model, sets))


def test_merged_loops_and_aliases():
    mb = ModelBuilder()
    add_transpose(mb, "int8", (1, 6, 7, 5), (0, 3, 1, 2), "nhwc_to_nchw")  # a 2-D transpose of (42, 5)
    add_transpose(mb, "int8", (3, 1, 4), (1, 0, 2), "moves_a_unit_dim")  # bytes unchanged
    add_transpose(mb, "float32", (2, 3, 4), (0, 2, 1), "inner")
    graph, _ = compiler.load(mb.build())
    calls = [transpose.lower(op, graph) for op in graph.operators]
    assert calls[0].params["dims"] == 2
    loops = calls[0].params["parts"].values[5:].reshape(-1, 3)
    assert loops.tolist() == [[5, 1, 42], [42, 5, 1]]  # (count, src stride, dst stride) in bytes
    assert calls[1].kernel is None and calls[1].alias_input == graph.operators[1].inputs[0]
    assert calls[2].params["dims"] == 3


def test_bad_permutation_is_refused():
    mb = ModelBuilder()
    x = mb.add_input("x", (2, 3), "float32")
    p = mb.add_const("p", np.array([0, 0], np.int32))
    y = mb.add_tensor("y", (2, 2), "float32")
    mb.add_op("TRANSPOSE", [x, p], [y])
    mb.mark_output(y)
    graph, _ = compiler.load(mb.build())
    with pytest.raises(Unsupported, match="not a permutation"):
        transpose.lower(graph.operators[0], graph)


def _visits(part):
    """(source, destination) element offsets in the order the kernel walks them."""
    idx = np.indices(part.sizes).reshape(len(part.sizes), -1).T
    return list(zip((part.src_offset + idx @ np.array(part.src_strides)).tolist(),
                    (part.dst_offset + idx @ np.array(part.dst_strides)).tolist()))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(-6, 6), st.integers(0, 6)), min_size=1, max_size=5),
       st.integers(0, 50))
def test_loop_merging_keeps_the_walk(loops, offset):
    """Dropping unit loops and merging neighbours never changes which elements go where, in order."""
    part = Part(0, 1, [n for n, _, _ in loops], [a for _, a, _ in loops], [b for _, _, b in loops], offset, offset)
    merged = simplify(part)
    assert _visits(merged) == _visits(part)
    assert len(merged.sizes) <= len(part.sizes)
