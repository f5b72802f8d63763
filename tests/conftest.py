import os

import numpy as np
import pytest

import minstn

CUDA = pytest.param("cuda", marks=[
    pytest.mark.cudasim,
    pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") != "1"
                       and not minstn.device.cuda_available(),
                       reason="needs a GPU or NUMBA_ENABLE_CUDASIM=1")])


def pytest_report_header(config):
    flags = [f"{k}={os.environ[k]}" for k in ("NUMBA_DISABLE_JIT", "NUMBA_ENABLE_CUDASIM",
                                               "MINSTN_DATA") if k in os.environ]
    return "minstn env: " + (", ".join(flags) or "defaults")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(params=["cpu", CUDA])
def device(request):
    """The device an op test runs on. The "cuda" case is marked cudasim (`make test-cudasim`
    selects it) and skipped unless there is a GPU or NUMBA_ENABLE_CUDASIM=1."""
    return request.param


def t64(a, requires_grad=True, device="cpu"):
    """A float64 tensor (a copy of `a`) on `device`, for gradchecks."""
    return minstn.Tensor(np.array(a, dtype=np.float64), requires_grad=requires_grad,
                         device=device)


@pytest.fixture
def make64():
    return t64


def to_host(a):
    """A tensor's values or a `.grad` (a NumPy array on "cpu", a device array on "cuda")
    as a NumPy array."""
    if isinstance(a, minstn.Tensor):
        return a.numpy()
    return a if isinstance(a, np.ndarray) else a.copy_to_host()


@pytest.fixture
def host():
    return to_host


def pytest_terminal_summary(terminalreporter):
    """Say plainly when the PyTorch parity tests did not run, and how to run them."""
    skipped = terminalreporter.stats.get("skipped", [])
    torch_skips = sum(1 for r in skipped if "torch" in str(r.longrepr).lower())
    if torch_skips:
        terminalreporter.write_line(
            f"PyTorch parity: {torch_skips} test(s) skipped because torch is not installed; "
            "run `make install-torch` and `make test` to compare minstn's numbers with PyTorch's.",
            yellow=True)
