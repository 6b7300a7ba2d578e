"""Convolutional layers and CNNs in Keras 3 and in minidl: same outputs, same gradients, same weights after
5 Adam steps. Runs in CI (Keras is in the test extra; the ``keras`` fixture lives in conftest.py).

Tolerances (float32): layer outputs and gradients within 1e-5 relative + 1e-5 absolute (sums of up to a
few hundred float32 products, accumulated in a different order); predictions within 1e-5 relative; weights
after 5 Adam steps within 1e-4 absolute + 1e-4 relative — Adam divides by ``sqrt(v)``, which magnifies
the float32 rounding of gradients that are close to zero.
"""

import numpy as np
import pytest

import minidl
from minidl import layers as L

RTOL, ATOL = 1e-5, 1e-5
W_ATOL, W_RTOL = 1e-4, 1e-4

# (minidl class name, constructor kwargs, input shape with batch)
LAYER_CASES = [
    ("Conv2D", dict(filters=4, kernel_size=3), (2, 7, 8, 3)),
    ("Conv2D", dict(filters=4, kernel_size=3, strides=2, padding="same"), (2, 7, 9, 3)),
    ("Conv2D", dict(filters=3, kernel_size=(2, 4), strides=(1, 2), padding="same"), (2, 6, 7, 2)),
    ("Conv2D", dict(filters=5, kernel_size=(3, 1), strides=2, activation="relu"), (2, 8, 5, 2)),
    ("Conv1D", dict(filters=4, kernel_size=3), (2, 11, 3)),
    ("Conv1D", dict(filters=4, kernel_size=4, strides=2, padding="same", activation="tanh"), (2, 11, 3)),
    ("MaxPooling2D", dict(), (2, 6, 8, 3)),
    ("MaxPooling2D", dict(pool_size=3, strides=2, padding="same"), (2, 7, 6, 3)),
    ("AveragePooling2D", dict(pool_size=(2, 3), padding="same"), (2, 5, 7, 3)),
    ("AveragePooling2D", dict(pool_size=3, strides=1), (2, 5, 7, 3)),
    ("MaxPooling1D", dict(pool_size=3, strides=2, padding="same"), (2, 10, 3)),
    ("AveragePooling1D", dict(pool_size=2), (2, 9, 3)),
    ("AveragePooling1D", dict(pool_size=3, strides=2, padding="same"), (2, 10, 3)),
    ("GlobalAveragePooling2D", dict(), (2, 4, 5, 3)),
    ("GlobalMaxPooling1D", dict(), (2, 6, 3)),
]


def _ids(cases):
    return [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for name, kw, _ in cases]


def _grads_keras(keras, kl, x, R, training):
    import tensorflow as tf
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = kl(xt, training=training)
        loss = tf.reduce_sum(y * R)
    grads = tape.gradient(loss, [xt, *kl.trainable_weights])
    return y.numpy(), [g.numpy() for g in grads]


def _grads_minidl(ml, x, R, training):
    y = ml.forward(x, training=training)
    dx = ml.backward(R)
    return y, [dx, *[ml.grads[n] for n in ml.trainable_names]]


@pytest.mark.parametrize("name, kwargs, shape", LAYER_CASES, ids=_ids(LAYER_CASES))
def test_layer_output_and_gradients_equal_keras_with_copied_weights(keras, rng, name, kwargs, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    ml = getattr(L, name)(**kwargs, **({"bias_initializer": "random_normal"} if "Conv" in name else {}))
    ml.build(shape[1:])
    kl = getattr(keras.layers, name)(**kwargs)
    kl.build(shape)
    kl.set_weights(ml.get_weights())
    y_m = ml.forward(x)
    R = rng.standard_normal(y_m.shape).astype(np.float32)
    y_k, g_k = _grads_keras(keras, kl, x, R, False)
    assert y_m.shape == y_k.shape
    y_m, g_m = _grads_minidl(ml, x, R, False)
    np.testing.assert_allclose(y_m, y_k, rtol=RTOL, atol=ATOL, err_msg="output: minidl vs keras")
    for what, gm, gk in zip(["input", *ml.trainable_names], g_m, g_k):
        np.testing.assert_allclose(gm, gk, rtol=RTOL, atol=ATOL, err_msg=f"gradient of {what}: minidl vs keras")


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 5, 6)])
def test_batchnorm_output_gradients_and_moving_statistics_equal_keras(keras, rng, training, shape):
    x = (rng.standard_normal(shape) * 3 + 2).astype(np.float32)
    ml = L.BatchNormalization(momentum=0.9)
    ml.build(shape[1:])
    C = shape[-1]
    ml.set_weights([rng.uniform(0.5, 2, C), rng.standard_normal(C), rng.standard_normal(C), rng.uniform(0.5, 2, C)])
    kl = keras.layers.BatchNormalization(momentum=0.9)
    kl.build(shape)
    kl.set_weights(ml.get_weights())
    R = rng.standard_normal(shape).astype(np.float32)
    y_k, g_k = _grads_keras(keras, kl, x, R, training)
    y_m, g_m = _grads_minidl(ml, x, R, training)
    np.testing.assert_allclose(y_m, y_k, rtol=RTOL, atol=ATOL)
    for gm, gk in zip(g_m, g_k):
        np.testing.assert_allclose(gm, gk, rtol=1e-4, atol=1e-4)
    for wm, wk in zip(ml.get_weights(), kl.get_weights()):   # moving statistics after one update
        np.testing.assert_allclose(wm, wk, rtol=1e-5, atol=1e-6)


def _cnn2d(lib, layers_mod):
    return [lib.Input((12, 13, 2)),
            layers_mod.Conv2D(4, 3, activation="relu"),                           # valid
            layers_mod.Conv2D(6, 3, strides=2, padding="same", activation="relu"),  # same, stride 2
            layers_mod.BatchNormalization(),
            layers_mod.MaxPooling2D(2),
            layers_mod.Conv2D(5, (2, 1), padding="same", activation="relu"),
            layers_mod.AveragePooling2D(2, padding="same"),
            layers_mod.Flatten(),
            layers_mod.Dense(8, activation="relu"),
            layers_mod.Dense(3, activation="softmax")]


def _cnn1d(lib, layers_mod):
    return [lib.Input((20, 5)),
            layers_mod.Conv1D(6, 2, activation="relu"),
            layers_mod.AveragePooling1D(2),
            layers_mod.BatchNormalization(),
            layers_mod.Conv1D(4, 3, strides=2, padding="same", activation="relu"),
            layers_mod.MaxPooling1D(2, padding="same"),
            layers_mod.Flatten(),
            layers_mod.Dense(3, activation="softmax")]


@pytest.mark.parametrize("arch", [_cnn2d, _cnn1d], ids=["conv2d", "conv1d"])
def test_cnn_predictions_and_weights_after_five_adam_steps_equal_keras(keras, rng, arch):
    mm = minidl.Sequential(arch(minidl, minidl), seed=0)
    km = keras.Sequential(arch(keras, keras.layers))
    km.set_weights(mm.get_weights())
    shape = mm.input_layer.shape
    x = rng.choice([-1.0, 1.0], size=(40, *shape)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    np.testing.assert_allclose(mm.predict(x), km.predict(x, verbose=0), rtol=RTOL, atol=1e-6)
    mm.compile(minidl.Adam(0.01), "sparse_categorical_crossentropy")
    km.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", jit_compile=False)
    m_losses, k_losses = [], []
    for s in range(5):
        xb, yb = x[s * 8:(s + 1) * 8], y[s * 8:(s + 1) * 8]
        m_losses.append(mm.train_on_batch(xb, yb))
        k_losses.append(float(km.train_on_batch(xb, yb)))
    np.testing.assert_allclose(m_losses, k_losses, rtol=1e-4)
    for wm, wk in zip(mm.get_weights(), km.get_weights()):
        np.testing.assert_allclose(wm, wk, atol=W_ATOL, rtol=W_RTOL)
    np.testing.assert_allclose(mm.predict(x), km.predict(x, verbose=0), rtol=1e-4, atol=1e-5)
