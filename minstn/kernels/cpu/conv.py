"""2-D convolution (cross-correlation, as in PyTorch) by im2col + BLAS matmuls.

With K = C*kh*kw and P = Ho*Wo, every output pixel is the dot product of the
flattened weights w2 (O, K) with one flattened input patch, a column of

    cols[(c, i, j), (n, oh, ow)] = x[n, c, oh*sh - ph + i, ow*sw - pw + j]   (0 outside x)

so a chunk of samples costs one matmul, and the backward two more plus col2im,
the adjoint of im2col (it adds each patch gradient back onto the image):

    out[n, o, p] = b[o] + (w2 @ cols)[o, (n, p)]
    grad_w = g @ cols^T     grad_cols = w2^T @ g     grad_b[o] = sum_{n,p} g[o, (n, p)]
                            (computed as its transpose cols @ g^T, which OpenBLAS ran
                            10-35% faster at the demos' shapes, one thread)
    grad_x = col2im(grad_cols)              with g[o, (n, p)] = grad_out[n, o, p]

Threads: with one Numba thread the chunks run one after another, and the BLAS may
use threads of its own inside each product. With several, the chunks are dealt out
to lanes, one per Numba thread, each doing a whole chunk (im2col, its product on one
BLAS thread, the copies): the copies then run in parallel too, which the BLAS's
threads alone never did (docs/performance.md). Lane t takes chunks t, t + lanes, ...
grad_w is the sum of the chunks' products added in chunk order, in both drivers, and
a chunk's product is the same call in both: the same bits on any number of threads
(as long as the BLAS runs on one; `_threads.py`). conv1d runs these kernels on
(N, C, 1, L) views. Two faster paths branch off for the layers where they pay: 3×3 and
5×5 layers at stride 1 with 16 or more input channels take `winograd.py` (the same sums with
2.25× and 2.8× fewer multiply-adds), and a conv1d at stride 1 with 16 or more input channels
takes `conv1d.py` (k shifted products over a channels-last copy, no im2col), or, with three
taps and enough channels in and out, `winograd1d.py` (a third fewer multiply-adds).

Indices in the copy loops are unsigned (`_u`): Numba adds a negative-index
wrap-around test to every signed array access, and that test alone stops LLVM
from vectorising these short loops (5-10x slower). Every `_u` value is >= 0.
"""
import numpy as np
from numba import njit, prange, uint64 as _u

from . import conv1d, winograd, winograd1d
from ._gemm import gemm
from ._threads import drive, parallel, wave

# A batch runs in chunks of samples whose im2col buffer (K, nc*P) has at most
# CHUNK_ELEMENTS entries (2**19 float32 = 2 MiB, the L2 of two cores) and at most
# CHUNK_COLUMNS columns: the matmul then reads the patches while they are cached.
# Measured on the benchmark layers (OpenBLAS): one thread, 1.2-1.8x faster than one
# buffer for the whole batch. Two threads: the 32->64 layer (limited by elements) ran
# fwd+bwd at 1.40-1.44x torch's time with 2**18 and 1.30-1.39x with 2**19; the first
# layers (K = 25 or 49, limited by columns) ran 30-50% slower with 4096 columns than
# with 1536. The scratch memory stays small for any batch.
CHUNK_ELEMENTS = 1 << 19
CHUNK_COLUMNS = 1536


@njit(cache=True)
def _im2col(x, n0, cols, kh, kw, sh, sw, ph, pw, ho, wo):
    """cols (K, nc*P) <- the patches of samples n0 .. n0+nc-1 of x (N, C, H, W)."""
    c_in, h, w = x.shape[1], x.shape[2], x.shape[3]
    p = ho * wo
    nc = cols.shape[1] // p
    xf, cf = x.reshape(-1), cols.reshape(-1)
    for c in range(c_in):
        for i in range(kh):
            for j in range(kw):
                row = ((c * kh + i) * kw + j) * nc * p         # start of cols row (c, i, j)
                # ow in [lo, hi) reads inside x: 0 <= ow*sw - pw + j < W
                lo = min(wo, max(0, (pw - j + sw - 1) // sw))
                hi = max(lo, min(wo, (w - 1 + pw - j) // sw + 1))
                for m in range(nc):
                    for oh in range(ho):
                        d = _u(row + (m * ho + oh) * wo)
                        ih = oh * sh - ph + i
                        if ih < 0 or ih >= h:
                            for ow in range(_u(wo)):
                                cf[d + ow] = 0
                            continue
                        for ow in range(_u(lo)):
                            cf[d + ow] = 0
                        if hi > lo:
                            s = _u((((n0 + m) * c_in + c) * h + ih) * w + lo * sw - pw + j)
                            d_lo = d + _u(lo)
                            for t in range(_u(hi - lo)):
                                cf[d_lo + t] = xf[s + t * _u(sw)]
                        for ow in range(_u(hi), _u(wo)):
                            cf[d + ow] = 0


@njit(cache=True)
def _col2im(cols, n0, grad_x, kh, kw, sh, sw, ph, pw, ho, wo):
    """grad_x[n0 : n0+nc] <- zeros plus every patch gradient of cols (K, nc*P) at its place."""
    c_in, h, w = grad_x.shape[1], grad_x.shape[2], grad_x.shape[3]
    p = ho * wo
    nc = cols.shape[1] // p
    grad_x[n0:n0 + nc] = 0
    gf, cf = grad_x.reshape(-1), cols.reshape(-1)
    for c in range(c_in):
        for i in range(kh):
            for j in range(kw):
                row = ((c * kh + i) * kw + j) * nc * p
                lo = min(wo, max(0, (pw - j + sw - 1) // sw))
                hi = max(lo, min(wo, (w - 1 + pw - j) // sw + 1))
                for m in range(nc):
                    for oh in range(ho):
                        ih = oh * sh - ph + i
                        if ih < 0 or ih >= h or hi == lo:
                            continue
                        d_lo = _u(row + (m * ho + oh) * wo + lo)
                        s = _u((((n0 + m) * c_in + c) * h + ih) * w + lo * sw - pw + j)
                        for t in range(_u(hi - lo)):
                            gf[s + t * _u(sw)] += cf[d_lo + t]


@njit(cache=True)
def _chunk_out(res, b, out, n0):
    """out[n0 + m, o, p] = res[o, m*P + p] + b[o]; b of length 0 means no bias."""
    o_n, p = out.shape[1], out.shape[2] * out.shape[3]
    nc = res.shape[1] // p
    of, rf = out.reshape(-1), res.reshape(-1)
    for m in range(nc):
        for o in range(o_n):
            d, s = _u(((n0 + m) * o_n + o) * p), _u((o * nc + m) * p)
            if b.shape[0] > 0:
                for q in range(_u(p)):
                    of[d + q] = rf[s + q] + b[o]
            else:
                for q in range(_u(p)):
                    of[d + q] = rf[s + q]


@njit(cache=True)
def _chunk_grad(grad_out, n0, g):
    """g[o, m*P + p] = grad_out[n0 + m, o, p]: the chunk's output gradient as (O, nc*P)."""
    o_n, p = grad_out.shape[1], grad_out.shape[2] * grad_out.shape[3]
    nc = g.shape[1] // p
    gf, of = g.reshape(-1), grad_out.reshape(-1)
    for m in range(nc):
        for o in range(o_n):
            d, s = _u((o * nc + m) * p), _u(((n0 + m) * o_n + o) * p)
            for q in range(_u(p)):
                gf[d + q] = of[s + q]


@njit(cache=True)
def _chunk_size(n, k, p):
    """Samples per im2col buffer (K, nc*P) within CHUNK_ELEMENTS and CHUNK_COLUMNS; >= 1."""
    return max(1, min(n, CHUNK_ELEMENTS // (k * p), CHUNK_COLUMNS // p))


@njit(cache=True)
def _forward_chunk(x, w2, b, out, n0, nc, cols_buf, res_buf, kh, kw, sh, sw, ph, pw):
    """Samples n0 .. n0+nc-1 of conv2d_forward, in the scratch buffers given."""
    o_n, k = w2.shape
    ho, wo = out.shape[2], out.shape[3]
    p = ho * wo
    cols = cols_buf[:k * nc * p].reshape(k, nc * p)            # (K, nc*P)
    res = res_buf[:o_n * nc * p].reshape(o_n, nc * p)          # (O, nc*P)
    _im2col(x, n0, cols, kh, kw, sh, sw, ph, pw, ho, wo)
    gemm(w2, False, cols, False, res)
    _chunk_out(res, b, out, n0)


@njit(cache=True)
def _backward_chunk(x, w2, grad_out, grad_x, gw_chunk, n0, nc, cols_buf, g_buf,
                    kh, kw, sh, sw, ph, pw):
    """Samples n0 .. n0+nc-1 of conv2d_backward: grad_x's samples, and this chunk's
    cols g^T (K, O) into gw_chunk if it is not empty."""
    o_n, k = w2.shape
    ho, wo = grad_out.shape[2], grad_out.shape[3]
    p = ho * wo
    cols = cols_buf[:k * nc * p].reshape(k, nc * p)            # (K, nc*P)
    g = g_buf[:o_n * nc * p].reshape(o_n, nc * p)              # (O, nc*P)
    _chunk_grad(grad_out, n0, g)
    if gw_chunk.size > 0:
        _im2col(x, n0, cols, kh, kw, sh, sw, ph, pw, ho, wo)
        gemm(cols, False, g, True, gw_chunk)                   # (K, O)
    if grad_x.size > 0:
        gemm(w2, True, g, False, cols)                         # (K, nc*P)
        _col2im(cols, n0, grad_x, kh, kw, sh, sw, ph, pw, ho, wo)


@njit(cache=True, inline="always")
def _grad_b_channels(grad_out, grad_b, o0, o1):
    """grad_b[o] = sum over n, oh, ow of grad_out[n, o, oh, ow] for o0 <= o < o1.

    Each sum is one chain of float64 adds in (n, oh, ow) order. A chain waits for its last
    add, so four channels' chains run side by side and the CPU overlaps them: the same
    sums in the same order as one channel at a time, 1.5x faster."""
    n, o_n = grad_out.shape[0], grad_out.shape[1]
    p = grad_out.shape[2] * grad_out.shape[3]
    gf = grad_out.reshape(-1)
    o = o0
    while o + 4 <= o1:
        a0 = a1 = a2 = a3 = 0.0
        for m in range(n):
            s = _u((m * o_n + o) * p)
            for q in range(_u(p)):
                a0 += gf[s + q]
                a1 += gf[s + _u(p) + q]
                a2 += gf[s + _u(2 * p) + q]
                a3 += gf[s + _u(3 * p) + q]
        grad_b[o], grad_b[o + 1], grad_b[o + 2], grad_b[o + 3] = a0, a1, a2, a3
        o += 4
    for o in range(o, o1):
        acc = 0.0
        for m in range(n):
            s = _u((m * o_n + o) * p)
            for q in range(_u(p)):
                acc += gf[s + q]
        grad_b[o] = acc


@njit(cache=True)
def _grad_b_serial(grad_out, grad_b):
    _grad_b_channels(grad_out, grad_b, 0, grad_out.shape[1])


@njit(cache=True, parallel=True)
def _grad_b_lanes(grad_out, grad_b):
    o_n = grad_out.shape[1]
    for blk in prange((o_n + 3) // 4):          # blocks of four channels, one per thread
        _grad_b_channels(grad_out, grad_b, 4 * blk, min(o_n, 4 * blk + 4))


# Each driver twice: a plain loop over the chunks, and lanes of chunks on Numba's
# threads (`_threads.lanes` says when; the module's docstring says how). winograd.py and
# conv1d.py have drivers of the same shape around their own chunk functions. One driver
# taking the chunk function as an argument would serve all three, but Numba does not reuse
# its on-disk cache for a function with a jitted-function argument: a probe recompiled such
# a driver, and wrote new cache files, in every process (Numba 0.68.1), which would cost
# every run of a demo that compile time again.
@njit(cache=True)
def _forward_serial(x, w2, b, out, chunk, kh, kw, sh, sw, ph, pw):
    n, o_n, p = out.shape[0], out.shape[1], out.shape[2] * out.shape[3]
    cols_buf = np.empty(w2.shape[1] * chunk * p, x.dtype)
    res_buf = np.empty(o_n * chunk * p, x.dtype)
    for n0 in range(0, n, chunk):
        _forward_chunk(x, w2, b, out, n0, min(chunk, n - n0), cols_buf, res_buf,
                       kh, kw, sh, sw, ph, pw)


@njit(cache=True, parallel=True)
def _forward_lanes(x, w2, b, out, chunk, kh, kw, sh, sw, ph, pw, lanes):
    n, o_n, p = out.shape[0], out.shape[1], out.shape[2] * out.shape[3]
    cols_bufs = np.empty((lanes, w2.shape[1] * chunk * p), x.dtype)
    res_bufs = np.empty((lanes, o_n * chunk * p), x.dtype)
    n_chunks = (n + chunk - 1) // chunk
    for lane in prange(lanes):
        for i in range(lane, n_chunks, lanes):
            n0 = i * chunk
            _forward_chunk(x, w2, b, out, n0, min(chunk, n - n0), cols_bufs[lane],
                           res_bufs[lane], kh, kw, sh, sw, ph, pw)


@njit(cache=True)
def _backward_serial(x, w2, grad_out, grad_x, gw2, chunk, kh, kw, sh, sw, ph, pw):
    n, o_n, p = grad_out.shape[0], grad_out.shape[1], grad_out.shape[2] * grad_out.shape[3]
    k = w2.shape[1]
    cols_buf = np.empty(k * chunk * p, x.dtype)
    g_buf = np.empty(o_n * chunk * p, x.dtype)
    gw_chunk = np.empty((k, o_n) if gw2.size > 0 else (0, 0), x.dtype)  # one chunk's cols g^T
    for n0 in range(0, n, chunk):
        _backward_chunk(x, w2, grad_out, grad_x, gw_chunk, n0, min(chunk, n - n0),
                        cols_buf, g_buf, kh, kw, sh, sw, ph, pw)
        if gw2.size > 0:
            gw2 += gw_chunk.T


@njit(cache=True, parallel=True)
def _backward_lanes(x, w2, grad_out, grad_x, gw2, chunk, kh, kw, sh, sw, ph, pw, wave, lanes):
    n, o_n, p = grad_out.shape[0], grad_out.shape[1], grad_out.shape[2] * grad_out.shape[3]
    k = w2.shape[1]
    n_chunks = (n + chunk - 1) // chunk
    wave = max(wave, lanes)                    # chunks whose parts are held at once
    cols_bufs = np.empty((lanes, k * chunk * p), x.dtype)
    g_bufs = np.empty((lanes, o_n * chunk * p), x.dtype)
    need_w = gw2.size > 0
    held = min(wave, n_chunks)
    gw_parts = np.empty((held, k, o_n) if need_w else (held, 0, 0), x.dtype)
    for w0 in range(0, n_chunks, wave):
        w1 = min(n_chunks, w0 + wave)
        for lane in prange(lanes):
            for i in range(w0 + lane, w1, lanes):
                n0 = i * chunk
                _backward_chunk(x, w2, grad_out, grad_x, gw_parts[i - w0], n0,
                                min(chunk, n - n0), cols_bufs[lane], g_bufs[lane],
                                kh, kw, sh, sw, ph, pw)
        if need_w:                   # the chunks' sums added in chunk order, as in the loop
            for kk in prange(k):
                for i in range(w0, w1):
                    for o in range(o_n):
                        gw2[o, kk] += gw_parts[i - w0, kk, o]


def _conv1d_path(x, w, kh, sh, sw, ph):
    """The module that runs this layer as a conv1d on (N, C, 1, L) views (winograd1d for three
    taps and enough channels, else conv1d), or None if it runs here."""
    c_in, o_n, kw = w.shape[1], w.shape[0], w.shape[3]
    if not conv1d.applies(x.shape[2], c_in, kh, sh, sw, ph):
        return None
    return winograd1d if winograd1d.applies(c_in, o_n, kw) else conv1d


def conv2d_forward(x, w, b, out, sh, sw, ph, pw):
    """out = conv2d(x, w) + b: PyTorch's cross-correlation with stride and zero padding.

    x (N, C, H, W), w (O, C, kh, kw), b (O,) or (0,) for no bias,
    out (N, O, Ho, Wo) with Ho = (H + 2 ph - kh) // sh + 1, Wo likewise.
    out[n, o, oh, ow] = b[o] + sum_{c,i,j} w[o, c, i, j] x[n, c, oh sh - ph + i, ow sw - pw + j]
    """
    n, o_n, ho, wo = out.shape
    kh, kw = w.shape[2], w.shape[3]
    if winograd.applies(w.shape[1], kh, kw, sh, sw):
        return winograd.conv_forward(x, w, b, out, ph, pw)
    path = _conv1d_path(x, w, kh, sh, sw, ph)
    if path is not None:                                       # on (N, C, 1, L) views
        return path.conv1d_forward(x.reshape(n, x.shape[1], x.shape[3]),
                                   w.reshape(o_n, w.shape[1], kw), b,
                                   out.reshape(n, o_n, wo), pw)
    k = w.shape[1] * kh * kw
    w2 = w.reshape(o_n, k)                                     # (O, K)
    chunk = _chunk_size(n, k, ho * wo)
    drive(-(-n // chunk), _forward_serial, _forward_lanes,
          x, w2, b, out, chunk, kh, kw, sh, sw, ph, pw)


def conv2d_backward(x, w, grad_out, grad_x, grad_w, grad_b, sh, sw, ph, pw):
    """Gradients of conv2d_forward; a grad array of size 0 is not computed.

    x (N, C, H, W), w (O, C, kh, kw), grad_out (N, O, Ho, Wo) -> writes
    grad_x (N, C, H, W) = col2im(w2^T g), grad_w (O, C, kh, kw) = g cols^T,
    grad_b (O,) = sum over n, oh, ow of grad_out.
    """
    n, o_n, ho, wo = grad_out.shape
    kh, kw = w.shape[2], w.shape[3]
    k = w.shape[1] * kh * kw
    if grad_b.size > 0:
        (_grad_b_lanes if parallel() else _grad_b_serial)(grad_out, grad_b)
    if grad_w.size == 0 and grad_x.size == 0:
        return
    if winograd.applies(w.shape[1], kh, kw, sh, sw):
        return winograd.conv_backward(x, w, grad_out, grad_x, grad_w, ph, pw)
    path = _conv1d_path(x, w, kh, sh, sw, ph)
    if path is not None:                                       # on (N, C, 1, L) views
        c_in = w.shape[1]
        return path.conv1d_backward(
            x.reshape(n, c_in, x.shape[3]), w.reshape(o_n, c_in, kw), grad_out.reshape(n, o_n, wo),
            grad_x.reshape(n, c_in, x.shape[3]) if grad_x.size > 0 else grad_x.reshape(0, 0, 0),
            grad_w.reshape(o_n, c_in, kw) if grad_w.size > 0 else grad_w.reshape(0, 0, 0), pw)
    w2 = w.reshape(o_n, k)                                     # (O, K)
    gw2 = grad_w.reshape(o_n, k) if grad_w.size > 0 else grad_w.reshape(0, 0)  # (O, K)
    gw2[:] = 0
    chunk = _chunk_size(n, k, ho * wo)
    n_chunks = -(-n // chunk)
    drive(n_chunks, _backward_serial, _backward_lanes,
          x, w2, grad_out, grad_x, gw2, chunk, kh, kw, sh, sw, ph, pw,
          lanes_args=(wave(n_chunks, k * o_n),))
