"""Parameter initialisation, matching PyTorch's defaults for each layer.

PyTorch initialises Linear and Conv weights with kaiming_uniform(a=√5), which
works out to U(-1/√fan_in, 1/√fan_in), and biases with the same bound; LSTM
weights and biases all use U(-1/√hidden, 1/√hidden).
"""
import math

import numpy as np

from .. import random


def uniform(shape, bound, generator=None, dtype=np.float32):
    return random.get(generator).uniform(-bound, bound, size=shape).astype(dtype)


def fan_in(shape) -> int:
    """Inputs feeding one output unit: in_features, or in_channels · kernel size."""
    return int(np.prod(shape[1:]))


def default_bound(weight_shape) -> float:
    return 1.0 / math.sqrt(fan_in(weight_shape))
