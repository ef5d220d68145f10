"""Streaming validation end to end on QEMU (127.0.0.1 only): the validation firmware on mps2-an386
runs the model on its own inputs (mg_v_stream_input's default source) and publishes every result
through the fault-injecting proxy (drops, duplicates, corrupts, delays, two RESETs). The host gets
every seq exactly once, in order, each equal to the host mcugen.Interpreter on
protocol.stream_inputs(), and the firmware's counters show that no seq ran twice in one boot."""
from __future__ import annotations

import shutil
import time

import numpy as np
import pytest

from conftest import MODELS_DIR

pytestmark = pytest.mark.skipif(not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
                                reason="needs qemu-system-arm and arm-none-eabi-gcc")

N = 1000
SEED = 0xC0FFEE
MODEL = MODELS_DIR / "tflm_hello_world_int8.tflite"


@pytest.fixture(scope="module")
def fw():
    from mcugen.validate import board as B

    if not MODEL.is_file():
        pytest.skip(f"{MODEL} is absent")
    return B.build(str(MODEL), "mps2-an386")


def _expected(seqs):
    """The host interpreter on the inputs the board generates for these seqs."""
    from mcugen.interpreter import Interpreter
    from mcugen.validate import protocol as P
    from mcugen.validate.cli import _input_layout, _split
    from mcugen.verify import run_mcugen

    it = Interpreter(model_path=str(MODEL))
    it.allocate_tensors()
    details = it.get_input_details()
    sizes, flags = _input_layout(details)
    sets = [_split(x, details) for x in P.stream_inputs(SEED, seqs, sizes, flags)]
    return [b"".join(np.ascontiguousarray(o).tobytes() for o in outs) for outs in run_mcugen(it, sets)]


def test_stream_exactly_once_over_lossy_link_with_resets(fw):
    from mcugen.validate import board as B
    from mcugen.validate import host as H
    from mcugen.validate import proxy as X

    expected = _expected(range(1, N + 1))
    qb = B.QemuBoard(fw)
    px = X.FaultProxy(qb.start(), p_drop=0.035, p_dup=0.035, p_corrupt=0.035, p_delay=0.035, max_delay=0.03, seed=21)
    start = time.monotonic()
    try:
        s = H.Session(H.TcpTransport("127.0.0.1", px.start()), timeout=0.05, max_timeout=1.0, max_attempts=30, seed=6)
        s.handshake()
        reset_at = {N // 3, 2 * N // 3}
        delivered = []

        def on_result(i, r):
            delivered.append(i)
            if i in reset_at:
                px.reset_board()

        results = s.stream(N, SEED, on_result)
        px.enabled = False  # a clean link for the final STATS
        stats = s.stats()
    finally:
        px.close()
        qb.stop()
    seconds = time.monotonic() - start

    faults = {k: v for k, v in px.faults.items() if k != "pass"}
    c = s.c
    print(f"\nstreamed results {len(results)}, frames {px.frames}, faults {faults} "
          f"({(px.fault_count() - px.faults['reset']) / px.frames:.1%} of frames), duplicates suppressed "
          f"{c.duplicates_suppressed}, retries {c.retries} ({c.streams} STREAM, {c.resends} RESEND frames), "
          f"resets seen {c.resets} (epochs {c.epochs}), RESULT frames {c.received}, bad frames dropped "
          f"{c.frames_dropped}, board: {stats}, {seconds:.1f} s")

    assert delivered == list(range(N))                        # every seq exactly once, in order
    assert [r.seq for r in results] == list(range(1, N + 1))
    assert all(r.status == 0 for r in results)
    assert [i for i, r in enumerate(results) if r.output != expected[i]] == []
    # the proxy hit >= 10% of frames with every kind of fault, and the board was reset twice
    assert px.fault_count() - px.faults["reset"] >= 0.10 * px.frames
    for kind in ("drop", "duplicate", "corrupt", "delay"):
        assert px.faults[kind] > 0, kind
    assert px.faults["reset"] == 2 and c.resets == 2 and stats.epoch == 3
    # the firmware's counters: no seq ran twice in one boot; only results not yet delivered at a reset
    # were produced again (in the next boot)
    assert stats.double_runs == 0 and stats.max_runs_per_seq == 1
    assert N <= stats.runs <= N + 2 * fw.window
    assert c.duplicates_suppressed > 0 and c.retries > 0 and stats.replays > 0


def test_cli_validate_stream(capsys, fw, tmp_path):
    from mcugen.cli import main

    argv = ["validate", str(MODEL), "--board", "mps2-an386", "--stream", "--count", "300", "--seed", "7"]
    # --firmware: an ELF built elsewhere (here: a copy of the one build() made) instead of building
    elf = tmp_path / "firmware.elf"
    shutil.copyfile(fw.elf, elf)
    assert main(argv + ["--firmware", str(elf)]) == 0
    out = capsys.readouterr().out
    assert "300 streamed input(s) (seed 7)" in out and "firmware.elf" in out
    assert "0/300 elements differ" in out and "top-1 agreement 100.0%" in out and "per invoke: min" in out
    assert "stream: 300 results received, each exactly once and in order (seqs 1..300;" in out
    assert out.rstrip().endswith("PASS")

    assert main(argv + ["--firmware", str(tmp_path / "missing.elf")]) != 0
    err = capsys.readouterr().err
    assert "missing.elf: no such file" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["validate", str(MODEL), "--board", "mps2-an386", "--stream", "--inputs", "x.npz"]) != 0
    assert "--inputs is for request mode" in capsys.readouterr().err


def test_cli_firmware_of_another_model(capsys, tmp_path):
    """An ELF that serves a different model is refused in one line, not validated against the wrong model."""
    from mcugen.cli import main
    from mcugen.validate import board as B

    other = MODELS_DIR / "tiny_ad_autoencoder_int8.tflite"
    if not (MODEL.is_file() and other.is_file()):
        pytest.skip("models absent")
    elf = B.build(str(other), "mps2-an386").elf
    assert main(["validate", str(MODEL), "--board", "mps2-an386", "--stream", "--count", "5",
                 "--firmware", str(elf)]) != 0
    err = capsys.readouterr().err
    assert "the board's firmware serves a model with" in err and len(err.strip().splitlines()) == 1


def test_firmware_ignores_a_late_stream_of_an_earlier_stream(fw):
    """A delayed STREAM of the session's first stream, arriving after a second stream started, must
    not restart the first one (its seqs are acknowledged): first_seq <= last ACK is stale."""
    from mcugen.validate import board as B
    from mcugen.validate import host as H
    from mcugen.validate import protocol as P

    qb = B.QemuBoard(fw)
    try:
        s = H.Session(H.TcpTransport("127.0.0.1", qb.start()), timeout=0.2, seed=2)
        s.handshake()
        first = s.stream(3, SEED)
        second = s.stream(3, SEED)
        assert [r.seq for r in first + second] == list(range(1, 7))
        s.t.send(P.stream(s.pid, 1, 3, SEED))      # the late duplicate
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            s._pump(0.05)
        late = [m for m in s.inbox if isinstance(m, P.Result)]
        s.inbox = []
        stats = s.stats()
    finally:
        qb.stop()
    assert late == [] and stats.runs == 6 and stats.double_runs == 0, (late, stats)


def test_inputs_too_large_for_a_request_frame_are_streamed(tmp_path, capsys):
    """72,000 input bytes cannot travel in one RUN frame (u16 length): request mode says so in one line,
    and the stream (the board makes its inputs) validates the model."""
    from tflite_builder import ModelBuilder

    from mcugen.cli import main

    mb = ModelBuilder()
    x = mb.add_input("x", (1, 100, 240, 3), "int8", scale=0.05, zero_point=-3)
    y = mb.add_tensor("y", (1, 25, 60, 3), "int8", scale=0.05, zero_point=-3)
    mb.add_op("MAX_POOL_2D", [x], [y], {"padding": "VALID", "stride_w": 4, "stride_h": 4, "filter_width": 4,
                                       "filter_height": 4})
    mb.mark_output(y)
    model = tmp_path / "big_input.tflite"
    model.write_bytes(mb.build())
    assert main(["validate", str(model), "--board", "mps2-an386", "--count", "2"]) != 0
    err = capsys.readouterr().err
    assert "72000 input bytes do not fit in one request frame" in err and "--stream" in err
    assert len(err.strip().splitlines()) == 1
    assert main(["validate", str(model), "--board", "mps2-an386", "--stream", "--count", "3"]) == 0
    out = capsys.readouterr().out
    assert "0/13500 elements differ" in out and "stream: 3 results received" in out


def test_request_larger_than_the_ring_goes_straight_to_the_inputs(tmp_path, capsys):
    """10,800 input bytes: more than the board's largest receive ring (8 KiB), so the firmware receives
    each RUN straight into the model's input tensor; the outputs still equal TFLM's."""
    from tflite_builder import ModelBuilder

    from mcugen import compiler
    from mcugen.cli import main
    from mcugen.validate import firmware as F

    mb = ModelBuilder()
    x = mb.add_input("x", (1, 60, 60, 3), "int8", scale=0.05, zero_point=-3)
    y = mb.add_tensor("y", (1, 15, 15, 3), "int8", scale=0.05, zero_point=-3)
    mb.add_op("MAX_POOL_2D", [x], [y], {"padding": "VALID", "stride_w": 4, "stride_h": 4, "filter_width": 4,
                                       "filter_height": 4})
    mb.mark_output(y)
    model = tmp_path / "ring_plus.tflite"
    model.write_bytes(mb.build())
    in_bytes = sum(F.io_sizes(compiler.compile_model(str(model)))[0])
    assert F.run_frame(in_bytes) > F.ring_size(in_bytes) == F.MAX_RING
    assert main(["validate", str(model), "--board", "mps2-an386", "--count", "3"]) == 0
    out = capsys.readouterr().out
    assert "0/2025 elements differ" in out and out.rstrip().endswith("PASS")
