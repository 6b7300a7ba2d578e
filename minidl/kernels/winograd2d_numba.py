"""Winograd minimal filtering in two dimensions, F(m×m, 3×3): the 3×3 stride-1 convolutions of Conv2D.

Part of the fast kernel family: the cache-blocked path (:mod:`.conv_blocked`) computes 3×3 stride-1
convolutions with enough channels for im2col (``9·C > DIRECT_MAX_K``) this way, one sample and a few rows of
tiles at a time: the forward pass; with F(2×2) also ``dW`` and ``dx`` (the algorithm run backwards: ``dM``
the transposed output transform of ``dy``, ``dU[ξη] = V[ξη]ᵀ·dM[ξη]`` then ``dW = Gᵀ dU G``, and
``dV[ξη] = dM[ξη]·U[ξη]ᵀ`` then the transposed input transform of ``dV`` added onto ``dx``; see the 1-D
module for the transposition). Results equal
:func:`minidl.kernels.reference.conv2d_forward` and its gradients up to float rounding
(``tests/minidl/test_winograd2d.py``, also against a float64 reference in float32). Read :mod:`.winograd_numba`
(the 1-D version) first: the transforms are its Cook–Toom matrices.

Nesting the 1-D algorithm
-------------------------
``F(m, 3)`` along one axis gives ``m`` outputs of a 3-wide correlation from a tile of ``α = m + 2`` inputs with
``α`` products, ``y = Aᵀ[(G g) ⊙ (Bᵀ d)]``. Along both axes of an ``α × α`` input tile ``d`` and a 3×3 kernel
``g`` it nests (Lavin & Gray 2016)::

    Y (m × m) = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A

``α²`` products for ``m²`` outputs, where the direct method (im2col) needs ``9·m²``: F(2×2, 3×3) 16 instead of
36 (2.25× fewer), F(4×4, 3×3) 36 instead of 144 (4×). With channels, as in 1-D, the ``⊙`` becomes ``α²``
matrix products: ``M[ξη] = V[ξη] · U[ξη]`` with ``V[ξη] = (Bᵀ d B)[ξ, η]`` (tiles × C, the transformed input)
and ``U[ξη] = (G g Gᵀ)[ξ, η]`` (C × F, the transformed kernel, once per call), then the output transform
``Aᵀ M A`` per tile, the bias and the ReLU. Each of the two transforms is applied axis by axis (``α³·C``
operations per tile, not ``α⁴·C``). Positions outside the (padded) input read as zero; outputs past the
end of the last partial tile are not written, so any size and ``"same"`` padding need no copy.

:data:`TILE` chooses ``m``: 2 (transform coefficients 0, ±1, ±½ — float32 error as im2col's) or 4 (4× fewer
products, coefficients up to 8: float32 error about 10× larger; measured in the test). Training uses F(2×2):
its backward pass (below) is F(2×2)'s. A fused inference block (:mod:`.fusion_numba`), where no backward pass
follows, uses :data:`INFERENCE_TILE` = 4: 36 products per 16 outputs instead of 16 per 4, with float32 errors
of about 4e-6 of the largest output (3e-7 for F(2×2), 9e-7 for im2col). Written out
(:func:`input_transform_f4`, :func:`output_transform_f4`), R0's second convolution block (64 images of
24 × 199 × 32 → 64 filters, with batch norm and max pooling) took 18.8–20.4 ms instead of 22.8–25.7
(alternating in one process). The general loops (:func:`input_transform`) had been slower than F(2×2).
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

from .winograd_numba import cook_toom

#: outputs per tile side m: F(m×m, 3×3) with the Cook–Toom points of :data:`POINTS`
TILE = 2

#: the tile side of a fused inference block (convolution → batch norm → pooling, :mod:`.fusion_numba`), where
#: no backward pass follows
INFERENCE_TILE = 4

#: interpolation points (besides ∞) of F(m, 3) for each tile side m
POINTS = {2: (0, 1, -1), 4: (0, 1, -1, 2, -2)}

#: tiles per block (the rows of each of the α² products): about a core's L2 for V and M with C, F ≈ 64
BLOCK_TILES = 256


def applicable(w_shape, strides) -> bool:
    """True for what this module computes: a 3×3 kernel with stride 1 (any padding, any channels)."""
    return tuple(w_shape[:2]) == (3, 3) and tuple(strides) == (1, 1)


@functools.lru_cache(maxsize=None)
def _transforms(m: int, dtype: np.dtype):
    arrays = tuple(np.array([[float(v) for v in row] for row in M], dtype=dtype) for M in cook_toom(m, 3, POINTS[m]))
    for a in arrays:
        a.setflags(write=False)
    return arrays


def transforms(dtype, m=None):
    """``(Bᵀ, G, Aᵀ)`` of ``F(m, 3)`` (``m`` = :data:`TILE` unless given), read-only arrays of ``dtype``."""
    return _transforms(TILE if m is None else m, np.dtype(dtype))


def kernel_transform(w, G):
    """``U[ξ·α + η] = Σ_{a,c} G[ξ, a]·G[η, c]·w[a, c]``: ``(α², C, F)``, C-contiguous (``G g Gᵀ`` per channel pair)."""
    alpha = G.shape[0]
    U = np.einsum("xa,yc,acif->xyif", G, G, w)
    return np.ascontiguousarray(U.reshape(alpha * alpha, *w.shape[2:]))


def tile_rows(Wo, m):
    """Rows of tiles per block: about :data:`BLOCK_TILES` tiles of F(2×2) (16 products each), fewer of larger
    tiles, so that the block's ``V`` and ``M`` take about the same memory (α² products per tile)."""
    tiles = BLOCK_TILES * 16 // (m + 2) ** 2
    return max(1, tiles // max(1, -(-Wo // m)))


@njit(nogil=True, cache=True)
def input_transform(x, n, ti0, ti1, top, left, BT, m, Tw, tmp, V):
    """``V[ξ·α + η, (ti − ti0)·Tw + t, k] = Σ_{i,j} Bᵀ[ξ, i]·Bᵀ[η, j]·xp[n, m·ti + i, m·t + j, k]`` for tile rows
    ``ti0 ≤ ti < ti1`` (``xp``: x shifted by the padding, zero outside). Serial; ``tmp`` ``(α, α, C)`` scratch."""
    H, W, C = x.shape[1], x.shape[2], x.shape[3]
    alpha = BT.shape[0]
    for ti in range(ti0, ti1):
        for t in range(Tw):
            row = (ti - ti0) * Tw + t
            # tmp[ξ, j] = Σ_i Bᵀ[ξ, i]·d[i, j]   (along the height)
            for xi in range(alpha):
                for j in range(alpha):
                    for k in range(C):
                        tmp[xi, j, k] = 0.0
                for i in range(alpha):
                    coef = BT[xi, i]
                    p = m * ti + i - top
                    if coef == 0.0 or p < 0 or p >= H:
                        continue
                    for j in range(alpha):
                        q = m * t + j - left
                        if 0 <= q < W:
                            for k in range(C):
                                tmp[xi, j, k] += coef * x[n, p, q, k]
            # V[ξη] = Σ_j Bᵀ[η, j]·tmp[ξ, j]   (along the width)
            for xi in range(alpha):
                for eta in range(alpha):
                    out = V[xi * alpha + eta, row]
                    for k in range(C):
                        out[k] = 0.0
                    for j in range(alpha):
                        coef = BT[eta, j]
                        if coef != 0.0:
                            for k in range(C):
                                out[k] += coef * tmp[xi, j, k]


@njit(nogil=True, cache=True)
def output_transform(M, ti0, ti1, AT, Tw, b, relu, Ho, row0, tmp, out):
    """``out[m·ti + i − row0, m·t + j, f] = act(b[f] + Σ_{ξ,η} Aᵀ[i, ξ]·Aᵀ[j, η]·M[ξ·α + η, tile, f])`` for the
    outputs inside ``Ho × out.shape[1]`` and ``out``'s rows. Serial; ``tmp`` ``(m, α, F)`` scratch."""
    Wo, F = out.shape[1], out.shape[2]
    m, alpha = AT.shape
    for ti in range(ti0, ti1):
        for t in range(Tw):
            row = (ti - ti0) * Tw + t
            for i in range(m):   # tmp[i, η] = Σ_ξ Aᵀ[i, ξ]·M[ξη]   (along the height)
                for eta in range(alpha):
                    for f in range(F):
                        tmp[i, eta, f] = 0.0
                    for xi in range(alpha):
                        coef = AT[i, xi]
                        if coef != 0.0:
                            src = M[xi * alpha + eta, row]
                            for f in range(F):
                                tmp[i, eta, f] += coef * src[f]
            for i in range(m):   # along the width, then bias and ReLU
                r = m * ti + i
                if r >= Ho or r - row0 < 0 or r - row0 >= out.shape[0]:
                    continue
                for j in range(m):
                    q = m * t + j
                    if q >= Wo:
                        continue
                    dst = out[r - row0, q]
                    for f in range(F):
                        dst[f] = b[f]
                    for eta in range(alpha):
                        coef = AT[j, eta]
                        if coef != 0.0:
                            for f in range(F):
                                dst[f] += coef * tmp[i, eta, f]
                    if relu:
                        for f in range(F):
                            if dst[f] < 0:
                                dst[f] = 0.0


@njit(nogil=True, cache=True)
def input_transform_f2(x, n, ti0, ti1, top, left, Tw, tmp, V):
    """:func:`input_transform` for F(2×2, 3×3), its ``Bᵀ = [[1,0,−1,0],[0,1,1,0],[0,−1,1,0],[0,−1,0,1]]``
    written out (additions only, vectorised over channels). ``tmp`` ``(4, 4, C)`` scratch: the tile."""
    H, W, C = x.shape[1], x.shape[2], x.shape[3]
    for ti in range(ti0, ti1):
        for t in range(Tw):
            row = (ti - ti0) * Tw + t
            for i in range(4):   # the 4 × 4 tile, zero outside the image (indexed: faster than row views)
                p = 2 * ti + i - top
                for j in range(4):
                    q = 2 * t + j - left
                    if 0 <= p < H and 0 <= q < W:
                        for k in range(C):
                            tmp[i, j, k] = x[n, p, q, k]
                    else:
                        for k in range(C):
                            tmp[i, j, k] = 0.0
            for j in range(4):   # along the height: rows (d0 − d2, d1 + d2, d2 − d1, d3 − d1), in place
                for k in range(C):
                    d0, d1, d2, d3 = tmp[0, j, k], tmp[1, j, k], tmp[2, j, k], tmp[3, j, k]
                    tmp[0, j, k] = d0 - d2
                    tmp[1, j, k] = d1 + d2
                    tmp[2, j, k] = d2 - d1
                    tmp[3, j, k] = d3 - d1
            for i in range(4):   # along the width, into V[4·i + η]
                for k in range(C):
                    d0, d1, d2, d3 = tmp[i, 0, k], tmp[i, 1, k], tmp[i, 2, k], tmp[i, 3, k]
                    V[4 * i, row, k] = d0 - d2
                    V[4 * i + 1, row, k] = d1 + d2
                    V[4 * i + 2, row, k] = d2 - d1
                    V[4 * i + 3, row, k] = d3 - d1


@njit(nogil=True, cache=True)
def output_transform_f2(M, ti0, ti1, Tw, b, relu, Ho, row0, tmp, out):
    """:func:`output_transform` for F(2×2, 3×3), its ``Aᵀ = [[1,1,1,0],[0,1,−1,1]]`` written out.
    ``tmp`` ``(2, 4, F)`` scratch."""
    Wo, F = out.shape[1], out.shape[2]
    for ti in range(ti0, ti1):
        for t in range(Tw):
            row = (ti - ti0) * Tw + t
            for eta in range(4):   # along the height: tmp[0] = m0 + m1 + m2, tmp[1] = m1 − m2 + m3
                for f in range(F):   # (indexed, not through row views: faster)
                    m0, m1, m2, m3 = M[eta, row, f], M[4 + eta, row, f], M[8 + eta, row, f], M[12 + eta, row, f]
                    tmp[0, eta, f] = m0 + m1 + m2
                    tmp[1, eta, f] = m1 - m2 + m3
            for i in range(2):   # along the width, then bias and ReLU: columns 2t and 2t + 1
                r = 2 * ti + i
                if r >= Ho or r - row0 < 0 or r - row0 >= out.shape[0]:
                    continue
                q = 2 * t
                for f in range(F):
                    v = b[f] + (tmp[i, 0, f] + tmp[i, 1, f] + tmp[i, 2, f])
                    if relu and v < 0:
                        v = 0.0
                    out[r - row0, q, f] = v
                if q + 1 < Wo:
                    for f in range(F):
                        v = b[f] + (tmp[i, 1, f] - tmp[i, 2, f] + tmp[i, 3, f])
                        if relu and v < 0:
                            v = 0.0
                        out[r - row0, q + 1, f] = v


@njit(nogil=True, cache=True, inline="always")
def _times2(v):
    """``2·v`` as ``v + v``: exact, and of ``v``'s type (``2.0 * v`` would make a float32 ``v`` a float64)."""
    return v + v


@njit(nogil=True, cache=True, inline="always")
def _times4(v):
    """``4·v``, exact (:func:`_times2` twice); ``_times4(v) + v`` is ``5·v`` rounded once, as ``5.0 * v`` is."""
    w = v + v
    return w + w


@njit(nogil=True, cache=True, inline="always")
def _bt4(eta, d0, d1, d2, d3, d4, d5):
    """Row ``η`` of F(4×4)'s ``Bᵀ`` applied to ``d``: ``4·d0 − 5·d2 + d4``, ``4·(d1 + d2) − (d3 + d4)``,
    ``4·(d2 − d1) + (d3 − d4)``, ``2·(d3 − d1) + (d4 − d2)``, ``2·(d1 − d3) + (d4 − d2)``, ``4·d1 − 5·d3 + d5``
    (multiples by exact doublings, :func:`_times4`)."""
    if eta == 0:
        return _times4(d0) - (_times4(d2) + d2) + d4
    if eta == 1:
        return _times4(d1 + d2) - (d3 + d4)
    if eta == 2:
        return _times4(d2 - d1) + (d3 - d4)
    if eta == 3:
        return _times2(d3 - d1) + (d4 - d2)
    if eta == 4:
        return _times2(d1 - d3) + (d4 - d2)
    return _times4(d1) - (_times4(d3) + d3) + d5


@njit(nogil=True, cache=True, inline="always")
def _at4(i, m0, m1, m2, m3, m4, m5):
    """Row ``i`` of F(4×4)'s ``Aᵀ`` applied to ``m``: ``m0 + (m1 + m2) + (m3 + m4)``, ``(m1 − m2) + 2·(m3 − m4)``,
    ``(m1 + m2) + 4·(m3 + m4)``, ``(m1 − m2) + 8·(m3 − m4) + m5``."""
    if i == 0:
        return m0 + (m1 + m2) + (m3 + m4)
    if i == 1:
        return (m1 - m2) + _times2(m3 - m4)
    if i == 2:
        return (m1 + m2) + _times4(m3 + m4)
    return (m1 - m2) + _times2(_times4(m3 - m4)) + m5


@njit(nogil=True, cache=True)
def input_transform_f4(x, n, ti0, ti1, top, left, Tw, tmp, V):
    """:func:`input_transform` for F(4×4, 3×3), its ``Bᵀ`` (6 × 6, :func:`_bt4`) written out, vectorised over
    channels. Each output row is its own loop over the channels: a loop writing all six rows at once was left
    unvectorised by the compiler (too many pairs of arrays to check for overlap) and ran 4× slower. The six
    loops of the width pass are written out on purpose: as a loop over ``η`` they ran 30 % slower (0.146 vs
    0.111 ms per R0 sample, one thread).
    ``tmp`` ``(6, 6, C)`` scratch: the tile."""
    H, W, C = x.shape[1], x.shape[2], x.shape[3]
    for ti in range(ti0, ti1):
        for t in range(Tw):
            row = (ti - ti0) * Tw + t
            for i in range(6):   # the 6 × 6 tile, zero outside the image
                p = 4 * ti + i - top
                for j in range(6):
                    q = 4 * t + j - left
                    if 0 <= p < H and 0 <= q < W:
                        for k in range(C):
                            tmp[i, j, k] = x[n, p, q, k]
                    else:
                        for k in range(C):
                            tmp[i, j, k] = 0.0
            for j in range(6):   # along the height, in place
                for k in range(C):
                    d0, d1, d2 = tmp[0, j, k], tmp[1, j, k], tmp[2, j, k]
                    d3, d4, d5 = tmp[3, j, k], tmp[4, j, k], tmp[5, j, k]
                    tmp[0, j, k] = _bt4(0, d0, d1, d2, d3, d4, d5)
                    tmp[1, j, k] = _bt4(1, d0, d1, d2, d3, d4, d5)
                    tmp[2, j, k] = _bt4(2, d0, d1, d2, d3, d4, d5)
                    tmp[3, j, k] = _bt4(3, d0, d1, d2, d3, d4, d5)
                    tmp[4, j, k] = _bt4(4, d0, d1, d2, d3, d4, d5)
                    tmp[5, j, k] = _bt4(5, d0, d1, d2, d3, d4, d5)
            for i in range(6):   # along the width, into V[6·i + η], one loop per row η
                for k in range(C):
                    V[6 * i, row, k] = _bt4(0, tmp[i, 0, k], tmp[i, 1, k], tmp[i, 2, k], tmp[i, 3, k],
                                            tmp[i, 4, k], tmp[i, 5, k])
                for k in range(C):
                    V[6 * i + 1, row, k] = _bt4(1, tmp[i, 0, k], tmp[i, 1, k], tmp[i, 2, k], tmp[i, 3, k],
                                                tmp[i, 4, k], tmp[i, 5, k])
                for k in range(C):
                    V[6 * i + 2, row, k] = _bt4(2, tmp[i, 0, k], tmp[i, 1, k], tmp[i, 2, k], tmp[i, 3, k],
                                                tmp[i, 4, k], tmp[i, 5, k])
                for k in range(C):
                    V[6 * i + 3, row, k] = _bt4(3, tmp[i, 0, k], tmp[i, 1, k], tmp[i, 2, k], tmp[i, 3, k],
                                                tmp[i, 4, k], tmp[i, 5, k])
                for k in range(C):
                    V[6 * i + 4, row, k] = _bt4(4, tmp[i, 0, k], tmp[i, 1, k], tmp[i, 2, k], tmp[i, 3, k],
                                                tmp[i, 4, k], tmp[i, 5, k])
                for k in range(C):
                    V[6 * i + 5, row, k] = _bt4(5, tmp[i, 0, k], tmp[i, 1, k], tmp[i, 2, k], tmp[i, 3, k],
                                                tmp[i, 4, k], tmp[i, 5, k])


@njit(nogil=True, cache=True)
def output_transform_f4(M, ti0, ti1, Tw, b, relu, Ho, row0, tmp, out):
    """:func:`output_transform` for F(4×4, 3×3), its ``Aᵀ`` (4 × 6, :func:`_at4`) written out, one output row
    (then column) per loop over the filters (see :func:`input_transform_f4`). ``tmp`` ``(4, 6, F)`` scratch."""
    Wo, F = out.shape[1], out.shape[2]
    for ti in range(ti0, ti1):
        for t in range(Tw):
            row = (ti - ti0) * Tw + t
            for eta in range(6):   # along the height: tmp[i, η] = Σ_ξ Aᵀ[i, ξ]·M[ξη], one loop per row i
                for f in range(F):   # (indexed, not through row views: faster)
                    tmp[0, eta, f] = _at4(0, M[eta, row, f], M[6 + eta, row, f], M[12 + eta, row, f],
                                          M[18 + eta, row, f], M[24 + eta, row, f], M[30 + eta, row, f])
                for f in range(F):
                    tmp[1, eta, f] = _at4(1, M[eta, row, f], M[6 + eta, row, f], M[12 + eta, row, f],
                                          M[18 + eta, row, f], M[24 + eta, row, f], M[30 + eta, row, f])
                for f in range(F):
                    tmp[2, eta, f] = _at4(2, M[eta, row, f], M[6 + eta, row, f], M[12 + eta, row, f],
                                          M[18 + eta, row, f], M[24 + eta, row, f], M[30 + eta, row, f])
                for f in range(F):
                    tmp[3, eta, f] = _at4(3, M[eta, row, f], M[6 + eta, row, f], M[12 + eta, row, f],
                                          M[18 + eta, row, f], M[24 + eta, row, f], M[30 + eta, row, f])
            for i in range(4):   # along the width, then bias and ReLU: columns 4t … 4t + 3 inside the image
                r = 4 * ti + i
                if r >= Ho or r - row0 < 0 or r - row0 >= out.shape[0]:
                    continue
                for j in range(min(4, Wo - 4 * t)):
                    dst = out[r - row0, 4 * t + j]
                    for f in range(F):
                        v = b[f] + _at4(j, tmp[i, 0, f], tmp[i, 1, f], tmp[i, 2, f], tmp[i, 3, f], tmp[i, 4, f],
                                        tmp[i, 5, f])
                        if relu and v < 0:
                            v = 0.0
                        dst[f] = v


@njit(nogil=True, cache=True)
def output_transform_backward_f2(dy, n, ti0, ti1, Tw, tmp, dM):
    """The transpose of :func:`output_transform_f2` (weights gradient): ``dM[ξ·4 + η, tile, f] =
    Σ_{i,j} Aᵀ[i, ξ]·Aᵀ[j, η]·dy[n, 2·ti + i, 2·t + j, f]``, outputs past the edge counting as 0. Columns of
    ``Aᵀ``: ``(1, 0), (1, 1), (1, −1), (0, 1)``. ``tmp`` ``(2, 4, F)`` scratch."""
    Ho, Wo, F = dy.shape[1], dy.shape[2], dy.shape[3]
    for ti in range(ti0, ti1):
        for t in range(Tw):
            row = (ti - ti0) * Tw + t
            for i in range(2):   # along the width, per output row i of the tile (the edge tests outside the loops)
                r = 2 * ti + i
                if r >= Ho:
                    for e in range(4):
                        for f in range(F):
                            tmp[i, e, f] = 0.0
                elif 2 * t + 1 < Wo:   # (indexed, not through row views: faster)
                    for f in range(F):
                        d0, d1 = dy[n, r, 2 * t, f], dy[n, r, 2 * t + 1, f]
                        tmp[i, 0, f] = d0
                        tmp[i, 1, f] = d0 + d1
                        tmp[i, 2, f] = d0 - d1
                        tmp[i, 3, f] = d1
                else:
                    for f in range(F):
                        d0 = dy[n, r, 2 * t, f]
                        tmp[i, 0, f] = d0
                        tmp[i, 1, f] = d0
                        tmp[i, 2, f] = d0
                        tmp[i, 3, f] = 0.0
            for eta in range(4):   # along the height, into dM[4·ξ + η]
                for f in range(F):
                    d0, d1 = tmp[0, eta, f], tmp[1, eta, f]
                    dM[eta, row, f] = d0
                    dM[4 + eta, row, f] = d0 + d1
                    dM[8 + eta, row, f] = d0 - d1
                    dM[12 + eta, row, f] = d1


@njit(nogil=True, cache=True)
def input_transform_backward_f2(dV, n, ti0, ti1, top, left, Tw, tmp, dx):
    """The transpose of :func:`input_transform_f2` (input gradient), added onto ``dx``:
    ``dx[n, 2·ti + i − top, 2·t + j − left, k] += Σ_{ξ,η} Bᵀ[ξ, i]·Bᵀ[η, j]·dV[ξ·4 + η, tile, k]`` for the cells
    inside the image (tiles overlap by two rows and two columns: their sums add up). Columns of ``Bᵀ``:
    ``(1, 0, 0, 0), (0, 1, −1, −1), (−1, 1, 1, 0), (0, 0, 0, 1)``. Serial; ``tmp`` ``(4, 4, C)`` scratch."""
    H, W, C = dx.shape[1], dx.shape[2], dx.shape[3]
    for ti in range(ti0, ti1):
        for t in range(Tw):
            row = (ti - ti0) * Tw + t
            for xi in range(4):   # along the width: tmp[ξ, j] = Σ_η Bᵀ[η, j]·dV[ξη]
                v0, v1, v2, v3 = dV[4 * xi, row], dV[4 * xi + 1, row], dV[4 * xi + 2, row], dV[4 * xi + 3, row]
                for k in range(C):
                    a0, a1, a2, a3 = v0[k], v1[k], v2[k], v3[k]
                    tmp[xi, 0, k] = a0
                    tmp[xi, 1, k] = a1 - a2 - a3
                    tmp[xi, 2, k] = a1 + a2 - a0
                    tmp[xi, 3, k] = a3
            for j in range(4):   # along the height, in place: tmp[i, j] = Σ_ξ Bᵀ[ξ, i]·tmp[ξ, j]
                for k in range(C):
                    a0, a1, a2, a3 = tmp[0, j, k], tmp[1, j, k], tmp[2, j, k], tmp[3, j, k]
                    tmp[1, j, k] = a1 - a2 - a3
                    tmp[2, j, k] = a1 + a2 - a0
            for i in range(4):   # added onto the image cells the tile covers
                p = 2 * ti + i - top
                if p < 0 or p >= H:
                    continue
                for j in range(4):
                    q = 2 * t + j - left
                    if 0 <= q < W:   # indexed, not through row views: 7× faster here
                        for k in range(C):
                            dx[n, p, q, k] += tmp[i, j, k]
