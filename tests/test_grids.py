"""Projective and thin-plate-spline grids (ops/grids.py): forward against independent
references, float64 gradchecks on every device, CPU == CUDA(-simulator) parity, the
horizon rule, and clear errors."""
import numpy as np
import pytest

import minstn
import minstn.functional as F
from minstn import Tensor
from minstn.ops.grids import control_points, spline_weights, tps_basis

from conftest import t64


def base_points(h, w, align_corners=False):
    """(H, W, 3) homogeneous output points (x_w, y_h, 1), independently of the kernels."""
    if align_corners:
        xs, ys = np.linspace(-1, 1, w), np.linspace(-1, 1, h)
    else:
        xs, ys = (2 * np.arange(w) + 1) / w - 1, (2 * np.arange(h) + 1) / h - 1
    x, y = np.meshgrid(xs, ys)
    return np.stack([x, y, np.ones_like(x)], axis=-1)


def homographies(rng, n=3):
    return np.eye(3) + 0.15 * rng.standard_normal((n, 3, 3))


# ---- projective -------------------------------------------------------------------------
@pytest.mark.parametrize("align_corners", [False, True])
def test_projective_grid_is_the_homography_divided_by_w(rng, align_corners):
    theta = homographies(rng)
    grid = F.projective_grid(Tensor(theta), (3, 1, 5, 7), align_corners=align_corners).numpy()
    uvw = np.einsum("nij,hwj->nhwi", theta, base_points(5, 7, align_corners))
    np.testing.assert_allclose(grid, uvw[..., :2] / uvw[..., 2:], rtol=1e-12, atol=1e-12)


def test_projective_identity_and_eight_entry_form_match(rng):
    eye = Tensor(np.tile(np.eye(3), (2, 1, 1)))
    affine = F.affine_grid(Tensor(np.tile(np.eye(3)[:2], (2, 1, 1))), (2, 1, 4, 6)).numpy()
    np.testing.assert_allclose(F.projective_grid(eye, (2, 1, 4, 6)).numpy(), affine, atol=1e-15)
    theta = homographies(rng, 2)
    theta /= theta[:, 2:, 2:]                                          # θ22 = 1
    eight = Tensor(np.ascontiguousarray(theta.reshape(2, 9)[:, :8]), requires_grad=True)
    np.testing.assert_allclose(F.projective_grid(eight, (2, 1, 4, 6)).numpy(),
                               F.projective_grid(Tensor(theta), (2, 1, 4, 6)).numpy())
    assert minstn.gradcheck(lambda t: F.projective_grid(t, (2, 1, 4, 6)), [eight])


def test_points_past_the_horizon_sample_as_outside_without_nan(rng):
    theta = np.eye(3)[None].repeat(2, 0)
    theta[0, 2] = (2.0, 0.0, 0.5)                      # w = 2x + 0.5 <= 0 on the left side
    t = t64(theta)
    grid = F.projective_grid(t, (2, 1, 4, 8))
    g = grid.numpy()
    behind = base_points(4, 8)[..., 0] * 2 + 0.5 <= 1e-6
    assert behind.any() and (~behind).any()
    assert np.all(np.isinf(g[0][behind])) and np.all(np.isfinite(g[0][~behind]))
    x = t64(rng.random((2, 1, 4, 8)))
    out = F.grid_sample(x, grid, padding_mode="border")
    assert np.all(out.numpy()[0, 0][behind] == 0)
    (out * Tensor(rng.standard_normal(out.shape))).sum().backward()
    assert np.all(np.isfinite(np.asarray(t.grad))) and np.all(np.isfinite(np.asarray(x.grad)))


def test_projective_grid_gradcheck(device, rng):
    t = t64(homographies(rng, 2), device=device)
    for ac in (False, True):
        assert minstn.gradcheck(lambda t: F.projective_grid(t, (2, 1, 4, 5), align_corners=ac),
                                [t])


def test_projective_sampling_gradcheck_through_the_sampler(device, rng):
    t = t64(homographies(rng, 2), device=device)
    x = t64(rng.random((2, 2, 6, 6)), device=device)
    f = lambda x, t: F.grid_sample(x, F.projective_grid(t, (2, 2, 5, 5)))
    assert minstn.gradcheck(f, [x, t], atol=1e-5)


# ---- thin-plate spline ----------------------------------------------------------------------
def test_control_points_are_row_major_from_the_top_left():
    pts = control_points((2, 3))
    np.testing.assert_allclose(pts, [[-1, -1], [0, -1], [1, -1], [-1, 1], [0, 1], [1, 1]])


@pytest.mark.parametrize("align_corners", [False, True])
def test_tps_grid_matches_scipy_thin_plate_spline(rng, align_corners):
    from scipy.interpolate import RBFInterpolator
    ctrl = (3, 4)
    offsets = 0.2 * rng.standard_normal((2, 12, 2))
    grid = F.tps_grid(Tensor(offsets), (2, 1, 6, 5), ctrl=ctrl,
                      align_corners=align_corners).numpy()
    pts = control_points(ctrl)
    query = base_points(6, 5, align_corners)[..., :2].reshape(-1, 2)
    for n in range(2):
        ref = RBFInterpolator(pts, pts + offsets[n], kernel="thin_plate_spline")(query)
        np.testing.assert_allclose(grid[n].reshape(-1, 2), ref, atol=1e-9)


def test_tps_zero_offsets_give_the_identity_and_control_points_land_on_their_sources(rng):
    ident = F.affine_grid(Tensor(np.array([[[1.0, 0, 0], [0, 1, 0]]])), (1, 1, 7, 9)).numpy()
    np.testing.assert_allclose(F.tps_grid(Tensor(np.zeros((1, 16, 2))), (1, 1, 7, 9)).numpy(),
                               ident, atol=1e-12)
    # with align_corners=True the 4×4 layout's points are output pixels (0, 0), (0, 3), ...
    offsets = 0.1 * rng.standard_normal((1, 16, 2))
    grid = F.tps_grid(Tensor(offsets), (1, 1, 4, 4), align_corners=True).numpy()[0]
    np.testing.assert_allclose(grid.reshape(-1, 2), control_points((4, 4)) + offsets[0],
                               atol=1e-10)


def test_tps_basis_is_built_once_per_layout():
    a = tps_basis((4, 4), 28, 28, False)
    assert tps_basis((4, 4), 28, 28, False) is a and a.shape == (28 * 28, 16)
    assert tps_basis((3, 3), 28, 28, False) is not a


def test_tps_grid_gradcheck(device, rng):
    o = t64(0.1 * rng.standard_normal((2, 9, 2)), device=device)
    assert minstn.gradcheck(lambda o: F.tps_grid(o, (2, 1, 5, 4), ctrl=(3, 3)), [o])


# ---- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize("call, err, said", [
    (lambda: F.projective_grid(Tensor(np.zeros((2, 2, 3))), (2, 1, 4, 4)), ValueError,
     r"theta must have shape \(N, 3, 3\) or \(N, 8\), got \(2, 2, 3\)"),
    (lambda: F.projective_grid(Tensor(np.zeros((2, 3, 3))), (3, 1, 4, 4)), ValueError,
     "batch size"),
    (lambda: F.projective_grid(Tensor(np.zeros((2, 3, 3), np.int64)), (2, 1, 4, 4)), TypeError,
     "float32 or float64"),
    (lambda: F.tps_grid(Tensor(np.zeros((2, 9, 2))), (2, 1, 4, 4)), ValueError,
     r"K = 4·4 = 16 for ctrl=\(4, 4\), got \(2, 9, 2\)"),
    (lambda: F.tps_grid(Tensor(np.zeros((2, 1, 2))), (2, 1, 4, 4), ctrl=(1, 1)), ValueError,
     "at least 2 control points per axis"),
    (lambda: F.tps_grid(Tensor(np.zeros((2, 4, 2))), (2, 1, 4, 4), ctrl=(2, 2),
                        align_corners=1), TypeError, "align_corners must be a bool"),
])
def test_bad_arguments_name_themselves(call, err, said):
    with pytest.raises(err, match=said):
        call()


def test_a_collinear_layout_is_refused():
    with pytest.raises(ValueError, match="singular"):
        spline_weights(np.array([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0], [-1.0, -1.0]]))


# ---- CPU == CUDA -------------------------------------------------------------------------------
@pytest.mark.cudasim
@pytest.mark.skipif(not (__import__("os").environ.get("NUMBA_ENABLE_CUDASIM") == "1"
                         or minstn.device.cuda_available()), reason="needs a GPU or the simulator")
def test_cuda_grids_match_the_cpu(rng):
    theta = homographies(rng, 2).astype(np.float32)
    theta[1, 2] = (3.0, 0.0, 0.2)                                    # some points past the horizon
    offsets = (0.1 * rng.standard_normal((2, 9, 2))).astype(np.float32)
    weights = rng.standard_normal((2, 4, 5, 2)).astype(np.float32)   # dL/dgrid
    for make, p in ((lambda p: F.projective_grid(p, (2, 1, 4, 5)), theta),
                    (lambda p: F.tps_grid(p, (2, 1, 4, 5), ctrl=(3, 3)), offsets)):
        outs, grads = [], []
        for dev in ("cpu", "cuda"):
            t = Tensor(p, requires_grad=True, device=dev)
            g = make(t)
            g.backward(Tensor(weights, device=dev))
            outs.append(g.numpy())
            grads.append(np.asarray(t.grad) if dev == "cpu" else t.grad.copy_to_host())
        assert np.isinf(outs[0]).any() == (p is theta)
        np.testing.assert_allclose(outs[1], outs[0], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(grads[1], grads[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind, theta_shape", [("affine", (2, 3)), ("projective", (3, 3)),
                                               ("tps", (16, 2))])
def test_spatial_transformer_of_every_kind_starts_at_the_identity(kind, theta_shape, rng):
    from minstn import nn
    loc = nn.Sequential(nn.Flatten(), nn.Linear(1 * 8 * 8, 5))
    st = nn.SpatialTransformer(loc, 5, kind=kind, generator=np.random.default_rng(0))
    x = Tensor(rng.random((3, 1, 8, 8)).astype(np.float32))
    out = st(x)
    assert st.theta.shape == (3, *theta_shape)
    np.testing.assert_allclose(out.numpy(), x.numpy(), atol=1e-5)     # identity: the input back
    out.sum().backward()
    assert st.fc.bias.grad is not None
    with pytest.raises(ValueError, match="kind must be one of"):
        nn.SpatialTransformer(loc, 5, kind="elastic")


FUSED = {  # kind: (fused op, the two ops it replaces), on outputs (5, 4)
    "projective": (lambda x, p, b: F.projective_grid_sample(x, p, (5, 4), padding_mode=b),
                   lambda x, p, b: F.grid_sample(x, F.projective_grid(p, (2, 2, 5, 4)),
                                                 padding_mode=b)),
    "tps": (lambda x, p, b: F.tps_grid_sample(x, p, (5, 4), ctrl=(3, 3), padding_mode=b),
            lambda x, p, b: F.grid_sample(x, F.tps_grid(p, (2, 2, 5, 4), ctrl=(3, 3)),
                                          padding_mode=b))}


@pytest.mark.parametrize("kind", FUSED)
def test_fused_sampler_equals_grid_then_sample(kind, device, rng):
    if kind == "projective":
        p = homographies(rng, 2)
        p[1, 2] = (3.0, 0.0, 0.2)                                      # part past the horizon
    else:
        p = 0.3 * rng.standard_normal((2, 9, 2))                       # some points outside
    fused, two_ops = FUSED[kind]
    t1, t2 = t64(p, device=device), t64(p, device=device)
    x1, x2 = t64(rng.random((2, 2, 6, 7)), device=device), t64(rng.random((2, 2, 6, 7)),
                                                                 device=device)
    x2.data = x1.data
    for border in ("zeros", "border"):
        a, b = fused(x1, t1, border), two_ops(x2, t2, border)
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-12)
        w = rng.standard_normal(a.shape)
        for out, ts in ((a, (x1, t1)), (b, (x2, t2))):
            for t in ts:
                t.grad = None
            (out * Tensor(w, device=device)).sum().backward()
        host = lambda g: np.asarray(g) if isinstance(g, np.ndarray) else g.copy_to_host()
        np.testing.assert_allclose(host(t1.grad), host(t2.grad), atol=1e-9)
        np.testing.assert_allclose(host(x1.grad), host(x2.grad), atol=1e-12)
    if device == "cpu":                    # on CUDA the equality above carries the check
        assert minstn.gradcheck(lambda x, t: fused(x, t, "zeros"), [x1, t1], atol=1e-5)


def test_fused_tps_sampler_checks_its_arguments(rng):
    x = Tensor(rng.random((2, 1, 6, 6)).astype(np.float32))
    with pytest.raises(ValueError, match=r"K = 3·3 = 9 for ctrl=\(3, 3\), got \(2, 16, 2\)"):
        F.tps_grid_sample(x, Tensor(np.zeros((2, 16, 2), np.float32)), ctrl=(3, 3))
    with pytest.raises(ValueError, match="batch size"):
        F.tps_grid_sample(x, Tensor(np.zeros((3, 16, 2), np.float32)))


@pytest.mark.cudasim
def test_cpu_and_cuda_grid_modules_have_the_same_public_names():
    import importlib
    import os
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1" and not minstn.device.cuda_available():
        pytest.skip("importing the CUDA kernels needs a GPU or the simulator")
    cpu, cuda = (importlib.import_module(f"minstn.kernels.{d}.grids") for d in ("cpu", "cuda"))
    names = lambda m: {n for n, v in vars(m).items() if callable(v) and not n.startswith("_")
                       and getattr(v, "__module__", None) == m.__name__}
    assert names(cpu) == names(cuda) == {"projective_grid_forward", "projective_grid_backward",
                                         "tps_grid_forward", "tps_grid_backward"}
