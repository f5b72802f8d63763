"""Grids beyond affine: projective (a homography) and thin-plate spline (TPS).

    grid = projective_grid(theta, (N, C, Ho, Wo))   # theta (N, 3, 3) or (N, 8)
    grid = tps_grid(offsets, (N, C, Ho, Wo))        # offsets (N, K, 2) of K control points
    out = grid_sample(input, grid)                  # as for an affine grid

Both return (N, Ho, Wo, 2) in PyTorch's (x, y) convention, normalised to [-1, 1] with
`align_corners` as in affine_grid, and are differentiable with respect to their
parameters (kernels: minstn/kernels/<device>/grids.py, maths in kernels/_scalar.py).

Projective: (u, v, w) = θ (x, y, 1) and the point read is (u / w, v / w). Where
w <= W_MIN (1e-6) the output point maps onto or past the horizon of the image plane:
the grid holds +inf there, every sampler reads such a point as outside the image (0,
with gradient 0), and θ gets no gradient from it. Nothing is NaN, nothing crashes.
θ = identity (3×3) gives affine_grid's identity grid. A (N, 8) theta holds the first
eight entries row by row; the ninth is fixed to 1.

TPS: K = gy·gx control points sit on a regular grid over the output, ctrl=(gy, gx):
c_k = (x_j, y_i) with x_j = -1 + 2 j / (gx - 1), y_i = -1 + 2 i / (gy - 1), ordered row by
row from the top left (k = i gx + j). Control point k reads the input at c_k + offsets[n, k];
the thin-plate spline through those K pairs, kernel U(r) = r² log r plus an affine part,
gives every other point:

    f(p) = a0 + a1 x + a2 y + Σ_k w_k U(|p - c_k|),  with [[U(|c_i - c_j|), P], [Pᵀ, 0]]
    [w; a] = [src; 0] and P = (1, x, y) per control point.

f is linear in the sources, so grid[n] = B src[n] with B (Ho Wo, K) fixed by the layout
and the output size: `tps_basis` builds it once per (ctrl, Ho, Wo, align_corners) and
keeps it. The spline through the control points themselves (zero offsets) is the
identity grid, since a TPS reproduces any affine map, so the kernels compute
grid[n] = identity + B offsets[n].
"""
import functools
import numbers

import numpy as np

from ..autograd.function import Function
from ..kernels import backend
from ._check import c, float_tensor
from .sampling import _Sampler, _border, _flag, _input, _out_size, _same_batch, _size


class ProjectiveGrid(Function):
    @staticmethod
    def forward(ctx, theta, hw, align_corners):
        be = backend(ctx.device)
        theta = c(theta)                                            # (N, 3, 3)
        out = be.empty((theta.shape[0], *hw, 2), theta.dtype)       # (N, H, W, 2)
        be.projective_grid_forward(theta, out, align_corners)
        ctx.save_for_backward(theta)
        ctx.align_corners = align_corners
        return out

    @staticmethod
    def backward(ctx, g):
        (theta,) = ctx.saved_tensors
        be = backend(ctx.device)
        gt = be.empty(theta.shape, theta.dtype)
        be.projective_grid_backward(theta, c(g), gt, ctx.align_corners)
        return gt, None, None


class TPSGrid(Function):
    @staticmethod
    def forward(ctx, offsets, basis, hw, align_corners):
        be = backend(ctx.device)
        offsets = c(offsets)                                        # (N, K, 2)
        out = be.empty((offsets.shape[0], *hw, 2), offsets.dtype)   # (N, H, W, 2)
        be.tps_grid_forward(basis, offsets, out, align_corners)
        ctx.basis, ctx.meta = basis, (offsets.shape, offsets.dtype)
        return out

    @staticmethod
    def backward(ctx, g):
        be = backend(ctx.device)
        shape, dtype = ctx.meta
        go = be.empty(shape, dtype)
        be.tps_grid_backward(ctx.basis, c(g), go)
        return go, None, None, None


class TPSGridSample(_Sampler):
    """x (N, C, H, W), offsets (N, K, 2), out_size (Ho, Wo), basis_t (K, Ho Wo)  →  (N, C, Ho, Wo)"""
    kernel = "tps_grid_sample"


class ProjectiveGridSample(_Sampler):
    """x (N, C, H, W), theta (N, 3, 3), out_size (Ho, Wo)  →  (N, C, Ho, Wo)"""
    kernel = "projective_grid_sample"


def _homographies(theta):
    """theta (N, 3, 3), or (N, 8) completed with θ22 = 1, as an (N, 3, 3) Tensor."""
    float_tensor("theta", theta)
    if theta.ndim == 2 and theta.shape[1] == 8:
        from .basic import cat
        from ..autograd.tensor import Tensor
        one = Tensor(np.ones((theta.shape[0], 1), theta.dtype), device=theta.device)
        return cat([theta, one], dim=1).reshape(theta.shape[0], 3, 3)
    if theta.ndim != 3 or theta.shape[1:] != (3, 3):
        raise ValueError(f"theta must have shape (N, 3, 3) or (N, 8), got {theta.shape}")
    return theta


def projective_grid_sample(input, theta, out_size=None, padding_mode="zeros",
                           align_corners=False):
    """grid_sample(input, projective_grid(theta, ...)) in one op, without storing the grid.

    input (N, C, H, W), theta (N, 3, 3) or (N, 8)  →  (N, C, Ho, Wo); out_size (Ho, Wo) or
    (N, C, Ho, Wo), default (H, W). Same numbers as the two ops (a test checks it).
    """
    _input(input, 4)
    theta = _homographies(theta)
    _same_batch("theta", theta, input)
    hw = _out_size(out_size, input.shape, 4)
    return ProjectiveGridSample.apply(input, theta, hw, _border(padding_mode),
                                      _flag("align_corners", align_corners))


def projective_grid(theta, size, align_corners=False):
    """Sampling grid of the homographies theta: (N, 3, 3), or (N, 8) with θ22 = 1.

    theta, size (N, C, H, W)  →  grid (N, H, W, 2):  grid[n, h, w] = (u / w, v / w),
    (u, v, w) = θ[n] (x_w, y_h, 1); (inf, inf) where w <= 1e-6 (samples as outside).
    """
    theta = _homographies(theta)
    size = _size("size", size, theta.shape[0], 4)
    return ProjectiveGrid.apply(theta, size[2:], _flag("align_corners", align_corners))


def control_points(ctrl):
    """(K, 2) normalised (x, y) of a ctrl = (gy, gx) layout, row by row from the top left."""
    gy, gx = _ctrl(ctrl)
    ys, xs = np.meshgrid(np.linspace(-1, 1, gy), np.linspace(-1, 1, gx), indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def _ctrl(ctrl):
    if (not isinstance(ctrl, (tuple, list)) or len(ctrl) != 2
            or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in ctrl)):
        raise ValueError(f"ctrl must be a pair (rows, cols) of ints, got {ctrl!r}")
    if min(ctrl) < 2:
        raise ValueError(f"ctrl must have at least 2 control points per axis (a thin-plate "
                         f"spline needs 3 points not on one line), got {tuple(ctrl)}")
    return int(ctrl[0]), int(ctrl[1])


def _tps_u(r):
    """U(r) = r² log r, with U(0) = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(r > 0, r * r * np.log(np.where(r > 0, r, 1.0)), 0.0)


def spline_weights(points):
    """L⁻¹[:, :K] (K + 3, K) of the TPS system through `points` (K, 2); raises if singular."""
    k = len(points)
    P = np.hstack([np.ones((k, 1)), points])                              # (K, 3)
    L = np.zeros((k + 3, k + 3))
    L[:k, :k] = _tps_u(np.linalg.norm(points[:, None] - points[None], axis=-1))
    L[:k, k:], L[k:, :k] = P, P.T
    if np.linalg.matrix_rank(P) < 3 or np.linalg.cond(L) > 1e12:
        raise ValueError("the thin-plate spline system of these control points is singular "
                         "(fewer than 3 points, or all on one line)")
    return np.linalg.inv(L)[:, :k]


@functools.lru_cache(maxsize=32)
def tps_basis(ctrl, h, w, align_corners=False, device="cpu"):
    """B (H W, K), float64, on `device`: grid[n] = B @ src[n] for the layout ctrl = (gy, gx)."""
    from ..kernels._scalar import base_coord
    pts = control_points(ctrl)
    xs = np.array([base_coord(i, w, align_corners) for i in range(w)])
    ys = np.array([base_coord(i, h, align_corners) for i in range(h)])
    gy, gx = np.meshgrid(ys, xs, indexing="ij")
    p = np.stack([gx.ravel(), gy.ravel()], axis=1)                        # (H W, 2)
    M = np.hstack([_tps_u(np.linalg.norm(p[:, None] - pts[None], axis=-1)),
                   np.ones((len(p), 1)), p])                              # (H W, K + 3)
    B = np.ascontiguousarray(M @ spline_weights(pts))                     # (H W, K)
    return B if device == "cpu" else backend(device).from_host(B)


def _tps_offsets(offsets, ctrl):
    """Check offsets (N, K, 2) against the layout ctrl; return the layout (gy, gx)."""
    float_tensor("offsets", offsets)
    gy, gx = _ctrl(ctrl)
    if offsets.ndim != 3 or offsets.shape[1:] != (gy * gx, 2):
        raise ValueError(f"offsets must have shape (N, K, 2) with K = {gy}·{gx} = {gy * gx} "
                         f"for ctrl={tuple(ctrl)}, got {offsets.shape}")
    return gy, gx


@functools.lru_cache(maxsize=32)
def tps_basis_t(ctrl, h, w, align_corners=False, device="cpu"):
    """Bᵀ (K, H W), float64, contiguous, on `device`: the fused sampler's layout (its loops run
    along the points)."""
    bt = np.ascontiguousarray(tps_basis(ctrl, h, w, align_corners).T)
    return bt if device == "cpu" else backend(device).from_host(bt)


def tps_grid(offsets, size, ctrl=(4, 4), align_corners=False):
    """Thin-plate-spline grid: control point k of the layout ctrl reads at c_k + offsets[n, k].

    offsets (N, K, 2) with K = ctrl[0] · ctrl[1], size (N, C, H, W)  →  grid (N, H, W, 2).
    """
    layout = _tps_offsets(offsets, ctrl)
    size = _size("size", size, offsets.shape[0], 4)
    align_corners = _flag("align_corners", align_corners)
    basis = tps_basis(layout, size[2], size[3], align_corners, offsets.device)
    return TPSGrid.apply(offsets, basis, size[2:], align_corners)


def tps_grid_sample(input, offsets, out_size=None, ctrl=(4, 4), padding_mode="zeros",
                    align_corners=False):
    """grid_sample(input, tps_grid(offsets, ...)) in one op, without storing the grid.

    input (N, C, H, W), offsets (N, K, 2) with K = ctrl[0] · ctrl[1]  →  (N, C, Ho, Wo);
    out_size (Ho, Wo) or (N, C, Ho, Wo), default (H, W). Each output point is computed
    where it is sampled, (x_w, y_h) + Σ_k B[p, k] offsets[n, k], and dL/doffsets[n, k] =
    Σ_p B[p, k] dL/dpoint[n, p] is summed as the backward pass goes. Same numbers as the
    two ops up to the float32 rounding of the stored grid (a test checks it).
    """
    _input(input, 4)
    layout = _tps_offsets(offsets, ctrl)
    _same_batch("offsets", offsets, input)
    hw = _out_size(out_size, input.shape, 4)
    align_corners = _flag("align_corners", align_corners)
    basis_t = tps_basis_t(layout, hw[0], hw[1], align_corners, offsets.device)
    return TPSGridSample.apply(input, offsets, hw, _border(padding_mode), align_corners, basis_t)
