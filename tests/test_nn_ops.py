"""linear, activations, dropout, log_softmax and the losses: gradchecks, references, torch parity."""
import numpy as np
import pytest

import minstn
from minstn import Tensor, gradcheck
from minstn.ops.activation import dropout, relu, sigmoid, tanh
from minstn.ops.linear import linear
from minstn.ops.loss import binary_cross_entropy_with_logits, cross_entropy, log_softmax


def _away_from_zero(rng, shape):
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < 0.1, 0.3, x)       # keep relu's kink out of reach of eps


def test_linear_gradcheck_and_reference(make64, rng):
    x, w, b = (make64(rng.standard_normal(s)) for s in ((4, 3), (5, 3), (5,)))
    gradcheck(linear, [x, w, b])
    gradcheck(linear, [x, w, None])
    x3 = make64(rng.standard_normal((2, 2, 3)))     # leading axes are batch axes
    gradcheck(linear, [x3, w, b])
    np.testing.assert_allclose(linear(x, w, b).data, x.data @ w.data.T + b.data, rtol=1e-12)


def test_linear_errors(rng):
    x = Tensor(rng.standard_normal((4, 3)).astype(np.float32))
    with pytest.raises(ValueError, match=r"weight must have shape \(out, 3\)"):
        linear(x, Tensor(np.zeros((5, 2), np.float32)))
    with pytest.raises(TypeError, match="weight must have dtype float32"):
        linear(x, Tensor(np.zeros((5, 3), np.float64)))
    with pytest.raises(ValueError, match=r"bias must have shape \(5,\)"):
        linear(x, Tensor(np.zeros((5, 3), np.float32)), Tensor(np.zeros(4, np.float32)))


@pytest.mark.parametrize("fn,ref", [(relu, lambda x: np.maximum(x, 0)), (tanh, np.tanh),
                                    (sigmoid, lambda x: 1 / (1 + np.exp(-x)))])
def test_activations(fn, ref, make64, rng):
    x = make64(_away_from_zero(rng, (3, 4)))
    gradcheck(fn, [x])
    np.testing.assert_allclose(fn(x).data, ref(x.data), rtol=1e-12)


def test_sigmoid_is_stable_for_large_inputs():
    y = sigmoid(Tensor(np.array([-800.0, 800.0]))).data
    assert np.all(np.isfinite(y)) and y[0] == 0.0 and y[1] == 1.0


def test_dropout(make64, rng):
    x = make64(rng.standard_normal((50, 40)))
    y = dropout(x, p=0.3, generator=np.random.default_rng(0))
    kept = y.data != 0
    assert 0.6 < kept.mean() < 0.8
    np.testing.assert_allclose(y.data[kept], x.data[kept] / 0.7)
    small = make64(rng.standard_normal((3, 4)))
    gradcheck(lambda x: dropout(x, 0.3, generator=np.random.default_rng(5)), [small])
    assert dropout(x, 0.3, training=False) is x
    a = dropout(x, 0.5, generator=np.random.default_rng(7)).data
    b = dropout(x, 0.5, generator=np.random.default_rng(7)).data
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="p must be in"):
        dropout(x, 1.5)


def test_log_softmax(make64, rng):
    x = make64(rng.standard_normal((3, 5)))
    gradcheck(log_softmax, [x])
    gradcheck(lambda x: log_softmax(x, dim=0), [x])
    ref = x.data - np.log(np.exp(x.data).sum(1, keepdims=True))
    np.testing.assert_allclose(log_softmax(x).data, ref, rtol=1e-12)
    big = log_softmax(Tensor(np.array([[1000.0, 0.0]]))).data
    assert np.all(np.isfinite(big))


def test_cross_entropy(make64, rng):
    x = make64(rng.standard_normal((4, 6)))
    t = np.array([0, 5, 2, 2])
    gradcheck(lambda x: cross_entropy(x, t), [x])
    gradcheck(lambda x: cross_entropy(x, t, reduction="none"), [x])
    ref = -(x.data - np.log(np.exp(x.data).sum(1, keepdims=True)))[np.arange(4), t].mean()
    np.testing.assert_allclose(cross_entropy(x, t).item(), ref, rtol=1e-12)
    with pytest.raises(ValueError, match=r"target values must lie in \[0, 6\)"):
        cross_entropy(x, np.array([0, 6, 1, 1]))
    with pytest.raises(TypeError, match="integer"):
        cross_entropy(x, np.zeros(4))
    with pytest.raises(ValueError, match=r"target must have shape \(4,\)"):
        cross_entropy(x, np.zeros(3, np.int64))


def test_bce_with_logits(make64, rng):
    x = make64(rng.standard_normal((5, 3)) * 3)
    y = make64(rng.integers(0, 2, (5, 3)).astype(float))
    pw = np.array([1.0, 2.5, 0.5])
    gradcheck(lambda x, y: binary_cross_entropy_with_logits(x, y, pos_weight=pw), [x, y])
    gradcheck(lambda x: binary_cross_entropy_with_logits(x, y.detach(), reduction="sum"), [x])
    s = 1 / (1 + np.exp(-x.data))
    ref = -(pw * y.data * np.log(s) + (1 - y.data) * np.log(1 - s)).mean()
    np.testing.assert_allclose(
        binary_cross_entropy_with_logits(x, y, pos_weight=pw).item(), ref, rtol=1e-10)
    x1 = make64(rng.standard_normal(6))        # (N,) logits, the mortality-model case
    y1 = Tensor(rng.integers(0, 2, 6).astype(np.float64))
    gradcheck(lambda x: binary_cross_entropy_with_logits(x, y1, pos_weight=3.0), [x1])
    extreme = binary_cross_entropy_with_logits(Tensor(np.array([500.0, -500.0])),
                                               Tensor(np.array([0.0, 1.0])), reduction="none")
    np.testing.assert_allclose(extreme.data, [500.0, 500.0])


def test_parity_with_torch(rng):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    xa = rng.standard_normal((4, 6))
    wa, ba = rng.standard_normal((3, 6)), rng.standard_normal(3)
    t = np.array([0, 2, 1, 1])
    ya = rng.integers(0, 2, (4, 3)).astype(float)
    pw = np.array([0.5, 1.0, 3.0])

    def ours():
        x, w, b = (Tensor(a, requires_grad=True) for a in (xa, wa, ba))
        h = tanh(linear(x, w, b))
        loss = cross_entropy(log_softmax(relu(h) + sigmoid(h)), t) + \
            binary_cross_entropy_with_logits(h, Tensor(ya), pos_weight=pw)
        loss.backward()
        return loss.item(), x.grad, w.grad, b.grad

    def theirs():
        x, w, b = (torch.tensor(a, requires_grad=True) for a in (xa, wa, ba))
        h = torch.tanh(tf.linear(x, w, b))
        loss = tf.cross_entropy(tf.log_softmax(torch.relu(h) + torch.sigmoid(h), -1),
                                torch.tensor(t)) + \
            tf.binary_cross_entropy_with_logits(h, torch.tensor(ya), pos_weight=torch.tensor(pw))
        loss.backward()
        return loss.item(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()

    for a, b in zip(ours(), theirs()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-12)
