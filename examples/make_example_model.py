"""Builds examples/kws_micro_int8.tflite, the bundled example: a tiny keyword-spotting-shaped int8 CNN.

The weights are seeded random numbers (the model is for showing the tool, not for spotting words);
the layout is what the TFLite converter emits for such a network. Run from the repo root:
    python examples/make_example_model.py
"""
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from tflite_builder import ModelBuilder  # noqa: E402


def conv_layer(mb, rng, x, x_scale, shape_in, out_c, kernel, stride, depthwise=False, name="conv"):
    """Adds a (depthwise) conv with per-channel int8 weights and RELU; returns (tensor, scale, shape)."""
    h, w, c = shape_in
    kh, kw = kernel
    out_h, out_w = -(-h // stride), -(-w // stride)  # SAME padding
    if depthwise:
        out_c = c
        weights = rng.integers(-127, 128, (1, kh, kw, c)).astype(np.int8)
        fan_in = kh * kw
    else:
        weights = rng.integers(-127, 128, (out_c, kh, kw, c)).astype(np.int8)
        fan_in = kh * kw * c
    w_scale = rng.uniform(0.002, 0.004, out_c).astype(np.float32)
    bias = rng.integers(-2000, 2000, out_c).astype(np.int32)
    # Output scale from the expected spread of the accumulator, so activations use the int8 range.
    y_scale = float(np.sqrt(fan_in) * 40 * x_scale * 74 * float(w_scale.mean()) / 64)
    wt = mb.add_const(f"{name}/weights", weights, "int8", scale=w_scale, zero_point=0, axis=3 if depthwise else 0)
    bt = mb.add_const(f"{name}/bias", bias, "int32", scale=(x_scale * w_scale).astype(np.float32), zero_point=0)
    y = mb.add_tensor(f"{name}/relu", (1, out_h, out_w, out_c), "int8", scale=y_scale, zero_point=-128)
    opts = {"padding": "SAME", "stride_w": stride, "stride_h": stride, "dilation_w_factor": 1,
            "dilation_h_factor": 1, "fused_activation_function": "RELU"}
    if depthwise:
        opts["depth_multiplier"] = 1
    mb.add_op("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", [x, wt, bt], [y], opts)
    return y, y_scale, (out_h, out_w, out_c)


def build() -> bytes:
    rng = np.random.default_rng(2026)
    mb = ModelBuilder(description="mcugen example: tiny KWS-shaped int8 CNN")
    x_scale = 0.5
    x = mb.add_input("mfcc", (1, 49, 10, 1), "int8", scale=x_scale, zero_point=0)
    y, s, shape = conv_layer(mb, rng, x, x_scale, (49, 10, 1), 16, (5, 3), 2, name="conv1")
    y, s, shape = conv_layer(mb, rng, y, s, shape, 0, (3, 3), 1, depthwise=True, name="dw1")
    y, s, shape = conv_layer(mb, rng, y, s, shape, 24, (1, 1), 1, name="pw1")
    y, s, shape = conv_layer(mb, rng, y, s, shape, 0, (3, 3), 1, depthwise=True, name="dw2")
    y, s, shape = conv_layer(mb, rng, y, s, shape, 24, (1, 1), 1, name="pw2")
    pooled = mb.add_tensor("pool", (1, 1, 1, shape[2]), "int8", scale=s, zero_point=-128)
    mb.add_op("AVERAGE_POOL_2D", [y], [pooled], {"padding": "VALID", "stride_w": shape[1], "stride_h": shape[0],
                                                 "filter_width": shape[1], "filter_height": shape[0],
                                                 "fused_activation_function": "NONE"})
    flat = mb.add_tensor("flatten", (1, shape[2]), "int8", scale=s, zero_point=-128)
    new_shape = mb.add_const("flatten/shape", np.array([1, shape[2]], np.int32), "int32")
    mb.add_op("RESHAPE", [pooled, new_shape], [flat], {"new_shape": [1, shape[2]]})
    classes = 4
    w_scale = 0.004
    fc_w = mb.add_const("dense/weights", rng.integers(-127, 128, (classes, shape[2])).astype(np.int8), "int8",
                        scale=w_scale, zero_point=0)
    fc_b = mb.add_const("dense/bias", rng.integers(-500, 500, classes).astype(np.int32), "int32",
                        scale=s * w_scale, zero_point=0)
    logits = mb.add_tensor("logits", (1, classes), "int8", scale=0.1, zero_point=0)
    mb.add_op("FULLY_CONNECTED", [flat, fc_w, fc_b], [logits], {"fused_activation_function": "NONE"})
    probs = mb.add_tensor("probabilities", (1, classes), "int8", scale=1 / 256, zero_point=-128)
    mb.add_op("SOFTMAX", [logits], [probs], {"beta": 1.0})
    mb.mark_output(probs)
    return mb.build()


if __name__ == "__main__":
    out = ROOT / "examples" / "kws_micro_int8.tflite"
    out.write_bytes(build())
    print(f"wrote {out.relative_to(ROOT)} ({out.stat().st_size} bytes)")
