"""Winograd minimal filtering for convolutions along one axis (stride 1, kernel width 2 or 3).

Part of the ``fast`` kernel family: :mod:`.conv_numba` sends a convolution here when its kernel is one
pixel high (every ``Conv1D``, and ``Conv2D`` with ``(1, k)`` kernels), its stride is 1 and ``k`` is 2 or 3.
The result equals :func:`minidl.kernels.reference.conv2d_forward` and its gradients up to float rounding
(``tests/minidl/test_kernels.py``); read the reference first for what a convolution computes.

Why: fewer multiplications for the same result
----------------------------------------------
Two neighbouring outputs of a width-2 correlation, ``y0 = d0·g0 + d1·g1`` and ``y1 = d1·g0 + d2·g1``, cost
four multiplications. Winograd's ``F(2, 2)`` gets them with three::

    m1 = (d0 − d1)·g0      m2 = d1·(g0 + g1)      m3 = (d2 − d1)·g1
    y0 = m1 + m2           y1 = m2 + m3

In matrix form, for a tile of ``α = m + r − 1`` inputs ``d`` giving ``m = 2`` outputs of an ``r``-wide kernel
``g`` (Lavin & Gray 2016, "Fast algorithms for convolutional neural networks")::

    y = Aᵀ [ (G g) ⊙ (Bᵀ d) ]

With channels the elementwise product ``⊙`` becomes ``α`` **matrix products**: for every transform index
``ξ``, ``M[ξ] = V[ξ] · U[ξ]`` with ``V[ξ] = Σ_j Bᵀ[ξ, j]·x[tile + j]`` (tiles × C, the transformed input)
and ``U[ξ] = Σ_c G[ξ, c]·w[c]`` (C × F, the transformed kernel). A width-2 kernel needs 3 products where
im2col + BLAS does the work of 4 (−25 % of the arithmetic); a width-3 kernel 4 instead of 6 (−33 %).
The price is memory traffic for ``V`` and ``M`` — cheap next to the products when ``C`` and ``F`` are
large, as on a (SNPs × haplotypes-as-channels) genotype matrix.

Backward: the same algorithm, transposed
-----------------------------------------
The forward pass is linear in ``x`` and in ``w``, a chain of (transform, product, transform). Its
gradients run the chain backwards with every matrix transposed:

* ``dM[ξ] = Σ_i Aᵀ[i, ξ]·dy[tile + i]``                (transpose of the output transform)
* ``dU[ξ] = V[ξ]ᵀ · dM[ξ]``, then ``dW[c] = Σ_ξ G[ξ, c]·dU[ξ]``   (weights: α products instead of m·r)
* ``dV[ξ] = dM[ξ] · U[ξ]ᵀ``, then ``dx[p] = Σ_{tiles, j : tile + j = p} Σ_ξ Bᵀ[ξ, j]·dV[ξ]``  (input)

For ``F(2, 2)`` this gives ``dW[0] = Σ (d0 − d1)ᵀ·dy0 + d1ᵀ·(dy0 + dy1)`` and so on; the test checks every
gradient against the reference.

Threads: the ``α`` products of a chunk are independent, so they run side by side (each cut in row blocks,
one block per thread, single-threaded BLAS: :func:`minidl.threads.parallel_dots`) instead of one after
another with the BLAS splitting each. The weight products ``V[ξ]ᵀ·dM[ξ]`` (tiny output, very long inner
dimension) parallelise badly inside OpenBLAS; in row blocks each thread sums its own part.

Layout: tiles of ``m = 2`` outputs along the width; the batch (and the rows of a 2-D image) are
flattened into tiles, processed in chunks so that ``V`` and ``M`` stay a few tens of MB. Positions outside
the (padded) input read as zero, and outputs past the end of an odd-length output are never written, so
``"same"`` padding and odd lengths need no copy.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, njit, prange

from ..threads import parallel_dots

#: outputs per tile
TILE = 2

#: (Bᵀ, G, Aᵀ) for F(2, r), r = kernel width. Checked against the direct formula in the tests.
TRANSFORMS = {
    2: (
        [[1, -1, 0],
         [0, 1, 0],
         [0, -1, 1]],
        [[1, 0],
         [1, 1],
         [0, 1]],
        [[1, 1, 0],
         [0, 1, 1]],
    ),
    3: (
        [[1, 0, -1, 0],
         [0, 1, 1, 0],
         [0, -1, 1, 0],
         [0, 1, 0, -1]],
        [[1, 0, 0],
         [0.5, 0.5, 0.5],
         [0.5, -0.5, 0.5],
         [0, 0, 1]],
        [[1, 1, 1, 0],
         [0, 1, -1, -1]],
    ),
}

#: bytes of the transformed-input buffer ``V`` per chunk of tiles
CHUNK_BYTES = 48 << 20


def transforms(width: int, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(Bᵀ, G, Aᵀ)`` of ``F(2, width)`` as arrays of ``dtype``."""
    return tuple(np.array(m, dtype=dtype) for m in TRANSFORMS[width])


def applicable(w_shape, strides) -> bool:
    """True for kernels one pixel high and 2 or 3 wide with stride 1 — what this module computes."""
    return w_shape[0] == 1 and w_shape[1] in TRANSFORMS and tuple(strides) == (1, 1)


# ------------------------------------------------------------------------------------------- kernels
@njit(parallel=True, cache=True)
def _input_transform(x, r0, nr, BT, left, T, V):
    """V[ξ, (r − r0)·T + t, k] = Σ_j Bᵀ[ξ, j] · x[r, 2t + j − left, k]  (x rows r0 … r0 + nr − 1; 0 outside)."""
    W, C = x.shape[1], x.shape[2]
    alpha = BT.shape[0]
    for row in prange(nr * T):
        r = r0 + row // T
        t = row % T
        for xi in range(alpha):
            for k in range(C):
                V[xi, row, k] = 0.0
            for j in range(alpha):
                coef = BT[xi, j]
                p = TILE * t + j - left
                if coef != 0.0 and 0 <= p < W:
                    for k in range(C):
                        V[xi, row, k] += coef * x[r, p, k]


@njit(parallel=True, cache=True)
def _output_transform(M, r0, nr, AT, T, b, relu, y):
    """y[r, 2t + i, f] = act(Σ_ξ Aᵀ[i, ξ] · M[ξ, (r − r0)·T + t, f] + b[f])  for 2t + i < Wo."""
    Wo, F = y.shape[1], y.shape[2]
    alpha = AT.shape[1]
    for row in prange(nr * T):
        r = r0 + row // T
        t = row % T
        for i in range(TILE):
            q = TILE * t + i
            if q < Wo:
                for f in range(F):
                    v = b[f]
                    for xi in range(alpha):
                        v += AT[i, xi] * M[xi, row, f]
                    if relu and v < 0:
                        v = 0.0
                    y[r, q, f] = v


@njit(parallel=True, cache=True)
def _output_transform_backward(dy, r0, nr, AT, T, dM):
    """dM[ξ, (r − r0)·T + t, f] = Σ_i Aᵀ[i, ξ] · dy[r, 2t + i, f]  (outputs past the end count as 0)."""
    Wo, F = dy.shape[1], dy.shape[2]
    alpha = AT.shape[1]
    for row in prange(nr * T):
        r = r0 + row // T
        t = row % T
        for xi in range(alpha):
            for f in range(F):
                v = 0.0
                for i in range(TILE):
                    q = TILE * t + i
                    if q < Wo:
                        v += AT[i, xi] * dy[r, q, f]
                dM[xi, row, f] = v


@njit(parallel=True, cache=True)
def _input_transform_backward(dV, r0, nr, BT, left, T, dx):
    """Gather form: dx[r, p, k] = Σ_{t, j : 2t + j − left = p} Σ_ξ Bᵀ[ξ, j] · dV[ξ, (r − r0)·T + t, k].

    Parallel over input rows ``(r, p)``: each thread owns what it writes although tiles overlap.
    """
    W, C = dx.shape[1], dx.shape[2]
    alpha = BT.shape[0]
    for rp in prange(nr * W):
        r = r0 + rp // W
        p = rp % W
        for k in range(C):
            dx[r, p, k] = 0.0
        # tiles t whose window 2t − left … 2t − left + α − 1 covers p
        t_lo = max(0, (p + left - alpha + TILE) // TILE)
        t_hi = min(T - 1, (p + left) // TILE)
        for t in range(t_lo, t_hi + 1):
            j = p + left - TILE * t
            row = (r - r0) * T + t
            for xi in range(alpha):
                coef = BT[xi, j]
                if coef != 0.0:
                    for k in range(C):
                        dx[r, p, k] += coef * dV[xi, row, k]


# ------------------------------------------------------------------------------------------ wrappers
def _rows(x4):
    """(N, H, W, C) → (N·H, W, C): with a one-pixel-high kernel every image row is its own sequence."""
    N, H, W, C = x4.shape
    return x4.reshape(N * H, W, C)


def _blocks(rows):
    """Row ranges splitting ``rows`` tiles into one block per thread."""
    edges = np.linspace(0, rows, max(1, min(get_num_threads(), rows)) + 1).astype(int)
    return list(zip(edges[:-1], edges[1:]))


def _chunk_rows(n_rows, T, alpha, C, itemsize):
    return int(max(1, min(n_rows, CHUNK_BYTES // max(alpha * T * C * itemsize, 1))))


def conv_forward(x, w, b, pads, Wo, relu):
    """``y`` (N, H, Wo, F) of a stride-1 convolution with a ``(1, r)`` kernel; see the module docstring."""
    N, H, W, C = x.shape
    r, F = w.shape[1], w.shape[3]
    BT, G, AT = transforms(r, x.dtype)
    U = np.ascontiguousarray(np.einsum("xc,cif->xif", G, w[0]))  # transformed kernel (α, C, F)
    alpha, T = BT.shape[0], -(-Wo // TILE)
    xr = _rows(x)
    y = np.empty((N, H, Wo, F), dtype=x.dtype)
    yr = y.reshape(N * H, Wo, F)
    bias = np.zeros(F, dtype=x.dtype) if b is None else np.ascontiguousarray(b, dtype=x.dtype)
    chunk = _chunk_rows(N * H, T, alpha, C, x.itemsize)
    V = np.empty((alpha, chunk * T, C), dtype=x.dtype)
    M = np.empty((alpha, chunk * T, F), dtype=x.dtype)
    for r0 in range(0, N * H, chunk):
        nr = min(chunk, N * H - r0)
        rows = nr * T
        _input_transform(xr, r0, nr, BT, pads[2], T, V)
        parallel_dots((V[xi, lo:hi], U[xi], M[xi, lo:hi]) for xi in range(alpha) for lo, hi in _blocks(rows))
        _output_transform(M, r0, nr, AT, T, bias, relu, yr)
    return y


def conv_backward(x, dy, w, pads, need_dx):
    """``(dW, dx)`` of :func:`conv_forward` (``dx`` None when not needed); see the module docstring."""
    N, H, W, C = x.shape
    r, F = w.shape[1], w.shape[3]
    Wo = dy.shape[2]
    BT, G, AT = transforms(r, x.dtype)
    U = np.ascontiguousarray(np.einsum("xc,cif->xif", G, w[0]))
    alpha, T = BT.shape[0], -(-Wo // TILE)
    xr, dyr = _rows(x), _rows(dy)
    dx = np.empty(x.shape, dtype=x.dtype) if need_dx else None
    dxr = _rows(dx) if need_dx else None
    chunk = _chunk_rows(N * H, T, alpha, C, x.itemsize)
    V = np.empty((alpha, chunk * T, C), dtype=x.dtype)
    dV = np.empty_like(V) if need_dx else None
    dM = np.empty((alpha, chunk * T, F), dtype=x.dtype)
    dU = np.zeros((alpha, C, F), dtype=x.dtype)
    for r0 in range(0, N * H, chunk):
        nr = min(chunk, N * H - r0)
        rows = nr * T
        _input_transform(xr, r0, nr, BT, pads[2], T, V)
        _output_transform_backward(dyr, r0, nr, AT, T, dM)
        blocks = _blocks(rows)
        part = np.empty((len(blocks), alpha, C, F), dtype=x.dtype)  # one partial dU per row block
        parallel_dots((V[xi, lo:hi].T, dM[xi, lo:hi], part[i, xi])
                      for xi in range(alpha) for i, (lo, hi) in enumerate(blocks))
        dU += part.sum(axis=0)
        if need_dx:
            parallel_dots((dM[xi, lo:hi], U[xi].T, dV[xi, lo:hi]) for xi in range(alpha) for lo, hi in blocks)
            _input_transform_backward(dV, r0, nr, BT, pads[2], T, dxr)
    dW = np.einsum("xc,xif->cif", G, dU)[None]  # (1, r, C, F)
    return np.ascontiguousarray(dW), dx


def conv_backward_input(dy, w, x_shape, pads):
    """``dx`` alone (for :func:`minidl.kernels.conv_numba.conv2d_backward_input`)."""
    N, H, W, C = x_shape
    r, F = w.shape[1], w.shape[3]
    Wo = dy.shape[2]
    BT, G, AT = transforms(r, dy.dtype)
    U = np.ascontiguousarray(np.einsum("xc,cif->xif", G, w[0]))
    alpha, T = BT.shape[0], -(-Wo // TILE)
    dyr = _rows(dy)
    dx = np.empty(x_shape, dtype=dy.dtype)
    dxr = _rows(dx)
    chunk = _chunk_rows(N * H, T, alpha, C, dy.itemsize)
    dV = np.empty((alpha, chunk * T, C), dtype=dy.dtype)
    dM = np.empty((alpha, chunk * T, F), dtype=dy.dtype)
    for r0 in range(0, N * H, chunk):
        nr = min(chunk, N * H - r0)
        rows = nr * T
        _output_transform_backward(dyr, r0, nr, AT, T, dM)
        parallel_dots((dM[xi, lo:hi], U[xi].T, dV[xi, lo:hi]) for xi in range(alpha) for lo, hi in _blocks(rows))
        _input_transform_backward(dV, r0, nr, BT, pads[2], T, dxr)
    return dx
