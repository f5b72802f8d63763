"""Small training helpers shared by the demos."""
from __future__ import annotations

import numpy as np

from .autograd.function import no_grad
from .autograd.tensor import Tensor


def param_groups(model, lr, loc_lr_scale=1.0):
    """Optimizer parameter groups: localisation nets at lr × loc_lr_scale, the rest at lr.

    A model exposes its localisation parameters through `localization_parameters()`
    (the spatial-transformer models do); any other model gives one group.
    """
    if not hasattr(model, "localization_parameters"):
        return [{"params": model.parameters(), "lr": lr}]
    loc = {id(p) for p in model.localization_parameters()}
    return [{"params": [p for p in model.parameters() if id(p) in loc], "lr": lr * loc_lr_scale},
            {"params": [p for p in model.parameters() if id(p) not in loc], "lr": lr}]


def accuracy(model, x, y, device="cpu", batch=500) -> float:
    """Share of x (N, ...) whose argmax logit equals y (N,), in eval mode, in batches
    (x: host array, moved to `device` batch by batch; the argmax runs on the host)."""
    model.eval()
    correct = 0
    with no_grad():
        for i in range(0, len(x), batch):
            logits = model(Tensor(x[i:i + batch], device=device))            # (B, K)
            correct += int((logits.numpy().argmax(1) == y[i:i + batch]).sum())  # on the host
    model.train()
    return correct / len(x)
