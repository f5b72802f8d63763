"""The array layer of both backends (kernels/{cpu,cuda}/array.py, optim.py) against NumPy."""
import os

import numpy as np
import pytest

pytestmark = [pytest.mark.cudasim, pytest.mark.skipif(
    os.environ.get("NUMBA_ENABLE_CUDASIM") != "1" and not __import__("minstn").device.cuda_available(),
    reason="needs a GPU or NUMBA_ENABLE_CUDASIM=1")]

from minstn.kernels.cpu import array as C  # noqa: E402
from minstn.kernels.cuda import array as G  # noqa: E402

D, H = G.from_host, G.to_host


def same(ref, got, rtol=1e-12, atol=1e-12):
    ref = np.asarray(ref)
    got = H(got)
    assert got.shape == ref.shape and got.dtype == ref.dtype, (got.shape, ref.shape,
                                                               got.dtype, ref.dtype)
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol)


@pytest.fixture
def arrs():
    r = np.random.default_rng(0)
    a = r.standard_normal((2, 3, 4))
    return a, r.standard_normal((3, 1)), np.abs(a) + 0.5


def test_creation_and_movement():
    for dt in (np.float32, np.float64, np.int64):
        same(np.zeros((2, 3), dt), G.zeros((2, 3), dt))
        same(np.full((2, 3), 7, dt), G.full((2, 3), 7, dt))
        x = np.arange(6, dtype=dt).reshape(2, 3)
        same(np.ones_like(x), G.ones_like(D(x)))
        same(np.zeros_like(x), G.zeros_like(D(x)))
        assert G.empty_like(D(x)).shape == (2, 3) and G.empty((4,), dt).dtype == dt
        same(x, G.copy(D(x)))
        same(x.astype(np.float32), G.astype(D(x), np.float32))
    assert H(D(np.float64(3.0))).shape == ()                 # 0-d stays 0-d
    for be in (C, G):
        s = be.skip(np.float32, 2)
        assert s.shape == (0, 0) and s.dtype == np.float32
    x = D(np.zeros(3))
    assert G.copy(x) is not x and G.contiguous(x) is x        # copy never aliases


def test_contiguous_of_strided_view():
    x = np.arange(24.0).reshape(2, 3, 4)
    v = D(x)[:, 1:3, ::2]                                     # numba's strided view
    assert not v.is_c_contiguous()
    same(np.ascontiguousarray(x[:, 1:3, ::2]), G.contiguous(v))
    from minstn.ops._check import c, empty
    same(x[:, 1:3, ::2], c(v))
    assert c(x) is x
    assert empty(np.float64, "cuda").shape == (0,) and empty(np.float32).shape == (0,)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div"])
def test_binary_broadcast_and_scalars(arrs, name):
    a, b, _ = arrs
    f, g = getattr(C, name), getattr(G, name)
    same(f(a, b), g(D(a), D(b)))
    same(f(b, a), g(D(b), D(a)))
    same(f(a, 2.5), g(D(a), 2.5))
    same(f(2.5, a), g(2.5, D(a)))
    a32 = a.astype(np.float32)
    same(f(a32, 0.1), g(D(a32), 0.1), rtol=1e-6)            # float32 stays float32


def test_unary_and_power(arrs):
    _, _, p = arrs
    for name in ("neg", "exp", "log", "sqrt"):
        same(getattr(C, name)(p), getattr(G, name)(D(p)))
    for e in (2.0, 0.5, -1.0, 1.7):
        same(C.power(p, e), G.power(D(p), e))
    x = D(p.copy())
    G.iadd(x, D(p[0, :, :1].copy()))
    same(p + p[0, :, :1], x)


@pytest.mark.parametrize("axes", [None, (0,), (1,), (2,), (0, 2), ()])
@pytest.mark.parametrize("keep", [False, True])
def test_reductions(arrs, axes, keep):
    a = arrs[0]
    same(C.reduce_sum(a, axes, keep), G.reduce_sum(D(a), axes, keep))
    same(C.reduce_mean(a, axes, keep), G.reduce_mean(D(a), axes, keep))


def test_reduction_is_deterministic():
    a = D(np.random.default_rng(1).standard_normal((3, 200)).astype(np.float32))
    r1, r2 = H(G.reduce_sum(a, (1,))), H(G.reduce_sum(a, (1,)))
    assert r1.tobytes() == r2.tobytes()


@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)),
                                   ((2, 1, 3, 4), (3, 4, 2)), ((4,), (3, 4, 2)), ((2, 3, 4), (4,))])
def test_matmul(sa, sb):
    """Without batch axes: the tiled gemm; with: the batched kernel."""
    r = np.random.default_rng(2)
    a, b = r.standard_normal(sa), r.standard_normal(sb)
    same(C.matmul(a, b), G.matmul(D(a), D(b)))


def test_shape_ops(arrs):
    a, b, _ = arrs
    same(C.transpose(a, (2, 0, 1)), G.transpose(D(a), (2, 0, 1)))
    same(C.broadcast_to(b, (2, 3, 4)), G.broadcast_to(D(b), (2, 3, 4)))
    same(C.reshape(a, (4, -1)), G.reshape(D(a), (4, -1)))
    same(C.concatenate([a, a[:, :1]], 1), G.concatenate([D(a), D(a[:, :1])], 1))
    for x, y in zip(C.split(a, [1, 3], 2), G.split(D(a), [1, 3], 2)):
        same(x, y)
    same(C.stack([a, a], 1), G.stack([D(a), D(a)], 1))
    same(C.take(a, 2, 1), G.take(D(a), 2, 1))


@pytest.mark.parametrize("idx", [0, -1, (slice(None), 1), (Ellipsis, slice(1, None, 2)),
                                 (None, 1, slice(3, 0, -1)), (1, 2, 3), slice(None, None, -1)])
def test_getitem_and_backward(arrs, idx):
    a = arrs[0]
    same(C.getitem(a, idx), G.getitem(D(a), idx))
    g = np.full(np.shape(a[idx]), 2.0)
    same(C.getitem_backward(g, a.shape, idx), G.getitem_backward(D(g), a.shape, idx))


def test_getitem_rejects_advanced_indexing(arrs):
    with pytest.raises(NotImplementedError, match="indexing a cuda tensor"):
        G.getitem(D(arrs[0]), np.array([0, 1]))
    with pytest.raises(IndexError):
        G.getitem(D(arrs[0]), 5)


@pytest.mark.parametrize("mu,wd,nesterov", [(0.0, 0.0, False), (0.9, 0.01, False), (0.9, 0.0, True)])
def test_sgd_update(mu, wd, nesterov):
    from minstn.kernels.cpu import optim as CO
    from minstn.kernels.cuda import optim as GO
    r = np.random.default_rng(3)
    p = r.standard_normal(7).astype(np.float32)
    pc, vc = p.copy(), np.empty_like(p) if mu else C.skip(np.float32)
    pg, vg = D(p), G.empty_like(D(p)) if mu else G.skip(np.float32)
    for step in range(3):
        g = r.standard_normal(7).astype(np.float32)
        CO.sgd_update(pc, g, vc, 0.1, mu, wd, nesterov, step == 0)
        GO.sgd_update(pg, D(g), vg, 0.1, mu, wd, nesterov, step == 0)
    same(pc, pg, rtol=1e-6, atol=1e-7)


def test_adam_update():
    from minstn.kernels.cpu import optim as CO
    from minstn.kernels.cuda import optim as GO
    r = np.random.default_rng(4)
    p = r.standard_normal(7).astype(np.float32)
    pc, mc, vc = p.copy(), np.zeros_like(p), np.zeros_like(p)
    pg, mg, vg = D(p), G.zeros_like(D(p)), G.zeros_like(D(p))
    for t in (1, 2, 3):
        g = r.standard_normal(7).astype(np.float32)
        CO.adam_update(pc, g, mc, vc, 1e-2, 0.9, 0.999, 1e-8, 0.01, t)
        GO.adam_update(pg, D(g), mg, vg, 1e-2, 0.9, 0.999, 1e-8, 0.01, t)
    same(pc, pg, rtol=1e-5, atol=1e-7)
    same(mc, mg, rtol=1e-5, atol=1e-7)
