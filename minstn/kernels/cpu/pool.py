"""2-D max pooling without padding (PyTorch semantics); max_pool1d uses it on (N, C, 1, L).

    out[n, c, oh, ow] = max_{i < kh, j < kw} x[n, c, oh*sh + i, ow*sw + j]

The forward remembers, per output, the flat index h*W + w of the winning input:
the first maximum in row-major window order, as in PyTorch (and, as there, a NaN
wins, the last one if several, so NaNs propagate). The backward routes each
output gradient to its winner, grad_x[n, c].flat[argmax] += grad_out; overlapping
windows (stride < kernel) may share a winner, so those gradients add up.
Both run in parallel over the N*C planes (a plane belongs to one thread) when Numba
has more than one thread, and in a plain loop when it has one.

The 2×2, stride-2 window (every pooling layer of the demos) has its own loop,
`_pool2x2_plane`: the same four comparisons written out, in the same order, so the
compiler can keep them in registers and vectorise along the row. Indices are
unsigned (`_u`, as in conv.py): no wrap-around test on each access.

A plane without NaN (the usual case: one pass counts them) takes `_pick_finite`, which
leaves out the NaN test; the result is the same there. With the test in the loop, LLVM
turned the comparisons into branches, which inputs without order mispredict about half the
time: on the AMD VM, one thread, the exp1 localisation net's first pool (64×8 planes of
36×36, random inputs) took 2.5 ms forward with it, 0.3 without (probe script).
"""
import numba
from numba import uint64 as _u

from ._threads import parallel

_inline = numba.njit(cache=True, inline="always")


@_inline
def _pick(best, idx, v, i):
    """The running maximum after seeing v at i: v wins if larger, or if it is NaN."""
    if v > best or v != v:
        return v, i
    return best, idx


@_inline
def _pick_finite(best, idx, v, i):
    """_pick for a plane without NaN: v wins if larger."""
    take = v > best
    return (v if take else best), (i if take else idx)


@_inline
def _has_nan(xf, start, size):
    """Whether xf[start : start + size] holds a NaN."""
    count = 0
    for k in range(_u(size)):
        count += xf[_u(start) + k] != xf[_u(start) + k]
    return count > 0


@_inline
def _pool2x2_plane(xf, of, af, pl, h, w, ho, wo, pick):
    """Plane pl of the 2×2 / stride-2 pooling: flat x, out, argmax; pick: _pick or
    _pick_finite."""
    xb, ob = _u(pl * h * w), _u(pl * ho * wo)
    for oh in range(ho):
        r0 = _u(2 * oh * w)                          # the window's top row, in the plane
        r1 = r0 + _u(w)
        o = ob + _u(oh * wo)
        for ow in range(_u(wo)):
            j = _u(2) * ow
            best, idx = xf[xb + r0 + j], r0 + j
            best, idx = pick(best, idx, xf[xb + r0 + j + _u(1)], r0 + j + _u(1))
            best, idx = pick(best, idx, xf[xb + r1 + j], r1 + j)
            best, idx = pick(best, idx, xf[xb + r1 + j + _u(1)], r1 + j + _u(1))
            of[o + ow] = best
            af[o + ow] = idx


@_inline
def _forward_plane(xf, of, af, pl, h, w, ho, wo, kh, kw, sh, sw):
    """Plane pl of max_pool2d_forward: flat x, out, argmax."""
    if _has_nan(xf, pl * h * w, h * w):
        _plane_picking(xf, of, af, pl, h, w, ho, wo, kh, kw, sh, sw, _pick)
    else:
        _plane_picking(xf, of, af, pl, h, w, ho, wo, kh, kw, sh, sw, _pick_finite)


@_inline
def _plane_picking(xf, of, af, pl, h, w, ho, wo, kh, kw, sh, sw, pick):
    """_forward_plane with the given pick."""
    if kh == 2 and kw == 2 and sh == 2 and sw == 2:
        _pool2x2_plane(xf, of, af, pl, h, w, ho, wo, pick)
        return
    xb, ob = _u(pl * h * w), _u(pl * ho * wo)
    for oh in range(ho):
        for ow in range(wo):
            idx = _u(oh * sh * w + ow * sw)              # the window's top left, in the plane
            best = xf[xb + idx]
            for i in range(kh):
                r = _u((oh * sh + i) * w + ow * sw)
                for j in range(_u(kw)):
                    best, idx = pick(best, idx, xf[xb + r + j], r + j)
            of[ob + _u(oh * wo + ow)] = best
            af[ob + _u(oh * wo + ow)] = idx


@_inline
def _backward_plane(gf, af, xf, pl, h, w, ho, wo):
    """Plane pl of max_pool2d_backward: flat grad_out, argmax, grad_x."""
    xb, ob = _u(pl * h * w), _u(pl * ho * wo)
    for i in range(_u(h * w)):
        xf[xb + i] = 0
    for q in range(_u(ho * wo)):
        xf[xb + _u(af[ob + q])] += gf[ob + q]


# Each kernel twice: a prange over planes for several threads, and a plain loop for one
# (`_threads.parallel` says which, and why).
@numba.njit(cache=True, parallel=True)
def _forward_parallel(x, out, argmax, kh, kw, sh, sw):
    n, c, h, w = x.shape
    xf, of, af = x.reshape(-1), out.reshape(-1), argmax.reshape(-1)
    for pl in numba.prange(n * c):
        _forward_plane(xf, of, af, pl, h, w, out.shape[2], out.shape[3], kh, kw, sh, sw)


@numba.njit(cache=True)
def _forward_serial(x, out, argmax, kh, kw, sh, sw):
    n, c, h, w = x.shape
    xf, of, af = x.reshape(-1), out.reshape(-1), argmax.reshape(-1)
    for pl in range(n * c):
        _forward_plane(xf, of, af, pl, h, w, out.shape[2], out.shape[3], kh, kw, sh, sw)


@numba.njit(cache=True, parallel=True)
def _backward_parallel(grad_out, argmax, grad_x):
    n, c, h, w = grad_x.shape
    gf, af, xf = grad_out.reshape(-1), argmax.reshape(-1), grad_x.reshape(-1)
    for pl in numba.prange(n * c):
        _backward_plane(gf, af, xf, pl, h, w, grad_out.shape[2], grad_out.shape[3])


@numba.njit(cache=True)
def _backward_serial(grad_out, argmax, grad_x):
    n, c, h, w = grad_x.shape
    gf, af, xf = grad_out.reshape(-1), argmax.reshape(-1), grad_x.reshape(-1)
    for pl in range(n * c):
        _backward_plane(gf, af, xf, pl, h, w, grad_out.shape[2], grad_out.shape[3])


def max_pool2d_forward(x, out, argmax, kh, kw, sh, sw):
    """out, argmax (N, C, Ho, Wo) <- window maxima of x (N, C, H, W) and their flat h*W + w.

    Ho = (H - kh) // sh + 1, Wo = (W - kw) // sw + 1 (floor mode, no padding).
    """
    run = _forward_parallel if parallel() else _forward_serial
    run(x, out, argmax, kh, kw, sh, sw)


def max_pool2d_backward(grad_out, argmax, grad_x):
    """grad_x (N, C, H, W) <- zeros, then grad_out (N, C, Ho, Wo) added at the argmax positions."""
    run = _backward_parallel if parallel() else _backward_serial
    run(grad_out, argmax, grad_x)
