"""Small float32 matrix products in numba, ``C = A·B`` or ``C += A·B``, for the products inside the fast convolutions.

Part of the fast kernel family's plumbing (not needed to understand a network: the reference family writes
every product as ``@``). ``tests/minidl/test_gemm.py`` checks every shape class against NumPy.

Why our own product
-------------------
The Winograd convolutions (:mod:`.winograd_numba`) do most of their arithmetic in many small products, such as
one ``(250 × 270)·(270 × 64)`` per sample and transform point for benchmark R1's first layer. OpenBLAS runs
such a product at about 172 GFLOP/s on one thread of this project's AVX-512 test machine with its AVX-512
kernels. With the AVX2 kernels that an ``OPENBLAS_CORETYPE=Haswell`` setting forces, it runs at about 110.
The kernel below runs the same product at 215–248 GFLOP/s either way: numba compiles it for the CPU it runs on.
Measured one thread, ``benchmarks/RESULTS.md``.

How: a register-blocked inner kernel
------------------------------------
``C``'s block of :data:`R` rows × :data:`NF` columns (4 × 64 floats: sixteen 16-float AVX-512 registers) is
accumulated in a small array on the stack (:func:`stack_buffer`). Its size and every index into it are
constants, so the compiler keeps it in registers for the whole sum over ``k``. Per ``k``, the kernel loads one
row of ``B`` (64 values), broadcasts each of the 4 values of ``A``, and does 16 vector multiply-adds, each
fused (``fastmath={"contract"}``: ``a·b + c`` rounded once). The sum over ``k`` runs in order, so the result
does not depend on blocking or threads. It differs from the BLAS's in rounding only.

It is used only when numba compiles for AVX-512 and NumPy's OpenBLAS runs AVX2 kernels (:data:`ENABLED`).
With AVX2's 16 registers of 8 floats the block does not fit in registers, and OpenBLAS's AVX2 kernels are
faster (numbers there). Where OpenBLAS runs its own AVX-512 kernels (``SkylakeX`` and later), the two
machines measured disagree, and the BLAS keeps the products: on the test machine above ours was faster, but
on an Ice Lake Xeon (2.8 GHz, 2 cores; 2026-12-03), one thread, ``(250 × 270)·(270 × 64)`` ran at 66 GFLOP/s
here and 96 in OpenBLAS's SkylakeX kernels, and benchmark R1's ``train_on_batch`` step took 284–332 ms with
this product and 230–276 ms without it (R0 the same either way).

The BLAS from numba loops
-------------------------
Where our product does not run, a numba loop of the fast family (the im2col sample loops of
:mod:`.conv_blocked`) calls NumPy's own OpenBLAS ``cblas_sgemm`` itself (:func:`blas_gemm`; the function
comes from :func:`.openblas.numpy_sgemm` as an argument, so the loop stays cacheable), instead of returning to
Python for every product: :func:`loop_product` decides which of the two a loop runs — :data:`OURS` or the BLAS
function — and :func:`loop_gemm` calls it, chosen by its type when numba compiles the loop (so a loop compiles
only the product it runs: our product's code alone takes seconds).

Columns come in blocks of 64, rows in blocks of 4, then one at a time. ``B``'s column count must be a multiple
of 64 (:func:`supported`: 64 filters, as in the benchmarks' layers). Blocks of 16 or 32 columns compiled to
code 20 times slower (9 GFLOP/s: the compiler unrolls such short loops before it vectorises them, and then
keeps the accumulators in memory), so any other width goes to NumPy's product, as does float64.
"""

from __future__ import annotations

import numpy as np
from numba import carray, njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from . import openblas as _openblas

#: rows of A (and C) per register block
R = 4
#: columns of B (and C) per register block
NF = 64
_BLOCK = R * NF   # elements of a register block, a compile-time constant (stack_buffer needs one)


def _compiles_for_avx512() -> bool:
    """True when numba compiles for a CPU with AVX-512 (its target: ``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES``
    if set, else this machine's)."""
    import numba
    features = numba.config.CPU_FEATURES
    if features is None:
        if numba.config.CPU_NAME is not None:   # a named target without its features: do not guess
            return False
        from llvmlite import binding
        features = binding.get_host_cpu_features().flatten()
    return "+avx512f" in features.split(",")


#: use :func:`gemm` in :func:`dot` / :func:`dot_stack` (where :func:`supported`). Only with AVX-512: its 4 × 64
#: block needs 16 of AVX-512's 32 vector registers. Compiled for AVX2 (16 registers of 8 floats, so the block
#: spills), the same code ran at 62–86 GFLOP/s on one thread against OpenBLAS's 100–112 with the same
#: instructions (numba told ``NUMBA_CPU_NAME=haswell``), so without AVX-512 the BLAS keeps these products —
#: and also where NumPy's OpenBLAS runs AVX-512 kernels of its own (module docstring), so this product
#: stands in where OpenBLAS was held to AVX2 (``OPENBLAS_CORETYPE=Haswell``) on an AVX-512 CPU
ENABLED = _compiles_for_avx512() and not _openblas.numpy_core_has_avx512()


@intrinsic
def stack_buffer(typingctx, dtype, size):
    """A pointer to ``size`` (a literal integer) uninitialised elements of ``dtype`` on the stack of the calling
    function; view it with ``numba.carray``. The compiler knows that no argument array overlaps it, so a loop
    reading it and writing an array needs no run-time overlap checks (and their cost on short loops)."""
    if not isinstance(size, types.IntegerLiteral):
        return None
    n = size.literal_value

    def codegen(context, builder, signature, args):
        return cgutils.alloca_once(builder, context.get_value_type(dtype.dtype),
                                   size=context.get_constant(types.intp, n))
    return types.CPointer(dtype.dtype)(dtype, size), codegen


@njit(nogil=True, cache=True, fastmath={"contract"}, inline="always")
def _block_4x64(A, B, C, i0, j0, accumulate, acc):
    K = A.shape[1]
    for r in range(4):
        for f in range(64):
            acc[r, f] = C[i0 + r, j0 + f] if accumulate else 0.0
    for k in range(K):
        b = B[k]
        a0, a1, a2, a3 = A[i0, k], A[i0 + 1, k], A[i0 + 2, k], A[i0 + 3, k]
        for f in range(64):
            bf = b[j0 + f]
            acc[0, f] += a0 * bf
            acc[1, f] += a1 * bf
            acc[2, f] += a2 * bf
            acc[3, f] += a3 * bf
    for r in range(4):
        for f in range(64):
            C[i0 + r, j0 + f] = acc[r, f]


@njit(nogil=True, cache=True, fastmath={"contract"}, inline="always")
def _block_1x64(A, B, C, i, j0, accumulate, acc):
    K = A.shape[1]
    for f in range(64):
        acc[0, f] = C[i, j0 + f] if accumulate else 0.0
    for k in range(K):
        b = B[k]
        a = A[i, k]
        for f in range(64):
            acc[0, f] += a * b[j0 + f]
    for f in range(64):
        C[i, j0 + f] = acc[0, f]


@njit(nogil=True, cache=True, fastmath={"contract"})
def gemm(A, B, C, accumulate):
    """``C = A·B`` (``C += A·B`` if ``accumulate``) for float32 ``A`` ``(M, K)``, ``B`` ``(K, N)``, ``C``
    ``(M, N)``, ``N`` a multiple of 64 (:func:`supported`); ``A`` may be any strided view (a transposed one
    too), ``B`` and ``C`` with unit stride along their rows. Serial, without the GIL: callers run one product
    per thread."""
    M = A.shape[0]
    N = B.shape[1]
    acc = carray(stack_buffer(C.dtype, _BLOCK), (R, NF))
    j0 = 0
    while j0 + NF <= N:   # while loops: the same loop as ``for j0 in range(0, N − NF + 1, NF)`` compiled 7× slower
        i0 = 0
        while i0 + R <= M:
            _block_4x64(A, B, C, i0, j0, accumulate, acc)
            i0 += R
        for i in range(i0, M):
            _block_1x64(A, B, C, i, j0, accumulate, acc)
        j0 += NF


@njit(nogil=True, cache=True)
def gemm_long(A, B, C, accumulate, chunk):
    """:func:`gemm` for a long inner dimension, ``B`` larger than a core's cache (a Dense layer after Flatten:
    ``B`` is its kernel, 68,992 × 64 floats for benchmark R0): ``k`` in chunks of ``chunk`` rows of ``B``, each
    chunk used by every row block of ``A`` while it is in cache — :func:`gemm` alone reads all of ``B`` again
    for each block of 4 rows. The same bits as :func:`gemm`: each element's sum still runs over ``k`` in order
    (a chunk's block starts from the sum so far)."""
    K = A.shape[1]
    for k0 in range(0, K, chunk):
        k1 = min(k0 + chunk, K)
        gemm(A[:, k0:k1], B[k0:k1], C, accumulate or k0 > 0)


@njit(nogil=True, cache=True)
def gemm_stack(A, B, C, accumulate):
    """:func:`gemm` for each ``ξ`` of the leading axis: ``C[ξ] = A[ξ]·B[ξ]`` (or ``+=``), in one call — the α
    products of a Winograd block cost one call from Python, not α (each call from Python holds the GIL for a
    few microseconds: thousands of them per batch showed as 10–25 ms)."""
    for xi in range(A.shape[0]):
        gemm(A[xi], B[xi], C[xi], accumulate)


@njit(nogil=True, cache=True)
def _blas_operand(A):
    """``(trans, ld)`` of a 2-D float32 view for CBLAS (row-major): unit stride along rows → as is, leading
    dimension the row stride; unit stride down the columns (a transposed view) → transposed."""
    rows, cols = A.shape
    if A.strides[1] == 4 or cols <= 1:
        return _openblas.NO_TRANS, A.strides[0] // 4 if rows > 1 else max(cols, 1)
    return _openblas.TRANS, A.strides[1] // 4 if cols > 1 else max(rows, 1)


@njit(nogil=True, cache=True)
def blas_gemm(sgemm, A, B, C, accumulate):
    """``C = A·B`` (``C += A·B`` if ``accumulate``) by ``sgemm``, the BLAS's ``cblas_sgemm``
    (:func:`~.openblas.numpy_sgemm`), called from numba code without the GIL: float32, ``A`` and ``B`` each
    with unit stride along their rows or down their columns (a transposed view), rows that do not overlap;
    ``C`` with unit stride along its rows (:func:`blas_fits`). ``C += A·B`` is the product, then the sum (as
    NumPy's ``C += A @ B``). :func:`dot` calls it from Python for the same products, so a numba loop and the
    same steps from Python give the same bits (``np.dot`` itself may take another BLAS routine for a single
    row or column: the same numbers, not always the same bits)."""
    M, K = A.shape
    N = B.shape[1]
    if M == 0 or N == 0:
        return
    out = np.empty((M, N), dtype=C.dtype) if accumulate else C
    if K == 0:
        out[...] = 0.0
    else:
        ta, lda = _blas_operand(A)
        tb, ldb = _blas_operand(B)
        ldc = out.strides[0] // 4 if M > 1 else N   # C's row stride (a one-row C's may be anything)
        sgemm(_openblas.ROW_MAJOR, ta, tb, M, N, K, 1.0, A.ctypes, lda, B.ctypes, ldb, 0.0, out.ctypes, ldc)
    if accumulate:
        for i in range(M):
            for j in range(N):
                C[i, j] += out[i, j]


#: the ``product`` a numba loop passes to :func:`loop_gemm` for our own product (:func:`gemm`); otherwise it passes
#: the BLAS's ``cblas_sgemm`` (:func:`~.openblas.numpy_sgemm`). numba tells the two apart by their types, when it
#: compiles the loop, so a loop compiles only the product it runs (our product's code takes seconds to compile)
OURS = 0


def loop_gemm(product, A, B, C, accumulate):
    """The product of a numba loop, ``C = A·B`` (``+=`` if ``accumulate``): :func:`gemm` if ``product`` is
    :data:`OURS`, else :func:`blas_gemm` with ``product`` — as :func:`loop_product` decided for the loop. Called
    from Python it does the same; in numba code the choice is made at compile time (:func:`_loop_gemm_typed`)."""
    if isinstance(product, int):
        gemm(A, B, C, accumulate)
    else:
        blas_gemm(product, A, B, C, accumulate)


@overload(loop_gemm, jit_options={"nogil": True})
def _loop_gemm_typed(product, A, B, C, accumulate):
    """:func:`loop_gemm` in numba code: the implementation of ``product``'s type, chosen as the loop compiles."""
    if isinstance(product, types.Integer):
        def ours(product, A, B, C, accumulate):
            gemm(A, B, C, accumulate)
        return ours

    def blas(product, A, B, C, accumulate):
        blas_gemm(product, A, B, C, accumulate)
    return blas


#: let numba loops call the BLAS's ``cblas_sgemm`` themselves (:func:`blas_gemm`) where our product does not
#: apply: float32 products of any width, without a call from Python per product
BLAS_IN_LOOPS = True


def _blas_view(a) -> bool:
    """True when CBLAS can read the float32 matrix ``a`` as it lies: unit stride along its rows or down its
    columns, and rows (columns) that do not overlap."""
    rows, cols = a.shape
    s0, s1 = a.strides
    return a.size == 0 or (s1 == 4 and (rows <= 1 or s0 >= 4 * cols)) or (s0 == 4 and (cols <= 1 or s1 >= 4 * rows))


def blas_fits(a, b, out) -> bool:
    """True when :func:`blas_gemm` computes ``a·b`` into ``out``: float32 throughout, NumPy's ``cblas_sgemm``
    found (and :data:`BLAS_IN_LOOPS`), both factors readable by CBLAS as they lie, ``out`` row-contiguous."""
    return (a.dtype == b.dtype == out.dtype == np.float32 and a.ndim == b.ndim == out.ndim == 2 and BLAS_IN_LOOPS
            and _openblas.numpy_sgemm() is not None and _blas_view(a) and _blas_view(b)
            and (out.size == 0 or out.strides[1] == 4 and (out.shape[0] <= 1 or out.strides[0] >= 4 * out.shape[1])))


def loop_product(dtype, b):
    """How a numba loop of the fast family computes its products ``a·b`` (``a`` and the output of ``dtype``,
    row-contiguous): the ``product`` to pass on to :func:`loop_gemm` — :data:`OURS` where :func:`computes`, else
    the BLAS's ``cblas_sgemm`` (float32, :data:`BLAS_IN_LOOPS`, NumPy's OpenBLAS found) — or None when neither
    applies (the caller then makes its products from Python, :func:`dot`)."""
    if computes(dtype, b):
        return OURS
    sgemm = _openblas.numpy_sgemm() if BLAS_IN_LOOPS else None
    if sgemm is not None and np.dtype(dtype) == b.dtype == np.float32 and b.ndim == 2 and _blas_view(b):
        return sgemm
    return None


def supports(dtype, b) -> bool:
    """True when :func:`gemm` computes products ``a·b`` for any ``a`` and output of ``dtype`` with unit stride
    along their rows: float32 throughout, ``b``'s columns a multiple of 64, ``b`` with unit stride along its
    rows. (What a numba loop that calls :func:`gemm` itself checks before it starts.)"""
    return (np.dtype(dtype) == b.dtype == np.float32 and b.shape[1] % NF == 0 and b.shape[1] > 0
            and b.strides[1] == 4)


def supported(a, b, out) -> bool:
    """True when :func:`gemm` computes ``a·b`` into ``out``: float32 throughout, ``b``'s columns a multiple of
    64, ``b`` and ``out`` with unit stride along their rows."""
    return a.dtype == out.dtype and out.strides[1] == 4 and supports(a.dtype, b)


def computes(dtype, b) -> bool:
    """True when our product computes ``a·b`` here (:data:`ENABLED` and :func:`supports`): what the fast family's
    numba loops and blocked products that call :func:`gemm` themselves ask before they start."""
    return ENABLED and supports(dtype, b)


def used(a, b, out) -> bool:
    """True when :func:`dot` / :func:`dot_stack` compute ``a·b`` with :func:`gemm`: :data:`ENABLED` and
    :func:`supported`."""
    return ENABLED and supported(a, b, out)


def dot_stack(a, b, out, accumulate=False):
    """``out[ξ] = a[ξ]·b[ξ]`` (``+=`` if ``accumulate``) for each ``ξ`` of the leading axis: :func:`gemm_stack`
    where :data:`ENABLED` and :func:`supported`, else NumPy's product per ``ξ``."""
    if used(a[0], b[0], out[0]):
        gemm_stack(a, b, out, accumulate)
    elif accumulate:
        out += np.matmul(a, b)
    else:
        np.matmul(a, b, out=out)
    return out


def dot(a, b, out, accumulate=False):
    """``out = a·b`` (``out += a·b`` if ``accumulate``): :func:`gemm` where :data:`ENABLED` and :func:`supported`,
    else :func:`blas_gemm` where it fits (float32: the numba loops' other product, so the same bits as theirs),
    else NumPy."""
    if used(a, b, out):
        gemm(a, b, out, accumulate)
    elif blas_fits(a, b, out):
        blas_gemm(_openblas.numpy_sgemm(), a, b, out, accumulate)
    elif accumulate:
        out += a @ b
    else:
        np.dot(a, b, out=out)
    return out


__all__ = ["R", "NF", "ENABLED", "BLAS_IN_LOOPS", "OURS", "stack_buffer", "gemm", "gemm_long", "gemm_stack", "blas_gemm",
           "blas_fits", "loop_gemm", "loop_product", "supports", "supported", "computes", "used", "dot", "dot_stack"]
