"""Winograd in the cache-blocked path: F(m×m, 3×3) (``kernels/winograd2d_numba.py``) for 3×3 stride-1 Conv2D,
forward and backward, and F(4, r) per block for Conv1D with many channels: equal to the reference convolution
(hypothesis, float32/float64, any padding, partial tiles); the written-out F(2×2) transforms equal to the
general ones, their backward versions the transposes of the forward ones; the float32 error measured against
float64."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl import threads
from minidl.kernels import conv_blocked, family, padding_amounts, winograd2d_numba as w2

REF = family("reference")
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-11)}


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.integers(3, 11), st.integers(3, 13), st.integers(1, 6), st.integers(1, 5),
       st.sampled_from(["valid", "same"]), st.booleans(), st.sampled_from([np.float32, np.float64]),
       st.sampled_from([2, 4]), st.sampled_from([1, 7, 256]), st.sampled_from([1, 2]), st.integers(0, 2**16))
def test_blocked_winograd_forward_equals_reference(N, H, W, C, F, padding, relu, dtype, m, block_tiles, n_threads,
                                                   seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, H, W, C)).astype(dtype)
    w = rng.standard_normal((3, 3, C, F)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    pads = padding_amounts((H, W), (3, 3), (1, 1), padding)
    ref = REF.conv2d_forward(x, w, b, (1, 1), pads, relu=relu)
    old = w2.TILE, w2.BLOCK_TILES
    w2.TILE, w2.BLOCK_TILES = m, block_tiles   # 1 tile per block: blocks meet everywhere
    try:
        assert conv_blocked.WINOGRAD and w2.applicable(w.shape, (1, 1))
        with threads.limit_threads(n_threads):
            got = conv_blocked.conv_forward(x, w, b, (1, 1), pads, *ref.shape[1:3], relu)
    finally:
        w2.TILE, w2.BLOCK_TILES = old
    assert got.dtype == x.dtype
    # Winograd's rounding error scales with the largest output, not with each output: an output near 0 next
    # to large ones carries an absolute error of a few ulps of the large ones (F(4×4) in float32: ≈ 3e-6 of
    # the largest, RESULTS.md), so the absolute tolerance follows the largest output
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(got, ref, rtol=TOL[dtype]["rtol"], atol=TOL[dtype]["atol"] * scale)


def test_written_out_f2_transforms_equal_the_general_ones():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 9, 12, 5)).astype(np.float32)
    BT, G, AT = w2.transforms(np.float32, m=2)
    Tw, tiles = 6, 3 * 6
    V, V2 = np.empty((16, tiles, 5), np.float32), np.empty((16, tiles, 5), np.float32)
    tmp = np.empty((4, 4, 5), np.float32)
    w2.input_transform(x, 1, 1, 4, 1, 1, BT, 2, Tw, tmp, V)
    w2.input_transform_f2(x, 1, 1, 4, 1, 1, Tw, tmp, V2)
    np.testing.assert_array_equal(V, V2)   # integer coefficients: the same sums
    M = rng.standard_normal((16, tiles, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    out, out2 = np.zeros((5, 11, 3), np.float32), np.zeros((5, 11, 3), np.float32)
    w2.output_transform(M, 1, 4, AT, Tw, b, True, 9, 2, np.empty((2, 4, 3), np.float32), out)
    w2.output_transform_f2(M, 1, 4, Tw, b, True, 9, 2, np.empty((2, 4, 3), np.float32), out2)
    np.testing.assert_allclose(out, out2, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_written_out_f4_transforms_equal_the_general_ones(dtype):
    """F(4×4)'s written-out transforms (fused inference blocks): the general loops' numbers, in the input's
    type (their multiples are exact doublings, so a float32 input stays float32), at the image's edges (the
    tiles start outside the padded image, the last ones are partial) and for the rows of a block only."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 11, 14, 5)).astype(dtype)
    BT, G, AT = w2.transforms(dtype, m=4)
    Tw, tiles = 4, 2 * 4
    V, V4 = np.empty((36, tiles, 5), dtype), np.empty((36, tiles, 5), dtype)
    w2.input_transform(x, 1, 1, 3, 1, 1, BT, 4, Tw, np.empty((6, 6, 5), dtype), V)
    w2.input_transform_f4(x, 1, 1, 3, 1, 1, Tw, np.empty((6, 6, 5), dtype), V4)
    np.testing.assert_allclose(V4, V, **TOL[dtype])
    M = rng.standard_normal((36, tiles, 3)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    for relu in (False, True):
        out, out4 = np.full((7, 14, 3), 7.0, dtype), np.full((7, 14, 3), 7.0, dtype)
        w2.output_transform(M, 1, 3, AT, Tw, b, relu, 10, 3, np.empty((4, 6, 3), dtype), out)
        w2.output_transform_f4(M, 1, 3, Tw, b, relu, 10, 3, np.empty((4, 6, 3), dtype), out4)
        np.testing.assert_allclose(out4, out, **TOL[dtype])
        assert (out4[0] == 7.0).all() and not (out4[1:] == 7.0).any()   # rows 4 … 9 written, row 3 (out[0]) not
        assert out4.dtype == dtype


@pytest.mark.parametrize("m, bound", [(2, 1e-6), (4, 1e-5)])
def test_float32_error_against_float64_stays_near_im2col(m, bound):
    """R0's second convolution (C = 32 → F = 64, 3×3) on [0, 1) inputs: the largest error relative to the
    largest output, float32 against the float64 reference (measured: im2col ≈ 9e-7, F(2×2) 3e-7, F(4×4) 3e-6)."""
    rng = np.random.default_rng(1)
    x = rng.random((2, 10, 30, 32))
    w = rng.standard_normal((3, 3, 32, 64)) * 0.1
    ref = REF.conv2d_forward(x, w, None, (1, 1), (0, 0, 0, 0))
    old, w2.TILE = w2.TILE, m
    try:
        got = conv_blocked.conv_forward(x.astype(np.float32), w.astype(np.float32), None, (1, 1), (0, 0, 0, 0),
                                        8, 28, False)
    finally:
        w2.TILE = old
    assert np.abs(got - ref).max() / np.abs(ref).max() < bound


def test_backward_float32_error_against_float64_stays_near_im2col():
    """The same layer's ``dW`` and ``dx`` by F(2×2) run backwards, float32 against the float64 reference
    (measured: 3.7e-7 and 2.9e-7; dx by the forward pass of dy with the flipped kernel gave 3.2e-7)."""
    rng = np.random.default_rng(1)
    x = rng.random((2, 10, 30, 32))
    w = rng.standard_normal((3, 3, 32, 64)) * 0.1
    dy = rng.standard_normal((2, 8, 28, 64))
    dW_ref, dx_ref = REF.conv2d_backward(x, dy, w, (1, 1), (0, 0, 0, 0))
    f32 = [a.astype(np.float32) for a in (x, dy, w)]
    dW, dx = conv_blocked.conv_backward(*f32, (1, 1), (0, 0, 0, 0), True)
    assert np.abs(dW - dW_ref).max() / np.abs(dW_ref).max() < 1e-6
    assert np.abs(dx - dx_ref).max() / np.abs(dx_ref).max() < 1e-6


def test_kernel_transform_is_g_w_g_transposed_per_channel_pair():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((3, 3, 2, 3))
    _, G, _ = w2.transforms(np.float64, m=2)
    U = w2.kernel_transform(w, G)
    assert U.shape == (16, 2, 3) and U.flags.c_contiguous
    np.testing.assert_allclose(U.reshape(4, 4, 2, 3)[:, :, 1, 2], G @ w[:, :, 1, 2] @ G.T, rtol=1e-12)


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 3), st.integers(3, 9), st.integers(3, 11), st.integers(1, 5), st.integers(1, 5),
       st.sampled_from(["valid", "same"]), st.sampled_from([np.float32, np.float64]), st.sampled_from([1, 256]),
       st.sampled_from([1, 2]), st.integers(0, 2**16))
def test_blocked_backward_with_winograd_weight_and_input_gradients_equals_reference(N, H, W, C, F, padding, dtype,
                                                                                    block_tiles, n_threads, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, H, W, C)).astype(dtype)
    w = rng.standard_normal((3, 3, C, F)).astype(dtype)
    pads = padding_amounts((H, W), (3, 3), (1, 1), padding)
    dy = rng.standard_normal(REF.conv2d_forward(x, w, None, (1, 1), pads).shape).astype(dtype)
    dW_ref, dx_ref = REF.conv2d_backward(x, dy, w, (1, 1), pads)
    old = w2.BLOCK_TILES
    w2.BLOCK_TILES = block_tiles   # 1 tile per block: the blocks' overlapping rows of dx add up
    try:
        with threads.limit_threads(n_threads):
            dW, dx = conv_blocked.conv_backward(x, dy, w, (1, 1), pads, True)
            dW_only, none = conv_blocked.conv_backward(x, dy, w, (1, 1), pads, False)
    finally:
        w2.BLOCK_TILES = old
    assert dW.dtype == dx.dtype == x.dtype and none is None
    np.testing.assert_allclose(dW, dW_ref, **TOL[dtype])
    np.testing.assert_allclose(dx, dx_ref, **TOL[dtype])
    np.testing.assert_array_equal(dW_only, dW)


@pytest.mark.parametrize("top, left", [(0, 0), (1, 1), (2, 2), (1, 2)])
def test_backward_f2_transforms_are_the_transposes_of_the_forward_ones(top, left):
    """``⟨T x, v⟩ = ⟨x, Tᵀ v⟩`` in float64 for the input transform (general loops) and its written-out transpose,
    and for the output transform and its transpose (partial tiles at the bottom and right edges)."""
    rng = np.random.default_rng(top * 3 + left)
    H, W, C, F, Tw = 9, 12, 3, 4, 6
    BT, _, AT = w2.transforms(np.float64, m=2)
    x = rng.standard_normal((2, H, W, C))
    V = np.empty((16, 3 * Tw, C))
    w2.input_transform(x, 1, 1, 4, top, left, BT, 2, Tw, np.empty((4, 4, C)), V)
    dV = rng.standard_normal(V.shape)
    dx = np.zeros_like(x)
    w2.input_transform_backward_f2(dV, 1, 1, 4, top, left, Tw, np.empty((4, 4, C)), dx)
    assert not dx[0].any()
    np.testing.assert_allclose(np.vdot(V, dV), np.vdot(x, dx), rtol=1e-12)
    Ho, Wo = 7, 11   # the last tile row and column half outside
    M = rng.standard_normal((16, 4 * Tw, F))
    y = np.zeros((Ho, Wo, F))
    w2.output_transform_f2(M, 0, 4, Tw, np.zeros(F), False, Ho, 0, np.empty((2, 4, F)), y)
    dy = rng.standard_normal((2, Ho, Wo, F))
    dM = np.empty_like(M)
    w2.output_transform_backward_f2(dy, 1, 0, 4, Tw, np.empty((2, 4, F)), dM)
    np.testing.assert_allclose(np.vdot(y, dy[1]), np.vdot(M, dM), rtol=1e-12)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 3), st.integers(1, 2), st.integers(3, 21), st.integers(1, 6), st.sampled_from([2, 3]),
       st.sampled_from(["valid", "same"]), st.booleans(), st.booleans(), st.sampled_from([np.float32, np.float64]),
       st.integers(0, 2**16))
def test_blocked_1d_winograd_forward_and_backward_equal_reference(N, H, W, F, k, padding, relu, need_dx, dtype, seed):
    """Kernels one pixel high with many channels: F(4, r) per block (``WINOGRAD_1D_MIN_C`` lowered to reach it)."""
    rng = np.random.default_rng(seed)
    C = 3
    x = rng.standard_normal((N, H, W, C)).astype(dtype)
    w = rng.standard_normal((1, k, C, F)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    pads = padding_amounts((H, W), (1, k), (1, 1), padding)
    ref = REF.conv2d_forward(x, w, b, (1, 1), pads, relu=relu)
    dy = rng.standard_normal(ref.shape).astype(dtype)
    dW_ref, dx_ref = REF.conv2d_backward(x, dy, w, (1, 1), pads)
    old, conv_blocked.WINOGRAD_1D_MIN_C = conv_blocked.WINOGRAD_1D_MIN_C, 1
    try:
        assert conv_blocked._winograd_1d(w.shape, (1, 1), ref.shape[2]) or ref.shape[2] < 8
        got = conv_blocked.conv_forward(x, w, b, (1, 1), pads, *ref.shape[1:3], relu)
        dW, dx = conv_blocked.conv_backward(x, dy, w, (1, 1), pads, need_dx)
    finally:
        conv_blocked.WINOGRAD_1D_MIN_C = old
    np.testing.assert_allclose(got, ref, **TOL[dtype])
    np.testing.assert_allclose(dW, dW_ref, **TOL[dtype])
    if need_dx:
        np.testing.assert_allclose(dx, dx_ref, **TOL[dtype])
    else:
        assert dx is None
