"""The transforms of 5×5 stride-1 convolution by Winograd's F(2×2, 5×5) (Lavin & Gray, 2016).

`winograd.py` runs them (chunks, products, lanes) as it runs F(2×2, 3×3): read that first.
Here each 2×2 output tile needs a 6×6 input block d (rows 2a - ph .., columns 2b - pw ..),
and with the points 0, 1, -1, 2, -2 and ∞

    Y = A^T [ sum_c (G g_oc G^T) ⊙ (B^T d_c B) ] A

    B^T = [4  0 -5  0  1  0]    G = [ 1/4     0     0     0     0 ]
          [0 -4 -4  1  1  0]        [-1/6  -1/6  -1/6  -1/6  -1/6 ]    A^T = [1  1  1  1  1  0]
          [0  4 -4 -1  1  0]        [-1/6   1/6  -1/6   1/6  -1/6 ]          [0  1 -1  2 -2  1]
          [0 -2 -1  2  1  0]        [1/24  1/12   1/6   1/3   2/3 ]
          [0  2 -1 -2  1  0]        [1/24 -1/12   1/6  -1/3   2/3 ]
          [0  4  0 -5  0  1]        [ 0     0     0     0     1  ]

B^T row j holds the coefficients of prod_{l != j}(x - p_l) (the last row: of prod_l (x - p_l)),
G row j is (1, p_j, .., p_j^4) / prod_{l != j}(p_j - p_l) (the last row picks g's last tap),
and A^T's columns are (1, p_j): Toom-Cook's evaluation and interpolation, transposed for a
cross-correlation (`docs/internals.md`; `tests/test_winograd.py` checks the identity).
36 products of T·C·O multiply-adds stand for im2col's (4T)·25C·O: 2.8× fewer.

B^T and A^T hold small integers, so the input and output transforms are exact in float32 up
to their own additions; G has fractions, so the weight transform and its adjoint run in
float64 and round once. Every transform here works channels last on 1-D rows of nc·C (or
nc·O) numbers, as winograd.py's do, each loop reading and writing at most eight rows (more
and LLVM left such loops scalar, winograd.py says).
"""
import numpy as np
from numba import njit

from ._channels_last import pack, unpack

# G (6, 5) exactly as above; the weight transforms use it in float64
G = np.array([[1 / 4, 0, 0, 0, 0],
              [-1 / 6, -1 / 6, -1 / 6, -1 / 6, -1 / 6],
              [-1 / 6, 1 / 6, -1 / 6, 1 / 6, -1 / 6],
              [1 / 24, 1 / 12, 1 / 6, 1 / 3, 2 / 3],
              [1 / 24, -1 / 12, 1 / 6, -1 / 3, 2 / 3],
              [0, 0, 0, 0, 1]])


def weight_tiles(w, u):
    """u[(i, k), c, o] = (G g G^T)[i, k] for g = w[o, c] (5, 5); u (36, C, O) (any strides)."""
    gg = G @ w.astype(np.float64) @ G.T                         # (O, C, 6, 6)
    u[...] = gg.reshape(w.shape[0], w.shape[1], 36).transpose(2, 1, 0)


def weight_tiles_adjoint(gu, grad_w):
    """grad_w[o, c] = G^T gU[:, c, o] G, the adjoint of weight_tiles; gu (36, C, O)."""
    gm = gu.astype(np.float64).transpose(2, 1, 0).reshape(grad_w.shape[0], grad_w.shape[1], 6, 6)
    grad_w[...] = G.T @ gm @ G


# B^T applied to six rows u0..u5 (a column or a row of a tile), out in o0..o5
@njit(cache=True)
def _bt(u0, u1, u2, u3, u4, u5, o0, o1, o2, o3, o4, o5):
    for j in range(u0.shape[0]):
        o0[j] = 4 * u0[j] - 5 * u2[j] + u4[j]
        o5[j] = 4 * u1[j] - 5 * u3[j] + u5[j]
    for j in range(u0.shape[0]):
        s, t = u4[j] - 4 * u2[j], u3[j] - 4 * u1[j]
        o1[j] = s + t
        o2[j] = s - t
        s, t = u4[j] - u2[j], 2 * (u3[j] - u1[j])
        o3[j] = s + t
        o4[j] = s - t


# B (the adjoint of B^T) applied to six rows u0..u5, added into o0..o5
@njit(cache=True)
def _b_add(u0, u1, u2, u3, u4, u5, o0, o1, o2, o3, o4, o5):
    for j in range(u0.shape[0]):
        o0[j] += 4 * u0[j]
        o2[j] -= 5 * u0[j] + 4 * (u1[j] + u2[j]) + u3[j] + u4[j]
        o4[j] += u0[j] + u1[j] + u2[j] + u3[j] + u4[j]
    for j in range(u0.shape[0]):
        o1[j] += 4 * (u2[j] - u1[j] + u5[j]) + 2 * (u4[j] - u3[j])
        o3[j] += (u1[j] - u2[j]) + 2 * (u3[j] - u4[j]) - 5 * u5[j]
        o5[j] += u5[j]


# A^T applied to six rows m0..m5, out in o0, o1
@njit(cache=True)
def _at(m0, m1, m2, m3, m4, m5, o0, o1):
    for j in range(m0.shape[0]):
        o0[j] = m0[j] + m1[j] + m2[j] + m3[j] + m4[j]
        o1[j] = m1[j] - m2[j] + 2 * (m3[j] - m4[j]) + m5[j]


# A (the adjoint of A^T) applied to two rows g0, g1, out in o0..o5
@njit(cache=True)
def _a(g0, g1, o0, o1, o2, o3, o4, o5):
    for j in range(g0.shape[0]):
        o0[j] = g0[j]
        o1[j] = g0[j] + g1[j]
        o2[j] = g0[j] - g1[j]
    for j in range(g0.shape[0]):
        o3[j] = g0[j] + 2 * g1[j]
        o4[j] = g0[j] - 2 * g1[j]
        o5[j] = g1[j]


@njit(cache=True)
def input_tiles(x, n0, nc, v, ph, pw, th, tw):
    """v[(i, k), (a*tw + b)*nc + m, c] = (B^T d B)[i, k] for d the 6×6 block of x[n0 + m, c]
    at rows 2a - ph.., columns 2b - pw.. (0 outside x); v (36, >= nc*th*tw, C)."""
    c_in = x.shape[1]
    n_l = nc * c_in
    p = np.zeros((2 * th + 4, 2 * tw + 4, n_l), x.dtype)      # the chunk, zero padded
    pack(x, n0, nc, p, ph, pw)
    e = np.empty((6, 6, n_l), x.dtype)                         # one tile's d B
    vf = v.reshape(36, v.shape[1] * c_in)
    for a in range(th):
        for b in range(tw):
            for i in range(6):                                 # rows: d B
                d = p[2 * a + i]
                _bt(d[2 * b], d[2 * b + 1], d[2 * b + 2], d[2 * b + 3], d[2 * b + 4],
                    d[2 * b + 5], e[i, 0], e[i, 1], e[i, 2], e[i, 3], e[i, 4], e[i, 5])
            q = (a * tw + b) * n_l
            for k in range(6):                                 # columns: B^T (d B)
                _bt(e[0, k], e[1, k], e[2, k], e[3, k], e[4, k], e[5, k],
                    vf[k, q:q + n_l], vf[6 + k, q:q + n_l], vf[12 + k, q:q + n_l],
                    vf[18 + k, q:q + n_l], vf[24 + k, q:q + n_l], vf[30 + k, q:q + n_l])


@njit(cache=True)
def input_tiles_adjoint(gv, n0, nc, grad_x, ph, pw, th, tw):
    """grad_x[n0 + m, c] = the sum over tiles of B gV B^T at each tile's place (the adjoint
    of input_tiles; padding dropped); gv (36, >= nc*th*tw, C). Tiles are added in tile order."""
    c_in = grad_x.shape[1]
    n_l = nc * c_in
    gf = gv.reshape(36, gv.shape[1] * c_in)
    gp = np.zeros((2 * th + 4, 2 * tw + 4, n_l), gv.dtype)
    e = np.empty((6, 6, n_l), gv.dtype)                        # one tile's B gV
    for a in range(th):
        for b in range(tw):
            q = (a * tw + b) * n_l
            e[:] = 0
            for k in range(6):                                 # columns: B gV
                _b_add(gf[k, q:q + n_l], gf[6 + k, q:q + n_l], gf[12 + k, q:q + n_l],
                       gf[18 + k, q:q + n_l], gf[24 + k, q:q + n_l], gf[30 + k, q:q + n_l],
                       e[0, k], e[1, k], e[2, k], e[3, k], e[4, k], e[5, k])
            for i in range(6):                                 # rows: (B gV) B^T, added
                g = gp[2 * a + i]
                _b_add(e[i, 0], e[i, 1], e[i, 2], e[i, 3], e[i, 4], e[i, 5],
                       g[2 * b], g[2 * b + 1], g[2 * b + 2], g[2 * b + 3], g[2 * b + 4],
                       g[2 * b + 5])
    unpack(gp, n0, nc, grad_x, ph, pw, gp[0, 0, :0])


@njit(cache=True)
def output_tiles(mt, b, out, n0, nc, th, tw):
    """out[n0 + m, o] = A^T M A tile by tile + b[o], cropped to Ho × Wo; mt (36, >= nc*T, O),
    b (O,)."""
    o_n = out.shape[1]
    n_l = nc * o_n
    mf = mt.reshape(36, mt.shape[1] * o_n)
    z = np.empty((2, 6, n_l), mt.dtype)                        # A^T M, per column k
    y = np.empty((2 * th, 2 * tw, n_l), mt.dtype)              # the chunk, channels last
    for a in range(th):
        for bb in range(tw):
            q = (a * tw + bb) * n_l
            for k in range(6):
                _at(mf[k, q:q + n_l], mf[6 + k, q:q + n_l], mf[12 + k, q:q + n_l],
                    mf[18 + k, q:q + n_l], mf[24 + k, q:q + n_l], mf[30 + k, q:q + n_l],
                    z[0, k], z[1, k])
            for r in range(2):                                 # (A^T M) A
                _at(z[r, 0], z[r, 1], z[r, 2], z[r, 3], z[r, 4], z[r, 5],
                    y[2 * a + r, 2 * bb], y[2 * a + r, 2 * bb + 1])
    unpack(y, n0, nc, out, 0, 0, b)


@njit(cache=True)
def grad_tiles(grad_out, n0, nc, gm, th, tw):
    """gm[(i, k), (a*tw + b)*nc + m, o] = (A gY A^T)[i, k] for gY the 2×2 tile of
    grad_out[n0 + m, o] (0 where the tile overhangs Ho × Wo): the adjoint of output_tiles;
    gm (36, >= nc*T, O)."""
    o_n = grad_out.shape[1]
    n_l = nc * o_n
    gy = np.zeros((2 * th, 2 * tw, n_l), grad_out.dtype)       # the chunk, zero padded
    pack(grad_out, n0, nc, gy, 0, 0)
    gf = gm.reshape(36, gm.shape[1] * o_n)
    z = np.empty((2, 6, n_l), gm.dtype)                        # gY A^T, per row r
    for a in range(th):
        for bb in range(tw):
            q = (a * tw + bb) * n_l
            for r in range(2):
                _a(gy[2 * a + r, 2 * bb], gy[2 * a + r, 2 * bb + 1],
                   z[r, 0], z[r, 1], z[r, 2], z[r, 3], z[r, 4], z[r, 5])
            for k in range(6):                                 # A (gY A^T)
                _a(z[0, k], z[1, k], gf[k, q:q + n_l], gf[6 + k, q:q + n_l],
                   gf[12 + k, q:q + n_l], gf[18 + k, q:q + n_l], gf[24 + k, q:q + n_l],
                   gf[30 + k, q:q + n_l])
