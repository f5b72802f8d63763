"""Array creation and glue arithmetic on the CPU: thin NumPy aliases.

`minstn.kernels.cuda.array` has the same names for device arrays, so an op
written as `be = backend(ctx.device); out = be.empty(shape, dtype)` runs on
either device. On the CPU every name is a NumPy call (no extra cost).
"""
import operator

import numpy as np

# ---- creation and movement ---------------------------------------------------
empty = np.empty                      # empty(shape, dtype)
zeros = np.zeros                      # zeros(shape, dtype)
empty_like = np.empty_like            # empty_like(a)
zeros_like = np.zeros_like            # zeros_like(a)
ones_like = np.ones_like              # ones_like(a)
contiguous = np.ascontiguousarray     # C-contiguous view or copy


def from_host(x):
    """A host array -> the C-contiguous array on this device (0-d stays 0-d)."""
    return np.asarray(x, order="C")


to_host = np.asarray                  # array on this device -> host np.ndarray


def full(shape, value, dtype):
    """An array of `shape` filled with `value`."""
    return np.full(shape, value, dtype)


def copy(a):
    """A fresh copy of `a` (never aliases)."""
    return np.array(a, copy=True)


def astype(a, dtype):
    """`a` converted to `dtype` (`a` itself if it already has it)."""
    return a.astype(dtype, copy=False)


def skip(dtype, ndim=1):
    """A size-0 array: tells a kernel to skip an optional input or gradient."""
    return np.zeros((0,) * ndim, dtype)


# ---- elementwise maths (NumPy broadcasting; scalars allowed) -----------------
add = np.add
sub = np.subtract
mul = np.multiply
div = np.true_divide
power = operator.pow                   # power(a, p) = a ** p (NumPy fast paths for p = 2, 0.5)
neg = np.negative
exp = np.exp
log = np.log
sqrt = np.sqrt


def iadd(a, b):
    """a += b in place (gradient accumulation); returns a."""
    a += b
    return a


# ---- reductions, matmul -------------------------------------------------------
def reduce_sum(a, axes=None, keepdim=False):
    """Sum over `axes` (a tuple, or None for all) as an array (0-d for a full sum)."""
    return np.asarray(a.sum(axis=axes, keepdims=keepdim))


def reduce_mean(a, axes=None, keepdim=False):
    """Mean over `axes` (a tuple, or None for all) as an array."""
    return np.asarray(a.mean(axis=axes, keepdims=keepdim))


matmul = np.matmul                    # NumPy semantics: 1-d operands, batched broadcast


# ---- shape ops -----------------------------------------------------------------
def reshape(a, shape):
    return a.reshape(shape)


transpose = np.transpose              # transpose(a, dims): a view on the CPU


def broadcast_to(a, shape):
    """A fresh array of `shape` holding `a` broadcast (NumPy rules)."""
    return np.broadcast_to(a, shape).copy()


def getitem(a, idx):
    """a[idx] as an array (basic or advanced NumPy indexing)."""
    return np.asarray(a[idx])


def getitem_backward(g, shape, idx):
    """The gradient of a[idx] w.r.t. a of `shape`: zeros with g added at idx."""
    out = np.zeros(shape, g.dtype)
    np.add.at(out, idx, g)            # repeated indices accumulate
    return out


def concatenate(arrays, axis):
    return np.concatenate(arrays, axis=axis)


def split(a, indices, axis):
    """Pieces of `a` cut before each of `indices` along `axis` (np.split)."""
    return np.split(a, indices, axis=axis)


def stack(arrays, axis):
    return np.stack(arrays, axis=axis)


def take(a, i, axis):
    """a[..., i, ...] with the integer `i` on `axis` (that axis dropped)."""
    return np.take(a, i, axis=axis)
