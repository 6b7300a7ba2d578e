"""Summary statistics of haplotype data, with tskit's definitions and stated normalisations.

Input convention (shared with ``popsim.sim.simulate`` and ``popsim.realdata.vcf``)
--------------------------------------------------------------------
``genotypes``
    integer matrix of shape ``(sites, haplotypes)`` exactly as ``tskit.TreeSequence.genotype_matrix()``
    returns it: ``0`` = ancestral allele, ``1`` = derived allele, ``-1`` = missing call.
``populations``
    either a label per haplotype (array of length ``haplotypes``; ints or strings) or a mapping
    ``{name: [haplotype indices]}``. Statistic columns are named after the labels (``pi_GN``).
``sequence_length``
    length of the locus in bp (the same number tskit calls ``sequence_length``).

Normalisation
-------------
Every diversity-type statistic exists *per locus* (a total over the locus, tskit's
``span_normalise=False``) and *per bp* (the total divided by ``sequence_length``, tskit's default
``span_normalise=True``). Functions return per-bp values when given ``sequence_length`` and per-locus
totals when ``sequence_length`` is ``None``. Ratios (Tajima's D, Fst, haplotype diversity) do not
depend on the normalisation.

With ``n`` haplotypes and ``x`` copies of the derived allele at a site (``0 <= x <= n``):

=====================  =======================================================================
statistic              per-locus definition (sum over sites)
=====================  =======================================================================
S                      number of segregating sites, ``0 < x < n``   (tskit ``segregating_sites``)
π (pi)                 ``Σ 2·x·(n−x) / (n·(n−1))``                   (tskit ``diversity``)
θ_W (theta_w)          ``S / a1``,  ``a1 = Σ_{i=1}^{n−1} 1/i``      (Watterson 1975)
Tajima's D             tskit ``Tajimas_D`` (formula in :func:`tajimas_d`)
θ_H (theta_h)          ``Σ 2·x² / (n·(n−1))`` over segregating sites (Fay & Wu 2000; needs polarised data)
Fay & Wu's H           ``π − θ_H`` (unnormalised, as in Fay & Wu 2000)
SFS                    ``ξ_i`` = number of sites with ``x = i``       (tskit ``allele_frequency_spectrum``)
binned SFS / joint SFS per population / pair, binned into a few named columns (:mod:`popsim.features.sfs`)
dxy                    ``Σ [x1·(n2−x2) + x2·(n1−x1)] / (n1·n2)``    (tskit ``divergence``)
net divergence (da)    ``dxy − (π1 + π2)/2``                           (Nei & Li 1979)
Fst (Hudson)           ``1 − ((π1 + π2)/2) / dxy``                     (Hudson et al. 1992; Bhatia et al. 2013,
                                                                        ratio of averages over sites)
Fst (tskit)            ``1 − 2·(π1 + π2) / (π1 + 2·dxy + π2)``         (tskit ``Fst``; Slatkin 1991 eq. 6,
                                                                        Nei 1973 eq. 9)
haplotypes             number of distinct haplotypes
haplotype diversity    ``n/(n−1) · (1 − Σ_k p_k²)``, ``p_k`` = frequency of haplotype k (Nei 1987)
=====================  =======================================================================

Missing data (``-1``)
---------------------
Per-site statistics (S, π, θ_W, dxy and what is built from them) use the *called* haplotypes of each site:
``n`` and ``x`` above become the number of non-missing calls and the derived count among them; a site with
fewer than two calls contributes nothing, and θ_W divides each segregating site by ``a1(n_site)``.
Tajima's D then uses the full sample size ``n`` of the set (an approximation when data are missing).
The SFS, θ_H, Fay & Wu's H and the haplotype statistics need complete sites: sites with a missing call in
the set are left out of them. Simulated data have no missing calls, and then everything equals tskit.

Undefined values
----------------
A ratio with nothing to divide by is NaN, never an error, as in tskit: Tajima's D with no segregating site
or fewer than two haplotypes, both Fst with no segregating site (and Hudson's when dxy = 0), haplotype
diversity with fewer than two haplotypes. A replicate without any segregating site therefore gets NaN in
those columns; ABC (``nan_policy``) and the networks' scalers must be told what to do with such rows.
An empty sample set of a two-population statistic is a ``ValueError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
import itertools
import warnings
from itertools import combinations
from typing import Iterable, Mapping, Sequence

import numpy as np

from popsim.features.haplotypes import haplotype_statistics
from popsim.features.sfs import binned_joint_sfs, binned_sfs, fold_joint, joint_sfs

__all__ = [
    "STATISTICS",
    "PRESETS",
    "StatisticsTable",
    "SiteCounts",
    "site_counts",
    "segregating_sites",
    "diversity",
    "watterson_theta",
    "tajimas_d",
    "theta_h",
    "fay_wu_h",
    "sfs",
    "divergence",
    "net_divergence",
    "fst_hudson",
    "fst_tskit",
    "haplotype_count",
    "haplotype_diversity",
    "compute_statistics",
    "statistics_table",
    "column_key",
    "degenerate_columns",
    "warn_degenerate",
    "DegenerateStatisticWarning",
    "from_tree_sequence",
]

# Statistic keys a caller can ask for, by kind. "pop" keys give one column per population
# (``S_GN``), "pair" keys one column per pair of populations (``dxy_GN_BF``).
STATISTICS = {
    "all": ("S", "pi", "theta_w", "tajimas_d", "theta_h", "fay_wu_h",
            "n_haplotypes", "haplotype_diversity", "sfs", "sfs_folded"),
    "pop": ("S_pop", "pi_pop", "theta_w_pop", "tajimas_d_pop", "sfs_pop", "sfs_folded_pop"),
    "pair": ("dxy", "da", "fst_hudson", "fst_tskit", "jsfs", "jsfs_folded", "snn", "dxy_rel"),
}

# Named sets of statistics. "t1" is the 8 statistics of TASKS.md T1 (tskit definitions, per bp):
# Fst (tskit), dxy, then S, π and Tajima's D of each of the two populations.
PRESETS = {
    "t1": ("fst_tskit", "dxy", "S_pop", "pi_pop", "tajimas_d_pop"),
    "default": ("S", "pi", "theta_w", "tajimas_d", "theta_h", "fay_wu_h", "n_haplotypes",
                "haplotype_diversity", "S_pop", "pi_pop", "theta_w_pop", "tajimas_d_pop",
                "dxy", "da", "fst_hudson", "fst_tskit"),
}
# The default set plus the binned spectrum of each population and the binned joint spectrum of each pair
# (per-population SFS summaries took ABC model choice from 87 % to 97 % on a three-model task).
PRESETS["default_sfs"] = PRESETS["default"] + ("sfs_pop", "jsfs")
# The 8 statistics of T1 plus each population's binned spectrum.
PRESETS["t1_sfs"] = PRESETS["t1"] + ("sfs_pop",)
# The SFS set plus the haplotype-structure statistics of each pair (popsim.features.haplotypes: Hudson's Snn
# and the relative spread of between-population differences, per locus): what whole haplotypes show and
# single sites do not (on the flagship task an MLP gained 1-2 points from them at 10^4 simulations per model).
PRESETS["default_hap"] = PRESETS["default_sfs"] + ("snn", "dxy_rel")

# Keys computed on complete sites only (no missing call in the set): with much missing data few or none
# remain, and the column is then constant (0, or NaN for proportions) — the reason degenerate_columns gives.
COMPLETE_SITE_KEYS = ("theta_h", "fay_wu_h", "n_haplotypes", "haplotype_diversity", "sfs", "sfs_folded",
                      "sfs_pop", "sfs_folded_pop", "jsfs", "jsfs_folded", "snn", "dxy_rel")
# Keys computed locus by locus when the loci of the sites are given (haplotypes are compared within a locus).
PER_LOCUS_KEYS = ("snn", "dxy_rel")


# ----------------------------------------------------------------------------------------------
# Input checking and allele counts
# ----------------------------------------------------------------------------------------------

def _check_genotypes(genotypes) -> np.ndarray:
    """Return ``genotypes`` as a 2-D integer array, or raise a one-sentence ValueError."""
    g = np.asarray(genotypes)
    if g.ndim != 2:
        raise ValueError(f"genotypes expected a 2-D matrix (sites, haplotypes); got shape {g.shape}")
    if g.size and not np.issubdtype(g.dtype, np.integer):
        raise ValueError(f"genotypes expected an integer matrix of 0/1/-1; got dtype {g.dtype}")
    if g.size and (g.min() < -1 or g.max() > 1):
        raise ValueError(
            "genotypes expected 0 (ancestral), 1 (derived) or -1 (missing); "
            f"got values from {g.min()} to {g.max()}")
    return g


def _check_length(sequence_length):
    """Validate ``sequence_length`` (bp) or None (per-locus totals)."""
    if sequence_length is None:
        return None
    L = float(sequence_length)
    if not np.isfinite(L) or L <= 0:
        raise ValueError(f"sequence_length expected a positive length in bp; got {sequence_length!r}")
    return L


def _per(value, sequence_length):
    """Divide a per-locus total by the length in bp when one is given (tskit's span_normalise)."""
    return value if sequence_length is None else value / sequence_length


@dataclass(frozen=True)
class SiteCounts:
    """Derived-allele counts of one set of haplotypes at every site.

    Attributes
    ----------
    derived : ndarray, shape (sites,), int64
        ``x``: number of called haplotypes carrying the derived allele.
    called : ndarray, shape (sites,), int64
        ``n_site``: number of haplotypes with a non-missing call.
    n : int
        Number of haplotypes in the set (``n_site == n`` at complete sites).
    """

    derived: np.ndarray
    called: np.ndarray
    n: int

    @property
    def complete(self) -> np.ndarray:
        """Boolean mask of sites with no missing call in the set, shape (sites,)."""
        return self.called == self.n


def site_counts(genotypes, haplotypes=None) -> SiteCounts:
    """Count derived alleles per site in a set of haplotypes.

    Parameters
    ----------
    genotypes : array_like, shape (sites, haplotypes), int
        0 ancestral, 1 derived, -1 missing.
    haplotypes : sequence of int, optional
        Column indices of the sample set; all columns when omitted.
    """
    g = _check_genotypes(genotypes)
    if haplotypes is not None:
        g = g[:, np.asarray(haplotypes, dtype=np.int64)]
    n = g.shape[1]
    # Fast path: no missing data, so the derived count is a plain row sum.
    if g.size == 0 or g.min() >= 0:
        derived = g.sum(axis=1, dtype=np.int64)
        called = np.full(g.shape[0], n, dtype=np.int64)
    else:
        derived = (g == 1).sum(axis=1, dtype=np.int64)
        called = (g >= 0).sum(axis=1, dtype=np.int64)
    return SiteCounts(derived=derived, called=called, n=n)


def _counts(genotypes_or_counts, haplotypes=None) -> SiteCounts:
    """Accept either a SiteCounts or a genotype matrix (+ optional haplotype subset)."""
    if isinstance(genotypes_or_counts, SiteCounts):
        return genotypes_or_counts
    return site_counts(genotypes_or_counts, haplotypes)


def _harmonic(n: int, power: int = 1) -> float:
    """``Σ_{i=1}^{n−1} 1/i**power`` (a1 for power 1, a2 for power 2); 0 for n < 2."""
    if n < 2:
        return 0.0
    return float(np.sum(1.0 / np.arange(1, n, dtype=np.float64) ** power))


# ----------------------------------------------------------------------------------------------
# One-population statistics
# ----------------------------------------------------------------------------------------------

def _segregating_mask(c: SiteCounts) -> np.ndarray:
    # A site segregates in the set when both alleles are seen among its called haplotypes.
    return (c.derived > 0) & (c.derived < c.called)


def segregating_sites(genotypes, haplotypes=None, sequence_length=None) -> float:
    """Number of segregating sites S (per locus), or S / L (per bp) when ``sequence_length`` is given.

    Equals ``ts.segregating_sites(sample_set, mode="site", span_normalise=...)``.
    """
    c = _counts(genotypes, haplotypes)
    return _per(float(np.count_nonzero(_segregating_mask(c))), _check_length(sequence_length))


def _pi_per_site(c: SiteCounts) -> np.ndarray:
    """π at each site: the probability that two haplotypes drawn without replacement differ."""
    n, x = c.called.astype(np.float64), c.derived.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        # 2·x·(n−x) ordered pairs differ out of n·(n−1) ordered pairs.
        pi = 2.0 * x * (n - x) / (n * (n - 1.0))
    # Sites with fewer than two calls carry no information about pairwise differences.
    return np.where(c.called >= 2, pi, 0.0)


def diversity(genotypes, haplotypes=None, sequence_length=None) -> float:
    """Nucleotide diversity π = ``Σ_sites 2·x·(n−x) / (n·(n−1))`` (per locus), divided by L per bp.

    π is the mean number of differences between two haplotypes of the set; equals
    ``ts.diversity(sample_set, mode="site")`` (per bp) and its ``span_normalise=False`` form (per locus).
    """
    c = _counts(genotypes, haplotypes)
    return _per(float(_pi_per_site(c).sum()), _check_length(sequence_length))


def watterson_theta(genotypes, haplotypes=None, sequence_length=None) -> float:
    """Watterson's θ_W = S / a1 with ``a1 = Σ_{i=1}^{n−1} 1/i`` (per locus), divided by L per bp.

    With missing data each segregating site is divided by ``a1(n_site)`` of its own call count.
    """
    c = _counts(genotypes, haplotypes)
    seg = _segregating_mask(c)
    if not np.any(seg):
        return _per(0.0, _check_length(sequence_length))
    # a1 depends on n, so look it up once per distinct call count (one value without missing data).
    a1 = {int(m): _harmonic(int(m)) for m in np.unique(c.called[seg])}
    total = float(sum(1.0 / a1[int(m)] for m in c.called[seg]))
    return _per(total, _check_length(sequence_length))


def _tajimas_d_from(pi_total: float, s_total: float, n: int) -> float:
    """Tajima's D from per-locus π and S, with tskit's constants.

    ``D = (π − S/h) / sqrt(a·S + (b/c)·S·(S−1))`` where ``h = Σ_{i<n} 1/i``, ``g = Σ_{i<n} 1/i²``,
    ``a = (n+1)/(3(n−1)h) − 1/h²``, ``b = 2(n²+n+3)/(9n(n−1)) − (n+2)/(hn) + g/h²``, ``c = h² + g``.
    NaN when S = 0 or n < 2 (0/0, as tskit).
    """
    if n < 2 or s_total == 0:
        return float("nan")
    h, g = _harmonic(n, 1), _harmonic(n, 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = (n + 1) / (3 * (n - 1) * h) - 1 / h**2
        b = 2 * (n**2 + n + 3) / (9 * n * (n - 1)) - (n + 2) / (h * n) + g / h**2
        d = (pi_total - s_total / h) / np.sqrt(a * s_total + (b / (h**2 + g)) * s_total * (s_total - 1))
    return float(d)


def tajimas_d(genotypes, haplotypes=None) -> float:
    """Tajima's D (unitless; the same per locus and per bp), equal to ``ts.Tajimas_D(sample_set)``.

    D compares π with θ_W: negative when rare variants are in excess (growth, sweeps), positive when
    intermediate-frequency variants are (bottleneck, balancing selection, structure). Constants are in
    :func:`_tajimas_d_from`. NaN when the set has no segregating site.
    """
    c = _counts(genotypes, haplotypes)
    return _tajimas_d_from(float(_pi_per_site(c).sum()), float(np.count_nonzero(_segregating_mask(c))), c.n)


def sfs(genotypes, haplotypes=None, folded=False, sequence_length=None) -> np.ndarray:
    """Site frequency spectrum ξ, shape (n + 1,), laid out as tskit's ``allele_frequency_spectrum``.

    Unfolded (``folded=False``, needs the ancestral state): ``ξ[i]`` = number of sites where exactly i of
    the n haplotypes carry the derived allele (``ξ[0]`` and ``ξ[n]``: sites monomorphic in this set but
    present in the data). Folded: ``ξ[i] + ξ[n−i]`` for ``i < n/2``, ``ξ[n/2]`` once, zeros above n/2,
    which equals tskit with ``polarised=False``. Per locus (counts) unless ``sequence_length`` is given.
    Note: tskit's default is ``span_normalise=True``; pass ``sequence_length`` to match it.
    Only sites with no missing call in the set are counted.
    """
    c = _counts(genotypes, haplotypes)
    n = c.n
    xi = np.bincount(c.derived[c.complete], minlength=n + 1).astype(np.float64)
    if folded:
        folded_xi = np.zeros_like(xi)
        for i in range(n // 2 + 1):
            # Frequencies i and n−i cannot be told apart without the ancestral state.
            folded_xi[i] = xi[i] + (xi[n - i] if n - i != i else 0.0)
        xi = folded_xi
    return _per(xi, _check_length(sequence_length))


def theta_h(genotypes, haplotypes=None, sequence_length=None) -> float:
    """Fay & Wu's θ_H = ``Σ_{i=1}^{n−1} 2·i²·ξ_i / (n·(n−1))`` from the unfolded SFS (per locus or per bp).

    θ_H weights high-frequency derived variants heavily; under the neutral constant-size model
    E[θ_H] = E[π] = θ = 4·N·μ·L. Requires the derived/ancestral polarisation.
    """
    c = _counts(genotypes, haplotypes)
    n = c.n
    if n < 2:
        return _per(0.0, _check_length(sequence_length))
    xi = sfs(c)
    i = np.arange(n + 1, dtype=np.float64)
    # Only segregating classes 1..n−1 count; fixed (i = n) or absent (i = 0) alleles are not variation.
    total = float(np.sum(2.0 * i[1:n] ** 2 * xi[1:n]) / (n * (n - 1.0)))
    return _per(total, _check_length(sequence_length))


def fay_wu_h(genotypes, haplotypes=None, sequence_length=None) -> float:
    """Fay & Wu's H = π − θ_H (unnormalised), both from the complete sites of the unfolded SFS.

    π here is ``Σ 2·i·(n−i)·ξ_i / (n·(n−1))`` on the same complete sites as θ_H, so H is exactly a linear
    function of the SFS; E[H] = 0 under neutrality, strongly negative after a selective sweep.
    """
    c = _counts(genotypes, haplotypes)
    n = c.n
    if n < 2:
        return _per(0.0, _check_length(sequence_length))
    xi = sfs(c)
    i = np.arange(n + 1, dtype=np.float64)
    pi_sfs = np.sum(2.0 * i[1:n] * (n - i[1:n]) * xi[1:n]) / (n * (n - 1.0))
    th = np.sum(2.0 * i[1:n] ** 2 * xi[1:n]) / (n * (n - 1.0))
    return _per(float(pi_sfs - th), _check_length(sequence_length))


def _haplotype_frequencies(genotypes, haplotypes=None) -> np.ndarray:
    """Counts of each distinct haplotype (over complete sites), shape (distinct haplotypes,)."""
    g = _check_genotypes(genotypes)
    if haplotypes is not None:
        g = g[:, np.asarray(haplotypes, dtype=np.int64)]
    if g.shape[1] == 0:
        return np.zeros(0, dtype=np.int64)
    # Haplotypes are compared on the sites where every member of the set has a call.
    g = g[np.all(g >= 0, axis=1)]
    if g.shape[0] == 0:
        return np.array([g.shape[1]], dtype=np.int64)
    # One row per haplotype; pack its 0/1 string into bytes so np.unique compares short rows.
    packed = np.packbits(np.ascontiguousarray(g.T, dtype=np.uint8), axis=1)
    _, counts = np.unique(packed, axis=0, return_counts=True)
    return counts


def haplotype_count(genotypes, haplotypes=None) -> int:
    """Number of distinct haplotypes K in the set (on sites with no missing call)."""
    return int(_haplotype_frequencies(genotypes, haplotypes).size)


def haplotype_diversity(genotypes, haplotypes=None) -> float:
    """Haplotype diversity ``H = n/(n−1) · (1 − Σ_k p_k²)`` (Nei 1987); NaN for n < 2.

    The probability that two haplotypes drawn without replacement differ at one site or more.
    """
    counts = _haplotype_frequencies(genotypes, haplotypes)
    n = int(counts.sum())
    if n < 2:
        return float("nan")
    p = counts / n
    return float(n / (n - 1.0) * (1.0 - np.sum(p**2)))


# ----------------------------------------------------------------------------------------------
# Two-population statistics
# ----------------------------------------------------------------------------------------------

def _two_sets(genotypes, haplotypes_1, haplotypes_2) -> tuple[SiteCounts, SiteCounts]:
    """Site counts of two sample sets, each of at least one haplotype."""
    for name, haplotypes in (("haplotypes_1", haplotypes_1), ("haplotypes_2", haplotypes_2)):
        if len(np.asarray(haplotypes).reshape(-1)) == 0:
            raise ValueError(f"{name} is empty; a two-population statistic needs at least one haplotype in each set")
    return site_counts(genotypes, haplotypes_1), site_counts(genotypes, haplotypes_2)


def _dxy_total(c1: SiteCounts, c2: SiteCounts) -> float:
    """Per-locus dxy: the mean number of differences between one haplotype of each set."""
    n1, x1 = c1.called.astype(np.float64), c1.derived.astype(np.float64)
    n2, x2 = c2.called.astype(np.float64), c2.derived.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        # Out of n1·n2 between-set pairs, x1·(n2−x2) + x2·(n1−x1) carry different alleles.
        d = (x1 * (n2 - x2) + x2 * (n1 - x1)) / (n1 * n2)
    return float(np.where((c1.called > 0) & (c2.called > 0), d, 0.0).sum())


def divergence(genotypes, haplotypes_1, haplotypes_2, sequence_length=None) -> float:
    """Between-population divergence dxy = ``Σ_sites [x1(n2−x2) + x2(n1−x1)] / (n1·n2)``.

    Per locus, or per bp when ``sequence_length`` is given; equals ``ts.divergence([set1, set2])``.
    """
    c1, c2 = _two_sets(genotypes, haplotypes_1, haplotypes_2)
    return _per(_dxy_total(c1, c2), _check_length(sequence_length))


def net_divergence(genotypes, haplotypes_1, haplotypes_2, sequence_length=None) -> float:
    """Net divergence da = dxy − (π1 + π2)/2 (Nei & Li 1979), per locus or per bp."""
    c1, c2 = _two_sets(genotypes, haplotypes_1, haplotypes_2)
    da = _dxy_total(c1, c2) - 0.5 * (_pi_per_site(c1).sum() + _pi_per_site(c2).sum())
    return _per(float(da), _check_length(sequence_length))


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when the denominator is 0 (no segregating site: undefined, as in tskit)."""
    return float(numerator) / float(denominator) if denominator != 0 else float("nan")


def _fst_hudson_from(pi1: float, pi2: float, dxy: float) -> float:
    """NaN when dxy = 0 (no site differs between the sets)."""
    return 1.0 - _ratio(0.5 * (pi1 + pi2), dxy)


def _fst_tskit_from(pi1: float, pi2: float, dxy: float) -> float:
    """NaN when π1 + 2·dxy + π2 = 0 (no segregating site), as ``ts.Fst``."""
    return 1.0 - _ratio(2.0 * (pi1 + pi2), pi1 + 2.0 * dxy + pi2)


def fst_hudson(genotypes, haplotypes_1, haplotypes_2) -> float:
    """Hudson's Fst = 1 − π_within / π_between = ``1 − ((π1 + π2)/2) / dxy``.

    "Ratio of averages" (Bhatia et al. 2013): π and dxy are summed over all sites first, then divided.
    """
    c1, c2 = _two_sets(genotypes, haplotypes_1, haplotypes_2)
    return _fst_hudson_from(_pi_per_site(c1).sum(), _pi_per_site(c2).sum(), _dxy_total(c1, c2))


def fst_tskit(genotypes, haplotypes_1, haplotypes_2) -> float:
    """tskit's Fst = ``1 − 2·(π1 + π2) / (π1 + 2·dxy + π2)`` (Slatkin 1991 eq. 6; Nei 1973 eq. 9).

    It is ``1 − π_within / π_total`` with ``π_total = (π_within + dxy)/2``; equals ``ts.Fst([set1, set2])``.
    Always smaller than Hudson's Fst for the same data.
    """
    c1, c2 = _two_sets(genotypes, haplotypes_1, haplotypes_2)
    return _fst_tskit_from(_pi_per_site(c1).sum(), _pi_per_site(c2).sum(), _dxy_total(c1, c2))


# ----------------------------------------------------------------------------------------------
# Many statistics at once, and tables over replicates
# ----------------------------------------------------------------------------------------------

def _population_sets(populations, n_haplotypes: int) -> dict[str, np.ndarray]:
    """Turn a label per haplotype, or a mapping name → indices, into {name: index array}."""
    if populations is None:
        return {}
    if isinstance(populations, Mapping):
        sets = {str(k): np.asarray(v, dtype=np.int64) for k, v in populations.items()}
    else:
        labels = np.asarray(populations)
        if labels.shape != (n_haplotypes,):
            raise ValueError(
                f"populations expected one label per haplotype, shape ({n_haplotypes},); "
                f"got shape {labels.shape}")
        # Keep the order in which populations first appear, so columns follow the sample order.
        _, first = np.unique(labels, return_index=True)
        order = labels[np.sort(first)]
        sets = {str(lab): np.flatnonzero(labels == lab) for lab in order}
    for name, idx in sets.items():
        if idx.size and (idx.min() < 0 or idx.max() >= n_haplotypes):
            raise ValueError(
                f"populations[{name!r}] expected haplotype indices in 0..{n_haplotypes - 1}; "
                f"got {idx.min()}..{idx.max()}")
    return sets


def _expand(statistics) -> tuple[str, ...]:
    """Resolve a preset name or a list of keys into the list of statistic keys."""
    if statistics is None:
        statistics = "default"
    if isinstance(statistics, str):
        if statistics not in PRESETS:
            raise ValueError(f"statistics expected a preset name in {sorted(PRESETS)} or a list of keys; "
                             f"got {statistics!r}")
        return PRESETS[statistics]
    keys = tuple(statistics)
    known = set(STATISTICS["all"]) | set(STATISTICS["pop"]) | set(STATISTICS["pair"])
    for k in keys:
        if k not in known:
            raise ValueError(f"statistics expected keys from {sorted(known)}; got unknown key {k!r}")
    return keys


def compute_statistics(genotypes, sequence_length=None, populations=None, statistics=None, sfs_bins=None,
                       sfs_scale="proportion", loci=None) -> dict[str, float]:
    """Compute named summary statistics of one locus.

    Parameters
    ----------
    genotypes : array_like, shape (sites, haplotypes), int
        0 ancestral, 1 derived, -1 missing (tskit's ``genotype_matrix()``).
    sequence_length : float or None
        Locus length in bp. Given → per-bp values (tskit ``span_normalise=True``);
        None → per-locus totals (``span_normalise=False``).
    populations : labels (haplotypes,) or {name: indices}, optional
        Needed for the per-population (``*_pop``) and pairwise statistics.
    statistics : str or sequence of str
        A preset name (``"default"``, ``"t1"``, ``"default_sfs"``, ``"t1_sfs"``) or keys from :data:`STATISTICS`.
    sfs_bins : None, "all" or edges
        Binning of the per-population and joint spectra (``sfs_pop``, ``sfs_folded_pop``, ``jsfs``,
        ``jsfs_folded``); None is 1, 2, 3-5, 6-10, 11-20, … (see :mod:`popsim.features.sfs`).
    sfs_scale : "proportion" or "span"
        Binned spectra as proportions of their sites (default; columns of one spectrum sum to 1) or, as the
        other statistics, per bp with ``sequence_length`` and per-locus counts without it.
    loci : (sites,) array or None
        The locus of each site, for the haplotype-structure keys ``snn`` and ``dxy_rel``
        (:mod:`popsim.features.haplotypes`), which compare haplotypes within one locus and average over loci;
        None treats all sites as one locus. The other keys sum over all sites whatever ``loci`` is.

    Returns
    -------
    dict
        Column name → value, in a stable order. Per-population keys become ``S_<pop>``, pairwise keys
        ``dxy_<pop1>_<pop2>``; ``sfs``/``sfs_folded`` become ``sfs_0 .. sfs_n``; ``sfs_pop`` becomes
        ``sfs_<pop>_<bin>`` (``sfs_GN_1``, ``sfs_GN_3-5``), ``sfs_folded_pop`` ``sfs_folded_<pop>_<bin>``,
        ``jsfs`` ``jsfs_<pop1>_<pop2>_<bin1>_<bin2>`` (``jsfs_GN_BF_1_0``: one derived copy in GN, none in
        BF) and ``jsfs_folded`` ``jsfs_folded_<pop1>_<pop2>_<bin1>_<bin2>``; ``snn`` becomes
        ``snn_<pop1>_<pop2>`` and ``snn_sd_<pop1>_<pop2>``, ``dxy_rel`` ``dxy_rel_q05_<pop1>_<pop2>`` …
        ``dxy_rel_q95_…`` and ``dxy_rel_low_…``.
    """
    g = _check_genotypes(genotypes)
    L = _check_length(sequence_length)
    keys = _expand(statistics)
    sets = _population_sets(populations, g.shape[1])
    needs_pops = [k for k in keys if k in STATISTICS["pop"] or k in STATISTICS["pair"]]
    if needs_pops and not sets:
        raise ValueError(f"statistics {needs_pops} need populations (a label per haplotype); got None")
    if any(k in STATISTICS["pair"] for k in keys) and len(sets) < 2:
        raise ValueError(f"pairwise statistics need at least two populations; got {list(sets)}")

    # Count alleles once for the whole sample and once per population; everything derives from these.
    total = site_counts(g)
    per_pop = {name: site_counts(g, idx) for name, idx in sets.items()}
    pi_pop = {name: float(_pi_per_site(c).sum()) for name, c in per_pop.items()}
    haplotype_pairs: dict[tuple[str, str], dict[str, float]] = {}
    out: dict[str, float] = {}
    for key in keys:
        if key == "S":
            out["S"] = segregating_sites(total, sequence_length=L)
        elif key == "pi":
            out["pi"] = diversity(total, sequence_length=L)
        elif key == "theta_w":
            out["theta_w"] = watterson_theta(total, sequence_length=L)
        elif key == "tajimas_d":
            out["tajimas_d"] = tajimas_d(total)
        elif key == "theta_h":
            out["theta_h"] = theta_h(total, sequence_length=L)
        elif key == "fay_wu_h":
            out["fay_wu_h"] = fay_wu_h(total, sequence_length=L)
        elif key == "n_haplotypes":
            out["n_haplotypes"] = float(haplotype_count(g))
        elif key == "haplotype_diversity":
            out["haplotype_diversity"] = haplotype_diversity(g)
        elif key in ("sfs", "sfs_folded"):
            xi = sfs(total, folded=(key == "sfs_folded"), sequence_length=L)
            out.update({f"{key}_{i}": float(v) for i, v in enumerate(xi)})
        elif key == "S_pop":
            out.update({f"S_{p}": segregating_sites(c, sequence_length=L) for p, c in per_pop.items()})
        elif key == "pi_pop":
            out.update({f"pi_{p}": _per(pi_pop[p], L) for p in per_pop})
        elif key == "theta_w_pop":
            out.update({f"theta_w_{p}": watterson_theta(c, sequence_length=L) for p, c in per_pop.items()})
        elif key == "tajimas_d_pop":
            out.update({f"tajimas_d_{p}": tajimas_d(c) for p, c in per_pop.items()})
        elif key in ("sfs_pop", "sfs_folded_pop"):
            folded = key == "sfs_folded_pop"
            prefix = "sfs_folded" if folded else "sfs"
            for p, c in per_pop.items():
                values, labels = binned_sfs(sfs(c, folded=folded), sfs_bins, folded, sfs_scale, L)
                out.update({f"{prefix}_{p}_{lab}": float(v) for lab, v in zip(labels, values)})
        elif key in ("jsfs", "jsfs_folded"):
            for a, b in combinations(per_pop, 2):
                ca, cb = per_pop[a], per_pop[b]
                both = ca.complete & cb.complete  # sites with no missing call in either set
                xi = joint_sfs(ca.derived[both], cb.derived[both], ca.n, cb.n)
                folded = key == "jsfs_folded"
                values, labels = binned_joint_sfs(fold_joint(xi) if folded else xi, sfs_bins, folded,
                                                  sfs_scale, L)
                out.update({f"{key}_{a}_{b}_{lab}": float(v) for lab, v in zip(labels, values)})
        elif key in PER_LOCUS_KEYS:
            for a, b in combinations(per_pop, 2):
                if (a, b) not in haplotype_pairs:  # one pass over the loci gives both keys' columns
                    haplotype_pairs[a, b] = haplotype_statistics(g, loci, sets[a], sets[b], names=(a, b))
                wanted = "snn_" if key == "snn" else "dxy_rel_"
                out.update({name: value for name, value in haplotype_pairs[a, b].items() if name.startswith(wanted)})
        else:  # pairwise keys: one column per unordered pair, in population order
            for a, b in combinations(per_pop, 2):
                dxy = _dxy_total(per_pop[a], per_pop[b])
                if key == "dxy":
                    out[f"dxy_{a}_{b}"] = _per(dxy, L)
                elif key == "da":
                    out[f"da_{a}_{b}"] = _per(dxy - 0.5 * (pi_pop[a] + pi_pop[b]), L)
                elif key == "fst_hudson":
                    out[f"fst_hudson_{a}_{b}"] = _fst_hudson_from(pi_pop[a], pi_pop[b], dxy)
                elif key == "fst_tskit":
                    out[f"fst_tskit_{a}_{b}"] = _fst_tskit_from(pi_pop[a], pi_pop[b], dxy)
    return out


@dataclass
class StatisticsTable:
    """Statistics of many replicates: one row per replicate, one named column per statistic.

    Attributes
    ----------
    names : list of str
        Column names, e.g. ``["fst_tskit_GN_BF", "dxy_GN_BF", "S_GN", ...]``.
    values : ndarray, shape (replicates, statistics), float64
    meta : dict
        Free-form provenance (normalisation, sequence length, preset ...).
    """

    names: list
    values: np.ndarray
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.names = [str(n) for n in self.names]
        self.values = np.asarray(self.values, dtype=np.float64).reshape(-1, len(self.names))

    def __len__(self) -> int:
        return self.values.shape[0]

    def __getitem__(self, name: str) -> np.ndarray:
        """Column ``name`` as an array of shape (replicates,)."""
        try:
            return self.values[:, self.names.index(name)]
        except ValueError:
            raise KeyError(f"statistic {name!r} not in table; columns are {self.names}") from None

    def select(self, names: Sequence[str]) -> "StatisticsTable":
        """A table with only the given columns, in the given order."""
        return StatisticsTable(list(names), np.column_stack([self[n] for n in names]), dict(self.meta))

    def as_dict(self) -> dict[str, np.ndarray]:
        return {n: self.values[:, j] for j, n in enumerate(self.names)}

    def save(self, path) -> None:
        """Write to ``.npz`` (columns ``names`` and ``values``; meta as strings)."""
        np.savez(path, names=np.array(self.names), values=self.values,
                 meta_keys=np.array(list(self.meta), dtype=str),
                 meta_values=np.array([repr(v) for v in self.meta.values()], dtype=str))

    @classmethod
    def load(cls, path) -> "StatisticsTable":
        z = read_npz(path, "statistics table", required=("names", "values"))
        meta = dict(zip(z["meta_keys"].tolist(), z["meta_values"].tolist())) if "meta_keys" in z else {}
        return cls(z["names"].tolist(), z["values"], meta)


def read_npz(path, what: str, required=()) -> dict:
    """All arrays of an ``.npz`` file, or one ``ValueError`` naming the file and ``what`` it should be
    (missing, a folder, not a zip archive, truncated, holding pickled objects, lacking ``required`` keys)."""
    import zipfile

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist")
    if path.is_dir():
        raise ValueError(f"{what} {str(path)!r} is a folder; expected an .npz file")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {key: z[key] for key in z.files}
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise ValueError(f"{what} {str(path)!r} is not a readable .npz file (corrupt or truncated: "
                         f"{type(error).__name__})") from None
    except ValueError:  # numpy's "pickled (object) data": a text file, or a foreign .npy/pickle
        raise ValueError(f"{what} {str(path)!r} is not an .npz archive; expected a file written by popsim") from None
    missing = [key for key in required if key not in data]
    if missing:
        raise ValueError(f"{what} {str(path)!r} lacks {missing}; expected a file written by popsim")
    return data


# ----------------------------------------------------------------------------------------------
# Columns that cannot inform anything: constant or undefined in every replicate
# ----------------------------------------------------------------------------------------------

class DegenerateStatisticWarning(UserWarning):
    """A statistic column is identically constant or NaN over a table (see :func:`degenerate_columns`)."""


def column_key(name: str) -> str | None:
    """The key of :data:`STATISTICS` that produced column ``name`` (``"S_GN"`` → ``"S_pop"``,
    ``"sfs_folded_GN_3-5"`` → ``"sfs_folded_pop"``, ``"jsfs_GN_BF_1_0"`` → ``"jsfs"``), or None."""
    if name in STATISTICS["all"]:
        return name
    for key in ("sfs_folded", "sfs"):  # the whole sample's spectrum: sfs_0 .. sfs_n, digits only
        if name.startswith(key + "_") and name[len(key) + 1:].isdigit():
            return key
    prefixes = [(k, k + "_") for k in STATISTICS["all"] + STATISTICS["pair"]]
    prefixes += [(k, k[: -len("pop")]) for k in STATISTICS["pop"]]
    matches = [(len(prefix), k) for k, prefix in prefixes if name.startswith(prefix)]
    return max(matches)[1] if matches else None


def degenerate_columns(names, values, missing_fraction=None, mostly: float = 0.5) -> dict[str, str]:
    """Columns that are NaN in every row or take one value in every row, each with the likely reason.

    Such a column carries no information: ABC scales it by a MAD of 0 and a network's scaler divides by a
    standard deviation of 0. The reasons are the known ones: statistics of complete sites (θ_H, Fay & Wu's
    H, haplotype statistics, the spectra; :data:`COMPLETE_SITE_KEYS`) when data have missing calls — with
    15 % missing genotypes and 20 haplotypes only 0.85²⁰ ≈ 4 % of sites are complete —, ratios that are
    0/0 in every replicate, spectrum bins no site falls in.

    With missing data (``missing_fraction > 0``), a complete-site statistic is also reported when one value
    (0, or NaN) fills at least ``mostly`` of its rows: θ_H is then 0 wherever no complete site is left, and
    the few rows with one carry noise, not signal — identically constant only with many sites per replicate
    too few to leave one complete site.

    Parameters
    ----------
    names : sequence of str, length k
    values : array_like, shape (rows, k)
    missing_fraction : float, optional — share of missing genotypes in the data, for the message
        (None: unknown, treated as "maybe").
    mostly : float — share of rows above which a complete-site column with missing data is reported.

    Returns
    -------
    dict
        ``{column: reason}`` in column order; empty when every column varies (or the table has < 2 rows).
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1, len(names))
    if v.shape[0] < 2:
        return {}
    missing_note = ("" if missing_fraction is None
                    else f" and {100 * missing_fraction:.3g} % of genotypes are missing")
    out = {}
    for j, name in enumerate(names):
        col = v[:, j]
        finite = col[~np.isnan(col)]
        key = column_key(name)
        complete = key in COMPLETE_SITE_KEYS and (missing_fraction is None or missing_fraction > 0)
        if finite.size == 0:
            what = f"NaN in all {col.size} rows"
            if complete:
                out[name] = f"{what}: {key} needs complete sites (no missing call in the set){missing_note}, " \
                            "so none remain"
            else:
                out[name] = f"{what}: undefined (0/0) in every replicate, e.g. no segregating site in the set"
        elif finite.size == col.size and np.all(finite == finite[0]):
            what = f"constant {finite[0]:g} in all {col.size} rows"
            if complete:
                out[name] = f"{what}: {key} needs complete sites (no missing call in the set){missing_note}, " \
                            "so none or few remain"
            elif key in ("sfs_pop", "sfs_folded_pop", "jsfs", "jsfs_folded", "sfs", "sfs_folded"):
                out[name] = f"{what}: no site falls in this bin"
            else:
                out[name] = what
        elif complete and missing_fraction is not None:
            # Mostly one value: the share of rows equal to the commonest value, NaN counted as a value.
            n_nan = col.size - finite.size
            values_seen, counts = np.unique(finite, return_counts=True)
            top = max(n_nan, counts.max() if counts.size else 0)
            if top >= mostly * col.size:
                value = "NaN" if top == n_nan else f"{values_seen[np.argmax(counts)]:g}"
                out[name] = f"{value} in {top} of {col.size} rows: {key} needs complete sites (no missing call " \
                            f"in the set){missing_note}, so few remain"
    return out


def warn_degenerate(names, values, missing_fraction=None, what="statistics table", mostly: float = 0.5) -> dict[str, str]:
    """One :class:`DegenerateStatisticWarning` listing every degenerate column of a table and its reason.

    Returns the ``{column: reason}`` of :func:`degenerate_columns` (empty: no warning).
    """
    found = degenerate_columns(names, values, missing_fraction, mostly)
    if found:
        detail = "; ".join(f"{name}: {reason}" for name, reason in found.items())
        warnings.warn(f"{what}: {len(found)} of {len(names)} statistic columns are constant or NaN in every row "
                      "(no information), or with missing data mostly so — "
                      f"{detail}", DegenerateStatisticWarning, stacklevel=3)
    return found


def statistics_table(replicates: Iterable, sequence_length=None, populations=None,
                     statistics=None, sfs_bins=None, sfs_scale="proportion", warn=True, loci=None) -> StatisticsTable:
    """Compute the same statistics for many replicates (each with its own number of sites).

    Parameters
    ----------
    replicates : iterable of genotype matrices, shape (sites_r, haplotypes) each
        All replicates share the haplotypes (same sample sizes and population labels).
    sequence_length : float, sequence of float (one per replicate), or None
        bp, for per-bp values; None gives per-locus totals.
    populations, statistics, sfs_bins, sfs_scale : see :func:`compute_statistics`.
    warn : bool
        Emit one :class:`DegenerateStatisticWarning` naming the columns that are constant or NaN in every
        replicate, and why (:func:`degenerate_columns`).
    loci : iterable of (sites_r,) arrays, or None
        The locus of each site of each replicate (see :func:`compute_statistics`), consumed alongside
        ``replicates``; None treats each replicate as one locus.

    Returns
    -------
    StatisticsTable
        ``values`` of shape (replicates, statistics); ``meta["missing_fraction"]`` is the share of missing
        genotypes over all replicates, ``meta["degenerate"]`` the ``{column: reason}`` found.
    """
    if np.ndim(sequence_length) == 1:
        reps = list(replicates)
        lengths = list(sequence_length)
        if len(lengths) != len(reps):
            raise ValueError(f"sequence_length expected one value per replicate ({len(reps)}); "
                             f"got {len(lengths)}")
    else:  # one length for all: replicates are consumed one at a time (an iterator stays lazy)
        reps = replicates
        lengths = itertools.repeat(sequence_length)
    # Rows go into float64 blocks of 4,096 (8 bytes a value, not a Python float and list each).
    blocks, block, filled, names = [], None, 0, None
    n_missing = n_genotypes = 0
    site_loci = itertools.repeat(None) if loci is None else loci
    for g, L, locus in zip(reps, lengths, site_loci):
        # Each replicate is vectorised over its sites; replicates differ in site count, so loop here.
        d = compute_statistics(g, L, populations, statistics, sfs_bins, sfs_scale, loci=locus)
        g = np.asarray(g)
        n_missing += int(np.count_nonzero(g < 0)) if g.size and g.min() < 0 else 0
        n_genotypes += g.size
        if names is None:
            names = list(d)
        if block is None or filled == len(block):
            block, filled = np.empty((4096, len(names)), dtype=np.float64), 0
            blocks.append(block)
        block[filled] = [d[n] for n in names]
        filled += 1
    if names is None:
        raise ValueError("replicates expected at least one genotype matrix; got none")
    values = np.concatenate(blocks[:-1] + [block[:filled]]) if len(blocks) > 1 else block[:filled].copy()
    missing_fraction = n_missing / n_genotypes if n_genotypes else 0.0
    meta = {"per_bp": sequence_length is not None,
            "statistics": statistics if isinstance(statistics, str) else list(_expand(statistics)),
            "missing_fraction": missing_fraction}
    if sfs_bins is not None or sfs_scale != "proportion":
        meta.update(sfs_bins=sfs_bins if isinstance(sfs_bins, (str, type(None))) else np.asarray(sfs_bins).tolist(),
                    sfs_scale=sfs_scale)
    meta["degenerate"] = (warn_degenerate(names, values, missing_fraction) if warn
                          else degenerate_columns(names, values, missing_fraction))
    return StatisticsTable(names, values, meta)


def from_tree_sequence(ts):
    """Genotypes, positions and population labels of a tskit tree sequence in this module's convention.

    Returns
    -------
    genotypes : ndarray, shape (sites, haplotypes), int8
    positions : ndarray, shape (sites,), float64 — bp
    populations : ndarray, shape (haplotypes,), str — population name of each sample node
        (``pop_<id>`` when the population has no name in its metadata)
    """
    g = ts.genotype_matrix().astype(np.int8)
    positions = ts.tables.sites.position.copy()
    names = []
    for pop in ts.populations():
        md = pop.metadata if isinstance(pop.metadata, dict) else {}
        names.append(str(md.get("name", f"pop_{pop.id}")))
    pop_of_sample = ts.tables.nodes.population[ts.samples()]
    return g, positions, np.array([names[p] for p in pop_of_sample])
