"""MNIST handwritten digits (LeCun, Cortes & Burges), read from the standard IDX files.

    from minstn.data import mnist
    images, labels = mnist.load("train")     # uint8 (60000, 28, 28), int64 (60000,)
    tx, ty, vx, vy = mnist.split_train_val(images, labels, n_val=5000, seed=0)

Files (``mnist/<name>`` under ``$MINSTN_DATA``, else the cache, else downloaded):
``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``.

Every file is checked once per process: IDX magic number (2051 images / 2049
labels), header counts and sizes, and the MD5 of the *decompressed* bytes.
Decoded arrays are kept in memory, so repeated ``load`` calls are free; the
returned arrays are read-only views of that cache (copy before modifying them).
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np

from . import _download

__all__ = ["load", "split_train_val", "MIRRORS", "FILES"]

#: Mirrors tried in order when the files are neither in ``$MINSTN_DATA`` nor in the cache.
MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]

#: split -> (images file, labels file)
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

# file -> (MD5 of decompressed bytes, IDX magic, number of items)
_EXPECTED = {
    "train-images-idx3-ubyte.gz": ("6bbc9ace898e44ae57da46a324031adb", 2051, 60000),
    "train-labels-idx1-ubyte.gz": ("a25bea736e30d166cdddb491f175f624", 2049, 60000),
    "t10k-images-idx3-ubyte.gz": ("2646ac647ad5339dbf082846283269ea", 2051, 10000),
    "t10k-labels-idx1-ubyte.gz": ("27ae3e4e09519cfbb04c329615203637", 2049, 10000),
}

_FIX = ("delete the file so it is downloaded again (if it is in the cache), or point "
        "MINSTN_DATA at a folder whose mnist/ holds the original files")


def _decode(path: Path, name: str) -> np.ndarray:
    """Decompress and validate one IDX file; return uint8 (N, 28, 28) images or (N,) labels.

    Raises ValueError naming ``path`` with expected vs actual values on any mismatch.
    """
    md5, magic_expected, n_expected = _EXPECTED[name]
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: not a readable gzip file ({e}); expected the gzip-compressed "
                         f"IDX file {name}. To fix: {_FIX}.") from e
    if len(raw) < 8:
        raise ValueError(f"{path}: decompressed size {len(raw)} bytes is too small for an IDX "
                         f"header. To fix: {_FIX}.")
    magic = int.from_bytes(raw[0:4], "big")
    if magic != magic_expected:
        raise ValueError(f"{path}: bad IDX magic number: expected {magic_expected} "
                         f"({'images' if magic_expected == 2051 else 'labels'}), got {magic}. "
                         f"To fix: {_FIX}.")
    n = int.from_bytes(raw[4:8], "big")
    if magic == 2051:
        header = 16
        if len(raw) < header:
            raise ValueError(f"{path}: truncated IDX image header ({len(raw)} bytes). "
                             f"To fix: {_FIX}.")
        rows, cols = int.from_bytes(raw[8:12], "big"), int.from_bytes(raw[12:16], "big")
        if (rows, cols) != (28, 28):
            raise ValueError(f"{path}: expected 28x28 images, header says {rows}x{cols}. "
                             f"To fix: {_FIX}.")
        shape = (n, 28, 28)
    else:
        header = 8
        shape = (n,)
    if n != n_expected:
        raise ValueError(f"{path}: expected {n_expected} items, header says {n}. To fix: {_FIX}.")
    size_expected = header + int(np.prod(shape))
    if len(raw) != size_expected:
        raise ValueError(f"{path}: expected {size_expected} decompressed bytes, got {len(raw)}. "
                         f"To fix: {_FIX}.")
    digest = hashlib.md5(raw).hexdigest()
    if digest != md5:
        raise ValueError(f"{path}: MD5 of decompressed content is {digest}, expected {md5} "
                         f"(corrupted or modified file). To fix: {_FIX}.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _check_download(name: str):
    def check(tmp_path: Path) -> None:
        _decode(tmp_path, name)
    return check


@functools.lru_cache(maxsize=8)
def _load_file(path: str, name: str, size: int, mtime_ns: int) -> np.ndarray:
    # size/mtime are part of the key so a replaced file is re-read and re-checked
    arr = _decode(Path(path), name)
    # labels become int64; images are copied out of the decompressed bytes object
    arr = arr.astype(np.int64) if arr.ndim == 1 else arr.copy()
    arr.flags.writeable = False
    return arr


def _get(name: str) -> np.ndarray:
    path = _download.find_file("mnist", name, MIRRORS, _check_download(name))
    st = os.stat(path)
    return _load_file(str(path), name, st.st_size, st.st_mtime_ns)


def load(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Load one MNIST split.

    Args:
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000 images).

    Returns:
        ``(images, labels)``: images uint8 of shape (N, 28, 28) with values 0..255
        (row-major, white digit on black), labels int64 of shape (N,) in 0..9.
        Both arrays are read-only (shared with an in-process cache); use
        ``images.astype(np.float32) / 255`` or ``.copy()`` to get a writable array.

    Raises:
        ValueError: unknown ``split``, or a file fails its magic/size/MD5 check.
        minstn.data._download.DataNotFoundError: files missing and the download failed.
    """
    if split not in FILES:
        raise ValueError(f"mnist.load: split must be 'train' or 'test', got {split!r}")
    img_name, lbl_name = FILES[split]
    images = _get(img_name)
    labels = _get(lbl_name)
    if len(images) != len(labels):  # pragma: no cover - guarded by the per-file counts
        raise ValueError(f"mnist {split}: {len(images)} images but {len(labels)} labels")
    return images, labels


def split_train_val(images: np.ndarray, labels: np.ndarray, n_val: int = 5000, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split the TRAIN split into training and validation parts by a seeded permutation.

    Args:
        images: (N, ...) array (the training images from ``load("train")``).
        labels: (N,) array.
        n_val: number of validation samples (0 <= n_val <= N).
        seed: seed of the ``numpy.random.default_rng`` permutation.

    Returns:
        ``(train_x, train_y, val_x, val_y)`` with N - n_val and n_val samples (new arrays).
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    n = len(images)
    if len(labels) != n:
        raise ValueError(f"split_train_val: images has {n} samples but labels has {len(labels)}")
    if not 0 <= n_val <= n:
        raise ValueError(f"split_train_val: n_val must be in [0, {n}], got {n_val}")
    perm = np.random.default_rng(seed).permutation(n)
    val_idx, train_idx = perm[:n_val], perm[n_val:]
    return images[train_idx], labels[train_idx], images[val_idx], labels[val_idx]
