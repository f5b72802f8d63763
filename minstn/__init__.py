"""minstn: a from-scratch NumPy/Numba framework for learning Spatial Transformer Networks.

    import minstn
    import minstn.functional as F
    x = minstn.Tensor(np.random.rand(2, 1, 28, 28), requires_grad=True)

Importing compiles nothing: Numba kernels compile (or load from their on-disk
cache) on first use.
"""
from .autograd import Tensor, Function, no_grad, is_grad_enabled, gradcheck
from .ops.basic import cat, stack
from .device import cuda_available
from . import random

__version__ = "0.1.0"

__all__ = ["Tensor", "Function", "no_grad", "is_grad_enabled", "gradcheck", "cat", "stack",
           "cuda_available", "save", "load", "__version__"]


def __getattr__(name):
    # save/load live in serialization; imported lazily to keep `import minstn` light
    if name in ("save", "load"):
        from . import serialization
        return getattr(serialization, name)
    raise AttributeError(f"module 'minstn' has no attribute {name!r}")
