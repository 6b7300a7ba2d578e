"""The same MLP in Keras and in minidl: same predictions, and the same weights after 5 training steps,
for every optimizer, every loss family and with L2 regularisation. Runs in CI (Keras is in the test extra).

Tolerances (float32): predictions within 1e-5 relative; weights after 5 steps within 2e-5 absolute +
1e-4 relative — the order of float32 rounding accumulated over five updates.
"""

import numpy as np
import pytest

import minidl

PRED_RTOL = 1e-5
W_ATOL, W_RTOL = 2e-5, 1e-4


def build_pair(keras, loss, n_out, out_act, l2=None, seed=0):
    reg_m = None if l2 is None else minidl.regularizers.L2(l2)
    mm = minidl.Sequential([
        minidl.Input((6,)),
        minidl.Dense(16, activation="relu", kernel_regularizer=reg_m),
        minidl.Dense(8, activation="tanh"),
        minidl.Dense(n_out, activation=out_act),
    ], seed=seed)
    reg_k = None if l2 is None else keras.regularizers.L2(l2)
    km = keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(16, activation="relu", kernel_regularizer=reg_k),
        keras.layers.Dense(8, activation="tanh"),
        keras.layers.Dense(n_out, activation=out_act),
    ])
    km.set_weights(mm.get_weights())
    return mm, km


def data(rng, loss, n_out, n=40):
    x = rng.standard_normal((n, 6)).astype(np.float32)
    if loss == "sparse_categorical_crossentropy":
        y = rng.integers(0, n_out, n)
    elif loss == "categorical_crossentropy":
        y = np.eye(n_out, dtype=np.float32)[rng.integers(0, n_out, n)]
    elif loss == "binary_crossentropy":
        y = rng.integers(0, 2, (n, n_out)).astype(np.float32)
    else:
        y = rng.standard_normal((n, n_out)).astype(np.float32)
    return x, y


LOSSES = [("sparse_categorical_crossentropy", 3, "softmax"), ("categorical_crossentropy", 3, "softmax"),
          ("binary_crossentropy", 2, "sigmoid"), ("mse", 2, None), ("mae", 2, None)]


@pytest.mark.parametrize("loss,n_out,act", LOSSES, ids=[l[0] for l in LOSSES])
def test_predictions_equal_with_copied_weights(keras, rng, loss, n_out, act):
    mm, km = build_pair(keras, loss, n_out, act)
    x, _ = data(rng, loss, n_out)
    np.testing.assert_allclose(mm.predict(x), km.predict(x, verbose=0), rtol=PRED_RTOL, atol=1e-7)


OPTIMIZERS = [
    ("SGD", dict(learning_rate=0.1)),
    ("SGD", dict(learning_rate=0.05, momentum=0.9)),
    ("SGD", dict(learning_rate=0.05, momentum=0.9, nesterov=True)),
    ("RMSprop", dict(learning_rate=0.01)),
    ("RMSprop", dict(learning_rate=0.01, centered=True, momentum=0.5)),
    ("Adagrad", dict(learning_rate=0.1)),
    ("Adadelta", dict(learning_rate=1.0)),
    ("Adam", dict(learning_rate=0.01)),
    ("Adam", dict(learning_rate=0.01, amsgrad=True)),
    ("Adam", dict(learning_rate=0.01, clipnorm=0.1)),
]


def train_both(keras, mm, km, opt_name, opt_kwargs, loss, x, y, steps=5, batch=8):
    mm.compile(getattr(minidl.optimizers, opt_name)(**opt_kwargs), loss)
    km.compile(getattr(keras.optimizers, opt_name)(**opt_kwargs), loss, jit_compile=False)
    m_losses, k_losses = [], []
    for s in range(steps):
        xb, yb = x[s * batch:(s + 1) * batch], y[s * batch:(s + 1) * batch]
        m_losses.append(mm.train_on_batch(xb, yb))
        k_losses.append(float(km.train_on_batch(xb, yb)))
    return m_losses, k_losses


@pytest.mark.parametrize("opt_name,opt_kwargs", OPTIMIZERS, ids=[f"{o}-{k}" for o, k in OPTIMIZERS])
def test_weights_equal_after_five_steps_for_every_optimizer(keras, rng, opt_name, opt_kwargs):
    loss = "sparse_categorical_crossentropy"
    mm, km = build_pair(keras, loss, 3, "softmax")
    x, y = data(rng, loss, 3)
    m_losses, k_losses = train_both(keras, mm, km, opt_name, opt_kwargs, loss, x, y)
    np.testing.assert_allclose(m_losses, k_losses, rtol=1e-4)
    for wm, wk in zip(mm.get_weights(), km.get_weights()):
        np.testing.assert_allclose(wm, wk, atol=W_ATOL, rtol=W_RTOL)


@pytest.mark.parametrize("loss,n_out,act", LOSSES, ids=[l[0] for l in LOSSES])
def test_weights_equal_after_five_adam_steps_for_every_loss_with_l2(keras, rng, loss, n_out, act):
    mm, km = build_pair(keras, loss, n_out, act, l2=0.01)
    x, y = data(rng, loss, n_out)
    m_losses, k_losses = train_both(keras, mm, km, "Adam", dict(learning_rate=0.01), loss, x, y)
    # the reported loss includes the L2 penalty in both libraries
    np.testing.assert_allclose(m_losses, k_losses, rtol=1e-4)
    for wm, wk in zip(mm.get_weights(), km.get_weights()):
        np.testing.assert_allclose(wm, wk, atol=W_ATOL, rtol=W_RTOL)
