"""The OpenBLAS libraries loaded in this process, reached with ctypes (part of the fast family's plumbing).

NumPy's wheels bundle OpenBLAS (``scipy_openblas``); other packages may load their own copies. These helpers
find every loaded copy (Linux: ``/proc/self/maps``) and call its entry points: ``openblas_set_num_threads``
for :mod:`.blas`, ``openblas_get_corename`` (the kernel set OpenBLAS chose for this CPU, or that
``OPENBLAS_CORETYPE`` forced) for :mod:`.gemm_numba`.
"""

from __future__ import annotations

import ctypes
import functools

#: OpenBLAS kernel sets written with AVX-512 instructions (``openblas_get_corename()``, lower case)
AVX512_CORES = frozenset({"skylakex", "cooperlake", "sapphirerapids"})


def libraries():
    """Paths of OpenBLAS shared libraries loaded in this process (Linux: /proc/self/maps)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line}
    except OSError:
        return []
    return sorted(paths)


def _entry(lib, name: str):
    """``lib``'s entry point ``[scipy_]openblas_<name>[64_]`` (NumPy's wheels prefix and suffix them), or None."""
    for symbol in (f"scipy_openblas_{name}64_", f"scipy_openblas_{name}", f"openblas_{name}64_", f"openblas_{name}"):
        fn = getattr(lib, symbol, None)
        if fn is not None:
            return fn
    return None


@functools.lru_cache(maxsize=None)
def functions(name: str) -> tuple:
    """ctypes entry points ``openblas_<name>``, one per loaded OpenBLAS that has it (looked up once)."""
    found = (_entry(ctypes.CDLL(path), name) for path in libraries())
    return tuple(fn for fn in found if fn is not None)


def call(name: str, *args):
    """Call ``openblas_<name>`` in every loaded OpenBLAS; return the last result (None if there is none)."""
    result = None
    for fn in functions(name):
        result = fn(*args)
    return result


@functools.lru_cache(maxsize=None)
def numpy_core() -> str | None:
    """The kernel set of the OpenBLAS that NumPy's products run on (``"SkylakeX"``, ``"Haswell"``, …): the one
    loaded from NumPy's own folder if there is one, else the first loaded; None without OpenBLAS (e.g. MKL)."""
    import numpy  # noqa: F401  (loads NumPy's BLAS)
    paths = libraries()
    for path in [p for p in paths if "numpy" in p.lower()] or paths:
        fn = _entry(ctypes.CDLL(path), "get_corename")
        if fn is not None:
            fn.restype = ctypes.c_char_p
            name = fn()
            return name.decode() if name else None
    return None


def numpy_core_has_avx512() -> bool:
    """True when NumPy's OpenBLAS runs one of its AVX-512 kernel sets (:data:`AVX512_CORES`)."""
    core = numpy_core()
    return core is not None and core.lower() in AVX512_CORES


__all__ = ["AVX512_CORES", "libraries", "functions", "call", "numpy_core", "numpy_core_has_avx512"]
