"""`linear`: y = x W^T + b with weight (out, in), as torch.nn.functional.linear."""
import numpy as np

from ..autograd.function import Function
from ..kernels import backend
from ._check import c, empty, float_tensor


class Linear(Function):
    @staticmethod
    def forward(ctx, x, w, b):
        lead = x.shape[:-1]
        x2 = c(x.reshape(-1, x.shape[-1]))            # (N, I)
        w = c(w)                                      # (O, I)
        out = np.empty((x2.shape[0], w.shape[0]), x.dtype)
        backend(ctx.device).linear_forward(x2, w, empty(x.dtype) if b is None else c(b), out)
        ctx.save_for_backward(x2, w)
        ctx.x_shape, ctx.has_b = x.shape, b is not None
        return out.reshape(*lead, w.shape[0])         # (..., O)

    @staticmethod
    def backward(ctx, g):
        x2, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        g2 = c(g.reshape(-1, w.shape[0]))
        gx = np.empty_like(x2) if need_x else empty(x2.dtype)
        gw = np.empty_like(w) if need_w else empty(w.dtype)
        gb = np.empty(w.shape[0], w.dtype) if need_b else empty(w.dtype)
        backend(ctx.device).linear_backward(x2, w, g2, gx, gw, gb)
        return (gx.reshape(ctx.x_shape) if need_x else None,
                gw if need_w else None, gb if need_b else None)


def linear(input, weight, bias=None):
    """y = input @ weight^T + bias.

    input (..., in), weight (out, in), bias (out,) or None  →  (..., out)
    """
    float_tensor("input", input)
    float_tensor("weight", weight, 2, input.dtype)
    if input.ndim < 1 or weight.shape[1] != input.shape[-1]:
        raise ValueError(f"weight must have shape (out, {input.shape[-1]}) to match input "
                         f"{input.shape}, got {weight.shape}")
    if bias is not None:
        float_tensor("bias", bias, 1, input.dtype)
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"bias must have shape ({weight.shape[0]},), got {bias.shape}")
    return Linear.apply(input, weight, bias)
