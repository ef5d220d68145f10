"""SHAPE: always folded into a constant (no code); the copy kernel is the fallback without the passes.
Checked against TFLM (int32 output) and LiteRT (int64 output)."""
from __future__ import annotations

import numpy as np
import pytest
from op_harness import TFLM_ARENA, random_inputs, run_mcugen
from tflite_builder import ModelBuilder

from mcugen import compiler, passes
from mcugen.reference import run_litert, run_tflm_batch

SHAPES = [(7,), (2, 3), (1, 4, 4, 3), (2, 1, 3, 1, 2)]


def shape_model(out_type):
    """SHAPE of every input, plus an ADD so the model also computes something."""
    mb = ModelBuilder()
    for i, s in enumerate(SHAPES):
        x = mb.add_input(f"x{i}", s, "float32")
        y = mb.add_tensor(f"shape{i}", (len(s),), out_type)
        mb.add_op("SHAPE", [x], [y], dict(out_type=out_type))
        mb.mark_output(y)
    a = mb.add_input("a", (2, 2), "float32")
    s = mb.add_tensor("sum", (2, 2), "float32")
    mb.add_op("ADD", [a, a], [s], dict(fused_activation_function="NONE"))
    mb.mark_output(s)
    return mb.build()


def _sets(model):
    return random_inputs(model, np.random.default_rng(0), sets=1)


def _check(model, expected):
    got = run_mcugen(model, _sets(model))
    for g, w in zip(got[0], expected[0], strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-6)


@pytest.mark.parametrize("out_type", ["int32", "int64"])
def test_shape_is_folded_and_matches_reference(out_type):
    model = shape_model(out_type)
    graph, _ = compiler.load(model)
    program = compiler.compile_graph(graph)
    assert [s.opcode for s in program.steps] == ["ADD"]  # SHAPE became constants
    assert all(program.graph.tensor(t).is_constant for t in program.graph.outputs[:len(SHAPES)])
    sets = _sets(model)
    # TFLM's SHAPE writes only int32.
    expected = run_tflm_batch([(model, sets)], arena_size=TFLM_ARENA)[0] if out_type == "int32" else run_litert(model, sets)
    _check(model, expected)


def test_shape_without_the_passes_copies_the_constant(monkeypatch):
    monkeypatch.setattr(passes, "run", lambda graph: graph)
    model = shape_model("int32")
    graph, _ = compiler.load(model)
    assert [s.call.kernel for s in compiler.compile_graph(graph).steps].count("mg_strided_copy") == len(SHAPES)
    _check(model, run_tflm_batch([(model, _sets(model))], arena_size=TFLM_ARENA)[0])
