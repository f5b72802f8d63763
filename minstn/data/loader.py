"""Mini-batch iteration over in-memory arrays.

    from minstn.data.loader import batches, BatchIterator

    for idx in batches(len(x), 64, seed=0):          # idx: int64 (<=64,)
        step(x[idx], y[idx])

    it = BatchIterator(x, y, batch_size=64, seed=0)   # one pass over the data per `for`
    for epoch in range(10):
        for xb, yb in it:                             # new permutation each epoch
            step(xb, yb)

Randomness comes from a ``numpy.random.Generator``: pass an int seed for
reproducible order, an existing Generator to share one stream, or None for
fresh OS entropy.
"""
from __future__ import annotations

from typing import Iterator, Optional, Union

import numpy as np

__all__ = ["batches", "BatchIterator", "as_generator"]

SeedLike = Union[None, int, np.random.Generator, np.random.SeedSequence]


def as_generator(seed: SeedLike) -> np.random.Generator:
    """Return ``seed`` if it is a Generator, else ``np.random.default_rng(seed)``."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def _check_args(n: int, batch_size: int) -> None:
    if int(n) != n or n < 0:
        raise ValueError(f"batches: n must be a non-negative integer, got {n!r}")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batches: batch_size must be a positive integer, got {batch_size!r}")


def _num_batches(n: int, batch_size: int, drop_last: bool) -> int:
    return n // batch_size if drop_last else -(-n // batch_size)


def batches(n: int, batch_size: int, *, shuffle: bool = True, seed: SeedLike = None,
            drop_last: bool = False, progress: bool = False, desc: Optional[str] = None
            ) -> Iterator[np.ndarray]:
    """Yield index arrays that together cover ``range(n)`` once (one epoch).

    Args:
        n: number of samples.
        batch_size: indices per batch; the last batch may be smaller.
        shuffle: random order (from ``seed``) if True, else ``0, 1, ..., n-1``.
        seed: int, ``np.random.Generator`` (consumed: successive calls give new orders),
            or None (fresh entropy).
        drop_last: drop the final incomplete batch (then ``n % batch_size`` samples are
            skipped this epoch).
        progress: wrap in a tqdm progress bar.
        desc: label for the progress bar.

    Yields:
        int64 arrays of shape (batch_size,) (the last one possibly shorter).
    """
    _check_args(n, batch_size)
    n, batch_size = int(n), int(batch_size)
    order = as_generator(seed).permutation(n) if shuffle else np.arange(n, dtype=np.int64)
    order = order.astype(np.int64, copy=False)
    starts = range(0, _num_batches(n, batch_size, drop_last) * batch_size, batch_size)
    if progress:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc=desc, leave=False)
    for s in starts:
        yield order[s:s + batch_size]


class BatchIterator:
    """Iterate over aligned arrays in mini-batches, yielding tuples of slices.

    Args:
        *arrays: arrays with the same first dimension N (e.g. ``x`` (N, ...) and ``y`` (N,)).
        batch_size: samples per batch.
        shuffle: reshuffle at the start of every pass.
        seed: int / Generator / None; the Generator is created once, so each pass (epoch)
            gets a new permutation, and the sequence of epochs is reproducible for an int seed.
        drop_last: drop the last incomplete batch.
        progress: show a tqdm bar per pass.

    Iterating yields ``tuple(a[idx] for a in arrays)`` for each batch of indices ``idx``
    (a single array is still yielded as a 1-tuple).  ``len(it)`` is the number of batches
    per pass.
    """

    def __init__(self, *arrays, batch_size: int, shuffle: bool = True, seed: SeedLike = None,
                 drop_last: bool = False, progress: bool = False, desc: Optional[str] = None):
        if not arrays:
            raise ValueError("BatchIterator: give at least one array")
        lengths = [len(a) for a in arrays]
        if len(set(lengths)) != 1:
            raise ValueError(f"BatchIterator: all arrays must have the same first dimension, "
                             f"got lengths {lengths}")
        _check_args(lengths[0], batch_size)
        self.arrays = arrays
        self.n = lengths[0]
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.progress = progress
        self.desc = desc
        self.rng = as_generator(seed)

    def __len__(self) -> int:
        return _num_batches(self.n, self.batch_size, self.drop_last)

    def __iter__(self):
        for idx in batches(self.n, self.batch_size, shuffle=self.shuffle, seed=self.rng,
                           drop_last=self.drop_last, progress=self.progress, desc=self.desc):
            yield tuple(a[idx] for a in self.arrays)
