"""Fully connected layer: y = x W^T + b, with BLAS doing the matrix products."""
import numpy as np
from numba import njit


@njit(cache=True)
def linear_forward(x, w, b, out):
    """out (N,O) = x (N,I) @ w (O,I)^T + b (O,).  b of length 0 means no bias."""
    out[:] = np.dot(x, w.T)
    if b.shape[0] > 0:
        out += b


@njit(cache=True)
def linear_backward(x, w, grad_out, grad_x, grad_w, grad_b):
    """dx = g W (N,I);  dW = g^T x (O,I);  db = sum_n g (O,).

    A length-0 grad array skips that gradient (e.g. the input of a first layer).
    """
    if grad_x.shape[0] > 0:
        grad_x[:] = np.dot(grad_out, w)
    if grad_w.shape[0] > 0:
        grad_w[:] = np.dot(grad_out.T, x)
    if grad_b.shape[0] > 0:
        grad_b[:] = grad_out.sum(axis=0)
