"""Models made by the real TFLite converter (tests/models/, written by scripts/make_test_models.py):
every one runs through mcugen and TFLM on 3 random input sets, int outputs identical, float outputs
within 1e-5 relative of the output's largest value (mcugen.verify.compare).

These are the shapes of graph users bring: fused activations, per-channel weights, requantizing
QUANTIZE ops, float islands inside int8 models, open batch dimensions, and the converter's own
patterns (HARD_SWISH, PRELU, Conv1D as EXPAND_DIMS + CONV_2D + RESHAPE). The LSTM models are
stateful; here each input set starts from reset state on both sides (tests/test_op_lstm.py covers
state carried across invokes).

Exceptions to "TFLM is the oracle", each for a stated reason:
- an int8 RELU6 whose output quantization differs from its input's (the converter makes one for a
  standalone ReLU(6)): TFLM only clamps and never requantizes (DESIGN.md), so outputs that depend
  on one are compared with LiteRT's reference kernels;
- TFLM_REFUSES: models TFLM cannot run are compared with LiteRT's reference kernels (none today).
Models mcugen refuses must be refused only for the reasons in KNOWN_REFUSALS; once mcugen compiles
one, it is verified like the others.
"""
from __future__ import annotations

import os
import re
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import TESTS_DIR

import mcugen
from mcugen import compiler
from mcugen.errors import MCUGenError, ModelError, UnsupportedError
from mcugen.frontend.tflite import load_model
from mcugen.reference import ReferenceError, run_litert, run_tflm_batch
from mcugen.verify import compare, random_inputs, run_mcugen

MODELS = TESTS_DIR / "models"
NAMES = sorted(p.stem for p in MODELS.glob("*.tflite"))
N_SETS = 3
TFLM_ARENA = 1 << 20

# Model -> what mcugen may refuse it for: op names (UnsupportedError) or "dynamic shape" (ModelError).
KNOWN_REFUSALS = {
    # Open batch: a Dense on a 3-D tensor computes its RESHAPE's shape at run time (signature
    # [-1, -1], refused by the front end); behind it, the dilated Conv1D's SPACE_TO_BATCH_ND and
    # BATCH_TO_SPACE_ND have no kernels, and the shape arithmetic uses REDUCE_PROD.
    "open_batch_float": {"dynamic shape", "SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND", "REDUCE_PROD"},
}
# Model -> why TFLM cannot run it; compared with LiteRT's reference kernels instead.
TFLM_REFUSES: dict[str, str] = {}

# Ops the converter emitted for the models when they were made; a changed converter or script that
# loses one of them fails test_models_cover_ops instead of silently testing less.
EXPECTED_OPS = {
    "ADD", "ARG_MAX", "AVERAGE_POOL_2D", "BATCH_MATMUL", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D",
    "DEQUANTIZE", "ELU", "EXPAND_DIMS", "FULLY_CONNECTED", "GATHER", "HARD_SWISH", "L2_NORMALIZATION",
    "LEAKY_RELU", "LOGISTIC", "MAXIMUM", "MAX_POOL_2D", "MEAN", "MINIMUM", "MUL", "PACK", "PAD", "PRELU",
    "QUANTIZE", "RELU", "RELU6", "RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "SLICE",
    "SOFTMAX", "SPLIT", "SPLIT_V", "STRIDED_SLICE", "SUB", "SUM", "TANH", "TRANSPOSE", "TRANSPOSE_CONV",
    "UNIDIRECTIONAL_SEQUENCE_LSTM", "UNPACK",
}


def _refusal(path) -> str | None:
    """None if mcugen compiles the model; else why not, after checking the reasons are known ones."""
    name = path.stem
    try:
        compiler.compile_model(str(path))
        return None
    except UnsupportedError as e:
        reasons = {m.group(1) if (m := re.match(r"op \d+ (\w+)", p)) else p for p in e.problems}
    except ModelError as e:
        reasons = {"dynamic shape"} if "dynamic shape" in str(e) else {str(e)}
    except MCUGenError as e:
        reasons = {str(e)}
    unexpected = reasons - KNOWN_REFUSALS.get(name, set())
    assert not unexpected, f"{name}: mcugen refuses it for {sorted(unexpected)}"
    return ", ".join(sorted(reasons))


def _relu6_dependent_outputs(graph) -> list[int]:
    """Output positions that depend on an int8 RELU6 which changes quantization (TFLM only clamps)."""
    tainted = set()
    for op in graph.operators:  # stored order is a valid execution order
        ins = [t for t in op.inputs if t >= 0]
        if op.opcode == "RELU6":
            x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
            if x.dtype == "int8" and (x.quant.scale[0], x.quant.zero_point[0]) != (y.quant.scale[0], y.quant.zero_point[0]):
                tainted.update(op.outputs)
        if any(t in tainted for t in ins):
            tainted.update(op.outputs)
    return [k for k, t in enumerate(graph.outputs) if t in tainted]


@pytest.fixture(scope="module")
def runs():
    """name -> (refusal or None, input sets, mcugen outputs, reference outputs, reference name per output)."""
    results, compiled = {}, {}
    for name in NAMES:
        path = MODELS / f"{name}.tflite"
        why = _refusal(path)
        if why is not None:
            results[name] = (why, None, None, None, None)
            continue
        it = mcugen.Interpreter(model_path=str(path))
        compiled[name] = it
    # The C builds dominate (seconds per model, cached by content afterwards): run them side by side.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(lambda it: it.allocate_tensors(), compiled.values()))
    inputs, ours = {}, {}
    for name, it in compiled.items():
        inputs[name] = random_inputs(it.get_input_details(), N_SETS, seed=zlib.crc32(name.encode()))
        ours[name] = run_mcugen(it, inputs[name])
    names = list(compiled)
    tflm = run_tflm_batch([((MODELS / f"{n}.tflite").read_bytes(), inputs[n]) for n in names],
                          arena_size=TFLM_ARENA, errors="return")
    for name, ref in zip(names, tflm):
        data = (MODELS / f"{name}.tflite").read_bytes()
        n_out = len(ours[name][0])
        engines = ["TFLM"] * n_out
        if isinstance(ref, ReferenceError):
            if name not in TFLM_REFUSES:
                raise AssertionError(f"{name}: TFLM failed: {ref}")
            ref, engines = run_litert(data, inputs[name]), ["LiteRT"] * n_out
        relu6 = _relu6_dependent_outputs(load_model(data))
        if relu6:
            litert = run_litert(data, inputs[name])
            for k in relu6:
                for s in range(N_SETS):
                    ref[s][k] = litert[s][k]
                engines[k] = "LiteRT"
        results[name] = (None, inputs[name], ours[name], ref, engines)
    return results


@pytest.mark.parametrize("name", NAMES)
def test_converter_model_matches_reference(name, runs):
    why, sets, ours, ref, engines = runs[name]
    if why is not None:
        pytest.xfail(f"mcugen refuses {name} (known): {why}")
    assert len(ours) == len(ref) == N_SETS
    for s in range(N_SETS):
        assert len(ours[s]) == len(ref[s])
        for k, (o, r) in enumerate(zip(ours[s], ref[s])):
            assert o.dtype == np.asarray(r).dtype, (name, k, o.dtype, np.asarray(r).dtype)
            bad, max_diff, ok = compare(o, r)
            assert ok, (f"{name} input set {s} output {k} ({o.dtype}{list(o.shape)}) vs {engines[k]}: "
                        f"{bad}/{o.size} mismatched, max abs diff {max_diff}")


def test_relu6_exception_is_needed(runs):
    """The one LiteRT-compared output really is one where TFLM does not requantize: if TFLM ever
    agrees with LiteRT there, the exception should go."""
    name = "activations_int8"
    _, sets, ours, ref, engines = runs[name]
    assert engines.count("LiteRT") == 1
    k = engines.index("LiteRT")
    tflm = run_tflm_batch([((MODELS / f"{name}.tflite").read_bytes(), sets)], arena_size=TFLM_ARENA)[0]
    assert not compare(tflm[0][k], ref[0][k])[2]
    assert compare(ours[0][k], ref[0][k])[2]


def test_models_cover_ops():
    ops = set()
    for name in NAMES:
        data = (MODELS / f"{name}.tflite").read_bytes()
        assert len(data) < 60_000, name
        if name == "open_batch_float":  # the front end refuses its graph (see KNOWN_REFUSALS)
            continue
        ops |= {op.opcode for op in load_model(data).operators}
    assert EXPECTED_OPS <= ops, sorted(EXPECTED_OPS - ops)
