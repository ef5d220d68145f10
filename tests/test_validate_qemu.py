"""`mcugen validate` end to end on QEMU (127.0.0.1 only): the validation firmware on mps2-an386
behind the fault-injecting proxy. Every input gets exactly one result, identical to the host
mcugen.Interpreter, and the firmware's per-seq counter shows that no (pid, seq) ran twice."""
from __future__ import annotations

import shutil
import time

import numpy as np
import pytest

from conftest import MODELS_DIR

pytestmark = pytest.mark.skipif(not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
                                reason="needs qemu-system-arm and arm-none-eabi-gcc")

N = 1000
MODEL = MODELS_DIR / "tflm_hello_world_int8.tflite"


def test_exactly_once_over_lossy_link_with_resets():
    from mcugen.interpreter import Interpreter
    from mcugen.validate import board as B
    from mcugen.validate import host as H
    from mcugen.validate import proxy as X
    from mcugen.verify import random_inputs, run_mcugen

    if not MODEL.is_file():
        pytest.skip(f"{MODEL} is absent")
    it = Interpreter(model_path=str(MODEL))
    it.allocate_tensors()
    sets = random_inputs(it.get_input_details(), N, seed=5)
    expected = [b"".join(np.ascontiguousarray(o).tobytes() for o in outs) for outs in run_mcugen(it, sets)]
    inputs = [b"".join(np.ascontiguousarray(x).tobytes() for x in xs) for xs in sets]

    fw = B.build(str(MODEL), "mps2-an386")
    qb = B.QemuBoard(fw)
    port = qb.start()
    px = X.FaultProxy(port, p_drop=0.035, p_dup=0.035, p_corrupt=0.035, p_delay=0.035, max_delay=0.03, seed=11)
    start = time.monotonic()
    try:
        pport = px.start()
        s = H.Session(H.TcpTransport("127.0.0.1", pport), timeout=0.05, max_timeout=1.0, max_attempts=30, seed=3)
        s.handshake()
        reset_at = {N // 3, 2 * N // 3}
        delivered = []

        def on_result(i, r):
            delivered.append(i)
            if i in reset_at:
                px.reset_board()

        results = s.run_all(inputs, on_result)
        px.enabled = False  # a clean link for the final STATS
        stats = s.stats()
    finally:
        px.close()
        qb.stop()
    seconds = time.monotonic() - start

    faults = {k: v for k, v in px.faults.items() if k != "pass"}
    print(f"\nrequests {N}, frames {px.frames}, faults {faults} ({px.fault_count() / px.frames:.1%} of frames), "
          f"duplicates suppressed {s.c.duplicates_suppressed}, stale {s.c.stale}, busy {s.c.busy}, "
          f"retries {s.c.retries}, resets seen {s.c.resets} (epochs {s.c.epochs}), resent after reset "
          f"{s.c.resent_after_reset}, board: {stats}, {seconds:.1f} s")

    assert delivered == list(range(N))                        # exactly one result per input, in order
    assert [r.seq for r in results] == list(range(1, N + 1))
    assert all(r.status == 0 for r in results)
    mismatched = [i for i, r in enumerate(results) if r.output != expected[i]]
    assert mismatched == []
    # the proxy really hit >= 10% of frames, with every kind of fault, and the board was reset twice
    assert px.fault_count() - px.faults["reset"] >= 0.10 * px.frames
    for kind in ("drop", "duplicate", "corrupt", "delay"):
        assert px.faults[kind] > 0, kind
    assert px.faults["reset"] == 2 and s.c.resets == 2 and stats.epoch == 3
    # the firmware's counters: no (pid, seq) ran twice in any boot; only requests unacknowledged at a
    # reset may have run again, under a new pid; acknowledged ones were never sent again
    assert stats.double_runs == 0 and stats.max_runs_per_seq == 1
    assert N <= stats.runs <= N + s.c.resent_after_reset
    assert s.resent_acked == 0
    assert s.c.duplicates_suppressed + stats.replays > 0


def test_cli_validate(capsys):
    from mcugen.cli import main

    if not MODEL.is_file():
        pytest.skip(f"{MODEL} is absent")
    assert main(["validate", str(MODEL), "--board", "mps2-an386", "--count", "30", "--timeout", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "0/30 elements differ" in out and "top-1 agreement 100.0%" in out
    assert "per invoke: min" in out and out.rstrip().endswith("PASS")


def test_cli_validate_refuses_non_emulated_board_without_port(capsys):
    from mcugen.cli import main

    if not MODEL.is_file():
        pytest.skip(f"{MODEL} is absent")
    assert main(["validate", str(MODEL), "--board", "nucleo_f446re", "--count", "1"]) != 0
    assert "not emulated" in capsys.readouterr().err


def test_qemu_restart_mid_run():
    """The other kind of reset: QEMU is restarted (cold boot, RAM lost) while requests are in flight."""
    from mcugen.interpreter import Interpreter
    from mcugen.validate import board as B
    from mcugen.validate import host as H
    from mcugen.validate import proxy as X
    from mcugen.verify import random_inputs, run_mcugen

    if not MODEL.is_file():
        pytest.skip(f"{MODEL} is absent")
    n = 200
    it = Interpreter(model_path=str(MODEL))
    it.allocate_tensors()
    sets = random_inputs(it.get_input_details(), n, seed=9)
    expected = [b"".join(np.ascontiguousarray(o).tobytes() for o in outs) for outs in run_mcugen(it, sets)]
    qb = B.QemuBoard(B.build(str(MODEL), "mps2-an386"))
    px = X.FaultProxy(qb.start(), p_drop=0.02, p_dup=0.02, p_corrupt=0.02, p_delay=0.02, seed=4, restart=qb.restart)
    try:
        s = H.Session(H.TcpTransport("127.0.0.1", px.start()), timeout=0.05, max_timeout=1.0, max_attempts=30, seed=8)
        s.handshake()
        results = s.run_all([b"".join(x.tobytes() for x in xs) for xs in sets],
                            lambda i, r: px.reset_board() if i == n // 2 else None)
        px.enabled = False
        stats = s.stats()
    finally:
        px.close()
        qb.stop()
    print(f"\nqemu restart: {px.faults}, resets seen {s.c.resets}, resent {s.c.resent_after_reset}, board {stats}")
    assert [r.output for r in results] == expected
    assert px.faults["restart"] == 1 and s.c.resets == 1 and qb.starts == 2
    assert stats.double_runs == 0 and stats.max_runs_per_seq == 1
    assert s.resent_acked == 0
