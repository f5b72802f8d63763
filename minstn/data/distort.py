"""RTS distortion (rotation, translation, scale) built on minstn's own sampler.

A distortion is an *inverse map*, as a spatial transformer uses: for every
output pixel p (normalised coordinates in [-1, 1]) we read the input at
θ·[p, 1]. To draw the digit rotated by a, scaled by s and moved by d,

    p = s R(a) q + d        (q: a point of the original digit)
    ⇒  q = R(-a) (p - d) / s    so   θ = [R(-a)/s | -R(-a) d / s].

Translation is given as a fraction of the canvas side; in normalised
coordinates the side is 2 long, so a fraction f moves by 2f (0.1 → 0.2,
4.2 px on the 42-px canvas). The digit (28×28) is first placed in the centre of
a larger canvas (default 42×42) so that rotated or enlarged digits are not cut.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..autograd.function import no_grad
from ..autograd.tensor import Tensor


@dataclass(frozen=True)
class RTS:
    """Ranges of a random RTS distortion (experiment 1's defaults)."""
    rotation: float = 45.0                    # degrees: uniform in [-rotation, rotation]
    translation: float = 0.1                  # fraction of the canvas side, per axis
    scale: tuple = (0.7, 1.3)                 # uniform scale range
    fixed_rotation: float | None = None       # if set: angle = ±fixed_rotation, random sign
    fixed_scale: float | None = None          # if set: every digit at this scale
    fixed_translation: float | None = None    # if set: shift of ±this per axis, random signs

    def to_dict(self):
        return asdict(self)


def theta_for(angle_deg, scale, shift_xy):
    """θ (N, 2, 3) of the inverse map that rotates by angle, scales, then shifts.

    angle_deg (N,), scale (N,), shift_xy (N, 2) in normalised units.
    """
    a = np.deg2rad(np.asarray(angle_deg, np.float64))
    s = np.asarray(scale, np.float64)
    c, si = np.cos(a), np.sin(a)
    rinv = np.stack([np.stack([c, si], -1), np.stack([-si, c], -1)], -2)   # R(-a) (N, 2, 2)
    lin = rinv / s[:, None, None]
    off = -np.einsum("nij,nj->ni", lin, np.asarray(shift_xy, np.float64))
    return np.concatenate([lin, off[:, :, None]], axis=2)                   # (N, 2, 3)


def sample_params(n, rts: RTS, rng: np.random.Generator):
    """Draw angle (deg), scale and shift (normalised) for n images."""
    if rts.fixed_rotation is not None:
        angle = rts.fixed_rotation * rng.choice([-1.0, 1.0], n)
    else:
        angle = rng.uniform(-rts.rotation, rts.rotation, n)
    scale = np.full(n, rts.fixed_scale) if rts.fixed_scale is not None \
        else rng.uniform(rts.scale[0], rts.scale[1], n)
    if rts.fixed_translation is not None:
        shift = 2 * rts.fixed_translation * rng.choice([-1.0, 1.0], (n, 2))
    else:
        shift = 2 * rng.uniform(-rts.translation, rts.translation, (n, 2))
    return angle, scale, shift


def place(images, canvas=42, width=None):
    """uint8 (N, 28, 28) → float32 (N, 1, canvas, width or canvas) in [0, 1], digit centred."""
    n, h, w = images.shape
    width = width or canvas
    if canvas < h or width < w:
        raise ValueError(f"canvas ({canvas}×{width}) must be at least the digit size ({h}×{w})")
    out = np.zeros((n, 1, canvas, width), np.float32)
    top, left = (canvas - h) // 2, (width - w) // 2
    out[:, 0, top:top + h, left:left + w] = images / np.float32(255)
    return out


def warp(x, theta, out_hw=None):
    """Sample x (N, C, H, W) float32 on the affine grid θ (N, 2, 3) (zeros padding)."""
    from .. import functional as F
    n, c, h, w = x.shape
    ho, wo = out_hw or (h, w)
    with no_grad():
        out = F.affine_grid_sample(Tensor(x), Tensor(theta.astype(x.dtype)), (n, c, ho, wo),
                                   padding_mode="zeros", align_corners=False)
    return out.data


def rts_distort(images, rng: np.random.Generator, rts: RTS = RTS(), canvas=42,
                return_params=False):
    """Distort uint8 digits (N, 28, 28) → float32 (N, 1, canvas, canvas).

    Each digit is centred on the canvas, then rotated, scaled and translated by a
    random draw from `rts` using `rng` (so a seed fixes the data exactly).
    """
    angle, scale, shift = sample_params(len(images), rts, rng)
    out = warp(place(images, canvas), theta_for(angle, scale, shift))
    if return_params:
        return out, dict(angle=angle, scale=scale, shift=shift)
    return out
