"""Checkpoints as `.npz`: a dict of name → array, written atomically."""
from __future__ import annotations

import os
import tempfile

import numpy as np


def save(state_dict, path) -> None:
    """Write `state_dict` (name → array) to `path` (.npz) via a temp file and rename,
    so a crash never leaves a half-written checkpoint."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    arrays = {k: np.asarray(getattr(v, "data", v)) for k, v in state_dict.items()}
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
