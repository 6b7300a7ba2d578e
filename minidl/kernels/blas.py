"""BLAS plumbing of the fast kernel family: matrix products that stay fast on a busy 2-core machine.

Not needed to understand a network — the reference family writes every product as a plain ``@``
(:mod:`minidl.kernels.reference`). The fast family (:mod:`minidl.kernels.fast`, :mod:`.conv_numba`,
:mod:`.winograd_numba`) calls the helpers below instead; user-facing thread control (``set_num_threads``,
``limit_threads``, ``thread_info``) is :mod:`minidl.threads`.

The BLAS is reached through ``threadpoolctl`` when installed (the ``bench`` extra), otherwise through the
OpenBLAS entry points (``openblas_set_num_threads`` …) found with ctypes in the shared libraries already
loaded by NumPy (Linux: ``/proc/self/maps``).

Matrix products on several threads, and why they need care
---------------------------------------------------------
Multi-threaded OpenBLAS synchronises its threads once per block of a product's inner dimension; on a busy
machine each synchronisation may wait a scheduler time slice for a descheduled partner (measured: 1.7 s
instead of 22 ms for benchmark R0's Dense layer, ``(64 × 68,992)·(68,992 × 64)``, with 2 threads under
load). And products with a small output but a very long inner dimension — weight gradients, a sum over
every position — run 2.5× slower than other products of the same size even on one thread. Four helpers:

* ``parallel_dots(products)``: independent products side by side (e.g. the ``α`` products of a Winograd
  convolution), one single-threaded BLAS call per Python thread at a time — threads meet only at the end;
* ``reduction_dot(a, b)``: a weight gradient ``aᵀ·b`` summed over short row blocks, each thread summing
  its own range of rows (the fast family's ``weight_gradient``);
* ``run_tasks(tasks)``: independent tasks (e.g. one sample each of a cache-blocked convolution,
  :mod:`.conv_blocked`) on the same threads, each with a single-threaded BLAS;
* ``matmul(a, b)``: ``a @ b``, through ``reduction_dot`` when the inner dimension is long and several
  threads are configured (the fast family's ``matmul``, used by the Dense layer), and cut in row blocks
  over the threads (``parallel_dots``) when it is large and the BLAS runs on one thread.

During a training step or an inference batch the BLAS runs on one thread
------------------------------------------------------------------------
``single_threaded_blas()`` (entered by the models around each ``train_on_batch`` / ``fit`` step and each
``predict`` / ``evaluate`` batch): OpenBLAS set to one thread inside, restored after. The heavy products of
a step already run on minidl's own threads (the helpers above, one single-threaded BLAS call each); what
was left multi-threaded — e.g. a Dense layer's ``dz·Wᵀ`` — woke OpenBLAS's worker threads, which then wait
for more work *spinning* on a core while numba's threads and the task threads need both cores for the next
kernels. Measured, quiet 2-core machine, alternating in one process: an R0 ``train_on_batch`` step
190.5 → 149.6 ms, R1 135.1 → 105.7 ms with OpenBLAS kept on one thread (``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import functools
import threading

import numpy as np

from . import gemm_numba, workspace
from .openblas import call as _openblas_call
from .openblas import functions as _openblas_functions


def _openblas_setters():
    """ctypes ``set_num_threads`` entry points of the loaded OpenBLAS libraries."""
    return _openblas_functions("set_num_threads")


def _openblas_threads() -> int | None:
    """OpenBLAS's current thread count (microseconds per call, unlike threadpoolctl's inspection)."""
    getters = _openblas_functions("get_num_threads")
    return getters[0]() if getters else None


_POOLS: dict[int, concurrent.futures.ThreadPoolExecutor] = {}


def _pool(n: int) -> concurrent.futures.ThreadPoolExecutor:
    """A process-wide pool of exactly ``n`` worker threads (made once per size)."""
    if n not in _POOLS:
        _POOLS[n] = concurrent.futures.ThreadPoolExecutor(max_workers=n, thread_name_prefix=f"minidl-blas{n}")
    return _POOLS[n]


def _run_with_single_threaded_blas(tasks, n):
    """Run the callables ``tasks`` on ``n`` pool threads while the BLAS uses one thread each (restored).

    Each of the ``n`` workers takes the next task from one shared list until none is left: a worker slowed
    down by another process on its core simply takes fewer of them. The pool runs ``n`` jobs, not one job per
    task: with a job (a future) per task, each one woke the waiting main thread, which then competed for the
    GIL with the workers. Measured (2 threads, alternating in one process): R1's first Conv1D forward,
    128 tasks of one sample each, 24.1 → 21.0 ms; its second 6.0 → 4.0 ms. After a task raises, the workers
    take no new task; every worker is waited for, then the first error is raised. When the caller is
    interrupted while it waits (Ctrl-C in a notebook), the workers likewise take no new task: they finish the
    ones they hold, and the interruption reaches the caller at once."""
    setters = _openblas_setters()
    pool = _pool(n)
    before = _openblas_threads() or n
    lock = threading.Lock()
    todo = iter(tasks)
    failed = threading.Event()

    def worker():
        while not failed.is_set():
            with lock:
                task = next(todo, None)
            if task is None:
                return
            try:
                task()
            except BaseException:
                failed.set()
                raise

    for fn in setters:
        fn(1)
    try:
        jobs = [pool.submit(worker) for _ in range(n)]
        try:
            concurrent.futures.wait(jobs)
        except BaseException:   # e.g. KeyboardInterrupt in the waiting thread
            failed.set()
            raise
        for job in jobs:
            job.result()
    finally:
        for fn in setters:
            fn(before)


def parallel_dots(products, n_threads: int | None = None):
    """Compute independent matrix products ``np.dot(a, b, out=out)`` for each ``(a, b, out)`` in
    ``products``, spread over ``n_threads`` Python threads, each calling a *single-threaded* BLAS
    (restored after). The threads wait for each other only once, at the end; give more products than
    threads (e.g. each cut in row blocks) so that the work balances.

    Falls back to one ``np.dot`` after another (with the BLAS's own threads) when there is one thread,
    one product, or no OpenBLAS whose thread count we can set.
    """
    import numba
    products = list(products)
    n = min(n_threads or numba.get_num_threads(), len(products))
    if n < 2 or not _openblas_setters():
        for a, b, out in products:
            np.dot(a, b, out=out)
        return
    _run_with_single_threaded_blas([functools.partial(np.dot, a, b, out=out) for a, b, out in products], n)


def _in_pool_thread() -> bool:
    """True in a worker thread of the shared pools (:func:`_pool`)."""
    return threading.current_thread().name.startswith("minidl-blas")


def run_tasks(tasks, n_threads: int | None = None):
    """Run the callables ``tasks`` (each doing its own BLAS calls and GIL-free numba loops) on ``n_threads``
    Python threads taking them from one queue, always with a single-threaded BLAS (restored after) — also
    for a single task, so that each task's products are the same calls, hence the same bits, however many
    tasks there are. One after another when there is one thread, no OpenBLAS thread control, or when called
    from inside a task (nested: the pool's threads are busy with the outer tasks)."""
    import numba
    tasks = list(tasks)
    n = min(n_threads or numba.get_num_threads(), len(tasks))
    if not _openblas_setters() or _in_pool_thread():   # inside a task: never wait on the pool it runs in
        for task in tasks:
            task()
        return
    _run_with_single_threaded_blas(tasks, max(n, 1))


#: arrays with fewer elements than this run on one thread in :func:`run_row_blocks` (``serial=small(size)``):
#: starting and synchronising the threads costs more than their whole computation (measured with 2 threads on a
#: busy 2-core machine: 550 µs vs 95 µs for the four batch-norm passes on 32 × 32)
SERIAL_BELOW = 1 << 16


def small(size: int) -> bool:
    """True for arrays small enough to run on one thread (:data:`SERIAL_BELOW` elements)."""
    return size < SERIAL_BELOW


#: contiguous row blocks per thread in :func:`run_row_blocks` (taken from one queue: a thread slowed down by
#: another process takes fewer)
ROW_BLOCKS_PER_THREAD = 4


def run_row_blocks(kernel, rows: int, *args, serial: bool = False):
    """``kernel(*args, r0, r1)`` for contiguous ranges ``[r0, r1)`` that cover ``range(rows)``, in parallel on the
    shared task runner (:func:`run_tasks`); ``kernel`` is a GIL-free (``nogil``) numba function whose rows are
    independent. One call over every row when ``serial`` (small arrays: starting the threads costs more than
    the work), with one thread, or from inside a task already (no nested waiting on the same pool).

    Why not a numba ``prange`` loop: numba compiles a parallel loop together with every function it calls,
    each such kernel again, at 1.5–3 s more per kernel than the same loop compiled as a plain function
    (measured: the average pooling's forward loop 3.6 s against 1.4 s; R0's first weight-gradient loop 16.6 s
    against 5.6 s) — the cost of every first training step on an empty numba cache, i.e. of a learner's first
    run."""
    import numba
    if serial or rows < 2 or _in_pool_thread() or (n := numba.get_num_threads()) < 2:   # (≈ 4 µs to ask numba)
        kernel(*args, 0, rows)
        return
    step = -(-rows // min(rows, ROW_BLOCKS_PER_THREAD * n))
    run_tasks([functools.partial(kernel, *args, r0, min(rows, r0 + step)) for r0 in range(0, rows, step)], n)


#: how deep this thread is inside :func:`single_threaded_blas` (``depth``)
_SINGLE = threading.local()

#: rows per BLAS call in :func:`reduction_dot`
REDUCTION_BLOCK = 384


def reduction_dot(a, b, out=None, n_threads: int | None = None):
    """``out = aᵀ · b`` for tall ``a`` ``(R, M)`` and ``b`` ``(R, N)``, ``R ≫ M, N``: a weight gradient, the sum
    over every position of (input ⊗ output error).

    Computed as a sum of products over blocks of ``REDUCTION_BLOCK`` rows, each thread summing its own
    range of rows. Why: on a busy machine OpenBLAS's sgemm ran such a product at 11–13 GFLOP/s per core
    when the inner dimension ``R`` was 10,000 and at 27–31 GFLOP/s for ``R`` ≤ 384; with 2 threads the long
    product can stall outright (0.3 GFLOP/s). Cutting ``R`` costs one extra addition of an ``M × N`` block
    per block; a whole R1 training step ran 1.34× faster on one thread, 2.7× on two
    (``benchmarks/RESULTS.md``).
    """
    import numba
    R, M = a.shape
    N = b.shape[1]
    dtype = np.result_type(a, b)
    if out is None:
        out = np.empty((M, N), dtype=dtype)
    n_blocks = -(-R // REDUCTION_BLOCK)
    threads = n_threads or numba.get_num_threads()
    n = max(1, min(threads, n_blocks))
    if n_blocks <= 1:
        # a short sum: one product, but a large one (a wide output, e.g. benchmark R0's Dense dW, 64 rows of
        # 68,992 inputs) cut in blocks of output rows over the threads: 5.3 → 4.5 ms on 2 threads; by our
        # product where it applies (a Dense layer after Flatten with 64k units): 4.7 → 2.3–2.8 ms there
        if threads > 1 and M >= LONG_INNER and gemm_numba.computes(a.dtype, b) and out.strides[1] == out.itemsize:
            rows = [(i, min(i + LONG_OUTPUT_ROWS, M)) for i in range(0, M, LONG_OUTPUT_ROWS)]
            run_tasks([functools.partial(_gemm_rows, a, b, out, i, j) for i, j in rows], threads)
            return out
        if threads > 1 and M >= 8 * threads and 2 * R * M * N >= PARALLEL_FLOPS:
            edges = np.linspace(0, M, 4 * threads + 1).astype(int)
            parallel_dots([(a[:, i:j].T, b, out[i:j]) for i, j in zip(edges[:-1], edges[1:])], threads)
            return out
        return np.dot(a.T, b, out=out)
    edges = np.linspace(0, R, n + 1).astype(int)
    parts = np.zeros((n, M, N), dtype=dtype)

    def accumulate(k):
        block = np.empty((M, N), dtype=dtype)
        for i in range(edges[k], edges[k + 1], REDUCTION_BLOCK):
            j = min(i + REDUCTION_BLOCK, edges[k + 1])
            np.dot(a[i:j].T, b[i:j], out=block)
            parts[k] += block

    if n < 2 or not _openblas_setters():
        for k in range(n):
            accumulate(k)
    else:
        _run_with_single_threaded_blas([functools.partial(accumulate, k) for k in range(n)], n)
    return np.sum(parts, axis=0, out=out)


#: inner dimension from which :func:`matmul` sums over blocks when several threads are configured
LONG_INNER = 4096

#: rows of ``b`` per task of :func:`_long_product`: each task sums its rows into its own partial and the partials
#: are added in order, so the bits do not depend on the thread count
LONG_GROUP = 1024

#: rows of ``b`` per chunk inside a task of :func:`_long_product` (64 units: 128 KB, in a core's L2 cache while
#: every row block of ``a`` uses it)
LONG_CHUNK = 512

#: output rows per task where :func:`reduction_dot` computes a short sum with a wide output by our product
LONG_OUTPUT_ROWS = 1024


def _gemm_rows(a, b, out, i, j):
    """``out[i:j] = a[:, i:j]ᵀ · b`` by :func:`.gemm_numba.gemm` (a task of :func:`reduction_dot`)."""
    gemm_numba.gemm(a[:, i:j].T, b, out[i:j], False)


#: rows of ``b`` per task of :func:`_long_product` where the BLAS computes each group's product
LONG_BLAS_GROUP = 2048


def _long_product(a, b):
    """``a @ b`` for a long inner dimension: the inner dimension in fixed groups, one task each, each into its own
    partial, the partials added in order — so the bits do not depend on the thread count. Each group's product by
    our product (:func:`.gemm_numba.gemm_long`, groups of :data:`LONG_GROUP`) where it applies, else by the BLAS on
    one thread (groups of :data:`LONG_BLAS_GROUP`).

    Measured, 2 threads, alternating in one process: benchmark R0's Dense forward, ``(64 × 68,992)·(68,992 × 64)``
    by our product, 1.9–2.4 ms against 4.6 ms for :func:`reduction_dot`'s BLAS calls on blocks of 384 rows (R0's
    ``predict`` 4–11 % faster); R1's, ``(128 × 15,936)·(15,936 × 32)``, by the BLAS groups, 1.25 ms against 1.97
    (the one-thread BLAS product: 1.34). Each element sums at most a group's terms in a row: with standard-normal
    ``a`` and ``b`` (outputs of about ±260), a float32 error of 5.5e-4 against 3.8e-4 for the BLAS blocks."""
    K = a.shape[1]
    ours = gemm_numba.computes(a.dtype, b)
    size = LONG_GROUP if ours else LONG_BLAS_GROUP
    groups = [(k, min(k + size, K)) for k in range(0, K, size)]
    parts = workspace.empty((len(groups), a.shape[0], b.shape[1]), np.result_type(a, b))   # reused across batches
    if ours:
        tasks = [functools.partial(gemm_numba.gemm_long, a[:, k0:k1], b[k0:k1], parts[g], False, LONG_CHUNK)
                 for g, (k0, k1) in enumerate(groups)]
    else:
        tasks = [functools.partial(np.dot, a[:, k0:k1], b[k0:k1], out=parts[g]) for g, (k0, k1) in enumerate(groups)]
    run_tasks(tasks)
    out = parts[0].copy()
    for part in parts[1:]:   # in order
        out += part
    return out

#: shortest row block :func:`matmul` cuts a product into when it can choose (each block packs ``b`` again)
MIN_BLOCK_ROWS = 64

#: multiply-adds × 2 from which :func:`matmul`, the BLAS on one thread, cuts a product in row blocks over the
#: threads (below it, starting the threads costs more than it saves)
PARALLEL_FLOPS = 2e7


def matmul(a, b):
    """``a @ b`` for a 2-D ``a``; with a long inner dimension (≥ ``LONG_INNER``, e.g. a Dense layer after
    Flatten) and several threads, computed in fixed groups of the inner dimension side by side
    (:func:`_long_product`).

    Why: multi-threaded OpenBLAS synchronises its threads once per block of the inner dimension, and on a
    busy machine each synchronisation may wait a scheduler time slice for a descheduled partner — measured
    1.7 s instead of 22 ms for ``(64 × 68,992) · (68,992 × 64)`` (benchmark R0's Dense layer) with 2 threads
    under load; a blocked sum took 40 ms.

    Inside :func:`single_threaded_blas` (a model's training step or inference batch), a large product is cut
    in row blocks computed side by side on minidl's threads (:func:`parallel_dots`); outside it the BLAS
    uses its own threads.
    """
    if a.ndim != 2 or b.ndim != 2:
        return a @ b
    rows, long_inner = a.shape[0], a.shape[1] >= LONG_INNER
    if not long_inner and (not getattr(_SINGLE, "depth", 0) or rows < 2
                           or 2 * rows * a.shape[1] * b.shape[1] < PARALLEL_FLOPS):
        # outside a model's passes the BLAS has its own threads (or the product is small) — decided before
        # asking numba for its thread count, which costs ≈ 4 µs a call (a small Dense layer's whole product)
        return a @ b
    import numba
    n = numba.get_num_threads()
    if n < 2:
        return a @ b
    if long_inner:
        return _long_product(a, b)
    # the BLAS on one thread (single_threaded_blas): row blocks side by side on every thread — two per thread
    # for balance, but one when blocks would be short: each block's product packs all of b again (measured on
    # benchmark R0's Dense dz·Wᵀ, (64 × 64)·(64 × 68,992), 2 threads: 4 blocks 7.2 ms, 2 blocks 4.5 ms)
    out = np.empty((rows, b.shape[1]), dtype=np.result_type(a, b))
    if rows < 2 * n * MIN_BLOCK_ROWS and b.shape[1] >= 2 * n * MIN_BLOCK_ROWS:
        # few rows and a wide output (that dz·Wᵀ of a Dense layer after Flatten): blocks of columns instead, each
        # reading only its part of b — the same products per element, so the same bits; 6.4 → 4.8 ms there
        edges = np.linspace(0, b.shape[1], 2 * n + 1).astype(int)
        run_tasks([functools.partial(np.matmul, a, b[:, i:j], out=out[:, i:j]) for i, j in zip(edges[:-1], edges[1:])],
                  n)
        return out
    edges = np.linspace(0, rows, min(rows, 2 * n if rows >= 2 * n * MIN_BLOCK_ROWS else n) + 1).astype(int)
    parallel_dots([(a[i:j], b, out[i:j]) for i, j in zip(edges[:-1], edges[1:])], n)
    return out


@contextlib.contextmanager
def single_threaded_blas():
    """``with single_threaded_blas(): ...`` — OpenBLAS on one thread inside (re-entrant), its thread count
    restored on leaving the outermost one; see the module docstring. Does nothing without OpenBLAS thread
    control or when numba has one thread."""
    import numba
    depth = getattr(_SINGLE, "depth", 0)
    setters = _openblas_setters() if depth == 0 and numba.get_num_threads() > 1 else ()
    before = _openblas_threads() if setters else None
    if before is not None and before > 1:
        for fn in setters:
            fn(1)
    else:
        before = None
    _SINGLE.depth = depth + 1
    try:
        yield
    finally:
        _SINGLE.depth = depth
        if before is not None:
            for fn in setters:
                fn(before)


def blas_threads() -> int | None:
    """Threads of the BLAS now (None if neither threadpoolctl nor an OpenBLAS entry point is found)."""
    try:
        import threadpoolctl
        infos = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
        return infos[0]["num_threads"] if infos else None
    except ImportError:
        return _openblas_call("get_num_threads")


def set_blas_threads(n: int) -> None:
    """Let the BLAS use ``n`` threads."""
    try:
        import threadpoolctl
        threadpoolctl.threadpool_limits(limits=n, user_api="blas")
    except ImportError:
        _openblas_call("set_num_threads", ctypes.c_int(n))
