"""Benchmarks: minstn against PyTorch CPU, in one process, same threads, same float32 inputs.

    python bench/run.py                          # everything (minutes); table + results JSON
    python bench/run.py --only grid,lstm         # rows whose name contains "grid" or "lstm"
    python bench/run.py --quick --tiny           # smoke run of the harness (seconds)
    python bench/run.py --markdown perf.md       # also write the Markdown table to perf.md
    python bench/run.py --no-torch               # minstn timings only (as without torch)

Per op it times the forward and forward+backward of minstn and of the equivalent
torch ops on copies of the same arrays, alternating blocks of samples between the
two frameworks, and reports the median and interquartile range (IQR) per call and
the ratio minstn ÷ torch (below 1 = minstn faster). Then one training step of the
experiment-1 ST-CNN (images/s), the peak memory of that step for each framework
(fresh subprocesses) and the Numba cold- vs warm-cache time to first batch.
Method and its limits: bench/README.md. Results: bench/results/<date>_<time>.json.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---- configuration (edit here) -----------------------------------------------------------
GRID2D = [(64, 1, 28, 28, 28, 28), (64, 2, 60, 60, 60, 60),       # N C H W Ho Wo
          (256, 1, 42, 42, 42, 42)]
GRID1D = [(64, 76, 48, 48)]                                        # N C L Lo
CONV2D = [(64, 1, 32, 5, 28, 1), (64, 32, 64, 5, 12, 1), (64, 1, 8, 7, 28, 1),  # N Cin Cout k
          (64, 1, 32, 5, 42, 2), (64, 32, 64, 3, 19, 1), (64, 64, 128, 3, 8, 1)]  # size stride
# (the last three are experiment 1's strided CNN baseline, its layers in order)
CONV1D = [(64, 76, 64, 3, 48)]                                     # N Cin Cout k L
LSTMS = [(64, 48, 76, 64), (64, 48, 37, 16)]                       # N T D H
STCNN = dict(batch=64, canvas=42, st_out=28)
TINY = dict(GRID2D=[(2, 1, 8, 8, 6, 6)], GRID1D=[(2, 3, 8, 6)], CONV2D=[(2, 1, 4, 3, 8, 1)],
            CONV1D=[(2, 3, 4, 3, 8)], LSTMS=[(2, 4, 3, 2)],
            STCNN=dict(batch=2, canvas=20, st_out=16))             # --tiny: smoke-test shapes

RATIO_TARGETS = {"grid": 0.8, "conv": 1.0, "lstm": 1.0}   # fwd+bwd time, minstn ÷ torch, at most
# (issue 26; results before 2026-12-06 evening were judged against issue 8's 1.0 / 1.5 / 1.5)
GRID_AIM = 0.67
STEP_TARGET = 0.5          # ST-CNN images/s, minstn ÷ torch, at least
WARM_START_TARGET = 3.0    # seconds to first batch with a warm Numba cache, at most
LR = 0.01
MMAP_THRESHOLD = 131072    # glibc: blocks >= 128 KiB are mmap'd and unmapped on free (memory runs)

np = minstn = MF = torch = TF = None   # imported by _import_libs once threads are set


def _import_libs(no_torch, no_minstn=False):
    global np, minstn, MF, torch, TF
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)             # run from a checkout without `pip install -e .`
    import numpy
    np = numpy
    if not no_minstn:
        import minstn as _minstn
        import minstn.functional as _mf
        import minstn.nn  # noqa: F401  (minstn.nn.LSTM)
        minstn, MF = _minstn, _mf
    if not no_torch:
        try:
            import torch as _torch
            import torch.nn.functional as _tf
            torch, TF = _torch, _tf
        except ImportError:
            pass


def _thread_env(n):
    """Environment that pins every thread pool (Numba, BLAS, OpenMP) to n threads."""
    keys = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    return {k: str(n) for k in keys}


def _set_threads(n):
    if minstn is not None:
        import numba
        numba.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)


# ---- statistics ----------------------------------------------------------------------------

def summarise(samples):
    """Median, quartiles and IQR of a list of per-call times in seconds → dict in ms."""
    s = sorted(samples)
    q = [_percentile(s, p) for p in (25, 50, 75)]
    return {"median_ms": q[1] * 1e3, "q1_ms": q[0] * 1e3, "q3_ms": q[2] * 1e3,
            "iqr_ms": (q[2] - q[0]) * 1e3, "min_ms": s[0] * 1e3, "n": len(s)}


def _percentile(sorted_s, p):
    """Linear-interpolation percentile (NumPy's default) of a sorted list."""
    pos = (len(sorted_s) - 1) * p / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_s) - 1)
    return sorted_s[lo] + (sorted_s[hi] - sorted_s[lo]) * (pos - lo)


def verdict(value, limit, at_most=True):
    """'pass' / 'FAIL' for value against a target, None when there is no value."""
    if value is None:
        return None
    return "pass" if (value <= limit if at_most else value >= limit) else "FAIL"


def _time_call(f, number):
    gc.collect()
    gc.disable()
    try:
        t = time.perf_counter()
        for _ in range(number):
            f()
        return (time.perf_counter() - t) / number
    finally:
        gc.enable()


def measure(fns, repeats, warmup, min_time):
    """Time each callable in `fns` {framework: f} in the same process.

    Warm-up calls first (Numba compiles or loads its cache, PyTorch initialises);
    then calls per sample so that a sample lasts >= min_time; then `repeats`
    samples each, in two rounds of blocks whose order alternates (a, b, b, a) so
    that drift of a busy machine hits both frameworks alike.
    Returns {framework: summarise(samples) + calls_per_sample}.
    """
    number = {}
    for k, f in fns.items():
        t = math.inf
        for _ in range(max(1, warmup)):
            t = min(t, _time_call(f, 1))
        number[k] = max(1, math.ceil(min_time / max(t, 1e-9))) if min_time > 0 else 1
    samples = {k: [] for k in fns}
    rounds = [list(fns), list(fns)[::-1]] if repeats >= 2 else [list(fns)]
    for r, order in enumerate(rounds):
        count = repeats // len(rounds) + (repeats % len(rounds) if r == 0 else 0)
        for k in order:
            for _ in range(count):
                samples[k].append(_time_call(fns[k], number[k]))
            time.sleep(0.01)          # let the other pool's spinning threads go idle
    return {k: {**summarise(samples[k]), "calls_per_sample": number[k]} for k in fns}


# ---- op cases: (inputs, minstn fn, torch fn) on the same arrays ------------------------------

def _theta2d(rng, n):
    """Random similarity transforms near the identity: (N, 2, 3) float32."""
    a = rng.uniform(-0.5, 0.5, n)
    s = rng.uniform(0.7, 1.1, n)
    t = rng.uniform(-0.2, 0.2, (n, 2))
    th = np.zeros((n, 2, 3), np.float32)
    th[:, 0, 0], th[:, 0, 1], th[:, 0, 2] = s * np.cos(a), -s * np.sin(a), t[:, 0]
    th[:, 1, 0], th[:, 1, 1], th[:, 1, 2] = s * np.sin(a), s * np.cos(a), t[:, 1]
    return th


def _theta1d(rng, n):
    """Random time warps t_src = a t + b, a = exp(U(-0.3, 0.3)): (N, 1, 2) float32."""
    th = np.empty((n, 1, 2), np.float32)
    th[:, 0, 0] = np.exp(rng.uniform(-0.3, 0.3, n))
    th[:, 0, 1] = rng.uniform(-0.2, 0.2, n)
    return th


def _uniform(rng, shape, bound=1.0):
    return rng.uniform(-bound, bound, shape).astype(np.float32)


def cases_grid2d(rng, shapes):
    for N, C, H, W, Ho, Wo in shapes:
        x, theta = rng.random((N, C, H, W), dtype=np.float32), _theta2d(rng, N)
        shape = f"N{N} C{C} {H}x{W}->{Ho}x{Wo}"

        def torch_pair(x, theta, N=N, C=C, Ho=Ho, Wo=Wo):
            grid = TF.affine_grid(theta, (N, C, Ho, Wo), align_corners=False)
            return TF.grid_sample(x, grid, mode="bilinear", padding_mode="zeros",
                                  align_corners=False)

        yield dict(name=f"grid2d fused {shape}", op="affine_grid_sample (fused)", shape=shape,
                   group="grid", inputs=[x, theta], torch=torch_pair,
                   minstn=lambda x, theta, hw=(Ho, Wo): MF.affine_grid_sample(x, theta, hw))
        yield dict(name=f"grid2d pair {shape}", op="affine_grid + grid_sample", shape=shape,
                   group="grid", inputs=[x, theta], torch=torch_pair,
                   minstn=lambda x, theta, size=(N, C, Ho, Wo): MF.grid_sample(
                       x, MF.affine_grid(theta, size)))


def cases_grid1d(rng, shapes):
    """1-D ops; torch runs the 2-D ops on a height-1 image (equal by grid_sample1d's docs):
    theta2 = [[a, 0, b], [0, 1, 0]], input[:, :, None, :], output[:, :, 0, :]."""
    for N, C, L, Lo in shapes:
        x, theta = rng.random((N, C, L), dtype=np.float32), _theta1d(rng, N)
        shape = f"N{N} C{C} L{L}->{Lo} border"
        const = {}

        def torch_1d(x, theta, N=N, C=C, Lo=Lo, const=const):
            if not const:
                const["zero"] = torch.zeros(N, 1, 1, device=theta.device)
                const["row"] = torch.tensor([[[0.0, 1.0, 0.0]]],
                                            device=theta.device).expand(N, 1, 3)
            top = torch.cat([theta[:, :, 0:1], const["zero"], theta[:, :, 1:2]], dim=2)
            theta2 = torch.cat([top, const["row"]], dim=1)                 # (N, 2, 3)
            grid = TF.affine_grid(theta2, (N, C, 1, Lo), align_corners=False)
            out = TF.grid_sample(x[:, :, None, :], grid, mode="bilinear",
                                 padding_mode="border", align_corners=False)
            return out[:, :, 0, :]                                          # (N, C, Lo)

        yield dict(name=f"grid1d fused {shape}", op="affine_grid_sample1d (fused)", shape=shape,
                   group="grid", inputs=[x, theta], torch=torch_1d,
                   minstn=lambda x, theta, Lo=Lo: MF.affine_grid_sample1d(
                       x, theta, Lo, padding_mode="border"))
        yield dict(name=f"grid1d pair {shape}", op="affine_grid1d + grid_sample1d", shape=shape,
                   group="grid", inputs=[x, theta], torch=torch_1d,
                   minstn=lambda x, theta, size=(N, C, Lo): MF.grid_sample1d(
                       x, MF.affine_grid1d(theta, size), padding_mode="border"))


def cases_conv(rng, shapes2d, shapes1d):
    for N, ci, co, k, s, st in shapes2d:
        b = 1 / math.sqrt(ci * k * k)
        shape = f"N{N} {ci}->{co} k{k} {s}x{s}" + (f" stride {st}" if st > 1 else "")
        yield dict(name=f"conv2d {shape}", op="conv2d", shape=shape, group="conv",
                   inputs=[rng.random((N, ci, s, s), dtype=np.float32),
                           _uniform(rng, (co, ci, k, k), b), _uniform(rng, (co,), b)],
                   minstn=lambda x, w, bias, st=st: MF.conv2d(x, w, bias, stride=st),
                   torch=lambda x, w, bias, st=st: TF.conv2d(x, w, bias, stride=st))
    for N, ci, co, k, L in shapes1d:
        b = 1 / math.sqrt(ci * k)
        yield dict(name=f"conv1d N{N} {ci}->{co} k{k} L{L}", op="conv1d",
                   shape=f"N{N} {ci}->{co} k{k} L{L}", group="conv",
                   inputs=[rng.random((N, ci, L), dtype=np.float32),
                           _uniform(rng, (co, ci, k), b), _uniform(rng, (co,), b)],
                   minstn=lambda x, w, bias: MF.conv1d(x, w, bias),
                   torch=lambda x, w, bias: TF.conv1d(x, w, bias))


def cases_lstm(rng, shapes):
    """minstn.nn.LSTM vs torch.nn.LSTM(batch_first=True) with the same weights; zero h0, c0."""
    for N, T, D, H in shapes:
        b = 1 / math.sqrt(H)
        arrays = [rng.standard_normal((N, T, D)).astype(np.float32),
                  _uniform(rng, (4 * H, D), b), _uniform(rng, (4 * H, H), b),
                  _uniform(rng, (4 * H,), b), _uniform(rng, (4 * H,), b)]
        yield dict(name=f"lstm N{N} T{T} D{D} H{H}", op="LSTM (1 layer)",
                   shape=f"N{N} T{T} D{D} H{H}", group="lstm", inputs=arrays)


LSTM_WEIGHTS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def _lstm(framework, arrays, device="cpu"):
    """(out_fn, leaves): a one-layer LSTM holding the case's weights, input x (N, T, D)."""
    x, *weights = arrays
    if framework == "minstn":
        m = minstn.nn.LSTM(x.shape[2], weights[1].shape[1])
        for name, w in zip(LSTM_WEIGHTS, weights):
            getattr(m, name).data = w.copy()
        m.to(device)
        xt = minstn.Tensor(x.copy(), requires_grad=True, device=device)
    else:
        m = torch.nn.LSTM(x.shape[2], weights[1].shape[1], batch_first=True)
        with torch.no_grad():
            for name, w in zip(LSTM_WEIGHTS, weights):
                getattr(m, name).copy_(torch.from_numpy(w))
        m.to(device)
        xt = torch.from_numpy(x.copy()).to(device).requires_grad_(True)
    return (lambda: m(xt)[0]), [xt] + [getattr(m, n) for n in LSTM_WEIGHTS]


def _build(case, framework, device="cpu"):
    """(out_fn, leaves) for one framework: every input array becomes a leaf needing grad,
    on `device` ("cpu", or "cuda" for bench/gpu.py)."""
    if case["group"] == "lstm":
        return _lstm(framework, case["inputs"], device)
    if framework == "minstn":
        leaves = [minstn.Tensor(a.copy(), requires_grad=True, device=device)
                  for a in case["inputs"]]
    else:
        leaves = [torch.from_numpy(a.copy()).to(device).requires_grad_(True)
                  for a in case["inputs"]]
    fn = case[framework]
    return (lambda: fn(*leaves)), leaves


def _to_numpy(t):
    """A minstn Tensor or torch tensor, on any device, as a NumPy array."""
    return t.numpy() if isinstance(t, minstn.Tensor) else t.detach().cpu().numpy()


def _rel_diff(a, b):
    return float(np.max(np.abs(a - b)) / max(1e-12, float(np.max(np.abs(b)))))


def run_op_case(case, rng, args):
    """Time forward and forward+backward of one case; check minstn against torch once."""
    fws = {k: _build(case, k) for k, lib in (("minstn", minstn), ("torch", torch))
           if lib is not None}                  # one of them only in a --split child
    out_shape = tuple(next(iter(fws.values()))[0]().shape)
    g = rng.standard_normal(out_shape).astype(np.float32)             # upstream gradient
    gs = {"minstn": g, "torch": torch.from_numpy(g.copy()) if torch is not None else None}

    def fwdbwd_fn(k):
        out_fn, leaves = fws[k]

        def f():
            for t in leaves:
                t.grad = None
            out_fn().backward(gs[k])
        return f

    fwd = measure({k: v[0] for k, v in fws.items()}, args.repeats, args.warmup, args.min_time)
    fb = measure({k: fwdbwd_fn(k) for k in fws}, args.repeats, args.warmup, args.min_time)
    row = {k: case[k] for k in ("name", "op", "shape", "group")}
    row.update(forward=fwd, forward_backward=fb, target=RATIO_TARGETS[case["group"]])
    if len(fws) == 2:
        row["ratio_forward"] = fwd["minstn"]["median_ms"] / fwd["torch"]["median_ms"]
        row["ratio_forward_backward"] = fb["minstn"]["median_ms"] / fb["torch"]["median_ms"]
        # parity: the same numbers on both sides, else the comparison means nothing
        outs = {k: _to_numpy(fws[k][0]()) for k in fws}
        diffs = [_rel_diff(outs["minstn"], outs["torch"])]
        for k in fws:
            fwdbwd_fn(k)()
        for lm, lt in zip(fws["minstn"][1], fws["torch"][1]):
            diffs.append(_rel_diff(lm.grad, lt.grad.numpy()))
        row["max_rel_diff_vs_torch"] = max(diffs)
    row["pass"] = verdict(row.get("ratio_forward_backward"), row["target"])
    return row


# ---- ST-CNN training step ----------------------------------------------------------------------

def _torch_stcnn(canvas, st_out):
    """The ST-CNN of minstn.models.STCNN in PyTorch, with the same parameter names."""
    nn = torch.nn

    def after(size, k):
        return (size - k + 1) // 2

    s_loc, s_cls = after(after(canvas, 7), 5), after(after(st_out, 5), 5)

    class ST(nn.Module):
        def __init__(self):
            super().__init__()
            self.localization = nn.Sequential(
                nn.Conv2d(1, 8, 7), nn.MaxPool2d(2), nn.ReLU(),
                nn.Conv2d(8, 10, 5), nn.MaxPool2d(2), nn.ReLU(),
                nn.Flatten(), nn.Linear(10 * s_loc * s_loc, 32), nn.ReLU())
            self.fc = nn.Linear(32, 6)

        def forward(self, x):
            n, c = x.shape[:2]
            theta = self.fc(self.localization(x)).reshape(n, 2, 3)                 # (N, 2, 3)
            grid = TF.affine_grid(theta, (n, c, st_out, st_out), align_corners=False)
            return TF.grid_sample(x, grid, mode="bilinear", padding_mode="zeros",
                                  align_corners=False)                           # (N, C, s, s)

    class STCNNTorch(nn.Module):
        def __init__(self):
            super().__init__()
            self.st0 = ST()
            self.head = nn.Sequential(
                nn.Conv2d(1, 32, 5), nn.MaxPool2d(2), nn.ReLU(),
                nn.Conv2d(32, 64, 5), nn.MaxPool2d(2), nn.ReLU(),
                nn.Flatten(), nn.Linear(64 * s_cls * s_cls, 128), nn.ReLU(),
                nn.Dropout(0.5), nn.Linear(128, 10))

        def forward(self, x):
            return self.head(self.st0(x))

    return STCNNTorch()


def make_step(framework, batch, canvas, st_out, seed=0, minstn_init=True, device="cpu"):
    """(step, check, n_params): one SGD training step of the ST-CNN on a fixed random batch,
    and a function returning eval-mode logits as a NumPy array (for the parity check).
    Both frameworks start from minstn's initial weights, unless minstn_init=False (torch's
    own init, so a torch-only process never loads minstn). device: where the model and
    batch live ("cuda" for bench/gpu.py)."""
    rng = np.random.default_rng(seed)
    x = rng.random((batch, 1, canvas, canvas), dtype=np.float32)           # (N, 1, canvas, canvas)
    y = rng.integers(0, 10, batch)
    if framework == "minstn" or minstn_init:
        from minstn.models import STCNN
        model = STCNN(canvas=canvas, st_out=st_out, generator=np.random.default_rng(seed))
    if framework == "minstn":
        from minstn.optim import SGD
        model.to(device)
        opt = SGD(model.parameters(), lr=LR)
        xt, yt = minstn.Tensor(x, device=device), minstn.Tensor(y, device=device)
        loss_fn, no_grad = MF.cross_entropy, minstn.no_grad
        n_params = model.num_parameters()
    else:
        tm = _torch_stcnn(canvas, st_out)
        if minstn_init:
            tm.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
        model = tm.to(device)
        opt = torch.optim.SGD(model.parameters(), lr=LR)
        xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        loss_fn, no_grad = TF.cross_entropy, torch.no_grad
        n_params = sum(p.numel() for p in model.parameters())

    def step():
        opt.zero_grad()
        loss_fn(model(xt), yt).backward()
        opt.step()

    def check():
        model.eval()
        with no_grad():
            out = _to_numpy(model(xt))
        model.train()
        return out
    return step, check, n_params


def run_stcnn(cfg, args):
    fws = {"minstn": make_step("minstn", **cfg)}
    if torch is not None:
        fws["torch"] = make_step("torch", **cfg)
    res = {"batch": cfg["batch"], "canvas": cfg["canvas"], "st_out": cfg["st_out"], "lr": LR,
           "params": {k: int(v[2]) for k, v in fws.items()}}
    if torch is not None:      # before training: the same weights give the same logits
        res["max_rel_diff_vs_torch"] = _rel_diff(fws["minstn"][1](), fws["torch"][1]())
    res["step"] = measure({k: v[0] for k, v in fws.items()}, args.repeats, args.warmup,
                          args.min_time)
    res["images_per_s"] = {k: cfg["batch"] / (v["median_ms"] / 1e3) for k, v in res["step"].items()}
    if torch is not None:
        res["ratio_images_per_s"] = res["images_per_s"]["minstn"] / res["images_per_s"]["torch"]
    res["target"] = STEP_TARGET
    res["pass"] = verdict(res.get("ratio_images_per_s"), STEP_TARGET, at_most=False)
    return res


# ---- peak memory of one training step (fresh subprocess per framework) -----------------------

def _proc_status():
    """VmRSS and VmHWM (peak RSS) of this process in MiB."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, val = line.split(":")
                out[key] = int(val.split()[0]) / 1024
    return out


def child_memory(framework, cfg):
    """Runs in a fresh process. Peak RSS growth of a step, three ways (see bench/README.md)."""
    import resource
    import tracemalloc
    rss_import = _proc_status()["VmRSS"]
    step, _, _ = make_step(framework, **cfg, minstn_init=False)
    rss0 = _proc_status()["VmRSS"]
    step()                                                    # first step: includes one-time init
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux
    res = {"rss_after_import_mb": rss_import, "rss_before_first_step_mb": rss0,
           "first_step_maxrss_growth_mb": maxrss - rss0}
    step()
    gc.collect()
    rss1 = _proc_status()["VmRSS"]
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")                                      # reset VmHWM to the current RSS
        step()
        res["step_peak_rss_growth_mb"] = _proc_status()["VmHWM"] - rss1
    except OSError as e:
        res["step_peak_rss_growth_mb"] = None
        res["clear_refs_error"] = str(e)
    res["rss_before_step_mb"] = rss1
    if framework == "minstn":                                 # NumPy reports to tracemalloc
        tracemalloc.start()
        step()
        cur, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        res["tracemalloc_peak_mb"] = peak / 2**20
        res["tracemalloc_end_mb"] = cur / 2**20
    return res


def _child(mode, args, env_extra):
    """Run this script in `mode` in a fresh process; returns its JSON result."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", mode, "--threads",
           str(args.threads)] + (["--tiny"] if args.tiny else [])
    env = {**os.environ, **_thread_env(args.threads), **env_extra,
           "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def run_memory(args):
    fws = ["minstn"] + (["torch"] if torch is not None else [])
    res = {k: _child(f"memory:{k}", args, {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD)})
           for k in fws}
    res["method"] = ("fresh process per framework (the torch one loads neither minstn nor Numba; "
                     "torch's own init), MALLOC_MMAP_THRESHOLD_=131072; "
                     "step_peak_rss_growth = VmHWM - VmRSS over a warm step (VmHWM reset via "
                     "/proc/self/clear_refs); first_step_maxrss_growth = ru_maxrss - RSS over the "
                     "first step; tracemalloc = NumPy allocations outside Numba kernels (minstn)")
    return res


# ---- Numba cold vs warm start --------------------------------------------------------------------

STARTUP_CHILD = r"""
import time; t0 = time.perf_counter()
import json, sys
import numpy as np
import minstn, minstn.functional as F
from minstn.models import STCNN
from minstn.optim import SGD
t_import = time.perf_counter() - t0
batch, canvas, st_out = {batch}, {canvas}, {st_out}
rng = np.random.default_rng(0)
x = minstn.Tensor(rng.random((batch, 1, canvas, canvas), dtype=np.float32))
y = minstn.Tensor(rng.integers(0, 10, batch))
model = STCNN(canvas=canvas, st_out=st_out, generator=np.random.default_rng(0))
opt = SGD(model.parameters(), lr=0.01)
t1 = time.perf_counter()
opt.zero_grad(); loss = F.cross_entropy(model(x), y); loss.backward(); opt.step()
t2 = time.perf_counter()
print(json.dumps(dict(import_s=t_import, build_s=t1 - t0 - t_import, first_step_s=t2 - t1,
                      time_to_first_batch_s=t2 - t0)))
"""


def run_startup(args, cfg):
    """`import minstn` + one ST-CNN step in a fresh process: empty Numba cache, then warm."""
    code = STARTUP_CHILD.format(**cfg)
    cache = tempfile.mkdtemp(prefix="minstn-numba-cache-")
    env = {**os.environ, **_thread_env(args.threads), "NUMBA_CACHE_DIR": cache,
           "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    res = {}

    def cached():
        return {os.path.join(d, f) for d, _, fs in os.walk(cache) for f in fs
                if f.endswith(".nbc")}

    try:
        for label in ("cold", "warm"):
            before = cached()
            t = time.perf_counter()
            p = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT,
                               capture_output=True, text=True, timeout=1800)
            wall = time.perf_counter() - t
            if p.returncode != 0:
                raise RuntimeError(f"startup child ({label}) failed:\n{p.stderr[-3000:]}")
            res[label] = {**json.loads(p.stdout.strip().splitlines()[-1]), "process_wall_s": wall,
                          # kernels compiled (not loaded) in this run; a warm run should have none
                          "compiled": sorted(os.path.basename(f) for f in cached() - before)}
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    res["target_s"] = WARM_START_TARGET
    res["pass"] = verdict(res["warm"]["time_to_first_batch_s"], WARM_START_TARGET)
    res["batch"] = cfg["batch"]
    return res


# ---- machine, output --------------------------------------------------------------------------

def machine_info(args):
    import numba
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                       cpu)
    except OSError:
        pass
    try:
        layer = numba.threading_layer()
    except ValueError:                 # no parallel kernel has run yet
        layer = None
    return {"cpu_model": cpu, "logical_cores": os.cpu_count(),
            "usable_cores": len(os.sched_getaffinity(0)), "platform": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "minstn": minstn.__version__ if minstn else None,
            "torch": torch.__version__ if torch is not None else None,
            "threads": args.threads, "numba_threads": numba.get_num_threads(),
            "numba_threading_layer": layer,
            "torch_threads": torch.get_num_threads() if torch is not None else None,
            "numba_disable_jit": os.environ.get("NUMBA_DISABLE_JIT", "0"),
            "minstn_blas": _blas_described(), "load_average": os.getloadavg()}


def _blas_described():
    """The library minstn's kernels run their products on (kernels/cpu/_gemm.py)."""
    try:
        from minstn.kernels.cpu import _blas
    except ImportError:
        return None
    return _blas.describe()


def _ms(s):
    if s is None:
        return "—"
    return f"{s['median_ms']:.3g} [{s['iqr_ms']:.2g}]"


def _x(v):
    return "—" if v is None else f"{v:.2f}×"


def _ok(v):
    return "—" if v is None else v


def markdown(res):
    m = res["machine"]
    lines = [f"minstn vs PyTorch {m['torch'] or '(not run)'} CPU — {m['cpu_model']}, "
             f"{m['threads']} thread(s), float32, {res['config']['repeats']} repeats. "
             f"Times: median [IQR] per call in ms; ratio = minstn ÷ torch (median).", ""]
    if res.get("ops"):
        lines += ["| op | shape | minstn fwd | torch fwd | fwd ratio | minstn fwd+bwd "
                  "| torch fwd+bwd | fwd+bwd ratio | target | pass |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in res["ops"]:
            aim = f" (aim {GRID_AIM}×)" if r["group"] == "grid" else ""
            tgt = f"≤ {r['target']:g}×{aim}"
            lines.append(
                f"| {r['op']} | {r['shape']} | {_ms(r['forward']['minstn'])} "
                f"| {_ms(r['forward'].get('torch'))} | {_x(r.get('ratio_forward'))} "
                f"| {_ms(r['forward_backward']['minstn'])} "
                f"| {_ms(r['forward_backward'].get('torch'))} "
                f"| {_x(r.get('ratio_forward_backward'))} | {tgt} | {_ok(r['pass'])} |")
        lines.append("")
    s = res.get("stcnn_step")
    if s:
        ips = s["images_per_s"]
        lines += ["| training step (ST-CNN, SGD) | batch | minstn ms/step | torch ms/step "
                  "| minstn images/s | torch images/s | ratio (images/s) | target | pass |",
                  "|---|---|---|---|---|---|---|---|---|",
                  f"| STCNN(canvas={s['canvas']}, st_out={s['st_out']}) | {s['batch']} "
                  f"| {_ms(s['step']['minstn'])} | {_ms(s['step'].get('torch'))} "
                  f"| {ips['minstn']:.0f} | "
                  + (f"{ips['torch']:.0f}" if "torch" in ips else "—")
                  + f" | {_x(s.get('ratio_images_per_s'))} | ≥ {STEP_TARGET}× "
                  f"| {_ok(s['pass'])} |",
                  ""]
    mem = res.get("memory")
    if mem:
        lines += ["| peak memory of one training step (MiB) | minstn | torch |",
                  "|---|---|---|"]
        keys = [("step_peak_rss_growth_mb", "RSS growth during a warm step"),
                ("first_step_maxrss_growth_mb", "maxrss growth over the first step"),
                ("tracemalloc_peak_mb", "tracemalloc peak (NumPy arrays only)"),
                ("rss_after_import_mb", "RSS after imports"),
                ("rss_before_step_mb", "RSS before the step (model + data + runtime)")]
        for key, label in keys:
            cells = []
            for fw in ("minstn", "torch"):
                v = mem.get(fw, {}).get(key)
                cells.append("—" if v is None else f"{v:.1f}")
            lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
        lines += ["", "Memory method: " + mem["method"] + ".", ""]
    st = res.get("startup")
    if st:
        lines += ["| Numba cache | import (s) | first step (s) | time to first batch (s) "
                  "| process wall (s) | kernels compiled | target | pass |",
                  "|---|---|---|---|---|---|---|---|"]
        for label in ("cold", "warm"):
            r = st[label]
            tgt, ok = (f"≤ {WARM_START_TARGET:g} s", st["pass"]) if label == "warm" else ("", "")
            lines.append(f"| {label} | {r['import_s']:.2f} | {r['first_step_s']:.2f} "
                         f"| {r['time_to_first_batch_s']:.2f} | {r['process_wall_s']:.2f} "
                         f"| {len(r['compiled'])} | {tgt} | {ok} |")
        lines.append("")
        if st["warm"]["compiled"]:
            lines += ["Warm run compiled (cache misses): "
                      + ", ".join(st["warm"]["compiled"]) + ".", ""]
    return "\n".join(lines)


# ---- main ---------------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                   help="threads for Numba, PyTorch and BLAS (default: all usable cores)")
    p.add_argument("--repeats", type=int, default=None, help="timed samples per measurement "
                   "(default 30, --quick 3)")
    p.add_argument("--warmup", type=int, default=None, help="untimed calls first (default 3, "
                   "--quick 1)")
    p.add_argument("--min-time", type=float, default=None, help="seconds a sample lasts at "
                   "least, by calling the op several times (default 0.02, --quick 0)")
    p.add_argument("--quick", action="store_true", help="few repeats (noisy; for tests)")
    p.add_argument("--tiny", action="store_true", help="tiny shapes (smoke test of the harness)")
    p.add_argument("--only", default=None, help="comma-separated substrings: run only the "
                   "benchmarks whose name contains one (e.g. grid, conv2d, lstm, stcnn, memory, "
                   "startup)")
    p.add_argument("--no-torch", action="store_true", help="minstn timings only, as without torch")
    p.add_argument("--json", default=None, help="results path (default "
                   "bench/results/<date>_<time>.json)")
    p.add_argument("--markdown", default=None, help="also write the Markdown table here")
    p.add_argument("--split", type=int, default=0, metavar="ROUNDS",
                   help="ops only: time each framework in its own process, ROUNDS times in "
                        "alternating order, and take the median over rounds (two thread "
                        "pools in one process slow each other); no parity check")
    p.add_argument("--framework", choices=("minstn", "torch"), default=None,
                   help=argparse.SUPPRESS)     # a --split child: this framework's ops only
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    args.repeats = args.repeats or (3 if args.quick else 30)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    args.min_time = args.min_time if args.min_time is not None else (0.0 if args.quick else 0.02)
    return args


def main(argv=None):
    args = parse_args(argv)
    os.environ.update(_thread_env(args.threads))          # before NumPy / Numba / torch load
    shapes = TINY if args.tiny else dict(GRID2D=GRID2D, GRID1D=GRID1D, CONV2D=CONV2D,
                                         CONV1D=CONV1D, LSTMS=LSTMS, STCNN=STCNN)
    if args.child:
        mode, _, fw = args.child.partition(":")
        _import_libs(no_torch=fw != "torch", no_minstn=fw != "minstn")
        _set_threads(args.threads)
        print(json.dumps(child_memory(fw, shapes["STCNN"])))
        return 0
    if args.split:
        return run_split(args, argv)
    _import_libs(args.no_torch or args.framework == "minstn", no_minstn=args.framework == "torch")
    _set_threads(args.threads)
    wanted = [s.strip() for s in args.only.split(",")] if args.only else None

    def selected(name):
        return wanted is None or any(w in name for w in wanted)

    rng = np.random.default_rng(0)
    cases = [*cases_grid2d(rng, shapes["GRID2D"]), *cases_grid1d(rng, shapes["GRID1D"]),
             *cases_conv(rng, shapes["CONV2D"], shapes["CONV1D"]),
             *cases_lstm(rng, shapes["LSTMS"])]
    if torch is None:
        print("PyTorch not used (" + ("--no-torch" if args.no_torch else "not installed")
              + "): minstn timings only.", file=sys.stderr)
    t_start = time.time()
    res = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
           "command": " ".join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]) if argv is None
           else " ".join(["bench/run.py", *argv]),
           "config": {"repeats": args.repeats, "warmup": args.warmup, "min_time_s": args.min_time,
                      "quick": args.quick, "tiny": args.tiny, "only": args.only,
                      "no_torch": args.no_torch, "dtype": "float32"},
           "ops": []}
    for case in cases:
        if selected(case["name"]):
            print(f"  {case['name']} ...", file=sys.stderr, flush=True)
            res["ops"].append(run_op_case(case, rng, args))
    if args.framework:                           # a --split child: the parent merges
        res["machine"] = machine_info(args)
        with open(args.json, "w") as f:
            json.dump(res, f)
        return 0
    if selected("stcnn step"):
        print("  stcnn step ...", file=sys.stderr, flush=True)
        res["stcnn_step"] = run_stcnn(shapes["STCNN"], args)
    if selected("memory"):
        print("  memory ...", file=sys.stderr, flush=True)
        res["memory"] = run_memory(args)
    if selected("startup"):
        print("  startup (cold Numba cache: compiles every kernel) ...", file=sys.stderr,
              flush=True)
        res["startup"] = run_startup(args, shapes["STCNN"])
    res["machine"] = machine_info(args)
    res["wall_s"] = time.time() - t_start
    write_results(res, markdown(res), args.json, args.markdown)
    return 0


def run_split(args, argv):
    """--split ROUNDS: the ops, each framework in a fresh process per round (order alternating),
    the figures the median over rounds; written as one result like a one-process run."""
    import statistics
    import numpy
    global np
    np = numpy
    base = [a for a in (sys.argv[1:] if argv is None else argv)]
    i = base.index("--split")
    base = base[:i] + base[i + 2:]
    rounds = {"minstn": [], "torch": []}
    t_start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.split):
            for fw in (("minstn", "torch") if r % 2 == 0 else ("torch", "minstn")):
                out = os.path.join(tmp, f"{fw}{r}.json")
                cmd = [sys.executable, os.path.abspath(__file__), *base, "--framework", fw,
                       "--json", out]
                print(f"  round {r + 1}: {fw} ...", file=sys.stderr, flush=True)
                p = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **_thread_env(args.threads)},
                                   capture_output=True, text=True, timeout=7200)
                if p.returncode != 0:
                    raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stderr[-3000:]}")
                with open(out) as f:
                    rounds[fw].append(json.load(f))
    ops = []
    for k, row in enumerate(rounds["minstn"][0]["ops"]):
        merged = {key: row[key] for key in ("name", "op", "shape", "group", "target")}
        for phase in ("forward", "forward_backward"):
            merged[phase] = {}
            for fw in ("minstn", "torch"):
                per_round = [run["ops"][k][phase][fw] for run in rounds[fw]]
                merged[phase][fw] = {
                    "median_ms": statistics.median(x["median_ms"] for x in per_round),
                    "rounds_median_ms": [x["median_ms"] for x in per_round],
                    "q1_ms": statistics.median(x["q1_ms"] for x in per_round),
                    "q3_ms": statistics.median(x["q3_ms"] for x in per_round),
                    "iqr_ms": statistics.median(x["iqr_ms"] for x in per_round)}
        merged["ratio_forward"] = (merged["forward"]["minstn"]["median_ms"]
                                   / merged["forward"]["torch"]["median_ms"])
        merged["ratio_forward_backward"] = (merged["forward_backward"]["minstn"]["median_ms"]
                                            / merged["forward_backward"]["torch"]["median_ms"])
        merged["pass"] = verdict(merged["ratio_forward_backward"], merged["target"])
        ops.append(merged)
    machine = dict(rounds["minstn"][0]["machine"])
    machine["torch"] = rounds["torch"][0]["machine"]["torch"]
    machine["torch_threads"] = rounds["torch"][0]["machine"]["torch_threads"]
    res = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
           "command": " ".join(["bench/run.py", *(sys.argv[1:] if argv is None else argv)]),
           "config": {**rounds["minstn"][0]["config"], "split_rounds": args.split},
           "ops": ops, "machine": machine, "wall_s": time.time() - t_start}
    write_results(res, markdown(res), args.json, args.markdown)
    return 0


def write_results(res, table, json_path=None, markdown_path=None, prefix=""):
    """Print the table; write the JSON (default bench/results/<prefix><date>_<time>.json) and,
    if asked, the Markdown table."""
    print(table)
    path = json_path or os.path.join(ROOT, "bench", "results", prefix + datetime.datetime.now()
                                     .strftime("%Y-%m-%d_%H%M%S") + ".json")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
    print(f"results: {path}", file=sys.stderr)
    if markdown_path:
        with open(markdown_path, "w") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    sys.exit(main())
