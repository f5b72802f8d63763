"""The engine: graph building, backward order and accumulation, broadcasting, errors."""
import numpy as np
import pytest

import minstn
from minstn import Function, Tensor, gradcheck
from minstn.autograd import GradcheckError


def test_dtype_rules():
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor(np.zeros(3, np.float64)).dtype == np.float64
    assert Tensor(np.arange(3)).dtype.kind == "i"
    with pytest.raises(TypeError, match="float"):
        Tensor(np.arange(3), requires_grad=True)


def test_backward_accumulates_over_shared_subexpressions():
    x = Tensor(np.array([2.0, -3.0]), requires_grad=True)
    y = x * x                 # used twice below
    z = (y + y * x).sum()     # dz/dx = 2x + 3x^2
    z.backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 3 * x.data ** 2)
    z2 = (x * 2.0).sum()      # a second backward accumulates into .grad
    z2.backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 3 * x.data ** 2 + 2)


def test_backward_needs_grad_for_non_scalar():
    x = Tensor(np.ones(3), requires_grad=True)
    y = x * 2.0
    with pytest.raises(RuntimeError, match="one-element"):
        y.backward()
    y.backward(np.array([1.0, 0.0, 2.0]))
    np.testing.assert_allclose(x.grad, [2.0, 0.0, 4.0])


def test_backward_twice_through_freed_graph_is_an_error():
    x = Tensor(np.ones(2), requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_no_grad_and_detach():
    x = Tensor(np.ones(2), requires_grad=True)
    with minstn.no_grad():
        y = x * 3.0
    assert not y.requires_grad and y.is_leaf
    assert not (x * 3.0).detach().requires_grad


def test_broadcasting_gradients(make64):
    a = make64(np.random.default_rng(0).standard_normal((3, 1, 4)))
    b = make64(np.random.default_rng(1).standard_normal((2, 1)) + 3.0)
    for op in (lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b,
               lambda a, b: a / b, lambda a, b: b - a * 2.0):
        gradcheck(op, [a, b])


def test_elementwise_and_shape_ops(make64):
    rng = np.random.default_rng(2)
    a = make64(rng.uniform(0.5, 2.0, (2, 3, 4)))
    gradcheck(lambda a: a.exp(), [a])
    gradcheck(lambda a: a.log(), [a])
    gradcheck(lambda a: -a ** 3, [a])
    gradcheck(lambda a: a.sum(dim=1), [a])
    gradcheck(lambda a: a.sum(dim=(0, 2), keepdim=True), [a])
    gradcheck(lambda a: a.mean(), [a])
    gradcheck(lambda a: a.mean(dim=-1), [a])
    gradcheck(lambda a: a.reshape(6, 4).transpose(0, 1), [a])
    gradcheck(lambda a: a.permute(2, 0, 1), [a])
    gradcheck(lambda a: a[1, :, 1:3], [a])
    gradcheck(lambda a: a[:, [0, 0, 2]], [a])       # repeated index accumulates


def test_permute_gives_contiguous_copies():
    """permute copies into C order, forward and backward, so that the ops reading the result
    (which all want C-contiguous arrays) need not copy it again; values as NumPy's."""
    x = minstn.Tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    y = x.permute(0, 2, 1)
    assert y.data.flags.c_contiguous
    np.testing.assert_array_equal(y.data, x.data.transpose(0, 2, 1))
    g = np.arange(24.0).reshape(2, 4, 3)
    y.backward(minstn.Tensor(g))
    assert x.grad.flags.c_contiguous
    np.testing.assert_array_equal(x.grad, g.transpose(0, 2, 1))


def test_matmul(make64):
    rng = np.random.default_rng(3)
    a, b = make64(rng.standard_normal((3, 4))), make64(rng.standard_normal((4, 2)))
    v = make64(rng.standard_normal(4))
    gradcheck(lambda a, b: a @ b, [a, b])
    gradcheck(lambda a, v: a @ v, [a, v])
    gradcheck(lambda v, b: v @ b, [v, b])
    batched = make64(rng.standard_normal((2, 3, 4)))
    gradcheck(lambda x, b: x @ b, [batched, b])


def test_cat_stack(make64):
    rng = np.random.default_rng(4)
    a, b = make64(rng.standard_normal((2, 3))), make64(rng.standard_normal((2, 1)))
    gradcheck(lambda a, b: minstn.cat([a, b, a], dim=1), [a, b])
    gradcheck(lambda a: minstn.stack([a, a * 2.0], dim=1), [a])


def test_mixing_devices_is_an_error():
    x = Tensor(np.ones(2))
    y = Tensor(np.ones(2))
    y.device = "cuda"   # simulate a tensor from another device
    with pytest.raises(RuntimeError, match="different devices"):
        x + y


def test_apply_restores_grad_mode_and_needs_a_tensor():
    """Function.apply switches recording off around forward itself (not via no_grad()):
    a forward that raises must leave it on, and an op without a tensor is an error."""
    from minstn.autograd import is_grad_enabled

    class _Fails(Function):
        @staticmethod
        def forward(ctx, x):
            assert not is_grad_enabled()        # ops called inside record nothing
            raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        _Fails.apply(Tensor(np.ones(2), requires_grad=True))
    assert is_grad_enabled()
    y = Tensor(np.ones(2), requires_grad=True) * 2.0
    assert y.requires_grad and not y.is_leaf
    with pytest.raises(TypeError, match="at least one argument must be a Tensor"):
        _Fails.apply(np.ones(2))


def test_cuda_without_gpu_explains_the_simulator(monkeypatch):
    import minstn.device as dev
    monkeypatch.setattr(dev, "cuda_available", lambda: False)
    with pytest.raises(RuntimeError, match="NUMBA_ENABLE_CUDASIM=1"):
        Tensor(np.ones(2), device="cuda")


class _WrongSquare(Function):
    """x² with a deliberately wrong derivative (x instead of 2x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x


class _RightSquare(_WrongSquare):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * g * x


def test_gradcheck_catches_a_wrong_backward(make64):
    x = make64([0.5, -1.5, 2.0])
    assert gradcheck(_RightSquare.apply, [x])
    with pytest.raises(GradcheckError, match=r"analytic .* numeric"):
        gradcheck(_WrongSquare.apply, [x])


def test_gradcheck_rejects_float32():
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda x: x * 2.0, [Tensor(np.ones(2, np.float32), requires_grad=True)])


def test_backward_returns_wrong_shape_is_reported():
    class Bad(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g[:1]

    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="shape"):
        Bad.apply(x).sum().backward()


def test_deep_graph_does_not_hit_recursion_limit():
    x = Tensor(np.ones(1), requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad[0] == 1.0
