"""FULLY_CONNECTED: single-op models, mcugen against TFLM (int8 identical, float32 within 1e-5)."""
from __future__ import annotations

import numpy as np
import pytest
from tflite_builder import ModelBuilder

import mcugen
from mcugen.reference import run_tflm_batch
from mcugen.verify import compare

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
# (input shape, out_features, activation, per_channel, with_bias)
CASES = [
    ((1, 16), 8, "NONE", False, True),
    ((1, 16), 8, "RELU", True, True),
    ((3, 20), 5, "RELU6", False, True),          # batches
    ((3, 20), 5, "RELU_N1_TO_1", True, False),   # no bias
    ((1, 2, 3, 8), 7, "NONE", True, True),       # rank-4 input flattened to [1, 48]
    ((1, 257), 33, "RELU", False, True),         # odd sizes: vector tails
    ((2, 1, 12), 4, "NONE", False, True),        # 3-D input: batches from the leading dims
]


def build(in_shape, out_features, activation, per_channel, with_bias, dtype, rng) -> bytes:
    in_features = in_shape[-1] if len(in_shape) < 4 else int(np.prod(in_shape[1:]))
    batches = int(np.prod(in_shape)) // in_features
    mb = ModelBuilder()
    if dtype == "int8":
        x_scale, y_scale = 0.05, float(0.05 * 0.02 * np.sqrt(in_features) * 60)
        if activation == "RELU_N1_TO_1":  # keep outputs mostly inside [-1, 1]
            x_scale, y_scale = 0.002, 1 / 64
        w_scale = rng.uniform(0.01, 0.03, out_features).astype(np.float32) if per_channel else np.float32(0.02)
        x = mb.add_input("x", in_shape, "int8", scale=x_scale, zero_point=int(rng.integers(-20, 20)))
        w = mb.add_const("w", rng.integers(-127, 128, (out_features, in_features)).astype(np.int8), "int8",
                         scale=w_scale, zero_point=0, axis=0)
        b = (mb.add_const("b", rng.integers(-3000, 3000, out_features).astype(np.int32), "int32",
                          scale=(x_scale * np.atleast_1d(w_scale)).astype(np.float32), zero_point=0)
             if with_bias else -1)
        y = mb.add_tensor("y", (batches, out_features), "int8", scale=y_scale, zero_point=int(rng.integers(-10, 10)))
    else:
        x = mb.add_input("x", in_shape, "float32")
        w = mb.add_const("w", rng.standard_normal((out_features, in_features)).astype(np.float32))
        b = mb.add_const("b", rng.standard_normal(out_features).astype(np.float32)) if with_bias else -1
        y = mb.add_tensor("y", (batches, out_features), "float32")
    mb.add_op("FULLY_CONNECTED", [x, w, b], [y], {"fused_activation_function": activation})
    mb.mark_output(y)
    return mb.build()


def inputs_for(model: bytes, rng, n=3):
    it = mcugen.Interpreter(model_content=model)
    d = it.get_input_details()[0]
    if d["dtype"] == np.int8:
        return [[rng.integers(-128, 128, d["shape"]).astype(np.int8)] for _ in range(n)]
    return [[rng.standard_normal(d["shape"]).astype(np.float32)] for _ in range(n)]


@pytest.fixture(scope="module")
def results():
    rng = np.random.default_rng(5)
    jobs = []
    for case in CASES:
        for dtype in ("int8", "float32"):
            model = build(*case, dtype, rng)
            jobs.append((model, inputs_for(model, rng)))
    return jobs, run_tflm_batch(jobs, arena_size=1 << 20)


@pytest.mark.parametrize("k", range(len(CASES) * 2))
def test_matches_tflm(k, results):
    jobs, expected = results
    model, sets = jobs[k]
    it = mcugen.Interpreter(model_content=model)
    it.allocate_tensors()
    for xs, ref in zip(sets, expected[k]):
        it.set_tensor(it.get_input_details()[0]["index"], xs[0])
        it.invoke()
        out = it.get_tensor(it.get_output_details()[0]["index"])
        bad, max_diff, ok = compare(out, ref[0])
        assert ok, f"case {CASES[k // 2]} {['int8', 'float32'][k % 2]}: {bad} mismatches, max diff {max_diff}"
        if out.dtype == np.int8:
            assert len(np.unique(out)) > 2, "outputs saturated: the case tests nothing"


# ---- int16 activations with int8 weights (16x8) ---------------------------------------------------
# TFLM accumulates in the bias type: int64 (exact, its int64 requantization) or int32 (wrapping,
# two-step requantization); without a bias the option quantized_bias_type picks int32.
# (input shape, out_features, activation, per_channel, bias kind, input zero point, output zero point)
INT16_CASES = [
    ((1, 16), 8, "NONE", False, "int64", 0, 0),
    ((3, 20), 5, "RELU", True, "int64", 0, 0),
    ((1, 2, 3, 8), 7, "RELU6", True, "int32", 0, 0),
    ((2, 33), 6, "RELU_N1_TO_1", False, "int32", 0, 0),
    ((2, 1, 12), 4, "NONE", True, "none", 0, 0),
    ((1, 24), 9, "NONE", False, "none-int32", 0, 0),
    ((2, 257), 11, "NONE", True, "int64", 0, 0),      # one past an int32 partial-sum chunk
    ((1, 513), 3, "RELU", False, "int32", 0, 0),
    ((2, 40), 6, "NONE", True, "int64", 300, -45),    # TFLM keeps FC zero points for int16
    ((2, 40), 6, "RELU", False, "int32", -1000, 123),
    ((1, 700), 4, "NONE", True, "int32", 0, 0),       # same-sign extremes wrap the int32 sum
    ((1, 700), 4, "NONE", True, "int64", 0, 0),       # and not the int64 one
]


def _add_int16_fc(mb, rng, k, case):
    in_shape, out_features, act, per_channel, bias, x_zp, y_zp = case
    in_features = in_shape[-1] if len(in_shape) < 4 else int(np.prod(in_shape[1:]))
    batches = int(np.prod(in_shape)) // in_features
    x_scale = 1 / 3000
    acc_std = 18918 * 73 * np.sqrt(in_features)
    spread = {"RELU6": 3.0, "RELU_N1_TO_1": 0.7}.get(act, 1.0)
    w_scale = (rng.uniform(0.5, 1.0, out_features if per_channel else 1) * spread / (x_scale * acc_std)).astype(np.float32)
    x = mb.add_input(f"x{k}", in_shape, "int16", scale=x_scale, zero_point=x_zp)
    weights = np.full((out_features, in_features), 127) if in_features == 700 else rng.integers(-127, 128, (out_features, in_features))
    w = mb.add_const(f"w{k}", weights, "int8", scale=w_scale, zero_point=0, axis=0)
    opts = {"fused_activation_function": act}
    b = -1
    if bias in ("int64", "int32"):
        b = mb.add_const(f"b{k}", rng.integers(-2 * int(acc_std), 2 * int(acc_std), out_features), bias,
                         scale=(x_scale * np.broadcast_to(w_scale, (out_features,))).astype(np.float32), zero_point=0)
    elif bias == "none-int32":
        opts["quantized_bias_type"] = "int32"
    out_scale = spread / 8000 * (40 if in_features == 700 else 1)
    y = mb.add_tensor(f"y{k}", (batches, out_features), "int16", scale=out_scale, zero_point=y_zp)
    mb.add_op("FULLY_CONNECTED", [x, w, b], [y], opts)
    mb.mark_output(y)


@pytest.fixture(scope="module")
def int16_results():
    """All int16 cases side by side in one model (one C build): model, input sets, TFLM outputs."""
    rng = np.random.default_rng(16)
    mb = ModelBuilder()
    for k, case in enumerate(INT16_CASES):
        _add_int16_fc(mb, rng, k, case)
    model = mb.build()
    shapes = [case[0] for case in INT16_CASES]
    sets = [[rng.integers(-32768, 32768, s, dtype=np.int16) for s in shapes],
            [rng.integers(-300, 301, s, dtype=np.int16) for s in shapes],
            [np.where(rng.random(s) < 0.9, 32767, rng.integers(-32768, 32768, s)).astype(np.int16) for s in shapes]]
    (expected,) = run_tflm_batch([(model, sets)], arena_size=1 << 20)
    return model, sets, expected


def test_int16_matches_tflm(int16_results):
    model, sets, expected = int16_results
    it = mcugen.Interpreter(model_content=model)
    it.allocate_tensors()
    for xs, want in zip(sets, expected):
        for d, x in zip(it.get_input_details(), xs):
            it.set_tensor(d["index"], x)
        it.invoke()
        for k, d in enumerate(it.get_output_details()):
            got = it.get_tensor(d["index"])
            assert got.dtype == np.int16 and got.shape == want[k].shape
            mismatches = int((got != want[k]).sum())
            assert mismatches == 0, f"case {INT16_CASES[k]}: {mismatches} mismatches"


def test_int16_cases_are_meaningful(int16_results):
    """Outputs spread over many int16 values, and the wrap-around case really differs from int64."""
    _, _, expected = int16_results
    for k, case in enumerate(INT16_CASES):
        assert max(len(np.unique(outs[k])) for outs in expected) > min(16, expected[0][k].size // 3), case
    wraps, exact = len(INT16_CASES) - 2, len(INT16_CASES) - 1
    assert not np.array_equal(expected[2][wraps], expected[2][exact])


def test_int8_per_tensor_multiplier_is_the_double_product():
    """Per-tensor scales for which input scale * weight scale rounded to float32 gives another
    multiplier than the double product; (x1, x2) . (127, 1) takes every value in [-16384, 16383],
    and TFLM's outputs match the double product only."""
    x1, x2 = np.meshgrid(np.arange(-128, 128), np.arange(-128, 128), indexing="ij")
    pairs = np.stack([x1.ravel(), x2.ravel()], 1).astype(np.int8)
    jobs = []
    for x_scale, w_scale, y_scale in [(0.051652856, 0.017485123, 0.10208565), (0.05965131, 0.045294218, 0.32700422)]:
        mb = ModelBuilder()
        x = mb.add_input("x", (65536, 2), "int8", scale=x_scale, zero_point=0)
        w = mb.add_const("w", np.array([[127, 1]], np.int8), "int8", scale=w_scale, zero_point=0)
        y = mb.add_tensor("y", (65536, 1), "int8", scale=y_scale, zero_point=0)
        mb.add_op("FULLY_CONNECTED", [x, w, -1], [y], {"fused_activation_function": "NONE"})
        mb.mark_output(y)
        jobs.append((mb.build(), [[pairs]]))
    for (model, sets), expected in zip(jobs, run_tflm_batch(jobs, arena_size=1 << 22)):
        it = mcugen.Interpreter(model_content=model)
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], sets[0][0])
        it.invoke()
        np.testing.assert_array_equal(it.get_tensor(it.get_output_details()[0]["index"]), expected[0][0])


def test_int16_weights_are_refused():
    mb = ModelBuilder()
    x = mb.add_input("x", (1, 4), "int16", scale=0.001, zero_point=0)
    w = mb.add_const("w", np.ones((2, 4), np.int16), "int16", scale=0.01, zero_point=0)
    y = mb.add_tensor("y", (1, 2), "int16", scale=0.01, zero_point=0)
    mb.add_op("FULLY_CONNECTED", [x, w, -1], [y], {"fused_activation_function": "NONE"})
    mb.mark_output(y)
    with pytest.raises(ValueError, match="int8 weights"):
        mcugen.Interpreter(model_content=mb.build())
