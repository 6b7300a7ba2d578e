"""Pooling layers: ``MaxPooling1D/2D``, ``AveragePooling1D/2D`` and the global poolings (Keras 3 names
and defaults: ``pool_size=2``, ``strides=None`` → ``pool_size``, ``padding="valid"``).

Gradients checked in ``tests/minidl/test_layers_pooling.py``; kernels compared reference-vs-fast in
``tests/minidl/test_kernels.py``.
"""

from __future__ import annotations

import numpy as np

from .. import kernels as _kernels
from .base import Layer
from .conv import _PADDINGS, _int_tuple


class _Pooling(Layer):
    """Shared machinery; 1-D inputs ``(N, L, C)`` run as images ``(N, 1, L, C)``."""

    rank = 2
    mode = "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        if padding not in _PADDINGS:
            raise ValueError(f"{cls} padding must be one of {_PADDINGS}; got {padding!r}")
        self.pool_size = _int_tuple(pool_size, self.rank, "pool_size", cls)
        self.strides = self.pool_size if strides is None else _int_tuple(strides, self.rank, "strides", cls)
        self.padding = padding

    def _p2(self):
        return self.pool_size if self.rank == 2 else (1, self.pool_size[0])

    def _s2(self):
        return self.strides if self.rank == 2 else (1, self.strides[0])

    def _spatial2(self, input_shape):
        return tuple(input_shape[:2]) if self.rank == 2 else (1, input_shape[0])

    def _pads(self, input_shape):
        return _kernels.padding_amounts(self._spatial2(input_shape), self._p2(), self._s2(), self.padding)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 1:
            raise ValueError(f"{type(self).__name__} {self.name!r} expected input of rank {self.rank + 2} "
                             f"{self._rank_hint()}; got sample shape {input_shape}")
        sp, p, s, pads = self._spatial2(input_shape), self._p2(), self._s2(), self._pads(input_shape)
        out = (_kernels.output_length(sp[0], p[0], s[0], pads[0], pads[1]),
               _kernels.output_length(sp[1], p[1], s[1], pads[2], pads[3]))
        if min(out) <= 0:
            raise ValueError(f"{type(self).__name__} {self.name!r} pool_size {self.pool_size} is larger than its "
                             f"input {input_shape[:-1]} with padding='valid'; expected a pool no larger than "
                             f"the input (or padding='same')")
        return (*(out if self.rank == 2 else out[1:]), input_shape[-1])

    def forward(self, x, training=False):
        x = self._check_input(x)
        K = _kernels.active()
        x4 = x if self.rank == 2 else x[:, None]
        self._x_shape = x4.shape
        args = (self._p2(), self._s2(), self._pads(self.input_shape))
        if self.mode == "max":
            y, self._arg = K.max_pool2d_forward(x4, *args)
        else:
            y = K.avg_pool2d_forward(x4, *args)
        return y if self.rank == 2 else y[:, 0]

    def backward(self, dy):
        K = _kernels.active()
        dy4 = dy if self.rank == 2 else dy[:, None]
        args = (self._x_shape, self._p2(), self._s2(), self._pads(self.input_shape))
        if self.mode == "max":
            dx = K.max_pool2d_backward(dy4, self._arg, *args)
        else:
            dx = K.avg_pool2d_backward(dy4, *args)
        return dx if self.rank == 2 else dx[:, 0]

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding}


class MaxPooling2D(_Pooling):
    """Maximum over each ``pool_size`` window: ``y[n,i,j,c] = max_{a,b} xp[n, i·sh+a, j·sw+b, c]``.

    Shapes: ``(N, H, W, C)`` → ``(N, Ho, Wo, C)`` (``Ho`` as for :class:`~minidl.layers.Conv2D`).
    Backward: the whole ``dy`` of a window goes to the input that won it (the first maximum, as
    TensorFlow); every other input of the window gets nothing. ``"same"`` padding never wins.
    Tested in ``tests/minidl/test_layers_pooling.py``.
    """

    rank, mode, input_rank = 2, "max", 4


class MaxPooling1D(_Pooling):
    """Maximum over windows of ``pool_size`` steps: ``(N, L, C)`` → ``(N, Lo, C)``. Backward as
    :class:`MaxPooling2D`. Tested in ``tests/minidl/test_layers_pooling.py``."""

    rank, mode, input_rank = 1, "max", 3


class AveragePooling2D(_Pooling):
    """Mean over each window: ``y[n,i,j,c] = (1/|w|) Σ_{(a,b)∈w} x[n, i·sh+a, j·sw+b, c]``.

    ``|w|`` counts only real cells: with ``padding="same"`` the padding is excluded from the mean, as in
    TensorFlow. Backward: every cell of a window receives ``dy/|w|``. Shapes as :class:`MaxPooling2D`.
    Tested in ``tests/minidl/test_layers_pooling.py``.
    """

    rank, mode, input_rank = 2, "avg", 4


class AveragePooling1D(_Pooling):
    """Mean over windows of ``pool_size`` steps: ``(N, L, C)`` → ``(N, Lo, C)``. Backward as
    :class:`AveragePooling2D`. Tested in ``tests/minidl/test_layers_pooling.py``."""

    rank, mode, input_rank = 1, "avg", 3


class _GlobalPooling(Layer):
    """Reduce all spatial axes (1..rank) to one value per channel."""

    rank = 2
    mode = "avg"

    def __init__(self, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 1:
            raise ValueError(f"{type(self).__name__} {self.name!r} expected input of rank {self.rank + 2} "
                             f"{self._rank_hint()}; got sample shape {input_shape}")
        return (*([1] * self.rank), input_shape[-1]) if self.keepdims else (input_shape[-1],)

    def forward(self, x, training=False):
        x = self._check_input(x)
        self._x_shape = x.shape
        x3 = x.reshape(x.shape[0], -1, x.shape[-1])        # (N, positions, C)
        if self.mode == "avg":
            y = x3.mean(axis=1)
        else:
            self._arg = x3.argmax(axis=1)                   # first maximum per (n, c)
            y = np.take_along_axis(x3, self._arg[:, None, :], axis=1)[:, 0]
        return y.reshape((x.shape[0], *self.output_shape))

    def backward(self, dy):
        N, C = self._x_shape[0], self._x_shape[-1]
        P = int(np.prod(self._x_shape[1:-1]))
        dy2 = dy.reshape(N, 1, C)
        if self.mode == "avg":
            dx3 = np.broadcast_to(dy2 / P, (N, P, C)).copy()
        else:
            dx3 = np.zeros((N, P, C), dtype=dy.dtype)
            np.put_along_axis(dx3, self._arg[:, None, :], dy2, axis=1)
        return dx3.reshape(self._x_shape)

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPooling):
    """``y[n,c] = mean_{i,j} x[n,i,j,c]``: ``(N, H, W, C)`` → ``(N, C)`` (``keepdims``: ``(N, 1, 1, C)``).
    Backward: ``dx[n,i,j,c] = dy[n,c]/(H·W)``. Tested in ``tests/minidl/test_layers_pooling.py``."""

    rank, mode, input_rank = 2, "avg", 4


class GlobalAveragePooling1D(_GlobalPooling):
    """``y[n,c] = mean_j x[n,j,c]``: ``(N, L, C)`` → ``(N, C)``. Backward ``dy/L`` to every step.
    Tested in ``tests/minidl/test_layers_pooling.py``."""

    rank, mode, input_rank = 1, "avg", 3


class GlobalMaxPooling2D(_GlobalPooling):
    """``y[n,c] = max_{i,j} x[n,i,j,c]``: ``(N, H, W, C)`` → ``(N, C)``. Backward: ``dy`` to the (first)
    maximum. Tested in ``tests/minidl/test_layers_pooling.py``."""

    rank, mode, input_rank = 2, "max", 4


class GlobalMaxPooling1D(_GlobalPooling):
    """``y[n,c] = max_j x[n,j,c]``: ``(N, L, C)`` → ``(N, C)``. Backward: ``dy`` to the (first) maximum.
    Tested in ``tests/minidl/test_layers_pooling.py``."""

    rank, mode, input_rank = 1, "max", 3
