"""Activation functions, each with its forward and its backward side by side.

An activation object is applied element-wise (softmax: along an axis) after a layer's linear part,
``y = f(z)``. ``forward(z)`` remembers what ``backward`` needs; ``backward(dy)`` returns
``dz = dy · f'(z)`` (for softmax the full Jacobian-vector product). Every function here is checked
against numerical gradients in ``tests/minidl/test_activations.py``.

Functions here, layers there
----------------------------
The classes of this module are *functions* — ``ReLUFunction``, ``SoftmaxFunction``, ... all end in
``Function`` — and they are what a layer's ``activation=`` argument becomes::

    Dense(8, activation="relu")          # layer.activation is a ReLUFunction
    activations.get("relu")              # a fresh ReLUFunction; also get({"name": "relu", ...}) and get(None)

The *layers* that apply one on their own, ``minidl.layers.ReLU``, ``Softmax``, ``ELU``, ``LeakyReLU`` and
``Activation`` (:mod:`minidl.layers.activations`), take their arguments as Keras's layers do, which is not
always the order of Keras's functions:

* function ``ReLUFunction(negative_slope=0.0, max_value=None, threshold=0.0)`` — as
  ``keras.activations.relu(x, negative_slope, max_value, threshold)``;
* layer ``ReLU(max_value=None, negative_slope=0.0, threshold=0.0)`` — as ``keras.layers.ReLU``;
* function ``LeakyReLUFunction(negative_slope=0.2)`` (``keras.activations.leaky_relu``), layer
  ``LeakyReLU(negative_slope=0.3)`` (``keras.layers.LeakyReLU``): the defaults differ too, as in Keras.

Names and defaults follow Keras 3 (``keras.activations``), so ``Dense(8, activation="relu")`` reads the
same in both libraries; the string names (``"relu"``, ``"softmax"``, ...) are listed by :func:`names`.
"""

from __future__ import annotations

import numpy as np

from ._naming import lookup


class ActivationFunction:
    """Base class: ``forward(z) -> y`` caches what ``backward(dy) -> dz`` needs."""

    name = "base"

    def forward(self, z):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class LinearFunction(ActivationFunction):
    """Identity, ``f(z) = z``; ``f'(z) = 1``."""

    name = "linear"

    def forward(self, z):
        return z

    def backward(self, dy):
        return dy


class ReLUFunction(ActivationFunction):
    """Rectified linear unit, Keras's ``relu`` with ``negative_slope``, ``max_value`` and ``threshold``.

    ``f(z) = z`` for ``threshold < z <= max_value``, ``max_value`` above, ``negative_slope·(z − threshold)``
    below the threshold. ``f'(z)`` is 1, 0 and ``negative_slope`` on those pieces.

    At the kinks the derivative is TensorFlow's, because Keras computes ``relu`` as a composition of
    TensorFlow ops (``keras.activations.ReLU.static_call``) and the gradient of each op decides the
    value there; this class follows the same composition (checked against ``tf.GradientTape`` in
    ``tests/minidl/test_kinks_tf.py``):

    * plain ReLU, ``z == 0``: **0** (``tf.nn.relu``'s gradient is ``dy·[z > 0]``);
    * ``negative_slope`` only (``tf.nn.leaky_relu``), ``z == 0``: ``negative_slope``;
    * ``z == threshold`` (threshold ≠ 0): **0**, also with a slope (``where(z > t, z, 0)`` and the
      slope's ``relu(t − z)`` are both flat there); with a slope and no threshold but a ``max_value``,
      ``z == 0`` gives 0 for the same reason;
    * ``z == max_value``: **1** (``clip_by_value`` passes the gradient at its bounds) — except
      ``max_value == 6`` without threshold, computed as ``tf.nn.relu6`` whose gradient is 0 at 6.
    """

    name = "relu"

    def __init__(self, negative_slope=0.0, max_value=None, threshold=0.0):
        self.negative_slope = float(negative_slope)
        self.max_value = None if max_value is None else float(max_value)
        self.threshold = float(threshold)

    def forward(self, z):
        dt = z.dtype.type
        ns, mx, thr = self.negative_slope, self.max_value, self.threshold
        if ns != 0 and mx is None and thr == 0:            # tf.nn.leaky_relu
            positive = z > 0
            self._slope = np.where(positive, 1.0, ns).astype(z.dtype, copy=False)
            return np.where(positive, z, dt(ns) * z).astype(z.dtype, copy=False)
        clip_max = mx is not None
        if thr != 0:                                        # where(z > threshold, z, 0)
            slope = z > dt(thr)
            y = np.where(slope, z, 0)
        elif mx == 6:                                       # tf.nn.relu6: gradient [0 < z < 6]
            y = np.clip(z, 0, 6)
            slope = (z > 0) & (z < 6)
            clip_max = False
        else:                                               # tf.nn.relu: gradient [z > 0]
            y = np.maximum(z, 0)
            slope = z > 0
        if clip_max:                                        # clip_by_value(y, 0, max): gradient [0 <= y <= max]
            slope = slope & (y >= 0) & (y <= dt(mx))
            y = np.clip(y, 0, dt(mx))
        slope = slope.astype(z.dtype)
        if ns != 0:                                         # y − slope·relu(threshold − z)
            negative = -z + dt(thr)
            y = y - dt(ns) * np.maximum(negative, 0)
            slope = slope + dt(ns) * (negative > 0)
        self._slope = slope.astype(z.dtype, copy=False)
        return np.asarray(y).astype(z.dtype, copy=False)

    def backward(self, dy):
        return dy * self._slope

    def get_config(self):
        return {"name": self.name, "negative_slope": self.negative_slope, "max_value": self.max_value,
                "threshold": self.threshold}


class LeakyReLUFunction(ReLUFunction):
    """``f(z) = z`` for ``z > 0``, ``negative_slope·z`` otherwise (Keras activation default 0.2); ``f'(0)`` is
    ``negative_slope``, as ``tf.nn.leaky_relu``."""

    name = "leaky_relu"

    def __init__(self, negative_slope=0.2):
        super().__init__(negative_slope=negative_slope)

    def get_config(self):
        return {"name": self.name, "negative_slope": self.negative_slope}


class ELUFunction(ActivationFunction):
    """Exponential linear unit: ``f(z) = z`` for ``z > 0``, ``α(eᶻ − 1)`` otherwise.

    ``f'(z) = 1`` for ``z > 0`` and ``α·eᶻ = f(z) + α`` otherwise — ``α`` at 0, as TensorFlow.
    """

    name = "elu"

    def __init__(self, alpha=1.0):
        self.alpha = float(alpha)

    def forward(self, z):
        self._positive = z > 0
        # expm1 is accurate near 0; np.minimum avoids overflow warnings on the unused branch
        neg = self.alpha * np.expm1(np.minimum(z, 0))
        self._y = np.where(self._positive, z, neg).astype(z.dtype, copy=False)
        return self._y

    def backward(self, dy):
        return dy * np.where(self._positive, 1.0, self._y + self.alpha).astype(dy.dtype, copy=False)

    def get_config(self):
        return {"name": self.name, "alpha": self.alpha}


class SELUFunction(ActivationFunction):
    """Scaled ELU: ``f(z) = λ·z`` for ``z > 0``, ``λα(eᶻ − 1)`` otherwise (Klambauer et al. 2017); ``f'(0) = λ``."""

    name = "selu"
    alpha = 1.6732632423543772848170429916717
    scale = 1.0507009873554804934193349852946

    def forward(self, z):
        # f'(0) = λ, as tf.nn.selu (its gradient takes the negative branch only where f(z) < 0)
        self._positive = z >= 0
        self._exp = np.exp(np.minimum(z, 0))
        return (self.scale * np.where(self._positive, z, self.alpha * (self._exp - 1))).astype(z.dtype, copy=False)

    def backward(self, dy):
        return dy * (self.scale * np.where(self._positive, 1.0, self.alpha * self._exp)).astype(dy.dtype, copy=False)


def _stable_sigmoid(z):
    """σ(z) = 1/(1 + e⁻ᶻ) computed without overflow: for z < 0 use eᶻ/(1 + eᶻ)."""
    ez = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + ez), ez / (1.0 + ez)).astype(z.dtype, copy=False)


class SigmoidFunction(ActivationFunction):
    """Logistic sigmoid ``σ(z) = 1/(1 + e⁻ᶻ)``; ``σ'(z) = σ(z)(1 − σ(z))``."""

    name = "sigmoid"

    def forward(self, z):
        self.z = z  # kept for the fused cross-entropy (value computed from logits)
        self._y = _stable_sigmoid(z)
        return self._y

    def backward(self, dy):
        return dy * self._y * (1 - self._y)


class TanhFunction(ActivationFunction):
    """Hyperbolic tangent; ``tanh'(z) = 1 − tanh²(z)``."""

    name = "tanh"

    def forward(self, z):
        self._y = np.tanh(z)
        return self._y

    def backward(self, dy):
        return dy * (1 - self._y ** 2)


class SoftmaxFunction(ActivationFunction):
    """Softmax along ``axis`` (default last): ``pᵢ = exp(zᵢ − max z) / Σⱼ exp(zⱼ − max z)``.

    Subtracting the row maximum changes nothing mathematically and prevents overflow. The Jacobian is
    ``∂pᵢ/∂zⱼ = pᵢ(δᵢⱼ − pⱼ)``, so the backward pass is ``dz = p ⊙ (dy − Σⱼ dyⱼ pⱼ)``. When softmax
    feeds a cross-entropy loss, the model skips this product and uses the fused ``(p − y)/N``.
    """

    name = "softmax"

    def __init__(self, axis=-1):
        self.axis = int(axis)

    def forward(self, z):
        self.z = z  # kept for the fused cross-entropy (value computed from logits)
        e = np.exp(z - z.max(axis=self.axis, keepdims=True))
        self._y = e / e.sum(axis=self.axis, keepdims=True)
        return self._y

    def backward(self, dy):
        p = self._y
        return p * (dy - (dy * p).sum(axis=self.axis, keepdims=True))

    def get_config(self):
        return {"name": self.name, "axis": self.axis}


class SoftplusFunction(ActivationFunction):
    """``f(z) = log(1 + eᶻ)``, computed stably; ``f'(z) = σ(z)``."""

    name = "softplus"

    def forward(self, z):
        self._z = z
        return (np.logaddexp(0, z)).astype(z.dtype, copy=False)

    def backward(self, dy):
        return dy * _stable_sigmoid(self._z)


class SoftsignFunction(ActivationFunction):
    """``f(z) = z / (1 + |z|)``; ``f'(z) = 1 / (1 + |z|)²``."""

    name = "softsign"

    def forward(self, z):
        self._z = z
        return z / (1 + np.abs(z))

    def backward(self, dy):
        return dy / (1 + np.abs(self._z)) ** 2


class SwishFunction(ActivationFunction):
    """SiLU / swish: ``f(z) = z·σ(z)``; ``f'(z) = σ(z)(1 + z(1 − σ(z)))``."""

    name = "silu"

    def forward(self, z):
        self._z = z
        self._s = _stable_sigmoid(z)
        return z * self._s

    def backward(self, dy):
        s = self._s
        return dy * s * (1 + self._z * (1 - s))


_ACTIVATIONS = {
    "linear": LinearFunction,
    "relu": ReLUFunction,
    "leaky_relu": LeakyReLUFunction,
    "elu": ELUFunction,
    "selu": SELUFunction,
    "sigmoid": SigmoidFunction,
    "tanh": TanhFunction,
    "softmax": SoftmaxFunction,
    "softplus": SoftplusFunction,
    "softsign": SoftsignFunction,
    "silu": SwishFunction,
    "swish": SwishFunction,
}


def get(identifier, argument: str = "activation") -> ActivationFunction:
    """Return a fresh activation object from a name, a config dict, an instance or ``None`` (linear)."""
    if identifier is None:
        return LinearFunction()
    if isinstance(identifier, ActivationFunction):
        # a fresh copy: each layer caches its own forward values
        return type(identifier)(**{k: v for k, v in identifier.get_config().items() if k != "name"})
    if isinstance(identifier, dict):
        cfg = dict(identifier)
        cls = lookup(_ACTIVATIONS, cfg.pop("name"), kind="activation", argument=argument)
        return cls(**cfg)
    return lookup(_ACTIVATIONS, identifier, kind="activation", argument=argument)()


def names() -> list[str]:
    """Valid activation names."""
    return sorted(_ACTIVATIONS)
