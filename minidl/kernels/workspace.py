"""Recycled output buffers for the fast kernel family: big arrays without the page faults of new ones.

A training step of benchmark R0 allocates about a gigabyte of large arrays (each layer's output and input
gradient, 40–160 MB apiece), and the next step allocates the same shapes again. Arrays that large are
mapped fresh from the operating system by every ``np.empty`` and returned to it when freed, so each first
write to them page-faults: measured here, writing a new 156 MB array took twice as long as writing one
already mapped (19 vs 9 ms), and more on a busy machine, where the kernel's time is contended too.

:func:`empty` keeps the big buffers it handed out and hands one out again once **nobody else holds it**:
the pool's reference is then the only one (every NumPy view of a buffer references it through ``.base``,
so a caller who keeps the array, or any view of it, keeps it out of the pool). What the kernel functions
promise is unchanged: each returns a new array that aliases nothing its caller can still reach.

Buffers are matched by dtype and exact size; free buffers beyond ``MAX_POOLED_BYTES`` are dropped,
oldest first. Arrays smaller than ``MIN_BYTES`` come from ``np.empty`` directly (the allocator already
recycles those).
"""

from __future__ import annotations

import sys
import threading

import numpy as np

#: arrays of at least this many bytes are recycled (smaller ones are cheap to allocate)
MIN_BYTES = 4 << 20

#: bytes kept in the pool beyond those in use; the oldest free buffers are dropped past it
MAX_POOLED_BYTES = 2 << 30

_POOL: list[np.ndarray] = []   # owners: 1-D buffers; most recently used last
_LOCK = threading.Lock()


def _is_free(i: int) -> bool:
    """True if only the pool holds owner ``i``: the list's reference and getrefcount's argument."""
    return sys.getrefcount(_POOL[i]) == 2


def empty(shape, dtype) -> np.ndarray:
    """``np.empty(shape, dtype)``, reusing a pooled buffer of the same size nobody else holds."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape))
    if size * dtype.itemsize < MIN_BYTES:
        return np.empty(shape, dtype=dtype)
    with _LOCK:
        for i in range(len(_POOL)):
            if _POOL[i].size == size and _POOL[i].dtype == dtype and _is_free(i):
                _POOL.append(_POOL.pop(i))
                return _POOL[-1].reshape(shape)
        owner = np.empty(size, dtype=dtype)
        _POOL.append(owner)
        _trim()   # owner is held here: never counted as free
        return owner.reshape(shape)


def _trim():
    """Drop the oldest free buffers while the free ones exceed ``MAX_POOLED_BYTES``."""
    excess = sum(_POOL[i].nbytes for i in range(len(_POOL)) if _is_free(i)) - MAX_POOLED_BYTES
    i = 0
    while excess > 0 and i < len(_POOL):
        if _is_free(i):
            excess -= _POOL.pop(i).nbytes
        else:
            i += 1


def pooled_bytes() -> tuple[int, int]:
    """``(bytes in use, bytes free)`` of the pool's buffers."""
    with _LOCK:
        free = sum(_POOL[i].nbytes for i in range(len(_POOL)) if _is_free(i))
        return sum(o.nbytes for o in _POOL) - free, free


def clear() -> None:
    """Forget every pooled buffer (those still in use stay valid: their holders keep them alive)."""
    with _LOCK:
        _POOL.clear()
