"""UNIDIRECTIONAL_SEQUENCE_LSTM: mcugen against TFLM over consecutive invokes (state carried) and
after reset_all_variables(). int8 identical, float within 1e-5 relative.

Models: the converter's own (tests/models/lstm_*.tflite, made by scripts/make_test_models.py) and a
sweep of single-op models built here with the quantization the converter uses (per-tensor symmetric
int8 weights, int32 biases at input x weight scale, int16 cell state with a power-of-two scale).
"""
from __future__ import annotations

import subprocess

import numpy as np
import pytest
from conftest import TESTS_DIR
from op_harness import NAME, check_strict_c
from tflite_builder import ModelBuilder

import mcugen
from mcugen import codegen, compiler
from mcugen.quant import sigmoid_table_q16 as sigmoid_table
from mcugen.reference import run_litert, run_tflm_batch
from mcugen.resources import runtime_dir

TFLM_ARENA = 1 << 20
MODELS = TESTS_DIR / "models"
CONVERTER_MODELS = ["lstm_float", "lstm_int8", "lstm_stack_float", "lstm_stack_int8",
                    "lstm_time_major_float", "lstm_time_major_int8"]
SEQUENCE = 4  # input sets per sequence; each test runs the sequence twice, then once after a reset


# ---- building single-op models ----------------------------------------------------------------

def build_lstm(mb: ModelBuilder, rng, tag: str, batch: int, time: int, n_in: int, units: int, *, dtype: str,
               time_major=False, cell_clip=0.0, activation="TANH", in_q=(0.03, 5), hidden_q=(1 / 128, 0),
               cell_scale=2.0 ** -11, gain=1.0, omit=(), extra=None, per_channel=False):
    """Add one LSTM op with its own input, states and output; returns (input index, output index)."""
    q = dtype == "int8"
    in_shape = (time, batch, n_in) if time_major else (batch, time, n_in)
    out_shape = in_shape[:2] + (units,)
    x = mb.add_input(f"{tag}_x", in_shape, dtype, **(dict(scale=in_q[0], zero_point=in_q[1]) if q else {}))
    inputs = [x]
    for kind, cols, in_scale in (("input", n_in, in_q[0]), ("recurrent", units, hidden_q[0])):
        for gate in ("i", "f", "c", "o"):
            if q:
                # Scale so that a typical dot product reaches a few units before the nonlinearity.
                w_scale = gain * 3.0 / (127 * in_scale * 40 * np.sqrt(cols))
                w_scale = np.array([w_scale * (1 + 0.1 * k) for k in range(units)]) if per_channel else w_scale
                inputs.append(mb.add_const(f"{tag}_{kind}_{gate}", rng.integers(-127, 128, (units, cols)), "int8",
                                           scale=w_scale, zero_point=0))
            else:
                inputs.append(mb.add_const(f"{tag}_{kind}_{gate}",
                                           (gain * rng.normal(0, 0.6 / np.sqrt(cols), (units, cols))).astype(np.float32)))
    inputs += [-1, -1, -1]  # no peephole
    for k, gate in enumerate(("i", "f", "c", "o")):
        if q:
            w_scale = float(np.atleast_1d(mb.tensors[inputs[1 + k]].scale)[0])
            bias_scale = in_q[0] * w_scale
            inputs.append(mb.add_const(f"{tag}_bias_{gate}", np.round(rng.normal(0, 0.8, units) / bias_scale),
                                       "int32", scale=bias_scale, zero_point=0))
        else:
            inputs.append(mb.add_const(f"{tag}_bias_{gate}", rng.normal(0, 0.8, units).astype(np.float32)))
    inputs += [-1, -1]  # no projection
    h = mb.add_tensor(f"{tag}_h", (batch, units), dtype, is_variable=True,
                      **(dict(scale=hidden_q[0], zero_point=hidden_q[1]) if q else {}))
    c = mb.add_tensor(f"{tag}_c", (batch, units), "int16" if q else dtype, is_variable=True,
                      **(dict(scale=cell_scale, zero_point=0) if q else {}))
    inputs += [h, c, -1, -1, -1, -1]  # no layer norm
    for i in omit:
        inputs[i] = -1
    for i, t in (extra or {}).items():
        inputs[i] = t
    y = mb.add_tensor(f"{tag}_y", out_shape, dtype, **(dict(scale=hidden_q[0], zero_point=hidden_q[1]) if q else {}))
    mb.add_op("UNIDIRECTIONAL_SEQUENCE_LSTM", inputs, [y],
              dict(fused_activation_function=activation, cell_clip=cell_clip, proj_clip=0.0, time_major=time_major))
    mb.mark_output(y)
    return x, y


def single_lstm(seed: int, *args, **kwargs) -> bytes:
    mb = ModelBuilder()
    build_lstm(mb, np.random.default_rng(seed), "l", *args, **kwargs)
    return mb.build()


# (batch, time, input size, units, keyword options)
INT8_CASES = {
    "basic": (1, 5, 4, 6, {}),
    "batch2_clip10": (2, 4, 3, 5, dict(in_q=(0.05, -20), hidden_q=(0.008, -7), cell_scale=2.0 ** -14, cell_clip=10.0)),
    "time_major_clip_active": (3, 3, 6, 4, dict(time_major=True, in_q=(0.02, 0), hidden_q=(0.01, 3),
                                                cell_scale=2.0 ** -15, cell_clip=0.5)),
    "hidden_zero_point_min": (2, 3, 5, 4, dict(hidden_q=(1 / 256, -128))),
    "saturating_gates": (1, 6, 5, 8, dict(gain=12.0, in_q=(0.1, 10), cell_scale=2.0 ** -12)),
    "cell_scale_not_power_of_two": (2, 4, 4, 3, dict(cell_scale=1.0e-4, hidden_q=(0.0071, 12))),
    "coarse_cell_scale": (1, 5, 3, 4, dict(gain=4.0, cell_scale=2.0 ** -9)),
    "clip_below_cell_scale": (1, 3, 2, 3, dict(cell_clip=1e-5)),  # quantized clip 0: the cell stays 0
    "one_unit": (1, 4, 1, 1, dict(in_q=(0.2, -1))),
}
FLOAT_CASES = {
    "basic": (1, 5, 4, 6, {}),
    "batch2_clip3": (2, 4, 3, 5, dict(cell_clip=3.0, gain=3.0)),
    "time_major_clip": (3, 3, 6, 4, dict(time_major=True, cell_clip=0.5)),
    "batch2": (2, 3, 2, 3, {}),
    "large_gates": (1, 6, 5, 7, dict(gain=10.0)),  # sigmoid cut-offs and saturated tanh
    "one_unit": (1, 4, 1, 1, {}),
}


# ---- running --------------------------------------------------------------------------------------

def input_sequence(model: bytes, rng, length: int = SEQUENCE):
    it = mcugen.Interpreter(model_content=model)
    sets = []
    for k in range(length):
        xs = []
        for d in it.get_input_details():
            shape, dtype = tuple(d["shape"]), d["dtype"]
            if dtype == np.float32:
                xs.append((1.5 * rng.standard_normal(shape)).astype(np.float32))
            elif k % 2 == 0:  # values the representative data would produce ...
                scale, zp = d["quantization"]
                xs.append(np.clip(np.round(rng.standard_normal(shape) / scale) + zp, -128, 127).astype(dtype))
            else:  # ... and the whole int8 range
                xs.append(rng.integers(-128, 128, shape, dtype=np.int8))
        sets.append(xs)
    return sets


def run_mcugen(model: bytes, sequence):
    """Outputs for the sequence run twice in a row, then once more after reset_all_variables()."""
    it = mcugen.Interpreter(model_content=model)
    it.allocate_tensors()
    ins, outs = it.get_input_details(), it.get_output_details()

    def run(sets):
        results = []
        for xs in sets:
            for d, x in zip(ins, xs):
                it.set_tensor(d["index"], x)
            it.invoke()
            results.append([it.get_tensor(d["index"]).copy() for d in outs])
        return results

    carried = run(sequence + sequence)
    it.reset_all_variables()
    return carried, run(sequence)


def assert_matches(got, want, what=""):
    for k, (got_set, want_set) in enumerate(zip(got, want, strict=True)):
        for j, (g, w) in enumerate(zip(got_set, want_set, strict=True)):
            msg = f"{what} invoke {k} output {j}"
            assert g.dtype == w.dtype and g.shape == w.shape, msg
            if w.dtype == np.float32:
                np.testing.assert_allclose(g, w, rtol=0, atol=1e-5 * max(float(np.abs(w).max()), 1e-30), err_msg=msg)
            else:
                np.testing.assert_array_equal(g, w, err_msg=msg)


def check_against_tflm(model: bytes, sequence, want, state_matters=True):
    """want: TFLM's outputs for sequence + sequence run as one stateful sequence."""
    n = len(sequence)
    # The state must matter, or neither persistence nor reset would be tested.
    stateful = any(not np.array_equal(a, b) for a, b in zip(want[0], want[n]))
    assert stateful == state_matters, "state has no effect on the outputs" if state_matters else "state matters"
    carried, after_reset = run_mcugen(model, sequence)
    assert_matches(carried, want, "carried state:")
    assert_matches(after_reset, want[:n], "after reset:")


@pytest.fixture(scope="module")
def references():
    """All models and TFLM's outputs, computed in one TFLM worker."""
    rng = np.random.default_rng(2024)
    models = {}
    for name in CONVERTER_MODELS:
        models[f"converter/{name}"] = (MODELS / f"{name}.tflite").read_bytes()
    for seed, (name, (b, t, i, u, kw)) in enumerate(INT8_CASES.items()):
        models[f"int8/{name}"] = single_lstm(seed, b, t, i, u, dtype="int8", **kw)
    for seed, (name, (b, t, i, u, kw)) in enumerate(FLOAT_CASES.items()):
        models[f"float/{name}"] = single_lstm(100 + seed, b, t, i, u, dtype="float32", **kw)
    sequences = {k: input_sequence(m, rng) for k, m in models.items()}
    outputs = run_tflm_batch([(models[k], sequences[k] + sequences[k]) for k in models],
                             arena_size=TFLM_ARENA, stateful=True)
    return {k: (models[k], sequences[k], out) for k, out in zip(models, outputs)}


CASE_IDS = ([f"converter/{n}" for n in CONVERTER_MODELS] + [f"int8/{n}" for n in INT8_CASES]
            + [f"float/{n}" for n in FLOAT_CASES])


@pytest.mark.parametrize("case", CASE_IDS)
def test_lstm_matches_tflm_over_invokes_and_after_reset(case, references):
    model, sequence, want = references[case]
    check_against_tflm(model, sequence, want, state_matters=case != "int8/clip_below_cell_scale")


def test_twenty_input_form_matches_litert():
    """Older converters wrote 20 inputs (no layer-norm slots). TFLM insists on 24, so LiteRT's
    reference kernels are the oracle for this form; float only, as LiteRT's integer LSTM is not TFLM's
    (it differs by 1 on a few outputs of the converter's int8 models)."""
    mb = ModelBuilder()
    build_lstm(mb, np.random.default_rng(3), "l", 2, 4, 3, 5, dtype="float32", cell_clip=2.0)
    mb.ops[0].inputs = mb.ops[0].inputs[:20]
    model = mb.build()
    sequence = input_sequence(model, np.random.default_rng(1), 3)
    want = run_litert(model, sequence + sequence, stateful=True)
    carried, after_reset = run_mcugen(model, sequence)
    assert_matches(carried, want, "carried state:")
    assert_matches(after_reset, want[:3], "after reset:")


def test_converter_models_are_what_the_tests_assume():
    """The committed models hold the fused op with the converter's int8 layout (intermediates included)."""
    import tflite

    from mcugen.frontend.tflite import load_model

    for name in CONVERTER_MODELS:
        data = (MODELS / f"{name}.tflite").read_bytes()
        assert len(data) < 50_000
        graph = load_model(data)
        lstms = [op for op in graph.operators if op.opcode == "UNIDIRECTIONAL_SEQUENCE_LSTM"]
        assert lstms, name
        for op in lstms:
            cell = graph.tensor(op.inputs[19])
            assert graph.tensor(op.inputs[18]).is_variable and cell.is_variable
            if name.endswith("int8"):
                assert cell.dtype == "int16" and graph.tensor(op.inputs[0]).dtype == "int8"
        if name.endswith("int8"):
            sub = tflite.Model.GetRootAs(data, 0).Subgraphs(0)
            assert any(sub.Operators(i).IntermediatesLength() == 5 for i in range(sub.OperatorsLength()))


def test_sigmoid_table_shape():
    """The int16 nonlinearities' table: sigmoid(i/24) in 0.16, monotone, ending saturated (its exact
    values are checked against TFLM by the every-input test below)."""
    t = sigmoid_table().astype(np.int64)
    assert t.shape == (256,) and t[0] == 32768 and t[-1] == 65535
    assert np.all(np.diff(t) >= 0)
    x = np.arange(256) / 24
    assert np.max(np.abs(t - 65536 / (1 + np.exp(-x)))) < 1.6


def test_int16_sigmoid_and_tanh_match_tflm_for_every_input(tmp_path):
    """The kernel's int16 sigmoid and tanh (with the table and the cell-state rescaling mcugen
    computes) against TFLM's int16 LOGISTIC and TANH ops, which use the same reference functions, on
    all 65536 inputs: input scale 2^-12 for the gates, and the cell scales 2^p for tanh(cell)."""
    from mcugen.ops.lstm import _tanh_rescale

    powers = [-9, -11, -12, -14, -15]
    everything = np.arange(-32768, 32768, dtype=np.int16)
    mb = ModelBuilder()
    for name, power in [("LOGISTIC", -12)] + [("TANH", p) for p in powers]:
        x = mb.add_input(f"x_{name}_{-power}", everything.shape, "int16", scale=2.0 ** power, zero_point=0)
        y = mb.add_tensor(f"y_{name}_{-power}", everything.shape, "int16", scale=2.0 ** -15, zero_point=0)
        mb.add_op(name, [x], [y])
        mb.mark_output(y)
    model = mb.build()
    want = run_tflm_batch([(model, [[everything] * (1 + len(powers))])], arena_size=TFLM_ARENA)[0][0]

    table = ", ".join(str(v) for v in sigmoid_table())
    calls = ["    for (x = -32768; x < 32768; ++x) printf(\"%d\\n\", (int)mg_lstm_sigmoid_s16(x, table));"]
    for power in powers:
        m, sh = _tanh_rescale(power)
        calls.append(f"    for (x = -32768; x < 32768; ++x) printf(\"%d\\n\", (int)mg_lstm_tanh_s16(x, {m}, {sh}, table));")
    harness = "\n".join([
        "#include <stdio.h>", '#include "mg_lstm.c"  /* the static functions themselves */',
        f"static const uint16_t table[256] = {{{table}}};", "int main(void) {", "    int32_t x;", *calls,
        "    return 0;", "}", ""])
    runtime = runtime_dir()
    (tmp_path / "harness.c").write_text(harness)
    exe = tmp_path / "harness"
    subprocess.run(["gcc", "-std=c99", "-O1", "-I", str(runtime), "-o", str(exe), str(tmp_path / "harness.c"), "-lm"],
                   check=True)
    got = np.array(subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split(), np.int64)
    got = got.reshape(1 + len(powers), everything.size)
    for k, (name, w) in enumerate(zip(["sigmoid"] + [f"tanh 2^{p}" for p in powers], want)):
        np.testing.assert_array_equal(got[k], w.astype(np.int64), err_msg=name)


# ---- what is refused ------------------------------------------------------------------------------

def _unsupported(model: bytes, match: str):
    with pytest.raises(ValueError, match=match):
        mcugen.Interpreter(model_content=model)


def test_variants_tflm_does_not_run_are_refused():
    rng = np.random.default_rng(5)
    _unsupported(single_lstm(1, 1, 3, 2, 3, dtype="int8", omit=(1, 5, 12)), "CIFG")
    _unsupported(single_lstm(1, 1, 3, 2, 3, dtype="int8", activation="RELU"), "cell activation RELU")
    _unsupported(single_lstm(1, 1, 3, 2, 3, dtype="int8", per_channel=True), "per-channel")

    def with_extra(position, shape, what):
        mb = ModelBuilder()
        t = mb.add_const("extra", rng.normal(0, 1, shape).astype(np.float32))
        build_lstm(mb, rng, "l", 1, 3, 2, 3, dtype="float32", extra={position: t})
        _unsupported(mb.build(), what)

    with_extra(9, (3,), "peephole")
    with_extra(16, (3, 3), "projection")
    with_extra(20, (3,), "layer normalization")


def test_hybrid_weights_are_refused():
    """int8 weights with float activations: TFLM refuses it; so does mcugen, with a reason."""
    mb = ModelBuilder()
    rng = np.random.default_rng(3)
    w = mb.add_const("w_int8", rng.integers(-127, 128, (3, 2)), "int8", scale=0.01, zero_point=0)
    build_lstm(mb, rng, "l", 1, 3, 2, 3, dtype="float32", extra={2: w})
    _unsupported(mb.build(), "dtype int8")


# ---- the generated C under strict flags and sanitizers ---------------------------------------------

def test_lstm_c_is_strict_and_sanitizer_clean(tmp_path):
    """An int8 and a float LSTM in one model: gcc and clang strict builds, an ASan+UBSan run of two
    invokes (state carried), identical to mcugen.Interpreter's first two invokes."""
    rng = np.random.default_rng(9)
    mb = ModelBuilder()
    build_lstm(mb, rng, "a", 2, 3, 4, 5, dtype="int8", cell_clip=1.0, hidden_q=(0.01, -3), gain=6.0)
    build_lstm(mb, rng, "b", 3, 2, 3, 4, dtype="float32", time_major=True, cell_clip=2.0)
    model = mb.build()
    graph, digest = compiler.load(model)
    files = codegen.render(compiler.compile_graph(graph, digest), NAME, "lstm")
    inputs = input_sequence(model, rng, 1)[0]
    rounds = check_strict_c(tmp_path, graph, files, inputs, lambda: run_mcugen(model, [inputs])[0], timeout=120)
    assert any(not np.array_equal(a, b) for a, b in zip(rounds[0], rounds[1]))  # the state was carried
