"""The Winograd conv kernels (kernels/cpu/winograd.py: F(2×2, 3×3); winograd5.py: F(2×2, 5×5)):
against the definition and im2col, chunks, lanes, skipped gradients, dispatch, gradcheck."""
import numpy as np
import pytest

from minstn import gradcheck
from minstn.kernels import cpu as K
from minstn.ops.conv import conv2d
from test_conv import ref_conv2d

W = K.winograd

CASES = [  # n, c, o, h, w, ph, pw (for the 3×3 kernel; the 5×5 cases add 2 to h and w)
    (2, 16, 3, 6, 5, 0, 0),      # odd output width: the last tile column overhangs
    (1, 16, 2, 3, 3, 0, 0),      # one output: one tile, three quarters overhanging
    (2, 17, 3, 4, 7, 1, 1),
    (1, 16, 2, 2, 2, 2, 1),      # padding wider than the input's rows
    (3, 20, 4, 5, 5, 2, 2),
]


def _run(x, w, b, ph, pw):
    """Winograd forward and backward of a random output gradient: out, g, gx, gw."""
    r = w.shape[2]
    ho, wo = x.shape[2] + 2 * ph - r + 1, x.shape[3] + 2 * pw - r + 1
    out = np.full((x.shape[0], w.shape[0], ho, wo), np.nan, x.dtype)
    W.conv_forward(x, w, b, out, ph, pw)
    g = np.random.default_rng(1).standard_normal(out.shape).astype(x.dtype)
    gx, gw = np.full_like(x, np.nan), np.full_like(w, np.nan)
    W.conv_backward(x, w, g, gx, gw, ph, pw)
    return out, g, gx, gw


@pytest.mark.parametrize("r", [3, 5])
@pytest.mark.parametrize("n,c,o,h,w,ph,pw", CASES)
def test_matches_definition_and_im2col(n, c, o, h, w, ph, pw, r, rng):
    """float64: the definition's forward to 1e-12; grad_x and grad_w equal im2col's to 1e-12.
    float32, 3×3: within 1e-5 of the float64 results, as the im2col kernel is tested. 5×5:
    within 2e-5 of each result's largest magnitude. Its 6×6 tiles scale inputs by up to 10
    per side before the products, and the sums cancel after: over these cases and the
    demos' 32->64 layers the error reached 9e-6 of that magnitude (grad_w), 3×3's 5e-7."""
    h, w = h + r - 3, w + r - 3
    x, wt, b = rng.standard_normal((n, c, h, w)), rng.standard_normal((o, c, r, r)), \
        rng.standard_normal(o)
    out, g, gx, gw = _run(x, wt, b, ph, pw)
    np.testing.assert_allclose(out, ref_conv2d(x, wt, b, (1, 1), (ph, pw)), rtol=1e-12, atol=1e-12)
    ref_gx, ref_gw = np.empty_like(x), np.empty_like(wt)
    k = c * r * r                                    # im2col's loop, called directly
    ref_gw2 = ref_gw.reshape(o, k)
    ref_gw2[:] = 0
    K.conv._backward_serial(x, wt.reshape(o, k), g, ref_gx, ref_gw2, n, r, r, 1, 1, ph, pw)
    np.testing.assert_allclose(gx, ref_gx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gw, ref_gw, rtol=1e-12, atol=1e-12)
    out32, _, gx32, gw32 = _run(*(a.astype(np.float32) for a in (x, wt, b)), ph, pw)
    assert out32.dtype == gx32.dtype == gw32.dtype == np.float32
    for a32, a64 in ((out32, out), (gx32, gx), (gw32, gw)):
        if r == 3:
            np.testing.assert_allclose(a32, a64, rtol=1e-5, atol=1e-5)
        else:
            assert np.abs(a32 - a64).max() <= 2e-5 * np.abs(a64).max()


def test_the_5x5_transforms_are_toom_cook():
    """winograd5's matrices: A^T [(G g) ⊙ (B^T d)] is the 1-D cross-correlation of d (6) with
    g (5), checked on the basis vectors, exactly in float64 (so the 2-D nesting is too)."""
    bt = np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                   [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], float)
    at = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 1]], float)
    for i in range(5):
        for j in range(6):
            g, d = np.eye(5)[i], np.eye(6)[j]
            want = [d[k:k + 5] @ g for k in range(2)]
            np.testing.assert_allclose(at @ ((K.winograd5.G @ g) * (bt @ d)), want, atol=1e-15)


@pytest.mark.parametrize("r", [3, 5])
def test_backward_is_the_adjoint_and_skips(r, rng):
    """<g, conv(x, w)> = <grad_x, x> = <grad_w, w>; a size-0 grad array is skipped and the
    other comes out with the same bits."""
    x, wt = rng.standard_normal((3, 16, r + 2, r + 3)), rng.standard_normal((2, 16, r, r))
    out, g, gx, gw = _run(x, wt, np.zeros(2), 1, 0)
    inner = np.sum(g * out)
    assert np.isclose(np.sum(gx * x), inner, rtol=1e-12)
    assert np.isclose(np.sum(gw * wt), inner, rtol=1e-12)
    gw_only, gx_only = np.empty_like(wt), np.empty_like(x)
    W.conv_backward(x, wt, g, np.empty((0, 0, 0, 0)), gw_only, 1, 0)
    W.conv_backward(x, wt, g, gx_only, np.empty((0, 0, 0, 0)), 1, 0)
    np.testing.assert_array_equal(gw_only, gw)
    np.testing.assert_array_equal(gx_only, gx)


@pytest.mark.parametrize("r", [3, 5])
@pytest.mark.parametrize("lanes", [2, 3])
def test_chunks_and_lanes(lanes, r, rng):
    """7 samples in chunks of 2 (the last one short) give the one-chunk results, and the lanes
    driver gives the chunk loop's bits (grad_w's chunk sums added in chunk order). float32
    as the demos train; the drivers are called directly, so this runs with one Numba
    thread too (one lane after another)."""
    aa = (r + 1) ** 2
    x = rng.standard_normal((7, 16, r + 2, r + 3), dtype=np.float32)
    wt = rng.standard_normal((4, 16, r, r), dtype=np.float32)
    b = rng.standard_normal(4, dtype=np.float32)
    u = np.empty((aa, 16, 4), np.float32)
    W._weights(wt, u)
    ut = np.ascontiguousarray(u.transpose(0, 2, 1))
    outs = [np.full((7, 4, 5, 4), np.nan, np.float32) for _ in range(3)]
    W._forward_serial(x, u, b, outs[0], 7, 1, 0)                      # one chunk
    W._forward_serial(x, u, b, outs[1], 2, 1, 0)                      # four
    W._forward_lanes(x, u, b, outs[2], 2, 1, 0, lanes)
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(outs[2], outs[1])
    g = rng.standard_normal(outs[0].shape, dtype=np.float32)
    grads = []
    for driver, chunk, wave in (("serial", 7, 0), ("serial", 2, 0), ("lanes", 2, 4),
                                ("lanes", 2, 1)):              # wave 1: a wave per lanes
        gx, gu = np.full_like(x, np.nan), np.zeros((aa, 16, 4), np.float32)
        if driver == "serial":
            W._backward_serial(x, ut, g, gx, gu, chunk, 1, 0)
        else:
            W._backward_lanes(x, ut, g, gx, gu, chunk, 1, 0, wave, lanes)
        grads.append((gx, gu))
    for a, b1 in zip(grads[1], grads[0]):
        np.testing.assert_allclose(a, b1, rtol=1e-4, atol=1e-4)
    for lanes_run in grads[2:]:
        for a, b1 in zip(lanes_run, grads[1]):
            np.testing.assert_array_equal(a, b1)


def test_conv2d_takes_this_path_only_where_it_applies(rng):
    """3×3 or 5×5, stride 1, >= MIN_CHANNELS input channels: conv2d_forward gives Winograd's
    bits; fewer channels, another kernel size or a stride keep im2col."""
    for r in (3, 5):
        assert W.applies(W.MIN_CHANNELS, r, r, 1, 1)
        assert not W.applies(W.MIN_CHANNELS - 1, r, r, 1, 1)
        assert not W.applies(32, r, r, 2, 1) and not W.applies(32, r, r, 1, 2)
    assert not W.applies(32, 3, 1, 1, 1) and not W.applies(32, 5, 3, 1, 1)
    assert not W.applies(32, 7, 7, 1, 1) and not W.applies(32, 4, 4, 1, 1)
    for r in (3, 5):
        x = rng.standard_normal((2, 16, 8, 8), dtype=np.float32)
        wt = rng.standard_normal((3, 16, r, r), dtype=np.float32)
        b = np.zeros(3, np.float32)
        via_conv, direct = (np.empty((2, 3, 10 - r, 10 - r), np.float32) for _ in range(2))
        K.conv2d_forward(x, wt, b, via_conv, 1, 1, 1, 1)
        W.conv_forward(x, wt, b, direct, 1, 1)
        np.testing.assert_array_equal(via_conv, direct)


@pytest.mark.parametrize("r,padding,bias", [(3, 0, True), (3, 1, False), (5, 0, False),
                                             (5, 2, True)])
def test_conv2d_gradcheck_on_the_winograd_path(r, padding, bias, make64, rng):
    """float64 central differences through conv2d's Function, at a shape that takes this
    kernel (CPU: the CUDA kernels have no Winograd path)."""
    x = make64(rng.standard_normal((2, 16, r + 1, r)), device="cpu")
    w = make64(rng.standard_normal((2, 16, r, r)), device="cpu")
    b = make64(rng.standard_normal(2), device="cpu") if bias else None
    assert W.applies(16, r, r, 1, 1)
    gradcheck(lambda x, w, b: conv2d(x, w, b, 1, padding), [x, w, b])
