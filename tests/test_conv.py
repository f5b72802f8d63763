"""conv2d / conv1d: NumPy-loop reference, kernel edge cases, gradchecks, torch parity, errors."""
import math

import numpy as np
import pytest

from minstn import Tensor, gradcheck
from minstn.kernels import backend
from minstn.kernels import cpu as K
from minstn.ops.conv import conv1d, conv2d


def ref_conv2d(x, w, b=None, stride=(1, 1), padding=(0, 0)):
    """The definition, one output element at a time (zero padding, cross-correlation)."""
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    ho, wo = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    out = np.zeros((n, o, ho, wo))
    for a in range(n):
        for f in range(o):
            for oh in range(ho):
                for ow in range(wo):
                    s = 0.0 if b is None else b[f]
                    for ch in range(c):
                        for i in range(kh):
                            for j in range(kw):
                                ih, iw = oh * sh - ph + i, ow * sw - pw + j
                                if 0 <= ih < h and 0 <= iw < wd:
                                    s += w[f, ch, i, j] * x[a, ch, ih, iw]
                    out[a, f, oh, ow] = s
    return out


def _kernel_forward(x, w, b, stride, padding):
    (sh, sw), (ph, pw) = stride, padding
    ho = (x.shape[2] + 2 * ph - w.shape[2]) // sh + 1
    wo = (x.shape[3] + 2 * pw - w.shape[3]) // sw + 1
    out = np.full((x.shape[0], w.shape[0], ho, wo), np.nan, x.dtype)
    K.conv2d_forward(x, w, np.zeros(0, x.dtype) if b is None else b, out, sh, sw, ph, pw)
    return out


CASES = [  # x shape, w shape, stride, padding
    ((2, 3, 6, 5), (4, 3, 3, 3), (1, 1), (0, 0)),
    ((2, 2, 7, 6), (3, 2, 3, 2), (2, 1), (1, 2)),
    ((1, 2, 5, 5), (2, 2, 2, 2), (3, 3), (2, 2)),    # padding >= kernel: all-zero patches
    ((2, 1, 4, 9), (3, 1, 1, 4), (1, 2), (0, 1)),
    ((1, 2, 3, 3), (2, 2, 3, 3), (1, 1), (0, 0)),    # 1x1 output
    ((1, 2, 3, 1), (2, 2, 3, 5), (1, 1), (1, 2)),    # kernel wider than the input
]


@pytest.mark.parametrize("xs,ws,stride,padding", CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_kernel_matches_reference(xs, ws, stride, padding, bias, rng):
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    b = rng.standard_normal(ws[0]) if bias else None
    ref = ref_conv2d(x, w, b, stride, padding)
    np.testing.assert_allclose(_kernel_forward(x, w, b, stride, padding), ref,
                               rtol=1e-12, atol=1e-12)
    f32 = [a.astype(np.float32) if a is not None else None for a in (x, w, b)]
    np.testing.assert_allclose(_kernel_forward(*f32, stride, padding), ref, rtol=1e-5, atol=1e-5)


def test_kernel_backward_is_the_adjoint_and_skips(rng):
    """<grad_out, conv(x)> is bilinear: grad_x, grad_w are its partial derivatives exactly;
    a size-0 grad array is skipped without changing the others; results are bitwise stable."""
    x, w, b = rng.standard_normal((2, 2, 7, 6)), rng.standard_normal((3, 2, 3, 2)), np.zeros(3)
    stride, padding = (2, 1), (1, 2)
    g = rng.standard_normal(_kernel_forward(x, w, b, stride, padding).shape)
    gx, gw, gb = np.empty_like(x), np.empty_like(w), np.empty(3)
    K.conv2d_backward(x, w, g, gx, gw, gb, *stride, *padding)
    # linearity: <g, conv(x, w)> = <gx, x> = <gw, w>
    inner = np.sum(g * _kernel_forward(x, w, b, stride, padding))
    assert np.isclose(np.sum(gx * x), inner, rtol=1e-12)
    assert np.isclose(np.sum(gw * w), inner, rtol=1e-12)
    np.testing.assert_allclose(gb, g.sum(axis=(0, 2, 3)), rtol=1e-12)
    gw2 = np.empty_like(w)
    K.conv2d_backward(x, w, g, np.empty((0, 0, 0, 0)), gw2, np.zeros(0), *stride, *padding)
    np.testing.assert_array_equal(gw2, gw)
    gx2 = np.empty_like(x)
    K.conv2d_backward(x, w, g, gx2, np.empty((0, 0, 0, 0)), np.zeros(0), *stride, *padding)
    np.testing.assert_array_equal(gx2, gx)


def test_kernel_in_several_chunks(rng):
    """A batch larger than one im2col buffer runs in chunks (here 2 + 1 samples) and gives
    the reference forward and the per-sample gradients (summed for grad_w, grad_b)."""
    side = math.isqrt(K.conv.CHUNK_COLUMNS // 2)      # two output planes of side² per chunk
    x, w, b = (rng.standard_normal(s) for s in ((3, 2, side, side), (2, 2, 3, 3), (2,)))
    assert K.conv._chunk_size(3, 2 * 3 * 3, side * side) == 2
    out = _kernel_forward(x, w, b, (1, 1), (1, 1))
    np.testing.assert_allclose(out, ref_conv2d(x, w, b, (1, 1), (1, 1)), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(out.shape)
    gx, gw, gb = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    K.conv2d_backward(x, w, g, gx, gw, gb, 1, 1, 1, 1)
    sum_w, sum_b = np.zeros_like(w), np.zeros_like(b)
    for n in range(3):
        gx1, gw1, gb1 = np.empty_like(x[:1]), np.empty_like(w), np.empty_like(b)
        K.conv2d_backward(x[n:n + 1], w, g[n:n + 1], gx1, gw1, gb1, 1, 1, 1, 1)
        np.testing.assert_allclose(gx[n:n + 1], gx1, rtol=1e-12, atol=1e-12)
        sum_w, sum_b = sum_w + gw1, sum_b + gb1
    np.testing.assert_allclose(gw, sum_w, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gb, sum_b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("lanes", [2, 3])
@pytest.mark.parametrize("need", ["all", "no_x", "no_w"])
def test_kernel_lanes_same_bits_as_loop(rng, lanes, need):
    """The threaded driver (lanes of chunks on Numba's threads, grad_w's chunk sums added in
    chunk order) gives the plain loop's bits: 7 samples in chunks of 2 (the last one short),
    float32 as the demos train. The drivers are called directly, so this runs (one lane
    after another) on a machine with one Numba thread too."""
    side = math.isqrt(K.conv.CHUNK_COLUMNS // 2)      # two output planes of side² per chunk
    x = rng.standard_normal((7, 3, side + 2, side + 2), dtype=np.float32)
    w = rng.standard_normal((4, 3, 3, 3), dtype=np.float32)
    b = rng.standard_normal(4, dtype=np.float32)
    conv = K.conv
    chunk = conv._chunk_size(7, 27, side * side)
    assert chunk == 2
    w2 = w.reshape(4, 27)
    outs = [np.full((7, 4, side, side), np.nan, np.float32) for _ in range(2)]
    conv._forward_serial(x, w2, b, outs[0], chunk, 3, 3, 1, 1, 0, 0)
    conv._forward_lanes(x, w2, b, outs[1], chunk, 3, 3, 1, 1, 0, 0, lanes)
    np.testing.assert_array_equal(outs[1], outs[0])
    g = rng.standard_normal(outs[0].shape, dtype=np.float32)
    grads = []
    for run, wave in (("serial", 0), ("lanes", 4), ("lanes", 1)):   # wave 1: a wave per lanes
        gx = np.full_like(x, np.nan) if need != "no_x" else np.empty((0, 0, 0, 0), np.float32)
        gw2 = np.zeros((4, 27), np.float32) if need != "no_w" else np.empty((0, 0), np.float32)
        if run == "serial":
            conv._backward_serial(x, w2, g, gx, gw2, chunk, 3, 3, 1, 1, 0, 0)
        else:
            conv._backward_lanes(x, w2, g, gx, gw2, chunk, 3, 3, 1, 1, 0, 0, wave, lanes)
        grads.append((gx, gw2))
    for lanes_run in grads[1:]:
        np.testing.assert_array_equal(lanes_run[0], grads[0][0])
        np.testing.assert_array_equal(lanes_run[1], grads[0][1])
    assert np.isfinite(grads[1][0]).all() and np.isfinite(grads[1][1]).all()
    if need == "all":                     # and both are the gradients (float64 reference)
        x64, w64, g64 = (a.astype(np.float64) for a in (x, w, g))
        gx64, gw64 = np.empty_like(x64), np.empty_like(w64)
        K.conv2d_backward(x64, w64, g64, gx64, gw64, np.zeros(0), 1, 1, 0, 0)
        np.testing.assert_allclose(grads[1][0], gx64, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(grads[1][1].reshape(w.shape), gw64, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("channels", [1, 4, 6, 10])
def test_bias_gradient_sums_in_order(rng, channels):
    """grad_b: each channel's float64 sum in (n, oh, ow) order, whether four channels' sums
    run side by side, one at a time (the remainder) or in parallel blocks: the same bits as
    a plain Python sum in that order."""
    g = rng.standard_normal((3, channels, 5, 7)).astype(np.float32)
    ref = np.array([sum(float(v) for v in g[:, o].reshape(-1)) for o in range(channels)])
    for run in (K.conv._grad_b_serial, K.conv._grad_b_lanes):
        gb = np.full(channels, np.nan, np.float32)
        run(g, gb)
        np.testing.assert_array_equal(gb, ref.astype(np.float32))


# ---- gradchecks (float64, small shapes: conv2d is linear in x and in w, no kinks) ----------
# On cuda every gradcheck entry reruns the kernels in the simulator: smaller shapes there.

@pytest.mark.parametrize("stride,padding,bias", [(1, 0, True), (2, 1, True), (2, 1, False),
                                                 ((2, 1), (0, 1), True)])
def test_conv2d_gradcheck(stride, padding, bias, device, make64, rng):
    xs, ws = ((2, 2, 5, 4), (3, 2, 3, 2)) if device == "cpu" else ((2, 2, 3, 3), (2, 2, 2, 2))
    x = make64(rng.standard_normal(xs), device=device)
    w = make64(rng.standard_normal(ws), device=device)
    b = make64(rng.standard_normal(ws[0]), device=device) if bias else None
    gradcheck(lambda x, w, b: conv2d(x, w, b, stride, padding), [x, w, b])


@pytest.mark.parametrize("stride,padding,bias", [(1, 0, True), (2, 1, True), (3, 2, False)])
def test_conv1d_gradcheck(stride, padding, bias, device, make64, rng):
    xs, ws = ((2, 2, 7), (3, 2, 3)) if device == "cpu" else ((2, 2, 5), (2, 2, 3))
    x = make64(rng.standard_normal(xs), device=device)
    w = make64(rng.standard_normal(ws), device=device)
    b = make64(rng.standard_normal(ws[0]), device=device) if bias else None
    gradcheck(lambda x, w, b: conv1d(x, w, b, stride, padding), [x, w, b])


def test_gradcheck_catches_a_wrong_backward(device, make64, rng, monkeypatch):
    """The tests above can fail: a backward with grad_w off by a factor is caught."""
    be = backend(device)
    real = be.conv2d_backward

    def wrong(x, w, g, gx, gw, gb, *args):
        real(x, w, g, gx, gw, gb, *args)
        be.iadd(gw, be.mul(gw, 0.01))                   # gw *= 1.01 on either device
    monkeypatch.setattr(be, "conv2d_backward", wrong)
    x = make64(rng.standard_normal((1, 1, 4, 4)), device=device)
    w = make64(rng.standard_normal((2, 1, 2, 2)), device=device)
    with pytest.raises(AssertionError, match="input 1"):
        gradcheck(conv2d, [x, w])


def test_input_without_grad_gets_none(device, make64, rng):
    x = make64(rng.standard_normal((2, 1, 5, 5)), requires_grad=False, device=device)
    w = make64(rng.standard_normal((2, 1, 3, 3)), device=device)
    conv2d(x, w).sum().backward()
    assert x.grad is None and w.grad.shape == w.shape


# ---- PyTorch parity -------------------------------------------------------------------------

def _torch_grads(torch, fn, arrays, g):
    ts = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    y = fn(*ts)
    y.backward(torch.tensor(g))
    return y.detach().numpy(), [None if t is None else t.grad.numpy() for t in ts]


@pytest.mark.parametrize("xs,ws,stride,padding,bias", [
    ((2, 3, 8, 7), (4, 3, 3, 3), 1, 0, True),
    ((2, 3, 8, 7), (4, 3, 3, 3), 2, 1, True),
    ((2, 2, 9, 6), (3, 2, 4, 2), (2, 3), (1, 0), False),
    ((3, 6, 5), (2, 3, 3, 3), 1, "same", True),                      # unbatched (C, H, W)
    ((2, 2, 6, 6), (3, 2, 2, 3), 1, "valid", True),
])
def test_conv2d_matches_torch(xs, ws, stride, padding, bias, rng):
    torch = pytest.importorskip("torch")
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    b = rng.standard_normal(ws[0]) if bias else None
    ts = [Tensor(a, requires_grad=True) if a is not None else None for a in (x, w, b)]
    y = conv2d(*ts, stride=stride, padding=padding)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    ty, tgrads = _torch_grads(torch, lambda x, w, b: torch.nn.functional.conv2d(
        x, w, b, stride=stride, padding=padding), (x, w, b), g)
    np.testing.assert_allclose(y.data, ty, rtol=1e-6, atol=1e-6)
    for t, tg in zip(ts, tgrads):
        if t is not None:
            np.testing.assert_allclose(t.grad, tg, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("xs,ws,stride,padding,bias", [
    ((2, 3, 11), (4, 3, 3), 1, 1, True),
    ((2, 3, 11), (4, 3, 5), 2, 2, False),
    ((3, 9), (2, 3, 4), 3, 0, True),                                 # unbatched (C, L)
])
def test_conv1d_matches_torch(xs, ws, stride, padding, bias, rng):
    torch = pytest.importorskip("torch")
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    b = rng.standard_normal(ws[0]) if bias else None
    ts = [Tensor(a, requires_grad=True) if a is not None else None for a in (x, w, b)]
    y = conv1d(*ts, stride=stride, padding=padding)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    ty, tgrads = _torch_grads(torch, lambda x, w, b: torch.nn.functional.conv1d(
        x, w, b, stride=stride, padding=padding), (x, w, b), g)
    np.testing.assert_allclose(y.data, ty, rtol=1e-6, atol=1e-6)
    for t, tg in zip(ts, tgrads):
        if t is not None:
            np.testing.assert_allclose(t.grad, tg, rtol=1e-6, atol=1e-6)


def test_float32_stays_float32(device, host, rng):
    x = Tensor(rng.standard_normal((2, 1, 6, 6)).astype(np.float32), requires_grad=True,
               device=device)
    w = Tensor(rng.standard_normal((2, 1, 3, 3)).astype(np.float32), requires_grad=True,
               device=device)
    y = conv2d(x, w, stride=2, padding=1)
    y.sum().backward()
    assert y.dtype == x.grad.dtype == w.grad.dtype == np.float32
    np.testing.assert_allclose(host(y), ref_conv2d(host(x), host(w), None, (2, 2), (1, 1)),
                               rtol=1e-5, atol=1e-5)


# ---- errors ---------------------------------------------------------------------------------

def _t(shape, dtype=np.float32):
    return Tensor(np.zeros(shape, dtype))


@pytest.mark.parametrize("call,exc,msg", [
    (lambda: conv2d(_t((2, 3, 5)), _t((4, 3, 3, 3, 1))), ValueError,
     r"weight must have shape \(out_channels, in_channels, kh, kw\), got \(4, 3, 3, 3, 1\)"),
    (lambda: conv2d(_t((2, 5, 5)), _t((4, 3, 3, 3))), ValueError,
     r"expects 3 input channels, but input \(2, 5, 5\) has 2"),
    (lambda: conv2d(_t((5, 5)), _t((4, 1, 3, 3))), ValueError,
     r"input must have shape \(N, C, H, W\) or \(C, H, W\), got \(5, 5\)"),
    (lambda: conv2d(_t((1, 3, 5, 5)), _t((4, 3, 3, 3), np.float64)), TypeError,
     "weight must have dtype float32"),
    (lambda: conv2d(_t((1, 3, 5, 5)), _t((4, 3, 3, 3)), _t(4, np.float64)), TypeError,
     "bias must have dtype float32"),
    (lambda: conv2d(_t((1, 3, 5, 5)), _t((4, 3, 3, 3)), _t(3)), ValueError,
     r"bias must have shape \(4,\), got \(3,\)"),
    (lambda: conv2d(_t((1, 3, 2, 5)), _t((4, 3, 3, 3))), ValueError,
     r"input size \(2, 5\) \(padded \(2, 5\)\) is smaller than the kernel \(3, 3\)"),
    (lambda: conv2d(_t((1, 3, 5, 5)), _t((4, 3, 3, 3)), stride=0), ValueError,
     "stride must be >= 1"),
    (lambda: conv2d(_t((1, 3, 5, 5)), _t((4, 3, 3, 3)), padding=(1, -1)), ValueError,
     "padding must be >= 0"),
    (lambda: conv2d(_t((1, 3, 5, 5)), _t((4, 3, 3, 3)), stride=(1, 2, 3)), TypeError,
     "stride must be an int or a tuple of 2 ints"),
    (lambda: conv2d(_t((1, 3, 5, 5)), _t((4, 3, 3, 3)), stride=2, padding="same"), ValueError,
     "padding='same' needs stride 1"),
    (lambda: conv2d(np.zeros((1, 3, 5, 5)), _t((4, 3, 3, 3))), TypeError,
     "input must be a minstn.Tensor"),
    (lambda: conv2d(Tensor(np.zeros((1, 3, 5, 5), np.int64)), _t((4, 3, 3, 3))), TypeError,
     "input must be float32 or float64"),
    (lambda: conv1d(_t((2, 3, 5)), _t((4, 3, 3, 3))), ValueError,
     r"weight must have shape \(out_channels, in_channels, k\)"),
    (lambda: conv1d(_t((2, 3, 2)), _t((4, 3, 3)), padding=0), ValueError,
     "is smaller than the kernel"),
    (lambda: conv1d(_t((2, 2, 5)), _t((4, 3, 3))), ValueError, "expects 3 input channels"),
])
def test_errors(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()
