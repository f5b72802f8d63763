"""`Tensor`: an array plus the bookkeeping reverse-mode autodiff needs.

A tensor holds `data` (a NumPy array on "cpu", a numba device array on
"cuda"), `requires_grad`, `grad` (on the same device), and,
when it was produced by a recorded `Function`, the `Node` of that call and which
of the node's outputs it is. `backward()` walks the nodes in reverse
topological order, calls each `Function.backward` once with the summed
gradients of its outputs, and accumulates into the `.grad` of leaf tensors.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..kernels import backend, is_device_array
from .function import Node

_FLOATS = (np.float32, np.float64)


def _as_array(data, dtype):
    if isinstance(data, Tensor):
        data = data.data
    if is_device_array(data):
        data = data.copy_to_host()
    if dtype is not None:
        return np.ascontiguousarray(data, dtype=dtype)
    if isinstance(data, np.ndarray):
        if data.dtype in _FLOATS or data.dtype.kind in "iub":
            return data            # float64 kept; integer/bool labels kept
        return data.astype(np.float32)
    arr = np.asarray(data)
    if arr.dtype.kind in "iub" and not isinstance(data, (numbers.Number, list, tuple)):
        return arr
    return arr.astype(np.float32)  # Python scalars and lists become float32


class Tensor:
    """An n-dimensional array that can record the ops applied to it.

    Tensor(data, requires_grad=False, device="cpu", dtype=None)

    data: array-like. Python numbers and lists become float32; NumPy float32 and
    float64 arrays keep their dtype (gradchecks run in float64); integer arrays
    stay integer (labels) and cannot require gradients. On device="cuda" the
    data is copied to the GPU (a numba device array; a device array given as
    data is used as it is).
    """

    __array_priority__ = 1000  # make ndarray + Tensor call Tensor.__radd__

    def __init__(self, data, requires_grad=False, device="cpu", dtype=None):
        from ..device import check_device
        self.device = check_device(device)
        if isinstance(data, Tensor):
            data = data.data
        if self.device != "cpu" and is_device_array(data) and \
                (dtype is None or np.dtype(dtype) == data.dtype):
            self.data = backend(self.device).contiguous(data)
        elif self.device != "cpu":
            self.data = backend(self.device).from_host(_as_array(data, dtype))
        else:
            self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype not in _FLOATS:
            raise TypeError(
                f"only float32/float64 tensors can require gradients, got {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._node = None
        self._index = 0

    @classmethod
    def _wrap(cls, data, device, node, index):
        t = cls.__new__(cls)
        t.data, t.device, t.grad = data, device, None
        t._node, t._index = node, index
        t.requires_grad = node is not None
        return t

    # ---- introspection -------------------------------------------------
    shape = property(lambda self: tuple(self.data.shape))  # plain tuple (the simulator's
    #                                                         FakeShape rejects shape[-1])
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    is_leaf = property(lambda self: self._node is None)

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        dev = "" if self.device == "cpu" else f", device='{self.device}'"
        return f"Tensor({np.array2string(self.numpy(), precision=4, threshold=20)}, " \
               f"dtype={self.dtype}{dev}{grad})"

    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (shares memory on CPU, a copy from the GPU)."""
        return self.data if self.device == "cpu" else backend(self.device).to_host(self.data)

    def item(self):
        return self.numpy().item()

    def detach(self) -> "Tensor":
        """Same data, cut from the graph."""
        return Tensor._wrap(self.data, self.device, None, 0)

    def requires_grad_(self, flag=True) -> "Tensor":
        if flag and self.data.dtype not in _FLOATS:
            raise TypeError(f"only float tensors can require gradients, got {self.dtype}")
        self.requires_grad = flag
        return self

    def to(self, device: str) -> "Tensor":
        """This tensor on `device` (itself if it is there; else a copy, a new leaf)."""
        from ..device import check_device
        if check_device(device) == self.device:
            return self
        return Tensor(self.numpy(), self.requires_grad, device)

    def _astype(self, dtype) -> "Tensor":
        if self.dtype == dtype:
            return self
        return Tensor(backend(self.device).astype(self.data, dtype), device=self.device)

    def float(self) -> "Tensor":
        return self._astype(np.float32)

    def double(self) -> "Tensor":
        return self._astype(np.float64)

    # ---- reverse mode ----------------------------------------------------
    def backward(self, grad=None) -> None:
        """Accumulate d(self)/d(leaf) · grad into every leaf's `.grad`.

        grad: array or Tensor shaped like self; may be omitted only for a
        one-element tensor (a loss), where it defaults to 1.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad "
                               "(no input of the computation had requires_grad=True)")
        be = backend(self.device)
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without a grad argument needs a one-element tensor, "
                    f"got shape {self.shape}; pass grad= with that shape")
            grad = be.ones_like(self.data)
        else:
            if isinstance(grad, Tensor):
                if grad.device != self.device:
                    raise RuntimeError(f"backward: grad is on {grad.device}, the tensor on "
                                       f"{self.device}")
                grad = grad.data
            if is_device_array(grad) and self.device != "cpu":
                grad = be.astype(be.contiguous(grad), self.dtype)
            else:
                grad = be.from_host(_as_array(grad, self.dtype))
            if grad.shape != self.shape:
                raise ValueError(f"grad must have shape {self.shape}, got {grad.shape}")
        if self._node is None:
            self._accumulate(grad)
            return
        order = _topological(self._node)
        self._node.grads = [None] * self._node.n_outputs
        self._node.grads[self._index] = grad
        for node in order:                     # outputs before inputs
            grads = node.grads
            node.grads = None
            if grads is None:                  # no path from the root
                continue
            ctx = node.ctx
            if ctx is None:
                raise RuntimeError("backward through a graph a second time: the saved "
                                   "arrays were freed after the first backward")
            gs = [be.zeros(s, d) if g is None else g
                  for g, (s, d) in zip(grads, ctx._out_meta)]
            in_grads = node.fn.backward(ctx, *gs)
            node.ctx = None                    # free saved arrays
            if not isinstance(in_grads, tuple):
                in_grads = (in_grads,)
            if len(in_grads) != len(node.inputs):
                raise RuntimeError(
                    f"{node.fn.__name__}.backward returned {len(in_grads)} gradients "
                    f"for {len(node.inputs)} inputs")
            for t, g in zip(node.inputs, in_grads):
                if t is None or g is None:
                    continue
                if g.shape != t.shape:
                    raise RuntimeError(
                        f"{node.fn.__name__}.backward returned a gradient of shape "
                        f"{g.shape} for an input of shape {t.shape}")
                if t._node is None:
                    t._accumulate(g)
                else:
                    slot = t._node.grads
                    if slot is None:
                        slot = t._node.grads = [None] * t._node.n_outputs
                    prev = slot[t._index]
                    slot[t._index] = g if prev is None else be.add(prev, g)

    def _accumulate(self, g):
        be = backend(self.device)
        if g.dtype != self.dtype:
            g = be.astype(g, self.dtype)
        if self.grad is None:
            self.grad = be.copy(g)               # never alias a kernel buffer
        else:
            be.iadd(self.grad, g)

    # ---- operators (defined in minstn.ops.basic) --------------------------
    def __add__(self, o): return _b.add(self, o)
    def __radd__(self, o): return _b.add(o, self)
    def __sub__(self, o): return _b.sub(self, o)
    def __rsub__(self, o): return _b.sub(o, self)
    def __mul__(self, o): return _b.mul(self, o)
    def __rmul__(self, o): return _b.mul(o, self)
    def __truediv__(self, o): return _b.div(self, o)
    def __rtruediv__(self, o): return _b.div(o, self)
    def __neg__(self): return _b.Neg.apply(self)
    def __pow__(self, p): return _b.pow(self, p)
    def __matmul__(self, o): return _b.matmul(self, o)
    def __rmatmul__(self, o): return _b.matmul(o, self)
    def __getitem__(self, idx): return _b.getitem(self, idx)

    def exp(self): return _b.Exp.apply(self)
    def log(self): return _b.Log.apply(self)
    def sum(self, dim=None, keepdim=False): return _b.Sum.apply(self, _b.axes(dim, self.ndim), keepdim)
    def mean(self, dim=None, keepdim=False): return _b.Mean.apply(self, _b.axes(dim, self.ndim), keepdim)
    def reshape(self, *shape): return _b.Reshape.apply(self, _b.shape_arg(shape))
    view = reshape
    def flatten(self, start_dim=0):
        return self.reshape(*self.shape[:start_dim], -1)
    def permute(self, *dims): return _b.Permute.apply(self, _b.shape_arg(dims))
    def transpose(self, d0, d1):
        dims = list(range(self.ndim))
        dims[d0], dims[d1] = dims[d1], dims[d0]
        return _b.Permute.apply(self, tuple(dims))
    T = property(lambda self: self.transpose(-1, -2) if self.ndim > 1 else self)

    # comparisons give plain (non-differentiable) host arrays, as masks
    def __eq__(self, o): return self.numpy() == (o.numpy() if isinstance(o, Tensor) else o)
    def __lt__(self, o): return self.numpy() < (o.numpy() if isinstance(o, Tensor) else o)
    def __gt__(self, o): return self.numpy() > (o.numpy() if isinstance(o, Tensor) else o)
    __hash__ = object.__hash__


def _topological(root: Node) -> list[Node]:
    """Nodes reachable from root, each after every node that consumes it."""
    order, seen = [], set()
    stack = [(root, False)]
    while stack:                                  # iterative DFS: deep LSTM graphs
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for t in node.inputs:
            if t is not None and t._node is not None and id(t._node) not in seen:
                stack.append((t._node, False))
    order.reverse()
    return order


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)


from ..ops import basic as _b  # noqa: E402  (methods above dispatch into it)
