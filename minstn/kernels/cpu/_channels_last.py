"""The Winograd kernels' copies between a chunk of NCHW samples and a channels-last buffer.

winograd.py and winograd5.py transform a chunk of nc samples at a time in a (rows, columns,
nc*C) buffer, so that every transform loop runs over nc*C contiguous numbers (winograd.py
says why). These two loops are the way in and the way out.
"""
from numba import njit


@njit(cache=True)
def pack(a, n0, nc, p, ph, pw):
    """p[r + ph, s + pw, m*C + c] = a[n0 + m, c, r, s] for the chunk's samples m < nc;
    a (N, C, H, W), p (>= H + ph, >= W + pw, nc*C); p's other entries are left as they are."""
    c_n, h, w = a.shape[1], a.shape[2], a.shape[3]
    for m in range(nc):
        for r in range(h):
            for s in range(w):
                row = p[r + ph, s + pw, m * c_n:(m + 1) * c_n]
                for c in range(c_n):
                    row[c] = a[n0 + m, c, r, s]


@njit(cache=True)
def unpack(p, n0, nc, a, ph, pw, b):
    """a[n0 + m, c, r, s] = p[r + ph, s + pw, m*C + c] (+ b[c] when b is not empty): the
    inverse copy of pack, cropped to a's H × W."""
    c_n, h, w = a.shape[1], a.shape[2], a.shape[3]
    for m in range(nc):
        for r in range(h):
            for s in range(w):
                row = p[r + ph, s + pw, m * c_n:(m + 1) * c_n]
                if b.shape[0] > 0:
                    for c in range(c_n):
                        a[n0 + m, c, r, s] = row[c] + b[c]
                else:
                    for c in range(c_n):
                        a[n0 + m, c, r, s] = row[c]
