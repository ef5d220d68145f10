"""Wire protocol between `mcugen validate` (host) and firmware/mg_validate.c (board).

Framing (all integers little-endian):

    magic 0xA5 0x5A | length u16 | type u8 | payload (length bytes) | CRC32 u32

`length` counts the payload only (at most MAX_PAYLOAD). The CRC32 (zlib / IEEE 802.3, the same as
zlib.crc32) covers length, type and payload. A receiver hunts for the magic; a frame whose length is
too large or whose CRC does not match is dropped and the hunt restarts one byte after the bad magic,
so corrupt or partial frames are never acted on and never swallow the good frame behind them.

Messages (pid = producer id, seq = request sequence number, both u32):

    HELLO       host->board  nonce u32                 ask for a producer id
    HELLO_ACK   board->host  nonce u32, pid u32, epoch u32, window u8, in_bytes u32, out_bytes u32
    RUN         host->board  pid, seq, input bytes     run the model once on these inputs
    RESULT      board->host  epoch u32, pid, seq, status u8, cycles u32, output bytes
    ACK         host->board  pid, seq                  cumulative: every seq <= this one is delivered
    STATS       host->board  nonce u32
    STATS_REPLY board->host  nonce u32, epoch u32, runs u32, max_runs_per_seq u32, double_runs u32,
                             replays u32, stale u32
    RESET       host->board  (empty)                   the board jumps to its reset handler
    STREAM      host->board  pid u32, first_seq u32, count u32 (0 = until STOP), seed u32
    RESEND      host->board  pid u32, from_seq u32
    STOP        host->board  pid u32

Rules on the board: it runs each (pid, seq) at most once. It keeps the responses of the last WINDOW
(at most 5; HELLO_ACK says how many) unacknowledged requests; a retried RUN is answered from the saved
response (a "replay"); a RUN with seq <= the last acknowledged one gets STATUS_STALE; a RUN for a pid it
did not hand out (e.g. after a reset) gets STATUS_UNKNOWN_PID; a RUN that would need one slot more than
WINDOW, or that arrives while a stream is active, gets STATUS_BUSY. The run counters behind STATS count
per (pid, seq): they start over with each session. The boot
epoch changes on every reset and is in every HELLO_ACK, RESULT and STATS_REPLY. A HELLO with a new nonce starts a
new session (new pid, empty window); a HELLO repeating the current nonce gets the same pid again; a
HELLO with the nonce of one of the last 4 replaced sessions (a late duplicate) is ignored.

Rules on the host: at most WINDOW requests in flight; results are delivered in seq order; each
request is retried after a timeout (the measured round trip, RFC 6298 style, with Karn's rule) that
doubles up to a limit of attempts; an ACK for the highest
contiguously delivered seq is sent after each delivery. A new epoch or STATUS_UNKNOWN_PID means the
board was reset: the host handshakes again and re-sends every unacknowledged request under the new
pid. Acknowledged requests are never sent again.

Streaming mode: the board runs the model continuously on its own input source (stream_inputs()
below, or a sensor in the firmware's mg_v_stream_input()) and publishes each result.
Board: a STREAM, RESEND or STOP for a pid it did not hand out gets RESULT(status UNKNOWN_PID, seq =
first_seq / from_seq / 0, no output). A STREAM for the current pid with the same (first_seq, count,
seed) as the active or finished stream is a duplicate and ignored, and so is one with first_seq <=
the last acknowledged seq or <= the highest seq the session ran (a late duplicate of an earlier stream:
counted as stale, as a stale RUN is; restarting it would run seqs again); any other STREAM starts a stream:
next = first_seq, last acknowledged = first_seq - 1, every slot freed. While a stream is active, next
!= first_seq + count (count 0: unbounded) and a slot is free, each poll of the board produces one
result: every input filled for seq `next`, the model reset (results are independent and reproducible),
invoked and timed, the result saved in a slot, run counters updated as for RUN, RESULT sent. ACK frees
slots exactly as in request mode, so with WINDOW unacknowledged results the board waits
(backpressure). RESEND re-sends every saved result with seq >= from_seq in seq order (replays). STOP
ends the stream. RUN and STREAM share the slots and the last acknowledged seq; a session uses one mode
at a time.
Host: first = last acknowledged + 1; it sends STREAM and delivers results in seq order exactly once
(a seq already delivered or already buffered is a suppressed duplicate), sending a cumulative ACK
after each progress. When nothing progresses for a timeout (doubling up to a cap, at most a number of
attempts) it re-sends ACK(delivered) if anything was delivered, the same STREAM (idempotent) and
RESEND(pid, delivered + 1). On UNKNOWN_PID or a new epoch it handshakes again and sends STREAM(new
pid, delivered + 1, remaining count, seed): the stream resumes where delivery stopped and nothing
delivered is produced again.

Default stream input source (mg_v_stream_input() in firmware/mg_validate.c gives the same bytes):
    x = seed ^ (seq * 0x9E3779B9) (mod 2^32); if x == 0: x = 0x6D2B79F5
    next(): x ^= x << 13; x ^= x >> 17; x ^= x << 5 (mod 2^32); return x
    one state per seq, continuing across the inputs in order:
      float32 input: each element = (float)(next() >> 8) / 8388608.0f - 1.0f   (exact in float32)
      other input:   each byte = next() >> 24
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

MAGIC = b"\xa5\x5a"
HEADER = 5          # magic + length + type
TRAILER = 4         # CRC32
MAX_PAYLOAD = 0xFFFF   # what the u16 length allows; receivers lower it to their largest frame
WINDOW = 5

HELLO, HELLO_ACK, RUN, RESULT, ACK, STATS, STATS_REPLY, RESET, STREAM, RESEND, STOP = range(1, 12)
TYPE_NAMES = {HELLO: "HELLO", HELLO_ACK: "HELLO_ACK", RUN: "RUN", RESULT: "RESULT", ACK: "ACK",
              STATS: "STATS", STATS_REPLY: "STATS_REPLY", RESET: "RESET", STREAM: "STREAM",
              RESEND: "RESEND", STOP: "STOP"}
RUN_HEAD, RESULT_HEAD = 8, 17
# The largest frame without model data (STATS_REPLY has 28 bytes): with RUN_HEAD + input bytes and
# RESULT_HEAD + output bytes it bounds what a receiver accepts, so a corrupted length field makes
# the parser wait for at most one real frame's worth of bytes before it resynchronises.
SMALL_PAYLOAD = 32

STATUS_OK, STATUS_INVOKE_FAILED, STATUS_STALE, STATUS_UNKNOWN_PID, STATUS_BUSY, STATUS_BAD_SIZE = range(6)
STATUS_NAMES = {STATUS_OK: "ok", STATUS_INVOKE_FAILED: "invoke failed", STATUS_STALE: "stale",
                STATUS_UNKNOWN_PID: "unknown pid", STATUS_BUSY: "busy", STATUS_BAD_SIZE: "bad size"}


class ProtocolError(ValueError):
    pass


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def encode(ftype: int, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    body = struct.pack("<HB", len(payload), ftype) + payload
    return MAGIC + body + struct.pack("<I", crc32(body))


class Parser:
    """Byte-stream to frames. feed() returns the (type, payload) of every complete, valid frame."""

    def __init__(self, max_payload: int = MAX_PAYLOAD):
        self.max_payload = max_payload
        self.buf = bytearray()
        self.dropped = 0      # frames (or magic look-alikes) rejected: bad length or CRC
        self.skipped = 0      # bytes discarded while hunting for the magic

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self.buf += data
        out = []
        buf = self.buf
        i = 0
        n = len(buf)
        while True:
            j = buf.find(MAGIC, i)
            if j < 0:
                keep = n - 1 if n > i and buf[-1] == MAGIC[0] else n
                self.skipped += keep - i
                i = keep
                break
            self.skipped += j - i
            i = j
            if n - i < HEADER:
                break
            length = buf[i + 2] | (buf[i + 3] << 8)
            if length > self.max_payload:
                self.dropped += 1
                i += 1
                continue
            end = i + HEADER + length + TRAILER
            if n < end:
                break
            body = bytes(buf[i + 2:end - TRAILER])
            (crc,) = struct.unpack_from("<I", buf, end - TRAILER)
            if crc != crc32(body):
                self.dropped += 1
                i += 1
                continue
            out.append((body[2], body[3:]))
            i = end
        del buf[:i]
        return out


# ---- message payloads -------------------------------------------------------------------------

@dataclass
class HelloAck:
    nonce: int
    pid: int
    epoch: int
    window: int
    in_bytes: int
    out_bytes: int


@dataclass
class Result:
    epoch: int
    pid: int
    seq: int
    status: int
    cycles: int
    output: bytes


@dataclass
class Stats:
    nonce: int
    epoch: int
    runs: int
    max_runs_per_seq: int
    double_runs: int
    replays: int
    stale: int


def hello(nonce: int) -> bytes:
    return encode(HELLO, struct.pack("<I", nonce))


def hello_ack(m: HelloAck) -> bytes:
    return encode(HELLO_ACK, struct.pack("<IIIBII", m.nonce, m.pid, m.epoch, m.window, m.in_bytes, m.out_bytes))


def run(pid: int, seq: int, data: bytes) -> bytes:
    return encode(RUN, struct.pack("<II", pid, seq) + data)


def result(m: Result) -> bytes:
    return encode(RESULT, struct.pack("<IIIBI", m.epoch, m.pid, m.seq, m.status, m.cycles) + m.output)


def ack(pid: int, seq: int) -> bytes:
    return encode(ACK, struct.pack("<II", pid, seq))


def stats(nonce: int) -> bytes:
    return encode(STATS, struct.pack("<I", nonce))


def stats_reply(m: Stats) -> bytes:
    return encode(STATS_REPLY, struct.pack("<7I", m.nonce, m.epoch, m.runs, m.max_runs_per_seq, m.double_runs,
                                           m.replays, m.stale))


def reset() -> bytes:
    return encode(RESET)


def stream(pid: int, first_seq: int, count: int, seed: int) -> bytes:
    return encode(STREAM, struct.pack("<4I", pid, first_seq, count, seed))


def resend(pid: int, from_seq: int) -> bytes:
    return encode(RESEND, struct.pack("<II", pid, from_seq))


def stop(pid: int) -> bytes:
    return encode(STOP, struct.pack("<I", pid))


def stream_inputs(seed: int, seqs, sizes, is_float) -> list[bytes]:
    """The default stream input source: for each seq, the concatenated input bytes the board
    generates (see the module docstring). sizes are the per-input byte counts (MG_V_IN_SIZES),
    is_float the per-input float32 flags (MG_V_IN_FLOAT). Vectorised over seqs."""
    seqs = np.asarray(list(seqs), dtype=np.uint64)
    if len(sizes) != len(is_float):
        raise ValueError("sizes and is_float differ in length")
    x = ((np.uint64(seed & 0xFFFFFFFF) ^ (seqs * np.uint64(0x9E3779B9))) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    x[x == 0] = np.uint32(0x6D2B79F5)
    parts = []
    for n, f in zip(sizes, is_float):
        n = int(n)
        if f and n % 4:
            raise ValueError(f"a float32 input of {n} bytes")
        steps = n // 4 if f else n
        vals = np.empty((steps, len(seqs)), dtype=np.uint32)
        for i in range(steps):   # xorshift32; numpy uint32 shifts drop the high bits (mod 2^32)
            x ^= x << np.uint32(13)
            x ^= x >> np.uint32(17)
            x ^= x << np.uint32(5)
            vals[i] = x
        if f:
            el = (vals >> np.uint32(8)).astype(np.float32) / np.float32(8388608.0) - np.float32(1.0)
            parts.append(np.ascontiguousarray(el.T).astype("<f4").view(np.uint8).reshape(len(seqs), n))
        else:
            parts.append(np.ascontiguousarray((vals >> np.uint32(24)).astype(np.uint8).T))
    rows = np.concatenate(parts, axis=1) if parts else np.zeros((len(seqs), 0), np.uint8)
    return [r.tobytes() for r in rows]


def decode(ftype: int, payload: bytes):
    """A valid frame's message: HelloAck, Result, Stats, or (type, fields) for host->board messages.
    Raises ProtocolError for a well-framed message with a malformed payload."""
    try:
        if ftype == HELLO_ACK:
            return HelloAck(*struct.unpack("<IIIBII", payload))
        if ftype == RESULT:
            head = struct.unpack_from("<IIIBI", payload)
            return Result(*head, bytes(payload[17:]))
        if ftype == STATS_REPLY:
            return Stats(*struct.unpack("<7I", payload))
        if ftype in (HELLO, STATS):
            return (ftype, struct.unpack("<I", payload))
        if ftype == ACK:
            return (ftype, struct.unpack("<II", payload))
        if ftype == RUN:
            pid, seq = struct.unpack_from("<II", payload)
            return (ftype, (pid, seq, bytes(payload[8:])))
        if ftype == RESET and not payload:
            return (ftype, ())
        if ftype == STREAM:
            return (ftype, struct.unpack("<4I", payload))
        if ftype == RESEND:
            return (ftype, struct.unpack("<II", payload))
        if ftype == STOP:
            return (ftype, struct.unpack("<I", payload))
    except struct.error as e:
        raise ProtocolError(f"malformed {TYPE_NAMES.get(ftype, ftype)} payload: {e}") from None
    raise ProtocolError(f"unknown or malformed frame type {ftype}")
