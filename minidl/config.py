"""Global settings: default float type and which kernel family the layers use.

Kernel families
---------------
``"reference"``  plain NumPy loops (``minidl/kernels/reference.py``): the version to read.
``"fast"``       numba-jitted kernels (``minidl/kernels/fast.py``, gathering ``*_numba.py``): the version to run.

Both are modules implementing one contract, ``minidl/kernels/contract.py``.

Both compute the same numbers (``tests/minidl/test_kernels.py`` proves it), so switching is only a
matter of speed. Select with :func:`set_kernels` or the environment variable ``MINIDL_KERNELS``; use
:func:`use_kernels` as a context manager in tests and lessons.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

_FLOATX = np.float32
_KERNELS = os.environ.get("MINIDL_KERNELS", "fast")
_VALID_KERNELS = ("reference", "fast")

if _KERNELS not in _VALID_KERNELS:
    raise ValueError(f"MINIDL_KERNELS must be one of {_VALID_KERNELS}; got {_KERNELS!r}")


def floatx():
    """The default floating-point dtype for new weights (float32, as Keras)."""
    return _FLOATX


def set_floatx(dtype) -> None:
    """Set the default dtype for new weights: ``"float32"`` or ``"float64"``."""
    global _FLOATX
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"set_floatx expected 'float32' or 'float64'; got {dtype!r}")
    _FLOATX = dt.type


def kernels() -> str:
    """Name of the active kernel family: ``"reference"`` or ``"fast"``."""
    return _KERNELS


def set_kernels(name: str) -> None:
    """Select the kernel family used by convolution and pooling layers."""
    global _KERNELS
    if name not in _VALID_KERNELS:
        raise ValueError(f"set_kernels expected one of {_VALID_KERNELS}; got {name!r}")
    _KERNELS = name


@contextlib.contextmanager
def use_kernels(name: str):
    """Temporarily select a kernel family: ``with use_kernels("reference"): ...``."""
    previous = kernels()
    set_kernels(name)
    try:
        yield
    finally:
        set_kernels(previous)
