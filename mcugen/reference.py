"""Reference interpreters (TFLM, LiteRT) as test oracles and benchmark baselines.

Every call runs the reference in a worker subprocess (this file run as a script), so a crash
inside TFLM (some too-small arenas segfault) cannot take the caller down. A worker runs a list
of tasks and streams one result per task back; if it dies, the task it was on becomes a
ReferenceError and a fresh worker carries on with the rest.

input_sets is a list of input sets, each a list of arrays in model input order; results are a
list (per input set) of lists of output arrays (model output order). Input sets are independent
(state is reset between them) unless stateful=True, which runs them as one sequence.
"""
from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import tempfile

import numpy as np

_JOB_MARKER = b"\n@@mcugen-reference-task@@\n"
_DEFAULT_TIMEOUT = 600.0


class ReferenceError(Exception):
    """The reference interpreter refused or failed on a model; the message is the reference's."""


# ---- public API (caller side) --------------------------------------------------------------


def run_tflm(model_bytes: bytes, input_sets, arena_size: int | None = None,
             stateful: bool = False) -> list[list[np.ndarray]]:
    """Outputs of the TFLM (tflite-micro reference kernels) interpreter per input set."""
    return run_tflm_batch([(model_bytes, input_sets)], arena_size=arena_size, stateful=stateful)[0]


def run_tflm_batch(jobs, arena_size: int | None = None, stateful: bool = False,
                   errors: str = "raise"):
    """run_tflm over many (model_bytes, input_sets) jobs in one worker process.

    errors="raise" raises the first failure (naming the job index); errors="return" puts a
    ReferenceError in place of each failed job's result.
    """
    tasks = [{"kind": "tflm", "model": bytes(m), "input_sets": _as_arrays(sets),
              "arena_size": arena_size, "stateful": stateful} for m, sets in jobs]
    results = _run_tasks(tasks)
    if errors == "raise":
        for i, r in enumerate(results):
            if isinstance(r, ReferenceError):
                raise ReferenceError(f"job {i}: {r}" if len(results) > 1 else str(r))
    return results


def run_litert(model_bytes: bytes, input_sets, reference_kernels: bool = True,
               stateful: bool = False) -> list[list[np.ndarray]]:
    """Outputs of LiteRT (BUILTIN_REF kernels unless reference_kernels=False) per input set."""
    task = {"kind": "litert", "model": bytes(model_bytes), "input_sets": _as_arrays(input_sets),
            "reference_kernels": reference_kernels, "stateful": stateful}
    return _single(task)


def tflm_smallest_arena(model_bytes: bytes) -> int:
    """Smallest TFLM arena_size (multiple of 16) with which the model allocates and invokes."""
    return _single({"kind": "smallest_arena", "model": bytes(model_bytes)})


def time_tflm(model_bytes: bytes, x_sets, repeats: int = 10,
              arena_size: int | None = None) -> float:
    """Median seconds per TFLM invoke over repeats x input sets (inputs set outside the timing)."""
    return _single({"kind": "time_tflm", "model": bytes(model_bytes), "input_sets": _as_arrays(x_sets),
                    "repeats": repeats, "arena_size": arena_size})


def time_litert(model_bytes: bytes, x_sets, repeats: int = 10, reference_kernels: bool = False,
                num_threads: int = 1) -> float:
    """Median seconds per LiteRT invoke; optimized kernels on one thread by default."""
    return _single({"kind": "time_litert", "model": bytes(model_bytes),
                    "input_sets": _as_arrays(x_sets), "repeats": repeats,
                    "reference_kernels": reference_kernels, "num_threads": num_threads})


# ---- worker management ---------------------------------------------------------------------


def _as_arrays(input_sets):
    return [[np.ascontiguousarray(x) for x in xs] for xs in input_sets]


def _single(task):
    result = _run_tasks([task])[0]
    if isinstance(result, ReferenceError):
        raise result
    return result


def _run_tasks(tasks, timeout: float = _DEFAULT_TIMEOUT):
    """Run tasks in worker processes; one result or ReferenceError per task, in order."""
    results = []
    while len(results) < len(tasks):
        remaining = tasks[len(results):]
        done, crash = _run_worker(remaining, timeout)
        results.extend(done)
        if crash is not None:
            results.append(crash)
    return results


def _run_worker(tasks, timeout):
    """One worker over `tasks`. Returns (results so far, ReferenceError for the task it died on)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    with tempfile.TemporaryFile() as stderr_file:
        # -P: do not put mcugen/ on sys.path, its module names must not shadow anything.
        cmd = [sys.executable, "-P", os.path.abspath(__file__)]
        try:
            proc = subprocess.run(cmd, input=pickle.dumps(tasks, protocol=pickle.HIGHEST_PROTOCOL),
                                  stdout=subprocess.PIPE, stderr=stderr_file, env=env,
                                  timeout=timeout)
            stdout, returncode = proc.stdout, proc.returncode
        except subprocess.TimeoutExpired as e:
            stdout, returncode = e.stdout or b"", None
        stderr_file.seek(0)
        # The worker writes a marker before each task: segment i+1 is task i's stderr.
        task_stderr = stderr_file.read().split(_JOB_MARKER)[1:]

    results = []
    reader = io.BytesIO(stdout)
    while len(results) < len(tasks):
        try:
            status, value = pickle.load(reader)
        except Exception:  # end of stream, or a record cut short by a crash
            break
        if status == "ok":
            results.append(value)
        else:
            results.append(_error(value, task_stderr, len(results)))
    if len(results) == len(tasks):
        return results, None
    if returncode is None:
        why = f"timed out after {timeout:.0f} s"
    elif returncode < 0:
        why = f"crashed with signal {-returncode}"
    else:
        why = f"worker exited with status {returncode}"
    return results, _error(f"reference {why}", task_stderr, len(results))


def _error(message, task_stderr, index):
    details = task_stderr[index].decode(errors="replace").strip() if index < len(task_stderr) else ""
    return ReferenceError(f"{message}\n{details}" if details else message)


# ---- worker side -----------------------------------------------------------------------------


def _model_io_counts(model: bytes) -> tuple[int, int]:
    import tflite

    subgraph = tflite.Model.GetRootAs(model, 0).Subgraphs(0)
    return subgraph.InputsLength(), subgraph.OutputsLength()


def _tflm_interpreter(model, arena_size):
    from tflite_micro import runtime

    return runtime.Interpreter.from_bytes(model, arena_size=arena_size)


def _task_tflm(task):
    it = _tflm_interpreter(task["model"], task["arena_size"])
    _, n_outputs = _model_io_counts(task["model"])
    results = []
    for k, xs in enumerate(task["input_sets"]):
        if k and not task["stateful"]:
            it.reset()
        for i, x in enumerate(xs):
            it.set_input(x, i)
        it.invoke()
        results.append([np.array(it.get_output(i), copy=True) for i in range(n_outputs)])
    return results


def _litert_interpreter(model, reference_kernels, num_threads=None):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.BUILTIN_REF if reference_kernels else OpResolverType.AUTO
    interp = Interpreter(model_content=model, num_threads=num_threads,
                         experimental_op_resolver_type=resolver)
    interp.allocate_tensors()
    return interp


def _litert_set_inputs(interp, xs):
    details = interp.get_input_details()
    if any(tuple(d["shape"]) != x.shape for d, x in zip(details, xs)):
        for d, x in zip(details, xs):
            interp.resize_tensor_input(d["index"], x.shape)
        interp.allocate_tensors()
    for d, x in zip(details, xs):
        interp.set_tensor(d["index"], x)


def _task_litert(task):
    interp = _litert_interpreter(task["model"], task["reference_kernels"])
    results = []
    for k, xs in enumerate(task["input_sets"]):
        if k and not task["stateful"]:
            interp.reset_all_variables()
        _litert_set_inputs(interp, xs)
        interp.invoke()
        results.append([interp.get_tensor(d["index"]).copy() for d in interp.get_output_details()])
    return results


def _arena_works(model, arena_size, quiet=True) -> bool:
    """Allocate and invoke once in a forked child: a too-small arena may segfault."""
    pid = os.fork()
    if pid == 0:
        try:
            if quiet:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 2)
            it = _tflm_interpreter(model, arena_size)
            for i in range(_model_io_counts(model)[0]):
                d = it.get_input_details(i)
                it.set_input(np.zeros(d["shape"], d["dtype"]), i)
            it.invoke()
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return status == 0


def _task_smallest_arena(task):
    model = task["model"]
    import tflite  # noqa: F401  (imported once here, not in every forked probe)
    from tflite_micro import runtime  # noqa: F401
    hi = max(len(model) * 10, 4096)  # TFLM's own default is 10x the model size
    if not _arena_works(model, hi, quiet=False):
        for _ in range(6):
            hi *= 2
            if _arena_works(model, hi):
                break
        else:
            raise RuntimeError("TFLM cannot run the model with any arena size tried")
    lo = 0  # invariant: lo fails, hi works; both multiples of 16
    hi = (hi + 15) // 16 * 16
    while hi - lo > 16:
        mid = (lo + hi) // 32 * 16
        if _arena_works(model, mid):
            hi = mid
        else:
            lo = mid
    return hi


def _median_invoke_seconds(set_inputs, invoke, x_sets, repeats):
    import gc
    import time

    set_inputs(x_sets[0])
    invoke()  # warm-up: first-call allocations and caches
    times = []
    gc.disable()
    try:
        for _ in range(repeats):
            for xs in x_sets:
                set_inputs(xs)
                t0 = time.perf_counter()
                invoke()
                times.append(time.perf_counter() - t0)
    finally:
        gc.enable()
    return float(np.median(times))


def _task_time_tflm(task):
    it = _tflm_interpreter(task["model"], task["arena_size"])

    def set_inputs(xs):
        for i, x in enumerate(xs):
            it.set_input(x, i)

    return _median_invoke_seconds(set_inputs, it.invoke, task["input_sets"], task["repeats"])


def _task_time_litert(task):
    interp = _litert_interpreter(task["model"], task["reference_kernels"], task["num_threads"])
    return _median_invoke_seconds(lambda xs: _litert_set_inputs(interp, xs), interp.invoke,
                                  task["input_sets"], task["repeats"])


_TASKS = {
    "tflm": _task_tflm,
    "litert": _task_litert,
    "smallest_arena": _task_smallest_arena,
    "time_tflm": _task_time_tflm,
    "time_litert": _task_time_litert,
}


def _flush_all():
    import ctypes

    sys.stdout.flush()
    sys.stderr.flush()
    ctypes.CDLL(None).fflush(None)  # C stdio buffers too, so messages land in the right task


def _worker_main():
    tasks = pickle.load(sys.stdin.buffer)
    # Results go to the original stdout; anything C code prints to fd 1 joins stderr instead.
    results_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    for task in tasks:
        _flush_all()
        os.write(2, _JOB_MARKER)
        try:
            record = ("ok", _TASKS[task["kind"]](task))
        except Exception as e:  # reported to the caller as ReferenceError
            record = ("error", f"{type(e).__name__}: {e}")
        _flush_all()
        pickle.dump(record, results_out, protocol=pickle.HIGHEST_PROTOCOL)
        results_out.flush()


if __name__ == "__main__":
    _worker_main()
