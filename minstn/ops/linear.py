"""`linear`: y = x W^T + b with weight (out, in), as torch.nn.functional.linear."""
import math

from ..autograd.function import Function
from ..kernels import backend
from ._check import c, empty, float_tensor


class Linear(Function):
    @staticmethod
    def forward(ctx, x, w, b):
        be = backend(ctx.device)
        *lead, n_in = x.shape                 # (the CUDA simulator's shapes take no [-1])
        x2 = c(x).reshape(math.prod(lead), n_in)      # (N, I)
        w = c(w)                                      # (O, I)
        out = be.empty((x2.shape[0], w.shape[0]), x.dtype)
        be.linear_forward(x2, w, empty(x.dtype, ctx.device) if b is None else c(b), out)
        ctx.save_for_backward(x2, w)
        ctx.x_shape, ctx.has_b = x.shape, b is not None
        return out.reshape(*lead, w.shape[0])         # (..., O)

    @staticmethod
    def backward(ctx, g):
        x2, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        be = backend(ctx.device)
        g2 = c(g).reshape(x2.shape[0], w.shape[0])    # (N, O)
        gx = be.empty_like(x2) if need_x else empty(x2.dtype, ctx.device, 2)
        gw = be.empty_like(w) if need_w else empty(w.dtype, ctx.device, 2)
        gb = be.empty((w.shape[0],), w.dtype) if need_b else empty(w.dtype, ctx.device)
        be.linear_backward(x2, w, g2, gx, gw, gb)
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
