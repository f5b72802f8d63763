"""linear, activations, dropout, log_softmax and the losses: gradchecks, references, torch parity."""
import numpy as np
import pytest

from minstn import Tensor, gradcheck
from minstn.ops.activation import dropout, relu, sigmoid, tanh
from minstn.ops.linear import linear
from minstn.ops.loss import binary_cross_entropy_with_logits, cross_entropy, log_softmax


def _away_from_zero(rng, shape):
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < 0.1, 0.3, x)       # keep relu's kink out of reach of eps


def test_linear_gradcheck_and_reference(device, make64, host, rng):
    n, i, o = (4, 3, 5) if device == "cpu" else (2, 2, 2)  # simulator: fewer gradcheck entries
    x, w, b = (make64(rng.standard_normal(s), device=device) for s in ((n, i), (o, i), (o,)))
    gradcheck(linear, [x, w, b])
    gradcheck(linear, [x, w, None])
    x3 = make64(rng.standard_normal((2, n // 2, i)), device=device)  # leading axes: batch axes
    gradcheck(linear, [x3, w, b])
    x_data = make64(host(x), requires_grad=False, device=device)  # a first layer's input
    gradcheck(linear, [x_data, w, b])
    w_fixed = make64(host(w), requires_grad=False, device=device)
    gradcheck(linear, [x, w_fixed, None])
    np.testing.assert_allclose(host(linear(x, w, b)), host(x) @ host(w).T + host(b),
                               rtol=1e-12)


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
def test_activations(fn, ref, device, make64, host, rng):
    x = make64(_away_from_zero(rng, (3, 4)), device=device)
    gradcheck(fn, [x])
    np.testing.assert_allclose(host(fn(x)), ref(host(x)), rtol=1e-12)


def test_sigmoid_is_stable_for_large_inputs(device, host):
    y = host(sigmoid(Tensor(np.array([-800.0, 800.0]), device=device)))
    assert np.all(np.isfinite(y)) and y[0] == 0.0 and y[1] == 1.0


def test_dropout(device, make64, host, rng):
    x = make64(rng.standard_normal((50, 40) if device == "cpu" else (20, 20)), device=device)
    y = host(dropout(x, p=0.3, generator=np.random.default_rng(0)))
    kept = y != 0
    assert 0.6 < kept.mean() < 0.8
    np.testing.assert_allclose(y[kept], host(x)[kept] / 0.7)
    small = make64(rng.standard_normal((3, 4)), device=device)
    gradcheck(lambda x: dropout(x, 0.3, generator=np.random.default_rng(5)), [small])
    assert dropout(x, 0.3, training=False) is x
    a = host(dropout(x, 0.5, generator=np.random.default_rng(7)))
    b = host(dropout(x, 0.5, generator=np.random.default_rng(7)))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="p must be in"):
        dropout(x, 1.5)


def test_log_softmax(device, make64, host, rng):
    x = make64(rng.standard_normal((3, 5)), device=device)
    gradcheck(log_softmax, [x])
    gradcheck(lambda x: log_softmax(x, dim=0), [x])
    ref = host(x) - np.log(np.exp(host(x)).sum(1, keepdims=True))
    np.testing.assert_allclose(host(log_softmax(x)), ref, rtol=1e-12)
    big = host(log_softmax(Tensor(np.array([[1000.0, 0.0]]), device=device)))
    assert np.all(np.isfinite(big))


def test_cross_entropy(device, make64, host, rng):
    n = 4 if device == "cpu" else 2                   # the simulator: fewer gradcheck entries
    x = make64(rng.standard_normal((n, 6)), device=device)
    t = np.array([0, 5, 2, 2])[:n]
    gradcheck(lambda x: cross_entropy(x, t), [x])
    gradcheck(lambda x: cross_entropy(x, t, reduction="none"), [x])
    xa = host(x)
    ref = -(xa - np.log(np.exp(xa).sum(1, keepdims=True)))[np.arange(n), t].mean()
    np.testing.assert_allclose(cross_entropy(x, t).item(), ref, rtol=1e-12)
    with pytest.raises(ValueError, match=r"target values must lie in \[0, 6\)"):
        cross_entropy(x, np.array([0, 6, 1, 1])[:n])
    with pytest.raises(TypeError, match="integer"):
        cross_entropy(x, np.zeros(n))
    with pytest.raises(ValueError, match=rf"target must have shape \({n},\)"):
        cross_entropy(x, np.zeros(n - 1, np.int64))


def test_bce_with_logits(device, make64, host, rng):
    n, m = (5, 6) if device == "cpu" else (2, 3)      # the simulator: fewer gradcheck entries
    x = make64(rng.standard_normal((n, 3)) * 3, device=device)
    y = make64(rng.integers(0, 2, (n, 3)).astype(float), device=device)
    pw = np.array([1.0, 2.5, 0.5])
    gradcheck(lambda x, y: binary_cross_entropy_with_logits(x, y, pos_weight=pw), [x, y])
    gradcheck(lambda x: binary_cross_entropy_with_logits(x, y.detach(), reduction="sum"), [x])
    s, ya = 1 / (1 + np.exp(-host(x))), host(y)
    ref = -(pw * ya * np.log(s) + (1 - ya) * np.log(1 - s)).mean()
    np.testing.assert_allclose(
        binary_cross_entropy_with_logits(x, y, pos_weight=pw).item(), ref, rtol=1e-10)
    x1 = make64(rng.standard_normal(m), device=device)   # (N,) logits, the mortality-model case
    y1 = Tensor(rng.integers(0, 2, m).astype(np.float64), device=device)
    gradcheck(lambda x: binary_cross_entropy_with_logits(x, y1, pos_weight=3.0), [x1])
    extreme = binary_cross_entropy_with_logits(Tensor(np.array([500.0, -500.0]), device=device),
                                               Tensor(np.array([0.0, 1.0]), device=device),
                                               reduction="none")
    np.testing.assert_allclose(host(extreme), [500.0, 500.0])


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
