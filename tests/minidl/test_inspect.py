"""inspect: layer outputs in one call, and saliency equal to numerical gradients of one output unit."""

import numpy as np
import pytest

from minidl import Sequential
from minidl.gradcheck import numerical_gradient, relative_error
from minidl.inspect import activations, layer_outputs, saliency
from minidl.layers import BatchNormalization, Conv2D, Dense, Flatten, Input, MaxPooling2D


def _model():
    model = Sequential([Input((6, 7, 1)), Conv2D(3, 3, activation="tanh", name="conv"),
                        BatchNormalization(name="bn"), MaxPooling2D(2, name="pool"), Flatten(name="flat"),
                        Dense(3, activation="softmax", name="out")], seed=0)
    for layer in model.layers:
        layer.cast(np.float64)
    bn = model.get_layer("bn")
    bn.params["moving_mean"][...] = 0.1
    bn.params["moving_variance"][...] = 0.5
    return model


def _x(seed=1):
    return np.random.default_rng(seed).standard_normal((2, 6, 7, 1))


def test_layer_outputs_returns_every_layer_in_order_with_its_shape():
    model = _model()
    out = layer_outputs(model, _x())
    assert list(out) == ["conv", "bn", "pool", "flat", "out"]
    for layer in model.layers:
        assert out[layer.name].shape == (2, *layer.output_shape)
    np.testing.assert_allclose(out["out"], model.forward(_x()))
    assert activations is layer_outputs


@pytest.mark.parametrize("unit, layer", [(1, None), (None, None), ((2, 1, 0), "conv"), ((1, 0, 2), "pool")])
def test_saliency_equals_the_numerical_gradient_of_one_output_unit(unit, layer):
    model, x = _model(), _x()
    s = saliency(model, x, unit=unit, layer=layer)
    stop = [la.name for la in model.layers].index(layer) if layer else len(model.layers) - 1
    a = x
    for la in model.layers[:stop + 1]:
        a = la.forward(a)
    units = [np.unravel_index(a[n].argmax(), a.shape[1:]) if unit is None else
             ((unit,) if isinstance(unit, int) else unit) for n in range(len(x))]

    def out():
        h = x
        for la in model.layers[:stop + 1]:
            h = la.forward(h)
        return sum(h[(n, *units[n])] for n in range(len(x)))

    assert s.shape == x.shape
    assert relative_error(s, numerical_gradient(out, x)) < 1e-7


def test_saliency_keeps_weights_unchanged_and_restores_compute_input_gradient():
    model = _model()
    before = model.get_weights()
    model.layers[0].compute_input_gradient = False
    saliency(model, _x())
    assert model.layers[0].compute_input_gradient is False
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_saliency_bad_unit_or_layer_is_a_clear_error():
    with pytest.raises(ValueError, match="outside the output"):
        saliency(_model(), _x(), unit=7)
    with pytest.raises(ValueError, match="is not in the model"):
        saliency(_model(), _x(), layer="nope")
