"""The fast family's input check: :func:`all_finite` in one vectorised pass over the bits, no temporary.

``np.all(np.isfinite(x))`` (the reference) writes a boolean array as large as ``x`` and reads it back: for
a batch of benchmark R1, 128 × 1000 × 270 float32, a fresh 35 MB array per ``train_on_batch``.

A float is NaN or ±∞ exactly when all the bits of its exponent field are set. For a C-contiguous float32 or
float64 array, :func:`_largest_exponent` reads the elements as unsigned integers and keeps the largest
exponent field, ``max(bits & mask)`` — an integer reduction that LLVM vectorises without any ``fastmath``
(no rounding is involved) — so ``x`` is read once, at memory speed, with no temporary. Measured on the R1
batch (138 MB, 2-core machine under load, medians in one process): 6.2 ms in pieces of ``np.isfinite``
(below), 4.0 ms here, 9.7 ms for the reference. A serial loop: the check also runs in the prefetch thread
of a batch source, beside the training's parallel kernels; it releases the GIL (``nogil``). Called from the
main thread on an array of at least ``PARALLEL_BYTES`` (``predict`` and ``fit`` check all of ``x`` once),
the array's parts are read side by side on minidl's threads, one serial loop each: on an Ice Lake Xeon whose
one core reads about 8 GB/s, the whole R1 array of 128 samples took 16.5 ms on one thread.

Other arrays (float16, non-contiguous views) are checked with ``np.isfinite`` in pieces of ``PIECE`` elements
into one small reused boolean buffer (in cache), stopping at the first piece with a NaN or ±∞.
"""

from __future__ import annotations

import functools
import threading

import numpy as np
from numba import get_num_threads, njit

#: elements per piece (the boolean buffer: 64 KB)
PIECE = 1 << 16

#: arrays at least this large are read in parts side by side (from the main thread, several threads set)
PARALLEL_BYTES = 16 << 20

#: the exponent field of each float type, and the unsigned integer type of the same width
_EXPONENT = {np.dtype(np.float32): (np.uint32, np.uint32(0x7F800000)),
             np.dtype(np.float64): (np.uint64, np.uint64(0x7FF0000000000000))}

_BUFFER = threading.local()


@njit(nogil=True, cache=True)
def _largest_exponent(bits, mask):
    """``max(bits & mask)`` over a 1-D unsigned array: equal to ``mask`` iff some element is NaN or ±∞."""
    largest = mask ^ mask   # 0, of the mask's type
    for i in range(bits.size):
        largest = max(largest, bits[i] & mask)
    return largest


def _threads_for(nbytes: int) -> int:
    """How many threads read an array of ``nbytes`` (:data:`PARALLEL_BYTES`): one unless it is large and this
    is the main thread (a prefetch thread's check stays serial beside the training's kernels)."""
    if nbytes < PARALLEL_BYTES or threading.current_thread() is not threading.main_thread():
        return 1
    return get_num_threads()


def all_finite(x):
    """Same as the reference: True if no element of ``x`` is NaN or ±∞."""
    x = np.asarray(x)
    exponent = _EXPONENT.get(x.dtype)
    if exponent is not None and x.flags.c_contiguous and x.size:
        uint, mask = exponent
        bits = x.reshape(-1).view(uint)
        n = _threads_for(x.nbytes)
        if n > 1:
            from .blas import run_tasks
            edges = np.linspace(0, bits.size, n + 1).astype(np.int64)
            bad = np.zeros(n, dtype=bool)

            def part(k):   # a NaN or ±∞ in part k
                bad[k] = _largest_exponent(bits[edges[k]:edges[k + 1]], mask) == mask

            run_tasks([functools.partial(part, k) for k in range(n)], n)
            return not bad.any()
        return bool(_largest_exponent(bits, mask) != mask)
    flat = x.reshape(-1)
    if flat.size <= PIECE:
        return bool(np.all(np.isfinite(flat)))
    buf = getattr(_BUFFER, "mask", None)
    if buf is None:
        buf = _BUFFER.mask = np.empty(PIECE, dtype=bool)
    for i in range(0, flat.size, PIECE):
        piece = flat[i:i + PIECE]
        mask = buf[:piece.size]
        np.isfinite(piece, out=mask)
        if not mask.all():
            return False
    return True
