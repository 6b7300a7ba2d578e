"""Metrics: numbers we watch but do not differentiate.

Each metric is a per-sample function ``values(y_true, y_pred) -> (N,)``; ``fit``/``evaluate`` report the
mean over all samples of the epoch (Keras reports the same running mean). ``"accuracy"`` resolves, as in
Keras, from the loss: binary accuracy (threshold 0.5) for binary cross-entropy, sparse categorical for
integer labels, categorical (argmax) otherwise.

:func:`confusion_matrix` counts true class (rows) against predicted class (columns).
"""

from __future__ import annotations

import numpy as np

from ._naming import lookup


def _labels(y_true, n_classes):
    y = np.asarray(y_true)
    if y.ndim == 2 and y.shape[1] == n_classes and n_classes > 1:
        return y.argmax(axis=1)
    return y.reshape(len(y)).astype(np.int64)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Per sample: fraction of outputs where ``(ŷ > threshold) == y``."""
    y_pred = np.asarray(y_pred)
    hit = (y_pred > threshold) == (np.asarray(y_true).reshape(y_pred.shape) > 0.5)
    return hit.reshape(len(y_pred), -1).mean(axis=1)


def categorical_accuracy(y_true, y_pred):
    """Per sample: 1 if ``argmax ŷ == argmax y`` (one-hot targets)."""
    return (np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)).astype(np.float64)


def sparse_categorical_accuracy(y_true, y_pred):
    """Per sample: 1 if ``argmax ŷ`` equals the integer label."""
    y_pred = np.asarray(y_pred)
    return (np.argmax(y_pred, axis=-1) == _labels(y_true, y_pred.shape[-1])).astype(np.float64)


def mean_absolute_error(y_true, y_pred):
    y_pred = np.asarray(y_pred)
    return np.abs(y_pred - np.asarray(y_true).reshape(y_pred.shape)).reshape(len(y_pred), -1).mean(axis=1)


def mean_squared_error(y_true, y_pred):
    y_pred = np.asarray(y_pred)
    return np.square(y_pred - np.asarray(y_true).reshape(y_pred.shape)).reshape(len(y_pred), -1).mean(axis=1)


class Metric:
    """A named per-sample metric function (the name is the key in ``History.history``)."""

    def __init__(self, name, fn):
        self.name, self.fn = name, fn

    def values(self, y_true, y_pred):
        return self.fn(y_true, y_pred)

    def __repr__(self):
        return f"Metric({self.name!r})"


_METRICS = {
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "mae": mean_absolute_error, "mean_absolute_error": mean_absolute_error,
    "mse": mean_squared_error, "mean_squared_error": mean_squared_error,
    "accuracy": None, "acc": None,
}


def get(identifier, loss=None) -> Metric:
    """A metric by Keras name; ``"accuracy"`` picks the variant that fits ``loss``."""
    if isinstance(identifier, Metric):
        return identifier
    if callable(identifier):
        return Metric(identifier.__name__, identifier)
    fn = lookup(_METRICS, identifier, kind="metric", argument="metrics")
    if fn is None:  # "accuracy": choose from the loss, as Keras does
        loss_name = getattr(loss, "name", "")
        fn = {"binary_crossentropy": binary_accuracy,
              "sparse_categorical_crossentropy": sparse_categorical_accuracy}.get(loss_name, categorical_accuracy)
        return Metric("accuracy", fn)
    return Metric(identifier.lower(), fn)


def confusion_matrix(y_true, y_pred, n_classes=None, labels=None) -> np.ndarray:
    """Counts ``C[i, j]`` of samples of true class ``i`` predicted as class ``j``.

    ``y_true`` and ``y_pred`` may be integer labels ``(N,)`` or one-hot/probability arrays ``(N, C)``
    (reduced with argmax). With ``labels`` (a list of class values of any kind, e.g. model names), row and
    column ``i`` are ``labels[i]`` and ``y_true``/``y_pred`` hold such values.
    """
    if labels is not None:
        position = {label: i for i, label in enumerate(labels)}
        unknown = sorted({str(v) for v in (*y_true, *y_pred) if v not in position})
        if unknown:
            raise ValueError(f"confusion_matrix got values {unknown} that are not in labels {list(labels)}")
        y_true = np.array([position[v] for v in y_true], dtype=np.int64)
        y_pred = np.array([position[v] for v in y_pred], dtype=np.int64)
        n_classes = len(labels)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    t = y_true.argmax(axis=1) if y_true.ndim == 2 and y_true.shape[1] > 1 else y_true.reshape(-1).astype(np.int64)
    p = y_pred.argmax(axis=1) if y_pred.ndim == 2 and y_pred.shape[1] > 1 else y_pred.reshape(-1).astype(np.int64)
    if t.shape != p.shape:
        raise ValueError(f"confusion_matrix expected as many predictions as labels; got {p.shape} and {t.shape}")
    if n_classes is None:
        n_classes = int(max(t.max(initial=-1), p.max(initial=-1)) + 1)
    if t.size and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= n_classes):
        raise ValueError(f"confusion_matrix expected labels in 0..{n_classes - 1}")
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm
