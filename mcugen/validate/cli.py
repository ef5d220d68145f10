"""`mcugen validate MODEL --board B [--count N | --inputs data.npz] [--stream [--seed S]] [--port DEV --baud B |
--firmware ELF]`."""
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


def _input_layout(details: list[dict]) -> tuple[list[int], list[bool]]:
    """Per-input byte sizes and float32 flags (MG_V_IN_SIZES / MG_V_IN_FLOAT) from interpreter details."""
    sizes = [int(np.prod(d["shape"], dtype=np.int64)) * np.dtype(d["dtype"]).itemsize for d in details]
    return sizes, [np.dtype(d["dtype"]) == np.float32 for d in details]


def _split(data: bytes, details: list[dict]) -> list[np.ndarray]:
    """Concatenated tensor bytes (an input payload or a result's outputs) -> one array per tensor."""
    arrays, off = [], 0
    for d in details:
        dt = np.dtype(d["dtype"]).newbyteorder("<")
        n = int(np.prod(d["shape"], dtype=np.int64)) * dt.itemsize
        arrays.append(np.frombuffer(data[off:off + n], dtype=dt).astype(d["dtype"]).reshape(d["shape"]))
        off += n
    return arrays


def _compare(outs: list[list[np.ndarray]], ref: list, out_details: list[dict]) -> bool:
    """Prints, per output, mismatches, max abs error, cosine similarity and top-1 agreement against the
    reference; True if every output passes (integers exact, float within 1e-5 of the largest value)."""
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
    return ok


def _cycles(results, board) -> None:
    ticks = np.array([r.cycles for r in results], dtype=np.float64)
    unit = "counter ticks"
    if board.emulated:
        ticks = ticks / board.emulator.ticks_per_instruction
        unit = "instructions (QEMU -icount)"
    print(f"  per invoke: min {ticks.min():,.0f} median {np.median(ticks):,.0f} max {ticks.max():,.0f} {unit}")


def _firmware(args, board, program, in_bytes, out_bytes, in_sizes, in_float):
    """The emulated board's firmware: the ELF of --firmware, or mg_validate.c built with the model."""
    from . import board as B

    if not args.firmware:
        print(f"building the validation firmware for {board.id}...", file=sys.stderr)
        return B.build(program, board.id)
    elf = Path(args.firmware)
    if not elf.is_file():
        raise MCUGenError(f"--firmware {elf}: no such file (build it with `pio run` in the project of "
                          f"`mcugen generate MODEL --board {board.id} --validation`)")
    with open(elf, "rb") as f:
        if f.read(4) != b"\x7fELF":
            raise MCUGenError(f"--firmware {elf}: not an ELF file")
    return B.ValidationFirmware(board, elf, [], [], in_bytes, out_bytes, in_sizes, in_float)


def cmd_validate(args) -> int:
    from .. import boards as boards_mod
    from ..interpreter import Interpreter
    from ..verify import random_inputs, reference_outputs
    from . import board as B
    from . import firmware as F
    from . import host as H
    from . import protocol as P

    if args.count is not None and args.count < 1:
        raise MCUGenError("--count must be at least 1")
    if args.stream and args.inputs:
        raise MCUGenError("--stream: the board generates the inputs itself; --inputs is for request mode")
    if args.stream and not 0 <= args.seed <= 0xFFFFFFFF:
        raise MCUGenError("--stream: --seed must be in 0..4294967295 (a u32 the board seeds its inputs with)")
    if args.firmware and args.port:
        raise MCUGenError("--firmware is for emulated boards (QEMU); with --port, flash the board yourself")
    board = boards_mod.load(args.board)
    try:
        it = Interpreter(model_path=args.model)
    except ValueError as e:   # the interpreter's API mirrors LiteRT's, which raises ValueError
        raise MCUGenError(str(e)) from None
    it.allocate_tensors()
    in_details, out_details = it.get_input_details(), it.get_output_details()
    in_sizes, in_float = _input_layout(in_details)
    in_bytes = sum(in_sizes)
    out_bytes = sum(int(np.prod(d["shape"], dtype=np.int64)) * np.dtype(d["dtype"]).itemsize for d in out_details)
    count = args.count if args.count is not None else 100
    payloads = sets = None
    if not args.stream and not F.run_possible(in_bytes):
        raise MCUGenError(f"the model's {in_bytes} input bytes do not fit in one request frame (65535 bytes at "
                          "most): validate it with --stream (the board generates its inputs)")
    if not args.stream:
        sets = _load_npz(args.inputs, in_details) if args.inputs else random_inputs(in_details, count, args.seed)
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
        qb = B.QemuBoard(_firmware(args, board, it._program, in_bytes, out_bytes, in_sizes, in_float))
        transport = H.TcpTransport("127.0.0.1", qb.start())
        where = f"{board.id} (QEMU {board.emulator.machine}{', ' + Path(args.firmware).name if args.firmware else ''})"
    n = count if args.stream else len(payloads)
    start = time.monotonic()
    try:
        with H.Session(transport, timeout=args.timeout, max_attempts=args.retries) as s:
            info = s.handshake()
            if (info.in_bytes, info.out_bytes) != (in_bytes, out_bytes):
                raise MCUGenError(f"the board's firmware serves a model with {info.in_bytes} input and {info.out_bytes} "
                                  f"output bytes; {Path(args.model).name} has {in_bytes} and {out_bytes}")
            progress = lambda i, r: _progress(i + 1, n, start)  # noqa: E731
            if args.stream:
                results = s.stream(n, args.seed, progress)
            else:
                results = s.run_all(payloads, progress)
    finally:
        if qb:
            qb.stop()
    seconds = time.monotonic() - start
    seqs = [r.seq for r in results]
    if seqs != list(range(seqs[0], seqs[0] + n)):   # the session guarantees it; a report must not assume it
        raise MCUGenError(f"results out of order or missing: seqs {seqs[:5]}...")
    if args.stream:
        # the board's inputs, regenerated from the seqs it reported
        sets = [_split(x, in_details) for x in P.stream_inputs(args.seed, seqs, in_sizes, in_float)]
    failed = [i for i, r in enumerate(results) if r.status != 0]
    if failed:
        raise MCUGenError(f"model_invoke() failed on the board for input {failed[0]} ({len(failed)} in all)")
    outs = [_split(r.output, out_details) for r in results]
    engine, ref = reference_outputs(Path(args.model).read_bytes(), sets)
    mode = f"{n} streamed input(s) (seed {args.seed})" if args.stream else f"{n} input(s)"
    print(f"{it._program.graph.name or Path(args.model).name}: {where} vs {engine}, {mode}, "
          f"{seconds:.1f} s, pid {info.pid} epoch {info.epoch}")
    ok = _compare(outs, ref, out_details)
    _cycles(results, board)
    c = s.c
    if args.stream:
        print(f"  stream: {n} results received, each exactly once and in order (seqs {seqs[0]}..{seqs[-1]}; "
              f"{c.received} RESULT frames, {c.duplicates_suppressed} duplicates suppressed, {c.retries} retries, "
              f"{c.streams} STREAM / {c.resends} RESEND frames sent, {c.resets} board reset(s), "
              f"{c.frames_dropped} bad frames dropped)")
    else:
        print(f"  link: {c.sent} RUN frames sent, {c.retries} retries, {c.duplicates_suppressed} duplicates suppressed, "
              f"{c.resets} board reset(s), {c.frames_dropped} bad frames dropped")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def add_parser(sub) -> None:
    s = sub.add_parser("validate", help="run the model on a board over serial (exactly-once) and compare with TFLM")
    s.add_argument("model")
    s.add_argument("--board", required=True, help="the board; emulated boards run the validation firmware under QEMU")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--count", type=int, default=None, help="number of random (or streamed) inputs (default 100)")
    g.add_argument("--inputs", help=".npz with one array per input (by name or arr_K), samples on the first axis")
    s.add_argument("--stream", action="store_true",
                   help="streaming mode: the board runs the model on its own inputs (seeded by --seed) and "
                        "publishes every result; the host regenerates the inputs and checks each result")
    s.add_argument("--seed", type=int, default=0, help="seed of the random inputs, or of the board's stream source (default 0)")
    s.add_argument("--port", help="serial port of a real board running the validation firmware (e.g. /dev/ttyACM0)")
    s.add_argument("--baud", type=int, default=115200, help="baud rate of --port (default 115200, what generated firmware uses)")
    s.add_argument("--firmware", metavar="ELF",
                   help="emulated boards: run this validation firmware ELF (e.g. built by `pio run` from `mcugen "
                        "generate MODEL --board B --validation`) instead of building one")
    s.add_argument("--timeout", type=float, default=0.5, help="first retry timeout in seconds (doubles per retry)")
    s.add_argument("--retries", type=int, default=10, help="attempts per request before giving up")
    s.set_defaults(func=cmd_validate)
