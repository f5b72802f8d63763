"""Checkpoints as `.npz`: a dict of name → array, written atomically."""
from __future__ import annotations

import os
import tempfile

import numpy as np

from .kernels import is_device_array


def _host(v) -> np.ndarray:
    """A state value (Tensor, device array or array-like) as a host np.ndarray."""
    if hasattr(v, "numpy"):
        return np.asarray(v.numpy())
    if is_device_array(v):
        return v.copy_to_host()
    return np.asarray(v)


def save(state_dict, path) -> None:
    """Write `state_dict` (name → array or Tensor, on any device) to `path` (.npz) via a
    temp file and rename,
    so a crash never leaves a half-written checkpoint."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    arrays = {k: _host(v) for k, v in state_dict.items()}
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path) -> dict:
    """Read a checkpoint written by `save`: name → ndarray."""
    with np.load(os.fspath(path), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
