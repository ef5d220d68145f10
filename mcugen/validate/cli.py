"""`mcugen validate MODEL --board B [--count N | --inputs data.npz] [--port DEV --baud B]`."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from ..errors import MCUGenError


def _progress(i: int, n: int, start: float) -> None:
    if not sys.stderr.isatty() and i != n:
        return
    width = 30
    done = int(width * i / max(n, 1))
    rate = i / max(time.monotonic() - start, 1e-9)
    sys.stderr.write(f"\r[{'#' * done}{'.' * (width - done)}] {i}/{n} {rate:.0f}/s")
    if i == n:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _load_npz(path: str, details: list[dict]) -> list[list[np.ndarray]]:
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise MCUGenError(f"--inputs {path}: cannot read ({e})") from None
    keys = list(data.keys()) if hasattr(data, "keys") else None
    arrays = []
    for k, d in enumerate(details):
        if keys is None:
            if len(details) != 1:
                raise MCUGenError(f"--inputs {path}: a .npy holds one input; the model has {len(details)}")
            a = data
        else:
            name = d["name"] if d["name"] in keys else f"arr_{k}" if f"arr_{k}" in keys else None
            if name is None:
                raise MCUGenError(f"--inputs {path}: no array '{d['name']}' or 'arr_{k}' for input {k}")
            a = data[name]
        shape = tuple(int(s) for s in d["shape"])
        per = int(np.prod(shape))
        if a.dtype != d["dtype"] or a.size % per:
            raise MCUGenError(f"--inputs {path}: input {k} needs {np.dtype(d['dtype']).name} samples of shape "
                              f"{list(shape)}, got {a.dtype}{list(a.shape)}")
        arrays.append(a.reshape((-1, *shape)))
    n = {len(a) for a in arrays}
    if len(n) != 1:
        raise MCUGenError(f"--inputs {path}: inputs have different sample counts {sorted(n)}")
    return [[a[i] for a in arrays] for i in range(n.pop())]


def cmd_validate(args) -> int:
    from .. import boards as boards_mod
    from ..interpreter import Interpreter
    from ..verify import random_inputs, reference_outputs
    from . import board as B
    from . import host as H

    board = boards_mod.load(args.board)
    it = Interpreter(model_path=args.model)
    it.allocate_tensors()
    in_details, out_details = it.get_input_details(), it.get_output_details()
    sets = _load_npz(args.inputs, in_details) if args.inputs else random_inputs(in_details, args.count, args.seed)
    if not sets:
        raise MCUGenError("no inputs to validate")
    payloads = [b"".join(np.ascontiguousarray(x).tobytes() for x in xs) for xs in sets]
    qb = None
    if args.port:
        transport = H.SerialTransport(args.port, args.baud)
        where = f"{board.id} on {args.port}"
    else:
        from ..targets import qemu

        qemu.emulated_board(board.id)
        print(f"building the validation firmware for {board.id}...", file=sys.stderr)
        fw = B.build(it._program, board.id)
        qb = B.QemuBoard(fw)
        transport = H.TcpTransport("127.0.0.1", qb.start())
        where = f"{board.id} (QEMU {board.emulator.machine})"
    start = time.monotonic()
    try:
        with H.Session(transport, timeout=args.timeout, max_attempts=args.retries) as s:
            info = s.handshake()
            results = s.run_all(payloads, lambda i, r: _progress(i + 1, len(payloads), start))
    finally:
        if qb:
            qb.stop()
    seconds = time.monotonic() - start
    failed = [i for i, r in enumerate(results) if r.status != 0]
    if failed:
        raise MCUGenError(f"model_invoke() failed on the board for input {failed[0]} ({len(failed)} in all)")
    outs = []
    for r in results:
        row, off = [], 0
        for d in out_details:
            dt = np.dtype(d["dtype"])
            n = int(np.prod(d["shape"])) * dt.itemsize
            row.append(np.frombuffer(r.output[off:off + n], dtype=dt).reshape(d["shape"]))
            off += n
        outs.append(row)
    engine, ref = reference_outputs(Path(args.model).read_bytes(), sets)
    print(f"{it._program.graph.name or Path(args.model).name}: {where} vs {engine}, {len(sets)} input(s), "
          f"{seconds:.1f} s, pid {info.pid} epoch {info.epoch}")
    ok = True
    for k, d in enumerate(out_details):
        a = np.stack([o[k] for o in outs]).astype(np.float64)
        b = np.stack([np.asarray(r[k]).reshape(d["shape"]) for r in ref]).astype(np.float64)
        diff = np.abs(a - b)
        mism = int(np.count_nonzero(diff))
        af, bf = a.reshape(len(a), -1), b.reshape(len(b), -1)
        den = np.linalg.norm(af, axis=1) * np.linalg.norm(bf, axis=1)
        cos = np.where(den > 0, (af * bf).sum(axis=1) / np.where(den > 0, den, 1), 1.0)
        top1 = float(np.mean(af.argmax(axis=1) == bf.argmax(axis=1)))
        is_float = np.dtype(d["dtype"]).kind == "f"
        passed = mism == 0 if not is_float else float(diff.max(initial=0)) <= 1e-5 * max(float(np.abs(b).max(initial=0)), 1e-30)
        ok &= passed
        print(f"  output {k} '{d['name']}': {mism}/{a.size} elements differ, max abs error {diff.max(initial=0):g}, "
              f"cosine similarity min {cos.min():.6f} mean {cos.mean():.6f}, top-1 agreement {top1:.1%} "
              f"-> {'PASS' if passed else 'FAIL'}")
    ticks = np.array([r.cycles for r in results], dtype=np.float64)
    unit = "counter ticks"
    if board.emulated:
        ticks = ticks / board.emulator.ticks_per_instruction
        unit = "instructions (QEMU -icount)"
    print(f"  per invoke: min {ticks.min():,.0f} median {np.median(ticks):,.0f} max {ticks.max():,.0f} {unit}")
    c = s.c
    print(f"  link: {c.sent} RUN frames sent, {c.retries} retries, {c.duplicates_suppressed} duplicates suppressed, "
          f"{c.resets} board reset(s), {c.frames_dropped} bad frames dropped")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def add_parser(sub) -> None:
    s = sub.add_parser("validate", help="run the model on a board over serial (exactly-once) and compare with TFLM")
    s.add_argument("model")
    s.add_argument("--board", required=True, help="the board; emulated boards run the validation firmware under QEMU")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--count", type=int, default=100, help="number of random inputs (default 100)")
    g.add_argument("--inputs", help=".npz with one array per input (by name or arr_K), samples on the first axis")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--port", help="serial port of a real board running firmware/mg_validate.c (e.g. /dev/ttyACM0)")
    s.add_argument("--baud", type=int, default=115200)
    s.add_argument("--timeout", type=float, default=0.5, help="first retry timeout in seconds (doubles per retry)")
    s.add_argument("--retries", type=int, default=10, help="attempts per request before giving up")
    s.set_defaults(func=cmd_validate)
