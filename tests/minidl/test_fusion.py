"""Fused inference blocks (``minidl.inference``, ``kernels/fusion_numba.py``) compute what the layers compute.

* kernel: ``fast.conv_inference`` has the bits of the fast family's unfused steps, and equals
  ``reference.conv_inference`` (hypothesis over geometries, pools, orders, dtypes, both conv paths);
* model: ``predict``/``evaluate`` with the plan equal the layer-by-layer forward, and the plan groups the
  layers it should (and no others).

One exception to "the same bits": a fused block whose convolution is a 3×3 stride-1 Winograd one computes
F(4×4, 3×3) (``winograd2d_numba.INFERENCE_TILE``: 44 % fewer products) where the layer's own forward computes
F(2×2, 3×3), so the two agree to F(4×4)'s rounding (float32: about 4e-6 of the largest output). The bit-for-bit
checks below therefore run with ``INFERENCE_TILE = 2`` (:func:`_f2_blocks`), and the default blocks are checked
against the reference and the layers within that rounding.
"""

import contextlib


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl import activations, inference, threads
from minidl.kernels import conv_blocked, family, fusion_numba, padding_amounts, winograd2d_numba

REF, FAST = family("reference"), family("fast")
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-11)}


@contextlib.contextmanager
def _f2_blocks():
    """Fused 3×3 Winograd blocks with the layers' own F(2×2) tiles (module docstring), restored after."""
    old, winograd2d_numba.INFERENCE_TILE = winograd2d_numba.INFERENCE_TILE, 2
    try:
        yield
    finally:
        winograd2d_numba.INFERENCE_TILE = old


def _close_to(got, expected, dtype):
    """Equal up to the rounding of a Winograd F(4×4) block, which follows the largest output."""
    tol = TOL[np.dtype(dtype).type]
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, rtol=tol["rtol"], atol=tol["atol"] * scale)


@st.composite
def blocks(draw):
    """A conv block: image, 3×3 / 2×1 … kernel, pooling (tiling or not, or none), affine before/after/none."""
    rank1 = draw(st.booleans())
    kh = 1 if rank1 else draw(st.integers(1, 3))
    kw = draw(st.integers(1, 3))
    ph = 1 if rank1 else draw(st.integers(1, 3))
    pw = draw(st.integers(1, 3))
    H = 1 if rank1 else draw(st.integers(kh + ph - 1, 9))
    W = draw(st.integers(kw + pw - 1, 12))
    C = draw(st.sampled_from([1, 2, 5]))   # 1-2 channels of a small kernel: the direct loops; 5: blocked
    F = draw(st.integers(1, 6))
    padding = draw(st.sampled_from(["valid", "same"]))
    pool_strides = (ph, pw) if draw(st.booleans()) else (1, 1)   # tiling (fused) or overlapping (composed)
    pool = None if draw(st.integers(0, 3)) == 0 else (draw(st.sampled_from(["max", "avg"])), (ph, pw),
                                                      pool_strides, (0, 0, 0, 0))
    affine = draw(st.sampled_from([None, True, False]))
    return dict(N=draw(st.integers(1, 3)), H=H, W=W, C=C, F=F, k=(kh, kw), pads=padding_amounts(
        (H, W), (kh, kw), (1, 1), padding), pool=pool, affine=affine, rank1=rank1,
        activation=draw(st.sampled_from(["relu", "linear", "tanh"])),
        dtype=draw(st.sampled_from([np.float32, np.float64])), seed=draw(st.integers(0, 2**16)))


def _args(g):
    rng = np.random.default_rng(g["seed"])
    x = rng.standard_normal((g["N"], g["H"], g["W"], g["C"])).astype(g["dtype"])
    w = rng.standard_normal((*g["k"], g["C"], g["F"])).astype(g["dtype"])
    b = rng.standard_normal(g["F"]).astype(g["dtype"])
    if g["rank1"]:
        x, w = x[:, 0], w[0]
    affine = None if g["affine"] is None else (rng.standard_normal(g["F"]), rng.standard_normal(g["F"]),
                                               g["affine"])
    return x, w, b, (1, 1), g["pads"], activations.get(g["activation"]), g["pool"], affine


@settings(max_examples=40, deadline=None)
@given(blocks(), st.sampled_from([1, 2]), st.sampled_from([1, 384]))
def test_fast_conv_inference_has_the_bits_of_the_unfused_steps_and_equals_reference(g, n_threads, block_rows):
    args = _args(g)
    old, conv_blocked.BLOCK_ROWS = conv_blocked.BLOCK_ROWS, block_rows   # 1: many blocks meet on every image
    try:
        with threads.limit_threads(n_threads):
            with _f2_blocks():
                fused = FAST.conv_inference(*args)
            steps = fusion_numba._composed(*args)
            default = FAST.conv_inference(*args)   # F(4×4) in 3×3 Winograd blocks
    finally:
        conv_blocked.BLOCK_ROWS = old
    ref = REF.conv_inference(*args)
    assert fused.dtype == default.dtype == args[0].dtype and fused.shape == ref.shape == steps.shape
    np.testing.assert_array_equal(fused, steps)
    np.testing.assert_allclose(fused, ref, **TOL[g["dtype"]])
    _close_to(default, ref, g["dtype"])


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", [None, True, False], ids=["no affine", "affine first", "affine after"])
@pytest.mark.parametrize("F", [1, 32, 64, 65])
@pytest.mark.parametrize("C", [1, 5], ids=["direct", "blocked"])
def test_fused_2x2_max_pooling_has_the_bits_of_the_unfused_steps_with_ties_nan_and_inf(dtype, affine, F, C):
    """The 2 × 2 max pooling of a fused block (its own loop up to 64 filters, the general one beyond): the bits of
    the unfused layers, with ties, exact zeros of the ReLU, a NaN and ±∞ among the conv outputs, the affine
    (inference batch norm) before or after the max."""
    rng = np.random.default_rng(F + C)
    x = rng.integers(-2, 3, (2, 7, 11, C)).astype(dtype)   # small integers: ties and exact zeros
    x[0, 3, 4, 0], x[1, 2, 2, 0], x[1, 5, 7, 0] = np.nan, np.inf, -np.inf
    w = rng.integers(-2, 3, (3, 3, C, F)).astype(dtype)
    b = rng.integers(-1, 2, F).astype(dtype)
    aff = None if affine is None else (rng.standard_normal(F), rng.standard_normal(F), affine)
    for activation in ("relu", "linear"):
        args = (x, w, b, (1, 1), (0, 0, 0, 0), activations.get(activation), ("max", (2, 2), (2, 2), (0, 0, 0, 0)),
                aff)
        with _f2_blocks():
            np.testing.assert_array_equal(FAST.conv_inference(*args), fusion_numba._composed(*args))


@pytest.mark.parametrize("ours", [False, True], ids=["BLAS", "ours"])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_fused_im2col_blocks_of_a_batch_run_as_sample_loops_with_the_bits_of_the_per_sample_steps(ours, n_threads):
    """In float32 the fused inference blocks of a batch's im2col convolution (a kernel 2 wide on 64 channels, as
    benchmark R1's second Conv1D, then average pooling and a batch norm) run as one numba loop per group of
    samples (``_im2col_pooled_samples``) — with the BLAS's product or ours (switched on whatever the CPU) — with
    the bits of the same steps from Python, one sample at a time, and of the unfused layers, blocks of one row
    (``BLOCK_ROWS = 1``) or many, and an odd length (a last conv row that no pooling window takes)."""
    from unittest import mock
    from minidl.kernels import gemm_numba
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, 1, 41, 64)).astype(np.float32)
    w = (rng.standard_normal((1, 2, 64, 64)) / 8).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    affine = (rng.standard_normal(64), rng.standard_normal(64), False)
    results = {}
    for block_rows in (1, 384):
        for loops in (True, False):
            spy = mock.patch.object(conv_blocked, "_im2col_pooled_samples",
                                    side_effect=conv_blocked._im2col_pooled_samples)
            loop = conv_blocked._loop_product if loops else (lambda dtype, b_: None)
            with (threads.limit_threads(n_threads), mock.patch.object(gemm_numba, "ENABLED", ours),
                  mock.patch.object(conv_blocked, "BLOCK_ROWS", block_rows),
                  mock.patch.object(conv_blocked, "_loop_product", loop), spy as called):
                args = (x, w, b, (1, 1), (0, 0, 0, 0), activations.get("relu"),
                        ("avg", (1, 2), (1, 2), (0, 0, 0, 0)), affine)
                results[block_rows, loops] = FAST.conv_inference(*args)
                assert (called.call_count > 0) == loops
                if loops:   # the unfused layers with the same product (ours or the BLAS's) and threads
                    composed = fusion_numba._composed(*args)
        np.testing.assert_array_equal(results[block_rows, True], results[block_rows, False])
        np.testing.assert_array_equal(results[block_rows, True], composed)
    assert results[1, True].shape == (5, 1, 20, 64)


def test_reference_conv_inference_is_the_layers_in_turn():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 9, 3))
    w, b = rng.standard_normal((3, 3, 3, 4)), rng.standard_normal(4)
    scale, shift = rng.standard_normal(4), rng.standard_normal(4)
    y = np.maximum(REF.conv2d_forward(x, w, b, (1, 1), (0, 0, 0, 0)), 0)
    y = REF.max_pool2d_forward(y * scale + shift, (2, 2), (2, 2), (0, 0, 0, 0))[0]
    got = REF.conv_inference(x, w, b, (1, 1), (0, 0, 0, 0), activations.get("relu"),
                             ("max", (2, 2), (2, 2), (0, 0, 0, 0)), (scale, shift, True))
    np.testing.assert_allclose(got, y, rtol=1e-12)


def _cnn(dtype="float32"):
    L = minidl.layers
    m = minidl.Sequential([minidl.Input((12, 20, 1)),
                           L.Conv2D(4, 3, activation="relu", dtype=dtype), L.BatchNormalization(dtype=dtype),
                           L.MaxPooling2D(2),
                           L.Conv2D(6, 3, padding="same", dtype=dtype), L.AveragePooling2D(2),
                           L.BatchNormalization(dtype=dtype),
                           L.Conv2D(3, 2, activation="tanh", dtype=dtype), L.Flatten(),
                           L.Dense(3, activation="softmax", dtype=dtype)], seed=1)
    m.compile(minidl.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def _seq(dtype="float32"):
    L = minidl.layers
    m = minidl.Sequential([minidl.Input((30, 7)), L.Conv1D(5, 2, activation="relu", dtype=dtype),
                           L.AveragePooling1D(2), L.BatchNormalization(dtype=dtype),
                           L.Conv1D(4, 3, dtype=dtype), L.BatchNormalization(dtype=dtype), L.GlobalAveragePooling1D(),
                           L.Dense(2, activation="softmax", dtype=dtype)], seed=2)
    m.compile(minidl.Adam(1e-2), "sparse_categorical_crossentropy")
    return m


@pytest.mark.parametrize("build, shape", [(_cnn, (12, 20, 1)), (_seq, (30, 7))])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_and_evaluate_with_fused_blocks_equal_the_layer_by_layer_forward(build, shape, dtype):
    rng = np.random.default_rng(3)
    m = build(dtype)
    x = rng.standard_normal((20, *shape)).astype(dtype)
    y = rng.integers(0, m.output_shape[-1], 20)
    for _ in range(3):   # moving statistics away from 0 and 1
        m.train_on_batch(x, y)
    plain = m.forward(x, training=False)
    with _f2_blocks():
        np.testing.assert_array_equal(m.predict(x, batch_size=7), np.concatenate(
            [m.forward(x[i:i + 7], training=False) for i in range(0, 20, 7)]))
        np.testing.assert_array_equal(m.predict(x, batch_size=20), plain)
    _close_to(m.predict(x, batch_size=7), plain, dtype)
    old, inference.FUSE = inference.FUSE, False
    try:
        unfused = m.evaluate(x, y)
    finally:
        inference.FUSE = old
    with _f2_blocks():
        assert m.evaluate(x, y) == unfused
    assert m.evaluate(x, y) == pytest.approx(unfused, rel=1e-5)
    with minidl.config.use_kernels("reference"):
        np.testing.assert_allclose(m.predict(x), plain, **TOL[np.dtype(dtype).type])


def test_plan_fuses_conv_with_the_batch_norm_and_pooling_that_follow_it_only():
    steps = inference.plan(_cnn().layers)
    names = [[layer.name for layer in s.layers] if isinstance(s, inference.ConvBlock) else s.name for s in steps]
    kinds = [type(s).__name__ for s in steps]
    assert kinds == ["ConvBlock", "ConvBlock", "Conv2D", "Flatten", "Dense"]
    assert [len(n) for n in names[:2]] == [3, 3]   # conv → BN → max pool; conv → avg pool → BN
    assert steps[0].bn_first and not steps[1].bn_first
    seq = inference.plan(_seq().layers)
    assert [len(s.layers) if isinstance(s, inference.ConvBlock) else 1 for s in seq] == [3, 2, 1, 1]
    old, inference.FUSE = inference.FUSE, False
    try:
        assert not any(isinstance(s, inference.ConvBlock) for s in inference.plan(_cnn().layers))
    finally:
        inference.FUSE = old


def test_predict_plans_once_a_call_and_fuses_a_model_its_first_batch_builds(monkeypatch):
    L = minidl.layers
    x = np.random.default_rng(4).standard_normal((10, 12, 20, 1)).astype(np.float32)
    lazy = minidl.Sequential([L.Conv2D(4, 3, activation="relu"), L.BatchNormalization(), L.MaxPooling2D(2),
                              L.Flatten(), L.Dense(2, activation="softmax")], seed=1)   # no Input: built by x
    planned, fused_rows = [], []
    real_plan, real_block = inference.plan, inference.ConvBlock.forward
    monkeypatch.setattr(inference, "plan", lambda layers: planned.append(1) or real_plan(layers))
    monkeypatch.setattr(inference.ConvBlock, "forward",
                        lambda self, a: fused_rows.append(len(a)) or real_block(self, a))
    out = lazy.predict(x, batch_size=3)   # batches of 3, 3, 3, 1
    # the first batch builds the layers, one by one; the plan made after it (all built) is kept
    assert len(planned) == 2 and fused_rows == [3, 3, 1]
    _close_to(out, lazy.forward(x, training=False), "float32")
    planned.clear()
    m = _cnn()
    m.predict(np.zeros((9, 12, 20, 1), np.float32), batch_size=2)
    m.evaluate(np.zeros((9, 12, 20, 1), np.float32), np.zeros(9, int), batch_size=2)
    assert len(planned) == 2   # once for each call, not once a batch


def test_forward_in_inference_mode_still_keeps_what_backward_needs():
    m = _cnn()
    x = np.random.default_rng(0).standard_normal((4, 12, 20, 1)).astype(np.float32)
    m.predict(x)
    loss, _ = m.compute_gradients(x, np.zeros(4, dtype=int), training=False)
    assert np.isfinite(loss) and all(np.isfinite(g).all() for layer in m.layers for g in layer.grads.values())


def test_functional_model_fuses_only_chains_whose_values_nobody_else_needs():
    L = minidl.layers
    inp = minidl.Input((10, 16, 2))
    a = L.MaxPooling2D(2)(L.BatchNormalization()(L.Conv2D(4, 3, padding="same", activation="relu")(inp)))  # fused
    c = L.Conv2D(4, 3, padding="same")(inp)
    bn = L.BatchNormalization()(c)            # c → bn fused; bn also feeds two layers, so the block ends there
    b1, b2 = L.AveragePooling2D(2)(bn), L.MaxPooling2D(2)(bn)
    j = L.Concatenate()([a, b1, b2])
    out = L.Dense(2, activation="softmax")(L.Flatten()(L.BatchNormalization()(L.Conv2D(3, 1)(j))))
    m = minidl.Model(inp, out, seed=0)
    m.compile(minidl.Adam(1e-2), "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).standard_normal((6, 10, 16, 2)).astype(np.float32)
    y = np.array([0, 1, 0, 1, 1, 0])
    for _ in range(2):
        m.train_on_batch(x, y)
    blocks = inference.plan_graph(m._ops, m._output_layer())
    assert sorted(len(b.layers) for b in blocks.values()) == [2, 2, 3]   # conv → BN; 1×1 conv → BN; the chain
    with _f2_blocks():
        np.testing.assert_array_equal(m.predict(x), m.forward(x, training=False))
    _close_to(m.predict(x), m.forward(x, training=False), np.float32)
    old, inference.FUSE = inference.FUSE, False
    try:
        assert inference.plan_graph(m._ops, m._output_layer()) == {}
        unfused = m.evaluate(x, y)
    finally:
        inference.FUSE = old
    with _f2_blocks():
        assert m.evaluate(x, y) == unfused
    assert m.evaluate(x, y) == pytest.approx(unfused, rel=1e-5)


def test_fused_blocks_give_a_sample_the_same_bits_alone_and_in_a_batch():
    """Up to the Dense layer (whose BLAS product of one row is a gemv, not the batch's gemm: other bits, as
    on main), the fused steps compute each sample's values the same way whatever the batch."""
    m = _cnn()
    x = np.random.default_rng(4).standard_normal((5, 12, 20, 1)).astype(np.float32)
    m.train_on_batch(x, np.arange(5) % 3)
    steps = inference.plan(m.layers[:-1])
    assert sum(isinstance(s, inference.ConvBlock) for s in steps) == 2
    alone = np.concatenate([inference.run(steps, x[n:n + 1]) for n in range(5)])
    np.testing.assert_array_equal(alone, inference.run(steps, x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pads, strides", [((0, 0, 0, 0), (1, 1)), ((1, 1, 1, 1), (1, 1)), ((0, 1, 0, 1), (2, 2))])
def test_written_out_3x3_one_channel_cells_have_the_bits_of_the_general_loop(dtype, pads, strides):
    """``conv_numba.direct_row``'s interior fast path (3×3, one channel) sums in the general loop's order."""
    from minidl.kernels import conv_numba
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 8, 11, 1)).astype(dtype)
    w = rng.standard_normal((3, 3, 1, 7)).astype(dtype)
    b = rng.standard_normal(7).astype(dtype)
    Wo = (11 + pads[2] + pads[3] - 3) // strides[1] + 1
    fast, general = np.empty((Wo, 7), dtype), np.empty((Wo, 7), dtype)
    for i in range(3):
        conv_numba.direct_row(x, w, b, 1, i, *strides, pads[0], pads[2], True, fast)
        for j in range(Wo):
            conv_numba._direct_cell(x, w, b, 1, i, j, *strides, pads[0], pads[2], True, general)
        np.testing.assert_array_equal(fast, general)
