"""lstm: NumPy-loop reference, gradchecks w.r.t. every input, torch parity, errors."""
import numpy as np
import pytest

from minstn import Tensor, gradcheck, no_grad
from minstn.kernels import _scalar as S
from minstn.kernels import cpu as K
from minstn.kernels.cpu.lstm import _exp_nonpositive
from minstn.ops.lstm import lstm

NAMES = ("input", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh")


def ref_lstm(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None):
    """The definition, one step and one unit at a time, gate order i, f, g, o."""
    N, T, D = x.shape
    H = h0.shape[1]
    b = np.zeros(4 * H)
    b = b + (0 if b_ih is None else b_ih) + (0 if b_hh is None else b_hh)
    sig = lambda v: 0.5 + 0.5 * np.tanh(0.5 * v)  # noqa: E731  (σ, no overflow)
    h, c = h0.astype(np.float64).copy(), c0.astype(np.float64).copy()
    out = np.zeros((N, T, H))
    for t in range(T):
        h_new, c_new = np.zeros((N, H)), np.zeros((N, H))
        for n in range(N):
            for j in range(H):
                a = [b[q * H + j] + sum(x[n, t, d] * w_ih[q * H + j, d] for d in range(D))
                     + sum(h[n, k] * w_hh[q * H + j, k] for k in range(H)) for q in range(4)]
                i, f, g, o = sig(a[0]), sig(a[1]), np.tanh(a[2]), sig(a[3])
                c_new[n, j] = f * c[n, j] + i * g
                h_new[n, j] = o * np.tanh(c_new[n, j])
        h, c = h_new, c_new
        out[:, t] = h
    return out, h, c


def make_args(rng, N, T, D, H, scale=0.5, dtype=np.float64, bias=True):
    r = lambda *s: (scale * rng.standard_normal(s)).astype(dtype)  # noqa: E731
    args = [r(N, T, D), r(N, H), r(N, H), r(4 * H, D), r(4 * H, H)]
    return args + ([r(4 * H), r(4 * H)] if bias else [None, None])


def tensors(arrays, requires_grad=True, device="cpu"):
    return [None if a is None else Tensor(a.copy(), requires_grad=requires_grad, device=device)
            for a in arrays]


def grad_shape(device):
    """(N, T, D, H) of the gradchecks: on cuda the smallest with a recurrence (every
    gradcheck entry reruns the 2 T + 1 launches of a forward in the simulator)."""
    return (2, 3, 3, 2) if device == "cpu" else (1, 2, 1, 1)


def run(args):
    out, (h, c) = lstm(*args)
    return out, h, c


@pytest.mark.parametrize("shape", [(2, 3, 3, 2), (3, 5, 4, 3), (1, 1, 2, 1), (4, 2, 1, 5)])
@pytest.mark.parametrize("bias", [True, False])
def test_forward_matches_reference(shape, bias, device, host, rng):
    arrays = make_args(rng, *shape, scale=0.8, bias=bias)
    ref = ref_lstm(*arrays)
    with no_grad():
        got = run(tensors(arrays, requires_grad=False, device=device))
    for g, r in zip(got, ref):
        assert g.dtype == np.float64 and g.shape == r.shape
        np.testing.assert_allclose(host(g), r, rtol=1e-12, atol=1e-13)
    got32 = run(tensors([None if a is None else a.astype(np.float32) for a in arrays],
                        device=device))
    for g, r in zip(got32, ref):
        assert g.dtype == np.float32
        np.testing.assert_allclose(host(g), r, rtol=1e-5, atol=1e-6)


def test_gradcheck_every_input(device, rng):
    """Random weights on output, h_T and c_T: gradients flow in from all three outputs."""
    args = tensors(make_args(rng, *grad_shape(device)), device=device)
    assert gradcheck(lambda *a: run(a), args)


# CPU only (these 10 gradchecks would take ~100 s in the CUDA simulator): the CUDA kernel's
# skipped gradients are compared with the CPU kernel's in test_cuda_dense.py::test_lstm_parity.
# Also CPU only, test_gradcheck_without_biases: ops/lstm.py adds the biases into one zero
# vector before either kernel runs, so on cuda it would repeat test_gradcheck_every_input.

@pytest.mark.parametrize("only", range(7))
def test_gradcheck_one_input_at_a_time(only, rng):
    """Inputs that need no gradient are skipped (size-0 grad arrays in the kernel)."""
    arrays = make_args(rng, 2, 3, 3, 2)
    args = [Tensor(a.copy(), requires_grad=(k == only)) for k, a in enumerate(arrays)]
    assert gradcheck(lambda *a: run(a), args)


@pytest.mark.parametrize("which", ["out", "h", "c"])
def test_gradcheck_from_each_output_alone(which, rng):
    args = tensors(make_args(rng, 2, 3, 3, 2))
    k = {"out": 0, "h": 1, "c": 2}[which]
    assert gradcheck(lambda *a: run(a)[k], args)


def test_gradcheck_without_biases(rng):
    args = tensors(make_args(rng, 2, 3, 3, 2, bias=False))
    assert gradcheck(lambda *a: run(a), args)


def test_gradcheck_saturated_gates(device, rng):
    """Large pre-activations (|a| up to ~10): σ and tanh near 0 / ±1 still differentiate right."""
    args = tensors(make_args(rng, *grad_shape(device), scale=3.0), device=device)
    assert gradcheck(lambda *a: run(a), args)


def test_none_biases_equal_zero_biases(rng):
    arrays = make_args(rng, 2, 4, 3, 3)
    zeros = arrays[:5] + [np.zeros(12), np.zeros(12)]
    for got, want in zip(run(tensors(arrays[:5] + [None, None])), run(tensors(zeros))):
        np.testing.assert_array_equal(got.data, want.data)
    # only one of the two biases: the other counts as zero
    only_ih = run(tensors(arrays[:6] + [None]))
    both = run(tensors(arrays[:6] + [np.zeros(12)]))
    np.testing.assert_allclose(only_ih[0].data, both[0].data, rtol=1e-15, atol=0)


def test_deterministic(rng):
    arrays = make_args(rng, 3, 6, 4, 5)
    grads = []
    for _ in range(2):
        args = tensors(arrays)
        out, h, c = run(args)
        (out.sum() + (h * h).sum() + c.sum()).backward()
        grads.append([out.data, h.data, c.data] + [a.grad for a in args])
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b)


def test_kernel_skips_size0_grads(rng):
    """lstm_backward with size-0 grad_x / grad_w / grad_b leaves the other gradients unchanged."""
    N, T, D, H = 2, 4, 3, 2
    x, h0, c0, w_ih, w_hh, b, _ = make_args(rng, N, T, D, H)
    out, hn, cn = np.empty((N, T, H)), np.empty((N, H)), np.empty((N, H))
    saved = K.lstm_saved_arrays(N, T, D, H, x.dtype)             # time-major, (T, N, ·)
    K.lstm_forward(x, h0, c0, w_ih, w_hh, b, out, hn, cn, saved)
    gates, cs, tcs, hp, xt = saved
    go, ghn, gcn = rng.standard_normal((N, T, H)), rng.standard_normal((N, H)), np.zeros((N, H))
    full = [np.empty_like(a) for a in (x, h0, c0, w_ih, w_hh, b)]
    dA = gates.copy()                             # backward overwrites gates with dA
    K.lstm_backward(x, c0, w_ih, w_hh, (dA, cs, tcs, hp, xt), go, ghn, gcn, *full)
    part = [np.empty((0, 0, 0)), np.empty_like(h0), np.empty_like(c0),
            np.empty((0, 0)), np.empty_like(w_hh), np.empty(0)]
    K.lstm_backward(x, c0, w_ih, w_hh, saved, go, ghn, gcn, *part)
    for k in (1, 2, 4):
        np.testing.assert_array_equal(part[k], full[k])
    np.testing.assert_array_equal(gates, dA)
    # the gate gradients dA (T, N, 4H) give the remaining gradients: dX = dA W_ih, db = Σ dA
    np.testing.assert_allclose(full[0], (dA @ w_ih).transpose(1, 0, 2), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(full[5], dA.sum(axis=(0, 1)), rtol=1e-13, atol=1e-14)
    # xt holds x time-major; hp holds h_{t-1}: h0, then the outputs shifted by one step
    np.testing.assert_array_equal(xt, x.transpose(1, 0, 2))
    np.testing.assert_array_equal(hp[0], h0)
    np.testing.assert_array_equal(hp[1:], out[:, :-1].transpose(1, 0, 2))


def test_a_block_without_steps_adds_zero_weight_gradients():
    """A lane of the backward's products whose block of steps is empty (more lanes than
    steps) must write zero shares, not leave its scratch as it was."""
    N, D, H = 3, 4, 2
    empty = np.empty((0, N, 4 * H), np.float32)
    g_ih, g_hh = np.full((4 * H, D), np.nan, np.float32), np.full((4 * H, H), np.nan, np.float32)
    K.lstm._step_products(empty, np.ones((4 * H, D), np.float32), np.empty((0, N, D), np.float32),
                          np.empty((0, N, H), np.float32), np.empty((0, N, D), np.float32),
                          np.empty((N, 0, D), np.float32), g_ih, g_hh)
    assert (g_ih == 0).all() and (g_hh == 0).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lanes", [2, 3, 6])
@pytest.mark.parametrize("skip", [False, True])
def test_kernel_lanes_match_serial(rng, dtype, lanes, skip):
    """The threaded kernels (blocks of samples on Numba's threads, each adding its share of
    the weight gradients) give the serial kernels' results, also with grad_x / grad_w_ih /
    grad_b skipped, and the same bits on every run. 7 samples do not divide into the lanes
    evenly; 6 lanes over 5 steps leave a lane of the weight gradients without steps (its
    share is 0). Not the serial bits: the weight gradients are summed in parts, and OpenBLAS
    picks its kernel by the product's size, a block of samples being a smaller product.
    Called directly, so this runs (one lane after another) with one Numba thread too."""
    N, T, D, H = 7, 5, 3, 4
    x, h0, c0, w_ih, w_hh, b, _ = (a.astype(dtype) for a in make_args(rng, N, T, D, H))
    go, ghn, gcn = (rng.standard_normal(s).astype(dtype) for s in ((N, T, H), (N, H), (N, H)))
    lstm_mod = K.lstm
    results = []
    for lane_count in (0, lanes, lanes):
        fwd = [np.full(s, np.nan, dtype) for s in
               ((N, T, H), (N, H), (N, H), (T, N, 4 * H), (T, N, H), (T, N, H), (T, N, H),
                (T, N, D))]
        args = (x, h0, c0, w_ih, w_hh, b, *fwd)
        if lane_count:
            lstm_mod._forward_lanes(*args, lane_count)
        else:
            lstm_mod._forward_serial(*args)
        out, hn, cn, gates, cs, tcs, hp, xt = fwd
        grads = [np.full_like(a, np.nan) for a in (x, h0, c0, w_ih, w_hh, b)]
        if skip:
            grads[0], grads[3], grads[5] = np.empty((0, 0, 0), dtype), np.empty((0, 0), dtype), \
                np.empty(0, dtype)
        bargs = (c0, w_ih, w_hh, gates, cs, tcs, hp, xt, go, ghn, gcn, *grads)
        if lane_count:
            lstm_mod._backward_lanes(*bargs, lane_count)
        else:
            lstm_mod._backward_serial(*bargs)
        results.append(fwd + grads)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    for serial, lanes_, again in zip(*results):
        assert not np.isnan(serial).any()
        np.testing.assert_allclose(lanes_, serial, rtol=tol, atol=tol)
        np.testing.assert_array_equal(again, lanes_)


def test_exp_nonpositive_accuracy():
    z = np.concatenate([-np.logspace(-12, np.log10(700), 4000), [0.0, -0.5, -1e-300]])
    e, bits = z.copy(), np.empty(z.size, np.int64)
    _exp_nonpositive(e, bits)
    np.testing.assert_allclose(e, np.exp(z), rtol=3e-16 * 4, atol=0)
    # far below exp's range: the smallest normal-ish value instead of a subnormal, never garbage
    e = np.array([-708.5, -800.0, -np.inf, np.nan])
    _exp_nonpositive(e, np.empty(4, np.int64))
    assert np.all((e[:3] >= 0) & (e[:3] < 1e-307)) and np.isnan(e[3])


def test_exp_nonpositive_float32_accuracy():
    """float32 in, float32 maths: within 2 ulp of exp where the result is a normal float32."""
    z = np.concatenate([-np.logspace(-12, np.log10(700), 4000), [0.0, -0.5]]).astype(np.float32)
    e = z.copy()
    _exp_nonpositive(e, np.empty(z.size, np.int64))
    ref = np.exp(z.astype(np.float64))
    normal = ref > np.finfo(np.float32).tiny
    np.testing.assert_allclose(e[normal], ref[normal], rtol=2 * 2.0 ** -23, atol=0)
    assert np.all((e[~normal] >= 0) & (e[~normal] < np.finfo(np.float32).tiny))
    # below the normal range: exactly 0 (no slow subnormals); -inf gives 0, NaN stays NaN
    e = np.array([-87.5, -100.0, -1e30, -np.inf, np.nan], np.float32)
    _exp_nonpositive(e, np.empty(e.size, np.int64))
    np.testing.assert_array_equal(e[:4], 0.0)
    assert np.isnan(e[4])


def test_gate_helpers():
    x = np.concatenate([np.linspace(-30, 30, 601), [-800.0, 800.0, 1e-9, -1e-9, 0.0]])
    sig = np.array([S.sigmoid(v) for v in x])
    th = np.array([S.tanh(v) for v in x])
    np.testing.assert_allclose(sig, 0.5 + 0.5 * np.tanh(0.5 * x), rtol=1e-15, atol=1e-16)
    np.testing.assert_allclose(th, np.tanh(x), rtol=0, atol=4e-16)
    assert sig[-5] == 0.0 and sig[-4] == 1.0 and th[-5] == -1.0 and th[-4] == 1.0
    e = np.exp(-np.abs(x))
    np.testing.assert_allclose([S.sigmoid_e(v, ev, 1.0) for v, ev in zip(x, e)], sig,
                               rtol=1e-15)
    np.testing.assert_allclose([S.tanh_e(v, ev, 1.0) for v, ev in zip(x, e)], th, rtol=1e-15)


def test_float32_gradients_match_float64(rng):
    arrays = make_args(rng, 3, 7, 4, 5)
    grads = {}
    for dt in (np.float64, np.float32):
        args = tensors([a.astype(dt) for a in arrays])
        out, h, c = run(args)
        (out.sum() + (h * h).sum() + c.sum()).backward()
        assert all(a.grad.dtype == dt for a in args)
        grads[dt] = [a.grad for a in args]
    for name, g32, g64 in zip(NAMES, grads[np.float32], grads[np.float64]):
        np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-5, err_msg=name)


def test_extreme_inputs_stay_finite(device, host, rng):
    """Pre-activations of ±1e4 saturate the gates exactly; nothing overflows."""
    arrays = make_args(rng, 2, 3, 3, 2, scale=1e4)
    got = run(tensors(arrays, device=device))
    for g, r in zip(got, ref_lstm(*arrays)):
        assert np.all(np.isfinite(host(g)))
        np.testing.assert_allclose(host(g), r, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bias", [True, False])
def test_torch_parity(bias, rng):
    torch = pytest.importorskip("torch")
    N, T, D, H = 3, 5, 4, 3
    arrays = make_args(rng, N, T, D, H, scale=0.7, bias=bias)
    g_out, g_h, g_c = (rng.standard_normal(s) for s in ((N, T, H), (N, H), (N, H)))

    args = tensors(arrays)
    out, h, c = run(args)
    loss = (out * Tensor(g_out)).sum() + (h * Tensor(g_h)).sum() + (c * Tensor(g_c)).sum()
    loss.backward()

    m = torch.nn.LSTM(D, H, batch_first=True, bias=bias).double()
    with torch.no_grad():
        m.weight_ih_l0.copy_(torch.from_numpy(arrays[3]))
        m.weight_hh_l0.copy_(torch.from_numpy(arrays[4]))
        if bias:
            m.bias_ih_l0.copy_(torch.from_numpy(arrays[5]))
            m.bias_hh_l0.copy_(torch.from_numpy(arrays[6]))
    tx, th0, tc0 = (torch.tensor(a, requires_grad=True) for a in arrays[:3])
    tout, (th, tc) = m(tx, (th0.unsqueeze(0), tc0.unsqueeze(0)))
    ((tout * torch.from_numpy(g_out)).sum() + (th[0] * torch.from_numpy(g_h)).sum()
     + (tc[0] * torch.from_numpy(g_c)).sum()).backward()

    for got, want in ((out, tout), (h, th[0]), (c, tc[0])):
        np.testing.assert_allclose(got.data, want.detach().numpy(), rtol=1e-6, atol=1e-6)
    want_grads = [tx.grad, th0.grad, tc0.grad, m.weight_ih_l0.grad, m.weight_hh_l0.grad]
    if bias:
        want_grads += [m.bias_ih_l0.grad, m.bias_hh_l0.grad]
    for name, a, want in zip(NAMES, args, want_grads):
        np.testing.assert_allclose(a.grad, want.numpy(), rtol=1e-6, atol=1e-6, err_msg=name)


def _good(rng, N=2, T=3, D=3, H=2):
    return tensors(make_args(rng, N, T, D, H))


@pytest.mark.parametrize("k,bad,msg", [
    (0, (2, 3), "input must be 3-d, got shape (2, 3)"),
    (1, (3, 2), "h0 must have shape (N, H) with N = 2 from input, got (3, 2)"),
    (1, (2, 2, 1), "h0 must be 2-d, got shape (2, 2, 1)"),
    (2, (2, 3), "c0 must have shape (N, H) = (2, 2), got (2, 3)"),
    (3, (8, 4), "input has 3 features (last dimension of its shape (2, 3, 3)) but w_ih "
                "(8, 4) expects 4: pass input (N, T, 4)"),
    (3, (6, 3), "w_ih must have shape (4H, D) = (8, 3), got (6, 3)"),
    (4, (8, 3), "w_hh must have shape (4H, H) = (8, 2), got (8, 3)"),
    (5, (4,), "b_ih must have shape (4H,) = (8,), got (4,)"),
    (6, (8, 1), "b_hh must be 1-d, got shape (8, 1)"),
])
def test_shape_errors(k, bad, msg, rng):
    args = _good(rng)
    args[k] = Tensor(np.zeros(bad))
    with pytest.raises(ValueError) as e:
        lstm(*args)
    assert str(e.value) == msg


def test_dtype_and_type_errors(rng):
    args = _good(rng)
    args[3] = Tensor(args[3].data.astype(np.float32))
    with pytest.raises(TypeError, match=r"w_ih must have dtype float64 \(same as the input\), "
                                        r"got float32"):
        lstm(*args)
    args = _good(rng)
    args[1] = args[1].data
    with pytest.raises(TypeError, match="h0 must be a minstn.Tensor, got ndarray"):
        lstm(*args)
    args = _good(rng)
    args[0] = Tensor(np.zeros((2, 3, 3), np.int64))
    with pytest.raises(TypeError, match="input must be float32 or float64, got int64"):
        lstm(*args)
    args = _good(rng)
    args[0] = Tensor(np.zeros((2, 0, 3)))
    with pytest.raises(ValueError, match=r"input must have at least one time step"):
        lstm(*args)


def test_a_wrong_feature_size_blames_the_input_not_the_weight():
    import minstn.functional as F
    from minstn import nn
    lstm = nn.LSTM(7, 4)
    x = Tensor(np.zeros((2, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"LSTM\(7, 4\) expects input \(N, T, features\) with "
                                         r"features = input_size = 7, got shape \(2, 5, 3\)"):
        lstm(x)
    h = Tensor(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"input has 3 features .* w_ih \(16, 7\) expects 7"):
        F.lstm(x, h, h, lstm.weight_ih_l0, lstm.weight_hh_l0)
