"""Board files: all 14 boards load and validate, facts match the vendors' (PlatformIO's) numbers, the
emulated boards' linker scripts agree with their files, and mistakes give one clear message."""
from __future__ import annotations

import json
import re

import pytest

from mcugen import boards
from mcugen.cli import main

KiB, MiB = 1024, 1 << 20
# PlatformIO board id: (core, flash bytes, RAM bytes, platform, framework). PlatformIO's board manifests.
REAL_BOARDS = {
    "nucleo_f446re": ("Cortex-M4F", 512 * KiB, 128 * KiB, "ststm32", "stm32cube"),
    "nucleo_h743zi": ("Cortex-M7", 2 * MiB, 512 * KiB, "ststm32", "stm32cube"),
    "disco_f746ng": ("Cortex-M7", 1 * MiB, 320 * KiB, "ststm32", "stm32cube"),
    "nrf52840_dk": ("Cortex-M4F", 1 * MiB, 256 * KiB, "nordicnrf52", "arduino"),
    "nano33ble": ("Cortex-M4F", 960 * KiB, 256 * KiB, "nordicnrf52", "arduino"),
    "pico": ("Cortex-M0+", 2 * MiB, 264 * KiB, "raspberrypi", "arduino"),
    "esp32dev": ("Xtensa LX6", 4 * MiB, 320 * KiB, "espressif32", "espidf"),
    "esp32-s3-devkitc-1": ("Xtensa LX7", 8 * MiB, 320 * KiB, "espressif32", "espidf"),
    "esp32-c3-devkitm-1": ("RISC-V RV32IMC", 4 * MiB, 320 * KiB, "espressif32", "espidf"),
}
# QEMU machine: (core, gcc -mcpu / -march, flash base, RAM base, UART).
EMULATED = {
    "mps2-an385": ("Cortex-M3", "-mcpu=cortex-m3", 0x0, 0x20000000, 0x40004000),
    "mps2-an386": ("Cortex-M4F", "-mcpu=cortex-m4", 0x0, 0x20000000, 0x40004000),
    "mps2-an500": ("Cortex-M7", "-mcpu=cortex-m7", 0x0, 0x20000000, 0x40004000),
    "mps2-an505": ("Cortex-M33", "-mcpu=cortex-m33", 0x10000000, 0x38000000, 0x50200000),
    "riscv32-virt": ("RISC-V RV32IMC", "-march=rv32imc_zicsr", 0x80000000, 0x80400000, 0x10000000),
}


def test_every_board_has_a_file():
    assert sorted(boards.names()) == sorted([*REAL_BOARDS, *EMULATED])
    assert len(boards.all_boards()) == 14


@pytest.mark.parametrize("bid", sorted(REAL_BOARDS))
def test_real_board_facts(bid):
    b = boards.load(bid)
    core, flash, ram, platform, framework = REAL_BOARDS[bid]
    assert (b.core, b.flash_bytes, b.ram_bytes) == (core, flash, ram)
    assert b.platformio == {"platform": platform, "board": bid, "framework": framework}
    assert not b.emulated and b.clock_hz and b.clock_hz >= 64_000_000
    assert (b.fpu is not None) == (core.endswith("F") or core == "Cortex-M7" or core.startswith("Xtensa"))
    if b.emulated_by:  # the emulated board that runs the same instruction set
        stand_in = boards.load(b.emulated_by)
        assert stand_in.emulated and stand_in.arch == b.arch


@pytest.mark.parametrize("bid", sorted(EMULATED))
def test_emulated_board_matches_its_linker_script(bid):
    b = boards.load(bid)
    core, cpu_flag, flash_base, ram_base, uart = EMULATED[bid]
    assert b.emulated and b.core == core and cpu_flag in b.gcc.cflags
    assert (b.flash_base, b.ram_base, b.uart) == (flash_base, ram_base, uart)
    assert int(b.emulator.defines["MG_BM_UART_BASE"], 0) == uart
    ld = (boards.firmware_dir() / b.emulator.ldscript).read_text()
    regions = {m.group(1): (int(m.group(2), 0), int(m.group(3)) * MiB)
               for m in re.finditer(r"(FLASH|RAM) \(\w+\) : ORIGIN = (0x[0-9A-Fa-f]+), LENGTH = (\d+)M", ld)}
    assert regions == {"FLASH": (b.flash_base, b.flash_bytes), "RAM": (b.ram_base, b.ram_bytes)}
    # Under -icount the counter must tick at least once per instruction for exact counts.
    assert b.emulator.ticks_per_instruction >= 1


def test_unknown_board_lists_the_known_ones():
    with pytest.raises(boards.UnknownBoardError) as e:
        boards.load("nucleo_f999")
    msg = str(e.value)
    assert "unknown board 'nucleo_f999'" in msg and "\n" not in msg
    for bid in [*REAL_BOARDS, *EMULATED]:
        assert bid in msg
    with pytest.raises(boards.UnknownBoardError, match="did you mean mps2-an386"):
        boards.load("an386")


def board_file(tmp_path, **changes):
    data = json.loads((boards.boards_dir() / "mps2-an386.json").read_text())
    data.update(changes)
    path = tmp_path / "custom.json"
    path.write_text(json.dumps(data))
    return path


def test_a_board_file_given_by_path(tmp_path):
    b = boards.load(str(board_file(tmp_path, name="my board")))
    assert b.name == "my board" and b.emulated


@pytest.mark.parametrize("changes, message", [
    ({"clock_hz": "fast"}, "field 'clock_hz' must be int"),
    ({"flash": {"base": "0x0"}}, "missing field 'flash.bytes'"),
    ({"ram": {"base": "zero", "bytes": 4}}, "field 'ram.base' is not an address"),
    ({"colour": "red"}, "unknown field(s) colour"),
    ({"gcc": None}, "needs a 'gcc' section"),
])
def test_malformed_board_file_names_file_and_field(tmp_path, changes, message):
    path = board_file(tmp_path, **changes)
    with pytest.raises(boards.BoardFileError) as e:
        boards.load(str(path))
    assert str(path) in str(e.value) and message in str(e.value)


def test_missing_emulator_file_is_reported(tmp_path):
    data = json.loads((boards.boards_dir() / "mps2-an386.json").read_text())
    data["emulator"]["ldscript"] = "nowhere.ld"
    path = tmp_path / "b.json"
    path.write_text(json.dumps(data))
    with pytest.raises(boards.BoardFileError, match="emulator file 'nowhere.ld'"):
        boards.load(str(path))


def test_boards_command(capsys):
    assert main(["boards"]) == 0
    out = capsys.readouterr().out
    header, *rows = out.strip().splitlines()
    assert header.split()[:5] == ["board", "core", "clock", "flash", "RAM"]
    for bid in [*REAL_BOARDS, *EMULATED]:
        assert any(r.startswith(bid + " ") for r in rows), bid
    f446 = next(r for r in rows if r.startswith("nucleo_f446re "))
    assert "180 MHz" in f446 and "512 KiB" in f446 and "128 KiB" in f446 and "PlatformIO ststm32/stm32cube" in f446
    assert main(["boards", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted(b["id"] for b in listed) == sorted([*REAL_BOARDS, *EMULATED])
