"""Quantization arithmetic done at generation time, following TFLM's formulas.

Everything here produces constants that the generated C uses as-is.
"""
from __future__ import annotations

import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127
INT16_MIN, INT16_MAX = -32768, 32767
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def quantize_multiplier(real: float) -> tuple[int, int]:
    """A real multiplier as (int32 fixed-point Q31 mantissa, power-of-two shift), as TFLM's QuantizeMultiplier."""
    if real == 0.0:
        return 0, 0
    mantissa, shift = math.frexp(real)
    q = round_half_away(mantissa * (1 << 31))  # std::round, not Python's banker's rounding
    if q == (1 << 31):
        q //= 2
        shift += 1
    if shift < -31:
        shift, q = 0, 0
    return q, shift


def quantize_multiplier_smaller_than_one(real: float) -> tuple[int, int]:
    """As TFLM's QuantizeMultiplierSmallerThanOneExp: shift is <= 0."""
    q, shift = quantize_multiplier(real)
    assert shift <= 0, real
    return q, shift


def round_half_away(x: float) -> int:
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def quantize_value(real: float, scale: float, zero_point: int) -> int:
    """TFLM's quantize lambda: zero_point + round(real / scale), division in float32."""
    return zero_point + round_half_away(float(np.float32(real) / np.float32(scale)))


def activation_range_quantized(activation: str, scale: float, zero_point: int, qmin: int = INT8_MIN, qmax: int = INT8_MAX) -> tuple[int, int]:
    """Clamp bounds of a fused activation on a quantized output (TFLM CalculateActivationRangeQuantized)."""
    if activation == "NONE":
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, quantize_value(0.0, scale, zero_point)), qmax
    if activation == "RELU6":
        return max(qmin, quantize_value(0.0, scale, zero_point)), min(qmax, quantize_value(6.0, scale, zero_point))
    if activation == "RELU_N1_TO_1":
        return max(qmin, quantize_value(-1.0, scale, zero_point)), min(qmax, quantize_value(1.0, scale, zero_point))
    raise ValueError(f"fused activation {activation} is not supported")


def activation_range_float(activation: str) -> tuple[float, float]:
    if activation == "NONE":
        return -math.inf, math.inf
    if activation == "RELU":
        return 0.0, math.inf
    if activation == "RELU6":
        return 0.0, 6.0
    if activation == "RELU_N1_TO_1":
        return -1.0, 1.0
    raise ValueError(f"fused activation {activation} is not supported")


SUPPORTED_ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


# --- gemmlowp/TFLM fixed-point arithmetic on Python ints (int32 semantics), for precomputed tables ---

def wrap32(x: int) -> int:
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def saturating_rounding_doubling_high_mul(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    num = ab + nudge
    q = abs(num) >> 31  # C's division truncates toward zero
    return q if num >= 0 else -q


_srdhm = saturating_rounding_doubling_high_mul


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    """gemmlowp RoundingDivideByPOT: x / 2^exponent rounded to nearest, ties away from zero."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLM's MultiplyByQuantizedMultiplier with two-step rounding, on int32 values."""
    shifted = wrap32(x << max(shift, 0))
    return rounding_divide_by_pot(_srdhm(shifted, multiplier), max(-shift, 0))


def sigmoid_table_q16() -> np.ndarray:
    """The 256-entry table behind TFLite's int16 LOGISTIC/TANH/LSTM gates: sigmoid(i/24) in unsigned Q0.16.

    Entries are raised by half the chord error of linear interpolation (f'' h^2 / 16 at the node),
    which centres the interpolation error; the last entry saturates at 65535. This reproduces the
    table TFLM uses entry for entry (pinned by the int16 LOGISTIC/TANH and LSTM tests against TFLM).
    """
    x = np.arange(256, dtype=np.float64) / 24.0
    s = 1.0 / (1.0 + np.exp(-x))
    second_derivative = s * (1.0 - s) * (1.0 - 2.0 * s)
    table = np.floor(65536.0 * (s - second_derivative / (16.0 * 24.0 * 24.0)) + 0.5)
    table[-1] = 65535
    return np.minimum(table, 65535).astype(np.uint16)
