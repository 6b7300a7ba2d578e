"""Genotype images: one transform from a genotype matrix to a fixed-size image for a CNN.

Input (the same for simulated and real data, e.g. the output of ``popsim.realdata.vcf``):

* ``genotypes``: ``(sites, haplotypes)`` int8 — tskit's layout; 0 = ancestral, 1 = derived, -1 = missing;
* ``positions``: ``(sites,)`` positions in bp, increasing;
* ``populations``: ``(haplotypes,)`` population label of each haplotype (two consecutive haplotypes per
  diploid individual);
* ``sequence_length``: length of the region in bp (used to centre a window).

Output: ``(rows, n_snps, channels)`` float32, channels last as ``minidl`` expects. ``rows`` are haplotypes
(or individuals when ``unphased``) grouped in population blocks, in order of first appearance.
Channel 0 holds genotypes; channel 1, if ``distance_channel``, holds ``log(1 + d)`` with ``d`` the distance in
bp from the previous selected SNP (0 for the first SNP and for padding), the same value on every row.

Steps, in this order (each one a small function below):

1. choose ``n_snps`` SNPs: ``"first"`` N, a ``"centre"`` window of N consecutive SNPs around the middle of the
   region (or around a given ``centre``, e.g. the selected site of a sweep), or ``"even"``-ly spread over all SNPs; fewer SNPs than N are zero-padded on the right;
2. transpose to ``(haplotypes, SNPs)`` — the **only** transpose between tskit's layout and ours;
3. inject missing data at ``missing_rate`` (seeded), to mimic real data;
4. ``unphased``: sum the two haplotypes of each individual (0/1/2; missing if either is missing);
5. encode: ``"01"`` derived allele = 1, ancestral = 0, missing = 0; or ``"pm1"`` minor allele = +1,
   major allele = -1, missing = 0 (the minor allele is the rarer one among non-missing haplotypes in the
   image, the derived one on a tie), so that missing and padding are "no information";
6. sort rows within each population block: ``"none"``, ``"frequency"`` (identical rows grouped, the most
   common first, as ImaGene's ``rows_freq``) or ``"similarity"`` (greedy nearest-neighbour chain by L1 distance
   starting from the most central row); ties keep the original order, so sorting is deterministic;
7. zero-pad to ``n_snps`` columns.

For storage, ``encode`` returns the genotype channel as int8 ``(rows, n_snps, 1)`` and the distance channel as
float32 ``(n_snps,)``; ``assemble`` makes the float32 image. ``transform(...)`` does both.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

__all__ = ["GenotypeImage"]

SNP_SELECTIONS = ("first", "centre", "even")
ROW_SORTS = ("none", "frequency", "similarity")
ENCODINGS = ("01", "pm1")


def _haplotypes_by_snps(genotypes: np.ndarray) -> np.ndarray:
    """(sites, haplotypes) -> (haplotypes, sites). The one place where tskit's layout is transposed."""
    return np.ascontiguousarray(genotypes.T)


def select_snps(positions: np.ndarray, n_snps: int, how: str, sequence_length: float | None,
                centre: float | None = None) -> np.ndarray:
    """Indices (into the sites axis) of the SNPs kept, at most ``n_snps``, increasing. ``"centre"`` centres the
    window on ``centre`` (bp) when given, e.g. a selected site, otherwise on the middle of the region."""
    n_sites = len(positions)
    if n_sites <= n_snps:
        return np.arange(n_sites)
    if how == "first":
        return np.arange(n_snps)
    if how == "even":
        # Spread over all SNPs; with n_sites > n_snps the rounded indices are distinct.
        return np.round(np.linspace(0, n_sites - 1, n_snps)).astype(np.int64)
    # "centre": n_snps consecutive SNPs around the middle of the region.
    if centre is not None:
        middle = float(centre)
    else:
        middle = sequence_length / 2 if sequence_length is not None else (positions[0] + positions[-1]) / 2
    first_right_of_middle = int(np.searchsorted(positions, middle))
    start = min(max(first_right_of_middle - n_snps // 2, 0), n_sites - n_snps)
    return np.arange(start, start + n_snps)


def _frequency_order(rows: np.ndarray) -> np.ndarray:
    """Row order grouping identical rows, most frequent first; ties by first occurrence."""
    keys = [row.tobytes() for row in np.ascontiguousarray(rows)]   # a haplotype's bytes identify it
    counts: dict[bytes, int] = {}
    first: dict[bytes, int] = {}
    for i, key in enumerate(keys):
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, i)
    # Key per row: (-count of its haplotype, first occurrence of its haplotype, own index).
    return np.array(sorted(range(len(keys)), key=lambda i: (-counts[keys[i]], first[keys[i]], i)), dtype=np.int64)


def _similarity_order(rows: np.ndarray) -> np.ndarray:
    """Greedy nearest-neighbour chain: start at the row closest to all others, then always step to the
    nearest row not yet visited (L1 distance; ties to the lowest index)."""
    n = len(rows)
    if n <= 2:
        return np.arange(n)
    values = rows.astype(np.int16)
    distance = np.empty((n, n), dtype=np.int64)
    for i in range(n):
        distance[i] = np.abs(values - values[i]).sum(axis=1)
    current = int(np.argmin(distance.sum(axis=1)))
    order = [current]
    visited = np.zeros(n, dtype=bool)
    visited[current] = True
    for _ in range(n - 1):
        candidates = np.where(visited, np.iinfo(np.int64).max, distance[current])
        current = int(np.argmin(candidates))
        visited[current] = True
        order.append(current)
    return np.asarray(order)


@dataclass(frozen=True)
class GenotypeImage:
    """Transform a genotype matrix into a fixed-size image (see the module docstring for the steps).

    Parameters
    ----------
    n_snps : columns of the image.
    snp_selection : "first", "centre" or "even".
    sort_rows : "none", "frequency" or "similarity" (within each population block).
    encoding : "01" (derived = 1) or "pm1" (minor = +1, major = -1); missing = 0 in both.
    unphased : rows are diploid individuals with 0/1/2 derived alleles (needs encoding "01").
    distance_channel : add a channel with log(1 + bp from the previous SNP).
    missing_rate : probability that each genotype is set missing before encoding (0 = off).

    Example
    -------
    >>> transform = GenotypeImage(n_snps=256, snp_selection="even", sort_rows="similarity", encoding="pm1",
    ...                           distance_channel=True)
    >>> image = transform(genotypes, positions, populations, sequence_length=150_000)  # (280, 256, 2) float32
    """

    n_snps: int = 256
    snp_selection: str = "even"
    sort_rows: str = "none"
    encoding: str = "01"
    unphased: bool = False
    distance_channel: bool = False
    missing_rate: float = 0.0

    def __post_init__(self):
        if isinstance(self.n_snps, bool) or not isinstance(self.n_snps, (int, np.integer)) or self.n_snps < 1:
            raise ValueError(f"GenotypeImage n_snps must be an integer >= 1; got {self.n_snps!r}")
        for name, value, allowed in (
            ("snp_selection", self.snp_selection, SNP_SELECTIONS),
            ("sort_rows", self.sort_rows, ROW_SORTS),
            ("encoding", self.encoding, ENCODINGS),
        ):
            if value not in allowed:
                raise ValueError(f"GenotypeImage {name}={value!r} is unknown; expected one of {allowed}")
        if self.unphased and self.encoding != "01":
            raise ValueError(f"GenotypeImage unphased=True needs encoding='01' (0/1/2 counts); got encoding={self.encoding!r}")
        rate = self.missing_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (0 <= rate < 1):
            raise ValueError(f"GenotypeImage missing_rate must be a number in [0, 1); got {rate!r}")

    # -- description -----------------------------------------------------------------------------------
    @property
    def n_channels(self) -> int:
        return 2 if self.distance_channel else 1

    def output_shape(self, n_haplotypes: int) -> tuple[int, int, int]:
        """(rows, n_snps, channels) for a sample of ``n_haplotypes`` haplotypes."""
        rows = n_haplotypes // 2 if self.unphased else n_haplotypes
        return (rows, int(self.n_snps), self.n_channels)

    def to_dict(self) -> dict:
        return {"type": "GenotypeImage", **asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, description: dict) -> "GenotypeImage":
        description = {k: v for k, v in description.items() if k != "type"}
        return cls(**description)

    # -- transform -------------------------------------------------------------------------------------
    def encode(
        self,
        genotypes: np.ndarray,
        positions: np.ndarray,
        populations: Sequence,
        sequence_length: float | None = None,
        seed: int | np.random.Generator | None = None,
        centre: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Compact image: genotype channel int8 ``(rows, n_snps, 1)`` and distance channel float32
        ``(n_snps,)`` (None without ``distance_channel``).

        ``centre`` (bp): where a ``"centre"`` window is centred instead of the middle of the region — the
        simulation passes the selected site of a sweep scenario here, so the window is centred on the sweep.

        ``seed`` (int or Generator) drives missing-data injection; required when ``missing_rate > 0``.
        """
        genotypes = np.asarray(genotypes)
        positions = np.asarray(positions, dtype=np.float64)
        populations = np.asarray(populations)
        if genotypes.ndim != 2:
            raise ValueError(f"genotypes must be a (sites, haplotypes) matrix; got shape {genotypes.shape}")
        n_sites, n_haplotypes = genotypes.shape
        if positions.shape != (n_sites,):
            raise ValueError(f"positions must have shape ({n_sites},) to match genotypes; got {positions.shape}")
        if populations.shape != (n_haplotypes,):
            raise ValueError(
                f"populations must give one label per haplotype, shape ({n_haplotypes},); got {populations.shape}"
            )
        if n_sites and (genotypes.min() < -1 or genotypes.max() > 1):
            raise ValueError("genotypes must hold 0 (ancestral), 1 (derived) or -1 (missing); got other values")
        if not np.all(np.isfinite(positions)):
            raise ValueError(f"positions must be finite numbers (bp); got {int(np.sum(~np.isfinite(positions)))} "
                             "NaN/inf value(s)")
        if n_sites > 1 and np.any(np.diff(positions) < 0):
            raise ValueError("positions must be increasing; got a decreasing step")
        if self.unphased and n_haplotypes % 2:
            raise ValueError(f"unphased images need 2 haplotypes per individual; got {n_haplotypes} haplotypes")

        # 1. Choose the SNPs.
        kept = select_snps(positions, int(self.n_snps), self.snp_selection, sequence_length, centre)
        # 2. Haplotypes become rows (the single transpose).
        rows = _haplotypes_by_snps(genotypes[kept].astype(np.int8, copy=False))
        row_populations = populations
        # 3. Missing data, as in real sequencing.
        if self.missing_rate > 0:
            rows = rows.copy()
            rows[self.missing_calls(n_haplotypes, kept, n_sites, seed, all_sites=False)[:, kept]] = -1
        # 4. Unphased: one row per individual, derived-allele count; missing if either copy is missing.
        if self.unphased:
            first, second = rows[0::2], rows[1::2]
            if np.any(populations[0::2] != populations[1::2]):
                raise ValueError("unphased images need both haplotypes of an individual in the same population")
            counts = (first + second).astype(np.int8)
            counts[(first < 0) | (second < 0)] = -1
            rows, row_populations = counts, populations[0::2]
        # 5. Encode.
        encoded = self._encode_values(rows)
        # 6. Sort within population blocks (blocks in order of first appearance).
        encoded = encoded[self.row_order(encoded, row_populations)]
        # 7. Zero-pad to n_snps columns.
        image = np.zeros((encoded.shape[0], int(self.n_snps), 1), dtype=np.int8)
        image[:, : encoded.shape[1], 0] = encoded

        distance = None
        if self.distance_channel:
            distance = np.zeros(int(self.n_snps), dtype=np.float32)
            if len(kept) > 1:
                # log(1 + bp since the previous chosen SNP): spacing carries information about diversity
                # and linkage that a bare genotype matrix loses.
                distance[1 : len(kept)] = np.log1p(np.diff(positions[kept]))
        return image, distance

    def missing_calls(self, n_haplotypes: int, kept: np.ndarray, n_sites: int,
                      seed: int | np.random.Generator | None, all_sites: bool = True) -> np.ndarray:
        """Boolean mask ``(haplotypes, sites)`` of the calls step 3 sets missing (all False at rate 0).

        The image's SNPs ``kept`` are drawn first, ``rng.random((haplotypes, len(kept))) < missing_rate``
        — exactly the image's mask —, then (``all_sites``) the other sites in site order from the same
        generator, so statistics of every site can see the same missing data as the image.
        """
        mask = np.zeros((n_haplotypes, n_sites), dtype=bool)
        if self.missing_rate == 0:
            return mask
        if seed is None:
            raise ValueError("GenotypeImage with missing_rate > 0 needs a seed; got seed=None")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        mask[:, kept] = rng.random((n_haplotypes, len(kept))) < self.missing_rate
        if all_sites:
            rest = np.setdiff1d(np.arange(n_sites), kept)
            mask[:, rest] = rng.random((n_haplotypes, rest.size)) < self.missing_rate
        return mask

    def observed_genotypes(self, genotypes, positions, sequence_length=None, seed=None, centre=None,
                           sites: str = "all") -> np.ndarray:
        """The genotypes as the image sees them, in tskit's layout ``(sites, haplotypes)`` int8 (−1 missing).

        ``sites="all"``: every site, with the missing calls of :meth:`missing_calls` (the image's SNPs carry
        exactly the image's mask); ``"image"``: only the image's SNPs (step 1). Unphased images lose an
        individual's genotype when either copy is missing, so both of its haplotypes are missing here.
        Same arguments as :meth:`encode`; the same ``seed`` gives the same mask.
        """
        genotypes = np.asarray(genotypes)
        positions = np.asarray(positions, dtype=np.float64)
        if genotypes.ndim != 2 or positions.shape != (genotypes.shape[0],):
            raise ValueError(f"genotypes (sites, haplotypes) and positions (sites,) expected; got shapes "
                             f"{genotypes.shape} and {positions.shape}")
        if sites not in ("all", "image"):
            raise ValueError(f"sites expected 'all' or 'image'; got {sites!r}")
        n_sites, n_haplotypes = genotypes.shape
        if self.unphased and n_haplotypes % 2:
            raise ValueError(f"unphased images need 2 haplotypes per individual; got {n_haplotypes} haplotypes")
        kept = select_snps(positions, int(self.n_snps), self.snp_selection, sequence_length, centre)
        mask = self.missing_calls(n_haplotypes, kept, n_sites, seed, all_sites=(sites == "all")).T
        if self.unphased:
            either = mask[:, 0::2] | mask[:, 1::2]
            mask = np.repeat(either, 2, axis=1)
        observed = np.where(mask, -1, genotypes).astype(np.int8)
        return observed if sites == "all" else observed[kept]

    def _encode_values(self, rows: np.ndarray) -> np.ndarray:
        """(rows, snps) int8 with -1 missing -> encoded int8."""
        missing = rows < 0
        if self.encoding == "01":
            return np.where(missing, 0, rows).astype(np.int8)
        # pm1: per SNP, the minor allele is the rarer one among non-missing haplotypes (derived on a tie).
        derived = ((rows == 1) & ~missing).sum(axis=0)
        ancestral = ((rows == 0) & ~missing).sum(axis=0)
        derived_is_minor = derived <= ancestral
        is_minor = np.where(derived_is_minor, rows == 1, rows == 0)
        return np.where(missing, 0, np.where(is_minor, 1, -1)).astype(np.int8)

    def row_order(self, encoded: np.ndarray, row_populations: np.ndarray) -> np.ndarray:
        """Permutation of rows: population blocks in order of first appearance, sorted within each block."""
        _, first_seen = np.unique(row_populations, return_index=True)
        order = []
        for first in np.sort(first_seen):
            block = np.flatnonzero(row_populations == row_populations[first])
            if self.sort_rows == "frequency":
                block = block[_frequency_order(encoded[block])]
            elif self.sort_rows == "similarity":
                block = block[_similarity_order(encoded[block])]
            order.append(block)
        return np.concatenate(order) if order else np.arange(0)

    def assemble(self, image: np.ndarray, distance: np.ndarray | None) -> np.ndarray:
        """Float32 image ``(..., rows, n_snps, channels)`` from the parts returned by ``encode``.

        Works on one image (``(rows, n_snps, 1)`` and ``(n_snps,)``) or a stack
        (``(n, rows, n_snps, 1)`` and ``(n, n_snps)``).
        """
        genotype_channel = np.asarray(image, dtype=np.float32)
        if not self.distance_channel:
            return genotype_channel
        distance = np.asarray(distance, dtype=np.float32)
        # The distance channel is the same on every row: broadcast (…, n_snps) over rows.
        distance_channel = np.broadcast_to(distance[..., None, :, None], genotype_channel.shape)
        return np.concatenate([genotype_channel, distance_channel], axis=-1)

    def __call__(self, genotypes, positions, populations, sequence_length=None, seed=None) -> np.ndarray:
        """The float32 image ``(rows, n_snps, channels)``."""
        return self.assemble(*self.encode(genotypes, positions, populations, sequence_length, seed))
