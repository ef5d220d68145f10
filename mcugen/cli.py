"""The `mcugen` command line. Bad input ends in one clear line on stderr and a non-zero exit."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from . import __version__
from .errors import MCUGenError, UnsupportedError


class InputDataError(MCUGenError):
    """An --input array that does not fit the model: bad input like a bad model, so the same status."""

    exit_code = 2


def _kib(n: int) -> str:
    return f"{n / 1024:.1f} KiB ({n} B)"


def _qdesc(t) -> str:
    if t.quant is None:
        return ""
    if t.quant.per_channel:
        return f" per-channel({t.quant.scale.size}, axis {t.quant.axis})"
    return f" scale {float(t.quant.scale[0]):.6g} zero_point {int(t.quant.zero_point[0])}"


def cmd_inspect(args) -> int:
    from . import compiler, passes

    graph, digest = compiler.load(args.model)
    graph = passes.run(graph)
    calls, problems = compiler.lower_all(graph)
    program = None
    if not problems:
        program = compiler.compile_graph(graph, digest, args.alignment)
    io = lambda idx: [dict(index=t, name=graph.tensor(t).name, shape=list(graph.tensor(t).shape),
                           dtype=graph.tensor(t).dtype,
                           scale=float(graph.tensor(t).quant.scale[0]) if graph.tensor(t).quant else None,
                           zero_point=int(graph.tensor(t).quant.zero_point[0]) if graph.tensor(t).quant else None)
                      for t in idx]
    ops = [dict(index=op.index, op=op.opcode, output_shapes=[list(graph.tensor(t).shape) for t in op.outputs],
                macs=call.macs if call else 0, supported=call is not None)
           for op, call in zip(graph.operators, calls)]
    info = dict(
        model=os.path.basename(str(args.model)), sha256=digest,
        inputs=io(graph.inputs), outputs=io(graph.outputs), ops=ops,
        macs=sum(o["macs"] for o in ops),
        arena_bytes=program.arena_size if program else None,
        lower_bound_bytes=program.lower_bound if program else None,
        weights_bytes=program.weights_bytes if program else sum(t.nbytes for t in graph.tensors if t.is_constant),
        unsupported_ops=problems, notes=graph.notes,
    )
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"model    {info['model']}  (sha256 {digest[:16]})")
    for kind in ("inputs", "outputs"):
        for k, t in enumerate(info[kind]):
            tensor = graph.tensor(t["index"])
            print(f"{kind[:-1]:<8} {k}: '{t['name']}' {t['dtype']}{t['shape']}{_qdesc(tensor)}")
    print(f"\n{'#':>4}  {'op':<20} {'output shape':<22} {'MACs':>12}")
    for o in ops:
        shape = " ".join(str(s) for s in o["output_shapes"])
        flag = "" if o["supported"] else "  UNSUPPORTED"
        print(f"{o['index']:>4}  {o['op']:<20} {shape:<22} {o['macs']:>12,}{flag}")
    print(f"\nMACs         {info['macs']:,}")
    if program:
        print(f"arena        {_kib(program.arena_size)}   lower bound {_kib(program.lower_bound)}   alignment {args.alignment}")
    print(f"weights      {_kib(info['weights_bytes'])}")
    for note in graph.notes:
        print(f"note: {note}")
    if problems:
        print(f"\nunsupported ops ({len(problems)}):")
        for p in problems:
            print(f"  - {p}")
    else:
        print("unsupported  none")
    return 0


def cmd_generate(args) -> int:
    from . import codegen, compiler

    if args.board or args.report or args.no_fit_check or args.validation:
        from .targets.platformio import cli_generate

        return cli_generate(args)  # a PlatformIO project for the board
    start = time.perf_counter()
    name = codegen.check_name(args.name or codegen.default_name(args.model))
    program = compiler.compile_model(args.model, args.alignment)
    files = codegen.render(program, name, os.path.basename(args.model))
    written = codegen.write_files(files, args.output)
    elapsed = time.perf_counter() - start
    print(f"{args.output}: {len(written)} file(s) written, {len(files) - len(written)} unchanged ({elapsed:.2f} s)")
    print(f"  {name}.h / {name}.c: {len(program.steps)} ops, {program.macs:,} MACs")
    print(f"  arena {_kib(program.arena_size)} (lower bound {_kib(program.lower_bound)}), weights {_kib(program.weights_bytes)}")
    for note in program.notes:
        print(f"  note: {note}")
    return 0


def cmd_flash(args) -> int:
    from .targets.platformio import cli_flash

    return cli_flash(args)


def _load_input(path: str, detail: dict, k: int) -> np.ndarray:
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputDataError(f"--input {path}: cannot read a .npy array ({e})") from None
    want = tuple(int(d) for d in detail["shape"])
    if x.dtype != detail["dtype"]:
        raise InputDataError(f"--input {path}: dtype {x.dtype} but input {k} '{detail['name']}' is {np.dtype(detail['dtype']).name}")
    if x.shape != want:
        if x.size != int(np.prod(want)):
            raise InputDataError(f"--input {path}: shape {list(x.shape)} but input {k} '{detail['name']}' has shape {list(want)}")
        x = x.reshape(want)
    return x


def cmd_run(args) -> int:
    board = None
    if getattr(args, "board", None):
        from .targets import qemu

        board = qemu.emulated_board(args.board)  # an unknown board fails before the model compiles
    it = _interpreter(args.model)
    details = it.get_input_details()
    if len(args.input) != len(details):
        raise InputDataError(f"the model has {len(details)} input(s); give --input once for each ({len(args.input)} given)")
    arrays = [_load_input(path, d, k) for k, (path, d) in enumerate(zip(args.input, details))]
    instructions = None
    if board is not None:
        # Cross-compiled for the board and run under QEMU; the host build is not used.
        result = qemu.run_model(it._program, board, [arrays], timeout=args.timeout)
        outs, instructions = result.outputs[0], result.instructions[0]
    else:
        it.allocate_tensors()
        for d, x in zip(details, arrays):
            it.set_tensor(d["index"], x)
        it.invoke()
        outs = [it.get_tensor(d["index"]) for d in it.get_output_details()]
    if args.output:
        if len(outs) == 1 and args.output.endswith(".npy"):
            np.save(args.output, outs[0])
        else:
            np.savez(args.output, *outs)
        print(f"wrote {len(outs)} output(s) to {args.output}")
    else:
        with np.printoptions(threshold=64, linewidth=100):
            for d, y in zip(it.get_output_details(), outs):
                print(f"output '{d['name']}' {y.dtype}{list(y.shape)}:\n{y}")
    if instructions is not None:
        print(f"instructions per invoke on {board.id}: {instructions} (QEMU {board.emulator.machine}, -icount)")
    return 0


def _interpreter(model):
    from .interpreter import Interpreter

    try:
        return Interpreter(model_path=model)
    except ValueError:
        # Re-raise the compiler's own error (with its exit status) rather than the API's ValueError.
        from . import compiler

        compiler.compile_model(model)
        raise


def cmd_verify(args) -> int:
    from .verify import verify

    try:
        if getattr(args, "board", None):
            from .targets import qemu

            qemu.emulated_board(args.board)
            return qemu.verify_board(args.model, args.board, n_inputs=args.inputs, seed=args.seed, timeout=args.timeout)
        return verify(args.model, n_inputs=args.inputs, seed=args.seed)
    except ValueError:
        # mcugen.Interpreter turns compile errors into ValueError (LiteRT's API); re-raise the compiler's
        # own error so an unsupported model gets its message and exit status, not a traceback.
        from . import compiler

        compiler.compile_model(args.model)
        raise


def cmd_bench(args) -> int:
    from .bench import bench

    return bench(args.models, repeats=args.repeats, tflm_arena=not args.no_tflm_arena)


def cmd_boards(args) -> int:
    from . import boards

    if args.json:
        print(json.dumps([boards.as_dict(b) for b in boards.all_boards()], indent=2))
        return 0
    print(boards.table())
    print("\nemulated boards run under QEMU: mcugen run|verify MODEL --board BOARD (instructions counted with -icount)")
    return 0


def cmd_ops(args) -> int:
    from .ops import REGISTRY, markdown_table

    if args.markdown:
        print(markdown_table())
        return 0
    print(f"{'op':<28} {'dtypes':<30} limits")
    for name, info in sorted(REGISTRY.items()):
        print(f"{name:<28} {info.dtypes:<30} {info.limits}")
    print(f"\n{len(REGISTRY)} ops; anything else is rejected at generate time with the op's index and name")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mcugen", description="Compile TensorFlow Lite models to plain C for microcontrollers.")
    p.add_argument("--version", action="version", version=f"mcugen {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("inspect", help="inputs, outputs, ops, MACs, arena and weights of a model")
    s.add_argument("model")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.add_argument("--alignment", type=int, default=16, help="arena alignment in bytes (default 16)")
    s.set_defaults(func=cmd_inspect)

    s = sub.add_parser("generate", help="write C sources for a model")
    s.add_argument("model")
    s.add_argument("-o", "--output", required=True, help="output folder")
    s.add_argument("--name", help="C prefix of the generated API (default: from the model file name)")
    s.add_argument("--alignment", type=int, default=16, help="arena alignment in bytes (default 16)")
    s.add_argument("--board", help="write a PlatformIO project for this board (see `mcugen boards`)")
    s.add_argument("--report", action="store_true", help="with --board: print the size report (code, weights, arena, stack vs the board)")
    s.add_argument("--no-fit-check", action="store_true", help="with --board: write the project even if the model does not fit the board")
    s.add_argument("--validation", action="store_true",
                   help="with --board: the validation firmware of `mcugen validate` instead of the demo")
    s.set_defaults(func=cmd_generate)

    s = sub.add_parser("run", help="run the generated C on the host")
    s.add_argument("model")
    s.add_argument("--input", action="append", required=True, help=".npy input (repeat for several inputs)")
    s.add_argument("--output", help="save outputs (.npy for one output, else .npz)")
    s.add_argument("--board", help="cross-compile for an emulated board and run under QEMU (see `mcugen boards`)")
    s.add_argument("--timeout", type=float, default=300.0, help="seconds QEMU may run (with --board; default 300)")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("verify", help="compare the generated C with TFLM on random inputs")
    s.add_argument("model")
    s.add_argument("--inputs", type=int, default=10, help="number of random inputs (default 10)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--board", help="also run on an emulated board under QEMU and compare with the host build")
    s.add_argument("--timeout", type=float, default=300.0, help="seconds QEMU may run (with --board; default 300)")
    s.set_defaults(func=cmd_verify)

    s = sub.add_parser("bench", help="arena, sizes and host latency against TFLM and LiteRT")
    s.add_argument("models", nargs="+")
    s.add_argument("--repeats", type=int, default=50, help="invokes timed per runtime (default 50)")
    s.add_argument("--no-tflm-arena", action="store_true", help="skip the (slow) search for TFLM's smallest arena")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("boards", help="list boards: core, clock, flash, RAM, how code is built and run")
    s.add_argument("--json", action="store_true", help="print the board files as one JSON list")
    s.set_defaults(func=cmd_boards)

    s = sub.add_parser("flash", help="build a PlatformIO project (or a model's) and upload it: `pio run -t upload`")
    s.add_argument("target", metavar="PROJ|MODEL", help="a project folder from `generate --board`, or a .tflite model")
    s.add_argument("--board", required=True, help="the board (emulated boards run under QEMU)")
    s.add_argument("--project", help="for a model: where to write its project (default: in mcugen's cache)")
    s.add_argument("--name", help="for a model: C prefix of the generated API")
    s.add_argument("--no-fit-check", action="store_true", help="for a model: skip the fit check")
    s.add_argument("--validation", action="store_true", help="for a model: flash the validation firmware of `mcugen validate`")
    s.add_argument("--timeout", type=float, default=1800.0, help="seconds before PlatformIO is stopped (default 1800)")
    s.set_defaults(func=cmd_flash)

    from .validate.cli import add_parser as add_validate_parser

    add_validate_parser(sub)

    s = sub.add_parser("ops", help="list supported ops with their dtypes and limits")
    s.add_argument("--markdown", action="store_true", help="print the README's table")
    s.set_defaults(func=cmd_ops)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UnsupportedError as e:
        print(f"mcugen: error: {e}", file=sys.stderr)
        return e.exit_code
    except MCUGenError as e:
        print(f"mcugen: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("mcugen: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except OSError as e:  # an output path that cannot be written, a full disk: no traceback for those
        where = f"{e.filename}: " if e.filename else ""
        print(f"mcugen: error: {where}{e.strerror or e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
