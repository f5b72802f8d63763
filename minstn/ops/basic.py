"""Tensor arithmetic as `Function`s: broadcasting ops, reductions, shape ops.

These are the small glue ops models need between the heavy kernels, each with
its gradient written next to it. They call the array backend of their device
(`minstn.kernels.backend(ctx.device)`): on the CPU single NumPy calls, on CUDA
the broadcasting/reduction/copy kernels of `kernels/cuda/array.py`. Broadcasting
follows NumPy: the backward of a broadcast input sums the gradient over the
broadcast axes (`unbroadcast`).
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd.function import Function
from ..kernels import backend


def unbroadcast(grad, shape, be=None):
    """Sum `grad` down to `shape`, undoing NumPy broadcasting (`be`: the array backend)."""
    if grad.shape == shape:
        return grad
    be = be or backend("cpu")
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and grad.shape[lead + i] != 1)
    return be.reshape(be.reduce_sum(grad, axes, True), shape)


def _tensor(x, like):
    from ..autograd.tensor import Tensor
    if isinstance(x, Tensor):
        return x
    return Tensor(np.asarray(x, dtype=like.dtype), device=like.device)


def _pair(a, b):
    from ..autograd.tensor import Tensor
    like = a if isinstance(a, Tensor) else b
    return _tensor(a, like), _tensor(b, like)


def _swap_last(x):
    """The axis order that swaps the last two axes of x."""
    return tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return backend(ctx.device).add(a, b)

    @staticmethod
    def backward(ctx, g):
        be = backend(ctx.device)
        sa, sb = ctx.shapes
        return unbroadcast(g, sa, be), unbroadcast(g, sb, be)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return backend(ctx.device).sub(a, b)

    @staticmethod
    def backward(ctx, g):
        be = backend(ctx.device)
        sa, sb = ctx.shapes
        return unbroadcast(g, sa, be), unbroadcast(be.neg(g), sb, be)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return backend(ctx.device).mul(a, b)

    @staticmethod
    def backward(ctx, g):                     # d(ab) = b da + a db
        be = backend(ctx.device)
        a, b = ctx.saved_tensors
        return unbroadcast(be.mul(g, b), a.shape, be), unbroadcast(be.mul(g, a), b.shape, be)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return backend(ctx.device).div(a, b)

    @staticmethod
    def backward(ctx, g):                     # d(a/b) = da/b - a db/b^2
        be = backend(ctx.device)
        a, b = ctx.saved_tensors
        gb = be.div(be.mul(be.neg(g), a), be.mul(b, b))
        return unbroadcast(be.div(g, b), a.shape, be), unbroadcast(gb, b.shape, be)


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return backend(ctx.device).neg(a)

    @staticmethod
    def backward(ctx, g):
        return backend(ctx.device).neg(g)


class Pow(Function):
    @staticmethod
    def forward(ctx, a, p):
        ctx.save_for_backward(a)
        ctx.p = p
        return backend(ctx.device).power(a, p)

    @staticmethod
    def backward(ctx, g):                     # d(a^p) = p a^(p-1) da
        be = backend(ctx.device)
        (a,) = ctx.saved_tensors
        return be.mul(be.mul(g, ctx.p), be.power(a, ctx.p - 1)), None


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        y = backend(ctx.device).exp(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return backend(ctx.device).mul(g, y)


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return backend(ctx.device).log(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return backend(ctx.device).div(g, a)


class MatMul(Function):
    """a @ b for 2-D operands (batched: leading axes broadcast as in NumPy)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return backend(ctx.device).matmul(a, b)

    @staticmethod
    def backward(ctx, g):                     # ga = g b^T, gb = a^T g
        be = backend(ctx.device)
        a, b = ctx.saved_tensors
        if a.ndim == 1 or b.ndim == 1:
            a2 = be.reshape(a, (1,) + a.shape) if a.ndim == 1 else a
            b2 = be.reshape(b, b.shape + (1,)) if b.ndim == 1 else b
            g2 = be.reshape(g, a2.shape[:-1] + b2.shape[-1:])
            ga = be.matmul(g2, be.transpose(b2, _swap_last(b2)))
            gb = be.matmul(be.transpose(a2, _swap_last(a2)), g2)
            return be.reshape(ga, a.shape) if a.ndim == 1 else unbroadcast(ga, a.shape, be), \
                be.reshape(gb, b.shape) if b.ndim == 1 else unbroadcast(gb, b.shape, be)
        ga = be.matmul(g, be.transpose(b, _swap_last(b)))
        gb = be.matmul(be.transpose(a, _swap_last(a)), g)
        return unbroadcast(ga, a.shape, be), unbroadcast(gb, b.shape, be)


def _keepdim_shape(shape, axes):
    """`shape` with the reduced `axes` kept as size 1 (all of them when axes is None)."""
    return tuple(1 if axes is None or d in axes else n for d, n in enumerate(shape))


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keep = a.shape, axes, keepdim
        return backend(ctx.device).reduce_sum(a, axes, keepdim)

    @staticmethod
    def backward(ctx, g):
        be = backend(ctx.device)
        if not ctx.keep and ctx.axes is not None:
            g = be.reshape(g, _keepdim_shape(ctx.shape, ctx.axes))
        return be.broadcast_to(g, ctx.shape), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keep = a.shape, axes, keepdim
        ctx.count = a.size if axes is None else math.prod(a.shape[i] for i in axes)
        return backend(ctx.device).reduce_mean(a, axes, keepdim)

    @staticmethod
    def backward(ctx, g):
        be = backend(ctx.device)
        if not ctx.keep and ctx.axes is not None:
            g = be.reshape(g, _keepdim_shape(ctx.shape, ctx.axes))
        return be.broadcast_to(be.div(g, ctx.count), ctx.shape), None, None


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return backend(ctx.device).reshape(a, shape)

    @staticmethod
    def backward(ctx, g):
        return backend(ctx.device).reshape(g, ctx.shape), None


class Permute(Function):
    """a with its axes reordered, as a C-contiguous copy (PyTorch returns a view). The kernels
    read C-contiguous arrays, so one copy here spares a copy in every op that reads the result:
    experiment 4's STN reads its permuted input twice, in the localisation net and the sampler.
    The gradient comes back C-contiguous too."""
    @staticmethod
    def forward(ctx, a, dims):
        if sorted(d % a.ndim for d in dims) != list(range(a.ndim)):
            raise ValueError(f"permute: dims must reorder {a.ndim} axes, got {dims}")
        ctx.dims = dims
        be = backend(ctx.device)
        return be.contiguous(be.transpose(a, dims))

    @staticmethod
    def backward(ctx, g):
        inverse = tuple(int(d) for d in np.argsort([d % g.ndim for d in ctx.dims]))
        be = backend(ctx.device)
        return be.contiguous(be.transpose(g, inverse)), None


class GetItem(Function):
    @staticmethod
    def forward(ctx, a, idx):
        ctx.shape, ctx.idx = a.shape, idx
        return backend(ctx.device).getitem(a, idx)

    @staticmethod
    def backward(ctx, g):                     # repeated indices accumulate
        return backend(ctx.device).getitem_backward(g, ctx.shape, ctx.idx), None


class Cat(Function):
    @staticmethod
    def forward(ctx, dim, *arrays):
        ctx.dim = dim
        ctx.splits = np.cumsum([a.shape[dim] for a in arrays])[:-1]
        return backend(ctx.device).concatenate(arrays, dim)

    @staticmethod
    def backward(ctx, g):
        return (None, *backend(ctx.device).split(g, ctx.splits, ctx.dim))


class Stack(Function):
    @staticmethod
    def forward(ctx, dim, *arrays):
        ctx.dim = dim
        return backend(ctx.device).stack(arrays, dim)

    @staticmethod
    def backward(ctx, g):
        be = backend(ctx.device)
        return (None, *(be.take(g, i, ctx.dim) for i in range(g.shape[ctx.dim])))


# ---- helpers used by Tensor's operator methods -------------------------------
def add(a, b): return Add.apply(*_pair(a, b))
def sub(a, b): return Sub.apply(*_pair(a, b))
def mul(a, b): return Mul.apply(*_pair(a, b))
def div(a, b): return Div.apply(*_pair(a, b))
def matmul(a, b): return MatMul.apply(*_pair(a, b))
def pow(a, p): return Pow.apply(a, float(p))


def getitem(a, idx):
    from ..autograd.tensor import Tensor
    if isinstance(idx, Tensor):
        idx = idx.data
    elif isinstance(idx, tuple):
        idx = tuple(i.data if isinstance(i, Tensor) else i for i in idx)
    return GetItem.apply(a, idx)


def axes(dim, ndim):
    """Normalise a reduction `dim` argument to a tuple of non-negative axes (or None)."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    for d in dims:
        if not -ndim <= d < ndim:
            raise ValueError(f"dim {d} out of range for a {ndim}-d tensor")
    return tuple(sorted(d % ndim for d in dims))


def shape_arg(shape):
    """Accept f(2, 3) and f((2, 3)) alike."""
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) \
        else tuple(shape)


def cat(tensors, dim=0):
    """Concatenate tensors along an existing axis `dim`."""
    tensors = list(tensors)
    return Cat.apply(dim % tensors[0].ndim, *tensors)


def stack(tensors, dim=0):
    """Stack tensors of equal shape along a new axis `dim`."""
    tensors = list(tensors)
    return Stack.apply(dim % (tensors[0].ndim + 1), *tensors)
