"""Fully connected layer on the GPU: y = x W^T + b, the products by the tiled `gemm`.

Launches: gemm (TILE x TILE threads per output tile), one thread per output
element for the bias, and `sum_middle` (one block per output feature, a fixed
reduction tree) for the bias gradient; all sums are in a fixed order.
"""
from numba import cuda

from ._gemm import gemm, launch_1d, sum_middle


@cuda.jit
def _add_bias_kernel(out, b):
    """out[n, o] += b[o], one thread per element."""
    e = cuda.grid(1)
    if e < out.size:
        o_n = out.shape[1]
        out[e // o_n, e % o_n] += b[e % o_n]


def linear_forward(x, w, b, out):
    """out (N,O) = x (N,I) @ w (O,I)^T + b (O,).  b of length 0 means no bias."""
    gemm(x, w, out, False, True, False)
    if b.shape[0] > 0 and out.size > 0:
        blocks, threads = launch_1d(out.size)
        _add_bias_kernel[blocks, threads](out, b)


def linear_backward(x, w, grad_out, grad_x, grad_w, grad_b):
    """dx = g W (N,I);  dW = g^T x (O,I);  db = sum_n g (O,).

    A length-0 grad array skips that gradient (e.g. the input of a first layer).
    """
    if grad_x.shape[0] > 0:
        gemm(grad_out, w, grad_x, False, False, False)
    if grad_w.shape[0] > 0:
        gemm(grad_out, x, grad_w, True, False, False)
    if grad_b.shape[0] > 0:
        sum_middle(grad_out.reshape(grad_out.shape[0], grad_out.shape[1], 1), grad_b)
