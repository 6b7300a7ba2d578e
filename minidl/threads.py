"""Thread control: keep numba's and the BLAS's worker threads from oversubscribing the cores.

A training step alternates numba parallel loops (im2col, pooling, batch norm) with BLAS matrix
products (the convolutions and Dense layers). The two never run at the same time, so each may use every
core — but each must be told how many cores that is: two pools of ``os.cpu_count()`` threads plus
another process on a shared 2-core machine thrash. ``set_num_threads(n)`` sets both pools:

* numba: ``numba.set_num_threads(n)`` (capped at ``NUMBA_NUM_THREADS``, fixed when numba starts);
* BLAS: ``threadpoolctl`` when installed (the ``bench`` extra), otherwise the OpenBLAS entry point
  ``openblas_set_num_threads`` found in the libraries already loaded by NumPy
  (:mod:`minidl.kernels.blas`, which also holds the products that stay fast on several threads).

``limit_threads(n)`` is the same as a context manager; ``thread_info()`` says what is in effect.

Inside a model's training step and inference batches OpenBLAS itself runs on one thread
(:func:`minidl.kernels.blas.single_threaded_blas`): minidl's kernels spread their products over the ``n``
threads themselves, and OpenBLAS's own workers, once woken, spin on the cores those kernels need. Your own
NumPy code outside those passes keeps ``n`` BLAS threads.

The thread count is part of what makes a run reproducible: the same seed, machine, kernel family *and*
thread count give the same weights bit for bit; 1 and 2 threads agree to float32 rounding only, because
OpenBLAS's products add their terms in a thread-dependent order.
"""

from __future__ import annotations

import contextlib
import os

from .kernels.blas import blas_threads, set_blas_threads


def set_num_threads(n: int | None = None) -> int:
    """Use ``n`` threads (default: all cores) for numba kernels and for the BLAS; returns ``n``."""
    import numba
    n = (os.cpu_count() or 1) if n is None else int(n)
    if n < 1:
        raise ValueError(f"set_num_threads expected a positive number of threads; got {n}")
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    set_blas_threads(n)
    return n


def thread_info() -> dict:
    """``{"numba": threads, "numba_layer": threading layer, "blas": threads or None}``."""
    import numba
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        layer = "not started"
    return {"numba": numba.get_num_threads(), "numba_layer": layer, "blas": blas_threads()}


@contextlib.contextmanager
def limit_threads(n: int):
    """``with limit_threads(2): ...`` — both pools at ``n`` threads inside, restored after."""
    import numba
    before_numba, before_blas = numba.get_num_threads(), blas_threads()
    set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(before_numba)
        if before_blas is not None:
            set_blas_threads(before_blas)
