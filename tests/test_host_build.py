"""Host build: the shared library is cached by content, so an unchanged model never rebuilds."""
import os

from mcugen import codegen, compiler
from mcugen.targets import host


def test_library_is_cached_by_content(tmp_path, monkeypatch, models_dir):
    monkeypatch.setenv("MCUGEN_CACHE_DIR", str(tmp_path))
    program = compiler.compile_model(str(models_dir / "tflm_hello_world_int8.tflite"))
    files = codegen.render(program, "hello")
    first = host.build_shared_library(files)
    mtime = first.stat().st_mtime_ns
    second = host.build_shared_library(dict(files))
    assert second == first and second.stat().st_mtime_ns == mtime  # reused, not rebuilt
    changed = dict(files, **{"hello.c": files["hello.c"] + "\n/* changed */\n"})
    third = host.build_shared_library(changed)
    assert third != first and third.is_file()
    assert sorted(os.listdir(tmp_path)) == sorted([first.name, third.name])  # no temporary files left
