"""mcugen.validate: framing, the parser on arbitrary bytes, and the host session against SimBoard
(the firmware's state machine in Python) through a lossy in-process link."""
from __future__ import annotations

import random
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcugen.validate import protocol as P
from mcugen.validate.board import SimBoard
from mcugen.validate.host import LoopbackTransport, Session


def test_frame_layout_and_round_trip():
    f = P.encode(P.RUN, b"abc")
    assert f[:2] == b"\xa5\x5a"
    assert struct.unpack("<H", f[2:4])[0] == 3 and f[4] == P.RUN and f[5:8] == b"abc"
    assert struct.unpack("<I", f[-4:])[0] == zlib.crc32(f[2:-4])
    assert P.Parser().feed(f) == [(P.RUN, b"abc")]


@pytest.mark.parametrize("msg", [
    P.HelloAck(1, 2, 3, 5, 490, 4),
    P.Result(7, 9, 11, P.STATUS_OK, 1234, b"\x01\x02\xff"),
    P.Stats(1, 2, 3, 1, 0, 4, 5),
])
def test_message_round_trips(msg):
    enc = {P.HelloAck: P.hello_ack, P.Result: P.result, P.Stats: P.stats_reply}[type(msg)]
    [(ftype, payload)] = P.Parser().feed(enc(msg))
    assert P.decode(ftype, payload) == msg


def test_host_messages_decode():
    assert P.decode(*P.Parser().feed(P.run(5, 6, b"xy"))[0]) == (P.RUN, (5, 6, b"xy"))
    assert P.decode(*P.Parser().feed(P.ack(5, 6))[0]) == (P.ACK, (5, 6))
    assert P.decode(*P.Parser().feed(P.hello(9))[0]) == (P.HELLO, (9,))
    assert P.decode(*P.Parser().feed(P.reset())[0]) == (P.RESET, ())
    with pytest.raises(P.ProtocolError):
        P.decode(P.RESULT, b"short")
    with pytest.raises(P.ProtocolError):
        P.encode(P.RUN, bytes(P.MAX_PAYLOAD + 1))


def test_byte_at_a_time_garbage_and_corruption():
    frames = [P.encode(P.RUN, bytes([i]) * i) for i in range(20)]
    stream = b"\x00\xa5garbage\xa5" + b"".join(frames)
    p = P.Parser()
    got = [fr for b in stream for fr in p.feed(bytes([b]))]
    assert got == [(P.RUN, bytes([i]) * i) for i in range(20)]
    bad = bytearray(frames[5])
    bad[6] ^= 0x10
    p = P.Parser()
    assert p.feed(bytes(bad) + frames[6]) == [(P.RUN, bytes([6]) * 6)]
    assert p.dropped >= 1
    # a partial frame waits for the rest; a truncated one followed by a good frame is dropped
    p = P.Parser()
    assert p.feed(frames[3][:-2]) == []
    assert p.feed(frames[3][-2:]) == [(P.RUN, b"\x03\x03\x03")]
    p = P.Parser()
    assert p.feed(frames[9][:-3] + frames[2]) == [(P.RUN, b"\x02\x02")]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=64),
                          st.builds(lambda t, pl: P.encode(t, pl), st.integers(0, 255), st.binary(max_size=40))),
                max_size=20),
       st.integers(1, 17))
def test_parser_never_crashes_never_accepts_bad_crc(chunks, step):
    stream = b"".join(chunks)
    p = P.Parser()
    frames = []
    for i in range(0, len(stream), step):
        frames += p.feed(stream[i:i + step])
    for ftype, payload in frames:
        # every accepted frame is a substring of the stream with a correct CRC
        assert P.encode(ftype, payload) in stream
    assert len(p.buf) <= P.HEADER + P.MAX_PAYLOAD + P.TRAILER


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 10_000))
def test_flipped_bit_is_never_accepted(payload, where):
    f = bytearray(P.encode(P.RESULT, payload))
    i = 2 + where % (len(f) - 2)
    f[i] ^= 1 << (where % 8)
    for ftype, pl in P.Parser().feed(bytes(f)):
        assert (ftype, pl) != (P.RESULT, payload) or bytes(f) == P.encode(P.RESULT, payload)
        assert P.encode(ftype, pl) in bytes(f)


def _model(data: bytes):
    return 0, 100 + data[0], bytes([(data[0] * 7 + data[1]) & 0xFF, data[0] ^ data[1]])


class Faults:
    """Drops, duplicates, corrupts frames host->board with a seeded RNG, and resets the board."""

    def __init__(self, board, seed, p=0.1, resets=()):
        self.board, self.rng, self.p, self.resets, self.n = board, random.Random(seed), p, set(resets), 0
        self.kinds = {"drop": 0, "duplicate": 0, "corrupt": 0, "reset": 0}

    def __call__(self, data: bytes) -> bytes:
        self.n += 1
        if self.n in self.resets:
            self.board.reset()
            self.kinds["reset"] += 1
        r = self.rng.random()
        if r < self.p:
            self.kinds["drop"] += 1
            return b""
        if r < 2 * self.p:
            self.kinds["duplicate"] += 1
            return data + data
        if r < 3 * self.p:
            self.kinds["corrupt"] += 1
            b = bytearray(data)
            b[self.rng.randrange(len(b))] ^= 0x40
            return bytes(b)
        return data


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_session_exactly_once_against_simulated_board(seed):
    board = SimBoard(_model, 2, 2)
    faults = Faults(board, seed, resets=(150, 420))
    s = Session(LoopbackTransport(board, faults), timeout=0.002, max_timeout=0.02, max_attempts=50, seed=seed)
    rng = random.Random(seed)
    inputs = [bytes([rng.randrange(256), rng.randrange(256)]) for _ in range(300)]
    order = []
    results = s.run_all(inputs, on_result=lambda i, r: order.append(i))
    assert order == list(range(300))
    assert [r.output for r in results] == [_model(x)[2] for x in inputs]
    assert [r.seq for r in results] == list(range(1, 301))
    assert faults.kinds["reset"] == 2 and s.c.resets >= 2
    assert s.resent_acked == 0
    st_ = s.stats()
    assert st_.double_runs == 0 and board.double_runs == 0
    # every input ran at least once; only requests unacknowledged at a reset may have run again
    assert 300 <= board.runs <= 300 + s.c.resent_after_reset
    assert s.c.retries > 0 and faults.kinds["drop"] > 0


def test_board_rules():
    board = SimBoard(_model, 2, 2)
    feed = lambda frame: [P.decode(*f) for f in P.Parser().feed(board.feed(frame))]
    [ack] = feed(P.hello(1))
    assert feed(P.hello(1))[0].pid == ack.pid   # a retried HELLO gets the same pid
    pid = ack.pid
    [r1] = feed(P.run(pid, 1, b"\x01\x02"))
    [r1b] = feed(P.run(pid, 1, b"\x01\x02"))
    assert r1 == r1b and board.runs == 1 and board.replays == 1
    for seq in range(2, 6):
        feed(P.run(pid, seq, b"\x00\x00"))
    assert feed(P.run(pid, 6, b"\x00\x00"))[0].status == P.STATUS_BUSY
    feed(P.ack(pid, 3))
    assert feed(P.run(pid, 6, b"\x00\x00"))[0].status == P.STATUS_OK
    assert feed(P.run(pid, 2, b"\x00\x00"))[0].status == P.STATUS_STALE
    assert feed(P.run(pid + 1, 7, b"\x00\x00"))[0].status == P.STATUS_UNKNOWN_PID
    assert feed(P.run(pid, 7, b"\x00"))[0].status == P.STATUS_BAD_SIZE
    assert board.runs == 6 and board.double_runs == 0
    feed(P.reset())
    assert feed(P.run(pid, 7, b"\x00\x00"))[0].status == P.STATUS_UNKNOWN_PID
    assert feed(P.hello(2))[0].epoch == ack.epoch + 1
    new = feed(P.hello(3))[0]
    assert feed(P.hello(2)) == []                     # a late duplicate of a replaced session's HELLO
    assert feed(P.hello(3))[0].pid == new.pid


def test_serial_transport_without_pyserial(monkeypatch):
    import sys

    from mcugen.validate.host import SerialTransport, ValidateError

    monkeypatch.setitem(sys.modules, "serial", None)
    with pytest.raises(ValidateError, match="pip install pyserial"):
        SerialTransport("/dev/ttyDOESNOTEXIST", 115200)


def test_session_refuses_inputs_of_the_wrong_size():
    from mcugen.validate.host import ValidateError

    s = Session(LoopbackTransport(SimBoard(_model, 2, 2)), timeout=0.01)
    with pytest.raises(ValidateError, match="takes 2"):
        s.run_all([b"\x00\x00", b"\x00"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=20).map(lambda b: b.replace(b"\xa5", b"")),
                          st.integers(0, 255), st.binary(max_size=60)), max_size=15),
       st.integers(1, 9))
def test_every_good_frame_between_garbage_is_recovered(items, step):
    stream = b"".join(junk + P.encode(t, pl) for junk, t, pl in items)
    p = P.Parser()
    got = []
    for i in range(0, len(stream), step):
        got += p.feed(stream[i:i + step])
    assert got == [(t, pl) for _, t, pl in items]
