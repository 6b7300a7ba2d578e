"""The functional API (``Input`` tensors, layer calls, merge layers, ``Model``): gradients through the layer
graph checked numerically in float64, the training workflow ``Sequential`` has, and clear errors.

Tolerance: float64 centred differences agree with a correct backward pass to ~1e-9 relative; 1e-6 leaves
room for the max pooling and ReLU kinks the data are kept away from. The convolutions run on the reference
kernels (equal to the fast ones, ``test_kernels.py``), which are quicker at these tiny sizes; the Keras
parity tests (``test_keras_parity_functional.py``) run the default family.
"""

import numpy as np
import pytest

import minidl
from minidl import (Add, Average, Concatenate, Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D, Model,
                    Multiply, Sequential, Subtract)
from minidl.callbacks import History
from minidl.data import PyDataset
from minidl.functional import SymbolicTensor, keras_layer_order
from minidl.gradcheck import check_model

from .conftest import away_from_kinks

TOL = 1e-6


@pytest.fixture(autouse=True)
def reference_kernels():
    with minidl.config.use_kernels("reference"):
        yield


def hybrid(seed=0, out_act="softmax", n_out=3):
    """The hybrid network of issue 17: an image branch (Conv2D → pooling → Flatten) and a statistics branch
    (Dense), concatenated, then a Dense head."""
    image, stats = Input((6, 7, 1), name="image"), Input((5,), name="stats")
    a = Flatten(name="flat")(MaxPooling2D(2, name="pool")(Conv2D(2, 3, activation="tanh", name="conv")(image)))
    b = Dense(4, activation="tanh", name="stats_dense")(stats)
    h = Concatenate(name="cat")([a, b])
    out = Dense(n_out, activation=out_act, name="head")(h)
    return Model([image, stats], out, seed=seed)


def hybrid_data(rng, n=6):
    return [away_from_kinks(rng.standard_normal((n, 6, 7, 1))), rng.standard_normal((n, 5))]


def fan_out(seed=0):
    """One tensor (``h``) feeds two layers and a merge; the input feeds two layers too."""
    x = Input((4,), name="x")
    h = Dense(5, activation="tanh", name="h")(x)
    a = Dense(3, activation="sigmoid", name="a")(h)
    b = Dense(3, name="b")(h)
    c = Dense(3, activation="tanh", name="c")(x)
    s = Add(name="add")([a, b, c])
    m = Multiply(name="mul")([s, a])
    out = Dense(2, name="out")(Concatenate(name="cat")([m, h]))
    return Model(x, out, seed=seed)


# ---------------------------------------------------------------- gradients
def test_two_input_model_gradients_of_every_parameter_and_both_inputs(rng):
    model = hybrid()
    errors = check_model(model, hybrid_data(rng))
    expected = {"input:image", "input:stats", "conv/kernel", "conv/bias", "stats_dense/kernel",
                "stats_dense/bias", "head/kernel", "head/bias"}
    assert set(errors) == expected
    assert max(errors.values()) < TOL, errors


def test_two_input_model_gradients_through_the_fused_softmax_crossentropy_path(rng):
    model = hybrid()
    model.compile("sgd", "sparse_categorical_crossentropy")
    errors = check_model(model, hybrid_data(rng), y=rng.integers(0, 3, 6))
    assert max(errors.values()) < TOL, errors


def test_gradients_add_up_where_a_tensor_feeds_several_layers(rng):
    model = fan_out()
    errors = check_model(model, rng.standard_normal((7, 4)))
    assert set(errors) == {"input", *(f"{n}/{p}" for n in "habc" for p in ("kernel", "bias")), "out/kernel",
                           "out/bias"}
    assert max(errors.values()) < TOL, errors


def test_a_tensor_merged_with_itself_gets_twice_the_gradient(rng):
    x = Input((3,))
    h = Dense(2, name="hh")(x)
    model = Model(x, Add()([h, h]))
    assert max(check_model(model, rng.standard_normal((4, 3))).values()) < TOL
    model.forward(rng.standard_normal((4, 3)))
    dx = model.backward(np.ones((4, 2)))   # y = 2h: ∂L/∂x = 2·1·Wᵀ
    np.testing.assert_allclose(dx, 2 * np.ones((4, 2)) @ model.get_layer("hh").params["kernel"].T, rtol=1e-12)


def test_dropout_in_a_branch_gets_the_same_mask_for_backward_and_forward(rng):
    x, s = Input((4,), name="x"), Input((3,), name="s")
    h = Dropout(0.5, seed=1)(Dense(6, activation="tanh")(x))
    model = Model([x, s], Dense(2)(Concatenate()([h, Dense(2)(s)])), seed=0)
    errors = check_model(model, [rng.standard_normal((5, 4)), rng.standard_normal((5, 3))], training=True)
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("merge", [Concatenate, Add, Subtract, Multiply, Average])
def test_merge_layer_gradients_for_each_input(rng, merge):
    xs = [rng.standard_normal((3, 2, 4)), rng.standard_normal((3, 2, 4))]
    layer = merge()
    y = layer.forward(xs)
    R = rng.standard_normal(y.shape)
    dxs = layer.backward(R)
    for i in range(2):
        def loss():
            return float(np.sum(layer.forward(xs) * R))
        numeric = minidl.gradcheck.numerical_gradient(loss, xs[i])
        assert minidl.gradcheck.relative_error(dxs[i], numeric) < 1e-8


def test_concatenate_along_a_middle_axis_and_three_inputs(rng):
    xs = [rng.standard_normal((2, n, 3)) for n in (1, 4, 2)]
    layer = Concatenate(axis=1)
    y = layer.forward(xs)
    assert y.shape == (2, 7, 3) and layer.output_shape == (7, 3)
    np.testing.assert_array_equal(y[:, 1:5], xs[1])
    back = layer.backward(y)
    for a, b in zip(back, xs):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- graph and order
def test_layer_call_on_symbolic_tensor_builds_the_layer_and_returns_a_tensor():
    inp = Input((4,), name="stats")
    dense = Dense(8)
    t = dense(inp)
    assert isinstance(t, SymbolicTensor) and t.shape == (None, 8) and dense.built
    assert dense.params["kernel"].shape == (4, 8)
    assert dense(np.ones((2, 4), dtype=np.float32)).shape == (2, 8)  # arrays still run forward


def test_layers_are_in_keras_order_decreasing_depth_then_discovery():
    # same graph as Keras's own check: Model([a, b], out) lists b, a, db1, da1, db2, cat, out
    a, b = Input((4,), name="a"), Input((3,), name="b")
    hb = Dense(2, name="db2")(Dense(2, name="db1")(b))
    out = Dense(1, name="out")(Concatenate(name="cat")([Dense(5, name="da1")(a), hb]))
    model = Model([a, b], out)
    assert [l.name for l in model.layers] == ["b", "a", "db1", "da1", "db2", "cat", "out"]
    assert keras_layer_order([b, a], out.layer) == model.layers  # does not depend on the order of inputs
    assert [w.shape for w in model.get_weights()] == [(3, 2), (2,), (4, 5), (5,), (2, 2), (2,), (7, 1), (1,)]


def test_same_seed_same_weights_and_a_sub_model_keeps_the_trained_weights(rng):
    w0, w1 = hybrid(seed=3).get_weights(), hybrid(seed=3).get_weights()
    for a, b in zip(w0, w1, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(hybrid(seed=4).get_weights()[0], w0[0])
    model = hybrid(seed=3)
    before = model.get_weights()
    features = Model(model.inputs, model.get_layer("cat")._output_tensor)  # the concatenated features
    for a, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    assert features.predict(hybrid_data(rng)).shape == (6, 12)


def test_sequential_input_still_works_and_summary_lists_connections():
    seq = Sequential([Input((3,)), Dense(2)], seed=0)
    assert seq.predict(np.ones((1, 3))).shape == (1, 2)
    text = hybrid().summary(print_fn=lambda s: None)
    assert "Connected to" in text and "cat (Concatenate)" in text and "flat, stats_dense" in text
    assert "image (InputLayer)" in text and "Total params: 83" in text


# ---------------------------------------------------------------- training workflow
def compiled(seed=0):
    model = hybrid(seed)
    model.compile(minidl.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_fit_on_a_list_and_on_a_dict_gives_the_same_training(rng):
    x, y = hybrid_data(rng, n=40), rng.integers(0, 3, 40)
    a, b = compiled(), compiled()
    ha = a.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, verbose=0)
    hb = b.fit({"stats": x[1], "image": x[0]}, y, epochs=2, batch_size=8, validation_split=0.25, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert ha.history["loss"] == hb.history["loss"] and len(ha.history["val_accuracy"]) == 2
    assert ha.history["val_loss"][-1] == pytest.approx(a.evaluate([x[0][30:], x[1][30:]], y[30:])[0], rel=1e-6)
    assert a.predict({"image": x[0], "stats": x[1]}).shape == (40, 3)
    assert isinstance(a.train_on_batch(x, y), list)


def test_a_batch_source_of_multi_input_batches_equals_the_arrays(rng):
    x, y = hybrid_data(rng, n=20), rng.integers(0, 3, 20)

    class Batches(PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            s = slice(5 * i, 5 * i + 5)
            return {"image": x[0][s], "stats": x[1][s]}, y[s]

    class Inputs(Batches):
        def __getitem__(self, i):
            return super().__getitem__(i)[:1]   # (x,): x alone, a dict of arrays

    a, b = compiled(), compiled()
    a.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0)
    b.fit(Batches(), epochs=2, shuffle=False, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(b.predict(Inputs()), a.predict(x, batch_size=5))
    assert b.evaluate(Batches()) == pytest.approx(a.evaluate(x, y, batch_size=5), rel=1e-6)


def test_save_and_load_round_trip_resumes_training_exactly(rng, tmp_path):
    x, y = hybrid_data(rng, n=16), rng.integers(0, 3, 16)
    ref, model = compiled(), compiled()
    for m in (ref, model):
        m.train_on_batch(x, y)
    model.save(tmp_path / "m.npz")
    loaded = minidl.load_model(tmp_path / "m.npz")
    assert isinstance(loaded, Model) and [l.name for l in loaded.layers] == [l.name for l in model.layers]
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    ref.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    for wa, wb in zip(ref.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    model.save_weights(tmp_path / "m.weights.npz")
    fresh = hybrid(seed=9)
    fresh.load_weights(tmp_path / "m.weights.npz")
    np.testing.assert_array_equal(fresh.predict(x), model.predict(x))


def test_callbacks_and_history_work_as_with_sequential(rng):
    x, y = hybrid_data(rng, n=24), rng.integers(0, 3, 24)
    model = compiled()
    stop = minidl.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    h = model.fit(x, y, epochs=5, batch_size=8, callbacks=[stop], verbose=0)
    assert isinstance(h, History) and len(h.history["loss"]) == 2  # stopped after no improvement by 10
    assert len(h.history["time"]) == 2 and h.history["learning_rate"] == [pytest.approx(0.01)] * 2


# ---------------------------------------------------------------- errors
def test_input_not_connected_to_the_output_is_an_error():
    a, b = Input((3,), name="a"), Input((2,), name="b")
    with pytest.raises(ValueError, match="Input 'b' is not connected"):
        Model([a, b], Dense(1)(a))


def test_output_needing_an_input_not_listed_is_an_error():
    a, b = Input((3,), name="a"), Input((2,), name="b")
    out = Dense(1)(Concatenate()([a, b]))
    with pytest.raises(ValueError, match="Graph disconnected.*Input 'b'"):
        Model(a, out)


def test_concatenate_shape_mismatch_is_an_error():
    a, b = Input((3, 4)), Input((2, 5))
    with pytest.raises(ValueError, match="agree on every axis except"):
        Concatenate()([a, b])
    with pytest.raises(ValueError, match="same rank"):
        Concatenate()([Input((3,)), Input((2, 5))])
    with pytest.raises(ValueError, match="batch axis"):
        Concatenate(axis=0)([Input((3,)), Input((3,))])
    with pytest.raises(ValueError, match="same shape"):
        Add()([Input((3,)), Input((4,))])
    with pytest.raises(TypeError, match="list of tensors"):
        Concatenate()(Input((3,)))
    with pytest.raises(TypeError, match="takes one tensor"):
        Dense(2)([Input((3,)), Input((3,))])


def test_wrong_inputs_to_fit_and_predict_are_errors(rng):
    model = compiled()
    x, y = hybrid_data(rng), rng.integers(0, 3, 6)
    with pytest.raises(ValueError, match="2 inputs .*list of 2 arrays"):
        model.fit(x[0], y, verbose=0)
    with pytest.raises(ValueError, match="must hold 2 arrays"):
        model.fit([x[0], x[1], x[1]], y, verbose=0)
    with pytest.raises(ValueError, match="missing \\['stats'\\]"):
        model.predict({"image": x[0]})
    with pytest.raises(ValueError, match="unknown \\['stat'\\]"):
        model.predict({"image": x[0], "stats": x[1], "stat": x[1]})
    with pytest.raises(ValueError, match="x\\['stats'\\] has sample shape \\(4,\\)"):
        model.predict([x[0], x[1][:, :4]])
    with pytest.raises(ValueError, match="same number of samples"):
        model.predict([x[0], x[1][:3]])
    with pytest.raises(ValueError, match="x and y must have the same number of samples"):
        model.fit(x, y[:4], verbose=0)


def test_bad_graphs_are_errors():
    a = Input((3,), name="a")
    d = Dense(2)
    d(a)
    with pytest.raises(ValueError, match="already used in a graph"):
        d(a)
    with pytest.raises(ValueError, match="Input 'a' itself"):
        Model(a, a)
    with pytest.raises(ValueError, match="one output"):
        Model(a, [Dense(1)(a), Dense(1)(a)])
    with pytest.raises(ValueError, match="must be Input"):
        h = Dense(2)(a)
        Model(h, Dense(1)(h))
    with pytest.raises(TypeError, match="symbolic tensors"):
        Model(np.ones((2, 3)), Dense(1)(a))
    b = Input((3,))
    with pytest.raises(ValueError, match="'dup' appear more than once"):
        Model(b, Dense(1, name="dup")(Dense(2, name="dup")(b)))
    with pytest.raises(ValueError, match="expected input of rank 4"):
        Conv2D(2, 3)(Input((5,)))
    used = Dense(2)
    used(np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"was built for input shape \(3,\); got \(4,\)"):
        used(Input((4,)))


def test_a_single_input_model_takes_an_array_and_checks_layers_directly(rng):
    x = Input((4,))
    model = Model(x, Dense(1)(x), seed=0)
    model.compile("sgd", "mse")
    data = rng.standard_normal((10, 4)).astype(np.float32)
    assert model.predict(data).shape == model.predict([data]).shape == (10, 1)
    model.fit(data, rng.standard_normal((10, 1)), epochs=1, verbose=0)
    assert model.input_shape == (None, 4) and model.output_shape == (None, 1)
