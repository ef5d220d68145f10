"""Graph -> Program: lower every op, fix the execution order, plan the arena.

The Program holds everything codegen and the host simulation need; nothing is left to run time.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from . import memplan, ops, passes
from .errors import ModelError, Unsupported, UnsupportedError
from .frontend.tflite import load_model, read_model_file
from .ir import DTYPES, Graph, Operator
from .ops.base import ConstArray, KernelCall


@dataclass
class Step:
    op: Operator  # op.index is its position in the model file, kept for messages after passes remove ops
    call: KernelCall
    scratch: str | None = None  # buffer name of this step's scratch space

    @property
    def opcode(self) -> str:
        return self.op.opcode


@dataclass
class Program:
    graph: Graph
    model_sha256: str
    steps: list[Step]
    buffers: list[memplan.Buffer]
    offsets: dict[int, int]  # tensor index -> arena offset (activations only)
    scratch_offsets: dict[int, int]  # step number -> arena offset of its scratch buffer
    arena_size: int
    lower_bound: int
    alignment: int
    notes: list[str] = field(default_factory=list)

    @property
    def macs(self) -> int:
        return sum(s.call.macs for s in self.steps)

    @property
    def weights_bytes(self) -> int:
        return sum(t.nbytes for t in self.const_tensors_used()) + sum(
            a.values.nbytes for s in self.steps for a in _const_arrays(s.call))

    def const_tensors_used(self):
        seen = {}
        for s in self.steps:
            for a in s.call.args:
                if isinstance(a, int) and self.graph.tensor(a).is_constant:
                    seen[a] = self.graph.tensor(a)
        return [seen[i] for i in sorted(seen)]


def _const_arrays(call: KernelCall):
    return [v for v in list(call.params.values()) + list(call.args) if isinstance(v, ConstArray)]


def load(source, name: str = "model") -> tuple[Graph, str]:
    """A model path or bytes -> (Graph, sha256 of the file)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        data = read_model_file(str(source))
        name = str(source)
    return load_model(data, name), hashlib.sha256(data).hexdigest()


def lower_all(graph: Graph) -> tuple[list[KernelCall | None], list[str]]:
    """Lower every op; collect every problem instead of stopping at the first."""
    calls, problems = [], []
    for op in graph.operators:
        module = ops.op_module(op.opcode)
        where = f"op {op.index} {op.opcode}"
        if op.opcode.startswith("CUSTOM:"):
            problems.append(f"{where}: custom ops are not supported")
            calls.append(None)
            continue
        if module is None:
            problems.append(f"{where}: no kernel for this op (see `mcugen ops`)")
            calls.append(None)
            continue
        for t in op.inputs + op.outputs:
            if t >= 0 and graph.tensor(t).dtype not in DTYPES:
                problems.append(f"{where}: tensor '{graph.tensor(t).name}' has unsupported dtype {graph.tensor(t).dtype}")
                break
        else:
            try:
                calls.append(module.lower(op, graph))
                continue
            except Unsupported as e:
                problems.append(f"{where}: {e}")
            except (ArithmeticError, AttributeError, IndexError, KeyError, TypeError, ValueError) as e:
                # A malformed op that slipped past the op's own checks: still an error for people.
                problems.append(f"{where}: malformed op ({type(e).__name__}: {e})")
        calls.append(None)
    return calls, problems


def _check_order(graph: Graph) -> None:
    """The stored order must be a valid execution order: every input exists before it is read."""
    ready = set(graph.inputs) | {t.index for t in graph.tensors if t.is_constant or t.is_variable}
    for op in graph.operators:
        for t in op.inputs:
            if t >= 0 and t not in ready:
                raise ModelError(f"{graph.name}: op {op.index} {op.opcode} reads tensor '{graph.tensor(t).name}' before any op writes it")
        ready.update(op.outputs)
    for t in graph.outputs:
        if t not in ready:
            raise ModelError(f"{graph.name}: output tensor '{graph.tensor(t).name}' is never written")


def compile_graph(graph: Graph, model_sha256: str = "", alignment: int = 16) -> Program:
    if alignment < 1 or alignment & (alignment - 1):
        raise ModelError(f"alignment must be a power of two, got {alignment}")
    graph = passes.run(graph)
    calls, problems = lower_all(graph)
    if problems:
        raise UnsupportedError(problems)
    _check_order(graph)
    _fold_constant_aliases(graph, calls)
    steps = [Step(op, call) for op, call in zip(graph.operators, calls)]
    buffers, tensor_buffer, scratch_buffer = _lifetimes(graph, steps)
    offsets_by_name, arena = memplan.plan(buffers, alignment)
    memplan.check_plan(buffers, offsets_by_name, arena, alignment)
    offsets = {t: offsets_by_name[b] for t, b in tensor_buffer.items()}
    scratch = {s: offsets_by_name[b] for s, b in scratch_buffer.items()}
    return Program(graph, model_sha256, steps, buffers, offsets, scratch, arena,
                   memplan.lower_bound(buffers, alignment), alignment, list(graph.notes))


def _fold_constant_aliases(graph: Graph, calls: list[KernelCall]) -> None:
    """A RESHAPE of a constant is a constant: give the output the data, no arena bytes needed."""
    for op, call in zip(graph.operators, calls):
        src = graph.tensor(call.alias_input) if call.alias_input is not None else None
        if src is not None and src.is_constant:
            out = graph.tensor(op.outputs[0])
            out.data = src.data.reshape(out.shape)


def _lifetimes(graph: Graph, steps: list[Step]):
    """Buffers with their live ranges; aliasing tensors are merged into their source's buffer."""
    last_step = max(len(steps) - 1, 0)
    owner: dict[int, int] = {}  # tensor -> tensor whose buffer it uses
    for s in steps:
        if s.call.alias_input is not None:
            src = s.call.alias_input
            owner[s.op.outputs[0]] = owner.get(src, src)
    first: dict[int, int] = {}
    last: dict[int, int] = {}

    def touch(t: int, step: int):
        if t < 0 or graph.tensor(t).is_constant:
            return
        root = owner.get(t, t)
        first[root] = min(first.get(root, step), step)
        last[root] = max(last.get(root, step), step)

    for t in graph.inputs:
        touch(t, 0)
    for i, s in enumerate(steps):
        op = s.op
        for t in op.inputs + op.outputs:
            touch(t, i)
    for t in graph.outputs:
        touch(t, last_step)
    for t in graph.tensors:
        if t.is_variable:
            touch(t.index, 0)
            touch(t.index, last_step)

    buffers, tensor_buffer, scratch_buffer = [], {}, {}
    members: dict[int, list[int]] = {}
    for t in sorted(first):
        members[t] = [t]
    for t, root in owner.items():
        if root in members:
            members[root].append(t)
    for root, ts in sorted(members.items()):
        name = f"t{root}"
        size = max(graph.tensor(t).nbytes for t in ts)
        buffers.append(memplan.Buffer(name, size, first[root], last[root], sorted(ts)))
        for t in ts:
            tensor_buffer[t] = name
    for i, s in enumerate(steps):
        if s.call.scratch_bytes:
            name = f"scratch{i}"
            buffers.append(memplan.Buffer(name, s.call.scratch_bytes, i, i))
            scratch_buffer[i] = name
            s.scratch = name
    return buffers, tensor_buffer, scratch_buffer


def compile_model(source, alignment: int = 16) -> Program:
    graph, digest = load(source)
    return compile_graph(graph, digest, alignment)

