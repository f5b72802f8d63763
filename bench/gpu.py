"""GPU benchmark: minstn's numba.cuda kernels against PyTorch CUDA on the same card.

    python bench/gpu.py                  # ops + ST-CNN steps; table + bench/results/gpu_<date>.json
    python bench/gpu.py --quick          # few repeats (noisy)
    python bench/gpu.py --only grid,stcnn

The cases, shapes, timing method (`measure`), torch twins and builders (`_build`,
`make_step`, called with device="cuda") are bench/run.py's; here every array lives on
the GPU. Each timed call ends with a device synchronisation
(numba.cuda.synchronize for minstn, torch.cuda.synchronize for torch), so a sample
times finished work, Python and launch overhead included. Both frameworks get copies
of the same float32 arrays and each row is checked against torch once. Needs a CUDA
GPU and a CUDA build of torch; exits with a message otherwise.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as B  # noqa: E402  (bench/run.py: cases, builders, measure, torch twins)

STCNN_BATCHES = (64, 256)


def host(a):
    """Any array (numba device array, torch tensor, minstn Tensor) as a NumPy array."""
    if isinstance(a, B.minstn.Tensor):
        return a.numpy()
    if hasattr(a, "copy_to_host"):
        return a.copy_to_host()
    if hasattr(a, "detach"):
        return a.detach().cpu().numpy()
    return a


def run_op_case(case, rng, args, sync):
    fws = {k: B._build(case, k, "cuda") for k in ("minstn", "torch")}
    g = rng.standard_normal(host(fws["minstn"][0]()).shape).astype(B.np.float32)
    gs = {"minstn": B.minstn.Tensor(g, device="cuda"), "torch": B.torch.from_numpy(g).cuda()}

    def fwd(k):
        def f():
            fws[k][0]()
            sync[k]()
        return f

    def fwdbwd(k):
        out_fn, leaves = fws[k]

        def f():
            for t in leaves:
                t.grad = None
            out_fn().backward(gs[k])
            sync[k]()
        return f

    row = {k: case[k] for k in ("name", "op", "shape", "group")}
    row["forward"] = B.measure({k: fwd(k) for k in fws}, args.repeats, args.warmup, args.min_time)
    row["forward_backward"] = B.measure({k: fwdbwd(k) for k in fws}, args.repeats, args.warmup,
                                        args.min_time)
    for key in ("forward", "forward_backward"):
        row["ratio_" + key] = row[key]["minstn"]["median_ms"] / row[key]["torch"]["median_ms"]
    diffs = [B._rel_diff(host(fws["minstn"][0]()), host(fws["torch"][0]()))]
    for k in fws:
        fwdbwd(k)()
    for lm, lt in zip(fws["minstn"][1], fws["torch"][1]):
        diffs.append(B._rel_diff(host(lm.grad), host(lt.grad)))
    row["max_rel_diff_vs_torch"] = max(diffs)
    return row


def run_stcnn(batch, args, sync):
    cfg = dict(B.STCNN, batch=batch)
    fws = {k: B.make_step(k, **cfg, device="cuda") for k in ("minstn", "torch")}
    res = dict(cfg, lr=B.LR, max_rel_diff_vs_torch=B._rel_diff(fws["minstn"][1](),
                                                               fws["torch"][1]()))

    def timed(k):
        def f():
            fws[k][0]()
            sync[k]()
        return f
    res["step"] = B.measure({k: timed(k) for k in fws}, args.repeats, args.warmup, args.min_time)
    res["images_per_s"] = {k: batch / (v["median_ms"] / 1e3) for k, v in res["step"].items()}
    res["ratio_images_per_s"] = res["images_per_s"]["minstn"] / res["images_per_s"]["torch"]
    return res


def markdown(res):
    m = res["machine"]
    lines = [f"minstn (numba.cuda) vs PyTorch {m['torch']} CUDA — {m['gpu']}, float32, "
             f"{res['config']['repeats']} repeats, synchronised after every call. Times: "
             "median [IQR] per call in ms; ratio = minstn ÷ torch.", "",
             "| op | shape | minstn fwd | torch fwd | fwd ratio | minstn fwd+bwd | torch fwd+bwd "
             "| fwd+bwd ratio | max rel. diff |", "|---|---|---|---|---|---|---|---|---|"]
    for r in res["ops"]:
        f, fb = r["forward"], r["forward_backward"]
        lines.append(f"| {r['op']} | {r['shape']} | {B._ms(f['minstn'])} | {B._ms(f['torch'])} "
                     f"| {B._x(r['ratio_forward'])} | {B._ms(fb['minstn'])} "
                     f"| {B._ms(fb['torch'])} | {B._x(r['ratio_forward_backward'])} "
                     f"| {r['max_rel_diff_vs_torch']:.1e} |")
    if res["stcnn_steps"]:
        lines += ["", "| training step (ST-CNN, SGD) | batch | minstn ms/step | torch ms/step "
                  "| minstn images/s | torch images/s | ratio (images/s) |",
                  "|---|---|---|---|---|---|---|"]
        for s in res["stcnn_steps"]:
            ips = s["images_per_s"]
            lines.append(f"| STCNN(canvas={s['canvas']}, st_out={s['st_out']}) | {s['batch']} "
                         f"| {B._ms(s['step']['minstn'])} | {B._ms(s['step']['torch'])} "
                         f"| {ips['minstn']:.0f} | {ips['torch']:.0f} "
                         f"| {B._x(s['ratio_images_per_s'])} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--min-time", type=float, default=0.02)
    p.add_argument("--quick", action="store_true", help="5 repeats, no minimum sample time")
    p.add_argument("--only", default=None, help="comma-separated substrings of row names")
    p.add_argument("--json", default=None)
    p.add_argument("--markdown", default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup, args.min_time = 5, 1, 0.0
    B._import_libs(no_torch=False)
    from numba import cuda
    if B.torch is None or not B.torch.cuda.is_available() or not cuda.is_available():
        raise SystemExit("bench/gpu.py needs a CUDA GPU seen by both numba.cuda and a CUDA "
                         "build of torch; use bench/run.py for the CPU benchmark.")
    sync = {"minstn": cuda.synchronize, "torch": B.torch.cuda.synchronize}
    wanted = [s.strip() for s in args.only.split(",")] if args.only else None

    def selected(name):
        return wanted is None or any(w in name for w in wanted)

    rng = B.np.random.default_rng(0)
    cases = [*B.cases_grid2d(rng, B.GRID2D), *B.cases_grid1d(rng, B.GRID1D),
             *B.cases_conv(rng, B.CONV2D, B.CONV1D), *B.cases_lstm(rng, B.LSTMS)]
    t0 = time.time()
    res = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
           "command": " ".join(["bench/gpu.py", *(sys.argv[1:] if argv is None else argv)]),
           "config": {"repeats": args.repeats, "warmup": args.warmup,
                      "min_time_s": args.min_time, "only": args.only, "dtype": "float32"},
           "ops": [], "stcnn_steps": []}
    for case in cases:
        if selected(case["name"]):
            print(f"  {case['name']} ...", file=sys.stderr, flush=True)
            res["ops"].append(run_op_case(case, rng, args, sync))
    for batch in STCNN_BATCHES:
        if selected(f"stcnn step {batch}"):
            print(f"  stcnn step {batch} ...", file=sys.stderr, flush=True)
            res["stcnn_steps"].append(run_stcnn(batch, args, sync))
    import numba
    tc = B.torch.cuda
    res["machine"] = {"gpu": tc.get_device_name(), "compute_capability": tc.get_device_capability(),
                      "torch": B.torch.__version__, "torch_cuda": B.torch.version.cuda,
                      "torch_tf32": {"cudnn": B.torch.backends.cudnn.allow_tf32,
                                     "matmul": B.torch.backends.cuda.matmul.allow_tf32},
                      "numba": numba.__version__, "numpy": B.np.__version__,
                      "python": platform.python_version(), "cpu": platform.processor()}
    res["wall_s"] = time.time() - t0
    B.write_results(res, markdown(res), args.json, args.markdown, prefix="gpu_")
    return 0


if __name__ == "__main__":
    sys.exit(main())
