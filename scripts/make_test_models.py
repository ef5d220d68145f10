"""Make the project's own small test models with the real TensorFlow Lite converter.

    python -m venv ../tfvenv && ../tfvenv/bin/pip install tensorflow-cpu==2.20.0 "tf-keras~=2.20.0"
    ../tfvenv/bin/python scripts/make_test_models.py [--out tests/models]

Needs TensorFlow (2.20) and tf_keras (Keras 2), in a separate venv: TensorFlow pins packages that
the reference interpreters used by the tests may not accept. Keras 3's LSTM layer converts to a WHILE loop over
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

Models for tests/test_converter_models.py (each under 60 KB, own seed; variants: _float, _int8 with
int8 in and out, _int8_floatio with float in and out around int8 ops, _int16x8 with int16
activations and int8 weights; the ops listed are what TF 2.20's converter emits):
    conv_dilated        CONV_2D (dilation 2, SAME), DEPTHWISE_CONV_2D (multiplier 2, dilation 2), PAD,
                        TRANSPOSE_CONV (stride 2), MEAN, FULLY_CONNECTED, SOFTMAX
    broadcast           three inputs; ADD, SUB, MUL, MAXIMUM, MINIMUM broadcasting, RESHAPE,
                        CONCATENATION, SUM (two axes; keep_dims)
    shapes              FULLY_CONNECTED, RESHAPE, TRANSPOSE, STRIDED_SLICE (negative stride), SLICE,
                        SPLIT, SPLIT_V, PACK, UNPACK, GATHER, CONCATENATION, MUL, ADD, SUB; int8 also
                        has requantizing (int8 -> int8) QUANTIZE ops
    activations         LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU, PRELU, HARD_SWISH, SOFTMAX
    resize              CONV_2D, RESIZE_NEAREST_NEIGHBOR (x2, 9x7 half-pixel), RESIZE_BILINEAR
                        (half-pixel x2x3 and 7x9, align_corners 7x7)
    attention           FULLY_CONNECTED (3-D), BATCH_MATMUL (adj_y, and plain), MUL, SOFTMAX,
                        L2_NORMALIZATION, ARG_MAX (int32 output)
    mobilenet_block     int8 and int8_floatio (QUANTIZE/DEQUANTIZE at the ends): CONV_2D,
                        DEPTHWISE_CONV_2D (stride 2), residual ADD, AVERAGE_POOL_2D, MEAN,
                        FULLY_CONNECTED, SOFTMAX
    autoencoder         CONV_2D, FULLY_CONNECTED, ELU (float island in int8), RESHAPE,
                        TRANSPOSE_CONV, LOGISTIC
    audio_conv1d        open batch (shape signature -1): EXPAND_DIMS, CONV_2D, RESHAPE, MAX_POOL_2D,
                        MEAN, FULLY_CONNECTED, SOFTMAX; also _int16x8
    int16_ops           int16x8 only: QUANTIZE (int16 requantize), TANH, LOGISTIC, MUL, MINIMUM,
                        MAXIMUM, RESIZE_NEAREST_NEIGHBOR
    open_batch          float only, open batch: SPACE_TO_BATCH_ND, CONV_2D, BATCH_TO_SPACE_ND, and a
                        run-time shape computation (SHAPE, GATHER, REDUCE_PROD, PACK) for a RESHAPE
The converter never emits SQUEEZE here: tf.squeeze becomes RESHAPE (so does tf.expand_dims with a
fixed batch).
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
OP_MAX_BYTES = 60_000


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


# ---- models for tests/test_converter_models.py ------------------------------------------------
# Small Keras models that make the converter emit many different ops. Each has its own seed (not
# its position in a table, so that adding a model never changes another one's bytes).


def _randomize_params(model: keras.Model, seed: int) -> None:
    """Keras starts biases, batch-norm statistics and PReLU slopes at constants; randomize them so
    that every folded or fused parameter matters."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape).astype(np.float32),
                               rng.normal(0.0, 0.3, beta.shape).astype(np.float32),
                               rng.normal(0.0, 0.3, mean.shape).astype(np.float32),
                               rng.uniform(0.5, 2.0, var.shape).astype(np.float32)])
        elif isinstance(layer, keras.layers.PReLU):
            (alpha,) = layer.get_weights()
            layer.set_weights([rng.uniform(-0.5, 0.8, alpha.shape).astype(np.float32)])
        elif isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Dense,
                                keras.layers.DepthwiseConv2D, keras.layers.Conv2DTranspose)):
            weights = layer.get_weights()
            if len(weights) == 2:  # kernel, bias
                weights[1] = rng.normal(0.0, 0.2, weights[1].shape).astype(np.float32)
                layer.set_weights(weights)


def _conv_dilated() -> keras.Model:
    inp = keras.Input(shape=(12, 12, 3), batch_size=1)
    x = keras.layers.Conv2D(8, 3, dilation_rate=2, padding="same", activation="relu")(inp)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, dilation_rate=2)(x)
    x = keras.layers.ZeroPadding2D(((1, 0), (2, 1)))(x)
    x = keras.layers.Conv2DTranspose(6, 3, strides=2, padding="same")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(5, activation="softmax")(x)
    return keras.Model(inp, out)


def _broadcast() -> keras.Model:
    a = keras.Input(shape=(4, 5, 3), batch_size=1, name="in_a")
    b = keras.Input(shape=(1, 5, 1), batch_size=1, name="in_b")
    c = keras.Input(shape=(3,), batch_size=1, name="in_c")
    c4 = tf.reshape(c, (1, 1, 1, 3))
    s = a + b  # ADD, broadcasting over rows and channels
    d = a - c4  # SUB, broadcasting over rows and columns
    m = a * b  # MUL
    hi = tf.maximum(a, c4)
    lo = tf.minimum(b, tf.constant([-0.5, 0.0, 0.5], tf.float32))  # against a constant
    cat = tf.concat([s, d, m, hi, lo + a], axis=-1)
    total = tf.reduce_sum(cat, axis=[1, 2])  # SUM over two axes
    rows = tf.reduce_sum(a * 0.5, axis=-1, keepdims=True)
    return keras.Model([a, b, c], [total, rows])


def _shapes() -> keras.Model:
    inp = keras.Input(shape=(6, 8), batch_size=1)
    x = keras.layers.Dense(8)(inp)  # so that the data movement below is not on a graph input
    r = keras.layers.Reshape((8, 6))(x)
    t = keras.layers.Permute((2, 1))(x)  # TRANSPOSE
    rt = r * t
    s1 = x[:, 1:5:2, ::-1]  # STRIDED_SLICE with a negative stride
    s2 = tf.slice(x, [0, 1, 2], [1, 2, 4])
    halves = tf.split(x, 2, axis=2)
    parts = tf.split(x, [2, 3, 3], axis=2)  # SPLIT_V
    # Not the SPLIT outputs themselves: in int8 each would get a requantizing QUANTIZE before the
    # PACK, and the converter orders those two differently from run to run.
    packed = tf.stack([halves[1] * 1.5, halves[0] + 0.25], axis=1)
    rows = tf.unstack(x, axis=1)
    g = tf.gather(x, [3, 0, 2, 2], axis=2)
    e = tf.expand_dims(parts[1], axis=2)
    q = tf.squeeze(e, axis=2)
    # Every UNPACK output used: with some unused, the converter's int8 pass sometimes leaves the
    # UNPACK in float and sometimes not (run to run).
    mixed = tf.stack([rows[1] * rows[2], rows[3] - rows[4]], axis=1)
    out1 = tf.concat([s1, s2 * 2.0, mixed], axis=2)
    out2 = packed + tf.expand_dims(tf.stack([rows[5], rows[0]], axis=1)[:, :, :4], 2)
    out3 = tf.concat([g, q, parts[0] - parts[2][:, :, :2]], axis=2)
    return keras.Model(inp, [rt, out1, out2, out3])


def _activations() -> keras.Model:
    inp = keras.Input(shape=(4, 16), batch_size=1)
    # PReLU on its own tensor: on the input its relu(x) would merge with the plain ReLU's and the
    # converter would no longer see the PRELU pattern.
    dense = keras.layers.Dense(16)(inp)
    outs = [
        keras.layers.Activation("sigmoid")(inp),
        keras.layers.Activation("tanh")(inp),
        keras.layers.ReLU()(inp),
        keras.layers.ReLU(6.0)(inp),
        keras.layers.LeakyReLU(alpha=0.2)(inp),
        keras.layers.PReLU(shared_axes=[1])(dense),
        inp * tf.nn.relu6(inp + 3.0) * (1.0 / 6.0),  # the converter's HARD_SWISH pattern
        keras.layers.Softmax()(inp),
    ]
    return keras.Model(inp, outs)


def _resize() -> keras.Model:
    inp = keras.Input(shape=(4, 5, 3), batch_size=1)
    x = keras.layers.Conv2D(4, 1)(inp)
    near = keras.layers.UpSampling2D(2)(x)
    bil = keras.layers.UpSampling2D((2, 3), interpolation="bilinear")(x)
    odd = tf.image.resize(x, (7, 9))  # bilinear, half-pixel centers
    nodd = tf.image.resize(x, (9, 7), method="nearest")
    aligned = tf.compat.v1.image.resize_bilinear(x, (7, 7), align_corners=True)
    return keras.Model(inp, [near, bil, odd, nodd, aligned])


def _attention() -> keras.Model:
    inp = keras.Input(shape=(6, 8), batch_size=1)
    q = keras.layers.Dense(8)(inp)
    k = keras.layers.Dense(8)(inp)
    v = keras.layers.Dense(8)(inp)
    scores = tf.matmul(q, k, transpose_b=True) * (1.0 / np.sqrt(8.0))  # BATCH_MATMUL of activations
    weights = keras.layers.Softmax()(scores)
    ctx = tf.matmul(weights, v)
    norm = tf.math.l2_normalize(ctx, axis=-1)  # L2_NORMALIZATION
    best = tf.argmax(ctx, axis=-1, output_type=tf.int32)  # ARG_MAX
    return keras.Model(inp, [norm, best])


def _mobilenet_block() -> keras.Model:
    inp = keras.Input(shape=(16, 16, 3), batch_size=1)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU(6.0)(x)
    y = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    y = keras.layers.BatchNormalization()(y)
    y = keras.layers.ReLU(6.0)(y)
    y = keras.layers.Conv2D(8, 1, use_bias=False)(y)
    y = keras.layers.BatchNormalization()(y)
    x = keras.layers.Add()([x, y])  # inverted-residual shortcut
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same")(x)
    x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.Conv2D(16, 1, activation="relu")(x)
    x = keras.layers.AveragePooling2D(2)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(4, activation="softmax")(x)
    return keras.Model(inp, out)


def _autoencoder() -> keras.Model:
    inp = keras.Input(shape=(16, 16, 1), batch_size=1)
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")(inp)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(16)(x)
    x = keras.layers.ELU()(x)  # not in the activations model: LiteRT's reference kernels lack ELU
    x = keras.layers.Dense(4 * 4 * 8, activation="relu")(x)
    x = keras.layers.Reshape((4, 4, 8))(x)
    x = keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv2DTranspose(1, 3, strides=2, padding="same")(x)
    out = keras.layers.Activation("sigmoid")(x)
    return keras.Model(inp, out)


def _audio_conv1d() -> keras.Model:
    # Batch left open, as in most users' models: shape_signature -1, and Conv1D's EXPAND_DIMS stays.
    inp = keras.Input(shape=(49, 10))
    x = keras.layers.Conv1D(8, 5, strides=2, activation="relu")(inp)
    x = keras.layers.MaxPooling1D(2)(x)
    x = keras.layers.Conv1D(12, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    out = keras.layers.Dense(4, activation="softmax")(x)
    return keras.Model(inp, out)


def _open_batch() -> keras.Model:
    """Two patterns of open-batch models that batch 1 avoids: a dilated Conv1D becomes
    SPACE_TO_BATCH_ND -> CONV_2D -> BATCH_TO_SPACE_ND, and a Dense on a 3-D tensor becomes a
    run-time shape computation (SHAPE, GATHER, REDUCE_PROD, PACK) feeding a RESHAPE whose
    shape signature is [-1, -1]."""
    inp = keras.Input(shape=(20, 4))
    x = keras.layers.Conv1D(6, 3, dilation_rate=2, padding="same", activation="relu")(inp)
    out = keras.layers.Dense(3)(x)
    return keras.Model(inp, out)


def _int16_ops() -> keras.Model:
    """Ops that have int16 kernels in TFLM, for a 16x8 model."""
    inp = keras.Input(shape=(4, 6, 2), batch_size=1)
    a = keras.layers.Activation("tanh")(inp)
    s = keras.layers.Activation("sigmoid")(inp)
    m = tf.maximum(a * s, tf.minimum(inp, 0.5))
    out = keras.layers.UpSampling2D(2)(m)
    return keras.Model(inp, out)


# name -> (builder, seed, variants). Variants: "float" (float32), "int8" (int8 in and out),
# "int8_floatio" (int8 inside, float32 in and out: QUANTIZE/DEQUANTIZE), "int16x8" (int16
# activations, int8 weights, int16 in and out).
OP_MODELS = {
    "conv_dilated": (_conv_dilated, 11, ("float", "int8")),
    "broadcast": (_broadcast, 12, ("float", "int8")),
    "shapes": (_shapes, 13, ("float", "int8")),
    "activations": (_activations, 14, ("float", "int8")),
    "resize": (_resize, 15, ("float", "int8")),
    "attention": (_attention, 16, ("float", "int8")),
    "mobilenet_block": (_mobilenet_block, 17, ("int8", "int8_floatio")),
    "autoencoder": (_autoencoder, 18, ("float", "int8")),
    "audio_conv1d": (_audio_conv1d, 19, ("float", "int8", "int16x8")),
    "int16_ops": (_int16_ops, 20, ("int16x8",)),
    "open_batch": (_open_batch, 21, ("float",)),
}


def _convert_variant(model: keras.Model, variant: str, seed: int) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if variant != "float":
        rng = np.random.default_rng(seed)
        # Keyed by input name: the converted model does not keep Keras' input order.
        shapes = {name: tuple(d or 1 for d in t.shape) for name, t in zip(model.input_names, model.inputs)}

        def representative():
            for _ in range(64):
                yield {name: rng.normal(0.0, 1.0, s).astype(np.float32) for name, s in shapes.items()}

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        if variant == "int16x8":
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
            converter.inference_input_type = tf.int16
            converter.inference_output_type = tf.int16
        else:
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if variant == "int8":
                converter.inference_input_type = tf.int8
                converter.inference_output_type = tf.int8
    return converter.convert()


def _write(out: Path, name: str, data: bytes, budget: int) -> None:
    if len(data) > budget:
        raise SystemExit(f"{name}: {len(data)} bytes, over the {budget} byte budget")
    path = out / f"{name}.tflite"
    path.write_bytes(data)
    print(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}: {len(data)} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "tests" / "models"))
    parser.add_argument("--only", nargs="*", help="model names (without variant) to make; default all")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for seed, (name, (build, shape)) in enumerate(sorted(MODELS.items()), start=1):
        if args.only is not None and name not in args.only:
            continue
        model = build(seed)
        _randomize_biases(model, seed)
        for int8 in (False, True):
            data = _convert(model, int8, shape, seed)
            _write(out, f"{name}_{'int8' if int8 else 'float'}", data, MAX_BYTES)
    for name, (build, seed, variants) in OP_MODELS.items():
        if args.only is not None and name not in args.only:
            continue
        # A fresh session: layer names (which end up in the file) and initializer streams must not
        # depend on which models were built before this one.
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        model = build()
        _randomize_params(model, seed)
        for variant in variants:
            _write(out, f"{name}_{variant}", _convert_variant(model, variant, seed), OP_MAX_BYTES)


if __name__ == "__main__":
    main()
