"""Derivatives at exactly the kinks, as TensorFlow takes them (issue 15 §1).

A finite difference cannot say what ``f'`` is *at* a kink; the framework has to choose, and for Keras
parity the choice is TensorFlow's. Exactly-zero pre-activations are common (zero biases, dead layers),
so the choice changes training. Each case below states TensorFlow's value (measured with
``tf.GradientTape`` on Keras 3.15 / TF 2.21) and checks minidl against it; ``test_table_is_tensorflows``
re-measures the table with TensorFlow itself, so the table cannot drift from the library it describes.
"""

import numpy as np
import pytest

import minidl
from minidl import activations as A
from minidl import kernels
from minidl import losses as L

# (id, minidl activation function, keras activation (given the keras module), points, TF's f'(points))
ACTIVATION_KINKS = [
    ("relu_at_0", lambda: A.ReLUFunction(), lambda k: k.activations.relu,
     [-1.0, 0.0, 1.0], [0.0, 0.0, 1.0]),
    ("relu_max_value_at_max", lambda: A.ReLUFunction(max_value=1.0),
     lambda k: lambda x: k.activations.relu(x, max_value=1.0), [0.0, 0.5, 1.0, 2.0], [0.0, 1.0, 1.0, 0.0]),
    ("relu6_at_6", lambda: A.ReLUFunction(max_value=6.0),
     lambda k: lambda x: k.activations.relu(x, max_value=6.0), [0.0, 3.0, 6.0, 7.0], [0.0, 1.0, 0.0, 0.0]),
    ("relu_threshold_at_threshold", lambda: A.ReLUFunction(threshold=0.5),
     lambda k: lambda x: k.activations.relu(x, threshold=0.5), [0.0, 0.5, 1.0], [0.0, 0.0, 1.0]),
    ("relu_negative_threshold", lambda: A.ReLUFunction(threshold=-0.5),
     lambda k: lambda x: k.activations.relu(x, threshold=-0.5), [-1.0, -0.5, 0.0, 1.0], [0.0, 0.0, 1.0, 1.0]),
    ("relu_negative_threshold_and_max", lambda: A.ReLUFunction(threshold=-0.5, max_value=1.0),
     lambda k: lambda x: k.activations.relu(x, threshold=-0.5, max_value=1.0),
     [-0.5, -0.25, 0.0, 1.0, 2.0], [0.0, 0.0, 1.0, 1.0, 0.0]),
    ("relu_slope_threshold_at_threshold", lambda: A.ReLUFunction(negative_slope=0.1, threshold=0.5),
     lambda k: lambda x: k.activations.relu(x, negative_slope=0.1, threshold=0.5),
     [0.0, 0.5, 1.0], [0.1, 0.0, 1.0]),
    ("relu_slope_at_0", lambda: A.ReLUFunction(negative_slope=0.1),
     lambda k: lambda x: k.activations.relu(x, negative_slope=0.1), [-1.0, 0.0, 1.0], [0.1, 0.1, 1.0]),
    ("relu_slope_max_at_0_and_max", lambda: A.ReLUFunction(negative_slope=0.1, max_value=1.0),
     lambda k: lambda x: k.activations.relu(x, negative_slope=0.1, max_value=1.0),
     [-1.0, 0.0, 1.0, 2.0], [0.1, 0.0, 1.0, 0.0]),
    ("relu_all_three", lambda: A.ReLUFunction(negative_slope=0.1, max_value=1.0, threshold=0.5),
     lambda k: lambda x: k.activations.relu(x, negative_slope=0.1, max_value=1.0, threshold=0.5),
     [0.0, 0.5, 1.0, 2.0], [0.1, 0.0, 1.0, 0.0]),
    ("leaky_relu_at_0", lambda: A.LeakyReLUFunction(), lambda k: k.activations.leaky_relu,
     [-1.0, 0.0, 1.0], [0.2, 0.2, 1.0]),
    ("leaky_relu_layer_at_0", lambda: minidl.layers.LeakyReLU().activation, lambda k: k.layers.LeakyReLU(),
     [-1.0, 0.0, 1.0], [0.3, 0.3, 1.0]),
    ("relu_layer_all_three", lambda: minidl.layers.ReLU(max_value=1.0, negative_slope=0.1, threshold=0.5).activation,
     lambda k: k.layers.ReLU(max_value=1.0, negative_slope=0.1, threshold=0.5),
     [0.0, 0.5, 1.0, 2.0], [0.1, 0.0, 1.0, 0.0]),
    ("elu_at_0", lambda: A.ELUFunction(), lambda k: k.activations.elu, [0.0, 1.0], [1.0, 1.0]),
    ("elu_alpha_at_0", lambda: A.ELUFunction(alpha=0.5), lambda k: lambda x: k.activations.elu(x, alpha=0.5),
     [0.0, 1.0], [0.5, 1.0]),
    ("selu_at_0", lambda: A.SELUFunction(), lambda k: k.activations.selu, [0.0, 1.0],
     [1.0507009873554805, 1.0507009873554805]),
]


def _minidl_grad(make, points):
    f = make()
    z = np.asarray(points, dtype=np.float32)
    f.forward(z)
    return f.backward(np.ones_like(z))


def _tf_grad(fn, x):
    import tensorflow as tf

    v = tf.Variable(np.asarray(x, dtype=np.float32))
    with tf.GradientTape() as tape:
        s = tf.reduce_sum(fn(v))
    return tape.gradient(s, v).numpy()


@pytest.mark.parametrize("case", ACTIVATION_KINKS, ids=[c[0] for c in ACTIVATION_KINKS])
def test_activation_derivative_at_kink_is_tensorflows(case):
    _, make, _, points, expected = case
    np.testing.assert_allclose(_minidl_grad(make, points), np.float32(expected), rtol=1e-6, atol=0)


@pytest.mark.parametrize("case", ACTIVATION_KINKS, ids=[c[0] for c in ACTIVATION_KINKS])
def test_activation_value_near_kink_is_keras(keras, case):
    _, make, keras_fn, points, _ = case
    z = np.linspace(-2, 2, 41, dtype=np.float32)
    z = np.concatenate([z, np.float32(points)])
    np.testing.assert_allclose(make().forward(z), np.asarray(keras_fn(keras)(z)), rtol=1e-6, atol=1e-7)


def test_table_is_tensorflows(keras):
    for name, _, keras_fn, points, expected in ACTIVATION_KINKS:
        np.testing.assert_allclose(_tf_grad(keras_fn(keras), points), np.float32(expected), rtol=1e-6,
                                   err_msg=name)


@pytest.mark.parametrize("family", ["reference", "fast"])
def test_fused_conv_relu_derivative_at_0_is_0_in_both_families(family):
    K = kernels.family(family)
    relu = A.ReLUFunction()
    # a zero kernel and zero bias: every pre-activation is exactly 0
    x = np.ones((2, 5, 5, 3), dtype=np.float32)
    w = np.zeros((3, 3, 3, 4), dtype=np.float32)
    y = K.conv_bias_activation(x, w, np.zeros(4, np.float32), (1, 1), (1, 1, 1, 1), relu)
    assert np.all(y == 0)
    dz = K.activation_backward(np.ones_like(y), y, relu)
    assert np.all(dz == 0)
    assert np.all(K.relu_backward(np.ones_like(y), y) == 0)


def test_dense_relu_derivative_at_0_is_0():
    layer = minidl.Dense(3, activation="relu", kernel_initializer="zeros")
    layer.forward(np.ones((2, 4), np.float32), training=True)
    layer.backward(np.ones((2, 3), np.float32))
    assert np.all(layer.grads["kernel"] == 0) and np.all(layer.grads["bias"] == 0)


# MaxPooling with tied maxima: TensorFlow sends the gradient to the first maximum in row-major order
TIE_X = np.array([[1, 1, 0, 2], [1, 1, 2, 2], [3, 0, 0, 0], [0, 3, 0, 0]], dtype=np.float32)
TIE_CASES = [  # (pool, strides, padding, TF's gradient of the sum of the outputs)
    (2, 2, "valid", [[1, 0, 0, 1], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]),
    (2, 1, "valid", [[1, 0, 0, 1], [0, 0, 3, 0], [2, 0, 1, 0], [0, 1, 0, 0]]),
]
ZERO_CASES = [  # all-zero input (e.g. after a dead ReLU layer): every window a tie
    (2, 2, "valid", [[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]),
    (3, 2, "same", [[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]),
]


def _pool_grad(x, pool, strides, padding):
    layer = minidl.layers.MaxPooling2D(pool, strides=strides, padding=padding)
    y = layer.forward(x[None, :, :, None], training=True)
    return layer.backward(np.ones_like(y))[0, :, :, 0]


@pytest.mark.parametrize("family", ["reference", "fast"])
@pytest.mark.parametrize("x,case", [(TIE_X, c) for c in TIE_CASES] + [(np.zeros((4, 4), np.float32), c)
                                                                      for c in ZERO_CASES])
def test_max_pooling_ties_go_to_the_first_maximum_as_tensorflow(family, x, case):
    pool, strides, padding, expected = case
    with minidl.config.use_kernels(family):
        np.testing.assert_array_equal(_pool_grad(x, pool, strides, padding), np.float32(expected))


def test_max_pooling_tie_table_is_tensorflows(keras):
    for x, (pool, strides, padding, expected) in [(TIE_X, c) for c in TIE_CASES] + [
            (np.zeros((4, 4), np.float32), c) for c in ZERO_CASES]:
        layer = keras.layers.MaxPooling2D(pool, strides=strides, padding=padding)
        np.testing.assert_array_equal(_tf_grad(layer, x[None, :, :, None])[0, :, :, 0], np.float32(expected))


def test_l1_gradient_at_zero_weight_is_0_as_tf_sign():
    w = np.array([-1.0, 0.0, 2.0], np.float32)
    np.testing.assert_array_equal(minidl.regularizers.L1(0.01).gradient(w), np.float32([-0.01, 0.0, 0.01]))
    np.testing.assert_allclose(minidl.regularizers.L1L2(0.01, 0.01).gradient(w), np.float32([-0.03, 0.0, 0.05]))


def test_l1_table_is_tensorflows(keras):
    w = np.array([-1.0, 0.0, 2.0], np.float32)
    np.testing.assert_allclose(_tf_grad(keras.regularizers.L1(0.01), w), [-0.01, 0.0, 0.01], rtol=1e-6)


# probabilities exactly at the clip bounds: tf.clip_by_value passes the gradient at its bounds
EPS32, ONE_MINUS_EPS32 = np.float32(1e-7), np.float32(1 - 1e-7)
CLIP_CASES = [  # (loss, y_true, y_pred, TF's gradient)
    ("categorical_crossentropy", [[0.0, 1.0]], [[EPS32, ONE_MINUS_EPS32]], [[1.0, -1.1920929e-07]]),
    ("categorical_crossentropy", [[0.0, 1.0]], [[0.0, 1.0]], [[0.0, 0.0]]),
    ("binary_crossentropy", [[0.0, 1.0]], [[EPS32, ONE_MINUS_EPS32]], [[0.50000006, -0.50000006]]),
    ("binary_crossentropy", [[0.0, 1.0]], [[0.0, 1.0]], [[0.0, 0.0]]),
    ("mae", [[1.0, 2.0]], [[1.0, 3.0]], [[0.0, 0.5]]),
]


@pytest.mark.parametrize("case", CLIP_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CLIP_CASES)])
def test_loss_gradient_at_clip_bounds_is_tensorflows(case):
    name, y, p, expected = case
    g = L.get(name).gradient(np.float32(y), np.asarray(p, np.float32))
    np.testing.assert_allclose(g, np.float32(expected), rtol=1e-5, atol=1e-12)


def test_loss_clip_table_is_tensorflows(keras):
    for name, y, p, expected in CLIP_CASES:
        fn = keras.losses.get(name)
        np.testing.assert_allclose(_tf_grad(lambda v: fn(np.float32(y), v), p), np.float32(expected),
                                   rtol=1e-5, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("kwargs", [{"threshold": -0.5}, {"max_value": -1.0}, {"negative_slope": -0.1}])
def test_relu_layer_rejects_negative_arguments_as_keras(kwargs):
    # keras.layers.ReLU raises for these (found by the random parity test); the function accepts them
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        minidl.layers.ReLU(**kwargs)
    A.ReLUFunction(**kwargs)
