"""CUDA twins of the dense kernels (linear, conv, pool, activations, losses, LSTM).

Kernel level: every public launcher against its CPU twin on the same float32
inputs (rtol 1e-5), forward and backward, with device arrays made by
numba.cuda.to_device; outputs start as NaN on the device, so an element a
kernel forgets to write fails. Determinism: repeated backward runs give
identical bytes. The float64 gradchecks of the ops on device="cuda" are the op
tests (test_conv.py, test_pool.py, test_nn_ops.py, test_lstm.py), parametrised over
the `device` fixture. Runs under the simulator (NUMBA_ENABLE_CUDASIM=1): shapes are tiny.
"""
import os, pytest
pytestmark = [pytest.mark.cudasim, pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") != "1" and not __import__("minstn").device.cuda_available(), reason="needs a GPU or NUMBA_ENABLE_CUDASIM=1")]

import numpy as np

from minstn.kernels import cpu as K

RTOL, ATOL = 1e-5, 1e-6


@pytest.fixture(scope="module")
def G():
    from minstn.kernels import backend
    return backend("cuda")


class Out:
    """An output argument: NaN (or -1) on the CPU and on the device before the call."""

    def __init__(self, shape, dtype=np.float32):
        self.shape, self.dtype = shape, np.dtype(dtype)

    def host(self):
        return np.full(self.shape, np.nan if self.dtype.kind == "f" else -1, self.dtype)


def run_both(G, name, *args):
    """Call kernel `name` on the CPU and on the device with the same arguments.

    Returns [(cpu, cuda)] for every array argument after the call (inputs too:
    a kernel may overwrite one, e.g. lstm_backward's gates).
    """
    from numba import cuda
    cpu_args = [a.host() if isinstance(a, Out) else
                (np.array(a) if isinstance(a, np.ndarray) else a) for a in args]
    dev_args = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in cpu_args]
    getattr(K, name)(*cpu_args)
    getattr(G, name)(*dev_args)
    return [(c, d.copy_to_host()) for c, d in zip(cpu_args, dev_args) if isinstance(c, np.ndarray)]


def assert_pairs(pairs):
    for k, (c, d) in enumerate(pairs):
        assert c.shape == d.shape and c.dtype == d.dtype, k
        if c.size:
            np.testing.assert_allclose(d, c, rtol=RTOL, atol=ATOL, err_msg=f"array argument {k}")


def f32(rng, *shape, lo=None):
    a = rng.standard_normal(shape).astype(np.float32)
    if lo is not None:                     # keep |a| >= lo: away from kinks
        a = np.where(a >= 0, a + lo, a - lo).astype(np.float32)
    return a


def skip(ndim=1):
    return np.zeros((0,) * ndim, np.float32)


def test_same_public_names_as_cpu(G):
    import inspect
    from minstn.kernels.cuda import activation, conv, linear, loss, lstm, pool
    from minstn.kernels.cpu import (activation as a2, conv as c2, linear as l2, loss as lo2,
                                    lstm as ls2, pool as p2)

    def py(f):                                        # the Python function of a dispatcher
        return getattr(f, "py_func", f)

    def public(m):
        return {n for n, f in vars(m).items() if not n.startswith("_")
                and inspect.isfunction(py(f)) and py(f).__module__ == m.__name__}
    for cu, cp in ((activation, a2), (conv, c2), (linear, l2), (loss, lo2), (lstm, ls2),
                   (pool, p2)):
        assert public(cu) == public(cp) != set(), cu.__name__
        for n in public(cp):
            assert (list(inspect.signature(getattr(cu, n)).parameters)
                    == list(inspect.signature(py(getattr(cp, n))).parameters)), n
            assert getattr(G, n) is getattr(cu, n)


# ---- gemm --------------------------------------------------------------------------------

@pytest.mark.parametrize("trans_a, trans_b, accumulate",
                         [(False, False, False), (True, False, False), (False, True, True),
                          (True, True, False)])
def test_gemm_against_numpy(trans_a, trans_b, accumulate):
    from numba import cuda
    from minstn.kernels.cuda._gemm import gemm
    rng = np.random.default_rng(0)
    m, n, k = 19, 17, 21                              # several tiles each way
    a = f32(rng, *((k, m) if trans_a else (m, k)))
    b = f32(rng, *((n, k) if trans_b else (k, n)))
    out0 = f32(rng, m, n)
    out = cuda.to_device(out0)
    gemm(cuda.to_device(a), cuda.to_device(b), out, trans_a, trans_b, accumulate)
    ref = (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b)
    np.testing.assert_allclose(out.copy_to_host(), ref + (out0 if accumulate else 0),
                               rtol=RTOL, atol=1e-5)


def test_sum_middle_against_numpy():
    from numba import cuda
    from minstn.kernels.cuda._gemm import sum_middle
    a = f32(np.random.default_rng(1), 7, 3, 11)       # 77 terms per output: > one block
    out = cuda.to_device(np.full(3, np.nan, np.float32))
    sum_middle(cuda.to_device(a), out)
    np.testing.assert_allclose(out.copy_to_host(), a.sum(axis=(0, 2)), rtol=RTOL, atol=ATOL)


# ---- linear ------------------------------------------------------------------------------

@pytest.mark.parametrize("bias", [True, False])
def test_linear_parity(G, bias):
    rng = np.random.default_rng(2)
    x, w, b = f32(rng, 5, 7), f32(rng, 3, 7), f32(rng, 3) if bias else skip()
    assert_pairs(run_both(G, "linear_forward", x, w, b, Out((5, 3))))
    g = f32(rng, 5, 3)
    assert_pairs(run_both(G, "linear_backward", x, w, g, Out((5, 7)), Out((3, 7)), Out((3,))))
    assert_pairs(run_both(G, "linear_backward", x, w, g, skip(2), Out((3, 7)), skip()))


# ---- activations -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid"])
def test_activation_parity(G, name):
    rng = np.random.default_rng(3)
    x = f32(rng, 3, 5, lo=0.05) * 3
    x[0, 0], x[0, 1] = 30.0, -30.0                    # saturated tails
    pairs = run_both(G, name + "_forward", x, Out(x.shape))
    assert_pairs(pairs)
    y = pairs[1][0]                                   # the CPU output, fed to both backwards
    assert_pairs(run_both(G, name + "_backward", y, f32(rng, 3, 5), Out(x.shape)))


def test_dropout_parity(G):
    rng = np.random.default_rng(4)
    x, g = f32(rng, 4, 6), f32(rng, 4, 6)
    keep = (rng.random((4, 6)) >= 0.3).astype(np.uint8)
    assert_pairs(run_both(G, "dropout_forward", x, keep, 1 / 0.7, Out(x.shape)))
    assert_pairs(run_both(G, "dropout_backward", keep, 1 / 0.7, g, Out(x.shape)))


# ---- losses ------------------------------------------------------------------------------

def test_log_softmax_parity(G):
    rng = np.random.default_rng(5)
    x = f32(rng, 4, 6) * 3
    pairs = run_both(G, "log_softmax_forward", x, Out(x.shape))
    assert_pairs(pairs)
    assert_pairs(run_both(G, "log_softmax_backward", pairs[1][0], f32(rng, 4, 6), Out(x.shape)))


def test_cross_entropy_parity(G):
    rng = np.random.default_rng(6)
    x, target = f32(rng, 5, 4) * 3, rng.integers(0, 4, 5).astype(np.int64)
    pairs = run_both(G, "cross_entropy_forward", x, target, Out(x.shape), Out((5,)))
    assert_pairs(pairs)
    assert_pairs(run_both(G, "cross_entropy_backward", pairs[2][0], target, f32(rng, 5),
                          Out(x.shape)))


@pytest.mark.parametrize("want_y", [True, False])
def test_bce_with_logits_parity(G, want_y):
    rng = np.random.default_rng(7)
    x, y = f32(rng, 3, 4) * 4, rng.random((3, 4)).astype(np.float32)
    x[0, 0], x[0, 1] = 40.0, -40.0
    pw = (rng.random(4) + 0.5).astype(np.float32)
    assert_pairs(run_both(G, "bce_with_logits_forward", x, y, pw, Out(x.shape)))
    assert_pairs(run_both(G, "bce_with_logits_backward", x, y, pw, f32(rng, 3, 4), Out(x.shape),
                          Out(x.shape) if want_y else skip(2)))


# ---- conv and pool -----------------------------------------------------------------------

CONV_CASES = [((2, 2, 5, 6), (3, 2, 3, 2), (1, 2), (1, 0)),     # x shape, w shape, stride, pad
              ((3, 1, 5, 5), (2, 1, 3, 3), (2, 2), (1, 1))]


def _conv_out(xs, ws, stride, pad):
    return (xs[0], ws[0], (xs[2] + 2 * pad[0] - ws[2]) // stride[0] + 1,
            (xs[3] + 2 * pad[1] - ws[3]) // stride[1] + 1)


@pytest.mark.parametrize("xs, ws, stride, pad", CONV_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_parity(G, xs, ws, stride, pad, bias):
    rng = np.random.default_rng(8)
    x, w = f32(rng, *xs), f32(rng, *ws)
    b = f32(rng, ws[0]) if bias else skip()
    os_ = _conv_out(xs, ws, stride, pad)
    assert_pairs(run_both(G, "conv2d_forward", x, w, b, Out(os_), *stride, *pad))
    g = f32(rng, *os_)
    assert_pairs(run_both(G, "conv2d_backward", x, w, g, Out(xs), Out(ws), Out((ws[0],)),
                          *stride, *pad))
    assert_pairs(run_both(G, "conv2d_backward", x, w, g, skip(4), Out(ws), skip(),
                          *stride, *pad))


@pytest.mark.parametrize("max_splits", [1, 2])
def test_conv2d_weight_grad_sample_groups(G, monkeypatch, max_splits):
    """The weight gradient's sample groups: one group (written in place), and 2 uneven ones."""
    from minstn.kernels.cuda import conv
    monkeypatch.setattr(conv, "MAX_SPLITS", max_splits)
    rng = np.random.default_rng(9)
    xs, ws, stride, pad = (3, 2, 4, 5), (2, 2, 2, 3), (1, 1), (0, 1)
    x, w = f32(rng, *xs), f32(rng, *ws)
    g = f32(rng, *_conv_out(xs, ws, stride, pad))
    assert_pairs(run_both(G, "conv2d_backward", x, w, g, skip(4), Out(ws), skip(),
                          *stride, *pad))


@pytest.mark.parametrize("kernel, stride", [((2, 2), (2, 2)), ((2, 3), (1, 2))])
def test_max_pool2d_parity(G, kernel, stride):
    rng = np.random.default_rng(10)
    x = rng.integers(-3, 4, (2, 2, 5, 6)).astype(np.float32)      # many ties: first max wins
    x[0, 0, 1, 1] = np.nan                                        # NaN propagates
    os_ = (2, 2, (5 - kernel[0]) // stride[0] + 1, (6 - kernel[1]) // stride[1] + 1)
    pairs = run_both(G, "max_pool2d_forward", x, Out(os_), Out(os_, np.int64), *kernel, *stride)
    assert_pairs(pairs)
    np.testing.assert_array_equal(pairs[2][1], pairs[2][0])
    g = f32(rng, *os_)
    pairs = run_both(G, "max_pool2d_backward", g, pairs[2][0], Out(x.shape))
    np.testing.assert_array_equal(pairs[2][1], pairs[2][0])       # same order of sums: same bits


# ---- lstm --------------------------------------------------------------------------------

def _lstm_arrays(rng, N=2, T=3, D=3, H=2):
    return (f32(rng, N, T, D), f32(rng, N, H) * 0.5, f32(rng, N, H) * 0.5,
            f32(rng, 4 * H, D) * 0.6, f32(rng, 4 * H, H) * 0.6, f32(rng, 4 * H) * 0.3)


def _lstm_run(be, put, args, grads_wanted, go, ghn, gcn):
    """Forward then backward on backend `be` (its own saved-array layout: batch-major on CUDA,
    time-major on the CPU); `put` moves a host array there. Returns host arrays: out, h_n,
    c_n, dA as (N, T, 4H), then the gradients (size 0 where not wanted)."""
    x, h0, c0, w_ih, w_hh, bias = (put(a) for a in args)
    N, T, D = args[0].shape
    H = args[1].shape[1]
    out, h_n, c_n = (put(np.empty(s, np.float32)) for s in ((N, T, H), (N, H), (N, H)))
    saved = be.lstm_saved_arrays(N, T, D, H, np.float32)
    be.lstm_forward(x, h0, c0, w_ih, w_hh, bias, out, h_n, c_n, saved)
    shapes = ((N, T, D), (N, H), (N, H), (4 * H, D), (4 * H, H), (4 * H,))
    grads = [put(np.empty(s if want else (0,) * len(s), np.float32))
             for s, want in zip(shapes, grads_wanted)]
    be.lstm_backward(x, c0, w_ih, w_hh, saved, put(go), put(ghn), put(gcn), *grads)
    host = [a if isinstance(a, np.ndarray) else a.copy_to_host()
            for a in (out, h_n, c_n, saved[0], *grads)]
    if be is K:                                        # the CPU's gates are (T, N, 4H)
        host[3] = host[3].transpose(1, 0, 2)
    return host


def test_lstm_parity(G):
    """Forward outputs, the gate gradients dA and every gradient agree, each backend with its
    own layout of the saved arrays; also with grad_x, grad_w_ih and grad_b skipped."""
    from numba import cuda
    rng = np.random.default_rng(11)
    N, T, D, H = 2, 3, 3, 2
    args = _lstm_arrays(rng, N, T, D, H)
    go, ghn, gcn = f32(rng, N, T, H), f32(rng, N, H), f32(rng, N, H)
    for wanted in ((True,) * 6, (False, True, True, False, True, False)):
        cpu = _lstm_run(K, np.array, args, wanted, go, ghn, gcn)
        dev = _lstm_run(G, cuda.to_device, args, wanted, go, ghn, gcn)
        assert_pairs(list(zip(cpu, dev)))


# ---- determinism: the sums with reductions give identical bytes on repeated runs ----------

def _twice(G, name, *args):
    from numba import cuda
    runs = []
    for _ in range(2):
        dev = [cuda.to_device(a.host() if isinstance(a, Out) else a)
               if isinstance(a, (Out, np.ndarray)) else a for a in args]
        getattr(G, name)(*dev)
        runs.append([d.copy_to_host().tobytes() for d in dev if hasattr(d, "copy_to_host")])
    assert runs[0] == runs[1]


def test_conv2d_backward_deterministic(G):
    rng = np.random.default_rng(12)
    xs, ws, stride, pad = (3, 2, 5, 5), (2, 2, 3, 3), (1, 1), (1, 1)
    _twice(G, "conv2d_backward", f32(rng, *xs), f32(rng, *ws),
           f32(rng, *_conv_out(xs, ws, stride, pad)), Out(xs), Out(ws), Out((2,)), *stride, *pad)


def test_lstm_backward_deterministic(G):
    from numba import cuda
    rng = np.random.default_rng(13)
    N, T, D, H = 2, 3, 3, 2
    args = [cuda.to_device(a) for a in _lstm_arrays(rng, N, T, D, H)]
    saved = G.lstm_saved_arrays(N, T, D, H, np.float32)          # the device's layout
    G.lstm_forward(*args, *(cuda.device_array(s, np.float32) for s in ((N, T, H), (N, H), (N, H))),
                   saved)
    saved = [a.copy_to_host() for a in saved]
    g = [f32(rng, *s) for s in ((N, T, H), (N, H), (N, H))]
    runs = []
    for _ in range(2):                          # the backward overwrites gates: fresh copies
        grads = [cuda.device_array(s, np.float32)
                 for s in ((N, T, D), (N, H), (N, H), (4 * H, D), (4 * H, H), (4 * H,))]
        G.lstm_backward(args[0], args[2], args[3], args[4],
                        tuple(cuda.to_device(a) for a in saved),
                        *(cuda.to_device(a) for a in g), *grads)
        runs.append([a.copy_to_host().tobytes() for a in grads])
    assert runs[0] == runs[1]


def test_linear_backward_deterministic(G):
    rng = np.random.default_rng(14)
    _twice(G, "linear_backward", f32(rng, 9, 4), f32(rng, 3, 4), f32(rng, 9, 3), Out((9, 4)),
           Out((3, 4)), Out((3,)))
