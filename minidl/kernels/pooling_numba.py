"""Fast max and average pooling. Same functions and results as :mod:`minidl.kernels.reference` (proved in
``tests/minidl/test_kernels.py``).

Checklist: ``nogil=True, cache=True`` loops over a range of rows, run in parallel over blocks of rows
(:func:`~.blas.run_row_blocks`); forward over output rows ``(n, i)`` and backward over images ``n``
(overlapping windows scatter into the same image only, so one task per block of images never races) — or,
for windows that tile the image (the usual stride = pool size), over input rows in gather form (each cell
written once); innermost loop over channels (unit stride); no allocation inside the row loop.
"""

from __future__ import annotations

import numpy as np
from numba import carray, njit

from . import workspace
from .blas import run_row_blocks, small
from .gemm_numba import stack_buffer
from .geometry import output_hw


@njit(nogil=True, cache=True)
def _pool_forward(x, ph, pw, sh, sw, top, left, is_max, y, arg, r0, r1):
    """Max (``is_max``; winner's window position in ``arg``) or mean of the real cells of each window.

    Output rows ``(n, i)`` ``r0 … r1 − 1`` (flat). One kernel for both modes: half the compilations (numba
    compiles each kernel per dtype).
    """
    N, H, W, C = x.shape
    Ho, Wo = y.shape[1], y.shape[2]
    for r in range(r0, r1):
        n = r // Ho
        i = r - n * Ho
        p0 = max(i * sh - top, 0)
        p1 = min(i * sh - top + ph, H)
        for j in range(Wo):
            q0 = max(j * sw - left, 0)
            q1 = min(j * sw - left + pw, W)
            if is_max:
                for k in range(C):
                    y[n, i, j, k] = -np.inf
                    arg[n, i, j, k] = 0
                for p in range(p0, p1):
                    for q in range(q0, q1):
                        idx = (p - i * sh + top) * pw + (q - j * sw + left)
                        for k in range(C):   # selects, not branches: vectorised over channels
                            v = x[n, p, q, k]
                            best = y[n, i, j, k]
                            take = v > best   # strict: the first maximum wins, as TensorFlow
                            y[n, i, j, k] = v if take else best
                            arg[n, i, j, k] = idx if take else arg[n, i, j, k]
            else:
                for k in range(C):
                    y[n, i, j, k] = 0.0
                for p in range(p0, p1):
                    for q in range(q0, q1):
                        for k in range(C):
                            y[n, i, j, k] += x[n, p, q, k]
                inv = 1.0 / ((p1 - p0) * (q1 - q0))  # padding excluded from the count, as TensorFlow
                for k in range(C):
                    y[n, i, j, k] *= inv


@njit(nogil=True, cache=True)
def _pool_backward(dy, arg, ph, pw, sh, sw, top, left, is_max, dx, n0, n1):
    """Max: each window's dy to its winner. Mean: dy/count to each real cell. Images ``n0 … n1 − 1`` (one
    task per block of images: overlapping windows scatter within an image only)."""
    N, H, W, C = dx.shape
    Ho, Wo = dy.shape[1], dy.shape[2]
    for n in range(n0, n1):
        for p in range(H):
            for q in range(W):
                for k in range(C):
                    dx[n, p, q, k] = 0.0
        for i in range(Ho):
            p0 = max(i * sh - top, 0)
            p1 = min(i * sh - top + ph, H)
            for j in range(Wo):
                if is_max:
                    for k in range(C):
                        idx = arg[n, i, j, k]
                        a = idx // pw
                        dx[n, i * sh - top + a, j * sw - left + (idx - a * pw), k] += dy[n, i, j, k]
                else:
                    q0 = max(j * sw - left, 0)
                    q1 = min(j * sw - left + pw, W)
                    inv = 1.0 / ((p1 - p0) * (q1 - q0))
                    for p in range(p0, p1):
                        for q in range(q0, q1):
                            for k in range(C):
                                dx[n, p, q, k] += dy[n, i, j, k] * inv


@njit(nogil=True, cache=True)
def _max_pool_backward_tiled(dy, arg, ph, pw, top, left, dx, r0, r1):
    """Max pooling whose windows tile the image (stride = pool size), in gather form: every cell of ``dx``
    is written once, ``dy`` of its window if it was the winner, else 0 (cells outside every window: 0).
    Input rows ``(n, p)`` ``r0 … r1 − 1`` (flat); no zeroing pass, no scatter. (Kept apart from
    :func:`_avg_pool_backward_tiled`: one kernel for both compiled to code 1.4× slower here, measured.)"""
    N, H, W, C = dx.shape
    Ho, Wo = dy.shape[1], dy.shape[2]
    for r in range(r0, r1):
        n = r // H
        p = r - n * H
        i = (p + top) // ph
        a = p + top - i * ph
        for q in range(W):
            j = (q + left) // pw
            if i < Ho and j < Wo:
                idx = a * pw + (q + left - j * pw)
                for k in range(C):
                    dx[n, p, q, k] = dy[n, i, j, k] if arg[n, i, j, k] == idx else 0.0
            else:
                for k in range(C):
                    dx[n, p, q, k] = 0.0


@njit(nogil=True, cache=True)
def _avg_pool_backward_tiled(dy, ph, pw, top, left, affine, p_in, mean, alpha, beta, gamma, dx, r0, r1):
    """Average pooling whose windows tile the image (stride = pool size), in gather form: every cell of ``dx``
    is written once, ``g/count`` of its window (``g = dy[n, i, j]``, ``count`` the window's real cells; cells
    outside every window: 0). Input rows ``(n, p)`` ``r0 … r1 − 1`` (flat); no zeroing pass, no scatter.

    With ``affine`` (average pooling → batch norm, :mod:`.bnpool_numba`), ``dy`` is the batch norm's output
    gradient and ``g = dy·α + (p_in − μ)·β + γ`` its input gradient (``p_in`` the pooled values it
    normalised; :func:`~.normalization_numba._affine`'s terms, in that order), never stored. Otherwise
    ``p_in`` … ``gamma`` are unused (:func:`_no_affine`).
    """
    N, H, W, C = dx.shape
    Ho, Wo = dy.shape[1], dy.shape[2]
    for r in range(r0, r1):
        n = r // H
        p = r - n * H
        i = (p + top) // ph
        p0 = max(i * ph - top, 0)
        p1 = min(i * ph - top + ph, H)
        for q in range(W):
            j = (q + left) // pw
            out = dx[n, p, q]
            if i < Ho and j < Wo:
                q0 = max(j * pw - left, 0)
                q1 = min(j * pw - left + pw, W)
                inv = 1.0 / ((p1 - p0) * (q1 - q0))
                dr = dy[n, i, j]
                if affine:
                    pr = p_in[n, i, j]
                    for k in range(C):
                        out[k] = (dr[k] * alpha[k] + (pr[k] - mean[k]) * beta[k] + gamma[k]) * inv
                else:
                    for k in range(C):
                        out[k] = dr[k] * inv
            else:
                for k in range(C):
                    out[k] = 0.0


_NO_ARG = np.zeros((1, 1, 1, 1), dtype=np.int32)


def _no_affine(dtype):
    """The unused affine arguments of :func:`_avg_pool_backward_tiled`, in ``dtype``."""
    one = np.zeros(1, dtype=dtype)
    return np.zeros((1, 1, 1, 1), dtype=dtype), one, one, one, one


def max_pool2d_forward(x, pool, strides, pads):
    """Same as :func:`minidl.kernels.reference.max_pool2d_forward`: ``(y, arg)``."""
    x = np.ascontiguousarray(x)
    Ho, Wo = output_hw(x.shape, pool, strides, pads)
    y = workspace.empty((x.shape[0], Ho, Wo, x.shape[3]), x.dtype)
    arg = workspace.empty(y.shape, np.int32)
    run_row_blocks(_pool_forward, y.shape[0] * Ho, x, pool[0], pool[1], strides[0], strides[1], pads[0], pads[2],
                   True, y, arg, serial=small(x.size))
    return y, arg


def max_pool2d_backward(dy, arg, x_shape, pool, strides, pads):
    """Same as the reference: the error of each window goes to its winner."""
    dy = np.ascontiguousarray(dy)
    dx = workspace.empty(x_shape, dy.dtype)
    if tuple(strides) == tuple(pool):
        run_row_blocks(_max_pool_backward_tiled, dx.shape[0] * dx.shape[1], dy, np.ascontiguousarray(arg), pool[0],
                       pool[1], pads[0], pads[2], dx, serial=small(dx.size))
        return dx
    run_row_blocks(_pool_backward, dx.shape[0], dy, np.ascontiguousarray(arg), pool[0], pool[1], strides[0],
                   strides[1], pads[0], pads[2], True, dx, serial=small(dx.size))
    return dx


def avg_pool2d_forward(x, pool, strides, pads):
    """Same as the reference: the mean of the real cells of each window."""
    x = np.ascontiguousarray(x)
    Ho, Wo = output_hw(x.shape, pool, strides, pads)
    y = workspace.empty((x.shape[0], Ho, Wo, x.shape[3]), x.dtype)
    run_row_blocks(_pool_forward, y.shape[0] * Ho, x, pool[0], pool[1], strides[0], strides[1], pads[0], pads[2],
                   False, y, _NO_ARG, serial=small(x.size))
    return y


def avg_pool2d_backward(dy, x_shape, pool, strides, pads):
    """Same as the reference: each real cell receives ``dy / count``."""
    dy = np.ascontiguousarray(dy)
    dx = workspace.empty(x_shape, dy.dtype)
    if tuple(strides) == tuple(pool):
        run_row_blocks(_avg_pool_backward_tiled, dx.shape[0] * dx.shape[1], dy, pool[0], pool[1], pads[0], pads[2],
                       False, *_no_affine(dy.dtype), dx, serial=small(dx.size))
        return dx
    run_row_blocks(_pool_backward, dx.shape[0], dy, _NO_ARG, pool[0], pool[1], strides[0], strides[1], pads[0],
                   pads[2], False, dx, serial=small(dx.size))
    return dx


#: filters and values per pooled row (``Wp·F``) up to which :func:`pool_affine_rows` takes its 2 × 2 max path; its
#: stack buffer holds :data:`POOL_ROW` values, two rows of :data:`POOL_BLOCK_F` and one more
POOL_BLOCK_F = 64
POOL_ROW = 8192
_ROW_BUFFER = POOL_ROW + 2 * POOL_BLOCK_F + 1   # its size, a compile-time constant (stack_buffer needs one)


@njit(nogil=True, cache=True, inline="always")
def _max_pool_2x2_rows(z, F, P, Wp, scale, shift, use_affine, affine_first, y, n, i0):
    """:func:`pool_affine_rows` for a 2 × 2 max: the four values of each window and their affine in registers,
    compared in the window's order with the same comparisons (so the same bits), one loop over the filters per
    pooled cell instead of six; each pooled row is built in a stack buffer and copied to ``y`` in one loop. The
    loops read only ``z`` and write only the stack, so they need no run-time overlap checks, which cost more
    than the work on 32 filters. Measured on benchmark R0's first block (398 × 32 conv rows): 0.117 → 0.036 ms per
    sample, one thread."""
    buf = carray(stack_buffer(z.dtype, _ROW_BUFFER), (_ROW_BUFFER,))
    for f in range(F):
        buf[POOL_ROW + f] = scale[f]
        buf[POOL_ROW + POOL_BLOCK_F + f] = shift[f]
    buf[POOL_ROW + 2 * POOL_BLOCK_F] = -np.inf   # the start of each max, in z's dtype (a float64 -inf would
    lowest = buf[POOL_ROW + 2 * POOL_BLOCK_F]    # make the affine after the max a float64 computation)
    before = use_affine and affine_first
    after = use_affine and not affine_first
    for i in range(P):
        for j in range(Wp):
            for f in range(F):
                s, t = buf[POOL_ROW + f], buf[POOL_ROW + POOL_BLOCK_F + f]
                v00, v01 = z[2 * i, 2 * j, f], z[2 * i, 2 * j + 1, f]
                v10, v11 = z[2 * i + 1, 2 * j, f], z[2 * i + 1, 2 * j + 1, f]
                if before:
                    v00 = v00 * s + t
                    v01 = v01 * s + t
                    v10 = v10 * s + t
                    v11 = v11 * s + t
                best = lowest
                best = v00 if v00 > best else best
                best = v01 if v01 > best else best
                best = v10 if v10 > best else best
                best = v11 if v11 > best else best
                if after:
                    best = best * s + t
                buf[j * F + f] = best
        row = y[n, i0 + i].reshape(-1)
        for k in range(Wp * F):
            row[k] = buf[k]


@njit(nogil=True, cache=True)
def pool_affine_rows(z, ph, pw, is_max, scale, shift, use_affine, affine_first, y, n, i0):
    """Epilogue of a fused inference block (:mod:`.fusion_numba`): pool rows of a conv output held in cache.

    ``z`` ``(P·ph, Wz, F)``: conv output rows ``i0·ph …`` of sample ``n``, already biased and activated. Writes
    ``y[n, i0 + i, j, f]`` for ``i < P``, ``j < y.shape[2]``: the max (``is_max``; first maximum, −∞ start) or
    the mean of the ``ph × pw`` window at ``(i·ph, j·pw)`` of ``z`` — windows that tile, no padding. With
    ``use_affine``, ``v·scale[f] + shift[f]`` (batch norm in inference) is applied to every value before the
    pooling if ``affine_first``, else to the pooled value. The operations, and their order, are those of
    :func:`_pool_forward` and of the batch-norm pass, so the bits are those of the unfused layers. Serial.
    """
    F = z.shape[2]
    P = z.shape[0] // ph
    Wp = y.shape[2]
    if ph == 2 and pw == 2 and is_max and F <= POOL_BLOCK_F and Wp * F <= POOL_ROW:
        _max_pool_2x2_rows(z, F, P, Wp, scale, shift, use_affine, affine_first, y, n, i0)
        return
    inv = 1.0 / (ph * pw)
    for i in range(P):
        for j in range(Wp):
            out = y[n, i0 + i, j]
            for f in range(F):
                out[f] = -np.inf if is_max else 0.0
            for a in range(ph):
                for c in range(pw):
                    zr = z[i * ph + a, j * pw + c]
                    for f in range(F):
                        v = zr[f]
                        if use_affine and affine_first:
                            v = v * scale[f] + shift[f]
                        if is_max:
                            best = out[f]
                            out[f] = v if v > best else best
                        else:
                            out[f] += v
            if not is_max:
                for f in range(F):
                    out[f] *= inv
            if use_affine and not affine_first:
                for f in range(F):
                    out[f] = out[f] * scale[f] + shift[f]
