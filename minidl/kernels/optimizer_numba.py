"""The fast Adam update: one numba pass over each weight array instead of ten NumPy passes.

Part of the fast kernel family (:mod:`minidl.kernels.fast` exports :func:`adam_update`): same arguments and
the **same bits** as :func:`minidl.kernels.reference.adam_update` (``tests/minidl/test_optimizer_kernels.py``),
whose NumPy lines are the version to read.

Why: the reference writes each of its steps — ``g − m``, ``·(1−β₁)``, ``m +``, ``g²``, ``− v``, ``·(1−β₂)``,
``v +``, ``√v``, ``+ ε``, ``m·α``, ``/``, ``w −`` — as a pass over the whole array, most of them into a
temporary as large as the weight. For the Dense layer of benchmark R0 (68,992 × 64 = 4.4 M float32 weights,
18 MB per array) that is 13–16 ms per step. Here each element is read once (``w, g, m, v``), updated in
registers and written once (``w, m, v``): ``Adam.apply`` on R0's weights right after a forward and backward
pass (the arrays out of cache, as in training), medians in one process on a 2-core machine: 15.6 ms with
the reference, 2.9 ms here (3.8 ms on one thread).

Same bits: each element goes through the reference's float32 (or float64) operations in the same order —
``m + (g − m)·c₁``, ``v + (g·g − v)·c₂``, ``w − (m·α)/(√v + ε)`` with the scalars ``α, c₁, c₂, ε`` computed
as the reference computes them (:func:`minidl.kernels.reference.adam_coefficients`) — each one IEEE-rounded
(numba without ``fastmath``: no reassociation, no fused multiply-add). The update of one element does not
depend on any other, so the split among threads does not change a bit either.

Vectorised: compiled with ``error_model="numpy"`` — a division by zero gives ±∞ or NaN, as in NumPy, instead of
Python's ``ZeroDivisionError``, whose test before each division kept LLVM from using the vector ``vdivps`` and
``vsqrtps`` (measured on R0's Dense kernel, one thread: 8.1 ms scalar, 2.1 ms vectorised). That is no
``fastmath``: every operation still rounds as IEEE says.

Threads: arrays of at least ``PARALLEL_FROM`` elements are split into blocks run by the shared task threads
(as many as numba's); smaller ones (biases, batch-norm parameters, small kernels) run in the calling thread,
where starting the threads would cost more than the update.
"""

from __future__ import annotations

import functools

import numba
import numpy as np
from numba import njit

from . import reference
from .blas import run_tasks

#: arrays with at least this many elements are updated by all task threads; smaller ones by the caller
PARALLEL_FROM = 1 << 16

#: blocks per numba thread in the parallel update (a slow thread's share can be taken by the others)
BLOCKS_PER_THREAD = 4


@njit(nogil=True, cache=True, error_model="numpy")
def _adam_flat(w, g, m, v, alpha, c1, c2, eps):
    """Every element of the flat arrays: ``m``, ``v``, then ``w``. (A loop from 0 to the size: over
    ``range(start, stop)`` numba's negative-index handling kept it from vectorising — blocks pass slices.)"""
    for i in range(w.size):
        gi = g[i]
        mi = m[i] + (gi - m[i]) * c1
        vi = v[i] + (gi * gi - v[i]) * c2
        m[i] = mi
        v[i] = vi
        w[i] = w[i] - mi * alpha / (np.sqrt(vi) + eps)


@njit(nogil=True, cache=True, error_model="numpy")
def _amsgrad_flat(w, g, m, v, vhat, alpha, c1, c2, eps):
    """The same with amsgrad: ``vhat ← max(vhat, v)`` (NaN if either is NaN, as ``np.maximum``) replaces ``v``
    in the step. A loop of its own: a test of an ``amsgrad`` flag inside the loop kept it from vectorising."""
    for i in range(w.size):
        gi = g[i]
        mi = m[i] + (gi - m[i]) * c1
        vi = v[i] + (gi * gi - v[i]) * c2
        m[i] = mi
        v[i] = vi
        h = vhat[i]
        h = vi if h == h and (vi != vi or vi > h) else h
        vhat[i] = h
        w[i] = w[i] - mi * alpha / (np.sqrt(h) + eps)


def _adam_blocks(w, g, m, v, vhat, amsgrad, alpha, c1, c2, eps, blocks):
    """:func:`_adam_flat` (or :func:`_amsgrad_flat`) on ``blocks`` consecutive slices of the flat arrays, as
    tasks of the shared runner (:func:`~.blas.run_tasks`; both loops are GIL-free). Not a numba ``prange`` loop:
    that compiled both loops into itself, 2.2 s on an empty numba cache (R0's first step), against 0.5 s for the one
    it runs."""
    n = w.size
    step = (n + blocks - 1) // blocks
    slices = [slice(b, min(n, b + step)) for b in range(0, n, step)]
    if amsgrad:
        tasks = [functools.partial(_amsgrad_flat, w[s], g[s], m[s], v[s], vhat[s], alpha, c1, c2, eps) for s in slices]
    else:
        tasks = [functools.partial(_adam_flat, w[s], g[s], m[s], v[s], alpha, c1, c2, eps) for s in slices]
    run_tasks(tasks)


def _flat_views(arrays):
    """1-D views of ``arrays`` if all are writeable C-contiguous arrays of one shape and one float dtype (so
    that the loop's writes reach the caller's arrays and its reads stay inside them); None otherwise."""
    first = arrays[0]
    if not isinstance(first, np.ndarray) or first.dtype not in (np.float32, np.float64):
        return None
    if not all(isinstance(a, np.ndarray) and a.dtype == first.dtype and a.shape == first.shape
               and a.flags.c_contiguous and a.flags.writeable for a in arrays):
        return None
    return [a.reshape(-1) for a in arrays]


def adam_update(w, g, m, v, vhat, lr, beta_1, beta_2, epsilon, t):
    """Same as the reference, in one pass per array. Arrays that are not all C-contiguous of one shape and
    one float dtype (never the case for the slots :class:`minidl.optimizers.Adam` creates) take the
    reference's lines."""
    g = np.ascontiguousarray(g) if isinstance(g, np.ndarray) else g   # read only: a copy is harmless
    flat = _flat_views([w, g, m, v] + ([vhat] if vhat is not None else []))
    if flat is None:
        reference.adam_update(w, g, m, v, vhat, lr, beta_1, beta_2, epsilon, t)
        return
    alpha, c1, c2, eps = reference.adam_coefficients(w.dtype, lr, beta_1, beta_2, epsilon, t)
    fw, fg, fm, fv = flat[:4]
    fh = flat[4] if vhat is not None else fv   # an unused placeholder of the right type without amsgrad
    n_threads = numba.get_num_threads()
    if fw.size >= PARALLEL_FROM and n_threads > 1:
        _adam_blocks(fw, fg, fm, fv, fh, vhat is not None, alpha, c1, c2, eps, BLOCKS_PER_THREAD * n_threads)
    elif vhat is not None:
        _amsgrad_flat(fw, fg, fm, fv, fh, alpha, c1, c2, eps)
    else:
        _adam_flat(fw, fg, fm, fv, alpha, c1, c2, eps)
