"""The `mcugen` command line: inspect, generate (idempotent, atomic), run, verify.

Most cases call mcugen.cli.main in-process to stay fast; a few run `python -m mcugen` for the real
exit status and output streams.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import MODELS_DIR, REPO_ROOT, shared_model
from tflite_builder import ModelBuilder

import mcugen
from mcugen import reference
from mcugen.cli import main

HELLO_INT8 = "tflm_hello_world_int8"
HELLO_FLOAT = "tflm_hello_world_float"
JSON_KEYS = {"arena_bytes", "lower_bound_bytes", "weights_bytes", "macs", "inputs", "outputs", "ops", "unsupported_ops"}


def shared_path(name: str):
    shared_model(name)  # skips when the shared folder is absent
    return MODELS_DIR / f"{name}.tflite"


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def run_cli_process(*argv) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "mcugen", *map(str, argv)], capture_output=True, text=True,
                          env=env, cwd=REPO_ROOT, timeout=300)


def int8_fc_model(seed: int = 0, n_in: int = 8, n_out: int = 5) -> bytes:
    rng = np.random.default_rng(seed)
    mb = ModelBuilder()
    x = mb.add_input("x", (1, n_in), "int8", scale=0.05, zero_point=-3)
    w = mb.add_const("w", rng.integers(-127, 128, (n_out, n_in)), "int8", scale=0.01, zero_point=0)
    b = mb.add_const("b", rng.integers(-300, 300, n_out), "int32", scale=0.0005, zero_point=0)
    y = mb.add_tensor("y", (1, n_out), "int8", scale=0.08, zero_point=1)
    mb.add_op("FULLY_CONNECTED", [x, w, b], [y], {"fused_activation_function": "RELU"})
    mb.mark_output(y)
    return mb.build()


def two_output_float_model() -> bytes:
    """One input feeding two FCs; two outputs, so `run --output` writes an .npz."""
    rng = np.random.default_rng(5)
    mb = ModelBuilder()
    x = mb.add_input("x", (1, 6), "float32")
    for name, n in (("a", 3), ("b", 2)):
        w = mb.add_const(f"{name}_w", rng.standard_normal((n, 6)).astype(np.float32))
        bias = mb.add_const(f"{name}_b", rng.standard_normal(n).astype(np.float32))
        y = mb.add_tensor(name, (1, n), "float32")
        mb.add_op("FULLY_CONNECTED", [x, w, bias], [y], {"fused_activation_function": "NONE"})
        mb.mark_output(y)
    return mb.build()


def unsupported_model() -> bytes:
    mb = ModelBuilder()
    x = mb.add_input("x", (1, 4), "float32")
    y = mb.add_tensor("y", (1, 4), "float32")
    mb.add_op("COS", [x], [y])
    mb.mark_output(y)
    return mb.build()


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def snapshot(folder) -> dict[str, tuple[bytes, int]]:
    """Every file below `folder` (hidden ones too) with its bytes and mtime in ns."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


# ---- inspect -----------------------------------------------------------------------------------


def test_inspect_text(capsys):
    status, out, err = run_cli(capsys, "inspect", shared_path(HELLO_INT8))
    assert status == 0 and not err
    assert "tflm_hello_world_int8.tflite" in out
    assert "input    0: 'serving_default_dense_input:0' int8[1, 1] scale" in out
    assert "output   0: 'StatefulPartitionedCall:0' int8[1, 1]" in out
    assert out.count("FULLY_CONNECTED") == 3
    assert "MACs         288" in out  # 1x16 + 16x16 + 16x1
    assert "arena" in out and "lower bound" in out and "weights" in out
    assert "note: the model has a dynamic batch dimension (-1); compiled with batch 1" in out
    assert "unsupported  none" in out


def test_inspect_json(capsys):
    status, out, err = run_cli(capsys, "inspect", "--json", shared_path(HELLO_INT8))
    assert status == 0 and not err
    info = json.loads(out)
    assert JSON_KEYS <= set(info)
    assert info["macs"] == 288
    assert info["unsupported_ops"] == []
    assert [o["op"] for o in info["ops"]] == ["FULLY_CONNECTED"] * 3
    assert all(o["supported"] for o in info["ops"])
    assert info["inputs"] == [dict(index=0, name="serving_default_dense_input:0", shape=[1, 1], dtype="int8",
                                   scale=pytest.approx(0.0244801, rel=1e-5), zero_point=-128)]
    assert [(o["name"], o["shape"], o["dtype"]) for o in info["outputs"]] == [("StatefulPartitionedCall:0", [1, 1], "int8")]
    assert info["arena_bytes"] >= info["lower_bound_bytes"] > 0
    # int8 weights (16 + 256 + 16) and int32 biases (16 + 16 + 1): at least their bytes end up in flash.
    assert info["weights_bytes"] >= 288 + 4 * 33


def test_inspect_json_numbers_of_a_built_model(capsys, tmp_path):
    path = write(tmp_path, "fc.tflite", int8_fc_model(n_in=8, n_out=5))
    status, out, _ = run_cli(capsys, "inspect", "--json", path)
    assert status == 0
    info = json.loads(out)
    assert info["macs"] == 40
    # int8 weights and the int32 bias at least; precomputed per-channel constants may add to it.
    assert info["weights_bytes"] >= 8 * 5 + 4 * 5
    assert info["lower_bound_bytes"] >= 8 + 5  # input and output live together
    assert info["arena_bytes"] >= info["lower_bound_bytes"]
    assert info["ops"][0]["macs"] == 40 and info["ops"][0]["output_shapes"] == [[1, 5]]


def test_inspect_json_alignment(capsys, tmp_path):
    path = write(tmp_path, "fc.tflite", int8_fc_model())
    arenas = []
    for alignment in (4, 64):
        status, out, _ = run_cli(capsys, "inspect", "--json", "--alignment", alignment, path)
        assert status == 0
        arenas.append(json.loads(out)["arena_bytes"])
    assert arenas[0] <= arenas[1] and arenas[1] % 64 == 0


def test_inspect_json_unsupported(capsys, tmp_path):
    status, out, err = run_cli(capsys, "inspect", "--json", write(tmp_path, "tanh.tflite", unsupported_model()))
    assert status == 0 and not err
    info = json.loads(out)
    assert JSON_KEYS <= set(info)
    assert len(info["unsupported_ops"]) == 1 and "op 0 COS" in info["unsupported_ops"][0]
    assert info["arena_bytes"] is None and info["lower_bound_bytes"] is None
    assert info["ops"] == [dict(index=0, op="COS", output_shapes=[[1, 4]], macs=0, supported=False)]


def test_inspect_json_process():
    proc = run_cli_process("inspect", "--json", shared_path(HELLO_FLOAT))
    assert proc.returncode == 0 and proc.stderr == ""
    info = json.loads(proc.stdout)
    assert JSON_KEYS <= set(info)
    assert info["inputs"][0]["dtype"] == "float32" and info["inputs"][0]["scale"] is None


# ---- generate --------------------------------------------------------------------------------


def test_generate_files(capsys, tmp_path):
    out = tmp_path / "gen"
    status, stdout, err = run_cli(capsys, "generate", shared_path(HELLO_INT8), "-o", out)
    assert status == 0 and not err
    name = "tflm_hello_world_int8"  # default: the model's file name
    assert sorted(p.name for p in out.iterdir()) == sorted([
        f"{name}.h", f"{name}.c", f"{name}_weights.h", "mg_common.h", "mg_fully_connected.h", "mg_fully_connected.c"])
    assert "6 file(s) written, 0 unchanged" in stdout
    header = (out / f"{name}.h").read_text()
    assert "#define TFLM_HELLO_WORLD_INT8_ARENA_SIZE" in header
    assert f"int {name}_invoke(void);" in header
    assert f'#include "{name}_weights.h"' in (out / f"{name}.c").read_text()


def test_generate_name_and_default_name(capsys, tmp_path):
    model = write(tmp_path, "my-model.v2.tflite", int8_fc_model())
    status, _, _ = run_cli(capsys, "generate", model, "-o", tmp_path / "a")
    assert status == 0
    assert (tmp_path / "a" / "my_model_v2.c").is_file()  # not a C identifier as is
    status, _, _ = run_cli(capsys, "generate", model, "-o", tmp_path / "b", "--name", "kws")
    assert status == 0
    assert {"kws.h", "kws.c", "kws_weights.h"} <= {p.name for p in (tmp_path / "b").iterdir()}
    assert "kws_invoke" in (tmp_path / "b" / "kws.h").read_text()


def test_generate_bad_name_writes_nothing(capsys, tmp_path):
    status, _, err = run_cli(capsys, "generate", write(tmp_path, "m.tflite", int8_fc_model()),
                             "-o", tmp_path / "out", "--name", "9lives")
    assert status != 0 and "'9lives' is not a C identifier" in err
    assert not (tmp_path / "out").exists()


def test_generate_into_a_file_is_an_error(capsys, tmp_path):
    target = write(tmp_path, "taken", b"keep me")
    status, _, err = run_cli(capsys, "generate", write(tmp_path, "m.tflite", int8_fc_model()), "-o", target)
    assert status != 0 and "not a folder" in err
    assert target.read_bytes() == b"keep me"


def test_generate_twice_changes_nothing(capsys, tmp_path):
    out = tmp_path / "gen"
    assert run_cli(capsys, "generate", shared_path(HELLO_INT8), "-o", out)[0] == 0
    before = snapshot(out)
    status, stdout, _ = run_cli(capsys, "generate", shared_path(HELLO_INT8), "-o", out)
    assert status == 0
    assert "0 file(s) written, 6 unchanged" in stdout
    assert snapshot(out) == before  # same names, bytes and mtimes; no temporary files left


def test_generate_rewrites_only_what_changed(capsys, tmp_path):
    """New weights under the same name: only the weights (and maybe model) files are rewritten."""
    out = tmp_path / "gen"
    assert run_cli(capsys, "generate", write(tmp_path, "a.tflite", int8_fc_model(seed=1)), "-o", out, "--name", "net")[0] == 0
    before = snapshot(out)
    assert run_cli(capsys, "generate", write(tmp_path, "b.tflite", int8_fc_model(seed=2)), "-o", out, "--name", "net")[0] == 0
    after = snapshot(out)
    assert set(after) == set(before)
    changed = {f for f in after if after[f] != before[f]}
    assert "net_weights.h" in changed
    assert changed <= {"net_weights.h", "net.c", "net.h"}
    for f in ("mg_common.h", "mg_fully_connected.c", "mg_fully_connected.h"):
        assert after[f] == before[f]


def test_generate_is_deterministic_across_folders(capsys, tmp_path):
    model = shared_path(HELLO_FLOAT)
    for sub in ("one", "two"):
        assert run_cli(capsys, "generate", model, "-o", tmp_path / sub)[0] == 0
    one, two = snapshot(tmp_path / "one"), snapshot(tmp_path / "two")
    assert {k: v[0] for k, v in one.items()} == {k: v[0] for k, v in two.items()}


@pytest.mark.parametrize("bad", ["unsupported", "corrupt", "missing"])
def test_failed_generate_leaves_folder_untouched(capsys, tmp_path, bad):
    out = tmp_path / "gen"
    assert run_cli(capsys, "generate", write(tmp_path, "good.tflite", int8_fc_model()), "-o", out, "--name", "net")[0] == 0
    before = snapshot(out)
    if bad == "unsupported":
        model = write(tmp_path, "bad.tflite", unsupported_model())
    elif bad == "corrupt":
        model = write(tmp_path, "bad.tflite", int8_fc_model(seed=3)[:300])
    else:
        model = tmp_path / "absent.tflite"
    status, _, err = run_cli(capsys, "generate", model, "-o", out, "--name", "net")
    assert status == 2 and err.startswith("mcugen: error: ")
    assert snapshot(out) == before


def test_generate_twice_process(tmp_path):
    out = tmp_path / "gen"
    first = run_cli_process("generate", shared_path(HELLO_FLOAT), "-o", out)
    assert first.returncode == 0 and first.stderr == ""
    before = snapshot(out)
    second = run_cli_process("generate", shared_path(HELLO_FLOAT), "-o", out)
    assert second.returncode == 0 and "0 file(s) written" in second.stdout
    assert snapshot(out) == before


# ---- run -------------------------------------------------------------------------------------


def test_run_npy_in_npy_out(capsys, tmp_path):
    model = shared_path(HELLO_FLOAT)
    x = np.array([[1.1]], np.float32)
    np.save(tmp_path / "x.npy", x)
    status, out, err = run_cli(capsys, "run", model, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy")
    assert status == 0 and not err
    assert "wrote 1 output(s)" in out
    y = np.load(tmp_path / "y.npy")
    (expected,), = reference.run_tflm(model.read_bytes(), [[x]])
    assert y.shape == expected.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=0)


def test_run_reshapes_an_input_of_the_right_size(capsys, tmp_path):
    model = shared_path(HELLO_INT8)
    np.save(tmp_path / "x.npy", np.array([17], np.int8))  # (1,) for a (1, 1) input
    status, _, _ = run_cli(capsys, "run", model, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy")
    assert status == 0
    (expected,), = reference.run_tflm(model.read_bytes(), [[np.array([[17]], np.int8)]])
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)


def test_run_prints_without_output(capsys, tmp_path):
    np.save(tmp_path / "x.npy", np.array([[0.5]], np.float32))
    status, out, _ = run_cli(capsys, "run", shared_path(HELLO_FLOAT), "--input", tmp_path / "x.npy")
    assert status == 0
    assert "output 'StatefulPartitionedCall:0' float32[1, 1]" in out


def test_run_two_outputs_npz(capsys, tmp_path):
    content = two_output_float_model()
    model = write(tmp_path, "two.tflite", content)
    x = np.random.default_rng(0).standard_normal((1, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    status, _, _ = run_cli(capsys, "run", model, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npz")
    assert status == 0
    saved = np.load(tmp_path / "y.npz")
    expected = reference.run_tflm(content, [[x]])[0]
    assert len(saved.files) == 2
    for k, ref in enumerate(expected):
        np.testing.assert_allclose(saved[f"arr_{k}"], ref, rtol=1e-5, atol=0)


def test_run_output_to_unwritable_place(capsys, tmp_path):
    np.save(tmp_path / "x.npy", np.array([[0.5]], np.float32))
    target = tmp_path / "no" / "such" / "folder" / "y.npy"
    status, _, err = run_cli(capsys, "run", shared_path(HELLO_FLOAT), "--input", tmp_path / "x.npy", "--output", target)
    assert status != 0 and err.startswith("mcugen: error: ")
    assert not target.exists()


def test_run_process(tmp_path):
    content = int8_fc_model(seed=9)
    model = write(tmp_path, "fc.tflite", content)
    x = np.arange(-4, 4, dtype=np.int8).reshape(1, 8) * 15
    np.save(tmp_path / "x.npy", x)
    proc = run_cli_process("run", model, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy")
    assert proc.returncode == 0, proc.stderr
    (expected,), = reference.run_tflm(content, [[x]])
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)


# ---- verify and the rest ------------------------------------------------------------------------


@pytest.mark.parametrize("name", [HELLO_INT8, HELLO_FLOAT])
def test_verify_passes(capsys, name):
    status, out, _ = run_cli(capsys, "verify", shared_path(name), "--inputs", "3", "--seed", "1")
    assert status == 0
    assert out.rstrip().endswith("PASS") and "FAIL" not in out


def test_verify_built_model(capsys, tmp_path):
    status, out, _ = run_cli(capsys, "verify", write(tmp_path, "fc.tflite", int8_fc_model(seed=4)), "--inputs", "5")
    assert status == 0 and "mcugen vs TFLM" in out and "0/25 mismatched" in out


def test_verify_process():
    proc = run_cli_process("verify", shared_path(HELLO_INT8), "--inputs", "2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith("PASS")
    assert "Traceback" not in proc.stderr


def test_version_and_ops(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"mcugen {mcugen.__version__}"
    status, out, _ = run_cli(capsys, "ops")
    assert status == 0 and "FULLY_CONNECTED" in out.split()


def test_usage_errors_are_argparse_status_2(capsys):
    for argv in ([], ["inspect"], ["generate", "m.tflite"], ["frobnicate"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        assert "usage:" in capsys.readouterr().err


def test_readme_op_table_is_generated_from_the_registry(capsys):
    from conftest import REPO_ROOT
    from mcugen.cli import main as cli_main

    assert cli_main(["ops", "--markdown"]) == 0
    table = capsys.readouterr().out.strip()
    readme = (REPO_ROOT / "README.md").read_text()
    start = readme.index("<!-- ops-table -->") + len("<!-- ops-table -->")
    assert readme[start:readme.index("<!-- /ops-table -->")].strip() == table
