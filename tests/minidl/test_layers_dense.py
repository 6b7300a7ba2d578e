"""Dense, Dropout, Flatten, Reshape: gradients in float64 and the behaviour a learner relies on."""

import numpy as np
import pytest

from minidl.gradcheck import check_layer
from minidl.layers import Dense, Dropout, Flatten, Input, Reshape

from .conftest import away_from_kinks


@pytest.mark.parametrize("kwargs", [
    dict(units=4),
    dict(units=3, activation="tanh"),
    dict(units=3, activation="sigmoid", use_bias=False),
    dict(units=5, activation="softmax"),
    dict(units=2, kernel_regularizer="l2", bias_regularizer={"name": "l1_l2", "l1": 0.01, "l2": 0.02}),
], ids=str)
def test_dense_gradients_of_input_kernel_and_bias(kwargs, rng):
    layer = Dense(**kwargs, seed=1)
    errors = check_layer(layer, rng.standard_normal((6, 7)))
    assert set(errors) == {"input", "kernel"} | ({"bias"} if layer.use_bias else set())
    assert max(errors.values()) < 1e-7, errors


def test_dense_relu_gradients_away_from_the_kink(rng):
    layer = Dense(4, activation="relu", bias_initializer="ones", seed=3)
    x = rng.standard_normal((5, 3))
    layer.build((3,))
    # shift the bias so no pre-activation sits within 0.05 of the kink
    z = x @ layer.params["kernel"] + layer.params["bias"]
    layer.params["bias"] += np.where(np.abs(z) < 0.05, 0.2, 0).max(axis=0)
    assert max(check_layer(layer, x).values()) < 1e-5


def test_dense_l1_gradient_away_from_zero_weights(rng):
    layer = Dense(3, kernel_regularizer={"name": "l1", "l1": 0.05}, seed=2)
    layer.build((4,))
    layer.params["kernel"][...] = away_from_kinks(layer.params["kernel"])
    assert max(check_layer(layer, rng.standard_normal((5, 4))).values()) < 1e-7


def test_dense_on_rank3_input_acts_on_last_axis(rng):
    layer = Dense(3, activation="tanh", seed=0)
    errors = check_layer(layer, rng.standard_normal((2, 5, 4)))
    assert layer.output_shape == (5, 3)
    assert max(errors.values()) < 1e-7


def test_backward_twice_gives_the_same_gradients(rng):
    layer = Dense(3, activation="tanh", kernel_regularizer="l2", seed=0)
    x, dy = rng.standard_normal((4, 5)), rng.standard_normal((4, 3))
    layer.forward(x)
    dx1, g1 = layer.backward(dy), {k: v.copy() for k, v in layer.grads.items()}
    dx2, g2 = layer.backward(dy), layer.grads
    np.testing.assert_array_equal(dx1, dx2)
    for k in g1:
        np.testing.assert_array_equal(g1[k], g2[k])


def test_dense_weights_follow_keras_order_and_shapes():
    layer = Dense(3)
    layer.build((5,))
    assert [w.shape for w in layer.get_weights()] == [(5, 3), (3,)]
    assert layer.get_weights()[0].dtype == np.float32
    np.testing.assert_array_equal(layer.get_weights()[1], 0)  # zero biases by default


def test_glorot_uniform_default_respects_its_limit():
    layer = Dense(300, seed=0)
    layer.build((200,))
    limit = np.sqrt(6 / (200 + 300))
    w = layer.params["kernel"]
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.95 * limit


def test_dense_rejects_wrong_input_shape(rng):
    layer = Dense(2)
    layer.forward(rng.standard_normal((3, 4)))
    with pytest.raises(ValueError, match=r"Dense 'dense.*' was built for input shape \(N, 4\); got \(3, 5\)"):
        layer.forward(rng.standard_normal((3, 5)))
    with pytest.raises(ValueError, match="positive integer"):
        Dense(0)


def test_dropout_gradient_uses_the_same_mask(rng):
    assert check_layer(Dropout(0.5, seed=0), rng.standard_normal((4, 6)), training=True)["input"] < 1e-7


def test_dropout_is_identity_at_inference_and_unbiased_in_training(rng):
    x = np.ones((200, 500))
    layer = Dropout(0.3, seed=1)
    np.testing.assert_array_equal(layer.forward(x, training=False), x)
    y = layer.forward(x, training=True)
    assert set(np.unique(y)) == {0.0, 1 / 0.7}
    assert abs((y == 0).mean() - 0.3) < 0.01
    assert abs(y.mean() - 1.0) < 0.01  # inverted dropout keeps the expectation


def test_dropout_same_seed_same_masks_on_any_rank():
    x = np.ones((2, 3, 4, 5))
    a = Dropout(0.5, seed=7).forward(x, training=True)
    b = Dropout(0.5, seed=7).forward(x, training=True)
    np.testing.assert_array_equal(a, b)


def test_dropout_noise_shape_drops_whole_channels():
    y = Dropout(0.5, noise_shape=(None, 1, 6), seed=0).forward(np.ones((3, 4, 6)), training=True)
    assert np.all(y == y[:, :1, :])  # the mask is shared along the second axis


def test_dropout_rejects_rate_outside_unit_interval():
    with pytest.raises(ValueError, match=r"Dropout rate must be a number in \[0, 1\); got 1.5"):
        Dropout(1.5)


def test_flatten_and_reshape_round_trip(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    f = Flatten()
    y = f.forward(x)
    assert y.shape == (2, 60)
    np.testing.assert_array_equal(f.backward(y), x)
    r = Reshape((-1, 5))
    assert r.forward(y).shape == (2, 12, 5)
    assert check_layer(Reshape((4, 15)), y)["input"] < 1e-7
    with pytest.raises(ValueError, match="cannot turn"):
        Reshape((7, -1)).build((60,))


def test_input_rejects_bad_shapes():
    with pytest.raises(ValueError, match="Input shape must be a tuple of positive integers"):
        Input((0, 3))
