"""Affine grids and bilinear / linear sampling: the differentiable heart of a spatial transformer.

    grid = affine_grid(theta, (N, C, Ho, Wo))   # (N, Ho, Wo, 2): theta[n] @ (x_w, y_h, 1)
    out = grid_sample(input, grid)              # (N, C, Ho, Wo): input read at grid (x, y)
    out = affine_grid_sample(input, theta)      # both at once, without storing the grid

Coordinates are normalised: (-1, -1) is the top-left of the image and (1, 1) its
bottom-right, as corner pixel centres (align_corners=True) or as the outer edges of
the corner pixels (align_corners=False, the default). `affine_grid` and
`grid_sample` follow torch.nn.functional exactly (mode="bilinear", padding_mode
"zeros" or "border"); the sampler is differentiable with respect to the input and
the grid, and so theta receives gradients through the grid.

`affine_grid1d` / `grid_sample1d` / `affine_grid_sample1d` are the same ops along one
axis (linear interpolation of sequences (N, C, L)), for time series. On a
height-1 image they give exactly the numbers of the 2-D ops (see `grid_sample1d`).
The two 1-D samplers also take sequences one row per step, (N, L, C), with
channels_last=True, and return (N, L_out, C).

Non-finite coordinates: a grid point whose x or y is NaN or ±inf (given, or
computed from a theta containing NaN / inf) samples 0 and gets gradient 0, for the
input and for the grid / theta; it never reads outside the input. (This is our
rule, not PyTorch's: PyTorch returns NaN for a NaN point in "zeros" mode, and the
edge pixel for an infinite one in "border" mode.) Huge finite coordinates are
exact: 0 beyond the image ("zeros"), the clipped edge value ("border").
affine_grid itself is plain arithmetic and passes NaN / inf through to the grid.

Kernels: minstn/kernels/<device>/grid_sample.py, maths in minstn/kernels/_scalar.py.
"""
import numbers

import numpy as np

from ..autograd.function import Function
from ..kernels import backend
from ._check import c, float_tensor

PADDING_MODES = ("zeros", "border")


def _skip(be, a):
    """A size-0 array with a's dtype and rank (on backend be's device): tells a kernel not
    to compute that gradient."""
    return be.skip(a.dtype, a.ndim)


# ---- argument checks ----------------------------------------------------------------------

def _flag(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def _border(padding_mode):
    """True for "border", False for "zeros"; any other mode is an error."""
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    return padding_mode == "border"


def _size(name, size, n, ndim, channels_last=False):
    """A torch-style size (N, C, *spatial) of `ndim` positive ints whose N is n; (N, L, C) for
    a 1-D size channels last."""
    what = "(N, C, H, W)" if ndim == 4 else "(N, L, C)" if channels_last else "(N, C, L)"
    if (not isinstance(size, (tuple, list)) or len(size) != ndim
            or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in size)):
        raise ValueError(f"{name} must be a tuple {what} of {ndim} ints, got {size!r}")
    size = tuple(int(s) for s in size)
    if size[0] != n:
        raise ValueError(f"{name}[0] (batch size) must equal theta's batch size {n}, got {size}")
    channels, spatial = (size[2], size[1:2]) if channels_last else (size[1], size[2:])
    if any(s < 1 for s in spatial) or channels < 0:
        raise ValueError(f"{name} must have positive spatial sizes, got {size}")
    return size


def _out_size(out_size, x_shape, ndim, channels_last=False):
    """Output spatial size of the fused ops: None (input's), spatial tuple or full size
    (x_shape and a full size (N, L, C) if channels_last)."""
    spatial = ndim - 2
    ch = 2 if channels_last else 1                     # the channel axis
    if out_size is None:
        return tuple(x_shape[1:2] if channels_last else x_shape[2:])
    if spatial == 1 and isinstance(out_size, numbers.Integral) and not isinstance(out_size, bool):
        out_size = (int(out_size),)
    if isinstance(out_size, (tuple, list)) and len(out_size) == ndim:
        full = _size("out_size", out_size, x_shape[0], ndim, channels_last)
        if full[ch] != x_shape[ch]:
            raise ValueError(f"out_size[{ch}] (channels) must equal input's {x_shape[ch]}, "
                             f"got {tuple(out_size)}")
        return full[1:2] if channels_last else full[2:]
    what = "(H_out, W_out) or (N, C, H_out, W_out)" if spatial == 2 else \
        "L_out, (L_out,) or (N, L_out, C)" if channels_last else "L_out, (L_out,) or (N, C, L_out)"
    if (not isinstance(out_size, (tuple, list)) or len(out_size) != spatial
            or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool)
                       for s in out_size)):
        raise ValueError(f"out_size must be {what}, got {out_size!r}")
    if any(s < 1 for s in out_size):
        raise ValueError(f"out_size must be positive, got {tuple(out_size)}")
    return tuple(int(s) for s in out_size)


def _theta(theta, rows, cols):
    float_tensor("theta", theta)
    if theta.ndim != 3 or theta.shape[1:] != (rows, cols):
        raise ValueError(f"theta must have shape (N, {rows}, {cols}), got {theta.shape}")
    return theta


def _input(input, ndim, channels_last=False):
    what = "(N, C, H, W)" if ndim == 4 else "(N, L, C)" if channels_last else "(N, C, L)"
    float_tensor("input", input)
    spatial = input.shape[1:2] if channels_last else input.shape[2:]
    if input.ndim != ndim or any(s < 1 for s in spatial):
        raise ValueError(f"input must have shape {what} with positive spatial sizes, "
                         f"got {input.shape}")
    return input


def _same_batch(name, t, input):
    if t.dtype != input.dtype:
        raise TypeError(f"{name} must have the input's dtype {input.dtype}, got {t.dtype}")
    if t.shape[0] != input.shape[0]:
        raise ValueError(f"{name} batch size {t.shape[0]} does not match input batch size "
                         f"{input.shape[0]} ({name} {t.shape}, input {input.shape})")


# ---- 2-D ------------------------------------------------------------------------------------

class AffineGrid(Function):
    @staticmethod
    def forward(ctx, theta, hw, align_corners):
        be = backend(ctx.device)
        theta = c(theta)                                            # (N, 2, 3)
        out = be.empty((theta.shape[0], *hw, 2), theta.dtype)       # (N, H, W, 2)
        be.affine_grid_forward(theta, out, align_corners)
        ctx.theta_meta, ctx.align_corners = (theta.shape, theta.dtype), align_corners
        return out

    @staticmethod
    def backward(ctx, g):                     # dtheta[n] = sum_hw g[n, h, w] ⊗ (x_w, y_h, 1)
        be = backend(ctx.device)
        shape, dtype = ctx.theta_meta
        gt = be.empty(shape, dtype)
        be.affine_grid_backward(c(g), gt, ctx.align_corners)
        return gt, None, None


class _Sampler(Function):
    """The samplers share one shape of op: input x and a differentiable p (a grid, θ or TPS
    offsets) go to the kernels `<kernel>_forward` / `<kernel>_backward`, and the output is
    (N, C, *out_size). Subclasses name the kernel and document the shapes. Arguments after
    align_corners (the TPS basis) are constants passed on, last, to both kernels."""
    kernel = ""

    @classmethod
    def forward(cls, ctx, x, p, out_size, border, align_corners, *consts):
        be = backend(ctx.device)
        x, p = c(x), c(p)
        out = be.empty(cls.out_shape(x.shape, out_size, *consts), x.dtype)
        getattr(be, cls.kernel + "_forward")(x, p, out, border, align_corners, *consts)
        ctx.save_for_backward(x, p)
        ctx.flags = (border, align_corners, *consts)
        return out

    @classmethod
    def backward(cls, ctx, g):
        x, p = ctx.saved_tensors
        need_x, need_p = ctx.needs_input_grad[:2]
        be = backend(ctx.device)
        gx = be.empty_like(x) if need_x else _skip(be, x)
        gp = be.empty_like(p) if need_p else _skip(be, p)
        getattr(be, cls.kernel + "_backward")(x, p, c(g), gx, gp, *ctx.flags)
        return (gx if need_x else None, gp if need_p else None, None) + (None,) * len(ctx.flags)

    @staticmethod
    def out_shape(x_shape, out_size, *consts):
        return (x_shape[0], x_shape[1], *out_size)                  # (N, C, *out_size)


class GridSample(_Sampler):
    """x (N, C, H, W), grid (N, Ho, Wo, 2), out_size (Ho, Wo)  →  (N, C, Ho, Wo)"""
    kernel = "grid_sample"


class AffineGridSample(_Sampler):
    """x (N, C, H, W), theta (N, 2, 3), out_size (Ho, Wo)  →  (N, C, Ho, Wo)"""
    kernel = "affine_grid_sample"


def affine_grid(theta, size, align_corners=False):
    """Sampling grid of the affine maps theta, as torch.nn.functional.affine_grid.

    theta (N, 2, 3), size (N, C, H, W)  →  grid (N, H, W, 2), last axis (x, y):
        grid[n, h, w] = theta[n] @ (x_w, y_h, 1)
    x_w = -1 + 2 w / (W - 1) if align_corners else (2 w + 1) / W - 1 (y_h likewise;
    an axis of size 1 has coordinate 0). NaN / inf in theta pass through to the grid.
    """
    _theta(theta, 2, 3)
    size = _size("size", size, theta.shape[0], 4)
    return AffineGrid.apply(theta, size[2:], _flag("align_corners", align_corners))


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=False):
    """Bilinear samples of input at normalised points, as torch.nn.functional.grid_sample.

    input (N, C, H, W), grid (N, Ho, Wo, 2) with (x, y) in [-1, 1]  →  (N, C, Ho, Wo)
        px = ((x + 1) / 2) (W - 1) if align_corners else ((x + 1) W - 1) / 2  (py likewise)
        out[n, c, h, w] = sum over the 4 pixels (i, j) around (px, py) of
                          (1 - |px - j|) (1 - |py - i|) input[n, c, i, j]
    padding_mode "zeros": pixels outside the image read as 0. "border": (px, py) is
    clipped into [0, W-1] x [0, H-1] first (a clipped coordinate gets gradient 0, as in
    PyTorch). Differentiable w.r.t. input and grid. A point whose x or y is NaN or ±inf
    gives 0 and gets gradient 0 (input and grid). Only mode="bilinear" exists.
    """
    if mode != "bilinear":
        raise ValueError(f"mode must be 'bilinear' (the only supported mode), got {mode!r}")
    border = _border(padding_mode)
    _input(input, 4)
    float_tensor("grid", grid)
    if grid.ndim != 4 or grid.shape[3] != 2:
        raise ValueError(f"grid must have shape (N, H_out, W_out, 2), got {grid.shape}")
    _same_batch("grid", grid, input)
    return GridSample.apply(input, grid, grid.shape[1:3], border,
                            _flag("align_corners", align_corners))


def affine_grid_sample(input, theta, out_size=None, padding_mode="zeros", align_corners=False):
    """grid_sample(input, affine_grid(theta, out_size)) in one op that never stores the grid.

    input (N, C, H, W), theta (N, 2, 3), out_size (H_out, W_out) or (N, C, H_out, W_out)
    (default: input's H, W)  →  (N, C, H_out, W_out).
    Same numbers as the two ops in float64 (in float32 the grid is not rounded to float32
    in between); backward gives dinput and dtheta[n] = sum_hw dgrid[n, h, w] ⊗ (x_w, y_h, 1)
    directly. NaN / inf rule as grid_sample. Used by nn.SpatialTransformer.
    """
    border = _border(padding_mode)
    _input(input, 4)
    _theta(theta, 2, 3)
    _same_batch("theta", theta, input)
    hw = _out_size(out_size, input.shape, 4)
    return AffineGridSample.apply(input, theta, hw, border, _flag("align_corners", align_corners))


# ---- 1-D (sequences) --------------------------------------------------------------------------

class AffineGrid1d(Function):
    @staticmethod
    def forward(ctx, theta, length, align_corners):
        be = backend(ctx.device)
        theta = c(theta)                                             # (N, 1, 2)
        out = be.empty((theta.shape[0], length), theta.dtype)        # (N, L)
        be.affine_grid1d_forward(theta, out, align_corners)
        ctx.theta_meta, ctx.align_corners = (theta.shape, theta.dtype), align_corners
        return out

    @staticmethod
    def backward(ctx, g):                     # dtheta[n] = sum_l g[n, l] (t_l, 1)
        be = backend(ctx.device)
        shape, dtype = ctx.theta_meta
        gt = be.empty(shape, dtype)
        be.affine_grid1d_backward(c(g), gt, ctx.align_corners)
        return gt, None, None


class _Sampler1d(_Sampler):
    """The last constant is channels_last: x (N, L, C) → (N, Lo, C)."""

    @staticmethod
    def out_shape(x_shape, out_size, channels_last=False):
        n, (lo,) = x_shape[0], out_size
        return (n, lo, x_shape[2]) if channels_last else (n, x_shape[1], lo)


class GridSample1d(_Sampler1d):
    """x (N, C, L), grid (N, Lo), out_size (Lo,), channels_last  →  (N, C, Lo)
    (channels_last: x (N, L, C) → (N, Lo, C))"""
    kernel = "grid_sample1d"


class AffineGridSample1d(_Sampler1d):
    """x (N, C, L), theta (N, 1, 2), out_size (Lo,), channels_last  →  (N, C, Lo)
    (channels_last: x (N, L, C) → (N, Lo, C))"""
    kernel = "affine_grid_sample1d"


def affine_grid1d(theta, size, align_corners=False):
    """Sampling grid of 1-D affine maps (time warps): source t = theta0 t + theta1.

    theta (N, 1, 2), size (N, C, L)  →  grid (N, L):
        grid[n, l] = theta[n, 0, 0] t_l + theta[n, 0, 1]
    with t_l = -1 + 2 l / (L - 1) if align_corners else (2 l + 1) / L - 1 (0 if L = 1).
    Equals affine_grid(theta2, (N, C, 1, L))[:, 0, :, 0] for theta2 = [[θ0, 0, θ1], [0, 1, 0]].
    """
    _theta(theta, 1, 2)
    size = _size("size", size, theta.shape[0], 3)
    return AffineGrid1d.apply(theta, size[2], _flag("align_corners", align_corners))


def grid_sample1d(input, grid, padding_mode="zeros", align_corners=False, channels_last=False):
    """Linear interpolation of sequences at normalised points: grid_sample along one axis.

    input (N, C, L), grid (N, L_out) with t in [-1, 1]  →  (N, C, L_out)
        p = ((t + 1) / 2) (L - 1) if align_corners else ((t + 1) L - 1) / 2
        out[n, c, l] = (i0 + 1 - p) input[n, c, i0] + (p - i0) input[n, c, i0 + 1],  i0 = floor(p)
    Padding ("zeros" / "border"), gradients and the NaN / inf rule as grid_sample.
    Exactly equal (bit for bit, outputs and gradients w.r.t. input and t) to
    grid_sample(input[:, :, None, :], g2)[:, :, 0, :] with g2[n, 0, l] = (t[n, l], 0):
    y = 0 on a height-1 image is row 0 in both align_corners modes, with weight 1.
    channels_last=True takes input (N, L, C), one row per step as time series come, and
    returns (N, L_out, C): the same numbers, bit for bit, as permuting to (N, C, L) and back,
    without the two copies. (Not in PyTorch, which has no 1-D grid_sample.)
    """
    border = _border(padding_mode)
    channels_last = _flag("channels_last", channels_last)
    _input(input, 3, channels_last)
    float_tensor("grid", grid)
    if grid.ndim != 2:
        raise ValueError(f"grid must have shape (N, L_out), got {grid.shape}")
    _same_batch("grid", grid, input)
    return GridSample1d.apply(input, grid, grid.shape[1:2], border,
                              _flag("align_corners", align_corners), channels_last)


def affine_grid_sample1d(input, theta, out_size=None, padding_mode="zeros", align_corners=False,
                         channels_last=False):
    """grid_sample1d(input, affine_grid1d(theta, out_size)) in one op that never stores the grid.

    input (N, C, L), theta (N, 1, 2), out_size L_out, (L_out,) or (N, C, L_out)
    (default: input's L)  →  (N, C, L_out); dtheta[n] = sum_l dgrid[n, l] (t_l, 1).
    Padding, NaN / inf rule and float32 note as affine_grid_sample; bit for bit equal to
    affine_grid_sample(input[:, :, None, :], [[θ0, 0, θ1], [0, 1, 0]], (1, L_out)).
    channels_last=True: input (N, L, C) → (N, L_out, C), as in grid_sample1d (a full
    out_size is then (N, L_out, C)).
    """
    border = _border(padding_mode)
    channels_last = _flag("channels_last", channels_last)
    _input(input, 3, channels_last)
    _theta(theta, 1, 2)
    _same_batch("theta", theta, input)
    (length,) = _out_size(out_size, input.shape, 3, channels_last)
    return AffineGridSample1d.apply(input, theta, (length,), border,
                                    _flag("align_corners", align_corners), channels_last)
