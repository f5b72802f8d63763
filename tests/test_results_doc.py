"""docs/results.md quotes exactly the numbers in the committed results JSON files."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_results_tables_match_the_json_files():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "docs", "make_results.py"),
                          "--check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def _part(seed, settings, lr=2e-3):
    runs = {str(seed): {s: {"test_acc": 0.5 + 0.1 * i} for i, s in enumerate(settings)}}
    summary = {s: {"talk": 0.9} for s in settings}
    return {"config": {"seed": seed, "settings": settings, "lr": lr, "batch_size": 32},
            "steps": 100, "runs": runs, "summary": summary}


def _make_results():
    sys.path.insert(0, os.path.join(ROOT, "docs"))
    try:
        import make_results
    finally:
        sys.path.pop(0)
    return make_results


def test_experiment3_parts_merge_only_when_their_configs_agree():
    make_results = _make_results()
    parts = [_part(0, ["lr", "identity"]), _part(0, ["random", "cnn"]),
             _part(1, ["lr", "identity"]), _part(1, ["random", "cnn"])]
    table = make_results.table_same_image_3x(parts)
    assert "| lr | 0: 50.00%, 1: 50.00% | 50.00% ± 0.00 | 90% |" in table
    assert "| cnn | 0: 60.00%, 1: 60.00% |" in table
    with pytest.raises(ValueError, match="lr seed 0 twice"):
        make_results.table_same_image_3x(parts + [_part(0, ["lr"])])
    parts[3] = _part(1, ["random", "cnn"], lr=1e-3)              # one part trained differently
    with pytest.raises(ValueError, match="differ"):
        make_results.table_same_image_3x(parts)


def test_experiment3_budget_table_orders_settings_by_mean():
    make_results = _make_results()
    sweep = _part(0, ["lr", "identity", "random", "cnn"])     # lr 50, identity 60, random 70, cnn 80
    sweep["runs"]["1"] = {"lr": {"test_acc": 0.7}, "identity": {"test_acc": 0.6},
                          "random": {"test_acc": 0.1}, "cnn": {"test_acc": 0.8}}
    parts = [_part(0, ["lr", "identity"]), _part(0, ["random", "cnn"])]
    parts[1]["steps"] = parts[0]["steps"] = 300
    for r in (sweep, *parts):
        r["wall_time_s"] = {"total": 600.0}
    table = make_results.table_same_image_budget({"one": sweep, "parts": parts})
    assert "| 100 | 10 min | 60.00 ± 14.14 | 60.00 ± 0.00 | — | 40.00 ± 42.43 | 80.00 ± 0.00 | " \
           "cnn > lr > identity > random |" in table
    assert "| 300 | 20 min in 2 parts | 50.00 ± 0.00 | 60.00 ± 0.00 | — | 50.00 ± 0.00 | " \
           "60.00 ± 0.00 |" in table


def test_runs_made_before_the_rename_read_their_default_init_as_random_default():
    make_results = _make_results()
    old = _part(0, ["lr", "random"])
    old["theta_inits"] = {"lr": [[0.5], [0.5]], "random": ["random", "random"]}
    old["param_counts"] = {"lr": 5, "random": 5}
    new = make_results.renamed(old)
    assert new["config"]["settings"] == ["lr", "random-default"]
    assert set(new["runs"]["0"]) == set(new["summary"]) == {"lr", "random-default"}
    assert old["config"]["settings"] == ["lr", "random"]            # the input is not changed
    uniform = _part(0, ["random"])
    uniform["theta_inits"] = {"random": "bias U(-1.0, 1.0), seed [seed, 3]"}
    assert make_results.renamed(uniform) is uniform


def _addition_run(seed, stcnn, cnn, steps=100, lr=1e-3):
    env = {"git_commit": "abc1234", "cpu": "a CPU", "thread_env": {}}
    return {"config": {"seed": seed, "lr": lr, "batch_size": 64, "workers": 2, "run_id": f"s{seed}"},
            "seed": seed, "steps": steps, "pairs_seen": 64 * steps, "environment": env,
            "param_counts": {"stcnn": 10, "cnn": 9}, "wall_time_s": {"train": 60.0},
            "test_accuracy": {"stcnn": stcnn, "cnn": cnn},
            "selection": {m: {"step": steps, "val_acc": 0.5} for m in ("stcnn", "cnn")}}


def test_experiment2_table_is_over_seeds_of_one_config():
    make_results = _make_results()
    runs = [_addition_run(0, 0.9, 0.8), _addition_run(1, 0.92, 0.82), _addition_run(2, 0.94, 0.84)]
    table = make_results.table_addition(runs)
    assert "| stcnn | 10 | 92.00% ± 2.00 | 0: 90.00%, 1: 92.00%, 2: 94.00% |" in table
    assert "| cnn | 9 | 82.00% ± 2.00 |" in table
    with pytest.raises(ValueError, match="differ"):                # another step count
        make_results.table_addition(runs[:2] + [_addition_run(2, 0.9, 0.8, steps=200)])
    with pytest.raises(ValueError, match="differ"):                # another learning rate
        make_results.table_addition(runs[:2] + [_addition_run(2, 0.9, 0.8, lr=2e-3)])
    other_threads = _addition_run(2, 0.9, 0.8)
    other_threads["environment"] = dict(other_threads["environment"], thread_env={"X": "2"})
    with pytest.raises(ValueError, match="differ"):                # another thread env
        make_results.table_addition(runs[:2] + [other_threads])
    with pytest.raises(ValueError, match="seed twice"):
        make_results.table_addition(runs[:2] + [_addition_run(1, 0.9, 0.8)])
