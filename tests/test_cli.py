"""minstn.cli (flag types, run folders) and experiment.save_figure, run_in_processes."""
import argparse
import os
import subprocess
import sys
import textwrap
import time

import pytest

from minstn import cli, experiment


@pytest.mark.parametrize("kind, good, bad", [
    (cli.positive_int, [("3", 3)], ["0", "-1", "2.5", "x"]),
    (cli.nonneg_int, [("0", 0)], ["-1", "one"]),
    (cli.positive_float, [("1e-3", 1e-3)], ["0", "-2", "inf", "nan?"]),
    (cli.nonneg_float, [("0", 0.0)], ["-0.1", "inf"]),
    (cli.fraction, [("1", 1.0), ("0.5", 0.5)], ["1.01", "-0.1"]),
    (cli.open_fraction, [("0", 0.0)], ["1", "2"]),
    (cli.int_list, [("0,1, 2", "0,1, 2")], ["", "0,a", "1.5", "-1"]),
])
def test_flag_types_accept_good_values_and_name_bad_ones(kind, good, bad):
    for text, value in good:
        assert kind(text) == value
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError, match="must be"):
            kind(text)


def test_device_flag_refuses_unknown_and_absent_devices(monkeypatch):
    assert cli.device("CPU") == "cpu"
    with pytest.raises(argparse.ArgumentTypeError, match="one of"):
        cli.device("gpu")
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        monkeypatch.setattr("minstn.device.cuda_available", lambda: False)
        with pytest.raises(argparse.ArgumentTypeError, match="NUMBA_ENABLE_CUDASIM"):
            cli.device("cuda")


def test_run_dir_refuses_a_used_folder_unless_told(tmp_path):
    path = cli.run_dir(str(tmp_path), "r")
    assert os.path.isdir(path) and cli.run_dir(str(tmp_path), "r") == path    # empty: fine
    (tmp_path / "r" / "results.json").write_text("{}")
    with pytest.raises(SystemExit, match="already holds a run.*--overwrite"):
        cli.run_dir(str(tmp_path), "r")
    assert cli.run_dir(str(tmp_path), "r", overwrite=True) == path


def test_save_figure_writes_atomically(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    experiment.save_figure(fig, tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]            # no temp file left
    plt.close(fig)


def test_progress_bars_off_a_terminal_write_a_few_lines_not_one_per_step(monkeypatch):
    """Redirected to a file, a bar redraws at most every 30 s (set_postfix refresh=False):
    a fast loop of 20,000 steps with a postfix on every step writes a handful of lines."""
    import io
    import sys

    from minstn.train import progress
    log = io.StringIO()                                    # not a terminal: isatty() is False
    monkeypatch.setattr(sys, "stderr", log)
    bar = progress(range(20000), "steps", file=log)
    for i in bar:
        bar.set_postfix(loss=f"{1 / (i + 1):.3f}", refresh=False)
    bar.close()
    assert log.getvalue().count("\r") + log.getvalue().count("\n") < 10


def _running(pid):
    """True while pid is a live process (a zombie, dead but not yet reaped, is not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_workers_end_when_their_parent_is_killed(tmp_path):
    """A parent ended by kill cannot shut its pool down: its workers must notice and exit,
    not train on as orphans that keep every core busy."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {root!r})
        from minstn import experiment

        def job(folder):
            open(os.path.join(folder, str(os.getpid())), "w").close()
            time.sleep(300)

        if __name__ == "__main__":
            experiment.run_in_processes(job, [({str(tmp_path)!r},)] * 2, workers=2)
    """))
    parent = subprocess.Popen([sys.executable, str(script)])
    try:
        deadline = time.time() + 120
        while len([f for f in os.listdir(tmp_path) if f.isdigit()]) < 2:
            assert time.time() < deadline, "the workers never started their jobs"
            time.sleep(0.2)
        workers = [int(f) for f in os.listdir(tmp_path) if f.isdigit()]
        assert all(_running(pid) for pid in workers)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.time() + 15                     # a poll per second; slack for a busy CI
    while any(_running(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.2)
    left = [pid for pid in workers if _running(pid)]
    for pid in left:
        os.kill(pid, 9)
    assert not left, f"workers {left} outlived their killed parent"
