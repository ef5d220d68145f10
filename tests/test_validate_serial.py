"""`mcugen validate --port`, the path a real board takes, end to end: the validation firmware under QEMU
with its UART on a pseudo-terminal (`-serial pty`), opened by pyserial like a USB serial port."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from conftest import MODELS_DIR

from mcugen.targets import qemu
from mcugen.validate import board as B

pytestmark = pytest.mark.skipif(not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
                                reason="needs qemu-system-arm and arm-none-eabi-gcc")

MODEL = MODELS_DIR / "tflm_hello_world_int8.tflite"


@pytest.fixture
def board_pty():
    """The firmware running under QEMU; yields the /dev/pts/N its UART is on."""
    pytest.importorskip("serial")
    if not MODEL.is_file():
        pytest.skip(f"{MODEL} is absent")
    fw = B.build(str(MODEL), "mps2-an386")
    em = fw.board.emulator
    cmd = [qemu._tool(em.qemu), "-M", em.machine, "-display", "none", "-monitor", "none", *em.args,
           "-icount", f"shift={em.icount_shift}", "-serial", "pty", "-kernel", str(fw.elf)]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()   # "char device redirected to /dev/pts/N (label serial0)"
        found = re.search(r"(/dev/pts/\d+)", line)
        assert found, f"QEMU did not report a pty: {line!r}"
        yield found.group(1)
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


@pytest.mark.parametrize("mode", [["--count", "40"], ["--stream", "--count", "40", "--seed", "3"]], ids=["requests", "stream"])
def test_validate_over_a_serial_port(board_pty, mode):
    cmd = [sys.executable, "-m", "mcugen", "validate", str(MODEL), "--board", "mps2-an386", "--port", board_pty,
           "--baud", "115200", *mode]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"mps2-an386 on {board_pty}" in proc.stdout
    assert "0/40 elements differ" in proc.stdout and proc.stdout.rstrip().endswith("PASS")
    assert "40/40" in proc.stderr   # the progress bar's last state
