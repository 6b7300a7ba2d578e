"""Fast batch-normalisation passes, GIL-free numba loops run in parallel over blocks of rows
(:func:`~.blas.run_row_blocks`). Same functions and results as the ``batchnorm_*``
functions of :mod:`minidl.kernels.reference` (``tests/minidl/test_kernels.py``).

Arrays are viewed as ``(M, C)``: every axis but the channel flattened into rows. Reductions split the
rows into ``T`` fixed blocks, each thread summing its blocks into a private row of a ``(T, C)`` float64
buffer; the blocks are then added in order, so the result does not depend
on the number of threads. Statistics use float64 accumulators and a per-channel shift (the first row),
so the one-pass variance ``E[(x−s)²] − E[x−s]²`` does not cancel catastrophically. Each block sums
into local arrays, written to its row at the end: accumulators in rows of the buffer itself may alias
the input for the compiler, which then keeps them in memory (measured on R0's 156 MB batch-norm input,
2 threads, alternating in one process on a busy machine: statistics 16.7 → 8.7 ms, backward sums
17.7 → 9.4 ms, a plain copy of the array 8.9 ms; ``benchmarks/bench_bnpool.py`` times the passes).

Small arrays (fewer than :data:`~.blas.SERIAL_BELOW` elements, e.g. batch norm after a Dense layer) run on one
thread: starting and synchronising a thread team costs more than their whole computation (measured with
2 threads on a busy 2-core machine: 550 µs vs 95 µs for the four passes on 32 × 32).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import workspace
from .blas import run_row_blocks, small

_BLOCKS = 16

@njit(nogil=True, cache=True)
def _stat_sums(x2, shift, T, part_s, part_q, t0, t1):
    """Per channel, per block ``t`` of rows (blocks ``t0 … t1 − 1`` of ``T``): ``Σ d`` and ``Σ d²``,
    ``d = x − shift`` (float64)."""
    M, C = x2.shape
    step = (M + T - 1) // T
    for t in range(t0, t1):
        s = np.zeros(C)   # per block (T of them), not per row: local, so kept in registers (module docstring)
        q = np.zeros(C)
        for r in range(t * step, min(M, (t + 1) * step)):
            for k in range(C):
                d = np.float64(x2[r, k]) - shift[k]
                s[k] += d
                q[k] += d * d
        for k in range(C):
            part_s[t, k] = s[k]
            part_q[t, k] = q[k]


@njit(nogil=True, cache=True)
def _backward_sums(dy2, x2, mean, T, part_s, part_q, t0, t1):
    """Per channel, per block ``t`` of rows (blocks ``t0 … t1 − 1`` of ``T``): ``Σ dy`` and ``Σ dy·(x − μ)``
    (float64; times ``1/σ`` after)."""
    M, C = x2.shape
    step = (M + T - 1) // T
    for t in range(t0, t1):
        s = np.zeros(C)
        q = np.zeros(C)
        for r in range(t * step, min(M, (t + 1) * step)):
            for k in range(C):
                d = np.float64(dy2[r, k])
                s[k] += d
                q[k] += d * (np.float64(x2[r, k]) - mean[k])
        for k in range(C):
            part_s[t, k] = s[k]
            part_q[t, k] = q[k]


@njit(nogil=True, cache=True)
def _affine(u2, v2, alpha, v_shift, beta, gamma, out, r0, r1):
    """``out = u·α + (v − v_shift)·β + γ`` per channel, rows ``r0 … r1 − 1``.

    Backward: ``u = dy``, ``v = x``, ``α = scale``, ``v_shift = μ``, ``β = −scale·c/σ``, ``γ = −scale·a``.
    """
    C = u2.shape[1]
    for r in range(r0, r1):
        for k in range(C):
            out[r, k] = u2[r, k] * alpha[k] + (v2[r, k] - v_shift[k]) * beta[k] + gamma[k]


@njit(nogil=True, cache=True)
def _scale_shift(x2, scale, shift, out, r0, r1):
    """``out = x·scale + shift`` per channel, rows ``r0 … r1 − 1``: the apply pass, as the reference computes it
    (through :func:`_affine` with ``β = 0``, an infinite ``x`` gave ``∞·0 = NaN``)."""
    C = x2.shape[1]
    for r in range(r0, r1):
        for k in range(C):
            out[r, k] = x2[r, k] * scale[k] + shift[k]


def _blocks(M, C):
    T = min(_BLOCKS, M)
    return T, np.empty((T, C)), np.empty((T, C))


def batchnorm_stats(x2):
    """Per-channel mean and biased variance (float64) of ``x2`` ``(M, C)``."""
    x2 = np.ascontiguousarray(x2)
    M, C = x2.shape
    T, s, q = _blocks(M, C)
    shift = x2[0].astype(np.float64)
    run_row_blocks(_stat_sums, T, x2, shift, T, s, q, serial=small(x2.size))
    ms = s.sum(axis=0) / M
    var = np.maximum(q.sum(axis=0) / M - ms * ms, 0.0)
    return shift + ms, var


def batchnorm_apply(x2, scale, shift):
    """``y = x·scale + shift`` per channel."""
    x2 = np.ascontiguousarray(x2)
    dt = x2.dtype
    y2 = workspace.empty(x2.shape, x2.dtype)
    run_row_blocks(_scale_shift, x2.shape[0], x2, np.asarray(scale, dtype=dt), np.asarray(shift, dtype=dt), y2,
                   serial=small(x2.size))
    return y2


def batchnorm_backward_sums(dy2, x2, mean, inv_std):
    """``(Σ dy, Σ dy·x̂)`` per channel, float64."""
    x2 = np.ascontiguousarray(x2)
    dy2 = np.ascontiguousarray(dy2, dtype=x2.dtype)
    M, C = x2.shape
    T, s, q = _blocks(M, C)
    run_row_blocks(_backward_sums, T, dy2, x2, np.asarray(mean, np.float64), T, s, q, serial=small(x2.size))
    return s.sum(axis=0), q.sum(axis=0) * np.asarray(inv_std, np.float64)


def batchnorm_backward_input(dy2, x2, mean, inv_std, scale, sum_dy, sum_dy_xhat):
    """Training-mode ``dx = scale·(dy − mean(dy) − x̂·mean(dy·x̂))``, as one affine pass in dy and x."""
    x2 = np.ascontiguousarray(x2)
    dy2 = np.ascontiguousarray(dy2, dtype=x2.dtype)
    dt = x2.dtype
    alpha, beta, gamma = dx_coefficients(sum_dy, sum_dy_xhat, x2.shape[0], scale, inv_std, dt)
    dx2 = workspace.empty(x2.shape, x2.dtype)
    run_row_blocks(_affine, x2.shape[0], dy2, x2, alpha, np.asarray(mean, dt), beta, gamma, dx2,
                   serial=small(x2.size))
    return dx2


def dx_coefficients(sum_dy, sum_dy_xhat, M, scale, inv_std, dt):
    """``(α, β, γ)`` in dtype ``dt`` of the batch norm's training-mode input gradient as one affine pass,
    ``dx = dy·α + (x − μ)·β + γ`` (:func:`batchnorm_backward_input` and the fused blocks of
    :mod:`.bnpool_numba`): ``α = scale``, ``β = −scale·inv_std·Σdy·x̂/M``, ``γ = −scale·Σdy/M`` over the ``M``
    rows of the batch (``x̂ = (x − μ)·inv_std``)."""
    scale = np.asarray(scale, np.float64)
    a, c = np.asarray(sum_dy) / M, np.asarray(sum_dy_xhat) / M
    inv_std = np.asarray(inv_std, np.float64)
    return scale.astype(dt), (-scale * c * inv_std).astype(dt), (-scale * a).astype(dt)


def dx_coefficient_rows(mean, sum_dy, sum_dy_xhat, M, scale, inv_std, dt):
    """``(4, C)`` rows ``μ, α, β, γ`` in dtype ``dt`` (:func:`dx_coefficients` with the mean): what the fused conv
    blocks' numba loops take to make the batch norm's input gradient ``dy·α + (x − μ)·β + γ`` where they need it."""
    return np.stack([np.asarray(mean, np.float64).astype(dt), *dx_coefficients(sum_dy, sum_dy_xhat, M, scale,
                                                                                inv_std, dt)])
