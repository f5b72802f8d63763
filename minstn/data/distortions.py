"""The four distortions of MNIST in Jaderberg et al. (2015), Table 1, built on minstn's grids.

    R    rotation, uniform in ±90°, on the 28×28 image
    RTS  rotation ±45°, scale 0.7–1.2, the digit placed at random on a 42×42 canvas
    P    projective: the image scaled by U(0.75, 1), then each of its four corners
         moved by N(0, σ²) per axis (σ = 0.1 of the half-side, about 1.4 px): the
         homography that takes the output's corners to those points
    E    elastic: a thin-plate spline through a 4×4 grid of control points, each read
         from a point moved by U(±0.15) of the half-side per axis (about ±2 px)

Each is an inverse map (output point → where to read the input), drawn per image from a
seeded generator, so a seed fixes the data exactly. The paper's appendix gives the
distortions in words; the numbers above are the ones this project uses, and every
run records them (`DISTORTIONS[name]`).
"""
from __future__ import annotations

import numpy as np

from ..autograd.function import no_grad
from ..autograd.tensor import Tensor
from .distort import RTS, place, rts_distort

DISTORTIONS = {
    "R": dict(rotation=90.0, canvas=28),
    "RTS": dict(rotation=45.0, scale=(0.7, 1.2), translation=None, canvas=42),
    "P": dict(scale=(0.75, 1.0), corner_std=0.1, canvas=28),
    "E": dict(ctrl=(4, 4), amplitude=0.15, canvas=28),
}
CORNERS = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])   # (x, y), clockwise


def homography(src, dst):
    """θ (N, 3, 3) with θ22 = 1 that maps each src point (N, 4, 2) to its dst point:
    θ (x, y, 1) ∝ (x', y', 1). The 8×8 direct linear system per sample."""
    n = len(src)
    A = np.zeros((n, 8, 8))
    b = np.zeros((n, 8))
    x, y = src[..., 0], src[..., 1]
    u, v = dst[..., 0], dst[..., 1]
    A[:, 0::2, 0], A[:, 0::2, 1], A[:, 0::2, 2] = x, y, 1
    A[:, 0::2, 6], A[:, 0::2, 7] = -u * x, -u * y
    A[:, 1::2, 3], A[:, 1::2, 4], A[:, 1::2, 5] = x, y, 1
    A[:, 1::2, 6], A[:, 1::2, 7] = -v * x, -v * y
    b[:, 0::2], b[:, 1::2] = u, v
    h = np.linalg.solve(A, b[..., None])[..., 0]                         # (N, 8)
    return np.concatenate([h, np.ones((n, 1))], axis=1).reshape(n, 3, 3)


def _sample(x, grid):
    from .. import functional as F
    with no_grad():
        return F.grid_sample(Tensor(x), Tensor(grid.astype(x.dtype)), padding_mode="zeros",
                             align_corners=False).numpy()


def projective_distort(images, rng, scale=(0.75, 1.0), corner_std=0.1, canvas=28,
                       return_params=False):
    """uint8 (N, 28, 28) → float32 (N, 1, canvas, canvas) under a random homography (P)."""
    from .. import functional as F
    n = len(images)
    s = rng.uniform(scale[0], scale[1], n)                                # (N,)
    reads = CORNERS[None] / s[:, None, None] + rng.normal(0, corner_std, (n, 4, 2))
    theta = homography(np.repeat(CORNERS[None], n, 0), reads)             # output → input
    x = place(images, canvas)
    with no_grad():
        grid = F.projective_grid(Tensor(theta), (n, 1, canvas, canvas)).numpy()
    out = _sample(x, grid)
    return (out, dict(scale=s, corner_reads=reads, theta=theta)) if return_params else out


def elastic_distort(images, rng, ctrl=(4, 4), amplitude=0.15, canvas=28, return_params=False):
    """uint8 (N, 28, 28) → float32 (N, 1, canvas, canvas) under a random TPS (E)."""
    from .. import functional as F
    n, k = len(images), ctrl[0] * ctrl[1]
    offsets = rng.uniform(-amplitude, amplitude, (n, k, 2))
    x = place(images, canvas)
    with no_grad():
        grid = F.tps_grid(Tensor(offsets), (n, 1, canvas, canvas), ctrl=tuple(ctrl)).numpy()
    out = _sample(x, grid)
    return (out, dict(offsets=offsets)) if return_params else out


def distort(name, images, rng):
    """Distortion `name` (R, RTS, P, E) of uint8 digits (N, 28, 28) → float32 (N, 1, S, S)."""
    if name not in DISTORTIONS:
        raise ValueError(f"distortion must be one of {list(DISTORTIONS)}, got {name!r}")
    p = DISTORTIONS[name]
    if name == "R":
        return rts_distort(images, rng, RTS(p["rotation"], 0.0, (1.0, 1.0)), p["canvas"])
    if name == "RTS":
        return rts_distort_anywhere(images, rng, p["rotation"], p["scale"], p["canvas"])
    if name == "P":
        return projective_distort(images, rng, p["scale"], p["corner_std"], p["canvas"])
    return elastic_distort(images, rng, p["ctrl"], p["amplitude"], p["canvas"])


def rts_distort_anywhere(images, rng, rotation=45.0, scale=(0.7, 1.2), canvas=42,
                         return_params=False):
    """RTS with the digit placed uniformly at random where it fits on the canvas: the shift
    range is the canvas minus the scaled digit's half-diagonal footprint (normalised)."""
    from .distort import theta_for, warp
    n = len(images)
    angle = rng.uniform(-rotation, rotation, n)
    s = rng.uniform(scale[0], scale[1], n)
    half = s * 14 * np.sqrt(2) / (canvas / 2)               # digit half-extent, normalised
    room = np.clip(1 - half, 0, None)                        # how far its centre may move
    shift = rng.uniform(-1, 1, (n, 2)) * room[:, None]
    out = warp(place(images, canvas), theta_for(angle, s, shift))
    return (out, dict(angle=angle, scale=s, shift=shift)) if return_params else out
