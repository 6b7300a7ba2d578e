"""The contract every layer follows — read this file first.

A layer turns a batch ``x`` into a batch ``y`` and, going backwards, turns ``dy = ∂L/∂y`` into
``dx = ∂L/∂x`` while computing the gradient of the loss with respect to each of its parameters.

Life cycle
----------
1. ``build(input_shape)``  — ``input_shape`` excludes the batch axis; creates the parameters with
   :meth:`Layer.add_weight` in **Keras order**, so ``get_weights()`` lists the same arrays, in the same
   order and shapes, as the equivalent Keras layer (weights copy both ways).
2. ``forward(x, training=False)`` — returns ``y`` and keeps what ``backward`` will need (the input, a
   mask, normalised values...). ``training=True`` switches on dropout and batch statistics.
3. ``backward(dy)`` — returns ``dx`` and **overwrites** ``self.grads[name]`` for every parameter (plus
   the regularizer's gradient, if any). Nothing accumulates: calling it twice gives the same result.

Parameters and gradients are plain NumPy arrays in the dicts ``self.params`` and ``self.grads``
(``kernel``, ``bias``, ``gamma``, ``beta``, ``moving_mean``, ``moving_variance``). Optimizers update
``self.params`` in place; non-trainable parameters (BatchNormalization's moving statistics) are listed
in ``self.non_trainable`` and have no gradient.

Layers with an activation (``Dense(…, activation="relu")``) compute ``z = linear(x)`` then
``y = f(z)``; their ``backward`` is ``backward_linear(f.backward(dy))``. The model calls
``backward_linear`` directly when softmax/sigmoid feeds a cross-entropy loss, because then
``∂L/∂z = (p − y)/N`` is both simpler and more accurate than chaining the two Jacobians.

Randomness (weight initialisation, dropout masks) comes only from ``self.rng``, a
``numpy.random.Generator`` created from the layer's ``seed`` or handed over by the model.
"""

from __future__ import annotations

import re

import numpy as np

from .. import activations as _activations
from .. import config
from .. import initializers as _initializers
from .. import regularizers as _regularizers

_LAYER_CLASSES: dict[str, type] = {}
_NAME_COUNTS: dict[str, int] = {}
#: the dtype kinds of ``np.number`` (signed, unsigned, float, complex, and timedelta64, a signed integer to
#: NumPy): ``dtype.kind in`` this is ``np.issubdtype(dtype, np.number)`` at a tenth of the cost
_NUMERIC_KINDS = frozenset("iufcm")


def _snake_case(name: str) -> str:
    # "MaxPooling2D" -> "max_pooling2d", "Conv1D" -> "conv1d"
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    return s.lower().replace("2_d", "2d").replace("1_d", "1d")


def layer_class(name: str) -> type:
    """The layer class registered under ``name`` (used when loading a saved model)."""
    if name not in _LAYER_CLASSES:
        raise ValueError(f"Unknown layer class {name!r}; valid names are: {', '.join(sorted(_LAYER_CLASSES))}")
    return _LAYER_CLASSES[name]


def serialize(obj):
    """Config form of an initializer / regularizer argument: ``None``, a name, or the object's config dict."""
    return obj if obj is None or isinstance(obj, (str, dict)) else obj.get_config()


def shape_str(shape) -> str:
    """Format a shape with the batch axis shown as ``N``: ``(N, 28, 28, 1)``."""
    return "(" + ", ".join(["N", *[str(s) for s in shape]]) + ")"


class Layer:
    """Base class of all layers. See the module docstring for the contract."""

    #: rank of the input *including* the batch axis, or None for "any rank >= 2"
    input_rank: int | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _LAYER_CLASSES[cls.__name__] = cls

    def __init__(self, name=None, trainable=True, dtype=None, seed=None):
        base = _snake_case(type(self).__name__)
        if name is None:
            _NAME_COUNTS[base] = _NAME_COUNTS.get(base, 0) + 1
            n = _NAME_COUNTS[base]
            name = base if n == 1 else f"{base}_{n - 1}"
        self.name = name
        self.trainable = bool(trainable)
        self.dtype = np.dtype(dtype or config.floatx())
        self.seed = seed
        self.rng = None if seed is None else np.random.default_rng(seed)
        self.built = False
        self.input_shape: tuple | None = None
        self.output_shape: tuple | None = None
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.non_trainable: set[str] = set()
        self._regularizers: dict[str, object] = {}
        self.activation = None

    # ------------------------------------------------------------------ building
    def _ensure_rng(self) -> np.random.Generator:
        if self.rng is None:
            self.rng = np.random.default_rng()
        return self.rng

    def add_weight(self, name, shape, initializer="zeros", regularizer=None, trainable=True) -> np.ndarray:
        """Create parameter ``name`` with ``shape``; call in Keras weight order inside ``build``."""
        init = _initializers.get(initializer, argument=f"{name}_initializer")
        value = init(tuple(shape), self.dtype, self._ensure_rng())
        self.params[name] = value
        if trainable:
            self.grads[name] = np.zeros_like(value)
        else:
            self.non_trainable.add(name)
        reg = _regularizers.get(regularizer, argument=f"{name}_regularizer")
        if reg is not None:
            self._regularizers[name] = reg
        return value

    def build(self, input_shape) -> None:
        """Create the parameters for inputs of ``input_shape`` (batch axis excluded)."""
        self.input_shape = tuple(int(s) for s in input_shape)
        self.output_shape = tuple(self.compute_output_shape(self.input_shape))
        self.built = True

    def compute_output_shape(self, input_shape) -> tuple:
        """Output shape (batch axis excluded) for a given input shape. Default: unchanged."""
        return tuple(input_shape)

    def __call__(self, x, training=False):
        """``layer(array)`` runs :meth:`forward`; ``layer(tensor)`` on an ``Input`` or on the output of
        another layer's call adds this layer to a graph and returns its symbolic output (the functional
        API, :mod:`minidl.functional`)."""
        from ..functional import call_symbolic, is_symbolic

        if is_symbolic(x):
            return call_symbolic(self, x)
        return self.forward(x, training=training)

    # ------------------------------------------------------------------ checks
    def _check_input(self, x) -> np.ndarray:
        """Validate the rank and (once built) the shape of ``x``; build on first use."""
        if not isinstance(x, np.ndarray):
            x = np.asarray(x)
        if x.dtype.kind not in _NUMERIC_KINDS:
            raise TypeError(f"{type(self).__name__} {self.name!r} expected a numeric array; got dtype {x.dtype}")
        if self.input_rank is not None and x.ndim != self.input_rank:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} expected input of rank {self.input_rank} "
                f"{self._rank_hint()}; got shape {x.shape}")
        if self.input_rank is None and x.ndim < 2:
            raise ValueError(f"{type(self).__name__} {self.name!r} expected a batch of rank >= 2 (N, ...); "
                             f"got shape {x.shape}")
        if not self.built:
            self.build(x.shape[1:])
        elif tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"{type(self).__name__} {self.name!r} was built for input shape "
                             f"{shape_str(self.input_shape)}; got {x.shape}")
        return x

    def _rank_hint(self) -> str:
        return {2: "(N, features)", 3: "(N, steps, channels)", 4: "(N, H, W, C)"}.get(self.input_rank, "")

    # ------------------------------------------------------------------ passes
    def forward(self, x, training=False):
        """Compute ``y`` from ``x`` and remember what ``backward`` needs."""
        raise NotImplementedError

    def backward(self, dy):
        """Return ``dx``; overwrite ``self.grads``. Layers with an activation chain it first."""
        if self.activation is None:
            raise NotImplementedError
        return self.backward_linear(self.activation.backward(dy))

    def backward_linear(self, dz):
        """Backward pass of the part before the activation, from ``dz = ∂L/∂z``."""
        raise NotImplementedError

    def _store_grad(self, name: str, g: np.ndarray) -> None:
        """Overwrite the gradient of parameter ``name``, adding its regularizer's gradient."""
        reg = self._regularizers.get(name)
        if reg is not None:
            g = g + reg.gradient(self.params[name])
        self.grads[name] = g.astype(self.params[name].dtype, copy=False)

    def regularization_loss(self) -> float:
        """Sum of the penalties of this layer's regularizers (added to the loss once per step)."""
        return float(sum(reg.penalty(self.params[n]) for n, reg in self._regularizers.items()))

    # ------------------------------------------------------------------ weights
    @property
    def trainable_names(self) -> list[str]:
        """Names of the parameters an optimizer updates (none if the layer is frozen)."""
        if not self.trainable:
            return []
        return [n for n in self.params if n not in self.non_trainable]

    def count_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the parameters in Keras order."""
        return [p.copy() for p in self.params.values()]

    def set_weights(self, weights) -> None:
        """Set parameters from a list in Keras order (values are copied in place).

        Raises ValueError — before changing anything — for a wrong count or shape, or for NaN or
        infinite values (naming the layer and the parameter): such a weight makes every output NaN.
        """
        for (n, p), w in zip(self.params.items(), self._checked_weights(weights)):
            p[...] = w

    def _checked_weights(self, weights) -> list[np.ndarray]:
        """``weights`` as arrays, checked for count, shape and finite values (see :meth:`set_weights`)."""
        weights = list(weights)
        if len(weights) != len(self.params):
            raise ValueError(f"Layer {self.name!r} expects {len(self.params)} weight arrays "
                             f"({', '.join(self.params)}); got {len(weights)}")
        out = []
        for (n, p), w in zip(self.params.items(), weights):
            w = np.asarray(w)
            if w.shape != p.shape:
                raise ValueError(f"Layer {self.name!r} weight {n!r} has shape {p.shape}; got {w.shape}")
            if not np.issubdtype(w.dtype, np.number) and w.dtype != bool:
                raise ValueError(f"Layer {self.name!r} weight {n!r} must be numeric; got dtype {w.dtype}")
            bad = int(w.size - np.count_nonzero(np.isfinite(w)))
            if bad:
                raise ValueError(f"Layer {self.name!r} weight {n!r} contains NaN or infinite values ({bad} of "
                                 f"{w.size}); every output would be NaN")
            out.append(w)
        return out

    def cast(self, dtype) -> "Layer":
        """Convert parameters and gradients to ``dtype`` (gradient checks run in float64)."""
        self.dtype = np.dtype(dtype)
        for n in list(self.params):
            self.params[n] = self.params[n].astype(dtype)
        for n in list(self.grads):
            self.grads[n] = self.grads[n].astype(dtype)
        return self

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        """Constructor arguments that rebuild this layer (used by ``Sequential.save``)."""
        return {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


class Input(Layer):
    """Declares the shape of one sample (batch axis excluded): ``Input(shape=(50, 400, 1))``.

    It does nothing to the data; ``Sequential`` uses it to build every layer up front so that
    ``summary()`` and ``get_weights()`` work before the first batch. It is also the start of a
    functional graph: ``Dense(8)(Input((4,), name="stats"))`` (see :mod:`minidl.functional`), where
    ``name`` is the key of this input's array when ``fit``/``predict`` are given a dict.
    """

    def __init__(self, shape, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if isinstance(shape, int):
            shape = (shape,)
        shape = tuple(shape)
        if not shape or any((not isinstance(s, (int, np.integer))) or s <= 0 for s in shape):
            raise ValueError(f"Input shape must be a tuple of positive integers (batch axis excluded); got {shape!r}")
        self.shape = tuple(int(s) for s in shape)
        self.build(self.shape)

    def forward(self, x, training=False):
        return self._check_input(x)

    def backward(self, dy):
        return dy

    def get_config(self):
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype.name}


class ActivationMixin:
    """Shared constructor piece for layers that end with an activation function."""

    def _set_activation(self, activation):
        self.activation = _activations.get(activation)

    def _activation_config(self):
        return self.activation.get_config() if self.activation.name != "linear" else None
