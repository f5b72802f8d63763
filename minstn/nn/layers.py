"""Layers: thin Modules that own parameters and call `minstn.functional`."""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from ..autograd.tensor import Tensor
from . import init
from .module import Module, Parameter


def _tuple(v, n):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


class Linear(Module):
    """y = x W^T + b.  weight (out_features, in_features), bias (out_features,)."""

    def __init__(self, in_features, out_features, bias=True, generator=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = init.default_bound((out_features, in_features))
        self.weight = Parameter(init.uniform((out_features, in_features), bound, generator))
        self.bias = Parameter(init.uniform((out_features,), bound, generator)) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class _ConvNd(Module):
    dims = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 generator=None):
        super().__init__()
        k = _tuple(kernel_size, self.dims)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, k
        self.stride, self.padding = stride, padding
        shape = (out_channels, in_channels, *k)
        bound = init.default_bound(shape)
        self.weight = Parameter(init.uniform(shape, bound, generator))
        self.bias = Parameter(init.uniform((out_channels,), bound, generator)) if bias else None

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class Conv2d(_ConvNd):
    """(N, C_in, H, W) → (N, C_out, H', W'); weight (C_out, C_in, kh, kw)."""
    dims = 2

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)


class Conv1d(_ConvNd):
    """(N, C_in, L) → (N, C_out, L'); weight (C_out, C_in, k)."""
    dims = 1

    def forward(self, x):
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding)


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class MaxPool1d(MaxPool2d):
    def forward(self, x):
        return F.max_pool1d(x, self.kernel_size, self.stride)


class Dropout(Module):
    """Inverted dropout in training mode, identity in eval mode."""

    def __init__(self, p=0.5, generator=None):
        super().__init__()
        self.p, self.generator = p, generator

    def forward(self, x):
        return F.dropout(x, self.p, self.training, self.generator)

    def extra_repr(self):
        return f"p={self.p}"


class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Flatten(Module):
    """(N, ...) → (N, prod(...))."""

    def forward(self, x):
        return x.reshape(x.shape[0], -1)


class Sequential(Module):
    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            setattr(self, str(i), m)

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x


class LSTM(Module):
    """Single-layer LSTM, gate order (i, f, g, o) as torch.nn.LSTM.

    forward(x (N, T, input_size) if batch_first else (T, N, input_size), hx=None)
      → output (N, T, H) [or (T, N, H)], (h_n (1, N, H), c_n (1, N, H))
    """

    def __init__(self, input_size, hidden_size, batch_first=True, bias=True, generator=None):
        super().__init__()
        self.input_size, self.hidden_size, self.batch_first = input_size, hidden_size, batch_first
        bound = 1.0 / math.sqrt(hidden_size)
        h4 = 4 * hidden_size
        self.weight_ih_l0 = Parameter(init.uniform((h4, input_size), bound, generator))
        self.weight_hh_l0 = Parameter(init.uniform((h4, hidden_size), bound, generator))
        self.bias_ih_l0 = Parameter(init.uniform((h4,), bound, generator)) if bias else None
        self.bias_hh_l0 = Parameter(init.uniform((h4,), bound, generator)) if bias else None

    def forward(self, x, hx=None):
        if x.ndim != 3 or x.shape[-1] != self.input_size:
            layout = "(N, T, features)" if self.batch_first else "(T, N, features)"
            raise ValueError(f"LSTM({self.input_size}, {self.hidden_size}) expects input "
                             f"{layout} with features = input_size = {self.input_size}, got "
                             f"shape {tuple(x.shape)}")
        if not self.batch_first:
            x = x.permute(1, 0, 2)
        n = x.shape[0]
        if hx is None:
            z = np.zeros((n, self.hidden_size), x.dtype)
            h0, c0 = Tensor(z, device=x.device), Tensor(z, device=x.device)
        else:
            h0, c0 = (h.reshape(n, self.hidden_size) for h in hx)
        out, (h, c) = F.lstm(x, h0, c0, self.weight_ih_l0, self.weight_hh_l0,
                             self.bias_ih_l0, self.bias_hh_l0)
        if not self.batch_first:
            out = out.permute(1, 0, 2)
        return out, (h.reshape(1, n, self.hidden_size), c.reshape(1, n, self.hidden_size))

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, batch_first={self.batch_first}"
