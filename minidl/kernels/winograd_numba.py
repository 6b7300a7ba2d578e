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

In general ``F(m, r)`` gives ``m`` outputs of an ``r``-wide kernel from a tile of ``α = m + r − 1`` inputs
``d`` with ``α`` multiplications instead of ``m·r`` (Lavin & Gray 2016, "Fast algorithms for convolutional
neural networks"; the matrices come from :func:`cook_toom`)::

    y = Aᵀ [ (G g) ⊙ (Bᵀ d) ]

With channels the elementwise product ``⊙`` becomes ``α`` **matrix products**: for every transform index
``ξ``, ``M[ξ] = V[ξ] · U[ξ]`` with ``V[ξ] = Σ_j Bᵀ[ξ, j]·x[tile + j]`` (tiles × C, the transformed input)
and ``U[ξ] = Σ_c G[ξ, c]·w[c]`` (C × F, the transformed kernel). We use ``F(4, 2)``: 5 products where
im2col + BLAS does the work of 8 (−37.5 % of the arithmetic), and ``F(4, 3)``: 6 instead of 12 (−50 %).
The price is memory traffic for ``V`` and ``M`` — cheap next to the products when ``C`` and ``F`` are
large, as on a (SNPs × haplotypes-as-channels) genotype matrix — and a little more float rounding
(float32, C = 270, ±1 inputs: relative error 1.5e-6 against 5e-7 for im2col; C = 64: 7e-7 against 4e-7).

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
one block per thread, single-threaded BLAS: :func:`minidl.kernels.blas.parallel_dots`) instead of one after
another with the BLAS splitting each. The weight products ``V[ξ]ᵀ·dM[ξ]`` (small output, very long inner
dimension) run 2.5× slower in OpenBLAS than other products of the same size; they are summed over short
row blocks instead (:func:`minidl.kernels.blas.reduction_dot`).

Layout: tiles of ``m`` outputs along the width; the batch (and the rows of a 2-D image) are
flattened into tiles, processed in chunks so that ``V`` and ``M`` stay a few tens of MB. Positions outside
the (padded) input read as zero, and outputs past the end of the last (partial) tile are never written, so
``"same"`` padding and any length need no copy.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numba import get_num_threads, njit

from . import workspace
from .blas import parallel_dots, reduction_dot, run_row_blocks

#: kernel width r → (outputs per tile m, interpolation points). F(m, r) needs α = m + r − 1 products per
#: tile where the direct method needs m·r: F(4, 2) 5 instead of 8 (−37.5 %), F(4, 3) 6 instead of 12 (−50 %).
#: Small points (0, ±1, ±2) keep the transform coefficients small, hence the float32 rounding (measured in
#: ``tests/minidl/test_kernels.py``: within the same tolerance as im2col against the reference).
TILES = {2: (4, (0, 1, -1, 2)), 3: (4, (0, 1, -1, 2, -2))}

#: outputs narrower than this many tiles go to im2col (partial tiles would waste the saving)
MIN_TILES = 2

#: bytes of the transformed-input buffer ``V`` per chunk of tiles
CHUNK_BYTES = 48 << 20


def cook_toom(m: int, r: int, points) -> tuple[list, list, list]:
    """``(Bᵀ, G, Aᵀ)`` of ``F(m, r)`` as exact fractions, built from ``α − 1`` finite points and ∞.

    Where the matrices come from (Toom–Cook): the *linear convolution* of a kernel polynomial ``g(z)``
    (degree ``r − 1``) and a signal polynomial ``e(z)`` (degree ``m − 1``) is their product, of degree
    ``α − 1``. Evaluate both at ``α`` points (``G g`` and ``E e``; "∞" takes the leading coefficient), multiply
    the values (the ``α`` multiplications), and interpolate the product back: ``s = V⁻¹ (G g ⊙ E e)`` with
    ``V`` the Vandermonde matrix of the points. A correlation ``y_i = Σ_c d[i + c]·g[c]`` is the transpose of
    that map in the signal (transposition principle), hence ``y = Eᵀ [(G g) ⊙ (V⁻ᵀ d)]``: ``Aᵀ = Eᵀ``,
    ``Bᵀ = V⁻ᵀ``. Each row ``ξ`` of ``Bᵀ`` is then multiplied by the common denominator of its entries and
    the row ``ξ`` of ``G`` divided by it (the product is unchanged), so that the input transform has integer
    coefficients: exact on genotype data.
    """
    alpha = m + r - 1
    if len(points) != alpha - 1:
        raise ValueError(f"F({m}, {r}) needs {alpha - 1} finite points; got {len(points)}")

    def evaluation(n):  # values of a degree n − 1 polynomial at the points and at ∞
        return [[Fraction(p) ** j for j in range(n)] for p in points] + [[Fraction(int(j == n - 1)) for j in range(n)]]

    G, E, V = evaluation(r), evaluation(m), evaluation(alpha)
    BT = [list(row) for row in zip(*_inverse(V))]  # V⁻ᵀ
    AT = [list(row) for row in zip(*E)]
    for xi, row in enumerate(BT):
        scale = math.lcm(*(v.denominator for v in row))
        BT[xi] = [v * scale for v in row]
        G[xi] = [v / scale for v in G[xi]]
    return BT, G, AT


def _inverse(M):
    """Exact inverse of a square matrix of fractions (Gauss–Jordan; α ≤ 6 here)."""
    n = len(M)
    A = [list(row) + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(M)]
    for c in range(n):
        pivot = next(i for i in range(c, n) if A[i][c] != 0)
        A[c], A[pivot] = A[pivot], A[c]
        A[c] = [v / A[c][c] for v in A[c]]
        for i in range(n):
            if i != c and A[i][c] != 0:
                A[i] = [a - A[i][c] * b for a, b in zip(A[i], A[c])]
    return [row[n:] for row in A]


@functools.lru_cache(maxsize=None)
def _exact_transforms(width: int):
    m, points = TILES[width]
    return cook_toom(m, width, points)


@functools.lru_cache(maxsize=None)
def _transform_arrays(width: int, dtype: np.dtype) -> tuple:
    arrays = tuple(np.array([[float(v) for v in row] for row in M], dtype=dtype) for M in _exact_transforms(width))
    for a in arrays:
        a.setflags(write=False)   # shared by every call: read-only
    return arrays


def transforms(width: int, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(Bᵀ, G, Aᵀ)`` of ``F(m, width)`` (see :data:`TILES`) as read-only arrays of ``dtype`` (made once)."""
    return _transform_arrays(width, np.dtype(dtype))


def applicable(w_shape, strides, output_width=None) -> bool:
    """True for kernels one pixel high and 2 or 3 wide with stride 1 — what this module computes — and,
    if ``output_width`` is given, outputs at least ``MIN_TILES`` tiles wide."""
    if not (w_shape[0] == 1 and w_shape[1] in TILES and tuple(strides) == (1, 1)):
        return False
    return output_width is None or output_width >= MIN_TILES * TILES[w_shape[1]][0]


# ------------------------------------------------------------------------------------------- kernels
#: F(4, 2)'s transforms (:data:`TILES`: points 0, 1, −1, 2), written out in the ``*_f42`` tile functions below
#: for tiles inside the sequence — every tile but the edges: 2× faster than the loops over the coefficients
#: (one pass over the channels per tile instead of one per non-zero coefficient). ``tests/minidl/test_kernels.py``
#: checks that :func:`transforms` still gives these matrices.
BT_F42 = ((2, -1, -2, 1, 0), (0, 2, 1, -1, 0), (0, -2, 3, -1, 0), (0, -1, 0, 1, 0), (0, 2, -1, -2, 1))
AT_F42 = ((1, 1, 1, 1, 0), (0, 1, -1, 2, 0), (0, 1, 1, 4, 0), (0, 1, -1, 8, 1))


@njit(nogil=True, cache=True)
def _input_tile_f42(x, r, p0, row, V):
    """:func:`_input_tile` for F(4, 2) (:data:`BT_F42`) on a tile inside the sequence, ``x[r, p0 … p0 + 4]``."""
    d0, d1, d2, d3, d4 = x[r, p0], x[r, p0 + 1], x[r, p0 + 2], x[r, p0 + 3], x[r, p0 + 4]
    v0, v1, v2, v3, v4 = V[0, row], V[1, row], V[2, row], V[3, row], V[4, row]
    for k in range(x.shape[2]):   # multiples as sums (exact: 2a = a + a), so that float32 stays float32
        a, b, c, d, e = d0[k], d1[k], d2[k], d3[k], d4[k]
        b2 = b + b
        v0[k] = a + a - b - (c + c) + d
        v1[k] = b2 + c - d
        v2[k] = c + c + c - b2 - d
        v3[k] = d - b
        v4[k] = b2 - c - (d + d) + e


@njit(nogil=True, cache=True)
def _input_tile(x, r, t, row, BT, m, left, V):
    """V[ξ, row, k] = Σ_j Bᵀ[ξ, j] · x[r, m·t + j − left, k]: tile t of sequence r (0 outside)."""
    W, C = x.shape[1], x.shape[2]
    alpha = BT.shape[0]
    p0 = m * t - left
    if alpha == 5 and m == 4 and p0 >= 0 and p0 + alpha <= W:
        _input_tile_f42(x, r, p0, row, V)
        return
    for xi in range(alpha):
        for k in range(C):
            V[xi, row, k] = 0.0
        for j in range(alpha):
            coef = BT[xi, j]
            p = m * t + j - left
            if coef != 0.0 and 0 <= p < W:
                for k in range(C):
                    V[xi, row, k] += coef * x[r, p, k]


@njit(nogil=True, cache=True)
def _output_tile_f42(M, r, q0, row, b, relu, y):
    """:func:`_output_tile` for F(4, 2) (:data:`AT_F42`) on a whole tile, ``y[r, q0 … q0 + 3]``: the same
    additions in the same order (so the same bits)."""
    m0, m1, m2, m3, m4 = M[0, row], M[1, row], M[2, row], M[3, row], M[4, row]
    y0, y1, y2, y3 = y[r, q0], y[r, q0 + 1], y[r, q0 + 2], y[r, q0 + 3]
    for f in range(y.shape[2]):   # multiples as sums (exact: 2e = e + e), so that float32 stays float32
        a, c, d, e, g = m0[f], m1[f], m2[f], m3[f], m4[f]
        e2 = e + e
        e4 = e2 + e2
        y0[f] = b[f] + a + c + d + e
        y1[f] = b[f] + c - d + e2
        y2[f] = b[f] + c + d + e4
        y3[f] = b[f] + c - d + (e4 + e4) + g
        if relu:
            if y0[f] < 0:
                y0[f] = 0.0
            if y1[f] < 0:
                y1[f] = 0.0
            if y2[f] < 0:
                y2[f] = 0.0
            if y3[f] < 0:
                y3[f] = 0.0


@njit(nogil=True, cache=True)
def _output_tile(M, r, t, row, AT, b, relu, y):
    """y[r, m·t + i, f] = act(Σ_ξ Aᵀ[i, ξ] · M[ξ, row, f] + b[f])  for m·t + i < Wo."""
    Wo, F = y.shape[1], y.shape[2]
    m, alpha = AT.shape
    if alpha == 5 and m == 4 and m * t + m <= Wo:
        _output_tile_f42(M, r, m * t, row, b, relu, y)
        return
    for i in range(m):
        q = m * t + i
        if q < Wo:
            dst = y[r, q]
            for f in range(F):
                dst[f] = b[f]
            for xi in range(alpha):   # ξ outside, filters inside: unit stride, vectorised
                coef = AT[i, xi]
                if coef != 0.0:
                    src = M[xi, row]
                    for f in range(F):
                        dst[f] += coef * src[f]
            if relu:
                for f in range(F):
                    if dst[f] < 0:
                        dst[f] = 0.0


@njit(nogil=True, cache=True)
def _output_tile_backward_f42(dy, r, q0, row, dM):
    """:func:`_output_tile_backward` for F(4, 2) (:data:`AT_F42`) on a whole tile, ``dy[r, q0 … q0 + 3]``."""
    g0, g1, g2, g3 = dy[r, q0], dy[r, q0 + 1], dy[r, q0 + 2], dy[r, q0 + 3]
    d0, d1, d2, d3, d4 = dM[0, row], dM[1, row], dM[2, row], dM[3, row], dM[4, row]
    for f in range(dy.shape[2]):   # multiples as sums (exact), so that float32 stays float32
        a, b, c, d = g0[f], g1[f], g2[f], g3[f]
        c4 = c + c + (c + c)
        d4_ = d + d + (d + d)
        d0[f] = a
        d1[f] = a + b + c + d
        d2[f] = a - b + c - d
        d3[f] = a + (b + b) + c4 + (d4_ + d4_)
        d4[f] = d


@njit(nogil=True, cache=True)
def _output_tile_backward(dy, r, t, row, AT, dM):
    """dM[ξ, row, f] = Σ_i Aᵀ[i, ξ] · dy[r, m·t + i, f]  (outputs past the end count as 0)."""
    Wo, F = dy.shape[1], dy.shape[2]
    m, alpha = AT.shape
    if alpha == 5 and m == 4 and m * t + m <= Wo:
        _output_tile_backward_f42(dy, r, m * t, row, dM)
        return
    for xi in range(alpha):
        dst = dM[xi, row]
        for f in range(F):
            dst[f] = 0.0
        for i in range(m):   # i outside, filters inside: unit stride, vectorised
            q = m * t + i
            coef = AT[i, xi]
            if q < Wo and coef != 0.0:
                src = dy[r, q]
                for f in range(F):
                    dst[f] += coef * src[f]


@njit(nogil=True, cache=True)
def _input_cell_backward(dV, r, p, r0, BT, m, left, T, dx):
    """dx[r, p, k] = Σ_{t, j : m·t + j − left = p} Σ_ξ Bᵀ[ξ, j] · dV[ξ, (r − r0)·T + t, k] (gather form)."""
    C = dx.shape[2]
    alpha = BT.shape[0]
    for k in range(C):
        dx[r, p, k] = 0.0
    # tiles t whose window m·t − left … m·t − left + α − 1 covers p
    t_lo = max(0, (p + left - alpha + m) // m)
    t_hi = min(T - 1, (p + left) // m)
    for t in range(t_lo, t_hi + 1):
        j = p + left - m * t
        row = (r - r0) * T + t
        for xi in range(alpha):
            coef = BT[xi, j]
            if coef != 0.0:
                for k in range(C):
                    dx[r, p, k] += coef * dV[xi, row, k]


@njit(nogil=True, cache=True)
def _input_transform(x, r0, nr, BT, m, left, T, V, a, b):
    """V[ξ, (r − r0)·T + t, k] = Σ_j Bᵀ[ξ, j] · x[r, m·t + j − left, k]  (x rows r0 … r0 + nr − 1; 0 outside),
    for the flat tiles ``(r − r0)·T + t`` from ``a`` to ``b − 1``."""
    for row in range(a, b):
        _input_tile(x, r0 + row // T, row % T, row, BT, m, left, V)


@njit(nogil=True, cache=True)
def _output_transform(M, r0, nr, AT, T, b, relu, y, t0, t1):
    """y[r, m·t + i, f] = act(Σ_ξ Aᵀ[i, ξ] · M[ξ, (r − r0)·T + t, f] + b[f])  for m·t + i < Wo, for the flat tiles
    ``(r − r0)·T + t`` from ``t0`` to ``t1 − 1``."""
    for row in range(t0, t1):
        _output_tile(M, r0 + row // T, row % T, row, AT, b, relu, y)


@njit(nogil=True, cache=True)
def _output_transform_backward(dy, r0, nr, AT, T, dM, a, b):
    """dM[ξ, (r − r0)·T + t, f] = Σ_i Aᵀ[i, ξ] · dy[r, m·t + i, f]  (outputs past the end count as 0), for the flat
    tiles ``(r − r0)·T + t`` from ``a`` to ``b − 1``."""
    for row in range(a, b):
        _output_tile_backward(dy, r0 + row // T, row % T, row, AT, dM)


@njit(nogil=True, cache=True)
def _input_transform_backward(dV, r0, nr, BT, m, left, T, dx, a, b):
    """Gather form: dx[r, p, k] = Σ_{t, j : m·t + j − left = p} Σ_ξ Bᵀ[ξ, j] · dV[ξ, (r − r0)·T + t, k], for the
    flat input rows ``(r − r0)·W + p`` from ``a`` to ``b − 1``.

    In parallel over blocks of input rows ``(r, p)``: each task owns what it writes although tiles overlap.
    """
    W = dx.shape[1]
    for rp in range(a, b):
        _input_cell_backward(dV, r0 + rp // W, rp % W, r0, BT, m, left, T, dx)


@njit(nogil=True, cache=True)
def transform_rows(x, dy, r0, nr, BT, AT, m, left, T, V, dM):
    """Serial, for one task of the cache-blocked path (:mod:`.conv_blocked`): the input transform ``V`` of rows
    ``r0 …`` of ``x`` (if ``x`` has rows) and the backward output transform ``dM`` of ``dy`` (if it has rows)."""
    for row in range(nr * T):
        r, t = r0 + row // T, row % T
        if x.shape[0] > 0:
            _input_tile(x, r, t, row, BT, m, left, V)
        if dy.shape[0] > 0:
            _output_tile_backward(dy, r, t, row, AT, dM)


@njit(nogil=True, cache=True)
def output_rows(M, r0, nr, AT, T, b, relu, y):
    """Serial :func:`_output_transform` (rows ``r0 …`` of ``y``), for a task of :mod:`.conv_blocked`."""
    for row in range(nr * T):
        _output_tile(M, r0 + row // T, row % T, row, AT, b, relu, y)


@njit(nogil=True, cache=True)
def input_rows_backward(dV, r0, nr, BT, m, left, T, dx):
    """Serial :func:`_input_transform_backward` (rows ``r0 …`` of ``dx``), for a task of :mod:`.conv_blocked`."""
    W = dx.shape[1]
    for rp in range(nr * W):
        _input_cell_backward(dV, r0 + rp // W, rp % W, r0, BT, m, left, T, dx)


# ------------------------------------------------------------------------------------------ wrappers
def _rows(x4):
    """(N, H, W, C) → (N·H, W, C): with a one-pixel-high kernel every image row is its own sequence."""
    N, H, W, C = x4.shape
    return x4.reshape(N * H, W, C)


def _blocks(rows):
    """Row ranges splitting ``rows`` tiles into one block per thread."""
    edges = np.linspace(0, rows, max(1, min(get_num_threads(), rows)) + 1).astype(int)
    return list(zip(edges[:-1], edges[1:]))


@dataclass
class _Plan:
    """What the three passes share: transforms, transformed kernel, tiling and batch chunks."""

    BT: np.ndarray
    G: np.ndarray
    AT: np.ndarray
    U: np.ndarray  # transformed kernel (α, C, F)
    T: int  # tiles per row: ceil(Wo / m)
    n_rows: int  # N·H sequences
    chunk: int  # sequences per chunk

    @property
    def m(self):
        return self.AT.shape[0]

    @property
    def alpha(self):
        return self.AT.shape[1]

    def chunks(self):
        """``(r0, nr, tiles)`` for each chunk of ``nr`` sequences starting at ``r0``."""
        for r0 in range(0, self.n_rows, self.chunk):
            nr = min(self.chunk, self.n_rows - r0)
            yield r0, nr, nr * self.T

    def buffer(self, channels, dtype):
        return workspace.empty((self.alpha, self.chunk * self.T, channels), dtype)


def _plan(x_shape, w, Wo, dtype) -> _Plan:
    N, H, W, C = x_shape
    BT, G, AT = transforms(w.shape[1], dtype)
    U = np.ascontiguousarray(np.einsum("xc,cif->xif", G, np.asarray(w[0], dtype=dtype)))
    m, alpha = AT.shape
    T = -(-Wo // m)
    chunk = int(max(1, min(N * H, CHUNK_BYTES // max(alpha * T * C * np.dtype(dtype).itemsize, 1))))
    return _Plan(BT, G, AT, U, T, N * H, chunk)


def conv_forward(x, w, b, pads, Wo, relu):
    """``y`` (N, H, Wo, F) of a stride-1 convolution with a ``(1, r)`` kernel; see the module docstring."""
    N, H, W, C = x.shape
    F = w.shape[3]
    plan = _plan(x.shape, w, Wo, x.dtype)
    y = workspace.empty((N, H, Wo, F), x.dtype)
    bias = np.zeros(F, dtype=x.dtype) if b is None else np.ascontiguousarray(b, dtype=x.dtype)
    V, M = plan.buffer(C, x.dtype), plan.buffer(F, x.dtype)
    for r0, nr, tiles in plan.chunks():
        run_row_blocks(_input_transform, nr * plan.T, _rows(x), r0, nr, plan.BT, plan.m, pads[2], plan.T, V)
        parallel_dots((V[xi, lo:hi], plan.U[xi], M[xi, lo:hi])
                      for xi in range(plan.alpha) for lo, hi in _blocks(tiles))
        run_row_blocks(_output_transform, nr * plan.T, M, r0, nr, plan.AT, plan.T, bias, relu, _rows(y))
    return y


def conv_backward(x, dy, w, pads, need_dx, x_shape=None):
    """``(dW, dx)`` of :func:`conv_forward`; see the module docstring.

    ``dx`` is None unless ``need_dx``; with ``x`` None only ``dx`` is computed (``dW`` None) for an input of
    shape ``x_shape``.
    """
    x_shape = x.shape if x is not None else x_shape
    C, F = x_shape[3], w.shape[3]
    dtype = dy.dtype if x is None else x.dtype
    plan = _plan(x_shape, w, dy.shape[2], dtype)
    dM = plan.buffer(F, dtype)
    V = plan.buffer(C, dtype) if x is not None else None
    dV = plan.buffer(C, dtype) if need_dx else None
    dx = workspace.empty(x_shape, dtype) if need_dx else None
    dU = np.zeros((plan.alpha, C, F), dtype=dtype)
    for r0, nr, tiles in plan.chunks():
        run_row_blocks(_output_transform_backward, nr * plan.T, _rows(dy), r0, nr, plan.AT, plan.T, dM)
        blocks = _blocks(tiles)
        if x is not None:
            run_row_blocks(_input_transform, nr * plan.T, _rows(x), r0, nr, plan.BT, plan.m, pads[2], plan.T, V)
            for xi in range(plan.alpha):
                dU[xi] += reduction_dot(V[xi, :tiles], dM[xi, :tiles])
        if need_dx:
            parallel_dots((dM[xi, lo:hi], plan.U[xi].T, dV[xi, lo:hi])
                          for xi in range(plan.alpha) for lo, hi in blocks)
            run_row_blocks(_input_transform_backward, nr * dx.shape[-2], dV, r0, nr, plan.BT, plan.m, pads[2], plan.T,
                           _rows(dx))
    if x is None:
        return None, dx
    dW = np.einsum("xc,xif->cif", plan.G, dU)[None]  # (1, r, C, F)
    return np.ascontiguousarray(dW), dx


def conv_backward_input(dy, w, x_shape, pads):
    """``dx`` alone (for :func:`minidl.kernels.conv_numba.conv2d_backward_input`)."""
    return conv_backward(None, dy, w, pads, True, x_shape=x_shape)[1]
