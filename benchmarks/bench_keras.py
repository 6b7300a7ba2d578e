"""minidl vs Keras 3 (TensorFlow CPU) and PyTorch (CPU) on the three reference workloads of issue 3, in one
process.

R0  genotype image (50, 400, 1) binary: Conv2D(32,3,relu) → BN → MaxPool 2 → Conv2D(64,3,relu) → BN →
    MaxPool 2 → Flatten → Dense(64,relu) → Dropout(0.5) → Dense(3,softmax); Adam; batch 64.
R1  (1000 SNPs, 270 haplotypes as channels) ±1: Conv1D(64,2,relu) → AvgPool1D 2 → BN → Conv1D(64,2,relu) →
    AvgPool1D 2 → BN → Flatten → Dense(32,relu) → Dropout(0.5) → Dense(3,softmax); Adam; batch 128.
R2  MLP 8 → 128 → 32 → 16 → 8 → 2 on summary statistics; Adam; batch 32 (overhead-bound).

Method: same architecture, same initial weights (copied minidl → Keras; PyTorch keeps its own), same
data, same batch size, 2 threads each (numba + OpenBLAS for minidl, TF intra-op for Keras,
``torch.set_num_threads`` for PyTorch), warm-up first (JIT / graph tracing), then ``--repeats`` alternating
timed runs (the order of the libraries rotated each repeat) of three things: ``fit`` (one epoch over
``n_train`` samples, no shuffle), a ``train_on_batch`` loop over the same batches, and ``predict``. PyTorch
has one training path, its usual ``zero_grad / forward / backward / step`` loop, timed for both training
rows. The median of the repeats is reported, with each peer's time over minidl's (> 1: minidl faster).
``OMP_WAIT_POLICY=PASSIVE`` is set (unless given): with spinning OpenMP threads, PyTorch's two intra-op
threads collapsed next to numba's pool on a busy machine (benchmarks/RESULTS.md, issue 18 section). Also: the FLOP rate of minidl's conv layers
(forward + backward, R0/R1 shapes) against a float32 sgemm timed in the same run, and cold / warm
start-up time of a minidl training process (empty vs filled numba cache). The run ends with a summary against
the targets of issue 18 (:func:`summary`: every ratio ≥ 2×, each conv layer ≥ 60 % of the run's sgemm, a warm
start under 3 s), each missed one with the factor it is short by.

OpenBLAS picks its kernels when it loads, unless ``OPENBLAS_CORETYPE`` forces a set (some machines set it,
with ``OPENBLAS_L2_SIZE``, for old OpenBLAS builds that fail on their CPU). The header prints both variables
and the kernel set each loaded OpenBLAS runs (``blas``: ``architecture``). To measure what a user of current
NumPy gets on such a machine, unset both for the benchmark command alone (never in tests or CI):
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_keras.py`` (an AVX-512 machine then
runs OpenBLAS's SkylakeX kernels: sgemm 1024³ on 2 threads 446 instead of 228 GFLOP/s with Haswell's).

    python benchmarks/bench_keras.py                  # everything, ~10 min on 2 cores
    python benchmarks/bench_keras.py --only R0 --repeats 3
    python benchmarks/bench_keras.py --only R0 R1 --profile --no-startup   # + minidl's time per layer
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
# OpenMP threads that wait by sleeping, not spinning: numba's (OpenMP layer) and PyTorch's pools share this
# process, and on a busy 2-core machine spinning idle threads of one starve the other (measured: PyTorch R2
# fit at 147 samples/s with spinning, 14,400 with passive waiting). Set for every library alike.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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

    This is the direct method's count. Winograd layers (3×3 stride-1 Conv2D in a batch: F(2×2, 3×3), 2.25×
    fewer multiplications; a single sample's stride-1 Conv1D, kernel 2 or 3: 37.5–50 % fewer) do less, so
    their rate is an *effective* GFLOP/s and may exceed the sgemm rate."""
    out = layer.compute_output_shape(in_shape)
    k = np.prod(layer.kernel_size) * in_shape[-1]
    return 3 * 2 * np.prod(out[:-1]) * k * out[-1]


def memory_gbs(mb=256, repeats=5):
    """The machine's memory rate in this run, GB/s of bytes read + written: two threads each copying its half of
    an ``mb`` MB float32 array (NumPy's copy releases the GIL), the best of ``repeats``."""
    import concurrent.futures
    n = (mb << 20) // 4
    src, dst = np.ones(n, np.float32), np.empty(n, np.float32)
    halves = [(dst[:n // 2], src[:n // 2]), (dst[n // 2:], src[n // 2:])]
    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        def copy():
            list(pool.map(lambda h: np.copyto(*h), halves))
        copy()
        return 2 * src.nbytes / min(timed(copy) for _ in range(repeats)) / 1e9


def conv_bytes(layer, in_shape, batch, itemsize=4):
    """Bytes that forward + backward (dW, db and dx) of one conv layer with a ReLU must move at the least, for a
    batch: the forward reads ``x`` and writes ``y``; the backward reads ``x``, ``dy`` and ``y`` (the ReLU's
    mask) and writes ``dx`` — 3·|x| + 3·|y|, with nothing read twice. At the run's memory rate this bounds the
    layer's time from below whatever its arithmetic: a 1-channel first layer (9 multiply-adds per output value)
    is bound by it long before the FLOP rate."""
    out = layer.compute_output_shape(in_shape)
    return 3 * batch * (np.prod(in_shape) + np.prod(out)) * itemsize


def conv_gflops(minidl, name, batch, repeats):
    """GFLOP/s of minidl's conv layers of workload ``name`` alone (forward + backward, with dx), with OpenBLAS
    on one thread as inside a training step."""
    from minidl.kernels.blas import single_threaded_blas
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
            with single_threaded_blas():   # as a training step runs its layers (OpenBLAS on one thread)
                t = statistics.median(timed(step) for _ in range(repeats))
            results.append((layer.name, shape, conv_flops(layer, shape) * batch / t / 1e9,
                            conv_flops(layer, shape) / conv_bytes(layer, shape, 1)))
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


def torch_architecture(name, nn):
    """The same networks in PyTorch (channels-first; the softmax is folded into the loss for training and
    applied for inference, as minidl's fused softmax + cross-entropy does)."""
    if name == "R0":
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.BatchNorm2d(32, eps=1e-3, momentum=0.01),
                             nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                             nn.BatchNorm2d(64, eps=1e-3, momentum=0.01), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(64 * 11 * 98, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 3))
    if name == "R1":
        return nn.Sequential(nn.Conv1d(270, 64, 2), nn.ReLU(), nn.AvgPool1d(2),
                             nn.BatchNorm1d(64, eps=1e-3, momentum=0.01), nn.Conv1d(64, 64, 2), nn.ReLU(),
                             nn.AvgPool1d(2), nn.BatchNorm1d(64, eps=1e-3, momentum=0.01), nn.Flatten(),
                             nn.Linear(64 * 249, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 3))
    return nn.Sequential(nn.Linear(8, 128), nn.ReLU(), nn.Linear(128, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(),
                         nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 2))


def _batches(n, batch):
    return [(i, min(i + batch, n)) for i in range(0, n, batch)]


def torch_functions(name, torch, xt, yt, xp, batch):
    """``fit`` (one epoch of the usual zero_grad / forward / loss / backward / step loop: PyTorch has no other
    training path, so it serves both training rows) and ``predict`` (eval mode, ``inference_mode``) for
    the PyTorch model of workload ``name``."""
    model = torch_architecture(name, torch.nn)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    to_torch = (lambda a: torch.from_numpy(np.ascontiguousarray(np.moveaxis(a, -1, 1)))) if name != "R2" else torch.from_numpy
    tx, ty, tp = to_torch(xt), torch.from_numpy(yt.astype(np.int64)), to_torch(xp)

    def fit():
        model.train()
        for i, j in _batches(len(tx), batch):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(tx[i:j]), ty[i:j])
            loss.backward()
            opt.step()

    def predict():
        model.eval()
        with torch.inference_mode():
            return np.concatenate([torch.softmax(model(tp[i:j]), 1).numpy() for i, j in _batches(len(tp), batch)])
    return fit, predict


MODES = ("fit", "tob", "infer")   # fit: one epoch of fit(); tob: a train_on_batch loop over the same batches


def bench_workload(name, repeats, minidl, keras, torch, jit_compile):
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
    batches = _batches(n_train, batch)
    fns = {
        ("minidl", "fit"): lambda: mm.fit(xt, yt, batch_size=batch, epochs=1, shuffle=False, verbose=0),
        ("keras", "fit"): lambda: km.fit(xt, yt, batch_size=batch, epochs=1, shuffle=False, verbose=0),
        ("minidl", "tob"): lambda: [mm.train_on_batch(xt[i:j], yt[i:j]) for i, j in batches],
        ("keras", "tob"): lambda: [km.train_on_batch(xt[i:j], yt[i:j]) for i, j in batches],
        ("minidl", "infer"): lambda: mm.predict(xp, batch_size=batch),
        ("keras", "infer"): lambda: km.predict(xp, batch_size=batch, verbose=0),
    }
    if torch is not None:
        t_fit, t_pred = torch_functions(name, torch, xt, yt, xp, batch)
        fns["torch", "fit"] = fns["torch", "tob"] = t_fit
        fns["torch", "infer"] = t_pred
    libs = sorted({lib for lib, _ in fns}, key=["minidl", "keras", "torch"].index)
    for f in fns.values():   # warm-up: numba JIT / TF tracing and XLA compilation, caches, thread pools
        f()
    t = {f"{lib}/{mode}": [] for lib, mode in fns}
    for r in range(repeats):   # alternate (and rotate the order) so that machine noise hits all alike
        for mode in MODES:
            order = libs[r % len(libs):] + libs[:r % len(libs)]
            for lib in order:
                t[f"{lib}/{mode}"].append(timed(fns[lib, mode]))
    med = {k: statistics.median(v) for k, v in t.items()}
    out = {"workload": name, "batch": batch, "keras_jit_compile": str(jit_compile), "raw_seconds": t}
    for mode in MODES:
        n = n_pred if mode == "infer" else n_train
        for lib in libs:
            out[f"{mode}_{lib}"] = n / med[f"{lib}/{mode}"]
            if lib != "minidl":
                out[f"{mode}_ratio_{lib}"] = med[f"{lib}/{mode}"] / med[f"minidl/{mode}"]
    # kept under the names of the earlier runs (RESULTS.md)
    out.update(train_minidl=out["fit_minidl"], train_keras=out["fit_keras"], train_ratio=out["fit_ratio_keras"],
               infer_minidl=out["infer_minidl"], infer_keras=out["infer_keras"], infer_ratio=out["infer_ratio_keras"])
    return out


def layer_profile(minidl, name, repeats):
    """Milliseconds per layer of one ``train_on_batch`` step (forward, backward; the steps of
    :func:`minidl.training_plan.plan`) and of one inference forward (:func:`minidl.inference.plan`), on one
    batch of workload ``name``: where the time goes. Medians of ``repeats``."""
    shape, batch, *_ = WORKLOADS[name]
    m = minidl.Sequential(architecture(name, minidl, minidl), seed=0)
    m.compile(minidl.Adam(1e-3), "sparse_categorical_crossentropy")
    if FIRST_LAYER_NO_DX:
        m.layers[0].compute_input_gradient = False
    x, y = data(name, batch, np.random.default_rng(0))
    m.train_on_batch(x, y)
    rows = {layer.name: {"fwd": [], "bwd": [], "infer": []} for layer in m.layers}

    def record(step, column, seconds):   # a fused block's time on its first layer; the others show 0
        names = [layer.name for layer in getattr(step, "layers", [step])]
        rows[names[0]][column].append(seconds)
        for lname in names[1:]:
            rows[lname][column].append(0.0)

    from minidl.kernels.blas import single_threaded_blas
    for _ in range(repeats):
        with single_threaded_blas():   # as in train_on_batch and predict: OpenBLAS on one thread (kernels/blas.py)
            a = x
            steps = minidl.training_plan.plan(m.layers)   # training as train_on_batch runs it: the training plan
            for step in steps:
                t = time.perf_counter()
                a = step.forward(a, training=True)
                record(step, "fwd", time.perf_counter() - t)
            _, d, from_logits = m._loss_and_grad(y, a)
            for i, step in reversed(list(enumerate(steps))):
                t = time.perf_counter()
                d = step.backward_linear(d) if (from_logits and i == len(steps) - 1) else step.backward(d)
                record(step, "bwd", time.perf_counter() - t)
            a = x   # inference as predict runs it: the steps of the inference plan
            for step in minidl.inference.plan(m.layers):
                t = time.perf_counter()
                a = minidl.inference.run([step], a)
                record(step, "infer", time.perf_counter() - t)
    return [(lname, {k: 1e3 * statistics.median(v) for k, v in r.items()}) for lname, r in rows.items()]


def _print_workload(name, jit, r):
    labels = {"fit": "fit (1 epoch)", "tob": "train_on_batch loop", "infer": "inference"}
    print(f"{name} (keras jit_compile={jit}), samples/s:", flush=True)
    for mode in MODES:
        peers = "; ".join(f"{lib} {r[f'{mode}_{lib}']:.0f} (×{r[f'{mode}_ratio_{lib}']:.2f})"
                          for lib in ("keras", "torch") if f"{mode}_{lib}" in r)
        print(f"  {labels[mode]:20s} minidl {r[f'{mode}_minidl']:.0f}; {peers}", flush=True)


#: the issue's targets: every ratio against a peer, and each conv layer's rate as a share of the run's sgemm
TARGET_RATIO = 2.0
TARGET_CONV_SHARE = 0.6
TARGET_WARM_START_S = 3.0


def summary(results) -> list[str]:
    """The run against the targets, as markdown lines: a table of the ratios (workload × path × peer, ``*``
    where below :data:`TARGET_RATIO`), the conv layers' share of the run's median sgemm rate and the warm
    start-up, then one line per missed target saying by how much."""
    labels = {"fit": "`fit`", "tob": "`train_on_batch`", "infer": "inference"}
    peers = [lib for lib in ("keras", "torch") if any(f"fit_{lib}" in w for w in results["workloads"])]
    lines = ["| workload | peer | " + " | ".join(labels[m] for m in MODES) + " |",
             "|---|---|" + "---|" * len(MODES)]
    missed = []
    for w in results["workloads"]:
        for lib in peers:
            cells = []
            for mode in MODES:
                ratio = w[f"{mode}_ratio_{lib}"]
                cells.append(f"{ratio:.2f}×" + ("" if ratio >= TARGET_RATIO else " *"))
                if ratio < TARGET_RATIO:
                    missed.append(f"{w['workload']} {labels[mode]} vs {lib} (jit_compile={w['keras_jit_compile']}): "
                                  f"{ratio:.2f}×, "
                                  f"{TARGET_RATIO / ratio:.2f}× short")
            name = w["workload"] if w["keras_jit_compile"] == "auto" else f"{w['workload']} (jit_compile={w['keras_jit_compile']})"
            lines.append(f"| {name} | {lib} | " + " | ".join(cells) + " |")
    sgemm = statistics.median(results["sgemm_gflops"]) if results["sgemm_gflops"] else None
    memory = statistics.median(results["memory_gbs"]) if results.get("memory_gbs") else None
    for name, layers in results["conv_gflops"].items():
        for lname, shape, g, *intensity in layers:
            share = g / sgemm if sgemm else float("nan")
            line = f"- {name} {lname} on {tuple(shape)}: {g:.0f} GFLOP/s = {share:.0%} of the run's median sgemm ({sgemm:.0f})"
            ceiling = intensity[0] * memory if intensity and memory else None
            bound = ""
            if ceiling is not None and ceiling >= sgemm:
                line += f"; memory-bound ceiling {ceiling:.0f} GFLOP/s, above sgemm"
            elif ceiling is not None:
                line += f"; memory-bound ceiling {ceiling:.0f} GFLOP/s ({ceiling / sgemm:.0%} of sgemm), reached {g / ceiling:.0%}"
                if ceiling < TARGET_CONV_SHARE * sgemm:
                    bound = f" (memory-bound: its ceiling at {memory:.0f} GB/s is {ceiling / sgemm:.0%} of sgemm)"
            lines.append(line)
            if share < TARGET_CONV_SHARE:
                missed.append(f"{name} {lname}: {share:.0%} of sgemm, {TARGET_CONV_SHARE / share:.1f}× short of "
                              f"{TARGET_CONV_SHARE:.0%}{bound}")
    for name, r in results["startup"].items():
        warm = r["warm"]["first_step_s"] + r["warm"]["import_build_s"]
        lines.append(f"- {name} warm start (import, build, first step): {warm:.1f} s; cold-cache JIT "
                     f"{r['cold']['jit_s']:.1f} s")
        if warm >= TARGET_WARM_START_S:
            missed.append(f"{name} warm start {warm:.1f} s (target < {TARGET_WARM_START_S:.0f} s)")
    lines.append("missed: " + ("; ".join(missed) if missed else "none") + f" (target ≥ {TARGET_RATIO:.0f}× on "
                 f"every row, ≥ {TARGET_CONV_SHARE:.0%} of sgemm per conv layer)")
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", default=list(WORKLOADS), help="workloads to run (R0 R1 R2)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--keras-jit", default="auto", choices=["auto", "false", "both"],
                    help="Keras compile(jit_compile=...): 'auto' is Keras's default (XLA where supported)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply the number of timed samples (use < 1 on a busy machine)")
    ap.add_argument("--no-startup", action="store_true", help="skip the cold/warm start-up measurement")
    ap.add_argument("--no-torch", action="store_true", help="leave PyTorch out (the second peer)")
    ap.add_argument("--profile", action="store_true", help="also print minidl's per-layer time of R0/R1")
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
    torch = None
    if not args.no_torch:
        # PyTorch's default wheel brings triton (its GPU kernel compiler); loaded next to TensorFlow in one
        # process it crashes (both carry LLVM). The CPU runs here never need it: make ``import triton`` fail.
        sys.modules.setdefault("triton", None)
        import torch
        torch.set_num_threads(THREADS)

    info = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": _cpu(), "python": platform.python_version(),
            "numpy": np.__version__, "numba": __import__("numba").__version__, "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "torch": torch.__version__ if torch is not None else None, "threads": threads.thread_info(), "blas": _blas(),
            "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_WAIT_POLICY")}}
    print(json.dumps(info, indent=1))
    results = {"info": info, "workloads": [], "sgemm_gflops": [], "memory_gbs": [], "conv_gflops": {},
               "startup": {}}
    jits = {"auto": ["auto"], "false": [False], "both": ["auto", False]}[args.keras_jit]
    for name in args.only:
        for jit in jits:
            results["sgemm_gflops"].append(sgemm_gflops())
            r = bench_workload(name, args.repeats, minidl, keras, torch, jit)
            results["workloads"].append(r)
            _print_workload(name, jit, r)
        if name in ("R0", "R1"):
            results["sgemm_gflops"].append(sgemm_gflops())
            results["conv_gflops"][name] = conv_gflops(minidl, name, WORKLOADS[name][1], args.repeats)
            results["memory_gbs"].append(memory_gbs())
            for lname, shape, g, intensity in results["conv_gflops"][name]:
                print(f"  {name} {lname} on {shape}: {g:.1f} GFLOP/s (fwd+bwd); memory-bound ceiling "
                      f"{intensity * results['memory_gbs'][-1]:.0f} GFLOP/s ({intensity:.1f} FLOP per byte moved at "
                      f"least, at {results['memory_gbs'][-1]:.1f} GB/s)", flush=True)
        if args.profile and name in ("R0", "R1"):
            results.setdefault("profile", {})[name] = prof = layer_profile(minidl, name, args.repeats)
            print(f"  {name} per layer, ms per batch (train fwd / bwd; inference fwd; a fused block on its "
                  f"first layer):", flush=True)
            for lname, ms in prof:
                print(f"    {lname:24s} {ms['fwd']:7.1f} {ms['bwd']:7.1f} {ms['infer']:7.1f}", flush=True)
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
    print("\nAgainst the targets (* = below the target):", flush=True)
    print("\n".join(summary(results)), flush=True)
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
