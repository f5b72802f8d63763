"""Element-wise activations and dropout. Each kernel runs over the flat array."""
# Memory-bound loops: a single thread streams them as fast as memory allows, and
# skipping Numba's parallel launch keeps small calls (losses on (64, 10)) cheap.
import numpy as np
from numba import njit


@njit(cache=True)
def relu_forward(x, out):
    """out = max(x, 0)"""
    xf, of = x.ravel(), out.ravel()
    for i in range(xf.size):
        of[i] = xf[i] if xf[i] > 0 else 0.0


@njit(cache=True)
def relu_backward(out, grad_out, grad_x):
    """dx = g · [y > 0]   (the subgradient at 0 is taken as 0, as PyTorch does)"""
    yf, gf, df = out.ravel(), grad_out.ravel(), grad_x.ravel()
    for i in range(yf.size):
        df[i] = gf[i] if yf[i] > 0 else 0.0


@njit(cache=True)
def tanh_forward(x, out):
    """out = tanh(x)"""
    xf, of = x.ravel(), out.ravel()
    for i in range(xf.size):
        of[i] = np.tanh(xf[i])


@njit(cache=True)
def tanh_backward(out, grad_out, grad_x):
    """dx = g · (1 - y²)"""
    yf, gf, df = out.ravel(), grad_out.ravel(), grad_x.ravel()
    for i in range(yf.size):
        df[i] = gf[i] * (1 - yf[i] * yf[i])


@njit(cache=True)
def sigmoid_forward(x, out):
    """out = 1 / (1 + exp(-x)), evaluated without overflow for large |x|"""
    xf, of = x.ravel(), out.ravel()
    for i in range(xf.size):
        v = xf[i]
        if v >= 0:
            of[i] = 1 / (1 + np.exp(-v))
        else:
            e = np.exp(v)
            of[i] = e / (1 + e)


@njit(cache=True)
def sigmoid_backward(out, grad_out, grad_x):
    """dx = g · y (1 - y)"""
    yf, gf, df = out.ravel(), grad_out.ravel(), grad_x.ravel()
    for i in range(yf.size):
        df[i] = gf[i] * yf[i] * (1 - yf[i])


@njit(cache=True)
def dropout_forward(x, keep, scale, out):
    """out = x · keep · scale, keep a 0/1 uint8 mask and scale = 1 / (1 - p)"""
    xf, kf, of = x.ravel(), keep.ravel(), out.ravel()
    for i in range(xf.size):
        of[i] = xf[i] * scale if kf[i] else 0.0


@njit(cache=True)
def dropout_backward(keep, scale, grad_out, grad_x):
    """dx = g · keep · scale"""
    kf, gf, df = keep.ravel(), grad_out.ravel(), grad_x.ravel()
    for i in range(gf.size):
        df[i] = gf[i] * scale if kf[i] else 0.0
