"""The fast (numba) kernels compute the same numbers as the reference kernels.

Property, checked by hypothesis over random shapes, kernel sizes, strides and paddings, in float32 and
float64: for every function ``f`` of the kernel families, ``fast.f(args) == reference.f(args)`` up to
floating-point reassociation (the fast family sums in a different order, through BLAS).
"""

import contextlib
import inspect
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl import activations
from minidl.config import use_kernels
from minidl import threads
from minidl.kernels import (active, contract, conv_blocked, conv_numba, family, padding_amounts, same_padding,
                            winograd_numba)

REF, FAST = family("reference"), family("fast")
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-11)}
SETTINGS = settings(max_examples=25, deadline=None)


@st.composite
def geometries(draw):
    """A batch, an image, a window that fits it, strides and a padding mode."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    H, W = draw(st.integers(kh, 9)), draw(st.integers(kw, 9))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from(["valid", "same"]))
    N, C, F = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 5))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    pads = padding_amounts((H, W), (kh, kw), strides, padding)
    return dict(N=N, H=H, W=W, C=C, F=F, k=(kh, kw), strides=strides, pads=pads, dtype=dtype,
                seed=draw(st.integers(0, 2**16)))


def _data(g):
    rng = np.random.default_rng(g["seed"])
    x = rng.standard_normal((g["N"], g["H"], g["W"], g["C"])).astype(g["dtype"])
    w = rng.standard_normal((*g["k"], g["C"], g["F"])).astype(g["dtype"])
    b = rng.standard_normal(g["F"]).astype(g["dtype"])
    return rng, x, w, b


@st.composite
def winograd_geometries(draw):
    """Geometries the Winograd path computes: (1, 2) or (1, 3) kernels, stride 1, any image, either padding."""
    g = draw(geometries())
    kw = draw(st.sampled_from(sorted(winograd_numba.TILES)))
    W = draw(st.integers(kw, 12))
    g.update(k=(1, kw), W=W, strides=(1, 1), C=draw(st.integers(1, 6)),
             pads=padding_amounts((g["H"], W), (1, kw), (1, 1), draw(st.sampled_from(["valid", "same"]))))
    return g


@contextlib.contextmanager
def _conv_path(path):
    """Force the fast family's direct-loop path, its im2col + BLAS path, its cache-blocked im2col (where the
    batch has two samples or more; one output row per block, so that blocks meet on every image) or
    (where it applies) Winograd."""
    old = (conv_numba.DIRECT_MAX_K, conv_numba.WINOGRAD, conv_numba.BLOCKED, winograd_numba.MIN_TILES,
           conv_blocked.BLOCK_ROWS)
    conv_numba.DIRECT_MAX_K = 10**9 if path == "direct" else 0
    conv_numba.WINOGRAD = path == "winograd"
    conv_numba.BLOCKED = path == "blocked"
    winograd_numba.MIN_TILES = 0   # also partial tiles on tiny outputs: the edge cases
    conv_blocked.BLOCK_ROWS = 1
    try:
        yield
    finally:
        (conv_numba.DIRECT_MAX_K, conv_numba.WINOGRAD, conv_numba.BLOCKED, winograd_numba.MIN_TILES,
         conv_blocked.BLOCK_ROWS) = old


def _check_fast_conv_paths(g, relu, paths):
    rng, x, w, b = _data(g)
    tol = TOL[g["dtype"]]
    y_ref = REF.conv2d_forward(x, w, b, g["strides"], g["pads"], relu=relu)
    dy = rng.standard_normal(y_ref.shape).astype(g["dtype"])
    dW_ref, dx_ref = REF.conv2d_backward(x, dy, w, g["strides"], g["pads"])
    for path in paths:
        with _conv_path(path):
            y_fast = FAST.conv2d_forward(x, w, b, g["strides"], g["pads"], relu=relu)
            assert y_fast.dtype == x.dtype
            np.testing.assert_allclose(y_fast, y_ref, **tol, err_msg=f"forward ({path}): fast vs reference")
            dW_fast, dx_fast = FAST.conv2d_backward(x, dy, w, g["strides"], g["pads"])
            np.testing.assert_allclose(dW_fast, dW_ref, **tol, err_msg=f"dW ({path}): fast vs reference")
            np.testing.assert_allclose(dx_fast, dx_ref, **tol, err_msg=f"dx ({path}): fast vs reference")
            np.testing.assert_allclose(FAST.conv2d_backward_input(dy, w, x.shape, g["strides"], g["pads"]),
                                       dx_ref, **tol)
            np.testing.assert_allclose(FAST.conv2d_backward_weights(x, dy, w.shape, g["strides"], g["pads"]),
                                       dW_ref, **tol)


@SETTINGS
@given(geometries(), st.booleans())
def test_fast_conv2d_forward_and_backward_equal_reference_on_every_path(g, relu):
    _check_fast_conv_paths(g, relu, ("direct", "im2col", "blocked", "winograd"))


@SETTINGS
@given(geometries(), st.booleans(), st.integers(2, 4), st.sampled_from([1, 2]))
def test_cache_blocked_conv_equals_reference_on_one_and_two_threads(g, relu, N, n_threads):
    g["N"] = N   # a task per sample: at least two
    assert conv_blocked.applicable(N, backward=True)
    with threads.limit_threads(n_threads):
        _check_fast_conv_paths(g, relu, ("blocked",))


@settings(max_examples=20, deadline=None)
@given(g=geometries(), F=st.sampled_from([5, 64, 128]), wide=st.booleans(),
       activation=st.sampled_from(["relu", "linear"]), use_bias=st.booleans(), need_dx=st.booleans(),
       N=st.integers(2, 4), n_threads=st.sampled_from([1, 2]), product=st.sampled_from(["ours", "blas"]))
def test_blocked_im2col_sample_loops_have_the_bits_of_the_per_sample_steps(g, F, wide, activation, use_bias, need_dx,
                                                                           N, n_threads, product):
    """In float32 the cache-blocked path runs each group of samples' im2col blocks as one numba loop
    (``_im2col_forward_samples``, ``_im2col_backward_samples``) that makes its products itself: with our product
    (64k filters; switched on whatever the CPU, so that the loops are tested on every machine — it is only slower
    without AVX-512) or with NumPy's ``cblas_sgemm`` called from numba (any width). The same products in the same
    order as the per-sample steps from Python, so the same bits — forward, dW, db and dx, with and without the
    ReLU's mask — and the reference's numbers. With ``dx``, our product also makes ``dz·W₂ᵀ`` where a receptive
    field has 64k values (``wide``: 64 channels), else the BLAS makes that one in the same loop."""
    from unittest import mock
    from minidl.kernels import gemm_numba, openblas
    ours = product == "ours"
    if ours:
        F = max(F, 64)
    else:
        assert openblas.numpy_sgemm() is not None   # NumPy's wheels bundle OpenBLAS with CBLAS
    g.update(F=F, N=N, dtype=np.float32, C=64 if wide else g["C"])
    if g["k"] == (1, 1) and g["strides"] == (1, 1) and not any(g["pads"]):
        g["k"] = (1, 2)   # a pointwise convolution is one matrix product, not blocks
        g["W"] = max(g["W"], 2)
    rng, x, w, b = _data(g)
    f = activations.get(activation)
    dy = None
    results, calls = {}, []
    spies = [mock.patch.object(conv_blocked, name, side_effect=getattr(conv_blocked, name))
             for name in ("_im2col_forward_samples", "_im2col_backward_samples")]
    with (threads.limit_threads(n_threads), _conv_path("blocked"), mock.patch.object(gemm_numba, "ENABLED", ours),
          mock.patch.object(gemm_numba, "BLAS_IN_LOOPS", True),
          mock.patch.object(conv_blocked, "WINOGRAD", False)):   # im2col also for 3 × 3 stride-1 kernels
        for loops in (True, False):
            loop = conv_blocked._loop_product if loops else (lambda dtype, b_: None)
            with mock.patch.object(conv_blocked, "_loop_product", loop), spies[0] as fwd, spies[1] as bwd:
                y = FAST.conv_bias_activation(x, w, b, g["strides"], g["pads"], f)
                if dy is None:
                    dy = rng.standard_normal(y.shape).astype(np.float32)
                results[loops] = (y, *FAST.conv_layer_backward(x, dy, y, w, g["strides"], g["pads"], f, use_bias,
                                                               need_dx))
                calls.append((fwd.call_count, bwd.call_count))
    assert calls[0][0] >= 1 and calls[0][1] >= 1   # the loops ran …
    assert calls[1] == (0, 0)   # … and not when switched off
    for name, a, c in zip(("y", "dW", "db", "dx"), results[True], results[False]):
        assert (a is None) == (c is None), name
        if a is not None:
            np.testing.assert_array_equal(a, c, err_msg=f"{name}: sample loops vs per-sample steps")
    y, dW, db, dx = results[True]
    expected = REF.conv_layer_backward(x, dy, y, w, g["strides"], g["pads"], f, use_bias, need_dx)

    def close(a, e, name):   # float32 sums of up to 64·k·k terms: the error follows the largest value
        np.testing.assert_allclose(a, e, rtol=TOL[np.float32]["rtol"],
                                   atol=TOL[np.float32]["atol"] * max(1.0, float(np.abs(e).max())), err_msg=name)

    close(y, REF.conv_bias_activation(x, w, b, g["strides"], g["pads"], f), "y")
    for name, a, e in zip(("dW", "db", "dx"), (dW, db, dx), expected):
        assert (a is None) == (e is None), name
        if e is not None:
            close(a, e, name)


@SETTINGS
@given(winograd_geometries(), st.booleans())
def test_winograd_conv_forward_and_backward_equal_reference(g, relu):
    assert winograd_numba.applicable((*g["k"], g["C"], g["F"]), g["strides"])
    _check_fast_conv_paths(g, relu, ("winograd",))



@pytest.mark.parametrize("path", ["direct", "im2col", "blocked", "winograd", "blocked 1-D Winograd",
                                  "blocked 2-D Winograd"])
@settings(max_examples=15, deadline=None)
@given(g=geometries(), activation=st.sampled_from(["relu", "linear", "tanh"]), use_bias=st.booleans(),
       need_dx=st.booleans())
def test_conv_layer_backward_equals_reference_and_has_the_bits_of_the_unfused_steps(path, g, activation, use_bias,
                                                                                    need_dx):
    """The fast family masks dy by the ReLU and sums db while the convolution reads dy: dW and dx are the
    bits of its own unfused steps (activation_backward, then conv2d_backward), db equals Σ dz, and all
    three equal the reference — on every path, including exact zeros of the ReLU output (dz = 0 there)."""
    if path == "blocked 1-D Winograd":   # the Winograd F(4, r) blocks of Conv1D layers, at any channel count
        kw = 2 + g["seed"] % 2
        g.update(k=(1, kw), W=max(g["W"], kw), strides=(1, 1), N=max(g["N"], 2))
        g["pads"] = padding_amounts((g["H"], g["W"]), (1, kw), (1, 1), "valid" if g["seed"] % 3 else "same")
    if path == "blocked 2-D Winograd":   # F(2×2, 3×3) of 3×3 stride-1 kernels, dW and dx in one pass
        g.update(k=(3, 3), H=max(g["H"], 3), W=max(g["W"], 3), strides=(1, 1), N=max(g["N"], 2))
        g["pads"] = padding_amounts((g["H"], g["W"]), (3, 3), (1, 1), "valid" if g["seed"] % 3 else "same")
    rng, x, w, b = _data(g)
    tol = TOL[g["dtype"]]
    f = activations.get(activation)
    y = REF.conv_bias_activation(x, w, b, g["strides"], g["pads"], f)
    dy = rng.standard_normal(y.shape).astype(g["dtype"])
    dW_ref, db_ref, dx_ref = REF.conv_layer_backward(x, dy, y, w, g["strides"], g["pads"], f, use_bias, need_dx)
    old_min_c = conv_blocked.WINOGRAD_1D_MIN_C
    conv_blocked.WINOGRAD_1D_MIN_C = 1
    try:
        with _conv_path("blocked" if path.startswith("blocked") else path):
            fast = activations.get(activation)
            fast.forward(REF.conv2d_forward(x, w, b, g["strides"], g["pads"]))   # what its backward needs
            dW, db, dx = FAST.conv_layer_backward(x, dy, y, w, g["strides"], g["pads"], fast, use_bias, need_dx)
            if activation != "tanh":
                dz = FAST.activation_backward(dy, y, activations.get(activation))
                dW_steps, dx_steps = FAST.conv2d_backward(x, dz, w, g["strides"], g["pads"], need_dx)
                np.testing.assert_array_equal(dW, dW_steps, err_msg=f"dW ({path}): fused vs unfused bits")
                if need_dx:
                    np.testing.assert_array_equal(dx, dx_steps, err_msg=f"dx ({path}): fused vs unfused bits")
    finally:
        conv_blocked.WINOGRAD_1D_MIN_C = old_min_c
    assert dW.dtype == x.dtype and dW.shape == w.shape
    np.testing.assert_allclose(dW, dW_ref, **tol, err_msg=f"dW ({path})")
    assert (db is None) == (not use_bias) and (dx is None) == (not need_dx)
    if use_bias:
        assert db.dtype == x.dtype and db.shape == (g["F"],)
        np.testing.assert_allclose(db, db_ref, **tol, err_msg=f"db ({path})")
    if need_dx:
        np.testing.assert_allclose(dx, dx_ref, **tol, err_msg=f"dx ({path})")


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")   # NumPy's products on ∞ − ∞
@pytest.mark.parametrize("path", ["direct", "im2col", "blocked", "winograd", "blocked 1-D Winograd",
                                  "blocked 2-D Winograd", "blocked sample loops"])
@settings(max_examples=15, deadline=None)
@given(g=geometries(), bad=st.sampled_from([None, np.nan, np.inf, -np.inf]), where=st.floats(0, 1, exclude_max=True),
       activation=st.sampled_from(["relu", "linear", "tanh"]), n_threads=st.sampled_from([1, 2]))
def test_conv_bias_activation_checked_is_the_forward_and_the_input_check_on_every_path(path, g, bad, where,
                                                                                       activation, n_threads):
    """``conv_bias_activation_checked`` returns the bits of ``conv_bias_activation`` and ``all_finite(x)``, with a
    NaN or ±∞ anywhere in any sample (or none), on every path of the fast family — among them the cache-blocked
    ones, whose tasks check the samples they read, one at a time or a group at a time (the im2col sample loops,
    with our product switched on whatever the CPU) — and in the reference family."""
    from unittest import mock
    from minidl.kernels import gemm_numba
    if path == "blocked 1-D Winograd":
        g.update(k=(1, 2 + g["seed"] % 2), W=max(g["W"], 3), strides=(1, 1), N=max(g["N"], 2))
        g["pads"] = padding_amounts((g["H"], g["W"]), g["k"], (1, 1), "valid" if g["seed"] % 3 else "same")
    if path == "blocked 2-D Winograd":
        g.update(k=(3, 3), H=max(g["H"], 3), W=max(g["W"], 3), strides=(1, 1), N=max(g["N"], 2))
        g["pads"] = padding_amounts((g["H"], g["W"]), (3, 3), (1, 1), "valid" if g["seed"] % 3 else "same")
    if path == "blocked sample loops":
        g.update(F=64, dtype=np.float32, N=max(g["N"], 2))
        if g["k"] == (1, 1) and g["strides"] == (1, 1) and not any(g["pads"]):
            g.update(k=(1, 2), W=max(g["W"], 2))
    rng, x, w, b = _data(g)
    if bad is not None:
        x.reshape(-1)[int(where * x.size)] = bad
    f = activations.get(activation)
    y_ref, finite_ref = REF.conv_bias_activation_checked(x, w, b, g["strides"], g["pads"], f)
    assert finite_ref is (bad is None)
    np.testing.assert_array_equal(y_ref, REF.conv_bias_activation(x, w, b, g["strides"], g["pads"], f))
    old_min_c = conv_blocked.WINOGRAD_1D_MIN_C
    conv_blocked.WINOGRAD_1D_MIN_C = 1
    loops = path == "blocked sample loops"
    spy = mock.patch.object(conv_blocked, "_im2col_forward_samples",
                            side_effect=conv_blocked._im2col_forward_samples)
    try:
        with (threads.limit_threads(n_threads), _conv_path("blocked" if path.startswith("blocked") else path),
              mock.patch.object(gemm_numba, "ENABLED", gemm_numba.ENABLED or loops),
              mock.patch.object(conv_blocked, "WINOGRAD", not loops), spy as forward_loop):
            y, finite = FAST.conv_bias_activation_checked(x, w, b, g["strides"], g["pads"], f)
            y_plain = FAST.conv_bias_activation(x, w, b, g["strides"], g["pads"], f)
    finally:
        conv_blocked.WINOGRAD_1D_MIN_C = old_min_c
    assert finite is (bad is None)
    if loops:
        assert forward_loop.call_count >= 2   # the groups' loops ran, with and without the check
    np.testing.assert_array_equal(y, y_plain, err_msg=f"{path}: checked vs plain forward bits")
    if bad is None:
        np.testing.assert_allclose(y, y_ref, **TOL[g["dtype"]], err_msg=f"{path}: fast vs reference")


@settings(max_examples=40, deadline=None)
@given(W=st.integers(3, 21), F=st.sampled_from([1, 5, 16, 32, 64, 65]), padding=st.sampled_from(["valid", "same"]),
       sw=st.sampled_from([1, 2]), relu=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**16))
def test_direct_row_written_out_cells_have_the_bits_of_the_plain_cell(W, F, padding, sw, relu, dtype, seed):
    """A 3×3 kernel on one channel (a genotype image's first layer): ``direct_row`` writes its interior cells
    out, four at a time with stride 1 and at most ``DIRECT_BLOCK_F`` filters, else one at a time — each the same
    nine products summed in the same order as the plain ``_direct_cell``, so the same bits, at every position
    of the row (edges, the cells left over after the blocks of four), with exact zeros before the ReLU."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, (2, 5, W, 1)).astype(dtype)   # small integers: exact zeros and ties
    w = rng.integers(-2, 3, (3, 3, 1, F)).astype(dtype) * dtype(0.5)
    b = rng.integers(-2, 3, F).astype(dtype)
    x[1] = rng.standard_normal((5, W, 1))
    pads = padding_amounts((5, W), (3, 3), (1, sw), padding)
    Ho, Wo = conv_numba.output_hw(x.shape, (3, 3), (1, sw), pads)
    for n in range(2):
        for i in range(Ho):
            row, cells = np.empty((Wo, F), dtype), np.empty((Wo, F), dtype)
            conv_numba.direct_row(x, w, b, n, i, 1, sw, pads[0], pads[2], relu, row)
            for j in range(Wo):
                conv_numba._direct_cell(x, w, b, n, i, j, 1, sw, pads[0], pads[2], relu, cells)
            np.testing.assert_array_equal(row, cells, err_msg=f"sample {n}, row {i}")


@pytest.mark.parametrize("n_threads", [1, 2])
def test_conv_layer_backward_of_a_sequence_equals_reference_on_r1_like_shapes(n_threads):
    """A Conv1D layer's backward (sequence in, 1-D kernel) through the blocked 1-D Winograd path at its real
    channel threshold and through im2col, on one and two threads."""
    rng = np.random.default_rng(11)
    f = activations.get("relu")
    for C in (conv_blocked.WINOGRAD_1D_MIN_C, 8):
        x = rng.standard_normal((3, 37, C)).astype(np.float32)
        w = (rng.standard_normal((2, C, 5)) * 0.1).astype(np.float32)
        b = rng.standard_normal(5).astype(np.float32)
        y = REF.conv_bias_activation(x, w, b, (1, 1), (0, 0, 0, 0), f)
        dy = rng.standard_normal(y.shape).astype(np.float32)
        expected = REF.conv_layer_backward(x, dy, y, w, (1, 1), (0, 0, 0, 0), f, True, True)
        with threads.limit_threads(n_threads):
            got = FAST.conv_layer_backward(x, dy, y, w, (1, 1), (0, 0, 0, 0), f, True, True)
        for name, a, e in zip(("dW", "db", "dx"), got, expected):
            assert a.shape == e.shape, name
            np.testing.assert_allclose(a, e, **TOL[np.float32], err_msg=f"{name}, C = {C}")


def test_bias_gradient_sums_every_row_for_any_row_count():
    rng = np.random.default_rng(3)
    for rows in (1, 7, 16, 1000):
        dz = rng.standard_normal((rows, 3, 4)).astype(np.float32)
        np.testing.assert_allclose(conv_numba.bias_gradient(dz), dz.reshape(-1, 4).sum(axis=0, dtype=np.float64),
                                   rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("m, r, points", [(2, 2, (0, 1)), (2, 3, (0, 1, -1)), (3, 2, (0, 1, -1)),
                                           (4, 2, (0, 1, -1, 2)), (4, 3, (0, 1, -1, 2, -2)),
                                           (6, 3, (0, 1, -1, 2, -2, Fraction(1, 2), Fraction(-1, 2)))])
def test_cook_toom_transforms_compute_the_correlation_exactly(m, r, points):
    """y = Aᵀ[(G g) ⊙ (Bᵀ d)] equals y_i = Σ_c d[i + c]·g[c], i < m, exactly (fractions), with integer Bᵀ."""
    BT, G, AT = winograd_numba.cook_toom(m, r, points)
    assert all(v.denominator == 1 for row in BT for v in row)
    rng = np.random.default_rng(m * 10 + r)
    for _ in range(3):
        d = [Fraction(int(v), 7) for v in rng.integers(-50, 50, m + r - 1)]
        g = [Fraction(int(v), 3) for v in rng.integers(-50, 50, r)]
        Gg = [sum(a * b for a, b in zip(row, g)) for row in G]
        BTd = [sum(a * b for a, b in zip(row, d)) for row in BT]
        y = [sum(a * u * v for a, u, v in zip(row, Gg, BTd)) for row in AT]
        assert y == [sum(d[i + c] * g[c] for c in range(r)) for i in range(m)]


def test_cook_toom_with_points_0_1_gives_the_textbook_f22():
    BT, G, AT = winograd_numba.cook_toom(2, 2, (0, 1))
    assert BT == [[1, -1, 0], [0, 1, 0], [0, -1, 1]] and G == [[1, 0], [1, 1], [0, 1]]
    assert AT == [[1, 1, 0], [0, 1, 1]]


@pytest.mark.parametrize("n_threads", [1, 2])
def test_a_sample_gets_the_same_output_bits_alone_and_in_a_batch(n_threads):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 30, 40, 6)).astype(np.float32)
    w = rng.standard_normal((3, 3, 6, 8)).astype(np.float32)
    old = conv_blocked.BLOCK_ROWS
    conv_blocked.BLOCK_ROWS = 80   # two output rows per block: several blocks per sample
    try:
        with threads.limit_threads(n_threads):
            batch = FAST.conv2d_forward(x, w, None, (1, 1), (1, 1, 1, 1), relu=True)
            alone = [FAST.conv2d_forward(x[n:n + 1], w, None, (1, 1), (1, 1, 1, 1), relu=True) for n in range(5)]
    finally:
        conv_blocked.BLOCK_ROWS = old
    np.testing.assert_array_equal(np.concatenate(alone), batch)


def test_winograd_path_is_taken_by_conv1d_shaped_kernels_only():
    assert winograd_numba.applicable((1, 2, 64, 64), (1, 1))
    assert winograd_numba.applicable((1, 3, 8, 4), (1, 1))
    assert not winograd_numba.applicable((1, 2, 64, 64), (1, 2))   # strided
    assert not winograd_numba.applicable((2, 2, 64, 64), (1, 1))   # two pixels high
    assert not winograd_numba.applicable((1, 5, 64, 64), (1, 1))   # no transform for width 5
    assert not winograd_numba.applicable((1, 2, 64, 64), (1, 1), output_width=3)   # less than two tiles
    assert winograd_numba.applicable((1, 2, 64, 64), (1, 1), output_width=999)


def _check_max_pooling(rng, x, args, tol):
    """Fast max pooling equals the reference: values and winners exactly, dx within ``tol``; returns the dy."""
    y_ref, arg_ref = REF.max_pool2d_forward(x, *args)
    y_fast, arg_fast = FAST.max_pool2d_forward(x, *args)
    np.testing.assert_array_equal(y_fast, y_ref)
    np.testing.assert_array_equal(arg_fast, arg_ref)
    dy = rng.standard_normal(y_ref.shape).astype(x.dtype)
    np.testing.assert_allclose(FAST.max_pool2d_backward(dy, arg_fast, x.shape, *args),
                               REF.max_pool2d_backward(dy, arg_ref, x.shape, *args), **tol)
    return dy


@SETTINGS
@given(geometries())
def test_fast_pooling_forward_and_backward_equal_reference(g):
    rng, x, _, _ = _data(g)
    tol = TOL[g["dtype"]]
    args = (g["k"], g["strides"], g["pads"])
    dy = _check_max_pooling(rng, x, args, tol)
    np.testing.assert_allclose(FAST.avg_pool2d_forward(x, *args), REF.avg_pool2d_forward(x, *args), **tol)
    np.testing.assert_allclose(FAST.avg_pool2d_backward(dy, x.shape, *args),
                               REF.avg_pool2d_backward(dy, x.shape, *args), **tol)


@SETTINGS
@given(geometries(), st.booleans())
def test_fast_max_pooling_with_tiling_windows_equals_reference_also_with_ties(g, ties):
    """Stride = pool size (the gather-form backward); on 0/1 data most windows have tied maxima."""
    rng, x, _, _ = _data(g)
    if ties:
        x = (x > 0).astype(g["dtype"])
    padding = "same" if any(g["pads"]) else "valid"
    args = (g["k"], g["k"], padding_amounts((g["H"], g["W"]), g["k"], g["k"], padding))
    _check_max_pooling(rng, x, args, dict(rtol=0, atol=0))   # each dx cell is one dy value: exact


@SETTINGS
@given(st.integers(1, 200), st.integers(1, 6), st.sampled_from([np.float32, np.float64]), st.integers(0, 2**16))
def test_fast_batchnorm_passes_equal_reference(M, C, dtype, seed):
    rng = np.random.default_rng(seed)
    x2 = (rng.standard_normal((M, C)) * 3 + 10).astype(dtype)  # an offset tests the variance's stability
    dy2 = rng.standard_normal((M, C)).astype(dtype)
    tol = TOL[dtype]
    mean_r, var_r = REF.batchnorm_stats(x2)
    mean_f, var_f = FAST.batchnorm_stats(x2)
    np.testing.assert_allclose(mean_f, mean_r, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(var_f, var_r, rtol=1e-9, atol=1e-12)
    inv_std = 1 / np.sqrt(var_r + 1e-3)
    scale, shift = rng.uniform(0.5, 2, C) * inv_std, rng.standard_normal(C)
    np.testing.assert_allclose(FAST.batchnorm_apply(x2, scale, shift), REF.batchnorm_apply(x2, scale, shift), **tol)
    sums_r = REF.batchnorm_backward_sums(dy2, x2, mean_r, inv_std)
    sums_f = FAST.batchnorm_backward_sums(dy2, x2, mean_r, inv_std)
    np.testing.assert_allclose(sums_f, sums_r, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(FAST.batchnorm_backward_input(dy2, x2, mean_r, inv_std, scale, *sums_r),
                               REF.batchnorm_backward_input(dy2, x2, mean_r, inv_std, scale, *sums_r), **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_batchnorm_apply_keeps_infinities_and_nan_as_the_reference(dtype):
    """``x·scale + shift`` of an infinite x is ±∞ and of a NaN is NaN, in both families (the fast apply pass once
    computed ``x·scale + x·0 + shift``: NaN for ±∞)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((50, 6)).astype(dtype)
    x[3, 1], x[7, 2], x[9, 4] = np.inf, -np.inf, np.nan
    scale, shift = rng.standard_normal(6), rng.standard_normal(6)
    fast, ref = FAST.batchnorm_apply(x, scale, shift), REF.batchnorm_apply(x, scale, shift)
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(ref))
    assert np.isinf(fast[3, 1]) and np.isinf(fast[7, 2]) and np.isnan(fast[9, 4])
    np.testing.assert_allclose(fast, ref, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_bias_relu_epilogue_and_relu_backward_equal_reference(dtype):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype)
    for relu in (False, True):
        expected = REF.bias_act_forward(z, b, relu)
        np.testing.assert_allclose(FAST.bias_act_forward(z.copy(), b, relu), expected, rtol=1e-6)
    dy = rng.standard_normal(z.shape).astype(dtype)
    np.testing.assert_array_equal(FAST.relu_backward(dy, expected), REF.relu_backward(dy, expected))


@pytest.mark.parametrize("activation", ["linear", "relu", {"name": "relu", "negative_slope": 0.1}, "tanh",
                                        {"name": "softmax", "axis": 1}], ids=str)
@pytest.mark.parametrize("sequence", [False, True], ids=["image", "sequence"])
@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no bias"])
def test_conv_bias_activation_and_its_backward_equal_the_three_plain_steps_in_both_families(activation, sequence,
                                                                                            use_bias):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 1, 9, 3) if sequence else (2, 5, 6, 3))
    w = rng.standard_normal((1, 2, 3, 4) if sequence else (2, 3, 3, 4))
    b = rng.standard_normal(4) if use_bias else None
    strides, pads = (1, 1), (0, 0, 0, 1)
    z = REF.conv2d_forward(x, w, b, strides, pads)
    if sequence:
        x, w, z = x[:, 0], w[0], z[:, 0]
    f = activations.get(activation)
    expected = f.forward(z)
    dy = rng.standard_normal(z.shape)
    expected_dz = f.backward(dy)
    for K in (REF, FAST):
        g = activations.get(activation)
        y = K.conv_bias_activation(x, w, b, strides, pads, g)
        assert y.shape == z.shape
        np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12, err_msg=K.__name__)
        dz = K.activation_backward(dy, y, g)
        if contract.is_plain_relu(g):   # [y > 0]: 0 where y is exactly 0 (nowhere here)
            expected_dz = np.where(y > 0, dy, 0)
        np.testing.assert_allclose(dz, expected_dz, rtol=1e-10, atol=1e-12, err_msg=K.__name__)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int32])
@pytest.mark.parametrize("size", [10, 1 << 17])
def test_all_finite_equals_reference_for_nan_inf_anywhere(dtype, size):
    x = np.ones(size, dtype=dtype)
    assert FAST.all_finite(x) and REF.all_finite(x)
    if np.issubdtype(dtype, np.floating):
        for bad in (np.nan, np.inf, -np.inf):
            for where in (0, size // 2, size - 1):
                y = x.copy()
                y[where] = bad
                assert not FAST.all_finite(y.reshape(2, -1)) and not REF.all_finite(y)


@pytest.mark.parametrize("n_parts", [1, 2, 3])
def test_all_finite_of_a_large_array_read_in_parts_finds_a_nan_or_inf_in_any_part(monkeypatch, n_parts):
    from minidl.kernels import checks
    import threading
    x = np.ones(1000, dtype=np.float64)
    monkeypatch.setattr(checks, "PARALLEL_BYTES", 4096)   # these 1,000 float64 are read in parts
    with threads.limit_threads(2):
        assert checks._threads_for(x.nbytes) == 2 and checks._threads_for(4095) == 1
        seen = []
        worker = threading.Thread(target=lambda: seen.append(checks._threads_for(x.nbytes)))
        worker.start()
        worker.join()
        assert seen == [1]   # a prefetch thread's check stays serial
    monkeypatch.setattr(checks, "_threads_for", lambda nbytes: n_parts)
    assert FAST.all_finite(x)
    for bad in (np.nan, np.inf, -np.inf):
        for where in (0, 332, 333, 334, 499, 500, 666, 667, 999):   # every part, and both sides of each edge
            y = x.copy()
            y[where] = bad
            assert not FAST.all_finite(y.reshape(10, -1)), (bad, where)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite_reads_the_exponent_bits_right_at_the_edges_and_on_views(dtype):
    info = np.finfo(dtype)
    edge = np.array([0.0, -0.0, info.max, -info.max, info.tiny, info.smallest_subnormal, -info.smallest_subnormal,
                     info.eps, 1.0], dtype=dtype)   # all finite, exponent fields from 0 to the largest finite
    for K in (REF, FAST):
        assert K.all_finite(edge) and K.all_finite(edge[:0])
        x = np.tile(edge, (4, 8))
        for view in (x, x.T, x[:, ::3], x[::2]):   # contiguous, transposed, strided
            assert K.all_finite(view)
        for bad in (np.nan, -np.nan, np.inf, -np.inf):
            y = x.copy()
            y[3, -1] = bad   # in each of the views below
            for view in (y, y.T, y[:, 2::3], y[1::2]):
                assert not K.all_finite(view), (K.__name__, bad)


@pytest.mark.parametrize("rows", [3, 1000])
def test_dense_products_equal_plain_matrix_products_in_both_families(rows):
    rng = np.random.default_rng(rows)
    x, W, dz = rng.standard_normal((rows, 7)), rng.standard_normal((7, 5)), rng.standard_normal((rows, 5))
    for K in (REF, FAST):
        np.testing.assert_allclose(K.matmul(x, W), x @ W, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(K.matmul(x[None], W), x[None] @ W, rtol=1e-12, atol=1e-12)   # rank 3
        np.testing.assert_allclose(K.weight_gradient(x, dz), x.T @ dz, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["reference", "fast"])
def test_epilogue_functions_return_new_arrays_and_leave_their_arguments_unchanged(name):
    K = family(name)
    rng = np.random.default_rng(2)
    z = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    before = z.copy()
    for bias in (b, None):
        for relu in (False, True):
            y = K.bias_act_forward(z, bias, relu)
            assert not np.shares_memory(y, z)
            np.testing.assert_array_equal(z, before)
    dy = rng.standard_normal(z.shape).astype(np.float32)
    dy_before = dy.copy()
    dz = K.relu_backward(dy, z)
    assert not np.shares_memory(dz, dy)
    np.testing.assert_array_equal(dy, dy_before)
    np.testing.assert_array_equal(z, before)


def test_reference_dx_full_convolution_equals_direct_scatter_of_the_chain_rule():
    """The flipped-kernel derivation in the reference equals the chain rule applied pixel by pixel."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 7, 6, 3))
    w = rng.standard_normal((3, 2, 3, 4))
    strides, pads = (2, 3), (1, 1, 0, 1)
    dy = rng.standard_normal(REF.conv2d_forward(x, w, None, strides, pads).shape)
    dxp = np.zeros((2, 9, 7, 3))
    for i in range(dy.shape[1]):
        for j in range(dy.shape[2]):
            dxp[:, 2 * i:2 * i + 3, 3 * j:3 * j + 2, :] += np.einsum("nf,abkf->nabk", dy[:, i, j], w)
    np.testing.assert_allclose(REF.conv2d_backward_input(dy, w, x.shape, strides, pads), dxp[:, 1:8, 0:6], rtol=1e-12)


@pytest.mark.parametrize("size, k, s, expected", [(7, 3, 2, (1, 1)), (6, 3, 2, (0, 1)), (5, 2, 1, (0, 1)),
                                                  (4, 4, 1, (1, 2)), (9, 1, 3, (0, 0))])
def test_same_padding_puts_the_extra_pixel_after_as_tensorflow(size, k, s, expected):
    assert same_padding(size, k, s) == expected


def _parameters(signature, drop_self=False):
    params = list(signature.parameters.values())[int(drop_self):]
    return [(p.name, p.kind, p.default) for p in params]


@pytest.mark.parametrize("name", ["reference", "fast"])
def test_each_family_is_a_module_exporting_exactly_the_contract_with_its_signatures(name):
    module = family(name)
    assert module.__name__ == f"minidl.kernels.{name}"
    assert sorted(module.__all__) == sorted(contract.functions())
    assert len(contract.functions()) == len(set(contract.functions())) > 10
    for function in contract.functions():
        expected = inspect.signature(getattr(contract.KernelFamily, function))
        actual = inspect.signature(getattr(module, function))
        assert _parameters(actual) == _parameters(expected, drop_self=True), f"{name}.{function}{actual}"
        if name == "fast":   # its own implementation, not the reference's function re-exported
            assert getattr(module, function) is not getattr(REF, function), function


def test_active_family_follows_use_kernels():
    with use_kernels("reference"):
        assert active() is family("reference")
    with use_kernels("fast"):
        assert active() is family("fast")


def test_unknown_kernel_family_is_a_clear_error():
    with pytest.raises(ValueError, match="kernel family must be 'reference' or 'fast'"):
        family("gpu")


def test_limit_threads_sets_both_pools_and_restores_them():
    import numba

    from minidl import threads
    before = threads.thread_info()
    with threads.limit_threads(1):
        info = threads.thread_info()
        assert info["numba"] == 1
        assert info["blas"] in (1, None)   # None only if no OpenBLAS is loaded
    assert threads.thread_info()["numba"] == before["numba"] == numba.get_num_threads()
    with pytest.raises(ValueError, match="positive number of threads"):
        threads.set_num_threads(0)


@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_equals_the_plain_product_with_a_long_inner_dimension(n_threads, dtype):
    """A long inner dimension (a Dense layer after Flatten, here 32 units: the BLAS's products) in fixed groups
    side by side: the plain product's numbers, the same bits on 2 and 3 threads, in a model's passes or not."""
    from minidl import threads
    from minidl.kernels import blas
    rng = np.random.default_rng(4)
    K = blas.LONG_INNER + 2 * blas.LONG_BLAS_GROUP + 5   # a partial last group
    a, b = rng.standard_normal((6, K)).astype(dtype), rng.standard_normal((K, 32)).astype(dtype)
    expected = a.astype(np.float64) @ b
    tol = dict(rtol=0, atol=(4e-7 if dtype == np.float32 else 1e-15) * np.sqrt(K) * np.abs(expected).max())
    with threads.limit_threads(n_threads):
        z = blas.matmul(a, b)
        assert z.dtype == dtype
        np.testing.assert_allclose(z, expected, **tol)
        with blas.single_threaded_blas():
            np.testing.assert_array_equal(blas.matmul(a, b), z)
        np.testing.assert_allclose(blas.matmul(a[:, :10], b[:10]), a[:, :10] @ b[:10], rtol=1e-5)
    with threads.limit_threads(2):
        z2 = blas.matmul(a, b)
    if n_threads > 1:
        np.testing.assert_array_equal(z, z2)   # fixed groups: the same bits on 2 or 3 threads


@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("inner", ["long", "long, odd"])
def test_dense_products_after_flatten_by_our_product_equal_the_plain_products(n_threads, inner, monkeypatch):
    """A Dense layer after Flatten (a long input, 64k units): ``x·W`` by our product in fixed groups of the inner
    dimension (:func:`blas._long_product`), ``xᵀ·dz`` in blocks of output rows, and ``dz·Wᵀ`` in blocks of
    columns — the plain products' numbers, on every thread count, with our product switched on whatever the
    CPU (it is only slower without AVX-512); the partial groups' sums do not depend on the threads."""
    from minidl.kernels import blas, gemm_numba
    monkeypatch.setattr(gemm_numba, "ENABLED", True)
    rng = np.random.default_rng(12)
    K = blas.LONG_INNER + (3 * blas.LONG_GROUP + 77 if inner == "long, odd" else 0)
    x = rng.standard_normal((6, K)).astype(np.float32)
    w = rng.standard_normal((K, 128)).astype(np.float32)
    dz = rng.standard_normal((6, 128)).astype(np.float32)
    x64, w64, dz64 = (v.astype(np.float64) for v in (x, w, dz))
    calls = []
    monkeypatch.setattr(gemm_numba, "gemm_long",
                        lambda *args, f=gemm_numba.gemm_long: calls.append(1) or f(*args))
    with threads.limit_threads(n_threads), blas.single_threaded_blas():
        z = blas.matmul(x, w)
        dw = blas.reduction_dot(x, dz)
        dx = blas.matmul(dz, w.T)
    assert bool(calls) == (n_threads > 1)   # one thread: the BLAS's own product
    for got, expected, k in ((z, x64 @ w64, K), (dw, x64.T @ dz64, 6), (dx, dz64 @ w64.T, 128)):
        assert got.dtype == np.float32 and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=4e-7 * np.sqrt(k) * np.abs(expected).max())
    with threads.limit_threads(2), blas.single_threaded_blas():
        z2 = blas.matmul(x, w)
    if n_threads > 1:
        np.testing.assert_array_equal(z, z2)   # fixed groups: the same bits on 2 or 3 threads


@pytest.mark.parametrize("n_threads", [1, 2])
def test_single_threaded_blas_sets_one_thread_inside_nested_and_restores_after(n_threads):
    from minidl.kernels import blas
    with threads.limit_threads(n_threads):
        with blas.single_threaded_blas():
            assert blas.blas_threads() == 1
            with blas.single_threaded_blas():
                assert blas.blas_threads() == 1
            assert blas.blas_threads() == 1   # the inner one leaves the outer's setting alone
        assert blas.blas_threads() == n_threads
        with pytest.raises(ZeroDivisionError):   # restored also when the body raises
            with blas.single_threaded_blas():
                1 / 0
        assert blas.blas_threads() == n_threads


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_in_row_blocks_with_a_single_threaded_blas_equals_the_plain_product(n_threads, dtype):
    """Large products (a Dense layer's dz·Wᵀ) are cut in row blocks over the threads when the BLAS is on one
    thread: the same numbers, for every row count (odd, fewer rows than blocks)."""
    from minidl.kernels import blas
    rng = np.random.default_rng(8)
    for rows in (2, 3, 7, 64):
        inner = int(blas.PARALLEL_FLOPS // (2 * rows * 300)) + 1   # just above the threshold
        a, b = rng.standard_normal((rows, inner)).astype(dtype), rng.standard_normal((inner, 300)).astype(dtype)
        with threads.limit_threads(n_threads), blas.single_threaded_blas():
            got = blas.matmul(a, b)
        assert got.dtype == dtype and got.shape == (rows, 300)
        expected = a.astype(np.float64) @ b.astype(np.float64)
        # float32 sums of ~1,000 terms: the error follows the largest output (cancellation near 0)
        np.testing.assert_allclose(got, expected, rtol=TOL[dtype]["rtol"],
                                   atol=TOL[dtype]["atol"] * np.abs(expected).max())


@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_parallel_dots_computes_every_product_and_restores_blas_threads(n_threads):
    from minidl import threads
    from minidl.kernels import blas
    rng = np.random.default_rng(3)
    pairs = [(rng.standard_normal((40, 30)), rng.standard_normal((30, k + 1))) for k in range(5)]
    pairs.append((rng.standard_normal((30, 40)).T, rng.standard_normal((30, 6))))   # a transposed view
    outs = [np.empty((a.shape[0], b.shape[1])) for a, b in pairs]
    before = threads.thread_info()["blas"]
    blas.parallel_dots([(a, b, out) for (a, b), out in zip(pairs, outs)], n_threads=n_threads)
    for (a, b), out in zip(pairs, outs):
        np.testing.assert_allclose(out, a @ b, rtol=1e-12, atol=1e-12)
    assert threads.thread_info()["blas"] == before


@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_run_tasks_runs_every_task_once_on_at_most_n_threads_and_raises_the_first_error(n_threads):
    """The workers share one list of tasks: each task runs exactly once, on at most ``n_threads`` threads, with
    OpenBLAS on one thread inside and restored after. When a task raises, the workers take no new task (each
    finishes the one it holds), every worker is waited for, the error reaches the caller and the BLAS threads
    are restored. (Without OpenBLAS thread control the tasks run in turn: the same assertions hold.)"""
    import threading
    import time
    from minidl import threads
    from minidl.kernels import blas
    before = threads.thread_info()["blas"]
    ran, names, inside = [], set(), set()

    def task(k):
        time.sleep(0.001)   # let every worker take some
        ran.append(k)
        names.add(threading.current_thread().name)
        inside.add(blas.blas_threads())

    blas.run_tasks([lambda k=k: task(k) for k in range(40)], n_threads=n_threads)
    assert sorted(ran) == list(range(40))
    assert len(names) <= n_threads and inside <= {1, None}
    assert threads.thread_info()["blas"] == before

    started = []

    def failing(k):
        started.append(k)
        if k == 3:
            raise ValueError("task 3 failed")
        time.sleep(0.002)   # the others are still busy when task 3 fails

    with pytest.raises(ValueError, match="task 3 failed"):
        blas.run_tasks([lambda k=k: failing(k) for k in range(200)], n_threads=n_threads)
    # tasks 0–3, and at most one more taken by each other worker before it saw the failure
    assert 4 <= len(started) <= 4 + n_threads - 1 and len(set(started)) == len(started)
    assert threads.thread_info()["blas"] == before


@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("rows", [0, 1, 2, 7, 13, 64])
def test_run_row_blocks_covers_every_row_once_in_contiguous_ranges(rows, n_threads):
    """``kernel(*args, r0, r1)`` over ranges that tile ``range(rows)`` exactly (no row twice, none left out), with
    at most ``ROW_BLOCKS_PER_THREAD`` blocks per thread; one call over every row when ``serial``, with one
    thread, or from inside a task of the pool (nested: run in the calling thread, never waiting on the pool)."""
    import threading
    from minidl.kernels import blas
    calls, names = [], set()

    def kernel(tag, r0, r1):
        calls.append((tag, r0, r1))
        names.add(threading.current_thread().name)

    with threads.limit_threads(n_threads):
        blas.run_row_blocks(kernel, rows, "a")
        covered = sorted(r for _, r0, r1 in calls for r in range(r0, r1))
        assert covered == list(range(rows)) and all(tag == "a" and r0 < r1 or rows == 0 for tag, r0, r1 in calls)
        assert len(calls) <= max(1, blas.ROW_BLOCKS_PER_THREAD * n_threads)
        if n_threads == 1 or rows < 2:
            assert calls == [("a", 0, rows)]
        calls.clear()
        blas.run_row_blocks(kernel, rows, "s", serial=True)
        assert calls == [("s", 0, rows)]
        calls.clear()
        nested = []
        blas.run_tasks([lambda: blas.run_row_blocks(lambda r0, r1: nested.append(
            (threading.current_thread().name, r0, r1)), rows) for _ in range(3)])
        assert len(nested) == 3 and all(r0 == 0 and r1 == rows for _, r0, r1 in nested)


def test_run_tasks_interrupted_while_waiting_stops_taking_tasks(monkeypatch):
    """Ctrl-C while the caller waits for the workers: the interruption reaches the caller, and the workers take
    no new task (each finishes the one it holds) instead of running the rest of the list in the background."""
    import concurrent.futures
    import time
    from minidl.kernels import blas
    if not blas._openblas_setters():   # not the case with NumPy's OpenBLAS (CI): without it tasks run in turn
        pytest.fail("no OpenBLAS thread control: run_tasks would not use worker threads")
    started = []

    def interrupted_wait(jobs, *args, **kwargs):
        time.sleep(0.01)
        raise KeyboardInterrupt

    monkeypatch.setattr(concurrent.futures, "wait", interrupted_wait)
    with pytest.raises(KeyboardInterrupt):
        blas.run_tasks([lambda k=k: (started.append(k), time.sleep(0.002)) for k in range(500)], n_threads=2)
    time.sleep(0.05)   # the workers finish what they hold
    count = len(started)
    time.sleep(0.05)
    assert len(started) == count < 100   # stopped early, and nothing runs on afterwards


@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reduction_dot_with_a_short_sum_and_a_wide_output_in_output_row_blocks(n_threads, dtype, monkeypatch):
    """A short sum (fewer rows than one block) with a large output — a Dense layer's dW after Flatten, aᵀ·b
    with a ``(64, 68,992)`` — is cut in blocks of output rows over the threads: the same numbers, ``out``
    filled in place, and the blocks are taken (with several threads) or not (one)."""
    from minidl.kernels import blas
    rng = np.random.default_rng(11)
    R, N = 16, 24
    M = int(blas.PARALLEL_FLOPS // (2 * R * N)) + 37   # just above the threshold, not a multiple of the blocks
    a, b = rng.standard_normal((R, M)).astype(dtype), rng.standard_normal((R, N)).astype(dtype)
    calls = []
    real = blas.parallel_dots
    monkeypatch.setattr(blas, "parallel_dots", lambda products, n=None: (calls.append(n), real(products, n)))
    with threads.limit_threads(n_threads), blas.single_threaded_blas():
        out = np.full((M, N), np.nan, dtype=dtype)
        assert blas.reduction_dot(a, b, out=out) is out
    assert len(calls) == (1 if n_threads > 1 else 0)
    expected = a.T.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(out, expected, rtol=TOL[dtype]["rtol"], atol=TOL[dtype]["atol"] * np.abs(expected).max())


@pytest.mark.parametrize("rows", [1, 383, 384, 385, 2000])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_reduction_dot_equals_the_plain_product_for_every_block_split(rows, n_threads):
    from minidl import threads
    from minidl.kernels import blas
    rng = np.random.default_rng(rows)
    a, b = rng.standard_normal((rows, 7)), rng.standard_normal((rows, 5))
    before = threads.thread_info()["blas"]
    np.testing.assert_allclose(blas.reduction_dot(a, b, n_threads=n_threads), a.T @ b, rtol=1e-12, atol=1e-12)
    out = np.empty((7, 5))
    assert blas.reduction_dot(a, b, out=out, n_threads=n_threads) is out
    np.testing.assert_allclose(out, a.T @ b, rtol=1e-12, atol=1e-12)
    assert threads.thread_info()["blas"] == before


def test_written_out_f42_transforms_are_the_cook_toom_matrices_of_f42():
    """The F(4, 2) tiles written out in winograd_numba (BT_F42, AT_F42) are what cook_toom gives for TILES[2]:
    changing the points there must change them too."""
    BT, _, AT = winograd_numba.transforms(2, np.float64)
    np.testing.assert_array_equal(BT, np.array(winograd_numba.BT_F42, dtype=float))
    np.testing.assert_array_equal(AT, np.array(winograd_numba.AT_F42, dtype=float))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_written_out_f42_tiles_equal_the_loops_over_the_coefficients(dtype):
    """Interior tiles (written out) and the generic loops give the same V, M → y and dM, edge tiles included."""
    rng = np.random.default_rng(2)
    BT, _, AT = winograd_numba.transforms(2, dtype)
    x = rng.standard_normal((1, 23, 7)).astype(dtype)
    T = -(-22 // 4)
    V = np.empty((5, T, 7), dtype)
    for t in range(T):
        winograd_numba._input_tile(x, 0, t, t, BT, 4, 0, V)
    padded = np.concatenate([x[0], np.zeros((4 * T + 1 - 23, 7), dtype)])
    tiles = np.stack([padded[4 * t:4 * t + 5] for t in range(T)])            # (T, 5, C)
    np.testing.assert_allclose(V, np.einsum("xj,tjc->xtc", BT, tiles), rtol=1e-6, atol=1e-6)
    M = rng.standard_normal((5, T, 3)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    for relu in (False, True):
        y = np.full((1, 22, 3), np.nan, dtype)
        for t in range(T):
            winograd_numba._output_tile(M, 0, t, t, AT, b, relu, y)
        expected = (np.einsum("ix,xtf->tif", AT, M).reshape(-1, 3)[:22] + b)
        np.testing.assert_allclose(y[0], np.maximum(expected, 0) if relu else expected, rtol=1e-6, atol=1e-6)
    dy = rng.standard_normal((1, 22, 3)).astype(dtype)
    dM = np.empty((5, T, 3), dtype)
    for t in range(T):
        winograd_numba._output_tile_backward(dy, 0, t, t, AT, dM)
    dy_tiles = np.concatenate([dy[0], np.zeros((4 * T - 22, 3), dtype)]).reshape(T, 4, 3)
    np.testing.assert_allclose(dM, np.einsum("ix,tif->xtf", AT, dy_tiles), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kernel", [(3, 3, 4, 5), (1, 2, 6, 3), (2, 2, 3, 4)], ids=["2-D Winograd", "1-D Winograd",
                                                                                  "im2col"])
def test_blocked_backward_has_the_same_bits_on_one_and_two_threads_with_several_sample_groups(kernel):
    """The weight gradient is summed over fixed groups of samples (SAMPLES_PER_TASK), in group order: the bits
    do not depend on the thread count, with a batch of several groups and a partial last one."""
    rng = np.random.default_rng(12)
    N = 2 * conv_blocked.SAMPLES_PER_TASK + 3
    x = rng.standard_normal((N, 1 if kernel[0] == 1 else 7, 9, kernel[2])).astype(np.float32)
    w = rng.standard_normal(kernel).astype(np.float32)
    y = REF.conv_bias_activation(x, w, None, (1, 1), (0, 0, 0, 0), activations.get("relu"))
    dy = rng.standard_normal(y.shape).astype(np.float32)
    old = conv_blocked.WINOGRAD_1D_MIN_C
    conv_blocked.WINOGRAD_1D_MIN_C = 1
    try:
        results = []
        for n_threads in (1, 2):
            with threads.limit_threads(n_threads):
                results.append(conv_blocked.layer_backward(x, dy, y, w, (1, 1), (0, 0, 0, 0), True, True, True))
    finally:
        conv_blocked.WINOGRAD_1D_MIN_C = old
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)
    expected = REF.conv_layer_backward(x, dy, y, w, (1, 1), (0, 0, 0, 0), activations.get("relu"), True, True)
    for got, want in zip(results[1], expected):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4 * np.abs(want).max())
