"""Optimiser updates on the CPU, in place on the parameter and its state.

NumPy in-place array expressions (the order of operations fixes the rounding;
`kernels/cuda/optim.py` fuses the same formulas into one kernel per update).
"""
import math

import numpy as np


def sgd_update(p, g, v, lr, momentum, weight_decay, nesterov, first):
    """SGD step in place on p (torch.optim.SGD).

    p, g: (...) parameter and its gradient; v: momentum buffer like p (a size-0
    array when momentum == 0); first: True on the first step (v = g).
        g' = g + λ p;  v = μ v + g' (v = g' at first);  p -= lr · (g' + μ v if nesterov else v)
    """
    if weight_decay:
        g = g + weight_decay * p
    if momentum:
        if first:
            v[...] = g
        else:
            v *= momentum
            v += g
        g = g + momentum * v if nesterov else v
    p -= (lr * g).astype(p.dtype, copy=False)


def adam_update(p, g, m, v, lr, beta1, beta2, eps, weight_decay, step):
    """Adam step in place on p, m, v (torch.optim.Adam, L2 weight decay).

    p, g, m, v: (...) parameter, gradient, first and second moments; step: t >= 1.
        g' = g + λ p;  m = β1 m + (1-β1) g';  v = β2 v + (1-β2) g'²
        p -= lr / (1-β1^t) · m / (√v / √(1-β2^t) + ε)
    """
    if weight_decay:
        g = g + weight_decay * p
    m *= beta1
    m += (1 - beta1) * g
    v *= beta2
    v += (1 - beta2) * (g * g)
    c1, c2 = 1 - beta1 ** step, 1 - beta2 ** step
    p -= (lr / c1) * m / (np.sqrt(v) / math.sqrt(c2) + eps)
