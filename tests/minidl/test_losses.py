"""Losses: values against the textbook formulas, gradients against numerical ones, bad labels."""

import numpy as np
import pytest

from minidl import activations, losses
from minidl.gradcheck import check_loss, numerical_gradient, relative_error


def probs(rng, n=6, c=4):
    return rng.dirichlet(np.full(c, 5.0), size=n)  # away from 0 and 1


@pytest.mark.parametrize("name", ["mse", "mae", "mape"])
def test_regression_loss_gradients(name, rng):
    y, p = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    assert check_loss(losses.get(name), y, p) < 1e-7


def test_crossentropy_gradients(rng):
    p = probs(rng)
    y = np.eye(4)[rng.integers(0, 4, 6)]
    assert check_loss(losses.get("categorical_crossentropy"), y, p) < 1e-7
    assert check_loss(losses.get("sparse_categorical_crossentropy"), y.argmax(1), p) < 1e-7
    pb, yb = rng.uniform(0.1, 0.9, (6, 2)), rng.integers(0, 2, (6, 2))
    assert check_loss(losses.get("binary_crossentropy"), yb, pb) < 1e-7


def test_values_match_formulas(rng):
    y, p = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    assert losses.get("mse")(y, p) == pytest.approx(np.mean((p - y) ** 2))
    assert losses.get("mae")(y, p) == pytest.approx(np.mean(np.abs(p - y)))
    pc = probs(rng, 5, 3)
    yc = np.eye(3)[[0, 1, 2, 1, 0]]
    assert losses.get("categorical_crossentropy")(yc, pc) == pytest.approx(-np.mean(np.log(pc[yc == 1])))


def test_initial_crossentropy_of_uniform_prediction_is_log_c():
    p = np.full((10, 5), 0.2)
    y = np.arange(10) % 5
    assert losses.get("sparse_categorical_crossentropy")(y, p) == pytest.approx(np.log(5))


def test_fused_softmax_crossentropy_equals_the_chained_gradient(rng):
    z = rng.standard_normal((6, 4))
    y = np.eye(4)[rng.integers(0, 4, 6)]
    sm = activations.SoftmaxFunction()
    p = sm.forward(z)
    loss = losses.CategoricalCrossentropy()
    value, dz = loss.fused(y, z, p)
    assert value == pytest.approx(loss(y, p))
    chained = sm.backward(loss.gradient(y, p))
    assert relative_error(dz, chained) < 1e-10
    np.testing.assert_allclose(dz, (p - y) / 6)  # the famous (p − y)/N
    numeric = numerical_gradient(lambda: loss.fused(y, z, activations.SoftmaxFunction().forward(z))[0], z)
    assert relative_error(dz, numeric) < 1e-7


def test_fused_sigmoid_binary_crossentropy(rng):
    z = rng.standard_normal((5, 2))
    y = rng.integers(0, 2, (5, 2)).astype(float)
    s = activations.SigmoidFunction()
    p = s.forward(z)
    loss = losses.BinaryCrossentropy()
    value, dz = loss.fused(y, z, p)
    assert value == pytest.approx(loss(y, p))
    assert relative_error(dz, s.backward(loss.gradient(y, p))) < 1e-10


def test_fused_crossentropy_is_finite_for_extreme_logits():
    z = np.array([[1000.0, -1000.0]])
    value, dz = losses.CategoricalCrossentropy().fused(np.array([[0.0, 1.0]]), z,
                                                       activations.SoftmaxFunction().forward(z))
    assert value == pytest.approx(2000.0) and np.all(np.isfinite(dz))


def test_sparse_labels_out_of_range_are_rejected():
    with pytest.raises(ValueError, match=r"integer labels in 0..2; got values from 0 to 3"):
        losses.get("sparse_categorical_crossentropy")(np.array([0, 3]), np.full((2, 3), 1 / 3))


def test_one_hot_labels_given_to_sparse_loss_are_rejected():
    with pytest.raises(ValueError, match="one-hot labels go with 'categorical_crossentropy'"):
        losses.get("sparse_categorical_crossentropy")(np.eye(3), np.full((3, 3), 1 / 3))


def test_shape_mismatch_and_binary_range_are_rejected():
    with pytest.raises(ValueError, match=r"expected y_true with the shape of the predictions \(4, 1\); got \(4, 2\)"):
        losses.get("mse")(np.zeros((4, 2)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match=r"expected y_true in \[0, 1\]"):
        losses.get("binary_crossentropy")(np.array([[2.0]]), np.array([[0.5]]))


def test_unknown_loss_lists_valid_names():
    with pytest.raises(ValueError, match="Unknown loss 'crossentropy'.*categorical_crossentropy"):
        losses.get("crossentropy")


def test_one_output_accepts_flat_targets_as_keras_does():
    p = np.array([[0.2], [0.9]])
    loss = losses.get("binary_crossentropy")
    assert loss(np.array([0.0, 1.0]), p) == pytest.approx(loss(np.array([[0.0], [1.0]]), p))
