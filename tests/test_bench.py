"""Smoke tests of the benchmark harness bench/run.py: tiny shapes, 1 repeat, 1 thread."""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.path.join(ROOT, "bench", "run.py")
FAST = "grid,conv,lstm,stcnn,memory"          # everything but the cold-cache start-up


def _load():
    spec = importlib.util.spec_from_file_location("bench_run", RUN)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)               # stdlib imports only: cheap
    return mod


def _bench(tmp_path, *flags):
    out, md = tmp_path / "res.json", tmp_path / "table.md"
    cmd = [sys.executable, RUN, "--quick", "--tiny", "--repeats", "1", "--threads", "1",
           "--json", str(out), "--markdown", str(md), *flags]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout, json.loads(out.read_text()), md.read_text()


def test_summarise_median_iqr():
    run = _load()
    s = run.summarise([0.005, 0.001, 0.004, 0.002, 0.003])      # seconds
    assert s["median_ms"] == pytest.approx(3.0)
    assert s["q1_ms"] == pytest.approx(2.0) and s["q3_ms"] == pytest.approx(4.0)
    assert s["iqr_ms"] == pytest.approx(2.0) and s["n"] == 5
    assert run.summarise([0.001, 0.002])["median_ms"] == pytest.approx(1.5)


def test_verdict():
    run = _load()
    assert run.verdict(0.9, 1.0) == "pass" and run.verdict(1.1, 1.0) == "FAIL"
    assert run.verdict(0.6, 0.5, at_most=False) == "pass"
    assert run.verdict(0.4, 0.5, at_most=False) == "FAIL"
    assert run.verdict(None, 1.0) is None


def test_bench_without_torch(tmp_path):
    stdout, res, md = _bench(tmp_path, "--no-torch", "--only", FAST)
    assert res["machine"]["torch"] is None and res["machine"]["threads"] == 1
    assert res["machine"]["cpu_model"] and res["command"].endswith("grid,conv,lstm,stcnn,memory")
    groups = {r["group"] for r in res["ops"]}
    assert groups == {"grid", "conv", "lstm"}
    for r in res["ops"]:
        for kind in ("forward", "forward_backward"):
            assert set(r[kind]) == {"minstn"} and r[kind]["minstn"]["median_ms"] > 0
        assert "ratio_forward_backward" not in r and r["pass"] is None
    assert res["stcnn_step"]["images_per_s"]["minstn"] > 0
    assert "torch" not in res["memory"] and res["memory"]["minstn"]["tracemalloc_peak_mb"] > 0
    assert "| affine_grid_sample (fused) |" in md and "| LSTM (1 layer) |" in md
    assert md in stdout                                           # the table is printed too
    rows = [ln.split(" | ") for ln in md.splitlines() if ln.startswith(("| affine", "| conv",
                                                                          "| LSTM"))]
    assert len(rows) == len(res["ops"])
    for cells in rows:                      # torch fwd, fwd ratio, torch fwd+bwd, ratio, pass
        assert [cells[i] for i in (3, 4, 6, 7)] == ["—"] * 4 and cells[9] == "— |"


def test_bench_only_filter(tmp_path):
    _, res, _ = _bench(tmp_path, "--no-torch", "--only", "conv1d")
    assert [r["op"] for r in res["ops"]] == ["conv1d"]
    assert "stcnn_step" not in res and "memory" not in res and "startup" not in res


def test_bench_with_torch(tmp_path):
    pytest.importorskip("torch")
    _, res, md = _bench(tmp_path, "--only", FAST)
    assert res["machine"]["torch"] and res["machine"]["torch_threads"] == 1
    for r in res["ops"]:
        assert r["forward"]["torch"]["median_ms"] > 0
        assert r["ratio_forward_backward"] > 0 and r["pass"] in ("pass", "FAIL")
        # both frameworks compute the same numbers (output and every gradient)
        assert r["max_rel_diff_vs_torch"] < 1e-4, r["name"]
    step = res["stcnn_step"]
    assert step["params"]["minstn"] == step["params"]["torch"]
    assert step["max_rel_diff_vs_torch"] < 1e-4
    assert step["ratio_images_per_s"] > 0
    assert res["memory"]["torch"]["rss_before_step_mb"] > 0
    assert "| STCNN(canvas=20, st_out=16) | 2 |" in md


def test_bench_split_runs_each_framework_in_its_own_process(tmp_path):
    """--split 2: each framework's ops in a fresh process per round, merged into one table
    whose figures are the medians over the rounds; the ratio is of those medians."""
    pytest.importorskip("torch")
    _, res, md = _bench(tmp_path, "--split", "2", "--only", "conv1d,lstm")
    assert [r["op"] for r in res["ops"]] == ["conv1d", "LSTM (1 layer)"]
    assert res["config"]["split_rounds"] == 2 and res["machine"]["torch"]
    for r in res["ops"]:
        for kind in ("forward", "forward_backward"):
            for fw in ("minstn", "torch"):
                rounds = r[kind][fw]["rounds_median_ms"]
                assert len(rounds) == 2 and min(rounds) > 0
                assert r[kind][fw]["median_ms"] == pytest.approx(sum(rounds) / 2)
        fb = r["forward_backward"]
        assert r["ratio_forward_backward"] == pytest.approx(
            fb["minstn"]["median_ms"] / fb["torch"]["median_ms"])
        assert r["pass"] in ("pass", "FAIL")
    assert "| conv1d |" in md and "| LSTM (1 layer) |" in md


@pytest.mark.slow
def test_bench_startup(tmp_path):
    _, res, md = _bench(tmp_path, "--no-torch", "--only", "startup")
    cold, warm = res["startup"]["cold"], res["startup"]["warm"]
    assert cold["time_to_first_batch_s"] > 0 and warm["time_to_first_batch_s"] > 0
    assert res["startup"]["pass"] in ("pass", "FAIL")
    assert "| warm |" in md


def _fake_run(ratio_med, ratio_min, step_ratio, threads=2):
    """A bench/run.py result with one op row and a training step, at the given ratios."""
    def times(med, mn):
        return {"median_ms": med, "min_ms": mn}
    return {"machine": {"threads": threads, "cpu_model": "test CPU"},
            "ops": [{"op": "conv2d", "shape": "N1", "target": 1.5,
                     "pass": "pass" if ratio_med <= 1.5 else "FAIL",
                     "ratio_forward_backward": ratio_med,
                     "forward_backward": {"minstn": times(ratio_med, ratio_min),
                                          "torch": times(1.0, 1.0)}}],
            "stcnn_step": {"ratio_images_per_s": step_ratio, "target": 0.5,
                           "pass": "pass" if step_ratio >= 0.5 else "FAIL",
                           "step": {"minstn": times(10.0, 10.0), "torch": times(5.0, 5.0)}}}


def test_spread_summarises_runs(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_spread",
                                                  os.path.join(ROOT, "bench", "spread.py"))
    spread = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(spread)
    paths = []
    for i, (med, mn) in enumerate([(1.4, 1.3), (1.7, 1.2), (1.6, 1.4)]):
        p = tmp_path / f"r{i}.json"
        p.write_text(json.dumps(_fake_run(med, mn, 0.6)))
        paths.append(str(p))
    text = spread.main([*paths, "--markdown", str(tmp_path / "s.md")])
    row = next(ln for ln in text.splitlines() if ln.startswith("| conv2d"))
    # median over runs 1.6, range 1.4-1.7, one run of three passing, min-sample ratio 1.3
    assert row == "| conv2d | N1 | 3 | 1.60× [1.40 – 1.70] | ≤ 1.5× | 1/3 | 1.30× |"
    step = next(ln for ln in text.splitlines() if ln.startswith("| training step"))
    assert "0.60× [0.60 – 0.60] | ≥ 0.5× | 3/3 | 0.50×" in step
    assert (tmp_path / "s.md").read_text() == text
    (tmp_path / "r3.json").write_text(json.dumps(_fake_run(1.0, 1.0, 1.0, threads=1)))
    with pytest.raises(SystemExit, match="thread counts"):
        spread.main([*paths, str(tmp_path / "r3.json")])


def _load_gpu():
    spec = importlib.util.spec_from_file_location("bench_gpu",
                                                  os.path.join(ROOT, "bench", "gpu.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)               # imports bench/run.py: stdlib only
    return mod


def test_gpu_bench_table():
    gpu = _load_gpu()

    def t(ms):
        return {"median_ms": ms, "iqr_ms": ms / 10}
    row = {"op": "conv2d", "shape": "N1", "forward": {"minstn": t(2.0), "torch": t(0.5)},
           "forward_backward": {"minstn": t(6.0), "torch": t(1.5)}, "ratio_forward": 4.0,
           "ratio_forward_backward": 4.0, "max_rel_diff_vs_torch": 2.5e-6}
    step = {"canvas": 42, "st_out": 28, "batch": 64, "step": {"minstn": t(30.0), "torch": t(5.0)},
            "images_per_s": {"minstn": 2133.3, "torch": 12800.0}, "ratio_images_per_s": 1 / 6}
    text = gpu.markdown({"machine": {"torch": "2.x", "gpu": "Some GPU"}, "config": {"repeats": 10},
                         "ops": [row], "stcnn_steps": [step]})
    assert "Some GPU" in text
    assert "| conv2d | N1 | 2 [0.2] | 0.5 [0.05] | 4.00× | 6 [0.6] | 1.5 [0.15] | 4.00× " \
           "| 2.5e-06 |" in text
    assert "| STCNN(canvas=42, st_out=28) | 64 | 30 [3] | 5 [0.5] | 2133 | 12800 | 0.17× |" in text


def test_gpu_bench_without_a_gpu_says_so():
    torch = pytest.importorskip("torch")
    from minstn.device import cuda_available
    if torch.cuda.is_available() and cuda_available():
        pytest.skip("a GPU is present")
    p = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gpu.py"), "--quick"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode != 0 and "needs a CUDA GPU" in p.stderr


def test_lstm_products_times_every_product():
    """bench/lstm_products.py at a tiny shape: runs, and returns a positive total."""
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    try:
        import lstm_products
    finally:
        sys.path.pop(0)
    assert lstm_products.main(["--shape", "2", "3", "4", "5", "--dx", "--reps", "2"]) > 0
