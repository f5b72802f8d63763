"""conv1d with three taps at stride 1 by Winograd's minimal filtering F(2, 3): two output steps
from four products where the shifted products take six.

The plain version is `conv1d.py`: a channels-last copy xb of the padded sequences (a row per
time step, a column per channel), and Y = sum_i xb[i : i + M] @ W_i^T, three products of M·C·O
multiply-adds at k = 3. Read that first. Here the outputs go in pairs. The pair at steps 2s,
2s + 1 of one (sample, input channel, output channel) reads the four padded input steps
d = (d0, d1, d2, d3) = xb[2s .. 2s + 3] with the filter g = (g0, g1, g2), and

    (y0, y1) = (g0 d0 + g1 d1 + g2 d2,  g0 d1 + g1 d2 + g2 d3) = A^T [(G g) ⊙ (B^T d)]

    B^T d = (d0 - d2,  d1 + d2,  d2 - d1,  d1 - d3)            the input at four points
    G g   = (g0,  (g0 + g1 + g2)/2,  (g0 - g1 + g2)/2,  g2)    the filter at the same points
    A^T m = (m0 + m1 + m2,  m1 - m2 - m3)                      the pair back

(expand the products to check; the points are 0, 1, -1 and ∞, and winograd.py has the same
matrices in two dimensions). Summed over the input channels, each of the four element-wise
products is a matrix product over every pair of a chunk at once:

    V_j (T, C) = (B^T d)_j of each pair     U_j (C, O) = (G g)_j of each (c, o)
    M_j (T, O) = V_j @ U_j                  (y0, y1) = A^T (M_0 .. M_3), pair by pair

A sequence of Lo outputs has S = ceil(Lo / 2) pairs: four products of S·C·O multiply-adds
against three of 2S·C·O, a third fewer. The backward reads the three steps the other way
round, each transform's adjoint in its place:

    dM = A dY (per pair)    dU_j = V_j^T @ dM_j    dV_j = dM_j @ U_j^T
    grad_w = G^T dU         grad_x = the sum over pairs of B dV, at each pair's four steps

Neighbouring pairs share two input steps, so the last adjoint adds two pairs' parts into each
shared step, always in pair order. The weight transform and its adjoint run in float64 (the
filter's sums are rounded once). Float32 rounding differs from the shifted products' (other
sums, in another order); `tests/test_winograd1d.py` holds both to the float64 result. Chunks
of samples and lanes as in `conv1d.py`; grad_w adds the chunks' dU in chunk order, so the
results are the same on any number of threads.
"""
import numpy as np
from numba import njit, prange

from ._gemm import gemm
from ._threads import drive, wave
from .conv1d import SMALL_PRODUCT, channels_last, from_channels_last

# A chunk's buffers hold at most this many numbers (1 MiB of float32), 2x conv1d.py's bound: the
# products here have half as many rows a sample. On the AMD VM (forward + backward, N 64, one
# thread, probe script) bigger chunks ran faster: 64 -> 64 on L 24 took 2.2-2.7 ms with 2 or 4
# samples a chunk, 1.9-2.3 with 8 or 16; 76 -> 64 on L 48 5.0-5.1 with 2, 4.2 with 8, 4.1 with
# 16. With SMALL_PRODUCT (for the Intel VM's small-matrix kernel) this gives them 20 and 8.
CHUNK_ELEMENTS = 1 << 18

# The transforms cost about C + O numbers an output step, the products save C·O / 3
# multiply-adds: a layer takes this path when C·O >= BREAK_EVEN (C + O). Forward + backward, N
# 64, one thread, on the AMD VM (probe script, medians of 30 over three alternating rounds; this
# VM's noise is 10-30%): 84 -> 16 on L 48 (C·O/(C+O) = 13) took 2.2-3.0 ms here against 2.3-3.1
# on the shifted products, 32 -> 32 on L 24 (16) 1.13 against 1.04, 84 -> 32 (23) 3.0-4.1
# against 3.5-4.3, 64 -> 64 on L 24 (32) 2.4 against 2.8, 76 -> 64 on L 48 (35) 4.3 against 6.5.
BREAK_EVEN = 20


def applies(c_in, o_n, k) -> bool:
    """Whether a conv1d that conv1d.py would run (stride 1, enough input channels) takes this
    path instead: three taps, and enough channels in and out (BREAK_EVEN)."""
    return k == 3 and c_in * o_n >= BREAK_EVEN * (c_in + o_n)


def _weight_points(w):
    """U (4, C, O) = G g for each filter g = w[o, c] (3,), in float64, rounded once to w's
    dtype; w (O, C, 3)."""
    g = w.astype(np.float64).transpose(2, 1, 0)                # (3, C, O)
    u = np.stack([g[0], (g[0] + g[1] + g[2]) * 0.5, (g[0] - g[1] + g[2]) * 0.5, g[2]])
    return np.ascontiguousarray(u.astype(w.dtype))


def _weight_points_adjoint(du, grad_w):
    """grad_w (O, C, 3) = G^T dU, the adjoint of _weight_points; du (4, C, O), summed in
    float64."""
    d = du.astype(np.float64)
    half = (d[1] + d[2]) * 0.5
    grad_w[:] = np.stack([d[0] + half, (d[1] - d[2]) * 0.5, half + d[3]]).transpose(2, 1, 0)


@njit(cache=True)
def _input_points(xb, nc, rows, s_n, v):
    """v[j, m*S + s] = (B^T d)_j for d = xb[m*rows + 2s .. m*rows + 2s + 3]: every pair of
    the chunk's nc samples; xb (nc*rows, C), v (4, >= nc*S, C)."""
    c_in = xb.shape[1]
    for m in range(nc):
        for s in range(s_n):
            a, q = m * rows + 2 * s, m * s_n + s
            d0, d1, d2, d3 = xb[a], xb[a + 1], xb[a + 2], xb[a + 3]
            v0, v1, v2, v3 = v[0, q], v[1, q], v[2, q], v[3, q]
            for c in range(c_in):
                v0[c] = d0[c] - d2[c]
                v1[c] = d1[c] + d2[c]
                v2[c] = d2[c] - d1[c]
                v3[c] = d1[c] - d3[c]


@njit(cache=True)
def _forward_chunk(x, u, b, out, n0, nc, p, s_n, xb_buf, v_buf, m_buf):
    """Samples n0 .. n0+nc-1 of conv1d_forward, in the scratch buffers given."""
    c_in, o_n, lo = x.shape[1], u.shape[2], out.shape[2]
    rows, t_n = 2 * s_n + 2, nc * s_n
    xb = xb_buf[:nc * rows * c_in].reshape(nc * rows, c_in)
    v = v_buf[:4 * t_n * c_in].reshape(4, t_n, c_in)
    mm = m_buf[:4 * t_n * o_n].reshape(4, t_n, o_n)
    channels_last(x, n0, p, rows, xb)
    _input_points(xb, nc, rows, s_n, v)
    for j in range(4):
        gemm(v[j], False, u[j], False, mm[j])                 # M_j = V_j @ U_j
    bias = b.shape[0] > 0
    for m in range(nc):
        for s in range(s_n):
            q, t = m * s_n + s, 2 * s
            m0, m1, m2, m3 = mm[0, q], mm[1, q], mm[2, q], mm[3, q]
            for o in range(o_n):                               # A^T M
                y = m0[o] + m1[o] + m2[o]
                out[n0 + m, o, t] = y + b[o] if bias else y
            if t + 1 < lo:
                for o in range(o_n):
                    y = m1[o] - m2[o] - m3[o]
                    out[n0 + m, o, t + 1] = y + b[o] if bias else y


@njit(cache=True)
def _backward_chunk(x, u_t, grad_out, grad_x, du_chunk, n0, nc, p, s_n, xb_buf, v_buf, m_buf,
                    a_buf):
    """Samples n0 .. n0+nc-1 of conv1d_backward: grad_x's samples, and this chunk's dU
    du_chunk (4, C, O) if it is not empty; u_t (4, O, C) = U_j^T."""
    c_in = x.shape[1]
    o_n, lo = u_t.shape[1], grad_out.shape[2]
    rows, t_n = 2 * s_n + 2, nc * s_n
    dm = m_buf[:4 * t_n * o_n].reshape(4, t_n, o_n)
    v = v_buf[:4 * t_n * c_in].reshape(4, t_n, c_in)
    for m in range(nc):                                        # dM = A dY
        for s in range(s_n):
            q, t = m * s_n + s, 2 * s
            d0, d1, d2, d3 = dm[0, q], dm[1, q], dm[2, q], dm[3, q]
            if t + 1 < lo:
                for o in range(o_n):
                    g0, g1 = grad_out[n0 + m, o, t], grad_out[n0 + m, o, t + 1]
                    d0[o], d1[o], d2[o], d3[o] = g0, g0 + g1, g0 - g1, -g1
            else:                                              # a last pair of one output
                for o in range(o_n):
                    g0 = grad_out[n0 + m, o, t]
                    d0[o], d1[o], d2[o], d3[o] = g0, g0, g0, 0
    if du_chunk.size > 0:
        xb = xb_buf[:nc * rows * c_in].reshape(nc * rows, c_in)
        channels_last(x, n0, p, rows, xb)
        _input_points(xb, nc, rows, s_n, v)
        for j in range(4):
            gemm(v[j], True, dm[j], False, du_chunk[j])        # dU_j = V_j^T @ dM_j
    if grad_x.size > 0:
        for j in range(4):
            gemm(dm[j], False, u_t[j], False, v[j])            # dV_j = dM_j @ U_j^T
        acc = a_buf[:nc * rows * c_in].reshape(nc * rows, c_in)  # d xb
        acc[:] = 0
        for m in range(nc):                                    # B dV, pair by pair
            for s in range(s_n):
                a, q = m * rows + 2 * s, m * s_n + s
                v0, v1, v2, v3 = v[0, q], v[1, q], v[2, q], v[3, q]
                r0, r1, r2, r3 = acc[a], acc[a + 1], acc[a + 2], acc[a + 3]
                for c in range(c_in):
                    r0[c] += v0[c]
                    r1[c] += v1[c] - v2[c] + v3[c]
                    r2[c] += v1[c] + v2[c] - v0[c]
                    r3[c] -= v3[c]
        from_channels_last(acc, n0, nc, p, rows, grad_x)


# The drivers, as in conv1d.py: a loop over the chunks, and lanes of chunks.
@njit(cache=True)
def _forward_serial(x, u, b, out, chunk, p, s_n):
    c_in, o_n = x.shape[1], u.shape[2]
    xb_buf = np.empty(chunk * (2 * s_n + 2) * c_in, x.dtype)
    v_buf, m_buf = np.empty(4 * chunk * s_n * c_in, x.dtype), np.empty(4 * chunk * s_n * o_n, x.dtype)
    for n0 in range(0, x.shape[0], chunk):
        _forward_chunk(x, u, b, out, n0, min(chunk, x.shape[0] - n0), p, s_n, xb_buf, v_buf,
                       m_buf)


@njit(cache=True, parallel=True)
def _forward_lanes(x, u, b, out, chunk, p, s_n, lanes):
    n, c_in, o_n = x.shape[0], x.shape[1], u.shape[2]
    xb_bufs = np.empty((lanes, chunk * (2 * s_n + 2) * c_in), x.dtype)
    v_bufs = np.empty((lanes, 4 * chunk * s_n * c_in), x.dtype)
    m_bufs = np.empty((lanes, 4 * chunk * s_n * o_n), x.dtype)
    n_chunks = (n + chunk - 1) // chunk
    for lane in prange(lanes):
        for i in range(lane, n_chunks, lanes):
            n0 = i * chunk
            _forward_chunk(x, u, b, out, n0, min(chunk, n - n0), p, s_n, xb_bufs[lane],
                           v_bufs[lane], m_bufs[lane])


@njit(cache=True)
def _backward_serial(x, u_t, grad_out, grad_x, du, chunk, p, s_n):
    n, c_in, o_n = x.shape[0], x.shape[1], u_t.shape[1]
    rows = 2 * s_n + 2
    xb_buf, a_buf = np.empty(chunk * rows * c_in, x.dtype), np.empty(chunk * rows * c_in, x.dtype)
    v_buf, m_buf = np.empty(4 * chunk * s_n * c_in, x.dtype), np.empty(4 * chunk * s_n * o_n, x.dtype)
    du_chunk = np.empty((4, c_in, o_n) if du.size > 0 else (0, 0, 0), x.dtype)
    for n0 in range(0, n, chunk):
        _backward_chunk(x, u_t, grad_out, grad_x, du_chunk, n0, min(chunk, n - n0), p, s_n,
                        xb_buf, v_buf, m_buf, a_buf)
        if du.size > 0:
            du += du_chunk


@njit(cache=True, parallel=True)
def _backward_lanes(x, u_t, grad_out, grad_x, du, chunk, p, s_n, wave, lanes):
    n, c_in, o_n = x.shape[0], x.shape[1], u_t.shape[1]
    rows = 2 * s_n + 2
    n_chunks = (n + chunk - 1) // chunk
    wave = max(wave, lanes)                    # chunks whose parts are held at once
    xb_bufs = np.empty((lanes, chunk * rows * c_in), x.dtype)
    a_bufs = np.empty((lanes, chunk * rows * c_in), x.dtype)
    v_bufs = np.empty((lanes, 4 * chunk * s_n * c_in), x.dtype)
    m_bufs = np.empty((lanes, 4 * chunk * s_n * o_n), x.dtype)
    need_w = du.size > 0
    held = min(wave, n_chunks)
    du_parts = np.empty((held, 4, c_in, o_n) if need_w else (held, 0, 0, 0), x.dtype)
    for w0 in range(0, n_chunks, wave):
        w1 = min(n_chunks, w0 + wave)
        for lane in prange(lanes):
            for i in range(w0 + lane, w1, lanes):
                n0 = i * chunk
                _backward_chunk(x, u_t, grad_out, grad_x, du_parts[i - w0], n0,
                                min(chunk, n - n0), p, s_n, xb_bufs[lane], v_bufs[lane],
                                m_bufs[lane], a_bufs[lane])
        if need_w:                   # the chunks' sums added in chunk order, as in the loop
            for i in range(w0, w1):
                du += du_parts[i - w0]


def chunk_size(n, c_in, o_n, s_n):
    """Samples per chunk (>= 1) of S pairs each: products of at most SMALL_PRODUCT
    multiply-adds (S·C·O per sample), buffers of at most CHUNK_ELEMENTS numbers (the
    backward's, about (2S + 2)(4C + 2O) per sample); both from conv1d.py."""
    rows = 2 * s_n + 2
    return max(1, min(n, CHUNK_ELEMENTS // (rows * (4 * c_in + 2 * o_n)),
                      SMALL_PRODUCT // max(1, s_n * c_in * o_n)))


def conv1d_forward(x, w, b, out, p):
    """out = conv1d(x, w) + b at stride 1 with p zero steps of padding on both sides, for
    three taps: as conv1d.conv1d_forward. x (N, C, L), w (O, C, 3), b (O,) or (0,),
    out (N, O, Lo), Lo = L + 2p - 2."""
    n, c_in = x.shape[0], x.shape[1]
    s_n = -(-out.shape[2] // 2)
    chunk = chunk_size(n, c_in, w.shape[0], s_n)
    drive(-(-n // chunk), _forward_serial, _forward_lanes, x, _weight_points(w), b, out,
          chunk, p, s_n)


def conv1d_backward(x, w, grad_out, grad_x, grad_w, p):
    """Gradients of conv1d_forward (without the bias's), as conv1d.conv1d_backward; a grad
    array of size 0 is skipped. x (N, C, L), w (O, C, 3), grad_out (N, O, Lo)."""
    n, c_in, o_n = x.shape[0], x.shape[1], w.shape[0]
    s_n = -(-grad_out.shape[2] // 2)
    u_t = np.ascontiguousarray(_weight_points(w).transpose(0, 2, 1))   # (4, O, C)
    du = np.zeros((4, c_in, o_n) if grad_w.size > 0 else (0, 0, 0), x.dtype)
    chunk = chunk_size(n, c_in, o_n, s_n)
    n_chunks = -(-n // chunk)
    drive(n_chunks, _backward_serial, _backward_lanes, x, u_t, grad_out, grad_x, du, chunk, p,
          s_n, lanes_args=(wave(n_chunks, 4 * c_in * o_n),))
    if grad_w.size > 0:
        _weight_points_adjoint(du, grad_w)
