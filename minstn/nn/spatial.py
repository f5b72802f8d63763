"""Spatial transformers: localisation net → θ → grid (affine, projective or TPS) → sampler.

    x ──► localization ──► fc ──► θ ──┐
    └────────────────────────────────►  sample x on the grid of θ ──► out

kind="affine": θ (N, 2, 3), grid θ·[x_out, y_out, 1]; kind="projective": θ (N, 3, 3), a
homography; kind="tps": θ (N, K, 2), offsets of K = ctrl[0]·ctrl[1] control points of a
thin-plate spline (minstn/ops/grids.py). Each starts at the identity transform.

The final fc layer belongs to the transformer so that its initialisation is
explicit: `theta_init="identity"` (zero weights, bias = the identity transform,
Jaderberg et al.'s choice), a fixed 6-vector (zero weights, that bias: e.g. a
window on the left half), or "random" (PyTorch's default init, like any layer).
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .layers import Linear
from .module import Module, Parameter

IDENTITY_2D = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
IDENTITY_PROJECTIVE = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
KINDS = ("affine", "projective", "tps")


def _init_final(fc: Linear, theta_init, identity):
    if isinstance(theta_init, str) and theta_init == "random":
        return
    bias = np.asarray(identity if isinstance(theta_init, str) and theta_init == "identity"
                      else theta_init, dtype=np.float64).reshape(-1)
    if isinstance(theta_init, str) and theta_init != "identity":
        raise ValueError(f"theta_init must be 'identity', 'random' or {len(identity)} numbers, "
                         f"got {theta_init!r}")
    if bias.shape != (len(identity),):
        raise ValueError(f"theta_init must have {len(identity)} values, got {bias.shape}")
    fc.weight = Parameter(np.zeros_like(fc.weight.data))
    fc.bias = Parameter(bias.astype(fc.weight.dtype))


class SpatialTransformer(Module):
    """Warp an image batch by an affine transform predicted from the batch itself.

    localization: Module mapping x (N, C, H, W) → features (N, in_features)
    out_size: (H_out, W_out) of the transformed output; default the input's (H, W)
    kind: "affine" (θ (N, 2, 3)), "projective" (θ (N, 3, 3)) or "tps" (θ (N, K, 2), the
        offsets of a ctrl = (rows, cols) layout of K control points)
    theta_init: "identity", "random" (default layer init) or the fc bias (6 or 9 numbers for
        affine or projective, 2K for tps)
    forward(x (N, C, H, W)) → (N, C, H_out, W_out); `self.theta` keeps the last θ.
    """

    def __init__(self, localization: Module, in_features: int, out_size=None,
                 theta_init="identity", padding_mode="zeros", align_corners=False, kind="affine",
                 ctrl=(4, 4), generator=None):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.localization, self.kind, self.ctrl = localization, kind, tuple(ctrl)
        identity = {"affine": IDENTITY_2D, "projective": IDENTITY_PROJECTIVE,
                    "tps": (0.0,) * (2 * self.ctrl[0] * self.ctrl[1])}[kind]
        self.fc = Linear(in_features, len(identity), generator=generator)
        _init_final(self.fc, theta_init, identity)
        self.out_size = None if out_size is None else tuple(out_size)
        self.padding_mode, self.align_corners = padding_mode, align_corners
        self.theta = None

    def predict_theta(self, x):
        shape = {"affine": (2, 3), "projective": (3, 3), "tps": (-1, 2)}[self.kind]
        return self.fc(self.localization(x)).reshape(x.shape[0], *shape)

    def forward(self, x):
        n, c, h, w = x.shape
        theta = self.predict_theta(x)
        self.theta = theta.detach()
        size = (n, c, *(self.out_size or (h, w)))
        if self.kind == "tps":                   # fused, like the others: no grid stored
            return F.tps_grid_sample(x, theta, size, self.ctrl, padding_mode=self.padding_mode,
                                     align_corners=self.align_corners)    # (N, C, Ho, Wo)
        fused = F.affine_grid_sample if self.kind == "affine" else F.projective_grid_sample
        return fused(x, theta, size, padding_mode=self.padding_mode,
                     align_corners=self.align_corners)                    # (N, C, Ho, Wo)

    def extra_repr(self):
        return (f"kind={self.kind!r}, out_size={self.out_size}, "
                f"padding_mode={self.padding_mode!r}")


class SpatialTransformer1d(Module):
    """Time warp t_src = a·t + b of a series (N, C, L), predicted by a localisation net.

    warp="log_scale" (default): the net predicts (s, b) and a = exp(s), so the warp
    can both shrink (a < 1) and expand (a > 1) the series and the scale never
    changes sign; `max_log_scale` optionally clamps s smoothly via tanh
    (s = m·tanh(s_raw / m)) for stability. warp="affine": the net predicts (a, b)
    directly, as a (N, 1, 2) θ.
    forward(x) → (N, C, out_len); `self.theta` keeps the last (N, 1, 2) θ.
    """

    def __init__(self, localization: Module, in_features: int, out_len=None, warp="log_scale",
                 max_log_scale=None, padding_mode="border", align_corners=False, generator=None):
        super().__init__()
        if warp not in ("log_scale", "affine"):
            raise ValueError(f"warp must be 'log_scale' or 'affine', got {warp!r}")
        self.localization = localization
        self.fc = Linear(in_features, 2, generator=generator)
        _init_final(self.fc, "identity", (0.0, 0.0) if warp == "log_scale" else (1.0, 0.0))
        self.out_len, self.warp, self.max_log_scale = out_len, warp, max_log_scale
        self.padding_mode, self.align_corners = padding_mode, align_corners
        self.theta = None

    def predict_theta(self, x):
        p = self.fc(self.localization(x))                      # (N, 2)
        if self.warp == "affine":
            return p.reshape(x.shape[0], 1, 2)
        s, b = p[:, 0:1], p[:, 1:2]                            # (N, 1) each
        if self.max_log_scale is not None:
            m = self.max_log_scale
            s = F.tanh(s * (1.0 / m)) * m
        from ..ops.basic import cat
        return cat([s.exp(), b], dim=1).reshape(x.shape[0], 1, 2)

    def forward(self, x):
        n, c, length = x.shape
        theta = self.predict_theta(x)
        self.theta = theta.detach()
        return F.affine_grid_sample1d(x, theta, (n, c, self.out_len or length),
                                      padding_mode=self.padding_mode,
                                      align_corners=self.align_corners)   # (N, C, Lo)
