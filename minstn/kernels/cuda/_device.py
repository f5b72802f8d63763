"""The per-element maths of `kernels/_scalar.py`, compiled as CUDA device functions.

Each `@scalar` function in `_scalar.py` is a CPU `numba.njit` dispatcher whose
Python source (`py_func`) we compile a second time with `cuda.jit(device=True)`.
Functions that call each other (e.g. `source_index` calls `unnormalize`) must
call the CUDA versions, so every function is rebuilt with a globals dict in
which the other scalar functions are replaced by their device twins:

    from ._device import d
    d.source_index(...)      # inside a cuda.jit kernel

Under `NUMBA_ENABLE_CUDASIM=1` the same objects run as plain Python.
"""
import types

from numba import cuda

from .. import _scalar


def _compile_all():
    names = [n for n, f in vars(_scalar).items() if hasattr(f, "py_func")
             and getattr(f.py_func, "__module__", None) == _scalar.__name__]
    env = dict(vars(_scalar))          # math, numba, ... stay; scalar functions get swapped
    out = {}
    for n in names:
        py = _scalar.__dict__[n].py_func
        fn = types.FunctionType(py.__code__, env, n, py.__defaults__, py.__closure__)
        out[n] = cuda.jit(device=True, inline=True)(fn)
    env.update(out)                    # late binding: calls resolve when a kernel compiles
    mod = types.ModuleType(__name__ + ".d")   # a module: Numba's CUDA compiler can type
    mod.__dict__.update(out)                  # `d.name` on a module global, not on a namespace
    return mod


d = _compile_all()
