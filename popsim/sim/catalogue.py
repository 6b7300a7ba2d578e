"""The stdpopsim catalogue as a source of scenarios (with priors) and of contigs (simulation settings).

    >>> scenario = Scenario.from_stdpopsim("AnoGam", "GabonAg1000G_1A17", {"GAS": 10},
    ...                                    priors={"N_GAS": LogUniform(1e6, 1e7)})
    >>> contig = Contig.from_stdpopsim("AnoGam", "2L", left=1_000_000, right=1_100_000)
    >>> simulate([scenario], 10, seed=1, settings=SimulationSettings(contig=contig))

Parameters a prior may replace, named after the model's own populations or by demes paths (the model
as the demes graph ``model.model.to_demes()`` shows it; epochs run from the oldest to the most recent):

* ``N_<pop>``: the population's present size (its most recent epoch; both ends if that epoch is constant),
* ``T_<pop>``: the population's start time (the split from its ancestors), in generations,
* ``<pop>.epochs[i].start_size`` / ``.end_size`` / ``.end_time`` (a constant epoch's two sizes move together),
* ``migrations[i].rate`` / ``.start_time`` / ``.end_time``, ``pulses[i].time`` / ``pulses[i].proportions[j]``.

Catalogue scenarios never need the network. Genetic maps do (stdpopsim downloads them): a contig asking for
a map that is not in stdpopsim's cache gets the chromosome's uniform recombination rate instead, with a
warning saying so and how to download the map.

stdpopsim is an optional dependency: ``pip install "minidl-popsim[catalogue]"``.
"""

from __future__ import annotations

import copy
import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping

import msprime
import numpy as np

__all__ = ["Contig", "scenario_from_stdpopsim", "catalogue", "GeneticMapUnavailable", "model_parameters"]


class GeneticMapUnavailable(UserWarning):
    """A genetic map needs a download: the contig uses the uniform rate instead."""


def _stdpopsim():
    try:
        import stdpopsim
    except ImportError:
        raise ImportError("the stdpopsim catalogue needs the stdpopsim package: pip install 'minidl-popsim[catalogue]' "
                          "(or pip install stdpopsim)") from None
    return stdpopsim


def _species(species_id: str):
    stdpopsim = _stdpopsim()
    ids = [s.id for s in stdpopsim.all_species()]
    if species_id not in ids:
        raise ValueError(f"stdpopsim species {species_id!r} is unknown; expected one of {ids}")
    return stdpopsim.get_species(species_id)


def _model(species, model_id: str):
    ids = [m.id for m in species.demographic_models]
    if model_id not in ids:
        raise ValueError(f"stdpopsim species {species.id!r} has no demographic model {model_id!r}; expected one of {ids}")
    return species.get_demographic_model(model_id)


# -- parameters of a catalogue model -----------------------------------------------------------------------
_PATH = re.compile(r"^(?P<head>[A-Za-z_][\w]*)(?:\[(?P<i>\d+)\])?(?:\.(?P<rest>.+))?$")


def _locate(graph: dict, name: str) -> list[tuple[dict, str]]:
    """The (container, key) pairs of the demes dict a parameter name sets."""
    demes_by_name = {d["name"]: d for d in graph["demes"]}
    match = re.fullmatch(r"([NT])_(.+)", name)
    if match and match.group(2) in demes_by_name:
        deme = demes_by_name[match.group(2)]
        if match.group(1) == "T":
            if not math.isfinite(deme.get("start_time", math.inf)):
                raise ValueError(f"parameter {name!r}: population {match.group(2)!r} has no finite start time "
                                 "(it has no ancestors)")
            return [(deme, "start_time")]
        epoch = deme["epochs"][-1]
        return _size_targets(epoch, "start_size", both=True)
    parts = name.split(".")
    head = _PATH.match(parts[0])
    if head is None:
        raise ValueError(f"parameter {name!r} is not a name of this model")
    if head.group("head") in demes_by_name and len(parts) == 3:
        deme = demes_by_name[head.group("head")]
        epoch_part = _PATH.match(parts[1])
        if epoch_part and epoch_part.group("head") == "epochs" and epoch_part.group("i") is not None:
            i = int(epoch_part.group("i"))
            if i >= len(deme["epochs"]):
                raise ValueError(f"parameter {name!r}: {head.group('head')!r} has {len(deme['epochs'])} epochs")
            epoch = deme["epochs"][i]
            if parts[2] in ("start_size", "end_size"):
                return _size_targets(epoch, parts[2])
            if parts[2] == "end_time":
                return [(epoch, "end_time")]
    if head.group("head") in ("migrations", "pulses") and head.group("i") is not None and len(parts) == 2:
        items = graph.get(head.group("head"), [])
        i = int(head.group("i"))
        if i >= len(items):
            raise ValueError(f"parameter {name!r}: the model has {len(items)} {head.group('head')}")
        key = _PATH.match(parts[1])
        if key and key.group("head") in ("rate", "start_time", "end_time", "time") and key.group("i") is None:
            return [(items[i], key.group("head"))]
        if key and key.group("head") == "proportions" and key.group("i") is not None:
            return [(items[i]["proportions"], int(key.group("i")))]
    raise ValueError(f"parameter {name!r} is not a name of this model; expected N_<pop>, T_<pop> or a demes path "
                     f"such as {graph['demes'][0]['name']}.epochs[0].start_size (see popsim.sim.catalogue)")


def _size_targets(epoch: dict, key: str, both: bool = False) -> list[tuple[dict, str]]:
    constant = epoch.get("size_function", "constant") == "constant" or epoch["start_size"] == epoch["end_size"]
    if constant or both:
        return [(epoch, "start_size"), (epoch, "end_size")] if constant else [(epoch, "end_size")]
    return [(epoch, key)]


def model_parameters(species: str, model: str) -> dict[str, float]:
    """The ``N_<pop>`` and ``T_<pop>`` names of a catalogue model with their values (demes paths also work)."""
    graph = _model(_species(species), model).model.to_demes().asdict()
    out = {}
    for deme in graph["demes"]:
        out[f"N_{deme['name']}"] = float(deme["epochs"][-1]["end_size"])
        if math.isfinite(deme.get("start_time", math.inf)):
            out[f"T_{deme['name']}"] = float(deme["start_time"])
    return out


def scenario_from_stdpopsim(species: str, model: str, samples: Mapping[str, int], priors: Mapping | None = None,
                            name: str | None = None):
    """A ``Scenario`` of a stdpopsim catalogue model whose priors replace chosen model parameters."""
    import demes

    from popsim.sim.scenarios import Scenario

    species_obj = _species(species)
    model_obj = _model(species_obj, model)
    priors = dict(priors or {})
    base = model_obj.model.to_demes().asdict()
    for parameter in priors:  # every name must be one of the model's, checked now
        _locate(copy.deepcopy(base), parameter)
    original = model_obj.model

    def build(params: Mapping[str, float]) -> msprime.Demography:
        if not params:
            return copy.deepcopy(original)
        graph = copy.deepcopy(base)
        for parameter, value in params.items():
            for container, key in _locate(graph, parameter):
                container[key] = float(value)
        try:
            resolved = demes.Graph.fromdict(graph)
        except Exception as error:  # demes names the inconsistency (e.g. an epoch ending before the next one)
            raise ValueError(f"stdpopsim {species}/{model} with {dict(params)}: {error}") from None
        return msprime.Demography.from_demes(resolved)

    mutation_rate = model_obj.mutation_rate or species_obj.genome.mean_mutation_rate
    defaults = {"sequence_length": 10_000, "mutation_rate": float(mutation_rate),
                "recombination_rate": float(species_obj.genome.mean_recombination_rate), "n_loci": 1}
    description = f"stdpopsim {species}/{model}: {model_obj.description} (generation time {model_obj.generation_time:g} y)"
    return Scenario(name or f"{species}/{model}", samples, priors, build, description, defaults)


# -- contigs -----------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Contig:
    """A stretch of a genome as simulation settings: its length (bp), mutation rate and recombination map
    (``msprime.RateMap`` over ``[0, length)``). Made from the catalogue with :meth:`from_stdpopsim`."""

    length: float
    mutation_rate: float
    recombination_map: msprime.RateMap
    name: str = ""
    genetic_map: str | None = None  # the stdpopsim map used, or None for the uniform rate
    note: str = field(default="")

    def __post_init__(self):
        if not (self.length > 0 and math.isfinite(self.length)):
            raise ValueError(f"Contig length must be a positive number of bp; got {self.length!r}")
        if not (self.mutation_rate >= 0 and math.isfinite(self.mutation_rate)):
            raise ValueError(f"Contig mutation_rate must be >= 0; got {self.mutation_rate!r}")
        if self.recombination_map.sequence_length != self.length:
            raise ValueError(f"Contig recombination map covers {self.recombination_map.sequence_length:g} bp; "
                             f"expected the contig length {self.length:g}")

    @property
    def mean_recombination_rate(self) -> float:
        return float(self.recombination_map.mean_rate)

    @classmethod
    def uniform(cls, length: float, mutation_rate: float, recombination_rate: float, name: str = "") -> "Contig":
        return cls(float(length), float(mutation_rate), msprime.RateMap.uniform(float(length), float(recombination_rate)),
                   name)

    @classmethod
    def from_stdpopsim(cls, species: str, chromosome: str, left: float | None = None, right: float | None = None,
                       genetic_map: str | None = None) -> "Contig":
        """Chromosome ``chromosome`` of ``species`` (or its slice ``[left, right)`` bp, shifted to start at 0):
        the chromosome's mutation rate and recombination rate, or ``genetic_map`` if stdpopsim has it in its
        cache (maps are downloaded; without the download, a ``GeneticMapUnavailable`` warning and the uniform
        rate)."""
        species_obj = _species(species)
        ids = [c.id for c in species_obj.genome.chromosomes]
        if chromosome not in ids:
            raise ValueError(f"stdpopsim species {species!r} has no chromosome {chromosome!r}; expected one of {ids}")
        chrom = species_obj.genome.get_chromosome(chromosome)
        left = 0.0 if left is None else float(left)
        right = float(chrom.length) if right is None else float(right)
        if not 0 <= left < right <= chrom.length:
            raise ValueError(f"contig slice [{left:g}, {right:g}) must lie within {species} {chromosome} "
                             f"[0, {chrom.length:g}) with left < right")
        used_map, note = None, ""
        rate_map = msprime.RateMap.uniform(float(chrom.length), float(chrom.recombination_rate))
        if genetic_map is not None:
            maps = [g.id for g in species_obj.genetic_maps]
            if genetic_map not in maps:
                raise ValueError(f"stdpopsim species {species!r} has no genetic map {genetic_map!r}; expected one "
                                 f"of {maps} (or genetic_map=None for the chromosome's uniform rate)")
            gm = species_obj.get_genetic_map(genetic_map)
            if gm.is_cached():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # stdpopsim's own notes about missing map data
                    rate_map = species_obj.get_contig(chromosome, genetic_map=genetic_map).recombination_map
                used_map = genetic_map
            else:
                note = (f"genetic map {genetic_map!r} of {species} is not in stdpopsim's cache "
                        f"({_stdpopsim().get_cache_dir()}) and needs a download; using the uniform rate "
                        f"{chrom.recombination_rate:g} per bp per generation of {chromosome} instead. To use the map, "
                        f"download it once with network access: python -c \"import stdpopsim; "
                        f"stdpopsim.get_species('{species}').get_genetic_map('{genetic_map}').download()\"")
                warnings.warn(note, GeneticMapUnavailable, stacklevel=2)
        sliced = rate_map.slice(left=left, right=right, trim=True)
        if np.any(np.isnan(sliced.rate)):  # a map with no data at the ends of the slice: treat unknown as 0
            sliced = msprime.RateMap(position=sliced.position, rate=np.nan_to_num(sliced.rate, nan=0.0))
        label = f"{species}:{chromosome}" + ("" if (left, right) == (0.0, float(chrom.length)) else f":{left:.0f}-{right:.0f}")
        return cls(right - left, float(chrom.mutation_rate), sliced, label, used_map, note)

    def to_dict(self) -> dict:
        return {"name": self.name, "length": float(self.length), "mutation_rate": float(self.mutation_rate),
                "mean_recombination_rate": self.mean_recombination_rate, "genetic_map": self.genetic_map,
                "recombination_map_intervals": int(self.recombination_map.num_intervals)}


def parse_contig(text: str) -> Contig:
    """``SPECIES:CHROMOSOME[:LEFT-RIGHT][@GENETIC_MAP]`` (the command line's ``--contig``)."""
    text, _, genetic_map = text.partition("@")
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"contig {text!r} must look like SPECIES:CHROMOSOME[:LEFT-RIGHT][@MAP], e.g. AnoGam:2L:0-100000")
    left = right = None
    if len(parts) == 3:
        try:
            left, right = (float(x) for x in parts[2].split("-"))
        except ValueError:
            raise ValueError(f"contig slice {parts[2]!r} must look like LEFT-RIGHT in bp, e.g. 0-100000") from None
    return Contig.from_stdpopsim(parts[0], parts[1], left, right, genetic_map or None)


def catalogue() -> list[dict[str, Any]]:
    """What the stdpopsim catalogue offers offline: one dict per species with its models and chromosomes, and
    which genetic maps are already cached (the others need a download)."""
    stdpopsim = _stdpopsim()
    out = []
    for species in stdpopsim.all_species():
        out.append({
            "species": species.id,
            "name": species.name,
            "models": [(m.id, [p.name for p in m.populations], m.description) for m in species.demographic_models],
            "chromosomes": [c.id for c in species.genome.chromosomes],
            "genetic_maps": [(g.id, bool(g.is_cached())) for g in species.genetic_maps],
        })
    return out
