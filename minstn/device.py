"""Device names and the check that a requested device exists.

"cpu" always works. "cuda" needs numba.cuda to find a GPU, or the Numba CUDA
simulator (`NUMBA_ENABLE_CUDASIM=1`, runs kernels on the CPU; slow, for tests).
There is no silent fallback: asking for a device that is not there raises.
"""
import os

DEVICES = ("cpu", "cuda")


def default_device() -> str:
    """`$MINSTN_DEVICE` or "cpu"."""
    return check_device(os.environ.get("MINSTN_DEVICE", "cpu"))


def cuda_available() -> bool:
    try:
        from numba import cuda
    except ImportError:  # pragma: no cover - numba is a hard dependency
        return False
    return bool(cuda.is_available())


def check_device(device) -> str:
    """Return the canonical device name or raise if it cannot be used."""
    name = str(device).lower()
    if name.startswith("cuda:"):
        name = "cuda"
    if name not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if name == "cuda" and not cuda_available():
        raise RuntimeError(
            "device='cuda' was asked for but numba.cuda finds no GPU. To run the CUDA "
            "kernels on the CPU for testing, set NUMBA_ENABLE_CUDASIM=1 before starting "
            "Python; otherwise use device='cpu'.")
    return name
