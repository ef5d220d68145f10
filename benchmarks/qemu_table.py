#!/usr/bin/env python3
"""Instructions per invoke and firmware sizes of models on an emulated board (default mps2-an386).

    python benchmarks/qemu_table.py [--board mps2-an386] [--markdown] [MODEL.tflite ...]

Without models: every model under 4 MiB in ../shared/tflite-models plus examples/kws_micro_int8.tflite.
Each model is cross-compiled (-O2) with mcugen's test harness and one random input, run under QEMU with
-icount, and measured with the board's size tool (`arm-none-eabi-size -A`):
  instructions  executed instructions of one invoke (deterministic; instructions, not cycles)
  flash         .text + .rodata + .data of the linked firmware
  RAM           .data + .bss (the 64 KiB stack reservation is not included)
The firmware also holds the harness, the C library parts it pulls in and the embedded input (column
"input"), so flash exceeds the model's code and weights by a few KiB plus the input.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mcugen import compiler  # noqa: E402
from mcugen.targets import qemu  # noqa: E402
from mcugen.verify import random_inputs  # noqa: E402

MAX_MODEL_BYTES = 4 << 20


def default_models() -> list[Path]:
    shared = REPO.parent / "shared" / "tflite-models"
    models = sorted(p for p in shared.glob("*.tflite") if p.stat().st_size < MAX_MODEL_BYTES) if shared.is_dir() else []
    return models + [REPO / "examples" / "kws_micro_int8.tflite"]


def input_details(program):
    from mcugen.ir import np_dtype

    g = program.graph
    return [dict(shape=list(g.tensor(t).shape), dtype=np_dtype(g.tensor(t).dtype)) for t in g.inputs]


def measure(path: Path, board: str) -> dict:
    start = time.perf_counter()
    program = compiler.compile_model(str(path))
    sets = random_inputs(input_details(program), 1, seed=0)
    fw = qemu.build(program, board, sets)
    result = qemu.run(fw)
    sizes = fw.sizes()
    return dict(model=path.stem, macs=program.macs, instructions=result.instructions[0], flash=sizes["flash"],
                ram=sizes["ram"], text=sizes["text"], rodata=sizes["rodata"], data=sizes["data"], bss=sizes["bss"],
                input=fw.input_bytes, weights=program.weights_bytes, arena=program.arena_size,
                seconds=time.perf_counter() - start, run_seconds=result.seconds)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="*", type=Path)
    p.add_argument("--board", default="mps2-an386")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = p.parse_args(argv)
    rows = [measure(m, args.board) for m in (args.models or default_models())]
    cols = [("model", "model", "{}"), ("MACs", "macs", "{:,}"), ("instructions", "instructions", "{:,}"),
            ("instr/MAC", None, None), ("flash B", "flash", "{:,}"), ("RAM B", "ram", "{:,}"),
            ("text", "text", "{:,}"), ("rodata", "rodata", "{:,}"), ("data", "data", "{:,}"), ("bss", "bss", "{:,}"),
            ("input", "input", "{:,}"), ("QEMU s", "run_seconds", "{:.2f}")]
    table = [[c[0] for c in cols]]
    for r in rows:
        line = []
        for title, key, fmt in cols:
            if key is None:
                line.append(f"{r['instructions'] / r['macs']:.2f}" if r["macs"] else "-")
            else:
                line.append(fmt.format(r[key]))
        table.append(line)
    print(f"board {args.board}: instructions of one invoke under QEMU -icount; sizes from the linked firmware")
    if args.markdown:
        print("| " + " | ".join(table[0]) + " |")
        print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(cols))) + "|")
        for line in table[1:]:
            print("| " + " | ".join(line) + " |")
    else:
        widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
        for row in table:
            print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
