"""Experiment 4: a 1-D spatial transformer (time warp) on ICU time series.

PhysioNet/CinC 2012 in-hospital mortality: 48 hourly bins × 84 channels (37 values,
37 masks, 10 static). Default protocol: train on set a (80/20 train/validation
split, stratified, a new split per seed), select each model by validation AUROC
(early stopping with patience), test once on set b.

    python demos/timeseries.py                   # full default run (~10 min on 2 idle cores)
    python demos/timeseries.py --smoke           # < 1 minute on a tiny subset (CI runs this)
    python demos/timeseries.py --train-sets a,b --test-set c
    python demos/timeseries.py --dataset mimic3 --mimic3-root PATH/in-hospital-mortality

Models: lstm (Harutyunyan et al.'s standard LSTM), cnn (1-D CNN), stn (time-warping
spatial transformer → LSTM or CNN head, warping the raw series) and stn_feat (the
same, warping the output of a first conv1d layer: `--warp-features`). Metrics:
AUROC and AUPRC with bootstrap 95% intervals per seed, mean ± std over seeds, and
paired bootstrap differences against the LSTM. Writes
results/timeseries/<run-id>/results.json, checkpoints, test predictions and figures.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import minstn  # noqa: E402
import minstn.functional as F  # noqa: E402
from minstn import cli, experiment, optim  # noqa: E402
from minstn.train import param_groups, progress  # noqa: E402
from minstn.models.timeseries import (CNN1dClassifier, LSTMClassifier,  # noqa: E402
                                      STN1dClassifier)

# ---- defaults (every one is a flag) -------------------------------------------
DATASET = "physionet"
TRAIN_SETS = "a"
TEST_SET = "b"
VAL_FRAC = 0.2
MODELS = "lstm,cnn,stn"
WARP_FEATURES = "both"        # stn warps raw values ("off"), conv features ("on"), or both
SEEDS = "0,1,2,3,4,5,6,7,8,9"   # validation AUROC on 800 stays has σ ≈ 0.01: many seeds
EPOCHS = 10                   # at most; early stopping usually ends sooner (NOTES: best at 4–5)
PATIENCE = 3                  # epochs without a better validation AUROC
BATCH_SIZE = 64
LR = 1e-3
LOC_LR_SCALE = 0.1            # localisation net lr = LR × this (NOTES: 0.1 was stabler)
WARP_PENALTY = 0.0            # λ · mean(log(a)² + b²) added to the STN's loss (0: off)
WEIGHT_DECAY = 0.0
POS_WEIGHT = 1.0
DROPOUT = 0.3
LSTM_HIDDEN = 64
CNN_CHANNELS = "64,64"
CNN_KERNEL = 3
CNN_POOL = "max"
STN_HEAD = "lstm"
WARP = "log_scale"
MAX_LOG_SCALE = math.log(2.0)  # a = exp(s) ∈ [1/2, 2] (an unbounded warp diverged)
LOC_CHANNELS = 16
LOC_KERNEL = 5
LOC_HIDDEN = 32
FEATURE_CHANNELS = 32         # width of the conv layer stn_feat warps
FEATURE_KERNEL = 3
N_BOOT = 1000
EVAL_BATCH = 500
PLOT_CHANNEL = "HR"


def _ints(s):
    return [int(v) for v in str(s).split(",") if v.strip()]


def _names(s):
    return [v.strip() for v in str(s).split(",") if v.strip()]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=("physionet", "mimic3"), default=DATASET)
    p.add_argument("--train-sets", default=TRAIN_SETS, help="PhysioNet sets for train+val, e.g. a,b")
    p.add_argument("--test-set", default=TEST_SET, help="PhysioNet test set (a, b or c)")
    p.add_argument("--mimic3-root", type=cli.existing_dir, default=None,
                   help="mimic3-benchmarks in-hospital-mortality folder (train/ and test/)")
    p.add_argument("--hours", type=cli.positive_int, default=48)
    p.add_argument("--val-frac", type=cli.open_fraction, default=VAL_FRAC)
    p.add_argument("--models", default=MODELS, help="comma list of lstm, cnn, stn")
    p.add_argument("--warp-features", choices=("off", "on", "both"), default=WARP_FEATURES,
                   help="stn warps the raw series (off), a first conv1d layer's output (on), "
                        "or both variants are run (stn and stn_feat)")
    p.add_argument("--seeds", type=cli.int_list, default=SEEDS, help="comma list; each seed: split, init, order")
    p.add_argument("--epochs", type=cli.positive_int, default=EPOCHS)
    p.add_argument("--patience", type=cli.nonneg_int, default=PATIENCE)
    p.add_argument("--batch-size", type=cli.positive_int, default=BATCH_SIZE)
    p.add_argument("--lr", type=cli.positive_float, default=LR)
    p.add_argument("--loc-lr-scale", type=cli.nonneg_float, default=LOC_LR_SCALE)
    p.add_argument("--warp-penalty", type=cli.nonneg_float, default=WARP_PENALTY,
                   help="λ of λ·mean(log(a)² + b²) pulling the STN's warps towards the identity")
    p.add_argument("--weight-decay", type=cli.nonneg_float, default=WEIGHT_DECAY)
    p.add_argument("--pos-weight", type=cli.positive_float, default=POS_WEIGHT,
                   help="weight of the positive (death) class in the loss")
    p.add_argument("--dropout", type=cli.open_fraction, default=DROPOUT)
    p.add_argument("--lstm-hidden", type=cli.positive_int, default=LSTM_HIDDEN)
    p.add_argument("--cnn-channels", type=cli.int_list, default=CNN_CHANNELS, help="conv widths, e.g. 64,64")
    p.add_argument("--cnn-kernel", type=cli.positive_int, default=CNN_KERNEL)
    p.add_argument("--cnn-pool", choices=("max", "mean"), default=CNN_POOL)
    p.add_argument("--stn-head", choices=("lstm", "cnn"), default=STN_HEAD)
    p.add_argument("--warp", choices=("log_scale", "affine"), default=WARP)
    p.add_argument("--max-log-scale", type=cli.nonneg_float, default=MAX_LOG_SCALE,
                   help="bound on |s| (a = exp(s)); <= 0 means unbounded")
    p.add_argument("--stn-out-len", type=cli.positive_int, default=None, help="warped length (default T)")
    p.add_argument("--padding-mode", choices=("border", "zeros"), default="border")
    p.add_argument("--loc-channels", type=cli.positive_int, default=LOC_CHANNELS)
    p.add_argument("--loc-kernel", type=cli.positive_int, default=LOC_KERNEL)
    p.add_argument("--loc-hidden", type=cli.positive_int, default=LOC_HIDDEN)
    p.add_argument("--feature-channels", type=cli.positive_int, default=FEATURE_CHANNELS)
    p.add_argument("--feature-kernel", type=cli.positive_int, default=FEATURE_KERNEL)
    p.add_argument("--n-boot", type=cli.positive_int, default=N_BOOT, help="bootstrap resamples")
    p.add_argument("--n-train", type=cli.positive_int, default=None, help="use only this many training stays")
    p.add_argument("--n-val", type=cli.positive_int, default=None, help="use only this many validation stays")
    p.add_argument("--n-test", type=cli.positive_int, default=None, help="use only this many test stays")
    p.add_argument("--eval-batch", type=cli.positive_int, default=EVAL_BATCH)
    p.add_argument("--plot-channel", default=PLOT_CHANNEL, help="channel shown in warp figures")
    p.add_argument("--threads", type=cli.positive_int, default=None, help="Numba threads (default: all)")
    p.add_argument("--device", type=cli.device, default="cpu")
    cli.add_run_flags(p, "results/timeseries")
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--strict", action="store_true",
                   help="stop at the first malformed line or record of the data files (default: "
                        "skip them, count them by kind, and record the counts in the results)")
    p.add_argument("--smoke", action="store_true", help="tiny run (< 1 min) for CI")
    args = p.parse_args(argv)
    if args.smoke:   # tiny settings, except where a flag was given explicitly
        smoke = dict(seeds="0,1", epochs=2, patience=1, n_train=128, n_val=96, n_test=128,
                     n_boot=50, lstm_hidden=16, cnn_channels="16,16", feature_channels=8,
                     loc_channels=8, loc_hidden=16)
        for k, v in smoke.items():
            if getattr(args, k) == p.get_default(k):
                setattr(args, k, v)
    for m in _names(args.models):
        if m not in ("lstm", "cnn", "stn"):
            p.error(f"--models: unknown model {m!r} (choose from lstm, cnn, stn)")
    if args.dataset == "mimic3" and not args.mimic3_root:
        p.error("--dataset mimic3 needs --mimic3-root (the in-hospital-mortality folder)")
    if args.dataset == "physionet":
        train_sets = _names(args.train_sets)
        if args.test_set in train_sets:
            p.error(f"--test-set {args.test_set} is also a training set ({args.train_sets})")
        if any(s not in ("a", "b", "c") for s in train_sets + [args.test_set]):
            p.error("PhysioNet sets are a, b and c")
    return args


def model_names(args):
    """The models to run, with stn expanded into its warp variants."""
    out = []
    for m in _names(args.models):
        if m != "stn":
            out.append(m)
        else:
            out += {"off": ["stn"], "on": ["stn_feat"], "both": ["stn", "stn_feat"]}[args.warp_features]
    return out


# ---- metrics (NumPy only) -------------------------------------------------------
def _ranks(s, axis=-1):
    """Average ranks (1-based, ties share their mean rank) along `axis`."""
    from scipy.stats import rankdata
    return rankdata(s, axis=axis)


def auroc(y, s):
    """Area under the ROC curve = P(score of a random positive > a random negative), ties ½.

    Mann–Whitney: (sum of the positives' ranks − n1(n1+1)/2) / (n1·n0). NaN if a class is empty.
    """
    y = np.asarray(y).astype(bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = _ranks(np.asarray(s, np.float64))
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _auroc_rows(y, s):
    """auroc of each row of (B, n) labels/scores at once."""
    y = y.astype(bool)
    n1 = y.sum(1)
    n0 = y.shape[1] - n1
    r = _ranks(s, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = ((r * y).sum(1) - n1 * (n1 + 1) / 2) / (n1 * n0)
    return np.where((n1 > 0) & (n0 > 0), a, np.nan)


def _pr_points(y, s):
    """True/false positive counts at each distinct threshold, scores descending."""
    order = np.argsort(-np.asarray(s, np.float64), kind="mergesort")
    s_sorted, y_sorted = np.asarray(s)[order], np.asarray(y)[order].astype(np.float64)
    last = np.r_[s_sorted[1:] != s_sorted[:-1], True]      # last index of each tie group
    tp = np.cumsum(y_sorted)[last]
    fp = np.cumsum(1.0 - y_sorted)[last]
    return tp, fp


def average_precision(y, s):
    """AUPRC as average precision: Σ_k (R_k − R_{k−1}) P_k over distinct thresholds (as sklearn)."""
    tp, fp = _pr_points(y, s)
    if tp[-1] == 0:
        return float("nan")
    precision = tp / (tp + fp)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def roc_curve(y, s):
    """(fpr, tpr) at each distinct threshold, from (0, 0) to (1, 1)."""
    tp, fp = _pr_points(y, s)
    return np.r_[0.0, fp / max(fp[-1], 1)], np.r_[0.0, tp / max(tp[-1], 1)]


def bootstrap_indices(n, n_boot, seed):
    return np.random.default_rng([seed, 99]).integers(0, n, size=(n_boot, n))


def bootstrap_metrics(y, s, idx):
    """AUROC and AUPRC of each bootstrap resample idx (B, n) → two (B,) arrays."""
    ys, ss = y[idx], np.asarray(s, np.float64)[idx]
    auc = _auroc_rows(ys, ss)
    ap = np.array([average_precision(yb, sb) if yb.any() else np.nan for yb, sb in zip(ys, ss)])
    return auc, ap


def ci95(samples):
    lo, hi = np.nanpercentile(samples, [2.5, 97.5])
    return [float(lo), float(hi)]


# ---- data ---------------------------------------------------------------------------
def load_data(args):
    """The train/val pool and the test stays, not yet normalised per split.

    Returns (pool, test, info) where pool/test are the loaders' data objects. With --strict
    the first malformed line or record ends the run, naming the file and line.
    """
    try:
        return _load_data(args)
    except ValueError as e:
        if not args.strict:
            raise
        raise SystemExit(f"error: {e}\n(--strict stops at the first malformed line or record; "
                         "without it the demo skips them and counts them by kind)") from None


def _load_data(args):
    skip = not args.strict          # real files: skip and count malformed lines and records
    if args.dataset == "mimic3":
        from minstn.data import mimic3
        pool = mimic3.load(args.mimic3_root, "train", hours=args.hours, skip_malformed=skip)
        test = mimic3.load(args.mimic3_root, "test", hours=args.hours, skip_malformed=skip)
        names = list(mimic3.CHANNEL_NAMES)
        report_skips("mimic3", pool, test)
        return pool, test, {"dataset": "mimic3", "root": args.mimic3_root, "channel_names": names,
                            "skipped": {"train": pool.skipped, "test": test.skipped}}
    from minstn.data import physionet as pn
    from minstn.data._download import DataNotFoundError
    sets = _names(args.train_sets)
    try:
        pool = pn.load(tuple(sets), hours=args.hours, skip_malformed=skip)
    except DataNotFoundError as e:
        raise SystemExit(f"PhysioNet training set(s) {sets} not found and not downloadable:\n{e}")
    try:
        test = pn.load((args.test_set,), hours=args.hours, skip_malformed=skip)
    except DataNotFoundError as e:
        raise SystemExit(
            f"PhysioNet test set {args.test_set!r} is not available: it is not under "
            f"$MINSTN_DATA/physionet2012/ (MINSTN_DATA={os.environ.get('MINSTN_DATA')!r}) or in "
            f"the cache, and downloading it failed. Put set-{args.test_set}.tar.gz and "
            f"Outcomes-{args.test_set}.txt (https://physionet.org/files/challenge-2012/1.0.0/) "
            f"into physionet2012/, or choose another --test-set.\n{e}")
    report_skips("physionet", pool, test)
    return pool, test, {"dataset": "physionet", "train_sets": sets, "test_set": args.test_set,
                        "channel_names": list(pn.CHANNEL_NAMES),
                        "skipped": {"train": pool.skipped, "test": test.skipped}}


def report_skips(dataset, pool, test):
    """One line per split: what the loader skipped (malformed lines and records), by kind."""
    import importlib
    loader = importlib.import_module(f"minstn.data.{dataset}")
    for name, d in (("train+val", pool), ("test", test)):
        print(f"{dataset} {name}: {len(d)} stays; {loader.skip_summary(d.skipped)}", flush=True)


def _sub(idx, n, rng):
    return idx if n is None or n >= len(idx) else np.sort(rng.choice(idx, n, replace=False))


def make_split(args, pool, test, seed):
    """Per seed: stratified 80/20 split of the pool, normaliser fitted on the train part only.

    Returns dict of float32 (n, T, C) inputs and int64 labels for train / val / test.
    """
    rng = np.random.default_rng([seed, 3])
    if args.dataset == "mimic3":
        from minstn.data import mimic3
        from minstn.data import physionet as pn
        tr, va = pn.train_val_split(len(pool), args.val_frac, seed, stratify=pool.y)
        tr, va = _sub(tr, args.n_train, rng), _sub(va, args.n_val, rng)
        norm = mimic3.Standardizer.fit(pool.x[tr])
        x_tr, x_va = norm.transform(pool.x[tr]), norm.transform(pool.x[va])
        te = _sub(np.arange(len(test)), args.n_test, np.random.default_rng(0))
        x_te = norm.transform(test.x[te])
    else:
        from minstn.data import physionet as pn
        tr, va = pn.train_val_split(len(pool), args.val_frac, seed, stratify=pool.y)
        tr, va = _sub(tr, args.n_train, rng), _sub(va, args.n_val, rng)
        norm = pn.fit_normalizer(pool, tr)                 # training stays' statistics only
        x_tr, x_va = norm.transform(pool, tr), norm.transform(pool, va)
        te = _sub(np.arange(len(test)), args.n_test, np.random.default_rng(0))
        x_te = norm.transform(test, te)
    return {"x_tr": x_tr, "y_tr": pool.y[tr], "x_va": x_va, "y_va": pool.y[va],
            "x_te": x_te, "y_te": test.y[te], "test_idx": te}


# ---- models ---------------------------------------------------------------------------
def build_model(name, args, in_channels, seed):
    gen = np.random.default_rng([seed, 11])
    cnn_channels = tuple(_ints(args.cnn_channels))
    if name == "lstm":
        return LSTMClassifier(in_channels, args.lstm_hidden, args.dropout, generator=gen)
    if name == "cnn":
        return CNN1dClassifier(in_channels, cnn_channels, args.cnn_kernel, args.cnn_pool,
                               args.dropout, generator=gen)
    return STN1dClassifier(
        in_channels, head=args.stn_head, hidden=args.lstm_hidden, cnn_channels=cnn_channels,
        cnn_kernel=args.cnn_kernel, cnn_pool=args.cnn_pool, dropout=args.dropout,
        loc_channels=args.loc_channels, loc_kernel=args.loc_kernel, loc_hidden=args.loc_hidden,
        warp=args.warp, max_log_scale=args.max_log_scale if args.max_log_scale > 0 else None,
        out_len=args.stn_out_len, padding_mode=args.padding_mode,
        warp_features=args.feature_channels if name == "stn_feat" else 0,
        feature_kernel=args.feature_kernel, generator=gen)


def make_optimizer(args, model):
    groups = param_groups(model, args.lr, args.loc_lr_scale)    # localisation nets at lr × scale
    return optim.Adam(groups, lr=args.lr, weight_decay=args.weight_decay)


def predict(model, x, batch, device="cpu"):
    """Logits (n,) in eval mode; for an STN also its warps θ (n, 1, 2)."""
    model.eval()
    logits, thetas = [], []
    with minstn.no_grad():
        for i in range(0, len(x), batch):
            logits.append(model(minstn.Tensor(x[i:i + batch], device=device)).numpy().astype(np.float64))
            if hasattr(model, "st"):
                thetas.append(np.array(model.st.theta.numpy(), np.float64))
    model.train()
    return np.concatenate(logits), (np.concatenate(thetas) if thetas else None)


def train_model(name, model, args, split, seed, desc):
    """Adam with early stopping on validation AUROC; returns (curves, selection)."""
    x_tr, y_tr = split["x_tr"], split["y_tr"].astype(np.float32)
    opt = make_optimizer(args, model)
    order_rng = np.random.default_rng([seed, 5])             # same batch order for every model
    pos_weight = None if args.pos_weight == 1.0 else args.pos_weight
    n_batches = math.ceil(len(x_tr) / args.batch_size)
    curves = {"train_loss": [], "val_auroc": [], "val_auprc": [], "epoch_time_s": []}
    best = {"val_auroc": -1.0, "epoch": 0, "state": model.state_dict()}
    stale, diverged = 0, False
    for epoch in range(args.epochs):
        t0 = time.time()
        order = order_rng.permutation(len(x_tr))
        total = 0.0
        bar = progress(range(n_batches), f"{desc} epoch {epoch + 1}/{args.epochs}")
        for b in bar:
            idx = order[b * args.batch_size:(b + 1) * args.batch_size]
            logits = model(minstn.Tensor(x_tr[idx], device=args.device))     # (B,)
            target = minstn.Tensor(y_tr[idx], device=args.device)
            loss = F.binary_cross_entropy_with_logits(logits, target,
                                                      pos_weight=pos_weight)
            if args.warp_penalty and hasattr(model, "warp_penalty"):
                loss = loss + args.warp_penalty * model.warp_penalty()
            opt.zero_grad()
            loss.backward()
            opt.step()
            value = loss.item()
            if not np.isfinite(value):
                diverged = True
                break
            total += value * len(idx)
            if b % 20 == 19:
                bar.set_postfix(loss=f"{total / ((b + 1) * args.batch_size):.4f}", refresh=False)
        bar.close()
        if diverged:
            print(f"{desc}: loss is not finite at epoch {epoch + 1}; keeping the best epoch",
                  flush=True)
            break
        train_time = time.time() - t0
        val_scores, _ = predict(model, split["x_va"], args.eval_batch, args.device)
        va, vp = auroc(split["y_va"], val_scores), average_precision(split["y_va"], val_scores)
        curves["train_loss"].append(total / len(x_tr))
        curves["val_auroc"].append(va)
        curves["val_auprc"].append(vp)
        curves["epoch_time_s"].append(train_time)
        improved = va > best["val_auroc"]
        if improved:
            best = {"val_auroc": va, "epoch": epoch + 1, "state": model.state_dict()}
            stale = 0
        else:
            stale += 1
        print(f"{desc} epoch {epoch + 1}: loss {curves['train_loss'][-1]:.4f} "
              f"val AUROC {va:.4f} AUPRC {vp:.4f} ({train_time:.1f} s){' *' if improved else ''}",
              flush=True)
        if stale >= args.patience:
            break
    model.load_state_dict(best["state"])
    selection = {"val_auroc": best["val_auroc"], "best_epoch": best["epoch"],
                 "epochs_run": len(curves["val_auroc"]), "diverged": diverged}
    return curves, selection


# ---- warp statistics ------------------------------------------------------------------
def _describe(v):
    v = np.asarray(v, np.float64)
    q = np.percentile(v, [5, 25, 50, 75, 95])
    return {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()),
            "q05": q[0], "q25": q[1], "median": q[2], "q75": q[3], "q95": q[4],
            "max": float(v.max())}


def warp_stats(theta, y):
    """Scale a and shift b of t_src = a·t + b on the test stays, overall and per outcome."""
    a, b = theta[:, 0, 0], theta[:, 0, 1]
    died = np.asarray(y).astype(bool)
    out = {"scale": {**_describe(a), "frac_expand_gt1": float(np.mean(a > 1.0)),
                     "frac_shrink_lt1": float(np.mean(a < 1.0))},
           "shift": _describe(b),
           "by_class": {}}
    for label, m in (("died", died), ("survived", ~died)):
        if m.any():
            out["by_class"][label] = {"n": int(m.sum()), "scale": _describe(a[m]),
                                      "shift": _describe(b[m]),
                                      "frac_expand_gt1": float(np.mean(a[m] > 1.0))}
    # how much the warp alone separates the classes (0.5 = same warps for both: "canonical")
    out["scale_auroc_for_death"] = auroc(died, a)
    out["shift_auroc_for_death"] = auroc(died, b)
    return out


# ---- figures --------------------------------------------------------------------------
def _scale_bins(a, n):
    """Histogram bins for the warp scale a, spanning at least [0.9, 1.1]: log-spaced if a > 0."""
    lo, hi = min(float(a.min()), 0.9), max(float(a.max()), 1.1)
    return np.geomspace(lo, hi, n) if lo > 0 else np.linspace(lo, hi, n)


def figures(out_dir, names, results, preds, y_te, x_te_example, channel_names, args):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {m: f"C{i}" for i, m in enumerate(names)}
    seeds = _ints(args.seeds)

    # ROC curves: every seed, one colour per model
    fig, ax = plt.subplots(figsize=(5, 5))
    for m in names:
        for k, seed in enumerate(seeds):
            fpr, tpr = roc_curve(y_te, preds[m][seed]["logits"])
            s = results["summary"][m]["test_auroc"]
            ax.plot(fpr, tpr, color=colors[m], lw=1, alpha=0.7,
                    label=f"{m} (AUROC {s['mean']:.3f} ± {s['std']:.3f})" if k == 0 else None)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_xlabel("false positive rate"), ax.set_ylabel("true positive rate")
    ax.set_title(f"test ROC ({len(seeds)} seeds per model)")
    ax.legend(fontsize=8, loc="lower right"), ax.grid(alpha=0.3)
    fig.tight_layout()
    experiment.save_figure(fig, os.path.join(out_dir, "roc.png"), dpi=100)
    plt.close(fig)

    # training curves
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for m in names:
        for k, seed in enumerate(seeds):
            c = results["curves"][m][str(seed)]
            ep = np.arange(1, len(c["train_loss"]) + 1)
            a1.plot(ep, c["train_loss"], "o-", color=colors[m], ms=3, alpha=0.7,
                    label=m if k == 0 else None)
            a2.plot(ep, c["val_auroc"], "o-", color=colors[m], ms=3, alpha=0.7,
                    label=m if k == 0 else None)
    a1.set_xlabel("epoch"), a1.set_ylabel("train loss (BCE)"), a1.legend(fontsize=8)
    a2.set_xlabel("epoch"), a2.set_ylabel("validation AUROC"), a2.legend(fontsize=8)
    fig.tight_layout()
    experiment.save_figure(fig, os.path.join(out_dir, "training_curves.png"), dpi=100)
    plt.close(fig)

    stns = [m for m in names if m.startswith("stn")]
    if not stns:
        return
    hours = x_te_example.shape[1]
    t = np.linspace(-1, 1, 201)

    def to_hours(u):
        return (np.asarray(u) + 1) / 2 * hours

    # learned warps on example patients (first seed), and one channel before / after
    ch = channel_names.index(args.plot_channel) if args.plot_channel in channel_names else 0
    died = np.flatnonzero(y_te == 1)[:4]
    survived = np.flatnonzero(y_te == 0)[:4]
    examples = np.r_[died, survived]
    fig, axes = plt.subplots(len(stns), 3, figsize=(14, 3.6 * len(stns)), squeeze=False)
    for r, m in enumerate(stns):
        th = preds[m][seeds[0]]["theta"]
        ax = axes[r, 0]
        for i in examples:
            a, b = th[i, 0]
            ax.plot(to_hours(t), to_hours(a * t + b), color="C3" if y_te[i] else "C0", lw=1.2)
        ax.plot(to_hours(t), to_hours(t), "k--", lw=0.8, label="identity")
        ax.plot([], [], color="C3", label="died"), ax.plot([], [], color="C0", label="survived")
        ax.set_xlabel("output time (h)"), ax.set_ylabel("source time t_src (h)")
        ax.set_title(f"{m}: learned warps, 8 test stays (seed {seeds[0]})", fontsize=9)
        ax.legend(fontsize=7)
        for j, i in enumerate(examples[[0, len(died)]] if len(died) else examples[:2]):
            ax = axes[r, 1 + j]
            x = x_te_example[i:i + 1].transpose(0, 2, 1)                  # (1, C, T)
            w = F.affine_grid_sample1d(minstn.Tensor(x), minstn.Tensor(th[i:i + 1].astype(x.dtype)),
                                       (1, x.shape[1], hours), padding_mode=args.padding_mode).numpy()
            hrs = np.arange(hours) + 0.5
            ax.step(hrs, x[0, ch], where="mid", color="0.5", label="input")
            ax.plot(hrs, w[0, ch], "o-", ms=2.5, color="C3" if y_te[i] else "C0",
                    label="warped (same θ on the raw series)" if m == "stn_feat" else "warped")
            a, b = th[i, 0]
            ax.set_title(f"{'died' if y_te[i] else 'survived'}: {channel_names[ch]} (z-score); "
                         f"a={a:.2f}, b={b:+.2f}", fontsize=9)
            ax.set_xlabel("hour"), ax.legend(fontsize=7)
    fig.tight_layout()
    experiment.save_figure(fig, os.path.join(out_dir, "warp_examples.png"), dpi=90)
    plt.close(fig)

    # histogram of the scale a = exp(s), all seeds
    fig, axes = plt.subplots(1, len(stns), figsize=(5.5 * len(stns), 3.8), squeeze=False)
    for ax, m in zip(axes[0], stns):
        a = np.concatenate([preds[m][s]["theta"][:, 0, 0] for s in seeds])
        ax.hist(a, bins=_scale_bins(a, 50), color=colors[m], alpha=0.8)
        ax.set_xscale("log" if a.min() > 0 else "linear")
        ax.axvline(1.0, color="k", ls="--", lw=1)
        ax.set_xlabel("warp scale a = exp(s)  (log axis)")
        ax.set_ylabel("test stays (all seeds)")
        ax.set_title(f"{m}: a>1 expand (window > stay) {np.mean(a > 1):.0%}, "
                     f"a<1 shrink (zoom) {np.mean(a < 1):.0%}", fontsize=9)
    fig.tight_layout()
    experiment.save_figure(fig, os.path.join(out_dir, "warp_scale_hist.png"), dpi=100)
    plt.close(fig)

    # warps per outcome class
    fig, axes = plt.subplots(len(stns), 3, figsize=(14, 3.6 * len(stns)), squeeze=False)
    for r, m in enumerate(stns):
        th = np.concatenate([preds[m][s]["theta"] for s in seeds])
        yy = np.concatenate([y_te for _ in seeds]).astype(bool)
        a, b = th[:, 0, 0], th[:, 0, 1]
        bins = _scale_bins(a, 40)
        for label, msk, c in (("survived", ~yy, "C0"), ("died", yy, "C3")):
            axes[r, 0].hist(a[msk], bins=bins, density=True, alpha=0.5, color=c, label=label)
            axes[r, 1].hist(b[msk], bins=40, density=True, alpha=0.5, color=c, label=label)
            mean_map = np.mean(a[msk, None] * t[None] + b[msk, None], axis=0)
            sd_map = np.std(a[msk, None] * t[None] + b[msk, None], axis=0)
            axes[r, 2].plot(to_hours(t), to_hours(mean_map), color=c, label=f"{label} mean")
            axes[r, 2].fill_between(to_hours(t), to_hours(mean_map - sd_map),
                                    to_hours(mean_map + sd_map), color=c, alpha=0.15)
        axes[r, 0].set_xscale("log" if a.min() > 0 else "linear")
        axes[r, 0].axvline(1, color="k", ls="--", lw=0.8)
        st = results["warps"][m]
        auc_a = np.mean([st[str(s)]["scale_auroc_for_death"] for s in seeds])
        auc_b = np.mean([st[str(s)]["shift_auroc_for_death"] for s in seeds])
        axes[r, 0].set_title(f"{m}: scale a by outcome (AUROC of a alone {auc_a:.2f})", fontsize=9)
        axes[r, 1].set_title(f"shift b by outcome (AUROC of b alone {auc_b:.2f})", fontsize=9)
        axes[r, 2].plot(to_hours(t), to_hours(t), "k--", lw=0.8, label="identity")
        axes[r, 2].set_title("mean warp ± 1 sd per outcome", fontsize=9)
        axes[r, 2].set_xlabel("output time (h)"), axes[r, 2].set_ylabel("source time (h)")
        axes[r, 0].set_xlabel("a = exp(s)"), axes[r, 1].set_xlabel("b (normalised time)")
        for ax in axes[r]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    experiment.save_figure(fig, os.path.join(out_dir, "warps_by_class.png"), dpi=90)
    plt.close(fig)


def summary_table(names, summary, counts, comparisons):
    lines = [f"{'model':<10}{'params':>9}{'test AUROC':>18}{'test AUPRC':>18}{'val AUROC':>18}"
             f"{'epoch':>7}{'s/epoch':>9}"]
    for m in names:
        s = summary[m]
        lines.append(f"{m:<10}{counts[m]:>9,}"
                     + "".join(f"{s[k]['mean']:>11.4f} ± {s[k]['std']:.3f}"
                               for k in ("test_auroc", "test_auprc", "val_auroc"))
                     + f"{s['best_epoch']['mean']:>7.1f}{s['epoch_time_s']['mean']:>9.1f}")
    for k, c in comparisons.items():
        lines.append(f"{k}: ΔAUROC {c['auroc_diff']:+.4f} [{c['auroc_diff_ci'][0]:+.4f}, "
                     f"{c['auroc_diff_ci'][1]:+.4f}], P(Δ>0) {c['auroc_frac_positive']:.2f}")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    env = experiment.environment()            # now: the commit and machine that run
    t_start = time.time()
    if args.threads:
        import numba
        numba.set_num_threads(args.threads)
    names = model_names(args)
    seeds = _ints(args.seeds)
    pool, test, info = load_data(args)
    run = args.run_id or experiment.run_id("smoke" if args.smoke else "")
    out_dir = cli.run_dir(args.out, run, args.overwrite)
    in_channels = pool.x.shape[-1]
    counts = {m: build_model(m, args, in_channels, 0).num_parameters() for m in names}
    print("parameters: " + ", ".join(f"{m} {c:,}" for m, c in counts.items()), flush=True)

    runs = {m: {} for m in names}
    curves = {m: {} for m in names}
    warps = {m: {} for m in names if m.startswith("stn")}
    preds = {m: {} for m in names}
    boot = {m: {} for m in names}
    y_te, x_te_example, test_idx, data_info = None, None, None, {}
    for seed in seeds:
        minstn.random.manual_seed(seed)
        split = make_split(args, pool, test, seed)
        if y_te is None:
            y_te, test_idx = split["y_te"], split["test_idx"]
            x_te_example = split["x_te"]
            idx = bootstrap_indices(len(y_te), args.n_boot, 0)    # shared: paired comparisons
        data_info[str(seed)] = {k: {"n": int(len(split[f"y_{k}"])),
                                    "deaths": int(split[f"y_{k}"].sum())}
                                for k in ("tr", "va", "te")}
        for m in names:
            desc = f"{m} seed {seed}"
            model = build_model(m, args, in_channels, seed).to(args.device)
            t0 = time.time()
            curves[m][str(seed)], sel = train_model(m, model, args, split, seed, desc)
            train_time = time.time() - t0
            minstn.save(model.state_dict(), os.path.join(out_dir, f"{m}_seed{seed}.npz"))
            logits, theta = predict(model, split["x_te"], args.eval_batch, args.device)
            auc_b, ap_b = bootstrap_metrics(y_te, logits, idx)
            boot[m][seed] = auc_b
            fpr, tpr = roc_curve(y_te, logits)
            runs[m][str(seed)] = {
                **sel, "train_time_s": train_time,
                "epoch_time_s": float(np.mean(curves[m][str(seed)]["epoch_time_s"] or [0.0])),
                "test": {"auroc": auroc(y_te, logits), "auroc_ci95": ci95(auc_b),
                         "auprc": average_precision(y_te, logits), "auprc_ci95": ci95(ap_b)},
                "roc_curve": {"fpr": fpr[::max(1, len(fpr) // 200)],
                              "tpr": tpr[::max(1, len(tpr) // 200)]}}
            preds[m][seed] = {"logits": logits, "theta": theta}
            if theta is not None:
                warps[m][str(seed)] = warp_stats(theta, y_te)
            r = runs[m][str(seed)]
            print(f"{desc}: best epoch {sel['best_epoch']} val AUROC {sel['val_auroc']:.4f} → "
                  f"test AUROC {r['test']['auroc']:.4f} {r['test']['auroc_ci95']}, "
                  f"AUPRC {r['test']['auprc']:.4f} ({train_time:.0f} s)", flush=True)

    summary = {}
    for m in names:
        rs = [runs[m][str(s)] for s in seeds]
        summary[m] = {
            "test_auroc": experiment.mean_std([r["test"]["auroc"] for r in rs]),
            "test_auprc": experiment.mean_std([r["test"]["auprc"] for r in rs]),
            "val_auroc": experiment.mean_std([r["val_auroc"] for r in rs]),
            "best_epoch": experiment.mean_std([r["best_epoch"] for r in rs]),
            "epoch_time_s": experiment.mean_std([r["epoch_time_s"] for r in rs]),
            "train_time_s": experiment.mean_std([r["train_time_s"] for r in rs]),
        }
        if m in warps:
            summary[m]["warp_scale_frac_expand_gt1"] = experiment.mean_std(
                [warps[m][str(s)]["scale"]["frac_expand_gt1"] for s in seeds])
            summary[m]["warp_scale_auroc_for_death"] = experiment.mean_std(
                [warps[m][str(s)]["scale_auroc_for_death"] for s in seeds])
    # paired bootstrap (same resampled test stays for every model and seed): seed-mean AUROC
    comparisons = {}
    if "lstm" in names:
        base = np.mean([boot["lstm"][s] for s in seeds], axis=0)
        for m in names:
            if m == "lstm":
                continue
            diff = np.mean([boot[m][s] for s in seeds], axis=0) - base
            comparisons[f"{m}_vs_lstm"] = {
                "auroc_diff": summary[m]["test_auroc"]["mean"] - summary["lstm"]["test_auroc"]["mean"],
                "auroc_diff_ci": ci95(diff), "auroc_frac_positive": float(np.nanmean(diff > 0))}
    # mean ROC on a common FPR grid
    grid = np.linspace(0, 1, 101)
    roc = {m: {"fpr": grid, "tpr_mean": np.mean(
        [np.interp(grid, *roc_curve(y_te, preds[m][s]["logits"])) for s in seeds], axis=0)}
        for m in names}

    print(summary_table(names, summary, counts, comparisons))
    results = {
        "demo": "timeseries", "config": vars(args), "seeds": seeds, "models": names,
        "data": {**{k: v for k, v in info.items() if k != "channel_names"},
                 "splits": data_info, "n_channels": in_channels, "hours": args.hours},
        "param_counts": counts, "runs": runs, "summary": summary, "comparisons": comparisons,
        "warps": warps, "curves": curves, "roc": roc,
        "wall_time_s": {"total": None},
        "environment": env,
    }
    np.savez(os.path.join(out_dir, "predictions.npz"), y_test=y_te, test_index=test_idx,
             **{f"{m}_seed{s}_logits": preds[m][s]["logits"] for m in names for s in seeds},
             **{f"{m}_seed{s}_theta": preds[m][s]["theta"] for m in names for s in seeds
                if preds[m][s]["theta"] is not None})
    if not args.no_figures:
        figures(out_dir, names, results, preds, y_te, x_te_example, info["channel_names"], args)
    results["wall_time_s"]["total"] = time.time() - t_start
    experiment.save_json(results, os.path.join(out_dir, "results.json"))
    print(f"wrote {os.path.join(out_dir, 'results.json')} ({results['wall_time_s']['total']:.0f} s)")
    return results


if __name__ == "__main__":
    main()
