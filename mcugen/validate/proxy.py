"""A fault-injecting TCP proxy between the host and the board (QEMU's serial socket), for tests.

Each direction is parsed into frames; every frame is, with seeded probabilities, dropped,
duplicated, corrupted (one byte flipped, so its CRC fails), delayed (sent later, which also reorders
it behind later frames) or passed. `reset_board()` resets the board: by injecting a RESET frame
(the firmware jumps to its reset handler) or, with a `restart` callback, by restarting QEMU.
"""
from __future__ import annotations

import heapq
import itertools
import random
import socket
import threading
import time
from collections import Counter

from . import protocol as P


class FaultProxy:
    def __init__(self, board_port: int, p_drop=0.03, p_dup=0.03, p_corrupt=0.03, p_delay=0.03,
                 max_delay: float = 0.05, seed: int = 0, restart=None):
        self.board_port = board_port
        self.p = (p_drop, p_dup, p_corrupt, p_delay)
        self.max_delay = max_delay
        self.rng = random.Random(seed)
        self.restart = restart
        self.faults: Counter = Counter()
        self.frames = 0
        self.lock = threading.Lock()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.stop_flag = threading.Event()
        self.board = None
        self.host = None
        self.queue: list = []           # (due, n, direction, bytes)
        self.counter = itertools.count()
        self.cv = threading.Condition(self.lock)
        self.threads: list[threading.Thread] = []
        self.enabled = True

    # -- plumbing
    def _connect_board(self) -> socket.socket:
        deadline = time.monotonic() + 10
        while True:
            try:
                s = socket.create_connection(("127.0.0.1", self.board_port), timeout=1)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.settimeout(None)
                return s
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def start(self) -> int:
        self.board = self._connect_board()
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self.threads.append(t)
        s = threading.Thread(target=self._sender, daemon=True)
        s.start()
        self.threads.append(s)
        return self.port

    def _accept(self) -> None:
        self.host, _ = self.listener.accept()
        self.host.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for direction in ("up", "down"):
            t = threading.Thread(target=self._pump, args=(direction,), daemon=True)
            t.start()
            self.threads.append(t)

    def _pump(self, direction: str) -> None:
        parser = P.Parser()
        while not self.stop_flag.is_set():
            src = self.host if direction == "up" else self.board
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                if direction == "down" and not self.stop_flag.is_set():
                    time.sleep(0.01)  # the board is being restarted; _reconnect swaps the socket
                    continue
                return
            for ftype, payload in parser.feed(data):
                self._schedule(direction, P.encode(ftype, payload))

    def _schedule(self, direction: str, frame: bytes) -> None:
        with self.cv:
            now = time.monotonic()
            self.frames += 1
            kind = "pass"
            if self.enabled:
                r = self.rng.random()
                acc = 0.0
                for name, p in zip(("drop", "duplicate", "corrupt", "delay"), self.p):
                    acc += p
                    if r < acc:
                        kind = name
                        break
            self.faults[kind] += 1
            if kind == "drop":
                return
            if kind == "corrupt":
                b = bytearray(frame)
                i = self.rng.randrange(len(b))
                b[i] ^= 1 << self.rng.randrange(8)
                frame = bytes(b)
            due = now + (self.rng.uniform(0.001, self.max_delay) if kind == "delay" else 0.0)
            heapq.heappush(self.queue, (due, next(self.counter), direction, frame))
            if kind == "duplicate":
                heapq.heappush(self.queue, (due + self.rng.uniform(0, self.max_delay), next(self.counter), direction, frame))
            self.cv.notify()

    def _sender(self) -> None:
        while not self.stop_flag.is_set():
            with self.cv:
                if not self.queue:
                    self.cv.wait(0.05)
                    continue
                due, _, direction, frame = self.queue[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self.cv.wait(wait)
                    continue
                heapq.heappop(self.queue)
                dst = self.board if direction == "up" else self.host
            try:
                dst.sendall(frame)
            except OSError:
                pass

    # -- board resets
    def reset_board(self) -> str:
        """Injects a RESET frame (or restarts QEMU if a restart callback was given)."""
        if self.restart is None:
            with self.cv:
                heapq.heappush(self.queue, (time.monotonic(), next(self.counter), "up", P.reset()))
                self.faults["reset"] += 1
                self.cv.notify()
            return "reset command"
        with self.cv:
            self.faults["restart"] += 1
            old = self.board
            self.board_port = self.restart()
            self.board = self._connect_board()
            try:
                old.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            old.close()
        return "qemu restart"

    def close(self) -> None:
        self.stop_flag.set()
        for s in (self.host, self.board, self.listener):
            try:
                if s:
                    s.close()
            except OSError:
                pass

    def fault_count(self) -> int:
        return sum(v for k, v in self.faults.items() if k != "pass")
