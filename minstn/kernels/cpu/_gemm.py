"""gemm: the CPU kernels' matrix products, on the faster of the two OpenBLAS builds.

    gemm(a, trans_a, b, trans_b, out)      out (M, N) = op(a) @ op(b),  op(v) = v.T or v

A process that imports NumPy and SciPy from their wheels holds two OpenBLAS libraries:
NumPy's (`libscipy_openblas64_`, 64-bit integers) and SciPy's (`libscipy_openblas`), the
one Numba's np.dot calls through scipy.linalg.cython_blas. They need not be the same
version. On the AMD EPYC VM of docs/performance.md, NumPy's 0.3.31 ran the LSTM's products
15-30% faster than SciPy's 0.3.30, giving the same bits (the same kernels, blocked
differently). So the kernels call this function, which calls NumPy's `cblas_?gemm` when it
finds it, and Numba's own gemm wrapper (`numba_xxgemm`, SciPy's library, what np.dot
calls) otherwise, or when MINSTN_BLAS=scipy is set before minstn is imported.

How a jitted kernel calls a C function and still caches: the kernels call one external
symbol per precision, `minstn_sgemm` / `minstn_dgemm`, with CBLAS's signature (row-major
order, 64-bit sizes). Before any kernel compiles or loads from Numba's cache, this module
binds that name to an address with llvmlite's `add_symbol`: NumPy's function itself, or
a small compiled adapter (`_via_numba_sgemm`) that calls `numba_xxgemm`. The cached machine
code only holds the name.

gemm also takes views whose rows lie further apart than their length (a row block of a
bigger array): BLAS reads them through the leading dimension (the row stride), where
np.dot in Numba takes only whole C- or F-contiguous matrices. The last axis of each
array must be contiguous. Under NUMBA_DISABLE_JIT gemm is NumPy's matmul.
"""
import ctypes
import os

import numpy as np
from llvmlite import binding as llvm
from numba import cfunc, config, njit, types

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112          # CBLAS's enum values

# void cblas_?gemm(order, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
_SIGS = {kind: types.void(types.intc, types.intc, types.intc, types.int64, types.int64,
                          types.int64, scalar, types.voidptr, types.int64, types.voidptr,
                          types.int64, scalar, types.voidptr, types.int64)
         for kind, scalar in (("s", types.float32), ("d", types.float64))}
_sgemm = types.ExternalFunction("minstn_sgemm", _SIGS["s"])
_dgemm = types.ExternalFunction("minstn_dgemm", _SIGS["d"])

# int numba_xxgemm(kind, trans_a, trans_b, m, n, k, *alpha, *a, lda, *b, ldb, *beta, *c, ldc):
# Numba's wrapper of SciPy's Fortran ?gemm (column-major), the function np.dot calls.
_xxgemm = types.ExternalFunction("numba_xxgemm", types.intc(
    types.char, types.char, types.char, types.intp, types.intp, types.intp,
    types.voidptr, types.voidptr, types.intp, types.voidptr, types.intp,
    types.voidptr, types.voidptr, types.intp))


@njit(cache=True)
def _char(trans):
    """BLAS's Fortran flag for a CBLAS transpose enum value."""
    return ord("t") if trans == _TRANS else ord("n")


# Two C functions with CBLAS's signature (row-major only) that call numba_xxgemm: the
# binding when NumPy's OpenBLAS is not found. Column-major BLAS sees a row-major (M, N)
# matrix as its (N, M) transpose, so the row-major C = op(A) op(B) is the column-major
# Cᵀ = op(B)ᵀ op(A)ᵀ: B goes first, and n before m. (Two functions, not one made by a
# factory: Numba's cache knows a function by its name and source, not by its closure.)
def _via_numba_sgemm(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    ab = np.empty(2, np.float32)
    ab[0], ab[1] = alpha, beta
    _xxgemm(ord("s"), _char(trans_b), _char(trans_a), n, m, k, ab[0:].ctypes, b, ldb,
            a, lda, ab[1:].ctypes, c, ldc)


def _via_numba_dgemm(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    ab = np.empty(2, np.float64)
    ab[0], ab[1] = alpha, beta
    _xxgemm(ord("d"), _char(trans_b), _char(trans_a), n, m, k, ab[0:].ctypes, b, ldb,
            a, lda, ab[1:].ctypes, c, ldc)


def loaded_openblas():
    """Paths of the loaded shared libraries whose file name says OpenBLAS, in load order,
    read off /proc/self/maps; None where that cannot be read (not Linux)."""
    paths = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:                   # address perms offset dev inode [path]
                fields = line.split(maxsplit=5)
                path = fields[5].strip() if len(fields) == 6 else ""
                if "openblas" in os.path.basename(path) and path not in paths:
                    paths.append(path)
    except OSError:
        return None
    return paths


def _numpy_cblas():
    """{kind: address} of the ILP64 cblas_sgemm / cblas_dgemm in NumPy's OpenBLAS, or {}."""
    for path in [p for p in loaded_openblas() or () if "numpy" in p]:   # NumPy's is loaded
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_", ""):
            s = getattr(lib, prefix + "cblas_sgemm64_", None)
            d = getattr(lib, prefix + "cblas_dgemm64_", None)
            if s is not None and d is not None:
                return {"s": ctypes.cast(s, ctypes.c_void_p).value,
                        "d": ctypes.cast(d, ctypes.c_void_p).value}
    return {}


def _bind():
    """Bind minstn_sgemm / minstn_dgemm; return which library they call."""
    choice = os.environ.get("MINSTN_BLAS", "").strip().lower()
    if choice not in ("", "numpy", "scipy"):
        raise ValueError(f"MINSTN_BLAS={os.environ['MINSTN_BLAS']!r}: set it to 'numpy' "
                         "(the default: NumPy's OpenBLAS when found) or 'scipy' (the BLAS "
                         "Numba's np.dot calls), or unset it")
    found = {} if choice == "scipy" else _numpy_cblas()
    if found:
        for kind in "sd":
            llvm.add_symbol("minstn_%sgemm" % kind, found[kind])
        return "numpy"
    llvm.add_symbol("minstn_sgemm", cfunc(_SIGS["s"], cache=True)(_via_numba_sgemm).address)
    llvm.add_symbol("minstn_dgemm", cfunc(_SIGS["d"], cache=True)(_via_numba_dgemm).address)
    return "scipy"


LIBRARY = _bind() if not config.DISABLE_JIT else "numpy"   # "numpy" or "scipy" (see above)


if not config.DISABLE_JIT:
    @njit(cache=True)
    def _ld(v):
        """The leading dimension: the distance between rows, in elements (at least the
        row's length, which a one-row view need not show)."""
        return max(1, v.strides[0] // v.itemsize, v.shape[1])

    @njit(cache=True)
    def _rows(v):
        """Whether v's last axis is contiguous (the rows BLAS reads)."""
        return v.strides[1] == v.itemsize or v.shape[1] < 2

    @njit(cache=True)
    def gemm(a, trans_a, b, trans_b, out):
        """out (M, N) = op(a) @ op(b) for 2-D float32 or float64 views of one dtype whose
        last axis is contiguous; op(a) (M, K), op(b) (K, N)."""
        m, n = out.shape
        k = a.shape[0] if trans_a else a.shape[1]
        if (a.shape[1] if trans_a else a.shape[0]) != m or \
                (b.shape[0] if trans_b else b.shape[1]) != n or \
                (b.shape[1] if trans_b else b.shape[0]) != k:
            raise ValueError("gemm: the shapes of op(a), op(b) and out do not match")
        if m == 0 or n == 0:
            return
        if k == 0:
            out[:] = 0
            return
        if not (_rows(a) and _rows(b) and _rows(out)):
            raise ValueError("gemm: each array's last axis must be contiguous")
        if a.itemsize != out.itemsize or b.itemsize != out.itemsize:
            raise ValueError("gemm: a, b and out must have one dtype")
        ta = _TRANS if trans_a else _NO_TRANS
        tb = _TRANS if trans_b else _NO_TRANS
        if out.itemsize == 4:
            _sgemm(_ROW_MAJOR, ta, tb, m, n, k, np.float32(1), a.ctypes, _ld(a),
                   b.ctypes, _ld(b), np.float32(0), out.ctypes, _ld(out))
        else:
            _dgemm(_ROW_MAJOR, ta, tb, m, n, k, 1.0, a.ctypes, _ld(a),
                   b.ctypes, _ld(b), 0.0, out.ctypes, _ld(out))
else:
    def gemm(a, trans_a, b, trans_b, out):
        """out = op(a) @ op(b) in NumPy (plain Python)."""
        out[:] = (a.T if trans_a else a) @ (b.T if trans_b else b)
