"""Accessibility masks: the callable part of a genome (a BED file), applied to real data and to simulations alike.

A sequencing study calls genotypes reliably only on part of the genome (the 1000 Genomes "strict" mask keeps
about 75 % of the bases; repeats, segmental duplications and low-mappability regions are out). Outside the
mask a site is absent because it could not be called, not because the bases are identical — and a network
trained on simulations of unmasked sequence would read those gaps as missing diversity. So the mask is applied
to both sides in the same way:

* **data** — :meth:`AccessibilityMask.apply` drops the sites outside the mask (counted as ``skipped["masked"]``);
  ``predict_vcf(..., mask=)`` / ``popsim predict --mask BED`` do it window by window;
* **windows** (the convention chosen here) — windows stay **fixed in bp on the genome** (the simulated locus
  length, as without a mask; ``n_snps`` counts the accessible sites in them), and each window is given to the
  network **in accessible coordinates**: positions count accessible bp from the window start
  (:meth:`AccessibilityMask.coordinates`) and the window's length is its accessible length
  (:meth:`AccessibilityMask.accessible_length`). The inter-SNP distance channel therefore measures accessible
  bp, and per-bp statistics divide by accessible bp. The accessible fraction of each window is recorded
  (``WindowPredictions.accessible``, column ``accessible_fraction``), with a warning below a threshold;
* **simulations** — :func:`mask_replicate` applies a window's mask to a simulated replicate (drops the sites
  outside, moves positions to accessible coordinates, gives the accessible length to use as
  ``sequence_length``), and :meth:`AccessibilityMask.sample_windows` draws window masks of the simulated
  length from the real genome's mask, so that the training replicates carry the same pattern of gaps
  (and so the same SNP counts per window) as the data windows. Lesson 15 shows the loop.

The BED file: ``chrom start end`` per line, 0-based half-open (``chr1 0 100`` is bases 1..100), more columns
ignored, ``#``/``track``/``browser`` lines skipped; intervals may come in any order and overlap (they are
sorted and merged: the mask is a set of bases). Errors name the file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

__all__ = ["AccessibilityMask", "mask_replicate", "read_bed"]


def read_bed(path) -> list:
    """``[(chrom, start, end)]`` of a BED file, 0-based half-open as written, in file order; errors name the
    file and line (a missing file, a folder, fewer than 3 columns, non-integer or negative bounds, end <= start,
    no interval at all)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"BED file {str(path)!r} is a directory; expected a text file with lines "
                         "'chrom start end' (0-based, half-open)")
    if not path.exists():
        raise FileNotFoundError(f"BED file {str(path)!r} does not exist")
    out = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text BED file (is it compressed? expected lines 'chrom start end')") \
            from None
    for lineno, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words or words[0].startswith("#") or words[0] in ("track", "browser"):
            continue
        if len(words) < 3 or not words[1].isdigit() or not words[2].isdigit() or int(words[2]) <= int(words[1]):
            raise ValueError(f"{path}, line {lineno}: expected a BED line 'chrom start end' (0-based, "
                             f"half-open, 0 <= start < end); got {line[:80]!r}")
        out.append((words[0], int(words[1]), int(words[2])))
    if not out:
        raise ValueError(f"{path}: no intervals in the BED file (expected lines 'chrom start end')")
    return out


def _merge(intervals: np.ndarray) -> np.ndarray:
    """(k, 2) 0-based half-open intervals sorted by start, overlapping or touching ones merged."""
    intervals = intervals[np.argsort(intervals[:, 0], kind="stable")]
    starts, ends = intervals[:, 0], np.maximum.accumulate(intervals[:, 1])
    new = np.r_[True, starts[1:] > ends[:-1]]  # an interval starting after every earlier end opens a run
    first = np.flatnonzero(new)
    last = np.r_[first[1:] - 1, len(intervals) - 1]
    return np.stack([starts[first], ends[last]], axis=1).astype(np.int64)


@dataclass
class AccessibilityMask:
    """The accessible bases of a genome: ``{contig: (k, 2) int64}`` sorted, merged, 0-based half-open intervals.

    Coordinates in the methods are 1-based inclusive, as VCF POS and ``VcfGenotypes.start``/``end``.
    """

    intervals: dict
    source: str = ""

    @classmethod
    def from_bed(cls, path) -> "AccessibilityMask":
        """Read a BED file (:func:`read_bed`); intervals sorted and merged per contig."""
        by_contig: dict = {}
        for chrom, start, end in read_bed(path):
            by_contig.setdefault(chrom, []).append((start, end))
        return cls({c: _merge(np.array(v, dtype=np.int64)) for c, v in by_contig.items()}, str(path))

    @classmethod
    def from_intervals(cls, intervals: dict, source: str = "") -> "AccessibilityMask":
        """From ``{contig: [(start, end), ...]}`` 0-based half-open (any order, overlaps merged)."""
        out = {}
        for chrom, v in intervals.items():
            v = np.asarray(v, dtype=np.int64).reshape(-1, 2)
            if len(v) and (np.any(v[:, 0] < 0) or np.any(v[:, 1] <= v[:, 0])):
                raise ValueError(f"mask intervals of {chrom!r} must have 0 <= start < end (0-based, half-open)")
            out[chrom] = _merge(v) if len(v) else v
        return cls(out, source)

    # -- checks ----------------------------------------------------------------------------------------
    def check_contigs(self, contigs, data: str) -> None:
        """Every contig of the mask must be a contig of the data (``contigs``: names from the VCF header,
        index or store; nothing is checked when the data declare none) — a mask on another naming
        (``1`` vs ``chr1``) or another genome is an error naming the BED file."""
        contigs = list(contigs)
        unknown = [c for c in self.intervals if c not in contigs]
        if contigs and unknown:
            raise ValueError(f"{self.source or 'mask'}: contig {unknown[0]!r} of the mask is not a contig of {data} "
                             f"(which has {', '.join(contigs[:6])}{' ...' if len(contigs) > 6 else ''}); a mask for "
                             "another genome or naming (1 vs chr1)?")

    # -- per contig ------------------------------------------------------------------------------------
    def _before(self, chrom: str, x) -> np.ndarray:
        """Accessible bp in the 0-based half-open ``[0, x)`` of ``chrom``, for an array of ``x``."""
        iv = self.intervals.get(chrom)
        x = np.asarray(x, dtype=np.int64)
        if iv is None or not len(iv):
            return np.zeros_like(x)
        lengths = iv[:, 1] - iv[:, 0]
        cum = np.r_[0, np.cumsum(lengths)]                       # accessible bp before interval i
        i = np.searchsorted(iv[:, 0], x, side="right") - 1       # last interval starting before x
        inside = np.clip(x - iv[np.maximum(i, 0), 0], 0, lengths[np.maximum(i, 0)])
        return np.where(i >= 0, cum[np.maximum(i, 0)] + inside, 0)

    def contains(self, chrom: str, positions) -> np.ndarray:
        """(sites,) bool: 1-based ``positions`` on accessible bases."""
        iv = self.intervals.get(chrom)
        x = np.asarray(positions, dtype=np.int64) - 1
        if iv is None or not len(iv):
            return np.zeros(x.shape, dtype=bool)
        i = np.searchsorted(iv[:, 0], x, side="right") - 1
        return (i >= 0) & (x < iv[np.maximum(i, 0), 1])

    def accessible_length(self, chrom: str, start: int, end: int) -> int:
        """Accessible bp in ``[start, end]`` (1-based inclusive)."""
        a, b = self._before(chrom, [start - 1, end])
        return int(b - a)

    def coordinates(self, chrom: str, positions, start: int) -> np.ndarray:
        """1-based positions in accessible coordinates of the window starting at ``start``: the number of
        accessible bp in ``[start, POS]`` (for an accessible POS, its rank among the window's accessible bases)."""
        return self._before(chrom, np.asarray(positions, dtype=np.int64)) - self._before(chrom, [start - 1])[0]

    def window(self, chrom: str, start: int, end: int) -> np.ndarray:
        """The mask of the window ``[start, end]`` (1-based inclusive) as (k, 2) 0-based half-open intervals
        relative to the window (0 = its first base) — what :func:`mask_replicate` takes."""
        iv = self.intervals.get(chrom, np.zeros((0, 2), dtype=np.int64))
        lo, hi = start - 1, end
        part = iv[(iv[:, 1] > lo) & (iv[:, 0] < hi)]
        return np.clip(part, lo, hi) - lo

    # -- data and simulations --------------------------------------------------------------------------
    def apply(self, genotypes):
        """A ``VcfGenotypes`` without its sites outside the mask (counted in ``skipped["masked"]``); the same
        object if none is outside."""
        keep = self.contains(genotypes.chromosome, genotypes.absolute_positions)
        if keep.all():
            return genotypes
        skipped = dict(genotypes.skipped)
        skipped["masked"] = skipped.get("masked", 0) + int(np.count_nonzero(~keep))
        return replace(genotypes, calls=genotypes.calls[keep], positions=genotypes.positions[keep], skipped=skipped)

    def sample_windows(self, length: int, n: int, seed: int, chromosomes=None) -> list:
        """``n`` window masks of ``length`` bp drawn uniformly from the genome (windows lying inside a contig's
        masked span, from its first to its last accessible base; contigs weighted by that span), each as
        :meth:`window` gives it — to apply to ``n`` simulated replicates with :func:`mask_replicate`."""
        rng = np.random.default_rng(seed)
        names = [c for c in (chromosomes or self.intervals) if len(self.intervals.get(c, ()))]
        spans = np.array([self.intervals[c][-1, 1] - self.intervals[c][0, 0] - length + 1 for c in names])
        if not len(names) or spans.max(initial=0) < 1:
            raise ValueError(f"{self.source or 'mask'}: no contig spans a window of {length} bp")
        spans = np.maximum(spans, 0)
        picks = rng.choice(len(names), size=n, p=spans / spans.sum())
        out = []
        for k in picks:
            first = int(self.intervals[names[k]][0, 0]) + int(rng.integers(0, spans[k]))
            out.append(self.window(names[k], first + 1, first + length))
        return out

    def summary(self) -> str:
        total = sum(int((v[:, 1] - v[:, 0]).sum()) for v in self.intervals.values())
        return (f"mask {self.source or ''}: {sum(len(v) for v in self.intervals.values())} intervals on "
                f"{len(self.intervals)} contig(s), {total:,} accessible bp")


def mask_replicate(genotypes, positions, sequence_length: float, intervals):
    """Apply a window mask to a simulated replicate, so that it looks like a masked data window.

    ``genotypes``: (sites, haplotypes) as ``ts.genotype_matrix()`` or a dataset's raw genotypes;
    ``positions``: (sites,) bp within the locus, 0-based as tskit's (``[0, sequence_length)``);
    ``intervals``: (k, 2) 0-based half-open accessible intervals relative to the locus (e.g. from
    :meth:`AccessibilityMask.window` or :meth:`~AccessibilityMask.sample_windows`).

    Returns ``(genotypes, positions, accessible_length)``: the sites on accessible bases only, their positions
    in accessible coordinates (accessible bp before the site, 0-based, so a site on the first accessible base is
    at 0) and the accessible length — pass it as ``sequence_length`` to the image transform or to per-bp
    statistics, exactly as :func:`popsim.realdata.windows.predict_vcf` does for a data window.
    """
    positions = np.asarray(positions, dtype=np.float64)
    iv = np.asarray(intervals, dtype=np.int64).reshape(-1, 2)
    if len(iv):
        iv = _merge(np.clip(iv, 0, int(np.ceil(sequence_length))))
        iv = iv[iv[:, 1] > iv[:, 0]]
    mask = AccessibilityMask({"locus": iv})
    base = np.floor(positions).astype(np.int64)  # the base a (possibly continuous) position falls on
    keep = mask.contains("locus", base + 1)
    accessible = int((iv[:, 1] - iv[:, 0]).sum()) if len(iv) else 0
    moved = mask._before("locus", base[keep]) + (positions[keep] - base[keep])
    return np.asarray(genotypes)[keep], moved.astype(np.float64), accessible
