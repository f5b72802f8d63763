"""Compute kernels, one module per op family, for each device.

`kernels/cpu/<op>.py` holds `numba.njit` kernels and `kernels/cuda/<op>.py`
their `numba.cuda.jit` twins with the same public names. Kernels take arrays and
write into a given `out`; they never see a `Tensor`. Per-element maths shared by
both lives in `kernels/_scalar.py`. Nothing here compiles at import time:
Numba compiles a kernel on its first call (and caches it on disk).
"""
import importlib


def is_device_array(x) -> bool:
    """True for a numba CUDA device array (or the simulator's stand-in), False for NumPy."""
    return bool(getattr(x, "__cuda_ndarray__", False))


def backend(device: str):
    """The kernel namespace for `device` ("cpu" or "cuda")."""
    if device == "cpu":
        from . import cpu
        return cpu
    if device == "cuda":
        return importlib.import_module(".cuda", __name__)
    raise ValueError(f"unknown device {device!r}")
