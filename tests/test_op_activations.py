"""Activations (LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU, PRELU, HARD_SWISH, ELU) against TFLM.

int8 ops see every one of the 256 input values under many quantizations; int16 LOGISTIC/TANH see
all 65536 values. Each op's sweep is one model with one independent branch per case (one C build
per op instead of one per case). The int8 RELU6 whose output quantization differs from its
input's is checked against LiteRT (DESIGN.md: TFLM only clamps there).
"""
from __future__ import annotations

import numpy as np
import pytest
from op_harness import NAME, TFLM_ARENA, check_strict_c, run_mcugen
from tflite_builder import ModelBuilder

from mcugen import quant
from mcugen import codegen, compiler
from mcugen.errors import Unsupported
from mcugen.frontend.tflite import load_model
from mcugen.ops import activations
from mcugen.reference import run_litert, run_tflm_batch

ALL_INT8 = np.arange(-128, 128, dtype=np.int8).reshape(2, 8, 16)
ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16).reshape(1, 65536)


# ---- helpers shared with test_op_elementwise_binary.py ------------------------------------------

def q(scale, zero_point):
    return dict(scale=scale, zero_point=zero_point)


def assert_close(got: np.ndarray, want: np.ndarray, what: str = "") -> None:
    """Integers identical; floats within 1e-5 of the reference's largest magnitude."""
    assert got.dtype == want.dtype and got.shape == want.shape, what
    if got.dtype == np.float32:
        scale = float(np.nanmax(np.abs(want))) if np.isfinite(want).any() else 1.0
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * max(scale, 1e-30), err_msg=what)
    else:
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, (f"{what}: {bad.size} of {got.size} differ, first at {bad[:5].tolist()}: "
                               f"got {got.reshape(-1)[bad[:5]].tolist()}, want {want.reshape(-1)[bad[:5]].tolist()}")


class Branches:
    """A model of independent single-op branches: one C build covers many cases."""

    def __init__(self):
        self.mb = ModelBuilder()
        self.ids: list[str] = []  # one per branch, in output order

    def add(self, case_id, opcode, inputs, out_shape, out_dtype, out_quant=None, options=None):
        """inputs: list of (shape, dtype, quant dict or None, constant array or None)."""
        k = len(self.ids)
        idx = []
        for j, (shape, dtype, qd, const) in enumerate(inputs):
            if const is not None:
                idx.append(self.mb.add_const(f"c{k}_{j}", const, dtype, **(qd or {})))
            else:
                idx.append(self.mb.add_input(f"x{k}_{j}", shape, dtype, **(qd or {})))
        y = self.mb.add_tensor(f"y{k}", out_shape, out_dtype, **(out_quant or {}))
        self.mb.add_op(opcode, idx, [y], options)
        self.mb.mark_output(y)
        self.ids.append(case_id)

    def build(self) -> bytes:
        return self.mb.build()


def random_like(shape, dtype, rng):
    if dtype == "float32":
        return (3 * rng.standard_normal(shape)).astype(np.float32)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)


def strict_c_check(model: bytes, tmp_path, input_sets: list[np.ndarray], sanitizer_cc: str = "clang") -> None:
    """The generated C builds with the strict flags under gcc and clang, runs clean under ASan and
    UBSan, and prints what mcugen.Interpreter returns (same C, other flags)."""
    graph, digest = compiler.load(model)
    files = codegen.render(compiler.compile_graph(graph, digest), NAME, "activations")
    check_strict_c(tmp_path, graph, files, input_sets, lambda: 2 * run_mcugen(model, [input_sets]), sanitizer_cc)


# ---- int8 unary: every input value, many quantizations --------------------------------------------

# (input quant, output quant, options) per op; LOGISTIC/TANH outputs are fixed by the kernels.
LOGISTIC_OUT, TANH_OUT = q(1 / 256, -128), q(1 / 128, 0)
SIGMOID_INPUTS = [q(0.1, 3), q(0.05, -128), q(0.02, 127), q(1 / 16, 0), q(0.5, 10), q(0.004, -20),
                  q(2.0, 0), q(16.0, 0), q(0.0123, 45)]
INT8_CASES = {
    "LOGISTIC": [(qi, LOGISTIC_OUT, None) for qi in SIGMOID_INPUTS],
    "TANH": [(qi, TANH_OUT, None) for qi in SIGMOID_INPUTS],
    "RELU": [(q(0.05, -3), q(0.05, -3), None), (q(0.05, -3), q(0.03, -100), None),
             (q(0.1, 10), q(0.0235, -128), None), (q(0.02, 0), q(0.05, -128), None),
             (q(0.07, -50), q(0.011, 7), None), (q(0.3, 100), q(0.7, -5), None),
             (q(0.01, -128), q(0.01, 127), None), (q(2.0, 0), q(0.001, 0), None)],
    # Equal input and output quantization: TFLM's clamp is right (the other case is tested below).
    "RELU6": [(qi, qi, None) for qi in (q(0.05, -3), q(0.1, 10), q(0.02, -128), q(0.5, 100),
                                         q(0.0235, -128), q(1 / 32, 5), q(0.03, 127))],
    "LEAKY_RELU": [(q(0.05, -3), q(0.04, 10), {"alpha": 0.2}), (q(0.1, 20), q(0.1, 20), {"alpha": 0.01}),
                   (q(0.02, -128), q(0.05, 0), {"alpha": 1.5}), (q(0.05, 0), q(0.03, 0), {"alpha": -0.3}),
                   (q(0.07, 100), q(0.02, -128), {"alpha": 0.0}), (q(0.01, 5), q(0.05, -7), {"alpha": 3.0}),
                   (q(0.3, -60), q(0.25, 60), {"alpha": 0.1}), (q(0.05, -3), q(0.04, 10), None)],  # None: alpha 0
    "HARD_SWISH": [(q(0.02, -3), q(0.015, -20), None), (q(0.1, 30), q(0.05, -100), None),
                   (q(0.5, 0), q(0.3, 0), None), (q(0.003, -128), q(0.002, -128), None),
                   (q(1.0, 127), q(0.8, 10), None), (q(0.05, 0), q(0.06, 127), None),
                   (q(0.0117, 11), q(0.0109, -117), None)],
    "ELU": [(q(0.05, -3), q(0.04, 20), None), (q(0.1, 10), q(0.02, -50), None),
            (q(0.5, 0), q(0.2, 127), None), (q(0.01, -128), q(0.01, 100), None),
            (q(1.0, 0), q(0.05, 0), None), (q(0.031, 64), q(0.017, 70), None)],
}

# TFLM (the tflite-micro build) divides scales in double; float32 quotients would change some
# outputs in these cases (test_scale_ratio_cases_discriminate checks that they do).
RATIO_CASES = {
    "RELU": [(q(0.0462, 96), q(0.0196, -14), None), (q(0.22, 8), q(0.2112, -33), None)],
    "LEAKY_RELU": [(q(0.0763, -105), q(0.1904, 81), {"alpha": -0.207}), (q(0.0814, 116), q(0.074, 73), {"alpha": 0.033})],
    "HARD_SWISH": [(q(0.1595, -87), q(0.1194, 19), None), (q(0.2373, -26), q(0.2659, -101), None)],
}
for _op, _cases in RATIO_CASES.items():
    INT8_CASES[_op] += _cases


def _int8_case_ids():
    return [f"{op}-{k}" for op, cases in INT8_CASES.items() for k in range(len(cases))]


@pytest.fixture(scope="module")
def int8_results():
    """case id -> (ours, TFLM's) for every int8 unary case."""
    models = {}
    for op, cases in INT8_CASES.items():
        br = Branches()
        for k, (qi, qo, options) in enumerate(cases):
            br.add(f"{op}-{k}", op, [(ALL_INT8.shape, "int8", qi, None)], ALL_INT8.shape, "int8", qo, options)
        models[op] = (br, br.build())
    jobs = [(m, [[ALL_INT8] * len(br.ids)]) for br, m in models.values()]
    refs = run_tflm_batch(jobs, arena_size=TFLM_ARENA)
    results = {}
    for (br, m), (_, input_sets), ref in zip(models.values(), jobs, refs):
        ours = run_mcugen(m, input_sets)
        results.update({cid: (o, r) for cid, o, r in zip(br.ids, ours[0], ref[0], strict=True)})
    return results


@pytest.mark.parametrize("case_id", _int8_case_ids())
def test_int8_every_input_matches_tflm(case_id, int8_results):
    ours, theirs = int8_results[case_id]
    assert_close(ours, theirs, case_id)


def test_int8_tables_are_not_trivial(int8_results):
    """The sweep exercises real work: saturation at both ends and many distinct outputs."""
    logistic = int8_results["LOGISTIC-0"][1]
    assert logistic.min() == -128 and logistic.max() == 127 and len(np.unique(logistic)) > 50
    assert len(np.unique(int8_results["HARD_SWISH-0"][1])) > 50


# ---- RELU6 with a different output quantization: LiteRT, not TFLM ----------------------------------

RELU6_REQUANT = [(q(0.05, -3), q(0.03, -100)), (q(0.1, 10), q(0.0235, -128)), (q(0.02, 0), q(0.05, -128)),
                 (q(0.07, -50), q(0.011, 7)), (q(0.3, 100), q(0.7, -5)), (q(6 / 255, -128), q(0.02, -128)),
                 (q(0.05, -3), q(0.05, 0))]


def test_int8_relu6_requantizes_as_litert():
    br = Branches()
    for k, (qi, qo) in enumerate(RELU6_REQUANT):
        br.add(f"RELU6-requant-{k}", "RELU6", [(ALL_INT8.shape, "int8", qi, None)], ALL_INT8.shape, "int8", qo)
    model = br.build()
    inputs = [[ALL_INT8] * len(br.ids)]
    ours = run_mcugen(model, inputs)[0]
    litert = run_litert(model, inputs)[0]
    tflm = run_tflm_batch([(model, inputs)], arena_size=TFLM_ARENA)[0][0]
    for cid, o, lit, tf in zip(br.ids, ours, litert, tflm, strict=True):
        assert_close(o, lit, cid)
        assert np.any(o != tf), f"{cid}: TFLM agrees here, so this is not the exception case"
        # Real-valued sanity: the output is relu6 of the input within one output step.
        (qi, qo) = RELU6_REQUANT[br.ids.index(cid)]
        real_in = qi["scale"] * (ALL_INT8.astype(np.float64) - qi["zero_point"])
        real_out = qo["scale"] * (o.astype(np.float64) - qo["zero_point"])
        want = np.clip(np.clip(real_in, 0, 6), qo["scale"] * (-128 - qo["zero_point"]), qo["scale"] * (127 - qo["zero_point"]))
        assert np.max(np.abs(real_out - want)) <= qo["scale"] + 1e-6, cid


# ---- int16 LOGISTIC and TANH: every input value ---------------------------------------------------

INT16_SCALES = {"LOGISTIC": [2 ** -12, 2 ** -11, 2 ** -10, 2 ** -14, 0.0007, 1 / 3000, 0.002, 3.0 / 4096],
                "TANH": [2 ** -12, 2 ** -11, 2 ** -10, 2 ** -15, 0.0007, 0.0003, 1 / 3000, 0.0021]}


@pytest.mark.parametrize("opcode", ["LOGISTIC", "TANH"])
def test_int16_every_input_matches_tflm(opcode):
    br = Branches()
    for s in INT16_SCALES[opcode]:
        br.add(f"{opcode}-{s}", opcode, [(ALL_INT16.shape, "int16", q(s, 0), None)], ALL_INT16.shape,
               "int16", q(2 ** -15, 0))
    model = br.build()
    inputs = [[ALL_INT16] * len(br.ids)]
    tflm = run_tflm_batch([(model, inputs)], arena_size=4 << 20)[0][0]
    for cid, o, t in zip(br.ids, run_mcugen(model, inputs)[0], tflm, strict=True):
        assert_close(o, t, cid)
        assert len(np.unique(t)) > 1000, cid


# ---- float32 -------------------------------------------------------------------------------------

FLOAT_OPS = [("LOGISTIC", None), ("TANH", None), ("RELU", None), ("RELU6", None), ("LEAKY_RELU", {"alpha": 0.25}),
             ("LEAKY_RELU", {"alpha": -1.5}), ("HARD_SWISH", None), ("ELU", None)]


def _float_input(rng):
    x = (4 * rng.standard_normal((3, 7, 11))).astype(np.float32)
    x.reshape(-1)[:12] = [0.0, -0.0, 20.0, -20.0, 3.0, -3.0, 6.0, 16.7, -9.5, 1e-8, -1e-8, 100.0]
    return x


def test_float_matches_tflm():
    rng = np.random.default_rng(5)
    br = Branches()
    for k, (op, options) in enumerate(FLOAT_OPS):
        br.add(f"{op}-{k}", op, [((3, 7, 11), "float32", None, None)], (3, 7, 11), "float32", None, options)
    model = br.build()
    inputs = [[_float_input(rng) for _ in br.ids] for _ in range(2)]
    tflm = run_tflm_batch([(model, inputs)], arena_size=TFLM_ARENA)[0]
    for ours_set, tflm_set in zip(run_mcugen(model, inputs), tflm, strict=True):
        for cid, o, t in zip(br.ids, ours_set, tflm_set, strict=True):
            assert_close(o, t, cid)


# ---- PRELU ---------------------------------------------------------------------------------------

PRELU_QUANTS = [(q(0.05, -3), q(0.01, 0), q(0.04, 5)), (q(0.1, 20), q(0.004, -30), q(0.08, -128)),
                (q(0.02, -128), q(0.05, 100), q(0.03, 0)),
                (q(0.22, 8), q(0.0123, 3), q(0.2112, -33))]  # as RATIO_CASES["RELU"][1] for x >= 0
# (input shape, alpha shape, alpha kind): const alpha is random per element; "uniform" is a
# constant holding one value (the table path); "input" feeds alpha at run time.
PRELU_SHAPES = [((1, 4, 4, 8), (1, 1, 8), "const"), ((1, 4, 4, 8), (8,), "const"),
                ((1, 4, 4, 8), (1, 1, 1, 8), "input"), ((2, 3, 4), (1,), "uniform"),
                ((1, 3, 5, 4), (1, 1, 4), "uniform"), ((1, 1, 5, 3), (1, 4, 1, 3), "const"),
                ((3, 6), (3, 6), "input"), (ALL_INT8.shape, (16,), "const")]


def _prelu_model(dtype, rng):
    br, feeds = Branches(), []
    for k, (xs, alpha_shape, kind) in enumerate(PRELU_SHAPES):
        qi, qa, qo = PRELU_QUANTS[k % len(PRELU_QUANTS)] if dtype == "int8" else (None, None, None)
        if kind == "uniform":
            alpha = np.full(alpha_shape, -77 if dtype == "int8" else 0.3, dtype)
        elif dtype == "int8":
            alpha = rng.integers(-128, 128, alpha_shape).astype(np.int8)
        else:
            alpha = rng.uniform(-0.5, 1.5, alpha_shape).astype(np.float32)
        out_shape = np.broadcast_shapes(xs, alpha_shape)
        br.add(f"PRELU-{dtype}-{k}-{kind}", "PRELU",
               [(xs, dtype, qi, None), (alpha_shape, dtype, qa, None if kind == "input" else alpha)],
               out_shape, dtype, qo)
        feeds.append((xs, alpha if kind == "input" else None))
    return br, br.build(), feeds


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_prelu_matches_tflm(dtype):
    rng = np.random.default_rng(17)
    br, model, feeds = _prelu_model(dtype, rng)
    inputs = []
    for _ in range(3):
        xs = []
        for shape, alpha in feeds:
            every = shape == ALL_INT8.shape and dtype == "int8"  # every input value once
            xs.append(ALL_INT8 if every else random_like(shape, dtype, rng))
            if alpha is not None:
                xs.append(random_like(alpha.shape, dtype, rng))
        inputs.append(xs)
    tflm = run_tflm_batch([(model, inputs)], arena_size=TFLM_ARENA)[0]
    for ours_set, tflm_set in zip(run_mcugen(model, inputs), tflm, strict=True):
        for cid, o, t in zip(br.ids, ours_set, tflm_set, strict=True):
            assert_close(o, t, cid)


def test_prelu_with_one_alpha_value_is_a_table():
    graph = load_model(_prelu_model("int8", np.random.default_rng(0))[1])
    kernels = [activations.lower(op, graph).kernel for op in graph.operators]
    assert kernels == ["mg_prelu_s8"] * 3 + ["mg_lut_s8"] * 2 + ["mg_prelu_s8"] * 3


# ---- constant folding ----------------------------------------------------------------------------

def test_evaluate_matches_tflm():
    """evaluate() on constant inputs gives what TFLM computes for them."""
    rng = np.random.default_rng(23)
    br = Branches()
    for op, cases in INT8_CASES.items():
        qi, qo, options = cases[1]
        br.add(f"{op}-int8", op, [(ALL_INT8.shape, "int8", qi, ALL_INT8)], ALL_INT8.shape, "int8", qo, options)
    for k, (op, options) in enumerate(FLOAT_OPS):
        br.add(f"{op}-{k}-float", op, [((3, 7, 11), "float32", None, _float_input(rng))], (3, 7, 11), "float32",
               None, options)
    x = rng.integers(-128, 128, (1, 3, 4, 5)).astype(np.int8)
    alpha = rng.integers(-128, 128, (1, 1, 5)).astype(np.int8)
    br.add("PRELU-int8", "PRELU", [(x.shape, "int8", PRELU_QUANTS[1][0], x), (alpha.shape, "int8", PRELU_QUANTS[1][1], alpha)],
           x.shape, "int8", PRELU_QUANTS[1][2])
    xf, af = x.astype(np.float32) / 30, alpha.astype(np.float32) / 100
    br.add("PRELU-float", "PRELU", [(x.shape, "float32", None, xf), (alpha.shape, "float32", None, af)], x.shape, "float32")
    for op in ("LOGISTIC", "TANH"):
        for s in (2 ** -12, 0.0007):
            br.add(f"{op}-int16-{s}", op, [(ALL_INT16.shape, "int16", q(s, 0), ALL_INT16)], ALL_INT16.shape, "int16",
                   q(2 ** -15, 0))
    model = br.build()
    tflm = run_tflm_batch([(model, [[]])], arena_size=4 << 20)[0][0]
    graph = load_model(model)
    for cid, op, want in zip(br.ids, graph.operators, tflm, strict=True):
        (got,) = activations.evaluate(op, graph)
        assert_close(got, want, cid)


# ---- refusals ------------------------------------------------------------------------------------

def _lower_single(opcode, dtype, qi, qo, options=None):
    br = Branches()
    br.add("x", opcode, [((4,), dtype, qi, None)], (4,), dtype, qo, options)
    graph = load_model(br.build())
    return activations.lower(graph.operators[0], graph)


@pytest.mark.parametrize("opcode,dtype,qi,qo,match", [
    ("LOGISTIC", "int8", q(0.1, 0), q(1 / 256, 0), "zero point must be -128"),
    ("LOGISTIC", "int16", q(2 ** -12, 3), q(2 ** -15, 0), "zero points 0"),
    ("TANH", "int16", q(2 ** -12, 0), q(2 ** -14, 0), "2\\^-15"),
    ("TANH", "int16", q(4.0, 0), q(2 ** -15, 0), "too large"),
    ("RELU", "int16", q(0.1, 0), q(0.1, 0), "dtype int16"),
    ("HARD_SWISH", "int8", q(0.5, 0), q(0.001, 0), "too small"),
    ("ELU", "int8", None, None, "quantized"),
])
def test_unsupported_parameters_are_refused(opcode, dtype, qi, qo, match):
    with pytest.raises(Unsupported, match=match):
        _lower_single(opcode, dtype, qi, qo)


# ---- the generated C: strict flags and sanitizers ----------------------------------------------

def test_generated_c_is_strict_and_sanitizer_clean(tmp_path):
    rng = np.random.default_rng(3)
    br = Branches()
    for op in ("LOGISTIC", "HARD_SWISH"):
        qi, qo, options = INT8_CASES[op][0]
        br.add(op, op, [(ALL_INT8.shape, "int8", qi, None)], ALL_INT8.shape, "int8", qo, options)
    for op in ("LOGISTIC", "TANH"):
        br.add(op + "16", op, [((1, 4096), "int16", q(0.0007, 0), None)], (1, 4096), "int16", q(2 ** -15, 0))
    for op, options in FLOAT_OPS:
        br.add(op + "f", op, [((5, 9), "float32", None, None)], (5, 9), "float32", None, options)
    alpha8 = rng.integers(-128, 128, (1, 1, 3)).astype(np.int8)
    br.add("prelu8", "PRELU", [((2, 4, 3), "int8", q(0.05, -3), None), ((1, 1, 3), "int8", q(0.01, 0), alpha8)],
           (2, 4, 3), "int8", q(0.04, 5))
    br.add("prelu_f", "PRELU", [((2, 4, 3), "float32", None, None), ((4, 1), "float32", None, None)], (2, 4, 3), "float32")
    model = br.build()
    graph = load_model(model)
    inputs = [random_like(graph.tensor(t).shape, graph.tensor(t).dtype, rng) for t in graph.inputs]
    strict_c_check(model, tmp_path, inputs)


def test_sigmoid_table_is_sigmoid():
    """TFLM's int16 table is sigmoid(i / 24) in Q0.16 within 1.5 units (the int16 tests above
    check every entry against TFLM's outputs)."""
    i = np.arange(256)
    want = 65536 / (1 + np.exp(-i / 24))
    table = quant.sigmoid_table_q16().astype(np.int64)
    assert table.shape == (256,) and np.all(np.abs(table - want) <= 1.5) and np.all(np.diff(table) >= 0)


def test_scale_ratio_cases_discriminate(monkeypatch):
    """With float32 scale quotients (as TFLM's source reads) each RATIO_CASES table would differ,
    so the sweep above pins down that TFLM divides in double."""
    def float32_ratio(*factors, divisor):
        value = np.float32(1)
        for f in factors:
            value = np.float32(value * np.float32(f))
        return float(np.float32(value / np.float32(divisor)))

    def tables(op, qi, qo, options):
        br = Branches()
        br.add("x", op, [((4,), "int8", qi, None)], (4,), "int8", qo, options)
        graph = load_model(br.build())
        return activations.int8_table(graph.operators[0], graph.tensor(0), graph.tensor(1))

    cases = [(op, c) for op, cs in RATIO_CASES.items() for c in cs] + [("RELU", (PRELU_QUANTS[3][0], PRELU_QUANTS[3][2], None))]
    for op, (qi, qo, options) in cases:
        double = tables(op, qi, qo, options)
        with monkeypatch.context() as m:
            m.setattr(activations, "scale_ratio", float32_ratio)
            single = tables(op, qi, qo, options)
        assert np.any(double != single), (op, qi, qo)
