"""TASKS.md T1 with ABC: mosquito isolation vs isolation-with-migration, R-abc-style cross-validation.

What it does
------------
1. Simulates ``--n-per-model`` replicates of each T1 model (TASKS.md: N_GN = 75,000, N_BF = 150,000,
   N_ANC = 50,000 diploids, scaled by k = 10; T_split ~ uniform integer 200..399; symmetric migration 0.1
   from the present back to the split in "IM", none in "isolation"; μ = 3.5e-8, r = 1.45e-7 per bp per
   generation; L = 150,000 bp; 41 GN and 99 BF diploid samples = 82 + 198 haplotypes; biallelic sites),
   plus ``--n-test`` replicates per model with other seeds as an independent test set.
   The demography comes from ``popsim.sim.scenarios`` (``mosquito_isolation``, ``mosquito_im``); msprime runs in
   a process pool of ``--workers``. Statistics are cached in ``--cache`` (an .npz under /tmp; never committed).
2. Computes the statistics with ``popsim.features.stats`` (the 8 T1 statistics are the ``"t1"`` preset: tskit Fst,
   dxy, and S, π, Tajima's D of each population, per bp).
3. Model choice: ``cv4postpr`` (leave-one-out, ``--nval`` per model, tol 0.05, rejection and mnlogistic),
   and the accuracy on the independent test set.
4. T_split: ``cv4abc`` prediction error with ABC rejection on Fst + S_GN + S_BF (as published) and with the 8
   statistics, per model and pooled, plus the error on the independent test set.

Seeds: every msprime seed and every T_split draw comes from ``numpy.random.SeedSequence(--seed)``; the test
set uses ``--seed + 1``; cross-validation samples use ``--cv-seed``.

Run (about 15 min on 2 free cores)::

    python benchmarks/t1_abc.py --n-per-model 1000 --n-test 100 --workers 2 --seed 2026 \
        --cache /tmp/t1_abc_stats.npz --report benchmarks/T1_ABC.md
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one BLAS thread per worker: the pool provides parallelism

import msprime  # noqa: E402
import numpy as np  # noqa: E402

from popsim.inference import abc as A  # noqa: E402
from popsim.features import stats as S  # noqa: E402
from popsim.sim.scenarios import get_scenario  # noqa: E402

MODELS = ("mosquito_isolation", "mosquito_im")
SAMPLES = {"GN": 41, "BF": 99}           # diploid individuals (82 + 198 haplotypes)
SEQUENCE_LENGTH = 150_000                 # bp
MUTATION_RATE = 3.5e-8                    # per bp per generation
RECOMBINATION_RATE = 1.45e-7              # per bp per generation
T1_STATS = ["fst_tskit_GN_BF", "dxy_GN_BF", "S_GN", "S_BF", "pi_GN", "pi_BF", "tajimas_d_GN", "tajimas_d_BF"]
TSPLIT_STATS = ["fst_tskit_GN_BF", "S_GN", "S_BF"]


def seeds_for(master_seed: int, n: int) -> np.ndarray:
    """(n, 3) uint32 seeds per replicate: ancestry, mutations, T_split draw; msprime needs 1..2**32-1."""
    state = np.random.SeedSequence(master_seed).generate_state(3 * n, dtype=np.uint32).reshape(n, 3)
    return (state.astype(np.uint64) % (2**32 - 1) + 1).astype(np.int64)


def simulate_one(job):
    """One replicate: draw T_split, simulate, return the statistics (all of the 'default' preset)."""
    model, seeds = job
    scenario = get_scenario(model)
    params = scenario.reference_params()
    # T_split ~ uniform integer 200..399 (TASKS.md); the other parameters are fixed.
    params["T_split"] = int(np.random.default_rng(int(seeds[2])).integers(200, 400))
    ts = msprime.sim_ancestry(SAMPLES, demography=scenario.demography(params),
                              sequence_length=SEQUENCE_LENGTH, recombination_rate=RECOMBINATION_RATE,
                              random_seed=int(seeds[0]))
    ts = msprime.sim_mutations(ts, rate=MUTATION_RATE, random_seed=int(seeds[1]),
                               model=msprime.BinaryMutationModel())
    g, _, pops = S.from_tree_sequence(ts)
    d = S.compute_statistics(g, SEQUENCE_LENGTH, pops, statistics="default")
    return params["T_split"], list(d), list(d.values()), g.shape[0]


def simulate(n_per_model: int, master_seed: int, workers: int, label: str, checkpoint: str | None = None):
    """Simulate n_per_model replicates of each model.

    Models alternate row by row (isolation, IM, isolation, ...), so any prefix of the run is balanced; results
    are checkpointed every 100 replicates to ``checkpoint`` and a rerun resumes from there.
    """
    n_total = n_per_model * len(MODELS)
    seeds = seeds_for(master_seed, n_total)
    jobs = [(MODELS[i % len(MODELS)], seeds[i]) for i in range(n_total)]
    out = []
    if checkpoint and os.path.exists(checkpoint):
        with np.load(checkpoint, allow_pickle=False) as z:
            if np.array_equal(z["seeds"], seeds[: len(z["seeds"])]):
                names = z["names"].tolist()
                out = [(t, names, list(v), int(n)) for t, v, n in zip(z["T_split"], z["values"], z["n_sites"])]
                print(f"[{label}] resuming after {len(out)} replicates from {checkpoint}", flush=True)

    def save_checkpoint():
        if checkpoint and out:
            np.savez(checkpoint + ".tmp.npz", names=np.array(out[0][1]), values=np.array([r[2] for r in out]),
                     T_split=np.array([r[0] for r in out], dtype=np.float64),
                     n_sites=np.array([r[3] for r in out]), seeds=seeds[: len(out)])
            os.replace(checkpoint + ".tmp.npz", checkpoint)

    start, done_before = time.time(), len(out)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for k, res in enumerate(pool.map(simulate_one, jobs[done_before:], chunksize=2), done_before + 1):
            out.append(res)
            if k % 100 == 0 or k == len(jobs):
                el = time.time() - start
                print(f"[{label}] {k}/{len(jobs)} replicates, {el:.0f} s ({(k - done_before) / el:.2f} rep/s)",
                      flush=True)
                save_checkpoint()
    names = out[0][1]
    return {
        "names": np.array(names),
        "values": np.array([r[2] for r in out], dtype=np.float64),
        "T_split": np.array([r[0] for r in out], dtype=np.float64),
        "model": np.array([j[0] for j in jobs]),
        "n_sites": np.array([r[3] for r in out]),
        "seeds": seeds,
        "seconds": np.array(time.time() - start),
    }


def load_partial(args):
    """The replicates finished so far (checkpoints of an unfinished run), for a report under time pressure.

    Models alternate row by row, so the first 2k finished replicates hold k of each model.
    """
    data = {}
    for label, n, seed in (("train", args.n_per_model, args.seed), ("test", args.n_test, args.seed + 1)):
        path = (args.cache or "/tmp/t1_abc") + f".{label}.partial.npz"
        if not n or not os.path.exists(path):
            continue
        with np.load(path, allow_pickle=False) as z:
            done = (len(z["T_split"]) // len(MODELS)) * len(MODELS)
            data.update({f"{label}_names": z["names"], f"{label}_values": z["values"][:done],
                         f"{label}_T_split": z["T_split"][:done], f"{label}_n_sites": z["n_sites"][:done],
                         f"{label}_seeds": z["seeds"][:done], f"{label}_seconds": np.array(float("nan")),
                         f"{label}_model": np.array([MODELS[i % len(MODELS)] for i in range(done)])})
        print(f"[{label}] using {done} finished replicates ({done // len(MODELS)} per model) from {path}")
    args.n_per_model = len(data["train_T_split"]) // len(MODELS)
    args.n_test = len(data["test_T_split"]) // len(MODELS) if "test_T_split" in data else 0
    return data


def load_or_simulate(args):
    if args.partial:
        return load_partial(args)
    if args.cache and os.path.exists(args.cache):
        with np.load(args.cache, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        meta_ok = (int(data["n_per_model"]) == args.n_per_model and int(data["n_test"]) == args.n_test
                   and int(data["seed"]) == args.seed)
        if meta_ok:
            print(f"using cached statistics {args.cache}")
            return data
        print(f"cache {args.cache} was made with other settings; simulating again")
    part = (args.cache or "/tmp/t1_abc") + ".{}.partial.npz"
    train = simulate(args.n_per_model, args.seed, args.workers, "train", part.format("train"))
    data = {"train_" + k: v for k, v in train.items()}
    if args.n_test:
        test = simulate(args.n_test, args.seed + 1, args.workers, "test", part.format("test"))
        data.update({"test_" + k: v for k, v in test.items()})
    data.update(n_per_model=np.array(args.n_per_model), n_test=np.array(args.n_test), seed=np.array(args.seed))
    if args.cache:
        np.savez(args.cache, **data)
    return data


def columns(data, prefix, names):
    all_names = data[prefix + "names"].tolist()
    return data[prefix + "values"][:, [all_names.index(n) for n in names]]


def fmt_cm(cm, models):
    short = [m.replace("mosquito_", "") for m in models]
    rows = ["| true \\ estimated | " + " | ".join(short) + " |", "|---|" + "---|" * len(short)]
    rows += [f"| {short[i]} | " + " | ".join(str(v) for v in cm[i]) + " |" for i in range(len(short))]
    return "\n".join(rows)


def analyse(data, args):
    lines = []
    say = lines.append
    idx = data["train_model"]
    X8 = columns(data, "train_", T1_STATS)
    T = data["train_T_split"]
    finite = np.all(np.isfinite(X8), axis=1)
    say(f"Reference table: {X8.shape[0]} simulations ({args.n_per_model} per model), "
        f"{int((~finite).sum())} with a non-finite statistic; mean sites per replicate "
        f"{data['train_n_sites'].mean():.0f}"
        + (f"; simulation time {float(data['train_seconds']):.0f} s with {args.workers} workers."
           if np.isfinite(float(data["train_seconds"])) else
           " (PARTIAL: the replicates an unfinished run had checkpointed; see --partial)."))
    say("")

    # --- model choice: leave-one-out cross-validation as R's cv4postpr ---------------------------------
    say(f"### Model choice, 8 statistics, tol {args.tol}, cv4postpr with {args.nval} per model (seed {args.cv_seed})")
    say("")
    results = {}
    for method in ("rejection", "mnlogistic"):
        t0 = time.time()
        cv = A.cv4postpr(idx, X8, args.nval, args.tol, method=method, seed=args.cv_seed, nan_policy="omit")
        results[method] = cv
        say(f"**{method}**: accuracy **{100 * cv.accuracy:.1f} %** ({time.time() - t0:.1f} s)")
        say("")
        say(fmt_cm(cv.confusion, cv.models))
        say("")
        if args.plots:
            from popsim.inference import plots as abc_plot
            abc_plot.plot_confusion_matrix(cv, os.path.join(args.plots, f"t1_confusion_{method}.png"))

    # --- model choice on the independent test set ----------------------------------------------------------
    if args.n_test:
        Xt = columns(data, "test_", T1_STATS)
        it = data["test_model"]
        say(f"### Model choice on the independent test set ({args.n_test} per model, seed {args.seed + 1}), "
            f"reference = the {X8.shape[0]} training simulations, tol {args.tol}")
        say("")
        for method in ("rejection", "mnlogistic"):
            pred = []
            for x in Xt:
                if not np.all(np.isfinite(x)):
                    pred.append("nan")
                    continue
                import warnings
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    pred.append(A.postpr(x, idx, X8, args.tol, method=method, nan_policy="omit").predicted)
            pred = np.array(pred)
            models = sorted(MODELS)
            cm = A.confusion_matrix(it[pred != "nan"], pred[pred != "nan"], models)
            say(f"**{method}**: test accuracy **{100 * np.trace(cm) / cm.sum():.1f} %**")
            say("")
            say(fmt_cm(cm, models))
            say("")

    # --- T_split: prediction error -------------------------------------------------------------------------
    say(f"### T_split prediction error (R definition Σ(θ̂−θ)²/(n·var θ)), cv4abc nval {args.nval_abc}, "
        f"tol {args.tol}, posterior median, seed {args.cv_seed}")
    say("")
    say("| reference table | statistics | method | cv4abc prediction error | test-set prediction error |")
    say("|---|---|---|---|---|")
    for subset_name, mask in [("both models pooled", np.ones(len(idx), bool)),
                              ("isolation only", idx == "mosquito_isolation"),
                              ("IM only", idx == "mosquito_im")]:
        for stat_label, names in [("Fst + S_GN + S_BF", TSPLIT_STATS), ("8 statistics", T1_STATS)]:
            X = columns(data, "train_", names)[mask]
            th = T[mask]
            for method in ("rejection", "loclinear"):
                cv = A.cv4abc(th, X, args.nval_abc, args.tol, method=method, seed=args.cv_seed,
                              nan_policy="omit")
                test_err = "—"
                if args.n_test:
                    tmask = np.ones(len(data["test_model"]), bool) if subset_name.startswith("both") else \
                        data["test_model"] == ("mosquito_isolation" if "isolation" in subset_name else "mosquito_im")
                    Xt = columns(data, "test_", names)[tmask]
                    tt = data["test_T_split"][tmask]
                    ok = np.all(np.isfinite(Xt), axis=1)
                    est = np.array([A.abc(x, th, X, args.tol, method=method, nan_policy="omit").estimate()[0]
                                    for x in Xt[ok]])
                    test_err = f"{A.prediction_error(est, tt[ok])[0]:.3f}"
                say(f"| {subset_name} | {stat_label} | {method} | {cv.prediction_error[0]:.3f} | {test_err} |")
    say("")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-per-model", type=int, default=1000)
    p.add_argument("--n-test", type=int, default=100)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--cv-seed", type=int, default=1)
    p.add_argument("--tol", type=float, default=0.05)
    p.add_argument("--nval", type=int, default=100, help="cv4postpr pseudo-observed sets per model")
    p.add_argument("--nval-abc", type=int, default=100, help="cv4abc pseudo-observed sets")
    p.add_argument("--cache", default="/tmp/t1_abc_stats.npz")
    p.add_argument("--plots", default=None, help="folder for confusion-matrix PNGs (e.g. /tmp/t1_plots)")
    p.add_argument("--report", default=None, help="write the markdown report here")
    p.add_argument("--partial", action="store_true",
                   help="analyse only the replicates an unfinished run has checkpointed so far (no simulation)")
    args = p.parse_args(argv)
    data = load_or_simulate(args)
    body = analyse(data, args)
    command = "python benchmarks/t1_abc.py " + " ".join(sys.argv[1:] if argv is None else argv)
    header = (f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
              f"msprime {msprime.__version__}, NumPy {np.__version__}. Date: "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n\nCommand: `{command}`\n")
    print(header)
    print(body)
    if args.report:
        with open(args.report, "w") as fh:
            fh.write("# T1 (mosquito isolation vs IM) with ABC — measured\n\n" + header + "\n" + body + "\n")


if __name__ == "__main__":
    main()
