"""Throughput of ``fit`` from in-memory arrays vs from a batch source giving the same batches (issue 12 §3).

Sources compared, each one epoch of ``--n`` samples, batch 32, no shuffle, same initial weights:

* ``arrays``   — ``model.fit(x, y)``: the in-memory baseline;
* ``source``   — a PyDataset returning the same float32 batches (the cost of the source machinery and of
  the prefetch thread; the weights after the epoch must equal the array run's, checked);
* ``decode``   — a PyDataset holding int8 genotypes that turns each batch into float32 and standardises it
  on the fly in the reader thread (what a store-backed source does after reading a chunk);
* ``io``       — ``decode`` plus ``--io-ms`` of blocking wait per batch (a disk or network read), with
  prefetch, and the same without prefetch (``max_queue_size=0``) to show what prefetch hides.

With ``--store DATASET`` (a store written by ``popsim simulate``, e.g. by ``bench_store.py``), the comparison is
the real one, on its first ``--n`` images and a CNN on its image shape, inputs standardised:

* ``arrays``         — ``model.fit(x, y)`` on ``ds.images(rows)`` held in memory (standardised beforehand);
* ``store``          — ``model.fit(ds.source(rows, shuffle=False, scale=...))``: read from the zarr store,
  checked, decoded and standardised in the prefetch thread, the same batches (weights checked equal);
* ``store shuffled`` — ``ds.source(rows, shuffle=True, ...)``: chunk-group shuffling, as one trains.

Method: 2 threads (numba + BLAS), a warm-up fit per variant (JIT), then ``--repeats`` rounds in which the
variants run in alternating order; reported per variant: the median samples/s, the ratio of medians to
``arrays``, the **median of the per-round ratios** (each variant against the ``arrays`` run of the same round:
robust to slow drift of the load of a shared machine), and the best run's.

    python benchmarks/bench_streaming.py                 # ~2 min on 2 cores
    python benchmarks/bench_streaming.py --repeats 3 --n 512
    python benchmarks/bench_streaming.py --store /tmp/bench_store/flagship_1000 --repeats 7 --n 768
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import minidl  # noqa: E402
from minidl.data import PyDataset  # noqa: E402

SHAPE = (32, 64, 2)  # haplotypes × SNPs × (genotype, distance): a small genotype image
BATCH = 32


def cnn(seed=0, shape=SHAPE):
    m = minidl.Sequential([
        minidl.Input(shape),
        minidl.Conv2D(16, 3, activation="relu"), minidl.MaxPooling2D(2),
        minidl.Conv2D(32, 3, activation="relu"), minidl.MaxPooling2D(2),
        minidl.Flatten(), minidl.Dense(32, activation="relu"), minidl.Dense(3, activation="softmax"),
    ], seed=seed)
    m.compile(minidl.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


class Same(PyDataset):
    """The array path's batches, as a source."""

    def __init__(self, x, y, max_queue_size=2):
        super().__init__(max_queue_size=max_queue_size)
        self.x, self.y = x, y

    def __len__(self):
        return -(-len(self.x) // BATCH)

    def __getitem__(self, i):
        return self.x[i * BATCH:(i + 1) * BATCH], self.y[i * BATCH:(i + 1) * BATCH]


class Decode(Same):
    """int8 genotypes → float32 standardised image, per batch, plus an optional blocking wait (I/O)."""

    def __init__(self, g, y, mean, std, io_s=0.0, max_queue_size=2):
        super().__init__(g, y, max_queue_size)
        self.mean, self.std, self.io_s = mean, std, io_s

    def __getitem__(self, i):
        if self.io_s:
            time.sleep(self.io_s)
        g, y = super().__getitem__(i)
        return (g.astype(np.float32) - self.mean) / self.std, y


def timed_fit(model, *args, **kwargs):
    start = time.perf_counter()
    model.fit(*args, epochs=1, shuffle=False, verbose=0, **kwargs)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024, help="samples per timed epoch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--io-ms", type=float, default=5.0, help="simulated blocking read per batch (ms)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--store", help="a dataset store: compare training from it with the same images in memory")
    args = parser.parse_args(argv)
    minidl.threads.set_num_threads(args.threads)
    shape = SHAPE
    if args.store:
        variants, shape = store_variants(args)
        return report(args, argv, variants, shape)

    rng = np.random.default_rng(0)
    g = rng.integers(0, 3, (args.n, *SHAPE)).astype(np.int8)
    y = rng.integers(0, 3, args.n)
    mean, std = np.float32(g.mean()), np.float32(g.std())
    x = (g.astype(np.float32) - mean) / std
    init = cnn().get_weights()

    def fresh():
        m = cnn()
        m.set_weights(init)
        return m

    variants = {
        "arrays": lambda m: timed_fit(m, x, y, batch_size=BATCH),
        "__fresh__": fresh,
        "source": lambda m: timed_fit(m, Same(x, y)),
        "decode": lambda m: timed_fit(m, Decode(g, y, mean, std)),
        f"io {args.io_ms:g} ms": lambda m: timed_fit(m, Decode(g, y, mean, std, args.io_ms / 1e3)),
        f"io {args.io_ms:g} ms, no prefetch": lambda m: timed_fit(m, Decode(g, y, mean, std, args.io_ms / 1e3, 0)),
    }
    variants["__same__"] = "source"
    return report(args, argv, variants, shape)


def store_variants(args):
    """The ``--store`` variants: the first ``--n`` images of a store, in memory vs streamed from it."""
    from popsim.sim.dataset import Dataset

    ds = Dataset(args.store)
    rows = np.arange(min(args.n, len(ds)))
    args.n = len(rows)
    x, y = ds.arrays(rows)
    mean, std = np.float32(x.mean()), np.float32(x.std())

    def scale(images):
        return (images - mean) / std

    x = scale(x)
    init = cnn(shape=ds.image_shape).get_weights()

    def fresh():
        m = cnn(shape=ds.image_shape)
        m.set_weights(init)
        return m

    variants = {
        "arrays": lambda m: timed_fit(m, x, y, batch_size=BATCH),
        "store": lambda m: timed_fit(m, ds.source(rows, BATCH, shuffle=False, scale=scale)),
        "store shuffled": lambda m: timed_fit(m, ds.source(rows, BATCH, shuffle=True, seed=1, scale=scale)),
        "__fresh__": fresh,
        "__same__": "store",
    }
    return variants, ds.image_shape


def report(args, argv, variants, shape):
    """Check equal weights, warm up, time the variants in alternating rounds, print the table."""
    fresh, same = variants.pop("__fresh__"), variants.pop("__same__")
    # the same batches give the same weights (and warm-up for the JIT)
    a, b = fresh(), fresh()
    variants["arrays"](a)
    variants[same](b)
    assert all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights())), "weights differ"
    for run in variants.values():
        run(fresh())

    times = {name: [] for name in variants}
    names = list(variants)
    for r in range(args.repeats):
        for name in (names if r % 2 == 0 else names[::-1]):  # alternate the order: drift hits all alike
            times[name].append(variants[name](fresh()))

    print(f"# bench_streaming  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  "
          f"{platform.processor() or platform.machine()}  {os.cpu_count()} cores, {args.threads} threads  "
          f"python {platform.python_version()}  load average {os.getloadavg()[0]:.1f} at the end")
    print(f"# command: python benchmarks/bench_streaming.py {' '.join(argv or sys.argv[1:])}")
    print(f"# CNN on {shape}, batch {BATCH}, {args.n} samples per epoch, {args.repeats} alternating rounds")
    # the best run is also shown: on a shared machine other processes only ever slow a run down
    base, best = statistics.median(times["arrays"]), min(times["arrays"])
    print(f"{'variant':<32} {'samples/s':>10} {'ratio':>7} {'paired':>7} {'best/s':>8} {'ratio':>7}")
    for name in names:
        t, b = statistics.median(times[name]), min(times[name])
        paired = statistics.median(a / t_ for a, t_ in zip(times["arrays"], times[name]))
        print(f"{name:<32} {args.n / t:>10.1f} {base / t:>7.3f} {paired:>7.3f} {args.n / b:>8.1f} {best / b:>7.3f}")
    print("# ratio: of medians; paired: median over rounds of (arrays time / variant time) in the same round")


if __name__ == "__main__":
    main()
