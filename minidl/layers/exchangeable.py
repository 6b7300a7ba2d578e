"""Permutation-invariant pooling over the haplotype axis — the symmetric function that makes a network
*exchangeable* (Chan et al. 2018, "A likelihood-free inference framework for population genetic data
using exchangeable neural networks").

Haplotypes in a sample have no natural order: shuffling the rows of a genotype image
``(N, haplotypes, SNPs, channels)`` should not change the prediction. Build the network as

    Conv2D(f, (1, k))  →  … (the same per-row filters on every haplotype)  →  ExchangeablePooling("mean")  →  …

The (1, k) convolutions treat each haplotype independently with shared weights, so permuting the rows
permutes their outputs; a symmetric reduction over the rows (mean, max or sum) then forgets the order.
``tests/minidl/test_layers_exchangeable.py`` checks the gradients and the invariance itself.
"""

from __future__ import annotations

import numpy as np

from .base import Layer

_MODES = ("mean", "max", "sum")


class ExchangeablePooling(Layer):
    """Reduce the haplotype axis (axis 1) with a symmetric function: ``mode`` = ``"mean"``, ``"max"``, ``"sum"``.

    Shapes
        ``(N, haplotypes, …)`` → ``(N, …)``, or ``(N, 1, …)`` with ``keepdims=True``. Typical input
        ``(N, haplotypes, SNPs, channels)`` → ``(N, SNPs, channels)``, ready for ``Conv1D``/``Dense``.

    Forward
        sum: ``y = Σ_h x[:, h]``;  mean: ``y = (1/H) Σ_h x[:, h]``;  max: ``y = max_h x[:, h]``.
    Backward
        sum: ``dx[:, h] = dy``;  mean: ``dx[:, h] = dy/H``;  max: ``dy`` goes to the (first) haplotype that
        held the maximum, the others get 0.

    No parameters. Invariant to any permutation of axis 1 (tested).
    """

    def __init__(self, mode="mean", keepdims=False, **kwargs):
        super().__init__(**kwargs)
        if mode not in _MODES:
            raise ValueError(f"ExchangeablePooling mode must be one of {_MODES}; got {mode!r}")
        self.mode = mode
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 2:
            raise ValueError(f"ExchangeablePooling {self.name!r} expected input (N, haplotypes, ..., channels) "
                             f"of rank >= 3; got sample shape {input_shape}")
        return (1, *input_shape[1:]) if self.keepdims else input_shape[1:]

    def forward(self, x, training=False):
        x = self._check_input(x)
        if x.ndim < 3:
            raise ValueError(f"ExchangeablePooling {self.name!r} expected input (N, haplotypes, ..., channels) "
                             f"of rank >= 3; got shape {x.shape}")
        self._x_shape = x.shape
        if self.mode == "sum":
            y = x.sum(axis=1)
        elif self.mode == "mean":
            y = x.mean(axis=1)
        else:
            self._arg = x.argmax(axis=1)   # first haplotype holding the maximum
            y = np.take_along_axis(x, self._arg[:, None], axis=1)[:, 0]
        return y[:, None] if self.keepdims else y

    def backward(self, dy):
        if self.keepdims:
            dy = dy[:, 0]
        H = self._x_shape[1]
        if self.mode == "max":
            dx = np.zeros(self._x_shape, dtype=dy.dtype)
            np.put_along_axis(dx, self._arg[:, None], dy[:, None], axis=1)
            return dx
        g = dy / H if self.mode == "mean" else dy
        return np.broadcast_to(g[:, None], self._x_shape).copy()

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "keepdims": self.keepdims}
