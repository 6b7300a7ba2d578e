"""Compute kernels behind the convolution, pooling and normalisation layers.

Two families, two modules with the same functions and results (``tests/minidl/test_kernels.py``):

* ``reference`` — :mod:`minidl.kernels.reference`, clear NumPy with the derivations: read this one;
* ``fast``      — :mod:`minidl.kernels.fast`, numba kernels run in parallel (:mod:`.conv_numba`,
  :mod:`.winograd_numba`, :mod:`.pooling_numba`, :mod:`.normalization_numba`): run this one.

What each function takes, returns and means is written once, in the contract both follow:
:class:`minidl.kernels.contract.KernelFamily`. Window geometry (padding amounts, output sizes) is
:mod:`minidl.kernels.geometry`.

Layers call :func:`active` at every forward/backward, so ``minidl.config.use_kernels("reference")``
switches all of them at once. The fast family is imported (and numba loaded) on first use.
"""

from __future__ import annotations

from .. import config
from . import reference
from .contract import KernelFamily
from .geometry import output_length, padding_amounts, same_padding

_LOADED: dict[str, KernelFamily] = {"reference": reference}


def family(name: str) -> KernelFamily:
    """The kernel family ``name``, ``"reference"`` or ``"fast"``: the module :mod:`minidl.kernels.<name>`."""
    module = _LOADED.get(name)
    if module is None:
        if name != "fast":
            raise ValueError(f"kernel family must be 'reference' or 'fast'; got {name!r}")
        from . import fast   # loads numba: only when first asked for
        module = _LOADED[name] = fast
    return module


def active() -> KernelFamily:
    """The family selected by :func:`minidl.config.kernels` right now."""
    return family(config.kernels())


__all__ = ["KernelFamily", "family", "active", "reference", "output_length", "padding_amounts", "same_padding"]
