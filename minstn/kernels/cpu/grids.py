"""Projective and thin-plate-spline (TPS) grids: where a transformer beyond affine reads.

Both produce a grid (N, H, W, 2) of normalised (x, y) points for the samplers, like
affine_grid, and its backward to their parameters:

    projective:  (u, v, w) = θ[n] (x_w, y_h, 1),  grid[n, h, w] = (u / w, v / w)
                 (inf, inf) where w <= W_MIN: no image there; it samples as outside.
                 dL/dθ[n, 0, j] = Σ_hw g_x b_j / w,   dL/dθ[n, 1, j] = Σ_hw g_y b_j / w,
                 dL/dθ[n, 2, j] = -Σ_hw (g_x x_src + g_y y_src) b_j / w,   b = (x_w, y_h, 1)
    TPS:         grid[n, p] = Σ_k basis[p, k] src[n, k]        (p = h W + w)
                 dL/dsrc[n, k] = Σ_p basis[p, k] g[n, p]
                 basis (H W, K) depends only on the control-point layout and the size; the
                 ops build it once per layout (ops/grids.py: tps_basis).

Sums over points run in row-major order, so results are deterministic and the CUDA
twins (kernels/cuda/grids.py) add in the same order. Maths in float64; results stored
in the arrays' dtype. Kernels overwrite their output arrays.
"""
import numba
import numpy as np

from .._scalar import base_coord, projective_point


@numba.njit(cache=True)
def projective_grid_forward(theta, out, align_corners):
    """out (N, H, W, 2) <- the homographies theta (N, 3, 3) applied to the base grid."""
    N, H, W = out.shape[0], out.shape[1], out.shape[2]
    for n in range(N):
        t = theta[n]
        for h in range(H):
            y = base_coord(h, H, align_corners)
            for w in range(W):
                x = base_coord(w, W, align_corners)
                xs, ys, _ = projective_point(t[0, 0], t[0, 1], t[0, 2], t[1, 0], t[1, 1],
                                             t[1, 2], t[2, 0], t[2, 1], t[2, 2], x, y)
                out[n, h, w, 0] = xs
                out[n, h, w, 1] = ys


@numba.njit(cache=True)
def projective_grid_backward(theta, grad_grid, grad_theta, align_corners):
    """grad_theta (N, 3, 3) <- dL/dθ from dL/dgrid (N, H, W, 2); points past the horizon add 0."""
    N, H, W = grad_grid.shape[0], grad_grid.shape[1], grad_grid.shape[2]
    for n in range(N):
        t = theta[n]
        acc = np.zeros(9)                                # row-major θ entries
        for h in range(H):
            y = base_coord(h, H, align_corners)
            for w in range(W):
                x = base_coord(w, W, align_corners)
                xs, ys, inv = projective_point(t[0, 0], t[0, 1], t[0, 2], t[1, 0], t[1, 1],
                                               t[1, 2], t[2, 0], t[2, 1], t[2, 2], x, y)
                if inv == 0.0:
                    continue
                gx = float(grad_grid[n, h, w, 0]) * inv
                gy = float(grad_grid[n, h, w, 1]) * inv
                gw = -(gx * xs + gy * ys)
                for j in range(3):
                    b = x if j == 0 else (y if j == 1 else 1.0)
                    acc[j] += gx * b
                    acc[3 + j] += gy * b
                    acc[6 + j] += gw * b
        for k in range(9):
            grad_theta[n, k // 3, k % 3] = acc[k]


@numba.njit(cache=True)
def tps_grid_forward(basis, src, out):
    """out (N, H, W, 2) <- basis (H W, K) @ src[n] (K, 2) for every n."""
    N, H, W = out.shape[0], out.shape[1], out.shape[2]
    K = basis.shape[1]
    for n in range(N):
        for p in range(H * W):
            ax, ay = 0.0, 0.0
            for k in range(K):
                b = basis[p, k]
                ax += b * float(src[n, k, 0])
                ay += b * float(src[n, k, 1])
            out[n, p // W, p % W, 0] = ax
            out[n, p // W, p % W, 1] = ay


@numba.njit(cache=True)
def tps_grid_backward(basis, grad_grid, grad_src):
    """grad_src (N, K, 2) <- basis^T @ grad_grid[n] (H W, 2), points in row-major order."""
    N, H, W = grad_grid.shape[0], grad_grid.shape[1], grad_grid.shape[2]
    K = basis.shape[1]
    for n in range(N):
        for k in range(K):
            ax, ay = 0.0, 0.0
            for p in range(H * W):
                b = basis[p, k]
                ax += b * float(grad_grid[n, p // W, p % W, 0])
                ay += b * float(grad_grid[n, p // W, p % W, 1])
            grad_src[n, k, 0] = ax
            grad_src[n, k, 1] = ay
