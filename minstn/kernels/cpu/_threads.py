"""When a CPU kernel with two drivers (a `prange` one and a plain loop) runs the parallel one.

A Numba kernel compiled with parallel=True hands its loop to a worker thread on every call,
even when Numba has only one thread, and waits for it. On a machine whose cores are all busy
(the demos train one process per core) that wake-up took ~2 ms a call, 20x the pooling it
carried (docs/performance.md). So pooling and the 2-D sampler take their parallel driver
only when Numba has more than one thread.
"""
import numba


def parallel() -> bool:
    """True if Numba has more than one thread, so that a parallel driver can pay."""
    return numba.get_num_threads() > 1
