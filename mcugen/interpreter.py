"""`mcugen.Interpreter`: LiteRT's `tf.lite.Interpreter` API over the generated C compiled for the host.

The model is compiled to C when the interpreter is made; allocate_tensors() builds (or reuses from the
cache) the shared library and loads it. Same dict keys and error kinds as LiteRT.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np

from . import codegen, compiler
from .errors import MCUGenError
from .ir import Tensor, np_dtype
from .targets import host

_loaded_paths: set[str] = set()
_loaded_lock = threading.Lock()


def _load_private_copy(path: Path) -> tuple[ctypes.CDLL, str | None]:
    """dlopen shares one copy (and one static arena) per path, so a second interpreter of the same
    model gets a private copy of the library."""
    with _loaded_lock:
        if str(path) not in _loaded_paths:
            _loaded_paths.add(str(path))
            return ctypes.CDLL(str(path)), None
    fd, tmp = tempfile.mkstemp(prefix="mcugen-", suffix=".so")
    os.close(fd)
    shutil.copyfile(path, tmp)
    return ctypes.CDLL(tmp), tmp


class Interpreter:
    def __init__(self, model_path=None, model_content=None, experimental_delegates=None, num_threads=None,
                 experimental_op_resolver_type=None, experimental_preserve_all_tensors=False, **_ignored):
        if (model_path is None) == (model_content is None):
            raise ValueError("Exactly one of model_path and model_content must be given.")
        try:
            if model_path is not None:
                self._program = compiler.compile_model(model_path)
                label = os.path.basename(str(model_path))
            else:
                graph, digest = compiler.load(bytes(model_content))
                self._program = compiler.compile_graph(graph, digest)
                label = "model_content"
        except MCUGenError as e:
            raise ValueError(str(e)) from None
        self._name = "model"
        self._files = codegen.render(self._program, self._name, label)
        self._lib = None
        self._lib_copy = None
        self._inputs: dict[int, np.ndarray] = {}
        self._graph = self._program.graph

    def __del__(self):
        if getattr(self, "_lib_copy", None):
            try:
                os.unlink(self._lib_copy)
            except OSError:
                pass

    # -- setup ---------------------------------------------------------------------------------
    def allocate_tensors(self):
        if self._lib is not None:
            return
        lib, copy = _load_private_copy(host.build_shared_library(self._files))
        for fn, restype, argtypes in (("input", ctypes.c_void_p, [ctypes.c_int]), ("output", ctypes.c_void_p, [ctypes.c_int]),
                                      ("invoke", ctypes.c_int, []), ("reset", None, []), ("arena_data", ctypes.c_void_p, [])):
            f = getattr(lib, f"{self._name}_{fn}")
            f.restype, f.argtypes = restype, argtypes
        self._lib, self._lib_copy = lib, copy
        self._arena = lib.model_arena_data()

    def _require_allocated(self, msg: str):
        if self._lib is None:
            raise ValueError(msg)

    # -- details -------------------------------------------------------------------------------
    def _details(self, t: Tensor) -> dict:
        q = t.quant
        return {
            "name": t.name,
            "index": t.index,
            "shape": np.array(t.shape, np.int32),
            "shape_signature": np.array(t.shape_signature if t.shape_signature is not None else t.shape, np.int32),
            "dtype": np_dtype(t.dtype),
            "quantization": (float(q.scale[0]), int(q.zero_point[0])) if q is not None and q.scale.size == 1 else (0.0, 0),
            "quantization_parameters": {
                "scales": q.scale.astype(np.float32) if q is not None else np.zeros(0, np.float32),
                "zero_points": q.zero_point.astype(np.int32) if q is not None else np.zeros(0, np.int32),
                "quantized_dimension": q.axis if q is not None else 0,
                "block_size": 0,  # LiteRT's key for blockwise quantization, which TFLite files here never use
            },
            "sparsity_parameters": {},
        }

    def get_input_details(self):
        return [self._details(self._graph.tensor(t)) for t in self._graph.inputs]

    def get_output_details(self):
        return [self._details(self._graph.tensor(t)) for t in self._graph.outputs]

    def get_tensor_details(self):
        return [self._details(t) for t in self._graph.tensors]

    def get_signature_list(self):
        return {}

    # -- data ----------------------------------------------------------------------------------
    def _check_index(self, index: int):
        if not 0 <= index < len(self._graph.tensors):
            raise ValueError(f"Invalid tensor index {index} exceeds max tensor index {len(self._graph.tensors)}")

    def _view(self, index: int) -> np.ndarray | None:
        """The tensor's bytes in the arena (or its constant data), as a numpy array; None if not stored."""
        t = self._graph.tensor(index)
        if t.is_constant:
            return t.data
        if index not in self._program.offsets:
            return None
        self._require_allocated("Tensor data is null. Run allocate_tensors() first")
        ptr = self._arena + self._program.offsets[index]
        raw = (ctypes.c_uint8 * t.nbytes).from_address(ptr)
        return np.frombuffer(raw, dtype=np_dtype(t.dtype)).reshape(t.shape)

    def set_tensor(self, tensor_index, value):
        self._check_index(tensor_index)
        self._require_allocated("Cannot set tensor: Tensor is unallocated. Try calling allocate_tensors() first")
        t = self._graph.tensor(tensor_index)
        if tensor_index not in self._graph.inputs:
            raise ValueError(f"Cannot set tensor: tensor {tensor_index} '{t.name}' is not an input of the model")
        k = self._graph.inputs.index(tensor_index)
        value = np.asarray(value)
        if value.dtype != np_dtype(t.dtype):
            raise ValueError(f"Cannot set tensor: Got value of type {value.dtype.name.upper()} but expected type "
                             f"{np.dtype(np_dtype(t.dtype)).name.upper()} for input {k}, name: {t.name} ")
        if value.ndim != len(t.shape):
            raise ValueError(f"Cannot set tensor: Dimension mismatch. Got {value.ndim} but expected {len(t.shape)} for input {k}.")
        for d, (got, want) in enumerate(zip(value.shape, t.shape)):
            if got != want:
                raise ValueError(f"Cannot set tensor: Dimension mismatch. Got {got} but expected {want} for dimension {d} of input {k}.")
        self._view(tensor_index)[...] = value
        # The plan reuses input bytes once they are read (as TFLM does); keep a copy so a repeated
        # invoke and get_tensor(input) behave as in LiteRT.
        self._inputs[tensor_index] = value.copy()

    def get_tensor(self, tensor_index, subgraph_index=0):
        self._check_index(tensor_index)
        t = self._graph.tensor(tensor_index)
        if t.is_constant:
            return t.data.copy()
        self._require_allocated("Tensor data is null. Run allocate_tensors() first")
        if tensor_index in self._inputs:
            return self._inputs[tensor_index].copy()
        view = self._view(tensor_index)
        if view is None:
            raise ValueError(f"Tensor data is null: tensor {tensor_index} '{t.name}' is not kept in memory")
        return view.copy()

    def tensor(self, tensor_index):
        """A function returning a live numpy view of the tensor, as LiteRT's `tensor()`."""
        self._check_index(tensor_index)
        return lambda: self._view(tensor_index)

    def invoke(self):
        if self._lib is None:
            raise RuntimeError("Invoke called on model that is not ready.")
        for index, value in self._inputs.items():
            self._view(index)[...] = value
        status = self._lib.model_invoke()
        if status != 0:
            raise RuntimeError(f"invoke failed with status {status}")

    def reset_all_variables(self):
        self._require_allocated("Cannot reset variables: Tensor is unallocated. Try calling allocate_tensors() first")
        self._lib.model_reset()

    def resize_tensor_input(self, input_index, tensor_size, strict=False):
        t = self._graph.tensor(input_index)
        if tuple(int(d) for d in tensor_size) != tuple(t.shape):
            raise ValueError("mcugen compiles static shapes: resize_tensor_input cannot change the shape "
                             f"{list(t.shape)} of '{t.name}'")

    # -- mcugen extras -------------------------------------------------------------------------
    @property
    def program(self):
        """The compiled program (plan, steps) behind this interpreter."""
        return self._program
