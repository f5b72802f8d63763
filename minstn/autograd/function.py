"""`Function`: one differentiable op with a hand-written forward and backward.

An op is a subclass with two static methods that work on raw arrays::

    class Square(Function):
        @staticmethod
        def forward(ctx, x):            # x: ndarray
            ctx.save_for_backward(x)
            return x * x
        @staticmethod
        def backward(ctx, grad):        # grad: ndarray shaped like the output
            (x,) = ctx.saved_tensors
            return 2 * x * grad         # one gradient (or None) per forward input

    y = Square.apply(t)                 # t: Tensor -> y: Tensor wired into the graph

`apply` unwraps `Tensor` arguments to arrays, runs `forward` without recording,
and, if any input needs a gradient, hangs a `Node` on the outputs so that
`Tensor.backward` can call `backward` later. Non-tensor arguments (ints, tuples,
strings) pass through unchanged and get `None` as their gradient.
"""
from __future__ import annotations

import contextlib
import threading

_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_state, "grad_enabled", True)


@contextlib.contextmanager
def no_grad():
    """Context manager: ops inside it record no graph (evaluation, optimiser steps)."""
    prev = is_grad_enabled()
    _state.grad_enabled = False
    try:
        yield
    finally:
        _state.grad_enabled = prev


class Context:
    """Scratch space shared by one call's forward and backward."""

    def __init__(self, device: str, needs_input_grad: tuple[bool, ...]):
        self.device = device
        self.needs_input_grad = needs_input_grad
        self.saved_tensors: tuple = ()

    def save_for_backward(self, *arrays) -> None:
        self.saved_tensors = arrays


class Node:
    """A recorded call: the function, its context and the input tensors."""

    __slots__ = ("fn", "ctx", "inputs", "n_outputs", "grads")

    def __init__(self, fn, ctx, inputs, n_outputs):
        self.fn = fn
        self.ctx = ctx
        self.inputs = inputs          # Tensors (or None for non-tensor args)
        self.n_outputs = n_outputs
        self.grads = None             # filled per output during backward


class Function:
    """Base class of every differentiable op; see the module docstring."""

    @staticmethod
    def forward(ctx, *args):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grad_outputs):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *args):
        device, needs, raw, inputs = None, [], [], []
        for a in args:                          # one pass: tensors -> arrays, and checks
            if isinstance(a, Tensor):
                if device is None:
                    device = a.device
                elif a.device != device:
                    raise RuntimeError(f"{cls.__name__}: tensors on different devices: "
                                       f"{device} and {a.device}")
                needs.append(a.requires_grad)
                raw.append(a.data)
                inputs.append(a if a.requires_grad else None)
            else:
                needs.append(False)
                raw.append(a)
                inputs.append(None)
        if device is None:
            raise TypeError(f"{cls.__name__}: at least one argument must be a Tensor")
        grad_enabled = is_grad_enabled()
        record = grad_enabled and any(needs)
        ctx = Context(device, tuple(needs))
        _state.grad_enabled = False             # as `with no_grad():`, without its cost
        try:
            out = cls.forward(ctx, *raw)
        finally:
            _state.grad_enabled = grad_enabled
        multi = isinstance(out, tuple)
        outs = out if multi else (out,)
        ctx._out_meta = [(o.shape, o.dtype) for o in outs]
        node = Node(cls, ctx, tuple(inputs), len(outs)) if record else None
        if not multi:
            return Tensor._wrap(out, device, node, 0)
        return tuple(Tensor._wrap(o, device, node, i) for i, o in enumerate(outs))


from .tensor import Tensor  # noqa: E402  (tensor.py imports this module first)
