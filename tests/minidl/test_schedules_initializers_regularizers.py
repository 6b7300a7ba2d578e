"""Learning-rate schedules, initializers and regularizers: the Keras formulas."""

import numpy as np
import pytest

from minidl import initializers, regularizers, schedules


def test_exponential_and_inverse_time_decay():
    s = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert s(0) == 0.1 and s(10) == pytest.approx(0.05) and s(5) == pytest.approx(0.1 * 0.5 ** 0.5)
    assert schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True)(19) == pytest.approx(0.05)
    assert schedules.InverseTimeDecay(0.1, 10, 1.0)(10) == pytest.approx(0.05)


def test_piecewise_constant_decay_uses_inclusive_boundaries():
    s = schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert [s(0), s(10), s(11), s(20), s(21)] == [1.0, 1.0, 0.5, 0.5, 0.1]
    with pytest.raises(ValueError, match="one more value than boundaries"):
        schedules.PiecewiseConstantDecay([10], [1.0])


def test_polynomial_decay_is_linear_with_power_one():
    s = schedules.PolynomialDecay(1.0, decay_steps=100, end_learning_rate=0.0)
    assert s(0) == 1.0 and s(50) == pytest.approx(0.5) and s(100) == 0.0 and s(500) == 0.0


@pytest.mark.parametrize("name,check", [
    ("glorot_uniform", lambda w: np.abs(w).max() <= np.sqrt(6 / (400 + 300))),
    ("he_uniform", lambda w: np.abs(w).max() <= np.sqrt(6 / 400)),
    ("glorot_normal", lambda w: abs(w.std() - np.sqrt(2 / 700)) < 0.03 * np.sqrt(2 / 700)),
    ("he_normal", lambda w: abs(w.std() - np.sqrt(2 / 400)) < 0.03 * np.sqrt(2 / 400)),
    ("random_normal", lambda w: abs(w.std() - 0.05) < 0.002),
    ("random_uniform", lambda w: np.abs(w).max() <= 0.05),
    ("zeros", lambda w: np.all(w == 0)),
    ("ones", lambda w: np.all(w == 1)),
])
def test_initializer_distributions(name, check):
    w = initializers.get(name)((400, 300), np.float64, np.random.default_rng(0))
    assert w.shape == (400, 300) and check(w)


def test_truncated_normals_are_truncated_at_two_sigma():
    w = initializers.get("he_normal")((400, 300), np.float64, np.random.default_rng(0))
    sigma = np.sqrt(2 / 400) / 0.87962566103423978
    assert np.abs(w).max() <= 2 * sigma


def test_conv_kernel_fans_include_the_receptive_field():
    assert initializers.compute_fans((3, 5, 4, 8)) == (60, 120)


def test_same_generator_state_gives_identical_weights():
    a = initializers.get("glorot_uniform")((5, 4), rng=np.random.default_rng(3))
    b = initializers.get("glorot_uniform")((5, 4), rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)


def test_regularizer_penalties_and_gradients():
    w = np.array([[1.0, -2.0], [0.5, 0.0]])
    assert regularizers.L1(0.1).penalty(w) == pytest.approx(0.35)
    assert regularizers.L2(0.1).penalty(w) == pytest.approx(0.525)
    np.testing.assert_allclose(regularizers.L2(0.1).gradient(w), 0.2 * w)
    np.testing.assert_allclose(regularizers.L1L2(0.1, 0.1).gradient(w), 0.1 * np.sign(w) + 0.2 * w)
    assert regularizers.get("l2").l2 == 0.01
    with pytest.raises(ValueError, match="Unknown regularizer 'l3'"):
        regularizers.get("l3")
