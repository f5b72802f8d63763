"""Projective and thin-plate-spline grids as `numba.cuda` kernels.

The ops, maths and public names of `kernels/cpu/grids.py` (read its docstring for the
formulas). The per-point homography is the device twin of `_scalar.projective_point`.
One thread per output point for the forward grids; one thread per parameter entry
(n, i, j) of θ, or (n, k) of the TPS sources, for the backward, each summing over
the points serially in row-major order (the CPU's order): deterministic, no atomics.
"""
from numba import cuda

from ._device import d
from .grid_sample import _launch


@cuda.jit
def _projective_kernel(theta, out, align_corners):
    """Thread (n, h, w): out[n, h, w] <- (u / w, v / w) of θ[n] (x_w, y_h, 1)."""
    t = cuda.grid(1)
    N, H, W = out.shape[0], out.shape[1], out.shape[2]
    if t < N * H * W:
        n, h, w = t // (H * W), (t // W) % H, t % W
        x, y = d.base_coord(w, W, align_corners), d.base_coord(h, H, align_corners)
        th = theta[n]
        xs, ys, _ = d.projective_point(th[0, 0], th[0, 1], th[0, 2], th[1, 0], th[1, 1],
                                       th[1, 2], th[2, 0], th[2, 1], th[2, 2], x, y)
        out[n, h, w, 0] = xs
        out[n, h, w, 1] = ys


@cuda.jit
def _projective_grad_kernel(theta, grad_grid, grad_theta, align_corners):
    """Thread (n, i, j): grad_theta[n, i, j] <- Σ_hw of its term (kernels/cpu/grids.py)."""
    t = cuda.grid(1)
    N, H, W = grad_grid.shape[0], grad_grid.shape[1], grad_grid.shape[2]
    if t < N * 9:
        n, i, j = t // 9, (t // 3) % 3, t % 3
        th = theta[n]
        a = 0.0
        for h in range(H):
            y = d.base_coord(h, H, align_corners)
            for w in range(W):
                x = d.base_coord(w, W, align_corners)
                xs, ys, inv = d.projective_point(th[0, 0], th[0, 1], th[0, 2], th[1, 0],
                                                 th[1, 1], th[1, 2], th[2, 0], th[2, 1],
                                                 th[2, 2], x, y)
                if inv == 0.0:
                    continue
                gx = float(grad_grid[n, h, w, 0]) * inv
                gy = float(grad_grid[n, h, w, 1]) * inv
                b = x if j == 0 else (y if j == 1 else 1.0)
                if i == 0:
                    a += gx * b
                elif i == 1:
                    a += gy * b
                else:
                    a += -(gx * xs + gy * ys) * b
        grad_theta[n, i, j] = a


@cuda.jit
def _tps_kernel(basis, offsets, out, align_corners):
    """Thread (n, p): out[n, p] <- (x_w, y_h) + Σ_k basis[p, k] offsets[n, k], k in order."""
    t = cuda.grid(1)
    N, H, W = out.shape[0], out.shape[1], out.shape[2]
    if t < N * H * W:
        n, p = t // (H * W), t % (H * W)
        ax, ay = 0.0, 0.0
        for k in range(basis.shape[1]):
            b = basis[p, k]
            ax += b * float(offsets[n, k, 0])
            ay += b * float(offsets[n, k, 1])
        out[n, p // W, p % W, 0] = d.base_coord(p % W, W, align_corners) + ax
        out[n, p // W, p % W, 1] = d.base_coord(p // W, H, align_corners) + ay


@cuda.jit
def _tps_grad_kernel(basis, grad_grid, grad_src):
    """Thread (n, k): grad_src[n, k] <- Σ_p basis[p, k] grad_grid[n, p], p in order."""
    t = cuda.grid(1)
    N, H, W = grad_grid.shape[0], grad_grid.shape[1], grad_grid.shape[2]
    K = basis.shape[1]
    if t < N * K:
        n, k = t // K, t % K
        ax, ay = 0.0, 0.0
        for p in range(H * W):
            b = basis[p, k]
            ax += b * float(grad_grid[n, p // W, p % W, 0])
            ay += b * float(grad_grid[n, p // W, p % W, 1])
        grad_src[n, k, 0] = ax
        grad_src[n, k, 1] = ay


def projective_grid_forward(theta, out, align_corners):
    """out (N, H, W, 2) <- the homographies theta (N, 3, 3) applied to the base grid."""
    _launch(_projective_kernel, out.shape[0] * out.shape[1] * out.shape[2], theta, out,
            align_corners)


def projective_grid_backward(theta, grad_grid, grad_theta, align_corners):
    """grad_theta (N, 3, 3) <- dL/dθ from dL/dgrid (N, H, W, 2)."""
    _launch(_projective_grad_kernel, theta.shape[0] * 9, theta, grad_grid, grad_theta,
            align_corners)


def tps_grid_forward(basis, offsets, out, align_corners):
    """out (N, H, W, 2) <- the base grid + basis (H W, K) @ offsets[n] (K, 2)."""
    _launch(_tps_kernel, out.shape[0] * out.shape[1] * out.shape[2], basis, offsets, out,
            align_corners)


def tps_grid_backward(basis, grad_grid, grad_src):
    """grad_src (N, K, 2) <- basis^T @ grad_grid[n]."""
    _launch(_tps_grad_kernel, grad_src.shape[0] * basis.shape[1], basis, grad_grid, grad_src)
