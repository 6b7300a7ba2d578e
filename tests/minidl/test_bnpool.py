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

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl import gradcheck, threads, training_plan
from minidl.kernels import family, padding_amounts

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
    1-D), or (``"avg"``) Conv1D → AvgPool → BN twice (the second pooling with "same" padding)."""
    L = minidl
    if kind == 2:
        body = [L.Input((9, 11, 2)), L.Conv2D(4, 3, activation="relu"), L.BatchNormalization(**bn),
                L.MaxPooling2D(2), L.Conv2D(3, 2, activation="relu"), L.BatchNormalization(momentum=0.5),
                L.MaxPooling2D((1, 2))]
    elif kind == 1:
        body = [L.Input((13, 3)), L.Conv1D(4, 2, activation="relu"), L.BatchNormalization(**bn),
                L.MaxPooling1D(3, strides=2), L.Conv1D(3, 2, activation="relu"), L.BatchNormalization(),
                L.MaxPooling1D(2)]
    else:
        body = [L.Input((13, 3)), L.Conv1D(4, 2, activation="relu"), L.AveragePooling1D(2),
                L.BatchNormalization(**bn), L.Conv1D(3, 2, activation="relu"), L.AveragePooling1D(2, padding="same"),
                L.BatchNormalization()]
    m = minidl.Sequential([*body, L.Flatten(), L.Dense(3, activation="softmax")], seed=seed)
    m.compile(minidl.Adam(1e-2), "sparse_categorical_crossentropy")
    for layer in m.layers:
        layer.cast(dtype)
    return m


def _batch(kind, n=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 9, 11, 2) if kind == 2 else (n, 13, 3))
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
    blocks = [s for s in steps if isinstance(s, (training_plan.BatchNormMaxPool, training_plan.AvgPoolBatchNorm))]
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
    a = np.random.default_rng(2).standard_normal((len(x), *block.layers[0].input_shape))
    R = np.random.default_rng(3).standard_normal(block.forward(a, training=True).shape)
    dx = block.backward(R)

    def value():   # batch statistics: the moving ones, updated at each call, do not enter
        return float(np.sum(block.forward(a, training=True) * R)) + block.bn.regularization_loss()

    grads = {n: g.copy() for n, g in block.bn.grads.items()}
    assert gradcheck.relative_error(dx, gradcheck.numerical_gradient(value, a)) < 1e-6
    for n, g in grads.items():
        assert gradcheck.relative_error(g, gradcheck.numerical_gradient(value, block.bn.params[n])) < 1e-6, n


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
    block = training_plan.plan(m.layers)[1]
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
    assert [type(b).__name__ for b in blocks.values()] == ["BatchNormMaxPool"]   # b is read twice: not fused
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
