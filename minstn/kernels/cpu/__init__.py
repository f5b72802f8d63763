"""Numba CPU kernels. Every public name here has a twin in `minstn.kernels.cuda`."""
from .linear import linear_forward, linear_backward
from .activation import (relu_forward, relu_backward, tanh_forward, tanh_backward,
                         sigmoid_forward, sigmoid_backward, dropout_forward, dropout_backward)
from .loss import (log_softmax_forward, log_softmax_backward, cross_entropy_forward,
                   cross_entropy_backward, bce_with_logits_forward, bce_with_logits_backward)
from .lstm import lstm_saved_arrays, lstm_forward, lstm_backward
from .grid_sample import (affine_grid_forward, affine_grid_backward, grid_sample_forward,
                          grid_sample_backward, affine_grid_sample_forward,
                          affine_grid_sample_backward, projective_grid_sample_forward,
                          projective_grid_sample_backward, tps_grid_sample_forward,
                          tps_grid_sample_backward, affine_grid1d_forward,
                          affine_grid1d_backward, grid_sample1d_forward, grid_sample1d_backward,
                          affine_grid_sample1d_forward, affine_grid_sample1d_backward)
from .grids import (projective_grid_forward, projective_grid_backward, tps_grid_forward,
                    tps_grid_backward)
from .conv import conv2d_forward, conv2d_backward
from .pool import max_pool2d_forward, max_pool2d_backward
from .array import (empty, zeros, empty_like, zeros_like, ones_like, full, contiguous, copy,
                    astype, from_host, to_host, skip, add, sub, mul, div, power, neg, exp, log,
                    sqrt, iadd, reduce_sum, reduce_mean, matmul, reshape, transpose,
                    broadcast_to, getitem, getitem_backward, concatenate, split, stack, take)
from .optim import sgd_update, adam_update
from . import _threads

_threads.claim_cores()     # several Numba threads: the kernels' BLAS on one (_threads.py)
