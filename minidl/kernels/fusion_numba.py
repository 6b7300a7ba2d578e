"""Fused inference blocks: convolution → bias → ReLU → batch norm (inference) → pooling in one pass.

Part of the fast kernel family (:func:`conv_inference`, the contract's
:meth:`~minidl.kernels.contract.KernelFamily.conv_inference`); same results as
:func:`minidl.kernels.reference.conv_inference` (``tests/minidl/test_fusion.py``: bit for bit equal to the
fast family's unfused layers, and equal to the reference; a 3×3 stride-1 Winograd block computes F(4×4, 3×3)
where the layer computes F(2×2), so those two agree to F(4×4)'s rounding, :mod:`.winograd2d_numba`). Which
layers form a block is decided by
:mod:`minidl.inference`; the layers themselves keep their plain forward and backward passes.

Why fuse
--------
In inference nothing is kept for a backward pass, so a convolution's output is needed only by the next
layer. For benchmark R0's first convolution that output is 64 × 48 × 398 × 32 floats, 156 MB per batch:
written by the convolution, read and written again by the batch norm, read by the pooling — three passes
over memory that cost more than the arithmetic. Here each piece of the convolution's output (a pooling
row of the direct loops, or a block of the cache-blocked im2col + BLAS, :mod:`.conv_blocked`) is pooled,
with the batch norm's per-channel affine ``v·scale + shift``, while it is still in cache
(:func:`~.pooling_numba.pool_affine_rows`), and only the pooled output is written: a quarter of it for
2 × 2 pooling.

A block is fused when its activation is a plain ReLU or none, its pooling windows tile the conv output
(stride = pool size, no padding) and the convolution takes the direct or the cache-blocked path; any other
block runs its steps one after the other (the same results).
"""

from __future__ import annotations

import types

import numpy as np
from numba import njit

from . import conv_blocked, reference, workspace
from .blas import run_tasks
from .contract import is_linear, is_plain_relu
from . import conv_numba
from .conv_numba import DIRECT_MAX_K, _pointwise, conv_bias_activation, direct_row
from .geometry import as_image, output_hw
from .normalization_numba import batchnorm_apply
from .pooling_numba import avg_pool2d_forward, max_pool2d_forward, pool_affine_rows

#: fixed work blocks (tasks) of the direct fused kernel, each with its own scratch rows
_DIRECT_BLOCKS = 16


@njit(nogil=True, cache=True)
def _direct_fused_rows(x, w, b, sh, sw, top, left, relu, ph, pw, is_max, scale, shift, use_affine, affine_first,
                       r0, r1, z, y):
    """Direct-loop convolution fused with pooling, pooled rows ``r0 ≤ r < r1`` (row ``r`` = sample ``r // Hp``,
    pooled row ``r % Hp``): the ``ph`` conv rows of each into the scratch ``z`` ``(ph, Wo, F)``
    (:func:`~.conv_numba.direct_row`, the unfused kernel's rows), then :func:`~.pooling_numba.pool_affine_rows`
    into ``y``. Serial; the caller runs blocks of rows as tasks (a ``prange`` around these calls compiled to
    code 2.4× slower, measured)."""
    Hp = y.shape[1]
    for r in range(r0, r1):
        n = r // Hp
        i = r - n * Hp
        for a in range(ph):
            direct_row(x, w, b, n, i * ph + a, sh, sw, top, left, relu, z[a])
        pool_affine_rows(z, ph, pw, is_max, scale, shift, use_affine, affine_first, y, n, i)


def _fusable(kh, kw, C, strides, pads, activation, pool):
    if not (is_plain_relu(activation) or is_linear(activation)) or _pointwise(kh, kw, strides, pads):
        return False
    if pool is None:
        return True
    _, size, pool_strides, pool_pads = pool
    return tuple(size) == tuple(pool_strides) and not any(pool_pads)


#: the fast family's step functions, for the blocks that are not fused (the reference's order, our kernels)
_STEPS = types.SimpleNamespace(conv_bias_activation=conv_bias_activation, batchnorm_apply=batchnorm_apply,
                               max_pool2d_forward=max_pool2d_forward, avg_pool2d_forward=avg_pool2d_forward)


def _composed(x, w, b, strides, pads, activation, pool, affine):
    """The block's steps one after the other (:func:`~.reference.conv_inference_steps` with the fast family's
    functions)."""
    return reference.conv_inference_steps(_STEPS, x, w, b, strides, pads, activation, pool, affine)


def conv_inference(x, w, b, strides, pads, activation, pool=None, affine=None):
    """Same as :func:`minidl.kernels.reference.conv_inference`, in one pass where possible (module docstring)."""
    x4, w4 = as_image(x, w)
    x4 = np.ascontiguousarray(x4)
    w4 = np.ascontiguousarray(w4, dtype=x4.dtype)
    kh, kw, C, F = w4.shape
    direct = kh * kw * C <= DIRECT_MAX_K
    if not _fusable(kh, kw, C, strides, pads, activation, pool) or not (direct or conv_numba.BLOCKED):
        return _composed(x, w, b, strides, pads, activation, pool, affine)
    dt = x4.dtype
    N = x4.shape[0]
    Ho, Wo = output_hw(x4.shape, (kh, kw), strides, pads)
    ph, pw = (1, 1) if pool is None else tuple(pool[1])
    is_max = pool is None or pool[0] == "max"   # no pooling: a 1 × 1 max, the value itself
    use_affine = affine is not None
    scale = np.asarray(affine[0] if use_affine else np.ones(F), dtype=dt)
    shift = np.asarray(affine[1] if use_affine else np.zeros(F), dtype=dt)
    affine_first = bool(affine[2]) if use_affine else True
    relu = is_plain_relu(activation)
    bias = np.zeros(F, dtype=dt) if b is None else np.ascontiguousarray(b, dtype=dt)
    if direct:
        y = workspace.empty((N, Ho // ph, Wo // pw, F), dt)
        rows = N * (Ho // ph)
        T = max(1, min(_DIRECT_BLOCKS, rows))
        step = -(-rows // T)
        z = np.empty((T, ph, Wo, F), dtype=dt)
        args = (x4, w4, bias, strides[0], strides[1], pads[0], pads[2], relu, ph, pw, is_max, scale, shift,
                use_affine, affine_first)
        run_tasks([lambda t=t: _direct_fused_rows(*args, t * step, min(rows, (t + 1) * step), z[t], y)
                   for t in range(T)])
    else:
        y = conv_blocked.conv_forward(x4, w4, bias, strides, pads, Ho, Wo, relu,
                                      pooled=(ph, pw, is_max, scale, shift, use_affine, affine_first))
    return y if x.ndim == 4 else y[:, 0]


__all__ = ["conv_inference"]
