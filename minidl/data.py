"""Batch sources: where ``fit`` / ``evaluate`` / ``predict`` read their mini-batches from.

A model can learn from three kinds of input (Keras 3 accepts the same):

* **arrays** ``x, y`` (and ``sample_weight``) held in memory — cut into ``batch_size`` batches, in a new
  random order each epoch when ``shuffle=True`` (:class:`ArraySource` does exactly this);
* a **PyDataset-style object** — anything with ``len(source)`` = batches per epoch and
  ``source[i]`` → ``(x, y)`` or ``(x, y, sample_weight)``, and optionally ``on_epoch_begin()`` /
  ``on_epoch_end()`` (called around each full pass). ``keras.utils.PyDataset`` subclasses work unchanged;
  :class:`PyDataset` here is the same base class. ``fit(shuffle=True)`` shuffles the *order of the batches*;
* a **generator** (any iterator) of such tuples — consumed once, across epochs: give ``steps_per_epoch``
  to cut it into epochs. :func:`from_batches` turns a function returning a fresh iterable (e.g.
  ``lambda: dataset.batches(32)``) into a source that starts again at every epoch.

Data from disk is slow to read, so for sources (not for arrays) a **background thread prefetches**: while
the model trains on batch ``k``, the thread reads and checks batch ``k + 1`` (up to ``max_queue_size``
batches ahead, 2 by default) — see :class:`Prefetcher`. Reading is NumPy/zarr/file work that releases the
GIL, so it overlaps compute. An error raised while reading is re-raised in the training loop with the
reader's traceback; stopping early or Ctrl-C stops the thread cleanly.

The batches themselves and their order are exactly what the source gives, so training from a source that
yields the same batches as the array path gives bit-identical weights.
"""

from __future__ import annotations

import math
import queue
import threading
import warnings

import numpy as np

from .kernels import workspace

DEFAULT_PREFETCH = 2  # batches read ahead when the source does not say (``max_queue_size``)


class PyDataset:
    """Base class for batch sources, with the names of ``keras.utils.PyDataset``.

    Subclass it and define ``__len__`` (batches per epoch) and ``__getitem__(i)`` returning
    ``(x, y)`` or ``(x, y, sample_weight)``; optionally ``on_epoch_begin()`` / ``on_epoch_end()``
    (e.g. to reshuffle). ``max_queue_size`` is how many batches the prefetch thread may read ahead
    (0: no thread, batches are read in the training loop).
    (``workers`` and ``use_multiprocessing`` are accepted for Keras compatibility; minidl reads with
    one background thread.)
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=DEFAULT_PREFETCH):
        self.workers, self.use_multiprocessing = workers, use_multiprocessing
        self.max_queue_size = int(max_queue_size)

    def __len__(self):
        raise NotImplementedError

    def __getitem__(self, index):
        raise NotImplementedError

    @property
    def num_batches(self):
        return len(self)

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass


def num_samples(x) -> int:
    """Samples in ``x``: an array, or a list of arrays (one per input of a multi-input model)."""
    return len(x[0]) if isinstance(x, (list, tuple)) else len(x)


def take(x, index):
    """Samples ``index`` (a slice or an index array) of an array or of each array of a list."""
    return [a[index] for a in x] if isinstance(x, (list, tuple)) else x[index]


def _gather(a, order):
    """``a[order]`` for in-range sample indices ``order`` (a shuffled batch), into a recycled buffer.

    A shuffled batch is a copy; a large one (R1: 128 × 1000 × 270 float32, 35 MB) fresh from ``np.empty``
    page-faults on its first write: measured 12 ms per R1 batch, 8 ms when gathered by ``np.take`` into a
    buffer of :func:`minidl.kernels.workspace.empty`, which hands out again only a buffer nobody holds (the
    previous batch, still referenced by the training loop and the layers, is never overwritten).
    ``mode="clip"`` spares ``np.take`` a temporary (``order`` is a permutation: always in range).
    """
    if not isinstance(a, np.ndarray):
        return a[order]
    return np.take(a, order, axis=0, out=workspace.empty((len(order), *a.shape[1:]), a.dtype), mode="clip")


class ArraySource(PyDataset):
    """Arrays as a batch source: batch ``i`` is samples ``order[i·B:(i+1)·B]``.

    ``x`` may be a list of arrays with the same number of samples (a multi-input model); a batch then
    holds the same samples of each.

    With ``shuffle=True`` a new permutation is drawn from ``seed`` (an int or a ``numpy.random.Generator``)
    at the start of every pass. ``fit(x, y, ...)`` uses exactly this, with the model's shuffling generator.
    """

    def __init__(self, x, y=None, sample_weight=None, batch_size=32, shuffle=False, seed=None,
                 max_queue_size=DEFAULT_PREFETCH):
        super().__init__(max_queue_size=max_queue_size)
        if not (isinstance(batch_size, (int, np.integer)) and not isinstance(batch_size, bool) and batch_size > 0):
            raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.batch_size, self.shuffle = int(batch_size), bool(shuffle)
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.order = None

    def __len__(self):
        return math.ceil(num_samples(self.x) / self.batch_size)

    def on_epoch_begin(self):
        if self.shuffle:
            self.order = self.rng.permutation(num_samples(self.x))

    def skip_epochs(self, n):
        """Draw the permutations of ``n`` epochs without using them (resuming at ``initial_epoch``)."""
        for _ in range(n):
            self.on_epoch_begin()

    def __getitem__(self, i):
        if not 0 <= i < len(self):
            raise IndexError(f"batch {i} out of range for {len(self)} batches")
        part = slice(i * self.batch_size, (i + 1) * self.batch_size)
        if self.order is None:
            idx, x = part, take(self.x, part)   # views
        else:
            idx = self.order[part]
            x = [_gather(a, idx) for a in self.x] if isinstance(self.x, (list, tuple)) else _gather(self.x, idx)
        batch = (x,) if self.y is None else (x, self.y[idx])
        return batch if self.sample_weight is None else (*batch, self.sample_weight[idx])


class _Batches:
    """What :func:`from_batches` returns: a fresh iterator from ``make()`` at every pass."""

    def __init__(self, make, steps=None):
        self._make, self._steps = make, steps

    def __iter__(self):
        return iter(self._make() if callable(self._make) else self._make)

    def __len__(self):
        if self._steps is None:
            raise TypeError("this source does not know its number of batches")
        return self._steps


def from_batches(batches, steps=None):
    """A source that starts a new pass at every epoch.

    ``batches`` is a function returning an iterable of ``(x, y[, sample_weight])`` tuples (called once per
    pass, e.g. ``lambda: dataset.batches(32, indices=train, seed=epoch_seed)``) or a re-iterable such as a
    list of batches. ``steps`` (batches per pass), if known, sizes the progress bar.
    """
    return _Batches(batches, steps)


# ---------------------------------------------------------------- kinds of input
def is_source(x) -> bool:
    """True for a PyDataset-style object, a generator/iterator or :func:`from_batches`; False for arrays."""
    if x is None or isinstance(x, (np.ndarray, list, tuple, dict, str, bytes)) or np.isscalar(x):
        return False
    if hasattr(x, "__array__") or hasattr(x, "__array_interface__"):
        return False  # array-like (e.g. a memory-mapped or foreign array): read as arrays
    return (hasattr(x, "__getitem__") and hasattr(x, "__len__")) or hasattr(x, "__iter__") or hasattr(x, "__next__")


def _num_batches(source):
    n = getattr(source, "num_batches", None)
    if n is None:
        try:
            n = len(source)
        except TypeError:
            return None
    return None if n is None else int(n)


def class_weights_to_sample_weights(y, class_weight, dtype=np.float32):
    """Keras's rule: the weight of a sample is ``class_weight[its class]`` (1 for a class not listed).

    The class of a one-hot row is its argmax; integer labels may be ``(N,)`` or ``(N, 1)``.
    """
    y = np.asarray(y)
    if y.ndim > 1:
        y = y.argmax(axis=-1) if y.shape[-1] != 1 else y[..., 0]
    classes = np.round(y).astype(np.int64).reshape(len(y))
    return np.array([class_weight.get(int(c), 1.0) for c in classes], dtype=dtype)


def check_class_weight(class_weight):
    if class_weight is None:
        return None
    if not isinstance(class_weight, dict):
        raise ValueError(f"class_weight must be a dict {{class index: weight}}; got {type(class_weight).__name__}")
    for k, v in class_weight.items():
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise ValueError(f"class_weight keys must be integer class indices; got {k!r}")
        if not (isinstance(v, (int, float, np.number)) and math.isfinite(v) and v >= 0):
            raise ValueError(f"class_weight[{k}] must be a finite number >= 0; got {v!r}")
    return class_weight


def split_batch(batch, where="a batch"):
    """``(x, y, sample_weight)`` from a source's item: ``(x,)``, ``(x, y)``, ``(x, y, w)`` or a bare ``x``."""
    if isinstance(batch, np.ndarray):
        return batch, None, None
    if not isinstance(batch, (tuple, list)) or not 1 <= len(batch) <= 3:
        raise ValueError(f"{where} must be a tuple (x,), (x, y) or (x, y, sample_weight); "
                         f"got {type(batch).__name__}" + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else ""))
    x, y, w = (*batch, None, None)[:3]
    return x, y, w


# ---------------------------------------------------------------- prefetch
class Prefetcher:
    """Iterate over ``iterable`` in a background thread, at most ``depth`` items ahead.

    ``for item in Prefetcher(it, 2)`` gives the same items in the same order as ``for item in it``. An
    exception raised by ``it`` is re-raised by the loop (same exception, with the reader's traceback).
    ``close()`` (or leaving a ``with`` block) stops the thread and waits for it; it is safe to call twice.
    """

    def __init__(self, iterable, depth=DEFAULT_PREFETCH, name="minidl-prefetch"):
        self._queue = queue.Queue(maxsize=max(1, int(depth)))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(iterable,), name=name, daemon=True)
        self._thread.start()

    def _put(self, message) -> bool:
        while not self._stop.is_set():  # a bounded wait so that close() is noticed while the queue is full
            try:
                self._queue.put(message, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _read(self, iterable):
        try:
            for item in iterable:
                if not self._put(("item", item)) or self._stop.is_set():
                    return  # closed: read nothing more
            self._put(("end", None))
        except BaseException as error:  # noqa: BLE001 — handed to the consumer, which re-raises it
            if hasattr(error, "add_note"):
                error.add_note("(raised in minidl's prefetch thread, which reads the batches of a source)")
            self._put(("error", error))

    def __iter__(self):
        while True:
            kind, value = self._queue.get()
            if kind == "item":
                yield value
            elif kind == "end":
                return
            else:
                self.close()
                raise value

    def close(self):
        self._stop.set()
        while self._thread.is_alive():
            try:  # unblock a reader waiting on a full queue
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=0.05)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Inline:
    """The no-thread twin of :class:`Prefetcher` (arrays are already in memory)."""

    def __init__(self, iterable):
        self._it = iter(iterable)

    def __iter__(self):
        return self._it

    def close(self):
        close = getattr(self._it, "close", None)
        if close is not None:
            close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- feed: one epoch at a time
class Feed:
    """Batches for ``fit`` / ``evaluate`` / ``predict``, one epoch at a time.

    ``prepare(x, y, w, where)`` checks one batch and returns it ready for the model (it runs in the
    prefetch thread). ``steps`` limits the batches of an epoch (``steps_per_epoch``); a finite source
    then continues where the previous epoch stopped and starts a new pass when it ends, as in Keras.
    """

    def __init__(self, source, prepare, steps=None, shuffle=False, rng=None, class_weight=None,
                 prefetch=True, name="x"):
        self.source, self.prepare, self.name = source, prepare, name
        self.class_weight = check_class_weight(class_weight)
        if steps is not None and not (isinstance(steps, (int, np.integer)) and steps > 0):
            raise ValueError(f"steps must be a positive integer or None; got {steps!r}")
        self.steps = None if steps is None else int(steps)
        self.indexed = hasattr(source, "__getitem__") and hasattr(source, "__len__")
        self.one_shot = not self.indexed and hasattr(source, "__next__")  # a generator: consumed once
        if self.one_shot and class_weight is not None:
            raise ValueError("class_weight is not supported for a generator (as in Keras); yield "
                             "(x, y, sample_weight) batches instead, or use a PyDataset / from_batches")
        self.num = _num_batches(source) if not self.one_shot else None
        self.shuffle = bool(shuffle) and self.indexed and not isinstance(source, ArraySource)
        self.rng = rng if rng is not None else np.random.default_rng()
        self.depth = getattr(source, "max_queue_size", DEFAULT_PREFETCH) if prefetch else 0
        self._pass, self._seen, self.exhausted = None, 0, False

    @property
    def steps_per_epoch(self):
        """Batches in one epoch, or None if unknown (a generator without ``steps``)."""
        if self.steps is not None:
            return self.steps if self.num is None else min(self.steps, self.num)
        return self.num

    def skip_epochs(self, n):
        """Advance the shuffling as if ``n`` epochs had run (``fit(initial_epoch=n)`` resumes the same order)."""
        if isinstance(self.source, ArraySource):
            self.source.skip_epochs(n)
        elif self.shuffle:
            for _ in range(n):
                self.rng.permutation(self.num)

    def _hook(self, name):
        hook = getattr(self.source, name, None)
        if callable(hook):
            hook()

    def _new_pass(self):
        if self.one_shot:
            return self.source
        self._hook("on_epoch_begin")
        if not self.indexed:
            return iter(self.source)
        order = self.rng.permutation(self.num) if self.shuffle else range(self.num)
        return (self.source[int(i)] for i in order)

    def _end_pass(self):
        self._pass, self._seen = None, 0
        if not self.one_shot:
            self._hook("on_epoch_end")

    def _batches(self):
        """The prepared batches of one epoch (this generator runs in the prefetch thread)."""
        got = 0
        while self.steps is None or got < self.steps:
            if self._pass is None:
                if self.exhausted:
                    break
                self._pass = self._new_pass()
            where = f"batch {self._seen} of {self.name} ({type(self.source).__name__})"
            try:
                item = next(self._pass)
            except StopIteration:  # the pass ended (a generator: for good)
                self.exhausted = self.one_shot
                self._end_pass()
                break
            self._seen += 1
            x, y, w = split_batch(item, where)
            if self.class_weight is not None:
                if w is not None:
                    raise ValueError(f"{where} has sample weights and class_weight was given: use one of them")
                if y is not None:
                    w = class_weights_to_sample_weights(y, self.class_weight)
            yield self.prepare(x, y, w, where)
            got += 1
            if self.num is not None and self._seen >= self.num and not self.one_shot:
                self._end_pass()
                break
        if self.steps is not None and 0 < got < self.steps:
            warnings.warn(f"{self.name} ran out of data after {got} of steps={self.steps} batches; the epoch is "
                          "shorter. Make sure the source can give at least steps_per_epoch × epochs batches.",
                          stacklevel=2)

    def epoch(self):
        """A context manager to iterate over this epoch's batches: ``with feed.epoch() as batches: ...``."""
        if self.depth:
            return Prefetcher(self._batches(), self.depth)
        return _Inline(self._batches())
