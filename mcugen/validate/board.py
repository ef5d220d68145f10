"""The board side of `mcugen validate`: building firmware/mg_validate.c with the model for an
emulated board, starting it under QEMU with its UART on a TCP socket, and SimBoard, a pure-Python
model of the firmware's state machine (same rules, used by the protocol tests)."""
from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import boards as boards_mod
from .. import codegen
from ..errors import BuildError, MCUGenError
from ..targets import qemu
from . import protocol as P

FIRMWARE_FILES = ("mg_validate.c", "mg_bm.h")


@dataclass
class ValidationFirmware:
    board: boards_mod.Board
    elf: Path
    input_specs: list
    output_specs: list
    in_bytes: int
    out_bytes: int


def _nbytes(spec) -> int:
    return int(np.prod(spec[1], dtype=np.int64)) * spec[0].itemsize


def build(model, board, opt: str = qemu.DEFAULT_OPT) -> ValidationFirmware:
    """mg_validate.c + the generated model for an emulated Arm board; cached by content."""
    from .. import compiler

    board = qemu.emulated_board(board)
    if board.gcc.cc.startswith("riscv"):
        raise MCUGenError(f"validation firmware supports the Arm MPS2 boards only, not {board.id}")
    program = model if isinstance(model, compiler.Program) else compiler.compile_model(model)
    files = codegen.render(program, qemu.MODEL_NAME, "model")
    in_specs, out_specs = qemu._io_specs(program)
    in_sizes = [_nbytes(s) for s in in_specs]
    out_sizes = [_nbytes(s) for s in out_specs]
    in_b, out_b = sum(in_sizes), sum(out_sizes)
    if in_b + 8 > P.MAX_PAYLOAD or out_b + 17 > P.MAX_PAYLOAD:
        raise MCUGenError(f"validation frames carry at most {P.MAX_PAYLOAD} bytes; the model needs "
                          f"{in_b} input and {out_b} output bytes")
    fw_dir = boards_mod.firmware_dir()
    em = board.emulator
    firmware = {name: (fw_dir / name).read_text() for name in (*FIRMWARE_FILES, em.startup, em.support)}
    cc = qemu._tool(board.gcc.cc)
    defines = [f"-DMG_V_NUM_IN={len(in_sizes)}", f"-DMG_V_NUM_OUT={len(out_sizes)}",
               f"-DMG_V_IN_SIZES={{{','.join(f'{n}u' for n in in_sizes)}}}",
               f"-DMG_V_OUT_SIZES={{{','.join(f'{n}u' for n in out_sizes)}}}",
               f"-DMG_V_IN_BYTES={in_b}u", f"-DMG_V_OUT_BYTES={out_b}u"]
    flags = qemu.compile_flags(board, opt) + defines
    lflags = qemu.link_flags(board)
    key = hashlib.sha256(repr((cc, qemu._compiler_version(cc), flags, lflags)).encode())
    for group in (files, firmware):
        for name in sorted(group):
            key.update(name.encode() + b"\0" + group[name].encode() + b"\0")
    target = qemu.cache_dir() / "qemu" / f"validate-{board.id}-{key.hexdigest()[:20]}.elf"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="mcugen-validate-", dir=target.parent) as tmp:
            src = Path(tmp)
            for name, text in {**files, **firmware}.items():
                (src / name).write_text(text)
            sources = sorted(n for n in files if n.endswith(".c")) + ["mg_validate.c", em.startup, em.support]
            objs = []
            for s in sources:
                obj = src / (Path(s).stem + ".o")
                qemu._run_cc([cc, *flags, "-I", str(src), "-c", str(src / s), "-o", str(obj)], s)
                objs.append(str(obj))
            out = src / "fw.elf"
            proc = subprocess.run([cc, *objs, *lflags, "-o", str(out)], capture_output=True, text=True)
            if proc.returncode != 0:
                raise BuildError(f"linking the validation firmware for {board.id} failed:\n{proc.stderr[-4000:]}")
            os.replace(out, target)
    return ValidationFirmware(board, target, in_specs, out_specs, in_b, out_b)


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
    cycles, output bytes)` stands for model_invoke(). reset() models the RESET command."""

    def __init__(self, fn, in_bytes: int, out_bytes: int):
        self.fn, self.in_bytes, self.out_bytes = fn, in_bytes, out_bytes
        self.epoch = 0
        self.runs = self.double_runs = self.replays = self.stale = 0
        self.parser = P.Parser()
        self.reset()

    def reset(self) -> None:
        self.epoch += 1
        self.pid = 0
        self.last_nonce = None
        self.old_nonces: list[int] = []   # the firmware keeps the last 4
        self.hellos = 0
        self.last_acked = 0
        self.slots: dict[int, tuple] = {}
        self.run_count: dict[int, int] = {}
        self.parser = P.Parser()

    def feed(self, data: bytes) -> bytes:
        out = b""
        for ftype, payload in self.parser.feed(data):
            out += self.handle(ftype, payload)
        return out

    def _result(self, pid, seq, status, cycles=0, output=b""):
        return P.result(P.Result(self.epoch, pid, seq, status, cycles, output))

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
            return P.hello_ack(P.HelloAck(nonce, self.pid, self.epoch, P.WINDOW, self.in_bytes, self.out_bytes))
        if ftype == P.RUN:
            pid, seq, data = msg[1]
            if len(data) != self.in_bytes:
                return self._result(pid, seq, P.STATUS_BAD_SIZE)
            if not self.pid or pid != self.pid:
                return self._result(pid, seq, P.STATUS_UNKNOWN_PID)
            if seq <= self.last_acked:
                self.stale += 1
                return self._result(pid, seq, P.STATUS_STALE)
            if seq in self.slots:
                self.replays += 1
                return self._result(pid, seq, *self.slots[seq])
            if len(self.slots) >= P.WINDOW:
                return self._result(pid, seq, P.STATUS_BUSY)
            status, cycles, output = self.fn(data)
            self.runs += 1
            self.double_runs += self.run_count.get(seq, 0) > 0
            self.run_count[seq] = self.run_count.get(seq, 0) + 1
            self.slots[seq] = (status, cycles, output)
            return self._result(pid, seq, status, cycles, output)
        if ftype == P.ACK:
            pid, seq = msg[1]
            if pid == self.pid and self.pid and seq > self.last_acked:
                self.last_acked = seq
                self.slots = {s: v for s, v in self.slots.items() if s > seq}
            return b""
        if ftype == P.STATS:
            (nonce,) = msg[1]
            return P.stats_reply(P.Stats(nonce, self.epoch, self.runs, max(self.run_count.values(), default=0),
                                         self.double_runs, self.replays, self.stale))
        if ftype == P.RESET:
            self.reset()
        return b""
