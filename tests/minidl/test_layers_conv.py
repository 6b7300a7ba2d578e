"""Conv2D and Conv1D: gradients (float64, every parameter and the input), shapes, config and errors.

Tolerances follow CS231n: relative error < 1e-7 for smooth layers, < 1e-5 where a ReLU kink may be near.
"""

import numpy as np
import pytest

from minidl import regularizers
from minidl.config import use_kernels
from minidl.gradcheck import check_layer
from minidl.layers import Conv1D, Conv2D

SMOOTH = 1e-7


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _assert_grads(errors, tol=SMOOTH):
    assert max(errors.values()) < tol, errors


@pytest.mark.parametrize("family", ["reference", "fast"])
def test_conv2d_valid_3x3_gradients_are_correct_in_both_kernel_families(family):
    with use_kernels(family):
        _assert_grads(check_layer(Conv2D(3, 3, seed=1), _x((2, 5, 6, 2))))


def test_conv2d_stride2_same_padding_odd_sizes_gradients():
    layer = Conv2D(4, 3, strides=2, padding="same", seed=2)
    errors = check_layer(layer, _x((2, 7, 9, 3)))
    assert layer.output_shape == (4, 5, 4)
    _assert_grads(errors)


def test_conv2d_non_square_kernel_and_strides_gradients():
    layer = Conv2D(3, (2, 3), strides=(2, 1), seed=3)
    errors = check_layer(layer, _x((2, 6, 7, 2)))
    assert layer.output_shape == (3, 5, 3)
    _assert_grads(errors)


def test_conv2d_same_padding_even_kernel_puts_extra_pixel_bottom_right_gradients():
    _assert_grads(check_layer(Conv2D(2, (2, 4), padding="same", seed=4), _x((1, 5, 6, 2))))


def test_conv2d_relu_and_regularizers_gradients():
    layer = Conv2D(3, 3, activation="relu", kernel_regularizer=regularizers.L2(0.1),
                   bias_regularizer=regularizers.L1(0.05), bias_initializer="random_normal", seed=5)
    _assert_grads(check_layer(layer, _x((2, 5, 5, 2))), 1e-5)


def test_conv2d_tanh_activation_gradients():
    _assert_grads(check_layer(Conv2D(2, 2, activation="tanh", seed=6), _x((2, 4, 5, 2))))


def test_conv2d_without_bias_has_only_a_kernel():
    layer = Conv2D(2, 3, use_bias=False, seed=7)
    errors = check_layer(layer, _x((1, 4, 4, 1)))
    assert set(errors) == {"input", "kernel"}
    _assert_grads(errors)


def test_conv1d_same_stride2_gradients():
    layer = Conv1D(4, 3, strides=2, padding="same", seed=8)
    errors = check_layer(layer, _x((2, 9, 3)))
    assert layer.output_shape == (5, 4)
    assert layer.params["kernel"].shape == (3, 3, 4)
    _assert_grads(errors)


def test_conv1d_valid_relu_gradients():
    _assert_grads(check_layer(Conv1D(3, 2, activation="relu", seed=9), _x((2, 7, 4))), 1e-5)


def test_conv1d_tanh_activation_gradients():
    _assert_grads(check_layer(Conv1D(3, 3, strides=2, padding="same", activation="tanh", seed=13), _x((2, 8, 2))))


def test_conv_backward_twice_gives_the_same_gradients():
    layer = Conv2D(2, 3, seed=10)
    x = _x((2, 5, 5, 1)).astype(np.float32)
    y = layer.forward(x)
    dy = _x(y.shape, 1).astype(np.float32)
    dx1 = layer.backward(dy)
    g1 = layer.grads["kernel"].copy()
    dx2 = layer.backward(dy)
    np.testing.assert_array_equal(dx1, dx2)
    np.testing.assert_array_equal(g1, layer.grads["kernel"])


def test_conv_without_input_gradient_returns_none_and_still_computes_weight_gradients():
    layer = Conv2D(2, 3, seed=11)
    x = _x((2, 5, 5, 1)).astype(np.float32)
    y = layer.forward(x)
    layer.backward(np.ones_like(y))
    g = layer.grads["kernel"].copy()
    layer.compute_input_gradient = False
    assert layer.backward(np.ones_like(y)) is None
    np.testing.assert_allclose(layer.grads["kernel"], g)


def test_conv_casts_integer_input_to_float32():
    layer = Conv2D(2, 2, seed=12)
    y = layer.forward(np.ones((1, 3, 3, 1), dtype=np.int8))
    assert y.dtype == np.float32 and y.shape == (1, 2, 2, 2)


def test_conv_get_config_rebuilds_the_same_layer():
    layer = Conv2D(5, (3, 2), strides=(1, 2), padding="same", activation="relu", use_bias=False,
                   kernel_regularizer=regularizers.L2(0.01), name="c")
    clone = Conv2D.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert Conv1D.from_config(Conv1D(2, 3).get_config()).kernel_size == (3,)


def test_conv2d_wrong_input_rank_is_a_clear_error():
    with pytest.raises(ValueError, match=r"Conv2D .* expected input of rank 4 \(N, H, W, C\); got shape \(32, 64\)"):
        Conv2D(2, 3).forward(np.zeros((32, 64)))


def test_conv1d_wrong_input_rank_is_a_clear_error():
    with pytest.raises(ValueError, match=r"Conv1D .* expected input of rank 3"):
        Conv1D(2, 3).forward(np.zeros((2, 8, 8, 1)))


def test_kernel_larger_than_input_is_a_clear_error():
    with pytest.raises(ValueError, match=r"kernel_size \(5, 5\) is larger than its input \(3, 8\)"):
        Conv2D(2, 5).forward(np.zeros((1, 3, 8, 1)))
    with pytest.raises(ValueError, match="larger than its input"):
        Conv1D(2, 4).build((3, 2))


def test_kernel_larger_than_input_is_fine_with_same_padding():
    assert Conv2D(2, 5, padding="same").forward(np.zeros((1, 3, 3, 1))).shape == (1, 3, 3, 2)


@pytest.mark.parametrize("kwargs, match", [
    ({"filters": 0, "kernel_size": 3}, "filters must be a positive integer"),
    ({"filters": 2, "kernel_size": (3, 3, 3)}, "kernel_size must be"),
    ({"filters": 2, "kernel_size": 3, "strides": 0}, "strides must be"),
    ({"filters": 2, "kernel_size": 3, "padding": "causal"}, "padding must be one of"),
])
def test_bad_constructor_arguments_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Conv2D(**kwargs)
