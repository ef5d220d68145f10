"""SLICE and STRIDED_SLICE: mcugen against TFLM, and LiteRT where TFLM refuses (ellipsis and new-axis
masks, the offset option, rank 5, int64 and uint8).

Random strided slices (masks, negative indices and strides, shrinking) are generated here; the
output shape each model declares comes from mcugen's own index rules, so a wrong shape makes the
reference refuse the model and fails the test too.
"""
from __future__ import annotations

import numpy as np
import pytest
from op_harness import TFLM_ARENA, assert_identical, random_inputs, run_mcugen
from tflite_builder import ModelBuilder

from mcugen import compiler
from mcugen.errors import Unsupported
from mcugen.ops import slicing
from mcugen.reference import run_litert, run_tflm_batch


def _q(dtype):
    return dict(scale=0.1, zero_point=3) if dtype in ("int8", "uint8") else (
        dict(scale=0.1, zero_point=0) if dtype == "int16" else {})


def add_strided_slice(mb, dtype, shape, begin, end, strides, name, **masks):
    _, out_shape = slicing.strided_slice_box(list(shape), begin, end, strides, **masks)
    x = mb.add_input(f"{name}_x", shape, dtype, **_q(dtype))
    consts = [mb.add_const(f"{name}_{k}", np.array(v, np.int32)) for k, v in (("b", begin), ("e", end), ("s", strides))]
    y = mb.add_tensor(f"{name}_y", out_shape, dtype, **_q(dtype))
    mb.add_op("STRIDED_SLICE", [x, *consts], [y], masks)
    mb.mark_output(y)


def add_slice(mb, dtype, shape, begin, size, name, index_dtype="int32"):
    x = mb.add_input(f"{name}_x", shape, dtype, **_q(dtype))
    b = mb.add_const(f"{name}_b", np.array(begin, index_dtype))
    s = mb.add_const(f"{name}_s", np.array(size, index_dtype))
    out_shape = [d - a if n == -1 else n for d, a, n in zip(shape, begin, size)]
    y = mb.add_tensor(f"{name}_y", out_shape, dtype, **_q(dtype))
    mb.add_op("SLICE", [x, b, s], [y])
    mb.mark_output(y)


def random_strided_slice(rng, rank):
    """Random begin/end/strides/masks whose result is not empty."""
    shape = tuple(int(v) for v in rng.integers(1, 6, rank))
    while True:
        begin, end, strides = [], [], []
        shrink = 0
        for i, d in enumerate(shape):
            stride = int(rng.choice([-3, -2, -1, 1, 1, 2, 3]))
            if rng.random() < 0.2:
                shrink |= 1 << i
                stride = abs(stride)  # the references write nothing for a shrunk axis with a negative stride
                begin.append(int(rng.integers(-d, d)))
            else:
                begin.append(int(rng.integers(-d - 2, d + 2)))
            end.append(int(rng.integers(-d - 2, d + 2)))
            strides.append(stride)
        masks = dict(begin_mask=int(rng.integers(0, 1 << rank)), end_mask=int(rng.integers(0, 1 << rank)),
                     shrink_axis_mask=shrink)
        box, out_shape = slicing.strided_slice_box(list(shape), begin, end, strides, **masks)
        if all(c > 0 for c in box.counts):
            return shape, begin, end, strides, masks


def random_model(dtype, seed, count, ranks):
    rng = np.random.default_rng(seed)
    mb = ModelBuilder()
    for i in range(count):
        shape, begin, end, strides, masks = random_strided_slice(rng, int(rng.choice(ranks)))
        add_strided_slice(mb, dtype, shape, begin, end, strides, f"s{i}", **masks)
    return mb.build()


@pytest.mark.parametrize("dtype,seed", [("int8", 1), ("float32", 2), ("int16", 3), ("int32", 4), ("bool", 5),
                                        ("int8", 6), ("float32", 7)])
def test_random_strided_slices_match_tflm(dtype, seed):
    model = random_model(dtype, seed, 40, (1, 2, 3, 4))
    sets = random_inputs(model, np.random.default_rng(seed))
    assert_identical(run_mcugen(model, sets), run_tflm_batch([(model, sets)], arena_size=TFLM_ARENA)[0])


@pytest.mark.parametrize("dtype,seed,ranks", [("float32", 8, (5,)), ("int64", 9, (2, 3)), ("uint8", 10, (3, 4))])
def test_random_strided_slices_match_litert(dtype, seed, ranks):
    """TFLM stops at rank 4 and has no int64 or uint8 STRIDED_SLICE."""
    model = random_model(dtype, seed, 25, ranks)
    sets = random_inputs(model, np.random.default_rng(seed))
    assert_identical(run_mcugen(model, sets), run_litert(model, sets))


LITERT_ONLY = [  # (shape, begin, end, strides, masks): TFLM refuses all of these
    ((2, 3, 4), [0, 1], [0, 3], [1, 1], dict(ellipsis_mask=1)),  # x[..., 1:3]
    ((2, 3, 4), [1, 0], [2, 0], [1, 1], dict(ellipsis_mask=2)),  # x[1:2, ...]
    ((2, 3, 4), [0, 0, 0], [1, 0, 0], [1, 1, 1], dict(ellipsis_mask=2, shrink_axis_mask=1)),  # x[0, ...]
    ((2, 3, 4), [0, 0], [0, 0], [1, 1], dict(new_axis_mask=2, begin_mask=1, end_mask=1)),  # x[:, None]
    ((2, 3, 4), [0, 0, 0], [0, 0, -1], [1, 1, -1], dict(new_axis_mask=1, ellipsis_mask=2, begin_mask=4)),
    ((2, 3, 4), [0, 0, 2, 0], [0, 0, 0, 0], [1, 1, -1, 1], dict(new_axis_mask=9, begin_mask=2, end_mask=6)),
    ((2, 3, 4), [0, 0, 1], [2, 3, 2], [1, 1, 1], dict(offset=True)),
    ((3, 5), [1, -4], [2, 3], [1, 2], dict(offset=True)),
]


def test_ellipsis_new_axis_and_offset_match_litert():
    mb = ModelBuilder()
    for i, (shape, b, e, s, masks) in enumerate(LITERT_ONLY):
        add_strided_slice(mb, "float32", shape, b, e, s, f"l{i}", **masks)
    model = mb.build()
    sets = random_inputs(model, np.random.default_rng(11))
    assert_identical(run_mcugen(model, sets), run_litert(model, sets))
    refused = run_tflm_batch([(model, sets)], arena_size=TFLM_ARENA, errors="return")[0]
    assert isinstance(refused, Exception)  # if TFLM learns these, test against it instead


SLICES = [  # shape, begin, size
    ((7,), [2], [3]),
    ((4, 5), [1, 0], [2, -1]),
    ((2, 3, 4), [0, 1, 1], [2, 2, 3]),
    ((2, 3, 4, 5), [1, 0, 2, 1], [1, -1, 2, -1]),
    ((2, 2, 3, 2, 3), [0, 1, 0, 1, 1], [2, 1, 3, 1, 2]),
    ((3, 4), [0, 0], [3, 4]),  # everything: no code
    ((1, 6, 4), [0, 2, 0], [1, 3, 4]),  # one contiguous run
]


@pytest.mark.parametrize("dtype,index_dtype", [("int8", "int32"), ("float32", "int64"), ("int16", "int32"),
                                               ("int32", "int32"), ("bool", "int64")])
def test_slice_matches_tflm(dtype, index_dtype):
    mb = ModelBuilder()
    for i, (shape, begin, size) in enumerate(SLICES):
        add_slice(mb, dtype, shape, begin, size, f"s{i}", index_dtype)
    model = mb.build()
    sets = random_inputs(model, np.random.default_rng(12))
    assert_identical(run_mcugen(model, sets), run_tflm_batch([(model, sets)], arena_size=TFLM_ARENA)[0])


def test_whole_slices_alias_and_runs_are_single_copies():
    mb = ModelBuilder()
    add_slice(mb, "int8", (3, 4), [0, 0], [3, 4], "all")
    add_slice(mb, "int8", (1, 6, 4), [0, 2, 0], [1, 3, 4], "run")
    add_strided_slice(mb, "int8", (1, 2, 3), [0, 0, 0], [1, 2, 3], [1, 1, 1], "shrink_only", shrink_axis_mask=1)
    graph, _ = compiler.load(mb.build())
    calls = [slicing.lower(op, graph) for op in graph.operators]
    assert calls[0].kernel is None and calls[2].kernel is None
    assert calls[1].params["dims"] == 1 and calls[1].params["parts"].values[2] == 8  # starts at row 2 of 4 bytes


@pytest.mark.parametrize("builder,match", [
    (lambda mb: add_slice(mb, "int8", (3, 4), [2, 0], [2, 4], "bad"), "outside"),
    (lambda mb: add_strided_slice(mb, "int8", (3, 4), [0, 0], [3, 4], [1, 0], "bad"), "stride of 0"),
])
def test_bad_slices_are_refused(builder, match):
    mb = ModelBuilder()
    try:
        builder(mb)
    except Unsupported as e:  # the helper itself computes the shape with the same rules
        assert match in str(e)
        return
    graph, _ = compiler.load(mb.build())
    with pytest.raises(Unsupported, match=match):
        slicing.lower(graph.operators[0], graph)
