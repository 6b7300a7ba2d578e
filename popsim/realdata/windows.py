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
* :func:`predict_genome` — every chromosome (or region) of a file as a stream: pieces of the file
  (:func:`popsim.realdata.vcf.iter_pieces`) cut into chunks of windows (:func:`window_chunks`), bp or SNP
  windows alike, so memory is a chunk of windows whatever the genome; with an accessibility mask
  (:mod:`popsim.realdata.mask`) windows are seen in accessible coordinates;
* :func:`predict_vcf_file` — files in, files out (bundle path, VCF path, population file → CSVs and PNG).

Tests: ``tests/popsim/realdata/test_bundle.py`` and ``tests/popsim/realdata/test_predict.py``.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from popsim.features.stats import compute_statistics
from popsim.realdata.bundle import BundleWarning, MismatchError, ModelBundle
from popsim.realdata.vcf import VcfGenotypes, read_vcf

__all__ = ["predict_vcf", "predict_genome", "parse_regions", "window_chunks", "WindowPredictions",
           "plot_predictions", "predict_vcf_file"]


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
    chromosomes: np.ndarray | None = None  # (windows,) chromosome of each window (genome-wide predictions)
    accessible: np.ndarray | None = None   # (windows,) accessible fraction of each window (with a mask)

    def window_chromosomes(self) -> np.ndarray:
        """(windows,) chromosome name of each window."""
        if self.chromosomes is not None:
            return np.asarray(self.chromosomes, dtype=object)
        return np.array([self.chromosome] * len(self), dtype=object)

    def by_chromosome(self) -> dict:
        """``{chromosome: WindowPredictions}`` of the windows of each chromosome, in order of appearance."""
        names = self.window_chromosomes()
        out = {}
        for name in dict.fromkeys(names.tolist()):
            keep = names == name
            out[name] = replace(self, values=self.values[keep], chromosome=name, starts=self.starts[keep],
                                ends=self.ends[keep], n_snps=self.n_snps[keep], padded=self.padded[keep],
                                chromosomes=None,
                                accessible=None if self.accessible is None else self.accessible[keep])
        return out

    def chromosome_summary_rows(self, seed: int = 0) -> list[dict]:
        """:meth:`summary_rows` per chromosome (column ``chromosome`` first, ``windows`` = count), then the
        genome-wide rows (``chromosome = "genome"``)."""
        rows = []
        parts = list(self.by_chromosome().items()) + [("genome", self)]
        for name, part in parts:
            for row in part.summary_rows(seed=seed):
                rows.append({"chromosome": name, "windows": len(part), **row})
        return rows

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
        """Per-window table: chromosome, start, end, n_snps, padded, (with a mask) accessible_fraction, one
        column per output (and the argmax)."""
        path = Path(path)
        columns = [f"p_{n}" for n in self.names] if self.kind == "classification" else list(self.names)
        masked = ["accessible_fraction"] if self.accessible is not None else []
        header = ["window", "chromosome", "start", "end", "n_snps", "padded", *masked, *columns]
        if self.kind == "classification":
            header.append("most_probable")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(",".join(header) + "\n")
            names = self.window_chromosomes()
            for i in range(len(self)):
                cells = [str(i), str(names[i]), str(int(self.starts[i])), str(int(self.ends[i])),
                         str(int(self.n_snps[i])), str(bool(self.padded[i])),
                         *([f"{self.accessible[i]:.4f}"] if masked else []),
                         *(f"{v:.6g}" for v in self.values[i])]
                if self.kind == "classification":
                    cells.append(self.names[int(np.argmax(self.values[i]))])
                fh.write(",".join(cells) + "\n")
        return path

    def summary_to_csv(self, path, by_chromosome: bool = False) -> Path:
        """The summary rows (:meth:`summary_rows`) as CSV; per chromosome and genome-wide
        (:meth:`chromosome_summary_rows`) with ``by_chromosome``."""
        path = Path(path)
        rows = self.chromosome_summary_rows() if by_chromosome else self.summary_rows()
        header = list(rows[0])
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(",".join(header) + "\n")
            for row in rows:
                fh.write(",".join(v if isinstance(v, str) else str(v) if isinstance(v, (int, np.integer))
                                  else f"{v:.6g}" for v in row.values()) + "\n")
        return path


def _as_mask(mask):
    """None, an AccessibilityMask, or a BED path read as one."""
    from popsim.realdata.mask import AccessibilityMask

    if mask is None or isinstance(mask, AccessibilityMask):
        return mask
    return AccessibilityMask.from_bed(mask)


def _fmt(value: float) -> str:
    return f"{value:.3f}" if 1e-3 <= abs(value) < 1e4 or value == 0 else f"{value:.3g}"


# ------------------------------------------------------------------------------------------ the pipeline


def predict_vcf(bundle, vcf, populations=None, region=None, *, window_bp: float | None = None,
                n_snps_windows: int | None = None, step: int | None = None, min_snps: int | None = None,
                subsample: bool = False, seed: int = 0, ref_is_ancestral: bool = False,
                calibrated: bool = True, keep_partial: bool = False, empty_ok: bool = False, mask=None,
                min_accessible: float = 0.5) -> WindowPredictions:
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
    empty_ok : return None instead of raising when no window can be predicted (too few sites or SNPs), as
        :func:`predict_genome` does for one chunk of a chromosome.
    mask : an accessibility mask (:class:`popsim.realdata.mask.AccessibilityMask` or a BED path): sites
        outside are dropped (``skipped["masked"]``); windows stay fixed in bp, and each is given to the
        network in accessible coordinates — positions count accessible bp from the window start, and the
        window's length (image centre, distance channel, per-bp statistics) is its accessible length (see
        :mod:`popsim.realdata.mask`). ``accessible`` of the result holds each window's accessible fraction.
    min_accessible : with a mask, a warning names the windows whose accessible fraction is below this.
    """
    if not isinstance(vcf, VcfGenotypes):
        vcf = read_vcf(vcf, populations, region)
    if window_bp is not None and n_snps_windows is not None:
        raise ValueError("give window_bp or n_snps_windows, not both")
    if not 0 <= min_accessible <= 1:
        raise ValueError(f"min_accessible must be a fraction in [0, 1]; got {min_accessible!r}")
    mask = _as_mask(mask)
    if mask is not None:
        vcf = mask.apply(vcf)
    notes = bundle.check_vcf(vcf, subsample=subsample, ref_is_ancestral=ref_is_ancestral)
    if subsample and any(n > bundle.sample_sizes[p] for p, n in vcf.population_sizes.items() if n > 0):
        vcf = vcf.subsample(bundle.sample_sizes, seed)
        notes.append(f"individuals subsampled at random (seed {seed}) to {bundle.sample_sizes} per population")
    # Simulations keep only sites segregating in the sample: do the same (also after subsampling).
    vcf = vcf.segregating()
    if vcf.num_sites == 0:
        if empty_ok:
            return None
        raise MismatchError(f"{vcf.source or 'VCF'}: no site segregates in the selected individuals")

    if n_snps_windows is not None:
        width = bundle.transform.n_snps if bundle.transform is not None else 1
        if n_snps_windows < width:
            raise MismatchError(f"windows of {n_snps_windows} SNPs are narrower than the model's images "
                                f"({width} SNPs): every image would be zero-padded; use at least {width}")
        windows = vcf.windows_by_snps(n_snps_windows, step, keep_partial=keep_partial)
        window_text = f"{n_snps_windows} consecutive SNPs"
        if not windows:
            if empty_ok:
                return None
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
            if empty_ok:
                return None
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
        if empty_ok:
            return None
        raise MismatchError(f"too few SNPs: no window has at least {min_snps} segregating SNPs (most: "
                            f"{counts.max() if len(counts) else 0}) in {len(windows)} windows of "
                            f"{window_text}" + (f"; the simulations had {sites['min']:g} to {sites['max']:g}"
                                                if sites else ""))
    if skipped:
        notes.append(f"{skipped} of {len(windows)} windows skipped: "
                     + ("no segregating SNP" if min_snps == 1 else f"fewer than {min_snps} SNPs"))
    windows = [w for w, ok in zip(windows, usable) if ok]
    counts = counts[usable]
    # What the network is given per window: (calls, positions, length) — in accessible coordinates with a mask.
    accessible = None
    if mask is None:
        inputs = [(w.calls, w.positions, w.sequence_length) for w in windows]
    else:
        lengths = np.array([mask.accessible_length(vcf.chromosome, w.start, w.end) for w in windows])
        accessible = lengths / np.array([w.sequence_length for w in windows], dtype=np.float64)
        inputs = [(w.calls, mask.coordinates(vcf.chromosome, w.absolute_positions, w.start), int(n))
                  for w, n in zip(windows, lengths)]
        low = int(np.count_nonzero(accessible < min_accessible))
        if low:
            notes.append(f"{low} of {len(windows)} windows have less than {100 * min_accessible:.0f} % accessible "
                         f"sequence (lowest {100 * accessible.min():.0f} %): their images see few bp of sequence")
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
        images = np.stack([transform(calls, positions, labels, sequence_length=length)
                           for calls, positions, length in inputs])
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
        for calls, _, length in inputs:
            d = compute_statistics(calls, length if bundle.per_bp else None, labels, bundle.statistics)
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
        calibrated=uses_calibration, skipped_windows=skipped, warnings=notes, accessible=accessible,
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
    names = p.window_chromosomes()
    chromosome_order = list(dict.fromkeys(names.tolist()))
    boundaries = []
    if len(chromosome_order) > 1:  # chromosomes laid end to end along one axis
        offset, shifted = 0.0, centres.astype(float).copy()
        for name in chromosome_order:
            keep = names == name
            shifted[keep] += offset
            boundaries.append((offset, name))
            offset += float(p.ends[keep].max())
        centres = shifted
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
        if boundaries:
            for x, name in boundaries:
                left.axvline(x / scale, color="0.6", lw=0.8, ls=":")
                left.annotate(name, (x / scale, 1.0), xycoords=("data", "axes fraction"), fontsize=7,
                              va="bottom", ha="left")
            left.set(xlabel=f"window centre (chromosomes end to end, {unit})", ylabel=what)
        else:
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


def parse_regions(regions) -> list:
    """Several regions: a list of region strings/tuples, a comma-separated string
    (``"chr1,chr2:1-5000000"``; a comma between digits is a thousands separator) or the path of a BED file
    (0-based half-open ``chrom start end`` per line, ``#``/``track``/``browser`` lines ignored; read by
    :func:`popsim.realdata.mask.read_bed`), each turned into ``(chromosome, start, end)`` 1-based inclusive
    by :func:`popsim.realdata.vcf.parse_region`."""
    from popsim.realdata.mask import read_bed
    from popsim.realdata.vcf import parse_region

    if regions is None:
        return None
    if isinstance(regions, (str, Path)) and Path(regions).is_file():
        return [(chrom, start + 1, end) for chrom, start, end in read_bed(regions)]
    if isinstance(regions, str):
        import re

        regions = [r for r in re.split(r",(?!\d{3}(?:\D|$))", regions) if r.strip()]
    return [parse_region(r) for r in regions]


_COUNTED = re.compile(r"^(\d+) of (\d+) (windows .*)$", re.DOTALL)


def _merge_note(notes: dict, message: str) -> None:
    """Keep one note of each kind (its text without digits) over the chunks of a genome; notes that count
    windows ("k of n windows ...") add their counts up."""
    key = "".join(ch for ch in message if not ch.isdigit())
    m = _COUNTED.match(message)
    if m is None:
        notes.setdefault(key, (message, None))
        return
    template, counts = notes.get(key, ("{} of {} " + m.group(3).replace("{", "{{").replace("}", "}}"), (0, 0)))
    notes[key] = (template, (counts[0] + int(m.group(1)), counts[1] + int(m.group(2))))


def _concat(a: VcfGenotypes | None, b: VcfGenotypes) -> VcfGenotypes:
    """Sites of ``b`` after those of ``a`` (same chromosome and start), as one ``VcfGenotypes``."""
    if a is None:
        return b
    return replace(a, calls=np.concatenate([a.calls, b.calls]), positions=np.concatenate([a.positions, b.positions]),
                   end=max(a.end, b.end), phased=a.phased and b.phased)


def _rows(g: VcfGenotypes, lo: int, hi: int | None = None) -> VcfGenotypes:
    return replace(g, calls=g.calls[lo:hi], positions=g.positions[lo:hi])


def window_chunks(pieces, *, window_bp=None, step=None, n_snps=None, per_chunk: int = 64, keep_partial=False,
                  prepare=None):
    """Cut a stream of :class:`~popsim.realdata.vcf.VcfPiece` (one chromosome after another) into chunks of at
    most ``per_chunk`` consecutive windows; yields ``(VcfGenotypes, keep_partial)`` such that
    :func:`predict_vcf` on each chunk predicts exactly the windows it would predict on the whole chromosome —
    windows of ``window_bp`` bp every ``step`` bp from the chromosome's (region's) start, or of ``n_snps``
    sites every ``step`` sites — while holding only the sites of one chunk plus one piece.

    A window in bp is complete once a site beyond its end was read (or the chromosome ended); a window of
    ``n_snps`` once that many sites follow its first one. ``prepare`` (VcfGenotypes -> VcfGenotypes) is applied
    to every piece first: SNP windows count the sites it keeps (the segregating ones, after subsampling).
    """
    if (window_bp is None) == (n_snps is None):
        raise ValueError("give window_bp or n_snps")
    size = int(window_bp if n_snps is None else n_snps)
    step = int(step or size)
    buffer, chrom, k = None, None, 0
    for piece in pieces:
        if piece.chromosome != chrom:
            buffer, chrom, k = None, piece.chromosome, 0
        if piece.genotypes is not None:
            g = prepare(piece.genotypes) if prepare is not None else piece.genotypes
            buffer = _concat(buffer, g)
        if buffer is None:
            continue
        if n_snps is None:  # windows in bp: the k-th starts at start + k * step
            absolute = buffer.absolute_positions
            start, end = piece.start, piece.end
            # complete windows end by `limit`: the chromosome's end, or before the last site read so far
            limit = end if piece.final else (int(absolute[-1]) - 1 if len(absolute) else start - 1)
            while True:
                full = max(0, (limit - size + 1 - start) // step + 1 - k)
                w_start = start + k * step
                if full:
                    m, partial = min(per_chunk, full), False
                elif piece.final and keep_partial and w_start <= end:  # the shorter windows at the end, at once
                    m, partial = (end - w_start) // step + 1, True
                else:
                    break
                c_end = min(start + (k + m - 1) * step + size - 1, end)
                lo, hi = np.searchsorted(absolute, [w_start, c_end + 1])
                yield buffer._window(slice(lo, hi), w_start, c_end), partial
                k += m
                cut = int(np.searchsorted(absolute, start + k * step))
                buffer, absolute = _rows(buffer, cut), absolute[cut:]
        else:  # windows of n_snps sites: the k-th (of this buffer) starts at row k * step
            n = buffer.num_sites
            full = 0 if n < size else (n - size) // step + 1
            while full:
                m = min(per_chunk, full)
                rows = (m - 1) * step + size
                absolute = buffer.absolute_positions
                yield buffer._window(slice(0, rows), int(absolute[0]), int(absolute[rows - 1])), False
                buffer = _rows(buffer, m * step)
                full -= m
            if piece.final and keep_partial and buffer.num_sites:
                absolute = buffer.absolute_positions
                yield buffer._window(slice(0, None), int(absolute[0]), int(absolute[-1])), True
        if piece.final:
            buffer = None


def predict_genome(bundle, path, populations=None, regions=None, *, window_bp=None, n_snps_windows=None,
                   step=None, min_snps=None, subsample=False, seed=0, ref_is_ancestral=False, calibrated=True,
                   keep_partial=False, pass_only=False, ancestral_allele=None, backend="auto", multiallelic="skip",
                   mask=None, min_accessible: float = 0.5, chunk_windows: int = 64,
                   piece_sites: int = 4096) -> WindowPredictions:
    """:func:`predict_vcf` over several chromosomes or regions of one file (VCF, BCF or VCF Zarr), in bounded
    memory, as one :class:`WindowPredictions` whose ``chromosomes`` gives each window's chromosome.

    ``regions``: None (every chromosome of the file, in one pass) or anything :func:`parse_regions` takes
    (each read through the index with htslib; without an index by a scan, with a warning). The file is read
    as a stream (:func:`popsim.realdata.vcf.iter_pieces`, ``piece_sites`` sites a piece) and cut into chunks of
    ``chunk_windows`` windows (:func:`window_chunks`) — in bp or of ``n_snps_windows`` SNPs alike — so memory
    is a chunk of windows plus a piece, whatever the chromosome's length or the backend. Windows and
    predictions are exactly those of :func:`predict_vcf` on each whole chromosome (tested).

    ``mask``: an accessibility mask (BED path or :class:`~popsim.realdata.mask.AccessibilityMask`), checked
    against the file's contigs; see :func:`predict_vcf`. ``multiallelic``: ``"skip"`` or ``"split"`` (see
    :func:`popsim.realdata.vcf.read_vcf`). Model/data mismatches raise as in :func:`predict_vcf` (on the first
    chunk); chunks without a usable window count as skipped windows; notes of the chunks are merged, each
    kind once.
    """
    from popsim.realdata import vcf as vcf_module

    path = Path(path)
    read_options = dict(pass_only=pass_only, ancestral_allele=ancestral_allele, backend=backend,
                        multiallelic=multiallelic, piece_sites=piece_sites)
    regions = parse_regions(regions)
    mask = _as_mask(mask)
    if mask is not None:
        mask.check_contigs(vcf_module.vcf_contigs(path, backend=backend), str(path))
    if not 0 <= min_accessible <= 1:
        raise ValueError(f"min_accessible must be a fraction in [0, 1]; got {min_accessible!r}")
    if window_bp is None and n_snps_windows is None:
        if bundle.window_bp is None:
            raise ValueError("the bundle does not record the simulated locus length; give window_bp")
        window_bp = bundle.window_bp
    predict_options = dict(window_bp=window_bp, n_snps_windows=n_snps_windows, step=step, min_snps=min_snps,
                           subsample=subsample, seed=seed, ref_is_ancestral=ref_is_ancestral, calibrated=calibrated,
                           mask=mask, min_accessible=min_accessible)
    read = {"sites": 0, "records": 0, "split": 0, "masked": 0, "backend": None, "first": None}

    def pieces():
        for region in (regions if regions is not None else [None]):
            for piece in vcf_module.iter_pieces(path, populations, region, **read_options):
                read["records"] += piece.n_records
                read["split"] += piece.n_split
                if piece.genotypes is not None:
                    read["sites"] += piece.genotypes.num_sites
                    read["backend"] = piece.genotypes.backend
                    read["first"] = read["first"] or piece.genotypes
                yield piece

    def prepare(g):
        if mask is not None:
            before = g.num_sites
            g = mask.apply(g)
            read["masked"] += before - g.num_sites
        if n_snps_windows is None:
            return g  # predict_vcf subsamples and drops non-segregating sites per chunk
        bundle.check_vcf(g, subsample=subsample, ref_is_ancestral=ref_is_ancestral)  # mismatches: at once
        if subsample and any(n > bundle.sample_sizes[p] for p, n in g.population_sizes.items() if n > 0):
            g = g.subsample(bundle.sample_sizes, seed)
        return g.segregating()

    parts, notes = [], {}
    chunks = window_chunks(pieces(), window_bp=None if n_snps_windows is not None else int(round(window_bp)),
                           step=step, n_snps=n_snps_windows, per_chunk=max(1, chunk_windows),
                           keep_partial=keep_partial, prepare=prepare)
    for g, partial in chunks:
        with warnings.catch_warnings():  # each window's notes are kept in result.warnings and merged below
            warnings.simplefilter("ignore", BundleWarning)
            result = predict_vcf(bundle, g, keep_partial=partial, empty_ok=True, **predict_options)
        if result is None:
            continue
        for message in result.warnings:
            _merge_note(notes, message)
        parts.append(result)
    if not parts:
        raise MismatchError(f"{path}: no window could be predicted in "
                            f"{'the regions given' if regions else 'any chromosome'} (too few SNPs or no "
                            "usable sites); see the data with popsim.realdata.vcf.read_vcf")
    first = parts[0]
    values = np.concatenate([p.values for p in parts])
    names = np.concatenate([np.array([p.chromosome] * len(p), dtype=object) for p in parts])
    chromosome_names = list(dict.fromkeys(names.tolist()))
    skipped = sum(p.skipped_windows for p in parts)
    merged = [m.format(*counts) if counts else m for m, counts in notes.values()]
    merged = [m for m in merged if "windows skipped" not in m and "accessible sequence" not in m]
    if skipped:
        merged.insert(0, f"{skipped} of {len(values) + skipped} windows skipped (too few segregating SNPs)")
    accessible = None
    if mask is not None:
        accessible = np.concatenate([p.accessible for p in parts])
        low = int(np.count_nonzero(accessible < min_accessible))
        if low:
            merged.append(f"{low} of {len(values)} windows have less than {100 * min_accessible:.0f} % accessible "
                          f"sequence (lowest {100 * accessible.min():.0f} %): their images see few bp of sequence")
    data = read["first"]
    sizes = data.population_sizes
    return replace(
        first, values=values, chromosome=",".join(chromosome_names), chromosomes=names,
        starts=np.concatenate([p.starts for p in parts]), ends=np.concatenate([p.ends for p in parts]),
        n_snps=np.concatenate([p.n_snps for p in parts]), padded=np.concatenate([p.padded for p in parts]),
        skipped_windows=skipped, warnings=merged, accessible=accessible,
        data_summary=(f"data: {path} {len(chromosome_names)} chromosome(s) ({', '.join(chromosome_names[:6])}"
                      f"{' ...' if len(chromosome_names) > 6 else ''}), {read['sites']} SNPs of {read['records']} "
                      f"records read"
                      + (f" ({read['split']} multiallelic records split)" if read["split"] else "")
                      + (f", {read['masked']} outside the mask dropped ({mask.summary()})" if mask is not None else "")
                      + f"; {data.num_individuals} individuals ({', '.join(f'{p}:{n}' for p, n in sizes.items())}), "
                      f"{'phased' if data.phased else 'unphased'}; {read['backend']} backend, streamed "
                      f"{piece_sites} sites at a time, {chunk_windows} windows per chunk"))


def predict_vcf_file(model, vcf, populations, *, region=None, regions=None, window_bp=None, window_snps=None,
                     step=None, min_snps=None, subsample=False, seed=0, ref_is_ancestral=False, ancestral_allele=None,
                     pass_only=False, calibrated=True, output=None, quiet=False, backend="auto", mask=None,
                     min_accessible=0.5, multiallelic="skip"):
    """What ``popsim predict`` does: read the bundle and the VCF, predict every window, write the files.

    ``model``: bundle path or a ``ModelBundle``; ``vcf``: VCF/BCF path or VCF Zarr store; ``populations``:
    population file path or ``{sample: population}`` dict. ``region``: one region; ``regions``: several
    (list, comma-separated string or BED file); neither: every chromosome of the file, walked by
    :func:`predict_genome` (bounded memory with an index or VCF Zarr). ``output``: folder for windows.csv
    (one row per window, with its chromosome), summary.csv (per chromosome and genome-wide) and predictions.png
    (None: write nothing). ``mask``: BED path or AccessibilityMask (see :func:`predict_vcf`). Other arguments as
    :func:`predict_vcf` and :func:`popsim.realdata.vcf.read_vcf`.
    Returns the :class:`WindowPredictions`; prints the summary unless ``quiet``.
    """
    bundle = model if isinstance(model, ModelBundle) else ModelBundle.load(model)
    if region is not None and regions is not None:
        raise ValueError("give region or regions, not both")
    with warnings.catch_warnings():
        # The warnings are kept in the result and printed with the summary, once.
        warnings.simplefilter("ignore", BundleWarning)
        predictions = predict_genome(bundle, vcf, populations, [region] if region is not None else regions,
                                     window_bp=window_bp, n_snps_windows=window_snps, step=step, min_snps=min_snps,
                                     subsample=subsample, seed=seed, ref_is_ancestral=ref_is_ancestral,
                                     calibrated=calibrated, pass_only=pass_only, ancestral_allele=ancestral_allele,
                                     backend=backend, mask=mask, min_accessible=min_accessible,
                                     multiallelic=multiallelic)
    if not quiet:
        print(predictions.summary_text())
        if len(set(predictions.window_chromosomes().tolist())) > 1:
            for name, part in predictions.by_chromosome().items():
                mean = ", ".join(f"{n} {_fmt(v)}" for n, v in zip(part.names, part.mean()))
                print(f"  {name}: {len(part)} windows; mean {mean}")
    if output is not None:
        output = Path(output)
        output.mkdir(parents=True, exist_ok=True)
        written = [predictions.to_csv(output / "windows.csv"), predictions.summary_to_csv(output / "summary.csv")]
        if predictions.chromosomes is not None:
            written.append(predictions.summary_to_csv(output / "summary_by_chromosome.csv", by_chromosome=True))
        plot_predictions(predictions, output / "predictions.png")
        written.append(output / "predictions.png")
        if not quiet:
            print("wrote " + ", ".join(str(p) for p in written))
    return predictions
