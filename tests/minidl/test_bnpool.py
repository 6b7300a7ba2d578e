"""The fused training blocks batch norm → max pooling and average pooling → batch norm
(``minidl.training_plan``, ``kernels/bnpool_numba.py``) compute what the two layers compute.

* kernels: ``fast.batchnorm_max_pool2d_forward`` and ``fast.avg_pool2d_batchnorm_backward`` have the bits of
  the fast family's unfused steps; they and ``fast.batchnorm_max_pool2d_backward`` equal the reference
  (hypothesis: geometries that tile or not, odd sizes, padding, ties, negative and zero γ, float32/float64,
  one and two threads);
* model: training steps with the plan give the weights, moving statistics and losses of the layer-by-layer
  steps; the fused passes' float64 gradients equal ``compute_gradients`` and the numerical gradient; the plan
  groups the layers it should, and only those; the layer-by-layer passes are unchanged after fused training.
"""

import contextlib
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl import gradcheck, threads, training_plan
from minidl.kernels import conv_blocked, conv_numba, family, gemm_numba, normalization_numba, padding_amounts
from tests.minidl.test_kernels import _conv_path, geometries

REF, FAST = family("reference"), family("fast")
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-11)}


@st.composite
def blocks(draw):
    """Input ``(N, H, W, C)``, pool size, strides = pool (tiling, the fused kernels) or 1, padding."""
    ph, pw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(ph, 9)), draw(st.integers(pw, 11))   # odd sizes: windows that do not tile
    strides = (ph, pw) if draw(st.integers(0, 3)) else (1, 1)
    padding = draw(st.sampled_from(["valid", "valid", "same"]))
    return dict(N=draw(st.integers(1, 3)), H=H, W=W, C=draw(st.sampled_from([1, 3, 8])), pool=(ph, pw),
                strides=strides, pads=padding_amounts((H, W), (ph, pw), strides, padding),
                dtype=draw(st.sampled_from([np.float32, np.float64])), ties=draw(st.booleans()),
                seed=draw(st.integers(0, 2**16)))


def _data(g):
    rng = np.random.default_rng(g["seed"])
    x = rng.standard_normal((g["N"], g["H"], g["W"], g["C"]))
    if g["ties"]:
        x = np.round(x)   # many tied maxima: the first one wins, in every path
    x = (x * 2 + 5).astype(g["dtype"])
    x2 = x.reshape(-1, g["C"])
    mean, var = REF.batchnorm_stats(x2)
    inv_std = 1 / np.sqrt(var + 1e-3)
    gamma = rng.choice([-1.5, 0.0, 0.7, 2.0], g["C"])   # negative γ: the winners are the smallest inputs
    scale, shift = gamma * inv_std, rng.standard_normal(g["C"]) - mean * gamma * inv_std
    return rng, x, mean, inv_std, scale, shift


def _close_to_scale(actual, desired, dtype):
    """Equal to the rounding of ``dtype`` relative to the array's largest value: a batch norm's input gradient
    cancels terms of that size (the fast family's float32 arithmetic, the reference's float64), so a value
    near 0 is only as exact as the largest one."""
    tol = TOL[dtype]
    scale = float(np.max(np.abs(desired), initial=0.0))
    np.testing.assert_allclose(actual, desired, rtol=tol["rtol"], atol=tol["atol"] + tol["rtol"] * scale)


@settings(max_examples=60, deadline=None)
@given(blocks(), st.sampled_from([1, 2]))
def test_fused_batchnorm_max_pool_equals_the_unfused_steps_and_the_reference(g, n_threads):
    rng, x, mean, inv_std, scale, shift = _data(g)
    geo = (g["pool"], g["strides"], g["pads"])
    tol = TOL[g["dtype"]]
    with threads.limit_threads(n_threads):
        y, arg, x_win = FAST.batchnorm_max_pool2d_forward(x, scale, shift, *geo)
        x2 = x.reshape(-1, g["C"])
        y_u, arg_u = FAST.max_pool2d_forward(FAST.batchnorm_apply(x2, scale, shift).reshape(x.shape), *geo)
        y_r, arg_r, x_win_r = REF.batchnorm_max_pool2d_forward(x, scale, shift, *geo)
        np.testing.assert_array_equal(y, y_u)
        np.testing.assert_array_equal(arg, arg_u)
        np.testing.assert_allclose(y, y_r, **tol)
        np.testing.assert_array_equal(arg, arg_r)
        np.testing.assert_array_equal(x_win, x_win_r)
        assert x_win.dtype == x.dtype
        assert y.dtype == x.dtype and arg.dtype == np.int32
        dy = rng.standard_normal(y.shape).astype(g["dtype"])
        dx, sum_dy, sum_dy_xhat = FAST.batchnorm_max_pool2d_backward(dy, arg, x_win, x, mean, inv_std, scale,
                                                                     *geo)
    dx_r, sum_dy_r, sum_dy_xhat_r = REF.batchnorm_max_pool2d_backward(dy, arg_r, x_win_r, x, mean, inv_std,
                                                                      scale, *geo)
    assert dx.dtype == x.dtype and dx.shape == x.shape
    assert sum_dy.dtype == sum_dy_xhat.dtype == np.float64
    np.testing.assert_allclose(sum_dy, sum_dy_r, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(sum_dy_xhat, sum_dy_xhat_r, rtol=1e-9, atol=1e-9)
    _close_to_scale(dx, dx_r, g["dtype"])


@settings(max_examples=60, deadline=None)
@given(blocks(), st.sampled_from([1, 2]))
def test_fused_avg_pool_batchnorm_backward_has_the_bits_of_the_unfused_steps_and_equals_the_reference(g, n_threads):
    rng = np.random.default_rng(g["seed"])
    geo = (g["pool"], g["strides"], g["pads"])
    x_shape = (g["N"], g["H"], g["W"], g["C"])
    p = REF.avg_pool2d_forward(rng.standard_normal(x_shape) * 2 + 5, *geo).astype(g["dtype"])   # the BN input
    p2 = p.reshape(-1, g["C"])
    mean, var = REF.batchnorm_stats(p2)
    inv_std = 1 / np.sqrt(var + 1e-3)
    scale = rng.choice([-1.5, 0.0, 0.7, 2.0], g["C"]) * inv_std
    dy = rng.standard_normal(p.shape).astype(g["dtype"])
    sums = REF.batchnorm_backward_sums(dy.reshape(-1, g["C"]), p2, mean, inv_std)
    args = (dy, p, mean, inv_std, scale, *sums, x_shape, *geo)
    with threads.limit_threads(n_threads):
        dx = FAST.avg_pool2d_batchnorm_backward(*args)
        dbn = FAST.batchnorm_backward_input(dy.reshape(-1, g["C"]), p2, mean, inv_std, scale, *sums)
        unfused = FAST.avg_pool2d_backward(dbn.reshape(p.shape), x_shape, *geo)
    assert dx.dtype == p.dtype and dx.shape == x_shape
    np.testing.assert_array_equal(dx, unfused)
    _close_to_scale(dx, REF.avg_pool2d_batchnorm_backward(*args), g["dtype"])


@st.composite
def conv_blocks(draw):
    """A conv layer's geometry (from ``test_kernels``) and the average pooling after it: pool size, strides = pool
    (tiling, the fused path) or 1, padding; the conv output at least one pool wide."""
    g = draw(geometries())
    path = draw(st.sampled_from(["direct", "plain", "blocked", "blocked 1-D Winograd", "blocked 2-D Winograd",
                                 "blocked sample loops"]))
    if path == "blocked 1-D Winograd":   # F(4, r) blocks at any channel count (WINOGRAD_1D_MIN_C lowered)
        g.update(k=(1, draw(st.sampled_from([2, 3]))), strides=(1, 1))
    if path == "blocked 2-D Winograd":
        g.update(k=(3, 3), strides=(1, 1))
    if path == "blocked sample loops":   # the im2col loops in numba: float32, 64 filters, our product switched on
        g.update(F=64, dtype=np.float32)
        if g["k"] == (1, 1) and g["strides"] == (1, 1):
            g.update(k=(1, 2))
    if path.startswith("blocked"):
        g["N"] = max(g["N"], 2)
    H, W = max(g["H"], g["k"][0]), max(g["W"], g["k"][1])
    padding = draw(st.sampled_from(["valid", "same"]))
    pads = padding_amounts((H, W), g["k"], g["strides"], padding)
    Ho = (H + pads[0] + pads[1] - g["k"][0]) // g["strides"][0] + 1
    Wo = (W + pads[2] + pads[3] - g["k"][1]) // g["strides"][1] + 1
    ph, pw = draw(st.integers(1, min(3, Ho))), draw(st.integers(1, min(3, Wo)))
    pool_strides = (ph, pw) if draw(st.integers(0, 3)) else (1, 1)
    pool_pads = padding_amounts((Ho, Wo), (ph, pw), pool_strides, draw(st.sampled_from(["valid", "same"])))
    g.update(H=H, W=W, pads=pads, path=path, pool=((ph, pw), pool_strides, pool_pads))
    return g


@contextlib.contextmanager
def _path(path):
    """The fast family's conv backward on ``path`` (:func:`tests.minidl.test_kernels._conv_path`; "plain": the
    mask, then the unblocked ``conv2d_backward``)."""
    loops = path == "blocked sample loops"
    with (_conv_path("blocked" if path.startswith("blocked") else "im2col" if path == "plain" else path),
          mock.patch.object(conv_blocked, "WINOGRAD_1D_MIN_C", 1),
          mock.patch.object(conv_blocked, "WINOGRAD", not loops),
          mock.patch.object(gemm_numba, "ENABLED", gemm_numba.ENABLED or loops)):
        yield


def _conv_layer(g, activation):
    """``(rng, dtype, x, w, activation, y)``: a conv layer's input, kernel and output (the reference's) for
    :func:`conv_blocks` geometry ``g``; for one seed in four, rounded inputs and kernels: exact zeros of the ReLU
    output and tied maxima."""
    rng = np.random.default_rng(g["seed"])
    dt = g["dtype"]
    x = rng.standard_normal((g["N"], g["H"], g["W"], g["C"])).astype(dt)
    w = rng.standard_normal((*g["k"], g["C"], g["F"])).astype(dt)
    b = rng.standard_normal(g["F"]).astype(dt)
    if g["seed"] % 4 == 0:
        x, w = np.round(x), np.round(w)
    f = minidl.activations.get(activation)
    return rng, dt, x, w, f, REF.conv_bias_activation(x, w, b, g["strides"], g["pads"], f)


@settings(max_examples=80, deadline=None)
@given(conv_blocks(), st.sampled_from(["relu", "linear", "tanh"]), st.booleans(), st.booleans(),
       st.sampled_from([1, 2]))
def test_conv_avg_pool_batchnorm_backward_has_the_bits_of_its_two_steps_and_equals_the_reference(g, activation,
                                                                                                 use_bias, need_dx,
                                                                                                 n_threads):
    """The fused backward of conv → average pooling → batch norm (each sample's gradient made from the batch
    norm's ``dy`` as the convolution reads it) gives the bits of the fast family's two steps (the pooling's input
    gradient, then the conv layer's backward) on every conv path, tiling or not, and equals the reference."""
    rng, dt, x, w, f, y = _conv_layer(g, activation)
    p = REF.avg_pool2d_forward(y, *g["pool"])
    p2 = p.reshape(-1, g["F"])
    mean, var = REF.batchnorm_stats(p2)
    inv_std = 1 / np.sqrt(var + 1e-3)
    scale = rng.choice([-1.5, 0.0, 0.7, 2.0], g["F"]) * inv_std
    dy = rng.standard_normal(p.shape).astype(dt)
    sums = REF.batchnorm_backward_sums(dy.reshape(-1, g["F"]), p2, mean, inv_std)
    bn = (mean, inv_std, scale, *sums)
    args = (g["strides"], g["pads"])
    unfused = mock.patch.object(conv_numba, "avg_pool2d_batchnorm_backward",
                                side_effect=conv_numba.avg_pool2d_batchnorm_backward)
    with threads.limit_threads(n_threads), _path(g["path"]):
        with unfused as two_steps:
            fused = FAST.conv_avg_pool_batchnorm_backward(x, dy, p, y, w, *args, f, use_bias, need_dx, g["pool"], bn)
        dyc = FAST.avg_pool2d_batchnorm_backward(dy, p, *bn, y.shape, *g["pool"])
        steps = FAST.conv_layer_backward(x, dyc, y, w, *args, f, use_bias, need_dx)
    tiles = g["pool"][1] == g["pool"][0]
    pointwise = g["k"] == (1, 1) and g["strides"] == (1, 1) and not any(g["pads"])   # a product: no blocks
    assert two_steps.called == (activation == "tanh" or not tiles or pointwise or not g["path"].startswith("blocked"))
    reference = REF.conv_avg_pool_batchnorm_backward(x, dy, p, y, w, *args, f, use_bias, need_dx, g["pool"], bn)
    for name, a, s_, r in zip(("dW", "db", "dx"), fused, steps, reference):
        assert (a is None) == (r is None) == (name == "db" and not use_bias or name == "dx" and not need_dx), name
        if r is None:
            continue
        assert a.dtype == dt and a.shape == r.shape, name
        np.testing.assert_array_equal(a, s_, err_msg=f"{name} ({g['path']}): fused vs two steps")
        if name == "db":   # Σ dz cancels to 0 without an activation (a batch norm's input gradient sums to 0):
            dz = REF.activation_backward(REF.avg_pool2d_batchnorm_backward(dy, p, *bn, y.shape, *g["pool"]), y, f)
            bound = np.abs(dz).reshape(-1, g["F"]).sum(axis=0)   # exact only to the rounding of its terms
            assert np.all(np.abs(a - r) <= TOL[dt]["atol"] + TOL[dt]["rtol"] * bound), name
        else:
            _close_to_scale(a, r, dt)


@settings(max_examples=80, deadline=None)
@given(conv_blocks(), st.sampled_from(["relu", "linear", "tanh"]), st.booleans(), st.booleans(),
       st.sampled_from([1, 2]))
def test_conv_batchnorm_max_pool_backward_has_the_bits_of_its_two_steps_and_equals_the_reference(g, activation,
                                                                                                 use_bias, need_dx,
                                                                                                 n_threads):
    """The fused backward of conv → batch norm → max pooling (each output row's gradient made from the pooling's
    ``dy`` and winners as the direct loops read it) gives the bits of the fast family's two steps on every conv
    path (fused only on the direct loops without ``dx``, windows that tile, ReLU or no activation; the two steps
    elsewhere), and equals the reference — ties and exact zeros included."""
    rng, dt, x, w, f, y = _conv_layer(g, activation)
    mean, var = REF.batchnorm_stats(y.reshape(-1, g["F"]))
    inv_std = 1 / np.sqrt(var + 1e-3)
    gamma = rng.choice([-1.5, 0.0, 0.7, 2.0], g["F"])
    scale, shift = gamma * inv_std, rng.standard_normal(g["F"]) - mean * gamma * inv_std
    pool = g["pool"]
    _, arg, x_win = FAST.batchnorm_max_pool2d_forward(y, scale, shift, *pool)
    dy = rng.standard_normal(arg.shape).astype(dt)
    args = (g["strides"], g["pads"], f, use_bias, need_dx, pool, (mean, inv_std, scale))
    unfused = mock.patch.object(conv_numba, "batchnorm_max_pool2d_backward",
                                side_effect=conv_numba.batchnorm_max_pool2d_backward)
    with threads.limit_threads(n_threads), _path(g["path"]):
        with unfused as two_steps:
            fused = FAST.conv_batchnorm_max_pool_backward(x, dy, arg, x_win, y, w, *args)
        dxb, *sums = FAST.batchnorm_max_pool2d_backward(dy, arg, x_win, y, mean, inv_std, scale, *pool)
        steps = (*FAST.conv_layer_backward(x, dxb, y, w, *args[:5]), *sums)
    tiles = pool[1] == pool[0] and not any(pool[2])
    pointwise = g["k"] == (1, 1) and g["strides"] == (1, 1) and not any(g["pads"])
    assert two_steps.called == (activation == "tanh" or not tiles or need_dx or pointwise or g["path"] != "direct")
    reference = REF.conv_batchnorm_max_pool_backward(x, dy, arg, x_win, y, w, *args)
    for name, a, s_, r in zip(("dW", "db", "dx", "Σ dy", "Σ dy·x̂"), fused, steps, reference):
        assert (a is None) == (r is None) == (name == "db" and not use_bias or name == "dx" and not need_dx), name
        if r is None:
            continue
        assert a.shape == r.shape, name
        np.testing.assert_array_equal(a, s_, err_msg=f"{name} ({g['path']}): fused vs two steps")
        if name == "db":   # Σ dz: a batch norm's input gradient sums to 0 without an activation
            dz = REF.activation_backward(REF.batchnorm_max_pool2d_backward(dy, arg, x_win, y, mean, inv_std, scale,
                                                                           *pool)[0], y, f)
            bound = np.abs(dz).reshape(-1, g["F"]).sum(axis=0)
            assert np.all(np.abs(a - r) <= TOL[dt]["atol"] + TOL[dt]["rtol"] * bound), name
        else:
            _close_to_scale(a, r, dt if name[0] != "Σ" else np.float64 if dt == np.float64 else np.float32)


@pytest.mark.parametrize("F", [3, 64, conv_blocked._DB_BUFFER + 5])   # the last: wider than the stack buffer
@pytest.mark.parametrize("pool, padding", [((1, 2), "valid"), ((2, 3), "same"), ((3, 1), "same")])
@pytest.mark.parametrize("relu", [True, False])
def test_pooled_gradient_sample_has_the_bits_of_the_pooling_backward_then_the_mask(F, pool, padding, relu):
    """Per sample, the conv gradient made from the batch norm's gradient (each window's value computed once, or
    per cell for layers wider than the stack buffer) is the fast pooling backward followed by the ReLU's mask,
    bit for bit, with partial windows ("same") and cells in no window (odd sizes); ``db`` the same sums."""
    rng = np.random.default_rng(F)
    N, Ho, Wo = 2, 7, 5
    y = np.maximum(np.round(rng.standard_normal((N, Ho, Wo, F)), 1), 0).astype(np.float32)   # exact zeros
    pads = padding_amounts((Ho, Wo), pool, pool, padding)
    p = REF.avg_pool2d_forward(y, pool, pool, pads)
    p2 = p.reshape(-1, F)
    mean, var = REF.batchnorm_stats(p2)
    inv_std = 1 / np.sqrt(var + 1e-3)
    scale = rng.choice([-1.5, 0.0, 0.7, 2.0], F) * inv_std
    dy = rng.standard_normal(p.shape).astype(np.float32)
    sums = REF.batchnorm_backward_sums(dy.reshape(-1, F), p2, mean, inv_std)
    dyc = FAST.avg_pool2d_batchnorm_backward(dy, p, mean, inv_std, scale, *sums, y.shape, pool, pool, pads)
    coef = np.stack([mean.astype(np.float32), *normalization_numba.dx_coefficients(*sums, p2.shape[0], scale,
                                                                                  inv_std, np.float32)])
    geometry = np.array([*pool, pads[0], pads[2]], np.int64)
    for n in range(N):
        dz, dz_steps = np.full((2, 1, Ho, Wo, F), np.nan, np.float32)   # every cell written
        db, db_steps = np.zeros((2, F))
        conv_blocked._pooled_gradient_sample(dy, p, y, n, relu, geometry, coef, dz, db)
        conv_blocked._layer_gradient_sample(dyc, y, n, relu, dz_steps, db_steps)
        np.testing.assert_array_equal(dz, dz_steps)
        np.testing.assert_array_equal(db, db_steps)


@pytest.mark.parametrize("name", ["reference", "fast"])
def test_batchnorm_max_pool_returns_new_arrays_and_leaves_its_arguments_unchanged(name):
    K = family(name)
    g = dict(N=2, H=5, W=7, C=3, pool=(2, 2), strides=(2, 2), pads=(0, 0, 0, 0), dtype=np.float32, ties=False,
             seed=1)
    rng, x, mean, inv_std, scale, shift = _data(g)
    before = x.copy()
    y, arg, x_win = K.batchnorm_max_pool2d_forward(x, scale, shift, (2, 2), (2, 2), (0, 0, 0, 0))
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dy_before, arg_before, x_win_before = dy.copy(), arg.copy(), x_win.copy()
    dx, _, _ = K.batchnorm_max_pool2d_backward(dy, arg, x_win, x, mean, inv_std, scale, (2, 2), (2, 2),
                                               (0, 0, 0, 0))
    assert not np.shares_memory(dx, x) and not np.shares_memory(y, x)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(dy, dy_before)
    np.testing.assert_array_equal(arg, arg_before)
    np.testing.assert_array_equal(x_win, x_win_before)


def _model(kind, dtype="float32", seed=0, **bn):
    """Conv → BN → MaxPool twice (``kind`` 2 or 1: 2-D or 1-D; the second pooling not tiling its input in
    1-D), or (``"avg"``) Conv1D → AvgPool → BN twice (the second pooling with "same" padding and a partial
    window): two blocks conv → pool → BN."""
    L = minidl
    if kind == 2:
        body = [L.Input((9, 11, 2)), L.Conv2D(4, 3, activation="relu"), L.BatchNormalization(**bn),
                L.MaxPooling2D(2), L.Conv2D(3, 2, activation="relu"), L.BatchNormalization(momentum=0.5),
                L.MaxPooling2D((1, 2))]
    elif kind == 1:
        body = [L.Input((13, 3)), L.Conv1D(4, 2, activation="relu"), L.BatchNormalization(**bn),
                L.MaxPooling1D(3, strides=2), L.Conv1D(3, 2, activation="relu"), L.BatchNormalization(),
                L.MaxPooling1D(2)]
    else:   # receptive fields 2·9 and 3·8 channels: the cache-blocked backward, where the block fuses its steps
        body = [L.Input((13, 9)), L.Conv1D(8, 2, activation="relu"), L.AveragePooling1D(2),
                L.BatchNormalization(**bn), L.Conv1D(3, 3, activation="relu"), L.AveragePooling1D(3, padding="same"),
                L.BatchNormalization()]
    m = minidl.Sequential([*body, L.Flatten(), L.Dense(3, activation="softmax")], seed=seed)
    m.compile(minidl.Adam(1e-2), "sparse_categorical_crossentropy")
    for layer in m.layers:
        layer.cast(dtype)
    return m


def _batch(kind, n=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal({2: (n, 9, 11, 2), 1: (n, 13, 3), "avg": (n, 13, 9)}[kind])
    return x, rng.integers(0, 3, n)


@pytest.fixture
def fuse():
    """Restores :data:`training_plan.FUSE` after a test that switches it."""
    yield
    training_plan.FUSE = True


@pytest.mark.parametrize("rank", [1, 2, "avg"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_training_with_the_plan_gives_the_weights_of_layer_by_layer_training(rank, dtype, fuse):
    x, y = _batch(rank)
    results = []
    for on in (True, False):
        training_plan.FUSE = on
        m = _model(rank, dtype)
        losses = [m.train_on_batch(x.astype(dtype), y) for _ in range(3)]
        history = m.fit(x.astype(dtype), y, batch_size=4, epochs=1, verbose=0).history["loss"]
        results.append((losses + history, m.get_weights()))
    tol = TOL[np.dtype(dtype).type]
    np.testing.assert_allclose(results[0][0], results[1][0], **tol)
    assert len(results[0][1]) == len(results[1][1])
    for a, b in zip(*(r[1] for r in results)):   # includes the moving mean and variance
        np.testing.assert_allclose(a, b, rtol=10 * tol["rtol"], atol=10 * tol["atol"])


@pytest.mark.parametrize("rank", [1, 2, "avg"])
@pytest.mark.parametrize("bn", [{}, {"center": False}, {"scale": False, "gamma_regularizer": None},
                                {"gamma_regularizer": "l2"}])
def test_fused_float64_gradients_equal_layer_by_layer_and_numerical_gradients(rank, bn):
    x, y = _batch(rank, n=4)
    m = _model(rank, "float64", **bn)
    steps = training_plan.plan(m.layers)
    blocks = [s for s in steps if isinstance(s, (training_plan.BatchNormMaxPool, training_plan.AvgPoolBatchNorm,
                                                 training_plan.ConvAvgPoolBatchNorm,
                                                 training_plan.ConvBatchNormMaxPool))]
    assert len(blocks) == 2
    state = [p.copy() for p in m.get_weights()]
    m.compute_gradients(x, y)
    layer_by_layer = {(l.name, n): g.copy() for l in m.layers for n, g in l.grads.items()}
    m.set_weights(state)   # the moving statistics as before
    forward, backward = m._training_passes()
    loss, _ = m._gradients(x, y, True, None, forward, backward)
    for (name, n), g in layer_by_layer.items():
        np.testing.assert_allclose(m.get_layer(name).grads[n], g, rtol=1e-9, atol=1e-12, err_msg=f"{name}/{n}")
    m.set_weights(state)
    errors = gradcheck.check_model(m, x, y, training=True)   # layer by layer, against centred differences
    assert max(errors.values()) < 1e-6, errors
    # the fused block alone, against centred differences of its own forward (float64; an input without the
    # ReLU's zeros, whose tied maxima would be kinks)
    block = steps[1]
    if isinstance(block, training_plan.ConvBatchNormMaxPool):   # its BN → max-pool part: a ReLU's zeros would tie
        block = block._block
    a = np.random.default_rng(2).standard_normal((len(x), *block.layers[0].input_shape))
    R = np.random.default_rng(3).standard_normal(block.forward(a, training=True).shape)
    dx = block.backward(R)

    def value():   # batch statistics: the moving ones, updated at each call, do not enter
        return float(np.sum(block.forward(a, training=True) * R)) + sum(l.regularization_loss() for l in block.layers)

    grads = {(layer, n): g.copy() for layer in block.layers for n, g in layer.grads.items()}
    assert gradcheck.relative_error(dx, gradcheck.numerical_gradient(value, a)) < 1e-6
    assert {layer for layer, _ in grads} == {block.bn} | ({block.layers[0]} if rank == "avg" else set())
    for (layer, n), g in grads.items():   # for "avg" the block conv → pool → BN: the conv's too
        assert gradcheck.relative_error(g, gradcheck.numerical_gradient(value, layer.params[n])) < 1e-6, n


def test_the_plan_fuses_trainable_batch_norm_with_max_pooling_after_or_average_pooling_before_only(fuse):
    L = minidl
    frozen = L.BatchNormalization(trainable=False)
    m = minidl.Sequential([L.Input((8, 8, 2)), L.BatchNormalization(), L.MaxPooling2D(2), L.BatchNormalization(),
                           L.AveragePooling2D(2), frozen, L.MaxPooling2D(2), L.BatchNormalization(),
                           L.MaxPooling2D(1), L.AveragePooling2D(1), L.BatchNormalization(), L.Flatten(),
                           L.BatchNormalization()], seed=0)
    steps = training_plan.plan(m.layers)
    kinds = [type(s).__name__ for s in steps]
    assert kinds == ["BatchNormMaxPool", "BatchNormalization", "AveragePooling2D", "BatchNormalization",
                     "MaxPooling2D", "BatchNormMaxPool", "AvgPoolBatchNorm", "Flatten", "BatchNormalization"]
    assert steps[0].layers == (m.layers[0], m.layers[1]) and steps[6].layers == (m.layers[8], m.layers[9])
    training_plan.FUSE = False
    assert training_plan.plan(m.layers) == list(m.layers)


def test_the_plan_fuses_a_conv_with_the_average_pooling_and_trainable_batch_norm_after_it_only(fuse):
    L = minidl
    m = minidl.Sequential([L.Input((16, 3)), L.Conv1D(4, 2), L.AveragePooling1D(2), L.BatchNormalization(),
                           L.Conv1D(4, 2), L.MaxPooling1D(2), L.BatchNormalization(),
                           L.Conv1D(4, 2), L.AveragePooling1D(1), L.BatchNormalization(trainable=False),
                           L.Reshape((1, 2, 4)), L.Conv2D(4, 1, activation="relu"), L.AveragePooling2D(1),
                           L.BatchNormalization(), L.Flatten(), L.Dense(2)], seed=0)
    steps = training_plan.plan(m.layers)
    assert [type(s).__name__ for s in steps] == [
        "ConvAvgPoolBatchNorm", "Conv1D", "MaxPooling1D", "BatchNormalization", "Conv1D", "AveragePooling1D",
        "BatchNormalization", "Reshape", "ConvAvgPoolBatchNorm", "Flatten", "Dense"]
    assert steps[0].layers == tuple(m.layers[:3]) and steps[8].layers == tuple(m.layers[10:13])
    training_plan.FUSE = False
    assert training_plan.plan(m.layers) == list(m.layers)


def test_a_first_block_checks_the_input_and_leaves_the_moving_statistics_of_a_non_finite_batch():
    """The block conv → pool → BN as a model's first step checks ``x`` as the convolution reads it; a NaN stops
    the step before the batch norm's moving statistics (or any weight) change."""
    m = _model("avg")
    assert isinstance(training_plan.plan(m.layers)[0], training_plan.ConvAvgPoolBatchNorm)
    x, y = _batch("avg")
    m.train_on_batch(x, y)
    before = [w.copy() for w in m.get_weights()]
    bad = x.copy()
    bad[3, 5, 1] = np.nan
    with pytest.raises(ValueError, match="x contains NaN or infinite values"):
        m.train_on_batch(bad, y)
    for a, b in zip(m.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    assert np.isfinite(m.train_on_batch(x, y))


def test_layer_by_layer_passes_keep_every_layer_output_after_fused_training():
    """``forward``/``compute_gradients``/inspect are not planned: after a fused step they run layer by layer,
    each batch norm's output (not only pooled) available as before."""
    x, y = _batch(2)
    m = _model(2)
    m.train_on_batch(x, y)
    outs = minidl.inspect.layer_outputs(m, x)
    bn = m.layers[1]
    assert outs[bn.name].shape == (6, 7, 9, 4)
    np.testing.assert_array_equal(outs[m.layers[2].name], m.layers[2].forward(outs[bn.name]))
    loss, _ = m.compute_gradients(x, y)
    assert np.isfinite(loss) and bn._x2.shape == (6 * 7 * 9, 4)


def test_a_block_in_inference_mode_runs_its_layers():
    m = _model(2)
    x, _ = _batch(2)
    first = training_plan.plan(m.layers)[0]
    assert isinstance(first, training_plan.ConvBatchNormMaxPool) and first.layers == tuple(m.layers[:3])
    block = first._block
    a = m.layers[0].forward(x)
    before = [p.copy() for p in block.bn.get_weights()]
    np.testing.assert_array_equal(block.forward(a, training=False),
                                  block.pool.forward(block.bn.forward(a, training=False)))
    for p, q in zip(block.bn.get_weights(), before):   # no moving-statistics update
        np.testing.assert_array_equal(p, q)
    dy = np.ones((6, 3, 4, 4), np.float32)
    np.testing.assert_array_equal(block.backward(dy), block.bn.backward(block.pool.backward(dy)))


def _graph(seed=0):
    """Input → Conv2D → BN → MaxPool (a block) beside a branch whose batch norm's output is read by two
    poolings (no block), merged into a Dense layer."""
    L = minidl
    x = L.Input((9, 11, 2))
    h = L.MaxPooling2D(2)(L.BatchNormalization()(L.Conv2D(4, 3, activation="relu")(x)))
    b = L.BatchNormalization()(L.Conv2D(3, 3, activation="relu")(x))
    both = L.Concatenate()([L.Flatten()(L.MaxPooling2D(2)(b)), L.Flatten()(L.AveragePooling2D(2)(b))])
    out = L.Dense(3, activation="softmax")(L.Concatenate()([L.Flatten()(h), both]))
    m = minidl.Model(x, out, seed=seed)
    m.compile(minidl.Adam(1e-2), "sparse_categorical_crossentropy")
    return m


def test_functional_model_trains_its_single_reader_pairs_as_blocks_with_the_layer_by_layer_weights(fuse):
    m = _graph()
    blocks = training_plan.plan_graph(m._ops, m._output_layer())
    assert [type(b).__name__ for b in blocks.values()] == ["ConvBatchNormMaxPool"]   # b is read twice: not fused
    x, y = _batch(2)
    results = []
    for on in (True, False):
        training_plan.FUSE = on
        m = _graph()
        losses = [m.train_on_batch(x, y) for _ in range(3)]
        results.append((losses, m.get_weights()))
    np.testing.assert_allclose(results[0][0], results[1][0], **TOL[np.float32])
    for a, b in zip(*(r[1] for r in results)):
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-4)


def test_functional_fused_float64_gradients_equal_layer_by_layer():
    m = _graph()
    for layer in m.layers:
        layer.cast("float64")
    x, y = _batch(2, n=4)
    state = [p.copy() for p in m.get_weights()]
    m.compute_gradients(x, y)
    layer_by_layer = {(l.name, n): g.copy() for l in m.layers for n, g in l.grads.items()}
    m.set_weights(state)
    m._gradients(x, y, True, None, *m._training_passes())
    for (name, n), g in layer_by_layer.items():
        np.testing.assert_allclose(m.get_layer(name).grads[n], g, rtol=1e-9, atol=1e-12, err_msg=f"{name}/{n}")
