"""Row-wise log-softmax and the classification losses on the GPU.

log-softmax and cross-entropy run one thread per row (a row is one sample's K
class scores, K small), summing serially in the same order as the CPU kernel;
binary cross-entropy is element-wise, one thread per element. The maths
matches kernels/cpu/loss.py line by line (max(a, b) is written as a conditional:
the builtin failed to compile in an offline PTX build with numba 0.68).
"""
import math

from numba import cuda

from ._gemm import launch_1d


@cuda.jit(device=True)
def _log_softmax_row(x, out, n):
    """out[n, k] = x[n, k] - max_j x[n, j] - log sum_j exp(x[n, j] - max)"""
    m = x[n, 0]
    for k in range(1, x.shape[1]):
        m = x[n, k] if x[n, k] > m else m
    s = 0.0
    for k in range(x.shape[1]):
        s += math.exp(x[n, k] - m)
    lse = m + math.log(s)
    for k in range(x.shape[1]):
        out[n, k] = x[n, k] - lse


@cuda.jit
def _log_softmax_forward_kernel(x, out):
    n = cuda.grid(1)
    if n < x.shape[0]:
        _log_softmax_row(x, out, n)


@cuda.jit
def _log_softmax_backward_kernel(out, grad_out, grad_x):
    n = cuda.grid(1)
    if n < out.shape[0]:
        s = 0.0
        for k in range(out.shape[1]):
            s += grad_out[n, k]
        for k in range(out.shape[1]):
            grad_x[n, k] = grad_out[n, k] - math.exp(out[n, k]) * s


@cuda.jit
def _cross_entropy_forward_kernel(logits, target, logp, losses):
    n = cuda.grid(1)
    if n < logits.shape[0]:
        _log_softmax_row(logits, logp, n)
        losses[n] = -logp[n, target[n]]


@cuda.jit
def _cross_entropy_backward_kernel(logp, target, grad_losses, grad_logits):
    n = cuda.grid(1)
    if n < logp.shape[0]:
        for k in range(logp.shape[1]):
            grad_logits[n, k] = grad_losses[n] * math.exp(logp[n, k])
        grad_logits[n, target[n]] -= grad_losses[n]


@cuda.jit
def _bce_forward_kernel(x, y, pos_weight, losses):
    e = cuda.grid(1)
    if e < x.size:
        n, k = e // x.shape[1], e % x.shape[1]
        v = x[n, k]
        sp_neg = (-v if v < 0 else 0.0) + math.log1p(math.exp(-abs(v)))  # softplus(-x) = -log σ(x)
        sp_pos = sp_neg + v                                      # softplus(x)
        losses[n, k] = pos_weight[k] * y[n, k] * sp_neg + (1 - y[n, k]) * sp_pos


@cuda.jit
def _bce_backward_kernel(x, y, pos_weight, grad_losses, grad_x, grad_y):
    e = cuda.grid(1)
    if e < x.size:
        n, k = e // x.shape[1], e % x.shape[1]
        v = x[n, k]
        if v >= 0:
            s = 1 / (1 + math.exp(-v))
        else:
            s = math.exp(v) / (1 + math.exp(v))
        g = grad_losses[n, k]
        grad_x[n, k] = g * ((1 - y[n, k]) * s - pos_weight[k] * y[n, k] * (1 - s))
        if grad_y.shape[0] > 0:
            sp_neg = (-v if v < 0 else 0.0) + math.log1p(math.exp(-abs(v)))
            grad_y[n, k] = g * (pos_weight[k] * sp_neg - (sp_neg + v))


def _rows(kernel, n, *args):
    if n:
        blocks, threads = launch_1d(n)
        kernel[blocks, threads](*args)


def log_softmax_forward(x, out):
    """out[n, k] = x[n, k] - max_j x[n, j] - log sum_j exp(x[n, j] - max)  for x (N, K)"""
    _rows(_log_softmax_forward_kernel, x.shape[0], x, out)


def log_softmax_backward(out, grad_out, grad_x):
    """dx[n, k] = g[n, k] - softmax[n, k] · sum_j g[n, j]"""
    _rows(_log_softmax_backward_kernel, out.shape[0], out, grad_out, grad_x)


def cross_entropy_forward(logits, target, logp, losses):
    """losses[n] = -log softmax(logits[n])[target[n]];  logp (N, K) is kept for backward."""
    _rows(_cross_entropy_forward_kernel, logits.shape[0], logits, target, logp, losses)


def cross_entropy_backward(logp, target, grad_losses, grad_logits):
    """dlogits[n, k] = g[n] · (softmax[n, k] - [k == target[n]])"""
    _rows(_cross_entropy_backward_kernel, logp.shape[0], logp, target, grad_losses, grad_logits)


def bce_with_logits_forward(x, y, pos_weight, losses):
    """losses = -(w·y·log σ(x) + (1-y)·log(1-σ(x))),  w = pos_weight (broadcast over rows).

    Uses log σ(x) = -softplus(-x) and log(1-σ(x)) = -softplus(x), with the stable
    softplus(z) = max(z, 0) + log1p(exp(-|z|)). All arrays are (N, K); pos_weight (K,).
    """
    _rows(_bce_forward_kernel, x.size, x, y, pos_weight, losses)


def bce_with_logits_backward(x, y, pos_weight, grad_losses, grad_x, grad_y):
    """dx = g · ((1-y)·σ(x) - w·y·(1-σ(x)));  dy = g · (w·softplus(-x) - softplus(x))

    A (0, 0) grad_y skips the target gradient.
    """
    _rows(_bce_backward_kernel, x.size, x, y, pos_weight, grad_losses, grad_x, grad_y)
