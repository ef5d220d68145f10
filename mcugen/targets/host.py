"""Host build: the generated C compiled with the system C compiler into a shared library.

Libraries are cached by a hash of every source and the compiler command, so an unchanged model is
never rebuilt. Cache: $MCUGEN_CACHE_DIR, else $XDG_CACHE_HOME/mcugen, else ~/.cache/mcugen.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import BuildError

HOST_CFLAGS = ["-std=c99", "-O3", "-fPIC", "-shared", "-fvisibility=default", "-ffp-contract=off"]


def cache_dir() -> Path:
    if os.environ.get("MCUGEN_CACHE_DIR"):
        return Path(os.environ["MCUGEN_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mcugen"


def compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        raise BuildError("no C compiler found: install gcc or clang, or set CC")
    return cc


def build_shared_library(files: dict[str, str], extra_flags: list[str] | None = None) -> Path:
    """Compile generated files ({name: content}) into a cached shared library; returns its path."""
    cc = compiler()
    flags = HOST_CFLAGS + list(extra_flags or [])
    key = hashlib.sha256()
    key.update(repr((cc, flags)).encode())
    for fname in sorted(files):
        key.update(fname.encode() + b"\0" + files[fname].encode() + b"\0")
    digest = key.hexdigest()[:24]
    target = cache_dir() / f"libmcugen_{digest}.so"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mcugen-build-") as tmp:
        for fname, content in files.items():
            Path(tmp, fname).write_text(content)
        sources = sorted(f for f in files if f.endswith(".c"))
        out = Path(tmp) / "lib.so"
        cmd = [cc, *flags, "-I", tmp, "-o", str(out), *[str(Path(tmp, s)) for s in sources], "-lm"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"the C compiler failed on generated code (please report this):\n{' '.join(cmd)}\n{proc.stderr[-4000:]}")
        staged = target.with_suffix(f".{os.getpid()}.tmp")
        shutil.copyfile(out, staged)
        os.replace(staged, target)  # atomic: concurrent builders of the same key agree
    return target
