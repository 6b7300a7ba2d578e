"""Fast convolution: direct numba loops for small receptive fields; otherwise cache-blocked im2col + BLAS
(:mod:`.conv_blocked`; 3×3 stride-1 kernels by Winograd F(2×2, 3×3) there, :mod:`.winograd2d_numba`) for
every forward pass and for the backward pass of a batch of two samples or more (one sample per thread); for a
single sample's backward pass, Winograd minimal filtering for stride-1 kernels one pixel high and 2 or 3 wide
(:mod:`.winograd_numba`), otherwise parallel numba im2col / col2im around a BLAS product.

Part of the fast kernel family (:mod:`minidl.kernels.fast` exports its public functions): same
functions, arguments and results as :mod:`minidl.kernels.reference` (proved in
``tests/minidl/test_kernels.py``); read the reference for the mathematics.

Why im2col + BLAS
-----------------
A convolution is a matrix product in disguise. Copy every receptive field into one row of a matrix
``cols`` ``(N·Ho·Wo, kh·kw·C)``; then

* forward  ``y   = cols · W₂``          with ``W₂ = w.reshape(kh·kw·C, F)``
* weights  ``dW₂ = colsᵀ · dy₂``        (the correlation of the input with dY; a long sum over rows,
  computed in short row blocks by :func:`minidl.kernels.blas.reduction_dot`, 2.5× faster in OpenBLAS)
* input    ``dcols = dy₂ · W₂ᵀ``, then ``col2im`` adds each row back onto the pixels it came from
  (the full convolution with the flipped kernel, in matrix form).

The products run in the BLAS ``sgemm``/``dgemm`` (measured in ``benchmarks/bench_kernels.py``: a
hand-written numba loop nest reaches a fraction of it). When ``kh·kw·C`` is tiny (≤ ``DIRECT_MAX_K``, e.g.
3×3 on a one-channel genotype image) the rows of ``cols`` are too short for BLAS to shine and im2col
would multiply the memory traffic by ``kh·kw``; direct loops over the window, vectorised over filters,
are used instead (``_direct_forward``, ``_direct_dw``, ``_direct_dx``). The batch is processed in chunks so that
``cols`` stays a few MB and is reused: memory traffic, not arithmetic, is the enemy on two cores.

Numba checklist (each kernel below)
-----------------------------------
* ``@njit(nogil=True, cache=True)``: compiled once per dtype (float32, float64), cached on disk;
* a loop over a range ``r0 … r1`` of an axis that partitions what is written (rows of ``cols``; rows of
  ``dx``; row blocks with a private partial sum for reductions), run in parallel over blocks of that axis
  by :func:`~.blas.run_row_blocks` — no two threads ever write the same element (not numba's ``prange``,
  which compiled each kernel 1.5–3 s longer on an empty cache: the cost of a learner's first training step);
* innermost loop over channels: unit stride in channels-last arrays;
* no allocation inside the row loop: buffers are created by the Python wrapper.
"""

from __future__ import annotations

import numpy as np
from numba import carray, njit

from . import conv_blocked, winograd_numba, workspace
from .blas import reduction_dot, run_row_blocks, small
from .bnpool_numba import avg_pool2d_batchnorm_backward, batchnorm_max_pool2d_backward, tiles, winner_sums
from .checks import all_finite
from .contract import is_linear, is_plain_relu
from .geometry import as_image, output_hw
from .gemm_numba import stack_buffer
from .normalization_numba import dx_coefficient_rows

#: target size in bytes of the im2col buffer of one batch chunk: large enough that each numba launch and
#: each BLAS call has work for many samples (launch overhead dominated with one sample per chunk)
CHUNK_BYTES = 64 << 20


@njit(nogil=True, cache=True)
def _im2col(x, n0, nb, kh, kw, sh, sw, top, left, Ho, Wo, cols, r0, r1):
    """cols[(n·Ho + i)·Wo + j, (a·kw + c)·C + k] = xp[n0 + n, i·sh + a, j·sw + c, k] (0 in the padding), for the
    output rows ``(n, i)`` ``r0 … r1 − 1`` (flat, ``n < nb``)."""
    H, W, C = x.shape[1], x.shape[2], x.shape[3]
    for r in range(r0, r1):  # one output row (n, i) per iteration: disjoint rows of cols
        n = r // Ho
        i = r - n * Ho
        for j in range(Wo):
            row = r * Wo + j
            for a in range(kh):
                hi = i * sh - top + a
                for c in range(kw):
                    wi = j * sw - left + c
                    base = (a * kw + c) * C
                    if 0 <= hi < H and 0 <= wi < W:
                        for k in range(C):
                            cols[row, base + k] = x[n0 + n, hi, wi, k]
                    else:
                        for k in range(C):
                            cols[row, base + k] = 0.0


@njit(nogil=True, cache=True)
def _col2im(dcols, n0, nb, kh, kw, sh, sw, top, left, Ho, Wo, dx, r0, r1):
    """Gather form of col2im: dx[n0 + n, p, q, :] = Σ over windows covering (p, q) of their dcols entry, for the
    input rows ``(n, p)`` ``r0 … r1 − 1`` (flat, ``n < nb``).

    In parallel over blocks of input rows: each task owns the rows of ``dx`` it writes (no race even when
    windows overlap). For row ``p`` only output rows ``i`` with ``0 <= p + top − i·sh < kh`` hit.
    """
    H, W, C = dx.shape[1], dx.shape[2], dx.shape[3]
    for r in range(r0, r1):
        n = r // H
        p = r - n * H
        for q in range(W):
            for k in range(C):
                dx[n0 + n, p, q, k] = 0.0
        # output rows whose window covers input row p
        i_lo = max(0, (p + top - kh + sh) // sh)
        i_hi = min(Ho - 1, (p + top) // sh)
        for i in range(i_lo, i_hi + 1):
            a = p + top - i * sh
            for j in range(Wo):
                row = (n * Ho + i) * Wo + j
                for c in range(kw):
                    q = j * sw - left + c
                    if 0 <= q < W:
                        base = (a * kw + c) * C
                        for k in range(C):
                            dx[n0 + n, p, q, k] += dcols[row, base + k]


@njit(nogil=True, cache=True)
def _bias_act(y2, b, relu, r0, r1):
    """In place, rows ``r0 … r1 − 1``: ``y2 += b`` then, if ``relu``, ``y2 = max(y2, 0)``."""
    F = y2.shape[1]
    for r in range(r0, r1):
        for f in range(F):
            v = y2[r, f] + b[f]
            if relu and v < 0:
                v = 0.0
            y2[r, f] = v


@njit(nogil=True, cache=True)
def _relu_backward(dy2, y2, dz2, r0, r1):
    """dz = dy where y > 0 else 0, rows ``r0 … r1 − 1``."""
    F = dy2.shape[1]
    for r in range(r0, r1):
        for f in range(F):
            dz2[r, f] = dy2[r, f] if y2[r, f] > 0 else 0.0


def _bias_act_rows(y2, b, relu):
    """:func:`_bias_act` on every row of ``y2``, in parallel over blocks of rows."""
    run_row_blocks(_bias_act, y2.shape[0], y2, b, relu, serial=small(y2.size))


def _direct_dx_rows(dy, y, relu, w, sh, sw, top, left, dx):
    """:func:`_direct_dx` for the whole batch, in parallel over samples (column stride 1) or input rows."""
    N, H = dx.shape[0], dx.shape[1]
    run_row_blocks(_direct_dx, N if sw == 1 else N * H, dy, y, relu, w, sh, sw, top, left, dx)


@njit(nogil=True, cache=True)
def _direct_cell(x, w, b, n, i, j, sh, sw, top, left, relu, out):
    """``out[j, f] = relu?(b[f] + Σ_{a,c,k} xp[n, i·sh+a, j·sw+c, k]·w[a,c,k,f])``, summed in (a, c, k) order;
    the innermost loop runs over filters, unit stride in ``w[a, c, k, :]`` and ``out[j, :]`` (vectorised)."""
    H, W, C = x.shape[1], x.shape[2], x.shape[3]
    kh, kw, F = w.shape[0], w.shape[1], w.shape[3]
    for f in range(F):
        out[j, f] = b[f]
    for a in range(kh):
        p = i * sh - top + a
        if p < 0 or p >= H:
            continue
        for c in range(kw):
            q = j * sw - left + c
            if q < 0 or q >= W:
                continue
            for k in range(C):
                v = x[n, p, q, k]
                for f in range(F):
                    out[j, f] += v * w[a, c, k, f]
    if relu:
        for f in range(F):
            if out[j, f] < 0:
                out[j, f] = 0.0


#: filters of a first layer on a 1-channel image computed four cells at a time (:func:`direct_row`); its weights
#: and bias are copied to a stack buffer of this many filters
DIRECT_BLOCK_F = 64
_WEIGHT_BUFFER = 10 * DIRECT_BLOCK_F   # its size, a compile-time constant (stack_buffer needs one)


@njit(nogil=True, cache=True)
def direct_row(x, w, b, n, i, sh, sw, top, left, relu, out):
    """One output row of the direct loops, ``out[j, :]`` for ``j < out.shape[0]`` (:func:`_direct_cell` each).
    Serial; also used by :mod:`.fusion_numba`.

    A 3×3 kernel on one channel (a genotype image's first layer) has its interior cells written out: the
    nine inputs in registers, one pass over the filters summing the nine products in the same order, so the
    same bits — :func:`_direct_cell` accumulates in ``out`` itself, nine passes over a row of 32 filters (too
    short to vectorise well), 2–3× slower. With stride 1 and at most :data:`DIRECT_BLOCK_F` filters, four
    neighbouring cells at a time (:func:`_four_cells`)."""
    H, W, C = x.shape[1], x.shape[2], x.shape[3]
    kh, kw, F = w.shape[0], w.shape[1], w.shape[3]
    p0 = i * sh - top
    fast = C == 1 and kh == 3 and kw == 3 and p0 >= 0 and p0 + 2 < H
    four = fast and sw == 1 and F <= DIRECT_BLOCK_F
    wb = carray(stack_buffer(out.dtype, _WEIGHT_BUFFER), (10, DIRECT_BLOCK_F))
    if four:   # the nine weights and the bias of each filter, in a buffer no array overlaps
        for f in range(F):
            for a in range(3):
                for c in range(3):
                    wb[a * 3 + c, f] = w[a, c, 0, f]
            wb[9, f] = b[f]
    j = 0
    while j < out.shape[0]:
        q0 = j * sw - left
        if four and q0 >= 0 and q0 + 5 < W and j + 3 < out.shape[0]:
            _four_cells(x, n, p0, q0, F, wb, relu, out, j)
            j += 4
            continue
        if not (fast and q0 >= 0 and q0 + 2 < W):
            _direct_cell(x, w, b, n, i, j, sh, sw, top, left, relu, out)
            j += 1
            continue
        x00, x01, x02 = x[n, p0, q0, 0], x[n, p0, q0 + 1, 0], x[n, p0, q0 + 2, 0]
        x10, x11, x12 = x[n, p0 + 1, q0, 0], x[n, p0 + 1, q0 + 1, 0], x[n, p0 + 1, q0 + 2, 0]
        x20, x21, x22 = x[n, p0 + 2, q0, 0], x[n, p0 + 2, q0 + 1, 0], x[n, p0 + 2, q0 + 2, 0]
        for f in range(F):
            v = b[f]
            v += x00 * w[0, 0, 0, f]
            v += x01 * w[0, 1, 0, f]
            v += x02 * w[0, 2, 0, f]
            v += x10 * w[1, 0, 0, f]
            v += x11 * w[1, 1, 0, f]
            v += x12 * w[1, 2, 0, f]
            v += x20 * w[2, 0, 0, f]
            v += x21 * w[2, 1, 0, f]
            v += x22 * w[2, 2, 0, f]
            if relu and v < 0:
                v = 0.0
            out[j, f] = v
        j += 1


@njit(nogil=True, cache=True, inline="always")
def _four_cells(x, n, p0, q0, F, wb, relu, out, j):
    """``out[j … j + 3, :]`` of a 3×3 stride-1 kernel on one channel, inputs ``x[n, p0 … p0 + 2, q0 … q0 + 5]``
    (18 values in registers), weights and bias from ``wb`` (:func:`direct_row`): each cell sums its nine
    products in the order of the one-cell loop, so the same bits. Four independent sums per filter instead of
    one chain of nine dependent additions, and no run-time overlap checks (``wb`` is on the stack): measured
    12.1 → 6.9 ns per cell with 32 filters, one thread."""
    a0, a1, a2 = x[n, p0, q0, 0], x[n, p0, q0 + 1, 0], x[n, p0, q0 + 2, 0]
    a3, a4, a5 = x[n, p0, q0 + 3, 0], x[n, p0, q0 + 4, 0], x[n, p0, q0 + 5, 0]
    b0, b1, b2 = x[n, p0 + 1, q0, 0], x[n, p0 + 1, q0 + 1, 0], x[n, p0 + 1, q0 + 2, 0]
    b3, b4, b5 = x[n, p0 + 1, q0 + 3, 0], x[n, p0 + 1, q0 + 4, 0], x[n, p0 + 1, q0 + 5, 0]
    c0, c1, c2 = x[n, p0 + 2, q0, 0], x[n, p0 + 2, q0 + 1, 0], x[n, p0 + 2, q0 + 2, 0]
    c3, c4, c5 = x[n, p0 + 2, q0 + 3, 0], x[n, p0 + 2, q0 + 4, 0], x[n, p0 + 2, q0 + 5, 0]
    for f in range(F):
        w00, w01, w02 = wb[0, f], wb[1, f], wb[2, f]
        w10, w11, w12 = wb[3, f], wb[4, f], wb[5, f]
        w20, w21, w22 = wb[6, f], wb[7, f], wb[8, f]
        v0 = wb[9, f]
        v1 = v0
        v2 = v0
        v3 = v0
        v0 += a0 * w00; v1 += a1 * w00; v2 += a2 * w00; v3 += a3 * w00   # noqa: E702 (one row per product)
        v0 += a1 * w01; v1 += a2 * w01; v2 += a3 * w01; v3 += a4 * w01   # noqa: E702
        v0 += a2 * w02; v1 += a3 * w02; v2 += a4 * w02; v3 += a5 * w02   # noqa: E702
        v0 += b0 * w10; v1 += b1 * w10; v2 += b2 * w10; v3 += b3 * w10   # noqa: E702
        v0 += b1 * w11; v1 += b2 * w11; v2 += b3 * w11; v3 += b4 * w11   # noqa: E702
        v0 += b2 * w12; v1 += b3 * w12; v2 += b4 * w12; v3 += b5 * w12   # noqa: E702
        v0 += c0 * w20; v1 += c1 * w20; v2 += c2 * w20; v3 += c3 * w20   # noqa: E702
        v0 += c1 * w21; v1 += c2 * w21; v2 += c3 * w21; v3 += c4 * w21   # noqa: E702
        v0 += c2 * w22; v1 += c3 * w22; v2 += c4 * w22; v3 += c5 * w22   # noqa: E702
        if relu:
            if v0 < 0:
                v0 = 0.0
            if v1 < 0:
                v1 = 0.0
            if v2 < 0:
                v2 = 0.0
            if v3 < 0:
                v3 = 0.0
        out[j, f] = v0
        out[j + 1, f] = v1
        out[j + 2, f] = v2
        out[j + 3, f] = v3


@njit(nogil=True, cache=True)
def _direct_forward(x, w, b, sh, sw, top, left, relu, y, r0, r1):
    """Direct loops for small ``kh·kw·C`` (a first layer on a 1-channel image): ``y = relu?(x ⋆ w + b)``.

    Output rows ``(n, i)`` ``r0 … r1 − 1`` (flat), each computed in place by :func:`direct_row`; run in
    parallel over blocks of rows (:func:`~.blas.run_row_blocks`).
    """
    Ho = y.shape[1]
    for r in range(r0, r1):
        n = r // Ho
        i = r - n * Ho
        direct_row(x, w, b, n, i, sh, sw, top, left, relu, y[n, i])


@njit(nogil=True, cache=True, inline="always")
def _max_pooled_gradient_row(dy, arg, y, n, i, pool, coef, zero, Wo, dz):
    """Output row ``i`` of sample ``n`` of a conv layer followed by a batch norm and a max pooling whose windows
    tile the conv output (a block of :mod:`minidl.training_plan`), from the pooling's output gradient ``dy`` and
    ``arg`` ``(N, Hp, Wp, F)``: ``dz[j] = u·α + (y − μ)·β + γ``, ``u = dy`` of the cell's window where ``arg``
    names the cell, else ``zero`` — the batch norm's input gradient, with ``coef`` rows ``μ, α, β, γ``
    (:func:`~.normalization_numba.dx_coefficients`) — the terms and order of
    :func:`~.bnpool_numba._dx_tiled`, so the same bits. ``pool = (ph, pw)``."""
    ph, pw = pool[0], pool[1]
    Hp, Wp, F = dy.shape[1], dy.shape[2], dy.shape[3]
    mean, alpha, beta, gamma = coef[0], coef[1], coef[2], coef[3]
    a = i // ph
    for j in range(Wo):   # every array indexed in full: with row views (y[n, i, j], ...) the pass took 30 ms
        c = j // pw       # instead of 17 on R0's first block (AVX-512 Xeon, 2 threads)
        if a < Hp and c < Wp:
            idx = (i - a * ph) * pw + (j - c * pw)
            for f in range(F):
                u = dy[n, a, c, f] if arg[n, a, c, f] == idx else zero
                dz[j, f] = u * alpha[f] + (y[n, i, j, f] - mean[f]) * beta[f] + gamma[f]
        else:
            for f in range(F):
                dz[j, f] = zero * alpha[f] + (y[n, i, j, f] - mean[f]) * beta[f] + gamma[f]


#: filters per register block of :func:`_row_taps` (the inner loop's literal length)
_TAP_F = 32
#: kernel columns per register block of :func:`_row_taps`
_TAP_C = 3
#: the register block's size (a literal for :func:`~.gemm_numba.stack_buffer`); :func:`_row_taps` writes the
#: three constants out
_TAP_BLOCK = 96
assert _TAP_BLOCK == _TAP_C * _TAP_F == 3 * 32, "_row_taps's literal block (3 columns × 32 filters) changed"


@njit(nogil=True, cache=True, fastmath={"contract"}, inline="always")
def _row_taps(xr, dz, c0, sw, Wo, b, acc):
    """``acc[c, f] = Σ_j xr[j·sw + c0 + c] · dz[j, b, f]`` for ``c < 3``, ``f < 32``: three kernel columns'
    weight gradient of one output row, for one input row ``xr`` (zero-padded, so every read is inside) and the
    ``b``-th block of 32 filters of the row's output gradient ``dz`` ``(Wo, blocks, 32)``. The block's size and
    every index into it are constants, so the compiler keeps it in registers for the whole sum over ``j``
    (:func:`~.gemm_numba.stack_buffer`): 3·32 multiply-adds per three loads of ``xr`` and one of ``dz``'s row,
    where adding each product into the weight gradient in memory costs a load and a store of it per
    multiply-add. Each sum runs over ``j`` in order."""
    for c in range(3):
        for f in range(32):
            acc[c, f] = 0.0
    for j in range(Wo):
        d = dz[j, b]
        q = j * sw + c0
        x0, x1, x2 = xr[q], xr[q + 1], xr[q + 2]
        for f in range(32):
            v = d[f]
            acc[0, f] += x0 * v
            acc[1, f] += x1 * v
            acc[2, f] += x2 * v


def _direct_dw(x, dy, y, relu, sh, sw, top, left, T, part, db_part, pool, arg, coef):
    """``part[t] = Σ_{rows of block t} window ⊗ dz``: block-private partial dW (summed by the caller) of
    ``dz = dy·[y > 0]`` (``dy`` itself if not ``relu``; ``y`` unused then), and ``db_part[t, f] = Σ dz`` over
    block t's rows (float64). Each output row is masked first into a row buffer (in cache); the additions
    into ``part`` do not depend on ``relu``, so masking here or before gives the same bits.

    Per output row ``i``, kernel row ``a`` and channel ``k``: the input row ``x[n, i·sh − top + a, :, k]``
    copied into a zero-padded buffer, then :func:`_row_taps` sums the row's products for three kernel columns
    and 32 filters at a time in registers, and adds them into ``part`` (the row's buffer ``dz`` has its filters
    padded with zeros to a multiple of 32). Measured on benchmark R0's first layer (64 × 48 × 398 × 32, one
    channel; AVX2, 2 threads; the layer's backward without ``dx``): 76–90 ms adding each product into ``part``
    in memory, 27–32 ms so — about the time of reading ``dy`` and ``y`` once (312 MB at ≈ 10 GB/s).

    ``pool = (ph, pw)`` with ``ph > 0``: ``dy`` and ``arg`` are the gradient and winners of a batch norm → max
    pooling after the layer, and each row's gradient before the mask is made from them
    (:func:`_max_pooled_gradient_row`, ``coef``) instead of read from a conv-output-sized ``dy``. Otherwise
    (``ph = 0``) ``arg`` and ``coef`` are unused.

    The ``T`` blocks run on the shared task threads (:func:`~.blas.run_row_blocks` over blocks), not as the body
    of a numba ``prange`` loop: numba compiles a parallel loop together with everything it calls, and this one
    took 14–16 s to compile on an empty cache against 5.6 s as plain functions."""
    run_row_blocks(_direct_dw_blocks, T, x, dy, y, relu, sh, sw, top, left, T, part, db_part, pool, arg, coef)


@njit(nogil=True, cache=True)
def _direct_dw_blocks(x, dy, y, relu, sh, sw, top, left, T, part, db_part, pool, arg, coef, t0, t1):
    """Blocks ``t0 … t1 − 1`` of :func:`_direct_dw`: ``part[t]`` ``(kh, kw, C, F)`` and ``db_part[t]`` ``(F,)``
    summed over block ``t``'s output rows (⌈rows / T⌉ of the flat ``(n, i)``), in row order."""
    N, H, W, C = x.shape
    kh, kw, F = part.shape[1], part.shape[2], part.shape[4]
    Ho, Wo = y.shape[1], y.shape[2]
    rows = N * Ho
    step = (rows + T - 1) // T
    for t in range(t0, t1):
        _direct_dw_rows(x, dy, y, relu, sh, sw, top, left, t * step, min(rows, (t + 1) * step), part[t],
                        db_part[t], pool, arg, coef)


@njit(nogil=True, cache=True)
def _direct_dw_rows(x, dy, y, relu, sh, sw, top, left, r0, r1, part, db_part, pool, arg, coef):
    """Output rows ``r0 … r1 − 1`` (flat over ``(n, i)``) of one block of :func:`_direct_dw`: ``part``
    ``(kh, kw, C, F)`` and ``db_part`` ``(F,)``, summed in row order."""
    N, H, W, C = x.shape
    kh, kw, F = part.shape[0], part.shape[1], part.shape[3]
    Ho, Wo = y.shape[1], y.shape[2]
    zero = np.zeros(1, dtype=y.dtype)[0]
    F32 = -(-F // _TAP_F) * _TAP_F
    kw3 = -(-kw // _TAP_C) * _TAP_C
    Wx = (Wo - 1) * sw + kw3   # the padded input row: every read of _row_taps inside it
    acc = carray(stack_buffer(part.dtype, _TAP_BLOCK), (_TAP_C, _TAP_F))
    for a in range(kh):
        for c in range(kw):
            for k in range(C):
                for f in range(F):
                    part[a, c, k, f] = 0.0
    db = np.zeros(F, dtype=np.float64)
    # the row's gradient in blocks of 32 filters whose length the compiler sees (a literal in the
    # allocation): with a run-time row length (Wo, F32), R0's first layer ran 106–135 instead of 27–40 ms
    # on an AVX-512 Xeon (the same code took 27–32 ms on an AVX2 EPYC); columns F … F32 stay zero
    dzb = np.zeros((Wo, F32 // _TAP_F, _TAP_F), dtype=y.dtype)
    dz = dzb.reshape((Wo, F32))
    xr = np.empty(Wx, dtype=x.dtype)
    for r in range(r0, r1):
        n = r // Ho
        i = r - n * Ho
        if pool[0] > 0:   # two copies of the mask loop, one per source: choosing the row's source inside one
            # loop (with the db sums split off) ran 1.9× slower on R0's first layer
            _max_pooled_gradient_row(dy, arg, y, n, i, pool, coef, zero, Wo, dz)
            for j in range(Wo):
                for f in range(F):
                    v = dz[j, f]
                    if relu and not y[n, i, j, f] > 0:
                        v = 0.0
                    dz[j, f] = v
                    db[f] += v
        else:
            for j in range(Wo):
                for f in range(F):
                    v = dy[n, i, j, f]
                    if relu and not y[n, i, j, f] > 0:
                        v = 0.0
                    dz[j, f] = v
                    db[f] += v
        for a in range(kh):
            p = i * sh - top + a
            if p < 0 or p >= H:
                continue
            for k in range(C):
                for q in range(Wx):
                    u = q - left
                    xr[q] = x[n, p, u, k] if 0 <= u < W else zero
                for c0 in range(0, kw, _TAP_C):
                    for f0 in range(0, F32, _TAP_F):
                        _row_taps(xr, dzb, c0, sw, Wo, f0 // _TAP_F, acc)
                        for c in range(c0, min(c0 + _TAP_C, kw)):
                            for f in range(f0, min(f0 + _TAP_F, F)):
                                part[a, c, k, f] += acc[c - c0, f - f0]
    for f in range(F):
        db_part[f] = db[f]


_NO_POOL = np.zeros(2, np.int64)
_NO_ARG = np.zeros((1, 1, 1, 1), np.int32)


@njit(nogil=True, cache=True)
def _direct_dx(dy, y, relu, w, sh, sw, top, left, dx, r0, r1):
    """Gather form of the full convolution: dx[n, p, q, k] = Σ dz[n, i, j, :]·w[a, c, k, :] over the
    windows (i, j) covering (p, q), ``dz = dy·[y > 0]`` (``dy`` itself if not ``relu``; ``y`` unused then): the
    mask is applied as ``dy`` is read, so the masked ``dz`` is never written (R0's first layer: 156 MB).

    ``r0 … r1 − 1`` are samples with column stride 1, input rows ``(n, p)`` (flat) otherwise
    (:func:`_direct_dx_rows`: how many).

    With column stride 1 (every stride-1 kernel), in parallel over samples, the sum runs along the rows: each
    row ``i`` of ``dy[n]`` is transposed once into ``dzT`` ``(F, Wo)`` and, for each input row ``p = i·sh + a −
    top`` it reaches, kernel column ``c``, channel ``k`` and filter ``f``, ``acc[p, k, q] += w[a, c, k, f]·
    dzT[f, q + left − c]`` for the whole row ``q`` — one vectorised multiply-add per 16 cells.

    Other column strides: in parallel over input rows (n, p), summing over the filters innermost — a sequential
    sum per cell that cannot be vectorised (for R0's first layer, 64 images of 50 × 400 and 32 filters 3 × 3
    on 2 threads, 109 ms against the row form's 20 ms, measured). Both sum the same terms; the results differ
    by rounding."""
    N, H, W, C = dx.shape
    kh, kw, F = w.shape[0], w.shape[1], w.shape[3]
    Ho, Wo = dy.shape[1], dy.shape[2]
    if sw == 1:
        for n in range(r0, r1):
            acc = np.zeros((H, C, W), dtype=dx.dtype)
            dzT = np.empty((F, Wo), dtype=dy.dtype)
            for i in range(Ho):
                for j in range(Wo):   # dz[n, i] transposed once, for the kh input rows it reaches
                    for f in range(F):
                        v = dy[n, i, j, f]
                        if relu and not y[n, i, j, f] > 0:
                            v = 0.0
                        dzT[f, j] = v
                for a in range(kh):
                    p = i * sh + a - top
                    if p < 0 or p >= H:
                        continue
                    for c in range(kw):
                        off = left - c   # the output column of input column q is q + off
                        q0, q1 = max(0, -off), min(W, Wo - off)
                        for k in range(C):
                            row = acc[p, k, q0:q1]
                            for f in range(F):
                                wv = w[a, c, k, f]
                                src = dzT[f, q0 + off:q1 + off]   # (indices from 0: no negative-index test)
                                for t in range(q1 - q0):
                                    row[t] += wv * src[t]
            for p in range(H):
                for q in range(W):
                    for k in range(C):
                        dx[n, p, q, k] = acc[p, k, q]
        return
    for r in range(r0, r1):
        n = r // H
        p = r - n * H
        for q in range(W):
            for k in range(C):
                dx[n, p, q, k] = 0.0
        i_lo = max(0, (p + top - kh + sh) // sh)
        i_hi = min(Ho - 1, (p + top) // sh)
        for i in range(i_lo, i_hi + 1):
            a = p + top - i * sh
            for j in range(Wo):
                for c in range(kw):
                    q = j * sw - left + c
                    if q < 0 or q >= W:
                        continue
                    for k in range(C):
                        acc = 0.0
                        for f in range(F):
                            v = dy[n, i, j, f]
                            if relu and not y[n, i, j, f] > 0:
                                v = 0.0
                            acc += v * w[a, c, k, f]
                        dx[n, p, q, k] += acc


#: receptive fields ``kh·kw·C`` up to this size use the direct loops (measured in bench_kernels.py: im2col
#: rows that short make poor BLAS products; for R0's first layer the blocked path's forward measured 1.3x
#: faster, its backward 1.6x slower — the direct loops are kept for both, whose results do not depend on the
#: batch at all); larger ones use im2col + BLAS
DIRECT_MAX_K = 16
_DIRECT_BLOCKS = 16

#: use Winograd F(4, r) (:mod:`.winograd_numba`: 37.5 % fewer multiplications for r = 2, 50 % for r = 3)
#: where it applies — every stride-1 ``Conv1D`` with kernel size 2 or 3 whose receptive field is too large
#: for the direct loops
WINOGRAD = True


#: use the cache-blocked im2col + BLAS of :mod:`.conv_blocked` (one sample per task, buffers in cache)
#: for the im2col convolutions of a batch with a sample per thread
BLOCKED = True


def _blocked(N, backward=False):
    return BLOCKED and conv_blocked.applicable(N, backward)


def _pointwise(kh, kw, strides, pads):
    """A 1×1 convolution with stride 1 and no padding: already a matrix product (any number of channels)."""
    return kh == 1 and kw == 1 and tuple(strides) == (1, 1) and not any(pads)


def _winograd(K, w_shape, strides, Wo):
    return WINOGRAD and K > DIRECT_MAX_K and winograd_numba.applicable(w_shape, strides, Wo)


def _chunk(N, row_bytes):
    return int(max(1, min(N, CHUNK_BYTES // max(row_bytes, 1))))


def _geometry(x_shape, w_shape, strides, pads):
    kh, kw = w_shape[0], w_shape[1]
    return (kh, kw, *output_hw(x_shape, (kh, kw), strides, pads))


def conv2d_forward(x, w, b, strides, pads, relu=False):
    """Same as :func:`minidl.kernels.reference.conv2d_forward`: direct loops for small receptive fields,
    otherwise im2col + BLAS in batch chunks, with the bias (and ReLU, if asked) applied to each chunk
    while it is still in cache."""
    return _conv2d_forward(x, w, b, strides, pads, relu)


def _conv2d_forward(x, w, b, strides, pads, relu, finite=None):
    """:func:`conv2d_forward`. ``finite``: None, or a boolean array ``(N,)`` filled with whether each sample of
    ``x`` is finite (a model's input check, :func:`~.checks.all_finite`): in the cache-blocked path by the task
    that reads the sample (:func:`.conv_blocked.conv_forward`), elsewhere in a pass of its own first."""
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w, dtype=x.dtype)
    N, H, W, C = x.shape
    kh, kw, Ho, Wo = _geometry(x.shape, w.shape, strides, pads)
    F = w.shape[3]
    K = kh * kw * C
    bias = np.zeros(F, dtype=x.dtype) if b is None else np.ascontiguousarray(b, dtype=x.dtype)
    blocked = K > DIRECT_MAX_K and not _pointwise(kh, kw, strides, pads) and _blocked(N)
    if finite is not None and not blocked:
        finite[:] = all_finite(x)
    if K <= DIRECT_MAX_K and not _pointwise(kh, kw, strides, pads):
        y = workspace.empty((N, Ho, Wo, F), x.dtype)
        run_row_blocks(_direct_forward, N * Ho, x, w, bias, strides[0], strides[1], pads[0], pads[2], relu, y)
        return y
    if blocked:
        return conv_blocked.conv_forward(x, w, b, strides, pads, Ho, Wo, relu, finite=finite)
    if _winograd(K, w.shape, strides, Wo):
        return winograd_numba.conv_forward(x, w, b, pads, Wo, relu)
    y = workspace.empty((N, Ho, Wo, F), x.dtype)
    W2 = w.reshape(K, F)
    y2 = y.reshape(N * Ho * Wo, F)
    P = Ho * Wo
    if _pointwise(kh, kw, strides, pads):
        np.dot(x.reshape(N * H * W, C), W2, out=y2)   # a 1×1 convolution is already a matrix product
        if b is not None or relu:
            _bias_act_rows(y2, bias, relu)
        return y
    chunk = _chunk(N, P * K * x.itemsize)
    cols = workspace.empty((chunk * P, K), x.dtype)
    for n0 in range(0, N, chunk):
        nb = min(chunk, N - n0)
        c = cols[:nb * P]
        run_row_blocks(_im2col, nb * Ho, x, n0, nb, kh, kw, strides[0], strides[1], pads[0], pads[2], Ho, Wo, c)
        out = y2[n0 * P:(n0 + nb) * P]
        np.dot(c, W2, out=out)
        if b is not None or relu:
            _bias_act_rows(out, bias, relu)
    return y


def conv2d_backward(x, dy, w, strides, pads, need_dx=True):
    """``(dW, dx)`` in one sweep over the batch: each chunk's ``cols`` serves both products.

    ``dx`` is None when ``need_dx`` is False (the first layer of a network needs no input gradient).
    """
    x = np.ascontiguousarray(x)
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    w = np.ascontiguousarray(w, dtype=x.dtype)
    N, H, W, C = x.shape
    kh, kw, Ho, Wo = _geometry(x.shape, w.shape, strides, pads)
    F = w.shape[3]
    K = kh * kw * C
    P = Ho * Wo
    W2 = w.reshape(K, F)
    dy2 = dy.reshape(N * P, F)
    if K <= DIRECT_MAX_K and not _pointwise(kh, kw, strides, pads):
        T = min(_DIRECT_BLOCKS, N * Ho)
        part = np.empty((T, kh, kw, C, F), dtype=x.dtype)
        _direct_dw(x, dy, dy, False, strides[0], strides[1], pads[0], pads[2], T, part, np.empty((T, F)), _NO_POOL,
                   _NO_ARG, np.zeros((4, 1), x.dtype))
        dx = None
        if need_dx:
            dx = workspace.empty(x.shape, x.dtype)
            _direct_dx_rows(dy, dy, False, w, strides[0], strides[1], pads[0], pads[2], dx)
        return part.sum(axis=0), dx
    if not _pointwise(kh, kw, strides, pads) and _blocked(N, backward=True):
        return conv_blocked.conv_backward(x, dy, w, strides, pads, need_dx)
    if _winograd(K, w.shape, strides, Wo):
        return winograd_numba.conv_backward(x, dy, w, pads, need_dx)
    dx = workspace.empty(x.shape, x.dtype) if need_dx else None
    if _pointwise(kh, kw, strides, pads):
        x2 = x.reshape(N * H * W, C)
        dW2 = reduction_dot(x2, dy2)
        if need_dx:
            np.dot(dy2, W2.T, out=dx.reshape(N * H * W, C))
        return dW2.reshape(w.shape), dx
    chunk = _chunk(N, P * K * x.itemsize)
    cols = workspace.empty((chunk * P, K), x.dtype)
    dcols = workspace.empty((chunk * P, K), x.dtype) if need_dx else None
    dW2 = np.zeros((K, F), dtype=x.dtype)
    part = np.empty((K, F), dtype=x.dtype)
    for n0 in range(0, N, chunk):
        nb = min(chunk, N - n0)
        c = cols[:nb * P]
        d = dy2[n0 * P:(n0 + nb) * P]
        run_row_blocks(_im2col, nb * Ho, x, n0, nb, kh, kw, strides[0], strides[1], pads[0], pads[2], Ho, Wo, c)
        reduction_dot(c, d, out=part)
        dW2 += part
        if need_dx:
            dc = dcols[:nb * P]
            np.dot(d, W2.T, out=dc)
            run_row_blocks(_col2im, nb * dx.shape[1], dc, n0, nb, kh, kw, strides[0], strides[1], pads[0], pads[2], Ho,
                           Wo, dx)
    return dW2.reshape(w.shape), dx


def _layer_backward_route(x4, w4, strides, pads):
    """How :func:`conv_layer_backward` computes a layer's backward pass: ``"direct"`` (the direct loops, small
    receptive fields), ``"blocked"`` (:func:`minidl.kernels.conv_blocked.layer_backward`) or ``"plain"``
    (the mask, then :func:`conv2d_backward`)."""
    kh, kw, C = w4.shape[0], w4.shape[1], w4.shape[2]
    if _pointwise(kh, kw, strides, pads):
        return "plain"
    if kh * kw * C <= DIRECT_MAX_K:
        return "direct"
    return "blocked" if _blocked(x4.shape[0], backward=True) else "plain"


def conv_layer_backward(x, dy, y, w, strides, pads, activation, use_bias, need_dx=True):
    """Same as :func:`minidl.kernels.reference.conv_layer_backward`. For a plain ReLU or no activation, the
    mask and the bias gradient are computed on each piece of ``dy`` as the convolution's backward pass reads
    it — in the direct loops (:func:`_direct_dw`) or per sample in the cache-blocked pass
    (:func:`minidl.kernels.conv_blocked.layer_backward`) — so the masked ``dz`` never goes through memory;
    other activations run their own ``backward`` first."""
    relu = is_plain_relu(activation)
    if not (relu or is_linear(activation)):
        dy, y = activation.backward(dy), None   # dz: the rest is the linear layer's backward
    x4, w4 = as_image(x, w)
    x4 = np.ascontiguousarray(x4)
    w4 = np.ascontiguousarray(w4, dtype=x4.dtype)
    dy4 = np.ascontiguousarray(dy if dy.ndim == 4 else dy[:, None], dtype=x4.dtype)
    y4 = None if not relu else np.ascontiguousarray(y if y.ndim == 4 else y[:, None], dtype=x4.dtype)
    N = x4.shape[0]
    kh, kw, Ho, Wo = _geometry(x4.shape, w4.shape, strides, pads)
    C, F = w4.shape[2], w4.shape[3]
    route = _layer_backward_route(x4, w4, strides, pads)
    if route == "direct":
        T = min(_DIRECT_BLOCKS, N * Ho)
        part = np.empty((T, kh, kw, C, F), dtype=x4.dtype)
        db_part = np.empty((T, F), dtype=np.float64)
        _direct_dw(x4, dy4, dy4 if y4 is None else y4, relu, strides[0], strides[1], pads[0], pads[2], T,
                   part, db_part, _NO_POOL, _NO_ARG, np.zeros((4, 1), x4.dtype))
        dW, db = part.sum(axis=0), db_part.sum(axis=0).astype(x4.dtype)
        dx = None
        if need_dx:
            dx = workspace.empty(x4.shape, x4.dtype)
            _direct_dx_rows(dy4, dy4 if y4 is None else y4, relu, w4, strides[0], strides[1], pads[0], pads[2], dx)
    elif route == "blocked":
        dW, db, dx = conv_blocked.layer_backward(x4, dy4, y4, w4, strides, pads, need_dx, relu, use_bias)
    else:
        dz = relu_backward(dy4, y4) if relu else dy4
        dW, dx = conv2d_backward(x4, dz, w4, strides, pads, need_dx)
        db = bias_gradient(dz) if use_bias else None
    return (dW.reshape(w.shape), db if use_bias else None,
            None if dx is None else dx.reshape(x.shape))


def conv_batchnorm_max_pool_backward(x, dy, arg, x_win, y, w, strides, pads, activation, use_bias, need_dx, pool,
                                     batchnorm):
    """Same as :func:`minidl.kernels.reference.conv_batchnorm_max_pool_backward`. For a plain ReLU or no activation,
    windows that tile the conv output, the direct loops (small receptive fields: R0's first layer) and no input
    gradient (a first layer), each output row's gradient is made from the pooling's ``dy`` and ``arg`` as the
    weight gradient's loop reads it (:func:`_direct_dw` with ``pool``): the same bits as the two steps, without
    writing the batch norm's input gradient (R0: 156 MB per batch) or reading it back. Otherwise the two steps
    (:func:`~.bnpool_numba.batchnorm_max_pool2d_backward`, then :func:`conv_layer_backward`)."""
    size, pool_strides, pool_pads = pool
    mean, inv_std, scale = batchnorm
    relu = is_plain_relu(activation)
    x4, w4 = as_image(x, w)
    x4 = np.ascontiguousarray(x4)
    w4 = np.ascontiguousarray(w4, dtype=x4.dtype)
    dt = x4.dtype
    y4 = np.ascontiguousarray(y if y.ndim == 4 else y[:, None], dtype=dt)
    dy4, arg4, xw4 = (v if v.ndim == 4 else v[:, None] for v in (dy, arg, x_win))
    if not ((relu or is_linear(activation)) and tiles(size, pool_strides, pool_pads) and not need_dx
            and _layer_backward_route(x4, w4, strides, pads) == "direct"):
        dxb, sum_dy, sum_dy_xhat = batchnorm_max_pool2d_backward(dy4, arg4, xw4, y4, mean, inv_std, scale, *pool)
        return (*conv_layer_backward(x, dxb.reshape(y.shape), y, w, strides, pads, activation, use_bias, need_dx),
                sum_dy, sum_dy_xhat)
    F = w4.shape[3]
    dy4 = np.ascontiguousarray(dy4, dtype=dt)
    sum_dy, sum_dy_xhat = winner_sums(dy4, xw4, np.asarray(mean, np.float64), np.asarray(inv_std, np.float64))
    coef = dx_coefficient_rows(mean, sum_dy, sum_dy_xhat, y4.size // F, scale, inv_std, dt)
    kh, kw, Ho, Wo = _geometry(x4.shape, w4.shape, strides, pads)
    T = min(_DIRECT_BLOCKS, x4.shape[0] * Ho)
    part = np.empty((T, kh, kw, w4.shape[2], F), dtype=dt)
    db_part = np.empty((T, F), dtype=np.float64)
    _direct_dw(x4, dy4, y4, relu, strides[0], strides[1], pads[0], pads[2], T, part, db_part,
               np.array(size, np.int64), np.ascontiguousarray(arg4), coef)
    dW, db = part.sum(axis=0), db_part.sum(axis=0).astype(dt)
    return dW.reshape(w.shape), db if use_bias else None, None, sum_dy, sum_dy_xhat


def conv_avg_pool_batchnorm_backward(x, dy, p, y, w, strides, pads, activation, use_bias, need_dx, pool, batchnorm):
    """Same as :func:`minidl.kernels.reference.conv_avg_pool_batchnorm_backward`. For a plain ReLU or no
    activation, windows that tile the conv output (stride = pool size) and the cache-blocked backward pass, each
    sample's gradient before the convolution is made from the batch norm's ``dy`` and ``p`` as the pass reads it
    (:func:`minidl.kernels.conv_blocked.layer_backward` with ``pooled``): the same bits as the two steps, without
    writing the pooling's input gradient. Otherwise the two steps
    (:func:`~.bnpool_numba.avg_pool2d_batchnorm_backward`, then :func:`conv_layer_backward`).

    Measured on benchmark R1 (two Conv1D → AveragePooling1D(2) → BatchNormalization blocks, 128 × 999 × 64 and
    128 × 498 × 64 conv outputs, 2 threads): see ``benchmarks/RESULTS.md``."""
    size, pool_strides, pool_pads = pool
    mean, inv_std, scale, sum_dy, sum_dy_xhat = batchnorm
    relu = is_plain_relu(activation)
    x4, w4 = as_image(x, w)
    x4 = np.ascontiguousarray(x4)
    w4 = np.ascontiguousarray(w4, dtype=x4.dtype)
    y4 = y if y.ndim == 4 else y[:, None]
    p4 = p if p.ndim == 4 else p[:, None]
    dy4 = dy.reshape(p4.shape)
    if not ((relu or is_linear(activation)) and tuple(pool_strides) == tuple(size)
            and _layer_backward_route(x4, w4, strides, pads) == "blocked"):
        dyc = avg_pool2d_batchnorm_backward(dy4, p4, mean, inv_std, scale, sum_dy, sum_dy_xhat, y4.shape, *pool)
        return conv_layer_backward(x, dyc.reshape(y.shape), y, w, strides, pads, activation, use_bias, need_dx)
    dt = x4.dtype
    F = w4.shape[3]
    coef = dx_coefficient_rows(mean, sum_dy, sum_dy_xhat, p4.size // F, scale, inv_std, dt)
    geometry = (size[0], size[1], pool_pads[0], pool_pads[2])
    dW, db, dx = conv_blocked.layer_backward(x4, dy4, y4, w4, strides, pads, need_dx, relu, use_bias,
                                             pooled=(p4, geometry, coef))
    return (dW.reshape(w.shape), db if use_bias else None,
            None if dx is None else dx.reshape(x.shape))


@njit(nogil=True, cache=True)
def _column_sums(a2, T, out, t0, t1):
    """``out[t] = Σ`` of block t's rows of ``a2`` (M, F), in float64, for blocks ``t0 … t1 − 1`` of ⌈M/T⌉ rows."""
    M, F = a2.shape
    step = (M + T - 1) // T
    for t in range(t0, t1):
        for f in range(F):
            out[t, f] = 0.0
        for r in range(t * step, min(M, (t + 1) * step)):
            for f in range(F):
                out[t, f] += a2[r, f]


def bias_gradient(dz):
    """``Σ dz`` over every axis but the last (``(F,)``, dz's dtype): summed in float64 over row blocks in
    parallel (NumPy's ``sum(axis=0)`` of a tall array ran 16.7 ms for R0's 1.2 M × 32 on 2 threads)."""
    dz2 = np.ascontiguousarray(dz).reshape(-1, dz.shape[-1])
    T = max(1, min(_DIRECT_BLOCKS, dz2.shape[0]))
    out = np.empty((T, dz2.shape[1]), dtype=np.float64)
    run_row_blocks(_column_sums, T, dz2, T, out, serial=small(dz2.size))
    return out.sum(axis=0).astype(dz2.dtype)


def conv2d_backward_weights(x, dy, kernel_shape, strides, pads):
    """Same as the reference: ``dW`` (correlation of the input with dY)."""
    w = np.zeros(kernel_shape, dtype=np.asarray(x).dtype)
    return conv2d_backward(x, dy, w, strides, pads, need_dx=False)[0]


def conv2d_backward_input(dy, w, x_shape, strides, pads):
    """Same as the reference: ``dx`` (full convolution of dY with the flipped kernel, as col2im)."""
    dy = np.ascontiguousarray(dy)
    N = x_shape[0]
    w = np.ascontiguousarray(w, dtype=dy.dtype)
    kh, kw, Ho, Wo = _geometry(x_shape, w.shape, strides, pads)
    F = w.shape[3]
    K = kh * kw * w.shape[2]
    P = Ho * Wo
    W2 = w.reshape(K, F)
    dx = np.empty(x_shape, dtype=dy.dtype)
    if K <= DIRECT_MAX_K and not _pointwise(kh, kw, strides, pads):
        _direct_dx_rows(dy, dy, False, w, strides[0], strides[1], pads[0], pads[2], dx)
        return dx
    if _winograd(K, w.shape, strides, Wo):
        return winograd_numba.conv_backward_input(dy, w, x_shape, pads)
    dcols = np.dot(dy.reshape(N * P, F), W2.T)
    run_row_blocks(_col2im, N * dx.shape[1], dcols, 0, N, kh, kw, strides[0], strides[1], pads[0], pads[2], Ho, Wo, dx)
    return dx


def conv_bias_activation(x, w, b, strides, pads, activation):
    """Same as :func:`minidl.kernels.reference.conv_bias_activation`. With a plain ReLU or no activation,
    bias and ReLU are applied inside :func:`conv2d_forward`, to each piece of the output while it is in
    cache (one pass over memory fewer); otherwise ``activation.forward`` runs on the biased output."""
    return _conv_bias_activation(x, w, b, strides, pads, activation)


def conv_bias_activation_checked(x, w, b, strides, pads, activation):
    """Same as the reference: ``(conv_bias_activation(…), all_finite(x))``. Where the convolution takes the
    cache-blocked path, each task checks the samples it is about to read (:func:`.conv_blocked.conv_forward`),
    so that ``x`` comes from memory once for both."""
    finite = np.empty(len(x), dtype=bool)
    y = _conv_bias_activation(x, w, b, strides, pads, activation, finite)
    return y, bool(finite.all())


def _conv_bias_activation(x, w, b, strides, pads, activation, finite=None):
    """:func:`conv_bias_activation`; ``finite`` as in :func:`_conv2d_forward`."""
    x4, w4 = as_image(x, w)
    relu = is_plain_relu(activation)
    if relu or is_linear(activation):
        y = _conv2d_forward(x4, w4, b, strides, pads, relu, finite)
        return y[:, 0] if x.ndim == 3 else y
    z = _conv2d_forward(x4, w4, None, strides, pads, False, finite)
    z = z[:, 0] if x.ndim == 3 else z
    return activation.forward(z if b is None else _bias_act_inplace(z, b, False))


def activation_backward(dy, y, activation):
    """Same as the reference; a plain ReLU's ``dy·[y > 0]`` in one parallel pass (:func:`relu_backward`)."""
    if is_plain_relu(activation):
        return relu_backward(dy, y)
    return activation.backward(dy)


def bias_act_forward(z, b, relu):
    """Same as the reference: ``z + b``, then ReLU if asked, in one parallel pass. Returns a new array."""
    y = np.array(z, order="C")   # a copy: z is left unchanged (the contract); the pass below writes y
    _bias_act_inplace(y, b, relu)
    return y


def _bias_act_inplace(y, b, relu):
    """``y += b`` then, if ``relu``, ``y = max(y, 0)``, in place on a C-contiguous ``y``; returns ``y``."""
    if b is None:
        b = np.zeros(y.shape[-1], dtype=y.dtype)
    _bias_act_rows(y.reshape(-1, y.shape[-1]), np.ascontiguousarray(b, dtype=y.dtype), relu)
    return y


def relu_backward(dy, y):
    """``dz = dy·[y > 0]`` in one parallel pass."""
    dy = np.ascontiguousarray(dy, dtype=y.dtype)
    dz = workspace.empty(dy.shape, dy.dtype)
    dz2 = dz.reshape(-1, dz.shape[-1])
    run_row_blocks(_relu_backward, dz2.shape[0], dy.reshape(-1, dy.shape[-1]),
                   np.ascontiguousarray(y).reshape(-1, y.shape[-1]), dz2, serial=small(dz2.size))
    return dz
