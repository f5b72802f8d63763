"""Check a hand-written backward against central finite differences.

For a function f of tensors x_1..x_k with outputs y_1..y_m we draw random
weights w_j (one per output element, seeded) and form the scalar
L = sum_j <w_j, y_j>. Its gradient from `backward` is compared, entry by entry,
with the central difference

    dL/dx[i] ~ (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)

whose error is O(eps^2) plus rounding O(ulp / eps); in float64 with eps=1e-6
both are ~1e-10 relative, so tolerances of 1e-6 leave room only for real bugs.
Random output weights make it unlikely that errors cancel in the sum.
On a GPU device the perturbed input is copied to the device for each
evaluation. Points where f has a kink (relu at 0, max ties, integer sample coordinates of
the bilinear sampler) must be kept away from the test inputs.
"""
from __future__ import annotations

import numpy as np

from ..kernels import backend
from .function import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Analytic and numeric gradients disagree; the message names the worst entry."""


def _outputs(fn, inputs):
    out = fn(*inputs)
    return out if isinstance(out, (tuple, list)) else (out,)


def _weighted_sum(outs, weights) -> float:
    return float(sum(np.sum(o.numpy() * w) for o, w in zip(outs, weights) if w is not None))


def _sync(t, x, be):
    """Give the tensor t the (perturbed) host values x (a no-op on the CPU: x is t.data)."""
    if t.device != "cpu":
        t.data = be.from_host(x)


def gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-5, seed=0) -> bool:
    """Compare the analytic gradient of `fn` with central differences.

    fn: callable taking `inputs` and returning a Tensor or a tuple of Tensors.
    inputs: sequence of Tensors (float64 where requires_grad=True) and other args.
    Passes when |analytic - numeric| <= atol + rtol * |numeric| everywhere;
    otherwise raises GradcheckError naming the input, the worst entry and both
    values. Returns True on success.
    """
    inputs = list(inputs)
    wrt = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not wrt:
        raise ValueError("gradcheck: no input has requires_grad=True")
    for i in wrt:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; use float64 "
                            "(float32 differences are swamped by rounding)")
    rng = np.random.default_rng(seed)

    outs = _outputs(fn, inputs)
    weights = [rng.standard_normal(o.shape) if o.dtype.kind == "f" else None for o in outs]
    loss = None
    for o, w in zip(outs, weights):
        if w is None or not o.requires_grad:
            continue
        term = (o * Tensor(w, device=o.device)).sum()
        loss = term if loss is None else loss + term
    for i in wrt:
        inputs[i].grad = None
    if loss is not None:
        loss.backward()
    analytic = {i: (backend(inputs[i].device).to_host(inputs[i].grad)
                    if inputs[i].grad is not None else np.zeros_like(inputs[i].numpy()))
                for i in wrt}

    for i in wrt:
        t = inputs[i]
        be = backend(t.device)
        x = t.data if t.device == "cpu" else t.numpy()   # host copy on a GPU device
        numeric = np.zeros_like(x)
        if not x.flags.c_contiguous:
            raise ValueError(f"gradcheck: input {i} must be C-contiguous")
        flat, nflat = x.reshape(-1), numeric.reshape(-1)   # views: edits reach x
        with no_grad():
            for k in range(flat.size):
                orig = flat[k]
                flat[k] = orig + eps
                _sync(t, x, be)
                hi = _weighted_sum(_outputs(fn, inputs), weights)
                flat[k] = orig - eps
                _sync(t, x, be)
                lo = _weighted_sum(_outputs(fn, inputs), weights)
                flat[k] = orig
                nflat[k] = (hi - lo) / (2 * eps)
            _sync(t, x, be)
        a = analytic[i]
        err = np.abs(a - numeric) - (atol + rtol * np.abs(numeric))
        if np.any(err > 0) or not np.all(np.isfinite(a)):
            k = int(np.nanargmax(np.where(np.isfinite(a), err, np.inf)))
            idx = np.unravel_index(k, x.shape)
            raise GradcheckError(
                f"gradcheck failed for input {i} (shape {x.shape}) at index {idx}: "
                f"analytic {a[idx]:.10g}, numeric {numeric[idx]:.10g} "
                f"(atol={atol}, rtol={rtol}, eps={eps}; "
                f"{int(np.sum(err > 0))} of {x.size} entries off)")
    return True
