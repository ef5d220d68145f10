"""Build small .tflite models in tests, the way the TFLite converter lays them out.

    mb = ModelBuilder()
    x = mb.add_input("x", (1, 8, 8, 3), "int8", scale=0.05, zero_point=-3)
    w = mb.add_const("w", weights, "int8", scale=np.array([...]), zero_point=0, axis=0)
    y = mb.add_tensor("y", (1, 8, 8, 4), "int8", scale=0.1, zero_point=5)
    mb.add_op("CONV_2D", [x, w, b], [y], {"padding": "SAME", "stride_w": 1, ...})
    mb.mark_output(y)
    model_bytes = mb.build()

Options use the schema's snake_case field names; enums may be given as strings
('SAME', 'RELU', 'DEFAULT', 'int32'). Options not given keep the schema defaults
(note: stride defaults to 0 there, so give strides explicitly).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import flatbuffers
import numpy as np
import tflite

TENSOR_TYPES = {
    "float32": tflite.TensorType.FLOAT32,
    "int8": tflite.TensorType.INT8,
    "uint8": tflite.TensorType.UINT8,
    "int16": tflite.TensorType.INT16,
    "int32": tflite.TensorType.INT32,
    "int64": tflite.TensorType.INT64,
    "bool": tflite.TensorType.BOOL,
}
NUMPY_TYPES = {
    "float32": np.float32, "int8": np.int8, "uint8": np.uint8, "int16": np.int16,
    "int32": np.int32, "int64": np.int64, "bool": np.bool_,
}

# Ops whose options table is not simply <OpNameInCamelCase>Options.
_OPTIONS_EXCEPTIONS = {
    "AVERAGE_POOL_2D": "Pool2DOptions",
    "MAX_POOL_2D": "Pool2DOptions",
    "L2_POOL_2D": "Pool2DOptions",
    "L2_NORMALIZATION": "L2NormOptions",
    "MEAN": "ReducerOptions",
    "SUM": "ReducerOptions",
    "REDUCE_PROD": "ReducerOptions",
    "REDUCE_MAX": "ReducerOptions",
    "REDUCE_MIN": "ReducerOptions",
    "REDUCE_ANY": "ReducerOptions",
    "REDUCE_ALL": "ReducerOptions",
    "MAXIMUM": "MaximumMinimumOptions",
    "MINIMUM": "MaximumMinimumOptions",
    "UNIDIRECTIONAL_SEQUENCE_RNN": "SequenceRNNOptions",
}
_OPTIONS_BY_NORMALIZED_NAME = {
    name.lower(): name for name in vars(tflite.BuiltinOptions) if not name.startswith("_")
}

# Option fields whose string values name members of a schema enum.
_ENUM_FIELDS = {
    "padding": tflite.Padding,
    "fused_activation_function": tflite.ActivationFunctionType,
    "weights_format": tflite.FullyConnectedOptionsWeightsFormat,
    "mode": tflite.MirrorPadMode,
    "kernel_type": tflite.LSTMKernelType,
    "combiner": tflite.CombinerType,
    "type": tflite.LSHProjectionType,
}


def options_type_name(opcode: str) -> str | None:
    """Name of the BuiltinOptions table for a builtin op, or None if it takes none."""
    if opcode in _OPTIONS_EXCEPTIONS:
        return _OPTIONS_EXCEPTIONS[opcode]
    return _OPTIONS_BY_NORMALIZED_NAME.get(opcode.replace("_", "").lower() + "options")


def _camel(snake: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_"))


def _enum_value(field_name: str, value):
    if not isinstance(value, str):
        return value
    enum = _ENUM_FIELDS.get(field_name)
    if enum is not None and hasattr(enum, value.upper()):
        return getattr(enum, value.upper())
    if value in TENSOR_TYPES:  # e.g. out_type='int32'
        return TENSOR_TYPES[value]
    if hasattr(tflite.TensorType, value.upper()):
        return getattr(tflite.TensorType, value.upper())
    raise ValueError(f"option {field_name}={value!r}: unknown enum value")


@dataclass
class _Tensor:
    name: str
    shape: tuple
    dtype: str
    scale: np.ndarray | None = None
    zero_point: np.ndarray | None = None
    axis: int = 0
    data: bytes | None = None
    shape_signature: tuple | None = None
    is_variable: bool = False


@dataclass
class _Op:
    opcode: str
    inputs: list
    outputs: list
    options: dict = field(default_factory=dict)
    version: int = 1


class ModelBuilder:
    def __init__(self, description: str = "mcugen test model"):
        self.description = description
        self.tensors: list[_Tensor] = []
        self.ops: list[_Op] = []
        self.inputs: list[int] = []
        self.outputs: list[int] = []

    # ---- tensors -------------------------------------------------------------------------

    def add_tensor(self, name, shape, dtype, scale=None, zero_point=None, axis=0,
                   shape_signature=None, is_variable=False, data=None) -> int:
        """Add a tensor; returns its index. `scale` may be an array (per-channel along `axis`)."""
        if dtype not in TENSOR_TYPES:
            raise ValueError(f"unsupported dtype {dtype!r}")
        scale_arr = zp_arr = None
        if scale is not None:
            scale_arr = np.atleast_1d(np.asarray(scale, dtype=np.float32))
            zp = 0 if zero_point is None else zero_point
            zp_arr = np.broadcast_to(np.asarray(zp, dtype=np.int64), scale_arr.shape).copy()
        elif zero_point is not None:
            raise ValueError(f"tensor {name!r}: zero_point without scale")
        self.tensors.append(_Tensor(
            name=name, shape=tuple(int(d) for d in shape), dtype=dtype, scale=scale_arr,
            zero_point=zp_arr, axis=int(axis), data=data,
            shape_signature=None if shape_signature is None else tuple(shape_signature),
            is_variable=is_variable))
        return len(self.tensors) - 1

    def add_input(self, name, shape, dtype, **kwargs) -> int:
        index = self.add_tensor(name, shape, dtype, **kwargs)
        self.inputs.append(index)
        return index

    def add_const(self, name, array, dtype=None, **kwargs) -> int:
        """A constant tensor holding `array` (cast to `dtype`, default: the array's own)."""
        array = np.asarray(array)
        if dtype is None:
            dtype = {v: k for k, v in NUMPY_TYPES.items()}[array.dtype.type]
        data = np.ascontiguousarray(array, dtype=np.dtype(NUMPY_TYPES[dtype]).newbyteorder("<"))
        return self.add_tensor(name, array.shape, dtype, data=data.tobytes(), **kwargs)

    def mark_input(self, index: int) -> None:
        self.inputs.append(index)

    def mark_output(self, index: int) -> None:
        self.outputs.append(index)

    # ---- operators -----------------------------------------------------------------------

    def add_op(self, opcode: str, inputs, outputs, options=None, version: int = 1) -> int:
        """Add a builtin op; -1 in `inputs` marks an omitted optional input."""
        if not hasattr(tflite.BuiltinOperator, opcode):
            raise ValueError(f"unknown builtin op {opcode!r}")
        if options and options_type_name(opcode) is None:
            raise ValueError(f"{opcode} takes no options")
        self.ops.append(_Op(opcode, list(inputs), list(outputs), dict(options or {}), version))
        return len(self.ops) - 1

    # ---- serialization -------------------------------------------------------------------

    def build(self) -> bytes:
        b = flatbuffers.Builder(1024)

        # Buffer 0 is the empty sentinel; every constant gets its own buffer after it.
        buffer_data = [None]
        tensor_buffer = []
        for t in self.tensors:
            if t.data is None:
                tensor_buffer.append(0)
            else:
                tensor_buffer.append(len(buffer_data))
                buffer_data.append(t.data)
        buffers = [self._buffer(b, data) for data in buffer_data]

        tensors = [self._tensor(b, t, buf) for t, buf in zip(self.tensors, tensor_buffer)]

        opcode_keys = []  # (opcode, version) in first-use order
        for op in self.ops:
            if (op.opcode, op.version) not in opcode_keys:
                opcode_keys.append((op.opcode, op.version))
        operators = [self._operator(b, op, opcode_keys.index((op.opcode, op.version)))
                     for op in self.ops]
        operator_codes = [self._operator_code(b, name, version) for name, version in opcode_keys]

        sg_name = b.CreateString("main")
        sg_tensors = self._offset_vector(b, tflite.SubGraphStartTensorsVector, tensors)
        sg_inputs = b.CreateNumpyVector(np.array(self.inputs, dtype=np.int32))
        sg_outputs = b.CreateNumpyVector(np.array(self.outputs, dtype=np.int32))
        sg_ops = self._offset_vector(b, tflite.SubGraphStartOperatorsVector, operators)
        tflite.SubGraphStart(b)
        tflite.SubGraphAddTensors(b, sg_tensors)
        tflite.SubGraphAddInputs(b, sg_inputs)
        tflite.SubGraphAddOutputs(b, sg_outputs)
        tflite.SubGraphAddOperators(b, sg_ops)
        tflite.SubGraphAddName(b, sg_name)
        subgraph = tflite.SubGraphEnd(b)

        description = b.CreateString(self.description)
        m_codes = self._offset_vector(b, tflite.ModelStartOperatorCodesVector, operator_codes)
        m_subgraphs = self._offset_vector(b, tflite.ModelStartSubgraphsVector, [subgraph])
        m_buffers = self._offset_vector(b, tflite.ModelStartBuffersVector, buffers)
        tflite.ModelStart(b)
        tflite.ModelAddVersion(b, 3)
        tflite.ModelAddOperatorCodes(b, m_codes)
        tflite.ModelAddSubgraphs(b, m_subgraphs)
        tflite.ModelAddDescription(b, description)
        tflite.ModelAddBuffers(b, m_buffers)
        model = tflite.ModelEnd(b)
        b.Finish(model, file_identifier=b"TFL3")
        return bytes(b.Output())

    @staticmethod
    def _offset_vector(b, start_fn, offsets):
        start_fn(b, len(offsets))
        for off in reversed(offsets):
            b.PrependUOffsetTRelative(off)
        return b.EndVector()

    @staticmethod
    def _buffer(b, data):
        data_vec = None
        if data:
            # 16-byte alignment so kernels may read weights with wide loads.
            b.StartVector(1, len(data), 16)
            b.head -= len(data)
            b.Bytes[b.head:b.head + len(data)] = data
            data_vec = b.EndVector()
        tflite.BufferStart(b)
        if data_vec is not None:
            tflite.BufferAddData(b, data_vec)
        return tflite.BufferEnd(b)

    @staticmethod
    def _tensor(b, t: _Tensor, buffer_index: int):
        name = b.CreateString(t.name)
        shape = b.CreateNumpyVector(np.array(t.shape, dtype=np.int32))
        signature = None
        if t.shape_signature is not None:
            signature = b.CreateNumpyVector(np.array(t.shape_signature, dtype=np.int32))
        # The converter writes a (possibly empty) quantization table for every tensor.
        scale = zero_point = None
        if t.scale is not None:
            scale = b.CreateNumpyVector(t.scale)
            zero_point = b.CreateNumpyVector(t.zero_point)
        tflite.QuantizationParametersStart(b)
        if scale is not None:
            tflite.QuantizationParametersAddScale(b, scale)
            tflite.QuantizationParametersAddZeroPoint(b, zero_point)
            tflite.QuantizationParametersAddQuantizedDimension(b, t.axis)
        quant = tflite.QuantizationParametersEnd(b)

        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, TENSOR_TYPES[t.dtype])
        tflite.TensorAddBuffer(b, buffer_index)
        tflite.TensorAddName(b, name)
        tflite.TensorAddQuantization(b, quant)
        if t.is_variable:
            tflite.TensorAddIsVariable(b, True)
        if signature is not None:
            tflite.TensorAddShapeSignature(b, signature)
        return tflite.TensorEnd(b)

    @staticmethod
    def _operator_code(b, opcode: str, version: int):
        code = getattr(tflite.BuiltinOperator, opcode)
        tflite.OperatorCodeStart(b)
        # Codes above 127 do not fit the old int8 field; the converter writes the placeholder.
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
        tflite.OperatorCodeAddBuiltinCode(b, code)
        tflite.OperatorCodeAddVersion(b, version)
        return tflite.OperatorCodeEnd(b)

    def _operator(self, b, op: _Op, opcode_index: int):
        options_type = options_type_name(op.opcode)
        options = self._options(b, options_type, op) if options_type else None
        inputs = b.CreateNumpyVector(np.array(op.inputs, dtype=np.int32))
        outputs = b.CreateNumpyVector(np.array(op.outputs, dtype=np.int32))
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, opcode_index)
        tflite.OperatorAddInputs(b, inputs)
        tflite.OperatorAddOutputs(b, outputs)
        if options is not None:
            tflite.OperatorAddBuiltinOptionsType(b, getattr(tflite.BuiltinOptions, options_type))
            tflite.OperatorAddBuiltinOptions(b, options)
        return tflite.OperatorEnd(b)

    @staticmethod
    def _options(b, type_name: str, op: _Op):
        """Write the options table through the generated <Type>Add<Field> functions."""
        values = {}
        for key, value in op.options.items():
            camel = _camel(key)
            add_fn = getattr(tflite, f"{type_name}Add{camel}", None)
            if add_fn is None:
                raise ValueError(f"{op.opcode}: {type_name} has no field {key!r}")
            if hasattr(tflite, f"{type_name}Start{camel}Vector"):
                # Vectors must be written before the table starts; all builtin-option vectors are int32.
                value = b.CreateNumpyVector(np.asarray(value, dtype=np.int32).reshape(-1))
            else:
                value = _enum_value(key, value)
                if isinstance(value, (np.generic,)):
                    value = value.item()
            values[add_fn] = value
        getattr(tflite, f"{type_name}Start")(b)
        for add_fn, value in values.items():
            add_fn(b, value)
        return getattr(tflite, f"{type_name}End")(b)
