"""SVDF: mcugen against TFLM over consecutive invokes (the state window slides) and after
reset_all_variables(). int8 identical (int16 and int8 state), float within 1e-5 relative.

The TFLite converter has no SVDF lowering from TensorFlow ops, so the models are built here, with the
quantization TFLM's kernel expects: int8 input and weights_feature, weights_time and state both int16
(or both int8, the state then asymmetric), int32 bias at state scale x weights_time scale.
"""
from __future__ import annotations

import numpy as np
import pytest
from op_harness import NAME, check_strict_c
from test_op_lstm import TFLM_ARENA, assert_matches, check_against_tflm, input_sequence, run_mcugen
from tflite_builder import ModelBuilder

import mcugen
from mcugen import codegen, compiler
from mcugen.reference import run_litert, run_tflm_batch

SEQUENCE = 6  # longer than every memory size below, so the window wraps around


def build_svdf(mb: ModelBuilder, rng, tag: str, batch: int, n_in: int, units: int, rank: int, memory: int, *,
               dtype: str, state_dtype="int16", activation="NONE", in_q=(0.04, 3), state_q=None, out_q=(1 / 16, -4),
               gain=1.0, bias=True, per_channel=False, weights_time_dtype=None):
    q = dtype == "int8"
    filters = units * rank
    x = mb.add_input(f"{tag}_x", (batch, n_in), dtype, **(dict(scale=in_q[0], zero_point=in_q[1]) if q else {}))
    if q:
        wt_dtype = weights_time_dtype or state_dtype
        wt_max = 32767 if wt_dtype == "int16" else 127
        if state_q is None:
            state_q = (2.0 ** -9, 0) if state_dtype == "int16" else (1 / 16, 0)
        wf_scale = gain / (127 * np.sqrt(n_in))
        wf_scale = np.array([wf_scale * (1 + 0.05 * k) for k in range(filters)]) if per_channel else wf_scale
        wf = mb.add_const(f"{tag}_wf", rng.integers(-127, 128, (filters, n_in)), "int8", scale=wf_scale, zero_point=0)
        wt_scale = 1.0 / (wt_max * np.sqrt(memory))
        wt = mb.add_const(f"{tag}_wt", rng.integers(-wt_max, wt_max + 1, (filters, memory)), wt_dtype,
                          scale=wt_scale, zero_point=0)
        bias_scale = float(np.float32(state_q[0]) * np.float32(wt_scale))
        b = mb.add_const(f"{tag}_b", np.round(rng.normal(0, 0.5, units) / bias_scale), "int32",
                         scale=bias_scale, zero_point=0) if bias else -1
        state = mb.add_tensor(f"{tag}_state", (batch, filters * memory), state_dtype, is_variable=True,
                              scale=state_q[0], zero_point=state_q[1])
        y = mb.add_tensor(f"{tag}_y", (batch, units), "int8", scale=out_q[0], zero_point=out_q[1])
    else:
        wf = mb.add_const(f"{tag}_wf", (gain * rng.normal(0, 1 / np.sqrt(n_in), (filters, n_in))).astype(np.float32))
        wt = mb.add_const(f"{tag}_wt", rng.normal(0, 1 / np.sqrt(memory), (filters, memory)).astype(np.float32))
        b = mb.add_const(f"{tag}_b", rng.normal(0, 0.5, units).astype(np.float32)) if bias else -1
        state = mb.add_tensor(f"{tag}_state", (batch, filters * memory), "float32", is_variable=True)
        y = mb.add_tensor(f"{tag}_y", (batch, units), "float32")
    mb.add_op("SVDF", [x, wf, wt, b, state], [y], dict(rank=rank, fused_activation_function=activation))
    mb.mark_output(y)
    return x, y


def single_svdf(seed: int, *args, **kwargs) -> bytes:
    mb = ModelBuilder()
    build_svdf(mb, np.random.default_rng(seed), "s", *args, **kwargs)
    return mb.build()


# (batch, input size, units, rank, memory, keyword options)
INT8_CASES = {
    "s16_basic": (1, 8, 4, 1, 5, {}),
    "s16_rank2_batch2": (2, 6, 3, 2, 3, dict(in_q=(0.05, -10), out_q=(0.1, 7))),
    "s16_saturating_state": (1, 10, 5, 1, 4, dict(gain=300.0, state_q=(2.0 ** -12, 0))),
    "s16_memory1": (2, 5, 4, 2, 1, {}),
    "s16_left_shift": (1, 4, 3, 1, 4, dict(in_q=(0.5, 0), state_q=(2.0 ** -14, 0), out_q=(1 / 128, 0))),
    "s8_basic": (1, 8, 4, 1, 5, dict(state_dtype="int8")),
    "s8_rank2_zero_point": (3, 6, 3, 2, 4, dict(state_dtype="int8", state_q=(1 / 16, 5))),
    "s8_wraps_after_zero_point": (1, 7, 4, 1, 3, dict(state_dtype="int8", state_q=(1 / 32, 100), gain=20.0)),
    "s8_activation_ignored": (2, 5, 6, 1, 2, dict(state_dtype="int8", activation="RELU", out_q=(1 / 32, 0))),
}
FLOAT_CASES = {
    "basic": (1, 8, 4, 1, 5, {}),
    "rank2_batch2_relu": (2, 6, 3, 2, 3, dict(activation="RELU")),
    "relu6": (1, 5, 4, 1, 4, dict(activation="RELU6", gain=4.0)),
    "relu_n1_to_1": (2, 4, 5, 1, 2, dict(activation="RELU_N1_TO_1")),
    "tanh": (1, 6, 3, 3, 3, dict(activation="TANH")),
    "memory1": (1, 5, 3, 1, 1, {}),
}
STATELESS = {"int8/s16_memory1", "float/memory1"}  # a window of one: nothing carries over


@pytest.fixture(scope="module")
def references():
    rng = np.random.default_rng(77)
    models = {}
    for seed, (name, (b, i, u, r, m, kw)) in enumerate(INT8_CASES.items()):
        models[f"int8/{name}"] = single_svdf(seed, b, i, u, r, m, dtype="int8", **kw)
    for seed, (name, (b, i, u, r, m, kw)) in enumerate(FLOAT_CASES.items()):
        models[f"float/{name}"] = single_svdf(100 + seed, b, i, u, r, m, dtype="float32", **kw)
    sequences = {k: input_sequence(m, rng, SEQUENCE) for k, m in models.items()}
    outputs = run_tflm_batch([(models[k], sequences[k] + sequences[k]) for k in models],
                             arena_size=TFLM_ARENA, stateful=True)
    return {k: (models[k], sequences[k], out) for k, out in zip(models, outputs)}


CASE_IDS = [f"int8/{n}" for n in INT8_CASES] + [f"float/{n}" for n in FLOAT_CASES]


@pytest.mark.parametrize("case", CASE_IDS)
def test_svdf_matches_tflm_over_invokes_and_after_reset(case, references):
    model, sequence, want = references[case]
    check_against_tflm(model, sequence, want, state_matters=case not in STATELESS)


def test_float_without_bias_matches_litert():
    """The bias is optional in the schema and in TFLM's float kernel, but TFLM's SVDF crashes
    (segfault in Prepare) when it is omitted, so LiteRT's reference kernels are the oracle here."""
    model = single_svdf(5, 2, 5, 4, 2, 3, dtype="float32", bias=False)
    sequence = input_sequence(model, np.random.default_rng(1), SEQUENCE)
    want = run_litert(model, sequence + sequence, stateful=True)
    carried, after_reset = run_mcugen(model, sequence)
    assert_matches(carried, want, "carried state:")
    assert_matches(after_reset, want[:SEQUENCE], "after reset:")
    assert not np.array_equal(want[0][0], want[SEQUENCE][0])


def _feature_values(model: bytes, sequence) -> np.ndarray:
    """Feature matmul results in units of the state scale, before saturation (an estimate in float)."""
    from mcugen.frontend.tflite import load_model

    graph = load_model(model)
    x, wf, _, _, state = (graph.tensor(t) for t in graph.operators[0].inputs)
    return np.array([(xs[0].astype(np.int64) - x.zero_point) @ wf.data.T.astype(np.int64)
                     * (x.scale * wf.scale / state.scale) for xs in sequence])


def test_cases_reach_the_corners_they_name(references):
    """The saturating case saturates the int16 state, the wrapping case pushes the int8 state past
    127 after its zero point, and the RELU case has negative outputs (TFLM ignores it on int8)."""
    model, sequence, _ = references["int8/s16_saturating_state"]
    assert np.abs(_feature_values(model, sequence)).max() > 32767
    model, sequence, _ = references["int8/s8_wraps_after_zero_point"]
    assert _feature_values(model, sequence).max() > 127 - 100
    _, _, want = references["int8/s8_activation_ignored"]
    assert min(int(o[0].min()) for o in want) < 0


# ---- what is refused ------------------------------------------------------------------------------

def _unsupported(model: bytes, match: str):
    with pytest.raises(ValueError, match=match):
        mcugen.Interpreter(model_content=model)


def test_unsupported_variants_are_refused():
    _unsupported(single_svdf(1, 1, 4, 3, 1, 2, dtype="int8", bias=False), "needs a bias")
    _unsupported(single_svdf(1, 1, 4, 3, 1, 2, dtype="int8", weights_time_dtype="int8"), "state dtype")
    _unsupported(single_svdf(1, 1, 4, 3, 1, 2, dtype="int8", per_channel=True), "per-channel")
    mb = ModelBuilder()
    rng = np.random.default_rng(1)
    x, y = build_svdf(mb, rng, "s", 1, 4, 3, 1, 2, dtype="float32")
    mb.ops[0].options["rank"] = 2  # 3 filters, rank 2
    _unsupported(mb.build(), "not a multiple of rank")


# ---- the generated C under strict flags and sanitizers ---------------------------------------------

def test_svdf_c_is_strict_and_sanitizer_clean(tmp_path):
    """int16-state, int8-state and float SVDF in one model: gcc and clang strict builds, an ASan+UBSan
    run of two invokes, identical to mcugen.Interpreter's first two invokes."""
    rng = np.random.default_rng(4)
    mb = ModelBuilder()
    build_svdf(mb, rng, "a", 2, 6, 3, 2, 4, dtype="int8", gain=50.0)
    build_svdf(mb, rng, "b", 1, 5, 4, 1, 3, dtype="int8", state_dtype="int8", state_q=(1 / 32, 100), gain=20.0)
    build_svdf(mb, rng, "c", 2, 4, 3, 2, 3, dtype="float32", activation="TANH")
    model = mb.build()
    graph, digest = compiler.load(model)
    files = codegen.render(compiler.compile_graph(graph, digest), NAME, "svdf")
    inputs = input_sequence(model, rng, 1)[0]
    rounds = check_strict_c(tmp_path, graph, files, inputs, lambda: run_mcugen(model, [inputs])[0],
                            sanitizer_cc="gcc", timeout=120)
    assert any(not np.array_equal(a, b) for a, b in zip(rounds[0], rounds[1]))  # the window slid
