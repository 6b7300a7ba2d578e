"""A model bundle applied to real data, window by window — what ``popsim predict`` runs.

:func:`predict_vcf` follows the simulations exactly: the chromosome is cut into windows of the simulated
locus length (default) or of N consecutive SNPs, sites that do not segregate in the sample are dropped (as
the simulations drop them, :meth:`~popsim.realdata.vcf.VcfGenotypes.segregating`), and each window becomes an
image with the bundle's stored transform (or a row of statistics scaled with the stored scaler). Before that,
what the network was trained on is compared with what it is given (:meth:`ModelBundle.check_vcf
<popsim.realdata.bundle.ModelBundle.check_vcf>`) — population names and order, individuals per population,
ploidy, phasing, allele polarisation, SNPs per window — and every mismatch is reported in one
:class:`~popsim.realdata.bundle.MismatchError`. Nothing is silently "fixed": subsampling individuals is an
explicit option (``subsample=True``), and treating REF as the ancestral allele is an explicit statement
(``ref_is_ancestral=True``). Where the prediction is still defined but may be off (zero-padded images, missing
genotypes the simulations had none of, SNP counts outside the simulated range, windows shorter than the
simulated locus) a :class:`~popsim.realdata.bundle.BundleWarning` is issued and recorded in the result.

* :func:`predict_vcf` — bundle + ``VcfGenotypes`` → :class:`WindowPredictions` (per-window values and
  their summary: mean, spread across windows, bootstrap interval of the mean, votes);
* :func:`plot_predictions` — the figure (values along the chromosome; histogram and KDE over windows);
* :func:`predict_vcf_file` — files in, files out (bundle path, VCF path, population file → CSVs and PNG).

Tests: ``tests/popsim/realdata/test_bundle.py`` and ``tests/popsim/realdata/test_predict.py``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from popsim.features.stats import compute_statistics
from popsim.realdata.bundle import BundleWarning, MismatchError, ModelBundle
from popsim.realdata.vcf import VcfGenotypes, read_vcf

__all__ = ["predict_vcf", "WindowPredictions", "plot_predictions", "predict_vcf_file"]


@dataclass
class WindowPredictions:
    """Per-window predictions of a bundle on a VCF, and their summary across windows.

    ``values``: (windows, outputs) — class probabilities (rows sum to 1) or parameter estimates in the
    parameter's units. ``names``: the class (scenario) or target names. ``starts``/``ends``: 1-based
    inclusive absolute bp of each window; ``n_snps``: SNPs in each window (after dropping non-segregating
    sites); ``padded``: the window had fewer SNPs than the image width (zero-padded image).

    Intervals (see :meth:`summary_rows`): the **spread across windows** is the 2.5–97.5 % quantile range of
    the per-window values; the **bootstrap interval** is a 95 % percentile interval of the mean, resampling
    windows with replacement (``n_boot`` times, seeded). The bootstrap treats windows as independent, which
    holds only for windows far apart compared with linkage; with long-range LD it is too narrow.
    """

    kind: str
    names: list
    values: np.ndarray
    chromosome: str
    starts: np.ndarray
    ends: np.ndarray
    n_snps: np.ndarray
    padded: np.ndarray
    window: str = ""
    calibrated: bool = False
    skipped_windows: int = 0
    warnings: list = field(default_factory=list)
    data_summary: str = ""
    model_summary: str = ""

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def mean(self) -> np.ndarray:
        """Mean over windows, (outputs,)."""
        return self.values.mean(axis=0)

    def spread(self, low: float = 2.5, high: float = 97.5) -> tuple[np.ndarray, np.ndarray]:
        """The ``low``–``high`` % quantiles of the per-window values, each (outputs,)."""
        return np.percentile(self.values, low, axis=0), np.percentile(self.values, high, axis=0)

    def bootstrap_interval(self, level: float = 0.95, n_boot: int = 2000, seed: int = 0):
        """Percentile bootstrap interval of the mean over windows (windows resampled with replacement)."""
        rng = np.random.default_rng(seed)
        n = len(self)
        means = self.values[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
        tail = 100 * (1 - level) / 2
        return np.percentile(means, tail, axis=0), np.percentile(means, 100 - tail, axis=0)

    def votes(self) -> np.ndarray:
        """Classification: number of windows whose most probable class is each class, (classes,)."""
        if self.kind != "classification":
            raise ValueError("votes() is defined for classification bundles only")
        return np.bincount(self.values.argmax(axis=1), minlength=len(self.names))

    def verdict(self) -> str:
        """The class with the highest mean probability (classification) — one line."""
        if self.kind != "classification":
            raise ValueError("verdict() is defined for classification bundles only")
        mean, votes = self.mean(), self.votes()
        best = int(np.argmax(mean))
        return (f"{self.names[best]} (mean probability {mean[best]:.3f}; most probable class in "
                f"{votes[best]} of {len(self)} windows)")

    def summary_rows(self, seed: int = 0) -> list[dict]:
        """One dict per output: mean, sd, 2.5/97.5 % of windows, 95 % bootstrap interval of the mean, votes."""
        mean, sd = self.mean(), self.values.std(axis=0)
        q_lo, q_hi = self.spread()
        b_lo, b_hi = self.bootstrap_interval(seed=seed)
        votes = self.votes() if self.kind == "classification" else None
        rows = []
        for k, name in enumerate(self.names):
            row = {"name": name, "mean": mean[k], "sd": sd[k], "windows_q2.5": q_lo[k], "windows_q97.5": q_hi[k],
                   "mean_boot95_low": b_lo[k], "mean_boot95_high": b_hi[k]}
            if votes is not None:
                row["windows_most_probable"] = int(votes[k])
            rows.append(row)
        return rows

    def summary_text(self) -> str:
        """The short report printed by ``popsim predict``."""
        what = "P(scenario)" if self.kind == "classification" else "estimate"
        width = max(12, *(len(n) for n in self.names))
        lines = [self.model_summary, self.data_summary,
                 f"windows: {len(self)} predicted ({self.window}); {self.skipped_windows} skipped; "
                 f"{int(self.padded.sum())} zero-padded; "
                 f"{'calibrated (temperature scaling)' if self.calibrated else 'uncalibrated'} probabilities"
                 if self.kind == "classification" else
                 f"windows: {len(self)} predicted ({self.window}); {self.skipped_windows} skipped; "
                 f"{int(self.padded.sum())} zero-padded",
                 f"{'':{width}}  {what:>11}  {'2.5-97.5% of windows':>22}  {'95% bootstrap CI of mean':>24}"
                 + ("  windows (most probable)" if self.kind == "classification" else "")]
        for row in self.summary_rows():
            line = (f"{row['name']:<{width}}  {_fmt(row['mean']):>11}  "
                    f"{'[' + _fmt(row['windows_q2.5']) + ', ' + _fmt(row['windows_q97.5']) + ']':>22}  "
                    f"{'[' + _fmt(row['mean_boot95_low']) + ', ' + _fmt(row['mean_boot95_high']) + ']':>24}")
            if self.kind == "classification":
                line += f"  {row['windows_most_probable']:>5} of {len(self)}"
            lines.append(line)
        if self.kind == "classification":
            lines.append(f"verdict: {self.verdict()}")
        for message in self.warnings:
            lines.append(f"warning: {message}")
        return "\n".join(line for line in lines if line)

    def to_csv(self, path) -> Path:
        """Per-window table: chromosome, start, end, n_snps, padded, one column per output (and the argmax)."""
        path = Path(path)
        columns = [f"p_{n}" for n in self.names] if self.kind == "classification" else list(self.names)
        header = ["window", "chromosome", "start", "end", "n_snps", "padded", *columns]
        if self.kind == "classification":
            header.append("most_probable")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(",".join(header) + "\n")
            for i in range(len(self)):
                cells = [str(i), self.chromosome, str(int(self.starts[i])), str(int(self.ends[i])),
                         str(int(self.n_snps[i])), str(bool(self.padded[i])),
                         *(f"{v:.6g}" for v in self.values[i])]
                if self.kind == "classification":
                    cells.append(self.names[int(np.argmax(self.values[i]))])
                fh.write(",".join(cells) + "\n")
        return path

    def summary_to_csv(self, path) -> Path:
        """The summary rows (:meth:`summary_rows`) as CSV."""
        path = Path(path)
        rows = self.summary_rows()
        header = list(rows[0])
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(",".join(header) + "\n")
            for row in rows:
                fh.write(",".join(v if isinstance(v, str) else f"{v:.6g}" for v in row.values()) + "\n")
        return path


def _fmt(value: float) -> str:
    return f"{value:.3f}" if 1e-3 <= abs(value) < 1e4 or value == 0 else f"{value:.3g}"


# ------------------------------------------------------------------------------------------ the pipeline


def predict_vcf(bundle, vcf, populations=None, region=None, *, window_bp: float | None = None,
                n_snps_windows: int | None = None, step: int | None = None, min_snps: int | None = None,
                subsample: bool = False, seed: int = 0, ref_is_ancestral: bool = False,
                calibrated: bool = True, keep_partial: bool = False) -> WindowPredictions:
    """Predict every window of a VCF with ``bundle`` (a :class:`~popsim.realdata.bundle.ModelBundle`) and its
    stored transform; return :class:`WindowPredictions`.

    Parameters
    ----------
    vcf : a ``popsim.realdata.vcf.VcfGenotypes`` or a VCF path (then read with ``populations`` and ``region``).
    window_bp : window length in bp; default (and recommended) the simulated region length.
    n_snps_windows : instead, windows of this many consecutive SNPs (>= the image width).
    step : window step (bp or SNPs, as the window); default: adjacent windows.
    min_snps : windows with fewer SNPs are skipped (default: the fewest SNPs of any training replicate,
        at least 1); if none is left, a ``MismatchError``.
    subsample : draw the trained number of individuals per population at random (``seed``) when the
        VCF has more; without it, a different count is an error.
    ref_is_ancestral : state that REF is the ancestral allele (VCFs written by tskit from simulations).
    calibrated : apply the stored temperature scaling (classification).
    keep_partial : also predict the last, shorter window.
    """
    if not isinstance(vcf, VcfGenotypes):
        vcf = read_vcf(vcf, populations, region)
    if window_bp is not None and n_snps_windows is not None:
        raise ValueError("give window_bp or n_snps_windows, not both")
    notes = bundle.check_vcf(vcf, subsample=subsample, ref_is_ancestral=ref_is_ancestral)
    if subsample and any(n > bundle.sample_sizes[p] for p, n in vcf.population_sizes.items() if n > 0):
        vcf = vcf.subsample(bundle.sample_sizes, seed)
        notes.append(f"individuals subsampled at random (seed {seed}) to {bundle.sample_sizes} per population")
    # Simulations keep only sites segregating in the sample: do the same (also after subsampling).
    vcf = vcf.segregating()
    if vcf.num_sites == 0:
        raise MismatchError(f"{vcf.source or 'VCF'}: no site segregates in the selected individuals")

    if n_snps_windows is not None:
        width = bundle.transform.n_snps if bundle.transform is not None else 1
        if n_snps_windows < width:
            raise MismatchError(f"windows of {n_snps_windows} SNPs are narrower than the model's images "
                                f"({width} SNPs): every image would be zero-padded; use at least {width}")
        windows = vcf.windows_by_snps(n_snps_windows, step, keep_partial=keep_partial)
        window_text = f"{n_snps_windows} consecutive SNPs"
        if not windows:
            raise MismatchError(f"{vcf.source or 'VCF'} has {vcf.num_sites} segregating SNPs, fewer than one "
                                f"window of {n_snps_windows}")
    else:
        if window_bp is None:
            if bundle.window_bp is None:
                raise ValueError("the bundle does not record the simulated locus length; give window_bp")
            window_bp = bundle.window_bp
        elif bundle.window_bp is not None and window_bp != bundle.window_bp:
            notes.append(f"windows of {window_bp:g} bp differ from the simulated region of "
                         f"{bundle.window_bp:g} bp: SNP counts and spacing differ from the training data")
        window_bp = int(round(window_bp))
        if window_bp > vcf.sequence_length and not keep_partial:
            raise MismatchError(f"{vcf.source or 'VCF'} covers {vcf.sequence_length} bp, less than one window "
                                f"of {window_bp} bp (the simulated region length); give a longer region or "
                                "a smaller window_bp")
        windows = vcf.windows(window_bp, step, keep_partial=keep_partial)
        window_text = f"{window_bp} bp windows"
        if step is not None:
            window_text += f" every {step} bp"
    if bundle.n_loci > 1 and n_snps_windows is None:
        notes.append(f"the simulations laid {bundle.n_loci} unlinked loci of {bundle.sequence_length:g} bp end to "
                     "end; a contiguous window has more linkage than that")

    counts = np.array([w.num_sites for w in windows])
    sites = bundle.training_sites
    if min_snps is None:
        min_snps = max(1, int(sites["min"])) if sites else 1
    usable = counts >= min_snps
    skipped = int(np.count_nonzero(~usable))
    if not usable.any():
        raise MismatchError(f"too few SNPs: no window has at least {min_snps} segregating SNPs (most: "
                            f"{counts.max() if len(counts) else 0}) in {len(windows)} windows of "
                            f"{window_text}" + (f"; the simulations had {sites['min']:g} to {sites['max']:g}"
                                                if sites else ""))
    if skipped:
        notes.append(f"{skipped} of {len(windows)} windows skipped: "
                     + ("no segregating SNP" if min_snps == 1 else f"fewer than {min_snps} SNPs"))
    windows = [w for w, ok in zip(windows, usable) if ok]
    counts = counts[usable]
    if sites and n_snps_windows is None and window_bp == bundle.window_bp:
        outside = int(np.count_nonzero((counts < sites["min"]) | (counts > sites["max"])))
        if outside:
            notes.append(f"{outside} of {len(windows)} windows have SNP counts outside the range of all "
                         f"{sites['n']} training simulations ({sites['min']:g}–{sites['max']:g} SNPs per "
                         f"{bundle.window_bp:g} bp): diversity may not match the simulated scenarios")

    labels = None
    if bundle.transform is not None:
        padded = counts < bundle.transform.n_snps
        labels = np.array(vcf.population_names, dtype=object)[vcf.populations].astype(str)
        # Missing-data injection (missing_rate) imitates real data in simulations; real data bring
        # their own missing calls, so it is switched off here. Everything else is the stored transform.
        transform = replace(bundle.transform, missing_rate=0.0)
        images = np.stack([transform(w.calls, w.positions, labels, sequence_length=w.sequence_length)
                           for w in windows])
        values = bundle.predict_images(images, calibrated=calibrated)
        if padded.any():
            share = ""
            if sites and "below_image_width" in sites:
                share = f" ({100 * sites['below_image_width']:.0f} % of the training simulations were)"
            notes.append(f"{int(padded.sum())} of {len(windows)} windows have fewer than {bundle.transform.n_snps} "
                         f"SNPs: their images are zero-padded, as simulations with few SNPs were{share}")
    else:
        padded = np.zeros(len(windows), dtype=bool)
        labels = np.array(vcf.population_names, dtype=object)[vcf.populations].astype(str)
        rows = []
        for w in windows:
            d = compute_statistics(w.calls, w.sequence_length if bundle.per_bp else None, labels, bundle.statistics)
            if list(d) != bundle.statistic_names:
                raise MismatchError(f"the VCF gives statistics {list(d)}; the model was trained on "
                                    f"{bundle.statistic_names}")
            rows.append([d[n] for n in bundle.statistic_names])
        values = bundle.predict_statistics(np.array(rows), calibrated=calibrated)
    for message in notes:
        warnings.warn(message, BundleWarning, stacklevel=2)
    uses_calibration = (bundle.kind == "classification" and calibrated and bundle.calibration is not None
                        and bundle.calibration.temperature_ is not None)
    return WindowPredictions(
        kind=bundle.kind, names=list(bundle.names), values=np.asarray(values, dtype=np.float64),
        chromosome=str(vcf.chromosome), starts=np.array([w.start for w in windows]),
        ends=np.array([w.end for w in windows]), n_snps=counts, padded=padded, window=window_text,
        calibrated=uses_calibration, skipped_windows=skipped, warnings=notes,
        data_summary=(f"data: {vcf.source or 'VCF'} {vcf.chromosome}:{vcf.start}-{vcf.end}, {vcf.num_sites} "
                      f"segregating SNPs, {vcf.num_individuals} individuals "
                      f"({', '.join(f'{p}:{n}' for p, n in vcf.population_sizes.items())}), "
                      f"{'phased' if vcf.phased else 'unphased'}"),
        model_summary=bundle.describe(),
    )


# ------------------------------------------------------------------------------------------- the figure


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


# ------------------------------------------------------------------------------------------ files in, files out


def predict_vcf_file(model, vcf, populations, *, region=None, window_bp=None, window_snps=None, step=None,
                     min_snps=None, subsample=False, seed=0, ref_is_ancestral=False, ancestral_allele=None,
                     pass_only=False, calibrated=True, output=None, quiet=False):
    """What ``popsim predict`` does: read the bundle and the VCF, predict every window, write the files.

    ``model``: bundle path or a ``ModelBundle``; ``vcf``: VCF path; ``populations``: population file path or
    ``{sample: population}`` dict. ``output``: folder for windows.csv, summary.csv and predictions.png
    (None: write nothing). Other arguments as :func:`predict_vcf` and
    :func:`popsim.realdata.vcf.read_vcf`. Returns the :class:`WindowPredictions`; prints the summary
    unless ``quiet``.
    """
    bundle = model if isinstance(model, ModelBundle) else ModelBundle.load(model)
    data = read_vcf(vcf, populations, region, pass_only=pass_only, ancestral_allele=ancestral_allele)
    with warnings.catch_warnings():
        # The warnings are kept in the result and printed with the summary, once.
        warnings.simplefilter("ignore", BundleWarning)
        predictions = predict_vcf(bundle, data, window_bp=window_bp, n_snps_windows=window_snps, step=step,
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
