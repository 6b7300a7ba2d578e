"""Fused training blocks of batch normalisation and pooling, forward and backward, GIL-free numba loops run in
parallel over blocks of rows (:func:`~.blas.run_row_blocks`).

Part of the fast kernel family (:meth:`~minidl.kernels.contract.KernelFamily.batchnorm_max_pool2d_forward`,
``…_backward`` and :meth:`~minidl.kernels.contract.KernelFamily.avg_pool2d_batchnorm_backward`); same results,
to float rounding, as the functions of the same names in :mod:`minidl.kernels.reference`, which compose the
unfused functions (``tests/minidl/test_bnpool.py``). Which layers form a block in a training step is decided
by :mod:`minidl.training_plan`.

Batch norm → max pooling
------------------------
In benchmark R0 a batch norm and a 2 × 2 max pooling follow a convolution whose output ``x`` is
64 × 48 × 398 × 32 floats (156 MB). Run one after the other, the training step passes over that size
about eleven times: statistics (read x), normalise (read x, write x̂·γ + β), pool (read it, write a
quarter + argmax); backward: pool (write the sparse dy of the batch norm), the two sums (read it and x),
dx (read both, write dx). Fused:

* forward: the statistics (one read of ``x``, :func:`~.normalization_numba.batchnorm_stats`), then one pass
  that normalises each window while it is in registers and writes only the pooled output, the argmax and
  the winners' inputs — the normalised array is never written;
* backward: the pooled gradient ``dy`` reaches only the winner of each window, so BN's two sums
  ``Σ dy_bn`` and ``Σ dy_bn·x̂`` need only ``dy`` and the winners' ``x`` which the forward pass wrote
  beside the argmax (``x_win``, a quarter of ``x``: this sums pass measured 2 ms where reading the winners
  out of ``x`` took 6); then one dense pass writes ``dx = scale·(dy_bn − Σdy_bn/M) + (x − μ)·β′``
  (``β′ = −scale·inv_std·Σdy_bn·x̂/M``), with ``dy_bn`` read from ``dy`` where ``arg`` names the cell, 0
  elsewhere. About five passes instead of eleven.

Average pooling → batch norm
----------------------------
(Benchmark R1.) The batch norm normalises the pooled output; its backward's input gradient, pooled-sized,
is only spread over the windows. :func:`avg_pool2d_batchnorm_backward` writes the pooling's ``dx``
directly from the batch norm's ``dy`` (one pass), without storing the batch norm's input gradient.

Fused when the windows tile the input (stride = pool size; no padding for max pooling; cells past the last
whole window, odd sizes, get no window and a zero gradient); any other geometry runs the unfused functions
(the same results).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import reference, workspace
from .geometry import output_hw
from .blas import run_row_blocks, small
from .normalization_numba import batchnorm_apply, batchnorm_backward_input, batchnorm_backward_sums, dx_coefficients
from .pooling_numba import _avg_pool_backward_tiled, avg_pool2d_backward, max_pool2d_backward, max_pool2d_forward


@njit(nogil=True, cache=True)
def _forward_tiled(x, scale, shift, ph, pw, y, arg, xw, r0, r1):
    """``y[n,i,j,k] = max`` over the window ``(i·ph + a, j·pw + c)`` of ``x·scale[k] + shift[k]``, its
    position ``a·pw + c`` in ``arg`` (strict ``>`` from −∞: the first maximum, as the unfused pooling) and
    its ``x`` in ``xw``, for pooled rows ``(n, i)`` ``r0 … r1 − 1`` (flat). Each window is reduced in three local rows
    (one allocation per pooled row), then copied out: selecting into the three outputs directly compiled to
    scalar code, twice as slow (measured 28 vs 14 ms on R0's first block; a copy of ``x`` 8 ms)."""
    N, Ho, Wo, C = y.shape
    for r in range(r0, r1):
        n = r // Ho
        i = r - n * Ho
        by = np.empty(C, x.dtype)
        bi = np.empty(C, np.int32)
        bx = np.empty(C, x.dtype)
        for j in range(Wo):
            for k in range(C):
                by[k] = -np.inf
                bi[k] = 0
                bx[k] = 0.0
            for a in range(ph):
                for c in range(pw):
                    xr = x[n, i * ph + a, j * pw + c]
                    idx = np.int32(a * pw + c)
                    for k in range(C):   # selects, not branches: vectorised over channels
                        xv = xr[k]
                        v = xv * scale[k] + shift[k]
                        take = v > by[k]
                        by[k] = v if take else by[k]
                        bi[k] = idx if take else bi[k]
                        bx[k] = xv if take else bx[k]
            yo = y[n, i, j]
            ao = arg[n, i, j]
            xo = xw[n, i, j]
            for k in range(C):
                yo[k] = by[k]
                ao[k] = bi[k]
                xo[k] = bx[k]


@njit(inline="always")
def _take(xv, s, t, idx, best, bi, bx):
    """One cell of a max-pooling window behind the batch norm: ``v = x·s + t`` takes the lead when ``v > best``
    (strictly, so the first of equal values wins; NaN never does), with its index and input."""
    v = xv * s + t
    if v > best:
        return v, idx, xv
    return best, bi, bx


@njit(nogil=True, cache=True)
def _forward_tiled_2x2(x, scale, shift, y, arg, xw, r0, r1):
    """:func:`_forward_tiled` for 2 × 2 windows (R0's poolings), each window's four cells written out: per channel
    the same comparisons in the same order from −∞, so the same bits. Measured on R0's first block (64 × 48 × 398
    × 32 in, AVX2, 2 threads): 32–44 ms with the three local rows, 12–13 ms so — the time of a pass that only
    reads ``x`` and writes the three outputs."""
    N, Ho, Wo, C = y.shape
    lowest = np.full(1, -np.inf, dtype=y.dtype)[0]   # typed constants: float32 stays float32
    zero = np.zeros(1, dtype=x.dtype)[0]
    for r in range(r0, r1):
        n = r // Ho
        i = r - n * Ho
        top, bottom = x[n, 2 * i], x[n, 2 * i + 1]
        yo, ao, xo = y[n, i], arg[n, i], xw[n, i]
        for j in range(Wo):
            c00, c01, c10, c11 = top[2 * j], top[2 * j + 1], bottom[2 * j], bottom[2 * j + 1]
            yr, ar, xr = yo[j], ao[j], xo[j]
            for k in range(C):
                s, t = scale[k], shift[k]
                best, bi, bx = lowest, np.int32(0), zero   # as _forward_tiled
                best, bi, bx = _take(c00[k], s, t, np.int32(0), best, bi, bx)
                best, bi, bx = _take(c01[k], s, t, np.int32(1), best, bi, bx)
                best, bi, bx = _take(c10[k], s, t, np.int32(2), best, bi, bx)
                best, bi, bx = _take(c11[k], s, t, np.int32(3), best, bi, bx)
                yr[k], ar[k], xr[k] = best, bi, bx


@njit(nogil=True, cache=True)
def _dx_tiled(dy, arg, x, mean, alpha, beta, gamma, zero, ph, pw, dx, r0, r1):
    """``dx = u·α + (x − μ)·β + γ`` per channel, ``u = dy`` of the cell's window where ``arg`` names the cell,
    else ``zero`` (0 in dx's dtype; also for cells in no window). The terms and their order are those of the unfused
    :func:`~.normalization_numba._affine` on the unfused pooling's ``dy_bn``. Input rows ``(n, p)``
    ``r0 … r1 − 1`` (flat)."""
    N, H, W, C = x.shape
    Ho, Wo = dy.shape[1], dy.shape[2]
    for r in range(r0, r1):
        n = r // H
        p = r - n * H
        i = p // ph
        a = p - i * ph
        for q in range(W):
            j = q // pw
            xr = x[n, p, q]
            out = dx[n, p, q]
            if i < Ho and j < Wo:
                idx = a * pw + (q - j * pw)
                dr = dy[n, i, j]
                ar = arg[n, i, j]
                for k in range(C):
                    u = dr[k] if ar[k] == idx else zero
                    out[k] = u * alpha[k] + (xr[k] - mean[k]) * beta[k] + gamma[k]
            else:
                for k in range(C):
                    out[k] = zero * alpha[k] + (xr[k] - mean[k]) * beta[k] + gamma[k]


def tiles(pool, strides, pads):
    """True when max-pooling windows tile their input (stride = pool size, no padding): the fused kernels' case."""
    return tuple(strides) == tuple(pool) and not any(pads)


def batchnorm_max_pool2d_forward(x, scale, shift, pool, strides, pads):
    """Same as :func:`minidl.kernels.reference.batchnorm_max_pool2d_forward`: ``(y, arg, x_win)``, in one pass
    over ``x`` when the windows tile it (module docstring)."""
    x = np.ascontiguousarray(x)
    dt = x.dtype
    if not tiles(pool, strides, pads):
        C = x.shape[-1]
        xn = batchnorm_apply(x.reshape(-1, C), scale, shift).reshape(x.shape)
        y, arg = max_pool2d_forward(xn, pool, strides, pads)
        return y, arg, reference._at_winners(x, arg, pool, strides, pads)
    Ho, Wo = output_hw(x.shape, pool, strides, pads)
    shape = (x.shape[0], Ho, Wo, x.shape[3])
    y, arg, xw = workspace.empty(shape, dt), workspace.empty(shape, np.int32), workspace.empty(shape, dt)
    rows, serial = shape[0] * Ho, small(x.size)
    if tuple(pool) == (2, 2):
        run_row_blocks(_forward_tiled_2x2, rows, x, np.asarray(scale, dt), np.asarray(shift, dt), y, arg, xw,
                       serial=serial)
    else:
        run_row_blocks(_forward_tiled, rows, x, np.asarray(scale, dt), np.asarray(shift, dt), pool[0], pool[1], y,
                       arg, xw, serial=serial)
    return y, arg, xw


def winner_sums(dy, x_win, mean, inv_std):
    """The batch norm's two sums ``(Σ dy_bn, Σ dy_bn·x̂)`` behind a max pooling whose windows tile: ``dy_bn`` is the
    pooling's ``dy`` at the winners and 0 elsewhere, so its sums are those of ``dy`` against the winners' inputs
    ``x_win`` (float64 ``mean``, ``inv_std``)."""
    C = dy.shape[-1]
    return batchnorm_backward_sums(dy.reshape(-1, C), np.asarray(x_win, dy.dtype).reshape(-1, C), mean, inv_std)


def batchnorm_max_pool2d_backward(dy, arg, x_win, x, mean, inv_std, scale, pool, strides, pads):
    """Same as :func:`minidl.kernels.reference.batchnorm_max_pool2d_backward`: ``(dx, Σ dy_bn, Σ dy_bn·x̂)``;
    the sums over the pooled cells (``dy``, ``x_win``), then one dense pass (module docstring)."""
    x = np.ascontiguousarray(x)
    dt = x.dtype
    dy = np.ascontiguousarray(dy, dtype=dt)
    arg = np.ascontiguousarray(arg)
    C = x.shape[-1]
    mean = np.asarray(mean, np.float64)
    inv_std = np.asarray(inv_std, np.float64)
    if not tiles(pool, strides, pads):
        dbn = max_pool2d_backward(dy, arg, x.shape, pool, strides, pads).reshape(-1, C)
        x2 = x.reshape(-1, C)
        sum_dy, sum_dy_xhat = batchnorm_backward_sums(dbn, x2, mean, inv_std)
        dx = batchnorm_backward_input(dbn, x2, mean, inv_std, scale, sum_dy, sum_dy_xhat)
        return dx.reshape(x.shape), sum_dy, sum_dy_xhat
    sum_dy, sum_dy_xhat = winner_sums(dy, x_win, mean, inv_std)
    alpha, beta, gamma = dx_coefficients(sum_dy, sum_dy_xhat, x.size // C, scale, inv_std, dt)
    dx = workspace.empty(x.shape, dt)
    run_row_blocks(_dx_tiled, x.shape[0] * x.shape[1], dy, arg, x, mean.astype(dt), alpha, beta, gamma, dt.type(0),
                   pool[0], pool[1], dx, serial=small(x.size))
    return dx, sum_dy, sum_dy_xhat


def avg_pool2d_batchnorm_backward(dy, p, mean, inv_std, scale, sum_dy, sum_dy_xhat, x_shape, pool, strides, pads):
    """Same as :func:`minidl.kernels.reference.avg_pool2d_batchnorm_backward`: the batch norm's input gradient
    spread over the pooling windows in one pass, without storing it, when the windows tile (module docstring)."""
    p = np.ascontiguousarray(p)
    dt = p.dtype
    dy = np.ascontiguousarray(dy, dtype=dt)
    C = p.shape[-1]
    if tuple(strides) != tuple(pool):
        dbn = batchnorm_backward_input(dy.reshape(-1, C), p.reshape(-1, C), mean, inv_std, scale, sum_dy,
                                       sum_dy_xhat)
        return avg_pool2d_backward(dbn.reshape(p.shape), x_shape, pool, strides, pads)
    alpha, beta, gamma = dx_coefficients(sum_dy, sum_dy_xhat, p.size // C, scale, inv_std, dt)
    dx = workspace.empty(x_shape, dt)
    run_row_blocks(_avg_pool_backward_tiled, dx.shape[0] * dx.shape[1], dy, pool[0], pool[1], pads[0], pads[2], True,
                   p, np.asarray(mean, dt), alpha, beta, gamma, dx, serial=small(dx.size))
    return dx


__all__ = ["batchnorm_max_pool2d_forward", "batchnorm_max_pool2d_backward", "avg_pool2d_batchnorm_backward"]
