"""Site frequency spectra of one population and of a pair, folded or not, binned into named columns.

The spectra themselves follow tskit's ``allele_frequency_spectrum`` (``mode="site"``) exactly; what this
module adds is the *binning* that turns a spectrum into a handful of summary statistics (few enough for ABC,
stable enough for a network's scaler) and the column names under which
:func:`popsim.features.stats.compute_statistics` reports them (keys ``sfs_pop``, ``sfs_folded_pop``, ``jsfs``,
``jsfs_folded``).

Spectra
-------
With ``n`` haplotypes in a set and ``x`` derived alleles at a site:

* **unfolded SFS** ``ξ[x]``, shape ``(n + 1,)``: number of sites with ``x`` derived copies (tskit,
  ``polarised=True``);
* **folded SFS**: ``x`` and ``n − x`` cannot be told apart without the ancestral state, so
  ``ξ[x] + ξ[n − x]`` is stored at ``min(x, n − x)`` (once when ``x = n/2``), zeros above ``n/2``
  (tskit, ``polarised=False``);
* **joint SFS** of two sets ``ξ[x1, x2]``, shape ``(n1 + 1, n2 + 1)`` (tskit with two sample sets);
* **folded joint SFS**: the cell ``(x1, x2)`` and its mirror ``(n1 − x1, n2 − x2)`` (the same site read
  with the other allele as "derived") are added and stored at the one whose total ``x1 + x2`` is smaller;
  on a tie in the total, at the one with the smaller ``x1``; a self-mirrored cell is counted once. This is
  tskit's ``polarised=False`` layout, checked cell by cell in the tests.

Binning
-------
A bin is a set of allele-count classes whose counts are added. ``bins`` takes

* ``None`` (default): classes 1, 2, 3–5, 6–10, 11–20, 21–40, … (edges 1, 2, 3, 6, 11, 21, 41, … doubling),
  cut at the largest class — singletons and doubletons alone, then wider bins where the spectrum is flat.
  A joint spectrum has ``k²`` cells for ``k`` bins per axis, so its default axis is coarser and keeps the
  classes that carry divergence: ``0`` (absent: private to the other set) | ``1`` | ``2..n/2`` (rare) |
  ``n/2+1..n−1`` (common) | ``n`` (fixed) — at most 23 columns per pair;
* ``"all"``: one bin per class (every class of the spectrum, including 0 and n for the joint spectrum);
* a sequence of **integer edges** ``e_0 < e_1 < … < e_m`` (numpy-histogram style): bin ``k`` holds the
  classes ``e_k ≤ x < e_{k+1}``; classes outside ``[e_0, e_m)`` are left out;
* a sequence of **frequency edges** (floats in ``[0, 1]``): bin ``k`` holds the classes with
  ``f_k ≤ x/n < f_{k+1}``, the last edge included when it is 1 (0.5 for a folded spectrum), so different
  sample sizes share the same columns. A frequency bin that holds no class for this ``n`` is an error.

Columns are named after the classes they hold: ``"1"``, ``"3-5"``; ``sfs_GN_1``, ``sfs_folded_GN_3-5``,
``jsfs_GN_BF_1_0`` (1 derived copy in GN, none in BF), ``jsfs_folded_GN_BF_0_1``. Joint bins that hold no
admissible cell — above the folding line, or only the corners ``(0, 0)`` and ``(n1, n2)``, which are
monomorphic in the pair — are not reported, so no column is zero by construction.

Normalisation (``scale``)
-------------------------
* ``"proportion"`` (default): each bin's count divided by the total over the reported bins, so the columns
  of one spectrum sum to 1 — the *shape* of the spectrum, independent of θ (S and π carry the scale). NaN
  when no site falls in any bin (no segregating site in the set).
* ``"span"``: the counts themselves when ``sequence_length`` is None (tskit's ``span_normalise=False``), or
  counts divided by the length in bp when it is given (per bp, tskit's default), as every other statistic of
  :mod:`popsim.features.stats`.

Missing data: like the unbinned SFS, a spectrum uses the sites with no missing call in the set (in both
sets for the joint spectrum); with much missing data few sites remain — see
:func:`popsim.features.stats.degenerate_columns`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["SFS_SCALES", "default_edges", "class_bins", "joint_sfs", "fold_joint", "binned_sfs",
           "binned_joint_sfs"]

SFS_SCALES = ("proportion", "span")


def default_edges(first: int, last: int) -> np.ndarray:
    """Edges 1, 2, 3, 6, 11, 21, 41, … (each bin twice as wide as the previous from 3 on), cut to the
    classes ``first..last`` (inclusive); returns edges with the last one ``last + 1``."""
    edges = [1, 2, 3, 6]
    while edges[-1] <= last:
        edges.append(2 * edges[-1] - 1)  # bin widths 1, 1, 3, 5, 10, 20, 40, ...
    edges = [e for e in edges if first < e <= last]
    return np.array([first] + edges + [last + 1], dtype=np.int64)


def _label(classes: np.ndarray) -> str:
    """``"3"`` for one class, ``"3-5"`` for a contiguous run (bins are contiguous by construction)."""
    lo, hi = int(classes.min()), int(classes.max())
    return str(lo) if lo == hi else f"{lo}-{hi}"


def class_bins(n: int, bins=None, folded: bool = False, joint_axis: bool = False) -> tuple[np.ndarray, list]:
    """Which bin each allele-count class ``0..n`` falls in.

    Parameters
    ----------
    n : haplotypes in the set.
    bins : None, "all", integer edges or frequency edges (module docstring).
    folded : classes run to ``n // 2`` (minor-allele counts) instead of ``n``.
    joint_axis : the axis of a joint spectrum: the defaults include classes 0 and n.

    Returns
    -------
    assignment : ndarray of int, shape (n + 1,) — bin index of each class, −1 if in no bin
    labels : list of str, one per bin
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"a spectrum needs at least one haplotype in the set; got n={n}")
    top = n // 2 if folded and not joint_axis else n
    classes = np.arange(n + 1)
    assignment = np.full(n + 1, -1, dtype=np.int64)
    if bins is None or (isinstance(bins, str) and bins == "all"):
        if joint_axis:
            lo, hi = 0, n
        else:
            lo, hi = 1, (top if folded else n - 1)
        if hi < lo:
            return assignment, []
        if bins is None:
            edges = default_edges(lo, hi) if not joint_axis else _joint_default_edges(n)
        else:
            edges = np.arange(lo, hi + 2)
        return _assign_count_edges(edges, classes, assignment)
    if isinstance(bins, str):
        raise ValueError(f"sfs_bins expected None, 'all', integer edges or frequency edges; got {bins!r}")
    edges = np.asarray(bins)
    if edges.ndim != 1 or edges.size < 2:
        raise ValueError(f"sfs_bins expected at least two edges (a 1-D sequence); got {bins!r}")
    if not np.all(np.diff(edges.astype(np.float64)) > 0):
        raise ValueError(f"sfs_bins expected strictly increasing edges; got {edges.tolist()}")
    if np.issubdtype(edges.dtype, np.integer):
        if edges[0] < 0:
            raise ValueError(f"sfs_bins count edges expected values >= 0; got {edges.tolist()}")
        k = np.searchsorted(edges, classes, side="right") - 1
        inside = (k >= 0) & (k < edges.size - 1) & (classes <= top)
        assignment[inside] = k[inside]
        assignment = _renumber(assignment)
        labels = [_label(classes[assignment == b]) for b in range(assignment.max() + 1)]
        if not labels:
            raise ValueError(f"sfs_bins {edges.tolist()} hold no allele-count class of 0..{top} for n={n}")
        return assignment, labels
    if np.issubdtype(edges.dtype, np.floating):
        if edges[0] < 0 or edges[-1] > 1:
            raise ValueError(f"sfs_bins frequency edges expected values in [0, 1]; got {edges.tolist()}")
        freq = classes / n
        k = np.searchsorted(edges, freq, side="right") - 1
        limit = 0.5 if folded and not joint_axis else 1.0
        inside = (k >= 0) & (k < edges.size - 1) & (classes <= top)
        # The last edge is included when it is the largest possible frequency.
        inside |= (np.isclose(freq, edges[-1]) & (edges[-1] >= limit) & (classes <= top))
        k = np.minimum(k, edges.size - 2)
        assignment[inside] = k[inside]
        for b in range(edges.size - 1):
            if not np.any(assignment == b):
                raise ValueError(f"sfs_bins frequency bin [{edges[b]}, {edges[b + 1]}) holds no allele-count "
                                 f"class for n={n} haplotypes; use wider bins or count edges")
        return assignment, [_label(classes[assignment == b]) for b in range(edges.size - 1)]
    raise ValueError(f"sfs_bins expected integer or float edges; got dtype {edges.dtype}")


def _joint_default_edges(n: int) -> np.ndarray:
    """Axis of a joint spectrum: 0 | 1 | 2..n/2 | n/2+1..n−1 | n (absent, singleton, rare, common, fixed)."""
    return np.unique(np.clip([0, 1, 2, n // 2 + 1, n, n + 1], 0, n + 1))


def _assign_count_edges(edges, classes, assignment):
    k = np.searchsorted(edges, classes, side="right") - 1
    inside = (k >= 0) & (k < edges.size - 1)
    assignment[inside] = k[inside]
    assignment = _renumber(assignment)
    labels = [_label(classes[assignment == b]) for b in range(assignment.max() + 1)]
    return assignment, labels


def _renumber(assignment: np.ndarray) -> np.ndarray:
    """Drop empty bins: bin indices become 0..(non-empty bins − 1), in order."""
    used = np.unique(assignment[assignment >= 0])
    out = np.full_like(assignment, -1)
    for new, old in enumerate(used):
        out[assignment == old] = new
    return out


def _scaled(counts: np.ndarray, scale: str, sequence_length) -> np.ndarray:
    if scale == "proportion":
        total = counts.sum()
        return counts / total if total > 0 else np.full(counts.shape, np.nan)
    if scale == "span":
        return counts if sequence_length is None else counts / sequence_length
    raise ValueError(f"sfs_scale expected one of {SFS_SCALES}; got {scale!r}")


def binned_sfs(xi: np.ndarray, bins=None, folded: bool = False, scale: str = "proportion",
               sequence_length=None) -> tuple[np.ndarray, list]:
    """Bin a one-population spectrum ``xi`` (shape ``(n + 1,)``, folded or not as ``folded`` says).

    Returns ``(values (bins,), labels)``; ``values[k] = Σ_{x in bin k} xi[x]``, then scaled (module
    docstring). Per-locus counts with ``scale="span"`` and no ``sequence_length``.
    """
    xi = np.asarray(xi, dtype=np.float64)
    assignment, labels = class_bins(xi.size - 1, bins, folded)
    inside = assignment >= 0
    counts = np.bincount(assignment[inside], weights=xi[inside], minlength=len(labels))
    return _scaled(counts, scale, sequence_length), labels


def joint_sfs(derived_1, derived_2, n_1: int, n_2: int) -> np.ndarray:
    """Unfolded joint SFS ``ξ[x1, x2]``, shape ``(n_1 + 1, n_2 + 1)``, of complete sites.

    ``derived_1``, ``derived_2`` : shape (sites,), derived-allele counts in each set at the sites to count.
    """
    x1 = np.asarray(derived_1, dtype=np.int64)
    x2 = np.asarray(derived_2, dtype=np.int64)
    flat = np.bincount(x1 * (n_2 + 1) + x2, minlength=(n_1 + 1) * (n_2 + 1))
    return flat.reshape(n_1 + 1, n_2 + 1).astype(np.float64)


def _joint_keep(n_1: int, n_2: int) -> np.ndarray:
    """Cells of the folded joint spectrum that hold values (see module docstring), shape (n1+1, n2+1)."""
    x1, x2 = np.meshgrid(np.arange(n_1 + 1), np.arange(n_2 + 1), indexing="ij")
    total, mirrored = x1 + x2, (n_1 - x1) + (n_2 - x2)
    return (total < mirrored) | ((total == mirrored) & (x1 <= n_1 - x1))


def fold_joint(xi: np.ndarray) -> np.ndarray:
    """Folded joint spectrum: ``ξ[x] + ξ[n − x]`` stored at the kept cell of each mirrored pair (tskit)."""
    xi = np.asarray(xi, dtype=np.float64)
    n_1, n_2 = xi.shape[0] - 1, xi.shape[1] - 1
    mirror = xi[::-1, ::-1]
    keep = _joint_keep(n_1, n_2)
    x1, x2 = np.meshgrid(np.arange(n_1 + 1), np.arange(n_2 + 1), indexing="ij")
    self_mirrored = (2 * x1 == n_1) & (2 * x2 == n_2)
    return np.where(keep, xi + np.where(self_mirrored, 0.0, mirror), 0.0)


def binned_joint_sfs(xi: np.ndarray, bins=None, folded: bool = False, scale: str = "proportion",
                     sequence_length=None) -> tuple[np.ndarray, list]:
    """Bin a joint spectrum ``xi`` (shape ``(n1 + 1, n2 + 1)``; folded with :func:`fold_joint` if
    ``folded``) with the same ``bins`` on both axes.

    Returns ``(values (cells,), labels)`` with labels ``"a_b"`` (bin of set 1, bin of set 2), row-major,
    leaving out bin cells with no admissible cell (module docstring).
    """
    xi = np.asarray(xi, dtype=np.float64)
    n_1, n_2 = xi.shape[0] - 1, xi.shape[1] - 1
    a1, lab1 = class_bins(n_1, bins, folded, joint_axis=True)
    a2, lab2 = class_bins(n_2, bins, folded, joint_axis=True)
    admissible = _joint_keep(n_1, n_2) if folded else np.ones(xi.shape, dtype=bool)
    admissible[0, 0] = admissible[n_1, n_2] = False  # monomorphic in the pair
    admissible &= (a1[:, None] >= 0) & (a2[None, :] >= 0)
    cell = np.where(admissible, a1[:, None] * len(lab2) + a2[None, :], -1)
    used = np.unique(cell[cell >= 0])
    counts = np.bincount(cell[cell >= 0], weights=xi[cell >= 0])[used]
    labels = [f"{lab1[c // len(lab2)]}_{lab2[c % len(lab2)]}" for c in used]
    return _scaled(counts, scale, sequence_length), labels
