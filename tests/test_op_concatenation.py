"""CONCATENATION: mcugen against TFLM (LiteRT where TFLM refuses), every dtype, axes, input counts.

Several independent ops share one model so a sweep costs few C builds.
"""
from __future__ import annotations

import numpy as np
import pytest
from op_harness import TFLM_ARENA, assert_matches, random_inputs, run_mcugen
from tflite_builder import ModelBuilder

from mcugen import compiler
from mcugen.errors import Unsupported
from mcugen.ops import concatenation
from mcugen.reference import run_litert, run_tflm_batch


def _q(dtype, scale=0.05, zero_point=-3):
    if dtype in ("int8", "uint8"):
        return dict(scale=scale, zero_point=zero_point)
    if dtype == "int16":
        return dict(scale=scale, zero_point=0)
    return {}


def add_concat(mb, dtype, shapes, axis, name, quants=None, out_quant=None, activation="NONE"):
    """One CONCATENATION of fresh inputs; returns the output tensor."""
    rank = len(shapes[0])
    ax = axis % rank
    out_shape = list(shapes[0])
    out_shape[ax] = sum(s[ax] for s in shapes)
    ins = [mb.add_input(f"{name}_in{i}", s, dtype, **(quants[i] if quants else _q(dtype)))
           for i, s in enumerate(shapes)]
    y = mb.add_tensor(f"{name}_out", out_shape, dtype, **(out_quant if out_quant is not None else _q(dtype)))
    mb.add_op("CONCATENATION", ins, [y], dict(axis=axis, fused_activation_function=activation))
    mb.mark_output(y)
    return y


SHAPE_CASES = [  # (input shapes, axis)
    ([(4,), (3,)], 0),
    ([(2, 3), (2, 5)], 1),
    ([(2, 3), (4, 3), (1, 3)], 0),
    ([(1, 4, 4, 3), (1, 4, 4, 5)], -1),
    ([(1, 4, 4, 3), (1, 4, 2, 3), (1, 4, 1, 3), (1, 4, 3, 3)], 2),
    ([(2, 3, 4, 5), (2, 1, 4, 5)], 1),
    ([(3, 2, 2), (3, 2, 2)], -3),
    ([(1, 1, 1, 2), (1, 1, 1, 2)], 3),
    ([(2, 2, 3, 2, 2), (2, 2, 1, 2, 2)], 2),
    ([(5, 6)], 1),  # one input: no code
]


def _sweep_model(dtype):
    mb = ModelBuilder()
    for i, (shapes, axis) in enumerate(SHAPE_CASES):
        add_concat(mb, dtype, shapes, axis, f"c{i}")
    return mb.build()


@pytest.mark.parametrize("dtype", ["int8", "float32", "int16", "int32", "int64", "bool"])
def test_concatenation_matches_tflm(dtype):
    model = _sweep_model(dtype)
    rng = np.random.default_rng(1)
    sets = random_inputs(model, rng)
    assert_matches(run_mcugen(model, sets), run_tflm_batch([(model, sets)], arena_size=TFLM_ARENA)[0], atol=1e-6)


def test_uint8_matches_litert():
    """TFLM has no uint8 CONCATENATION; LiteRT does."""
    model = _sweep_model("uint8")
    sets = random_inputs(model, np.random.default_rng(2))
    assert_matches(run_mcugen(model, sets), run_litert(model, sets), atol=1e-6)


RESCALE_CASES = [  # input quantizations, output quantization
    ([(0.1, 0), (0.2, 3)], (0.15, -1)),
    ([(0.05, -128), (0.05, 127)], (0.05, 0)),  # same scale, zero points differ
    ([(0.02, 10), (0.3, -40), (0.011, 0)], (0.07, 5)),
    ([(0.5, 0), (0.5, 0)], (0.01, 0)),  # saturates
    ([(0.1, 0), (0.1, 0)], (0.1, 0)),  # no rescaling at all
]


def _rescale_model(dtype, shift):
    """Same model in int8 or uint8: uint8 zero points are the int8 ones + 128."""
    mb = ModelBuilder()
    for i, (qs, qo) in enumerate(RESCALE_CASES):
        shapes = [(2, 3, 4)] * len(qs)
        quants = [dict(scale=s, zero_point=z + shift) for s, z in qs]
        add_concat(mb, dtype, shapes, 1, f"r{i}", quants, dict(scale=qo[0], zero_point=qo[1] + shift))
    return mb.build()


def test_int8_rescaling_matches_litert_uint8():
    """TFLM and LiteRT refuse int8 inputs with another quantization than the output's. mcugen
    rescales as LiteRT's uint8 kernel does; the oracle is LiteRT on the same model in uint8."""
    values = np.arange(-128, 128, dtype=np.int8)
    s8, u8 = _rescale_model("int8", 0), _rescale_model("uint8", 128)
    n_inputs = sum(len(qs) for qs, _ in RESCALE_CASES)
    # Consecutive windows of 24: every input sees all 256 values over the 11 sets.
    sets = [[np.roll(values, -24 * k - 7 * j)[:24].reshape(2, 3, 4) for j in range(n_inputs)] for k in range(11)]
    ours = run_mcugen(s8, sets)
    theirs = run_litert(u8, [[(x.astype(np.int16) + 128).astype(np.uint8) for x in xs] for xs in sets])
    shifted = [[(y.astype(np.int16) - 128).astype(np.int8) for y in ys] for ys in theirs]
    assert_matches(ours, shifted, atol=1e-6)
    for j in range(n_inputs):
        assert np.unique(np.concatenate([xs[j].ravel() for xs in sets])).size == 256


def test_uint8_rescaling_matches_litert():
    model = _rescale_model("uint8", 128)
    sets = random_inputs(model, np.random.default_rng(6), 4)
    assert_matches(run_mcugen(model, sets), run_litert(model, sets), atol=1e-6)


def test_int8_rescaling_is_refused_by_tflm():
    """The reason the oracle above is LiteRT's uint8 kernel: if TFLM ever accepts this, use it."""
    model = _rescale_model("int8", 0)
    result = run_tflm_batch([(model, random_inputs(model, np.random.default_rng(0), 1))], arena_size=TFLM_ARENA,
                            errors="return")[0]
    assert isinstance(result, Exception)


@pytest.mark.parametrize("dtype,activation", [("float32", "RELU"), ("float32", "RELU6"), ("float32", "RELU_N1_TO_1"),
                                              ("int8", "RELU"), ("int8", "RELU6")])
def test_fused_activation_matches_tflm_concat_then_activation(dtype, activation):
    """TFLM refuses a fused activation on CONCATENATION (LiteRT's default kernel ignores it);
    mcugen applies it, and must equal TFLM's CONCATENATION followed by the activation op
    (LiteRT's for RELU_N1_TO_1, which TFLM lacks)."""
    q = _q(dtype, 0.04, 7)
    fused = ModelBuilder()
    add_concat(fused, dtype, [(2, 3, 4), (2, 2, 4)], 1, "c", [q, q], q, activation=activation)
    chained = ModelBuilder()
    a = chained.add_input("c_in0", (2, 3, 4), dtype, **q)
    b = chained.add_input("c_in1", (2, 2, 4), dtype, **q)
    mid = chained.add_tensor("mid", (2, 5, 4), dtype, **q)
    y = chained.add_tensor("c_out", (2, 5, 4), dtype, **q)
    chained.add_op("CONCATENATION", [a, b], [mid], dict(axis=1))
    chained.add_op(activation, [mid], [y])
    chained.mark_output(y)
    fused_model, chained_model = fused.build(), chained.build()
    rng = np.random.default_rng(4)
    sets = random_inputs(fused_model, rng, 3)
    if dtype == "float32":
        sets = [[x * 4 for x in xs] for xs in sets]  # reach past 6 and -1
    if activation == "RELU_N1_TO_1":  # TFLM has no RELU_N1_TO_1 op
        expected = run_litert(chained_model, sets)
    else:
        expected = run_tflm_batch([(chained_model, sets)], arena_size=TFLM_ARENA)[0]
    assert_matches(run_mcugen(fused_model, sets), expected, atol=1e-6)


def test_single_input_and_constant_inputs():
    """One input aliases (no code); a constant input is copied from flash."""
    mb = ModelBuilder()
    x = mb.add_input("x", (2, 3), "float32")
    c = mb.add_const("c", np.arange(4, dtype=np.float32).reshape(2, 2))
    y = mb.add_tensor("y", (2, 5), "float32")
    mb.add_op("CONCATENATION", [x, c], [y], dict(axis=1))
    mb.mark_output(y)
    model = mb.build()
    sets = random_inputs(model, np.random.default_rng(5))
    assert_matches(run_mcugen(model, sets), run_tflm_batch([(model, sets)], arena_size=TFLM_ARENA)[0], atol=1e-6)
    graph, _ = compiler.load(_sweep_model("int8"))
    program = compiler.compile_graph(graph)
    assert [s.call.kernel for s in program.steps].count(None) == 1  # the one-input case


def test_plan_is_one_memcpy_per_input_and_outer_step():
    graph, _ = compiler.load(_sweep_model("int8"))
    op = graph.operators[3]  # (1, 4, 4, 3) + (1, 4, 4, 5) on the last axis
    call = concatenation.lower(op, graph)
    assert call.params["dims"] == 2 and call.params["num_parts"] == 2
    parts = call.params["parts"].values.reshape(2, -1)
    # per part: src, dst, src offset, dst offset, mode, (count, src stride, dst stride) x 2
    assert parts[0].tolist() == [0, 2, 0, 0, 0, 16, 3, 8, 3, 1, 1]
    assert parts[1].tolist() == [1, 2, 0, 3, 0, 16, 5, 8, 5, 1, 1]


def test_bad_shapes_are_refused():
    mb = ModelBuilder()
    add_concat(mb, "int8", [(2, 3), (3, 3)], 1, "bad")
    graph, _ = compiler.load(mb.build())
    with pytest.raises(Unsupported, match="does not fit"):
        concatenation.lower(graph.operators[0], graph)


# ---- strict C: every kernel family of the data-movement ops in one model -----------------------


def _all_families_model() -> bytes:
    mb = ModelBuilder()
    add_concat(mb, "int8", [(2, 3, 4), (2, 1, 4)], 1, "a")
    add_concat(mb, "int8", [(2, 3), (2, 2)], 1, "b", [dict(scale=0.1, zero_point=1), dict(scale=0.3, zero_point=-2)],
               dict(scale=0.2, zero_point=0), activation="RELU")
    add_concat(mb, "float32", [(3, 2), (3, 2)], 0, "c", activation="RELU6")
    add_concat(mb, "int64", [(2, 2), (1, 2)], 0, "d")

    def unary(opcode, x_shape, dtype, y_shape, y_dtype=None, consts=(), options=None, outputs=1, **q):
        x = mb.add_input(f"{opcode}_x", x_shape, dtype, **q)
        cs = [mb.add_const(f"{opcode}_c{i}", np.asarray(c)) for i, c in enumerate(consts)]
        ys = [mb.add_tensor(f"{opcode}_y{i}", y_shape, y_dtype or dtype, **q) for i in range(outputs)]
        mb.add_op(opcode, [x, *cs], ys, options or {})
        for y in ys:
            mb.mark_output(y)

    i32 = lambda *v: np.array(v, np.int32)  # noqa: E731
    q8 = dict(scale=0.1, zero_point=-5)
    unary("PAD", (2, 3, 4), "int8", (3, 5, 5), consts=[i32([1, 0], [1, 1], [0, 1])], **q8)
    unary("TRANSPOSE", (2, 3, 4), "int16", (4, 2, 3), consts=[i32(2, 0, 1)], scale=0.1, zero_point=0)
    unary("STRIDED_SLICE", (4, 6), "float32", (2, 3), consts=[i32(3, -1), i32(0, 0), i32(-2, -2)],
          options=dict(end_mask=2))
    unary("SLICE", (3, 4), "int32", (2, 2), consts=[i32(1, 1), i32(2, 2)])
    unary("UNPACK", (3, 2, 2), "float32", (3, 2), options=dict(num=2, axis=1), outputs=2)
    unary("GATHER", (5, 3), "int8", (2, 3), consts=[i32(4, 0)], options=dict(axis=0), **q8)
    unary("CAST", (2, 3), "float32", (2, 3), y_dtype="int16")
    unary("ARG_MAX", (2, 5), "int8", (2,), y_dtype="int64", consts=[i32(1)], **q8)
    return mb.build()


def test_generated_c_is_strict_and_sanitizer_clean(tmp_path):
    from test_c_strict import test_generated_c_is_strict_and_sanitizer_clean as strict_check
    import test_c_strict
    content = _all_families_model()
    graph, _ = compiler.load(content)
    families = {s.call.family for s in compiler.compile_graph(graph).steps}
    assert {"mg_strided_copy", "mg_gather", "mg_cast", "mg_arg_min_max"} <= families
    test_c_strict.BUILT["data_movement"] = _all_families_model
    try:
        strict_check("data_movement", tmp_path)
    finally:
        del test_c_strict.BUILT["data_movement"]
