import os

import numpy as np
import pytest

import minstn


def pytest_report_header(config):
    flags = [f"{k}={os.environ[k]}" for k in ("NUMBA_DISABLE_JIT", "NUMBA_ENABLE_CUDASIM",
                                               "MINSTN_DATA") if k in os.environ]
    return "minstn env: " + (", ".join(flags) or "defaults")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def t64(a, requires_grad=True):
    """A float64 tensor for gradchecks."""
    return minstn.Tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


@pytest.fixture
def make64():
    return t64
