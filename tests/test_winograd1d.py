"""conv1d with three taps on Winograd F(2, 3) (kernels/cpu/winograd1d.py), forward and
backward: against the definition and the shifted products, the adjoint, the weight transform,
chunks, lanes, dispatch, gradcheck."""
import numpy as np
import pytest

from minstn import gradcheck
from minstn.kernels import cpu as K
from minstn.ops.conv import conv1d
from test_conv1d import _grads, _ref, _run

W = K.winograd1d
S = K.conv1d

CASES = [  # n, c, o, length, p
    (2, 16, 3, 7, 1),             # Lo 7: the last pair has one output
    (3, 17, 4, 8, 1),             # Lo 8: whole pairs
    (2, 20, 5, 6, 0),             # no padding: Lo = L - 2
    (1, 16, 2, 1, 1),             # one step in, one out
    (2, 16, 3, 2, 3),             # padding wider than the taps: outputs reading only zeros
]


@pytest.mark.parametrize("n,c,o,length,p", CASES)
def test_matches_definition_and_shifted_products(n, c, o, length, p, rng):
    """float64 to 1e-12 of the definition and of the shifted products, forward and both
    gradients; float32 within 1e-5 of float64, with and without a bias."""
    x, w, b = rng.standard_normal((n, c, length)), rng.standard_normal((o, c, 3)), \
        rng.standard_normal(o)
    out = _run(x, w, b, p, W)
    np.testing.assert_allclose(out, _ref(x, w, b, p), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_run(x, w, np.empty(0), p, W), _ref(x, w, None, p),
                               rtol=1e-12, atol=1e-12)
    out32 = _run(*(a.astype(np.float32) for a in (x, w, b)), p, W)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, out, rtol=1e-5, atol=1e-5)
    g = rng.standard_normal(out.shape)
    gx, gw = _grads(x, w, g, p, W)
    for a, ref in zip((gx, gw), _grads(x, w, g, p, S)):
        np.testing.assert_allclose(a, ref, rtol=1e-12, atol=1e-12)
    gx32, gw32 = _grads(x.astype(np.float32), w.astype(np.float32), g.astype(np.float32), p, W)
    assert gx32.dtype == gw32.dtype == np.float32
    np.testing.assert_allclose(gx32, gx, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gw32, gw, rtol=1e-5, atol=1e-5)


def test_backward_is_the_adjoint_and_skips(rng):
    """<g, conv(x, w)> = <grad_x, x> = <grad_w, w>; a size-0 grad array is skipped and the
    other comes out with the same bits."""
    x, w = rng.standard_normal((3, 16, 7)), rng.standard_normal((2, 16, 3))
    out = _run(x, w, np.zeros(2), 1, W)
    g = rng.standard_normal(out.shape)
    gx, gw = _grads(x, w, g, 1, W)
    inner = np.sum(g * out)
    assert np.isclose(np.sum(gx * x), inner, rtol=1e-12)
    assert np.isclose(np.sum(gw * w), inner, rtol=1e-12)
    gw_only, gx_only = np.empty_like(w), np.empty_like(x)
    W.conv1d_backward(x, w, g, np.empty((0, 0, 0)), gw_only, 1)
    W.conv1d_backward(x, w, g, gx_only, np.empty((0, 0, 0)), 1)
    np.testing.assert_array_equal(gw_only, gw)
    np.testing.assert_array_equal(gx_only, gx)


def test_weight_points_and_their_adjoint(rng):
    """U = G g at the points 0, 1, -1, ∞ (the filter's values there, ∞ its last tap), and
    <U(w), dU> = <w, U^T(dU)>."""
    w = rng.standard_normal((3, 4, 3))
    u = W._weight_points(w)                                    # (4, C, O)
    g = w.transpose(2, 1, 0)                                   # (3, C, O)
    for j, z in enumerate((0.0, 1.0, -1.0)):
        np.testing.assert_allclose(u[j] * (1 if j == 0 else 2), g[0] + z * g[1] + z * z * g[2],
                                   rtol=1e-14)
    np.testing.assert_array_equal(u[3], g[2])
    du, gw = rng.standard_normal(u.shape), np.empty_like(w)
    W._weight_points_adjoint(du, gw)
    assert np.isclose(np.sum(u * du), np.sum(w * gw), rtol=1e-13)


@pytest.mark.parametrize("lanes", [2, 3])
def test_chunks_and_lanes(lanes, rng):
    """7 samples in chunks of 2 (the last one short) give the one-chunk bits, and so do the
    lanes (float32, as the demos train; the drivers are called directly, so this runs with
    one Numba thread too)."""
    x = rng.standard_normal((7, 16, 9), dtype=np.float32)
    w = rng.standard_normal((4, 16, 3), dtype=np.float32)
    b = rng.standard_normal(4, dtype=np.float32)
    u, s_n = W._weight_points(w), 5                            # Lo 9: 5 pairs
    outs = [np.full((7, 4, 9), np.nan, np.float32) for _ in range(3)]
    W._forward_serial(x, u, b, outs[0], 7, 1, s_n)             # one chunk
    W._forward_serial(x, u, b, outs[1], 2, 1, s_n)             # four
    W._forward_lanes(x, u, b, outs[2], 2, 1, s_n, lanes)
    np.testing.assert_array_equal(outs[1], outs[0])
    np.testing.assert_array_equal(outs[2], outs[0])
    np.testing.assert_allclose(outs[0], _ref(x.astype(np.float64), w.astype(np.float64),
                                             b.astype(np.float64), 1), rtol=1e-5, atol=1e-5)
    g = rng.standard_normal(outs[0].shape, dtype=np.float32)
    u_t = np.ascontiguousarray(u.transpose(0, 2, 1))
    grads = []
    for driver, chunk, wave in (("serial", 7, 0), ("serial", 2, 0), ("lanes", 2, 4),
                                ("lanes", 2, 1)):              # wave 1: a wave per lanes
        gx, du = np.full_like(x, np.nan), np.zeros((4, 16, 4), np.float32)
        if driver == "serial":
            W._backward_serial(x, u_t, g, gx, du, chunk, 1, s_n)
        else:
            W._backward_lanes(x, u_t, g, gx, du, chunk, 1, s_n, wave, lanes)
        grads.append((gx, du))
    np.testing.assert_array_equal(grads[1][0], grads[0][0])     # grad_x: per sample
    np.testing.assert_allclose(grads[1][1], grads[0][1], rtol=1e-4, atol=1e-4)  # summed in parts
    for lanes_run in grads[2:]:                                  # lanes: the loop's bits
        for a, b1 in zip(lanes_run, grads[1]):
            np.testing.assert_array_equal(a, b1)


@pytest.mark.parametrize("n,c,o,s_n", [(64, 76, 64, 24), (64, 64, 64, 12), (4000, 84, 32, 24),
                                       (8, 512, 512, 500)])
def test_chunk_size(n, c, o, s_n):
    """Each product within SMALL_PRODUCT multiply-adds and the buffers within CHUNK_ELEMENTS,
    unless one sample alone exceeds them; never more samples than the batch, never 0."""
    nc = W.chunk_size(n, c, o, s_n)
    rows = 2 * s_n + 2
    assert 1 <= nc <= n
    if nc > 1:
        assert nc * s_n * c * o <= W.SMALL_PRODUCT
        assert nc * rows * (4 * c + 2 * o) <= W.CHUNK_ELEMENTS
    assert nc == n or (nc + 1) * s_n * c * o > W.SMALL_PRODUCT or \
        (nc + 1) * rows * (4 * c + 2 * o) > W.CHUNK_ELEMENTS   # and as many as fit


def test_conv2d_takes_this_path_only_where_it_applies(rng):
    """A conv1d that conv1d.py would run, with three taps and C·O >= BREAK_EVEN (C + O):
    conv2d_forward and conv2d_backward on the (N, C, 1, L) views give this kernel's bits.
    Other tap counts and narrower layers keep the shifted products."""
    e = W.BREAK_EVEN
    assert W.applies(2 * e, 2 * e, 3)                          # C·O = e (C + O)
    assert not W.applies(2 * e, 2 * e - 1, 3) and not W.applies(2 * e, 2 * e, 5)
    assert W.applies(76, 64, 3) and W.applies(64, 64, 3)       # bench/run.py, exp4's CNN
    assert not W.applies(84, 16, 3) and not W.applies(16, 16, 3)
    c, o = 2 * e, 2 * e
    x = rng.standard_normal((2, c, 6), dtype=np.float32)
    w = rng.standard_normal((o, c, 3), dtype=np.float32)
    b = rng.standard_normal(o, dtype=np.float32)
    via_conv = np.empty((2, o, 1, 6), np.float32)
    K.conv2d_forward(x.reshape(2, c, 1, 6), w.reshape(o, c, 1, 3), b, via_conv, 1, 1, 0, 1)
    np.testing.assert_array_equal(via_conv.reshape(2, o, 6), _run(x, w, b, 1, W))
    g = rng.standard_normal((2, o, 6), dtype=np.float32)
    gx4, gw4, gb = np.empty((2, c, 1, 6), np.float32), np.empty((o, c, 1, 3), np.float32), \
        np.empty(o, np.float32)
    K.conv2d_backward(x.reshape(2, c, 1, 6), w.reshape(o, c, 1, 3), g.reshape(2, o, 1, 6),
                      gx4, gw4, gb, 1, 1, 0, 1)
    gx, gw = _grads(x, w, g, 1, W)
    np.testing.assert_array_equal(gx4.reshape(gx.shape), gx)
    np.testing.assert_array_equal(gw4.reshape(gw.shape), gw)
    narrow = np.empty((2, 3, 1, 6), np.float32)                # 3 outputs: shifted products
    K.conv2d_forward(x.reshape(2, c, 1, 6), w[:3].reshape(3, c, 1, 3), b[:3], narrow,
                     1, 1, 0, 1)
    np.testing.assert_array_equal(narrow.reshape(2, 3, 6), _run(x, w[:3], b[:3], 1, S))


@pytest.mark.parametrize("padding,bias", [(1, True), (0, False)])
def test_conv1d_gradcheck_on_the_winograd_path(padding, bias, make64, rng, monkeypatch):
    """float64 central differences through conv1d, forward and backward on this kernel (CPU:
    the CUDA kernels have no such path). BREAK_EVEN 0 sends a small layer here, to keep the
    check short; the kernel's arithmetic does not depend on the layer's size."""
    monkeypatch.setattr(W, "BREAK_EVEN", 0)
    assert W.applies(16, 2, 3)
    x = make64(rng.standard_normal((2, 16, 5)), device="cpu")
    w = make64(rng.standard_normal((2, 16, 3)), device="cpu")
    b = make64(rng.standard_normal(2), device="cpu") if bias else None
    gradcheck(lambda x, w, b: conv1d(x, w, b, 1, padding), [x, w, b])
