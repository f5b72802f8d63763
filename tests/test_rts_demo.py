"""demos/rts.py end to end on a tiny subset (--smoke): every seed in one JSON, checkpoints
that rebuild themselves, bit-identical reruns, and flags checked at parse time."""
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "demos"))

needs_data = pytest.mark.skipif(not os.environ.get("MINSTN_DATA"),
                                reason="needs MINSTN_DATA (real MNIST)")

# Without the JIT (make test-nojit) every kernel is plain Python: shrink the run.
TINY = ["--n-train", "16", "--n-val", "8", "--n-test", "8", "--batch-size", "8"] \
    if os.environ.get("NUMBA_DISABLE_JIT") == "1" else \
    ["--n-train", "256", "--n-val", "64", "--n-test", "64"]


def _numbers(results):
    """What must repeat bit for bit: every metric, not times or the environment."""
    return {k: results[k] for k in ("validation", "test_accuracy")} | {
        m: {s: (r["curves"]["train_loss"], r["curves"]["val_acc"], r["selection"])
            for s, r in by_seed.items()} for m, by_seed in results["runs"].items()}


@needs_data
def test_smoke_run_writes_every_seed_and_reloads(tmp_path):
    import rts
    res = rts.main(["--smoke", "--seeds", "2", "--out", str(tmp_path), "--run-id", "t", *TINY])
    run = tmp_path / "t"
    saved = json.loads((run / "results.json").read_text())
    for key in ("config", "seeds", "sizes", "validation", "test_accuracy", "test_error_in_range",
                "runs", "wall_time_s", "environment", "cnn_design"):
        assert key in saved
    assert saved["seeds"] == [0, 1]
    sizes = saved["sizes"]
    assert abs(sizes["cnn"]["parameters"] / sizes["stcnn"]["parameters"] - 1) <= 0.1
    assert sizes["stcnn"]["neurons"] > 0 and sizes["cnn"]["neurons"] > 0
    for m in ("stcnn", "cnn"):
        assert sorted(saved["runs"][m]) == ["0", "1"]
        acc = saved["test_accuracy"][m]["in_range"]
        assert len(acc["per_seed"]) == 2 and acc["mean"] == pytest.approx(sum(acc["per_seed"]) / 2)
    assert set(saved["test_accuracy"]["stcnn"]) >= {"in_range", "rot45", "rot60", "rot75",
                                                    "rot90", "scale0.5", "shift0.2"}
    undone = saved["rotation_undone"]                     # only the ST-CNN has a transformer
    assert list(undone) == ["stcnn"] and list(undone["stcnn"]) == [str(a) for a in rts.UNDO_ANGLES]
    assert all(len(v["per_seed"]) == 2 for v in undone["stcnn"].values())
    for png in ("rectified.png", "accuracy_vs_angle.png", "training_curves.png"):
        assert (run / png).stat().st_size > 1000
    again = rts.main(["--smoke", "--eval", str(run), *TINY])     # rebuilt by load_model alone
    assert again["test_accuracy"] == res["test_accuracy"]
    assert again["rotation_undone"] == res["rotation_undone"]


@needs_data
def test_same_seed_gives_bit_identical_numbers_in_one_process_or_two(tmp_path):
    import rts
    args = ["--smoke", "--out", str(tmp_path), *TINY]
    a = rts.main([*args, "--run-id", "a"])
    b = rts.main([*args, "--run-id", "b", "--workers", "2"])
    assert _numbers(a) == _numbers(b)


@needs_data
def test_a_run_folder_is_never_overwritten_silently(tmp_path, capsys):
    import rts
    args = ["--smoke", "--out", str(tmp_path), "--run-id", "x", "--models", "cnn", *TINY]
    rts.main(args)
    with pytest.raises(SystemExit, match="already holds a run"):
        rts.main(args)
    rts.main([*args, "--overwrite"])


@pytest.mark.parametrize("flags, said", [
    (["--batch-size", "0"], "--batch-size: must be a positive integer, got 0"),
    (["--epochs", "two"], "--epochs: must be a positive integer, got 'two'"),
    (["--device", "gpu"], "--device: device must be one of"),
    (["--lr-drops", "1.5"], "--lr-drops: must be a number in [0, 1], got 1.5"),
    (["--models", "cnn-huge"], "unknown model 'cnn-huge'"),
    (["--scale", "1.3", "0.7"], "--scale: give the range low high"),
    (["--eval", "/no/such/folder"], "no such folder"),
])
def test_bad_flags_end_in_one_usage_line(flags, said, capsys):
    import rts
    with pytest.raises(SystemExit) as e:
        rts.parse_args(flags)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err


def test_every_cnn_design_is_within_ten_percent_of_the_stcnn():
    import rts
    args = rts.parse_args([])
    st = rts.make_model("stcnn", args, 0).num_parameters()
    for design in rts.CNN_DESIGNS:
        n = rts.make_model(f"cnn-{design}", args, 0).num_parameters()
        assert abs(n / st - 1) <= 0.1, design
    assert rts.CNN in rts.CNN_DESIGNS


@pytest.mark.parametrize("flags, at", [
    (["--schedule", "step"], {0: 1e-3, 599: 1e-3, 600: 1e-4, 849: 1e-4, 850: 1e-5, 999: 1e-5}),
    ([], {0: 1e-3 / 30, 29: 1e-3, 30: 1e-3, 515: 5e-4, 999: 2.622e-9}),
])
def test_schedule_flag_sets_the_learning_rate_at_each_step(flags, at):
    """step: ×0.1 at 60% and 85% of 1,000 steps; cosine (the default): 30 warm-up steps, half
    at the middle of the decay, ~0 at the end."""
    import rts
    from minstn import nn, optim
    args = rts.parse_args(flags)
    opt = optim.Adam([{"params": [nn.Parameter([0.0])], "lr": 1e-3}], lr=1e-3)
    sched = rts.make_schedule(args, opt, 1000)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(999):
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    for step, lr in at.items():
        assert lrs[step] == pytest.approx(lr, rel=1e-3, abs=1e-12), step


def test_theta_rotation_reads_the_angle_a_distortion_applies():
    """The distortion's inverse map θ = R(-a)/s (+ shift) holds a rotation of -a; its inverse,
    the map that would undo it, holds +a."""
    import numpy as np
    import rts
    from minstn.data.distort import theta_for
    a = np.array([-90.0, -45.0, -10.0, 0.0, 30.0, 60.0, 89.0])
    theta = theta_for(a, np.linspace(0.5, 1.5, 7), np.full((7, 2), 0.1))
    np.testing.assert_allclose(rts.theta_rotation(theta), -a, atol=1e-9)
    undo = np.linalg.inv(np.concatenate([theta, np.tile([[[0.0, 0.0, 1.0]]], (7, 1, 1))], 1))
    np.testing.assert_allclose(rts.theta_rotation(undo[:, :2]), a, atol=1e-9)
