"""Checkpoints as `.npz`: name → array, written atomically (temp file + rename).

    minstn.save(model.state_dict(), "w.npz");  model.load_state_dict(minstn.load("w.npz"))
    minstn.save_model(model, "m.npz");         model = minstn.load_model("m.npz")

`save_model` adds one entry, `__model__`: a JSON string naming the model's class
(`module.Class`) and the keyword arguments that rebuild it (`model.config`), so
`load_model` needs nothing but the file. No pickle is involved: a checkpoint
cannot run code, and a class is only looked up under the `minstn` package.
"""
from __future__ import annotations

import importlib
import json
import os
import tempfile
import zipfile

import numpy as np

from .kernels import is_device_array

MODEL_KEY = "__model__"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model; the message names the file."""


def _host(v) -> np.ndarray:
    """A state value (Tensor, device array or array-like) as a host np.ndarray."""
    if hasattr(v, "numpy"):
        return np.asarray(v.numpy())
    if is_device_array(v):
        return v.copy_to_host()
    return np.asarray(v)


def save(state_dict, path) -> None:
    """Write `state_dict` (name → array or Tensor, on any device) to `path` (.npz) via a
    temp file and rename, so a crash never leaves a half-written checkpoint."""
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
    """Read a checkpoint written by `save`: name → ndarray (a `save_model` file's
    `__model__` entry included, as a 0-d string array).

    Raises FileNotFoundError for a missing file and CheckpointError, naming the file,
    for one that is truncated or not an .npz checkpoint."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint {path!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise CheckpointError(f"checkpoint {path!r} holds a single array, not an .npz "
                                      "archive of named arrays (minstn.save writes those)")
            return {k: z[k] for k in z.files}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        size = os.path.getsize(path)
        raise CheckpointError(
            f"checkpoint {path!r} ({size:,} bytes) cannot be read: {e}. It is truncated or "
            "not a minstn checkpoint (.npz); write it again with minstn.save / "
            "minstn.save_model, or train again") from e


def save_model(model, path, **meta) -> None:
    """Write `model`'s weights and how to rebuild it: its class and `model.config`
    (the constructor's keyword arguments; the model classes of `minstn.models` keep it).
    meta: extra JSON-able facts stored beside them (e.g. the validation accuracy)."""
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise TypeError(f"save_model: {type(model).__name__} has no `config` dict of constructor "
                        "arguments; save its state_dict with minstn.save instead")
    cls = type(model)
    header = {"class": f"{cls.__module__}.{cls.__qualname__}", "config": config, "meta": meta}
    state = dict(model.state_dict())
    state[MODEL_KEY] = np.array(json.dumps(header))
    save(state, path)


def model_header(path) -> dict:
    """The `__model__` entry of a save_model checkpoint: {"class", "config", "meta"}."""
    state = load(path)
    return _header(state, os.fspath(path))


def _header(state, path) -> dict:
    if MODEL_KEY not in state:
        raise CheckpointError(f"checkpoint {path!r} holds weights only (no {MODEL_KEY!r} entry): "
                              "build the model as it was trained and call "
                              "model.load_state_dict(minstn.load(path))")
    return json.loads(str(state.pop(MODEL_KEY)))


def _model_class(name, path):
    from .nn import Module
    module, _, cls = name.rpartition(".")
    if not (module == "minstn" or module.startswith("minstn.")):
        raise CheckpointError(f"checkpoint {path!r} names class {name!r}, outside the minstn "
                              "package; load_model only builds minstn's own classes")
    try:
        found = getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError):
        found = None
    if not (isinstance(found, type) and issubclass(found, Module)):
        raise CheckpointError(f"checkpoint {path!r} names class {name!r}, which this version of "
                              "minstn does not have")
    return found


def load_model(path, device="cpu"):
    """Rebuild the model saved by `save_model` at `path` and load its weights; on `device`.

    Errors name the file: a truncated file, a weights-only checkpoint, an unknown class,
    and weights that do not fit the rebuilt model (missing, unexpected, or which
    parameter has which shape)."""
    path = os.fspath(path)
    state = load(path)
    header = _header(state, path)
    cls = _model_class(header["class"], path)
    model = cls(**header["config"])
    try:
        model.load_state_dict(state)
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path!r} does not fit {header['class']}"
                              f"({header['config']}): {e.args[0]}") from e
    return model.to(device)
