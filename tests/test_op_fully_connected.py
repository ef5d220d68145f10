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
