"""SUB, MUL, MAXIMUM, MINIMUM against TFLM: broadcasting shapes (ranks 1 to 5), scales and zero
points, fused activations, int16 MUL, int32 (shape arithmetic), int16/int32 MAXIMUM/MINIMUM,
float32 (NaNs included), constant operands (the table path), every int8 input pair, constant
folding, a chain of ops, and the generated C under strict flags and sanitizers.

Cases are branches of a few multi-op models (one C build per model, not per case).
"""
from __future__ import annotations

import numpy as np
import pytest
from op_harness import run_mcugen
from test_op_activations import Branches, assert_close, q, random_like, strict_c_check

import mcugen.ops.elementwise_binary as eb
from mcugen.errors import Unsupported
from mcugen.frontend.tflite import load_model
from mcugen.reference import run_tflm_batch

TFLM_ARENA = 4 << 20
ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
SHAPES = [
    ((1, 4, 4, 3), (1, 4, 4, 3)),
    ((1, 4, 4, 3), (1, 1, 1, 3)),   # per-channel, bias-like
    ((1, 1, 1, 3), (1, 4, 4, 3)),   # the first input broadcasts
    ((1, 4, 1, 3), (1, 1, 5, 3)),   # both broadcast
    ((2, 3, 4, 5), (5,)),           # lower rank
    ((1, 4, 4, 3), (1,)),           # scalar
    ((1, 5, 6, 1), (1, 5, 6, 7)),   # innermost broadcast of the first input
    ((3, 1, 5), (1, 4, 1)),         # rank 3, alternating
    ((4, 1), (1, 6)),
    ((2, 1, 3, 1), (1, 4, 1, 5)),   # four alternating loops
    ((1, 1, 1, 1), (1, 1, 1, 1)),
    ((1, 8, 8, 8), (1, 8, 8, 8)),   # 512 outputs: SUB's table kernel
    ((1, 2, 3, 1, 5), (4, 1, 1, 6, 5)),  # rank 5, four loops after merging
]
# (input-1, input-2, output) quantization for int8
QUANTS = [
    (q(0.05, 0), q(0.05, 0), q(0.1, 0)),
    (q(0.02, -10), q(0.1, 5), q(0.07, -3)),
    (q(0.3, 20), q(0.01, -128), q(0.2, 10)),   # SUB: float32 and double multipliers give different outputs
    (q(0.007, 127), q(0.009, -50), q(0.011, -128)),
    (q(0.5, -3), q(0.25, 100), q(0.9, 1)),
]
# int16 MUL: zero points are 0 (TFLM requires it)
QUANTS16 = [(q(0.001, 0), q(0.0003, 0), q(0.0002, 0)), (q(2 ** -12, 0), q(2 ** -12, 0), q(2 ** -15, 0)),
            (q(0.05, 0), q(0.02, 0), q(3.0, 0))]


def _out_shape(s1, s2):
    return tuple(np.broadcast_shapes(s1, s2))


def _cases():
    """(case id, opcode, dtype, shape1, shape2, quants or None, activation)."""
    cases = []
    for i, (s1, s2) in enumerate(SHAPES):
        shapes = "+".join("x".join(map(str, s)) for s in (s1, s2))
        for j, opcode in enumerate(("SUB", "MUL", "MAXIMUM", "MINIMUM")):
            act = ACTIVATIONS[(i + j) % 4] if opcode in ("SUB", "MUL") else "NONE"
            k = (i + j) % len(QUANTS)
            quants = QUANTS[k] if opcode in ("SUB", "MUL") else (QUANTS[k][0],) * 3
            cases.append((f"{opcode}-int8-{shapes}-q{k}-{act}", opcode, "int8", s1, s2, quants, act))
            cases.append((f"{opcode}-float32-{shapes}-{ACTIVATIONS[(i + j + 1) % 4]}", opcode, "float32", s1, s2, None,
                          ACTIVATIONS[(i + j + 1) % 4] if opcode in ("SUB", "MUL") else "NONE"))
        if i % 2 == 0:
            k = i % len(QUANTS16)
            cases.append((f"MUL-int16-{shapes}-q{k}-{ACTIVATIONS[i % 4]}", "MUL", "int16", s1, s2, QUANTS16[k], ACTIVATIONS[i % 4]))
        # int32 (shape arithmetic) and int16 MAXIMUM/MINIMUM: no requantization.
        if i % 3 == 0:
            for opcode in ("SUB", "MUL"):
                cases.append((f"{opcode}-int32-{shapes}-{ACTIVATIONS[i % 4]}", opcode, "int32", s1, s2, None, ACTIVATIONS[i % 4]))
        if i % 3 == 1:
            for opcode in ("MAXIMUM", "MINIMUM"):
                for dtype in ("int16", "int32"):
                    cases.append((f"{opcode}-{dtype}-{shapes}", opcode, dtype, s1, s2, (QUANTS16[0][0],) * 3 if dtype == "int16" else None, "NONE"))
    # More quantization and activation combinations on the bias-like shape.
    for opcode in ("SUB", "MUL"):
        for k, quants in enumerate(QUANTS):
            for act in (ACTIVATIONS[k % 4], ACTIVATIONS[(k + 2) % 4]):
                cases.append((f"{opcode}-int8-bias-q{k}-{act}", opcode, "int8", (1, 3, 5, 8), (1, 1, 1, 8), quants, act))
    # MAXIMUM/MINIMUM with inputs quantized differently: TFLM compares raw values anyway.
    for opcode in ("MAXIMUM", "MINIMUM"):
        cases.append((f"{opcode}-int8-mixed-quant", opcode, "int8", (3, 8), (3, 8), QUANTS[1], "NONE"))
    return cases


CASES = _cases()


def _options(opcode, act):
    return {"fused_activation_function": act} if opcode in ("SUB", "MUL") else None


def _add_case(br, case):
    cid, opcode, dtype, s1, s2, quants, act = case
    q1, q2, qo = quants or (None, None, None)
    br.add(cid, opcode, [(s1, dtype, q1, None), (s2, dtype, q2, None)], _out_shape(s1, s2), dtype, qo, _options(opcode, act))


def _random(shape, dtype, rng):
    if dtype == "int32":  # products stay in range: TFLM's int32 overflow is undefined behaviour
        return rng.integers(-40000, 40000, shape).astype(np.int32)
    return random_like(shape, dtype, rng)


def _inputs(br_cases, rng, n_sets=3):
    sets = []
    for _ in range(n_sets):
        xs = []
        for _, _, dtype, s1, s2, _, _ in br_cases:
            for k, s in enumerate((s1, s2)):
                x = _random(s, dtype, rng)
                if dtype == "float32" and x.size > 4:
                    # NaN where the other input has a number: MAXIMUM/MINIMUM keep TFLM's NaN order.
                    x.reshape(-1)[:2] = [np.nan, 1.0] if k == 0 else [2.0, np.nan]
                xs.append(x)
        sets.append(xs)
    return sets


CHUNK = 27  # branches per model: every branch's tensors are live throughout, and the planner's time grows fast


@pytest.fixture(scope="module")
def sweep_results():
    """case id -> list over input sets of (ours, TFLM's)."""
    rng = np.random.default_rng(2024)
    jobs, brs = [], []
    for dtype in ("int8", "float32", "int16", "int32"):
        group = [c for c in CASES if c[2] == dtype]
        for start in range(0, len(group), CHUNK):
            chunk = group[start:start + CHUNK]
            br = Branches()
            for case in chunk:
                _add_case(br, case)
            brs.append(br)
            jobs.append((br.build(), _inputs(chunk, rng)))
    refs = run_tflm_batch(jobs, arena_size=TFLM_ARENA)
    results = {}
    for br, (model, input_sets), ref in zip(brs, jobs, refs):
        ours = run_mcugen(model, input_sets)
        for k, cid in enumerate(br.ids):
            results[cid] = [(o[k], r[k]) for o, r in zip(ours, ref, strict=True)]
    return results


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_matches_tflm(case, sweep_results):
    for ours, theirs in sweep_results[case[0]]:
        assert_close(ours, theirs, case[0])


def test_sweep_covers_both_sub_kernels_and_saturation(sweep_results):
    graph = load_model(_single("SUB", "int8", (1, 8, 8, 8), (1, 8, 8, 8), QUANTS[1]))
    assert eb.lower(graph.operators[0], graph).kernel == "mg_sub_s8_table"
    graph = load_model(_single("SUB", "int8", (1, 4, 4, 3), (1, 1, 1, 3), QUANTS[1]))
    assert eb.lower(graph.operators[0], graph).kernel == "mg_sub_s8"
    outs = np.concatenate([o.reshape(-1) for cid, r in sweep_results.items() if "int8" in cid for o, _ in r])
    assert outs.min() == -128 and outs.max() == 127


# ---- every int8 input pair ----------------------------------------------------------------------

PAIR_QUANTS = QUANTS + [(q(0.1, 0), q(0.003, 9), q(0.1, -7)), (q(1.5, -1), q(1.4, 2), q(2.9, 0)),
                        (q(0.01, 0), q(0.01, 0), q(0.0001, 0))]


@pytest.mark.parametrize("opcode,sub_path", [("SUB", "computed"), ("SUB", "table"), ("MUL", "computed")])
def test_every_int8_input_pair(opcode, sub_path, monkeypatch):
    """(256, 1) op (1, 256) covers all 65536 int8 input pairs, for many scale combinations; SUB
    with the kernel that computes the scaled inputs and with the one that looks them up."""
    monkeypatch.setattr(eb, "TABLE_MIN_ELEMENTS", 0 if sub_path == "table" else 1 << 62)
    values = np.arange(-128, 128, dtype=np.int8)
    br = Branches()
    for k, quants in enumerate(PAIR_QUANTS):
        act = ACTIVATIONS[k % 4]
        _add_case(br, (f"{opcode}-pairs-q{k}-{act}", opcode, "int8", (256, 1), (1, 256), quants, act))
    model = br.build()
    inputs = [[values.reshape(256, 1), values.reshape(1, 256)] * len(br.ids)]
    tflm = run_tflm_batch([(model, inputs)], arena_size=TFLM_ARENA)[0][0]
    for cid, o, t in zip(br.ids, run_mcugen(model, inputs)[0], tflm, strict=True):
        assert_close(o, t, cid)


def test_sub_multipliers_are_double_quotients():
    """The public TFLM source divides SUB's scales in float32, the tflite-micro build in double (as
    ADD does). For QUANTS[2] float32 multipliers change 138 of the 65536 outputs, so the sweep and
    pairs tests above (which use QUANTS[2] without a clamping activation) tell the two apart."""
    a, b, y = (load_model(_single("SUB", "int8", (2,), (2,), QUANTS[2])).tensor(i) for i in (0, 1, 2))
    p = eb.sub_params(a, b, y, "NONE")
    s1, s2, so = (np.float32(t.scale) for t in (a, b, y))
    twice = np.float32(2) * max(s1, s2)
    single = dict(p)
    for key, real in (("input1", s1 / twice), ("input2", s2 / twice), ("output", twice / (np.float32(1 << 20) * so))):
        single[f"{key}_multiplier"], single[f"{key}_shift"] = eb.quant.quantize_multiplier(float(real))
    diffs = sum(eb.sub_value(p, x, v) != eb.sub_value(single, x, v) for x in range(-128, 128) for v in range(-128, 128))
    assert diffs == 138


# ---- constant operands ----------------------------------------------------------------------------

def _const_cases(rng):
    """(case id, opcode, shape1, shape2, const index or None, constant, quants, act, expected kernel)."""
    uniform = np.full((1, 1, 1, 8), -77, np.int8)
    varied = rng.integers(-128, 128, (1, 1, 1, 8)).astype(np.int8)
    scalar = np.array([7], np.int8)
    return [
        ("SUB-x-minus-scalar", "SUB", (1, 4, 4, 8), (1,), 1, scalar, QUANTS[1], "NONE", "mg_lut_s8"),
        ("SUB-scalar-minus-x", "SUB", (1,), (1, 4, 4, 8), 0, scalar, QUANTS[2], "RELU", "mg_lut_s8"),
        ("MUL-x-times-scalar", "MUL", (1, 4, 4, 8), (1,), 1, np.array([-128], np.int8), QUANTS[3], "RELU6", "mg_lut_s8"),
        ("MUL-uniform-tensor", "MUL", (1, 4, 4, 8), (1, 1, 1, 8), 1, uniform, QUANTS[1], "NONE", "mg_lut_s8"),
        ("SUB-varied-tensor", "SUB", (1, 8, 4, 8), (1, 1, 1, 8), 1, varied, QUANTS[4], "RELU_N1_TO_1", "mg_sub_s8_table"),
        ("MUL-varied-tensor", "MUL", (1, 1, 1, 8), (1, 4, 4, 8), 0, varied, QUANTS[0], "NONE", "mg_mul_s8"),
        # The constant is one value but the other input is broadcast too: no table.
        ("MUL-uniform-both-broadcast", "MUL", (1, 4, 1, 8), (1, 1, 3, 1), 1, np.full((1, 1, 3, 1), 5, np.int8),
         QUANTS[2], "NONE", "mg_mul_s8"),
    ]


def test_constant_operands_match_tflm():
    rng = np.random.default_rng(8)
    cases = _const_cases(rng)
    br = Branches()
    for cid, opcode, s1, s2, k, const, quants, act, _ in cases:
        ins = [(s1, "int8", quants[0], const if k == 0 else None), (s2, "int8", quants[1], const if k == 1 else None)]
        br.add(cid, opcode, ins, _out_shape(s1, s2), "int8", quants[2], _options(opcode, act))
    model = br.build()
    graph = load_model(model)
    assert [eb.lower(op, graph).kernel for op in graph.operators] == [c[-1] for c in cases]
    inputs = [[random_like((s1, s2)[1 - k], "int8", rng) for _, _, s1, s2, k, *_ in cases] for _ in range(3)]
    tflm = run_tflm_batch([(model, inputs)], arena_size=TFLM_ARENA)[0]
    for ours_set, tflm_set in zip(run_mcugen(model, inputs), tflm, strict=True):
        for cid, o, t in zip(br.ids, ours_set, tflm_set, strict=True):
            assert_close(o, t, cid)


# ---- constant folding ------------------------------------------------------------------------------

def test_evaluate_matches_tflm():
    rng = np.random.default_rng(31)
    br = Branches()
    picks = [c for c in CASES if "bias" not in c[0]][::3] + [c for c in CASES if c[2] in ("int16", "int32")][::2]
    picks += [c for c in CASES if c[3] == (1, 8, 8, 8) and c[1] in ("SUB", "MUL") and c[2] == "int8"]  # > 256 values
    for cid, opcode, dtype, s1, s2, quants, act in picks:
        q1, q2, qo = quants or (None, None, None)
        a, b = _random(s1, dtype, rng), _random(s2, dtype, rng)
        br.add(cid, opcode, [(s1, dtype, q1, a), (s2, dtype, q2, b)], _out_shape(s1, s2), dtype, qo, _options(opcode, act))
    model = br.build()
    tflm = run_tflm_batch([(model, [[]])], arena_size=TFLM_ARENA)[0][0]
    graph = load_model(model)
    for cid, op, want in zip(br.ids, graph.operators, tflm, strict=True):
        (got,) = eb.evaluate(op, graph)
        assert_close(got, want, cid)


# ---- refusals --------------------------------------------------------------------------------------

def _single(opcode, dtype, s1, s2, quants, act="NONE", out_shape=None, out_dtype=None):
    br = Branches()
    q1, q2, qo = quants or (None, None, None)
    br.add("x", opcode, [(s1, dtype, q1, None), (s2, dtype, q2, None)], out_shape or _out_shape(s1, s2),
           out_dtype or dtype, qo, _options(opcode, act))
    return br.build()


@pytest.mark.parametrize("args,match", [
    (("SUB", "int16", (4,), (4,), QUANTS16[0]), "dtype int16"),
    (("MAXIMUM", "int64", (4,), (4,), None), "dtype int64"),
    (("SUB", "int32", (4,), (4,), (q(0.5, 0), q(0.5, 0), q(0.5, 0))), "must not be quantized"),
    (("MUL", "int16", (4,), (4,), (q(0.01, 1), q(0.01, 0), q(0.01, 0))), "zero points 0"),
    (("SUB", "int8", (4,), (4,), (q(0.01, 0), q(0.01, 0), q(1e-9, 0))), "in \\(0, 1\\)"),
    (("MUL", "int8", (4,), (4,), QUANTS[0], "TANH"), "fused activation TANH"),
    (("SUB", "int8", (1, 4, 3), (1, 5, 3), QUANTS[0], "NONE", (1, 4, 3)), "do not broadcast"),
    (("MUL", "int8", (4,), (4,), QUANTS[0], "NONE", (4,), "int16"), "must be equal"),
    (("MINIMUM", "int8", (2, 1, 3, 1, 2), (1, 4, 1, 5, 1), QUANTS[0]), "needs 5 loops"),
])
def test_unsupported_parameters_are_refused(args, match):
    graph = load_model(_single(*args))
    with pytest.raises(Unsupported, match=match):
        eb.lower(graph.operators[0], graph)


# ---- the generated C: strict flags and sanitizers ------------------------------------------------

def test_generated_c_is_strict_and_sanitizer_clean(tmp_path):
    rng = np.random.default_rng(4)
    br = Branches()
    picks = [c for c in CASES if c[3] == (1, 4, 1, 3) or c[3] == (1, 8, 8, 8)] + [c for c in CASES if c[2] == "int16"][:1]
    picks += [c for c in CASES if c[1] in ("MAXIMUM", "MINIMUM") and c[2] in ("int16", "int32")][:4]
    for case in picks:
        _add_case(br, case)
    br.add("sub-lut", "SUB", [((2, 5), "int8", QUANTS[1][0], None), ((1,), "int8", QUANTS[1][1], np.array([3], np.int8))],
           (2, 5), "int8", QUANTS[1][2], _options("SUB", "RELU"))
    model = br.build()
    graph = load_model(model)
    kernels = {eb.lower(op, graph).kernel for op in graph.operators}
    assert {"mg_sub_s8", "mg_sub_s8_table", "mg_mul_s8", "mg_mul_s16", "mg_lut_s8", "mg_maximum_f32", "mg_sub_s32",
            "mg_mul_s32", "mg_maximum_s16", "mg_minimum_s32"} <= kernels
    inputs = [random_like(graph.tensor(t).shape, graph.tensor(t).dtype, rng) for t in graph.inputs]
    strict_c_check(model, tmp_path, inputs, sanitizer_cc="gcc")  # the activations test uses clang


# ---- a few ops in a row: arena reuse between these kernels --------------------------------------

@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_chain_matches_tflm(dtype):
    """x -> HARD_SWISH -> MUL(y) -> SUB(per-channel constant) -> MAXIMUM(x) -> LOGISTIC, and a
    squeeze-and-excite style MUL of the result with a broadcast PRELU of y."""
    rng = np.random.default_rng(77)
    qq = (lambda s, z: q(s, z)) if dtype == "int8" else (lambda s, z: {})
    mb = Branches().mb
    shape, c = (1, 6, 6, 16), 16
    x = mb.add_input("x", shape, dtype, **qq(0.05, -3))
    y = mb.add_input("y", (1, 1, 1, c), dtype, **qq(0.02, 10))
    hs = mb.add_tensor("hs", shape, dtype, **qq(0.04, -30))
    mb.add_op("HARD_SWISH", [x], [hs])
    m = mb.add_tensor("m", shape, dtype, **qq(0.03, 0))
    mb.add_op("MUL", [hs, y], [m], {"fused_activation_function": "NONE"})
    k = mb.add_const("k", _random((c,), dtype, rng), dtype, **qq(0.01, 5))
    s = mb.add_tensor("s", shape, dtype, **qq(0.05, -3))
    mb.add_op("SUB", [m, k], [s], {"fused_activation_function": "RELU6"})
    mx = mb.add_tensor("mx", shape, dtype, **qq(0.05, -3))
    mb.add_op("MAXIMUM", [s, x], [mx])
    lg = mb.add_tensor("lg", shape, dtype, **qq(1 / 256, -128))
    mb.add_op("LOGISTIC", [mx], [lg])
    alpha = mb.add_const("alpha", _random((1, 1, 1, c), dtype, rng), dtype, **qq(0.01, 0))
    pr = mb.add_tensor("pr", (1, 1, 1, c), dtype, **qq(0.03, 2))
    mb.add_op("PRELU", [y, alpha], [pr])
    out = mb.add_tensor("out", shape, dtype, **qq(0.004, -128))
    mb.add_op("MUL", [lg, pr], [out], {"fused_activation_function": "RELU"})
    mb.mark_output(out)
    mb.mark_output(hs)
    model = mb.build()
    inputs = [[_random(shape, dtype, rng), _random((1, 1, 1, c), dtype, rng)] for _ in range(3)]
    tflm = run_tflm_batch([(model, inputs)], arena_size=TFLM_ARENA)[0]
    for ours_set, tflm_set in zip(run_mcugen(model, inputs), tflm, strict=True):
        for o, t in zip(ours_set, tflm_set, strict=True):
            assert_close(o, t, f"chain-{dtype}")
