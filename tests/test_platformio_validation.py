"""`mcugen generate MODEL --board B --validation`: PlatformIO projects with the validation firmware.

Emulated board (mps2-an386): the project builds with the real `pio run` offline, its firmware answers a
real validation session under QEMU (outputs equal to the host mcugen.Interpreter), and the size report's
validation row equals the `mg_v_ram_bytes` constant in that ELF. Real boards (their frameworks cannot be
downloaded here): the projects are checked offline (ProjectConfig.lint, files, the port's UART calls), and
the protocol core is compiled and linked with each board's flags by the size report.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from test_platformio import _big_model, _demo_model

from mcugen import boards, compiler
from mcugen.targets import platformio as pio
from mcugen.validate import firmware as F

REPO = Path(__file__).resolve().parent.parent
# One board per framework, plus the STM32 families with the other USART register layout (RDR).
REAL_BOARDS = ["nucleo_f446re", "nucleo_h743zi", "pico", "esp32dev"]
EMULATED = "mps2-an386"
PIO_TIMEOUT = 240
N_REQUESTS = 50

needs_arm = pytest.mark.skipif(not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
                               reason="needs qemu-system-arm and arm-none-eabi-gcc")


def _mcugen(args, env=None, timeout=PIO_TIMEOUT) -> subprocess.CompletedProcess:
    env = env or dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "mcugen", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pio-validation")


@pytest.fixture(scope="module")
def model_path(work) -> Path:
    path = work / "demo_net.tflite"
    path.write_bytes(_demo_model())
    return path


@pytest.fixture(scope="module")
def program(model_path):
    return compiler.compile_model(str(model_path))


@pytest.fixture(scope="module")
def real_projects(model_path, work) -> dict:
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = pool.map(lambda b: pio.generate_project(model_path, b, work / f"real-{b}", validation=True), REAL_BOARDS)
        return dict(zip(REAL_BOARDS, results))


# ----------------------------------------------------------------------------------------------
# Real boards: offline checks


@pytest.mark.parametrize("board_id", REAL_BOARDS)
def test_real_board_validation_project(board_id, real_projects, program, work):
    from platformio.project.config import ProjectConfig

    board = boards.load(board_id)
    result = real_projects[board_id]
    proj = work / f"real-{board_id}"
    lint = ProjectConfig.lint(str(proj / "platformio.ini"))
    assert lint["errors"] == [], lint
    config = ProjectConfig(str(proj / "platformio.ini"))
    env = f"env:{board_id}"
    fw = board.platformio["framework"]
    assert config.get(env, "platform") == board.platformio["platform"]
    assert config.get(env, "framework") == [fw]
    assert not config.has_option(env, "lib_deps")

    # The protocol core from firmware/, the config for this model (no .mg_noinit on a framework's
    # linker script), the counter header; no demo.
    src = proj / "src"
    firmware = boards.firmware_dir()
    for fname in ("mg_validate.c", "mg_validate.h"):
        assert (src / fname).read_text() == (firmware / fname).read_text(), fname
    config_h = (src / "mg_validate_config.h").read_text()
    assert config_h == F.config_header(program, "demo_net", noinit=False)
    assert '#include "demo_net.h"' in config_h and "MG_V_NOINIT" not in config_h
    assert (src / "mcugen_port.h").is_file()
    assert not (src / "main.c").exists() and not (src / "demo_net_test_input.h").exists()
    assert (proj / "lib" / "demo_net" / "src" / "demo_net.c").is_file()
    port_file = pio.VALIDATE_PORT_FILES[fw]
    port = (src / port_file).read_text()
    assert sorted(p.name for p in src.iterdir()) == sorted(
        ["mcugen_port.h", "mg_validate.c", "mg_validate.h", "mg_validate_config.h", port_file]
        + (["CMakeLists.txt"] if fw == "espidf" else []))
    for call in ("mg_validate_init()", "mg_validate_poll()", "mg_validate_rx(", "void mg_v_port_poll_rx(void)",
                 "mg_v_port_write(const uint8_t *data, uint32_t n)", "mg_v_port_counter_start(void)",
                 "uint32_t mg_v_port_counter(void)", "void mg_v_port_reboot(void)"):
        assert call in port, call

    if fw == "stm32cube":
        c = pio.STM32_CONSOLES[board_id]
        usart = c["usart"]
        assert f'#include "{c["hal_header"]}"' in port and f"Instance = {usart};" in port
        assert f"void {usart}_IRQHandler(void) {{" in port  # overrides the startup file's weak handler
        assert f"HAL_NVIC_EnableIRQ({usart}_IRQn);" in port
        assert "__HAL_UART_ENABLE_IT(&console_uart, UART_IT_RXNE);" in port
        # The enable comes after mg_validate_init(): no byte reaches an uninitialised ring.
        assert port.index("mg_validate_init();") < port.index("__HAL_UART_ENABLE_IT")
        if c["family"] == "f4":  # SR/DR: reading SR then DR clears RXNE and an overrun
            assert f"mg_validate_rx((uint8_t)({usart}->DR & 0xFFu));" in port
            assert f"{usart}->SR" in port and "USART_SR_ORE" in port and "RDR" not in port
        else:  # ISR/RDR, overrun cleared through ICR
            assert f"mg_validate_rx((uint8_t)({usart}->RDR & 0xFFu));" in port
            assert "__HAL_UART_CLEAR_OREFLAG(&console_uart);" in port and "->DR" not in port
        assert "HAL_UART_Transmit(&console_uart" in port
        assert "NVIC_SystemReset();" in port
        assert "mcugen_counter_start()" in port and "DWT->CYCCNT" in (src / "mcugen_port.h").read_text()
    elif fw == "arduino":
        assert "Serial.begin(115200);" in port
        assert "while (mg_validate_rx_space() != 0u && Serial.available() > 0)" in port and "Serial.read()" in port
        assert "Serial.write(data, (size_t)n)" in port
        assert "void loop() { mg_validate_poll(); }" in port
        assert "0xE000ED0Cu" in port and "0x5FAu << 16" in port  # SCB->AIRCR, as NVIC_SystemReset()
        if board.cycle_counter != "dwt":
            assert "micros()" in port and "mcugen_port_micros" in (src / "mcugen_port.h").read_text()
    elif fw == "espidf":
        assert "uart_driver_install(MG_V_UART, MG_V_UART_RX_BUFFER, 0, 0, NULL, 0)" in port
        assert "#define MG_V_UART UART_NUM_0" in port
        assert 'esp_log_level_set("*", ESP_LOG_NONE);' in port
        assert "uart_read_bytes(MG_V_UART, buf, space < sizeof buf ? space : sizeof buf, 0)" in port
        assert "uart_write_bytes(MG_V_UART," in port
        assert "esp_restart();" in port and "vTaskDelay(1);" in port and "void app_main(void)" in port
        assert "esp_cpu_get_cycle_count" in port
        assert (src / "CMakeLists.txt").read_text().strip().endswith(
            f'idf_component_register(SRCS "mg_validate.c" "{port_file}" INCLUDE_DIRS ".")')
        sdk = (proj / "sdkconfig.defaults").read_text()
        assert "CONFIG_LOG_DEFAULT_LEVEL_NONE=y" in sdk and "CONFIG_BOOTLOADER_LOG_LEVEL_NONE=y" in sdk
        stack = int(re.search(r"CONFIG_ESP_MAIN_TASK_STACK_SIZE=(\d+)", sdk).group(1))
        assert stack >= result.report.stack + pio.DEMO_STACK

    readme = (proj / "README.md").read_text()
    assert "pio run -t upload" in readme
    assert f"mcugen validate demo_net.tflite --board {board_id} --port {pio.serial_port_example(board)}" in readme
    assert f"mcugen validate demo_net.tflite --board {board_id} --port" in (proj / "platformio.ini").read_text()

    # The size report linked the core with a measurement port for this core: its RAM is the protocol's
    # (what mg_validate.c's state needs on a 32-bit target), counted in the fit check.
    report = result.report
    in_sizes, _, out_sizes = F.io_sizes(program)
    assert report.validation == F.ram_bytes(sum(in_sizes), sum(out_sizes), noinit=False)
    # ESP-IDF's UART driver holds the requests that arrive during an inference in a heap buffer of the ring's size
    driver_rx = F.ring_size(sum(in_sizes)) if board.platformio["framework"] == "espidf" else 0
    assert report.driver_rx == driver_rx
    assert report.fit_ram == report.arena + report.stack + report.validation + driver_rx
    if driver_rx:
        assert f"UART driver RX buffer {driver_rx} B" in report.format()
    assert report.stack_note.startswith("worst case of mg_validate_poll()")
    assert report.estimated == (board.arch == "xtensa")
    assert report.problems() == []
    assert f"`mg_v_ram_bytes`: {report.validation} bytes" in readme


def test_regenerate_demo_then_validation(model_path, work):
    out = work / "switch"
    pio.generate_project(model_path, "nucleo_f446re", out)
    assert (out / "src" / "main.c").is_file()
    pio.generate_project(model_path, "nucleo_f446re", out, validation=True)
    assert not (out / "src" / "main.c").exists() and not (out / "src" / "mcugen_port_stm32cube.c").exists()
    assert (out / "src" / "mg_validate_port_stm32cube.c").is_file()
    pio.generate_project(model_path, "nucleo_f446re", out)
    assert (out / "src" / "main.c").is_file() and not (out / "src" / "mg_validate.c").exists()


# ----------------------------------------------------------------------------------------------
# Emulated board: the real `pio run` offline, then a validation session under QEMU


@pytest.fixture(scope="module")
def pio_env(work) -> dict:
    core = work / "pio-core"
    env = dict(os.environ, PLATFORMIO_CORE_DIR=str(core), PLATFORMIO_SETTING_ENABLE_TELEMETRY="No",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    env.pop("MCUGEN_PIO", None)
    pio.install_tool_scons(core)
    return env


@needs_arm
def test_emulated_validation_project_builds_and_validates(model_path, program, work, pio_env):
    from mcugen.interpreter import Interpreter
    from mcugen.targets import qemu
    from mcugen.validate import board as B
    from mcugen.validate import host as H
    from mcugen.verify import random_inputs, run_mcugen

    proj = work / f"proj-{EMULATED}"
    gen = _mcugen(["generate", model_path, "--board", EMULATED, "-o", proj, "--validation", "--report"])
    assert gen.returncode == 0, gen.stderr
    ini = (proj / "platformio.ini").read_text()
    assert re.search(r"^custom_mcugen_validation = yes$", ini, re.M)
    assert f"--firmware .pio/build/{EMULATED}/program.elf" in ini
    from platformio.project.config import ProjectConfig

    assert ProjectConfig.lint(str(proj / "platformio.ini"))["errors"] == []
    assert (proj / "src" / "mg_validate_bm.c").read_text() == (boards.firmware_dir() / "mg_validate_bm.c").read_text()
    assert "#define MG_V_NOINIT" in (proj / "src" / "mg_validate_config.h").read_text()

    # The report's validation row, and the one summary line with the same number.
    row = re.search(r"^  validation\s+-\s+[\d.]+ KiB\s+protocol state, RX ring, saved results "
                    r"\(mg_v_ram_bytes = (\d+) B\)$", gen.stdout, re.M)
    assert row, gen.stdout
    reported = int(row.group(1))
    assert re.search(rf"^  validation RAM: {reported} B \(", gen.stdout, re.M), gen.stdout
    assert re.search(r"RAM [\d.]+ KiB of [\d.]+ KiB \(arena [\d.]+ KiB \+ stack [\d.]+ KiB \+ validation", gen.stdout)

    start = time.monotonic()
    built = subprocess.run([sys.executable, "-m", "platformio", "run", "-d", str(proj)], capture_output=True,
                           text=True, env=pio_env, timeout=PIO_TIMEOUT)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-2000:]
    assert time.monotonic() - start < 60
    elf = proj / ".pio" / "build" / EMULATED / "program.elf"
    # The number in the report is the constant the firmware itself computed (sizeof its state).
    assert F.elf_symbol_u32(elf, F.RAM_SYMBOL) == reported
    in_sizes, in_float, out_sizes = F.io_sizes(program)
    assert reported == F.ram_bytes(sum(in_sizes), sum(out_sizes), noinit=True)

    # `pio run -t upload` does not wait in QEMU for a host: it says how to validate.
    start = time.monotonic()
    up = subprocess.run([sys.executable, "-m", "platformio", "run", "-d", str(proj), "-t", "upload"],
                        capture_output=True, text=True, env=pio_env, timeout=PIO_TIMEOUT)
    assert up.returncode == 0, up.stdout[-3000:]
    assert time.monotonic() - start < 30
    assert f"mcugen validate demo_net.tflite --board {EMULATED} --firmware .pio/build/{EMULATED}/program.elf" in up.stdout

    # A real session against the PlatformIO-built firmware under QEMU.
    it = Interpreter(model_path=str(model_path))
    it.allocate_tensors()
    sets = random_inputs(it.get_input_details(), N_REQUESTS, seed=9)
    expected = [b"".join(np.ascontiguousarray(o).tobytes() for o in outs) for outs in run_mcugen(it, sets)]
    inputs = [b"".join(np.ascontiguousarray(x).tobytes() for x in xs) for xs in sets]
    in_specs, out_specs = qemu._io_specs(program)
    fw = B.ValidationFirmware(boards.load(EMULATED), elf, in_specs, out_specs, sum(in_sizes), sum(out_sizes),
                              in_sizes, in_float, F.window(F.ring_size(sum(in_sizes)), sum(in_sizes)))
    qb = B.QemuBoard(fw)
    port = qb.start()
    try:
        s = H.Session(H.TcpTransport("127.0.0.1", port), timeout=0.5, max_timeout=4.0, max_attempts=20, seed=1)
        ack = s.handshake()
        assert (ack.in_bytes, ack.out_bytes) == (sum(in_sizes), sum(out_sizes))
        results = s.run_all(inputs)
        stats = s.stats()
        s.t.close()
    finally:
        qb.stop()
    assert [r.seq for r in results] == list(range(1, N_REQUESTS + 1))
    assert all(r.status == 0 for r in results)
    assert [r.output for r in results] == expected
    assert all(r.cycles > 0 for r in results)
    assert stats.runs == N_REQUESTS and stats.double_runs == 0

    # What a user types: the CLI against the same ELF, in both modes.
    for mode in (["--count", "20"], ["--stream", "--count", "20"]):
        done = _mcugen(["validate", model_path, "--board", EMULATED, "--firmware", elf, *mode])
        assert done.returncode == 0 and done.stdout.rstrip().endswith("PASS"), done.stdout + done.stderr

    # `mcugen flash MODEL --validation` regenerates the same project (nothing to rebuild) and uploads it.
    done = _mcugen(["flash", model_path, "--board", EMULATED, "--validation", "--project", proj], env=pio_env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 file(s) written" in done.stdout and "--firmware .pio/build/" in done.stdout
    done = _mcugen(["flash", proj, "--board", EMULATED, "--validation"], env=pio_env)
    assert done.returncode != 0 and "--validation goes with a model" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


# ----------------------------------------------------------------------------------------------
# Fit check and errors


def test_fit_check_counts_the_protocol_ram(work):
    """An FC model whose arena (~124 KB) fits the F446RE's 128 KiB with its stack, but not with the
    protocol's ~10 KB (an 8 KiB RX ring for its large input, slots, run counters) on top."""
    model = work / "wide_net.tflite"
    model.write_bytes(_big_model(124_000))
    demo = pio.generate_project(model, "nucleo_f446re", work / "wide-demo")
    assert demo.report.problems() == []
    assert demo.report.fit_ram <= demo.report.ram_limit

    out = work / "wide-validation"
    refused = _mcugen(["generate", model, "--board", "nucleo_f446re", "-o", out, "--validation"])
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr
    m = re.search(r"^mcugen: error: wide_net does not fit nucleo_f446re: arena (\d+) B \+ stack (\d+) B "
                  r"\+ validation (\d+) B = (\d+) B \(.*\) > RAM 131072 B", lines[0])
    assert m, lines[0]
    arena, stack, val, total = map(int, m.groups())
    assert arena + stack + val == total > 131072 and arena + stack <= 131072
    assert val == F.ram_bytes(124_000, 1, noinit=False)
    assert "--no-fit-check" in lines[0]
    assert not out.exists()

    forced = _mcugen(["generate", model, "--board", "nucleo_f446re", "-o", out, "--validation", "--no-fit-check"])
    assert forced.returncode == 0, forced.stderr
    assert "warning: does not fit" in forced.stdout and (out / "src" / "mg_validate.c").is_file()


def test_validation_without_board_is_one_line(model_path, work):
    done = _mcugen(["generate", model_path, "-o", work / "plain", "--validation"])
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--validation goes with --board" in lines[0], done.stderr
    assert not (work / "plain").exists()


def test_report_arithmetic():
    r = pio.SizeReport("b", 1000, 1000, "basis", "cc", False, 100, 100, 600, 300, "note", 10, 20, validation=150)
    assert r.fit_ram == 1050 and r.total_ram == 1070
    assert r.problems() == ["arena 600 B + stack 300 B + validation 150 B = 1050 B (1.0 KiB) > RAM 1000 B (1.0 KiB)"]
    text = r.format()
    assert re.search(r"^  validation\s+-\s+0\.1 KiB\s+protocol state, RX ring, saved results \(mg_v_ram_bytes = 150 B\)$",
                     text, re.M), text
    demo = pio.SizeReport("b", 1000, 1000, "basis", "cc", False, 100, 100, 600, 300, "note", 10, 20)
    assert demo.problems() == [] and "validation" not in demo.format()
