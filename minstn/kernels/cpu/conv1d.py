"""conv1d at stride 1 as k shifted matrix products over a channels-last copy.

The plain version is `conv.py`, which runs conv1d as conv2d on (N, C, 1, L) views: im2col
copies each input value k times into a (C·k, N·Lo) matrix, and one product does the sums.
A sequence needs no such copy if it is stored channels last. Pad each sample with p zero
steps on both sides and stack the samples into xb (N·Lp, C), Lp = L + 2p:

    xb[n·Lp + p + t, c] = x[n, c, t]          (0 in the padding)

Output step t of sample n reads rows n·Lp + t .. n·Lp + t + k - 1 of xb, one per tap i:

    out[n, :, t] = b + sum_i W_i xb[n·Lp + t + i]           W_i = w[:, :, i]  (O, C)

and over every row at once, with M = N·Lp - (k - 1),

    Y (M, O) = sum_i xb[i : i + M] @ W_i^T

Each xb[i : i + M] is a block of whole rows of xb, a contiguous (M, C) matrix: k products
and no im2col. Row n·Lp + t of Y is output step t of sample n for t < Lo = Lp - k + 1; the
k - 1 rows after them straddle two samples and are dropped (4 of 52 rows at experiment
4's L 48, k 5). The multiply-adds are im2col's, plus those of the dropped rows, but the
copy is of the input once instead of k times, and the products' short side is the output
channels: the exp4 localisation net's first layer (84 -> 16 channels, k 5, L 48, N 64)
runs its forward in about 0.45 ms against im2col's 1.1 (one thread; docs/performance.md).

The backward reads the same products the other way round. With g (M, O) the output
gradient at Y's rows (0 at the dropped ones):

    dL/dW_i = g^T @ xb[i : i + M]   (O, C)        dL/dxb[i : i + M] += g @ W_i   (M, C)

and dL/dx is dL/dxb without the padding rows. Against im2col's backward (probe script, N 64,
one thread): exp4's first localisation layer 0.79 -> 0.46 ms (weight gradient only, as
there) and 1.47 -> 1.10 with the input gradient; 84 -> 32 channels 1.94 -> 1.70; at 48 and
64 output channels the two are within 7% of each other, either way. Float32 rounding
differs from im2col's (another order of sums); `tests/test_conv1d.py` holds both to the
float64 result.

Batches run in chunks of a few samples, small enough for BLAS's small-matrix kernel
(SMALL_PRODUCT below), dealt out to lanes when Numba has several threads, as in conv.py.
A chunk's rows are the same products whichever lane runs them, and the weight gradient
adds the chunks' parts in chunk order, so the results are the same on any number of
threads.
"""
import numpy as np
from numba import njit, prange, uint64 as _u

from ._gemm import gemm
from ._threads import drive, wave

# Fewer input channels than this stay on im2col: each of the k products has C as its inner
# length, and BLAS runs short inner lengths slowly. Forward, N 64, one thread (probe script,
# median of 30): C 1, 4, 8 (k 5, 16 outputs, L 48) took 0.07-0.10 ms against im2col's 0.02,
# 0.04 and 0.08; C 16 (k 5, L 24) 0.08 against 0.12, C 32 (k 3, L 48) 0.23 against 0.32.
MIN_CHANNELS = 16
# Samples per chunk: each of a chunk's k products, (M, C) by (C, O) with M = nc·Lp - (k - 1),
# is kept to at most SMALL_PRODUCT multiply-adds (M·C·O), and the chunk's buffers (xb, Y and a
# product's scratch: nc·Lp·(C + 2 O) numbers) to at most CHUNK_ELEMENTS. The OpenBLAS of this
# machine (SciPy's build, Intel Xeon VM) runs products up to M·N·K = 10^6 on a kernel of its own
# for small matrices, without packing them: the exp4 layer's (M, 84) by (84, 16) products ran at
# 140 GFLOP/s there and at 50 above it. Here both kernels give the same bits (outputs of
# three layers compared over chunks of 1 to 64 samples, probe script; for im2col's products
# they do not always: docs/performance.md).
# Forward, N 64, one thread, median of 30 (probe script): 76 -> 64, k 3, L 48 in 0.73 ms with
# 4 samples a chunk (0.96 M multiply-adds a product) against 0.90-0.93 with 8 to 32 (above 10^6);
# 84 -> 16, k 5, L 48 in 0.41 with 4 to 12 against 0.51-0.53 with 16 or 32; 32 -> 32, k 3 in
# 0.21 with 4 to 16 against 0.27 with 32. A BLAS without such a kernel pays only the calls.
SMALL_PRODUCT = 10 ** 6
CHUNK_ELEMENTS = 1 << 17


def applies(h, c_in, kh, sh, sw, ph) -> bool:
    """Whether conv2d_forward and conv2d_backward take this path: a conv1d ((N, C, 1, L)
    views, no padding along the unit height) at stride 1 with at least MIN_CHANNELS input
    channels."""
    return h == 1 and kh == 1 and ph == 0 and sh == 1 and sw == 1 and c_in >= MIN_CHANNELS


@njit(cache=True)
def channels_last(x, n0, p, rows, xb):
    """xb (nc·rows, C) <- samples n0 .. n0+nc-1 of x (N, C, L), each after p zero steps and
    followed by zero steps up to `rows` (>= L + 2p) rows a sample."""
    c_in, length = x.shape[1], x.shape[2]
    for m in range(xb.shape[0] // rows):
        for s in range(p):
            xb[m * rows + s] = 0
        for s in range(p + length, rows):
            xb[m * rows + s] = 0
        for t in range(length):
            row = xb[m * rows + p + t]
            for c in range(_u(c_in)):
                row[c] = x[n0 + m, c, t]


@njit(cache=True)
def from_channels_last(xb, n0, nc, p, rows, x):
    """x[n0 + m, c, t] = xb[m·rows + p + t, c] for m < nc: the inverse copy of channels_last,
    padding dropped."""
    c_in, length = x.shape[1], x.shape[2]
    for m in range(nc):
        for c in range(c_in):
            for t in range(length):
                x[n0 + m, c, t] = xb[m * rows + p + t, c]


@njit(cache=True)
def _forward_chunk(x, wt, b, out, n0, nc, p, xb_buf, y_buf, tmp_buf):
    """Samples n0 .. n0+nc-1 of conv1d_forward, in the scratch buffers given."""
    c_in, length = x.shape[1], x.shape[2]
    k, o_n = wt.shape[0], wt.shape[2]
    lp = length + 2 * p
    lo = out.shape[2]
    m_rows = nc * lp - (k - 1)
    xb = xb_buf[:nc * lp * c_in].reshape(nc * lp, c_in)
    y = y_buf[:m_rows * o_n].reshape(m_rows, o_n)
    tmp = tmp_buf[:m_rows * o_n].reshape(m_rows, o_n)
    channels_last(x, n0, p, lp, xb)
    gemm(xb[0:m_rows], False, wt[0], False, y)                # tap 0
    yf, tf = y.reshape(-1), tmp.reshape(-1)
    for i in range(1, k):                                      # + taps 1 .. k-1, in order
        gemm(xb[i:i + m_rows], False, wt[i], False, tmp)
        for q in range(_u(yf.size)):
            yf[q] += tf[q]
    for m in range(nc):
        for t in range(lo):
            row = y[m * lp + t]
            if b.shape[0] > 0:
                for o in range(o_n):
                    out[n0 + m, o, t] = row[o] + b[o]
            else:
                for o in range(o_n):
                    out[n0 + m, o, t] = row[o]


# Each driver twice, as in conv.py (which says why they are not one generic driver): a loop
# over the chunks, and lanes of chunks.
@njit(cache=True)
def _forward_serial(x, wt, b, out, chunk, p):
    n, c_in, length = x.shape
    o_n, rows = wt.shape[2], chunk * (length + 2 * p)
    xb_buf = np.empty(rows * c_in, x.dtype)
    y_buf, tmp_buf = np.empty(rows * o_n, x.dtype), np.empty(rows * o_n, x.dtype)
    for n0 in range(0, n, chunk):
        _forward_chunk(x, wt, b, out, n0, min(chunk, n - n0), p, xb_buf, y_buf, tmp_buf)


@njit(cache=True, parallel=True)
def _forward_lanes(x, wt, b, out, chunk, p, lanes):
    n, c_in, length = x.shape
    o_n, rows = wt.shape[2], chunk * (length + 2 * p)
    xb_bufs = np.empty((lanes, rows * c_in), x.dtype)
    y_bufs, tmp_bufs = np.empty((lanes, rows * o_n), x.dtype), np.empty((lanes, rows * o_n), x.dtype)
    n_chunks = (n + chunk - 1) // chunk
    for lane in prange(lanes):
        for i in range(lane, n_chunks, lanes):
            n0 = i * chunk
            _forward_chunk(x, wt, b, out, n0, min(chunk, n - n0), p, xb_bufs[lane],
                           y_bufs[lane], tmp_bufs[lane])


@njit(cache=True)
def _backward_chunk(x, w3, grad_out, grad_x, gw_chunk, n0, nc, p, xb_buf, g_buf, t_buf, a_buf):
    """Samples n0 .. n0+nc-1 of conv1d_backward: grad_x's samples, and this chunk's weight
    gradient gw_chunk (k, O, C) if it is not empty. The forward read backwards:
        g (M, O) = grad_out's rows at Y's places (0 at the dropped rows)
        gw_chunk[i] = g^T @ xb[i : i + M]          d xb[i : i + M] += g @ W_i
    """
    c_in, length = x.shape[1], x.shape[2]
    k, o_n = w3.shape[0], w3.shape[1]
    lp = length + 2 * p
    lo = grad_out.shape[2]
    m_rows = nc * lp - (k - 1)
    g = g_buf[:m_rows * o_n].reshape(m_rows, o_n)
    g[:] = 0
    for m in range(nc):
        for t in range(lo):
            row = g[m * lp + t]
            for o in range(o_n):
                row[o] = grad_out[n0 + m, o, t]
    if gw_chunk.size > 0:
        xb = xb_buf[:nc * lp * c_in].reshape(nc * lp, c_in)
        channels_last(x, n0, p, lp, xb)
        for i in range(k):
            gemm(g, True, xb[i:i + m_rows], False, gw_chunk[i])  # (O, C)
    if grad_x.size > 0:
        acc = a_buf[:nc * lp * c_in].reshape(nc * lp, c_in)   # d xb
        tmp = t_buf[:m_rows * c_in].reshape(m_rows, c_in)
        acc[:] = 0
        tf = tmp.reshape(-1)
        for i in range(k):                                     # taps in order
            gemm(g, False, w3[i], False, tmp)                  # (M, C)
            af = acc[i:i + m_rows].reshape(-1)
            for q in range(_u(tf.size)):
                af[q] += tf[q]
        from_channels_last(acc, n0, nc, p, lp, grad_x)


@njit(cache=True)
def _backward_serial(x, w3, grad_out, grad_x, gwk, chunk, p):
    n, c_in, length = x.shape
    k, o_n = w3.shape[0], w3.shape[1]
    rows = chunk * (length + 2 * p)
    xb_buf, a_buf, t_buf = (np.empty(rows * c_in, x.dtype), np.empty(rows * c_in, x.dtype),
                            np.empty(rows * c_in, x.dtype))
    g_buf = np.empty(rows * o_n, x.dtype)
    gw_chunk = np.empty((k, o_n, c_in) if gwk.size > 0 else (0, 0, 0), x.dtype)
    for n0 in range(0, n, chunk):
        _backward_chunk(x, w3, grad_out, grad_x, gw_chunk, n0, min(chunk, n - n0), p,
                        xb_buf, g_buf, t_buf, a_buf)
        if gwk.size > 0:
            gwk += gw_chunk


@njit(cache=True, parallel=True)
def _backward_lanes(x, w3, grad_out, grad_x, gwk, chunk, p, wave, lanes):
    n, c_in, length = x.shape
    k, o_n = w3.shape[0], w3.shape[1]
    rows = chunk * (length + 2 * p)
    n_chunks = (n + chunk - 1) // chunk
    wave = max(wave, lanes)                    # chunks whose parts are held at once
    xb_bufs, a_bufs, t_bufs = (np.empty((lanes, rows * c_in), x.dtype),
                               np.empty((lanes, rows * c_in), x.dtype),
                               np.empty((lanes, rows * c_in), x.dtype))
    g_bufs = np.empty((lanes, rows * o_n), x.dtype)
    need_w = gwk.size > 0
    held = min(wave, n_chunks)
    gw_parts = np.empty((held, k, o_n, c_in) if need_w else (held, 0, 0, 0), x.dtype)
    for w0 in range(0, n_chunks, wave):
        w1 = min(n_chunks, w0 + wave)
        for lane in prange(lanes):
            for i in range(w0 + lane, w1, lanes):
                n0 = i * chunk
                _backward_chunk(x, w3, grad_out, grad_x, gw_parts[i - w0], n0,
                                min(chunk, n - n0), p, xb_bufs[lane], g_bufs[lane],
                                t_bufs[lane], a_bufs[lane])
        if need_w:                   # the chunks' sums added in chunk order, as in the loop
            for i in range(w0, w1):
                gwk += gw_parts[i - w0]


def chunk_size(n, c_in, o_n, k, lp):
    """Samples per chunk (>= 1): products of at most SMALL_PRODUCT multiply-adds, buffers of
    at most CHUNK_ELEMENTS numbers (see both), for padded sequences of length lp."""
    return max(1, min(n, CHUNK_ELEMENTS // (lp * (c_in + 2 * o_n)),
                      (SMALL_PRODUCT // (c_in * o_n) + k - 1) // lp))


def conv1d_forward(x, w, b, out, p):
    """out = conv1d(x, w) + b at stride 1 with p zero steps of padding on both sides.

    x (N, C, L), w (O, C, k), b (O,) or (0,) for no bias, out (N, O, Lo), Lo = L + 2p - k + 1.
    out[n, o, t] = b[o] + sum_{c,i} w[o, c, i] x[n, c, t - p + i]
    """
    n, c_in, length = x.shape
    o_n = w.shape[0]
    wt = np.ascontiguousarray(w.transpose(2, 1, 0))            # (k, C, O): W_i^T
    chunk = chunk_size(n, c_in, o_n, w.shape[2], length + 2 * p)
    drive(-(-n // chunk), _forward_serial, _forward_lanes, x, wt, b, out, chunk, p)


def conv1d_backward(x, w, grad_out, grad_x, grad_w, p):
    """Gradients of conv1d_forward (without the bias's); a grad array of size 0 is skipped.

    x (N, C, L), w (O, C, k), grad_out (N, O, Lo) -> grad_x (N, C, L), grad_w (O, C, k).
    """
    n, c_in, length = x.shape
    o_n, k = w.shape[0], w.shape[2]
    w3 = np.ascontiguousarray(w.transpose(2, 0, 1))            # (k, O, C): W_i
    gwk = np.zeros((k, o_n, c_in) if grad_w.size > 0 else (0, 0, 0), x.dtype)
    chunk = chunk_size(n, c_in, o_n, k, length + 2 * p)
    n_chunks = -(-n // chunk)
    drive(n_chunks, _backward_serial, _backward_lanes, x, w3, grad_out, grad_x, gwk, chunk, p,
          lanes_args=(wave(n_chunks, k * o_n * c_in),))
    if grad_w.size > 0:
        grad_w[:] = gwk.transpose(1, 2, 0)
