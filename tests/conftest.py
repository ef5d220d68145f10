"""Shared pytest setup: import paths, the shared real models, small helpers."""
from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
# Real models are read-only test data next to the repo, never copied into it.
MODELS_DIR = REPO_ROOT.parent / "shared" / "tflite-models"

# `from tflite_builder import ModelBuilder` and `import mcugen` without installing anything.
for path in (str(TESTS_DIR), str(REPO_ROOT)):
    if path not in sys.path:
        sys.path.insert(0, path)


@pytest.fixture(scope="session")
def models_dir() -> Path:
    if not MODELS_DIR.is_dir():
        pytest.skip(f"shared models folder {MODELS_DIR} is absent")
    return MODELS_DIR


def shared_model(name: str) -> bytes:
    """Bytes of ../shared/tflite-models/<name>.tflite; skips the test when the folder is absent."""
    if not MODELS_DIR.is_dir():
        pytest.skip(f"shared models folder {MODELS_DIR} is absent")
    return (MODELS_DIR / f"{name}.tflite").read_bytes()


def shared_model_names() -> list[str]:
    """Names (without .tflite) of all shared models, for parametrize; empty when absent."""
    return sorted(p.stem for p in MODELS_DIR.glob("*.tflite")) if MODELS_DIR.is_dir() else []


def random_input(shape, dtype, rng: np.random.Generator) -> np.ndarray:
    """Random values covering the whole range of integer dtypes, N(0, 1) for floats."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    return rng.standard_normal(size=shape).astype(dtype)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def stream_inputs_scalar(seed, seq, sizes, is_float) -> bytes:
    """The default stream input source of the validation firmware (protocol.py's docstring), one value
    at a time: an independent check of protocol.stream_inputs and of the C in mg_validate.c."""
    m = 0xFFFFFFFF
    x = (seed ^ (seq * 0x9E3779B9)) & m or 0x6D2B79F5
    out = b""
    for n, f in zip(sizes, is_float):
        for _ in range(n // 4 if f else n):
            x ^= (x << 13) & m
            x ^= x >> 17
            x ^= (x << 5) & m
            # (float)(x >> 8) / 2^23 - 1 is exact in float32: an integer over 2^23 in [-1, 1)
            out += struct.pack("<f", ((x >> 8) - (1 << 23)) / (1 << 23)) if f else bytes([x >> 24])
    return out
