"""The board side of the framing, property-tested on the host: firmware/mg_validate.c (the same core the
boards run) compiled with gcc under ASan and UBSan, behind a port that feeds it stdin a few bytes per poll
and writes its frames to stdout. Arbitrary byte streams never crash it and never make it answer; a frame
with a bad CRC is never acted on; good frames hidden between garbage are all answered."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import TESTS_DIR

from mcugen import boards, codegen, compiler
from mcugen.validate import firmware as F
from mcugen.validate import protocol as P

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")

MODEL = TESTS_DIR / "models" / "broadcast_int8.tflite"

# Feeds stdin to the core 1..7 bytes per poll (so frames arrive split at every offset), then polls on
# until the core is idle. RESET ends the process with status 3: a host process has no reset handler.
HOST_PORT = r"""
#include <stdio.h>
#include <stdlib.h>
#include "mg_validate.h"

static unsigned char input[1 << 16];
static size_t input_len, input_pos, chunk = 1;
static uint32_t ticks;

void mg_v_port_poll_rx(void) {
    size_t n = chunk;
    chunk = chunk % 7u + 1u;
    while (n-- && input_pos < input_len) {
        mg_validate_rx(input[input_pos++]);
    }
}
void mg_v_port_write(const uint8_t *data, uint32_t n) { fwrite(data, 1, n, stdout); }
void mg_v_port_counter_start(void) { ticks = 0u; }
uint32_t mg_v_port_counter(void) { return ticks += 3u; }
void mg_v_port_reboot(void) {
    fflush(stdout);
    exit(3);
}

int main(void) {
    int i;
    input_len = fread(input, 1, sizeof input, stdin);
    mg_validate_init();
    while (input_pos < input_len) {
        mg_validate_poll();
    }
    for (i = 0; i < 64; ++i) {
        mg_validate_poll();
    }
    return 0;
}
"""


def _build(tmp_path_factory, ring: int | None):
    if not MODEL.is_file():
        pytest.skip(f"{MODEL} is absent")
    tmp = tmp_path_factory.mktemp("c-parser")
    program = compiler.compile_model(str(MODEL))
    files = codegen.render(program, "model", MODEL.name)
    config = F.config_header(program, "model", noinit=False)
    if ring is not None:   # a ring smaller than a RUN frame: RUNs go straight into the model's inputs
        config, n = re.subn(r"#define MG_V_RX_RING \d+u", f"#define MG_V_RX_RING {ring}u", config)
        assert n == 1
    files[F.CONFIG_NAME] = config
    files["host_port.c"] = HOST_PORT
    for name in F.FIRMWARE_CORE:
        files[name] = (boards.firmware_dir() / name).read_text()
    for name, text in files.items():
        (tmp / name).write_text(text)
    exe = tmp / "board"
    sources = [str(tmp / n) for n in sorted(files) if n.endswith(".c")]
    cmd = ["gcc", "-std=c99", "-g", "-O1", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
           "-fno-sanitize-recover=all", "-I", str(tmp), *sources, "-lm", "-o", str(exe)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return exe


@pytest.fixture(scope="module")
def in_ring_exe(tmp_path_factory):
    """The core as configured for the model: RUN frames parsed in the ring, a window of 5."""
    return _build(tmp_path_factory, None)


@pytest.fixture(scope="module")
def direct_exe(tmp_path_factory):
    """A 64-byte ring, too small for a RUN frame of this model: its inputs go straight into the model's
    tensors as they arrive, and the window is 1."""
    return _build(tmp_path_factory, 64)


@pytest.fixture(params=["in_ring_exe", "direct_exe"])
def board_exe(request):
    return request.getfixturevalue(request.param)


def run_board(exe, data: bytes) -> bytes:
    proc = subprocess.run([str(exe)], input=data, capture_output=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr.decode(errors="replace")[-2000:]
    return proc.stdout


def frames(out: bytes) -> list:
    parser = P.Parser()
    got = parser.feed(out)
    assert parser.skipped == 0 and parser.dropped == 0 and not parser.buf  # nothing but whole, valid frames
    return [P.decode(t, p) for t, p in got]


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(st.lists(st.one_of(st.binary(max_size=300), st.sampled_from([P.MAGIC, P.MAGIC + b"\x04\x00\x06",
                                                                    P.MAGIC + b"\x00\x00\x08"])), max_size=40))
def test_arbitrary_bytes_never_crash_and_get_no_answer(board_exe, chunks):
    """Random bytes, sprinkled with magics and plausible headers, are never a frame with a valid CRC."""
    assert run_board(board_exe, b"".join(chunks)) == b""


@FAST
@given(st.lists(st.tuples(st.binary(max_size=40).map(lambda b: b.replace(b"\xa5", b"")),
                          st.integers(0, 2**32 - 1)), min_size=1, max_size=12))
def test_every_good_frame_between_garbage_is_answered(board_exe, items):
    data = b"".join(garbage + P.stats(nonce) for garbage, nonce in items)
    replies = frames(run_board(board_exe, data))
    assert [r.nonce for r in replies] == [nonce for _, nonce in items]
    assert all(isinstance(r, P.Stats) and r.runs == 0 for r in replies)


@FAST
@given(st.integers(0, 2**32 - 1), st.data())
def test_a_flipped_bit_is_never_acted_on(board_exe, nonce, data):
    frame = bytearray(P.hello(nonce))
    bit = data.draw(st.integers(2 * 8, len(frame) * 8 - 1))   # anywhere after the magic
    frame[bit // 8] ^= 1 << (bit % 8)
    assert run_board(board_exe, bytes(frame)) == b""
    # the same frame intact is answered, so the silence above was the CRC's doing
    (ack,) = frames(run_board(board_exe, P.hello(nonce)))
    assert isinstance(ack, P.HelloAck) and ack.nonce == nonce


def test_requests_run_once_and_retries_are_replayed(board_exe):
    """A whole session in one byte stream: HELLO, the same RUN three times, ACK, a stale RUN, STATS."""
    in_bytes = sum(F.io_sizes(compiler.compile_model(str(MODEL)))[0])
    (ack,) = frames(run_board(board_exe, P.hello(7)))
    run = P.run(ack.pid, 1, bytes(i % 256 for i in range(in_bytes)))
    data = P.hello(7) + run * 3 + P.ack(ack.pid, 1) + run + P.stats(99)
    replies = frames(run_board(board_exe, data))
    results = [r for r in replies if isinstance(r, P.Result)]
    assert [r.status for r in results] == [P.STATUS_OK] * 3 + [P.STATUS_STALE]
    assert results[0].output == results[1].output == results[2].output
    stats = replies[-1]
    assert isinstance(stats, P.Stats) and stats.runs == 1 and stats.replays == 2 and stats.stale == 1


def test_run_counters_are_per_session_and_streams_never_rerun(in_ring_exe):
    """Two sessions of one boot both start at seq 1: not a double run. Within a session, a STREAM that
    starts at or below a seq already run (acknowledged or not) is ignored."""
    in_bytes = sum(F.io_sizes(compiler.compile_model(str(MODEL)))[0])
    data = bytes(in_bytes)
    ack1, ack2 = frames(run_board(in_ring_exe, P.hello(7) + P.hello(9)))
    p1, p2 = ack1.pid, ack2.pid
    session = (P.hello(7) + P.run(p1, 1, data) + P.ack(p1, 1) + P.hello(9) + P.run(p2, 1, data)
               + P.stream(p2, 2, 3, 5) + P.stream(p2, 3, 2, 8)   # 3 and 4 ran, unacknowledged: ignored
               + P.ack(p2, 4) + P.stream(p2, 1, 10, 6)           # below the ACK: ignored
               + P.stats(1))
    replies = frames(run_board(in_ring_exe, session))
    results = [(r.pid, r.seq, r.status) for r in replies if isinstance(r, P.Result)]
    assert results == [(p1, 1, P.STATUS_OK), (p2, 1, P.STATUS_OK)] + [(p2, s, P.STATUS_OK) for s in (2, 3, 4)]
    stats = replies[-1]
    assert isinstance(stats, P.Stats) and stats.double_runs == 0 and stats.max_runs_per_seq == 1
    assert stats.runs == 5 and stats.stale == 2


def test_direct_and_in_ring_runs_give_the_same_outputs(in_ring_exe, direct_exe):
    """The same RUNs through both receive paths: identical results; a RUN with a flipped bit in its
    inputs is dropped by the direct path too, and the next good RUN is still answered."""
    program = compiler.compile_model(str(MODEL))
    in_bytes = sum(F.io_sizes(program)[0])
    assert F.run_frame(in_bytes) > 64   # the direct build really takes the direct path
    outputs = []
    for exe in (in_ring_exe, direct_exe):
        (ack,) = frames(run_board(exe, P.hello(3)))
        runs = [P.run(ack.pid, seq, bytes((seq * 7 + i) % 256 for i in range(in_bytes))) for seq in (1, 2)]
        bad = bytearray(runs[1])
        bad[20] ^= 0x10   # inside the inputs
        replies = frames(run_board(exe, P.hello(3) + runs[0] + P.ack(ack.pid, 1) + bytes(bad) + runs[1]))
        results = [r for r in replies if isinstance(r, P.Result)]
        assert [(r.seq, r.status) for r in results] == [(1, P.STATUS_OK), (2, P.STATUS_OK)]
        outputs.append([r.output for r in results])
    assert outputs[0] == outputs[1]
