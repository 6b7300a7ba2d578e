"""Compute kernels behind the convolution, pooling and normalisation layers.

Two families with identical functions and results (``tests/minidl/test_kernels.py``):

* ``reference`` — :mod:`minidl.kernels.reference`, clear NumPy with the derivations: read this one;
* ``fast``      — numba-parallel kernels (:mod:`.conv_numba`, :mod:`.pooling_numba`,
  :mod:`.normalization_numba`): run this one.

Layers call :func:`active` at every forward/backward, so ``minidl.config.use_kernels("reference")``
switches all of them at once. The fast family is imported (and numba loaded) on first use.

Functions of each family
    ``conv2d_forward(x, w, b, strides, pads, relu=False)``, ``conv2d_backward(x, dy, w, strides, pads, need_dx)``,
    ``conv2d_backward_weights``, ``conv2d_backward_input``, ``bias_act_forward``, ``relu_backward``,
    ``max_pool2d_forward/backward``, ``avg_pool2d_forward/backward``,
    ``batchnorm_stats``, ``batchnorm_apply``, ``batchnorm_backward_sums``, ``batchnorm_backward_input``.
"""

from __future__ import annotations

import types

from .. import config
from . import reference
from .reference import output_length, padding_amounts, same_padding

_FAMILIES: dict[str, types.SimpleNamespace] = {}

_NAMES = ("conv2d_forward", "conv2d_backward", "conv2d_backward_weights", "conv2d_backward_input",
          "bias_act_forward", "relu_backward", "max_pool2d_forward", "max_pool2d_backward",
          "avg_pool2d_forward", "avg_pool2d_backward", "batchnorm_stats", "batchnorm_apply",
          "batchnorm_backward_sums", "batchnorm_backward_input")


def _reference_conv2d_backward(x, dy, w, strides, pads, need_dx=True):
    dW = reference.conv2d_backward_weights(x, dy, w.shape, strides, pads)
    dx = reference.conv2d_backward_input(dy, w, x.shape, strides, pads) if need_dx else None
    return dW, dx


def family(name: str) -> types.SimpleNamespace:
    """The kernel family ``name`` (``"reference"`` or ``"fast"``) as a namespace of functions."""
    if name not in _FAMILIES:
        if name == "reference":
            ns = {n: getattr(reference, n) for n in _NAMES if hasattr(reference, n)}
            ns["conv2d_backward"] = _reference_conv2d_backward
        elif name == "fast":
            from . import conv_numba, normalization_numba, pooling_numba
            ns = {}
            for mod in (conv_numba, pooling_numba, normalization_numba):
                ns.update({n: getattr(mod, n) for n in _NAMES if hasattr(mod, n)})
        else:
            raise ValueError(f"kernel family must be 'reference' or 'fast'; got {name!r}")
        missing = set(_NAMES) - set(ns)
        assert not missing, f"kernel family {name!r} lacks {sorted(missing)}"
        _FAMILIES[name] = types.SimpleNamespace(name=name, **ns)
    return _FAMILIES[name]


def active() -> types.SimpleNamespace:
    """The family selected by :func:`minidl.config.kernels` right now."""
    return family(config.kernels())


__all__ = ["family", "active", "reference", "output_length", "padding_amounts", "same_padding"]
