"""Array creation and glue arithmetic on the GPU (numba.cuda device arrays).

Same public names as `minstn.kernels.cpu.array`. Every array this module
returns is C-contiguous. Elementwise kernels see their operands as flat 1-D
arrays; broadcasting is done by index arithmetic with per-axis element strides
(0 on a broadcast axis) passed as tuples, so one kernel serves every rank.
Reductions are deterministic (fixed-order sums, no atomics).
"""
import math

import numpy as np
from numba import config, cuda, float64

from .. import is_device_array
from ._gemm import block_tree_sum, gemm

# Threads per block: 1-D elementwise launches, and the per-output reduction blocks
# (a power of two: the shared-memory tree halves it). The simulator runs every
# thread as a Python thread, so it gets small blocks.
TPB = 32 if config.ENABLE_CUDASIM else 256
RTPB = 32 if config.ENABLE_CUDASIM else 128

ADD, SUB, MUL, DIV, POW = 0, 1, 2, 3, 4         # binary op codes
NEG, EXP, LOG, SQRT = 0, 1, 2, 3                # unary op codes


def _blocks(n):
    return (n + TPB - 1) // TPB


def _flat(a):
    """The C-contiguous array `a` as a 1-D view."""
    return a if a.ndim == 1 else a.reshape(a.size)


def _strides(shape):
    """Element strides of a C-contiguous array of `shape`."""
    st, acc = [], 1
    for n in reversed(shape):
        st.append(acc)
        acc *= n
    return tuple(reversed(st))


# ---- kernels -----------------------------------------------------------------
@cuda.jit(device=True)
def _offset(i, shape, strides):
    """Offset of the i-th element (C order over `shape`) of a view with `strides`."""
    off = 0
    for d in range(len(shape) - 1, -1, -1):
        off += (i % shape[d]) * strides[d]
        i //= shape[d]
    return off


@cuda.jit(device=True)
def _binary(op, x, y):
    if op == ADD:
        return x + y
    if op == SUB:
        return x - y
    if op == MUL:
        return x * y
    if op == DIV:
        return x / y
    return x ** y


@cuda.jit
def _binary_kernel(op, a, b, out, shape, sa, sb):
    """out[i] = a[..] op b[..] with broadcasting: sa/sb are a's/b's element strides
    over the output `shape` (0 on broadcast axes)  (a, b, out: flat)."""
    i = cuda.grid(1)
    if i < out.size:
        out[i] = _binary(op, a[_offset(i, shape, sa)], b[_offset(i, shape, sb)])


@cuda.jit
def _scalar_kernel(op, a, s, out, swap):
    """out[i] = a[i] op s (or s op a[i] when swap)  (a, out: flat)."""
    i = cuda.grid(1)
    if i < out.size:
        if swap:
            out[i] = _binary(op, s, a[i])
        else:
            out[i] = _binary(op, a[i], s)


@cuda.jit
def _unary_kernel(op, a, out):
    """out[i] = f(a[i]) for f in (-x, exp, log, sqrt)  (a, out: flat)."""
    i = cuda.grid(1)
    if i < out.size:
        x = a[i]
        if op == NEG:
            out[i] = -x
        elif op == EXP:
            out[i] = math.exp(x)
        elif op == LOG:
            out[i] = math.log(x)
        else:
            out[i] = math.sqrt(x)


@cuda.jit
def _sum_kernel(a, out, kshape, kstrides, rshape, rstrides, count, divisor):
    """out[o] = sum over the reduced axes of a / divisor; one block per output.

    kshape/kstrides: kept axes of a (in output order), rshape/rstrides: reduced
    axes, `count` = prod(rshape). Deterministic: thread t adds elements t, t+RTPB,
    ... in order (in float64), then a fixed-shape tree in shared memory.
    """
    buf = cuda.shared.array(RTPB, float64)
    o = cuda.blockIdx.x
    t = cuda.threadIdx.x
    base = _offset(o, kshape, kstrides)
    s = 0.0
    for j in range(t, count, RTPB):
        s += a[base + _offset(j, rshape, rstrides)]
    buf[t] = s
    block_tree_sum(buf, t, RTPB)
    if t == 0:
        out[o] = buf[0] / divisor


@cuda.jit
def _matmul_kernel(a, b, out, m, n, k, bshape, sa, sb, a_rs, a_cs, b_rs, b_cs):
    """Batched: out[z, i, j] = sum_l a[z, i, l] b[z, l, j]; one thread per output, l in order.

    Batch index z runs over `bshape` with batch strides sa/sb (0 where broadcast);
    row/column strides of a and b (a_rs, a_cs, b_rs, b_cs) allow transposed views.
    """
    t = cuda.grid(1)
    if t < out.size:
        j = t % n
        i = (t // n) % m
        z = t // (n * m)
        ia = _offset(z, bshape, sa) + i * a_rs
        ib = _offset(z, bshape, sb) + j * b_cs
        s = 0.0
        for p in range(k):
            s += a[ia + p * a_cs] * b[ib + p * b_rs]
        out[t] = s


@cuda.jit
def _gather_kernel(a, out, shape, strides, start):
    """out[i] = a[start + offset of i over (shape, strides)]  (a, out: flat).

    A strided view copied out: transposes, broadcasts (stride 0), slices.
    """
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a[start + _offset(i, shape, strides)]


@cuda.jit
def _scatter_kernel(g, out, shape, strides, start):
    """out[start + offset of i over (shape, strides)] = g[i]  (g, out: flat).

    The inverse of `_gather_kernel` for views whose elements are distinct.
    """
    i = cuda.grid(1)
    if i < g.size:
        out[start + _offset(i, shape, strides)] = g[i]


@cuda.jit
def _fill_kernel(out, value):
    """out[i] = value  (out: flat)."""
    i = cuda.grid(1)
    if i < out.size:
        out[i] = value


@cuda.jit
def _copy_kernel(a, out):
    """out[i] = a[i], converting to out's dtype  (a, out: flat, same size)."""
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a[i]


# ---- creation and movement ---------------------------------------------------
def empty(shape, dtype):
    """An uninitialised C-contiguous device array."""
    return cuda.device_array(shape, np.dtype(dtype))


def full(shape, value, dtype):
    """A device array of `shape` filled with `value`."""
    out = empty(shape, dtype)
    if out.size:
        _fill_kernel[_blocks(out.size), TPB](_flat(out), value)
    return out


def zeros(shape, dtype):
    return full(shape, 0, dtype)


def empty_like(a):
    return empty(a.shape, a.dtype)


def zeros_like(a):
    return full(a.shape, 0, a.dtype)


def ones_like(a):
    return full(a.shape, 1, a.dtype)


def contiguous(a):
    """`a` if it is C-contiguous, else a C-contiguous copy (strided views from slicing)."""
    if a.is_c_contiguous():
        return a
    out = empty(a.shape, a.dtype)
    out[:] = a        # numba's strided assignment kernel (numba-cuda rejects `out[...]`)
    return out


def astype(a, dtype):
    """`a` converted to `dtype` (`a` itself if it already has it)."""
    dtype = np.dtype(dtype)
    if a.dtype == dtype:
        return a
    a = contiguous(a)
    out = empty(a.shape, dtype)
    if out.size:
        _copy_kernel[_blocks(out.size), TPB](_flat(a), _flat(out))
    return out


def copy(a):
    """A fresh C-contiguous copy of `a` (never aliases)."""
    if not a.is_c_contiguous():
        return contiguous(a)
    out = empty(a.shape, a.dtype)
    if out.size:
        _copy_kernel[_blocks(out.size), TPB](_flat(a), _flat(out))
    return out


def from_host(x):
    """A host array (or anything np.asarray takes) copied to the device."""
    return cuda.to_device(np.asarray(x, order="C"))


def to_host(a):
    """The device array copied back into a new np.ndarray."""
    return a.copy_to_host()


def skip(dtype, ndim=1):
    """A size-0 device array: tells a kernel to skip an optional input or gradient."""
    return empty((0,) * ndim, dtype)


# ---- launch helpers ----------------------------------------------------------------
def _dims(shape, *strides):
    """Shape and strides as kernel tuples; a 0-d shape becomes (1,) (tuples must not be empty)."""
    if len(shape) == 0:
        return ((1,),) + tuple((0,) for _ in strides)
    return (tuple(int(n) for n in shape),) + tuple(tuple(int(s) for s in st) for st in strides)


def _bstrides(shape, out_shape):
    """Element strides of a C-contiguous `shape` broadcast to `out_shape` (0 where broadcast)."""
    st = _strides(shape)
    lead = len(out_shape) - len(shape)
    return (0,) * lead + tuple(0 if n == 1 and m != 1 else s
                               for n, s, m in zip(shape, st, out_shape[lead:]))


def _gather(a, shape, strides, start=0):
    """A new C-contiguous array of `shape` read from the flat `a` at the given strides."""
    out = empty(shape, a.dtype)
    if out.size:
        sh, st = _dims(shape, strides)
        _gather_kernel[_blocks(out.size), TPB](_flat(contiguous(a)), _flat(out), sh, st, start)
    return out


def _scatter(g, out, strides, start=0):
    """Write the C-contiguous g into the flat view of `out` at the given strides."""
    if g.size:
        sh, st = _dims(g.shape, strides)
        _scatter_kernel[_blocks(g.size), TPB](_flat(contiguous(g)), _flat(out), sh, st, start)
    return out


def _elementwise(op, a, b):
    if not is_device_array(b):                       # array op scalar
        s = a.dtype.type(b) if a.dtype.kind == "f" else b
        dtype = np.result_type(a.dtype, b)
        out = empty(a.shape, dtype)
        if out.size:
            _scalar_kernel[_blocks(out.size), TPB](op, _flat(contiguous(a)), s, _flat(out), False)
        return out
    if not is_device_array(a):                       # scalar op array
        s = b.dtype.type(a) if b.dtype.kind == "f" else a
        dtype = np.result_type(a, b.dtype)
        out = empty(b.shape, dtype)
        if out.size:
            _scalar_kernel[_blocks(out.size), TPB](op, _flat(contiguous(b)), s, _flat(out), True)
        return out
    shape = np.broadcast_shapes(a.shape, b.shape)
    out = empty(shape, np.result_type(a.dtype, b.dtype))
    if out.size:
        sh, sa, sb = _dims(shape, _bstrides(a.shape, shape), _bstrides(b.shape, shape))
        _binary_kernel[_blocks(out.size), TPB](op, _flat(contiguous(a)), _flat(contiguous(b)),
                                               _flat(out), sh, sa, sb)
    return out


def _unary(op, a):
    out = empty(a.shape, a.dtype)
    if out.size:
        _unary_kernel[_blocks(out.size), TPB](op, _flat(contiguous(a)), _flat(out))
    return out


# ---- elementwise maths (NumPy broadcasting; scalars allowed) -----------------
def add(a, b): return _elementwise(ADD, a, b)
def sub(a, b): return _elementwise(SUB, a, b)
def mul(a, b): return _elementwise(MUL, a, b)
def div(a, b): return _elementwise(DIV, a, b)
def power(a, p): return _elementwise(POW, a, p)
def neg(a): return _unary(NEG, a)
def exp(a): return _unary(EXP, a)
def log(a): return _unary(LOG, a)
def sqrt(a): return _unary(SQRT, a)


def iadd(a, b):
    """a += b in place (a C-contiguous, b broadcastable to a); returns a."""
    if a.size:
        if is_device_array(b):
            sh, sa, sb = _dims(a.shape, _strides(a.shape), _bstrides(b.shape, a.shape))
            _binary_kernel[_blocks(a.size), TPB](ADD, _flat(a), _flat(contiguous(b)), _flat(a),
                                                 sh, sa, sb)
        else:
            _scalar_kernel[_blocks(a.size), TPB](ADD, _flat(a), a.dtype.type(b), _flat(a), False)
    return a


# ---- reductions, matmul -------------------------------------------------------
def _reduce(a, axes, keepdim, mean):
    axes = tuple(range(a.ndim)) if axes is None else tuple(sorted(d % a.ndim for d in axes))
    kept = [d for d in range(a.ndim) if d not in axes]
    st = _strides(a.shape)
    count = 1
    for d in axes:
        count *= a.shape[d]
    kshape = tuple(a.shape[d] for d in kept)
    dtype = a.dtype if a.dtype.kind == "f" else np.dtype(np.float64 if mean else np.int64)
    out = empty(kshape, dtype)
    if out.size:
        ksh, kst = _dims(kshape, [st[d] for d in kept])
        rsh, rst = _dims(tuple(a.shape[d] for d in axes), [st[d] for d in axes])
        divisor = float(count) if mean else 1.0
        _sum_kernel[out.size, RTPB](_flat(contiguous(a)), _flat(out), ksh, kst, rsh, rst,
                                    count, divisor)
    if keepdim:
        out = out.reshape(tuple(1 if d in axes else n for d, n in enumerate(a.shape)))
    return out


def reduce_sum(a, axes=None, keepdim=False):
    """Sum over `axes` (a tuple, or None for all); deterministic (no atomics)."""
    return _reduce(a, axes, keepdim, mean=False)


def reduce_mean(a, axes=None, keepdim=False):
    """Mean over `axes` (a tuple, or None for all)."""
    return _reduce(a, axes, keepdim, mean=True)


def matmul(a, b):
    """a @ b with NumPy semantics (1-d operands; leading batch axes broadcast).

    A product without batch axes, a (M, K) @ b (K, N) once 1-d operands are made
    (1, K) / (K, 1), is the tiled `gemm`; batched ones run `_matmul_kernel`.
    """
    a, b = contiguous(a), contiguous(b)
    a2 = a.reshape(1, a.shape[0]) if a.ndim == 1 else a
    b2 = b.reshape(b.shape[0], 1) if b.ndim == 1 else b
    (m, k), (k2, n) = a2.shape[-2:], b2.shape[-2:]
    if k != k2:
        raise ValueError(f"matmul: inner sizes differ: {a.shape} @ {b.shape}")
    bshape = tuple(np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]))
    out = empty(bshape + (m, n), np.result_type(a.dtype, b.dtype))
    if not bshape:
        gemm(a2, b2, out)
    elif out.size:
        sa = _bstrides(a2.shape[:-2], bshape)
        sb = _bstrides(b2.shape[:-2], bshape)
        sa = tuple(s * m * k for s in sa)   # batch strides in elements of the (.., m, k) array
        sb = tuple(s * k * n for s in sb)
        bsh, sa, sb = _dims(bshape, sa, sb)
        _matmul_kernel[_blocks(out.size), TPB](_flat(a2), _flat(b2), _flat(out), m, n, k,
                                               bsh, sa, sb, k, 1, n, 1)
    if a.ndim == 1 and b.ndim == 1:
        return out.reshape(())
    if a.ndim == 1:
        return out.reshape(bshape + (n,))
    if b.ndim == 1:
        return out.reshape(bshape + (m,))
    return out


# ---- shape ops -----------------------------------------------------------------
def reshape(a, shape):
    """A view of the C-contiguous `a` (copied first if it is not) with a new shape."""
    shape = [int(shape)] if isinstance(shape, (int, np.integer)) else [int(n) for n in shape]
    if -1 in shape:
        known = 1
        for n in shape:
            known *= n if n != -1 else 1
        shape[shape.index(-1)] = a.size // known if known else 0
    if int(np.prod(shape)) != a.size:
        raise ValueError(f"cannot reshape an array of shape {a.shape} into {tuple(shape)}")
    return contiguous(a).reshape(tuple(shape))


def transpose(a, dims=None):
    """a with its axes permuted (a C-contiguous copy)."""
    dims = tuple(reversed(range(a.ndim))) if dims is None else tuple(d % a.ndim for d in dims)
    st = _strides(a.shape)
    return _gather(a, tuple(a.shape[d] for d in dims), tuple(st[d] for d in dims))


def broadcast_to(a, shape):
    """A fresh array of `shape` holding `a` broadcast (NumPy rules)."""
    shape = tuple(shape)
    np.broadcast_shapes(a.shape, shape)
    return _gather(a, shape, _bstrides(a.shape, shape))


def _basic_index(shape, idx):
    """(start, out shape, out strides) of a[idx] for basic indexing (ints, slices,
    None, Ellipsis) of a C-contiguous array of `shape`."""
    idx = idx if isinstance(idx, tuple) else (idx,)
    for i in idx:
        if not (i is None or i is Ellipsis or isinstance(i, (slice, int, np.integer))) \
                or isinstance(i, bool):
            raise NotImplementedError(
                f"indexing a cuda tensor supports ints, slices, None and ..., got {i!r}")
    n_real = sum(1 for i in idx if i is not None and i is not Ellipsis)
    if n_real > len(shape):
        raise IndexError(f"too many indices for an array of shape {shape}")
    if Ellipsis in idx:
        e = idx.index(Ellipsis)
        idx = idx[:e] + (slice(None),) * (len(shape) - n_real) + idx[e + 1:]
    else:
        idx = idx + (slice(None),) * (len(shape) - n_real)
    st = _strides(shape)
    start, oshape, ostrides, d = 0, [], [], 0
    for i in idx:
        if i is None:
            oshape.append(1)
            ostrides.append(0)
            continue
        n = shape[d]
        if isinstance(i, slice):
            lo, hi, step = i.indices(n)
            oshape.append(len(range(lo, hi, step)))
            ostrides.append(st[d] * step)
            start += lo * st[d]
        else:
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for axis {d} with size {n}")
            start += (int(i) % n) * st[d]
        d += 1
    return start, tuple(oshape), tuple(ostrides)


def getitem(a, idx):
    """a[idx] as a new array (basic indexing only: ints, slices, None, ...)."""
    start, shape, strides = _basic_index(a.shape, idx)
    return _gather(a, shape, strides, start)


def getitem_backward(g, shape, idx):
    """The gradient of a[idx] w.r.t. a of `shape`: zeros with g written at idx
    (basic indexing selects each element at most once, so writing = adding)."""
    start, _, strides = _basic_index(shape, idx)
    return _scatter(g, zeros(shape, g.dtype), strides, start)


def _along(shape, axis, lo):
    """(start, strides) of the block starting at `lo` along `axis` of a C-contiguous `shape`."""
    st = _strides(shape)
    return lo * st[axis], st


def concatenate(arrays, axis):
    arrays = list(arrays)
    axis %= arrays[0].ndim
    shape = list(arrays[0].shape)
    shape[axis] = sum(a.shape[axis] for a in arrays)
    out = empty(tuple(shape), np.result_type(*[a.dtype for a in arrays]))
    lo = 0
    for a in arrays:
        start, st = _along(out.shape, axis, lo)
        _scatter(a, out, st, start)
        lo += a.shape[axis]
    return out


def split(a, indices, axis):
    """Pieces of `a` cut before each of `indices` along `axis` (np.split)."""
    axis %= a.ndim
    bounds = [0] + [int(i) for i in indices] + [a.shape[axis]]
    pieces = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        shape = tuple(hi - lo if d == axis else n for d, n in enumerate(a.shape))
        start, st = _along(a.shape, axis, lo)
        pieces.append(_gather(a, shape, st, start))
    return pieces


def stack(arrays, axis):
    arrays = [a.reshape(a.shape[:axis] + (1,) + a.shape[axis:]) for a in map(contiguous, arrays)]
    return concatenate(arrays, axis)


def take(a, i, axis):
    """a[..., i, ...] with the integer `i` on `axis` (that axis dropped)."""
    axis %= a.ndim
    return getitem(a, (slice(None),) * axis + (int(i),))
