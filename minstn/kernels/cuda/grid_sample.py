"""Affine grids and the bilinear (2-D) / linear (1-D) samplers, as `numba.cuda` kernels.

The same ops, maths and public names as `kernels/cpu/grid_sample.py` (read its
docstring for the formulas); every per-point step is a device twin of
`kernels/_scalar.py` (`d.base_coord`, `d.affine_coord`, `d.source_index`,
`d.linear_taps`, `d.inside`), so the numbers are the CPU kernels' numbers: all
maths in float64, results stored in the arrays' dtype, a non-finite point samples 0
and gets gradient 0, padding "zeros" or "border". The GPU reads the image directly
instead of a zero-padded copy: a tap outside the image (`d.inside` false) reads 0
and receives no gradient, exactly what the CPU's padding frame does.

Launch configuration (`_launch`): 1-D grids of TPB threads per block, one thread per

    output point (n, h, w)    forward (loops over channels, so a point's taps and
                              weights are computed once) and dL/dgrid (sums over
                              channels c = 0, 1, ... in order, as the CPU kernel);
    plane (n, c)              dL/dx: the thread zeroes its plane of a float64
                              accumulator, scatters the four taps of every output point
                              p = 0, 1, ... in order (the CPU kernel's order), then
                              stores the plane in grad_x's dtype;
    entry (n, i, j) of theta  dL/dtheta: a serial sum over the grid, row sums first
                              (the order of the CPU's `_theta_grad`).

Determinism: no atomics anywhere. Each output element and gradient entry is written
by exactly one thread, and every sum runs serially in a fixed order, so repeated
backward passes give identical bytes (and match the CPU up to rounding from fused
multiply-adds). The price is parallelism N C for dL/dx; a gather formulation would
need, per input pixel, the list of points that read it.

grid_sample and affine_grid_sample share their kernels (one per step): a kernel
computes the points from `theta`, or reads them from `grid` when theta has size 0
(`array.skip`, which also stands for "no grid"). dL/dtheta goes through a float64
(N, Ho Wo, 2) buffer of dL/dgrid, which the CPU kernel also computes (per sample).
Gradient arrays passed with size 0 are skipped. Kernels overwrite their output arrays.
"""
import numpy as np
from numba import cuda

from ._device import d
from .array import skip

TPB = 128         # threads per block


def _launch(kernel, count, *args):
    """Run kernel on `count` threads (1-D grid of TPB-thread blocks); nothing if count is 0."""
    if count > 0:
        threads = min(TPB, count)
        kernel[(count + threads - 1) // threads, threads](*args)


# ---- device helpers: where a point reads, and what it reads ------------------------------

@cuda.jit(device=True)
def _point2(grid, theta, basis_t, n, h, w, Ho, Wo, H, W, border, align_corners):
    """Taps of point (n, h, w): (x0, y0, wx1, wy1, dpx/dgx, dpy/dgy), as the CPU's _tap2.

    The point is grid[n, h, w] or, if theta has samples, theta[n] @ (x_w, y_h, 1): affine for
    θ (N, 2, 3), projective (divided by its w) for (N, 3, 3); for TPS offsets θ (N, K, 2)
    it is (x_w, y_h) + Σ_k basis_t[k, h Wo + w] θ[n, k] (k in order, as the CPU).
    """
    if theta.shape[0] == 0:
        gx = float(grid[n, h, w, 0])
        gy = float(grid[n, h, w, 1])
    elif theta.shape[2] == 2:
        gx = d.base_coord(w, Wo, align_corners)
        gy = d.base_coord(h, Ho, align_corners)
        for k in range(theta.shape[1]):
            b = basis_t[k, h * Wo + w]
            gx += b * float(theta[n, k, 0])
            gy += b * float(theta[n, k, 1])
    elif theta.shape[1] == 3:
        t = theta[n]
        gx, gy, _ = d.projective_point(t[0, 0], t[0, 1], t[0, 2], t[1, 0], t[1, 1], t[1, 2],
                                       t[2, 0], t[2, 1], t[2, 2],
                                       d.base_coord(w, Wo, align_corners),
                                       d.base_coord(h, Ho, align_corners))
    else:
        xw = d.base_coord(w, Wo, align_corners)
        yh = d.base_coord(h, Ho, align_corners)
        gx = d.affine_coord(theta[n, 0, 0], theta[n, 0, 1], theta[n, 0, 2], xw, yh)
        gy = d.affine_coord(theta[n, 1, 0], theta[n, 1, 1], theta[n, 1, 2], xw, yh)
    px, dx = d.source_index(gx, W, border, align_corners)
    py, dy = d.source_index(gy, H, border, align_corners)
    x0, _, wx1 = d.linear_taps(px)
    y0, _, wy1 = d.linear_taps(py)
    return x0, y0, wx1, wy1, dx, dy


@cuda.jit(device=True)
def _point1(grid, theta, n, l, Lo, L, border, align_corners):
    """Taps of point (n, l): (x0, wx1, dp/dgx); the point is grid[n, l] or theta[n] @ (t_l, 1)."""
    if theta.shape[0] == 0:
        gx = float(grid[n, l])
    else:
        gx = d.affine_coord(theta[n, 0, 0], 0.0, theta[n, 0, 1],
                            d.base_coord(l, Lo, align_corners), 0.0)
    px, dx = d.source_index(gx, L, border, align_corners)
    x0, _, wx1 = d.linear_taps(px)
    return x0, wx1, dx


@cuda.jit(device=True)
def _read2(x, n, c, i, j):
    """x[n, c, i, j] as float64, 0 outside the image."""
    if d.inside(i, x.shape[2]) and d.inside(j, x.shape[3]):
        return float(x[n, c, i, j])
    return 0.0


@cuda.jit(device=True)
def _read1(x, n, c, i, cl):
    """x[n, c, i] (cl: x[n, i, c], channels last) as float64, 0 outside the sequence."""
    if cl:
        return float(x[n, i, c]) if d.inside(i, x.shape[1]) else 0.0
    return float(x[n, c, i]) if d.inside(i, x.shape[2]) else 0.0


@cuda.jit(device=True)
def _write1(a, n, c, i, cl, v):
    """a[n, c, i] (cl: a[n, i, c]) <- v."""
    if cl:
        a[n, i, c] = v
    else:
        a[n, c, i] = v


@cuda.jit(device=True)
def _add2(acc, q, i, j, H, W, v):
    """acc[q, i W + j] += v for a tap (i, j) inside the (H, W) image (outside: dropped)."""
    if d.inside(i, H) and d.inside(j, W):
        acc[q, i * W + j] += v


# ---- 2-D kernels --------------------------------------------------------------------------

@cuda.jit
def _affine_grid_kernel(theta, out, align_corners):
    """Thread (n, h, w): out[n, h, w] <- theta[n] @ (x_w, y_h, 1)."""
    t = cuda.grid(1)
    N, H, W = out.shape[0], out.shape[1], out.shape[2]
    if t < N * H * W:
        n, h, w = t // (H * W), (t // W) % H, t % W
        xw, yh = d.base_coord(w, W, align_corners), d.base_coord(h, H, align_corners)
        out[n, h, w, 0] = d.affine_coord(theta[n, 0, 0], theta[n, 0, 1], theta[n, 0, 2], xw, yh)
        out[n, h, w, 1] = d.affine_coord(theta[n, 1, 0], theta[n, 1, 1], theta[n, 1, 2], xw, yh)


@cuda.jit
def _theta_grad_kernel(gg, grad_theta, Ho, Wo, align_corners):
    """Thread (n, i, j): grad_theta[n, i, j] <- sum_{h,w} gg[n, h Wo + w, i] (x_w, y_h, 1)[j].

    gg (N, Ho Wo, 2) holds dL/dgrid. Row sums first, rows in order: the CPU's order.
    """
    t = cuda.grid(1)
    if t < grad_theta.shape[0] * 6:
        n, i, j = t // 6, (t // 3) % 2, t % 3
        a = 0.0
        for h in range(Ho):
            s = 0.0
            for w in range(Wo):
                if j == 0:
                    s += float(gg[n, h * Wo + w, i]) * d.base_coord(w, Wo, align_corners)
                else:
                    s += float(gg[n, h * Wo + w, i])
            if j == 1:
                a += d.base_coord(h, Ho, align_corners) * s
            else:
                a += s
        grad_theta[n, i, j] = a


@cuda.jit
def _sample2d_forward_kernel(x, grid, theta, basis_t, out, border, align_corners):
    """Thread (n, h, w): out[n, :, h, w] <- bilinear samples of x[n] at the point."""
    t = cuda.grid(1)
    N, C, Ho, Wo = out.shape[0], out.shape[1], out.shape[2], out.shape[3]
    if t < N * Ho * Wo:
        n, h, w = t // (Ho * Wo), (t // Wo) % Ho, t % Wo
        x0, y0, wx1, wy1, _, _ = _point2(grid, theta, basis_t, n, h, w, Ho, Wo, x.shape[2],
                                         x.shape[3], border, align_corners)
        wx0, wy0 = 1.0 - wx1, 1.0 - wy1
        for c in range(C):
            out[n, c, h, w] = wy0 * (wx0 * _read2(x, n, c, y0, x0)
                                     + wx1 * _read2(x, n, c, y0, x0 + 1)) + \
                wy1 * (wx0 * _read2(x, n, c, y0 + 1, x0) + wx1 * _read2(x, n, c, y0 + 1, x0 + 1))


@cuda.jit
def _sample2d_grad_x_kernel(grid, theta, basis_t, grad_out, acc, grad_x, border, align_corners):
    """Thread (n, c): grad_x[n, c] <- the four taps' shares of grad_out[n, c], points in order.

    acc (N C, H W) float64 is the accumulator (grad_x itself, reshaped, if float64).
    """
    q = cuda.grid(1)
    N, C, H, W = grad_x.shape[0], grad_x.shape[1], grad_x.shape[2], grad_x.shape[3]
    Ho, Wo = grad_out.shape[2], grad_out.shape[3]
    if q < N * C:
        n, c = q // C, q % C
        for k in range(H * W):
            acc[q, k] = 0.0
        for h in range(Ho):
            for w in range(Wo):
                x0, y0, wx1, wy1, _, _ = _point2(grid, theta, basis_t, n, h, w, Ho, Wo, H, W,
                                                 border, align_corners)
                wx0, wy0, g = 1.0 - wx1, 1.0 - wy1, float(grad_out[n, c, h, w])
                _add2(acc, q, y0, x0, H, W, wy0 * wx0 * g)
                _add2(acc, q, y0, x0 + 1, H, W, wy0 * wx1 * g)
                _add2(acc, q, y0 + 1, x0, H, W, wy1 * wx0 * g)
                _add2(acc, q, y0 + 1, x0 + 1, H, W, wy1 * wx1 * g)
        for i in range(H):
            for j in range(W):
                grad_x[n, c, i, j] = acc[q, i * W + j]


@cuda.jit
def _sample2d_grad_p_kernel(x, grid, theta, basis_t, grad_out, gg, border, align_corners):
    """Thread (n, h, w): gg[n, h Wo + w] <- dL/dgrid = sum_c g dout/d(px, py) · d(px, py)/dgrid."""
    t = cuda.grid(1)
    N, C, Ho, Wo = grad_out.shape[0], grad_out.shape[1], grad_out.shape[2], grad_out.shape[3]
    if t < N * Ho * Wo:
        n, h, w = t // (Ho * Wo), (t // Wo) % Ho, t % Wo
        x0, y0, wx1, wy1, dx, dy = _point2(grid, theta, basis_t, n, h, w, Ho, Wo, x.shape[2],
                                           x.shape[3], border, align_corners)
        sx = 0.0
        sy = 0.0
        for c in range(C):
            v00, v01 = _read2(x, n, c, y0, x0), _read2(x, n, c, y0, x0 + 1)
            v10, v11 = _read2(x, n, c, y0 + 1, x0), _read2(x, n, c, y0 + 1, x0 + 1)
            g = float(grad_out[n, c, h, w])
            sx += g * ((1.0 - wy1) * (v01 - v00) + wy1 * (v11 - v10))
            sy += g * ((1.0 - wx1) * (v10 - v00) + wx1 * (v11 - v01))
        gg[n, h * Wo + w, 0] = sx * dx
        gg[n, h * Wo + w, 1] = sy * dy


@cuda.jit
def _tps_offsets_grad_kernel(basis_t, gg, grad_offsets):
    """Thread (n, k): grad_offsets[n, k] <- Σ_p basis_t[k, p] gg[n, p], p in order."""
    t = cuda.grid(1)
    K = basis_t.shape[0]
    if t < grad_offsets.shape[0] * K:
        n, k = t // K, t % K
        ax, ay = 0.0, 0.0
        for p in range(basis_t.shape[1]):
            ax += basis_t[k, p] * gg[n, p, 0]
            ay += basis_t[k, p] * gg[n, p, 1]
        grad_offsets[n, k, 0] = ax
        grad_offsets[n, k, 1] = ay


def _forward2d(x, grid, theta, out, border, align_corners, basis_t=None):
    N, Ho, Wo = out.shape[0], out.shape[2], out.shape[3]
    basis_t = skip(np.float64, 2) if basis_t is None else basis_t
    _launch(_sample2d_forward_kernel, N * Ho * Wo, x, grid, theta, basis_t, out, border,
            align_corners)


def _backward2d(x, grid, theta, grad_out, grad_x, grad_grid, grad_theta, border, align_corners,
                basis_t=None):
    basis_t = skip(np.float64, 2) if basis_t is None else basis_t
    N, C, H, W = x.shape
    Ho, Wo = grad_out.shape[2], grad_out.shape[3]
    if grad_x.size > 0:
        acc = grad_x.reshape(N * C, H * W) if grad_x.dtype == np.float64 else \
            cuda.device_array((N * C, H * W), np.float64)
        _launch(_sample2d_grad_x_kernel, N * C, grid, theta, basis_t, grad_out, acc, grad_x,
                border, align_corners)
    if grad_grid.size > 0:                     # straight into grad_grid's dtype
        _launch(_sample2d_grad_p_kernel, N * Ho * Wo, x, grid, theta, basis_t, grad_out,
                grad_grid.reshape(N, Ho * Wo, 2), border, align_corners)
    if grad_theta.size > 0:                    # through dL/dgrid in float64
        gg = cuda.device_array((N, Ho * Wo, 2), np.float64)
        _launch(_sample2d_grad_p_kernel, N * Ho * Wo, x, grid, theta, basis_t, grad_out, gg,
                border, align_corners)
        if theta.shape[2] == 2:                # TPS offsets: dL/doffsets = basis_t dL/dgrid
            _launch(_tps_offsets_grad_kernel, N * basis_t.shape[0], basis_t, gg, grad_theta)
        elif theta.shape[1] == 3:              # the homography's own chain rule
            from .grids import projective_grid_backward
            projective_grid_backward(theta, gg.reshape(N, Ho, Wo, 2), grad_theta, align_corners)
        else:
            _launch(_theta_grad_kernel, N * 6, gg, grad_theta, Ho, Wo, align_corners)


def affine_grid_forward(theta, out, align_corners):
    """out (N, H, W, 2) <- theta (N, 2, 3) @ (x_w, y_h, 1)."""
    _launch(_affine_grid_kernel, out.shape[0] * out.shape[1] * out.shape[2], theta, out,
            align_corners)


def affine_grid_backward(grad_grid, grad_theta, align_corners):
    """grad_theta (N, 2, 3) <- sum_{h,w} grad_grid[n, h, w] ⊗ (x_w, y_h, 1)."""
    N, H, W = grad_grid.shape[0], grad_grid.shape[1], grad_grid.shape[2]
    _launch(_theta_grad_kernel, N * 6, grad_grid.reshape(N, H * W, 2), grad_theta, H, W,
            align_corners)


def grid_sample_forward(x, grid, out, border, align_corners):
    """out (N, C, Ho, Wo) <- bilinear samples of x (N, C, H, W) at grid (N, Ho, Wo, 2)."""
    _forward2d(x, grid, skip(grid.dtype, 3), out, border, align_corners)


def grid_sample_backward(x, grid, grad_out, grad_x, grad_grid, border, align_corners):
    """grad_x (N, C, H, W) and grad_grid (N, Ho, Wo, 2) of grid_sample (size-0: skipped)."""
    none = skip(grid.dtype, 3)
    _backward2d(x, grid, none, grad_out, grad_x, grad_grid, none, border, align_corners)


def affine_grid_sample_forward(x, theta, out, border, align_corners):
    """out (N, C, Ho, Wo) <- grid_sample(x, affine_grid(theta)) without storing the grid."""
    _forward2d(x, skip(theta.dtype, 4), theta, out, border, align_corners)


def projective_grid_sample_forward(x, theta, out, border, align_corners):
    """out (N, C, Ho, Wo) <- grid_sample(x, projective_grid(theta (N, 3, 3))), no grid stored."""
    _forward2d(x, skip(theta.dtype, 4), theta, out, border, align_corners)


def projective_grid_sample_backward(x, theta, grad_out, grad_x, grad_theta, border,
                                    align_corners):
    """grad_x (N, C, H, W) and grad_theta (N, 3, 3) of the fused projective op."""
    none = skip(theta.dtype, 4)
    _backward2d(x, none, theta, grad_out, grad_x, none, grad_theta, border, align_corners)


def affine_grid_sample_backward(x, theta, grad_out, grad_x, grad_theta, border, align_corners):
    """grad_x (N, C, H, W) and grad_theta (N, 2, 3) of the fused op (size-0: skipped)."""
    none = skip(theta.dtype, 4)
    _backward2d(x, none, theta, grad_out, grad_x, none, grad_theta, border, align_corners)


def tps_grid_sample_forward(x, offsets, out, border, align_corners, basis_t):
    """out (N, C, Ho, Wo) <- grid_sample(x, tps_grid(offsets (N, K, 2))); basis_t (K, Ho Wo)
    float64 is the TPS basis transposed; the grid is never stored."""
    _forward2d(x, skip(offsets.dtype, 4), offsets, out, border, align_corners, basis_t)


def tps_grid_sample_backward(x, offsets, grad_out, grad_x, grad_offsets, border, align_corners,
                             basis_t):
    """grad_x (N, C, H, W) and grad_offsets (N, K, 2) of the fused TPS op (size-0: skipped)."""
    none = skip(offsets.dtype, 4)
    _backward2d(x, none, offsets, grad_out, grad_x, none, grad_offsets, border, align_corners,
                basis_t)


# ---- 1-D kernels (time series): the same maths with one axis ----------------------------

@cuda.jit
def _affine_grid1d_kernel(theta, out, align_corners):
    """Thread (n, l): out[n, l] <- theta[n, 0, 0] t_l + theta[n, 0, 1]."""
    t = cuda.grid(1)
    N, L = out.shape[0], out.shape[1]
    if t < N * L:
        n, l = t // L, t % L
        out[n, l] = d.affine_coord(theta[n, 0, 0], 0.0, theta[n, 0, 1],
                                   d.base_coord(l, L, align_corners), 0.0)


@cuda.jit
def _theta_grad1d_kernel(gg, grad_theta, align_corners):
    """Thread (n, j): grad_theta[n, 0, j] <- sum_l gg[n, l] (t_l, 1)[j], l in order."""
    t = cuda.grid(1)
    L = gg.shape[1]
    if t < grad_theta.shape[0] * 2:
        n, j = t // 2, t % 2
        a = 0.0
        for l in range(L):
            if j == 0:
                a += float(gg[n, l]) * d.base_coord(l, L, align_corners)
            else:
                a += float(gg[n, l])
        grad_theta[n, 0, j] = a


@cuda.jit
def _sample1d_forward_kernel(x, grid, theta, out, border, align_corners, cl):
    """Thread (n, l): out[n, :, l] <- linear interpolation of x[n] at the point.
    cl (channels last): x (N, L, C), out (N, Lo, C), and the same sums."""
    t = cuda.grid(1)
    N = out.shape[0]
    C, Lo, L = (out.shape[2], out.shape[1], x.shape[1]) if cl else \
        (out.shape[1], out.shape[2], x.shape[2])
    if t < N * Lo:
        n, l = t // Lo, t % Lo
        x0, wx1, _ = _point1(grid, theta, n, l, Lo, L, border, align_corners)
        for c in range(C):
            _write1(out, n, c, l, cl, (1.0 - wx1) * _read1(x, n, c, x0, cl) +
                    wx1 * _read1(x, n, c, x0 + 1, cl))


@cuda.jit
def _sample1d_grad_x_kernel(grid, theta, grad_out, acc, grad_x, border, align_corners, cl):
    """Thread (n, c): grad_x[n, c] <- both taps' shares of grad_out[n, c], points in order.

    acc (N C, L) float64 is the accumulator (grad_x itself, reshaped, if float64 and not cl).
    """
    q = cuda.grid(1)
    N = grad_x.shape[0]
    C, L, Lo = (grad_x.shape[2], grad_x.shape[1], grad_out.shape[1]) if cl else \
        (grad_x.shape[1], grad_x.shape[2], grad_out.shape[2])
    if q < N * C:
        n, c = q // C, q % C
        for k in range(L):
            acc[q, k] = 0.0
        for l in range(Lo):
            x0, wx1, _ = _point1(grid, theta, n, l, Lo, L, border, align_corners)
            g = _read1(grad_out, n, c, l, cl)
            _add2(acc, q, 0, x0, 1, L, (1.0 - wx1) * g)
            _add2(acc, q, 0, x0 + 1, 1, L, wx1 * g)
        for k in range(L):
            _write1(grad_x, n, c, k, cl, acc[q, k])


@cuda.jit
def _sample1d_grad_p_kernel(x, grid, theta, grad_out, gg, border, align_corners, cl):
    """Thread (n, l): gg[n, l] <- dL/dgrid = sum_c g (v1 - v0) · dp/dgrid."""
    t = cuda.grid(1)
    N = grad_out.shape[0]
    C, Lo, L = (grad_out.shape[2], grad_out.shape[1], x.shape[1]) if cl else \
        (grad_out.shape[1], grad_out.shape[2], x.shape[2])
    if t < N * Lo:
        n, l = t // Lo, t % Lo
        x0, _, dx = _point1(grid, theta, n, l, Lo, L, border, align_corners)
        s = 0.0
        for c in range(C):
            s += _read1(grad_out, n, c, l, cl) * (_read1(x, n, c, x0 + 1, cl) -
                                                  _read1(x, n, c, x0, cl))
        gg[n, l] = s * dx


def _backward1d(x, grid, theta, grad_out, grad_x, grad_grid, grad_theta, border, align_corners,
                cl):
    N = x.shape[0]
    C, L, Lo = (x.shape[2], x.shape[1], grad_out.shape[1]) if cl else \
        (x.shape[1], x.shape[2], grad_out.shape[2])
    if grad_x.size > 0:
        acc = grad_x.reshape(N * C, L) if grad_x.dtype == np.float64 and not cl else \
            cuda.device_array((N * C, L), np.float64)
        _launch(_sample1d_grad_x_kernel, N * C, grid, theta, grad_out, acc, grad_x, border,
                align_corners, cl)
    if grad_grid.size > 0:                     # straight into grad_grid's dtype
        _launch(_sample1d_grad_p_kernel, N * Lo, x, grid, theta, grad_out, grad_grid, border,
                align_corners, cl)
    if grad_theta.size > 0:                    # through dL/dgrid in float64
        gg = cuda.device_array((N, Lo), np.float64)
        _launch(_sample1d_grad_p_kernel, N * Lo, x, grid, theta, grad_out, gg, border,
                align_corners, cl)
        _launch(_theta_grad1d_kernel, N * 2, gg, grad_theta, align_corners)


def affine_grid1d_forward(theta, out, align_corners):
    """out (N, L) <- theta[n, 0, 0] t_l + theta[n, 0, 1]."""
    _launch(_affine_grid1d_kernel, out.size, theta, out, align_corners)


def affine_grid1d_backward(grad_grid, grad_theta, align_corners):
    """grad_theta (N, 1, 2) <- sum_l grad_grid[n, l] (t_l, 1)."""
    _launch(_theta_grad1d_kernel, grad_theta.shape[0] * 2, grad_grid, grad_theta, align_corners)


def grid_sample1d_forward(x, grid, out, border, align_corners, channels_last=False):
    """out (N, C, Lo) <- linear interpolation of x (N, C, L) at grid (N, Lo);
    channels_last: x (N, L, C), out (N, Lo, C)."""
    _launch(_sample1d_forward_kernel, out.shape[0] * grid.shape[1], x, grid,
            skip(grid.dtype, 3), out, border, align_corners, channels_last)


def grid_sample1d_backward(x, grid, grad_out, grad_x, grad_grid, border, align_corners,
                           channels_last=False):
    """grad_x (N, C, L) and grad_grid (N, Lo) of grid_sample1d (size-0: skipped);
    channels_last: x, grad_x (N, L, C), grad_out (N, Lo, C)."""
    none = skip(grid.dtype, 3)
    _backward1d(x, grid, none, grad_out, grad_x, grad_grid, none, border, align_corners,
                channels_last)


def affine_grid_sample1d_forward(x, theta, out, border, align_corners, channels_last=False):
    """out (N, C, Lo) <- grid_sample1d(x, affine_grid1d(theta)) without storing the grid;
    channels_last: x (N, L, C), out (N, Lo, C)."""
    lo = out.shape[1] if channels_last else out.shape[2]
    _launch(_sample1d_forward_kernel, out.shape[0] * lo, x, skip(theta.dtype, 2), theta, out,
            border, align_corners, channels_last)


def affine_grid_sample1d_backward(x, theta, grad_out, grad_x, grad_theta, border, align_corners,
                                  channels_last=False):
    """grad_x (N, C, L) and grad_theta (N, 1, 2) of the fused 1-D op (size-0: skipped);
    channels_last: x, grad_x (N, L, C), grad_out (N, Lo, C)."""
    none = skip(theta.dtype, 2)
    _backward1d(x, none, theta, grad_out, grad_x, none, grad_theta, border, align_corners,
                channels_last)
