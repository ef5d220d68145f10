"""SOFTMAX over the last axis.

int8 input follows TFLM's reference kernel bit for bit. TFLM uses gemmlowp fixed-point arithmetic
(not a LUT) for int8 input, with either int8 output (scale 1/256, zero point -128) or int16 output
(scale 1/65536, zero point -32768); only int16 *input* uses TFLM's exp and 1/(1+x) LUTs.
For int8 input, x - max(row) takes only 256 values, so the whole front half of that computation
(beta * scale rescaling into Q5.26 with input_multiplier/input_left_shift, the diff_min cut-off and
gemmlowp's exp_on_negative_values) is done here, at generation time, into a 256-entry int32 table
indexed by max - x. The C kernel does the rest exactly as TFLM: the Q12.19 sum of exps, gemmlowp's
fixed-point reciprocal and the final rounding shift.

int16 input (zero point 0) to int16 output (scale 1/32768, zero point 0) follows TFLM's
SoftmaxInt16: x - max is rescaled so that [-65535, 0] spans [-10, 0], looked up with interpolation
in a 513-entry exp table, summed, and normalised with a 513-entry 1/(1 + x) table. Both tables are
the same for every model; they are computed here as TFLM's LUTPopulate does, in float32.

float32 follows TFLM: exp((x - max) * beta) in float, normalised by the float sum.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .. import quant
from ..quant import INT32_MAX, INT32_MIN, rounding_divide_by_pot
from ..quant import saturating_rounding_doubling_high_mul as _srdhm
from ..quant import wrap32 as _wrap32
from .base import ConstArray, KernelCall, require, require_dtypes, tensors

OPCODES = ("SOFTMAX",)

SCALED_DIFF_INTEGER_BITS = 5  # TFLM's kScaledDiffIntegerBits: exp() input is Q5.26


def _saturating_multiply_by_pot(x: int, exponent: int) -> int:
    """gemmlowp SaturatingRoundingMultiplyByPOT for exponent > 0."""
    threshold = (1 << (31 - exponent)) - 1
    if x > threshold:
        return INT32_MAX
    if x < -threshold:
        return INT32_MIN
    return x << exponent


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a: int) -> int:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor series around -1/8."""
    constant_term = 1895147668  # exp(-1/8)
    constant_1_over_3 = 715827883
    x = _wrap32(a + (1 << 28))
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4 = _srdhm(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    poly = rounding_divide_by_pot(_wrap32(_srdhm(_wrap32(x4_over_4 + x3), constant_1_over_3) + x2), 1)
    return _wrap32(constant_term + _srdhm(constant_term, _wrap32(x + poly)))


# exp(-2^k) in Q0.31 for k = -2..4, applied for each set bit of the integer part.
_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
               (2, 39332535), (3, 720401), (4, 242))


def exp_on_negative_values_q5_26(a: int) -> int:
    """gemmlowp exp_on_negative_values for a Q5.26 input <= 0; Q0.31 result."""
    integer_bits = SCALED_DIFF_INTEGER_BITS
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        _saturating_multiply_by_pot(a_mod_quarter_minus_one_quarter, integer_bits))
    remainder = _wrap32(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent and remainder & (1 << (fractional_bits + exponent)):
            result = _srdhm(result, multiplier)
    return INT32_MAX if a == 0 else result


# --- TFLM's int8 parameter preprocessing ---------------------------------------------------------

def softmax_input_scaling(beta: float, input_scale: float) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, diff_min) as TFLM's PreprocessSoftmaxScaling and
    CalculateInputRadius compute them for 5 integer bits."""
    real = min(float(beta) * float(input_scale) * (1 << (31 - SCALED_DIFF_INTEGER_BITS)), (1 << 31) - 1.0)
    require(real > 1.0, f"beta * input scale ({beta} * {input_scale}) is too small; TFLM rejects it")
    multiplier, shift = quant.quantize_multiplier(real)
    require(shift >= 0, f"beta * input scale ({beta} * {input_scale}) is too small; TFLM rejects it")
    radius = math.floor(((1 << SCALED_DIFF_INTEGER_BITS) - 1) * float(1 << (31 - SCALED_DIFF_INTEGER_BITS)) / float(1 << shift))
    return multiplier, shift, -radius


def exp_table(beta: float, input_scale: float) -> np.ndarray:
    """table[d] = TFLM's Q0.31 exp for input difference x - max = -d (d = 0..255); 0 where TFLM
    skips the element (diff < diff_min), which gives the same sum and the same output."""
    multiplier, shift, diff_min = softmax_input_scaling(beta, input_scale)
    table = np.zeros(256, np.int64)
    for d in range(256):
        diff = -d
        if diff >= diff_min:
            rescaled = _srdhm(diff * (1 << shift), multiplier)  # MultiplyByQuantizedMultiplierGreaterThanOne
            table[d] = exp_on_negative_values_q5_26(rescaled)
    return table.astype(np.int32)


# --- TFLM's int16 tables -------------------------------------------------------------------------

def _round_f32(v: np.float32) -> np.float32:
    """std::round of a float32 value (exact: done in double)."""
    v = float(v)
    return np.float32(math.copysign(math.floor(abs(v) + 0.5), v))


def int16_lut(input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int,
              fn) -> np.ndarray:
    """TFLM's LUTPopulate<int16_t> (float arithmetic): 512 segments over the int16 input range plus an
    end point; each sample is biased by half the error of linear interpolation at the segment's
    midpoint. fn maps a float32 to a float32."""
    f32 = np.float32
    input_min = f32(input_scale) * f32(-32768 - input_zero_point)
    input_max = f32(input_scale) * f32(32767 - input_zero_point)
    output_min = f32(output_scale) * f32(-32768 - output_zero_point)
    output_max = f32(output_scale) * f32(32767 - output_zero_point)
    step = (input_max - input_min) / f32(512)
    half_step = step / f32(2)
    scaling = f32(65536) / (output_max - output_min)
    table = []
    for i in range(512):
        val = fn(input_min + f32(i) * step)
        val_midpoint = fn(input_min + f32(i) * step + half_step)
        val_next = fn(input_min + f32(i + 1) * step)
        sample = _round_f32(val * scaling)
        midpoint_interpolated = _round_f32((val_next * scaling + _round_f32(val * scaling)) / f32(2))
        midpoint_error = midpoint_interpolated - _round_f32(val_midpoint * scaling)
        table.append(sample - _round_f32(midpoint_error / f32(2)))
    table.append(_round_f32(fn(input_max) * scaling))
    return np.clip(np.array(table, np.float32), -32768, 32767).astype(np.int16)


@functools.lru_cache(maxsize=None)
def int16_tables() -> tuple[np.ndarray, np.ndarray]:
    """(exp table over [-10, 0], 1/(1 + x) table over [0, 1]), as TFLM's softmax Prepare builds them.
    exp is rounded from double, which gives the same tables as the C library's expf."""
    f32 = np.float32
    span = f32(65535)  # int16 max - min
    exp_lut = int16_lut(f32(10) / span, 32767, f32(2) / span, 0, lambda v: f32(math.exp(float(v))))
    reciprocal_lut = int16_lut(f32(1) / span, -32768, f32(2) / span, 0, lambda v: f32(1) / (f32(1) + v))
    return exp_lut, reciprocal_lut


def lower(op, graph) -> KernelCall:
    ins, outs = tensors(op, graph)
    require(len(ins) == 1 and ins[0] is not None and len(outs) == 1,
            f"expects 1 input and 1 output, got {len(ins)} and {len(outs)}")
    (x,), (y,) = ins, outs
    require(len(x.shape) >= 1, "input must have at least one dimension")
    require(x.size == y.size, f"input shape {list(x.shape)} and output shape {list(y.shape)} differ")
    depth = x.shape[-1]
    rows = x.size // depth if depth else 0
    require(depth > 0, "the last dimension is empty")
    beta = float(np.float32(op.options.get("beta", 1.0)))
    dims = dict(rows=rows, depth=depth)

    if x.dtype == "float32":
        require_dtypes([y], ("float32",))
        return KernelCall("mg_softmax_f32", "mg_softmax", "mg_softmax_f32_params", dict(dims, beta=beta),
                          [op.inputs[0], op.outputs[0]], macs=x.size)

    require_dtypes([x], ("int8", "int16", "float32"))
    require_dtypes([y], ("int8", "int16"))
    if x.dtype == "int16":
        return _lower_int16(op, x, y, beta, dims)
    require(x.quant is not None and y.quant is not None, "int8 softmax needs quantized input and output")
    if y.dtype == "int8":
        require(y.zero_point == -128 and np.float32(y.scale) == np.float32(1.0 / 256),
                f"int8 output must have scale 1/256 and zero point -128 (TFLM requires it), "
                f"got scale {y.scale} and zero point {y.zero_point}")
        kernel = "mg_softmax_s8"
    else:
        require(y.zero_point == -32768 and abs(y.scale - 1.0 / 65536) <= 0.001 / 65536,
                f"int16 output must have scale 1/65536 and zero point -32768 (TFLM requires it), "
                f"got scale {y.scale} and zero point {y.zero_point}")
        kernel = "mg_softmax_s8_s16"
    table = exp_table(beta, float(np.float32(x.scale)))
    return KernelCall(kernel, "mg_softmax", "mg_softmax_s8_params",
                      dict(dims, exp_table=ConstArray("int32_t", table)),
                      [op.inputs[0], op.outputs[0]], macs=x.size)


def _lower_int16(op, x, y, beta: float, dims: dict) -> KernelCall:
    require(y.dtype == "int16", f"int16 input needs an int16 output, got {y.dtype}")
    require(x.quant is not None and y.quant is not None, "int16 softmax needs quantized input and output")
    require(x.zero_point == 0, f"int16 input must have zero point 0 (TFLM requires it), got {x.zero_point}")
    require(y.zero_point == 0 and abs(np.float32(y.scale) - np.float32(1.0 / 32768)) <= np.float32(0.001 / 32768),
            f"int16 output must have scale 1/32768 and zero point 0 (TFLM requires it), "
            f"got scale {y.scale} and zero point {y.zero_point}")
    # x - max is rescaled so that [-65535, 0] maps onto the exp table's [-10, 0].
    multiplier, shift = quant.quantize_multiplier(float(np.float32(x.scale)) * beta / (10.0 / 65535.0))
    require(multiplier >= 0 and shift <= 30, f"beta * input scale ({beta} * {x.scale}) is out of range")
    exp_lut, reciprocal_lut = int16_tables()
    return KernelCall("mg_softmax_s16", "mg_softmax", "mg_softmax_s16_params",
                      dict(dims, input_multiplier=multiplier, input_shift=shift,
                           exp_lut=ConstArray("int16_t", exp_lut),
                           reciprocal_lut=ConstArray("int16_t", reciprocal_lut)),
                      [op.inputs[0], op.outputs[0]], macs=x.size)
