"""Graph clean-ups (mcugen/passes.py): each pass removes work and the results stay TFLM's.

Every model here is checked twice: the passes did what they should (the program's steps), and
mcugen's outputs equal TFLM's on the original model.
"""
from __future__ import annotations

import numpy as np
import pytest
from op_harness import TFLM_ARENA, assert_matches, random_inputs, run_mcugen
from tflite_builder import ModelBuilder

import mcugen
from mcugen import compiler, passes
from mcugen.reference import run_tflm_batch


def check_against_tflm(model, sets=2, seed=0):
    input_sets = random_inputs(model, np.random.default_rng(seed), sets)
    expected = run_tflm_batch([(model, input_sets)], arena_size=TFLM_ARENA)[0]
    assert_matches(run_mcugen(model, input_sets), expected, atol=1e-6)


def steps(model):
    graph, _ = compiler.load(model)
    return [(s.opcode, s.call.kernel) for s in compiler.compile_graph(graph).steps]


def add_op(mb, opcode, inputs, out_shape, dtype, options=None, **q):
    y = mb.add_tensor(f"t{len(mb.tensors)}_{opcode.lower()}", out_shape, dtype, **q)
    mb.add_op(opcode, inputs, [y], options or {})
    return y


def i32(*values):
    return np.array(values, np.int32)


# ---- constant folding ------------------------------------------------------------------------


def shape_math_model(dtype="float32"):
    """SHAPE -> STRIDED_SLICE -> CONCATENATION with a constant -> RESHAPE's new shape; then ADD."""
    q = dict(scale=0.05, zero_point=2) if dtype == "int8" else {}
    mb = ModelBuilder()
    x = mb.add_input("x", (1, 4, 6), dtype, **q)
    shape = add_op(mb, "SHAPE", [x], (3,), "int32", dict(out_type="int32"))
    batch = add_op(mb, "STRIDED_SLICE", [shape, mb.add_const("b", i32(0)), mb.add_const("e", i32(1)),
                                         mb.add_const("s", i32(1))], (1,), "int32")
    new_shape = add_op(mb, "CONCATENATION", [batch, mb.add_const("rest", i32(24))], (2,), "int32", dict(axis=0))
    flat = add_op(mb, "RESHAPE", [x, new_shape], (1, 24), dtype, **q)
    y = add_op(mb, "ADD", [flat, flat], (1, 24), dtype, dict(fused_activation_function="NONE"),
               **(dict(scale=0.1, zero_point=2) if dtype == "int8" else {}))
    mb.mark_output(y)
    return mb.build()


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_shape_math_folds_to_a_constant_shape(dtype):
    model = shape_math_model(dtype)
    assert steps(model) == [("RESHAPE", None), ("ADD", "mg_add_f32" if dtype == "float32" else "mg_add_s8")]
    check_against_tflm(model)


def transposed_weights_model():
    """Weights stored (in, out) and transposed for FULLY_CONNECTED, as converters of other frameworks do."""
    rng = np.random.default_rng(3)
    mb = ModelBuilder()
    x = mb.add_input("x", (2, 6), "float32")
    w_in_out = mb.add_const("w_io", rng.standard_normal((6, 5)).astype(np.float32))
    w = add_op(mb, "TRANSPOSE", [w_in_out, mb.add_const("perm", i32(1, 0))], (5, 6), "float32")
    bias = add_op(mb, "CAST", [mb.add_const("bias_i", i32(1, -2, 3, 0, 5))], (5,), "float32")
    y = add_op(mb, "FULLY_CONNECTED", [x, w, bias], (2, 5), "float32", dict(fused_activation_function="NONE"))
    mb.mark_output(y)
    return mb.build()


def test_constant_transpose_and_cast_fold_into_weights():
    model = transposed_weights_model()
    assert steps(model) == [("FULLY_CONNECTED", "mg_fully_connected_f32")]
    graph, _ = compiler.load(model)
    folded = passes.run(graph)
    w = folded.tensor(folded.operators[0].inputs[1])
    np.testing.assert_array_equal(w.data, graph.tensor(1).data.T)
    check_against_tflm(model)


def test_everything_folded_leaves_no_steps():
    mb = ModelBuilder()
    x = mb.add_input("x", (2, 3, 5), "int8", scale=0.1, zero_point=0)
    s = add_op(mb, "SHAPE", [x], (3,), "int32", dict(out_type="int32"))
    mb.mark_output(s)
    model = mb.build()
    assert steps(model) == []
    check_against_tflm(model)


def test_folding_leaves_ops_it_cannot_evaluate():
    """An op with constant inputs but no evaluate() stays (ADD has none)."""
    mb = ModelBuilder()
    x = mb.add_input("x", (4,), "float32")
    c = add_op(mb, "ADD", [mb.add_const("a", np.ones(4, np.float32)), mb.add_const("b", np.ones(4, np.float32))],
               (4,), "float32", dict(fused_activation_function="NONE"))
    y = add_op(mb, "ADD", [x, c], (4,), "float32", dict(fused_activation_function="NONE"))
    mb.mark_output(y)
    model = mb.build()
    graph, _ = compiler.load(model)
    from mcugen.ops import add
    if hasattr(add, "evaluate"):
        pytest.skip("ADD learnt to evaluate; pick another op")
    assert [s[0] for s in steps(model)] == ["ADD", "ADD"]
    check_against_tflm(model)


# ---- identity RESHAPE / SQUEEZE / EXPAND_DIMS chains -----------------------------------------


def reshape_chain_model(last_quant=None, chain_is_output=False, kind="reshape"):
    q = dict(scale=0.1, zero_point=-3)
    mb = ModelBuilder()
    x = mb.add_input("x", (1, 3, 4), "int8", **q)
    if kind == "reshape":
        a = add_op(mb, "RESHAPE", [x, mb.add_const("s1", i32(12))], (12,), "int8", **q)
        b = add_op(mb, "RESHAPE", [a, mb.add_const("s2", i32(2, 6))], (2, 6), "int8", **q)
        c = add_op(mb, "RESHAPE", [b, mb.add_const("s3", i32(1, 3, 4))], (1, 3, 4), "int8", **(last_quant or q))
    else:
        a = add_op(mb, "SQUEEZE", [x], (3, 4), "int8", dict(squeeze_dims=[0]), **q)
        c = add_op(mb, "EXPAND_DIMS", [a, mb.add_const("axis", i32(0))], (1, 3, 4), "int8", **(last_quant or q))
    y = add_op(mb, "ADD", [c, c], (1, 3, 4), "int8", dict(fused_activation_function="NONE"), scale=0.2, zero_point=1)
    mb.mark_output(y)
    if chain_is_output:
        mb.mark_output(c)
    return mb.build()


@pytest.mark.parametrize("kind", ["reshape", "squeeze"])
def test_identity_chain_is_dropped(kind):
    model = reshape_chain_model(kind=kind)
    assert steps(model) == [("ADD", "mg_add_s8")]
    check_against_tflm(model)


def test_chain_ending_in_a_graph_output_is_kept():
    model = reshape_chain_model(chain_is_output=True)
    assert [s[0] for s in steps(model)] == ["RESHAPE", "RESHAPE", "RESHAPE", "ADD"]
    graph, _ = compiler.load(model)
    assert passes.run(graph).outputs == graph.outputs
    check_against_tflm(model)


def test_chain_that_changes_quantization_is_kept():
    """The last RESHAPE reinterprets the bytes with another scale: ADD must keep reading that."""
    model = reshape_chain_model(last_quant=dict(scale=0.3, zero_point=5))
    assert [s[0] for s in steps(model)] == ["RESHAPE", "RESHAPE", "RESHAPE", "ADD"]
    check_against_tflm(model)


def test_partial_chain_rewires_to_the_matching_tensor():
    """x (2, 6) -> (12,) -> (2, 6) -> (3, 4): every reader of the (2, 6) end reads x itself, so the
    last RESHAPE reshapes x directly and the first two go."""
    mb = ModelBuilder()
    x = mb.add_input("x", (2, 6), "float32")
    a = add_op(mb, "RESHAPE", [x, mb.add_const("s1", i32(12))], (12,), "float32")
    b = add_op(mb, "RESHAPE", [a, mb.add_const("s2", i32(2, 6))], (2, 6), "float32")
    c = add_op(mb, "RESHAPE", [b, mb.add_const("s3", i32(3, 4))], (3, 4), "float32")
    y1 = add_op(mb, "ADD", [b, b], (2, 6), "float32", dict(fused_activation_function="NONE"))
    y2 = add_op(mb, "ADD", [c, c], (3, 4), "float32", dict(fused_activation_function="NONE"))
    mb.mark_output(y1)
    mb.mark_output(y2)
    model = mb.build()
    graph, _ = compiler.load(model)
    cleaned = passes.run(graph)
    assert [op.opcode for op in cleaned.operators] == ["RESHAPE", "ADD", "ADD"]
    assert cleaned.operators[0].inputs[0] == x and cleaned.operators[0].outputs == [c]
    assert cleaned.operators[1].inputs == [x, x]
    check_against_tflm(model)


# ---- QUANTIZE no-ops -------------------------------------------------------------------------


def quantize_model(steps_quant, dtypes):
    """x (int8 scale 0.1 zp 3) -> QUANTIZE -> ... -> ADD(last, last)."""
    mb = ModelBuilder()
    t = mb.add_input("x", (4, 8), "int8", scale=0.1, zero_point=3)
    for (scale, zp), dtype in zip(steps_quant, dtypes):
        t = add_op(mb, "QUANTIZE", [t], (4, 8), dtype, scale=scale, zero_point=zp)
    y = add_op(mb, "ADD", [t, t], (4, 8), "int8", dict(fused_activation_function="NONE"), scale=0.25, zero_point=-2)
    mb.mark_output(y)
    return mb.build()


QUANTIZE_CASES = [  # (quantizations, dtypes, QUANTIZE ops left)
    ([(0.1, 3)], ["int8"], 0),  # same quantization: identity
    ([(0.1 / 128, 0), (0.1, 3)], ["int16", "int8"], 0),  # exact round trip through a finer int16
    ([(0.1, 1000), (0.1, 3)], ["int16", "int8"], 0),  # through int16 with the same scale
    ([(0.1 / 256, 0), (0.1, 3)], ["int16", "int8"], 2),  # int16 too fine: -128 clamps, kept
    ([(0.3, 0), (0.1, 3)], ["int8", "int8"], 2),  # coarser middle: lossy, kept
    ([(0.02, 0), (0.1, 3)], ["int8", "int8"], 2),  # finer but clamps: lossy, kept
    ([(0.1, 4)], ["int8"], 1),  # a real zero-point change
]


@pytest.mark.parametrize("quants,dtypes,left", QUANTIZE_CASES)
def test_noop_quantizes_are_dropped_and_lossy_ones_kept(quants, dtypes, left):
    model = quantize_model(quants, dtypes)
    assert [s[0] for s in steps(model)].count("QUANTIZE") == left
    check_against_tflm(model, sets=1)
    # The round trip is tried on every int8 value, not just random ones.
    values = np.arange(-128, 128, dtype=np.int8).reshape(8, 4, 8)
    expected = run_tflm_batch([(model, [[v] for v in values])], arena_size=TFLM_ARENA)[0]
    got = run_mcugen(model, [[v] for v in values])
    for g, w in zip(got, expected):
        np.testing.assert_array_equal(g[0], w[0])


# ---- dead ops and the graph's own tensors ----------------------------------------------------


def test_dead_ops_are_dropped():
    mb = ModelBuilder()
    x = mb.add_input("x", (2, 3), "float32")
    dead = add_op(mb, "TRANSPOSE", [x, mb.add_const("perm", i32(1, 0))], (3, 2), "float32")
    add_op(mb, "CAST", [dead], (3, 2), "int32")  # reads only a dead value: dead too
    y = add_op(mb, "ADD", [x, x], (2, 3), "float32", dict(fused_activation_function="NONE"))
    mb.mark_output(y)
    model = mb.build()
    assert [s[0] for s in steps(model)] == ["ADD"]
    check_against_tflm(model)


def test_passes_keep_io_indices_and_the_input_graph():
    model = shape_math_model()
    graph, _ = compiler.load(model)
    before = [(op.index, op.opcode, list(op.inputs), list(op.outputs)) for op in graph.operators]
    data_before = [t.data for t in graph.tensors]
    cleaned = passes.run(graph)
    assert [(op.index, op.opcode, op.inputs, op.outputs) for op in graph.operators] == before
    assert [t.data for t in graph.tensors] == data_before  # nothing was folded into the caller's graph
    assert cleaned.inputs == graph.inputs and cleaned.outputs == graph.outputs
    assert len(cleaned.tensors) == len(graph.tensors)
    assert [op.index for op in cleaned.operators] == [3, 4]  # RESHAPE and ADD keep their model indices
    assert cleaned.notes[-1] == ("3 op(s) need no code: computed at generation time or found to do nothing "
                                 "(op 0 SHAPE, op 1 STRIDED_SLICE, op 2 CONCATENATION)")
    again = passes.run(cleaned)  # idempotent
    assert [(op.index, op.inputs) for op in again.operators] == [(op.index, op.inputs) for op in cleaned.operators]
    assert again.notes == cleaned.notes


def test_unsupported_message_names_the_model_op_after_folding():
    """Folding removes ops before lowering; an error must still name the op's index in the file."""
    mb = ModelBuilder()
    x = mb.add_input("x", (2, 3), "float32")
    shape = add_op(mb, "SHAPE", [x], (2,), "int32", dict(out_type="int32"))
    mb.mark_output(shape)
    y = add_op(mb, "HARD_SWISH", [x], (2, 3), "float32")
    bad = add_op(mb, "NON_MAX_SUPPRESSION_V4", [y], (2, 3), "float32")
    mb.mark_output(bad)
    with pytest.raises(ValueError, match="op 2 NON_MAX_SUPPRESSION_V4"):
        mcugen.Interpreter(model_content=mb.build())
