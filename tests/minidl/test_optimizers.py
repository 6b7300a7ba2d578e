"""Each optimizer: three steps computed by hand from the Keras 3 formulas (see minidl/optimizers.py)."""

import numpy as np
import pytest

from minidl import optimizers, schedules

W0 = np.array([1.0, -2.0, 0.5])
GRADS = [np.array([0.1, -0.2, 0.3]), np.array([0.4, 0.1, -0.5]), np.array([-0.3, 0.2, 0.1])]


def run(opt, steps=3):
    w = W0.copy()
    for g in GRADS[:steps]:
        opt.apply([("w", w, g.copy())])
    return w


def test_sgd_plain():
    w = W0.copy()
    for g in GRADS:
        w = w - 0.1 * g
    np.testing.assert_allclose(run(optimizers.SGD(0.1)), w, rtol=1e-12)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum(nesterov):
    w, m, mu, lr = W0.copy(), np.zeros(3), 0.9, 0.1
    for g in GRADS:
        m = mu * m - lr * g
        w = w + (mu * m - lr * g if nesterov else m)
    np.testing.assert_allclose(run(optimizers.SGD(lr, momentum=mu, nesterov=nesterov)), w, rtol=1e-12)


@pytest.mark.parametrize("centered,momentum", [(False, 0.0), (True, 0.0), (False, 0.5)])
def test_rmsprop(centered, momentum):
    w, v, gbar, m = W0.copy(), np.zeros(3), np.zeros(3), np.zeros(3)
    lr, rho, eps = 0.01, 0.9, 1e-7
    for g in GRADS:
        v = rho * v + (1 - rho) * g ** 2
        gbar = rho * gbar + (1 - rho) * g
        step = lr * g / np.sqrt((v - gbar ** 2 if centered else v) + eps)
        m = momentum * m + step
        w = w - (m if momentum else step)
    np.testing.assert_allclose(run(optimizers.RMSprop(lr, centered=centered, momentum=momentum)), w, rtol=1e-12)


def test_adagrad_starts_its_accumulator_at_0_1():
    w, a = W0.copy(), np.full(3, 0.1)
    for g in GRADS:
        a = a + g ** 2
        w = w - 0.05 * g / np.sqrt(a + 1e-7)
    np.testing.assert_allclose(run(optimizers.Adagrad(0.05)), w, rtol=1e-12)


def test_adadelta():
    w, a, d, rho, eps, lr = W0.copy(), np.zeros(3), np.zeros(3), 0.95, 1e-7, 1.0
    for g in GRADS:
        a = rho * a + (1 - rho) * g ** 2
        delta = -np.sqrt(d + eps) * g / np.sqrt(a + eps)
        d = rho * d + (1 - rho) * delta ** 2
        w = w + lr * delta
    np.testing.assert_allclose(run(optimizers.Adadelta(lr)), w, rtol=1e-12)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_epsilon_hat_form(amsgrad):
    w, m, v, vhat = W0.copy(), np.zeros(3), np.zeros(3), np.zeros(3)
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    for t, g in enumerate(GRADS, start=1):
        m = m + (g - m) * (1 - b1)
        v = v + (g ** 2 - v) * (1 - b2)
        vhat = np.maximum(vhat, v)
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        w = w - alpha * m / (np.sqrt(vhat if amsgrad else v) + eps)
    np.testing.assert_allclose(run(optimizers.Adam(lr, amsgrad=amsgrad)), w, rtol=1e-12)


def test_keras_default_hyperparameters():
    assert optimizers.SGD().learning_rate == 0.01
    adam = optimizers.get("adam")
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    assert optimizers.Adagrad().initial_accumulator_value == 0.1
    assert optimizers.RMSprop().rho == 0.9


def test_clipnorm_rescales_each_gradient_to_the_norm():
    w = np.zeros(2)
    optimizers.SGD(1.0, clipnorm=1.0).apply([("w", w, np.array([3.0, 4.0]))])
    np.testing.assert_allclose(w, [-0.6, -0.8])
    w = np.zeros(2)
    optimizers.SGD(1.0, clipnorm=10.0).apply([("w", w, np.array([3.0, 4.0]))])
    np.testing.assert_allclose(w, [-3.0, -4.0])  # small gradients untouched


def test_global_clipnorm_and_clipvalue():
    a, b = np.zeros(1), np.zeros(1)
    optimizers.SGD(1.0, global_clipnorm=1.0).apply([("a", a, np.array([3.0])), ("b", b, np.array([4.0]))])
    np.testing.assert_allclose([a[0], b[0]], [-0.6, -0.8])
    w = np.zeros(2)
    optimizers.SGD(1.0, clipvalue=0.5).apply([("w", w, np.array([3.0, -0.1]))])
    np.testing.assert_allclose(w, [-0.5, 0.1])


def test_schedule_is_evaluated_at_the_step_counter():
    opt = optimizers.SGD(schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5))
    w = np.zeros(1)
    for _ in range(3):
        opt.apply([("w", w, np.ones(1))])
    np.testing.assert_allclose(w, [-(0.1 + 0.05 + 0.025)])


def test_updates_are_in_place_and_keep_float32():
    w = np.ones(3, dtype=np.float32)
    ref = w
    optimizers.Adam().apply([("w", w, np.ones(3, dtype=np.float32))])
    assert ref is w and w.dtype == np.float32 and np.all(w < 1)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="Unknown optimizer 'adamw'.*valid names are"):
        optimizers.get("adamw")
    with pytest.raises(ValueError, match="Only one of clipnorm"):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="learning_rate must be a non-negative number"):
        optimizers.Adam(-1.0)
