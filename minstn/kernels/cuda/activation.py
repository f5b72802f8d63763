"""Element-wise activations and dropout on the GPU: one thread per element.

Each launcher views its (C-contiguous) arrays as flat 1-D arrays and launches
`launch_1d(size)` threads; the maths matches kernels/cpu/activation.py line by
line (sigmoid through the shared `_scalar.sigmoid`).
"""
import math

from numba import cuda

from ._device import d
from ._gemm import launch_1d


def _flat(a):
    return a.reshape(a.size)


@cuda.jit
def _relu_forward_kernel(x, out):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = x[i] if x[i] > 0 else 0.0


@cuda.jit
def _relu_backward_kernel(out, grad_out, grad_x):
    i = cuda.grid(1)
    if i < out.size:
        grad_x[i] = grad_out[i] if out[i] > 0 else 0.0


@cuda.jit
def _tanh_forward_kernel(x, out):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = math.tanh(x[i])


@cuda.jit
def _tanh_backward_kernel(out, grad_out, grad_x):
    i = cuda.grid(1)
    if i < out.size:
        grad_x[i] = grad_out[i] * (1 - out[i] * out[i])


@cuda.jit
def _sigmoid_forward_kernel(x, out):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = d.sigmoid(x[i])


@cuda.jit
def _sigmoid_backward_kernel(out, grad_out, grad_x):
    i = cuda.grid(1)
    if i < out.size:
        grad_x[i] = grad_out[i] * out[i] * (1 - out[i])


@cuda.jit
def _dropout_kernel(x, keep, scale, out):
    """out = x · keep · scale (forward: x the input; backward: x the output gradient)."""
    i = cuda.grid(1)
    if i < x.size:
        out[i] = x[i] * scale if keep[i] else 0.0


def _launch(kernel, *arrays):
    n = arrays[0].size
    if n:
        blocks, threads = launch_1d(n)
        kernel[blocks, threads](*(_flat(a) if hasattr(a, "reshape") else a for a in arrays))


def relu_forward(x, out):
    """out = max(x, 0)"""
    _launch(_relu_forward_kernel, x, out)


def relu_backward(out, grad_out, grad_x):
    """dx = g · [y > 0]   (the subgradient at 0 is taken as 0, as PyTorch does)"""
    _launch(_relu_backward_kernel, out, grad_out, grad_x)


def tanh_forward(x, out):
    """out = tanh(x)"""
    _launch(_tanh_forward_kernel, x, out)


def tanh_backward(out, grad_out, grad_x):
    """dx = g · (1 - y²)"""
    _launch(_tanh_backward_kernel, out, grad_out, grad_x)


def sigmoid_forward(x, out):
    """out = 1 / (1 + exp(-x)), evaluated without overflow for large |x|"""
    _launch(_sigmoid_forward_kernel, x, out)


def sigmoid_backward(out, grad_out, grad_x):
    """dx = g · y (1 - y)"""
    _launch(_sigmoid_backward_kernel, out, grad_out, grad_x)


def dropout_forward(x, keep, scale, out):
    """out = x · keep · scale, keep a 0/1 uint8 mask and scale = 1 / (1 - p)"""
    _launch(_dropout_kernel, x, keep, float(scale), out)


def dropout_backward(keep, scale, grad_out, grad_x):
    """dx = g · keep · scale"""
    _launch(_dropout_kernel, grad_out, keep, float(scale), grad_x)
