"""Emulated boards: generated C cross-compiled with mcugen's bare-metal firmware and run under QEMU.

Every shared model under 4 MiB runs on mps2-an386 (Cortex-M4F) with outputs identical to the host
build and to TFLM; a matrix of smaller models runs on mps2-an385, mps2-an500, mps2-an505 and
riscv32-virt. Instruction counts (QEMU -icount) repeat exactly across runs. The cross compilers and
QEMU are real tools installed by .ci/run: a missing one fails these tests rather than skipping them.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import MODELS_DIR, REPO_ROOT, shared_model_names

from mcugen import Interpreter, boards
from mcugen.cli import main
from mcugen.ops.hybrid import is_hybrid_graph
from mcugen.targets import qemu
from mcugen.verify import FLOAT_RTOL, HYBRID_RTOL, compare, random_inputs, reference_outputs, run_mcugen

MAX_MODEL_BYTES = 4 << 20
EXAMPLE_KWS = REPO_ROOT / "examples" / "kws_micro_int8.tflite"
MATRIX_BOARDS = ["mps2-an385", "mps2-an500", "mps2-an505", "riscv32-virt"]
MATRIX_MODELS = ["tflm_hello_world_int8", "tflm_micro_speech_int8", "tiny_kws_dscnn_int8", "example:kws_micro_int8"]


def shared_models_under_4mib() -> list[str]:
    return [n for n in shared_model_names() if (MODELS_DIR / f"{n}.tflite").stat().st_size < MAX_MODEL_BYTES]


def model_path(name: str):
    if name.startswith("example:"):
        return EXAMPLE_KWS
    if not MODELS_DIR.is_dir():
        pytest.skip(f"shared models folder {MODELS_DIR} is absent")
    return MODELS_DIR / f"{name}.tflite"


class Case:
    """One model compiled once: host outputs and reference outputs for two random input sets."""

    def __init__(self, path):
        self.path = str(path)
        self.interpreter = Interpreter(model_path=self.path)
        self.interpreter.allocate_tensors()
        self.program = self.interpreter._program
        self.inputs = random_inputs(self.interpreter.get_input_details(), 2, seed=7)
        self.host = run_mcugen(self.interpreter, self.inputs)
        self.rtol = HYBRID_RTOL if is_hybrid_graph(self.program.graph) else FLOAT_RTOL
        self._ref = None

    def reference(self):
        if self._ref is None:
            self._ref = reference_outputs(open(self.path, "rb").read(), self.inputs)
        return self._ref


@pytest.fixture(scope="module")
def cases():
    made = {}

    def get(name):
        if name not in made:
            made[name] = Case(model_path(name))
        return made[name]

    return get


def assert_same_as_host_and_reference(case: Case, result: qemu.BoardResult, check_reference: bool = True):
    assert len(result.outputs) == len(case.host) == 2
    engine, ref = case.reference() if check_reference else (None, None)
    for s, (ours, host) in enumerate(zip(result.outputs, case.host)):
        for k, (o, h) in enumerate(zip(ours, host)):
            assert o.dtype == h.dtype and o.shape == h.shape
            if o.dtype.kind == "f":
                # Float kernels use the same IEEE operations as the host (-ffp-contract=off), but newlib's
                # expf (softmax, logistic) differs from glibc's in the last bit for some inputs.
                bad, worst, ok = compare(o, h, case.rtol)
                assert ok, f"set {s} output {k}: {bad} elements differ from the host beyond {case.rtol} (max {worst})"
            else:
                assert np.array_equal(o, h), f"set {s} output {k}: differs from the host build"
            if check_reference:
                bad, worst, ok = compare(o, ref[s][k], case.rtol)
                assert ok, f"set {s} output {k}: {bad} elements differ from {engine} (max abs diff {worst})"


# -- every shared model on the Cortex-M4F -------------------------------------------------------------

@pytest.mark.parametrize("name", shared_models_under_4mib())
def test_shared_model_on_mps2_an386(cases, name):
    case = cases(name)
    fw = qemu.build(case.program, "mps2-an386", case.inputs)
    result = qemu.run(fw, timeout=120)
    assert_same_as_host_and_reference(case, result)
    # A real count: at least one instruction per multiply-accumulate, and not absurdly many.
    macs = case.program.macs
    assert all(macs <= n <= 200 * macs + 50_000 for n in result.instructions), (result.instructions, macs)
    sizes = fw.sizes()
    assert sizes["flash"] >= case.program.weights_bytes
    assert sizes["ram"] >= case.program.arena_size


def test_all_shared_models_are_covered():
    if not MODELS_DIR.is_dir():
        pytest.skip(f"shared models folder {MODELS_DIR} is absent")
    assert len(shared_models_under_4mib()) >= 12


# -- smaller models on the other emulated boards -------------------------------------------------------

@pytest.mark.parametrize("board", MATRIX_BOARDS)
@pytest.mark.parametrize("name", MATRIX_MODELS)
def test_matrix(cases, board, name):
    case = cases(name)
    result = qemu.run_model(case.program, board, case.inputs, timeout=120)
    assert_same_as_host_and_reference(case, result, check_reference=name == "example:kws_micro_int8")
    assert all(n >= case.program.macs for n in result.instructions)


# -- instruction counter -------------------------------------------------------------------------------

@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an505", "riscv32-virt"])
def test_instruction_count_is_deterministic(cases, board):
    case = cases("tflm_micro_speech_int8")
    fw = qemu.build(case.program, board, case.inputs)
    first, second = qemu.run(fw), qemu.run(fw)
    assert first.ticks == second.ticks and first.instructions == second.instructions
    assert first.empty_ticks == second.empty_ticks and first.nop_ticks == second.nop_ticks
    assert first.instructions[0] > case.program.macs


@pytest.mark.parametrize("board", [b.id for b in boards.emulated_boards()])
def test_counter_calibration_counts_nops_exactly(cases, board):
    """256 NOPs measure as 256 instructions (plus the calibrated counter reads) on every emulated board:
    the board's ticks per instruction (counter_hz, icount_shift) is right."""
    case = cases("tflm_hello_world_int8")
    result = qemu.run_model(case.program, board, case.inputs)
    assert qemu.nop_instructions(result, board) == qemu.CAL_NOPS
    tpi = boards.load(board).emulator.ticks_per_instruction
    assert 0 < result.empty_ticks <= 3 * tpi + 1  # the counter reads themselves: a few instructions


def test_hard_float_boards_run_floats_on_the_fpu(cases):
    """A float model gives the host's outputs on every emulated board, and the hard-float boards
    (M4F, M7, M33) run it in far fewer instructions than the soft-float M3: the startup code enabled
    the FPU and the code uses it."""
    case = cases("tflm_hello_world_float")
    counts = {}
    for board in boards.emulated_boards():
        result = qemu.run_model(case.program, board, case.inputs)
        assert_same_as_host_and_reference(case, result, check_reference=board.id == "mps2-an386")
        counts[board.id] = result.instructions[0]
    for hard in ("mps2-an386", "mps2-an500", "mps2-an505"):
        assert boards.load(hard).fpu and counts[hard] * 1.5 < counts["mps2-an385"], counts


# -- bare-metal support: exit status, faults, output ---------------------------------------------------

def bare_program(tmp_path, board_id: str, main_c: str):
    board = boards.load(board_id)
    fw_dir = boards.firmware_dir()
    src = tmp_path / "main.c"
    src.write_text(main_c)
    elf = tmp_path / f"{board_id}.elf"
    sources = [str(src), str(fw_dir / board.emulator.startup), str(fw_dir / board.emulator.support)]
    cmd = [board.gcc.cc, *qemu.compile_flags(board), f"-I{fw_dir}", *sources, *qemu.link_flags(board), "-o", str(elf)]
    if board.gcc.cc.startswith("riscv"):  # compile with _zicsr, link with the plain -march (see the board file)
        objs = []
        for s in sources:
            obj = tmp_path / (os.path.basename(s) + ".o")
            subprocess.run([board.gcc.cc, *qemu.compile_flags(board), f"-I{fw_dir}", "-c", s, "-o", str(obj)], check=True)
            objs.append(str(obj))
        cmd = [board.gcc.cc, *objs, *qemu.link_flags(board), "-o", str(elf)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    fw = qemu.Firmware(board=board, elf=elf, input_specs=[], output_specs=[], num_sets=0, input_bytes=0, objects_dir=tmp_path)
    return subprocess.run(qemu.qemu_command(fw), capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("board", ["mps2-an385", "mps2-an386", "mps2-an505", "riscv32-virt"])
def test_exit_status_and_data_initialisation(tmp_path, board):
    main_c = r'''
#include "mg_bm.h"
static int initialised = 40;   /* .data: copied from flash */
static int zeroed[64];         /* .bss: zeroed */
int main(void) {
    int i, sum = 0;
    mg_bm_init();
    for (i = 0; i < 64; ++i) sum += zeroed[i];
    mg_bm_puts("hello from the board\n");
    return initialised + sum + 2;
}
'''
    proc = bare_program(tmp_path, board, main_c)
    assert "hello from the board" in proc.stdout
    assert proc.returncode == 42


@pytest.mark.parametrize("board", ["mps2-an386", "riscv32-virt"])
@pytest.mark.parametrize("fault", ["trap", "bad-address"])
def test_fault_is_reported_with_its_own_status(tmp_path, board, fault):
    if fault == "trap":
        body = "__builtin_trap();"  # UDF on Arm, EBREAK on RISC-V
    else:  # nothing is mapped there on either machine
        body = "return (int)*(volatile uint32_t *)(uintptr_t)0xF0000000u;"
    main_c = r'''
#include <stdint.h>
#include "mg_bm.h"
int main(void) {
    mg_bm_init();
    BODY
    return 0;
}
'''.replace("BODY", body)
    proc = bare_program(tmp_path, board, main_c)
    assert "MG-FAULT" in proc.stdout, proc.stdout + proc.stderr
    assert proc.returncode == 126


def test_timeout_is_a_clear_error(cases):
    case = cases("tiny_vww_mobilenet_int8")
    fw = qemu.build(case.program, "mps2-an386", case.inputs[:1])
    with pytest.raises(qemu.BoardRunError, match="did not finish within"):
        qemu.run(fw, timeout=0.01)


# -- cache ---------------------------------------------------------------------------------------------

def test_builds_are_cached_by_content(tmp_path, monkeypatch, cases):
    monkeypatch.setenv("MCUGEN_CACHE_DIR", str(tmp_path))
    case = cases("tflm_hello_world_int8")
    first = qemu.build(case.program, "mps2-an386", case.inputs)
    objects = {p.name: p.stat().st_mtime_ns for p in first.objects_dir.glob("*.o")}
    assert "model.o" in objects and "mg_harness.o" in objects and "mg_startup_cortexm.o" in objects
    again = qemu.build(case.program, "mps2-an386", case.inputs)
    assert again.elf == first.elf
    other_inputs = qemu.build(case.program, "mps2-an386", case.inputs[:1])
    assert other_inputs.objects_dir == first.objects_dir and other_inputs.elf != first.elf
    assert {p.name: p.stat().st_mtime_ns for p in first.objects_dir.glob("*.o")} == objects  # not recompiled
    assert [p.name for p in (tmp_path / "qemu").iterdir()] == [first.objects_dir.name]  # no temporaries left


# -- command line --------------------------------------------------------------------------------------

def run_cli(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_run_on_board_prints_host_outputs_and_count(tmp_path, capsys, cases):
    case = cases("tflm_micro_speech_int8")
    x = tmp_path / "x.npy"
    np.save(x, case.inputs[0][0])
    status, host_out, _ = run_cli(capsys, "run", case.path, "--input", x)
    assert status == 0
    status, board_out, _ = run_cli(capsys, "run", case.path, "--input", x, "--board", "mps2-an386")
    assert status == 0
    lines = board_out.strip().splitlines()
    assert "\n".join(lines[:-1]) == host_out.strip()
    count = int(lines[-1].split(": ")[1].split()[0])
    result = qemu.run_model(case.program, "mps2-an386", [case.inputs[0]])
    assert lines[-1].startswith("instructions per invoke on mps2-an386:") and count == result.instructions[0]
    y = tmp_path / "y.npy"
    status, _, _ = run_cli(capsys, "run", case.path, "--input", x, "--board", "mps2-an505", "--output", y)
    assert status == 0 and np.array_equal(np.load(y), case.host[0][0])


def test_cli_verify_on_board(capsys, cases):
    case = cases("tflm_hello_world_int8")
    status, out, _ = run_cli(capsys, "verify", case.path, "--board", "riscv32-virt", "--inputs", "3")
    assert status == 0, out
    assert "vs host bit-identical" in out and "instructions per invoke on riscv32-virt:" in out
    assert out.strip().splitlines()[-1] == "PASS"


def test_cli_board_errors_are_one_line(capsys, tmp_path):
    path = model_path("tflm_hello_world_int8")
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 1), np.int8))
    status, out, err = run_cli(capsys, "run", path, "--input", x, "--board", "no_such_board")
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "unknown board 'no_such_board'" in err and "mps2-an386" in err and "nucleo_f446re" in err
    status, out, err = run_cli(capsys, "verify", path, "--board", "nucleo_f446re")
    assert status != 0 and len(err.strip().splitlines()) == 1
    assert "not emulated" in err and "--board mps2-an386" in err


def test_cli_boards_lists_every_board():
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "mcugen", "boards"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for b in boards.all_boards():
        row = next(line for line in proc.stdout.splitlines() if line.startswith(b.id + " "))
        assert b.core in row
    assert "QEMU mps2-an386" in proc.stdout and "PlatformIO ststm32/stm32cube" in proc.stdout
