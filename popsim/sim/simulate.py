"""Seeded, parallel simulation of replicates under one or several scenarios.

Vocabulary
----------
* **replicate**: one simulated data set under one scenario with one parameter draw. It is made of
  ``n_loci`` independent **loci** (unlinked regions of ``sequence_length`` bp each).
* **haplotype**: one sample node of the tree sequence; a diploid individual gives two.
* **genotype matrix**: as tskit, shape ``(sites, haplotypes)``, ``int8``, 0 = ancestral, 1 = derived.
  Only segregating (variable) sites are kept. Loci are concatenated along the sites axis;
  ``Replicate.positions`` gives each site's position in bp within its locus and ``Replicate.locus`` its
  locus index.

Seeds
-----
One master seed determines everything. Replicate ``r`` of scenario number ``k`` (the position of the scenario
in the list given to ``simulate``) gets its own ``numpy.random.SeedSequence(master_seed, spawn_key=(k, r))``,
from which four 32-bit seeds are drawn, each mapped into msprime's valid range 1..2**32-1:

    seeds[0]  parameters drawn from the priors
    seeds[1]  msprime.sim_ancestry (all loci of the replicate, via num_replicates)
    seeds[2]  mutations (each locus gets its own seed derived from this one)
    seeds[3]  anything random in the image transform (missing-data injection)

A replicate's seeds are computed in the main process when its task is built (the ``Plan`` lists nothing up
front: row → (k, r) is arithmetic, so a plan of 10**8 replicates costs nothing until it runs) and stored with
the output. Because a replicate's seeds depend only on ``(master_seed, k, r)``, results are identical
whatever the worker count, the executor, the batch size, or whether a run was interrupted and resumed.
Adding replicates (larger ``n``) keeps the existing ones.

Parallelism
-----------
Work is cut into batches of replicates and sent to any ``concurrent.futures.Executor``-like object (anything
with ``submit(fn, *args)`` returning a future with ``.result()``): a ``ProcessPoolExecutor`` by default when
``workers > 1``, in-process when ``workers == 1``, or e.g. ``distributed.Client(...).get_executor()`` to spread
over machines. Results are collected in replicate order. The functions run in workers live in this module
(importable, hence picklable). Pools made here (``process_pool``) have workers that end when the process
that made them dies, even by SIGKILL (``PR_SET_PDEATHSIG`` on Linux, and a watchdog thread everywhere).
"""

from __future__ import annotations

import concurrent.futures
import itertools
import math
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Iterator, Mapping, Sequence

import msprime
import numpy as np
import tskit

from popsim.features.genotypes import segregating_sites
from popsim.sim.scenarios import Scenario, get_scenario

__all__ = [
    "SimulationSettings",
    "Replicate",
    "ReplicateRecord",
    "Simulation",
    "SummaryStatistics",
    "Plan",
    "Interleaving",
    "params_table",
    "process_pool",
    "derive_seeds",
    "simulate",
    "simulate_replicate",
    "place_segregating_sites",
    "run_plan",
    "bounded_results",
    "check_settings",
]

MAX_SEED = 2**32 - 1  # msprime accepts seeds 1..2**32-1
N_SEEDS = 4  # parameters, ancestry, mutations, image transform
# SimulationSettings.mutation_model → msprime mutation model class
MUTATION_MODELS = {"binary": msprime.BinaryMutationModel, "jc69": msprime.JC69}


def derive_seeds(master_seed: int, label: int, replicate_index: int) -> np.ndarray:
    """The four seeds of one replicate, shape ``(4,)`` uint32, each in 1..2**32-1.

    Derived with ``numpy.random.SeedSequence(master_seed, spawn_key=(label, replicate_index))``,
    so they depend on nothing else (not on worker count, order of execution or total size).
    """
    sequence = np.random.SeedSequence(int(master_seed), spawn_key=(int(label), int(replicate_index)))
    raw = sequence.generate_state(N_SEEDS, dtype=np.uint64)
    # Map 64-bit words onto 1..2**32-1 (0 is not a valid msprime seed).
    return (raw % np.uint64(MAX_SEED) + np.uint64(1)).astype(np.uint32)


def _check_master_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0; got {seed!r}")
    return int(seed)


@dataclass(frozen=True)
class SimulationSettings:
    """Everything about *how* to simulate that is shared by all replicates — the one object that
    ``simulate``, ``simulate_dataset`` and ``popsim simulate`` take and that datasets record.

    ``SimulationSettings()`` means "the scenarios' own defaults"; give only what differs, e.g.
    ``SimulationSettings(n_loci=2, transform=GenotypeImage(n_snps=64))``, and derive variants with
    ``dataclasses.replace(settings, segregating_sites=60)``.

    Attributes
    ----------
    sequence_length : length of each locus in bp.
    mutation_rate : per bp per generation (ignored when ``segregating_sites`` is set).
    recombination_rate : per bp per generation, within a locus; loci are unlinked.
    n_loci : independent loci per replicate.
        These four default (None) to the scenarios' ``defaults``, which must then agree (:meth:`resolve`).
    segregating_sites : if set, exactly this many segregating sites per locus, placed on the genealogy in
        proportion to branch length (as ``ms -s``) instead of simulating mutations at a rate.
    discrete_genome : False (default) = infinite sites, continuous positions, every mutation a new site;
        True = integer positions (recurrent and back mutations possible; sites that end up not segregating
        are dropped).
    mutation_model : ``"binary"`` (default): msprime's ``BinaryMutationModel``, alleles 0 (ancestral) and
        1 (derived). ``"jc69"``: msprime's *default* model, Jukes–Cantor on the nucleotides (``msprime.JC69``),
        which needs ``discrete_genome=True``: a site hit twice can carry three or four alleles. Such a
        site is kept as a biallelic one, ancestral (0) vs derived (any other allele, 1) — what a 0/1 image
        and the 0/1 statistics can represent; ``"jc69"`` exists to reproduce work done with msprime's
        defaults (lesson 13: the course's reference tables).
    keep_genotypes : keep the raw genotype matrices and positions; None (default) = True in memory
        (``simulate``) and False on disk (``simulate_dataset``, where images or statistics are the usual aim).
    contig : optional ``popsim.sim.catalogue.Contig`` (e.g. ``Contig.from_stdpopsim("AnoGam", "2L", 0, 1e5)``):
        each locus is this contig, simulated with its recombination map; it sets ``sequence_length`` and
        ``recombination_rate`` (its mean rate, as recorded) and, unless given, ``mutation_rate``.
    transform : optional ``popsim.features.images.GenotypeImage`` applied in the worker.
    statistics : optional function ``ReplicateRecord -> {name: float}`` computed in the worker (summary
        statistics, e.g. ``SummaryStatistics("t1")``). It must be importable (defined at module level) so
        that worker processes can receive it; it is recorded in metadata as ``"module:name"``.
    """

    sequence_length: float | None = None
    mutation_rate: float | None = None
    recombination_rate: float | None = None
    n_loci: int | None = None
    segregating_sites: int | None = None
    discrete_genome: bool = False
    mutation_model: str = "binary"
    keep_genotypes: bool | None = None
    transform: Any = None
    statistics: Any = None
    contig: Any = None

    def __post_init__(self):
        def positive_number(name, value, allow_zero=False):
            if value is None:
                return
            ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            ok = ok and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
            if not ok:
                expected = "a finite number >= 0" if allow_zero else "a positive finite number"
                raise ValueError(f"{name} must be {expected}; got {value!r}")

        positive_number("sequence_length", self.sequence_length)
        positive_number("mutation_rate", self.mutation_rate, allow_zero=True)
        positive_number("recombination_rate", self.recombination_rate, allow_zero=True)
        if self.n_loci is not None and (
            isinstance(self.n_loci, bool) or not isinstance(self.n_loci, (int, np.integer)) or self.n_loci < 1
        ):
            raise ValueError(f"n_loci must be an integer >= 1; got {self.n_loci!r}")
        if self.segregating_sites is not None and (
            isinstance(self.segregating_sites, bool)
            or not isinstance(self.segregating_sites, (int, np.integer))
            or self.segregating_sites < 0
        ):
            raise ValueError(f"segregating_sites must be None or an integer >= 0; got {self.segregating_sites!r}")
        for flag in ("discrete_genome", "keep_genotypes"):
            value = getattr(self, flag)
            if not (isinstance(value, (bool, np.bool_)) or (flag == "keep_genotypes" and value is None)):
                raise ValueError(f"{flag} must be True or False; got {value!r}")
        if self.statistics is not None and not callable(self.statistics):
            raise ValueError(f"statistics must be a function ReplicateRecord -> {{name: value}}; got {self.statistics!r}")
        if self.segregating_sites is not None and self.discrete_genome:
            raise ValueError("segregating_sites requires discrete_genome=False (infinite sites); got discrete_genome=True")
        if self.mutation_model not in MUTATION_MODELS:
            raise ValueError(f"mutation_model must be one of {sorted(MUTATION_MODELS)}; got {self.mutation_model!r}")
        if self.mutation_model == "jc69" and not self.discrete_genome:
            raise ValueError("mutation_model='jc69' (nucleotides) needs discrete_genome=True; got discrete_genome=False")
        if self.mutation_model != "binary" and self.segregating_sites is not None:
            raise ValueError("segregating_sites places 0/1 mutations on the genealogy; it cannot be combined with "
                             f"mutation_model={self.mutation_model!r}")
        if self.contig is not None:
            if not (hasattr(self.contig, "recombination_map") and hasattr(self.contig, "length")):
                raise ValueError(f"contig must be a popsim.sim.catalogue.Contig; got {self.contig!r}")
            if self.sequence_length is not None and self.sequence_length != self.contig.length:
                raise ValueError(f"sequence_length={self.sequence_length!r} disagrees with the contig's length "
                                 f"{self.contig.length:g}; give one or the other")
            if self.recombination_rate is not None and self.recombination_rate != self.contig.mean_recombination_rate:
                raise ValueError("recombination_rate is set by the contig's recombination map; give one or the other")
            object.__setattr__(self, "sequence_length", float(self.contig.length))
            object.__setattr__(self, "recombination_rate", self.contig.mean_recombination_rate)
            if self.mutation_rate is None:
                object.__setattr__(self, "mutation_rate", float(self.contig.mutation_rate))

    @property
    def resolved(self) -> bool:
        """True when nothing is left to the scenarios' defaults (what the workers need)."""
        return None not in (self.sequence_length, self.mutation_rate, self.recombination_rate, self.n_loci,
                            self.keep_genotypes)

    def resolve(self, scenarios: Sequence[Scenario], keep_genotypes: bool = True) -> "SimulationSettings":
        """These settings with every None filled: rates, length and loci from the scenarios' ``defaults``
        (which must agree for a setting that is not given), ``keep_genotypes`` from the argument."""
        values = {}
        for key in ("sequence_length", "mutation_rate", "recombination_rate", "n_loci"):
            if getattr(self, key) is not None:
                continue
            options = {s.defaults.get(key) for s in scenarios}
            if len(options) != 1 or None in options:
                raise ValueError(
                    f"{key} is not given and the scenarios' defaults disagree or lack it "
                    f"({sorted(map(str, options))}); expected an explicit SimulationSettings({key}=...)"
                )
            values[key] = options.pop()
        if self.keep_genotypes is None:
            values["keep_genotypes"] = bool(keep_genotypes)
        return replace(self, **values)

    def to_dict(self) -> dict:
        """JSON description of resolved settings (the transform as its own dict)."""
        if not self.resolved:
            raise ValueError("to_dict() describes resolved settings; call settings.resolve(scenarios) first")
        return {
            "sequence_length": float(self.sequence_length),
            "mutation_rate": float(self.mutation_rate),
            "recombination_rate": float(self.recombination_rate),
            "n_loci": int(self.n_loci),
            "segregating_sites": None if self.segregating_sites is None else int(self.segregating_sites),
            "discrete_genome": bool(self.discrete_genome),
            # recorded only when not the default, so datasets written before the option existed still resume
            **({} if self.mutation_model == "binary" else {"mutation_model": self.mutation_model}),
            "keep_genotypes": bool(self.keep_genotypes),
            "transform": None if self.transform is None else self.transform.to_dict(),
            "statistics": None if self.statistics is None else function_name(self.statistics),
            **({} if self.contig is None else {"contig": self.contig.to_dict()}),
        }


def function_name(function) -> str:
    """``"module:qualified_name"`` of a function, as recorded in metadata and accepted by the CLI; the
    ``repr`` for a callable object such as ``SummaryStatistics("t1")``."""
    if hasattr(function, "__qualname__"):
        return f"{function.__module__}:{function.__qualname__}"
    return repr(function)


@dataclass(frozen=True)
class SummaryStatistics:
    """Statistics hook computing ``popsim.features.stats.compute_statistics`` on each replicate in the workers.

    The replicate's loci are taken together (sites concatenated). ``per_bp=True`` divides the
    length-dependent statistics by the total length ``sequence_length × n_loci`` (bp); False gives totals
    per replicate. ``sfs_bins``, ``sfs_scale``: binning and scale of the spectra (``sfs_pop``, ``jsfs`` ...).

    ``data`` says which genotypes the statistics see:

    * ``"clean"`` (default): the simulated genotypes, no missing call;
    * ``"masked"``: every site, with the missing calls of the settings' image ``transform``
      (``GenotypeImage(missing_rate=...)``), drawn from the same seed: the image's SNPs carry exactly the
      image's mask, the other sites the same missing-data process (``GenotypeImage.observed_genotypes``);
    * ``"image"``: only the image's SNPs, with its mask — exactly the data the network sees.

    Statistics of complete sites (θ_H, haplotype statistics, spectra) then lose most sites;
    ``Simulation.statistics()`` warns once about columns left constant or NaN.

    >>> simulate(["mosquito_isolation", "mosquito_im"], 10, seed=1, settings=SimulationSettings(statistics=SummaryStatistics("t1")))
    """

    preset: str = "default"
    per_bp: bool = True
    data: str = "clean"
    sfs_bins: Any = None
    sfs_scale: str = "proportion"

    def __post_init__(self):
        if self.data not in ("clean", "masked", "image"):
            raise ValueError(f"SummaryStatistics data expected 'clean', 'masked' or 'image'; got {self.data!r}")

    def __repr__(self) -> str:
        # Recorded in dataset metadata and fingerprints: options at their defaults are left out, so datasets
        # written before they existed keep their fingerprint (and resume).
        extra = "".join(f", {name}={getattr(self, name)!r}" for name, default in
                        (("data", "clean"), ("sfs_bins", None), ("sfs_scale", "proportion"))
                        if getattr(self, name) != default)
        return f"SummaryStatistics(preset={self.preset!r}, per_bp={self.per_bp!r}{extra})"

    def __call__(self, record: "ReplicateRecord") -> dict:
        from popsim.features.stats import compute_statistics

        genotypes = record.genotypes
        if self.data != "clean":
            if record.transform is None:
                raise ValueError(f"SummaryStatistics(data={self.data!r}) needs the image transform of the "
                                 "simulation (SimulationSettings(transform=GenotypeImage(...))); the replicate has none")
            # The transform saw the loci laid end to end: locus i occupies [i·L, (i+1)·L) bp.
            genome_positions = record.positions + record.locus * float(record.sequence_length)
            genotypes = record.transform.observed_genotypes(
                genotypes, genome_positions, sequence_length=record.sequence_length * record.n_loci,
                seed=int(record.seeds[3]), centre=record.centre, sites="all" if self.data == "masked" else "image")
        length = record.sequence_length * record.n_loci if self.per_bp else None
        # The locus of each site, for the statistics that compare haplotypes within a locus; the image's own
        # selection of sites (data="image") keeps no such map, and those statistics then see one locus.
        loci = record.locus if len(genotypes) == len(record.locus) else None
        return compute_statistics(genotypes, length, record.populations, self.preset, self.sfs_bins, self.sfs_scale,
                                  loci=loci)


def import_function(name: str):
    """The function named ``"module:qualified_name"`` (inverse of ``function_name``)."""
    import importlib

    module_name, _, attribute = name.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"function name {name!r} must look like 'package.module:function'")
    target = importlib.import_module(module_name)
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ValueError(f"function name {name!r}: module {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"function name {name!r} does not name a function")
    return target


@dataclass
class ReplicateRecord:
    """Raw data of one replicate, as given to a ``statistics`` function and yielded by
    ``Dataset.iter_replicates``.

    genotypes : (sites, haplotypes) int8 0/1, loci concatenated; positions : (sites,) float64 bp within the
    locus; locus : (sites,) int32 locus index of each site; populations : population name of each haplotype;
    sequence_length : bp per locus; n_loci : loci per replicate.
    """

    index: int
    label: int
    scenario: str
    params: dict
    seeds: np.ndarray
    genotypes: np.ndarray
    positions: np.ndarray
    locus: np.ndarray
    populations: list
    sequence_length: float
    n_loci: int
    transform: Any = None
    centre: float | None = None


@dataclass
class ReplicateTask:
    """What a worker needs for one replicate (built in the main process, pickled to the worker)."""

    index: int  # position in the plan (row of the output)
    label: int
    replicate_index: int  # r within its scenario
    params: dict
    seeds: np.ndarray  # (4,) uint32
    demography: msprime.Demography
    samples: dict  # {population: diploid individuals}
    populations: list  # population name of each haplotype
    scenario_name: str = ""
    sweep: Any = None  # popsim.sim.sweeps.Sweep of a sweep scenario


@dataclass
class Replicate:
    """One simulated replicate.

    Attributes
    ----------
    index : row in the plan; label : position of its scenario (the class); replicate_index : r.
    params : ``{name: value}`` drawn from the priors.
    seeds : ``(4,)`` uint32, see module docstring.
    genotypes : ``(sites, haplotypes)`` int8 0/1, loci concatenated, or None if not kept.
    positions : ``(sites,)`` float64, bp within the locus; locus : ``(sites,)`` int32 locus index.
    sites_per_locus : ``(n_loci,)`` int32 segregating sites of each locus.
    image : ``(rows, n_snps, 1)`` int8 genotype channel of the image, or None.
    snp_distance : ``(n_snps,)`` float32 distance channel, or None.
    statistics : ``{name: value}`` from the settings' ``statistics`` function, or None.
    """

    index: int
    label: int
    replicate_index: int
    params: dict
    seeds: np.ndarray
    genotypes: np.ndarray | None
    positions: np.ndarray | None
    locus: np.ndarray | None
    sites_per_locus: np.ndarray
    image: np.ndarray | None = None
    snp_distance: np.ndarray | None = None
    statistics: dict | None = None

    @property
    def n_sites(self) -> int:
        return int(self.sites_per_locus.sum())


def _seeds_for_loci(seed: int, n_loci: int) -> np.ndarray:
    """Per-locus seeds (1..2**32-1) derived from one replicate-level seed."""
    raw = np.random.SeedSequence(int(seed)).generate_state(n_loci, dtype=np.uint64)
    return (raw % np.uint64(MAX_SEED) + np.uint64(1)).astype(np.uint32)


def place_segregating_sites(ts: tskit.TreeSequence, n_sites: int, rng: np.random.Generator) -> tskit.TreeSequence:
    """Put exactly ``n_sites`` mutations on a genealogy, in proportion to branch length (as ``ms -s``).

    Each edge of the tree sequence is a branch (child -> parent) over a stretch of sequence [left, right).
    Its "area" — branch length in generations × span in bp — is proportional to the expected number of
    mutations it carries. We pick ``n_sites`` edges with probability proportional to area, a position
    uniformly within each chosen edge's span, and mark the child's descendants as carrying the derived
    allele. Positions are continuous, so every site is distinct and segregating.

    Parameters
    ----------
    ts : tree sequence without mutations.
    n_sites : number of segregating sites wanted (>= 0).
    rng : seeded ``numpy.random.Generator``.

    Returns
    -------
    A tree sequence with ``n_sites`` biallelic sites (ancestral "0", derived "1").
    """
    tables = ts.dump_tables()
    tables.sites.clear()
    tables.mutations.clear()
    if n_sites > 0:
        edges = tables.edges
        node_time = tables.nodes.time
        # Expected mutations on an edge ∝ its branch length (generations) × its span (bp).
        area = (node_time[edges.parent] - node_time[edges.child]) * (edges.right - edges.left)
        chosen = rng.choice(len(area), size=n_sites, p=area / area.sum())
        positions = rng.uniform(edges.left[chosen], edges.right[chosen])
        # Sites must be sorted by position; mutation i sits at site i, on the chosen edge's child node.
        order = np.argsort(positions, kind="stable")
        ancestral, ancestral_offset = tskit.pack_strings(["0"] * n_sites)
        derived, derived_offset = tskit.pack_strings(["1"] * n_sites)
        tables.sites.set_columns(
            position=positions[order], ancestral_state=ancestral, ancestral_state_offset=ancestral_offset
        )
        tables.mutations.set_columns(
            site=np.arange(n_sites, dtype=np.int32),
            node=edges.child[chosen[order]],
            derived_state=derived,
            derived_state_offset=derived_offset,
            parent=np.full(n_sites, tskit.NULL, dtype=np.int32),
            time=np.full(n_sites, tskit.UNKNOWN_TIME),
        )
    return tables.tree_sequence()


def _locus_genotypes(ts: tskit.TreeSequence) -> tuple[np.ndarray, np.ndarray]:
    """Genotype matrix (sites, haplotypes) int8 and positions (bp) of the segregating sites of one locus."""
    genotypes = ts.genotype_matrix().astype(np.int8, copy=False)
    # Under a nucleotide model a site may hold alleles 2 and 3: every non-ancestral allele counts as derived.
    np.minimum(genotypes, 1, out=genotypes)
    positions = ts.sites_position  # (ts.tables would copy every table)
    # Keep only sites where both alleles are present among the sampled haplotypes (as real data are filtered).
    segregating = segregating_sites(genotypes)
    return genotypes[segregating], positions[segregating].astype(np.float64)


def simulate_replicate(task: ReplicateTask, settings: SimulationSettings) -> Replicate:
    """Simulate one replicate (all its loci) and, if asked, its genotype image. Runs in a worker."""
    seeds = task.seeds
    # One sim_ancestry call for all loci: msprime draws the loci as independent replicates from one seed.
    ancestries = msprime.sim_ancestry(
        samples=task.samples,
        demography=task.demography,
        sequence_length=settings.sequence_length,
        recombination_rate=settings.recombination_rate if settings.contig is None else settings.contig.recombination_map,
        ploidy=2,
        model=None if task.sweep is None else task.sweep.models(task.params, settings.sequence_length, task.demography),
        random_seed=int(seeds[1]),
        num_replicates=settings.n_loci,
        record_provenance=False,  # provenance JSON costs ~1 ms per call and is not stored anyway
    )
    locus_seeds = _seeds_for_loci(seeds[2], settings.n_loci)
    genotype_blocks, position_blocks, sites_per_locus = [], [], []
    for locus, ts in enumerate(ancestries):
        if settings.segregating_sites is not None:
            ts = place_segregating_sites(ts, settings.segregating_sites, np.random.default_rng(locus_seeds[locus]))
        else:
            ts = msprime.sim_mutations(
                ts,
                rate=settings.mutation_rate,
                model=MUTATION_MODELS[settings.mutation_model](),
                discrete_genome=settings.discrete_genome,
                random_seed=int(locus_seeds[locus]),
                record_provenance=False,
            )
        genotypes, positions = _locus_genotypes(ts)
        genotype_blocks.append(genotypes)
        position_blocks.append(positions)
        sites_per_locus.append(len(positions))
    genotypes = np.concatenate(genotype_blocks, axis=0)
    positions = np.concatenate(position_blocks)
    sites_per_locus = np.asarray(sites_per_locus, dtype=np.int32)
    locus = np.repeat(np.arange(settings.n_loci, dtype=np.int32), sites_per_locus)

    image = snp_distance = centre = None
    if settings.transform is not None:
        # Loci are laid end to end for the image: locus i occupies [i·L, (i+1)·L) bp.
        genome_positions = positions + locus * float(settings.sequence_length)
        # A "centre" window is centred on the selected site of a sweep (in the first locus).
        centre = None if task.sweep is None else task.sweep.position_bp(task.params, settings.sequence_length)
        image, snp_distance = settings.transform.encode(
            genotypes,
            genome_positions,
            task.populations,
            sequence_length=settings.sequence_length * settings.n_loci,
            seed=int(seeds[3]),
            centre=centre,
        )
    statistics = None
    if settings.statistics is not None:
        record = ReplicateRecord(
            index=task.index,
            label=task.label,
            scenario=task.scenario_name,
            params=task.params,
            seeds=task.seeds,
            genotypes=genotypes,
            positions=positions,
            locus=locus,
            populations=list(task.populations),
            sequence_length=float(settings.sequence_length),
            n_loci=int(settings.n_loci),
            transform=settings.transform,
            centre=centre,
        )
        statistics = {str(k): float(v) for k, v in settings.statistics(record).items()}
    keep = settings.keep_genotypes
    return Replicate(
        index=task.index,
        label=task.label,
        replicate_index=task.replicate_index,
        params=task.params,
        seeds=task.seeds,
        genotypes=genotypes if keep else None,
        positions=positions if keep else None,
        locus=locus if keep else None,
        sites_per_locus=sites_per_locus,
        image=image,
        snp_distance=snp_distance,
        statistics=statistics,
    )


def simulate_batch(tasks: Sequence[ReplicateTask], settings: SimulationSettings) -> list[Replicate]:
    """Simulate several replicates in one worker call (fewer round trips for cheap replicates)."""
    return [simulate_replicate(task, settings) for task in tasks]


class Interleaving:
    """Which (label, replicate) sits at each row of a plan, computed, never listed.

    Round r holds replicate r of every scenario with more than r replicates, in label order. Rows are found
    arithmetically from the per-scenario counts (a few segments, one per distinct count), so a plan of
    10**8 replicates costs no more memory than one of 10.
    """

    def __init__(self, counts: Sequence[int]):
        self.counts = [int(c) for c in counts]
        starts, first_rounds, actives = [], [], []
        row = previous = 0
        for threshold in sorted(set(c for c in self.counts if c > 0)):
            active = np.array([k for k, c in enumerate(self.counts) if c >= threshold], dtype=np.int64)
            starts.append(row)
            first_rounds.append(previous)
            actives.append(active)
            row += (threshold - previous) * len(active)
            previous = threshold
        self._starts = np.array(starts, dtype=np.int64)
        self._first_rounds = np.array(first_rounds, dtype=np.int64)
        self._actives = actives
        self.total = row

    def __len__(self) -> int:
        return self.total

    def locate(self, rows) -> tuple[np.ndarray, np.ndarray]:
        """``(labels, replicate_indices)`` of ``rows`` (an int or an array of ints in 0..len-1)."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.total):
            raise IndexError(f"plan rows must lie in 0..{self.total - 1}; got values from {rows.min()} to {rows.max()}")
        segment = np.searchsorted(self._starts, rows, side="right") - 1
        labels = np.empty(rows.shape, dtype=np.int64)
        replicate = np.empty(rows.shape, dtype=np.int64)
        for s in np.unique(segment):
            mask = segment == s
            offset = rows[mask] - self._starts[s]
            width = len(self._actives[s])
            labels[mask] = self._actives[s][offset % width]
            replicate[mask] = self._first_rounds[s] + offset // width
        return labels, replicate


class Plan:
    """The ordered replicates to simulate, and how to build each one's task — generated lazily.

    Replicates of the scenarios are interleaved (round r holds replicate r of every scenario that has
    at least r+1 replicates), so any contiguous slice — a chunk on disk, a train/test split — holds the
    scenarios in equal proportions. Nothing is listed up front: a row's label, replicate number and seeds
    are computed when asked for (:meth:`label_of`, :meth:`seeds_of`, :meth:`task`), so building the plan
    of ``--n 10**8`` takes constant time and memory. The whole-plan arrays :attr:`labels`,
    :attr:`replicate_index` and :attr:`seeds` are built on demand (O(n); for in-memory use).

    Parameters
    ----------
    scenarios : list of ``Scenario`` or built-in names; position k is label k.
    n : replicates per scenario, an int or a list with one int per scenario.
    seed : master seed (integer >= 0).
    """

    def __init__(self, scenarios: Sequence[Scenario | str] | Scenario | str, n: int | Sequence[int], seed: int):
        if isinstance(scenarios, (str, Scenario)):
            scenarios = [scenarios]
        self.scenarios = [get_scenario(s) for s in scenarios]
        if not self.scenarios:
            raise ValueError("scenarios is empty; expected at least one scenario")
        names = [s.name for s in self.scenarios]
        if len(set(names)) != len(names):
            raise ValueError(f"scenarios {names} contain a duplicate name; expected distinct scenarios")
        counts = [n] * len(self.scenarios) if isinstance(n, (int, np.integer)) else list(n)
        if len(counts) != len(self.scenarios) or any(
            isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 0 for c in counts
        ):
            raise ValueError(
                f"n={n!r} is not valid for {len(self.scenarios)} scenarios; "
                "expected an integer >= 0 or one such integer per scenario"
            )
        self.n = [int(c) for c in counts]
        self.seed = _check_master_seed(seed)
        self.interleaving = Interleaving(self.n)
        # Parameter names over all scenarios, in first-seen order: the columns of the parameter table.
        self.parameter_names: list[str] = []
        for scenario in self.scenarios:
            self.parameter_names += [p for p in scenario.parameter_names if p not in self.parameter_names]

    def __len__(self) -> int:
        return len(self.interleaving)

    def label_of(self, index: int) -> tuple[int, int]:
        """``(label, replicate_index)`` of plan row ``index``."""
        labels, replicate = self.interleaving.locate(int(index))
        return int(labels), int(replicate)

    def seeds_of(self, index: int) -> np.ndarray:
        """The four seeds of plan row ``index`` (``derive_seeds(seed, label, replicate_index)``)."""
        return derive_seeds(self.seed, *self.label_of(index))

    @property
    def labels(self) -> np.ndarray:
        """(n,) int64 label of every row (built on demand)."""
        return self.interleaving.locate(np.arange(len(self)))[0]

    @property
    def replicate_index(self) -> np.ndarray:
        """(n,) int64 replicate number within its scenario of every row (built on demand)."""
        return self.interleaving.locate(np.arange(len(self)))[1]

    @property
    def seeds(self) -> np.ndarray:
        """(n, 4) uint32 seeds of every row (built on demand)."""
        labels, replicate = self.interleaving.locate(np.arange(len(self)))
        if not len(labels):
            return np.zeros((0, N_SEEDS), dtype=np.uint32)
        return np.stack([derive_seeds(self.seed, k, r) for k, r in zip(labels, replicate)])

    def params(self, index: int) -> dict:
        """Parameters of replicate ``index``, drawn from its scenario's priors with its parameter seed."""
        label, _ = self.label_of(index)
        return self.scenarios[label].sample_params(np.random.default_rng(int(self.seeds_of(index)[0])))

    def task(self, index: int) -> ReplicateTask:
        label, replicate_index = self.label_of(index)
        seeds = derive_seeds(self.seed, label, replicate_index)
        scenario = self.scenarios[label]
        params = scenario.sample_params(np.random.default_rng(int(seeds[0])))
        return ReplicateTask(
            index=int(index),
            label=label,
            replicate_index=replicate_index,
            params=params,
            seeds=seeds,
            demography=scenario.demography(params),
            samples=dict(scenario.samples),
            populations=scenario.haplotype_populations(),
            scenario_name=scenario.name,
            sweep=scenario.sweep,
        )

    def params_table(self, indices: Iterable[int], params: Sequence[Mapping[str, float]]) -> np.ndarray:
        """Parameters as a float64 table (len(indices), n_parameters); NaN where a scenario lacks one."""
        return params_table(self.parameter_names, params)


def params_table(parameter_names: Sequence[str], params: Sequence[Mapping[str, float]]) -> np.ndarray:
    """Parameters as a float64 table (len(params), len(parameter_names)); NaN where a replicate lacks one."""
    table = np.full((len(params), len(parameter_names)), np.nan)
    for row, p in enumerate(params):
        for column, name in enumerate(parameter_names):
            if name in p:
                table[row, column] = p[name]
    return table


def _batches(indices: Iterable[int], batch_size: int) -> Iterator[list[int]]:
    """Consecutive lists of ``batch_size`` indices, generated as consumed (never the whole plan at once)."""
    iterator = iter(indices)
    while True:
        batch = [int(i) for i in itertools.islice(iterator, batch_size)]
        if not batch:
            return
        yield batch


def _die_with_parent(parent_pid: int) -> None:
    """Worker initializer: end this worker when the process that started the pool is gone.

    On Linux the kernel sends SIGKILL when the parent dies (``PR_SET_PDEATHSIG``); everywhere, a daemon
    thread checks the parent every 0.2 s and exits if it has vanished (covers the forkserver/spawn start
    methods, where the kernel parent is not the pool's owner). So killing ``popsim simulate`` — SIGKILL
    included — never leaves workers running.
    """
    import threading
    import time

    if os.getppid() == parent_pid:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, 9)  # PR_SET_PDEATHSIG = 1, SIGKILL = 9
        except (OSError, AttributeError):
            pass
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    def watch():
        while True:
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass
            time.sleep(0.2)

    threading.Thread(target=watch, daemon=True, name="popsim-parent-watch").start()


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A ``ProcessPoolExecutor`` of ``workers`` processes that die with this process (see ``_die_with_parent``)."""
    return ProcessPoolExecutor(max_workers=workers, initializer=_die_with_parent, initargs=(os.getpid(),))


def stop_pool(pool: ProcessPoolExecutor, terminate: bool) -> None:
    """Shut ``pool`` down; ``terminate`` (after an error or interruption) ends running workers at once."""
    if terminate:
        for process in list(getattr(pool, "_processes", {}).values() or []):
            if process.is_alive():
                process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def bounded_results(executor, calls: Iterable[tuple], window: int, ordered: bool = True) -> Iterator:
    """Run ``fn(*args)`` for each ``(fn, *args)`` of ``calls`` on ``executor``, at most ``window`` at a time,
    and yield the results: oldest first (``ordered``) or as they finish. ``calls`` is consumed lazily, so a
    plan of 10⁸ tasks is never listed. Any object with ``submit`` works (a process pool, a dask executor)."""
    calls, pending = iter(calls), []
    while True:
        pending.extend(executor.submit(*call) for call in itertools.islice(calls, window - len(pending)))
        if not pending:
            return
        future = pending[0]
        if not ordered:
            if all(isinstance(f, concurrent.futures.Future) for f in pending):
                done, _ = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
                future = next(f for f in pending if f in done)
            else:
                future = next((f for f in pending if f.done()), pending[0])
        pending.remove(future)
        yield future.result()


def run_plan(
    plan: Plan,
    settings: SimulationSettings,
    indices: Sequence[int] | None = None,
    executor: Executor | None = None,
    workers: int = 1,
    batch_size: int | None = None,
    progress: bool = True,
    description: str = "simulating",
) -> Iterator[Replicate]:
    """Yield the replicates ``indices`` of ``plan`` (all by default) **in order**, simulated in parallel.

    Parameters
    ----------
    executor : any object with ``submit(fn, *args) -> future``; None = in-process when ``workers == 1``,
        else a ``ProcessPoolExecutor(workers)`` created and shut down here.
    workers : number of worker processes when no executor is given (also sizes the work queue).
    batch_size : replicates per submitted task; default keeps ~4 tasks per worker in flight.
    progress : show a tqdm progress bar.
    """
    from minidl.progress import progress_bar as tqdm

    if not settings.resolved:
        raise ValueError("run_plan needs resolved settings: settings.resolve(plan.scenarios)")
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1; got {workers!r}")
    indices = range(len(plan)) if indices is None else indices
    total = len(indices) if hasattr(indices, "__len__") else None
    if batch_size is None:
        # Enough batches to balance the load, few enough that each carries work worth a round trip.
        batch_size = 16 if total is None else max(1, min(16, math.ceil(total / (8 * workers))))
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1; got {batch_size!r}")
    batches = _batches(indices, int(batch_size))
    bar = tqdm(total=total, desc=description, unit="rep", disable=not progress, leave=False)
    own_executor = None
    failed = True
    try:
        if executor is None and workers == 1:
            # In-process: no pickling, no pool start-up; the reference path.
            for batch in batches:
                for replicate in simulate_batch([plan.task(i) for i in batch], settings):
                    bar.update(1)
                    yield replicate
            failed = False
            return
        if executor is None:
            own_executor = executor = process_pool(workers)
        # A bounded window of batches in flight keeps every worker busy without queueing the whole plan;
        # the oldest batch is collected first, so replicates come out in plan order.
        calls = ((simulate_batch, [plan.task(i) for i in batch], settings) for batch in batches)
        for result in bounded_results(executor, calls, window=2 * workers + 2, ordered=True):
            for replicate in result:
                bar.update(1)
                yield replicate
        failed = False
    finally:
        bar.close()
        if own_executor is not None:
            stop_pool(own_executor, terminate=failed)


@dataclass
class Simulation:
    """In-memory result of ``simulate``.

    Attributes
    ----------
    scenarios : the scenarios, label k = scenarios[k].
    settings : the ``SimulationSettings`` used.
    seed : master seed.
    replicates : list of ``Replicate`` in plan order.
    labels : (n,) int64 scenario index; seeds : (n, 4) uint32; params : (n, n_parameters) float64 with NaN
        where a scenario lacks the parameter; parameter_names : the columns of ``params``.
    """

    scenarios: list
    settings: SimulationSettings
    seed: int
    replicates: list
    labels: np.ndarray
    seeds: np.ndarray
    params: np.ndarray
    parameter_names: list = field(default_factory=list)

    def statistics(self) -> tuple[list[str], np.ndarray]:
        """``(names, values)``: the statistics of every replicate, values (n, n_statistics) float64.

        Warns once (``DegenerateStatisticWarning``) about columns constant or NaN in every replicate, with
        the reason (e.g. θ_H needs complete sites and the transform's missing data leave none)."""
        from popsim.features.stats import warn_degenerate

        if self.settings.statistics is None:
            raise ValueError("statistics() needs SimulationSettings(statistics=function); statistics was None")
        names, values = statistics_table(self.replicates)
        data = getattr(self.settings.statistics, "data", None)
        transform = self.settings.transform
        # Simulated genotypes have no missing call; masked ones the transform's rate (None: unknown hook).
        missing = {"clean": 0.0}.get(data, None if transform is None or data is None else transform.missing_rate)
        warn_degenerate(names, values, missing, what="simulation statistics")
        return names, values

    def images(self) -> np.ndarray:
        """Stacked float32 images ``(n, rows, n_snps, channels)`` (requires a transform)."""
        if self.settings.transform is None:
            raise ValueError("images() needs SimulationSettings(transform=GenotypeImage(...)); transform was None")
        return np.stack([self.settings.transform.assemble(r.image, r.snp_distance) for r in self.replicates])


def statistics_table(replicates: Sequence[Replicate]) -> tuple[list[str], np.ndarray]:
    """Names (from the first replicate) and a float64 table (replicates, statistics); every replicate must
    return the same names."""
    names = list(replicates[0].statistics) if replicates else []
    for replicate in replicates:
        if list(replicate.statistics) != names:
            raise ValueError(
                f"the statistics function returned names {list(replicate.statistics)} for replicate "
                f"{replicate.index}; expected the same names for every replicate: {names}"
            )
    values = np.array([[r.statistics[name] for name in names] for r in replicates], dtype=np.float64)
    return names, values.reshape(len(replicates), len(names))


def simulate(
    scenarios: Sequence[Scenario | str] | Scenario | str,
    n: int | Sequence[int],
    seed: int,
    settings: SimulationSettings | None = None,
    *,
    executor: Executor | None = None,
    workers: int = 1,
    batch_size: int | None = None,
    progress: bool = False,
) -> Simulation:
    """Simulate ``n`` replicates of each scenario, reproducibly from one master ``seed``, in memory.

    Parameters
    ----------
    scenarios : a scenario, a built-in name, or a list of them (label = position in the list).
    n : replicates per scenario (int, or one int per scenario).
    seed : master seed; see the module docstring for how replicate seeds derive from it.
    settings : a :class:`SimulationSettings` (None = the scenarios' defaults). Raw genotypes are kept
        unless ``keep_genotypes=False``; everything stays in memory (a T1 mosquito replicate is ~7,000
        sites × 280 haplotypes ≈ 2 MB): for thousands of replicates use ``popsim.sim.dataset.simulate_dataset``,
        which writes chunks to disk.
    executor, workers, batch_size, progress : see ``run_plan``.

    Returns
    -------
    ``Simulation`` with replicates in plan order (scenarios interleaved).
    """
    plan = Plan(scenarios, n, seed)
    settings = check_settings(settings).resolve(plan.scenarios, keep_genotypes=True)
    replicates = list(run_plan(plan, settings, None, executor, workers, batch_size, progress))
    params = plan.params_table(range(len(plan)), [r.params for r in replicates])
    return Simulation(plan.scenarios, settings, plan.seed, replicates, plan.labels.copy(), plan.seeds.copy(),
                      params, list(plan.parameter_names))


def check_settings(settings) -> SimulationSettings:
    """``settings`` checked: a SimulationSettings, or None for the scenarios' defaults."""
    if settings is None:
        return SimulationSettings()
    if not isinstance(settings, SimulationSettings):
        raise TypeError(f"settings expected a popsim.sim.simulate.SimulationSettings (or None); got "
                        f"{type(settings).__name__} {settings!r}")
    return settings


def available_workers() -> int:
    """CPU cores this process may use (for a default ``--workers``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
