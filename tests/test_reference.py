"""The test builder and the reference oracles agree with each other and fail loudly."""
import numpy as np
import pytest
from conftest import random_input
from tflite_builder import ModelBuilder

from mcugen import reference

CONV_OPTIONS = {"padding": "SAME", "stride_w": 1, "stride_h": 1, "dilation_w_factor": 1,
                "dilation_h_factor": 1, "fused_activation_function": "RELU"}


def conv_per_channel_model(rng):
    mb = ModelBuilder()
    x = mb.add_input("x", (1, 8, 8, 3), "int8", scale=0.05, zero_point=-3)
    w_scale = np.array([0.01, 0.02, 0.015, 0.03], dtype=np.float32)
    w = mb.add_const("w", rng.integers(-127, 128, (4, 3, 3, 3)), "int8",
                     scale=w_scale, zero_point=0, axis=0)
    b = mb.add_const("b", rng.integers(-2000, 2000, 4), "int32", scale=0.05 * w_scale, zero_point=0)
    y = mb.add_tensor("y", (1, 8, 8, 4), "int8", scale=0.1, zero_point=5)
    mb.add_op("CONV_2D", [x, w, b], [y], CONV_OPTIONS)
    mb.mark_output(y)
    return mb.build()


def float_fc_model(rng):
    mb = ModelBuilder()
    x = mb.add_input("x", (1, 10), "float32", shape_signature=(-1, 10))
    w = mb.add_const("w", rng.standard_normal((5, 10)).astype(np.float32))
    b = mb.add_const("b", rng.standard_normal(5).astype(np.float32))
    y = mb.add_tensor("y", (1, 5), "float32")
    mb.add_op("FULLY_CONNECTED", [x, w, b], [y],
              {"fused_activation_function": "RELU6", "weights_format": "DEFAULT", "keep_num_dims": False})
    mb.mark_output(y)
    return mb.build()


def eight_ops_model(rng):
    """Every op of the first release in one int8 graph with two inputs and two outputs."""
    mb = ModelBuilder()
    x = mb.add_input("x", (1, 8, 8, 4), "int8", scale=0.05, zero_point=-3)
    x2 = mb.add_input("x2", (1, 8, 8, 4), "int8", scale=0.04, zero_point=2)
    s = mb.add_tensor("sum", (1, 8, 8, 4), "int8", scale=0.08, zero_point=0)
    mb.add_op("ADD", [x, x2], [s], {"fused_activation_function": "NONE"})
    dw_scale = np.array([0.02, 0.01, 0.03, 0.02], dtype=np.float32)
    dw = mb.add_const("dw", rng.integers(-127, 128, (1, 3, 3, 4)), "int8", scale=dw_scale, axis=3)
    dwb = mb.add_const("dwb", rng.integers(-500, 500, 4), "int32", scale=0.08 * dw_scale)
    d = mb.add_tensor("dw_out", (1, 4, 4, 4), "int8", scale=0.1, zero_point=-10)
    mb.add_op("DEPTHWISE_CONV_2D", [s, dw, dwb], [d],
              {"padding": "SAME", "stride_w": 2, "stride_h": 2, "depth_multiplier": 1,
               "dilation_w_factor": 1, "dilation_h_factor": 1, "fused_activation_function": "RELU6"})
    a = mb.add_tensor("avg", (1, 2, 2, 4), "int8", scale=0.1, zero_point=-10)
    mb.add_op("AVERAGE_POOL_2D", [d], [a], {"padding": "VALID", "stride_w": 2, "stride_h": 2,
                                            "filter_width": 2, "filter_height": 2})
    m = mb.add_tensor("max", (1, 1, 1, 4), "int8", scale=0.1, zero_point=-10)
    mb.add_op("MAX_POOL_2D", [a], [m], {"padding": "VALID", "stride_w": 2, "stride_h": 2,
                                        "filter_width": 2, "filter_height": 2})
    shape = mb.add_const("shape", np.array([1, 4], dtype=np.int32))
    r = mb.add_tensor("flat", (1, 4), "int8", scale=0.1, zero_point=-10)
    mb.add_op("RESHAPE", [m, shape], [r], {"new_shape": [1, 4]})
    fw = mb.add_const("fw", rng.integers(-127, 128, (3, 4)), "int8", scale=0.02)
    f = mb.add_tensor("logits", (1, 3), "int8", scale=0.05, zero_point=1)
    mb.add_op("FULLY_CONNECTED", [r, fw, -1], [f], {"fused_activation_function": "NONE"})
    p = mb.add_tensor("probs", (1, 3), "int8", scale=1 / 256, zero_point=-128)
    mb.add_op("SOFTMAX", [f], [p], {"beta": 1.0})
    mb.mark_output(p)
    mb.mark_output(d)
    return mb.build()


def test_conv_per_channel_tflm_equals_litert(rng):
    model = conv_per_channel_model(rng)
    input_sets = [[random_input((1, 8, 8, 3), np.int8, rng)] for _ in range(3)]
    tflm = reference.run_tflm(model, input_sets)
    litert = reference.run_litert(model, input_sets)
    assert len(tflm) == len(litert) == 3
    for t, l in zip(tflm, litert):
        assert t[0].dtype == np.int8 and t[0].shape == (1, 8, 8, 4)
        np.testing.assert_array_equal(t[0], l[0])
    assert len({o[0].tobytes() for o in tflm}) == 3  # different inputs, different outputs


def test_float_fully_connected_tflm_close_to_litert(rng):
    model = float_fc_model(rng)
    input_sets = [[random_input((1, 10), np.float32, rng)] for _ in range(2)]
    tflm = reference.run_tflm(model, input_sets)
    litert = reference.run_litert(model, input_sets)
    for t, l in zip(tflm, litert):
        np.testing.assert_allclose(t[0], l[0], rtol=1e-5, atol=1e-6)
        assert t[0].max() <= 6.0


def test_eight_ops_graph_runs_in_both_references(rng):
    model = eight_ops_model(rng)
    input_sets = [[random_input((1, 8, 8, 4), np.int8, rng), random_input((1, 8, 8, 4), np.int8, rng)]]
    tflm = reference.run_tflm(model, input_sets)
    litert = reference.run_litert(model, input_sets)
    assert [o.shape for o in tflm[0]] == [(1, 3), (1, 4, 4, 4)]
    # Per-tensor int8 FULLY_CONNECTED rounds differently in LiteRT (see DESIGN.md): allow 1.
    np.testing.assert_array_equal(tflm[0][1], litert[0][1])
    assert np.abs(tflm[0][0].astype(int) - litert[0][0]).max() <= 1


def test_hybrid_model_is_refused_with_tflm_message(models_dir):
    model = (models_dir / "tiny_kws_dscnn_fp32.tflite").read_bytes()
    with pytest.raises(reference.ReferenceError, match="Hybrid models are not supported"):
        reference.run_tflm(model, [[np.zeros((1, 49, 10, 1), np.float32)]])


def test_batch_survives_a_crashing_job(rng):
    model = conv_per_channel_model(rng)
    garbage = model[:100] + bytes(400)  # segfaults TFLM's flatbuffer reader
    inputs = [[np.zeros((1, 8, 8, 3), np.int8)]]
    results = reference.run_tflm_batch([(model, inputs), (garbage, inputs), (model, inputs)],
                                       errors="return")
    assert isinstance(results[1], reference.ReferenceError)
    np.testing.assert_array_equal(results[0][0][0], results[2][0][0])
    with pytest.raises(reference.ReferenceError, match="job 1"):
        reference.run_tflm_batch([(model, inputs), (garbage, inputs)])


def test_smallest_arena_is_tight(rng):
    model = conv_per_channel_model(rng)
    arena = reference.tflm_smallest_arena(model)
    assert arena % 16 == 0
    inputs = [[np.zeros((1, 8, 8, 3), np.int8)]]
    reference.run_tflm(model, inputs, arena_size=arena)
    with pytest.raises(reference.ReferenceError):
        reference.run_tflm(model, inputs, arena_size=arena - 16)
