"""minidl vs Keras 3 (TensorFlow CPU) on the three reference workloads of issue 3, in one process.

R0  genotype image (50, 400, 1) binary: Conv2D(32,3,relu) → BN → MaxPool 2 → Conv2D(64,3,relu) → BN →
    MaxPool 2 → Flatten → Dense(64,relu) → Dropout(0.5) → Dense(3,softmax); Adam; batch 64.
R1  (1000 SNPs, 270 haplotypes as channels) ±1: Conv1D(64,2,relu) → AvgPool1D 2 → BN → Conv1D(64,2,relu) →
    AvgPool1D 2 → BN → Flatten → Dense(32,relu) → Dropout(0.5) → Dense(3,softmax); Adam; batch 128.
R2  MLP 8 → 128 → 32 → 16 → 8 → 2 on summary statistics; Adam; batch 32 (overhead-bound).

Method: same architecture, same initial weights (copied minidl → Keras), same data, same batch size,
2 threads each (numba + OpenBLAS for minidl, TF intra-op for Keras), warm-up first (JIT / graph tracing),
then ``--repeats`` alternating timed runs of ``fit`` (one epoch over ``n_train`` samples, no shuffle) and
``predict``; the median of the repeats is reported. Also: the FLOP rate of minidl's conv layers
(forward + backward, R0/R1 shapes) against a float32 sgemm timed in the same run, and cold / warm
start-up time of a minidl training process (empty vs filled numba cache).

    python benchmarks/bench_keras.py                  # everything, ~10 min on 2 cores
    python benchmarks/bench_keras.py --only R0 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

THREADS = 2
FIRST_LAYER_NO_DX = True

WORKLOADS = {
    # name: (input shape, batch, n_train samples per timed fit, n_predict)
    "R0": ((50, 400, 1), 64, 256, 512),
    "R1": ((1000, 270), 128, 512, 1024),
    "R2": ((8,), 32, 4096, 8192),
}


def architecture(name, lib, layers):
    if name == "R0":
        return [lib.Input((50, 400, 1)),
                layers.Conv2D(32, 3, activation="relu"), layers.BatchNormalization(), layers.MaxPooling2D(2),
                layers.Conv2D(64, 3, activation="relu"), layers.BatchNormalization(), layers.MaxPooling2D(2),
                layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dropout(0.5),
                layers.Dense(3, activation="softmax")]
    if name == "R1":
        return [lib.Input((1000, 270)),
                layers.Conv1D(64, 2, activation="relu"), layers.AveragePooling1D(2), layers.BatchNormalization(),
                layers.Conv1D(64, 2, activation="relu"), layers.AveragePooling1D(2), layers.BatchNormalization(),
                layers.Flatten(), layers.Dense(32, activation="relu"), layers.Dropout(0.5),
                layers.Dense(3, activation="softmax")]
    return [lib.Input((8,)), layers.Dense(128, activation="relu"), layers.Dense(32, activation="relu"),
            layers.Dense(16, activation="relu"), layers.Dense(8, activation="relu"),
            layers.Dense(2, activation="softmax")]


def data(name, n, rng):
    shape = WORKLOADS[name][0]
    if name == "R0":
        x = rng.integers(0, 2, (n, *shape)).astype(np.float32)
    elif name == "R1":
        x = rng.choice(np.array([-1, 1], np.float32), (n, *shape))
    else:
        x = rng.standard_normal((n, *shape)).astype(np.float32)
    n_classes = 2 if name == "R2" else 3
    return x, rng.integers(0, n_classes, n)


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def sgemm_gflops(n=1024, repeats=5):
    """float32 matrix product n×n·n×n through NumPy's BLAS: 2n³ FLOP."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    b = a.T.copy()
    a @ b
    return 2 * n ** 3 / min(timed(lambda: a @ b) for _ in range(repeats)) / 1e9


def conv_flops(layer, in_shape):
    """FLOP of forward + backward (dW and dx) of one conv layer per sample: 3 × 2·Ho·Wo·kh·kw·C·F.

    This is the direct method's count. Winograd layers (stride-1 Conv1D, kernel 2 or 3) do 37.5–50 % fewer
    multiplications, so their rate is an *effective* GFLOP/s and may exceed the sgemm rate."""
    out = layer.compute_output_shape(in_shape)
    k = np.prod(layer.kernel_size) * in_shape[-1]
    return 3 * 2 * np.prod(out[:-1]) * k * out[-1]


def conv_gflops(minidl, name, batch, repeats):
    """GFLOP/s of minidl's conv layers of workload ``name`` alone (forward + backward, with dx)."""
    model = minidl.Sequential(architecture(name, minidl, minidl), seed=0)
    rng = np.random.default_rng(1)
    results = []
    shape = model.input_layer.shape
    for layer in model.layers:
        if type(layer).__name__.startswith("Conv"):
            x = rng.standard_normal((batch, *shape)).astype(np.float32)
            y = layer.forward(x, training=True)
            dy = np.ones_like(y)
            layer.backward(dy)

            def step():
                layer.forward(x, training=True)
                layer.backward(dy)
            t = statistics.median(timed(step) for _ in range(repeats))
            results.append((layer.name, shape, conv_flops(layer, shape) * batch / t / 1e9))
        shape = layer.output_shape
    return results


def startup(name, cache_dir):
    """Fresh process: seconds to import minidl and build workload ``name``, then the first and the second
    training step. With an empty numba cache (cold) the first step includes compiling every kernel it
    meets; with a filled cache (warm) it only loads them. JIT cost ≈ first step − second step."""
    code = (
        "import time; t0=time.perf_counter(); import numpy as np, minidl, sys; sys.path.insert(0, 'benchmarks');"
        "from bench_keras import architecture, data, WORKLOADS;"
        f"m = minidl.Sequential(architecture('{name}', minidl, minidl), seed=0);"
        "m.compile(minidl.Adam(), 'sparse_categorical_crossentropy');"
        f"x, y = data('{name}', WORKLOADS['{name}'][1], np.random.default_rng(0));"
        "t1=time.perf_counter(); m.train_on_batch(x, y); t2=time.perf_counter(); m.train_on_batch(x, y);"
        "t3=time.perf_counter(); print(t1-t0, t2-t1, t3-t2)")
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    total = time.perf_counter() - t
    setup, first, second = (float(v) for v in out.stdout.strip().splitlines()[-1].split())
    return {"process_s": total, "import_build_s": setup, "first_step_s": first, "second_step_s": second,
            "jit_s": first - second}


def bench_workload(name, repeats, minidl, keras, jit_compile):
    shape, batch, n_train, n_pred = WORKLOADS[name]
    rng = np.random.default_rng(0)
    x, y = data(name, max(n_train, n_pred), rng)
    xt, yt, xp = x[:n_train], y[:n_train], x[:n_pred]
    mm = minidl.Sequential(architecture(name, minidl, minidl), seed=0)
    km = keras.Sequential(architecture(name, keras, keras.layers))
    km.set_weights(mm.get_weights())
    mm.compile(minidl.Adam(1e-3), "sparse_categorical_crossentropy")
    km.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", jit_compile=jit_compile)
    if FIRST_LAYER_NO_DX:   # Keras never computes ∂L/∂input; tell minidl's first conv the same
        mm.layers[0].compute_input_gradient = False
    fit_m = lambda: mm.fit(xt, yt, batch_size=batch, epochs=1, shuffle=False, verbose=0)  # noqa: E731
    fit_k = lambda: km.fit(xt, yt, batch_size=batch, epochs=1, shuffle=False, verbose=0)  # noqa: E731
    pred_m = lambda: mm.predict(xp, batch_size=batch)  # noqa: E731
    pred_k = lambda: km.predict(xp, batch_size=batch, verbose=0)  # noqa: E731
    # warm-up: numba JIT / TF tracing and XLA compilation, caches, thread pools
    for f in (fit_m, fit_k, pred_m, pred_k):
        f()
    t = {"train_m": [], "train_k": [], "pred_m": [], "pred_k": []}
    for r in range(repeats):   # alternate so that machine noise hits both alike
        order = [("train_m", fit_m), ("train_k", fit_k)] if r % 2 == 0 else [("train_k", fit_k), ("train_m", fit_m)]
        for key, f in order:
            t[key].append(timed(f))
        order = [("pred_m", pred_m), ("pred_k", pred_k)] if r % 2 == 0 else [("pred_k", pred_k), ("pred_m", pred_m)]
        for key, f in order:
            t[key].append(timed(f))
    med = {k: statistics.median(v) for k, v in t.items()}
    return {
        "workload": name, "batch": batch, "keras_jit_compile": str(jit_compile),
        "train_minidl": n_train / med["train_m"], "train_keras": n_train / med["train_k"],
        "train_ratio": med["train_k"] / med["train_m"],
        "infer_minidl": n_pred / med["pred_m"], "infer_keras": n_pred / med["pred_k"],
        "infer_ratio": med["pred_k"] / med["pred_m"],
        "raw_seconds": t,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", default=list(WORKLOADS), help="workloads to run (R0 R1 R2)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--keras-jit", default="auto", choices=["auto", "false", "both"],
                    help="Keras compile(jit_compile=...): 'auto' is Keras's default (XLA where supported)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply the number of timed samples (use < 1 on a busy machine)")
    ap.add_argument("--no-startup", action="store_true", help="skip the cold/warm start-up measurement")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)
    for k, (shape, batch, n_train, n_pred) in WORKLOADS.items():
        WORKLOADS[k] = (shape, batch, max(batch, int(n_train * args.scale)), max(batch, int(n_pred * args.scale)))

    import minidl
    from minidl import threads
    threads.set_num_threads(THREADS)
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    info = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": _cpu(), "python": platform.python_version(),
            "numpy": np.__version__, "numba": __import__("numba").__version__, "tensorflow": tf.__version__,
            "keras": keras.__version__, "threads": threads.thread_info(), "blas": _blas()}
    print(json.dumps(info, indent=1))
    results = {"info": info, "workloads": [], "sgemm_gflops": [], "conv_gflops": {}, "startup": {}}
    jits = {"auto": ["auto"], "false": [False], "both": ["auto", False]}[args.keras_jit]
    for name in args.only:
        for jit in jits:
            results["sgemm_gflops"].append(sgemm_gflops())
            r = bench_workload(name, args.repeats, minidl, keras, jit)
            results["workloads"].append(r)
            print(f"{name} (keras jit_compile={jit}): train {r['train_minidl']:.1f} vs {r['train_keras']:.1f} samples/s "
                  f"(×{r['train_ratio']:.2f}); inference {r['infer_minidl']:.0f} vs {r['infer_keras']:.0f} "
                  f"(×{r['infer_ratio']:.2f})", flush=True)
        if name in ("R0", "R1"):
            results["sgemm_gflops"].append(sgemm_gflops())
            results["conv_gflops"][name] = conv_gflops(minidl, name, WORKLOADS[name][1], args.repeats)
            for lname, shape, g in results["conv_gflops"][name]:
                print(f"  {name} {lname} on {shape}: {g:.1f} GFLOP/s (fwd+bwd)", flush=True)
    print(f"sgemm float32 1024³: {', '.join(f'{g:.0f}' for g in results['sgemm_gflops'])} GFLOP/s", flush=True)
    if not args.no_startup:
        for name in ("R0", "R1"):
            with tempfile.TemporaryDirectory() as cache:
                cold = startup(name, cache)
                warm = startup(name, cache)
            results["startup"][name] = {"cold": cold, "warm": warm}
            for label, r in (("cold", cold), ("warm", warm)):
                print(f"start-up {name} ({label} numba cache): import+build {r['import_build_s']:.1f} s, first step "
                      f"{r['first_step_s']:.1f} s, second step {r['second_step_s']:.1f} s → JIT/load "
                      f"{r['jit_s']:.1f} s", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    return results


def _cpu():
    try:
        with open("/proc/cpuinfo") as f:
            name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        name = platform.processor()
    return f"{name}, {os.cpu_count()} logical CPUs"


def _blas():
    try:
        import threadpoolctl
        return [{k: i.get(k) for k in ("internal_api", "architecture", "num_threads", "version")}
                for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
    except ImportError:
        return "threadpoolctl not installed"


if __name__ == "__main__":
    main()
