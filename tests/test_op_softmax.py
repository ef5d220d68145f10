"""SOFTMAX: single-op models, mcugen against TFLM (int8 identical, float 1e-5)."""
from __future__ import annotations

import functools

import numpy as np
import pytest
from tflite_builder import ModelBuilder
import op_harness
from op_harness import run_mcugen

import mcugen
from mcugen.reference import run_tflm_batch

TFLM_ARENA = 1 << 20  # single-op models: the default (10x the model size) is too small

# (input dtype, output dtype, shape, input scale, input zero point, beta)
CASES = [
    ("int8", "int8", (1, 10), 0.1, -5, 1.0),
    ("int8", "int8", (1, 10), 1 / 16, 0, 1.0),
    ("int8", "int8", (3, 7), 0.02, 10, 1.0),
    ("int8", "int8", (2, 33), 0.5, -128, 1.0),       # coarse scale: most differences are cut off
    ("int8", "int8", (1, 2, 3, 17), 0.05, 3, 1.0),   # 4-D, softmax over the last axis
    ("int8", "int8", (1, 4, 4, 5), 0.25, -20, 0.5),
    ("int8", "int8", (2, 12), 0.08, 0, 2.0),
    ("int8", "int8", (1, 100), 0.003, 7, 1.0),       # fine scale: all 256 differences in range
    ("int8", "int8", (4, 9), 40.0, 0, 1.0),          # beta * scale saturates the Q5.26 multiplier
    ("int8", "int8", (1, 250), 0.1, 0, 0.3),
    ("int8", "int16", (1, 10), 0.1, -5, 1.0),
    ("int8", "int16", (2, 3, 21), 0.04, 12, 1.7),
    ("int8", "int16", (1, 300), 0.5, 0, 1.0),
    ("float32", "float32", (1, 10), None, None, 1.0),
    ("float32", "float32", (3, 7), None, None, 0.5),
    ("float32", "float32", (1, 2, 3, 17), None, None, 2.0),
    ("float32", "float32", (2, 100), None, None, 1.0),
]
OUTPUT_QUANT = {"int8": dict(scale=1 / 256, zero_point=-128), "int16": dict(scale=1 / 65536, zero_point=-32768)}


def _case_id(case):
    din, dout, shape, scale, zp, beta = case
    return f"{din}-{dout}-{'x'.join(map(str, shape))}-s{scale}-z{zp}-b{beta}"


def build_softmax(din, dout, shape, scale, zp, beta, out_quant=None):
    mb = ModelBuilder()
    x = mb.add_input("x", shape, din, **(dict(scale=scale, zero_point=zp) if din != "float32" else {}))
    y = mb.add_tensor("y", shape, dout, **(out_quant or OUTPUT_QUANT.get(dout, {})))
    mb.add_op("SOFTMAX", [x], [y], dict(beta=beta))
    mb.mark_output(y)
    return mb.build()


def _inputs(dtype, shape, rng):
    if dtype == "float32":
        sets = [(3 * rng.standard_normal(shape)).astype(np.float32) for _ in range(3)]
        sets.append(np.full(shape, 1.5, np.float32))
        return [[x] for x in sets]
    sets = [rng.integers(-128, 128, shape, dtype=np.int8) for _ in range(3)]
    sets.append(rng.integers(60, 128, shape, dtype=np.int8))  # values close together
    sets.append(np.full(shape, 7, np.int8))  # all equal: exact 1/depth
    one_hot = np.full(shape, -128, np.int8)
    one_hot[..., 0] = 127  # a single winner with the largest possible gap
    sets.append(one_hot)
    return [[x] for x in sets]


# float32 within rtol 1e-5 and atol 1e-7; integers identical
assert_matches = functools.partial(op_harness.assert_matches, atol=1e-7)


@pytest.fixture(scope="module")
def references():
    rng = np.random.default_rng(7)
    jobs = [(build_softmax(*case), _inputs(case[0], case[2], rng)) for case in CASES]
    outputs = run_tflm_batch(jobs, arena_size=TFLM_ARENA)
    return {_case_id(c): (m, xs, out) for c, (m, xs), out in zip(CASES, jobs, outputs)}


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_softmax_matches_tflm(case, references):
    model, input_sets, expected = references[_case_id(case)]
    assert_matches(run_mcugen(model, input_sets), expected)


def test_every_input_difference_over_a_sweep_of_scales_and_betas():
    """Rows [127, 127 - d] for all 256 differences d, int8 and int16 outputs (the latter shows the
    exp at 16-bit resolution), over many scales and betas, in one model (one compile) vs TFLM."""
    rng = np.random.default_rng(11)
    scales = [0.004, 0.0625, 0.17, 0.33, 1.0, 3.0]
    betas = [1.0, 0.8]
    shape = (256, 2)
    mb = ModelBuilder()
    n_inputs = 0
    for i, (scale, beta) in enumerate((s, b) for s in scales for b in betas):
        x = mb.add_input(f"x{i}", shape, "int8", scale=scale, zero_point=i - 6)
        n_inputs += 1
        for dout in ("int8", "int16"):
            y = mb.add_tensor(f"y{i}_{dout}", shape, dout, **OUTPUT_QUANT[dout])
            mb.add_op("SOFTMAX", [x], [y], dict(beta=beta))
            mb.mark_output(y)
    model = mb.build()
    every_difference = np.stack([np.full(256, 127), 127 - np.arange(256)], axis=1).astype(np.int8)
    input_sets = [[every_difference] * n_inputs, [every_difference[:, ::-1].copy()] * n_inputs]
    input_sets.append([rng.integers(-128, 128, shape, dtype=np.int8) for _ in range(n_inputs)])
    (expected,) = run_tflm_batch([(model, input_sets)], arena_size=TFLM_ARENA)
    assert_matches(run_mcugen(model, input_sets), expected)


@pytest.mark.parametrize("dout,quant", [("int8", dict(scale=1 / 255, zero_point=-128)),
                                        ("int8", dict(scale=1 / 256, zero_point=0)),
                                        ("int16", dict(scale=1 / 32768, zero_point=0))])
def test_output_quantization_must_be_the_converters(dout, quant):
    model = build_softmax("int8", dout, (1, 10), 0.1, 0, 1.0, out_quant=quant)
    with pytest.raises(ValueError, match="zero point"):
        mcugen.Interpreter(model_content=model)


# ---- int16 -> int16: TFLM's SoftmaxInt16 (exp and 1/(1+x) tables with interpolation) -----------
INT16_OUT = dict(scale=1 / 32768, zero_point=0)
# (shape, input scale, beta); the first scale * beta maps input steps 1:1 onto the exp table.
INT16_CASES = [
    ((1, 10), 10 / 65535, 1.0),
    ((3, 7), 1 / 3276.8, 1.0),
    ((2, 3, 33), 0.001, 0.7),
    ((1, 1000), 1 / 3000, 1.0),
    ((4, 5), 0.0001, 2.0),
    ((2, 64), 0.05, 1.0),        # coarse: the rescaling shifts left, most exps are cut off
    ((1, 1), 0.001, 1.0),        # a single element is 1.0
]


def _int16_inputs(shape, rng):
    sets = [rng.integers(-32768, 32768, shape, dtype=np.int16),
            rng.integers(-3000, 3000, shape, dtype=np.int16),  # values close together
            np.full(shape, -77, np.int16)]                      # all equal
    one_hot = np.full(shape, -32768, np.int16)
    one_hot[..., -1] = 32767  # a single winner with the largest gap
    return [[x] for x in sets + [one_hot]]


@pytest.fixture(scope="module")
def int16_references():
    """Every int16 case side by side in one model (one C build), and TFLM's outputs."""
    rng = np.random.default_rng(16)
    mb = ModelBuilder()
    for k, (shape, scale, beta) in enumerate(INT16_CASES):
        x = mb.add_input(f"x{k}", shape, "int16", scale=scale, zero_point=0)
        y = mb.add_tensor(f"y{k}", shape, "int16", **INT16_OUT)
        mb.add_op("SOFTMAX", [x], [y], dict(beta=beta))
        mb.mark_output(y)
    model = mb.build()
    per_case = [_int16_inputs(shape, rng) for shape, _, _ in INT16_CASES]
    sets = [[case[i][0] for case in per_case] for i in range(4)]
    (expected,) = run_tflm_batch([(model, sets)], arena_size=TFLM_ARENA)
    return model, sets, expected


def test_int16_softmax_matches_tflm(int16_references):
    model, sets, expected = int16_references
    for k, (got, want) in enumerate(zip(zip(*run_mcugen(model, sets)), zip(*expected))):
        try:
            assert_matches([list(got)], [list(want)])
        except AssertionError as e:
            raise AssertionError(f"case {INT16_CASES[k]}: {e}") from None


def test_int16_every_input_difference():
    """Rows [32767, 32767 - d] (and reversed) for all 65536 differences d over several scales and
    betas: with scale * beta = 10/65535 this reads every exp table segment at every interpolation
    offset, and the row sums walk the whole 1/(1 + x) table."""
    rng = np.random.default_rng(17)
    d = np.arange(65536)
    rows = np.stack([np.full(65536, 32767), 32767 - d], axis=1).astype(np.int16)
    params = [(10 / 65535, 1.0), (1 / 3276.8, 1.0), (0.0007, 0.8), (0.00002, 1.0)]
    mb = ModelBuilder()
    for k, (scale, beta) in enumerate(params):
        x = mb.add_input(f"x{k}", rows.shape, "int16", scale=scale, zero_point=0)
        y = mb.add_tensor(f"y{k}", rows.shape, "int16", **INT16_OUT)
        mb.add_op("SOFTMAX", [x], [y], dict(beta=beta))
        mb.mark_output(y)
    model = mb.build()
    sets = [[rows] * len(params), [rows[:, ::-1].copy()] * len(params),
            [rng.integers(-32768, 32768, rows.shape, dtype=np.int16) for _ in params]]
    (expected,) = run_tflm_batch([(model, sets)], arena_size=1 << 23)
    assert len(np.unique(expected[0][0])) > 20000  # many distinct outputs: the tables are exercised
    assert_matches(run_mcugen(model, sets), expected)


@pytest.mark.parametrize("x_zp,out_quant", [(0, dict(scale=1 / 32768, zero_point=-32768)),
                                            (0, dict(scale=1 / 65536, zero_point=0)),
                                            (3, INT16_OUT)])
def test_int16_quantization_must_be_the_converters(x_zp, out_quant):
    mb = ModelBuilder()
    x = mb.add_input("x", (1, 10), "int16", scale=0.001, zero_point=x_zp)
    y = mb.add_tensor("y", (1, 10), "int16", **out_quant)
    mb.add_op("SOFTMAX", [x], [y], dict(beta=1.0))
    mb.mark_output(y)
    with pytest.raises(ValueError, match="zero point"):
        mcugen.Interpreter(model_content=mb.build())
