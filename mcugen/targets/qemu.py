"""Emulated boards: cross-compile the generated C with a test harness, run it under QEMU, read outputs
and the instruction count of one invoke.

    fw = build(program, "mps2-an386", input_sets)   # cached by content: an unchanged model never rebuilds
    result = run(fw)                                  # result.outputs[set][k], result.instructions[set]

The firmware (firmware/ in the checkout, mcugen/_data/firmware/ when installed) is the board's startup
code, linker script and support file (UART, exit status, counter) plus mg_harness.c, which fills the
inputs embedded at build time, times model_invoke() and prints outputs as hex. Under `-icount shift=N`
every instruction advances QEMU's virtual clock by 2^N ns, so the board's counter ticks a fixed number
of times per instruction: instructions = (ticks - ticks of an empty region) / ticks per instruction.
These are executed instructions, not cycles.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .. import boards as boards_mod
from .. import codegen
from ..errors import BuildError, MCUGenError
from ..ir import np_dtype
from .host import cache_dir

MODEL_NAME = "model"  # C prefix the harness calls
DEFAULT_OPT = "-O2"
DEFAULT_TIMEOUT = 300.0
# Same floating-point rules as the host build, so float results can be compared with it.
FIRMWARE_CFLAGS = ["-std=c99", "-ffunction-sections", "-fdata-sections", "-ffp-contract=off", "-fno-common",
                   "-Wall", "-Wno-unused-function"]
HARNESS_FILES = ("mg_harness.c", "mg_bm.h")
CAL_NOPS = 256  # MG_CAL_NOPS in mg_harness.c

# Debian packages that bring each tool, for the one-line error when it is missing.
TOOL_PACKAGES = {
    "arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi",
    "arm-none-eabi-size": "binutils-arm-none-eabi",
    "riscv64-unknown-elf-gcc": "gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf",
    "riscv64-unknown-elf-size": "binutils-riscv64-unknown-elf",
    "qemu-system-arm": "qemu-system-arm",
    "qemu-system-riscv32": "qemu-system-misc",
}


class ToolMissingError(MCUGenError):
    exit_code = 3


class BoardRunError(MCUGenError):
    """The firmware failed under the emulator: fault, failed invoke, timeout, unreadable output."""

    exit_code = 4


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pkgs = TOOL_PACKAGES.get(name)
        how = f" (Debian: apt-get install {pkgs})" if pkgs else ""
        raise ToolMissingError(f"{name} not found on PATH: install it{how}")
    return path


def emulated_board(board) -> boards_mod.Board:
    b = boards_mod.load(board)
    if not b.emulated:
        alt = f"; run its code on {b.emulated_by} (--board {b.emulated_by})" if b.emulated_by else ""
        emulated = ", ".join(x.id for x in boards_mod.emulated_boards())
        raise MCUGenError(f"board '{b.id}' is not emulated{alt}; emulated boards: {emulated}")
    return b


@lru_cache(maxsize=None)
def _compiler_version(cc: str) -> str:
    proc = subprocess.run([cc, "--version"], capture_output=True, text=True)
    return proc.stdout.splitlines()[0] if proc.stdout else ""


def compile_flags(board: boards_mod.Board, opt: str = DEFAULT_OPT) -> list[str]:
    defines = [f"-D{k}={v}" for k, v in sorted(board.emulator.defines.items())]
    libc = ["--specs=picolibc.specs"] if board.gcc.cc.startswith("riscv") else []
    return [*board.gcc.cflags, opt, *FIRMWARE_CFLAGS, *libc, *defines]


def link_flags(board: boards_mod.Board) -> list[str]:
    fw = boards_mod.firmware_dir()
    if board.gcc.cc.startswith("riscv"):
        base = [*board.gcc.ldflags, "--specs=picolibc.specs"]
    else:
        base = [*board.gcc.cflags, *board.gcc.ldflags, "--specs=nosys.specs"]
    return [*base, "-nostartfiles", f"-L{fw}", f"-T{fw / board.emulator.ldscript}", "-Wl,--gc-sections",
            "-Wl,--start-group", "-lc", "-lm", "-lgcc", "-Wl,--end-group"]


# --------------------------------------------------------------------------------------------------
# build

@dataclass
class Firmware:
    board: boards_mod.Board
    elf: Path
    input_specs: list[tuple]   # (dtype, shape) per model input
    output_specs: list[tuple]  # (dtype, shape) per model output
    num_sets: int
    input_bytes: int           # bytes of embedded input data (all sets), part of .rodata
    objects_dir: Path
    build_seconds: float = 0.0

    def sizes(self) -> dict:
        return elf_sizes(self.elf, self.board)


def _io_specs(program):
    g = program.graph
    spec = lambda t: (np.dtype(np_dtype(g.tensor(t).dtype)), tuple(int(d) for d in g.tensor(t).shape))
    return [spec(t) for t in g.inputs], [spec(t) for t in g.outputs]


def _run_cc(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"cross-compiling {what} failed (please report this):\n{' '.join(cmd)}\n{proc.stderr[-4000:]}")


def _build_objects(files: dict[str, str], board: boards_mod.Board, opt: str) -> Path:
    """Model sources + harness + board support compiled once per content; returns the objects folder."""
    cc = _tool(board.gcc.cc)
    fw = boards_mod.firmware_dir()
    em = board.emulator
    firmware = {name: (fw / name).read_text() for name in (*HARNESS_FILES, em.startup, em.support)}
    flags = compile_flags(board, opt)
    key = hashlib.sha256()
    key.update(repr((cc, _compiler_version(cc), flags)).encode())
    for group in (files, firmware):
        for name in sorted(group):
            key.update(name.encode() + b"\0" + group[name].encode() + b"\0")
    target = cache_dir() / "qemu" / f"{board.id}-{key.hexdigest()[:20]}"
    if (target / "ok").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        src = tmp / "src"
        src.mkdir()
        for name, text in {**files, **firmware}.items():
            (src / name).write_text(text)
        sources = sorted(n for n in files if n.endswith(".c")) + ["mg_harness.c", em.startup, em.support]
        jobs = []
        for s in sources:
            obj = tmp / (Path(s).stem + ".o")
            jobs.append(([cc, *flags, "-I", str(src), "-c", str(src / s), "-o", str(obj)], s))
        # Largest first: the weights translation unit dominates.
        jobs.sort(key=lambda j: -(src / j[1]).stat().st_size)
        with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
            for f in [pool.submit(_run_cc, cmd, what) for cmd, what in jobs]:
                f.result()
        shutil.rmtree(src)
        (tmp / "ok").write_text("")
        try:
            os.replace(tmp, target)
        except OSError:  # built concurrently by another process: use theirs
            if not (target / "ok").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _c_bytes(data: bytes) -> str:
    if not data:
        return "0"
    return ",\n".join(",".join(str(b) for b in data[i:i + 32]) for i in range(0, len(data), 32))


def inputs_source(input_sets, input_specs, output_specs) -> tuple[str, int]:
    """mg_inputs.c: the input sets as C arrays and the sizes the harness needs; (text, input bytes)."""
    lines = ["/* Input sets for mg_harness.c, written by mcugen. */", "#include <stdint.h>", ""]
    names = []
    total = 0
    for s, xs in enumerate(input_sets):
        if len(xs) != len(input_specs):
            raise MCUGenError(f"input set {s} has {len(xs)} array(s); the model has {len(input_specs)} input(s)")
        for k, (x, (dtype, shape)) in enumerate(zip(xs, input_specs)):
            x = np.asarray(x)
            if x.dtype != dtype or x.size != int(np.prod(shape, dtype=np.int64)):
                raise MCUGenError(f"input set {s}, input {k}: {x.dtype}{list(x.shape)} does not match the model's {dtype}{list(shape)}")
            data = np.ascontiguousarray(x).tobytes()
            total += len(data)
            name = f"mg_in_{s}_{k}"
            names.append(name)
            lines.append(f"static const uint8_t {name}[{max(len(data), 1)}] __attribute__((aligned(16))) = {{\n{_c_bytes(data)}}};")
    nbytes = lambda spec: int(np.prod(spec[1], dtype=np.int64)) * spec[0].itemsize
    in_sizes = ", ".join(str(nbytes(s)) for s in input_specs) or "0"
    out_sizes = ", ".join(str(nbytes(s)) for s in output_specs) or "0"
    lines += [
        "",
        f"const uint32_t mg_h_num_sets = {len(input_sets)};",
        f"const uint32_t mg_h_num_inputs = {len(input_specs)};",
        f"const uint32_t mg_h_num_outputs = {len(output_specs)};",
        f"const uint8_t *const mg_h_inputs[] = {{{', '.join(names) or '0'}}};",
        f"const uint32_t mg_h_input_bytes[] = {{{in_sizes}}};",
        f"const uint32_t mg_h_output_bytes[] = {{{out_sizes}}};",
        "",
    ]
    return "\n".join(lines), total


def build(model, board, input_sets, opt: str = DEFAULT_OPT) -> Firmware:
    """Firmware running `model` (a path, bytes or a compiled Program) on `input_sets` (a list of lists of
    arrays, one per model input). Objects are cached per model and board; only the inputs are relinked."""
    from .. import compiler

    start = time.perf_counter()
    board = emulated_board(board)
    program = model if isinstance(model, compiler.Program) else compiler.compile_model(model)
    label = os.path.basename(str(model)) if isinstance(model, (str, os.PathLike)) else "model"
    files = codegen.render(program, MODEL_NAME, label)
    in_specs, out_specs = _io_specs(program)
    objects = _build_objects(files, board, opt)
    text, nbytes = inputs_source(input_sets, in_specs, out_specs)
    cc = _tool(board.gcc.cc)
    lflags = link_flags(board)
    digest = hashlib.sha256(repr(lflags).encode() + text.encode()).hexdigest()[:16]
    elf = objects / f"fw-{digest}.elf"
    if not elf.is_file():
        with tempfile.TemporaryDirectory(prefix="mcugen-link-", dir=objects) as tmp:
            src = Path(tmp) / "mg_inputs.c"
            src.write_text(text)
            obj = Path(tmp) / "mg_inputs.o"
            _run_cc([cc, *compile_flags(board, opt), "-c", str(src), "-o", str(obj)], "the input data")
            out = Path(tmp) / "fw.elf"
            objs = sorted(str(p) for p in objects.glob("*.o"))
            proc = subprocess.run([cc, *objs, str(obj), *lflags, "-o", str(out)], capture_output=True, text=True)
            if proc.returncode != 0:
                msg = proc.stderr.strip()
                if "exceed the board's RAM" in msg or "will not fit in region" in msg or "overflowed by" in msg:
                    last = [l for l in msg.splitlines() if "overflow" in l or "exceed" in l or "fit" in l]
                    raise BuildError(f"the model does not fit {board.id} (flash {board.flash_bytes} B, RAM {board.ram_bytes} B): "
                                     f"{(last or [msg])[-1].split(': ', 1)[-1]}")
                raise BuildError(f"linking the firmware for {board.id} failed (please report this):\n{msg[-4000:]}")
            os.replace(out, elf)
    return Firmware(board=board, elf=elf, input_specs=in_specs, output_specs=out_specs, num_sets=len(input_sets),
                    input_bytes=nbytes, objects_dir=objects, build_seconds=time.perf_counter() - start)


def elf_sizes(elf, board) -> dict:
    """Section sizes from `<prefix>-size -A`: text, rodata, data, bss; flash = text + rodata + data,
    ram = data + bss (the stack reservation is separate)."""
    board = boards_mod.load(board)
    size_tool = _tool(board.gcc.size)
    proc = subprocess.run([size_tool, "-A", str(elf)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"{board.gcc.size} failed on {elf}: {proc.stderr.strip()}")
    sec = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            sec[parts[0]] = int(parts[1])
    out = dict(
        text=sec.get(".text", 0),
        rodata=sec.get(".rodata", 0) + sec.get(".ARM.exidx", 0) + sec.get(".ARM.extab", 0),
        data=sec.get(".data", 0) + sec.get(".tdata", 0),
        bss=sec.get(".bss", 0) + sec.get(".tbss", 0),
    )
    out["flash"] = out["text"] + out["rodata"] + out["data"]
    out["ram"] = out["data"] + out["bss"]
    return out


# --------------------------------------------------------------------------------------------------
# run

@dataclass
class BoardResult:
    board: str
    outputs: list          # [set][output] -> np.ndarray
    ticks: list[int]       # raw counter ticks of each invoke region
    instructions: list[int]
    empty_ticks: int
    nop_ticks: int
    exit_code: int
    seconds: float
    stdout: str = field(repr=False, default="")

    @property
    def instructions_per_invoke(self) -> int:
        return self.instructions[0]


def qemu_command(fw: Firmware) -> list[str]:
    em = fw.board.emulator
    return [_tool(em.qemu), "-M", em.machine, "-nographic", "-monitor", "none", *em.args,
            "-icount", f"shift={em.icount_shift}", "-kernel", str(fw.elf)]


_LINE = re.compile(r"^MG-(BEGIN|CAL|SET|OUT|END|FAULT)\b ?(.*)$")


def run(fw: Firmware, timeout: float | None = None) -> BoardResult:
    cmd = qemu_command(fw)
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise BoardRunError(f"{fw.board.id}: QEMU did not finish within {timeout:g} s (see --timeout); "
                            f"last output: {(e.stdout or b'')[-200:].decode(errors='replace')!r}") from None
    seconds = time.perf_counter() - start
    out = proc.stdout.decode(errors="replace").replace("\r", "")
    err = proc.stderr.decode(errors="replace").strip()
    cal = None
    sets: dict[int, tuple[int, int, int]] = {}
    outs: dict[tuple[int, int], str] = {}
    fault = None
    ended = False
    for line in out.splitlines():
        m = _LINE.match(line.strip())
        if not m:
            continue
        tag, rest = m.group(1), m.group(2).split()
        if tag == "CAL":
            cal = (int(rest[0]), int(rest[1]))
        elif tag == "SET":
            sets[int(rest[0])] = (int(rest[1]), int(rest[2]), int(rest[3]))
        elif tag == "OUT":
            outs[(int(rest[0]), int(rest[1]))] = rest[2] if len(rest) > 2 else ""
        elif tag == "FAULT":
            fault = " ".join(rest)
        elif tag == "END":
            ended = True
    where = f"{fw.board.id} ({fw.elf.name})"
    if fault:
        raise BoardRunError(f"{where}: the firmware faulted: {fault}")
    if proc.returncode != 0 and proc.returncode != 3 or not ended or cal is None:
        detail = err.splitlines()[-1] if err else out.strip().splitlines()[-1] if out.strip() else "no output"
        raise BoardRunError(f"{where}: QEMU exited with status {proc.returncode} before the harness finished: {detail}")
    failed = [s for s, (status, _, _) in sets.items() if status != 0]
    if failed:
        raise BoardRunError(f"{where}: model_invoke() returned {sets[failed[0]][0]} on input set {failed[0]}")
    tpi = fw.board.emulator.ticks_per_instruction
    empty, nops = cal
    outputs, ticks, instructions = [], [], []
    for s in range(fw.num_sets):
        if s not in sets:
            raise BoardRunError(f"{where}: no result for input set {s}")
        _, t, wrapped = sets[s]
        if wrapped:
            raise BoardRunError(f"{where}: the instruction counter wrapped during invoke (over {2**32 / tpi:.3g} instructions)")
        ticks.append(t)
        instructions.append(ticks_to_instructions(t, empty, tpi))
        row = []
        for k, (dtype, shape) in enumerate(fw.output_specs):
            hexdata = outs.get((s, k))
            want = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if hexdata is None or len(hexdata) != 2 * want:
                raise BoardRunError(f"{where}: output {k} of input set {s} is missing or has the wrong size")
            row.append(np.frombuffer(bytes.fromhex(hexdata), dtype=dtype).reshape(shape).copy())
        outputs.append(row)
    return BoardResult(board=fw.board.id, outputs=outputs, ticks=ticks, instructions=instructions, empty_ticks=empty,
                       nop_ticks=nops, exit_code=proc.returncode, seconds=seconds, stdout=out)


def ticks_to_instructions(ticks: int, empty_ticks: int, ticks_per_instruction: float) -> int:
    """Instructions in a region, less the counter reads' own. A counter slower than one tick per
    instruction is read at a phase that moves by under one tick, so each count is rounded to whole
    instructions before the empty region's is subtracted (rounding the difference could be off by one)."""
    return int(round(ticks / ticks_per_instruction)) - int(round(empty_ticks / ticks_per_instruction))


def nop_instructions(result: BoardResult, board) -> int:
    """The calibration region measured in instructions: CAL_NOPS when the counter math holds."""
    tpi = emulated_board(board).emulator.ticks_per_instruction
    return ticks_to_instructions(result.nop_ticks, result.empty_ticks, tpi)


def run_model(model, board, input_sets, opt: str = DEFAULT_OPT, timeout: float | None = None) -> BoardResult:
    return run(build(model, board, input_sets, opt), timeout)


# --------------------------------------------------------------------------------------------------
# `mcugen run --board` and `mcugen verify --board`

def _fmt_count(result: BoardResult) -> str:
    lo, hi = min(result.instructions), max(result.instructions)
    return f"{lo:,}" if lo == hi else f"{lo:,} to {hi:,}"


def verify_board(model_path: str, board, n_inputs: int = 10, seed: int = 0, opt: str = DEFAULT_OPT,
                 timeout: float | None = None) -> int:
    """Outputs from the emulated board against the host build and the reference interpreter."""
    from ..compiler import load
    from ..interpreter import Interpreter
    from ..ops.hybrid import is_hybrid_graph
    from ..verify import FLOAT_RTOL, HYBRID_RTOL, compare, random_inputs, reference_outputs, run_mcugen

    if n_inputs < 1:
        raise MCUGenError("--inputs must be at least 1")
    board = emulated_board(board)
    graph, _ = load(model_path)
    rtol = HYBRID_RTOL if is_hybrid_graph(graph) else FLOAT_RTOL
    model_bytes = Path(model_path).read_bytes()
    it = Interpreter(model_path=model_path)
    it.allocate_tensors()
    input_sets = random_inputs(it.get_input_details(), n_inputs, seed)
    print(f"building for {board.id} and running {n_inputs} random input(s) (seed {seed}) under QEMU...", file=sys.stderr)
    fw = build(it._program, board, input_sets, opt)
    result = run(fw, timeout)
    host = run_mcugen(it, input_sets)
    engine, ref = reference_outputs(model_bytes, input_sets)
    ok = True
    print(f"{graph.name}: {board.id} (QEMU {board.emulator.machine}) vs host build and {engine}, {n_inputs} input(s)")
    for k, d in enumerate(it.get_output_details()):
        is_float = np.dtype(d["dtype"]).kind == "f"
        same = sum(int(np.count_nonzero(o[k] != h[k])) for o, h in zip(result.outputs, host))
        total = sum(o[k].size for o in result.outputs)
        bad_host = bad_ref = 0
        worst_host = worst_ref = 0.0
        for o, h, r in zip(result.outputs, host, ref):
            b, m, _ = compare(o[k], h[k], rtol)
            bad_host, worst_host = bad_host + b, max(worst_host, m)
            b, m, _ = compare(o[k], r[k], rtol)
            bad_ref, worst_ref = bad_ref + b, max(worst_ref, m)
        passed = bad_host == 0 and bad_ref == 0
        ok &= passed
        rule = f"within {rtol:g} relative" if is_float else "identical"
        host_txt = "bit-identical" if same == 0 else f"{same}/{total} differ (max abs diff {worst_host:g}, {bad_host} beyond tolerance)"
        print(f"  output {k} '{d['name']}' {np.dtype(d['dtype']).name}: vs host {host_txt}; vs {engine} {bad_ref}/{total} "
              f"mismatched, max abs diff {worst_ref:g} -> {'PASS' if passed else 'FAIL'} ({rule})")
    macs = it._program.macs
    per_mac = f", {min(result.instructions) / macs:.2f} per MAC" if macs else ""
    print(f"instructions per invoke on {board.id}: {_fmt_count(result)}{per_mac} (QEMU -icount, deterministic)")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def run_inputs(model_path: str, board, arrays: list[np.ndarray], opt: str = DEFAULT_OPT,
               timeout: float | None = None) -> tuple[list[np.ndarray], int]:
    """One input set on the board: (outputs, instructions of the invoke)."""
    result = run_model(model_path, board, [arrays], opt, timeout)
    return result.outputs[0], result.instructions[0]
