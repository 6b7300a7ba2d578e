"""Read biallelic SNP genotypes from a VCF file, for applying networks trained on simulations to real data.

Three backends return the same :class:`VcfGenotypes` (``backend`` says which ran; :func:`read_vcf`'s
``backend=``): ``"python"`` — this module's hand-written parser, the reference and test oracle: plain and
gzip/bgzip-compressed VCF 4.x read line by line with Python's ``gzip`` module, no dependency, no index used;
``"htslib"`` — :mod:`popsim.realdata.htslib` (cyvcf2, ``pip install 'popsim[vcf]'``): also BCF, and region
reads through a ``.tbi``/``.csi`` index; ``"zarr"`` — :mod:`popsim.realdata.vcfzarr`, VCF Zarr stores
(bio2zarr/sgkit). ``"auto"`` reads whole text files by hand (faster than htslib there) and BCF and regions
with htslib. :func:`iter_chromosomes` reads a multi-chromosome file in one pass, :func:`iter_pieces` in
bounded memory (pieces of a few thousand sites). Samples are assigned to populations by a two-column file
(sample, population). The result is a :class:`VcfGenotypes` whose layout mirrors tskit so that the same image
transform serves simulated and real data:

=============================  ==========================  ====================================================
attribute                      shape / type                meaning
=============================  ==========================  ====================================================
``genotypes``                  (sites, haplotypes) int8    0 = REF, 1 = ALT (or ancestral/derived with
                                                           ``ancestral_allele="AA"``), -1 = missing, like
                                                           ``ts.genotype_matrix()``; **phased data only**
                                                           (raises for unphased data — use ``dosages``)
``dosages``                    (sites, individuals) int8   ALT allele count per individual (0/1/2 for diploids),
                                                           -1 if any allele of the call is missing
``calls``                      (sites, haplotypes) int8    the allele calls in the order written in the VCF;
                                                           equals ``genotypes`` when ``phased``; for unphased
                                                           data only for consumers that combine the alleles
                                                           of an individual (``GenotypeImage(unphased=True)``)
``positions``                  (sites,) int64              bp within the interval, 1-based:
                                                           ``VCF POS − (start − 1)``, in ``1..sequence_length``;
                                                           equal to VCF POS when ``start == 1`` (whole
                                                           chromosome), hence to tskit's positions for a VCF
                                                           that tskit wrote
``populations``                (haplotypes,) int32         population index of each haplotype (into
                                                           ``population_names``)
``individual_populations``     (individuals,) int32        population index of each individual
``samples``                    tuple of str                individual (VCF sample) names, output order
``population_names``           tuple of str                in the order of first appearance in the file
``ploidies`` / ``ploidy``      (individuals,) / int        alleles per call; ``ploidy`` if all equal
``phased``                     bool                        True only if no kept call used ``/``
``polarised``                  bool                        0/1 are ancestral/derived (INFO ancestral allele)
``sequence_length``            int                         ``end − start + 1`` bp
``start``, ``end``             int                         1-based inclusive interval covered (absolute VCF
                                                           coordinates); ``offset = start − 1``
``skipped``                    dict str -> int             records dropped, by reason (see ``SKIP_REASONS``)
=============================  ==========================  ====================================================

Order of haplotypes: individuals grouped by population (populations in the order of the population file),
within a population in the order of the population file; the haplotypes of one individual are adjacent
(``h = 2·i, 2·i + 1`` for diploids). A VCF written by ``tskit.TreeSequence.write_vcf`` from an msprime
simulation, with a population file listing ``tsk_0, tsk_1, ...`` in order, gives back exactly
``ts.genotype_matrix()`` and ``ts.sites_position`` (see ``tests/popsim/realdata/test_vcf.py``).

Coordinates: every object (a whole read, a region, a window) has ``positions`` relative to its own interval
``[start, end]`` in the same way, ``positions = POS − (start − 1)``, so that a consumer such as
``popsim.features.images.GenotypeImage`` sees positions in ``1..sequence_length`` whatever the object (the centre of a
window is at ``sequence_length / 2``). ``absolute_positions`` gives VCF POS back.

Which records are kept: biallelic SNPs, i.e. REF and ALT each one base A/C/G/T (any case), different from
each other. Also accepted are REF ``0`` / ALT ``1``, the allele labels tskit writes for msprime's
``BinaryMutationModel``. Everything else is skipped and counted: ``multiallelic`` (ALT has a comma),
``symbolic`` (``<DEL>``, breakends, ``*``), ``indel`` (REF or ALT longer than one base), ``no_alt`` (ALT is
``.``), ``non_acgt`` (e.g. ``N``, or REF = ALT), ``filtered`` (FILTER not PASS/``.``, only with
``pass_only=True``), ``no_ancestral`` (no usable ancestral allele, only with ``ancestral_allele=``) and
``monomorphic`` (no variation among the selected samples' non-missing alleles, only with
``drop_monomorphic=True``, the default, matching simulations that drop non-segregating sites) and
``telomere`` (POS 0, which VCF reserves for telomeres: not a site of the sequence); ``masked`` counts sites
outside an accessibility mask (:mod:`popsim.realdata.mask`, applied after reading). With
``multiallelic="split"`` a multiallelic record becomes one biallelic record per ALT (``bcftools norm -m-``:
carriers of that ALT = 1, REF and the other ALTs = 0; :func:`split_calls`), each judged as above.

Alleles: 0 = REF and 1 = ALT. In simulations (and VCFs tskit writes) REF is the ancestral allele; in real
data it is the reference genome's allele. ``ancestral_allele="AA"`` polarises with the INFO ancestral allele
so that 0 = ancestral, 1 = derived, as a derived-allele ("01") image encoding assumes.

Genotypes: ``0|1`` phased, ``0/1`` unphased, ``0`` haploid, ``.`` / ``./.`` / ``.|.`` missing (a bare ``.``
is missing for every allele of the individual), ``0|.`` partly missing. Ploidy may differ between
individuals (e.g. chrX) but not between records of one individual. One unphased call makes the whole
result unphased (``phased=False``): haplotypes are then not defined, ``genotypes`` raises, ``dosages``
is what to use; it is never silently treated as phased.

Region selection as samtools: ``"chr1"``, ``"chr1:10000-20000"`` (1-based, inclusive; commas allowed),
``"chr1:10000-"``, ``"chr1:10000"`` (one base), ``"{name:with:colons}:1-100"`` (htslib braces). Without a
region the file must hold one chromosome (otherwise the error names them). Without an index the file is
scanned from the top; it must be sorted by position within the chromosome (checked), and reading stops
after the region.

Performance: records are parsed in batches — the genotype columns of up to ``_BATCH`` lines whose calls all
have the same width (``0|1``-style diploid or ``0``-style haploid) become one NumPy byte array mapped to
alleles by a lookup table; anything else (bare ``.``, mixed ploidy, malformed calls) goes through a per-call
parser that also writes the error messages. Other FORMAT fields (``GT:AD:DP...``) are stripped first with
one regex pass per line. Measured on 57,000 sites × 280 haplotypes (140 diploids, a tskit-written VCF,
2-core AMD EPYC): about 70,000 sites per CPU-second for plain text, 60,000 for gzip, 19,000 with an extra
``DP`` field per call; 36,000 for bgzip with 1,000 diploids (``benchmarks/RESULTS.md``, 1 M records).
Memory: the kept genotypes as int8 (about sites × haplotypes bytes, twice while they are assembled: 2 GB for
500,000 sites × 2,000 haplotypes); :func:`iter_pieces` holds only a piece.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

import numpy as np

from popsim.features.genotypes import segregating_sites

__all__ = [
    "BACKENDS",
    "MULTIALLELIC",
    "SKIP_REASONS",
    "VcfFormatError",
    "VcfGenotypes",
    "VcfWarning",
    "iter_chromosomes",
    "iter_pieces",
    "parse_region",
    "split_calls",
    "read_populations",
    "read_vcf",
    "vcf_contigs",
]

BACKENDS = ("auto", "htslib", "python", "zarr")
MULTIALLELIC = ("skip", "split")

SKIP_REASONS = ("multiallelic", "symbolic", "indel", "no_alt", "non_acgt", "filtered", "no_ancestral",
                "monomorphic", "telomere", "masked")

_FIXED_COLUMNS = ("#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO")
_BASES = frozenset({b"A", b"C", b"G", b"T", b"a", b"c", b"g", b"t"})
# (REF, ALT) pairs that are biallelic SNPs: distinct bases, any case, plus tskit's binary-model labels.
_SNP_PAIRS = frozenset({(r, a) for r in _BASES for a in _BASES if r.upper() != a.upper()} | {(b"0", b"1")})
_HEADER_WORDS = frozenset({"sample", "samples", "sample_id", "sampleid", "id", "iid", "ind", "individual",
                           "indiv", "name"})

# Byte -> allele lookup used by the vectorised genotype parser: '0' -> 0, '1' -> 1, '.' -> -1, other -> _BAD.
_BAD = 100
_LUT = np.full(256, _BAD, dtype=np.int8)
_LUT[ord("0")], _LUT[ord("1")], _LUT[ord(".")] = 0, 1, -1
_TAB, _PIPE, _SLASH = ord("\t"), ord("|"), ord("/")
_PAD = -2  # marks allele slots beyond an individual's ploidy while a record is being assembled
_GT_SPLIT = re.compile(rb"[|/]")
_BATCH = 1024  # records parsed per vectorised step
_AFTER_GT = re.compile(rb":[^\t]*")  # the FORMAT fields after GT in each sample column


_BEFORE, _INSIDE, _AFTER = -1, 0, 1  # a record's place relative to the region read (``_Reader.place``)


class VcfFormatError(ValueError):
    """A VCF (or population file) line that cannot be read; the message names the file and line number."""


class VcfWarning(UserWarning):
    """Something about the input that costs time or may surprise, e.g. a region read without an index."""


# ------------------------------------------------------------------------------------------ result object


@dataclass(repr=False)
class VcfGenotypes:
    """Genotypes of biallelic SNPs read from a VCF (or a window of them); layout in the module docstring."""

    calls: np.ndarray
    positions: np.ndarray
    chromosome: str
    samples: tuple
    population_names: tuple
    individual_populations: np.ndarray
    ploidies: np.ndarray
    phased: bool
    start: int
    end: int
    polarised: bool = False
    skipped: dict = field(default_factory=dict)
    n_records: int = 0
    ignored_samples: tuple = ()
    source: str = ""
    backend: str = "python"
    n_split: int = 0

    # -- shapes and labels ---------------------------------------------------------------------------
    @property
    def num_sites(self) -> int:
        return int(self.calls.shape[0])

    @property
    def num_haplotypes(self) -> int:
        return int(self.calls.shape[1])

    @property
    def num_individuals(self) -> int:
        return len(self.samples)

    @property
    def sequence_length(self) -> int:
        """Length in bp of the interval covered, ``end − start + 1``."""
        return int(self.end - self.start + 1)

    @property
    def offset(self) -> int:
        """``start − 1``: add it to ``positions`` to get VCF POS."""
        return int(self.start) - 1

    @property
    def absolute_positions(self) -> np.ndarray:
        """VCF POS of each site (``positions + offset``)."""
        return self.positions + self.offset

    @property
    def ploidy(self) -> int:
        """The common ploidy of all individuals; raises if ploidy differs between individuals."""
        values = np.unique(self.ploidies)
        if len(values) != 1:
            raise ValueError(f"individuals have different ploidies {values.tolist()}; use .ploidies")
        return int(values[0])

    @property
    def populations(self) -> np.ndarray:
        """(haplotypes,) int32 population index of each haplotype (into ``population_names``)."""
        return np.repeat(self.individual_populations, self.ploidies).astype(np.int32)

    @property
    def haplotype_individuals(self) -> np.ndarray:
        """(haplotypes,) index of the individual each haplotype (column of ``calls``) belongs to."""
        return np.repeat(np.arange(self.num_individuals), self.ploidies)

    @property
    def population_sizes(self) -> dict:
        """Individuals per population, ``{name: count}`` in population order."""
        counts = np.bincount(self.individual_populations, minlength=len(self.population_names))
        return {name: int(c) for name, c in zip(self.population_names, counts)}

    @property
    def n_ignored_samples(self) -> int:
        """VCF samples not listed in the population file (their columns were not read)."""
        return len(self.ignored_samples)

    # -- genotype views ------------------------------------------------------------------------------
    @property
    def genotypes(self) -> np.ndarray:
        """(sites, haplotypes) int8 haplotype matrix, 0/1 and -1 missing — only defined for phased data."""
        if not self.phased:
            raise ValueError(f"{self.source or 'VCF'} holds unphased genotypes ('/'): haplotypes are not "
                             "defined; use .dosages (sites, individuals) with 0/1/2 ALT counts instead")
        return self.calls

    @property
    def dosages(self) -> np.ndarray:
        """(sites, individuals) int8 count of ALT alleles per individual; -1 if any allele is missing."""
        if self.num_sites == 0 or self.num_individuals == 0:
            return np.zeros((self.num_sites, self.num_individuals), dtype=np.int8)
        first = np.concatenate([[0], np.cumsum(self.ploidies)[:-1]])
        calls = self.calls.astype(np.int16)
        dose = np.add.reduceat(np.maximum(calls, 0), first, axis=1)
        missing = np.logical_or.reduceat(calls < 0, first, axis=1)
        dose[missing] = -1
        return dose.astype(np.int8)

    # -- selections ----------------------------------------------------------------------------------
    def segregating(self) -> "VcfGenotypes":
        """Only the sites where both alleles occur in the sample (:func:`popsim.features.genotypes.segregating_sites`),
        as the simulations keep them; ``self`` if every site already does."""
        keep = segregating_sites(self.calls)
        if keep.all():
            return self
        return replace(self, calls=self.calls[keep], positions=self.positions[keep])

    def subsample(self, sizes: Mapping[str, int], seed: int) -> "VcfGenotypes":
        """``sizes[p]`` individuals of each population ``p`` drawn without replacement (``numpy`` Generator
        seeded by ``seed``), in their original order; populations not in ``sizes`` are left out.

        Sites are kept as they are: a site can become monomorphic in the subsample (see :meth:`segregating`).
        """
        rng = np.random.default_rng(seed)
        keep = []
        for index, name in enumerate(self.population_names):
            members = np.flatnonzero(self.individual_populations == index)
            wanted = int(sizes.get(name, 0))
            if wanted > len(members):
                raise ValueError(f"subsample: population {name!r} has {len(members)} individuals; cannot draw {wanted}")
            keep.append(np.sort(rng.choice(members, size=wanted, replace=False)))
        keep = np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)
        first = np.concatenate([[0], np.cumsum(self.ploidies)[:-1]])
        columns = np.concatenate([first[i] + np.arange(self.ploidies[i]) for i in keep]) if len(keep) else \
            np.zeros(0, dtype=np.int64)
        return replace(self, calls=self.calls[:, columns], samples=tuple(self.samples[i] for i in keep),
                       individual_populations=self.individual_populations[keep], ploidies=self.ploidies[keep])

    # -- windows -------------------------------------------------------------------------------------
    def _window(self, rows: slice, start: int, end: int) -> "VcfGenotypes":
        absolute = self.positions[rows] + self.offset
        return replace(self, calls=self.calls[rows], positions=absolute - (start - 1), start=int(start),
                       end=int(end))

    def windows(self, length_bp: int, step_bp: int | None = None, *, keep_partial: bool = False,
                min_sites: int = 0) -> list:
        """Split into windows of ``length_bp`` bp starting at ``start``, every ``step_bp`` (default: adjacent).

        Window k covers absolute bp ``[start + k·step, start + k·step + length_bp − 1]``; its ``positions``
        are relative to the window (a SNP on its first bp has position 1, on its last ``length_bp``),
        ``start``/``end`` are absolute, ``sequence_length == length_bp``. A last window running past ``end`` is
        dropped unless ``keep_partial`` (then it is cut at ``end``). Windows with fewer than ``min_sites``
        SNPs are left out. Arrays are views of this object's arrays.
        """
        length_bp = _positive_int(length_bp, "length_bp")
        step_bp = length_bp if step_bp is None else _positive_int(step_bp, "step_bp")
        absolute = self.absolute_positions
        out = []
        w_start = self.start
        while w_start <= self.end:
            w_end = w_start + length_bp - 1
            if w_end > self.end:
                if not keep_partial:
                    break
                w_end = self.end
            lo, hi = np.searchsorted(absolute, [w_start, w_end + 1])
            if hi - lo >= min_sites:
                out.append(self._window(slice(lo, hi), w_start, w_end))
            w_start += step_bp
        return out

    def windows_by_snps(self, n_snps: int, step: int | None = None, *, keep_partial: bool = False) -> list:
        """Split into windows of ``n_snps`` consecutive SNPs, every ``step`` SNPs (default: adjacent).

        Each window spans from its first to its last SNP (``start``/``end`` absolute, ``positions``
        relative to the window, so the first SNP is at 1 and the last at ``sequence_length``). A last
        window with fewer SNPs is dropped unless ``keep_partial``.
        """
        n_snps = _positive_int(n_snps, "n_snps")
        step = n_snps if step is None else _positive_int(step, "step")
        absolute = self.absolute_positions
        out = []
        for lo in range(0, self.num_sites, step):
            hi = min(lo + n_snps, self.num_sites)
            if hi - lo < n_snps and not keep_partial:
                break
            out.append(self._window(slice(lo, hi), int(absolute[lo]), int(absolute[hi - 1])))
            if hi == self.num_sites:
                break
        return out

    # -- display -------------------------------------------------------------------------------------
    def summary(self) -> str:
        """A few lines saying what was read and what was skipped."""
        pops = ", ".join(f"{n} {name}" for name, n in self.population_sizes.items())
        skipped = ", ".join(f"{k} {v}" for k, v in self.skipped.items() if v) or "none"
        return (f"{self.source or 'VCF'} {self.chromosome}:{self.start}-{self.end}: {self.num_sites} biallelic "
                f"SNPs of {self.n_records} records; {self.num_individuals} individuals ({pops}), "
                f"{self.num_haplotypes} haplotypes, {'phased' if self.phased else 'UNPHASED'}; "
                f"skipped: {skipped}; "
                + (f"{self.n_split} multiallelic records split; " if self.n_split else "")
                + f"{self.n_ignored_samples} VCF samples not in the population file ignored; "
                f"read by the {self.backend} backend")

    def __repr__(self) -> str:
        return (f"VcfGenotypes(chromosome={self.chromosome!r}, start={self.start}, end={self.end}, "
                f"sites={self.num_sites}, individuals={self.num_individuals}, "
                f"haplotypes={self.num_haplotypes}, phased={self.phased})")


def _positive_int(value, name: str) -> int:
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


# -------------------------------------------------------------------------------------- population file


def read_populations(path, header: bool | None = None) -> dict:
    """Read a two-column ``sample  population`` file into an ordered ``{sample: population}`` dict.

    Columns separated by tabs or spaces; blank lines and lines starting with ``#`` are ignored. A header
    line is skipped when ``header=True``, or — with ``header=None`` (auto) — when the first line's first
    word is one of ``sample, sample_id, id, iid, ind, individual, name`` (any case). Errors name the file
    and line for a wrong number of columns and for a sample listed twice.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"population file {str(path)!r} is a directory; expected a two-column text file "
                         "(sample, population)")
    mapping: dict[str, str] = {}
    first_line: dict[str, int] = {}
    seen_data = False
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            words = text.split()
            if not seen_data:
                seen_data = True
                is_header = header if header is not None else words[0].lower() in _HEADER_WORDS
                if is_header:
                    continue
            if len(words) != 2:
                raise VcfFormatError(f"{path}, line {lineno}: expected 2 columns (sample, population) "
                                     f"separated by tabs or spaces; got {len(words)}: {text[:80]!r}")
            sample, pop = words
            if sample in mapping:
                raise VcfFormatError(f"{path}, line {lineno}: sample {sample!r} listed twice "
                                     f"(first on line {first_line[sample]})")
            mapping[sample] = pop
            first_line[sample] = lineno
    if not mapping:
        raise VcfFormatError(f"{path}: no samples listed (expected lines 'sample<TAB>population')")
    return mapping


# ----------------------------------------------------------------------------------------------- regions


def parse_region(region) -> tuple:
    """``"chr:start-end"`` (1-based inclusive, commas allowed), ``"chr:start-"``, ``"chr"`` or a tuple.

    ``"chr:100"`` is the single base 100, as in samtools. A chromosome name containing ``:`` is written
    in braces as in htslib, ``"{HLA-A*01:01}:1-100"``, or given as a tuple. Returns
    ``(chromosome, start, end)`` with ``start`` defaulting to 1 and ``end`` to ``None`` (open).
    """
    if region is None:
        return None
    if isinstance(region, (tuple, list)):
        if len(region) == 1:
            chrom, start, end = region[0], 1, None
        elif len(region) == 3:
            chrom, start, end = region
            start = 1 if start is None else start
        else:
            raise ValueError(f"region tuple must be (chromosome,) or (chromosome, start, end); got {region!r}")
    else:
        text = str(region).strip()
        braced = re.fullmatch(r"\{(.+)\}(.*)", text)  # htslib syntax for names with ':': "{HLA-A*01:01}:1-100"
        if braced:
            text = "{}" + braced.group(2)
        m = re.fullmatch(r"(.+):([\d,]+)?(?:-([\d,]*))?", text)
        if m and (m.group(2) or m.group(3)):
            chrom = m.group(1)
            start = int(m.group(2).replace(",", "")) if m.group(2) else 1
            end_text = (m.group(3) or "").replace(",", "")
            if m.group(3) is None and m.group(2):
                end = start  # "chr:100" is the single base 100, as in samtools
            else:
                end = int(end_text) if end_text else None
        else:
            chrom, start, end = text, 1, None
        if braced:
            chrom = braced.group(1)
    if not chrom:
        raise ValueError(f"region {region!r} has an empty chromosome name")
    if int(start) < 1 or (end is not None and int(end) < int(start)):
        raise ValueError(f"region {region!r}: need 1 <= start <= end (1-based, inclusive); "
                         f"got start={start}, end={end}")
    return str(chrom), int(start), None if end is None else int(end)


# ---------------------------------------------------------------------------------------------- reading


def _open(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def split_calls(calls: np.ndarray, j: int) -> np.ndarray:
    """The biallelic record of ALT allele ``j`` split from a multiallelic one (as ``bcftools norm -m-``):
    carriers of allele ``j`` get 1, REF **and every other ALT** get 0; missing (-1) and padding beyond a call's
    ploidy (-2) are kept. ``calls``: allele indices (any shape, integer). E.g. REF A, ALT C,G: ``1|2`` becomes
    ``1|0`` in the A→C record and ``0|1`` in the A→G record."""
    calls = np.asarray(calls)
    return np.where(calls >= 0, calls == j, calls).astype(np.int8)


def _multiallelic_mode(value) -> str:
    if value not in MULTIALLELIC:
        raise ValueError(f"multiallelic must be one of {', '.join(MULTIALLELIC)}; got {value!r}")
    return value


def _classify(ref: bytes, alt: bytes) -> str | None:
    """Skip reason for a record's REF/ALT, or None for a biallelic SNP."""
    if alt == b"." or not alt:
        return "no_alt"
    if b"," in alt:
        return "multiallelic"
    if alt[:1] == b"<" or alt == b"*" or b"[" in alt or b"]" in alt:
        return "symbolic"
    if len(ref) != 1 or len(alt) != 1:
        return "indel"
    if ref in _BASES and alt in _BASES and ref.upper() != alt.upper():
        return None
    if ref == b"0" and alt == b"1":  # tskit's labels for msprime's BinaryMutationModel
        return None
    return "non_acgt"


class _Reader:
    """State of one streaming read; :func:`read_vcf` is the public entry point.

    Records whose genotype columns all have the same width (``a|b`` or ``a``) are queued and parsed
    ``_BATCH`` lines at a time in one NumPy step (join the lines, view the bytes as a (lines, samples,
    width) array, map bytes to alleles with a lookup table). Any other line — and any batch that fails
    validation — goes through the per-call parser, which also produces the precise error messages.
    Kept genotypes accumulate as blocks of shape (records, selected individuals, alleles per call).
    """

    backend_name = "python"

    def __init__(self, path: Path, region, drop_monomorphic: bool, pass_only: bool, require_phased: bool,
                 ancestral_allele: str | None = None, multiallelic: str = "skip"):
        self.path = path
        self.split = _multiallelic_mode(multiallelic) == "split"
        self.n_split = 0
        self.piece_sites = None  # streaming (iter_pieces): hand over the kept sites once this many accumulate
        self.n_kept = 0
        self.fmt_cache: tuple = (None, 0, 1)
        self.ancestral_re = (None if ancestral_allele is None else
                             re.compile(rb"(?:^|;)" + re.escape(ancestral_allele.encode()) + rb"=([^;]*)"))
        self.region = parse_region(region)
        self.drop_monomorphic = drop_monomorphic
        self.pass_only = pass_only
        self.require_phased = require_phased
        self.skipped = dict.fromkeys(SKIP_REASONS, 0)
        self.contig_lengths: dict[str, int] = {}
        self.blocks: list[np.ndarray] = []     # (m, n_sel, k) int8 each, in file order
        self.block_positions: list[np.ndarray] = []
        self.pending: list[tuple] = []         # queued (gt bytes, lineno, pos, flip) of one width
        self.pending_width = 0
        self.n_records = 0
        self.unphased_line = None

    def error(self, lineno: int, message: str) -> VcfFormatError:
        return VcfFormatError(f"{self.path}, line {lineno}: {message}")

    def fail(self, lineno: int, message: str) -> VcfFormatError:
        """Error for this line, after parsing queued earlier lines (so the first bad line is reported)."""
        self.flush()
        return self.error(lineno, message)

    # -- header --------------------------------------------------------------------------------------
    def parse_meta(self, line: bytes):
        if line.startswith(b"##contig=<"):
            m_id = re.search(rb"[<,]ID=([^,>]+)", line)
            m_len = re.search(rb"[<,]length=(\d+)", line)
            if m_id and m_len:
                self.contig_lengths[m_id.group(1).decode()] = int(m_len.group(1))

    def parse_header(self, line: bytes, lineno: int, populations) -> None:
        cols = line.decode("utf-8", "replace").split("\t")
        if tuple(cols[:8]) != _FIXED_COLUMNS:
            raise self.error(lineno, "header line must start with the tab-separated columns "
                                     f"{' '.join(_FIXED_COLUMNS)}; got {' '.join(cols[:8])!r}")
        if len(cols) < 10 or cols[8] != "FORMAT":
            raise self.error(lineno, "header line has no FORMAT column and sample columns; genotypes "
                                     "cannot be read from a sites-only VCF")
        vcf_samples = cols[9:]
        dup = [s for s, c in Counter(vcf_samples).items() if c > 1]
        if dup:
            raise self.error(lineno, f"sample names appear more than once in the header: {dup[:5]}")
        column = {s: j for j, s in enumerate(vcf_samples)}
        if populations is None:
            populations = {s: "all" for s in vcf_samples}
        elif not isinstance(populations, Mapping):
            populations = read_populations(populations)
        absent = [s for s in populations if s not in column]
        if absent:
            raise ValueError(f"{len(absent)} of {len(populations)} samples of the population file are not in "
                             f"{self.path}: {', '.join(absent[:5])}{' ...' if len(absent) > 5 else ''} "
                             f"(the VCF has {len(vcf_samples)} samples, e.g. {', '.join(vcf_samples[:3])})")
        pop_names = list(dict.fromkeys(populations.values()))
        order = sorted(populations, key=lambda s: pop_names.index(populations[s]))  # stable: file order kept
        self.n_samples = len(vcf_samples)
        self.samples = tuple(order)
        self.population_names = tuple(pop_names)
        self.individual_populations = np.array([pop_names.index(populations[s]) for s in order], np.int32)
        self.sel = np.array([column[s] for s in order], dtype=np.intp)
        self.ignored_samples = tuple(s for s in vcf_samples if s not in populations)
        self.ploidy = np.zeros(len(order), dtype=np.int64)  # 0 = not yet known (only missing calls so far)
        self.uniform_ploidy = 0  # k once every selected individual is known to have ploidy k

    def check_region_contig(self, contigs) -> None:
        """A region on a contig the header (or index) does not list is an error naming the file — when the
        header lists any contigs at all (a VCF without ``##contig`` lines is scanned)."""
        if self.region and contigs and self.region[0] not in contigs:
            names = list(contigs)
            raise ValueError(f"{self.path}: region {self.region[0]!r} is on a contig not in the header; "
                             f"contigs: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}")

    # -- genotypes: batched fast path ----------------------------------------------------------------
    def queue(self, gt: bytes, lineno: int, pos: int, flip: bool) -> None:
        """Queue a record for the batched parser, or parse it now if its calls differ in width."""
        n = self.n_samples
        width = 4 if len(gt) == 4 * n - 1 else 2 if len(gt) == 2 * n - 1 else 0
        if width != self.pending_width or not width:
            self.flush()
        if not width:
            self.parse_slow([(gt, lineno, pos, flip)])
            return
        self.pending_width = width
        self.pending.append((gt, lineno, pos, flip))
        if len(self.pending) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        pending, width = self.pending, self.pending_width
        self.pending, self.pending_width = [], 0
        if not pending:
            return
        m, n = len(pending), self.n_samples
        joined = b"\t".join([p[0] for p in pending]) + b"\t"
        buf = np.frombuffer(joined, dtype=np.uint8).reshape(m, n, width)
        ok = np.all(buf[:, :, width - 1] == _TAB)
        if ok:
            b = buf[:, self.sel]                                  # (m, n_sel, width)
            if width == 4:
                alleles = _LUT[b[:, :, 0:3:2]]                    # (m, n_sel, 2)
                sep = b[:, :, 1]
                pipe = sep == _PIPE
                ok = not (alleles == _BAD).any() and bool(np.all(pipe | (sep == _SLASH)))
            else:
                alleles = _LUT[b[:, :, 0:1]]                      # (m, n_sel, 1)
                # a bare '.' in a one-character column may be a missing diploid call: per-call parser
                ok = not (alleles == _BAD).any() and not (alleles < 0).any()
        if not ok:  # something unusual in this batch: the per-call parser handles or reports it
            self.parse_slow(pending)
            return
        k = alleles.shape[2]
        if self.uniform_ploidy != k:
            self.check_ploidy(np.full(len(self.sel), k), pending[0][1])
        if k > 1:
            called = np.maximum(alleles[:, :, 0], alleles[:, :, 1]) >= 0   # (max over axis 2 is slow)
            unphased = np.any(~pipe & called, axis=1)                      # '/' in a non-missing call
            if unphased.any():
                self.note_unphased(pending[int(np.argmax(unphased))][1])
        self.add_block(alleles, np.array([p[2] for p in pending], dtype=np.int64),
                       np.array([p[3] for p in pending], dtype=bool))

    # -- genotypes: per-call parser ------------------------------------------------------------------
    def parse_slow(self, records: list) -> None:
        for gt, lineno, pos, flip in records:
            alleles, ploidy, phased = self.slow_calls(gt.split(b"\t"), lineno)
            self.check_ploidy(ploidy, lineno)
            if not phased:
                self.note_unphased(lineno)
            self.add_block(alleles[None], np.array([pos], dtype=np.int64), np.array([flip]))

    def slow_calls(self, gts: list, lineno: int, n_alleles: int = 2):
        """Parse any GT (bare '.', mixed ploidy, partial missing) of the selected samples; raise if malformed.

        Returns alleles (n_sel, k) int8 (-1 missing, ``_PAD`` beyond an individual's ploidy), the number of
        alleles per individual (0 for a bare '.') and whether every non-missing call is phased. Allele
        indices up to ``n_alleles − 1`` are accepted (a multiallelic record being split).
        """
        rows, phased = [], True
        for i, col in enumerate(self.sel):
            g = gts[col]
            if g in (b".", b""):
                rows.append(None)
                continue
            if g[:1] in (b"|", b"/"):  # VCF 4.4 explicit phasing prefix on haploid calls
                g = g[1:]
            row = []
            for a in _GT_SPLIT.split(g):
                if a == b"0" or a == b"1":
                    row.append(int(a))
                elif a == b".":
                    row.append(-1)
                elif a.isdigit() and int(a) < n_alleles:
                    row.append(int(a))
                elif a.isdigit():
                    alts = "a single ALT allele" if n_alleles == 2 else f"{n_alleles - 1} ALT alleles"
                    raise self.error(lineno, f"sample {self.samples[i]!r} has GT {gts[col].decode()!r} with "
                                             f"allele index {int(a)}, but the record has {alts}")
                else:
                    raise self.error(lineno, f"sample {self.samples[i]!r} has malformed GT "
                                             f"{gts[col].decode('utf-8', 'replace')!r} (expected e.g. 0|1, "
                                             "0/1, 1, ./.)")
            if len(row) > 1 and b"/" in g and max(row) >= 0:
                phased = False
            rows.append(row)
        k = max((len(r) for r in rows if r is not None), default=1)
        out = np.full((len(rows), k), _PAD, dtype=np.int8)
        ploidy = np.zeros(len(rows), dtype=np.int64)
        for i, r in enumerate(rows):
            if r is None:
                out[i] = -1
            else:
                out[i, :len(r)] = r
                ploidy[i] = len(r)
        return out, ploidy, phased

    # -- multiallelic records split into biallelic ones ----------------------------------------------
    def judge(self, ref: bytes, alt: bytes, filter_ok: bool, ancestral: bytes | None) -> tuple:
        """``(skip reason or None, flip)`` of one biallelic (REF, ALT) pair — a record, or one ALT of a split
        multiallelic record: SNP class, then FILTER (``pass_only``), then the ancestral allele (``flip``: the
        ALT is ancestral, so 0 and 1 swap). ``ancestral``: the INFO value (None when not polarising)."""
        reason = None if (ref, alt) in _SNP_PAIRS else _classify(ref, alt)
        if reason is None and self.pass_only and not filter_ok:
            reason = "filtered"
        flip = False
        if reason is None and ancestral is not None:
            ancestral = ancestral[:1].upper()
            if ancestral != ref.upper():
                if ancestral != alt.upper() or not ancestral:
                    reason = "no_ancestral"
                else:
                    flip = True
        return reason, flip

    def split_alts(self, ref: bytes, alts: list, filter_ok: bool, ancestral: bytes | None) -> list:
        """The split of a multiallelic record: ``[(allele index j, flip)]`` of its ALTs that are kept as
        biallelic records; every other ALT is counted under its skip reason (and the record in ``n_split``)."""
        self.n_split += 1
        kept = []
        for j, alt in enumerate(alts, 1):
            reason, flip = self.judge(ref, alt, filter_ok, ancestral)
            if reason is None:
                kept.append((j, flip))
            else:
                self.skipped[reason] += 1
        return kept

    def split_text(self, fields: list, lineno: int, pos: int, ancestral: bytes | None) -> None:
        """Hand parser: a multiallelic record as one biallelic record per kept ALT (:func:`split_calls`)."""
        kept = self.split_alts(fields[3], fields[4].split(b","), fields[6] in (b"PASS", b"."), ancestral)
        if not kept:
            return
        self.flush()  # keep the file order
        gt = self.gt_column(fields, lineno)
        calls, ploidy, phased = self.slow_calls(gt.split(b"\t"), lineno, n_alleles=fields[4].count(b",") + 2)
        self.check_ploidy(ploidy, lineno)
        if not phased:
            self.note_unphased(lineno)
        for j, flip in kept:
            self.add_block(split_calls(calls, j)[None], np.array([pos], dtype=np.int64), np.array([flip]))

    def gt_column(self, fields: list, lineno: int) -> bytes:
        """The GT values of a text record's sample columns, tab-separated (other FORMAT fields stripped)."""
        fmt = fields[8]
        if fmt != self.fmt_cache[0]:
            keys = fmt.split(b":")
            if b"GT" not in keys:
                raise self.fail(lineno, f"FORMAT {fmt.decode('utf-8', 'replace')!r} has no GT field")
            self.fmt_cache = (fmt, keys.index(b"GT"), len(keys))
        gt = fields[9]
        if self.fmt_cache[2] > 1:  # strip the other FORMAT fields: keep GT only
            if self.fmt_cache[1] == 0:  # GT first, as the spec requires: one regex pass in C
                gt = _AFTER_GT.sub(b"", gt)
            else:
                gt = b"\t".join([_take_field(f, self.fmt_cache[1]) for f in gt.split(b"\t")])
        return gt

    # -- bookkeeping ---------------------------------------------------------------------------------
    def check_ploidy(self, ploidy: np.ndarray, lineno: int) -> None:
        """``ploidy``: alleles per selected individual in this record (0 for a bare '.')."""
        known = (self.ploidy > 0) & (ploidy > 0)
        bad = np.flatnonzero(known & (self.ploidy != ploidy))
        if bad.size:
            i = int(bad[0])
            raise self.error(lineno, f"sample {self.samples[i]!r} has {ploidy[i]} alleles here but "
                                     f"{self.ploidy[i]} on earlier records; ploidy must not change")
        new = (self.ploidy == 0) & (ploidy > 0)
        if new.any():
            self.ploidy[new] = ploidy[new]
            if np.all(self.ploidy > 0) and np.all(self.ploidy == self.ploidy[0]):
                self.uniform_ploidy = int(self.ploidy[0])

    def place(self, pos: int, r_start: int, r_end: int | None) -> int:
        """Where a record at ``pos`` lies: ``_BEFORE`` the region (or a telomere, POS 0: counted as skipped),
        ``_AFTER`` it (stop reading), or ``_INSIDE`` (counted in ``n_records``). Shared by every backend."""
        if pos == 0:  # VCF: "positions 0 or N+1 indicate telomeres"
            self.skipped["telomere"] += 1
            return _BEFORE
        if pos < r_start:
            return _BEFORE
        if r_end is not None and pos > r_end:
            return _AFTER
        self.n_records += 1
        return _INSIDE

    def note_unphased(self, lineno: int) -> None:
        if self.require_phased:
            raise self.error(lineno, "unphased genotype ('/') but require_phased=True")
        if self.unphased_line is None or lineno < self.unphased_line:
            self.unphased_line = lineno

    def add_block(self, alleles: np.ndarray, positions: np.ndarray, flip: np.ndarray) -> None:
        """Keep a block of records (m, n_sel, k); ``flip`` (m,) marks records whose ALT is ancestral."""
        if flip.any():  # polarise: 0 <-> 1, missing and padding unchanged (alleles is a fresh array)
            sub = alleles[flip]
            alleles[flip] = np.where(sub >= 0, 1 - sub, sub)
        if self.drop_monomorphic:
            variable = segregating_sites(alleles)
            self.skipped["monomorphic"] += int(np.count_nonzero(~variable))
            if not variable.all():
                alleles, positions = alleles[variable], positions[variable]
        if len(positions):
            self.blocks.append(alleles)
            self.block_positions.append(positions)
            self.n_kept += len(positions)

    def add_calls(self, positions: np.ndarray, gt: np.ndarray, phased: np.ndarray, flip: np.ndarray,
                  labels) -> None:
        """Keep records given as arrays in the htslib convention (the htslib and VCF Zarr backends).

        ``gt``: (m, n_sel, P) integer alleles, -1 missing, -2 beyond the call's ploidy (htslib's vector
        end); ``phased``: (m, n_sel) bool; ``labels``: (m,) record numbers for messages (see :meth:`error`).
        A call with a single missing allele is a bare ``.`` (ploidy unknown), as in the text parser.
        """
        gt = np.asarray(gt)
        m, n_sel, k = gt.shape
        if m == 0:
            return
        if gt.max() > 1:  # (whole-array max/min: much faster than elementwise tests and any())
            j, i, _ = np.argwhere(gt > 1)[0]
            raise self.fail(int(labels[j]), f"sample {self.samples[i]!r} has allele index {int(gt[j, i].max())}, "
                                            "but the record has a single ALT allele")
        if gt.min() < -2:
            j, i, _ = np.argwhere(gt < -2)[0]
            raise self.fail(int(labels[j]), f"sample {self.samples[i]!r} has a malformed GT")
        alleles = np.ascontiguousarray(gt, dtype=np.int8)  # a copy only if needed: a kept view would hold its base
        # per-slot loops over the (short) ploidy axis: reductions over a last axis of length 2 are slow
        ploidy = np.full(alleles.shape[:2], k, dtype=np.int8)              # (m, n_sel)
        top = alleles[:, :, 0].copy()
        for slot in range(k):
            ploidy -= alleles[:, :, slot] == _PAD
            if slot:
                np.maximum(top, alleles[:, :, slot], out=top)
        bare = (ploidy == 1) & (alleles[:, :, 0] == -1)
        if bare.any():  # '.': missing for every allele of the individual, whatever its ploidy
            ploidy[bare] = 0
            alleles[bare] = -1
        uniform = self.uniform_ploidy
        if not (uniform and np.all((ploidy == uniform) | (ploidy == 0))):
            top = ploidy.max(axis=0)
            if np.all((ploidy == top) | (ploidy == 0)):  # one ploidy per individual in this block
                known = self.ploidy > 0
                clash = np.any((ploidy > 0) & known & (ploidy != self.ploidy), axis=1)
                self.check_ploidy(top, int(labels[int(np.argmax(clash))]))
            else:
                for j in range(m):
                    self.check_ploidy(ploidy[j], int(labels[j]))
        if k > 1:
            unphased = np.any((ploidy > 1) & ~np.asarray(phased, dtype=bool) & (top >= 0), axis=1)
            if unphased.any():
                self.note_unphased(int(labels[int(np.argmax(unphased))]))
        self.add_block(alleles, np.asarray(positions, dtype=np.int64), np.asarray(flip, dtype=bool))

    def reset_chromosome(self) -> None:
        """Forget what was kept (blocks, counts, ploidies) before reading the next chromosome."""
        self.take_piece()
        self.unphased_line = None
        self.ploidy = np.zeros(len(self.sel), dtype=np.int64)
        self.uniform_ploidy = 0

    def take_piece(self) -> None:
        """Forget the kept blocks and the counts, after they were handed over (a piece or a chromosome)."""
        self.skipped = dict.fromkeys(SKIP_REASONS, 0)
        self.blocks, self.block_positions = [], []
        self.n_records = self.n_kept = self.n_split = 0

    def piece_full(self) -> bool:
        """Streaming: enough kept sites to hand over a piece."""
        return self.piece_sites is not None and self.n_kept + self.n_pending() >= self.piece_sites

    def n_pending(self) -> int:
        """Records queued for the batched parser, not yet kept."""
        return len(self.pending)

    # -- main loop -----------------------------------------------------------------------------------
    def read(self, populations):
        """One chromosome (the region's, or the file's only one): ``(chrom, chrom_wanted, r_start, r_end,
        last POS seen, chromosomes seen)``."""
        return next(self.scan(populations, multi=False))[:6]

    def scan(self, populations, multi: bool = True):
        """Generator over the chromosomes of the file, one pass; with ``multi=False`` a second chromosome
        without a region is an error. Yields the tuple of :meth:`read` and ``final`` after each chromosome
        (``final=True``) and, when streaming (``piece_sites``), after each piece of one (``final=False``); the
        caller takes the kept blocks (:meth:`assemble`, :meth:`take_piece`) before asking for more."""
        header_seen = False
        chrom_wanted = self.region[0].encode() if self.region else None
        r_start = self.region[1] if self.region else 1
        r_end = self.region[2] if self.region else None
        chrom = None          # chromosome being read (bytes): the region's, or the file's only one
        last_chrom = None
        last_pos = -1
        max_pos = 0           # last POS seen on the chromosome read (default end without ##contig)
        chromosomes_seen: list[str] = []
        with _open(self.path) as fh:
            for lineno, raw in enumerate(fh, 1):
                line = raw.rstrip(b"\r\n")
                if not line:
                    continue
                if line[:1] == b"#":
                    if header_seen:
                        raise self.fail(lineno, "header line after the #CHROM line")
                    if line.startswith(b"#CHROM"):
                        self.parse_header(line, lineno, populations)
                        self.check_region_contig(self.contig_lengths)
                        header_seen = True
                        n_tabs = 8 + self.n_samples
                    elif line.startswith(b"##"):
                        self.parse_meta(line)
                    else:
                        raise self.error(lineno, f"unexpected header line {line[:40].decode('utf-8', 'replace')!r}"
                                                 " (meta lines start with ##, the column header with #CHROM)")
                    continue
                if not header_seen:
                    raise self.error(lineno, "data line before the #CHROM header line (missing header?)")
                n_found = line.count(b"\t")
                if n_found != n_tabs:
                    raise self.fail(lineno, f"expected {n_tabs + 1} tab-separated columns (8 fixed, FORMAT, "
                                            f"{self.n_samples} samples); got {n_found + 1}")
                fields = line.split(b"\t", 9)
                this_chrom = fields[0]
                if this_chrom != last_chrom:
                    last_chrom, last_pos = this_chrom, -1
                    chromosomes_seen.append(this_chrom.decode("utf-8", "replace"))
                    if chrom_wanted is None:
                        chrom_wanted = this_chrom
                if this_chrom != chrom_wanted and multi and chrom is not None and not self.region:
                    self.flush()
                    yield (chrom.decode(), chrom.decode(), r_start, r_end, max_pos, chromosomes_seen, True)
                    self.reset_chromosome()
                    chrom_wanted, chrom, max_pos = this_chrom, None, 0
                if this_chrom != chrom_wanted:
                    if chrom is not None:
                        if self.region:
                            break  # past the region's chromosome
                        raise self.fail(lineno, f"second chromosome {this_chrom.decode()!r} after "
                                                f"{chrom.decode()!r}; read one chromosome at a time with "
                                                "region='CHROM'")
                    continue
                chrom = this_chrom
                try:
                    pos = int(fields[1])
                except ValueError:
                    raise self.fail(lineno, "POS must be an integer; got "
                                            f"{fields[1].decode('utf-8', 'replace')!r}") from None
                if pos < 0:
                    raise self.fail(lineno, f"POS must be >= 0; got {pos}")
                if pos < last_pos:
                    raise self.fail(lineno, f"records not sorted: POS {pos} after {last_pos} on "
                                            f"{chrom.decode()!r}")
                last_pos = max_pos = pos
                place = self.place(pos, r_start, r_end)
                if place == _BEFORE:
                    continue
                if place == _AFTER:
                    break

                ancestral = None
                if self.ancestral_re is not None:
                    m = self.ancestral_re.search(fields[7])
                    ancestral = m.group(1) if m else b""
                if (fields[3], fields[4]) in _SNP_PAIRS and not self.pass_only and ancestral is None:
                    reason, flip = None, False  # the common case, without a method call
                else:
                    if self.split and b"," in fields[4]:
                        self.split_text(fields, lineno, pos, ancestral)
                        continue
                    reason, flip = self.judge(fields[3], fields[4], fields[6] in (b"PASS", b"."), ancestral)
                if reason is not None:
                    self.skipped[reason] += 1
                    continue
                self.queue(self.gt_column(fields, lineno), lineno, pos, flip)
                if self.piece_full():
                    self.flush()
                    yield (chrom.decode(), chrom.decode(), r_start, r_end, max_pos, chromosomes_seen, False)
        self.flush()
        if not header_seen:
            raise VcfFormatError(f"{self.path}: no '#CHROM ...' header line found (is this a VCF file?)")
        yield (None if chrom is None else chrom.decode(), None if chrom_wanted is None else chrom_wanted.decode(),
               r_start, r_end, max_pos, chromosomes_seen, True)

    def assemble(self) -> tuple:
        """Concatenate the kept blocks into the (sites, haplotypes) matrix and the positions."""
        ploidy = self.ploidy.copy()
        if np.any(ploidy == 0):  # individuals with only missing calls: give them the most common ploidy
            known = ploidy[ploidy > 0]
            ploidy[ploidy == 0] = np.bincount(known).argmax() if known.size else 2
        self.ploidy = ploidy
        p_max = int(ploidy.max())
        n_sites = sum(len(p) for p in self.block_positions)
        full = np.full((n_sites, len(self.sel), p_max), -1, dtype=np.int8)
        row = 0
        for block in self.blocks:
            full[row:row + len(block), :, :block.shape[2]] = block
            row += len(block)
        positions = np.concatenate(self.block_positions)
        if np.all(ploidy == p_max):
            return full.reshape(n_sites, -1), positions
        keep = np.arange(p_max)[None, :] < ploidy[:, None]  # (n_sel, p_max): real allele slots
        return np.ascontiguousarray(full[:, keep]), positions


def _take_field(sample_field: bytes, index: int) -> bytes:
    if index == 0:
        return sample_field.partition(b":")[0]
    parts = sample_field.split(b":")
    return parts[index] if index < len(parts) else b"."  # trailing FORMAT fields may be dropped


def read_vcf(path, populations=None, region=None, *, drop_monomorphic: bool = True, pass_only: bool = False,
             require_phased: bool = False, ancestral_allele: str | None = None,
             backend: str = "auto", multiallelic: str = "skip") -> VcfGenotypes:
    """Read biallelic SNP genotypes of one chromosome (or region) from a VCF, BCF or VCF Zarr store.

    Parameters
    ----------
    path:
        VCF file, plain text or gzip/bgzip (detected from the first bytes, not the name); a BCF file
        (htslib backend); or a VCF Zarr directory (bio2zarr/sgkit layout, see :mod:`popsim.realdata.vcfzarr`).
    populations:
        Path of a two-column ``sample  population`` file (see :func:`read_populations`), or a dict
        ``{sample: population}`` in the desired order, or None to take every VCF sample as population
        ``"all"``. VCF samples not listed are ignored (``ignored_samples``); listed samples missing from the
        VCF are an error naming them.
    region:
        ``"chr"``, ``"chr:start-end"`` (1-based inclusive) or a tuple ``(chr, start, end)``. Without it the
        file must contain a single chromosome (see :func:`iter_chromosomes` for several). With the htslib
        backend and a ``.tbi``/``.csi`` index next to the file, the reader jumps to the region; without an
        index the file is scanned from the top (a :class:`VcfWarning` says so).
    drop_monomorphic:
        Skip (and count) sites without both alleles among the selected samples' non-missing calls.
    pass_only:
        Skip (and count as ``filtered``) records whose FILTER is neither ``PASS`` nor ``.``.
    require_phased:
        Raise at the first unphased call instead of returning ``phased=False``.
    ancestral_allele:
        Name of an INFO key holding the ancestral allele (``"AA"`` in 1000 Genomes-style files). When given,
        alleles are polarised — 0 = ancestral, 1 = derived, as in simulations — by swapping 0 and 1 where
        the ancestral allele is ALT (first character, any case, e.g. ``AA=g`` or ``AA=G|||``); records whose
        ancestral allele is absent or neither REF nor ALT are skipped as ``no_ancestral``. Without it,
        0 = REF and 1 = ALT, and REF is not necessarily ancestral (``polarised=False``).
    backend:
        ``"python"`` — the hand-written parser (no dependency; plain/gzip VCF; never uses an index);
        ``"htslib"`` — cyvcf2 (``pip install popsim[vcf]``): VCF, bgzip VCF, BCF, ``.tbi``/``.csi`` region
        jumps; ``"auto"`` (default) — a VCF Zarr store is read as such; a BCF file, and a region of a text
        file, with htslib when cyvcf2 is importable; a **full read of a text file with the hand parser**,
        which is faster there (``benchmarks/RESULTS.md``: 1 M records × 1,000 diploids). Without cyvcf2 the
        hand parser reads all text (a BCF then is an error saying what to install). The backends return
        identical results (tested); ``backend`` of the result says which one ran.
    multiallelic:
        ``"skip"`` (default) — records with several ALT alleles are skipped (counted as ``multiallelic``);
        ``"split"`` — each becomes one biallelic record per ALT allele, in ALT order, at the same POS, as
        ``bcftools norm -m-`` does: carriers of that ALT are 1, REF and the other ALTs 0 (:func:`split_calls`).
        Each split record is then judged like any record (an indel or ``*`` ALT is skipped under its reason,
        FILTER and the ancestral allele apply, monomorphic ones are dropped); ``n_split`` counts the records
        split. Same in every backend (tested).

    Returns a :class:`VcfGenotypes` (layout in the module docstring). ``start``/``end`` are the region's,
    defaulting to 1 and to the ``##contig`` length (else the last POS seen on the chromosome); positions
    are ``POS − (start − 1)``, i.e. VCF POS when no region start is given.

    Raises :class:`VcfFormatError` (a ``ValueError``) with file and line (or record) for malformed lines
    (column count, POS, GT, ploidy changes, unsorted records, missing header), and ``ValueError`` for
    samples absent from the VCF or when no usable site remains (the message gives the skip counts).
    """
    path = Path(path)
    reader = _make_reader(path, region, drop_monomorphic, pass_only, require_phased, ancestral_allele, backend,
                          multiallelic)
    try:
        found = reader.read(populations)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise VcfFormatError(f"{path}: corrupt or truncated gzip file ({exc})") from exc
    return _result(reader, found, ancestral_allele)


def iter_chromosomes(path, populations=None, *, drop_monomorphic: bool = True, pass_only: bool = False,
                     require_phased: bool = False, ancestral_allele: str | None = None, backend: str = "auto",
                     multiallelic: str = "skip"):
    """Every chromosome of a multi-chromosome file, in file order, in **one pass**: yields one
    :class:`VcfGenotypes` per chromosome (the same as ``read_vcf(path, populations, region=CHROM)``), holding
    only that chromosome in memory. Chromosomes without a usable SNP are skipped. Arguments as :func:`read_vcf`.
    """
    path = Path(path)
    reader = _make_reader(path, None, drop_monomorphic, pass_only, require_phased, ancestral_allele, backend,
                          multiallelic)
    try:
        for found in reader.scan(populations):
            if found[0] is not None and reader.blocks:
                yield _result(reader, found[:6], ancestral_allele)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise VcfFormatError(f"{path}: corrupt or truncated gzip file ({exc})") from exc


@dataclass
class VcfPiece:
    """One piece of a streamed read (:func:`iter_pieces`): the sites kept since the previous piece of the same
    chromosome (``genotypes``, None if none), and the counts of the records behind them. ``final``: the last
    piece of its chromosome (or region); then ``end`` is the chromosome's (or region's) end, as
    :func:`read_vcf` gives it, else the last position read so far."""

    chromosome: str
    start: int
    end: int
    final: bool
    genotypes: VcfGenotypes | None
    skipped: dict
    n_records: int
    n_split: int


def iter_pieces(path, populations=None, region=None, *, piece_sites: int = 4096, drop_monomorphic: bool = True,
                pass_only: bool = False, require_phased: bool = False, ancestral_allele: str | None = None,
                backend: str = "auto", multiallelic: str = "skip"):
    """A read in bounded memory: yields :class:`VcfPiece` objects of about ``piece_sites`` kept sites each, in
    file order, over every chromosome in one pass (``region=None``) or over one region (through the index with
    htslib). All pieces of a chromosome share its ``start``, so their ``positions`` add up: concatenated, they
    are exactly ``read_vcf`` of that chromosome (tested). Arguments as :func:`read_vcf`; a piece's
    ``phased`` is False from the first unphased call of its chromosome on. What :func:`popsim.realdata.windows.predict_genome` walks.
    """
    path = Path(path)
    piece_sites = _positive_int(piece_sites, "piece_sites")
    reader = _make_reader(path, region, drop_monomorphic, pass_only, require_phased, ancestral_allele, backend,
                          multiallelic)
    reader.piece_sites = piece_sites
    try:
        for found in reader.scan(populations, multi=region is None):
            chrom, chrom_wanted, r_start, r_end, last_seen, seen, final = found
            if chrom is None:
                if region is not None:  # the region's chromosome has no record: read_vcf's error
                    _result(reader, found[:6], ancestral_allele)
                continue
            genotypes = None
            if reader.blocks:
                genotypes = _result(reader, found[:6], ancestral_allele)
            if final:
                end = r_end if r_end is not None else (reader.contig_lengths.get(chrom) or last_seen)
                end = max(end, r_start, genotypes.end if genotypes is not None else 0)
            else:
                end = genotypes.end if genotypes is not None else r_start
            piece = VcfPiece(chrom, int(r_start), int(end), final, genotypes, dict(reader.skipped), reader.n_records,
                             reader.n_split)
            reader.take_piece()
            if genotypes is not None:
                genotypes.end = int(end) if final else int(genotypes.absolute_positions[-1])
            yield piece
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise VcfFormatError(f"{path}: corrupt or truncated gzip file ({exc})") from exc


def vcf_contigs(path, backend: str = "auto") -> dict:
    """``{contig: length or None}`` from the header (``##contig`` lines), the index or the VCF Zarr store,
    without reading records; empty if the file declares none."""
    path = Path(path)
    kind = _input_kind(path)
    if kind == "zarr":
        from popsim.realdata.vcfzarr import zarr_contigs
        return zarr_contigs(path)
    if _choose_backend(path, kind, backend, region="header") == "htslib":  # as a region: the index lists contigs
        from popsim.realdata.htslib import htslib_contigs
        return htslib_contigs(path)
    contigs = {}
    with _open(path) as fh:
        for raw in fh:
            if not raw.startswith(b"##"):
                break
            m_id = re.search(rb"^##contig=<.*?[<,]?ID=([^,>]+)", raw)
            if m_id:
                m_len = re.search(rb"[<,]length=(\d+)", raw)
                contigs[m_id.group(1).decode()] = int(m_len.group(1)) if m_len else None
    return contigs


def _input_kind(path: Path) -> str:
    """``"zarr"`` (a VCF Zarr directory), ``"bcf"``, ``"text"`` (plain or gzip VCF); errors name the file."""
    if path.is_dir():
        if (path / "zarr.json").exists() or (path / ".zgroup").exists():
            return "zarr"
        raise ValueError(f"VCF {str(path)!r} is a directory; expected a .vcf, .vcf.gz or .bcf file, or a VCF Zarr "
                         "store (a directory with zarr.json)")
    if not path.exists():
        raise FileNotFoundError(f"VCF {str(path)!r} does not exist")
    with open(path, "rb") as fh:
        head = fh.read(2)
    if head == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as fh:
                head = fh.read(3)
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
            raise VcfFormatError(f"{path}: corrupt or truncated gzip file ({exc})") from exc
    else:
        with open(path, "rb") as fh:
            head = fh.read(3)
    return "bcf" if head == b"BCF" else "text"


def htslib_available() -> bool:
    """True if the optional htslib backend (cyvcf2) can be imported."""
    try:
        import cyvcf2  # noqa: F401
    except ImportError:
        return False
    return True


def _choose_backend(path: Path, kind: str, backend: str, region=None) -> str:
    """The backend that runs: ``backend``, or for ``"auto"`` the zarr reader for a store, the hand parser for
    a full read of a text file (faster), htslib for BCF and regions (index jumps) when cyvcf2 is importable."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if kind == "zarr":
        if backend in ("htslib", "python"):
            raise ValueError(f"{path} is a VCF Zarr store; read it with backend='zarr' or 'auto'")
        return "zarr"
    if backend == "zarr":
        raise ValueError(f"{path} is not a VCF Zarr store (a directory with zarr.json); use backend='auto'")
    if backend == "auto":
        backend = "htslib" if htslib_available() and (kind == "bcf" or region is not None) else "python"
    if backend == "htslib" and not htslib_available():
        raise ValueError(f"{path}: backend='htslib' needs cyvcf2, which is not installed "
                         "(pip install 'popsim[vcf]' or pip install cyvcf2)")
    if kind == "bcf" and backend == "python":
        raise ValueError(f"{path} is a BCF file: reading BCF needs the htslib backend (pip install 'popsim[vcf]' "
                         "or pip install cyvcf2), or convert it: bcftools view -Oz -o FILE.vcf.gz FILE.bcf")
    return backend


def _make_reader(path, region, drop_monomorphic, pass_only, require_phased, ancestral_allele, backend,
                 multiallelic="skip"):
    _multiallelic_mode(multiallelic)
    kind = _input_kind(path)
    chosen = _choose_backend(path, kind, backend, region)
    if chosen == "zarr":
        from popsim.realdata.vcfzarr import ZarrReader as cls
    elif chosen == "htslib":
        from popsim.realdata.htslib import HtslibReader as cls
    else:
        cls = _Reader
    return cls(path, region, drop_monomorphic, pass_only, require_phased, ancestral_allele, multiallelic)


def _result(reader, found, ancestral_allele) -> VcfGenotypes:
    path = reader.path
    chrom, chrom_wanted, r_start, r_end, last_seen_pos, chromosomes_seen = found
    where = f"{chrom_wanted}:{r_start}-{r_end if r_end is not None else ''}" if chrom_wanted else "any chromosome"
    if chrom is None:
        seen = ", ".join(chromosomes_seen[:10]) or "none (no data lines)"
        raise ValueError(f"{path}: no records on {where}; chromosomes in the file: {seen}")
    if not reader.blocks:
        counts = ", ".join(f"{k} {v}" for k, v in reader.skipped.items() if v) or "none"
        raise ValueError(f"{path}: no usable biallelic SNPs in {where} ({reader.n_records} records in range; "
                         f"skipped: {counts})")
    calls, positions = reader.assemble()
    end = r_end if r_end is not None else (reader.contig_lengths.get(chrom) or last_seen_pos)
    end = max(end, int(positions[-1]), r_start)
    return VcfGenotypes(
        calls=calls,
        positions=positions - (int(r_start) - 1),
        chromosome=chrom,
        samples=reader.samples,
        population_names=reader.population_names,
        individual_populations=reader.individual_populations,
        ploidies=reader.ploidy.astype(np.int32),
        phased=reader.unphased_line is None,
        start=int(r_start),
        end=int(end),
        polarised=ancestral_allele is not None,
        skipped=dict(reader.skipped),
        n_records=reader.n_records,
        ignored_samples=reader.ignored_samples,
        source=str(path),
        backend=reader.backend_name,
        n_split=reader.n_split,
    )
