"""Dense building blocks the CUDA kernels share: a tiled matrix product and a column sum.

    gemm(a, b, out, trans_a, trans_b, accumulate)   out (M, N) (+)= op(a) @ op(b)
    sum_middle(a, out)                               out[j] = sum_{i, k} a[i, j, k]

Both are deterministic: every output is summed by one thread (gemm) or one block
(sum_middle) in an order fixed by the shapes alone; there are no atomics, so two
runs give identical bytes. Accumulators have the arrays' dtype.

gemm: each block of TILE x TILE threads owns a TILE x TILE tile of out; it walks
the shared dimension in steps of TILE, staging one tile of op(a) and one of op(b)
in shared memory (each thread loads one element of each), so every element of a
and b is read from global memory M/TILE or N/TILE times instead of M or N times.
Threads past the edge of a matrix load zeros, which add nothing. `trans_a` and
`trans_b` read a or b transposed (a[k, i] instead of a[i, k]), so callers never
materialise a transpose; they are ordinary run-time arguments (one compiled
kernel per dtype).
"""
from numba import config, cuda

# The simulator runs every thread as a Python thread: small blocks keep its tests fast.
TILE = 8 if config.ENABLE_CUDASIM else 16   # gemm tile: TILE x TILE threads, one output each
TPB = 128                 # threads per block of the 1-D launches (elementwise kernels)
SUM_THREADS = 64          # threads per block of sum_middle (a power of 2)


def launch_1d(n):
    """(blocks, threads) for n independent threads: up to TPB per block, whole warps."""
    threads = min(TPB, max(32, (n + 31) // 32 * 32))
    return (n + threads - 1) // threads, threads


@cuda.jit
def _gemm_kernel(a, b, out, trans_a, trans_b, accumulate):
    """out[i, j] (+)= sum_k op(a)[i, k] op(b)[k, j];  thread (ty, tx) of block (by, bx)
    computes i = by TILE + ty, j = bx TILE + tx."""
    ta = cuda.shared.array((TILE, TILE), a.dtype)     # ta[ty, q] = op(a)[i, k0 + q]
    tb = cuda.shared.array((TILE, TILE), b.dtype)     # tb[q, tx] = op(b)[k0 + q, j]
    ty, tx = cuda.threadIdx.y, cuda.threadIdx.x
    i = cuda.blockIdx.y * TILE + ty
    j = cuda.blockIdx.x * TILE + tx
    m, n = out.shape
    kdim = a.shape[0] if trans_a else a.shape[1]
    acc = out.dtype.type(0)
    for k0 in range(0, kdim, TILE):
        k = k0 + tx
        if i < m and k < kdim:
            ta[ty, tx] = a[k, i] if trans_a else a[i, k]
        else:
            ta[ty, tx] = 0
        k = k0 + ty
        if j < n and k < kdim:
            tb[ty, tx] = b[j, k] if trans_b else b[k, j]
        else:
            tb[ty, tx] = 0
        cuda.syncthreads()
        for q in range(TILE):
            acc += ta[ty, q] * tb[q, tx]
        cuda.syncthreads()
    if i < m and j < n:
        if accumulate:
            out[i, j] += acc
        else:
            out[i, j] = acc


def gemm(a, b, out, trans_a=False, trans_b=False, accumulate=False):
    """out (M, N) = op(a) @ op(b), or += with accumulate; op(a) = a.T if trans_a, etc.

    a (M, K) or (K, M) with trans_a; b (K, N) or (N, K) with trans_b; 2-D device arrays.
    """
    m, n = out.shape
    if m == 0 or n == 0:
        return
    grid = ((n + TILE - 1) // TILE, (m + TILE - 1) // TILE)
    _gemm_kernel[grid, (TILE, TILE)](a, b, out, bool(trans_a), bool(trans_b), bool(accumulate))


@cuda.jit(device=True)
def block_tree_sum(buf, t, size):
    """buf[0] = buf[0] + ... + buf[size - 1] by a fixed tree (size a power of 2).

    Every thread t of the block calls it after writing its buf[t]; the same pairs
    are added in the same order on every run, so the sum is deterministic.
    """
    cuda.syncthreads()
    s = size // 2
    while s > 0:
        if t < s:
            buf[t] += buf[t + s]
        cuda.syncthreads()
        s //= 2


@cuda.jit
def _sum_middle_kernel(a, out):
    """Block j: out[j] = sum over (i, k) of a[i, j, k]. Thread t adds the elements
    t, t + SUM_THREADS, ... of the flattened (i, k) range, then the block adds the
    SUM_THREADS partial sums by a fixed tree in shared memory."""
    part = cuda.shared.array(SUM_THREADS, out.dtype)
    j, t = cuda.blockIdx.x, cuda.threadIdx.x
    ni, nk = a.shape[0], a.shape[2]
    acc = out.dtype.type(0)
    for e in range(t, ni * nk, SUM_THREADS):
        acc += a[e // nk, j, e % nk]
    part[t] = acc
    block_tree_sum(part, t, SUM_THREADS)
    if t == 0:
        out[j] = part[0]


def sum_middle(a, out):
    """out (J,) = a (I, J, K) summed over its first and last axes, in a fixed order."""
    if out.shape[0] == 0:
        return
    _sum_middle_kernel[out.shape[0], SUM_THREADS](a, out)
