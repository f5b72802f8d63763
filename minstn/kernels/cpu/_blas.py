"""The thread count of the BLAS that Numba's np.dot calls, read and set at run time.

Numba compiles np.dot into calls to SciPy's BLAS (scipy.linalg.cython_blas), which in
SciPy's wheels is a private OpenBLAS build (`libscipy_openblas`), separate from NumPy's.
Its thread count is fixed by OPENBLAS_NUM_THREADS when it loads, but OpenBLAS exports
functions to read and change it, and this module finds them.

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

_lib = None          # (get, set) ctypes functions, or () if not found
_PREFIXES = ("scipy_openblas_", "scipy_openblas64_", "openblas_")


def _candidates():
    """Paths of loaded shared libraries whose name says OpenBLAS, SciPy's first."""
    import scipy.linalg.cython_blas  # noqa: F401  (loads the library Numba calls)
    paths = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:                   # address perms offset dev inode [path]
                fields = line.split(maxsplit=5)
                path = fields[5].strip() if len(fields) == 6 else ""
                if "openblas" in os.path.basename(path) and path not in paths:
                    paths.append(path)
    except OSError:
        import scipy
        paths = glob.glob(os.path.join(os.path.dirname(scipy.__file__) + ".libs", "*openblas*"))
    return sorted(paths, key=lambda p: "scipy.libs" not in p and "scipy/" not in p)


def _find():
    global _lib
    if _lib is None:
        _lib = ()
        for path in _candidates():
            try:
                lib = ctypes.CDLL(path)          # the loaded copy: dlopen counts references
            except OSError:
                continue
            for prefix in _PREFIXES:
                get = getattr(lib, prefix + "get_num_threads", None)
                put = getattr(lib, prefix + "set_num_threads", None)
                if get is not None and put is not None:
                    get.restype, get.argtypes = ctypes.c_int, []
                    put.restype, put.argtypes = None, [ctypes.c_int]
                    _lib = (get, put)
                    return _lib
    return _lib


def found() -> bool:
    """True if the thread count of Numba's BLAS can be read and set."""
    return bool(_find())


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
