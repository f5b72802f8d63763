"""`Module`: a container of parameters and sub-modules, as torch.nn.Module."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..autograd.tensor import Tensor
from ..kernels import backend


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable (requires_grad=True)."""

    def __init__(self, data, requires_grad=True):
        super().__init__(data, requires_grad=requires_grad,
                         dtype=data.dtype if isinstance(data, np.ndarray) else None)


class Module:
    """Base class: assign Parameters and Modules as attributes; define `forward`."""

    def __init__(self):
        object.__setattr__(self, "_params", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_params" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                               "before assigning attributes")
        self._params.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._params[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---- traversal -------------------------------------------------------
    def named_modules(self, prefix=""):
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def named_parameters(self):
        for mname, m in self.named_modules():
            for pname, p in m._params.items():
                yield (f"{mname}.{pname}" if mname else pname), p

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def children(self):
        return list(self._modules.values())

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ---- state ---------------------------------------------------------------
    def train(self, mode: bool = True):
        for _, m in self.named_modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Name → copy of each parameter's array (a host np.ndarray, whatever the device)."""
        return OrderedDict((n, np.array(p.numpy(), copy=True)) for n, p in self.named_parameters())

    def load_state_dict(self, state, strict: bool = True):
        own = dict(self.named_parameters())
        missing = [n for n in own if n not in state]
        unexpected = [n for n in state if n not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        for n, p in own.items():
            if n not in state:
                continue
            v = np.asarray(state[n])
            if v.shape != p.shape:
                raise ValueError(f"load_state_dict: {n} has shape {p.shape}, "
                                 f"the state holds {v.shape}")
            v = np.array(v, dtype=p.dtype, copy=True)
            p.data = v if p.device == "cpu" else backend(p.device).from_host(v)
        return self

    def to(self, device):
        """Move every parameter to `device` in place (the Parameter objects stay, so an
        optimiser built before still holds them); gradients are dropped."""
        for p in self.parameters():
            moved = p.to(device)
            if moved is not p:
                p.data, p.device, p.grad = moved.data, moved.device, None
        return self

    def double(self):
        for p in self.parameters():
            p.data = backend(p.device).astype(p.data, np.float64)
        return self

    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"  ({n}): " + repr(m).replace("\n", "\n  ") for n, m in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + ("\n" + "\n".join(lines) + "\n)" if lines else ")")
