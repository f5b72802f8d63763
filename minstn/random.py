"""The one source of randomness for parameter init and dropout.

Every random draw in minstn comes from a `numpy.random.Generator`: either one
passed explicitly (`generator=`), or the module default, which
`minstn.random.manual_seed(seed)` resets. Same seed, same machine → bit-identical
runs.
"""
import numpy as np

_default = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reset the default generator to `seed` and return it."""
    global _default
    _default = np.random.default_rng(seed)
    return _default


def default_generator() -> np.random.Generator:
    return _default


def get(generator=None) -> np.random.Generator:
    return _default if generator is None else generator
