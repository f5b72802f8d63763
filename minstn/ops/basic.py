"""Tensor arithmetic as `Function`s: broadcasting ops, reductions, shape ops.

These are the small glue ops models need between the heavy kernels; on CPU they
are single NumPy calls, each with its gradient written next to it. Broadcasting
follows NumPy: the backward of a broadcast input sums the gradient over the
broadcast axes (`unbroadcast`).
"""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function


def unbroadcast(grad, shape):
    """Sum `grad` down to `shape`, undoing NumPy broadcasting."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and grad.shape[lead + i] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def _tensor(x, like):
    from ..autograd.tensor import Tensor
    if isinstance(x, Tensor):
        return x
    return Tensor(np.asarray(x, dtype=like.dtype), device=like.device)


def _pair(a, b):
    from ..autograd.tensor import Tensor
    like = a if isinstance(a, Tensor) else b
    return _tensor(a, like), _tensor(b, like)


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a + b

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        return unbroadcast(g, sa), unbroadcast(g, sb)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a - b

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        return unbroadcast(g, sa), unbroadcast(-g, sb)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):                     # d(ab) = b da + a db
        a, b = ctx.saved_tensors
        return unbroadcast(g * b, a.shape), unbroadcast(g * a, b.shape)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, g):                     # d(a/b) = da/b - a db/b^2
        a, b = ctx.saved_tensors
        return unbroadcast(g / b, a.shape), unbroadcast(-g * a / (b * b), b.shape)


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


class Pow(Function):
    @staticmethod
    def forward(ctx, a, p):
        ctx.save_for_backward(a)
        ctx.p = p
        return a ** p

    @staticmethod
    def backward(ctx, g):                     # d(a^p) = p a^(p-1) da
        (a,) = ctx.saved_tensors
        return g * ctx.p * a ** (ctx.p - 1), None


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        y = np.exp(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / a


class MatMul(Function):
    """a @ b for 2-D operands (batched: leading axes broadcast as in NumPy)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        if a.ndim == 1 or b.ndim == 1:
            a2 = a[None] if a.ndim == 1 else a
            b2 = b[:, None] if b.ndim == 1 else b
            g2 = g.reshape(a2.shape[:-1] + b2.shape[-1:])
            ga, gb = g2 @ np.swapaxes(b2, -1, -2), np.swapaxes(a2, -1, -2) @ g2
            return ga.reshape(a.shape) if a.ndim == 1 else unbroadcast(ga, a.shape), \
                gb.reshape(b.shape) if b.ndim == 1 else unbroadcast(gb, b.shape)
        ga = g @ np.swapaxes(b, -1, -2)
        gb = np.swapaxes(a, -1, -2) @ g
        return unbroadcast(ga, a.shape), unbroadcast(gb, b.shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keep = a.shape, axes, keepdim
        return np.asarray(a.sum(axis=axes, keepdims=keepdim))

    @staticmethod
    def backward(ctx, g):
        if not ctx.keep and ctx.axes is not None:
            g = np.expand_dims(g, ctx.axes)
        return np.broadcast_to(g, ctx.shape).copy(), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keep = a.shape, axes, keepdim
        ctx.count = a.size if axes is None else int(np.prod([a.shape[i] for i in axes]))
        return np.asarray(a.mean(axis=axes, keepdims=keepdim))

    @staticmethod
    def backward(ctx, g):
        if not ctx.keep and ctx.axes is not None:
            g = np.expand_dims(g, ctx.axes)
        return np.broadcast_to(g / ctx.count, ctx.shape).copy(), None, None


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


class Permute(Function):
    @staticmethod
    def forward(ctx, a, dims):
        if sorted(d % a.ndim for d in dims) != list(range(a.ndim)):
            raise ValueError(f"permute: dims must reorder {a.ndim} axes, got {dims}")
        ctx.dims = dims
        return np.transpose(a, dims)

    @staticmethod
    def backward(ctx, g):
        return np.transpose(g, np.argsort([d % g.ndim for d in ctx.dims])), None


class GetItem(Function):
    @staticmethod
    def forward(ctx, a, idx):
        ctx.shape, ctx.dtype, ctx.idx = a.shape, a.dtype, idx
        return np.asarray(a[idx])

    @staticmethod
    def backward(ctx, g):
        out = np.zeros(ctx.shape, ctx.dtype)
        np.add.at(out, ctx.idx, g)            # repeated indices accumulate
        return out, None


class Cat(Function):
    @staticmethod
    def forward(ctx, dim, *arrays):
        ctx.dim = dim
        ctx.splits = np.cumsum([a.shape[dim] for a in arrays])[:-1]
        return np.concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx, g):
        return (None, *np.split(g, ctx.splits, axis=ctx.dim))


class Stack(Function):
    @staticmethod
    def forward(ctx, dim, *arrays):
        ctx.dim = dim
        return np.stack(arrays, axis=dim)

    @staticmethod
    def backward(ctx, g):
        return (None, *(np.take(g, i, axis=ctx.dim) for i in range(g.shape[ctx.dim])))


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
