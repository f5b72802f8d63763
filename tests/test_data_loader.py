"""Tests for minstn.data.loader."""
import numpy as np
import pytest

from minstn.data.loader import BatchIterator, batches


def _epoch(n, bs, **kw):
    return list(batches(n, bs, **kw))


def test_every_index_once_per_epoch():
    for n, bs in [(10, 3), (64, 64), (65, 64), (1, 5), (0, 4)]:
        idx = _epoch(n, bs, seed=0)
        flat = np.concatenate(idx) if idx else np.zeros(0, int)
        assert sorted(flat.tolist()) == list(range(n))
        assert all(len(b) == bs for b in idx[:-1])
        assert len(idx) == -(-n // bs)
        assert all(b.dtype == np.int64 for b in idx)


def test_deterministic_for_seed_and_different_across_seeds():
    a = np.concatenate(_epoch(100, 7, seed=1))
    b = np.concatenate(_epoch(100, 7, seed=1))
    c = np.concatenate(_epoch(100, 7, seed=2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_no_shuffle_and_drop_last():
    idx = _epoch(10, 4, shuffle=False)
    assert [b.tolist() for b in idx] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    idx = _epoch(10, 4, shuffle=False, drop_last=True)
    assert [b.tolist() for b in idx] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(_epoch(10, 4, seed=0, drop_last=True)) == 2


def test_generator_is_consumed_across_epochs():
    rng = np.random.default_rng(5)
    e1 = np.concatenate(_epoch(50, 8, seed=rng))
    e2 = np.concatenate(_epoch(50, 8, seed=rng))
    assert not np.array_equal(e1, e2)
    rng = np.random.default_rng(5)
    assert np.array_equal(np.concatenate(_epoch(50, 8, seed=rng)), e1)


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        _epoch(10, 0)
    with pytest.raises(ValueError, match="n must"):
        _epoch(-1, 2)


def test_batch_iterator_yields_aligned_slices():
    x = np.arange(23 * 2).reshape(23, 2)
    y = np.arange(23)
    it = BatchIterator(x, y, batch_size=5, seed=3)
    assert len(it) == 5
    e1 = list(it)
    assert all(isinstance(b, tuple) and len(b) == 2 for b in e1)
    assert all(np.array_equal(xb[:, 0] // 2, yb) for xb, yb in e1)
    assert sorted(np.concatenate([yb for _, yb in e1]).tolist()) == list(range(23))
    e2 = list(it)                                  # new permutation each epoch
    assert not np.array_equal(np.concatenate([b[1] for b in e1]),
                              np.concatenate([b[1] for b in e2]))
    again = BatchIterator(x, y, batch_size=5, seed=3)   # same seed: same sequence of epochs
    for ea in (e1, e2):
        for (xa, ya), (xb, yb) in zip(ea, list(again)):
            assert np.array_equal(ya, yb) and np.array_equal(xa, xb)
    single = list(BatchIterator(y, batch_size=10, shuffle=False, drop_last=True))
    assert [b[0].tolist() for b in single] == [list(range(10)), list(range(10, 20))]


def test_batch_iterator_checks_lengths():
    with pytest.raises(ValueError, match="same first dimension"):
        BatchIterator(np.zeros(3), np.zeros(4), batch_size=2)
    with pytest.raises(ValueError, match="at least one"):
        BatchIterator(batch_size=2)


def test_progress_bar_does_not_change_batches():
    a = [b.tolist() for b in batches(20, 6, seed=0, progress=True, desc="test")]
    b = [b.tolist() for b in batches(20, 6, seed=0)]
    assert a == b
