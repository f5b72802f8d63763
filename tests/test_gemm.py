"""gemm, the kernels' matrix product (kernels/cpu/_gemm.py): NumPy's OpenBLAS when found,
SciPy's through Numba otherwise (MINSTN_BLAS=scipy), both behind one call that takes
views through their row stride."""
import os
import subprocess
import sys

import numpy as np
import pytest
from numba import config

from minstn.kernels.cpu import _blas, _gemm
from minstn.kernels.cpu._gemm import gemm

SHAPES = [(5, 7, 3), (1, 9, 4), (6, 1, 5), (4, 6, 1), (64, 48, 33)]     # (M, N, K)


def _operands(rng, m, n, k, ta, tb, dtype):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    return a, b


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float64, 1e-13)])
def test_gemm_is_the_product_for_every_transpose(dtype, tol):
    rng = np.random.default_rng(0)
    for m, n, k in SHAPES:
        for ta in (False, True):
            for tb in (False, True):
                a, b = _operands(rng, m, n, k, ta, tb, dtype)
                out = np.full((m, n), np.nan, dtype)
                gemm(a, ta, b, tb, out)
                want = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b)
                np.testing.assert_allclose(out, want, rtol=tol, atol=tol * np.abs(want).max())


def test_gemm_reads_and_writes_views_through_their_row_stride():
    """Row blocks and column blocks of bigger arrays, as the LSTM's and conv's buffers
    hand them over: no copy, the rows around them untouched."""
    rng = np.random.default_rng(1)
    big = rng.standard_normal((10, 20)).astype(np.float32)
    w = rng.standard_normal((8, 5)).astype(np.float32)
    out = np.zeros((12, 30), np.float32)
    gemm(big[2:9, 3:8], False, w, True, out[1:8, 4:12])        # (7, 5) @ (5, 8)
    want = big[2:9, 3:8].astype(np.float64) @ w.T
    np.testing.assert_allclose(out[1:8, 4:12], want, rtol=1e-5, atol=1e-5)
    out[1:8, 4:12] = 0
    assert not out.any()
    gemm(big[2:9, 3:8], True, big[2:9, 10:16], False, out[:5, :6])   # (5, 7) @ (7, 6)
    np.testing.assert_allclose(out[:5, :6], big[2:9, 3:8].T.astype(np.float64) @ big[2:9, 10:16],
                               rtol=1e-5, atol=1e-5)


def test_gemm_with_empty_sides():
    """K = 0: out is zeros (an empty sum); M or N = 0: nothing to write."""
    out = np.full((3, 4), 7.0)
    gemm(np.empty((3, 0)), False, np.empty((0, 4)), False, out)
    assert (out == 0).all()
    gemm(np.empty((0, 2)), False, np.ones((2, 4)), False, np.empty((0, 4)))


@pytest.mark.skipif(config.DISABLE_JIT, reason="the checks belong to the jitted gemm")
def test_gemm_refuses_what_blas_cannot_read():
    a, b = np.ones((3, 4)), np.ones((4, 5))
    with pytest.raises(ValueError, match="shapes"):
        gemm(a, False, b, False, np.empty((3, 4)))
    with pytest.raises(ValueError, match="last axis"):
        gemm(np.ones((3, 8))[:, ::2], False, b, False, np.empty((3, 5)))
    with pytest.raises(ValueError, match="one dtype"):
        gemm(a.astype(np.float32), False, b.astype(np.float32), False, np.empty((3, 5)))


CODE = r"""
import numpy as np
from minstn.kernels import cpu as K
from minstn.kernels.cpu import _blas, _gemm
rng = np.random.default_rng(0)
N, T, D, H = 4, 6, 5, 3
x = rng.standard_normal((N, T, D)).astype(np.float32)
h0, c0 = (0.3 * rng.standard_normal((2, N, H))).astype(np.float32)
w_ih = (0.4 * rng.standard_normal((4 * H, D))).astype(np.float32)
w_hh = (0.4 * rng.standard_normal((4 * H, H))).astype(np.float32)
b = np.zeros(4 * H, np.float32)
fw = [np.empty(s, np.float32) for s in ((N, T, H), (N, H), (N, H))]
saved = K.lstm_saved_arrays(N, T, D, H, np.float32)
K.lstm_forward(x, h0, c0, w_ih, w_hh, b, *fw, saved)
xs = rng.standard_normal((2, 3, 7, 7)).astype(np.float32)
w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
co = np.empty((2, 4, 5, 5), np.float32)
K.conv2d_forward(xs, w, np.zeros(4, np.float32), co, 1, 1, 0, 0)
np.save(OUT, np.concatenate([fw[0].ravel(), co.ravel()]))
print(_gemm.LIBRARY, _blas.found())
"""


@pytest.mark.skipif(config.DISABLE_JIT, reason="the library binding is the jitted path's")
def test_both_libraries_give_the_kernels_the_same_numbers(tmp_path):
    """MINSTN_BLAS=scipy binds gemm to SciPy's OpenBLAS through Numba's wrapper (the
    adapter compiled in _gemm.py), the default to NumPy's when found: an LSTM and a conv
    agree to float32 rounding either way, and each finds its library's thread controls."""
    results = {}
    for choice in ("scipy", "default"):
        env = {k: v for k, v in os.environ.items() if k != "MINSTN_BLAS"}
        if choice == "scipy":
            env["MINSTN_BLAS"] = "scipy"
        path = tmp_path / (choice + ".npy")
        out = subprocess.run([sys.executable, "-c", "OUT = %r\n" % str(path) + CODE], env=env,
                             capture_output=True, text=True, check=True)
        library, found = out.stdout.split()[-2:]
        results[choice] = np.load(path)
        if choice == "scipy":
            assert library == "scipy"
        else:
            assert library == _gemm.LIBRARY
        assert found == str(_blas.found())          # its thread controls, as here
    np.testing.assert_allclose(results["scipy"], results["default"], rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(config.DISABLE_JIT, reason="the library binding is the jitted path's")
def test_an_unknown_blas_choice_is_refused_with_the_choices():
    env = dict(os.environ, MINSTN_BLAS="mkl")
    out = subprocess.run([sys.executable, "-c", "import minstn.kernels.cpu"], env=env,
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert "MINSTN_BLAS='mkl'" in out.stderr and "'scipy'" in out.stderr
