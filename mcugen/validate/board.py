"""The board side of `mcugen validate`: building the validation firmware (firmware/mg_validate.c,
see firmware.py) with the model for an emulated board, starting it under QEMU with its UART on a TCP socket, and SimBoard, a pure-Python
model of the firmware's state machine (same rules, used by the protocol tests)."""
from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path


from .. import boards as boards_mod
from .. import codegen
from ..errors import BuildError
from ..targets import qemu
from . import firmware as F
from . import protocol as P

FIRMWARE_FILES = (*F.FIRMWARE_CORE, *F.BM_PORT)


@dataclass
class ValidationFirmware:
    board: boards_mod.Board
    elf: Path
    input_specs: list
    output_specs: list
    in_bytes: int
    out_bytes: int
    in_sizes: list = field(default_factory=list)    # MG_V_IN_SIZES
    in_float: list = field(default_factory=list)    # MG_V_IN_FLOAT (for protocol.stream_inputs)
    window: int = P.WINDOW                          # what HELLO_ACK advertises
    map_file: Path | None = None                    # the linker map, next to the ELF


def build(model, board, opt: str = qemu.DEFAULT_OPT, noinit: bool = True) -> ValidationFirmware:
    """The validation firmware (mg_validate.c core + mg_validate_config.h + the bare-metal port
    mg_validate_bm.c + the board's startup and support) with the generated model, for an emulated
    board; cached by content. noinit=False builds it as for a real board: no .mg_noinit, so totals
    restart at a reset and the boot epoch comes from the time the first byte arrives."""
    from .. import compiler

    board = qemu.emulated_board(board)
    program = model if isinstance(model, compiler.Program) else compiler.compile_model(model)
    files = codegen.render(program, qemu.MODEL_NAME, "model")
    files[F.CONFIG_NAME] = F.config_header(program, qemu.MODEL_NAME, noinit=noinit)
    in_specs, out_specs = qemu._io_specs(program)
    in_sizes, in_float, out_sizes = F.io_sizes(program)
    in_b, out_b = sum(in_sizes), sum(out_sizes)
    fw_dir = boards_mod.firmware_dir()
    em = board.emulator
    firmware = {name: (fw_dir / name).read_text() for name in (*FIRMWARE_FILES, em.startup, em.support)}
    scripts = {p.name: p.read_text() for p in sorted(fw_dir.glob("*.ld"))}   # not copied, but they shape the ELF
    cc = qemu._tool(board.gcc.cc)
    flags = qemu.compile_flags(board, opt)
    lflags = qemu.link_flags(board)
    key = hashlib.sha256(repr((cc, qemu._compiler_version(cc), flags, lflags)).encode())
    for group in (files, firmware, scripts):
        for name in sorted(group):
            key.update(name.encode() + b"\0" + group[name].encode() + b"\0")
    target = qemu.cache_dir() / "qemu" / f"validate-{board.id}-{key.hexdigest()[:20]}.elf"
    map_file = target.with_suffix(".map")
    if not (target.is_file() and map_file.is_file()):
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="mcugen-validate-", dir=target.parent) as tmp:
            src = Path(tmp)
            for name, text in {**files, **firmware}.items():
                (src / name).write_text(text)
            sources = sorted(n for n in files if n.endswith(".c")) + [*(n for n in FIRMWARE_FILES if n.endswith(".c")),
                                                                       em.startup, em.support]
            jobs = [([cc, *flags, "-I", str(src), "-c", str(src / s), "-o", str(src / (Path(s).stem + ".o"))], s)
                    for s in sources]
            with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
                for f in [pool.submit(qemu._run_cc, cmd, what) for cmd, what in jobs]:
                    f.result()
            out = src / "fw.elf"
            objs = [cmd[-1] for cmd, _ in jobs]
            proc = subprocess.run([cc, *objs, *lflags, f"-Wl,-Map={src / 'fw.map'}", "-o", str(out)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise BuildError(f"linking the validation firmware for {board.id} failed:\n{proc.stderr[-4000:]}")
            os.replace(src / "fw.map", map_file)
            os.replace(out, target)
    return ValidationFirmware(board, target, in_specs, out_specs, in_b, out_b, in_sizes, in_float,
                              F.window(F.ring_size(in_b), in_b), map_file)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QemuBoard:
    """The validation firmware under QEMU; its UART is a TCP server on 127.0.0.1:port."""

    def __init__(self, fw: ValidationFirmware):
        self.fw = fw
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.starts = 0

    def start(self) -> int:
        em = self.fw.board.emulator
        self.port = free_port()
        cmd = [qemu._tool(em.qemu), "-M", em.machine, "-display", "none", "-monitor", "none", *em.args,
               "-icount", f"shift={em.icount_shift}", "-serial",
               f"tcp:127.0.0.1:{self.port},server=on,wait=off,nodelay=on", "-kernel", str(self.fw.elf)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.starts += 1
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise qemu.BoardRunError(f"QEMU exited with status {self.proc.returncode}: "
                                         f"{self.proc.stderr.read().decode(errors='replace')[-400:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                # the probe connection is gone; QEMU accepts the next client
                return self.port
            except OSError:
                time.sleep(0.02)
        raise qemu.BoardRunError("QEMU's serial socket did not open within 10 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def restart(self) -> int:
        self.stop()
        return self.start()


class SimBoard:
    """The firmware's state machine in Python: bytes in, bytes out. `fn(input bytes) -> (status,
    cycles, output bytes)` stands for model_invoke(); in_sizes / in_float (MG_V_IN_SIZES /
    MG_V_IN_FLOAT; default: one non-float input) feed the stream input source; window is what
    HELLO_ACK advertises. reset() models the RESET command, poll() one call of mg_validate_poll()
    (a streaming board produces at most one result per call)."""

    def __init__(self, fn, in_bytes: int, out_bytes: int, in_sizes=None, in_float=None, window: int = P.WINDOW):
        self.fn, self.in_bytes, self.out_bytes = fn, in_bytes, out_bytes
        self.in_sizes = list(in_sizes) if in_sizes is not None else [in_bytes]
        self.in_float = list(in_float) if in_float is not None else [False] * len(self.in_sizes)
        if sum(self.in_sizes) != in_bytes or len(self.in_float) != len(self.in_sizes):
            raise ValueError("in_sizes must add up to in_bytes, with one in_float flag per input")
        self.window = window
        self.max_payload = max(P.SMALL_PAYLOAD, P.RUN_HEAD + in_bytes)   # the firmware's receive buffer
        self.epoch = 0
        self.runs = self.double_runs = self.replays = self.stale = 0
        self.stream_duplicates = 0   # STREAMs ignored as duplicates (not in the firmware's STATS)
        self.pid_seq_runs: dict[tuple, int] = {}   # runs per (epoch, pid, seq): never above 1
        self.reset()

    def reset(self) -> None:
        self.epoch += 1
        self.pid = 0
        self.last_nonce = None
        self.old_nonces: list[int] = []   # the firmware keeps the last 4
        self.hellos = 0
        self.last_acked = 0
        self.slots: dict[int, tuple] = {}
        self.run_count: dict[int, int] = {}   # per seq of the current session (= per (pid, seq))
        self._end_stream()
        self.parser = P.Parser(self.max_payload)

    def _end_stream(self) -> None:
        self.stream_params = None     # (first_seq, count, seed) of the active or finished stream
        self.streaming = False
        self.next_seq = self.produced = 0

    def feed(self, data: bytes) -> bytes:
        out = b""
        for ftype, payload in self.parser.feed(data):
            out += self.handle(ftype, payload)
        return out

    def poll(self) -> bytes:
        if not self.streaming:
            return b""
        first, count, seed = self.stream_params
        if count and self.produced == count:
            self.streaming = False    # finished; its STREAM stays known, so a late duplicate is ignored
            return b""
        if len(self.slots) >= self.window:
            return b""                # backpressure: wait for an ACK
        seq = self.next_seq
        self.next_seq = (seq + 1) & 0xFFFFFFFF
        self.produced += 1
        return self._run(self.pid, seq, P.stream_inputs(seed, [seq], self.in_sizes, self.in_float)[0])

    def _result(self, pid, seq, status, cycles=0, output=b""):
        return P.result(P.Result(self.epoch, pid, seq, status, cycles, output))

    def _run(self, pid: int, seq: int, data: bytes) -> bytes:
        status, cycles, output = self.fn(data)
        self.runs += 1
        self.double_runs += self.run_count.get(seq, 0) > 0
        self.run_count[seq] = self.run_count.get(seq, 0) + 1
        self.pid_seq_runs[self.epoch, pid, seq] = self.pid_seq_runs.get((self.epoch, pid, seq), 0) + 1
        self.slots[seq] = (status, cycles, output)
        return self._result(pid, seq, status, cycles, output)

    def _known(self, pid: int) -> bool:
        return bool(self.pid) and pid == self.pid

    def handle(self, ftype: int, payload: bytes) -> bytes:
        try:
            msg = P.decode(ftype, payload)
        except P.ProtocolError:
            return b""
        if ftype == P.HELLO:
            (nonce,) = msg[1]
            if self.pid and nonce != self.last_nonce:
                if nonce in self.old_nonces:
                    return b""   # a late duplicate of a replaced session's HELLO
                self.old_nonces = (self.old_nonces + [self.last_nonce])[-4:]
            if not self.pid or nonce != self.last_nonce:
                self.hellos += 1
                self.pid = (nonce * 2654435761 ^ self.epoch * 40503 ^ self.hellos * 0x85EBCA6B) & 0xFFFFFFFF or 1
                self.last_nonce, self.last_acked, self.slots = nonce, 0, {}
                self.run_count = {}
                self._end_stream()
            return P.hello_ack(P.HelloAck(nonce, self.pid, self.epoch, self.window, self.in_bytes, self.out_bytes))
        if ftype == P.RUN:
            pid, seq, data = msg[1]
            if len(data) != self.in_bytes:
                return self._result(pid, seq, P.STATUS_BAD_SIZE)
            if not self._known(pid):
                return self._result(pid, seq, P.STATUS_UNKNOWN_PID)
            if seq <= self.last_acked:
                self.stale += 1
                return self._result(pid, seq, P.STATUS_STALE)
            if seq in self.slots:
                self.replays += 1
                return self._result(pid, seq, *self.slots[seq])
            if len(self.slots) >= self.window or self.streaming:   # a running stream owns the seqs above its start
                return self._result(pid, seq, P.STATUS_BUSY)
            return self._run(pid, seq, data)
        if ftype == P.ACK:
            pid, seq = msg[1]
            if self._known(pid) and seq > self.last_acked:
                self.last_acked = seq
                self.slots = {s: v for s, v in self.slots.items() if s > seq}
            return b""
        if ftype == P.STREAM:
            pid, first, count, seed = msg[1]
            if not self._known(pid):
                return self._result(pid, first, P.STATUS_UNKNOWN_PID)
            if (first, count, seed) == self.stream_params:
                self.stream_duplicates += 1
                return b""
            if first <= self.last_acked or first <= max(self.run_count, default=0):
                # a late duplicate of an earlier stream of this session: restarting it would run
                # seqs again
                self.stale += 1
                return b""
            self.stream_params, self.streaming = (first, count, seed), True
            self.next_seq, self.produced = first, 0
            self.last_acked, self.slots = first - 1, {}
            return b""
        if ftype == P.RESEND:
            pid, from_seq = msg[1]
            if not self._known(pid):
                return self._result(pid, from_seq, P.STATUS_UNKNOWN_PID)
            out = b""
            for seq in sorted(s for s in self.slots if s >= from_seq):
                self.replays += 1
                out += self._result(pid, seq, *self.slots[seq])
            return out
        if ftype == P.STOP:
            (pid,) = msg[1]
            if not self._known(pid):
                return self._result(pid, 0, P.STATUS_UNKNOWN_PID)
            self.streaming = False
            return b""
        if ftype == P.STATS:
            (nonce,) = msg[1]
            return P.stats_reply(P.Stats(nonce, self.epoch, self.runs, max(self.run_count.values(), default=0),
                                         self.double_runs, self.replays, self.stale))
        if ftype == P.RESET:
            self.reset()
        return b""
