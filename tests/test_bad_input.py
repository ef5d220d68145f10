"""Bad input gets one clear message, exit status 2, no traceback and no output.

Most cases call mcugen.cli.main in-process (fast; an escaping exception fails the test, which is the
in-process form of "no traceback"); a few run `python -m mcugen` to check the real exit status and stderr.
"""
from __future__ import annotations

import os
import struct
import subprocess
import sys
from unittest import mock

import numpy as np
import pytest
import tflite
from conftest import MODELS_DIR, REPO_ROOT, shared_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tflite_builder import ModelBuilder

import mcugen
from mcugen import compiler
from mcugen.cli import main
from mcugen.errors import MCUGenError, ModelError

HELLO_INT8 = "tflm_hello_world_int8"
BAD_STATUS = 2

# ---- models ------------------------------------------------------------------------------------


def add_float_fc(mb: ModelBuilder, x: int, n_in: int, n_out: int, name: str) -> int:
    rng = np.random.default_rng(n_in * 100 + n_out)
    w = mb.add_const(f"{name}_w", rng.standard_normal((n_out, n_in)).astype(np.float32))
    b = mb.add_const(f"{name}_b", rng.standard_normal(n_out).astype(np.float32))
    y = mb.add_tensor(name, (1, n_out), "float32")
    mb.add_op("FULLY_CONNECTED", [x, w, b], [y], {"fused_activation_function": "NONE"})
    return y


def fc_model(input_signature=None) -> bytes:
    mb = ModelBuilder()
    x = mb.add_input("x", (1, 4), "float32", shape_signature=input_signature)
    mb.mark_output(add_float_fc(mb, x, 4, 3, "y"))
    return mb.build()


class _CustomOpBuilder(ModelBuilder):
    """Writes op code CUSTOM with a custom_code name, as the converter does for custom ops."""

    custom_code = "MyFancyOp"

    def _operator_code(self, b, opcode, version):
        if opcode != "CUSTOM":
            return ModelBuilder._operator_code(b, opcode, version)
        name = b.CreateString(self.custom_code)
        tflite.OperatorCodeStart(b)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, tflite.BuiltinOperator.CUSTOM)
        tflite.OperatorCodeAddBuiltinCode(b, tflite.BuiltinOperator.CUSTOM)
        tflite.OperatorCodeAddCustomCode(b, name)
        tflite.OperatorCodeAddVersion(b, version)
        return tflite.OperatorCodeEnd(b)


def custom_op_model() -> bytes:
    mb = _CustomOpBuilder()
    x = mb.add_input("x", (1, 4), "float32")
    h = add_float_fc(mb, x, 4, 4, "h")
    y = mb.add_tensor("y", (1, 4), "float32")
    mb.add_op("CUSTOM", [h], [y])
    mb.mark_output(y)
    return mb.build()


def two_unsupported_ops_model() -> bytes:
    mb = ModelBuilder()
    x = mb.add_input("x", (1, 4), "float32")
    h = mb.add_tensor("h", (1, 4), "float32")
    mb.add_op("COS", [x], [h])
    h2 = add_float_fc(mb, h, 4, 4, "h2")
    y = mb.add_tensor("y", (1, 4), "float32")
    mb.add_op("SIN", [h2], [y])
    mb.mark_output(y)
    return mb.build()


class _SparseBuilder(ModelBuilder):
    """Gives the tensors named in `sparse` a (trivially dense-encoded) SparsityParameters table."""

    def __init__(self, sparse: set[str]):
        super().__init__()
        self.sparse = sparse

    def _tensor(self, b, t, buffer_index):
        if t.name not in self.sparse:
            return ModelBuilder._tensor(b, t, buffer_index)
        dims = []
        for size in t.shape:
            tflite.DimensionMetadataStart(b)
            tflite.DimensionMetadataAddFormat(b, tflite.DimensionType.DENSE)
            tflite.DimensionMetadataAddDenseSize(b, size)
            dims.append(tflite.DimensionMetadataEnd(b))
        order = b.CreateNumpyVector(np.arange(len(t.shape), dtype=np.int32))
        tflite.SparsityParametersStartDimMetadataVector(b, len(dims))
        for d in reversed(dims):
            b.PrependUOffsetTRelative(d)
        dim_vector = b.EndVector()
        tflite.SparsityParametersStart(b)
        tflite.SparsityParametersAddTraversalOrder(b, order)
        tflite.SparsityParametersAddDimMetadata(b, dim_vector)
        sparsity = tflite.SparsityParametersEnd(b)
        # The builder writes the tensor table itself; add the sparsity field beside its quantization.
        add_quantization = tflite.TensorAddQuantization

        def add_both(builder, quant):
            add_quantization(builder, quant)
            tflite.TensorAddSparsity(builder, sparsity)

        with mock.patch.object(tflite, "TensorAddQuantization", add_both):
            return ModelBuilder._tensor(b, t, buffer_index)


def sparse_model() -> bytes:
    mb = _SparseBuilder({"y_w"})
    x = mb.add_input("x", (1, 4), "float32")
    mb.mark_output(add_float_fc(mb, x, 4, 3, "y"))
    data = mb.build()
    assert tflite.Model.GetRootAs(data, 0).Subgraphs(0).Tensors(1).Sparsity() is not None
    return data


# ---- flatbuffer surgery on a built model --------------------------------------------------------


def _field_position(table, vtable_offset: int) -> int:
    o = table._tab.Offset(vtable_offset)
    assert o, "field absent from the table"
    return table._tab.Pos + o


def _put_u32(data: bytes, pos: int, value: int) -> bytes:
    return data[:pos] + struct.pack("<I", value) + data[pos + 4:]


def flipped_buffer_offset_model() -> bytes:
    """The offset to a buffer's data vector gets a high byte flipped, so it points far outside the file."""
    data = fc_model()
    model = tflite.Model.GetRootAs(data, 0)
    i = next(i for i in range(model.BuffersLength()) if model.Buffers(i).DataLength())
    pos = _field_position(model.Buffers(i), 4) + 3  # Buffer.data; +3 is the uoffset's high byte
    return data[:pos] + bytes([data[pos] ^ 0x40]) + data[pos + 1:]


def tensor_buffer_out_of_range_model() -> bytes:
    data = fc_model()
    tensors = tflite.Model.GetRootAs(data, 0).Subgraphs(0)
    t = next(tensors.Tensors(i) for i in range(tensors.TensorsLength()) if tensors.Tensors(i).Buffer())
    return _put_u32(data, _field_position(t, 8), 77)  # Tensor.buffer


def op_tensor_out_of_range_model() -> bytes:
    data = fc_model()
    op = tflite.Model.GetRootAs(data, 0).Subgraphs(0).Operators(0)
    first_input = op._tab.Vector(op._tab.Offset(6))  # Operator.inputs[0]
    return _put_u32(data, first_input, 1234)


# ---- running the CLI ---------------------------------------------------------------------------


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def run_cli_process(*argv) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "mcugen", *map(str, argv)], capture_output=True, text=True,
                          env=env, cwd=REPO_ROOT, timeout=120)


@pytest.fixture
def npy_input(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((1, 4), np.float32))
    return path


def commands(model, tmp_path, npy_input):
    """Every command that reads a model, each writing (if it wrote anything) below tmp_path/'out*'."""
    return {
        "inspect": ["inspect", model],
        "inspect-json": ["inspect", "--json", model],
        "generate": ["generate", model, "-o", tmp_path / "out"],
        "run": ["run", model, "--input", npy_input, "--output", tmp_path / "out.npy"],
        "verify": ["verify", model, "--inputs", "1"],
    }


def assert_rejected(capsys, tmp_path, npy_input, model, *expected, skip=()):
    """Every command exits 2 with a message containing all of `expected`, and writes nothing."""
    for name, argv in commands(model, tmp_path, npy_input).items():
        if name in skip:
            continue
        status, out, err = run_cli(capsys, *argv)
        assert status == BAD_STATUS, (name, status, out, err)
        assert err.startswith("mcugen: error: "), (name, err)
        for text in expected:
            assert text in err, (name, text, err)
        assert not list(tmp_path.glob("out*")), f"{name} wrote output"


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


# ---- files that are not models -------------------------------------------------------------------


def test_missing_path(capsys, tmp_path, npy_input):
    assert_rejected(capsys, tmp_path, npy_input, tmp_path / "nope.tflite", "nope.tflite", "no such file")


def test_directory(capsys, tmp_path, npy_input):
    folder = tmp_path / "a_folder.tflite"
    folder.mkdir()
    assert_rejected(capsys, tmp_path, npy_input, folder, "a_folder.tflite", "not a file")


def test_empty_file(capsys, tmp_path, npy_input):
    assert_rejected(capsys, tmp_path, npy_input, write(tmp_path, "empty.tflite", b""), "not a TFLite model")


def test_random_bytes(capsys, tmp_path, npy_input):
    data = np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    assert_rejected(capsys, tmp_path, npy_input, write(tmp_path, "random.tflite", data), "not a TFLite model")


def test_random_bytes_with_identifier(capsys, tmp_path, npy_input):
    data = bytearray(np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    data[4:8] = b"TFL3"
    assert_rejected(capsys, tmp_path, npy_input, write(tmp_path, "random.tflite", bytes(data)), "random.tflite")


def test_text_file(capsys, tmp_path, npy_input):
    path = write(tmp_path, "notes.tflite", b"This is a text file, not a model.\n" * 20)
    assert_rejected(capsys, tmp_path, npy_input, path, "not a TFLite model")


# ---- broken models -------------------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.002, 0.01, 0.05, 0.1, 0.25, 0.4, 0.5, 0.7, 0.9, 0.999])
def test_truncated_model(capsys, tmp_path, npy_input, fraction):
    data = shared_model(HELLO_INT8)
    cut = max(int(len(data) * fraction), 1)
    path = write(tmp_path, "cut.tflite", data[:cut])
    expected = "not a TFLite model" if cut < 8 else "corrupt or truncated"
    assert_rejected(capsys, tmp_path, npy_input, path, "cut.tflite", expected)


def test_flipped_buffer_offset(capsys, tmp_path, npy_input):
    path = write(tmp_path, "flipped.tflite", flipped_buffer_offset_model())
    assert_rejected(capsys, tmp_path, npy_input, path, "flipped.tflite")


def test_tensor_buffer_index_out_of_range(capsys, tmp_path, npy_input):
    path = write(tmp_path, "bufidx.tflite", tensor_buffer_out_of_range_model())
    assert_rejected(capsys, tmp_path, npy_input, path, "refers to buffer 77")


def test_operator_tensor_index_out_of_range(capsys, tmp_path, npy_input):
    path = write(tmp_path, "opidx.tflite", op_tensor_out_of_range_model())
    assert_rejected(capsys, tmp_path, npy_input, path, "refers to tensor 1234")


def test_sparse_tensor(capsys, tmp_path, npy_input):
    assert_rejected(capsys, tmp_path, npy_input, write(tmp_path, "sparse.tflite", sparse_model()),
                    "'y_w'", "sparse")


def test_dynamic_non_batch_dimension(capsys, tmp_path, npy_input):
    path = write(tmp_path, "dynamic.tflite", fc_model(input_signature=(1, -1)))
    assert_rejected(capsys, tmp_path, npy_input, path, "'x'", "dynamic shape", "[1, -1]")


# ---- unsupported ops: every command that needs C refuses; inspect lists them all ------------------


def test_custom_op(capsys, tmp_path, npy_input):
    path = write(tmp_path, "custom.tflite", custom_op_model())
    assert_rejected(capsys, tmp_path, npy_input, path, "op 1 CUSTOM:MyFancyOp", "custom",
                    skip=("inspect", "inspect-json"))


def test_all_unsupported_ops_listed_at_once(capsys, tmp_path, npy_input):
    path = write(tmp_path, "two.tflite", two_unsupported_ops_model())
    assert_rejected(capsys, tmp_path, npy_input, path, "2 unsupported op(s)", "op 0 COS", "op 2 SIN",
                    skip=("inspect", "inspect-json"))
    status, out, err = run_cli(capsys, "inspect", path)
    assert status == 0 and not err
    assert "op 0 COS" in out and "op 2 SIN" in out and "UNSUPPORTED" in out


def test_unsupported_ops_process(tmp_path):
    """The real process: status 2, both op names on stderr, no traceback, nothing written."""
    path = write(tmp_path, "two.tflite", two_unsupported_ops_model())
    out = tmp_path / "out"
    proc = run_cli_process("generate", path, "-o", out)
    assert proc.returncode == BAD_STATUS
    assert "Traceback" not in proc.stderr
    assert "COS" in proc.stderr and "SIN" in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize("case", ["missing", "directory", "random", "truncated", "custom"])
def test_bad_model_process(tmp_path, case):
    if case == "missing":
        path = tmp_path / "missing.tflite"
    elif case == "directory":
        path = tmp_path
    elif case == "random":
        path = write(tmp_path, "random.tflite", os.urandom(1000))
    elif case == "truncated":
        path = write(tmp_path, "cut.tflite", shared_model(HELLO_INT8)[:1500])
    else:
        path = write(tmp_path, "custom.tflite", custom_op_model())
    out = tmp_path / "out"
    for argv in (["generate", path, "-o", out], ["verify", path]):
        proc = run_cli_process(*argv)
        assert proc.returncode == BAD_STATUS, (argv, proc.stderr)
        assert proc.stderr.startswith("mcugen: error: "), proc.stderr
        assert "Traceback" not in proc.stderr
        assert not out.exists()


# ---- a dynamic batch works, with a note -----------------------------------------------------------


def test_dynamic_batch_compiles_with_a_note(capsys, tmp_path):
    path = write(tmp_path, "batch.tflite", fc_model(input_signature=(-1, 4)))
    for argv in (["inspect", path], ["generate", path, "-o", tmp_path / "out"]):
        status, out, err = run_cli(capsys, *argv)
        assert status == 0, err
        assert "note: the model has a dynamic batch dimension (-1); compiled with batch 1" in out
    assert (tmp_path / "out" / "batch.c").is_file()
    it = mcugen.Interpreter(model_path=str(path))
    d = it.get_input_details()[0]
    assert list(d["shape"]) == [1, 4] and list(d["shape_signature"]) == [-1, 4]


# ---- wrong inputs to `mcugen run` ---------------------------------------------------------------


@pytest.mark.parametrize("array, expected", [
    (np.zeros((1, 4), np.float64), "dtype float64 but input 0 'x' is float32"),
    (np.zeros((1, 4), np.int8), "dtype int8 but input 0 'x' is float32"),
    (np.zeros((1, 5), np.float32), "shape [1, 5] but input 0 'x' has shape [1, 4]"),
    (np.zeros((2, 4), np.float32), "shape [2, 4] but input 0 'x' has shape [1, 4]"),
], ids=["float64", "int8", "size", "batch"])
def test_run_with_wrong_input(capsys, tmp_path, array, expected):
    model = write(tmp_path, "fc.tflite", fc_model())
    np.save(tmp_path / "x.npy", array)
    status, out, err = run_cli(capsys, "run", model, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy")
    assert status == BAD_STATUS
    assert expected in err
    assert not (tmp_path / "y.npy").exists()


def test_run_with_wrong_input_process(tmp_path):
    model = write(tmp_path, "fc.tflite", fc_model())
    np.save(tmp_path / "x.npy", np.zeros((1, 4), np.int32))
    proc = run_cli_process("run", model, "--input", tmp_path / "x.npy")
    assert proc.returncode == BAD_STATUS
    assert "dtype int32 but input 0 'x' is float32" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_run_with_unreadable_or_missing_inputs(capsys, tmp_path):
    model = write(tmp_path, "fc.tflite", fc_model())
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    status, _, err = run_cli(capsys, "run", model, "--input", tmp_path / "junk.npy")
    assert status == BAD_STATUS and "junk.npy: cannot read a .npy array" in err
    status, _, err = run_cli(capsys, "run", model, "--input", tmp_path / "absent.npy")
    assert status == BAD_STATUS and "absent.npy" in err
    np.save(tmp_path / "x.npy", np.zeros((1, 4), np.float32))
    status, _, err = run_cli(capsys, "run", model, "--input", tmp_path / "x.npy", "--input", tmp_path / "x.npy")
    assert status == BAD_STATUS and "the model has 1 input(s)" in err


# ---- Interpreter.set_tensor: the same ValueError messages as LiteRT --------------------------------


def _litert_set_tensor_error(content: bytes, value) -> str:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=content)
    it.allocate_tensors()
    with pytest.raises(ValueError) as e:
        it.set_tensor(it.get_input_details()[0]["index"], value)
    return str(e.value)


@pytest.mark.parametrize("value", [
    np.zeros((1, 4), np.float64),
    np.zeros((1, 4), np.int8),
    [[1.0, 2.0, 3.0, 4.0]],  # a list becomes float64
    np.zeros((1, 5), np.float32),
    np.zeros((3, 4), np.float32),
    np.zeros((4,), np.float32),
    np.zeros((1, 4, 1), np.float32),
], ids=["float64", "int8", "list", "dim1", "dim0", "rank1", "rank3"])
def test_set_tensor_errors_match_litert(value):
    content = fc_model()
    it = mcugen.Interpreter(model_content=content)
    it.allocate_tensors()
    with pytest.raises(ValueError) as e:
        it.set_tensor(it.get_input_details()[0]["index"], value)
    assert str(e.value) == _litert_set_tensor_error(content, value)


# ---- property: loading and compiling raise mcugen's own errors and nothing else -----------------


def _check_load(data: bytes) -> None:
    try:
        graph, digest = compiler.load(data)
    except ModelError:
        return
    try:
        compiler.compile_graph(graph, digest)
    except MCUGenError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=512), with_identifier=st.booleans())
def test_random_bytes_only_model_error(data, with_identifier):
    if with_identifier and len(data) >= 8:
        data = data[:4] + b"TFL3" + data[8:]
    _check_load(data)


def _property_models() -> list[bytes]:
    models = [fc_model(), fc_model(input_signature=(-1, 4)), two_unsupported_ops_model()]
    if MODELS_DIR.is_dir():
        models.append((MODELS_DIR / f"{HELLO_INT8}.tflite").read_bytes())
    return models


PROPERTY_MODELS = _property_models()
corruption = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("bytes"), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=8)),
    st.tuples(st.just("word"), st.floats(0, 1), st.integers(0, 2**32 - 1)),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=st.sampled_from(range(len(PROPERTY_MODELS))), change=corruption)
def test_corrupted_model_only_model_error(model, change):
    data = bytearray(PROPERTY_MODELS[model])
    kind = change[0]
    if kind == "truncate":
        data = data[:int(change[1] * len(data))]
    elif kind == "bytes":
        for where, value in change[1]:
            data[min(int(where * len(data)), len(data) - 1)] = value
    else:
        pos = min(int(change[1] * len(data)), len(data) - 4)
        data[pos:pos + 4] = struct.pack("<I", change[2])
    _check_load(bytes(data))
