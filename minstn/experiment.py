"""Run bookkeeping shared by the demos: run ids, environment, results JSON.

The talk's lesson was that reproduction hinges on stating every parameter, so
each demo run writes `results/<demo>/<run-id>/results.json` holding the full
config, the seed, every metric and curve, wall time and the software/machine.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import tempfile
import threading
import time


def run_id(tag="") -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}{'-' + tag if tag else ''}"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str | None:
    """The checkout's commit (short hash), with "+dirty" if tracked files differ from it."""
    def git(*cmd):
        return subprocess.run(["git", *cmd], capture_output=True, text=True, timeout=5,
                              cwd=os.path.dirname(__file__)).stdout.strip()
    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return (commit + ("+dirty" if dirty else "")) or None


def environment() -> dict:
    """Software, machine and thread settings of this run. Call it when the run starts: the
    commit is the checkout's at that moment."""
    import numba
    import numpy
    import scipy

    from . import __version__
    from .kernels.cpu import _blas
    return {
        "minstn": __version__, "git_commit": git_commit(), "python": platform.python_version(),
        "numpy": numpy.__version__, "numba": numba.__version__, "scipy": scipy.__version__,
        "numba_threads": numba.get_num_threads(), "cpu": cpu_model(), "cores": os.cpu_count(),
        "blas": _blas.describe(),
        "thread_env": {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                  "NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER",
                                                  "MINSTN_BLAS")
                       if k in os.environ},
        "platform": platform.platform(), "date": _dt.datetime.now().isoformat(timespec="seconds"),
    }


def _plain(o):
    """JSON-friendly copies of NumPy scalars/arrays and tuples."""
    import numpy as np
    if isinstance(o, dict):
        return {str(k): _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_plain(v) for v in o]
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    return o


def save_json(obj, path) -> None:
    """Write JSON atomically (temp file + rename)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".json.tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(_plain(obj), f, indent=1)
    os.replace(tmp, path)


def mean_std(values) -> dict:
    """Mean, sample standard deviation (ddof 1; 0 for one value), count and the values."""
    import numpy as np
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "n": int(len(v)), "per_seed": v.tolist()}


def save_figure(fig, path, dpi=100) -> None:
    """fig.savefig(path) atomically (temp file + rename): a crash leaves no half-written PNG."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".png.tmp")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi, format="png")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def exit_with_parent(parent: int, poll_s: float = 1.0) -> None:
    """In a worker process: end it as soon as its parent (pid `parent`) is gone.

    Ctrl-C reaches every process of the terminal's group, but a parent ended by `kill`
    (or a crash) cannot stop its pool, and the orphaned workers would train on, keeping
    every core busy. A daemon thread checks the parent pid once per `poll_s` seconds.
    """
    def watch():
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="exit_with_parent").start()


def run_in_processes(fn, jobs, workers):
    """[fn(*job) for job in jobs], spread over `workers` fresh Python processes.

    The processes are spawned, not forked: forking after Numba's or OpenBLAS's threads
    have started is unsafe. fn and its arguments must be picklable (a module-level
    function), and each job should set up what it needs (threads, data). Thread
    counts come from the environment the workers inherit: with OPENBLAS_NUM_THREADS=1
    and NUMBA_NUM_THREADS=1 (the Makefile's demo default) each worker uses one core.
    A worker ends itself when the parent process is gone (`exit_with_parent`).
    """
    if workers <= 1:
        return [fn(*job) for job in jobs]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=exit_with_parent, initargs=(os.getpid(),)) as ex:
        futures = [ex.submit(fn, *job) for job in jobs]
        return [f.result() for f in futures]
