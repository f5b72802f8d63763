"""Data sets and batching for the minstn demos.

Sub-modules (imported lazily, nothing is read at import time):

- :mod:`minstn.data.mnist` — MNIST digits: ``mnist.load("train")``.
- :mod:`minstn.data.physionet` — PhysioNet/CinC 2012 ICU mortality: ``physionet.load(("a",))``.
- :mod:`minstn.data.mimic3` — mimic3-benchmarks in-hospital mortality layout.
- :mod:`minstn.data.loader` — ``batches`` / ``BatchIterator`` for mini-batches.

Files are looked up in ``$MINSTN_DATA/<subdir>/`` (a folder containing ``mnist/`` and
``physionet2012/``), then in the cache ``$MINSTN_CACHE`` (default ``~/.cache/minstn``),
and downloaded into the cache otherwise.
"""
import importlib

__all__ = ["mnist", "physionet", "mimic3", "loader", "batches", "BatchIterator",
           "data_root", "cache_dir"]

_FROM = {"batches": "loader", "BatchIterator": "loader",
         "data_root": "_download", "cache_dir": "_download"}


def __getattr__(name):
    # `minstn.data.mnist` etc. work without an explicit import; nothing loads before first use
    if name in _FROM:
        return getattr(importlib.import_module(f".{_FROM[name]}", __name__), name)
    if not name.startswith("__"):
        try:
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
