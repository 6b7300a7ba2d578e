"""Batch norm and pooling in training: each pass against a plain copy of the same array, the fused
BN → MaxPool block against its unfused layers, and R0/R1 ``train_on_batch`` steps with the training plan
on and off (:data:`minidl.training_plan.FUSE`), all in one process.

Kernels run on R0's first batch-norm input, ``(64, 48, 398, 32)`` float32 (156 MB). Every number is the
median over ``--repeats`` rounds, the contenders alternating within each round (each timing itself the
median of 3 calls after a warm-up), so a busy machine slows all of them alike. Then, per workload, the
training step with the plan on and off, and each block of the plan against the sum of its layers.

    python benchmarks/bench_bnpool.py [--repeats 7] [--steps 5] [--only kernels R0 R1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
from numba import njit, prange  # noqa: E402

import minidl  # noqa: E402
from minidl import threads, training_plan  # noqa: E402
from minidl.kernels import fast  # noqa: E402


@njit(parallel=True, cache=True)
def _copy(x, out):
    a, b = x.reshape(-1), out.reshape(-1)
    for i in prange(a.size):
        b[i] = a[i]


def _time(fn, calls=3):
    ts = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def alternate(fns, repeats):
    """``{name: median ms}``: every function once (warm-up), then ``repeats`` rounds of all of them in turn."""
    for fn in fns.values():
        fn()
    ts = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            ts[k].append(_time(fn))
    return {k: 1e3 * statistics.median(v) for k, v in ts.items()}


def kernels(repeats):
    rng = np.random.default_rng(0)
    x = np.maximum(rng.standard_normal((64, 48, 398, 32), dtype=np.float32), 0)
    x2, out = x.reshape(-1, 32), np.empty_like(x)
    dy = rng.standard_normal(x.shape, dtype=np.float32).reshape(-1, 32)
    mean, var = fast.batchnorm_stats(x2)
    inv = 1 / np.sqrt(var + 1e-3)
    scale, shift = inv, -mean * inv
    geo = ((2, 2), (2, 2), (0, 0, 0, 0))
    xn = fast.batchnorm_apply(x2, scale, shift).reshape(x.shape)
    _, arg, x_win = fast.batchnorm_max_pool2d_forward(x, scale, shift, *geo)
    dp = rng.standard_normal(arg.shape, dtype=np.float32)
    s, q = fast.batchnorm_backward_sums(dy, x2, mean, inv)

    def unfused_forward():
        a = fast.batchnorm_apply(x2, scale, shift).reshape(x.shape)
        return fast.max_pool2d_forward(a, *geo)

    def unfused_backward():
        d = fast.max_pool2d_backward(dp, arg, x.shape, *geo).reshape(-1, 32)
        s, q = fast.batchnorm_backward_sums(d, x2, mean, inv)
        return fast.batchnorm_backward_input(d, x2, mean, inv, scale, s, q)

    ms = alternate({
        "copy (numba, 2 threads)": lambda: _copy(x, out),
        "BN statistics (read x)": lambda: fast.batchnorm_stats(x2),
        "BN apply (read x, write y)": lambda: fast.batchnorm_apply(x2, scale, shift),
        "BN backward sums (read dy, x)": lambda: fast.batchnorm_backward_sums(dy, x2, mean, inv),
        "BN backward dx (read dy, x, write)": lambda: fast.batchnorm_backward_input(dy, x2, mean, inv, scale, s, q),
        "max pool forward": lambda: fast.max_pool2d_forward(xn, *geo),
        "max pool backward": lambda: fast.max_pool2d_backward(dp, arg, x.shape, *geo),
        "BN apply + max pool (unfused)": unfused_forward,
        "BN·max pool fused forward": lambda: fast.batchnorm_max_pool2d_forward(x, scale, shift, *geo),
        "max pool + BN backward (unfused)": unfused_backward,
        "BN·max pool fused backward": lambda: fast.batchnorm_max_pool2d_backward(dp, arg, x_win, x, mean, inv,
                                                                                  scale, *geo),
    }, repeats)
    print(f"R0 block 1, x {x.shape} float32 ({x.nbytes / 1e6:.0f} MB), ms (medians of {repeats} rounds):")
    for k, v in ms.items():
        print(f"  {k:36s} {v:7.2f}")


def steps(name, repeats, n_steps):
    import importlib.util
    spec = importlib.util.spec_from_file_location("bench_keras", os.path.join(os.path.dirname(__file__),
                                                                                "bench_keras.py"))
    bk = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bk)
    shape, batch, *_ = bk.WORKLOADS[name]
    m = minidl.Sequential(bk.architecture(name, minidl, minidl), seed=0)
    m.compile(minidl.Adam(1e-3), "sparse_categorical_crossentropy")
    m.layers[0].compute_input_gradient = not bk.FIRST_LAYER_NO_DX
    x, y = bk.data(name, batch, np.random.default_rng(0))

    def run(fuse):
        def go():
            training_plan.FUSE = fuse
            for _ in range(n_steps):
                m.train_on_batch(x, y)
        return go

    ms = alternate({"fused": run(True), "unfused": run(False)}, repeats)
    print(f"{name} train_on_batch, ms per step (batch {batch}; medians of {repeats} rounds of {n_steps} steps): "
          f"fused {ms['fused'] / n_steps:.1f}, unfused {ms['unfused'] / n_steps:.1f} "
          f"(×{ms['unfused'] / ms['fused']:.3f})")
    rows = {True: {}, False: {}}
    for _ in range(repeats):
        for fuse in (True, False):
            training_plan.FUSE = fuse
            _profile(m, x, y, training_plan.plan(m.layers), rows[fuse])
    training_plan.FUSE = True
    print(f"  per step of the plan, ms (forward / backward), medians of {repeats}; unfused: the layers' sum")
    for step in training_plan.plan(m.layers):
        layers = getattr(step, "layers", [step])
        if isinstance(step, minidl.layers.Layer) and not isinstance(step, _BN_POOL):
            continue
        fused = rows[True][_label(step)]
        unfused = [sum(statistics.median(rows[False][layer.name][k]) for layer in layers) for k in (0, 1)]
        print(f"    {_label(step):62s} fused {1e3 * statistics.median(fused[0]):6.1f} / "
              f"{1e3 * statistics.median(fused[1]):6.1f}   unfused {1e3 * unfused[0]:6.1f} / {1e3 * unfused[1]:6.1f}")


_BN_POOL = (minidl.layers.BatchNormalization, minidl.layers.MaxPooling2D, minidl.layers.MaxPooling1D,
            minidl.layers.AveragePooling1D, minidl.layers.AveragePooling2D)


def _label(step):
    return getattr(step, "name", None) or repr(step)


def _profile(m, x, y, steps, rows):
    """One training step through ``steps``, each step's forward and backward seconds appended to ``rows``."""
    a = x
    for step in steps:
        t = time.perf_counter()
        a = step.forward(a, training=True)
        rows.setdefault(_label(step), ([], []))[0].append(time.perf_counter() - t)
    _, d, from_logits = m._loss_and_grad(y, a)
    for i, step in reversed(list(enumerate(steps))):
        t = time.perf_counter()
        d = step.backward_linear(d) if (from_logits and i == len(steps) - 1) else step.backward(d)
        rows[_label(step)][1].append(time.perf_counter() - t)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--steps", type=int, default=3, help="train_on_batch steps per timing")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", nargs="*", default=["kernels", "R0", "R1"])
    args = ap.parse_args(argv)
    threads.set_num_threads(args.threads)
    print(f"threads: {threads.thread_info()}")
    if "kernels" in args.only:
        kernels(args.repeats)
    for name in ("R0", "R1"):
        if name in args.only:
            steps(name, args.repeats, args.steps)


if __name__ == "__main__":
    main()
