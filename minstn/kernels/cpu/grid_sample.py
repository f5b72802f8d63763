"""Affine grids and the bilinear (2-D) / linear (1-D) samplers of a spatial transformer.

A spatial transformer resamples its input at points given in normalised
coordinates (x, y) in [-1, 1] (PyTorch's affine_grid / grid_sample):

    affine_grid:  grid[n, h, w] = theta[n] @ (x_w, y_h, 1)        x_w, y_h: base_coord
    grid_sample:  out[n, c, h, w] = sum_{i,j in {0,1}} wy_i wx_j x[n, c, y0 + i, x0 + j]

where (px, py) = source_index(grid[n, h, w]) are pixel positions, x0 = floor(px),
wx_1 = px - x0, wx_0 = 1 - wx_1 (likewise for y), and pixels outside the image
read as 0 ("zeros"; with "border" the position is clipped into the image first).
The backward pass needs, with g = dL/dout[n, c, h, w] and v_ij = x[n, c, y0+i, x0+j],

    dL/dx[n, c, y0+i, x0+j] += wy_i wx_j g
    dL/dpx = sum_c g (wy_0 (v01 - v00) + wy_1 (v11 - v10))
    dL/dpy = sum_c g (wx_0 (v10 - v00) + wx_1 (v11 - v01))
    dL/dgrid = dL/dp · dp/dgrid,   dL/dtheta[n] = sum_{h,w} dL/dgrid[n, h, w] ⊗ (x_w, y_h, 1)

The samplers work sample by sample, in three steps:
  1. `_pad`: copy x[n] into a float64 buffer with PAD_LO = 2 zero rows and columns
     before the image and one after it. Every tap of every position that
     source_index returns (-2 <= p < size) lies inside this buffer, and taps
     outside the image read 0, exactly PyTorch's "zeros" padding: the loops below
     need no bounds checks and no branches;
  2. `_taps_*`: for every output point, the flat offset of its top-left tap in the
     buffer, the weights wx_1, wy_1 and dp/dgrid. Pure arithmetic, which the
     compiler vectorises (SIMD);
  3. `_gather*`: four loads and a few multiply-adds per point and channel. The
     backward pass runs its adjoint `_scatter*` (adds into a padded gradient
     buffer) and `_grid_grad*` (dL/dgrid, summed over channels).
The fused affine_grid_sample kernels compute the points from theta in step 2 and
reduce dL/dtheta directly, so the (N, Ho, Wo, 2) grid never exists. grid_sample
and affine_grid_sample share one compiled kernel per direction (Numba compile
time dominates the tests): it computes the points from `theta`, or reads them
from `grid` when theta is a placeholder with 0 samples. The 1-D kernels are the
same maths with one axis (linear interpolation): on an input of height 1 they
give the 2-D kernels' numbers, bit for bit.

Non-finite points: a grid point whose x or y is NaN or ±inf (given, or computed
from theta) samples 0 and gets gradient 0, for the input and for the grid/theta.
All maths is in float64; results are stored in the arrays' dtype.

Threads and determinism: the samplers (2-D and 1-D) split the batch into blocks of whole
samples (`_blocks`), run in parallel (below GRAIN outputs, or with one Numba thread, on the
calling thread: `_threads.parallel`);
each sample's outputs and gradients are written only by the thread owning its
block, and summed in a fixed order, so gradients are bit-identical from run to
run, whatever the number of threads. Gradient arrays passed with size 0
are skipped. Kernels overwrite (never accumulate into) their output arrays.
"""
import numba
import numpy as np

from .._scalar import affine_coord, base_coord, linear_taps, projective_point, source_index
from ._threads import parallel
from .grids import _entries, _projective_theta_grad

PAD_LO = 2        # zero rows / columns before the image in the padded buffers
PAD = 3           # ... and in all (one after)
# Outputs (N C Ho Wo) below which a parallel launch costs more than it saves. Under Numba's
# workqueue layer (2026-11-25) that was 65,536: N64 C1 28x28 (50k outputs), fused fwd+bwd,
# took 1.03 ms on 2 threads against 0.73 ms on the calling thread alone. Under OpenMP, which
# `import minstn` now prefers, 2 threads pay down to 4,096 outputs (N4 C1 32x32 fused
# fwd+bwd 0.11 ms against 0.14; N64 C1 28x28 0.62-0.64 against 1.01-1.09; probe script,
# median of 60, docs/performance.md).
GRAIN = 1 << 12

_inline = numba.njit(cache=True, inline="always")


# ---- step 1: padded buffers, and small helpers ------------------------------------------

@_inline
def _pad(x, n, xp):
    """xp (C, H+3, W+3) <- x[n] framed by zeros: xp[c, PAD_LO + i, PAD_LO + j] = x[n, c, i, j]."""
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    for c in range(C):
        for i in range(xp.shape[1]):
            for j in range(xp.shape[2]):
                xp[c, i, j] = 0.0
        for i in range(H):
            for j in range(W):
                xp[c, PAD_LO + i, PAD_LO + j] = x[n, c, i, j]


@_inline
def _unpad(gp, out, n):
    """out[n, c, i, j] <- gp[c, PAD_LO + i, PAD_LO + j]."""
    C, H, W = out.shape[1], out.shape[2], out.shape[3]
    for c in range(C):
        for i in range(H):
            for j in range(W):
                out[n, c, i, j] = gp[c, PAD_LO + i, PAD_LO + j]


@_inline
def _pad1d(x, n, xp):
    """xp (C, L+3) <- x[n] framed by zeros: xp[c, PAD_LO + i] = x[n, c, i]."""
    for c in range(x.shape[1]):
        for i in range(xp.shape[1]):
            xp[c, i] = 0.0
        for i in range(x.shape[2]):
            xp[c, PAD_LO + i] = x[n, c, i]


@_inline
def _unpad1d(gp, out, n):
    """out[n, c, i] <- gp[c, PAD_LO + i]."""
    for c in range(out.shape[1]):
        for i in range(out.shape[2]):
            out[n, c, i] = gp[c, PAD_LO + i]


@_inline
def _zero(a):
    """a <- 0 (a C-contiguous array of any rank)."""
    af = a.reshape(-1)
    for i in range(af.size):
        af[i] = 0.0


@numba.njit(cache=True)
def _base_coords(size, align_corners):
    """The base grid along one axis: base_coord(i, size) for i < size."""
    out = np.empty(size)
    for i in range(size):
        out[i] = base_coord(i, size, align_corners)
    return out


@_inline
def _theta_grad(gx, gy, xs, ys, grad_theta, n):
    """grad_theta[n] <- sum_{h,w} (gx, gy)[h Wo + w] ⊗ (xs[w], ys[h], 1), gx, gy = dL/dgrid.

    Row sums first (dtheta[0, 1] = sum_h ys[h] sum_w gx), in this fixed order, in
    affine_grid_backward and in the fused backward alike.
    """
    a00 = a01 = a02 = a10 = a11 = a12 = 0.0
    Wo = xs.size
    for h in range(ys.size):
        sx = s = tx = t = 0.0
        for w in range(Wo):
            sx += gx[h * Wo + w] * xs[w]
            s += gx[h * Wo + w]
            tx += gy[h * Wo + w] * xs[w]
            t += gy[h * Wo + w]
        a00 += sx
        a01 += ys[h] * s
        a02 += s
        a10 += tx
        a11 += ys[h] * t
        a12 += t
    grad_theta[n, 0, 0], grad_theta[n, 0, 1], grad_theta[n, 0, 2] = a00, a01, a02
    grad_theta[n, 1, 0], grad_theta[n, 1, 1], grad_theta[n, 1, 2] = a10, a11, a12


# ---- step 2: where each output point reads from ----------------------------------------

@_inline
def _tap2(gx, gy, H, W, border, align_corners, off, wx, wy, dpx, dpy, p):
    """Store point p's top-left tap offset (in a padded (H+3, W+3) plane) and weights."""
    px, dx = source_index(gx, W, border, align_corners)
    py, dy = source_index(gy, H, border, align_corners)
    x0, _, wx1 = linear_taps(px)
    y0, _, wy1 = linear_taps(py)
    off[p] = (y0 + PAD_LO) * (W + PAD) + x0 + PAD_LO
    wx[p], wy[p], dpx[p], dpy[p] = wx1, wy1, dx, dy


@_inline
def _taps_grid(grid, n, H, W, border, align_corners, off, wx, wy, dpx, dpy):
    """Taps of the points grid[n] (Ho, Wo, 2), flattened to p = h Wo + w."""
    g = grid[n].reshape(-1)                    # (Ho Wo 2,): x, y of point p at 2p, 2p + 1
    for p in range(off.size):
        _tap2(g[2 * p], g[2 * p + 1], H, W, border, align_corners, off, wx, wy, dpx, dpy, p)


@numba.njit(cache=True, fastmath={"reassoc", "contract"})
def _dot(a, b):
    """Σ_i a[i] b[i], reassociated into SIMD lanes: one fixed order per compiled kernel, so
    the same bytes from run to run, without a strict chain of adds."""
    acc = 0.0
    for i in range(a.size):
        acc += a[i] * b[i]
    return acc


@_inline
def _taps_theta(theta, basis_t, n, xs, ys, H, W, border, align_corners, off, wx, wy, dpx, dpy):
    """Taps of the points theta[n] @ (xs[w], ys[h], 1) of an (Ho, Wo) grid: affine for θ
    (N, 2, 3), projective (the point divided by its w; kernels/cpu/grids.py) for (N, 3, 3);
    for TPS offsets θ (N, K, 2) the point (xs[w], ys[h]) + Σ_k basis_t[k, p] θ[n, k]."""
    Wo = xs.size
    if theta.shape[2] == 2:
        for h in range(ys.size):               # dpx, dpy first hold the points (p in order)
            for w in range(Wo):
                dpx[h * Wo + w], dpy[h * Wo + w] = xs[w], ys[h]
        for k in range(theta.shape[1]):        # + Σ_k, k in order: SIMD along the points
            ox, oy, bk = float(theta[n, k, 0]), float(theta[n, k, 1]), basis_t[k]
            for p in range(off.size):
                dpx[p] += bk[p] * ox
                dpy[p] += bk[p] * oy
        for p in range(off.size):              # _tap2 reads point p before writing dpx[p]
            _tap2(dpx[p], dpy[p], H, W, border, align_corners, off, wx, wy, dpx, dpy, p)
        return
    if theta.shape[1] == 3:
        p00, p01, p02, p10, p11, p12, p20, p21, p22 = _entries(theta, n)
        for h in range(ys.size):
            for w in range(Wo):
                gx, gy, _ = projective_point(p00, p01, p02, p10, p11, p12, p20, p21, p22,
                                             xs[w], ys[h])
                _tap2(gx, gy, H, W, border, align_corners, off, wx, wy, dpx, dpy, h * Wo + w)
        return
    t00, t01, t02 = theta[n, 0, 0], theta[n, 0, 1], theta[n, 0, 2]
    t10, t11, t12 = theta[n, 1, 0], theta[n, 1, 1], theta[n, 1, 2]
    for h in range(ys.size):
        for w in range(Wo):
            _tap2(affine_coord(t00, t01, t02, xs[w], ys[h]),
                  affine_coord(t10, t11, t12, xs[w], ys[h]),
                  H, W, border, align_corners, off, wx, wy, dpx, dpy, h * Wo + w)


@_inline
def _tap1(gx, L, border, align_corners, off, wx, dpx, p):
    """Store point p's left tap offset (in a padded (L+3,) row), weight and dp/dgx."""
    px, dx = source_index(gx, L, border, align_corners)
    x0, _, wx1 = linear_taps(px)
    off[p] = x0 + PAD_LO
    wx[p], dpx[p] = wx1, dx


@_inline
def _taps1d_grid(grid, n, L, border, align_corners, off, wx, dpx):
    """Taps of the points grid[n] (Lo,)."""
    for l in range(grid.shape[1]):
        _tap1(grid[n, l], L, border, align_corners, off, wx, dpx, l)


@_inline
def _taps1d_theta(theta, n, ts, L, border, align_corners, off, wx, dpx):
    """Taps of the points theta[n, 0, 0] ts[l] + theta[n, 0, 1]."""
    t0, t1 = theta[n, 0, 0], theta[n, 0, 1]
    for l in range(ts.size):
        _tap1(affine_coord(t0, 0.0, t1, ts[l], 0.0), L, border, align_corners, off, wx, dpx, l)


# ---- step 3: gather (forward) and its adjoint (backward) ---------------------------------

@_inline
def _gather2(xp, off, wx, wy, out, n):
    """out[n, c] (flat p) <- bilinear interpolation of the padded planes xp (C, Hp, Wp)."""
    Wp = xp.shape[2]
    for c in range(xp.shape[0]):
        xc, oc = xp[c].reshape(-1), out[n, c].reshape(-1)
        for p in range(off.size):
            o, wx1, wy1 = off[p], wx[p], wy[p]
            wx0, wy0 = 1.0 - wx1, 1.0 - wy1
            oc[p] = wy0 * (wx0 * xc[o] + wx1 * xc[o + 1]) + \
                wy1 * (wx0 * xc[o + Wp] + wx1 * xc[o + Wp + 1])


@_inline
def _scatter2(gp, grad_out, n, off, wx, wy):
    """gp (C, Hp, Wp) <- adjoint of _gather2: each tap's share of grad_out[n] (gp zeroed here)."""
    Wp = gp.shape[2]
    _zero(gp)
    for c in range(gp.shape[0]):
        gc, goc = gp[c].reshape(-1), grad_out[n, c].reshape(-1)
        for p in range(off.size):
            o, wx1, wy1, g = off[p], wx[p], wy[p], float(goc[p])
            wx0, wy0 = 1.0 - wx1, 1.0 - wy1
            gc[o] += wy0 * wx0 * g
            gc[o + 1] += wy0 * wx1 * g
            gc[o + Wp] += wy1 * wx0 * g
            gc[o + Wp + 1] += wy1 * wx1 * g


@_inline
def _grid_grad2(xp, grad_out, n, off, wx, wy, dpx, dpy, gx, gy):
    """(gx, gy) <- dL/dgrid of each point: sum_c g dout/d(px, py), times d(px, py)/dgrid."""
    Wp = xp.shape[2]
    _zero(gx)
    _zero(gy)
    for c in range(xp.shape[0]):
        xc, goc = xp[c].reshape(-1), grad_out[n, c].reshape(-1)
        for p in range(off.size):
            o, wx1, wy1, g = off[p], wx[p], wy[p], float(goc[p])
            v00, v01, v10, v11 = xc[o], xc[o + 1], xc[o + Wp], xc[o + Wp + 1]
            gx[p] += g * ((1.0 - wy1) * (v01 - v00) + wy1 * (v11 - v10))
            gy[p] += g * ((1.0 - wx1) * (v10 - v00) + wx1 * (v11 - v01))
    for p in range(off.size):
        gx[p] *= dpx[p]
        gy[p] *= dpy[p]


@_inline
def _gather1(xp, off, wx, out, n):
    """out[n, c] <- linear interpolation of the padded rows xp (C, Lp)."""
    for c in range(xp.shape[0]):
        xc, oc = xp[c], out[n, c]
        for p in range(off.size):
            o, wx1 = off[p], wx[p]
            oc[p] = (1.0 - wx1) * xc[o] + wx1 * xc[o + 1]


@_inline
def _scatter1(gp, grad_out, n, off, wx):
    """gp (C, Lp) <- adjoint of _gather1 (gp zeroed here)."""
    _zero(gp)
    for c in range(gp.shape[0]):
        gc, goc = gp[c], grad_out[n, c]
        for p in range(off.size):
            o, wx1, g = off[p], wx[p], float(goc[p])
            gc[o] += (1.0 - wx1) * g
            gc[o + 1] += wx1 * g


@_inline
def _grid_grad1(xp, grad_out, n, off, dpx, gx):
    """gx <- dL/dgrid of each point: sum_c g (v1 - v0), times dpx/dgrid."""
    _zero(gx)
    for c in range(xp.shape[0]):
        xc, goc = xp[c], grad_out[n, c]
        for p in range(off.size):
            gx[p] += float(goc[p]) * (xc[off[p] + 1] - xc[off[p]])
    for p in range(off.size):
        gx[p] *= dpx[p]


# Channels last, x (N, L, C) and out (N, Lo, C): the same steps on rows. The padded buffer is
# (L+3, C), a point's two taps are whole rows of it, and the gather, scatter and grid
# gradient run along C contiguous numbers (vectorised). Every number is summed in the
# order of the channels-first helpers above, so both layouts give the same bits.

@_inline
def _pad1d_cl(x, n, xp):
    """xp (L+3, C) <- x[n] (L, C) framed by zero rows: xp[PAD_LO + i, c] = x[n, i, c]."""
    L = x.shape[1]
    for i in range(xp.shape[0]):
        row = xp[i]
        if PAD_LO <= i < PAD_LO + L:
            src = x[n, i - PAD_LO]
            for c in range(row.size):
                row[c] = src[c]
        else:
            for c in range(row.size):
                row[c] = 0.0


@_inline
def _unpad1d_cl(gp, out, n):
    """out[n, i, c] <- gp[PAD_LO + i, c]."""
    for i in range(out.shape[1]):
        row, dst = gp[PAD_LO + i], out[n, i]
        for c in range(dst.size):
            dst[c] = row[c]


@_inline
def _gather1_cl(xp, off, wx, out, n):
    """out[n, p] (C,) <- linear interpolation of the padded rows xp (L+3, C)."""
    for p in range(off.size):
        r0, r1, o = xp[off[p]], xp[off[p] + 1], out[n, p]
        wx1 = wx[p]
        wx0 = 1.0 - wx1
        for c in range(o.size):
            o[c] = wx0 * r0[c] + wx1 * r1[c]


@_inline
def _scatter1_cl(gp, grad_out, n, off, wx):
    """gp (L+3, C) <- adjoint of _gather1_cl (gp zeroed here)."""
    _zero(gp)
    for p in range(off.size):
        r0, r1, g = gp[off[p]], gp[off[p] + 1], grad_out[n, p]
        wx1 = wx[p]
        wx0 = 1.0 - wx1
        for c in range(g.size):
            gc = float(g[c])
            r0[c] += wx0 * gc
            r1[c] += wx1 * gc


@_inline
def _grid_grad1_cl(xp, grad_out, n, off, dpx, gx):
    """gx <- dL/dgrid of each point: sum_c g (v1 - v0), times dpx/dgrid."""
    for p in range(off.size):
        r0, r1, g = xp[off[p]], xp[off[p] + 1], grad_out[n, p]
        s = 0.0
        for c in range(g.size):
            s += float(g[c]) * (r1[c] - r0[c])
        gx[p] = s * dpx[p]


# ---- 2-D kernels --------------------------------------------------------------------------
#
# grid_sample and affine_grid_sample share one compiled kernel per direction (compile
# time): it computes the points from `theta`, or reads them from `grid` when theta is a
# placeholder with 0 samples.

@numba.njit(cache=True)
def affine_grid_forward(theta, out, align_corners):
    """out (N, H, W, 2) <- theta (N, 2, 3) @ (x_w, y_h, 1)."""
    N, H, W = out.shape[0], out.shape[1], out.shape[2]
    xs, ys = _base_coords(W, align_corners), _base_coords(H, align_corners)
    for n in range(N):
        t00, t01, t02 = theta[n, 0, 0], theta[n, 0, 1], theta[n, 0, 2]
        t10, t11, t12 = theta[n, 1, 0], theta[n, 1, 1], theta[n, 1, 2]
        o = out[n].reshape(-1)                 # flat (H W 2,): 4-D indexing would not vectorise
        for h in range(H):
            for w in range(W):
                p = 2 * (h * W + w)
                o[p] = affine_coord(t00, t01, t02, xs[w], ys[h])
                o[p + 1] = affine_coord(t10, t11, t12, xs[w], ys[h])


@numba.njit(cache=True)
def affine_grid_backward(grad_grid, grad_theta, align_corners):
    """grad_theta (N, 2, 3) <- sum_{h,w} grad_grid[n, h, w] ⊗ (x_w, y_h, 1)."""
    N, H, W = grad_grid.shape[0], grad_grid.shape[1], grad_grid.shape[2]
    xs, ys = _base_coords(W, align_corners), _base_coords(H, align_corners)
    gx, gy = np.empty(H * W), np.empty(H * W)
    for n in range(N):
        g = grad_grid[n].reshape(-1)           # flat (H W 2,)
        for p in range(H * W):
            gx[p], gy[p] = g[2 * p], g[2 * p + 1]
        _theta_grad(gx, gy, xs, ys, grad_theta, n)


@numba.njit(cache=True)
def _blocks(n):
    """Split samples 0..n-1 into up to 64 equal blocks for the threads: (count, size)."""
    size = max(1, -(-n // 64))
    return -(-n // size), size


@_inline
def _tps_offsets_grad(basis_t, gx, gy, grad_offsets, n):
    """grad_offsets[n, k] <- Σ_p basis_t[k, p] (gx, gy)[p]: dL/doffsets of a TPS grid."""
    for k in range(basis_t.shape[0]):
        grad_offsets[n, k, 0] = _dot(basis_t[k], gx)
        grad_offsets[n, k, 1] = _dot(basis_t[k], gy)


@numba.njit(cache=True)
def _forward2d_block(x, grid, theta, basis_t, out, border, align_corners, n0, n1):
    """out[n0:n1] of _sample2d_forward, one sample after another."""
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    Ho, Wo = out.shape[2], out.shape[3]
    P = Ho * Wo
    xs, ys = _base_coords(Wo, align_corners), _base_coords(Ho, align_corners)
    xp = np.empty((C, H + PAD, W + PAD))       # x[n], zero-padded
    off = np.empty(P, np.int64)                # top-left tap of each point
    wx, wy = np.empty(P), np.empty(P)          # weights of the right / lower taps
    dpx, dpy = np.empty(P), np.empty(P)        # d position / d grid (unused here)
    for n in range(n0, n1):
        _pad(x, n, xp)
        if theta.shape[0] == 0:                # the points come from grid
            _taps_grid(grid, n, H, W, border, align_corners, off, wx, wy, dpx, dpy)
        else:
            _taps_theta(theta, basis_t, n, xs, ys, H, W, border, align_corners, off, wx, wy,
                        dpx, dpy)
        _gather2(xp, off, wx, wy, out, n)


@numba.njit(cache=True)
def _backward2d_block(x, grid, theta, basis_t, grad_out, grad_x, grad_grid, grad_theta, border,
                      align_corners, n0, n1):
    """Samples n0..n1-1 of _sample2d_backward, one after another."""
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    Ho, Wo = grad_out.shape[2], grad_out.shape[3]
    P = Ho * Wo
    xs, ys = _base_coords(Wo, align_corners), _base_coords(Ho, align_corners)
    xp = np.empty((C, H + PAD, W + PAD))       # x[n], zero-padded
    gp = np.empty((C, H + PAD, W + PAD))       # dL/dx[n], padded
    off = np.empty(P, np.int64)                # top-left tap of each point
    wx, wy = np.empty(P), np.empty(P)          # weights of the right / lower taps
    dpx, dpy = np.empty(P), np.empty(P)        # d position / d grid
    gx, gy = np.empty(P), np.empty(P)          # dL/dgrid
    for n in range(n0, n1):
        if theta.shape[0] == 0:                # the points come from grid
            _taps_grid(grid, n, H, W, border, align_corners, off, wx, wy, dpx, dpy)
        else:
            _taps_theta(theta, basis_t, n, xs, ys, H, W, border, align_corners, off, wx, wy,
                        dpx, dpy)
        if grad_x.size > 0:
            _scatter2(gp, grad_out, n, off, wx, wy)
            _unpad(gp, grad_x, n)
        if grad_grid.size > 0 or grad_theta.size > 0:
            _pad(x, n, xp)
            _grid_grad2(xp, grad_out, n, off, wx, wy, dpx, dpy, gx, gy)
        if grad_grid.size > 0:
            gg = grad_grid[n].reshape(-1)      # flat (Ho Wo 2,)
            for p in range(P):
                gg[2 * p], gg[2 * p + 1] = gx[p], gy[p]
        if grad_theta.size > 0 and theta.shape[2] == 2:
            _tps_offsets_grad(basis_t, gx, gy, grad_theta, n)
        elif grad_theta.size > 0 and theta.shape[1] == 3:
            _projective_theta_grad(theta, n, gx, gy, Ho, Wo, align_corners, grad_theta)
        elif grad_theta.size > 0:
            _theta_grad(gx, gy, xs, ys, grad_theta, n)


@numba.njit(cache=True, parallel=True)
def _sample2d_forward(x, grid, theta, basis_t, out, border, align_corners):
    """out (N, C, Ho, Wo) <- bilinear samples of x at theta's points (at grid if theta is empty)."""
    count, size = _blocks(x.shape[0])
    for b in numba.prange(count):
        _forward2d_block(x, grid, theta, basis_t, out, border, align_corners,
                         b * size, min(x.shape[0], (b + 1) * size))


@numba.njit(cache=True, parallel=True)
def _sample2d_backward(x, grid, theta, basis_t, grad_out, grad_x, grad_grid, grad_theta, border,
                       align_corners):
    """dL/dx, and dL/dtheta or (if theta is empty) dL/dgrid, of _sample2d_forward."""
    count, size = _blocks(x.shape[0])
    for b in numba.prange(count):
        _backward2d_block(x, grid, theta, basis_t, grad_out, grad_x, grad_grid, grad_theta, border,
                          align_corners, b * size, min(x.shape[0], (b + 1) * size))


_NO_BASIS = np.empty((0, 0))                   # the basis_t argument of the non-TPS kernels


def _forward2d(x, grid, theta, out, border, align_corners, basis_t=_NO_BASIS):
    """_sample2d_forward, or the same work on this thread for small outputs or one thread."""
    if out.size >= GRAIN and parallel():
        _sample2d_forward(x, grid, theta, basis_t, out, border, align_corners)
    else:
        _forward2d_block(x, grid, theta, basis_t, out, border, align_corners, 0, x.shape[0])


def _backward2d(x, grid, theta, grad_out, grad_x, grad_grid, grad_theta, border, align_corners,
                basis_t=_NO_BASIS):
    """_sample2d_backward, or the same work on this thread for small outputs or one thread."""
    if grad_out.size >= GRAIN and parallel():
        _sample2d_backward(x, grid, theta, basis_t, grad_out, grad_x, grad_grid, grad_theta,
                           border, align_corners)
    else:
        _backward2d_block(x, grid, theta, basis_t, grad_out, grad_x, grad_grid, grad_theta,
                          border, align_corners, 0, x.shape[0])


def grid_sample_forward(x, grid, out, border, align_corners):
    """out (N, C, Ho, Wo) <- bilinear samples of x (N, C, H, W) at grid (N, Ho, Wo, 2)."""
    _forward2d(x, grid, np.empty((0, 2, 3), grid.dtype), out, border, align_corners)


def grid_sample_backward(x, grid, grad_out, grad_x, grad_grid, border, align_corners):
    """grad_x (N, C, H, W) and grad_grid (N, Ho, Wo, 2) of grid_sample (size-0: skipped)."""
    _backward2d(x, grid, np.empty((0, 2, 3), grid.dtype), grad_out, grad_x, grad_grid,
                np.empty((0, 2, 3), grid.dtype), border, align_corners)


def affine_grid_sample_forward(x, theta, out, border, align_corners):
    """out (N, C, Ho, Wo) <- grid_sample(x, affine_grid(theta)) without storing the grid."""
    _forward2d(x, np.empty((0, 0, 0, 2), theta.dtype), theta, out, border, align_corners)


def projective_grid_sample_forward(x, theta, out, border, align_corners):
    """out (N, C, Ho, Wo) <- grid_sample(x, projective_grid(theta (N, 3, 3))), no grid stored."""
    _forward2d(x, np.empty((0, 0, 0, 2), theta.dtype), theta, out, border, align_corners)


def projective_grid_sample_backward(x, theta, grad_out, grad_x, grad_theta, border,
                                    align_corners):
    """grad_x (N, C, H, W) and grad_theta (N, 3, 3) of the fused projective op."""
    _backward2d(x, np.empty((0, 0, 0, 2), theta.dtype), theta, grad_out, grad_x,
                np.empty((0, 0, 0, 2), theta.dtype), grad_theta, border, align_corners)


def affine_grid_sample_backward(x, theta, grad_out, grad_x, grad_theta, border, align_corners):
    """grad_x (N, C, H, W) and grad_theta (N, 2, 3) of the fused op (size-0: skipped)."""
    _backward2d(x, np.empty((0, 0, 0, 2), theta.dtype), theta, grad_out, grad_x,
                np.empty((0, 0, 0, 2), theta.dtype), grad_theta, border, align_corners)


def tps_grid_sample_forward(x, offsets, out, border, align_corners, basis_t):
    """out (N, C, Ho, Wo) <- grid_sample(x, tps_grid(offsets (N, K, 2))); basis_t (K, Ho Wo)
    float64 is the TPS basis transposed; the grid is never stored."""
    _forward2d(x, np.empty((0, 0, 0, 2), offsets.dtype), offsets, out, border, align_corners,
               basis_t)


def tps_grid_sample_backward(x, offsets, grad_out, grad_x, grad_offsets, border, align_corners,
                             basis_t):
    """grad_x (N, C, H, W) and grad_offsets (N, K, 2) of the fused TPS op (size-0: skipped)."""
    _backward2d(x, np.empty((0, 0, 0, 2), offsets.dtype), offsets, grad_out, grad_x,
                np.empty((0, 0, 0, 2), offsets.dtype), grad_offsets, border, align_corners,
                basis_t)


# ---- 1-D kernels (time series): the same maths with one axis ----------------------------
#
# Serial: sequences are short, and a parallel kernel costs seconds more to compile.

@numba.njit(cache=True)
def affine_grid1d_forward(theta, out, align_corners):
    """out (N, L) <- theta[n, 0, 0] t_l + theta[n, 0, 1]."""
    N, L = out.shape
    ts = _base_coords(L, align_corners)
    for n in range(N):
        for l in range(L):
            out[n, l] = affine_coord(theta[n, 0, 0], 0.0, theta[n, 0, 1], ts[l], 0.0)


@numba.njit(cache=True)
def affine_grid1d_backward(grad_grid, grad_theta, align_corners):
    """grad_theta (N, 1, 2) <- sum_l grad_grid[n, l] (t_l, 1)."""
    N, L = grad_grid.shape
    ts = _base_coords(L, align_corners)
    for n in range(N):
        a0 = a1 = 0.0
        for l in range(L):
            a0 += grad_grid[n, l] * ts[l]
            a1 += grad_grid[n, l]
        grad_theta[n, 0, 0], grad_theta[n, 0, 1] = a0, a1


@numba.njit(cache=True)
def _forward1d_block(x, grid, theta, out, border, align_corners, cl, n0, n1):
    """out[n0:n1] of _sample1d_forward, one sample after another; cl: channels last."""
    C, L, P = (x.shape[2], x.shape[1], out.shape[1]) if cl else \
        (x.shape[1], x.shape[2], out.shape[2])
    ts = _base_coords(P, align_corners)
    xp = np.empty((L + PAD, C)) if cl else np.empty((C, L + PAD))   # x[n], zero-padded
    off = np.empty(P, np.int64)                # left tap of each point
    wx, dpx = np.empty(P), np.empty(P)         # weight of the right tap, dp/dgrid
    for n in range(n0, n1):
        if theta.shape[0] == 0:                # the points come from grid
            _taps1d_grid(grid, n, L, border, align_corners, off, wx, dpx)
        else:
            _taps1d_theta(theta, n, ts, L, border, align_corners, off, wx, dpx)
        if cl:
            _pad1d_cl(x, n, xp)
            _gather1_cl(xp, off, wx, out, n)
        else:
            _pad1d(x, n, xp)
            _gather1(xp, off, wx, out, n)


@numba.njit(cache=True)
def _backward1d_block(x, grid, theta, grad_out, grad_x, grad_grid, grad_theta, border,
                      align_corners, cl, n0, n1):
    """Samples n0..n1-1 of _sample1d_backward, one after another; cl: channels last."""
    C, L, P = (x.shape[2], x.shape[1], grad_out.shape[1]) if cl else \
        (x.shape[1], x.shape[2], grad_out.shape[2])
    ts = _base_coords(P, align_corners)
    xp = np.empty((L + PAD, C)) if cl else np.empty((C, L + PAD))   # x[n], zero-padded
    gp = np.empty_like(xp)                     # dL/dx[n], padded
    off = np.empty(P, np.int64)                # left tap of each point
    wx, dpx = np.empty(P), np.empty(P)         # weight of the right tap, dp/dgrid
    gx = np.empty(P)                           # dL/dgrid
    for n in range(n0, n1):
        if theta.shape[0] == 0:                # the points come from grid
            _taps1d_grid(grid, n, L, border, align_corners, off, wx, dpx)
        else:
            _taps1d_theta(theta, n, ts, L, border, align_corners, off, wx, dpx)
        if grad_x.size > 0:
            if cl:
                _scatter1_cl(gp, grad_out, n, off, wx)
                _unpad1d_cl(gp, grad_x, n)
            else:
                _scatter1(gp, grad_out, n, off, wx)
                _unpad1d(gp, grad_x, n)
        if grad_grid.size > 0 or grad_theta.size > 0:
            if cl:
                _pad1d_cl(x, n, xp)
                _grid_grad1_cl(xp, grad_out, n, off, dpx, gx)
            else:
                _pad1d(x, n, xp)
                _grid_grad1(xp, grad_out, n, off, dpx, gx)
        if grad_grid.size > 0:
            for l in range(P):
                grad_grid[n, l] = gx[l]
        if grad_theta.size > 0:
            a0 = a1 = 0.0
            for l in range(P):
                a0 += gx[l] * ts[l]
                a1 += gx[l]
            grad_theta[n, 0, 0], grad_theta[n, 0, 1] = a0, a1


@numba.njit(cache=True, parallel=True)
def _sample1d_forward(x, grid, theta, out, border, align_corners, cl):
    """out (N, C, Lo) <- linear interpolation of x at theta's points (at grid if theta is
    empty); cl: x (N, L, C), out (N, Lo, C)."""
    count, size = _blocks(x.shape[0])
    for b in numba.prange(count):
        _forward1d_block(x, grid, theta, out, border, align_corners, cl,
                         b * size, min(x.shape[0], (b + 1) * size))


@numba.njit(cache=True, parallel=True)
def _sample1d_backward(x, grid, theta, grad_out, grad_x, grad_grid, grad_theta, border,
                       align_corners, cl):
    """dL/dx, and dL/dtheta or (if theta is empty) dL/dgrid, of _sample1d_forward."""
    count, size = _blocks(x.shape[0])
    for b in numba.prange(count):
        _backward1d_block(x, grid, theta, grad_out, grad_x, grad_grid, grad_theta, border,
                          align_corners, cl, b * size, min(x.shape[0], (b + 1) * size))


def _forward1d(x, grid, theta, out, border, align_corners, cl):
    """_sample1d_forward, or the same work on this thread for small outputs or one thread."""
    if out.size >= GRAIN and parallel():
        _sample1d_forward(x, grid, theta, out, border, align_corners, cl)
    else:
        _forward1d_block(x, grid, theta, out, border, align_corners, cl, 0, x.shape[0])


def _backward1d(x, grid, theta, grad_out, grad_x, grad_grid, grad_theta, border, align_corners,
                cl):
    """_sample1d_backward, or the same work on this thread for small outputs or one thread."""
    if grad_out.size >= GRAIN and parallel():
        _sample1d_backward(x, grid, theta, grad_out, grad_x, grad_grid, grad_theta, border,
                           align_corners, cl)
    else:
        _backward1d_block(x, grid, theta, grad_out, grad_x, grad_grid, grad_theta, border,
                          align_corners, cl, 0, x.shape[0])


# channels_last: x (N, L, C) and out (N, Lo, C), one row per time step as time series come
# (the channels-last helpers above); the same numbers as the channels-first arrays permuted.

def grid_sample1d_forward(x, grid, out, border, align_corners, channels_last=False):
    """out (N, C, Lo) <- linear interpolation of x (N, C, L) at grid (N, Lo);
    channels_last: x (N, L, C), out (N, Lo, C)."""
    _forward1d(x, grid, np.empty((0, 1, 2), grid.dtype), out, border, align_corners,
               channels_last)


def grid_sample1d_backward(x, grid, grad_out, grad_x, grad_grid, border, align_corners,
                           channels_last=False):
    """grad_x (N, C, L) and grad_grid (N, Lo) of grid_sample1d (size-0: skipped);
    channels_last: x, grad_x (N, L, C), grad_out (N, Lo, C)."""
    _backward1d(x, grid, np.empty((0, 1, 2), grid.dtype), grad_out, grad_x, grad_grid,
                np.empty((0, 1, 2), grid.dtype), border, align_corners, channels_last)


def affine_grid_sample1d_forward(x, theta, out, border, align_corners, channels_last=False):
    """out (N, C, Lo) <- grid_sample1d(x, affine_grid1d(theta)) without storing the grid;
    channels_last: x (N, L, C), out (N, Lo, C)."""
    _forward1d(x, np.empty((0, 0), theta.dtype), theta, out, border, align_corners,
               channels_last)


def affine_grid_sample1d_backward(x, theta, grad_out, grad_x, grad_theta, border, align_corners,
                                  channels_last=False):
    """grad_x (N, C, L) and grad_theta (N, 1, 2) of the fused 1-D op (size-0: skipped);
    channels_last: x, grad_x (N, L, C), grad_out (N, Lo, C)."""
    _backward1d(x, np.empty((0, 0), theta.dtype), theta, grad_out, grad_x,
                np.empty((0, 0), theta.dtype), grad_theta, border, align_corners, channels_last)
