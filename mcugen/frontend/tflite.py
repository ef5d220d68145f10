"""TFLite flatbuffer -> ir.Graph. The only module that knows the TFLite schema.

Every way a file can be wrong ends in a ModelError with a message for people; no other exception
escapes `load_model`.
"""
from __future__ import annotations

import os
import re

import numpy as np
import tflite

from ..errors import ModelError
from ..ir import DTYPES, Graph, Operator, Quant, Tensor

_TENSOR_TYPES = {v: k.lower() for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
_BUILTIN_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_OPTION_TYPES = {v: k for k, v in vars(tflite.BuiltinOptions).items() if not k.startswith("_")}
_ENUM_FIELDS = {
    "padding": tflite.Padding,
    "fused_activation_function": tflite.ActivationFunctionType,
    "weights_format": tflite.FullyConnectedOptionsWeightsFormat,
}
_ENUM_NAMES = {field: {v: k for k, v in vars(enum).items() if not k.startswith("_")} for field, enum in _ENUM_FIELDS.items()}
_BATCH_NOTE = "the model has a dynamic batch dimension (-1)"
CONTROL_FLOW_OPS = {"IF", "WHILE", "CALL_ONCE", "CALL"}


def read_model_file(path: str) -> bytes:
    if not os.path.exists(path):
        raise ModelError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise ModelError(f"{path}: not a file")
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ModelError(f"{path}: cannot read: {e.strerror}") from None


def load_model(data: bytes, name: str = "model") -> Graph:
    """Parse TFLite flatbuffer bytes into a Graph, validating everything the later stages rely on."""
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelError(f"{name}: not a TFLite model (no 'TFL3' flatbuffer identifier)")
    try:
        return _Parser(bytes(data), name).graph()
    except ModelError:
        raise
    except Exception as e:  # the flatbuffers reader raises anything on corrupt offsets
        raise ModelError(f"{name}: corrupt or truncated TFLite file ({type(e).__name__}: {e})") from None


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()  # DilationHFactor -> dilation_h_factor


class _Parser:
    def __init__(self, data: bytes, name: str):
        self.data = data
        self.name = name
        self.model = tflite.Model.GetRootAs(data, 0)

    def fail(self, msg: str):
        raise ModelError(f"{self.name}: {msg}")

    def graph(self) -> Graph:
        m = self.model
        if m.SubgraphsLength() < 1:
            self.fail("the model has no subgraph")
        opcodes = [self.opcode_name(m.OperatorCodes(i)) for i in range(m.OperatorCodesLength())]
        sg = m.Subgraphs(0)
        notes: list[str] = []
        ops_used = set()
        for s in range(m.SubgraphsLength()):
            g = m.Subgraphs(s)
            for i in range(g.OperatorsLength()):
                idx = g.Operators(i).OpcodeIndex()
                if idx >= len(opcodes):
                    self.fail(f"operator {i} of subgraph {s} refers to operator code {idx}, but the model has {len(opcodes)}")
                ops_used.add(opcodes[idx])
        if ops_used & CONTROL_FLOW_OPS:
            self.fail(f"control flow ({', '.join(sorted(ops_used & CONTROL_FLOW_OPS))}) across {m.SubgraphsLength()} subgraphs is not supported")
        if m.SubgraphsLength() > 1:
            notes.append(f"the model has {m.SubgraphsLength()} subgraphs; only the first (main) one is compiled")

        buffers = [self.buffer_bytes(m, i) for i in range(m.BuffersLength())]
        tensors = [self.tensor(sg.Tensors(i), i, buffers, notes) for i in range(sg.TensorsLength())]
        n = len(tensors)

        def check_indices(indices, what):
            for t in indices:
                if not -1 <= t < n:
                    self.fail(f"{what} refers to tensor {t}, but the subgraph has {n} tensors")
            return indices

        operators = []
        for i in range(sg.OperatorsLength()):
            o = sg.Operators(i)
            opcode = opcodes[o.OpcodeIndex()]
            ins = check_indices([int(t) for t in o.InputsAsNumpy()] if o.InputsLength() else [], f"operator {i} ({opcode})")
            outs = check_indices([int(t) for t in o.OutputsAsNumpy()] if o.OutputsLength() else [], f"operator {i} ({opcode})")
            if -1 in outs:
                self.fail(f"operator {i} ({opcode}) has an omitted output")
            operators.append(Operator(i, opcode, ins, outs, self.options(o), m.OperatorCodes(o.OpcodeIndex()).Version()))
        inputs = check_indices([int(t) for t in sg.InputsAsNumpy()] if sg.InputsLength() else [], "the subgraph inputs")
        outputs = check_indices([int(t) for t in sg.OutputsAsNumpy()] if sg.OutputsLength() else [], "the subgraph outputs")
        if not outputs:
            self.fail("the model has no outputs")
        return Graph(tensors, operators, inputs, outputs, self.name, notes)

    def opcode_name(self, code) -> str:
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = _BUILTIN_NAMES.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            custom = code.CustomCode()
            return f"CUSTOM:{custom.decode('utf-8', 'replace') if custom else '?'}"
        return name

    def buffer_bytes(self, m, i) -> bytes:
        b = m.Buffers(i)
        offset, size = b.Offset(), b.Size()
        if offset > 1:  # models over 2 GB keep data after the flatbuffer, addressed from the file start
            if offset + size > len(self.data):
                self.fail(f"buffer {i} points outside the file (bytes {offset}..{offset + size} of {len(self.data)})")
            return self.data[offset:offset + size]
        if b.DataLength() == 0:
            return b""
        start = b._tab.Vector(b._tab.Offset(4))
        end = start + b.DataLength()
        if end > len(self.data):
            self.fail(f"buffer {i} points outside the file (bytes {start}..{end} of {len(self.data)})")
        return self.data[start:end]

    def tensor(self, t, index, buffers, notes) -> Tensor:
        name = (t.Name() or b"").decode("utf-8", "replace") or f"tensor_{index}"
        type_name = _TENSOR_TYPES.get(t.Type(), f"type {t.Type()}")
        dtype = type_name  # a dtype outside ir.DTYPES is rejected by the ops that use it
        if t.Sparsity() is not None:
            self.fail(f"tensor {index} '{name}' is sparse; sparse tensors are not supported")
        shape = [int(d) for d in t.ShapeAsNumpy()] if t.ShapeLength() else []
        signature = [int(d) for d in t.ShapeSignatureAsNumpy()] if t.ShapeSignatureLength() else list(shape)
        if any(d < 0 for d in signature[1:]) or any(d < 0 for d in shape[1:]):
            self.fail(f"tensor {index} '{name}' has a dynamic shape {signature}; only the batch dimension may be -1")
        if (signature and signature[0] < 0) or (shape and shape[0] < 0):
            shape[0] = 1
            if not any(n.startswith(_BATCH_NOTE) for n in notes):
                notes.append(f"{_BATCH_NOTE}; compiled with batch 1")
        quant = None
        q = t.Quantization()
        if q is not None and q.ScaleLength() > 0:
            if q.DetailsType() != 0:
                self.fail(f"tensor {index} '{name}' uses custom quantization details, which are not supported")
            zp = q.ZeroPointAsNumpy() if q.ZeroPointLength() else np.zeros(q.ScaleLength(), np.int64)
            quant = Quant(np.array(q.ScaleAsNumpy(), np.float32), np.array(zp, np.int64), int(q.QuantizedDimension()))
            if not np.all(np.isfinite(quant.scale)) or np.any(quant.scale < 0):
                self.fail(f"tensor {index} '{name}' has an invalid quantization scale {quant.scale[:4].tolist()}")
            if quant.zero_point.size not in (1, quant.scale.size):
                self.fail(f"tensor {index} '{name}' has {quant.scale.size} scales but {quant.zero_point.size} zero points")
        data = None
        b = t.Buffer()
        if b >= len(buffers):
            self.fail(f"tensor {index} '{name}' refers to buffer {b}, but the model has {len(buffers)}")
        raw = buffers[b] if b > 0 else b""
        if b > 0 and not raw and shape and 0 in shape and dtype in DTYPES:
            data = np.zeros(shape, DTYPES[dtype][0])  # an empty constant (e.g. MEAN over no axes)
        if raw:
            if dtype not in DTYPES:
                self.fail(f"tensor {index} '{name}' holds constant data of unsupported type {dtype}")
            itemsize = np.dtype(DTYPES[dtype][0]).itemsize
            count = int(np.prod(shape)) if shape else 1
            if len(raw) != count * itemsize:
                self.fail(f"tensor {index} '{name}' has {len(raw)} bytes of data, but its shape {shape} of {dtype} needs {count * itemsize}")
            data = np.frombuffer(raw, dtype=np.dtype(DTYPES[dtype][0]).newbyteorder("<")).reshape(shape).copy()
        return Tensor(index, name, tuple(shape), dtype, quant, data, bool(t.IsVariable()), tuple(signature))

    def options(self, o) -> dict:
        kind = _OPTION_TYPES.get(o.BuiltinOptionsType(), "NONE")
        table = o.BuiltinOptions()
        if kind == "NONE" or table is None:
            return {}
        cls = getattr(tflite, kind, None)
        if cls is None:
            return {}
        opts = cls()
        opts.Init(table.Bytes, table.Pos)
        result = {}
        members = set(dir(cls))
        for attr in sorted(members):
            if attr.startswith("_") or attr in ("Init",) or attr.startswith("GetRootAs") or attr.endswith("BufferHasIdentifier"):
                continue
            if attr.endswith(("AsNumpy", "Length", "IsNone")):
                continue
            key = _snake(attr)
            if attr + "AsNumpy" in members:
                value = getattr(opts, attr + "AsNumpy")()
                result[key] = [] if isinstance(value, int) else [v.item() for v in value]
                continue
            try:
                value = getattr(opts, attr)()
            except TypeError:
                continue  # a sub-table or vector accessor that needs an argument
            if isinstance(value, (bool, int, float)):
                if key in _ENUM_NAMES:
                    value = _ENUM_NAMES[key].get(value, value)
                result[key] = value
        return result
