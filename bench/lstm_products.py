"""The matrix products an LSTM training step cannot avoid, timed alone: a lower bound.

    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python bench/lstm_products.py   # exp4's shape
    python bench/lstm_products.py --shape 64 48 76 64 --dx                       # the op row

Times the products of `minstn/kernels/cpu/lstm.py` exactly as its kernels call them
(`gemm` from Numba, float32, whole contiguous matrices), without the element-wise work
between them:
- the input projection X W_ihᵀ;
- the T recurrent products of the forward, h W_hhᵀ;
- the T recurrent products of the backward, dA W_hh;
- the weight gradients dAᵀ X and dAᵀ H_prev;
- with --dx, the input gradient dA W_ih (the exp4-lstm step needs none: its input is data).

It also times one 1,024² product, for OpenBLAS's peak on the machine. Prints each product's
median time and GFLOP/s. docs/performance.md ("exp4-lstm on one thread") uses it to show how
much of a step's time budget the products leave for everything else.

`profile_parts.py` times the same products of the H64 op row in two sums, from Python, set
against the whole nn.LSTM. Here they are called from Numba, as the kernels call them: `gemm`
reaches NumPy's OpenBLAS when it finds it, or SciPy's, the one Numba's np.dot calls
(`minstn/kernels/cpu/_gemm.py`; MINSTN_BLAS=scipy picks SciPy's).
"""
import argparse

import numpy as np
from numba import njit

from profile_parts import median_ms     # (puts the checkout on sys.path)

from minstn.kernels.cpu._gemm import gemm


@njit(cache=False)
def _xproj(x, w_ih, gates):
    gemm(x, False, w_ih, True, gates)


@njit(cache=False)
def _recurrent_forward(h, w_hh, a, steps):
    for _ in range(steps):
        gemm(h, False, w_hh, True, a)


@njit(cache=False)
def _recurrent_backward(da, w_hh, gh, steps):
    for _ in range(steps):
        gemm(da, False, w_hh, False, gh)


@njit(cache=False)
def _weight_grads(dA, x, hprev, gw_ih, gw_hh):
    gemm(dA, True, x, False, gw_ih)
    gemm(dA, True, hprev, False, gw_hh)


@njit(cache=False)
def _input_grad(dA, w_ih, gx):
    gemm(dA, False, w_ih, False, gx)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", type=int, nargs=4, default=(64, 48, 84, 64), metavar=("N", "T", "D", "H"))
    p.add_argument("--dx", action="store_true", help="also the input gradient dA W_ih")
    p.add_argument("--reps", type=int, default=40, help="calls timed per product (median)")
    args = p.parse_args(argv)
    n, t, d, h = args.shape
    g = 4 * h
    rng = np.random.default_rng(0)

    def arr(*shape):
        return rng.standard_normal(shape).astype(np.float32)
    x, w_ih, w_hh, dA, hprev = arr(n * t, d), arr(g, d), arr(g, h), arr(n * t, g), arr(n * t, h)
    rows = [("input projection", 2 * n * t * d * g, _xproj, (x, w_ih, arr(n * t, g))),
            (f"{t} recurrent, forward", 2 * t * n * h * g, _recurrent_forward,
             (arr(n, h), w_hh, arr(n, g), t)),
            (f"{t} recurrent, backward", 2 * t * n * g * h, _recurrent_backward,
             (arr(n, g), w_hh, arr(n, h), t)),
            ("weight gradients", 2 * g * n * t * (d + h), _weight_grads,
             (dA, x, hprev, arr(g, d), arr(g, h)))]
    if args.dx:
        rows.append(("input gradient", 2 * n * t * g * d, _input_grad, (dA, w_ih, arr(n * t, d))))
    print(f"LSTM N{n} T{t} D{d} H{h}, float32, median of {args.reps} calls")
    print("| product | MFLOP | ms | GFLOP/s |\n|---|---|---|---|")
    total_ms = total_flop = 0.0
    for name, flop, fn, fn_args in rows:
        ms = median_ms(lambda: fn(*fn_args), args.reps)
        total_ms, total_flop = total_ms + ms, total_flop + flop
        print(f"| {name} | {flop / 1e6:.1f} | {ms:.3f} | {flop / ms / 1e6:.1f} |")
    print(f"| all | {total_flop / 1e6:.1f} | {total_ms:.3f} | {total_flop / total_ms / 1e6:.1f} |")
    a, b, c = arr(1024, 1024), arr(1024, 1024), arr(1024, 1024)
    ms = median_ms(lambda: np.dot(a, b, out=c), max(3, args.reps // 3))
    print(f"\none 1,024² product (OpenBLAS's peak): {ms:.2f} ms, {2 * 1024 ** 3 / ms / 1e6:.1f} GFLOP/s")
    return total_ms


if __name__ == "__main__":
    main()
