"""2-D max pooling without padding (PyTorch semantics) on the GPU; max_pool1d uses it on (N, C, 1, L).

    out[n, c, oh, ow] = max_{i < kh, j < kw} x[n, c, oh*sh + i, ow*sw + j]

forward: one thread per output element, scanning its window in row-major order
and keeping the first maximum (a NaN wins, the last one if several), with its
flat index h*W + w in the plane, exactly as the CPU kernel.
backward: grad_x is zeroed (one thread per element), then one thread per
(n, c) plane adds that plane's output gradients at their argmax positions,
serially in row-major output order. Overlapping windows (stride < kernel) may
share a winner; a plane belongs to one thread, so those sums need no atomics
and are added in the CPU kernel's order: results are identical to the CPU's.
(The window shape is not an argument of the backward, so a per-input gather,
which would need it, is not an option.)
"""
import math

from numba import cuda

from ._gemm import launch_1d


@cuda.jit
def _max_pool_forward_kernel(x, out, argmax, kh, kw, sh, sw):
    e = cuda.grid(1)
    if e < out.size:
        ch, w = x.shape[1], x.shape[3]
        ho, wo = out.shape[2], out.shape[3]
        ow = e % wo
        oh = (e // wo) % ho
        c = (e // (wo * ho)) % ch
        n = e // (wo * ho * ch)
        h0, w0 = oh * sh, ow * sw
        best = x[n, c, h0, w0]
        idx = h0 * w + w0
        for i in range(kh):
            for j in range(kw):
                v = x[n, c, h0 + i, w0 + j]
                if v > best or math.isnan(v):
                    best = v
                    idx = (h0 + i) * w + w0 + j
        out[n, c, oh, ow] = best
        argmax[n, c, oh, ow] = idx


@cuda.jit
def _zero_kernel(a):
    e = cuda.grid(1)
    if e < a.size:
        a[e] = 0


@cuda.jit
def _max_pool_backward_kernel(grad_out, argmax, grad_x):
    """Thread pl owns plane pl of grad_x (N*C, H*W) and adds its Ho*Wo gradients in order."""
    pl = cuda.grid(1)
    if pl < grad_x.shape[0]:
        for q in range(grad_out.shape[1]):
            grad_x[pl, argmax[pl, q]] += grad_out[pl, q]


def max_pool2d_forward(x, out, argmax, kh, kw, sh, sw):
    """out, argmax (N, C, Ho, Wo) <- window maxima of x (N, C, H, W) and their flat h*W + w.

    Ho = (H - kh) // sh + 1, Wo = (W - kw) // sw + 1 (floor mode, no padding).
    """
    if out.size:
        blocks, threads = launch_1d(out.size)
        _max_pool_forward_kernel[blocks, threads](x, out, argmax, kh, kw, sh, sw)


def max_pool2d_backward(grad_out, argmax, grad_x):
    """grad_x (N, C, H, W) <- zeros, then grad_out (N, C, Ho, Wo) added at the argmax positions."""
    n, c, h, w = grad_x.shape
    if grad_x.size == 0:
        return
    blocks, threads = launch_1d(grad_x.size)
    _zero_kernel[blocks, threads](grad_x.reshape(grad_x.size))
    p = grad_out.shape[2] * grad_out.shape[3]
    blocks, threads = launch_1d(n * c)
    _max_pool_backward_kernel[blocks, threads](grad_out.reshape(n * c, p),
                                               argmax.reshape(n * c, p),
                                               grad_x.reshape(n * c, h * w))
