"""The same bits whether Numba compiles a kernel in the running process or loads it from its
on-disk cache (`cache=True`). With fastmath "contract" the two fused different multiply-adds
in the LSTM's exps, and experiment 4's results then depended on the cache's state."""
import os
import subprocess
import sys

CODE = r"""
import hashlib
import numpy as np
from minstn.kernels import cpu as K
from minstn.ops.grids import tps_basis_t
rng = np.random.default_rng(0)
digest = hashlib.md5()
for dt in (np.float32, np.float64):
    N, T, D, H = 5, 7, 6, 4
    x = rng.standard_normal((N, T, D)).astype(dt)
    h0, c0 = (0.3 * rng.standard_normal((2, N, H))).astype(dt)
    w_ih, w_hh = (0.4 * rng.standard_normal((4 * H, D))).astype(dt), (0.4 * rng.standard_normal((4 * H, H))).astype(dt)
    b = (0.1 * rng.standard_normal(4 * H)).astype(dt)
    fw = [np.empty(s, dt) for s in ((N, T, H), (N, H), (N, H))]
    saved = K.lstm_saved_arrays(N, T, D, H, dt)
    K.lstm_forward(x, h0, c0, w_ih, w_hh, b, *fw, saved)
    gr = [np.empty_like(a) for a in (x, h0, c0, w_ih, w_hh, b)]
    g = [rng.standard_normal(s).astype(dt) for s in ((N, T, H), (N, H), (N, H))]
    K.lstm_backward(x, c0, w_ih, w_hh, saved, *g, *gr)
    xs = rng.standard_normal((3, 2, 9, 9)).astype(dt)
    th = (np.tile(np.eye(2, 3), (3, 1, 1)) * 0.8 + 0.05 * rng.standard_normal((3, 2, 3))).astype(dt)
    out = np.empty((3, 2, 9, 9), dt)
    K.affine_grid_sample_forward(xs, th, out, False, False)
    w = rng.standard_normal((4, 2, 3, 3)).astype(dt)
    co = np.empty((3, 4, 7, 7), dt)
    K.conv2d_forward(xs, w, np.zeros(4, dt), co, 1, 1, 0, 0)
    x16, w16 = rng.standard_normal((2, 16, 6, 5)).astype(dt), rng.standard_normal((3, 16, 3, 3)).astype(dt)
    wo, wg_x, wg_w = np.empty((2, 3, 6, 5), dt), np.empty_like(x16), np.empty_like(w16)
    K.conv2d_forward(x16, w16, np.zeros(3, dt), wo, 1, 1, 1, 1)     # Winograd's 3x3 path
    K.conv2d_backward(x16, w16, wo, wg_x, wg_w, np.zeros(0, dt), 1, 1, 1, 1)
    x1, w1 = rng.standard_normal((3, 16, 1, 8)).astype(dt), rng.standard_normal((2, 16, 1, 5)).astype(dt)
    c1 = np.empty((3, 2, 1, 8), dt)
    K.conv2d_forward(x1, w1, np.ones(2, dt), c1, 1, 1, 0, 2)         # conv1d's shifted path
    c1x, c1w = np.empty_like(x1), np.empty_like(w1)
    K.conv2d_backward(x1, w1, c1, c1x, c1w, np.zeros(0, dt), 1, 1, 0, 2)
    bt = np.ascontiguousarray(tps_basis_t((3, 3), 9, 9))         # TPS: its gradient uses _dot
    off = (0.05 * rng.standard_normal((3, 9, 2))).astype(dt)       # (reassoc, contract)
    tout, tgx, tgo = np.empty((3, 2, 9, 9), dt), np.empty_like(xs), np.empty_like(off)
    K.tps_grid_sample_forward(xs, off, tout, False, False, bt)
    K.tps_grid_sample_backward(xs, off, out, tgx, tgo, False, False, bt)
    for a in fw + list(saved) + gr + [out, co, wo, wg_x, wg_w, c1, c1x, c1w, tout, tgx, tgo]:
        digest.update(np.ascontiguousarray(a).tobytes())
print(digest.hexdigest())
"""


def _run(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), NUMBA_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True,
                         check=True)
    return out.stdout.split()[-1]


def test_compiled_and_cached_kernels_give_the_same_bits(tmp_path):
    fresh = _run(tmp_path)               # an empty cache: compiled here, then written
    assert any(tmp_path.rglob("*.nbi"))  # (the cache was written)
    cached = _run(tmp_path)              # loaded from that cache
    assert cached == fresh
