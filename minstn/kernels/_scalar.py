"""Per-element maths shared by the CPU (`numba.njit`) and CUDA kernels.

Each function here works on scalars only and is decorated with `scalar`, so the
CPU kernels inline it; the CUDA kernels compile the same Python source as device
functions with `cuda.jit(device=True)(f.py_func)`. Write the maths once here,
never twice in the kernels.
"""
import math

import numba

scalar = numba.njit(cache=True, inline="always")


# ---- affine grid and bilinear / linear sampling (kernels/*/grid_sample.py) ----------
#
# Coordinates are normalised to [-1, 1] across an axis of `size` pixels. With
# align_corners=True, -1 and 1 are the centres of the first and last pixels; with
# align_corners=False, they are the outer edges of those pixels (PyTorch's
# convention for both).

@scalar
def base_coord(i, size, align_corners):
    """Normalised coordinate of pixel i of an axis of `size` pixels (affine_grid's base grid).

    align_corners=True: -1 + 2 i / (size - 1)      align_corners=False: (2 i + 1) / size - 1
    An axis of one pixel has coordinate 0 in both modes (as PyTorch, since 1.3).
    """
    if size <= 1:
        return 0.0
    if align_corners:
        return 2.0 * i / (size - 1) - 1.0
    return (2.0 * i + 1.0) / size - 1.0


@scalar
def affine_coord(t0, t1, t2, x, y):
    """One output coordinate of an affine map: t0 x + (t1 y + t2), in float64.

    (t1 y + t2 is constant along a row of the grid, so compilers hoist it.)
    """
    return float(t0) * x + (float(t1) * y + float(t2))


@scalar
def unnormalize(coord, size, align_corners):
    """Pixel position of a normalised coordinate, and d(position)/d(coord).

    align_corners=True: (coord + 1) (size - 1) / 2
    align_corners=False: ((coord + 1) size - 1) / 2
    """
    if align_corners:
        scale = 0.5 * (size - 1)
        return (float(coord) + 1.0) * scale, scale
    return ((float(coord) + 1.0) * size - 1.0) * 0.5, 0.5 * size


# A position of -2 marks a sample with no neighbour inside the image: its taps -2 and -1
# both lie outside, so it reads 0 and gets gradient 0. source_index returns it for
# non-finite coordinates and (zeros padding) for points beyond the image, which also
# keeps floor() and int() safe for NaN, inf and huge coordinates.
NOWHERE = -2.0


@scalar
def source_index(coord, size, border, align_corners):
    """Pixel position p of a normalised coordinate, and dp/d(coord), ready for linear_taps.

    coord NaN or ±inf: (NOWHERE, 0), the sample is 0 (our rule; see ops/sampling.py).
    border=True: p is clipped to [0, size-1]; dp is 0 unless p lies strictly inside
    (0, size-1), as in PyTorch (a clipped coordinate does not move the sample).
    border=False (zeros padding): p outside [-1, size) has no tap inside: (NOWHERE, 0).
    """
    if not math.isfinite(coord):
        return NOWHERE, 0.0
    p, d = unnormalize(coord, size, align_corners)
    if border:
        hi = size - 1.0
        if p <= 0.0:
            return 0.0, 0.0
        if p >= hi:
            return hi, 0.0
        return p, d
    if p < -1.0 or p >= size:
        return NOWHERE, 0.0
    return p, d


@scalar
def linear_taps(p):
    """Left neighbour i0 = floor(p) of position p and the weights of i0 and i0 + 1.

    w1 = p - i0,  w0 = 1 - w1;  the interpolated value is w0 v[i0] + w1 v[i0 + 1].
    p must be finite and moderate: a result of source_index.
    """
    f = math.floor(p)
    w1 = p - f
    return int(f), 1.0 - w1, w1


@scalar
def inside(i, size):
    """Whether tap index i addresses a pixel of an axis of `size` pixels.

    (The CPU kernels read taps from a zero-padded copy instead; a kernel that reads the
    image directly, e.g. on the GPU, checks each tap with this.)
    """
    return 0 <= i and i < size


# ---- LSTM gates (kernels/*/lstm.py) -----------------------------------------------
# σ and tanh are written through e = exp(-|x|) ≤ 1, which never overflows (also not
# in pure Python, where math.exp raises). The CPU kernel computes all the e of a
# step in one vectorised pass and calls the `_e` forms; a CUDA kernel calls
# sigmoid / tanh. The cell itself is c = f c_prev + i g, h = o tanh(c).

@scalar
def sigmoid_e(x, e, one):
    """σ(x) = 1 / (1 + exp(-x)) given e = exp(-|x|):  σ(|x|) = 1/(1+e),  σ(-|x|) = e/(1+e).

    one: 1 in the working precision (1.0, or a float32 1 to keep float32 maths: a
    literal 1.0 is float64 and would promote it).
    """
    s = one / (one + e)
    return s if x >= 0 else e * s


@scalar
def tanh_e(x, e, one):
    """tanh(x) given e = exp(-|x|):  tanh(|x|) = (1 - e²)/(1 + e²), odd in x.

    one as in sigmoid_e. Absolute error ~1 ulp (relative error grows near 0, where
    1 - e² cancels).
    """
    e2 = e * e
    t = (one - e2) / (one + e2)
    return t if x >= 0 else -t


@scalar
def sigmoid(x):
    """σ(x) = 1 / (1 + exp(-x)), without overflow, in float64."""
    return sigmoid_e(x, math.exp(-abs(x)), 1.0)


@scalar
def tanh(x):
    """tanh(x) through one exp of -|x|, in float64."""
    return tanh_e(x, math.exp(-abs(x)), 1.0)


@scalar
def lstm_cell_backward(i, f, g, o, tc, c_prev, dh, dc):
    """Backward of one LSTM unit, c = f c_prev + i g and h = o tc with tc = tanh(c).

    i, f, g, o: the activated gates (σ, σ, tanh, σ of the pre-activations a).

    dh, dc: dL/dh_t and dL/dc_t arriving from the output and from step t+1.
    dc_tot = dc + dh o (1 - tc²);  returns the pre-activation gradients
    (dL/da_i, dL/da_f, dL/da_g, dL/da_o) = (dc_tot g i(1-i), dc_tot c_prev f(1-f),
    dc_tot i (1-g²), dh tc o(1-o)) and dL/dc_prev = dc_tot f.
    Written without the literal 1, which would promote float32 maths to float64.
    """
    dho = dh * o
    dc = dc + dho - dho * tc * tc
    return (dc * g * (i - i * i), dc * c_prev * (f - f * f),
            dc * (i - i * g * g), dh * tc * (o - o * o), dc * f)


# ---- projective grid (kernels/*/grids.py) -------------------------------------------------
#
# A homography θ (3×3) maps an output point b = (x, y, 1) to (u, v, w) = θ b and reads the
# input at (u / w, v / w). Where w <= W_MIN the point lies on or behind the horizon of the
# plane: there is no image there, so the grid holds +inf, which every sampler reads as an
# outside point (value 0, gradient 0). W_MIN keeps 1 / w finite near the horizon.
W_MIN = 1e-6


@scalar
def projective_point(t00, t01, t02, t10, t11, t12, t20, t21, t22, x, y):
    """(x_src, y_src, 1 / w) of the output point (x, y) under θ; (inf, inf, 0) if w <= W_MIN.

    d x_src / d θ0j = b_j / w,   d y_src / d θ1j = b_j / w,
    d x_src / d θ2j = -x_src b_j / w,   d y_src / d θ2j = -y_src b_j / w,   b = (x, y, 1).
    """
    w = float(t20) * x + (float(t21) * y + float(t22))
    if not w > W_MIN:                                   # also catches NaN
        return math.inf, math.inf, 0.0
    inv = 1.0 / w
    return (affine_coord(t00, t01, t02, x, y) * inv, affine_coord(t10, t11, t12, x, y) * inv,
            inv)
