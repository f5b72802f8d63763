"""Where the time of the two slowest benchmark rows goes: conv2d 32->64 and the LSTM H64.

    OPENBLAS_NUM_THREADS=1 python bench/profile_parts.py
    OPENBLAS_NUM_THREADS=2 python bench/profile_parts.py

Thread counts follow OPENBLAS_NUM_THREADS (set it before the run: NumPy reads it
at import). Prints medians in ms; docs/performance.md quotes them.

conv2d N64 32->64 k5 on 12x12: the whole CPU kernels (forward + backward, no
autograd), one chunk's SGEMM alone, and each piece of the kernel (im2col, the
products, col2im, the transposes) timed one by one with the kernel's own chunking.
Timing the pieces from Python lets BLAS's threads sleep between calls, so at 2
threads their products read slower than inside the kernel; the whole-kernel and
one-chunk lines are the ones to compare across thread counts.

LSTM N64 T48 D76 H64: nn.LSTM forward + backward, against only its matrix
products (96 per-step products and the 4 whole-sequence ones) on the same shapes;
the difference is the element-wise work, which runs on one thread.
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from minstn import Tensor, nn  # noqa: E402
from minstn.kernels.cpu import conv as K  # noqa: E402


def median_ms(f, reps=40):
    f(), f()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return 1e3 * float(np.median(ts))


def conv(n=64, c=32, o=64, k=5, h=12):
    rng = np.random.default_rng(0)
    x = rng.random((n, c, h, h), dtype=np.float32)
    w = ((rng.random((o, c, k, k)) - 0.5) * 0.07).astype(np.float32)
    b = np.zeros(o, np.float32)
    ho = h - k + 1
    out = np.empty((n, o, ho, ho), np.float32)
    g = rng.standard_normal(out.shape).astype(np.float32)
    gx, gw, gb = np.empty_like(x), np.empty_like(w), np.empty(o, np.float32)
    kk, p = c * k * k, ho * ho
    chunk = K._chunk_size(n, kk, p)
    w2 = w.reshape(o, kk)
    cols = np.empty((kk, chunk * p), np.float32)
    res, gg = np.empty((o, chunk * p), np.float32), np.empty((o, chunk * p), np.float32)
    gw2 = np.zeros((o, kk), np.float32)

    def whole():
        K.conv2d_forward(x, w, b, out, 1, 1, 0, 0)
        K.conv2d_backward(x, w, g, gx, gw, gb, 1, 1, 0, 0)

    parts = dict.fromkeys(("im2col (fwd + again for grad_w)", "products", "col2im",
                           "transposes"), 0.0)

    def pieces():                             # the kernels' loop, timed piece by piece
        for n0 in range(0, n - chunk + 1, chunk):    # whole chunks only
            t0 = time.perf_counter()
            K._im2col(x, n0, cols, k, k, 1, 1, 0, 0, ho, ho)
            t1 = time.perf_counter()
            np.dot(w2, cols, res)
            t2 = time.perf_counter()
            K._chunk_out(res, b, out, n0)
            K._chunk_grad(g, n0, gg)
            t3 = time.perf_counter()
            np.add(gw2, np.dot(gg, cols.T), out=gw2)
            np.dot(w2.T, gg, cols)
            t4 = time.perf_counter()
            K._col2im(cols, n0, gx, k, k, 1, 1, 0, 0, ho, ho)
            t5 = time.perf_counter()
            parts["im2col (fwd + again for grad_w)"] += 2 * (t1 - t0)
            parts["products"] += (t2 - t1) + (t4 - t3)
            parts["transposes"] += t3 - t2
            parts["col2im"] += t5 - t4

    reps = 30
    pieces()
    for key in parts:
        parts[key] = 0.0
    for _ in range(reps):
        pieces()
    print(f"conv2d N{n} {c}->{o} k{k} {h}x{h}: whole kernels fwd+bwd {median_ms(whole):.2f} ms; "
          f"one chunk's product ({o}x{kk} by {kk}x{chunk * p}) "
          f"{median_ms(lambda: np.dot(w2, cols, res), 200):.3f} ms")
    print(f"  pieces over the {n // chunk} whole chunks of {chunk} samples (mean per call): "
          + ", ".join(f"{key} {1e3 * v / reps:.2f} ms" for key, v in parts.items()))


def lstm(n=64, t=48, d=76, h=64):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, t, d), dtype=np.float32)
    w_ih = (rng.standard_normal((4 * h, d)) * 0.1).astype(np.float32)
    w_hh = (rng.standard_normal((4 * h, h)) * 0.1).astype(np.float32)
    hs = rng.standard_normal((n, h), dtype=np.float32)
    da = rng.standard_normal((n, 4 * h), dtype=np.float32)
    dA = rng.standard_normal((n * t, 4 * h), dtype=np.float32)
    hp = rng.standard_normal((n * t, h), dtype=np.float32)
    a, gh = np.empty((n, 4 * h), np.float32), np.empty((n, h), np.float32)
    big, gx = np.empty((n * t, 4 * h), np.float32), np.empty((n * t, d), np.float32)
    gwi, gwh = np.empty((4 * h, d), np.float32), np.empty((4 * h, h), np.float32)
    x2 = x.reshape(n * t, d)

    def step_products():
        for _ in range(t):
            np.dot(hs, w_hh.T, out=a)
        for _ in range(t):
            np.dot(da, w_hh, out=gh)

    def sequence_products():
        np.dot(x2, w_ih.T, out=big)
        np.dot(dA, w_ih, out=gx)
        np.dot(dA.T, x2, out=gwi)
        np.dot(dA.T, hp, out=gwh)

    model = nn.LSTM(d, h, batch_first=True, generator=np.random.default_rng(1))
    xt = Tensor(x, requires_grad=True)

    def whole():
        out, _ = model(xt)
        out.sum().backward()

    tw, ts, tq = median_ms(whole), median_ms(step_products), median_ms(sequence_products)
    print(f"LSTM N{n} T{t} D{d} H{h}: nn.LSTM fwd+bwd {tw:.2f} ms; {2 * t} per-step products "
          f"{ts:.2f} ms; 4 whole-sequence products {tq:.2f} ms; the rest {tw - ts - tq:.2f} ms")


if __name__ == "__main__":
    print(f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(all cores)')}")
    conv()
    lstm()
