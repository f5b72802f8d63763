"""The networks of experiment 4: ICU time series → in-hospital mortality logit.

Every model maps x (N, T, C) — time-major, channels last, exactly as
`minstn.data.physionet` / `minstn.data.mimic3` give it — to one logit per stay (N,);
train with `F.binary_cross_entropy_with_logits`.

    LSTMClassifier    LSTM(hidden) → last hidden state → dropout → fc → logit
                      (Harutyunyan et al.'s standard LSTM baseline)
    CNN1dClassifier   [conv1d → relu → maxpool 2] × k → global max/mean over time
                      → dropout → fc → logit
    STN1dClassifier   [optional conv1d feature layer] → SpatialTransformer1d (time warp)
                      → LSTM or CNN classifier

The time warp (nn.SpatialTransformer1d, warp="log_scale"): the localisation net
predicts (s, b) per stay and output step t ∈ [-1, 1] reads the input at
t_src = exp(s)·t + b (normalised time, linear interpolation, "border" padding).
a = exp(s) > 1 *expands* the window (more than the 48 h are squeezed into the output;
outside the stay, border padding repeats the first/last bin); a < 1 *shrinks* it (a
sub-interval of a·48 h is stretched over the output: a zoom in time); b shifts it.

Values and masks are warped together: they are channels of the same (N, C, L)
tensor, and one θ per stay applies to every channel, so a value and its
observation mask always stay aligned in time. Linear interpolation turns a 0/1 mask
into a fraction in [0, 1] (how much of the interpolated bin was observed); static
channels (constant in time) are unchanged by any warp under border padding.
With `warp_features=k` the warp is applied after a first conv1d layer with k
channels instead (the features are smoother than the forward-filled steps and
0/1 masks, so interpolating them loses less).
"""
from __future__ import annotations

import math

from .. import functional as F
from .. import nn

__all__ = ["GlobalPool1d", "LSTMClassifier", "CNN1dClassifier", "STN1dClassifier",
           "localization_net1d"]


class GlobalPool1d(nn.Module):
    """(N, C, L) → (N, C): max (via max_pool1d with a window of L) or mean over time."""

    def __init__(self, mode="max"):
        super().__init__()
        if mode not in ("max", "mean"):
            raise ValueError(f"mode must be 'max' or 'mean', got {mode!r}")
        self.mode = mode

    def forward(self, x):
        n, c, length = x.shape
        if self.mode == "mean":
            return x.mean(dim=2)                                          # (N, C)
        return F.max_pool1d(x, length, length).reshape(n, c)              # (N, C)

    def extra_repr(self):
        return f"mode={self.mode!r}"


class LSTMClassifier(nn.Module):
    """x (N, T, C) → LSTM(hidden) → h_T (N, hidden) → dropout → fc → logits (N,)."""

    def __init__(self, in_channels, hidden=64, dropout=0.3, generator=None):
        super().__init__()
        self.lstm = nn.LSTM(in_channels, hidden, batch_first=True, generator=generator)
        self.drop = nn.Dropout(dropout, generator=generator)
        self.fc = nn.Linear(hidden, 1, generator=generator)

    def forward(self, x):
        n = x.shape[0]
        _, (h, _) = self.lstm(x)                                          # h (1, N, H)
        h = h.reshape(n, self.lstm.hidden_size)                           # (N, H)
        return self.fc(self.drop(h)).reshape(n)                           # (N,)


class CNN1dClassifier(nn.Module):
    """x (N, T, C) → [conv1d(k, same padding) → relu → maxpool 2] per width
    → global max/mean over time → dropout → fc → logits (N,).

    No pooling after the last conv: the global pool follows it.
    """

    def __init__(self, in_channels, channels=(64, 64), kernel_size=3, pool="max", dropout=0.3,
                 generator=None):
        super().__init__()
        layers, c = [], in_channels
        for i, w in enumerate(channels):
            layers += [nn.Conv1d(c, w, kernel_size, padding=kernel_size // 2, generator=generator),
                       nn.ReLU()]
            if i < len(channels) - 1:
                layers.append(nn.MaxPool1d(2))
            c = w
        self.features = nn.Sequential(*layers)
        self.pool = GlobalPool1d(pool)
        self.drop = nn.Dropout(dropout, generator=generator)
        self.fc = nn.Linear(c, 1, generator=generator)

    def forward(self, x):
        n = x.shape[0]
        z = self.features(x.permute(0, 2, 1))                            # (N, C_last, L')
        z = self.pool(z)                                                  # (N, C_last)
        return self.fc(self.drop(z)).reshape(n)                           # (N,)


def localization_net1d(in_channels, channels=16, kernel_size=5, hidden=32, generator=None):
    """conv1d(k) → relu → maxpool 2 → conv1d(k) → relu → mean over time → fc(hidden) → relu.

    (N, in_channels, L) → (N, hidden); the transformer's own fc maps it to (s, b).
    """
    pad = kernel_size // 2
    return nn.Sequential(
        nn.Conv1d(in_channels, channels, kernel_size, padding=pad, generator=generator), nn.ReLU(),
        nn.MaxPool1d(2),
        nn.Conv1d(channels, channels, kernel_size, padding=pad, generator=generator), nn.ReLU(),
        GlobalPool1d("mean"), nn.Linear(channels, hidden, generator=generator), nn.ReLU())


class STN1dClassifier(nn.Module):
    """Time-warping spatial transformer in front of an LSTM or CNN classifier.

    x (N, T, C) → (N, C, T) → [conv1d(warp_features) → relu] → SpatialTransformer1d
    → (N, C', out_len) → classifier ("lstm" or "cnn", reading (N, out_len, C')) → logits (N,).
    One warp per stay, shared by all channels (values, masks and static channels alike).
    `warp_params(x)` returns the scale a = exp(s) and shift b of each stay.
    """

    def __init__(self, in_channels, head="lstm", hidden=64, cnn_channels=(64, 64), cnn_kernel=3,
                 cnn_pool="max", dropout=0.3, loc_channels=16, loc_kernel=5, loc_hidden=32,
                 warp="log_scale", max_log_scale=math.log(2.0), out_len=None,
                 padding_mode="border", warp_features=0, feature_kernel=3, generator=None):
        super().__init__()
        if head not in ("lstm", "cnn"):
            raise ValueError(f"head must be 'lstm' or 'cnn', got {head!r}")
        self.warp_features = int(warp_features or 0)
        c = in_channels
        if self.warp_features:
            self.features = nn.Sequential(
                nn.Conv1d(c, self.warp_features, feature_kernel, padding=feature_kernel // 2,
                          generator=generator), nn.ReLU())
            c = self.warp_features
        loc = localization_net1d(c, loc_channels, loc_kernel, loc_hidden, generator)
        self.st = nn.SpatialTransformer1d(loc, loc_hidden, out_len=out_len, warp=warp,
                                          max_log_scale=max_log_scale, padding_mode=padding_mode,
                                          align_corners=False, generator=generator)
        self._theta = None
        self.head = (LSTMClassifier(c, hidden, dropout, generator) if head == "lstm" else
                     CNN1dClassifier(c, cnn_channels, cnn_kernel, cnn_pool, dropout, generator))

    def warped(self, x):
        """x (N, T, C) → the classifier's input (N, out_len, C'); sets `self.st.theta`.

        Same as `self.st(z).permute(0, 2, 1)`, but keeps the (non-detached) θ for `warp_penalty`.
        """
        z = self._st_input(x)                                             # (N, C', T)
        theta = self.st.predict_theta(z)                                  # (N, 1, 2)
        self.st.theta, self._theta = theta.detach(), theta
        kw = dict(padding_mode=self.st.padding_mode, align_corners=self.st.align_corners)
        length = self.st.out_len or z.shape[2]
        if self.warp_features:                                            # warp the features
            return F.affine_grid_sample1d(z, theta, length, **kw).permute(0, 2, 1)
        # warp the stays as they come, (N, T, C) → (N, Lo, C): the same numbers as sampling
        # z and permuting the result, without that copy and its gradient's
        return F.affine_grid_sample1d(x, theta, length, channels_last=True, **kw)

    def forward(self, x):
        return self.head(self.warped(x))                                  # (N,)

    def localization_parameters(self):
        """The transformer's parameters (localisation net + its final fc), e.g. for a smaller lr."""
        return self.st.parameters()

    def warp_penalty(self):
        """mean(s² + b²) of the last forward's warps, s = log(a) (warp="affine": s = a − 1):
        0 at the identity; a remedy against warps drifting onto their bounds."""
        if self._theta is None:
            raise RuntimeError("warp_penalty needs a forward pass first")
        theta = self._theta                                               # (N, 1, 2)
        a, b = theta[:, 0, 0], theta[:, 0, 1]                             # (N,) each
        s = a.log() if self.st.warp == "log_scale" else a - 1.0
        return (s * s + b * b).mean()

    def warp_params(self, x):
        """(a, b) as NumPy arrays (N,): t_src = a·t + b; a = exp(s) for warp="log_scale"."""
        theta = self.st.predict_theta(self._st_input(x)).data             # (N, 1, 2)
        return theta[:, 0, 0].copy(), theta[:, 0, 1].copy()

    def _st_input(self, x):
        z = x.permute(0, 2, 1)
        return self.features(z) if self.warp_features else z
