"""The thread count of the BLAS the kernels call, read and set at run time.

The kernels' matrix products go through `_gemm.gemm` to one of two OpenBLAS libraries:
NumPy's, or SciPy's (the one Numba's np.dot calls); `_gemm.LIBRARY` says which. Each has
its thread count fixed by OPENBLAS_NUM_THREADS when it loads, but OpenBLAS exports
functions to read and change it, and this module finds them in that library.

Why minstn needs them: a multi-threaded OpenBLAS called from two threads at once is
slow (its two callers queue for one thread pool: eight 64 x 800 by 800 x 640 products
took 8.0 ms from two Numba threads, against 3.1 ms in one loop). Called on one BLAS
thread each, the same two Numba threads ran them in 2.6 ms. So a kernel that runs its
products on several Numba threads first sets this BLAS to one thread (`one_thread()`).

If no OpenBLAS is found (another BLAS, another platform), `found()` is False and
such kernels keep their serial driver, leaving the threads to the BLAS.
"""
import contextlib
import ctypes
import glob
import os

from . import _gemm

_lib = None          # (get, set, config) ctypes functions, or () if not found
# (prefix, suffix) of the thread functions: NumPy's ILP64 build, SciPy's, a plain OpenBLAS
_NAMES = (("scipy_openblas_", "64_"), ("scipy_openblas64_", ""), ("scipy_openblas_", ""),
          ("openblas_", ""))


def _candidates():
    """Paths of the loaded shared libraries whose name says OpenBLAS and that belong to the
    package (NumPy or SciPy) whose library `_gemm` calls."""
    import scipy.linalg.cython_blas  # noqa: F401  (loads SciPy's library)
    paths = _gemm.loaded_openblas()
    if paths is None:
        import scipy
        paths = glob.glob(os.path.join(os.path.dirname(scipy.__file__) + ".libs", "*openblas*"))
    numpy = _gemm.LIBRARY == "numpy"
    return [p for p in paths if ("numpy" in p) == numpy]


def _find():
    global _lib
    if _lib is None:
        _lib = ()
        for path in _candidates():
            try:
                lib = ctypes.CDLL(path)          # the loaded copy: dlopen counts references
            except OSError:
                continue
            for prefix, suffix in _NAMES:
                get = getattr(lib, prefix + "get_num_threads" + suffix, None)
                put = getattr(lib, prefix + "set_num_threads" + suffix, None)
                conf = getattr(lib, prefix + "get_config" + suffix, None)
                if get is not None and put is not None:
                    get.restype, get.argtypes = ctypes.c_int, []
                    put.restype, put.argtypes = None, [ctypes.c_int]
                    if conf is not None:
                        conf.restype, conf.argtypes = ctypes.c_char_p, []
                    _lib = (get, put, conf)
                    return _lib
    return _lib


def found() -> bool:
    """True if the thread count of the kernels' BLAS can be read and set."""
    return bool(_find())


def describe() -> str:
    """Which library the kernels' products run on, and its build (for a run's record):
    e.g. "numpy: OpenBLAS 0.3.31.188.0 USE64BITINT DYNAMIC_ARCH NO_AFFINITY Haswell ..."."""
    lib = _find()
    conf = lib[2]().decode().strip() if lib and lib[2] is not None else "unknown build"
    return f"{_gemm.LIBRARY}: {conf}"


def threads() -> int:
    """The BLAS's current thread count (0 if unknown)."""
    lib = _find()
    return lib[0]() if lib else 0


def set_threads(n: int) -> None:
    """Set the BLAS's thread count (no-op if it was not found)."""
    lib = _find()
    if lib:
        lib[1](n)


@contextlib.contextmanager
def one_thread():
    """Run the block with the BLAS on one thread, then restore its count."""
    before = threads()
    if before > 1:
        set_threads(1)
    try:
        yield
    finally:
        if before > 1:
            set_threads(before)
