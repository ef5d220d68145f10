"""PlatformIO projects: `mcugen generate MODEL --board B -o PROJ`, the fit check, the size report, `mcugen flash`.

A project is a demo that runs the model once on a bundled test input and prints the outputs and the
cycles (instructions on emulated boards) of one invoke:

    platformio.ini                 the board's real platform and framework (no lib_deps: builds offline
                                   once the platform is installed)
    src/main.c                     the demo (portable C99, no framework header)
    src/mcugen_port.h              console, counter and entry point the demo needs from the board ...
    src/mcugen_port_<fw>.c(pp)     ... implemented for the framework (arduino, stm32cube, espidf, qemu)
    src/<name>_test_input.h        the input bytes (`mcugen verify --seed 0`, first set)
    lib/<name>/library.json        the model as a PlatformIO library: the generated sources
    lib/<name>/src/...
    CMakeLists.txt, src/CMakeLists.txt, sdkconfig.defaults, partitions.csv     (ESP-IDF only)
    mcugen_platform/               (emulated boards only) the local development platform: platform.json,
                                   boards/*.json, builder/main.py, bsp/ (startup, support), ldscripts/

`--validation` writes the validation firmware of `mcugen validate` instead of the demo: src/ holds the
protocol core copied from firmware/ (mg_validate.c, mg_validate.h), mg_validate_config.h for the model and a
port for the framework (mg_validate_port_<fw>.c(pp): UART, counter, reset, entry point; emulated boards use
firmware/mg_validate_bm.c), plus a README.md on how to run `mcugen validate` against it. Its RAM
(mg_v_ram_bytes: protocol state, RX ring, saved results) is a row of the size report and counts in the fit check.

Before anything is written the model is checked against the board: arena + stack must fit its RAM and
weights + code its flash. Code, weights, arena and the rest come from a linked ELF: the firmware itself
for emulated boards; for real boards the demo linked bare-metal with the board's compiler flags (the
framework's own code is not counted); for cores without a compiler here (Xtensa), Thumb-2 code size
stands in, marked as an estimate. The stack is the worst case of <name>_invoke() over GCC's static call
graph (-fcallgraph-info=su).
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import jinja2
import numpy as np

from .. import __version__, boards, codegen, compiler
from ..errors import BuildError, MCUGenError
from ..ir import c_type, np_dtype
from ..resources import templates_dir
from .host import cache_dir

PLATFORM_DIR = "mcugen_platform"  # the local platform's folder inside an emulated board's project
LOCAL_PLATFORM = "mcugen-qemu"  # boards/*.json name it as their PlatformIO platform
MANIFEST = ".mcugen-project.json"  # what mcugen wrote, so a regeneration can remove what it no longer writes
MONITOR_SPEED = 115200
REPEAT_SECONDS = 5
# Optimisation of the model library, and float contraction off so that a Cortex-M4F with FMA gives the
# same float results as the host build (which uses -ffp-contract=off too).
LIB_FLAGS = ["-O2", "-ffp-contract=off"]
QEMU_TIMEOUT = 120  # seconds, for `pio run -t upload` on an emulated board
REGISTRY_HOST = ("api.registry.platformio.org", 443)
LIBRARY_CALL_STACK = 128  # bytes counted for a C library call (memcpy, expf, ...) in the stack analysis
DEMO_STACK = 1024  # bytes the demo and the port add on top of the invoke (printing, framework entry)

# The ST-LINK virtual COM port of each STM32 board: USART, TX and RX pins (port, number), alternate function.
# family: f4 has the USART's SR/DR registers, f7 and h7 ISR/ICR/RDR/TDR (the validation port reads them).
STM32_CONSOLES = {
    "nucleo_f446re": dict(hal_header="stm32f4xx_hal.h", usart="USART2", tx=("A", 2), rx=("A", 3), af=7, family="f4"),
    "nucleo_h743zi": dict(hal_header="stm32h7xx_hal.h", usart="USART3", tx=("D", 8), rx=("D", 9), af=7, family="h7"),
    "disco_f746ng": dict(hal_header="stm32f7xx_hal.h", usart="USART1", tx=("A", 9), rx=("B", 7), af=7, family="f7"),
}
PORT_FILES = {
    "arduino": "mcugen_port_arduino.cpp",
    "stm32cube": "mcugen_port_stm32cube.c",
    "espidf": "mcugen_port_espidf.c",
    "qemu": "mcugen_port_qemu.c",
}
# The validation firmware's port per framework (`generate --validation`); emulated boards use firmware/'s.
VALIDATE_PORT_FILES = {
    "arduino": "mg_validate_port_arduino.cpp",
    "stm32cube": "mg_validate_port_stm32cube.c",
    "espidf": "mg_validate_port_espidf.c",
    "qemu": "mg_validate_bm.c",
}
VALIDATE_CORE = ("mg_validate.c", "mg_validate.h")  # copied from firmware/ into src/
VALIDATE_STACK_ROOT = "mg_validate_poll"  # the validation firmware's stack: its loop, the invoke included


class BoardFitError(MCUGenError):
    """The model does not fit the board (arena + stack > RAM or weights + code > flash)."""

    exit_code = 2


class PlatformIOError(MCUGenError):
    """PlatformIO is missing, cannot reach its registry, or failed."""

    exit_code = 1


def _kib(n: int | None) -> str:
    return "-" if n is None else f"{n / 1024:.1f} KiB"


# --------------------------------------------------------------------------------------------------
# What kind of project a board gets


def port_kind(board: boards.Board) -> str:
    if board.emulated:
        return "qemu"
    fw = board.platformio.get("framework")
    if fw not in PORT_FILES:
        raise MCUGenError(f"board {board.id}: mcugen has no demo for the PlatformIO framework '{fw}' "
                          f"(it has {', '.join(sorted(k for k in PORT_FILES if k != 'qemu'))})")
    if fw == "stm32cube" and board.platformio["board"] not in STM32_CONSOLES:
        raise MCUGenError(f"board {board.id}: mcugen does not know its console UART for STM32Cube")
    return fw


def counter_kind(board: boards.Board, port: str) -> str:
    if port == "qemu":
        return "bm"
    if board.cycle_counter == "dwt":
        return "dwt"
    if port == "espidf":
        return "ccount"
    if port == "arduino":
        return "micros"
    raise MCUGenError(f"board {board.id}: no cycle counter for '{board.cycle_counter}' with {port}")


def ticks_per_instruction(board: boards.Board) -> Fraction:
    """Counter ticks per instruction under QEMU -icount shift=N (one instruction = 2^N ns)."""
    emu = board.emulator
    return Fraction(emu.counter_hz * (1 << emu.icount_shift), 10**9)


def qemu_command(board: boards.Board) -> list[str]:
    """The QEMU command line (without -kernel) that runs the board's firmware with exact instruction counts."""
    emu = board.emulator
    return [emu.qemu, "-M", emu.machine, "-nographic", "-monitor", "none",
            "-icount", f"shift={emu.icount_shift}", *emu.args]


def toolchain_prefix(board: boards.Board) -> str:
    cc = board.gcc.cc
    if not cc.endswith("gcc"):
        raise MCUGenError(f"board {board.id}: gcc.cc '{cc}' does not end in 'gcc'")
    return cc[: -len("gcc")]


def baremetal_flags(board: boards.Board) -> tuple[list[str], list[str], list[str]]:
    """(compile flags without -D, link flags without -L/-T, libraries) of the emulated board's firmware:
    the same as mcugen's QEMU runner (targets/qemu.py) uses, so both builds give the same code."""
    from . import qemu

    compile_flags = [f for f in qemu.compile_flags(board) if not f.startswith("-D")]
    link, libs = [], []
    for f in qemu.link_flags(board):
        if f.startswith("-l"):
            libs.append(f[2:])
        elif not f.startswith(("-L", "-T", "-Wl,--start-group", "-Wl,--end-group")):
            link.append(f)
    return compile_flags, link, libs


# --------------------------------------------------------------------------------------------------
# Rendering


def _jinja() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())), keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)


def demo_inputs(program: compiler.Program) -> list[np.ndarray]:
    """The demo's bundled input: the first input set of `mcugen verify --seed 0`."""
    from ..verify import random_inputs

    g = program.graph
    details = [dict(dtype=np_dtype(g.tensor(t).dtype), shape=tuple(int(d) for d in g.tensor(t).shape)) for t in g.inputs]
    return random_inputs(details, 1, 0)[0]


def _io(program: compiler.Program, indices) -> list[dict]:
    g = program.graph
    out = []
    for k, t in enumerate(indices):
        tensor = g.tensor(t)
        out.append(dict(index=k, name=codegen.comment_safe(tensor.name), dtype=tensor.dtype, ctype=c_type(tensor.dtype),
                        shape=list(tensor.shape) or [1], nbytes=tensor.nbytes))
    return out


def _test_input_header(name: str, program: compiler.Program, inputs: list[np.ndarray]) -> str:
    lines = [f"/* {name}_test_input.h: the demo's input, generated by mcugen {__version__}: the first input set of",
             " * `mcugen verify --seed 0` (uniform over the integer range, N(0, 1) for floats), as raw bytes. */",
             f"#ifndef {name.upper()}_TEST_INPUT_H", f"#define {name.upper()}_TEST_INPUT_H", "", "#include <stdint.h>"]
    for d, x in zip(_io(program, program.graph.inputs), inputs):
        raw = np.ascontiguousarray(x).astype(np_dtype(d["dtype"]), copy=False).tobytes()
        body = ",\n".join("    " + ", ".join(f"0x{b:02x}" for b in raw[i:i + 16]) for i in range(0, len(raw), 16))
        lines += ["", f"/* input {d['index']}: '{d['name']}' {d['dtype']}{d['shape']}, {len(raw)} bytes */",
                  f"static const uint8_t {name}_test_input{d['index']}[{max(len(raw), 1)}] = {{", body or "    0", "};"]
    lines += ["", f"#endif /* {name.upper()}_TEST_INPUT_H */", ""]
    return "\n".join(lines)


def _board_manifest(board: boards.Board) -> dict:
    """The PlatformIO board manifest of an emulated board, for the local platform's boards/ folder."""
    emu = board.emulator
    cflags, link_flags, libs = baremetal_flags(board)
    qemu_pkg = "qemu-system-misc" if "riscv" in emu.qemu else "qemu-system-arm"
    return {
        "build": {
            "cpu": board.cpu,
            "f_cpu": f"{board.clock_hz or 1000000000}L",
            "mcu": emu.machine,
            "ldscript": emu.ldscript,
            "mcugen": {
                "toolchain_prefix": toolchain_prefix(board),
                "ccflags": [f for f in cflags if not f.startswith("-std=")],
                "cflags": [f for f in cflags if f.startswith("-std=")],
                "asflags": list(board.gcc.cflags),
                "ldflags": link_flags,
                "libs": libs,
                "defines": dict(emu.defines),
                "bsp": [emu.startup, emu.support],
                "qemu": qemu_command(board),
                "qemu_package": qemu_pkg,
                "qemu_timeout": QEMU_TIMEOUT,
            },
        },
        "frameworks": [],
        "name": board.name,
        "upload": {"maximum_ram_size": board.ram_bytes, "maximum_size": board.flash_bytes,
                   "protocol": "qemu", "protocols": ["qemu"]},
        "url": "https://www.qemu.org/docs/master/system/target-arm.html" if "arm" in emu.qemu
        else "https://www.qemu.org/docs/master/system/riscv/virt.html",
        "vendor": board.vendor,
    }


def local_platform_files() -> dict[str, str]:
    """mcugen's local PlatformIO platform for emulated boards: {relative path: text}."""
    env = _jinja()
    files = {
        "platform.json": env.get_template("pio_platform.json.j2").render(platform_name=LOCAL_PLATFORM, version=__version__),
        "builder/main.py": env.get_template("pio_platform_main.py.j2").render(version=__version__),
    }
    fw = boards.firmware_dir()
    bsp, scripts = set(), set()
    for b in boards.emulated_boards():
        files[f"boards/{b.id}.json"] = json.dumps(_board_manifest(b), indent=2) + "\n"
        bsp.update([b.emulator.startup, b.emulator.support])
        scripts.add(b.emulator.ldscript)
    # Headers the support code includes, and linker scripts the board scripts INCLUDE.
    bsp.update(p.name for p in fw.glob("*.h"))
    for script in list(scripts):
        scripts.update(re.findall(r"^\s*INCLUDE\s+(\S+)", (fw / script).read_text(), re.M))
    for fname in sorted(bsp):
        files[f"bsp/{fname}"] = (fw / fname).read_text()
    for fname in sorted(scripts):
        files[f"ldscripts/{fname}"] = (fw / fname).read_text()
    return files


@dataclass
class Project:
    board: boards.Board
    name: str
    program: compiler.Program
    files: dict[str, str]  # relative path -> text
    inputs: list[np.ndarray]
    port: str
    counter: str
    validation: bool = False  # the validation firmware (mg_validate.c) instead of the demo
    port_file: str = ""


def render_project(program: compiler.Program, name: str, board: boards.Board, model_label: str,
                   stack: tuple[int, str] | None = None, validation: bool = False,
                   validation_ram: int | None = None) -> Project:
    """All files of the project for `board`, as {relative path: text}. Deterministic.

    validation: the firmware of `mcugen validate` (protocol core + a port for the framework) instead of
    the demo; validation_ram (the measured mg_v_ram_bytes) only goes into its README."""
    port = port_kind(board)
    counter = counter_kind(board, port)
    port_file = (VALIDATE_PORT_FILES if validation else PORT_FILES)[port]
    inputs = demo_inputs(program)
    outputs = _io(program, program.graph.outputs)
    env = _jinja()
    env_name = board.id
    ctx = dict(
        version=__version__, model=codegen.comment_safe(model_label), name=name, NAME=name.upper(), board=board.id,
        board_name=board.name, port_file=port_file, counter=counter, monitor_speed=MONITOR_SPEED,
        repeat_seconds=REPEAT_SECONDS, cpu=board.core, inputs=_io(program, program.graph.inputs), outputs=outputs,
        uses_float=any(t["dtype"] == "float32" for t in outputs),
        uses_hex=any(t["dtype"] in ("float32", "int64") for t in outputs),
        counter_unit={"bm": "instructions", "micros": "us"}.get(counter, "cycles"),
        counter_what={"bm": "executed instructions (QEMU -icount)", "micros": "time in microseconds"}.get(counter, "cycles"),
        counter_estimate=counter == "micros" and bool(board.clock_hz),
        cpu_mhz=(board.clock_hz or 0) // 1_000_000,
        wrap_seconds=f"{2**32 / board.clock_hz:.1f}" if board.clock_hz else "?",
        counter_source="CCOUNT" if board.arch == "xtensa" else "the RISC-V core's cycle counter",
    )
    if counter == "bm":
        tpi = ticks_per_instruction(board)
        ctx.update(tpi_num=tpi.numerator, tpi_den=tpi.denominator)
    ctx.update(validation=validation, emulated=port == "qemu", env=env_name, serial_port=serial_port_example(board))
    files: dict[str, str] = {}
    lib_files = codegen.render(program, name, model_label)
    for fname, text in lib_files.items():
        files[f"lib/{name}/src/{fname}"] = text
    files[f"lib/{name}/library.json"] = env.get_template("pio_library.json.j2").render(
        ctx, steps=len(program.steps), macs=program.macs, arena_size=program.arena_size,
        weights_bytes=program.weights_bytes, flags=LIB_FLAGS)
    if not (validation and port == "qemu"):  # mg_validate_bm.c counts with mg_bm.h directly
        files["src/mcugen_port.h"] = env.get_template("pio_port.h.j2").render(ctx)
    port_ctx = dict(ctx)
    if port == "stm32cube":
        port_ctx["console"] = _stm32_console(board)
    if validation:
        from ..validate.firmware import config_header

        fw = boards.firmware_dir()
        for fname in VALIDATE_CORE:
            files[f"src/{fname}"] = (fw / fname).read_text()
        files["src/mg_validate_config.h"] = config_header(program, name, noinit=board.emulated)
        if port == "qemu":
            files[f"src/{port_file}"] = (fw / port_file).read_text()
        else:
            files[f"src/{port_file}"] = env.get_template(
                f"pio_validate_port_{port}.{port_file.rsplit('.', 1)[1]}.j2").render(port_ctx)
        port_what = {"qemu": "the bare-metal port (UART, counter, reset) of mcugen's emulated boards",
                     "stm32cube": "the port: HAL UART with RX interrupt, DWT counter, reset",
                     "arduino": "the port: Serial, counter, reset, setup()/loop()",
                     "espidf": "the port: UART0 driver, cycle counter, esp_restart, app_main()"}[port]
        files["README.md"] = env.get_template("pio_validate_README.md.j2").render(
            ctx, port_what=port_what, arena_size=program.arena_size, ram_bytes=validation_ram)
    else:
        files["src/main.c"] = env.get_template("pio_main.c.j2").render(ctx)
        files[f"src/{port_file}"] = env.get_template(f"pio_port_{port}.{port_file.rsplit('.', 1)[1]}.j2").render(port_ctx)
        files[f"src/{name}_test_input.h"] = _test_input_header(name, program, inputs)
    files[".gitignore"] = ".pio/\n"

    extra_options = []
    if port == "qemu":
        platform = f"symlink://${{PROJECT_DIR}}/{PLATFORM_DIR}"
        for rel, text in local_platform_files().items():
            files[f"{PLATFORM_DIR}/{rel}"] = text
        upload_note = "run the firmware under QEMU (exit status = the invoke's status)"
        if validation:
            # The builder's upload prints how to validate instead of waiting in QEMU for a host.
            extra_options += [("custom_mcugen_validation", "yes"), ("custom_mcugen_model", codegen.comment_safe(model_label))]
    else:
        platform = board.platformio["platform"]
        upload_note = "flash the board"
    if port == "espidf":
        flash_mb = board.flash_bytes >> 20
        extra_options.append(("board_build.partitions", "partitions.csv"))
        stack_note = f"{stack[0]} bytes of stack ({stack[1]})" if stack else "an unmeasured stack"
        # Xtensa's register windows spill into the frames: a generous margin over the measured invoke.
        main_stack = max(4096, -(-((stack[0] if stack else 4096) + DEMO_STACK + 2048) // 1024) * 1024)
        files["CMakeLists.txt"] = env.get_template("pio_espidf_CMakeLists.txt.j2").render(ctx)
        files["src/CMakeLists.txt"] = env.get_template("pio_espidf_src_CMakeLists.txt.j2").render(
            ctx, src_files=["mg_validate.c", port_file] if validation else ["main.c", port_file])
        files["sdkconfig.defaults"] = env.get_template("pio_sdkconfig.defaults.j2").render(
            ctx, stack_note=stack_note, main_stack=main_stack, flash_mb=flash_mb)
        files["partitions.csv"] = env.get_template("pio_partitions.csv.j2").render(
            ctx, flash_mb=flash_mb, app_size=hex(board.flash_bytes - 0x10000))
    files["platformio.ini"] = env.get_template("pio_platformio.ini.j2").render(
        ctx, platform_dir=PLATFORM_DIR, platform=platform,
        pio_board=board.platformio["board"], framework=board.platformio.get("framework"),
        extra_options=extra_options, upload_note=upload_note)
    return Project(board, name, program, files, inputs, port, counter, validation, port_file)


def serial_port_example(board: boards.Board) -> str:
    """The Linux name the board's serial port usually gets: ESP32 dev kits have a USB-UART bridge
    (ttyUSB), ST-LINK and the Arduino cores' native USB are CDC ACM devices (ttyACM)."""
    return "/dev/ttyUSB0" if port_kind(board) == "espidf" else "/dev/ttyACM0"


def _stm32_console(board: boards.Board) -> dict:
    c = dict(STM32_CONSOLES[board.platformio["board"]])
    by_port: dict[str, list[str]] = {}
    for port, pin in (c["tx"], c["rx"]):
        by_port.setdefault(port, []).append(f"GPIO_PIN_{pin}")
    c["gpio_ports"] = sorted(by_port)
    c["pins_by_port"] = [(p, " | ".join(by_port[p])) for p in sorted(by_port)]
    return c


# --------------------------------------------------------------------------------------------------
# Size report: compile and link with the board's compiler, attribute sections through the link map


@dataclass
class SizeReport:
    board: str
    flash_limit: int
    ram_limit: int
    basis: str  # what was linked
    compiler: str  # compiler and flags, or why there is none
    estimated: bool  # code size from a stand-in core, or not measured at all
    code: int | None  # model code + kernels (text and the kernels' constants)
    weights: int  # the model's constants (weights, biases, precomputed parameters)
    arena: int
    stack: int | None  # worst case of <name>_invoke(), static analysis
    stack_note: str
    other_flash: int | None  # startup, demo, C library, ...
    other_ram: int | None
    # Validation firmware only: the RAM the link map gives mg_validate.o (= mg_v_ram_bytes): protocol
    # state, RX ring, saved results. None for the demo (or when nothing could be linked).
    validation: int | None = None
    # ESP-IDF validation firmware: the RX buffer its UART driver takes from the heap (holds the requests
    # that arrive during an inference); counted with the validation row.
    driver_rx: int = 0

    @property
    def model_flash(self) -> int:
        return self.weights + (self.code or 0)

    @property
    def model_ram(self) -> int:
        return self.arena + (self.stack or 0)

    @property
    def fit_ram(self) -> int:
        """What the fit check compares with the board's RAM: arena + stack (+ the protocol's RAM)."""
        return self.model_ram + self.validation_ram

    @property
    def validation_ram(self) -> int:
        return (self.validation or 0) + self.driver_rx

    @property
    def total_flash(self) -> int:
        return self.model_flash + (self.other_flash or 0)

    @property
    def total_ram(self) -> int:
        return self.fit_ram + (self.other_ram or 0)

    def problems(self) -> list[str]:
        out = []
        if self.fit_ram > self.ram_limit:
            val = f" + validation {self.validation_ram} B" if self.validation is not None else ""
            out.append(f"arena {self.arena} B + stack {self.stack or 0} B{val} = {self.fit_ram} B "
                       f"({_kib(self.fit_ram)}) > RAM {self.ram_limit} B ({_kib(self.ram_limit)})")
        if self.model_flash > self.flash_limit:
            est = ", code estimated" if self.estimated else ""
            out.append(f"weights {self.weights} B + code {self.code or 0} B{est} = {self.model_flash} B "
                       f"({_kib(self.model_flash)}) > flash {self.flash_limit} B ({_kib(self.flash_limit)})")
        return out

    def format(self) -> str:
        rows = [("code", self.code, None, "model + kernels" + (" (estimate)" if self.estimated else "")),
                ("weights", self.weights, None, "constants: weights, biases, parameters"),
                ("arena", None, self.arena, "activations, planned"),
                ("stack", None, self.stack, self.stack_note),
                ("other", self.other_flash, self.other_ram, "demo, startup, C library"),
                ("total", self.total_flash, self.total_ram, ""),
                ("board", self.flash_limit, self.ram_limit, "")]
        if self.validation is not None:
            driver = f" + UART driver RX buffer {self.driver_rx} B" if self.driver_rx else ""
            rows.insert(4, ("validation", None, self.validation_ram,
                            f"protocol state, RX ring, saved results (mg_v_ram_bytes = {self.validation} B){driver}"))
            rows[5] = ("other", self.other_flash, self.other_ram, "protocol code, port, startup, C library")
        w = 11 if self.validation is not None else 9  # the label column fits "validation"
        lines = [f"size report for {self.board}: {self.basis}", f"  compiled with {self.compiler}",
                 f"  {'':<{w}}{'flash':>12}{'RAM':>12}"]
        for label, fl, ram, note in rows:
            lines.append(f"  {label:<{w}}{_kib(fl) if fl is not None else '-':>12}{_kib(ram) if ram is not None else '-':>12}"
                         f"{'   ' + note if note else ''}")
        lines.append(f"  {'used':<{w}}{100 * self.total_flash / self.flash_limit:>11.1f}%{100 * self.total_ram / self.ram_limit:>11.1f}%")
        return "\n".join(lines)


# Stand-in for cores without a compiler here: Xtensa code density is close to Thumb-2's.
STAND_IN_CFLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]

_MEASURE_PORT = """/* Size measurement only: a console that writes nowhere and a bare entry point. */
#include "mcugen_port.h"

volatile char mcugen_measure_sink;

void mcugen_port_write(const char *text, size_t n) {
    while (n--) {
        mcugen_measure_sink = *text++;
    }
}
uint32_t mcugen_port_micros(void) { return 0u; }
uint32_t mcugen_port_cycles(void) { return 0u; }

int main(void) { return mcugen_demo(); }
"""

_MEASURE_VALIDATE_PORT = """/* Size measurement only: the validation core with a port that talks to nothing. */
#include "mcugen_port.h"
#include "mg_validate.h"

volatile uint8_t mg_measure_sink;
volatile int mg_measure_source = -1;

void mg_v_port_poll_rx(void) {
    const int c = mg_measure_source;
    if (c >= 0) {
        mg_validate_rx((uint8_t)c);
    }
}
void mg_v_port_write(const uint8_t *data, uint32_t n) {
    while (n--) {
        mg_measure_sink = *data++;
    }
}
void mg_v_port_counter_start(void) { mcugen_counter_start(); }
uint32_t mg_v_port_counter(void) { return mcugen_counter(); }
void mg_v_port_reboot(void) {
    for (;;) {
    }
}
uint32_t mcugen_port_micros(void) { return 0u; }
uint32_t mcugen_port_cycles(void) { return 0u; }

int main(void) {
    mg_validate_init();
    for (;;) {
        mg_validate_poll();
    }
}
"""

# Generous regions: the measurement must link whatever the size, the fit check compares afterwards.
_MEASURE_LDSCRIPT = """ENTRY(main)
MEMORY
{
    FLASH (rx) : ORIGIN = 0x00000000, LENGTH = 512M
    RAM (rwx) : ORIGIN = 0x20000000, LENGTH = 512M
}
SECTIONS
{
    .text : { *(.text .text.*) } > FLASH
    .rodata : { *(.rodata .rodata.* .srodata .srodata.*) } > FLASH
    .ARM.exidx : { *(.ARM.exidx*) } > FLASH
    .data : { *(.data .data.* .sdata .sdata.*) } > RAM AT > FLASH
    .bss (NOLOAD) : { *(.bss .bss.* .sbss .sbss.* COMMON) } > RAM
    PROVIDE(__global_pointer$ = ADDR(.data) + 0x800);
    end = .;
}
"""


def _elf_sections(path: Path) -> list[tuple[str, int, int, int]]:
    """(name, type, flags, size) of each section of a 32-bit little-endian ELF file."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        raise BuildError(f"{path}: not a 32-bit little-endian ELF file")
    shoff, = struct.unpack_from("<I", data, 0x20)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)
    headers = [struct.unpack_from("<IIIIIIIIII", data, shoff + i * shentsize) for i in range(shnum)]
    strtab_off = headers[shstrndx][4]

    def name(off):
        end = data.index(b"\0", strtab_off + off)
        return data[strtab_off + off:end].decode()

    return [(name(h[0]), h[1], h[2], h[5]) for h in headers]


SHT_NOBITS, SHF_WRITE, SHF_ALLOC = 8, 1, 2


def _memory_totals(elf: Path) -> tuple[int, int]:
    """(flash, RAM) bytes: flash holds every loaded section (code, constants, .data's initial values),
    RAM every writable one (.data, .bss)."""
    flash = ram = 0
    for _, stype, flags, size in _elf_sections(elf):
        if not flags & SHF_ALLOC:
            continue
        if stype != SHT_NOBITS:
            flash += size
        if flags & SHF_WRITE:
            ram += size
    return flash, ram


_MAP_INPUT = re.compile(r"^ (\S+)\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+(\S.*)$")
_MAP_NAME_ONLY = re.compile(r"^ (\S+)$")
_MAP_ADDR_ONLY = re.compile(r"^\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+(\S.*)$")


def _map_input_sections(map_text: str) -> list[tuple[str, int, str]]:
    """(input section name, size, object file) of every section placed by the link."""
    start = map_text.find("Linker script and memory map")
    lines = map_text[start:].splitlines() if start >= 0 else []
    out, pending = [], None
    for line in lines:
        m = _MAP_INPUT.match(line)
        if m and not m.group(1).startswith("*"):
            out.append((m.group(1), int(m.group(3), 16), m.group(4).strip()))
            pending = None
            continue
        m = _MAP_NAME_ONLY.match(line)
        if m and not m.group(1).startswith("*"):
            pending = m.group(1)
            continue
        m = _MAP_ADDR_ONLY.match(line)
        if m and pending:
            out.append((pending, int(m.group(2), 16), m.group(3).strip()))
        pending = None
    return out


def _section_kind(section: str) -> str:
    """text | rodata | data | bss | other, from an input section name such as .text.mg_conv2d_s8."""
    if section == "COMMON":
        return "bss"
    head = section.lstrip(".").split(".", 1)[0]
    return {"text": "text", "rodata": "rodata", "srodata": "rodata", "data": "data", "sdata": "data", "tdata": "data",
            "bss": "bss", "sbss": "bss", "tbss": "bss"}.get(head, "other")


_CI_NODE = re.compile(r'node: \{ title: "([^"]+)" label: "([^"]*)"')
_CI_EDGE = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')
_CI_STACK = re.compile(r"\\n(\d+) bytes \(([a-z,]+)\)")


def invoke_stack(ci_texts: list[str], root: str) -> tuple[int | None, str]:
    """Worst-case stack bytes of `root` over GCC's call-graph files (-fcallgraph-info=su), and a note."""
    frames: dict[str, int] = {}
    dynamic: set[str] = set()
    edges: dict[str, set[str]] = {}
    for text in ci_texts:
        for title, label in _CI_NODE.findall(text):
            m = _CI_STACK.search(label)
            if m:
                frames[title] = int(m.group(1))
                if "dynamic" in m.group(2) and "bounded" not in m.group(2):
                    dynamic.add(title)
        for src, dst in _CI_EDGE.findall(text):
            edges.setdefault(src, set()).add(dst)
    if root not in frames:
        return None, f"{root}() not found in the call graph"
    library_calls: set[str] = set()
    memo: dict[str, int] = {}

    def depth(fn: str, path: tuple[str, ...]) -> int:
        if fn in path:
            raise RecursionError(fn)
        if fn in memo:
            return memo[fn]
        if fn not in frames:  # defined outside the compiled sources: the C library or a compiler helper
            library_calls.add(fn)
            return LIBRARY_CALL_STACK
        best = frames[fn] + max((depth(c, path + (fn,)) for c in edges.get(fn, ())), default=0)
        memo[fn] = best
        return best

    try:
        total = depth(root, ())
    except RecursionError as e:
        return None, f"recursion through {e.args[0]}: no static bound"
    note = f"worst case of {root}(), static call graph"
    if library_calls:
        note += f"; {len(library_calls)} C library function(s) counted as {LIBRARY_CALL_STACK} B"
    if dynamic:
        note += f"; dynamic frames in {', '.join(sorted(dynamic))}"
    return total, note


def _tool_version(cc: str) -> str:
    try:
        out = subprocess.run([cc, "-dumpversion"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = "?"
    return out


def _driver_rx(project: Project) -> int:
    """The ESP-IDF validation port's uart_driver_install() RX buffer: MG_V_RX_RING bytes of heap."""
    if not (project.validation and project.port == "espidf"):
        return 0
    from ..validate import firmware as F

    return F.ring_size(sum(F.io_sizes(project.program)[0]))


def measure(project: Project) -> SizeReport:
    """Compile and link the project's model and demo (or validation firmware) for its board and attribute
    the linked sizes. For the validation firmware the RAM of mg_validate.o is the `validation` row."""
    board, name, program = project.board, project.name, project.program
    what = "the validation firmware" if project.validation else "the demo"
    gcc = board.gcc
    estimated = False
    if gcc is None or shutil.which(gcc.cc) is None:
        if shutil.which("arm-none-eabi-gcc") is None:
            why = f"no compiler for {board.core} here" if gcc is None else f"{gcc.cc} is not installed"
            return SizeReport(board.id, board.flash_bytes, board.ram_bytes, "the model's planned sizes only",
                              f"nothing ({why}; code and stack not measured)", True, None, program.weights_bytes,
                              program.arena_size, None, "not measured", None, None)
        cc, cflags, estimated = "arm-none-eabi-gcc", STAND_IN_CFLAGS, True
        why = f"no compiler for {board.core} here" if gcc is None else f"{gcc.cc} is not installed"
        basis = f"estimate: {what} linked bare-metal for Thumb-2 ({why})"
    else:
        cc, cflags = gcc.cc, list(gcc.cflags)
        basis = ("the project's firmware" if board.emulated else
                 f"{what} linked bare-metal (the {board.platformio.get('framework')} framework's code is not counted)")
    from . import qemu

    app = (["src/mcugen_port.h", "src/mg_validate_config.h", *(f"src/{f}" for f in VALIDATE_CORE)] if project.validation
           else ["src/main.c", "src/mcugen_port.h", f"src/{name}_test_input.h"])
    sources = {Path(p).name: text for p, text in project.files.items() if p.startswith(f"lib/{name}/src/") or p in app}
    include_dirs = []
    is_rv = any(f.startswith("-march=rv") for f in cflags)
    libc = ["--specs=picolibc.specs"] if is_rv else ["--specs=nosys.specs"]
    if board.emulated and not estimated:
        # The firmware `pio run` builds: same sources, flags, startup and linker script.
        fw = boards.firmware_dir()
        port_file = project.port_file or PORT_FILES["qemu"]
        sources[port_file] = project.files[f"src/{port_file}"]
        for fname in (board.emulator.startup, board.emulator.support):
            sources[fname] = (fw / fname).read_text()
        include_dirs.append(str(fw))
        compile_flags = qemu.compile_flags(board)
        link_flags = qemu.link_flags(board)
        ldscript = None
    else:
        sources["mcugen_measure_port.c"] = _MEASURE_VALIDATE_PORT if project.validation else _MEASURE_PORT
        ldscript = _MEASURE_LDSCRIPT
        compile_flags = [*cflags, qemu.DEFAULT_OPT, *qemu.FIRMWARE_CFLAGS, *(libc if is_rv else [])]
        link_flags = [*(gcc.ldflags if is_rv else cflags), *libc, "-nostartfiles", "-Wl,--gc-sections",
                      "-Wl,--start-group", "-lc", "-lm", "-lgcc", "-Wl,--end-group"]
    shown = [f for f in compile_flags if not f.startswith(("-D", "-W", "--specs"))]
    compiler_text = f"{' '.join([cc, *shown])} (gcc {_tool_version(cc)})"
    compile_flags = [*compile_flags, "-fcallgraph-info=su"]

    key = hashlib.sha256(json.dumps([cc, compiler_text, compile_flags, link_flags, ldscript, sorted(sources.items()),
                                     board.flash_bytes, board.ram_bytes, basis, estimated, __version__]).encode()).hexdigest()[:24]
    cached = cache_dir() / f"size-{key}.json"
    if cached.is_file():
        try:
            return SizeReport(**json.loads(cached.read_text()))
        except (ValueError, TypeError):
            pass

    with tempfile.TemporaryDirectory(prefix="mcugen-size-") as tmp:
        tmpdir = Path(tmp)
        for fname, text in sources.items():
            (tmpdir / fname).write_text(text)
        c_files = sorted(f for f in sources if f.endswith((".c", ".S")))

        def compile_one(fname: str) -> Path:
            obj = tmpdir / (fname.rsplit(".", 1)[0] + ".o")
            cmd = [cc, *compile_flags, "-I", str(tmpdir), *[f"-I{d}" for d in include_dirs], "-c", str(tmpdir / fname), "-o", str(obj)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise BuildError(f"{cc} failed on {fname} for {board.id} (please report this):\n{' '.join(cmd)}\n{proc.stderr[-3000:]}")
            return obj

        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
            objects = list(pool.map(compile_one, c_files))
        elf, map_file = tmpdir / "firmware.elf", tmpdir / "firmware.map"
        if ldscript:
            (tmpdir / "measure.ld").write_text(ldscript)
            link_flags = link_flags + ["-T", str(tmpdir / "measure.ld")]
        cmd = [cc, *map(str, objects), *link_flags, f"-Wl,-Map={map_file}", "-o", str(elf)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"linking the demo for {board.id} failed (please report this):\n{' '.join(cmd)}\n{proc.stderr[-3000:]}")
        flash_total, ram_total = _memory_totals(elf)
        parts = dict(code=0, weights=0, arena=0)
        model_obj = f"{name}.o"
        kernel_objs = {Path(p).stem + ".o" for p in project.files if p.startswith(f"lib/{name}/src/mg_") and p.endswith(".c")}
        model_ram = 0
        validation_ram = 0
        for section, size, obj in _map_input_sections(map_file.read_text()):
            base = Path(obj).name
            kind = _section_kind(section)
            if base == "mg_validate.o" and (kind in ("data", "bss") or section.startswith(".mg_noinit")):
                validation_ram += size  # its state struct and the persistent one (.mg_noinit on emulated boards)
            elif base == model_obj:
                if kind == "text":
                    parts["code"] += size
                elif kind in ("rodata", "data"):
                    parts["weights"] += size
                    model_ram += size if kind == "data" else 0
                elif kind == "bss":
                    parts["arena"] += size
            elif base in kernel_objs and kind in ("text", "rodata"):
                parts["code"] += size
        ci_texts = [p.read_text() for p in tmpdir.glob("*.ci")]
        stack, stack_note = None, ""
        if project.validation:  # the protocol's loop calls the invoke: its worst case includes the invoke's
            stack, stack_note = invoke_stack(ci_texts, VALIDATE_STACK_ROOT)
        if stack is None:
            stack, stack_note = invoke_stack(ci_texts, f"{name}_invoke")
    report = SizeReport(
        board=board.id, flash_limit=board.flash_bytes, ram_limit=board.ram_bytes, basis=basis, compiler=compiler_text,
        estimated=estimated, code=parts["code"], weights=parts["weights"], arena=parts["arena"], stack=stack,
        stack_note=stack_note, other_flash=max(0, flash_total - parts["code"] - parts["weights"]),
        other_ram=max(0, ram_total - parts["arena"] - model_ram - validation_ram),
        validation=validation_ram if project.validation else None,
        driver_rx=_driver_rx(project))
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        staged = cached.with_suffix(f".{os.getpid()}.tmp")
        staged.write_text(json.dumps(asdict(report)))
        os.replace(staged, cached)
    except OSError:
        pass  # the cache is an optimisation
    return report


# --------------------------------------------------------------------------------------------------
# Writing a project


def _write_tree(files: dict[str, str], out_dir: Path) -> list[str]:
    """Write changed files (atomically, one by one) and remove files an earlier generation wrote that
    are no longer part of the project. Returns the paths written."""
    written = []
    by_dir: dict[str, dict[str, str]] = {}
    for rel, text in files.items():
        d, _, fname = rel.rpartition("/")
        by_dir.setdefault(d, {})[fname] = text
    for d in sorted(by_dir):
        for fname in codegen.write_files(by_dir[d], out_dir / d if d else out_dir):
            written.append(f"{d}/{fname}" if d else fname)
    manifest = out_dir / MANIFEST
    try:
        before = set(json.loads(manifest.read_text()).get("files", []))
    except (OSError, ValueError, AttributeError):
        before = set()
    for rel in sorted(before - set(files)):
        path = out_dir / rel
        if not Path(rel).is_absolute() and ".." not in Path(rel).parts and path.is_file():
            path.unlink()
            parent = path.parent
            while parent != out_dir and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
    codegen.write_files({MANIFEST: json.dumps({"generator": f"mcugen {__version__}", "files": sorted(files)}, indent=1) + "\n"}, out_dir)
    return written


@dataclass
class GenerateResult:
    project: Project
    report: SizeReport
    written: list[str]


def generate_project(model, board_name, out_dir, name: str | None = None, alignment: int = 16,
                     fit_check: bool = True, validation: bool = False) -> GenerateResult:
    """Compile `model` and write the PlatformIO project for `board_name` into `out_dir`; with
    `validation`, the validation firmware of `mcugen validate` instead of the demo.

    Raises BoardFitError (nothing written) when the model does not fit the board and fit_check is on
    (arena + stack, plus the protocol's RAM for the validation firmware, against the board's RAM)."""
    board = boards.load(board_name)
    port_kind(board)  # an unsupported framework fails before the (slower) compilation
    name = codegen.check_name(name or codegen.default_name(str(model)))
    program = compiler.compile_model(model, alignment)
    label = os.path.basename(str(model))
    project = render_project(program, name, board, label, validation=validation)
    report = measure(project)
    if (project.port == "espidf" and report.stack) or validation:
        how = "Thumb-2 stand-in, static analysis" if report.estimated else "static analysis"
        stack = (report.stack, how) if report.stack else None
        # the ESP-IDF main task is sized from the stack; the README tells the protocol's RAM
        project = render_project(program, name, board, label, stack=stack, validation=validation,
                                 validation_ram=report.validation)
    problems = report.problems()
    if problems and fit_check:
        raise BoardFitError(f"{name} does not fit {board.id}: {'; '.join(problems)} "
                            "(--no-fit-check writes the project anyway)")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise MCUGenError(f"{out} exists and is not a folder")
    written = _write_tree(project.files, out)
    return GenerateResult(project, report, written)


# --------------------------------------------------------------------------------------------------
# PlatformIO itself: tool-scons offline, `pio run -t upload`


def core_dir() -> Path:
    return Path(os.environ.get("PLATFORMIO_CORE_DIR") or Path.home() / ".platformio")


def _scons_package_version() -> str:
    """The tool-scons version this PlatformIO asks for (e.g. '~4.41101.0' -> '4.41101.0')."""
    try:
        from platformio.dependencies import get_core_dependencies

        req = get_core_dependencies()["tool-scons"]
        return re.sub(r"^[~^=<>! ]+", "", req).split(",")[0].strip()
    except Exception:  # PlatformIO not importable here, or a different layout: derive from SCons itself
        import SCons

        major, minor, patch = (int(x) for x in re.findall(r"\d+", SCons.__version__)[:3])
        return f"{major}.{major}{minor:02d}{patch:02d}.0"


def _package_version(folder: Path) -> str | None:
    try:
        return json.loads((folder / ".piopm").read_text())["version"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def tool_scons_ready() -> bool:
    """Whether PlatformIO (in its current core dir) has a tool-scons it accepts."""
    try:
        from platformio.package.manager.core import get_core_package_dir

        return get_core_package_dir("tool-scons", auto_install=False) is not None
    except Exception:  # PlatformIO not importable here: look for the folder
        return (core_dir() / "packages" / "tool-scons" / "scons.py").is_file()


def install_tool_scons(core: Path | None = None) -> Path:
    """Make PlatformIO's core package `tool-scons` from the installed `scons` (PyPI) without the registry.

    PlatformIO runs `<package>/scons.py`; the package's .piopm must name owner 'platformio' and a version
    that satisfies PlatformIO's requirement. Returns the package folder (reused if already there)."""
    core = Path(core) if core else core_dir()
    version = _scons_package_version()
    dest = core / "packages" / "tool-scons"
    if _package_version(dest) not in (None, version):
        dest = dest.with_name(f"tool-scons@{version}")  # another version is there: PlatformIO's naming for a second
    if _package_version(dest) == version and (dest / "scons.py").is_file():
        return dest
    try:
        import SCons
    except ImportError:
        raise PlatformIOError("the `scons` Python package is not installed (pip install scons); "
                              "it provides PlatformIO's tool-scons without the registry") from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tool-scons-", dir=dest.parent))
    try:
        shutil.copytree(Path(SCons.__file__).parent, staging / "SCons", ignore=shutil.ignore_patterns("__pycache__"))
        (staging / "scons.py").write_text(
            '"""SCons entry point of PlatformIO\'s tool-scons package, made by mcugen from the PyPI scons wheel."""\n'
            "import os\nimport sys\n\n"
            "sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))\n\n"
            "from SCons.Script.Main import main  # noqa: E402\n\n"
            "if __name__ == '__main__':\n    main()\n")
        (staging / "package.json").write_text(json.dumps({
            "name": "tool-scons", "version": version,
            "description": f"SCons {SCons.__version__} from PyPI, packaged by mcugen {__version__} for offline builds"}, indent=2))
        (staging / ".piopm").write_text(json.dumps({
            "type": "tool", "name": "tool-scons", "version": version,
            "spec": {"owner": "platformio", "id": None, "name": "tool-scons", "requirements": None, "uri": None}}))
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staging, dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return dest


def pio_command() -> list[str]:
    """How to run PlatformIO: $MCUGEN_PIO, else `python -m platformio` here, else `pio` on PATH."""
    override = os.environ.get("MCUGEN_PIO")
    if override:
        found = shutil.which(override)
        if not found:
            raise PlatformIOError(f"PlatformIO not found: MCUGEN_PIO={override} is not a command "
                                  "(pip install platformio)")
        return [found]
    try:
        import importlib.util

        if importlib.util.find_spec("platformio") is not None:
            return [sys.executable, "-m", "platformio"]
    except (ImportError, ValueError):
        pass
    found = shutil.which("pio") or shutil.which("platformio")
    if not found:
        raise PlatformIOError("PlatformIO is not installed: `pip install platformio` (no `pio` command found)")
    return [found]


def registry_reachable(timeout: float = 5.0) -> bool:
    host = os.environ.get("MCUGEN_PIO_REGISTRY")  # host:port, for tests and proxies
    addr = (host.rsplit(":", 1)[0], int(host.rsplit(":", 1)[1])) if host else REGISTRY_HOST
    try:
        with socket.create_connection(addr, timeout=timeout):
            return True
    except OSError:
        return False


def _platform_installed(spec: str) -> bool | None:
    """Whether PlatformIO has `spec` installed in its core dir; None when PlatformIO is not importable here."""
    try:
        from platformio.package.manager.platform import PlatformPackageManager
        from platformio.package.meta import PackageSpec

        return PlatformPackageManager(str(core_dir() / "platforms")).get_package(PackageSpec(spec)) is not None
    except Exception:
        return None


_NETWORK_ERROR = re.compile(r"not connected to the Internet|HTTPClientError|InternetConnectionError|"
                            r"Could not resolve|Name or service not known|Temporary failure in name resolution|"
                            r"Max retries exceeded|Connection refused|timed out|registry", re.I)


def upload(project_dir, board_name: str, timeout: float = 1800.0, out=None) -> int:
    """`pio run -t upload` for the env of `board_name` in `project_dir`; emulated boards run under QEMU.

    Output streams through; returns PlatformIO's exit status. Missing PlatformIO, an unreachable
    registry (when the board's platform would have to be downloaded) and a timeout raise PlatformIOError."""
    out = out or sys.stdout
    board = boards.load(board_name)
    proj = Path(project_dir)
    ini = proj / "platformio.ini"
    if not ini.is_file():
        raise PlatformIOError(f"{proj} is not a PlatformIO project (no platformio.ini); "
                              f"make one with `mcugen generate MODEL --board {board.id} -o {proj}`")
    if not re.search(rf"^\[env:{re.escape(board.id)}\]", ini.read_text(), re.M):
        raise PlatformIOError(f"{ini} has no [env:{board.id}]: the project was generated for another board")
    cmd = pio_command()
    if board.emulated:
        if not tool_scons_ready():
            install_tool_scons()  # the only package the local platform needs; made offline
    else:
        spec = board.platformio["platform"]
        installed = _platform_installed(spec)
        if not installed and not registry_reachable():
            raise PlatformIOError(
                f"cannot reach the PlatformIO registry ({REGISTRY_HOST[0]}) to install the '{spec}' platform and "
                f"its toolchain for {board.id}; connect once (or `pio pkg install -p {spec}`) and retry")
    env = dict(os.environ, PLATFORMIO_SETTING_ENABLE_TELEMETRY="No", PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL="9999")
    full = [*cmd, "run", "-d", str(proj), "-e", board.id, "-t", "upload"]
    tail: list[str] = []
    start = time.monotonic()
    try:
        proc = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                start_new_session=True, errors="replace")
    except OSError as e:
        raise PlatformIOError(f"cannot run PlatformIO ({' '.join(cmd)}): {e.strerror or e}") from None
    import threading

    def pump():
        for line in proc.stdout:
            out.write(line)
            out.flush()
            tail.append(line)
            del tail[:-200]

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        status = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()
        raise PlatformIOError(f"`pio run -t upload` did not finish within {timeout:g} s and was stopped") from None
    reader.join(timeout=5)
    if status != 0:
        text = "".join(tail)
        if not board.emulated and _NETWORK_ERROR.search(text) and ("Installing" in text or "Downloading" in text or "registry" in text.lower()):
            raise PlatformIOError(f"PlatformIO could not download what {board.id} needs from its registry "
                                  f"(after {time.monotonic() - start:.0f} s); check the network and retry")
    return status


def flash(target, board_name: str, project_dir=None, name: str | None = None, fit_check: bool = True,
          timeout: float = 1800.0, out=None, validation: bool = False) -> int:
    """`mcugen flash PROJ|MODEL --board B [--validation]`: a project folder is uploaded as is; a model gets
    a project first (in `project_dir`, default <cache>/projects/<model>-<board>[-validation])."""
    out = out or sys.stdout
    target_path = Path(target)
    board = boards.load(board_name)
    pio_command()  # a missing PlatformIO is reported before anything is generated
    if target_path.is_dir():
        proj = target_path
    elif target_path.is_file():
        default = f"{codegen.default_name(str(target))}-{board.id}{'-validation' if validation else ''}"
        proj = Path(project_dir) if project_dir else cache_dir() / "projects" / default
        result = generate_project(target_path, board.id, proj, name=name, fit_check=fit_check, validation=validation)
        out.write(f"{proj}: project for {board.id} ({len(result.written)} file(s) written)\n")
    else:
        raise MCUGenError(f"{target}: no such model file or project folder")
    return upload(proj, board.id, timeout=timeout, out=out)


# --------------------------------------------------------------------------------------------------
# Command line (wired in cli.py)


def cli_generate(args) -> int:
    """`mcugen generate MODEL --board B -o PROJ [--validation] [--report] [--no-fit-check]`."""
    validation = bool(getattr(args, "validation", False))
    if not args.board:
        if validation:
            raise MCUGenError("--validation goes with --board BOARD (it writes the validation firmware as a "
                              "board's PlatformIO project)")
        raise MCUGenError("--report and --no-fit-check go with --board BOARD (they concern a board's PlatformIO project)")
    start = time.perf_counter()
    result = generate_project(args.model, args.board, args.output, name=args.name, alignment=args.alignment,
                              fit_check=not args.no_fit_check, validation=validation)
    project, report = result.project, result.report
    board, program = project.board, project.program
    elapsed = time.perf_counter() - start
    unchanged = len(project.files) - len(result.written)
    fw = board.platformio.get("framework")
    how = "local platform " + PLATFORM_DIR + "/, runs under QEMU" if board.emulated else \
        f"platform {board.platformio['platform']}" + (f", framework {fw}" if fw else "")
    print(f"{args.output}: PlatformIO project for {board.id} ({how}): {len(result.written)} file(s) written, "
          f"{unchanged} unchanged ({elapsed:.2f} s)")
    if validation:
        print(f"  lib/{project.name}/: {len(program.steps)} ops, {program.macs:,} MACs; src/mg_validate.c + "
              f"src/{project.port_file} serve it to `mcugen validate` over the serial port")
    else:
        print(f"  lib/{project.name}/: {len(program.steps)} ops, {program.macs:,} MACs; "
              f"src/main.c runs one invoke on a bundled input and prints outputs and {'instructions' if board.emulated else 'cycles'}")
    est = " (estimated)" if report.estimated else ""
    val = f" + validation {_kib(report.validation_ram)}" if validation else ""
    print(f"  flash {_kib(report.model_flash)} of {_kib(report.flash_limit)} (weights {_kib(report.weights)} + code "
          f"{_kib(report.code)}{est}); RAM {_kib(report.fit_ram)} of {_kib(report.ram_limit)} (arena "
          f"{_kib(report.arena)} + stack {_kib(report.stack)}{val})")
    if validation:
        ram = "not measured" if report.validation is None else f"{report.validation} B ({_kib(report.validation)})"
        driver = f" + {report.driver_rx} B of UART driver RX buffer" if report.driver_rx else ""
        print(f"  validation RAM: {ram}: protocol state, RX ring, saved results (mg_v_ram_bytes){driver}, in the fit check")
    for problem in report.problems():
        print(f"  warning: does not fit: {problem}")
    for note in program.notes:
        print(f"  note: {note}")
    if args.report:
        print(report.format())
    if validation and board.emulated:
        print(f"  next: pio run -d {args.output}, then mcugen validate {args.model} --board {board.id} "
              f"--firmware {Path(args.output) / '.pio' / 'build' / board.id / 'program.elf'}")
    elif validation:
        print(f"  next: pio run -d {args.output} -t upload, then mcugen validate {args.model} --board {board.id} "
              f"--port {serial_port_example(board)} (the board's serial port)")
    else:
        print(f"  next: pio run -d {args.output}   or   mcugen flash {args.output} --board {board.id}")
    return 0


def cli_flash(args) -> int:
    """`mcugen flash PROJ|MODEL --board B`: PlatformIO's exit status (an emulated board's: the firmware's)."""
    if args.validation and Path(args.target).is_dir():
        raise MCUGenError("--validation goes with a model: a project folder is uploaded as it was generated")
    status = flash(args.target, args.board, project_dir=args.project, name=args.name,
                   fit_check=not args.no_fit_check, timeout=args.timeout, validation=args.validation)
    if status != 0:
        raise PlatformIOError(f"`pio run -t upload` failed with status {status} (its output is above)")
    return 0
