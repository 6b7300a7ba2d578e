"""Fast batch-normalisation passes, numba-parallel. Same functions and results as the ``batchnorm_*``
functions of :mod:`minidl.kernels.reference` (``tests/minidl/test_kernels.py``).

Arrays are viewed as ``(M, C)``: every axis but the channel flattened into rows. Reductions split the
rows into ``T`` fixed blocks, each thread summing its blocks into a private row of a ``(T, C)`` float64
buffer allocated outside ``prange``; the blocks are then added in order, so the result does not depend
on the number of threads. Statistics use float64 accumulators and a per-channel shift (the first row),
so the one-pass variance ``E[(x−s)²] − E[x−s]²`` does not cancel catastrophically.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_BLOCKS = 16


@njit(parallel=True, cache=True)
def _stats(x2, T, part_s, part_q):
    M, C = x2.shape
    step = (M + T - 1) // T
    for t in prange(T):
        for k in range(C):
            part_s[t, k] = 0.0
            part_q[t, k] = 0.0
        for r in range(t * step, min(M, (t + 1) * step)):
            for k in range(C):
                d = np.float64(x2[r, k]) - np.float64(x2[0, k])
                part_s[t, k] += d
                part_q[t, k] += d * d


@njit(parallel=True, cache=True)
def _apply(x2, scale, shift, y2):
    M, C = x2.shape
    for r in prange(M):
        for k in range(C):
            y2[r, k] = x2[r, k] * scale[k] + shift[k]


@njit(parallel=True, cache=True)
def _backward_sums(dy2, x2, mean, inv_std, T, part_s, part_q):
    M, C = x2.shape
    step = (M + T - 1) // T
    for t in prange(T):
        for k in range(C):
            part_s[t, k] = 0.0
            part_q[t, k] = 0.0
        for r in range(t * step, min(M, (t + 1) * step)):
            for k in range(C):
                g = np.float64(dy2[r, k])
                part_s[t, k] += g
                part_q[t, k] += g * (np.float64(x2[r, k]) - mean[k]) * inv_std[k]


@njit(parallel=True, cache=True)
def _backward_input(dy2, x2, mean, inv_std, scale, a, c, dx2):
    # dx = scale·(dy − a − x̂·c) with a = mean(dy), c = mean(dy·x̂); x̂ recomputed, not stored
    M, C = x2.shape
    for r in prange(M):
        for k in range(C):
            xhat = (x2[r, k] - mean[k]) * inv_std[k]
            dx2[r, k] = scale[k] * (dy2[r, k] - a[k] - xhat * c[k])


def batchnorm_stats(x2):
    """Per-channel mean and biased variance (float64) of ``x2`` ``(M, C)``."""
    x2 = np.ascontiguousarray(x2)
    M, C = x2.shape
    T = min(_BLOCKS, M)
    s = np.empty((T, C))
    q = np.empty((T, C))
    _stats(x2, T, s, q)
    shift = x2[0].astype(np.float64)
    ms = s.sum(axis=0) / M
    var = np.maximum(q.sum(axis=0) / M - ms * ms, 0.0)
    return shift + ms, var


def batchnorm_apply(x2, scale, shift):
    """``y = x·scale + shift`` per channel."""
    x2 = np.ascontiguousarray(x2)
    y2 = np.empty_like(x2)
    _apply(x2, np.asarray(scale, dtype=x2.dtype), np.asarray(shift, dtype=x2.dtype), y2)
    return y2


def batchnorm_backward_sums(dy2, x2, mean, inv_std):
    """``(Σ dy, Σ dy·x̂)`` per channel, float64."""
    dy2 = np.ascontiguousarray(dy2, dtype=x2.dtype)
    x2 = np.ascontiguousarray(x2)
    M, C = x2.shape
    T = min(_BLOCKS, M)
    s = np.empty((T, C))
    q = np.empty((T, C))
    _backward_sums(dy2, x2, np.asarray(mean, np.float64), np.asarray(inv_std, np.float64), T, s, q)
    return s.sum(axis=0), q.sum(axis=0)


def batchnorm_backward_input(dy2, x2, mean, inv_std, scale, sum_dy, sum_dy_xhat):
    """Training-mode ``dx = scale·(dy − mean(dy) − x̂·mean(dy·x̂))``."""
    dy2 = np.ascontiguousarray(dy2, dtype=x2.dtype)
    x2 = np.ascontiguousarray(x2)
    M = x2.shape[0]
    dt = x2.dtype
    dx2 = np.empty_like(x2)
    _backward_input(dy2, x2, np.asarray(mean, dt), np.asarray(inv_std, dt), np.asarray(scale, dt),
                    np.asarray(sum_dy / M, dt), np.asarray(sum_dy_xhat / M, dt), dx2)
    return dx2
