"""Permutation-invariant pooling over the haplotype axis — the symmetric function that makes a network
*exchangeable* (Chan et al. 2018, "A likelihood-free inference framework for population genetic data
using exchangeable neural networks").

Haplotypes in a sample have no natural order: shuffling the rows of a genotype image
``(N, haplotypes, SNPs, channels)`` should not change the prediction. Build the network as

    Conv2D(f, (1, k))  →  … (the same per-row filters on every haplotype)  →  ExchangeablePooling("mean")  →  …

The (1, k) convolutions treat each haplotype independently with shared weights, so permuting the rows
permutes their outputs; a symmetric reduction over the rows (mean, max or sum) then forgets the order.
With several populations, ``ExchangeablePooling("mean", groups=(n_A, n_B))`` pools each population's
rows separately (any sizes), keeping which population is which.
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
        With ``groups=(n₁, n₂, …)`` the rows are cut into consecutive blocks of those sizes — one block per
        population, e.g. ``groups=(82, 198)`` for 41 + 99 diploids — and each block is pooled on its own:
        ``(N, haplotypes, …)`` → ``(N, len(groups), …)``. Unequal sizes are fine.

    Forward (over the rows ``h`` of one block, or of the whole sample)
        sum: ``y = Σ_h x[:, h]``;  mean: ``y = (1/H) Σ_h x[:, h]``;  max: ``y = max_h x[:, h]``.
    Backward
        sum: ``dx[:, h] = dy``;  mean: ``dx[:, h] = dy/H``;  max: ``dy`` goes to the (first) haplotype that
        held the maximum, the others get 0.

    No parameters. Invariant to any permutation of the rows within a block (tested).
    """

    def __init__(self, mode="mean", keepdims=False, groups=None, **kwargs):
        super().__init__(**kwargs)
        if mode not in _MODES:
            raise ValueError(f"ExchangeablePooling mode must be one of {_MODES}; got {mode!r}")
        if groups is not None:
            if isinstance(groups, (int, np.integer)) or not all(
                    isinstance(g, (int, np.integer)) and not isinstance(g, bool) and g > 0 for g in groups):
                raise ValueError(f"ExchangeablePooling groups must be a sequence of positive block sizes, e.g. "
                                 f"(82, 198); got {groups!r}")
            if keepdims:
                raise ValueError("ExchangeablePooling: keepdims applies without groups only (with groups the "
                                 "pooled axis already has one entry per group)")
            groups = tuple(int(g) for g in groups)
        self.mode = mode
        self.keepdims = bool(keepdims)
        self.groups = groups

    def _check_rows(self, rows):
        if self.groups is not None and sum(self.groups) != rows:
            raise ValueError(f"ExchangeablePooling {self.name!r}: groups {self.groups} add up to {sum(self.groups)} "
                             f"rows but the input has {rows} haplotypes")

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 2:
            raise ValueError(f"ExchangeablePooling {self.name!r} expected input (N, haplotypes, ..., channels) "
                             f"of rank >= 3; got sample shape {input_shape}")
        self._check_rows(input_shape[0])
        if self.groups is not None:
            return (len(self.groups), *input_shape[1:])
        return (1, *input_shape[1:]) if self.keepdims else input_shape[1:]

    def _blocks(self, rows):
        """``(lo, hi)`` row range of each block: the groups, or every row in one block."""
        edges = np.cumsum((0, *(self.groups or (rows,))))
        return list(zip(edges[:-1], edges[1:]))

    def forward(self, x, training=False):
        x = self._check_input(x)
        if x.ndim < 3:
            raise ValueError(f"ExchangeablePooling {self.name!r} expected input (N, haplotypes, ..., channels) "
                             f"of rank >= 3; got shape {x.shape}")
        self._check_rows(x.shape[1])
        self._x_shape = x.shape
        self._args = []
        pooled = []
        for lo, hi in self._blocks(x.shape[1]):
            block = x[:, lo:hi]
            if self.mode == "sum":
                pooled.append(block.sum(axis=1))
            elif self.mode == "mean":
                pooled.append(block.mean(axis=1))
            else:
                arg = block.argmax(axis=1)   # first haplotype of the block holding the maximum
                self._args.append(arg)
                pooled.append(np.take_along_axis(block, arg[:, None], axis=1)[:, 0])
        y = np.stack(pooled, axis=1)        # (N, blocks, ...)
        return y if self.groups is not None or self.keepdims else y[:, 0]

    def backward(self, dy):
        if self.groups is None and not self.keepdims:
            dy = dy[:, None]                 # (N, 1, ...): one block
        dx = np.zeros(self._x_shape, dtype=dy.dtype)
        for g, (lo, hi) in enumerate(self._blocks(self._x_shape[1])):
            if self.mode == "max":
                np.put_along_axis(dx[:, lo:hi], self._args[g][:, None], dy[:, g:g + 1], axis=1)
            else:
                dx[:, lo:hi] = dy[:, g:g + 1] / (hi - lo) if self.mode == "mean" else dy[:, g:g + 1]
        return dx

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "keepdims": self.keepdims,
                "groups": list(self.groups) if self.groups is not None else None}
