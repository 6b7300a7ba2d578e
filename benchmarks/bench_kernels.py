"""Kernel-level benchmark: GFLOP/s of minidl's convolution paths on the R0/R1 layer shapes, next to a
float32 sgemm measured in the same run, and the reference (NumPy) family for scale.

For each layer shape: forward, dW and dx separately, through the direct numba loops, through
im2col + BLAS (forced with ``conv_numba.DIRECT_MAX_K``) and, for stride-1 Conv1D shapes, through Winograd
(``conv_numba.WINOGRAD``), median of ``--repeats`` after a warm-up. GFLOP/s use the direct method's FLOP
count (Winograd's rate is an effective one). This is how ``DIRECT_MAX_K`` and ``CHUNK_BYTES`` were chosen.

Then the weight-gradient product ``aᵀ·b`` with a long inner dimension (10,000 rows): one BLAS call vs
:func:`minidl.kernels.blas.reduction_dot` (blocks of ``REDUCTION_BLOCK`` rows).

    python benchmarks/bench_kernels.py [--repeats 5] [--batch 16]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from minidl import threads
from minidl.kernels import blas, conv_numba, family, padding_amounts, winograd_numba

# (label, input (H, W, C), kernel (kh, kw), filters)
SHAPES = [
    ("R0 conv1", (50, 400, 1), (3, 3), 32),
    ("R0 conv2", (24, 199, 32), (3, 3), 64),
    ("R1 conv1", (1, 1000, 270), (1, 2), 64),
    ("R1 conv2", (1, 499, 64), (1, 2), 64),
]


def _median_time(fn, repeats):
    fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def sgemm(n=1024, repeats=5):
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    return 2 * n ** 3 / _median_time(lambda: a @ a, repeats) / 1e9


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    threads.set_num_threads(args.threads)
    fast = family("fast")
    rng = np.random.default_rng(0)
    print(f"threads: {threads.thread_info()}")
    print(f"sgemm float32 1024³: {sgemm():.1f} GFLOP/s")
    print(f"{'layer':10s} {'path':7s} {'fwd':>8s} {'dW':>8s} {'dx':>8s}  GFLOP/s (batch {args.batch})")
    for label, (H, W, C), (kh, kw), F in SHAPES:
        x = rng.standard_normal((args.batch, H, W, C)).astype(np.float32)
        w = rng.standard_normal((kh, kw, C, F)).astype(np.float32) * 0.1
        b = np.zeros(F, np.float32)
        pads = padding_amounts((H, W), (kh, kw), (1, 1), "valid")
        y = fast.conv2d_forward(x, w, b, (1, 1), pads)
        dy = rng.standard_normal(y.shape).astype(np.float32)
        flop = 2 * y.size * kh * kw * C
        paths = [("direct", 10**9, False), ("im2col", 0, False)]
        if winograd_numba.applicable((kh, kw, C, F), (1, 1), y.shape[2]):
            paths.append(("winograd", 0, True))
        for path, limit, winograd in paths:
            conv_numba.DIRECT_MAX_K, conv_numba.WINOGRAD = limit, winograd
            t_f = _median_time(lambda: fast.conv2d_forward(x, w, b, (1, 1), pads, relu=True), args.repeats)
            t_w = _median_time(lambda: fast.conv2d_backward(x, dy, w, (1, 1), pads, need_dx=False), args.repeats)
            t_x = _median_time(lambda: fast.conv2d_backward_input(dy, w, x.shape, (1, 1), pads), args.repeats)
            print(f"{label:10s} {path:7s} {flop / t_f / 1e9:8.1f} {flop / t_w / 1e9:8.1f} {flop / t_x / 1e9:8.1f}",
                  flush=True)
    print(f"sgemm float32 1024³ (again): {sgemm():.1f} GFLOP/s")
    rows = 10_000
    print(f"weight gradient aᵀ·b, a ({rows} × M), b ({rows} × 64), float32, {args.threads} thread(s): GFLOP/s")
    for M in (64, 270, 540):
        a = rng.standard_normal((rows, M)).astype(np.float32)
        d = rng.standard_normal((rows, 64)).astype(np.float32)
        flop = 2 * rows * M * 64
        t_plain = _median_time(lambda: a.T @ d, args.repeats)
        t_blocked = _median_time(lambda: blas.reduction_dot(a, d), args.repeats)
        print(f"  M = {M:3d}: one product {flop / t_plain / 1e9:6.1f}   reduction_dot {flop / t_blocked / 1e9:6.1f}",
              flush=True)


if __name__ == "__main__":
    main()
