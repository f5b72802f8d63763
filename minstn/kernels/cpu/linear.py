"""Fully connected layer: y = x W^T + b, with BLAS doing the matrix products."""
from numba import njit

from ._gemm import gemm


@njit(cache=True)
def linear_forward(x, w, b, out):
    """out (N,O) = x (N,I) @ w (O,I)^T + b (O,).  b of length 0 means no bias."""
    gemm(x, False, w, True, out)
    if b.shape[0] > 0:
        out += b


@njit(cache=True)
def linear_backward(x, w, grad_out, grad_x, grad_w, grad_b):
    """dx = g W (N,I);  dW = g^T x (O,I);  db = sum_n g (O,).

    A length-0 grad array skips that gradient (e.g. the input of a first layer).
    """
    if grad_x.shape[0] > 0:
        gemm(grad_out, False, w, False, grad_x)
    if grad_w.shape[0] > 0:
        gemm(grad_out, True, x, False, grad_w)
    if grad_b.shape[0] > 0:
        grad_b[:] = grad_out.sum(axis=0)
