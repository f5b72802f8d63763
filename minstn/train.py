"""Small training helpers shared by the demos."""
from __future__ import annotations

import time

import numpy as np

from .autograd.function import no_grad
from .autograd.tensor import Tensor


def progress(iterable, desc, **kw):
    """A tqdm bar that redraws at most every 2 s on a terminal and every 30 s off one (a
    log file then gets a few lines per epoch, not one per batch). Give set_postfix
    refresh=False, or it redraws on every call regardless of mininterval."""
    import sys

    from tqdm import tqdm
    tty = sys.stderr.isatty()
    return tqdm(iterable, desc=desc, mininterval=2 if tty else 30, leave=tty, unit="step",
                dynamic_ncols=True, **kw)


def param_groups(model, lr, loc_lr_scale=1.0, weight_decay=0.0):
    """Optimizer parameter groups: localisation nets at lr × loc_lr_scale, the rest at lr.

    A model exposes its localisation parameters through `localization_parameters()`
    (the spatial-transformer models do); any other model gives one group. With
    weight_decay > 0 each group splits in two: the weights (conv kernels, matrices:
    ndim >= 2) decay, the biases do not (a decayed bias would pull the localisation
    net's identity transform towards the all-zero one, a blank view).
    """
    params = model.parameters()
    if hasattr(model, "localization_parameters"):
        loc = {id(p) for p in model.localization_parameters()}
        groups = [{"params": [p for p in params if id(p) in loc], "lr": lr * loc_lr_scale},
                  {"params": [p for p in params if id(p) not in loc], "lr": lr}]
    else:
        groups = [{"params": params, "lr": lr}]
    if not weight_decay:
        return groups
    split = []
    for g in groups:
        for decay in (True, False):
            ps = [p for p in g["params"] if (p.ndim >= 2) == decay]
            if ps:
                split.append({"params": ps, "lr": g["lr"], "weight_decay": weight_decay * decay})
    return split


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


def step_times(models, make_optimizer, next_batch, n_steps, n_eval, device="cpu"):
    """Median seconds per training step (of "data" and each model) and per evaluated sample.

    models: {name: Module}; make_optimizer(name, model, lr) → its optimiser (here at lr 0,
    so parameters do not move); next_batch(n) → (x, y) arrays of n samples. The first
    step (JIT compile or cache load) is dropped. Sizes a run to a time budget.
    """
    from .ops.loss import cross_entropy
    opts = {m: make_optimizer(m, model, 0.0) for m, model in models.items()}
    t = {"data": [], **{m: [] for m in models}}
    for _ in range(max(2, n_steps)):
        t0 = time.perf_counter()
        x, y = next_batch(None)
        t["data"].append(time.perf_counter() - t0)
        for m, model in models.items():
            t0 = time.perf_counter()
            loss = cross_entropy(model(Tensor(x, device=device)), y)
            opts[m].zero_grad()
            loss.backward()
            opts[m].step()
            t[m].append(time.perf_counter() - t0)
    per_step = {k: float(np.median(v[1:])) for k, v in t.items()}
    x, y = next_batch(n_eval)
    per_sample = {}
    for m, model in models.items():
        accuracy(model, x[:8], y[:8], device)                                 # warm
        t0 = time.perf_counter()
        accuracy(model, x, y, device)
        per_sample[m] = (time.perf_counter() - t0) / len(x)
        model.zero_grad()
    return per_step, per_sample


def train_lockstep(models, opts, scheds, next_batch, steps, evals, val, save, device="cpu",
                   desc="train"):
    """Train `models` side by side on one stream of batches, all with cross-entropy.

    opts/scheds: {name: optimiser / schedule}; next_batch() → (x, y) of the next batch.
    Every model is validated on val = (x, y) at `evals` evenly spaced steps, and the
    best state so far is kept and passed to save(name, state_dict) (a checkpoint);
    at the end each model holds its best state. Returns (curves, selection, seconds per
    training step of each model): curves[name] has step, time_s, lr, train_loss,
    train_acc (both over the steps since the last evaluation, dropout active), val_acc.
    """
    from tqdm import tqdm

    from .ops.loss import cross_entropy
    eval_at = sorted({max(1, round(steps * k / evals)) for k in range(1, evals + 1)})
    curves = {m: {k: [] for k in ("step", "time_s", "lr", "train_loss", "train_acc", "val_acc")}
              for m in models}
    best = {m: (-1.0, None, 0) for m in models}
    sums = {m: [0.0, 0, 0] for m in models}                  # loss sum, correct, samples
    t_model = {m: 0.0 for m in models}
    t0 = time.time()
    bar = progress(range(1, steps + 1), desc)
    for step in bar:
        x, y = next_batch()
        xt = Tensor(x, device=device)
        for m, model in models.items():
            ts = time.perf_counter()
            logits = model(xt)                                # (B, classes)
            loss = cross_entropy(logits, y)
            opts[m].zero_grad()
            loss.backward()
            opts[m].step()
            scheds[m].step()
            t_model[m] += time.perf_counter() - ts
            s = sums[m]
            s[0] += loss.item() * len(y)
            s[1] += int((logits.numpy().argmax(1) == y).sum())
            s[2] += len(y)
        if step % 50 == 0:
            bar.set_postfix({m: f"{sums[m][0] / max(1, sums[m][2]):.3f}" for m in models},
                            refresh=False)
        if step == eval_at[0]:
            eval_at.pop(0)
            for m, model in models.items():
                va = accuracy(model, *val, device)
                c = curves[m]
                c["step"].append(step), c["time_s"].append(time.time() - t0)
                c["lr"].append(opts[m].param_groups[-1]["lr"])
                c["train_loss"].append(sums[m][0] / sums[m][2])
                c["train_acc"].append(sums[m][1] / sums[m][2])
                c["val_acc"].append(va)
                sums[m] = [0.0, 0, 0]
                if va > best[m][0]:                          # checkpoint the best so far
                    best[m] = (va, model.state_dict(), step)
                    save(m, best[m][1])
            tqdm.write(f"{desc} step {step}/{steps} ({time.time() - t0:.0f} s): " + ", ".join(
                f"{m} loss {curves[m]['train_loss'][-1]:.3f} "
                f"train {100 * curves[m]['train_acc'][-1]:.1f}% "
                f"val {100 * curves[m]['val_acc'][-1]:.2f}%" for m in models))
    for m, model in models.items():
        model.load_state_dict(best[m][1])
    selection = {m: {"val_acc": best[m][0], "step": best[m][2]} for m in models}
    return curves, selection, {m: t / steps for m, t in t_model.items()}
