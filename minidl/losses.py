"""Loss functions ``L(y_true, y_pred)``: value and gradient with respect to ``y_pred``.

All losses average a per-sample loss over the batch, as Keras does (``reduction="sum_over_batch_size"``),
so the gradient carries a ``1/N``. Per-sample losses of regression losses average over the last axis
too (``D`` outputs), giving ``1/(N·D)``.

=========================  ==========================================  ===============================
loss                        value                                       ∂L/∂ŷ
=========================  ==========================================  ===============================
MeanSquaredError "mse"      mean (ŷ − y)²                               2(ŷ − y)/(N·D)
MeanAbsoluteError "mae"     mean |ŷ − y|                                sign(ŷ − y)/(N·D)
MeanAbsolutePercentage      100·mean |ŷ − y| / max(|y|, ε)              100·sign(ŷ − y)/(max(|y|, ε)·N·D)
BinaryCrossentropy          −mean [y log p + (1−y) log(1−p)]            (p − y)/(p(1 − p)·N·D)
CategoricalCrossentropy     −mean Σₖ yₖ log pₖ                          −y/(p·N)
SparseCategorical…          −mean log p[label]                          same with one-hot y
=========================  ==========================================  ===============================

**Sample weights** (``sample_weight``, one number per sample, e.g. from ``class_weight``) follow Keras's
``"sum_over_batch_size"`` reduction: ``L = Σᵢ wᵢ·ℓᵢ / N`` — divided by the batch size ``N``, *not* by
``Σ wᵢ`` — so the gradient of sample ``i`` is simply multiplied by ``wᵢ``.

Probabilities are clipped to ``[ε, 1 − ε]`` with ``ε = 1e-7`` (Keras's ``epsilon()``), and the gradient
is zero where clipping is active — strictly outside the bounds: at exactly ``ε`` or ``1 − ε`` (in the
predictions' dtype) the gradient passes, as ``tf.clip_by_value``'s does.

**Fused softmax + cross-entropy.** When the last layer's activation is softmax (sigmoid for binary
cross-entropy), the model calls :meth:`fused` instead: the value is computed from the logits ``z``
(log-softmax, no clipping — what Keras does too) and the gradient with respect to ``z`` is simply

    ∂L/∂z = (p − y) / N        (binary: (p − y)/(N·D))

because the softmax Jacobian ``pᵢ(δᵢⱼ − pⱼ)`` times ``−y/p`` collapses to ``p − y`` when ``Σy = 1``.
Checked in ``tests/minidl/test_losses.py``.
"""

from __future__ import annotations

import numpy as np

from ._naming import lookup

EPSILON = 1e-7


def _as_float(y, like):
    return np.asarray(y, dtype=like.dtype if np.issubdtype(like.dtype, np.floating) else np.float32)


def _inside_clip(p):
    """Where ``clip_by_value(p, ε, 1 − ε)`` lets the gradient through: ``ε <= p <= 1 − ε``, with the bounds
    in p's dtype as TensorFlow casts them (float32: ``1 − ε`` is 0.99999988)."""
    dt = p.dtype.type if np.issubdtype(p.dtype, np.floating) else np.float64
    return (p >= dt(EPSILON)) & (p <= dt(1.0 - EPSILON))

def _reduce(per_sample, sample_weight):
    """``mean ℓᵢ`` — or, with weights, ``Σ wᵢ·ℓᵢ / N`` (Keras's "sum_over_batch_size")."""
    if sample_weight is None:
        return float(np.mean(per_sample))
    return float(np.mean(per_sample * sample_weight))


def _weigh(gradient, sample_weight):
    """Multiply the gradient of sample ``i`` (row ``i``) by ``wᵢ``."""
    if sample_weight is None:
        return gradient
    w = np.asarray(sample_weight, dtype=gradient.dtype)
    return gradient * w.reshape(len(w), *([1] * (gradient.ndim - 1)))


class Loss:
    """Base class: ``loss(y_true, y_pred[, sample_weight]) -> float``; ``gradient(...) -> ∂L/∂y_pred``."""

    name = "loss"

    def __call__(self, y_true, y_pred, sample_weight=None) -> float:
        y_true, y_pred = self.check(y_true, y_pred)
        return _reduce(self.per_sample(y_true, y_pred), sample_weight)

    def check(self, y_true, y_pred):
        """Validate shapes; return arrays (``y_true`` as float of ``y_pred``'s dtype)."""
        y_pred = np.asarray(y_pred)
        y_true = _as_float(y_true, y_pred)
        if y_true.shape != y_pred.shape and y_true.size == y_pred.size and y_true.ndim == 1 and y_pred.shape[1:] == (1,):
            y_true = y_true.reshape(y_pred.shape)  # labels (N,) for one output (N, 1), as Keras accepts
        if y_true.shape != y_pred.shape:
            raise ValueError(f"{type(self).__name__} expected y_true with the shape of the predictions "
                             f"{y_pred.shape}; got {y_true.shape}")
        return y_true, y_pred

    def per_sample(self, y_true, y_pred):
        raise NotImplementedError

    def gradient(self, y_true, y_pred, sample_weight=None):
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"name": self.name}


class MeanSquaredError(Loss):
    """``L = mean over samples and outputs of (ŷ − y)²``."""

    name = "mean_squared_error"

    def per_sample(self, y_true, y_pred):
        return np.mean(np.square(y_pred - y_true).reshape(len(y_pred), -1), axis=1)

    def gradient(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = self.check(y_true, y_pred)
        return _weigh(2 * (y_pred - y_true) / y_pred.size, sample_weight)


class MeanAbsoluteError(Loss):
    """``L = mean |ŷ − y|`` (robust to outliers; gradient ``sign(ŷ − y)/(N·D)``)."""

    name = "mean_absolute_error"

    def per_sample(self, y_true, y_pred):
        return np.mean(np.abs(y_pred - y_true).reshape(len(y_pred), -1), axis=1)

    def gradient(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = self.check(y_true, y_pred)
        return _weigh(np.sign(y_pred - y_true) / y_pred.size, sample_weight)


class MeanAbsolutePercentageError(Loss):
    """``L = 100·mean |ŷ − y| / max(|y|, ε)`` — relative error in percent (Keras ``"mape"``)."""

    name = "mean_absolute_percentage_error"

    def per_sample(self, y_true, y_pred):
        rel = np.abs(y_pred - y_true) / np.maximum(np.abs(y_true), EPSILON)
        return 100 * np.mean(rel.reshape(len(y_pred), -1), axis=1)

    def gradient(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = self.check(y_true, y_pred)
        return _weigh(100 * np.sign(y_pred - y_true) / np.maximum(np.abs(y_true), EPSILON) / y_pred.size,
                      sample_weight)


class BinaryCrossentropy(Loss):
    """``L = −mean [y log p + (1 − y) log(1 − p)]`` for probabilities ``p`` in (0, 1)."""

    name = "binary_crossentropy"

    def check(self, y_true, y_pred):
        y_true, y_pred = super().check(y_true, y_pred)
        if np.any((y_true < 0) | (y_true > 1)):
            raise ValueError("BinaryCrossentropy expected y_true in [0, 1]; got values "
                             f"from {y_true.min()} to {y_true.max()}")
        return y_true, y_pred

    def per_sample(self, y_true, y_pred):
        p = np.clip(y_pred, EPSILON, 1 - EPSILON)
        bce = -(y_true * np.log(p) + (1 - y_true) * np.log(1 - p))
        return np.mean(bce.reshape(len(p), -1), axis=1)

    def gradient(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = self.check(y_true, y_pred)
        inside = _inside_clip(y_pred)
        p = np.clip(y_pred, EPSILON, 1 - EPSILON)
        grad = np.where(inside, (p - y_true) / (p * (1 - p)), 0.0).astype(y_pred.dtype) / y_pred.size
        return _weigh(grad, sample_weight)

    def fused(self, y_true, z, p, sample_weight=None):
        """Value from logits ``z`` and ``∂L/∂z = (p − y)/(N·D)`` for a sigmoid output ``p = σ(z)``."""
        y_true, z = self.check(y_true, z)
        # −[y log σ(z) + (1−y) log(1−σ(z))] = softplus(z) − y·z, stable for any z
        elementwise = np.logaddexp(0, z) - y_true * z
        if sample_weight is None:
            value = float(np.mean(elementwise))
        else:
            value = _reduce(np.mean(elementwise.reshape(len(z), -1), axis=1), sample_weight)
        return value, _weigh((p - y_true) / z.size, sample_weight)


class CategoricalCrossentropy(Loss):
    """``L = −mean Σₖ yₖ log pₖ`` with one-hot (or soft) targets ``y`` of shape ``(N, C)``."""

    name = "categorical_crossentropy"

    def check(self, y_true, y_pred):
        y_true, y_pred = super().check(y_true, y_pred)
        if y_pred.ndim < 2:
            raise ValueError(f"CategoricalCrossentropy expected predictions of shape (N, classes); got {y_pred.shape}")
        return y_true, y_pred

    def per_sample(self, y_true, y_pred):
        # Keras renormalises the probabilities and clips them away from 0 and 1
        p = y_pred / y_pred.sum(axis=-1, keepdims=True)
        p = np.clip(p, EPSILON, 1 - EPSILON)
        return -np.sum(y_true * np.log(p), axis=-1).reshape(len(p), -1).mean(axis=1)

    def gradient(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = self.check(y_true, y_pred)
        s = y_pred.sum(axis=-1, keepdims=True)
        p = y_pred / s
        inside = _inside_clip(p)
        g_p = np.where(inside, -y_true / np.clip(p, EPSILON, 1), 0.0)  # ∂L/∂p (before renormalisation)
        # chain rule through p = ŷ / Σŷ: ∂L/∂ŷⱼ = (g_pⱼ − Σₖ g_pₖ pₖ) / Σŷ
        g = (g_p - np.sum(g_p * p, axis=-1, keepdims=True)) / s
        return _weigh((g / (y_pred.size // y_pred.shape[-1])).astype(y_pred.dtype), sample_weight)

    def fused(self, y_true, z, p, sample_weight=None):
        """Value from logits ``z`` (log-softmax) and ``∂L/∂z = (p − y)/N`` for a softmax output ``p``."""
        y_true, z = self.check(y_true, z)
        shifted = z - z.max(axis=-1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        n = z.size // z.shape[-1]
        if sample_weight is None:
            value = float(-np.sum(y_true * log_p) / n)
        else:
            value = _reduce(-np.sum(y_true * log_p, axis=-1).reshape(len(z), -1).mean(axis=1), sample_weight)
        return value, _weigh((p - y_true) / n, sample_weight)


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Categorical cross-entropy with integer labels ``y`` of shape ``(N,)`` or ``(N, 1)``."""

    name = "sparse_categorical_crossentropy"

    def check(self, y_true, y_pred):
        y_pred = np.asarray(y_pred)
        if y_pred.ndim != 2:
            raise ValueError(f"SparseCategoricalCrossentropy expected predictions of shape (N, classes); "
                             f"got {y_pred.shape}")
        labels = np.asarray(y_true)
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.shape != (len(y_pred),):
            raise ValueError(f"SparseCategoricalCrossentropy expected integer labels of shape ({len(y_pred)},); "
                             f"got {labels.shape} (one-hot labels go with 'categorical_crossentropy')")
        if labels.size and (not np.all(np.equal(np.mod(labels, 1), 0)) or labels.min() < 0
                            or labels.max() >= y_pred.shape[1]):
            raise ValueError(f"SparseCategoricalCrossentropy expected integer labels in 0..{y_pred.shape[1] - 1}; "
                             f"got values from {labels.min()} to {labels.max()}")
        one_hot = np.zeros(y_pred.shape, dtype=y_pred.dtype)
        one_hot[np.arange(len(labels)), labels.astype(np.int64)] = 1
        return one_hot, y_pred


_LOSSES = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "mape": MeanAbsolutePercentageError, "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}


def get(identifier, argument: str = "loss") -> Loss:
    """A loss from a Keras name (``"mse"``, ``"categorical_crossentropy"`` ...), a config or an instance."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        identifier = identifier["name"]
    return lookup(_LOSSES, identifier, kind="loss", argument=argument)()
