"""Dropout: randomly silence units during training (Srivastava et al. 2014). Tested in
``tests/minidl/test_layers_dense.py``."""

from __future__ import annotations

import numpy as np

from .base import Layer


class Dropout(Layer):
    """Zero each input with probability ``rate`` during training and scale the rest by ``1/(1 − rate)``.

    Forward (training)
        ``m ~ Bernoulli(1 − rate)``, ``y = x ⊙ m / (1 − rate)`` — the scaling keeps ``E[y] = x`` so nothing
        changes at inference, where ``y = x``.
    Backward
        ``dx = dy ⊙ m / (1 − rate)`` — the same mask: a silenced unit passes no gradient.

    ``noise_shape`` (batch axis included, 1 where the mask is shared) drops whole channels or rows, as
    in Keras. The mask comes from the layer's seeded generator: the same seed gives the same masks.
    Any input rank.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if not (isinstance(rate, (int, float, np.floating)) and 0 <= rate < 1):
            raise ValueError(f"Dropout rate must be a number in [0, 1); got {rate!r}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)

    def forward(self, x, training=False):
        x = self._check_input(x)
        if not training or self.rate == 0:
            self._mask = None
            return x
        shape = x.shape if self.noise_shape is None else tuple(
            x.shape[i] if s is None else s for i, s in enumerate(self.noise_shape))
        keep = self._ensure_rng().random(shape) >= self.rate
        self._mask = (keep / (1.0 - self.rate)).astype(x.dtype)
        return x * self._mask

    def backward(self, dy):
        return dy if self._mask is None else dy * self._mask

    def get_config(self):
        return {**super().get_config(), "rate": self.rate,
                "noise_shape": None if self.noise_shape is None else list(self.noise_shape), "seed": self.seed}
