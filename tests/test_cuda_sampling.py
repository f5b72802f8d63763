"""CUDA samplers (kernels/cuda/grid_sample.py): parity with the CPU kernels, determinism,
and the Tensor API on device="cuda" against the CPU (float32). The float64 gradchecks on
device="cuda" are those of test_sampling.py, parametrised over the `device` fixture."""
import os, pytest
pytestmark = [pytest.mark.cudasim, pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") != "1" and not __import__("minstn").device.cuda_available(), reason="needs a GPU or NUMBA_ENABLE_CUDASIM=1")]

import inspect

import numpy as np

import minstn
from minstn.kernels.cpu import grid_sample as cpu_k
from minstn.ops.sampling import affine_grid, grid_sample

MODES = [(border, ac) for border in (False, True) for ac in (False, True)]
F32 = np.float32


@pytest.fixture(scope="module")
def K():
    """The CUDA kernels (imported here, not at collection: the normal run skips this file)."""
    from minstn.kernels.cuda import grid_sample
    return grid_sample


def dev(a):
    from numba import cuda
    return cuda.to_device(np.ascontiguousarray(a))


def dev_empty(shape, dtype=F32):
    from numba import cuda
    return cuda.device_array(shape, dtype)


def host(a):
    return a.copy_to_host()


def any_host(a):
    """A `.grad` (NumPy or device array) as a NumPy array."""
    return a if isinstance(a, np.ndarray) else a.copy_to_host()


def close(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# ---- inputs: out-of-range points, a huge one, NaN and inf ------------------------------------

def inputs2d(rng):
    x = rng.standard_normal((3, 2, 5, 6)).astype(F32)                  # (N, C, H, W)
    grid = rng.uniform(-1.2, 1.2, (3, 3, 4, 2)).astype(F32)            # (N, Ho, Wo, 2)
    grid[0, 0, 0, 0] = np.nan
    grid[0, 0, 1, 1] = np.inf
    grid[0, 1, 1, 0] = -np.inf
    grid[1, 2, 3] = (3.0, -0.5)                                         # beyond the right edge
    grid[1, 1, 2] = (-1e30, 0.2)                                        # huge
    grid[2, 0, 0] = (0.99, -1.05)                                       # just outside
    theta = np.array([[[0.9, -0.3, 0.1], [0.25, 1.1, -0.2]],
                      [[1.6, 0.4, 0.3], [-0.5, 1.5, 0.6]],              # reaches past the image
                      [[0.8, 0.1, np.nan], [0.0, np.inf, 0.1]]], F32)   # non-finite points
    g = rng.standard_normal((3, 2, 3, 4)).astype(F32)                  # dL/dout (N, C, Ho, Wo)
    return x, grid, theta, g


def inputs1d(rng):
    x = rng.standard_normal((3, 2, 7)).astype(F32)                     # (N, C, L)
    grid = rng.uniform(-1.2, 1.2, (3, 5)).astype(F32)                  # (N, Lo)
    grid[0, 1], grid[0, 3], grid[1, 0], grid[2, 4] = np.nan, np.inf, 4.0, -1e30
    theta = np.array([[[0.9, 0.1]], [[1.7, -0.4]], [[np.nan, 0.2]]], F32)
    g = rng.standard_normal((3, 2, 5)).astype(F32)                     # (N, C, Lo)
    return x, grid, theta, g


def test_same_public_names(K):
    names = lambda m: {n for n, v in vars(m).items() if callable(v) and not n.startswith("_")
                       and getattr(v, "__module__", None) == m.__name__}
    assert names(K) == names(cpu_k) and len(names(K)) == 16
    for n in names(cpu_k):                            # and the same parameters
        f = getattr(cpu_k, n)
        assert (list(inspect.signature(getattr(K, n)).parameters)
                == list(inspect.signature(getattr(f, "py_func", f)).parameters)), n


# ---- CPU vs CUDA, float32 --------------------------------------------------------------------

@pytest.mark.parametrize("ac", [False, True])
def test_affine_grid_parity(K, rng, ac):
    _, _, theta, _ = inputs2d(rng)
    theta[2] = rng.standard_normal((2, 3))
    want = np.empty((3, 3, 4, 2), F32)
    cpu_k.affine_grid_forward(theta, want, ac)
    out = dev_empty(want.shape)
    K.affine_grid_forward(dev(theta), out, ac)
    close(host(out), want)
    gg = rng.standard_normal(want.shape).astype(F32)
    want_t = np.empty_like(theta)
    cpu_k.affine_grid_backward(gg, want_t, ac)
    got_t = dev_empty(theta.shape)
    K.affine_grid_backward(dev(gg), got_t, ac)
    close(host(got_t), want_t)


@pytest.mark.parametrize("ac", [False, True])
def test_affine_grid1d_parity(K, rng, ac):
    theta = rng.standard_normal((3, 1, 2)).astype(F32)
    want = np.empty((3, 5), F32)
    cpu_k.affine_grid1d_forward(theta, want, ac)
    out = dev_empty(want.shape)
    K.affine_grid1d_forward(dev(theta), out, ac)
    close(host(out), want)
    gg = rng.standard_normal(want.shape).astype(F32)
    want_t = np.empty_like(theta)
    cpu_k.affine_grid1d_backward(gg, want_t, ac)
    got_t = dev_empty(theta.shape)
    K.affine_grid1d_backward(dev(gg), got_t, ac)
    close(host(got_t), want_t)


def sampler_parity(K, name, x, p, g, border, ac):
    """Forward and both gradients of kernel `name` on CPU and CUDA agree (float32)."""
    fwd, bwd = name + "_forward", name + "_backward"
    want = np.empty(g.shape, F32)
    getattr(cpu_k, fwd)(x, p, want, border, ac)
    out = dev_empty(g.shape)
    getattr(K, fwd)(dev(x), dev(p), out, border, ac)
    close(host(out), want)
    assert np.isfinite(want).all()                     # NaN / inf points sample 0

    want_x, want_p = np.empty_like(x), np.empty_like(p)
    getattr(cpu_k, bwd)(x, p, g, want_x, want_p, border, ac)
    got_x, got_p = dev_empty(x.shape), dev_empty(p.shape)
    getattr(K, bwd)(dev(x), dev(p), dev(g), got_x, got_p, border, ac)
    close(host(got_x), want_x)
    close(host(got_p), want_p)
    assert np.abs(want_x).max() > 0 and np.abs(want_p).max() > 0     # not a vacuous check


@pytest.mark.parametrize("border,ac", MODES)
def test_grid_sample_parity(K, rng, border, ac):
    x, grid, _, g = inputs2d(rng)
    sampler_parity(K, "grid_sample", x, grid, g, border, ac)


@pytest.mark.parametrize("border,ac", MODES)
def test_affine_grid_sample_parity(K, rng, border, ac):
    x, _, theta, g = inputs2d(rng)
    sampler_parity(K, "affine_grid_sample", x, theta, g, border, ac)


@pytest.mark.parametrize("border,ac", MODES)
def test_grid_sample1d_parity(K, rng, border, ac):
    x, grid, _, g = inputs1d(rng)
    sampler_parity(K, "grid_sample1d", x, grid, g, border, ac)


@pytest.mark.parametrize("border,ac", MODES)
def test_affine_grid_sample1d_parity(K, rng, border, ac):
    x, _, theta, g = inputs1d(rng)
    sampler_parity(K, "affine_grid_sample1d", x, theta, g, border, ac)


@pytest.mark.parametrize("name", ["grid_sample1d", "affine_grid_sample1d"])
@pytest.mark.parametrize("border,ac", [(False, False), (True, True)])
def test_sample1d_channels_last(K, rng, name, border, ac):
    """channels_last: x (N, L, C) -> (N, Lo, C). The CUDA kernels give the channels-first
    CPU results permuted, forward and both gradients (both sides in float32)."""
    x, grid, theta, g = inputs1d(rng)
    p = theta if name.startswith("affine") else grid
    cl = lambda a: np.ascontiguousarray(a.transpose(0, 2, 1))
    want, want_x, want_p = np.empty(g.shape, F32), np.empty_like(x), np.empty_like(p)
    getattr(cpu_k, name + "_forward")(x, p, want, border, ac)
    getattr(cpu_k, name + "_backward")(x, p, g, want_x, want_p, border, ac)
    out = dev_empty(cl(g).shape)
    getattr(K, name + "_forward")(dev(cl(x)), dev(p), out, border, ac, True)
    close(host(out), cl(want))
    got_x, got_p = dev_empty(cl(x).shape), dev_empty(p.shape)
    getattr(K, name + "_backward")(dev(cl(x)), dev(p), dev(cl(g)), got_x, got_p, border, ac,
                                   True)
    close(host(got_x), cl(want_x))
    close(host(got_p), want_p)
    assert np.abs(want_x).max() > 0 and np.abs(want_p).max() > 0


def test_nan_points_give_zero_and_no_gradient(K, rng):
    x, grid, theta, g = inputs2d(rng)
    out = dev_empty(g.shape)
    K.affine_grid_sample_forward(dev(x), dev(theta), out, False, False)
    assert (host(out)[2] == 0).all()                   # sample 2: theta holds NaN / inf
    gx, gt = dev_empty(x.shape), dev_empty(theta.shape)
    K.affine_grid_sample_backward(dev(x), dev(theta), dev(g), gx, gt, False, False)
    assert (host(gx)[2] == 0).all() and (host(gt)[2] == 0).all()
    gx, gg = dev_empty(x.shape), dev_empty(grid.shape)
    K.grid_sample_backward(dev(x), dev(grid), dev(g), gx, gg, True, False)
    assert (host(gg)[0, 0, :2] == 0).all()             # the NaN and inf points


@pytest.mark.parametrize("name,d2", [("grid_sample", True), ("affine_grid_sample", True),
                                     ("grid_sample1d", False), ("affine_grid_sample1d", False)])
def test_skipped_gradients(K, rng, name, d2):
    """A size-0 gradient array is skipped; the other gradient is still right."""
    x, grid, theta, g = (inputs2d if d2 else inputs1d)(rng)
    p = theta if name.startswith("affine") else grid
    want_x, want_p = np.empty_like(x), np.empty_like(p)
    getattr(cpu_k, name + "_backward")(x, p, g, want_x, want_p, True, True)
    bwd = getattr(K, name + "_backward")
    got_x = dev_empty(x.shape)
    bwd(dev(x), dev(p), dev(g), got_x, dev_empty((0,) * p.ndim), True, True)
    close(host(got_x), want_x)
    got_p = dev_empty(p.shape)
    bwd(dev(x), dev(p), dev(g), dev_empty((0,) * x.ndim), got_p, True, True)
    close(host(got_p), want_p)


def test_float64_matches_cpu(K, rng):
    x, grid, theta, g = (a.astype(np.float64) for a in inputs2d(rng))
    want_x, want_t = np.empty_like(x), np.empty_like(theta)
    cpu_k.affine_grid_sample_backward(x, theta, g, want_x, want_t, False, True)
    got_x, got_t = dev_empty(x.shape, np.float64), dev_empty(theta.shape, np.float64)
    K.affine_grid_sample_backward(dev(x), dev(theta), dev(g), got_x, got_t, False, True)
    np.testing.assert_allclose(host(got_x), want_x, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(host(got_t), want_t, rtol=1e-12, atol=1e-14)


# ---- determinism: two backward runs give identical bytes ------------------------------------

@pytest.mark.parametrize("name,d2", [("grid_sample", True), ("affine_grid_sample", True),
                                     ("grid_sample1d", False), ("affine_grid_sample1d", False)])
def test_backward_is_deterministic(K, rng, name, d2):
    x, grid, theta, g = (inputs2d if d2 else inputs1d)(rng)
    if name == "grid_sample":
        grid = rng.uniform(-0.2, 0.2, grid.shape).astype(F32)     # many points share pixels
    p = theta if name.startswith("affine") else grid
    x_d, p_d, g_d = dev(x), dev(p), dev(g)
    runs = []
    for _ in range(2):
        gx, gp = dev_empty(x.shape), dev_empty(p.shape)
        getattr(K, name + "_backward")(x_d, p_d, g_d, gx, gp, False, False)
        runs.append((host(gx).tobytes(), host(gp).tobytes()))
    assert runs[0] == runs[1]


# ---- the ops layer (ops/sampling.py) allocates on the device -----------------------------------

@pytest.mark.parametrize("fn,args", [
    ("GridSample", lambda x2, x1, g, t, t1: (x2, g, (3, 4))),
    ("AffineGridSample", lambda x2, x1, g, t, t1: (x2, t, (3, 4))),
    ("GridSample1d", lambda x2, x1, g, t, t1: (x1, g[:, 0, :, 0], (4,))),
    ("AffineGridSample1d", lambda x2, x1, g, t, t1: (x1, t1, (4,)))])
def test_sampler_functions_on_device_arrays(K, rng, fn, args):
    """Function.forward / backward with ctx.device="cuda" take and return device arrays,
    with the CPU's numbers (also the skipped-gradient path)."""
    from minstn.autograd.function import Context
    from minstn.ops import sampling
    x2, grid, theta, _ = inputs2d(rng)
    x1, t1 = inputs1d(rng)[0], inputs1d(rng)[2]
    x, p, size = args(x2, x1, np.ascontiguousarray(grid), theta, t1)
    g = rng.standard_normal((3, 2, *size)).astype(F32)
    F = getattr(sampling, fn)
    for needs in [(True, True), (False, True)]:
        res = {}
        for device, move in (("cpu", np.ascontiguousarray), ("cuda", dev)):
            ctx = Context(device, needs + (False, False, False))
            out = F.forward(ctx, move(x), move(p), size, True, False)
            gx, gp = F.backward(ctx, move(g))[:2]
            res[device] = [a if a is None or isinstance(a, np.ndarray) else host(a)
                           for a in (out, gx, gp)]
        assert res["cuda"][1] is None if not needs[0] else res["cuda"][1] is not None
        for got, want in zip(res["cuda"], res["cpu"]):
            if want is not None:
                close(got, want)


def test_affine_grid_functions_on_device_arrays(K, rng):
    from minstn.autograd.function import Context
    from minstn.ops.sampling import AffineGrid, AffineGrid1d
    theta = rng.standard_normal((2, 2, 3)).astype(F32)
    t1 = rng.standard_normal((2, 1, 2)).astype(F32)
    for F, th, size, gshape in ((AffineGrid, theta, (3, 4), (2, 3, 4, 2)),
                                (AffineGrid1d, t1, 5, (2, 5))):
        g = rng.standard_normal(gshape).astype(F32)
        res = {}
        for device, move in (("cpu", np.ascontiguousarray), ("cuda", dev)):
            ctx = Context(device, (True, False, False))
            out = F.forward(ctx, move(th), size, True)
            gt = F.backward(ctx, move(g))[0]
            res[device] = [a if isinstance(a, np.ndarray) else host(a) for a in (out, gt)]
        for got, want in zip(res["cuda"], res["cpu"]):
            close(got, want)


# ---- the Tensor API ------------------------------------------------------------------------

def test_tensor_api_cuda_matches_cpu(rng):
    """The ops on device="cuda" give the CPU's numbers, forward and backward (float32)."""
    x = rng.standard_normal((2, 2, 5, 6)).astype(F32)
    theta = np.array([[[0.9, -0.3, 0.1], [0.25, 1.1, -0.2]],
                      [[1.3, 0.4, 0.3], [-0.5, 1.2, 0.6]]], F32)
    w = rng.standard_normal((2, 2, 4, 3)).astype(F32)
    res = {}
    for device in ("cpu", "cuda"):
        xt = minstn.Tensor(x, requires_grad=True, device=device)
        tt = minstn.Tensor(theta, requires_grad=True, device=device)
        out = grid_sample(xt, affine_grid(tt, (2, 2, 4, 3)), padding_mode="border")
        (out * minstn.Tensor(w, device=device)).sum().backward()
        res[device] = out.numpy(), any_host(xt.grad), any_host(tt.grad)
    for got, want in zip(res["cuda"], res["cpu"]):
        close(got, want)
