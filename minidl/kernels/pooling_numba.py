"""Fast max and average pooling, numba-parallel. Same functions and results as
:mod:`minidl.kernels.reference` (proved in ``tests/minidl/test_kernels.py``).

Checklist: ``parallel=True, cache=True``; forward ``prange`` over output rows ``(n, i)`` and backward
``prange`` over images ``n`` (overlapping windows scatter into the same image only, so one thread per
image never races); innermost loop over channels (unit stride); no allocation inside ``prange``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .reference import output_length


@njit(parallel=True, cache=True)
def _max_forward(x, ph, pw, sh, sw, top, left, y, arg):
    N, H, W, C = x.shape
    Ho, Wo = y.shape[1], y.shape[2]
    for r in prange(N * Ho):
        n = r // Ho
        i = r - n * Ho
        for j in range(Wo):
            for k in range(C):
                y[n, i, j, k] = -np.inf
                arg[n, i, j, k] = 0
            for a in range(ph):
                p = i * sh - top + a
                if p < 0 or p >= H:
                    continue
                for c in range(pw):
                    q = j * sw - left + c
                    if q < 0 or q >= W:
                        continue
                    idx = a * pw + c
                    for k in range(C):
                        v = x[n, p, q, k]
                        if v > y[n, i, j, k]:  # strict: the first maximum wins, as TensorFlow
                            y[n, i, j, k] = v
                            arg[n, i, j, k] = idx


@njit(parallel=True, cache=True)
def _max_backward(dy, arg, pw, sh, sw, top, left, dx):
    N, H, W, C = dx.shape
    Ho, Wo = dy.shape[1], dy.shape[2]
    for n in prange(N):
        for p in range(H):
            for q in range(W):
                for k in range(C):
                    dx[n, p, q, k] = 0.0
        for i in range(Ho):
            for j in range(Wo):
                for k in range(C):
                    idx = arg[n, i, j, k]
                    a = idx // pw
                    p = i * sh - top + a
                    q = j * sw - left + (idx - a * pw)
                    dx[n, p, q, k] += dy[n, i, j, k]


@njit(parallel=True, cache=True)
def _avg_forward(x, ph, pw, sh, sw, top, left, y):
    N, H, W, C = x.shape
    Ho, Wo = y.shape[1], y.shape[2]
    for r in prange(N * Ho):
        n = r // Ho
        i = r - n * Ho
        p0 = max(i * sh - top, 0)
        p1 = min(i * sh - top + ph, H)
        for j in range(Wo):
            q0 = max(j * sw - left, 0)
            q1 = min(j * sw - left + pw, W)
            for k in range(C):
                y[n, i, j, k] = 0.0
            for p in range(p0, p1):
                for q in range(q0, q1):
                    for k in range(C):
                        y[n, i, j, k] += x[n, p, q, k]
            inv = 1.0 / ((p1 - p0) * (q1 - q0))  # padding excluded from the count, as TensorFlow
            for k in range(C):
                y[n, i, j, k] *= inv


@njit(parallel=True, cache=True)
def _avg_backward(dy, ph, pw, sh, sw, top, left, dx):
    N, H, W, C = dx.shape
    Ho, Wo = dy.shape[1], dy.shape[2]
    for n in prange(N):
        for p in range(H):
            for q in range(W):
                for k in range(C):
                    dx[n, p, q, k] = 0.0
        for i in range(Ho):
            p0 = max(i * sh - top, 0)
            p1 = min(i * sh - top + ph, H)
            for j in range(Wo):
                q0 = max(j * sw - left, 0)
                q1 = min(j * sw - left + pw, W)
                inv = 1.0 / ((p1 - p0) * (q1 - q0))
                for p in range(p0, p1):
                    for q in range(q0, q1):
                        for k in range(C):
                            dx[n, p, q, k] += dy[n, i, j, k] * inv


def _out(x_shape, pool, strides, pads):
    return (output_length(x_shape[1], pool[0], strides[0], pads[0], pads[1]),
            output_length(x_shape[2], pool[1], strides[1], pads[2], pads[3]))


def max_pool2d_forward(x, pool, strides, pads):
    """Same as :func:`minidl.kernels.reference.max_pool2d_forward`: ``(y, arg)``."""
    x = np.ascontiguousarray(x)
    Ho, Wo = _out(x.shape, pool, strides, pads)
    y = np.empty((x.shape[0], Ho, Wo, x.shape[3]), dtype=x.dtype)
    arg = np.empty(y.shape, dtype=np.int32)
    _max_forward(x, pool[0], pool[1], strides[0], strides[1], pads[0], pads[2], y, arg)
    return y, arg


def max_pool2d_backward(dy, arg, x_shape, pool, strides, pads):
    """Same as the reference: the error of each window goes to its winner."""
    dy = np.ascontiguousarray(dy)
    dx = np.empty(x_shape, dtype=dy.dtype)
    _max_backward(dy, np.ascontiguousarray(arg), pool[1], strides[0], strides[1], pads[0], pads[2], dx)
    return dx


def avg_pool2d_forward(x, pool, strides, pads):
    """Same as the reference: the mean of the real cells of each window."""
    x = np.ascontiguousarray(x)
    Ho, Wo = _out(x.shape, pool, strides, pads)
    y = np.empty((x.shape[0], Ho, Wo, x.shape[3]), dtype=x.dtype)
    _avg_forward(x, pool[0], pool[1], strides[0], strides[1], pads[0], pads[2], y)
    return y


def avg_pool2d_backward(dy, x_shape, pool, strides, pads):
    """Same as the reference: each real cell receives ``dy / count``."""
    dy = np.ascontiguousarray(dy)
    dx = np.empty(x_shape, dtype=dy.dtype)
    _avg_backward(dy, pool[0], pool[1], strides[0], strides[1], pads[0], pads[2], dx)
    return dx
