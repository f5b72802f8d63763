"""max_pool2d / max_pool1d: NumPy-loop reference, ties, gradchecks, torch parity, errors."""
import numpy as np
import pytest

from minstn import Tensor, gradcheck
from minstn.kernels import cpu as K
from minstn.ops.conv import max_pool1d, max_pool2d


def ref_max_pool2d(x, kernel, stride):
    """Window maxima and the flat index h*W + w of each window's first maximum."""
    (kh, kw), (sh, sw) = kernel, stride
    n, c, h, w = x.shape
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    out, arg = np.zeros((n, c, ho, wo)), np.zeros((n, c, ho, wo), np.int64)
    for a in range(n):
        for ch in range(c):
            for oh in range(ho):
                for ow in range(wo):
                    best, where = -np.inf, -1
                    for i in range(kh):
                        for j in range(kw):
                            v = x[a, ch, oh * sh + i, ow * sw + j]
                            if where < 0 or v > best:
                                best, where = v, (oh * sh + i) * w + ow * sw + j
                    out[a, ch, oh, ow], arg[a, ch, oh, ow] = best, where
    return out, arg


def _kernel(x, kernel, stride):
    (kh, kw), (sh, sw) = kernel, stride
    shape = x.shape[:2] + ((x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1)
    out, arg = np.full(shape, np.nan, x.dtype), np.full(shape, -1, np.int64)
    K.max_pool2d_forward(x, out, arg, kh, kw, sh, sw)
    return out, arg


@pytest.mark.parametrize("kernel,stride", [((2, 2), (2, 2)), ((3, 3), (2, 2)), ((2, 3), (1, 2)),
                                           ((3, 2), (3, 1)), ((1, 1), (1, 1))])
def test_kernel_matches_reference(kernel, stride, rng):
    x = rng.standard_normal((2, 3, 7, 8))                  # 7, 8: floor mode drops a remainder
    out, arg = _kernel(x, kernel, stride)
    ref_out, ref_arg = ref_max_pool2d(x, kernel, stride)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(arg, ref_arg)
    out32, arg32 = _kernel(x.astype(np.float32), kernel, stride)
    np.testing.assert_array_equal(out32, ref_out.astype(np.float32))
    np.testing.assert_array_equal(arg32, ref_arg)


def test_kernel_backward_routes_and_accumulates():
    """Overlapping windows (k3 s1) that share a maximum add their gradients at it."""
    x = np.zeros((1, 1, 3, 4))
    x[0, 0, 1, 1] = 5.0                                    # the max of both 3x3 windows
    out, arg = _kernel(x, (3, 3), (1, 1))
    assert out.shape == (1, 1, 1, 2) and (arg == 1 * 4 + 1).all()
    g = np.array([[[[2.0, 3.0]]]])
    gx = np.full_like(x, np.nan)
    K.max_pool2d_backward(g, arg, gx)
    expected = np.zeros_like(x)
    expected[0, 0, 1, 1] = 5.0
    np.testing.assert_array_equal(gx, expected)


def test_ties_pick_the_first_maximum_like_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).integers(0, 3, (2, 2, 6, 7)).astype(np.float64)  # many ties
    for kernel, stride in (((2, 2), (2, 2)), ((3, 3), (2, 1))):
        out, arg = _kernel(x, kernel, stride)
        ref_out, ref_arg = ref_max_pool2d(x, kernel, stride)
        t_out, t_arg = torch.nn.functional.max_pool2d(torch.tensor(x), kernel, stride,
                                                      return_indices=True)
        np.testing.assert_array_equal(arg, ref_arg)
        np.testing.assert_array_equal(arg, t_arg.numpy())
        np.testing.assert_array_equal(out, t_out.numpy())


def ref_max_pool2d_nan(x, kernel, stride):
    """ref_max_pool2d where a NaN wins its window (the last NaN if several), as in PyTorch."""
    out, arg = ref_max_pool2d(x, kernel, stride)
    (kh, kw), (sh, sw) = kernel, stride
    w = x.shape[3]
    for a, ch, oh, ow in np.ndindex(*out.shape):
        for i in range(kh):
            for j in range(kw):
                if np.isnan(x[a, ch, oh * sh + i, ow * sw + j]):
                    out[a, ch, oh, ow] = np.nan
                    arg[a, ch, oh, ow] = (oh * sh + i) * w + ow * sw + j
    return out, arg


@pytest.mark.parametrize("kernel,stride", [((2, 2), (2, 2)), ((3, 2), (2, 1))])
def test_planes_with_and_without_nan(kernel, stride, rng):
    """The kernel picks its loop per plane: planes holding a NaN take the NaN-aware one
    (NaN wins, the last NaN if several), the others the one without the test. Both loops,
    side by side in one batch, give the reference's values and indices; float32, as the
    demos run."""
    x = rng.standard_normal((3, 4, 7, 8)).astype(np.float32)
    x[0, 1, 2, 3] = x[0, 1, 2, 2] = x[1, 0, 6, 7] = x[2, 3, 0, 0] = np.nan
    x[1, 2] = np.round(x[1, 2])                              # ties: the first maximum wins
    out, arg = _kernel(x, kernel, stride)
    ref_out, ref_arg = ref_max_pool2d_nan(x.astype(np.float64), kernel, stride)
    np.testing.assert_array_equal(out, ref_out.astype(np.float32))   # NaN equals NaN here
    np.testing.assert_array_equal(arg, ref_arg)
    assert np.isnan(out).any() and not np.isnan(out[0, 0]).any()


def test_nan_propagates_like_torch():
    torch = pytest.importorskip("torch")
    x = np.arange(32.0).reshape(1, 2, 4, 4)
    x[0, 0, 0, 1] = x[0, 1, 3, 3] = np.nan
    out, _ = _kernel(x, (2, 2), (2, 2))
    t_out = torch.nn.functional.max_pool2d(torch.tensor(x), 2).numpy()
    np.testing.assert_array_equal(np.isnan(out), np.isnan(t_out))
    np.testing.assert_array_equal(out[~np.isnan(out)], t_out[~np.isnan(t_out)])
    assert np.isnan(out).sum() == 2


# ---- gradchecks (random inputs: no ties, so the max is differentiable) -----------------------
# On cuda every gradcheck entry reruns the kernels in the simulator: smaller shapes there.

@pytest.mark.parametrize("kernel,stride", [(2, None), (3, 2), ((2, 3), (1, 2))])
def test_max_pool2d_gradcheck(kernel, stride, device, make64, rng):
    shape = (2, 2, 5, 6) if device == "cpu" else (1, 2, 3, 4)
    x = make64(rng.standard_normal(shape), device=device)
    gradcheck(lambda x: max_pool2d(x, kernel, stride), [x])


@pytest.mark.parametrize("kernel,stride", [(2, None), (3, 2), (3, 1)])
def test_max_pool1d_gradcheck(kernel, stride, device, make64, rng):
    shape = (2, 3, 9) if device == "cpu" else (1, 2, 5)
    x = make64(rng.standard_normal(shape), device=device)
    gradcheck(lambda x: max_pool1d(x, kernel, stride), [x])


# ---- PyTorch parity -------------------------------------------------------------------------

@pytest.mark.parametrize("fn,tname,shape,kernel,stride", [
    (max_pool2d, "max_pool2d", (2, 3, 9, 8), 2, None),
    (max_pool2d, "max_pool2d", (2, 3, 9, 8), (3, 2), (2, 1)),
    (max_pool2d, "max_pool2d", (3, 7, 7), 3, 2),                    # unbatched (C, H, W)
    (max_pool1d, "max_pool1d", (2, 3, 11), 2, None),
    (max_pool1d, "max_pool1d", (2, 3, 11), 4, 3),
    (max_pool1d, "max_pool1d", (3, 10), 10, None),                  # unbatched, global max
])
def test_matches_torch(fn, tname, shape, kernel, stride, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal(shape)
    t = Tensor(x, requires_grad=True)
    y = fn(t, kernel, stride)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    ty = getattr(torch.nn.functional, tname)(tx, kernel, stride)
    ty.backward(torch.tensor(g))
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(t.grad, tx.grad.numpy(), rtol=1e-6, atol=1e-6)


# ---- errors ---------------------------------------------------------------------------------

def _t(shape, dtype=np.float32):
    return Tensor(np.zeros(shape, dtype))


@pytest.mark.parametrize("call,exc,msg", [
    (lambda: max_pool2d(_t((4, 4)), 2), ValueError,
     r"input must have shape \(N, C, H, W\) or \(C, H, W\), got \(4, 4\)"),
    (lambda: max_pool1d(_t((1, 2, 3, 4)), 2), ValueError,
     r"input must have shape \(N, C, L\) or \(C, L\), got \(1, 2, 3, 4\)"),
    (lambda: max_pool2d(_t((1, 1, 4, 4)), 2, padding=1), NotImplementedError,
     "only padding=0"),
    (lambda: max_pool2d(_t((1, 1, 4, 4)), 5), ValueError, "smaller than the kernel"),
    (lambda: max_pool1d(_t((1, 1, 4)), 2, stride=0), ValueError, "stride must be >= 1"),
    (lambda: max_pool2d(_t((1, 1, 4, 4)), (2, 2, 2)), TypeError,
     "kernel_size must be an int or a tuple of 2 ints"),
    (lambda: max_pool2d(_t((1, 1, 4, 4)), 2.0), TypeError, "kernel_size must be an int"),
    (lambda: max_pool2d(np.zeros((1, 1, 4, 4)), 2), TypeError, "input must be a minstn.Tensor"),
])
def test_errors(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


@pytest.mark.parametrize("kernel, stride", [((2, 2), (2, 2)), ((3, 2), (2, 1))])
def test_serial_and_parallel_drivers_agree(kernel, stride, monkeypatch):
    """Two drivers of the same plane loops; on one Numba thread the plain loop runs."""
    import numba
    from minstn.kernels.cpu import pool as P
    x = np.random.default_rng(3).integers(-3, 4, (3, 4, 9, 8)).astype(np.float32)  # ties
    (kh, kw), (sh, sw) = kernel, stride
    shape = (3, 4, (9 - kh) // sh + 1, (8 - kw) // sw + 1)
    res = {}
    for name in ("serial", "parallel"):
        out, arg, gx = np.empty(shape, np.float32), np.empty(shape, np.int64), np.empty_like(x)
        getattr(P, f"_forward_{name}")(x, out, arg, kh, kw, sh, sw)
        getattr(P, f"_backward_{name}")(out * 2 + 1, arg, gx)   # distinct gradients
        res[name] = (out, arg, gx)
    for a, b in zip(res["serial"], res["parallel"]):
        np.testing.assert_array_equal(a, b)
    called = []
    monkeypatch.setattr(P, "_forward_serial", lambda *a: called.append("serial"))
    monkeypatch.setattr(P, "_forward_parallel", lambda *a: called.append("parallel"))
    monkeypatch.setattr(numba, "get_num_threads", lambda: 1)
    P.max_pool2d_forward(x, *res["serial"][:2], kh, kw, sh, sw)
    monkeypatch.setattr(numba, "get_num_threads", lambda: 2)
    P.max_pool2d_forward(x, *res["serial"][:2], kh, kw, sh, sw)
    assert called == ["serial", "parallel"]
