"""Reverse-mode automatic differentiation: Tensor, Function, gradcheck."""
from .function import Function, no_grad, is_grad_enabled
from .tensor import Tensor
from .gradcheck import gradcheck, GradcheckError

__all__ = ["Tensor", "Function", "no_grad", "is_grad_enabled", "gradcheck", "GradcheckError"]
