"""Sampling with a projective or TPS grid against the fused affine op, at the same output size.

    python bench/grids.py                     # N 64, C 1, 42×42 → 28×28, one thread
    python bench/grids.py --repeats 15 --json bench/results/grids.json

Forward + backward (to the input and the grid's parameters) of
    affine       F.affine_grid_sample(x, θ (N, 2, 3), (Ho, Wo))        the fused op
    projective   F.projective_grid_sample(x, θ (N, 3, 3), (Ho, Wo))    fused the same way
    proj-2-ops   F.grid_sample(x, F.projective_grid(θ, ...))            grid, then sample
    tps          F.tps_grid_sample(x, offsets (N, 16, 2), (Ho, Wo))       fused the same way
    tps-2-ops    F.grid_sample(x, F.tps_grid(offsets, ...))
timed in one process, interleaved, median over --repeats. The target (issue: beyond
affine) is projective and TPS at most 1.5× the affine time. Ratios come from one run;
absolute times on this VM move by ±30% from run to run.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--size", type=int, nargs=2, default=(42, 28), help="input side, output side")
    p.add_argument("--repeats", type=int, default=11)
    p.add_argument("--number", type=int, default=20, help="calls per timed sample")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    import numba
    import minstn
    import minstn.functional as F
    from minstn import Tensor
    numba.set_num_threads(1)
    rng = np.random.default_rng(0)
    n, (s, so) = args.batch, args.size
    x = Tensor(rng.random((n, 1, s, s)).astype(np.float32), requires_grad=True)
    size = (n, 1, so, so)
    aff = Tensor((np.tile(np.eye(3)[:2], (n, 1, 1)) + 0.1 * rng.standard_normal((n, 2, 3)))
                 .astype(np.float32), requires_grad=True)
    proj = Tensor((np.tile(np.eye(3), (n, 1, 1)) + 0.05 * rng.standard_normal((n, 3, 3)))
                  .astype(np.float32), requires_grad=True)
    tps = Tensor((0.1 * rng.standard_normal((n, 16, 2))).astype(np.float32), requires_grad=True)
    g = Tensor(rng.standard_normal(size).astype(np.float32))
    ops = {"affine": lambda: F.affine_grid_sample(x, aff, size[2:]),
           "projective": lambda: F.projective_grid_sample(x, proj, size[2:]),
           "proj-2-ops": lambda: F.grid_sample(x, F.projective_grid(proj, size)),
           "tps": lambda: F.tps_grid_sample(x, tps, size[2:]),
           "tps-2-ops": lambda: F.grid_sample(x, F.tps_grid(tps, size))}

    def fwd_bwd(f):
        out = f()
        out.backward(g)

    for f in ops.values():                       # compile / load the kernels
        fwd_bwd(f)
    samples = {k: [] for k in ops}
    for _ in range(args.repeats):                # interleaved: drift hits every op alike
        for k, f in ops.items():
            t0 = time.perf_counter()
            for _ in range(args.number):
                fwd_bwd(f)
            samples[k].append((time.perf_counter() - t0) / args.number)
    med = {k: statistics.median(v) * 1e3 for k, v in samples.items()}
    targeted = ("projective", "tps")             # the other rows are for reference
    rows = {k: {"median_ms": med[k], "min_ms": min(samples[k]) * 1e3,
                "ratio_vs_affine": med[k] / med["affine"],
                "target": "<= 1.5" if k in targeted else None,
                "verdict": None if k not in targeted else
                ("pass" if med[k] / med["affine"] <= 1.5 else "FAIL")} for k in ops}
    print(f"forward+backward, N {n}, {s}×{s} → {so}×{so}, one thread, median of {args.repeats}")
    print(f"{'grid':<12}{'ms':>9}{'× affine':>10}  target")
    for k, r in rows.items():
        print(f"{k:<12}{r['median_ms']:>9.3f}{r['ratio_vs_affine']:>10.2f}  "
              + (f"≤ 1.5: {r['verdict']}" if r["target"] else ""))
    if args.json:
        from minstn.experiment import cpu_model, git_commit, save_json
        save_json({"config": vars(args), "rows": rows, "machine": {
            "cpu": cpu_model(), "python": platform.python_version(), "commit": git_commit(),
            "minstn": minstn.__version__}}, args.json)
    return rows


if __name__ == "__main__":
    main()
