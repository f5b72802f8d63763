"""User-facing ops with PyTorch's names and arguments: `import minstn.functional as F`.

Each op is a `Function` (in `minstn/ops/`) whose forward and backward call a
hand-written kernel (in `minstn/kernels/<device>/`).
"""
from .ops.linear import linear
from .ops.activation import relu, tanh, sigmoid, dropout
from .ops.loss import log_softmax, cross_entropy, binary_cross_entropy_with_logits
from .ops.conv import conv2d, conv1d, max_pool2d, max_pool1d
from .ops.sampling import (affine_grid, grid_sample, affine_grid1d, grid_sample1d,
                           affine_grid_sample, affine_grid_sample1d)
from .ops.grids import projective_grid, projective_grid_sample, tps_grid, tps_grid_sample
from .ops.lstm import lstm

__all__ = ["linear", "relu", "tanh", "sigmoid", "dropout", "log_softmax", "cross_entropy",
           "binary_cross_entropy_with_logits", "conv2d", "conv1d", "max_pool2d", "max_pool1d",
           "affine_grid", "grid_sample", "affine_grid1d", "grid_sample1d", "affine_grid_sample",
           "affine_grid_sample1d", "projective_grid", "projective_grid_sample", "tps_grid",
           "tps_grid_sample", "lstm"]
