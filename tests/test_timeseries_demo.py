"""Tests for experiment 4: the time-series models, the metrics and demos/timeseries.py.

The end-to-end smoke run needs the real PhysioNet 2012 sets a and b (MINSTN_DATA;
CI: ../shared/data); everything else uses small synthetic arrays.
"""
import importlib.util
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

import minstn
import minstn.functional as F
from minstn.models.timeseries import (CNN1dClassifier, GlobalPool1d, LSTMClassifier,
                                      STN1dClassifier)

REPO = Path(__file__).resolve().parents[1]


def _load_demo():
    spec = importlib.util.spec_from_file_location("timeseries_demo", REPO / "demos" / "timeseries.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


demo = _load_demo()


def _real_data_root():
    value = os.environ.get("MINSTN_DATA")
    if not value:
        return None
    for base in (Path.cwd(), REPO):
        p = (base / value).resolve()
        if (p / "physionet2012" / "Outcomes-a.txt").is_file() and \
                (p / "physionet2012" / "Outcomes-b.txt").is_file():
            return p
    return None


# ---- models ---------------------------------------------------------------------------
N, T, C = 3, 12, 5


def _x(rng):
    return minstn.Tensor(rng.standard_normal((N, T, C)).astype(np.float32))


def _backward_ok(model, x):
    y = np.array([1.0, 0.0, 1.0], np.float32)
    out = model(x)
    assert out.shape == (N,)
    loss = F.binary_cross_entropy_with_logits(out, minstn.Tensor(y))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.shape == p.shape, name
        assert np.all(np.isfinite(p.grad)), name
    return out


def test_lstm_classifier_shapes(rng):
    m = LSTMClassifier(C, hidden=4, dropout=0.3, generator=np.random.default_rng(0))
    _backward_ok(m, _x(rng))
    assert m.num_parameters() == 4 * 4 * (C + 4) + 2 * 4 * 4 + 4 + 1


@pytest.mark.parametrize("pool", ["max", "mean"])
def test_cnn1d_classifier_shapes(rng, pool):
    m = CNN1dClassifier(C, channels=(6, 4), kernel_size=3, pool=pool,
                        generator=np.random.default_rng(0))
    _backward_ok(m, _x(rng))


def test_global_pool(rng):
    x = rng.standard_normal((2, 3, 7)).astype(np.float32)
    np.testing.assert_allclose(GlobalPool1d("max")(minstn.Tensor(x)).data, x.max(2))
    np.testing.assert_allclose(GlobalPool1d("mean")(minstn.Tensor(x)).data, x.mean(2), rtol=1e-6)
    with pytest.raises(ValueError, match="mode"):
        GlobalPool1d("min")


@pytest.mark.parametrize("head,warp_features", [("lstm", 0), ("cnn", 0), ("lstm", 6)])
def test_stn1d_classifier_shapes_and_identity_start(rng, head, warp_features):
    m = STN1dClassifier(C, head=head, hidden=4, cnn_channels=(6, 4), loc_channels=3,
                        loc_kernel=3, loc_hidden=5, warp_features=warp_features,
                        generator=np.random.default_rng(0))
    x = _x(rng)
    warped = m.warped(x)
    assert warped.shape == (N, T, warp_features or C)
    # identity init: the warp starts as t_src = t, so the raw series passes unchanged
    a, b = m.warp_params(x)
    np.testing.assert_allclose(a, 1.0)
    np.testing.assert_allclose(b, 0.0)
    if not warp_features:
        np.testing.assert_allclose(warped.data, x.data, atol=1e-6)
    _backward_ok(m, x)
    # the localisation net gets a gradient through the sampler
    assert np.abs(m.st.fc.weight.grad).sum() > 0
    assert {id(p) for p in m.localization_parameters()} == {id(p) for p in m.st.parameters()}


def test_stn1d_warps_values_and_masks_together(rng):
    """One θ per stay for all channels: a mask channel warps exactly like its value channel."""
    m = STN1dClassifier(2, hidden=3, loc_channels=2, loc_kernel=3, loc_hidden=2,
                        max_log_scale=None, generator=np.random.default_rng(0))
    m.st.fc.bias.data[:] = [math.log(0.5), 0.3]           # zoom in 2× and shift
    v = rng.standard_normal((1, T)).astype(np.float32)
    x = np.stack([v[0], v[0]], axis=-1)[None]             # (1, T, 2): same series twice
    out = m.warped(minstn.Tensor(x)).data                 # (1, T, 2)
    np.testing.assert_array_equal(out[0, :, 0], out[0, :, 1])
    a, b = m.warp_params(minstn.Tensor(x))
    np.testing.assert_allclose([a[0], b[0]], [0.5, 0.3], rtol=1e-6)
    # expected: linear interpolation at source index p = ((a t + b + 1) T - 1) / 2
    t = (2 * np.arange(T) + 1) / T - 1
    p = np.clip(((0.5 * t + 0.3 + 1) * T - 1) / 2, 0, T - 1)
    np.testing.assert_allclose(out[0, :, 0], np.interp(p, np.arange(T), v[0]), atol=1e-5)


def test_stn1d_scale_is_bounded():
    m = STN1dClassifier(2, hidden=3, loc_channels=2, loc_kernel=3, loc_hidden=2,
                        max_log_scale=math.log(2), generator=np.random.default_rng(0))
    m.st.fc.bias.data[:] = [50.0, 0.0]                    # would be exp(50) unbounded
    a, _ = m.warp_params(minstn.Tensor(np.zeros((1, T, 2), np.float32)))
    assert 1.9 < a[0] <= 2.0 + 1e-6


@pytest.mark.parametrize("warp", ["log_scale", "affine"])
def test_stn1d_warp_penalty(rng, warp):
    m = STN1dClassifier(C, hidden=3, loc_channels=2, loc_kernel=3, loc_hidden=2, warp=warp,
                        max_log_scale=None, generator=np.random.default_rng(0))
    x = _x(rng)
    m(x)
    assert m.warp_penalty().item() == pytest.approx(0.0, abs=1e-12)   # identity start
    a0 = 2.0 if warp == "affine" else math.log(2.0)
    m.st.fc.bias.data[:] = [a0, 0.5]                                  # a = 2, b = 0.5
    m(x)
    pen = m.warp_penalty()
    assert pen.item() == pytest.approx((math.log(2.0) if warp == "log_scale" else 1.0) ** 2
                                       + 0.25, rel=1e-5)
    pen.backward()
    assert np.abs(m.st.fc.bias.grad).sum() > 0


def test_stn1d_bad_head():
    with pytest.raises(ValueError, match="head"):
        STN1dClassifier(2, head="gru")


# ---- metrics ------------------------------------------------------------------------
def _auroc_pairs(y, s):
    """Brute force: fraction of (positive, negative) pairs ranked right, ties count ½."""
    pos, neg = s[y == 1], s[y == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


def test_auroc_known_values():
    assert demo.auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert demo.auroc([0, 1], [0.2, 0.9]) == 1.0
    assert demo.auroc([1, 0], [0.2, 0.9]) == 0.0
    assert demo.auroc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert math.isnan(demo.auroc([1, 1], [0.1, 0.2]))


def test_auroc_matches_pairwise_count_with_ties(rng):
    y = rng.integers(0, 2, 300)
    s = np.round(rng.standard_normal(300) + 0.7 * y, 1)   # rounding makes many ties
    assert demo.auroc(y, s) == pytest.approx(_auroc_pairs(y, s), abs=1e-12)
    fpr, tpr = demo.roc_curve(y, s)                       # trapezoid area of the ROC curve
    assert np.trapezoid(tpr, fpr) == pytest.approx(_auroc_pairs(y, s), abs=1e-12)
    rows = rng.integers(0, 300, (5, 300))
    np.testing.assert_allclose(demo._auroc_rows(y[rows], s[rows]),
                               [_auroc_pairs(y[r], s[r]) for r in rows], atol=1e-12)


def test_average_precision_known_values():
    # ranked: 1 (P=1, R=.5), 0, 1 (P=2/3, R=1) → AP = .5·1 + .5·2/3
    assert demo.average_precision([1, 0, 1], [0.9, 0.8, 0.7]) == pytest.approx(0.5 + 1 / 3)
    # a tie between a positive and a negative counts as one threshold: P = 1/2 at R = 1
    assert demo.average_precision([1, 0], [0.5, 0.5]) == pytest.approx(0.5)
    assert demo.average_precision([0, 1, 1], [0.1, 0.6, 0.9]) == pytest.approx(1.0)


def test_average_precision_matches_torchless_reference(rng):
    """Against a direct loop over distinct thresholds."""
    y = rng.integers(0, 2, 200)
    s = np.round(rng.standard_normal(200) + y, 1)
    ap, prev_r = 0.0, 0.0
    for th in np.unique(s)[::-1]:
        sel = s >= th
        p, r = y[sel].mean(), y[sel].sum() / y.sum()
        ap += (r - prev_r) * p
        prev_r = r
    assert demo.average_precision(y, s) == pytest.approx(ap, abs=1e-12)


def test_bootstrap_interval_covers_estimate(rng):
    y = rng.integers(0, 2, 400)
    s = rng.standard_normal(400) + y
    idx = demo.bootstrap_indices(400, 200, 0)
    auc, ap = demo.bootstrap_metrics(y, s, idx)
    lo, hi = demo.ci95(auc)
    assert lo < demo.auroc(y, s) < hi and hi - lo < 0.2
    lo, hi = demo.ci95(ap)
    assert lo < demo.average_precision(y, s) < hi


# ---- demo ---------------------------------------------------------------------------
def test_model_names_and_args():
    assert demo.model_names(demo.parse_args([])) == ["lstm", "cnn", "stn", "stn_feat"]
    assert demo.model_names(demo.parse_args(["--warp-features", "on"]))[-1] == "stn_feat"
    with pytest.raises(SystemExit):
        demo.parse_args(["--models", "lstm,gru"])
    with pytest.raises(SystemExit):
        demo.parse_args(["--test-set", "a"])              # test set also used for training
    with pytest.raises(SystemExit):
        demo.parse_args(["--dataset", "mimic3"])           # needs --mimic3-root


def test_missing_test_set_errors_clearly(tmp_path, monkeypatch):
    from minstn.data import physionet as pn
    from minstn.data._download import DataNotFoundError

    def load(sets, **kw):
        if "c" in tuple(sets):
            raise DataNotFoundError("set-c.tar.gz: not found and the download failed")
        return object()

    monkeypatch.setattr(pn, "load", load)
    args = demo.parse_args(["--test-set", "c", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="test set 'c' is not available"):
        demo.load_data(args)


def _synthetic_mimic3(root, rng):
    """A tiny mimic3-benchmarks in-hospital-mortality folder: random vitals, both outcomes."""
    from minstn.data import mimic3 as m3
    cols = ["Hours"] + list(m3.CHANNELS)
    for split, n in (("train", 30), ("test", 12)):
        d = root / split
        d.mkdir(parents=True)
        lines = ["stay,y_true"]
        for i in range(n):
            y = int(i % 3 == 0)
            stay = f"{1000 * (split == 'test') + i}_episode1_timeseries.csv"
            lines.append(f"{stay},{y}")
            rows = [",".join(cols)]
            for h in np.sort(rng.uniform(0, 12, 8)):
                cells = {"Hours": f"{h:.2f}", "Heart Rate": f"{80 + 30 * y + rng.normal(0, 5):.1f}",
                         "pH": f"{7.4 - 0.1 * y:.2f}"}
                rows.append(",".join(cells.get(c, "") for c in cols))
            (d / stay).write_text("\n".join(rows) + "\n")
        (d / "listfile.csv").write_text("\n".join(lines) + "\n")
    return root


def test_mimic3_path_end_to_end(tmp_path, rng):
    root = _synthetic_mimic3(tmp_path / "in-hospital-mortality", rng)
    res = demo.main(["--dataset", "mimic3", "--mimic3-root", str(root), "--smoke",
                     "--models", "lstm,stn", "--warp-features", "off", "--seeds", "0",
                     "--hours", "12", "--n-boot", "10", "--no-figures",
                     "--out", str(tmp_path / "out"), "--run-id", "m3"])
    assert res["data"]["dataset"] == "mimic3" and res["data"]["n_channels"] == 76
    assert res["data"]["splits"]["0"]["te"]["n"] == 12
    assert set(res["runs"]) == {"lstm", "stn"}
    assert (tmp_path / "out" / "m3" / "results.json").is_file()


def test_malformed_records_are_skipped_and_counted_by_default_and_stop_a_strict_run(tmp_path, rng):
    root = _synthetic_mimic3(tmp_path / "in-hospital-mortality", rng)
    with open(root / "train" / "3_episode1_timeseries.csv", "a") as f:
        f.write("5.0,oops\n")                                      # a line with 2 fields
    (root / "train" / "4_episode1_timeseries.csv").write_text("")   # an empty stay
    args = ["--dataset", "mimic3", "--mimic3-root", str(root), "--smoke", "--models", "lstm",
            "--seeds", "0", "--hours", "12", "--n-boot", "10", "--no-figures",
            "--out", str(tmp_path / "out")]
    res = demo.main([*args, "--run-id", "lenient"])
    skipped = res["data"]["skipped"]["train"]
    assert skipped["fields"] == 1 and skipped["empty_record"] == 1
    assert res["data"]["splits"]["0"]["tr"]["n"] + res["data"]["splits"]["0"]["va"]["n"] == 29
    saved = json.loads((tmp_path / "out" / "lenient" / "results.json").read_text())
    assert saved["data"]["skipped"]["train"]["empty_record"] == 1
    with pytest.raises(SystemExit, match=r"(?s)3_episode1_timeseries.csv, line 10: expected 18 "
                                         r"fields.*without it the demo skips them"):
        demo.main([*args, "--run-id", "strict", "--strict"])


@pytest.mark.parametrize("flags, said", [
    (["--batch-size", "0"], "must be a positive integer, got 0"),
    (["--seeds", "0,x"], "comma list of integers"),
    (["--device", "tpu"], "device must be one of"),
    (["--val-frac", "1.5"], "must be a number in [0, 1)"),
])
def test_bad_flags_end_in_one_usage_line(flags, said, capsys):
    with pytest.raises(SystemExit) as e:
        demo.parse_args(flags)
    assert e.value.code == 2 and said in capsys.readouterr().err


def test_smoke_run_end_to_end(tmp_path, monkeypatch):
    root = _real_data_root()
    if root is None:
        pytest.skip("real PhysioNet 2012 sets a and b not available: set MINSTN_DATA to the "
                    "folder holding physionet2012/ (CI: MINSTN_DATA=../shared/data)")
    monkeypatch.setenv("MINSTN_DATA", str(root))
    # without JIT (make test-nojit) the kernels run as plain Python: shrink the run further
    nojit = ["--hours", "12", "--n-train", "24", "--n-val", "24", "--n-test", "32",
             "--epochs", "1", "--n-boot", "20"] if os.environ.get("NUMBA_DISABLE_JIT") == "1" else []
    res = demo.main(["--smoke", "--out", str(tmp_path), "--run-id", "smoke", *nojit])
    out = tmp_path / "smoke"
    with open(out / "results.json") as f:
        saved = json.load(f)
    for key in ("config", "seeds", "models", "param_counts", "runs", "summary", "comparisons",
                "warps", "curves", "roc", "wall_time_s", "environment", "data"):
        assert key in saved, key
    assert saved["models"] == ["lstm", "cnn", "stn", "stn_feat"]
    assert saved["seeds"] == [0, 1]
    for m in saved["models"]:
        for s in ("0", "1"):
            t = saved["runs"][m][s]["test"]
            assert 0.0 <= t["auroc"] <= 1.0 and 0.0 <= t["auprc"] <= 1.0
            assert t["auroc_ci95"][0] <= t["auroc_ci95"][1]
            assert (out / f"{m}_seed{s}.npz").is_file()
        assert set(saved["summary"][m]["test_auroc"]) == {"mean", "std", "n", "per_seed"}
    assert "stn_vs_lstm" in saved["comparisons"]
    assert 0.0 <= saved["warps"]["stn"]["0"]["scale"]["frac_expand_gt1"] <= 1.0
    for png in ("roc.png", "training_curves.png", "warp_examples.png", "warp_scale_hist.png",
                "warps_by_class.png"):
        assert (out / png).stat().st_size > 0, png
    if not nojit:
        assert res["wall_time_s"]["total"] < 120
    # checkpoints reload into a fresh model and reproduce the saved test logits
    state = minstn.load(out / "stn_seed0.npz")
    args = demo.parse_args(["--smoke"])
    model = demo.build_model("stn", args, saved["data"]["n_channels"], 0)
    model.load_state_dict(state)
    preds = np.load(out / "predictions.npz")
    assert preds["stn_seed0_logits"].shape == preds["y_test"].shape


@pytest.mark.slow
def test_full_default_run(tmp_path, monkeypatch):
    """The full default protocol (≈ 10 minutes on 2 idle cores, up to ≈ 40 when the cores are
    shared): the experiment's targets, LSTM test AUROC ≥ 0.83 and an STN variant ≥ the LSTM."""
    root = _real_data_root()
    if root is None:
        pytest.skip("real PhysioNet 2012 data not available (MINSTN_DATA)")
    monkeypatch.setenv("MINSTN_DATA", str(root))
    res = demo.main(["--out", str(tmp_path), "--run-id", "full"])
    s = res["summary"]
    assert s["lstm"]["test_auroc"]["mean"] >= 0.83
    assert max(s["stn"]["test_auroc"]["mean"], s["stn_feat"]["test_auroc"]["mean"]) >= \
        s["lstm"]["test_auroc"]["mean"]
