"""bench/steps.py and its PyTorch twins (bench/twins.py): each demo's model has a torch twin
that computes the same outputs and gradients from the same weights, and the harness runs."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "bench")]
import steps  # noqa: E402
from twins import twin  # noqa: E402

import minstn  # noqa: E402
import minstn.functional as F  # noqa: E402


@pytest.mark.parametrize("row", list(steps.ROWS))
def test_each_demo_model_has_a_twin_with_the_same_outputs_and_gradients(row):
    _, _, _, shape, loss = steps.ROWS[row]
    model = steps.build(row)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, *shape)).astype(np.float32)
    y = rng.integers(0, 2, 3).astype(np.float32) if loss == "bce" else rng.integers(0, 10, 3)
    model.eval()                                          # no dropout: the same function
    for name, p in model.named_parameters():              # off the identity: at exact pixel
        if name.startswith("st") and name.endswith("fc.bias"):   # hits the sampler has kinks
            p.data += rng.uniform(-0.05, 0.05, p.shape).astype(np.float32)
    tm = twin(model)
    assert not tm.training
    out = model(minstn.Tensor(x))
    tout = tm(torch.from_numpy(x))
    np.testing.assert_allclose(tout.detach().numpy(), out.numpy(), rtol=1e-4, atol=1e-5)
    lossf = F.binary_cross_entropy_with_logits if loss == "bce" else F.cross_entropy
    tlossf = (torch.nn.functional.binary_cross_entropy_with_logits if loss == "bce"
              else torch.nn.functional.cross_entropy)
    lossf(out, y).backward()
    tlossf(tout, torch.from_numpy(y)).backward()
    grads = dict(tm.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(grads[name].grad.numpy(), np.asarray(p.grad), rtol=2e-3,
                                   atol=1e-5, err_msg=f"{row}: {name}")


def test_a_module_without_a_twin_is_named():
    from minstn import nn

    class Mystery(nn.Module):
        def forward(self, x):
            return x
    with pytest.raises(NotImplementedError, match="Mystery"):
        twin(nn.Sequential(nn.ReLU(), Mystery()))


def test_the_harness_runs_one_row_in_separate_processes(tmp_path):
    out = tmp_path / "steps.json"
    cmd = [sys.executable, os.path.join(ROOT, "bench", "steps.py"), "--rows", "exp4-lstm",
           "--threads", "1", "--rounds", "1", "--samples", "1", "--number", "1", "--warmup", "1",
           "--json", str(out)]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    (row,) = json.loads(out.read_text())["rows"]
    assert row["row"] == "exp4-lstm" and row["threads"] == 1
    assert row["max_rel_diff_outputs"] < 1e-4                 # same weights, same outputs
    assert row["ratio"] == pytest.approx(row["ms_per_step"]["torch"] / row["ms_per_step"]["minstn"])
    assert "| exp4-lstm |" in p.stdout


@pytest.mark.parametrize("row, scale", [("exp1-stcnn", 1.0), ("exp2-stcnn", 0.1), ("exp4-stn", 0.1)])
def test_steps_use_each_demos_localisation_lr(row, scale):
    """A row trains as its demo does: experiment 1 keeps the localisation net at the full lr."""
    assert steps.demo_args(row)[1].loc_lr_scale == scale
    lrs = sorted({g["lr"] for g in steps.groups(steps.build(row), row)})
    assert lrs == sorted({steps.LR, steps.LR * scale})
