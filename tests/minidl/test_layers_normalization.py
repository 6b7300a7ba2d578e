"""BatchNormalization: gradients in training and inference mode (float64), Keras moving-average
semantics, trainable=False, config and errors."""

import numpy as np
import pytest

from minidl import regularizers
from minidl.gradcheck import check_layer
from minidl.layers import BatchNormalization


def _x(shape, seed=7):
    # seed differs from check_layer's (0): with the same seed, R would be an affine function of x and
    # BN's input gradient (which removes shifts and scalings of x) would vanish
    return np.random.default_rng(seed).standard_normal(shape) * 2 + 1


def _randomise(layer, seed=1):
    rng = np.random.default_rng(seed)
    C = layer.params["moving_mean"].shape
    layer.params["gamma"][...] = rng.uniform(0.5, 2, C)
    layer.params["beta"][...] = rng.standard_normal(C)
    layer.params["moving_mean"][...] = rng.standard_normal(C)
    layer.params["moving_variance"][...] = rng.uniform(0.5, 2, C)


@pytest.mark.parametrize("shape", [(6, 3), (2, 4, 5, 3), (3, 5, 2)])
def test_batchnorm_training_mode_gradients(shape):
    layer = BatchNormalization()
    layer.build(shape[1:])
    _randomise(layer)
    errors = check_layer(layer, _x(shape), training=True)
    assert set(errors) == {"input", "gamma", "beta"}
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("shape", [(6, 3), (2, 4, 5, 3)])
def test_batchnorm_inference_mode_gradients(shape):
    layer = BatchNormalization()
    layer.build(shape[1:])
    _randomise(layer)
    errors = check_layer(layer, _x(shape), training=False)
    assert max(errors.values()) < 1e-7, errors


def test_batchnorm_without_scale_and_center_and_with_regularizers_gradients():
    layer = BatchNormalization(scale=False, center=False)
    assert max(check_layer(layer, _x((5, 4)), training=True).values()) < 1e-7
    layer = BatchNormalization(gamma_regularizer=regularizers.L2(0.1), beta_regularizer="l1")
    assert max(check_layer(layer, _x((5, 4)), training=True).values()) < 1e-7


def test_batchnorm_training_output_has_zero_mean_unit_variance_per_channel():
    x = _x((64, 3, 3, 4)).astype(np.float32)
    y = BatchNormalization(epsilon=1e-6).forward(x, training=True)
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 1, 2)), 1, atol=1e-4)


def test_batchnorm_moving_statistics_follow_keras_momentum_rule_with_biased_variance():
    x = _x((10, 3)).astype(np.float32)
    layer = BatchNormalization(momentum=0.9)
    layer.forward(x, training=True)
    np.testing.assert_allclose(layer.params["moving_mean"], 0.1 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(layer.params["moving_variance"], 0.9 + 0.1 * x.var(0), rtol=1e-5)


def test_batchnorm_inference_uses_moving_statistics():
    layer = BatchNormalization(epsilon=1e-3)
    layer.build((3,))
    _randomise(layer)
    p = {k: v.copy() for k, v in layer.params.items()}
    x = _x((4, 3)).astype(np.float32)
    expected = p["gamma"] * (x - p["moving_mean"]) / np.sqrt(p["moving_variance"] + 1e-3) + p["beta"]
    np.testing.assert_allclose(layer.forward(x, training=False), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(layer.params["moving_mean"], p["moving_mean"])


def test_frozen_batchnorm_runs_in_inference_mode_even_when_training():
    layer = BatchNormalization(trainable=False)
    layer.build((3,))
    _randomise(layer)
    x = _x((4, 3)).astype(np.float32)
    np.testing.assert_array_equal(layer.forward(x, training=True), layer.forward(x, training=False))


def test_batchnorm_weights_are_in_keras_order():
    layer = BatchNormalization()
    layer.build((5, 7))
    assert list(layer.params) == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert layer.trainable_names == ["gamma", "beta"]


def test_batchnorm_get_config_rebuilds_the_layer():
    layer = BatchNormalization(momentum=0.9, epsilon=1e-5, center=False, gamma_regularizer="l2", name="bn")
    assert BatchNormalization.from_config(layer.get_config()).get_config() == layer.get_config()


def test_batchnorm_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="axis must be -1"):
        BatchNormalization(axis=1)
    with pytest.raises(ValueError, match="momentum must be in"):
        BatchNormalization(momentum=1.5)
