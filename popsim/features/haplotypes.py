"""Haplotype-structure statistics of two populations: Hudson's nearest-neighbour statistic and the spread
of between-population differences.

The site-frequency statistics of :mod:`popsim.features.stats` see each site on its own; they cannot tell
whether the derived alleles a haplotype of A shares with B sit together on that one haplotype (a migrant
lineage, recent if the block is long) or are scattered over many. These statistics compare whole
haplotypes, within one locus (one genealogy region), through the pairwise-difference matrix

    d(i, j) = number of sites where haplotypes i and j carry different alleles,

computed on the complete sites of the locus (a site with a missing call in either set is left out, as for
the other haplotype statistics).

Hudson's Snn (Hudson 2000, *Genetics* 155:2011)
    For every haplotype j of the two samples, X_j = W_j / T_j, where T_j is the number of its nearest
    neighbours (the other haplotypes at the smallest distance from it, ties all counted) and W_j how many
    of them are in j's own population. ``Snn = mean_j X_j``. Near 1 when the populations are separated
    (every nearest neighbour is at home); near ``(n_A − 1)/(n − 1)``-ish values around 0.5 for equal samples
    of one panmictic population. Recent migrants lower it: their nearest neighbours are abroad.
Between-population differences, relative
    The quantiles (default 5 %, 25 %, 50 %, 75 %, 95 %) of the ``n_A · n_B`` values ``d(i, j)`` between a
    haplotype of A and one of B, divided by their mean (dxy per locus): a narrow distribution (all pairs
    equally far) after a clean split, a long lower tail when some pairs are close (migrants since a
    recent contact), and a fraction of pairs closer than a quarter of the mean (``low``).

Over several loci (independent genealogies), each statistic is computed per locus and averaged over the
loci that have a complete segregating site (Hudson 2000 combines loci by such averages);
:func:`haplotype_statistics` also reports the standard deviation of Snn over those loci. A locus without a
complete segregating site says nothing about structure (all distances 0) and is left out; with none at all
the values are NaN.

Distance profiles: the same comparisons as a network input, learned rather than hand-made
    :func:`distance_profiles` gives, for every locus and haplotype ``i``, the sorted differences from ``i`` to
    the haplotypes of each population — its nearest neighbours at home and abroad, then the rest. Sorting
    forgets which haplotype is which (a symmetric function, like the mean of an exchangeable network), so
    a network that reads each row with shared weights and then pools the rows of each population (mean,
    max) is invariant to the order of haplotypes within a population, and can learn Snn-like and
    quantile-like summaries of its own.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["pairwise_differences", "snn", "relative_cross_differences", "haplotype_statistics",
           "distance_profiles", "DEFAULT_QUANTILES"]

DEFAULT_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def _complete_matrix(genotypes, haplotypes) -> np.ndarray:
    """(sites, len(haplotypes)) float64 0/1 of ``haplotypes`` on the sites complete in that set."""
    g = np.asarray(genotypes)
    if g.ndim != 2:
        raise ValueError(f"genotypes expected a (sites, haplotypes) matrix; got shape {g.shape}")
    h = np.asarray(haplotypes, dtype=np.int64)
    if h.ndim != 1 or h.size < 2:
        raise ValueError(f"haplotypes expected at least two haplotype indices; got {h.tolist()}")
    if h.min() < 0 or h.max() >= g.shape[1]:
        raise ValueError(f"haplotypes expected indices in 0..{g.shape[1] - 1}; got {h.min()}..{h.max()}")
    sub = g[:, h]
    complete = (sub >= 0).all(axis=1)
    return sub[complete].astype(np.float64)


def pairwise_differences(genotypes, haplotypes: Sequence[int] | None = None) -> np.ndarray:
    """(n, n) float64 matrix of differences between haplotypes ``haplotypes`` (all by default) on the sites
    where all of them are called: ``d(i, j) = Σ_s x_si + x_sj − 2·x_si·x_sj`` for 0/1 alleles."""
    g = np.asarray(genotypes)
    if haplotypes is None:
        haplotypes = np.arange(g.shape[1] if g.ndim == 2 else 0)
    x = _complete_matrix(g, haplotypes)
    carried = x.sum(axis=0)
    d = carried[:, None] + carried[None, :] - 2.0 * (x.T @ x)
    np.fill_diagonal(d, 0.0)
    return d


def _snn_from(d: np.ndarray, n_first: int) -> float:
    n = d.shape[0]
    off = d + np.diag(np.full(n, np.inf))
    nearest = off == off.min(axis=1, keepdims=True)
    home = np.arange(n) < n_first
    same = nearest & (home[:, None] == home[None, :])
    return float(np.mean(same.sum(axis=1) / nearest.sum(axis=1)))


def snn(genotypes, haplotypes_1, haplotypes_2) -> float:
    """Hudson's nearest-neighbour statistic Snn of two samples at one locus (module docstring)."""
    h1, h2 = np.asarray(haplotypes_1, dtype=np.int64), np.asarray(haplotypes_2, dtype=np.int64)
    if h1.size < 1 or h2.size < 1:
        raise ValueError(f"snn expected two non-empty sets of haplotypes; got sizes {h1.size} and {h2.size}")
    d = pairwise_differences(genotypes, np.concatenate([h1, h2]))
    return _snn_from(d, h1.size)


def _relative_cross(d_cross: np.ndarray, quantiles) -> np.ndarray:
    mean = d_cross.mean()
    if mean <= 0:
        return np.full(len(quantiles) + 1, np.nan)
    values = d_cross.ravel() / mean
    return np.concatenate([np.quantile(values, quantiles), [np.mean(values < 0.25)]])


def relative_cross_differences(genotypes, haplotypes_1, haplotypes_2,
                               quantiles: Sequence[float] = DEFAULT_QUANTILES) -> np.ndarray:
    """Quantiles of the differences between a haplotype of set 1 and one of set 2, over their mean, and
    the fraction of such pairs closer than a quarter of the mean: ``len(quantiles) + 1`` values (NaN when
    the mean is 0)."""
    q = _check_quantiles(quantiles)
    h1, h2 = np.asarray(haplotypes_1, dtype=np.int64), np.asarray(haplotypes_2, dtype=np.int64)
    d = pairwise_differences(genotypes, np.concatenate([h1, h2]))
    return _relative_cross(d[: h1.size, h1.size:], q)


def _check_quantiles(quantiles) -> np.ndarray:
    q = np.asarray(quantiles, dtype=np.float64)
    if q.ndim != 1 or q.size == 0 or np.any((q < 0) | (q > 1)) or np.any(np.diff(q) <= 0):
        raise ValueError(f"quantiles expected increasing values in [0, 1]; got {np.asarray(quantiles).tolist()}")
    return q


def _quantile_label(q: float) -> str:
    return f"q{round(100 * q):02d}"


def haplotype_statistics(genotypes, loci, haplotypes_1, haplotypes_2, names: tuple[str, str] = ("1", "2"),
                         quantiles: Sequence[float] = DEFAULT_QUANTILES) -> dict[str, float]:
    """Snn and the relative between-population differences of two populations, per locus, averaged.

    Parameters
    ----------
    genotypes : (sites, haplotypes) int, 0/1 and -1 for missing
    loci : (sites,) locus index of each site, or None for one locus
    haplotypes_1, haplotypes_2 : indices of the two populations' haplotypes
    names : the two population names, for the column names
    quantiles : increasing quantile levels of the relative differences

    Returns
    -------
    dict
        ``snn_<a>_<b>`` (mean over loci), ``snn_sd_<a>_<b>`` (standard deviation over loci, 0 for one locus),
        ``dxy_rel_<q>_<a>_<b>`` for each quantile (``dxy_rel_q05_A_B``) and ``dxy_rel_low_<a>_<b>``,
        each averaged over the loci where it is defined (NaN if none).
    """
    g = np.asarray(genotypes)
    if g.ndim != 2:
        raise ValueError(f"genotypes expected a (sites, haplotypes) matrix; got shape {g.shape}")
    q = _check_quantiles(quantiles)
    h1, h2 = np.asarray(haplotypes_1, dtype=np.int64), np.asarray(haplotypes_2, dtype=np.int64)
    if h1.size < 1 or h2.size < 1 or h1.size + h2.size < 3:
        raise ValueError(f"haplotype statistics expected two non-empty sets with 3 haplotypes in all; "
                         f"got sizes {h1.size} and {h2.size}")
    both = np.concatenate([h1, h2])
    if loci is None:
        groups = [np.arange(g.shape[0])]
    else:
        loci = np.asarray(loci)
        if loci.shape != (g.shape[0],):
            raise ValueError(f"loci expected one locus index per site, shape ({g.shape[0]},); got {loci.shape}")
        groups = [np.flatnonzero(loci == value) for value in np.unique(loci)] or [np.arange(0)]
    snns, spreads = [], []
    for rows in groups:
        d = pairwise_differences(g[rows], both)
        if not d.any():  # no complete segregating site in this locus: nothing to compare
            continue
        snns.append(_snn_from(d, h1.size))
        spreads.append(_relative_cross(d[: h1.size, h1.size:], q))
    a, b = names
    if not snns:
        nan = float("nan")
        return {f"snn_{a}_{b}": nan, f"snn_sd_{a}_{b}": nan,
                **{f"dxy_rel_{_quantile_label(level)}_{a}_{b}": nan for level in q}, f"dxy_rel_low_{a}_{b}": nan}
    snns, spreads = np.array(snns), np.array(spreads)
    out = {f"snn_{a}_{b}": float(snns.mean()), f"snn_sd_{a}_{b}": float(snns.std())}
    defined = ~np.isnan(spreads[:, 0])
    mean_spread = spreads[defined].mean(axis=0) if defined.any() else np.full(spreads.shape[1], np.nan)
    for level, value in zip(q, mean_spread[:-1]):
        out[f"dxy_rel_{_quantile_label(level)}_{a}_{b}"] = float(value)
    out[f"dxy_rel_low_{a}_{b}"] = float(mean_spread[-1])
    return out


def distance_profiles(genotypes, loci, n_loci: int, groups: Sequence[int]) -> np.ndarray:
    """Per locus and haplotype, the sorted differences to the haplotypes of each population.

    Parameters
    ----------
    genotypes : (sites, haplotypes) int, 0/1 and -1 for missing (compared on each locus's complete sites)
    loci : (sites,) locus index of each site, in ``0 .. n_loci − 1`` (None: all sites are locus 0)
    n_loci : number of loci (a locus without sites gives rows of zeros)
    groups : haplotypes per population, in the order of the columns of ``genotypes`` (e.g. ``(24, 24)``)

    Returns
    -------
    (n_loci · haplotypes, haplotypes) float32
        Row ``ℓ · haplotypes + i`` is haplotype ``i`` at locus ``ℓ``; its columns are, population by
        population (blocks of ``groups``), the differences ``d(i, j)`` to that population's haplotypes,
        sorted ascending. A haplotype's difference to itself carries nothing: its slot is filled with the
        row's largest difference, so it sorts last in its own population's block.
    """
    g = np.asarray(genotypes)
    if g.ndim != 2:
        raise ValueError(f"genotypes expected a (sites, haplotypes) matrix; got shape {g.shape}")
    sizes = [int(k) for k in groups]
    if not sizes or any(k < 1 for k in sizes) or sum(sizes) != g.shape[1]:
        raise ValueError(f"groups expected positive population sizes summing to the {g.shape[1]} haplotypes; "
                         f"got {list(groups)}")
    if int(n_loci) < 1:
        raise ValueError(f"n_loci expected a positive number of loci; got {n_loci}")
    loci = np.zeros(g.shape[0], dtype=np.int64) if loci is None else np.asarray(loci)
    if loci.shape != (g.shape[0],):
        raise ValueError(f"loci expected one locus index per site, shape ({g.shape[0]},); got {loci.shape}")
    if loci.size and (loci.min() < 0 or loci.max() >= n_loci):
        raise ValueError(f"loci expected indices in 0..{int(n_loci) - 1}; got {loci.min()}..{loci.max()}")
    n = g.shape[1]
    edges = np.concatenate([[0], np.cumsum(sizes)])
    out = np.zeros((int(n_loci), n, n), dtype=np.float32)
    everyone = np.arange(n)
    for locus in range(int(n_loci)):
        rows = loci == locus
        if not rows.any():
            continue
        d = pairwise_differences(g[rows], everyone)
        np.fill_diagonal(d, d.max(axis=1))
        for a, b in zip(edges[:-1], edges[1:]):
            out[locus, :, a:b] = np.sort(d[:, a:b], axis=1)
    return out.reshape(int(n_loci) * n, n)
