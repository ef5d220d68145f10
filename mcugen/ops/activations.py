"""Activations: LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU, PRELU, HARD_SWISH, ELU.

int8 follows TFLM bit for bit. A unary int8 op's output depends on one int8 value only, so each
is computed here, at generation time, for all 256 inputs by emulating TFLM's integer (or, for
ELU, float32) arithmetic exactly, and the C kernel is one table lookup per element
(`mg_lut_s8`, 256 bytes of flash). The emulations follow TFLM's reference kernels:
- LOGISTIC / TANH: input rescaled to Q4.27 (multiplier from frexp of scale * 2^27, inputs beyond
  the input radius saturate), gemmlowp's fixed-point logistic / tanh, rounded to Q0.7 (TANH) or
  Q0.8 minus 128 (LOGISTIC). TFLM assumes the output quantization the kernel produces (1/256 and
  -128 for LOGISTIC, 1/128 and 0 for TANH); it checks only LOGISTIC's zero point, and so do we.
- RELU: requantized (multiplier in/out scale), clamped below at the output zero point.
- LEAKY_RELU: two requantizations (identity and alpha multipliers).
- HARD_SWISH: TFLM's int16 fixed-point pipeline with int16 multipliers, truncating final multiply.
- ELU: TFLM's own float32 lookup table (expf(x) - 1, roundf).
- PRELU: alpha is a second (broadcast) input. With a constant alpha that holds one value the op is
  unary and uses a table too; otherwise `mg_prelu_s8` computes TFLM's two requantizations.

RELU6 exception (DESIGN.md): TFLM's int8 RELU6 only clamps the raw input values to [zero point,
quantized 6] of the *input*, ignoring the output quantization. When the output quantization
equals the input's that is exact and we follow TFLM. When it differs, TFLM's output is wrong, and
we follow LiteRT's reference kernel instead: requantize with the in/out scale multiplier and clamp
to the output's [0, 6] (tests compare that case with LiteRT, not TFLM).

int16 LOGISTIC and TANH follow TFLM's int16 kernels: zero points 0, output scale 2^-15, input
rescaled by a power of two or by a 15-bit multiplier, then TFLM's 256-entry sigmoid table with
linear interpolation (`mg_logistic_s16`, `mg_tanh_s16`; the table goes to flash, 512 bytes).

Scale ratios (input / output scale and the like) are evaluated in double from the float32 scales,
as the tflite-micro build we test against does, although TFLM's source writes some of them as
float32 quotients (see scale_ratio); the two differ in some outputs.

float32 follows TFLM's formulas (LOGISTIC's cut-offs included).
"""
from __future__ import annotations

import math

import numpy as np

from .. import quant
from ..quant import INT32_MAX, INT32_MIN, rounding_divide_by_pot, round_half_away, wrap32
from ..quant import multiply_by_quantized_multiplier as mbqm
from ..quant import saturating_rounding_doubling_high_mul as srdhm
from .add import broadcast_plan
from .base import ConstArray, KernelCall, require, require_dtypes, tensors

OPCODES = ("LOGISTIC", "TANH", "RELU", "RELU6", "LEAKY_RELU", "PRELU", "HARD_SWISH", "ELU")

INT8_VALUES = np.arange(256, dtype=np.int64) - 256 * (np.arange(256) >= 128)  # value of table index i = (uint8)x
LUT_FAMILY = "mg_activations"


# --- shared: the int8 lookup-table kernel ----------------------------------------------------------

def lut_table(fn) -> np.ndarray:
    """table[(uint8_t)x] = fn(x) for every int8 x; fn returns the int8 output as a Python int."""
    values = [fn(int(x)) for x in INT8_VALUES]
    assert all(-128 <= v <= 127 for v in values), values
    return np.array(values, dtype=np.int8)


def lut_call(table: np.ndarray, input_index: int, output_index: int, size: int) -> KernelCall:
    """The int8 table-lookup kernel (also used by elementwise_binary for ops with a constant operand)."""
    return KernelCall("mg_lut_s8", LUT_FAMILY, "mg_lut_s8_params",
                      dict(size=size, table=ConstArray("int8_t", np.asarray(table, np.int8))),
                      [input_index, output_index], macs=size)


def apply_lut(table: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.asarray(table, np.int8)[np.asarray(x, np.int8).view(np.uint8)]


def clamp(v: int, lo: int, hi: int) -> int:
    return lo if v < lo else hi if v > hi else v


def f32(x) -> np.float32:
    return np.float32(x)


def scale_ratio(*factors, divisor) -> float:
    """A product/quotient of float32 scales as TFLM evaluates it: each operand widened to double.

    (The public TFLM source writes several of these as float expressions cast to double, e.g.
    `static_cast<double>(input->params.scale / output->params.scale)`, but the tflite-micro
    build that is our oracle divides in double, and its results follow that.)"""
    value = 1.0
    for f in factors:
        value *= float(np.float32(f))
    return value / float(np.float32(divisor))


# --- gemmlowp fixed point on Python ints (int32 semantics) --------------------------------------

def _sat_multiply_by_pot(x: int, exponent: int, bits: int = 32) -> int:
    """gemmlowp SaturatingRoundingMultiplyByPOT (exponent > 0: saturating left shift)."""
    if exponent <= 0:
        return rounding_divide_by_pot(x, -exponent)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    threshold = (1 << (bits - 1 - exponent)) - 1
    if x > threshold:
        return hi
    if x < -threshold:
        return lo
    return x << exponent


def _exp_on_interval_minus_quarter_to_0(a: int) -> int:
    """exp(a) for a in [-1/4, 0), Q0.31: Taylor series around -1/8 (gemmlowp)."""
    constant_term = 1895147668  # exp(-1/8) in Q0.31
    constant_1_over_3 = 715827883
    x = wrap32(a + (1 << 28))
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    poly = rounding_divide_by_pot(wrap32(srdhm(wrap32(x4_over_4 + x3), constant_1_over_3) + x2), 1)
    return wrap32(constant_term + srdhm(constant_term, wrap32(x + poly)))


# exp(-2^k) in Q0.31, applied for each set bit k of the (negated) integer part.
_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
               (2, 39332535), (3, 720401), (4, 242))


def exp_on_negative_values(a: int, integer_bits: int) -> int:
    """gemmlowp exp_on_negative_values: `a` in Q(integer_bits).(31-integer_bits), a <= 0; Q0.31 result."""
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_one_quarter = wrap32((a & (one_quarter - 1)) - one_quarter)
    result = _exp_on_interval_minus_quarter_to_0(_sat_multiply_by_pot(a_mod_quarter_minus_one_quarter, integer_bits))
    remainder = wrap32(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent and remainder & (1 << (fractional_bits + exponent)):
            result = srdhm(result, multiplier)
    if integer_bits > 5 and a < -(1 << (36 - integer_bits)):
        result = 0
    return INT32_MAX if a == 0 else result


def _newton_reciprocal_half_denominator(a: int) -> int:
    """gemmlowp's Newton-Raphson x ~ 1 / ((1 + a) / 2) in Q2.29, a in Q0.31 (shared by both helpers)."""
    total = a + INT32_MAX  # RoundingHalfSum(a, One): (sum +- 1) / 2, C division
    total += 1 if total >= 0 else -1
    half_denominator = total // 2 if total >= 0 else -((-total) // 2)
    x = wrap32(1515870810 + srdhm(half_denominator, -1010580540))  # 48/17 - 32/17 * d
    one_q2 = 1 << 29
    for _ in range(3):
        half_denominator_times_x = srdhm(half_denominator, x)
        one_minus = wrap32(one_q2 - half_denominator_times_x)
        x = wrap32(x + _sat_multiply_by_pot(srdhm(x, one_minus), 2))
    return x


def one_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    return _sat_multiply_by_pot(_newton_reciprocal_half_denominator(a), 1)  # Rescale<0>(ExactMulByPot<-1>(x))


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    return _sat_multiply_by_pot(wrap32(_newton_reciprocal_half_denominator(a) - (1 << 29)), 2)


def gemmlowp_logistic(a: int, integer_bits: int) -> int:
    """gemmlowp logistic: `a` in Q(integer_bits); Q0.31 result."""
    if a == 0:
        return 1 << 30
    abs_a = a if a > 0 else wrap32(-a)
    positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(wrap32(-abs_a), integer_bits))
    return positive if a > 0 else wrap32(INT32_MAX - positive)


def gemmlowp_tanh(a: int, integer_bits: int) -> int:
    """gemmlowp tanh: `a` in Q(integer_bits); Q0.31 result."""
    if a == 0:
        return 0
    n = a if a < 0 else wrap32(-a)
    # ExactMulByPot<1>: the same raw value read with one more integer bit.
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1))
    return wrap32(-t) if a < 0 else t


# --- int16 helpers (HARD_SWISH's int16 pipeline) ----------------------------------------------

def i16(x: int) -> int:
    return ((x + (1 << 15)) & 0xFFFF) - (1 << 15)


def _srdhm16(a: int, b: int) -> int:
    if a == b == -(1 << 15):
        return (1 << 15) - 1
    ab = a * b
    nudge = (1 << 14) if ab >= 0 else 1 - (1 << 14)
    num = ab + nudge
    return i16(num // (1 << 15) if num >= 0 else -((-num) // (1 << 15)))


def _sdhm16(a: int, b: int) -> int:
    """TFLite's SaturatingDoublingHighMul: like _srdhm16 but truncating toward zero."""
    if a == b == -(1 << 15):
        return (1 << 15) - 1
    ab = a * b
    return i16(ab // (1 << 15) if ab >= 0 else -((-ab) // (1 << 15)))


def _rdbp16(x: int, exponent: int) -> int:
    """gemmlowp RoundingDivideByPOT on int16_t, including its int16 mask for exponents >= 16."""
    mask = i16((1 << exponent) - 1)
    remainder = i16(x & mask)
    threshold = i16((mask >> 1) + (1 if x < 0 else 0))
    return i16((x >> exponent) + (1 if remainder > threshold else 0))


def _sat_left_shift16(x: int, amount: int) -> int:
    return clamp(x * (1 << amount), -(1 << 15), (1 << 15) - 1)


def _downscale_multiplier_to_int16(m: int) -> int:
    if m >= INT32_MAX - (1 << 15):
        return (1 << 15) - 1
    return (m + (1 << 15)) >> 16


# --- int8 tables, one per op ------------------------------------------------------------------

def relu_table(x_scale, x_zp, y_scale, y_zp, six: bool) -> np.ndarray:
    """TFLM's (and LiteRT's) requantizing ReluX: clamp(zp + MBQM(x - x_zp)) to the output's [0, 6 or max]."""
    mult, shift = quant.quantize_multiplier(scale_ratio(x_scale, divisor=y_scale))
    lo = max(-128, y_zp + round_half_away(float(f32(0.0) / f32(y_scale))))
    hi = min(127, y_zp + round_half_away(float(f32(6.0) / f32(y_scale)))) if six else 127
    return lut_table(lambda x: clamp(y_zp + mbqm(x - x_zp, mult, shift), lo, hi))


def relu6_clamp_table(x_scale, x_zp) -> np.ndarray:
    """TFLM's int8 RELU6: raw values clamped to [input zero point, quantized 6.0]."""
    six = clamp(round_half_away(float(f32(6.0) / f32(x_scale))) + x_zp, -128, 127)
    return lut_table(lambda x: six if x > six else x_zp if x < x_zp else x)


def leaky_relu_table(x_scale, x_zp, y_scale, y_zp, alpha) -> np.ndarray:
    alpha_mult, alpha_shift = quant.quantize_multiplier(scale_ratio(x_scale, alpha, divisor=y_scale))
    id_mult, id_shift = quant.quantize_multiplier(scale_ratio(x_scale, divisor=y_scale))

    def fn(x):
        v = x - x_zp
        if v >= 0:
            return clamp(y_zp + mbqm(v, id_mult, id_shift), -128, 127)
        scaled = mbqm(v, abs(alpha_mult), alpha_shift)
        return clamp(y_zp + (-scaled if alpha_mult < 0 else scaled), -128, 127)
    return lut_table(fn)


def prelu_multipliers(x_scale, alpha_scale, y_scale) -> tuple[tuple[int, int], tuple[int, int]]:
    """TFLM computes PRELU's two multipliers in double."""
    return (quant.quantize_multiplier(scale_ratio(x_scale, divisor=y_scale)),
            quant.quantize_multiplier(scale_ratio(x_scale, alpha_scale, divisor=y_scale)))


def prelu_value(x: int, a: int, x_zp, a_zp, y_zp, m1, m2) -> int:
    v = x - x_zp
    if v >= 0:
        out = mbqm(v, *m1)
    else:
        out = mbqm(v * (a - a_zp), *m2)
    return clamp(out + y_zp, -128, 127)


def hard_swish_params(x_scale, y_scale) -> dict:
    hires_input_scale = f32(1.0 / 128.0) * f32(x_scale)  # float32 in TFLM, exact
    out_m32, out_exp = quant.quantize_multiplier(scale_ratio(hires_input_scale, divisor=y_scale))
    relu_m32, relu_exp = quant.quantize_multiplier(scale_ratio(hires_input_scale, divisor=3.0 / 32768.0))
    require(out_exp <= 0, f"output scale {y_scale} is too small for input scale {x_scale} (TFLM rejects it)")
    return dict(out_mult=_downscale_multiplier_to_int16(out_m32), out_exp=out_exp,
                relu_mult=_downscale_multiplier_to_int16(relu_m32), relu_exp=relu_exp)


def hard_swish_table(x_scale, x_zp, y_scale, y_zp) -> np.ndarray:
    p = hard_swish_params(x_scale, y_scale)

    def fn(x):
        hires = i16(i16(x - x_zp) * 128)
        preshift_out = _srdhm16(hires, p["out_mult"])
        reluish = hires
        if p["relu_exp"] > 0:
            reluish = _sat_left_shift16(reluish, p["relu_exp"] - 1)
        reluish = _srdhm16(reluish, p["relu_mult"])
        if p["relu_exp"] > 0:
            reluish = _sat_left_shift16(reluish, 1)
        if p["relu_exp"] < 0:
            reluish = _rdbp16(reluish, -p["relu_exp"])
        reluish = i16((reluish + (1 << 15)) >> 1)  # [-1, 1] -> [0, 1]
        out = _rdbp16(_sdhm16(reluish, preshift_out), -p["out_exp"])
        return clamp(i16(out + y_zp), -128, 127)
    return lut_table(fn)


def _expf(x: np.float32) -> np.float32:
    return np.float32(math.exp(float(x)))


def elu_table(x_scale, x_zp, y_scale, y_zp) -> np.ndarray:
    """TFLM's PopulateLookupTable for ELU, in float32 step by step."""
    inverse_scale = f32(1.0) / f32(y_scale)

    def fn(x):
        dequantized = f32(x_scale) * f32(x - x_zp)
        transformed = _expf(dequantized) - f32(1.0) if dequantized < 0 else dequantized
        rescaled = f32(round_half_away(float(f32(transformed * inverse_scale))))
        quantized = float(rescaled + f32(y_zp))
        quantized = int(max(min(quantized, INT32_MAX), INT32_MIN))
        return clamp(quantized, -128, 127)
    return lut_table(fn)


def _sigmoid_input_params(x_scale) -> tuple[int, int, int]:
    """(multiplier, left shift, input radius) of TFLM's int8 LOGISTIC and TANH (4 integer bits)."""
    real = float(x_scale) * float(1 << 27)
    q, shift = math.frexp(real)
    mult = wrap32(round_half_away(q * (1 << 31)))
    require(shift >= 0, f"input scale {x_scale} is too small (TFLM cannot run it)")
    radius = math.floor(15.0 * float(1 << 27) / float(1 << shift))
    return mult, shift, radius


def logistic_table(x_scale, x_zp) -> np.ndarray:
    mult, shift, radius = _sigmoid_input_params(x_scale)

    def fn(x):
        v = x - x_zp
        if v <= -radius:
            return -128
        if v >= radius:
            return 127
        out = rounding_divide_by_pot(gemmlowp_logistic(mbqm(v, mult, shift), 4), 23)
        return clamp(out - 128, -128, 127)
    return lut_table(fn)


def tanh_table(x_scale, x_zp) -> np.ndarray:
    mult, shift, radius = _sigmoid_input_params(x_scale)

    def fn(x):
        v = x - x_zp
        if v <= -radius:
            return -128
        if v >= radius:
            return 127
        return clamp(rounding_divide_by_pot(gemmlowp_tanh(mbqm(v, mult, shift), 4), 24), -128, 127)
    return lut_table(fn)


# --- int16 LOGISTIC / TANH -------------------------------------------------------------------



def _checked_log2(x: float) -> tuple[bool, int]:
    """TFLM's CheckedLog2 in float32: (is a power of two within 1e-3, rounded log2)."""
    x_log2 = np.float32(np.log(np.float32(x))) * (np.float32(1.0) / np.float32(np.log(np.float32(2.0))))
    rounded = round_half_away(float(x_log2))
    return abs(float(np.float32(x_log2 - np.float32(rounded)))) < 1e-3, rounded


def sigmoid_s16_input_params(opcode: str, x, y) -> tuple[int, int]:
    """(input multiplier, input left shift) for the C kernel, as TFLM's int16 LOGISTIC/TANH prepare
    them; a power-of-two input scale becomes TFLM's multiplier 3 << shift."""
    require(x.zero_point == 0 and y.zero_point == 0,
            f"int16 {opcode} needs zero points 0 (TFLM requires it), got {x.zero_point} and {y.zero_point}")
    pot, log2 = _checked_log2(x.scale)
    left_shift = 12 + log2
    pot = pot and (left_shift in ((0,) if opcode == "LOGISTIC" else (0, 1)))
    out_pot, out_log2 = _checked_log2(y.scale)
    require(out_pot and out_log2 == -15,
            f"int16 {opcode} output scale must be 2^-15 (TFLM requires it), got {y.scale}")
    if pot:
        return 3 << left_shift, 0
    multiplier = float(x.scale) * 4096.0 * 3.0
    left_shift = 0
    while multiplier <= 32767.0 / 2.0 and left_shift <= 30:
        left_shift += 1
        multiplier *= 2.0
    require(int(multiplier) <= 32767, f"int16 {opcode} input scale {x.scale} is too large (TFLM cannot run it)")
    return int(multiplier), left_shift


def sigmoid_s16_reference(opcode: str, x: np.ndarray, multiplier: int, left_shift: int) -> np.ndarray:
    """What mg_logistic_s16 / mg_tanh_s16 (and TFLM) compute, on numpy arrays (constant folding)."""
    table = quant.sigmoid_table_q16().astype(np.int64)
    rounding = (1 << (left_shift - 1)) if left_shift > 0 else 0
    v = (np.asarray(x, np.int64) * multiplier + rounding) >> left_shift
    a = np.abs(v)
    step = 9 if opcode == "LOGISTIC" else 8
    index = a >> step
    saturated = index >= 255
    i = np.minimum(index, 254)
    r = (table[i] << step) + (a & ((1 << step) - 1)) * (table[i + 1] - table[i])
    if opcode == "LOGISTIC":
        r = np.where(saturated, 0x7FFF << 10, r)
        r = np.where(v >= 0, r + (1 << 9), (1 << 25) - r + (1 << 9) - 1) >> 10
    else:
        r = np.where(saturated, 0xFFFF << 8, r)
        r = np.where(v >= 0, r - (1 << 23) + (1 << 7), -r + (1 << 23) + (1 << 7) - 1) >> 8
    return r.astype(np.int16)


# --- lowering ----------------------------------------------------------------------------------

def _quantized(ts, what: str) -> None:
    for t in ts:
        require(t.quant is not None and t.quant.scale.size >= 1, f"{what} needs quantized tensors ('{t.name}' is not)")
        require(not t.quant.per_channel, f"{what} needs per-tensor quantization ('{t.name}' is per-channel)")
        require(float(t.scale) > 0, f"tensor '{t.name}' has scale {t.scale}; it must be positive")


def int8_table(op, x, y) -> np.ndarray:
    """The 256-entry table of a unary int8 activation (all but PRELU)."""
    code = op.opcode
    _quantized([x, y], f"int8 {code}")
    if code == "LOGISTIC":
        require(y.zero_point == -128, f"int8 LOGISTIC output zero point must be -128 (TFLM requires it), got {y.zero_point}")
        return logistic_table(x.scale, x.zero_point)
    if code == "TANH":
        return tanh_table(x.scale, x.zero_point)
    if code == "RELU":
        return relu_table(x.scale, x.zero_point, y.scale, y.zero_point, six=False)
    if code == "RELU6":
        if f32(x.scale) == f32(y.scale) and x.zero_point == y.zero_point:
            return relu6_clamp_table(x.scale, x.zero_point)
        return relu_table(x.scale, x.zero_point, y.scale, y.zero_point, six=True)  # LiteRT; see the docstring
    if code == "LEAKY_RELU":
        return leaky_relu_table(x.scale, x.zero_point, y.scale, y.zero_point, op.options.get("alpha", 0.0))
    if code == "HARD_SWISH":
        return hard_swish_table(x.scale, x.zero_point, y.scale, y.zero_point)
    if code == "ELU":
        return elu_table(x.scale, x.zero_point, y.scale, y.zero_point)
    raise AssertionError(code)


def _uniform_constant(t) -> bool:
    return t.is_constant and t.data.size >= 1 and bool(np.all(t.data == t.data.reshape(-1)[0]))


def _prelu_lut(x, alpha, y) -> np.ndarray:
    m1, m2 = prelu_multipliers(x.scale, alpha.scale, y.scale)
    a = int(alpha.data.reshape(-1)[0])
    return lut_table(lambda v: prelu_value(v, a, x.zero_point, alpha.zero_point, y.zero_point, m1, m2))


def _lower_prelu(op, graph) -> KernelCall:
    ins, outs = tensors(op, graph)
    require(len(ins) == 2 and None not in ins and len(outs) == 1,
            f"expects 2 inputs (input, alpha) and 1 output, got {len(ins)} and {len(outs)}")
    (x, alpha), (y,) = ins, outs
    require(x.dtype == alpha.dtype == y.dtype, f"input, alpha and output dtypes ({x.dtype}, {alpha.dtype}, {y.dtype}) must be equal")
    require_dtypes([x, alpha, y], ("int8", "float32"))
    sizes, st1, st2 = broadcast_plan(x.shape, alpha.shape, y.shape)
    args = [op.inputs[0], op.inputs[1], op.outputs[0]]
    loops = dict(zip(("size0", "size1", "size2", "size3"), sizes))
    loops.update(zip(("in_stride0", "in_stride1", "in_stride2", "in_stride3"), st1))
    loops.update(zip(("alpha_stride0", "alpha_stride1", "alpha_stride2", "alpha_stride3"), st2))
    if y.dtype == "float32":
        return KernelCall("mg_prelu_f32", LUT_FAMILY, "mg_prelu_f32_params", loops, args, macs=y.size)
    _quantized([x, alpha, y], "int8 PRELU")
    if _uniform_constant(alpha) and x.size == y.size:
        return lut_call(_prelu_lut(x, alpha, y), op.inputs[0], op.outputs[0], y.size)
    (m1, s1), (m2, s2) = prelu_multipliers(x.scale, alpha.scale, y.scale)
    params = dict(loops, input_offset=-x.zero_point, alpha_offset=-alpha.zero_point, output_offset=y.zero_point,
                  output_multiplier_1=m1, output_shift_1=s1, output_multiplier_2=m2, output_shift_2=s2)
    return KernelCall("mg_prelu_s8", LUT_FAMILY, "mg_prelu_s8_params", params, args, macs=y.size)


_FLOAT_KERNELS = {"LOGISTIC": "mg_logistic_f32", "TANH": "mg_tanh_f32", "RELU": "mg_relu_f32", "RELU6": "mg_relu_f32",
                  "LEAKY_RELU": "mg_leaky_relu_f32", "HARD_SWISH": "mg_hard_swish_f32", "ELU": "mg_elu_f32"}
_INT16_OPS = ("LOGISTIC", "TANH")


def lower(op, graph) -> KernelCall:
    if op.opcode == "PRELU":
        return _lower_prelu(op, graph)
    ins, outs = tensors(op, graph)
    require(len(ins) == 1 and ins[0] is not None and len(outs) == 1,
            f"expects 1 input and 1 output, got {len(ins)} and {len(outs)}")
    (x,), (y,) = ins, outs
    require(x.dtype == y.dtype, f"input dtype {x.dtype} and output dtype {y.dtype} must be equal")
    require(x.size == y.size, f"input shape {list(x.shape)} and output shape {list(y.shape)} differ in size")
    allowed = ("int8", "int16", "float32") if op.opcode in _INT16_OPS else ("int8", "float32")
    require_dtypes([x], allowed)
    args = [op.inputs[0], op.outputs[0]]
    if x.dtype == "float32":
        params = dict(size=y.size)
        if op.opcode == "RELU":
            params.update(lo=0.0, hi=math.inf)
        elif op.opcode == "RELU6":
            params.update(lo=0.0, hi=6.0)
        elif op.opcode == "LEAKY_RELU":
            params.update(alpha=float(f32(op.options.get("alpha", 0.0))))
        kernel = _FLOAT_KERNELS[op.opcode]
        ptype = {"mg_relu_f32": "mg_relu_f32_params", "mg_leaky_relu_f32": "mg_leaky_relu_f32_params"}.get(kernel, "mg_unary_f32_params")
        return KernelCall(kernel, LUT_FAMILY, ptype, params, args, macs=y.size)
    if x.dtype == "int16":
        _quantized([x, y], f"int16 {op.opcode}")
        mult, shift = sigmoid_s16_input_params(op.opcode, x, y)
        params = dict(size=y.size, input_multiplier=mult, input_left_shift=shift,
                      input_round=(1 << (shift - 1)) if shift > 0 else 0,
                      sigmoid_table=ConstArray("uint16_t", quant.sigmoid_table_q16()))
        kernel = "mg_logistic_s16" if op.opcode == "LOGISTIC" else "mg_tanh_s16"
        return KernelCall(kernel, LUT_FAMILY, "mg_sigmoid_s16_params", params, args, macs=y.size)
    return lut_call(int8_table(op, x, y), op.inputs[0], op.outputs[0], y.size)


# --- constant folding ---------------------------------------------------------------------------

def _float_reference(opcode: str, x: np.ndarray, options: dict, alpha: np.ndarray | None = None) -> np.ndarray:
    """TFLM's float32 formulas, in float32."""
    x = np.asarray(x, np.float32)
    one, zero = np.float32(1), np.float32(0)
    with np.errstate(over="ignore", invalid="ignore"):
        if opcode == "LOGISTIC":
            out = np.where(x > np.float32(16.619047164916992188), one,
                           np.where(x < np.float32(-9.0), np.exp(x), one / (one + np.exp(-x))))
        elif opcode == "TANH":
            out = np.tanh(x)
        elif opcode == "RELU":
            out = np.where(x < zero, zero, x)
        elif opcode == "RELU6":
            out = np.where(x > np.float32(6), np.float32(6), np.where(x < zero, zero, x))
        elif opcode == "LEAKY_RELU":
            out = np.where(x > zero, x, x * np.float32(options.get("alpha", 0.0)))
        elif opcode == "HARD_SWISH":
            r = x + np.float32(3)
            r = np.where(zero < r, r, zero)
            r = np.where(r < np.float32(6), r, np.float32(6))
            out = x * r / np.float32(6)
        elif opcode == "ELU":
            out = np.where(x < zero, np.expm1(x), x)
        elif opcode == "PRELU":
            out = np.where(x >= zero, x, x * np.asarray(alpha, np.float32))
        else:
            raise AssertionError(opcode)
    return np.asarray(out, np.float32)


def evaluate(op, graph) -> list[np.ndarray]:
    """Outputs for constant inputs: float32 by TFLM's formulas, int8 through the same tables (or
    PRELU's integer formula) the C uses, int16 by the int16 kernels' arithmetic. Raises
    Unsupported for what lower() would refuse."""
    lower(op, graph)  # validates and refuses what the kernels would refuse
    ins, (y,) = tensors(op, graph)
    x = ins[0].data.reshape(ins[0].shape)
    if op.opcode == "PRELU":
        alpha_t = ins[1]
        alpha = alpha_t.data.reshape(alpha_t.shape)
        if y.dtype == "float32":
            xb, ab = np.broadcast_arrays(x, alpha)
            return [_float_reference("PRELU", xb, op.options, ab).reshape(y.shape)]
        m1, m2 = prelu_multipliers(ins[0].scale, alpha_t.scale, y.scale)
        xb, ab = np.broadcast_arrays(x.astype(np.int64), alpha.astype(np.int64))
        out = [prelu_value(int(v), int(a), ins[0].zero_point, alpha_t.zero_point, y.zero_point, m1, m2)
               for v, a in zip(xb.reshape(-1), ab.reshape(-1))]
        return [np.array(out, np.int8).reshape(y.shape)]
    if y.dtype == "float32":
        return [_float_reference(op.opcode, x, op.options).reshape(y.shape)]
    if y.dtype == "int8":
        return [apply_lut(int8_table(op, ins[0], y), x).reshape(y.shape)]
    mult, shift = sigmoid_s16_input_params(op.opcode, ins[0], y)
    return [sigmoid_s16_reference(op.opcode, x, mult, shift).reshape(y.shape)]
