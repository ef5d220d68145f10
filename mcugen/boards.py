"""Boards: one JSON file per board in boards/ (core, clock, memory map, PlatformIO ids, compiler flags,
and for emulated boards the QEMU machine and the bare-metal support files in firmware/).

    from mcugen import boards
    b = boards.load("mps2-an386")     # or a path to a board .json file
    b.flash_bytes, b.ram_bytes, b.emulated, b.gcc.cflags

An unknown name raises UnknownBoardError listing the known boards; a malformed file raises
BoardFileError naming the file and the field.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import MCUGenError
from .resources import _find


class UnknownBoardError(MCUGenError):
    exit_code = 2


class BoardFileError(MCUGenError):
    exit_code = 2


def boards_dir() -> Path:
    return _find("boards")


def firmware_dir() -> Path:
    """Bare-metal support for emulated boards: startup code, linker scripts, UART/exit/counter, harness."""
    return _find("firmware")


@dataclass(frozen=True)
class Gcc:
    cc: str
    size: str
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...]  # link-time flags that differ from cflags (RISC-V: -march without _zicsr)


@dataclass(frozen=True)
class Emulator:
    qemu: str                    # qemu-system-arm | qemu-system-riscv32
    machine: str                 # -M value
    args: tuple[str, ...]        # extra QEMU arguments (semihosting, -bios none)
    icount_shift: int            # -icount shift=N: one instruction = 2^N ns of virtual time
    counter_hz: int              # frequency of the counter the harness reads (ticks per virtual second)
    startup: str                 # files in firmware/
    support: str
    ldscript: str
    defines: dict = field(default_factory=dict)  # -D flags for the support code (addresses)
    exit: str = ""

    @property
    def ticks_per_instruction(self) -> float:
        return (1 << self.icount_shift) * self.counter_hz / 1e9


@dataclass(frozen=True)
class Board:
    id: str
    name: str
    vendor: str
    core: str
    arch: str
    cpu: str
    fpu: str | None
    clock_hz: int | None
    flash_base: int | None
    flash_bytes: int
    ram_base: int | None
    ram_bytes: int
    uart: int | None
    platformio: dict
    gcc: Gcc | None
    cycle_counter: str
    emulated_by: str | None
    emulator: Emulator | None
    notes: str = ""
    path: Path | None = None

    @property
    def emulated(self) -> bool:
        return self.emulator is not None

    def how(self) -> str:
        """One phrase: how mcugen builds and runs code for this board."""
        pio = self.platformio
        if self.emulator:
            return f"QEMU {self.emulator.machine} ({self.gcc.cc}); PlatformIO local platform"
        fw = f"/{pio['framework']}" if pio.get("framework") else ""
        how = f"PlatformIO {pio['platform']}{fw}"
        if self.emulated_by:
            how += f"; QEMU stand-in {self.emulated_by}"
        return how


_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_TOP_KEYS = {"id", "name", "vendor", "core", "arch", "cpu", "fpu", "clock_hz", "flash", "ram", "uart", "platformio",
             "gcc", "cycle_counter", "emulated_by", "emulator", "notes"}
_EMU_KEYS = {"qemu", "machine", "args", "icount_shift", "counter_hz", "startup", "support", "ldscript", "defines", "exit"}


def _parse(path: Path, data) -> Board:
    where = str(path)

    def fail(msg):
        raise BoardFileError(f"{where}: {msg}")

    def get(d, key, kinds, ctx="", optional=False):
        if key not in d:
            if optional:
                return None
            fail(f"missing field '{ctx}{key}'")
        v = d[key]
        if v is None and optional:
            return None
        if not isinstance(v, kinds) or isinstance(v, bool):
            names = kinds.__name__ if isinstance(kinds, type) else " or ".join(k.__name__ for k in kinds)
            fail(f"field '{ctx}{key}' must be {names}, not {json.dumps(v)}")
        return v

    def addr(d, key, ctx, optional=True):
        v = get(d, key, (int, str), ctx, optional)
        if isinstance(v, str):
            try:
                v = int(v, 0)
            except ValueError:
                fail(f"field '{ctx}{key}' is not an address: {v!r}")
        if v is not None and v < 0:
            fail(f"field '{ctx}{key}' is negative")
        return v

    if not isinstance(data, dict):
        fail("a board file holds one JSON object")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        fail(f"unknown field(s) {', '.join(unknown)}")
    bid = get(data, "id", str)
    if not _ID_RE.match(bid):
        fail(f"id {bid!r} must be lowercase letters, digits, '_', '-' or '.'")
    if path.suffix == ".json" and path.parent == boards_dir() and path.stem != bid:
        fail(f"id '{bid}' differs from the file name '{path.stem}'")
    mem = {}
    for region in ("flash", "ram"):
        r = get(data, region, dict)
        size = get(r, "bytes", int, f"{region}.")
        if size <= 0:
            fail(f"field '{region}.bytes' must be positive")
        mem[region] = (addr(r, "base", f"{region}."), size)
    clock = get(data, "clock_hz", int, optional=True)
    if clock is not None and clock <= 0:
        fail("field 'clock_hz' must be positive")
    pio = get(data, "platformio", dict)
    for k in ("platform", "board"):
        get(pio, k, str, "platformio.")
    get(pio, "framework", str, "platformio.", optional=True)
    gcc = None
    g = get(data, "gcc", dict, optional=True)
    if g is not None:
        flags = {}
        for k in ("cflags", "ldflags"):
            v = get(g, k, list, "gcc.")
            if not all(isinstance(x, str) for x in v):
                fail(f"field 'gcc.{k}' must be a list of strings")
            flags[k] = tuple(v)
        gcc = Gcc(get(g, "cc", str, "gcc."), get(g, "size", str, "gcc."), flags["cflags"], flags["ldflags"])
    emulator = None
    e = get(data, "emulator", dict, optional=True)
    if e is not None:
        unknown = sorted(set(e) - _EMU_KEYS)
        if unknown:
            fail(f"unknown field(s) emulator.{', emulator.'.join(unknown)}")
        if gcc is None:
            fail("an emulated board needs a 'gcc' section (its cross compiler and flags)")
        args = get(e, "args", list, "emulator.")
        defines = get(e, "defines", dict, "emulator.")
        if not all(isinstance(x, str) for x in args) or not all(isinstance(v, str) for v in defines.values()):
            fail("fields 'emulator.args' and 'emulator.defines' hold strings")
        shift = get(e, "icount_shift", int, "emulator.")
        if not 0 <= shift <= 10:
            fail("field 'emulator.icount_shift' must be 0..10")
        emulator = Emulator(
            qemu=get(e, "qemu", str, "emulator."), machine=get(e, "machine", str, "emulator."), args=tuple(args),
            icount_shift=shift, counter_hz=get(e, "counter_hz", int, "emulator."),
            startup=get(e, "startup", str, "emulator."), support=get(e, "support", str, "emulator."),
            ldscript=get(e, "ldscript", str, "emulator."), defines=dict(defines), exit=get(e, "exit", str, "emulator.", optional=True) or "")
        fw = firmware_dir()
        for fname in (emulator.startup, emulator.support, emulator.ldscript):
            if not (fw / fname).is_file():
                fail(f"emulator file '{fname}' is not in {fw}")
    return Board(
        id=bid, name=get(data, "name", str), vendor=get(data, "vendor", str), core=get(data, "core", str),
        arch=get(data, "arch", str), cpu=get(data, "cpu", str), fpu=get(data, "fpu", str, optional=True), clock_hz=clock,
        flash_base=mem["flash"][0], flash_bytes=mem["flash"][1], ram_base=mem["ram"][0], ram_bytes=mem["ram"][1],
        uart=addr(data, "uart", ""), platformio=dict(pio), gcc=gcc, cycle_counter=get(data, "cycle_counter", str),
        emulated_by=get(data, "emulated_by", str, optional=True), emulator=emulator,
        notes=get(data, "notes", str, optional=True) or "", path=path)


def load_file(path) -> Board:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        raise BoardFileError(f"{path}: cannot read ({e.strerror or e})") from None
    except ValueError as e:
        raise BoardFileError(f"{path}: not valid JSON ({e})") from None
    return _parse(path, data)


def names() -> list[str]:
    return sorted(p.stem for p in boards_dir().glob("*.json"))


def all_boards() -> list[Board]:
    return [load_file(boards_dir() / f"{n}.json") for n in names()]


def load(name) -> Board:
    """A board by id (see `mcugen boards`), or from a path to a board .json file."""
    if isinstance(name, Board):
        return name
    name = str(name)
    if name.endswith(".json") and Path(name).is_file():
        return load_file(name)
    path = boards_dir() / f"{name}.json"
    if not _ID_RE.match(name) or not path.is_file():
        known = names()
        close = [n for n in known if name.lower().replace("_", "-") in n.replace("_", "-")]
        hint = f" (did you mean {', '.join(close)}?)" if close and name not in close else ""
        raise UnknownBoardError(f"unknown board '{name}'{hint}; known boards: {', '.join(known)}")
    return load_file(path)


def emulated_boards() -> list[Board]:
    return [b for b in all_boards() if b.emulated]


def _size(n: int) -> str:
    if n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    return f"{n / 1024:g} KiB"


def table(boards_list: list[Board] | None = None) -> str:
    """The `mcugen boards` table."""
    rows = [("board", "core", "clock", "flash", "RAM", "built and run with")]
    for b in boards_list if boards_list is not None else all_boards():
        clock = f"{b.clock_hz / 1e6:g} MHz" if b.clock_hz else "-"
        rows.append((b.id, b.core, clock, _size(b.flash_bytes), _size(b.ram_bytes), b.how()))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows)


def as_dict(b: Board) -> dict:
    """The board file's content (for --json)."""
    return json.loads(b.path.read_text()) if b.path else {}
