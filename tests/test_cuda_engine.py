"""The engine on device="cuda": Tensor moves, the basic ops, optimisers, Module.to,
checkpoints, and a small ST-CNN training the same on both devices."""
import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = [pytest.mark.cudasim, pytest.mark.skipif(
    os.environ.get("NUMBA_ENABLE_CUDASIM") != "1" and not __import__("minstn").device.cuda_available(),
    reason="needs a GPU or NUMBA_ENABLE_CUDASIM=1")]

import minstn  # noqa: E402
from minstn import Tensor, gradcheck  # noqa: E402


def _public(mod):
    return {n for n, v in vars(mod).items() if not n.startswith("_") and callable(v)
            and not isinstance(v, type(np))}


def test_backends_export_the_same_names():
    import minstn.kernels.cpu as cpu
    import minstn.kernels.cuda as cuda
    assert _public(cpu) == _public(cuda)


def test_tensor_moves_and_host_views():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = Tensor(x, device="cuda")
    assert t.device == "cuda" and t.shape == (2, 3) and t.dtype == np.float32
    assert not isinstance(t.data, np.ndarray)                # a device array
    np.testing.assert_array_equal(t.numpy(), x)
    back = t.to("cpu")
    assert back.device == "cpu" and isinstance(back.data, np.ndarray)
    np.testing.assert_array_equal(back.data, x)
    assert t.to("cuda") is t
    assert Tensor(3.5, device="cuda").item() == 3.5
    assert "device='cuda'" in repr(t) and "device" not in repr(back)
    assert t.double().dtype == np.float64 and t.double().device == "cuda"
    np.testing.assert_array_equal(t == back, np.ones((2, 3), bool))


def test_mixed_devices_raise_naming_both():
    a, b = Tensor(np.ones(3)), Tensor(np.ones(3), device="cuda")
    with pytest.raises(RuntimeError, match="cpu and cuda"):
        a + b


def test_cuda_without_gpu_or_simulator_raises():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    code = ("import minstn\n"
            "if minstn.cuda_available(): print('HAS GPU')\n"
            "else:\n"
            "    try: minstn.Tensor([1.0], device='cuda')\n"
            "    except RuntimeError as e: print('ERR', e)\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if "HAS GPU" in out.stdout:
        pytest.skip("a real GPU is present")
    assert "ERR" in out.stdout and "NUMBA_ENABLE_CUDASIM=1" in out.stdout, out.stdout + out.stderr


# ---- every basic op on cuda vs cpu (float32) and gradcheck (float64) ----------------
R = np.random.default_rng(5)
A = R.standard_normal((2, 3))
B = R.standard_normal((3,))
P = np.abs(R.standard_normal((2, 3))) + 0.5
M = R.standard_normal((3, 2))
OPS = {
    "add": (lambda a, b: a + b, [A, B]),
    "sub": (lambda a, b: a - b, [A, B]),
    "rsub_scalar": (lambda a: 1.5 - a, [A]),
    "mul": (lambda a, b: a * b, [A, B]),
    "div": (lambda a, b: a / b, [A, P]),
    "neg": (lambda a: -a, [A]),
    "pow": (lambda a: a ** 1.5, [P]),
    "exp": (lambda a: a.exp(), [A]),
    "log": (lambda a: a.log(), [P]),
    "matmul": (lambda a, b: a @ b, [A, M]),
    "matmul_vec": (lambda a, b: a @ b, [A, B]),
    "sum": (lambda a: a.sum(), [A]),
    "sum_dim": (lambda a: a.sum(1, keepdim=True), [A]),
    "mean_dim": (lambda a: a.mean(0), [A]),
    "reshape": (lambda a: a.reshape(3, 2), [A]),
    "permute": (lambda a: a.permute(1, 0), [A]),
    "getitem": (lambda a: a[:, 1:], [A]),
    "cat": (lambda a, b: minstn.cat([a, b], 1), [A, P]),
    "stack": (lambda a, b: minstn.stack([a, b], 0), [A, P]),
}


def _run(fn, arrays, device, dtype):
    ts = [Tensor(a.astype(dtype), requires_grad=True, device=device) for a in arrays]
    out = fn(*ts)
    w = np.random.default_rng(0).standard_normal(out.shape).astype(dtype)
    (out * Tensor(w, device=device)).sum().backward()
    return out.numpy(), [t.grad for t in ts]


@pytest.mark.parametrize("name", sorted(OPS))
def test_basic_op_matches_cpu(name):
    fn, arrays = OPS[name]
    ref, ref_g = _run(fn, arrays, "cpu", np.float32)
    got, got_g = _run(fn, arrays, "cuda", np.float32)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    for r, g in zip(ref_g, got_g):
        assert not isinstance(g, np.ndarray)                 # grads live on the device
        np.testing.assert_allclose(g.copy_to_host(), r, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(OPS))
def test_basic_op_gradcheck_on_cuda(name):
    fn, arrays = OPS[name]
    assert gradcheck(fn, [Tensor(a, requires_grad=True, device="cuda") for a in arrays])


def test_gradcheck_catches_a_wrong_backward_on_cuda():
    class Bad(minstn.Function):
        @staticmethod
        def forward(ctx, a):
            return minstn.kernels.backend(ctx.device).mul(a, 2.0)

        @staticmethod
        def backward(ctx, g):
            return minstn.kernels.backend(ctx.device).mul(g, 3.0)
    with pytest.raises(AssertionError, match="gradcheck failed"):
        gradcheck(Bad.apply, [Tensor(A, requires_grad=True, device="cuda")])


def test_grad_accumulates_on_device():
    x = Tensor(A.astype(np.float32), requires_grad=True, device="cuda")
    ((x * 2.0).sum() + (x * x).sum()).backward()
    np.testing.assert_allclose(x.grad.copy_to_host(), 2 + 2 * A.astype(np.float32), rtol=1e-6)


def test_backward_twice_same_bytes():
    x0 = np.random.default_rng(8).standard_normal((4, 50)).astype(np.float32)
    outs = []
    for _ in range(2):
        x = Tensor(x0, requires_grad=True, device="cuda")
        ((x @ x.permute(1, 0)).mean(0).sum() * x.sum()).backward()
        outs.append(x.grad.copy_to_host().tobytes())
    assert outs[0] == outs[1]


# ---- modules, optimisers, checkpoints --------------------------------------------------
def _mlp(seed=0):
    from minstn import nn
    return nn.Linear(4, 3, generator=np.random.default_rng(seed))


def test_module_to_moves_params_and_drops_grads(tmp_path):
    m = _mlp()
    w = m.weight.numpy().copy()
    m.weight.grad = np.ones_like(w)
    m.to("cuda")
    assert all(p.device == "cuda" for p in m.parameters()) and m.weight.grad is None
    np.testing.assert_array_equal(m.weight.numpy(), w)
    sd = m.state_dict()
    assert isinstance(sd["weight"], np.ndarray)
    minstn.save(sd, tmp_path / "m.npz")
    minstn.save({"w": m.weight}, tmp_path / "t.npz")
    np.testing.assert_array_equal(minstn.load(tmp_path / "t.npz")["w"], w)
    m2 = _mlp(1).to("cuda")
    m2.load_state_dict(minstn.load(tmp_path / "m.npz"))
    np.testing.assert_array_equal(m2.weight.numpy(), w)
    assert m2.weight.device == "cuda"


@pytest.mark.parametrize("opt", ["sgd", "sgd_nesterov", "adam"])
def test_optimisers_match_cpu(opt):
    from minstn import optim
    res = {}
    for dev in ("cpu", "cuda"):
        m = _mlp().to(dev)
        o = {"sgd": lambda p: optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-2),
             "sgd_nesterov": lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
             "adam": lambda p: optim.Adam(p, lr=1e-2, weight_decay=1e-2)}[opt](m.parameters())
        x = Tensor(A[:, :2].repeat(2, 1).astype(np.float32), device=dev)
        for _ in range(3):
            o.zero_grad()
            (m(x) ** 2.0).mean().backward()
            o.step()
        res[dev] = [p.numpy() for p in m.parameters()]
    for a, b in zip(res["cpu"], res["cuda"]):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_accuracy_on_cuda():
    from minstn.train import accuracy
    m = _mlp()
    x = R.standard_normal((5, 4)).astype(np.float32)
    y = m(Tensor(x)).numpy().argmax(1)
    m.to("cuda")
    assert accuracy(m, x, y, device="cuda", batch=2) == 1.0


# ---- final check: a small ST-CNN trains the same on both devices --------------------
def _stcnn():
    from minstn import nn
    import minstn.functional as F

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.loc = nn.Linear(2 * 6 * 6, 6)
            self.loc.weight = nn.Parameter(
                np.random.default_rng(1).standard_normal((6, 72)).astype(np.float32) * 0.01)
            self.loc.bias = nn.Parameter(np.array([1, 0, 0, 0, 1, 0], np.float32))
            self.conv = nn.Conv2d(2, 2, 3)
            self.fc = nn.Linear(2, 3)

        def forward(self, x):                                   # (N, 2, 6, 6)
            theta = self.loc(x.reshape(x.shape[0], -1)).reshape(-1, 2, 3)
            grid = F.affine_grid(theta, (x.shape[0], 2, 5, 5), align_corners=False)
            x = F.grid_sample(x, grid, align_corners=False)     # (N, 2, 5, 5)
            x = F.relu(self.conv(x))                            # (N, 2, 3, 3)
            x = F.max_pool2d(x, 2)                              # (N, 2, 1, 1)
            return self.fc(x.reshape(x.shape[0], -1))
    return Net()


def test_small_stcnn_same_loss_curve_on_both_devices():
    from minstn import optim
    import minstn.functional as F
    minstn.random.manual_seed(0)
    r = np.random.default_rng(7)
    x = r.standard_normal((2, 2, 6, 6)).astype(np.float32)
    y = np.array([0, 2])
    curves = {}
    state = None
    for dev in ("cpu", "cuda"):
        net = _stcnn()
        if state is None:
            state = net.state_dict()
        net.load_state_dict(state)
        net.to(dev)
        opt = optim.Adam(net.parameters(), lr=1e-2)
        losses = []
        for _ in range(3):
            opt.zero_grad()
            loss = F.cross_entropy(net(Tensor(x, device=dev)), Tensor(y, device=dev))
            loss.backward()
            opt.step()
            losses.append(loss.item())
        curves[dev] = losses
    np.testing.assert_allclose(curves["cuda"], curves["cpu"], rtol=1e-4, atol=1e-5)
