"""mcugen.Interpreter is a drop-in for tf.lite.Interpreter: same calls, same dict keys, same error kinds."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import MODELS_DIR, shared_model
from tflite_builder import ModelBuilder

import mcugen
from mcugen import reference

HELLO_FLOAT = "tflm_hello_world_float"
HELLO_INT8 = "tflm_hello_world_int8"


def model_path(name: str) -> str:
    shared_model(name)  # skips when the shared folder is absent
    return str(MODELS_DIR / f"{name}.tflite")


def litert_interpreter(**kwargs):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(**kwargs)


def per_channel_fc_model() -> bytes:
    """int8 FC with per-channel weights and an input with a dynamic batch."""
    rng = np.random.default_rng(3)
    mb = ModelBuilder()
    x = mb.add_input("x", (1, 12), "int8", scale=0.05, zero_point=-3, shape_signature=(-1, 12))
    w_scale = rng.uniform(0.005, 0.02, 6).astype(np.float32)
    w = mb.add_const("w", rng.integers(-127, 128, (6, 12)), "int8", scale=w_scale, zero_point=0, axis=0)
    b = mb.add_const("b", rng.integers(-500, 500, 6), "int32", scale=0.05 * w_scale, zero_point=0)
    y = mb.add_tensor("y", (1, 6), "int8", scale=0.1, zero_point=4)
    mb.add_op("FULLY_CONNECTED", [x, w, b], [y], {"fused_activation_function": "NONE"})
    mb.mark_output(y)
    return mb.build()


def test_tensorflow_inference_guide_example():
    """TensorFlow's Python inference example with only the Interpreter class swapped."""
    np.random.seed(7)
    interpreter = mcugen.Interpreter(model_path=model_path(HELLO_FLOAT))
    interpreter.allocate_tensors()

    input_details = interpreter.get_input_details()
    output_details = interpreter.get_output_details()

    input_shape = input_details[0]['shape']
    input_data = np.array(np.random.random_sample(input_shape), dtype=np.float32)
    interpreter.set_tensor(input_details[0]['index'], input_data)

    interpreter.invoke()

    output_data = interpreter.get_tensor(output_details[0]['index'])

    (expected,), = reference.run_tflm(shared_model(HELLO_FLOAT), [[input_data]])
    assert output_data.shape == expected.shape == (1, 1)
    assert output_data.dtype == np.float32
    np.testing.assert_allclose(output_data, expected, rtol=1e-5, atol=0)


def test_model_content_same_as_model_path():
    x = np.array([[1.25]], np.float32)
    results = []
    for kwargs in (dict(model_path=model_path(HELLO_FLOAT)), dict(model_content=shared_model(HELLO_FLOAT))):
        it = mcugen.Interpreter(**kwargs)
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        results.append(it.get_tensor(it.get_output_details()[0]["index"]))
    (expected,), = reference.run_tflm(shared_model(HELLO_FLOAT), [[x]])
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_allclose(results[0], expected, rtol=1e-5, atol=0)


def test_exactly_one_model_source():
    with pytest.raises(ValueError):
        mcugen.Interpreter()
    with pytest.raises(ValueError):
        mcugen.Interpreter(model_path=model_path(HELLO_INT8), model_content=shared_model(HELLO_INT8))


def test_bad_model_is_a_value_error():
    with pytest.raises(ValueError, match="TFL3"):
        mcugen.Interpreter(model_content=b"definitely not a model")
    with pytest.raises(ValueError, match="no such file"):
        mcugen.Interpreter(model_path=str(MODELS_DIR / "no_such_model.tflite"))


def _assert_details_equal(ours: dict, theirs: dict):
    assert list(ours) == list(theirs)  # same keys in the same order
    assert list(ours["quantization_parameters"]) == list(theirs["quantization_parameters"])
    for key in ("name", "index", "dtype", "quantization", "sparsity_parameters"):
        assert ours[key] == theirs[key], key
    for key in ("shape", "shape_signature"):
        assert ours[key].dtype == theirs[key].dtype, key
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
    for key, value in theirs["quantization_parameters"].items():
        mine = ours["quantization_parameters"][key]
        if isinstance(value, np.ndarray):
            assert mine.dtype == value.dtype, key
            np.testing.assert_array_equal(mine, value, err_msg=key)
        else:
            assert mine == value, key


@pytest.mark.parametrize("source", [HELLO_INT8, HELLO_FLOAT, "per_channel_fc"])
def test_details_match_litert(source):
    content = per_channel_fc_model() if source == "per_channel_fc" else shared_model(source)
    ours = mcugen.Interpreter(model_content=content)
    theirs = litert_interpreter(model_content=content)
    for method in ("get_input_details", "get_output_details"):
        mine, ref = getattr(ours, method)(), getattr(theirs, method)()
        assert len(mine) == len(ref)
        for a, b in zip(mine, ref):
            _assert_details_equal(a, b)
    # Every tensor LiteRT reports, mcugen reports the same way.
    by_index = {d["index"]: d for d in ours.get_tensor_details()}
    for ref in theirs.get_tensor_details():
        _assert_details_equal(by_index[ref["index"]], ref)


def test_calls_before_allocate_tensors():
    it = mcugen.Interpreter(model_content=shared_model(HELLO_INT8))
    index = it.get_input_details()[0]["index"]
    out = it.get_output_details()[0]["index"]
    with pytest.raises(ValueError, match="allocate_tensors"):
        it.set_tensor(index, np.zeros((1, 1), np.int8))
    with pytest.raises(ValueError, match="allocate_tensors"):
        it.get_tensor(out)
    with pytest.raises(ValueError, match="allocate_tensors"):
        it.tensor(index)()
    with pytest.raises(RuntimeError):
        it.invoke()


@pytest.mark.parametrize("index", [-1, 10, 999])
def test_bad_tensor_index(index):
    it = mcugen.Interpreter(model_content=shared_model(HELLO_INT8))  # 10 tensors
    it.allocate_tensors()
    message = f"Invalid tensor index {index} exceeds max tensor index 10"
    with pytest.raises(ValueError, match=message):
        it.set_tensor(index, np.zeros((1, 1), np.int8))
    with pytest.raises(ValueError, match=message):
        it.get_tensor(index)
    with pytest.raises(ValueError):
        it.tensor(index)()  # LiteRT raises on the call, mcugen already when asked


def _litert_error(content: bytes, value) -> str:
    it = litert_interpreter(model_content=content)
    it.allocate_tensors()
    with pytest.raises(ValueError) as e:
        it.set_tensor(it.get_input_details()[0]["index"], value)
    return str(e.value)


@pytest.mark.parametrize("value", [
    np.zeros((1, 1), np.float32),  # wrong dtype
    np.zeros((1, 1), np.int32),
    [[3]],  # a list becomes int64
    np.zeros((1, 2), np.int8),  # wrong dimension
    np.zeros((2, 1), np.int8),
    np.zeros((1,), np.int8),  # wrong rank
    np.zeros((1, 1, 1), np.int8),
], ids=["float32", "int32", "list", "dim1", "dim0", "rank1", "rank3"])
def test_set_tensor_errors_match_litert(value):
    content = shared_model(HELLO_INT8)
    it = mcugen.Interpreter(model_content=content)
    it.allocate_tensors()
    with pytest.raises(ValueError) as e:
        it.set_tensor(it.get_input_details()[0]["index"], value)
    assert str(e.value) == _litert_error(content, value)


def test_two_interpreters_of_one_model_are_independent():
    content = shared_model(HELLO_FLOAT)
    a = mcugen.Interpreter(model_content=content)
    b = mcugen.Interpreter(model_content=content)
    a.allocate_tensors()
    b.allocate_tensors()
    ia, oa = a.get_input_details()[0]["index"], a.get_output_details()[0]["index"]
    ib, ob = b.get_input_details()[0]["index"], b.get_output_details()[0]["index"]
    xa, xb = np.array([[0.5]], np.float32), np.array([[2.5]], np.float32)
    a.set_tensor(ia, xa)
    b.set_tensor(ib, xb)
    np.testing.assert_array_equal(a.get_tensor(ia), xa)  # b's input is not a's
    a.invoke()
    ya = a.get_tensor(oa)
    b.invoke()  # must not touch a's arena
    yb = b.get_tensor(ob)
    np.testing.assert_array_equal(a.get_tensor(oa), ya)
    (ra,), (rb,) = reference.run_tflm(content, [[xa], [xb]])
    np.testing.assert_allclose(ya, ra, rtol=1e-5, atol=0)
    np.testing.assert_allclose(yb, rb, rtol=1e-5, atol=0)
    assert not np.array_equal(ya, yb)


def test_tensor_view_is_live():
    content = shared_model(HELLO_INT8)
    it = mcugen.Interpreter(model_content=content)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    input_view, output_view = it.tensor(inp), it.tensor(out)
    xs = [np.array([[v]], np.int8) for v in (-128, -20, 100)]
    seen = []
    for x in xs:
        input_view()[...] = x  # write through the view, as LiteRT allows
        np.testing.assert_array_equal(it.get_tensor(inp), x)
        it.invoke()
        seen.append(output_view().copy())
        np.testing.assert_array_equal(output_view(), it.get_tensor(out))
    expected = reference.run_tflm(content, [[x] for x in xs])
    for got, (ref,) in zip(seen, expected):
        np.testing.assert_array_equal(got, ref)


def test_get_tensor_returns_a_copy():
    it = mcugen.Interpreter(model_content=shared_model(HELLO_INT8))
    it.allocate_tensors()
    inp = it.get_input_details()[0]["index"]
    it.set_tensor(inp, np.array([[5]], np.int8))
    copy = it.get_tensor(inp)
    copy[...] = 9
    assert it.get_tensor(inp)[0, 0] == 5


def test_per_channel_int8_matches_tflm(rng):
    content = per_channel_fc_model()
    it = mcugen.Interpreter(model_content=content)
    it.allocate_tensors()
    xs = [rng.integers(-128, 128, (1, 12)).astype(np.int8) for _ in range(5)]
    ours = []
    for x in xs:
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        ours.append(it.get_tensor(it.get_output_details()[0]["index"]))
    for got, (ref,) in zip(ours, reference.run_tflm(content, [[x] for x in xs])):
        np.testing.assert_array_equal(got, ref)
