"""What keeping freed memory (minstn/_malloc.py) does to a training step: page faults and time.

    python bench/malloc_ab.py                                  # exp1 and exp4-stn rows, 5 rounds
    python bench/malloc_ab.py --rows exp1-stcnn --rounds 7 --json bench/results/malloc.json

For each row of bench/steps.py and each framework, a round runs two fresh one-thread
processes back to back, one with glibc's malloc defaults (MINSTN_MALLOC=system) and one
with minstn's settings, their order alternating from round to round. Each process warms
up, then times --steps training steps and counts the page faults (ru_minflt) they take.
PyTorch's process builds its twin with minstn, so the same switch sets its allocator too.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import steps                                   # bench/steps.py: this script's folder is on the path

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODES = ("system", "kept")


def child(framework, row, steps_n):
    """In a fresh process: (ms per step, page faults per step) of `steps_n` timed steps."""
    sys.path.insert(0, ROOT)                   # this checkout's minstn
    x, y = steps.batch_of(row)
    model = steps.build(row)
    if framework == "minstn":
        step = steps.minstn_step(model, row, x, y)
    else:
        import torch
        torch.set_num_threads(1)
        step, _ = steps.torch_step(model, row, x, y)
    for _ in range(5):
        step()
    f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
    for _ in range(steps_n):
        step()
    t1, f1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    print(json.dumps({"ms": (t1 - t0) / steps_n * 1e3, "faults": (f1 - f0) / steps_n}))


def spawn(framework, row, mode, steps_n):
    env = dict(steps.thread_env(1), MINSTN_MALLOC="system" if mode == "system" else "")
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", framework, row,
                          "--steps", str(steps_n)], env=env, capture_output=True, text=True,
                         cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", nargs="+", default=["exp1-stcnn", "exp1-cnn", "exp4-stn"])
    p.add_argument("--frameworks", nargs="+", choices=("minstn", "torch"),
                   default=["minstn", "torch"])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--json", default=None)
    p.add_argument("--child", nargs=2, metavar=("FRAMEWORK", "ROW"))
    args = p.parse_args(argv)
    if args.child:
        return child(*args.child, args.steps)
    rows = []
    print("| row | framework | faults/step, system | faults/step, kept | ms/step, system "
          "| ms/step, kept | kept ÷ system |\n|---|---|---|---|---|---|---|")
    for row in args.rows:
        for fw in args.frameworks:
            runs = {m: [] for m in MODES}
            for r in range(args.rounds):
                for mode in (MODES if r % 2 == 0 else MODES[::-1]):
                    runs[mode].append(spawn(fw, row, mode, args.steps))
            med = {m: {k: statistics.median(x[k] for x in runs[m]) for k in ("ms", "faults")}
                   for m in MODES}
            rows.append({"row": row, "framework": fw, "median": med, "rounds": runs})
            print(f"| {row} | {fw} | {med['system']['faults']:.0f} | {med['kept']['faults']:.0f} | "
                  f"{med['system']['ms']:.1f} | {med['kept']['ms']:.1f} | "
                  f"{med['kept']['ms'] / med['system']['ms']:.3f} |", flush=True)
    res = {"config": vars(args), "rows": rows,
           "machine": {"cpu": steps._cpu(), "commit": steps._commit()}}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return res


if __name__ == "__main__":
    main()
