"""Layers that only rearrange values: ``Flatten`` and ``Reshape``. Their backward undoes the reshape."""

from __future__ import annotations

import math

from .base import Layer


class Flatten(Layer):
    """``(N, d₁, d₂, …) → (N, d₁·d₂·…)`` in C (row-major) order, as Keras with channels-last data.

    Backward: ``dx = dy.reshape(x.shape)`` — no arithmetic, each value goes back where it came from.
    """

    def compute_output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def forward(self, x, training=False):
        x = self._check_input(x)
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self._shape)


class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (batch axis excluded; one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(s) for s in target_shape)

    def compute_output_shape(self, input_shape):
        size = math.prod(input_shape)
        shape = list(self.target_shape)
        if shape.count(-1) > 1:
            raise ValueError(f"Reshape target_shape may contain at most one -1; got {self.target_shape}")
        if -1 in shape:
            known = math.prod(s for s in shape if s != -1)
            if known == 0 or size % known:
                raise ValueError(f"Reshape cannot turn sample shape {tuple(input_shape)} into {self.target_shape}")
            shape[shape.index(-1)] = size // known
        if math.prod(shape) != size:
            raise ValueError(f"Reshape cannot turn sample shape {tuple(input_shape)} ({size} values) "
                             f"into {self.target_shape}")
        return tuple(shape)

    def forward(self, x, training=False):
        x = self._check_input(x)
        self._shape = x.shape
        return x.reshape((x.shape[0], *self.output_shape))

    def backward(self, dy):
        return dy.reshape(self._shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}
