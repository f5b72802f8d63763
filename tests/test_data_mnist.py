"""Tests for minstn.data.mnist and the shared download helpers (minstn.data._download)."""
import gzip
import io
import os
import struct
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from minstn.data import _download, mnist

REPO = Path(__file__).resolve().parents[1]
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _env_data_root():
    """MINSTN_DATA resolved against the cwd, then the repo root (CI uses ../shared/data)."""
    value = os.environ.get("MINSTN_DATA")
    if not value:
        return None
    for base in (Path.cwd(), REPO):
        p = (base / value).resolve()
        if p.is_dir():
            return p
    return None


def _real_mnist_dir():
    root = _env_data_root()
    if root is not None and (root / "mnist" / "t10k-labels-idx1-ubyte.gz").is_file():
        return root / "mnist"
    cached = _download.cache_dir() / "mnist"
    if os.environ.get("MINSTN_DATA") is None and (cached / "t10k-labels-idx1-ubyte.gz").is_file():
        return cached
    return None


REAL = _real_mnist_dir()
needs_real = pytest.mark.skipif(REAL is None, reason="real MNIST not available: set MINSTN_DATA "
                                "to the folder holding mnist/ (CI: MINSTN_DATA=../shared/data)")


class FakeResponse:
    def __init__(self, data: bytes):
        self._buf = io.BytesIO(data)
        self.headers = {"Content-Length": str(len(data))}

    def read(self, n=-1):
        return self._buf.read(n)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def make_opener(table, calls):
    """Opener serving bytes from ``table[url]``; a missing URL or an exception value fails."""
    def opener(url, timeout=None):
        calls.append(url)
        item = table.get(url)
        if item is None:
            raise urllib.error.URLError("no network in tests")
        if isinstance(item, Exception):
            raise item
        return FakeResponse(item)
    return opener


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No MINSTN_DATA, an empty cache in tmp, and no network."""
    monkeypatch.delenv("MINSTN_DATA", raising=False)
    monkeypatch.setenv("MINSTN_CACHE", str(tmp_path / "cache"))
    calls = []
    monkeypatch.setattr(_download, "urlopen", make_opener({}, calls))
    return tmp_path


def _gz(raw: bytes) -> bytes:
    return gzip.compress(raw, mtime=0)


# ------------------------------------------------------------------ real data
@needs_real
def test_load_real_train_and_test(monkeypatch):
    monkeypatch.setattr(_download, "urlopen", make_opener({}, []))  # must not download
    x, y = mnist.load("train")
    assert x.shape == (60000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (60000,) and y.dtype == np.int64
    assert np.bincount(y, minlength=10).tolist() == TRAIN_COUNTS
    assert 0 < x.mean() < 255 and x.max() == 255
    tx, ty = mnist.load("test")
    assert tx.shape == (10000, 28, 28) and ty.shape == (10000,)
    assert np.bincount(ty, minlength=10).tolist() == TEST_COUNTS
    # cached in memory: same read-only arrays returned again
    x2, y2 = mnist.load("train")
    assert x2 is x and y2 is y
    assert not x.flags.writeable and not y.flags.writeable


@needs_real
def test_split_train_val_on_real():
    x, y = mnist.load("train")
    tx, ty, vx, vy = mnist.split_train_val(x, y, n_val=5000, seed=0)
    assert tx.shape == (55000, 28, 28) and vx.shape == (5000, 28, 28)
    assert ty.shape == (55000,) and vy.shape == (5000,)
    assert np.bincount(np.concatenate([ty, vy]), minlength=10).tolist() == TRAIN_COUNTS
    assert tx.flags.writeable  # returned arrays are copies, so they can be modified
    tx[0, 0, 0] = 1


def test_split_train_val_is_seeded_permutation():
    x = np.arange(100)[:, None] * np.ones((1, 3))
    y = np.arange(100)
    a = mnist.split_train_val(x, y, n_val=20, seed=3)
    b = mnist.split_train_val(x, y, n_val=20, seed=3)
    c = mnist.split_train_val(x, y, n_val=20, seed=4)
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not np.array_equal(a[3], c[3])
    tx, ty, vx, vy = a
    assert len(ty) == 80 and len(vy) == 20
    assert sorted(np.concatenate([ty, vy]).tolist()) == list(range(100))
    assert np.array_equal(tx[:, 0], ty) and np.array_equal(vx[:, 0], vy)
    with pytest.raises(ValueError, match="n_val"):
        mnist.split_train_val(x, y, n_val=101)


def test_bad_split_name():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        mnist.load("val")


# ------------------------------------------------------------------ corrupted files
def _labels_raw(n=10000, fill=0):
    return struct.pack(">ii", 2049, n) + bytes([fill]) * n


def test_bad_magic_names_file_expected_and_actual(isolated, monkeypatch):
    d = isolated / "data" / "mnist"
    d.mkdir(parents=True)
    (d / "t10k-images-idx3-ubyte.gz").write_bytes(_gz(struct.pack(">iiii", 1234, 10000, 28, 28)))
    monkeypatch.setenv("MINSTN_DATA", str(isolated / "data"))
    with pytest.raises(ValueError) as e:
        mnist.load("test")
    msg = str(e.value)
    assert "t10k-images-idx3-ubyte.gz" in msg and "magic" in msg
    assert "2051" in msg and "1234" in msg
    assert "MINSTN_DATA" in msg and "delete" in msg


def test_wrong_count_and_checksum(isolated, monkeypatch):
    d = isolated / "data" / "mnist"
    d.mkdir(parents=True)
    monkeypatch.setenv("MINSTN_DATA", str(isolated / "data"))
    # the real test images pass only if available; use the label file for both checks
    labels = d / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(_gz(_labels_raw(n=7)))
    with pytest.raises(ValueError, match=r"expected 10000 items, header says 7"):
        mnist._decode(labels, labels.name)
    labels.write_bytes(_gz(_labels_raw()[:-5]))
    with pytest.raises(ValueError, match=r"expected 10008 decompressed bytes, got 10003"):
        mnist._decode(labels, labels.name)
    labels.write_bytes(_gz(_labels_raw()))
    with pytest.raises(ValueError, match="MD5") as e:
        mnist._decode(labels, labels.name)
    assert "27ae3e4e09519cfbb04c329615203637" in str(e.value)
    labels.write_bytes(b"this is not gzip")
    with pytest.raises(ValueError, match="gzip"):
        mnist._decode(labels, labels.name)


# ------------------------------------------------------------------ downloads
def test_fetch_tries_mirrors_and_checks(isolated, monkeypatch):
    calls = []
    table = {"https://m1/x.bin": b"corrupt", "https://m2/x.bin": b"good bytes"}
    monkeypatch.setattr(_download, "urlopen", make_opener(table, calls))

    def check(p):
        if Path(p).read_bytes() != b"good bytes":
            raise ValueError("checksum mismatch")

    dest = isolated / "cache" / "sub" / "x.bin"
    out = _download.fetch("x.bin", ["https://m1/x.bin", "https://m2/x.bin"], dest, check)
    assert out == dest and dest.read_bytes() == b"good bytes"
    assert calls == ["https://m1/x.bin", "https://m2/x.bin"]
    assert [p.name for p in dest.parent.iterdir()] == ["x.bin"]  # no temp files left


def test_fetch_all_fail_lists_urls(isolated):
    dest = isolated / "cache" / "x.bin"
    with pytest.raises(_download.DataNotFoundError) as e:
        _download.fetch("x.bin", ["https://a/x.bin", "https://b/x.bin"], dest,
                        opener=make_opener({}, []))
    msg = str(e.value)
    assert "https://a/x.bin" in msg and "https://b/x.bin" in msg and "URLError" in msg
    assert "MINSTN_DATA=<folder containing mnist/ and physionet2012/>" in msg
    assert str(isolated / "cache") in msg
    assert not dest.exists()


@pytest.mark.skipif(REAL is None, reason="needs the real MNIST test files to serve locally")
def test_mnist_download_path_with_fake_opener(isolated, monkeypatch):
    calls = []
    table = {}
    for name in mnist.FILES["test"]:
        # first mirror serves garbage (fails the check), second mirror serves the real file
        table[mnist.MIRRORS[0] + name] = b"garbage"
        table[mnist.MIRRORS[1] + name] = (REAL / name).read_bytes()
    monkeypatch.setattr(_download, "urlopen", make_opener(table, calls))
    x, y = mnist.load("test")
    assert x.shape == (10000, 28, 28) and np.bincount(y).tolist() == TEST_COUNTS
    for name in mnist.FILES["test"]:
        assert (isolated / "cache" / "mnist" / name).is_file()
    assert calls == [m + n for n in mnist.FILES["test"] for m in mnist.MIRRORS[:2]]
    calls.clear()
    mnist.load("test")  # now found in the cache
    assert calls == []


def test_no_data_no_network_mentions_minstn_data(isolated):
    with pytest.raises(_download.DataNotFoundError) as e:
        mnist.load("test")
    msg = str(e.value)
    assert "MINSTN_DATA" in msg and str(isolated / "cache") in msg
    for m in mnist.MIRRORS:
        assert m in msg


def test_minstn_data_missing_file_falls_back_and_says_so(isolated, monkeypatch):
    (isolated / "data").mkdir()
    monkeypatch.setenv("MINSTN_DATA", str(isolated / "data"))
    with pytest.raises(_download.DataNotFoundError) as e:
        mnist.load("test")
    assert "does not exist" in str(e.value) and "MINSTN_DATA" in str(e.value)


def test_minstn_data_not_a_folder(isolated, monkeypatch):
    monkeypatch.setenv("MINSTN_DATA", str(isolated / "nope"))
    with pytest.raises(FileNotFoundError, match="MINSTN_DATA"):
        _download.data_root()
    monkeypatch.setenv("MINSTN_DATA", "")
    assert _download.data_root() is None


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MINSTN_CACHE", str(tmp_path))
    assert _download.cache_dir() == tmp_path.resolve()
    monkeypatch.delenv("MINSTN_CACHE")
    assert _download.cache_dir() == Path.home() / ".cache" / "minstn"


def test_import_is_lazy():
    import importlib
    import sys
    pkg = importlib.import_module("minstn.data")
    assert pkg.loader.batches is pkg.batches
    assert "minstn.data.loader" in sys.modules
