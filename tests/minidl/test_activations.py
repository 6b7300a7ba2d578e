"""Activation functions: gradients checked numerically, and the laws they obey (hypothesis)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from minidl import activations
from minidl.gradcheck import check_layer
from minidl.layers import ELU, Activation, LeakyReLU, ReLU, Softmax

from .conftest import away_from_kinks

SMOOTH = ["linear", "sigmoid", "tanh", "softmax", "softplus", "softsign", "silu", "selu", "elu"]
KINKED = ["relu", "leaky_relu"]

finite = st.floats(-30, 30, allow_nan=False, width=64)


@pytest.mark.parametrize("name", SMOOTH)
def test_smooth_activation_gradient_matches_numerical(name, rng):
    x = away_from_kinks(rng.standard_normal((5, 7)))  # elu/selu have a kink in the 2nd derivative at 0
    errors = check_layer(Activation(name), x)
    assert errors["input"] < 1e-7, errors


@pytest.mark.parametrize("layer", [Activation("relu"), Activation("leaky_relu"), ReLU(max_value=1.0),
                                   ReLU(negative_slope=0.1, threshold=0.5), LeakyReLU(), ELU(alpha=0.5),
                                   Softmax(axis=1)], ids=repr)
def test_kinked_activation_layers_gradient_matches_numerical(layer, rng):
    x = rng.uniform(-3, 3, size=(6, 5))
    for kink in (0.0, 0.5, 1.0):
        x = np.where(np.abs(x - kink) < 0.05, x + 0.1, x)
    assert check_layer(layer, x)["input"] < 1e-5


@given(arrays(np.float64, (4, 3), elements=finite))
def test_sigmoid_is_symmetric(z):
    # σ(−z) = 1 − σ(z)
    s = activations.SigmoidFunction()
    np.testing.assert_allclose(s.forward(-z), 1 - s.forward(z), atol=1e-12)


@given(arrays(np.float64, (4, 3), elements=finite), st.floats(-100, 100))
def test_softmax_sums_to_one_and_ignores_a_constant_shift(z, c):
    sm = activations.SoftmaxFunction()
    p = sm.forward(z)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(sm.forward(z + c), p, atol=1e-12)


def test_sigmoid_and_softmax_do_not_overflow_on_huge_inputs():
    z = np.array([[-1e4, 0.0, 1e4]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        np.testing.assert_allclose(activations.SigmoidFunction().forward(z), [[0.0, 0.5, 1.0]])
        np.testing.assert_allclose(activations.SoftmaxFunction().forward(z), [[0.0, 0.0, 1.0]])


@given(arrays(np.float64, (3, 4), elements=finite))
def test_relu_is_max_with_zero(z):
    np.testing.assert_array_equal(activations.ReLUFunction().forward(z), np.maximum(z, 0))


def test_float32_stays_float32(rng):
    z = rng.standard_normal((3, 4)).astype(np.float32)
    for name in activations.names():
        assert activations.get(name).forward(z).dtype == np.float32, name


def test_unknown_activation_lists_valid_names():
    with pytest.raises(ValueError, match="Unknown activation 'rleu'.*valid names are: .*relu"):
        activations.get("rleu")


def test_activation_functions_are_named_apart_from_activation_layers_with_keras_argument_orders():
    import inspect

    from minidl import layers
    functions = [c for c in vars(activations).values()
                 if isinstance(c, type) and issubclass(c, activations.ActivationFunction)]
    assert len(functions) > 10 and all(c.__name__.endswith("Function") for c in functions)
    assert not {c.__name__ for c in functions} & set(layers.__all__)
    assert type(activations.get("relu")) is activations.ReLUFunction
    assert type(ReLU().activation) is activations.ReLUFunction
    # function as keras.activations.relu, layer as keras.layers.ReLU
    assert list(inspect.signature(activations.ReLUFunction).parameters) == ["negative_slope", "max_value", "threshold"]
    assert list(inspect.signature(ReLU).parameters)[:3] == ["max_value", "negative_slope", "threshold"]
