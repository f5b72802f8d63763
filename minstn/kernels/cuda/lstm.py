"""LSTM over a whole sequence on the GPU: the same steps as kernels/cpu/lstm.py.

Per step t (gate order i, f, g, o as PyTorch):
    a_t = x_t W_ih^T + b + h_{t-1} W_hh^T                 (N, 4H) pre-activations
    i, f, g, o = σ(a_i), σ(a_f), tanh(a_g), σ(a_o)
    c_t = f c_{t-1} + i g,   h_t = o tanh(c_t)

The matrix products are the tiled `gemm`: the input projection of all T steps
is one (N·T, D) x (D, 4H) product before the loop, and each step adds one
(N, H) x (H, 4H) product, followed by one cell kernel with a thread per (n, j),
j < H, which activates the four gates of unit j (σ and tanh of `_scalar`, in
float64; the CPU kernel works in the input's dtype) and updates c and h. Backward runs the steps in reverse: a cell kernel
(`_scalar.lstm_cell_backward` per (n, j)) writes the gate gradients dA_t, and a
gemm gives dh_{t-1} = dA_t W_hh; then dX = dA W_ih, dW_ih = dA^T X and
dW_hh = dA^T H_prev are three gemms and db a `sum_middle`. Each sum is owned by
one thread or one block and runs in a fixed order: no atomics, bit-identical
gradients from run to run. The host loops over t (2 launches per step).
"""
from numba import cuda

from ._device import d
from ._gemm import gemm, launch_1d, sum_middle


@cuda.jit
def _cell_forward_kernel(t, a, bias, gates, cs, tcs, hprev, out, h_n, c_n):
    """Step t for unit (n, j): gates[n, t] pre-activations x_t W_ih^T (+ a = h W_hh^T + b)
    -> activated gates; c_n, h_n (running c_{t-1}, h_{t-1}) -> c_t, h_t."""
    e = cuda.grid(1)
    n_all, hid = h_n.shape
    if e < n_all * hid:
        n, j = e // hid, e % hid
        for q in range(4):
            k = q * hid + j
            v = gates[n, t, k] + a[n, k] + bias[k]
            gates[n, t, k] = d.tanh(float(v)) if q == 2 else d.sigmoid(float(v))
        c = gates[n, t, hid + j] * c_n[n, j] + gates[n, t, j] * gates[n, t, 2 * hid + j]
        cs[n, t, j] = c
        c_n[n, j] = c
        tc = d.tanh(float(c))                     # float64 (the CPU: the input's dtype)
        tcs[n, t, j] = tc
        hprev[n, t, j] = h_n[n, j]
        h = gates[n, t, 3 * hid + j] * tc
        out[n, t, j] = h
        h_n[n, j] = h


@cuda.jit
def _cell_backward_kernel(t, c0, gates, cs, tcs, grad_out, dh, dc, da):
    """Step t for unit (n, j): gates[n, t] <- dA_t (also copied to da (N, 4H));
    dc (N, H) <- dL/dc_{t-1}; dh (N, H) holds dL/dh_t from step t+1 (read only)."""
    e = cuda.grid(1)
    n_all, hid = dc.shape
    if e < n_all * hid:
        n, j = e // hid, e % hid
        cp = cs[n, t - 1, j] if t > 0 else c0[n, j]
        dai, daf, dag, dao, dcp = d.lstm_cell_backward(
            gates[n, t, j], gates[n, t, hid + j], gates[n, t, 2 * hid + j],
            gates[n, t, 3 * hid + j], tcs[n, t, j], cp, grad_out[n, t, j] + dh[n, j], dc[n, j])
        gates[n, t, j] = dai
        gates[n, t, hid + j] = daf
        gates[n, t, 2 * hid + j] = dag
        gates[n, t, 3 * hid + j] = dao
        for q in range(4):
            da[n, q * hid + j] = gates[n, t, q * hid + j]
        dc[n, j] = dcp


def lstm_saved_arrays(N, T, D, H, dtype):
    """The arrays the forward fills for the backward, in this backend's layout (batch-major;
    the CPU twin's are time-major): (gates (N,T,4H), cs, tcs and hprev (N,T,H))."""
    return (cuda.device_array((N, T, 4 * H), dtype),) + tuple(
        cuda.device_array((N, T, H), dtype) for _ in range(3))


def lstm_forward(x, h0, c0, w_ih, w_hh, bias, out, h_n, c_n, saved):
    """Run the LSTM over all T steps.

    x (N,T,D), h0 c0 (N,H), w_ih (4H,D), w_hh (4H,H), bias (4H,) = b_ih + b_hh.
    Writes out (N,T,H) = h_1..h_T, h_n c_n (N,H) = h_T, c_T, and, for backward, saved
    (`lstm_saved_arrays`): gates (N,T,4H) = post-activation i,f,g,o, cs tcs (N,T,H) = c_t,
    tanh(c_t), hprev (N,T,H) = h_{t-1}.
    """
    gates, cs, tcs, hprev = saved
    N, T, D = x.shape
    H = h0.shape[1]
    G = 4 * H
    gemm(x.reshape(N * T, D), w_ih, gates.reshape(N * T, G), False, True, False)  # x_t W_ih^T
    h_n.copy_to_device(h0)                       # running h_{t-1}, ends as h_T
    c_n.copy_to_device(c0)                       # running c_{t-1}, ends as c_T
    if N * H == 0:
        return
    a = cuda.device_array((N, G), x.dtype)       # h_{t-1} W_hh^T
    blocks, threads = launch_1d(N * H)
    for t in range(T):
        gemm(h_n, w_hh, a, False, True, False)
        _cell_forward_kernel[blocks, threads](t, a, bias, gates, cs, tcs, hprev, out, h_n, c_n)


def lstm_backward(x, c0, w_ih, w_hh, saved, grad_out, grad_h_n, grad_c_n,
                  grad_x, grad_h0, grad_c0, grad_w_ih, grad_w_hh, grad_b):
    """Backpropagation through time for `lstm_forward`.

    Inputs as saved by the forward, plus grad_out (N,T,H), grad_h_n grad_c_n (N,H).
    Writes grad_h0 grad_c0 (N,H), grad_x (N,T,D), grad_w_ih (4H,D), grad_w_hh (4H,H)
    and grad_b (4H,) (the gradient of b_ih and of b_hh alike); a size-0
    grad_x / grad_w_ih / grad_w_hh / grad_b is skipped. Overwrites `gates` with the
    gate gradients dA.
        dA_t = lstm_cell_backward(gates_t, dh_t, dc_t)          (N, 4H)
        dh_{t-1} = dA_t W_hh,  dc_{t-1} = (dc_t + dh_t o (1 - tanh² c_t)) f
        dX = dA W_ih,  dW_ih = dA^T X,  dW_hh = dA^T H_prev,  db = Σ_{n,t} dA
    """
    gates, cs, tcs, hprev = saved
    N, T, D = x.shape
    H = c0.shape[1]
    G = 4 * H
    grad_h0.copy_to_device(grad_h_n)             # running dL/dh_t from step t+1
    grad_c0.copy_to_device(grad_c_n)             # running dL/dc_t from step t+1
    da = cuda.device_array((N, G), x.dtype)      # dA_t, contiguous for gemm
    blocks, threads = launch_1d(max(N * H, 1))
    for t in range(T - 1 if N * H else -1, -1, -1):
        _cell_backward_kernel[blocks, threads](t, c0, gates, cs, tcs, grad_out,
                                               grad_h0, grad_c0, da)
        gemm(da, w_hh, grad_h0, False, False, False)     # dh_{t-1}  (N, H)
    dA = gates.reshape(N * T, G)                 # dA (N*T, 4H)
    if grad_x.size > 0:
        gemm(dA, w_ih, grad_x.reshape(N * T, D), False, False, False)
    if grad_w_ih.size > 0:
        gemm(dA, x.reshape(N * T, D), grad_w_ih, True, False, False)
    if grad_w_hh.size > 0:
        gemm(dA, hprev.reshape(N * T, H), grad_w_hh, True, False, False)
    if grad_b.size > 0:
        sum_middle(dA.reshape(N * T, G, 1), grad_b)
