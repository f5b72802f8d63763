"""Convolution and max pooling, as torch.nn.functional.conv2d / conv1d / max_pool2d / max_pool1d.

    y = conv2d(x, w, b, stride=2, padding=1)   # x (N, C, H, W), w (O, C, kh, kw) -> (N, O, Ho, Wo)
    y = max_pool2d(x, 2)                       # (N, C, H, W) -> (N, C, H // 2, W // 2)

conv2d is PyTorch's cross-correlation (no kernel flip) with zero padding:

    y[n, o, oh, ow] = b[o] + sum_{c,i,j} w[o, c, i, j] x[n, c, oh*sh - ph + i, ow*sw - pw + j]
    Ho = (H + 2 ph - kh) // sh + 1,   Wo = (W + 2 pw - kw) // sw + 1

and its gradients are the same sums read the other way round (kernels/cpu/conv.py).
max_pool2d takes the maximum over each window (floor mode, no padding); its
gradient goes to the window's first maximum. The 1-D ops run the 2-D ones on
(N, C, 1, L) views of the sequences: one kernel per op family.
Like PyTorch, every op also takes one unbatched sample ((C, H, W) or (C, L)).
"""
import numbers

import numpy as np

from ..autograd.function import Function
from ..kernels import backend
from ._check import c, empty, float_tensor


def _unit_height(be, a):
    """(N, C, L) -> the (N, C, 1, L) view the 2-D kernels read (a 4-d array is kept)."""
    return a if a.ndim == 4 else be.reshape(a, (a.shape[0], a.shape[1], 1, a.shape[2]))


def _flat(be, a, flat):
    """The (N, C, 1, L) array a as (N, C, L) if flat (a 1-D op), else a as it is."""
    return be.reshape(a, (a.shape[0], a.shape[1], a.shape[3])) if flat else a


class Conv2d(Function):
    """x (N, C, H, W), w (O, C, kh, kw), b (O,) or None; stride, padding: (h, w) int pairs.

    conv1d comes here too: x (N, C, L), w (O, C, k) run as (N, C, 1, L) and (O, C, 1, k)
    views, and the output and gradients come back 3-d (a view costs nothing here, where a
    Reshape op in the graph would cost a Python call each way)."""

    @staticmethod
    def forward(ctx, x, w, b, stride, padding):
        be = backend(ctx.device)
        ctx.flat = x.ndim == 3
        x, w = _unit_height(be, c(x)), _unit_height(be, c(w))
        (sh, sw), (ph, pw) = stride, padding
        n, _, h, wd = x.shape
        o, _, kh, kw = w.shape
        out = be.empty((n, o, (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1),
                       x.dtype)                                        # (N, O, Ho, Wo)
        be.conv2d_forward(x, w, empty(x.dtype, ctx.device) if b is None else c(b), out,
                          sh, sw, ph, pw)
        ctx.save_for_backward(x, w)
        ctx.stride, ctx.padding = stride, padding
        return _flat(be, out, ctx.flat)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        be = backend(ctx.device)
        gx = be.empty_like(x) if need_x else be.skip(x.dtype, 4)      # (N, C, H, W)
        gw = be.empty_like(w) if need_w else be.skip(w.dtype, 4)      # (O, C, kh, kw)
        gb = be.empty((w.shape[0],), w.dtype) if need_b else empty(w.dtype, ctx.device)  # (O,)
        (sh, sw), (ph, pw) = ctx.stride, ctx.padding
        be.conv2d_backward(x, w, _unit_height(be, c(g)), gx, gw, gb, sh, sw, ph, pw)
        return (_flat(be, gx, ctx.flat) if need_x else None,
                _flat(be, gw, ctx.flat) if need_w else None, gb if need_b else None, None, None)


class MaxPool2d(Function):
    """x (N, C, H, W) or, for max_pool1d, (N, C, L) (as (N, C, 1, L), like Conv2d);
    kernel_size, stride: (h, w) int pairs."""

    @staticmethod
    def forward(ctx, x, kernel_size, stride):
        be = backend(ctx.device)
        ctx.flat = x.ndim == 3
        x = _unit_height(be, c(x))
        (kh, kw), (sh, sw) = kernel_size, stride
        n, ch, h, w = x.shape
        shape = (n, ch, (h - kh) // sh + 1, (w - kw) // sw + 1)       # (N, C, Ho, Wo)
        out = be.empty(shape, x.dtype)
        argmax = be.empty(shape, np.int64)                             # flat h*W + w in a plane
        be.max_pool2d_forward(x, out, argmax, kh, kw, sh, sw)
        ctx.save_for_backward(argmax)
        ctx.x_shape = x.shape
        return _flat(be, out, ctx.flat)

    @staticmethod
    def backward(ctx, g):
        (argmax,) = ctx.saved_tensors
        be = backend(ctx.device)
        gx = be.empty(ctx.x_shape, g.dtype)                            # (N, C, H, W)
        be.max_pool2d_backward(_unit_height(be, c(g)), argmax, gx)
        return _flat(be, gx, ctx.flat), None, None


# ---- argument checks ----------------------------------------------------------------------

def _ints(name, value, n, low):
    """An int or a sequence of n ints, each >= low, as a tuple of n ints (PyTorch's _pair)."""
    vals = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    if len(vals) != n or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                 for v in vals):
        raise TypeError(f"{name} must be an int or a tuple of {n} ints, got {value!r}")
    if any(v < low for v in vals):
        raise ValueError(f"{name} must be >= {low}, got {value!r}")
    return tuple(int(v) for v in vals)


def _batched(op, name, x, dims):
    """Check x is a float tensor (N, C, *spatial) or (C, *spatial); return it batched, and
    whether it was batched."""
    what = "(N, C, H, W) or (C, H, W)" if dims == 2 else "(N, C, L) or (C, L)"
    float_tensor(name, x)
    if x.ndim not in (dims + 1, dims + 2):
        raise ValueError(f"{op}: {name} must have shape {what}, got {x.shape}")
    if x.ndim == dims + 2:
        return x, True
    return x.reshape(1, *x.shape), False


def _out_size(op, size, pad, kernel, stride):
    """Output length (size + 2 pad - kernel) // stride + 1 per axis; error if it is < 1."""
    if any(s + 2 * p < k for s, p, k in zip(size, pad, kernel)):
        padded = tuple(s + 2 * p for s, p in zip(size, pad))
        raise ValueError(f"{op}: input size {size} (padded {padded}) is smaller than the kernel "
                         f"{kernel}; the output would be empty")
    return tuple((s + 2 * p - k) // st + 1 for s, p, k, st in zip(size, pad, kernel, stride))


def _conv(op, dims, input, weight, bias, stride, padding):
    """conv2d (dims=2) and conv1d (dims=1, on (N, C, 1, L) views): checks, then Conv2d."""
    x, batched = _batched(op, "input", input, dims)
    what = "(out_channels, in_channels, kh, kw)" if dims == 2 else "(out_channels, in_channels, k)"
    float_tensor("weight", weight, dtype=input.dtype)
    if weight.ndim != dims + 2:
        raise ValueError(f"{op}: weight must have shape {what}, got {weight.shape}")
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"{op}: weight {weight.shape} expects {weight.shape[1]} input channels, "
                         f"but input {input.shape} has {x.shape[1]}")
    if bias is not None:
        float_tensor("bias", bias, dtype=input.dtype)
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"{op}: bias must have shape ({weight.shape[0]},), got {bias.shape}")
    kernel = weight.shape[2:]
    stride = _ints("stride", stride, dims, 1)
    if padding == "valid":
        padding = 0
    elif padding == "same":
        if stride != (1,) * dims or any(k % 2 == 0 for k in kernel):
            raise ValueError(f"{op}: padding='same' needs stride 1 and odd kernel sizes here, "
                             f"got stride {stride} and kernel {kernel}")
        padding = tuple(k // 2 for k in kernel)
    padding = _ints("padding", padding, dims, 0)
    _out_size(op, x.shape[2:], padding, kernel, stride)
    if dims == 1:                                     # run on (N, C, 1, L) views
        y = Conv2d.apply(x, weight, bias, (1, stride[0]), (0, padding[0]))   # (N, O, Lo)
    else:
        y = Conv2d.apply(x, weight, bias, stride, padding)            # (N, O, Ho, Wo)
    return y if batched else y.reshape(y.shape[1:])


def _pool(op, dims, input, kernel_size, stride, padding):
    """max_pool2d (dims=2) and max_pool1d (dims=1, on (N, C, 1, L) views)."""
    x, batched = _batched(op, "input", input, dims)
    kernel = _ints("kernel_size", kernel_size, dims, 1)
    stride = kernel if stride is None or (isinstance(stride, (tuple, list)) and not stride) \
        else _ints("stride", stride, dims, 1)
    if _ints("padding", padding, dims, 0) != (0,) * dims:
        raise NotImplementedError(f"{op}: only padding=0 is implemented, got {padding!r}")
    _out_size(op, x.shape[2:], (0,) * dims, kernel, stride)
    if dims == 1:                                     # run on (N, C, 1, L) views
        y = MaxPool2d.apply(x, (1, kernel[0]), (1, stride[0]))         # (N, C, Lo)
    else:
        y = MaxPool2d.apply(x, kernel, stride)                         # (N, C, Ho, Wo)
    return y if batched else y.reshape(y.shape[1:])


# ---- user functions -----------------------------------------------------------------------

def conv2d(input, weight, bias=None, stride=1, padding=0):
    """2-D convolution (cross-correlation) with zero padding, as torch.nn.functional.conv2d.

    input (N, C, H, W) or (C, H, W), weight (O, C, kh, kw), bias (O,) or None;
    stride, padding: int or (h, w) pair, or padding "valid" / "same" (odd kernels)
    -> (N, O, Ho, Wo), Ho = (H + 2 ph - kh) // sh + 1, Wo likewise.
    y[n, o, oh, ow] = b[o] + sum_{c,i,j} w[o, c, i, j] x[n, c, oh sh - ph + i, ow sw - pw + j]
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding)


def conv1d(input, weight, bias=None, stride=1, padding=0):
    """1-D convolution (cross-correlation) with zero padding, as torch.nn.functional.conv1d.

    input (N, C, L) or (C, L), weight (O, C, k), bias (O,) or None; stride, padding: int
    -> (N, O, Lo), Lo = (L + 2 p - k) // s + 1.
    y[n, o, t] = b[o] + sum_{c,i} w[o, c, i] x[n, c, t s - p + i]
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding)


def max_pool2d(input, kernel_size, stride=None, padding=0):
    """Maximum over kh x kw windows, as torch.nn.functional.max_pool2d (floor mode).

    input (N, C, H, W) or (C, H, W); kernel_size, stride: int or (h, w) pair, stride
    defaulting to kernel_size; only padding=0 -> (N, C, Ho, Wo), Ho = (H - kh) // sh + 1.
    y[n, c, oh, ow] = max_{i<kh, j<kw} x[n, c, oh sh + i, ow sw + j]; the gradient goes to
    the first maximum of each window (row-major order).
    """
    return _pool("max_pool2d", 2, input, kernel_size, stride, padding)


def max_pool1d(input, kernel_size, stride=None, padding=0):
    """Maximum over windows of k steps, as torch.nn.functional.max_pool1d (floor mode).

    input (N, C, L) or (C, L); kernel_size, stride: int (stride defaults to kernel_size);
    only padding=0 -> (N, C, Lo), Lo = (L - k) // s + 1.  y[n, c, t] = max_{i<k} x[n, c, t s + i]
    """
    return _pool("max_pool1d", 1, input, kernel_size, stride, padding)
