"""Optimiser updates on the CPU, in place on the parameter and its state.

SGD is NumPy in-place array expressions. Adam is one loop over the elements (`_adam`),
which does per element exactly the operations of the NumPy expressions written in its
docstring, in the same order and precision (scalars rounded to the parameter's dtype
first, no fused multiply-adds), so it gives the same bits in one pass instead of about a
dozen; `kernels/cuda/optim.py` fuses the same formulas into one kernel per update.
"""
import math

import numpy as np
from numba import njit


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
    As NumPy expressions on float arrays with Python-float scalars (NEP 50: each scalar is
    rounded to the arrays' dtype), which is what `_adam` computes element by element:
        g = g + λ * p;  m *= β1;  m += (1 - β1) * g;  v *= β2;  v += (1 - β2) * (g * g)
        p -= (lr / c1) * m / (np.sqrt(v) / math.sqrt(c2) + ε)
    """
    c1, c2 = 1 - beta1 ** step, 1 - beta2 ** step
    f = p.dtype.type
    if all(a.flags.c_contiguous and a.dtype == p.dtype for a in (p, g, m, v)):
        _adam(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), f(beta1),
              f(1 - beta1), f(beta2), f(1 - beta2), f(lr / c1), f(math.sqrt(c2)), f(eps),
              f(weight_decay), bool(weight_decay))
        return
    if weight_decay:                             # the same steps as NumPy expressions
        g = g + weight_decay * p
    m *= beta1
    m += (1 - beta1) * g
    v *= beta2
    v += (1 - beta2) * (g * g)
    p -= (lr / c1) * m / (np.sqrt(v) / math.sqrt(c2) + eps)


@njit(cache=True, error_model="numpy")
def _adam(p, g, m, v, b1, one_b1, b2, one_b2, step_size, sqrt_c2, eps, wd, decay):
    """adam_update on flat arrays; scalars already in the arrays' dtype. Numba fuses no
    multiply-adds unless asked (fastmath), so each operation rounds as NumPy's does.
    error_model="numpy" drops the division-by-zero check that would stop vectorisation."""
    for i in range(p.size):
        gi = g[i]
        if decay:
            gi = gi + wd * p[i]
        mi = m[i] * b1
        mi = mi + one_b1 * gi
        vi = v[i] * b2
        vi = vi + one_b2 * (gi * gi)
        m[i] = mi
        v[i] = vi
        p[i] = p[i] - step_size * mi / (np.sqrt(vi) / sqrt_c2 + eps)
