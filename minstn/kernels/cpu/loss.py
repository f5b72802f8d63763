"""Row-wise log-softmax and the two classification losses, fused with their gradients."""
import numpy as np
from numba import njit


@njit(cache=True)
def log_softmax_forward(x, out):
    """out[n, k] = x[n, k] - max_j x[n, j] - log sum_j exp(x[n, j] - max)  for x (N, K)"""
    for n in range(x.shape[0]):
        m = x[n, 0]
        for k in range(1, x.shape[1]):
            m = max(m, x[n, k])
        s = 0.0
        for k in range(x.shape[1]):
            s += np.exp(x[n, k] - m)
        lse = m + np.log(s)
        for k in range(x.shape[1]):
            out[n, k] = x[n, k] - lse


@njit(cache=True)
def log_softmax_backward(out, grad_out, grad_x):
    """dx[n, k] = g[n, k] - softmax[n, k] · sum_j g[n, j]"""
    for n in range(out.shape[0]):
        s = 0.0
        for k in range(out.shape[1]):
            s += grad_out[n, k]
        for k in range(out.shape[1]):
            grad_x[n, k] = grad_out[n, k] - np.exp(out[n, k]) * s


@njit(cache=True)
def cross_entropy_forward(logits, target, logp, losses):
    """losses[n] = -log softmax(logits[n])[target[n]];  logp (N, K) is kept for backward."""
    log_softmax_forward(logits, logp)
    for n in range(logits.shape[0]):
        losses[n] = -logp[n, target[n]]


@njit(cache=True)
def cross_entropy_backward(logp, target, grad_losses, grad_logits):
    """dlogits[n, k] = g[n] · (softmax[n, k] - [k == target[n]])"""
    for n in range(logp.shape[0]):
        for k in range(logp.shape[1]):
            grad_logits[n, k] = grad_losses[n] * np.exp(logp[n, k])
        grad_logits[n, target[n]] -= grad_losses[n]


@njit(cache=True)
def bce_with_logits_forward(x, y, pos_weight, losses):
    """losses = -(w·y·log σ(x) + (1-y)·log(1-σ(x))),  w = pos_weight (broadcast over rows).

    Uses log σ(x) = -softplus(-x) and log(1-σ(x)) = -softplus(x), with the stable
    softplus(z) = max(z, 0) + log1p(exp(-|z|)). All arrays are (N, K); pos_weight (K,).
    """
    for n in range(x.shape[0]):
        for k in range(x.shape[1]):
            v = x[n, k]
            sp_neg = max(-v, 0.0) + np.log1p(np.exp(-abs(v)))   # softplus(-x) = -log σ(x)
            sp_pos = sp_neg + v                                  # softplus(x)
            losses[n, k] = pos_weight[k] * y[n, k] * sp_neg + (1 - y[n, k]) * sp_pos


@njit(cache=True)
def bce_with_logits_backward(x, y, pos_weight, grad_losses, grad_x, grad_y):
    """dx = g · ((1-y)·σ(x) - w·y·(1-σ(x)));  dy = g · (w·softplus(-x) - softplus(x))

    A (0, 0) grad_y skips the target gradient.
    """
    want_y = grad_y.shape[0] > 0
    for n in range(x.shape[0]):
        for k in range(x.shape[1]):
            v = x[n, k]
            if v >= 0:
                s = 1 / (1 + np.exp(-v))
            else:
                s = np.exp(v) / (1 + np.exp(v))
            g = grad_losses[n, k]
            grad_x[n, k] = g * ((1 - y[n, k]) * s - pos_weight[k] * y[n, k] * (1 - s))
            if want_y:
                sp_neg = max(-v, 0.0) + np.log1p(np.exp(-abs(v)))
                grad_y[n, k] = g * (pos_weight[k] * sp_neg - (sp_neg + v))
