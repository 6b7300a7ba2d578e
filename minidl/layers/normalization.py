"""Batch normalisation (Ioffe & Szegedy 2015) with Keras 3 semantics. Gradients checked in both modes in
``tests/minidl/test_layers_normalization.py``; moving statistics and outputs compared with Keras in
``tests/minidl/test_keras_parity_cnn.py``."""

from __future__ import annotations

import numpy as np

from .. import kernels as _kernels
from .base import Layer
from .base import serialize as _serialize


def serialize(obj):
    """``base.serialize`` that also passes through a config dict (as after ``from_config``)."""
    return obj if isinstance(obj, dict) else _serialize(obj)


class BatchNormalization(Layer):
    """Normalise each channel (last axis) to zero mean and unit variance, then scale and shift.

    Shapes
        any ``(N, …, C)`` → same shape; ``gamma``, ``beta``, ``moving_mean``, ``moving_variance``: ``(C,)``.
        Statistics are taken over all axes but the last (for images: batch, height and width).

    Forward, ``training=True`` (batch statistics; ``M`` = number of values per channel)
        ``μ = (1/M) Σ x``,  ``σ² = (1/M) Σ (x − μ)²`` (biased, as Keras),
        ``x̂ = (x − μ)/sqrt(σ² + ε)``,  ``y = γ·x̂ + β``;
        moving averages: ``moving_mean ← m·moving_mean + (1 − m)·μ``, likewise ``moving_variance`` with ``σ²``
        (``m = momentum = 0.99``, ``ε = epsilon = 1e-3``, Keras defaults).
    Forward, ``training=False``: the same with ``μ, σ²`` replaced by the moving statistics.

    Backward (given ``dy``; sums over the ``M`` values of a channel)
        ``∂L/∂γ = Σ dy·x̂``,  ``∂L/∂β = Σ dy``;
        training:  ``∂L/∂x = γ/sqrt(σ² + ε) · (dy − (1/M)Σ dy − x̂·(1/M)Σ dy·x̂)`` — μ and σ² depend on x too;
        inference: ``∂L/∂x = γ/sqrt(σ² + ε) · dy`` — the moving statistics are constants.

    Parameters (Keras order): ``gamma`` (if ``scale``), ``beta`` (if ``center``), ``moving_mean``,
    ``moving_variance`` (the last two non-trainable). A layer with ``trainable=False`` always runs in
    inference mode, as in Keras 3. Only ``axis=-1`` (channels-last) is supported.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if axis != -1:
            raise ValueError(f"BatchNormalization axis must be -1 (channels-last); got {axis!r}")
        if not 0 <= momentum <= 1:
            raise ValueError(f"BatchNormalization momentum must be in [0, 1]; got {momentum!r}")
        if not epsilon > 0:
            raise ValueError(f"BatchNormalization epsilon must be positive; got {epsilon!r}")
        self.axis, self.momentum, self.epsilon = -1, float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        self.beta_regularizer, self.gamma_regularizer = beta_regularizer, gamma_regularizer

    def build(self, input_shape):
        input_shape = tuple(int(s) for s in input_shape)
        if len(input_shape) < 1:
            raise ValueError(f"BatchNormalization {self.name!r} expected input (N, ..., channels); "
                             f"got sample shape {input_shape}")
        C = (input_shape[-1],)
        if self.scale:
            self.add_weight("gamma", C, self.gamma_initializer, self.gamma_regularizer)
        if self.center:
            self.add_weight("beta", C, self.beta_initializer, self.beta_regularizer)
        self.add_weight("moving_mean", C, self.moving_mean_initializer, trainable=False)
        self.add_weight("moving_variance", C, self.moving_variance_initializer, trainable=False)
        super().build(input_shape)

    def forward(self, x, training=False):
        x = self._check_input(x).astype(self.dtype, copy=False)
        x2 = x.reshape(-1, x.shape[-1])
        scale, shift = self._statistics(x2, training)
        self._x2, self._shape = x2, x.shape
        return _kernels.active().batchnorm_apply(x2, scale, shift).reshape(x.shape)

    def _statistics(self, x2, training):
        """The statistics of a forward pass on ``x2`` ``(M, C)``: batch statistics (and the moving averages
        updated) in training mode, the moving ones otherwise. Keeps μ, 1/σ and the scale for backward;
        returns ``(scale, shift)`` of ``y = x·scale + shift``."""
        self._training = bool(training) and self.trainable
        if self._training:
            mean, var = _kernels.active().batchnorm_stats(x2)
            m = self.momentum
            p = self.params
            p["moving_mean"][...] = p["moving_mean"] * m + mean * (1 - m)
            p["moving_variance"][...] = p["moving_variance"] * m + var * (1 - m)
        else:
            mean = self.params["moving_mean"].astype(np.float64)
            var = self.params["moving_variance"].astype(np.float64)
        inv_std, scale, shift = self._affine(mean, var)
        self._mean, self._inv_std, self._scale = mean, inv_std, scale
        return scale, shift

    def _affine(self, mean, var):
        """``(1/sqrt(σ² + ε), scale, shift)`` of ``y = x·scale + shift``: ``scale = γ/sqrt(σ² + ε)``,
        ``shift = β − μ·scale`` (float64, ``(C,)`` each)."""
        inv_std = 1.0 / np.sqrt(var + self.epsilon)
        gamma = self.params["gamma"].astype(np.float64) if self.scale else 1.0
        beta = self.params["beta"].astype(np.float64) if self.center else 0.0
        scale = gamma * inv_std * np.ones(len(mean))
        return inv_std, scale, beta - mean * scale

    def inference_affine(self):
        """``(scale, shift)`` of the inference-mode forward ``y = x·scale + shift`` (moving statistics):
        what :mod:`minidl.inference` folds into a fused conv block."""
        mean = self.params["moving_mean"].astype(np.float64)
        var = self.params["moving_variance"].astype(np.float64)
        return self._affine(mean, var)[1:]

    def backward(self, dy):
        K = _kernels.active()
        dy2 = dy.reshape(self._x2.shape)
        sum_dy, sum_dy_xhat = K.batchnorm_backward_sums(dy2, self._x2, self._mean, self._inv_std)
        self._store_sums(sum_dy, sum_dy_xhat)
        if self._training:
            dx2 = K.batchnorm_backward_input(dy2, self._x2, self._mean, self._inv_std, self._scale,
                                             sum_dy, sum_dy_xhat)
        else:
            dx2 = K.batchnorm_apply(dy2.astype(self._x2.dtype, copy=False), self._scale, np.zeros_like(self._scale))
        return dx2.reshape(self._shape)

    def _store_sums(self, sum_dy, sum_dy_xhat):
        """The parameter gradients from backward's two sums: ``∂L/∂γ = Σ dy·x̂``, ``∂L/∂β = Σ dy``."""
        if self.scale:
            self._store_grad("gamma", sum_dy_xhat)
        if self.center:
            self._store_grad("beta", sum_dy)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": serialize(self.beta_initializer),
                "gamma_initializer": serialize(self.gamma_initializer),
                "moving_mean_initializer": serialize(self.moving_mean_initializer),
                "moving_variance_initializer": serialize(self.moving_variance_initializer),
                "beta_regularizer": serialize(self.beta_regularizer),
                "gamma_regularizer": serialize(self.gamma_regularizer)}
