"""`mcugen bench`: memory, sizes and host latency of mcugen against TFLM and LiteRT, measured in one run.

Latency is the median of per-invoke wall times (inputs set outside the timed region) on this machine,
so compare the ratios printed side by side, not absolute numbers across runs.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import codegen, compiler
from .targets.host import compiler as host_compiler
from .verify import random_inputs

# Code size is measured for a Cortex-M4 when its cross compiler is installed, else for the host.
ARM_CC = "arm-none-eabi-gcc"
ARM_FLAGS = ["-Os", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-ffunction-sections", "-fdata-sections"]


def code_and_weights_bytes(files: dict[str, str]) -> tuple[int, int, str]:
    """(.text bytes, .rodata bytes, target) of the generated sources compiled to objects."""
    cc, flags, target = (ARM_CC, ARM_FLAGS, "cortex-m4") if shutil.which(ARM_CC) else (host_compiler(), ["-O2"], "host")
    size_tool = "arm-none-eabi-size" if target == "cortex-m4" else "size"
    text = rodata = 0
    with tempfile.TemporaryDirectory(prefix="mcugen-size-") as tmp:
        for name, content in files.items():
            Path(tmp, name).write_text(content)
        for src in sorted(f for f in files if f.endswith(".c")):
            obj = Path(tmp, src + ".o")
            subprocess.run([cc, "-std=c99", *flags, "-I", tmp, "-c", str(Path(tmp, src)), "-o", str(obj)], check=True)
            out = subprocess.run([size_tool, "-A", str(obj)], check=True, capture_output=True, text=True).stdout
            for line in out.splitlines():
                parts = line.split()
                if len(parts) >= 2 and parts[1].isdigit():
                    if re.match(r"^\.text", parts[0]):
                        text += int(parts[1])
                    elif re.match(r"^\.rodata", parts[0]):
                        rodata += int(parts[1])
    return text, rodata, target


def time_mcugen(interpreter, x_sets, repeats: int) -> float:
    from .reference import _median_invoke_seconds

    details = interpreter.get_input_details()

    def set_inputs(xs):
        for d, x in zip(details, xs):
            interpreter.set_tensor(d["index"], x)

    return _median_invoke_seconds(set_inputs, interpreter.invoke, x_sets, repeats)


def _or_none(measure, *args):
    """A reference that refuses the model gets '-' in the table instead of stopping the benchmark."""
    from .reference import ReferenceError

    try:
        return measure(*args)
    except ReferenceError as e:
        print(f"  {measure.__name__}: {str(e).splitlines()[0][:120]}", file=sys.stderr)
        return None


def bench(models: list[str], repeats: int = 50, tflm_arena: bool = True) -> int:
    from . import reference
    from .interpreter import Interpreter

    rows = []
    for path in models:
        name = Path(path).stem
        print(f"[{len(rows) + 1}/{len(models)}] {name}: compiling...", file=sys.stderr)
        program = compiler.compile_model(path)
        files = codegen.render(program, codegen.default_name(path), os.path.basename(path))
        text, rodata, target = code_and_weights_bytes(files)
        with open(path, "rb") as f:
            model_bytes = f.read()
        it = Interpreter(model_path=path)
        it.allocate_tensors()
        x_sets = random_inputs(it.get_input_details(), 3, seed=0)
        print(f"[{len(rows) + 1}/{len(models)}] {name}: timing mcugen, TFLM, LiteRT...", file=sys.stderr)
        t_ours = time_mcugen(it, x_sets, repeats)
        t_tflm = _or_none(reference.time_tflm, model_bytes, x_sets, repeats)
        t_litert = _or_none(reference.time_litert, model_bytes, x_sets, repeats)  # LiteRT refuses person_detect
        arena_tflm = None
        if tflm_arena and t_tflm is not None:
            print(f"[{len(rows) + 1}/{len(models)}] {name}: searching TFLM's smallest arena...", file=sys.stderr)
            arena_tflm = reference.tflm_smallest_arena(model_bytes)
        rows.append(dict(model=name, arena=program.arena_size, bound=program.lower_bound, tflm_arena=arena_tflm,
                         code=text, weights=rodata, target=target, t=t_ours, t_tflm=t_tflm, t_litert=t_litert))

    def kib(n):
        return "-" if n is None else f"{n / 1024:.1f}"

    def ms(t):
        return "-" if t is None else f"{t * 1e3:.3f}"

    def ratio(a, b):
        return "-" if a is None or not b else f"{a / b:.1f}x"

    print("\nmemory (KiB): mcugen arena vs TFLM's smallest working arena and the lower bound; code/weights compiled for "
          f"{rows[0]['target'] if rows else '?'}")
    print("| model | arena | TFLM arena | lower bound | code | weights+consts |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {kib(r['arena'])} | {kib(r['tflm_arena'])} | {kib(r['bound'])} | {kib(r['code'])} | {kib(r['weights'])} |")
    print("\nhost invoke latency (ms, median; ratio = their time / mcugen's)")
    print("| model | mcugen | TFLM | LiteRT | TFLM/mcugen | LiteRT/mcugen |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {ms(r['t'])} | {ms(r['t_tflm'])} | {ms(r['t_litert'])} | {ratio(r['t_tflm'], r['t'])} | {ratio(r['t_litert'], r['t'])} |")
    return 0
