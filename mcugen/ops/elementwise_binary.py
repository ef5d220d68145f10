"""SUB, MUL, MAXIMUM, MINIMUM with numpy-style broadcasting (up to 4 loops after merging).

Broadcasting uses ADD's plan (mcugen.ops.add.broadcast_plan): size-1 output dimensions dropped,
neighbours that broadcast alike merged, per-input element strides per loop.

int8 follows TFLM bit for bit:
- SUB: ADD's scheme (inputs shifted left by 20, scaled to twice the larger input scale, difference
  requantized; every multiply with TFLM's two-step rounding). The public TFLM source computes SUB's
  three real multipliers as float32 quotients, but the tflite-micro build we test against divides
  in double (as ADD does), and float32 quotients change some outputs by 1; we follow the build.
  For >= TABLE_MIN_ELEMENTS outputs the scaled inputs come from two 256-entry int32 tables.
- MUL: (x - zp1) * (y - zp2) requantized with one multiplier (in1 * in2 / out scales, in double).
  int16 MUL is TFLM's int16 path: the same formula with all zero points 0 (TFLM requires it).
- MAXIMUM / MINIMUM (int8, int16, int32): TFLM compares raw values and ignores the quantization
  (the converter gives both inputs and the output the same one); float keeps TFLM's
  `x > y ? x : y` NaN behaviour.
int32 SUB and MUL (unquantized, as in shape arithmetic) wrap around on overflow and clamp to the
fused activation's int32 range, as TFLM does.
When one int8 SUB/MUL operand is a constant holding a single value (a scalar or a uniform
tensor) and the other is not broadcast, the op is a function of one int8 value: its 256 outputs
are computed here and the C kernel is a table lookup (mcugen.ops.activations' `mg_lut_s8`).

float32 matches TFLM's reference kernels (fused activation clamps included).
"""
from __future__ import annotations

import numpy as np

from .. import quant
from ..quant import multiply_by_quantized_multiplier as mbqm
from .activations import INT8_VALUES, apply_lut, clamp, lut_call, lut_table
from .add import broadcast_plan
from .base import ConstArray, KernelCall, require, require_dtypes, suffix, tensors, wrap_int32

OPCODES = ("SUB", "MUL", "MAXIMUM", "MINIMUM")

FAMILY = "mg_elementwise_binary"
LEFT_SHIFT_INT8 = 20  # TFLM's headroom for int8 SUB inputs before rescaling
TABLE_MIN_ELEMENTS = 256  # below this the SUB tables' 2 KiB of flash cost more than the time they save
_DTYPES = {"SUB": ("int8", "int32", "float32"), "MUL": ("int8", "int16", "int32", "float32"),
           "MAXIMUM": ("int8", "int16", "int32", "float32"), "MINIMUM": ("int8", "int16", "int32", "float32")}
_INT32_ACTIVATION = {"NONE": (quant.INT32_MIN, quant.INT32_MAX), "RELU": (0, quant.INT32_MAX), "RELU6": (0, 6),
                     "RELU_N1_TO_1": (-1, 1)}  # TFLM's CalculateActivationRange for int32
_QRANGE = {"int8": (-128, 127), "int16": (-32768, 32767)}


def _f32(x) -> np.float32:
    return np.float32(x)


# --- TFLM's int8 parameters and per-element arithmetic (used for tables and constant folding) ---

def sub_params(a, b, y, activation: str) -> dict:
    """TFLM's CalculateOpDataSub for int8, with the real multipliers in double (see the docstring)."""
    s1, s2, so = (float(_f32(t.scale)) for t in (a, b, y))
    twice_max = 2.0 * max(s1, s2)
    reals = [s1 / twice_max, s2 / twice_max, twice_max / ((1 << LEFT_SHIFT_INT8) * so)]
    mults = []
    for real in reals:
        m, shift = quant.quantize_multiplier(float(real))
        require(0.0 < float(real) < 1.0 and shift <= 0,
                f"scales {a.scale}, {b.scale} -> {y.scale} give multiplier {float(real)}; TFLM needs it in (0, 1)")
        mults.append((m, shift))
    lo, hi = quant.activation_range_quantized(activation, y.scale, y.zero_point)
    (m1, sh1), (m2, sh2), (mo, sho) = mults
    return dict(left_shift=LEFT_SHIFT_INT8,
                input1_offset=-a.zero_point, input1_multiplier=m1, input1_shift=sh1,
                input2_offset=-b.zero_point, input2_multiplier=m2, input2_shift=sh2,
                output_offset=y.zero_point, output_multiplier=mo, output_shift=sho, act_min=lo, act_max=hi)


def _sub_scaled(p: dict, k: int, x: int) -> int:
    return mbqm((x + p[f"input{k}_offset"]) << p["left_shift"], p[f"input{k}_multiplier"], p[f"input{k}_shift"])


def sub_value(p: dict, x: int, y: int) -> int:
    raw = _sub_scaled(p, 1, x) - _sub_scaled(p, 2, y)
    return clamp(mbqm(raw, p["output_multiplier"], p["output_shift"]) + p["output_offset"], p["act_min"], p["act_max"])


def mul_params(a, b, y, activation: str) -> dict:
    """TFLM's CalculateOpDataMul for int8/int16 (multiplier from double arithmetic)."""
    m, shift = quant.quantize_multiplier(float(a.scale) * float(b.scale) / float(y.scale))
    lo, hi = quant.activation_range_quantized(activation, y.scale, y.zero_point, *_QRANGE[y.dtype])
    return dict(input1_offset=-a.zero_point, input2_offset=-b.zero_point, output_offset=y.zero_point,
                output_multiplier=m, output_shift=shift, act_min=lo, act_max=hi)


def mul_value(p: dict, x: int, y: int) -> int:
    product = quant.wrap32((x + p["input1_offset"]) * (y + p["input2_offset"]))
    return clamp(mbqm(product, p["output_multiplier"], p["output_shift"]) + p["output_offset"], p["act_min"], p["act_max"])


def _scaled_input_table(p: dict, k: int) -> ConstArray:
    """table[(uint8_t)x] = SUB's scaled value of int8 input x (input k)."""
    values = [_sub_scaled(p, k, int(x)) for x in INT8_VALUES]
    return ConstArray("int32_t", np.array(values, np.int32))


# --- lowering ----------------------------------------------------------------------------------

def _check(op, graph):
    ins, outs = tensors(op, graph)
    require(len(ins) == 2 and None not in ins and len(outs) == 1,
            f"expects 2 inputs and 1 output, got {len(ins)} and {len(outs)}")
    (a, b), (y,) = ins, outs
    require(a.dtype == b.dtype == y.dtype, f"input dtypes {a.dtype}, {b.dtype} and output dtype {y.dtype} must be equal")
    require_dtypes([a, b, y], _DTYPES[op.opcode])
    activation = op.options.get("fused_activation_function", "NONE")
    require(activation in quant.SUPPORTED_ACTIVATIONS, f"fused activation {activation} is not supported")
    if y.dtype in ("int8", "int16") and op.opcode in ("SUB", "MUL"):
        for t in (a, b, y):
            require(t.quant is not None, f"{y.dtype} {op.opcode} needs quantized tensors ('{t.name}' is not)")
            require(not t.quant.per_channel, f"{op.opcode} needs per-tensor quantization ('{t.name}' is per-channel)")
            require(float(t.scale) > 0, f"tensor '{t.name}' has scale {t.scale}; it must be positive")
    if y.dtype == "int32" and op.opcode in ("SUB", "MUL"):
        require(all(t.quant is None for t in (a, b, y)), f"int32 {op.opcode} must not be quantized (TFLM requires it)")
    if y.dtype == "int16" and op.opcode == "MUL":
        require(a.zero_point == b.zero_point == y.zero_point == 0,
                f"int16 {op.opcode} needs zero points 0 (TFLM requires it), got {a.zero_point}, {b.zero_point}, {y.zero_point}")
    return a, b, y, activation


def _int_params(op, a, b, y, activation) -> dict:
    return sub_params(a, b, y, activation) if op.opcode == "SUB" else mul_params(a, b, y, activation)


def _int_value(op, p, x, v) -> int:
    return sub_value(p, x, v) if op.opcode == "SUB" else mul_value(p, x, v)


def _uniform_constant(t) -> bool:
    return t.is_constant and t.data.size >= 1 and bool(np.all(t.data == t.data.reshape(-1)[0]))


def _constant_operand_table(op, a, b, y, activation):
    """(table, index of the variable input) when one int8 operand is a one-valued constant."""
    p = _int_params(op, a, b, y, activation)
    for k, (var, const) in enumerate(((a, b), (b, a))):
        if _uniform_constant(const) and not var.is_constant and var.size == y.size:
            c = int(const.data.reshape(-1)[0])
            fn = (lambda x: _int_value(op, p, x, c)) if k == 0 else (lambda x: _int_value(op, p, c, x))
            return lut_table(fn), k
    return None, None


def lower(op, graph) -> KernelCall:
    a, b, y, activation = _check(op, graph)
    sizes, strides1, strides2 = broadcast_plan(a.shape, b.shape, y.shape)
    loops = dict(zip(("size0", "size1", "size2", "size3"), sizes))
    loops.update(zip(("in1_stride0", "in1_stride1", "in1_stride2", "in1_stride3"), strides1))
    loops.update(zip(("in2_stride0", "in2_stride1", "in2_stride2", "in2_stride3"), strides2))
    args = [op.inputs[0], op.inputs[1], op.outputs[0]]
    name = op.opcode.lower()

    if op.opcode in ("MAXIMUM", "MINIMUM"):
        return KernelCall(f"mg_{name}_{suffix(y.dtype)}", FAMILY, "mg_minmax_params", loops, args, macs=y.size)
    if y.dtype == "float32":
        lo, hi = quant.activation_range_float(activation)
        return KernelCall(f"mg_{name}_f32", FAMILY, "mg_arith_f32_params", dict(loops, act_min=lo, act_max=hi),
                          args, macs=y.size)
    if y.dtype == "int32":
        lo, hi = _INT32_ACTIVATION[activation]
        return KernelCall(f"mg_{name}_s32", FAMILY, "mg_arith_s32_params", dict(loops, act_min=lo, act_max=hi),
                          args, macs=y.size)
    if y.dtype == "int8":
        table, k = _constant_operand_table(op, a, b, y, activation)
        if table is not None:
            return lut_call(table, op.inputs[k], op.outputs[0], y.size)
    params = dict(loops, **_int_params(op, a, b, y, activation))
    if op.opcode == "MUL":
        return KernelCall(f"mg_mul_{suffix(y.dtype)}", FAMILY, "mg_mul_s8_params", params, args, macs=y.size)
    kernel = "mg_sub_s8"
    if y.size >= TABLE_MIN_ELEMENTS:
        kernel = "mg_sub_s8_table"
        params["input1_table"] = _scaled_input_table(params, 1)
        params["input2_table"] = _scaled_input_table(params, 2)
    return KernelCall(kernel, FAMILY, "mg_sub_s8_params", params, args, macs=y.size)


# --- constant folding ---------------------------------------------------------------------------

def float_reference(opcode: str, x: np.ndarray, v: np.ndarray, activation: str = "NONE") -> np.ndarray:
    """TFLM's float32 results (broadcast), fused activation included."""
    x, v = np.asarray(x, np.float32), np.asarray(v, np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        if opcode == "MAXIMUM":
            return np.where(x > v, x, v).astype(np.float32)
        if opcode == "MINIMUM":
            return np.where(x < v, x, v).astype(np.float32)
        out = x - v if opcode == "SUB" else x * v
    lo, hi = (np.float32(t) for t in quant.activation_range_float(activation))
    return np.where(out < lo, lo, np.where(out > hi, hi, out)).astype(np.float32)


def evaluate(op, graph) -> list[np.ndarray]:
    """Outputs for constant inputs, computed as TFLM does. Raises Unsupported for what lower()
    would refuse."""
    a, b, y, activation = _check(op, graph)
    broadcast_plan(a.shape, b.shape, y.shape)
    x, v = a.data.reshape(a.shape), b.data.reshape(b.shape)
    if y.dtype == "float32":
        return [float_reference(op.opcode, x, v, activation).reshape(y.shape)]
    if op.opcode in ("MAXIMUM", "MINIMUM"):
        pick = np.maximum if op.opcode == "MAXIMUM" else np.minimum
        return [pick(x, v).astype(x.dtype).reshape(y.shape)]
    if y.dtype == "int32":  # two's-complement wrap-around, as the C (and TFLM on its hosts) computes
        wide = x.astype(np.int64) - v.astype(np.int64) if op.opcode == "SUB" else x.astype(np.int64) * v.astype(np.int64)
        lo, hi = _INT32_ACTIVATION[activation]
        return [np.clip(wrap_int32(wide), lo, hi).astype(np.int32).reshape(y.shape)]
    p = _int_params(op, a, b, y, activation)
    xb, vb = np.broadcast_arrays(x.astype(np.int64), v.astype(np.int64))
    if y.dtype == "int8" and xb.size > 256:
        # One table per distinct second operand value keeps large folds fast.
        out = np.empty(xb.shape, np.int8)
        for c in np.unique(vb):
            mask = vb == c
            table = lut_table(lambda t, c=int(c): _int_value(op, p, t, c))
            out[mask] = apply_lut(table, xb[mask].astype(np.int8))
        return [out.reshape(y.shape)]
    out = [_int_value(op, p, int(s), int(t)) for s, t in zip(xb.reshape(-1), vb.reshape(-1))]
    return [np.array(out, dtype=np.int8 if y.dtype == "int8" else np.int16).reshape(y.shape)]

