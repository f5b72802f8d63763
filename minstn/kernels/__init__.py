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


_backends = {}          # device -> its kernel module, imported on first use


def backend(device: str):
    """The kernel namespace for `device` ("cpu" or "cuda")."""
    be = _backends.get(device)          # every op asks, several times: a dict look-up
    if be is None:
        if device not in ("cpu", "cuda"):
            raise ValueError(f"unknown device {device!r}")
        be = _backends[device] = importlib.import_module("." + device, __name__)
    return be
