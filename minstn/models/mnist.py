"""The networks of the four experiments, built from `minstn.nn`.

Sizes follow the 2018 talk / Jaderberg et al. where stated and are recorded by
every demo in its results JSON. Each baseline is widened so that its parameter
count is within ±10% of the STN it is compared with (`match_hidden`).
"""
from __future__ import annotations

from .. import nn


def hw(size):
    """An int side or an (H, W) pair → (H, W)."""
    return (size, size) if isinstance(size, int) else tuple(size)


CHANNELS = (32, 64)             # the classifier's conv widths unless a model says otherwise


def conv_out(size, k, pool=2, stride=1):
    """Spatial size (int, or (H, W) per side) after a valid k×k conv of `stride` and a pool."""
    if isinstance(size, int):
        return ((size - k) // stride + 1) // pool
    return tuple(((s - k) // stride + 1) // pool for s in size)


def localization_net(in_channels, size, hidden=32, strided=False, generator=None):
    """conv8@7 → pool → relu → conv10@5 → pool → relu → fc(hidden) → relu.

    (N, in_channels, H, W) → (N, hidden); size = H = W, or (H, W).
    strided: the first conv and pool become one conv8@7 with stride 2, which sees the
    same windows at the same output size (for even H - 7, W - 7) for a quarter of
    the multiply-adds and no pooling.
    """
    if strided:
        first = [nn.Conv2d(in_channels, 8, 7, stride=2, generator=generator)]
        h, w = conv_out(conv_out(hw(size), 7, pool=1, stride=2), 5)
    else:
        first = [nn.Conv2d(in_channels, 8, 7, generator=generator), nn.MaxPool2d(2)]
        h, w = conv_out(conv_out(hw(size), 7), 5)
    return nn.Sequential(
        *first, nn.ReLU(),
        nn.Conv2d(8, 10, 5, generator=generator), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(10 * h * w, hidden, generator=generator), nn.ReLU())


def classifier(in_channels, size, hidden=128, n_classes=10, dropout=0.5, channels=CHANNELS,
               generator=None):
    """conv(c1)@5 → pool → relu → conv(c2)@5 → pool → relu → fc(hidden) → relu → dropout → fc.

    (N, in_channels, H, W) → logits (N, n_classes); size = H = W, or (H, W);
    channels = (c1, c2), the two convolutions' widths.
    """
    h, w = conv_out(conv_out(hw(size), 5), 5)
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(in_channels, c1, 5, generator=generator), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(c1, c2, 5, generator=generator), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(c2 * h * w, hidden, generator=generator), nn.ReLU(),
        nn.Dropout(dropout, generator=generator), nn.Linear(hidden, n_classes, generator=generator))


def classifier_params(in_channels, size, hidden, n_classes=10, channels=CHANNELS):
    h, w = conv_out(conv_out(hw(size), 5), 5)
    c1, c2 = channels
    return (in_channels * c1 * 25 + c1) + (c1 * c2 * 25 + c2) + \
        (c2 * h * w * hidden + hidden) + (hidden * n_classes + n_classes)


def match_hidden(target_params, in_channels, size, n_classes=10, channels=CHANNELS):
    """Width of the classifier's fc layer that brings its size closest to target_params."""
    return min(range(8, 4096), key=lambda h: abs(
        classifier_params(in_channels, size, h, n_classes, channels) - target_params))


class STCNN(nn.Module):
    """Spatial transformer → CNN classifier (experiment 1).

    x (N, C, canvas, canvas) → logits (N, n_classes); each transformer samples an
    st_out × st_out view, so the classifier works on st_out-sized images. canvas and
    st_out may be (H, W) pairs (experiment 3: a 42×84 image, 42×42 views).
    loc_hidden, loc_strided: each localisation net's fc width and first layer (see
    localization_net); hidden and channels: the classifier's fc width and conv widths.
    """

    def __init__(self, canvas=42, st_out=28, in_channels=1, n_classes=10, n_transformers=1,
                 theta_init="identity", dropout=0.5, loc_hidden=32, loc_strided=False, hidden=128,
                 channels=CHANNELS, generator=None):
        super().__init__()
        self.config = dict(canvas=canvas, st_out=st_out, in_channels=in_channels,
                           n_classes=n_classes, n_transformers=n_transformers,
                           theta_init=theta_init, dropout=dropout, loc_hidden=loc_hidden,
                           loc_strided=loc_strided, hidden=hidden, channels=list(channels))
        self.channels = tuple(channels)
        inits = theta_init if isinstance(theta_init, (list, tuple)) and \
            not isinstance(theta_init[0], (int, float)) else [theta_init] * n_transformers
        self.transformers = []
        for i in range(n_transformers):
            loc = localization_net(in_channels, canvas, hidden=loc_hidden, strided=loc_strided,
                                   generator=generator)
            st = nn.SpatialTransformer(loc, loc_hidden, out_size=hw(st_out), theta_init=inits[i],
                                       generator=generator)
            setattr(self, f"st{i}", st)
            self.transformers.append(st)
        self.head = classifier(in_channels * n_transformers, st_out, hidden, n_classes=n_classes,
                               dropout=dropout, channels=channels, generator=generator)

    def transform(self, x):
        from ..ops.basic import cat
        views = [st(x) for st in self.transformers]              # each (N, C, s, s)
        return views[0] if len(views) == 1 else cat(views, dim=1)

    def forward(self, x):
        return self.head(self.transform(x))

    def localization_parameters(self):
        return [p for st in self.transformers for p in st.parameters()]


class CNN(nn.Module):
    """The baseline: the classifier applied to the whole canvas, widened to `hidden`."""

    def __init__(self, canvas=42, in_channels=1, n_classes=10, hidden=128, dropout=0.5,
                 channels=CHANNELS, generator=None):
        super().__init__()
        self.config = dict(canvas=canvas, in_channels=in_channels, n_classes=n_classes,
                           hidden=hidden, dropout=dropout, channels=list(channels))
        self.head = classifier(in_channels, canvas, hidden, n_classes, dropout, channels=channels,
                               generator=generator)

    def forward(self, x):
        return self.head(x)


def matched_cnn(model: nn.Module, canvas, in_channels=1, n_classes=10, **kw) -> CNN:
    """A CNN baseline with `model`'s conv widths whose parameter count is closest to `model`'s."""
    channels = getattr(model, "channels", CHANNELS)
    h = match_hidden(model.num_parameters(), in_channels, canvas, n_classes, channels)
    return CNN(canvas, in_channels, n_classes, hidden=h, channels=channels, **kw)


class GlobalAvgPool2d(nn.Module):
    """(N, C, H, W) → (N, C): the mean over each channel's positions."""

    def forward(self, x):
        return x.mean(dim=(2, 3))                                             # (N, C)


class ConvNet(nn.Module):
    """A plain CNN on the whole canvas, described by its layer list (the baseline search).

    convs: ((out_channels, kernel, stride, pool), ...): each block is a valid conv of that
    stride, a max pool of that size (1: none), then ReLU. head: "fc" flattens and applies
    fc(hidden) → ReLU → dropout → fc(n_classes); "gap" averages each channel over the
    positions (no hidden layer, no dropout) and applies fc(n_classes).
    x (N, in_channels, H, W) → logits (N, n_classes); canvas = H = W, or (H, W).
    """

    def __init__(self, canvas=42, convs=((32, 5, 1, 2), (64, 5, 1, 2)), head="fc", hidden=128,
                 in_channels=1, n_classes=10, dropout=0.5, generator=None):
        super().__init__()
        if head not in ("fc", "gap"):
            raise ValueError(f"head must be 'fc' or 'gap', got {head!r}")
        convs = [tuple(int(v) for v in c) for c in convs]
        self.config = dict(canvas=canvas, convs=[list(c) for c in convs], head=head,
                           hidden=hidden, in_channels=in_channels, n_classes=n_classes,
                           dropout=dropout)
        layers, c_in, size = [], in_channels, hw(canvas)
        for c_out, k, stride, pool in convs:
            layers.append(nn.Conv2d(c_in, c_out, k, stride=stride, generator=generator))
            if pool > 1:
                layers.append(nn.MaxPool2d(pool))
            layers.append(nn.ReLU())
            c_in, size = c_out, conv_out(size, k, pool, stride)
            if min(size) < 1:
                raise ValueError(f"convs {convs} shrink a {hw(canvas)} canvas to nothing")
        if head == "fc":
            layers += [nn.Flatten(), nn.Linear(c_in * size[0] * size[1], hidden,
                                               generator=generator), nn.ReLU(),
                       nn.Dropout(dropout, generator=generator),
                       nn.Linear(hidden, n_classes, generator=generator)]
        else:
            layers += [GlobalAvgPool2d(), nn.Linear(c_in, n_classes, generator=generator)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)

    def multiply_adds(self) -> int:
        """Multiply-adds of one image's forward pass (convolutions and fc layers)."""
        total, size = 0, hw(self.config["canvas"])
        c_in = self.config["in_channels"]
        for c_out, k, stride, pool in self.config["convs"]:
            conv = conv_out(size, k, 1, stride)
            total += conv[0] * conv[1] * c_out * c_in * k * k
            c_in, size = c_out, conv_out(size, k, pool, stride)
        return total + sum(p.numel() for n, p in self.named_parameters()
                           if n.endswith("weight") and p.ndim == 2)


def neurons(model, input_shape) -> int:
    """Activations per image: the sizes of every layer's output in one forward pass
    (conv, pool, fc, and the transformer's view; element-wise layers such as ReLU and
    dropout are not counted again). The talk's measure of a "comparable" network."""
    import numpy as np

    from ..autograd.function import no_grad
    from ..autograd.tensor import Tensor
    counted = (nn.Conv2d, nn.MaxPool2d, nn.Linear, nn.SpatialTransformer, GlobalAvgPool2d)
    total = 0
    originals = {}
    for _, m in model.named_modules():
        if isinstance(m, counted) and type(m) not in originals:
            originals[type(m)] = type(m).forward
    def counting(forward):
        def wrapped(self, x):
            nonlocal total
            y = forward(self, x)
            total += int(np.prod(y.shape[1:]))
            return y
        return wrapped
    try:
        for cls, forward in originals.items():
            cls.forward = counting(forward)
        was_training = model.training
        model.eval()
        with no_grad():
            model(Tensor(np.zeros((1, *input_shape), np.float32)))
        model.train(was_training)
    finally:
        for cls, forward in originals.items():
            cls.forward = forward
    return total
