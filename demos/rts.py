"""Experiment 1: RTS-distorted MNIST, ST-CNN vs a CNN of the same size.

    python demos/rts.py              # full default run (real MNIST, ~40 min on 2 cores)
    python demos/rts.py --smoke      # < 1 minute on a subset (CI runs this)
    python demos/rts.py --eval results/rts/<run-id>   # re-evaluate saved checkpoints

Trains both models on one stream of freshly distorted digits (rotation ±45°,
translation ±0.1 of the side, scale 0.7–1.3 on a 42×42 canvas), selects each
by validation accuracy, then tests in range and beyond it (rotation 45–90°,
scale 0.5–1.5, translation 0.15–0.2). Writes results/rts/<run-id>/results.json
and figures.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
from tqdm import tqdm

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import minstn  # noqa: E402
import minstn.functional as F  # noqa: E402
from minstn import experiment, optim  # noqa: E402
from minstn.train import accuracy, param_groups  # noqa: E402
from minstn.data import mnist  # noqa: E402
from minstn.data.distort import RTS, rts_distort  # noqa: E402
from minstn.models import STCNN, matched_cnn  # noqa: E402

# ---- defaults (every one is a flag) -------------------------------------------
EPOCHS = 12
BATCH_SIZE = 64
LR = 1e-3
LR_DROPS = (0.6, 0.85)        # ×0.1 at these fractions of training
LOC_LR_SCALE = 1.0            # localisation net lr = LR × this
CANVAS = 42
ST_OUT = 28                   # side of the transformer's output view
N_VAL = 5000
SEED = 0
SWEEP_ANGLES = (45, 60, 75, 90)
SWEEP_SCALES = (0.5, 0.6, 1.4, 1.5)
SWEEP_SHIFTS = (0.15, 0.2)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=EPOCHS)
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    p.add_argument("--lr", type=float, default=LR)
    p.add_argument("--lr-drops", type=float, nargs="*", default=list(LR_DROPS),
                   help="fractions of training at which the lr is multiplied by 0.1")
    p.add_argument("--loc-lr-scale", type=float, default=LOC_LR_SCALE)
    p.add_argument("--canvas", type=int, default=CANVAS)
    p.add_argument("--st-out", type=int, default=ST_OUT)
    p.add_argument("--rotation", type=float, default=45.0)
    p.add_argument("--translation", type=float, default=0.1)
    p.add_argument("--scale", type=float, nargs=2, default=(0.7, 1.3))
    p.add_argument("--n-val", type=int, default=N_VAL)
    p.add_argument("--n-train", type=int, default=None, help="use only this many training images")
    p.add_argument("--n-test", type=int, default=None, help="use only this many test images")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="results/rts")
    p.add_argument("--run-id", default=None)
    p.add_argument("--smoke", action="store_true", help="tiny run (< 1 min) for CI")
    p.add_argument("--eval", metavar="DIR", default=None,
                   help="re-evaluate the checkpoints in DIR without training")
    args = p.parse_args(argv)
    if args.smoke:                       # tiny subset; sizes given explicitly still win
        args.epochs = 1
        args.n_train, args.n_test = args.n_train or 512, args.n_test or 256
        args.n_val = 256 if args.n_val == N_VAL else args.n_val
    return args


def distorted(images, rng, rts, canvas):
    return rts_distort(images, rng, rts, canvas)


def make_models(args):
    gen = np.random.default_rng(args.seed)
    stcnn = STCNN(canvas=args.canvas, st_out=args.st_out, generator=gen)
    cnn = matched_cnn(stcnn, args.canvas, generator=gen)
    return {"stcnn": stcnn.to(args.device), "cnn": cnn.to(args.device)}


def make_optimizer(args, model):
    groups = param_groups(model, args.lr, args.loc_lr_scale)
    if args.optimizer == "adam":
        return optim.Adam(groups, lr=args.lr)
    return optim.SGD(groups, lr=args.lr, momentum=0.9)


def test_sets(args, test_x, test_y):
    """Every evaluation set: name → (distortion, images). Fixed seeds, shared by both models."""
    base = RTS(args.rotation, args.translation, tuple(args.scale))
    sets = {"in_range": base}
    for a in SWEEP_ANGLES:
        sets[f"rot{a}"] = RTS(args.rotation, args.translation, tuple(args.scale), fixed_rotation=a)
    for s in SWEEP_SCALES:
        sets[f"scale{s}"] = RTS(args.rotation, args.translation, tuple(args.scale), fixed_scale=s)
    for t in SWEEP_SHIFTS:
        sets[f"shift{t}"] = RTS(args.rotation, args.translation, tuple(args.scale),
                                fixed_translation=t)
    out = {}
    for i, (name, rts) in enumerate(sets.items()):
        rng = np.random.default_rng([args.seed, 1000 + i])
        out[name] = (rts, distorted(test_x, rng, rts, args.canvas))
    return out


def evaluate(models, args, test_x, test_y):
    sets = test_sets(args, test_x, test_y)
    acc = {m: {name: accuracy(model, x, test_y, args.device) for name, (_, x) in sets.items()}
           for m, model in models.items()}
    return acc, sets


def train(models, args, train_x, train_y, val_x, val_y):
    rts = RTS(args.rotation, args.translation, tuple(args.scale))
    opts = {m: make_optimizer(args, model) for m, model in models.items()}
    n_batches = len(train_x) // args.batch_size
    total = args.epochs * n_batches
    milestones = [int(f * total) for f in args.lr_drops]
    scheds = {m: optim.StepLR(o, milestones, 0.1) for m, o in opts.items()}
    stream = np.random.default_rng([args.seed, 1])           # one distorted stream for both
    curves = {m: {"train_loss": [], "val_acc": []} for m in models}
    best = {m: (-1.0, None, -1) for m in models}
    for epoch in range(args.epochs):
        order = stream.permutation(len(train_x))
        sums = {m: 0.0 for m in models}
        bar = tqdm(range(n_batches), desc=f"epoch {epoch + 1}/{args.epochs}", unit="batch",
                   leave=False, mininterval=1 if sys.stderr.isatty() else 30)
        for b in bar:
            idx = order[b * args.batch_size:(b + 1) * args.batch_size]
            x = minstn.Tensor(distorted(train_x[idx], stream, rts, args.canvas),  # (B,1,42,42)
                             device=args.device)
            y = train_y[idx]
            for m, model in models.items():
                loss = F.cross_entropy(model(x), y)
                opts[m].zero_grad()
                loss.backward()
                opts[m].step()
                scheds[m].step()
                sums[m] += loss.item()
            bar.set_postfix({m: f"{sums[m] / (b + 1):.3f}" for m in models})
        for m, model in models.items():
            va = accuracy(model, val_x, val_y, args.device)
            curves[m]["train_loss"].append(sums[m] / n_batches)
            curves[m]["val_acc"].append(va)
            if va > best[m][0]:
                best[m] = (va, model.state_dict(), epoch)
        print(f"epoch {epoch + 1}: " + ", ".join(
            f"{m} loss {curves[m]['train_loss'][-1]:.4f} val {100 * curves[m]['val_acc'][-1]:.2f}%"
            for m in models), flush=True)
    for m, model in models.items():
        model.load_state_dict(best[m][1])
    return curves, {m: {"val_acc": best[m][0], "epoch": best[m][2] + 1} for m in models}


def figures(models, sets, acc, curves, out_dir, device="cpu"):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    st = models["stcnn"]
    names = ["in_range"] + [f"rot{a}" for a in SWEEP_ANGLES]
    fig, axes = plt.subplots(2 * len(names), 8, figsize=(8, 2 * len(names)))
    st.eval()
    for r, name in enumerate(names):
        x = sets[name][1][:8]
        with minstn.no_grad():
            view = st.transformers[0](minstn.Tensor(x, device=device)).numpy()
        for c in range(8):
            axes[2 * r, c].imshow(x[c, 0], cmap="gray")
            axes[2 * r + 1, c].imshow(view[c, 0], cmap="gray")
        axes[2 * r, 0].set_ylabel(name, fontsize=7)
        axes[2 * r + 1, 0].set_ylabel("ST out", fontsize=7)
    for a in axes.flat:
        a.set_xticks([]), a.set_yticks([])
    fig.suptitle("distorted inputs (odd rows) and the ST-CNN's rectified views (even rows)")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "rectified.png"), dpi=80)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for m in models:
        ax.plot(SWEEP_ANGLES, [100 * acc[m][f"rot{a}"] for a in SWEEP_ANGLES], "o-", label=m)
    ax.set_xlabel("rotation magnitude (degrees; training range ±45)")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(), ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "accuracy_vs_angle.png"), dpi=100)
    plt.close(fig)

    if curves:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
        for m in curves:
            ep = np.arange(1, len(curves[m]["train_loss"]) + 1)
            a1.plot(ep, curves[m]["train_loss"], "o-", label=m)
            a2.plot(ep, [100 * (1 - v) for v in curves[m]["val_acc"]], "o-", label=m)
        a1.set_xlabel("epoch"), a1.set_ylabel("train loss"), a1.legend()
        a2.set_xlabel("epoch"), a2.set_ylabel("validation error (%)"), a2.set_yscale("log")
        a2.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "training_curves.png"), dpi=100)
        plt.close(fig)


def summary_table(acc, counts):
    keys = list(next(iter(acc.values())).keys())
    lines = [f"{'test set':<12}" + "".join(f"{m:>10}" for m in acc),
             f"{'params':<12}" + "".join(f"{counts[m]:>10,}" for m in acc)]
    for k in keys:
        lines.append(f"{k:<12}" + "".join(f"{100 * acc[m][k]:>9.2f}%" for m in acc))
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    t0 = time.time()
    minstn.random.manual_seed(args.seed)
    models = make_models(args)
    counts = {m: model.num_parameters() for m, model in models.items()}
    print("parameters: " + ", ".join(f"{m} {c:,}" for m, c in counts.items()), flush=True)

    test_x, test_y = mnist.load("test")
    if args.n_test:
        test_x, test_y = test_x[:args.n_test], test_y[:args.n_test]

    if args.eval:
        out_dir = args.eval
        for m, model in models.items():
            model.load_state_dict(minstn.load(os.path.join(out_dir, f"{m}.npz")))
        curves, selection = None, None
    else:
        run = args.run_id or experiment.run_id("smoke" if args.smoke else "")
        out_dir = os.path.join(args.out, run)
        os.makedirs(out_dir, exist_ok=True)
        train_x, train_y = mnist.load("train")
        tr_x, tr_y, va_x, va_y = mnist.split_train_val(train_x, train_y, args.n_val, args.seed)
        if args.n_train:
            tr_x, tr_y = tr_x[:args.n_train], tr_y[:args.n_train]
        rts = RTS(args.rotation, args.translation, tuple(args.scale))
        val = distorted(va_x, np.random.default_rng([args.seed, 2]), rts, args.canvas)
        curves, selection = train(models, args, tr_x, tr_y, val, va_y)
        for m, model in models.items():
            minstn.save(model.state_dict(), os.path.join(out_dir, f"{m}.npz"))
    train_time = time.time() - t0
    acc, sets = evaluate(models, args, test_x, test_y)
    print(summary_table(acc, counts))
    figures(models, sets, acc, curves, out_dir, args.device)
    results = {
        "demo": "rts", "config": vars(args), "seed": args.seed, "param_counts": counts,
        "selection": selection, "curves": curves, "test_accuracy": acc,
        "test_error_in_range": {m: 1 - acc[m]["in_range"] for m in acc},
        "wall_time_s": {"train": train_time, "total": time.time() - t0},
        "environment": experiment.environment(),
    }
    name = "eval.json" if args.eval else "results.json"
    experiment.save_json(results, os.path.join(out_dir, name))
    print(f"wrote {os.path.join(out_dir, name)}")
    return results


if __name__ == "__main__":
    main()
