"""log_softmax and the classification losses (PyTorch names, arguments and reductions)."""
import numpy as np

from ..autograd.function import Function
from ..kernels import backend
from ._check import c, float_tensor

_REDUCTIONS = ("mean", "sum", "none")


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x):
        x = c(x)
        out = backend(ctx.device).empty_like(x)
        backend(ctx.device).log_softmax_forward(x, out)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        gx = backend(ctx.device).empty_like(out)
        backend(ctx.device).log_softmax_backward(out, c(g), gx)
        return gx


def log_softmax(input, dim=-1):
    """log(softmax(input)) along `dim`, computed stably as x - logsumexp(x)."""
    float_tensor("input", input)
    dim = dim % input.ndim
    x = input if dim == input.ndim - 1 else input.transpose(dim, -1)
    shape = x.shape
    y = LogSoftmax.apply(x.reshape(-1, shape[-1])).reshape(*shape)
    return y if dim == input.ndim - 1 else y.transpose(dim, -1)


class CrossEntropy(Function):
    @staticmethod
    def forward(ctx, logits, target):
        be = backend(ctx.device)
        logits = c(logits)
        target = be.from_host(target)                  # (N,) int64, checked on the host
        logp = be.empty_like(logits)
        losses = be.empty((logits.shape[0],), logits.dtype)
        be.cross_entropy_forward(logits, target, logp, losses)
        ctx.save_for_backward(logp, target)
        return losses                                  # (N,)

    @staticmethod
    def backward(ctx, g):
        logp, target = ctx.saved_tensors
        gx = backend(ctx.device).empty_like(logp)
        backend(ctx.device).cross_entropy_backward(logp, target, c(g), gx)
        return gx, None


def _reduce(losses, reduction):
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def cross_entropy(input, target, reduction="mean"):
    """-log softmax(input)[target], averaged over the batch.

    input (N, K) float logits; target (N,) integer class indices in [0, K).
    reduction: "mean" (default), "sum" or "none" (→ (N,)).
    """
    from ..autograd.tensor import Tensor
    float_tensor("input", input, 2)
    tgt = target.numpy() if isinstance(target, Tensor) else np.asarray(target)
    if tgt.dtype.kind not in "iu":
        raise TypeError(f"target must hold integer class indices, got dtype {tgt.dtype}")
    if tgt.shape != input.shape[:1]:
        raise ValueError(f"target must have shape ({input.shape[0]},), got {tgt.shape}")
    if tgt.size and (tgt.min() < 0 or tgt.max() >= input.shape[1]):
        raise ValueError(f"target values must lie in [0, {input.shape[1]}), "
                         f"got range [{tgt.min()}, {tgt.max()}]")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return _reduce(CrossEntropy.apply(input, c(tgt.astype(np.int64))), reduction)


class BCEWithLogits(Function):
    @staticmethod
    def forward(ctx, x, y, pos_weight):
        be = backend(ctx.device)
        k = x.shape[x.ndim - 1]                       # (the CUDA simulator's shapes take no [-1])
        x2, y2 = c(x).reshape(x.size // k, k), c(y).reshape(x.size // k, k)  # (rows, K)
        pos_weight = be.from_host(pos_weight)          # (K,), built on the host
        losses = be.empty_like(x2)
        be.bce_with_logits_forward(x2, y2, pos_weight, losses)
        ctx.save_for_backward(x2, y2, pos_weight)
        ctx.shape = x.shape
        return losses.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        x2, y2, pw = ctx.saved_tensors
        be = backend(ctx.device)
        gx = be.empty_like(x2)
        gy = be.empty_like(y2) if ctx.needs_input_grad[1] else be.skip(x2.dtype, 2)
        be.bce_with_logits_backward(x2, y2, pw, c(g).reshape(x2.shape), gx, gy)
        return (gx.reshape(ctx.shape),
                gy.reshape(ctx.shape) if ctx.needs_input_grad[1] else None, None)


def binary_cross_entropy_with_logits(input, target, pos_weight=None, reduction="mean"):
    """-(pos_weight·y·log σ(x) + (1-y)·log(1-σ(x))), computed from logits without overflow.

    input, target: same shape (N, ...); pos_weight: None or (K,) over the last axis
    (K = input.shape[-1]; a scalar-per-class weight on positives, as in PyTorch).
    """
    from ..autograd.tensor import Tensor
    float_tensor("input", input)
    if not isinstance(target, Tensor):
        target = Tensor(np.asarray(target, dtype=input.dtype), device=input.device)
    float_tensor("target", target, dtype=input.dtype)
    if target.shape != input.shape:
        raise ValueError(f"target must have the input's shape {input.shape}, got {target.shape}")
    k = input.shape[-1] if input.ndim > 1 else 1
    if pos_weight is None:
        pw = np.ones(k, input.dtype)
    else:
        pw = np.asarray(pos_weight.numpy() if isinstance(pos_weight, Tensor) else pos_weight,
                        dtype=input.dtype).reshape(-1)
        if pw.size == 1:
            pw = np.full(k, pw[0], input.dtype)
        if pw.shape != (k,):
            raise ValueError(f"pos_weight must have shape ({k},) or be a scalar, got {pw.shape}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    x, y = input, target
    if input.ndim == 1:                      # (N,) → (N, 1) so the kernel sees rows
        x, y = input.reshape(-1, 1), target.reshape(-1, 1)
    losses = BCEWithLogits.apply(x, y, c(pw))
    if input.ndim == 1:
        losses = losses.reshape(-1)
    return _reduce(losses, reduction)
