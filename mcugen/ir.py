"""The intermediate representation: plain dataclasses and numpy arrays.

TFLite types never appear here; the front end translates everything.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# dtype name -> (numpy dtype, C type)
DTYPES = {
    "int8": (np.int8, "int8_t"),
    "uint8": (np.uint8, "uint8_t"),
    "int16": (np.int16, "int16_t"),
    "int32": (np.int32, "int32_t"),
    "int64": (np.int64, "int64_t"),
    "float32": (np.float32, "float"),
    "bool": (np.bool_, "uint8_t"),
}


def np_dtype(dtype: str):
    return DTYPES[dtype][0]


def c_type(dtype: str) -> str:
    return DTYPES[dtype][1]


@dataclass
class Quant:
    """Affine quantization: real = scale * (q - zero_point).

    `scale` and `zero_point` have one entry per tensor (per-tensor) or one per
    slice along `axis` (per-channel).
    """

    scale: np.ndarray  # float32
    zero_point: np.ndarray  # int64
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: Quant | None = None
    data: np.ndarray | None = None  # set for constants (weights, biases)
    is_variable: bool = False
    shape_signature: tuple[int, ...] | None = None  # as stored, with -1 for a dynamic batch

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(np_dtype(self.dtype)).itemsize

    @property
    def scale(self) -> float:
        """Per-tensor scale (first entry when per-channel)."""
        return float(self.quant.scale[0]) if self.quant else 0.0

    @property
    def zero_point(self) -> int:
        return int(self.quant.zero_point[0]) if self.quant else 0


@dataclass
class Operator:
    index: int  # position in the model's stored order
    opcode: str  # builtin operator name, e.g. "CONV_2D"
    inputs: list[int]  # tensor indices, -1 for an omitted optional input
    outputs: list[int]
    options: dict = field(default_factory=dict)  # snake_case option names -> values
    version: int = 1


@dataclass
class Graph:
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]
    name: str = "model"
    notes: list[str] = field(default_factory=list)  # things the user should know (e.g. batch -1 -> 1)

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]

    def producers(self) -> dict[int, int]:
        """tensor index -> index (in self.operators) of the op that writes it."""
        return {t: i for i, op in enumerate(self.operators) for t in op.outputs}
