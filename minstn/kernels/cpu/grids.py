"""Projective and thin-plate-spline (TPS) grids: where a transformer beyond affine reads.

Both produce a grid (N, H, W, 2) of normalised (x, y) points for the samplers, like
affine_grid, and its backward to their parameters:

    projective:  (u, v, w) = θ[n] (x_w, y_h, 1),  grid[n, h, w] = (u / w, v / w)
                 (inf, inf) where w <= W_MIN: no image there; it samples as outside.
                 dL/dθ[n, 0, j] = Σ_hw g_x b_j / w,   dL/dθ[n, 1, j] = Σ_hw g_y b_j / w,
                 dL/dθ[n, 2, j] = -Σ_hw (g_x x_src + g_y y_src) b_j / w,   b = (x_w, y_h, 1)
    TPS:         grid[n, p] = (x_w, y_h) + Σ_k basis[p, k] offsets[n, k]      (p = h W + w)
                 dL/doffsets[n, k] = Σ_p basis[p, k] g[n, p]
                 (the spline through the control points themselves is the identity, so only
                 the offsets go through the basis)
                 basis (H W, K) depends only on the control-point layout and the size; the
                 ops build it once per layout (ops/grids.py: tps_basis).

Sums run in a fixed order (row-major loops here; BLAS for the TPS products, which is
deterministic for a given thread count), so repeated calls give identical bytes. Maths in float64; results stored
in the arrays' dtype. Kernels overwrite their output arrays.
"""
import numba
import numpy as np

from .._scalar import base_coord, projective_point


@numba.njit(cache=True, inline="always")
def _entries(theta, n):
    """θ[n]'s nine entries as float64, row by row."""
    t = theta[n]
    return (float(t[0, 0]), float(t[0, 1]), float(t[0, 2]), float(t[1, 0]), float(t[1, 1]),
            float(t[1, 2]), float(t[2, 0]), float(t[2, 1]), float(t[2, 2]))


@numba.njit(cache=True)
def projective_grid_forward(theta, out, align_corners):
    """out (N, H, W, 2) <- the homographies theta (N, 3, 3) applied to the base grid."""
    N, H, W = out.shape[0], out.shape[1], out.shape[2]
    for n in range(N):
        t00, t01, t02, t10, t11, t12, t20, t21, t22 = _entries(theta, n)
        for h in range(H):
            y = base_coord(h, H, align_corners)
            for w in range(W):
                x = base_coord(w, W, align_corners)
                xs, ys, _ = projective_point(t00, t01, t02, t10, t11, t12, t20, t21, t22, x, y)
                out[n, h, w, 0] = xs
                out[n, h, w, 1] = ys


@numba.njit(cache=True, inline="always")
def _projective_theta_grad(theta, n, gx, gy, H, W, align_corners, grad_theta):
    """grad_theta[n] <- dL/dθ of the homography θ[n] from dL/dgrid at every point of an
    (H, W) grid: gx, gy (H W,) flat, p = h W + w. Points past the horizon add 0. Used by
    projective_grid_backward and by the fused sampler (kernels/cpu/grid_sample.py)."""
    t00, t01, t02, t10, t11, t12, t20, t21, t22 = _entries(theta, n)
    # the nine sums Σ (g_x, g_y, -(g_x x_s + g_y y_s)) / w ⊗ (x, y, 1), kept in registers
    a00 = a01 = a02 = a10 = a11 = a12 = a20 = a21 = a22 = 0.0
    for h in range(H):
        y = base_coord(h, H, align_corners)
        for w in range(W):
            x = base_coord(w, W, align_corners)
            xs, ys, inv = projective_point(t00, t01, t02, t10, t11, t12, t20, t21, t22, x, y)
            if inv == 0.0:
                continue
            g0 = float(gx[h * W + w]) * inv
            g1 = float(gy[h * W + w]) * inv
            gw = -(g0 * xs + g1 * ys)
            a00 += g0 * x
            a01 += g0 * y
            a02 += g0
            a10 += g1 * x
            a11 += g1 * y
            a12 += g1
            a20 += gw * x
            a21 += gw * y
            a22 += gw
    grad_theta[n, 0, 0], grad_theta[n, 0, 1], grad_theta[n, 0, 2] = a00, a01, a02
    grad_theta[n, 1, 0], grad_theta[n, 1, 1], grad_theta[n, 1, 2] = a10, a11, a12
    grad_theta[n, 2, 0], grad_theta[n, 2, 1], grad_theta[n, 2, 2] = a20, a21, a22


@numba.njit(cache=True)
def projective_grid_backward(theta, grad_grid, grad_theta, align_corners):
    """grad_theta (N, 3, 3) <- dL/dθ from dL/dgrid (N, H, W, 2); points past the horizon add 0."""
    N, H, W = grad_grid.shape[0], grad_grid.shape[1], grad_grid.shape[2]
    gx, gy = np.empty(H * W), np.empty(H * W)
    for n in range(N):
        for p in range(H * W):
            gx[p], gy[p] = grad_grid[n, p // W, p % W, 0], grad_grid[n, p // W, p % W, 1]
        _projective_theta_grad(theta, n, gx, gy, H, W, align_corners, grad_theta)


# The TPS grid is one matrix product per direction. Written as loops it reads
#     out[n, p] = base[p] + Σ_k basis[p, k] off[n, k]      grad_off[n, k] = Σ_p basis[p, k] g[n, p]
# (the CUDA twins do exactly that, a thread per output); on the CPU the batch is laid side
# by side as the columns of one (K, 2N) or (H W, 2N) matrix, so that BLAS does the sums.

@numba.njit(cache=True)
def tps_grid_forward(basis, offsets, out, align_corners):
    """out (N, H, W, 2) <- the base grid + basis (H W, K) @ offsets[n] (K, 2), for every n."""
    N, H, W = out.shape[0], out.shape[1], out.shape[2]
    K = basis.shape[1]
    cols = np.empty((K, 2 * N))                           # column 2n + i: offsets[n, :, i]
    for n in range(N):
        for k in range(K):
            cols[k, 2 * n] = offsets[n, k, 0]
            cols[k, 2 * n + 1] = offsets[n, k, 1]
    moved = basis @ cols                                  # (H W, 2N)
    for n in range(N):
        for h in range(H):
            y = base_coord(h, H, align_corners)
            for w in range(W):
                out[n, h, w, 0] = base_coord(w, W, align_corners) + moved[h * W + w, 2 * n]
                out[n, h, w, 1] = y + moved[h * W + w, 2 * n + 1]


@numba.njit(cache=True)
def tps_grid_backward(basis, grad_grid, grad_src):
    """grad_src (N, K, 2) <- basis^T @ grad_grid[n] (H W, 2): dL/doffsets."""
    N, H, W = grad_grid.shape[0], grad_grid.shape[1], grad_grid.shape[2]
    K = basis.shape[1]
    cols = np.ascontiguousarray(                          # column 2n + i: grad_grid[n, :, :, i]
        grad_grid.reshape(N, H * W, 2).transpose(1, 0, 2)).reshape(H * W, 2 * N)
    g = basis.T.copy() @ cols.astype(np.float64)          # (K, 2N)
    for n in range(N):
        for k in range(K):
            grad_src[n, k, 0] = g[k, 2 * n]
            grad_src[n, k, 1] = g[k, 2 * n + 1]
