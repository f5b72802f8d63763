"""3×3 stride-1 convolution by Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray, 2016),
and the drivers that also run 5×5 layers by F(2×2, 5×5) (its transforms: `winograd5.py`).

The plain version is `conv.py` (im2col + one matrix product): read that first. This one
gives the same sums with 2.25× fewer multiply-adds, for the 3×3 layers of experiment 1's
CNN, where the products are most of a step. The 5×5 kernel has the same shape with 6×6
tiles and 36 products (2.8× fewer multiply-adds than im2col), for the ST-CNN classifiers'
32->64 layers; the drivers below take aa = 16 or 36 transformed planes.

The outputs are cut into 2×2 tiles. The tile at tile row a, tile column b of one
(sample, output channel) needs the 4×4 input block d_c at rows 2a - ph .. 2a - ph + 3 and
columns 2b - pw .. 2b - pw + 3 of every input channel c (0 outside x), and

    Y = A^T [ sum_c (G g_oc G^T) ⊙ (B^T d_c B) ] A        (⊙: element by element)

    B^T = [1  0 -1  0]      G = [1    0    0 ]      A^T = [1  1  1  0]
          [0  1  1  0]          [1/2  1/2  1/2]            [0  1 -1 -1]
          [0 -1  1  0]          [1/2 -1/2  1/2]
          [0  1  0 -1]          [0    0    1 ]

is exactly the 2×2 block of the 3×3 cross-correlation (expand the products to check).
The sum over c at each of the 16 positions ξ = (i, k) of the 4×4 tile is a matrix product
over all tiles t = (sample, a, b) of a chunk at once, which is where the time goes:

    U[ξ] (C, O) = (G g G^T)[ξ]   V[ξ] (T, C) = (B^T d B)[ξ]   M[ξ] (T, O) = V[ξ] @ U[ξ]

16 products of T·C·O multiply-adds against im2col's one of (4T)·9C·O: 16/36. The backward
reads the same three steps the other way round, each transform's adjoint in its place:

    gM = A gY A^T (per tile)   gU[ξ] = V[ξ]^T @ gM[ξ]   gV[ξ] = gM[ξ] @ U[ξ]^T
    grad_w = G^T gU G          grad_x = sum over tiles of B gV B^T at the tile's place

Every transform is additions only, applied as a pass over rows and one over columns. They
work channels last (below), so that each inner loop runs over many contiguous numbers. Tiles
overlap by two input rows and columns, so the input transform's adjoint adds two tiles'
parts into each shared row (and column), always in the same order. Float32 rounding differs
from im2col's (other sums, in another order); `tests/test_winograd.py` holds both to 1e-5
of the float64 result. Batches run in chunks of samples, as in `conv.py`, dealt out to lanes
when Numba has several threads; grad_w adds the chunks' gU in chunk order, so the results
are the same on any number of threads.
"""
import numpy as np
from numba import njit, prange

from . import winograd5 as w5
from ._channels_last import pack, unpack
from ._gemm import gemm
from ._threads import drive, wave

# A chunk's transformed tiles (16, nc*T, max(C, O)) hold at most this many entries (768 KiB
# of float32). Measured on the exp1 CNN's two layers (one thread, probe script, an earlier
# version of the transforms): with 2 samples a chunk the 32->64 layer on 19x19 ran forward +
# backward in 14.7 ms, with 6 in 16.3, with 12 in 20.9; the 64->128 layer on 8x8 was within
# 5% from 4 to 12 samples (5.4-5.7 ms) and slower below. This size gives them 2 and 10.
CHUNK_ELEMENTS = 3 << 16
# The same bound for the 5×5 kernel's (36, nc*T, max(C, O)) tiles: 3 MiB of float32. Its
# products are thinner per sample (a 12×12 input gives 16 tiles), and on the AMD VM (one
# thread, forward + backward of the 32->64 layer, N 64, medians of five alternating rounds,
# probe script) bigger chunks ran faster: on 12×12 5 samples a chunk 17.1 ms, 21 samples
# 15.5; on 19×19 1 sample 81.8 ms, 5 samples 61.0. This size gives them 21 and 5.
CHUNK_ELEMENTS_5X5 = 3 << 18
# Fewer input channels than this stay on im2col. Forward + backward, N 64, one thread (probe
# script): 1 channel -> 32 on 28x28 2.2 ms on im2col, 5.6 here; 4 -> 32 6.0 against 7.6-7.9;
# 8 -> 32 9.6-10.0 against 11.0-11.3, but 8 -> 16 on 19x19 3.1-3.2 against 2.9; 12 -> 32 on
# 19x19 6.2-6.3 against 5.0-5.1; 16 -> 32 7.8-7.9 against 5.1-5.2.
MIN_CHANNELS = 16


def applies(c_in, kh, kw, sh, sw) -> bool:
    """Whether conv2d takes this path: 3×3 or 5×5, stride 1, at least MIN_CHANNELS input
    channels."""
    return kh == kw and kh in (3, 5) and sh == 1 and sw == 1 and c_in >= MIN_CHANNELS


@njit(cache=True)
def _weight_tiles(w, u):
    """u[(i, k), c, o] = (G g G^T)[i, k] for g = w[o, c] (3, 3); u (16, C, O)."""
    gg = np.empty((4, 3), w.dtype)                             # G g
    for o in range(w.shape[0]):
        for c in range(w.shape[1]):
            for j in range(3):
                g0, g1, g2 = w[o, c, 0, j], w[o, c, 1, j], w[o, c, 2, j]
                gg[0, j] = g0
                gg[1, j] = (g0 + g1 + g2) * 0.5
                gg[2, j] = (g0 - g1 + g2) * 0.5
                gg[3, j] = g2
            for i in range(4):                                 # (G g) G^T
                h0, h1, h2 = gg[i, 0], gg[i, 1], gg[i, 2]
                u[4 * i + 0, c, o] = h0
                u[4 * i + 1, c, o] = (h0 + h1 + h2) * 0.5
                u[4 * i + 2, c, o] = (h0 - h1 + h2) * 0.5
                u[4 * i + 3, c, o] = h2


@njit(cache=True)
def _weight_tiles_adjoint(gu, grad_w):
    """grad_w[o, c] = G^T gU[:, c, o] G, the adjoint of _weight_tiles; gu (16, C, O)."""
    q = np.empty((4, 3), gu.dtype)                             # gU G, row by row
    for o in range(grad_w.shape[0]):
        for c in range(grad_w.shape[1]):
            for i in range(4):
                a0, a1, a2, a3 = (gu[4 * i, c, o], gu[4 * i + 1, c, o],
                                  gu[4 * i + 2, c, o], gu[4 * i + 3, c, o])
                q[i, 0] = a0 + (a1 + a2) * 0.5
                q[i, 1] = (a1 - a2) * 0.5
                q[i, 2] = (a1 + a2) * 0.5 + a3
            for j in range(3):                                 # G^T (gU G)
                a0, a1, a2, a3 = q[0, j], q[1, j], q[2, j], q[3, j]
                grad_w[o, c, 0, j] = a0 + (a1 + a2) * 0.5
                grad_w[o, c, 1, j] = (a1 - a2) * 0.5
                grad_w[o, c, 2, j] = (a1 + a2) * 0.5 + a3


# The transforms work on a chunk of nc samples at a time, channels last: the chunk copied
# into a zero-padded (rows, columns, nc*C) buffer. Every loop below then runs innermost over
# nc*C (or nc*O) contiguous numbers, on 1-D views, with at most four arrays written per loop.
# That is what lets LLVM vectorise them: with longer index arithmetic in the loop, or more
# arrays than it will check for overlap at run time, the same loops ran scalar, 3-5x slower
# (probe scripts). Tiles are numbered
# t = (a*tw + b)*nc + m, so the nc samples of one tile position are nc consecutive rows of
# V[ξ] (T, C) and M[ξ] (T, O); the products do not care about the order of the rows.

@njit(cache=True)
def _input_tiles(x, n0, nc, v, ph, pw, th, tw):
    """v[(i, k), (a*tw + b)*nc + m, c] = (B^T d B)[i, k] for d the 4×4 block of x[n0 + m, c]
    at rows 2a - ph.., columns 2b - pw.. (0 outside x); v (16, >= nc*th*tw, C)."""
    c_in = x.shape[1]
    hp, wp = 2 * th + 2, 2 * tw + 2                            # >= h + 2 ph, w + 2 pw
    n_l = nc * c_in
    p = np.zeros((hp, wp, n_l), x.dtype)                       # the chunk, zero padded
    pack(x, n0, nc, p, ph, pw)
    e = np.empty((4, 4, n_l), x.dtype)                         # one tile's d B
    vf = v.reshape(16, v.shape[1] * c_in)
    for a in range(th):
        for b in range(tw):
            for i in range(4):                                 # rows: d B
                d0, d1 = p[2 * a + i, 2 * b], p[2 * a + i, 2 * b + 1]
                d2, d3 = p[2 * a + i, 2 * b + 2], p[2 * a + i, 2 * b + 3]
                e0, e1, e2, e3 = e[i, 0], e[i, 1], e[i, 2], e[i, 3]
                for j in range(n_l):
                    e0[j] = d0[j] - d2[j]
                    e1[j] = d1[j] + d2[j]
                    e2[j] = d2[j] - d1[j]
                    e3[j] = d1[j] - d3[j]
            q = (a * tw + b) * n_l
            for k in range(4):                                 # columns: B^T (d B)
                e0, e1, e2, e3 = e[0, k], e[1, k], e[2, k], e[3, k]
                v0, v1 = vf[k, q:q + n_l], vf[4 + k, q:q + n_l]
                v2, v3 = vf[8 + k, q:q + n_l], vf[12 + k, q:q + n_l]
                for j in range(n_l):
                    v0[j] = e0[j] - e2[j]
                    v1[j] = e1[j] + e2[j]
                    v2[j] = e2[j] - e1[j]
                    v3[j] = e1[j] - e3[j]


@njit(cache=True)
def _input_tiles_adjoint(gv, n0, nc, grad_x, ph, pw, th, tw):
    """grad_x[n0 + m, c] = the sum over tiles of B gV B^T at each tile's place (the adjoint
    of _input_tiles; padding dropped); gv (16, >= nc*th*tw, C)."""
    c_in = grad_x.shape[1]
    hp, wp = 2 * th + 2, 2 * tw + 2
    n_l = nc * c_in
    gf = gv.reshape(16, gv.shape[1] * c_in)
    # columns, B gV: tile a writes its part of rows 2a, 2a+1, then adds its part of rows
    # 2a+2, 2a+3 (tile a+1's first two)
    gh = np.empty((hp, tw, 4, n_l), gv.dtype)
    gh[2 * th:] = 0
    for a in range(th):
        for b in range(tw):
            q = (a * tw + b) * n_l
            for k in range(4):
                g0, g1 = gf[k, q:q + n_l], gf[4 + k, q:q + n_l]
                g2, g3 = gf[8 + k, q:q + n_l], gf[12 + k, q:q + n_l]
                r0, r1 = gh[2 * a, b, k], gh[2 * a + 1, b, k]
                for j in range(n_l):
                    r0[j] = g0[j]
                    r1[j] = g1[j] - g2[j] + g3[j]
    for a in range(th):
        for b in range(tw):
            q = (a * tw + b) * n_l
            for k in range(4):
                g0, g1 = gf[k, q:q + n_l], gf[4 + k, q:q + n_l]
                g2, g3 = gf[8 + k, q:q + n_l], gf[12 + k, q:q + n_l]
                r2, r3 = gh[2 * a + 2, b, k], gh[2 * a + 3, b, k]
                for j in range(n_l):
                    r2[j] += g1[j] + g2[j] - g0[j]
                    r3[j] -= g3[j]
    # rows, (B gV) B^T: the same with columns 2b .. 2b+3
    gp = np.empty((hp, wp, n_l), gv.dtype)
    for r in range(hp):
        gp[r, 2 * tw:] = 0
        for b in range(tw):
            e0, e1, e2, e3 = gh[r, b, 0], gh[r, b, 1], gh[r, b, 2], gh[r, b, 3]
            s0, s1 = gp[r, 2 * b], gp[r, 2 * b + 1]
            for j in range(n_l):
                s0[j] = e0[j]
                s1[j] = e1[j] - e2[j] + e3[j]
        for b in range(tw):
            e0, e1, e2, e3 = gh[r, b, 0], gh[r, b, 1], gh[r, b, 2], gh[r, b, 3]
            s2, s3 = gp[r, 2 * b + 2], gp[r, 2 * b + 3]
            for j in range(n_l):
                s2[j] += e1[j] + e2[j] - e0[j]
                s3[j] -= e3[j]
    unpack(gp, n0, nc, grad_x, ph, pw, gp[0, 0, :0])


@njit(cache=True)
def _output_tiles(mt, b, out, n0, nc):
    """out[n0 + m, o] = A^T M A tile by tile + b[o], cropped to Ho × Wo; mt (16, >= nc*T, O),
    b (O,)."""
    o_n, ho, wo = out.shape[1], out.shape[2], out.shape[3]
    th, tw = _tiles(ho, wo)
    n_l = nc * o_n
    mf = mt.reshape(16, mt.shape[1] * o_n)
    z = np.empty((2, 4, n_l), mt.dtype)                        # A^T M, per column k
    y = np.empty((2 * th, 2 * tw, n_l), mt.dtype)              # the chunk, channels last
    for a in range(th):
        for bb in range(tw):
            q = (a * tw + bb) * n_l
            for k in range(4):
                m0, m1 = mf[k, q:q + n_l], mf[4 + k, q:q + n_l]
                m2, m3 = mf[8 + k, q:q + n_l], mf[12 + k, q:q + n_l]
                z0, z1 = z[0, k], z[1, k]
                for j in range(n_l):
                    z0[j] = m0[j] + m1[j] + m2[j]
                    z1[j] = m1[j] - m2[j] - m3[j]
            for r in range(2):                                 # (A^T M) A
                z0, z1, z2, z3 = z[r, 0], z[r, 1], z[r, 2], z[r, 3]
                y0, y1 = y[2 * a + r, 2 * bb], y[2 * a + r, 2 * bb + 1]
                for j in range(n_l):
                    y0[j] = z0[j] + z1[j] + z2[j]
                    y1[j] = z1[j] - z2[j] - z3[j]
    unpack(y, n0, nc, out, 0, 0, b)


@njit(cache=True)
def _grad_tiles(grad_out, n0, nc, gm):
    """gm[(i, k), (a*tw + b)*nc + m, o] = (A gY A^T)[i, k] for gY the 2×2 tile of
    grad_out[n0 + m, o] (0 where the tile overhangs Ho × Wo): the adjoint of _output_tiles;
    gm (16, >= nc*T, O)."""
    o_n, ho, wo = grad_out.shape[1], grad_out.shape[2], grad_out.shape[3]
    th, tw = _tiles(ho, wo)
    n_l = nc * o_n
    gy = np.zeros((2 * th, 2 * tw, n_l), grad_out.dtype)       # the chunk, zero padded
    pack(grad_out, n0, nc, gy, 0, 0)
    gf = gm.reshape(16, gm.shape[1] * o_n)
    for a in range(th):
        for bb in range(tw):
            q = (a * tw + bb) * n_l
            g00, g01 = gy[2 * a, 2 * bb], gy[2 * a, 2 * bb + 1]
            g10, g11 = gy[2 * a + 1, 2 * bb], gy[2 * a + 1, 2 * bb + 1]
            # gY A^T gives per row r the four q_rk; then column k of A (gY A^T) is
            # (q_0k, q_0k + q_1k, q_0k - q_1k, -q_1k)
            o0, o1, o2, o3 = gf[0, q:q + n_l], gf[4, q:q + n_l], gf[8, q:q + n_l], gf[12, q:q + n_l]
            for j in range(n_l):                               # k = 0: q_r0 = g_r0
                o0[j] = g00[j]
                o1[j] = g00[j] + g10[j]
                o2[j] = g00[j] - g10[j]
                o3[j] = -g10[j]
            o0, o1, o2, o3 = gf[1, q:q + n_l], gf[5, q:q + n_l], gf[9, q:q + n_l], gf[13, q:q + n_l]
            for j in range(n_l):                               # k = 1: q_r1 = g_r0 + g_r1
                q0, q1 = g00[j] + g01[j], g10[j] + g11[j]
                o0[j] = q0
                o1[j] = q0 + q1
                o2[j] = q0 - q1
                o3[j] = -q1
            o0, o1, o2, o3 = gf[2, q:q + n_l], gf[6, q:q + n_l], gf[10, q:q + n_l], gf[14, q:q + n_l]
            for j in range(n_l):                               # k = 2: q_r2 = g_r0 - g_r1
                q0, q1 = g00[j] - g01[j], g10[j] - g11[j]
                o0[j] = q0
                o1[j] = q0 + q1
                o2[j] = q0 - q1
                o3[j] = -q1
            o0, o1, o2, o3 = gf[3, q:q + n_l], gf[7, q:q + n_l], gf[11, q:q + n_l], gf[15, q:q + n_l]
            for j in range(n_l):                               # k = 3: q_r3 = -g_r1
                q0, q1 = -g01[j], -g11[j]
                o0[j] = q0
                o1[j] = q0 + q1
                o2[j] = q0 - q1
                o3[j] = -q1


@njit(cache=True)
def _chunk_size(n, c_in, o_n, tiles, aa):
    """Samples per chunk: its tiles (aa, nc*T, max(C, O)) within CHUNK_ELEMENTS; >= 1.
    aa = (r + 1)**2 transformed planes for an r×r kernel."""
    elements = CHUNK_ELEMENTS if aa == 16 else CHUNK_ELEMENTS_5X5
    return max(1, min(n, elements // (aa * max(c_in, o_n) * tiles)))


@njit(cache=True)
def _tiles(ho, wo):
    """(th, tw): tile rows and columns of an Ho × Wo output (the last ones may overhang)."""
    return (ho + 1) // 2, (wo + 1) // 2


@njit(cache=True)
def _plane_rows(t):
    """Rows of a plane holding t tiles: t rounded up to odd. Planes whose size is a multiple
    of 4 KiB land on the same cache sets, and the transforms read or write all 16 (36) at once
    (at chunk sizes where that happened, the backward took 2.5x as long)."""
    return t | 1


@njit(cache=True)
def _planes(buf, t, width, aa):
    """buf as aa planes (_plane_rows(t), width)."""
    tp = _plane_rows(t)
    return buf[:aa * tp * width].reshape(aa, tp, width)


@njit(cache=True)
def _forward_chunk(x, u, b, out, n0, nc, v_buf, m_buf, ph, pw):
    """Samples n0 .. n0+nc-1 of conv_forward, in the scratch buffers given; u (aa, C, O)."""
    th, tw = _tiles(out.shape[2], out.shape[3])
    t = nc * th * tw
    aa = u.shape[0]                                            # 16 for 3×3, 36 for 5×5
    v = _planes(v_buf, t, x.shape[1], aa)                      # (aa, T, C)
    mt = _planes(m_buf, t, out.shape[1], aa)                   # (aa, T, O)
    if aa == 16:
        _input_tiles(x, n0, nc, v, ph, pw, th, tw)
    else:
        w5.input_tiles(x, n0, nc, v, ph, pw, th, tw)
    for xi in range(aa):
        gemm(v[xi, :t], False, u[xi], False, mt[xi, :t])      # (T, C) @ (C, O)
    if aa == 16:
        _output_tiles(mt, b, out, n0, nc)
    else:
        w5.output_tiles(mt, b, out, n0, nc, th, tw)


@njit(cache=True)
def _backward_chunk(x, ut, grad_out, grad_x, gu_chunk, n0, nc, v_buf, m_buf, ph, pw):
    """Samples n0 .. n0+nc-1 of conv_backward: grad_x's samples, and this chunk's gU
    (aa, C, O) into gu_chunk if it is not empty. ut (aa, O, C) is U transposed."""
    th, tw = _tiles(grad_out.shape[2], grad_out.shape[3])
    t = nc * th * tw
    aa = ut.shape[0]
    v = _planes(v_buf, t, x.shape[1], aa)                      # (aa, T, C)
    gm = _planes(m_buf, t, grad_out.shape[1], aa)              # (aa, T, O)
    if aa == 16:
        _grad_tiles(grad_out, n0, nc, gm)
    else:
        w5.grad_tiles(grad_out, n0, nc, gm, th, tw)
    if gu_chunk.size > 0:
        if aa == 16:
            _input_tiles(x, n0, nc, v, ph, pw, th, tw)
        else:
            w5.input_tiles(x, n0, nc, v, ph, pw, th, tw)
        for xi in range(aa):
            gemm(v[xi, :t], True, gm[xi, :t], False, gu_chunk[xi])  # (C, T) @ (T, O)
    if grad_x.size > 0:
        for xi in range(aa):
            gemm(gm[xi, :t], False, ut[xi], False, v[xi, :t])  # (T, O) @ (O, C)
        if aa == 16:
            _input_tiles_adjoint(v, n0, nc, grad_x, ph, pw, th, tw)
        else:
            w5.input_tiles_adjoint(v, n0, nc, grad_x, ph, pw, th, tw)


# Each driver twice, as in conv.py (which says why they are not one generic driver): a
# loop over the chunks, and lanes of chunks.
@njit(cache=True)
def _forward_serial(x, u, b, out, chunk, ph, pw):
    n, o_n, c_in = out.shape[0], out.shape[1], x.shape[1]
    th, tw = _tiles(out.shape[2], out.shape[3])
    t = _plane_rows(chunk * th * tw)
    v_buf = np.empty(u.shape[0] * c_in * t, x.dtype)
    m_buf = np.empty(u.shape[0] * o_n * t, x.dtype)
    for n0 in range(0, n, chunk):
        _forward_chunk(x, u, b, out, n0, min(chunk, n - n0), v_buf, m_buf, ph, pw)


@njit(cache=True, parallel=True)
def _forward_lanes(x, u, b, out, chunk, ph, pw, lanes):
    n, o_n, c_in = out.shape[0], out.shape[1], x.shape[1]
    th, tw = _tiles(out.shape[2], out.shape[3])
    t = _plane_rows(chunk * th * tw)
    v_bufs = np.empty((lanes, u.shape[0] * c_in * t), x.dtype)
    m_bufs = np.empty((lanes, u.shape[0] * o_n * t), x.dtype)
    n_chunks = (n + chunk - 1) // chunk
    for lane in prange(lanes):
        for i in range(lane, n_chunks, lanes):
            n0 = i * chunk
            _forward_chunk(x, u, b, out, n0, min(chunk, n - n0), v_bufs[lane], m_bufs[lane],
                           ph, pw)


@njit(cache=True)
def _backward_serial(x, ut, grad_out, grad_x, gu, chunk, ph, pw):
    n, o_n, c_in = grad_out.shape[0], grad_out.shape[1], x.shape[1]
    th, tw = _tiles(grad_out.shape[2], grad_out.shape[3])
    t = _plane_rows(chunk * th * tw)
    aa = ut.shape[0]
    v_buf = np.empty(aa * c_in * t, x.dtype)
    m_buf = np.empty(aa * o_n * t, x.dtype)
    gu_chunk = np.empty((aa, c_in, o_n) if gu.size > 0 else (0, 0, 0), x.dtype)
    for n0 in range(0, n, chunk):
        _backward_chunk(x, ut, grad_out, grad_x, gu_chunk, n0, min(chunk, n - n0),
                        v_buf, m_buf, ph, pw)
        if gu.size > 0:
            gu += gu_chunk


@njit(cache=True, parallel=True)
def _backward_lanes(x, ut, grad_out, grad_x, gu, chunk, ph, pw, wave, lanes):
    n, o_n, c_in = grad_out.shape[0], grad_out.shape[1], x.shape[1]
    th, tw = _tiles(grad_out.shape[2], grad_out.shape[3])
    t = _plane_rows(chunk * th * tw)
    n_chunks = (n + chunk - 1) // chunk
    wave = max(wave, lanes)                    # chunks whose gU parts are held at once
    aa = ut.shape[0]
    v_bufs = np.empty((lanes, aa * c_in * t), x.dtype)
    m_bufs = np.empty((lanes, aa * o_n * t), x.dtype)
    need_w = gu.size > 0
    held = min(wave, n_chunks)
    gu_parts = np.empty((held, aa, c_in, o_n) if need_w else (held, 0, 0, 0), x.dtype)
    for w0 in range(0, n_chunks, wave):
        w1 = min(n_chunks, w0 + wave)
        for lane in prange(lanes):
            for i in range(w0 + lane, w1, lanes):
                n0 = i * chunk
                _backward_chunk(x, ut, grad_out, grad_x, gu_parts[i - w0], n0,
                                min(chunk, n - n0), v_bufs[lane], m_bufs[lane], ph, pw)
        if need_w:                   # the chunks' gU added in chunk order, as in the loop
            for xi in prange(aa):
                for i in range(w0, w1):
                    gu[xi] += gu_parts[i - w0, xi]


def _chunk(x, w, ho, wo):
    """Samples per chunk for x (N, C, H, W), w (O, C, r, r) and an Ho × Wo output."""
    th, tw = _tiles(ho, wo)
    return _chunk_size(x.shape[0], x.shape[1], w.shape[0], th * tw, (w.shape[2] + 1) ** 2)


def _weights(w, u):
    """u (aa, C, O) = the transformed weights of w (O, C, r, r), r = 3 or 5 (any strides)."""
    if w.shape[2] == 3:
        _weight_tiles(w, u)
    else:
        w5.weight_tiles(w, u)


def _weights_adjoint(gu, grad_w):
    """grad_w (O, C, r, r) from gU (aa, C, O): the adjoint of _weights."""
    if grad_w.shape[2] == 3:
        _weight_tiles_adjoint(gu, grad_w)
    else:
        w5.weight_tiles_adjoint(gu, grad_w)


def conv_forward(x, w, b, out, ph, pw):
    """conv2d_forward for a 3×3 or 5×5 kernel at stride 1: x (N, C, H, W), w (O, C, r, r),
    b (O,) or (0,), out (N, O, H + 2 ph - r + 1, W + 2 pw - r + 1)."""
    aa = (w.shape[2] + 1) ** 2
    chunk = _chunk(x, w, out.shape[2], out.shape[3])
    u = np.empty((aa, w.shape[1], w.shape[0]), w.dtype)        # (aa, C, O)
    _weights(w, u)
    if b.shape[0] == 0:
        b = np.zeros(w.shape[0], w.dtype)
    drive(-(-x.shape[0] // chunk), _forward_serial, _forward_lanes, x, u, b, out, chunk, ph, pw)


def conv_backward(x, w, grad_out, grad_x, grad_w, ph, pw):
    """grad_x and grad_w of conv_forward (an array of size 0 is not computed; grad_b is
    conv.py's)."""
    aa = (w.shape[2] + 1) ** 2
    chunk = _chunk(x, w, grad_out.shape[2], grad_out.shape[3])
    # U^T as its own C-ordered array, the transform written through an (aa, C, O) view of
    # it: OpenBLAS ran gM @ U^T 1.5x faster from it than from a transposed view of U (probe
    # script, the exp1 CNN's two 3×3 layers)
    ut = np.empty((aa, w.shape[0], w.shape[1]), w.dtype)       # (aa, O, C)
    _weights(w, ut.transpose(0, 2, 1))
    gu = np.zeros((aa, w.shape[1], w.shape[0]) if grad_w.size > 0 else (0, 0, 0), w.dtype)
    n_chunks = -(-x.shape[0] // chunk)
    drive(n_chunks, _backward_serial, _backward_lanes, x, ut, grad_out, grad_x, gu, chunk, ph, pw,
          lanes_args=(wave(n_chunks, aa * w.shape[0] * w.shape[1]),))
    if grad_w.size > 0:
        _weights_adjoint(gu, grad_w)
