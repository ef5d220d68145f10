"""PlatformIO projects (`mcugen generate --board`), the fit check and size report, `mcugen flash`.

Emulated boards: the project builds with the real `pio run` offline (a temporary PlatformIO core dir holding
only the tool-scons package mcugen makes from the PyPI scons wheel, and mcugen's local platform) and
`mcugen flash` runs the firmware under QEMU; its printed outputs must equal the host build's bit for bit.
Real boards: their platforms cannot be downloaded here, so their projects are checked offline
(ProjectConfig.lint, files, ids and flags; the demo and model compiled and linked with each board's flags
by the size report).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tflite_builder import ModelBuilder

import mcugen
from mcugen import boards, compiler
from mcugen.targets import platformio as pio
from mcugen.targets import qemu

REPO = Path(__file__).resolve().parent.parent
REAL_BOARDS = ["nucleo_f446re", "nucleo_h743zi", "disco_f746ng", "nrf52840_dk", "nano33ble", "pico", "esp32dev",
               "esp32-s3-devkitc-1", "esp32-c3-devkitm-1"]
PIO_TIMEOUT = 240


def _demo_model() -> bytes:
    """int8 CONV_2D -> output 0 (int8); FULLY_CONNECTED -> DEQUANTIZE -> output 1 (float32)."""
    rng = np.random.default_rng(7)
    mb = ModelBuilder()
    x = mb.add_input("image", (1, 6, 6, 2), "int8", scale=0.05, zero_point=-3)
    w = mb.add_const("conv_w", rng.integers(-127, 128, (4, 3, 3, 2)), "int8", scale=np.full(4, 0.02), zero_point=0, axis=0)
    b = mb.add_const("conv_b", rng.integers(-500, 500, 4), "int32", scale=np.full(4, 0.001), zero_point=0)
    y = mb.add_tensor("features", (1, 6, 6, 4), "int8", scale=0.1, zero_point=2)
    mb.add_op("CONV_2D", [x, w, b], [y], {"padding": "SAME", "stride_w": 1, "stride_h": 1, "dilation_w_factor": 1,
                                        "dilation_h_factor": 1, "fused_activation_function": "RELU"})
    fw = mb.add_const("fc_w", rng.integers(-127, 128, (5, 144)), "int8", scale=0.01, zero_point=0)
    fb = mb.add_const("fc_b", rng.integers(-300, 300, 5), "int32", scale=0.001, zero_point=0)
    z = mb.add_tensor("logits_q", (1, 5), "int8", scale=0.2, zero_point=-1)
    mb.add_op("FULLY_CONNECTED", [y, fw, fb], [z], {"fused_activation_function": "NONE", "weights_format": "DEFAULT"})
    f = mb.add_tensor("logits", (1, 5), "float32")
    mb.add_op("DEQUANTIZE", [z], [f])
    mb.mark_output(y)
    mb.mark_output(f)
    return mb.build()


def _big_model(n: int) -> bytes:
    """int8 input of n values and n int8 weights: arena and flash both about n bytes."""
    mb = ModelBuilder()
    x = mb.add_input("x", (1, n), "int8", scale=0.1, zero_point=0)
    w = mb.add_const("w", np.ones((1, n), np.int8), "int8", scale=0.01, zero_point=0)
    y = mb.add_tensor("y", (1, 1), "int8", scale=1.0, zero_point=0)
    mb.add_op("FULLY_CONNECTED", [x, w, -1], [y], {"fused_activation_function": "NONE", "weights_format": "DEFAULT"})
    mb.mark_output(y)
    return mb.build()


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pio")


@pytest.fixture(scope="module")
def model_path(work) -> Path:
    path = work / "demo_net.tflite"
    path.write_bytes(_demo_model())
    return path


@pytest.fixture(scope="module")
def pio_env(work) -> dict:
    """Environment for PlatformIO with a fresh core dir: nothing installed but the tool-scons mcugen makes."""
    core = work / "pio-core"
    env = dict(os.environ, PLATFORMIO_CORE_DIR=str(core), PLATFORMIO_SETTING_ENABLE_TELEMETRY="No",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    env.pop("MCUGEN_PIO", None)
    pio.install_tool_scons(core)
    return env


def _mcugen(args, env=None, timeout=PIO_TIMEOUT) -> subprocess.CompletedProcess:
    env = env or dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "mcugen", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


def _host_outputs(model_path: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    it = mcugen.Interpreter(model_path=str(model_path))
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


def _parse_demo(stdout: str, dtypes: list[str]) -> tuple[list[np.ndarray], int]:
    """Outputs (exact: floats from their bits line) and the count of the demo's printout."""
    m = re.search(r"^invoke: status (-?\d+), (\d+) instructions", stdout, re.M)
    assert m, stdout[-2000:]
    assert m.group(1) == "0"
    outs = []
    for k, dtype in enumerate(dtypes):
        if dtype == "float32":
            bits = re.search(rf"^output {k} bits: (.*)$", stdout, re.M).group(1).split()
            outs.append(np.array([int(b, 16) for b in bits], np.uint32).view(np.float32))
        else:
            values = re.search(rf"^output {k} {dtype}\[[\d,]+\]: (.*)$", stdout, re.M).group(1).split()
            outs.append(np.array([int(v) for v in values], dtype))
    return outs, int(m.group(2))


# ----------------------------------------------------------------------------------------------
# Emulated boards: the real `pio run`, offline, then QEMU


def test_tool_scons_is_a_core_package(pio_env):
    pkg = Path(pio_env["PLATFORMIO_CORE_DIR"]) / "packages" / "tool-scons"
    meta = json.loads((pkg / ".piopm").read_text())
    assert meta["spec"]["owner"] == "platformio" and meta["name"] == "tool-scons"
    assert (pkg / "scons.py").is_file() and (pkg / "SCons" / "Script" / "Main.py").is_file()
    # PlatformIO itself accepts it as its core package (no download: auto_install off).
    code = ("from platformio.package.manager.core import get_core_package_dir;"
            "print(get_core_package_dir('tool-scons', auto_install=False))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=pio_env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == pkg
    assert pio.install_tool_scons(Path(pio_env["PLATFORMIO_CORE_DIR"])) == pkg  # idempotent


@pytest.mark.parametrize("board", ["mps2-an386", "riscv32-virt"])
def test_emulated_project_builds_offline_and_matches_host(board, model_path, work, pio_env):
    proj = work / f"proj-{board}"
    gen = _mcugen(["generate", model_path, "--board", board, "-o", proj])
    assert gen.returncode == 0, gen.stderr
    ini = (proj / "platformio.ini").read_text()
    assert re.search(r"^platform = symlink://\$\{PROJECT_DIR\}/mcugen_platform$", ini, re.M)
    assert not re.search(r"^(lib_deps|framework)\s*=", ini, re.M)
    assert json.loads((proj / "mcugen_platform" / "platform.json").read_text())["name"] == pio.LOCAL_PLATFORM
    assert boards.load(board).platformio["platform"] == pio.LOCAL_PLATFORM
    manifest = json.loads((proj / "mcugen_platform" / "boards" / f"{board}.json").read_text())
    assert manifest["upload"]["maximum_size"] == boards.load(board).flash_bytes
    from platformio.project.config import ProjectConfig

    assert ProjectConfig.lint(str(proj / "platformio.ini"))["errors"] == []

    # Build with PlatformIO, offline: the registry is never needed.
    start = time.monotonic()
    built = subprocess.run([sys.executable, "-m", "platformio", "run", "-d", str(proj)], capture_output=True,
                           text=True, env=pio_env, timeout=PIO_TIMEOUT)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-2000:]
    assert "[SUCCESS]" in built.stdout
    assert time.monotonic() - start < 60  # a registry attempt alone takes about 60 s
    elf = proj / ".pio" / "build" / board / "program.elf"
    assert elf.is_file()

    # `mcugen flash` = `pio run -t upload`, which on an emulated board runs the firmware under QEMU.
    flashed = _mcugen(["flash", proj, "--board", board], env=pio_env)
    assert flashed.returncode == 0, flashed.stdout[-3000:] + flashed.stderr[-2000:]
    assert f"mcugen demo: demo_net on {board}" in flashed.stdout

    program = compiler.compile_model(str(model_path))
    inputs = pio.demo_inputs(program)
    host = _host_outputs(model_path, inputs)
    board_outs, count = _parse_demo(flashed.stdout, ["int8", "float32"])
    for k, (b, h) in enumerate(zip(board_outs, host)):
        assert b.dtype == h.dtype
        np.testing.assert_array_equal(b.view(np.uint8), h.reshape(-1).view(np.uint8), err_msg=f"output {k}")

    # The same model and input through mcugen's QEMU runner: same outputs, about the same count (the
    # two programs differ only in the few instructions around the call).
    run = qemu.run_model(program, board, [inputs])
    for b, r in zip(board_outs, run.outputs[0]):
        np.testing.assert_array_equal(b.view(np.uint8), r.reshape(-1).view(np.uint8))
    assert abs(count - run.instructions[0]) <= 4, (count, run.instructions[0])

    # The size report measured this firmware (its own link of the same sources and flags).
    report = pio.measure(pio.render_project(program, "demo_net", boards.load(board), model_path.name))
    flash, ram = pio._memory_totals(elf)
    assert abs(report.total_flash - flash) <= 64, (report.total_flash, flash)
    assert report.arena == program.arena_size or abs(report.arena - program.arena_size) <= 16


def test_flash_a_model_generates_then_runs(model_path, work, pio_env):
    proj = work / "flash-model"
    done = _mcugen(["flash", model_path, "--board", "mps2-an386", "--project", proj], env=pio_env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert (proj / "platformio.ini").is_file()
    assert "mcugen demo: done" in done.stdout


# ----------------------------------------------------------------------------------------------
# Real boards: checked offline


@pytest.fixture(scope="module")
def real_projects(model_path, work) -> dict:
    # The boards' cross compiles run in parallel: the size report links each board's demo.
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = pool.map(lambda board: pio.generate_project(model_path, board, work / f"real-{board}"), REAL_BOARDS)
        return dict(zip(REAL_BOARDS, results))


@pytest.mark.parametrize("board_id", REAL_BOARDS)
def test_real_board_project(board_id, real_projects, work):
    from platformio.project.config import ProjectConfig

    board = boards.load(board_id)
    result = real_projects[board_id]
    proj = work / f"real-{board_id}"
    lint = ProjectConfig.lint(str(proj / "platformio.ini"))
    assert lint["errors"] == [], lint

    config = ProjectConfig(str(proj / "platformio.ini"))
    env = f"env:{board_id}"
    assert config.get(env, "platform") == board.platformio["platform"]
    assert config.get(env, "board") == board.platformio["board"]
    assert config.get(env, "framework") == [board.platformio["framework"]]
    assert config.get(env, "monitor_speed") == pio.MONITOR_SPEED
    assert not config.has_option(env, "lib_deps")  # offline: no registry libraries
    assert config.default_envs() == [board_id]

    lib = json.loads((proj / "lib" / "demo_net" / "library.json").read_text())
    assert lib["name"] == "demo_net" and lib["headers"] == "demo_net.h"
    assert "-ffp-contract=off" in lib["build"]["flags"]
    for fname in ("demo_net.h", "demo_net.c", "demo_net_weights.h", "mg_common.h", "mg_conv2d.c", "mg_fully_connected.c"):
        assert (proj / "lib" / "demo_net" / "src" / fname).is_file(), fname
    main_c = (proj / "src" / "main.c").read_text()
    assert '#include "demo_net.h"' in main_c and "demo_net_invoke()" in main_c
    assert (proj / "src" / "demo_net_test_input.h").is_file()

    port_h = (proj / "src" / "mcugen_port.h").read_text()
    fw = board.platformio["framework"]
    port = (proj / "src" / pio.PORT_FILES[fw]).read_text()
    if board.cycle_counter == "dwt":
        assert "0xE0001004u" in port_h and "DWT->CYCCNT" in port_h  # the cycle counter itself
    elif fw == "espidf":
        assert "esp_cpu_get_cycle_count" in port and "mcugen_port_cycles" in port_h
    else:
        assert board.core == "Cortex-M0+" and "micros()" in port and " us" in main_c
    if fw == "arduino":
        assert "void setup()" in port and "Serial.write" in port
    elif fw == "stm32cube":
        console = pio.STM32_CONSOLES[board_id]
        assert f'#include "{console["hal_header"]}"' in port and f"Instance = {console['usart']};" in port
        assert "void SysTick_Handler(void) { HAL_IncTick(); }" in port
    elif fw == "espidf":
        assert "void app_main(void)" in port
        assert (proj / "CMakeLists.txt").read_text().count("project.cmake") == 1
        assert pio.PORT_FILES["espidf"] in (proj / "src" / "CMakeLists.txt").read_text()
        sdk = (proj / "sdkconfig.defaults").read_text()
        stack = int(re.search(r"CONFIG_ESP_MAIN_TASK_STACK_SIZE=(\d+)", sdk).group(1))
        assert stack >= result.report.stack + pio.DEMO_STACK
        assert f"CONFIG_ESPTOOLPY_FLASHSIZE_{board.flash_bytes >> 20}MB=y" in sdk
        parts = (proj / "partitions.csv").read_text()
        assert f"factory,  app,  factory, 0x10000, {hex(board.flash_bytes - 0x10000)}," in parts
        assert config.get(env, "board_build.partitions") == "partitions.csv"

    # The size report: the demo and model compiled and linked for this core (Thumb-2 stands in for Xtensa).
    report = result.report
    assert report.flash_limit == board.flash_bytes and report.ram_limit == board.ram_bytes
    assert report.code > 0 and report.stack > 0 and report.weights >= 5 * 144
    assert report.estimated == (board.arch == "xtensa")
    if board.gcc:
        assert board.gcc.cflags[0] in report.compiler
    assert report.problems() == []


# ----------------------------------------------------------------------------------------------
# Fit check and size report


def test_fit_check_refuses_with_numbers(work):
    model = work / "big_net.tflite"
    model.write_bytes(_big_model(540_000))
    out = work / "big-proj"
    refused = _mcugen(["generate", model, "--board", "nucleo_f446re", "-o", out])
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr
    msg = lines[0]
    assert msg.startswith("mcugen: error: big_net does not fit nucleo_f446re")
    assert re.search(r"arena \d+ B \+ stack \d+ B = \d+ B .*> RAM 131072 B", msg), msg
    assert re.search(r"weights \d+ B \+ code \d+ B = \d+ B .*> flash 524288 B", msg), msg
    assert "--no-fit-check" in msg
    assert not out.exists()  # nothing written

    forced = _mcugen(["generate", model, "--board", "nucleo_f446re", "-o", out, "--no-fit-check"])
    assert forced.returncode == 0, forced.stderr
    assert "warning: does not fit" in forced.stdout
    assert (out / "platformio.ini").is_file()


def test_report(model_path, work):
    out = work / "report-proj"
    done = _mcugen(["generate", model_path, "--board", "nucleo_f446re", "-o", out, "--report"])
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "size report for nucleo_f446re" in text
    for row in ("code", "weights", "arena", "stack", "other", "total", "board", "used"):
        assert re.search(rf"^  {row} ", text, re.M), row
    assert re.search(r"^  board\s+512\.0 KiB\s+128\.0 KiB", text, re.M)
    program = compiler.compile_model(str(model_path))
    report = pio.measure(pio.render_project(program, "demo_net", boards.load("nucleo_f446re"), model_path.name))
    # The linked arena is the planned arena; the linked constants hold at least the model's weights.
    assert abs(report.arena - program.arena_size) <= 16
    assert report.weights >= program.weights_bytes
    assert report.total_flash == report.code + report.weights + report.other_flash

    no_board = _mcugen(["generate", model_path, "-o", work / "plain", "--report"])
    assert no_board.returncode != 0 and "--board" in no_board.stderr and len(no_board.stderr.strip().splitlines()) == 1


def test_invoke_stack_walks_the_call_graph():
    ci = '''graph: { title: "m.c"
node: { title: "m_invoke" label: "m_invoke\\nm.c:1:5\\n40 bytes (static)" }
node: { title: "k1" label: "k1\\nk.c:1:6\\n100 bytes (static)" }
node: { title: "k2" label: "k2\\nk.c:9:6\\n16 bytes (static)" }
node: { title: "memcpy" label: "memcpy\\n<built-in>" shape : ellipse }
edge: { sourcename: "m_invoke" targetname: "k1" }
edge: { sourcename: "m_invoke" targetname: "k2" }
edge: { sourcename: "k2" targetname: "memcpy" }
}'''
    stack, note = pio.invoke_stack([ci], "m_invoke")
    assert stack == 40 + max(100, 16 + pio.LIBRARY_CALL_STACK)
    assert "1 C library function" in note
    looped = ci.replace('targetname: "memcpy"', 'targetname: "m_invoke"')
    assert pio.invoke_stack([looped], "m_invoke")[0] is None


def test_regenerate_is_idempotent_and_drops_stale_files(model_path, work):
    out = work / "regen"
    first = pio.generate_project(model_path, "mps2-an385", out)
    assert first.written and (out / "mcugen_platform" / "builder" / "main.py").is_file()
    again = pio.generate_project(model_path, "mps2-an385", out)
    assert again.written == []
    other = pio.generate_project(model_path, "nrf52840_dk", out)
    assert (out / "src" / "mcugen_port_arduino.cpp").is_file()
    assert not (out / "mcugen_platform").exists() and not (out / "src" / "mcugen_port_qemu.c").exists()
    assert "[env:nrf52840_dk]" in (out / "platformio.ini").read_text() and other.written


# ----------------------------------------------------------------------------------------------
# `mcugen flash` errors: one line, quickly


def test_flash_without_platformio(work, model_path):
    proj = work / "real-pico"
    code = ("import sys; sys.modules['platformio'] = None; from mcugen.cli import main; "
            f"sys.exit(main(['flash', {str(proj)!r}, '--board', 'pico']))")
    env = dict(os.environ, PATH=str(work / "no-such-bin"), PYTHONPATH=str(REPO))
    env.pop("MCUGEN_PIO", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == "mcugen: error: PlatformIO is not installed: `pip install platformio` (no `pio` command found)"


def test_flash_real_board_without_registry(work, real_projects):
    env = dict(os.environ, PLATFORMIO_CORE_DIR=str(work / "empty-core"), MCUGEN_PIO_REGISTRY="127.0.0.1:9",
               PYTHONPATH=str(REPO))
    start = time.monotonic()
    done = _mcugen(["flash", work / "real-nucleo_f446re", "--board", "nucleo_f446re"], env=env, timeout=60)
    assert time.monotonic() - start < 30
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the PlatformIO registry" in lines[0] and "ststm32" in lines[0], done.stderr


def test_flash_wrong_board_for_project(work, real_projects):
    done = _mcugen(["flash", work / "real-pico", "--board", "nano33ble"])
    assert done.returncode == 1
    assert done.stderr.strip().endswith("has no [env:nano33ble]: the project was generated for another board")
