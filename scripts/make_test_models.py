"""Make the project's own small test models with the real TensorFlow Lite converter.

    /work/tfvenv/bin/python scripts/make_test_models.py [--out tests/models]

Needs TensorFlow (2.20) and tf_keras (Keras 2). Keras 3's LSTM layer converts to a WHILE loop over
several subgraphs; only Keras 2's LSTM carries the annotation that makes the converter emit the
fused UNIDIRECTIONAL_SEQUENCE_LSTM op, which is what real microcontroller models contain.

Models (each well under 50 KB; weights are random but seeded, biases randomized so that every gate
bias matters; int8 models are fully quantized with a representative data set, int8 in and out):
    lstm_float.tflite, lstm_int8.tflite            LSTM(7) over 8 steps of 5 features, batch 1
    lstm_stack_float.tflite, lstm_stack_int8.tflite LSTM(8) -> LSTM(6) -> Dense(3), batch 2
    lstm_time_major_float.tflite, lstm_time_major_int8.tflite
                                                   time-major LSTM(4), 6 steps, batch 3

The converter has no SVDF lowering from TensorFlow ops, so SVDF test models are built with
tests/tflite_builder.py in tests/test_op_svdf.py instead.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MAX_BYTES = 50_000


def _randomize_biases(model: keras.Model, seed: int) -> None:
    """Keras initializes LSTM biases to 0 (1 for the forget gate); give every gate its own values."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.LSTM):
            kernel, recurrent, bias = layer.get_weights()
            bias = (bias + rng.normal(0.0, 0.5, bias.shape)).astype(np.float32)
            layer.set_weights([kernel, recurrent, bias])


def _convert(model: keras.Model, int8: bool, input_shape, seed: int) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        rng = np.random.default_rng(seed)

        def representative():
            for _ in range(64):
                yield [rng.normal(0.0, 1.0, input_shape).astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


def _lstm(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape=(8, 5), batch_size=1)
    out = keras.layers.LSTM(7, return_sequences=True)(inp)
    return keras.Model(inp, out)


def _lstm_stack(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape=(6, 5), batch_size=2)
    x = keras.layers.LSTM(8, return_sequences=True)(inp)
    x = keras.layers.LSTM(6, return_sequences=True)(x)
    out = keras.layers.Dense(3)(x)
    return keras.Model(inp, out)


def _lstm_time_major(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape=(3, 5), batch_size=6)  # time-major: (time 6, batch 3, features 5)
    out = keras.layers.LSTM(4, return_sequences=True, time_major=True)(inp)
    return keras.Model(inp, out)


MODELS = {
    "lstm": (_lstm, (1, 8, 5)),
    "lstm_stack": (_lstm_stack, (2, 6, 5)),
    "lstm_time_major": (_lstm_time_major, (6, 3, 5)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "tests" / "models"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for seed, (name, (build, shape)) in enumerate(sorted(MODELS.items()), start=1):
        model = build(seed)
        _randomize_biases(model, seed)
        for int8 in (False, True):
            data = _convert(model, int8, shape, seed)
            if len(data) > MAX_BYTES:
                raise SystemExit(f"{name}: {len(data)} bytes, over the {MAX_BYTES} byte budget")
            path = out / f"{name}_{'int8' if int8 else 'float'}.tflite"
            path.write_bytes(data)
            print(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}: {len(data)} bytes")


if __name__ == "__main__":
    main()
