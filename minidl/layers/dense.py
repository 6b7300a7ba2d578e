"""Fully connected layer. Gradients checked in ``tests/minidl/test_layers_dense.py``."""

from __future__ import annotations

import numpy as np

from .. import kernels as _kernels
from .base import ActivationMixin, Layer, serialize


class Dense(ActivationMixin, Layer):
    """``y = f(x·W + b)`` — every input unit connected to every output unit.

    Shapes
        x: ``(N, …, in)``  →  y: ``(N, …, units)``; kernel ``W``: ``(in, units)``; bias ``b``: ``(units,)``.
        Inputs of rank > 2 are transformed along their last axis, as in Keras.

    Forward
        ``z = x·W + b``,  ``y = f(z)``

    Backward (given ``dz = ∂L/∂z``, rows of the batch stacked into one matrix)
        ``∂L/∂W = xᵀ·dz``      — each weight collects input × error over the batch
        ``∂L/∂b = Σₙ dzₙ``
        ``∂L/∂x = dz·Wᵀ``      — the error sent back through the same connections

    Parameters (Keras order): ``kernel``, ``bias``.

    The two products go through the active kernel family (``K.matmul`` is ``x @ W``,
    ``K.weight_gradient`` is ``xᵀ·dz``; see :mod:`minidl.kernels.reference`); the fast family only cuts
    very long sums (e.g. after a Flatten) into blocks that the BLAS runs fast on several threads.
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"Dense units must be a positive integer; got {units!r}")
        self.units = int(units)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self._set_activation(activation)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 1:
            raise ValueError(f"Dense {self.name!r} expected input (N, ..., features); got sample shape {input_shape}")
        n_in = input_shape[-1]
        self.add_weight("kernel", (n_in, self.units), self.kernel_initializer, self.kernel_regularizer)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer, self.bias_regularizer)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], self.units)

    def forward(self, x, training=False):
        x = self._check_input(x)
        self._x = x
        z = _kernels.active().matmul(x, self.params["kernel"])   # x·W
        if self.use_bias:
            z = z + self.params["bias"]
        return self.activation.forward(z)

    def backward_linear(self, dz):
        x, W = self._x, self.params["kernel"]
        x2 = x.reshape(-1, W.shape[0])
        dz2 = dz.reshape(-1, W.shape[1])
        self._store_grad("kernel", _kernels.active().weight_gradient(x2, dz2))   # x2ᵀ·dz2
        if self.use_bias:
            self._store_grad("bias", dz2.sum(axis=0))
        return _kernels.active().matmul(dz, W.T)   # dz·Wᵀ

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self._activation_config(),
                "use_bias": self.use_bias,
                "kernel_initializer": serialize(self.kernel_initializer),
                "bias_initializer": serialize(self.bias_initializer),
                "kernel_regularizer": serialize(self.kernel_regularizer),
                "bias_regularizer": serialize(self.bias_regularizer)}
