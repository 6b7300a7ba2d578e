"""The OpenBLAS libraries loaded in this process, reached with ctypes (part of the fast family's plumbing).

NumPy's wheels bundle OpenBLAS (``scipy_openblas``); other packages may load their own copies. These helpers
find every loaded copy (Linux: ``/proc/self/maps``) and call its entry points: ``openblas_set_num_threads``
for :mod:`.blas`, ``openblas_get_corename`` (the kernel set OpenBLAS chose for this CPU, or that
``OPENBLAS_CORETYPE`` forced) for :mod:`.gemm_numba`, and NumPy's own ``cblas_sgemm``
(:func:`numpy_sgemm`), which numba code can call without going back to Python (:func:`.gemm_numba.blas_gemm`).
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


def _numpy_libraries():
    """The loaded OpenBLAS libraries, NumPy's own first (those loaded from NumPy's folder), as ctypes handles."""
    import numpy  # noqa: F401  (loads NumPy's BLAS)
    paths = libraries()
    return [ctypes.CDLL(path) for path in [p for p in paths if "numpy" in p.lower()] or paths]


@functools.lru_cache(maxsize=None)
def numpy_core() -> str | None:
    """The kernel set of the OpenBLAS that NumPy's products run on (``"SkylakeX"``, ``"Haswell"``, …): the one
    loaded from NumPy's own folder if there is one, else the first loaded; None without OpenBLAS (e.g. MKL)."""
    for lib in _numpy_libraries():
        fn = _entry(lib, "get_corename")
        if fn is not None:
            fn.restype = ctypes.c_char_p
            name = fn()
            return name.decode() if name else None
    return None


#: CBLAS's enumerations (``cblas.h``): row-major storage, and ``op(A) = A`` or ``Aᵀ``
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112


def _sgemm_argtypes(index):
    """``cblas_sgemm(order, transA, transB, M, N, K, α, A, lda, B, ldb, β, C, ldc)``'s argument types, with
    ``index`` the library's integer type (64 bits in NumPy's ILP64 wheels, 32 in most system builds)."""
    return [ctypes.c_int, ctypes.c_int, ctypes.c_int, index, index, index, ctypes.c_float, ctypes.c_void_p,
            index, ctypes.c_void_p, index, ctypes.c_float, ctypes.c_void_p, index]


@functools.lru_cache(maxsize=None)
def numpy_sgemm():
    """``cblas_sgemm`` of the OpenBLAS NumPy's products run on, as a ctypes function with its argument types
    declared, or None (no OpenBLAS loaded, or none with CBLAS).

    NumPy's wheels name it ``scipy_cblas_sgemm64_`` (64-bit integers); a system OpenBLAS ``cblas_sgemm``. numba
    code receives it as an argument (its type is then an ``ExternalFunctionPointer``: the compiled function
    stays cacheable, since the address is read at each call, not written into the code) and calls it with the
    GIL released: :func:`.gemm_numba.blas_gemm`. The same function that ``np.dot`` calls, so the same numbers."""
    for lib in _numpy_libraries():
        for symbol, index in (("scipy_cblas_sgemm64_", ctypes.c_int64), ("cblas_sgemm64_", ctypes.c_int64),
                              ("scipy_cblas_sgemm", ctypes.c_int32), ("cblas_sgemm", ctypes.c_int32)):
            fn = getattr(lib, symbol, None)
            if fn is not None:
                fn.argtypes, fn.restype = _sgemm_argtypes(index), None
                return fn
    return None


def numpy_core_has_avx512() -> bool:
    """True when NumPy's OpenBLAS runs one of its AVX-512 kernel sets (:data:`AVX512_CORES`)."""
    core = numpy_core()
    return core is not None and core.lower() in AVX512_CORES


__all__ = ["AVX512_CORES", "ROW_MAJOR", "NO_TRANS", "TRANS", "libraries", "functions", "call", "numpy_core",
           "numpy_core_has_avx512", "numpy_sgemm"]
