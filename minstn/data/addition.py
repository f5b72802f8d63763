"""MNIST addition (experiments 2 and 3): two distorted digits per sample, label = their sum.

    x, y = addition_batch(images, labels, 64, rng)     # (64, 2, 42, 42), (64,) in 0..18
    x, y = same_image_batch(images, labels, 64, rng)   # (64, 1, 42, 84), (64,) in 0..18

Experiment 2 stacks the two digits as channels, each RTS-distorted on its own
42×42 canvas. Experiment 3 puts them side by side in one single-channel image,
one per half; each digit is RTS-distorted inside its half, so the translation
range is the position jitter within the half (fraction of the half's side).
The two digits of a sample are drawn independently and uniformly from `images`,
so every (a, b) pair and all 19 sums occur. All randomness comes from `rng`:
the same seed gives the same batch.

`sampling_window(theta, in_hw)` says where a spatial transformer reads: the
image of its output grid's corners under θ, in input pixel coordinates, ready
to draw on top of the input with matplotlib.
"""
from __future__ import annotations

import numpy as np

from .distort import RTS, place, sample_params, theta_for, warp

N_CLASSES = 19                       # sums 0..18

__all__ = ["N_CLASSES", "draw_pairs", "addition_batch", "same_image_batch", "fixed_set",
           "sampling_window", "theta_for_canvas"]


def draw_pairs(n, n_images, rng: np.random.Generator):
    """Indices (n, 2) of two digits per sample, independent and uniform in [0, n_images)."""
    if n_images < 1:
        raise ValueError(f"need at least one image to draw pairs from, got {n_images}")
    return rng.integers(0, n_images, size=(n, 2))


def theta_for_canvas(angle_deg, scale, shift_xy, hw):
    """θ (N, 2, 3) of an RTS inverse map on a canvas of size hw = (H, W), possibly non-square.

    theta_for works in normalised coordinates, where a rotation on a non-square
    canvas would shear the digit. In pixel-proportional units (S = diag(W/2, H/2))
    the map is the plain rotation-scale M = R(-a)/s, so in normalised units
    θ = [S⁻¹ M S | -S⁻¹ M S d]. For a square canvas this equals theta_for.
    """
    th = theta_for(angle_deg, scale, np.zeros_like(np.asarray(shift_xy, np.float64)))
    h, w = hw
    s = np.array([w / 2.0, h / 2.0])
    lin = th[:, :, :2] * s[None, None, :] / s[None, :, None]            # S⁻¹ M S  (N, 2, 2)
    off = -np.einsum("nij,nj->ni", lin, np.asarray(shift_xy, np.float64))
    return np.concatenate([lin, off[:, :, None]], axis=2)                # (N, 2, 3)


def _distort(images, rng, rts, hw):
    """uint8 digits (N, 28, 28) → float32 (N, 1, H, W), centred then RTS-distorted."""
    angle, scale, shift = sample_params(len(images), rts, rng)
    theta = theta_for_canvas(angle, scale, shift, hw)
    return warp(place(images, hw[0], hw[1]), theta), dict(angle=angle, scale=scale, shift=shift)


def addition_batch(images, labels, n, rng: np.random.Generator, rts: RTS = RTS(), canvas=42,
                   return_info=False):
    """n two-channel samples (experiment 2): each channel one digit, distorted independently.

    images uint8 (M, 28, 28), labels (M,) → x float32 (n, 2, canvas, canvas), y int64 (n,)
    with y = labels[a] + labels[b]. return_info adds a dict: index (n, 2), digits (n, 2)
    and each digit's distortion (angle, scale, shift of shape (n, 2[, 2])).
    """
    idx = draw_pairs(n, len(images), rng)                                # (n, 2)
    a, pa = _distort(images[idx[:, 0]], rng, rts, (canvas, canvas))      # (n, 1, c, c)
    b, pb = _distort(images[idx[:, 1]], rng, rts, (canvas, canvas))
    x = np.concatenate([a, b], axis=1)                                   # (n, 2, c, c)
    digits = np.asarray(labels)[idx].astype(np.int64)                    # (n, 2)
    y = digits.sum(1)
    if return_info:
        return x, y, _info(idx, digits, pa, pb)
    return x, y


def same_image_batch(images, labels, n, rng: np.random.Generator, rts: RTS = RTS(), height=42,
                     width=84, return_info=False):
    """n single-channel samples (experiment 3): digit a in the left half, digit b in the right.

    images uint8 (M, 28, 28), labels (M,) → x float32 (n, 1, height, width), y int64 (n,).
    Each half (height × width/2) holds one digit, centred then RTS-distorted within the
    half (translation = position jitter, as a fraction of the half's sides); nothing of a
    digit crosses into the other half.
    """
    if width % 2:
        raise ValueError(f"width must be even (two equal halves), got {width}")
    half = width // 2
    if height < 28 or half < 28:
        raise ValueError(f"each half must be at least 28×28, got {height}×{half}")
    idx = draw_pairs(n, len(images), rng)
    a, pa = _distort(images[idx[:, 0]], rng, rts, (height, half))        # (n, 1, H, W/2)
    b, pb = _distort(images[idx[:, 1]], rng, rts, (height, half))
    x = np.concatenate([a, b], axis=3)                                   # (n, 1, H, W)
    digits = np.asarray(labels)[idx].astype(np.int64)
    y = digits.sum(1)
    if return_info:
        return x, y, _info(idx, digits, pa, pb)
    return x, y


def _info(idx, digits, pa, pb):
    return dict(index=idx, digits=digits, **{k: np.stack([pa[k], pb[k]], 1) for k in pa})


def fixed_set(make_batch, images, labels, n, seed, batch=1000, **kw):
    """A deterministic data set of n samples: make_batch(..., rng=default_rng(seed)) in chunks.

    Used for validation and test pairs, so every model and every run sees the same ones.
    """
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for i in range(0, n, batch):
        x, y = make_batch(images, labels, min(batch, n - i), rng, **kw)
        xs.append(x), ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


# order of the corners: top-left, top-right, bottom-right, bottom-left (a closed path when
# the first is repeated)
_CORNERS = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])


def sampling_window(theta, in_hw, align_corners=False):
    """Where a transformer's output lies in its input: θ applied to the output grid's corners.

    theta (N, 2, 3) (or (2, 3)), in_hw = (H_in, W_in) → corners (N, 4, 2) as (x, y) in input
    pixel coordinates (pixel centres at integers, as `imshow` draws them), in the order
    top-left, top-right, bottom-right, bottom-left of the output.

    The corners are (±1, ±1) in normalised output coordinates: the outer edges of the
    output's corner pixels when align_corners=False, their centres when True. The source
    point is s = θ·(x, y, 1), and in pixels  u = ((s_x + 1) W_in - 1) / 2  (align_corners
    False) or  u = (s_x + 1)(W_in - 1) / 2  (True); likewise v with s_y and H_in.
    """
    theta = np.asarray(theta, np.float64)
    single = theta.ndim == 2
    theta = theta[None] if single else theta
    if theta.ndim != 3 or theta.shape[1:] != (2, 3):
        raise ValueError(f"theta must have shape (N, 2, 3), got {np.shape(theta)}")
    src = np.einsum("nij,kj->nki", theta[:, :, :2], _CORNERS) + theta[:, None, :, 2]  # (N, 4, 2)
    size = np.array([in_hw[1], in_hw[0]], np.float64)                                # (W, H)
    px = (src + 1) * (size - 1) / 2 if align_corners else ((src + 1) * size - 1) / 2
    return px[0] if single else px
