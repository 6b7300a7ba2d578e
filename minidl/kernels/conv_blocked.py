"""Cache-blocked im2col + BLAS: a convolution whose buffers stay in each core's cache.

Part of the fast kernel family (:mod:`.conv_numba` sends every forward pass here, and the backward pass
of a batch of two samples or more); same results as :func:`minidl.kernels.reference.conv2d_forward` and its
gradients (``tests/minidl/test_kernels.py``). Read :mod:`.conv_numba` first for im2col itself.

Why blocks
----------
Plain im2col writes every receptive field of a batch chunk into one big matrix ``cols`` (tens of MB),
then a BLAS product reads it back: for benchmark R0's second convolution, a 3×3 kernel on 32 channels,
``cols`` is 9× the input — about 330 MB per batch written and read again, twice more for the input
gradient's ``dcols``, and a col2im pass over it. On two cores that memory traffic, not the arithmetic,
sets the time. Here each task is **one sample** and its output rows are cut in **blocks** of about
``BLOCK_ROWS`` output positions:

* forward, per block: im2col of the block into a small private ``cols`` (≈ 0.5 MB: it stays in L2),
  ``y_block = cols · W₂`` (BLAS), bias and ReLU on ``y_block`` while it is in cache;
* backward, per block: im2col again, ``dW₂ += colsᵀ · dy_block`` into the task thread's own
  accumulator, then ``dcols = dy_block · W₂ᵀ`` and its scatter-add onto ``dx`` of that sample.

Two variants of the forward blocks: 3×3 stride-1 kernels run Winograd F(2×2, 3×3) on the block's tiles
instead of im2col (:mod:`.winograd2d_numba`, also their ``dx`` and ``dW``), and a fused inference block
(:mod:`.fusion_numba`) pools each block's output while it is in cache (and runs F(4×4, 3×3): no backward pass
follows it).

The blocks' products go to :func:`.gemm_numba.dot`: our own register-blocked numba kernel where it applies
(:data:`.gemm_numba.ENABLED`: AVX-512, a multiple of 64 filters, and NumPy's OpenBLAS held to AVX2 kernels),
otherwise the BLAS (written "BLAS" below) — in float32 NumPy's own ``cblas_sgemm``, called from numba
(:func:`.gemm_numba.blas_gemm`).

Tasks (samples) are taken from one queue by ``numba.get_num_threads()`` Python threads (one thread: in
turn), each calling a
single-threaded BLAS (:func:`minidl.kernels.blas.run_tasks`); the numba loops here release the GIL
(``nogil=True``) and are serial: the parallelism is over samples. A thread owns whole samples, so the
scatter-add onto ``dx`` (overlapping windows) never races. In the backward passes a task is a fixed group of
:data:`SAMPLES_PER_TASK` samples, each group's partial ``dW`` is kept and they are summed in group order at the
end (:func:`_sum_over_samples`), so the result does not depend on which thread took which group.

In float32 (:func:`_loop_product`) the im2col blocks of a whole group of samples run as one numba loop
(:func:`_im2col_forward_samples`, :func:`_im2col_backward_samples`) that calls the product itself — ours, or
the BLAS's ``cblas_sgemm`` through its address (:func:`.gemm_numba.loop_gemm`): the same steps and products in
the same order, so the same bits, but one call per group from Python instead of about five per sample. For R1's
second Conv1D (128 sequences of 499 × 64, tasks of 0.05 ms per sample) those calls, each taking the GIL back
from the other thread, cost a third of the layer's time (measured with our product: forward 6.6 → 4.5 ms,
backward 13.5 → 9.8 ms; with the BLAS, on an Ice Lake Xeon whose OpenBLAS runs AVX-512 kernels, the block
conv → pooling → batch norm: forward 16.8 → 13.2 ms, backward 42.8 → 32.7 ms, and the R1 training step 306 →
251 ms). With our product and no padding these loops write no ``cols`` at all: the im2col rows of one kernel
row are consecutive values of ``x``, a strided view (:func:`_window_rows`) — forward 4.8 → 3.9 ms, backward
11.1 → 10.1 ms there, the same bits. (The BLAS cannot read that view: its rows overlap.) The fused inference
blocks of im2col convolutions run the same way (:func:`_im2col_pooled_samples`). (The backward pass of 3×3
Winograd convolutions as such a loop made R0's ``train_on_batch`` step 4–6 % faster there, but its first
compilation took 15 s: numba optimises a loop together with every kernel it calls. Not kept.)

A model's input check (NaN/∞, :func:`~.checks.all_finite`) can ride along with a first layer's forward pass:
each task checks the samples it is about to read (``conv_forward(…, finite=…)``), so the check brings them into
cache for the blocks instead of reading ``x`` from memory once more.
"""

from __future__ import annotations

import math
import threading

import numpy as np
from numba import carray, njit

from . import gemm_numba, winograd2d_numba, winograd_numba, workspace
from .blas import run_tasks
from .checks import all_finite
from .pooling_numba import pool_affine_rows

#: output positions per block (rows of the private ``cols``): long enough for a good BLAS product, short
#: enough that ``cols`` (``BLOCK_ROWS × kh·kw·C``) and the block's output stay in a core's L2 cache.
#: The weight products ``colsᵀ · dy_block`` also run fastest with a short inner dimension (≈ 400 rows,
#: :data:`minidl.kernels.blas.REDUCTION_BLOCK`).
BLOCK_ROWS = 384

#: compute the forward pass of 3×3 stride-1 kernels by Winograd F(m×m, 3×3) (:mod:`.winograd2d_numba`:
#: 2.25× fewer multiplications for m = 2) instead of im2col + BLAS
WINOGRAD = True

#: kernels one pixel high, 2 or 3 wide, stride 1 (every such Conv1D) with at least this many input channels
#: run Winograd F(4, r) of :mod:`.winograd_numba` per block, forward and backward (with :data:`WINOGRAD`)
WINOGRAD_1D_MIN_C = 128


@njit(nogil=True, cache=True)
def _im2col_block(x, n, i0, i1, kh, kw, sh, sw, top, left, Wo, cols):
    """cols[(i − i0)·Wo + j, (a·kw + c)·C + k] = xp[n, i·sh + a, j·sw + c, k] for output rows i0 ≤ i < i1."""
    H, W, C = x.shape[1], x.shape[2], x.shape[3]
    for i in range(i0, i1):
        for j in range(Wo):
            row = (i - i0) * Wo + j
            for a in range(kh):
                p = i * sh - top + a
                for c in range(kw):
                    q = j * sw - left + c
                    base = (a * kw + c) * C
                    if 0 <= p < H and 0 <= q < W:
                        for k in range(C):
                            cols[row, base + k] = x[n, p, q, k]
                    else:
                        for k in range(C):
                            cols[row, base + k] = 0.0


@njit(nogil=True, cache=True)
def _col2im_block_add(dcols, n, i0, i1, kh, kw, sh, sw, top, left, Wo, dx):
    """Scatter-add: dx[n, i·sh + a − top, j·sw + c − left, k] += dcols[(i − i0)·Wo + j, (a·kw + c)·C + k]."""
    H, W, C = dx.shape[1], dx.shape[2], dx.shape[3]
    for i in range(i0, i1):
        for j in range(Wo):
            row = (i - i0) * Wo + j
            for a in range(kh):
                p = i * sh - top + a
                if p < 0 or p >= H:
                    continue
                for c in range(kw):
                    q = j * sw - left + c
                    if q < 0 or q >= W:
                        continue
                    base = (a * kw + c) * C
                    for k in range(C):
                        dx[n, p, q, k] += dcols[row, base + k]


@njit(nogil=True, cache=True)
def _bias_act_block(y2, b, relu):
    """In place on one block ``(rows, F)``: ``y2 += b``, then ``max(y2, 0)`` if ``relu``."""
    for r in range(y2.shape[0]):
        for f in range(y2.shape[1]):
            v = y2[r, f] + b[f]
            if relu and v < 0:
                v = 0.0
            y2[r, f] = v


#: channels of the float64 bias-gradient sums kept on the stack by :func:`_column_sums` (wider outputs: summed in
#: place, slower)
_DB_BUFFER = 1024


@njit(nogil=True, cache=True)
def _column_sums(a, db):
    """``db[f] = Σ_r a[r, f]`` for ``a`` ``(R, F)``, summed in float64 over the rows in order. The sums stay on the
    stack (:func:`~.gemm_numba.stack_buffer`): the compiler knows they overlap no array, so nothing is re-read."""
    R, F = a.shape
    if F > _DB_BUFFER:
        for f in range(F):
            db[f] = 0.0
        for r in range(R):
            for f in range(F):
                db[f] += a[r, f]
        return
    acc = carray(gemm_numba.stack_buffer(db.dtype, _DB_BUFFER), (_DB_BUFFER,))
    for f in range(F):
        acc[f] = 0.0
    for r in range(R):
        row = a[r]
        for f in range(F):
            acc[f] += row[f]
    for f in range(F):
        db[f] = acc[f]


@njit(nogil=True, cache=True, inline="always")
def _masked_row(src, mask, relu, out):
    """``out = src·[mask > 0]`` (a ReLU's gradient: 0 where the output was not positive) if ``relu``, else ``src``."""
    if relu:
        for f in range(out.shape[0]):
            out[f] = src[f] if mask[f] > 0 else 0.0
    else:
        for f in range(out.shape[0]):
            out[f] = src[f]


@njit(nogil=True, cache=True)
def _layer_gradient_sample(dy, y, n, relu, dz, db):
    """One sample of a conv layer's output gradient: ``dz[0] = dy[n]·[y[n] > 0]`` (``dy[n]`` itself if not
    ``relu``; ``y`` unused then) and ``db[f] = Σ_{i,j} dz[0, i, j, f]``, summed in float64 (``db`` ``(F,)``).

    Two passes, the second over ``dz`` while it is in cache: the mask alone is a vectorised select, and summing
    in float64 inside it made it 1.5× slower (R1's first Conv1D, 999 × 64 per sample: 0.054 → 0.041 ms)."""
    Ho, Wo, F = dy.shape[1], dy.shape[2], dy.shape[3]
    for i in range(Ho):
        for j in range(Wo):
            _masked_row(dy[n, i, j], y[n, i, j], relu, dz[0, i, j])
    _column_sums(dz[0].reshape((Ho * Wo, F)), db)


@njit(nogil=True, cache=True)
def _pooled_gradient_sample(dy, p_in, y, n, relu, pool, coef, dz, db):
    """:func:`_layer_gradient_sample` for a conv layer followed by average pooling and a batch norm in training
    mode (a block of :mod:`minidl.training_plan`), from the batch norm's output gradient ``dy`` ``(N, Hp, Wp, F)``
    (``p_in`` the pooled values it normalised): conv output cell ``(i, j)`` in the pooling window ``(i + top) //
    ph, (j + left) // pw`` of ``count`` real cells gets ``g/count`` of its window, ``g = dy·α + (p_in − μ)·β + γ``
    the batch norm's input gradient (``coef`` rows ``μ, α, β, γ``:
    :func:`~.normalization_numba.dx_coefficients`); cells in no window get 0. ``pool = (ph, pw, top, left)``
    (windows that tile: stride = pool size). Then the ReLU's mask and ``db`` as :func:`_layer_gradient_sample`.

    The arithmetic of :func:`~.pooling_numba._avg_pool_backward_tiled` followed by the mask, so the same bits as
    the two passes, without writing the pooling's input gradient (twice the size of ``dy``) to memory. Each
    window's value is computed once, on the stack (up to :data:`_DB_BUFFER` channels; wider layers: per cell),
    then spread over its cells (R1's first block, 128 samples on one thread: the plain mask 4.0 ms, this 4.9 ms;
    computed per cell, 5.6)."""
    Ho, Wo, F = dz.shape[1], dz.shape[2], dz.shape[3]
    Hp, Wp = dy.shape[1], dy.shape[2]
    ph, pw, top, left = pool[0], pool[1], pool[2], pool[3]
    mean, alpha, beta, gamma = coef[0], coef[1], coef[2], coef[3]
    narrow = F <= _DB_BUFFER
    for i in range(Ho):   # cells in no window (past the last whole one): 0
        inside = (i + top) // ph < Hp
        for j in range(Wo):
            if not (inside and (j + left) // pw < Wp):
                out = dz[0, i, j]
                for f in range(F):
                    out[f] = 0.0
    if not narrow:   # wide layers: each cell's value computed there
        for i in range(min(Ho, Hp * ph - top)):
            a = (i + top) // ph
            p0, p1 = max(a * ph - top, 0), min(a * ph - top + ph, Ho)
            for j in range(min(Wo, Wp * pw - left)):
                c = (j + left) // pw
                q0, q1 = max(c * pw - left, 0), min(c * pw - left + pw, Wo)
                inv = 1.0 / ((p1 - p0) * (q1 - q0))
                dr, pr, mask, out = dy[n, a, c], p_in[n, a, c], y[n, i, j], dz[0, i, j]
                for f in range(F):
                    v = (dr[f] * alpha[f] + (pr[f] - mean[f]) * beta[f] + gamma[f]) * inv
                    out[f] = 0.0 if relu and not mask[f] > 0 else v
    if narrow:
        g = carray(gemm_numba.stack_buffer(dz.dtype, _DB_BUFFER), (_DB_BUFFER,))
        for a in range(Hp):
            p0, p1 = max(a * ph - top, 0), min(a * ph - top + ph, Ho)
            for c in range(Wp):
                q0, q1 = max(c * pw - left, 0), min(c * pw - left + pw, Wo)
                inv = 1.0 / ((p1 - p0) * (q1 - q0))
                dr, pr = dy[n, a, c], p_in[n, a, c]
                for f in range(F):
                    g[f] = (dr[f] * alpha[f] + (pr[f] - mean[f]) * beta[f] + gamma[f]) * inv
                for i in range(p0, p1):
                    for j in range(q0, q1):
                        _masked_row(g[:F], y[n, i, j], relu, dz[0, i, j])
    _column_sums(dz[0].reshape((Ho * Wo, F)), db)


@njit(nogil=True, cache=True)
def _window_rows(x, n, p, sw, Wo, K):
    """The im2col rows of one kernel row on input row ``p`` of sample ``n``, without a copy: row ``j`` is
    ``x[n, p, j·sw … j·sw + kw − 1, :]`` flattened, ``K = kw·C`` consecutive values of a C-contiguous ``x`` —
    so the rows are a strided view of ``x`` (they overlap for ``sw < kw``). Only without padding."""
    C = x.shape[3]
    return np.lib.stride_tricks.as_strided(x[n, p].reshape(-1), shape=(Wo, K),
                                           strides=(sw * C * x.itemsize, x.itemsize))


@njit(nogil=True, cache=True)
def _im2col_forward_samples(x, n0, n1, blocks, kh, kw, sh, sw, top, left, Wo, W2, b, relu, view, cols, y,
                            product):
    """The im2col forward blocks of samples ``n0 ≤ n < n1`` (``blocks`` ``(B, 2)``: output rows ``i0, i1``) in
    one call: im2col into ``cols``, the product into ``y`` (:func:`~.gemm_numba.loop_gemm`: ours or the BLAS's,
    as ``product`` says), bias and ReLU — the steps of :func:`conv_forward`'s blocks, the same products, so
    the same bits. Only where :func:`_loop_product` applies.

    With ``view`` (no padding; our product only), each output row's product reads its im2col rows straight
    from ``x`` (:func:`_window_rows`), one kernel row after another, each product continuing the sums of the one before
    (``accumulate``): every element sums the same terms in the same order as from ``cols``, so the same bits,
    without writing ``cols``. R1's second Conv1D (499 × 64, kernel 2): 0.055 → 0.043 ms per sample."""
    F = W2.shape[1]
    K = W2.shape[0] // kh   # values per kernel row: kw·C
    for n in range(n0, n1):
        for k in range(blocks.shape[0]):
            i0, i1 = blocks[k, 0], blocks[k, 1]
            rows = (i1 - i0) * Wo
            out = y[n, i0:i1].reshape((rows, F))
            if view:
                for i in range(i0, i1):
                    for a in range(kh):
                        gemm_numba.loop_gemm(product, _window_rows(x, n, i * sh + a, sw, Wo, K),
                                             W2[a * K:(a + 1) * K], y[n, i], a > 0)
                _bias_act_block(out, b, relu)
            else:
                _im2col_product(x, n, i0, i1, kh, kw, sh, sw, top, left, Wo, W2, b, relu, cols, out, product)


@njit(nogil=True, cache=True)
def _im2col_product(x, n, s0, s1, kh, kw, sh, sw, top, left, Wo, W2, b, relu, cols, out, product):
    """One block of a numba sample loop, output rows ``s0 … s1`` of sample ``n`` into ``out`` ``((s1 − s0)·Wo,
    F)``: im2col into ``cols``, the product (:func:`~.gemm_numba.loop_gemm`), bias and ReLU — what
    :func:`conv_forward`'s ``product`` does from Python."""
    c = cols[:(s1 - s0) * Wo]
    _im2col_block(x, n, s0, s1, kh, kw, sh, sw, top, left, Wo, c)
    gemm_numba.loop_gemm(product, c, W2, out, False)
    _bias_act_block(out, b, relu)


@njit(nogil=True, cache=True)
def _im2col_pooled_samples(x, n0, n1, blocks, step, kh, kw, sh, sw, top, left, Wo, W2, b, relu, cols, out, ph, pw,
                           is_max, scale, shift, use_affine, affine_first, y, product):
    """A fused inference block's im2col blocks (:func:`conv_forward` with ``pooled``) for samples ``n0 ≤ n < n1``
    in one call: per block of rows ``i0 … i1`` (``blocks``, whole pooling rows), its plain blocks of ``step``
    rows into the scratch ``out`` (:func:`_im2col_product`), then their pooling rows into ``y``
    (:func:`~.pooling_numba.pool_affine_rows`). The steps of :func:`conv_forward`'s ``block`` from Python, so
    the same bits."""
    F = W2.shape[1]
    Hp = y.shape[1]
    for n in range(n0, n1):
        for k in range(blocks.shape[0]):
            i0, i1 = blocks[k, 0], blocks[k, 1]
            for s0 in range(i0, i1, step):
                s1 = min(s0 + step, i1)
                _im2col_product(x, n, s0, s1, kh, kw, sh, sw, top, left, Wo, W2, b, relu, cols,
                                out[(s0 - i0) * Wo:(s1 - i0) * Wo], product)
            P = min(i1 // ph, Hp) - i0 // ph
            if P > 0:
                z = out[:P * ph * Wo].reshape((P * ph, Wo, F))
                pool_affine_rows(z, ph, pw, is_max, scale, shift, use_affine, affine_first, y, n, i0 // ph)


@njit(nogil=True, cache=True)
def _im2col_backward_samples(x, dy, y, n0, n1, masked, relu, db_parts, pool, p_in, coef, blocks, kh, kw, sh, sw, top,
                             left, Wo, W2t, need_dx, view, cols, dcols, dz, acc, dx, product_w, product_x):
    """The im2col backward of samples ``n0 ≤ n < n1`` in one call, as :func:`conv_backward`'s ``sample`` does it:
    the gradient masked by the ReLU and summed for ``db`` if ``masked`` (:func:`_layer_gradient_sample`),
    then per block im2col, ``acc += colsᵀ·dz`` and, if ``need_dx``, ``dcols = dz·W₂ᵀ`` scattered onto ``dx``.
    The same products in the same order, so the same bits. Only where :func:`_loop_product` applies: the
    products by :func:`~.gemm_numba.loop_gemm`, as ``product_w`` says (``product_x`` for ``dcols``).
    With ``view`` (no padding; our product only) ``colsᵀ·dz`` reads the im2col rows from ``x`` (as
    :func:`_im2col_forward_samples`): per output row and kernel row, the same terms in the same order."""
    F = W2t.shape[0]
    K = W2t.shape[1] // kh   # values per kernel row: kw·C
    for n in range(n0, n1):
        if masked and pool[0] > 0:   # dy: a batch norm's after average pooling (pool, p_in, coef: _LayerGradients)
            _pooled_gradient_sample(dy, p_in, y, n, relu, pool, coef, dz, db_parts[n])
            g = dz[0]
        elif masked:
            _layer_gradient_sample(dy, y, n, relu, dz, db_parts[n])
            g = dz[0]
        else:
            g = dy[n]
        if need_dx:
            dx[n] = 0.0   # this sample's windows scatter-add onto it below
        for k in range(blocks.shape[0]):
            i0, i1 = blocks[k, 0], blocks[k, 1]
            rows = (i1 - i0) * Wo
            d = g[i0:i1].reshape((rows, F))
            if view:
                for i in range(i0, i1):
                    for a in range(kh):
                        gemm_numba.loop_gemm(product_w, _window_rows(x, n, i * sh + a, sw, Wo, K).T, g[i],
                                             acc[a * K:(a + 1) * K], True)
            else:
                c = cols[:rows]
                _im2col_block(x, n, i0, i1, kh, kw, sh, sw, top, left, Wo, c)
                gemm_numba.loop_gemm(product_w, c.T, d, acc, True)
            if need_dx:
                dc = dcols[:rows]
                gemm_numba.loop_gemm(product_x, d, W2t, dc, False)
                _col2im_block_add(dc, n, i0, i1, kh, kw, sh, sw, top, left, Wo, dx)


class _LayerGradients:
    """``n ↦ (d, i)`` such that ``d[i]`` is sample n's gradient before the convolution: ``dy[n]`` itself when
    there is nothing to do (``db_parts`` None, no ReLU, not ``pooled``), otherwise the sample masked by the ReLU
    into the calling thread's scratch (in cache for the blocks that read it next), its bias gradient into
    ``db_parts[n]`` (float64). Its fields (``dy``, ``y``, ``relu``, ``db_parts``, ``pool``, ``p_in``, ``coef``)
    are also read by the sample loops in numba (:func:`_im2col_backward_samples`), which do the same per sample.

    ``pooled = (p_in, (ph, pw, top, left), coef)``: ``dy`` is the gradient of a batch norm after an average
    pooling of the conv output ``y`` (:func:`_pooled_gradient_sample`); ``shape`` is then the conv output's."""

    def __init__(self, dy, y, relu, db_parts, pooled=None, shape=None):
        self.dy, self.relu, self.db_parts = dy, relu, db_parts
        self.y = dy if y is None else y
        self.shape = tuple(dy.shape if shape is None else shape)   # the conv output's
        self.masked = relu or db_parts is not None or pooled is not None
        if pooled is None:   # unused placeholders of the numba loops' types
            self.p_in, self.pool, self.coef = dy, np.zeros(4, np.int64), np.zeros((4, 1), dy.dtype)
        else:
            p_in, pool, coef = pooled
            self.p_in, self.pool, self.coef = p_in, np.asarray(pool, np.int64), coef

    def __call__(self, n):
        if not self.masked:
            return self.dy, n
        _, Ho, Wo, F = self.shape
        dz = _SCRATCH.get("dz", Ho * Wo * F, self.dy.dtype).reshape(1, Ho, Wo, F)
        db = _SCRATCH.get("db", F, np.float64) if self.db_parts is None else self.db_parts[n]
        if self.pool[0] > 0:
            _pooled_gradient_sample(self.dy, self.p_in, self.y, n, self.relu, self.pool, self.coef, dz, db)
        else:
            _layer_gradient_sample(self.dy, self.y, n, self.relu, dz, db)
        return dz, 0


def applicable(N: int, backward: bool = False) -> bool:
    """True where this module computes a convolution: any forward pass (a single sample's blocks are
    spread over the threads instead, so that a sample's output has the same bits alone and in a batch),
    and the backward pass of a batch of at least two samples (one sample's is left to the numba-parallel
    im2col of :mod:`.conv_numba`, which splits its rows over the threads)."""
    return N >= 2 or not backward


def _row_step(Wo):
    return max(1, BLOCK_ROWS // max(Wo, 1))


def _row_blocks(Ho, step, multiple=1):
    """Blocks ``(i0, i1)`` of ``step`` output rows. With ``multiple`` > 1 (a fused pooling of that height)
    every block is a whole number of the plain blocks *and* of pooling rows (it starts at a multiple of
    both): its products are those of the plain blocks, so the same bits."""
    step = step * multiple // math.gcd(step, multiple)
    return [(i, min(i + step, Ho)) for i in range(0, Ho, step)]


class _Workspace(threading.local):
    """Per-thread scratch buffers, reused across blocks, samples and calls (grown when too small)."""

    def get(self, name, size, dtype):
        buf = self.__dict__.get(name)
        if buf is None or buf.size < size or buf.dtype != dtype:
            buf = self.__dict__[name] = np.empty(size, dtype=dtype)
        return buf[:size]


_SCRATCH = _Workspace()

#: samples per task of a backward pass: a task adds its samples' weight-gradient parts, in order, into its own
#: partial, and the partials are summed in task order at the end — a fixed grouping, so the bits depend neither
#: on the thread count nor on which thread took which task. (One partial per sample, as before, wrote 44 MB of
#: fresh partials per R1 step, whose page faults kept two threads from scaling: R1 conv₁ backward 1.4× faster on
#: two threads than on one.)
SAMPLES_PER_TASK = 8


def _groups(N):
    """The fixed groups ``(n0, n1)`` of :data:`SAMPLES_PER_TASK` samples."""
    return [(g, min(g + SAMPLES_PER_TASK, N)) for g in range(0, N, SAMPLES_PER_TASK)]


def _sum_over_samples(N, shape, dtype, sample=None, samples=None):
    """``Σ_n`` of what ``sample(n, acc)`` adds into ``acc`` (an array of ``shape``), over samples ``0 … N − 1``:
    :data:`SAMPLES_PER_TASK` samples per task, each task into its own partial (recycled buffers), the partials
    summed in order. ``samples(n0, n1, acc)`` instead: one call per group (a sample loop in numba)."""
    groups = _groups(N)
    partials = workspace.empty((len(groups), *shape), dtype)

    def task(k):
        acc = partials[k]
        acc[...] = 0.0
        if samples is not None:
            samples(*groups[k], acc)
            return
        for n in range(*groups[k]):
            sample(n, acc)

    run_tasks([lambda k=k: task(k) for k in range(len(groups))])
    total = partials[0].copy()
    for k in range(1, len(groups)):   # in order
        total += partials[k]
    return total


def _loop_product(dtype, b):
    """How the numba sample loops compute the products ``a·b`` of the im2col blocks (``a`` and the output of
    ``dtype``, row-contiguous): the ``product`` for :func:`.gemm_numba.loop_gemm` (our product, or the BLAS's
    ``cblas_sgemm`` called from numba), or None: no loop, the per-sample steps from Python."""
    return gemm_numba.loop_product(dtype, b)


def conv_forward(x, w, b, strides, pads, Ho, Wo, relu, pooled=None, finite=None):
    """``y = relu?(x ⋆ w + b)`` (N, Ho, Wo, F), one task per sample; see the module docstring.

    ``pooled = (ph, pw, is_max, scale, shift, use_affine, affine_first)``: a fused inference block
    (:mod:`.fusion_numba`) — each block's output, while in cache, goes through
    :func:`~.pooling_numba.pool_affine_rows` and only the pooled ``(N, Ho // ph, Wo // pw, F)`` is written.

    ``finite``: None, or a boolean array ``(N,)`` that receives, for each sample, whether its values are all
    finite (:func:`~.checks.all_finite`: a model's input check). The task about to read a sample checks it first,
    so the check's pass over the sample brings it into cache for the blocks; measured on benchmark R1's first
    Conv1D (128 × 1000 × 270 float32, 138 MB): check then convolution 28.2 ms, the two in one pass 22.5 ms, the
    convolution alone 24.1 ms.
    """
    N = x.shape[0]
    kh, kw, C, F = w.shape
    K = kh * kw * C
    W2 = w.reshape(K, F)
    bias = np.zeros(F, dtype=x.dtype) if b is None else np.ascontiguousarray(b, dtype=x.dtype)
    ph = 1 if pooled is None else pooled[0]
    if pooled is None:
        y = workspace.empty((N, Ho, Wo, F), x.dtype)
    else:
        y = workspace.empty((N, Ho // ph, Wo // pooled[1], F), x.dtype)
    geometry = (kh, kw, strides[0], strides[1], pads[0], pads[2], Wo)
    Hp = Ho // ph
    samples = None   # (n0, n1) ↦ those samples' blocks in one call, where a path has such a loop
    if WINOGRAD and winograd2d_numba.applicable(w.shape, strides):
        # F(4×4) in a fused inference block, else F(2×2) (winograd2d_numba.INFERENCE_TILE)
        BT, G, AT = winograd2d_numba.transforms(x.dtype, winograd2d_numba.INFERENCE_TILE if pooled else None)
        m, alpha = AT.shape
        U = winograd2d_numba.kernel_transform(w, G)
        Tw = -(-Wo // m)
        step = m * winograd2d_numba.tile_rows(Wo, m)

        def product(n, s0, s1, out):   # rows s0 … s1 (s0 a multiple of m) into out (s1 − s0, Wo, F)
            ti0, ti1 = s0 // m, -(-s1 // m)
            tiles = (ti1 - ti0) * Tw
            V = _SCRATCH.get("V", alpha * alpha * tiles * C, x.dtype).reshape(alpha * alpha, tiles, C)
            M = _SCRATCH.get("M", alpha * alpha * tiles * F, x.dtype).reshape(alpha * alpha, tiles, F)
            tmp_in = _SCRATCH.get("tmp_in", alpha * alpha * C, x.dtype).reshape(alpha, alpha, C)
            tmp_out = _SCRATCH.get("tmp_out", m * alpha * F, x.dtype).reshape(m, alpha, F)
            if m == 2:   # the transforms written out: additions only
                winograd2d_numba.input_transform_f2(x, n, ti0, ti1, pads[0], pads[2], Tw, tmp_in, V)
            elif m == 4:
                winograd2d_numba.input_transform_f4(x, n, ti0, ti1, pads[0], pads[2], Tw, tmp_in, V)
            else:
                winograd2d_numba.input_transform(x, n, ti0, ti1, pads[0], pads[2], BT, m, Tw, tmp_in, V)
            gemm_numba.dot_stack(V, U, M)   # the α² products
            if m == 2:
                winograd2d_numba.output_transform_f2(M, ti0, ti1, Tw, bias, relu, Ho, s0, tmp_out, out)
            elif m == 4:
                winograd2d_numba.output_transform_f4(M, ti0, ti1, Tw, bias, relu, Ho, s0, tmp_out, out)
            else:
                winograd2d_numba.output_transform(M, ti0, ti1, AT, Tw, bias, relu, Ho, s0, tmp_out, out)
    elif _winograd_1d(w.shape, strides, Wo):
        BT, AT, U, T = _plan_1d(w, Wo, x.dtype)
        alpha = AT.shape[1]
        step = 1
        no_dy = np.empty((0, 1, 1), dtype=x.dtype)

        def product(n, s0, s1, out):   # image rows s0 … s1 (sequences) into out (s1 − s0, Wo, F)
            tiles = (s1 - s0) * T
            V = _SCRATCH.get("V", alpha * tiles * C, x.dtype).reshape(alpha, tiles, C)
            M = _SCRATCH.get("M", alpha * tiles * F, x.dtype).reshape(alpha, tiles, F)
            winograd_numba.transform_rows(x[n], no_dy, s0, s1 - s0, BT, AT, AT.shape[0], pads[2], T, V, M)
            gemm_numba.dot_stack(V, U, M)   # the α products
            winograd_numba.output_rows(M, 0, s1 - s0, AT, T, bias, relu, out)
    else:
        step = _row_step(Wo)

        def product(n, s0, s1, out):   # rows s0 … s1 into out (s1 − s0, Wo, F): im2col + BLAS
            rows = (s1 - s0) * Wo
            cols = _SCRATCH.get("cols", rows * K, x.dtype).reshape(rows, K)
            _im2col_block(x, n, s0, s1, *geometry, cols)
            out2 = out.reshape(rows, F)
            gemm_numba.dot(cols, W2, out2)
            _bias_act_block(out2, bias, relu)

        loop = _loop_product(x.dtype, W2) if N > 1 else None   # the loops' product (not `product` above)
        if loop is not None:
            # the same blocks as a numba loop over a group of samples (module docstring)
            table = np.array(_row_blocks(Ho, step, ph), dtype=np.int64)
            view = loop is gemm_numba.OURS and not any(pads)   # no padding: im2col rows are views of x (ours)
            rows = int(max(table[:, 1] - table[:, 0])) * Wo   # a fused block's scratch: its longest block

            def samples(n0, n1):
                cols = _SCRATCH.get("cols", step * Wo * K, x.dtype).reshape(step * Wo, K)
                if pooled is None:
                    _im2col_forward_samples(x, n0, n1, table, *geometry, W2, bias, relu, view, cols, y, loop)
                    return
                out = _SCRATCH.get("out", rows * F, x.dtype).reshape(rows, F)
                _im2col_pooled_samples(x, n0, n1, table, step, *geometry, W2, bias, relu, cols, out, *pooled, y,
                                       loop)

    blocks = _row_blocks(Ho, step, ph)

    def check(n0, n1):   # the input check of samples n0 … n1, by the task about to read them
        if finite is not None:
            finite[n0:n1] = all_finite(x[n0:n1])

    def block(n, i0, i1):
        if pooled is None:
            product(n, i0, i1, y[n, i0:i1])
            return
        # the plain blocks of rows i0 … i1 into a scratch (in cache), then their whole pooling rows into y
        out = _SCRATCH.get("out", (i1 - i0) * Wo * F, x.dtype).reshape(i1 - i0, Wo, F)
        for s0 in range(i0, i1, step):
            s1 = min(s0 + step, i1)
            product(n, s0, s1, out[s0 - i0:s1 - i0])
        P = min(i1 // ph, Hp) - i0 // ph
        if P > 0:
            pool_affine_rows(out[:P * ph], *pooled, y, n, i0 // ph)

    def sample(n):
        check(n, n + 1)
        for i0, i1 in blocks:
            block(n, i0, i1)

    def group(n0, n1):
        check(n0, n1)
        samples(n0, n1)

    if N == 1:   # the blocks of the one sample are the tasks: the same products, so the same bits as in a batch
        check(0, 1)
        run_tasks([lambda i0=i0, i1=i1: block(0, i0, i1) for i0, i1 in blocks])
    elif samples is not None:
        run_tasks([lambda g=g: group(*g) for g in _groups(N)])
    else:
        run_tasks([lambda n=n: sample(n) for n in range(N)])
    return y


def _winograd_1d(w_shape, strides, Wo):
    return WINOGRAD and w_shape[2] >= WINOGRAD_1D_MIN_C and winograd_numba.applicable(w_shape, strides, Wo)


def _plan_1d(w, Wo, dtype):
    """``(Bᵀ, Aᵀ, U, T)`` of F(4, r) for a ``(1, r, C, F)`` kernel: transforms, transformed kernel ``(α, C, F)``
    and tiles per row."""
    BT, G, AT = winograd_numba.transforms(w.shape[1], dtype)
    U = np.ascontiguousarray(np.einsum("xc,cif->xif", G, np.asarray(w[0], dtype=dtype)))
    return BT, AT, U, -(-Wo // AT.shape[0])


def _winograd_1d_backward(x, shape, w, pads, need_dx, gradient):
    """``(dW, dx)`` of a kernel one pixel high by F(4, r) run backwards (:mod:`.winograd_numba`), one task per
    sample, each image row (sequence) a block: ``dM`` (transposed output transform of ``dy``), ``dU[ξ] +=
    V[ξ]ᵀ·dM[ξ]`` and, if ``need_dx``, ``dV[ξ] = dM[ξ]·U[ξ]ᵀ`` and its transposed input transform into ``dx``.
    Then ``dW[c] = Σ_ξ G[ξ, c]·dU[ξ]``; ``dU`` summed over the samples by :func:`_sum_over_samples`.
    ``gradient``, ``shape`` (the output's): see :func:`conv_backward`."""
    N, H, W, C = x.shape
    F, Wo = w.shape[3], shape[2]
    BT, AT, U, T = _plan_1d(w, Wo, x.dtype)
    _, G, _ = winograd_numba.transforms(w.shape[1], x.dtype)
    m, alpha = AT.shape
    Ut = np.ascontiguousarray(U.transpose(0, 2, 1))
    dx = workspace.empty(x.shape, x.dtype) if need_dx else None

    def sample(n, acc):
        d, dn = gradient(n)
        for r in range(H):
            V = _SCRATCH.get("V", alpha * T * C, x.dtype).reshape(alpha, T, C)
            dM = _SCRATCH.get("M", alpha * T * F, x.dtype).reshape(alpha, T, F)
            winograd_numba.transform_rows(x[n], d[dn], r, 1, BT, AT, m, pads[2], T, V, dM)
            gemm_numba.dot_stack(V.transpose(0, 2, 1), dM, acc, accumulate=True)
            if need_dx:
                dV = _SCRATCH.get("dV", alpha * T * C, x.dtype).reshape(alpha, T, C)
                gemm_numba.dot_stack(dM, Ut, dV)
                winograd_numba.input_rows_backward(dV, 0, 1, BT, m, pads[2], T, dx[n, r:r + 1])

    dU = _sum_over_samples(N, (alpha, C, F), x.dtype, sample)
    return np.ascontiguousarray(np.einsum("xc,xif->cif", G, dU)[None]), dx


def _winograd_backward(x, shape, w, pads, need_dx, gradient):
    """``(dW, dx)`` of a stride-1 3×3 convolution by F(2×2, 3×3) run backwards, one task per sample. Per block
    of tiles: ``V`` (the input transform, as forward) and ``dM`` (the transposed output transform of ``dy``),
    the 16 products ``dU[ξη] += V[ξη]ᵀ · dM[ξη]`` and, if ``need_dx``, ``dV[ξη] = dM[ξη] · U[ξη]ᵀ`` (``U`` the
    transformed kernel) and the transposed input transform of ``dV`` added onto ``dx`` of that sample — the
    gradient of the forward's own algorithm, so ``dM`` serves both and only ``dy``'s own tiles are
    multiplied. At the end ``dW[a, c] = Σ_{ξ,η} G[ξ, a]·G[η, c]·dU[ξη]`` (the transposed kernel transform).
    ``dU`` summed over the samples by :func:`_sum_over_samples`. ``gradient``, ``shape`` (the output's): see
    :func:`conv_backward`."""
    N = x.shape[0]
    C, F = w.shape[2], w.shape[3]
    Ho, Wo = shape[1], shape[2]
    _, G, _ = winograd2d_numba.transforms(x.dtype, m=2)
    Ut = np.ascontiguousarray(winograd2d_numba.kernel_transform(w, G).transpose(0, 2, 1))   # (16, F, C)
    Tw, Th = -(-Wo // 2), -(-Ho // 2)
    step = winograd2d_numba.tile_rows(Wo, 2)
    dx = workspace.empty(x.shape, x.dtype) if need_dx else None
    def sample(n, acc):
        d, dn = gradient(n)
        tmp_in = _SCRATCH.get("tmp_in", 16 * C, x.dtype).reshape(4, 4, C)
        tmp_out = _SCRATCH.get("tmp_out", 8 * F, x.dtype).reshape(2, 4, F)
        if need_dx:
            dx[n] = 0.0   # this sample's tiles add onto it below
        for ti0 in range(0, Th, step):
            ti1 = min(ti0 + step, Th)
            tiles = (ti1 - ti0) * Tw
            V = _SCRATCH.get("V", 16 * tiles * C, x.dtype).reshape(16, tiles, C)
            dM = _SCRATCH.get("M", 16 * tiles * F, x.dtype).reshape(16, tiles, F)
            winograd2d_numba.input_transform_f2(x, n, ti0, ti1, pads[0], pads[2], Tw, tmp_in, V)
            winograd2d_numba.output_transform_backward_f2(d, dn, ti0, ti1, Tw, tmp_out, dM)
            gemm_numba.dot_stack(V.transpose(0, 2, 1), dM, acc, accumulate=True)
            if need_dx:
                gemm_numba.dot_stack(dM, Ut, V)   # dV, in V's place (V is used up)
                winograd2d_numba.input_transform_backward_f2(V, n, ti0, ti1, pads[0], pads[2], Tw, tmp_in, dx)

    dU = _sum_over_samples(N, (16, C, F), x.dtype, sample)
    return np.ascontiguousarray(np.einsum("xa,yc,xyif->acif", G, G, dU.reshape(4, 4, C, F))), dx


def conv_backward(x, dy, w, strides, pads, need_dx, gradient=None):
    """``(dW, dx)`` (``dx`` None unless ``need_dx``), one task per sample; see the module docstring.

    For 3×3 stride-1 kernels (with :data:`WINOGRAD` and F(2×2)), both by Winograd instead, in one pass:
    :func:`_winograd_backward`. ``gradient`` (default: ``n ↦ (dy, n)``) gives each sample's output gradient
    as ``(d, i)``, the gradient being ``d[i]`` — :func:`layer_backward` passes one that masks ``dy`` by the
    ReLU first (:class:`_LayerGradients`); its ``shape`` is then the output's (``dy`` may be another array,
    :func:`_pooled_gradient_sample`).
    """
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    shape = dy.shape if gradient is None else gradient.shape   # the conv output's
    plain = gradient is None
    gradient = gradient or (lambda n: (dy, n))
    if WINOGRAD and winograd2d_numba.applicable(w.shape, strides) and winograd2d_numba.TILE == 2:
        return _winograd_backward(x, shape, w, pads, need_dx, gradient)
    if _winograd_1d(w.shape, strides, shape[2]):
        return _winograd_1d_backward(x, shape, w, pads, need_dx, gradient)
    N = x.shape[0]
    kh, kw, C, F = w.shape
    Ho, Wo = shape[1], shape[2]
    K = kh * kw * C
    W2t = np.ascontiguousarray(w.reshape(K, F).T)
    dx = workspace.empty(x.shape, x.dtype) if need_dx else None
    blocks = _row_blocks(Ho, _row_step(Wo))
    geometry = (kh, kw, strides[0], strides[1], pads[0], pads[2], Wo)

    def sample(n, acc):
        g, gn = gradient(n)
        if need_dx:
            dx[n] = 0.0   # this sample's windows scatter-add onto it below
        for i0, i1 in blocks:
            rows = (i1 - i0) * Wo
            cols = _SCRATCH.get("cols", rows * K, x.dtype).reshape(rows, K)
            _im2col_block(x, n, i0, i1, *geometry, cols)
            d = g[gn, i0:i1].reshape(rows, F)
            gemm_numba.dot(cols.T, d, acc, accumulate=True)
            if need_dx:
                dcols = _SCRATCH.get("dcols", rows * K, x.dtype).reshape(rows, K)
                gemm_numba.dot(d, W2t, dcols)
                _col2im_block_add(dcols, n, i0, i1, *geometry, dx)

    # dW₂ summed over fixed groups of samples, in order: the same bits whichever thread took which group
    loop_w = _loop_product(x.dtype, w.reshape(K, F))   # the products colsᵀ·dz, and dz·W₂ᵀ for dx
    loop_x = _loop_product(x.dtype, W2t) if need_dx else loop_w
    if N > 1 and (plain or isinstance(gradient, _LayerGradients)) and loop_w is not None and loop_x is not None:
        # the same steps as a numba loop over each group of samples (module docstring)
        g = _LayerGradients(dy, None, False, None) if plain else gradient
        db_parts = g.db_parts if g.db_parts is not None else workspace.empty((N, F), np.float64)
        table = np.array(blocks, dtype=np.int64)
        rows = max(i1 - i0 for i0, i1 in blocks) * Wo
        no_dx = np.empty((0, 1, 1, 1), dtype=x.dtype)

        def samples(n0, n1, acc):
            cols = _SCRATCH.get("cols", rows * K, x.dtype).reshape(rows, K)
            dcols = _SCRATCH.get("dcols", rows * K, x.dtype).reshape(rows, K)
            dz = _SCRATCH.get("dz", Ho * Wo * F, x.dtype).reshape(1, Ho, Wo, F)
            _im2col_backward_samples(x, g.dy, g.y, n0, n1, g.masked, g.relu, db_parts, g.pool, g.p_in, g.coef, table,
                                     *geometry, W2t, need_dx, loop_w is gemm_numba.OURS and not any(pads), cols,
                                     dcols, dz, acc, no_dx if dx is None else dx, loop_w, loop_x)

        dW = _sum_over_samples(N, (K, F), x.dtype, samples=samples)
    else:
        dW = _sum_over_samples(N, (K, F), x.dtype, sample)
    return dW.reshape(w.shape), dx


def layer_backward(x, dy, y, w, strides, pads, need_dx, relu, want_db, pooled=None):
    """``(dW, db, dx)`` of a conv layer ``y = relu?(x ⋆ w + b)`` from ``dy = ∂L/∂y`` (images and kernels 4-D):
    each sample's ``dy`` masked by the ReLU (if ``relu``) and summed for ``db`` (if ``want_db``) just before
    its blocks read it (:class:`_LayerGradients`), then :func:`conv_backward`. ``db`` per sample in float64,
    summed in sample order.

    ``pooled = (p_in, (ph, pw, top, left), coef)``: the layer is followed by an average pooling whose windows tile
    ``y`` and a batch norm in training mode, ``dy`` is the batch norm's output gradient and ``p_in`` its input;
    each sample's gradient before the convolution is made from them (:func:`_pooled_gradient_sample`), never the
    pooling's input gradient as a whole. ``y`` is then required (the conv output's shape)."""
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    y = None if y is None else np.ascontiguousarray(y, dtype=x.dtype)
    shape = dy.shape if pooled is None else y.shape
    db_parts = np.zeros((x.shape[0], shape[3]), dtype=np.float64) if want_db else None
    if pooled is not None:
        p_in, pool, coef = pooled
        pooled = (np.ascontiguousarray(p_in, dtype=x.dtype), pool, np.ascontiguousarray(coef, dtype=x.dtype))
    gradient = _LayerGradients(dy, y, relu, db_parts, pooled, shape)
    dW, dx = conv_backward(x, dy, w, strides, pads, need_dx, gradient)
    db = None
    if want_db:
        total = db_parts[0].copy()
        for n in range(1, len(db_parts)):   # in sample order
            total += db_parts[n]
        db = total.astype(x.dtype)
    return dW, db, dx
