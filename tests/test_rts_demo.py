"""demos/rts.py end to end on a tiny subset (--smoke), and re-evaluation of its checkpoints."""
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "demos"))

pytestmark = pytest.mark.skipif(not os.environ.get("MINSTN_DATA"),
                                reason="needs MINSTN_DATA (real MNIST)")


# Without the JIT (make test-nojit) every kernel is plain Python: shrink the run.
TINY = ["--n-train", "16", "--n-val", "8", "--n-test", "8", "--batch-size", "8"] \
    if os.environ.get("NUMBA_DISABLE_JIT") == "1" else []


def test_smoke_run_writes_results_and_reloads(tmp_path):
    import rts
    res = rts.main(["--smoke", "--out", str(tmp_path), "--run-id", "t", *TINY])
    run = tmp_path / "t"
    saved = json.loads((run / "results.json").read_text())
    for key in ("config", "seed", "param_counts", "curves", "test_accuracy", "wall_time_s",
                "environment", "selection"):
        assert key in saved
    counts = saved["param_counts"]
    assert abs(counts["cnn"] - counts["stcnn"]) <= 0.1 * counts["stcnn"]
    assert set(saved["test_accuracy"]["stcnn"]) >= {"in_range", "rot45", "rot60", "rot75",
                                                    "rot90", "scale0.5", "shift0.2"}
    for png in ("rectified.png", "accuracy_vs_angle.png", "training_curves.png"):
        assert (run / png).stat().st_size > 1000
    again = rts.main(["--smoke", "--eval", str(run), *TINY])
    assert again["test_accuracy"] == res["test_accuracy"]      # same checkpoints, same sets
