"""A plain `pip install .` carries templates/ and runtime_c/ and works outside the checkout."""
import subprocess
import sys
import zipfile

from conftest import REPO_ROOT


def test_wheel_carries_templates_and_runtime(tmp_path, models_dir):
    wheel_dir = tmp_path / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(wheel_dir), str(REPO_ROOT)], check=True, cwd=tmp_path)
    (wheel,) = wheel_dir.glob("mcugen-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("mcugen/_data/templates/model.c.j2", "mcugen/_data/runtime_c/mg_common.h",
                   "mcugen/_data/runtime_c/mg_conv2d.c", "mcugen/cli.py"):
        assert needed in names, needed
    assert any(n.endswith("entry_points.txt") for n in names)

    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)], check=True)
    out = tmp_path / "out"
    code = ("import sys; from mcugen.cli import main; import mcugen.resources as r; "
            "assert str(r.templates_dir()).startswith(sys.argv[1]), r.templates_dir(); "
            "sys.exit(main(['generate', sys.argv[2], '-o', sys.argv[3]]))")
    proc = subprocess.run([sys.executable, "-c", code, str(target), str(models_dir / "tflm_hello_world_int8.tflite"), str(out)],
                          cwd=tmp_path, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (out / "tflm_hello_world_int8.c").is_file() and (out / "mg_fully_connected.c").is_file()
