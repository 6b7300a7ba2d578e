"""The fast family's own small matrix product (minidl/kernels/gemm_numba.py) against NumPy's, float64 sums.

Every shape class the register blocks meet: rows a multiple of the 4-row block or not, one or several 64-column
blocks, a short and a long sum, ``A`` a transposed (strided) view as in the weight gradients, ``C = A·B`` and
``C += A·B``; :func:`blas_gemm` (NumPy's ``cblas_sgemm`` called from numba) on every layout it takes; and
:func:`dot` sends what :func:`gemm` does not compute (widths not a multiple of 64, column-strided ``B``) to
:func:`blas_gemm` in float32 and to NumPy otherwise, with the same results."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.kernels import gemm_numba


def _expected(a, b, c0=None):
    out = a.astype(np.float64) @ b.astype(np.float64)
    return out if c0 is None else out + c0.astype(np.float64)


def _close(got, expected, k):
    # float32 sums of k products: the error follows the largest output and grows with √k
    tol = 4e-7 * np.sqrt(k + 1) * max(1.0, np.abs(expected).max(initial=0.0))
    np.testing.assert_allclose(got, expected, rtol=0, atol=tol)


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 23), k=st.integers(1, 300), blocks=st.integers(1, 3), transposed=st.booleans(),
       accumulate=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_gemm_equals_the_float64_product(m, k, blocks, transposed, accumulate, seed):
    rng = np.random.default_rng(seed)
    n = gemm_numba.NF * blocks
    a = rng.standard_normal((k, m)).astype(np.float32).T if transposed else rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c0 = rng.standard_normal((m, n)).astype(np.float32)
    c = c0.copy()
    assert gemm_numba.supported(a, b, c)
    gemm_numba.gemm(a, b, c, accumulate)
    _close(c, _expected(a, b, c0 if accumulate else None), k)


@settings(max_examples=30, deadline=None)
@given(depth=st.integers(1, 6), m=st.integers(1, 13), k=st.integers(1, 70), transposed=st.booleans(),
       accumulate=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_gemm_stack_equals_a_product_per_slice(depth, m, k, transposed, accumulate, seed):
    """``dot_stack`` (the α products of a Winograd block in one call): each slice as :func:`gemm` computes it,
    ``a`` a stack of transposed views too (``V.transpose(0, 2, 1)`` in the weight gradients). ``gemm_stack``
    itself, whether or not this machine's CPU lets ``dot_stack`` use it (``ENABLED``: AVX-512)."""
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal((depth, k, m)).astype(np.float32).transpose(0, 2, 1) if transposed
         else rng.standard_normal((depth, m, k)).astype(np.float32))
    b = rng.standard_normal((depth, k, 64)).astype(np.float32)
    c0 = rng.standard_normal((depth, m, 64)).astype(np.float32)
    out = c0.copy()
    gemm_numba.gemm_stack(a, b, out, accumulate)
    for xi in range(depth):
        single = c0[xi].copy()
        gemm_numba.gemm(a[xi], b[xi], single, accumulate)
        np.testing.assert_array_equal(out[xi], single)
    # dot_stack: gemm_stack's numbers where ENABLED, NumPy's otherwise (float32 rounding)
    via_dot = c0.copy()
    assert gemm_numba.dot_stack(a, b, via_dot, accumulate) is via_dot
    _close(via_dot, out.astype(np.float64), k)
    # and a stack it does not compute (float64) goes to NumPy with the same numbers
    out64 = c0.astype(np.float64)
    gemm_numba.dot_stack(a.astype(np.float64), b.astype(np.float64), out64, accumulate)
    expected = np.matmul(a.astype(np.float64), b.astype(np.float64)) + (c0 if accumulate else 0.0)
    np.testing.assert_allclose(out64, expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 13), k=st.integers(1, 700), chunk=st.integers(1, 300), a_slice=st.booleans(),
       accumulate=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_gemm_long_has_the_bits_of_gemm_for_every_chunk(m, k, chunk, a_slice, accumulate, seed):
    """``gemm_long`` (the inner dimension in chunks, for a Dense layer after Flatten) continues each element's
    sum chunk after chunk, in order: the bits of one :func:`gemm`, whatever the chunk, ``a`` a column slice of a
    wider array too (a task's part of the inner dimension)."""
    rng = np.random.default_rng(seed)
    wide = rng.standard_normal((m, k + 9)).astype(np.float32)
    a = wide[:, 5:5 + k] if a_slice else np.ascontiguousarray(wide[:, :k])
    b = rng.standard_normal((k, 64)).astype(np.float32)
    c0 = rng.standard_normal((m, 64)).astype(np.float32)
    plain, chunked = c0.copy(), c0.copy()
    gemm_numba.gemm(a, b, plain, accumulate)
    gemm_numba.gemm_long(a, b, chunked, accumulate, chunk)
    np.testing.assert_array_equal(chunked, plain)
    _close(chunked, _expected(a, b, c0 if accumulate else None), k)


def test_gemm_writes_only_its_output_and_reads_b_by_rows_of_a_wider_array():
    """``B`` and ``C`` may be row slices of wider arrays (unit stride along a row): only ``C``'s own columns
    change, and the columns of ``B`` outside its view are not read."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((9, 40)).astype(np.float32)
    wide_b = rng.standard_normal((40, 200)).astype(np.float32)
    b = wide_b[:, 8:136]
    wide_c = np.full((9, 300), 7.0, dtype=np.float32)
    c = wide_c[:, 100:228]
    assert gemm_numba.supported(a, b, c)
    gemm_numba.gemm(a, b, c, False)
    _close(c, _expected(a, b), 40)
    assert np.all(wide_c[:, :100] == 7.0) and np.all(wide_c[:, 228:] == 7.0)


@pytest.mark.parametrize("enabled", [False, True])
def test_dot_uses_gemm_only_where_enabled(enabled, monkeypatch):
    """``ENABLED`` (AVX-512) decides whether a supported product takes :func:`gemm`; the numbers agree."""
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((10, 30)).astype(np.float32), rng.standard_normal((30, 64)).astype(np.float32)
    calls = []
    monkeypatch.setattr(gemm_numba, "ENABLED", enabled)
    monkeypatch.setattr(gemm_numba, "gemm", lambda *args: calls.append(1) or _real_gemm(*args))
    out = np.empty((10, 64), dtype=np.float32)
    gemm_numba.dot(a, b, out)
    assert len(calls) == (1 if enabled else 0)
    _close(out, _expected(a, b), 30)


_real_gemm = gemm_numba.gemm


def _layout(rng, rows, cols, kind):
    """A float32 ``(rows, cols)`` matrix laid out as ``kind``: C order, a transposed view (Fortran order), or a
    slice of a wider array (row stride larger than its width)."""
    if kind == "transposed":
        return rng.standard_normal((cols, rows)).astype(np.float32).T
    if kind == "slice":
        return rng.standard_normal((rows, cols + 7)).astype(np.float32)[:, 3:3 + cols]
    return rng.standard_normal((rows, cols)).astype(np.float32)


@settings(max_examples=60, deadline=None)
@given(m=st.integers(0, 40), k=st.integers(0, 300), n=st.integers(0, 70),
       a_kind=st.sampled_from(["c", "transposed", "slice"]), b_kind=st.sampled_from(["c", "transposed", "slice"]),
       accumulate=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_blas_gemm_equals_the_float64_product_on_every_layout(m, k, n, a_kind, b_kind, accumulate, seed):
    """``blas_gemm`` (the numba loops' product where ours does not apply) reads each factor as it lies — C order,
    transposed, a column slice of a wider array — any width, empty shapes too, ``C = A·B`` and ``C += A·B``,
    and writes only ``C``'s own columns; :func:`dot` gives its bits, called from Python."""
    from minidl.kernels import openblas
    sgemm = openblas.numpy_sgemm()
    assert sgemm is not None   # NumPy's wheels bundle OpenBLAS with CBLAS
    rng = np.random.default_rng(seed)
    a, b = _layout(rng, m, k, a_kind), _layout(rng, k, n, b_kind)
    assert gemm_numba.blas_fits(a, b, np.empty((m, n), np.float32))
    wide = rng.standard_normal((m, n + 10)).astype(np.float32)
    before = wide.copy()
    c = wide[:, 4:4 + n]
    gemm_numba.blas_gemm(sgemm, a, b, c, accumulate)
    _close(c, _expected(a, b, before[:, 4:4 + n] if accumulate else None), k)
    np.testing.assert_array_equal(wide[:, :4], before[:, :4])
    np.testing.assert_array_equal(wide[:, 4 + n:], before[:, 4 + n:])
    via_dot = before[:, 4:4 + n].copy()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gemm_numba, "ENABLED", False)
        gemm_numba.dot(a, b, via_dot, accumulate)
    np.testing.assert_array_equal(via_dot, c)


def test_blas_fits_only_views_cblas_can_read():
    """Overlapping rows (an im2col window view), a stride in both directions, or float64: not for the BLAS."""
    x = np.zeros(100, np.float32)
    overlapping = np.lib.stride_tricks.as_strided(x, shape=(10, 8), strides=(16, 4))
    both = np.zeros((10, 20), np.float32)[:, ::2]
    ok = np.zeros((8, 8), np.float32)
    out = np.zeros((10, 8), np.float32)
    assert gemm_numba.blas_fits(np.zeros((10, 8), np.float32), ok, out)
    assert not gemm_numba.blas_fits(overlapping, ok, out)
    assert not gemm_numba.blas_fits(both[:, :8], ok, out)
    assert not gemm_numba.blas_fits(np.zeros((10, 8)), ok.astype(np.float64), out.astype(np.float64))


@pytest.mark.parametrize("enabled", [False, True])
@pytest.mark.parametrize("blas", [False, True])
def test_loop_product_chooses_ours_then_the_blas(enabled, blas, monkeypatch):
    """What a numba loop runs its products with: ours where :func:`computes` (a multiple of 64 columns, float32,
    ``ENABLED``), else the BLAS's ``cblas_sgemm`` in float32 (``BLAS_IN_LOOPS``), else no loop; and
    ``loop_gemm`` computes with either, from numba code and from Python."""
    from numba import njit
    from minidl.kernels import openblas
    monkeypatch.setattr(gemm_numba, "ENABLED", enabled)
    monkeypatch.setattr(gemm_numba, "BLAS_IN_LOOPS", blas)
    sgemm = openblas.numpy_sgemm()
    wide, narrow = np.zeros((8, 64), np.float32), np.zeros((8, 5), np.float32)
    expected_wide = gemm_numba.OURS if enabled else sgemm if blas else None
    assert gemm_numba.loop_product(np.float32, wide) is expected_wide
    assert gemm_numba.loop_product(np.float32, narrow) is (sgemm if blas else None)
    assert gemm_numba.loop_product(np.float64, wide.astype(np.float64)) is None

    @njit
    def in_numba(product, a, b, c):
        gemm_numba.loop_gemm(product, a, b, c, False)

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((6, 9)).astype(np.float32), rng.standard_normal((9, 64)).astype(np.float32)
    for product in (gemm_numba.OURS, sgemm):
        for call in (gemm_numba.loop_gemm, lambda *args: in_numba(*args[:4])):
            c = np.empty((6, 64), np.float32)
            call(product, a, b, c, False)
            _close(c, _expected(a, b), 9)


def test_enabled_follows_the_target_cpu(monkeypatch):
    import numba
    monkeypatch.setattr(numba.config, "CPU_NAME", "haswell")
    monkeypatch.setattr(numba.config, "CPU_FEATURES", "+avx,+avx2,+fma")
    assert not gemm_numba._compiles_for_avx512()
    monkeypatch.setattr(numba.config, "CPU_FEATURES", "+avx,+avx2,+fma,+avx512f,+avx512bw")
    assert gemm_numba._compiles_for_avx512()
    monkeypatch.setattr(numba.config, "CPU_FEATURES", None)
    assert not gemm_numba._compiles_for_avx512()   # a named CPU without its features: not guessed


@pytest.mark.parametrize("case", ["float64", "width 32", "width 96", "strided b", "empty"])
@pytest.mark.parametrize("accumulate", [False, True])
def test_dot_sends_what_gemm_does_not_compute_to_numpy(case, accumulate):
    rng = np.random.default_rng(1)
    dtype = np.float64 if case == "float64" else np.float32
    n = {"width 32": 32, "width 96": 96, "empty": 0}.get(case, 64)
    a = rng.standard_normal((6, 20)).astype(dtype)
    b = rng.standard_normal((20, 2 * n)).astype(dtype)[:, ::2] if case == "strided b" else \
        rng.standard_normal((20, n)).astype(dtype)
    c0 = rng.standard_normal((6, n)).astype(dtype)
    out = c0.copy()
    assert not gemm_numba.supported(a, b, out)
    assert gemm_numba.dot(a, b, out, accumulate) is out
    _close(out, _expected(a, b, c0 if accumulate else None), 20)
