"""Jaderberg et al. (2015), Table 1: FCN, CNN, ST-FCN and ST-CNN on four distortions of MNIST.

    python demos/distortions.py                     # the full table: 3 seeds × 5,000 steps per run
    python demos/distortions.py --smoke             # seconds, on a subset (CI runs this)
    python demos/distortions.py --distortions E --models cnn st-cnn-tps --minutes 5
    python demos/distortions.py --seed 1 --seeds 2   # seeds 1 and 2 (one job per seed and cell)

Distortions (minstn/data/distortions.py): R rotation ±90°; RTS rotation ±45°, scale
0.7–1.2, placed anywhere on 42×42; P projective; E elastic (TPS). Models, each starting
at the identity transform where it has one:
    fcn, cnn                  the base models
    st-fcn-{aff,proj,tps}     a fully connected localisation net + the FCN classifier
    st-cnn-{aff,proj,tps}     a convolutional localisation net + the CNN classifier
Within each family (FCN, CNN) the base model's hidden layer is widened to the size of its
ST model (±10% parameters). Every (distortion, model) run trains in its own process on its
own core for the same number of steps (--steps, or set from measured step times so that
the slowest model fits --minutes), keeps its best validation checkpoint and is tested on 10,000
distorted test digits (the same 10,000 for every seed: --test-seed). With --seeds S the
table is the mean ± std over seeds seed .. seed+S-1 (each seed: its own weights, batches and
validation split). Writes results/distortions/<run-id>/results.json and figures.
The paper's test errors are in PAPER; it trained far longer than this.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import minstn  # noqa: E402
import minstn.functional as F  # noqa: E402
from minstn import cli, experiment, nn, optim  # noqa: E402
from minstn.data import mnist  # noqa: E402
from minstn.data.distortions import DISTORTIONS, distort  # noqa: E402
from minstn.models.mnist import classifier, localization_net  # noqa: E402
from minstn.train import accuracy, progress  # noqa: E402

# ---- defaults (every one is a flag) -------------------------------------------
STEPS = 5000                   # per run, batch 64 (5.8 epochs of 55k digits)
SEEDS = 3                      # 4 distortions × 8 models × 3 seeds: ≈ 2 h on 2 cores
WORKERS = 2
BATCH_SIZE = 64
LR = 1e-3
LOC_LR_SCALE = 0.1             # localisation nets at 0.1× (experiment 3: faster ones fly off)
ST_OUT = 28                    # each transformer's output view
FCN_HIDDEN = 128
LOC_HIDDEN = 32
N_VAL = 5000
EVALS = 8
SEED = 0
TEST_SEED = 2015
KINDS = {"aff": "affine", "proj": "projective", "tps": "tps"}
MODELS = ("fcn", "cnn", "st-fcn-aff", "st-fcn-proj", "st-fcn-tps", "st-cnn-aff", "st-cnn-proj",
          "st-cnn-tps")
PAPER = {  # test error (%), R / RTS / P / E (Jaderberg et al. 2015, Table 1)
    "fcn": (2.1, 5.2, 3.1, 3.2), "cnn": (1.2, 0.8, 1.5, 1.4),
    "st-fcn-aff": (1.2, 0.8, 1.5, 2.7), "st-fcn-proj": (1.3, 0.9, 1.4, 2.6),
    "st-fcn-tps": (1.1, 0.8, 1.4, 2.4), "st-cnn-aff": (0.7, 0.5, 0.8, 1.2),
    "st-cnn-proj": (0.8, 0.6, 0.8, 1.3), "st-cnn-tps": (0.7, 0.5, 0.8, 1.1)}
SMOKE = dict(minutes=None, steps=3, seeds=1, workers=1, n_train=256, n_val=64, n_test=64, evals=1,
             distortions=["E"], models=["fcn", "st-cnn-tps"])


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--distortions", nargs="+", choices=list(DISTORTIONS), default=list(DISTORTIONS))
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--steps", type=cli.positive_int, default=STEPS,
                   help="train every run exactly this many steps")
    p.add_argument("--minutes", type=cli.positive_float, default=None,
                   help="instead of --steps: as many steps as the slowest model fits in this")
    p.add_argument("--workers", type=cli.positive_int, default=WORKERS)
    p.add_argument("--batch-size", type=cli.positive_int, default=BATCH_SIZE)
    p.add_argument("--lr", type=cli.positive_float, default=LR)
    p.add_argument("--loc-lr-scale", type=cli.nonneg_float, default=LOC_LR_SCALE)
    p.add_argument("--st-out", type=cli.positive_int, default=ST_OUT)
    p.add_argument("--ctrl", type=cli.positive_int, nargs=2, default=(4, 4),
                   help="TPS control-point layout (rows, cols)")
    p.add_argument("--n-val", type=cli.positive_int, default=N_VAL)
    p.add_argument("--n-train", type=cli.positive_int, default=None)
    p.add_argument("--n-test", type=cli.positive_int, default=None)
    p.add_argument("--evals", type=cli.positive_int, default=EVALS)
    p.add_argument("--seed", type=cli.nonneg_int, default=SEED, help="the first seed")
    p.add_argument("--seeds", type=cli.positive_int, default=SEEDS, help="how many seeds")
    p.add_argument("--test-seed", type=cli.nonneg_int, default=TEST_SEED)
    p.add_argument("--device", type=cli.device, default="cpu")
    cli.add_run_flags(p, "results/distortions")
    p.add_argument("--smoke", action="store_true", help="a few steps on a subset (CI)")
    args = p.parse_args(argv)
    if args.smoke:                                  # smoke sizes; flags given explicitly win
        p.set_defaults(**SMOKE)
        args = p.parse_args(argv)
    return args


# ---- models -------------------------------------------------------------------
def fcn(size, hidden, generator=None):
    """(N, 1, S, S) → flatten → fc(hidden) → relu → fc(hidden) → relu → fc 10."""
    return nn.Sequential(nn.Flatten(), nn.Linear(size * size, hidden, generator=generator),
                         nn.ReLU(), nn.Linear(hidden, hidden, generator=generator), nn.ReLU(),
                         nn.Linear(hidden, 10, generator=generator))


def fcn_params(size, hidden):
    return size * size * hidden + hidden + hidden * hidden + hidden + 10 * hidden + 10


class STModel(nn.Module):
    """A spatial transformer of `kind` (affine, projective, tps) in front of a classifier."""

    def __init__(self, family, kind, size, st_out, ctrl=(4, 4), generator=None):
        super().__init__()
        self.config = dict(family=family, kind=kind, size=size, st_out=st_out, ctrl=list(ctrl))
        if family == "cnn":
            loc = localization_net(1, size, LOC_HIDDEN, generator=generator)
            self.head = classifier(1, st_out, 128, dropout=0.0, generator=generator)
        else:
            loc = nn.Sequential(nn.Flatten(), nn.Linear(size * size, LOC_HIDDEN, generator=generator),
                                nn.ReLU(), nn.Linear(LOC_HIDDEN, LOC_HIDDEN, generator=generator),
                                nn.ReLU())
            self.head = fcn(st_out, FCN_HIDDEN, generator)
        self.st = nn.SpatialTransformer(loc, LOC_HIDDEN, (st_out, st_out), kind=kind,
                                        ctrl=tuple(ctrl), generator=generator)

    def forward(self, x):
        return self.head(self.st(x))                     # (N, 10)

    def localization_parameters(self):
        return self.st.parameters()


def make_model(name, args, size, seed):
    """The model `name` for S×S inputs; a base model is widened to its family's ST size."""
    gen = np.random.default_rng(seed)
    family = "cnn" if "cnn" in name else "fcn"
    target = STModel(family, "affine", size, args.st_out, args.ctrl).num_parameters()
    if name == "fcn":
        h = min(range(8, 4096), key=lambda h: abs(fcn_params(size, h) - target))
        return fcn(size, h, gen).to(args.device)
    if name == "cnn":
        from minstn.models.mnist import match_hidden
        h = match_hidden(target, 1, size)
        return classifier(1, size, h, dropout=0.0, generator=gen).to(args.device)
    return STModel(family, KINDS[name.rsplit("-", 1)[1]], size, args.st_out, args.ctrl,
                   gen).to(args.device)


def make_optimizer(args, model):
    from minstn.train import param_groups
    return optim.Adam(param_groups(model, args.lr, args.loc_lr_scale), lr=args.lr)


# ---- one run --------------------------------------------------------------------
def data(args, name, seed):
    """(train images, labels, distorted validation and test sets) of distortion `name`."""
    train_x, train_y = mnist.load("train")
    tr_x, tr_y, va_x, va_y = mnist.split_train_val(train_x, train_y, args.n_val, seed)
    if args.n_train:
        tr_x, tr_y = tr_x[:args.n_train], tr_y[:args.n_train]
    test_x, test_y = mnist.load("test")
    n_test = args.n_test or len(test_x)
    val = distort(name, va_x, np.random.default_rng([seed, 2]))
    test = distort(name, test_x[:n_test], np.random.default_rng([args.test_seed, 3]))
    return tr_x, tr_y, (val, va_y), (test, test_y[:n_test])


def step_seconds(args, name, model_name, tr_x, tr_y, n=6):
    """Median seconds per training step of one model (data included), at lr 0."""
    model = make_model(model_name, args, DISTORTIONS[name]["canvas"], args.seed)
    opt = optim.Adam(model.parameters(), lr=0.0)
    rng, times = np.random.default_rng(0), []
    for _ in range(n):
        t0 = time.perf_counter()
        idx = rng.integers(0, len(tr_x), args.batch_size)
        loss = F.cross_entropy(model(minstn.Tensor(distort(name, tr_x[idx], rng),
                                                   device=args.device)), tr_y[idx])
        opt.zero_grad(), loss.backward(), opt.step()
        times.append(time.perf_counter() - t0)
    return float(np.median(times[1:]))


def checkpoint(out_dir, name, model_name, seed, first_seed):
    """The best-validation weights of one job (the first seed's keep the old file name)."""
    tag = "" if seed == first_seed else f"_seed{seed}"
    return os.path.join(out_dir, f"{name}_{model_name}{tag}.npz")


def run_job(args, name, model_name, steps, out_dir, seed):
    """Train one (distortion, model, seed) for `steps`, keep the best validation state, test it."""
    t0 = time.time()
    minstn.random.manual_seed(seed)
    tr_x, tr_y, val, test = data(args, name, seed)
    model = make_model(model_name, args, DISTORTIONS[name]["canvas"], seed)
    opt = make_optimizer(args, model)
    sched = optim.WarmupCosine(opt, max(1, steps // 50), steps)
    stream = np.random.default_rng([seed, 1])                 # the same images for every model
    eval_at = {max(1, round(steps * k / args.evals)) for k in range(1, args.evals + 1)}
    path = checkpoint(out_dir, name, model_name, seed, args.seed)
    best, curve = (-1.0, 0), []
    for step in progress(range(1, steps + 1), f"{name} {model_name} seed {seed}"):
        idx = stream.integers(0, len(tr_x), args.batch_size)
        x = distort(name, tr_x[idx], stream)                             # (B, 1, S, S)
        loss = F.cross_entropy(model(minstn.Tensor(x, device=args.device)), tr_y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step in eval_at:
            va = accuracy(model, *val, args.device)
            curve.append((step, loss.item(), va))
            if va > best[0]:
                best = (va, step)
                minstn.save(model.state_dict(), path)
    model.load_state_dict(minstn.load(path))
    err = 1 - accuracy(model, *test, args.device)
    print(f"{name} {model_name} seed {seed}: test error {100 * err:.2f}% (best step {best[1]}, "
          f"{(time.time() - t0) / 60:.1f} min)", flush=True)
    return {"distortion": name, "model": model_name, "seed": seed, "test_error": err,
            "val_acc": best[0],
            "best_step": best[1], "curve": curve, "params": model.num_parameters(),
            "wall_s": time.time() - t0}


def tables(runs, models, distortions):
    """Mean and (sample) std over seeds of each (model, distortion)'s test error; std 0 for one."""
    mean, std = {}, {}
    for m in models:
        mean[m], std[m] = {}, {}
        for d in distortions:
            ms = experiment.mean_std([r["test_error"] for r in runs
                                      if r["model"] == m and r["distortion"] == d])
            mean[m][d], std[m][d] = ms["mean"], ms["std"]
    return mean, std


# ---- figure ---------------------------------------------------------------------
def figure(args, out_dir, results):
    """Per distortion: test inputs and what each trained ST model's transformer outputs."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    st_models = [m for m in args.models if m.startswith("st-")]
    rows = [(d, m) for d in args.distortions for m in [None] + st_models]
    fig, axes = plt.subplots(len(rows), 6, figsize=(6, 1.1 * len(rows)), squeeze=False)
    test_x = mnist.load("test")[0][:6]
    for r, (d, m) in enumerate(rows):
        x = distort(d, test_x, np.random.default_rng([args.test_seed, 3]))
        if m is not None:
            model = make_model(m, args, DISTORTIONS[d]["canvas"], args.seed)
            model.load_state_dict(minstn.load(checkpoint(out_dir, d, m, args.seed, args.seed)))
            with minstn.no_grad():
                x = model.st(minstn.Tensor(x, device=args.device)).numpy()
        for c in range(6):
            axes[r, c].imshow(x[c, 0], cmap="gray"), axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(f"{d} input" if m is None else m, fontsize=6)
    fig.tight_layout()
    experiment.save_figure(fig, os.path.join(out_dir, "transformed.png"), dpi=80)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    env = experiment.environment()            # now: the commit and machine that run
    t0 = time.time()
    run = args.run_id or experiment.run_id("smoke" if args.smoke else "")
    out_dir = cli.run_dir(args.out, run, args.overwrite)
    steps = args.steps
    if args.minutes is not None:                    # the slowest model sets every run's steps
        tr_x, tr_y = mnist.load("train")
        slowest = max(step_seconds(args, d, m, tr_x, tr_y) for d in args.distortions
                      for m in args.models)
        steps = max(10, int(60 * args.minutes * 0.9 / slowest))
    seeds = list(range(args.seed, args.seed + args.seeds))
    jobs = [(args, d, m, steps, out_dir, s) for s in seeds for d in args.distortions
            for m in args.models]
    print(f"{len(jobs)} runs of {steps} steps on {args.workers} worker(s)", flush=True)
    runs = experiment.run_in_processes(run_job, jobs, args.workers)
    table, spread = tables(runs, args.models, args.distortions)
    print(f"test error (%), {len(seeds)} seed(s); the paper's in brackets")
    print(f"{'model':<14}" + "".join(f"{d:>16}" for d in args.distortions))
    for m in args.models:
        print(f"{m:<14}" + "".join(
            f"{100 * table[m][d]:>6.2f}±{100 * spread[m][d]:<4.2f}"
            f"({PAPER[m][list(DISTORTIONS).index(d)]:.1f})" for d in args.distortions))
    figure(args, out_dir, runs)
    results = {"demo": "distortions", "config": vars(args), "distortions": {
        d: DISTORTIONS[d] for d in args.distortions}, "steps": steps, "seeds": seeds,
        "test_error": table, "test_error_std": spread, "paper": PAPER, "runs": runs,
        "wall_time_s": {"total": time.time() - t0}, "environment": env}
    experiment.save_json(results, os.path.join(out_dir, "results.json"))
    print(f"wrote {os.path.join(out_dir, 'results.json')}")
    return results


if __name__ == "__main__":
    main()
