"""`lstm`: a single-layer LSTM over a whole batch-first sequence, as torch.nn.LSTM.

One `Function` for the whole sequence: forward is one kernel call that runs all T
steps, backward one kernel call that runs backpropagation through time
(kernels/cpu/lstm.py). Gate order i, f, g, o, weights shaped as PyTorch's
weight_ih_l0 (4H, D) and weight_hh_l0 (4H, H).
"""
from ..autograd.function import Function
from ..kernels import backend
from ._check import c, float_tensor


class LSTM(Function):
    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        N, T, D = x.shape
        H = h0.shape[1]
        dt = x.dtype
        be = backend(ctx.device)
        bias = be.zeros((4 * H,), dt)                            # (4H,) = b_ih + b_hh
        for b in (b_ih, b_hh):
            if b is not None:
                be.iadd(bias, c(b))
        x, c0, w_ih, w_hh = c(x), c(c0), c(w_ih), c(w_hh)
        out = be.empty((N, T, H), dt)                            # h_1..h_T
        h_n, c_n = be.empty((N, H), dt), be.empty((N, H), dt)    # h_T, c_T
        # gates i, f, g, o (then dA), c_t, tanh c_t, h_{t-1} (and on the CPU x_t), in the
        # backend's own layout: batch-major on CUDA, time-major on the CPU
        saved = be.lstm_saved_arrays(N, T, D, H, dt)
        be.lstm_forward(x, c(h0), c0, w_ih, w_hh, bias, out, h_n, c_n, saved)
        ctx.save_for_backward(x, c0, w_ih, w_hh, *saved)
        return out, h_n, c_n

    @staticmethod
    def backward(ctx, g_out, g_h_n, g_c_n):
        x, c0, w_ih, w_hh, *saved = ctx.saved_tensors
        needs = ctx.needs_input_grad          # input, h0, c0, w_ih, w_hh, b_ih, b_hh
        be = backend(ctx.device)

        def grad_or_skip(need, shape):        # a size-0 array of the same rank is skipped
            return be.empty(shape if need else (0,) * len(shape), x.dtype)

        gx = grad_or_skip(needs[0], x.shape)                               # (N, T, D)
        gh0, gc0 = be.empty_like(c0), be.empty_like(c0)                    # (N, H)
        gw_ih = grad_or_skip(needs[3], w_ih.shape)                         # (4H, D)
        gw_hh = grad_or_skip(needs[4], w_hh.shape)                         # (4H, H)
        gb = grad_or_skip(needs[5] or needs[6], w_hh.shape[:1])            # (4H,)
        be.lstm_backward(
            x, c0, w_ih, w_hh, tuple(saved), c(g_out), c(g_h_n), c(g_c_n),
            gx, gh0, gc0, gw_ih, gw_hh, gb)
        return tuple(g if need else None for g, need in
                     zip((gx, gh0, gc0, gw_ih, gw_hh, gb, gb), needs))


def lstm(input, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None):
    """Single-layer LSTM over a batch-first sequence; returns (output, (h_T, c_T)).

    input (N, T, D), h0 c0 (N, H), w_ih (4H, D), w_hh (4H, H), b_ih b_hh (4H,) or None
    →  output (N, T, H) = h_1..h_T,  h_T (N, H),  c_T (N, H).  For t = 1..T:
        (i, f, g, o) = (σ, σ, tanh, σ)(x_t w_ih^T + b_ih + h_{t-1} w_hh^T + b_hh), chunks of H
        c_t = f c_{t-1} + i g,   h_t = o tanh(c_t)
    Same as torch.nn.LSTM(D, H, batch_first=True) with h0, c0 of shape (1, N, H).
    """
    float_tensor("input", input, 3)
    N, T, D = input.shape
    if T == 0:
        raise ValueError(f"input must have at least one time step, got shape {input.shape}")
    float_tensor("h0", h0, 2, input.dtype)
    if h0.shape[0] != N:
        raise ValueError(f"h0 must have shape (N, H) with N = {N} from input, got {h0.shape}")
    H = h0.shape[1]
    expected = {"c0": (N, H), "w_ih": (4 * H, D), "w_hh": (4 * H, H),
                "b_ih": (4 * H,), "b_hh": (4 * H,)}
    names = {"c0": "(N, H)", "w_ih": "(4H, D)", "w_hh": "(4H, H)",
             "b_ih": "(4H,)", "b_hh": "(4H,)"}
    for name, t in (("c0", c0), ("w_ih", w_ih), ("w_hh", w_hh), ("b_ih", b_ih), ("b_hh", b_hh)):
        if t is None and name.startswith("b_"):
            continue
        shape = expected[name]
        float_tensor(name, t, len(shape), input.dtype)
        if name == "w_ih" and t.shape[0] == 4 * H and t.shape[1] != D:
            raise ValueError(f"input has {D} features (last dimension of its shape "
                             f"{tuple(input.shape)}) but w_ih {tuple(t.shape)} expects "
                             f"{t.shape[1]}: pass input (N, T, {t.shape[1]})")
        if t.shape != shape:
            raise ValueError(f"{name} must have shape {names[name]} = {shape}, got {t.shape}")
    out, h_n, c_n = LSTM.apply(input, h0, c0, w_ih, w_hh, b_ih, b_hh)
    return out, (h_n, c_n)
