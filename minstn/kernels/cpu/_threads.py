"""Who uses the cores: Numba's threads, and when a kernel takes its parallel driver.

Under Numba's workqueue threading layer a kernel compiled with parallel=True hands its loop
to a worker thread on every call, even when Numba has only one thread, and waits for it. On
a machine whose cores are all busy (the demos train one process per core) that wake-up took
~2 ms a call, 20x the pooling it carried (docs/performance.md). So pooling, the 2-D sampler,
conv and the LSTM take their parallel driver only when Numba has more than one thread (and
`import minstn` now prefers the OpenMP layer, whose caller runs a share of the loop itself).

With more than one Numba thread, minstn shares the cores out itself (conv runs lanes of
im2col chunks, the LSTM lanes of samples, each with its own matrix products) and the BLAS
under the kernels' products (`_gemm.gemm`) runs on one thread (`claim_cores`, called when
the kernels load). A multi-threaded BLAS would fight those lanes twice over: called from
two threads at once its callers queue for one thread pool, and between calls its idle
threads keep spinning on the cores the lanes need (`_blas`).
"""
import numba

from . import _blas


def parallel() -> bool:
    """True if Numba has more than one thread, so that a parallel driver can pay."""
    return numba.get_num_threads() > 1


def lanes(units: int) -> int:
    """How many lanes to deal `units` independent pieces of work out to (conv's im2col
    chunks, the LSTM's samples): 0 for the plain loop. Lanes need more than one Numba
    thread, more than one unit, and a BLAS whose thread count minstn can set
    (`_blas.found`); never more lanes than threads or units."""
    if units < 2 or not parallel() or not _blas.found():
        return 0
    return min(numba.get_num_threads(), units)


# The lanes of a conv backward keep each chunk's weight-gradient part until all are added in
# chunk order. They hold the parts of at most this many numbers at once (64 MiB of float32):
# at the demos' layers every part fits in one wave (at most 3.3 M numbers), but a layer with
# 512 channels in and out, in chunks of one sample, would need 64 parts of 2.4 M each.
PARTS_ELEMENTS = 1 << 24


def wave(n_chunks: int, part_elements: int) -> int:
    """How many chunks' weight-gradient parts (of part_elements numbers each) a lanes
    driver keeps at once: at least one per Numba thread, at most PARTS_ELEMENTS numbers
    when that allows more, never more than the chunks."""
    return max(1, min(n_chunks, max(numba.get_num_threads(),
                                    PARTS_ELEMENTS // max(1, part_elements))))


def drive(units, serial, in_lanes, *args, lanes_args=()):
    """serial(*args), or in_lanes(*args, *lanes_args, lanes) with the BLAS on one thread
    when `units` of work can be dealt out to lanes (`lanes`)."""
    n = lanes(units)
    if n:
        with _blas.one_thread():
            in_lanes(*args, *lanes_args, n)
    else:
        serial(*args)


def claim_cores() -> None:
    """With several Numba threads, put the kernels' BLAS (`_gemm.LIBRARY`) on one thread."""
    if parallel() and _blas.threads() > 1:
        _blas.set_threads(1)
