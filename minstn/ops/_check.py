"""Argument checks shared by the ops: errors name the argument, expected vs given."""
import numpy as np

from ..autograd.tensor import Tensor
from ..kernels import backend, is_device_array


def tensor_like(name, x, ndim=None, dtype=None):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a minstn.Tensor, got {type(x).__name__}")
    if ndim is not None and x.ndim not in ((ndim,) if isinstance(ndim, int) else ndim):
        raise ValueError(f"{name} must be {ndim}-d, got shape {x.shape}")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"{name} must have dtype {np.dtype(dtype)} (same as the input), "
                        f"got {x.dtype}")
    return x


def float_tensor(name, x, ndim=None, dtype=None):
    tensor_like(name, x, ndim, dtype)
    if x.dtype.kind != "f":
        raise TypeError(f"{name} must be float32 or float64, got {x.dtype}")
    return x


def c(a):
    """C-contiguous view or copy, as the kernels expect (NumPy or device array)."""
    if isinstance(a, np.ndarray) and a.ndim and a.flags.c_contiguous:
        return a                        # the common case, without a call into NumPy
    if not is_device_array(a):
        return np.ascontiguousarray(a)
    return backend("cuda").contiguous(a)


def empty(dtype, device="cpu", ndim=1):
    """A size-0 array of `ndim` axes on `device`: tells a kernel to skip an optional input
    or gradient (give it the skipped array's ndim, so that the kernel types as for a real one)."""
    if device == "cpu":
        return np.zeros((0,) * ndim, dtype)
    return backend(device).skip(dtype, ndim)
