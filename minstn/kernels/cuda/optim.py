"""Optimiser updates on the GPU: one fused elementwise kernel per parameter and step.

Same launchers as `kernels/cpu/optim.py`. The scalars are cast to the
parameter's dtype on the host, so float32 parameters update in float32 as on
the CPU.
"""
import math

from numba import cuda

from .array import TPB, _blocks, _flat


@cuda.jit
def _sgd_kernel(p, g, v, lr, mu, wd, nesterov, first):
    """One SGD step for element i  (all arrays flat; v unused when mu == 0)."""
    i = cuda.grid(1)
    if i < p.size:
        gi = g[i]
        if wd != 0:
            gi = gi + wd * p[i]
        if mu != 0:
            if first:
                vi = gi
            else:
                vi = v[i] * mu + gi
            v[i] = vi
            if nesterov:
                gi = gi + mu * vi
            else:
                gi = vi
        p[i] = p[i] - lr * gi


@cuda.jit
def _adam_kernel(p, g, m, v, lr_c1, b1, b2, one_b1, one_b2, sqrt_c2, eps, wd):
    """One Adam step for element i  (all arrays flat)."""
    i = cuda.grid(1)
    if i < p.size:
        gi = g[i]
        if wd != 0:
            gi = gi + wd * p[i]
        mi = m[i] * b1 + one_b1 * gi
        vi = v[i] * b2 + one_b2 * (gi * gi)
        m[i] = mi
        v[i] = vi
        p[i] = p[i] - lr_c1 * mi / (math.sqrt(vi) / sqrt_c2 + eps)


def sgd_update(p, g, v, lr, momentum, weight_decay, nesterov, first):
    """SGD step in place on p (and the momentum buffer v); see kernels/cpu/optim.py."""
    if p.size == 0:
        return
    f = p.dtype.type
    vf = _flat(v) if momentum else v
    _sgd_kernel[_blocks(p.size), TPB](_flat(p), _flat(g), vf, f(lr), f(momentum),
                                      f(weight_decay), bool(nesterov), bool(first))


def adam_update(p, g, m, v, lr, beta1, beta2, eps, weight_decay, step):
    """Adam step in place on p, m, v; see kernels/cpu/optim.py."""
    if p.size == 0:
        return
    f = p.dtype.type
    c1, c2 = 1 - beta1 ** step, 1 - beta2 ** step
    _adam_kernel[_blocks(p.size), TPB](_flat(p), _flat(g), _flat(m), _flat(v), f(lr / c1),
                                       f(beta1), f(beta2), f(1 - beta1), f(1 - beta2),
                                       f(math.sqrt(c2)), f(eps), f(weight_decay))
