"""Convolution layers ``Conv2D`` and ``Conv1D`` (channels-last, Keras 3 names and defaults).

Gradients checked in ``tests/minidl/test_layers_conv.py``; the kernels they call are compared
reference-vs-fast in ``tests/minidl/test_kernels.py``; outputs and training steps match Keras in
``tests/minidl/test_keras_parity_cnn.py``.
"""

from __future__ import annotations

import numpy as np

from .. import kernels as _kernels
from ..activations import LinearFunction
from .base import ActivationMixin, Layer, serialize

_PADDINGS = ("valid", "same")
_LINEAR = LinearFunction()   # f(z) = z: what backward_linear differentiates through


def _int_tuple(value, n: int, argument: str, layer: str) -> tuple[int, ...]:
    """``3 → (3, 3)``; ``(3, 2)`` kept; anything else is an error naming the argument."""
    if isinstance(value, (int, np.integer)):
        value = (int(value),) * n
    try:
        value = tuple(int(v) for v in value)
    except TypeError:
        value = ()
    if len(value) != n or any(v <= 0 for v in value):
        raise ValueError(f"{layer} {argument} must be a positive integer or a tuple of {n} positive integers; "
                         f"got {value!r}")
    return value


class _Conv(ActivationMixin, Layer):
    """Shared machinery of Conv1D and Conv2D. A 1-D input ``(N, L, C)`` is handled as an image
    ``(N, 1, L, C)`` with kernel ``(1, k, C, F)``, so both use the same kernels."""

    rank = 2

    def __init__(self, filters, kernel_size, strides=1, padding="valid", activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        if not isinstance(filters, (int, np.integer)) or filters <= 0:
            raise ValueError(f"{cls} filters must be a positive integer; got {filters!r}")
        if padding not in _PADDINGS:
            raise ValueError(f"{cls} padding must be one of {_PADDINGS}; got {padding!r}")
        self.filters = int(filters)
        self.kernel_size = _int_tuple(kernel_size, self.rank, "kernel_size", cls)
        self.strides = _int_tuple(strides, self.rank, "strides", cls)
        self.padding = padding
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        #: set to False (e.g. for the first layer of a network) to skip computing ``dx`` in backward
        self.compute_input_gradient = True
        self._set_activation(activation)

    input_rank = 4

    # -------------------------------------------------------------- geometry in 2-D form
    def _k2(self):
        return self.kernel_size if self.rank == 2 else (1, self.kernel_size[0])

    def _s2(self):
        return self.strides if self.rank == 2 else (1, self.strides[0])

    def _spatial2(self, input_shape):
        return tuple(input_shape[:2]) if self.rank == 2 else (1, input_shape[0])

    def _pads(self, input_shape):
        return _kernels.padding_amounts(self._spatial2(input_shape), self._k2(), self._s2(), self.padding)

    def build(self, input_shape):
        input_shape = tuple(int(s) for s in input_shape)
        if len(input_shape) != self.rank + 1:
            raise ValueError(f"{type(self).__name__} {self.name!r} expected input of rank {self.rank + 2} "
                             f"{self._rank_hint()}; got sample shape {input_shape}")
        self.add_weight("kernel", (*self.kernel_size, input_shape[-1], self.filters), self.kernel_initializer,
                        self.kernel_regularizer)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer, self.bias_regularizer)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        spatial = self._spatial2(input_shape)
        pads = self._pads(input_shape)
        out = (_kernels.output_length(spatial[0], self._k2()[0], self._s2()[0], pads[0], pads[1]),
               _kernels.output_length(spatial[1], self._k2()[1], self._s2()[1], pads[2], pads[3]))
        if min(out) <= 0:
            raise ValueError(f"{type(self).__name__} {self.name!r} kernel_size {self.kernel_size} is larger than "
                             f"its input {tuple(input_shape[:-1])} with padding='valid'; expected a kernel no "
                             f"larger than the input (or padding='same')")
        return (*(out if self.rank == 2 else out[1:]), self.filters)

    # -------------------------------------------------------------- passes
    def forward(self, x, training=False):
        self._x = self._check_input(x).astype(self.dtype, copy=False)
        # kernel → bias → activation, y = f(x ⋆ W + b), in the active kernel family
        self._y = _kernels.active().conv_bias_activation(self._x, self.params["kernel"], self.params.get("bias"),
                                                         self._s2(), self._pads(self.input_shape), self.activation)
        return self._y

    def forward_checked(self, x, training=False):
        """:meth:`forward` and whether ``x`` is finite, ``(y, finite)``: a model's input check made by its first
        layer, in the same pass over ``x`` (``train_on_batch``; the forward pass changes no state of the
        layer but the values its backward reads, so the model raises afterwards)."""
        self._x = self._check_input(x).astype(self.dtype, copy=False)
        self._y, finite = _kernels.active().conv_bias_activation_checked(
            self._x, self.params["kernel"], self.params.get("bias"), self._s2(), self._pads(self.input_shape),
            self.activation)
        return self._y, finite

    def backward(self, dy):
        return self._backward(dy, self.activation)

    def backward_linear(self, dz):
        return self._backward(dz, _LINEAR)

    def _backward(self, dy, activation):
        # the reverse of forward: dz = dy·f'(z) (f' = 1 from backward_linear), then dW, db and dx from dz
        dW, db, dx = _kernels.active().conv_layer_backward(
            self._x, dy, self._y, self.params["kernel"], self._s2(), self._pads(self.input_shape), activation,
            self.use_bias, self.compute_input_gradient)
        self._store_grad("kernel", dW)
        if self.use_bias:
            self._store_grad("bias", db)
        return dx

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding,
                "activation": self._activation_config(), "use_bias": self.use_bias,
                "kernel_initializer": serialize(self.kernel_initializer),
                "bias_initializer": serialize(self.bias_initializer),
                "kernel_regularizer": serialize(self.kernel_regularizer),
                "bias_regularizer": serialize(self.bias_regularizer)}


class Conv2D(_Conv):
    """2-D convolution (cross-correlation): ``y = f(x ⋆ W + b)``.

    Shapes
        x ``(N, H, W, C)`` → y ``(N, Ho, Wo, filters)``; kernel ``(kh, kw, C, filters)``; bias ``(filters,)``.
        ``padding="valid"``: ``Ho = ⌊(H − kh)/sh⌋ + 1``; ``"same"``: ``Ho = ⌈H/sh⌉`` with TensorFlow's
        padding (the odd extra row/column at the bottom/right).

    Forward (``xp`` = zero-padded x)
        ``z[n,i,j,f] = b[f] + Σ_{a,c,k} xp[n, i·sh+a, j·sw+c, k]·W[a,c,k,f]``,  ``y = f(z)``

    Backward (given ``dz = ∂L/∂z``; derivations in :mod:`minidl.kernels.reference`)
        ``∂L/∂W[a,c,k,f] = Σ_{n,i,j} xp[n, i·sh+a, j·sw+c, k]·dz[n,i,j,f]`` — input correlated with dz
        ``∂L/∂b[f] = Σ_{n,i,j} dz[n,i,j,f]``
        ``∂L/∂x`` = full convolution of (stride-dilated) dz with the 180°-rotated kernel, cropped.

    Parameters (Keras order): ``kernel``, ``bias``. Arguments as ``keras.layers.Conv2D`` (``filters``,
    ``kernel_size``, ``strides=1``, ``padding="valid"|"same"``, ``activation``, ``use_bias``,
    initializers, regularizers). Tested in ``tests/minidl/test_layers_conv.py``.
    """

    rank = 2
    input_rank = 4


class Conv1D(_Conv):
    """1-D convolution along a sequence: ``y = f(x ⋆ W + b)`` — e.g. along SNPs with haplotypes as channels.

    Shapes
        x ``(N, L, C)`` → y ``(N, Lo, filters)``; kernel ``(k, C, filters)``; bias ``(filters,)``.

    Forward
        ``z[n,j,f] = b[f] + Σ_{c,k} xp[n, j·s+c, k]·W[c,k,f]``,  ``y = f(z)``

    Backward
        as :class:`Conv2D` with one spatial axis (it runs the same kernels on ``(N, 1, L, C)``).

    Parameters (Keras order): ``kernel``, ``bias``. Tested in ``tests/minidl/test_layers_conv.py``.
    """

    rank = 1
    input_rank = 3
