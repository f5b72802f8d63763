"""Experiment 2: MNIST addition with two parallel spatial transformers vs a CNN of the same size.

    python demos/addition.py                # full default run: 18,519 steps (~40 min on 2 cores)
    python demos/addition.py --workers 1    # both models in lockstep in one process
    python demos/addition.py --minutes 15   # a time budget instead: steps from measured step times
    python demos/addition.py --smoke        # < 1 minute on a subset (CI runs this)
    python demos/addition.py --eval results/addition/<run-id>   # re-test saved checkpoints

Each sample holds two MNIST digits, each RTS-distorted on its own 42×42 canvas
(rotation ±45°, translation ±0.1 of the side, scale 0.7–1.3) and stacked as
two channels; the label is their sum (19 classes). The ST-CNN runs two
transformers in parallel, each seeing both channels and producing its own
2-channel view; the four channels are classified together. The CNN classifies
the raw 2-channel input. Both models train on one stream of fresh pairs drawn
from the training split; validation pairs come from held-out training images
and test pairs, fixed by --test-seed, from the test split.

Training length: --steps (default 18,519), or as many steps as fit in --minutes
(the time of a step is measured on a few batches first; the resulting steps are
in the results JSON, pass them as --steps to repeat a run exactly). A fixed
count is the default so that a run means the same on every machine: 18,519 is
what the 55-minute budget, the default until 2026-12-06, gave seed 0 on the
2-core AMD EPYC VM. By default
each model trains in its own process (--workers 2), one per core, on the same
stream of pairs: the ST-CNN then gets the whole budget of a core, and both
models train the same number of steps. Expect
accuracy near chance for the first few thousand steps, until each transformer
locks onto one digit. Writes results/addition/<run-id>/results.json,
checkpoints and figures.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import minstn  # noqa: E402
from minstn import cli, experiment, optim  # noqa: E402
from minstn.data import mnist  # noqa: E402
from minstn.data.addition import N_CLASSES, addition_batch, fixed_set, sampling_window  # noqa: E402
from minstn.data.distort import RTS  # noqa: E402
from minstn.models import STCNN, matched_cnn  # noqa: E402
from minstn.train import accuracy, param_groups, step_times, train_lockstep  # noqa: E402

# ---- defaults (every one is a flag) -------------------------------------------
STEPS = 18519                 # training steps (what 55 minutes gave on the 2-core AMD VM)
WORKERS = 2                   # processes: each model in its own (1: lockstep in this one)
BATCH_SIZE = 64
LR = 1e-3
LOC_LR_SCALE = 0.1            # localisation nets train at LR × this (stability)
WARMUP = 0.03                 # linear warm-up over this fraction of the steps, then cosine
CANVAS = 42
ST_OUT = 42                   # side of each transformer's output view
LOC_HIDDEN = 120              # fc width of each localisation net (≈60k parameters each)
HIDDEN = 128                  # fc width of the ST-CNN's classifier (the CNN's is matched)
DROPOUT = 0.0                 # before the classifier's last layer (fresh data: nothing to overfit)
N_VAL_IMAGES = 5000           # training images held out for validation pairs
N_VAL = 5000                  # validation pairs
N_TEST = 10000                # test pairs (from the test split)
EVALS = 20                    # validation evaluations over the run (model selection)
TIMING_STEPS = 8              # batches timed to size --minutes
TEST_SEED = 2018              # the test pairs are the same for every --seed
SEED = 0
MODELS = ("stcnn", "cnn")
SMOKE_STEPS = 6
SMOKE = dict(workers=1, batch_size=16, evals=2, timing_steps=2, n_train_images=1000,
             n_val_images=500, n_val=64, n_test=64)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_length_flags(p, STEPS, " (both models and validation)")
    p.add_argument("--workers", type=cli.positive_int, default=WORKERS,
                   help="processes: 2 trains each model in its own, side by side; 1 trains "
                        "them in lockstep in this process. Results do not depend on it; the "
                        "budget does (--minutes is wall-clock time)")
    p.add_argument("--batch-size", type=cli.positive_int, default=BATCH_SIZE)
    p.add_argument("--lr", type=cli.positive_float, default=LR)
    p.add_argument("--loc-lr-scale", type=cli.nonneg_float, default=LOC_LR_SCALE)
    p.add_argument("--warmup", type=cli.fraction, default=WARMUP, help="warm-up fraction of the steps")
    p.add_argument("--canvas", type=cli.positive_int, default=CANVAS)
    p.add_argument("--st-out", type=cli.positive_int, default=ST_OUT)
    p.add_argument("--loc-hidden", type=cli.positive_int, default=LOC_HIDDEN)
    p.add_argument("--hidden", type=cli.positive_int, default=HIDDEN)
    p.add_argument("--dropout", type=cli.open_fraction, default=DROPOUT)
    p.add_argument("--rotation", type=cli.nonneg_float, default=45.0)
    p.add_argument("--translation", type=cli.nonneg_float, default=0.1)
    p.add_argument("--scale", type=cli.positive_float, nargs=2, default=(0.7, 1.3))
    p.add_argument("--n-val-images", type=cli.positive_int, default=N_VAL_IMAGES)
    p.add_argument("--n-val", type=cli.positive_int, default=N_VAL)
    p.add_argument("--n-test", type=cli.positive_int, default=N_TEST)
    p.add_argument("--n-train-images", type=cli.positive_int, default=None,
                   help="draw training pairs from only this many training images")
    p.add_argument("--evals", type=cli.positive_int, default=EVALS)
    p.add_argument("--timing-steps", type=cli.positive_int, default=TIMING_STEPS)
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--test-seed", type=cli.nonneg_int, default=TEST_SEED)
    p.add_argument("--seed", type=cli.nonneg_int, default=SEED)
    p.add_argument("--device", type=cli.device, default="cpu")
    p.add_argument("--threads", type=cli.positive_int, default=None,
                   help="Numba threads (default: all); BLAS threads follow OPENBLAS_NUM_THREADS")
    cli.add_run_flags(p, "results/addition")
    p.add_argument("--smoke", action="store_true", help="tiny run (< 1 min) for CI")
    p.add_argument("--eval", metavar="DIR", type=cli.existing_dir, default=None,
                   help="re-test the checkpoints in DIR without training")
    args = p.parse_args(argv)
    if args.smoke:                                  # smoke sizes; flags given explicitly win
        p.set_defaults(**SMOKE)
        args = p.parse_args(argv)
    cli.resolve_length(p, args, SMOKE_STEPS if args.smoke else STEPS)
    return args


def distortion(args):
    return RTS(args.rotation, args.translation, tuple(args.scale))


def make_models(args):
    gen = np.random.default_rng(args.seed)
    stcnn = STCNN(canvas=args.canvas, st_out=args.st_out, in_channels=2, n_transformers=2,
                  n_classes=N_CLASSES, loc_hidden=args.loc_hidden, hidden=args.hidden,
                  dropout=args.dropout, generator=gen)
    cnn = matched_cnn(stcnn, args.canvas, in_channels=2, n_classes=N_CLASSES,
                      dropout=args.dropout, generator=gen)
    models = {"stcnn": stcnn, "cnn": cnn}
    return {m: models[m].to(args.device) for m in args.models}


def make_optimizer(args, name, model, lr=None):
    lr = args.lr if lr is None else lr
    return optim.Adam(param_groups(model, lr, args.loc_lr_scale), lr=lr)


def measure_step_times(models, args, pool, rts):
    """Median seconds per training step (data, each model) and per evaluated sample."""
    rng = np.random.default_rng([args.seed, 99])

    def next_batch(n):
        return addition_batch(*pool, n or args.batch_size, rng, rts, args.canvas)
    return step_times(models, lambda m, model, lr: make_optimizer(args, m, model, lr),
                      next_batch, args.timing_steps, min(500, args.n_val), args.device)


def parallel(args):
    return args.workers > 1 and len(args.models) > 1


def plan_steps(args, per_step, per_sample):
    """Steps that fit in args.minutes, after the validation evaluations.

    In lockstep a step costs the sum of the models' steps; with a process per model
    (each making its own batches) the slowest model sets the pace.
    """
    if args.steps:
        return args.steps
    models = [m for m in per_step if m != "data"]
    pace = max if parallel(args) else sum
    step = per_step["data"] + pace(per_step[m] for m in models)
    evals = args.evals * args.n_val * pace(per_sample[m] for m in models)
    return max(10, int((60 * args.minutes - evals) / step))


def train(models, args, pool, val, rts, steps, out_dir):
    """Both models side by side on one stream of fresh pairs; (curves, selection, s/step)."""
    opts = {m: make_optimizer(args, m, model) for m, model in models.items()}
    warm = max(1, int(args.warmup * steps))
    scheds = {m: optim.WarmupCosine(o, warm, steps) for m, o in opts.items()}
    stream = np.random.default_rng([args.seed, 1])           # one stream of pairs for both

    def next_batch():
        return addition_batch(*pool, args.batch_size, stream, rts, args.canvas)  # (B, 2, c, c)

    def save(m, state):
        minstn.save(state, os.path.join(out_dir, f"{m}.npz"))
    return train_lockstep(models, opts, scheds, next_batch, steps, args.evals, val, save,
                          args.device)


def train_data(args, rts):
    """(training pool, validation pairs): the same in every process."""
    train_x, train_y = mnist.load("train")
    tr_x, tr_y, va_x, va_y = mnist.split_train_val(train_x, train_y, args.n_val_images, args.seed)
    if args.n_train_images:
        tr_x, tr_y = tr_x[:args.n_train_images], tr_y[:args.n_train_images]
    val = fixed_set(addition_batch, va_x, va_y, args.n_val, [args.seed, 2], rts=rts,
                    canvas=args.canvas)
    return (tr_x, tr_y), val


def train_one(args, name, steps, out_dir):
    """One model trained in a worker process; its (curves, selection, s/step).

    The models are built exactly as in the parent (make_models draws all from one
    generator) and the stream of pairs is the parent's, so the run equals the
    lockstep one; the best state is in the checkpoint <out_dir>/<name>.npz.
    """
    if args.threads:                          # a spawned worker starts fresh
        import numba
        numba.set_num_threads(args.threads)
    minstn.random.manual_seed(args.seed)
    model = {name: make_models(args)[name]}
    rts = distortion(args)
    pool, val = train_data(args, rts)
    curves, selection, per_step = train(model, args, pool, val, rts, steps, out_dir)
    return curves[name], selection[name], per_step[name]


def windows(model, x, device):
    """Corners (n_transformers, N, 4, 2) of each transformer's window on x, in pixels."""
    model.eval()
    with minstn.no_grad():
        model.transform(minstn.Tensor(x, device=device))
    model.train()
    return np.stack([sampling_window(st.theta.numpy(), x.shape[2:]) for st in model.transformers])


def figures(models, args, test, curves, acc, out_dir, start_windows):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = ("tab:red", "tab:cyan")
    if "stcnn" in models:
        st = models["stcnn"]
        x, y = test[0][:8], test[1][:8]
        corners = windows(st, x, args.device)                              # (2, 8, 4, 2)
        st.eval()
        with minstn.no_grad():
            views = [t(minstn.Tensor(x, device=args.device)).numpy() for t in st.transformers]
            pred = st(minstn.Tensor(x, device=args.device)).numpy().argmax(1)
        st.train()
        fig, axes = plt.subplots(6, 8, figsize=(10, 7.8))
        for c in range(8):
            for ch in range(2):
                ax = axes[ch, c]
                ax.imshow(x[c, ch], cmap="gray", vmin=0, vmax=1)
                for k in range(2):
                    for w, style in ((start_windows[k, c], ":"), (corners[k, c], "-")):
                        p = np.vstack([w, w[:1]])
                        ax.plot(p[:, 0], p[:, 1], style, color=colors[k], lw=1.3)
                ax.set_xlim(-2, x.shape[3] + 1), ax.set_ylim(x.shape[2] + 1, -2)  # show edges
            for k in range(2):
                for ch in range(2):
                    axes[2 + 2 * k + ch, c].imshow(views[k][c, ch], cmap="gray", vmin=0, vmax=1)
            axes[0, c].set_title(f"sum {y[c]} → {pred[c]}", fontsize=8)
        for r, name in enumerate(["input ch 1", "input ch 2", "ST1 ch 1", "ST1 ch 2",
                                  "ST2 ch 1", "ST2 ch 2"]):
            axes[r, 0].set_ylabel(name, fontsize=8)
        for a in axes.flat:
            a.set_xticks([]), a.set_yticks([])
        fig.suptitle("inputs with each transformer's window (ST1 red, ST2 cyan; dotted: before "
                     "training) and the two 2-channel views", fontsize=9)
        fig.tight_layout()
        experiment.save_figure(fig, os.path.join(out_dir, "views.png"), dpi=90)
        plt.close(fig)

    if curves:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.5))
        for m in curves:
            a1.plot(curves[m]["step"], curves[m]["train_loss"], "o-", ms=3, label=m)
            a2.plot(curves[m]["step"], [100 * v for v in curves[m]["val_acc"]], "o-", ms=3, label=m)
        a1.set_xlabel("step"), a1.set_ylabel("train loss"), a1.legend()
        a2.axhline(100 / N_CLASSES, color="gray", ls=":", lw=1)
        a2.set_xlabel("step"), a2.set_ylabel("validation accuracy (%)"), a2.legend()
        a2.grid(alpha=0.3)
        fig.tight_layout()
        experiment.save_figure(fig, os.path.join(out_dir, "training_curves.png"), dpi=100)
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(4, 3.2))
    names = list(acc)
    ax.bar(names, [100 * acc[m] for m in names], color=["tab:blue", "tab:orange"][:len(names)])
    for i, m in enumerate(names):
        ax.text(i, 100 * acc[m], f"{100 * acc[m]:.2f}%", ha="center", va="bottom", fontsize=9)
    ax.set_ylabel("test accuracy (%)"), ax.set_ylim(0, 105)
    fig.tight_layout()
    experiment.save_figure(fig, os.path.join(out_dir, "accuracy.png"), dpi=100)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    env = experiment.environment()            # now: the commit and machine that run
    t0 = time.time()
    if args.threads:
        import numba
        numba.set_num_threads(args.threads)
    minstn.random.manual_seed(args.seed)
    rts = distortion(args)
    models = make_models(args)
    counts = {m: model.num_parameters() for m, model in models.items()}
    print("parameters: " + ", ".join(f"{m} {c:,}" for m, c in counts.items()), flush=True)
    if len(counts) == 2:
        ratio = counts["cnn"] / counts["stcnn"]
        print(f"cnn / stcnn = {ratio:.3f}" + ("" if 0.9 <= ratio <= 1.1 else "  (outside ±10%!)"))

    test_x, test_y = mnist.load("test")
    test = fixed_set(addition_batch, test_x, test_y, args.n_test, args.test_seed, rts=rts,
                     canvas=args.canvas)                                   # (n_test, 2, c, c)
    start_windows = windows(models["stcnn"], test[0][:8], args.device) if "stcnn" in models \
        else None

    steps = per_step = per_sample = None
    if args.eval:
        out_dir = args.eval
        for m, model in models.items():
            model.load_state_dict(minstn.load(os.path.join(out_dir, f"{m}.npz")))
        curves, selection, train_step = None, None, None
    else:
        run = args.run_id or experiment.run_id("smoke" if args.smoke else "")
        out_dir = cli.run_dir(args.out, run, args.overwrite)
        pool, val = train_data(args, rts)
        per_step, per_sample = measure_step_times(models, args, pool, rts)
        steps = plan_steps(args, per_step, per_sample)
        print("time per step: " + ", ".join(f"{k} {1000 * v:.1f} ms" for k, v in per_step.items())
              + f" → {steps} steps ({steps * args.batch_size:,} pairs)"
              + (", one process per model" if parallel(args) else ""), flush=True)
        if parallel(args):                    # each worker saves its model's best {m}.npz
            done = experiment.run_in_processes(
                train_one, [(args, m, steps, out_dir) for m in models], args.workers)
            curves, selection, train_step = ({m: r[i] for m, r in zip(models, done)}
                                             for i in range(3))
            for m, model in models.items():
                model.load_state_dict(minstn.load(os.path.join(out_dir, f"{m}.npz")))
        else:
            curves, selection, train_step = train(models, args, pool, val, rts, steps,
                                                  out_dir)                 # saves {m}.npz
    train_time = time.time() - t0
    acc = {m: accuracy(model, *test, args.device) for m, model in models.items()}
    print("test accuracy: " + ", ".join(f"{m} {100 * a:.2f}%" for m, a in acc.items()))
    figures(models, args, test, curves, acc, out_dir, start_windows)
    results = {
        "demo": "addition", "config": vars(args), "seed": args.seed, "test_seed": args.test_seed,
        "distortion": rts.to_dict(), "param_counts": counts, "steps": steps,
        "pairs_seen": None if steps is None else steps * args.batch_size,
        "timing_s": {"per_step": per_step, "per_eval_sample": per_sample,
                     "per_train_step": train_step},
        "selection": selection, "curves": curves, "test_accuracy": acc,
        "test_error": {m: 1 - a for m, a in acc.items()},
        "windows_px": {"start": start_windows,
                       "end": windows(models["stcnn"], test[0][:8], args.device)}
        if "stcnn" in models else None,
        "wall_time_s": {"train": train_time, "total": time.time() - t0},
        "environment": env,         # thread env vars included
    }
    name = "eval.json" if args.eval else "results.json"
    experiment.save_json(results, os.path.join(out_dir, name))
    print(f"wrote {os.path.join(out_dir, name)}")
    return results


if __name__ == "__main__":
    main()
