"""Activation layers: an activation function used as a layer of its own.

``Activation("relu")`` is the same as ``ReLU()``; ``Dense(8, activation="relu")`` fuses the two. The
maths (forward, derivative) lives in the *function* classes of :mod:`minidl.activations`
(``ReLUFunction``, ``SoftmaxFunction``, ...): each layer here holds one as ``layer.activation``.
Gradients checked in ``tests/minidl/test_layers_dense.py``.

Arguments follow Keras's *layers*, which is not always the order (or the default) of Keras's functions:
``ReLU(max_value, negative_slope, threshold)`` as ``keras.layers.ReLU``, where the function is
``ReLUFunction(negative_slope, max_value, threshold)`` as ``keras.activations.relu``;
``LeakyReLU(negative_slope=0.3)`` where ``LeakyReLUFunction`` defaults to 0.2, as in Keras.
"""

from __future__ import annotations

from .base import ActivationMixin, Layer


class Activation(ActivationMixin, Layer):
    """Apply an activation function element-wise: ``y = f(x)``, ``dx = dy ⊙ f'(x)``. Shape unchanged."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self._set_activation(activation)

    def forward(self, x, training=False):
        return self.activation.forward(self._check_input(x))

    def backward_linear(self, dz):
        return dz

    def get_config(self):
        return {**super().get_config(), "activation": self.activation.get_config()}


class ReLU(Activation):
    """``y = max(x, 0)`` with Keras's optional ``max_value``, ``negative_slope`` and ``threshold``."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        # as keras.layers.ReLU (the function keras.activations.relu accepts any values)
        for arg, value in (("max_value", max_value), ("negative_slope", negative_slope), ("threshold", threshold)):
            if value is not None and value < 0:
                raise ValueError(f"ReLU {arg} cannot be negative; got {arg}={value!r}")
        if negative_slope is None or threshold is None:
            raise ValueError("ReLU negative_slope and threshold must be numbers >= 0; got None")
        super().__init__({"name": "relu", "max_value": max_value, "negative_slope": negative_slope,
                          "threshold": threshold}, **kwargs)

    def get_config(self):
        cfg = Layer.get_config(self)
        act = self.activation.get_config()
        return {**cfg, "max_value": act["max_value"], "negative_slope": act["negative_slope"],
                "threshold": act["threshold"]}


class LeakyReLU(Activation):
    """``y = x`` for ``x >= 0``, ``negative_slope·x`` otherwise (Keras layer default 0.3)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        super().__init__({"name": "leaky_relu", "negative_slope": negative_slope}, **kwargs)

    def get_config(self):
        return {**Layer.get_config(self), "negative_slope": self.activation.negative_slope}


class ELU(Activation):
    """``y = x`` for ``x > 0``, ``α(eˣ − 1)`` otherwise (default α = 1)."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__({"name": "elu", "alpha": alpha}, **kwargs)

    def get_config(self):
        return {**Layer.get_config(self), "alpha": self.activation.alpha}


class Softmax(Activation):
    """Softmax along ``axis``: ``pᵢ = exp(xᵢ) / Σⱼ exp(xⱼ)`` (computed minus the row maximum)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__({"name": "softmax", "axis": axis}, **kwargs)

    def get_config(self):
        return {**Layer.get_config(self), "axis": self.activation.axis}
