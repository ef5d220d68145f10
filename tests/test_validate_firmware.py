"""The validation firmware (firmware/mg_validate.c core + mg_validate_bm.c port) under QEMU on every
emulated board: request mode through the host Session (outputs equal the host mcugen.Interpreter),
a RESET behind the fault proxy on riscv32-virt, the exact RAM figure mg_v_ram_bytes against the linker
map, and the streaming messages at the frame level, whose default input source must give the bytes
of the Python generator."""
from __future__ import annotations

import re
import shutil
import subprocess
import time

import numpy as np
import pytest

from conftest import MODELS_DIR, TESTS_DIR, stream_inputs_scalar

TOOLS = ("qemu-system-arm", "qemu-system-riscv32", "arm-none-eabi-gcc", "riscv64-unknown-elf-gcc")
pytestmark = pytest.mark.skipif(not all(shutil.which(t) for t in TOOLS), reason=f"needs {', '.join(TOOLS)}")

HELLO = MODELS_DIR / "tflm_hello_world_int8.tflite"
BOARDS = ["mps2-an385", "mps2-an500", "mps2-an505", "riscv32-virt"]
N = 60


def packed(sets) -> list[bytes]:
    return [b"".join(np.ascontiguousarray(x).tobytes() for x in xs) for xs in sets]


def host_outputs(model, sets) -> list[bytes]:
    from mcugen.interpreter import Interpreter
    from mcugen.verify import run_mcugen

    it = Interpreter(model_path=str(model))
    it.allocate_tensors()
    return packed(run_mcugen(it, sets))


def unpack(fw, data: bytes) -> list[np.ndarray]:
    xs, off = [], 0
    for (dt, shape), n in zip(fw.input_specs, fw.in_sizes):
        xs.append(np.frombuffer(data[off:off + n], dtype=dt).reshape(shape))
        off += n
    return xs


def need(path):
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="module")
def hello():
    from mcugen.interpreter import Interpreter
    from mcugen.verify import random_inputs

    it = Interpreter(model_path=str(need(HELLO)))
    it.allocate_tensors()
    sets = random_inputs(it.get_input_details(), N, seed=21)
    return packed(sets), host_outputs(HELLO, sets)


@pytest.fixture(scope="module")
def firmwares():
    from mcugen.validate import board as B

    need(HELLO)
    return {b: B.build(str(HELLO), b) for b in BOARDS}


class Board:
    """A QEMU board and a handshaken Session on its serial socket (through an optional proxy)."""

    def __init__(self, fw, proxy=None, seed=1):
        from mcugen.validate import board as B
        from mcugen.validate import host as H

        self.qb = B.QemuBoard(fw)
        port = self.qb.start()
        self.px = proxy(port) if proxy else None
        if self.px:
            port = self.px.start()
        self.s = H.Session(H.TcpTransport("127.0.0.1", port), timeout=0.05, max_timeout=1.0, max_attempts=30,
                           seed=seed)
        self.hello = self.s.handshake()

    def send(self, frame: bytes) -> None:
        self.s.t.send(frame)

    def results(self, n: int, timeout: float = 10.0, ack: bool = False) -> list:
        """Up to n RESULT frames (all that arrive within timeout when n is 0)."""
        from mcugen.validate import protocol as P

        got = []
        deadline = time.monotonic() + timeout
        while (n == 0 or len(got) < n) and time.monotonic() < deadline:
            self.s._pump(min(0.05, max(deadline - time.monotonic(), 0.0)))
            for m in self.s.inbox:
                if isinstance(m, P.Result):
                    got.append(m)
                    if ack:
                        self.send(P.ack(self.s.pid, m.seq))
            self.s.inbox = []
        return got

    def close(self) -> None:
        if self.px:
            self.px.close()
        self.s.t.close()
        self.qb.stop()


@pytest.mark.parametrize("board", BOARDS)
def test_request_mode(board, firmwares, hello):
    from mcugen.validate import firmware as F

    inputs, expected = hello
    fw = firmwares[board]
    b = Board(fw)
    try:
        results = b.s.run_all(inputs)
        stats = b.s.stats()
    finally:
        b.close()
    assert b.hello.window == fw.window == F.window(F.ring_size(fw.in_bytes), fw.in_bytes) == 5
    assert (b.hello.in_bytes, b.hello.out_bytes) == (1, 1)
    assert [r.seq for r in results] == list(range(1, N + 1)) and all(r.status == 0 for r in results)
    assert [r.output for r in results] == expected
    assert all(0 < r.cycles < 100000 for r in results)
    assert stats.runs == N and stats.double_runs == 0 and stats.max_runs_per_seq == 1 and stats.epoch == 1


def test_riscv_behind_fault_proxy_with_reset(firmwares, hello):
    from mcugen.validate import proxy as X

    inputs, expected = hello
    b = Board(firmwares["riscv32-virt"], lambda port: X.FaultProxy(port, p_drop=0.04, p_dup=0.04, p_corrupt=0.04,
                                                                    p_delay=0.04, max_delay=0.03, seed=7))
    try:
        results = b.s.run_all(inputs, lambda i, r: b.px.reset_board() if i == N // 2 else None)
        b.px.enabled = False
        stats = b.s.stats()
        faults = dict(b.px.faults)
    finally:
        b.close()
    assert [r.output for r in results] == expected
    assert faults["reset"] == 1 and b.s.c.resets == 1 and b.s.c.epochs == [1, 2] and stats.epoch == 2
    assert sum(v for k, v in faults.items() if k not in ("pass", "reset")) > 0
    assert stats.double_runs == 0 and stats.max_runs_per_seq == 1 and b.s.resent_acked == 0
    # totals live in .mg_noinit and survive the RESET; the run counters are per boot
    assert N <= stats.runs <= N + b.s.c.resent_after_reset


def test_reset_without_noinit_section(hello):
    """Built as for a real board (no .mg_noinit): the epoch is mixed from the time of the first byte, so
    the boot after a RESET has another epoch; totals restart; the host recovers exactly once."""
    from mcugen.validate import board as B
    from mcugen.validate import firmware as F
    from mcugen.validate import proxy as X

    inputs, expected = hello
    fw = B.build(str(HELLO), "riscv32-virt", noinit=False)
    b = Board(fw, lambda port: X.FaultProxy(port, p_drop=0, p_dup=0, p_corrupt=0, p_delay=0, seed=1))
    try:
        results = b.s.run_all(inputs, lambda i, r: b.px.reset_board() if i == N // 3 else None)
        stats = b.s.stats()
    finally:
        b.close()
    assert [r.output for r in results] == expected
    assert b.s.c.resets == 1 and len(set(b.s.c.epochs)) == 2 and stats.epoch == b.s.c.epochs[-1]
    assert stats.runs < N and stats.double_runs == 0
    value = F.elf_symbol_u32(fw.elf, F.RAM_SYMBOL)
    assert value == map_ram(fw.map_file, "mg_validate.o") == F.ram_bytes(fw.in_bytes, fw.out_bytes, noinit=False)


def map_ram(map_file, obj: str) -> int:
    """Bytes of RAM sections (.data, .bss, small data, .mg_noinit) the linker map gives to `obj`."""
    text = map_file.read_text()
    text = text[text.index("Linker script and memory map"):]
    total, name = 0, None
    for line in text.splitlines():
        m = re.match(r"^ (\.\S+)(?:\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+))?\s*$", line)
        if m and m.group(2) is None:
            name = m.group(1)   # a long section name: address, size and file follow on the next line
            continue
        if not m:
            m2 = re.match(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)\s*$", line)
            if not (m2 and name):
                name = None
                continue
            sec, size, path = name, int(m2.group(2), 16), m2.group(3)
        else:
            sec, size, path = m.group(1), int(m.group(3), 16), m.group(4)
        name = None
        if path.endswith("/" + obj) and re.match(r"\.(s?bss|s?data|tbss|tdata|mg_noinit)\b", sec):
            total += size
    return total


@pytest.mark.parametrize("board", BOARDS)
def test_ram_bytes_is_exact(board, firmwares):
    from mcugen.validate import firmware as F

    fw = firmwares[board]
    value = F.elf_symbol_u32(fw.elf, F.RAM_SYMBOL)
    assert value == map_ram(fw.map_file, "mg_validate.o") == F.ram_bytes(fw.in_bytes, fw.out_bytes, noinit=True)
    assert 256 < value < 4096


def test_stream_protocol_rules(firmwares):
    """STREAM/RESEND/STOP at the frame level: unknown pids, backpressure at the window, duplicates,
    replays in seq order, resumption on ACK, STOP."""
    from mcugen.validate import protocol as P

    fw = firmwares["mps2-an385"]
    b = Board(fw)
    try:
        pid, w = b.s.pid, b.hello.window
        bad = (pid + 1) & 0xFFFFFFFF
        b.send(P.stream(bad, 7, 0, 1))
        b.send(P.resend(bad, 8))
        b.send(P.stop(bad))
        unknown = b.results(3)
        assert [(r.status, r.pid, r.seq, r.output) for r in unknown] == [
            (P.STATUS_UNKNOWN_PID, bad, 7, b""), (P.STATUS_UNKNOWN_PID, bad, 8, b""), (P.STATUS_UNKNOWN_PID, bad, 0, b"")]

        b.send(P.stream(pid, 10, 0, 99))       # unbounded, never acknowledged: exactly `window` results
        first = b.results(0, timeout=0.6)
        assert [r.seq for r in first] == list(range(10, 10 + w)) and all(r.status == 0 for r in first)
        b.send(P.stream(pid, 10, 0, 99))       # a duplicate: ignored, nothing restarts
        assert b.results(0, timeout=0.3) == []
        b.send(P.resend(pid, 12))
        replayed = b.results(0, timeout=0.3)
        assert [(r.seq, r.output, r.cycles) for r in replayed] == [(r.seq, r.output, r.cycles) for r in first[2:]]
        b.send(P.ack(pid, 11))                  # two slots free: two more results
        more = b.results(0, timeout=0.4)
        assert [r.seq for r in more] == [10 + w, 11 + w]
        b.send(P.stop(pid))
        b.send(P.ack(pid, 11 + w))
        assert b.results(0, timeout=0.3) == []
        b.send(P.stream(pid, 10, 0, 99))       # still the same (stopped) stream: ignored
        assert b.results(0, timeout=0.3) == []
        b.send(P.stream(pid, 100, 3, 99))      # a bounded stream with the same seed
        bounded = b.results(0, timeout=0.6, ack=True)
        stats = b.s.stats()
    finally:
        b.close()
    assert [r.seq for r in bounded] == [100, 101, 102]
    expected = host_outputs(HELLO, [unpack(fw, stream_inputs_scalar(99, s, fw.in_sizes, fw.in_float))
                                    for s in [*range(10, 12 + w), 100, 101, 102]])
    assert [r.output for r in first + more + bounded] == expected
    assert stats.runs == w + 2 + 3 and stats.replays == w - 2 and stats.double_runs == 0


@pytest.mark.parametrize("name,board", [("broadcast_int8", "riscv32-virt"), ("broadcast_float", "mps2-an505"),
                                        ("broadcast_float", "riscv32-virt")])
def test_stream_default_inputs_match_python(name, board):
    """mg_v_stream_input()'s weak default gives the Python generator's bytes (three inputs, so input k
    continues the sequence of inputs 0..k-1): the board's streamed outputs equal the host run."""
    from mcugen.validate import board as B
    from mcugen.validate import protocol as P

    model = need(TESTS_DIR / "models" / f"{name}.tflite")
    fw = B.build(str(model), board)
    assert len(fw.in_sizes) == 3 and all(fw.in_float) == name.endswith("float")
    seed, n = 0xC0FFEE, 12
    mine = [stream_inputs_scalar(seed, s, fw.in_sizes, fw.in_float) for s in range(1, n + 1)]
    if hasattr(P, "stream_inputs"):
        assert P.stream_inputs(seed, range(1, n + 1), fw.in_sizes, fw.in_float) == mine
    b = Board(fw)
    try:
        b.send(P.stream(b.s.pid, 1, n, seed))
        got = b.results(n, ack=True)
    finally:
        b.close()
    assert [r.seq for r in got] == list(range(1, n + 1)) and all(r.status == 0 for r in got)
    assert [r.output for r in got] == host_outputs(model, [unpack(fw, x) for x in mine])


def test_sizes_and_config_header():
    from mcugen import compiler
    from mcugen.validate import firmware as F

    assert F.ring_size(1) == 256 and F.window(256, 1) == 5
    assert F.ring_size(490) == 4096 and F.window(4096, 490) == 5
    assert F.ring_size(1960) == 8192 and F.window(8192, 1960) == 4
    assert F.ring_size(20000) == 8192 and F.window(8192, 20000) == 1   # the RUN frame goes straight to the inputs
    program = compiler.compile_model(need(TESTS_DIR / "models" / "broadcast_float.tflite"))
    h = F.config_header(program, "net", noinit=False)
    assert '#include "net.h"' in h and "#define MG_V_IN_SIZES {20u, 240u, 12u}" in h
    assert "#define MG_V_IN_FLOAT {1u, 1u, 1u}" in h and "#define MG_V_MODEL_INPUT(k) net_input(k)" in h
    assert "MG_V_NOINIT" not in h and "#define MG_V_NOINIT" in F.config_header(program, "net", noinit=True)


@pytest.mark.parametrize("noinit", [False, True])
def test_core_compiles_cleanly(tmp_path, noinit):
    """The portable core and the bare-metal port: C99, -Wall -Wextra -pedantic, no warnings, both configs."""
    from mcugen import boards, codegen, compiler
    from mcugen.validate import firmware as F

    program = compiler.compile_model(need(TESTS_DIR / "models" / "broadcast_int8.tflite"))
    for name, text in codegen.render(program, "net", "net").items():
        (tmp_path / name).write_text(text)
    (tmp_path / F.CONFIG_NAME).write_text(F.config_header(program, "net", noinit))
    fw = boards.firmware_dir()
    for cc, flags, files in [
        ("arm-none-eabi-gcc", ["-mcpu=cortex-m4", "-mthumb", "-DMG_BM_UART_BASE=0x40004000",
                               "-DMG_BM_TIMER_BASE=0x40000000"], ["mg_validate.c", "mg_validate_bm.c", "mg_bm_mps2.c"]),
        ("riscv64-unknown-elf-gcc", ["-march=rv32imc_zicsr", "-mabi=ilp32", "--specs=picolibc.specs",
                                     "-DMG_BM_UART_BASE=0x10000000", "-DMG_BM_EXIT_BASE=0x100000"],
         ["mg_validate.c", "mg_validate_bm.c", "mg_bm_riscv_virt.c"]),
    ]:
        for f in files:
            proc = subprocess.run([cc, *flags, "-std=c99", "-O2", "-Wall", "-Wextra", "-pedantic", "-Werror",
                                   "-I", str(tmp_path), "-I", str(fw), "-c", str(fw / f), "-o", str(tmp_path / "x.o")],
                                  capture_output=True, text=True, timeout=60)
            assert proc.returncode == 0, f"{cc} {f}:\n{proc.stderr}"
