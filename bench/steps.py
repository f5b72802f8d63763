"""Each demo's training step, minstn against PyTorch: images (or stays) per second.

    python bench/steps.py                                # every row, 1 and 2 threads, 3 rounds
    python bench/steps.py --rows exp1-stcnn --threads 1 --rounds 5
    python bench/steps.py --json bench/results/steps.json --markdown steps.md
    python bench/steps.py --profile exp1-stcnn          # where minstn's step time goes

A row is one demo's model, optimizer and batch, as the demo trains it: train mode
(dropout on), Adam with the demo's parameter groups (the localisation nets at its
--loc-lr-scale: 1.0 in experiment 1, 0.1 in 2 and 4), the demo's loss, on a fixed random
batch of the demo's shape (drawing and distorting the data is left out: it is the same
NumPy code for both). Both frameworks start from the same
weights (bench/twins.py copies minstn's), and their eval-mode outputs on the batch
are compared before timing.

Every measurement runs in a fresh process with the thread count set before any import
(OPENBLAS/OMP/MKL/NUMBA_NUM_THREADS, torch.set_num_threads): in one process the two
frameworks' thread pools slow each other. A round runs minstn and PyTorch one after
the other, the order alternating from round to round; each process warms up, then
times --samples samples of --number steps and reports their median. A row's figure is
the median over rounds; the ratio is minstn's images/s over PyTorch's (above 1:
minstn faster). This VM's timings move by ±30% from run to run: read ratios from one
run, and several rounds.

Memory: minstn keeps freed memory in the process (minstn/_malloc.py; MINSTN_MALLOC=system
turns that off, in minstn's process too). PyTorch's process runs with glibc's defaults,
as PyTorch users run it, unless --torch-malloc minstn; each row records which process kept.

--profile ROW runs minstn's step of one row under cProfile (one thread) and sums the
time by where it is spent: each kernel family (minstn/kernels/cpu/<file>), the
optimizer's update kernel, NumPy allocation and copies called from Python, and the rest
(the autograd graph, op checks, module calls: Python overhead).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = 1.2                      # minstn ÷ torch images per second, at least (issue 26)

# name: (demo, what, batch, input shape per sample, loss)
ROWS = {
    "exp1-stcnn": ("rts", "ST-CNN, 42×42 → 28×28 view", 64, (1, 42, 42), "ce10"),
    "exp1-cnn": ("rts", "strided CNN (the searched baseline)", 64, (1, 42, 42), "ce10"),
    "exp2-stcnn": ("addition", "2×ST-CNN, two channels → 19 sums", 64, (2, 42, 42), "ce19"),
    "exp4-lstm": ("timeseries", "LSTM 64 over 48 h × 84 channels", 64, (48, 84), "bce"),
    "exp4-stn": ("timeseries", "time-warp STN + LSTM 64", 64, (48, 84), "bce"),
}


def demo_args(row):
    """(the row's demo module, its default arguments)."""
    demos = os.path.join(ROOT, "demos")
    if demos not in sys.path:                    # build() and groups() both come here
        sys.path.insert(0, demos)
    demo = __import__(ROWS[row][0])
    return demo, demo.parse_args(["--models", "stcnn"] if row == "exp2-stcnn" else [])


def build(row):
    """The minstn model of a row, built the way its demo builds it."""
    demo, args = demo_args(row)
    if row in ("exp1-stcnn", "exp1-cnn"):
        return demo.make_model("stcnn" if row == "exp1-stcnn" else "cnn", args, 0)
    if row == "exp2-stcnn":
        return demo.make_models(args)["stcnn"]
    return demo.build_model("lstm" if row == "exp4-lstm" else "stn", args, 84, 0)


def groups(model, row):
    """The demo's Adam parameter groups: its lr, and its localisation nets' lr scale."""
    from minstn.train import param_groups
    return param_groups(model, LR, demo_args(row)[1].loc_lr_scale)


LR = 1e-3                              # every demo's Adam lr


def batch_of(row):
    """A fixed random batch (x, y) of the row's shape, as NumPy arrays."""
    import numpy as np
    _, _, batch, shape, loss = ROWS[row]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, *shape)).astype(np.float32)
    y = (rng.integers(0, 2, batch).astype(np.float32) if loss == "bce" else
         rng.integers(0, 10 if loss == "ce10" else 19, batch))
    return x, y


def minstn_step(model, row, x, y):
    """One minstn training step of the demo's kind (Adam, param groups, loss), as a function."""
    import minstn
    import minstn.functional as F
    from minstn import optim
    opt = optim.Adam(groups(model, row), lr=LR)
    xt = minstn.Tensor(x)
    lossf = F.binary_cross_entropy_with_logits if ROWS[row][4] == "bce" else F.cross_entropy

    def step():
        out = lossf(model(xt), y)
        opt.zero_grad()
        out.backward()
        opt.step()
    return step


def torch_step(model, row, x, y):
    """The same step in PyTorch, on a twin of `model` with its weights: (step, twin)."""
    import torch
    import torch.nn.functional as TF
    from twins import twin
    tm = twin(model)
    name = {id(p): n for n, p in model.named_parameters()}
    tparams = dict(tm.named_parameters())        # the minstn groups, by parameter name
    opt = torch.optim.Adam([{"params": [tparams[name[id(p)]] for p in g["params"]],
                             "lr": g["lr"]} for g in groups(model, row)], lr=LR)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    lossf = TF.binary_cross_entropy_with_logits if ROWS[row][4] == "bce" else TF.cross_entropy

    def step():
        out = lossf(tm(xt), yt)
        opt.zero_grad()
        out.backward()
        opt.step()
    return step, tm


def thread_env(threads):
    """os.environ with every thread pool (OpenBLAS, OpenMP, MKL, Numba) set to `threads`."""
    n = str(threads)
    return dict(os.environ, OPENBLAS_NUM_THREADS=n, OMP_NUM_THREADS=n, MKL_NUM_THREADS=n,
                NUMBA_NUM_THREADS=n)


def child(framework, row, threads, samples, number, warmup):
    """Runs in a fresh process: time the row's step; print one JSON line."""
    import numpy as np
    import minstn
    x, y = batch_of(row)
    model = build(row)
    if framework == "minstn":
        step = minstn_step(model, row, x, y)
        model.eval()
        with minstn.no_grad():
            check = model(minstn.Tensor(x)).numpy()
        model.train()
    else:
        import torch
        torch.set_num_threads(threads)
        step, tm = torch_step(model, row, x, y)
        tm.eval()
        with torch.no_grad():
            check = tm(torch.from_numpy(x)).numpy()
        tm.train()
    for _ in range(warmup):
        step()
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(number):
            step()
        times.append((time.perf_counter() - t0) / number)
    import numba
    try:
        layer = numba.threading_layer()          # set once a parallel kernel has run
    except ValueError:
        layer = None
    print(json.dumps({"minstn": os.path.dirname(minstn.__file__),
                      "malloc_kept": minstn._malloc.kept, "numba_threading_layer": layer,
                      "ms": statistics.median(times) * 1e3, "all_ms": [t * 1e3 for t in times],
                      "check": np.asarray(check, np.float64).ravel()[:64].tolist(),
                      "params": int(model.num_parameters())}))


def profile(row, steps=20):
    """{part: ms per step} of minstn's training step of `row` (see the module docstring)."""
    import cProfile
    import pstats
    x, y = batch_of(row)
    step = minstn_step(build(row), row, x, y)
    for _ in range(3):
        step()
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    for _ in range(steps):
        step()
    prof.disable()
    wall = (time.perf_counter() - t0) / steps * 1e3
    parts = {}
    for (path, _, func), (_, _, tottime, _, _) in pstats.Stats(prof).stats.items():
        if "minstn/kernels/cpu/" in path:
            part = "kernels: " + os.path.basename(path)[:-3]
        elif func.startswith("<built-in method numpy") or func.startswith("<method") \
                and "ndarray" in func:
            part = "numpy calls from Python (allocation, copies)"
        else:
            part = "Python: autograd graph, op checks, modules, optimizer loop"
        parts[part] = parts.get(part, 0.0) + tottime / steps * 1e3
    return {"ms_per_step_profiled": wall, "parts_ms": dict(sorted(parts.items(),
                                                                   key=lambda kv: -kv[1]))}


def spawn(framework, row, threads, args):
    env = thread_env(threads)
    if framework == "torch" and args.torch_malloc == "system":
        env["MINSTN_MALLOC"] = "system"          # the twin is built with minstn: keep glibc's
    cmd = [sys.executable, os.path.abspath(__file__), "--child", framework, row, str(threads),
           "--samples", str(args.samples), "--number", str(args.number),
           "--warmup", str(args.warmup)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"{framework} {row} on {threads} thread(s) failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--samples", type=int, default=7)
    p.add_argument("--number", type=int, default=5, help="steps per timed sample")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--json", default=None)
    p.add_argument("--markdown", default=None)
    p.add_argument("--child", nargs=3, metavar=("FRAMEWORK", "ROW", "THREADS"))
    p.add_argument("--profile", choices=list(ROWS), default=None)
    p.add_argument("--torch-malloc", choices=("system", "minstn"), default="system",
                   help="PyTorch's process: glibc's malloc defaults, as PyTorch users run it "
                        "(default), or minstn's settings (minstn/_malloc.py). minstn's process "
                        "follows MINSTN_MALLOC")
    args = p.parse_args(argv)
    if args.profile:
        res = profile(args.profile)
        print(f"{args.profile}: {res['ms_per_step_profiled']:.1f} ms per step under cProfile")
        for k, v in res["parts_ms"].items():
            print(f"  {v:7.2f} ms  {100 * v / res['ms_per_step_profiled']:5.1f}%  {k}")
        return res
    sys.path[:0] = [ROOT]                        # this checkout's minstn, not an installed one
    if args.child:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        fw, row, threads = args.child
        return child(fw, row, int(threads), args.samples, args.number, args.warmup)
    import numpy as np
    res = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "config": vars(args),
           "target": TARGET, "rows": []}
    for row in args.rows:
        for threads in args.threads:
            runs = {"minstn": [], "torch": []}
            checks, kept, layers = {}, {}, {}
            for r in range(args.rounds):
                order = ("minstn", "torch") if r % 2 == 0 else ("torch", "minstn")
                for fw in order:
                    out = spawn(fw, row, threads, args)
                    runs[fw].append(out["ms"])
                    checks[fw], params = out["check"], out["params"]
                    kept[fw] = out["malloc_kept"]
                    layers[fw] = out.get("numba_threading_layer")
                print(f"  {row} {threads} thread(s) round {r + 1}: minstn {runs['minstn'][-1]:.1f} "
                      f"ms, torch {runs['torch'][-1]:.1f} ms", file=sys.stderr, flush=True)
            a, b = np.array(checks["minstn"]), np.array(checks["torch"])
            ms = {k: statistics.median(v) for k, v in runs.items()}
            batch = ROWS[row][2]
            ratio = ms["torch"] / ms["minstn"]
            res["rows"].append({
                "row": row, "demo": ROWS[row][0], "model": ROWS[row][1], "batch": batch,
                "params": params, "threads": threads, "ms_per_step": ms, "rounds_ms": runs,
                "per_s": {k: batch / (v / 1e3) for k, v in ms.items()},
                "ratio": ratio, "verdict": "pass" if ratio >= TARGET else "FAIL",
                "malloc_kept": kept, "numba_threading_layer": layers,
                "max_rel_diff_outputs": float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))})
    from minstn.kernels.cpu import _blas
    res["machine"] = {"cpu": _cpu(), "python": platform.python_version(), "commit": _commit(),
                      "minstn_blas": _blas.describe()}
    table = markdown(res)
    print(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table + "\n")
    return res


def markdown(res):
    lines = ["| row | model | threads | minstn ms/step | torch ms/step | minstn ÷ torch (per s) "
             "| target ≥ 1.2 |", "|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        lines.append(f"| {r['row']} | {r['model']} | {r['threads']} | "
                     f"{r['ms_per_step']['minstn']:.1f} | {r['ms_per_step']['torch']:.1f} | "
                     f"{r['ratio']:.2f} | {r['verdict']} |")
    return "\n".join(lines)


def _cpu():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor()


def _commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=ROOT).stdout.strip()
    except OSError:
        return None


if __name__ == "__main__":
    main()
