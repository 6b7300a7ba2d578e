"""Layers that only rearrange values: ``Flatten``, ``Reshape`` and ``Permute``. Their backward undoes the
rearrangement."""

from __future__ import annotations

import math

import numpy as np

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


class Permute(Layer):
    """Reorder the axes of each sample: ``dims`` is a permutation of ``1 … rank`` (1-based, batch axis
    excluded — Keras's convention). ``Permute((2, 1))`` turns ``(N, haplotypes, SNPs)`` into
    ``(N, SNPs, haplotypes)``: a Conv1D after it slides along SNPs with the haplotypes as channels.

    Forward:  ``y[n, i_{d₁}, …, i_{d_r}] = x[n, i₁, …, i_r]``, i.e. ``y = x.transpose(0, d₁, …, d_r)``.
    Backward: the inverse permutation ``p⁻¹`` (``p⁻¹[p[k]] = k``) puts each gradient back where its value
    came from: ``dx = dy.transpose(0, p⁻¹…)``. No arithmetic, as for ``Reshape``.
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        try:
            dims = tuple(dims)
        except TypeError:
            raise TypeError(f"Permute dims must be a tuple of axis numbers such as (2, 1); got {dims!r}") from None
        if (not dims or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) for d in dims)
                or sorted(int(d) for d in dims) != list(range(1, len(dims) + 1))):
            raise ValueError(f"Permute dims must be a permutation of 1..{len(dims) or 'rank'} (1-based, the batch "
                             f"axis excluded); got {dims!r}")
        self.dims = tuple(int(d) for d in dims)
        self._inverse = tuple(int(k) for k in np.argsort(self.dims))  # sample axes, 0-based

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != len(self.dims):
            raise ValueError(f"Permute {self.name!r} with dims={self.dims} expects samples of rank {len(self.dims)}; "
                             f"got sample shape {input_shape}")
        return tuple(input_shape[d - 1] for d in self.dims)

    def forward(self, x, training=False):
        x = self._check_input(x)
        return np.ascontiguousarray(x.transpose((0, *self.dims)))

    def backward(self, dy):
        return np.ascontiguousarray(dy.transpose((0, *(k + 1 for k in self._inverse))))

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}
