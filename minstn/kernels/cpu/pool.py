"""2-D max pooling without padding (PyTorch semantics); max_pool1d uses it on (N, C, 1, L).

    out[n, c, oh, ow] = max_{i < kh, j < kw} x[n, c, oh*sh + i, ow*sw + j]

The forward remembers, per output, the flat index h*W + w of the winning input:
the first maximum in row-major window order, as in PyTorch (and, as there, a NaN
wins, the last one if several, so NaNs propagate). The backward routes each
output gradient to its winner, grad_x[n, c].flat[argmax] += grad_out; overlapping
windows (stride < kernel) may share a winner, so those gradients add up.
Both run in parallel over the N*C planes; a plane belongs to one thread.
"""
import numba
import numpy as np


@numba.njit(cache=True, parallel=True)
def max_pool2d_forward(x, out, argmax, kh, kw, sh, sw):
    """out, argmax (N, C, Ho, Wo) <- window maxima of x (N, C, H, W) and their flat h*W + w.

    Ho = (H - kh) // sh + 1, Wo = (W - kw) // sw + 1 (floor mode, no padding).
    """
    n, c, h, w = x.shape
    ho, wo = out.shape[2], out.shape[3]
    xs = x.reshape(n * c, h, w)
    os_ = out.reshape(n * c, ho, wo)
    am = argmax.reshape(n * c, ho, wo)
    for pl in numba.prange(n * c):
        for oh in range(ho):
            for ow in range(wo):
                h0, w0 = oh * sh, ow * sw
                best = xs[pl, h0, w0]
                idx = h0 * w + w0
                for i in range(kh):
                    for j in range(kw):
                        v = xs[pl, h0 + i, w0 + j]
                        if v > best or np.isnan(v):
                            best = v
                            idx = (h0 + i) * w + w0 + j
                os_[pl, oh, ow] = best
                am[pl, oh, ow] = idx


@numba.njit(cache=True, parallel=True)
def max_pool2d_backward(grad_out, argmax, grad_x):
    """grad_x (N, C, H, W) <- zeros, then grad_out (N, C, Ho, Wo) added at the argmax positions."""
    n, c, h, w = grad_x.shape
    ho, wo = grad_out.shape[2], grad_out.shape[3]
    g = grad_out.reshape(n * c, ho * wo)
    am = argmax.reshape(n * c, ho * wo)
    gx = grad_x.reshape(n * c, h * w)
    for pl in numba.prange(n * c):
        gx[pl, :] = 0
        for q in range(ho * wo):
            gx[pl, am[pl, q]] += g[pl, q]
