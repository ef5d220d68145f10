"""Host side of `mcugen validate`: transports and the exactly-once session (see protocol.py).

    with Session(TcpTransport("127.0.0.1", port)) as s:
        s.handshake()
        results = s.run_all([input_bytes, ...])    # one Result per input, in order
        results = s.stream(1000, seed=7)           # the board's own inputs (protocol.stream_inputs)
"""
from __future__ import annotations

import random
import socket
import time
from dataclasses import dataclass, field

from ..errors import MCUGenError
from . import protocol as P


class ValidateError(MCUGenError):
    exit_code = 4


# ---- transports -------------------------------------------------------------------------------

class TcpTransport:
    """A TCP byte stream: QEMU's `-serial tcp:127.0.0.1:PORT,server=on,wait=off` or the fault proxy."""

    def __init__(self, host: str, port: int, connect_timeout: float = 10.0):
        deadline = time.monotonic() + connect_timeout
        while True:
            try:
                self.sock = socket.create_connection((host, port), timeout=1.0)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise ValidateError(f"cannot connect to {host}:{port}") from None
                time.sleep(0.05)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    seconds_per_byte = 0.0

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise ValidateError(f"the board's connection failed: {e}") from None

    def recv(self, timeout: float) -> bytes:
        self.sock.settimeout(max(timeout, 0.0005))
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, BlockingIOError):
            return b""
        except OSError as e:
            raise ValidateError(f"the board's connection failed: {e}") from None
        if not data:
            raise ValidateError("the board's connection closed")
        return data

    def close(self) -> None:
        self.sock.close()


class SerialTransport:
    """A real serial port through pyserial (imported only here)."""

    def __init__(self, port: str, baud: int = 115200):
        try:
            import serial  # noqa: PLC0415
        except ImportError:
            raise ValidateError("--port needs pyserial: pip install pyserial") from None
        try:
            self.ser = serial.Serial(port, baud, timeout=0)
        except (serial.SerialException, ValueError) as e:   # ValueError: a baud rate the port refuses
            raise ValidateError(f"cannot open {port} at {baud} baud: {e}") from None
        self.seconds_per_byte = 10.0 / baud   # 8N1: ten bits a byte
        self._error = serial.SerialException

    def send(self, data: bytes) -> None:
        try:
            self.ser.write(data)
        except (self._error, OSError) as e:
            raise ValidateError(f"writing to the serial port failed: {e}") from None

    def recv(self, timeout: float) -> bytes:
        try:
            self.ser.timeout = max(timeout, 0.0005)
            first = self.ser.read(1)
            return first + self.ser.read(self.ser.in_waiting) if first else b""
        except (self._error, OSError) as e:
            raise ValidateError(f"reading the serial port failed: {e}") from None

    def close(self) -> None:
        self.ser.close()


class LoopbackTransport:
    """An in-process board (SimBoard) behind optional fault functions (bytes -> bytes) on the way
    to the board (faults) and back (faults_down), for tests. Each recv() polls the board once, as
    the firmware's main loop calls mg_validate_poll(), so a streaming board produces a result."""

    def __init__(self, board, faults=None, faults_down=None):
        self.board, self.faults, self.faults_down, self.pending = board, faults, faults_down, b""

    def send(self, data: bytes) -> None:
        if self.faults:
            data = self.faults(data)
        self._down(self.board.feed(data))

    def _down(self, data: bytes) -> None:
        if self.faults_down:
            data = self.faults_down(data)
        self.pending += data

    def recv(self, timeout: float) -> bytes:
        poll = getattr(self.board, "poll", None)
        if poll:
            self._down(poll())
        data, self.pending = self.pending, b""
        if not data:
            time.sleep(min(timeout, 0.001))
        return data

    def close(self) -> None:
        pass


# ---- session ----------------------------------------------------------------------------------

@dataclass
class Counters:
    sent: int = 0
    retries: int = 0
    duplicates_suppressed: int = 0
    stale: int = 0
    busy: int = 0
    resets: int = 0
    resent_after_reset: int = 0
    handshakes: int = 0
    frames_dropped: int = 0
    streams: int = 0               # STREAM frames sent (first, retries, restarts after a reset)
    resends: int = 0               # RESEND frames sent
    received: int = 0              # RESULT frames stream() received for its pid (duplicates included)
    epochs: list = field(default_factory=list)


@dataclass
class _Pending:
    data: bytes
    attempts: int
    deadline: float
    timeout: float
    sent: float = 0.0   # when the first attempt went out (round-trip samples come from first attempts only)
    fast: bool = False  # retried early once already because a later request was answered first


class Session:
    def __init__(self, transport, window: int = P.WINDOW, timeout: float = 0.25, max_timeout: float = 4.0,
                 backoff: float = 2.0, max_attempts: int = 12, seed: int | None = None):
        if not 1 <= window <= P.WINDOW:
            raise ValueError(f"window must be 1..{P.WINDOW}")
        self.t = transport
        self.window, self.timeout, self.max_timeout = window, timeout, max_timeout
        self.backoff, self.max_attempts = backoff, max_attempts
        self.rng = random.Random(seed)
        # Until the handshake tells the output size, only the small messages are expected.
        self.parser = P.Parser(P.SMALL_PAYLOAD)
        self.pid = 0
        self.epoch = None
        self.info: P.HelloAck | None = None
        self.c = Counters()
        self.inbox: list = []          # decoded frames not consumed yet
        self.acked = 0                 # highest seq acknowledged (every seq <= it delivered)
        self.sent_seqs: set[int] = set()
        self.resent_acked = 0          # invariant check: must stay 0
        # Round trip of a request (queueing behind the window and the inference included), smoothed as
        # TCP does (RFC 6298), so a slow board is not retried before it could have answered.
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.karn = 0.0   # Karn: the backed-off timeout that last worked, kept until a clean sample

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.t.close()

    # -- frames
    def _pump(self, timeout: float) -> None:
        data = self.t.recv(timeout)
        if data:
            before = self.parser.dropped
            for ftype, payload in self.parser.feed(data):
                try:
                    self.inbox.append(P.decode(ftype, payload))
                except P.ProtocolError:
                    self.c.frames_dropped += 1
            self.c.frames_dropped += self.parser.dropped - before

    def handshake(self) -> P.HelloAck:
        timeout = self.timeout
        for attempt in range(self.max_attempts):
            # A retry repeats the nonce (a late duplicate then gets the same pid), except every third
            # attempt: if a late HELLO of an earlier session took the board over, the board ignores
            # our nonce as a replaced session's, and only a fresh one gets through.
            if attempt % 3 == 0:
                nonce = self.rng.getrandbits(32) | 1   # never 0: the board's table of old nonces starts zeroed
            self.t.send(P.hello(nonce))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                self._pump(deadline - time.monotonic())
                for m in self.inbox:
                    if isinstance(m, P.HelloAck) and m.nonce == nonce:
                        self.inbox = []
                        self.pid, self.epoch, self.info = m.pid, m.epoch, m
                        self.parser.max_payload = max(P.SMALL_PAYLOAD, P.RESULT_HEAD + m.out_bytes)
                        self.c.handshakes += 1
                        self.c.epochs.append(m.epoch)
                        return m
                self.inbox = []   # anything else belongs to an older session
            timeout = min(timeout * self.backoff, self.max_timeout)
        raise ValidateError(f"no HELLO_ACK from the board after {self.max_attempts} attempts")

    def stats(self) -> P.Stats:
        nonce = self.rng.getrandbits(32)
        timeout = self.timeout
        for _ in range(self.max_attempts):
            self.t.send(P.stats(nonce))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                self._pump(deadline - time.monotonic())
                for m in self.inbox:
                    if isinstance(m, P.Stats) and m.nonce == nonce:
                        self.inbox = [x for x in self.inbox if x is not m]
                        return m
            timeout = min(timeout * self.backoff, self.max_timeout)
        raise ValidateError(f"no STATS_REPLY from the board after {self.max_attempts} attempts")

    def _observe(self, sample: float) -> None:
        self.karn = 0.0
        if self.srtt is None:
            self.srtt, self.rttvar = sample, sample / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - sample)
            self.srtt = 0.875 * self.srtt + 0.125 * sample

    def _rto(self) -> float:
        """The first retry timeout: --timeout, plus the wire time of a window of frames on a slow serial
        link, or the measured round trip when that is longer."""
        floor = self.timeout
        if self.info:
            frame_bytes = 2 * (P.HEADER + P.TRAILER) + P.RUN_HEAD + P.RESULT_HEAD + self.info.in_bytes + self.info.out_bytes
            floor += self._window() * frame_bytes * getattr(self.t, "seconds_per_byte", 0.0)
        return max(floor, self.karn, 0.0 if self.srtt is None else self.srtt + 4 * self.rttvar)

    def _backoff(self, timeout: float) -> float:
        return min(timeout * self.backoff, max(self.max_timeout, 2 * self._rto()))

    def _window(self) -> int:
        """Requests in flight: ours, or fewer if the board advertised a smaller window."""
        return max(1, min(self.window, self.info.window)) if self.info else self.window

    def _send_run(self, seq: int, p: _Pending) -> None:
        if seq <= self.acked:
            self.resent_acked += 1   # never happens; checked by the tests
            return
        self.t.send(P.run(self.pid, seq, p.data))
        self.c.sent += 1

    def run_all(self, inputs: list[bytes], on_result=None) -> list[P.Result]:
        """Runs every input exactly once on the board; results in input order. on_result(i, result)
        is called in order as results are delivered."""
        if not self.pid:
            self.handshake()
        bad = [i for i, x in enumerate(inputs) if len(x) != self.info.in_bytes]
        if bad:
            raise ValidateError(f"input {bad[0]} has {len(inputs[bad[0]])} bytes; the board's model takes "
                                f"{self.info.in_bytes}")
        if P.RUN_HEAD + self.info.in_bytes > P.MAX_PAYLOAD:
            raise ValidateError(f"the model's {self.info.in_bytes} input bytes do not fit in a RUN frame "
                                f"({P.MAX_PAYLOAD} bytes at most): validate it with --stream")
        base = self.acked + 1   # seqs keep growing across calls and pids
        n = len(inputs)
        results: dict[int, P.Result] = {}
        out: list = [None] * n
        pending: dict[int, _Pending] = {}
        delivered = base - 1
        answered = delivered   # the highest seq with a result
        next_seq = base
        last = base + n - 1
        while delivered < last:
            now = time.monotonic()
            while next_seq <= last and next_seq - delivered <= self._window():
                rto = self._rto()
                p = _Pending(inputs[next_seq - base], 1, now + rto, rto, now)
                pending[next_seq] = p
                self.sent_seqs.add(next_seq)
                self._send_run(next_seq, p)
                next_seq += 1
            wait = min((p.deadline for p in pending.values()), default=now + self.timeout) - now
            self._pump(max(wait, 0.0))
            answers, reset = self._take_results()
            for m in answers:
                if m.status == P.STATUS_STALE:
                    self.c.stale += 1
                    continue
                if m.status == P.STATUS_BUSY:
                    # The board still holds acknowledged responses: our ACK was lost. Resend it.
                    self.c.busy += 1
                    if delivered >= base:
                        self.t.send(P.ack(self.pid, delivered))
                    if m.seq in pending:
                        pending[m.seq].deadline = time.monotonic() + pending[m.seq].timeout / 4
                    continue
                if m.status == P.STATUS_BAD_SIZE:
                    raise ValidateError(f"the board expects {self.info.in_bytes} input bytes, got {len(inputs[0])}")
                if m.seq in pending:
                    results[m.seq] = m
                    answered = max(answered, m.seq)
                    if pending[m.seq].attempts == 1:
                        self._observe(time.monotonic() - pending[m.seq].sent)
                    else:   # Karn: a retried request's round trip is ambiguous; keep its timeout instead
                        self.karn = max(self.karn, pending[m.seq].timeout)
                    del pending[m.seq]
                else:
                    self.c.duplicates_suppressed += 1
            if reset:
                self._recover(pending)
                continue
            moved = False
            while delivered + 1 in results:
                delivered += 1
                r = results.pop(delivered)
                out[delivered - base] = r
                if on_result:
                    on_result(delivered - base, r)
                moved = True
            if moved:
                self.acked = delivered
                self.t.send(P.ack(self.pid, delivered))
            now = time.monotonic()
            for seq, p in sorted(pending.items()):
                if seq < answered and not p.fast:
                    # The board answers in order: a later request's result means this request or its
                    # result was lost. Retry now (once) instead of waiting out the timeout, as TCP's
                    # fast retransmit does.
                    p.fast = True
                    p.deadline = now
                if p.deadline <= now:
                    if p.attempts >= self.max_attempts:
                        raise ValidateError(f"request {seq}: no result after {p.attempts} attempts")
                    p.attempts += 1
                    p.timeout = self._backoff(p.timeout)
                    p.deadline = now + p.timeout
                    self.c.retries += 1
                    if delivered >= base:
                        self.t.send(P.ack(self.pid, delivered))
                    self._send_run(seq, p)
        return out

    def _take_results(self) -> tuple[list[P.Result], bool]:
        """Empties the inbox: this session's RESULTs, and whether one shows that the board was reset
        (STATUS_UNKNOWN_PID or a new epoch). Frames of older sessions and other messages are dropped."""
        answers, reset = [], False
        for m in self.inbox:
            if not isinstance(m, P.Result) or m.pid != self.pid:
                continue
            if m.status == P.STATUS_UNKNOWN_PID or m.epoch != self.epoch:
                reset = True
            else:
                answers.append(m)
        self.inbox = []
        return answers, reset

    def _recover(self, pending: dict[int, _Pending]) -> None:
        """The board was reset: new handshake, then every unacknowledged request again."""
        self.c.resets += 1
        self.handshake()
        now = time.monotonic()
        for seq, p in sorted(pending.items()):
            p.attempts, p.timeout, p.deadline, p.sent = 1, self._rto(), now + self._rto(), now
            self.c.resent_after_reset += 1
            self._send_run(seq, p)

    # -- streaming
    def _send_stream(self, first: int, count: int, seed: int) -> None:
        self.t.send(P.stream(self.pid, first, count, seed))
        self.c.streams += 1

    def stream(self, count: int, seed: int, on_result=None) -> list[P.Result]:
        """The board runs the model `count` times on its own inputs (for the default source, seq s
        gets protocol.stream_inputs(seed, [s], ...)) and publishes each result; they are delivered
        exactly once, in seq order. Seqs continue after the last acknowledged one (r.seq tells
        which). on_result(i, result) is called in order as results are delivered."""
        if count < 1:
            raise ValueError("count must be at least 1")
        seed &= 0xFFFFFFFF
        if not self.pid:
            self.handshake()
        first = self.acked + 1
        last = first + count - 1
        if last > 0xFFFFFFFF:
            raise ValidateError("sequence numbers exhausted: start a new session")
        delivered = first - 1
        buffered: dict[int, P.Result] = {}
        out: list[P.Result] = []
        s_first, s_count = first, count          # the STREAM under the current pid
        self._send_stream(s_first, s_count, seed)
        timeout, attempts = self._rto(), 1
        last_progress = time.monotonic()
        deadline = last_progress + timeout
        while delivered < last:
            self._pump(max(deadline - time.monotonic(), 0.0))
            answers, reset = self._take_results()
            self.c.received += len(answers)
            for m in answers:
                if m.status == P.STATUS_STALE:      # late answers to an earlier run_all's retries
                    self.c.stale += 1
                elif m.status == P.STATUS_BUSY:
                    self.c.busy += 1
                elif m.seq <= delivered or m.seq in buffered or m.seq > last:
                    self.c.duplicates_suppressed += 1
                else:
                    buffered[m.seq] = m
            if reset:
                # The board was reset: it forgot the pid and the stream. Resume where delivery
                # stopped, under a new pid; nothing delivered is produced again.
                self.c.resets += 1
                self.handshake()
                buffered.clear()   # results of the old boot that were not delivered yet: produced again
                s_first, s_count = delivered + 1, last - delivered
                self._send_stream(s_first, s_count, seed)
                timeout, attempts = self._rto(), 1
                last_progress = time.monotonic()
                deadline = last_progress + timeout
                continue
            moved = False
            while delivered + 1 in buffered:
                delivered += 1
                r = buffered.pop(delivered)
                out.append(r)
                if on_result:
                    on_result(delivered - first, r)
                moved = True
            now = time.monotonic()
            if moved:
                self.acked = delivered
                self.t.send(P.ack(self.pid, delivered))
                if attempts == 1:   # the time one more result took, with no retry in between
                    self._observe(now - last_progress)
                else:
                    self.karn = max(self.karn, timeout)
                last_progress = now
                timeout, attempts = self._rto(), 1
                deadline = now + timeout
            elif now >= deadline:
                if attempts >= self.max_attempts:
                    raise ValidateError(f"stream: no result for seq {delivered + 1} after {attempts} attempts")
                attempts += 1
                timeout = self._backoff(timeout)
                deadline = now + timeout
                self.c.retries += 1
                if delivered >= s_first:
                    self.t.send(P.ack(self.pid, delivered))   # a lost ACK leaves the board waiting
                self._send_stream(s_first, s_count, seed)      # a lost STREAM: the duplicate is ignored
                self.t.send(P.resend(self.pid, delivered + 1))  # lost results: replayed from the slots
                self.c.resends += 1
        return out
