"""conv1d on shifted products (kernels/cpu/conv1d.py), forward and backward: against the
definition and im2col, the adjoint, chunks, lanes, dispatch, gradcheck."""
import numpy as np
import pytest

from minstn import gradcheck
from minstn.kernels import cpu as K
from minstn.ops.conv import conv1d
from test_conv import ref_conv2d

S = K.conv1d

CASES = [  # n, c, o, k, length, p
    (2, 16, 3, 5, 7, 2),
    (3, 17, 4, 3, 5, 0),          # no padding: Lo = L - k + 1
    (1, 16, 2, 1, 4, 0),          # k 1: one product, nothing dropped
    (2, 20, 3, 4, 6, 1),          # even k: Lo = L - 1
    (2, 16, 5, 3, 2, 3),          # padding wider than the kernel: outputs reading only zeros
]


def _ref(x, w, b, p):
    """The definition through ref_conv2d on (N, C, 1, L) views: (N, O, Lo)."""
    n, c, length = x.shape
    out = ref_conv2d(x.reshape(n, c, 1, length), w.reshape(w.shape[0], c, 1, w.shape[2]), b,
                     (1, 1), (0, p))
    return out.reshape(n, w.shape[0], -1)


def _run(x, w, b, p, kernel=S):
    """kernel.conv1d_forward (this file's kernel unless another is given; test_winograd1d.py
    passes its own)."""
    lo = x.shape[2] + 2 * p - w.shape[2] + 1
    out = np.full((x.shape[0], w.shape[0], lo), np.nan, x.dtype)
    kernel.conv1d_forward(x, w, b, out, p)
    return out


def _grads(x, w, g, p, kernel=S):
    """kernel.conv1d_backward's grad_x, grad_w for the output gradient g."""
    gx, gw = np.full_like(x, np.nan), np.full_like(w, np.nan)
    kernel.conv1d_backward(x, w, g, gx, gw, p)
    return gx, gw


def _im2col_grads(x, w, g, p):
    """im2col's backward loop (conv.py), called directly on the (N, C, 1, L) views."""
    (n, c, length), (o, _, k) = x.shape, w.shape
    gx, gw = np.empty_like(x), np.zeros_like(w)
    K.conv._backward_serial(x.reshape(n, c, 1, length), w.reshape(o, c * k),
                            g.reshape(n, o, 1, -1), gx.reshape(n, c, 1, length),
                            gw.reshape(o, c * k), n, 1, k, 1, 1, 0, p)
    return gx, gw


@pytest.mark.parametrize("n,c,o,k,length,p", CASES)
def test_matches_definition_and_im2col(n, c, o, k, length, p, rng):
    """float64 to 1e-12 of the definition and of im2col's loop; float32 within 1e-5 of
    float64, with and without a bias."""
    x, w, b = rng.standard_normal((n, c, length)), rng.standard_normal((o, c, k)), \
        rng.standard_normal(o)
    out = _run(x, w, b, p)
    np.testing.assert_allclose(out, _ref(x, w, b, p), rtol=1e-12, atol=1e-12)
    im2col = np.empty((n, o, 1, out.shape[2]))
    K.conv._forward_serial(x.reshape(n, c, 1, length), w.reshape(o, c * k), b, im2col, n,
                           1, k, 1, 1, 0, p)
    np.testing.assert_allclose(out, im2col.reshape(out.shape), rtol=1e-12, atol=1e-12)
    out32 = _run(*(a.astype(np.float32) for a in (x, w, b)), p)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, out, rtol=1e-5, atol=1e-5)
    no_bias = _run(x, w, np.empty(0), p)
    np.testing.assert_allclose(no_bias, _ref(x, w, None, p), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(out.shape)
    gx, gw = _grads(x, w, g, p)
    for a, ref in zip((gx, gw), _im2col_grads(x, w, g, p)):
        np.testing.assert_allclose(a, ref, rtol=1e-12, atol=1e-12)
    gx32, gw32 = _grads(x.astype(np.float32), w.astype(np.float32), g.astype(np.float32), p)
    assert gx32.dtype == gw32.dtype == np.float32
    np.testing.assert_allclose(gx32, gx, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gw32, gw, rtol=1e-5, atol=1e-5)


def test_backward_is_the_adjoint_and_skips(rng):
    """<g, conv(x, w)> = <grad_x, x> = <grad_w, w>; a size-0 grad array is skipped and the
    other comes out with the same bits."""
    x, w = rng.standard_normal((3, 16, 7)), rng.standard_normal((2, 16, 3))
    out = _run(x, w, np.zeros(2), 1)
    g = rng.standard_normal(out.shape)
    gx, gw = _grads(x, w, g, 1)
    inner = np.sum(g * out)
    assert np.isclose(np.sum(gx * x), inner, rtol=1e-12)
    assert np.isclose(np.sum(gw * w), inner, rtol=1e-12)
    gw_only, gx_only = np.empty_like(w), np.empty_like(x)
    S.conv1d_backward(x, w, g, np.empty((0, 0, 0)), gw_only, 1)
    S.conv1d_backward(x, w, g, gx_only, np.empty((0, 0, 0)), 1)
    np.testing.assert_array_equal(gw_only, gw)
    np.testing.assert_array_equal(gx_only, gx)


@pytest.mark.parametrize("lanes", [2, 3])
def test_chunks_and_lanes(lanes, rng):
    """7 samples in chunks of 2 (the last one short) give the one-chunk bits, and so do the
    lanes (float32, as the demos train; the drivers are called directly, so this runs with
    one Numba thread too)."""
    x = rng.standard_normal((7, 16, 9), dtype=np.float32)
    w = rng.standard_normal((4, 16, 5), dtype=np.float32)
    b = rng.standard_normal(4, dtype=np.float32)
    wt = np.ascontiguousarray(w.transpose(2, 1, 0))
    outs = [np.full((7, 4, 9), np.nan, np.float32) for _ in range(3)]
    S._forward_serial(x, wt, b, outs[0], 7, 2)                 # one chunk
    S._forward_serial(x, wt, b, outs[1], 2, 2)                 # four
    S._forward_lanes(x, wt, b, outs[2], 2, 2, lanes)
    np.testing.assert_array_equal(outs[1], outs[0])
    np.testing.assert_array_equal(outs[2], outs[0])
    np.testing.assert_allclose(outs[0], _ref(x.astype(np.float64), w.astype(np.float64),
                                             b.astype(np.float64), 2), rtol=1e-5, atol=1e-5)
    g = rng.standard_normal(outs[0].shape, dtype=np.float32)
    w3 = np.ascontiguousarray(w.transpose(2, 0, 1))
    grads = []
    for driver, chunk, wave in (("serial", 7, 0), ("serial", 2, 0), ("lanes", 2, 4),
                                ("lanes", 2, 1)):              # wave 1: a wave per lanes
        gx, gwk = np.full_like(x, np.nan), np.zeros((5, 4, 16), np.float32)
        if driver == "serial":
            S._backward_serial(x, w3, g, gx, gwk, chunk, 2)
        else:
            S._backward_lanes(x, w3, g, gx, gwk, chunk, 2, wave, lanes)
        grads.append((gx, gwk))
    np.testing.assert_array_equal(grads[1][0], grads[0][0])     # grad_x: per sample
    np.testing.assert_allclose(grads[1][1], grads[0][1], rtol=1e-4, atol=1e-4)  # summed in parts
    for lanes_run in grads[2:]:                                  # lanes: the loop's bits
        for a, b1 in zip(lanes_run, grads[1]):
            np.testing.assert_array_equal(a, b1)


@pytest.mark.parametrize("n,c,o,k,lp", [(64, 76, 64, 3, 48), (64, 84, 16, 5, 52),
                                         (64, 16, 16, 5, 28), (4000, 84, 1, 5, 52),
                                         (8, 512, 512, 3, 1000)])
def test_chunk_size(n, c, o, k, lp):
    """Each product within SMALL_PRODUCT multiply-adds and the buffers within CHUNK_ELEMENTS,
    unless one sample alone exceeds them; never more samples than the batch, never 0."""
    nc = S.chunk_size(n, c, o, k, lp)
    assert 1 <= nc <= n
    if nc > 1:
        assert (nc * lp - (k - 1)) * c * o <= S.SMALL_PRODUCT
        assert nc * lp * (c + 2 * o) <= S.CHUNK_ELEMENTS
    assert nc == n or (nc + 1) * lp - (k - 1) > S.SMALL_PRODUCT // (c * o) or \
        (nc + 1) * lp * (c + 2 * o) > S.CHUNK_ELEMENTS          # and as many as fit


def test_conv2d_takes_this_path_only_where_it_applies(rng):
    """conv1d at stride 1 with >= MIN_CHANNELS input channels: conv2d_forward on the
    (N, C, 1, L) views gives this kernel's bits. Fewer channels, a stride, or a real 2-D
    layer keep im2col (or Winograd)."""
    m = S.MIN_CHANNELS
    assert S.applies(1, m, 1, 1, 1, 0)
    assert not S.applies(1, m - 1, 1, 1, 1, 0)
    assert not S.applies(1, m, 1, 1, 2, 0) and not S.applies(1, m, 1, 2, 1, 0)
    assert not S.applies(5, m, 3, 1, 1, 1) and not S.applies(1, m, 1, 1, 1, 1)
    x = rng.standard_normal((2, m, 8), dtype=np.float32)
    w = rng.standard_normal((3, m, 5), dtype=np.float32)
    b = rng.standard_normal(3, dtype=np.float32)
    via_conv, direct = np.empty((2, 3, 1, 8), np.float32), np.empty((2, 3, 8), np.float32)
    K.conv2d_forward(x.reshape(2, m, 1, 8), w.reshape(3, m, 1, 5), b, via_conv, 1, 1, 0, 2)
    S.conv1d_forward(x, w, b, direct, 2)
    np.testing.assert_array_equal(via_conv.reshape(direct.shape), direct)
    g = rng.standard_normal((2, 3, 8), dtype=np.float32)
    gx4, gw4, gb = np.empty((2, m, 1, 8), np.float32), np.empty((3, m, 1, 5), np.float32), \
        np.empty(3, np.float32)
    K.conv2d_backward(x.reshape(2, m, 1, 8), w.reshape(3, m, 1, 5), g.reshape(2, 3, 1, 8),
                      gx4, gw4, gb, 1, 1, 0, 2)
    gx, gw = _grads(x, w, g, 2)
    np.testing.assert_array_equal(gx4.reshape(gx.shape), gx)
    np.testing.assert_array_equal(gw4.reshape(gw.shape), gw)
    np.testing.assert_allclose(gb, g.sum(axis=(0, 2)), rtol=1e-5)
    im2col = np.empty_like(via_conv)                    # the plain path: equal to rounding
    K.conv._forward_serial(x.reshape(2, m, 1, 8), w.reshape(3, m * 5), b, im2col, 2,
                           1, 5, 1, 1, 0, 2)
    np.testing.assert_allclose(im2col, via_conv, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("padding,bias", [(2, True), (0, False)])
def test_conv1d_gradcheck_on_the_shifted_path(padding, bias, make64, rng):
    """float64 central differences through conv1d, forward and backward on this kernel, at
    a shape that takes it (CPU: the CUDA kernels have no such path)."""
    x = make64(rng.standard_normal((2, 16, 6)), device="cpu")
    w = make64(rng.standard_normal((2, 16, 3)), device="cpu")
    b = make64(rng.standard_normal(2), device="cpu") if bias else None
    assert S.applies(1, 16, 1, 1, 1, 0)
    gradcheck(lambda x, w, b: conv1d(x, w, b, 1, padding), [x, w, b])
