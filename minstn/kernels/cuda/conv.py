"""2-D convolution (cross-correlation, as in PyTorch) on the GPU, computed directly.

    out[n, o, oh, ow] = b[o] + sum_{c,i,j} w[o, c, i, j] x[n, c, oh*sh - ph + i, ow*sw - pw + j]

Every kernel is a gather: a thread owns one output value and reads what it
needs, so nothing is summed by two threads and no atomics are needed.

- forward: one thread per output element (n, o, oh, ow), bias added at the end.
- grad_x: one thread per input element (n, c, ih, iw) sums w[o, c, i, j] g[n, o, oh, ow]
  over the (o, i, j) whose window covers it: oh = (ih + ph - i) / sh when that is
  a whole number in [0, Ho), ow likewise.
- grad_w: the sum over samples and positions is split by samples into S groups
  (S = min(N, MAX_SPLITS)): one thread per (group, o, c, i, j) sums its group's
  terms into a (S, O, C, kh, kw) buffer, then one thread per weight adds the S
  partial sums in group order (no second pass when S = 1).
- grad_b: `sum_middle` over (n, oh, ow), one block per output channel, fixed tree.
Every sum runs in an order fixed by the shapes alone: the gradients are
bit-identical from run to run. conv1d runs these kernels on (N, C, 1, L) views.
"""
from numba import cuda

from ._gemm import launch_1d, sum_middle

MAX_SPLITS = 64           # sample groups of the weight gradient's first pass


@cuda.jit(device=True)
def _unravel4(e, shape):
    """(i0, i1, i2, i3): the index of flat element e of a C-ordered array of 4-d `shape`."""
    i3 = e % shape[3]
    i2 = (e // shape[3]) % shape[2]
    i1 = (e // (shape[3] * shape[2])) % shape[1]
    return e // (shape[3] * shape[2] * shape[1]), i1, i2, i3


@cuda.jit
def _conv_forward_kernel(x, w, b, out, sh, sw, ph, pw):
    """Thread e: out[n, o, oh, ow], (n, o, oh, ow) = element e of out."""
    e = cuda.grid(1)
    if e < out.size:
        n, o, oh, ow = _unravel4(e, out.shape)
        c_in, h, wd = x.shape[1], x.shape[2], x.shape[3]
        kh, kw = w.shape[2], w.shape[3]
        acc = out.dtype.type(0)
        for c in range(c_in):
            for i in range(kh):
                ih = oh * sh - ph + i
                if 0 <= ih and ih < h:
                    for j in range(kw):
                        iw = ow * sw - pw + j
                        if 0 <= iw and iw < wd:
                            acc += w[o, c, i, j] * x[n, c, ih, iw]
        if b.shape[0] > 0:
            acc += b[o]
        out[n, o, oh, ow] = acc


@cuda.jit
def _conv_grad_x_kernel(w, grad_out, grad_x, sh, sw, ph, pw):
    """Thread e: grad_x[n, c, ih, iw], (n, c, ih, iw) = element e of grad_x."""
    e = cuda.grid(1)
    if e < grad_x.size:
        n, c, ih, iw = _unravel4(e, grad_x.shape)
        o_n, ho, wo = grad_out.shape[1], grad_out.shape[2], grad_out.shape[3]
        kh, kw = w.shape[2], w.shape[3]
        acc = grad_x.dtype.type(0)
        for o in range(o_n):
            for i in range(kh):
                t = ih + ph - i                      # = oh * sh
                if t < 0 or t % sh != 0 or t // sh >= ho:
                    continue
                oh = t // sh
                for j in range(kw):
                    u = iw + pw - j                  # = ow * sw
                    if u < 0 or u % sw != 0 or u // sw >= wo:
                        continue
                    acc += w[o, c, i, j] * grad_out[n, o, oh, u // sw]
        grad_x[n, c, ih, iw] = acc


@cuda.jit
def _conv_grad_w_kernel(x, grad_out, part, sh, sw, ph, pw):
    """part[s, o, c, i, j] = sum over samples n of group s, oh, ow of g[n, o, oh, ow] x[...]."""
    e = cuda.grid(1)
    if e < part.size:
        splits, o_n, c_in, kh, kw = part.shape
        n_all, h, wd = x.shape[0], x.shape[2], x.shape[3]
        ho, wo = grad_out.shape[2], grad_out.shape[3]
        j = e % kw
        i = (e // kw) % kh
        c = (e // (kw * kh)) % c_in
        o = (e // (kw * kh * c_in)) % o_n
        s = e // (kw * kh * c_in * o_n)
        per = (n_all + splits - 1) // splits
        acc = part.dtype.type(0)
        n_end = (s + 1) * per if (s + 1) * per < n_all else n_all
        for n in range(s * per, n_end):
            for oh in range(ho):
                ih = oh * sh - ph + i
                if 0 <= ih and ih < h:
                    for ow in range(wo):
                        iw = ow * sw - pw + j
                        if 0 <= iw and iw < wd:
                            acc += grad_out[n, o, oh, ow] * x[n, c, ih, iw]
        part[s, o, c, i, j] = acc


@cuda.jit
def _sum_splits_kernel(part, out):
    """out[q] = sum_s part[s, q] in group order (part (S, Q), out (Q,))."""
    q = cuda.grid(1)
    if q < out.size:
        acc = part[0, q]
        for s in range(1, part.shape[0]):
            acc += part[s, q]
        out[q] = acc


def _splits(n):
    """Number of sample groups S of the weight gradient: groups of ceil(N / S) samples."""
    per = (n + min(n, MAX_SPLITS) - 1) // min(n, MAX_SPLITS)
    return (n + per - 1) // per


def conv2d_forward(x, w, b, out, sh, sw, ph, pw):
    """out = conv2d(x, w) + b: PyTorch's cross-correlation with stride and zero padding.

    x (N, C, H, W), w (O, C, kh, kw), b (O,) or (0,) for no bias,
    out (N, O, Ho, Wo) with Ho = (H + 2 ph - kh) // sh + 1, Wo likewise.
    out[n, o, oh, ow] = b[o] + sum_{c,i,j} w[o, c, i, j] x[n, c, oh sh - ph + i, ow sw - pw + j]
    """
    if out.size:
        blocks, threads = launch_1d(out.size)
        _conv_forward_kernel[blocks, threads](x, w, b, out, sh, sw, ph, pw)


def conv2d_backward(x, w, grad_out, grad_x, grad_w, grad_b, sh, sw, ph, pw):
    """Gradients of conv2d_forward; a grad array of size 0 is not computed.

    x (N, C, H, W), w (O, C, kh, kw), grad_out (N, O, Ho, Wo) -> writes
    grad_x (N, C, H, W), grad_w (O, C, kh, kw), grad_b (O,) = sum over n, oh, ow of grad_out.
    """
    n, o_n = grad_out.shape[0], grad_out.shape[1]
    if grad_x.size > 0:
        blocks, threads = launch_1d(grad_x.size)
        _conv_grad_x_kernel[blocks, threads](w, grad_out, grad_x, sh, sw, ph, pw)
    if grad_w.size > 0:
        splits = _splits(n) if n else 1
        if splits == 1:
            part = grad_w.reshape(1, *grad_w.shape)
        else:
            part = cuda.device_array((splits,) + tuple(grad_w.shape), grad_w.dtype)
        blocks, threads = launch_1d(part.size)
        _conv_grad_w_kernel[blocks, threads](x, grad_out, part, sh, sw, ph, pw)
        if splits > 1:
            blocks, threads = launch_1d(grad_w.size)
            _sum_splits_kernel[blocks, threads](part.reshape(splits, grad_w.size),
                                                grad_w.reshape(grad_w.size))
    if grad_b.size > 0:
        sum_middle(grad_out.reshape(n, o_n, grad_out.shape[2] * grad_out.shape[3]), grad_b)
