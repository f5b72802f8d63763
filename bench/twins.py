"""PyTorch twins of minstn modules, for benchmarks and parity checks (torch is optional).

    tm = twin(model)        # a torch.nn.Module computing what the minstn `model` computes,
                            # with the same parameter names and a copy of its weights

The twin is built module by module from the minstn tree: layers map to their torch
namesakes, and the project's composite modules (spatial transformers, the models of
minstn/models) to the small classes below, whose forward passes read like theirs. A
module class missing here raises NotImplementedError naming it. The 1-D sampler has no
PyTorch op; its twin samples a (N, C, 1, L) view at y = 0, which is the same linear
interpolation (align_corners=False puts row 0's centre at y = 0).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as tnn
import torch.nn.functional as TF


def twin(m):
    """A torch module equal to the minstn module m (train/eval mode copied), m's weights loaded."""
    t = _build(m)
    t.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in m.state_dict().items()},
                      strict=True)
    return t.train(m.training)


def _build(m):
    name = type(m).__name__
    kids = {k: _build(v) for k, v in m._modules.items()}
    if name == "Sequential":
        return tnn.Sequential(*kids.values())
    if name in ("Conv2d", "Conv1d"):
        cls = tnn.Conv2d if name == "Conv2d" else tnn.Conv1d
        k = m.kernel_size if name == "Conv2d" else m.kernel_size[0]
        return cls(m.in_channels, m.out_channels, k, m.stride, m.padding, bias=m.bias is not None)
    if name == "MaxPool2d":
        return tnn.MaxPool2d(m.kernel_size, m.stride)
    if name == "MaxPool1d":
        return tnn.MaxPool1d(m.kernel_size, m.stride)
    if name == "Linear":
        return tnn.Linear(m.in_features, m.out_features, bias=m.bias is not None)
    if name == "LSTM":
        return tnn.LSTM(m.input_size, m.hidden_size, batch_first=m.batch_first)
    if name == "Dropout":
        return tnn.Dropout(m.p)
    if name in ("ReLU", "Tanh", "Sigmoid", "Flatten"):
        return getattr(tnn, name)()
    if name in COMPOSITES:
        return COMPOSITES[name](m, kids)
    raise NotImplementedError(f"no PyTorch twin for minstn module {name}")


class _Composite(tnn.Module):
    def __init__(self, m, kids):
        super().__init__()
        for k, v in kids.items():
            self.add_module(k, v)


class SpatialTransformer(_Composite):
    """θ = fc(localization(x)); affine, projective or TPS grid; grid_sample."""

    def __init__(self, m, kids):
        super().__init__(m, kids)
        if m.kind != "affine":
            raise NotImplementedError("twin: only the affine SpatialTransformer (PyTorch has "
                                      "no projective or TPS grid)")
        self.out_size, self.padding_mode, self.align_corners = (m.out_size, m.padding_mode,
                                                                m.align_corners)

    def forward(self, x):
        n, c, h, w = x.shape
        theta = self.fc(self.localization(x)).reshape(n, 2, 3)               # (N, 2, 3)
        grid = TF.affine_grid(theta, (n, c, *(self.out_size or (h, w))),
                              align_corners=self.align_corners)
        return TF.grid_sample(x, grid, padding_mode=self.padding_mode,
                              align_corners=self.align_corners)               # (N, C, Ho, Wo)


class SpatialTransformer1d(_Composite):
    """(s, b) = fc(localization(x)); a = exp(s) (s clamped by tanh); linear resampling in time."""

    def __init__(self, m, kids):
        super().__init__(m, kids)
        self.out_len, self.warp, self.max_log_scale = m.out_len, m.warp, m.max_log_scale
        self.padding_mode, self.align_corners = m.padding_mode, m.align_corners

    def forward(self, x):
        n, c, length = x.shape
        p = self.fc(self.localization(x))                                   # (N, 2)
        a, b = p[:, 0:1], p[:, 1:2]
        if self.warp != "affine":
            m = self.max_log_scale
            a = (torch.tanh(a / m) * m if m is not None else a).exp()
        lo = self.out_len or length
        t = (2 * torch.arange(lo, dtype=x.dtype) + 1) / lo - 1 if not self.align_corners \
            else torch.linspace(-1, 1, lo, dtype=x.dtype)
        gx = a * t + b                                                       # (N, Lo)
        grid = torch.stack([gx, torch.zeros_like(gx)], dim=-1).reshape(n, 1, lo, 2)
        out = TF.grid_sample(x.reshape(n, c, 1, length), grid, padding_mode=self.padding_mode,
                             align_corners=self.align_corners)               # (N, C, 1, Lo)
        return out.reshape(n, c, lo)


class STCNN(_Composite):
    def forward(self, x):
        sts = [v for k, v in self.named_children() if k.startswith("st")]
        views = [st(x) for st in sts]
        return self.head(views[0] if len(views) == 1 else torch.cat(views, dim=1))


class CNN(_Composite):
    def forward(self, x):
        return self.head(x)


class ConvNet(_Composite):
    def forward(self, x):
        return self.net(x)


class GlobalAvgPool2d(_Composite):
    def forward(self, x):
        return x.mean(dim=(2, 3))


class GlobalPool1d(_Composite):
    def __init__(self, m, kids):
        super().__init__(m, kids)
        self.mode = m.mode

    def forward(self, x):
        return x.mean(dim=2) if self.mode == "mean" else x.amax(dim=2)


class LSTMClassifier(_Composite):
    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return self.fc(self.drop(h[0])).reshape(x.shape[0])


class CNN1dClassifier(_Composite):
    def forward(self, x):
        z = self.pool(self.features(x.permute(0, 2, 1)))
        return self.fc(self.drop(z)).reshape(x.shape[0])


class STN1dClassifier(_Composite):
    def __init__(self, m, kids):
        super().__init__(m, kids)
        self.warp_features = m.warp_features

    def forward(self, x):
        z = x.permute(0, 2, 1)
        z = self.features(z) if self.warp_features else z
        return self.head(self.st(z).permute(0, 2, 1))


COMPOSITES = {c.__name__: c for c in (SpatialTransformer, SpatialTransformer1d, STCNN, CNN,
                                      ConvNet, GlobalAvgPool2d, GlobalPool1d, LSTMClassifier,
                                      CNN1dClassifier, STN1dClassifier)}
