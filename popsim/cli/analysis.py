"""``popsim stats`` and ``popsim abc``: summary statistics of a dataset, and ABC on them.

    popsim stats DATASET [--statistics t1] [-o stats.npz] [--csv stats.csv]
    popsim abc --train TRAIN --target TARGET --tol 0.05 [--param T_split] [--method loclinear] [--cv 100]

``DATASET`` is a dataset directory written by ``popsim simulate --keep-genotypes`` (``popsim.sim.dataset``).
``TRAIN`` and ``TARGET`` are either such a directory or a statistics file written by ``popsim stats``
(``.npz``); ``TARGET`` may also be a comma-separated list of numbers (one per statistic, in the order of the
chosen statistics). With several scenarios in ``TRAIN`` the posterior model probabilities are printed; for
every ``--param`` the posterior of that parameter. ``--cv N`` adds the cross-validation (confusion matrix
with N pseudo-observed sets per model; prediction error with N sets).

``popsim stats`` computes the statistics chunk by chunk and writes them into the dataset
(``DATASET/derived/``, see ``popsim.sim.dataset``; a second run with the same statistics reads them back, an
interrupted one resumes), then streams the ``.npz`` (and CSV) from there one chunk at a time: its memory does
not grow with the number of replicates.

Statistics files (``.npz``): ``names`` (statistics), ``values`` (replicates × statistics), ``labels``
(scenario index per replicate), ``scenario_names``, ``params`` (replicates × parameters, NaN where a scenario
lacks a parameter), ``parameter_names``, ``per_bp``.

This module exposes ``add_parser(subparsers)`` for ``popsim.cli.main`` (and ``add_stats_parser`` /
``add_abc_parser`` for the two subcommands separately).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from popsim.cli.common import (CommandError, check_output_file, check_output_folder, fraction, non_negative_int,
                               positive_int)

__all__ = ["add_parser", "add_stats_parser", "add_abc_parser", "run_stats", "run_abc", "load_statistics",
           "select_columns", "dataset_statistics", "write_npz"]


def _statistics_arg(text: str):
    """A preset name (``t1``, ``default``) or a comma-separated list of statistic keys."""
    from popsim.features.stats import PRESETS

    if text in PRESETS:
        return text
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if not keys:
        raise argparse.ArgumentTypeError(f"expected a preset ({', '.join(PRESETS)}) or comma-separated statistic "
                                         f"keys; got {text!r}")
    return keys


def dataset_statistics(path, statistics="default", per_bp=True) -> dict:
    """Statistics of every replicate of a dataset directory (:meth:`popsim.sim.dataset.Dataset.statistics_table`),
    as the dict a statistics file stores."""
    from popsim.sim.dataset import Dataset  # imported lazily: only needed for dataset directories

    ds = Dataset(path)
    table = ds.statistics_table(statistics, per_bp=per_bp)
    return {
        "names": np.array(table.names), "values": table.values,
        "labels": np.array(ds.labels), "scenario_names": np.array(ds.scenario_names),
        "params": np.array(ds.params, dtype=np.float64), "parameter_names": np.array(ds.parameter_names),
        "populations": np.array(ds.population_names), "per_bp": np.array(per_bp),
    }


def load_statistics(path, statistics="default") -> dict:
    """Read a statistics ``.npz`` (from ``popsim stats``) or compute one from a dataset directory."""
    path = Path(path)
    if path.is_dir():
        return dataset_statistics(path, statistics)
    if not path.exists():
        raise FileNotFoundError(f"{str(path)!r} is neither a dataset directory nor a statistics .npz file")
    from popsim.features.stats import read_npz

    data = read_npz(path, "statistics file", required=("names", "values", "labels", "scenario_names"))
    if statistics is not None:
        data = select_columns(data, statistics)
    return data


def select_columns(data: dict, statistics) -> dict:
    """Keep the columns of a statistics file that the preset or keys ``statistics`` produce, in that order."""
    from itertools import combinations

    from popsim.features.stats import STATISTICS, _expand, column_key

    names = data["names"].tolist()
    pops = data["populations"].tolist() if "populations" in data else []
    wanted = []
    for key in _expand(statistics):
        if key in ("sfs", "sfs_folded", "sfs_pop", "sfs_folded_pop", "jsfs", "jsfs_folded"):
            cols = [n for n in names if column_key(n) == key]  # spectra: as many columns as bins
        elif key in STATISTICS["pop"]:
            cols = [f"{key[:-4]}_{p}" for p in pops]
        elif key in STATISTICS["pair"]:
            cols = [f"{key}_{a}_{b}" for a, b in combinations(pops, 2)]
        else:
            cols = [key]
        missing = [c for c in cols if c not in names]
        if missing or not cols:
            raise ValueError(f"statistics expected columns present in the file ({names}); "
                             f"{key!r} needs {missing or 'population names'}")
        wanted += [c for c in cols if c not in wanted]
    idx = [names.index(n) for n in wanted]
    return {**data, "names": np.array(wanted), "values": data["values"][:, idx]}


# ----------------------------------------------------------------------------------------------
# popsim stats
# ----------------------------------------------------------------------------------------------

def write_npz(path, members: dict) -> None:
    """Write a ``.npz`` (as ``numpy.savez``, uncompressed) whose large members are streamed block by block.

    ``members`` maps a name to an array, or to ``(shape, dtype, blocks)`` where ``blocks()`` yields C-ordered
    row blocks that together fill ``shape`` — so an array larger than memory can be written."""
    import zipfile

    from numpy.lib import format as npy

    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, value in members.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as handle:
                if isinstance(value, np.ndarray):
                    npy.write_array(handle, value, allow_pickle=False)
                    continue
                shape, dtype, blocks = value
                dtype = np.dtype(dtype)
                npy.write_array_header_2_0(handle, {"descr": npy.dtype_to_descr(dtype), "fortran_order": False,
                                                    "shape": tuple(int(d) for d in shape)})
                rows = 0
                for block in blocks():
                    block = np.ascontiguousarray(block, dtype=dtype)
                    handle.write(block.tobytes())
                    rows += len(block)
                if rows != shape[0]:
                    raise ValueError(f"member {name!r} received {rows} rows; expected {shape[0]}")


def run_stats(args) -> int:
    """Statistics of every replicate written into the store chunk by chunk, then streamed to the ``.npz``
    (and CSV) one chunk at a time, with running per-scenario means: memory stays at a few chunks."""
    from popsim.sim.dataset import Dataset, limit_malloc_arenas

    limit_malloc_arenas(1)  # this process streams chunks: keep freed chunk buffers from piling up per thread
    if os.path.exists(args.dataset) and not os.path.isdir(args.dataset):
        raise CommandError(f"dataset {args.dataset!r} is a file; expected a dataset directory (popsim simulate -o)")
    out = check_output_file(args.output or os.path.join(args.dataset, "statistics.npz"), "-o/--output")
    if not str(out).endswith(".npz"):  # as numpy.savez names it
        out = out.with_name(out.name + ".npz")
    if args.csv:
        check_output_file(args.csv, "--csv")
    per_bp = not args.per_locus
    ds = Dataset(args.dataset)
    names = ds.write_statistics(args.statistics, per_bp=per_bp)
    n, k, n_scenarios = len(ds), len(names), len(ds.scenario_names)
    sums, counts = np.zeros((n_scenarios, k)), np.zeros((n_scenarios, k))
    csv = open(args.csv, "w") if args.csv else None

    def values():  # also writes the CSV rows and accumulates the per-scenario means, in the same pass
        labels = (block["label"] for _, block in ds.chunk_blocks(["label"]))
        for (positions, block), label in zip(ds.statistics_blocks(args.statistics, per_bp, compute=False)[1], labels):
            finite = ~np.isnan(block)
            np.add.at(sums, label, np.where(finite, block, 0.0))
            np.add.at(counts, label, finite)
            if csv is not None:
                csv.writelines(f"{i},{ds.scenario_names[lab]}," + ",".join(f"{v:.10g}" for v in row) + "\n"
                               for i, lab, row in zip(positions.tolist(), label.tolist(), block))
            yield block

    try:
        if csv is not None:
            csv.write("replicate,scenario," + ",".join(names) + "\n")
        write_npz(out, {
            "names": np.array(names),
            "values": ((n, k), np.float64, values),
            "labels": ((n,), np.int64, lambda: (b["label"] for _, b in ds.chunk_blocks(["label"]))),
            "scenario_names": np.array(ds.scenario_names),
            "params": ((n, len(ds.parameter_names)), np.float64,
                       lambda: (b["params"] for _, b in ds.chunk_blocks(["params"]))),
            "parameter_names": np.array(ds.parameter_names),
            "populations": np.array(ds.population_names),
            "per_bp": np.array(per_bp),
        })
    finally:
        if csv is not None:
            csv.close()
    # A short summary: the mean of each statistic per scenario.
    print(f"{n} replicates × {k} statistics ({'per bp' if per_bp else 'per locus'}) → {out}")
    width = max(len(name) for name in names)
    print(" " * width + "  " + "  ".join(f"{s:>14}" for s in ds.scenario_names))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    for j, name in enumerate(names):
        print(f"{name:>{width}}  " + "  ".join(f"{m:14.6g}" for m in means[:, j]))
    return 0


def add_stats_parser(subparsers):
    parser = subparsers.add_parser(
        "stats", help="summary statistics of every replicate of a dataset",
        description="Compute summary statistics (popsim.features.stats; tskit definitions) of every replicate of a dataset "
                    "simulated with --keep-genotypes, chunk by chunk into the dataset (DATASET/derived/, reused by "
                    "later runs), and save them to a .npz (and optionally a CSV).")
    parser.add_argument("dataset", help="dataset directory (popsim simulate --keep-genotypes)")
    parser.add_argument("--statistics", type=_statistics_arg, default="default",
                        help="preset 't1' or 'default', or comma-separated keys such as S,pi,pi_pop,dxy,fst_hudson "
                             "(default: %(default)s)")
    parser.add_argument("--per-locus", action="store_true",
                        help="totals per locus instead of per bp (tskit span_normalise=False)")
    parser.add_argument("-o", "--output", help="statistics file (.npz); default DATASET/statistics.npz")
    parser.add_argument("--csv", help="also write a CSV table here")
    parser.set_defaults(func=run_stats)
    return parser


# ----------------------------------------------------------------------------------------------
# popsim abc
# ----------------------------------------------------------------------------------------------

def _targets(text: str, statistics, names) -> tuple[np.ndarray, np.ndarray | None, dict | None]:
    """Target rows: from a file/dataset (all rows) or a comma-separated list of numbers."""
    if os.path.exists(text):
        data = load_statistics(text, statistics)
        if data["names"].tolist() != list(names):
            raise ValueError(f"--target statistics {data['names'].tolist()} differ from --train statistics {list(names)}")
        return data["values"], data.get("labels"), data
    try:
        values = np.array([float(v) for v in text.split(",")])
    except ValueError:
        raise ValueError(f"--target expected a statistics file, a dataset or comma-separated numbers; got {text!r}") from None
    return values[None, :], None, None


def run_abc(args) -> int:
    from popsim.inference import abc as A

    if args.plots:
        check_output_folder(args.plots, "--plots")
    train = load_statistics(args.train, args.statistics)
    names = train["names"].tolist()
    sumstat, labels = train["values"], train["labels"]
    scenarios = train["scenario_names"].tolist()
    if not names:
        raise CommandError("the reference table has no statistics; choose some with --statistics")
    parameter_names = train["parameter_names"].tolist()
    unknown = [p for p in args.param if p not in parameter_names]
    if unknown:
        raise CommandError(f"--param {', '.join(unknown)}: not a parameter of the reference table; expected one of "
                           f"{parameter_names}")
    targets, target_labels, target_data = _targets(args.target, args.statistics, names)
    target_scenarios = (target_data["scenario_names"].tolist() if target_data is not None
                        and "scenario_names" in target_data else scenarios)
    rows = np.arange(len(targets))
    if args.target_row is not None:
        if not 0 <= args.target_row < len(targets):
            raise CommandError(f"--target-row {args.target_row} is not a row of --target, which has {len(targets)} "
                               f"row(s): expected 0..{len(targets) - 1}")
        rows = rows[[args.target_row]]
    index = np.array([scenarios[k] for k in labels])
    print(f"reference table: {len(sumstat)} simulations, statistics {names}; tol {args.tol} "
          f"→ {int(np.ceil(len(sumstat) * args.tol))} accepted")
    for row in rows[: args.max_targets]:
        target = targets[row]
        truth = f" (true scenario {target_scenarios[target_labels[row]]})" if target_labels is not None else ""
        head = f"target {row}{truth}"
        print(f"\n== {head}")
        if len(scenarios) > 1:
            res = A.postpr(target, index, sumstat, args.tol, method=args.model_method, nan_policy="omit")
            for m, p in zip(res.models, res.probs):
                print(f"  P({m}) = {p:.3f}")
        for pname in args.param:
            j = parameter_names.index(pname)
            theta = train["params"][:, j]
            have = np.isfinite(theta)
            res = A.abc(target, theta[have], sumstat[have], args.tol, method=args.method, nan_policy="omit")
            s = res.summary(0.95)
            print(f"  {pname}: median {s['median'][0]:.4g}, mean {s['mean'][0]:.4g}, "
                  f"95 % interval [{s['lower'][0]:.4g}, {s['upper'][0]:.4g}] ({args.method})")
            if args.plots:
                from popsim.inference.plots import plot_distance_histogram, plot_prior_posterior
                plot_prior_posterior(res, theta[have], Path(args.plots) / f"posterior_{pname}_{row}.png")
                plot_distance_histogram(res, Path(args.plots) / f"distances_{pname}_{row}.png")
    if args.cv:
        if len(scenarios) > 1:
            cv = A.cv4postpr(index, sumstat, args.cv, args.tol, method=args.model_method, seed=args.seed,
                             nan_policy="omit")
            print(f"\ncross-validation ({args.cv} per model, {args.model_method}): accuracy {100 * cv.accuracy:.1f} %")
            print("confusion matrix (rows true, columns estimated):", cv.models)
            print(cv.confusion)
            if args.plots:
                from popsim.inference.plots import plot_confusion_matrix
                plot_confusion_matrix(cv, Path(args.plots) / "confusion.png")
        for pname in args.param:
            j = parameter_names.index(pname)
            theta = train["params"][:, j]
            have = np.isfinite(theta)
            cv = A.cv4abc(theta[have], sumstat[have], args.cv, args.tol, method=args.method, seed=args.seed,
                          nan_policy="omit")
            print(f"prediction error of {pname} ({args.cv} sets, posterior median): {cv.prediction_error[0]:.3f}")
    return 0


def add_abc_parser(subparsers):
    parser = subparsers.add_parser(
        "abc", help="ABC model choice and parameter inference (R abc semantics)",
        description="Approximate Bayesian computation on summary statistics: MAD scaling, Euclidean distance, "
                    "keep the ceil(n·tol) closest simulations; posterior model probabilities, parameter "
                    "posteriors and cross-validation (popsim.inference.abc).")
    parser.add_argument("--train", required=True, help="reference table: dataset directory or statistics .npz")
    parser.add_argument("--target", required=True,
                        help="observed statistics: dataset directory, statistics .npz, or comma-separated numbers")
    parser.add_argument("--target-row", type=non_negative_int, default=None, help="use only this row of --target")
    parser.add_argument("--max-targets", type=positive_int, default=5, help="print at most this many targets (default 5)")
    parser.add_argument("--statistics", type=_statistics_arg, default="t1",
                        help="preset ('t1', 'default') or comma-separated keys (default: %(default)s)")
    parser.add_argument("--tol", type=fraction, default=0.05, help="fraction of simulations kept (default 0.05)")
    parser.add_argument("--param", action="append", default=[], help="parameter to infer (repeatable)")
    parser.add_argument("--method", choices=["rejection", "loclinear"], default="rejection",
                        help="parameter posterior (default rejection)")
    parser.add_argument("--model-method", choices=["rejection", "mnlogistic"], default="rejection",
                        help="posterior model probabilities (default rejection)")
    parser.add_argument("--cv", type=non_negative_int, default=0, help="cross-validation with N pseudo-observed sets")
    parser.add_argument("--seed", type=int, default=1, help="seed of the cross-validation samples")
    parser.add_argument("--plots", help="folder for PNG figures")
    parser.set_defaults(func=run_abc)
    return parser


def add_parser(subparsers):
    """Register ``popsim stats`` and ``popsim abc`` (the hook ``popsim.cli.main`` calls)."""
    add_stats_parser(subparsers)
    add_abc_parser(subparsers)
