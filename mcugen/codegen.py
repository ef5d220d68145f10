"""Program -> C sources (deterministic), and writing them to a folder atomically and idempotently."""
from __future__ import annotations

import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np

from . import __version__
from .compiler import Program
from .errors import MCUGenError
from .ir import c_type
from .ops.base import SCRATCH, ConstArray
from .resources import runtime_dir, templates_dir

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def default_name(model_path: str | None) -> str:
    stem = Path(model_path).stem if model_path else "model"
    name = re.sub(r"[^A-Za-z0-9_]", "_", stem) or "model"
    return name if NAME_RE.match(name) else f"m_{name}"


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise MCUGenError(f"--name '{name}' is not a C identifier (letters, digits and _, not starting with a digit)")
    return name


def c_float(v: float) -> str:
    v = float(np.float32(v))
    if math.isinf(v):
        return "FLT_MAX" if v > 0 else "-FLT_MAX"
    if math.isnan(v):
        raise MCUGenError("a NaN constant cannot be emitted as C")
    return repr(v) + "f"


def c_array_body(values: np.ndarray) -> str:
    """Array initializer text, 16 values a line. Floats round-trip exactly through repr."""
    flat = np.asarray(values).reshape(-1)
    if flat.dtype.kind == "f":
        items = [c_float(v) for v in flat.tolist()]
    elif flat.dtype.kind == "b":
        items = [str(int(v)) for v in flat.tolist()]
    else:
        items = [str(v) for v in flat.tolist()]
        if flat.dtype == np.int32:  # INT32_MIN is not a valid literal on its own
            items = ["(-2147483647 - 1)" if v == "-2147483648" else v for v in items]
        elif flat.dtype == np.int64:
            items = [f"INT64_C({v})" for v in items]
    if not items:
        items = ["0"]
    return ",\n".join("    " + ", ".join(items[i:i + 16]) for i in range(0, len(items), 16))


def comment_safe(text: str) -> str:
    """Tensor names go into C comments; keep them from closing the comment."""
    return text.replace("*/", "* /").replace("\n", " ")


@dataclass
class CArray:
    name: str
    ctype: str
    length: int
    body: str
    comment: str


class _Emitter:
    def __init__(self, program: Program, name: str):
        self.p = program
        self.name = name
        self.arrays: list[CArray] = []
        self.const_names: dict[int, str] = {}

    def const_tensor(self, t: int) -> str:
        if t not in self.const_names:
            tensor = self.p.graph.tensor(t)
            cname = f"{self.name}_t{t}"
            self.const_names[t] = cname
            self.arrays.append(CArray(cname, c_type(tensor.dtype), max(tensor.size, 1), c_array_body(tensor.data), f"tensor {t}: {comment_safe(tensor.name)}"))
        return self.const_names[t]

    def const_array(self, arr: ConstArray, cname: str, comment: str) -> str:
        self.arrays.append(CArray(cname, arr.ctype, max(arr.values.size, 1), c_array_body(arr.values), comment))
        return cname

    def tensor_expr(self, t: int, step: int | None = None) -> str:
        tensor = self.p.graph.tensor(t)
        if tensor.is_constant:
            return self.const_tensor(t)
        return f"({c_type(tensor.dtype)} *)({self.name}_arena + {self.p.offsets[t]})"

    def arg_expr(self, arg, step: int, position: int) -> str:
        if isinstance(arg, ConstArray):
            return self.const_array(arg, f"{self.name}_op{step}_arg{position}", f"op {step}: precomputed argument {position}")
        if arg == SCRATCH:
            return f"({self.name}_arena + {self.p.scratch_offsets[step]})"
        return self.tensor_expr(int(arg))

    def param_value(self, value, step: int, field: str) -> str:
        if isinstance(value, ConstArray):
            return self.const_array(value, f"{self.name}_op{step}_{field}", f"op {step}: {field}")
        if isinstance(value, (bool, np.bool_)):
            return "1" if value else "0"
        if isinstance(value, (int, np.integer)):
            v = int(value)
            return "(-2147483647 - 1)" if v == -2147483648 else str(v)
        if isinstance(value, (float, np.floating)):
            return c_float(value)
        return str(value)  # a C expression chosen by the op module


def render(program: Program, name: str, model_label: str = "") -> dict[str, str]:
    """All generated files: {filename: content}. Same program and name -> byte-identical output."""
    check_name(name)
    em = _Emitter(program, name)
    g = program.graph
    families = sorted({s.call.family for s in program.steps if s.call.family})
    steps = []
    for i, s in enumerate(program.steps):
        op = s.op
        if s.call.kernel is None:
            comment = f"op {op.index} {op.opcode}: output shares its input's bytes, no code"
            steps.append(dict(comment=comment, params=None, call=None))
            continue
        params = [(f, em.param_value(v, i, f)) for f, v in s.call.params.items()]
        args = [em.arg_expr(a, i, j) for j, a in enumerate(s.call.args)]
        ins = ", ".join(f"'{comment_safe(g.tensor(t).name)}'" for t in op.inputs if t >= 0 and not g.tensor(t).is_constant)
        outs = ", ".join(f"'{comment_safe(g.tensor(t).name)}'" for t in op.outputs)
        steps.append(dict(
            comment=f"op {op.index} {op.opcode}: {ins or 'constants'} -> {outs}",
            params_type=s.call.params_type,
            params_name=f"{name}_op{i}_params" if s.call.params_type else None,
            params=params,
            call=f"{s.call.kernel}({'&' + name + '_op' + str(i) + '_params, ' if s.call.params_type else ''}{', '.join(args)});",
        ))

    def io(indices):
        out = []
        for k, t in enumerate(indices):
            tensor = g.tensor(t)
            out.append(dict(
                index=k, name=comment_safe(tensor.name), expr=em.tensor_expr(t), ctype=c_type(tensor.dtype), dtype=tensor.dtype,
                shape=list(tensor.shape) or [1], size=tensor.size, nbytes=tensor.nbytes,
                scale=c_float(tensor.scale) if tensor.quant else "0.0f", zero_point=tensor.zero_point))
        return out

    # TFLM resets int8 variable tensors (LSTM/SVDF state) to their zero point, everything else to 0.
    variables = [dict(name=comment_safe(t.name), offset=program.offsets[t.index], nbytes=t.nbytes,
                      value=t.zero_point if t.dtype == "int8" else 0)
                 for t in g.tensors if t.is_variable and t.index in program.offsets]
    ctx = dict(variables=variables,
        name=name, NAME=name.upper(), version=__version__, model=comment_safe(model_label or g.name),
        sha256=program.model_sha256, arena_size=program.arena_size, lower_bound=program.lower_bound,
        alignment=max(program.alignment, 16), families=families, steps=steps,
        inputs=io(g.inputs), outputs=io(g.outputs), arrays=em.arrays, macs=program.macs,
        weights_bytes=program.weights_bytes, notes=program.notes,
    )
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())), keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    files = {
        f"{name}.h": env.get_template("model.h.j2").render(ctx),
        f"{name}.c": env.get_template("model.c.j2").render(ctx),
        f"{name}_weights.h": env.get_template("weights.h.j2").render(ctx),
    }
    rt = runtime_dir()
    for fname in ["mg_common.h"] + [f"{fam}{ext}" for fam in families for ext in (".h", ".c")]:
        files[fname] = (rt / fname).read_text()
    return files


def write_files(files: dict[str, str], out_dir: str | os.PathLike) -> list[str]:
    """Write only files whose content changed (mtimes of the others stay); each write is atomic.

    Returns the names written. Everything is rendered before this is called, so a failed
    generation never touches the folder.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise MCUGenError(f"{out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fname, content in sorted(files.items()):
        path = out / fname
        data = content.encode()
        if path.is_file() and path.read_bytes() == data:
            continue
        fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{fname}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; generated sources are ordinary files
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        written.append(fname)
    return written
