"""Max/average pooling (1-D, 2-D, global): gradients (float64), shapes, TensorFlow padding rules, errors.

Max pooling is only differentiable away from ties, so inputs are distinct values at least 1 apart
(a random permutation), far more than the 1e-6 nudges of the numerical gradient.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.gradcheck import check_layer
from minidl.kernels import family, padding_amounts
from minidl.layers import (AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D,
                           GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D)


def _distinct(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 1.0 + 0.25 * rng.random(shape)


@pytest.mark.parametrize("kwargs, x_shape, out_shape", [
    ({}, (2, 4, 6, 2), (2, 3, 2)),
    ({"pool_size": 3, "strides": 2, "padding": "same"}, (2, 7, 5, 2), (4, 3, 2)),
    ({"pool_size": (2, 3), "strides": 1}, (1, 4, 5, 3), (3, 3, 3)),
])
def test_max_pooling2d_gradients(kwargs, x_shape, out_shape):
    layer = MaxPooling2D(**kwargs)
    errors = check_layer(layer, _distinct(x_shape))
    assert layer.output_shape == out_shape
    assert errors["input"] < 1e-7


@pytest.mark.parametrize("kwargs, x_shape, out_shape", [
    ({}, (2, 4, 6, 2), (2, 3, 2)),
    ({"pool_size": 3, "strides": 2, "padding": "same"}, (2, 7, 5, 2), (4, 3, 2)),
    ({"pool_size": (3, 2), "strides": (1, 2)}, (1, 5, 5, 3), (3, 2, 3)),
])
def test_average_pooling2d_gradients(kwargs, x_shape, out_shape):
    layer = AveragePooling2D(**kwargs)
    errors = check_layer(layer, np.random.default_rng(1).standard_normal(x_shape))
    assert layer.output_shape == out_shape
    assert errors["input"] < 1e-7


@pytest.mark.parametrize("cls", [MaxPooling1D, AveragePooling1D])
@pytest.mark.parametrize("kwargs, out_len", [({}, 4), ({"pool_size": 3, "strides": 2, "padding": "same"}, 5)])
def test_pooling1d_gradients(cls, kwargs, out_len):
    layer = cls(**kwargs)
    errors = check_layer(layer, _distinct((2, 9, 3)))
    assert layer.output_shape == (out_len, 3)
    assert errors["input"] < 1e-7


@pytest.mark.parametrize("cls, shape", [(GlobalAveragePooling2D, (2, 3, 4, 2)), (GlobalMaxPooling2D, (2, 3, 4, 2)),
                                        (GlobalAveragePooling1D, (2, 5, 3)), (GlobalMaxPooling1D, (2, 5, 3))])
def test_global_pooling_gradients(cls, shape):
    layer = cls()
    assert check_layer(layer, _distinct(shape))["input"] < 1e-7
    assert layer.output_shape == (shape[-1],)


def test_max_pooling_picks_the_maximum_and_same_padding_never_wins():
    x = -np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)   # all negative: zero padding would win
    y = MaxPooling2D(2, padding="same").forward(x)
    np.testing.assert_array_equal(y[0, :, :, 0], [[-1, -3], [-7, -9]])


def test_average_pooling_same_padding_excludes_padding_from_the_count():
    x = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)
    y = AveragePooling2D(2, padding="same").forward(x)
    np.testing.assert_allclose(y[0, :, :, 0], [[3.0, 4.5], [7.5, 9.0]])


def test_max_pooling_tie_sends_the_gradient_to_the_first_maximum():
    layer = MaxPooling1D(2)
    layer.forward(np.ones((1, 2, 1)))
    np.testing.assert_array_equal(layer.backward(np.ones((1, 1, 1)))[0, :, 0], [1, 0])


def test_global_pooling_keepdims_keeps_singleton_axes():
    assert GlobalAveragePooling2D(keepdims=True).forward(np.ones((2, 3, 4, 5))).shape == (2, 1, 1, 5)


def test_pool_larger_than_input_is_a_clear_error():
    with pytest.raises(ValueError, match=r"pool_size \(4, 4\) is larger than its input \(3, 8\)"):
        MaxPooling2D(4).forward(np.zeros((1, 3, 8, 1)))


def test_pooling_wrong_rank_is_a_clear_error():
    with pytest.raises(ValueError, match=r"MaxPooling2D .* expected input of rank 4"):
        MaxPooling2D().forward(np.zeros((2, 8, 3)))
    with pytest.raises(ValueError, match=r"GlobalMaxPooling1D .* expected input of rank 3"):
        GlobalMaxPooling1D().forward(np.zeros((2, 8, 3, 1)))


def test_pooling_get_config_rebuilds_the_layer():
    layer = AveragePooling1D(3, strides=2, padding="same", name="p")
    assert AveragePooling1D.from_config(layer.get_config()).get_config() == layer.get_config()
    assert MaxPooling2D(3).strides == (3, 3)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 8), st.integers(1, 9), st.sampled_from(["valid", "same"]),
       st.sampled_from([np.float32, np.float64]), st.integers(0, 2**16))
def test_fast_average_pooling_backward_with_tiling_windows_equals_reference(ph, pw, H, W, padding, dtype, seed):
    """Stride = pool size: the gather-form backward (each dx cell written once), odd sizes and padding."""
    H, W = max(H, ph), max(W, pw)
    ref, fast = family("reference"), family("fast")
    pads = padding_amounts((H, W), (ph, pw), (ph, pw), padding)
    rng = np.random.default_rng(seed)
    x_shape = (2, H, W, 3)
    dy = rng.standard_normal(ref.avg_pool2d_forward(np.zeros(x_shape), (ph, pw), (ph, pw), pads).shape)
    dy = dy.astype(dtype)
    np.testing.assert_allclose(fast.avg_pool2d_backward(dy, x_shape, (ph, pw), (ph, pw), pads),
                               ref.avg_pool2d_backward(dy, x_shape, (ph, pw), (ph, pw), pads),
                               rtol=1e-6 if dtype == np.float32 else 1e-12, atol=1e-7)
