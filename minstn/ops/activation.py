"""Element-wise activations and dropout, each a Function over a Numba kernel."""
import numpy as np

from .. import random
from ..autograd.function import Function
from ..kernels import backend
from ._check import c, float_tensor


class _Pointwise(Function):
    """y = f(x) with dy/dx expressible through y; subclasses name the kernels."""
    name = ""

    @classmethod
    def forward(cls, ctx, x):
        x = c(x)
        out = backend(ctx.device).empty_like(x)
        getattr(backend(ctx.device), cls.name + "_forward")(x, out)
        ctx.save_for_backward(out)
        return out

    @classmethod
    def backward(cls, ctx, g):
        (out,) = ctx.saved_tensors
        gx = backend(ctx.device).empty_like(out)
        getattr(backend(ctx.device), cls.name + "_backward")(out, c(g), gx)
        return gx


class ReLU(_Pointwise):
    name = "relu"


class Tanh(_Pointwise):
    name = "tanh"


class Sigmoid(_Pointwise):
    name = "sigmoid"


def relu(input):
    """max(input, 0), any shape."""
    return ReLU.apply(float_tensor("input", input))


def tanh(input):
    """tanh(input), any shape."""
    return Tanh.apply(float_tensor("input", input))


def sigmoid(input):
    """1 / (1 + exp(-input)), any shape."""
    return Sigmoid.apply(float_tensor("input", input))


class Dropout(Function):
    @staticmethod
    def forward(ctx, x, keep, scale):
        be = backend(ctx.device)
        keep = be.from_host(keep)                      # the mask is drawn on the host
        x = c(x)
        out = be.empty_like(x)
        be.dropout_forward(x, keep, scale, out)
        ctx.keep, ctx.scale = keep, scale
        return out

    @staticmethod
    def backward(ctx, g):
        g = c(g)
        gx = backend(ctx.device).empty_like(g)
        backend(ctx.device).dropout_backward(ctx.keep, ctx.scale, g, gx)
        return gx, None, None


def dropout(input, p=0.5, training=True, generator=None):
    """Zero each element with probability p and scale the rest by 1/(1-p) (inverted dropout).

    Identity when training is False or p == 0. The mask is drawn from `generator`
    (a numpy Generator) or the default one (`minstn.random.manual_seed`).
    """
    float_tensor("input", input)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    keep = (random.get(generator).random(input.shape) >= p).astype(np.uint8)
    return Dropout.apply(input, keep, 1.0 / (1.0 - p))
