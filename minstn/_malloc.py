"""Keep the memory a training step frees for the next step (glibc's malloc only).

A training step allocates the same arrays every time (activations saved for the
backward, gradients, kernel scratch; some of several MB), holds them to the end of
the backward, and frees them all. By default glibc then gives that memory back to
the kernel (it trims the top of the heap once more than twice the largest freed
block is free there, and blocks above its mmap threshold go back by munmap), and the
next step takes it back page by page: the first write to each 4 KiB page is a page
fault that the kernel serves with a zeroed page. On the project's VM that was about
500-900 faults per ST-CNN step and 1,800 per time-warp STN step (docs/performance.md).

Two settings keep freed memory in the process, so that a step reuses the previous
step's pages: blocks up to 32 MiB come from the heap (M_MMAP_THRESHOLD; 32 MiB is
glibc's maximum on 64-bit), and the heap is trimmed only when 256 MiB at its top are
free (M_TRIM_THRESHOLD). The peak memory of a step is unchanged; what changes is that
the process keeps its peak until it exits. They apply to the whole process (NumPy's,
Numba's and any other library's allocations) from `import minstn` on; set
MINSTN_MALLOC=system before the import to leave glibc's defaults.
"""
import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3           # mallopt parameters (malloc.h)
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 256 << 20
kept = False                  # whether this process keeps freed memory (set at `import minstn`)


def keep_freed_memory() -> bool:
    """Set the two thresholds; True if glibc took both (False elsewhere, or if opted out)."""
    global kept
    if os.environ.get("MINSTN_MALLOC", "").lower() == "system":
        return kept
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):                   # not glibc (macOS, musl, Windows)
        return kept
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    kept = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and
                mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return kept
