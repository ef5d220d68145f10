"""Hybrid FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D (float32 activations, int8 weights).

TFLM refuses hybrid models, so the oracle is LiteRT's reference kernels (BUILTIN_REF). mcugen
reproduces their arithmetic (run-time int8 quantization of each batch, int8 dot products, the same
float rescaling steps), so single ops are compared for bit-identical outputs, and so is
tiny_kws_dscnn_fp32; `mcugen verify` uses HYBRID_RTOL (see the README's "Hybrid models").

To stay fast, each op kind's cases are independent branches (own input, weights and output) of one
model: one C build and one LiteRT run per op kind.
"""
from __future__ import annotations

import zlib

import numpy as np
import pytest
from conftest import MODELS_DIR, shared_model
from op_harness import NAME, check_strict_c
from op_harness import run_mcugen as run_mcugen_model
from tflite_builder import ModelBuilder

import mcugen
from mcugen import codegen, compiler
from mcugen.cli import main as cli_main
from mcugen.errors import UnsupportedError
from mcugen.ops import hybrid
from mcugen.ops.conv2d import out_size
from mcugen.reference import run_litert
from mcugen.verify import FLOAT_RTOL, HYBRID_RTOL, run_mcugen

F32 = np.float32
KWS = "tiny_kws_dscnn_fp32"
ACTS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")

# ---- cases -------------------------------------------------------------------------------------
# Weights are drawn from [-127, 127], as the converter writes hybrid weights: LiteRT's x86 int8 dot
# product (a sign trick for an unsigned-by-signed byte multiply) gets weight -128 times a negative
# input wrong (+128 instead of -128 per unit); mcugen computes such products exactly.

# (input shape, out_features, per_channel, asymmetric_quantize_inputs, activation, with_bias)
FC_CASES = [
    ((1, 16), 8, False, False, "NONE", True),
    ((1, 16), 8, False, True, "NONE", True),
    ((1, 16), 8, True, False, "RELU", True),
    ((1, 16), 8, True, True, "RELU", True),
    ((3, 37), 5, False, True, "RELU6", True),     # batches: one scale per batch row
    ((3, 37), 5, True, False, "RELU_N1_TO_1", True),
    ((2, 3, 20), 7, True, True, "NONE", True),    # 3-D input: 6 rows of 20 features
    ((1, 1), 3, False, False, "NONE", True),      # one feature
    ((2, 64), 12, True, True, "NONE", False),     # no bias
    ((1, 250), 33, False, True, "RELU", False),
    ((1, 300), 10, True, False, "NONE", True),
]

# (batch, in_h, in_w, in_c, out_c, filter_h, filter_w, stride_h, stride_w, dilation_h, dilation_w, padding)
CONV_GEOMETRIES = [
    (1, 7, 9, 3, 4, 3, 3, 2, 2, 1, 1, "SAME"),     # padding on both sides
    (1, 7, 9, 3, 4, 3, 3, 2, 2, 1, 1, "VALID"),
    (2, 8, 8, 5, 6, 3, 3, 1, 1, 1, 1, "SAME"),     # batch 2: one scale per image
    (1, 9, 9, 3, 5, 3, 3, 1, 1, 2, 2, "SAME"),     # dilation
    (1, 9, 8, 3, 4, 5, 3, 2, 1, 2, 2, "SAME"),     # dilation, stride and a 5x3 filter
    (2, 6, 6, 8, 16, 1, 1, 1, 1, 1, 1, "VALID"),   # 1x1
    (1, 12, 5, 1, 16, 10, 4, 2, 2, 1, 1, "SAME"),  # tall filter on one channel (KWS's first layer)
    (1, 4, 4, 3, 2, 5, 5, 1, 1, 1, 1, "SAME"),     # window wider than the image
]
# Weight scales: "pt" one scale (LiteRT: symmetric), "pc" one per channel (asymmetric, other
# scale order), "eq" one per channel, all equal (LiteRT takes its per-tensor path).
CONV_CASES = [(g, mode, ACTS[(i + j) % 4], not (i == 5 and mode == "pt"))
              for i, g in enumerate(CONV_GEOMETRIES) for j, mode in enumerate(("pt", "pc"))]
CONV_CASES += [(CONV_GEOMETRIES[0], "eq", "NONE", True), (CONV_GEOMETRIES[5], "eq", "RELU", True)]

# (batch, in_h, in_w, in_c, depth_multiplier, filter_h, filter_w, stride_h, stride_w, dilation_h,
#  dilation_w, padding)
DW_GEOMETRIES = [
    (1, 7, 9, 4, 1, 3, 3, 2, 2, 1, 1, "SAME"),
    (1, 7, 9, 4, 1, 3, 3, 2, 2, 1, 1, "VALID"),
    (2, 8, 6, 3, 2, 5, 3, 1, 2, 1, 1, "SAME"),     # multiplier 2, batch 2
    (1, 9, 9, 6, 1, 3, 3, 1, 1, 2, 2, "SAME"),     # dilation
    (1, 13, 11, 1, 8, 3, 3, 2, 2, 1, 1, "SAME"),   # one channel, multiplier 8
    (1, 25, 5, 64, 1, 3, 3, 1, 1, 1, 1, "SAME"),   # KWS's depthwise shape
    (1, 4, 4, 3, 3, 5, 5, 1, 1, 1, 1, "SAME"),     # window wider than the image
]
# "pc" per-channel scales (the only form LiteRT accepts), "eq" per-channel but all equal.
DW_CASES = [(g, "pc" if i % 3 else "eq", ACTS[i % 4], i % 4 != 1) for i, g in enumerate(DW_GEOMETRIES)]
DW_CASES += [(DW_GEOMETRIES[2], "eq", "RELU", True), (DW_GEOMETRIES[5], "pc", "RELU6", True)]

N_SETS = 11


def fc_id(case):
    shape, n, pc, asym, act, bias = case
    return (f"{'x'.join(map(str, shape))}-o{n}-{'pc' if pc else 'pt'}-{'asym' if asym else 'sym'}-{act}"
            + ("" if bias else "-nobias"))


def conv_id(case):
    (n, h, w, ic, oc, fh, fw, sh, sw, dh, dw, pad), mode, act, bias = case
    return f"{n}x{h}x{w}x{ic}-o{oc}-f{fh}x{fw}-s{sh}x{sw}-d{dh}x{dw}-{pad}-{mode}-{act}" + ("" if bias else "-nobias")


def dw_id(case):
    (n, h, w, ic, m, fh, fw, sh, sw, dh, dw, pad), mode, act, bias = case
    return f"{n}x{h}x{w}x{ic}-m{m}-f{fh}x{fw}-s{sh}x{sw}-d{dh}x{dw}-{pad}-{mode}-{act}" + ("" if bias else "-nobias")


def _window(geom):
    n, h, w, ic, _, fh, fw, sh, sw, dh, dw, padding = geom
    opts = dict(padding=padding, stride_w=sw, stride_h=sh, dilation_w_factor=dw, dilation_h_factor=dh)
    return (n, out_size(padding, h, fh, sh, dh), out_size(padding, w, fw, sw, dw)), opts


def _scales(mode, channels, rng):
    if mode == "pt":
        return F32(rng.uniform(0.005, 0.03))
    if mode == "eq":
        return np.full(channels, F32(rng.uniform(0.005, 0.03)), F32)
    return rng.uniform(0.002, 0.05, channels).astype(F32)


def add_fc(mb, k, case, rng, zero_bias_for_missing=False):
    shape, n_out, pc, asym, act, bias = case
    in_f = shape[-1]
    x = mb.add_input(f"x{k}", shape, "float32")
    w = mb.add_const(f"w{k}", rng.integers(-127, 128, (n_out, in_f)), "int8",
                     scale=_scales("pc" if pc else "pt", n_out, rng), zero_point=0, axis=0)
    b = rng.standard_normal(n_out).astype(F32)
    if bias:
        bt = mb.add_const(f"b{k}", b)
    else:
        bt = mb.add_const(f"b{k}", np.zeros(n_out, F32)) if zero_bias_for_missing else -1
    y = mb.add_tensor(f"y{k}", (int(np.prod(shape)) // in_f, n_out), "float32")
    mb.add_op("FULLY_CONNECTED", [x, w, bt], [y],
              {"fused_activation_function": act, "asymmetric_quantize_inputs": asym}, version=9)
    mb.mark_output(y)


def add_conv(mb, k, case, rng, zero_bias_for_missing=False):
    geom, mode, act, bias = case
    n, h, w, ic, oc, fh, fw = geom[:7]
    out_hw, opts = _window(geom)
    x = mb.add_input(f"x{k}", (n, h, w, ic), "float32")
    wt = mb.add_const(f"w{k}", rng.integers(-127, 128, (oc, fh, fw, ic)), "int8",
                      scale=_scales(mode, oc, rng), zero_point=0, axis=0)
    b = rng.standard_normal(oc).astype(F32)
    inputs = [x, wt]
    if bias or zero_bias_for_missing:
        inputs.append(mb.add_const(f"b{k}", b if bias else np.zeros(oc, F32)))
    y = mb.add_tensor(f"y{k}", out_hw + (oc,), "float32")
    mb.add_op("CONV_2D", inputs, [y], dict(opts, fused_activation_function=act), version=5)
    mb.mark_output(y)


def add_dw(mb, k, case, rng, zero_bias_for_missing=False, per_tensor=False):
    geom, mode, act, bias = case
    n, h, w, ic, mult, fh, fw = geom[:7]
    oc = ic * mult
    out_hw, opts = _window(geom)
    x = mb.add_input(f"x{k}", (n, h, w, ic), "float32")
    scales = _scales(mode, oc, rng)
    if per_tensor:  # the same numbers as an "eq" case, written as one scale
        assert mode == "eq"
        scales = scales[:1]
    wt = mb.add_const(f"w{k}", rng.integers(-127, 128, (1, fh, fw, oc)), "int8",
                      scale=scales, zero_point=0, axis=3)
    b = rng.standard_normal(oc).astype(F32)
    inputs = [x, wt]
    if bias or zero_bias_for_missing:
        inputs.append(mb.add_const(f"b{k}", b if bias else np.zeros(oc, F32)))
    y = mb.add_tensor(f"y{k}", out_hw + (oc,), "float32")
    mb.add_op("DEPTHWISE_CONV_2D", inputs, [y], dict(opts, fused_activation_function=act, depth_multiplier=mult),
              version=6)
    mb.mark_output(y)


# Whether LiteRT quantizes a case's input asymmetrically (see mcugen/ops/hybrid.py).
ASYMMETRIC = {"fc": lambda c: c[3], "conv": lambda c: c[1] == "pc", "dw": lambda c: True}
KINDS = {"fc": (FC_CASES, add_fc, fc_id), "conv": (CONV_CASES, add_conv, conv_id), "dw": (DW_CASES, add_dw, dw_id)}


def build(kind, cases=None, seed=0, **kwargs) -> bytes:
    """One model with every case of `kind` as an independent branch; per-case weights depend only
    on (kind, case index), so two builds of a case hold the same numbers."""
    all_cases, add, _ = KINDS[kind]
    mb = ModelBuilder()
    for k, case in enumerate(all_cases if cases is None else cases):
        add(mb, k, case, np.random.default_rng([seed, zlib.crc32(kind.encode()), k]), **kwargs)
    return mb.build()


def boundary_values(shape, asymmetric: bool, rng) -> np.ndarray:
    """Per batch, values within an ulp of the points where LiteRT's quantizer changes its int8
    output (k + 0.5 after the multiplication by 1 / scale), so that any departure from its exact
    float steps (reciprocal, rounding mode, when the zero point is added) changes some outputs.
    The quantizer's parameters are computed here only to place the inputs; LiteRT stays the oracle."""
    x = np.empty(shape, F32)
    for row in x.reshape(shape[0], -1):
        lo, hi = F32(-rng.uniform(0.3, 3)), F32(rng.uniform(0.3, 3))
        if asymmetric:
            scale = float(F32(hi - lo)) / 255.0
            err_min, err_max = 128 + abs(float(lo) / scale), 127 + abs(float(hi) / scale)
            zp_real = -128 - float(lo) / scale if err_min < err_max else 127 - float(hi) / scale
            zp = int(np.clip(np.sign(zp_real) * np.floor(abs(zp_real) + 0.5), -128, 127))
            inv = F32(1.0 / float(F32(scale)))
            k = rng.integers(-127 - zp, 126 - zp, row.size)
        else:
            inv = F32(F32(127) / max(-lo, hi))
            k = rng.integers(-127, 126, row.size)
        # Not next to +-0.5: LiteRT's x86 build rounds the float just below 0.5 (0.49999997) to 1
        # in its vectorized loop (it adds 0.5 and truncates); mcugen rounds it to 0, as std::round
        # and LiteRT's portable and ARMv8 code do. That value is the only difference.
        k = np.where((k == 0) | (k == -1), k + 2 * rng.integers(1, 3, row.size) * np.sign(k + 0.5), k)
        near = (k + 0.5) / np.float64(inv)
        row[:] = np.clip(near, lo, hi).astype(F32)
        step = rng.integers(-1, 2, row.size)  # one ulp below, on, or above
        row[:] = np.where(step > 0, np.nextafter(row, F32(np.inf)),
                          np.where(step < 0, np.nextafter(row, F32(-np.inf)), row))
        row[:] = np.clip(row, lo, hi)
        row[:2] = (lo, hi)[:row.size]  # the range
    return x


def input_sets(model: bytes, seed: int, asymmetric: list[bool]) -> list[list[np.ndarray]]:
    """N_SETS input sets covering the quantizer's branches: mixed signs, large values with an offset,
    all positive (the asymmetric range starts at 0), all negative, all zero (range 0), a constant,
    tiny values, ReLU-like data with many zeros, exact ties, values at rounding boundaries, and
    a zero point on a tie."""
    it = mcugen.Interpreter(model_content=model)
    shapes = [tuple(d["shape"]) for d in it.get_input_details()]
    rng = np.random.default_rng(seed)
    sets = []
    for s in range(N_SETS):
        xs = []
        for shape, asym in zip(shapes, asymmetric, strict=True):
            z = rng.standard_normal(shape)
            if s == 8:
                # Odd multiples of 1/128 with max |x| = 127/64: symmetric quantization multiplies
                # by exactly 64 and every value lands on a tie (k + 0.5), rounded away from zero.
                x = (2 * rng.integers(-127, 127, shape) + 1) / 128.0
                x.reshape(-1)[0] = 127 / 64
            elif s == 9:
                x = boundary_values(shape, asym, rng)
            elif s == 10:
                # Range [-3/256, 507/256]: the asymmetric zero point is exactly -126.5, a tie
                # rounded away from zero to -127; negated, 126.5 rounds to 127.
                sign = (-1) ** len(xs)
                x = rng.uniform(-3 / 256, 507 / 256, shape) * sign
                x.reshape(-1)[:2] = (np.array([-3 / 256, 507 / 256]) * sign)[:x.size]
            else:
                x = [z, z * 20 + rng.uniform(-30, 30), rng.uniform(0, 3, shape), -rng.uniform(0.5, 2, shape),
                     np.zeros(shape), np.full(shape, 0.7), z * 1e-20, np.maximum(z, 0)][s]
            xs.append(np.asarray(x, F32))
        sets.append(xs)
    return sets


@pytest.fixture(scope="module")
def results():
    """kind -> (mcugen outputs, LiteRT outputs, input sets); outputs per input set, per case.
    CONV_2D branches without a bias get a zero bias here: LiteRT's CONV_2D requires one."""
    out = {}
    for i, kind in enumerate(KINDS):
        model = build(kind, zero_bias_for_missing=kind == "conv")
        sets = input_sets(model, i, [ASYMMETRIC[kind](c) for c in KINDS[kind][0]])
        out[kind] = (run_mcugen_model(model, sets), run_litert(model, sets, reference_kernels=True), sets)
    return out


def assert_identical(ours, theirs, k, label):
    for s, (o, r) in enumerate(zip(ours, theirs, strict=True)):
        got, want = o[k], r[k]
        assert got.dtype == want.dtype == np.float32 and got.shape == want.shape, (label, s)
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, (f"{label}, input set {s}: {bad.size}/{got.size} values differ, max abs diff "
                               f"{np.abs(got.astype(np.float64) - want).max():g} (max |ref| {np.abs(want).max():g})")


# ---- single ops against LiteRT's reference kernels: bit-identical --------------------------------


@pytest.mark.parametrize("k", range(len(FC_CASES)), ids=[fc_id(c) for c in FC_CASES])
def test_fully_connected_matches_litert(k, results):
    ours, theirs, _ = results["fc"]
    assert_identical(ours, theirs, k, fc_id(FC_CASES[k]))


@pytest.mark.parametrize("k", range(len(CONV_CASES)), ids=[conv_id(c) for c in CONV_CASES])
def test_conv2d_matches_litert(k, results):
    ours, theirs, _ = results["conv"]
    assert_identical(ours, theirs, k, conv_id(CONV_CASES[k]))


@pytest.mark.parametrize("k", range(len(DW_CASES)), ids=[dw_id(c) for c in DW_CASES])
def test_depthwise_conv2d_matches_litert(k, results):
    ours, theirs, _ = results["dw"]
    assert_identical(ours, theirs, k, dw_id(DW_CASES[k]))


def test_outputs_are_not_degenerate(results):
    """The comparisons above mean something: unclamped outputs take many values, clamping
    activations reach both bounds on the large inputs, and an all-zero input gives the same
    row for every batch."""
    bounds = {"RELU": (0, None), "RELU6": (0, 6), "RELU_N1_TO_1": (-1, 1)}
    for kind, (ours, _, _) in results.items():
        cases = KINDS[kind][0]
        for k, case in enumerate(cases):
            act = next(a for a in case if a in ACTS)
            out = ours[0][k]  # N(0, 1) inputs
            if act == "NONE":
                assert np.unique(out).size > 0.9 * out.size, (kind, k)
            else:
                lo, hi = bounds[act]
                big = ours[1][k]  # N(0, 20) + offset inputs
                assert np.any(big == lo) and (hi is None or np.any(big == hi)), (kind, k)
    for k, case in enumerate(FC_CASES):
        zero_out = results["fc"][0][4][k]
        assert np.all(zero_out == zero_out[:1]), fc_id(case)


def test_missing_bias_is_a_zero_bias(results):
    """LiteRT's CONV_2D needs a bias; mcugen runs without one, as LiteRT does with a zero bias."""
    indices = [k for k, c in enumerate(CONV_CASES) if not c[3]]
    assert indices
    _, all_theirs, all_sets = results["conv"]
    mb = ModelBuilder()
    for j, k in enumerate(indices):  # the same weights as in `results`, without the bias tensor
        add_conv(mb, j, CONV_CASES[k], np.random.default_rng([0, zlib.crc32(b"conv"), k]))
    model = mb.build()
    assert all(len(op.inputs) == 2 for op in compiler.load(model)[0].operators)
    ours = run_mcugen_model(model, [[xs[k] for k in indices] for xs in all_sets])
    theirs = [[r[k] for k in indices] for r in all_theirs]
    for j, k in enumerate(indices):
        assert_identical(ours, theirs, j, conv_id(CONV_CASES[k]))


def test_per_tensor_depthwise_equals_equal_per_channel_scales(results):
    """LiteRT refuses a depthwise filter with one scale; mcugen repeats it per channel. Its results
    must be LiteRT's for the same filter written with equal per-channel scales."""
    indices = [k for k, c in enumerate(DW_CASES) if c[1] == "eq"]
    assert indices
    _, all_theirs, all_sets = results["dw"]
    mb = ModelBuilder()
    for j, k in enumerate(indices):
        add_dw(mb, j, DW_CASES[k], np.random.default_rng([0, zlib.crc32(b"dw"), k]), per_tensor=True)
    model = mb.build()
    assert all(compiler.load(model)[0].tensor(op.inputs[1]).quant.scale.size == 1
               for op in compiler.load(model)[0].operators)
    ours = run_mcugen_model(model, [[xs[k] for k in indices] for xs in all_sets])
    theirs = [[r[k] for k in indices] for r in all_theirs]
    for j, k in enumerate(indices):
        assert_identical(ours, theirs, j, dw_id(DW_CASES[k]))


# ---- lowering: weights stay int8, scratch holds one quantized batch, clear refusals ---------------


def test_weights_stay_int8_in_flash():
    model = build("conv", CONV_CASES[:4], zero_bias_for_missing=True)
    graph, digest = compiler.load(model)
    program = compiler.compile_graph(graph, digest)
    files = codegen.render(program, NAME)
    weights_h = files[f"{NAME}_weights.h"]
    for step in program.steps:
        assert step.call.kernel == "mg_hybrid_conv2d_f32"
        w = graph.tensor(step.call.args[1])  # the model's own int8 filter tensor, not a float copy
        assert w.dtype == "int8" and w.is_constant
        assert f"static const int8_t {NAME}_t{w.index}[{w.size}]" in weights_h
        n, h, wd, c = graph.tensor(step.call.args[0]).shape
        assert step.call.scratch_bytes == h * wd * c  # one batch of int8 values
    filters = sum(graph.tensor(s.call.args[1]).nbytes for s in program.steps)
    small = sum(graph.tensor(s.call.args[1]).shape[0] * 8 for s in program.steps)  # bias + scales
    assert program.weights_bytes <= filters + small


def _single_op(opcode, w_dtype="int8", w_zero_point=0):
    mb = ModelBuilder()
    if opcode == "FULLY_CONNECTED":
        x = mb.add_input("x", (1, 8), "float32")
        w = mb.add_const("w", np.ones((4, 8)), w_dtype, scale=0.1, zero_point=w_zero_point)
        y = mb.add_tensor("y", (1, 4), "float32")
        mb.add_op(opcode, [x, w, -1], [y], {"fused_activation_function": "NONE"})
    else:
        x = mb.add_input("x", (1, 5, 5, 2), "float32")
        w = mb.add_const("w", np.ones((2, 3, 3, 2) if opcode == "CONV_2D" else (1, 3, 3, 2)), w_dtype, scale=0.1,
                         zero_point=w_zero_point)
        y = mb.add_tensor("y", (1, 5, 5, 2), "float32")
        opts = dict(padding="SAME", stride_w=1, stride_h=1, dilation_w_factor=1, dilation_h_factor=1)
        if opcode == "DEPTHWISE_CONV_2D":
            opts["depth_multiplier"] = 1
        mb.add_op(opcode, [x, w], [y], opts)
    mb.mark_output(y)
    return mb.build()


@pytest.mark.parametrize("opcode", ["FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D"])
def test_unsupported_hybrid_weights_are_refused_clearly(opcode):
    assert hybrid.is_hybrid_graph(compiler.load(_single_op(opcode))[0])
    with pytest.raises(UnsupportedError, match="symmetric"):
        compiler.compile_model(_single_op(opcode, w_zero_point=3))
    with pytest.raises(UnsupportedError, match="uint8"):  # LiteRT's older uint8 hybrid form
        compiler.compile_model(_single_op(opcode, w_dtype="uint8", w_zero_point=128))


def test_weight_minus_128_is_exact():
    """Here LiteRT's x86 build is wrong (see the top of this file), so the expectation is worked out
    by hand: x = (1, -1) quantizes symmetrically to (127, -127) with scale 1/127; the dot products
    with weight rows (0, -128) and (0, 5) are 16256 and -635, times 1/127 and the weight scale 1."""
    mb = ModelBuilder()
    x = mb.add_input("x", (1, 2), "float32")
    w = mb.add_const("w", np.array([[0, -128], [0, 5]]), "int8", scale=F32(1.0))
    y = mb.add_tensor("y", (1, 2), "float32")
    mb.add_op("FULLY_CONNECTED", [x, w, -1], [y], {"fused_activation_function": "NONE"})
    mb.mark_output(y)
    (out,), = run_mcugen_model(mb.build(), [[np.array([[1, -1]], F32)]])
    np.testing.assert_allclose(out, [[128.0, -5.0]], rtol=1e-6)


# ---- the real hybrid model and `mcugen verify` ---------------------------------------------------


def test_kws_fp32_is_bit_identical_to_litert():
    content = shared_model(KWS)
    it = mcugen.Interpreter(model_content=content)
    it.allocate_tensors()
    rng = np.random.default_rng(3)
    shape = tuple(it.get_input_details()[0]["shape"])
    sets = [[(rng.standard_normal(shape) * scale).astype(F32)] for scale in (1, 1, 1, 10, 10, 50) * 4]
    ours = run_mcugen(it, sets)
    theirs = run_litert(content, sets, reference_kernels=True)
    assert_identical(ours, theirs, 0, KWS)
    top = {int(np.argmax(o[0])) for o in ours}
    assert len(top) > 1  # the inputs exercise the model: different classes win


def test_kws_fp32_verify_passes(capsys):
    shared_model(KWS)
    status = cli_main(["verify", str(MODELS_DIR / f"{KWS}.tflite"), "--inputs", "3", "--seed", "2"])
    out, err = capsys.readouterr()
    assert status == 0, out + err
    assert "mcugen vs LiteRT" in out and f"within {HYBRID_RTOL:g} relative, hybrid model" in out
    assert "max abs diff 0 " in out  # identical, not just within the tolerance
    assert "TFLM cannot run this model" in err


def _fc_file(tmp_path, w_dtype):
    mb = ModelBuilder()
    rng = np.random.default_rng(8)
    x = mb.add_input("x", (2, 24), "float32")
    if w_dtype == "int8":
        w = mb.add_const("w", rng.integers(-127, 128, (6, 24)), "int8", scale=0.01)
    else:
        w = mb.add_const("w", rng.standard_normal((6, 24)).astype(F32))
    y = mb.add_tensor("y", (2, 6), "float32")
    mb.add_op("FULLY_CONNECTED", [x, w, mb.add_const("b", rng.standard_normal(6).astype(F32))], [y],
              {"fused_activation_function": "NONE"})
    mb.mark_output(y)
    path = tmp_path / f"fc_{w_dtype}.tflite"
    path.write_bytes(mb.build())
    return path


@pytest.mark.parametrize("w_dtype, factor, status", [
    ("int8", 0.5, 0), ("int8", 2.0, 1),  # hybrid: HYBRID_RTOL
    ("float32", 0.5, 1),                 # float: FLOAT_RTOL, however close to HYBRID_RTOL
])
def test_verify_applies_the_hybrid_tolerance_to_hybrid_models_only(w_dtype, factor, status, tmp_path,
                                                                   monkeypatch, capsys):
    """verify against a reference shifted by factor * HYBRID_RTOL of each output's max |value|."""
    import mcugen.verify as verify_mod

    real = verify_mod.reference_outputs

    def shifted(model_bytes, input_sets):
        engine, outs = real(model_bytes, input_sets)
        return engine, [[r + F32(factor * HYBRID_RTOL) * np.abs(r).max() for r in rs] for rs in outs]

    monkeypatch.setattr(verify_mod, "reference_outputs", shifted)
    path = _fc_file(tmp_path, w_dtype)
    assert hybrid.is_hybrid_graph(compiler.load(str(path))[0]) == (w_dtype == "int8")
    assert cli_main(["verify", str(path), "--inputs", "3"]) == status, capsys.readouterr()
    out = capsys.readouterr().out
    assert f"within {HYBRID_RTOL if w_dtype == 'int8' else FLOAT_RTOL:g} relative" in out


# ---- strict C99 and sanitizers for all three hybrid kernels --------------------------------------


def _pipeline() -> bytes:
    """CONV_2D (per-channel) -> DEPTHWISE_CONV_2D -> AVERAGE_POOL_2D -> RESHAPE -> FULLY_CONNECTED
    twice (symmetric and asymmetric inputs, one without bias), batch 2."""
    rng = np.random.default_rng(21)
    mb = ModelBuilder()
    window = dict(padding="SAME", stride_w=1, stride_h=1, dilation_w_factor=1, dilation_h_factor=1)
    x = mb.add_input("x", (2, 6, 6, 3), "float32")
    c = mb.add_tensor("c", (2, 6, 6, 8), "float32")
    mb.add_op("CONV_2D", [x, mb.add_const("cw", rng.integers(-127, 128, (8, 3, 3, 3)), "int8",
                                          scale=rng.uniform(0.01, 0.02, 8).astype(F32), axis=0),
                          mb.add_const("cb", rng.standard_normal(8).astype(F32))], [c],
              dict(window, fused_activation_function="RELU"))
    d = mb.add_tensor("d", (2, 6, 6, 8), "float32")
    mb.add_op("DEPTHWISE_CONV_2D", [c, mb.add_const("dw", rng.integers(-127, 128, (1, 3, 3, 8)), "int8",
                                                    scale=rng.uniform(0.01, 0.02, 8).astype(F32), axis=3), -1],
              [d], dict(window, depth_multiplier=1, fused_activation_function="RELU6"))
    p = mb.add_tensor("p", (2, 3, 3, 8), "float32")
    mb.add_op("AVERAGE_POOL_2D", [d], [p], dict(padding="VALID", stride_w=2, stride_h=2, filter_width=2,
                                                 filter_height=2))
    r = mb.add_tensor("r", (2, 72), "float32")
    mb.add_op("RESHAPE", [p, mb.add_const("shape", np.array([2, 72], np.int32))], [r], {"new_shape": [2, 72]})
    for k, asym in enumerate((False, True)):
        y = mb.add_tensor(f"y{k}", (2, 5), "float32")
        bias = mb.add_const(f"fb{k}", rng.standard_normal(5).astype(F32)) if k == 0 else -1
        mb.add_op("FULLY_CONNECTED", [r, mb.add_const(f"fw{k}", rng.integers(-127, 128, (5, 72)), "int8",
                                                      scale=F32(0.02)), bias], [y],
                  {"fused_activation_function": "NONE", "asymmetric_quantize_inputs": asym})
        mb.mark_output(y)
    return mb.build()


def test_generated_c_is_strict_and_sanitizer_clean(tmp_path):
    content = _pipeline()
    graph, digest = compiler.load(content)
    program = compiler.compile_graph(graph, digest)
    assert sum(s.call.family == "mg_hybrid" for s in program.steps) == 4
    rng = np.random.default_rng(5)
    inputs = [rng.standard_normal(graph.tensor(graph.inputs[0]).shape).astype(F32)]
    # One sanitizer build here (clang); tests/test_c_strict.py also builds the shared hybrid model.
    # Both invokes give the -O3 host build's bits.
    check_strict_c(tmp_path, graph, codegen.render(program, NAME, "hybrid"), inputs,
                   lambda: 2 * run_mcugen_model(content, [inputs]))
