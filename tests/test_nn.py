"""Modules, optimisers, checkpoints and reproducibility."""
import os

import numpy as np
import pytest

import minstn
import minstn.functional as F
from minstn import Tensor, nn, optim


def test_module_registration_and_state_dict(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert model.num_parameters() == 2 * 9 + 2 + 32 * 3 + 3
    path = tmp_path / "ckpt.npz"
    minstn.save(model.state_dict(), path)
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    other = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(32, 3))
    other.load_state_dict(minstn.load(path))
    x = Tensor(np.random.default_rng(0).standard_normal((2, 1, 6, 6)).astype(np.float32))
    np.testing.assert_array_equal(model(x).data, other(x).data)
    with pytest.raises(KeyError, match="missing keys"):
        other.load_state_dict({"0.weight": model.state_dict()["0.weight"]})
    with pytest.raises(ValueError, match="shape"):
        nn.Linear(3, 3).load_state_dict({"weight": np.zeros((2, 3)), "bias": np.zeros(3)})


def test_train_eval_switches_dropout():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    x = Tensor(np.ones((8, 4), np.float32))
    model.eval()
    np.testing.assert_array_equal(model(x).data, model(x).data)
    assert not model[1].training
    model.train()
    assert model[1].training


def test_init_matches_pytorch_bounds():
    lin = nn.Linear(50, 20, generator=np.random.default_rng(0))
    bound = 1 / np.sqrt(50)
    assert np.abs(lin.weight.data).max() <= bound and np.abs(lin.weight.data).max() > 0.9 * bound
    conv = nn.Conv2d(3, 4, 5, generator=np.random.default_rng(0))
    assert np.abs(conv.weight.data).max() <= 1 / np.sqrt(75)


def test_optimizers_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(5)]
    cases = [(lambda p: optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-2, nesterov=True),
              lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-2, nesterov=True)),
             (lambda p: optim.SGD(p, lr=0.1),
              lambda p: torch.optim.SGD(p, lr=0.1)),
             (lambda p: optim.Adam(p, lr=0.01, weight_decay=1e-3),
              lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=1e-3))]
    for ours, theirs in cases:
        p = nn.Parameter(w0.copy())
        tp = torch.tensor(w0.copy(), requires_grad=True)
        o, to = ours([p]), theirs([tp])
        for g in grads:
            p.grad = g.copy()
            tp.grad = torch.tensor(g)
            o.step()
            to.step()
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weight_decay", [0.0, 5e-4])
def test_fused_adam_gives_the_numpy_expressions_bits(dtype, weight_decay):
    """The CPU Adam is one fused loop; it must round exactly as the NumPy expressions in its
    docstring do (the path non-contiguous arrays take), step after step."""
    import math
    from minstn.kernels.cpu.optim import adam_update

    def numpy_adam(p, g, m, v, lr, b1, b2, eps, wd, t):
        if wd:
            g = g + wd * p
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * (g * g)
        p -= (lr / (1 - b1 ** t)) * m / (np.sqrt(v) / math.sqrt(1 - b2 ** t) + eps)

    r = np.random.default_rng(0)
    p = r.standard_normal(1001).astype(dtype)
    fused = (p.copy(), np.zeros_like(p), np.zeros_like(p))          # p, m, v
    ref = (p, np.zeros_like(p), np.zeros_like(p))
    for t in range(1, 8):
        g = (r.standard_normal(p.size) * 10.0 ** r.integers(-6, 2)).astype(dtype)
        adam_update(fused[0], g, fused[1], fused[2], 1e-3, 0.9, 0.999, 1e-8, weight_decay, t)
        numpy_adam(ref[0], g, ref[1], ref[2], 1e-3, 0.9, 0.999, 1e-8, weight_decay, t)
    for a, b in zip(fused, ref):
        np.testing.assert_array_equal(a, b)
    # a strided (not C-contiguous) parameter takes the NumPy path, with the same result
    q = np.zeros(2 * p.size, dtype)
    q[::2] = p
    g = r.standard_normal(p.size).astype(dtype)
    adam_update(q[::2], g, np.zeros_like(p), np.zeros_like(p), 1e-3, 0.9, 0.999, 1e-8,
                weight_decay, 1)
    numpy_adam(p, g, np.zeros_like(p), np.zeros_like(p), 1e-3, 0.9, 0.999, 1e-8, weight_decay, 1)
    np.testing.assert_array_equal(q[::2], p)
    assert not q[1::2].any()                               # the gaps untouched


def test_param_groups_and_step_schedule():
    a, b = nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(2))
    opt = optim.SGD([{"params": [a], "lr": 0.01}, {"params": [b]}], lr=1.0)
    sched = optim.StepLR(opt, milestones=[2, 4], gamma=0.1)
    lrs = []
    for _ in range(5):
        sched.step()
        lrs.append([g["lr"] for g in opt.param_groups])
    np.testing.assert_allclose(lrs, [[0.01, 1], [1e-3, 0.1], [1e-3, 0.1], [1e-4, 0.01],
                                     [1e-4, 0.01]])
    a.grad = np.ones(2)
    b.grad = np.ones(2)
    opt.step()
    np.testing.assert_allclose(a.data, -1e-4)
    np.testing.assert_allclose(b.data, -1e-2)


def test_param_groups_weight_decay_spares_biases():
    from minstn.models.mnist import STCNN
    from minstn.train import param_groups
    model = STCNN(generator=np.random.default_rng(0))
    loc = {id(p) for p in model.localization_parameters()}
    plain = param_groups(model, 1e-3, 0.5)
    assert [g["lr"] for g in plain] == [5e-4, 1e-3] and "weight_decay" not in plain[0]
    groups = param_groups(model, 1e-3, 0.5, weight_decay=1e-4)
    assert sorted(id(p) for g in groups for p in g["params"]) == sorted(map(id, model.parameters()))
    for g in groups:
        decayed = g["weight_decay"] > 0
        assert all((p.ndim >= 2) == decayed for p in g["params"])
        assert g["weight_decay"] in (0, 1e-4)
        assert g["lr"] == (5e-4 if id(g["params"][0]) in loc else 1e-3)
        assert len({id(p) in loc for p in g["params"]}) == 1
    # the decay reaches the optimizer: one Adam step on zero gradients moves only weights
    opt = optim.Adam(groups, lr=1e-3)
    before = [p.data.copy() for p in model.parameters()]
    for p in model.parameters():
        p.grad = np.zeros_like(p.data)
    opt.step()
    for p, b in zip(model.parameters(), before):
        assert (not np.array_equal(p.data, b)) == (p.ndim >= 2 and np.any(b != 0))


def _tiny_run(seed):
    minstn.random.manual_seed(seed)
    gen = np.random.default_rng(seed)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, generator=gen), nn.MaxPool2d(2), nn.ReLU(),
                          nn.Flatten(), nn.Dropout(0.2), nn.Linear(4 * 3 * 3, 3, generator=gen))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    data = np.random.default_rng(99)
    x = Tensor(data.standard_normal((16, 1, 8, 8)).astype(np.float32))
    y = data.integers(0, 3, 16)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model, losses


def test_tiny_model_loss_falls_on_a_fixed_batch():
    _, losses = _tiny_run(0)
    assert losses[-1] < 0.5 * losses[0]


def test_same_seed_gives_bit_identical_parameters():
    m1, _ = _tiny_run(3)
    m2, _ = _tiny_run(3)
    m3, _ = _tiny_run(4)
    for (n, a), b, c in zip(m1.state_dict().items(), m2.state_dict().values(),
                            m3.state_dict().values()):
        assert a.tobytes() == b.tobytes(), n
    assert any(a.tobytes() != c.tobytes() for a, c in zip(m1.state_dict().values(),
                                                          m3.state_dict().values()))


def test_lstm_module_matches_torch():
    torch = pytest.importorskip("torch")
    lstm = nn.LSTM(3, 5, generator=np.random.default_rng(0))
    ref = torch.nn.LSTM(3, 5, batch_first=True).double()
    with torch.no_grad():
        for name, p in lstm.named_parameters():
            getattr(ref, name).copy_(torch.tensor(p.data))
    x = np.random.default_rng(1).standard_normal((2, 4, 3))
    out, (h, c) = lstm(Tensor(x.astype(np.float32)))
    rout, (rh, rc) = ref(torch.tensor(x))
    np.testing.assert_allclose(out.data, rout.detach().numpy(), atol=1e-5)
    assert h.shape == (1, 2, 5) and c.shape == (1, 2, 5)
    np.testing.assert_allclose(h.data, rh.detach().numpy(), atol=1e-5)


def test_spatial_transformer_starts_at_identity_and_learns():
    gen = np.random.default_rng(0)
    loc = nn.Sequential(nn.Flatten(), nn.Linear(64, 8, generator=gen), nn.ReLU())
    st = nn.SpatialTransformer(loc, 8, generator=gen)
    x = Tensor(np.random.default_rng(1).random((2, 1, 8, 8)).astype(np.float32))
    out = st(x)
    np.testing.assert_allclose(st.theta.data, np.tile([[1, 0, 0], [0, 1, 0]], (2, 1, 1)))
    np.testing.assert_allclose(out.data, x.data, atol=1e-6)   # identity, same size
    (out * out).sum().backward()
    assert np.abs(st.fc.weight.grad).sum() > 0               # θ gets gradient through the sampler
    lr = nn.SpatialTransformer(loc, 8, theta_init=[0.5, 0, -0.5, 0, 1, 0])
    lr(x)
    np.testing.assert_allclose(lr.theta.data[0], [[0.5, 0, -0.5], [0, 1, 0]])
    with pytest.raises(ValueError, match="6 values"):
        nn.SpatialTransformer(loc, 8, theta_init=[1, 0])


def test_spatial_transformer1d_can_expand_and_shrink():
    loc = nn.Sequential(nn.Flatten(), nn.Linear(2 * 10, 4), nn.ReLU())
    st = nn.SpatialTransformer1d(loc, 4)
    x = Tensor(np.random.default_rng(0).random((3, 2, 10)).astype(np.float32))
    np.testing.assert_allclose(st(x).data, x.data, atol=1e-6)   # exp(0) = 1: identity warp
    st.fc.bias.data[:] = [np.log(2.0), 0.0]
    st(x)
    assert np.allclose(st.theta.data[:, 0, 0], 2.0)               # scale > 1 is reachable
    st.fc.bias.data[:] = [np.log(0.5), 0.0]
    st(x)
    assert np.allclose(st.theta.data[:, 0, 0], 0.5)


def test_warmup_cosine_starts_at_factor0_and_decays_to_zero():
    p = nn.Parameter(np.zeros(1))
    opt = optim.SGD([p], lr=1.0)
    sched = optim.WarmupCosine(opt, warmup=4, total=10)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(10):
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs[:5], [0.25, 0.5, 0.75, 1.0, 1.0])
    assert lrs[-1] == 0.0 and all(a >= b for a, b in zip(lrs[4:], lrs[5:]))


def test_param_groups_put_localisation_nets_at_a_scaled_lr():
    from minstn.models import STCNN
    from minstn.train import param_groups
    model = STCNN(canvas=28, st_out=20, generator=np.random.default_rng(0))
    groups = param_groups(model, 1e-3, 0.1)
    assert [g["lr"] for g in groups] == [1e-4, 1e-3]
    loc = {id(p) for p in model.localization_parameters()}
    assert {id(p) for p in groups[0]["params"]} == loc
    assert sum(len(g["params"]) for g in groups) == len(model.parameters())
    plain = nn.Linear(2, 2)
    assert param_groups(plain, 0.5)[0]["lr"] == 0.5


# ---- checkpoints: load_model and the errors a user meets -----------------------------
def _saved(tmp_path):
    import minstn
    from minstn.models.mnist import ConvNet
    path = tmp_path / "m.npz"
    minstn.save_model(ConvNet(20, convs=[(4, 3, 1, 2)], hidden=8), path)
    return path


def test_load_model_names_a_truncated_file(tmp_path):
    import minstn
    path = _saved(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(minstn.serialization.CheckpointError,
                       match=r"m\.npz.*cannot be read.*truncated or not a minstn checkpoint"):
        minstn.load_model(path)
    path.write_text("hello")
    with pytest.raises(minstn.serialization.CheckpointError, match=r"m\.npz"):
        minstn.load(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        minstn.load(tmp_path / "nothing.npz")


def test_load_model_refuses_unknown_classes_and_weights_only_files(tmp_path):
    import json

    import minstn
    from minstn.serialization import MODEL_KEY, CheckpointError
    path = _saved(tmp_path)
    state = minstn.load(path)
    header = json.loads(str(state[MODEL_KEY]))
    header["class"] = "minstn.models.mnist.Transformer"
    minstn.save({**state, MODEL_KEY: np.array(json.dumps(header))}, tmp_path / "u.npz")
    with pytest.raises(CheckpointError, match="Transformer.*does not have"):
        minstn.load_model(tmp_path / "u.npz")
    header["class"] = "os.system"
    minstn.save({**state, MODEL_KEY: np.array(json.dumps(header))}, tmp_path / "o.npz")
    with pytest.raises(CheckpointError, match="outside the minstn package"):
        minstn.load_model(tmp_path / "o.npz")
    minstn.save({k: v for k, v in state.items() if k != MODEL_KEY}, tmp_path / "w.npz")
    with pytest.raises(CheckpointError, match="weights only"):
        minstn.load_model(tmp_path / "w.npz")


def test_load_model_names_the_parameter_that_does_not_fit(tmp_path):
    import minstn
    from minstn.serialization import CheckpointError
    path = _saved(tmp_path)
    state = minstn.load(path)
    state["net.0.weight"] = np.zeros((5, 1, 3, 3), np.float32)
    minstn.save(state, tmp_path / "s.npz")
    with pytest.raises(CheckpointError, match=r"s\.npz.*net\.0\.weight has shape \(4, 1, 3, 3\)"):
        minstn.load_model(tmp_path / "s.npz")
    del state["net.0.weight"]
    state["extra"] = np.zeros(3)
    minstn.save(state, tmp_path / "k.npz")
    with pytest.raises(CheckpointError, match=r"missing keys \['net.0.weight'\].*unexpected.*extra"):
        minstn.load_model(tmp_path / "k.npz")


def test_submodules_are_attributes_of_minstn():
    import subprocess
    import sys
    code = "import minstn; print(minstn.nn.Linear.__name__, minstn.optim.Adam.__name__, " \
           "minstn.functional.affine_grid.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["Linear", "Adam", "affine_grid"]
