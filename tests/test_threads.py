"""Who uses the cores: the thread count of the kernels' BLAS, and minstn's claim on it."""
import importlib.util
import os
import subprocess
import sys

import pytest

from minstn.kernels.cpu import _blas, _threads

needs_blas = pytest.mark.skipif(not _blas.found(), reason="no OpenBLAS under the kernels' gemm")


@needs_blas
def test_one_thread_sets_and_restores():
    before = _blas.threads()
    try:
        _blas.set_threads(2)
        assert _blas.threads() == 2
        with _blas.one_thread():
            assert _blas.threads() == 1
        assert _blas.threads() == 2
        with pytest.raises(ZeroDivisionError):        # restored on the way out of an error too
            with _blas.one_thread():
                1 / 0
        assert _blas.threads() == 2
    finally:
        _blas.set_threads(before)


def _blas_threads_after_import(numba_threads):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2", NUMBA_NUM_THREADS=str(numba_threads))
    code = "import minstn; from minstn.kernels.cpu import _blas; print(_blas.threads())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    return int(out.stdout.split()[-1])


@needs_blas
def test_several_numba_threads_put_blas_on_one():
    """With two Numba threads minstn shares the cores out itself and takes the BLAS to one
    thread at import; with one Numba thread it leaves the BLAS its threads."""
    assert _blas_threads_after_import(2) == 1
    assert _blas_threads_after_import(1) == 2


def test_import_prefers_openmp_unless_the_user_chose():
    """`import minstn` puts Numba's OpenMP layer first (kernels/cpu/_threads.py says why);
    NUMBA_THREADING_LAYER set by the user wins."""
    if importlib.util.find_spec("numba.np.ufunc.omppool") is None:
        pytest.skip("this Numba has no OpenMP threading layer")
    code = ("import numpy as np, numba, minstn\n"
            "from minstn.kernels import cpu\n"
            "x = np.ones((2, 2, 4, 4), np.float32)\n"
            "out, arg = np.empty((2, 2, 2, 2), np.float32), np.empty((2, 2, 2, 2), np.int64)\n"
            "cpu.max_pool2d_forward(x, out, arg, 2, 2, 2, 2)   # a parallel kernel runs\n"
            "print(numba.threading_layer())")
    layers = []
    for chosen in (None, "workqueue"):
        env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
        env["NUMBA_NUM_THREADS"] = "2"
        if chosen:
            env["NUMBA_THREADING_LAYER"] = chosen
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)
        layers.append(out.stdout.split()[-1])
    assert layers == ["omp", "workqueue"]


def test_lanes_only_when_they_can_pay(monkeypatch):
    """Work is dealt out to lanes only with several Numba threads, several units (conv's
    64 samples in chunks of 10 are 7 units, in chunks of 64 one), and a BLAS whose thread
    count minstn can set; never more lanes than units or threads."""
    monkeypatch.setattr(_threads, "parallel", lambda: True)
    monkeypatch.setattr(_threads.numba, "get_num_threads", lambda: 2)
    monkeypatch.setattr(_blas, "found", lambda: True)
    assert _threads.lanes(7) == 2
    assert _threads.lanes(1) == 0                  # one chunk: the loop, BLAS keeps its threads
    monkeypatch.setattr(_threads.numba, "get_num_threads", lambda: 8)
    assert _threads.lanes(3) == 3
    monkeypatch.setattr(_blas, "found", lambda: False)
    assert _threads.lanes(7) == 0
    monkeypatch.setattr(_blas, "found", lambda: True)
    monkeypatch.setattr(_threads, "parallel", lambda: False)
    assert _threads.lanes(7) == 0


def test_drive_runs_lanes_with_the_blas_on_one_thread(monkeypatch):
    """drive: the lanes kernel, given the lane count last and run with the BLAS on one
    thread (restored after), when the units can be dealt out; else the serial kernel."""
    blas = {"threads": 2}
    calls = []

    def serial(*args):
        calls.append(("serial", args, blas["threads"]))

    def in_lanes(*args):
        calls.append(("lanes", args, blas["threads"]))

    monkeypatch.setattr(_threads, "lanes", lambda units: 2 if units > 1 else 0)
    monkeypatch.setattr(_blas, "threads", lambda: blas["threads"])
    monkeypatch.setattr(_blas, "set_threads", lambda n: blas.update(threads=n))
    _threads.drive(5, serial, in_lanes, "x", 3)
    _threads.drive(1, serial, in_lanes, "x", 3)
    _threads.drive(5, serial, in_lanes, "x", 3, lanes_args=("wave",))   # the lanes' own args
    _threads.drive(1, serial, in_lanes, "x", 3, lanes_args=("wave",))
    assert calls == [("lanes", ("x", 3, 2), 1), ("serial", ("x", 3), 2),
                     ("lanes", ("x", 3, "wave", 2), 1), ("serial", ("x", 3), 2)]
    assert blas["threads"] == 2


def test_wave_bounds_the_held_parts(monkeypatch):
    """A conv backward's lanes hold the weight-gradient parts of `wave` chunks at once: all
    chunks when they fit in PARTS_ELEMENTS, else as many as fit, but never fewer than the
    Numba threads, nor more than the chunks, nor 0."""
    monkeypatch.setattr(_threads.numba, "get_num_threads", lambda: 2)
    cap = _threads.PARTS_ELEMENTS
    assert _threads.wave(7, 64 * 800) == 7                     # the demos: one wave
    assert _threads.wave(64, 512 * 512 * 9) == cap // (512 * 512 * 9)
    assert _threads.wave(64, 512 * 512 * 9) * 512 * 512 * 9 <= cap
    assert _threads.wave(64, cap) == 2                         # one part per thread, at least
    assert _threads.wave(1, cap * 4) == 1
    assert _threads.wave(0, 10) == 1
