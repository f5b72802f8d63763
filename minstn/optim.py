"""Optimisers (SGD, Adam) and learning-rate schedules, as in torch.optim.

`params` is a list of Parameters or, as in PyTorch, a list of parameter groups
(`{"params": [...], "lr": 1e-4}`) so that part of a model (say a localisation
net) can train at its own learning rate. Updates are in place on `param.data`,
by the update kernels of the parameter's device (`kernels/<device>/optim.py`);
the optimiser state lives on that device too.
"""
from __future__ import annotations

import math

from .kernels import backend


class Optimizer:
    def __init__(self, params, defaults):
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups = []
        for g in groups:
            group = {**defaults, **g, "params": list(g["params"])}
            if group["lr"] < 0:
                raise ValueError(f"lr must be >= 0, got {group['lr']}")
            self.param_groups.append(group)
        self.state = {}

    def zero_grad(self):
        for g in self.param_groups:
            for p in g["params"]:
                p.grad = None

    def _items(self):
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is not None:
                    yield g, p, self.state.setdefault(id(p), {})

    def step(self):  # pragma: no cover - abstract
        raise NotImplementedError


class SGD(Optimizer):
    """v = μ v + (g + λ p);  p -= lr · (g + μ v if nesterov else v)   (torch.optim.SGD)."""

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        if nesterov and momentum <= 0:
            raise ValueError("nesterov momentum requires momentum > 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      nesterov=nesterov))

    def step(self):
        for group, p, st in self._items():
            be = backend(p.device)
            mu = group["momentum"]
            first = "v" not in st
            if first:
                st["v"] = be.empty_like(p.data) if mu else be.skip(p.dtype)
            be.sgd_update(p.data, p.grad, st["v"], group["lr"], mu, group["weight_decay"],
                          group["nesterov"], first)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction and L2 weight decay (torch.optim.Adam)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def step(self):
        for group, p, st in self._items():
            be = backend(p.device)
            if "m" not in st:
                st["t"], st["m"], st["v"] = 0, be.zeros_like(p.data), be.zeros_like(p.data)
            st["t"] += 1
            b1, b2 = group["betas"]
            # m = β1 m + (1-β1) g;  v = β2 v + (1-β2) g²;  p -= lr · m̂ / (√v̂ + ε)
            be.adam_update(p.data, p.grad, st["m"], st["v"], group["lr"], b1, b2,
                           group["eps"], group["weight_decay"], st["t"])


class _Schedule:
    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.count = 0
        self._apply(self.factor(0))          # the first step runs at factor(0), as in torch

    def _apply(self, f):
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = base * f

    def factor(self, count) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self):
        """Advance one step (or epoch) and set every group's lr; returns the factor."""
        self.count += 1
        f = self.factor(self.count)
        self._apply(f)
        return f


class StepLR(_Schedule):
    """lr = base · gamma^(number of milestones reached); call step() once per epoch/step."""

    def __init__(self, optimizer, milestones, gamma=0.1):
        self.milestones, self.gamma = sorted(milestones), gamma
        super().__init__(optimizer)

    def factor(self, count):
        return self.gamma ** sum(count >= m for m in self.milestones)


class WarmupCosine(_Schedule):
    """Linear warm-up over `warmup` steps, then cosine decay to 0 at `total` steps."""

    def __init__(self, optimizer, warmup, total):
        self.warmup, self.total = warmup, total
        super().__init__(optimizer)

    def factor(self, count):
        if count < self.warmup:
            return (count + 1) / self.warmup
        frac = min(1.0, (count - self.warmup) / max(1, self.total - self.warmup))
        return 0.5 * (1 + math.cos(math.pi * frac))
