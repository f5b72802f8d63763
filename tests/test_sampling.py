"""affine_grid / grid_sample (2-D and 1-D, separate and fused): references, gradients, torch."""
import math

import numpy as np
import pytest

import minstn
from minstn import Tensor
from minstn.autograd import gradcheck
from minstn.ops.sampling import (affine_grid, affine_grid1d, affine_grid_sample,
                                 affine_grid_sample1d, grid_sample, grid_sample1d)

MODES = [(pm, ac) for pm in ("zeros", "border") for ac in (False, True)]


# ---- NumPy-loop references (written from the PyTorch docs, independent of the kernels) ----

def unnormalize(g, size, align_corners):
    return (g + 1) / 2 * (size - 1) if align_corners else ((g + 1) * size - 1) / 2


def base(size, align_corners):
    if size == 1:
        return np.zeros(1)
    if align_corners:
        return np.linspace(-1, 1, size)
    return (2 * np.arange(size) + 1) / size - 1


def ref_affine_grid(theta, H, W, align_corners):
    N = theta.shape[0]
    out = np.zeros((N, H, W, 2))
    xs, ys = base(W, align_corners), base(H, align_corners)
    for n in range(N):
        for h in range(H):
            for w in range(W):
                out[n, h, w] = theta[n] @ np.array([xs[w], ys[h], 1.0])
    return out


def ref_taps(g, size, padding_mode, align_corners):
    """[(index, weight)] of one coordinate; [] for a non-finite one (our NaN rule)."""
    if not math.isfinite(g):
        return []
    p = unnormalize(float(g), size, align_corners)
    if padding_mode == "border":
        p = min(max(p, 0.0), size - 1.0)
    if not math.isfinite(p):                         # overflow of a huge coordinate
        return []
    i0 = math.floor(p)
    return [(i0, i0 + 1 - p), (i0 + 1, p - i0)]


def ref_grid_sample(x, grid, padding_mode, align_corners):
    N, C, H, W = x.shape
    Ho, Wo = grid.shape[1:3]
    out = np.zeros((N, C, Ho, Wo))
    for n in range(N):
        for h in range(Ho):
            for w in range(Wo):
                tx = ref_taps(grid[n, h, w, 0], W, padding_mode, align_corners)
                ty = ref_taps(grid[n, h, w, 1], H, padding_mode, align_corners)
                if not tx or not ty:
                    continue
                for i, wy in ty:
                    for j, wx in tx:
                        if 0 <= i < H and 0 <= j < W:
                            out[n, :, h, w] += wy * wx * x[n, :, i, j]
    return out


def ref_grid_sample1d(x, grid, padding_mode, align_corners):
    N, C, L = x.shape
    out = np.zeros((N, C, grid.shape[1]))
    for n in range(N):
        for l in range(grid.shape[1]):
            for j, wx in ref_taps(grid[n, l], L, padding_mode, align_corners):
                if 0 <= j < L:
                    out[n, :, l] += wx * x[n, :, j]
    return out


# ---- test data ---------------------------------------------------------------------------

def away_from_kinks(grid, size_xy, align_corners, margin=0.05, shift=0.1):
    """Move coordinates whose pixel position is within `margin` of an integer (the kinks of
    bilinear sampling, border clipping and the zeros boundary) by `shift` pixels."""
    grid = np.array(grid, dtype=np.float64)
    for axis, size in enumerate(size_xy):
        g = grid[..., axis]
        p = unnormalize(g, size, align_corners)
        near = np.abs(p - np.round(p)) < margin
        p = np.where(near, p + shift, p)
        scale = (size - 1) / 2 if align_corners else size / 2
        if scale > 0:
            grid[..., axis] = np.where(near, (p - unnormalize(0.0, size, align_corners)) / scale,
                                       g)
    return grid


def make_grid(rng, N, Ho, Wo, H, W, align_corners, spread=1.3, far=True):
    """Grid with points inside, just outside and (far=True) far outside (±5) the image."""
    grid = rng.uniform(-spread, spread, (N, Ho, Wo, 2))
    if far:
        grid[0, 0, 0] = (5.0, 0.3)
        grid[-1, -1, -1] = (-0.2, -5.0)
    return away_from_kinks(grid, (W, H), align_corners)


def theta_away_from_kinks(rng, N, Ho, Wo, H, W, align_corners, scale=0.5, margin=0.05):
    """A random theta (around identity) whose grid points stay `margin` pixels from kinks."""
    theta = np.empty((N, 2, 3))
    for n in range(N):
        for _ in range(10000):
            theta[n] = np.eye(2, 3) + scale * rng.standard_normal((2, 3))
            grid = ref_affine_grid(theta[n:n + 1], Ho, Wo, align_corners)
            p = [unnormalize(grid[..., axis], size, align_corners)
                 for axis, size in enumerate((W, H)) if size > 1]
            if all(np.all(np.abs(q - np.round(q)) >= margin) for q in p):
                break
        else:
            raise RuntimeError("no theta found")
    return theta


# ---- forward: NumPy references -----------------------------------------------------------

@pytest.mark.parametrize("padding_mode,align_corners", MODES)
def test_grid_sample_matches_numpy_reference(padding_mode, align_corners, device, host):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 4, 5))
    grid = rng.uniform(-1.4, 1.4, (2, 3, 6, 2))
    grid[0, 0, :3] = [(5.0, 0.2), (-7.0, 3.0), (0.5, -1e6)]   # far outside
    grid[1, 2, :2] = [(1e300, 0.1), (-0.3, -1e300)]           # overflows when unnormalised
    grid[1, 1, 0] = (1.0, -1.0)                               # corners, exact integers
    out = grid_sample(Tensor(x, device=device), Tensor(grid, device=device),
                      padding_mode=padding_mode, align_corners=align_corners)
    np.testing.assert_allclose(host(out), ref_grid_sample(x, grid, padding_mode, align_corners),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("align_corners", [False, True])
def test_affine_grid_matches_numpy_reference(align_corners, device, host):
    rng = np.random.default_rng(2)
    theta = rng.standard_normal((3, 2, 3))
    for H, W in [(4, 5), (1, 3), (3, 1)]:
        grid = affine_grid(Tensor(theta, device=device), (3, 2, H, W),
                           align_corners=align_corners)
        assert grid.shape == (3, H, W, 2) and grid.dtype == np.float64
        np.testing.assert_allclose(host(grid), ref_affine_grid(theta, H, W, align_corners),
                                   rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("padding_mode,align_corners", MODES)
def test_grid_sample1d_matches_numpy_reference(padding_mode, align_corners, device, host):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 7))
    grid = rng.uniform(-1.4, 1.4, (2, 9))
    grid[0, :3] = [5.0, -6.0, 1e300]
    out = grid_sample1d(Tensor(x, device=device), Tensor(grid, device=device),
                        padding_mode=padding_mode, align_corners=align_corners)
    np.testing.assert_allclose(host(out), ref_grid_sample1d(x, grid, padding_mode, align_corners),
                               rtol=1e-12, atol=1e-12)
    theta = rng.standard_normal((2, 1, 2))
    g1 = affine_grid1d(Tensor(theta, device=device), (2, 3, 5), align_corners=align_corners)
    np.testing.assert_allclose(host(g1), theta[:, 0, :1] * base(5, align_corners) + theta[:, 0, 1:],
                               rtol=1e-13, atol=1e-13)


def test_identity_theta_reproduces_the_input(device, host):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 5, 6))
    theta = np.tile(np.eye(2, 3), (2, 1, 1))
    for padding_mode, align_corners in MODES:
        out = affine_grid_sample(Tensor(x, device=device), Tensor(theta, device=device),
                                 padding_mode=padding_mode, align_corners=align_corners)
        np.testing.assert_allclose(host(out), x, atol=1e-12)


# ---- gradients: central differences --------------------------------------------------------

@pytest.mark.parametrize("padding_mode,align_corners", MODES)
def test_gradcheck_grid_sample(padding_mode, align_corners, device, make64):
    rng = np.random.default_rng(5)
    x = make64(rng.standard_normal((2, 2, 3, 4)), device=device)
    grid = make64(make_grid(rng, 2, 2, 3, 3, 4, align_corners), device=device)
    gradcheck(lambda a, g: grid_sample(a, g, padding_mode=padding_mode,
                                       align_corners=align_corners), [x, grid])


@pytest.mark.parametrize("align_corners", [False, True])
def test_gradcheck_affine_grid(align_corners, device, make64):
    theta = make64(np.random.default_rng(6).standard_normal((2, 2, 3)), device=device)
    gradcheck(lambda t: affine_grid(t, (2, 1, 3, 4), align_corners=align_corners), [theta])


@pytest.mark.parametrize("padding_mode,align_corners", MODES)
def test_gradcheck_theta_through_affine_grid_and_grid_sample(padding_mode, align_corners, device,
                                                             make64):
    rng = np.random.default_rng(7)
    C = 2 if device == "cpu" else 1                   # the simulator: fewer gradcheck entries
    x = make64(rng.standard_normal((2, C, 4, 3)), device=device)
    theta = make64(theta_away_from_kinks(rng, 2, 3, 3, 4, 3, align_corners), device=device)

    def f(a, t):
        grid = affine_grid(t, (2, C, 3, 3), align_corners=align_corners)
        return grid_sample(a, grid, padding_mode=padding_mode, align_corners=align_corners)
    gradcheck(f, [x, theta])


@pytest.mark.parametrize("padding_mode,align_corners", MODES)
def test_gradcheck_affine_grid_sample(padding_mode, align_corners, device, make64):
    rng = np.random.default_rng(8)
    x = make64(rng.standard_normal((2, 2, 4, 3)), device=device)
    theta = make64(theta_away_from_kinks(rng, 2, 3, 2, 4, 3, align_corners, scale=0.8),
                   device=device)
    gradcheck(lambda a, t: affine_grid_sample(a, t, (3, 2), padding_mode=padding_mode,
                                              align_corners=align_corners), [x, theta])


@pytest.mark.parametrize("padding_mode,align_corners", MODES)
def test_gradcheck_1d(padding_mode, align_corners, device, make64):
    rng = np.random.default_rng(9)
    kw = dict(padding_mode=padding_mode, align_corners=align_corners)
    x = make64(rng.standard_normal((2, 2, 5)), device=device)
    grid = rng.uniform(-1.3, 1.3, (2, 4))
    grid[0, 0], grid[1, 1] = 5.0, -5.0
    grid = make64(away_from_kinks(grid[..., None], (5,), align_corners)[..., 0], device=device)
    gradcheck(lambda a, g: grid_sample1d(a, g, **kw), [x, grid])
    theta = make64(rng.standard_normal((2, 1, 2)), device=device)
    gradcheck(lambda t: affine_grid1d(t, (2, 2, 4), align_corners=align_corners), [theta])
    for _ in range(1000):                       # theta whose points stay away from the kinks
        th = np.array([[[1.0, 0.0]]] * 2) + 0.6 * rng.standard_normal((2, 1, 2))
        p = unnormalize(th[:, 0, :1] * base(4, align_corners) + th[:, 0, 1:], 5, align_corners)
        if np.all(np.abs(p - np.round(p)) > 0.05):
            break
    gradcheck(lambda a, t: affine_grid_sample1d(a, t, 4, **kw), [x, make64(th, device=device)])


# ---- PyTorch parity (float64, 1e-6) ------------------------------------------------------

@pytest.mark.parametrize("padding_mode,align_corners", MODES)
def test_torch_parity(padding_mode, align_corners, make64):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(10)
    N, C, H, W, Ho, Wo = 3, 2, 5, 6, 4, 7
    x = rng.standard_normal((N, C, H, W))
    theta = theta_away_from_kinks(rng, N, Ho, Wo, H, W, align_corners, 1.0, margin=0.01)
    grid = make_grid(rng, N, Ho, Wo, H, W, align_corners)
    grid[1, 1, 1] = (1e6, -0.3)
    gout = rng.standard_normal((N, C, Ho, Wo))

    xs, ts, gs = make64(x), make64(theta), make64(grid)
    g_ours = affine_grid(ts, (N, C, Ho, Wo), align_corners=align_corners)
    out_theta = grid_sample(xs, g_ours, padding_mode=padding_mode, align_corners=align_corners)
    out_grid = grid_sample(xs, gs, padding_mode=padding_mode, align_corners=align_corners)
    (out_theta * Tensor(gout)).sum().backward()
    (out_grid * Tensor(gout)).sum().backward()

    xt = torch.tensor(x, requires_grad=True)
    tt = torch.tensor(theta, requires_grad=True)
    gt = torch.tensor(grid, requires_grad=True)
    g_torch = F.affine_grid(tt, (N, C, Ho, Wo), align_corners=align_corners)
    o1 = F.grid_sample(xt, g_torch, padding_mode=padding_mode, align_corners=align_corners)
    o2 = F.grid_sample(xt, gt, padding_mode=padding_mode, align_corners=align_corners)
    ((o1 + o2) * torch.tensor(gout)).sum().backward()

    close = dict(rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(g_ours.data, g_torch.detach().numpy(), **close)
    np.testing.assert_allclose(out_theta.data, o1.detach().numpy(), **close)
    np.testing.assert_allclose(out_grid.data, o2.detach().numpy(), **close)
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), **close)
    np.testing.assert_allclose(ts.grad, tt.grad.numpy(), **close)
    np.testing.assert_allclose(gs.grad, gt.grad.numpy(), **close)
    assert gs.grad[0, 0, 0, 0] == 0 and gs.grad[1, 1, 1, 0] == 0     # x far outside
    assert np.any(ref_affine_grid(theta, Ho, Wo, align_corners) > 1)  # theta reaches outside


# ---- 1-D is 2-D on an image of height 1 --------------------------------------------------

@pytest.mark.parametrize("padding_mode,align_corners", MODES)
def test_1d_equals_2d_with_height_1(padding_mode, align_corners, make64):
    """grid_sample1d(x, t) == grid_sample(x[:, :, None], (t, 0)) bit for bit (y = 0 is row 0
    in both align_corners modes), and the fused 1-D op == the fused 2-D op with
    theta2 = [[θ0, 0, θ1], [0, 1, 0]] (affine_grid's y for H = 1 is 0)."""
    rng = np.random.default_rng(11)
    kw = dict(padding_mode=padding_mode, align_corners=align_corners)
    N, C, L, Lo = 3, 2, 7, 9
    x = rng.standard_normal((N, C, L))
    t = rng.uniform(-1.5, 1.5, (N, Lo))
    t[0, 0], t[1, 1] = 5.0, np.nan
    gout = rng.standard_normal((N, C, Lo))

    x1, g1 = make64(x), make64(t)
    out1 = grid_sample1d(x1, g1, **kw)
    (out1 * Tensor(gout)).sum().backward()
    x2, g2 = make64(x[:, :, None, :]), make64(np.stack([t, np.zeros_like(t)], -1)[:, None])
    out2 = grid_sample(x2, g2, **kw)
    (out2 * Tensor(gout[:, :, None])).sum().backward()
    assert np.array_equal(out1.data, out2.data[:, :, 0])
    assert np.array_equal(x1.grad, x2.grad[:, :, 0])
    assert np.array_equal(g1.grad, g2.grad[:, 0, :, 0])

    theta = rng.standard_normal((N, 1, 2))
    theta2 = np.zeros((N, 2, 3))
    theta2[:, 0, 0], theta2[:, 0, 2], theta2[:, 1, 1] = theta[:, 0, 0], theta[:, 0, 1], 1.0
    np.testing.assert_array_equal(
        affine_grid1d(Tensor(theta), (N, C, Lo), align_corners=align_corners).data,
        affine_grid(Tensor(theta2), (N, C, 1, Lo), align_corners=align_corners).data[:, 0, :, 0])
    x1, t1 = make64(x), make64(theta)
    out1 = affine_grid_sample1d(x1, t1, Lo, **kw)
    (out1 * Tensor(gout)).sum().backward()
    x2, t2 = make64(x[:, :, None, :]), make64(theta2)
    out2 = affine_grid_sample(x2, t2, (1, Lo), **kw)
    (out2 * Tensor(gout[:, :, None])).sum().backward()
    assert np.array_equal(out1.data, out2.data[:, :, 0])
    assert np.array_equal(x1.grad, x2.grad[:, :, 0])
    assert np.array_equal(t1.grad[:, 0], t2.grad[:, 0, [0, 2]])


# ---- 1-D channels last: the same numbers without the permutes ------------------------------

@pytest.mark.parametrize("padding_mode,align_corners", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_1d_channels_last_equals_permuted(padding_mode, align_corners, dtype, device, host):
    """channels_last=True on x (N, L, C) gives, bit for bit, the channels-first op's output
    and gradients (input, grid, theta) permuted, for both 1-D samplers."""
    rng = np.random.default_rng(21)
    kw = dict(padding_mode=padding_mode, align_corners=align_corners)
    N, C, L, Lo = 3, 4, 7, 9
    x = rng.standard_normal((N, C, L)).astype(dtype)
    t = rng.uniform(-1.5, 1.5, (N, Lo)).astype(dtype)
    t[0, 0], t[1, 1] = 5.0, np.nan
    theta = (np.array([[[1.0, 0.0]]]) + 0.5 * rng.standard_normal((N, 1, 2))).astype(dtype)
    gout = rng.standard_normal((N, C, Lo)).astype(dtype)
    cl = lambda a: np.ascontiguousarray(a.transpose(0, 2, 1))      # (N, C, L) <-> (N, L, C)

    def run(op, x, p, g, channels_last):
        xt = Tensor(x, requires_grad=True, device=device)
        pt = Tensor(p, requires_grad=True, device=device)
        out = op(xt, pt, channels_last=channels_last)
        out.backward(Tensor(g, device=device))
        return host(out), host(xt.grad), host(pt.grad)

    for op, p in ((lambda a, q, **f: grid_sample1d(a, q, **kw, **f), t),
                  (lambda a, q, **f: affine_grid_sample1d(a, q, Lo, **kw, **f), theta)):
        out, gx, gp = run(op, x, p, gout, False)
        out_cl, gx_cl, gp_cl = run(op, cl(x), p, cl(gout), True)
        assert out_cl.shape == (N, Lo, C) and gx_cl.shape == (N, L, C)
        np.testing.assert_array_equal(out_cl, cl(out))
        np.testing.assert_array_equal(gx_cl, cl(gx))
        np.testing.assert_array_equal(gp_cl, gp)


@pytest.mark.parametrize("padding_mode,align_corners", MODES)
def test_gradcheck_1d_channels_last(padding_mode, align_corners, device, make64):
    rng = np.random.default_rng(22)
    kw = dict(padding_mode=padding_mode, align_corners=align_corners, channels_last=True)
    x = make64(rng.standard_normal((2, 5, 3)), device=device)                 # (N, L, C)
    grid = rng.uniform(-1.3, 1.3, (2, 4))
    grid = make64(away_from_kinks(grid[..., None], (5,), align_corners)[..., 0], device=device)
    gradcheck(lambda a, g: grid_sample1d(a, g, **kw), [x, grid])
    for _ in range(1000):                       # theta whose points stay away from the kinks
        th = np.array([[[1.0, 0.0]]] * 2) + 0.6 * rng.standard_normal((2, 1, 2))
        p = unnormalize(th[:, 0, :1] * base(4, align_corners) + th[:, 0, 1:], 5, align_corners)
        if np.all(np.abs(p - np.round(p)) > 0.05):
            break
    gradcheck(lambda a, t: affine_grid_sample1d(a, t, 4, **kw), [x, make64(th, device=device)])


def test_1d_channels_last_checks_its_shapes():
    x = Tensor(np.zeros((2, 5, 3), np.float32))                 # (N, L, C): L 5, C 3
    theta = Tensor(np.zeros((2, 1, 2), np.float32))
    assert affine_grid_sample1d(x, theta, channels_last=True).shape == (2, 5, 3)
    assert affine_grid_sample1d(x, theta, 7, channels_last=True).shape == (2, 7, 3)
    assert affine_grid_sample1d(x, theta, (2, 7, 3), channels_last=True).shape == (2, 7, 3)
    with pytest.raises(ValueError, match="channels"):
        affine_grid_sample1d(x, theta, (2, 7, 4), channels_last=True)
    with pytest.raises(ValueError, match=r"out_size\[2\] \(channels\).*got \(2, 7, 4\)"):
        affine_grid_sample1d(x, theta, (2, 7, 4), channels_last=True)   # names the size given
    with pytest.raises(ValueError, match="positive spatial sizes"):
        affine_grid_sample1d(x, theta, (2, 0, 3), channels_last=True)
    with pytest.raises(TypeError, match="channels_last must be a bool"):
        affine_grid_sample1d(x, theta, channels_last="yes")
    with pytest.raises(ValueError, match=r"\(N, L, C\)"):
        grid_sample1d(Tensor(np.zeros((2, 0, 3), np.float32)), Tensor(np.zeros((2, 4), np.float32)),
                      channels_last=True)


# ---- fused == unfused ------------------------------------------------------------------------

@pytest.mark.parametrize("padding_mode,align_corners", MODES)
def test_fused_equals_affine_grid_then_grid_sample(padding_mode, align_corners):
    rng = np.random.default_rng(12)
    kw = dict(padding_mode=padding_mode, align_corners=align_corners)
    N, C, H, W, Ho, Wo = 3, 2, 6, 5, 4, 7
    x = rng.standard_normal((N, C, H, W))
    theta = np.tile(np.eye(2, 3), (N, 1, 1)) + 0.4 * rng.standard_normal((N, 2, 3))
    gout = rng.standard_normal((N, C, Ho, Wo))
    for dtype, exact in ((np.float64, True), (np.float32, False)):
        res = []
        for fused in (True, False):
            xs = Tensor(x.astype(dtype), requires_grad=True)
            ts = Tensor(theta.astype(dtype), requires_grad=True)
            if fused:
                out = affine_grid_sample(xs, ts, (N, C, Ho, Wo), **kw)
            else:
                out = grid_sample(xs, affine_grid(ts, (N, C, Ho, Wo), align_corners), **kw)
            (out * Tensor(gout.astype(dtype))).sum().backward()
            assert out.dtype == xs.grad.dtype == ts.grad.dtype == dtype
            res.append((out.data, xs.grad, ts.grad))
        for a, b in zip(*res):
            if exact:
                assert np.array_equal(a, b)
            else:
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)

    x1 = rng.standard_normal((N, C, 8))
    th1 = rng.standard_normal((N, 1, 2))
    a = affine_grid_sample1d(Tensor(x1), Tensor(th1), 5, **kw)
    b = grid_sample1d(Tensor(x1), affine_grid1d(Tensor(th1), (N, C, 5), align_corners), **kw)
    assert np.array_equal(a.data, b.data)


def test_out_size_forms_and_gradients_only_where_asked():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 3, 5, 4))
    theta = np.tile(np.eye(2, 3), (2, 1, 1)) + 0.2 * rng.standard_normal((2, 2, 3))
    a = affine_grid_sample(Tensor(x), Tensor(theta))
    b = affine_grid_sample(Tensor(x), Tensor(theta), (5, 4))
    c = affine_grid_sample(Tensor(x), Tensor(theta), (2, 3, 5, 4))
    assert a.shape == (2, 3, 5, 4) and np.array_equal(a.data, b.data) \
        and np.array_equal(a.data, c.data)
    assert affine_grid_sample1d(Tensor(x[:, :, 0]), Tensor(theta[:, :1, :2]), (7,)).shape \
        == (2, 3, 7)

    xs, ts = Tensor(x), Tensor(theta, requires_grad=True)      # input is data: no dx
    affine_grid_sample(xs, ts).sum().backward()
    assert xs.grad is None and ts.grad.shape == (2, 2, 3) and np.any(ts.grad != 0)
    xs, gs = Tensor(x, requires_grad=True), Tensor(rng.uniform(-1, 1, (2, 3, 3, 2)))
    grid_sample(xs, gs).sum().backward()
    assert gs.grad is None and xs.grad.shape == x.shape


# ---- non-finite theta / grid -------------------------------------------------------------

@pytest.mark.parametrize("padding_mode,align_corners", MODES)
def test_nan_and_inf_sample_zero_with_zero_gradient(padding_mode, align_corners):
    rng = np.random.default_rng(14)
    kw = dict(padding_mode=padding_mode, align_corners=align_corners)
    for dtype in (np.float64, np.float32):
        x = rng.standard_normal((2, 2, 4, 5)).astype(dtype)
        grid = rng.uniform(-1, 1, (2, 3, 4, 2)).astype(dtype)
        bad = [(0, 0, 0, 0, np.nan), (0, 1, 2, 1, np.inf), (1, 2, 3, 0, -np.inf),
               (1, 0, 1, 1, np.nan)]
        for n, h, w, k, v in bad:
            grid[n, h, w, k] = v
        xs, gs = Tensor(x, requires_grad=True), Tensor(grid, requires_grad=True)
        out = grid_sample(xs, gs, **kw)
        out.sum().backward()
        clean = grid.copy()
        for n, h, w, _, _ in bad:
            assert np.all(out.data[n, :, h, w] == 0) and np.all(gs.grad[n, h, w] == 0)
            clean[n, h, w] = 5.0                          # a point that reads nothing
        ref = grid_sample(Tensor(x, requires_grad=True), Tensor(clean), **kw)
        assert np.all(np.isfinite(out.data)) and np.all(np.isfinite(xs.grad))
        if padding_mode == "zeros":
            np.testing.assert_array_equal(out.data, ref.data)

        theta = np.tile(np.eye(2, 3), (2, 1, 1)).astype(dtype)
        theta[1, 0, 1] = np.nan
        theta[0, 1, 2] = np.inf
        for fused in (True, False):
            xs, ts = Tensor(x, requires_grad=True), Tensor(theta, requires_grad=True)
            out = affine_grid_sample(xs, ts, **kw) if fused else \
                grid_sample(xs, affine_grid(ts, x.shape, align_corners), **kw)
            out.sum().backward()
            assert np.all(out.data == 0) and np.all(xs.grad == 0) and np.all(ts.grad == 0)

        t = grid[:, 0, :, 0].copy()
        t[1, 3] = np.inf
        x1, g1 = Tensor(x[:, 0], requires_grad=True), Tensor(t, requires_grad=True)
        out = grid_sample1d(x1, g1, **kw)
        out.sum().backward()
        for n, w in ((0, 0), (1, 3)):
            assert np.all(out.data[n, :, w] == 0) and g1.grad[n, w] == 0
        t1 = Tensor(np.array([[[np.nan, 0.0]], [[1.0, np.inf]]], dtype), requires_grad=True)
        out = affine_grid_sample1d(Tensor(x[:, 0]), t1)
        out.sum().backward()
        assert np.all(out.data == 0) and np.all(t1.grad == 0)


# ---- determinism -----------------------------------------------------------------------------

def _backward_bytes(x, theta, grid):
    xs, ts = Tensor(x, requires_grad=True), Tensor(theta, requires_grad=True)
    gout = Tensor(np.linspace(-1, 1, x.size).reshape(x.shape).astype(x.dtype))
    (affine_grid_sample(xs, ts) * gout).sum().backward()
    xg, gs = Tensor(x, requires_grad=True), Tensor(grid, requires_grad=True)
    (grid_sample(xg, gs) * gout).sum().backward()
    return xs.grad.tobytes() + ts.grad.tobytes() + xg.grad.tobytes() + gs.grad.tobytes()


def test_backward_is_deterministic():
    import numba
    from minstn.kernels.cpu.grid_sample import GRAIN
    rng = np.random.default_rng(15)
    x = rng.standard_normal((16, 3, 48, 48)).astype(np.float32)
    assert x.size >= GRAIN                        # outputs of both ops: the parallel kernels
    theta = (np.tile(np.eye(2, 3), (16, 1, 1)) * 0.7
             + 0.1 * rng.standard_normal((16, 2, 3))).astype(np.float32)
    grid = rng.uniform(-0.7, 0.7, (16, 48, 48, 2)).astype(np.float32)  # many shared taps
    first = _backward_bytes(x, theta, grid)
    assert _backward_bytes(x, theta, grid) == first
    if numba.config.NUMBA_NUM_THREADS > 1 and not numba.config.DISABLE_JIT:
        before = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            assert _backward_bytes(x, theta, grid) == first     # independent of threads
        finally:
            numba.set_num_threads(before)


@pytest.mark.parametrize("points", ["grid", "affine", "tps"])
def test_parallel_kernels_equal_the_serial_loop(points):
    """Above GRAIN outputs the batch runs in parallel blocks: the same bytes as one loop."""
    from minstn.kernels.cpu import grid_sample as G
    from minstn.ops.grids import tps_basis_t
    rng = np.random.default_rng(16)
    x = rng.standard_normal((5, 2, 9, 7)).astype(np.float32)
    theta = (np.eye(2, 3) + 0.2 * rng.standard_normal((5, 2, 3))).astype(np.float32)
    grid = rng.uniform(-1.2, 1.2, (5, 6, 8, 2)).astype(np.float32)
    go = rng.standard_normal((5, 2, 6, 8)).astype(np.float32)
    basis_t = G._NO_BASIS
    if points == "grid":
        theta = np.empty((0, 2, 3), np.float32)
    else:
        grid = np.empty((0, 0, 0, 2), np.float32)
    if points == "tps":                           # offsets of a 3x3 layout, its basis (9, 6*8)
        theta = (0.2 * rng.standard_normal((5, 9, 2))).astype(np.float32)
        basis_t = tps_basis_t((3, 3), 6, 8)
    results = []
    for parallel in (True, False):
        out, gx = np.empty_like(go), np.empty_like(x)
        gg, gt = np.empty_like(grid), np.empty_like(theta)
        if parallel:
            G._sample2d_forward(x, grid, theta, basis_t, out, False, False)
            G._sample2d_backward(x, grid, theta, basis_t, go, gx, gg, gt, False, False)
        else:
            G._forward2d_block(x, grid, theta, basis_t, out, False, False, 0, 5)
            G._backward2d_block(x, grid, theta, basis_t, go, gx, gg, gt, False, False, 0, 5)
        results.append([a.tobytes() for a in (out, gx, gg, gt)])
    assert results[0] == results[1]


@pytest.mark.parametrize("points", ["grid", "affine"])
def test_parallel_1d_kernels_equal_the_serial_loop(points):
    """The 1-D sampler's parallel blocks give the bytes of one loop, forward and backward
    (x, grid or theta gradients), with border and zeros padding."""
    from minstn.kernels.cpu import grid_sample as G
    rng = np.random.default_rng(17)
    x = rng.standard_normal((70, 3, 11)).astype(np.float32)      # 70 samples: blocks of 2
    theta = np.stack([1 + 0.3 * rng.standard_normal(70),
                      0.3 * rng.standard_normal(70)], 1)[:, None].astype(np.float32)
    grid = rng.uniform(-1.2, 1.2, (70, 9)).astype(np.float32)
    go = rng.standard_normal((70, 3, 9)).astype(np.float32)
    if points == "grid":
        theta = np.empty((0, 1, 2), np.float32)
    else:
        grid = np.empty((0, 0), np.float32)
    cl = lambda a: np.ascontiguousarray(a.transpose(0, 2, 1))
    for border, last in ((False, False), (True, False), (False, True), (True, True)):
        xs, gos = (cl(x), cl(go)) if last else (x, go)                # channels last or first
        results = []
        for parallel in (True, False):
            out, gx = np.empty_like(gos), np.empty_like(xs)
            gg, gt = np.empty_like(grid), np.empty_like(theta)
            if parallel:
                G._sample1d_forward(xs, grid, theta, out, border, False, last)
                G._sample1d_backward(xs, grid, theta, gos, gx, gg, gt, border, False, last)
            else:
                G._forward1d_block(xs, grid, theta, out, border, False, last, 0, 70)
                G._backward1d_block(xs, grid, theta, gos, gx, gg, gt, border, False, last, 0, 70)
            results.append([a.tobytes() for a in (out, gx, gg, gt)])
        assert results[0] == results[1]


# ---- argument checks -------------------------------------------------------------------------

def test_error_messages():
    x, theta = Tensor(np.zeros((2, 1, 4, 4))), Tensor(np.zeros((2, 2, 3)))
    grid = Tensor(np.zeros((2, 3, 3, 2)))
    cases = [
        (ValueError, r"theta must have shape \(N, 2, 3\), got \(4, 6\)",
         lambda: affine_grid(Tensor(np.zeros((4, 6))), (4, 1, 2, 2))),
        (ValueError, r"size must be a tuple \(N, C, H, W\)",
         lambda: affine_grid(theta, (2, 4, 4))),
        (ValueError, r"size\[0\].*must equal theta's batch size 2",
         lambda: affine_grid(theta, (3, 1, 4, 4))),
        (ValueError, "positive spatial sizes", lambda: affine_grid(theta, (2, 1, 0, 4))),
        (TypeError, "align_corners must be a bool", lambda: affine_grid(theta, x.shape, None)),
        (ValueError, r"grid batch size 3 does not match input batch size 2",
         lambda: grid_sample(x, Tensor(np.zeros((3, 3, 3, 2))))),
        (ValueError, r"grid must have shape \(N, H_out, W_out, 2\), got \(2, 3, 3, 3\)",
         lambda: grid_sample(x, Tensor(np.zeros((2, 3, 3, 3))))),
        (ValueError, r"input must have shape \(N, C, H, W\)",
         lambda: grid_sample(Tensor(np.zeros((2, 4, 4))), grid)),
        (TypeError, "grid must have the input's dtype float64, got float32",
         lambda: grid_sample(x, Tensor(np.zeros((2, 3, 3, 2), np.float32)))),
        (ValueError, "mode must be 'bilinear'", lambda: grid_sample(x, grid, mode="nearest")),
        (ValueError, r"padding_mode must be one of \('zeros', 'border'\), got 'reflection'",
         lambda: grid_sample(x, grid, padding_mode="reflection")),
        (TypeError, "input must be a minstn.Tensor", lambda: grid_sample(np.zeros((2, 1, 4, 4)),
                                                                           grid)),
        (ValueError, r"theta batch size 3 does not match input batch size 2",
         lambda: affine_grid_sample(x, Tensor(np.zeros((3, 2, 3))))),
        (ValueError, r"out_size must be \(H_out, W_out\) or \(N, C, H_out, W_out\)",
         lambda: affine_grid_sample(x, theta, (5,))),
        (ValueError, r"out_size\[1\] \(channels\) must equal input's 1",
         lambda: affine_grid_sample(x, theta, (2, 3, 5, 5))),
        (ValueError, r"theta must have shape \(N, 1, 2\), got \(2, 2, 3\)",
         lambda: affine_grid1d(theta, (2, 1, 5))),
        (ValueError, r"size must be a tuple \(N, C, L\)",
         lambda: affine_grid1d(Tensor(np.zeros((2, 1, 2))), (2, 1, 5, 5))),
        (ValueError, r"grid must have shape \(N, L_out\), got \(2, 3, 1\)",
         lambda: grid_sample1d(Tensor(np.zeros((2, 1, 5))), Tensor(np.zeros((2, 3, 1))))),
        (ValueError, r"input must have shape \(N, C, L\)",
         lambda: grid_sample1d(x, Tensor(np.zeros((2, 3))))),
        (ValueError, "padding_mode must be one of",
         lambda: affine_grid_sample1d(Tensor(np.zeros((2, 1, 5))), Tensor(np.zeros((2, 1, 2))),
                                      padding_mode="reflect")),
    ]
    for exc, msg, call in cases:
        with pytest.raises(exc, match=msg):
            call()


def test_kernels_exported():
    from minstn.kernels import cpu
    for op in ("affine_grid", "grid_sample", "affine_grid_sample", "affine_grid1d",
               "grid_sample1d", "affine_grid_sample1d"):
        assert callable(getattr(cpu, op + "_forward")) and callable(getattr(cpu, op + "_backward"))
    assert minstn.Tensor is Tensor
