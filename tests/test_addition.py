"""Tests for minstn.data.addition (experiments 2 and 3) and the --smoke runs of their demos."""
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

from minstn.data import _download
from minstn.data.addition import (N_CLASSES, addition_batch, draw_pairs, fixed_set,
                                  same_image_batch, sampling_window, theta_for_canvas)
from minstn.data.distort import RTS, place, theta_for

REPO = Path(__file__).resolve().parents[1]
NO_DISTORTION = RTS(0.0, 0.0, (1.0, 1.0))


def fake_digits(n=10):
    """uint8 (n, 28, 28): image k is a filled block whose height encodes k; labels = k % 10."""
    images = np.zeros((n, 28, 28), np.uint8)
    for k in range(n):
        images[k, 6:8 + k % 10 * 2, 10:18] = 255
    return images, np.arange(n, dtype=np.int64) % 10


# ---- experiment 2: two channels ----------------------------------------------------------

def test_addition_batch_shapes_labels_and_channels():
    images, labels = fake_digits()
    x, y, info = addition_batch(images, labels, 40, np.random.default_rng(0), return_info=True)
    assert x.shape == (40, 2, 42, 42) and x.dtype == np.float32
    assert y.shape == (40,) and y.dtype == np.int64
    np.testing.assert_array_equal(y, labels[info["index"]].sum(1))
    np.testing.assert_array_equal(info["digits"], labels[info["index"]])
    assert y.min() >= 0 and y.max() < N_CLASSES
    assert info["angle"].shape == (40, 2) and info["shift"].shape == (40, 2, 2)
    # each channel has ink, and the two digits are distorted independently
    assert (x.sum((2, 3)) > 3).all()
    assert not np.allclose(info["angle"][:, 0], info["angle"][:, 1])


def test_addition_batch_undistorted_channels_are_the_two_digits():
    images, labels = fake_digits()
    x, y, info = addition_batch(images, labels, 8, np.random.default_rng(3), NO_DISTORTION,
                                return_info=True)
    for ch in range(2):
        np.testing.assert_allclose(x[:, ch:ch + 1], place(images[info["index"][:, ch]]), atol=1e-5)


def test_addition_batch_is_deterministic_by_seed():
    images, labels = fake_digits()
    a = addition_batch(images, labels, 16, np.random.default_rng(7))
    b = addition_batch(images, labels, 16, np.random.default_rng(7))
    c = addition_batch(images, labels, 16, np.random.default_rng(8))
    np.testing.assert_array_equal(a[0], b[0]), np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_pairs_cover_all_sums_and_read_only_inputs_are_fine():
    images, labels = fake_digits()
    images.flags.writeable = False                     # mnist.load returns read-only arrays
    labels.flags.writeable = False
    _, y = addition_batch(images, labels, 600, np.random.default_rng(0), canvas=28)
    assert set(np.unique(y)) == set(range(19))
    idx = draw_pairs(5000, 10, np.random.default_rng(0))
    assert idx.shape == (5000, 2) and idx.min() == 0 and idx.max() == 9
    with pytest.raises(ValueError, match="at least one image"):
        draw_pairs(3, 0, np.random.default_rng(0))


def test_fixed_set_is_deterministic_and_chunked():
    images, labels = fake_digits()
    x1, y1 = fixed_set(addition_batch, images, labels, 25, seed=5, batch=10)
    x2, y2 = fixed_set(addition_batch, images, labels, 25, seed=5, batch=10)
    assert x1.shape == (25, 2, 42, 42) and y1.shape == (25,)
    np.testing.assert_array_equal(x1, x2), np.testing.assert_array_equal(y1, y2)
    x3, _ = fixed_set(addition_batch, images, labels, 25, seed=6, batch=10)
    assert not np.array_equal(x1, x3)


# ---- experiment 3: one image, one digit per half -----------------------------------------

def test_same_image_batch_shapes_and_labels():
    images, labels = fake_digits()
    x, y, info = same_image_batch(images, labels, 12, np.random.default_rng(1), return_info=True)
    assert x.shape == (12, 1, 42, 84) and x.dtype == np.float32
    np.testing.assert_array_equal(y, labels[info["index"]].sum(1))
    a = same_image_batch(images, labels, 12, np.random.default_rng(1))
    np.testing.assert_array_equal(a[0], x), np.testing.assert_array_equal(a[1], y)


def test_same_image_each_half_holds_its_own_digit():
    images, labels = fake_digits()
    images = np.concatenate([images, np.zeros((1, 28, 28), np.uint8)])   # index 10: blank
    labels = np.append(labels, 0)
    x, _, info = same_image_batch(images, labels, 200, np.random.default_rng(2),
                                  RTS(45.0, 0.15, (0.7, 1.3)), return_info=True)
    left, right = x[:, 0, :, :42].sum((1, 2)), x[:, 0, :, 42:].sum((1, 2))
    blank_a, blank_b = info["index"][:, 0] == 10, info["index"][:, 1] == 10
    assert blank_a.any() and blank_b.any() and (~blank_a & ~blank_b).any()
    # a blank digit leaves its half empty: nothing of the other digit leaks across
    assert np.all(left[blank_a] == 0) and np.all(right[blank_b] == 0)
    # otherwise each half has ink
    assert np.all(left[~blank_a] > 5) and np.all(right[~blank_b] > 5)


def test_same_image_undistorted_halves_are_centred_digits():
    images, labels = fake_digits()
    x, _, info = same_image_batch(images, labels, 6, np.random.default_rng(4), NO_DISTORTION,
                                  height=42, width=84, return_info=True)
    np.testing.assert_allclose(x[..., :42], place(images[info["index"][:, 0]]), atol=1e-5)
    np.testing.assert_allclose(x[..., 42:], place(images[info["index"][:, 1]]), atol=1e-5)


def test_same_image_bad_sizes():
    images, labels = fake_digits()
    with pytest.raises(ValueError, match="width must be even"):
        same_image_batch(images, labels, 2, np.random.default_rng(0), width=85)
    with pytest.raises(ValueError, match="at least 28"):
        same_image_batch(images, labels, 2, np.random.default_rng(0), width=50)


def test_theta_for_canvas_square_matches_theta_for_and_keeps_lengths_on_rectangles():
    rng = np.random.default_rng(0)
    angle, scale = rng.uniform(-90, 90, 5), rng.uniform(0.5, 1.5, 5)
    shift = rng.normal(0, 0.2, (5, 2))
    np.testing.assert_allclose(theta_for_canvas(angle, scale, shift, (42, 42)),
                               theta_for(angle, scale, shift), atol=1e-12)
    # on a 30×60 canvas a pure rotation keeps pixel lengths (it would shear in [-1, 1] units)
    th = theta_for_canvas(np.array([37.0]), np.array([1.0]), np.zeros((1, 2)), (30, 60))[0]
    s = np.array([30.0, 15.0])                                    # (W/2, H/2)
    for p in rng.normal(0, 0.5, (4, 2)):
        q = th[:, :2] @ p + th[:, 2]
        assert np.isclose(np.linalg.norm(q * s), np.linalg.norm(p * s))
    # while theta_for's rotation, made for square canvases, would shear it
    th_sq = theta_for([37.0], [1.0], np.zeros((1, 2)))[0]
    p = np.array([0.5, 0.0])
    assert not np.isclose(np.linalg.norm((th_sq[:, :2] @ p) * s), np.linalg.norm(p * s), rtol=1e-3)


# ---- sampling windows ------------------------------------------------------------------

def test_sampling_window_identity_and_halves():
    ident = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    np.testing.assert_allclose(sampling_window(ident, (42, 84)),
                               [[-0.5, -0.5], [83.5, -0.5], [83.5, 41.5], [-0.5, 41.5]])
    left = np.array([[[0.5, 0, -0.5], [0, 1, 0]]])
    right = np.array([[[0.5, 0, 0.5], [0, 1, 0]]])
    np.testing.assert_allclose(sampling_window(left, (42, 84))[0],
                               [[-0.5, -0.5], [41.5, -0.5], [41.5, 41.5], [-0.5, 41.5]])
    np.testing.assert_allclose(sampling_window(right, (42, 84))[0],
                               [[41.5, -0.5], [83.5, -0.5], [83.5, 41.5], [41.5, 41.5]])
    # align_corners=True: ±1 are the corner pixels' centres
    np.testing.assert_allclose(sampling_window(ident, (42, 84), align_corners=True),
                               [[0, 0], [83, 0], [83, 41], [0, 41]])
    with pytest.raises(ValueError, match=r"theta must have shape \(N, 2, 3\)"):
        sampling_window(np.zeros((2, 6)), (42, 42))


def test_sampling_window_matches_affine_grid():
    """The window's corners extrapolate the affine grid's corner pixel centres by half a pixel."""
    F = pytest.importorskip("minstn.functional")
    import minstn
    rng = np.random.default_rng(0)
    theta = rng.normal(0, 0.5, (3, 2, 3))
    ho, wo, hin, win = 6, 10, 20, 30
    grid = F.affine_grid(minstn.Tensor(theta), (3, 1, ho, wo)).data        # (3, ho, wo, 2)
    dx = (grid[:, :, 1] - grid[:, :, 0])[:, 0]                             # one output column
    dy = (grid[:, 1] - grid[:, 0])[:, 0]                                   # one output row
    corners = np.stack([grid[:, 0, 0] - dx / 2 - dy / 2, grid[:, 0, -1] + dx / 2 - dy / 2,
                        grid[:, -1, -1] + dx / 2 + dy / 2, grid[:, -1, 0] - dx / 2 + dy / 2], 1)
    size = np.array([win, hin])
    expected = ((corners + 1) * size - 1) / 2                              # normalised → pixels
    np.testing.assert_allclose(sampling_window(theta, (hin, win)), expected, atol=1e-9)
    # and with align_corners=True the corners are the grid's corner points themselves
    grid = F.affine_grid(minstn.Tensor(theta), (3, 1, ho, wo), align_corners=True).data
    corners = np.stack([grid[:, 0, 0], grid[:, 0, -1], grid[:, -1, -1], grid[:, -1, 0]], 1)
    np.testing.assert_allclose(sampling_window(theta, (hin, win), align_corners=True),
                               (corners + 1) * (size - 1) / 2, atol=1e-9)


# ---- the demos, end to end ---------------------------------------------------------------

def _mnist_available():
    try:
        root = _download.data_root()
    except FileNotFoundError:
        return False
    names = ("t10k-images-idx3-ubyte.gz", "train-images-idx3-ubyte.gz")
    dirs = ([root / "mnist"] if root else []) + [_download.cache_dir() / "mnist"]
    return any(all((d / n).is_file() for n in names) for d in dirs)


needs_mnist = pytest.mark.skipif(not _mnist_available(), reason="MNIST not available: set "
                                 "MINSTN_DATA to the folder holding mnist/")


def _demo(name):
    spec = importlib.util.spec_from_file_location(f"demo_{name}", REPO / "demos" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


NOJIT = os.environ.get("NUMBA_DISABLE_JIT") == "1"


@needs_mnist
def test_addition_demo_smoke(tmp_path):
    demo = _demo("addition")
    # without JIT (make test-nojit) the kernels run as plain Python: shrink the run further
    nojit = ["--batch-size", "2", "--n-val", "4", "--n-test", "8", "--canvas", "28",
             "--st-out", "16"] if NOJIT else []
    res = demo.main(["--smoke", "--out", str(tmp_path), "--run-id", "t", *nojit])
    out = tmp_path / "t"
    saved = json.loads((out / "results.json").read_text())
    for key in ("config", "seed", "test_seed", "param_counts", "steps", "timing_s", "curves",
                "selection", "test_accuracy", "windows_px", "wall_time_s", "environment"):
        assert key in saved, key
    assert saved["config"]["smoke"] is True and saved["steps"] == 6
    counts = saved["param_counts"]
    assert abs(counts["cnn"] / counts["stcnn"] - 1) <= 0.1
    for m in ("stcnn", "cnn"):
        assert 0 <= saved["test_accuracy"][m] <= 1
        assert len(saved["curves"][m]["val_acc"]) == 2
        assert saved["selection"][m]["step"] in saved["curves"][m]["step"]
    assert np.array(saved["windows_px"]["end"]).shape == (2, 8, 4, 2)
    for f in ("stcnn.npz", "cnn.npz", "views.png", "training_curves.png", "accuracy.png"):
        assert (out / f).stat().st_size > 0, f
    assert res["test_accuracy"] == saved["test_accuracy"]
    # the checkpoints reload (--eval) and give the same test accuracy
    again = demo.main(["--smoke", "--eval", str(out), *nojit])
    assert again["test_accuracy"] == saved["test_accuracy"]
    assert (out / "eval.json").is_file()


@needs_mnist
def test_same_image_demo_smoke(tmp_path):
    demo = _demo("same_image")
    nojit = ["--batch-size", "2", "--steps", "2", "--n-val", "4", "--n-test", "6",
             "--height", "28", "--width", "56", "--view", "16", "16"] if NOJIT else []
    demo.main(["--smoke", "--out", str(tmp_path), "--run-id", "t", *nojit])
    out = tmp_path / "t"
    saved = json.loads((out / "results.json").read_text())
    for key in ("config", "seeds", "param_counts", "steps", "timing_s", "summary", "runs",
                "theta_inits", "wall_time_s", "environment"):
        assert key in saved, key
    assert saved["seeds"] == [0, 1] and saved["steps"] == (2 if NOJIT else 4)
    assert set(saved["summary"]) == {"lr", "identity", "random-default", "random", "cnn"}
    counts = saved["param_counts"]
    assert all(abs(counts[s] / counts["lr"] - 1) <= 0.1 for s in counts)
    for s, r in saved["summary"].items():
        assert len(r["per_seed"]) == 2 and r["std"] >= 0
        assert np.isclose(r["mean"], np.mean(r["per_seed"]))
    # the LR init's first window is exactly the left half of the image at the start
    h, w = saved["config"]["height"], saved["config"]["width"]
    lr0 = np.array(saved["runs"]["0"]["lr"]["windows_px"]["start"])       # (2, N_SHOW, 4, 2)
    np.testing.assert_allclose(lr0[0, 0], [[-0.5, -0.5], [w / 2 - 0.5, -0.5],
                                           [w / 2 - 0.5, h - 0.5], [-0.5, h - 0.5]], atol=1e-5)
    np.testing.assert_allclose(lr0[1, 0, 0], [w / 2 - 0.5, -0.5], atol=1e-5)
    for f in ("windows.png", "views.png", "accuracy.png", "training_curves.png",
              "lr_seed0.npz", "cnn_seed1.npz"):
        assert (out / f).stat().st_size > 0, f


def test_same_image_random_setting_draws_theta_bias_uniformly_and_shares_the_rest():
    """"random": each final localisation layer's bias ~ U(-1, 1) from the run's seed, its
    weights default-init; every other initial weight equals the other settings'."""
    demo = _demo("same_image")
    args = demo.parse_args(["--smoke"])
    models = {s: demo.make_model(args, s, seed=5) for s in ("lr", "random-default", "random")}
    again = demo.make_model(args, "random", seed=5)
    other = demo.make_model(args, "random", seed=6)
    biases = [st.fc.bias.numpy() for st in models["random"].transformers]
    assert all(b.shape == (6,) and np.all(np.abs(b) <= 1) for b in biases)
    assert np.abs(np.concatenate(biases)).max() > 0.3                   # order one, not ≈ 0
    assert not np.allclose(biases[0], biases[1])                          # one draw per θ entry
    np.testing.assert_array_equal(again.st0.fc.bias.numpy(), biases[0])  # from the seed
    assert not np.allclose(other.st0.fc.bias.numpy(), biases[0])
    default = dict(models["random-default"].named_parameters())
    for name, p in models["random"].named_parameters():
        if not name.endswith("fc.bias"):                                   # weights: default init
            np.testing.assert_array_equal(p.numpy(), default[name].numpy(), err_msg=name)
    lr = dict(models["lr"].named_parameters())
    shared = [n for n in lr if ".fc." not in n or not n.startswith("st")]
    for name in shared:
        np.testing.assert_array_equal(lr[name].numpy(), default[name].numpy(), err_msg=name)


@needs_mnist
def test_same_image_init_report(tmp_path):
    """--init-report trains nothing; the LR and identity windows are the halves and the
    whole image, and a view of a digit-holding half is never blank."""
    demo = _demo("same_image")
    res = demo.main(["--smoke", "--init-report", "--n-report", "6", "--out", str(tmp_path),
                     "--run-id", "t"])
    saved = json.loads((tmp_path / "t" / "init_report.json").read_text())
    assert saved["report"] == json.loads(json.dumps(res["report"]))
    assert set(saved["report"]) == {"lr", "identity", "random-default", "random"}
    assert not (tmp_path / "t" / "results.json").exists()
    w = saved["config"]["width"]
    for s, width in (("lr", w / 2), ("identity", w)):
        for r in saved["report"][s]:
            np.testing.assert_allclose(r["window_width_px"], [width, width], rtol=1e-5)
            assert r["blank_views"] == [0.0, 0.0]
            assert all(g > 0 for g in r["grad_theta_norm"])
    assert [r["seed"] for r in saved["report"]["random"]] == [0, 1]
    for r in saved["report"]["random"]:
        assert all(0 <= b <= 1 for b in r["blank_views"])
        assert all(np.isfinite(r["grad_theta_norm"]))


@needs_mnist
@pytest.mark.skipif(NOJIT, reason="spawned workers would each run the kernels as Python")
def test_same_image_workers_give_the_same_results(tmp_path, monkeypatch):
    """Runs spread over 2 processes (one run each) equal the lockstep runs of one process."""
    monkeypatch.syspath_prepend(str(REPO / "demos"))   # spawned workers import it by name
    demo = importlib.import_module("same_image")
    small = ["--smoke", "--seeds", "1", "--steps", "3", "--settings", "lr", "cnn",
             "--out", str(tmp_path)]
    one = demo.main([*small, "--run-id", "w1", "--workers", "1"])
    two = demo.main([*small, "--run-id", "w2", "--workers", "2"])
    for s in ("lr", "cnn"):
        a, b = one["runs"][0][s], two["runs"][0][s]
        assert a["test_acc"] == b["test_acc"]
        assert a["curves"]["train_loss"] == b["curves"]["train_loss"]
    for when in ("start", "end"):
        np.testing.assert_array_equal(one["runs"][0]["lr"]["windows_px"][when],
                                      two["runs"][0]["lr"]["windows_px"][when])


@needs_mnist
@pytest.mark.skipif(NOJIT, reason="spawned workers would each run the kernels as Python")
def test_addition_workers_give_the_same_results(tmp_path, monkeypatch):
    """Each model in its own process (the default) equals both in lockstep in one."""
    monkeypatch.syspath_prepend(str(REPO / "demos"))   # spawned workers import it by name
    demo = importlib.import_module("addition")
    small = ["--smoke", "--steps", "3", "--out", str(tmp_path)]
    one = demo.main([*small, "--run-id", "w1", "--workers", "1"])
    two = demo.main([*small, "--run-id", "w2", "--workers", "2"])
    assert one["test_accuracy"] == two["test_accuracy"]
    for m in ("stcnn", "cnn"):
        assert one["curves"][m]["train_loss"] == two["curves"][m]["train_loss"]
        assert one["curves"][m]["val_acc"] == two["curves"][m]["val_acc"]
    np.testing.assert_array_equal(one["windows_px"]["end"], two["windows_px"]["end"])


@pytest.mark.slow
@needs_mnist
def test_addition_full_default_run(tmp_path):
    """The full default run (18,519 steps, ≈ 40 minutes on 2 cores): STN ≥ 95%, above the CNN."""
    res = _demo("addition").main(["--out", str(tmp_path), "--run-id", "full"])
    acc = res["test_accuracy"]
    assert acc["stcnn"] >= 0.95 and acc["stcnn"] > acc["cnn"]


@pytest.mark.slow
@needs_mnist
def test_same_image_full_default_run(tmp_path):
    """The full default sweep: the left/right init beats the random init (by far)."""
    res = _demo("same_image").main(["--out", str(tmp_path), "--run-id", "full"])
    s = res["summary"]
    assert s["lr"]["mean"] > s["random"]["mean"] + 0.1


@pytest.mark.parametrize("name", ["addition", "same_image"])
@pytest.mark.parametrize("flags, said", [
    (["--batch-size", "0"], "--batch-size: must be a positive integer, got 0"),
    (["--device", "gpu"], "--device: device must be one of"),
    (["--warmup", "1.5"], "--warmup: must be a number in [0, 1], got 1.5"),
    (["--minutes", "-5"], "--minutes: must be a positive number, got -5"),
])
def test_bad_flags_end_in_one_usage_line(name, flags, said, capsys):
    demo = _demo(name)
    with pytest.raises(SystemExit) as e:
        demo.parse_args(flags)
    err = capsys.readouterr().err
    assert e.value.code == 2 and said in err and "Traceback" not in err


@pytest.mark.parametrize("name, steps", [("addition", 18519), ("same_image", 12507)])
def test_runs_train_a_fixed_step_count_unless_given_a_budget(name, steps, capsys):
    """The default run length is a step count (the same on every machine); --minutes
    replaces it with a wall-clock budget; both at once is an error."""
    demo = _demo(name)
    args = demo.parse_args([])
    assert (args.steps, args.minutes) == (demo.STEPS, None) == (steps, None)
    assert demo.plan_steps(args, None, None) == steps
    assert (demo.parse_args(["--minutes", "15"]).steps,
            demo.parse_args(["--minutes", "15"]).minutes) == (None, 15.0)
    assert demo.parse_args(["--smoke"]).steps == demo.SMOKE_STEPS
    assert demo.parse_args(["--smoke", "--minutes", "1"]).steps is None
    with pytest.raises(SystemExit) as e:
        demo.parse_args(["--steps", "100", "--minutes", "15"])
    assert e.value.code == 2 and "not both" in capsys.readouterr().err


def test_addition_budget_gives_the_steps_that_fit():
    """--minutes: the slower model sets the pace of a process per model."""
    demo = _demo("addition")
    args = demo.parse_args(["--minutes", "15"])
    per_step, per_sample = {"data": 0.001, "stcnn": 0.1, "cnn": 0.05}, {"stcnn": 0.001, "cnn": 0.0005}
    evals = args.evals * args.n_val * 0.001
    assert demo.plan_steps(args, per_step, per_sample) == int((900 - evals) / 0.101)
