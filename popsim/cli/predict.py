"""``popsim predict``: apply a model bundle to a VCF, window by window.

    popsim predict MODEL.npz DATA.vcf[.gz] --pops POPS.tsv [--region chr:a-b]
                   [--window-bp N | --window-snps N] [--ref-is-ancestral | --ancestral-allele AA]
                   [--subsample --seed S] [-o OUTDIR]

``MODEL.npz`` is a bundle written by ``popsim.realdata.bundle.ModelBundle.save`` (network + image transform or
statistics scaler + class/target names + calibration + scenario metadata). ``POPS.tsv`` assigns VCF samples to
the populations of the simulations (two columns: sample, population; see ``popsim.realdata.vcf.read_populations``).

The chromosome (or region) is cut into windows of the simulated region length (default) or of N consecutive
SNPs, each turned into the network's input exactly as the training data were, and predicted. Written to
OUTDIR: ``windows.csv`` (one row per window: position, SNPs, class probabilities or parameter estimates),
``summary.csv`` (per class/parameter: mean over windows, sd, 2.5–97.5 % quantiles of the windows and a 95 %
percentile bootstrap interval of the mean, windows resampled with replacement) and ``predictions.png``
(values along the chromosome; histogram and Gaussian KDE over windows). A short summary is printed.

Mismatches between the data and what the network was trained on (populations, individuals per population,
ploidy, phasing, allele polarisation, too few SNPs) stop with one error naming them all; differences that leave
the prediction defined (zero-padded windows, missing calls, SNP counts outside the simulated range) are printed
as warnings. The same function, :func:`predict_vcf_file`, is what lessons call from Python.

This module exposes ``add_parser(subparsers)`` for ``popsim.cli.main`` (listed in ``SUBCOMMAND_MODULES``).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

from popsim.cli.main import _HelpFormatter as HelpFormatter  # the help style of every popsim command

__all__ = ["add_parser", "run_predict", "predict_vcf_file", "plot_predictions", "main"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {value}")
    return value


# ---------------------------------------------------------------------------------------------- figure


def _kde(values: np.ndarray, grid: np.ndarray) -> np.ndarray | None:
    """Gaussian kernel density with Silverman's bandwidth, at least 2 % of the plotted range (so that nearly
    identical values give a readable bump, not a spike); None if the values do not vary at all."""
    sd = values.std(ddof=1) if len(values) > 1 else 0.0
    if not np.isfinite(sd) or sd <= 0:
        return None
    bandwidth = 0.9 * min(sd, np.subtract(*np.percentile(values, [75, 25])) / 1.34 or sd) * len(values) ** -0.2
    bandwidth = max(bandwidth, 0.02 * (grid[-1] - grid[0]))
    z = (grid[:, None] - values[None, :]) / bandwidth
    return np.exp(-0.5 * z**2).sum(axis=1) / (len(values) * bandwidth * np.sqrt(2 * np.pi))


def plot_predictions(predictions, path=None, title: str | None = None):
    """Figure of per-window predictions: along the chromosome (left) and their distribution (right).

    Classification: one line per class (probability per window) and, on the right, histograms and KDEs of
    the per-window probabilities with the mean (solid) and the 95 % bootstrap interval of the mean (band).
    Regression: one row per parameter. Returns the matplotlib Figure (Agg canvas); saves a PNG if ``path``.
    """
    from matplotlib.figure import Figure

    p = predictions
    centres = (p.starts + p.ends) / 2
    scale, unit = (1e6, "Mb") if centres.max(initial=0) > 5e6 else (1e3, "kb")
    boot_lo, boot_hi = p.bootstrap_interval()
    mean = p.mean()
    colours = [f"C{k}" for k in range(len(p.names))]
    groups = [list(range(len(p.names)))] if p.kind == "classification" else [[k] for k in range(len(p.names))]
    fig = Figure(figsize=(11, 3.6 * len(groups)), layout="constrained")
    axes = fig.subplots(len(groups), 2, squeeze=False, gridspec_kw={"width_ratios": [1.6, 1]})
    for row, group in enumerate(groups):
        left, right = axes[row]
        for k in group:
            left.plot(centres / scale, p.values[:, k], "o-", ms=3, lw=1, color=colours[k], label=p.names[k])
            values = p.values[:, k]
            lo, hi = (0.0, 1.0) if p.kind == "classification" else (values.min(), values.max())
            if hi <= lo:
                lo, hi = lo - 0.5 * abs(lo) - 1e-9, hi + 0.5 * abs(hi) + 1e-9
            bins = np.linspace(lo, hi, 21)
            right.hist(values, bins=bins, density=True, alpha=0.35, color=colours[k], label=p.names[k])
            grid = np.linspace(lo, hi, 200)
            density = _kde(values, grid)
            if density is not None:
                right.plot(grid, density, color=colours[k], lw=1.5)
            right.axvline(mean[k], color=colours[k], lw=2)
            right.axvspan(boot_lo[k], boot_hi[k], color=colours[k], alpha=0.15)
        what = "probability" if p.kind == "classification" else p.names[group[0]]
        left.set(xlabel=f"window centre ({p.chromosome}, {unit})", ylabel=what)
        right.set(xlabel=what, ylabel="density over windows")
        if p.kind == "classification":
            left.set_ylim(-0.03, 1.03)
            left.legend(fontsize=8, loc="best")
            right.legend(fontsize=8, loc="upper center")
    header = title or (f"{len(p)} windows ({p.window}): " +
                       (f"verdict: {p.verdict()}" if p.kind == "classification" else
                        ", ".join(f"{n} = {m:.4g}" for n, m in zip(p.names, mean))))
    fig.suptitle(header + "\nline = mean over windows, band = 95 % bootstrap interval of the mean", fontsize=9)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    return fig


# ------------------------------------------------------------------------------------------- the work


def predict_vcf_file(model, vcf, populations, *, region=None, window_bp=None, window_snps=None, step=None,
                     min_snps=None, subsample=False, seed=0, ref_is_ancestral=False, ancestral_allele=None,
                     pass_only=False, calibrated=True, output=None, quiet=False):
    """What ``popsim predict`` does: read the bundle and the VCF, predict every window, write the files.

    ``model``: bundle path or a ``ModelBundle``; ``vcf``: VCF path; ``populations``: population file path or
    ``{sample: population}`` dict. ``output``: folder for windows.csv, summary.csv and predictions.png
    (None: write nothing). Other arguments as :meth:`popsim.realdata.bundle.ModelBundle.predict_vcf` and
    :func:`popsim.realdata.vcf.read_vcf`. Returns the :class:`popsim.realdata.bundle.WindowPredictions`; prints the summary
    unless ``quiet``.
    """
    from popsim.realdata.bundle import BundleWarning, ModelBundle
    from popsim.realdata.vcf import read_vcf

    bundle = model if isinstance(model, ModelBundle) else ModelBundle.load(model)
    data = read_vcf(vcf, populations, region, pass_only=pass_only, ancestral_allele=ancestral_allele)
    with warnings.catch_warnings():
        # The warnings are kept in the result and printed with the summary, once.
        warnings.simplefilter("ignore", BundleWarning)
        predictions = bundle.predict_vcf(data, window_bp=window_bp, n_snps_windows=window_snps, step=step,
                                         min_snps=min_snps, subsample=subsample, seed=seed,
                                         ref_is_ancestral=ref_is_ancestral, calibrated=calibrated)
    if not quiet:
        print(predictions.summary_text())
    if output is not None:
        output = Path(output)
        output.mkdir(parents=True, exist_ok=True)
        written = [predictions.to_csv(output / "windows.csv"), predictions.summary_to_csv(output / "summary.csv")]
        plot_predictions(predictions, output / "predictions.png")
        written.append(output / "predictions.png")
        if not quiet:
            print("wrote " + ", ".join(str(p) for p in written))
    return predictions


def run_predict(args) -> int:
    """The ``popsim predict`` subcommand (argparse namespace in, exit status out)."""
    output = args.output or f"{Path(args.vcf).name.split('.')[0]}_predict"
    predict_vcf_file(args.model, args.vcf, args.pops, region=args.region, window_bp=args.window_bp,
                     window_snps=args.window_snps, step=args.step, min_snps=args.min_snps,
                     subsample=args.subsample, seed=args.seed, ref_is_ancestral=args.ref_is_ancestral,
                     ancestral_allele=args.ancestral_allele, pass_only=args.pass_only,
                     calibrated=not args.uncalibrated, output=output)
    return 0


def add_parser(subparsers):
    """Register ``popsim predict``."""
    parser = subparsers.add_parser(
        "predict",
        help="apply a trained model bundle to a VCF, window by window",
        description="Apply a network trained on simulations (a model bundle written by "
        "popsim.realdata.bundle.ModelBundle.save) to a VCF. The region is cut into windows of the simulated region "
        "length (default) or of N consecutive SNPs; each window is transformed exactly like the training data "
        "(the image transform or statistics scaler stored in the bundle) and predicted. Writes OUTDIR/windows.csv "
        "(per-window class probabilities or parameter estimates), OUTDIR/summary.csv (mean over windows, sd, "
        "2.5-97.5% quantiles of the windows, 95% percentile bootstrap interval of the mean resampling windows) "
        "and OUTDIR/predictions.png (values along the chromosome, histogram and KDE). Differences between the "
        "data and the training sample (population names/order, individuals per population, ploidy, phasing, "
        "allele polarisation, too few SNPs) are errors; nothing is silently subsampled or reordered.",
        epilog="examples:\n"
        "  popsim predict bundle.npz mystery.vcf.gz --pops pops.tsv --ref-is-ancestral -o mystery_predict\n"
        "  popsim predict bundle.npz chr2.vcf.gz --pops pops.tsv --region chr2:1-5000000 \\\n"
        "      --ancestral-allele AA --subsample --seed 1 --window-snps 512\n"
        "exit status: 0 on success, 2 on a usage error or a data/model mismatch (one line on stderr)",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="model bundle (.npz) written by ModelBundle.save")
    parser.add_argument("vcf", metavar="VCF", help="VCF file, plain or gzip/bgzip-compressed")
    parser.add_argument("--pops", required=True, metavar="POPS.tsv",
                        help="two columns: VCF sample name, population name (as in the simulations); samples not "
                        "listed are ignored")
    parser.add_argument("--region", metavar="CHR[:A-B]",
                        help="chromosome or 1-based inclusive interval (samtools syntax); needed if the VCF holds "
                        "several chromosomes")
    windows = parser.add_mutually_exclusive_group()
    windows.add_argument("--window-bp", type=_positive_int, metavar="N",
                         help="windows of N bp (default: the simulated region length stored in the bundle)")
    windows.add_argument("--window-snps", type=_positive_int, metavar="N",
                         help="windows of N consecutive segregating SNPs instead (N >= the image width)")
    parser.add_argument("--step", type=_positive_int, metavar="N",
                        help="step between window starts, in bp or SNPs like the window (default: adjacent)")
    parser.add_argument("--min-snps", type=_positive_int, metavar="N",
                        help="skip windows with fewer SNPs (default: the fewest of any training simulation, >= 1)")
    alleles = parser.add_mutually_exclusive_group()
    alleles.add_argument("--ancestral-allele", metavar="KEY",
                         help="INFO key of the ancestral allele (e.g. AA): polarise 0 = ancestral, 1 = derived")
    alleles.add_argument("--ref-is-ancestral", action="store_true",
                         help="state that REF is the ancestral allele (true for VCFs written by tskit from "
                         "simulations); needed by models using derived-allele (01) encoding")
    parser.add_argument("--subsample", action="store_true",
                        help="if a population has more individuals than the model was trained on, draw that many "
                        "at random (with --seed); without it a different count is an error")
    parser.add_argument("--seed", type=int, default=0, help="seed for --subsample")
    parser.add_argument("--pass-only", action="store_true", help="keep only records with FILTER PASS or '.'")
    parser.add_argument("--uncalibrated", action="store_true",
                        help="report the network's raw probabilities, ignoring the bundle's temperature scaling")
    parser.add_argument("-o", "--output", metavar="OUTDIR",
                        help="output folder (default: <VCF name>_predict in the current folder)")
    parser.set_defaults(func=run_predict)
    return parser


def main(argv=None) -> int:
    """``python -m popsim.cli.predict MODEL VCF ...``: the subcommand on its own (same errors as ``popsim``)."""
    from popsim.cli.main import CommandError

    parser = argparse.ArgumentParser(prog="popsim")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["predict", *(sys.argv[1:] if argv is None else argv)])
    try:
        return run_predict(args)
    except (CommandError, ValueError, KeyError, TypeError, FileNotFoundError) as error:
        print(f"popsim: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
