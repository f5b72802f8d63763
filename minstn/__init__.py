"""minstn: a from-scratch NumPy/Numba framework for learning Spatial Transformer Networks.

    import minstn
    import minstn.functional as F
    x = minstn.Tensor(np.random.rand(2, 1, 28, 28), requires_grad=True)

Importing compiles nothing: Numba kernels compile (or load from their on-disk
cache) on first use.
"""
import os as _os

import numba as _numba

# Numba's threading layer: OpenMP first. With several Numba threads minstn's kernels
# split their work over Numba's threads and keep the BLAS on one thread
# (kernels/cpu/_threads.py), and OpenMP's caller takes a share of each parallel loop and
# finds its worker still awake; "workqueue" hands every loop to sleeping workers. On the
# 2-core VM the experiment-1 ST-CNN step on 2 threads took 24 ms with "omp" against
# 31-33 with "workqueue" (docs/performance.md). (Before the BLAS was kept on one thread,
# OpenMP's spinning workers took the cores from OpenBLAS's and "workqueue" was the
# faster.) A layer chosen with NUMBA_THREADING_LAYER wins; it must be set before the
# first parallel kernel runs.
if "NUMBA_THREADING_LAYER" not in _os.environ:
    _numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]
    _numba.config.THREADING_LAYER = "default"

# glibc gives a step's freed arrays back to the kernel, and the next step faults them
# back in page by page; keep them in the process instead (minstn/_malloc.py).
# MINSTN_MALLOC=system leaves glibc's defaults.
from ._malloc import keep_freed_memory as _keep_freed_memory  # noqa: E402

_keep_freed_memory()

from .autograd import Tensor, Function, no_grad, is_grad_enabled, gradcheck  # noqa: E402
from .ops.basic import cat, stack  # noqa: E402
from .device import cuda_available  # noqa: E402
from . import random  # noqa: E402

__version__ = "0.1.0"

__all__ = ["Tensor", "Function", "no_grad", "is_grad_enabled", "gradcheck", "cat", "stack",
           "cuda_available", "save", "load", "save_model", "load_model", "__version__"]


_SUBMODULES = ("nn", "optim", "functional", "data", "models", "train", "experiment",
               "serialization")


def __getattr__(name):
    # minstn.nn, minstn.optim, ... as attributes without an explicit import (as torch.nn);
    # imported on first use so that `import minstn` stays light
    if name in _SUBMODULES:
        import importlib
        return importlib.import_module(f".{name}", __name__)
    # save/load live in serialization; imported lazily to keep `import minstn` light
    if name in ("save", "load", "save_model", "load_model"):
        from . import serialization
        return getattr(serialization, name)
    raise AttributeError(f"module 'minstn' has no attribute {name!r}")
