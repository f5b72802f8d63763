"""LSTM over a whole sequence: one forward kernel call, one BPTT backward kernel call.

Per step t (gate order i, f, g, o as PyTorch):
    a_t = x_t W_ih^T + b + h_{t-1} W_hh^T                 (N, 4H) pre-activations
    i, f, g, o = σ(a_i), σ(a_f), tanh(a_g), σ(a_o)
    c_t = f c_{t-1} + i g,   h_t = o tanh(c_t)

The saved arrays are time-major, (T, N, ·), so that each step's rows lie together: the
element-wise loops of a step read and write one block of each array, and the step's
products take their rows in place. BLAS does the matrix products:
- forward: the input projection of all T steps, one (T·N, D) x (D, 4H) product over a
  time-major copy of the input (xt) before the loop, and one (N, H) x (H, 4H) product per step;
- backward: the steps in reverse, dA_t (N, 4H) overwriting step t's gates, and one
  (N, 4H) x (4H, H) product per step; then the products over all steps and samples:
  dX = dA W_ih, dW_ih = dA^T X and dW_hh = dA^T H_prev, their sums in (t, n) row order.

The element-wise work between the products runs in simple loops that LLVM
vectorises: σ and tanh need exp, and a libm exp call per element would
cost more than all the products together at small H, so the exps of a step are
computed in one vectorised pass (`_exp_nonpositive`), in the input's precision
(float32 runs twice as many SIMD lanes as float64). error_model="numpy" drops
the ZeroDivisionError checks that would stop vectorisation. No fastmath flags, not
even "contract": with it, the code Numba compiled in the running process and the code
it loaded from its on-disk cache fused different multiply-adds, so a run's last bits
depended on whether the kernels had been compiled in that process
(tests/test_numba_cache.py checks that they do not).

Threads: with one Numba thread the kernels are the plain loops above, and the BLAS
may use threads of its own inside the products. With several, the work is cut into
lanes, one per Numba thread, each running its products on one BLAS thread (`_threads.py`).
The recurrence couples the steps of a sample, never two samples, so the steps run in lanes
of samples, contiguous blocks of them, each lane all T steps. The products over all steps
run in lanes of steps instead (blocks of whole rows): the input projection and dX by rows,
and each weight gradient as one share per lane, the shares added in lane order. Results
are deterministic for a given thread count, and equal to the serial kernels' up to the last
bits (OpenBLAS chooses its kernel by the product's size, a lane's products are smaller, and a
weight gradient is summed in parts).

Nothing is allocated inside the time loops.
"""

import numpy as np
from numba import njit, prange

from ._gemm import gemm
from ._threads import drive

from .._scalar import lstm_cell_backward, sigmoid_e, tanh_e

_INV_FACT = (1.0, 1.0, 1 / 2, 1 / 6, 1 / 24, 1 / 120, 1 / 720, 1 / 5040, 1 / 40320,
             1 / 362880, 1 / 3628800, 1 / 39916800, 1 / 479001600)       # 1/j!, j = 0..12
# (1/ln 2, ln 2 split as hi + lo with hi so short that k * hi is exact for |k| <= 1100)
_CONST64 = (1.4426950408889634, 0.6931471803691238, 1.9082149292705877e-10)
_CONST32 = (1.4426950408889634, 0.693359375, -2.1219444005469057e-4)


@njit(cache=True, error_model="numpy")
def _exp_nonpositive(z, bits):
    """z <- exp(z) in place for a flat float32 or float64 array z ≤ 0; bits: int64 scratch
    of z.size entries.

    exp(z) = 2^k e^r with k = round(z / ln 2), r = z - k ln 2, |r| ≤ ln2 / 2; e^r is its
    Taylor series and 2^k is built from its IEEE-754 bits. Pure arithmetic, so the loops
    vectorise, unlike a libm call. NaN stays NaN. Each precision has its own loop
    (`_exp64`, `_exp32`), so that a float32 array never meets float64 maths: float32 runs
    twice as many SIMD lanes.
    """
    if z.itemsize == 4:
        _exp32(z, bits[:(z.size + 1) // 2].view(np.int32))
    else:
        _exp64(z, bits)


@njit(cache=True, error_model="numpy")
def _exp64(z, bits):
    """float64: the series to r^12 (truncation < 2e-16 relative); 2^k = (k + 1023) << 52.
    z below -708 gives exp(-708) ≈ 3e-308 (never garbage)."""
    for m in range(z.size):
        x = z[m] if not z[m] < -708.0 else -708.0
        k = np.floor(x * _CONST64[0] + 0.5)
        k = k if k == k else 0.0                 # NaN in: NaN out (via r); cast stays defined
        r = x - k * _CONST64[1] - k * _CONST64[2]
        p = _INV_FACT[12]
        for j in range(11, -1, -1):              # Horner, unrolled by LLVM
            p = p * r + _INV_FACT[j]
        z[m] = p
        bits[m] = (np.int64(k) + 1023) << 52
    two_k = bits[:z.size].view(np.float64)
    for m in range(z.size):
        z[m] *= two_k[m]


@njit(cache=True, error_model="numpy")
def _exp32(z, bits):
    """float32, in float32 maths: the series to r^7 (truncation < 6e-9 relative, below
    float32's 6e-8 rounding); 2^k = (k + 127) << 23. Where exp(z) is below float32's
    smallest normal (z < ln 2^-126) the result is 0, never a slow subnormal."""
    c = np.empty(12, z.dtype)                    # constants in z's dtype: a float64 literal
    for j in range(8):                           # would promote the maths to float64
        c[j] = _INV_FACT[j]                      # 1/j!, j = 0..7 (c[2] = 1/2 also rounds k)
    c[8], c[9], c[10] = _CONST32                 # 1/ln2, ln2 hi, ln2 lo
    c[11] = -87.33654                            # ln 2^-126
    for m in range(z.size):
        low = z[m] < c[11]
        x = z[m] if not low else c[11]
        k = np.floor(x * c[8] + c[2])
        k = k if k == k else c[0] - c[0]         # NaN in: NaN out (via r); cast stays defined
        r = x - k * c[9] - k * c[10]
        p = c[7]
        for j in range(6, -1, -1):
            p = p * r + c[j]
        z[m] = p if not low else c[0] - c[0]
        bits[m] = (np.int32(k) + 127) << 23
    two_k = bits[:z.size].view(np.float32)
    for m in range(z.size):
        z[m] *= two_k[m]


@njit(cache=True, error_model="numpy")
def _swap_leading(src, dst):
    """dst[j, i] = src[i, j] for (A, B, D) -> (B, A, D): batch-major to time-major or back.
    Rows of D numbers move whole; src is read in order."""
    for i in range(src.shape[0]):
        for j in range(src.shape[1]):
            dst[j, i] = src[i, j]


@njit(cache=True, error_model="numpy")
def _recur(h0, c0, w_hh, bias, out, h_n, c_n, gates, cs, tcs, hp, n0, n1):
    """The forward's loop over the steps, for samples n0 .. n1-1 (all N, or a lane's block),
    once gates holds every step's x_t W_ih^T; see _forward_serial. The arrays come whole
    and a lane indexes its rows: a view of a block of the second axis would be a strided
    array to Numba, and its loops would not vectorise."""
    T, G = gates.shape[0], gates.shape[2]
    H = G // 4
    nb = n1 - n0
    h_n[n0:n1] = h0[n0:n1]                       # running h_{t-1}, ends as h_T
    c_n[n0:n1] = c0[n0:n1]                       # running c_{t-1}, ends as c_T
    a = np.empty((nb, G), gates.dtype)           # h_{t-1} W_hh^T
    e = np.empty((nb, G), gates.dtype)           # exp(-k|a|)
    ec = np.empty((nb, H), gates.dtype)          # exp(-|c_t|)
    bits = np.empty(nb * G, np.int64)            # scratch of _exp_nonpositive
    k = np.ones(G, gates.dtype)                  # tanh(a) = 2 σ(2a) - 1: k = 2 on the g gate
    k[2 * H:3 * H] = 2.0
    one = k[0]                                   # 1 in the dtype (a literal 1.0 is float64)
    for t in range(T):
        gemm(h_n[n0:n1], False, w_hh, True, a)  # h_{t-1} W_hh^T  (nb, 4H)
        for n in range(n0, n1):
            at, gt, et = a[n - n0], gates[t, n], e[n - n0]     # (4H,) rows
            for j in range(G):
                v = gt[j] + at[j] + bias[j]
                gt[j] = v                        # pre-activation, activated below
                et[j] = -k[j] * abs(v)
        _exp_nonpositive(e.reshape(nb * G), bits)
        for n in range(n0, n1):
            gt, et, cp, ct, ecn = gates[t, n], e[n - n0], c_n[n], cs[t, n], ec[n - n0]
            for j in range(G):                   # i, f, o = σ(a);  g = 2 σ(2a) - 1 = tanh(a)
                gt[j] = k[j] * sigmoid_e(gt[j], et[j], one) - (k[j] - one)
            for j in range(H):
                c = gt[H + j] * cp[j] + gt[j] * gt[2 * H + j]   # f c_{t-1} + i g
                ct[j] = c
                cp[j] = c
                ecn[j] = -abs(c)
        _exp_nonpositive(ec.reshape(nb * H), bits[:nb * H])
        for n in range(n0, n1):
            gt, ct, ecn, tct, hpt, ot, hn = (gates[t, n], cs[t, n], ec[n - n0], tcs[t, n],
                                             hp[t, n], out[n, t], h_n[n])
            for j in range(H):
                tc = tanh_e(ct[j], ecn[j], one)
                tct[j] = tc
                hpt[j] = hn[j]                   # h_{t-1}
                h = gt[3 * H + j] * tc           # o tanh(c)
                ot[j] = h
                hn[j] = h


@njit(cache=True, error_model="numpy")
def _forward_serial(x, h0, c0, w_ih, w_hh, bias, out, h_n, c_n, gates, cs, tcs, hp, xt):
    """Run the LSTM over all T steps.

    x (N,T,D), h0 c0 (N,H), w_ih (4H,D), w_hh (4H,H), bias (4H,) = b_ih + b_hh.
    Writes out (N,T,H) = h_1..h_T, h_n c_n (N,H) = h_T, c_T, and, for backward,
    time-major: gates (T,N,4H) = post-activation i,f,g,o, cs tcs (T,N,H) = c_t, tanh(c_t),
    hp (T,N,H) = h_{t-1}, xt (T,N,D) = x_t.
    """
    T, N, G = gates.shape
    _swap_leading(x, xt)                         # xt (T, N, D)
    gemm(xt.reshape(T * N, xt.shape[2]), False, w_ih, True, gates.reshape(T * N, G))
    _recur(h0, c0, w_hh, bias, out, h_n, c_n, gates, cs, tcs, hp, 0, N)


@njit(cache=True, error_model="numpy")
def _bptt_samples(c0, w_hh, gates, cs, tcs, grad_out, grad_h_n, grad_c_n, grad_h0, grad_c0,
                  n0, n1):
    """The backward's loop over the steps, for samples n0 .. n1-1 (whole arrays, as in
    _recur): overwrites their rows of `gates` with dA and writes grad_h0, grad_c0 (see
    _backward_serial)."""
    T, N, G = gates.shape
    H = G // 4
    grad_h0[n0:n1] = grad_h_n[n0:n1]             # running dL/dh_t from step t+1
    grad_c0[n0:n1] = grad_c_n[n0:n1]             # running dL/dc_t from step t+1
    for t in range(T - 1, -1, -1):
        for n in range(n0, n1):
            gt, tct, got = gates[t, n], tcs[t, n], grad_out[n, t]      # gt: i, f, g, o → dA_t
            cp = cs[t - 1, n] if t > 0 else c0[n]          # c_{t-1}
            dh, dc = grad_h0[n], grad_c0[n]
            for j in range(H):
                dai, daf, dag, dao, dcp = lstm_cell_backward(
                    gt[j], gt[H + j], gt[2 * H + j], gt[3 * H + j], tct[j], cp[j],
                    got[j] + dh[j], dc[j])
                gt[j], gt[H + j], gt[2 * H + j], gt[3 * H + j] = dai, daf, dag, dao
                dc[j] = dcp
        gemm(gates[t, n0:n1], False, w_hh, False, grad_h0[n0:n1])  # dh_{t-1} = dA_t W_hh


@njit(cache=True)
def _grad_b(dA, grad_b):
    """grad_b = the sum of dA's rows, (T*N, 4H) -> (4H,), in row order: deterministic."""
    grad_b[:] = 0
    for r in range(dA.shape[0]):
        dar = dA[r]
        for j in range(dA.shape[1]):
            grad_b[j] += dar[j]


@njit(cache=True, error_model="numpy")
def _step_products(dA, w_ih, xt, hp, gxt, grad_x, grad_w_ih, grad_w_hh):
    """The backward's products over a block of steps (all of them, or a lane's), all samples:
    dX = dA W_ih (into gxt, then batch-major into grad_x), and the block's dW_ih = dA^T X and
    dW_hh = dA^T H_prev; a size-0 grad_x / grad_w_ih / grad_w_hh is skipped.
    dA, xt, hp, gxt (T', N, ·) time-major; grad_x (N, T', D)."""
    tb, N, G = dA.shape
    rows, D, H = tb * N, xt.shape[2], hp.shape[2]
    d2 = dA.reshape(rows, G)                     # rows in (t, n) order
    if grad_x.size > 0:
        gemm(d2, False, w_ih, False, gxt.reshape(rows, D))
        _swap_leading(gxt, grad_x)
    if grad_w_ih.size > 0:                       # (gemm writes 0 for a block without steps)
        gemm(d2, True, xt.reshape(rows, D), False, grad_w_ih)
    if grad_w_hh.size > 0:
        gemm(d2, True, hp.reshape(rows, H), False, grad_w_hh)


@njit(cache=True, error_model="numpy")
def _backward_serial(c0, w_ih, w_hh, gates, cs, tcs, hp, xt, grad_out, grad_h_n, grad_c_n,
                     grad_x, grad_h0, grad_c0, grad_w_ih, grad_w_hh, grad_b):
    """Backpropagation through time for `lstm_forward`.

    Inputs as saved by the forward, plus grad_out (N,T,H), grad_h_n grad_c_n (N,H).
    Writes grad_h0 grad_c0 (N,H), grad_x (N,T,D), grad_w_ih (4H,D), grad_w_hh (4H,H)
    and grad_b (4H,) (the gradient of b_ih and of b_hh alike); a size-0
    grad_x / grad_w_ih / grad_w_hh / grad_b is skipped. Overwrites `gates` with the
    gate gradients dA (step t's gates are last read at step t), saving an array.
        dA_t = lstm_cell_backward(gates_t, dh_t, dc_t)          (N, 4H)
        dh_{t-1} = dA_t W_hh,  dc_{t-1} = (dc_t + dh_t o (1 - tanh² c_t)) f
        dX = dA W_ih,  dW_ih = dA^T X,  dW_hh = dA^T H_prev,  db = Σ_{t,n} dA
    """
    T, N, G = gates.shape
    D = xt.shape[2]
    _bptt_samples(c0, w_hh, gates, cs, tcs, grad_out, grad_h_n, grad_c_n, grad_h0, grad_c0,
                  0, N)
    gxt = np.empty((T, N, D) if grad_x.size > 0 else (0, 0, 0), gates.dtype)
    _step_products(gates, w_ih, xt, hp, gxt, grad_x, grad_w_ih, grad_w_hh)
    if grad_b.size > 0:
        _grad_b(gates.reshape(T * N, G), grad_b)


# Lanes on Numba's threads (the module's docstring says why and how): the steps by samples,
# the products over all steps by steps.
@njit(cache=True, error_model="numpy", parallel=True)
def _forward_lanes(x, h0, c0, w_ih, w_hh, bias, out, h_n, c_n, gates, cs, tcs, hp, xt, lanes):
    T, N, G = gates.shape
    D = xt.shape[2]
    for lane in prange(lanes):                   # x_t W_ih^T for a block of steps
        t0, t1 = lane * T // lanes, (lane + 1) * T // lanes
        _swap_leading(x[:, t0:t1], xt[t0:t1])
        gemm(xt[t0:t1].reshape((t1 - t0) * N, D), False, w_ih, True,
             gates[t0:t1].reshape((t1 - t0) * N, G))
    for lane in prange(lanes):                   # all steps for a block of samples
        _recur(h0, c0, w_hh, bias, out, h_n, c_n, gates, cs, tcs, hp,
               lane * N // lanes, (lane + 1) * N // lanes)


@njit(cache=True, error_model="numpy", parallel=True)
def _backward_lanes(c0, w_ih, w_hh, gates, cs, tcs, hp, xt, grad_out, grad_h_n, grad_c_n,
                    grad_x, grad_h0, grad_c0, grad_w_ih, grad_w_hh, grad_b, lanes):
    T, N, G = gates.shape
    D, H = xt.shape[2], G // 4
    for lane in prange(lanes):                   # all steps for a block of samples
        _bptt_samples(c0, w_hh, gates, cs, tcs, grad_out, grad_h_n, grad_c_n, grad_h0,
                      grad_c0, lane * N // lanes, (lane + 1) * N // lanes)
    need_x, need_ih, need_hh = grad_x.size > 0, grad_w_ih.size > 0, grad_w_hh.size > 0
    gxt = np.empty((T, N, D) if need_x else (0, 0, 0), gates.dtype)
    part_ih = np.empty((lanes, G, D) if need_ih else (lanes, 0, 0), gates.dtype)
    part_hh = np.empty((lanes, G, H) if need_hh else (lanes, 0, 0), gates.dtype)
    for lane in prange(lanes):                   # the products, for a block of steps
        t0, t1 = lane * T // lanes, (lane + 1) * T // lanes
        _step_products(gates[t0:t1], w_ih, xt[t0:t1], hp[t0:t1], gxt[t0:t1],
                       grad_x[:, t0:t1], part_ih[lane], part_hh[lane])
    if need_ih:                                  # the shares added in lane order
        grad_w_ih[:] = part_ih[0]
        for lane in range(1, lanes):
            grad_w_ih += part_ih[lane]
    if need_hh:
        grad_w_hh[:] = part_hh[0]
        for lane in range(1, lanes):
            grad_w_hh += part_hh[lane]
    if grad_b.size > 0:
        _grad_b(gates.reshape(T * N, G), grad_b)


def lstm_saved_arrays(N, T, D, H, dtype):
    """The arrays the forward fills for the backward, in this backend's layout (time-major):
    (gates (T,N,4H), cs, tcs and hp (T,N,H), xt (T,N,D))."""
    return (np.empty((T, N, 4 * H), dtype),) + tuple(
        np.empty((T, N, H), dtype) for _ in range(3)) + (np.empty((T, N, D), dtype),)


def lstm_forward(x, h0, c0, w_ih, w_hh, bias, out, h_n, c_n, saved):
    """Run the LSTM over all T steps: shapes and outputs as in `_forward_serial`; saved: the
    tuple from `lstm_saved_arrays`, filled here for the backward."""
    drive(x.shape[0], _forward_serial, _forward_lanes,
          x, h0, c0, w_ih, w_hh, bias, out, h_n, c_n, *saved)


def lstm_backward(x, c0, w_ih, w_hh, saved, grad_out, grad_h_n, grad_c_n,
                  grad_x, grad_h0, grad_c0, grad_w_ih, grad_w_hh, grad_b):
    """Backpropagation through time for `lstm_forward` (`_backward_serial` says how). x is
    not read here (saved holds it, time-major); the CUDA twin reads it."""
    drive(x.shape[0], _backward_serial, _backward_lanes,
          c0, w_ih, w_hh, *saved, grad_out, grad_h_n, grad_c_n,
          grad_x, grad_h0, grad_c0, grad_w_ih, grad_w_hh, grad_b)
